//! Leads, pipelines and the LO workspace: the lead record and its history (stage changes, assignments,
//! activities, tasks), the LO's call queue, the lead list and board, CSV import and export, and the JSON API.

pub mod api;
pub mod consent;
pub mod export;
pub mod handlers;
pub mod history_import;
pub mod import;
pub mod lifecycle;
pub mod model;
pub mod partners;
pub mod sources;
pub mod store;
pub mod uploads;
pub mod wiring;

use axum::routing::{get, post};

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/leads", &["GET", "POST"], get(api::list).post(api::create))
        .route("/api/v1/leads.csv", &["GET"], get(export::download))
        .route("/api/v1/leads/{id}", &["GET", "PATCH"], get(api::show).patch(api::patch))
        .route("/api/v1/leads/{id}/stage", &["POST"], post(api::stage))
        .route("/api/v1/leads/{id}/activities", &["POST"], post(api::activity))
        .route("/api/v1/leads/{id}/opt-outs", &["POST"], post(api::opt_out))
        .merge(handlers::router())
        .merge(sources::router())
        .merge(partners::router())
}

/// Runs a job of kind `leads.*`.
pub async fn run_job(
    state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match job.kind.as_str() {
        import::ROUTE_JOB => import::route_imported(state, job).await,
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
