//! Speed to lead: the SLA check after each assignment, the contact cadence (due call tasks, then nurture),
//! and claim offers. All timed work is a row in the job queue, so it survives restarts and runs once.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::distribute::{self, Outcome, RouteOptions, Sla, Trigger};
use super::model::{Cadence, SlaAction};
use super::store::{self, LeadRow};
use crate::audit::Entry;
use crate::error::AppResult;
use crate::events::{Event, Notice};
use crate::jobs::{NewJob, enqueue};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlaPayload {
    pub lead_id: Uuid,
    pub lo_id: Uuid,
    pub assignment_id: i64,
    pub minutes: i64,
    pub action: String,
}

/// Queues the speed-to-lead check for an assignment, `minutes` of the LO's working time from now (`hours`: the
/// LO's working hours when the caller has them; read otherwise).
#[allow(clippy::too_many_arguments)]
pub async fn schedule_sla(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead_id: Uuid,
    lo: Uuid,
    assignment_id: i64,
    sla: Sla,
    hours: Option<super::model::WorkHours>,
    shared: &mut Shared,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let hours = match hours {
        Some(h) => Some(h),
        None => {
            sqlx::query!("SELECT work_start, work_end, work_days, timezone FROM lo_profiles WHERE user_id = $1", lo)
                .fetch_optional(&mut **tx)
                .await?
                .map(|h| {
                    super::model::WorkHours::new(
                        h.work_start,
                        h.work_end,
                        h.work_days,
                        &h.timezone,
                        state.config.timezone,
                    )
                })
        }
    };
    let due = match hours {
        Some(h) => h.due_after(now, sla.minutes),
        None => now + Duration::minutes(sla.minutes),
    };
    let payload =
        SlaPayload { lead_id, lo_id: lo, assignment_id, minutes: sla.minutes, action: sla.action.as_str().into() };
    let payload = serde_json::to_value(&payload).map_err(anyhow::Error::from)?;
    // The LO is warned when a quarter of the SLA's minutes remain before the deadline (bell, and email by their
    // preferences): inside their working hours when the deadline is, never at night before a morning deadline.
    let warn_at = (due - Duration::minutes((sla.minutes / 4).max(1))).max(now);
    shared.jobs.push(NewJob { kind: "routing.sla_warning", payload: payload.clone(), run_at: warn_at });
    shared.jobs.push(NewJob { kind: "routing.sla_check", payload, run_at: due });
    Ok(())
}

/// The warning before the SLA breaks: if the assignment still stands and the LO has not called, the LO is
/// told which lead and by when.
pub async fn run_sla_warning(state: &AppState, payload: SlaPayload) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(lead) = uncalled_assignment(&mut tx, &payload).await? else {
        return Ok(());
    };
    let title =
        format!("Call {} now: the speed-to-lead deadline ({} minutes) is close", lead.display_name(), payload.minutes);
    crate::events::notify(&mut tx, payload.lo_id, "sla_warning", &title, &format!("/leads/{}", lead.id)).await?;
    tx.commit().await?;
    Ok(())
}

/// The lead of an SLA job, locked, when its assignment still stands (no later one superseded it) and the LO
/// has not called since; None otherwise (the warning and the check then do nothing).
async fn uncalled_assignment(
    tx: &mut Transaction<'_, Postgres>,
    payload: &SlaPayload,
) -> sqlx::Result<Option<LeadRow>> {
    let Some(lead) = store::lock_lead(tx, payload.lead_id).await? else {
        return Ok(None);
    };
    let latest =
        sqlx::query_scalar!("SELECT max(id) FROM assignments WHERE lead_id = $1", lead.id).fetch_one(&mut **tx).await?;
    let Some(assigned_at) = lead.assigned_at else {
        return Ok(None);
    };
    if lead.assigned_lo_id != Some(payload.lo_id) || latest != Some(payload.assignment_id) {
        return Ok(None);
    }
    if called_since(tx, &lead, payload.lo_id, assigned_at).await? {
        return Ok(None);
    }
    Ok(Some(lead))
}

/// Whether the LO logged a call attempt on the lead since `since`.
async fn called_since(
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    lo: Uuid,
    since: DateTime<Utc>,
) -> sqlx::Result<bool> {
    if lead.first_call_at.is_some_and(|t| t >= since) {
        return Ok(true);
    }
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM activities WHERE lead_id = $1 AND kind = 'call' AND actor_id = $2 AND occurred_at >= $3) AS "x!""#,
        lead.id,
        lo,
        since
    )
    .fetch_one(&mut **tx)
    .await
}

/// The SLA check: if the assignment still stands and the LO has not called, reassign by the rule (when
/// someone else is eligible) or escalate to the managers.
pub async fn run_sla_check(state: &AppState, payload: SlaPayload, _now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(lead) = uncalled_assignment(&mut tx, &payload).await? else {
        return Ok(());
    };
    let lo_name = store::lo_by_id(&mut *tx, payload.lo_id).await?.map(|l| l.name).unwrap_or_else(|| "the LO".into());
    let mut escalate = SlaAction::parse(&payload.action) == Some(SlaAction::Escalate);
    if !escalate {
        let opts = RouteOptions {
            trigger: Trigger::Sla,
            actor: None,
            exclude: vec![(
                payload.lo_id,
                format!("missed the speed-to-lead SLA ({} min without a call)", payload.minutes),
            )],
            queue_when_none: false,
            queue_team: None,
        };
        match distribute::route(state, &mut tx, &lead, &opts).await.map_err(app_to_anyhow)? {
            Outcome::Assigned(_) => {
                crate::events::notify(
                    &mut tx,
                    payload.lo_id,
                    "lead_reassigned",
                    &format!("{} was reassigned: no call within {} minutes", lead.display_name(), payload.minutes),
                    "/leads",
                )
                .await?;
            }
            _ => escalate = true,
        }
    }
    if escalate {
        let title = format!(
            "Speed-to-lead missed: {} has not been called by {} within {} minutes",
            lead.display_name(),
            lo_name,
            payload.minutes
        );
        for m in store::managers_for(&mut tx, lead.team_id).await? {
            crate::events::notify(&mut tx, m, "sla_escalated", &title, &format!("/leads/{}", lead.id)).await?;
        }
        Entry::new(None, "lead.sla_escalated", "lead", lead.id)
            .after(json!({"lo_id": payload.lo_id, "minutes": payload.minutes}))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn app_to_anyhow(e: crate::error::AppError) -> anyhow::Error {
    match e {
        crate::error::AppError::Internal(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn cadence(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Cadence> {
    Ok(Cadence::from_setting(store::setting(&mut **tx, "routing.cadence").await?.as_ref()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CadencePayload {
    pub lead_id: Uuid,
    pub step: i32,
}

/// What the follow-ups of several assignments share, each read at most once (a batch of new leads reads them
/// once for the batch): the cadence setting and the calling rules (every state's calling window, the area
/// codes); and what they write, together and set-based, in [`Shared::flush`], which whoever made the `Shared`
/// calls before its transaction commits: the moved leads' offers and tasks, the contact cadences started, the
/// LOs' bell notices and the timed jobs.
#[derive(Default)]
pub struct Shared {
    cadence: Option<Cadence>,
    calling: Option<crate::leads::consent::CallingRules>,
    jobs: Vec<NewJob>,
    /// Leads assigned (to an LO, or to a queue: None), and when.
    moved: Vec<(Uuid, Option<Uuid>, DateTime<Utc>)>,
    /// Leads given to an LO, whose contact cadence starts (or follows them to that LO).
    cadences: Vec<(LeadRow, Uuid)>,
    /// Bell notices of kind `lead_assigned`.
    notices: Vec<Notice>,
}

impl Shared {
    /// Records that `lead` went to `to` at `at`: at the flush its open claim offers are withdrawn and its open
    /// tasks move to `to` (with the tasks the cadence gives `to` meanwhile, which are `to`'s already).
    pub fn move_lead(&mut self, lead: Uuid, to: Option<Uuid>, at: DateTime<Utc>) {
        self.moved.push((lead, to, at));
    }

    /// Tells `lo` of their new lead at the flush.
    pub fn notice(&mut self, lo: Uuid, lead: &LeadRow) {
        let (title, link) = (format!("New lead for you: {}", lead.display_name()), format!("/leads/{}", lead.id));
        self.notices.push(Notice { user_id: lo, title, link });
    }

    /// Starts `lead`'s contact cadence with `lo` at the flush (see [`start_cadences`]).
    pub fn start_cadence(&mut self, lead: &LeadRow, lo: Uuid) {
        self.cadences.push((lead.clone(), lo));
    }

    /// Writes what the assignments' follow-ups asked for, a few statements whatever their number: the moved
    /// leads' offers and tasks, the cadences, the notices, the jobs.
    pub async fn flush(
        &mut self,
        state: &AppState,
        tx: &mut Transaction<'_, Postgres>,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        let moved = std::mem::take(&mut self.moved);
        if !moved.is_empty() {
            let leads: Vec<Uuid> = moved.iter().map(|m| m.0).collect();
            let owners: Vec<Option<Uuid>> = moved.iter().map(|m| m.1).collect();
            let ats: Vec<DateTime<Utc>> = moved.iter().map(|m| m.2).collect();
            sqlx::query!(
                "WITH moved AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS x(lead, lo, at)),
                 withdrawn AS (
                   UPDATE claim_offers o SET resolution = 'withdrawn', resolved_at = m.at
                   FROM moved m WHERE o.lead_id = m.lead AND o.resolution IS NULL)
                 UPDATE tasks t SET owner_id = m.lo FROM moved m WHERE t.lead_id = m.lead AND t.done_at IS NULL",
                &leads,
                &owners as &[Option<Uuid>],
                &ats
            )
            .execute(&mut **tx)
            .await?;
        }
        let mut cadences = std::mem::take(&mut self.cadences);
        // A lead given twice before the flush starts one cadence, with the LO it went to last.
        let mut last: HashSet<Uuid> = HashSet::new();
        cadences.reverse();
        cadences.retain(|(lead, _)| last.insert(lead.id));
        cadences.reverse();
        start_cadences(state, tx, &cadences, self, now).await?;
        let notices = std::mem::take(&mut self.notices);
        if !notices.is_empty() {
            crate::events::emit(tx, Event::NotifyEach { kind: "lead_assigned", notices: &notices }).await?;
        }
        let jobs = std::mem::take(&mut self.jobs);
        Ok(crate::jobs::enqueue_each(tx, &jobs).await?)
    }

    async fn cadence(&mut self, tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Cadence> {
        if let Some(c) = &self.cadence {
            return Ok(c.clone());
        }
        let c = cadence(tx).await?;
        self.cadence = Some(c.clone());
        Ok(c)
    }

    /// When `lead` may first be called at or after `at`: the borrower's calling window (`hours` as for
    /// `leads::store::callable_from`, which this is with the rules read once).
    async fn callable_from(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        lead: &LeadRow,
        at: DateTime<Utc>,
        hours: Option<chrono_tz::Tz>,
    ) -> sqlx::Result<DateTime<Utc>> {
        let Some(org) = hours else { return Ok(at) };
        if self.calling.is_none() {
            self.calling = Some(crate::leads::store::calling_rules(tx).await?);
        }
        Ok(self
            .calling
            .as_ref()
            .map_or(at, |r| r.window_for(lead.property_state.as_deref(), lead.phone.as_deref(), org).next_allowed(at)))
    }
}

/// Starts the contact cadence of each lead given to an LO (`starts`: the lead and its LO), set-based: a lead
/// whose cadence ran before hands it to the new LO; one already contacted or past `new` has it marked
/// contacted; one whose borrower opted out of calls gets none; every other gets its first call attempt, due
/// within the borrower's calling hours, and the job of its next step.
async fn start_cadences(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    starts: &[(LeadRow, Uuid)],
    shared: &mut Shared,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if starts.is_empty() {
        return Ok(());
    }
    let (ids, officers): (Vec<Uuid>, Vec<Uuid>) = starts.iter().map(|(l, lo)| (l.id, *lo)).unzip();
    let started: HashSet<Uuid> = sqlx::query_scalar!(
        r#"INSERT INTO lead_cadences (lead_id, lo_id, started_at)
           SELECT l, o, $3 FROM UNNEST($1::uuid[], $2::uuid[]) AS x(l, o)
           ON CONFLICT (lead_id) DO NOTHING RETURNING lead_id"#,
        &ids,
        &officers,
        now
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let (handed, moved_to): (Vec<Uuid>, Vec<Uuid>) =
        starts.iter().filter(|(l, _)| !started.contains(&l.id)).map(|(l, lo)| (l.id, *lo)).unzip();
    if !handed.is_empty() {
        sqlx::query!(
            "UPDATE lead_cadences c SET lo_id = x.o, updated_at = $3
             FROM UNNEST($1::uuid[], $2::uuid[]) AS x(l, o) WHERE c.lead_id = x.l",
            &handed,
            &moved_to,
            now
        )
        .execute(&mut **tx)
        .await?;
    }
    let new: Vec<&(LeadRow, Uuid)> = starts.iter().filter(|(l, _)| started.contains(&l.id)).collect();
    let contacted: Vec<Uuid> =
        new.iter().filter(|(l, _)| l.first_contact_at.is_some() || l.stage != "new").map(|(l, _)| l.id).collect();
    if !contacted.is_empty() {
        sqlx::query!("UPDATE lead_cadences SET status = 'contacted' WHERE lead_id = ANY($1)", &contacted)
            .execute(&mut **tx)
            .await?;
    }
    let fresh: Vec<&(LeadRow, Uuid)> = new.into_iter().filter(|(l, _)| !contacted.contains(&l.id)).collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let fresh_ids: Vec<Uuid> = fresh.iter().map(|(l, _)| l.id).collect();
    let callable = crate::leads::store::may_call_each(tx, &fresh_ids).await?;
    let c = shared.cadence(tx).await?;
    // The cadence starts now, so no voicemail has been left within it yet; an attempt is due no earlier than
    // the borrower's calling hours allow.
    let first = now + Duration::minutes(c.attempts[0].0);
    let mut tasks: Vec<(Uuid, Uuid, DateTime<Utc>)> = Vec::with_capacity(fresh.len());
    for (lead, lo) in fresh {
        if !callable.contains(&lead.id) {
            // Opted out of calls before an LO got the lead: no call attempts are scheduled.
            crate::leads::store::stop_calls(tx, lead.id, now).await?;
            continue;
        }
        let due = shared.callable_from(tx, lead, first, state.config.calling_hours()).await?;
        tasks.push((lead.id, *lo, due));
        shared.jobs.push(cadence_job(lead.id, &c, 1, now));
    }
    insert_attempt_tasks(tx, &tasks, &c.task_title(0, 0), now).await?;
    Ok(())
}

/// The first call attempt of each started cadence: (lead, LO, due), all with the same title.
async fn insert_attempt_tasks(
    tx: &mut Transaction<'_, Postgres>,
    tasks: &[(Uuid, Uuid, DateTime<Utc>)],
    title: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let leads: Vec<Uuid> = tasks.iter().map(|t| t.0).collect();
    let owners: Vec<Uuid> = tasks.iter().map(|t| t.1).collect();
    let dues: Vec<DateTime<Utc>> = tasks.iter().map(|t| t.2).collect();
    sqlx::query!(
        "INSERT INTO tasks (lead_id, owner_id, kind, title, due_at, created_at)
         SELECT l, o, 'cadence', $4, d, $5 FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS x(l, o, d)",
        &leads,
        &owners,
        &dues,
        title,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn create_attempt_task(
    tx: &mut Transaction<'_, Postgres>,
    lead_id: Uuid,
    lo: Uuid,
    c: &Cadence,
    step: usize,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    hours: Option<chrono_tz::Tz>,
) -> sqlx::Result<()> {
    let voicemails = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM activities WHERE lead_id = $1 AND outcome = 'voicemail' AND occurred_at >= $2"#,
        lead_id,
        started
    )
    .fetch_one(&mut **tx)
    .await?;
    // An attempt is due no earlier than the borrower's calling hours allow.
    let due =
        crate::leads::store::callable_from(tx, lead_id, started + Duration::minutes(c.attempts[step].0), hours).await?;
    insert_attempt_tasks(tx, &[(lead_id, lo, due)], &c.task_title(step, voicemails), now).await
}

async fn schedule_next(
    tx: &mut Transaction<'_, Postgres>,
    lead_id: Uuid,
    c: &Cadence,
    next_step: usize,
    started: DateTime<Utc>,
) -> sqlx::Result<()> {
    let job = cadence_job(lead_id, c, next_step, started);
    enqueue(tx, job.kind, job.payload, job.run_at, None).await?;
    Ok(())
}

/// The cadence's job for step `next_step` (an attempt), or its end after the last one.
fn cadence_job(lead_id: Uuid, c: &Cadence, next_step: usize, started: DateTime<Utc>) -> NewJob {
    let payload = json!({"lead_id": lead_id, "step": next_step});
    if next_step < c.attempts.len() {
        NewJob { kind: "routing.cadence_step", payload, run_at: started + Duration::minutes(c.attempts[next_step].0) }
    } else {
        let last = c.attempts.last().map(|a| a.1).unwrap_or(0);
        NewJob { kind: "routing.cadence_end", payload, run_at: started + Duration::minutes(last) }
    }
}

/// Whether anyone reached the borrower (or the lead moved on) since the cadence started.
async fn contacted(tx: &mut Transaction<'_, Postgres>, lead: &LeadRow, since: DateTime<Utc>) -> sqlx::Result<bool> {
    if lead.first_contact_at.is_some() || lead.stage != "new" {
        return Ok(true);
    }
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM activities WHERE lead_id = $1 AND outcome = 'contacted' AND occurred_at >= $2) AS "x!""#,
        lead.id,
        since
    )
    .fetch_one(&mut **tx)
    .await
}

/// Closes cadence tasks the LO has made a call for since the task was due to start.
async fn close_called_tasks(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE tasks t SET done_at = c.at
         FROM (SELECT t2.id, min(a.occurred_at) AS at FROM tasks t2
               JOIN activities a ON a.lead_id = t2.lead_id AND a.kind = 'call' AND a.actor_id = t2.owner_id
                                AND a.occurred_at >= t2.created_at
               WHERE t2.lead_id = $1 AND t2.kind = 'cadence' AND t2.done_at IS NULL GROUP BY t2.id) c
         WHERE t.id = c.id",
        lead_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One cadence step: stop if the borrower was reached, otherwise put the next attempt in the LO's queue.
pub async fn run_cadence_step(
    state: &AppState,
    p: CadencePayload,
    now: DateTime<Utc>,
    end: bool,
) -> anyhow::Result<()> {
    let _ = state;
    let mut tx = state.db.begin().await?;
    let Some(lead) = store::lock_lead(&mut tx, p.lead_id).await? else {
        return Ok(());
    };
    let Some(cad) = sqlx::query!(
        "SELECT lo_id, started_at, step, status FROM lead_cadences WHERE lead_id = $1 FOR UPDATE",
        p.lead_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(());
    };
    if cad.status != "active" || p.step != cad.step + 1 {
        return Ok(());
    }
    if !crate::leads::store::may_call(&mut tx, lead.id).await? {
        // The borrower opted out of calls since the last step: the cadence stops, no further attempt.
        crate::leads::store::stop_calls(&mut tx, lead.id, now).await?;
        tx.commit().await?;
        return Ok(());
    }
    close_called_tasks(&mut tx, lead.id).await?;
    if contacted(&mut tx, &lead, cad.started_at).await? {
        sqlx::query!("UPDATE lead_cadences SET status = 'contacted', updated_at = $2 WHERE lead_id = $1", lead.id, now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(());
    }
    let Some(lo) = lead.assigned_lo_id else {
        sqlx::query!("UPDATE lead_cadences SET status = 'stopped', updated_at = $2 WHERE lead_id = $1", lead.id, now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(());
    };
    let c = cadence(&mut tx).await?;
    if end {
        // The schedule ran out with no contact: the lead goes to nurture, with the reason on record.
        let attempts = c.attempts.len();
        let reason = format!("Moved to nurture: no contact after the {attempts}-attempt cadence");
        let change = crate::leads::lifecycle::StageChange {
            lead_id: lead.id,
            from: Some(&lead.stage),
            to: "nurture",
            lo_id: Some(lo),
            lost_reason: None,
            origin: "cadence",
            at: now,
            by: None,
            note: json!({ "reason": reason }),
        };
        crate::leads::lifecycle::change_stage(&mut tx, None, change, now).await?;
        sqlx::query!(
            "INSERT INTO activities (lead_id, kind, body, occurred_at, created_at) VALUES ($1, 'note', $2, $3, $3)",
            lead.id,
            reason,
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE lead_cadences SET status = 'completed', step = $2, updated_at = $3 WHERE lead_id = $1",
            lead.id,
            p.step,
            now
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(());
    }
    let step = p.step as usize;
    if step >= c.attempts.len() {
        // The schedule was shortened since this step was queued: finish now.
        schedule_next(&mut tx, lead.id, &c, c.attempts.len(), cad.started_at).await?;
    } else {
        create_attempt_task(&mut tx, lead.id, lo, &c, step, cad.started_at, now, state.config.calling_hours()).await?;
        schedule_next(&mut tx, lead.id, &c, step + 1, cad.started_at).await?;
    }
    sqlx::query!("UPDATE lead_cadences SET step = $2, updated_at = $3 WHERE lead_id = $1", lead.id, p.step, now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Offers a lead to a pool of LOs until `expires_at`, then the rule's fallback method decides.
pub async fn offer(
    _state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    lead: &LeadRow,
    rule_id: Option<Uuid>,
    pool: &[Uuid],
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    let id = sqlx::query_scalar!(
        "INSERT INTO claim_offers (lead_id, rule_id, lo_ids, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
        lead.id,
        rule_id,
        pool,
        expires_at
    )
    .fetch_one(&mut **tx)
    .await?;
    for lo in pool {
        crate::events::notify(
            tx,
            *lo,
            "lead_offered",
            &format!("Lead up for grabs: {} — first to claim gets it", lead.display_name()),
            "/routing/queue",
        )
        .await?;
    }
    enqueue(tx, "routing.claim_expire", json!({"offer_id": id}), expires_at, None).await?;
    Entry::new(None, "lead.offer", "lead", lead.id)
        .after(json!({"offer_id": id, "lo_ids": pool, "expires_at": expires_at}))
        .write(&mut **tx)
        .await?;
    Ok(())
}

/// An LO claims an open offer; the first claim wins, later ones get a conflict.
pub async fn claim(state: &AppState, user: &crate::auth::CurrentUser, offer_id: i64) -> AppResult<Uuid> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let offer = sqlx::query!(
        "SELECT lead_id, rule_id, lo_ids, expires_at, resolution FROM claim_offers WHERE id = $1 FOR UPDATE",
        offer_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .filter(|o| o.lo_ids.contains(&user.id))
    .ok_or(crate::error::AppError::NotFound)?;
    if offer.resolution.is_some() || offer.expires_at <= now {
        return Err(crate::error::AppError::conflict("Someone else claimed this lead, or the offer has expired."));
    }
    let lead = store::lock_lead(&mut tx, offer.lead_id).await?.ok_or(crate::error::AppError::NotFound)?;
    let rule = match offer.rule_id {
        Some(r) => store::find_rule(&mut *tx, r).await?,
        None => None,
    };
    let sla = match &rule {
        Some(r) => Sla {
            minutes: i64::from(r.sla_minutes),
            action: SlaAction::parse(&r.sla_action).unwrap_or(SlaAction::Reassign),
        },
        None => distribute::default_sla(&mut tx).await?,
    };
    sqlx::query!(
        "UPDATE claim_offers SET resolution = 'claimed', claimed_by = $2, resolved_at = $3 WHERE id = $1",
        offer_id,
        user.id,
        now
    )
    .execute(&mut *tx)
    .await?;
    distribute::assign(
        state,
        &mut tx,
        &lead,
        Some(user.id),
        user.team_id,
        Some(user),
        "Claimed from the offer pool",
        offer.rule_id,
        Some(sla),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(lead.id)
}

/// An offer nobody claimed in time: the rule's fallback method routes the lead.
pub async fn run_claim_expire(state: &AppState, offer_id: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(offer) = sqlx::query!("SELECT lead_id, resolution FROM claim_offers WHERE id = $1 FOR UPDATE", offer_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(());
    };
    if offer.resolution.is_some() {
        return Ok(());
    }
    sqlx::query!("UPDATE claim_offers SET resolution = 'expired', resolved_at = $2 WHERE id = $1", offer_id, now)
        .execute(&mut *tx)
        .await?;
    let Some(lead) = store::lock_lead(&mut tx, offer.lead_id).await? else {
        return Ok(());
    };
    if lead.assigned_lo_id.is_none() {
        let opts = RouteOptions {
            trigger: Trigger::ClaimExpired,
            actor: None,
            exclude: vec![],
            queue_when_none: true,
            queue_team: None,
        };
        distribute::route(state, &mut tx, &lead, &opts).await.map_err(app_to_anyhow)?;
    }
    tx.commit().await?;
    Ok(())
}
