//! HTTP plumbing shared by every capability: the request context (request id, client address, whether the
//! caller is the JSON API), security headers, cross-site request refusal, Prometheus metrics, the route table
//! used by the route-by-role test, and flash messages (the page context every template gets is `auth::PageCtx`).

pub mod api_errors;
pub mod assets;
pub mod client;
pub mod csrf;
pub mod csv;
pub mod flash;
pub mod format;
pub mod input;
pub mod metrics;
pub mod money;
pub mod statements;
pub mod upload;
pub mod us;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use tracing::Instrument;

use crate::state::AppState;

pub use flash::Flash;

/// Per-request facts, available anywhere in the request's task (errors, audit log).
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: String,
    pub client_addr: String,
    pub is_api: bool,
    pub path_and_query: String,
    pub method_is_get: bool,
    /// The session cookie may go over plain HTTP (`Config::plain_http_cookies`): every page says so, error
    /// pages included.
    pub insecure_cookies: bool,
    /// The organisation's time zone: every time a person reads or types is in it (`web::format`), unless
    /// the signed-in person chose their own.
    pub timezone: Option<chrono_tz::Tz>,
    /// The signed-in person's own zone, set once the request's user is known ([`set_person_zone`]).
    pub person_zone: std::sync::Arc<std::sync::OnceLock<chrono_tz::Tz>>,
}

tokio::task_local! {
    static REQUEST_CTX: RequestCtx;
}

/// The current request's context, or an empty one outside a request (CLI, jobs).
pub fn request_ctx() -> RequestCtx {
    REQUEST_CTX.try_with(|c| c.clone()).unwrap_or_default()
}

/// The zone the current request's reader reads times in (their own, else the organisation's); None outside a
/// request.
pub fn reader_zone() -> Option<chrono_tz::Tz> {
    REQUEST_CTX.try_with(|c| c.person_zone.get().copied().or(c.timezone)).ok().flatten()
}

/// The signed-in person reads and types times in `zone` for the rest of this request (no-op outside one).
pub fn set_person_zone(zone: chrono_tz::Tz) {
    let _ = REQUEST_CTX.try_with(|c| c.person_zone.set(zone));
}

/// Runs `f` inside a given request context (used by jobs and tests that call domain code directly).
pub async fn with_request_ctx<F: std::future::Future>(ctx: RequestCtx, f: F) -> F::Output {
    REQUEST_CTX.scope(ctx, f).await
}

/// Outermost middleware: assigns the request id, records the client address (`client::client_addr`), opens
/// the tracing span; on the way out marks every answer but static files `Cache-Control: no-store` (pages, API
/// answers and downloads carry borrower data) and adds HSTS to requests that came over TLS.
pub async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let trusted = &state.config.trust_proxy;
    let client = peer.map(|p| client::client_addr(p, req.headers(), trusted));
    let over_tls = peer.is_some_and(|p| client::came_over_tls(p, req.headers(), trusted));
    let path = req.uri().path().to_string();
    let ctx = RequestCtx {
        request_id: request_id.clone(),
        client_addr: client.map_or_else(|| "unknown".into(), |a| a.to_string()),
        is_api: path.starts_with("/api/"),
        path_and_query: req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or(path.clone()),
        method_is_get: req.method() == Method::GET,
        insecure_cookies: state.config.plain_http_cookies().is_some(),
        timezone: Some(state.config.timezone),
        person_zone: Default::default(),
    };
    req.extensions_mut().insert(ctx.clone());
    // `path` is logged as a structured field, so user input cannot forge log lines.
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %path);
    let (mut response, statements) = statements::counting(REQUEST_CTX.scope(ctx, next.run(req))).instrument(span).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    if !path.starts_with("/static/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if over_tls {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    if statements::header_enabled() {
        headers.insert(statements::HEADER, HeaderValue::from(statements));
    }
    response
}

/// Builds a capability's router while recording each (method, path) so the route-by-role test can walk
/// every route the application serves.
pub struct Routes {
    router: axum::Router<AppState>,
    table: Vec<RouteInfo>,
}

/// One served route, for the route-by-role test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    /// Who may use it: `public` (anyone), or `auth` (any signed-in user, scoped inside).
    pub access: Access,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Authenticated,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self { router: axum::Router::new(), table: Vec::new() }
    }
    /// A route that requires a signed-in user (the handler's `CurrentUser` extractor enforces it).
    pub fn route(mut self, path: &'static str, methods: &[&'static str], handler: MethodRouter<AppState>) -> Self {
        for m in methods {
            self.table.push(RouteInfo { method: m, path, access: Access::Authenticated });
        }
        self.router = self.router.route(path, handler);
        self
    }
    /// A route anyone may call (login, health).
    pub fn public(mut self, path: &'static str, methods: &[&'static str], handler: MethodRouter<AppState>) -> Self {
        for m in methods {
            self.table.push(RouteInfo { method: m, path, access: Access::Public });
        }
        self.router = self.router.route(path, handler);
        self
    }
    pub fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }
    pub fn into_parts(self) -> (axum::Router<AppState>, Vec<RouteInfo>) {
        (self.router, self.table)
    }
}
