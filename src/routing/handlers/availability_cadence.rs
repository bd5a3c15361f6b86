//! The cadence tasks behind the availability board's "Cadence (30 days)" and "Overdue attempts" (issue 17):
//! `/availability/cadence?lo=…&tasks=due|done|overdue`, for whoever sees that LO's row on the board.

use super::*;
use crate::routing::history::{self, CadenceSet, MAX_ROWS};
use crate::web::format::local_time;

/// Reads the query; a parameter the page does not know, a bad id or set is a 422 naming it.
fn cadence_query(pairs: &[(String, String)]) -> AppResult<(Uuid, CadenceSet)> {
    let mut errors = FieldErrors::new();
    let (mut lo, mut set) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "lo" => match Uuid::parse_str(v.trim()) {
                Ok(id) => lo = Some(id),
                Err(_) => errors.add("lo", "is not a loan officer's id"),
            },
            "tasks" => match CadenceSet::parse(v) {
                Some(s) => set = Some(s),
                None => errors.add("tasks", "must be due, done or overdue"),
            },
            other => errors.add(other, "is not a parameter of this page (known: lo, tasks)"),
        }
    }
    if lo.is_none() && !errors.0.contains_key("lo") {
        errors.add("lo", "Choose a loan officer.");
    }
    errors.into_result()?;
    Ok((lo.unwrap_or_default(), set.unwrap_or(CadenceSet::Due)))
}

pub(crate) struct TaskView {
    title: String,
    due: String,
    done: String,
    /// The lead's page and the borrower's name, when the viewer's scope shows the lead.
    lead: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/availability_cadence.html")]
pub(crate) struct CadencePage {
    ctx: PageCtx,
    lo_name: String,
    described: &'static str,
    tasks: Vec<TaskView>,
    total: i64,
    max_rows: i64,
}

pub(crate) async fn availability_cadence(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    // Who may open the board before what they asked for: a refusal never depends on the query.
    let (lo, set, rows, total) = cadence(&state, &user, &pairs).await?;
    let scope = user.scope();
    let tasks = rows
        .into_iter()
        .map(|t| TaskView {
            lead: scope
                .allows_lead(t.assigned_lo_id, t.team_id)
                .then(|| (format!("/leads/{}", t.lead_id), format!("{} {}", t.first_name, t.last_name))),
            title: t.title,
            due: local_time(&t.due_at),
            done: t.done_at.map(|d| local_time(&d)).unwrap_or_default(),
        })
        .collect();
    Ok(CadencePage { ctx, lo_name: lo.name, described: set.describe(), tasks, total, max_rows: MAX_ROWS })
}

/// The LO, the set and the tasks behind a cadence figure, for whoever sees that LO's row on the board.
async fn cadence(
    state: &AppState,
    user: &CurrentUser,
    pairs: &[(String, String)],
) -> AppResult<(history::Officer, CadenceSet, Vec<history::CadenceTask>, i64)> {
    // Who may open the board before what they asked for: a refusal never depends on the query.
    user.require(&[Role::Admin, Role::Manager])?;
    let (lo, set) = cadence_query(pairs)?;
    let scope = user.scope();
    // The board's rows: the LOs of the viewer's teams (admins: all); anyone else is told nothing about them.
    let lo = history::officer(&state.db, lo)
        .await?
        .filter(|o| scope.covers_officer(o.id, o.team_id))
        .ok_or(AppError::NotFound)?;
    let rows = history::cadence_tasks(&state.db, lo.id, set, state.clock.now()).await?;
    let total = rows.first().map_or(0, |t| t.total);
    Ok((lo, set, rows, total))
}

/// The query of `GET /api/v1/availability/cadence`; any other parameter is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CadenceParams {
    /// The loan officer's id (a row of the availability board).
    pub lo: Uuid,
    /// `due` (default): attempts due in the last 30 days; `done`: those of them done; `overdue`: attempts not
    /// done an hour after they were due.
    #[param(inline)]
    pub tasks: Option<CadenceSet>,
}

/// `GET /api/v1/availability/cadence`: a loan officer's cadence tasks behind a figure of the availability board.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CadenceTasks {
    pub lo: CadenceOfficer,
    /// The set of tasks, in words.
    pub tasks: &'static str,
    /// Every task of the set (`items` lists the first 500, oldest due first).
    pub total: i64,
    pub items: Vec<CadenceItem>,
}

/// The loan officer whose tasks these are.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CadenceOfficer {
    pub id: Uuid,
    pub name: String,
}

/// One cadence attempt. A lead outside the caller's lead scope is listed without its id or borrower (null).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CadenceItem {
    pub title: String,
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// When it was done (null: not done).
    pub done_at: Option<chrono::DateTime<chrono::Utc>>,
    pub lead_id: Option<Uuid>,
    /// The borrower's first and last name.
    pub borrower: Option<String>,
}

/// `GET /api/v1/availability/cadence?lo=…&tasks=due|done|overdue`: the page's tasks as JSON (`total`, then up to
/// the page's rows); a lead outside the viewer's lead scope is listed without its id or borrower.
pub(crate) async fn api_availability_cadence(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<axum::Json<CadenceTasks>> {
    let (lo, set, rows, total) = cadence(&state, &user, &pairs).await?;
    let scope = user.scope();
    let items = rows
        .into_iter()
        .map(|t| {
            let seen = scope.allows_lead(t.assigned_lo_id, t.team_id);
            CadenceItem {
                lead_id: seen.then_some(t.lead_id),
                borrower: seen.then(|| format!("{} {}", t.first_name, t.last_name)),
                title: t.title,
                due_at: t.due_at,
                done_at: t.done_at,
            }
        })
        .collect();
    Ok(axum::Json(CadenceTasks {
        lo: CadenceOfficer { id: lo.id, name: lo.name },
        tasks: set.describe(),
        total,
        items,
    }))
}
