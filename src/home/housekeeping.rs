//! Hourly housekeeping (issue 24, in part): what the application keeps only for a while is removed on time,
//! whichever instance runs it — expired sessions, import bad-row reports older than 24 hours and uploads a
//! crashed process left behind. One `home.housekeeping` job an hour (its dedupe key is the hour), scheduled at
//! server start and by each run.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::state::AppState;

pub const HOUSEKEEPING_JOB: &str = "home.housekeeping";

fn next_run(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
}

fn job_key(at: DateTime<Utc>) -> String {
    format!("{HOUSEKEEPING_JOB}:{}", at.format("%Y-%m-%dT%H"))
}

/// Makes sure the next hour's run is scheduled (at server start; a no-op when it already is).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    schedule_after(state, state.clock.now()).await
}

/// Schedules the run of the hour after `now`, once whoever asks (the job's dedupe key is the hour).
async fn schedule_after(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let at = next_run(now);
    let mut tx = state.db.begin().await?;
    crate::jobs::enqueue(&mut tx, HOUSEKEEPING_JOB, serde_json::json!({}), at, Some(&job_key(at))).await?;
    tx.commit().await?;
    Ok(())
}

/// What one run removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub import_reports: u64,
    pub upload_files: usize,
}

/// Removes what is past its time, then schedules the next run.
pub async fn run(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<Swept> {
    let sessions = crate::auth::session_store::purge_expired(&state.db).await?;
    let (import_reports, upload_files) = crate::leads::uploads::purge(&state.db, now).await?;
    let swept = Swept { sessions, import_reports, upload_files };
    if swept != Swept::default() {
        tracing::info!(?swept, "housekeeping");
    }
    schedule_after(state, now).await?;
    Ok(swept)
}
