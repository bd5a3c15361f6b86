//! The loss-mitigation JSON API: the same domain functions as the pages, rendered as JSON.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::clocks::{self, Deadline, ForeclosureStep};
use super::model::{self, NewCase};
use super::store::{self, CaseRow};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The organisation's calendar date "today" (the application clock, in the configured time zone).
pub fn today(state: &AppState) -> NaiveDate {
    state.clock.now().with_timezone(&state.config.timezone).date_naive()
}

/// When the next daily deadline digest runs.
pub fn next_digest(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    store::next_digest_at(state.clock.now(), state.config.timezone)
}

#[derive(Serialize)]
pub struct ApplicationJson {
    pub status: &'static str,
    pub received_on: Option<NaiveDate>,
    pub complete_on: Option<NaiveDate>,
}

/// A case as the API returns it, with its clocks.
#[derive(Serialize)]
pub struct CaseJson {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub property_state: String,
    pub property_address: String,
    pub investor: String,
    pub upb_cents: i64,
    pub note_rate: f64,
    pub remaining_term_months: i32,
    pub monthly_pi_cents: i64,
    pub monthly_escrow_cents: i64,
    pub first_unpaid_due_date: NaiveDate,
    pub sale_date: Option<NaiveDate>,
    pub days_delinquent: i64,
    pub arrears_cents: i64,
    pub specialist_id: Option<Uuid>,
    pub specialist_name: Option<String>,
    pub stage: String,
    pub resolution: Option<String>,
    pub application: ApplicationJson,
    pub deadlines: Vec<Deadline>,
    pub version: i32,
}

impl CaseJson {
    pub fn from_row(c: &CaseRow, today: NaiveDate) -> Self {
        CaseJson {
            id: c.id,
            loan_number: c.loan_number.clone(),
            borrower_name: c.borrower_name.clone(),
            property_state: c.property_state.clone(),
            property_address: c.property_address.clone(),
            investor: c.investor.clone(),
            upb_cents: c.upb_cents,
            note_rate: c.note_rate,
            remaining_term_months: c.remaining_term_months,
            monthly_pi_cents: c.monthly_pi_cents,
            monthly_escrow_cents: c.monthly_escrow_cents,
            first_unpaid_due_date: c.first_unpaid_due_date,
            sale_date: c.sale_date,
            days_delinquent: clocks::days_delinquent(c.first_unpaid_due_date, today),
            arrears_cents: model::arrears_cents(
                c.first_unpaid_due_date,
                today,
                c.monthly_pi_cents,
                c.monthly_escrow_cents,
            ),
            specialist_id: c.specialist_id,
            specialist_name: c.specialist_name.clone(),
            stage: c.stage.clone(),
            resolution: c.resolution.clone(),
            application: ApplicationJson {
                status: c.application_status(),
                received_on: c.app_received_on,
                complete_on: c.app_complete_on,
            },
            deadlines: c.deadlines(today),
            version: c.version,
        }
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> AppResult<T> {
    b.map(|Json(v)| v).map_err(|e| AppError::BadRequest(e.body_text()))
}

async fn case_json(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<Json<CaseJson>> {
    let c = store::visible_case(&state.db, user, id).await?;
    let mut json = CaseJson::from_row(&c, today(state));
    // Notices of error and requests for information add their clocks (error_ack, error_response).
    json.deadlines.extend(super::requests::case_deadlines(state, &c, today(state)).await?);
    Ok(Json(json))
}

/// `POST /api/v1/lossmit/cases` (supervisors and admins).
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    input: Result<Json<NewCase>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let input = body(input)?;
    let id = store::create_case(&state.db, &user, input, today(&state), next_digest(&state)).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

/// `GET /api/v1/lossmit/cases/{id}`.
pub async fn show(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    case_json(&state, &user, id).await
}

#[derive(Deserialize)]
pub struct ApplicationInput {
    pub received_on: NaiveDate,
    #[serde(default)]
    pub complete_on: Option<NaiveDate>,
}

/// `POST /api/v1/lossmit/cases/{id}/application`.
pub async fn application(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<ApplicationInput>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let input = body(input)?;
    store::record_application(&state.db, &user, &case, input.received_on, input.complete_on, today(&state)).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

#[derive(Deserialize)]
pub struct StepInput {
    pub step: String,
    pub on: NaiveDate,
}

/// `POST /api/v1/lossmit/cases/{id}/foreclosure-steps`: 201, or 409 naming the rule that blocks the step.
pub async fn foreclosure_step(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<StepInput>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let input = body(input)?;
    let step = ForeclosureStep::parse(&input.step)
        .ok_or_else(|| AppError::invalid("step", "Use first_filing, motion_for_judgment or sale."))?;
    if input.on > today(&state) || !model::plausible_date(input.on) {
        return Err(AppError::invalid("on", "The date cannot be in the future."));
    }
    store::record_foreclosure_step(&state.db, &user, case.id, step, input.on).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}
