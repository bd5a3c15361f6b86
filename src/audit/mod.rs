//! The audit log: an append-only record of every change, sign-in and refused access. The database refuses
//! UPDATE, DELETE and TRUNCATE on the table (see migration 0001).

pub mod handlers;

use serde::Serialize;
use sqlx::{Executor, PgPool, Postgres};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::web::{Routes, request_ctx};

pub fn router() -> Routes {
    handlers::router()
}

/// One change to record. `before`/`after` are JSON snapshots of what changed.
pub struct Entry<'a> {
    pub actor: Option<&'a CurrentUser>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<'a> Entry<'a> {
    pub fn new(actor: Option<&'a CurrentUser>, action: &'a str, entity: &'a str, entity_id: impl ToString) -> Self {
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
        let ctx = request_ctx();
        let (actor_id, label) = match self.actor {
            Some(u) => (Some(u.id), u.email.clone()),
            None => (None, "system".to_string()),
        };
        sqlx::query!(
            "INSERT INTO audit_log (actor_id, actor_label, action, entity, entity_id, before, after, request_id, client_addr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            actor_id,
            label,
            self.action,
            self.entity,
            self.entity_id,
            self.before,
            self.after,
            ctx.request_id,
            ctx.client_addr
        )
        .execute(db)
        .await?;
        Ok(())
    }
}

/// Records a refused access (never fails the request if logging fails; the failure is traced instead).
pub async fn record_event(db: &PgPool, actor: Option<Uuid>, action: &str, what: &str) {
    let ctx = request_ctx();
    let r = sqlx::query!(
        "INSERT INTO audit_log (actor_id, action, entity, entity_id, request_id, client_addr) VALUES ($1, $2, 'access', $3, $4, $5)",
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
