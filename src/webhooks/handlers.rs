//! `/admin/webhooks`: register endpoints, see each secret once, allow a private host or plain HTTP for a named
//! host, opt an endpoint in to the borrower's contact details, read the delivery log.

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
use super::{NewEndpoint, Settings, normalise_host, register};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

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
    fn plain_http_value(&self) -> &str {
        self.form.plain_http_host.as_deref().unwrap_or("")
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
            "plain_http_host" => e.plain_http_host = Some(v.clone()).filter(|s| !s.trim().is_empty()),
            "include_contact" => e.include_contact = true,
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

/// Turns an endpoint on or off, sets (or clears) the host allowed despite a private address and the host plain
/// HTTP is allowed for, and opts the endpoint in or out of the borrower's contact details.
async fn update(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let value = |name: &str| normalise_host(pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()));
    let settings = Settings {
        active: pairs.iter().any(|(k, _)| k == "active"),
        allowed_host: value("allowed_host"),
        plain_http_host: value("plain_http_host"),
        include_contact: pairs.iter().any(|(k, _)| k == "include_contact"),
    };
    super::update(&state, &user, id, settings).await?;
    Flash::push(&session, "success", "Webhook endpoint saved.").await;
    Ok(Redirect::to("/admin/webhooks").into_response())
}
