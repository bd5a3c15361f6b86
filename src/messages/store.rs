//! SQL for messages: writing outbox rows in the causing transaction, claiming one to send, the outbox,
//! templates, preferences and the unsubscribe link.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model;
use crate::events::Notice;

/// One message as the sender and the pages see it.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub audience: String,
    pub kind: String,
    /// `email` or `text`.
    pub channel: String,
    pub user_id: Option<Uuid>,
    pub lead_id: Option<Uuid>,
    /// The loss-mitigation case a borrower message is about (a case's borrower is not a lead).
    pub case_id: Option<Uuid>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub status_reason: String,
    pub attempts: i32,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Queues the `messages.send` job for each new message, in the caller's transaction: due at once, whatever
/// the clock of whoever wrote it (the job's own time decides retries).
async fn queue_sends(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> sqlx::Result<()> {
    let payloads: Vec<serde_json::Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    let keys: Vec<Option<String>> = ids.iter().map(|id| Some(format!("message:{id}"))).collect();
    crate::jobs::enqueue_many(tx, "messages.send", &payloads, DateTime::UNIX_EPOCH, &keys).await
}

/// Stands for `--public-url` in a stored body; the sender puts the address in, so a message written inside
/// any transaction needs no configuration.
pub const PUBLIC_URL: &str = "{{public_url}}";

/// The email copy of each bell notice for its person when their preferences want `kind` by email, in the
/// transaction that made the notices. The event key is the transaction and the notice (kind, title, link), so
/// one transaction telling a person the same thing twice sends one email.
pub async fn queue_staff(tx: &mut Transaction<'_, Postgres>, kind: &str, notices: &[Notice]) -> sqlx::Result<()> {
    let rows: Vec<StaffRow<'_>> = notices
        .iter()
        .map(|n| StaffRow {
            user: n.user_id,
            subject: &n.title,
            link: &n.link,
            body: format!(
                "{}\n\nOpen it: {PUBLIC_URL}{}\n\n--\nLoanfloor. Choose which notifications reach you by email: {PUBLIC_URL}/messages/preferences",
                n.title, n.link
            ),
        })
        .collect();
    insert_staff(tx, kind, None, &rows).await.map(|_| ())
}

/// A message of its own for one person (a digest), not the copy of a bell notification.
pub struct StaffMessage<'a> {
    pub user: Uuid,
    /// A kind of [`model::STAFF_KINDS`]: the person's preference for it decides.
    pub kind: &'a str,
    /// One message per key (and address): a rerun writes nothing twice.
    pub event_key: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Writes `m` for its person when they are active and want its kind by email, in the caller's transaction;
/// None when they do not, or the key already has its message.
pub async fn queue_staff_message(
    tx: &mut Transaction<'_, Postgres>,
    m: &StaffMessage<'_>,
) -> sqlx::Result<Option<i64>> {
    let row = StaffRow { user: m.user, subject: m.subject, link: "", body: m.body.to_string() };
    let ids = insert_staff(tx, m.kind, Some(m.event_key), &[row]).await?;
    Ok(ids.first().copied())
}

/// One staff email to write, if its person wants it.
struct StaffRow<'a> {
    user: Uuid,
    subject: &'a str,
    link: &'a str,
    body: String,
}

/// The one statement that writes staff emails: one per row whose person is active and whose preference (or
/// the kind's default) wants `kind` by email, keyed by `event_key`, or without one by the transaction and the
/// notice (`subject`, `link`); each new one gets its send job. A kind not in [`model::STAFF_KINDS`] is never
/// emailed.
async fn insert_staff(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    event_key: Option<&str>,
    rows: &[StaffRow<'_>],
) -> sqlx::Result<Vec<i64>> {
    let Some(known) = model::STAFF_KINDS.iter().find(|k| k.kind == kind) else { return Ok(vec![]) };
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let users: Vec<Uuid> = rows.iter().map(|r| r.user).collect();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject).collect();
    let links: Vec<&str> = rows.iter().map(|r| r.link).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let ids: Vec<i64> = sqlx::query_scalar!(
        r#"INSERT INTO messages (event_key, audience, kind, user_id, to_address, subject, body, link, created_at,
                                 updated_at)
           SELECT coalesce($7::text, 'notify:' || txid_current() || ':' || $2 || ':' || md5(x.subject || x.link)),
                  'staff', $2, u.id, u.email, x.subject, x.body, x.link, now(), now()
           FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS x(user_id, subject, link, body, i)
           JOIN users u ON u.id = x.user_id
           LEFT JOIN message_preferences p ON p.user_id = u.id AND p.kind = $2
           WHERE u.active AND coalesce(p.email, $6)
           ORDER BY x.i
           ON CONFLICT (event_key, to_address) DO NOTHING
           RETURNING id"#,
        &users,
        kind,
        &subjects as &[&str],
        &links as &[&str],
        &bodies as &[&str],
        known.email_by_default,
        event_key
    )
    .fetch_all(&mut **tx)
    .await?;
    queue_sends(tx, &ids).await?;
    Ok(ids)
}

/// What a borrower message needs to know about its lead: the borrower, the LO who signs it, consent.
pub struct LeadFacts {
    pub first_name: String,
    pub last_name: String,
    pub lo_name: Option<String>,
    pub lo_email: Option<String>,
    pub lo_nmls: Option<String>,
    pub borrower: model::BorrowerFacts,
}

/// The facts for a borrower message about `lead`, read in the caller's transaction.
pub async fn lead_facts(tx: &mut Transaction<'_, Postgres>, lead: Uuid) -> sqlx::Result<Option<LeadFacts>> {
    let row = sqlx::query!(
        r#"SELECT l.first_name, l.last_name, l.email, u.name AS "lo_name?", u.email AS "lo_email?", p.nmls_id AS "lo_nmls?",
                  ARRAY(SELECT o.channel FROM lead_opt_outs o WHERE o.lead_id = l.id ORDER BY o.channel) AS "opted_out!"
           FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id LEFT JOIN lo_profiles p ON p.user_id = u.id
           WHERE l.id = $1"#,
        lead
    )
    .fetch_optional(&mut **tx)
    .await?;
    let postal = setting_text(&mut **tx, POSTAL_ADDRESS).await?;
    Ok(row.map(|r| LeadFacts {
        first_name: r.first_name,
        last_name: r.last_name,
        lo_name: r.lo_name,
        lo_email: r.lo_email,
        lo_nmls: r.lo_nmls,
        borrower: model::BorrowerFacts { email: r.email, opted_out: r.opted_out, postal_address: postal },
    }))
}

/// The facts for a borrower email to an address that is not a lead's (a loss-mitigation case's borrower):
/// an unsubscribe through an earlier message counts as an opt-out of email.
pub async fn address_facts(tx: &mut Transaction<'_, Postgres>, to: &str) -> sqlx::Result<model::BorrowerFacts> {
    let suppressed = suppressed_address(tx, to).await?;
    Ok(model::BorrowerFacts {
        email: Some(to.trim().to_string()).filter(|e| !e.is_empty()),
        opted_out: if suppressed { vec!["email".into()] } else { vec![] },
        postal_address: setting_text(&mut **tx, POSTAL_ADDRESS).await?,
    })
}

/// The setting that holds the lender's postal address for borrower emails.
pub const POSTAL_ADDRESS: &str = "messages.postal_address";

pub async fn setting_text<'e>(db: impl sqlx::PgExecutor<'e>, key: &str) -> sqlx::Result<String> {
    let v = sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", key).fetch_optional(db).await?;
    Ok(v.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
}

/// A borrower template's current subject, body and text version (empty: never texted).
pub struct TemplateText {
    pub subject: String,
    pub body: String,
    pub text_body: String,
}

pub async fn template_text<'e>(db: impl sqlx::PgExecutor<'e>, kind: &str) -> sqlx::Result<Option<TemplateText>> {
    sqlx::query_as!(TemplateText, "SELECT subject, body, text_body FROM message_templates WHERE kind = $1", kind)
        .fetch_optional(db)
        .await
}

/// A borrower message to write: about a lead or a loss-mitigation case, by email or text.
pub struct BorrowerMessage<'a> {
    pub event_key: &'a str,
    pub kind: &'a str,
    pub channel: &'a str,
    pub lead: Option<Uuid>,
    pub case: Option<Uuid>,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Why it may not go out (written as suppressed), or None.
    pub blocked: Option<&'a str>,
}

/// A borrower message, written in the causing transaction: queued for the sender, or suppressed with the
/// reason it may not go out. None when this event already has its message to that address.
pub async fn queue_borrower(
    tx: &mut Transaction<'_, Postgres>,
    m: &BorrowerMessage<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let id = sqlx::query_scalar!(
        "INSERT INTO messages (event_key, audience, kind, channel, lead_id, case_id, to_address, subject, body,
                               status, status_reason, created_at, updated_at)
         VALUES ($1, 'borrower', $2, $3, $4, $5, $6, $7, $8,
                 CASE WHEN $9::text IS NULL THEN 'queued' ELSE 'suppressed' END, coalesce($9, ''), $10, $10)
         ON CONFLICT (event_key, to_address) DO NOTHING
         RETURNING id",
        m.event_key,
        m.kind,
        m.channel,
        m.lead,
        m.case,
        m.to,
        m.subject,
        m.body,
        m.blocked,
        now
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let (Some(id), None) = (id, m.blocked) {
        queue_sends(tx, &[id]).await?;
    }
    Ok(id)
}

/// Whether an address unsubscribed through a message that named no lead (see `email_suppressions`).
pub async fn suppressed_address(tx: &mut Transaction<'_, Postgres>, address: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM email_suppressions WHERE address = lower($1)) AS "x!""#,
        address.trim()
    )
    .fetch_one(&mut **tx)
    .await
}

/// Records an unsubscribe for an address (a case's borrower) and suppresses what was still queued to it.
pub async fn suppress_address(
    tx: &mut Transaction<'_, Postgres>,
    address: &str,
    message: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let added = sqlx::query!(
        "INSERT INTO email_suppressions (address, reason, message_id, created_at)
         VALUES (lower($1), 'unsubscribe link', $2, $3) ON CONFLICT DO NOTHING",
        address.trim(),
        message,
        now
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    sqlx::query!(
        "UPDATE messages SET status = 'suppressed', status_reason = 'the borrower unsubscribed', updated_at = $2
         WHERE lower(to_address) = lower($1) AND channel = 'email' AND audience = 'borrower' AND status = 'queued'",
        address.trim(),
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(added)
}

/// Takes a queued message for sending: locked for this transaction, skipped when another instance has it.
pub async fn claim(tx: &mut Transaction<'_, Postgres>, id: i64) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as!(
        MessageRow,
        "SELECT id, audience, kind, channel, user_id, lead_id, case_id, to_address, subject, body, status, status_reason,
                attempts, last_error, created_at, sent_at
         FROM messages WHERE id = $1 AND status = 'queued' FOR UPDATE SKIP LOCKED",
        id
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Records the message as it is about to go out: the body the recipient reads (with the unsubscribe link's
/// secret blanked; only its hash is kept) and the hash of that link's token.
pub async fn set_final(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    body: &str,
    unsubscribe_hash: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE messages SET body = $2, unsubscribe_hash = coalesce($3, unsubscribe_hash) WHERE id = $1",
        id,
        body,
        unsubscribe_hash
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a message's outcome (`sent`, `kept`, `bounced`, `suppressed`, `failed`, or `queued` after a refusal
/// that will be retried), counting the attempt when one was made.
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    status: &str,
    reason: &str,
    attempted: bool,
    error: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE messages SET status = $2, status_reason = $3, attempts = attempts + $4::int, last_error = $5,
                sent_at = CASE WHEN $2 IN ('sent', 'kept') THEN $6 ELSE sent_at END, updated_at = $6
         WHERE id = $1",
        id,
        status,
        reason,
        i32::from(attempted),
        error,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Filters of the outbox page.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct OutboxFilter {
    pub status: Option<String>,
    pub lead_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

/// The latest messages, newest first (the admin's outbox; a lead's or a person's messages).
pub async fn recent(db: &PgPool, f: &OutboxFilter, limit: i64) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as!(
        MessageRow,
        "SELECT id, audience, kind, channel, user_id, lead_id, case_id, to_address, subject, body, status, status_reason,
                attempts, last_error, created_at, sent_at
         FROM messages
         WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR lead_id = $2) AND ($3::uuid IS NULL OR user_id = $3)
         ORDER BY created_at DESC, id DESC LIMIT $4",
        f.status.as_deref().filter(|s| !s.is_empty()),
        f.lead_id,
        f.user_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// The message an unsubscribe token belongs to: its id, its lead (None for a case's borrower) and address.
pub async fn by_unsubscribe(
    tx: &mut Transaction<'_, Postgres>,
    hash: &str,
) -> sqlx::Result<Option<(i64, Option<Uuid>, String)>> {
    Ok(sqlx::query!("SELECT id, lead_id, to_address FROM messages WHERE unsubscribe_hash = $1", hash)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| (r.id, r.lead_id, r.to_address)))
}

/// Every queued borrower email to this lead is suppressed (an opt-out of email takes effect at once).
pub async fn suppress_queued_for_lead(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE messages SET status = 'suppressed', status_reason = $2, updated_at = $3
         WHERE lead_id = $1 AND audience = 'borrower' AND channel = 'email' AND status = 'queued'",
        lead,
        reason,
        now
    )
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// A person's email choices: (kind, email?) for the kinds they have set.
pub async fn preferences(db: &PgPool, user: Uuid) -> sqlx::Result<Vec<(String, bool)>> {
    Ok(sqlx::query!("SELECT kind, email FROM message_preferences WHERE user_id = $1", user)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.kind, r.email))
        .collect())
}

/// Saves a person's email choice for every listed kind (one transaction, by the caller).
pub async fn save_preferences(
    tx: &mut Transaction<'_, Postgres>,
    user: Uuid,
    choices: &[(String, bool)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let kinds: Vec<&str> = choices.iter().map(|(k, _)| k.as_str()).collect();
    let emails: Vec<bool> = choices.iter().map(|(_, e)| *e).collect();
    sqlx::query!(
        "INSERT INTO message_preferences (user_id, kind, email, created_at, updated_at)
         SELECT $1, k, e, $4, $4 FROM unnest($2::text[], $3::bool[]) AS x(k, e)
         ON CONFLICT (user_id, kind) DO UPDATE SET email = EXCLUDED.email, updated_at = EXCLUDED.updated_at",
        user,
        &kinds as &[&str],
        &emails,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A borrower template as the edit form shows it, with its version (the form's optimistic lock).
pub struct TemplateRow {
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub text_body: String,
    pub version: i32,
}

pub async fn templates(db: &PgPool) -> sqlx::Result<Vec<TemplateRow>> {
    sqlx::query_as!(TemplateRow, "SELECT kind, subject, body, text_body, version FROM message_templates ORDER BY kind")
        .fetch_all(db)
        .await
}

/// Saves a template when its version is still `version`; false when someone saved it in between.
pub async fn save_template(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    t: &TemplateText,
    version: i32,
    actor: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    Ok(sqlx::query!(
        "UPDATE message_templates SET subject = $2, body = $3, text_body = $4, version = version + 1, updated_by = $6,
                updated_at = $7
         WHERE kind = $1 AND version = $5",
        kind,
        t.subject,
        t.body,
        t.text_body,
        version,
        actor,
        now
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Saves a text setting (the postal address).
pub async fn save_setting_text(tx: &mut Transaction<'_, Postgres>, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ($1, to_jsonb($2::text))
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        key,
        value
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
