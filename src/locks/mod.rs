//! Rate locks and the lock desk (issue 20): a lock is part of the loan record, so this layer sits directly
//! above `leads` (escalations and webhooks build on it) and imports only leads and the layers below.
//!
//! - `model`: the pricing rules a lock desk applies (pure): periods and expiry in the organisation's time zone,
//!   extensions from an investor's schedule, worst-case relocks, float-downs, their cost in dollars.
//! - `service`: one function per change (lock, extend, relock, float-down, cancel), each in the caller's
//!   transaction with its history row, audit entry and webhook event; who may do what; the reads.
//! - `investors`: the investors and their extension schedules (admins).
//! - `expire`: the `locks.expire` job (expiry, the "expiring in 3 days" notice); `schedule`: when it runs.
//! - `import`: locks from the LOS (API and CLI), idempotent by loan and LOS lock id.
//! - `api`: `/api/v1/locks`, `/api/v1/lock-investors`, `/api/v1/los/locks`.
//! - `pages`: the lead page's lock panel, the lock form and a lock's page; `investor_pages`: the admin's
//!   investors; `desk`: the lock desk and the list of loans behind its figures.
//! - `store`: the SQL.

pub mod api;
pub mod desk;
pub mod expire;
pub mod import;
pub mod investor_pages;
pub mod investors;
pub mod model;
pub mod pages;
pub mod schedule;
pub mod service;
pub mod store;

pub use service::{
    NewLock, begin_change, cancel, extend, extension_quote, float_down, history, investors, lock, locks_for_lead,
    relock, visible_lock,
};
pub use store::{InvestorRow, LockEventRow, LockRow, ScheduleOption};

use chrono::{DateTime, Utc};

use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    api::router().merge(desk::router()).merge(pages::router()).merge(investor_pages::router())
}

/// Runs a `locks.*` job: `locks.expire` expires the lapsed locks and sends the due notices.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        expire::EXPIRE_JOB => expire::run(state, now).await.map(|_| ()),
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

/// Schedules the hourly expiry run (at server start).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    expire::schedule(state).await
}
