//! New leads from the API created together (issue 22): the create requests that arrive on an instance while
//! a creating transaction runs wait, and the next transaction creates all of them, in a few set-based
//! statements and one durable commit instead of a dozen statements and a commit each.
//!
//! Only plain new leads go this way: a lead to be routed (not an LO's own) with no loan number, referral
//! partner, referring loan or opt-out, matching nothing saved (no Idempotency-Key or `(source, external_id)`
//! seen before, no open lead with its phone or email) and nothing earlier in its batch. Every other request,
//! and every request of a batch whose transaction failed, is created on its own by
//! [`create_lead`](super::create_lead)'s single path, after the batch commits — so a replay or a duplicate gets
//! the same answer, through the same scope, as it always did, and two requests for one borrower in one
//! batch give one lead and one duplicate. Two instances race exactly as two single requests do: the unique
//! indexes decide, and the losing batch is redone request by request.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::insert::{NewLead, insert_many};
use crate::auth::{CurrentUser, Role};
use crate::db::batch::Batcher;
use crate::error::AppResult;
use crate::leads::model::LeadFields;
use crate::state::AppState;
use crate::web::RequestCtx;

/// How many new leads one creating transaction takes at most.
const MAX_BATCH: usize = 128;

/// A create request waiting for the next creating transaction of this instance.
struct Pending {
    user: CurrentUser,
    fields: LeadFields,
    key: Option<String>,
    /// The request that asked for it (its id and client address go into the lead's audit entry).
    request: RequestCtx,
}

/// Whether a request may be created in a batch (see the module).
pub(super) fn batchable(user: &CurrentUser, fields: &LeadFields) -> bool {
    user.role != Role::Lo
        && fields.loan_number.is_none()
        && fields.referral_partner_id.is_none()
        && fields.referred_by_loan_number.is_none()
        && fields.opt_outs.is_empty()
}

/// Creates the lead together with the other requests waiting on this instance; its id, or None when it was
/// not created here (it matches an earlier lead or request, or its batch failed): the caller creates it alone.
pub(super) async fn create_together(
    state: &AppState,
    user: &CurrentUser,
    fields: &LeadFields,
    key: Option<&str>,
) -> Option<Uuid> {
    let batcher = state.extensions.get_or_insert_with(Batcher::<Pending, Option<Uuid>>::default);
    let request = crate::web::request_ctx();
    let pending = Pending { user: user.clone(), fields: fields.clone(), key: key.map(str::to_string), request };
    let run = |batch| {
        let state = state.clone();
        async move { create_batch(&state, batch).await }
    };
    batcher.join(pending, MAX_BATCH, run).await.flatten()
}

async fn create_batch(state: &AppState, batch: Vec<Pending>) -> Vec<Option<Uuid>> {
    match try_batch(state, &batch).await {
        Ok(ids) => ids,
        Err(e) => {
            // Redone request by request: a unique index lost to another instance, or one lead's bad data,
            // must not fail the others.
            tracing::warn!(leads = batch.len(), error = %e.public_message(), "creating a batch of leads failed; creating them one by one");
            vec![None; batch.len()]
        }
    }
}

/// What identifies a request's borrower or a replay of it: an earlier request of the batch with any of these
/// sends this one to the single path.
fn identities(p: &Pending) -> Vec<String> {
    let mut ids = Vec::with_capacity(4);
    if let Some(k) = &p.key {
        ids.push(format!("key\u{0}{}\u{0}{k}", p.user.id));
    }
    if let Some(x) = &p.fields.external_id {
        ids.push(format!("external\u{0}{}\u{0}{x}", p.fields.source));
    }
    if let Some(phone) = &p.fields.phone {
        ids.push(format!("phone\u{0}{phone}"));
    }
    if let Some(email) = &p.fields.email {
        ids.push(format!("email\u{0}{}", email.to_lowercase()));
    }
    ids
}

async fn try_batch(state: &AppState, batch: &[Pending]) -> AppResult<Vec<Option<Uuid>>> {
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    // As a single new lead to be routed (`try_create`): cached generic plans, and the metric contributions
    // left to the routing transaction.
    sqlx::query!(
        "SELECT set_config('plan_cache_mode', 'force_generic_plan', true) AS plans,
                set_config('loanfloor.metrics_triggers', $1, true) AS metrics",
        "off"
    )
    .fetch_one(&mut *tx)
    .await?;
    let matched = matching_saved(&mut tx, batch).await?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut ids: Vec<Option<Uuid>> = vec![None; batch.len()];
    // The requests created here (their positions in the batch) and their rows.
    let (mut taken, mut new): (Vec<usize>, Vec<NewLead<'_>>) = (Vec::new(), Vec::new());
    for (i, p) in batch.iter().enumerate() {
        let identities = identities(p);
        let clash = matched.contains(&(i as i32)) || identities.iter().any(|k| seen.contains(k));
        seen.extend(identities);
        if !clash {
            let id = super::new_lead_id();
            ids[i] = Some(id);
            taken.push(i);
            new.push(NewLead { id, fields: &p.fields, referred_by: None });
        }
    }
    if new.is_empty() {
        return Ok(ids);
    }
    insert_many(&mut tx, &new, None, now).await?;
    // Their creation recorded per caller (the stage row and the audit entry name who created each lead), each
    // audit entry with the request that asked for its lead.
    type Created<'b> = (&'b CurrentUser, Vec<Uuid>, Vec<serde_json::Value>, Vec<RequestCtx>);
    let mut by_user: HashMap<Uuid, Created<'_>> = HashMap::new();
    for (i, r) in taken.iter().zip(&new) {
        let p = &batch[*i];
        let entry = by_user.entry(p.user.id).or_insert_with(|| (&p.user, Vec::new(), Vec::new(), Vec::new()));
        entry.1.push(r.id);
        entry.2.push(serde_json::to_value(r.fields).map_err(anyhow::Error::from)?);
        entry.3.push(p.request.clone());
    }
    for (user, lead_ids, entered, requests) in by_user.values() {
        crate::leads::lifecycle::record_created(
            &mut tx,
            Some(user),
            lead_ids,
            entered,
            "app",
            None,
            now,
            Some(requests),
        )
        .await?;
    }
    let created: Vec<Uuid> = new.iter().map(|r| r.id).collect();
    (crate::leads::wiring::wired()?.queue_routing)(&mut tx, &created, now).await?;
    let keyed: Vec<(Uuid, &str, Uuid)> = taken
        .iter()
        .zip(&new)
        .filter_map(|(i, r)| batch[*i].key.as_deref().map(|k| (batch[*i].user.id, k, r.id)))
        .collect();
    if !keyed.is_empty() {
        let users: Vec<Uuid> = keyed.iter().map(|k| k.0).collect();
        let keys: Vec<&str> = keyed.iter().map(|k| k.1).collect();
        let leads: Vec<Uuid> = keyed.iter().map(|k| k.2).collect();
        sqlx::query!(
            "INSERT INTO idempotency_keys (user_id, key, lead_id)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[])",
            &users,
            &keys as &[&str],
            &leads
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// The positions (0-based) of the batch's requests that match something saved: their caller's
/// Idempotency-Key, a lead's `(source, external_id)`, or an open lead's phone or email (the tests of
/// [`find_open_duplicate`](super::find_open_duplicate) and `prior_lead`, for the whole batch in one statement).
async fn matching_saved(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &[Pending],
) -> sqlx::Result<HashSet<i32>> {
    let positions: Vec<i32> = (0..batch.len() as i32).collect();
    let users: Vec<Uuid> = batch.iter().map(|p| p.user.id).collect();
    let keys: Vec<Option<String>> = batch.iter().map(|p| p.key.clone()).collect();
    let sources: Vec<String> = batch.iter().map(|p| p.fields.source.clone()).collect();
    let externals: Vec<Option<String>> = batch.iter().map(|p| p.fields.external_id.clone()).collect();
    let phones: Vec<Option<String>> = batch.iter().map(|p| p.fields.phone.clone()).collect();
    let emails: Vec<Option<String>> = batch.iter().map(|p| p.fields.email.clone()).collect();
    let hits = sqlx::query_scalar!(
        r#"SELECT t.i AS "i!"
           FROM UNNEST($1::int4[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
             AS t(i, user_id, key, source, external_id, phone, email)
           WHERE (t.key IS NOT NULL
                  AND EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.user_id = t.user_id AND k.key = t.key))
              OR (t.external_id IS NOT NULL
                  AND EXISTS (SELECT 1 FROM leads l WHERE l.source = t.source AND l.external_id = t.external_id))
              OR (t.phone IS NOT NULL
                  AND EXISTS (SELECT 1 FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
                              WHERE l.phone IS NOT NULL AND l.phone = t.phone AND l.duplicate_of IS NULL
                                AND s.kind = 'open'))
              OR (t.email IS NOT NULL
                  AND EXISTS (SELECT 1 FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
                              WHERE l.email IS NOT NULL AND lower(l.email) = lower(t.email)
                                AND l.duplicate_of IS NULL AND s.kind = 'open'))"#,
        &positions,
        &users,
        &keys as &[Option<String>],
        &sources,
        &externals as &[Option<String>],
        &phones as &[Option<String>],
        &emails as &[Option<String>]
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(hits.into_iter().collect())
}
