//! Routing decisions: which rule applies, who is eligible and why not, whose turn it is, and the assignment
//! (or the queue) that follows. Every decision is stored with its reasons.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::{self, Candidate, Checks, Method, SlaAction, Slot, WorkHours};
use super::speed_to_lead;
use super::store::{self, CandidateRow, LeadRow, NewDecision, RuleRow};
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;

/// Why a lead is being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    NewLead,
    Sla,
    Handover,
    ClaimExpired,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NewLead => "new_lead",
            Trigger::Sla => "sla",
            Trigger::Handover => "handover",
            Trigger::ClaimExpired => "claim_expired",
        }
    }
}

pub struct RouteOptions<'a> {
    pub trigger: Trigger,
    pub actor: Option<&'a CurrentUser>,
    /// LOs left out of this decision, with the reason shown in the explanation.
    pub exclude: Vec<(Uuid, String)>,
    /// When nobody is eligible: put the lead in a queue (true) or leave it where it is (false).
    pub queue_when_none: bool,
    /// The queue to use when the rule names no team (e.g. the offboarded LO's team).
    pub queue_team: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Assigned(Uuid),
    Queued(Option<Uuid>),
    Offered,
    /// Nobody eligible and `queue_when_none` was false: nothing changed.
    NoneEligible,
}

/// The speed-to-lead settings that travel with an assignment.
#[derive(Debug, Clone, Copy)]
pub struct Sla {
    pub minutes: i64,
    pub action: SlaAction,
}

pub async fn default_sla(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Sla> {
    let minutes = store::setting(&mut **tx, "routing.default_sla_minutes")
        .await?
        .and_then(|v| v.as_i64())
        .filter(|m| *m > 0)
        .unwrap_or(5);
    Ok(Sla { minutes, action: SlaAction::Reassign })
}

fn rule_sla(rule: &RuleRow) -> Sla {
    Sla {
        minutes: i64::from(rule.sla_minutes),
        action: SlaAction::parse(&rule.sla_action).unwrap_or(SlaAction::Reassign),
    }
}

pub fn hours_of(c: &CandidateRow, org_tz: chrono_tz::Tz) -> WorkHours {
    WorkHours::new(c.work_start, c.work_end, c.work_days.clone(), &c.timezone, org_tz)
}

fn to_candidate(c: &CandidateRow, org_tz: chrono_tz::Tz) -> Candidate {
    Candidate {
        lo_id: c.id,
        name: c.name.clone(),
        active: c.active,
        licensed_states: c.licensed_states.clone(),
        capacity: c.capacity,
        open_leads: c.open_leads,
        status: c.status.clone(),
        hours: hours_of(c, org_tz),
        weight: c.routing_weight,
    }
}

/// Routes one locked lead. The caller owns the transaction.
pub async fn route(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    opts: &RouteOptions<'_>,
) -> AppResult<Outcome> {
    let now = state.clock.now();
    let org_tz = state.config.timezone;
    let facts = lead.facts();
    let rule = store::active_rules(tx).await?.into_iter().find(|r| r.filters().matches(&facts));

    let (rule_key, rule_name, mut method, mut working_hours, sla) = match &rule {
        Some(r) => (
            r.id.to_string(),
            r.name.clone(),
            Method::parse(&r.method).unwrap_or(Method::RoundRobin),
            r.require_working_hours,
            rule_sla(r),
        ),
        None => (
            "default".to_string(),
            "Default (no rule matched)".to_string(),
            Method::RoundRobin,
            false,
            default_sla(tx).await?,
        ),
    };
    if method == Method::Claim && opts.trigger != Trigger::NewLead {
        method = rule.as_ref().and_then(|r| Method::parse(&r.fallback_method)).unwrap_or(Method::RoundRobin);
    }
    if method == Method::AvailabilityFirst {
        working_hours = true;
    }
    let (everyone, team_ids, lo_ids) = match &rule {
        Some(r) => (r.team_ids.is_empty() && r.lo_ids.is_empty(), r.team_ids.clone(), r.lo_ids.clone()),
        None => (true, vec![], vec![]),
    };
    let rule_id = rule.as_ref().map(|r| r.id);

    let returning = store::returning_borrower_lo(tx, lead.id, lead.email.as_deref(), lead.phone.as_deref())
        .await?
        .filter(|lo| Some(*lo) != lead.assigned_lo_id && !opts.exclude.iter().any(|(x, _)| x == lo));
    // The rotation lock comes before reading loads, so capacity and turns are read fresh and in order. It is
    // held to commit: everything that needs no fresh load is done above.
    let seq = store::lock_position(tx, &rule_key).await?;
    let mut rows = store::candidates(tx, everyone, &team_ids, &lo_ids).await?;
    if let Some(r) = returning {
        if !rows.iter().any(|c| c.id == r) {
            rows.extend(store::candidates(tx, false, &[], &[r]).await?);
        }
    }
    let checks = Checks { working_hours, exclude: opts.exclude.clone() };
    let state_code = lead.property_state.as_deref();

    let perf: Vec<(Uuid, i64, i64)> = if method == Method::PerformanceWeighted {
        let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
        store::performance(tx, &ids, now - Duration::days(90)).await?
    } else {
        vec![]
    };

    struct Judged {
        row: CandidateRow,
        reasons: Vec<model::Exclusion>,
        weight: i64,
    }
    let mut judged: Vec<Judged> = Vec::with_capacity(rows.len());
    for row in rows {
        let c = to_candidate(&row, org_tz);
        let mut reasons = model::exclusions(&c, state_code, now, &checks);
        let weight = match method {
            Method::RoundRobin | Method::Claim => 1,
            Method::WeightedRoundRobin => i64::from(row.routing_weight.max(0)),
            Method::AvailabilityFirst => (i64::from(row.capacity) - row.open_leads).max(0),
            Method::PerformanceWeighted => {
                let (a, w) = perf.iter().find(|p| p.0 == row.id).map(|p| (p.1, p.2)).unwrap_or((0, 0));
                model::performance_weight(row.routing_weight, a, w)
            }
        };
        if reasons.is_empty() && weight <= 0 && Some(row.id) != returning {
            reasons.push(model::Exclusion::ZeroWeight);
        }
        judged.push(Judged { row, reasons, weight });
    }

    let mut chosen: Option<Uuid> = None;
    let mut why = String::new();
    if let Some(r) = returning {
        if judged.iter().any(|j| j.row.id == r && j.reasons.is_empty()) {
            chosen = Some(r);
            why = "returning borrower: same email or phone as an earlier lead of this LO".into();
        }
    }

    let eligible: Vec<&Judged> = judged.iter().filter(|j| j.reasons.is_empty() && j.weight > 0).collect();
    let in_rotation = chosen.is_none() && method != Method::Claim;
    if chosen.is_none() && method == Method::Claim && !eligible.is_empty() {
        let pool: Vec<Uuid> = eligible.iter().map(|j| j.row.id).collect();
        let minutes = rule.as_ref().map(|r| i64::from(r.claim_minutes)).unwrap_or(10);
        speed_to_lead::offer(state, tx, lead, rule_id, &pool, now + Duration::minutes(minutes)).await?;
        let candidates =
            candidates_json(&judged.iter().map(|j| (&j.row, &j.reasons, j.weight)).collect::<Vec<_>>(), None);
        let summary = format!(
            "Offered to {} eligible LO{} under rule \"{}\"; the first to claim within {} minutes gets it.",
            pool.len(),
            if pool.len() == 1 { "" } else { "s" },
            rule_name,
            minutes
        );
        store::insert_decision(
            tx,
            &NewDecision {
                lead_id: lead.id,
                rule_id,
                rule_name: &rule_name,
                method: method.as_str(),
                trigger: opts.trigger.as_str(),
                outcome: "offered",
                chosen_lo_id: None,
                team_id: lead.team_id,
                candidates,
                summary: &summary,
                now,
            },
        )
        .await?;
        return Ok(Outcome::Offered);
    }
    if in_rotation && !eligible.is_empty() {
        let ids: Vec<Uuid> = eligible.iter().map(|j| j.row.id).collect();
        let stored = store::counters(tx, &rule_key, &ids).await?;
        let mut slots: Vec<Slot> = eligible
            .iter()
            .map(|j| {
                let (credit, last_seq, era, last_assigned) =
                    stored.iter().find(|s| s.0 == j.row.id).map(|s| (s.1, s.2, s.3, s.4)).unwrap_or((0, -1, 0, -1));
                Slot { lo_id: j.row.id, weight: j.weight, credit, last_seq, era, last_assigned }
            })
            .collect();
        // Fixed weights take turns by the quota method (within one lead of each share); weights that move
        // with every decision (spare capacity, recent conversion) by smooth weighted round robin.
        let turn = match method {
            Method::RoundRobin | Method::WeightedRoundRobin | Method::Claim => {
                model::take_quota_turn(&mut slots, seq + 1)
            }
            Method::AvailabilityFirst | Method::PerformanceWeighted => model::take_turn(&mut slots, seq + 1),
        };
        if let Some(i) = turn {
            let lo = slots[i].lo_id;
            store::save_turn(tx, &rule_key, seq + 1, &slots, lo, now).await?;
            chosen = Some(lo);
            why = format!("{} turn", method.label().to_lowercase());
        }
    }

    let candidates =
        candidates_json(&judged.iter().map(|j| (&j.row, &j.reasons, j.weight)).collect::<Vec<_>>(), chosen);
    let eligible_count = eligible.len();
    let total = judged.len();
    match chosen {
        Some(lo) => {
            let row = &judged.iter().find(|j| j.row.id == lo).expect("chosen from the candidates").row;
            let summary = format!(
                "Went to {} under rule \"{}\" ({}): {} of {} LO{} eligible.",
                row.name,
                rule_name,
                why,
                eligible_count,
                total,
                if total == 1 { "" } else { "s" }
            );
            store::insert_decision(
                tx,
                &NewDecision {
                    lead_id: lead.id,
                    rule_id,
                    rule_name: &rule_name,
                    method: method.as_str(),
                    trigger: opts.trigger.as_str(),
                    outcome: "assigned",
                    chosen_lo_id: Some(lo),
                    team_id: row.team_id,
                    candidates,
                    summary: &summary,
                    now,
                },
            )
            .await?;
            let reason = match opts.trigger {
                Trigger::NewLead => format!("Routed: {summary}"),
                Trigger::Sla => format!("Speed-to-lead missed; rerouted: {summary}"),
                Trigger::Handover => format!("Offboarding hand-over: {summary}"),
                Trigger::ClaimExpired => format!("Claim window expired; routed: {summary}"),
            };
            assign(state, tx, lead, Some(lo), row.team_id, opts.actor, &reason, rule_id, Some(sla), now).await?;
            Ok(Outcome::Assigned(lo))
        }
        None if !opts.queue_when_none => Ok(Outcome::NoneEligible),
        None => {
            let team = rule.as_ref().and_then(|r| r.team_ids.first().copied()).or(opts.queue_team).or(lead.team_id);
            let summary = format!(
                "No eligible LO under rule \"{}\" ({} of {} LO{} considered, none eligible): waiting in the {} queue; managers alerted.",
                rule_name,
                total,
                total,
                if total == 1 { "" } else { "s" },
                if team.is_some() { "team" } else { "unassigned" }
            );
            store::insert_decision(
                tx,
                &NewDecision {
                    lead_id: lead.id,
                    rule_id,
                    rule_name: &rule_name,
                    method: method.as_str(),
                    trigger: opts.trigger.as_str(),
                    outcome: "queued",
                    chosen_lo_id: None,
                    team_id: team,
                    candidates,
                    summary: &summary,
                    now,
                },
            )
            .await?;
            send_to_queue(state, tx, lead, team, opts.actor, &summary, rule_id, now).await?;
            Ok(Outcome::Queued(team))
        }
    }
}

fn candidates_json(judged: &[(&CandidateRow, &Vec<model::Exclusion>, i64)], chosen: Option<Uuid>) -> serde_json::Value {
    serde_json::Value::Array(
        judged
            .iter()
            .map(|(row, reasons, weight)| {
                json!({
                    "lo_id": row.id,
                    "name": row.name,
                    "email": row.email,
                    "eligible": reasons.is_empty() && (*weight > 0 || chosen == Some(row.id)),
                    "chosen": chosen == Some(row.id),
                    "reasons": reasons.iter().map(model::Exclusion::message).collect::<Vec<_>>(),
                    "codes": reasons,
                    "weight": weight,
                    "open_leads": row.open_leads,
                    "capacity": row.capacity,
                    "status": row.status,
                })
            })
            .collect(),
    )
}

/// Gives a locked lead to `to` (an LO) in team `team`: the lead row, the history row, the audit entry, the
/// LO's notification, their tasks, the speed-to-lead check and the contact cadence.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    to: Option<Uuid>,
    team: Option<Uuid>,
    actor: Option<&CurrentUser>,
    reason: &str,
    rule_id: Option<Uuid>,
    sla: Option<Sla>,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let assignment =
        store::write_assignment(tx, lead.id, lead.assigned_lo_id, to, team, actor.map(|a| a.id), reason, rule_id, now)
            .await?;
    Entry::new(actor, "lead.assign", "lead", lead.id)
        .before(json!({"assigned_lo_id": lead.assigned_lo_id, "team_id": lead.team_id}))
        .after(json!({"assigned_lo_id": to, "team_id": team, "reason": reason, "rule_id": rule_id}))
        .write(&mut **tx)
        .await?;
    sqlx::query!(
        "UPDATE claim_offers SET resolution = 'withdrawn', resolved_at = $2 WHERE lead_id = $1 AND resolution IS NULL",
        lead.id,
        now
    )
    .execute(&mut **tx)
    .await?;
    match to {
        Some(lo) => {
            sqlx::query!("UPDATE tasks SET owner_id = $2 WHERE lead_id = $1 AND done_at IS NULL", lead.id, lo)
                .execute(&mut **tx)
                .await?;
            crate::notifications::notify(
                tx,
                lo,
                "lead_assigned",
                &format!("New lead for you: {}", lead.display_name()),
                &format!("/leads/{}", lead.id),
            )
            .await?;
            if let Some(sla) = sla {
                if lead.first_call_at.is_none() && lead.stage == "new" {
                    speed_to_lead::schedule_sla(state, tx, lead.id, lo, assignment, sla, now).await?;
                }
            }
            speed_to_lead::start_cadence(state, tx, lead, lo, now).await?;
        }
        None => {
            sqlx::query!("UPDATE tasks SET owner_id = NULL WHERE lead_id = $1 AND done_at IS NULL", lead.id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(assignment)
}

/// Puts a lead in a queue (a team's, or the organisation's unassigned queue) and alerts the managers.
#[allow(clippy::too_many_arguments)]
pub async fn send_to_queue(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    team: Option<Uuid>,
    actor: Option<&CurrentUser>,
    reason: &str,
    rule_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if lead.assigned_lo_id.is_some() || lead.team_id != team {
        assign(state, tx, lead, None, team, actor, reason, rule_id, None, now).await?;
    } else {
        Entry::new(actor, "lead.queue", "lead", lead.id)
            .after(json!({"team_id": team, "reason": reason}))
            .write(&mut **tx)
            .await?;
    }
    let managers = store::managers_for(tx, team).await?;
    crate::notifications::notify_all(
        tx,
        &managers,
        "lead_unassigned",
        &format!("Lead waiting for an LO: {} (no eligible LO)", lead.display_name()),
        "/routing/queue",
    )
    .await?;
    Ok(())
}
