//! The compliance pages: the fair-lending form and the saved runs (a run's tables, the requests behind each
//! figure, its CSV export, printable for an examiner), and the HMDA demographics form on a lead, for the LO who
//! takes the application. Only compliance officers and admins open a run; each reading is audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::analysis::{Comparison, Grouping, Outcome, Request, Side};
use super::service::{self, Reading, RunInput};
use super::{model, store};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/compliance/fair-lending", &["GET", "POST"], get(index).post(create))
        .route("/compliance/fair-lending/runs/{id}", &["GET"], get(show))
        .route("/compliance/fair-lending/runs/{id}/requests", &["GET"], get(requests))
        .route("/compliance/fair-lending/runs/{id}/csv", &["GET"], get(csv))
        .route("/leads/{id}/demographics", &["GET", "POST"], get(demographics_form).post(save_demographics))
}

/// Formats a comparison's figure in its outcome's unit.
fn figure(outcome: Outcome, v: Option<f64>, signed: bool) -> String {
    let Some(v) = v else { return "—".into() };
    let sign = if signed && v > 0.0 { "+" } else { "" };
    match outcome {
        Outcome::GrantRate if signed => format!("{sign}{:.1} pts", v * 100.0),
        Outcome::GrantRate => format!("{:.1}%", v * 100.0),
        Outcome::AvgBps => format!("{sign}{v:.1} bps"),
        Outcome::AvgDollars => format!("{sign}${v:.0}"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "fair_lending/index.html")]
pub struct IndexPage {
    ctx: PageCtx,
    form: RunInput,
    errors: FieldErrors,
    groupings: [Grouping; 4],
    runs: Vec<store::RunLine>,
}

impl IndexPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
}

async fn index_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    form: Option<RunInput>,
    errors: FieldErrors,
) -> AppResult<IndexPage> {
    user.require(&service::ROLES)?;
    let today = state.today();
    let form = form.unwrap_or_else(|| RunInput {
        from: (today - chrono::Duration::days(365)).to_string(),
        to: today.to_string(),
        grouping: "overall".into(),
    });
    let runs = store::recent_runs(&state.db, 50).await?;
    Ok(IndexPage { ctx, form, errors, groupings: Grouping::ALL, runs })
}

async fn index(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    index_page(&state, &user, ctx, None, FieldErrors::new()).await
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<RunInput>,
) -> AppResult<Response> {
    match service::run(&state, &user, &form).await {
        Ok(id) => {
            Flash::push(&session, "success", "Analysis run and saved.").await;
            Ok(Redirect::to(&format!("/compliance/fair-lending/runs/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = index_page(&state, &user, ctx, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "fair_lending/run.html")]
pub struct RunPage {
    ctx: PageCtx,
    run: store::RunRow,
    comparisons: Vec<Comparison>,
    counts: serde_json::Value,
    provenance: String,
}

impl RunPage {
    fn grouping_label(&self) -> &'static str {
        Grouping::parse(&self.run.grouping).map_or("", Grouping::label)
    }
    fn flagged(&self) -> usize {
        self.comparisons.iter().filter(|c| c.flagged).count()
    }
    fn count(&self, key: &str) -> String {
        self.counts[key].as_i64().unwrap_or(0).to_string()
    }
    fn raw(&self, c: &Comparison, group: bool) -> String {
        figure(c.outcome, if group { c.raw_group } else { c.raw_reference }, false)
    }
    fn diff(&self, c: &Comparison) -> String {
        figure(c.outcome, c.difference, true)
    }
    fn ci(&self, c: &Comparison) -> String {
        match (c.ci_low, c.ci_high) {
            (Some(_), Some(_)) => {
                format!("{} to {}", figure(c.outcome, c.ci_low, true), figure(c.outcome, c.ci_high, true))
            }
            _ => "—".into(),
        }
    }
    fn p(&self, c: &Comparison) -> String {
        c.p_value.map_or_else(|| "—".into(), |p| if p < 0.0001 { "<0.0001".into() } else { format!("{p:.4}") })
    }
    fn n(&self, v: &f64) -> String {
        format!("{v:.1}")
    }
    fn href(&self, c: &Comparison, side: &Side) -> String {
        format!("/compliance/fair-lending/runs/{}/requests?scope={}&group={}", self.run.id, c.scope, side.key())
    }
}

async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let run = service::view(&state, &user, id, Reading::Page).await?;
    let (comparisons, _) = service::parts(&run);
    let counts = run.results["counts"].clone();
    let provenance = match &run.inputs["bisg_tables"] {
        serde_json::Value::Null => "The BISG tables were not loaded: no proxy was computed.".to_string(),
        p => format!(
            "{} ({} names) and {} ({} ZCTAs), loaded {}.",
            p["surname_table"].as_str().unwrap_or(""),
            p["surnames"],
            p["geography_table"].as_str().unwrap_or(""),
            p["zctas"],
            p["loaded_at"].as_str().unwrap_or("")
        ),
    };
    Ok(RunPage { ctx, run, comparisons, counts, provenance })
}

#[derive(Debug, Default, Deserialize)]
struct BehindQuery {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    group: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "fair_lending/requests.html")]
pub struct RequestsPage {
    ctx: PageCtx,
    run_id: Uuid,
    /// The group whose requests these are (None: every request of the scope).
    side: Option<Side>,
    scope_label: String,
    rows: Vec<Request>,
}

impl RequestsPage {
    fn weight(&self, r: &Request) -> String {
        self.side.map_or_else(|| "—".into(), |s| format!("{:.3}", s.weight(r)))
    }
    fn heading(&self) -> &'static str {
        self.side.map_or("Every request", Side::label)
    }
    fn source(&self, r: &Request) -> &'static str {
        match r.race_source {
            super::analysis::RaceSource::Hmda => "Reported (HMDA)",
            super::analysis::RaceSource::Bisg => "BISG proxy",
            super::analysis::RaceSource::Unknown => "None",
        }
    }
    fn dollars(&self, cents: &i64) -> String {
        format!("${}.{:02}", cents / 100, cents % 100)
    }
}

async fn requests(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<BehindQuery>,
) -> AppResult<impl IntoResponse> {
    let run = service::view(&state, &user, id, Reading::Requests).await?;
    let side = match q.group.as_str() {
        "" => None,
        g => Some(Side::parse(g).ok_or_else(|| AppError::invalid("group", "not a group of the analysis"))?),
    };
    let grouping = Grouping::parse(&run.grouping).unwrap_or(Grouping::Overall);
    let scope = if q.scope.is_empty() { "all".to_string() } else { q.scope };
    let (_, all) = service::parts(&run);
    let rows: Vec<Request> = match side {
        Some(side) => super::analysis::requests_behind(&all, grouping, &scope, side).into_iter().cloned().collect(),
        None => all.into_iter().filter(|r| scope == "all" || grouping.scope_of(r).0 == scope).collect(),
    };
    let scope_label = if scope == "all" {
        "All requests".into()
    } else {
        rows.first().map(|r| grouping.scope_of(r).1).unwrap_or_default()
    };
    Ok(RequestsPage { ctx, run_id: id, side, scope_label, rows })
}

/// The run as CSV: one line per comparison, text cells neutralised against spreadsheet formulas.
async fn csv(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Response> {
    let run = service::view(&state, &user, id, Reading::Csv).await?;
    let (comparisons, _) = service::parts(&run);
    let mut w = csv::Writer::from_writer(Vec::new());
    let text = |s: &str| crate::web::csv::safe_cell(s).into_owned();
    let num = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    let header = [
        "run_id",
        "method_version",
        "period_from",
        "period_to",
        "scope",
        "group",
        "reference",
        "outcome",
        "n_group_effective",
        "n_reference_effective",
        "requests",
        "cells",
        "raw_group",
        "raw_reference",
        "difference",
        "ci95_low",
        "ci95_high",
        "p_value",
        "flagged",
        "note",
    ];
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record(header).map_err(io)?;
    for c in &comparisons {
        w.write_record([
            run.id.to_string(),
            text(&run.method_version),
            run.period_from.to_string(),
            run.period_to.to_string(),
            text(&c.scope_label),
            c.group.key(),
            c.reference.key(),
            c.outcome.as_str().to_string(),
            format!("{:.2}", c.n_group),
            format!("{:.2}", c.n_reference),
            c.requests.to_string(),
            c.cells.to_string(),
            num(c.raw_group),
            num(c.raw_reference),
            num(c.difference),
            num(c.ci_low),
            num(c.ci_high),
            num(c.p_value),
            c.flagged.to_string(),
            text(&c.note),
        ])
        .map_err(io)?;
    }
    let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let name = format!("attachment; filename=\"fair-lending-{}.csv\"", run.id);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], body)
        .into_response())
}

/// The HMDA form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DemographicsForm {
    #[serde(default)]
    ethnicity: String,
    #[serde(default)]
    race: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    method: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "fair_lending/demographics.html")]
pub struct DemographicsPage {
    ctx: PageCtx,
    lead_id: Uuid,
    borrower: String,
    current: Option<store::Demographics>,
    form: DemographicsForm,
    errors: FieldErrors,
    ethnicities: [(&'static str, &'static str); 3],
    races: [(&'static str, &'static str); 7],
    sexes: [(&'static str, &'static str); 3],
    methods: [(&'static str, &'static str); 3],
}

impl DemographicsPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
    fn label(&self, which: &str, key: &str) -> &'static str {
        match which {
            "ethnicity" => model::label_of(&model::ETHNICITIES, key),
            "race" => model::label_of(&model::RACES, key),
            "sex" => model::label_of(&model::SEXES, key),
            _ => model::label_of(&model::METHODS, key),
        }
    }
}

/// Whoever takes the application: the lead's LO (in the lead scope), or an admin.
async fn application_taker(state: &AppState, user: &CurrentUser, lead: Uuid) -> AppResult<String> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    let l = crate::leads::store::visible_lead(&state.db, user, lead).await?;
    if !user.is_admin() && l.assigned_lo_id != Some(user.id) {
        return Err(AppError::forbidden("Only the loan officer taking the application records it."));
    }
    Ok(format!("{} {}", l.first_name, l.last_name))
}

async fn demographics_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    lead_id: Uuid,
    form: Option<DemographicsForm>,
    errors: FieldErrors,
) -> AppResult<DemographicsPage> {
    let borrower = application_taker(state, user, lead_id).await?;
    let current = store::demographics(&state.db, lead_id).await?;
    let form = form.unwrap_or_else(|| match &current {
        Some(c) => DemographicsForm {
            ethnicity: c.ethnicity.clone(),
            race: c.race.clone(),
            sex: c.sex.clone(),
            method: c.method.clone(),
        },
        None => DemographicsForm::default(),
    });
    Ok(DemographicsPage {
        ctx,
        lead_id,
        borrower,
        current,
        form,
        errors,
        ethnicities: model::ETHNICITIES,
        races: model::RACES,
        sexes: model::SEXES,
        methods: model::METHODS,
    })
}

async fn demographics_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    demographics_page(&state, &user, ctx, id, None, FieldErrors::new()).await
}

async fn save_demographics(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<DemographicsForm>,
) -> AppResult<Response> {
    application_taker(&state, &user, id).await?;
    let mut errors = FieldErrors::new();
    let choice = |errors: &mut FieldErrors, field: &str, v: &str, choices: &[(&str, &str)]| {
        if !choices.iter().any(|(k, _)| *k == v) {
            errors.add(field, "choose one (the applicant may decline)");
        }
    };
    choice(&mut errors, "ethnicity", &form.ethnicity, &model::ETHNICITIES);
    choice(&mut errors, "race", &form.race, &model::RACES);
    choice(&mut errors, "sex", &form.sex, &model::SEXES);
    choice(&mut errors, "method", &form.method, &model::METHODS);
    if !errors.is_empty() {
        let page = demographics_page(&state, &user, ctx, id, Some(form), errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let mut tx = state.db.begin().await?;
    let new = store::NewDemographics {
        lead: id,
        ethnicity: &form.ethnicity,
        race: &form.race,
        sex: &form.sex,
        method: &form.method,
        by: user.id,
        at: state.clock.now(),
    };
    let row = store::insert_demographics(&mut tx, &new).await?;
    // The audit names the record, not its content: demographics stay out of the general log.
    crate::audit::Entry::new(Some(&user), "fair_lending.demographics_recorded", "lead", id)
        .after(serde_json::json!({"row": row}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Demographic information recorded.").await;
    Ok(Redirect::to(&format!("/leads/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "fair_lending/lead_panel.html")]
struct LeadPanel {
    lead_id: Uuid,
    recorded: Option<String>,
}

/// The lead page's panel for whoever takes the application (the lead's LO; admins): whether the applicant's
/// HMDA information is recorded, and the link to record it. Nobody else is shown anything, not even that it
/// exists.
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    if !matches!(user.role, Role::Lo | Role::Manager | Role::Admin) {
        return Ok(String::new());
    }
    let row = sqlx::query!(
        r#"SELECT l.assigned_lo_id,
                  (SELECT d.collected_at FROM lead_demographics d WHERE d.lead_id = l.id ORDER BY d.id DESC LIMIT 1)
                      AS "recorded?"
           FROM leads l WHERE l.id = $1"#,
        lead_id
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(String::new()) };
    if !user.is_admin() && row.assigned_lo_id != Some(user.id) {
        return Ok(String::new());
    }
    let panel = LeadPanel { lead_id, recorded: row.recorded.as_ref().map(crate::web::format::local_time) };
    panel.render().map_err(|e| AppError::Internal(e.into()))
}
