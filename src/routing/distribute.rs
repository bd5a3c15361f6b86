//! Routing decisions: which rule applies, who is eligible and why not, whose turn it is, and the assignment
//! (or the queue) that follows. Every decision is stored with its reasons.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::{self, Candidate, Checks, Method, SlaAction, Slot, WorkHours};
use super::speed_to_lead;
use super::store::{self, CandidateRow, LeadRow, NewDecision, RuleRow};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::events::Event;
use crate::leads::lifecycle::Assignment;
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

/// How a decision is made: the rule that applies (or the default), its method after the trigger's adjustments,
/// whether working hours count, and the speed-to-lead settings that go with the assignment.
pub struct Plan<'a> {
    pub rule: Option<&'a RuleRow>,
    pub rule_key: String,
    pub rule_name: String,
    pub method: Method,
    pub working_hours: bool,
    pub sla: Sla,
}

/// The plan for a lead under `rule` (None: the default round robin) when routing for `trigger`. Pure.
pub fn plan<'a>(rule: Option<&'a RuleRow>, trigger: Trigger, default_sla: Sla) -> Plan<'a> {
    let (rule_key, rule_name, mut method, mut working_hours, sla) = match rule {
        Some(r) => (
            r.id.to_string(),
            r.name.clone(),
            Method::parse(&r.method).unwrap_or(Method::RoundRobin),
            r.require_working_hours,
            rule_sla(r),
        ),
        None => {
            ("default".to_string(), "Default (no rule matched)".to_string(), Method::RoundRobin, false, default_sla)
        }
    };
    // A claim pool is for new leads; a lead rerouted for any other reason takes the rule's fallback method.
    if method == Method::Claim && trigger != Trigger::NewLead {
        method = rule.and_then(|r| Method::parse(&r.fallback_method)).unwrap_or(Method::RoundRobin);
    }
    if method == Method::AvailabilityFirst {
        working_hours = true;
    }
    Plan { rule, rule_key, rule_name, method, working_hours, sla }
}

/// Everything a decision reads, loaded by [`route`] under the rotation lock.
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub org_tz: chrono_tz::Tz,
    /// The lead's property state.
    pub state_code: Option<&'a str>,
    pub exclude: &'a [(Uuid, String)],
    /// The LO of an earlier lead with the same email or phone (not excluded, not the current LO).
    pub returning: Option<Uuid>,
    /// The rotation's last decision number.
    pub seq: i64,
    pub candidates: Vec<CandidateRow>,
    /// (LO, leads assigned, leads won) over the last 90 days, for performance weighting.
    pub performance: Vec<(Uuid, i64, i64)>,
    /// Each candidate's stored place in the rotation: (LO, credit, last_seq, era, last_assigned).
    pub counters: Vec<(Uuid, i64, i64, i64, i64)>,
}

/// One candidate as judged: the reasons they cannot take the lead (none: eligible) and their weight.
pub struct Judged {
    pub row: CandidateRow,
    pub reasons: Vec<model::Exclusion>,
    pub weight: i64,
}

/// What a decision chose.
pub enum Choice {
    /// To this LO, and why; `slots` is the rotation to store when it was a turn of it.
    Assign { lo: Uuid, why: String, slots: Option<Vec<Slot>> },
    /// Offered to these eligible LOs for `minutes`; the first to claim gets it.
    Offer { pool: Vec<Uuid>, minutes: i64 },
    /// Nobody is eligible.
    Nobody,
}

pub struct Decision {
    pub judged: Vec<Judged>,
    pub choice: Choice,
}

/// The decision itself, with no database: judges every candidate, prefers a returning borrower's LO, offers
/// a claim pool, or takes the rotation's next turn.
pub fn decide(plan: &Plan<'_>, f: Facts<'_>) -> Decision {
    let checks = Checks { working_hours: plan.working_hours, exclude: f.exclude.to_vec() };
    let method = plan.method;
    let judged: Vec<Judged> = f
        .candidates
        .into_iter()
        .map(|row| {
            let c = to_candidate(&row, f.org_tz);
            let mut reasons = model::exclusions(&c, f.state_code, f.now, &checks);
            let weight = match method {
                Method::RoundRobin | Method::Claim => 1,
                Method::WeightedRoundRobin => i64::from(row.routing_weight.max(0)),
                Method::AvailabilityFirst => (i64::from(row.capacity) - row.open_leads).max(0),
                Method::PerformanceWeighted => {
                    let (a, w) = f.performance.iter().find(|p| p.0 == row.id).map(|p| (p.1, p.2)).unwrap_or((0, 0));
                    model::performance_weight(row.routing_weight, a, w)
                }
            };
            if reasons.is_empty() && weight <= 0 && Some(row.id) != f.returning {
                reasons.push(model::Exclusion::ZeroWeight);
            }
            Judged { row, reasons, weight }
        })
        .collect();

    if let Some(r) = f.returning {
        if judged.iter().any(|j| j.row.id == r && j.reasons.is_empty()) {
            let why = "returning borrower: same email or phone as an earlier lead of this LO".to_string();
            return Decision { judged, choice: Choice::Assign { lo: r, why, slots: None } };
        }
    }
    let eligible: Vec<&Judged> = judged.iter().filter(|j| j.reasons.is_empty() && j.weight > 0).collect();
    if eligible.is_empty() {
        return Decision { judged, choice: Choice::Nobody };
    }
    if method == Method::Claim {
        let pool = eligible.iter().map(|j| j.row.id).collect();
        let minutes = plan.rule.map(|r| i64::from(r.claim_minutes)).unwrap_or(10);
        return Decision { judged, choice: Choice::Offer { pool, minutes } };
    }
    let mut slots: Vec<Slot> = eligible
        .iter()
        .map(|j| {
            let (credit, last_seq, era, last_assigned) =
                f.counters.iter().find(|s| s.0 == j.row.id).map(|s| (s.1, s.2, s.3, s.4)).unwrap_or((0, -1, 0, -1));
            Slot { lo_id: j.row.id, weight: j.weight, credit, last_seq, era, last_assigned }
        })
        .collect();
    // Fixed weights take turns by the quota method (within one lead of each share); weights that move with
    // every decision (spare capacity, recent conversion) by smooth weighted round robin.
    let turn = match method {
        Method::RoundRobin | Method::WeightedRoundRobin | Method::Claim => {
            model::take_quota_turn(&mut slots, f.seq + 1)
        }
        Method::AvailabilityFirst | Method::PerformanceWeighted => model::take_turn(&mut slots, f.seq + 1),
    };
    let choice = match turn {
        Some(i) => Choice::Assign {
            lo: slots[i].lo_id,
            why: format!("{} turn", method.label().to_lowercase()),
            slots: Some(slots),
        },
        None => Choice::Nobody,
    };
    Decision { judged, choice }
}

/// Routes one locked lead: loads the facts (the rotation's row lock first, so loads and turns are read fresh
/// and in order; it is held to the commit), [`decide`]s, and writes the decision with its reasons, then the
/// assignment, the offer or the queue. The caller owns the transaction.
pub async fn route(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    opts: &RouteOptions<'_>,
) -> AppResult<Outcome> {
    let now = state.clock.now();
    let facts = lead.facts();
    let rules = store::active_rules(tx).await?;
    let rule = rules.iter().find(|r| r.filters().matches(&facts));
    let default = if rule.is_none() { default_sla(tx).await? } else { Sla { minutes: 0, action: SlaAction::Reassign } };
    let plan = plan(rule, opts.trigger, default);
    let facts = load(state, tx, lead, opts, &plan, now).await?;
    let seq = facts.seq;
    let decision = decide(&plan, facts);
    record(state, tx, lead, opts, &plan, decision, seq, now).await
}

/// Whom a rule routes to: every active LO (true, when it names nobody, and for the default round robin), or
/// the members of its teams and the LOs it names.
pub fn target(rule: Option<&RuleRow>) -> (bool, Vec<Uuid>, Vec<Uuid>) {
    match rule {
        Some(r) => (r.team_ids.is_empty() && r.lo_ids.is_empty(), r.team_ids.clone(), r.lo_ids.clone()),
        None => (true, vec![], vec![]),
    }
}

/// Loads what the decision judges: the rule's candidates (and a returning borrower's LO), the rotation's
/// position (locked for the rest of the transaction), the stored counters and, for performance weighting,
/// each candidate's last 90 days.
async fn load<'a>(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &'a LeadRow,
    opts: &'a RouteOptions<'_>,
    plan: &Plan<'_>,
    now: DateTime<Utc>,
) -> AppResult<Facts<'a>> {
    let (everyone, team_ids, lo_ids) = target(plan.rule);
    let returning = store::returning_borrower_lo(tx, lead.id, lead.email.as_deref(), lead.phone.as_deref())
        .await?
        .filter(|lo| Some(*lo) != lead.assigned_lo_id && !opts.exclude.iter().any(|(x, _)| x == lo));
    let seq = store::lock_position(tx, &plan.rule_key).await?;
    let mut rows = store::candidates(tx, everyone, &team_ids, &lo_ids).await?;
    if let Some(r) = returning {
        if !rows.iter().any(|c| c.id == r) {
            rows.extend(store::candidates(tx, false, &[], &[r]).await?);
        }
    }
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let performance = if plan.method == Method::PerformanceWeighted {
        store::performance(tx, &ids, now - Duration::days(90)).await?
    } else {
        vec![]
    };
    let counters = store::counters(tx, &plan.rule_key, &ids).await?;
    Ok(Facts {
        now,
        org_tz: state.config.timezone,
        state_code: lead.property_state.as_deref(),
        exclude: &opts.exclude,
        returning,
        seq,
        candidates: rows,
        performance,
        counters,
    })
}

/// Stores the decision with every candidate's judgement and carries it out: an offer to the claim pool, an
/// assignment (with the rotation's turn), or the queue with its managers alerted.
#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    opts: &RouteOptions<'_>,
    plan: &Plan<'_>,
    decision: Decision,
    seq: i64,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let rule_id = plan.rule.map(|r| r.id);
    let judged = &decision.judged;
    let json_of = |chosen: Option<Uuid>| {
        candidate_records(&judged.iter().map(|j| (&j.row, &j.reasons, j.weight)).collect::<Vec<_>>(), chosen)
    };
    let rule_name = plan.rule_name.as_str();
    let method = plan.method.as_str();
    let trigger = opts.trigger.as_str();
    // What every stored decision carries; each outcome fills in the rest.
    let row = NewDecision {
        lead_id: lead.id,
        rule_id,
        rule_name,
        method,
        trigger,
        outcome: "",
        chosen_lo_id: None,
        team_id: None,
        candidates: CandidateRecords::default(),
        summary: "",
        now,
    };
    match decision.choice {
        Choice::Offer { pool, minutes } => {
            speed_to_lead::offer(state, tx, lead, rule_id, &pool, now + Duration::minutes(minutes)).await?;
            let summary = format!(
                "Offered to {} eligible LO{} under rule \"{}\"; the first to claim within {} minutes gets it.",
                pool.len(),
                if pool.len() == 1 { "" } else { "s" },
                rule_name,
                minutes
            );
            let stored = NewDecision {
                outcome: "offered",
                team_id: lead.team_id,
                candidates: json_of(None),
                summary: &summary,
                ..row
            };
            store::insert_decisions(tx, vec![stored]).await?;
            Ok(Outcome::Offered)
        }
        Choice::Assign { lo, why, slots } => {
            if let Some(slots) = slots {
                store::save_turn(tx, &plan.rule_key, seq + 1, &slots, lo, now).await?;
            }
            let a = assigned(plan, opts.trigger, judged, lo, &why);
            let stored = NewDecision {
                outcome: "assigned",
                chosen_lo_id: Some(lo),
                team_id: a.team,
                candidates: a.candidates,
                summary: &a.summary,
                ..row
            };
            store::insert_decisions(tx, vec![stored]).await?;
            let reason = a.reason;
            assign(state, tx, lead, Some(lo), a.team, opts.actor, &reason, rule_id, Some(plan.sla), now).await?;
            Ok(Outcome::Assigned(lo))
        }
        Choice::Nobody if !opts.queue_when_none => Ok(Outcome::NoneEligible),
        Choice::Nobody => {
            let q = queued(plan, judged, opts.queue_team.or(lead.team_id));
            let stored = NewDecision {
                outcome: "queued",
                team_id: q.team,
                candidates: q.candidates,
                summary: &q.summary,
                ..row
            };
            store::insert_decisions(tx, vec![stored]).await?;
            send_to_queue(state, tx, lead, q.team, opts.actor, &q.summary, rule_id, now).await?;
            Ok(Outcome::Queued(q.team))
        }
    }
}

/// What is stored of a decision that found nobody eligible: the queue (the rule's first team, else
/// `fallback_team`; none: the unassigned queue), the summary and every candidate's judgement. Pure, like
/// [`assigned`].
pub struct Queued {
    pub team: Option<Uuid>,
    pub summary: String,
    pub candidates: CandidateRecords,
}

pub fn queued(plan: &Plan<'_>, judged: &[Judged], fallback_team: Option<Uuid>) -> Queued {
    let team = plan.rule.and_then(|r| r.team_ids.first().copied()).or(fallback_team);
    let total = judged.len();
    let summary = format!(
        "No eligible LO under rule \"{}\" ({} of {} LO{} considered, none eligible): waiting in the {} queue; managers alerted.",
        plan.rule_name,
        total,
        total,
        if total == 1 { "" } else { "s" },
        if team.is_some() { "team" } else { "unassigned" }
    );
    let candidates =
        candidate_records(&judged.iter().map(|j| (&j.row, &j.reasons, j.weight)).collect::<Vec<_>>(), None);
    Queued { team, summary, candidates }
}

/// What is stored of a decision that gave the lead to `lo`: its summary, the reason its assignment records,
/// the LO's team and every candidate's judgement. Pure: a decision made alone ([`route`]) and one made in a
/// batch of new leads (`batch`) are stored alike.
pub struct Assigned {
    pub summary: String,
    pub reason: String,
    pub team: Option<Uuid>,
    pub candidates: CandidateRecords,
}

pub fn assigned(plan: &Plan<'_>, trigger: Trigger, judged: &[Judged], lo: Uuid, why: &str) -> Assigned {
    let eligible_count = judged.iter().filter(|j| j.reasons.is_empty() && j.weight > 0).count();
    let total = judged.len();
    let plural = if total == 1 { "" } else { "s" };
    let chosen = judged.iter().find(|j| j.row.id == lo).map(|j| &j.row);
    let summary = format!(
        "Went to {} under rule \"{}\" ({}): {} of {} LO{} eligible.",
        chosen.map_or("", |c| c.name.as_str()),
        plan.rule_name,
        why,
        eligible_count,
        total,
        plural
    );
    let reason = match trigger {
        Trigger::NewLead => format!("Routed: {summary}"),
        Trigger::Sla => format!("Speed-to-lead missed; rerouted: {summary}"),
        Trigger::Handover => format!("Offboarding hand-over: {summary}"),
        Trigger::ClaimExpired => format!("Claim window expired; routed: {summary}"),
    };
    let candidates =
        candidate_records(&judged.iter().map(|j| (&j.row, &j.reasons, j.weight)).collect::<Vec<_>>(), Some(lo));
    Assigned { summary, reason, team: chosen.and_then(|c| c.team_id), candidates }
}

/// Every candidate's judgement, as `routing_decisions.candidates` stores it (migrations 0069, 0070): one array
/// per field, in candidate order. The LOs considered, with their weights, capacities and statuses, are the
/// decision's [`Roster`], which the decisions of a rotation share and which is stored once
/// (`store::insert_decisions`); the decision keeps its own: each LO's open leads, each distinct set of reasons
/// once (`reason_group` points into `groups`, null for an LO with none; not `why`, a key disposal scrubs) and
/// the chosen LO. Whether an LO was eligible is not stored: it follows from these as the judging decides it (no
/// reason against them, and a weight above zero or chosen all the same; `routing_candidates()`). Over a
/// 200-LO round robin a decision keeps about 1.5 KB of its own instead of 10 KB (56 KB before 0069, one object
/// per LO with their name, email and reasons), a cost that bounded intake (issue 22). `routing_candidates()`
/// expands a record into the documented list, names and emails from the users (see `store::DecisionRow`).
#[derive(Debug, Clone, Default)]
pub struct CandidateRecords {
    pub roster: Roster,
    chosen: Option<Uuid>,
    open_leads: Vec<i64>,
    reason_group: Vec<Option<usize>>,
    groups: Vec<ReasonGroup>,
}

/// The LOs a decision considered, in candidate order, with what the decisions of one rotation share: their
/// weights, capacities and statuses (`routing_rosters.body`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Roster {
    lo_id: Vec<Uuid>,
    weight: Vec<i64>,
    capacity: Vec<i32>,
    status: Vec<String>,
}

/// A decision's own part as stored, naming its roster by id.
#[derive(serde::Serialize)]
struct StoredRecord<'a> {
    v: u8,
    roster: &'a str,
    chosen: Option<Uuid>,
    open_leads: &'a [i64],
    reason_group: &'a [Option<usize>],
    groups: &'a [ReasonGroup],
}

impl CandidateRecords {
    /// The decision's stored text, its roster stored under `roster_id`.
    pub fn stored(&self, roster_id: &str) -> serde_json::Result<String> {
        serde_json::to_string(&StoredRecord {
            v: 3,
            roster: roster_id,
            chosen: self.chosen,
            open_leads: &self.open_leads,
            reason_group: &self.reason_group,
            groups: &self.groups,
        })
    }
}

/// One distinct set of reasons an LO was passed over, in words and as codes.
#[derive(Debug, Clone, serde::Serialize)]
struct ReasonGroup {
    reasons: Vec<String>,
    codes: Vec<model::Exclusion>,
}

fn candidate_records(
    judged: &[(&CandidateRow, &Vec<model::Exclusion>, i64)],
    chosen: Option<Uuid>,
) -> CandidateRecords {
    let mut r = CandidateRecords { chosen, ..Default::default() };
    for (row, reasons, weight) in judged {
        r.roster.lo_id.push(row.id);
        r.roster.weight.push(*weight);
        r.roster.capacity.push(row.capacity);
        r.roster.status.push(row.status.clone());
        r.open_leads.push(row.open_leads);
        let group = (!reasons.is_empty()).then(|| match r.groups.iter().position(|g| &g.codes == *reasons) {
            Some(i) => i,
            None => {
                let reasons_in_words = reasons.iter().map(model::Exclusion::message).collect();
                r.groups.push(ReasonGroup { reasons: reasons_in_words, codes: (*reasons).clone() });
                r.groups.len() - 1
            }
        });
        r.reason_group.push(group);
    }
    r
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
    let change = Assignment { lead_id: lead.id, to_lo: to, to_team: team, reason, rule_id, at: now };
    let assignment = crate::leads::lifecycle::assign(tx, actor, change).await?;
    let mut shared = speed_to_lead::Shared::default();
    after_assign(state, tx, lead, to, assignment, sla.map(|s| (s, None)), &mut shared, now).await?;
    shared.flush(state, tx, now).await?;
    Ok(assignment)
}

/// What follows an assignment of `lead` (history row `assignment`) to `to` (None: a queue): open claim offers
/// withdrawn, the open tasks moved, and for an LO their bell, the speed-to-lead check (`sla`, with the LO's
/// working hours when the caller has them) and the contact cadence — recorded in `shared` and written with
/// the other assignments' at its flush.
#[allow(clippy::too_many_arguments)]
pub async fn after_assign(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    to: Option<Uuid>,
    assignment: i64,
    sla: Option<(Sla, Option<WorkHours>)>,
    shared: &mut speed_to_lead::Shared,
    now: DateTime<Utc>,
) -> AppResult<()> {
    // Its open offers withdrawn and its open tasks moved with the other assignments', at the flush.
    shared.move_lead(lead.id, to, now);
    let Some(lo) = to else { return Ok(()) };
    shared.notice(lo, lead);
    if let Some((sla, hours)) = sla {
        if lead.first_call_at.is_none() && lead.stage == "new" {
            speed_to_lead::schedule_sla(state, tx, lead.id, lo, assignment, sla, hours, shared, now).await?;
        }
    }
    shared.start_cadence(lead, lo);
    Ok(())
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
    send_many_to_queue(state, tx, &[ToQueue { lead, team, actor, reason, rule_id }], now).await
}

/// Tells the managers of `team`'s queue (the organisation's managers for the unassigned queue) that `leads`
/// are waiting for an LO: one bell notification (and email) each, however many leads one routing batch sent
/// there, so a morning burst that finds every LO full alerts each manager once per batch, not once per lead.
pub async fn alert_queue(tx: &mut Transaction<'_, Postgres>, team: Option<Uuid>, leads: &[&LeadRow]) -> AppResult<()> {
    const NAMED: usize = 5;
    let names: Vec<String> = leads.iter().take(NAMED).map(|l| l.display_name()).collect();
    let title = match leads.len() {
        0 => return Ok(()),
        1 => format!("Lead waiting for an LO: {} (no eligible LO)", names.join("")),
        n if n <= NAMED => format!("{n} leads waiting for an LO: {} (no eligible LO)", names.join(", ")),
        n => format!("{n} leads waiting for an LO: {} and {} more (no eligible LO)", names.join(", "), n - NAMED),
    };
    let managers = store::managers_for(tx, team).await?;
    let told = Event::Notify { user_ids: &managers, kind: "lead_unassigned", title: &title, link: "/routing/queue" };
    crate::events::emit(tx, told).await?;
    Ok(())
}

/// A lead a routing batch found no LO for: its queue (None: the unassigned queue), who routed it, why, and
/// under which rule.
pub struct ToQueue<'a> {
    pub lead: &'a LeadRow,
    pub team: Option<Uuid>,
    pub actor: Option<&'a CurrentUser>,
    pub reason: &'a str,
    pub rule_id: Option<Uuid>,
}

/// Puts the leads one routing batch found no LO for in their queues: each lead's queue (an assignment when it
/// moves) or audit entry (when it stays), then one alert per queue ([`alert_queue`]).
pub async fn send_many_to_queue(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    queued: &[ToQueue<'_>],
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut by_team: Vec<(Option<Uuid>, Vec<&LeadRow>)> = Vec::new();
    // The audit entries of leads that stay where they are, one statement per caller: (caller, ids, afters).
    type Audits<'a> = Vec<(Option<&'a CurrentUser>, Vec<String>, Vec<Option<serde_json::Value>>)>;
    let mut audits: Audits<'_> = Vec::new();
    for ToQueue { lead, team, actor, reason, rule_id } in queued {
        if lead.assigned_lo_id.is_some() || lead.team_id != *team {
            assign(state, tx, lead, None, *team, *actor, reason, *rule_id, None, now).await?;
        } else {
            let after = Some(json!({"team_id": team, "reason": reason}));
            match audits.iter_mut().find(|(a, ..)| a.map(|a| a.id) == actor.map(|a| a.id)) {
                Some((_, ids, afters)) => {
                    ids.push(lead.id.to_string());
                    afters.push(after);
                }
                None => audits.push((*actor, vec![lead.id.to_string()], vec![after])),
            }
        }
        match by_team.iter_mut().find(|(t, _)| t == team) {
            Some((_, leads)) => leads.push(lead),
            None => by_team.push((*team, vec![lead])),
        }
    }
    for (actor, ids, afters) in &audits {
        let actor = actor.map(|a| a as &dyn crate::audit::Acts);
        crate::audit::write_many(&mut **tx, actor, "lead.queue", "lead", ids, &vec![None; ids.len()], afters).await?;
    }
    for (team, leads) in &by_team {
        alert_queue(tx, *team, leads).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn lo(n: u128, states: &[&str], status: &str) -> CandidateRow {
        CandidateRow {
            id: Uuid::from_u128(n),
            name: format!("LO {n}"),
            email: format!("lo{n}@example.com"),
            active: true,
            team_id: None,
            licensed_states: states.iter().map(|s| s.to_string()).collect(),
            capacity: 10,
            status: status.into(),
            work_start: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            work_end: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            work_days: (1..=7).collect(),
            timezone: "America/Chicago".into(),
            routing_weight: 1,
            open_leads: 0,
        }
    }

    fn facts(candidates: Vec<CandidateRow>, returning: Option<Uuid>, seq: i64) -> Facts<'static> {
        Facts {
            now: Utc::now(),
            org_tz: chrono_tz::America::Chicago,
            state_code: Some("TX"),
            exclude: &[],
            returning,
            seq,
            candidates,
            performance: vec![],
            counters: vec![],
        }
    }

    const SLA: Sla = Sla { minutes: 5, action: SlaAction::Reassign };

    #[test]
    fn the_decision_needs_no_database() {
        let p = plan(None, Trigger::NewLead, SLA);
        assert_eq!((p.rule_key.as_str(), p.method), ("default", Method::RoundRobin));
        // Only the available Texas LO is eligible; the others are judged with their reasons.
        let d = decide(
            &p,
            facts(vec![lo(1, &["CA"], "available"), lo(2, &["TX"], "away"), lo(3, &["TX"], "available")], None, 0),
        );
        assert!(matches!(d.choice, Choice::Assign { lo, slots: Some(_), .. } if lo == Uuid::from_u128(3)));
        let reasons: Vec<Vec<String>> =
            d.judged.iter().map(|j| j.reasons.iter().map(model::Exclusion::message).collect()).collect();
        assert_eq!(reasons, [vec!["not licensed in TX".to_string()], vec!["status is away".to_string()], vec![]]);
        // A returning borrower's LO, when eligible, comes before the rotation's turn.
        let d = decide(
            &p,
            facts(vec![lo(3, &["TX"], "available"), lo(4, &["TX"], "available")], Some(Uuid::from_u128(4)), 0),
        );
        assert!(matches!(d.choice, Choice::Assign { lo, slots: None, .. } if lo == Uuid::from_u128(4)));
        // Nobody eligible: nobody chosen.
        let d = decide(&p, facts(vec![lo(2, &["TX"], "away")], None, 0));
        assert!(matches!(d.choice, Choice::Nobody));
    }

    #[test]
    fn a_claim_pool_is_for_new_leads_only() {
        let rule = RuleRow {
            id: Uuid::from_u128(9),
            position: 1,
            name: "Pool".into(),
            active: true,
            sources: vec![],
            campaigns: vec![],
            states: vec![],
            purposes: vec![],
            min_amount_cents: None,
            max_amount_cents: None,
            credit_bands: vec![],
            zip_prefixes: vec![],
            team_ids: vec![],
            lo_ids: vec![],
            method: "claim".into(),
            claim_minutes: 7,
            fallback_method: "round_robin".into(),
            require_working_hours: false,
            sla_minutes: 3,
            sla_action: "reassign".into(),
            version: 1,
            created_at: Utc::now(),
        };
        let p = plan(Some(&rule), Trigger::NewLead, SLA);
        assert_eq!((p.method, p.sla.minutes), (Method::Claim, 3));
        let d = decide(&p, facts(vec![lo(1, &["TX"], "available"), lo(2, &["TX"], "available")], None, 0));
        assert!(matches!(d.choice, Choice::Offer { ref pool, minutes: 7 } if pool.len() == 2));
        // Rerouted after a missed speed-to-lead: the fallback method takes a turn instead.
        let p = plan(Some(&rule), Trigger::Sla, SLA);
        assert_eq!(p.method, Method::RoundRobin);
        let d = decide(&p, facts(vec![lo(1, &["TX"], "available")], None, 0));
        assert!(matches!(d.choice, Choice::Assign { .. }));
    }
}
