//! Pages and API for routing: rules, the routing log, the availability board, the queue, reassignment.

use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::store::{DecisionRow, HistoryRow};

/// One candidate line of a stored decision.
#[derive(Debug, Clone, Deserialize)]
pub struct CandidateView {
    pub name: String,
    #[serde(default)]
    pub eligible: bool,
    #[serde(default)]
    pub chosen: bool,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default)]
    pub open_leads: i64,
    #[serde(default)]
    pub capacity: i64,
}

pub fn candidate_views(v: &serde_json::Value) -> Vec<CandidateView> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The routing panel on the lead page.
#[derive(Template)]
#[template(path = "routing/lead_panel.html")]
pub struct LeadPanel {
    pub lead_id: Uuid,
    pub latest: Option<DecisionRow>,
    pub candidates: Vec<CandidateView>,
    pub history: Vec<HistoryRow>,
    pub can_reassign: bool,
}

impl LeadPanel {
    pub fn new(history: Vec<HistoryRow>, decisions: Vec<DecisionRow>, can_reassign: bool, lead_id: Uuid) -> Self {
        let latest = decisions.into_iter().next();
        let candidates = latest.as_ref().map(|d| candidate_views(&d.candidates)).unwrap_or_default();
        Self { lead_id, latest, candidates, history, can_reassign }
    }
    fn why_heading(&self) -> String {
        match &self.latest {
            Some(d) => match &d.chosen_lo_name {
                Some(n) => format!("Why did this lead go to {n}?"),
                None if d.outcome == "offered" => "Why is this lead on offer?".into(),
                None => "Why is this lead waiting in a queue?".into(),
            },
            None => String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Routes

use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_sessions::Session;

use super::model::{Method, RuleInput, parse_list};
use super::reassign::{self, Destination};
use super::store::{self as rstore, RuleRow};
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

mod api;
pub use api::{AssignBody, AssignedLead, LeadRouting};
mod availability;
mod availability_cadence;
pub use availability_cadence::{CadenceItem, CadenceOfficer, CadenceParams, CadenceTasks};
mod availability_history;
mod queue;
mod reassign_pages;
mod rules;

use api::*;
use availability::*;
use availability_cadence::*;
use availability_history::*;
use queue::*;
use reassign_pages::*;
use rules::*;

pub fn router() -> Routes {
    Routes::new()
        .route("/routing/rules", &["GET", "POST"], get(rules_page).post(rule_create))
        .route("/routing/rules/new", &["GET"], get(rule_new))
        .route("/routing/rules/{id}", &["GET", "POST"], get(rule_edit).post(rule_update))
        .route("/routing/rules/{id}/move", &["POST"], post(rule_move))
        .route("/routing/rules/{id}/active", &["POST"], post(rule_toggle))
        .route("/routing/settings", &["POST"], post(settings_update))
        .route("/routing/log", &["GET"], get(log_page))
        .route("/routing/queue", &["GET"], get(queue_page))
        .route("/routing/offers/{id}/claim", &["POST"], post(claim_offer))
        .route("/availability", &["GET"], get(availability_page))
        .route("/availability/history", &["GET"], get(availability_history))
        .route("/availability/cadence", &["GET"], get(availability_cadence))
        .route("/api/v1/availability/cadence", &["GET"], get(availability_cadence::api_availability_cadence))
        .route("/availability/{lo_id}/status", &["POST"], post(set_status))
        .route("/leads/reassign", &["GET", "POST"], get(bulk_page).post(bulk_submit))
        .route("/leads/reassign/jobs/{id}", &["GET"], get(bulk_job_page))
        .route("/leads/{id}/reassign", &["GET", "POST"], get(reassign_page).post(reassign_submit))
        .route("/api/v1/leads/{id}/assign", &["POST"], post(api_assign))
        .route("/api/v1/leads/{id}/routing", &["GET"], get(api_routing))
}

pub(crate) fn pairs_get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}
pub(crate) fn pairs_all(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
}

// ---- The lead JSON and the API -----------------------------------------------------------------------------
