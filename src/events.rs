//! Domain events: how a lower layer tells the capabilities above it that something happened, without
//! importing them (issue 16).
//!
//! **Lead events** (`lead.created`, `lead.stage_changed`, `lead.assigned`, `lead.funded`) are written by
//! `leads::lifecycle` with [`publish`] as rows of the `domain_events` outbox, in the transaction that makes the
//! change, together with one `events.dispatch` job for the rows a consumer wants. The job queue (any instance,
//! `FOR UPDATE SKIP LOCKED`) runs [`dispatch`]: each consumer the composition root wired reacts inside one
//! transaction that also marks the rows dispatched, so delivery is at least once and a retried job or a
//! second instance never applies an event twice. A rolled-back change leaves no row and no job.
//!
//! **In-process hooks** ([`Event`]) are for what must happen inside the caller's transaction: "tell these
//! people" (the bell), "this lead names the past client who referred it" (refused with the lead when the loan
//! number is unknown), "this escalation was decided" (its webhook delivery exists exactly when the decision
//! does). [`emit`] runs the wired subscribers.
//!
//! The wiring is code, set once and identical in every instance; it holds no state.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Acts;
use crate::error::{AppError, AppResult};
use crate::state::{AppState, Wired};

/// One person's bell notice: its title and where it leads.
#[derive(Debug, Clone)]
pub struct Notice {
    pub user_id: Uuid,
    pub title: String,
    pub link: String,
}

impl Event<'_> {
    /// A [`Event::Notify`] or [`Event::NotifyEach`] as one notice per person, with its kind; None for any
    /// other event.
    pub fn notices(&self) -> Option<(&str, Vec<Notice>)> {
        match self {
            Event::Notify { user_ids, kind, title, link } => Some((
                kind,
                user_ids
                    .iter()
                    .map(|u| Notice { user_id: *u, title: title.to_string(), link: link.to_string() })
                    .collect(),
            )),
            Event::NotifyEach { kind, notices } => Some((kind, notices.to_vec())),
            _ => None,
        }
    }
}

/// Something that happened, told inside the transaction that made it happen.
pub enum Event<'a> {
    /// A lead names the past client who referred it, by loan number (None: nobody).
    LeadReferred { lead_id: Uuid, loan_number: Option<&'a str>, actor: Option<&'a dyn Acts> },
    /// An escalation was decided (`escalation.decided`).
    EscalationDecided { payload: &'a Value },
    /// A rate lock changed (`lock.created`, `lock.extended`, `lock.expiring`, `lock.expired`, `lock.relocked`,
    /// `lock.floated_down`, `lock.cancelled`), with the lock's terms as the payload.
    LockChanged { kind: &'a str, payload: &'a Value },
    /// These people should find this in their bell.
    Notify { user_ids: &'a [Uuid], kind: &'a str, title: &'a str, link: &'a str },
    /// Each of these people should find their own notice in their bell (one routing batch's new leads, each
    /// told to its LO): what [`Event::Notify`] does for one shared notice, for many in one go.
    NotifyEach { kind: &'a str, notices: &'a [Notice] },
    /// The borrower of this lead should get the email of this template (`missed_call`, `rate_watch_offer`, ...)
    /// with these merge fields on top of the lead's own, once per `event_key`, subject to consent.
    BorrowerMessage {
        lead_id: Uuid,
        template: &'a str,
        event_key: &'a str,
        fields: &'a [(&'static str, String)],
        at: DateTime<Utc>,
    },
    /// The borrower of a loss-mitigation case (not a lead) should get the email of this template at `to`, with
    /// these merge fields, once per `event_key`, subject to the address's unsubscribe.
    CaseBorrowerMessage {
        case_id: Uuid,
        to: &'a str,
        template: &'a str,
        event_key: &'a str,
        fields: &'a [(&'static str, String)],
        at: DateTime<Utc>,
    },
    /// A text message for the lender's texting tool (its signed webhook): each subscriber that takes it adds
    /// one to `taken`, so the sender knows whether any tool got it.
    TextMessage {
        message_id: i64,
        lead_id: Uuid,
        to: &'a str,
        body: &'a str,
        taken: &'a std::sync::atomic::AtomicUsize,
    },
}

/// A subscriber: reacts to the in-process hooks it cares about inside the emitting transaction (and ignores
/// the rest).
pub type Subscriber =
    for<'a, 'c, 'e> fn(&'a mut Transaction<'c, Postgres>, &'a Event<'e>) -> BoxFuture<'a, AppResult<()>>;

/// A lead event as the outbox holds it.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: i64,
    pub kind: String,
    pub lead_id: Uuid,
    pub payload: Value,
    /// When the change committed its row (the database's time, comparable with other rows' `created_at`).
    pub created_at: DateTime<Utc>,
}

/// The kinds of lead event the outbox holds.
pub const LEAD_CREATED: &str = "lead.created";
pub const LEAD_STAGE_CHANGED: &str = "lead.stage_changed";
pub const LEAD_ASSIGNED: &str = "lead.assigned";
pub const LEAD_FUNDED: &str = "lead.funded";

/// What a consumer does with one lead event, inside the dispatching transaction, at the job's time.
pub type Apply =
    for<'a, 'c> fn(&'a mut Transaction<'c, Postgres>, &'a Published, DateTime<Utc>) -> BoxFuture<'a, AppResult<()>>;

/// A consumer of lead events: the kinds it wants and what it does with one, inside the dispatching
/// transaction (idempotent by construction: the transaction that applies it also marks it dispatched).
#[derive(Clone, Copy)]
pub struct Consumer {
    pub name: &'static str,
    pub kinds: &'static [&'static str],
    /// Applies one event at `now` (the dispatching job's time).
    pub handle: Apply,
}

struct Wiring {
    subscribers: Vec<Subscriber>,
    consumers: Vec<Consumer>,
}

static WIRING: Wired<Wiring> = Wired::new("domain events");

/// Wires the in-process subscribers and the lead events' consumers, in the order they run. The first wiring of
/// the process stands (every state the process builds wires the same lists).
pub fn wire(subscribers: Vec<Subscriber>, consumers: Vec<Consumer>) {
    WIRING.set(Wiring { subscribers, consumers });
}

fn wiring() -> AppResult<&'static Wiring> {
    WIRING.get()
}

/// Tells every subscriber about `event`, inside `tx`. An error from a subscriber is the caller's error: the
/// whole change rolls back.
pub async fn emit(tx: &mut Transaction<'_, Postgres>, event: Event<'_>) -> AppResult<()> {
    for subscriber in &wiring()?.subscribers {
        subscriber(tx, &event).await?;
    }
    Ok(())
}

/// Tells one person (see [`Event::Notify`]).
pub async fn notify(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    kind: &str,
    title: &str,
    link: &str,
) -> AppResult<()> {
    emit(tx, Event::Notify { user_ids: &[user_id], kind, title, link }).await
}

/// Writes lead events to the outbox in one statement, however many a bulk change makes (`kinds`, `lead_ids`
/// and `payloads` run in parallel), and queues one `events.dispatch` job for the rows some consumer wants (a
/// row no consumer in the process wants is dispatched as it is written; it stays for readers outside).
pub async fn publish(
    tx: &mut Transaction<'_, Postgres>,
    kinds: &[&str],
    lead_ids: &[Uuid],
    payloads: &[Value],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if lead_ids.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let wanted: Vec<String> =
        wiring()?.consumers.iter().flat_map(|c| c.kinds.iter().map(|k| k.to_string())).collect::<Vec<_>>();
    // The rows and, for those some consumer wants, their `events.dispatch` job, in one statement.
    sqlx::query!(
        r#"WITH ev AS (
             INSERT INTO domain_events (kind, lead_id, payload, dispatched_at)
             SELECT k, l, p, CASE WHEN k = ANY($4::text[]) THEN NULL ELSE now() END
             FROM UNNEST($1::text[], $2::uuid[], $3::jsonb[]) AS x(k, l, p)
             RETURNING id, dispatched_at)
           INSERT INTO jobs (kind, payload, run_at)
           SELECT 'events.dispatch', jsonb_build_object('event_ids', jsonb_agg(id ORDER BY id)), $5
           FROM ev WHERE dispatched_at IS NULL HAVING count(*) > 0"#,
        &kinds,
        lead_ids,
        payloads,
        &wanted,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `events.dispatch` job: applies its outbox rows that are not yet dispatched, in id order.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    let ids: Vec<i64> = serde_json::from_value(job.payload["event_ids"].clone())?;
    dispatch(state, &ids, now).await?;
    Ok(())
}

/// Applies these outbox rows (those still pending; the rest were dispatched before) to every consumer that
/// wants them, in one transaction that marks them dispatched. Returns how many it applied.
pub async fn dispatch(state: &AppState, event_ids: &[i64], now: DateTime<Utc>) -> AppResult<usize> {
    let consumers = &wiring()?.consumers;
    let mut tx = state.db.begin().await?;
    let pending = sqlx::query_as!(
        Published,
        "SELECT id, kind, lead_id, payload, created_at FROM domain_events
         WHERE id = ANY($1) AND dispatched_at IS NULL ORDER BY id FOR UPDATE",
        event_ids
    )
    .fetch_all(&mut *tx)
    .await?;
    for event in &pending {
        for consumer in consumers.iter().filter(|c| c.kinds.contains(&event.kind.as_str())) {
            (consumer.handle)(&mut tx, event, now).await.map_err(|e| {
                AppError::Internal(anyhow::anyhow!(
                    "{} could not apply event {} ({}): {}",
                    consumer.name,
                    event.id,
                    event.kind,
                    e.public_message()
                ))
            })?;
        }
    }
    let done: Vec<i64> = pending.iter().map(|e| e.id).collect();
    sqlx::query!("UPDATE domain_events SET dispatched_at = $2 WHERE id = ANY($1)", &done, now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.len())
}

/// Applies every pending outbox row now, in batches (waiting for rows another instance is applying); returns
/// how many it applied.
/// The demo calls it so its funded loans are in the portfolio when the server opens; the job queue does the
/// same work otherwise.
pub async fn dispatch_pending(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let ids: Vec<i64> =
            sqlx::query_scalar!("SELECT id FROM domain_events WHERE dispatched_at IS NULL ORDER BY id LIMIT 1000")
                .fetch_all(&state.db)
                .await?;
        if ids.is_empty() {
            return Ok(total);
        }
        total += dispatch(state, &ids, now).await?;
    }
}
