//! `/admin/webhooks`: register endpoints, see each secret once, allow a private host, read the delivery log.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, event_label};
use super::store::{self, DeliveryRow, EndpointRow};
use super::{NewEndpoint, register};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, PageCtx, Routes};

pub fn router() -> Routes {
    Routes::new().route("/admin/webhooks", &["GET", "POST"], get(page).post(create)).route(
        "/admin/webhooks/{id}",
        &["POST"],
        post(update),
    )
}

pub struct EventOption {
    pub key: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks/admin.html")]
struct AdminPage {
    ctx: PageCtx,
    endpoints: Vec<EndpointRow>,
    deliveries: Vec<DeliveryRow>,
    events: Vec<EventOption>,
    form: NewEndpoint,
    errors: FieldErrors,
    new_secret: Option<String>,
}

impl AdminPage {
    fn allowed_value(&self) -> &str {
        self.form.allowed_host.as_deref().unwrap_or("")
    }
}

async fn render(
    state: &AppState,
    ctx: PageCtx,
    form: NewEndpoint,
    errors: FieldErrors,
    secret: Option<String>,
) -> AppResult<AdminPage> {
    let events = model::EVENTS
        .iter()
        .map(|k| EventOption { key: k, label: event_label(k), checked: form.events.iter().any(|e| e == k) })
        .collect();
    Ok(AdminPage {
        ctx,
        endpoints: store::endpoints(&state.db).await?,
        deliveries: store::recent_deliveries(&state.db, 100).await?,
        events,
        form,
        errors,
        new_secret: secret,
    })
}

async fn page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    render(&state, ctx, NewEndpoint::default(), FieldErrors::new(), None).await
}

/// Repeated `events` checkboxes arrive as pairs.
fn endpoint_from_pairs(pairs: &[(String, String)]) -> NewEndpoint {
    let mut e = NewEndpoint::default();
    for (k, v) in pairs {
        match k.as_str() {
            "url" => e.url = v.clone(),
            "events" => e.events.push(v.clone()),
            "allowed_host" => e.allowed_host = Some(v.clone()).filter(|s| !s.trim().is_empty()),
            _ => {}
        }
    }
    e
}

/// Registers an endpoint and shows its secret on this response only (it is never shown again).
async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let form = endpoint_from_pairs(&pairs);
    match register(&state, &user, &form).await {
        Ok((_, secret)) => {
            let page = render(&state, ctx, NewEndpoint::default(), FieldErrors::new(), Some(secret)).await?;
            Ok((StatusCode::CREATED, page).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render(&state, ctx, form, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Turns an endpoint on or off and sets (or clears) the host allowed despite a private address.
async fn update(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let active = pairs.iter().any(|(k, _)| k == "active");
    let allowed = pairs
        .iter()
        .find(|(k, _)| k == "allowed_host")
        .map(|(_, v)| v.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    if allowed.as_deref().is_some_and(|h| h.len() > 253 || h.contains('/') || h.contains(' ')) {
        return Err(AppError::invalid("allowed_host", "Enter a host name or IP address only."));
    }
    let mut tx = state.db.begin().await?;
    let before = store::update_endpoint(&mut tx, id, active, allowed.as_deref()).await?.ok_or(AppError::NotFound)?;
    Entry::new(Some(&user), "webhook.updated", "webhook_endpoint", id)
        .before(serde_json::json!({ "active": before.0, "allowed_host": before.1 }))
        .after(serde_json::json!({ "active": active, "allowed_host": allowed }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Webhook endpoint saved.").await;
    Ok(Redirect::to("/admin/webhooks").into_response())
}
