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
