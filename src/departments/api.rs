//! `/api/v1/departments/items`: list, forward, answer and send back, for companies whose underwriting (or
//! compliance, or legal) works in another system, through the same service functions as the pages.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::complaints::{self, ClockInput, ComplaintClock, StepInput};
use super::service::{self, Subject};
use super::store::{DepartmentRow, HopRow, ItemRow};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::Routes;
use crate::web::input::strict_json;

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/departments", &["GET"], get(departments))
        .route("/api/v1/departments/items", &["GET", "POST"], get(list).post(forward))
        .route("/api/v1/departments/items/{id}", &["GET"], get(show))
        .route("/api/v1/departments/items/{id}/answer", &["POST"], post(answer))
        .route("/api/v1/departments/items/{id}/return", &["POST"], post(send_back))
        .route("/api/v1/departments/items/{id}/clock", &["POST"], post(clock_step))
}

/// The answer to `GET /api/v1/departments/items`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ItemList {
    pub items: Vec<ItemRow>,
}

/// An item with its hops, and a complaint's regulatory clock (type, received date, each deadline with its
/// status) when one was recorded.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ItemDetail {
    pub item: ItemRow,
    pub hops: Vec<HopRow>,
    pub complaint_clock: Option<ComplaintClock>,
}

/// The list's filters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemListParams {
    /// `open`, `answered` or `returned`.
    pub status: Option<String>,
}

/// `POST /api/v1/departments/items`: forward an escalation (managers, admins) or a loss-mitigation case
/// question (supervisors, admins) — exactly one of `escalation_id` and `case_id`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ForwardBody {
    pub escalation_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub department_id: Uuid,
    /// What the department should answer (internal: the loan officer does not see it).
    pub note: String,
    /// A complaint forwarded for the first time: `notice_of_error`, `information_request`, `cfpb_portal`,
    /// `state_regulator` or `informal` (required for a complaint without a clock; refused for other kinds).
    pub complaint_type: Option<String>,
    /// `general` (default), `payoff_statement` or `foreclosure` (a notice of error), `owner_identity` (a request
    /// for information).
    pub category: Option<String>,
    /// The day the complaint was received (YYYY-MM-DD; day 0 of its clock).
    pub received_on: Option<String>,
    /// A foreclosure-related notice of error: the scheduled sale date, if any.
    pub foreclosure_sale_on: Option<String>,
    /// A state regulator's complaint: the due date its letter states.
    pub regulator_due_on: Option<String>,
}

/// `POST /api/v1/departments/items/{id}/clock`: a step on a complaint's clock (whoever may see the item).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClockStepBody {
    /// `acknowledged`, `responded`, `extension_noticed` or `final_response` (those the complaint's type has).
    pub step: String,
    /// The day it was done (YYYY-MM-DD): not in the future, not before the complaint was received.
    pub on: String,
    /// For `extension_noticed`: the reasons the borrower was told (required).
    pub note: Option<String>,
    /// The clock's `version` as read (409 when someone recorded a step since).
    pub version: Option<i64>,
}

/// `POST /api/v1/departments/items/{id}/answer` (department members).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AnswerBody {
    /// One of the item kind's decisions (e.g. `eligible`, `eligible_with_conditions`, `ineligible`).
    pub decision: String,
    /// The answer the loan officer reads.
    pub answer: String,
    /// The item's version the answer is based on (409 when stale).
    pub version: Option<i32>,
}

/// `POST /api/v1/departments/items/{id}/return` (department members): back to the manager, with why.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReturnBody {
    pub note: String,
    pub version: Option<i32>,
}

/// `GET /api/v1/departments`: every department (what a forward names).
async fn departments(_user: CurrentUser, State(state): State<AppState>) -> AppResult<Json<Vec<DepartmentRow>>> {
    Ok(Json(super::store::departments(&state.db).await?))
}

/// `GET /api/v1/departments/items`: the items of the caller's departments and those they forwarded.
async fn list(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<ItemList>> {
    let mut status = None;
    let mut errors = FieldErrors::new();
    for (k, v) in &pairs {
        match (k.as_str(), v.as_str()) {
            ("status", s @ ("open" | "answered" | "returned")) => status = Some(s.to_string()),
            ("status", _) => errors.add(k, "open, answered or returned"),
            _ => errors.add(k, "is not a filter here (status)"),
        }
    }
    errors.into_result()?;
    Ok(Json(ItemList { items: service::items_for(&state, &user, status).await? }))
}

async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<ItemDetail>> {
    let (item, _, complaint_clock) = complaints::visible_clock(&state, &user, id).await?;
    let hops = service::hops(&state, id).await?;
    Ok(Json(ItemDetail { item, hops, complaint_clock }))
}

async fn forward(user: CurrentUser, State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    let b: ForwardBody = strict_json(
        &body,
        &[
            "escalation_id",
            "case_id",
            "department_id",
            "note",
            "complaint_type",
            "category",
            "received_on",
            "foreclosure_sale_on",
            "regulator_due_on",
        ],
    )?;
    let clock = ClockInput {
        complaint_type: b.complaint_type.unwrap_or_default(),
        category: b.category.unwrap_or_default(),
        received_on: b.received_on.unwrap_or_default(),
        foreclosure_sale_on: b.foreclosure_sale_on.unwrap_or_default(),
        regulator_due_on: b.regulator_due_on.unwrap_or_default(),
    };
    let subject = match (b.escalation_id, b.case_id) {
        (Some(e), None) => Subject::Escalation(e),
        (None, Some(c)) => Subject::Case(c),
        _ => return Err(AppError::invalid("escalation_id", "Name exactly one of escalation_id and case_id.")),
    };
    let item =
        service::forward_with_clock(&state, &user, subject, &b.department_id.to_string(), &b.note, &clock).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn answer(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<ItemRow>> {
    // The item first: one the caller may not see is a 404 whatever the body says.
    service::visible_item(&state, &user, id).await?;
    let b: AnswerBody = strict_json(&body, &["decision", "answer", "version"])?;
    Ok(Json(service::respond(&state, &user, id, Some(&b.decision), &b.answer, b.version).await?))
}

async fn send_back(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<ItemRow>> {
    service::visible_item(&state, &user, id).await?;
    let b: ReturnBody = strict_json(&body, &["note", "version"])?;
    Ok(Json(service::respond(&state, &user, id, None, &b.note, b.version).await?))
}

async fn clock_step(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<ComplaintClock>> {
    // The item first: one the caller may not see is a 404 whatever the body says.
    service::visible_item(&state, &user, id).await?;
    let b: ClockStepBody = strict_json(&body, &["step", "on", "note", "version"])?;
    let input = StepInput { step: b.step, on: b.on, note: b.note.unwrap_or_default(), version: b.version };
    Ok(Json(complaints::record_step(&state, &user, id, &input).await?))
}
