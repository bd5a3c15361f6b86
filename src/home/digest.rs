//! The manager's morning digest (issue 19): at 7:00 in the organisation's time zone every manager gets, by
//! email (unless their preferences say no), yesterday's figures for their teams — the funnel of yesterday's
//! leads, speed to lead and the SLA misses, the stale leads and the requests waiting for them — each with the
//! link to the page that shows it. It is built from the dashboard's own figures (`metrics`), so the email and
//! the page never disagree.
//!
//! One `home.manager_digest` job a day (its dedupe key is the day), taken by one instance; each manager's
//! message has the key `digest:manager:<user>:<day>`, so a rerun writes nothing twice. The job schedules the
//! next morning's run in the transaction that writes the messages; the server schedules the first at start.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::state::AppState;

pub const DIGEST_JOB: &str = "home.manager_digest";

/// The kind people choose on their preferences page.
pub const DIGEST_KIND: &str = "manager.digest";

fn job_key(at: DateTime<Utc>) -> String {
    format!("{DIGEST_JOB}:{}", at.date_naive())
}

/// Makes sure the next morning's digest is scheduled (at server start; a no-op when it already is).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    let at = crate::lossmit::store::next_digest_at(state.clock.now(), state.config.timezone);
    let mut tx = state.db.begin().await?;
    crate::jobs::enqueue(&mut tx, DIGEST_JOB, serde_json::json!({}), at, Some(&job_key(at))).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs the `home.manager_digest` job at `now`: the digest of the local day before.
pub async fn run_job(state: &AppState, _job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    let today = now.with_timezone(&state.config.timezone).date_naive();
    send_digests(state, today - Duration::days(1), now).await?;
    Ok(())
}

/// What one manager reads about `day`.
pub struct Digest {
    pub manager: Uuid,
    pub subject: String,
    pub body: String,
}

/// Writes every active manager's digest of `day` to the outbox and schedules the next run; the number written.
pub async fn send_digests(state: &AppState, day: NaiveDate, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let managers: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE role = 'manager' AND active ORDER BY id")
        .fetch_all(&state.db)
        .await?;
    let mut digests = Vec::new();
    for id in managers {
        let Some(row) = crate::auth::store::find_user(&state.db, id).await? else { continue };
        let manager = row.into_current(false);
        // A manager of no team has no figures to read.
        if manager.metrics_scope()? == crate::auth::Scope::nothing() {
            continue;
        }
        digests.push(digest(state, &manager, day).await?);
    }
    let mut tx = state.db.begin().await?;
    let mut written = 0;
    for d in &digests {
        let key = format!("digest:manager:{}:{day}", d.manager);
        let message = crate::messages::store::StaffMessage {
            user: d.manager,
            kind: DIGEST_KIND,
            event_key: &key,
            subject: &d.subject,
            body: &d.body,
        };
        written += usize::from(crate::messages::store::queue_staff_message(&mut tx, &message).await?.is_some());
    }
    let next = crate::lossmit::store::next_digest_at(now, state.config.timezone);
    crate::jobs::enqueue(&mut tx, DIGEST_JOB, serde_json::json!({}), next, Some(&job_key(next))).await?;
    tx.commit().await?;
    Ok(written)
}

/// One manager's digest of `day`, from the dashboard's figures for their teams.
pub async fn digest(state: &AppState, manager: &CurrentUser, day: NaiveDate) -> anyhow::Result<Digest> {
    // The dashboard's range ends before `to`.
    let next_day = day + Duration::days(1);
    let params = crate::metrics::dashboard::Params {
        from: Some(day.to_string()),
        to: Some(next_day.to_string()),
        ..Default::default()
    };
    let d = crate::metrics::dashboard::dashboard(state, manager, &params)
        .await
        .map_err(|e| anyhow::anyhow!("the dashboard for the digest: {e}"))?;
    let tz = state.config.timezone;
    let midnight = |d: NaiveDate| crate::web::format::from_local(d.and_time(chrono::NaiveTime::MIN), tz);
    let (start, end) = (midnight(day), midnight(next_day));
    let misses = crate::routing::store::sla_misses(&state.db, &manager.metrics_scope()?, start, end).await?;
    let url = crate::messages::store::PUBLIC_URL;
    let funnel: Vec<String> = d.funnel.iter().map(|s| format!("{} {}", s.label, s.reached)).collect();
    let s = &d.speed_total;
    let within = s.within_5_min_pct.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "—".into());
    let stale = if d.stale_capped { format!("more than {}", d.stale) } else { d.stale.to_string() };
    let date = day.format("%A %-d %B %Y");
    let body = format!(
        "Good morning, {name}. Your teams on {date}:\n\n\
         Leads in: {leads}\n\
         Where yesterday's leads stand: {funnel}\n\
         Speed to lead: {assigned} assigned, {called} called, {within} called within 5 minutes\n\
         Speed-to-lead SLA missed: {misses}\n\
         Stale leads now: {stale}\n\
         Requests waiting for your decision: {waiting}\n\
         Leads waiting for an LO: {unassigned}\n\n\
         Yesterday on the dashboard: {url}/dashboard?from={day}&to={next_day}\n\
         The stale leads: {url}{stale_link}\n\
         Requests: {url}/escalations\n\n\
         --\nLoanfloor. Choose which notifications reach you by email: {url}/messages/preferences",
        name = manager.name,
        leads = d.team.n,
        funnel = funnel.join(" → "),
        assigned = s.assigned,
        called = s.called,
        waiting = d.escalations_waiting,
        unassigned = d.unassigned,
        stale_link = d.stale_link,
    );
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let subject = format!(
        "Your teams yesterday: {} in, {}, {stale} stale",
        plural(d.team.n, "lead", "leads"),
        plural(misses, "speed-to-lead miss", "speed-to-lead misses")
    );
    Ok(Digest { manager: manager.id, subject, body })
}
