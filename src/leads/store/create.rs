//! Creating a lead: recognising a replay (the caller's own Idempotency-Key or external id) or a duplicate of
//! an open lead (same phone or email), saving a new one, giving an LO's own lead to them and queueing anyone
//! else's for routing, which runs after the commit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::LeadFields;
use super::{DEFAULT_PIPELINE, loan_number_free};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::events::Event;
use crate::state::AppState;

/// What happened to a create request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new lead (201).
    Created,
    /// The same request again from the caller that made it (its Idempotency-Key, or the `(source,
    /// external_id)` of a lead it created): the earlier lead (200).
    Replayed,
    /// The same person as an open lead, or the `(source, external_id)` of a lead someone else created:
    /// recorded on that lead, not created twice (200). The lead may be outside the caller's scope: answers
    /// show it only through the caller's scope.
    Duplicate,
}

/// An open lead with the same normalised phone or email, if any.
pub async fn find_open_duplicate(
    tx: &mut Transaction<'_, Postgres>,
    phone: Option<&str>,
    email: Option<&str>,
) -> sqlx::Result<Option<Uuid>> {
    if phone.is_none() && email.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar!(
        // The matches come from the phone and email indexes first (a materialised CTE), so the planner never
        // walks the created_at index through a million leads looking for a borrower who isn't there.
        r#"WITH m AS MATERIALIZED (
             SELECT l.id, l.created_at, l.pipeline_id, l.stage FROM leads l
             WHERE l.duplicate_of IS NULL
               AND ((l.phone IS NOT NULL AND l.phone = $1) OR (l.email IS NOT NULL AND lower(l.email) = lower($2))))
           SELECT m.id AS "id!" FROM m JOIN stages s ON s.pipeline_id = m.pipeline_id AND s.key = m.stage
           WHERE s.kind = 'open' ORDER BY m.created_at LIMIT 1"#,
        phone,
        email
    )
    .fetch_optional(&mut **tx)
    .await
}

/// An earlier lead a create request matches by its Idempotency-Key or its `(source, external_id)`.
enum Prior {
    /// The caller created it: the request is a replay.
    Mine(Uuid),
    /// The caller's Idempotency-Key answered "duplicate" before: the same answer again, noted once.
    AnsweredDuplicate(Uuid),
    /// Somebody else's lead with the same `(source, external_id)`: the request is a duplicate, answered
    /// without anything of that lead unless the caller may see it.
    Theirs(Uuid),
}

/// Replays belong to the caller that made them: its own Idempotency-Key, or a `(source, external_id)` of a
/// lead it created (the lead's first stage row names its creator). Any other match is a duplicate.
async fn prior_lead(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    idempotency_key: Option<&str>,
    fields: &LeadFields,
) -> sqlx::Result<Option<Prior>> {
    if let Some(key) = idempotency_key {
        let hit =
            sqlx::query!("SELECT lead_id, outcome FROM idempotency_keys WHERE user_id = $1 AND key = $2", user.id, key)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(h) = hit {
            return Ok(Some(if h.outcome == "created" {
                Prior::Mine(h.lead_id)
            } else {
                Prior::AnsweredDuplicate(h.lead_id)
            }));
        }
    }
    if let Some(ext) = &fields.external_id {
        let hit = sqlx::query!(
            r#"SELECT l.id, EXISTS (SELECT 1 FROM stage_changes sc
                                    WHERE sc.lead_id = l.id AND sc.from_stage IS NULL AND sc.actor_id = $3) AS "mine!"
               FROM leads l WHERE l.source = $1 AND l.external_id = $2"#,
            fields.source,
            ext,
            user.id
        )
        .fetch_optional(&mut **tx)
        .await?;
        return Ok(hit.map(|h| if h.mine { Prior::Mine(h.id) } else { Prior::Theirs(h.id) }));
    }
    Ok(None)
}

/// Creates a lead (or recognises a replay or a duplicate). An LO's new lead is theirs; anyone else's goes
/// to routing in the same transaction, and is routed after the commit: the answer waits for that routing at
/// most `wait` (None: until the lead is routed). Returns the lead's id and what happened.
pub async fn create_lead(
    state: &AppState,
    user: &CurrentUser,
    fields: &LeadFields,
    idempotency_key: Option<&str>,
    wait: Option<Duration>,
) -> AppResult<(Uuid, CreateOutcome)> {
    if let Some(k) = idempotency_key {
        if k.is_empty() || k.len() > 200 {
            return Err(AppError::invalid("idempotency_key", "an Idempotency-Key has 1 to 200 characters"));
        }
    }
    // A plain new lead is created together with the other requests waiting on this instance; anything else
    // (or a lead its batch did not create) on its own, below.
    if super::create_batch::batchable(user, fields) {
        if let Some(id) = super::create_batch::create_together(state, user, fields, idempotency_key).await {
            route_new(state, id, user, wait).await;
            return Ok((id, CreateOutcome::Created));
        }
    }
    // Two attempts: a concurrent identical request can win the unique index; the retry then sees its lead.
    for attempt in 0..2 {
        match try_create(state, user, fields, idempotency_key, wait).await {
            Err(AppError::Internal(e)) if attempt == 0 && is_unique_violation(&e) => continue,
            other => return other,
        }
    }
    Err(AppError::conflict("The lead was being created by another request; try again."))
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .is_some_and(|d| d.code().as_deref() == Some("23505"))
}

async fn try_create(
    state: &AppState,
    user: &CurrentUser,
    fields: &LeadFields,
    idempotency_key: Option<&str>,
    wait: Option<Duration>,
) -> AppResult<(Uuid, CreateOutcome)> {
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let existing = match prior_lead(&mut tx, user, idempotency_key, fields).await? {
        Some(Prior::Mine(id)) => return Ok((id, CreateOutcome::Replayed)),
        Some(Prior::AnsweredDuplicate(id)) => return Ok((id, CreateOutcome::Duplicate)),
        Some(Prior::Theirs(id)) => Some(id),
        None => find_open_duplicate(&mut tx, fields.phone.as_deref(), fields.email.as_deref()).await?,
    };
    if let Some(existing) = existing {
        let note = format!(
            "Duplicate submission from source {}{}: {} {}, {} {}",
            fields.source,
            fields.external_id.as_deref().map(|x| format!(" (external id {x})")).unwrap_or_default(),
            fields.first_name,
            fields.last_name,
            fields.phone.as_deref().unwrap_or(""),
            fields.email.as_deref().unwrap_or("")
        );
        sqlx::query!(
            "INSERT INTO activities (lead_id, actor_id, kind, body, occurred_at) VALUES ($1, $2, 'note', $3, $4)",
            existing,
            user.id,
            note,
            now
        )
        .execute(&mut *tx)
        .await?;
        // The borrower's opt-out holds whichever record the submission lands on.
        let opt_outs: Vec<(Uuid, String)> = fields.opt_outs.iter().map(|c| (existing, c.clone())).collect();
        super::record_opt_outs(&mut tx, &opt_outs, now).await?;
        if let Some(key) = idempotency_key {
            sqlx::query!(
                "INSERT INTO idempotency_keys (user_id, key, lead_id, outcome) VALUES ($1, $2, $3, 'duplicate')",
                user.id,
                key,
                existing
            )
            .execute(&mut *tx)
            .await?;
        }
        Entry::new(Some(user), "duplicate_submission", "lead", existing).after(fields).write(&mut *tx).await?;
        tx.commit().await?;
        return Ok((existing, CreateOutcome::Duplicate));
    }
    if let Some(n) = &fields.loan_number {
        loan_number_free(&mut tx, user, n, None).await?;
    }
    crate::leads::partners::check_for_lead(&mut tx, fields.referral_partner_id, None).await?;
    let id = super::new_lead_id();
    // An LO's own lead is theirs from its first moment; anyone else's is routed.
    let route_after_commit = user.role != Role::Lo;
    let owner = (!route_after_commit).then_some(crate::leads::lifecycle::FirstOwner {
        lo: user.id,
        team: user.team_id,
        reason: "created by the loan officer",
    });
    // The writes below are simple, and their statements over an array of lead ids (shared with imports) were
    // planned afresh on every call (pg_stat_statements: 4,021 plans in 4,005 calls), a plan costing more than
    // the run: the cached generic plan serves them. A lead to be routed leaves its metric contribution to the
    // routing transaction, which computes it with the rest of its batch in one statement instead of one plan run
    // per lead at this commit; until that commits (within moments; the safety-net job's minute at worst) the
    // dashboards do not count the lead yet.
    let metrics = if route_after_commit { "off" } else { "on" };
    sqlx::query!(
        "SELECT set_config('plan_cache_mode', 'force_generic_plan', true) AS plans,
                set_config('loanfloor.metrics_triggers', $1, true) AS metrics",
        metrics
    )
    .fetch_one(&mut *tx)
    .await?;
    insert_lead(&mut tx, id, fields, owner.as_ref(), now).await?;
    let entered = serde_json::to_value(fields).map_err(|e| AppError::Internal(e.into()))?;
    crate::leads::lifecycle::record_created(&mut tx, Some(user), &[id], &[entered], "app", owner, now, None).await?;
    if fields.referred_by_loan_number.is_some() {
        let referred = Event::LeadReferred {
            lead_id: id,
            loan_number: fields.referred_by_loan_number.as_deref(),
            actor: Some(user),
        };
        crate::events::emit(&mut tx, referred).await?;
    }
    if route_after_commit {
        (crate::leads::wiring::wired()?.queue_routing)(&mut tx, &[id], now).await?;
    }
    if let Some(key) = idempotency_key {
        sqlx::query!("INSERT INTO idempotency_keys (user_id, key, lead_id) VALUES ($1, $2, $3)", user.id, key, id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if route_after_commit {
        route_new(state, id, user, wait).await;
    }
    Ok((id, CreateOutcome::Created))
}

/// Routes a new lead right after its creating transaction committed, answering once it is routed or once
/// `wait` is over while its routing goes on (see `routing::batch::route_created_soon`). The lead is saved; if
/// routing fails now, its safety-net job routes it shortly.
async fn route_new(state: &AppState, id: Uuid, user: &CurrentUser, wait: Option<Duration>) {
    let routed = match crate::leads::wiring::wired() {
        Ok(w) => (w.route_new_lead)(state, id, Some(user), wait).await,
        Err(e) => Err(e),
    };
    if let Err(e) = routed {
        tracing::warn!(lead = %id, error = %e.public_message(), "routing a new lead failed; its job will retry");
    }
}

async fn insert_lead(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    f: &LeadFields,
    owner: Option<&crate::leads::lifecycle::FirstOwner<'_>>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, email, phone, property_state, property_zip,
             loan_purpose, loan_amount_cents, property_value_cents, credit_band, occupancy, property_type, rate_quoted,
             source, campaign, vendor, cost_cents, external_id, loan_number, stage_changed_at, created_at, updated_at,
             assigned_lo_id, team_id, assigned_at, referral_partner_id)
         VALUES ($1, $2, 'new', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ($15::int4 / 1000.0),
             $16, $17, $18, $19, $20, $22, $21, $21, $21, $23, $24, CASE WHEN $23::uuid IS NULL THEN NULL ELSE $21::timestamptz END,
             $25)",
        id,
        DEFAULT_PIPELINE,
        f.first_name,
        f.last_name,
        f.email,
        f.phone,
        f.property_state,
        f.property_zip,
        f.loan_purpose,
        f.loan_amount_cents,
        f.property_value_cents,
        f.credit_band,
        f.occupancy,
        f.property_type,
        f.rate_quoted_milli,
        f.source,
        f.campaign,
        f.vendor,
        f.cost_cents,
        f.external_id,
        now,
        f.loan_number,
        owner.map(|o| o.lo),
        owner.and_then(|o| o.team),
        f.referral_partner_id
    )
    .execute(&mut **tx)
    .await?;
    if let Some(c) = &f.consent {
        super::insert_consent(tx, id, c).await?;
    }
    let opt_outs: Vec<(Uuid, String)> = f.opt_outs.iter().map(|c| (id, c.clone())).collect();
    super::record_opt_outs(tx, &opt_outs, now).await?;
    Ok(())
}
