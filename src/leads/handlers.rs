//! Pages of the LO workspace: my day, the lead list, the lead page with its one-step call log, the pipeline
//! board, tasks, CSV import and the manager's merge. Thin: extract, authorise, call the store, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, LeadDraft, StageDef};
use super::store::{self, ActivityInput, CreateOutcome, Lead, LeadFilter, Saved};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/my-day", &["GET"], get(my_day))
        .route("/leads", &["GET"], get(list))
        .route("/leads/export.csv", &["GET"], get(super::export::download))
        .route("/leads/new", &["GET", "POST"], get(new_form).post(create))
        .route(
            "/leads/import",
            &["GET", "POST"],
            get(super::import::page)
                .post(super::import::upload)
                // The upload is streamed to a file; the app-wide limit for uploads (50 × --body-limit) applies.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/leads/import/report/{token}", &["GET"], get(super::import::report))
        .route("/leads/{id}", &["GET"], get(show))
        .route("/leads/{id}/edit", &["GET", "POST"], get(edit_form).post(edit))
        .route("/leads/{id}/stage", &["POST"], post(stage))
        .route("/leads/{id}/calls", &["POST"], post(log_call))
        .route("/leads/{id}/notes", &["POST"], post(add_note))
        .route("/leads/{id}/merge", &["GET", "POST"], get(merge_form).post(merge))
        .route("/pipeline", &["GET"], get(pipeline))
        .route("/tasks", &["GET"], get(tasks))
        .route("/tasks/{id}/done", &["POST"], post(task_done))
        .route("/admin/pipeline", &["GET"], get(pipeline_admin))
        .route("/admin/pipeline/stages/{key}", &["POST"], post(pipeline_stage_save))
        .route("/admin/pipeline/lost-reasons", &["POST"], post(lost_reason_save))
}

/// An `<option>` of a select.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts(list: &[(&str, &str)], current: &str, blank: &str) -> Vec<Opt> {
    let mut v = vec![Opt { value: String::new(), label: blank.into(), selected: current.is_empty() }];
    v.extend(list.iter().map(|(k, l)| Opt { value: k.to_string(), label: l.to_string(), selected: *k == current }));
    v
}

fn owned_opts(list: &[(String, String)], current: &str, blank: &str) -> Vec<Opt> {
    let pairs: Vec<(&str, &str)> = list.iter().map(|(k, l)| (k.as_str(), l.as_str())).collect();
    opts(&pairs, current, blank)
}

fn fmt_time(t: &DateTime<Utc>) -> String {
    crate::web::format::local_time(t)
}

fn money(c: &Option<i64>) -> String {
    c.map(model::format_money).unwrap_or_default()
}

fn age(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (now - *t).num_minutes();
    match m {
        ..=0 => "just now".into(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} days", m / 1440),
    }
}

/// The select lists of the lead form.
pub struct LeadFormOptions {
    pub purposes: Vec<Opt>,
    pub bands: Vec<Opt>,
    pub occupancies: Vec<Opt>,
    pub types: Vec<Opt>,
}

impl LeadFormOptions {
    fn for_draft(d: &LeadDraft) -> Self {
        LeadFormOptions {
            purposes: opts(&model::LOAN_PURPOSES, &d.loan_purpose, "—"),
            bands: opts(&model::CREDIT_BANDS, &d.credit_band, "—"),
            occupancies: opts(&model::OCCUPANCIES, &d.occupancy, "—"),
            types: opts(&model::PROPERTY_TYPES, &d.property_type, "—"),
        }
    }
}

/// Reads a lead form into a draft (and the version it was based on, for edits).
fn draft_from_form(pairs: &[(String, String)]) -> (LeadDraft, Option<i32>) {
    let mut d = LeadDraft::default();
    let mut version = None;
    for (k, v) in pairs {
        if k == "version" {
            version = v.trim().parse().ok();
        } else {
            d.set(k, v.clone());
        }
    }
    if d.consent.as_ref().is_some_and(|c| c.channel.as_deref().unwrap_or("").is_empty()) {
        d.consent = None;
    }
    (d, version)
}

// ---------- My day ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/my_day.html")]
struct MyDayPage {
    ctx: PageCtx,
    queue: Vec<QueueView>,
    overdue_tasks: usize,
}

struct QueueView {
    id: Uuid,
    name: String,
    phone: String,
    stage: String,
    source: String,
    purpose: String,
    reason: &'static str,
    waiting: String,
}

async fn my_day(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let now = state.clock.now();
    let (entries, stages, sources) = tokio::try_join!(
        store::call_queue(&state, &user),
        store::stage_list(&state, store::DEFAULT_PIPELINE),
        async { Ok(store::source_labels(&state.db).await?) },
    )?;
    let stage_label =
        |k: &str| stages.iter().find(|s| s.key == k).map(|s| s.label.clone()).unwrap_or_else(|| k.to_string());
    let queue = entries
        .into_iter()
        .map(|e| QueueView {
            id: e.id,
            name: format!("{} {}", e.first_name, e.last_name).trim().to_string(),
            phone: e.phone.unwrap_or_default(),
            stage: stage_label(&e.stage),
            source: sources.get(&e.source).cloned().unwrap_or(e.source),
            purpose: e.loan_purpose.map(|p| model::label_of(&model::LOAN_PURPOSES, &p).to_string()).unwrap_or_default(),
            reason: e.reason.map(|r| r.label()).unwrap_or(""),
            waiting: age(&e.since, now),
        })
        .collect();
    let overdue_tasks = store::open_tasks(&state, &user, true).await?.len();
    Ok(MyDayPage { ctx, queue, overdue_tasks })
}

// ---------- List ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/list.html")]
struct ListPage {
    ctx: PageCtx,
    f: LeadFilter,
    rows: Vec<store::LeadRow>,
    next: Option<String>,
    query: String,
    stages: Vec<Opt>,
    purposes: Vec<Opt>,
    ages: Vec<Opt>,
    los: Vec<Opt>,
    sorts: Vec<Opt>,
    /// Drill-down filters the form has no input for, kept as hidden fields.
    hidden: Vec<(&'static str, String)>,
    /// "N" and whether it is exactly one (None when the filter was refused).
    total: Option<(String, bool)>,
    /// Why the filter was refused (422), naming the parameter.
    error: String,
}

impl ListPage {
    fn money(&self, c: &Option<i64>) -> String {
        money(c)
    }
    fn when(&self, t: &DateTime<Utc>) -> String {
        crate::web::format::local_date(t)
    }
}

async fn list(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (f, errors) = LeadFilter::from_pairs(&pairs);
    // A filter the list does not understand is never dropped silently: the page says which, with 422.
    let valid = errors.is_empty();
    let listing = async {
        if valid {
            let (listed, total) =
                tokio::try_join!(store::list_leads(&state, &user, &f), store::count_leads(&state, &user, &f))?;
            Ok::<_, AppError>(Some((listed, total)))
        } else {
            Ok(None)
        }
    };
    // Independent reads, run side by side.
    let (listing, stages, los) =
        tokio::try_join!(listing, store::stage_list(&state, store::DEFAULT_PIPELINE), async {
            Ok(store::visible_los(&state.db, &user).await?)
        },)?;
    let ((rows, next), total) = match listing {
        Some((listed, total)) => (listed, Some(total)),
        None => ((Vec::new(), None), None),
    };
    let stage_list: Vec<(String, String)> = stages.iter().map(|s| (s.key.clone(), s.label.clone())).collect();
    let los: Vec<(String, String)> = los.into_iter().map(|(id, n)| (id.to_string(), n)).collect();
    let error = if valid {
        String::new()
    } else {
        let fields: Vec<String> = errors.0.iter().map(|(k, m)| format!("{k}: {}", m.join(" "))).collect();
        format!("This list cannot be shown as asked. {}", fields.join(" "))
    };
    let page = ListPage {
        ctx,
        query: f.query_string(),
        stages: owned_opts(&stage_list, &f.stage, "Any stage"),
        purposes: opts(&model::LOAN_PURPOSES, &f.purpose, "Any purpose"),
        ages: opts(
            &[
                ("today", "Last 24 hours"),
                ("7d", "Last 7 days"),
                ("30d", "Last 30 days"),
                ("older", "Older than 30 days"),
            ],
            &f.age,
            "Any age",
        ),
        los: owned_opts(&los, &f.lo, "Any LO"),
        sorts: opts(&[("oldest", "Oldest first")], &f.sort, "Newest first"),
        hidden: f.hidden_pairs(),
        total: total.map(|t| (t.label(), t.count == 1 && !t.capped)),
        error,
        f,
        rows,
        next,
    };
    let status = if valid { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, page).into_response())
}

// ---------- Create ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/new.html")]
struct NewPage {
    ctx: PageCtx,
    draft: LeadDraft,
    errors: FieldErrors,
    o: LeadFormOptions,
}

async fn new_form(user: CurrentUser, ctx: PageCtx) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let draft = LeadDraft::default();
    Ok(NewPage { ctx, o: LeadFormOptions::for_draft(&draft), draft, errors: FieldErrors::new() })
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let (draft, _) = draft_from_form(&pairs);
    let fields = match draft.validate() {
        Ok(f) => f,
        Err(errors) => {
            let page = NewPage { ctx, o: LeadFormOptions::for_draft(&draft), draft, errors };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let (id, outcome) = match store::create_lead(&state, &user, &fields, None).await {
        Ok(done) => done,
        Err(e) => {
            let (status, errors) = form_errors(e)?;
            let page = NewPage { ctx, o: LeadFormOptions::for_draft(&draft), draft, errors };
            return Ok((status, page).into_response());
        }
    };
    let msg = match outcome {
        CreateOutcome::Created => "Lead created.",
        CreateOutcome::Replayed => "This lead already exists (same source and external id).",
        CreateOutcome::Duplicate => {
            "This borrower matches an existing lead (same phone, email, or source and external id); the submission \
             was recorded on it."
        }
    };
    Flash::push(&session, if outcome == CreateOutcome::Created { "success" } else { "info" }, msg).await;
    // The existing lead may be out of the user's scope: only go there if they may see it.
    if store::visible_lead(&state.db, &user, id).await.is_ok() {
        Ok(Redirect::to(&format!("/leads/{id}")).into_response())
    } else {
        Ok(Redirect::to("/leads").into_response())
    }
}

// ---------- Lead page ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/show.html")]
struct ShowPage {
    ctx: PageCtx,
    lead: Lead,
    name: String,
    stage_label: String,
    purpose: String,
    band: String,
    occupancy: String,
    property_type: String,
    loan_amount: String,
    property_value: String,
    ltv: String,
    rate: String,
    lost_reason: String,
    consents: Vec<store::ConsentRow>,
    opt_outs: Vec<String>,
    timeline: Vec<store::TimelineItem>,
    outcomes: Vec<Opt>,
    stages: Vec<Opt>,
    reasons: Vec<Opt>,
    errors: FieldErrors,
    call: CallForm,
    routing_panel: String,
    escalations_panel: String,
    may_merge: bool,
    draft: LeadDraft,
    o: LeadFormOptions,
}

impl ShowPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        fmt_time(t)
    }
    fn when_opt(&self, t: &Option<DateTime<Utc>>) -> String {
        t.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())
    }
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct CallForm {
    pub outcome: String,
    pub talk_time: String,
    pub callback_at: String,
    pub note: String,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct StageForm {
    pub stage: String,
    pub lost_reason: String,
    pub version: i32,
}

async fn render_lead(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    errors: FieldErrors,
    call: CallForm,
    stage_form: Option<&StageForm>,
) -> AppResult<ShowPage> {
    let lead = store::lead(&state.db, user, id).await?;
    let stage_defs = store::stages(&state.db, lead.pipeline_id).await?;
    let reasons = store::lost_reasons(&state.db).await?;
    let (consents, opt_outs) = store::consents(&state.db, id).await?;
    let timeline = store::timeline(&state.db, id).await?;
    let routing_panel = crate::routing::lead_panel(state, user, id).await?;
    let escalations_panel = crate::escalations::lead_panel(state, user, id).await?;
    let stage_pairs: Vec<(String, String)> =
        stage_defs.iter().filter(|s| s.key != lead.stage).map(|s| (s.key.clone(), s.label.clone())).collect();
    let chosen_stage = stage_form.map(|s| s.stage.as_str()).unwrap_or("");
    let chosen_reason = stage_form.map(|s| s.lost_reason.as_str()).unwrap_or("");
    let stage_label = stage_defs.iter().find(|s| s.key == lead.stage).map(|s| s.label.clone()).unwrap_or_default();
    let lost_reason = lead
        .lost_reason
        .as_ref()
        .map(|k| reasons.iter().find(|(key, _)| key == k).map(|(_, l)| l.clone()).unwrap_or_else(|| k.clone()))
        .unwrap_or_default();
    let lab = |list: &[(&str, &str)], v: &Option<String>| {
        v.as_deref().map(|k| model::label_of(list, k).to_string()).unwrap_or_default()
    };
    let draft = lead.draft();
    Ok(ShowPage {
        ctx,
        name: lead.name(),
        stage_label,
        purpose: lab(&model::LOAN_PURPOSES, &lead.loan_purpose),
        band: lab(&model::CREDIT_BANDS, &lead.credit_band),
        occupancy: lab(&model::OCCUPANCIES, &lead.occupancy),
        property_type: lab(&model::PROPERTY_TYPES, &lead.property_type),
        loan_amount: money(&lead.loan_amount_cents),
        property_value: money(&lead.property_value_cents),
        ltv: lead.ltv_bps().map(|b| format!("{}.{:02}%", b / 100, b % 100)).unwrap_or_default(),
        rate: lead.rate_quoted_milli.map(|m| format!("{}%", model::format_rate(m))).unwrap_or_default(),
        lost_reason,
        consents,
        opt_outs,
        timeline,
        outcomes: opts(&model::CALL_OUTCOMES, &call.outcome, "Choose…"),
        stages: owned_opts(&stage_pairs, chosen_stage, "Choose…"),
        reasons: owned_opts(&reasons, chosen_reason, "—"),
        errors,
        call,
        routing_panel,
        escalations_panel,
        may_merge: user.is_manager_or_admin(),
        o: LeadFormOptions::for_draft(&draft),
        draft,
        lead,
    })
}

async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    render_lead(&state, &user, ctx, id, FieldErrors::new(), CallForm::default(), None).await
}

async fn stage(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<StageForm>,
) -> AppResult<Response> {
    let reason = Some(form.lost_reason.as_str()).filter(|r| !r.is_empty());
    match store::change_stage(&state, &user, id, form.version, &form.stage, reason).await {
        Ok(Saved::Ok(l)) => {
            Flash::push(&session, "success", format!("Moved to {}.", l.stage.replace('_', " "))).await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Ok(Saved::Stale(current)) => {
            let attempted =
                vec![("stage".to_string(), form.stage.clone()), ("lost_reason".into(), form.lost_reason.clone())];
            Ok(conflict_page(ctx, &current, attempted).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render_lead(&state, &user, ctx, id, errors, CallForm::default(), Some(&form)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn log_call(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<CallForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let talk_seconds = model::parse_talk_time(&form.talk_time).unwrap_or_else(|m| {
        errors.add("talk_time", m);
        0
    });
    let callback_at = match form.callback_at.trim() {
        "" => None,
        // The form's datetime-local is the organisation's wall clock; an RFC 3339 time is taken as written.
        t => match chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M") {
            Ok(naive) => Some(crate::web::format::from_local(naive, state.config.timezone)),
            Err(_) => model::parse_time(t).map_err(|m| errors.add("callback_at", m)).ok(),
        },
    };
    let input = ActivityInput {
        kind: "call".into(),
        direction: Some("outbound".into()),
        outcome: Some(form.outcome.clone()).filter(|o| !o.is_empty()),
        talk_seconds,
        occurred_at: None,
        body: form.note.clone(),
        callback_at,
    };
    if let Err(more) = input.validate() {
        for (k, msgs) in more.0 {
            for m in msgs {
                errors.add(&k, m);
            }
        }
    }
    let result = if errors.is_empty() {
        store::log_activity(&state, &user, id, &input).await.map(|_| ())
    } else {
        Err(AppError::Validation(errors))
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", format!("Call logged ({}).", model::format_talk_time(talk_seconds))).await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render_lead(&state, &user, ctx, id, errors, form, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct NoteForm {
    pub body: String,
}

async fn add_note(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<NoteForm>,
) -> AppResult<Response> {
    let input = ActivityInput { kind: "note".into(), body: form.body, ..Default::default() };
    store::log_activity(&state, &user, id, &input).await?;
    Flash::push(&session, "success", "Note added.").await;
    Ok(Redirect::to(&format!("/leads/{id}")).into_response())
}

// ---------- Edit and the 409 page ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/edit.html")]
struct EditPage {
    ctx: PageCtx,
    id: Uuid,
    version: i32,
    draft: LeadDraft,
    errors: FieldErrors,
    o: LeadFormOptions,
}

async fn edit_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let lead = store::lead(&state.db, &user, id).await?;
    let draft = lead.draft();
    Ok(EditPage {
        ctx,
        id,
        version: lead.version,
        o: LeadFormOptions::for_draft(&draft),
        draft,
        errors: FieldErrors::new(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/conflict.html")]
struct ConflictPage {
    ctx: PageCtx,
    id: Uuid,
    version: i32,
    rows: Vec<(String, String, String)>,
}

/// 409: what is saved now next to what the user tried to save.
fn conflict_page(ctx: PageCtx, current: &Lead, attempted: Vec<(String, String)>) -> (StatusCode, ConflictPage) {
    let now = serde_json::to_value(current.draft()).unwrap_or_default();
    let mut rows = Vec::new();
    for (field, tried) in attempted {
        let saved = match field.as_str() {
            "stage" => current.stage.clone(),
            "lost_reason" => current.lost_reason.clone().unwrap_or_default(),
            f => now.get(f).and_then(|v| v.as_str()).unwrap_or("").to_string(),
        };
        if field.starts_with("consent") && tried.is_empty() {
            continue;
        }
        rows.push((field.replace('_', " "), saved, tried));
    }
    (StatusCode::CONFLICT, ConflictPage { ctx, id: current.id, version: current.version, rows })
}

async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (draft, version) = draft_from_form(&pairs);
    let Some(version) = version else { return Err(AppError::BadRequest("The form is missing its version.".into())) };
    let fields = match draft.validate() {
        Ok(f) => f,
        Err(errors) => {
            store::lead(&state.db, &user, id).await?;
            let page = EditPage { ctx, id, version, o: LeadFormOptions::for_draft(&draft), draft, errors };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match store::update_lead(&state, &user, id, version, &fields).await {
        Ok(Saved::Ok(_)) => {
            Flash::push(&session, "success", "Lead saved.").await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Ok(Saved::Stale(current)) => {
            let attempted = pairs.into_iter().filter(|(k, _)| k != "version").collect();
            Ok(conflict_page(ctx, &current, attempted).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e)?;
            let page = EditPage { ctx, id, version, o: LeadFormOptions::for_draft(&draft), draft, errors };
            Ok((status, page).into_response())
        }
    }
}

/// An error the lead form shows beside its fields (422 for a bad value, 409 for a loan number another lead
/// has), or the error itself for anything else.
fn form_errors(e: AppError) -> AppResult<(StatusCode, FieldErrors)> {
    match e {
        AppError::Validation(errors) => Ok((StatusCode::UNPROCESSABLE_ENTITY, errors)),
        AppError::Taken { field, message, .. } => {
            let mut errors = FieldErrors::new();
            errors.add(field, message);
            Ok((StatusCode::CONFLICT, errors))
        }
        e => Err(e),
    }
}

// ---------- Pipeline board ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/board.html")]
struct BoardPage {
    ctx: PageCtx,
    columns: Vec<BoardColumn>,
}

struct BoardColumn {
    key: String,
    label: String,
    count: i64,
    cards: Vec<(Uuid, String, String, String)>,
}

async fn pipeline(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let (stage_defs, counts, cards) = store::board(&state, &user, 8).await?;
    let columns = stage_defs
        .into_iter()
        .map(|s| BoardColumn {
            count: counts.iter().find(|(k, _)| *k == s.key).map(|(_, n)| *n).unwrap_or(0),
            cards: cards
                .iter()
                .filter(|c| c.stage == s.key)
                .map(|c| {
                    (
                        c.id,
                        format!("{} {}", c.first_name, c.last_name).trim().to_string(),
                        money(&c.loan_amount_cents),
                        c.assigned_lo_name.clone().unwrap_or_else(|| "Unassigned".into()),
                    )
                })
                .collect(),
            key: s.key,
            label: s.label,
        })
        .collect();
    Ok(BoardPage { ctx, columns })
}

// ---------- Tasks ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/tasks.html")]
struct TasksPage {
    ctx: PageCtx,
    overdue_only: bool,
    tasks: Vec<(store::TaskRow, bool)>,
}

impl TasksPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        fmt_time(t)
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TasksQuery {
    pub view: String,
}

async fn tasks(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<TasksQuery>,
) -> AppResult<impl IntoResponse> {
    let overdue_only = q.view == "overdue";
    let now = state.clock.now();
    let tasks = store::open_tasks(&state, &user, overdue_only)
        .await?
        .into_iter()
        .map(|t| {
            let o = t.due_at < now;
            (t, o)
        })
        .collect();
    Ok(TasksPage { ctx, overdue_only, tasks })
}

async fn task_done(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    store::complete_task(&state, &user, id).await?;
    Flash::push(&session, "success", "Task done.").await;
    Ok(Redirect::to("/tasks").into_response())
}

// ---------- Merge ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/merge.html")]
struct MergePage {
    ctx: PageCtx,
    lead: Lead,
    candidates: Vec<store::LeadRow>,
    errors: FieldErrors,
}

async fn merge_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Manager, Role::Admin])?;
    let lead = store::lead(&state.db, &user, id).await?;
    let candidates = store::possible_duplicates(&state, &user, &lead).await?;
    Ok(MergePage { ctx, lead, candidates, errors: FieldErrors::new() })
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct MergeForm {
    pub other: String,
    pub other_id: String,
}

async fn merge(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<MergeForm>,
) -> AppResult<Response> {
    user.require(&[Role::Manager, Role::Admin])?;
    let chosen = if form.other.trim().is_empty() { form.other_id.trim() } else { form.other.trim() };
    let result = match Uuid::parse_str(chosen) {
        Ok(other) => store::merge(&state, &user, id, other).await,
        Err(_) => Err(AppError::invalid("other", "choose the duplicate lead to merge into this one")),
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", "Duplicate merged into this lead.").await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let lead = store::lead(&state.db, &user, id).await?;
            let candidates = store::possible_duplicates(&state, &user, &lead).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, MergePage { ctx, lead, candidates, errors }).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- Pipeline configuration (admins) ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/pipeline_admin.html")]
struct PipelineAdminPage {
    ctx: PageCtx,
    stages: Vec<StageDef>,
    reasons: Vec<(String, String, bool)>,
    errors: FieldErrors,
}

async fn render_pipeline_admin(state: &AppState, ctx: PageCtx, errors: FieldErrors) -> AppResult<PipelineAdminPage> {
    let stages = store::stages(&state.db, store::DEFAULT_PIPELINE).await?;
    let reasons = store::all_lost_reasons(&state.db).await?;
    Ok(PipelineAdminPage { ctx, stages, reasons, errors })
}

async fn pipeline_admin(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    render_pipeline_admin(&state, ctx, FieldErrors::new()).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct StageConfigForm {
    pub label: String,
    pub stale_after_days: String,
}

async fn pipeline_stage_save(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(key): Path<String>,
    Form(form): Form<StageConfigForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let days = match form.stale_after_days.trim() {
        "" => Ok(None),
        d => d.parse::<i32>().map(Some).map_err(|_| AppError::invalid("stale_after_days", "a whole number of days")),
    };
    let result = match days {
        Ok(days) => store::update_stage(&state, &user, &key, &form.label, days).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", "Stage saved.").await;
            Ok(Redirect::to("/admin/pipeline").into_response())
        }
        Err(AppError::Validation(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_pipeline_admin(&state, ctx, errors).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LostReasonForm {
    pub key: String,
    pub label: String,
    pub active: String,
}

async fn lost_reason_save(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<LostReasonForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    match store::save_lost_reason(&state, &user, &form.key, &form.label, !form.active.is_empty()).await {
        Ok(()) => {
            Flash::push(&session, "success", "Lost reason saved.").await;
            Ok(Redirect::to("/admin/pipeline").into_response())
        }
        Err(AppError::Validation(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_pipeline_admin(&state, ctx, errors).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

/// A CSV download response.
pub fn csv_attachment(filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}
