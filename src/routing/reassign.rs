//! Reassignment by people: one lead or many (with a required reason, within the actor's scope), bulk runs as
//! one all-or-nothing transaction, and the offboarding hand-over.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::HandOver;
use super::distribute::{self, Outcome, RouteOptions, Trigger};
use super::store::{self, LoRef};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Where a reassigned lead goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", content = "id", rename_all = "snake_case")]
pub enum Destination {
    Lo(Uuid),
    TeamQueue(Uuid),
}

/// The checked destination: LO (with their team) or team queue.
#[derive(Debug, Clone)]
pub struct Target {
    pub lo: Option<LoRef>,
    pub team: Option<Uuid>,
}

/// Checks that `actor` may send leads to `dest`: an active LO (managers: in a team they manage), or a team
/// (managers: one they manage).
pub async fn check_destination(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    dest: Destination,
) -> AppResult<Target> {
    match dest {
        Destination::Lo(id) => {
            let lo = store::lo_by_id(&mut **tx, id)
                .await?
                .filter(|l| l.role == "lo")
                .ok_or_else(|| AppError::invalid("to", "Choose a loan officer."))?;
            if !lo.active {
                return Err(AppError::invalid("to", format!("{} is inactive.", lo.name)));
            }
            if !actor.manages_team_of(lo.team_id) {
                return Err(AppError::invalid("to", "You can reassign only to LOs in the teams you manage."));
            }
            let team = lo.team_id;
            Ok(Target { lo: Some(lo), team })
        }
        Destination::TeamQueue(team) => {
            let exists =
                sqlx::query_scalar!("SELECT id FROM teams WHERE id = $1", team).fetch_optional(&mut **tx).await?;
            if exists.is_none() {
                return Err(AppError::invalid("to", "Choose a team."));
            }
            if !actor.manages_team_of(Some(team)) {
                return Err(AppError::invalid("to", "You can send leads only to the queues of teams you manage."));
            }
            Ok(Target { lo: None, team: Some(team) })
        }
    }
}

fn require_reason(reason: &str) -> AppResult<String> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(AppError::invalid("reason", "Give a reason for the reassignment."));
    }
    if r.len() > 500 {
        return Err(AppError::invalid("reason", "Keep the reason under 500 characters."));
    }
    Ok(r.to_string())
}

/// Reassigns one lead. Admins anywhere, managers within their teams; out-of-scope leads are not found;
/// `expected_version` guards against overwriting someone else's change.
pub async fn reassign_one(
    state: &AppState,
    actor: &CurrentUser,
    lead_id: Uuid,
    dest: Destination,
    reason: &str,
    expected_version: Option<i32>,
) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    reassign_in(state, &mut tx, actor, lead_id, dest, reason, expected_version).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn reassign_in(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lead_id: Uuid,
    dest: Destination,
    reason: &str,
    expected_version: Option<i32>,
) -> AppResult<()> {
    let lead = store::lock_lead(tx, lead_id).await?.ok_or(AppError::NotFound)?;
    if !actor.scope().allows_lead(lead.assigned_lo_id, lead.team_id) {
        return Err(AppError::NotFound);
    }
    actor.require(&[Role::Admin, Role::Manager])?;
    let reason = require_reason(reason)?;
    if expected_version.is_some_and(|v| v != lead.version) {
        return Err(AppError::conflict("This lead changed since you opened it. Reload and try again."));
    }
    let target = check_destination(tx, actor, dest).await?;
    if let Some(lo) = &target.lo {
        if lead.assigned_lo_id == Some(lo.id) {
            return Err(AppError::invalid("to", format!("The lead is already assigned to {}.", lo.name)));
        }
        if let Some(st) = lead.property_state.as_deref().filter(|s| !s.trim().is_empty()) {
            let licensed =
                lo.licensed_states.as_ref().is_some_and(|l| l.iter().any(|x| x.eq_ignore_ascii_case(st.trim())));
            if !licensed {
                return Err(AppError::invalid(
                    "to",
                    format!("{} is not licensed in {}.", lo.name, st.trim().to_uppercase()),
                ));
            }
        }
    }
    let now = state.clock.now();
    let sla = distribute::default_sla(tx).await?;
    distribute::assign(
        state,
        tx,
        &lead,
        target.lo.as_ref().map(|l| l.id),
        target.team,
        Some(actor),
        &reason,
        None,
        Some(sla),
        now,
    )
    .await?;
    Ok(())
}

/// What a bulk reassignment job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkPayload {
    pub actor_id: Uuid,
    pub lead_ids: Vec<Uuid>,
    pub dest: Destination,
    pub reason: String,
}

/// How many of these leads' property states the LO holds no licence for (a lead without a state counts as
/// licensed).
fn unlicensed_for<'a>(licensed: Option<&[String]>, states: impl Iterator<Item = Option<&'a str>>) -> usize {
    let licensed = licensed.unwrap_or_default();
    states
        .filter(|s| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .is_some_and(|s| !licensed.iter().any(|x| x.eq_ignore_ascii_case(s)))
        })
        .count()
}

/// Reassigns many leads in one transaction: either every lead moves or none does. Leads outside the actor's
/// scope, or not licensed for the target LO, fail the whole run. Reports progress to `job` if given.
pub async fn reassign_many(
    state: &AppState,
    actor: &CurrentUser,
    lead_ids: &[Uuid],
    dest: Destination,
    reason: &str,
    job: Option<i64>,
) -> AppResult<u64> {
    actor.require(&[Role::Admin, Role::Manager])?;
    let reason = require_reason(reason)?;
    if lead_ids.is_empty() {
        return Err(AppError::invalid("leads", "Select at least one lead."));
    }
    let mut ids = lead_ids.to_vec();
    ids.sort();
    ids.dedup();
    let total = ids.len() as i64;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let target = check_destination(&mut tx, actor, dest).await?;
    let to_lo = target.lo.as_ref().map(|l| l.id);
    let (all, lo, teams, queue) = actor.scope().binds();
    let mut done: i64 = 0;
    for chunk in ids.chunks(1000) {
        let chunk = chunk.to_vec();
        // Lock the chunk in id order; count what the actor may see.
        let visible = sqlx::query!(
            r#"SELECT l.id, l.assigned_lo_id, l.team_id, l.property_state FROM leads l
               WHERE l.id = ANY($1)
                 AND ($2 OR l.assigned_lo_id = $3 OR l.team_id = ANY($4) OR ($5 AND l.assigned_lo_id IS NULL AND l.team_id IS NULL))
               ORDER BY l.id FOR UPDATE"#,
            &chunk,
            all,
            lo,
            &teams,
            queue
        )
        .fetch_all(&mut *tx)
        .await?;
        if visible.len() != chunk.len() {
            return Err(AppError::invalid(
                "leads",
                format!(
                    "{} of the selected leads are not yours to reassign; nothing was changed.",
                    chunk.len() - visible.len()
                ),
            ));
        }
        if let Some(l) = &target.lo {
            let unlicensed =
                unlicensed_for(l.licensed_states.as_deref(), visible.iter().map(|v| v.property_state.as_deref()));
            if unlicensed > 0 {
                return Err(AppError::invalid(
                    "to",
                    format!("{} is not licensed for {unlicensed} of the selected leads; nothing was changed.", l.name),
                ));
            }
        }
        let moved =
            crate::leads::lifecycle::assign_many(&mut tx, Some(actor), &chunk, to_lo, target.team, &reason, None, now)
                .await?;
        sqlx::query!("UPDATE tasks SET owner_id = $2 WHERE lead_id = ANY($1) AND done_at IS NULL", &chunk, to_lo)
            .execute(&mut *tx)
            .await?;
        if let Some(lo) = to_lo {
            sqlx::query!(
                "UPDATE lead_cadences SET lo_id = $2, updated_at = $3 WHERE lead_id = ANY($1)",
                &chunk,
                lo,
                now
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "UPDATE claim_offers SET resolution = 'withdrawn', resolved_at = $2 WHERE lead_id = ANY($1) AND resolution IS NULL",
            &chunk,
            now
        )
        .execute(&mut *tx)
        .await?;
        Entry::new(Some(actor), "lead.bulk_reassign", "lead", format!("{} leads", moved.len()))
            .after(json!({"lead_ids": chunk, "assigned_lo_id": to_lo, "team_id": target.team, "reason": reason}))
            .write(&mut *tx)
            .await?;
        done += moved.len() as i64;
        if let Some(job) = job {
            crate::jobs::set_progress(state, job, done, total).await?;
        }
    }
    if let Some(lo) = to_lo {
        crate::events::notify(
            &mut tx,
            lo,
            "lead_assigned",
            &format!("{done} leads were reassigned to you: {reason}"),
            "/leads",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done as u64)
}

/// Moves every open lead of an LO being offboarded. Nothing is left without an owner or a queue: leads the
/// rules cannot place wait in the LO's team queue (or the unassigned queue) with the managers alerted.
pub async fn hand_over(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lo_id: Uuid,
    to: HandOver,
) -> AppResult<u64> {
    let now = state.clock.now();
    if matches!(to, HandOver::Redistribute) {
        store::lock_all_rotations(tx).await?;
    }
    let leaving = store::lo_by_id(&mut **tx, lo_id).await?.ok_or(AppError::NotFound)?;
    let ids = sqlx::query_scalar!(
        "SELECT l.id FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
         WHERE l.assigned_lo_id = $1 AND s.kind IN ('open', 'nurture') ORDER BY l.id FOR UPDATE OF l",
        lo_id
    )
    .fetch_all(&mut **tx)
    .await?;
    let reason = format!("Offboarding {}: open leads handed over", leaving.name);
    let target = match to {
        HandOver::ToLo(t) => {
            if t == lo_id {
                return Err(AppError::invalid("to", "Choose a different LO to take the leads."));
            }
            let tgt = check_destination(tx, actor, Destination::Lo(t)).await?;
            Some(tgt)
        }
        HandOver::ToTeamQueue(team) => Some(check_destination(tx, actor, Destination::TeamQueue(team)).await?),
        HandOver::Redistribute => None,
    };
    let mut moved = 0u64;
    for id in ids {
        let Some(lead) = store::lock_lead(tx, id).await? else { continue };
        match &target {
            Some(t) => {
                let sla = distribute::default_sla(tx).await?;
                distribute::assign(
                    state,
                    tx,
                    &lead,
                    t.lo.as_ref().map(|l| l.id),
                    t.team,
                    Some(actor),
                    &reason,
                    None,
                    Some(sla),
                    now,
                )
                .await?;
            }
            None => {
                let opts = RouteOptions {
                    trigger: Trigger::Handover,
                    actor: Some(actor),
                    exclude: vec![(lo_id, format!("{} is being offboarded", leaving.name))],
                    queue_when_none: true,
                    queue_team: leaving.team_id,
                };
                let outcome = distribute::route(state, tx, &lead, &opts).await?;
                debug_assert!(!matches!(outcome, Outcome::NoneEligible));
                if matches!(outcome, Outcome::Offered) {
                    // An offer leaves the lead unowned for a while: hold it in the team queue meanwhile.
                    let change = crate::leads::lifecycle::Assignment {
                        lead_id: lead.id,
                        to_lo: None,
                        to_team: leaving.team_id,
                        reason: &reason,
                        rule_id: None,
                        at: now,
                    };
                    crate::leads::lifecycle::assign(tx, Some(actor), change).await?;
                }
            }
        }
        moved += 1;
    }
    Ok(moved)
}
