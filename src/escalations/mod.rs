//! Escalations and pricing exceptions: the manager's approval queue.

use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

/// HTML for the lead page: this lead's requests and a link to ask for a pricing exception.
pub async fn lead_panel(_state: &AppState, _user: &CurrentUser, _lead_id: Uuid) -> AppResult<String> {
    Ok(String::new())
}

/// Requests waiting on this user (for the manager's home page and the nav badge).
pub async fn waiting_count(_state: &AppState, _user: &CurrentUser) -> AppResult<i64> {
    Ok(0)
}

/// Runs a job of kind `escalations.*`.
pub async fn run_job(
    _state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
