//! Outbound webhooks for the LOS and marketing tools: admins register endpoints for events; every event
//! queues one signed delivery per subscribed endpoint, sent by the job worker with retries and backoff.
//! Deliveries never reach loopback, private, link-local or unspecified addresses unless an admin allowed
//! that host on the endpoint.
//!
//! Interface for other capabilities: [`emit`].

pub mod handlers;
pub mod model;
pub mod store;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
}

/// Queues one delivery job per active endpoint subscribed to `event`, inside the caller's transaction (so a
/// delivery exists exactly when the change does). `event` is one of [`model::EVENTS`].
pub async fn emit(tx: &mut Transaction<'_, Postgres>, event: &str, payload: serde_json::Value) -> AppResult<()> {
    if !model::EVENTS.contains(&event) {
        return Err(AppError::Internal(anyhow::anyhow!("unknown webhook event {event}")));
    }
    let ids = store::insert_deliveries(tx, event, &payload).await?;
    for id in ids {
        crate::jobs::enqueue(tx, "webhooks.deliver", serde_json::json!({ "delivery_id": id }), Utc::now(), None)
            .await?;
    }
    Ok(())
}

/// A new endpoint as an admin entered it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub allowed_host: Option<String>,
}

fn normalise_host(h: Option<&str>) -> Option<String> {
    h.map(|s| s.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()).filter(|s| !s.is_empty())
}

/// The URL's host as compared with an endpoint's allowed host (IPv6 without brackets, lower case).
fn url_host(url: &reqwest::Url) -> Option<String> {
    normalise_host(url.host_str())
}

/// Checks an endpoint: an http(s) URL with a host; a literal private address needs the allowed-host override.
pub fn validate_endpoint(e: &NewEndpoint) -> Result<(reqwest::Url, Vec<String>, Option<String>), FieldErrors> {
    let mut errors = FieldErrors::new();
    let allowed = normalise_host(e.allowed_host.as_deref());
    let url = match reqwest::Url::parse(e.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            errors.add("url", "Enter an http:// or https:// address.");
            None
        }
    };
    if let Some(u) = &url {
        if !u.username().is_empty() || u.password().is_some() {
            errors.add("url", "Put credentials in the signature secret, not in the address.");
        }
        let host = url_host(u);
        let literal: Option<IpAddr> = host.as_deref().and_then(|h| h.parse().ok());
        if let Some(ip) = literal {
            if let Some(reason) = model::forbidden_reason(ip) {
                if allowed.as_deref() != host.as_deref() {
                    errors.add(
                        "url",
                        format!("This is a {reason} address; deliveries go there only if you allow this host below."),
                    );
                }
            }
        }
    }
    let mut events: Vec<String> = e.events.iter().filter(|ev| model::EVENTS.contains(&ev.as_str())).cloned().collect();
    events.sort();
    events.dedup();
    if events.is_empty() {
        errors.add("events", "Choose at least one event.");
    }
    match (errors.is_empty(), url) {
        (true, Some(u)) => Ok((u, events, allowed)),
        _ => Err(errors),
    }
}

/// Registers an endpoint; returns (id, secret). The secret is shown to the admin once.
pub async fn register(state: &AppState, user: &crate::auth::CurrentUser, e: &NewEndpoint) -> AppResult<(Uuid, String)> {
    user.require(&[crate::auth::Role::Admin])?;
    let (url, events, allowed) = validate_endpoint(e).map_err(AppError::Validation)?;
    let secret = {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        format!("whsec_{}", hex::encode(b))
    };
    let mut tx = state.db.begin().await?;
    let id = store::insert_endpoint(&mut tx, url.as_str(), &secret, &events, allowed.as_deref(), user.id).await?;
    crate::audit::Entry::new(Some(user), "webhook.registered", "webhook_endpoint", id)
        .after(serde_json::json!({ "url": url.as_str(), "events": events, "allowed_host": allowed }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, secret))
}

/// Why a send did not succeed.
enum Failure {
    /// Never retried: the address is forbidden.
    Refused(String),
    /// Retried with backoff.
    Retry { code: Option<i32>, error: String },
}

/// Sends one delivery (a `webhooks.deliver` job). A failure returns Err so the job queue retries it with
/// backoff; a refused address or a deactivated endpoint ends the delivery without retrying.
pub async fn deliver(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    let id: Uuid = job
        .payload
        .get("delivery_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("delivery job without delivery_id"))?;
    let Some(d) = store::outgoing(&state.db, id).await? else { return Ok(()) };
    if matches!(d.status.as_str(), "delivered" | "refused" | "failed") {
        return Ok(());
    }
    if !d.active {
        store::record_attempt(&state.db, id, "failed", None, Some("endpoint deactivated"), None, now).await?;
        return Ok(());
    }
    match send(&d).await {
        Ok(code) => {
            store::record_attempt(&state.db, id, "delivered", Some(code), None, None, now).await?;
            Ok(())
        }
        Err(Failure::Refused(why)) => {
            tracing::warn!(delivery = %id, reason = %why, "webhook delivery refused");
            store::record_attempt(&state.db, id, "refused", None, Some(&why), None, now).await?;
            Ok(())
        }
        Err(Failure::Retry { code, error }) => {
            let give_up = job.attempts >= job.max_attempts;
            let next = (!give_up).then(|| now + chrono::Duration::seconds(model::backoff_secs(job.attempts)));
            let status = if give_up { "failed" } else { "retrying" };
            store::record_attempt(&state.db, id, status, code, Some(&error), next, now).await?;
            anyhow::bail!("webhook delivery {id} failed: {error}")
        }
    }
}

async fn send(d: &store::Outgoing) -> Result<i32, Failure> {
    let url = reqwest::Url::parse(&d.url).map_err(|e| Failure::Refused(format!("bad URL: {e}")))?;
    let host = url_host(&url).ok_or_else(|| Failure::Refused("URL without a host".into()))?;
    let port = url.port_or_known_default().ok_or_else(|| Failure::Refused("URL without a port".into()))?;
    let allowed = normalise_host(d.allowed_host.as_deref()).as_deref() == Some(host.as_str());
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Failure::Retry { code: None, error: format!("cannot resolve {host}: {e}") })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Failure::Retry { code: None, error: format!("{host} has no addresses") });
    }
    if !allowed {
        for a in &addrs {
            if let Some(reason) = model::forbidden_reason(a.ip()) {
                return Err(Failure::Refused(format!(
                    "{host} resolves to {} ({reason}); allow the host on the endpoint to deliver there",
                    a.ip()
                )));
            }
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "id": d.id, "event": d.event, "created_at": d.created_at, "data": d.payload,
    }))
    .map_err(|e| Failure::Retry { code: None, error: e.to_string() })?;
    // Connect only to the addresses just checked (no second lookup that could answer differently), and never
    // follow redirects (a redirect could point anywhere).
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent("Loanfloor-Webhooks/1");
    if host.parse::<IpAddr>().is_err() {
        builder = builder.resolve_to_addrs(&host, &addrs);
    }
    let client = builder.build().map_err(|e| Failure::Retry { code: None, error: e.to_string() })?;
    let res = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Loanfloor-Signature", model::signature(&d.secret, &body))
        .header("X-Loanfloor-Event", &d.event)
        .header("X-Loanfloor-Delivery", d.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::Retry { code: None, error: format!("request failed: {e}") })?;
    let code = i32::from(res.status().as_u16());
    if res.status().is_success() {
        Ok(code)
    } else {
        Err(Failure::Retry { code: Some(code), error: format!("receiver answered {code}") })
    }
}

/// Runs a job of kind `webhooks.*`.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "webhooks.deliver" => deliver(state, job, now).await,
        other => anyhow::bail!("unknown job kind {other}"),
    }
}
