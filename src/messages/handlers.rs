//! Message pages: the admin's outbox and borrower templates (with the lender's postal address), each person's
//! email preferences, the lead page's messages panel, and the borrower's unsubscribe link (public).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, STAFF_KINDS};
use super::store::{self, MessageRow, OutboxFilter};
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/admin/messages", &["GET"], get(outbox))
        .route("/admin/messages/templates", &["GET", "POST"], get(templates_page).post(save_template))
        .route("/admin/messages/postal-address", &["POST"], axum::routing::post(save_postal_address))
        .route("/messages/preferences", &["GET", "POST"], get(preferences_page).post(save_preferences))
        .route("/messages/bulk", &["GET", "POST"], get(super::bulk::bulk_page).post(super::bulk::bulk_send))
        .public("/unsubscribe", &["GET", "POST"], get(unsubscribe_page).post(unsubscribe))
}

/// A status as people read it.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "queued" => "Queued",
        "sent" => "Sent",
        "kept" => "Kept (no mail server)",
        "bounced" => "Bounced",
        "suppressed" => "Suppressed",
        "failed" => "Failed",
        _ => "Unknown",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "messages/outbox.html")]
struct OutboxPage {
    ctx: PageCtx,
    rows: Vec<MessageRow>,
    status: String,
    smtp: bool,
}

impl OutboxPage {
    fn label(&self, s: &str) -> &'static str {
        status_label(s)
    }
}

async fn outbox(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(f): Query<OutboxFilter>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    let rows = store::recent(&state.db, &f, 200).await?;
    Ok(OutboxPage { ctx, rows, status: f.status.unwrap_or_default(), smtp: state.config.smtp_url.is_some() })
}

struct TemplateForm {
    kind: String,
    label: &'static str,
    fields: &'static [&'static str],
    subject: String,
    body: String,
    /// The text-message version (empty: never texted).
    text_body: String,
    version: i32,
    errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages/templates.html")]
struct TemplatesPage {
    ctx: PageCtx,
    templates: Vec<TemplateForm>,
    postal_address: String,
    postal_error: Option<String>,
}

async fn templates_view(
    state: &AppState,
    ctx: PageCtx,
    edited: Option<TemplateForm>,
    postal: Option<(String, String)>,
) -> AppResult<TemplatesPage> {
    let mut edited = edited;
    let mut templates = Vec::new();
    for row in store::templates(&state.db).await? {
        let Some(t) = model::template(&row.kind) else { continue };
        match edited.take_if(|e| e.kind == row.kind) {
            Some(e) => templates.push(e),
            None => templates.push(TemplateForm {
                kind: row.kind,
                label: t.label,
                fields: t.fields,
                subject: row.subject,
                body: row.body,
                text_body: row.text_body,
                version: row.version,
                errors: FieldErrors::new(),
            }),
        }
    }
    let (postal_address, postal_error) = match postal {
        Some((value, error)) => (value, Some(error)),
        None => (store::setting_text(&state.db, store::POSTAL_ADDRESS).await?, None),
    };
    Ok(TemplatesPage { ctx, templates, postal_address, postal_error })
}

async fn templates_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    Ok(templates_view(&state, ctx, None, None).await?.into_response())
}

/// Every field defaults, so any form reaches the role check before its own validation.
#[derive(Deserialize)]
struct TemplateInput {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    version: String,
}

async fn save_template(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<TemplateInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let t = model::template(&f.kind).ok_or(AppError::NotFound)?;
    let version: i32 =
        f.version.trim().parse().map_err(|_| AppError::BadRequest("the form has no template version".into()))?;
    let mut errors = FieldErrors::new();
    let (subject, body, text_body) = (f.subject.trim(), f.body.trim(), f.text_body.trim());
    if subject.is_empty() || subject.len() > 200 || subject.contains(['\r', '\n']) {
        errors.add("subject", "Write a subject of one line, at most 200 characters.");
    }
    if body.is_empty() || body.len() > 20_000 {
        errors.add("body", "Write the message (at most 20,000 characters).");
    }
    if text_body.chars().count() > model::TEXT_MAX_CHARS || (!t.texts && !text_body.is_empty()) {
        let why = if t.texts {
            format!("Keep the text within {} characters (two text segments).", model::TEXT_MAX_CHARS)
        } else {
            "This message goes by email only.".to_string()
        };
        errors.add("text_body", why);
    }
    let unknown = model::unknown_fields(&f.kind, &format!("{subject} {body} {text_body}"));
    if !unknown.is_empty() {
        errors.add(
            "body",
            format!(
                "This template has no field {}; it offers {}.",
                unknown.iter().map(|u| format!("{{{{{u}}}}}")).collect::<Vec<_>>().join(", "),
                t.fields.iter().map(|u| format!("{{{{{u}}}}}")).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let form = |errors| TemplateForm {
        kind: f.kind.clone(),
        label: t.label,
        fields: t.fields,
        subject: f.subject.clone(),
        body: f.body.clone(),
        text_body: f.text_body.clone(),
        version,
        errors,
    };
    if !errors.is_empty() {
        let page = templates_view(&state, ctx, Some(form(errors)), None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let mut tx = state.db.begin().await?;
    let before = store::template_text(&mut *tx, &f.kind).await?;
    let saved = store::TemplateText { subject: subject.into(), body: body.into(), text_body: text_body.into() };
    if !store::save_template(&mut tx, &f.kind, &saved, version, user.id, state.clock.now()).await? {
        tx.rollback().await?;
        let mut e = FieldErrors::new();
        e.add("body", "Someone saved this template while you were editing it. Your text is below; the saved one is not shown until you reload.");
        let page = templates_view(&state, ctx, Some(form(e)), None).await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    Entry::new(Some(&user), "message_template.updated", "message_template", &f.kind)
        .before(before.map(|b| serde_json::json!({"subject": b.subject, "body": b.body, "text_body": b.text_body})))
        .after(serde_json::json!({"subject": subject, "body": body, "text_body": text_body}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Template \u{201c}{}\u{201d} saved.", t.label)).await;
    Ok(Redirect::to("/admin/messages/templates").into_response())
}

#[derive(Deserialize)]
struct PostalInput {
    #[serde(default)]
    postal_address: String,
}

async fn save_postal_address(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<PostalInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let value = f.postal_address.trim();
    if value.len() < 10 || value.len() > 500 {
        let error = "Enter the lender's full postal address (street or PO box, city, state, ZIP).".to_string();
        let page = templates_view(&state, ctx, None, Some((f.postal_address.clone(), error))).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let mut tx = state.db.begin().await?;
    let before = store::setting_text(&mut *tx, store::POSTAL_ADDRESS).await?;
    store::save_setting_text(&mut tx, store::POSTAL_ADDRESS, value).await?;
    Entry::new(Some(&user), "setting.updated", "setting", store::POSTAL_ADDRESS)
        .before(&before)
        .after(value)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Postal address saved; it closes every borrower email.").await;
    Ok(Redirect::to("/admin/messages/templates").into_response())
}

struct PreferenceRow {
    kind: &'static str,
    label: &'static str,
    email: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages/preferences.html")]
struct PreferencesPage {
    ctx: PageCtx,
    rows: Vec<PreferenceRow>,
    recent: Vec<MessageRow>,
}

impl PreferencesPage {
    fn label(&self, s: &str) -> &'static str {
        status_label(s)
    }
}

async fn preferences_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    let chosen = store::preferences(&state.db, user.id).await?;
    let rows = STAFF_KINDS
        .iter()
        .map(|k| PreferenceRow {
            kind: k.kind,
            label: k.label,
            email: model::emails(k.kind, chosen.iter().find(|(c, _)| c == k.kind).map(|(_, e)| *e)),
        })
        .collect();
    let recent = store::recent(&state.db, &OutboxFilter { user_id: Some(user.id), ..Default::default() }, 20).await?;
    Ok(PreferencesPage { ctx, rows, recent }.into_response())
}

async fn save_preferences(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    // Checkboxes: a listed kind that is ticked comes as `email=<kind>`; the rest are off.
    let ticked: Vec<&str> = form.iter().filter(|(k, _)| k == "email").map(|(_, v)| v.as_str()).collect();
    let choices: Vec<(String, bool)> =
        STAFF_KINDS.iter().map(|k| (k.kind.to_string(), ticked.contains(&k.kind))).collect();
    let mut tx = state.db.begin().await?;
    store::save_preferences(&mut tx, user.id, &choices, state.clock.now()).await?;
    Entry::new(Some(&user), "message_preferences.updated", "user", user.id)
        .after(serde_json::json!({"email": ticked}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Your email preferences are saved.").await;
    Ok(Redirect::to("/messages/preferences").into_response())
}

#[derive(Template)]
#[template(path = "messages/lead_panel.html")]
struct LeadPanel {
    rows: Vec<MessageRow>,
}

impl LeadPanel {
    fn label(&self, s: &str) -> &'static str {
        status_label(s)
    }
}

/// The lead page's panel: the emails to this borrower and their status (for whoever sees the lead).
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let rows = store::recent(&state.db, &OutboxFilter { lead_id: Some(lead_id), ..Default::default() }, 50).await?;
    LeadPanel { rows }.render().map_err(|e| AppError::Internal(e.into()))
}

#[derive(Deserialize)]
struct UnsubscribeQuery {
    #[serde(default)]
    t: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "messages/unsubscribe.html")]
struct UnsubscribePage {
    ctx: PageCtx,
    token: String,
    done: bool,
    known: bool,
}

async fn unsubscribe_page(ctx: PageCtx, Query(q): Query<UnsubscribeQuery>) -> impl IntoResponse {
    let known = !q.t.is_empty();
    UnsubscribePage { ctx, token: q.t, done: false, known }
}

/// The one-click unsubscribe: the mail client's POST (RFC 8058, body `List-Unsubscribe=One-Click`) or the
/// page's button. No sign-in: the link's token is the authority, and it can only opt its own borrower out.
async fn unsubscribe(
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<UnsubscribeQuery>,
) -> AppResult<Response> {
    let known = !q.t.is_empty() && q.t.len() <= 200 && super::unsubscribe(&state, &q.t).await?;
    let status = if known { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok((status, UnsubscribePage { ctx, token: String::new(), done: known, known }).into_response())
}
