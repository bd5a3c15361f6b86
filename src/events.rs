//! Domain events: how a lower layer tells the capabilities above it that something happened, without
//! importing them (issue 16). `leads` says "this lead was created, changed stage, was assigned, funded";
//! escalations say "this request was decided"; any capability says "tell these people". The composition root
//! (`lib.rs`) wires the subscribers once, at start; [`emit`] runs them inside the caller's transaction, so a
//! webhook delivery, a portfolio loan or a bell notification exists exactly when the change does, and a
//! rolled-back change leaves none. Lead events also write one row to the `domain_events` outbox in the same
//! transaction, for consumers outside the process, in commit order.
//!
//! The wiring is code, set once and identical in every instance; it holds no state.

use std::sync::OnceLock;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Acts;
use crate::error::{AppError, AppResult};

/// Something that happened, told inside the transaction that made it happen.
pub enum Event<'a> {
    /// A lead was created; `payload` is what integrations receive as `lead.created`.
    LeadCreated { lead_id: Uuid, payload: &'a Value },
    /// A lead's stage changed (`lead.stage_changed`).
    LeadStageChanged { lead_id: Uuid, payload: &'a Value },
    /// A lead funded (`lead.funded`): it becomes a past client's loan.
    LeadFunded { lead_id: Uuid, payload: &'a Value },
    /// A lead names the past client who referred it, by loan number (None: nobody).
    LeadReferred { lead_id: Uuid, loan_number: Option<&'a str>, actor: Option<&'a dyn Acts> },
    /// An escalation was decided (`escalation.decided`).
    EscalationDecided { payload: &'a Value },
    /// These people should find this in their bell.
    Notify { user_ids: &'a [Uuid], kind: &'a str, title: &'a str, link: &'a str },
}

impl Event<'_> {
    /// The outbox row of a lead event: its kind, lead and payload.
    fn outbox(&self) -> Option<(&'static str, Uuid, Value)> {
        match self {
            Event::LeadCreated { lead_id, payload } => Some(("lead.created", *lead_id, (*payload).clone())),
            Event::LeadStageChanged { lead_id, payload } => Some(("lead.stage_changed", *lead_id, (*payload).clone())),
            Event::LeadFunded { lead_id, payload } => Some(("lead.funded", *lead_id, (*payload).clone())),
            _ => None,
        }
    }
}

/// A subscriber: reacts to the events it cares about inside the emitting transaction (and ignores the rest).
pub type Subscriber =
    for<'a, 'c, 'e> fn(&'a mut Transaction<'c, Postgres>, &'a Event<'e>) -> BoxFuture<'a, AppResult<()>>;

static SUBSCRIBERS: OnceLock<Vec<Subscriber>> = OnceLock::new();

/// Wires the subscribers, in the order they run. The first wiring of the process stands (every state the
/// process builds wires the same list).
pub fn wire(subscribers: Vec<Subscriber>) {
    let _ = SUBSCRIBERS.set(subscribers);
}

/// Tells every subscriber about `event`, inside `tx`; a lead event also writes its outbox row. An error from
/// a subscriber is the caller's error: the whole change rolls back.
pub async fn emit(tx: &mut Transaction<'_, Postgres>, event: Event<'_>) -> AppResult<()> {
    if let Some((kind, lead_id, payload)) = event.outbox() {
        sqlx::query!("INSERT INTO domain_events (kind, lead_id, payload) VALUES ($1, $2, $3)", kind, lead_id, payload)
            .execute(&mut **tx)
            .await?;
    }
    let subscribers = SUBSCRIBERS.get().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("domain events are not wired: build the state with loanfloor::state"))
    })?;
    for subscriber in subscribers {
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

/// Leads were assigned to an LO or a team's queue (or taken from one): their `lead.assigned` outbox rows, in
/// one statement however many leads a bulk reassignment moves. No subscriber in the process reacts to an
/// assignment yet (routing makes them; notifications are told by routing itself).
pub async fn leads_assigned(
    tx: &mut Transaction<'_, Postgres>,
    lead_ids: &[Uuid],
    to_lo: Option<Uuid>,
    to_team: Option<Uuid>,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO domain_events (kind, lead_id, payload)
         SELECT 'lead.assigned', l,
                jsonb_build_object('lead_id', l, 'to_lo_id', $2::uuid, 'to_team_id', $3::uuid, 'reason', $4::text)
         FROM unnest($1::uuid[]) AS l",
        lead_ids,
        to_lo,
        to_team,
        reason
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
