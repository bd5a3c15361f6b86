//! The department pages: `/departments` (the departments the user belongs to, and for managers the open items
//! and median response time per department, each opening its list), a department's queue ordered by SLA due,
//! and an item's page with only the forwarded item's facts and the answer / send-back forms.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::complaints::{self, ComplaintClock, StepInput};
use super::service::{self, Figure, ItemAccess};
use super::store::{self, CaseFacts, DepartmentRow, EscalationFacts, HopRow, ItemRow};
use super::{complaint_clock, model};
use crate::auth::{CurrentUser, PageCtx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/departments", &["GET"], get(overview))
        .route("/departments/forwarded", &["GET"], get(forwarded))
        .route("/departments/{id}/queue", &["GET"], get(queue))
        .route("/departments/items/{id}", &["GET"], get(item_page))
        .route("/departments/items/{id}/answer", &["POST"], post(answer))
        .route("/departments/items/{id}/return", &["POST"], post(send_back))
        .route("/departments/items/{id}/clock", &["POST"], post(clock_step))
}

/// "due in 3 h 10 min" / "overdue by 25 min".
fn due_label(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (due - now).num_minutes();
    if m >= 0 {
        format!("due in {}", model::format_minutes(m))
    } else {
        format!("overdue by {}", model::format_minutes(-m))
    }
}

fn status_label(s: &str) -> &'static str {
    match s {
        "open" => "Waiting on the department",
        "answered" => "Answered",
        "returned" => "Sent back",
        _ => "Unknown",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "departments/overview.html")]
pub struct Overview {
    ctx: PageCtx,
    mine: Vec<DepartmentRow>,
    figures: Vec<Figure>,
    show_figures: bool,
}

impl Overview {
    fn median(&self, f: &Figure) -> String {
        f.median_minutes.map(model::format_minutes).unwrap_or_else(|| "—".into())
    }
}

async fn overview(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    let ids = store::memberships(&state.db, user.id).await?;
    let mine = store::departments(&state.db).await?.into_iter().filter(|d| ids.contains(&d.id)).collect();
    let show_figures = matches!(
        user.role,
        crate::auth::Role::Admin | crate::auth::Role::Manager | crate::auth::Role::LossmitSupervisor
    );
    let figures =
        if show_figures { service::figures(&state, &user, &service::FigureScope::default()).await? } else { vec![] };
    Ok(Overview { ctx, mine, figures, show_figures })
}

#[derive(Template, WebTemplate)]
#[template(path = "departments/queue.html")]
pub struct QueuePage {
    ctx: PageCtx,
    /// The department, or None for the items forwarded to every department.
    department: Option<DepartmentRow>,
    items: Vec<ItemRow>,
    /// Only the items this user forwarded (a manager's list behind their figure).
    forwarded_only: bool,
    now: DateTime<Utc>,
}

impl QueuePage {
    fn kind_label(&self, k: &str) -> &'static str {
        model::item_kind_label(k)
    }
    fn status_label(&self, s: &str) -> &'static str {
        status_label(s)
    }
    /// When the item is next due: the earlier of its response time and a complaint's regulatory deadline.
    fn next_due(&self, i: &ItemRow) -> DateTime<Utc> {
        i.regulatory_due_at.map_or(i.due_at, |r| r.min(i.due_at))
    }
    /// The same as a person reads it: a regulatory deadline ends with its day, shown as that day's 23:59.
    fn next_due_shown(&self, i: &ItemRow) -> DateTime<Utc> {
        match i.regulatory_due_at {
            Some(r) if r < i.due_at => r - chrono::Duration::minutes(1),
            _ => i.due_at,
        }
    }
    fn due_kind(&self, i: &ItemRow) -> &'static str {
        if i.regulatory_due_at.is_some_and(|r| r < i.due_at) { "regulatory deadline" } else { "response time" }
    }
    fn due(&self, i: &ItemRow) -> String {
        if i.status == "open" { due_label(self.next_due(i), self.now) } else { String::new() }
    }
}

async fn queue(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let filter = service::queue_filter(&state, &user, id).await?;
    let department = store::department(&state.db, id).await?;
    let items = store::items(&state.db, &filter).await?;
    Ok(QueuePage { ctx, department, items, forwarded_only: false, now: state.clock.now() })
}

/// `?department=`: one department's items among those forwarded.
#[derive(Debug, Default, Deserialize)]
pub struct ForwardedQuery {
    #[serde(default)]
    pub department: Option<String>,
    /// `open`, `overdue`, `answered` or `returned` (empty: every item).
    #[serde(default)]
    pub status: Option<String>,
    /// The dashboard's range (forwarded on or after `from`, before `to`; days in the organisation's time zone)
    /// and team, when the list opens from its figures.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

impl ForwardedQuery {
    fn scope(&self) -> AppResult<service::FigureScope> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let day = |field: &str, v: &Option<String>| -> AppResult<Option<chrono::NaiveDate>> {
            text(v)
                .map(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d"))
                .transpose()
                .map_err(|_| AppError::invalid(field, "a date as YYYY-MM-DD"))
        };
        Ok(service::FigureScope {
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            team: text(&self.team)
                .map(|s| Uuid::parse_str(&s))
                .transpose()
                .map_err(|_| AppError::invalid("team", "a team id"))?,
        })
    }
}

/// The items the user forwarded (admins: all), to one department or every one: the list behind each figure.
async fn forwarded(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ForwardedQuery>,
) -> AppResult<impl IntoResponse> {
    let department = match q.department.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let id = Uuid::parse_str(s).map_err(|_| AppError::NotFound)?;
            Some(store::department(&state.db, id).await?.ok_or(AppError::NotFound)?)
        }
        None => None,
    };
    let scope = q.scope()?;
    let mut filter = service::forwarded_filter(&user, department.as_ref().map(|d| d.id));
    (filter.forwarded_since, filter.forwarded_before) = scope.instants(state.config.timezone);
    filter.team = scope.team;
    filter.status = match q.status.as_deref().unwrap_or("") {
        "" => None,
        s @ ("open" | "answered" | "returned") => Some(s.to_string()),
        "overdue" => {
            filter.due_by = Some(state.clock.now());
            Some("open".to_string())
        }
        _ => return Err(AppError::invalid("status", "open, overdue, answered or returned")),
    };
    let items = store::items(&state.db, &filter).await?;
    Ok(QueuePage { ctx, department, items, forwarded_only: true, now: state.clock.now() })
}

#[derive(Template, WebTemplate)]
#[template(path = "departments/item.html")]
pub struct ItemPage {
    ctx: PageCtx,
    item: ItemRow,
    access: ItemAccess,
    escalation: Option<EscalationFacts>,
    case: Option<CaseFacts>,
    hops: Vec<HopRow>,
    errors: FieldErrors,
    form: ResponseForm,
    /// A complaint's regulatory clock, when one was recorded.
    clock: Option<ComplaintClock>,
    step: StepInput,
    step_errors: FieldErrors,
    now: DateTime<Utc>,
}

impl ItemPage {
    fn step_err(&self, f: &str) -> &str {
        self.step_errors.get(f).unwrap_or("")
    }
    fn type_label(&self, t: &str) -> &'static str {
        complaint_clock::type_label(t)
    }
    fn category_label(&self, c: &str) -> &'static str {
        complaint_clock::category_label(c)
    }
    fn step_label(&self, s: &str) -> &'static str {
        complaint_clock::step_label(s)
    }
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn kind_label(&self, k: &str) -> &'static str {
        model::item_kind_label(k)
    }
    fn status_label(&self) -> &'static str {
        status_label(&self.item.status)
    }
    fn options(&self) -> &'static [(&'static str, &'static str)] {
        model::decision_options(&self.item.item_kind)
    }
    fn decision_label(&self, d: &str) -> &'static str {
        model::decision_label(&self.item.item_kind, d)
    }
    fn due(&self) -> String {
        if self.item.status == "open" { due_label(self.item.due_at, self.now) } else { String::new() }
    }
    fn dollars(&self, c: &Option<i64>) -> String {
        c.map(crate::web::money::cents).unwrap_or_else(|| "—".into())
    }
    fn upb(&self, c: &i64) -> String {
        crate::web::money::cents(*c)
    }
    fn hop_label(&self, h: &HopRow) -> String {
        match h.action.as_str() {
            "forward" => format!("Forwarded to {}", h.department_name),
            "answer" => format!("Answered: {}", h.decision.as_deref().map(|d| self.decision_label(d)).unwrap_or("")),
            "return" => "Sent back".into(),
            "sla_breach" => "Past its response time".into(),
            other => other.to_string(),
        }
    }
    fn may_answer(&self) -> bool {
        self.access.may_answer(&self.item)
    }
}

/// The answer or send-back form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ResponseForm {
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub answer: String,
    #[serde(default)]
    pub version: String,
}

async fn build_item(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    errors: FieldErrors,
    form: ResponseForm,
) -> AppResult<ItemPage> {
    build_item_with_step(state, user, ctx, id, (errors, form), (FieldErrors::new(), StepInput::default())).await
}

async fn build_item_with_step(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    (errors, form): (FieldErrors, ResponseForm),
    (step_errors, step): (FieldErrors, StepInput),
) -> AppResult<ItemPage> {
    let (item, access, clock) = complaints::visible_clock(state, user, id).await?;
    let escalation = match item.escalation_id {
        Some(e) => store::escalation_facts(&state.db, e).await?,
        None => None,
    };
    let case = match item.case_id {
        Some(c) => store::case_facts(&state.db, c).await?,
        None => None,
    };
    let hops = service::hops(state, id).await?;
    Ok(ItemPage {
        ctx,
        item,
        access,
        escalation,
        case,
        hops,
        errors,
        form,
        clock,
        step,
        step_errors,
        now: state.clock.now(),
    })
}

async fn item_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    build_item(&state, &user, ctx, id, FieldErrors::new(), ResponseForm::default()).await
}

async fn respond(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    session: &Session,
    id: Uuid,
    form: ResponseForm,
    answering: bool,
) -> AppResult<Response> {
    // The item first: one the user may not see is a 404 whatever the form says.
    service::visible_item(state, user, id).await?;
    let decision = answering.then_some(form.decision.as_str());
    let version = form.version.trim().parse::<i32>().ok();
    match service::respond(state, user, id, decision, &form.answer, version).await {
        Ok(item) => {
            let msg = if answering { "Answer sent." } else { "Sent back to the manager." };
            Flash::push(session, "success", msg).await;
            Ok(Redirect::to(&format!("/departments/items/{}", item.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = build_item(state, user, ctx, id, errors, form).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(AppError::Conflict(m)) => {
            let mut errors = FieldErrors::new();
            errors.add("version", m);
            let page = build_item(state, user, ctx, id, errors, form).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn answer(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ResponseForm>,
) -> AppResult<Response> {
    respond(&state, &user, ctx, &session, id, form, true).await
}

async fn send_back(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<ResponseForm>,
) -> AppResult<Response> {
    respond(&state, &user, ctx, &session, id, form, false).await
}

/// Records a step on a complaint's clock (acknowledged, responded, extension noticed, final response): 422 with
/// the input for a mistake, 409 when someone recorded a step since the page was opened.
async fn clock_step(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<StepInput>,
) -> AppResult<Response> {
    // The item first: one the user may not see is a 404 whatever the form says.
    service::visible_item(&state, &user, id).await?;
    let (status, errors) = match complaints::record_step(&state, &user, id, &form).await {
        Ok(_) => {
            Flash::push(&session, "success", format!("{} recorded.", complaint_clock::step_label(&form.step))).await;
            return Ok(Redirect::to(&format!("/departments/items/{id}")).into_response());
        }
        Err(AppError::Validation(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(AppError::Conflict(m)) => {
            let mut errors = FieldErrors::new();
            errors.add("version", m);
            (StatusCode::CONFLICT, errors)
        }
        Err(e) => return Err(e),
    };
    let page =
        build_item_with_step(&state, &user, ctx, id, (FieldErrors::new(), ResponseForm::default()), (errors, form))
            .await?;
    Ok((status, page).into_response())
}
