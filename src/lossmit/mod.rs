//! lossmit
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

/// Runs a job of kind `lossmit.*`.
pub async fn run_job(
    _state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
