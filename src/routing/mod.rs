//! Lead distribution, speed-to-lead and reassignment.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::jobs::Job;
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

/// Routes a newly created, unassigned lead inside the creating transaction. Returns the chosen LO, or None
/// when the lead waits in the unassigned queue. (Until routing lands: always the queue.)
pub async fn route_new_lead(
    _state: &AppState,
    _tx: &mut Transaction<'_, Postgres>,
    _lead_id: Uuid,
    _actor: Option<&CurrentUser>,
) -> AppResult<Option<Uuid>> {
    Ok(None)
}

/// HTML for the lead page: assignment history and "why did this lead go to …".
pub async fn lead_panel(_state: &AppState, _user: &CurrentUser, _lead_id: Uuid) -> AppResult<String> {
    Ok(String::new())
}

/// Where an offboarded LO's open leads go.
#[derive(Debug, Clone)]
pub enum HandOver {
    /// Redistribute through the routing rules.
    Redistribute,
    /// To one named LO.
    ToLo(Uuid),
    /// To a team's unassigned queue.
    ToTeamQueue(Uuid),
}

/// Moves every open lead of `lo_id` according to `to`, recording assignment history. Returns how many moved.
pub async fn hand_over_open_leads(
    _state: &AppState,
    _tx: &mut Transaction<'_, Postgres>,
    _actor: &CurrentUser,
    _lo_id: Uuid,
    _to: HandOver,
) -> AppResult<u64> {
    Ok(0)
}

/// Runs a job of kind `routing.*`.
pub async fn run_job(_state: &AppState, job: &Job, _now: DateTime<Utc>) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
