//! One error shape for the whole `/api/`: answers that axum's extractors give as plain text (a body that is not
//! JSON, a path value that is not a UUID, a wrong media type, a body too large) are rewritten into the body
//! `AppError` gives (`ApiErrorBody`; `ValidationErrorBody` for a 422), as the published contract promises.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiErrorBody, FieldErrors, ValidationErrorBody};

/// Rewrites a non-JSON error answer under `/api/` into the API's error shape, keeping its status and headers.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    if !is_api || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("Error").to_string() } else { text };
    let mut out = if status == StatusCode::UNPROCESSABLE_ENTITY {
        let mut errors = FieldErrors::new();
        errors.add("body", message);
        (status, axum::Json(ValidationErrorBody { errors })).into_response()
    } else {
        let error = ApiError {
            code: code(status),
            message,
            request_id: super::request_ctx().request_id,
            field: None,
            other: None,
        };
        (status, axum::Json(ApiErrorBody { error })).into_response()
    };
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

fn code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}
