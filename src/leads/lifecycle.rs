//! The one lead lifecycle (issue 16). Every kind of change to a lead's place in the pipeline goes through one
//! function here, in the caller's transaction, and leaves the same traces whichever path made it:
//!
//! - a **new lead** ([`record_created`]: the lead page, the API, the CSV import): the `stage_changes` row into
//!   `new`, one audit entry [`CREATED`] and the `lead.created` event;
//! - a **stage change** ([`change_stage`]: the lead page and the API, the cadence's move to nurture, the LOS
//!   status import, a merged duplicate's move to lost; [`import_stage_history`]: the history import): the
//!   `stage_changes` row, one audit entry [`STAGE_CHANGED`] and the `lead.stage_changed` event, plus
//!   `lead.funded` for a move to `funded` (whose consumer makes the portfolio loan);
//! - an **assignment** ([`assign`] and [`assign_many`]: routing, the SLA, a reassignment one at a time or in
//!   bulk, offboarding, a claim, the LO's own new lead, the CSV import): the `assignments` row, one audit entry
//!   [`ASSIGNED`] and the `lead.assigned` event.
//!
//! Each is written set-based, so a bulk change of ten thousand leads costs a few statements, and a single
//! change is the same code with one element. Callers decide whether a move is allowed by their own rule (the
//! page's transition check, the LOS's forward-only rule, the cadence's end) before calling. Metric
//! contributions follow from the rows written here (the rollup triggers, or the import's one set-based step).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::audit::{Acts, write_each, write_many};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::events::{LEAD_ASSIGNED, LEAD_CREATED, LEAD_FUNDED, LEAD_STAGE_CHANGED, publish};

/// The audit action every new lead writes, whatever made it.
pub const CREATED: &str = "create";
/// The audit action every stage change writes, whatever its origin.
pub const STAGE_CHANGED: &str = "lead.stage_changed";
/// The audit action every assignment writes, whatever made it.
pub const ASSIGNED: &str = "lead.assign";

fn acts(actor: Option<&CurrentUser>) -> Option<&dyn Acts> {
    actor.map(|a| a as &dyn Acts)
}

/// Who a new lead belongs to from its first moment (an LO's own lead, an LO's import): the lead rows are
/// inserted with this LO and team, and their assignment is recorded with the creation.
#[derive(Debug, Clone, Copy)]
pub struct FirstOwner<'a> {
    pub lo: Uuid,
    pub team: Option<Uuid>,
    pub reason: &'a str,
}

/// Records that these leads (already inserted, in stage `new`, with `owner` if given) were created: each
/// one's `stage_changes` row into `new`, its audit entry with the fields as entered (`fields`, parallel to
/// `lead_ids`) and its `lead.created` event; then, with an owner, its assignment as [`assign_many`] records
/// one. `origin`: `app` (page and API) or `import`. The leads keep version 1. `requests`: the request that
/// asked for each lead, when they were several (leads created together); None: the current request.
#[allow(clippy::too_many_arguments)]
pub async fn record_created(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    lead_ids: &[Uuid],
    fields: &[Value],
    origin: &str,
    owner: Option<FirstOwner<'_>>,
    at: DateTime<Utc>,
    requests: Option<&[crate::web::RequestCtx]>,
) -> AppResult<()> {
    sqlx::query!(
        "INSERT INTO stage_changes (lead_id, from_stage, to_stage, actor_id, origin, created_at)
         SELECT id, NULL, 'new', $2, $3, $4 FROM UNNEST($1::uuid[]) AS t(id)",
        lead_ids,
        actor.map(|a| a.id),
        origin,
        at
    )
    .execute(&mut **tx)
    .await?;
    // A source nobody set up is kept, and listed for an admin to review; a per-lead source prices its leads.
    super::sources::note_sources(tx, lead_ids).await?;
    let ids: Vec<String> = lead_ids.iter().map(Uuid::to_string).collect();
    let afters: Vec<Option<Value>> = fields.iter().cloned().map(Some).collect();
    write_each(&mut **tx, acts(actor), CREATED, "lead", &ids, &vec![None; ids.len()], &afters, requests).await?;
    let payloads: Vec<Value> = lead_ids.iter().zip(fields).map(|(id, f)| json!({ "lead_id": id, "lead": f })).collect();
    publish(tx, &vec![LEAD_CREATED; lead_ids.len()], lead_ids, &payloads, at).await?;
    if let Some(o) = owner {
        let moved: Vec<Moved> =
            lead_ids.iter().map(|&lead_id| Moved { lead_id, from_lo: None, from_team: None }).collect();
        let to = Destination { lo: Some(o.lo), team: o.team, reason: o.reason, rule_id: None, at };
        record_assignments(tx, actor, &moved, &vec![to; moved.len()]).await?;
    }
    Ok(())
}

/// One stage change, as its caller saw it.
#[derive(Debug, Clone)]
pub struct StageChange<'a> {
    pub lead_id: Uuid,
    /// None only in imported history that starts a lead's record.
    pub from: Option<&'a str>,
    pub to: &'a str,
    /// The LO the lead is with at the time of the change (the history row's `lo_id`).
    pub lo_id: Option<Uuid>,
    /// Only for a move to a `lost` stage.
    pub lost_reason: Option<&'a str>,
    /// `app` (page and API), `cadence`, `los`, `merge`, `import`.
    pub origin: &'a str,
    /// When the change happened (the LOS and the history import report past times).
    pub at: DateTime<Utc>,
    /// Who made it, when not the actor (the history import names each row's LO); None: the actor.
    pub by: Option<Uuid>,
    /// Extra facts for the audit entry and the event payload (e.g. the LOS's loan number, the cadence's reason).
    pub note: Value,
}

/// Moves a lead to another stage now and records it (see the module). `actor` is `None` for the system (the
/// cadence).
pub async fn change_stage(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    change: StageChange<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    sqlx::query!(
        "UPDATE leads SET stage = $2, lost_reason = $3, stage_changed_at = $4, updated_at = $5, version = version + 1
         WHERE id = $1",
        change.lead_id,
        change.to,
        change.lost_reason,
        change.at,
        now
    )
    .execute(&mut **tx)
    .await?;
    record_stage_changes(tx, actor, std::slice::from_ref(&change), now).await
}

/// Records a lead's past stage changes (the history import) with the same traces as a live change, then sets
/// each touched lead's stage from its latest change; `created_at` moves back to the earliest one when the
/// history predates the record.
pub async fn import_stage_history(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    changes: &[StageChange<'_>],
    now: DateTime<Utc>,
) -> AppResult<()> {
    record_stage_changes(tx, actor, changes, now).await?;
    let mut leads: Vec<Uuid> = changes.iter().map(|c| c.lead_id).collect();
    leads.sort();
    leads.dedup();
    sqlx::query!(
        "UPDATE leads l SET stage = latest.to_stage,
                stage_changed_at = latest.created_at,
                lost_reason = CASE WHEN st.kind = 'lost' THEN latest.lost_reason END,
                created_at = LEAST(l.created_at, earliest.at),
                version = l.version + 1,
                updated_at = $2
         FROM (SELECT DISTINCT ON (lead_id) lead_id, to_stage, lost_reason, created_at
               FROM stage_changes WHERE lead_id = ANY($1) ORDER BY lead_id, created_at DESC, id DESC) latest,
              (SELECT lead_id, min(created_at) AS at FROM stage_changes WHERE lead_id = ANY($1) GROUP BY lead_id) earliest,
              stages st
         WHERE l.id = latest.lead_id AND l.id = earliest.lead_id
           AND st.pipeline_id = l.pipeline_id AND st.key = latest.to_stage",
        &leads,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The history rows, audit entries and events of these stage changes, a few statements for any number.
async fn record_stage_changes(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    changes: &[StageChange<'_>],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&StageChange) -> Option<String>| changes.iter().map(f).collect::<Vec<_>>();
    let lead_ids: Vec<Uuid> = changes.iter().map(|c| c.lead_id).collect();
    let by: Vec<Option<Uuid>> = changes.iter().map(|c| c.by.or(actor.map(|a| a.id))).collect();
    sqlx::query!(
        "INSERT INTO stage_changes (lead_id, from_stage, to_stage, lo_id, actor_id, lost_reason, origin, created_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
                              $8::timestamptz[])",
        &lead_ids,
        &col(|c| c.from.map(str::to_string)) as &[Option<String>],
        &col(|c| Some(c.to.to_string())) as &[Option<String>],
        &changes.iter().map(|c| c.lo_id).collect::<Vec<_>>() as &[Option<Uuid>],
        &by as &[Option<Uuid>],
        &col(|c| c.lost_reason.map(str::to_string)) as &[Option<String>],
        &col(|c| Some(c.origin.to_string())) as &[Option<String>],
        &changes.iter().map(|c| c.at).collect::<Vec<_>>()
    )
    .execute(&mut **tx)
    .await?;
    let ids: Vec<String> = lead_ids.iter().map(Uuid::to_string).collect();
    let befores: Vec<Option<Value>> = changes.iter().map(|c| Some(json!({ "stage": c.from }))).collect();
    let afters: Vec<Option<Value>> = changes
        .iter()
        .map(|c| Some(json!({"stage": c.to, "lost_reason": c.lost_reason, "origin": c.origin, "note": c.note})))
        .collect();
    write_many(&mut **tx, acts(actor), STAGE_CHANGED, "lead", &ids, &befores, &afters).await?;
    let (mut kinds, mut event_leads, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
    for c in changes {
        let mut event = json!({
            "lead_id": c.lead_id, "from": c.from, "to": c.to, "lost_reason": c.lost_reason, "at": c.at,
            "origin": c.origin,
        });
        if let (Some(obj), Value::Object(extra)) = (event.as_object_mut(), &c.note) {
            for (k, v) in extra {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if c.to == "funded" {
            kinds.push(LEAD_STAGE_CHANGED);
            event_leads.push(c.lead_id);
            payloads.push(event.clone());
            kinds.push(LEAD_FUNDED);
        } else {
            kinds.push(LEAD_STAGE_CHANGED);
        }
        event_leads.push(c.lead_id);
        payloads.push(event);
    }
    publish(tx, &kinds, &event_leads, &payloads, now).await
}

/// One assignment of a lead to an LO (or, with `to_lo` None, to a team's or the unassigned queue).
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    pub lead_id: Uuid,
    pub to_lo: Option<Uuid>,
    pub to_team: Option<Uuid>,
    pub reason: &'a str,
    /// The routing rule that chose it, if one did.
    pub rule_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// Gives a lead to an LO or a queue and records it (see [`assign_many`]). Returns the history row's id.
pub async fn assign(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    a: Assignment<'_>,
) -> AppResult<i64> {
    let ids = assign_many(tx, actor, &[a.lead_id], a.to_lo, a.to_team, a.reason, a.rule_id, a.at).await?;
    Ok(ids.first().copied().unwrap_or_default())
}

/// Gives these leads to one LO or queue and records each: the lead rows (from whoever held them), one
/// `assignments` history row, one audit entry [`ASSIGNED`] and one `lead.assigned` event per lead, in a few
/// statements however many leads move. Returns the history rows' ids. What follows an assignment (the LO's
/// tasks, bell, SLA check, cadence) is the caller's.
#[allow(clippy::too_many_arguments)]
pub async fn assign_many(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    lead_ids: &[Uuid],
    to_lo: Option<Uuid>,
    to_team: Option<Uuid>,
    reason: &str,
    rule_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    if lead_ids.is_empty() {
        return Ok(Vec::new());
    }
    let moved = sqlx::query_as!(
        Moved,
        r#"WITH old AS (SELECT id, assigned_lo_id, team_id FROM leads WHERE id = ANY($1))
           UPDATE leads l SET assigned_lo_id = $2, team_id = $3,
                  assigned_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE $4::timestamptz END,
                  version = l.version + 1, updated_at = $4
           FROM old WHERE l.id = old.id
           RETURNING l.id AS lead_id, old.assigned_lo_id AS from_lo, old.team_id AS from_team"#,
        lead_ids,
        to_lo,
        to_team,
        at
    )
    .fetch_all(&mut **tx)
    .await?;
    let to = Destination { lo: to_lo, team: to_team, reason, rule_id, at };
    record_assignments(tx, actor, &moved, &vec![to; moved.len()]).await
}

/// Gives each lead to its own LO or queue (routing a batch of new leads: one decision each) and records each
/// as [`assign_many`] does, in a few statements however many leads move. Returns the history rows' ids, in
/// `changes`' order.
pub async fn assign_each(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    changes: &[Assignment<'_>],
) -> AppResult<Vec<i64>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let leads: Vec<Uuid> = changes.iter().map(|c| c.lead_id).collect();
    let officers: Vec<Option<Uuid>> = changes.iter().map(|c| c.to_lo).collect();
    let teams: Vec<Option<Uuid>> = changes.iter().map(|c| c.to_team).collect();
    let ats: Vec<DateTime<Utc>> = changes.iter().map(|c| c.at).collect();
    let moved = sqlx::query_as!(
        Moved,
        r#"WITH old AS (SELECT id, assigned_lo_id, team_id FROM leads WHERE id = ANY($1)),
                new AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS x(id, lo, team, at))
           UPDATE leads l SET assigned_lo_id = new.lo, team_id = new.team,
                  assigned_at = CASE WHEN new.lo IS NULL THEN NULL ELSE new.at END,
                  version = l.version + 1, updated_at = new.at
           FROM old JOIN new ON new.id = old.id WHERE l.id = old.id
           RETURNING l.id AS lead_id, old.assigned_lo_id AS from_lo, old.team_id AS from_team"#,
        &leads,
        &officers as &[Option<Uuid>],
        &teams as &[Option<Uuid>],
        &ats
    )
    .fetch_all(&mut **tx)
    .await?;
    // The history follows `changes`' order whatever order the update returned its rows in.
    let mut by_lead: std::collections::HashMap<Uuid, Moved> = moved.into_iter().map(|m| (m.lead_id, m)).collect();
    let (mut moved, mut to) = (Vec::with_capacity(changes.len()), Vec::with_capacity(changes.len()));
    for c in changes {
        if let Some(m) = by_lead.remove(&c.lead_id) {
            moved.push(m);
            to.push(Destination { lo: c.to_lo, team: c.to_team, reason: c.reason, rule_id: c.rule_id, at: c.at });
        }
    }
    record_assignments(tx, actor, &moved, &to).await
}

/// A lead as an assignment found it.
struct Moved {
    lead_id: Uuid,
    from_lo: Option<Uuid>,
    from_team: Option<Uuid>,
}

/// Where a lead went, and why.
#[derive(Clone, Copy)]
struct Destination<'a> {
    lo: Option<Uuid>,
    team: Option<Uuid>,
    reason: &'a str,
    rule_id: Option<Uuid>,
    at: DateTime<Utc>,
}

/// The traces of assignments, whatever moved the lead rows: one `assignments` history row, one audit entry
/// [`ASSIGNED`] and one `lead.assigned` event per lead (`to` parallel to `moved`). Returns the history rows'
/// ids, in `moved`'s order.
async fn record_assignments(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    moved: &[Moved],
    to: &[Destination<'_>],
) -> AppResult<Vec<i64>> {
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    let leads: Vec<Uuid> = moved.iter().map(|m| m.lead_id).collect();
    let froms: Vec<Option<Uuid>> = moved.iter().map(|m| m.from_lo).collect();
    let officers: Vec<Option<Uuid>> = to.iter().map(|d| d.lo).collect();
    let teams: Vec<Option<Uuid>> = to.iter().map(|d| d.team).collect();
    let reasons: Vec<String> = to.iter().map(|d| d.reason.to_string()).collect();
    let rules: Vec<Option<Uuid>> = to.iter().map(|d| d.rule_id).collect();
    let ats: Vec<DateTime<Utc>> = to.iter().map(|d| d.at).collect();
    let history: Vec<i64> = sqlx::query_scalar!(
        r#"INSERT INTO assignments (lead_id, from_lo_id, to_lo_id, to_team_id, actor_id, reason, rule_id, created_at)
           SELECT l, f, lo, team, $3, reason, rule, at
           FROM UNNEST($1::uuid[], $2::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::uuid[], $8::timestamptz[])
                WITH ORDINALITY AS x(l, f, lo, team, reason, rule, at, n)
           ORDER BY n
           RETURNING id"#,
        &leads,
        &froms as &[Option<Uuid>],
        actor.map(|a| a.id),
        &officers as &[Option<Uuid>],
        &teams as &[Option<Uuid>],
        &reasons,
        &rules as &[Option<Uuid>],
        &ats
    )
    .fetch_all(&mut **tx)
    .await?;
    let ids: Vec<String> = leads.iter().map(Uuid::to_string).collect();
    let befores: Vec<Option<Value>> =
        moved.iter().map(|m| Some(json!({"assigned_lo_id": m.from_lo, "team_id": m.from_team}))).collect();
    let afters: Vec<Option<Value>> = to
        .iter()
        .map(|d| Some(json!({"assigned_lo_id": d.lo, "team_id": d.team, "reason": d.reason, "rule_id": d.rule_id})))
        .collect();
    write_many(&mut **tx, acts(actor), ASSIGNED, "lead", &ids, &befores, &afters).await?;
    let payloads: Vec<Value> = moved
        .iter()
        .zip(to)
        .map(|(m, d)| {
            json!({"lead_id": m.lead_id, "from_lo_id": m.from_lo, "to_lo_id": d.lo, "to_team_id": d.team,
                   "reason": d.reason})
        })
        .collect();
    publish(tx, &vec![LEAD_ASSIGNED; leads.len()], &leads, &payloads, to[0].at).await?;
    Ok(history)
}
