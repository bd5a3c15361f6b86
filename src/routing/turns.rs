//! A batch of new leads routed set-based (issue 22): the rules, each rotation's candidates, position and
//! counters are read once per batch; each lead's decision is made in memory, in arrival order, by the same
//! [`distribute::decide`] a single lead uses, on those facts as the earlier leads of the batch left them (the
//! chosen LO's open leads one higher, the rotation one turn on); then the decisions, the rotations' new
//! positions and the assignments are written in a few statements for the whole batch.
//!
//! Only the plain turns are taken here: round robin, weighted round robin and availability-first, for a lead
//! with no returning borrower's LO; with nobody eligible, the lead goes to its queue from the batch as well.
//! Anything else (a claim pool, performance weighting, a returning borrower) is routed alone by
//! [`distribute::route`], after what the batch
//! decided so far is written, so it reads the same state a lead-by-lead routing would have left; the batch then
//! reads its facts afresh. The result is the decision lead-by-lead routing makes, lead for lead
//! (`tests/routing.rs` checks fairness and capacity across a burst).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::distribute::{self, Choice, Facts, Sla, Trigger};
use super::model::{Method, WorkHours};
use super::store::{self, CandidateRow, LeadRow, NewDecision, RuleRow, TurnState};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::leads::lifecycle::Assignment;
use crate::state::AppState;

/// One rotation as the batch has moved it.
struct Rotation {
    seq: i64,
    candidates: Vec<CandidateRow>,
    /// Each LO's stored place: (credit, last_seq, era, last_assigned).
    counters: HashMap<Uuid, (i64, i64, i64, i64)>,
    /// LOs whose place changed in this batch, with the leads the batch gave them.
    touched: HashMap<Uuid, i64>,
    last_lo: Option<Uuid>,
}

/// A decision made in memory, not yet written.
struct Decided {
    lead: LeadRow,
    actor: Option<CurrentUser>,
    rule_id: Option<Uuid>,
    rule_name: String,
    method: &'static str,
    outcome: Decision,
}

enum Decision {
    /// To an LO, with the speed-to-lead settings and the LO's working hours.
    Assigned { lo: Uuid, record: distribute::Assigned, sla: Sla, hours: Option<WorkHours> },
    /// Nobody eligible: to a queue (which changes no rotation and no LO's load).
    Queued(distribute::Queued),
}

/// The batch's state: what it read, and what it decided and has not written yet.
pub struct Turns<'s> {
    state: &'s AppState,
    now: DateTime<Utc>,
    rules: Vec<RuleRow>,
    default_sla: Sla,
    rotations: HashMap<String, Rotation>,
    /// Open leads each LO gained in this batch, on top of the counts the rotations read.
    gained: HashMap<Uuid, i64>,
    decided: Vec<Decided>,
    /// Each lead's returning borrower's LO, read for the whole batch at its start ([`Turns::expect`]).
    returning: HashMap<Uuid, Uuid>,
    /// The borrowers (email, phone) of the leads this batch has taken so far, however they were routed.
    earlier: Vec<(Option<String>, Option<String>)>,
}

impl<'s> Turns<'s> {
    /// Reads the active rules and the default speed-to-lead settings (the caller holds every rotation's lock).
    pub async fn start(state: &'s AppState, tx: &mut Transaction<'_, Postgres>) -> AppResult<Turns<'s>> {
        Ok(Turns {
            state,
            now: state.clock.now(),
            rules: store::active_rules(tx).await?,
            default_sla: distribute::default_sla(tx).await?,
            rotations: HashMap::new(),
            gained: HashMap::new(),
            decided: Vec::new(),
            returning: HashMap::new(),
            earlier: Vec::new(),
        })
    }

    /// Reads, in one statement, the returning borrowers' LOs of the leads the batch will decide.
    pub async fn expect(&mut self, tx: &mut Transaction<'_, Postgres>, leads: &[&LeadRow]) -> AppResult<()> {
        self.returning =
            if leads.is_empty() { HashMap::new() } else { returning_borrowers_officers(tx, leads).await? };
        Ok(())
    }

    /// Decides a new, unrouted lead in memory when it is a plain turn or the queue: Some(its LO, None when
    /// queued); None when it must be routed alone.
    pub async fn decide(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        lead: &LeadRow,
        actor: Option<&CurrentUser>,
    ) -> AppResult<Option<Option<Uuid>>> {
        let facts = lead.facts();
        let rule = self.rules.iter().find(|r| r.filters().matches(&facts));
        // `plan` takes the default response time only when no rule matched (a rule carries its own).
        let plan = distribute::plan(rule, Trigger::NewLead, self.default_sla);
        if matches!(plan.method, Method::Claim | Method::PerformanceWeighted) {
            return Ok(None);
        }
        // A borrower taken earlier in this batch is a returning borrower once that is written: routed alone,
        // which reads the database as the batch has left it.
        let same = |a: Option<&str>, b: Option<&str>| {
            a.zip(b).is_some_and(|(a, b)| a.trim().to_lowercase() == b.trim().to_lowercase())
        };
        let again = self.earlier.iter().any(|(email, phone)| {
            same(email.as_deref(), lead.email.as_deref()) || same(phone.as_deref(), lead.phone.as_deref())
        });
        self.earlier.push((lead.email.clone(), lead.phone.clone()));
        if again || self.returning.contains_key(&lead.id) {
            return Ok(None);
        }
        if !self.rotations.contains_key(&plan.rule_key) {
            let rotation = read_rotation(tx, plan.rule, &plan.rule_key).await?;
            self.rotations.insert(plan.rule_key.clone(), rotation);
        }
        let Some(rotation) = self.rotations.get_mut(&plan.rule_key) else { return Ok(None) };
        let mut candidates = rotation.candidates.clone();
        for c in &mut candidates {
            c.open_leads += self.gained.get(&c.id).copied().unwrap_or(0);
        }
        let counters = rotation.counters.iter().map(|(lo, c)| (*lo, c.0, c.1, c.2, c.3)).collect();
        let facts = Facts {
            now: self.now,
            org_tz: self.state.config.timezone,
            state_code: lead.property_state.as_deref(),
            exclude: &[],
            returning: None,
            seq: rotation.seq,
            candidates,
            performance: vec![],
            counters,
        };
        let decision = distribute::decide(&plan, facts);
        let (rule_id, rule_name, method) = (plan.rule.map(|r| r.id), plan.rule_name.clone(), plan.method.as_str());
        let (lead, actor) = (lead.clone(), actor.cloned());
        let (lo, why, slots) = match &decision.choice {
            Choice::Assign { lo, why, slots: Some(slots) } => (*lo, why, slots),
            Choice::Nobody => {
                let outcome = Decision::Queued(distribute::queued(&plan, &decision.judged, lead.team_id));
                self.decided.push(Decided { lead, actor, rule_id, rule_name, method, outcome });
                return Ok(Some(None));
            }
            _ => return Ok(None),
        };
        let turn = rotation.seq + 1;
        for s in slots {
            rotation.counters.insert(s.lo_id, (s.credit, turn, s.era, s.last_assigned));
            rotation.touched.entry(s.lo_id).or_insert(0);
        }
        *rotation.touched.entry(lo).or_insert(0) += 1;
        (rotation.seq, rotation.last_lo) = (turn, Some(lo));
        *self.gained.entry(lo).or_insert(0) += 1;
        let org_tz = self.state.config.timezone;
        let hours = decision.judged.iter().find(|j| j.row.id == lo).map(|j| distribute::hours_of(&j.row, org_tz));
        let record = distribute::assigned(&plan, Trigger::NewLead, &decision.judged, lo, why);
        let outcome = Decision::Assigned { lo, record, sla: plan.sla, hours };
        self.decided.push(Decided { lead, actor, rule_id, rule_name, method, outcome });
        Ok(Some(Some(lo)))
    }

    /// Writes what the batch decided: each rotation's new position and counters, the decisions, the
    /// assignments (a few statements each for the whole batch), then what follows each assignment.
    pub async fn write(&mut self, tx: &mut Transaction<'_, Postgres>) -> AppResult<()> {
        for (key, r) in &mut self.rotations {
            let Some(last_lo) = r.last_lo else { continue };
            let officers: Vec<TurnState> = r
                .touched
                .drain()
                .map(|(lo_id, assigned)| {
                    let (credit, last_seq, era, last_assigned) = r.counters.get(&lo_id).copied().unwrap_or_default();
                    TurnState { lo_id, credit, last_seq, era, last_assigned, assigned }
                })
                .collect();
            store::save_turns(tx, key, r.seq, last_lo, &officers, self.now).await?;
            r.last_lo = None;
        }
        let mut decided = std::mem::take(&mut self.decided);
        if decided.is_empty() {
            return Ok(());
        }
        let rows: Vec<NewDecision<'_>> = decided
            .iter_mut()
            .map(|d| {
                // Every candidate's judgement moves into its stored row (it is not needed after).
                let candidates = match &mut d.outcome {
                    Decision::Assigned { record, .. } => std::mem::take(&mut record.candidates),
                    Decision::Queued(q) => std::mem::take(&mut q.candidates),
                };
                let d: &Decided = d;
                let (outcome, chosen_lo_id, team_id, summary) = match &d.outcome {
                    Decision::Assigned { lo, record, .. } => {
                        ("assigned", Some(*lo), record.team, record.summary.as_str())
                    }
                    Decision::Queued(q) => ("queued", None, q.team, q.summary.as_str()),
                };
                NewDecision {
                    lead_id: d.lead.id,
                    rule_id: d.rule_id,
                    rule_name: &d.rule_name,
                    method: d.method,
                    trigger: Trigger::NewLead.as_str(),
                    outcome,
                    chosen_lo_id,
                    team_id,
                    candidates,
                    summary,
                    now: self.now,
                }
            })
            .collect();
        store::insert_decisions(tx, rows).await?;
        // One set of assignment statements per caller (the history and audit entries name who routed).
        let mut history: HashMap<Uuid, i64> = HashMap::with_capacity(decided.len());
        let mut by_actor: Vec<(Option<&CurrentUser>, Vec<Assignment<'_>>)> = Vec::new();
        for d in &decided {
            let Decision::Assigned { lo, record, .. } = &d.outcome else { continue };
            let change = Assignment {
                lead_id: d.lead.id,
                to_lo: Some(*lo),
                to_team: record.team,
                reason: &record.reason,
                rule_id: d.rule_id,
                at: self.now,
            };
            let actor = d.actor.as_ref();
            match by_actor.iter_mut().find(|(a, _)| a.map(|a| a.id) == actor.map(|a| a.id)) {
                Some((_, changes)) => changes.push(change),
                None => by_actor.push((actor, vec![change])),
            }
        }
        for (actor, changes) in &by_actor {
            let ids = crate::leads::lifecycle::assign_each(tx, *actor, changes).await?;
            history.extend(changes.iter().map(|c| c.lead_id).zip(ids));
        }
        let mut shared = super::speed_to_lead::Shared::default();
        let mut queued = Vec::new();
        for d in &decided {
            let (lead, actor) = (&d.lead, d.actor.as_ref());
            match &d.outcome {
                Decision::Assigned { lo, sla, hours, .. } => {
                    let assignment = history.get(&lead.id).copied().unwrap_or_default();
                    let sla = Some((*sla, hours.clone()));
                    distribute::after_assign(self.state, tx, lead, Some(*lo), assignment, sla, &mut shared, self.now)
                        .await?;
                }
                Decision::Queued(q) => queued.push(distribute::ToQueue {
                    lead,
                    team: q.team,
                    actor,
                    reason: &q.summary,
                    rule_id: d.rule_id,
                }),
            }
        }
        shared.flush(self.state, tx, self.now).await?;
        distribute::send_many_to_queue(self.state, tx, &queued, self.now).await
    }

    /// Forgets what the batch read (a lead routed alone has moved the rotations and the LOs' loads).
    pub fn reread(&mut self) {
        self.rotations.clear();
        self.gained.clear();
    }
}

/// [`store::returning_borrower_lo`] for every lead of a routing batch in one statement: each lead's returning
/// borrower's LO, for the leads that have one (as the database stands when the batch starts).
async fn returning_borrowers_officers(
    tx: &mut Transaction<'_, Postgres>,
    leads: &[&LeadRow],
) -> sqlx::Result<HashMap<Uuid, Uuid>> {
    let trimmed = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let ids: Vec<Uuid> = leads.iter().map(|l| l.id).collect();
    let emails: Vec<Option<String>> = leads.iter().map(|l| trimmed(&l.email)).collect();
    let phones: Vec<Option<String>> = leads.iter().map(|l| trimmed(&l.phone)).collect();
    let rows = sqlx::query!(
        // Per lead, the matches come from the email and phone indexes (`OFFSET 0` keeps the planner from walking
        // the created_at index instead), as in `returning_borrower_lo`.
        r#"SELECT x.id AS "lead!", r.lo AS "lo!"
           FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS x(id, email, phone)
           CROSS JOIN LATERAL (
             SELECT m.assigned_lo_id AS lo FROM (
               SELECT l.assigned_lo_id, l.created_at FROM leads l
               WHERE l.id <> x.id AND l.assigned_lo_id IS NOT NULL
                 AND ((l.email IS NOT NULL AND lower(l.email) = lower(x.email) AND x.email IS NOT NULL)
                      OR (l.phone IS NOT NULL AND l.phone = x.phone AND x.phone IS NOT NULL))
               OFFSET 0) m
             JOIN users u ON u.id = m.assigned_lo_id
             WHERE u.active AND u.originator ORDER BY m.created_at DESC LIMIT 1) r
           WHERE x.email IS NOT NULL OR x.phone IS NOT NULL"#,
        &ids,
        &emails as &[Option<String>],
        &phones as &[Option<String>]
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.lead, r.lo)).collect())
}

/// The facts of rotation `key` under `rule` (None: the default round robin): its locked position, its candidates and
/// their stored places.
async fn read_rotation(tx: &mut Transaction<'_, Postgres>, rule: Option<&RuleRow>, key: &str) -> AppResult<Rotation> {
    let (everyone, team_ids, lo_ids) = distribute::target(rule);
    let seq = store::lock_position(tx, key).await?;
    let candidates = store::candidates(tx, everyone, &team_ids, &lo_ids).await?;
    let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
    let counters =
        store::counters(tx, key, &ids).await?.into_iter().map(|(lo, a, b, c, d)| (lo, (a, b, c, d))).collect();
    Ok(Rotation { seq, candidates, counters, touched: HashMap::new(), last_lo: None })
}
