//! The routing log and the unassigned queue with its claim offers.

use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct LogQuery {
    before: Option<i64>,
    outcome: Option<String>,
}

pub struct LogRow {
    pub d: DecisionRow,
    pub excluded: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/log.html")]
pub(crate) struct LogPage {
    ctx: PageCtx,
    rows: Vec<LogRow>,
    outcome: String,
    next: Option<i64>,
}

pub(crate) async fn log_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<LogQuery>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    let outcome = q.outcome.filter(|o| matches!(o.as_str(), "assigned" | "queued" | "offered"));
    let decisions = rstore::recent_decisions(&state.db, q.before, outcome.as_deref(), 101).await?;
    let next = if decisions.len() > 100 { decisions.get(99).map(|d| d.id) } else { None };
    let rows = decisions
        .into_iter()
        .take(100)
        .map(|d| {
            let excluded = candidate_views(&d.candidates)
                .into_iter()
                .filter(|c| !c.reasons.is_empty())
                .map(|c| format!("{}: {}", c.name, c.reasons.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            LogRow { d, excluded }
        })
        .collect();
    Ok(LogPage { ctx, rows, outcome: outcome.unwrap_or_default(), next })
}

// ---- Queue and claims -----------------------------------------------------------------------------------

pub struct QueueRow {
    pub id: Uuid,
    pub name: String,
    pub property_state: String,
    pub source: String,
    pub team: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub struct OfferRow {
    pub id: i64,
    pub lead_name: String,
    pub property_state: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/queue.html")]
pub(crate) struct QueuePage {
    ctx: PageCtx,
    leads: Vec<QueueRow>,
    offers: Vec<OfferRow>,
    officers: Vec<Choice>,
    is_manager: bool,
}

pub(crate) async fn queue_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo])?;
    let now = state.clock.now();
    let offers = sqlx::query!(
        r#"SELECT o.id, l.first_name, l.last_name, l.property_state, o.expires_at FROM claim_offers o JOIN leads l ON l.id = o.lead_id
           WHERE o.resolution IS NULL AND o.expires_at > $2 AND $1 = ANY(o.lo_ids) ORDER BY o.expires_at LIMIT 100"#,
        user.id,
        now
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|o| OfferRow {
        id: o.id,
        lead_name: format!("{} {}", o.first_name, o.last_name),
        property_state: o.property_state.unwrap_or_default(),
        expires_at: o.expires_at,
    })
    .collect();
    let is_manager = user.is_manager_or_admin();
    let mut leads = Vec::new();
    let mut officers = Vec::new();
    if is_manager {
        let (all, teams, queue) = user.scope().queue_binds();
        leads = sqlx::query!(
            r#"SELECT l.id, l.first_name, l.last_name, l.property_state, COALESCE(src.label, l.source) AS "source!",
                      t.name AS "team?", l.created_at
               FROM leads l LEFT JOIN teams t ON t.id = l.team_id LEFT JOIN lead_sources src ON src.key = l.source
               WHERE l.assigned_lo_id IS NULL
                 AND ($1 OR l.team_id = ANY($2) OR ($3 AND l.team_id IS NULL))
               ORDER BY l.created_at LIMIT 200"#,
            all,
            &teams,
            queue
        )
        .fetch_all(&state.db)
        .await?
        .into_iter()
        .map(|r| QueueRow {
            id: r.id,
            name: format!("{} {}", r.first_name, r.last_name),
            property_state: r.property_state.unwrap_or_default(),
            source: r.source,
            team: r.team.unwrap_or_else(|| "Unassigned queue".into()),
            created_at: r.created_at,
        })
        .collect();
        officers = assignable_officers(&state.db, &user).await?;
    }
    Ok(QueuePage { ctx, leads, offers, officers, is_manager })
}

pub(crate) async fn claim_offer(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    user.require_originator()?;
    let lead = crate::routing::speed_to_lead::claim(&state, &user, id).await?;
    Flash::push(&session, "success", "The lead is yours. Call now.").await;
    Ok(Redirect::to(&format!("/leads/{lead}")).into_response())
}
