//! The `locks.expire` job: live locks whose expiry has come become `expired` (event `expired`, origin `job`,
//! webhook `lock.expired`, a bell to the loan's LO), and a live lock whose last day is three days away or less
//! gets the "expiring" notice once per last day (webhook `lock.expiring` and a bell to the LO; an extension moves
//! the last day, so the new one gets its notice too).
//!
//! When it runs: every lock's change queues a run at its expiry instant and at the start of its notice day (the
//! job's dedupe key is the instant), and the job also runs every hour as a safety net (scheduled at server start
//! and by each run). Safe with several instances: each run takes the rows it changes with
//! `FOR UPDATE SKIP LOCKED`, and the notice is a conditional update.

use chrono::{DateTime, Duration, Utc};
use sqlx::{Postgres, Transaction};

use super::schedule::{BATCH, NOTICE_DAYS, enqueue_at, next_hour};
pub use super::schedule::{EXPIRE_JOB, schedule, schedule_for};
use super::service::{Change, expire_one, loan_label, record};
use super::store::{self, LockRow};
use crate::error::AppResult;
use crate::state::AppState;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub noticed: usize,
}

/// Expires the locks whose expiry is at or before `now`, sends the due notices, and schedules the next hourly
/// run.
pub async fn run(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    loop {
        let mut tx = state.db.begin().await?;
        let ids = store::lapsed(&mut tx, now, BATCH).await?;
        for id in &ids {
            let Some(lock) = store::lock_for_update(&mut tx, *id).await? else { continue };
            if lock.status == "locked" && lock.expires_at <= now {
                expire_one(state, &mut tx, &lock).await?;
            }
        }
        tx.commit().await?;
        swept.expired += ids.len();
        if (ids.len() as i64) < BATCH {
            break;
        }
    }
    let today = now.with_timezone(&state.config.timezone).date_naive();
    loop {
        let mut tx = state.db.begin().await?;
        let ids = store::due_for_notice(&mut tx, today + Duration::days(NOTICE_DAYS), now, BATCH).await?;
        for id in &ids {
            let Some(lock) = store::lock_for_update(&mut tx, *id).await? else { continue };
            if store::mark_expiring_notice(&mut tx, lock.id, lock.last_day).await? {
                notice(state, &mut tx, &lock).await?;
                swept.noticed += 1;
            }
        }
        tx.commit().await?;
        if (ids.len() as i64) < BATCH {
            break;
        }
    }
    let mut tx = state.db.begin().await?;
    enqueue_at(&mut tx, next_hour(now)).await?;
    tx.commit().await?;
    Ok(swept)
}

/// The "expiring" notice of one lock: history, webhook and the LO's bell.
async fn notice(state: &AppState, tx: &mut Transaction<'_, Postgres>, before: &LockRow) -> AppResult<()> {
    let after = store::lock_in(tx, before.id).await?;
    let change = Change::new("expiring_notice", "job", "", Some("lock.expiring"));
    record(state, tx, None, Some(before), &after, change).await?;
    if let Some(lo) = store::lead_owner(tx, after.lead_id).await?.and_then(|o| o.assigned_lo_id) {
        let title = format!("Rate lock ends {}: {}", after.last_day.format("%b %-d"), loan_label(&after));
        crate::events::notify(tx, lo, "locks.expiring", &title, &format!("/leads/{}", after.lead_id)).await?;
    }
    Ok(())
}
