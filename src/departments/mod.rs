//! Departments (issue 26): underwriting, processing, closing, compliance, legal, collections, secondary,
//! executive and marketing as records, and the escalations and case questions forwarded to them. A layer of
//! its own above `locks` and below the capabilities: escalations and loss mitigation both forward through it
//! without importing each other.
//!
//! - `model`: the departments, each kind's default department and decision options, the business-hours clock.
//! - `complaint_clock`: a complaint's regulatory deadlines (Regulation X, the CFPB portal, a regulator's date);
//!   `complaints`: recording the clock and its steps, the breach job.
//! - `service`: save a department; forward, answer, send back; the SLA breach job; who sees which item.
//! - `admin_pages`: `/admin/departments` (admins); `pages`: the overview with each department's figures, the
//!   queue, an item's page with its answer form; `api`: `/api/v1/departments/items`.
//! - `store`: the SQL.

pub mod admin_pages;
pub mod api;
pub mod complaint_clock;
pub mod complaints;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;

pub use service::{ItemAccess, Subject, for_case, for_escalation, forward};
pub use store::{HopRow, ItemRow};

use chrono::{DateTime, Utc};

use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    admin_pages::router().merge(pages::router()).merge(api::router())
}

/// Runs a `departments.*` job: `departments.sla_breach` reports an item still open past its SLA,
/// `departments.complaint_breach` a complaint's regulatory deadline passed and not done.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        service::BREACH_JOB => service::run_breach(state, job, now).await,
        complaints::BREACH_JOB => complaints::run_breach(state, job, now).await,
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
