//! Pages and API for escalations: extract, authorise, call the domain in `super`, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, ConcessionSummary, Kind, SegmentScreen, Status};
use super::store::{self, EscalationRow, EventRow, KindSetting, LoMetrics, UserLimit};
use super::{RequestInput, Upload};
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::leads::store::LeadSummary;
use crate::state::AppState;
use crate::web::{Flash, Routes};

mod api;
mod coaching;
mod forwarding;
mod reports;
mod requests;
mod settings;

pub use api::{ApiCreate, ApiDecision, ApiEscalation, EscalationDetail, EscalationList};
pub(crate) use requests::QueueQuery;

use api::*;
use coaching::*;
use forwarding::*;
use reports::*;
use requests::*;
use settings::*;

pub fn router() -> Routes {
    Routes::new()
        .route("/escalations", &["GET"], get(queue))
        .route(
            "/escalations/new",
            &["GET", "POST"],
            get(new_form).post(create).layer(DefaultBodyLimit::max(model::MAX_ATTACHMENT_BYTES + 256 * 1024)),
        )
        .route("/escalations/reports", &["GET"], get(reports))
        .route("/escalations/reports.csv", &["GET"], get(reports_csv))
        .route("/escalations/settings", &["GET"], get(settings))
        .route("/escalations/settings/limits", &["POST"], post(save_limits))
        .route("/escalations/settings/approvers", &["POST"], post(save_approver))
        .route("/escalations/settings/approvers/{user_id}/remove", &["POST"], post(remove_approver))
        .route("/escalations/settings/kinds", &["POST"], post(save_kinds))
        .route("/escalations/settings/fair-lending", &["POST"], post(save_fair_lending))
        .route("/escalations/{id}", &["GET"], get(detail))
        .route("/escalations/{id}/decision", &["POST"], post(decide_form))
        .route("/escalations/{id}/comment", &["POST"], post(comment_form))
        .route("/escalations/{id}/review", &["POST"], post(review_form))
        .route("/escalations/{id}/close", &["POST"], post(close_form))
        .route("/escalations/{id}/forward", &["POST"], post(forward_form))
        .route("/escalations/{id}/attachments/{attachment_id}", &["GET"], get(attachment))
        .route("/coaching", &["GET", "POST"], get(coaching).post(open_coaching))
        .route("/coaching/lo/{lo_id}", &["GET"], get(coaching_lo))
        .route("/api/v1/escalations", &["GET", "POST"], get(api_list).post(api_create))
        .route("/api/v1/escalations/{id}", &["GET"], get(api_show))
        .route("/api/v1/escalations/{id}/decision", &["POST"], post(api_decide))
}
