//! The one gate for text input: a NUL byte or invalid UTF-8 in any query string, form field or JSON string is
//! answered 422 naming the field, before any handler runs.
//!
//! Why here and not in each handler: PostgreSQL refuses NUL in `text` (so the insert would fail as a 500), and
//! the form and query extractors silently replace invalid UTF-8 with U+FFFD (so a borrower's record would be
//! stored garbled). Checking every request at the edge covers every route, including routes added later.
//! Multipart text fields are checked where they are read ([`text_field`]); CSV fields where every import reads
//! its rows (`imports::CsvRows`).

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::AppError;
use crate::state::AppState;

/// What the caller is told beside the field's name.
pub const PROBLEM: &str = "Contains a NUL byte or text that is not valid UTF-8.";

/// Middleware: refuses a request whose path, query string, urlencoded form or JSON body carries a NUL byte or
/// invalid UTF-8 in any field (422, the field named). Bodies are read up to the body limit (413 beyond it).
pub async fn refuse_bad_text(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !clean(&percent_decode(req.uri().path().as_bytes(), false)) {
        return refuse("path");
    }
    if let Some(field) = req.uri().query().and_then(|q| bad_urlencoded_field(q.as_bytes())) {
        return refuse(&field);
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_form = mime == "application/x-www-form-urlencoded";
    // API handlers read JSON whatever the content type says (some take the raw bytes), so every API body that
    // is not a form or an upload is checked as JSON.
    let is_api = req.uri().path().starts_with("/api/") && !mime.starts_with("multipart/");
    let is_json = mime == "application/json" || mime.ends_with("+json") || (is_api && !is_form);
    if !is_form && !is_json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.body_limit).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large.").into_response(),
    };
    let bad = if is_form { bad_urlencoded_field(&bytes) } else { bad_json_field(&bytes) };
    if let Some(field) = bad {
        return refuse(&field);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn refuse(field: &str) -> Response {
    AppError::invalid(field, PROBLEM).into_response()
}

/// A JSON object body read into `T`, where a field `T` does not know is a 422 naming it (never silently
/// dropped, as serde does by default) and a body that is not a JSON object is a 400. For API inputs whose
/// type is shared with a form (which carries fields such as the CSRF token the API does not).
pub fn strict_json<T: serde::de::DeserializeOwned>(body: &[u8], known: &[&str]) -> Result<T, AppError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("a JSON object: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(AppError::BadRequest("a JSON object".into()));
    };
    let mut errors = crate::error::FieldErrors::new();
    for name in fields.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.add(name, format!("is not a field here (known: {})", known.join(", ")));
    }
    errors.into_result()?;
    serde_json::from_value(value).map_err(|e| AppError::BadRequest(format!("a JSON object: {e}")))
}

/// A multipart text field, refused (422 naming it) when it carries a NUL byte or invalid UTF-8.
pub fn text_field(name: &str, bytes: &[u8]) -> Result<String, AppError> {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\0') => Ok(s.to_string()),
        _ => Err(AppError::invalid(name, PROBLEM)),
    }
}

fn clean(b: &[u8]) -> bool {
    !b.contains(&0) && std::str::from_utf8(b).is_ok()
}

/// The first field of urlencoded text (a query string or a form body) whose name or value decodes to a NUL
/// byte or invalid UTF-8, by its name.
pub fn bad_urlencoded_field(raw: &[u8]) -> Option<String> {
    raw.split(|b| *b == b'&').filter(|p| !p.is_empty()).find_map(|pair| {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let name = percent_decode(name, true);
        (!clean(&name) || !clean(&percent_decode(value, true))).then(|| printable(&String::from_utf8_lossy(&name)))
    })
}

/// `%XX` to its byte (and `+` to a space in form encoding); a malformed escape stays as it is.
fn percent_decode(raw: &[u8], plus_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// A field name as it can be shown: NULs made visible, at most 100 characters.
fn printable(name: &str) -> String {
    let shown: String = name.chars().map(|c| if c == '\0' { '\u{FFFD}' } else { c }).take(100).collect();
    if shown.is_empty() { "body".to_string() } else { shown }
}

/// The first string of a JSON body (by its path: `first_name`, `consent.text`, `rows[2]`) holding a NUL or
/// invalid UTF-8. Invalid UTF-8 and raw NUL bytes are read as `\u0000`, so they are found the same way; a body
/// that is not JSON even so is left to the handler's own refusal.
pub fn bad_json_field(raw: &[u8]) -> Option<String> {
    let text: Cow<str> = match std::str::from_utf8(raw) {
        Ok(s) if !s.contains('\0') => {
            if !s.contains("\\u0000") {
                return None;
            }
            Cow::Borrowed(s)
        }
        _ => {
            let mut out = String::with_capacity(raw.len() + 16);
            for chunk in raw.utf8_chunks() {
                out.push_str(&chunk.valid().replace('\0', "\\u0000"));
                if !chunk.invalid().is_empty() {
                    out.push_str("\\u0000");
                }
            }
            Cow::Owned(out)
        }
    };
    let value: Value = serde_json::from_str(&text).ok()?;
    nul_path(&value, "")
}

fn nul_path(v: &Value, path: &str) -> Option<String> {
    let shown = |p: &str| printable(p);
    match v {
        Value::String(s) if s.contains('\0') => Some(shown(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let here = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if k.contains('\0') { Some(shown(&here)) } else { nul_path(item, &here) }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_fields_with_nul_or_invalid_utf8_are_named() {
        assert_eq!(bad_urlencoded_field(b"email=a%40b.test&first_name=Da%00na"), Some("first_name".into()));
        assert_eq!(bad_urlencoded_field(b"q=%FF%FE&stage=new"), Some("q".into()));
        assert_eq!(bad_urlencoded_field(b"ok=1&last_name=Re\xffyes"), Some("last_name".into()));
        assert_eq!(bad_urlencoded_field(b"na%00me=x"), Some("na\u{FFFD}me".into()));
        assert_eq!(bad_urlencoded_field(b"q=caf%C3%A9+cr%C3%A8me&n=100%25&odd=%zz&"), None);
        assert_eq!(bad_urlencoded_field(b""), None);
        assert_eq!(bad_urlencoded_field(b"trailing=%"), None);
    }

    #[test]
    fn json_strings_with_nul_or_invalid_utf8_are_named_by_path() {
        assert_eq!(bad_json_field(br#"{"first_name":"Dana","email":"d\u0000@x.test"}"#), Some("email".into()));
        assert_eq!(bad_json_field(b"{\"consent\":{\"text\":\"I agree \xff\"}}"), Some("consent.text".into()));
        assert_eq!(bad_json_field(br#"{"rows":["a","b\u0000"]}"#), Some("rows[1]".into()));
        assert_eq!(bad_json_field(b"{\"note\":\"raw\x00nul\"}"), Some("note".into()));
        assert_eq!(bad_json_field(br#"{"first_name":"Ren\u00e9e","n":1}"#), None);
        assert_eq!(bad_json_field(b"not json \xff"), None, "left to the handler's own refusal");
    }

    #[test]
    fn multipart_text_fields_are_checked() {
        assert_eq!(text_field("note", "plain".as_bytes()).unwrap(), "plain");
        assert!(text_field("note", b"a\0b").is_err());
        assert!(text_field("note", b"\xc3\x28").is_err());
    }
}
