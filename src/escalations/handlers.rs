//! Pages and API for escalations: extract, authorise, call the domain in `super`, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, ConcessionSummary, Kind, SegmentScreen, Status};
use super::store::{self, EscalationRow, EventRow, KindSetting, LoMetrics, UserLimit};
use super::{RequestInput, Upload};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::leads::store::LeadSummary;
use crate::state::AppState;
use crate::web::{Flash, PageCtx, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/escalations", &["GET"], get(queue))
        .route(
            "/escalations/new",
            &["GET", "POST"],
            get(new_form).post(create).layer(DefaultBodyLimit::max(model::MAX_ATTACHMENT_BYTES + 256 * 1024)),
        )
        .route("/escalations/reports", &["GET"], get(reports))
        .route("/escalations/reports.csv", &["GET"], get(reports_csv))
        .route("/escalations/settings", &["GET"], get(settings))
        .route("/escalations/settings/limits", &["POST"], post(save_limits))
        .route("/escalations/settings/approvers", &["POST"], post(save_approver))
        .route("/escalations/settings/approvers/{user_id}/remove", &["POST"], post(remove_approver))
        .route("/escalations/settings/kinds", &["POST"], post(save_kinds))
        .route("/escalations/settings/fair-lending", &["POST"], post(save_fair_lending))
        .route("/escalations/{id}", &["GET"], get(detail))
        .route("/escalations/{id}/decision", &["POST"], post(decide_form))
        .route("/escalations/{id}/comment", &["POST"], post(comment_form))
        .route("/escalations/{id}/review", &["POST"], post(review_form))
        .route("/escalations/{id}/close", &["POST"], post(close_form))
        .route("/escalations/{id}/attachments/{attachment_id}", &["GET"], get(attachment))
        .route("/coaching", &["GET", "POST"], get(coaching).post(open_coaching))
        .route("/coaching/lo/{lo_id}", &["GET"], get(coaching_lo))
        .route("/api/v1/escalations", &["GET", "POST"], get(api_list).post(api_create))
        .route("/api/v1/escalations/{id}", &["GET"], get(api_show))
        .route("/api/v1/escalations/{id}/decision", &["POST"], post(api_decide))
}

/// A request as a page row: the raw row plus what the viewer sees about it.
pub struct QueueItem {
    pub row: EscalationRow,
    pub kind_label: &'static str,
    pub status_label: &'static str,
    pub dollars: String,
    pub sla: String,
    pub breached: bool,
    pub can_decide: bool,
    pub waiting_on: &'static str,
}

fn item(row: EscalationRow, user: &CurrentUser, auth: Option<&model::Authority>, now: DateTime<Utc>) -> QueueItem {
    let status = Status::parse(&row.status).unwrap_or(Status::Closed);
    let (sla, breached) = if status.is_open() { model::sla_clock(row.due_at, now) } else { (String::new(), false) };
    QueueItem {
        kind_label: Kind::parse(&row.kind).map(|k| k.label()).unwrap_or("Request"),
        status_label: status.label(),
        dollars: model::format_dollars(row.concession_cents),
        sla,
        breached,
        can_decide: super::can_decide(user, auth, &row),
        waiting_on: model::Level::parse(&row.current_level).map(|l| l.label()).unwrap_or(""),
        row,
    }
}

#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    lo: String,
    #[serde(default)]
    team: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/queue.html")]
struct QueuePage {
    ctx: PageCtx,
    approver: bool,
    items: Vec<QueueItem>,
    waiting: i64,
    q: QueueQuery,
    teams: Vec<(Uuid, String)>,
    los: Vec<(Uuid, String)>,
    kinds: [Kind; 5],
    statuses: [Status; 6],
}

impl QueuePage {
    fn selected(&self, a: &str, b: &Uuid) -> bool {
        a == b.to_string()
    }
}

async fn queue(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(mut q): Query<QueueQuery>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let auth = super::authority(&state, &user).await?;
    let approver = auth.is_some();
    if approver && q.status.is_empty() {
        q.status = "open".into();
    }
    if q.status == "all" {
        q.status.clear();
    }
    let filter = store::ListFilter {
        mine_only: !approver,
        status: if q.status == "open" || Status::parse(&q.status).is_some() { q.status.clone() } else { String::new() },
        kind: if Kind::parse(&q.kind).is_some() { q.kind.clone() } else { String::new() },
        lo_id: Uuid::parse_str(&q.lo).ok(),
        team_id: Uuid::parse_str(&q.team).ok(),
        lead_id: None,
        limit: 500,
    };
    let rows = store::list(&state.db, &user, auth.as_ref(), &filter).await?;
    let now = state.clock.now();
    let items = rows.into_iter().map(|r| item(r, &user, auth.as_ref(), now)).collect();
    let (teams, los) = if approver { store::filter_choices(&state.db, &user).await? } else { (vec![], vec![]) };
    let waiting = super::waiting_count(&state, &user).await?;
    Ok(QueuePage { ctx, approver, items, waiting, q, teams, los, kinds: Kind::ALL, statuses: Status::ALL })
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/new.html")]
struct NewPage {
    ctx: PageCtx,
    lead: LeadSummary,
    input: RequestInput,
    errors: FieldErrors,
    kinds: [Kind; 5],
    reasons: [(&'static str, &'static str); 4],
    loan_amount: String,
}

impl NewPage {
    fn build(ctx: PageCtx, lead: LeadSummary, input: RequestInput, errors: FieldErrors) -> Self {
        let loan_amount = lead.loan_amount_cents.map(model::format_dollars).unwrap_or_else(|| "not set".into());
        NewPage { ctx, lead, input, errors, kinds: Kind::ALL, reasons: model::REASONS, loan_amount }
    }
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
}

#[derive(Deserialize)]
struct NewQuery {
    #[serde(default)]
    lead_id: String,
    #[serde(default)]
    kind: String,
}

async fn new_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<NewQuery>,
) -> AppResult<impl IntoResponse> {
    let lead_id = Uuid::parse_str(q.lead_id.trim()).map_err(|_| AppError::NotFound)?;
    let lead = crate::leads::store::visible_lead(&state.db, &user, lead_id).await?;
    let input = RequestInput {
        lead_id: lead_id.to_string(),
        kind: if q.kind.is_empty() { "pricing_exception".into() } else { q.kind },
        ..Default::default()
    };
    Ok(NewPage::build(ctx, lead, input, FieldErrors::new()))
}

/// Reads the request form, urlencoded or multipart (with the competitor's quote attached).
async fn read_request_form(req: Request, state: &AppState) -> AppResult<(RequestInput, Option<Upload>)> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let axum::Form(input) = axum::Form::<RequestInput>::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        return Ok((input, None));
    }
    let mut mp = Multipart::from_request(req, state).await.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let mut input = RequestInput::default();
    let mut upload = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(AppError::invalid("attachment", "The attachment must be 5 MB or smaller."));
            }
            Err(e) => return Err(AppError::BadRequest(e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "attachment" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|_| AppError::invalid("attachment", "The attachment must be 5 MB or smaller."))?;
            if !bytes.is_empty() {
                upload = Some(Upload { file_name, content_type, bytes: bytes.to_vec() });
            }
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| AppError::BadRequest(e.body_text()))?;
        let text = crate::web::input::text_field(&name, &bytes)?;
        match name.as_str() {
            "lead_id" => input.lead_id = text,
            "kind" => input.kind = text,
            "standard_rate" => input.standard_rate = text,
            "requested_rate" => input.requested_rate = text,
            "standard_price" => input.standard_price = text,
            "requested_price" => input.requested_price = text,
            "concession_bps" => input.concession_bps = text,
            "reason" => input.reason = text,
            "competitor_name" => input.competitor_name = text,
            "competitor_offer" => input.competitor_offer = text,
            "note" => input.note = text,
            _ => {}
        }
    }
    Ok((input, upload))
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    req: Request,
) -> AppResult<Response> {
    let (input, upload) = read_request_form(req, &state).await?;
    match super::file_request(&state, &user, &input, upload).await {
        Ok(id) => {
            Flash::push(&session, "success", "Request filed. Your approver has been notified.").await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let lead_id = Uuid::parse_str(input.lead_id.trim()).map_err(|_| AppError::NotFound)?;
            let lead = crate::leads::store::visible_lead(&state.db, &user, lead_id).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, NewPage::build(ctx, lead, input, errors)).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/detail.html")]
struct DetailPage {
    ctx: PageCtx,
    it: QueueItem,
    events: Vec<EventRow>,
    attachments: Vec<store::Attachment>,
    is_requester: bool,
    errors: FieldErrors,
    decision: String,
    counter_bps: String,
    note: String,
    reason: &'static str,
    required_level: &'static str,
}

impl DetailPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn rate(&self, v: &Option<i32>) -> String {
        v.map(model::format_thousandths).unwrap_or_else(|| "—".into())
    }
    fn dollars(&self, v: &Option<i64>) -> String {
        v.map(model::format_dollars).unwrap_or_else(|| "—".into())
    }
    fn can_close(&self) -> bool {
        let s = Status::parse(&self.it.row.status).unwrap_or(Status::Closed);
        s != Status::Closed
            && (self.is_requester
                || self.it.can_decide
                || (!s.is_open() && self.ctx.user.as_ref().is_some_and(|u| u.is_manager_or_admin())))
    }
    fn event_label(&self, e: &EventRow) -> String {
        match e.kind.as_str() {
            "created" => "Requested".into(),
            "comment" => "Comment".into(),
            "decision" => match (e.decision.as_deref(), e.counter_bps) {
                (Some("counter"), Some(b)) => format!("Decision: countered at {b} bps"),
                (Some(d), _) => format!("Decision: {d}"),
                _ => "Decision".into(),
            },
            "sla_breach" => "SLA breached".into(),
            _ => format!(
                "Status: {} → {}",
                e.from_status.as_deref().and_then(Status::parse).map(|s| s.label()).unwrap_or(""),
                e.to_status.as_deref().and_then(Status::parse).map(|s| s.label()).unwrap_or("")
            ),
        }
    }
}

async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    errors: FieldErrors,
    form: Option<&DecisionForm>,
) -> AppResult<DetailPage> {
    let (row, auth) = super::visible_request(state, user, id).await?;
    let events = store::events(&state.db, id).await?;
    let attachments = store::attachments(&state.db, id).await?;
    let reason = model::reason_label(&row.reason);
    let required_level = model::Level::parse(&row.required_level).map(|l| l.label()).unwrap_or("");
    let is_requester = row.requester_id == user.id;
    let it = item(row, user, auth.as_ref(), state.clock.now());
    Ok(DetailPage {
        ctx,
        it,
        events,
        attachments,
        is_requester,
        errors,
        decision: form.map(|f| f.decision.clone()).unwrap_or_default(),
        counter_bps: form.map(|f| f.counter_bps.clone()).unwrap_or_default(),
        note: form.map(|f| f.note.clone()).unwrap_or_default(),
        reason,
        required_level,
    })
}

async fn detail(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    detail_page(&state, &user, ctx, id, FieldErrors::new(), None).await
}

#[derive(Debug, Default, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    counter_bps: String,
    #[serde(default)]
    note: String,
}

fn parse_counter(s: &str) -> AppResult<Option<i32>> {
    match s.trim() {
        "" => Ok(None),
        v => v.parse::<i32>().map(Some).map_err(|_| AppError::invalid("counter_bps", "Enter whole basis points.")),
    }
}

async fn decide_form(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<DecisionForm>,
) -> AppResult<Response> {
    let result = match parse_counter(&form.counter_bps) {
        Ok(counter) => super::decide(&state, &user, id, &form.decision, counter, &form.note).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(row) => {
            let status = Status::parse(&row.status).map(|s| s.label()).unwrap_or("");
            Flash::push(&session, "success", format!("Decision recorded: {}.", status.to_lowercase())).await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &user, ctx, id, errors, Some(&form)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn comment_form(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<NoteForm>,
) -> AppResult<Response> {
    match super::comment(&state, &user, id, &form.note).await {
        Ok(()) => {
            Flash::push(&session, "success", "Comment added.").await;
            Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = detail_page(&state, &user, ctx, id, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn review_form(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    super::start_review(&state, &user, id).await?;
    Flash::push(&session, "success", "Marked as in review.").await;
    Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
}

async fn close_form(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<NoteForm>,
) -> AppResult<Response> {
    super::close(&state, &user, id, &form.note).await?;
    Flash::push(&session, "success", "Request closed.").await;
    Ok(Redirect::to(&format!("/escalations/{id}")).into_response())
}

/// Serves an attachment only to people who may see its request, always as a download.
async fn attachment(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((id, attachment_id)): Path<(Uuid, Uuid)>,
) -> AppResult<Response> {
    super::visible_request(&state, &user, id).await?;
    let (name, content_type, bytes) =
        store::attachment_bytes(&state.db, id, attachment_id).await?.ok_or(AppError::NotFound)?;
    let content_type = if model::ATTACHMENT_TYPES.contains(&content_type.as_str()) {
        content_type
    } else {
        "application/octet-stream".into()
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", model::safe_file_name(&name)))
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(Body::from(bytes))
        .map_err(|e| AppError::Internal(e.into()))
}

// ---------------------------------------------------------------- reports

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    table: String,
}

struct Reports {
    from: NaiveDate,
    to: NaiveDate,
    by_lo: Vec<ConcessionSummary>,
    by_team: Vec<ConcessionSummary>,
    by_month: Vec<ConcessionSummary>,
    total: Vec<ConcessionSummary>,
    screen: Vec<SegmentScreen>,
    thresholds: model::FairLendingThresholds,
}

async fn build_reports(state: &AppState, user: &CurrentUser, q: &ReportQuery) -> AppResult<Reports> {
    user.require(&[Role::Manager, Role::Admin])?;
    let today = state.clock.now().date_naive();
    let default_from = today.with_day(1).unwrap_or(today) - chrono::Duration::days(365);
    let from = NaiveDate::parse_from_str(q.from.trim(), "%Y-%m-%d").unwrap_or(default_from);
    let to = NaiveDate::parse_from_str(q.to.trim(), "%Y-%m-%d").unwrap_or(today);
    let start = from.and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or_default();
    let end = to.succ_opt().unwrap_or(to).and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or_default();
    let rows = store::report_rows(&state.db, user, start, end).await?;
    let thresholds = store::fair_lending_thresholds(&state.db).await?;
    Ok(Reports {
        from,
        to,
        by_lo: model::summarise(&rows, |r| r.lo_name.clone()),
        by_team: model::summarise(&rows, |r| r.team_name.clone()),
        by_month: model::summarise(&rows, |r| r.month.clone()),
        total: model::summarise(&rows, |_| "All".into()),
        screen: model::fair_lending_screen(&rows, thresholds),
        thresholds,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/reports.html")]
struct ReportsPage {
    ctx: PageCtx,
    r: Reports,
}

impl ReportsPage {
    fn dollars(&self, c: &i64) -> String {
        model::format_dollars(*c)
    }
    fn pct(&self, v: &Option<f64>) -> String {
        v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into())
    }
    fn num(&self, v: &Option<f64>) -> String {
        v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
    }
}

async fn reports(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<impl IntoResponse> {
    let r = build_reports(&state, &user, &q).await?;
    Ok(ReportsPage { ctx, r })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_default()
}

async fn reports_csv(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let r = build_reports(&state, &user, &q).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: Vec<String>| -> AppResult<()> {
        w.write_record(cells.iter().map(|c| model::csv_cell(c))).map_err(|e| AppError::Internal(e.into()))
    };
    let summary = |rows: &[ConcessionSummary], label: &str, write: &mut dyn FnMut(Vec<String>) -> AppResult<()>| {
        write(
            [
                label,
                "requests",
                "decided",
                "granted",
                "total_bps",
                "dollars",
                "approval_rate_pct",
                "avg_hours_to_decision",
                "funded",
            ]
            .map(String::from)
            .to_vec(),
        )?;
        for s in rows {
            write(vec![
                s.key.clone(),
                s.requests.to_string(),
                s.decided.to_string(),
                s.granted.to_string(),
                s.total_bps.to_string(),
                format!("{}.{:02}", s.total_cents / 100, s.total_cents % 100),
                fmt_opt(s.approval_rate),
                fmt_opt(s.avg_hours_to_decision),
                s.funded.to_string(),
            ])?;
        }
        Ok::<(), AppError>(())
    };
    let table = match q.table.as_str() {
        "lo" | "team" | "month" | "fair_lending" => q.table.as_str(),
        _ => return Err(AppError::BadRequest("Choose a table: lo, team, month or fair_lending.".into())),
    };
    match table {
        "lo" => summary(&r.by_lo, "loan_officer", &mut write)?,
        "team" => summary(&r.by_team, "team", &mut write)?,
        "month" => summary(&r.by_month, "month", &mut write)?,
        _ => {
            write(
                [
                    "dimension",
                    "segment",
                    "decided",
                    "granted",
                    "concession_rate_pct",
                    "rest_rate_pct",
                    "avg_bps",
                    "rest_avg_bps",
                    "flagged",
                ]
                .map(String::from)
                .to_vec(),
            )?;
            for s in &r.screen {
                write(vec![
                    s.dimension.to_string(),
                    s.segment.clone(),
                    s.decided.to_string(),
                    s.granted.to_string(),
                    format!("{:.1}", s.concession_rate),
                    fmt_opt(s.rest_rate),
                    fmt_opt(s.avg_bps),
                    fmt_opt(s.rest_avg_bps),
                    if s.flagged { "yes".into() } else { "no".into() },
                ])?;
            }
        }
    }
    let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"concessions-{table}-{}-{}.csv\"", r.from, r.to),
        )
        .body(Body::from(body))
        .map_err(|e| AppError::Internal(e.into()))
}

// ---------------------------------------------------------------- settings

#[derive(Template, WebTemplate)]
#[template(path = "escalations/settings.html")]
struct SettingsPage {
    ctx: PageCtx,
    manager_bps: String,
    admin_bps: String,
    users: Vec<UserLimit>,
    kinds: Vec<KindSetting>,
    priorities: [&'static str; 4],
    thresholds: model::FairLendingThresholds,
    errors: FieldErrors,
}

impl SettingsPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn limit(&self, v: &Option<i32>) -> String {
        v.map(|v| format!("{v} bps")).unwrap_or_else(|| "no limit".into())
    }
    fn level_label(&self, l: &str) -> &'static str {
        model::Level::parse(l).map(|l| l.label()).unwrap_or("")
    }
}

async fn settings_page(state: &AppState, ctx: PageCtx, errors: FieldErrors) -> AppResult<SettingsPage> {
    let table = store::authority_table(&state.db).await?;
    let show = |v: Option<Option<i32>>| v.flatten().map(|v| v.to_string()).unwrap_or_default();
    Ok(SettingsPage {
        ctx,
        manager_bps: show(table.manager_role_bps),
        admin_bps: show(table.admin_role_bps),
        users: store::user_limits(&state.db).await?,
        kinds: store::kind_settings(&state.db).await?,
        priorities: model::PRIORITIES,
        thresholds: store::fair_lending_thresholds(&state.db).await?,
        errors,
    })
}

async fn settings(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    settings_page(&state, ctx, FieldErrors::new()).await
}

fn parse_limit(errors: &mut FieldErrors, field: &str, s: &str) -> Option<i32> {
    match s.trim() {
        "" => None,
        v => match v.parse::<i32>() {
            Ok(n) if (0..=1000).contains(&n) => Some(n),
            _ => {
                errors.add(field, "Enter whole basis points from 0 to 1,000, or leave empty for no limit.");
                None
            }
        },
    }
}

async fn settings_result(
    state: &AppState,
    ctx: PageCtx,
    session: &Session,
    errors: FieldErrors,
    message: &str,
) -> AppResult<Response> {
    if errors.is_empty() {
        Flash::push(session, "success", message).await;
        Ok(Redirect::to("/escalations/settings").into_response())
    } else {
        Ok((StatusCode::UNPROCESSABLE_ENTITY, settings_page(state, ctx, errors).await?).into_response())
    }
}

#[derive(Deserialize)]
struct LimitsForm {
    #[serde(default)]
    manager_bps: String,
    #[serde(default)]
    admin_bps: String,
}

async fn save_limits(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<LimitsForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let manager = parse_limit(&mut errors, "manager_bps", &f.manager_bps);
    if f.manager_bps.trim().is_empty() {
        errors.add("manager_bps", "Managers need a limit in basis points.");
    }
    let admin = parse_limit(&mut errors, "admin_bps", &f.admin_bps);
    if errors.is_empty() {
        let before = store::authority_table(&state.db).await?;
        let mut tx = state.db.begin().await?;
        store::set_role_limit(&mut tx, "manager", manager).await?;
        store::set_role_limit(&mut tx, "admin", admin).await?;
        Entry::new(Some(&user), "escalation.settings.limits", "approver_limits", "roles")
            .before(serde_json::json!({"manager_bps": before.manager_role_bps.flatten(), "admin_bps": before.admin_role_bps.flatten()}))
            .after(serde_json::json!({"manager_bps": manager, "admin_bps": admin}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Approval limits saved.").await
}

#[derive(Deserialize)]
struct ApproverForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    max_bps: String,
}

async fn save_approver(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<ApproverForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let max = parse_limit(&mut errors, "max_bps", &f.max_bps);
    let level = model::Level::parse(&f.level);
    if level.is_none() {
        errors.add("level", "Choose the approver's level.");
    }
    let target = store::user_by_email(&state.db, &f.email).await?;
    match &target {
        Some((_, role)) if role == "manager" || role == "admin" => {}
        Some(_) => errors.add("email", "Only managers and admins can approve requests."),
        None => errors.add("email", "No user has this email."),
    }
    if let (true, Some((uid, _)), Some(level)) = (errors.is_empty(), target, level) {
        let mut tx = state.db.begin().await?;
        store::set_user_limit(&mut tx, uid, level, max).await?;
        Entry::new(Some(&user), "escalation.settings.approver", "approver_limits", uid)
            .after(serde_json::json!({"level": level.as_str(), "max_bps": max}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Approver saved.").await
}

async fn remove_approver(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(user_id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    if store::remove_user_limit(&mut tx, user_id).await? == 0 {
        return Err(AppError::NotFound);
    }
    Entry::new(Some(&user), "escalation.settings.approver_removed", "approver_limits", user_id).write(&mut *tx).await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Approver removed.").await;
    Ok(Redirect::to("/escalations/settings").into_response())
}

async fn save_kinds(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let mut changes = Vec::new();
    for k in Kind::ALL {
        let get =
            |f: &str| form.iter().find(|(n, _)| *n == format!("{}_{f}", k.as_str())).map(|(_, v)| v.trim().to_string());
        let (Some(hours), Some(priority)) = (get("sla_hours"), get("priority")) else { continue };
        let hours = match hours.parse::<i32>() {
            Ok(h) if (1..=720).contains(&h) => h,
            _ => {
                errors.add(&format!("{}_sla_hours", k.as_str()), "Enter SLA hours from 1 to 720.");
                continue;
            }
        };
        if !model::PRIORITIES.contains(&priority.as_str()) {
            errors.add(&format!("{}_priority", k.as_str()), "Choose a priority.");
            continue;
        }
        changes.push((k.as_str(), hours, priority));
    }
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        for (k, h, p) in &changes {
            store::update_kind(&mut tx, k, *h, p).await?;
        }
        Entry::new(Some(&user), "escalation.settings.kinds", "escalation_kinds", "all")
            .after(
                changes
                    .iter()
                    .map(|(k, h, p)| serde_json::json!({"kind": k, "sla_hours": h, "priority": p}))
                    .collect::<Vec<_>>(),
            )
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "SLA and priorities saved.").await
}

#[derive(Deserialize)]
struct FairLendingForm {
    #[serde(default)]
    rate_points: String,
    #[serde(default)]
    avg_bps: String,
}

async fn save_fair_lending(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<FairLendingForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let mut parse = |field: &str, s: &str| match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => v,
        _ => {
            errors.add(field, "Enter a number from 0 to 100.");
            0.0
        }
    };
    let t = model::FairLendingThresholds {
        rate_points: parse("rate_points", &f.rate_points),
        avg_bps: parse("avg_bps", &f.avg_bps),
    };
    if errors.is_empty() {
        let before = store::fair_lending_thresholds(&state.db).await?;
        let mut tx = state.db.begin().await?;
        store::set_fair_lending_thresholds(&mut tx, t).await?;
        Entry::new(Some(&user), "escalation.settings.fair_lending", "settings", "escalations.fair_lending")
            .before(before)
            .after(t)
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Fair-lending thresholds saved.").await
}

// ---------------------------------------------------------------- coaching

#[derive(Template, WebTemplate)]
#[template(path = "escalations/coaching.html")]
struct CoachingPage {
    ctx: PageCtx,
    los: Vec<LoMetrics>,
    errors: FieldErrors,
    form: CoachingForm,
}

impl CoachingPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
}

#[derive(Debug, Default, Deserialize)]
struct CoachingForm {
    #[serde(default)]
    lo_id: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    follow_up_on: String,
}

fn since(state: &AppState) -> DateTime<Utc> {
    state.clock.now() - chrono::Duration::days(30)
}

async fn coaching(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Manager, Role::Admin])?;
    let los = store::lo_metrics(&state.db, &user, None, since(&state)).await?;
    Ok(CoachingPage { ctx, los, errors: FieldErrors::new(), form: CoachingForm::default() })
}

/// Whether the user coaches this LO: their manager, or an admin.
fn coaches(user: &CurrentUser, lo_team: Option<Uuid>) -> bool {
    user.manages_team_of(lo_team)
}

async fn open_coaching(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<CoachingForm>,
) -> AppResult<Response> {
    user.require(&[Role::Manager, Role::Admin])?;
    let mut errors = FieldErrors::new();
    let lo = match Uuid::parse_str(form.lo_id.trim()) {
        Ok(id) => match store::lo_basics(&state.db, id).await? {
            Some((_, team)) if coaches(&user, team) => Some(id),
            _ => {
                errors.add("lo_id", "Choose a loan officer on your teams.");
                None
            }
        },
        Err(_) => {
            errors.add("lo_id", "Choose a loan officer.");
            None
        }
    };
    let follow_up = match form.follow_up_on.trim() {
        "" => None,
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if d >= state.clock.now().date_naive() => Some(d),
            Ok(_) => {
                errors.add("follow_up_on", "The follow-up date cannot be in the past.");
                None
            }
            Err(_) => {
                errors.add("follow_up_on", "Enter the date as YYYY-MM-DD.");
                None
            }
        },
    };
    if form.notes.trim().is_empty() || form.notes.len() > 8000 {
        errors.add("notes", "Write your coaching notes (up to 8,000 characters).");
    }
    let Some(lo_id) = lo.filter(|_| errors.is_empty()) else {
        let los = store::lo_metrics(&state.db, &user, None, since(&state)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, CoachingPage { ctx, los, errors, form }).into_response());
    };
    let snapshot =
        store::lo_metrics(&state.db, &user, Some(lo_id), since(&state)).await?.into_iter().next().unwrap_or_default();
    let metrics = serde_json::to_value(&snapshot).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let id = store::insert_coaching(&mut tx, lo_id, user.id, &metrics, form.notes.trim(), follow_up).await?;
    Entry::new(Some(&user), "coaching.create", "coaching_review", id)
        .after(serde_json::json!({"lo_id": lo_id, "metrics": metrics, "follow_up_on": follow_up}))
        .write(&mut *tx)
        .await?;
    crate::notifications::notify(
        &mut tx,
        lo_id,
        "coaching.created",
        &format!("{} opened a coaching review with you", user.name),
        &format!("/coaching/lo/{lo_id}"),
    )
    .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Coaching review saved.").await;
    Ok(Redirect::to(&format!("/coaching/lo/{lo_id}")).into_response())
}

pub struct CoachingView {
    pub manager_name: String,
    pub metrics: LoMetrics,
    pub notes: String,
    pub follow_up_on: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/coaching_lo.html")]
struct CoachingLoPage {
    ctx: PageCtx,
    lo_name: String,
    reviews: Vec<CoachingView>,
}

async fn coaching_lo(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(lo_id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let (lo_name, team) = store::lo_basics(&state.db, lo_id).await?.ok_or(AppError::NotFound)?;
    if user.id != lo_id && !coaches(&user, team) {
        return Err(AppError::NotFound);
    }
    let reviews = store::coaching_for(&state.db, lo_id)
        .await?
        .into_iter()
        .map(|c| CoachingView {
            manager_name: c.manager_name,
            metrics: serde_json::from_value(c.metrics).unwrap_or_default(),
            notes: c.notes,
            follow_up_on: c.follow_up_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into()),
            created_at: c.created_at,
        })
        .collect();
    Ok(CoachingLoPage { ctx, lo_name, reviews })
}

// ---------------------------------------------------------------- API

/// The JSON shape of a request: money in cents, rates as decimal percent.
#[derive(serde::Serialize)]
struct ApiEscalation {
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
        }
    }
}

/// Any JSON scalar as the text a form would carry.
fn as_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Deserialize)]
struct ApiCreate {
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
}

async fn api_create(
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
    };
    let id = super::file_request(&state, &user, &input, None).await?;
    let row = store::find(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(ApiEscalation::from(row))))
}

#[derive(Debug, Default, Deserialize)]
struct ApiListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
}

async fn api_list(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(q): Query<ApiListQuery>,
) -> AppResult<impl IntoResponse> {
    if !q.status.is_empty() && q.status != "open" && Status::parse(&q.status).is_none() {
        return Err(AppError::invalid("status", "Unknown status."));
    }
    if !q.kind.is_empty() && Kind::parse(&q.kind).is_none() {
        return Err(AppError::invalid("kind", "Unknown kind."));
    }
    let auth = super::authority(&state, &user).await?;
    let filter = store::ListFilter {
        mine_only: auth.is_none(),
        status: q.status,
        kind: q.kind,
        limit: 500,
        ..Default::default()
    };
    let rows = store::list(&state.db, &user, auth.as_ref(), &filter).await?;
    Ok(Json(serde_json::json!({ "escalations": rows.into_iter().map(ApiEscalation::from).collect::<Vec<_>>() })))
}

async fn api_show(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let (row, _) = super::visible_request(&state, &user, id).await?;
    let events = store::events(&state.db, id).await?;
    Ok(Json(serde_json::json!({ "escalation": ApiEscalation::from(row), "events": events })))
}

#[derive(Deserialize)]
struct ApiDecision {
    #[serde(default)]
    decision: String,
    counter_bps: Option<i32>,
    #[serde(default)]
    note: String,
}

async fn api_decide(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(b): Json<ApiDecision>,
) -> AppResult<impl IntoResponse> {
    let row = super::decide(&state, &user, id, &b.decision, b.counter_bps, &b.note).await?;
    Ok(Json(ApiEscalation::from(row)))
}
