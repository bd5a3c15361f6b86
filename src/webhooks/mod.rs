//! Outbound webhooks for the LOS and marketing tools: admins register endpoints for events; every event
//! queues one signed delivery per subscribed endpoint, sent by the job worker with retries and backoff.
//!
//! The rules (issue 15, item 7): HTTPS only, unless an admin allows plain HTTP for the endpoint's host; never a
//! loopback, private or otherwise special address (see [`model::forbidden_reason`]) unless an admin allowed
//! that host; no redirects followed; proxy environment variables ignored; every body signed with a timestamp;
//! payloads carry ids, stages and amounts, and the borrower's contact details only where an admin opted in.
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

pub use store::Settings;

/// Where webhooks keep secrets sealed (`crate::secrets`): each endpoint's signing secret.
pub const SEALED: &[crate::secrets::Place] = &[crate::secrets::Place::column("webhook_endpoints", "id", "secret")];

pub fn router() -> Routes {
    handlers::router()
}

/// Queues one delivery job per active endpoint subscribed to `event`, inside the caller's transaction (so a
/// delivery exists exactly when the change does). `event` is one of [`model::EVENTS`]; `payload` may hold
/// everything the caller knows: each endpoint's delivery stores only what [`model::event_data`] lets out.
/// The domain-event subscriber: lead and escalation events become signed deliveries to the endpoints that
/// want them, queued in the emitting transaction.
pub fn on_event<'a, 'c, 'e>(
    tx: &'a mut Transaction<'c, Postgres>,
    event: &'a crate::events::Event<'e>,
) -> futures_util::future::BoxFuture<'a, AppResult<()>> {
    use crate::events::Event;
    Box::pin(async move {
        match event {
            Event::EscalationDecided { payload } => {
                queue(tx, "escalation.decided", (*payload).clone(), None, Utc::now()).await.map(|_| ())
            }
            Event::LockChanged { kind, payload } => {
                queue(tx, kind, (*payload).clone(), None, Utc::now()).await.map(|_| ())
            }
            Event::TextMessage { message_id, lead_id, to, body, taken } => {
                // The number rides as the lead's phone: only endpoints allowed contact details get it.
                let payload = serde_json::json!({ "message_id": message_id, "lead_id": lead_id, "text": body, "lead": { "phone": to } });
                let n = queue(tx, "message.text", payload, None, Utc::now()).await?;
                taken.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            _ => Ok(()),
        }
    })
}

/// The lead events' consumer: each becomes a delivery to every endpoint subscribed to it (through the job
/// queue's `events.dispatch`).
pub const LEAD_EVENTS: crate::events::Consumer = crate::events::Consumer {
    name: "webhooks",
    kinds: &[crate::events::LEAD_CREATED, crate::events::LEAD_STAGE_CHANGED, crate::events::LEAD_FUNDED],
    handle: |tx, event, now| {
        Box::pin(
            async move { queue(tx, &event.kind, event.payload.clone(), Some(event.created_at), now).await.map(|_| ()) },
        )
    },
};

/// Queues `event` for every endpoint subscribed to it (and added before `occurred_at`, when given), each
/// delivery sent by a job due at `run_at`; the number of deliveries.
async fn queue(
    tx: &mut Transaction<'_, Postgres>,
    event: &str,
    payload: serde_json::Value,
    occurred_at: Option<DateTime<Utc>>,
    run_at: DateTime<Utc>,
) -> AppResult<usize> {
    if !model::EVENTS.contains(&event) {
        return Err(AppError::Internal(anyhow::anyhow!("unknown webhook event {event}")));
    }
    let without_contact = model::event_data(event, &payload, false);
    let with_contact = model::event_data(event, &payload, true);
    let contact_only = model::CONTACT_ONLY.contains(&event);
    let ids = store::insert_deliveries(tx, event, &without_contact, &with_contact, occurred_at, contact_only).await?;
    let n = ids.len();
    for id in ids {
        crate::jobs::enqueue(tx, "webhooks.deliver", serde_json::json!({ "delivery_id": id }), run_at, None).await?;
    }
    Ok(n)
}

/// A new endpoint as an admin entered it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub allowed_host: Option<String>,
    pub plain_http_host: Option<String>,
    pub include_contact: bool,
}

/// A host as entered or as in a URL: IPv6 without brackets, lower case, None when empty.
pub fn normalise_host(h: Option<&str>) -> Option<String> {
    h.map(|s| s.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()).filter(|s| !s.is_empty())
}

/// The URL's host as compared with an endpoint's allowed hosts.
fn url_host(url: &reqwest::Url) -> Option<String> {
    normalise_host(url.host_str())
}

/// Checks a host an admin typed (a name or an IP address, nothing else).
fn check_host_field(errors: &mut FieldErrors, field: &str, host: Option<&str>) {
    if host.is_some_and(|h| h.len() > 253 || h.contains(['/', ' ', '@', '?', '#'])) {
        errors.add(field, "Enter a host name or IP address only.");
    }
}

/// Checks an endpoint's settings against its address: plain HTTP only for the named host, which must be the
/// address's own; a literal special address only when that host is allowed.
pub fn check_settings(url: &reqwest::Url, s: &Settings) -> FieldErrors {
    let mut errors = FieldErrors::new();
    check_host_field(&mut errors, "allowed_host", s.allowed_host.as_deref());
    check_host_field(&mut errors, "plain_http_host", s.plain_http_host.as_deref());
    let host = url_host(url);
    if let Some(plain) = s.plain_http_host.as_deref() {
        if Some(plain) != host.as_deref() {
            errors.add("plain_http_host", "Plain HTTP can be allowed only for the address's own host.");
        }
    }
    if url.scheme() == "http" && s.plain_http_host.as_deref() != host.as_deref() {
        errors.add(
            "url",
            "Use https://. Plain HTTP sends borrower data unencrypted; to use it anyway, allow plain HTTP for this \
             host below.",
        );
    }
    let literal: Option<IpAddr> = host.as_deref().and_then(|h| h.parse().ok());
    if let Some(reason) = literal.and_then(model::forbidden_reason) {
        if s.allowed_host.as_deref() != host.as_deref() {
            errors.add(
                "url",
                format!("This is a {reason} address; deliveries go there only if you allow this host below."),
            );
        }
    }
    errors
}

/// Checks an endpoint: an https (or allowed http) URL with a host and no credentials, and at least one event.
pub fn validate_endpoint(e: &NewEndpoint) -> Result<(reqwest::Url, Vec<String>, Settings), FieldErrors> {
    let mut errors = FieldErrors::new();
    let settings = Settings {
        active: true,
        allowed_host: normalise_host(e.allowed_host.as_deref()),
        plain_http_host: normalise_host(e.plain_http_host.as_deref()),
        include_contact: e.include_contact,
    };
    let url = match reqwest::Url::parse(e.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            errors.add("url", "Enter an https:// address.");
            None
        }
    };
    if let Some(u) = &url {
        if !u.username().is_empty() || u.password().is_some() {
            errors.add("url", "Put credentials in the signature secret, not in the address.");
        }
        for (field, messages) in check_settings(u, &settings).0 {
            for m in messages {
                errors.add(&field, m);
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
        (true, Some(u)) => Ok((u, events, settings)),
        _ => Err(errors),
    }
}

/// Registers an endpoint; returns (id, secret). The secret is shown to the admin once.
pub async fn register(state: &AppState, user: &crate::auth::CurrentUser, e: &NewEndpoint) -> AppResult<(Uuid, String)> {
    user.require(&[crate::auth::Role::Admin])?;
    let (url, events, settings) = validate_endpoint(e).map_err(AppError::Validation)?;
    let secret = {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        format!("whsec_{}", hex::encode(b))
    };
    let sealed = state.secrets().seal(&secret)?;
    let mut tx = state.db.begin().await?;
    let id = store::insert_endpoint(&mut tx, url.as_str(), &sealed, &events, &settings, user.id).await?;
    crate::audit::Entry::new(Some(user), "webhook.registered", "webhook_endpoint", id)
        .after(serde_json::json!({ "url": url.as_str(), "events": events, "settings": settings }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, secret))
}

/// Changes an endpoint's settings (active, allowed private host, plain-HTTP host, contact details), audited
/// with the values before and after.
pub async fn update(state: &AppState, user: &crate::auth::CurrentUser, id: Uuid, s: Settings) -> AppResult<()> {
    user.require(&[crate::auth::Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let (url, before) = store::lock_endpoint(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let url = reqwest::Url::parse(&url).map_err(|e| AppError::Internal(e.into()))?;
    let mut errors = check_settings(&url, &s);
    // The address is not changing: what it needs is checked again at every delivery.
    errors.0.remove("url");
    errors.into_result()?;
    store::update_endpoint(&mut tx, id, &s).await?;
    crate::audit::Entry::new(Some(user), "webhook.updated", "webhook_endpoint", id)
        .before(serde_json::to_value(&before).map_err(anyhow::Error::from)?)
        .after(serde_json::to_value(&s).map_err(anyhow::Error::from)?)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
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
    let Some(mut d) = store::outgoing(&state.db, id).await? else { return Ok(()) };
    if matches!(d.status.as_str(), "delivered" | "refused" | "failed") {
        return Ok(());
    }
    if !d.active {
        store::record_attempt(&state.db, id, "failed", None, Some("endpoint deactivated"), None, now).await?;
        return Ok(());
    }
    // Stored sealed (crate::secrets); opened only to sign this body.
    d.secret = state.secrets().open(&d.secret).map_err(|e| e.context("opening the endpoint's signing secret"))?;
    match send(&d, now).await {
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

/// Where a delivery may go: its URL and the addresses to connect to, or why not. Plain HTTP only to the host
/// an admin allowed it for; every address the host resolves to is checked, and the connection is made only to
/// those checked addresses (no second lookup that could answer differently).
async fn destination(d: &store::Outgoing) -> Result<(reqwest::Url, String, Vec<SocketAddr>), Failure> {
    let url = reqwest::Url::parse(&d.url).map_err(|e| Failure::Refused(format!("bad URL: {e}")))?;
    let host = url_host(&url).ok_or_else(|| Failure::Refused("URL without a host".into()))?;
    match url.scheme() {
        "https" => {}
        "http" if normalise_host(d.plain_http_host.as_deref()).as_deref() == Some(host.as_str()) => {}
        "http" => {
            return Err(Failure::Refused(format!(
                "plain HTTP to {host} is not allowed; use https:// or allow plain HTTP for {host} on the endpoint"
            )));
        }
        other => return Err(Failure::Refused(format!("unsupported scheme {other}"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Failure::Refused("credentials in the URL".into()));
    }
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
    Ok((url, host, addrs))
}

/// The HTTP client for one delivery: connects only to `addrs` for `host`, follows no redirect (a redirect
/// could point anywhere, past the address guard), and ignores proxy environment variables (`HTTP_PROXY`,
/// `HTTPS_PROXY`, `ALL_PROXY`: a proxy would make the connection the guard never saw).
fn client(host: &str, addrs: &[SocketAddr]) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent("Loanfloor-Webhooks/1");
    if host.parse::<IpAddr>().is_err() {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    builder.build()
}

async fn send(d: &store::Outgoing, now: DateTime<Utc>) -> Result<i32, Failure> {
    let (url, host, addrs) = destination(d).await?;
    // Filtered again at sending: a delivery queued before an admin withdrew the contact-details opt-in (or
    // before a field left the event's list) carries only what the endpoint may receive now.
    let data = model::event_data(&d.event, &d.payload, d.include_contact);
    let body = serde_json::to_vec(&serde_json::json!({
        "id": d.id, "event": d.event, "created_at": d.created_at, "data": data,
    }))
    .map_err(|e| Failure::Retry { code: None, error: e.to_string() })?;
    let client = client(&host, &addrs).map_err(|e| Failure::Retry { code: None, error: e.to_string() })?;
    let res = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Loanfloor-Signature", model::signature(&d.secret, now.timestamp(), &body))
        .header("X-Loanfloor-Event", &d.event)
        .header("X-Loanfloor-Delivery", d.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::Retry { code: None, error: format!("request failed: {e}") })?;
    let code = i32::from(res.status().as_u16());
    if res.status().is_success() {
        Ok(code)
    } else if res.status().is_redirection() {
        Err(Failure::Retry { code: Some(code), error: format!("receiver answered {code}; redirects are not followed") })
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
