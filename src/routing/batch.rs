//! Routes created leads in batches: one transaction and one hold of the rotations serve every lead that
//! arrived while the previous batch was being routed.
//!
//! Each instance keeps a list of leads waiting to be routed (only a hand-off: every lead is durable, with its
//! safety-net job, before it joins the list). One waiting request at a time leads: it takes everything
//! waiting, routes it in one transaction in arrival order, answers each waiting request, then hands the lead
//! to the next request still waiting. Batches of two instances queue on the rotations' row locks
//! ([`store::lock_all_rotations`]), so the rotation still advances one lead at a time and fairness and
//! capacity stay exact across instances. A batch that fails as a whole is routed again lead by lead, so one
//! bad lead cannot hold back the others.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::turns::Turns;
use super::{route_job_key, route_locked, store};
use crate::auth::CurrentUser;
use crate::db::batch::Batcher;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How many leads one routing transaction takes at most (a burst larger than this is routed in several).
const MAX_BATCH: usize = 256;

/// How many leads may wait to be routed on an instance before requests that create leads wait for their own
/// lead's routing in full (see [`route_created_soon`]): the bound on how far a burst runs ahead of routing, in
/// time (commit to assignment) and in memory (a routing batch holds each lead's candidates and messages).
const BACKLOG: usize = 64;

type Answer = AppResult<Option<Uuid>>;

/// A created lead waiting for the next routing transaction of this instance.
struct Waiting {
    lead: Uuid,
    actor: Option<CurrentUser>,
}

/// This instance's leads waiting to be routed.
fn batcher(state: &AppState) -> Arc<Batcher<Waiting, Answer>> {
    state.extensions.get_or_insert_with(Batcher::<Waiting, Answer>::default)
}

/// Routes a lead whose creating transaction has committed, with whatever other leads are waiting on this
/// instance; returns its LO, if it was assigned.
pub async fn route_created(state: &AppState, lead: Uuid, actor: Option<&CurrentUser>) -> Answer {
    let batcher = batcher(state);
    let waiting = Waiting { lead, actor: actor.cloned() };
    let run = |batch| {
        let state = state.clone();
        async move { route_batch(&state, batch).await }
    };
    match batcher.join(waiting, MAX_BATCH, run).await {
        Some(a) => a,
        // The batch that held this lead did not answer for it: route it alone.
        None => super::route_created_lead(state, lead, actor).await,
    }
}

/// Routes a lead a request has just created, as [`route_created`] does, but answers once the lead is routed or
/// once `wait` is over (None: no limit), whichever comes first: `Ok(None)` then, while the routing goes on on a
/// task of its own (the lead is durable, with its safety-net job, before this is called). A burst of new leads
/// through the API (`--answer-before-routing-ms`) is then answered as fast as it is saved and routed in larger
/// batches behind it. While [`BACKLOG`] leads already wait on this instance, the request waits for its lead's
/// routing in full: a burst cannot outrun routing by more than that, so the time from commit to assignment
/// and the memory a batch takes stay bounded.
pub async fn route_created_soon(
    state: &AppState,
    lead: Uuid,
    actor: Option<&CurrentUser>,
    wait: Option<std::time::Duration>,
) -> Answer {
    let backlog = batcher(state).waiting() >= BACKLOG;
    let routing = {
        let (state, actor) = (state.clone(), actor.cloned());
        let ctx = crate::web::request_ctx();
        tokio::spawn(crate::web::with_request_ctx(
            ctx,
            async move { route_created(&state, lead, actor.as_ref()).await },
        ))
    };
    let joined = match wait.filter(|_| !backlog) {
        None => routing.await,
        Some(wait) => match tokio::time::timeout(wait, routing).await {
            Ok(joined) => joined,
            Err(_) => return Ok(None),
        },
    };
    joined.map_err(|e| AppError::Internal(anyhow::anyhow!("routing a new lead: {e}")))?
}

/// Routes `batch` in one transaction and answers each lead; if that transaction fails, routes each lead in
/// its own.
async fn route_batch(state: &AppState, batch: Vec<Waiting>) -> Vec<Answer> {
    let leads: Vec<(Uuid, Option<&CurrentUser>)> = batch.iter().map(|w| (w.lead, w.actor.as_ref())).collect();
    match route_together(state, &leads).await {
        Ok(routed) => routed.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(leads = batch.len(), error = %e.public_message(), "routing a batch failed; routing its leads one by one");
            let mut answers = Vec::with_capacity(batch.len());
            for w in &batch {
                answers.push(super::route_created_lead(state, w.lead, w.actor.as_ref()).await);
            }
            answers
        }
    }
}

/// Routes created leads in one transaction: the rotations first (the lock order of every transaction that
/// routes), then the leads locked, then each routed in the order given ([`Turns`]: plain turns decided in
/// memory and written together; any other lead alone); a lead routed already keeps its LO. Their safety-net
/// jobs go with the transaction; their metric contributions are recomputed in one statement at the end.
pub async fn route_together(state: &AppState, leads: &[(Uuid, Option<&CurrentUser>)]) -> AppResult<Vec<Option<Uuid>>> {
    let mut tx = state.db.begin().await?;
    // As for a single lead (see `route_created_lead`): the leads and their safety-net jobs are durable. The
    // metric triggers are off: the leads' contributions are recomputed together before the commit (below).
    // (Plans stay the planner's choice here: a lead routed alone may read performance over a date range, where
    // a generic plan could be far worse than a custom one.)
    sqlx::query!(
        "SELECT set_config('synchronous_commit', 'off', true) AS sync,
                set_config('loanfloor.metrics_triggers', 'off', true) AS metrics"
    )
    .fetch_one(&mut *tx)
    .await?;
    store::lock_all_rotations(&mut tx).await?;
    let keys: Vec<String> = leads.iter().map(|(id, _)| route_job_key(*id)).collect();
    sqlx::query!("DELETE FROM jobs WHERE dedupe_key = ANY($1) AND status = 'queued'", &keys).execute(&mut *tx).await?;
    let ids: Vec<Uuid> = leads.iter().map(|(id, _)| *id).collect();
    let rows: HashMap<Uuid, store::LeadRow> =
        store::lock_leads(&mut tx, &ids).await?.into_iter().map(|l| (l.id, l)).collect();
    // Routed before (assigned, queued or offered), or earlier in this batch (a lead listed twice): never again.
    let mut done: HashMap<Uuid, Option<Uuid>> = HashMap::new();
    for id in store::decided(&mut tx, &ids).await? {
        done.insert(id, rows.get(&id).and_then(|l| l.assigned_lo_id));
    }
    let mut turns = Turns::start(state, &mut tx).await?;
    let open: Vec<&store::LeadRow> = ids
        .iter()
        .filter(|id| !done.contains_key(*id))
        .filter_map(|id| rows.get(id))
        .filter(|l| l.assigned_lo_id.is_none())
        .collect();
    turns.expect(&mut tx, &open).await?;
    let mut routed = Vec::with_capacity(leads.len());
    for (id, actor) in leads {
        let lead = rows.get(id).ok_or(AppError::NotFound)?;
        let lo = match done.get(id) {
            Some(lo) => *lo,
            None if lead.assigned_lo_id.is_some() => lead.assigned_lo_id,
            None => match turns.decide(&mut tx, lead, *actor).await? {
                Some(lo) => lo,
                None => {
                    // Routed alone, on the state the batch's decisions so far leave.
                    turns.write(&mut tx).await?;
                    let lo = route_locked(state, &mut tx, lead, *actor).await?;
                    turns.reread();
                    lo
                }
            },
        };
        done.insert(*id, lo);
        routed.push(lo);
    }
    turns.write(&mut tx).await?;
    // Every lead of the batch, routed now or before: a new lead's creating transaction left its contribution
    // to this one (`leads::store::create`), and a lead's contribution computed twice is the same.
    sqlx::query("SELECT metrics_recompute_lead_set($1)").bind(&ids).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(routed)
}
