//! Loss-mitigation casework: delinquent loans worked against the Regulation X clocks (12 CFR 1024.39–41).
//!
//! `calendar` (business days), `clocks` (deadlines and the dual-tracking guard) and `options` (the workout
//! arithmetic) are pure; `store` holds the SQL; `handlers` the pages and the API.
pub mod api;
pub mod calendar;
pub mod clocks;
pub mod handlers;
pub mod model;
pub mod options;
pub mod store;
pub mod workout;

use axum::routing::{get, post};

use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
        .route("/api/v1/lossmit/cases", &["POST"], post(api::create))
        .route("/api/v1/lossmit/cases/{id}", &["GET"], get(api::show))
        .route("/api/v1/lossmit/cases/{id}/application", &["POST"], post(api::application))
        .route("/api/v1/lossmit/cases/{id}/foreclosure-steps", &["POST"], post(api::foreclosure_step))
}

/// Runs a job of kind `lossmit.*`.
pub async fn run_job(
    _state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    anyhow::bail!("unknown job kind {}", job.kind)
}
