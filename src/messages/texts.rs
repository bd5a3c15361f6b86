//! Text messages: Loanfloor does not talk to a carrier. A text goes to whatever texting tool the lender uses,
//! through the signed webhooks (event `message.text`, to endpoints an admin allowed the borrower's contact
//! details), under the same consent rules as calls: the borrower's consent to texts on record, no opt-out of
//! texts, the number on no internal do-not-call list, and only inside the borrower's calling hours. The tool
//! reports a borrower's STOP back with `POST /api/v1/leads/{id}/opt-outs` (channel `text`).

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::store;
use crate::leads::store::OutboundChannel;
use crate::state::AppState;

/// Hands a claimed text to the texting tool, or holds it: suppressed when consent is gone, rescheduled to the
/// borrower's next calling hour when it is outside them, kept when no tool is connected.
pub(super) async fn send_text(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    m: store::MessageRow,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(lead) = m.lead_id else {
        store::set_status(&mut tx, m.id, "suppressed", "a text needs a lead", false, "", now).await?;
        tx.commit().await?;
        return Ok(());
    };
    let permission = crate::leads::store::text_permission(&mut tx, lead).await?;
    let blocked = match &permission {
        None => Some("the borrower's consent to texts is no longer on record"),
        Some((phone, _)) if *phone != m.to_address => Some("the lead's phone number changed"),
        Some((_, blocked)) => *blocked,
    };
    if let Some(reason) = blocked {
        store::set_status(&mut tx, m.id, "suppressed", reason, false, "", now).await?;
        tx.commit().await?;
        return Ok(());
    }
    let hours = state.config.calling_hours();
    let from = crate::leads::store::callable_from(&mut tx, lead, now, hours).await?;
    if from > now {
        let reason = format!("waits for the borrower's calling hours ({})", from.format("%Y-%m-%d %H:%M UTC"));
        store::set_status(&mut tx, m.id, "queued", &reason, false, "", now).await?;
        let key = format!("message:{}:{}", m.id, from.timestamp());
        crate::jobs::enqueue(&mut tx, "messages.send", serde_json::json!({ "id": m.id }), from, Some(&key)).await?;
        tx.commit().await?;
        return Ok(());
    }
    let taken = AtomicUsize::new(0);
    let event = crate::events::Event::TextMessage {
        message_id: m.id,
        lead_id: lead,
        to: &m.to_address,
        body: &m.body,
        taken: &taken,
    };
    crate::events::emit(&mut tx, event).await?;
    if taken.load(Ordering::SeqCst) == 0 {
        let reason =
            "no texting tool is connected (a webhook endpoint for message.text that may receive contact details)";
        store::set_status(&mut tx, m.id, "kept", reason, false, "", now).await?;
    } else {
        store::set_status(&mut tx, m.id, "sent", "handed to the texting tool", true, "", now).await?;
        let note = format!("Text sent: {}", m.body);
        crate::leads::store::record_outbound_message(&mut tx, lead, OutboundChannel::Text, &note, now).await?;
    }
    tx.commit().await?;
    Ok(())
}
