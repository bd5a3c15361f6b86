//! Portfolio pages and API: the past-client list with retention metrics, opportunities, market rates and
//! the appreciation index, loan import, and LOS status updates.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::api::{LoanList, OpportunityList, OpportunityStatusChanged};
use super::import::{self, ImportReport};
use super::model::{self, format_bp, format_cents, format_rate, kind_label, product_label};
use super::store::{self, LoanRow, OpportunityRow};
use super::{RetentionSummary, retention_summary, scan_portfolio};
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;
const PAGE: i64 = 100;

pub fn router() -> Routes {
    Routes::new()
        .route("/portfolio", &["GET"], get(index))
        .route("/portfolio/loans/{id}", &["GET"], get(loan_page))
        .route("/portfolio/loans/{id}/payoff", &["POST"], post(record_payoff))
        .route("/portfolio/opportunities", &["GET"], get(opportunities))
        .route("/portfolio/opportunities/{id}/status", &["POST"], post(set_status))
        .route("/portfolio/rates", &["GET", "POST"], get(rates).post(add_rate))
        .route("/portfolio/rates/import", &["POST"], post(import_rates).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .route("/portfolio/appreciation", &["POST"], post(set_appreciation))
        .route("/portfolio/settings", &["POST"], post(save_settings))
        .route("/portfolio/rate-watch", &["POST"], post(run_rate_watch))
        .route(
            "/portfolio/import",
            &["GET", "POST"],
            get(import_form).post(import_upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/api/v1/portfolio/loans", &["GET"], get(api_loans))
        .route("/api/v1/portfolio/opportunities", &["GET"], get(api_opportunities))
        .route("/api/v1/portfolio/opportunities/{id}", &["POST"], post(api_set_status))
        .route("/api/v1/los/status", &["POST"], post(api_los_status))
}

const VIEWERS: [Role; 3] = [Role::Admin, Role::Manager, Role::Lo];

/// A loan as a table row.
pub struct LoanView {
    pub row: LoanRow,
}

impl LoanView {
    pub fn amount(&self) -> String {
        self.row.loan_amount_cents.map(format_cents).unwrap_or_default()
    }
    pub fn rate(&self) -> String {
        self.row.note_rate_milli.map(format_rate).unwrap_or_default()
    }
    pub fn product(&self) -> &'static str {
        product_label(&self.row.product)
    }
    pub fn lo(&self) -> String {
        self.row.lo_name.clone().unwrap_or_else(|| "–".into())
    }
    pub fn state(&self) -> String {
        self.row.property_state.clone().unwrap_or_default()
    }
    pub fn payoff(&self) -> String {
        match (&self.row.paid_off_on, &self.row.payoff_reason) {
            (Some(d), Some(r)) => format!("Paid off {d} ({})", r.replace('_', " ")),
            (Some(d), None) => format!("Paid off {d}"),
            _ => String::new(),
        }
    }
}

/// An opportunity as the LO reads it.
pub struct OpportunityView {
    pub row: OpportunityRow,
}

impl OpportunityView {
    fn num(&self, key: &str) -> Option<i64> {
        self.row.numbers.get(key).and_then(|v| v.as_i64())
    }
    pub fn kind(&self) -> &'static str {
        kind_label(&self.row.kind)
    }
    pub fn owner(&self) -> String {
        match (&self.row.lo_name, &self.row.team_name) {
            (Some(lo), _) => lo.clone(),
            (None, Some(t)) => format!("{t} queue"),
            (None, None) => "Unassigned".into(),
        }
    }
    pub fn has_refi(&self) -> bool {
        self.num("monthly_saving_cents").is_some()
    }
    pub fn new_payment(&self) -> String {
        self.num("new_payment_cents").map(format_cents).unwrap_or_default()
    }
    pub fn current_payment(&self) -> String {
        self.num("current_payment_cents").map(format_cents).unwrap_or_default()
    }
    pub fn saving(&self) -> String {
        self.num("monthly_saving_cents").map(format_cents).unwrap_or_default()
    }
    pub fn closing_costs(&self) -> String {
        self.num("closing_cost_cents").map(format_cents).unwrap_or_default()
    }
    pub fn break_even(&self) -> String {
        self.num("break_even_months").map(|m| format!("{m} months")).unwrap_or_default()
    }
    pub fn ltv(&self) -> String {
        self.num("estimated_ltv_bp").map(format_bp).unwrap_or_default()
    }
    pub fn created(&self) -> String {
        self.row.created_at.format("%Y-%m-%d").to_string()
    }
}

pub struct PerLoView {
    pub lo_name: String,
    pub open: i64,
    pub worked: i64,
    pub converted: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/index.html")]
struct IndexPage {
    ctx: PageCtx,
    summary: RetentionSummary,
    loans: Vec<LoanView>,
    next_after: Option<String>,
    is_admin: bool,
    /// How many loans the list holds, and which set it is (`loans=`, empty for all).
    total: i64,
    loans_key: String,
}

/// `/portfolio?loans=…&after=…`: which loans (a retention figure's list) and the page. Anything else is a 422
/// naming it: a figure's list that silently dropped its filter would show every loan.
fn list_query(pairs: &[(String, String)]) -> AppResult<(store::LoanSet, String, String)> {
    let mut errors = FieldErrors::new();
    let (mut set, mut key, mut after) = (store::LoanSet::Every, String::new(), String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "loans" => match store::LoanSet::parse(v) {
                Some(s) => (set, key) = (s, v.clone()),
                None => errors.add(
                    "loans",
                    "must be active, paid_off_12m, refinanced_with_us, lost_to_competitor or with_reason",
                ),
            },
            "after" => after = v.clone(),
            other => errors.add(other, "is not a filter of the loan list (known: loans, after)"),
        }
    }
    errors.into_result()?;
    Ok((set, key, after))
}

async fn index(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    user.require(&VIEWERS)?;
    let (set, loans_key, after) = list_query(&pairs)?;
    let (summary, (rows, next_after, total)) =
        tokio::try_join!(retention_summary(&state, &user), loans_listed(&state, &user, set, &after))?;
    let loans = rows.into_iter().map(|row| LoanView { row }).collect();
    Ok(IndexPage { ctx, summary, loans, next_after, is_admin: user.is_admin(), total, loans_key })
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/loan.html")]
struct LoanPage {
    ctx: PageCtx,
    loan: LoanView,
    opportunities: Vec<OpportunityView>,
    may_record_payoff: bool,
    reasons: Vec<&'static str>,
    errors: FieldErrors,
}

async fn loan_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    user.require(&VIEWERS)?;
    let row = store::visible_loan(&state.db, &user, id).await?;
    let opportunities =
        store::loan_opportunities(&state.db, id).await?.into_iter().map(|row| OpportunityView { row }).collect();
    Ok(LoanPage {
        ctx,
        loan: LoanView { row },
        opportunities,
        may_record_payoff: user.is_manager_or_admin(),
        reasons: model::PAYOFF_REASONS.to_vec(),
        errors: FieldErrors::new(),
    })
}

#[derive(Deserialize)]
struct PayoffForm {
    #[serde(default)]
    paid_off_on: String,
    #[serde(default)]
    payoff_reason: String,
}

async fn record_payoff(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<PayoffForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    let row = store::visible_loan(&state.db, &user, id).await?;
    let mut errors = FieldErrors::new();
    let date = match f.paid_off_on.trim() {
        "" => None,
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add("paid_off_on", "Enter a date (YYYY-MM-DD).");
                None
            }
        },
    };
    let reason = match f.payoff_reason.trim() {
        "" => None,
        r if model::PAYOFF_REASONS.contains(&r) => Some(r.to_string()),
        _ => {
            errors.add("payoff_reason", "Choose a reason from the list.");
            None
        }
    };
    if reason.is_some() && date.is_none() && errors.is_empty() {
        errors.add("paid_off_on", "A payoff reason needs the payoff date.");
    }
    if !errors.is_empty() {
        let opportunities =
            store::loan_opportunities(&state.db, id).await?.into_iter().map(|row| OpportunityView { row }).collect();
        let page = LoanPage {
            ctx,
            loan: LoanView { row },
            opportunities,
            may_record_payoff: true,
            reasons: model::PAYOFF_REASONS.to_vec(),
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let mut tx = state.db.begin().await?;
    store::record_payoff(&mut tx, id, date, reason.as_deref()).await?;
    Entry::new(Some(&user), "portfolio.payoff_recorded", "portfolio_loan", id)
        .before(serde_json::json!({ "paid_off_on": row.paid_off_on, "payoff_reason": row.payoff_reason }))
        .after(serde_json::json!({ "paid_off_on": date, "payoff_reason": reason }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Payoff recorded.").await;
    Ok(Redirect::to(&format!("/portfolio/loans/{id}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/opportunities.html")]
struct OpportunitiesPage {
    ctx: PageCtx,
    status: String,
    statuses: Vec<&'static str>,
    opportunities: Vec<OpportunityView>,
    /// Every opportunity the filter matches (the page lists the newest 500).
    total: i64,
    skips: Vec<store::SkipRow>,
    is_admin: bool,
}

/// `/portfolio/opportunities?status=…&lo=…`: `status` one of [`model::STATUSES`] (repeatable: the dashboard's
/// "worked" is worked or converted), `all`, or by default `open`; `lo` an LO's id or `none` for the team
/// queue's. Any other parameter is a 422 naming it. Returns the filter and the status choice to show back.
fn opportunity_filter(pairs: &[(String, String)]) -> AppResult<(store::OpportunityFilter, String)> {
    let mut errors = FieldErrors::new();
    let mut f = store::OpportunityFilter::default();
    let mut shown = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "status" if v == "all" => shown.push("all"),
            "status" => match model::STATUSES.iter().copied().find(|x| x == v) {
                Some(s) => {
                    f.statuses.push(s);
                    shown.push(s);
                }
                None => errors.add("status", "must be open, worked, converted, dismissed or all"),
            },
            "lo" => match v.as_str() {
                "none" => f.lo = Some(None),
                s => match Uuid::parse_str(s) {
                    Ok(id) => f.lo = Some(Some(id)),
                    Err(_) => errors.add("lo", "not a loan officer id (or none)"),
                },
            },
            other => errors.add(other, "is not a filter of the opportunities (known: status, lo)"),
        }
    }
    errors.into_result()?;
    if shown.is_empty() {
        f.statuses.push("open");
        shown.push("open");
    }
    if shown.contains(&"all") {
        f.statuses.clear();
    }
    Ok((f, shown.join(", ")))
}

async fn opportunities(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    user.require(&VIEWERS)?;
    let (filter, status) = opportunity_filter(&pairs)?;
    let opportunities = store::visible_opportunities(&state.db, &user, &filter, 500)
        .await?
        .into_iter()
        .map(|row| OpportunityView { row })
        .collect();
    let total = store::count_opportunities(&state.db, &user, &filter).await?;
    let skips = store::visible_skips(&state.db, &user, 100).await?;
    Ok(OpportunitiesPage {
        ctx,
        status,
        statuses: model::STATUSES.to_vec(),
        opportunities,
        total,
        skips,
        is_admin: user.is_admin(),
    })
}

/// `GET /api/v1/portfolio/loans`: the loan list with the page's filters (`loans=…`, `after=` a loan number),
/// one page of 50 with `next`, and `total` as the retention figure counts.
async fn api_loans(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<LoanList>> {
    user.require(&VIEWERS)?;
    let (set, _, after) = list_query(&pairs)?;
    let (loans, next, total) = loans_listed(&state, &user, set, &after).await?;
    Ok(Json(LoanList { total, loans, next }))
}

/// One page of the loans in `set` the user may see after the loan number `after`, the `after` of the next page
/// (if any) and the set's total: the page's and the API's list.
async fn loans_listed(
    state: &AppState,
    user: &CurrentUser,
    set: store::LoanSet,
    after: &str,
) -> AppResult<(Vec<store::LoanRow>, Option<String>, i64)> {
    let today = state.today();
    let (mut rows, total) = tokio::try_join!(
        store::visible_loans(&state.db, user, set, today, after, PAGE + 1),
        store::count_loans(&state.db, user, set, today),
    )?;
    let next = (rows.len() as i64 > PAGE).then(|| rows[PAGE as usize - 1].loan_number.clone());
    rows.truncate(PAGE as usize);
    Ok((rows, next, total))
}

async fn api_opportunities(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Json<OpportunityList>> {
    user.require(&VIEWERS)?;
    let (filter, _) = opportunity_filter(&pairs)?;
    let opportunities = store::visible_opportunities(&state.db, &user, &filter, 500).await?;
    let total = store::count_opportunities(&state.db, &user, &filter).await?;
    Ok(Json(OpportunityList { total, opportunities }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = OpportunityStatus)]
pub struct StatusForm {
    pub status: String,
}

async fn set_status(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> AppResult<Response> {
    super::set_opportunity_status(&state, &user, id, &f.status).await?;
    Flash::push(&session, "success", format!("Opportunity marked {}.", f.status)).await;
    Ok(Redirect::to("/portfolio/opportunities").into_response())
}

/// `POST /api/v1/portfolio/opportunities/{id}` with `{"status": "worked"}`.
async fn api_set_status(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(f): Json<StatusForm>,
) -> AppResult<Json<OpportunityStatusChanged>> {
    let before = super::set_opportunity_status(&state, &user, id, &f.status).await?;
    Ok(Json(OpportunityStatusChanged { id, status: f.status, previous_status: before }))
}

pub struct RateView {
    pub product: &'static str,
    pub rate: String,
    pub effective_on: NaiveDate,
    pub entered_by: String,
}

pub struct AppreciationView {
    pub state: String,
    pub pct: String,
}

#[derive(Default, Deserialize)]
struct RateForm {
    #[serde(default)]
    product: String,
    #[serde(default)]
    rate: String,
    #[serde(default)]
    effective_on: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/rates.html")]
struct RatesPage {
    ctx: PageCtx,
    is_admin: bool,
    rates: Vec<RateView>,
    appreciation: Vec<AppreciationView>,
    settings: store::Settings,
    products: Vec<&'static str>,
    form: RateForm,
    errors: FieldErrors,
    today: NaiveDate,
}

impl RatesPage {
    fn closing_costs(&self) -> String {
        format!("{}.{:02}", self.settings.closing_cost_cents / 100, self.settings.closing_cost_cents % 100)
    }
}

async fn rates_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    form: RateForm,
    errors: FieldErrors,
) -> AppResult<RatesPage> {
    let rates = store::recent_market_rates(&state.db)
        .await?
        .into_iter()
        .map(|r| RateView {
            product: product_label(&r.product),
            rate: format_rate(r.rate_milli),
            effective_on: r.effective_on,
            entered_by: r.entered_by.unwrap_or_default(),
        })
        .collect();
    let appreciation = store::appreciation_index(&state.db)
        .await?
        .into_iter()
        .map(|a| AppreciationView { state: a.state, pct: format_rate(a.annual_milli) })
        .collect();
    let settings = store::settings(&state.db).await?;
    Ok(RatesPage {
        ctx,
        is_admin: user.is_admin(),
        rates,
        appreciation,
        settings,
        products: model::PRODUCTS.to_vec(),
        form,
        errors,
        today: state.today(),
    })
}

async fn rates(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin, Role::Manager])?;
    rates_page(&state, &user, ctx, RateForm::default(), FieldErrors::new()).await
}

fn validate_rate(state: &AppState, f: &RateForm) -> Result<(String, i64, NaiveDate), FieldErrors> {
    let mut errors = FieldErrors::new();
    let product = f.product.trim().to_ascii_lowercase();
    if !model::PRODUCTS.contains(&product.as_str()) {
        errors.add("product", "Choose a product.");
    }
    let rate = model::parse_rate_milli(&f.rate);
    if rate.is_none() {
        errors.add("rate", "Enter a rate in percent, like 6.125.");
    }
    let day = match f.effective_on.trim() {
        "" => Some(state.today()),
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
    };
    if day.is_none() {
        errors.add("effective_on", "Enter a date (YYYY-MM-DD).");
    }
    match (rate, day) {
        (Some(r), Some(d)) if errors.is_empty() => Ok((product, r, d)),
        _ => Err(errors),
    }
}

async fn add_rate(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<RateForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let (product, rate, day) = match validate_rate(&state, &f) {
        Ok(v) => v,
        Err(errors) => {
            let page = rates_page(&state, &user, ctx, f, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    store::set_market_rate(&mut tx, &product, rate, day, user.id).await?;
    Entry::new(Some(&user), "market_rate.set", "market_rate", format!("{product}:{day}"))
        .after(serde_json::json!({ "product": product, "rate": format_rate(rate), "effective_on": day }))
        .write(&mut *tx)
        .await?;
    super::ensure_rate_watch_scheduled(&state, &mut tx, state.clock.now()).await?;
    tx.commit().await?;
    Flash::push(
        &session,
        "success",
        format!(
            "{} rate {} from {day} saved; rate watch runs this evening.",
            product_label(&product),
            format_rate(rate)
        ),
    )
    .await;
    Ok(Redirect::to("/portfolio/rates").into_response())
}

/// Reads the `file` part of an upload (and whether `skip_bad` was ticked).
async fn read_upload(multipart: &mut Multipart) -> AppResult<(Vec<u8>, bool)> {
    let mut data: Option<Vec<u8>> = None;
    let mut skip_bad = false;
    while let Some(field) = multipart.next_field().await.map_err(|e| AppError::BadRequest(e.body_text()))? {
        match field.name() {
            Some("file") => {
                data = Some(field.bytes().await.map_err(|e| AppError::BadRequest(e.body_text()))?.to_vec());
            }
            Some("skip_bad") => skip_bad = true,
            _ => {}
        }
    }
    match data.filter(|d| !d.is_empty()) {
        Some(d) => Ok((d, skip_bad)),
        None => Err(AppError::invalid("file", "Choose a CSV file.")),
    }
}

async fn import_rates(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let (data, _) = read_upload(&mut multipart).await?;
    let report = import::import_market_rates(&state, data.as_slice(), &user).await?;
    if !report.committed {
        let mut errors = FieldErrors::new();
        for e in &report.errors {
            errors.add("import", format!("line {}: {}", e.line, e.message));
        }
        let page = rates_page(&state, &user, ctx, RateForm::default(), errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    Flash::push(&session, "success", format!("{} market rates imported.", report.added)).await;
    Ok(Redirect::to("/portfolio/rates").into_response())
}

#[derive(Deserialize)]
struct AppreciationForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    annual_pct: String,
}

async fn set_appreciation(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<AppreciationForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let st = f.state.trim().to_ascii_uppercase();
    let mut errors = FieldErrors::new();
    if !crate::leads::model::is_us_state(&st) {
        errors.add("state", "Enter a two-letter US state.");
    }
    let pct = model::parse_signed_pct_milli(&f.annual_pct);
    if pct.is_none() {
        errors.add("annual_pct", "Enter a yearly percent, like 4.5 or -1.25.");
    }
    let Some(pct) = pct.filter(|_| errors.is_empty()) else {
        let page = rates_page(&state, &user, ctx, RateForm::default(), errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let mut tx = state.db.begin().await?;
    store::set_appreciation(&mut tx, &st, pct, user.id).await?;
    Entry::new(Some(&user), "appreciation.set", "appreciation_index", &st)
        .after(serde_json::json!({ "annual_pct": format_rate(pct) }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{st} appreciation set to {} a year.", format_rate(pct))).await;
    Ok(Redirect::to("/portfolio/rates").into_response())
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    threshold_bps: String,
    #[serde(default)]
    closing_costs: String,
    #[serde(default)]
    cooldown_days: String,
}

async fn save_settings(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<SettingsForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let threshold = f.threshold_bps.trim().parse::<i32>().ok().filter(|v| (0..=1000).contains(v));
    if threshold.is_none() {
        errors.add("threshold_bps", "Enter basis points between 0 and 1000 (75 = 0.75%).");
    }
    let costs = model::parse_money_cents(&f.closing_costs);
    if costs.is_none() {
        errors.add("closing_costs", "Enter a dollar amount.");
    }
    let cooldown = f.cooldown_days.trim().parse::<i32>().ok().filter(|v| (1..=730).contains(v));
    if cooldown.is_none() {
        errors.add("cooldown_days", "Enter days between 1 and 730.");
    }
    let (Some(threshold_bps), Some(closing_cost_cents), Some(cooldown_days)) = (threshold, costs, cooldown) else {
        let page = rates_page(&state, &user, ctx, RateForm::default(), errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let new = store::Settings { threshold_bps, closing_cost_cents, cooldown_days };
    let mut tx = state.db.begin().await?;
    let before = store::settings(&mut *tx).await?;
    store::update_settings(&mut tx, &new).await?;
    Entry::new(Some(&user), "retention_settings.updated", "retention_settings", "")
        .before(&before)
        .after(&new)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Rate watch settings saved.").await;
    Ok(Redirect::to("/portfolio/rates").into_response())
}

async fn run_rate_watch(user: CurrentUser, session: Session, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let report = scan_portfolio(&state, state.clock.now(), Some(&user)).await?;
    Flash::push(
        &session,
        "success",
        format!(
            "Scanned {} loans: {} new opportunities, {} skipped (opted out), {} still in their cool-down.",
            report.loans, report.created, report.skipped, report.cooling_down
        ),
    )
    .await;
    Ok(Redirect::to("/portfolio/opportunities").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/import.html")]
struct ImportPage {
    ctx: PageCtx,
    required: Vec<&'static str>,
    optional: Vec<&'static str>,
    report: Option<ImportReport>,
}

async fn import_form(user: CurrentUser, ctx: PageCtx) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    Ok(ImportPage {
        ctx,
        required: import::LOAN_COLUMNS_REQUIRED.to_vec(),
        optional: import::LOAN_COLUMNS_OPTIONAL.to_vec(),
        report: None,
    })
}

async fn import_upload(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let (data, skip_bad) = read_upload(&mut multipart).await?;
    let report = import::import_loans(&state, data.as_slice(), skip_bad, &user).await?;
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ImportPage {
        ctx,
        required: import::LOAN_COLUMNS_REQUIRED.to_vec(),
        optional: import::LOAN_COLUMNS_OPTIONAL.to_vec(),
        report: Some(report),
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LosStatusBody {
    /// The lead by its loan number, or (with `lead_id`) the loan number to record on it.
    pub loan_number: Option<String>,
    /// The lead by its id (the lender's lead id).
    pub lead_id: Option<Uuid>,
    pub status: String,
    /// RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or a date; now when absent.
    pub at: Option<String>,
}

/// `POST /api/v1/los/status {loan_number | lead_id, status, at}` (admins and intake tokens).
async fn api_los_status(
    user: CurrentUser,
    State(state): State<AppState>,
    Json(body): Json<LosStatusBody>,
) -> AppResult<Json<import::LosOutcome>> {
    user.require(&[Role::Admin, Role::Intake])?;
    let at = match body.at.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => import::parse_at(s, state.config.timezone)
            .ok_or_else(|| AppError::invalid("at", "must be an RFC 3339 time or a date"))?,
        None => state.clock.now(),
    };
    let status = body.status.trim().to_ascii_lowercase();
    let mut tx = state.db.begin().await?;
    let which = import::LosLead { loan_number: body.loan_number.as_deref(), lead_id: body.lead_id };
    let outcome = import::apply_los_update(&mut tx, which, &status, at, &user, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(outcome))
}
