//! Reading an uploaded file from a multipart form (CSV imports): the one place a form's file field is read.

use axum::body::Bytes;
use axum::extract::Multipart;

use crate::error::{AppError, AppResult};

/// The bytes of the form's field `name` (the last one, when sent twice), or None when the form has no such
/// field or it is empty. A body that is not a well-formed multipart form is a 400.
pub async fn file_field(multipart: &mut Multipart, name: &str) -> AppResult<Option<Bytes>> {
    let mut data = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| AppError::BadRequest(e.body_text()))? {
        if field.name() == Some(name) {
            data = Some(field.bytes().await.map_err(|e| AppError::BadRequest(e.body_text()))?);
        }
    }
    Ok(data.filter(|d| !d.is_empty()))
}
