//! Loss-mitigation casework: delinquent loans worked against the Regulation X clocks (12 CFR 1024.39–41).
//!
//! `calendar` (business days), `clocks` (deadlines and the dual-tracking guard) and `options` (the workout
//! arithmetic) are pure; `store` holds the SQL; `handlers` the pages and the API.
pub mod calendar;
pub mod clocks;
pub mod options;

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
