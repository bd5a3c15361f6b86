//! Email to the people who work leads and to borrowers (issue 19).
//!
//! **Durable, never inside the request.** A message is a `messages` row written in the transaction of what
//! causes it: a bell notification ([`on_event`]: the email copy for everyone whose preferences want that kind)
//! or a lead event ([`LEAD_EVENTS`]: the borrower's first touch, written in the transaction that dispatches
//! the `lead.assigned` event). Each row has one `messages.send` job; the job queue (any instance,
//! `FOR UPDATE SKIP LOCKED`) runs [`send_one`], which takes the row with `FOR UPDATE SKIP LOCKED` too, so two
//! instances never send it twice, and the unique (event, recipient) key means a retried or repeated event
//! writes no second row. A refusal the server calls temporary (4xx, no connection) is retried with the queue's
//! backoff; a permanent one (5xx) bounces the message; without `--smtp-url` the message is kept in the
//! admin's outbox instead of being sent.
//!
//! **Consent.** A borrower message is suppressed (written, with its reason) when the borrower opted out of
//! email, has no address, or the lender's postal address is not set; the check runs again at sending, so an
//! opt-out between writing and sending wins. Every borrower email carries the postal address and a one-click
//! unsubscribe link (`List-Unsubscribe` + `List-Unsubscribe-Post`, RFC 8058) whose POST records the opt-out
//! through `leads` and suppresses whatever was still queued for that borrower.

mod bulk;
pub mod delivery;
mod handlers;
pub mod model;
pub mod store;
mod texts;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::{Event, Published};
use crate::state::AppState;

pub use handlers::{lead_panel, router};

/// The in-process subscriber, in the emitting transaction: a bell notification also becomes an email for each
/// person who wants that kind by email; a borrower message (a missed call's follow-up) is written for the lead.
pub fn on_event<'a, 'c, 'e>(
    tx: &'a mut Transaction<'c, Postgres>,
    event: &'a Event<'e>,
) -> BoxFuture<'a, AppResult<()>> {
    Box::pin(async move {
        if let Some((kind, notices)) = event.notices() {
            store::queue_staff(tx, kind, &notices).await?;
        }
        match event {
            Event::BorrowerMessage { lead_id, template, event_key, fields, at } => {
                let extra = fields.iter().map(|(k, v)| (*k, v.clone())).collect();
                queue_for_lead(tx, *lead_id, template, event_key, extra, *at).await?
            }
            Event::CaseBorrowerMessage { case_id, to, template, event_key, fields, at } => {
                let values = fields.iter().map(|(k, v)| (*k, v.clone())).collect();
                queue_for_case(tx, *case_id, to, template, event_key, values, *at).await?
            }
            _ => {}
        }
        Ok(())
    })
}

/// The lead events this capability consumes: a lead's first assignment to an LO sends the borrower the
/// first-touch email, signed by that LO.
pub const LEAD_EVENTS: crate::events::Consumer = crate::events::Consumer {
    name: "messages",
    kinds: &[crate::events::LEAD_ASSIGNED],
    handle: |tx, event, now| Box::pin(first_touch(tx, event, now)),
};

/// How long after it arrived a lead still gets a first touch: a bulk reassignment of old leads must not
/// greet anyone.
const FIRST_TOUCH_WITHIN_HOURS: i64 = 24;

async fn first_touch(tx: &mut Transaction<'_, Postgres>, event: &Published, now: DateTime<Utc>) -> AppResult<()> {
    if event.payload.get("to_lo_id").is_none_or(|v| v.is_null()) {
        return Ok(());
    }
    let fresh: Option<bool> = sqlx::query_scalar!(
        r#"SELECT (stage = 'new' AND created_at > $2::timestamptz - make_interval(hours => $3::int)) AS "fresh!"
           FROM leads WHERE id = $1"#,
        event.lead_id,
        now,
        FIRST_TOUCH_WITHIN_HOURS as i32
    )
    .fetch_optional(&mut **tx)
    .await?;
    if fresh != Some(true) {
        return Ok(());
    }
    queue_for_lead(tx, event.lead_id, "first_touch", &format!("first_touch:{}", event.lead_id), BTreeMap::new(), now)
        .await
}

/// Writes a borrower message of template `kind` about `lead` (queued, or suppressed with its reason), with
/// the lead's and LO's merge fields plus `extra`, in the caller's transaction. One per `event_key` and address.
/// When the template has a text version and the borrower consented to texts, the text is written too.
pub async fn queue_for_lead(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    kind: &str,
    event_key: &str,
    extra: BTreeMap<&str, String>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(facts) = store::lead_facts(tx, lead).await? else { return Ok(()) };
    let Some(template) = store::template_text(&mut **tx, kind).await? else { return Ok(()) };
    let mut values = extra;
    values.insert("first_name", facts.first_name.clone());
    values.insert("last_name", facts.last_name.clone());
    if let (Some(name), Some(email)) = (&facts.lo_name, &facts.lo_email) {
        values.insert("lo_name", name.clone());
        values.insert("lo_email", email.clone());
        values.insert("lo_nmls", facts.lo_nmls.clone().unwrap_or_default());
        values.insert("lo_signature", model::signature(name, facts.lo_nmls.as_deref(), email));
    }
    let subject = model::render(&template.subject, &values);
    // A message that speaks for the LO needs one to sign it (name and NMLS id): a lead waiting in a queue gets
    // nothing signed by nobody.
    let all_text = format!("{} {} {}", template.subject, template.body, template.text_body);
    let unsigned = facts.lo_name.is_none() && model::fields_used(&all_text).iter().any(|f| f.starts_with("lo_"));
    let blocked =
        if unsigned { Some("the lead has no loan officer to sign it") } else { model::borrower_block(&facts.borrower) };
    let email = store::BorrowerMessage {
        event_key,
        kind,
        channel: "email",
        lead: Some(lead),
        case: None,
        to: facts.borrower.email.as_deref().unwrap_or_default(),
        subject: &subject,
        body: &model::render(&template.body, &values),
        blocked,
    };
    store::queue_borrower(tx, &email, now).await?;
    let texts = model::template(kind).is_some_and(|t| t.texts) && !template.text_body.trim().is_empty();
    if !texts {
        return Ok(());
    }
    if let Some((phone, consent_block)) = crate::leads::store::text_permission(tx, lead).await? {
        let text = store::BorrowerMessage {
            channel: "text",
            to: &phone,
            body: &model::text_with_stop(&model::render(&template.text_body, &values)),
            blocked: if unsigned { blocked } else { consent_block },
            ..email
        };
        store::queue_borrower(tx, &text, now).await?;
    }
    Ok(())
}

/// Writes a borrower email about a loss-mitigation case (its borrower is not a lead): to `to`, from template
/// `kind` filled with `values`, suppressed when the address unsubscribed, is not an address, or the lender's
/// postal address is not set.
async fn queue_for_case(
    tx: &mut Transaction<'_, Postgres>,
    case: Uuid,
    to: &str,
    kind: &str,
    event_key: &str,
    values: BTreeMap<&str, String>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(template) = store::template_text(&mut **tx, kind).await? else { return Ok(()) };
    let facts = store::address_facts(tx, to).await?;
    let email = store::BorrowerMessage {
        event_key,
        kind,
        channel: "email",
        lead: None,
        case: Some(case),
        to: to.trim(),
        subject: &model::render(&template.subject, &values),
        body: &model::render(&template.body, &values),
        blocked: model::borrower_block(&facts),
    };
    store::queue_borrower(tx, &email, now).await?;
    Ok(())
}

/// Runs a `messages.*` job: `messages.send` hands one message to the SMTP server or the texting tool.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "messages.send" => {
            let id = job.payload.get("id").and_then(|v| v.as_i64()).ok_or_else(|| anyhow::anyhow!("no message id"))?;
            send_one(state, id, job.attempts >= job.max_attempts, now).await
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

/// Why a claimed borrower message may not go out now (consent is checked again at sending, so an opt-out
/// between writing and sending wins), and the postal address its footer carries.
async fn borrower_check(
    tx: &mut Transaction<'_, Postgres>,
    m: &store::MessageRow,
) -> anyhow::Result<(Option<&'static str>, String)> {
    let facts = match (m.lead_id, m.case_id) {
        (Some(lead), _) => store::lead_facts(tx, lead).await?.map(|f| f.borrower),
        (None, Some(_)) => Some(store::address_facts(tx, &m.to_address).await?),
        (None, None) => None,
    };
    Ok(match facts {
        Some(f) => (model::borrower_block(&f), f.postal_address),
        None => (Some("the lead is gone"), String::new()),
    })
}

/// Sends message `id` if it is still queued and no other instance has it. A temporary refusal is an error
/// (the queue retries it with backoff) until `last_try`, when the message is marked failed.
pub async fn send_one(state: &AppState, id: i64, last_try: bool, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(m) = store::claim(&mut tx, id).await? else { return Ok(()) };
    if m.channel == "text" {
        return texts::send_text(state, tx, m, now).await;
    }
    let mut body = m.body.replace(store::PUBLIC_URL, &state.config.public_url);
    let mut unsubscribe = None;
    if m.audience == "borrower" {
        let (blocked, postal) = borrower_check(&mut tx, &m).await?;
        if let Some(reason) = blocked {
            store::set_status(&mut tx, id, "suppressed", reason, false, "", now).await?;
            tx.commit().await?;
            return Ok(());
        }
        let token = unsubscribe_token();
        let url = format!("{}/unsubscribe?t={token}", state.config.public_url);
        body.push_str(&model::borrower_footer(&postal, &url));
        unsubscribe = Some((url, token));
    }
    let hash = unsubscribe.as_ref().map(|(_, token)| crate::auth::store::token_hash(token));
    let kept_body = match &unsubscribe {
        Some((_, token)) => body.replace(token.as_str(), "(the link's secret, in the email only)"),
        None => body.clone(),
    };
    store::set_final(&mut tx, id, &kept_body, hash.as_deref()).await?;
    let email = crate::leads::store::OutboundChannel::Email;
    let Some(smtp) = state.config.smtp_url.as_deref() else {
        store::set_status(&mut tx, id, "kept", "no mail server is configured (--smtp-url)", false, "", now).await?;
        if let Some(lead) = m.lead_id {
            let note = format!("Email kept in the outbox (no mail server configured): {}", m.subject);
            crate::leads::store::record_outbound_message(&mut tx, lead, email, &note, now).await?;
        }
        tx.commit().await?;
        return Ok(());
    };
    let out = delivery::Outgoing {
        id,
        from: &state.config.mail_from,
        to: &m.to_address,
        subject: &m.subject,
        body: &body,
        unsubscribe_url: unsubscribe.as_ref().map(|(url, _)| url.as_str()),
    };
    let result = delivery::send(smtp, &out).await;
    let outcome = match result {
        delivery::Delivery::Sent => {
            store::set_status(&mut tx, id, "sent", "", true, "", now).await?;
            if let Some(lead) = m.lead_id {
                let note = format!("Email sent: {}", m.subject);
                crate::leads::store::record_outbound_message(&mut tx, lead, email, &note, now).await?;
            }
            Ok(())
        }
        delivery::Delivery::Bounced(e) => {
            store::set_status(&mut tx, id, "bounced", "the mail server refused it for good", true, &e, now).await?;
            Ok(())
        }
        delivery::Delivery::Retry(e) if last_try => {
            store::set_status(&mut tx, id, "failed", "the mail server kept refusing it", true, &e, now).await?;
            Ok(())
        }
        delivery::Delivery::Retry(e) => {
            store::set_status(&mut tx, id, "queued", "will retry", true, &e, now).await?;
            Err(anyhow::anyhow!("message {id} not sent yet: {e}"))
        }
    };
    tx.commit().await?;
    outcome
}

/// A fresh secret for one message's unsubscribe link (only its hash is stored).
fn unsubscribe_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A borrower followed the unsubscribe link of message whose token is `token`: they are opted out of email
/// (through `leads`, which every path of opt-out uses), queued email to them is suppressed, and it is audited.
/// False when the token is unknown.
pub async fn unsubscribe(state: &AppState, token: &str) -> AppResult<bool> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some((message, lead, address)) = store::by_unsubscribe(&mut tx, &crate::auth::store::token_hash(token)).await?
    else {
        return Ok(false);
    };
    let Some(lead) = lead else {
        // A case's borrower: the address stops getting borrower email.
        if store::suppress_address(&mut tx, &address, message, now).await? {
            crate::audit::Entry::new(None, "email.unsubscribe", "message", message)
                .after(serde_json::json!({"via": "unsubscribe link"}))
                .write(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        return Ok(true);
    };
    let added = crate::leads::store::record_opt_out(&mut tx, lead, "email", now).await?;
    store::suppress_queued_for_lead(&mut tx, lead, "the borrower opted out of email", now).await?;
    if added {
        crate::audit::Entry::new(None, "lead.opt_out", "lead", lead)
            .after(serde_json::json!({"channel": "email", "via": "unsubscribe link", "message_id": message}))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}
