//! SQL for an LO's availability history (issue 17): the spans of their status (from `lo_status_changes`) and the
//! claim offers made to them over a window. The spans are defined once, in [`status_spans_query!`], which both
//! this page and the manager dashboard's "Hours available" expand, so the figure and its list clip alike.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A compile-checked `sqlx::query_as!` whose text begins with the CTE `status_spans`: every status span of every
/// LO that overlaps the window, clipped to it (`user_id`, `status`, `started`, `ended`). Binds `$1` = from,
/// `$2` = to (exclusive), `$3` = now; a span still open ends at now, and nothing after now counts. The rest of
/// the query (`$query`, a string literal) reads `status_spans`; its own parameters start at `$4`.
///
/// Hours available = `sum(extract(epoch FROM ended - started))` over the spans with status `available`.
macro_rules! status_spans_query {
    ($record:path, $query:tt, $($args:tt)*) => {
        sqlx::query_as!(
            $record,
            "WITH status_spans AS (
                 SELECT c.user_id, c.status,
                        greatest(c.changed_at, $1) AS started,
                        least(COALESCE(c.next_at, $3), $2, $3) AS ended
                 FROM (SELECT id, user_id, status, changed_at,
                              lead(changed_at) OVER (PARTITION BY user_id ORDER BY changed_at, id) AS next_at
                       FROM lo_status_changes WHERE changed_at < $2) c
                 WHERE COALESCE(c.next_at, $3) > $1 AND c.changed_at < least($2, $3)) "
                + $query,
            $($args)*
        )
    };
}
pub(crate) use status_spans_query;

/// The history page of one LO over the organisation's days [from, to) (`offers`: `claimed` lists only the offers
/// they claimed): where the dashboard's Hours available, Offers and Claimed figures link.
pub fn link(lo: Uuid, from: NaiveDate, to: NaiveDate, offers: Option<&str>) -> String {
    let mut link = format!("/availability/history?lo={lo}&from={from}&to={to}");
    if let Some(o) = offers {
        link.push_str(&format!("&offers={o}"));
    }
    link
}

/// Seconds as hours to one decimal: how the dashboard and the history page show hours available.
pub fn hours(seconds: f64) -> String {
    format!("{:.1}", seconds / 3600.0)
}

/// The most rows a history page lists of each kind (its totals count every one).
pub const MAX_ROWS: i64 = 500;

/// An LO (anyone who takes leads) as the history page names them.
pub struct Officer {
    pub id: Uuid,
    pub name: String,
    pub team_id: Option<Uuid>,
}

/// Someone who takes leads (an LO, or a manager who originates), by id.
pub async fn officer(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Officer>> {
    sqlx::query_as!(Officer, "SELECT id, name, team_id FROM users WHERE id = $1 AND originator", id)
        .fetch_optional(db)
        .await
}

/// One status span of the LO clipped to the window, with the window's totals (every span, not only those listed).
pub struct SpanRow {
    pub status: String,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub seconds: f64,
    /// Seconds with status `available` over the whole window: the dashboard's figure, summed the same way.
    pub available_seconds: i64,
    pub total_spans: i64,
}

/// The LO's status spans within [from, min(to, now)), oldest first (at most [`MAX_ROWS`]).
pub async fn status_spans(
    db: &PgPool,
    lo: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<SpanRow>> {
    status_spans_query!(
        SpanRow,
        r#"SELECT s.status AS "status!", s.started AS "started!", s.ended AS "ended!",
                  extract(epoch FROM s.ended - s.started)::float8 AS "seconds!",
                  COALESCE(sum(extract(epoch FROM s.ended - s.started)) FILTER (WHERE s.status = 'available') OVER (),
                           0)::int8 AS "available_seconds!",
                  count(*) OVER () AS "total_spans!"
           FROM status_spans s WHERE s.user_id = $4 ORDER BY s.started LIMIT $5"#,
        from,
        to,
        now,
        lo,
        MAX_ROWS
    )
    .fetch_all(db)
    .await
}

/// A claim offer made to the LO, with the lead's owner (to decide, through the viewer's scope, whether it opens).
pub struct OfferRow {
    pub id: i64,
    pub lead_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub claimed_by_name: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// Every offer the filter selects in the window, listed or not.
    pub total: i64,
}

/// Claim offers created in [from, to) that name the LO (`claimed_only`: those the LO claimed), oldest first (at
/// most [`MAX_ROWS`]): the dashboard's Offers and Claimed figures, row by row.
pub async fn offers(
    db: &PgPool,
    lo: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    claimed_only: bool,
) -> sqlx::Result<Vec<OfferRow>> {
    sqlx::query_as!(
        OfferRow,
        r#"SELECT o.id, o.lead_id, o.created_at, o.resolution, o.resolved_at, c.name AS "claimed_by_name?",
                  l.first_name, l.last_name, l.assigned_lo_id, l.team_id, count(*) OVER () AS "total!"
           FROM claim_offers o JOIN leads l ON l.id = o.lead_id LEFT JOIN users c ON c.id = o.claimed_by
           WHERE o.created_at >= $2 AND o.created_at < $3
             AND CASE WHEN $4 THEN o.claimed_by = $1 ELSE $1 = ANY(o.lo_ids) END
           ORDER BY o.created_at, o.id LIMIT $5"#,
        lo,
        from,
        to,
        claimed_only,
        MAX_ROWS
    )
    .fetch_all(db)
    .await
}

/// Which of an LO's cadence tasks the availability board counts: due in the last 30 days, those of them done,
/// and those not done more than an hour after they were due (any age).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum CadenceSet {
    Due,
    Done,
    Overdue,
}

impl CadenceSet {
    pub fn parse(s: &str) -> Option<CadenceSet> {
        match s {
            "due" => Some(CadenceSet::Due),
            "done" => Some(CadenceSet::Done),
            "overdue" => Some(CadenceSet::Overdue),
            _ => None,
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            CadenceSet::Due => "cadence attempts due in the last 30 days",
            CadenceSet::Done => "cadence attempts due in the last 30 days and done",
            CadenceSet::Overdue => "cadence attempts not done an hour after they were due",
        }
    }
}

/// One cadence task, with the lead's owner columns (the viewer's scope decides whether the lead is shown).
#[derive(Debug, sqlx::FromRow)]
pub struct CadenceTask {
    pub id: i64,
    pub title: String,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub lead_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// Every task of the set (the list shows the first [`MAX_ROWS`]).
    pub total: i64,
}

/// The LO's cadence tasks of `set`, as `routing::store::availability_board` counts them, oldest due first.
pub async fn cadence_tasks(
    db: &PgPool,
    lo: Uuid,
    set: CadenceSet,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<CadenceTask>> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "SELECT t.id, t.title, t.due_at, t.done_at, t.lead_id, l.first_name, l.last_name, l.assigned_lo_id, l.team_id,
                count(*) OVER () AS total
         FROM tasks t JOIN leads l ON l.id = t.lead_id WHERE t.kind = 'cadence' AND t.owner_id = ",
    );
    qb.push_bind(lo);
    match set {
        CadenceSet::Due | CadenceSet::Done => {
            qb.push(" AND t.due_at <= ")
                .push_bind(now)
                .push(" AND t.due_at > ")
                .push_bind(now)
                .push(" - interval '30 days'");
            if set == CadenceSet::Done {
                qb.push(" AND t.done_at IS NOT NULL");
            }
        }
        CadenceSet::Overdue => {
            qb.push(" AND t.done_at IS NULL AND t.due_at < ").push_bind(now).push(" - interval '1 hour'");
        }
    }
    qb.push(" ORDER BY t.due_at, t.id LIMIT ").push_bind(MAX_ROWS);
    qb.build_query_as().fetch_all(db).await
}
