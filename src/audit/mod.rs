//! The audit log: an append-only record of every change, sign-in and refused access. The database refuses
//! UPDATE, DELETE and TRUNCATE on the table (see migration 0001).

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use sqlx::{Executor, PgPool, Postgres};
use uuid::Uuid;

use crate::state::AppState;
use crate::web::request_ctx;

/// Who did something, as the audit log names them: a person, and the API token they used, if any.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: Uuid,
    pub label: &'a str,
    pub token_id: Option<Uuid>,
    pub token_issued_by: Option<Uuid>,
}

/// Anything that acts and can be named in the audit log (the signed-in user implements it in `auth`, so the
/// log, a foundation, needs nothing from above it).
pub trait Acts: Sync {
    fn actor(&self) -> Actor<'_>;
}

/// One change to record. `before`/`after` are JSON snapshots of what changed.
pub struct Entry<'a> {
    pub actor: Option<&'a dyn Acts>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> Entry<'a> {
    pub fn new(actor: Option<&'a dyn Acts>, action: &'a str, entity: &'a str, entity_id: impl ToString) -> Self {
        Self { actor, action, entity, entity_id: entity_id.to_string(), before: None, after: None }
    }
    pub fn before(mut self, v: impl Serialize) -> Self {
        self.before = serde_json::to_value(v).ok();
        self
    }
    pub fn after(mut self, v: impl Serialize) -> Self {
        self.after = serde_json::to_value(v).ok();
        self
    }
    /// Writes the entry with the request's id and client address, inside the caller's transaction.
    pub async fn write<'e, E: Executor<'e, Database = Postgres>>(self, db: E) -> sqlx::Result<()> {
        write_many(db, self.actor, self.action, self.entity, &[self.entity_id], &[self.before], &[self.after]).await
    }
}

/// Many entries of one action by one actor, one per record a bulk change touched, in one statement
/// (`entity_ids`, `befores` and `afters` run in parallel), with the request's id and client address.
pub async fn write_many<'e, E: Executor<'e, Database = Postgres>>(
    db: E,
    actor: Option<&dyn Acts>,
    action: &str,
    entity: &str,
    entity_ids: &[String],
    befores: &[Option<serde_json::Value>],
    afters: &[Option<serde_json::Value>],
) -> sqlx::Result<()> {
    write_each(db, actor, action, entity, entity_ids, befores, afters, None).await
}

/// [`write_many`], each entry with its own request (`requests`, parallel to `entity_ids`; None: the current
/// request for all): the records several requests made in one transaction (leads created together) are each
/// audited with the request that asked for them.
#[allow(clippy::too_many_arguments)]
pub async fn write_each<'e, E: Executor<'e, Database = Postgres>>(
    db: E,
    actor: Option<&dyn Acts>,
    action: &str,
    entity: &str,
    entity_ids: &[String],
    befores: &[Option<serde_json::Value>],
    afters: &[Option<serde_json::Value>],
    requests: Option<&[crate::web::RequestCtx]>,
) -> sqlx::Result<()> {
    let (request_ids, client_addrs): (Vec<String>, Vec<String>) = match requests {
        Some(r) => r.iter().map(|c| (c.request_id.clone(), c.client_addr.clone())).unzip(),
        None => {
            let ctx = request_ctx();
            (vec![ctx.request_id; entity_ids.len()], vec![ctx.client_addr; entity_ids.len()])
        }
    };
    let actor = actor.map(Acts::actor);
    let (actor_id, label) = match actor {
        Some(a) => (Some(a.id), a.label.to_string()),
        None => (None, "system".to_string()),
    };
    let (token_id, token_issued_by) = (actor.and_then(|a| a.token_id), actor.and_then(|a| a.token_issued_by));
    sqlx::query!(
        "INSERT INTO audit_log (actor_id, actor_label, action, entity, entity_id, before, after, request_id,
                                client_addr, token_id, token_issued_by)
         SELECT $1, $2, $3, $4, e, b, a, r, c, $10, $11
         FROM UNNEST($5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::text[]) AS x(e, b, a, r, c)",
        actor_id,
        label,
        action,
        entity,
        entity_ids,
        befores as &[Option<serde_json::Value>],
        afters as &[Option<serde_json::Value>],
        &request_ids,
        &client_addrs,
        token_id,
        token_issued_by
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records a refused access (never fails the request if logging fails; the failure is traced instead).
pub async fn record_event(db: &PgPool, actor: Option<Uuid>, action: &str, what: &str) {
    let ctx = request_ctx();
    let r = sqlx::query!(
        "INSERT INTO audit_log (actor_id, actor_label, action, entity, entity_id, request_id, client_addr)
         VALUES ($1, COALESCE((SELECT email FROM users WHERE id = $1), 'anonymous'), $2, 'access', $3, $4, $5)",
        actor,
        action,
        what,
        ctx.request_id,
        ctx.client_addr
    )
    .execute(db)
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not write the audit log");
    }
}

/// Where the `CurrentUser` extractor leaves the caller's id, so a refusal can be logged with its actor.
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(pub Arc<Mutex<Option<Uuid>>>);

impl ActorSlot {
    pub fn set(&self, id: Uuid) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(id);
        }
    }
    fn get(&self) -> Option<Uuid> {
        self.0.lock().ok().and_then(|g| *g)
    }
}

/// Route middleware: every 403 (a role or scope refusal) and every refused API token is written to the audit
/// log with the actor, path and client address. Cross-site refusals are logged by the CSRF layer itself.
pub async fn record_refusals(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = ActorSlot::default();
    req.extensions_mut().insert(slot.clone());
    let path = req.uri().path().to_string();
    let bearer = req.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(req).await;
    match response.status() {
        StatusCode::FORBIDDEN => record_event(&state.db, slot.get(), "access_refused", &path).await,
        StatusCode::UNAUTHORIZED if bearer => record_event(&state.db, None, "token_refused", &path).await,
        _ => {}
    }
    response
}

/// What a verification of the audit log found.
#[derive(Debug)]
pub struct Verification {
    pub entries: i64,
    /// Entries written since migration 0054, which keep the SHA-256 of their snapshots as written.
    pub with_digest: i64,
    /// Entries whose personal values disposal replaced (their digest is of what they held when written).
    pub scrubbed: i64,
    /// Entries (at most 100, by id) whose snapshots no longer match their digest and were not scrubbed.
    pub changed: Vec<i64>,
}

/// Recomputes each unscrubbed entry's snapshot digest (`audit_snapshot_digest`, migration 0054) against the one
/// stored when it was written.
pub async fn verify(db: &PgPool) -> sqlx::Result<Verification> {
    let counts = sqlx::query!(
        r#"SELECT count(*) AS "entries!", count(snapshot_sha256) AS "with_digest!", count(scrubbed_at) AS "scrubbed!"
             FROM audit_log"#
    )
    .fetch_one(db)
    .await?;
    let changed = sqlx::query_scalar!(
        "SELECT id FROM audit_log
          WHERE snapshot_sha256 IS NOT NULL AND scrubbed_at IS NULL
            AND snapshot_sha256 <> audit_snapshot_digest(before, after)
          ORDER BY id LIMIT 100"
    )
    .fetch_all(db)
    .await?;
    Ok(Verification { entries: counts.entries, with_digest: counts.with_digest, scrubbed: counts.scrubbed, changed })
}
