//! Sessions stored in Postgres for tower-sessions, so every instance shares them and sign-out is server-side.
//!
//! Written here rather than taken from tower-sessions-sqlx-store: that crate turns on sqlx's `time` feature,
//! which makes every compile-checked query map `timestamptz` to `time` instead of the `chrono` types the rest
//! of Loanfloor uses. The store is small; the user id is kept in a column so an admin can end a user's
//! sessions directly. Only the SHA-256 of a session id is stored ([`stored_id`]), and a save never re-inserts
//! a session that has been deleted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use super::session::{SESSION_KEY, SessionAuth};
use super::session_cache::SessionCache;
use std::sync::Arc;

#[derive(Clone)]
pub struct PgSessionStore {
    db: PgPool,
    /// This instance's kept sessions (`--session-cache`), forgotten here as soon as a save or delete commits.
    cache: Option<Arc<SessionCache>>,
}

impl std::fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionStore").field("cached", &self.cache.is_some()).finish()
    }
}

impl PgSessionStore {
    pub fn new(db: PgPool) -> Self {
        Self { db, cache: None }
    }

    /// Forgets a kept session on this instance whenever this store changes it (other instances forget through the
    /// trigger's notification, `migrations/0066`).
    pub fn with_cache(self, cache: Option<Arc<SessionCache>>) -> Self {
        Self { cache, ..self }
    }

    fn forget(&self, id_hash: &str) {
        if let Some(c) = &self.cache {
            c.forget_session(id_hash);
        }
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn expiry(record: &Record) -> DateTime<Utc> {
    DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0).unwrap_or_else(Utc::now)
}

fn user_of(record: &Record) -> Option<uuid::Uuid> {
    record.data.get(SESSION_KEY).and_then(|v| serde_json::from_value::<SessionAuth>(v.clone()).ok()).map(|a| a.user_id)
}

/// What the `sessions` table keeps of a session id: its SHA-256. The id is a bearer secret like an API token,
/// so a copy of the table (a backup, a replica, a leaked dump) opens no session; only the cookie carries it.
pub fn stored_id(id: &Id) -> String {
    super::store::token_hash(&id.to_string())
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = serde_json::to_value(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
            let inserted = sqlx::query!(
                "INSERT INTO sessions (id_hash, user_id, data, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO NOTHING",
                stored_id(&record.id),
                user_of(record),
                data,
                expiry(record)
            )
            .execute(&self.db)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a live session and never inserts one: tower-sessions saves only a record it loaded or created,
    /// so a missing row means the session ended while this request was in flight (sign-out, deactivation,
    /// expiry), and writing it back would bring it back to life.
    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_value(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        let id_hash = stored_id(&record.id);
        let updated = sqlx::query!(
            "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4 WHERE id_hash = $1 AND expires_at > now()",
            id_hash,
            user_of(record),
            data,
            expiry(record)
        )
        .execute(&self.db)
        .await
        .map_err(backend)?;
        self.forget(&id_hash);
        if updated.rows_affected() == 0 {
            tracing::info!("a session ended while a request on it was in flight; not saved");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let row = sqlx::query!(
            "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > now()",
            stored_id(id)
        )
        .fetch_optional(&self.db)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data = serde_json::from_value(row.data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(row.expires_at.timestamp())
            .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let id_hash = stored_id(id);
        sqlx::query!("DELETE FROM sessions WHERE id_hash = $1", id_hash).execute(&self.db).await.map_err(backend)?;
        self.forget(&id_hash);
        Ok(())
    }
}

/// Ends every session of a user in the caller's transaction (deactivation, password reset, second factor
/// removed, role changed): bumps the user's auth epoch, which no existing session carries any more, and removes
/// their stored sessions. The one place that does it.
pub async fn end_sessions_of(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, user_id: uuid::Uuid) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1", user_id).execute(&mut **tx).await?;
    sqlx::query!("DELETE FROM sessions WHERE user_id = $1", user_id).execute(&mut **tx).await?;
    Ok(())
}

/// Removes expired sessions (the hourly housekeeping job).
pub async fn purge_expired(db: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!("DELETE FROM sessions WHERE expires_at < now()").execute(db).await?.rows_affected())
}
