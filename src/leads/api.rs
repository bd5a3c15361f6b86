//! JSON API v1 for leads: the same domain functions as the pages, rendered as JSON.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{ConsentInput, LeadDraft};
use super::store::{self, ActivityInput, CreateOutcome, LeadFilter, Saved};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

/// The lead fields a JSON body may carry (besides `consent`, `opt_out` and, for PATCH, `version`); any other
/// field is refused (422). The published schema of a lead body is built from this list.
pub const LEAD_FIELDS: [&str; 23] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "property_state",
    "property_zip",
    "loan_purpose",
    "loan_amount_cents",
    "property_value_cents",
    "credit_band",
    "occupancy",
    "property_type",
    "rate_quoted",
    "source",
    "campaign",
    "vendor",
    "cost_cents",
    "external_id",
    "loan_number",
    "referred_by_loan_number",
    "referral_partner_id",
    "loan_amount",
    "property_value",
];

fn parse_body(body: &Bytes) -> AppResult<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AppError::BadRequest("The body must be a JSON object.".into())),
        Err(e) => Err(AppError::BadRequest(format!("The body is not valid JSON: {e}"))),
    }
}

fn text_of(v: &Value) -> Result<String, &'static str> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("must be a string or a number"),
    }
}

/// Applies the lead fields of a JSON body onto `draft`; `skip` names fields handled by the caller.
fn apply_fields(
    draft: &mut LeadDraft,
    body: &serde_json::Map<String, Value>,
    skip: &[&str],
) -> Result<(), FieldErrors> {
    let mut e = FieldErrors::new();
    for (k, v) in body {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if k == "consent" {
            match v {
                Value::Null => draft.consent = None,
                Value::Object(_) => match serde_json::from_value::<ConsentInput>(v.clone()) {
                    Ok(c) => draft.consent = Some(c),
                    Err(_) => e.add("consent", "channel, text, captured_at, token and source_page are strings"),
                },
                _ => e.add("consent", "must be an object"),
            }
            continue;
        }
        if k == "opt_out" {
            // "call; email" or ["call", "email"].
            let channels = match v {
                Value::String(s) => Some(s.clone()),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.join(";")),
                Value::Null => Some(String::new()),
                _ => None,
            };
            match channels {
                Some(c) => draft.opt_out = c,
                None => e.add("opt_out", "a channel or a list of channels: call, text, email, all"),
            }
            continue;
        }
        if !LEAD_FIELDS.contains(&k.as_str()) {
            e.add(k, "unknown field");
            continue;
        }
        match text_of(v) {
            Ok(s) => {
                draft.set(k, s);
            }
            Err(m) => e.add(k, m),
        }
    }
    if e.is_empty() { Ok(()) } else { Err(e) }
}

fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_string()))
            .map_err(|_| AppError::invalid("idempotency_key", "the Idempotency-Key header must be plain text")),
    }
}

/// The answer to a `POST /api/v1/leads` that created a lead (201).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedLead {
    #[serde(flatten)]
    pub lead: store::LeadView,
    /// Always false here: a duplicate of an open lead answers 200.
    pub duplicate: bool,
    /// Always false here: a replay of an `Idempotency-Key` answers 200.
    pub replayed: bool,
}

/// The lead list (`GET /api/v1/leads`): one page of the leads in the caller's scope, newest first (oldest with
/// `sort=oldest`), with the cursor of the next page and the total behind the filter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadList {
    /// The page's leads. A row the caller's figure counts but that is no longer in their lead list
    /// (`in_scope: false`, `scope=figures`) has no borrower: empty names, null email and phone.
    pub items: Vec<store::LeadRow>,
    /// The cursor of the next page (send it as `after`), or null on the last page.
    pub next: Option<String>,
    /// The leads behind the filter, counted up to 10,000.
    pub total: i64,
    /// Whether there are more than `total`.
    pub total_capped: bool,
    /// Cohort `assigned` only: the assignments behind the list's figure, counted up to 10,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments: Option<i64>,
    /// Cohort `assigned` only: whether there are more than `assignments`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments_capped: Option<bool>,
    /// Cohort `lost` only: the changes to lost behind the list's figure, counted up to 10,000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses: Option<i64>,
    /// Cohort `lost` only: whether there are more than `losses`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses_capped: Option<bool>,
}

/// The lead list's filters (`GET /api/v1/leads` and `GET /api/v1/leads.csv`); each may be given once, and any
/// other parameter is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadListParams {
    /// A stage key (with `reached=1`: that won-path stage or a later one).
    pub stage: Option<String>,
    /// A lead source key.
    pub source: Option<String>,
    /// `today`, `7d`, `30d` (created within) or `older` (created more than 30 days ago).
    pub age: Option<String>,
    /// The property's state (two letters).
    pub state: Option<String>,
    /// The loan purpose.
    pub purpose: Option<String>,
    /// A loan officer's id (several separated by commas); cohort `assigned`: the LO assigned, `lost`: the LO who lost it.
    pub lo: Option<String>,
    /// Name (last name prefix, or "first last"), phone or email.
    pub q: Option<String>,
    /// `newest` (default) or `oldest`.
    pub sort: Option<String>,
    /// `unassigned`: only leads waiting for a loan officer.
    pub queue: Option<String>,
    /// The cursor of the page to show (`next` of the previous page).
    pub after: Option<String>,
    /// Leads per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// First cohort day, `YYYY-MM-DD` in the organisation's time zone (inclusive).
    pub from: Option<String>,
    /// Last cohort day, `YYYY-MM-DD` (exclusive).
    pub to: Option<String>,
    /// A team's id.
    pub team: Option<String>,
    /// A campaign key.
    pub campaign: Option<String>,
    /// `1`: `stage` means "reached this won-path stage or a later one".
    pub reached: Option<String>,
    /// `1`: in an open stage longer than the stage's `stale_after_days`.
    pub stale: Option<String>,
    /// With cohort `lost`: the reason given (`unspecified` when none was).
    pub lost_reason: Option<String>,
    /// `created` (default), `assigned` (by assignment to an LO) or `lost` (by change to lost).
    pub cohort: Option<String>,
    /// `1`: only leads now in an open won-path stage.
    pub open: Option<String>,
    /// `figures`: what the caller's figures cover; `own`: the facts naming the caller as LO.
    pub scope: Option<String>,
    /// A referral partner's id.
    pub partner: Option<String>,
    /// `past_client` or `partner`: leads a past client or a referral partner sent.
    pub referrer: Option<String>,
    /// With cohort `lost`: the furthest won-path stage reached before the loss.
    pub lost_from: Option<String>,
    /// `1`: in a stage that counts toward an LO's capacity.
    pub load: Option<String>,
    /// `1`: no first contact yet.
    pub uncontacted: Option<String>,
    /// `1`: reached by a call as the contact rate counts it; `0`: not reached.
    pub contact: Option<String>,
    /// `5m`: with cohort `assigned`, the LO's first call came within 5 minutes of the assignment.
    pub speed: Option<String>,
    /// `1` called at least once, `2` at least twice, `0` never, `lt2` fewer than twice.
    pub called: Option<String>,
}

/// `POST /api/v1/leads/{id}/stage`: the stage to move to and the version the change is based on.
#[derive(utoipa::ToSchema)]
pub struct StageInput {
    /// A stage key of the lead's pipeline.
    pub stage: String,
    /// Why the lead was lost (stage `lost` only).
    pub lost_reason: Option<String>,
    /// The lead's `version` the change is based on (409 when stale).
    pub version: i32,
}

/// `POST /api/v1/leads/{id}/activities`: a call, text, email or note.
#[derive(utoipa::ToSchema)]
#[schema(as = ActivityInput)]
pub struct ActivityInputBody {
    /// `call`, `text`, `email` or `note`.
    pub kind: String,
    /// `inbound` or `outbound` (a call without one is outbound).
    pub direction: Option<String>,
    /// A call's outcome (calls need one): `contacted`, `no_answer`, `voicemail`, `bad_number`, `do_not_call`.
    pub outcome: Option<String>,
    /// A call's talk time in whole seconds.
    pub talk_seconds: Option<i32>,
    /// When it happened (RFC 3339; default now).
    pub occurred_at: Option<String>,
    pub body: Option<String>,
    /// When to call back (RFC 3339).
    pub callback_at: Option<String>,
}

/// `POST /api/v1/leads/{id}/opt-outs`: the channel the borrower refused.
#[derive(utoipa::ToSchema)]
pub struct OptOutInput {
    /// `call`, `text`, `email` or `all`.
    pub channel: String,
}

/// The answer to `POST /api/v1/leads/{id}/activities` (201).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedActivity {
    /// The activity's id.
    pub id: i64,
    pub lead_id: Uuid,
}

/// The answer to `POST /api/v1/leads/{id}/opt-outs`: 201 when recorded now, 200 when it already was.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OptOutAnswer {
    pub lead_id: Uuid,
    pub channel: String,
    /// Whether this request recorded it (false: it already was).
    pub added: bool,
}

/// `POST /api/v1/leads`: 201 for a new lead, 200 for a replay or a duplicate of an open lead.
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    // Loss-mitigation staff work servicing cases, not leads: they may not create them (nor learn, through a
    // duplicate answer, whether a borrower is somebody's lead).
    user.require(&[Role::Lo, Role::Manager, Role::Admin, Role::Intake])?;
    let body = parse_body(&body)?;
    let mut draft = LeadDraft::default();
    apply_fields(&mut draft, &body, &[]).map_err(AppError::Validation)?;
    let fields = draft.validate().map_err(AppError::Validation)?;
    let key = idempotency_key(&headers)?;
    // A new lead is answered once saved and routed, or once `--answer-before-routing-ms` is over (its routing
    // goes on; the answer then shows it unassigned): a vendor's burst is taken as fast as it is saved.
    let wait = Some(state.config.answer_before_routing);
    let (id, outcome) = store::create_lead(&state, &user, &fields, key.as_deref(), wait).await?;
    let mut out = match outcome {
        // The caller made this lead just now: show what it created, even if routing sent it out of the
        // caller's scope (an intake integration sees no leads otherwise).
        CreateOutcome::Created => {
            let lead = store::lead_unscoped(&state.db, id).await?.view();
            return Ok(
                (StatusCode::CREATED, Json(CreatedLead { lead, duplicate: false, replayed: false })).into_response()
            );
        }
        // A replay or a duplicate answers through the caller's scope. Out of scope, a replay returns only
        // what the caller sent and the id it was given; a duplicate returns nothing of the other lead.
        CreateOutcome::Replayed | CreateOutcome::Duplicate => match store::lead(&state.db, &user, id).await {
            Ok(l) => l.to_json(),
            Err(AppError::NotFound) if outcome == CreateOutcome::Replayed => {
                let mut sent = serde_json::to_value(&fields).map_err(anyhow::Error::from)?;
                sent["id"] = json!(id);
                sent
            }
            Err(AppError::NotFound) => json!({}),
            Err(e) => return Err(e),
        },
    };
    out["duplicate"] = json!(outcome == CreateOutcome::Duplicate);
    out["replayed"] = json!(outcome == CreateOutcome::Replayed);
    Ok((StatusCode::OK, Json(out)).into_response())
}

/// `GET /api/v1/leads`
pub async fn list(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<LeadList>> {
    let (f, errors) = LeadFilter::from_pairs(&pairs);
    errors.into_result()?;
    let ((items, next), total, facts) = store::list_with_total(&state, &user, &f).await?;
    // `total` counts up to store::TOTAL_CAP; `total_capped` says the real number is larger.
    let mut out = LeadList {
        items,
        next,
        total: total.count,
        total_capped: total.capped,
        assignments: None,
        assignments_capped: None,
        losses: None,
        losses_capped: None,
    };
    // Cohorts `assigned` and `lost` also count the figure's facts: `assignments` or `losses`.
    if let Some(facts) = facts {
        let (count, capped) = (Some(facts.total.count), Some(facts.total.capped));
        match facts.many {
            "assignments" => (out.assignments, out.assignments_capped) = (count, capped),
            "losses" => (out.losses, out.losses_capped) = (count, capped),
            other => return Err(anyhow::anyhow!("the lead list has no key for the facts {other}").into()),
        }
    }
    Ok(Json(out))
}

/// `GET /api/v1/leads/{id}`
pub async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<Value>> {
    Ok(Json(store::lead(&state.db, &user, id).await?.to_json()))
}

fn version_of(body: &serde_json::Map<String, Value>) -> AppResult<i32> {
    body.get("version")
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| AppError::invalid("version", "send the version the change is based on"))
}

/// 409: the current record next to the attempted change.
fn stale(current: &store::Lead, attempted: &serde_json::Map<String, Value>) -> Response {
    let body = json!({
        "error": {
            "code": "conflict",
            "message": "The lead was changed by someone else since you loaded it. Nothing was saved.",
            "request_id": crate::web::request_ctx().request_id,
        },
        "current": current.to_json(),
        "attempted": attempted,
    });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// `PATCH /api/v1/leads/{id}` with `version`.
pub async fn patch(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    let body = parse_body(&body)?;
    // Out of scope answers 404 before anything about the input is said.
    let current = store::lead(&state.db, &user, id).await?;
    let version = version_of(&body)?;
    let mut draft = current.draft();
    // Money from the API is in cents: start from the stored cents, not the form's dollars.
    draft.loan_amount.clear();
    draft.property_value.clear();
    draft.loan_amount_cents = current.loan_amount_cents.map(|c| c.to_string()).unwrap_or_default();
    draft.property_value_cents = current.property_value_cents.map(|c| c.to_string()).unwrap_or_default();
    apply_fields(&mut draft, &body, &["version"]).map_err(AppError::Validation)?;
    let fields = draft.validate().map_err(AppError::Validation)?;
    match store::update_lead(&state, &user, id, version, &fields).await? {
        Saved::Ok(l) => Ok(Json(l.to_json()).into_response()),
        Saved::Stale(l) => Ok(stale(&l, &body)),
    }
}

/// `POST /api/v1/leads/{id}/stage` `{"stage", "lost_reason"?, "version"}`
pub async fn stage(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    let body = parse_body(&body)?;
    store::visible_lead(&state.db, &user, id).await?;
    let version = version_of(&body)?;
    let to = body.get("stage").and_then(Value::as_str).unwrap_or("").to_string();
    let reason = body.get("lost_reason").and_then(Value::as_str).map(str::to_string);
    match store::change_stage(&state, &user, id, version, &to, reason.as_deref()).await? {
        Saved::Ok(l) => Ok(Json(l.to_json()).into_response()),
        Saved::Stale(l) => Ok(stale(&l, &body)),
    }
}

/// `POST /api/v1/leads/{id}/activities` → 201 `{"id"}`
pub async fn activity(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    let body = parse_body(&body)?;
    store::visible_lead(&state.db, &user, id).await?;
    let mut e = FieldErrors::new();
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty());
    let time =
        |e: &mut FieldErrors, k: &str| s(k).and_then(|t| super::model::parse_time(&t).map_err(|m| e.add(k, m)).ok());
    let talk_seconds = match body.get("talk_seconds") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                e.add("talk_seconds", "a whole number of seconds");
                0
            }
        },
    };
    let input = ActivityInput {
        kind: s("kind").unwrap_or_default(),
        direction: s("direction"),
        outcome: s("outcome"),
        talk_seconds,
        occurred_at: time(&mut e, "occurred_at"),
        body: s("body").unwrap_or_default(),
        callback_at: time(&mut e, "callback_at"),
    };
    if let Err(more) = input.validate() {
        for (k, msgs) in more.0 {
            for m in msgs {
                e.add(&k, m);
            }
        }
    }
    e.into_result()?;
    let activity_id = store::log_activity(&state, &user, id, &input).await?;
    Ok((StatusCode::CREATED, Json(LoggedActivity { id: activity_id, lead_id: id })).into_response())
}

/// `POST /api/v1/leads/{id}/opt-outs` `{"channel": "call" | "text" | "email" | "all"}` → 201 when recorded,
/// 200 when it already was (`{"lead_id", "channel", "added"}`).
pub async fn opt_out(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    let body = parse_body(&body)?;
    let channel = body.get("channel").and_then(Value::as_str).unwrap_or_default().to_string();
    let added = store::opt_out(&state, &user, id, &channel, "api").await?;
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(OptOutAnswer { lead_id: id, channel, added })).into_response())
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::*;

    /// The documented filters are the ones the list reads.
    #[test]
    fn the_documented_list_filters_are_the_lists_own() {
        let documented: Vec<String> = LeadListParams::into_params(|| None).into_iter().map(|p| p.name).collect();
        assert_eq!(documented, store::LIST_PARAMS.map(String::from).to_vec());
    }
}
