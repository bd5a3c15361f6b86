//! What `accounts` calls above itself without importing it, wired once by the composition root (`lib.rs`):
//! handing an offboarded LO's open leads over (routing does it). Code, identical in every instance; no state.

use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::HandOver;
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::{AppState, Wired};

/// Moves every open lead of an LO as the admin chose, inside the deactivation's transaction; how many moved.
pub type HandOverLeads = for<'a, 'c> fn(
    &'a AppState,
    &'a mut Transaction<'c, Postgres>,
    &'a CurrentUser,
    Uuid,
    HandOver,
) -> BoxFuture<'a, AppResult<u64>>;

pub struct AccountsWiring {
    pub hand_over_open_leads: HandOverLeads,
}

static WIRING: Wired<AccountsWiring> = Wired::new("accounts");

/// Wires `accounts` to the capabilities above it; the first wiring of the process stands.
pub fn wire(wiring: AccountsWiring) {
    WIRING.set(wiring);
}

pub(crate) fn wired() -> AppResult<&'static AccountsWiring> {
    WIRING.get()
}
