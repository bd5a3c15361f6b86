//! Static files (CSS), compiled into the binary so a copied or `cargo install`ed `loanfloor` serves its full
//! pages from any folder. rust-embed reads `static/` at compile time, in debug builds too (`debug-embed`), so
//! the tests prove what a release serves.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Assets;

/// `GET /static/{*file}`: the file with its content type and a strong ETag (its SHA-256), 304 when the
/// browser already has it. Caching headers are set by the router (`public, max-age=3600`).
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = Assets::get(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let etag = format!("\"{}\"", hex::encode(asset.metadata.sha256_hash()));
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut res = asset.data.into_owned().into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(asset.metadata.mimetype()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}
