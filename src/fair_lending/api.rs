//! `/api/v1/fair-lending/runs`: run the analysis and read a saved run (compliance officers and admins), through
//! the same service functions as the pages; every run and reading is audited.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::service::{self, Reading, RunInput};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;
use crate::web::input::strict_json;

pub fn router() -> Routes {
    Routes::new().route("/api/v1/fair-lending/runs", &["POST"], post(create)).route(
        "/api/v1/fair-lending/runs/{id}",
        &["GET"],
        get(show),
    )
}

/// A saved fair-lending run.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunJson {
    pub id: Uuid,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// `overall`, `lo`, `approver` or `team`.
    pub grouping: String,
    pub method_version: String,
    /// What was asked, the controls, the minimum effective size, the significance level and the BISG tables.
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
    /// `counts`, `comparisons` (group, reference, outcome, effective sizes, raw means, adjusted difference,
    /// 95% CI, p-value, flagged, note) and the `requests` analysed with their weights.
    #[schema(value_type = Object)]
    pub results: serde_json::Value,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/fair-lending/runs`: 201 with the run.
async fn create(user: CurrentUser, State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    user.require(&service::ROLES)?;
    let input: RunInput = strict_json(&body, &["from", "to", "grouping"])?;
    let id = service::run(&state, &user, &input).await?;
    let run = service::view(&state, &user, id, Reading::Api).await?;
    Ok((StatusCode::CREATED, Json(to_json(run))).into_response())
}

/// `GET /api/v1/fair-lending/runs/{id}`.
async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<RunJson>> {
    Ok(Json(to_json(service::view(&state, &user, id, Reading::Api).await?)))
}

fn to_json(r: super::store::RunRow) -> RunJson {
    RunJson {
        id: r.id,
        period_from: r.period_from,
        period_to: r.period_to,
        grouping: r.grouping,
        method_version: r.method_version,
        inputs: r.inputs,
        results: r.results,
        created_by: r.created_by,
        created_at: r.created_at,
    }
}
