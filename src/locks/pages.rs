//! The lock pages (issue 20): a loan's locks on its lead page, the form that locks a loan, and a lock's own
//! page with its history and what may be done to it (extend, float down, cancel, relock, or — for an LO — ask
//! for an extension). Every write goes through `service`, which decides who may make it; a form with a mistake
//! comes back with what was typed and the message (422).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, Figures as _};
use super::service::{self, NewLock};
use super::store::{InvestorRow, LockEventRow, LockRow};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/leads/{lead_id}/locks/new", &["GET", "POST"], get(new_form).post(create))
        .route("/locks/{id}", &["GET"], get(show))
        .route("/locks/{id}/extend", &["POST"], axum::routing::post(extend))
        .route("/locks/{id}/float-down", &["POST"], axum::routing::post(float_down))
        .route("/locks/{id}/cancel", &["POST"], axum::routing::post(cancel))
        .route("/locks/{id}/relock", &["POST"], axum::routing::post(relock))
}

const WORKERS: [Role; 3] = [Role::Lo, Role::Manager, Role::Admin];

use model::parse_rate_milli as parse_rate;

fn parse_bps(errors: &mut FieldErrors, field: &str, raw: &str) -> i32 {
    match raw.trim().parse::<i32>() {
        Ok(v) if (-1500..=1500).contains(&v) => v,
        _ => {
            errors.add(field, "Enter whole basis points, −1500 to 1500 (negative is a lender credit).");
            0
        }
    }
}

fn parse_date(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<NaiveDate> {
    match raw.trim() {
        "" => None,
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| {
            errors.add(field, "Use a date like 2026-01-31.");
            None
        }),
    }
}

fn parse_period(errors: &mut FieldErrors, field: &str, raw: &str) -> i32 {
    match raw.trim().parse::<i32>() {
        Ok(d) if model::is_period(d) => d,
        _ => {
            errors.add(field, "Choose a lock period: 15, 30, 45 or 60 days.");
            30
        }
    }
}

/// The lock form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LockForm {
    #[serde(default)]
    pub investor_id: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub rate: String,
    #[serde(default)]
    pub price_bps: String,
    #[serde(default)]
    pub loan_amount: String,
    #[serde(default)]
    pub locked_on: String,
    #[serde(default)]
    pub period_days: String,
    #[serde(default)]
    pub closing_on: String,
}

impl LockForm {
    fn check(&self, lead_id: Uuid, today: NaiveDate) -> AppResult<NewLock> {
        let mut e = FieldErrors::new();
        let investor_id = Uuid::parse_str(self.investor_id.trim()).unwrap_or_else(|_| {
            e.add("investor_id", "Choose the investor.");
            Uuid::nil()
        });
        let rate_milli = parse_rate(&self.rate).unwrap_or_else(|| {
            e.add("rate", "Enter the rate in percent with up to three decimals, e.g. 6.875.");
            0
        });
        let price_bps = parse_bps(&mut e, "price_bps", &self.price_bps);
        let loan_amount_cents = crate::web::money::parse_amount(&self.loan_amount).unwrap_or_else(|m| {
            e.add("loan_amount", m);
            0
        });
        if loan_amount_cents <= 0 && e.get("loan_amount").is_none() {
            e.add("loan_amount", "Enter the loan amount.");
        }
        let locked_on = parse_date(&mut e, "locked_on", &self.locked_on).unwrap_or(today);
        let period_days = parse_period(&mut e, "period_days", &self.period_days);
        let closing_on = parse_date(&mut e, "closing_on", &self.closing_on);
        if self.product.trim().is_empty() {
            e.add("product", "Name the product, e.g. 30-year fixed conventional.");
        }
        e.into_result()?;
        Ok(NewLock {
            lead_id,
            investor_id,
            product: self.product.trim().to_string(),
            rate_milli,
            price_bps,
            loan_amount_cents,
            locked_on,
            period_days,
            closing_on,
            los_lock_id: None,
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "locks/new.html")]
pub struct NewPage {
    ctx: PageCtx,
    lead_id: Uuid,
    borrower: String,
    investors: Vec<InvestorRow>,
    periods: [i32; 4],
    form: LockForm,
    errors: FieldErrors,
}

impl NewPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
}

async fn new_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    lead_id: Uuid,
    form: Option<LockForm>,
    errors: FieldErrors,
) -> AppResult<NewPage> {
    user.require(&WORKERS)?;
    let lead = crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let form = form.unwrap_or_else(|| LockForm {
        loan_amount: lead.loan_amount_cents.map(crate::web::money::input).unwrap_or_default(),
        locked_on: state.today().to_string(),
        period_days: "30".into(),
        ..Default::default()
    });
    Ok(NewPage {
        ctx,
        lead_id,
        borrower: format!("{} {}", lead.first_name, lead.last_name),
        investors: service::investors(&state.db, true).await?,
        periods: model::PERIODS,
        form,
        errors,
    })
}

async fn new_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    new_page(&state, &user, ctx, lead_id, None, FieldErrors::new()).await
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
    axum::Form(form): axum::Form<LockForm>,
) -> AppResult<Response> {
    let result = async {
        let input = form.check(lead_id, state.today())?;
        let mut tx = state.db.begin().await?;
        let lock = service::lock(&state, &mut tx, &user, input).await?;
        tx.commit().await?;
        Ok::<_, AppError>(lock)
    }
    .await;
    match result {
        Ok(lock) => {
            Flash::push(&session, "success", format!("Locked through {}.", lock.last_day)).await;
            Ok(Redirect::to(&format!("/locks/{}", lock.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = new_page(&state, &user, ctx, lead_id, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// The forms of the lock page as typed (one page, several small forms).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ActionForm {
    /// The lock's version the page showed (a change made meanwhile is a 409).
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub days: String,
    #[serde(default)]
    pub market_rate: String,
    #[serde(default)]
    pub market_price_bps: String,
    #[serde(default)]
    pub today_price_bps: String,
    #[serde(default)]
    pub period_days: String,
    #[serde(default)]
    pub note: String,
}

/// An extension option as the form offers it: days, cost in bps and in dollars for this loan.
pub struct Offer {
    pub days: i32,
    pub cost_bps: i32,
    pub cost_cents: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "locks/show.html")]
pub struct ShowPage {
    ctx: PageCtx,
    lock: LockRow,
    borrower: String,
    history: Vec<LockEventRow>,
    investor: Option<InvestorRow>,
    offers: Vec<Offer>,
    live: bool,
    days_left: i64,
    manager: bool,
    form: ActionForm,
    errors: FieldErrors,
    periods: [i32; 4],
}

impl model::Figures for ShowPage {}

impl ShowPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
    fn price_cents(&self) -> String {
        crate::web::money::cents(model::bps_of(self.lock.loan_amount_cents, self.lock.price_bps))
    }
    fn closes_late(&self) -> bool {
        model::closes_late(self.lock.last_day, self.lock.closing_on)
    }
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::format::local_time(t)
    }
    fn event_label(&self, kind: &str) -> &'static str {
        match kind {
            "locked" => "Locked",
            "extended" => "Extended",
            "relocked" => "Relocked",
            "floated_down" => "Floated down",
            "cancelled" => "Cancelled",
            "expired" => "Expired",
            "closed" => "Closed",
            "expiring_notice" => "Expiry notice sent",
            _ => "Changed",
        }
    }
}

async fn show_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    form: ActionForm,
    errors: FieldErrors,
) -> AppResult<ShowPage> {
    user.require(&WORKERS)?;
    let lock = service::visible_lock(&state.db, user, id).await?;
    let lead = crate::leads::store::visible_lead(&state.db, user, lock.lead_id).await?;
    let history = service::history(&state.db, id).await?;
    let investor = service::investors(&state.db, false).await?.into_iter().find(|i| i.id == lock.investor_id);
    let live = lock.status == "locked" && lock.expires_at > state.clock.now();
    let offers = investor
        .as_ref()
        .map(|i| {
            i.options()
                .into_iter()
                .filter(|o| i.max_extension_days.is_none_or(|cap| lock.extended_days + o.days <= cap))
                .map(|o| Offer {
                    days: o.days,
                    cost_bps: o.cost_bps,
                    cost_cents: model::bps_of(lock.loan_amount_cents, o.cost_bps),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ShowPage {
        ctx,
        days_left: model::days_left(lock.last_day, state.today()),
        borrower: format!("{} {}", lead.first_name, lead.last_name),
        lock,
        history,
        investor,
        offers,
        live,
        manager: user.is_manager_or_admin(),
        form,
        errors,
        periods: model::PERIODS,
    })
}

async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    show_page(&state, &user, ctx, id, ActionForm::default(), FieldErrors::new()).await
}

/// Who asks, from where: what a lock page's change needs besides its form.
struct Signed {
    state: AppState,
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
}

/// Runs one change on the lock page: on success back to the lock (the new one, after a relock) with `done`;
/// on a mistake the page again with the form and the message (422).
async fn act<F>(
    Signed { state, user, ctx, session }: Signed,
    Path(id): Path<Uuid>,
    form: ActionForm,
    done: &str,
    change: F,
) -> AppResult<Response>
where
    F: for<'t> AsyncFnOnce(
        &AppState,
        &mut sqlx::Transaction<'t, sqlx::Postgres>,
        &CurrentUser,
        &ActionForm,
    ) -> AppResult<LockRow>,
{
    let result = async {
        let version = form.version.trim().parse::<i32>().ok();
        service::visible_lock(&state.db, &user, id).await?;
        let mut tx = service::begin_change(&state, id, version).await?;
        let lock = change(&state, &mut tx, &user, &form).await?;
        tx.commit().await?;
        Ok::<_, AppError>(lock)
    }
    .await;
    match result {
        Ok(lock) => {
            Flash::push(&session, "success", done.to_string()).await;
            Ok(Redirect::to(&format!("/locks/{}", lock.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = show_page(&state, &user, ctx, id, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

fn whole_days(raw: &str) -> AppResult<i32> {
    raw.trim().parse::<i32>().map_err(|_| AppError::invalid("days", "Choose how many days to extend by."))
}

async fn extend(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ActionForm>,
) -> AppResult<Response> {
    act(Signed { state, user, ctx, session }, Path(id), form, "Lock extended.", async move |state, tx, user, form| {
        let days = whole_days(&form.days)?;
        service::extend(state, tx, user, id, days, None, form.note.trim()).await
    })
    .await
}

async fn float_down(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ActionForm>,
) -> AppResult<Response> {
    act(
        Signed { state, user, ctx, session },
        Path(id),
        form,
        "Lock floated down.",
        async move |state, tx, user, form| {
            let mut e = FieldErrors::new();
            let rate = parse_rate(&form.market_rate).unwrap_or_else(|| {
                e.add("market_rate", "Enter today's rate in percent, e.g. 6.500.");
                0
            });
            let price = parse_bps(&mut e, "market_price_bps", &form.market_price_bps);
            e.into_result()?;
            service::float_down(state, tx, user, id, rate, price, form.note.trim()).await
        },
    )
    .await
}

async fn cancel(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ActionForm>,
) -> AppResult<Response> {
    act(Signed { state, user, ctx, session }, Path(id), form, "Lock cancelled.", async move |state, tx, user, form| {
        if form.note.trim().is_empty() {
            return Err(AppError::invalid("note", "Say why the lock is cancelled."));
        }
        service::cancel(state, tx, user, id, form.note.trim()).await
    })
    .await
}

async fn relock(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ActionForm>,
) -> AppResult<Response> {
    act(Signed { state, user, ctx, session }, Path(id), form, "Loan relocked.", async move |state, tx, user, form| {
        let mut e = FieldErrors::new();
        let price = parse_bps(&mut e, "today_price_bps", &form.today_price_bps);
        let period = parse_period(&mut e, "period_days", &form.period_days);
        e.into_result()?;
        service::relock(state, tx, user, id, price, period, form.note.trim()).await
    })
    .await
}

/// The lead page's panel: the loan's locks (the live one first) with a way to lock, or to open the lock.
#[derive(Template)]
#[template(path = "locks/lead_panel.html")]
struct LeadPanel {
    lead_id: Uuid,
    locks: Vec<LockRow>,
    today: NaiveDate,
    may_lock: bool,
}

impl model::Figures for LeadPanel {}

impl LeadPanel {
    fn days_left(&self, l: &LockRow) -> i64 {
        model::days_left(l.last_day, self.today)
    }
}

/// HTML for the lead page (the lead is checked visible first).
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    if user.require(&WORKERS).is_err() {
        return Ok(String::new());
    }
    let locks = service::locks_for_lead(&state.db, lead_id).await?;
    let may_lock = !locks.iter().any(|l| l.status == "locked");
    let panel = LeadPanel { lead_id, locks, today: state.today(), may_lock };
    Ok(panel.render().map_err(anyhow::Error::from)?)
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(parse_rate("6.875"), Some(6875));
        assert_eq!(parse_rate("6.5%"), Some(6500));
        assert_eq!(parse_rate("7"), Some(7000));
        assert_eq!(parse_rate("6.8755"), None);
        assert_eq!(parse_rate("-1"), None);
        assert_eq!(parse_rate("abc"), None);
        assert_eq!(parse_rate("0"), None);
    }
}
