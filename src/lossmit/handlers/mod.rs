//! Loss-mitigation pages: the specialist's queue, the supervisor's deadline board, the case page with its
//! forms, printable letters, the case export and the reports. Thin: extract, authorise, call the store,
//! render.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use tower_sessions::Session;
use uuid::Uuid;

use super::api::{CaseJson, next_digest};
use super::clocks::{self, ClockStatus, Deadline, ForeclosureStep};
use super::model::{
    self, ContactChannel, Document, Hardship, LossMitOption, NoticeKind, Resolution, Stage, parse_money,
};
use super::options::{format_bps, format_cents, ratios};
use super::requests;
use super::store::{self, Assessment, CaseRow, DecisionRow, RecordLine, Specialist};
use super::workout::{self, OptionCard, Scenario};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::calendar::Calendar;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

mod board;
mod case;
mod forms;
mod forward;
mod new_case;
mod reports;

use board::*;
use case::*;
use forms::*;
use forward::*;
use new_case::*;
use reports::*;

pub use board::{CaseQueue, CaseQueueParams, QueueRow};
pub(crate) use board::{api_queue, board_page};
pub use forms::parse_evaluation;
pub use reports::spreadsheet_safe;

type Input = HashMap<String, String>;

pub fn router() -> Routes {
    Routes::new()
        .route("/lossmit", &["GET"], get(queue))
        .route("/lossmit/board", &["GET"], get(board))
        .route("/lossmit/reports", &["GET"], get(reports))
        .route("/lossmit/settings", &["POST"], post(set_calendar))
        .route("/lossmit/cases", &["POST"], post(create))
        .route("/lossmit/cases/new", &["GET"], get(new_case))
        .route("/lossmit/cases/{id}", &["GET"], get(show))
        .route("/lossmit/cases/{id}/contacts", &["POST"], post(add_contact))
        .route("/lossmit/cases/{id}/notices", &["POST"], post(add_notice))
        .route("/lossmit/cases/{id}/documents", &["POST"], post(add_document))
        .route("/lossmit/cases/{id}/application", &["POST"], post(add_application))
        .route("/lossmit/cases/{id}/assessment", &["POST"], post(add_assessment))
        .route("/lossmit/cases/{id}/decisions", &["POST"], post(add_decision))
        .route("/lossmit/cases/{id}/reinstatement", &["POST"], post(add_reinstatement))
        .route("/lossmit/cases/{id}/requests", &["POST"], post(add_request))
        .route("/lossmit/cases/{id}/requests/progress", &["POST"], post(add_request_progress))
        .route("/lossmit/cases/{id}/appeals", &["POST"], post(add_appeal))
        .route("/lossmit/cases/{id}/appeal-decision", &["POST"], post(add_appeal_decision))
        .route("/lossmit/cases/{id}/foreclosure-steps", &["POST"], post(add_foreclosure_step))
        .route("/lossmit/cases/{id}/stage", &["POST"], post(change_stage))
        .route("/lossmit/cases/{id}/sale-date", &["POST"], post(set_sale_date))
        .route("/lossmit/cases/{id}/reassign", &["POST"], post(reassign))
        .route("/lossmit/cases/{id}/forward", &["POST"], post(forward_case))
        .route("/lossmit/cases/{id}/export", &["GET"], get(export))
}

fn val<'a>(m: &'a Input, k: &str) -> &'a str {
    m.get(k).map(|s| s.trim()).unwrap_or("")
}

fn req_date(m: &Input, k: &str, e: &mut FieldErrors) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(val(m, k), "%Y-%m-%d") {
        Ok(d) if model::plausible_date(d) => Some(d),
        _ => {
            e.add(k, "Enter a date (YYYY-MM-DD).");
            None
        }
    }
}

fn opt_date(m: &Input, k: &str, e: &mut FieldErrors) -> Option<NaiveDate> {
    if val(m, k).is_empty() { None } else { req_date(m, k, e) }
}

fn req_money(m: &Input, k: &str, e: &mut FieldErrors) -> i64 {
    let v = val(m, k);
    if v.is_empty() {
        return 0;
    }
    parse_money(v).unwrap_or_else(|| {
        e.add(k, "Enter an amount in dollars, e.g. 1234.56.");
        0
    })
}
