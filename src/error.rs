//! The one error type. Handlers return `Result<_, AppError>` and use `?`.
//!
//! Browsers get an HTML page (with the request id for support); `/api/` callers get
//! `{"error": {"code", "message", "request_id"}}`, and validation errors `{"errors": {field: [msg]}}`.

use std::collections::BTreeMap;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;

use crate::web::request_ctx;

/// Messages per field, in a stable order.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"email": ["is not an email address"]}))]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

/// The body of every `/api/` error but a validation error (400, 401, 403, 404, 409, 429, 500, 503).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiError,
}

/// What went wrong, for an API client.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `rate_limited`, `internal` or
    /// `unavailable`; refusals made before a handler runs (`web::api_errors`) also `method_not_allowed`,
    /// `timeout`, `too_large` or `unsupported_media_type`.
    pub code: &'static str,
    /// A sentence for a person; never internal details.
    pub message: String,
    /// Quote it to support; it is also the `X-Request-Id` response header.
    pub request_id: String,
    /// A 409 for a value that must be unique: the field that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// A 409 for a value that must be unique: the record that has it, only when the caller may see it
    /// (`null` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<serde_json::Value>,
}

/// The body of a 422: messages per field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ValidationErrorBody {
    pub errors: FieldErrors,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_string()).or_default().push(message.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The first message for a field, for showing beside an input.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(|v| v.first()).map(String::as_str)
    }
    /// Ok when empty, otherwise a validation error.
    pub fn into_result(self) -> Result<(), AppError> {
        if self.is_empty() { Ok(()) } else { Err(AppError::Validation(self)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden(String),
    #[error("sign in required")]
    Unauthorized,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input")]
    Validation(FieldErrors),
    /// A value that must be unique is already on another record (409). `other` describes that record only
    /// when the caller may see it; forms show `message` beside `field`.
    #[error("{field} is taken")]
    Taken { field: &'static str, message: String, other: Option<serde_json::Value> },
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => AppError::NotFound,
            other => AppError::Internal(other.into()),
        }
    }
}

/// A refused form submission as the field errors to show beside the form and its status: 422 for bad values,
/// 409 for a value another record has (under its field) or a change made against an older version (under
/// `version`); anything else is the error itself.
pub fn form_refusal(e: AppError) -> AppResult<(StatusCode, FieldErrors)> {
    let mut errors = FieldErrors::new();
    match e {
        AppError::Validation(errors) => return Ok((StatusCode::UNPROCESSABLE_ENTITY, errors)),
        AppError::Taken { field, message, .. } => errors.add(field, message),
        AppError::Conflict(message) => errors.add("version", message),
        other => return Err(other),
    }
    Ok((StatusCode::CONFLICT, errors))
}

impl AppError {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        AppError::Forbidden(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        AppError::Conflict(msg.into())
    }
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut e = FieldErrors::new();
        e.add(field, message);
        AppError::Validation(e)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Conflict(_) | AppError::Taken { .. } => StatusCode::CONFLICT,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Internal(e) if database_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::NotFound => "not_found",
            AppError::Forbidden(_) => "forbidden",
            AppError::Unauthorized => "unauthorized",
            AppError::Conflict(_) | AppError::Taken { .. } => "conflict",
            AppError::Validation(_) => "invalid",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::BadRequest(_) => "bad_request",
            AppError::Internal(e) if database_unavailable(e) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// What the user is told; internal details never leave the server.
    pub fn public_message(&self) -> String {
        match self {
            AppError::NotFound => "We could not find that page or record.".into(),
            AppError::Forbidden(m) if !m.is_empty() => m.clone(),
            AppError::Forbidden(_) => "You do not have permission to do that.".into(),
            AppError::Unauthorized => "Please sign in.".into(),
            AppError::Conflict(m) | AppError::Taken { message: m, .. } => m.clone(),
            AppError::Validation(errors) if !errors.is_empty() => {
                let fields: Vec<String> = errors.0.iter().map(|(f, m)| format!("{f}: {}", m.join(" "))).collect();
                format!("Some fields need attention. {}", fields.join(" "))
            }
            AppError::Validation(_) => "Some fields need attention.".into(),
            AppError::RateLimited { retry_after_secs } => {
                format!("Too many attempts. Try again in {} minutes.", retry_after_secs.div_ceil(60).max(1))
            }
            AppError::BadRequest(m) => m.clone(),
            AppError::Internal(e) if database_unavailable(e) => {
                "The database cannot be reached right now. Nothing was saved; try again in a few seconds.".into()
            }
            AppError::Internal(_) => "Something went wrong on our side. It has been logged.".into(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
    insecure_cookies: bool,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let ctx = request_ctx();
        let status = self.status();
        if let AppError::Internal(ref e) = self {
            tracing::error!(request_id = %ctx.request_id, error = ?e, "internal error");
        }
        let mut response = if ctx.is_api {
            let error = |message: String| ApiError {
                code: self.code(),
                message,
                request_id: ctx.request_id.clone(),
                field: None,
                other: None,
            };
            match &self {
                AppError::Validation(errors) => {
                    (status, axum::Json(ValidationErrorBody { errors: errors.clone() })).into_response()
                }
                AppError::Taken { field, message, other } => {
                    let error = ApiError {
                        field: Some(field),
                        other: Some(other.clone().unwrap_or_default()),
                        ..error(message.clone())
                    };
                    (status, axum::Json(ApiErrorBody { error })).into_response()
                }
                _ => (status, axum::Json(ApiErrorBody { error: error(self.public_message()) })).into_response(),
            }
        } else if matches!(self, AppError::Unauthorized) {
            let next = ctx.path_and_query.clone();
            let target = if next.starts_with('/') && !next.starts_with("//") && ctx.method_is_get {
                format!("/login?next={}", urlencode(&next))
            } else {
                "/login".to_string()
            };
            return Redirect::to(&target).into_response();
        } else {
            let title = status.canonical_reason().unwrap_or("Error");
            let message = self.public_message();
            let page = ErrorPage {
                status: status.as_u16(),
                title,
                message: &message,
                request_id: &ctx.request_id,
                insecure_cookies: ctx.insecure_cookies,
            };
            let html = page.render().unwrap_or_else(|_| message.clone());
            (status, Html(html)).into_response()
        };
        if let AppError::RateLimited { retry_after_secs } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Whether an error only says the database could not be reached (down, restarting, or no connection free in
/// time): the request did nothing and may succeed when retried, so it is answered 503 with `Retry-After`
/// instead of 500.
pub fn database_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => true,
        // 08: connection exceptions; 57P01-57P03: the server is shutting down, crashed or starting.
        Some(sqlx::Error::Database(d)) => {
            d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    })
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A constraint name and the domain error it means.
pub type ConstraintMap<'a> = (&'a str, fn() -> AppError);

/// Maps a unique or foreign-key violation on a named constraint to a domain error, in one place.
pub fn on_constraint(e: sqlx::Error, map: &[ConstraintMap]) -> AppError {
    if let Some(db) = e.as_database_error() {
        if let Some(name) = db.constraint() {
            for (constraint, make) in map {
                if *constraint == name {
                    return make();
                }
            }
        }
    }
    AppError::from(e)
}

pub type AppResult<T> = Result<T, AppError>;
