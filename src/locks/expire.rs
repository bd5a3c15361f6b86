//! The `locks.expire` job: live locks whose expiry has come become `expired` (event `expired`, origin `job`,
//! webhook `lock.expired`, a bell to the loan's LO), and a live lock whose last day is three days away or less
//! gets the "expiring" notice once per last day (webhook `lock.expiring` and a bell to the LO; an extension moves
//! the last day, so the new one gets its notice too).
//!
//! When it runs: every lock's change queues a run at its expiry instant and at the start of its notice day (the
//! job's dedupe key is the instant), and the job also runs every hour as a safety net (scheduled at server start
//! and by each run). Safe with several instances: each run takes the rows it changes with
//! `FOR UPDATE SKIP LOCKED`, and the notice is a conditional update.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::{Postgres, Transaction};

use super::model;
use super::service::{Change, record, same};
use super::store::{self, LockRow, LockUpdate};
use crate::error::AppResult;
use crate::state::{AppState, day_start};

pub const EXPIRE_JOB: &str = "locks.expire";

/// How many days before its last day a lock gets its "expiring" notice.
pub const NOTICE_DAYS: i64 = 3;

const BATCH: i64 = 200;

fn job_key(at: DateTime<Utc>) -> String {
    format!("{EXPIRE_JOB}:{}", at.to_rfc3339())
}

async fn enqueue_at(tx: &mut Transaction<'_, Postgres>, at: DateTime<Utc>) -> sqlx::Result<()> {
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

fn next_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
}

/// Ends a live lock whose expiry has come, in the caller's transaction (the job, or a relock that got there
/// first). The lock must be locked for update by the caller.
pub async fn expire_one(state: &AppState, tx: &mut Transaction<'_, Postgres>, before: &LockRow) -> AppResult<LockRow> {
    let now = state.clock.now();
    let update = LockUpdate { status: "expired", ended_at: Some(before.expires_at), ..same(before, now) };
    store::update_lock(tx, before.id, &update).await?;
    let after = store::lock_in(tx, before.id).await?;
    record(state, tx, None, Some(before), &after, Change::new("expired", "job", "", Some("lock.expired"))).await?;
    if let Some(lo) = store::lead_owner(tx, after.lead_id).await?.and_then(|o| o.assigned_lo_id) {
        let title = format!("Rate lock expired: {}", loan_label(&after));
        crate::events::notify(tx, lo, "locks.expired", &title, &format!("/leads/{}", after.lead_id)).await?;
    }
    Ok(after)
}

fn loan_label(lock: &LockRow) -> String {
    let loan = lock.loan_number.clone().unwrap_or_else(|| "a loan without a loan number".into());
    format!("{loan} ({}, {} {})", lock.investor_name, lock.product, model::rate_label(lock.rate_milli))
}

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
