//! Loss-mitigation casework: delinquent loans worked against the Regulation X clocks (12 CFR 1024.39–41).
//!
//! `clocks` (deadlines and the dual-tracking guard) and `options` (the workout arithmetic) are pure, counting
//! business days on the organisation's one calendar (`crate::calendar`); `store` holds the SQL; `handlers` the pages and the API.
pub mod api;
pub mod clocks;
pub mod handlers;
pub mod letters;
pub mod model;
pub mod options;
pub mod requests;
pub mod store;
pub mod workout;

use axum::routing::{get, post};

use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
        .merge(letters::router())
        .route("/api/v1/lossmit/cases", &["GET", "POST"], get(handlers::api_queue).post(api::create))
        .route("/api/v1/lossmit/cases/{id}", &["GET"], get(api::show))
        .route("/api/v1/lossmit/cases/{id}/application", &["POST"], post(api::application))
        .route("/api/v1/lossmit/cases/{id}/foreclosure-steps", &["POST"], post(api::foreclosure_step))
        .route("/api/v1/lossmit/cases/{id}/evaluation", &["POST"], post(api::evaluation))
        .route("/api/v1/lossmit/cases/{id}/appeal", &["POST"], post(api::appeal))
        .route("/api/v1/lossmit/cases/{id}/reinstatement", &["POST"], post(api::reinstatement))
        .route(
            "/api/v1/lossmit/cases/{id}/borrower-requests",
            &["GET", "POST"],
            get(requests::index).post(requests::create),
        )
        .route("/api/v1/lossmit/cases/{id}/borrower-requests/progress", &["POST"], post(requests::progress))
}

/// Runs a job of kind `lossmit.*`.
///
/// `lossmit.deadline_digest`: notifies each specialist of deadlines due within two days and breaches, then
/// schedules itself for the same time tomorrow.
pub async fn run_job(
    state: &crate::state::AppState,
    job: &crate::jobs::Job,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match job.kind.as_str() {
        store::DIGEST_JOB => {
            let today = now.with_timezone(&state.config.timezone).date_naive();
            store::send_deadline_digest(&state.db, today, store::next_digest_at(now, state.config.timezone))
                .await
                .map_err(|e| anyhow::anyhow!("deadline digest: {e}"))?;
            Ok(())
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
