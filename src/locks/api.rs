//! `/api/v1/locks`, `/api/v1/lock-investors` and `/api/v1/los/locks`: the lock desk for integrations, through
//! the same service functions as the pages. Bodies are read after the visibility and role checks, so a record
//! outside the caller's scope is a 404 whatever the body says.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::import::{self, LockImportReport, LosLockInput};
use super::investors::{self, InvestorInput};
use super::service::{self, NewLock};
use super::store::{self, InvestorRow, LockEventRow, LockFilter, LockRow};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::Routes;
use crate::web::input::strict_json;

pub fn router() -> Routes {
    Routes::new()
        .route("/api/v1/locks", &["GET", "POST"], get(list).post(create))
        .route("/api/v1/locks/{id}", &["GET"], get(show))
        .route("/api/v1/locks/{id}/extend", &["POST"], post(extend))
        .route("/api/v1/locks/{id}/relock", &["POST"], post(relock))
        .route("/api/v1/locks/{id}/float-down", &["POST"], post(float_down))
        .route("/api/v1/locks/{id}/cancel", &["POST"], post(cancel))
        .route("/api/v1/lock-investors", &["GET", "POST"], get(list_investors).post(save_investor))
        .route("/api/v1/los/locks", &["POST"], post(los_locks))
}

/// The answer to `GET /api/v1/locks`: one page, soonest expiry first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LockList {
    pub locks: Vec<LockRow>,
    /// The `after` of the next page, or null on the last page.
    pub next: Option<String>,
}

/// The lock list's filters; any other parameter is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LockListParams {
    /// `locked` (live), `expired`, `cancelled` or `closed`.
    pub status: Option<String>,
    /// Live locks whose last day is at most this many days from today (0: today).
    pub expiring_within_days: Option<i32>,
    /// One loan's locks.
    pub lead_id: Option<Uuid>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// A lock with its history.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LockDetail {
    pub lock: LockRow,
    pub history: Vec<LockEventRow>,
}

/// `POST /api/v1/locks`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewLockBody {
    pub lead_id: Uuid,
    pub investor_id: Uuid,
    pub product: String,
    /// Thousandths of a percent: 6.875% is 6875.
    pub rate_milli: i32,
    /// Bps of the loan amount (negative: a credit).
    pub price_bps: i32,
    pub loan_amount_cents: i64,
    /// Default: today in the organisation's time zone.
    pub locked_on: Option<NaiveDate>,
    /// 15, 30, 45 or 60.
    pub period_days: i32,
    pub closing_on: Option<NaiveDate>,
    pub los_lock_id: Option<String>,
}
const NEW_LOCK_FIELDS: [&str; 10] = [
    "lead_id",
    "investor_id",
    "product",
    "rate_milli",
    "price_bps",
    "loan_amount_cents",
    "locked_on",
    "period_days",
    "closing_on",
    "los_lock_id",
];

/// `POST /api/v1/locks/{id}/extend` (managers, admins).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ExtendBody {
    /// One of the investor's extension lengths.
    pub days: i32,
    #[serde(default)]
    pub note: String,
    /// The lock's version the change is based on (409 when stale).
    pub version: Option<i32>,
}

/// `POST /api/v1/locks/{id}/relock`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RelockBody {
    /// Today's price for the same product and rate, bps.
    pub today_price_bps: i32,
    pub period_days: i32,
    #[serde(default)]
    pub note: String,
    pub version: Option<i32>,
}

/// `POST /api/v1/locks/{id}/float-down`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct FloatDownBody {
    pub market_rate_milli: i32,
    pub market_price_bps: i32,
    #[serde(default)]
    pub note: String,
    pub version: Option<i32>,
}

/// `POST /api/v1/locks/{id}/cancel`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CancelBody {
    #[serde(default)]
    pub note: String,
    pub version: Option<i32>,
}

fn filter_from(pairs: &[(String, String)], today: NaiveDate) -> AppResult<LockFilter> {
    let mut f = LockFilter { limit: 100, today: Some(today), ..Default::default() };
    let mut errors = FieldErrors::new();
    for (k, v) in pairs {
        match k.as_str() {
            "status" if super::import::STATUSES.contains(&v.as_str()) => f.status = Some(v.clone()),
            "expiring_within_days" => match v.parse::<i32>() {
                Ok(d) if (0..=365).contains(&d) => f.expiring_within_days = Some(d),
                _ => errors.add(k, "a number of days from 0 to 365"),
            },
            "lead_id" => match v.parse() {
                Ok(id) => f.lead_id = Some(id),
                Err(_) => errors.add(k, "a lead id"),
            },
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=500).contains(&n) => f.limit = n,
                _ => errors.add(k, "1 to 500"),
            },
            "after" => match v.split_once('_').and_then(|(t, id)| Some((t.parse().ok()?, id.parse().ok()?))) {
                Some(after) => f.after = Some(after),
                None => errors.add(k, "the `next` of the previous page"),
            },
            "status" => errors.add(k, "locked, expired, cancelled or closed"),
            _ => errors.add(k, "is not a filter here (status, expiring_within_days, lead_id, after, limit)"),
        }
    }
    errors.into_result()?;
    Ok(f)
}

/// `GET /api/v1/locks`: the locks on loans in the caller's scope.
async fn list(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<LockList>> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo])?;
    let f = filter_from(&pairs, state.today())?;
    let locks = store::list(&state.db, &user, &f).await?;
    let next = (locks.len() as i64 == f.limit)
        .then(|| locks.last().map(|l| format!("{}_{}", l.expires_at.to_rfc3339(), l.id)))
        .flatten();
    Ok(Json(LockList { locks, next }))
}

/// `GET /api/v1/locks/{id}`: the lock and its history.
async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<LockDetail>> {
    let lock = service::visible_lock(&state.db, &user, id).await?;
    let history = service::history(&state.db, id).await?;
    Ok(Json(LockDetail { lock, history }))
}

/// `POST /api/v1/locks`: 201 with the lock.
async fn create(user: CurrentUser, State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo])?;
    let b: NewLockBody = strict_json(&body, &NEW_LOCK_FIELDS)?;
    let input = NewLock {
        lead_id: b.lead_id,
        investor_id: b.investor_id,
        product: b.product,
        rate_milli: b.rate_milli,
        price_bps: b.price_bps,
        loan_amount_cents: b.loan_amount_cents,
        locked_on: b.locked_on.unwrap_or_else(|| state.today()),
        period_days: b.period_days,
        closing_on: b.closing_on,
        los_lock_id: b.los_lock_id,
    };
    let mut tx = state.db.begin().await?;
    let lock = service::lock(&state, &mut tx, &user, input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(lock)).into_response())
}

async fn extend(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<LockRow>> {
    // The scope first: a lock outside it is a 404 whatever the body says.
    service::visible_lock(&state.db, &user, id).await?;
    let b: ExtendBody = strict_json(&body, &["days", "note", "version"])?;
    let mut tx = service::begin_change(&state, id, b.version).await?;
    let lock = service::extend(&state, &mut tx, &user, id, b.days, None, &b.note).await?;
    tx.commit().await?;
    Ok(Json(lock))
}

async fn relock(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    // The scope first: a lock outside it is a 404 whatever the body says.
    service::visible_lock(&state.db, &user, id).await?;
    let b: RelockBody = strict_json(&body, &["today_price_bps", "period_days", "note", "version"])?;
    let mut tx = service::begin_change(&state, id, b.version).await?;
    let lock = service::relock(&state, &mut tx, &user, id, b.today_price_bps, b.period_days, &b.note).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(lock)).into_response())
}

async fn float_down(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<LockRow>> {
    // The scope first: a lock outside it is a 404 whatever the body says.
    service::visible_lock(&state.db, &user, id).await?;
    let b: FloatDownBody = strict_json(&body, &["market_rate_milli", "market_price_bps", "note", "version"])?;
    let mut tx = service::begin_change(&state, id, b.version).await?;
    let lock =
        service::float_down(&state, &mut tx, &user, id, b.market_rate_milli, b.market_price_bps, &b.note).await?;
    tx.commit().await?;
    Ok(Json(lock))
}

async fn cancel(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Json<LockRow>> {
    // The scope first: a lock outside it is a 404 whatever the body says.
    service::visible_lock(&state.db, &user, id).await?;
    let b: CancelBody = strict_json(&body, &["note", "version"])?;
    let mut tx = service::begin_change(&state, id, b.version).await?;
    let lock = service::cancel(&state, &mut tx, &user, id, &b.note).await?;
    tx.commit().await?;
    Ok(Json(lock))
}

/// `GET /api/v1/lock-investors`: every investor with its schedule (`?active=true`: the active ones).
async fn list_investors(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<Vec<InvestorRow>>> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo])?;
    let active_only = pairs.iter().any(|(k, v)| k == "active" && v == "true");
    Ok(Json(service::investors(&state.db, active_only).await?))
}

const INVESTOR_FIELDS: [&str; 8] = [
    "name",
    "relock_fee_bps",
    "float_down_fee_bps",
    "float_down_min_milli",
    "max_extension_days",
    "active",
    "schedule",
    "version",
];

/// `POST /api/v1/lock-investors` (admins): adds the investor, or changes the one of that name (its whole
/// terms; a given schedule replaces the old). 201 when added, 200 when changed.
async fn save_investor(user: CurrentUser, State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let input: InvestorInput = strict_json(&body, &INVESTOR_FIELDS)?;
    let mut tx = state.db.begin().await?;
    let existing = store::investor_by_name(&mut tx, input.name.trim()).await?;
    let (status, row) = match existing {
        Some(id) => (StatusCode::OK, investors::update_investor(&mut tx, &user, id, &input).await?),
        None => (StatusCode::CREATED, investors::create_investor(&mut tx, &user, &input).await?),
    };
    tx.commit().await?;
    Ok((status, Json(row)).into_response())
}

/// `POST /api/v1/los/locks[?skip_bad=true]` (admins, intake tokens): a JSON array of LOS lock rows. 200 with the
/// report when it committed, 422 with it when it did not.
/// What `POST /api/v1/los/locks` answers with 422: the import's report when it saved nothing, or, for a body
/// whose text cannot be read at all (a NUL byte, invalid UTF-8), the refused fields as every endpoint gives them.
/// The contract's description of that answer (the handler returns the report; the refusal comes from the request
/// checks in front of every endpoint).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LosLocksRefused {
    Report(LockImportReport),
    Invalid(crate::error::ValidationErrorBody),
}

async fn los_locks(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> AppResult<(StatusCode, Json<LockImportReport>)> {
    user.require(&[Role::Admin, Role::Intake])?;
    let skip_bad = pairs.iter().any(|(k, v)| k == "skip_bad" && v == "true");
    let rows: Vec<LosLockInput> =
        serde_json::from_slice(&body).map_err(|e| AppError::BadRequest(format!("a JSON array of lock rows: {e}")))?;
    let report = import::import_json(&state, &user, &rows, skip_bad).await?;
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)))
}
