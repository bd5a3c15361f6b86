//! What escalations read from above themselves without importing it, wired once by the composition root
//! (`lib.rs`): coaching's per-LO figures, computed by `metrics` with the one definition of each figure the
//! dashboard, the LO page, the API and the CSVs use (issue 17). Code, identical in every instance; no state.

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::{AppState, Wired};

/// One LO's figures over leads assigned in a date range, as the dashboard defines them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfficerFigures {
    pub lo_id: Uuid,
    /// Leads assigned to the LO in the range (the cohort).
    pub assigned: i64,
    /// Of those, leads called at least once.
    pub called: i64,
    /// Leads reached ÷ leads assigned, percent.
    pub contact_rate_pct: Option<f64>,
    /// Leads that reached application ÷ leads assigned, percent.
    pub application_rate_pct: Option<f64>,
    pub talk_seconds: i64,
    pub funded: i64,
}

/// The figures of the LOs this user may see, over leads assigned in [from, to) (organisation's days).
pub type OfficerFiguresFn =
    for<'a> fn(&'a AppState, &'a CurrentUser, NaiveDate, NaiveDate) -> BoxFuture<'a, AppResult<Vec<OfficerFigures>>>;

pub struct EscalationsWiring {
    pub officer_figures: OfficerFiguresFn,
}

static WIRING: Wired<EscalationsWiring> = Wired::new("escalations");

/// Wires escalations to what they read from above; the first wiring of the process stands.
pub fn wire(wiring: EscalationsWiring) {
    WIRING.set(wiring);
}

pub(crate) fn wired() -> AppResult<&'static EscalationsWiring> {
    WIRING.get()
}
