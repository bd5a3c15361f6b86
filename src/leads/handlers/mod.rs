//! Pages of the LO workspace: my day, the lead list, the lead page with its one-step call log, the pipeline
//! board, tasks, CSV import and the manager's merge. Thin: extract, authorise, call the store, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, LeadDraft, StageDef};
use super::store::{self, ActivityInput, CreateOutcome, Lead, LeadFilter, Saved};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

mod boards;
mod consent;
mod lead_page;
mod workspace;

pub use boards::csv_attachment;
use boards::*;
use consent::*;
use lead_page::*;
use workspace::*;

pub fn router() -> Routes {
    Routes::new()
        .route("/my-day", &["GET"], get(my_day))
        .route("/leads", &["GET"], get(list))
        .route("/leads/export.csv", &["GET"], get(super::export::download))
        .route("/leads/new", &["GET", "POST"], get(new_form).post(create))
        .route(
            "/leads/import",
            &["GET", "POST"],
            get(super::import::page)
                .post(super::import::upload)
                // The upload is streamed to a file; the app-wide limit for uploads (50 × --body-limit) applies.
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/leads/import/report/{token}", &["GET"], get(super::import::report))
        .route("/leads/{id}", &["GET"], get(show))
        .route("/leads/{id}/edit", &["GET", "POST"], get(edit_form).post(edit))
        .route("/leads/{id}/stage", &["POST"], post(stage))
        .route("/leads/{id}/calls", &["POST"], post(log_call))
        .route("/leads/{id}/notes", &["POST"], post(add_note))
        .route("/leads/{id}/opt-outs", &["POST"], post(record_opt_out))
        .route("/admin/do-not-call", &["GET", "POST"], get(do_not_call).post(add_number))
        .route(
            "/admin/do-not-call/import",
            &["POST"],
            // A registry download runs to megabytes; the app-wide limit for uploads (50 × --body-limit) applies.
            post(import_national).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/leads/{id}/merge", &["GET", "POST"], get(merge_form).post(merge))
        .route("/pipeline", &["GET"], get(pipeline))
        .route("/tasks", &["GET"], get(tasks))
        .route("/tasks/{id}/done", &["POST"], post(task_done))
        .route("/admin/pipeline", &["GET"], get(pipeline_admin))
        .route("/admin/pipeline/stages/{key}", &["POST"], post(pipeline_stage_save))
        .route("/admin/pipeline/lost-reasons", &["POST"], post(lost_reason_save))
}

/// An `<option>` of a select.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts(list: &[(&str, &str)], current: &str, blank: &str) -> Vec<Opt> {
    let mut v = vec![Opt { value: String::new(), label: blank.into(), selected: current.is_empty() }];
    v.extend(list.iter().map(|(k, l)| Opt { value: k.to_string(), label: l.to_string(), selected: *k == current }));
    v
}

fn owned_opts(list: &[(String, String)], current: &str, blank: &str) -> Vec<Opt> {
    let pairs: Vec<(&str, &str)> = list.iter().map(|(k, l)| (k.as_str(), l.as_str())).collect();
    opts(&pairs, current, blank)
}

fn fmt_time(t: &DateTime<Utc>) -> String {
    crate::web::format::local_time(t)
}

fn money(c: &Option<i64>) -> String {
    c.map(model::format_money).unwrap_or_default()
}

fn age(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (now - *t).num_minutes();
    match m {
        ..=0 => "just now".into(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} days", m / 1440),
    }
}

/// The select lists of the lead form.
pub struct LeadFormOptions {
    pub purposes: Vec<Opt>,
    pub bands: Vec<Opt>,
    pub occupancies: Vec<Opt>,
    pub types: Vec<Opt>,
    /// The active referral partners (and the lead's own, should it be retired).
    pub partners: Vec<Opt>,
}

impl LeadFormOptions {
    async fn load(db: &sqlx::PgPool, d: &LeadDraft) -> sqlx::Result<Self> {
        let mut partners = crate::leads::partners::choices(db).await?;
        if !d.referral_partner_id.is_empty() && !partners.iter().any(|(id, _)| *id == d.referral_partner_id) {
            partners.push((d.referral_partner_id.clone(), "(retired partner)".into()));
        }
        Ok(LeadFormOptions {
            purposes: opts(&model::LOAN_PURPOSES, &d.loan_purpose, "—"),
            bands: opts(&model::CREDIT_BANDS, &d.credit_band, "—"),
            occupancies: opts(&model::OCCUPANCIES, &d.occupancy, "—"),
            types: opts(&model::PROPERTY_TYPES, &d.property_type, "—"),
            partners: owned_opts(&partners, &d.referral_partner_id, "— none —"),
        })
    }
}

/// Reads a lead form into a draft (and the version it was based on, for edits).
fn draft_from_form(pairs: &[(String, String)]) -> (LeadDraft, Option<i32>) {
    let mut d = LeadDraft::default();
    let mut version = None;
    for (k, v) in pairs {
        if k == "version" {
            version = v.trim().parse().ok();
        } else {
            d.set(k, v.clone());
        }
    }
    if d.consent.as_ref().is_some_and(|c| c.channel.as_deref().unwrap_or("").is_empty()) {
        d.consent = None;
    }
    (d, version)
}
