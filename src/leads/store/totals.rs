//! The lead list's totals: its leads, and the facts (assignments, losses) a cohort's figure counts.

use super::list::{Cohort, list_rows, push_filter_over};
use super::rows::LeadRow;
use super::*;

/// How many leads match the filter, counted up to [`TOTAL_CAP`] and then shown as "10,000+".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListTotal {
    pub count: i64,
    pub capped: bool,
}

impl ListTotal {
    /// "1,234" or "10,000+".
    pub fn label(&self) -> String {
        let digits = self.count.to_string();
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if self.capped {
            out.push('+');
        }
        out
    }
}

/// The LO whose whole list this is (the signed-in LO's own list with nothing narrowing it), whose total the
/// triggers keep; every lead on it is assigned to them.
fn whole_list_of(user: &CurrentUser, f: &LeadFilter) -> Option<Uuid> {
    user.lead_list_scope().only_lo().filter(|lo| *lo == user.id && !f.narrows())
}

/// The total behind the list's filter within the user's scope, counted in SQL up to the cap.
pub async fn count_leads(state: &AppState, user: &CurrentUser, f: &LeadFilter) -> AppResult<ListTotal> {
    // An LO's whole list: the total kept per LO by the triggers on leads (migration 0042), one row.
    if let Some(lo) = whole_list_of(user, f) {
        let n = sqlx::query_scalar!("SELECT all_leads FROM lo_open_leads WHERE lo_id = $1", lo)
            .fetch_optional(&state.db)
            .await?
            .unwrap_or(0);
        return Ok(ListTotal { count: n.min(TOTAL_CAP), capped: n > TOTAL_CAP });
    }
    let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*) FROM (SELECT 1 FROM leads l WHERE true");
    push_filter(&mut qb, f, state, user)?;
    crate::db::push_limit(&mut qb, TOTAL_CAP + 1);
    qb.push(") x");
    let n: i64 = qb.build_query_scalar().fetch_one(&state.db).await?;
    Ok(ListTotal { count: n.min(TOTAL_CAP), capped: n > TOTAL_CAP })
}

/// A cohort's facts behind the same filter: the assignments (cohort `assigned`) or the changes to lost (cohort
/// `lost`) its figure counts — a lead assigned twice to the same LO in the range is two of the figure's
/// assignments and one lead of the list. `None` for the created cohort, whose figure counts leads.
pub async fn count_facts(state: &AppState, user: &CurrentUser, f: &LeadFilter) -> AppResult<Option<FactTotal>> {
    let (join, one, many) = match f.check().map_err(AppError::Validation)?.cohort {
        Cohort::Created => return Ok(None),
        Cohort::Assigned => ("JOIN assignments fact ON fact.lead_id = l.id", "assignment", "assignments"),
        Cohort::Lost => ("JOIN stage_changes fact ON fact.lead_id = l.id AND fact.to_stage = 'lost'", "loss", "losses"),
    };
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT count(*) FROM (SELECT 1 FROM leads l {join} WHERE true"));
    push_filter_over(&mut qb, f, state, user, true)?;
    crate::db::push_limit(&mut qb, TOTAL_CAP + 1);
    qb.push(") x");
    let n: i64 = qb.build_query_scalar().fetch_one(&state.db).await?;
    Ok(Some(FactTotal { one, many, total: ListTotal { count: n.min(TOTAL_CAP), capped: n > TOTAL_CAP } }))
}

/// How many of a cohort's facts the list's leads carry (see [`count_facts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactTotal {
    /// "assignment" or "loss".
    pub one: &'static str,
    /// "assignments" or "losses" (also the API's key).
    pub many: &'static str,
    pub total: ListTotal,
}

impl FactTotal {
    /// The noun as the count reads: "1 assignment", "2 assignments", "10,000+ assignments".
    pub fn noun(&self) -> &'static str {
        if self.total.count == 1 && !self.total.capped { self.one } else { self.many }
    }
}

/// The list's page, its total and the cohort's facts, as the page and the API show them. An LO's whole list
/// reads its total in the page's own statement (one round trip instead of two, the commonest list there is);
/// every other list counts beside the page.
pub async fn list_with_total(
    state: &AppState,
    user: &CurrentUser,
    f: &LeadFilter,
) -> AppResult<((Vec<LeadRow>, Option<String>), ListTotal, Option<FactTotal>)> {
    if whole_list_of(user, f).is_none() {
        return tokio::try_join!(
            list_rows(state, user, f, false),
            count_leads(state, user, f),
            count_facts(state, user, f)
        );
    }
    let (rows, next) = list_rows(state, user, f, true).await?;
    let total = match rows.first().and_then(|r| r.lo_total) {
        Some(n) => ListTotal { count: n.min(TOTAL_CAP), capped: n > TOTAL_CAP },
        // No row on the first page: the LO has no leads at all. No row after a cursor says nothing about the
        // pages before it: count.
        None if f.after.is_empty() => ListTotal { count: 0, capped: false },
        None => count_leads(state, user, f).await?,
    };
    Ok(((rows, next), total, count_facts(state, user, f).await?))
}
