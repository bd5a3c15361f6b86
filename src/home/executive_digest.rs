//! The weekly executive digest (issue 26): each Monday at 7:00 in the organisation's time zone, the executive
//! department's members and lead get, by email (unless their preferences say no), the executive escalations
//! still open and the week's breaches per department (response times passed, complaints' regulatory deadlines
//! missed), each with its link. The same machinery as the
//! managers' morning digest: one job a week (its dedupe key is the day), one message per reader and week.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::state::AppState;

pub const EXECUTIVE_DIGEST_JOB: &str = "home.executive_digest";
pub const EXECUTIVE_DIGEST_KIND: &str = "departments.executive_digest";

fn job_key(at: DateTime<Utc>) -> String {
    format!("{EXECUTIVE_DIGEST_JOB}:{}", at.date_naive())
}

/// The next Monday 7:00 (organisation's time) after `now`.
pub fn next_run(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let mut at = crate::lossmit::store::next_digest_at(now, tz);
    while at.with_timezone(&tz).weekday() != chrono::Weekday::Mon {
        at = crate::lossmit::store::next_digest_at(at, tz);
    }
    at
}

pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    let at = next_run(state.clock.now(), state.config.timezone);
    let mut tx = state.db.begin().await?;
    crate::jobs::enqueue(&mut tx, EXECUTIVE_DIGEST_JOB, serde_json::json!({}), at, Some(&job_key(at))).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn run_job(state: &AppState, _job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    send(state, now).await.map(|_| ())
}

/// Writes each reader's digest of the week up to `now` and schedules the next; the number written.
pub async fn send(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let d = crate::departments::service::executive_digest(state, now)
        .await
        .map_err(|e| anyhow::anyhow!("the executive digest: {e}"))?;
    let url = crate::messages::store::PUBLIC_URL;
    let tz = state.config.timezone;
    let week = (now - Duration::days(7)).with_timezone(&tz).date_naive();
    let open: Vec<String> = d
        .open
        .iter()
        .map(|i| {
            format!(
                "- {} for {} (forwarded by {}, due {}{}): {url}/departments/items/{}",
                crate::departments::model::item_kind_label(&i.item_kind),
                i.borrower,
                i.forwarded_by_name,
                crate::web::format::local_time(&i.due_at),
                if i.due_at <= now { ", past due" } else { "" },
                i.id
            )
        })
        .collect();
    let breaches: Vec<String> = d.breaches.iter().map(|(name, n)| format!("- {name}: {n}")).collect();
    let subject = format!(
        "Executive digest: {} open, {} breaches this week",
        d.open.len(),
        d.breaches.iter().map(|b| b.1).sum::<i64>()
    );
    let body = format!(
        "The week since {week}.\n\n\
         Executive escalations open ({n}):\n{open}\n\n\
         Breaches this week (response times and complaints' regulatory deadlines), per department:\n{breaches}\n\n\
         Every department's figures: {url}/departments\n\n\
         --\nLoanfloor. Choose which notifications reach you by email: {url}/messages/preferences",
        n = d.open.len(),
        open = if open.is_empty() { "- none".to_string() } else { open.join("\n") },
        breaches = if breaches.is_empty() { "- none".to_string() } else { breaches.join("\n") },
    );
    let mut tx = state.db.begin().await?;
    let mut written = 0;
    for reader in &d.readers {
        let key = format!("digest:executive:{reader}:{}", now.with_timezone(&tz).date_naive());
        let message = crate::messages::store::StaffMessage {
            user: *reader,
            kind: EXECUTIVE_DIGEST_KIND,
            event_key: &key,
            subject: &subject,
            body: &body,
        };
        written += usize::from(crate::messages::store::queue_staff_message(&mut tx, &message).await?.is_some());
    }
    let next = next_run(now, tz);
    crate::jobs::enqueue(&mut tx, EXECUTIVE_DIGEST_JOB, serde_json::json!({}), next, Some(&job_key(next))).await?;
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_runs_on_monday_mornings() {
        let tz = chrono_tz::America::Chicago;
        // Wednesday 2026-03-11 15:00 UTC → Monday 2026-03-16 07:00 CDT = 12:00 UTC.
        let now = DateTime::parse_from_rfc3339("2026-03-11T15:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(next_run(now, tz).to_rfc3339(), "2026-03-16T12:00:00+00:00");
        // Monday 6:00 local → the same morning.
        let now = DateTime::parse_from_rfc3339("2026-03-16T11:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(next_run(now, tz).to_rfc3339(), "2026-03-16T12:00:00+00:00");
    }
}
