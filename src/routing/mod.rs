//! Lead distribution, speed-to-lead and reassignment.
//!
//! A new lead is routed right after the transaction that creates it commits ([`batch::route_created`]: the
//! leads waiting on an instance are routed together, in one transaction; a safety-net job queued with each
//! lead routes it if that never commits): the first matching rule (or the default round robin) picks an
//! eligible LO — active, licensed in the property's state, under capacity, available — with the rotation
//! kept in Postgres under a row lock, and the decision is stored with every candidate's reasons. Assignment
//! starts the speed-to-lead check and the contact cadence.

pub mod batch;
pub mod distribute;
pub mod handlers;
pub mod history;
pub mod model;
pub mod reassign;
pub mod speed_to_lead;
pub mod store;
pub mod turns;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::jobs::Job;
use crate::state::AppState;
use crate::web::Routes;

pub use distribute::{Outcome, Trigger};
pub use reassign::Destination;
pub use store::lock_all_rotations;

pub fn router() -> Routes {
    handlers::router()
}

async fn route_locked(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &store::LeadRow,
    actor: Option<&CurrentUser>,
) -> AppResult<Option<Uuid>> {
    if let Some(lo) = lead.assigned_lo_id {
        return Ok(Some(lo)); // Already routed: never assign twice.
    }
    let opts = distribute::RouteOptions {
        trigger: Trigger::NewLead,
        actor,
        exclude: vec![],
        queue_when_none: true,
        queue_team: None,
    };
    match distribute::route(state, tx, lead, &opts).await? {
        Outcome::Assigned(lo) => Ok(Some(lo)),
        _ => Ok(None),
    }
}

/// The job kind that routes a created lead if [`route_created_lead`] did not get to commit.
pub const ROUTE_LEAD_JOB: &str = "routing.route_lead";

fn route_job_key(lead_id: Uuid) -> String {
    format!("route_lead:{lead_id}")
}

/// Queues the safety net for [`route_created_lead`] in the transaction that creates the leads, one job each:
/// if the routing transaction never commits (process stopped, power lost), the job worker routes the lead a
/// minute later.
pub async fn queue_routing(
    tx: &mut Transaction<'_, Postgres>,
    lead_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let payloads: Vec<serde_json::Value> = lead_ids.iter().map(|id| serde_json::json!({ "lead_id": id })).collect();
    let keys: Vec<Option<String>> = lead_ids.iter().map(|id| Some(route_job_key(*id))).collect();
    crate::jobs::enqueue_many(tx, ROUTE_LEAD_JOB, &payloads, now + chrono::Duration::minutes(1), &keys).await
}

/// Routes a lead whose creating transaction has committed, in its own transaction (the safety-net job, and
/// a lead whose batch failed; requests go through [`batch::route_created`]). The lead is durable before
/// routing starts, with a queued safety-net job ([`queue_routing`]).
///
/// A routing transaction holds the rotations' row locks until it commits, so its commit is asynchronous
/// (`synchronous_commit = off`): waiting for the disk flush (≈7 ms on the reference machine) inside the lock
/// would cap intake for the whole organisation. Postgres still commits it atomically and in order; a power
/// loss can forget at most the last fraction of a second of routing decisions, and the leads they routed
/// are then routed again by their safety-net jobs, which were committed durably with the leads.
pub async fn route_created_lead(
    state: &AppState,
    lead_id: Uuid,
    actor: Option<&CurrentUser>,
) -> AppResult<Option<Uuid>> {
    Ok(batch::route_together(state, &[(lead_id, actor)]).await?.pop().flatten())
}

/// HTML for the lead page: assignment history and "why did this lead go to …".
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let history = store::history(&state.db, lead_id).await?;
    let decisions = store::decisions_for_lead(&state.db, lead_id).await?;
    let panel = handlers::LeadPanel::new(history, decisions, user.is_manager_or_admin(), lead_id);
    Ok(askama::Template::render(&panel).map_err(anyhow::Error::from)?)
}

/// Where an offboarded LO's open leads go (the admin's choice, kept by accounts).
pub use crate::accounts::model::HandOver;

/// Moves every open lead of `lo_id` according to `to`, recording assignment history. Returns how many moved.
pub async fn hand_over_open_leads(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lo_id: Uuid,
    to: HandOver,
) -> AppResult<u64> {
    reassign::hand_over(state, tx, actor, lo_id, to).await
}

/// Runs a job of kind `routing.*`.
pub async fn run_job(state: &AppState, job: &Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "routing.sla_warning" => {
            speed_to_lead::run_sla_warning(state, serde_json::from_value(job.payload.clone())?).await
        }
        "routing.sla_check" => {
            speed_to_lead::run_sla_check(state, serde_json::from_value(job.payload.clone())?, now).await
        }
        "routing.cadence_step" => {
            speed_to_lead::run_cadence_step(state, serde_json::from_value(job.payload.clone())?, now, false).await
        }
        "routing.cadence_end" => {
            speed_to_lead::run_cadence_step(state, serde_json::from_value(job.payload.clone())?, now, true).await
        }
        ROUTE_LEAD_JOB => {
            let id = job.payload.get("lead_id").and_then(|v| v.as_str()).and_then(|v| Uuid::parse_str(v).ok());
            let id = id.ok_or_else(|| anyhow::anyhow!("routing.route_lead without a lead id"))?;
            match route_created_lead(state, id, None).await {
                // Routed already (does nothing), or merged away meanwhile: nothing left to do.
                Ok(_) | Err(AppError::NotFound) => Ok(()),
                Err(e) => Err(anyhow::anyhow!("{}", e.public_message())),
            }
        }
        "routing.claim_expire" => {
            let id = job.payload.get("offer_id").and_then(|v| v.as_i64()).unwrap_or_default();
            speed_to_lead::run_claim_expire(state, id, now).await
        }
        "routing.bulk_reassign" => {
            let p: reassign::BulkPayload = serde_json::from_value(job.payload.clone())?;
            let actor = crate::auth::store::find_user(&state.db, p.actor_id)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| anyhow::anyhow!("the user who started this bulk reassignment is gone"))?
                .into_current(false);
            let ctx = crate::web::RequestCtx { request_id: format!("job-{}", job.id), ..Default::default() };
            crate::web::with_request_ctx(ctx, async {
                reassign::reassign_many(state, &actor, &p.lead_ids, p.dest, &p.reason, Some(job.id)).await
            })
            .await
            .map(|_| ())
            .map_err(|e| match e {
                AppError::Internal(e) => e,
                AppError::Validation(fields) => {
                    anyhow::anyhow!("{}", fields.0.values().flatten().cloned().collect::<Vec<_>>().join(" "))
                }
                other => anyhow::anyhow!("{}", other.public_message()),
            })
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
