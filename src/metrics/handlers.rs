//! Metrics pages, CSV exports and API: extract, authorise, call `dashboard`, render.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::api::{FunnelAnswer, LostAnswer, RoiAnswer, SpeedAnswer};
use super::cache::Snapshot;
use super::dashboard::{self, Dashboard, MyNumbers, Params};
use super::model::{self, WON_PATH, csv_cell};
use super::store::Path;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult};
use crate::leads::handlers::Opt;
use crate::routing::history;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "metrics/dashboard.html")]
pub struct DashboardPage {
    pub ctx: PageCtx,
    /// The figures (possibly reused from a few seconds ago: see `computed_at`).
    pub snapshot: Arc<Snapshot>,
    pub query: String,
    pub as_of: String,
    /// When the figures were computed, in the organisation's time zone.
    pub computed_at: String,
    /// How long computed figures are reused (0: never).
    pub cache_seconds: u64,
    pub base: bool,
    pub lost_stage_labels: Vec<&'static str>,
    /// The filters' choices, by name: the viewer's LOs, teams and the sources.
    pub officers: Vec<Opt>,
    pub teams: Vec<Opt>,
    pub sources: Vec<Opt>,
    /// Which LOs made themselves available over the range (hours, offers, claims, leads given).
    pub availability: Vec<AvailabilityRow>,
    /// A manager who also takes leads: their own production is on their own numbers, not in these figures.
    pub own_production: bool,
}

/// One LO's availability over the dashboard's range.
pub struct AvailabilityRow {
    pub name: String,
    /// Hours with status "available", in total and per week of the range (up to now).
    pub hours: String,
    pub hours_per_week: String,
    pub offers: i64,
    pub claimed: i64,
    pub assigned: i64,
    /// The records behind hours, offers and claimed: the LO's availability history over the range (routing's page).
    pub hours_link: String,
    pub offers_link: String,
    pub claimed_link: String,
    /// The leads given to them in the range within the viewer's figures (the lead list's assignment cohort with
    /// `scope=figures`; no other filter applies).
    pub assigned_link: String,
}

/// Every active LO's availability over the range, read once for the page: the rows of those the viewer's
/// metrics scope covers (the filters narrow them) and the LO filter's choices.
async fn availability_and_officers(
    state: &AppState,
    user: &CurrentUser,
    range: &dashboard::Range,
    given: &HashMap<String, i64>,
) -> AppResult<(Vec<AvailabilityRow>, Vec<Opt>)> {
    let scope = user.metrics_scope()?;
    let tz = state.config.timezone;
    let (from, to) = (super::store::day_start(tz, range.from), super::store::day_start(tz, range.to));
    let now = state.clock.now();
    let weeks = (to.min(now) - from).num_seconds().max(0) as f64 / (7.0 * 86_400.0);
    // The store reads only the LOs the scope's roster covers (the SQL form of `Scope::covers_officer`).
    let visible = super::store::availability(&state.db, &scope, from, to, now).await?;
    let officers = visible
        .iter()
        .map(|a| Opt { value: a.lo_id.to_string(), label: a.name.clone(), selected: range.filters.lo == Some(a.lo_id) })
        .collect();
    let rows = visible
        .into_iter()
        .filter(|a| range.filters.lo.is_none_or(|lo| lo == a.lo_id))
        .filter(|a| range.filters.team.is_none_or(|t| Some(t) == a.team_id))
        .map(|a| {
            let hours = a.available_seconds as f64 / 3600.0;
            AvailabilityRow {
                name: a.name,
                hours: history::hours(a.available_seconds as f64),
                hours_per_week: if weeks > 0.0 { format!("{:.1}", hours / weeks) } else { "—".into() },
                offers: a.offers,
                claimed: a.claimed,
                assigned: given.get(&a.lo_id.to_string()).copied().unwrap_or(0),
                hours_link: history::link(a.lo_id, range.from, range.to, None),
                offers_link: history::link(a.lo_id, range.from, range.to, None),
                claimed_link: history::link(a.lo_id, range.from, range.to, Some("claimed")),
                assigned_link: range.unfiltered_link(&[
                    ("from", range.from.to_string()),
                    ("to", range.to.to_string()),
                    ("lo", a.lo_id.to_string()),
                    ("cohort", "assigned".into()),
                ]),
            }
        })
        .collect();
    Ok((rows, officers))
}

/// The team and source filters' choices for this viewer, read in one statement: the teams their metrics
/// scope covers and every source, by name.
async fn team_and_source_choices(
    state: &AppState,
    user: &CurrentUser,
    filters: &super::store::Filters,
) -> AppResult<(Vec<Opt>, Vec<Opt>)> {
    let scope = user.metrics_scope()?;
    let (mut teams, mut sources) = (Vec::new(), Vec::new());
    for c in super::store::filter_choices(&state.db).await? {
        match c.kind.as_str() {
            "team" if scope.covers_team(c.team_id) => {
                let selected = filters.team.is_some_and(|id| id.to_string() == c.value);
                teams.push(Opt { value: c.value, label: c.label, selected })
            }
            "source" => {
                let selected = filters.source.as_deref() == Some(c.value.as_str());
                sources.push(Opt { value: c.value, label: c.label, selected })
            }
            _ => {}
        }
    }
    Ok((teams, sources))
}

impl DashboardPage {
    fn pct(&self, v: &Option<f64>) -> String {
        crate::web::format::percent(*v)
    }
    fn hiring_min(&self) -> i64 {
        super::dashboard::HIRING_MIN_LEADS
    }
    fn interval(&self, v: &Option<(f64, f64)>) -> String {
        v.map(|(a, b)| format!("{a:.1}–{b:.1}%")).unwrap_or_else(|| "—".into())
    }
    fn secs(&self, v: &Option<i64>) -> String {
        v.map(|s| format!("{}:{:02}", s / 60, s % 60)).unwrap_or_else(|| "—".into())
    }
    fn money(&self, v: &i64) -> String {
        model::dollars(*v)
    }
    fn money_opt(&self, v: &Option<i64>) -> String {
        v.map(model::dollars).unwrap_or_else(|| "—".into())
    }
    fn lo_name(&self, id: &str) -> String {
        self.snapshot.dashboard.lost_lo_names.get(id).cloned().unwrap_or_else(|| "(unassigned)".into())
    }
    fn sort_link(&self, key: &str) -> String {
        format!("/dashboard?{}&sort={key}", self.query)
    }
}

fn as_of_text(state: &AppState, d: &Dashboard) -> String {
    match (d.path, d.as_of) {
        (Path::Base, _) => "computed now from the base tables".into(),
        (Path::Rollup, at) => {
            let folded = at
                .map(|t| t.with_timezone(&state.config.timezone).format("%Y-%m-%d %H:%M %Z").to_string())
                .unwrap_or_else(|| "never".into());
            format!("live: rollups last folded {folded}, plus {} newer fact change(s) added at read time", d.pending)
        }
    }
}

/// `?refresh=1` recomputes a dashboard kept in the short-lived cache.
#[derive(Debug, Default, Deserialize)]
pub struct Refresh {
    pub refresh: Option<String>,
}

pub async fn dashboard_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(mut p): Query<Params>,
    Query(r): Query<Refresh>,
) -> AppResult<DashboardPage> {
    // Who may see it and whether the filters are valid are checked on every request, cached or not.
    user.require(&[Role::Admin, Role::Manager, Role::Marketing])?;
    p.validate(state.today())?;
    p.table = None;
    let base = p.figures.as_deref() == Some("base");
    let refresh = base || r.refresh.as_deref().is_some_and(|v| !v.is_empty() && v != "0");
    let snapshot = super::cache::dashboards(&state)
        .get_or_compute(user.id, &p, refresh, async {
            let computed_at = state.clock.now();
            let dashboard = dashboard::dashboard(&state, &user, &p).await?;
            let retention = crate::portfolio::retention_summary(&state, &user).await?;
            // The range's last day is the day before `to` (leads created before it).
            let last = dashboard.range.to.pred_opt().unwrap_or(dashboard.range.to);
            let locks = crate::locks::desk::pull_through_by_month(&state, &user, dashboard.range.from, last).await?;
            let departments = if user.is_manager_or_admin() {
                // The dashboard's range and team, like its other sections.
                let scope = crate::departments::service::FigureScope {
                    from: Some(dashboard.range.from),
                    to: Some(dashboard.range.to),
                    team: dashboard.range.filters.team,
                };
                crate::departments::service::figures(&state, &user, &scope).await?
            } else {
                vec![]
            };
            Ok(Snapshot { dashboard, retention, locks, departments, computed_at })
        })
        .await?;
    let d = &snapshot.dashboard;
    let mut query = d.range.query();
    if d.path == Path::Base {
        query.push_str("&figures=base");
    }
    let (teams, sources) = team_and_source_choices(&state, &user, &d.range.filters).await?;
    let (availability, officers) = availability_and_officers(&state, &user, &d.range, &d.given).await?;
    Ok(DashboardPage {
        own_production: user.role == Role::Manager && user.originator,
        availability,
        officers,
        teams,
        sources,
        as_of: as_of_text(&state, d),
        computed_at: snapshot.computed_at.with_timezone(&state.config.timezone).format("%H:%M:%S").to_string(),
        cache_seconds: state.config.dashboard_cache.as_secs(),
        base: d.path == Path::Base,
        ctx,
        query,
        lost_stage_labels: WON_PATH.iter().map(|(_, l)| *l).collect(),
        snapshot,
    })
}

fn csv_response(name: &str, header_row: &[&str], rows: Vec<Vec<String>>) -> AppResult<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header_row).map_err(anyhow::Error::from)?;
    for r in rows {
        w.write_record(r.iter().map(|c| csv_cell(c))).map_err(anyhow::Error::from)?;
    }
    let body = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response())
}

fn o<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// CSV of any dashboard table: `?table=funnel|officers|lost|roi|campaign_roi|pipeline|capacity|bands|wow` plus the
/// filters.
pub async fn export(user: CurrentUser, State(state): State<AppState>, Query(p): Query<Params>) -> AppResult<Response> {
    let d = dashboard::dashboard(&state, &user, &p).await?;
    let table = p.table.clone().unwrap_or_else(|| "funnel".into());
    let name = format!("{table}-{}-{}", d.range.from, d.range.to);
    match table.as_str() {
        "funnel" => csv_response(
            &name,
            &[
                "stage",
                "reached",
                "step_conversion_pct",
                "cumulative_conversion_pct",
                "cumulative_low_pct",
                "cumulative_high_pct",
            ],
            d.funnel
                .iter()
                .map(|s| {
                    vec![
                        s.label.to_string(),
                        s.reached.to_string(),
                        o(s.step_rate),
                        o(s.cumulative_rate),
                        o(s.cumulative_interval.map(|i| i.0)),
                        o(s.cumulative_interval.map(|i| i.1)),
                    ]
                })
                .collect(),
        ),
        "officers" => csv_response(
            &name,
            &[
                "loan_officer",
                "assigned",
                "contact_rate_pct",
                "contact_low_pct",
                "contact_high_pct",
                "application_rate_pct",
                "application_low_pct",
                "application_high_pct",
                "funded",
                "speed_to_lead_median",
                "speed_to_lead_p90",
                "within_5_min_pct",
                "attempts_before_contact",
                "never_called_twice_pct",
                "talk_seconds",
                "talk_per_lead_seconds",
                "talk_per_funded_seconds",
                "flag_talks_more_converts_less",
            ],
            d.officers
                .iter()
                .map(|r| {
                    let s = &r.speed;
                    vec![
                        s.label.clone(),
                        s.assigned.to_string(),
                        o(s.contact_rate_pct),
                        o(s.contact_interval.map(|i| i.0)),
                        o(s.contact_interval.map(|i| i.1)),
                        o(s.application_rate_pct),
                        o(s.application_interval.map(|i| i.0)),
                        o(s.application_interval.map(|i| i.1)),
                        s.funded.to_string(),
                        s.median.clone(),
                        s.p90.clone(),
                        o(s.within_5_min_pct),
                        o(s.attempts_before_contact),
                        o(s.never_called_twice_pct),
                        s.talk_seconds.to_string(),
                        o(s.talk_per_lead_seconds),
                        o(s.talk_per_funded_seconds),
                        s.flagged.to_string(),
                    ]
                })
                .collect(),
        ),
        "lost" => {
            let mut header: Vec<&str> = vec!["reason", "total"];
            header.extend(WON_PATH.iter().map(|(k, _)| *k));
            csv_response(
                &name,
                &header,
                d.lost
                    .iter()
                    .map(|r| {
                        let mut row = vec![r.label.clone(), r.total.to_string()];
                        row.extend(r.by_stage.iter().map(|n| n.to_string()));
                        row
                    })
                    .collect(),
            )
        }
        "roi" | "campaign_roi" => {
            let campaigns = table == "campaign_roi";
            let mut header = vec!["source"];
            if campaigns {
                header.push("campaign");
            }
            header.extend([
                "spend_cents",
                "leads",
                "contact_rate_pct",
                "applications",
                "funded",
                "funded_volume_cents",
                "cost_per_funded_cents",
                "pull_through_pct",
                "cost_per_lead_cents",
                "cost_per_contact_cents",
                "cost_per_application_cents",
                "cost_per_funded_volume_bps",
            ]);
            let rows = if campaigns { &d.campaign_roi } else { &d.roi };
            csv_response(
                &name,
                &header,
                rows.iter()
                    .map(|r| {
                        let mut row = vec![if campaigns { r.source.clone() } else { r.label.clone() }];
                        row.extend(r.campaign.clone());
                        row.extend([
                            r.roi.spend_cents.to_string(),
                            r.roi.leads.to_string(),
                            o(r.roi.contact_rate),
                            r.roi.applications.to_string(),
                            r.roi.funded.to_string(),
                            r.roi.funded_volume_cents.to_string(),
                            o(r.roi.cost_per_funded_cents),
                            o(r.roi.pull_through),
                            o(r.roi.cost_per_lead_cents),
                            o(r.roi.cost_per_contact_cents),
                            o(r.roi.cost_per_application_cents),
                            o(r.roi.cost_per_funded_volume_bps),
                        ]);
                        row
                    })
                    .collect(),
            )
        }
        "pipeline" => csv_response(
            &name,
            &["stage", "open_leads", "volume_cents"],
            d.pipeline
                .iter()
                .map(|r| vec![r.label.to_string(), r.count.to_string(), r.volume_cents.to_string()])
                .collect(),
        ),
        "capacity" => csv_response(
            &name,
            &[
                "loan_officer",
                "open_leads",
                "capacity",
                "utilisation_pct",
                "leads_per_month",
                "contact_rate_pct",
                "contact_target_pct",
                "cost",
                "funded_volume",
                "cost_per_funded_volume_bps",
            ],
            d.capacity
                .iter()
                .map(|r| {
                    vec![
                        r.lo.clone(),
                        r.open.to_string(),
                        r.capacity.to_string(),
                        o(r.utilisation_pct),
                        r.leads_per_month.to_string(),
                        o(r.contact_rate_pct),
                        r.contact_target_pct.to_string(),
                        r.cost.clone(),
                        r.funded_volume.clone(),
                        o(r.cost_per_funded_volume_bps),
                    ]
                })
                .collect(),
        ),
        "bands" => csv_response(
            &name,
            &["leads_per_lo_band", "officers", "assigned", "application_rate_pct", "funded_rate_pct"],
            d.bands
                .iter()
                .map(|b| {
                    vec![
                        b.band.to_string(),
                        b.officers.to_string(),
                        b.assigned.to_string(),
                        o(b.application_rate_pct),
                        o(b.funded_rate_pct),
                    ]
                })
                .collect(),
        ),
        "wow" => csv_response(
            &name,
            &["measure", "this_week", "last_week", "change"],
            d.wow
                .iter()
                .map(|w| vec![w.label.to_string(), w.this_week.clone(), w.last_week.clone(), w.change.clone()])
                .collect(),
        ),
        _ => Err(AppError::invalid("table", "Unknown table.")),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "metrics/me.html")]
pub struct MyNumbersPage {
    pub ctx: PageCtx,
    pub m: MyNumbers,
}

impl MyNumbersPage {
    fn pct(&self, v: &Option<f64>) -> String {
        crate::web::format::percent(*v)
    }
}

pub async fn my_numbers(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> AppResult<MyNumbersPage> {
    let m = dashboard::my_numbers(&state, &user, &p).await?;
    Ok(MyNumbersPage { ctx, m })
}

#[derive(Template, WebTemplate)]
#[template(path = "metrics/reports.html")]
pub struct ReportsPage {
    pub ctx: PageCtx,
}

pub async fn reports(user: CurrentUser, ctx: PageCtx) -> AppResult<ReportsPage> {
    user.require(&[Role::Admin, Role::Manager])?;
    Ok(ReportsPage { ctx })
}

pub async fn api_funnel(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> AppResult<Json<FunnelAnswer>> {
    let rows = dashboard::funnel_rows(&state, &user, &p).await?;
    let range = p.validate(state.today())?;
    Ok(Json(FunnelAnswer {
        from: range.from,
        to: range.to,
        group_by: p.group_by.as_deref().unwrap_or("team").to_string(),
        stages: WON_PATH.iter().map(|(k, _)| *k).collect(),
        rows,
    }))
}

pub async fn api_speed(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> AppResult<Json<SpeedAnswer>> {
    let (total, rows) = dashboard::speed_rows(&state, &user, &p).await?;
    let range = p.validate(state.today())?;
    Ok(Json(SpeedAnswer { from: range.from, to: range.to, total, rows }))
}

pub async fn api_lost(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> AppResult<Json<LostAnswer>> {
    let (rows, lo_names) = dashboard::lost_rows(&state, &user, &p).await?;
    let range = p.validate(state.today())?;
    Ok(Json(LostAnswer {
        from: range.from,
        to: range.to,
        stages: WON_PATH.iter().map(|(k, _)| *k).collect(),
        rows,
        lo_names,
    }))
}

pub async fn api_roi(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> AppResult<Json<RoiAnswer>> {
    let (rows, campaigns) = dashboard::roi_rows(&state, &user, &p).await?;
    let range = p.validate(state.today())?;
    Ok(Json(RoiAnswer { from: range.from, to: range.to, rows, campaigns }))
}
