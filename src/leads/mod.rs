//! Leads, pipelines and the LO workspace.

pub mod csv_report;
pub mod history_import;
pub mod import;
pub mod model;
pub mod seed;
pub mod store;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

/// Runs a job of kind `leads.*`.
pub async fn run_job(
    _state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
