//! SQL for leads. Other capabilities read leads only through the scoped functions here.

use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};

/// The fields other capabilities need about a lead (routing, escalations, metrics drill-downs).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeadSummary {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub stage: String,
    pub property_state: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub source: String,
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub version: i32,
}

/// A lead the user may see, or NotFound (no existence leak) — the scoping rule applied to one record.
pub async fn visible_lead(db: &sqlx::PgPool, user: &CurrentUser, id: Uuid) -> AppResult<LeadSummary> {
    let lead = sqlx::query_as!(
        LeadSummary,
        "SELECT id, first_name, last_name, stage, property_state, loan_purpose, loan_amount_cents, credit_band, source,
                assigned_lo_id, team_id, version
         FROM leads WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    if !user.scope().allows_lead(lead.assigned_lo_id, lead.team_id) {
        crate::audit::record_event(db, Some(user.id), "access_refused", &format!("lead {id}")).await;
        return Err(AppError::NotFound);
    }
    Ok(lead)
}
