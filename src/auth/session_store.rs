//! Sessions stored in Postgres for tower-sessions, so every instance shares them and sign-out is server-side.
//!
//! Written here rather than taken from tower-sessions-sqlx-store: that crate turns on sqlx's `time` feature,
//! which makes every compile-checked query map `timestamptz` to `time` instead of the `chrono` types the rest
//! of Loanfloor uses. The store is small; the user id is kept in a column so an admin can end a user's
//! sessions directly.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use super::session::{SESSION_KEY, SessionAuth};

#[derive(Debug, Clone)]
pub struct PgSessionStore {
    db: PgPool,
}

impl PgSessionStore {
    pub fn new(db: PgPool) -> Self {
        Self { db }
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

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        loop {
            let data = serde_json::to_value(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
            let inserted = sqlx::query!(
                "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                record.id.to_string(),
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

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_value(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
        sqlx::query!(
            "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, data = EXCLUDED.data, expires_at = EXCLUDED.expires_at",
            record.id.to_string(),
            user_of(record),
            data,
            expiry(record)
        )
        .execute(&self.db)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let row =
            sqlx::query!("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > now()", id.to_string())
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
        sqlx::query!("DELETE FROM sessions WHERE id = $1", id.to_string()).execute(&self.db).await.map_err(backend)?;
        Ok(())
    }
}

/// Ends every session of a user (deactivation, password reset). The auth epoch check covers any stragglers.
pub async fn end_sessions_of(db: &PgPool, user_id: uuid::Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!("DELETE FROM sessions WHERE user_id = $1", user_id).execute(db).await?.rows_affected())
}

/// Removes expired sessions (run by the job worker).
pub async fn purge_expired(db: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!("DELETE FROM sessions WHERE expires_at < now()").execute(db).await?.rows_affected())
}
