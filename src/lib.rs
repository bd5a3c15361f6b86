//! Loanfloor: a CRM for mortgage production managers, their loan officers and loss-mitigation teams.
//!
//! `app(state)` builds the whole router; `serve` runs it with graceful shutdown; `run` is the CLI entry.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod departments;
pub mod devtools;
pub mod error;
pub mod escalations;
pub mod events;
pub mod fair_lending;
pub mod home;
pub mod imports;
pub mod jobs;
pub mod leads;
pub mod loan_options;
pub mod locks;
pub mod lossmit;
pub mod messages;
pub mod metrics;
pub mod notifications;
pub mod portfolio;
pub mod retention;
pub mod routing;
pub mod secrets;
pub mod state;
pub mod web;
pub mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use config::Config;
pub use error::{AppError, AppResult};
pub use state::AppState;
pub use web::{Access, RouteInfo, Routes};

/// Every capability's routes, with their access table.
pub fn routes() -> Routes {
    Routes::new()
        .merge(home::router())
        .merge(retention::router())
        .merge(auth::router())
        .merge(accounts::router())
        .merge(notifications::router())
        .merge(messages::router())
        .merge(leads::router())
        .merge(locks::router())
        .merge(departments::router())
        .merge(loan_options::router())
        .merge(routing::router())
        .merge(escalations::router())
        .merge(metrics::router())
        .merge(lossmit::router())
        .merge(portfolio::router())
        .merge(webhooks::router())
        .merge(fair_lending::router())
}

/// The application's state: the foundation's `AppState` with every capability's job kinds registered.
/// Everything that serves or runs jobs builds its state here.
pub fn state(db: sqlx::PgPool, config: Config) -> AppState {
    wire();
    AppState::new(db, config).with_jobs(job_kinds())
}

/// Wires what lower layers call without importing the capabilities above them: the domain events'
/// in-process subscribers and lead-event consumers (in the order they run), a new lead's routing, the lead page's panels, an LO's offboarding.
pub fn wire() {
    events::wire(
        vec![portfolio::on_event, webhooks::on_event, notifications::on_event, messages::on_event],
        vec![portfolio::LEAD_EVENTS, webhooks::LEAD_EVENTS, messages::LEAD_EVENTS],
    );
    leads::wiring::wire(leads::wiring::LeadWiring {
        queue_routing: |tx, leads, now| Box::pin(async move { Ok(routing::queue_routing(tx, leads, now).await?) }),
        route_new_lead: |state, lead, actor, wait| {
            Box::pin(routing::batch::route_created_soon(state, lead, actor, wait))
        },
        lead_panels: vec![
            |state, user, lead| Box::pin(routing::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(locks::pages::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(loan_options::pages::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(escalations::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(messages::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(retention::lead_panel(state, user, lead)),
            |state, user, lead| Box::pin(fair_lending::pages::lead_panel(state, user, lead)),
        ],
    });
    escalations::wiring::wire(escalations::wiring::EscalationsWiring {
        officer_figures: |state, user, from, to| Box::pin(metrics::officer_figures(state, user, from, to)),
    });
    accounts::wiring::wire(accounts::wiring::AccountsWiring {
        hand_over_open_leads: |state, tx, actor, lo, to| {
            Box::pin(routing::hand_over_open_leads(state, tx, actor, lo, to))
        },
    });
}

/// The job kinds by namespace: the queue (`jobs`) imports no capability, the composition root wires them.
pub fn job_kinds() -> jobs::Registry {
    jobs::Registry::new()
        .register("events", |state, job, now| Box::pin(events::run_job(state, job, now)))
        .register("leads", |state, job, now| Box::pin(leads::run_job(state, job, now)))
        .register("locks", |state, job, now| Box::pin(locks::run_job(state, job, now)))
        .register("departments", |state, job, now| Box::pin(departments::run_job(state, job, now)))
        .register("routing", |state, job, now| Box::pin(routing::run_job(state, job, now)))
        .register("escalations", |state, job, now| Box::pin(escalations::run_job(state, job, now)))
        .register("metrics", |state, job, now| Box::pin(metrics::run_job(state, job, now)))
        .register("lossmit", |state, job, now| Box::pin(lossmit::run_job(state, job, now)))
        .register("portfolio", |state, job, now| Box::pin(portfolio::run_job(state, job, now)))
        .register("webhooks", |state, job, now| Box::pin(webhooks::run_job(state, job, now)))
        .register("messages", |state, job, now| Box::pin(messages::run_job(state, job, now)))
        .register("home", |state, job, now| Box::pin(home::run_job(state, job, now)))
        .register("retention", |state, job, now| Box::pin(retention::run_job(state, job, now)))
}

/// Every place a stored secret is kept sealed (start-up seals plaintext there; `loanfloor rotate-key`
/// re-seals it), declared by the capabilities that own the tables.
pub fn sealed_places() -> Vec<secrets::Place> {
    [auth::SEALED, webhooks::SEALED].concat()
}

/// The route table (method, path, access) of the whole application, for the route-by-role test.
pub fn route_table() -> Vec<RouteInfo> {
    routes().into_parts().1
}

/// Builds the application.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes().into_parts();
    let store = auth::session_store::PgSessionStore::new(state.db.clone())
        .with_cache(state.config.session_cache.then(|| auth::session_cache::SessionCache::of(&state)));
    let sessions = SessionManagerLayer::new(store)
        .with_name(auth::session::cookie_name(&state.config))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.plain_http_cookies().is_none())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(state.config.session_idle_minutes)));
    let body_limit = state.config.body_limit;
    let static_files = Router::new().route("/static/{*file}", axum::routing::get(web::assets::serve)).layer(
        SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
    );
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), web::metrics::track))
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record_refusals))
        // After the cross-site refusal (which is audited), before any handler reads a field.
        .layer(middleware::from_fn_with_state(state.clone(), web::input::refuse_bad_text))
        .layer(middleware::from_fn_with_state(state.clone(), web::csrf::refuse_cross_site))
        .layer(sessions)
        .merge(static_files)
        .route("/healthz", axum::routing::get(home::healthz))
        .route("/readyz", axum::routing::get(home::readyz))
        .fallback(|| async { AppError::NotFound })
        .layer(RequestBodyLimitLayer::new(body_limit * 50))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // Outside the body limits, so their refusals take the API's error shape too.
        .layer(middleware::from_fn(web::api_errors::json_errors))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")))
        .layer(middleware::from_fn_with_state(state.clone(), web::request_context))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(why) = state.config.plain_http_cookies() {
        tracing::warn!(
            reason = why,
            "insecure cookies: the session cookie is sent over plain HTTP (no Secure, no __Host- prefix); for development only"
        );
    }
    let token_changes = auth::token_cache::spawn_listener(&state);
    let app = app(state);
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = token_changes {
        task.abort();
    }
    served
}

/// Serves Prometheus `/metrics` alone on its own listener (`--metrics-addr`) until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, web::metrics::listener_app(state)).with_graceful_shutdown(shutdown).await
}

pub use cli::run;
