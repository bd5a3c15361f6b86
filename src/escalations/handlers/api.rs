//! The escalations API.

use super::*;

/// The JSON shape of a request: money in cents, rates as decimal percent.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Escalation)]
pub struct ApiEscalation {
    id: Uuid,
    lead_id: Uuid,
    requester_id: Uuid,
    kind: String,
    priority: String,
    status: String,
    standard_rate: Option<f64>,
    requested_rate: Option<f64>,
    concession_bps: i32,
    concession_cents: i64,
    loan_amount_cents: Option<i64>,
    reason: String,
    note: String,
    required_level: String,
    due_at: DateTime<Utc>,
    decision: Option<String>,
    granted_bps: i32,
    granted_cents: i64,
    decided_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// The rate lock the request prices (a lock extension always; a pricing exception on a locked loan).
    lock_id: Option<Uuid>,
    /// A lock extension's days.
    extension_days: Option<i32>,
}

impl From<EscalationRow> for ApiEscalation {
    fn from(r: EscalationRow) -> Self {
        let rate = |v: Option<i32>| v.map(|v| f64::from(v) / 1000.0);
        ApiEscalation {
            id: r.id,
            lead_id: r.lead_id,
            requester_id: r.requester_id,
            kind: r.kind,
            priority: r.priority,
            status: r.status,
            standard_rate: rate(r.standard_rate),
            requested_rate: rate(r.requested_rate),
            concession_bps: r.concession_bps,
            concession_cents: r.concession_cents,
            loan_amount_cents: r.loan_amount_cents,
            reason: r.reason,
            note: r.note,
            required_level: r.required_level,
            due_at: r.due_at,
            decision: r.decision,
            granted_bps: r.granted_bps,
            granted_cents: r.granted_cents,
            decided_at: r.decided_at,
            created_at: r.created_at,
            lock_id: r.lock_id,
            extension_days: r.extension_days,
        }
    }
}

/// The answer to `GET /api/v1/escalations`: the requests the filters select (the oldest 500) and how many
/// there are.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EscalationList {
    pub total: i64,
    pub escalations: Vec<ApiEscalation>,
}

/// The answer to `GET /api/v1/escalations/{id}`: the request and its events, oldest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EscalationDetail {
    pub escalation: ApiEscalation,
    pub events: Vec<EventRow>,
}

/// Any JSON scalar as the text a form would carry.
pub(crate) fn as_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `POST /api/v1/escalations`: numbers may come as JSON numbers or strings.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EscalationInput)]
pub struct ApiCreate {
    lead_id: Option<serde_json::Value>,
    kind: Option<serde_json::Value>,
    standard_rate: Option<serde_json::Value>,
    requested_rate: Option<serde_json::Value>,
    standard_price: Option<serde_json::Value>,
    requested_price: Option<serde_json::Value>,
    concession_bps: Option<serde_json::Value>,
    reason: Option<serde_json::Value>,
    competitor_name: Option<serde_json::Value>,
    competitor_offer: Option<serde_json::Value>,
    note: Option<serde_json::Value>,
    /// A lock extension: the live lock to extend.
    lock_id: Option<serde_json::Value>,
    /// A lock extension: days, one of the investor's options.
    extension_days: Option<serde_json::Value>,
    /// A complaint's regulatory clock, if known when raised: `notice_of_error`, `information_request`,
    /// `cfpb_portal`, `state_regulator` or `informal` (otherwise it is given when the complaint is forwarded).
    complaint_type: Option<serde_json::Value>,
    /// `general`, `payoff_statement`, `foreclosure` or `owner_identity`.
    category: Option<serde_json::Value>,
    /// The day the complaint was received (YYYY-MM-DD).
    received_on: Option<serde_json::Value>,
    /// A foreclosure-related notice of error: the scheduled sale date.
    foreclosure_sale_on: Option<serde_json::Value>,
    /// A state regulator's complaint: the due date its letter states.
    regulator_due_on: Option<serde_json::Value>,
}

pub(crate) async fn api_create(
    user: CurrentUser,
    State(state): State<AppState>,
    Json(b): Json<ApiCreate>,
) -> AppResult<impl IntoResponse> {
    let input = RequestInput {
        lead_id: as_text(&b.lead_id),
        kind: as_text(&b.kind),
        standard_rate: as_text(&b.standard_rate),
        requested_rate: as_text(&b.requested_rate),
        standard_price: as_text(&b.standard_price),
        requested_price: as_text(&b.requested_price),
        concession_bps: as_text(&b.concession_bps),
        reason: as_text(&b.reason),
        competitor_name: as_text(&b.competitor_name),
        competitor_offer: as_text(&b.competitor_offer),
        note: as_text(&b.note),
        lock_id: as_text(&b.lock_id),
        extension_days: as_text(&b.extension_days),
        clock: crate::departments::complaints::ClockInput {
            complaint_type: as_text(&b.complaint_type),
            category: as_text(&b.category),
            received_on: as_text(&b.received_on),
            foreclosure_sale_on: as_text(&b.foreclosure_sale_on),
            regulator_due_on: as_text(&b.regulator_due_on),
        },
    };
    let id = crate::escalations::file_request(&state, &user, &input, None).await?;
    let row = store::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(ApiEscalation::from(row))))
}

/// The approvals list as JSON: the page's filters (status, kind, lo, team, from, to, outcome), its total and
/// the oldest 500 requests.
pub(crate) async fn api_list(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    let auth = crate::escalations::authority(&state, &user).await?;
    let (_, filter) = QueueQuery::parse(&pairs, state.config.timezone, auth.is_none())?;
    let rows = store::list(&state.db, &user, auth.as_ref(), &filter).await?;
    let total = store::count(&state.db, &user, auth.as_ref(), &filter).await?;
    Ok(Json(EscalationList { total, escalations: rows.into_iter().map(ApiEscalation::from).collect() }))
}

pub(crate) async fn api_show(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let (row, _) = crate::escalations::visible_request(&state, &user, id).await?;
    let events = store::events(&state.db, id).await?;
    Ok(Json(EscalationDetail { escalation: ApiEscalation::from(row), events }))
}

/// `POST /api/v1/escalations/{id}/decision`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EscalationDecision)]
pub struct ApiDecision {
    #[serde(default)]
    decision: String,
    counter_bps: Option<i32>,
    #[serde(default)]
    note: String,
}

pub(crate) async fn api_decide(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(b): Json<ApiDecision>,
) -> AppResult<impl IntoResponse> {
    let row = crate::escalations::decide(&state, &user, id, &b.decision, b.counter_bps, &b.note).await?;
    Ok(Json(ApiEscalation::from(row)))
}
