//! A row of the lead list (the page's and `GET /api/v1/leads`'s): what it holds, the one statement shape every
//! list of rows reads ([`row_select`]), and how a row is read and named ([`fetch_rows`]).

use super::*;

/// A row of the lead list, on the page and in the API (its schema there is `LeadListItem`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = LeadListItem)]
pub struct LeadRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The stage's key.
    pub stage: String,
    /// The stage's name in its pipeline (pages show names, never keys).
    pub stage_label: String,
    #[serde(skip)]
    pub pipeline_id: Uuid,
    pub source: String,
    /// The source's name, or its key when it has no record.
    pub source_label: String,
    pub property_state: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub assigned_lo_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Whether the lead is in the user's lead list now. A figure's list (`scope=figures`) also shows the records
    /// the figure counts that are no longer the user's (an LO's lead since reassigned, a team's former lead),
    /// without the borrower's name and contact details and without a link.
    pub in_scope: bool,
    /// An LO's whole-list total (kept per LO by the triggers on leads), read in the same statement as a
    /// page of their unfiltered list; `None` for every other read.
    #[serde(skip)]
    pub lo_total: Option<i64>,
}

/// [`row_select`]'s columns after the optional `lo_total`, in the order [`LeadRow`] reads them.
const LEAD_ROW_COLUMNS: [&str; 14] = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "stage",
    "pipeline_id",
    "source",
    "property_state",
    "loan_purpose",
    "loan_amount_cents",
    "assigned_lo_name",
    "created_at",
    "in_scope",
];

/// Read by position, in [`row_select`]'s order: looking each of 51 rows' 15 columns up by name (a hash per column)
/// and re-checking its type was a sixth of the lead list's CPU. Debug builds (every test) check each row's
/// column names, so a reordering cannot pass unnoticed.
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for LeadRow {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> sqlx::Result<Self> {
        use sqlx::Row;
        let with_total = row.len() == LEAD_ROW_COLUMNS.len() + 1;
        let at = usize::from(with_total);
        debug_assert_eq!(row.columns().iter().skip(at).map(sqlx::Column::name).collect::<Vec<_>>(), LEAD_ROW_COLUMNS);
        Ok(LeadRow {
            lo_total: if with_total { row.try_get_unchecked(0)? } else { None },
            id: row.try_get_unchecked(at)?,
            first_name: row.try_get_unchecked(at + 1)?,
            last_name: row.try_get_unchecked(at + 2)?,
            email: row.try_get_unchecked(at + 3)?,
            phone: row.try_get_unchecked(at + 4)?,
            stage: row.try_get_unchecked(at + 5)?,
            pipeline_id: row.try_get_unchecked(at + 6)?,
            source: row.try_get_unchecked(at + 7)?,
            property_state: row.try_get_unchecked(at + 8)?,
            loan_purpose: row.try_get_unchecked(at + 9)?,
            loan_amount_cents: row.try_get_unchecked(at + 10)?,
            assigned_lo_name: row.try_get_unchecked(at + 11)?,
            created_at: row.try_get_unchecked(at + 12)?,
            in_scope: row.try_get_unchecked(at + 13)?,
            // Named from this instance's copies by [`fetch_rows`].
            stage_label: String::new(),
            source_label: String::new(),
        })
    }
}

/// `SELECT <LeadRow> FROM leads l … WHERE true`, with `in_scope` meaning "within `scope`". With `own_list`, the
/// signed-in LO whose own whole list this is (see `whole_list_of`): their whole-list total on every row, and
/// every row named as theirs without a join per row (every lead on that list is theirs).
pub(super) fn row_select(
    scope: &crate::auth::Scope,
    own_list: Option<&CurrentUser>,
) -> QueryBuilder<'static, Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
    if let Some(lo) = own_list {
        qb.push("(SELECT all_leads FROM lo_open_leads WHERE lo_id = ").push_bind(lo.id).push(") AS lo_total, ");
    }
    // The stage's and source's names come from this instance's copies ([`fetch_rows`]): joining the two small
    // tables for every row was a quarter of the LO list statement's time.
    qb.push(
        "l.id, l.first_name, l.last_name, l.email, l.phone, l.stage, l.pipeline_id, l.source,
                l.property_state, l.loan_purpose, l.loan_amount_cents, ",
    );
    match own_list {
        Some(lo) => qb.push_bind(lo.name.clone()).push("::text"),
        None => qb.push("u.name"),
    };
    qb.push(" AS assigned_lo_name, l.created_at, (true");
    scope.push_lead_predicate(&mut qb, "l");
    qb.push(") AS in_scope FROM leads l");
    if own_list.is_none() {
        qb.push(" LEFT JOIN users u ON u.id = l.assigned_lo_id");
    }
    qb.push(" WHERE true");
    qb
}

/// Reads [`row_select`]'s rows and names each row's stage (in its pipeline) and source from this instance's
/// copies, kept up to a minute like the stage lists (an edit here clears them at once); a stage or source with no
/// record shows its key.
pub(super) async fn fetch_rows(state: &AppState, mut qb: QueryBuilder<'_, Postgres>) -> AppResult<Vec<LeadRow>> {
    let mut rows: Vec<LeadRow> = qb.build_query_as().fetch_all(&state.db).await?;
    let sources = super::names::source_labels_kept(state).await?;
    let mut pipelines: Vec<(Uuid, std::sync::Arc<Vec<StageDef>>)> = Vec::new();
    for r in &mut rows {
        let stages = match pipelines.iter().find(|(p, _)| *p == r.pipeline_id) {
            Some((_, stages)) => stages.clone(),
            None => {
                let stages = super::stage_list(state, r.pipeline_id).await?;
                pipelines.push((r.pipeline_id, stages.clone()));
                stages
            }
        };
        r.stage_label = stages.iter().find(|s| s.key == r.stage).map_or_else(|| r.stage.clone(), |s| s.label.clone());
        r.source_label = sources.get(&r.source).cloned().unwrap_or_else(|| r.source.clone());
    }
    Ok(rows)
}
