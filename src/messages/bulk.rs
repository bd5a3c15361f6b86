//! Bulk sends: an LO, a manager or an admin emails the leads a lead-list filter finds (within what they may
//! work: the shared scope, as the CSV export) with a bulk template, the check-in for leads gone quiet. Every
//! lead's message goes through [`super::queue_for_lead`], so consent is the same as for any message: an opt-out
//! of email or a missing address writes the message as suppressed with its reason, and the text version goes
//! only to borrowers who consented to texts. One transaction writes the whole send (all of it or nothing) and
//! records it with its counts; the job queue sends the messages.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use tower_sessions::Session;
use uuid::Uuid;

use super::model;
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::AppResult;
use crate::leads::store::{LeadFilter, matching_ids};
use crate::state::AppState;
use crate::web::Flash;

/// The most leads one send reaches: past it, the sender narrows the filter (the whole send is one transaction).
pub const MAX_LEADS: i64 = 1_000;

/// Who may send: the people who work borrowers (marketing reads the anonymous list; intake only adds leads).
const SENDERS: &[Role] = &[Role::Lo, Role::Manager, Role::Admin];

/// What the matching leads hold for email: how many have no address, how many opted out of it.
struct Reach {
    leads: i64,
    no_email: i64,
    opted_out: i64,
    texts: i64,
}

async fn reach(state: &AppState, ids: &[Uuid]) -> sqlx::Result<Reach> {
    let r = sqlx::query!(
        r#"SELECT count(*) AS "leads!",
                  count(*) FILTER (WHERE l.email IS NULL OR l.email NOT LIKE '%@%') AS "no_email!",
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = l.id
                                                 AND o.channel IN ('email', 'all'))) AS "opted_out!",
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM lead_consents c WHERE c.lead_id = l.id
                                                 AND c.channel IN ('text', 'all'))
                                     AND NOT EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = l.id
                                                     AND o.channel IN ('text', 'all'))) AS "texts!"
           FROM leads l WHERE l.id = ANY($1)"#,
        ids
    )
    .fetch_one(&state.db)
    .await?;
    Ok(Reach { leads: r.leads, no_email: r.no_email, opted_out: r.opted_out, texts: r.texts })
}

/// One earlier send, for the page's history.
struct SendRow {
    template: String,
    filter: String,
    leads: i32,
    queued: i32,
    held_back: i32,
    sender: String,
    created_at: DateTime<Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages/bulk.html")]
struct BulkPage {
    ctx: PageCtx,
    query: String,
    hidden: Vec<(&'static str, String)>,
    templates: Vec<(&'static str, &'static str, String)>,
    chosen: String,
    matched: i64,
    too_many: bool,
    reach: Option<Reach>,
    error: Option<String>,
    sends: Vec<SendRow>,
}

impl BulkPage {
    fn max(&self) -> i64 {
        MAX_LEADS
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    pairs: &[(String, String)],
    error: Option<String>,
) -> AppResult<BulkPage> {
    let (f, errors) = LeadFilter::from_pairs(&filter_pairs(pairs));
    errors.into_result()?;
    let ids = matching_ids(state, user, &f, MAX_LEADS + 1).await?;
    let too_many = ids.len() as i64 > MAX_LEADS;
    let reach = if too_many || ids.is_empty() { None } else { Some(reach(state, &ids).await?) };
    let mut templates = Vec::new();
    for t in model::TEMPLATES.iter().filter(|t| t.bulk) {
        let subject = super::store::template_text(&state.db, t.kind).await?.map(|t| t.subject).unwrap_or_default();
        templates.push((t.kind, t.label, subject));
    }
    let chosen = pairs.iter().find(|(k, _)| k == "template").map(|(_, v)| v.clone()).unwrap_or_default();
    let sends = sqlx::query_as!(
        SendRow,
        r#"SELECT b.template, b.filter, b.leads, b.queued, b.held_back, u.name AS sender, b.created_at
           FROM message_bulk_sends b JOIN users u ON u.id = b.user_id
           WHERE b.user_id = $1 OR $2
           ORDER BY b.created_at DESC LIMIT 20"#,
        user.id,
        user.role == Role::Admin
    )
    .fetch_all(&state.db)
    .await?;
    let hidden = f.pairs().into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k, v.clone())).collect();
    Ok(BulkPage {
        ctx,
        query: f.query_string(),
        hidden,
        templates,
        chosen,
        matched: ids.len().min(MAX_LEADS as usize) as i64,
        too_many,
        reach,
        error,
        sends,
    })
}

/// The lead list's filter among the form's fields (all but the template).
fn filter_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs.iter().filter(|(k, _)| k != "template").cloned().collect()
}

/// `GET /messages/bulk?<lead list filter>`: how many leads the filter finds, how many of them email can reach,
/// the bulk templates, and the sender's earlier sends.
pub async fn bulk_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(SENDERS)?;
    Ok(page(&state, &user, ctx, &pairs, None).await?.into_response())
}

/// `POST /messages/bulk`: the template and the filter (as the page carried it). Writes one message per lead in
/// one transaction, with the send's record and its audit entry.
pub async fn bulk_send(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(SENDERS)?;
    let (f, errors) = LeadFilter::from_pairs(&filter_pairs(&pairs));
    errors.into_result()?;
    let kind = pairs.iter().find(|(k, _)| k == "template").map(|(_, v)| v.as_str()).unwrap_or_default();
    let refuse = |why: String| async {
        let page = page(&state, &user, ctx, &pairs, Some(why)).await?;
        Ok::<_, crate::error::AppError>((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let Some(template) = model::template(kind).filter(|t| t.bulk) else {
        return refuse("Choose the message to send.".into()).await;
    };
    let ids = matching_ids(&state, &user, &f, MAX_LEADS + 1).await?;
    if ids.is_empty() {
        return refuse("No lead you work matches this filter.".into()).await;
    }
    if ids.len() as i64 > MAX_LEADS {
        return refuse(format!("More than {MAX_LEADS} leads match: narrow the filter and send in parts.")).await;
    }
    let now = state.clock.now();
    let send = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    for lead in &ids {
        super::queue_for_lead(&mut tx, *lead, template.kind, &format!("bulk:{send}:{lead}"), BTreeMap::new(), now)
            .await?;
    }
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'queued' AND channel = 'email') AS "queued!",
                  count(*) FILTER (WHERE status = 'suppressed' AND channel = 'email') AS "held_back!",
                  count(*) FILTER (WHERE status = 'queued' AND channel = 'text') AS "texts!"
           FROM messages WHERE event_key LIKE $1"#,
        format!("bulk:{send}:%")
    )
    .fetch_one(&mut *tx)
    .await?;
    let query = f.query_string();
    sqlx::query!(
        "INSERT INTO message_bulk_sends (id, user_id, template, filter, leads, queued, held_back, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        send,
        user.id,
        template.kind,
        query,
        ids.len() as i32,
        counts.queued as i32,
        counts.held_back as i32,
        now
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "messages.bulk_send", "message_bulk_send", send)
        .after(serde_json::json!({
            "template": template.kind, "filter": query, "leads": ids.len(), "queued": counts.queued,
            "held_back": counts.held_back, "texts": counts.texts,
        }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    let n = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let note = format!(
        "\u{201c}{}\u{201d} written for {}: {} queued, {} held back (opted out or no address), {} to borrowers who consented to texts.",
        template.label,
        n(ids.len() as i64, "lead", "leads"),
        n(counts.queued, "email", "emails"),
        counts.held_back,
        n(counts.texts, "text", "texts")
    );
    Flash::push(&session, "success", note).await;
    Ok(Redirect::to(&format!("/messages/bulk?{query}")).into_response())
}
