//! The one lead lifecycle: every live stage change — the lead page and the API, the cadence's move to nurture,
//! the LOS status import, a merged duplicate's move to lost — and funding (the change to `funded`) go through
//! [`change_stage`], in the caller's transaction. It writes the lead's new stage, the `stage_changes` history row, one audit entry with the one
//! action name [`STAGE_CHANGED`], and the `lead.stage_changed` webhook event (plus `lead.funded` and the
//! portfolio loan when the lead is funded). Callers decide whether the move is allowed by their own rule
//! (the page's transition check, the LOS's forward-only rule, the cadence's end) before calling it.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::events::Event;

/// The audit action every stage change writes, whatever its origin (the history import uses it too).
pub const STAGE_CHANGED: &str = "lead.stage_changed";

/// One stage change, as its caller saw it.
#[derive(Debug, Clone)]
pub struct StageChange<'a> {
    pub lead_id: Uuid,
    pub from: &'a str,
    pub to: &'a str,
    /// The LO the lead is with at the time of the change (the history row's `lo_id`).
    pub lo_id: Option<Uuid>,
    /// Only for a move to a `lost` stage.
    pub lost_reason: Option<&'a str>,
    /// `app` (page and API), `cadence`, `los`, `merge`.
    pub origin: &'a str,
    /// When the change happened (the LOS may report a past time).
    pub at: DateTime<Utc>,
    /// Extra facts for the audit entry and the webhook payload (e.g. the LOS's loan number, the cadence's reason).
    pub note: serde_json::Value,
}

/// Moves a lead to another stage and records it: lead row, history row, audit entry, webhook event; a move to
/// `funded` also makes the portfolio loan and emits `lead.funded`. `actor` is `None` for the system (the cadence).
pub async fn change_stage(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    change: StageChange<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let c = &change;
    sqlx::query(
        "UPDATE leads SET stage = $2, lost_reason = $3, stage_changed_at = $4, updated_at = $5, version = version + 1
         WHERE id = $1",
    )
    .bind(c.lead_id)
    .bind(c.to)
    .bind(c.lost_reason)
    .bind(c.at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO stage_changes (lead_id, from_stage, to_stage, lo_id, actor_id, lost_reason, origin, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.lead_id)
    .bind(c.from)
    .bind(c.to)
    .bind(c.lo_id)
    .bind(actor.map(|a| a.id))
    .bind(c.lost_reason)
    .bind(c.origin)
    .bind(c.at)
    .execute(&mut **tx)
    .await?;
    Entry::new(actor.map(|a| a as &dyn crate::audit::Acts), STAGE_CHANGED, "lead", c.lead_id)
        .before(serde_json::json!({"stage": c.from}))
        .after(serde_json::json!({"stage": c.to, "lost_reason": c.lost_reason, "origin": c.origin, "note": c.note}))
        .write(&mut **tx)
        .await?;
    let mut event = serde_json::json!({
        "lead_id": c.lead_id, "from": c.from, "to": c.to, "lost_reason": c.lost_reason, "at": c.at, "origin": c.origin,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (event.as_object_mut(), &c.note) {
        for (k, v) in extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    crate::events::emit(tx, Event::LeadStageChanged { lead_id: c.lead_id, payload: &event }).await?;
    if c.to == "funded" {
        // A funded lead becomes a past client in the portfolio (its subscriber), in the same transaction.
        crate::events::emit(tx, Event::LeadFunded { lead_id: c.lead_id, payload: &event }).await?;
    }
    Ok(())
}

/// The audit action every assignment writes, whatever made it (routing, the SLA, a reassignment, offboarding,
/// a claim, the LO's own new lead).
pub const ASSIGNED: &str = "lead.assign";

/// One assignment of a lead to an LO (or, with `to_lo` None, to a team's or the unassigned queue).
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub lead_id: Uuid,
    pub from_lo: Option<Uuid>,
    pub from_team: Option<Uuid>,
    pub to_lo: Option<Uuid>,
    pub to_team: Option<Uuid>,
    pub reason: &'a str,
    /// The routing rule that chose it, if one did.
    pub rule_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// Gives a lead to an LO or a queue and records it: the lead row, the `assignments` history row, the one audit
/// action [`ASSIGNED`] and the `lead.assigned` outbox row, in the caller's transaction. Returns the history
/// row's id. What follows an assignment (the LO's tasks, bell, SLA check, cadence) is the caller's.
pub async fn assign(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    a: Assignment<'_>,
) -> AppResult<i64> {
    sqlx::query(
        "UPDATE leads SET assigned_lo_id = $2, team_id = $3,
                assigned_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE $4::timestamptz END,
                version = version + 1, updated_at = $4
         WHERE id = $1",
    )
    .bind(a.lead_id)
    .bind(a.to_lo)
    .bind(a.to_team)
    .bind(a.at)
    .execute(&mut **tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO assignments (lead_id, from_lo_id, to_lo_id, to_team_id, actor_id, reason, rule_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(a.lead_id)
    .bind(a.from_lo)
    .bind(a.to_lo)
    .bind(a.to_team)
    .bind(actor.map(|u| u.id))
    .bind(a.reason)
    .bind(a.rule_id)
    .bind(a.at)
    .fetch_one(&mut **tx)
    .await?;
    Entry::new(actor.map(|u| u as &dyn crate::audit::Acts), ASSIGNED, "lead", a.lead_id)
        .before(serde_json::json!({"assigned_lo_id": a.from_lo, "team_id": a.from_team}))
        .after(serde_json::json!({"assigned_lo_id": a.to_lo, "team_id": a.to_team, "reason": a.reason, "rule_id": a.rule_id}))
        .write(&mut **tx)
        .await?;
    crate::events::leads_assigned(tx, &[a.lead_id], a.to_lo, a.to_team, a.reason).await?;
    Ok(id)
}
