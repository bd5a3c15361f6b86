//! The routing API: assign a lead, explain its routing.

use super::*;

/// `POST /api/v1/leads/{id}/assign`: the lead as the API shows it after an assignment.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AssignedLead {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// The stage's key.
    pub stage: String,
    /// The lead's version after the assignment: the one the next change is based on.
    pub version: i32,
    pub property_state: Option<String>,
    pub team_id: Option<Uuid>,
    pub assigned_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The loan officer the lead is assigned to (null: none).
    pub assigned_lo: Option<crate::leads::store::AssignedLo>,
}

/// The lead as the API shows it after an assignment.
pub async fn assigned_lead(db: &sqlx::PgPool, id: Uuid) -> AppResult<AssignedLead> {
    let r = sqlx::query!(
        r#"SELECT l.id, l.first_name, l.last_name, l.stage, l.version, l.property_state, l.team_id, l.assigned_at,
                  u.id AS "lo_id?", u.email AS "lo_email?", u.name AS "lo_name?"
           FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id WHERE l.id = $1"#,
        id
    )
    .fetch_one(db)
    .await?;
    let assigned_lo = match (r.lo_id, r.lo_email, r.lo_name) {
        (Some(id), Some(email), Some(name)) => Some(crate::leads::store::AssignedLo { id, email, name }),
        _ => None,
    };
    Ok(AssignedLead {
        id: r.id,
        first_name: r.first_name,
        last_name: r.last_name,
        stage: r.stage,
        version: r.version,
        property_state: r.property_state,
        team_id: r.team_id,
        assigned_at: r.assigned_at,
        assigned_lo,
    })
}

/// `POST /api/v1/leads/{id}/assign`: the loan officer by `lo_id` or `lo_email`; `version` guards the change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignBody {
    pub lo_email: Option<String>,
    pub lo_id: Option<Uuid>,
    pub reason: Option<String>,
    pub version: Option<i32>,
}

pub(crate) async fn api_assign(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignBody>,
) -> AppResult<Response> {
    crate::leads::store::visible_lead(&state.db, &user, id).await?;
    let lo = match (body.lo_id, body.lo_email.as_deref().map(str::trim).filter(|s| !s.is_empty())) {
        (Some(lo), _) => lo,
        (None, Some(email)) => rstore::lo_by_email(&state.db, email)
            .await?
            .filter(|l| l.role == "lo")
            .map(|l| l.id)
            .ok_or_else(|| AppError::invalid("lo_email", "No loan officer has this email."))?,
        (None, None) => return Err(AppError::invalid("lo_email", "Give lo_email or lo_id.")),
    };
    reassign::reassign_one(&state, &user, id, Destination::Lo(lo), body.reason.as_deref().unwrap_or(""), body.version)
        .await?;
    Ok(Json(assigned_lead(&state.db, id).await?).into_response())
}

/// `GET /api/v1/leads/{id}/routing`: how a lead was routed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LeadRouting {
    pub lead_id: Uuid,
    /// The latest decision (null: the lead was never routed).
    pub decision: Option<rstore::DecisionRow>,
    /// The newest 20 decisions, newest first.
    pub decisions: Vec<rstore::DecisionRow>,
    /// The newest 50 changes of the lead's loan officer or team, newest first.
    pub history: Vec<rstore::HistoryRow>,
}

pub(crate) async fn api_routing(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    crate::leads::store::visible_lead(&state.db, &user, id).await?;
    let decisions = rstore::decisions_for_lead(&state.db, id).await?;
    let history = rstore::history(&state.db, id).await?;
    let decision = decisions.first().cloned();
    Ok(Json(LeadRouting { lead_id: id, decision, decisions, history }).into_response())
}

// ---- Rules -------------------------------------------------------------------------------------------------
