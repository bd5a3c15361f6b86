//! portfolio
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

pub async fn import_cli(_state: &crate::state::AppState, _args: &crate::config::ImportArgs) -> anyhow::Result<String> {
    anyhow::bail!("loan import is not available yet")
}

pub async fn los_status_cli(
    _state: &crate::state::AppState,
    _args: &crate::config::ImportArgs,
) -> anyhow::Result<String> {
    anyhow::bail!("LOS status import is not available yet")
}

/// Runs a job of kind `portfolio.*`.
pub async fn run_job(
    _state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
