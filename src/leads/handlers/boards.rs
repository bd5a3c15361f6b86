//! The pipeline board, tasks, merging duplicates and the admins' pipeline configuration.

use super::*;

#[derive(Template, WebTemplate)]
#[template(path = "leads/board.html")]
pub(crate) struct BoardPage {
    ctx: PageCtx,
    columns: Vec<BoardColumn>,
}

pub(crate) struct BoardColumn {
    key: String,
    label: String,
    count: i64,
    cards: Vec<(Uuid, String, String, String)>,
}

pub(crate) async fn pipeline(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
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

#[derive(Template, WebTemplate)]
#[template(path = "leads/tasks.html")]
pub(crate) struct TasksPage {
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

pub(crate) async fn tasks(
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

pub(crate) async fn task_done(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    store::complete_task(&state, &user, id).await?;
    Flash::push(&session, "success", "Task done.").await;
    Ok(Redirect::to("/tasks").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/merge.html")]
pub(crate) struct MergePage {
    ctx: PageCtx,
    lead: Lead,
    candidates: Vec<store::LeadRow>,
    errors: FieldErrors,
}

pub(crate) async fn merge_form(
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

pub(crate) async fn merge(
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

#[derive(Template, WebTemplate)]
#[template(path = "leads/pipeline_admin.html")]
pub(crate) struct PipelineAdminPage {
    ctx: PageCtx,
    stages: Vec<StageDef>,
    reasons: Vec<(String, String, bool)>,
    errors: FieldErrors,
}

pub(crate) async fn render_pipeline_admin(
    state: &AppState,
    ctx: PageCtx,
    errors: FieldErrors,
) -> AppResult<PipelineAdminPage> {
    let stages = store::stages(&state.db, store::DEFAULT_PIPELINE).await?;
    let reasons = store::all_lost_reasons(&state.db).await?;
    Ok(PipelineAdminPage { ctx, stages, reasons, errors })
}

pub(crate) async fn pipeline_admin(
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

pub(crate) async fn pipeline_stage_save(
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

pub(crate) async fn lost_reason_save(
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
