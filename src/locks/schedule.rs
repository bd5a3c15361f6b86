//! When the `locks.expire` job runs (see `expire`): every change to a live lock queues a run at the lock's expiry
//! instant and at the start of its notice day (the job's dedupe key is the instant), and an hourly run is the
//! safety net. The service queues them with each change; the job runs them.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::{Postgres, Transaction};

use super::store::LockRow;
use crate::error::AppResult;
use crate::state::{AppState, day_start};

pub const EXPIRE_JOB: &str = "locks.expire";

/// How many days before its last day a lock gets its "expiring" notice.
pub const NOTICE_DAYS: i64 = 3;

/// How many locks one transaction of the job takes.
pub(crate) const BATCH: i64 = 200;

fn job_key(at: DateTime<Utc>) -> String {
    format!("{EXPIRE_JOB}:{}", at.to_rfc3339())
}

pub(crate) async fn enqueue_at(tx: &mut Transaction<'_, Postgres>, at: DateTime<Utc>) -> sqlx::Result<()> {
    crate::jobs::enqueue(tx, EXPIRE_JOB, serde_json::json!({}), at, Some(&job_key(at))).await?;
    Ok(())
}

/// Queues the runs a live lock needs: at its expiry and at the start of its notice day (now, when that has
/// passed).
pub async fn schedule_for(state: &AppState, tx: &mut Transaction<'_, Postgres>, lock: &LockRow) -> AppResult<()> {
    let now = state.clock.now();
    let notice = day_start(state.config.timezone, lock.last_day - Duration::days(NOTICE_DAYS)).max(now);
    if lock.expiring_notice_for != Some(lock.last_day) {
        enqueue_at(tx, notice).await?;
    }
    enqueue_at(tx, lock.expires_at).await?;
    Ok(())
}

/// Makes sure the next hourly run is scheduled (at server start; a no-op when it already is).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    enqueue_at(&mut tx, next_hour(state.clock.now())).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) fn next_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
}
