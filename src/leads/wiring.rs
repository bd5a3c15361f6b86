//! What `leads` calls above itself without importing it, wired once by the composition root (`lib.rs`):
//! routing a new lead (its safety-net job queued in the creating transaction, the routing run after the
//! commit) and the panels other capabilities add to the lead page, in page order. Code, identical in every
//! instance; no state.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::{AppState, Wired};

/// Queues new leads' routing (a safety net due shortly for each) inside the creating transaction.
pub type QueueRouting =
    for<'a, 'c> fn(&'a mut Transaction<'c, Postgres>, &'a [Uuid], DateTime<Utc>) -> BoxFuture<'a, AppResult<()>>;
/// Routes a created lead (with the others waiting on the instance), answering with its LO once it is routed,
/// or with None once the wait given is over while its routing goes on (None: wait until it is routed).
pub type RouteNewLead = for<'a> fn(
    &'a AppState,
    Uuid,
    Option<&'a CurrentUser>,
    Option<std::time::Duration>,
) -> BoxFuture<'a, AppResult<Option<Uuid>>>;
/// A panel of the lead page, as HTML, for this user (scoped by its capability).
pub type LeadPanel = for<'a> fn(&'a AppState, &'a CurrentUser, Uuid) -> BoxFuture<'a, AppResult<String>>;

pub struct LeadWiring {
    pub queue_routing: QueueRouting,
    /// `routing::batch::route_created_soon`.
    pub route_new_lead: RouteNewLead,
    pub lead_panels: Vec<LeadPanel>,
}

static WIRING: Wired<LeadWiring> = Wired::new("leads");

/// Wires `leads` to the capabilities above it; the first wiring of the process stands.
pub fn wire(wiring: LeadWiring) {
    WIRING.set(wiring);
}

pub(crate) fn wired() -> AppResult<&'static LeadWiring> {
    WIRING.get()
}
