//! Reassigning one lead or many (in the background past a size), with reasons and history.

use super::*;

pub(crate) fn parse_destination(s: &str) -> Option<Destination> {
    let (kind, id) = s.split_once(':')?;
    let id = Uuid::parse_str(id).ok()?;
    match kind {
        "lo" => Some(Destination::Lo(id)),
        "team" => Some(Destination::TeamQueue(id)),
        _ => None,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/reassign_one.html")]
pub(crate) struct ReassignOnePage {
    ctx: PageCtx,
    lead: crate::leads::store::LeadSummary,
    officers: Vec<Choice>,
    teams: Vec<Choice>,
    to: String,
    reason: String,
    errors: FieldErrors,
    panel: String,
}

pub(crate) async fn reassign_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let lead = crate::leads::store::visible_lead(&state.db, &user, id).await?;
    user.require(&[Role::Admin, Role::Manager])?;
    let panel = crate::routing::lead_panel(&state, &user, id).await?;
    let officers = assignable_officers(&state.db, &user).await?;
    let teams = assignable_teams(&state.db, &user).await?;
    let page = ReassignOnePage {
        ctx,
        lead,
        officers,
        teams,
        to: String::new(),
        reason: String::new(),
        errors: FieldErrors::new(),
        panel,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReassignForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
    version: Option<i32>,
}

pub(crate) async fn reassign_submit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<ReassignForm>,
) -> AppResult<Response> {
    let lead = crate::leads::store::visible_lead(&state.db, &user, id).await?;
    user.require(&[Role::Admin, Role::Manager])?;
    let result = match parse_destination(&f.to) {
        Some(dest) => reassign::reassign_one(&state, &user, id, dest, &f.reason, f.version).await,
        None => Err(AppError::invalid("to", "Choose an LO or a team queue.")),
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", "Lead reassigned.").await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let panel = crate::routing::lead_panel(&state, &user, id).await?;
            let officers = assignable_officers(&state.db, &user).await?;
            let teams = assignable_teams(&state.db, &user).await?;
            let page = ReassignOnePage { ctx, lead, officers, teams, to: f.to, reason: f.reason, errors, panel };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// The bulk form's filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkFilter {
    #[serde(default)]
    pub from_lo: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub source: String,
    pub after: Option<Uuid>,
}

impl BulkFilter {
    fn from_pairs(p: &[(String, String)]) -> Self {
        BulkFilter {
            from_lo: pairs_get(p, "from_lo").into(),
            stage: pairs_get(p, "stage").into(),
            state: pairs_get(p, "state").into(),
            source: pairs_get(p, "source").into(),
            after: None,
        }
    }
    pub fn query_string(&self) -> String {
        format!(
            "from_lo={}&stage={}&state={}&source={}",
            crate::error::urlencode(&self.from_lo),
            crate::error::urlencode(&self.stage),
            crate::error::urlencode(&self.state),
            crate::error::urlencode(&self.source)
        )
    }
    /// Appends the filter and the user's scope to a query over `leads l`.
    fn push(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, user: &CurrentUser) {
        qb.push(" WHERE true");
        user.scope().push_lead_predicate(qb, "l");
        match self.from_lo.as_str() {
            "" => {}
            "none" => {
                qb.push(" AND l.assigned_lo_id IS NULL");
            }
            s => {
                if let Ok(id) = Uuid::parse_str(s) {
                    qb.push(" AND l.assigned_lo_id = ").push_bind(id);
                } else {
                    qb.push(" AND false");
                }
            }
        }
        if !self.stage.trim().is_empty() {
            qb.push(" AND l.stage = ").push_bind(self.stage.trim().to_string());
        }
        if !self.state.trim().is_empty() {
            qb.push(" AND l.property_state = ").push_bind(self.state.trim().to_uppercase());
        }
        if !self.source.trim().is_empty() {
            qb.push(" AND l.source = ").push_bind(self.source.trim().to_string());
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct BulkRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// The stage's name.
    pub stage: String,
    pub property_state: Option<String>,
    pub lo_name: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/bulk.html")]
pub(crate) struct BulkPage {
    ctx: PageCtx,
    f: BulkFilter,
    rows: Vec<BulkRow>,
    total: i64,
    next: Option<Uuid>,
    officers: Vec<Choice>,
    teams: Vec<Choice>,
    to: String,
    reason: String,
    errors: FieldErrors,
}

pub(crate) async fn matching_count(db: &sqlx::PgPool, f: &BulkFilter, user: &CurrentUser) -> AppResult<i64> {
    let mut qb = sqlx::QueryBuilder::new("SELECT count(*) FROM leads l");
    f.push(&mut qb, user);
    Ok(qb.build_query_scalar::<i64>().fetch_one(db).await?)
}

pub(crate) async fn render_bulk(
    state: &AppState,
    ctx: PageCtx,
    user: &CurrentUser,
    f: BulkFilter,
    to: String,
    reason: String,
    errors: FieldErrors,
) -> AppResult<Response> {
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT l.id, l.first_name, l.last_name, COALESCE(st.label, l.stage) AS stage, l.property_state, u.name AS lo_name
         FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id
              LEFT JOIN stages st ON st.pipeline_id = l.pipeline_id AND st.key = l.stage",
    );
    f.push(&mut qb, user);
    if let Some(after) = f.after {
        qb.push(" AND l.id > ").push_bind(after);
    }
    qb.push(" ORDER BY l.id LIMIT 101");
    let mut rows: Vec<BulkRow> = qb.build_query_as().fetch_all(&state.db).await?;
    let next = if rows.len() > 100 {
        rows.truncate(100);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let total = matching_count(&state.db, &f, user).await?;
    let officers = assignable_officers(&state.db, user).await?;
    let teams = assignable_teams(&state.db, user).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, BulkPage { ctx, f, rows, total, next, officers, teams, to, reason, errors }).into_response())
}

pub(crate) async fn bulk_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(f): Query<BulkFilter>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    render_bulk(&state, ctx, &user, f, String::new(), String::new(), FieldErrors::new()).await
}

/// Above this many leads a bulk reassignment runs as a background job with a progress bar.
pub(crate) const BULK_INLINE_LIMIT: usize = 500;

pub(crate) async fn bulk_submit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    let f = BulkFilter::from_pairs(&pairs);
    let to = pairs_get(&pairs, "to").to_string();
    let reason = pairs_get(&pairs, "reason").to_string();
    let mut errors = FieldErrors::new();
    let dest = parse_destination(&to);
    if dest.is_none() {
        errors.add("to", "Choose an LO or a team queue.");
    }
    if reason.trim().is_empty() {
        errors.add("reason", "Give a reason for the reassignment.");
    }
    let ids: Vec<Uuid> = if pairs_get(&pairs, "select_all") == "on" {
        let mut qb = sqlx::QueryBuilder::new("SELECT l.id FROM leads l");
        f.push(&mut qb, &user);
        qb.build_query_scalar::<Uuid>().fetch_all(&state.db).await?
    } else {
        pairs_all(&pairs, "lead").iter().filter_map(|s| Uuid::parse_str(s).ok()).collect()
    };
    if ids.is_empty() {
        errors.add("leads", "Select at least one lead, or all matching leads.");
    }
    let Some(dest) = dest.filter(|_| errors.is_empty()) else {
        return render_bulk(&state, ctx, &user, f, to, reason, errors).await;
    };
    if ids.len() > BULK_INLINE_LIMIT {
        let payload =
            reassign::BulkPayload { actor_id: user.id, lead_ids: ids.clone(), dest, reason: reason.trim().into() };
        let mut tx = state.db.begin().await?;
        let job = crate::jobs::enqueue(
            &mut tx,
            "routing.bulk_reassign",
            serde_json::to_value(&payload).map_err(anyhow::Error::from)?,
            state.clock.now(),
            None,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("job not queued"))?;
        // All-or-nothing work is not retried half-way: one attempt, its result is final.
        sqlx::query!("UPDATE jobs SET max_attempts = 1, total = $2 WHERE id = $1", job, ids.len() as i64)
            .execute(&mut *tx)
            .await?;
        Entry::new(Some(&user), "lead.bulk_reassign_queued", "job", job)
            .after(json!({"leads": ids.len(), "dest": dest, "reason": reason.trim()}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
        Flash::push(&session, "info", format!("Reassigning {} leads in the background.", ids.len())).await;
        return Ok(Redirect::to(&format!("/leads/reassign/jobs/{job}")).into_response());
    }
    match reassign::reassign_many(&state, &user, &ids, dest, &reason, None).await {
        Ok(n) => {
            Flash::push(&session, "success", format!("{n} leads reassigned.")).await;
            Ok(Redirect::to(&format!("/leads/reassign?{}", f.query_string())).into_response())
        }
        Err(AppError::Validation(errors)) => render_bulk(&state, ctx, &user, f, to, reason, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/bulk_job.html")]
pub(crate) struct BulkJobPage {
    ctx: PageCtx,
    id: i64,
    status: String,
    progress: i64,
    total: i64,
    error: String,
}

pub(crate) async fn bulk_job_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    let job = sqlx::query!(
        "SELECT status, progress, total, last_error, payload->>'actor_id' AS actor FROM jobs WHERE id = $1 AND kind = 'routing.bulk_reassign'",
        id
    )
    .fetch_optional(&state.db)
    .await?
    .filter(|j| user.is_admin() || j.actor.as_deref() == Some(user.id.to_string().as_str()))
    .ok_or(AppError::NotFound)?;
    let page = BulkJobPage {
        ctx,
        id,
        status: job.status,
        progress: job.progress,
        total: job.total,
        error: job.last_error.unwrap_or_default(),
    };
    Ok(page.into_response())
}
