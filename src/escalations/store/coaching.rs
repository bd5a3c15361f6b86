//! Coaching's SQL: each LO's figures by the dashboard's definitions (with the lead lists behind them), and the
//! reviews managers keep.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;

/// An LO's figures over the leads assigned in the last 30 days, as a coaching review keeps them: the
/// dashboard's definitions (`escalations::wiring::OfficerFigures`, computed by metrics). Reviews saved
/// before read with their old names (`leads_worked`) and their old figures.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoMetrics {
    pub lo_id: Uuid,
    pub lo_name: String,
    /// Leads assigned in the 30 days.
    #[serde(alias = "leads_worked")]
    pub assigned: i64,
    /// Of those, leads called at least once.
    #[serde(alias = "calls")]
    pub called: i64,
    pub talk_minutes: i64,
    /// Leads reached ÷ leads assigned, percent.
    pub contact_rate: Option<f64>,
    /// Leads that reached application ÷ leads assigned, percent.
    pub conversion: Option<f64>,
    pub funded: i64,
    /// The lead lists behind assigned, conversion (its numerator) and funded: the dashboard's per-LO lists
    /// (leads assigned to the LO in the window, the stage reached while theirs), within the viewer's figures.
    #[serde(skip)]
    pub links: [String; 3],
    /// Then the leads called and reached by phone (the contact rate's numerator).
    #[serde(skip)]
    pub call_links: [String; 2],
}

impl LoMetrics {
    pub fn pct(v: &Option<f64>) -> String {
        crate::web::format::percent(*v)
    }
}

/// The LOs the user coaches (admins: every LO), optionally one, with their figures over the leads assigned
/// in the last 30 days (today included), by the dashboard's definitions.
pub async fn lo_metrics(
    state: &crate::state::AppState,
    user: &CurrentUser,
    only: Option<Uuid>,
) -> crate::error::AppResult<Vec<LoMetrics>> {
    let (all, lo, teams) = user.scope().roster_binds();
    let officers = sqlx::query!(
        r#"SELECT u.id, u.name FROM users u
           WHERE u.role = 'lo' AND u.active AND ($1 OR u.id = $4 OR u.team_id = ANY($2)) AND ($3::uuid IS NULL OR u.id = $3)
           ORDER BY u.name"#,
        all,
        &teams,
        only,
        lo
    )
    .fetch_all(&state.db)
    .await?;
    let (from, to) = coaching_days(state);
    let figures = (crate::escalations::wiring::wired()?.officer_figures)(state, user, from, to).await?;
    // The lists are bounded by the figures' scope (a manager's lead list also holds their own leads and the queue,
    // their figures only their teams).
    let narrow = "&scope=figures";
    Ok(officers
        .into_iter()
        .map(|o| {
            let f = figures.iter().find(|f| f.lo_id == o.id).cloned().unwrap_or_default();
            LoMetrics {
                lo_id: o.id,
                lo_name: o.name,
                assigned: f.assigned,
                called: f.called,
                talk_minutes: f.talk_seconds / 60,
                contact_rate: f.contact_rate_pct,
                conversion: f.application_rate_pct,
                funded: f.funded,
                links: {
                    let base = format!("/leads?from={from}&to={to}&lo={}&cohort=assigned{narrow}", o.id);
                    [
                        base.clone(),
                        format!("{base}&stage=application&reached=1"),
                        format!("{base}&stage=funded&reached=1"),
                    ]
                },
                call_links: {
                    let base = format!("/leads?from={from}&to={to}&lo={}&cohort=assigned{narrow}", o.id);
                    [format!("{base}&called=1"), format!("{base}&contact=1")]
                },
            }
        })
        .collect())
}

/// Coaching's window: the 30 days up to and including today, in the organisation's days ([from, to)).
pub fn coaching_days(state: &crate::state::AppState) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let today = state.today();
    (today - chrono::Duration::days(29), today + chrono::Duration::days(1))
}

pub async fn insert_coaching(
    tx: &mut Transaction<'_, Postgres>,
    lo_id: Uuid,
    manager_id: Uuid,
    metrics: &serde_json::Value,
    notes: &str,
    follow_up_on: Option<NaiveDate>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO coaching_reviews (lo_id, manager_id, metrics, notes, follow_up_on) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        lo_id,
        manager_id,
        metrics,
        notes,
        follow_up_on
    )
    .fetch_one(&mut **tx)
    .await
}

pub struct CoachingRow {
    pub id: i64,
    pub manager_name: String,
    pub metrics: serde_json::Value,
    pub notes: String,
    pub follow_up_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

pub async fn coaching_for(db: &PgPool, lo_id: Uuid) -> sqlx::Result<Vec<CoachingRow>> {
    sqlx::query_as!(
        CoachingRow,
        "SELECT c.id, m.name AS manager_name, c.metrics, c.notes, c.follow_up_on, c.created_at
         FROM coaching_reviews c JOIN users m ON m.id = c.manager_id WHERE c.lo_id = $1 ORDER BY c.created_at DESC",
        lo_id
    )
    .fetch_all(db)
    .await
}

/// (name, team) of an LO, when `lo_id` is an LO.
pub async fn lo_basics(db: &PgPool, lo_id: Uuid) -> sqlx::Result<Option<(String, Option<Uuid>)>> {
    let r =
        sqlx::query!("SELECT name, team_id FROM users WHERE id = $1 AND role = 'lo'", lo_id).fetch_optional(db).await?;
    Ok(r.map(|r| (r.name, r.team_id)))
}
