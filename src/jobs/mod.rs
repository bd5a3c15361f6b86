//! The job queue: timed and background work as rows in Postgres. Workers in any number of instances claim
//! due jobs with `FOR UPDATE SKIP LOCKED`; a job survives restarts, and failures retry with backoff.
//!
//! The queue knows no capability: each job kind's namespace (the part of `kind` before the first `.`, e.g.
//! `routing` for `routing.sla_check`) is mapped to a handler in a [`Registry`], which the composition root
//! (`crate::job_kinds` in `lib.rs`) fills in and [`AppState`] carries.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use tokio::sync::watch;

use crate::state::AppState;

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// What a job handler returns: boxed so handlers of every capability fit one table.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Runs one claimed job of a registered namespace at `now`.
pub type Handler = for<'a> fn(&'a AppState, &'a Job, DateTime<Utc>) -> JobFuture<'a>;

/// Job kinds by namespace → the handler that runs them. Built once at start (see `crate::job_kinds`), shared
/// by every clone of the state; `noop` is built in.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every job whose kind starts with `namespace.` (or is exactly `namespace`) to `handler`.
    /// Registering a namespace twice is a wiring mistake and panics at start.
    pub fn register(mut self, namespace: &'static str, handler: Handler) -> Self {
        let previous = self.handlers.insert(namespace, handler);
        assert!(previous.is_none(), "job namespace {namespace} registered twice");
        self
    }

    /// The registered namespaces, sorted (for tests and diagnostics).
    pub fn namespaces(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.handlers.keys().copied().collect();
        names.sort_unstable();
        names
    }

    fn handler(&self, kind: &str) -> Option<Handler> {
        self.handlers.get(kind.split('.').next().unwrap_or("")).copied()
    }
}

/// Queues a job inside the caller's transaction. With a `dedupe_key`, a second queued job with the same key
/// is not added (returns None).
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    payload: Value,
    run_at: DateTime<Utc>,
    dedupe_key: Option<&str>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"INSERT INTO jobs (kind, payload, run_at, dedupe_key) VALUES ($1, $2, $3, $4)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
           RETURNING id"#,
        kind,
        payload,
        run_at,
        dedupe_key
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Queues jobs of one kind in one statement inside the caller's transaction (`payloads` and `dedupe_keys` run
/// in parallel), as [`enqueue`] queues each: a key with a job already queued or running adds nothing. For the
/// many jobs one change makes at once (a message to each of a team's managers), so they cost one round trip.
pub async fn enqueue_many(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    payloads: &[Value],
    run_at: DateTime<Utc>,
    dedupe_keys: &[Option<String>],
) -> sqlx::Result<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"INSERT INTO jobs (kind, payload, run_at, dedupe_key)
           SELECT $1, p, $3, k FROM UNNEST($2::jsonb[], $4::text[]) AS x(p, k)
           ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING"#,
        kind,
        payloads,
        run_at,
        dedupe_keys as &[Option<String>]
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A job to queue together with others ([`enqueue_each`]), without a dedupe key.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: Value,
    pub run_at: DateTime<Utc>,
}

/// Queues `jobs` (any kinds, any times) in one statement inside the caller's transaction: the timed follow-ups
/// of a routing batch's assignments cost one round trip, not one per job.
pub async fn enqueue_each(tx: &mut Transaction<'_, Postgres>, jobs: &[NewJob]) -> sqlx::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind).collect();
    let payloads: Vec<Value> = jobs.iter().map(|j| j.payload.clone()).collect();
    let run_ats: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.run_at).collect();
    sqlx::query!(
        "INSERT INTO jobs (kind, payload, run_at) SELECT * FROM UNNEST($1::text[], $2::jsonb[], $3::timestamptz[])",
        &kinds as &[&str],
        &payloads,
        &run_ats
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Claims one due job, or None.
pub async fn claim(state: &AppState, now: DateTime<Utc>, worker: &str) -> sqlx::Result<Option<Job>> {
    sqlx::query_as!(
        Job,
        r#"UPDATE jobs SET status = 'running', locked_at = $1, locked_by = $2, attempts = attempts + 1
           WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $1
                       ORDER BY run_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
           RETURNING id, kind, payload, attempts, max_attempts"#,
        now,
        worker
    )
    .fetch_optional(&state.db)
    .await
}

/// Records progress of a long job (e.g. a bulk reassignment) for its progress bar.
pub async fn set_progress(state: &AppState, id: i64, done: i64, total: i64) -> sqlx::Result<()> {
    sqlx::query!("UPDATE jobs SET progress = $2, total = $3 WHERE id = $1", id, done, total).execute(&state.db).await?;
    Ok(())
}

async fn finish(state: &AppState, job: &Job, result: anyhow::Result<()>, now: DateTime<Utc>) -> sqlx::Result<()> {
    match result {
        Ok(()) => {
            sqlx::query!(
                "UPDATE jobs SET status = 'done', finished_at = $2, locked_at = NULL WHERE id = $1",
                job.id,
                now
            )
            .execute(&state.db)
            .await?;
        }
        Err(e) => {
            tracing::warn!(job = job.id, kind = %job.kind, error = %e, "job failed");
            let give_up = job.attempts >= job.max_attempts;
            let backoff = chrono::Duration::seconds(30 * 2i64.pow(job.attempts.clamp(0, 10) as u32));
            sqlx::query!(
                "UPDATE jobs SET status = CASE WHEN $2 THEN 'failed' ELSE 'queued' END, last_error = $3,
                        run_at = $4, locked_at = NULL, finished_at = CASE WHEN $2 THEN $5::timestamptz ELSE NULL END
                 WHERE id = $1",
                job.id,
                give_up,
                format!("{e:#}"),
                now + backoff,
                now
            )
            .execute(&state.db)
            .await?;
        }
    }
    Ok(())
}

/// Runs every job due at `now`; returns how many ran. Tests call this with a controlled clock.
pub async fn run_due(state: &AppState, now: DateTime<Utc>, worker: &str) -> anyhow::Result<usize> {
    let mut ran = 0;
    while let Some(job) = claim(state, now, worker).await? {
        let result = dispatch(state, &job, now).await;
        finish(state, &job, result, now).await?;
        ran += 1;
    }
    Ok(ran)
}

/// Sends a job to the handler registered for its kind's namespace.
async fn dispatch(state: &AppState, job: &Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    if job.kind.split('.').next() == Some("noop") {
        return Ok(());
    }
    match state.jobs.handler(&job.kind) {
        Some(handler) => handler(state, job, now).await,
        None => anyhow::bail!("unknown job kind {}", job.kind),
    }
}

/// Requeues jobs whose worker died mid-run (locked for over 10 minutes).
pub async fn recover_stale(state: &AppState, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let r = sqlx::query!(
        "UPDATE jobs SET status = 'queued', locked_at = NULL WHERE status = 'running' AND locked_at < $1::timestamptz - interval '10 minutes'",
        now
    )
    .execute(&state.db)
    .await?;
    Ok(r.rows_affected())
}

/// The background worker loop; stops when `shutdown` flips to true, after finishing the current job.
pub fn spawn_worker(state: AppState, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        loop {
            let now = state.clock.now();
            if let Err(e) = recover_stale(&state, now).await {
                tracing::warn!(error = %e, "job recovery failed");
            }
            if let Err(e) = run_due(&state, now, &worker).await {
                tracing::warn!(error = %e, "job worker error");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    })
}
