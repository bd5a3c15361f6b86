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
    pub plain_http_host: Option<String>,
    pub include_contact: bool,
    pub created_at: DateTime<Utc>,
}

pub async fn endpoints(db: &PgPool) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query_as!(
        EndpointRow,
        "SELECT id, url, events, active, allowed_host, plain_http_host, include_contact, created_at
         FROM webhook_endpoints ORDER BY created_at, id"
    )
    .fetch_all(db)
    .await
}

/// What an admin decides about an endpoint besides its address and events (each change is audited).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    pub active: bool,
    /// A loopback or private host deliveries may reach anyway (a receiver inside the lender's own network).
    pub allowed_host: Option<String>,
    /// The one host plain HTTP may be used for (otherwise HTTPS only).
    pub plain_http_host: Option<String>,
    /// Whether payloads carry the borrower's contact details.
    pub include_contact: bool,
}

pub async fn insert_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    url: &str,
    secret: &str,
    events: &[String],
    settings: &Settings,
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, url, secret, events, active, allowed_host, plain_http_host, include_contact,
                                        created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id,
        url,
        secret,
        events,
        settings.active,
        settings.allowed_host,
        settings.plain_http_host,
        settings.include_contact,
        by
    )
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Locks an endpoint for a change: its address and current settings, or None.
pub async fn lock_endpoint(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<(String, Settings)>> {
    let row = sqlx::query!(
        "SELECT url, active, allowed_host, plain_http_host, include_contact FROM webhook_endpoints WHERE id = $1
         FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| {
        let settings = Settings {
            active: r.active,
            allowed_host: r.allowed_host,
            plain_http_host: r.plain_http_host,
            include_contact: r.include_contact,
        };
        (r.url, settings)
    }))
}

pub async fn update_endpoint(tx: &mut Transaction<'_, Postgres>, id: Uuid, s: &Settings) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE webhook_endpoints SET active = $2, allowed_host = $3, plain_http_host = $4, include_contact = $5,
                updated_at = now()
         WHERE id = $1",
        id,
        s.active,
        s.allowed_host,
        s.plain_http_host,
        s.include_contact
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a pending delivery for each active endpoint subscribed to `event`, with `with_contact` for endpoints
/// opted in to the borrower's contact details and `without_contact` for the rest; returns their ids.
pub async fn insert_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    event: &str,
    without_contact: &serde_json::Value,
    with_contact: &serde_json::Value,
    occurred_at: Option<DateTime<Utc>>,
    contact_only: bool,
) -> sqlx::Result<Vec<Uuid>> {
    // An endpoint hears of what happened after it was added (a lead event dispatched a moment later is still
    // judged by when it happened).
    sqlx::query_scalar!(
        r#"INSERT INTO webhook_deliveries (id, endpoint_id, event, payload)
           SELECT gen_random_uuid(), e.id, $1, CASE WHEN e.include_contact THEN $3::jsonb ELSE $2::jsonb END
           FROM webhook_endpoints e
           WHERE e.active AND $1 = ANY(e.events) AND ($4::timestamptz IS NULL OR e.created_at <= $4)
             AND (e.include_contact OR NOT $5)
           RETURNING id"#,
        event,
        without_contact,
        with_contact,
        occurred_at,
        contact_only
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
    pub plain_http_host: Option<String>,
    pub include_contact: bool,
}

pub async fn outgoing(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Outgoing>> {
    sqlx::query_as!(
        Outgoing,
        "SELECT d.id, d.event, d.payload, d.status, d.created_at, e.url, e.secret, e.active, e.allowed_host,
                e.plain_http_host, e.include_contact
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
