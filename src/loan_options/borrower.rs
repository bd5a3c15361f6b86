//! The borrower's page `/o/{token}` (issue 21): no sign-in, the link's token is the authority. It shows the
//! options the LO chose and the LO's name, read-only, and nothing else of the lead; it works on a phone and
//! prints cleanly. A revoked or expired link is a 410, an unknown one a 404. Each opening is logged on the lead
//! and notifies the LO (`service::open_link`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::service::{self, Closed};
use super::view::{self, Comparison};
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new().public("/o/{token}", &["GET"], get(open))
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/borrower.html")]
pub struct BorrowerPage {
    lo_name: String,
    expires: String,
    table: Comparison,
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/borrower_closed.html")]
pub struct ClosedPage {
    message: &'static str,
}

async fn open(State(state): State<AppState>, Path(token): Path<String>) -> AppResult<Response> {
    let private = [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::HeaderName::from_static("x-robots-tag"), "noindex"),
    ];
    let (status, message) = match service::open_link(&state, &token).await? {
        Ok(v) => {
            let page = BorrowerPage {
                lo_name: v.lo_name,
                expires: crate::web::format::local_date(&v.expires_at),
                table: view::compare(&v.options),
            };
            return Ok((private, page).into_response());
        }
        Err(Closed::Unknown) => (StatusCode::NOT_FOUND, "This link is not valid. Ask your loan officer for a new one."),
        Err(Closed::Expired) => (StatusCode::GONE, "This link has expired. Ask your loan officer for a new one."),
        Err(Closed::Revoked) => {
            (StatusCode::GONE, "This link is no longer active. Ask your loan officer for a new one.")
        }
    };
    Ok((status, private, ClosedPage { message }).into_response())
}
