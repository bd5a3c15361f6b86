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
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, PageCtx, Routes};

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
        .route("/availability/{lo_id}/status", &["POST"], post(set_status))
        .route("/leads/reassign", &["GET", "POST"], get(bulk_page).post(bulk_submit))
        .route("/leads/reassign/jobs/{id}", &["GET"], get(bulk_job_page))
        .route("/leads/{id}/reassign", &["GET", "POST"], get(reassign_page).post(reassign_submit))
        .route("/api/v1/leads/{id}/assign", &["POST"], post(api_assign))
        .route("/api/v1/leads/{id}/routing", &["GET"], get(api_routing))
}

fn pairs_get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}
fn pairs_all(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
}

// ---- The lead JSON and the API -----------------------------------------------------------------------------

/// The lead as the API shows it after an assignment.
pub async fn lead_json(db: &sqlx::PgPool, id: Uuid) -> AppResult<serde_json::Value> {
    let r = sqlx::query!(
        r#"SELECT l.id, l.first_name, l.last_name, l.stage, l.version, l.property_state, l.team_id, l.assigned_at,
                  u.id AS "lo_id?", u.email AS "lo_email?", u.name AS "lo_name?"
           FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id WHERE l.id = $1"#,
        id
    )
    .fetch_one(db)
    .await?;
    let assigned_lo = match (r.lo_id, r.lo_email, r.lo_name) {
        (Some(id), Some(email), Some(name)) => json!({"id": id, "email": email, "name": name}),
        _ => serde_json::Value::Null,
    };
    Ok(json!({
        "id": r.id, "first_name": r.first_name, "last_name": r.last_name, "stage": r.stage, "version": r.version,
        "property_state": r.property_state, "team_id": r.team_id, "assigned_at": r.assigned_at,
        "assigned_lo": assigned_lo,
    }))
}

#[derive(Debug, Deserialize)]
pub struct AssignBody {
    pub lo_email: Option<String>,
    pub lo_id: Option<Uuid>,
    pub reason: Option<String>,
    pub version: Option<i32>,
}

async fn api_assign(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignBody>,
) -> AppResult<Response> {
    crate::leads::store::visible_lead(&state.db, &user, id).await?;
    let lo = match (body.lo_id, body.lo_email.as_deref().map(str::trim).filter(|s| !s.is_empty())) {
        (Some(lo), _) => lo,
        (None, Some(email)) => rstore::lo_by_email(&state.db, email)
            .await?
            .filter(|l| l.role == "lo")
            .map(|l| l.id)
            .ok_or_else(|| AppError::invalid("lo_email", "No loan officer has this email."))?,
        (None, None) => return Err(AppError::invalid("lo_email", "Give lo_email or lo_id.")),
    };
    reassign::reassign_one(&state, &user, id, Destination::Lo(lo), body.reason.as_deref().unwrap_or(""), body.version)
        .await?;
    Ok(Json(lead_json(&state.db, id).await?).into_response())
}

async fn api_routing(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Response> {
    crate::leads::store::visible_lead(&state.db, &user, id).await?;
    let decisions = rstore::decisions_for_lead(&state.db, id).await?;
    let history = rstore::history(&state.db, id).await?;
    let latest = decisions.first().cloned();
    Ok(Json(json!({ "lead_id": id, "decision": latest, "decisions": decisions, "history": history })).into_response())
}

// ---- Rules -------------------------------------------------------------------------------------------------

pub struct Choice {
    pub id: Uuid,
    pub label: String,
}

async fn teams_and_los(db: &sqlx::PgPool) -> AppResult<(Vec<Choice>, Vec<Choice>)> {
    let teams = sqlx::query!("SELECT id, name FROM teams ORDER BY name").fetch_all(db).await?;
    let los = sqlx::query!("SELECT id, name, email FROM users WHERE role = 'lo' AND active ORDER BY name")
        .fetch_all(db)
        .await?;
    Ok((
        teams.into_iter().map(|t| Choice { id: t.id, label: t.name }).collect(),
        los.into_iter().map(|l| Choice { id: l.id, label: format!("{} ({})", l.name, l.email) }).collect(),
    ))
}

pub struct RuleView {
    pub rule: RuleRow,
    pub target: String,
    pub filters: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/rules.html")]
struct RulesPage {
    ctx: PageCtx,
    rules: Vec<RuleView>,
    s: SettingsForm,
    errors: FieldErrors,
}

/// The speed-to-lead and cadence settings as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub default_sla_minutes: String,
    #[serde(default)]
    pub attempts: String,
    #[serde(default)]
    pub max_voicemails: String,
}

async fn current_settings(db: &sqlx::PgPool) -> AppResult<SettingsForm> {
    let cadence = super::model::Cadence::from_setting(rstore::setting(db, "routing.cadence").await?.as_ref());
    let sla = rstore::setting(db, "routing.default_sla_minutes").await?.and_then(|v| v.as_i64()).unwrap_or(5);
    Ok(SettingsForm {
        default_sla_minutes: sla.to_string(),
        attempts: super::model::format_windows(&cadence.attempts),
        max_voicemails: cadence.max_voicemails.to_string(),
    })
}

async fn render_rules(
    state: &AppState,
    ctx: PageCtx,
    s: Option<SettingsForm>,
    errors: FieldErrors,
) -> AppResult<Response> {
    let (teams, los) = teams_and_los(&state.db).await?;
    let rules = rstore::list_rules(&state.db)
        .await?
        .into_iter()
        .map(|rule| {
            let mut names: Vec<String> =
                teams.iter().filter(|t| rule.team_ids.contains(&t.id)).map(|t| format!("team {}", t.label)).collect();
            names.extend(los.iter().filter(|l| rule.lo_ids.contains(&l.id)).map(|l| l.label.clone()));
            let target = if names.is_empty() { "every LO".to_string() } else { names.join(", ") };
            let filters = describe_filters(&rule);
            RuleView { rule, target, filters }
        })
        .collect();
    let s = match s {
        Some(s) => s,
        None => current_settings(&state.db).await?,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, RulesPage { ctx, rules, s, errors }).into_response())
}

async fn settings_update(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<SettingsForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let sla = match f.default_sla_minutes.trim().parse::<i64>() {
        Ok(m) if (1..=10_080).contains(&m) => m,
        _ => {
            errors.add("default_sla_minutes", "Speed-to-lead limit is 1 to 10,080 minutes.");
            5
        }
    };
    let voicemails = f.max_voicemails.trim().parse::<i32>().unwrap_or(-1);
    let cadence = match super::model::parse_windows(&f.attempts) {
        Ok(attempts) => {
            let c = super::model::Cadence { attempts, max_voicemails: voicemails };
            if let Err(m) = c.validate() {
                errors.add(if voicemails < 0 { "max_voicemails" } else { "attempts" }, m);
            }
            c
        }
        Err(m) => {
            errors.add("attempts", m);
            super::model::Cadence::default()
        }
    };
    if voicemails < 0 && errors.get("max_voicemails").is_none() {
        errors.add("max_voicemails", "Enter 0 or more.");
    }
    if !errors.is_empty() {
        return render_rules(&state, ctx, Some(f), errors).await;
    }
    let before = current_settings(&state.db).await?;
    let mut tx = state.db.begin().await?;
    let value = serde_json::to_value(&cadence).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ('routing.cadence', $1), ('routing.default_sla_minutes', $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        value,
        json!(sla)
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "routing.settings", "settings", "routing")
        .before(json!({"attempts": before.attempts, "max_voicemails": before.max_voicemails, "default_sla_minutes": before.default_sla_minutes}))
        .after(json!({"cadence": value, "default_sla_minutes": sla}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Speed-to-lead and cadence settings saved.").await;
    Ok(Redirect::to("/routing/rules").into_response())
}

fn describe_filters(r: &RuleRow) -> String {
    let mut parts = Vec::new();
    let mut push = |label: &str, v: &[String]| {
        if !v.is_empty() {
            parts.push(format!("{label}: {}", v.join(", ")));
        }
    };
    push("source", &r.sources);
    push("campaign", &r.campaigns);
    push("state", &r.states);
    push("purpose", &r.purposes);
    push("credit", &r.credit_bands);
    push("ZIP", &r.zip_prefixes);
    if r.min_amount_cents.is_some() || r.max_amount_cents.is_some() {
        parts.push(format!(
            "amount: {} – {}",
            r.min_amount_cents.map(|c| format!("${}", c / 100)).unwrap_or_else(|| "any".into()),
            r.max_amount_cents.map(|c| format!("${}", c / 100)).unwrap_or_else(|| "any".into())
        ));
    }
    if parts.is_empty() { "every lead".into() } else { parts.join("; ") }
}

async fn rules_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    render_rules(&state, ctx, None, FieldErrors::new()).await
}

/// The rule form's values as typed, for re-rendering.
#[derive(Debug, Clone, Default)]
pub struct RuleForm {
    pub name: String,
    pub position: String,
    pub sources: String,
    pub campaigns: String,
    pub states: String,
    pub purposes: String,
    pub min_amount: String,
    pub max_amount: String,
    pub credit_bands: String,
    pub zip_prefixes: String,
    pub team_ids: Vec<String>,
    pub lo_ids: Vec<String>,
    pub method: String,
    pub claim_minutes: String,
    pub fallback_method: String,
    pub require_working_hours: bool,
    pub sla_minutes: String,
    pub sla_action: String,
    pub version: String,
}

impl RuleForm {
    fn from_pairs(p: &[(String, String)]) -> Self {
        RuleForm {
            name: pairs_get(p, "name").into(),
            position: pairs_get(p, "position").into(),
            sources: pairs_get(p, "sources").into(),
            campaigns: pairs_get(p, "campaigns").into(),
            states: pairs_get(p, "states").into(),
            purposes: pairs_get(p, "purposes").into(),
            min_amount: pairs_get(p, "min_amount").into(),
            max_amount: pairs_get(p, "max_amount").into(),
            credit_bands: pairs_get(p, "credit_bands").into(),
            zip_prefixes: pairs_get(p, "zip_prefixes").into(),
            team_ids: pairs_all(p, "team_ids"),
            lo_ids: pairs_all(p, "lo_ids"),
            method: pairs_get(p, "method").into(),
            claim_minutes: pairs_get(p, "claim_minutes").into(),
            fallback_method: pairs_get(p, "fallback_method").into(),
            require_working_hours: pairs_get(p, "require_working_hours") == "on",
            sla_minutes: pairs_get(p, "sla_minutes").into(),
            sla_action: pairs_get(p, "sla_action").into(),
            version: pairs_get(p, "version").into(),
        }
    }
    fn from_rule(r: &RuleRow) -> Self {
        RuleForm {
            name: r.name.clone(),
            position: r.position.to_string(),
            sources: r.sources.join(", "),
            campaigns: r.campaigns.join(", "),
            states: r.states.join(", "),
            purposes: r.purposes.join(", "),
            min_amount: r.min_amount_cents.map(|c| (c / 100).to_string()).unwrap_or_default(),
            max_amount: r.max_amount_cents.map(|c| (c / 100).to_string()).unwrap_or_default(),
            credit_bands: r.credit_bands.join(", "),
            zip_prefixes: r.zip_prefixes.join(", "),
            team_ids: r.team_ids.iter().map(Uuid::to_string).collect(),
            lo_ids: r.lo_ids.iter().map(Uuid::to_string).collect(),
            method: r.method.clone(),
            claim_minutes: r.claim_minutes.to_string(),
            fallback_method: r.fallback_method.clone(),
            require_working_hours: r.require_working_hours,
            sla_minutes: r.sla_minutes.to_string(),
            sla_action: r.sla_action.clone(),
            version: r.version.to_string(),
        }
    }
    fn blank() -> Self {
        RuleForm {
            method: "round_robin".into(),
            fallback_method: "round_robin".into(),
            claim_minutes: "10".into(),
            sla_minutes: "5".into(),
            sla_action: "reassign".into(),
            require_working_hours: true,
            ..Default::default()
        }
    }
    pub fn has_team(&self, id: &Uuid) -> bool {
        self.team_ids.contains(&id.to_string())
    }
    pub fn has_lo(&self, id: &Uuid) -> bool {
        self.lo_ids.contains(&id.to_string())
    }
}

fn parse_dollars(s: &str, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    let t = s.trim().replace([',', '$'], "");
    if t.is_empty() {
        return None;
    }
    match t.parse::<i64>() {
        Ok(v) if (0..=1_000_000_000).contains(&v) => Some(v * 100),
        _ => {
            errors.add(field, "Enter a whole dollar amount.");
            None
        }
    }
}

fn validate_rule(f: &RuleForm) -> Result<RuleInput, FieldErrors> {
    let mut e = FieldErrors::new();
    let name = f.name.trim().to_string();
    if name.is_empty() || name.len() > 120 {
        e.add("name", "Give the rule a name (up to 120 characters).");
    }
    let position = if f.position.trim().is_empty() {
        None
    } else {
        match f.position.trim().parse::<i32>() {
            Ok(p) if (1..=10_000).contains(&p) => Some(p),
            _ => {
                e.add("position", "Position is a number from 1.");
                None
            }
        }
    };
    let states = parse_list(&f.states, true);
    for s in &states {
        if !crate::leads::model::is_us_state(s) {
            e.add("states", format!("{s} is not a US state code."));
        }
    }
    let min = parse_dollars(&f.min_amount, "min_amount", &mut e);
    let max = parse_dollars(&f.max_amount, "max_amount", &mut e);
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            e.add("max_amount", "The maximum must be at least the minimum.");
        }
    }
    let mut ids = |v: &[String], field: &str| -> Vec<Uuid> {
        let mut out = Vec::new();
        for s in v {
            match Uuid::parse_str(s.trim()) {
                Ok(u) => out.push(u),
                Err(_) => e.add(field, "Choose from the list."),
            }
        }
        out
    };
    let team_ids = ids(&f.team_ids, "team_ids");
    let lo_ids = ids(&f.lo_ids, "lo_ids");
    let method = Method::parse(&f.method);
    if method.is_none() {
        e.add("method", "Choose a method.");
    }
    let fallback = Method::parse(&f.fallback_method).filter(|m| *m != Method::Claim);
    if fallback.is_none() {
        e.add("fallback_method", "Choose a fallback method (not claim).");
    }
    let claim_minutes = match f.claim_minutes.trim().parse::<i32>() {
        Ok(m) if (1..=1440).contains(&m) => m,
        _ => {
            e.add("claim_minutes", "Claim window is 1 to 1,440 minutes.");
            10
        }
    };
    let sla_minutes = match f.sla_minutes.trim().parse::<i32>() {
        Ok(m) if (1..=10_080).contains(&m) => m,
        _ => {
            e.add("sla_minutes", "Speed-to-lead limit is 1 to 10,080 minutes.");
            5
        }
    };
    if !matches!(f.sla_action.as_str(), "reassign" | "escalate") {
        e.add("sla_action", "Choose reassign or escalate.");
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok(RuleInput {
        name,
        position,
        sources: parse_list(&f.sources, false),
        campaigns: parse_list(&f.campaigns, false),
        states,
        purposes: parse_list(&f.purposes, false),
        min_amount_cents: min,
        max_amount_cents: max,
        credit_bands: parse_list(&f.credit_bands, false),
        zip_prefixes: parse_list(&f.zip_prefixes, false),
        team_ids,
        lo_ids,
        method: method.map(Method::as_str).unwrap_or("round_robin").into(),
        claim_minutes,
        fallback_method: fallback.map(Method::as_str).unwrap_or("round_robin").into(),
        require_working_hours: f.require_working_hours,
        sla_minutes,
        sla_action: f.sla_action.clone(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/rule_form.html")]
struct RuleFormPage {
    ctx: PageCtx,
    rule_id: Option<Uuid>,
    f: RuleForm,
    errors: FieldErrors,
    teams: Vec<Choice>,
    los: Vec<Choice>,
    methods: Vec<(&'static str, &'static str)>,
}

async fn render_rule_form(
    state: &AppState,
    ctx: PageCtx,
    rule_id: Option<Uuid>,
    f: RuleForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let (teams, los) = teams_and_los(&state.db).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let methods = Method::ALL.iter().map(|m| (m.as_str(), m.label())).collect();
    Ok((status, RuleFormPage { ctx, rule_id, f, errors, teams, los, methods }).into_response())
}

async fn rule_new(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    render_rule_form(&state, ctx, None, RuleForm::blank(), FieldErrors::new()).await
}

async fn rule_edit(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let rule = rstore::find_rule(&state.db, id).await?.ok_or(AppError::NotFound)?;
    render_rule_form(&state, ctx, Some(id), RuleForm::from_rule(&rule), FieldErrors::new()).await
}

async fn rule_create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let f = RuleForm::from_pairs(&pairs);
    let input = match validate_rule(&f) {
        Ok(i) => i,
        Err(errors) => return render_rule_form(&state, ctx, None, f, errors).await,
    };
    let id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    rstore::insert_rule(&mut tx, id, &input).await?;
    let after = rstore::find_rule(&mut *tx, id).await?;
    Entry::new(Some(&user), "routing_rule.create", "routing_rule", id).after(&after).write(&mut *tx).await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Rule \"{}\" created.", input.name)).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

async fn rule_update(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let f = RuleForm::from_pairs(&pairs);
    let input = match validate_rule(&f) {
        Ok(i) => i,
        Err(errors) => return render_rule_form(&state, ctx, Some(id), f, errors).await,
    };
    let version: i32 = f.version.trim().parse().map_err(|_| AppError::BadRequest("missing version".into()))?;
    let mut tx = state.db.begin().await?;
    let before = rstore::find_rule(&mut *tx, id).await?.ok_or(AppError::NotFound)?;
    let updated = rstore::update_rule(&mut tx, id, version, &input).await?;
    if !updated {
        return Err(AppError::conflict("Someone changed this rule since you opened it. Reload and try again."));
    }
    let after = rstore::find_rule(&mut *tx, id).await?;
    Entry::new(Some(&user), "routing_rule.update", "routing_rule", id)
        .before(&before)
        .after(&after)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Rule \"{}\" saved.", input.name)).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

#[derive(Deserialize)]
struct MoveForm {
    direction: String,
}

async fn rule_move(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<MoveForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    // Renumber active rules 1..n in their current order, then swap with the neighbour.
    let ids: Vec<Uuid> =
        sqlx::query_scalar!("SELECT id FROM routing_rules ORDER BY active DESC, position, created_at FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    let Some(i) = ids.iter().position(|x| *x == id) else { return Err(AppError::NotFound) };
    let j = match f.direction.as_str() {
        "up" if i > 0 => i - 1,
        "down" if i + 1 < ids.len() => i + 1,
        _ => i,
    };
    let mut order = ids.clone();
    order.swap(i, j);
    let positions: Vec<i32> = (1..=order.len() as i32).collect();
    sqlx::query!(
        "UPDATE routing_rules r SET position = t.pos, updated_at = now() FROM unnest($1::uuid[], $2::int[]) AS t(id, pos) WHERE r.id = t.id",
        &order,
        &positions
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "routing_rule.reorder", "routing_rule", id)
        .after(json!({"order": order}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/routing/rules").into_response())
}

async fn rule_toggle(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let active = sqlx::query_scalar!(
        "UPDATE routing_rules SET active = NOT active, version = version + 1, updated_at = now() WHERE id = $1 RETURNING active",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    Entry::new(
        Some(&user),
        if active { "routing_rule.activate" } else { "routing_rule.deactivate" },
        "routing_rule",
        id,
    )
    .after(json!({"active": active}))
    .write(&mut *tx)
    .await?;
    tx.commit().await?;
    Flash::push(&session, "success", if active { "Rule activated." } else { "Rule deactivated." }).await;
    Ok(Redirect::to("/routing/rules").into_response())
}

// ---- Routing log -------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct LogQuery {
    before: Option<i64>,
    outcome: Option<String>,
}

pub struct LogRow {
    pub d: DecisionRow,
    pub excluded: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/log.html")]
struct LogPage {
    ctx: PageCtx,
    rows: Vec<LogRow>,
    outcome: String,
    next: Option<i64>,
}

async fn log_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<LogQuery>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    let outcome = q.outcome.filter(|o| matches!(o.as_str(), "assigned" | "queued" | "offered"));
    let decisions = rstore::recent_decisions(&state.db, q.before, outcome.as_deref(), 101).await?;
    let next = if decisions.len() > 100 { decisions.get(99).map(|d| d.id) } else { None };
    let rows = decisions
        .into_iter()
        .take(100)
        .map(|d| {
            let excluded = candidate_views(&d.candidates)
                .into_iter()
                .filter(|c| !c.reasons.is_empty())
                .map(|c| format!("{}: {}", c.name, c.reasons.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            LogRow { d, excluded }
        })
        .collect();
    Ok(LogPage { ctx, rows, outcome: outcome.unwrap_or_default(), next })
}

// ---- Queue and claims -----------------------------------------------------------------------------------

pub struct QueueRow {
    pub id: Uuid,
    pub name: String,
    pub property_state: String,
    pub source: String,
    pub team: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub struct OfferRow {
    pub id: i64,
    pub lead_name: String,
    pub property_state: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/queue.html")]
struct QueuePage {
    ctx: PageCtx,
    leads: Vec<QueueRow>,
    offers: Vec<OfferRow>,
    los: Vec<Choice>,
    is_manager: bool,
}

async fn queue_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo])?;
    let now = state.clock.now();
    let offers = sqlx::query!(
        r#"SELECT o.id, l.first_name, l.last_name, l.property_state, o.expires_at FROM claim_offers o JOIN leads l ON l.id = o.lead_id
           WHERE o.resolution IS NULL AND o.expires_at > $2 AND $1 = ANY(o.lo_ids) ORDER BY o.expires_at LIMIT 100"#,
        user.id,
        now
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|o| OfferRow {
        id: o.id,
        lead_name: format!("{} {}", o.first_name, o.last_name),
        property_state: o.property_state.unwrap_or_default(),
        expires_at: o.expires_at,
    })
    .collect();
    let is_manager = user.is_manager_or_admin();
    let mut leads = Vec::new();
    let mut los = Vec::new();
    if is_manager {
        let (all, teams, queue) = user.scope().queue_binds();
        leads = sqlx::query!(
            r#"SELECT l.id, l.first_name, l.last_name, l.property_state, l.source, t.name AS "team?", l.created_at
               FROM leads l LEFT JOIN teams t ON t.id = l.team_id
               WHERE l.assigned_lo_id IS NULL
                 AND ($1 OR l.team_id = ANY($2) OR ($3 AND l.team_id IS NULL))
               ORDER BY l.created_at LIMIT 200"#,
            all,
            &teams,
            queue
        )
        .fetch_all(&state.db)
        .await?
        .into_iter()
        .map(|r| QueueRow {
            id: r.id,
            name: format!("{} {}", r.first_name, r.last_name),
            property_state: r.property_state.unwrap_or_default(),
            source: r.source,
            team: r.team.unwrap_or_else(|| "Unassigned queue".into()),
            created_at: r.created_at,
        })
        .collect();
        los = assignable_los(&state.db, &user).await?;
    }
    Ok(QueuePage { ctx, leads, offers, los, is_manager })
}

async fn claim_offer(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    user.require(&[Role::Lo])?;
    let lead = super::speed_to_lead::claim(&state, &user, id).await?;
    Flash::push(&session, "success", "The lead is yours. Call now.").await;
    Ok(Redirect::to(&format!("/leads/{lead}")).into_response())
}

/// LOs this user may assign to: all active LOs (admins) or those in the teams they manage.
async fn assignable_los(db: &sqlx::PgPool, user: &CurrentUser) -> AppResult<Vec<Choice>> {
    let (all, lo, teams) = user.scope().roster_binds();
    let rows = sqlx::query!(
        "SELECT u.id, u.name, u.email FROM users u WHERE u.role = 'lo' AND u.active
           AND ($1 OR u.id = $2 OR u.team_id = ANY($3)) ORDER BY u.name",
        all,
        lo,
        &teams
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| Choice { id: r.id, label: format!("{} ({})", r.name, r.email) }).collect())
}

async fn assignable_teams(db: &sqlx::PgPool, user: &CurrentUser) -> AppResult<Vec<Choice>> {
    let (all, _, teams) = user.scope().roster_binds();
    let rows = sqlx::query!("SELECT id, name FROM teams WHERE $1 OR id = ANY($2) ORDER BY name", all, &teams)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| Choice { id: r.id, label: r.name }).collect())
}

// ---- Availability board -------------------------------------------------------------------------------------

pub use super::store::BoardRow;

impl BoardRow {
    pub fn compliance(&self) -> String {
        if self.cadence_due == 0 { "—".into() } else { format!("{}%", self.cadence_done * 100 / self.cadence_due) }
    }
    pub fn away_with_new(&self) -> bool {
        self.status != "available" && self.new_waiting > 0
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/availability.html")]
struct AvailabilityPage {
    ctx: PageCtx,
    rows: Vec<BoardRow>,
    queue_waiting: i64,
    now: chrono::DateTime<chrono::Utc>,
}

impl AvailabilityPage {
    fn any_away(&self) -> bool {
        self.rows.iter().any(BoardRow::away_with_new)
    }
    fn age(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        match t {
            None => "—".into(),
            Some(t) => {
                let m = (self.now - *t).num_minutes().max(0);
                if m < 60 {
                    format!("{m} min")
                } else if m < 2880 {
                    format!("{} h", m / 60)
                } else {
                    format!("{} days", m / 1440)
                }
            }
        }
    }
}

async fn availability_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin, Role::Manager])?;
    let now = state.clock.now();
    let rows = rstore::availability_board(&state.db, &user.scope(), now).await?;
    let queue_waiting = rstore::queue_waiting(&state.db, &user.scope()).await?;
    Ok(AvailabilityPage { ctx, rows, queue_waiting, now })
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

async fn set_status(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(lo_id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    if !matches!(f.status.as_str(), "available" | "away" | "offline") {
        return Err(AppError::invalid("status", "Choose available, away or offline."));
    }
    let lo = rstore::lo_by_id(&state.db, lo_id).await?.filter(|l| l.role == "lo").ok_or(AppError::NotFound)?;
    if !user.manages_team_of(lo.team_id) {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = sqlx::query_scalar!("SELECT status FROM lo_profiles WHERE user_id = $1 FOR UPDATE", lo_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!(
        "UPDATE lo_profiles SET status = $2, status_changed_at = $3, updated_at = $3 WHERE user_id = $1",
        lo_id,
        f.status,
        now
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(&user), "lo.status", "user", lo_id)
        .before(json!({"status": before}))
        .after(json!({"status": f.status}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{} is now {}.", lo.name, f.status)).await;
    Ok(Redirect::to("/availability").into_response())
}

// ---- Reassignment ------------------------------------------------------------------------------------------

fn parse_destination(s: &str) -> Option<Destination> {
    let (kind, id) = s.split_once(':')?;
    let id = Uuid::parse_str(id).ok()?;
    match kind {
        "lo" => Some(Destination::Lo(id)),
        "team" => Some(Destination::TeamQueue(id)),
        _ => None,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/reassign_one.html")]
struct ReassignOnePage {
    ctx: PageCtx,
    lead: crate::leads::store::LeadSummary,
    los: Vec<Choice>,
    teams: Vec<Choice>,
    to: String,
    reason: String,
    errors: FieldErrors,
    panel: String,
}

async fn reassign_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let lead = crate::leads::store::visible_lead(&state.db, &user, id).await?;
    user.require(&[Role::Admin, Role::Manager])?;
    let panel = super::lead_panel(&state, &user, id).await?;
    let los = assignable_los(&state.db, &user).await?;
    let teams = assignable_teams(&state.db, &user).await?;
    let page = ReassignOnePage {
        ctx,
        lead,
        los,
        teams,
        to: String::new(),
        reason: String::new(),
        errors: FieldErrors::new(),
        panel,
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
struct ReassignForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
    version: Option<i32>,
}

async fn reassign_submit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(f): Form<ReassignForm>,
) -> AppResult<Response> {
    let lead = crate::leads::store::visible_lead(&state.db, &user, id).await?;
    user.require(&[Role::Admin, Role::Manager])?;
    let result = match parse_destination(&f.to) {
        Some(dest) => reassign::reassign_one(&state, &user, id, dest, &f.reason, f.version).await,
        None => Err(AppError::invalid("to", "Choose an LO or a team queue.")),
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", "Lead reassigned.").await;
            Ok(Redirect::to(&format!("/leads/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let panel = super::lead_panel(&state, &user, id).await?;
            let los = assignable_los(&state.db, &user).await?;
            let teams = assignable_teams(&state.db, &user).await?;
            let page = ReassignOnePage { ctx, lead, los, teams, to: f.to, reason: f.reason, errors, panel };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// The bulk form's filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkFilter {
    #[serde(default)]
    pub from_lo: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub source: String,
    pub after: Option<Uuid>,
}

impl BulkFilter {
    fn from_pairs(p: &[(String, String)]) -> Self {
        BulkFilter {
            from_lo: pairs_get(p, "from_lo").into(),
            stage: pairs_get(p, "stage").into(),
            state: pairs_get(p, "state").into(),
            source: pairs_get(p, "source").into(),
            after: None,
        }
    }
    pub fn query_string(&self) -> String {
        format!(
            "from_lo={}&stage={}&state={}&source={}",
            crate::error::urlencode(&self.from_lo),
            crate::error::urlencode(&self.stage),
            crate::error::urlencode(&self.state),
            crate::error::urlencode(&self.source)
        )
    }
    /// Appends the filter and the user's scope to a query over `leads l`.
    fn push(&self, qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, user: &CurrentUser) {
        qb.push(" WHERE true");
        user.scope().push_lead_predicate(qb, "l");
        match self.from_lo.as_str() {
            "" => {}
            "none" => {
                qb.push(" AND l.assigned_lo_id IS NULL");
            }
            s => {
                if let Ok(id) = Uuid::parse_str(s) {
                    qb.push(" AND l.assigned_lo_id = ").push_bind(id);
                } else {
                    qb.push(" AND false");
                }
            }
        }
        if !self.stage.trim().is_empty() {
            qb.push(" AND l.stage = ").push_bind(self.stage.trim().to_string());
        }
        if !self.state.trim().is_empty() {
            qb.push(" AND l.property_state = ").push_bind(self.state.trim().to_uppercase());
        }
        if !self.source.trim().is_empty() {
            qb.push(" AND l.source = ").push_bind(self.source.trim().to_string());
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct BulkRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub stage: String,
    pub property_state: Option<String>,
    pub lo_name: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/bulk.html")]
struct BulkPage {
    ctx: PageCtx,
    f: BulkFilter,
    rows: Vec<BulkRow>,
    total: i64,
    next: Option<Uuid>,
    los: Vec<Choice>,
    teams: Vec<Choice>,
    to: String,
    reason: String,
    errors: FieldErrors,
}

async fn matching_count(db: &sqlx::PgPool, f: &BulkFilter, user: &CurrentUser) -> AppResult<i64> {
    let mut qb = sqlx::QueryBuilder::new("SELECT count(*) FROM leads l");
    f.push(&mut qb, user);
    Ok(qb.build_query_scalar::<i64>().fetch_one(db).await?)
}

async fn render_bulk(
    state: &AppState,
    ctx: PageCtx,
    user: &CurrentUser,
    f: BulkFilter,
    to: String,
    reason: String,
    errors: FieldErrors,
) -> AppResult<Response> {
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT l.id, l.first_name, l.last_name, l.stage, l.property_state, u.name AS lo_name FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id",
    );
    f.push(&mut qb, user);
    if let Some(after) = f.after {
        qb.push(" AND l.id > ").push_bind(after);
    }
    qb.push(" ORDER BY l.id LIMIT 101");
    let mut rows: Vec<BulkRow> = qb.build_query_as().fetch_all(&state.db).await?;
    let next = if rows.len() > 100 {
        rows.truncate(100);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let total = matching_count(&state.db, &f, user).await?;
    let los = assignable_los(&state.db, user).await?;
    let teams = assignable_teams(&state.db, user).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, BulkPage { ctx, f, rows, total, next, los, teams, to, reason, errors }).into_response())
}

async fn bulk_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(f): Query<BulkFilter>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    render_bulk(&state, ctx, &user, f, String::new(), String::new(), FieldErrors::new()).await
}

/// Above this many leads a bulk reassignment runs as a background job with a progress bar.
const BULK_INLINE_LIMIT: usize = 500;

async fn bulk_submit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    let f = BulkFilter::from_pairs(&pairs);
    let to = pairs_get(&pairs, "to").to_string();
    let reason = pairs_get(&pairs, "reason").to_string();
    let mut errors = FieldErrors::new();
    let dest = parse_destination(&to);
    if dest.is_none() {
        errors.add("to", "Choose an LO or a team queue.");
    }
    if reason.trim().is_empty() {
        errors.add("reason", "Give a reason for the reassignment.");
    }
    let ids: Vec<Uuid> = if pairs_get(&pairs, "select_all") == "on" {
        let mut qb = sqlx::QueryBuilder::new("SELECT l.id FROM leads l");
        f.push(&mut qb, &user);
        qb.build_query_scalar::<Uuid>().fetch_all(&state.db).await?
    } else {
        pairs_all(&pairs, "lead").iter().filter_map(|s| Uuid::parse_str(s).ok()).collect()
    };
    if ids.is_empty() {
        errors.add("leads", "Select at least one lead, or all matching leads.");
    }
    let Some(dest) = dest.filter(|_| errors.is_empty()) else {
        return render_bulk(&state, ctx, &user, f, to, reason, errors).await;
    };
    if ids.len() > BULK_INLINE_LIMIT {
        let payload =
            reassign::BulkPayload { actor_id: user.id, lead_ids: ids.clone(), dest, reason: reason.trim().into() };
        let mut tx = state.db.begin().await?;
        let job = crate::jobs::enqueue(
            &mut tx,
            "routing.bulk_reassign",
            serde_json::to_value(&payload).map_err(anyhow::Error::from)?,
            state.clock.now(),
            None,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("job not queued"))?;
        // All-or-nothing work is not retried half-way: one attempt, its result is final.
        sqlx::query!("UPDATE jobs SET max_attempts = 1, total = $2 WHERE id = $1", job, ids.len() as i64)
            .execute(&mut *tx)
            .await?;
        Entry::new(Some(&user), "lead.bulk_reassign_queued", "job", job)
            .after(json!({"leads": ids.len(), "dest": dest, "reason": reason.trim()}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
        Flash::push(&session, "info", format!("Reassigning {} leads in the background.", ids.len())).await;
        return Ok(Redirect::to(&format!("/leads/reassign/jobs/{job}")).into_response());
    }
    match reassign::reassign_many(&state, &user, &ids, dest, &reason, None).await {
        Ok(n) => {
            Flash::push(&session, "success", format!("{n} leads reassigned.")).await;
            Ok(Redirect::to(&format!("/leads/reassign?{}", f.query_string())).into_response())
        }
        Err(AppError::Validation(errors)) => render_bulk(&state, ctx, &user, f, to, reason, errors).await,
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/bulk_job.html")]
struct BulkJobPage {
    ctx: PageCtx,
    id: i64,
    status: String,
    progress: i64,
    total: i64,
    error: String,
}

async fn bulk_job_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    user.require(&[Role::Admin, Role::Manager])?;
    let job = sqlx::query!(
        "SELECT status, progress, total, last_error, payload->>'actor_id' AS actor FROM jobs WHERE id = $1 AND kind = 'routing.bulk_reassign'",
        id
    )
    .fetch_optional(&state.db)
    .await?
    .filter(|j| user.is_admin() || j.actor.as_deref() == Some(user.id.to_string().as_str()))
    .ok_or(AppError::NotFound)?;
    let page = BulkJobPage {
        ctx,
        id,
        status: job.status,
        progress: job.progress,
        total: job.total,
        error: job.last_error.unwrap_or_default(),
    };
    Ok(page.into_response())
}
