//! SQL for webhook endpoints and deliveries.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub allowed_host: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn endpoints(db: &PgPool) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query_as!(
        EndpointRow,
        "SELECT id, url, events, active, allowed_host, created_at FROM webhook_endpoints ORDER BY created_at, id"
    )
    .fetch_all(db)
    .await
}

pub async fn insert_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    url: &str,
    secret: &str,
    events: &[String],
    allowed_host: Option<&str>,
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, url, secret, events, allowed_host, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        url,
        secret,
        events,
        allowed_host,
        by
    )
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Updates whether an endpoint is active and its allowed host; returns the previous values, or None.
pub async fn update_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    active: bool,
    allowed_host: Option<&str>,
) -> sqlx::Result<Option<(bool, Option<String>)>> {
    let before = sqlx::query!("SELECT active, allowed_host FROM webhook_endpoints WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(before) = before else { return Ok(None) };
    sqlx::query!(
        "UPDATE webhook_endpoints SET active = $2, allowed_host = $3, updated_at = now() WHERE id = $1",
        id,
        active,
        allowed_host
    )
    .execute(&mut **tx)
    .await?;
    Ok(Some((before.active, before.allowed_host)))
}

/// Adds a pending delivery for each active endpoint subscribed to `event`; returns their ids.
pub async fn insert_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    event: &str,
    payload: &serde_json::Value,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO webhook_deliveries (id, endpoint_id, event, payload)
           SELECT gen_random_uuid(), e.id, $1, $2 FROM webhook_endpoints e WHERE e.active AND $1 = ANY(e.events)
           RETURNING id"#,
        event,
        payload
    )
    .fetch_all(&mut **tx)
    .await
}

/// A delivery with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: Uuid,
    pub event: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub url: String,
    pub secret: String,
    pub active: bool,
    pub allowed_host: Option<String>,
}

pub async fn outgoing(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Outgoing>> {
    sqlx::query_as!(
        Outgoing,
        "SELECT d.id, d.event, d.payload, d.status, d.created_at, e.url, e.secret, e.active, e.allowed_host
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Records an attempt's outcome.
pub async fn record_attempt(
    db: &PgPool,
    id: Uuid,
    status: &str,
    code: Option<i32>,
    error: Option<&str>,
    next_attempt_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4,
                next_attempt_at = $5, delivered_at = CASE WHEN $2 = 'delivered' THEN $6::timestamptz ELSE delivered_at END
         WHERE id = $1",
        id,
        status,
        code,
        error,
        next_attempt_at,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub url: String,
    pub event: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn recent_deliveries(db: &PgPool, limit: i64) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as!(
        DeliveryRow,
        "SELECT d.id, e.url, d.event, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at, d.created_at
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         ORDER BY d.created_at DESC, d.id LIMIT $1",
        limit
    )
    .fetch_all(db)
    .await
}
