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

/// When the next daily deadline digest runs.
pub fn next_digest(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    store::next_digest_at(state.clock.now(), state.config.timezone)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApplicationJson {
    pub status: &'static str,
    /// The application the protections come from (1024.41(i)), by its number on the case.
    pub number: Option<i32>,
    pub received_on: Option<NaiveDate>,
    pub complete_on: Option<NaiveDate>,
    /// Every application on the case and what the rule makes of it (`protecting`, `duplicative`, ...).
    pub all: Vec<store::ApplicationLine>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EvaluationJson {
    pub decided_on: NaiveDate,
    /// At least one option was approved.
    pub approved: bool,
    /// A loan modification was denied (the only denial that may be appealed).
    pub modification_denied: bool,
}

/// A case as the API returns it, with its clocks.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Case)]
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
    pub evaluation: Option<EvaluationJson>,
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
                number: c.app_no,
                received_on: c.app_received_on,
                complete_on: c.app_complete_on,
                all: vec![],
            },
            evaluation: c.decided_on.map(|d| EvaluationJson {
                decided_on: d,
                approved: c.decision_approved.unwrap_or(false),
                modification_denied: c.modification_denied.unwrap_or(false),
            }),
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
    let mut json = CaseJson::from_row(&c, state.today());
    json.application.all = store::applications(&state.db, &c).await?;
    // Notices of error and requests for information add their clocks (error_ack, error_response).
    json.deadlines.extend(super::requests::case_deadlines(state, &c, state.today()).await?);
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
    let id = store::create_case(&state.db, &user, input, state.today(), next_digest(&state)).await?;
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

#[derive(Deserialize, utoipa::ToSchema)]
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
    let (today, now) = (state.today(), state.clock.now());
    store::record_application(&state.db, &user, &case, input.received_on, input.complete_on, today, now).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
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
    if input.on > state.today() || !model::plausible_date(input.on) {
        return Err(AppError::invalid("on", "The date cannot be in the future."));
    }
    store::record_foreclosure_step(&state.db, &user, case.id, step, input.on).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OptionDecisionInput {
    /// `modification`, `forbearance`, `repayment_plan`, `short_sale`, `deed_in_lieu` or `investor_program`.
    pub option: String,
    /// `approved` or `denied`.
    pub outcome: String,
    #[serde(default)]
    pub reason: String,
    /// The investor program's name (for `investor_program`).
    #[serde(default)]
    pub program: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EvaluationInput {
    pub decided_on: NaiveDate,
    pub decisions: Vec<OptionDecisionInput>,
}

/// `POST /api/v1/lossmit/cases/{id}/evaluation`: every standard option decided (422 naming any missing one,
/// or a denial without its reason); the same rules as the case page's form.
pub async fn evaluation(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<EvaluationInput>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let input = body(input)?;
    let mut form = std::collections::HashMap::new();
    for d in &input.decisions {
        if d.option == "investor_program" {
            form.insert("program_name".to_string(), d.program.clone());
            form.insert("program_outcome".to_string(), d.outcome.clone());
            form.insert("program_reason".to_string(), d.reason.clone());
        } else if model::LossMitOption::parse(&d.option).is_some() {
            form.insert(format!("outcome_{}", d.option), d.outcome.clone());
            form.insert(format!("reason_{}", d.option), d.reason.clone());
        } else {
            return Err(AppError::invalid("option", format!("Unknown option {:?}.", d.option)));
        }
    }
    let today = state.today();
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let mut errors = crate::error::FieldErrors::new();
    let decisions = super::handlers::parse_evaluation(&case, assessment.as_ref(), &form, &mut errors, today);
    errors.into_result()?;
    store::record_evaluation(&state.db, &user, &case, input.decided_on, decisions, today).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AppealInput {
    pub filed_on: NaiveDate,
}

/// `POST /api/v1/lossmit/cases/{id}/appeal`: 422 unless a loan modification was denied (1024.41(h)).
pub async fn appeal(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<AppealInput>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let input = body(input)?;
    store::record_appeal(&state.db, &user, &case, input.filed_on, state.today()).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReinstatementInput {
    pub current_on: NaiveDate,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/lossmit/cases/{id}/reinstatement`: the borrower was brought current (1024.41(i)).
pub async fn reinstatement(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<ReinstatementInput>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let input = body(input)?;
    store::record_reinstatement(&state.db, &user, &case, input.current_on, &input.note, state.today()).await?;
    Ok((StatusCode::CREATED, case_json(&state, &user, id).await?))
}
