//! The figures behind the manager dashboard, the LO's own numbers and the metrics API: one path through the
//! definitions, rendered as HTML, CSV or JSON by the handlers.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{self, FunnelStep, Roi, Tally, WON_PATH};
use super::store::{self, Filters, GroupBy, Kind, Path};
use crate::auth::{CurrentUser, Role, Scope};
use crate::error::{AppError, AppResult, urlencode};
use crate::state::AppState;

/// URL parameters shared by the dashboard, its CSV exports and the API (whose contract documents them from
/// here: `GET /api/v1/metrics/*`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// First day, `YYYY-MM-DD` in the organisation's time zone (default: 30 days before `to`).
    pub from: Option<String>,
    /// The day after the last, `YYYY-MM-DD` (exclusive; default: tomorrow). At most ten years after `from`.
    pub to: Option<String>,
    /// A team's id.
    pub team: Option<String>,
    /// A loan officer's id.
    pub lo: Option<String>,
    /// A lead source key.
    pub source: Option<String>,
    /// A campaign key.
    pub campaign: Option<String>,
    /// The property's state (two letters).
    pub state: Option<String>,
    /// The loan purpose.
    pub purpose: Option<String>,
    /// The dashboard's table order (pages only).
    #[param(ignore)]
    pub sort: Option<String>,
    /// The funnel's rows: `team` (default), `lo` or `source`.
    pub group_by: Option<String>,
    /// `base`: compute from the base tables rather than the rollups (checking and benchmarking).
    pub figures: Option<String>,
    /// Which table a CSV export holds (pages only).
    #[param(ignore)]
    pub table: Option<String>,
}

/// Validated parameters.
#[derive(Debug, Clone)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub filters: Filters,
    pub path: Path,
    /// The `scope=` drill-down links carry: `figures` (the viewer's figures), or `own` (`/me/metrics`: the facts
    /// naming the viewer as LO, which for a producing manager are outside their figures' teams).
    pub link_scope: &'static str,
}

fn opt_text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty() && s.len() <= 100).map(str::to_string)
}

impl Params {
    /// Checks dates and ids; the default range is the last 30 days (to = tomorrow, exclusive).
    pub fn validate(&self, today: NaiveDate) -> AppResult<Range> {
        let mut errors = crate::error::FieldErrors::new();
        let date = |field: &str, v: &Option<String>, errors: &mut crate::error::FieldErrors| match opt_text(v) {
            None => None,
            Some(s) => match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.add(field, "Use a date like 2026-01-31.");
                    None
                }
            },
        };
        let uuid = |field: &str, v: &Option<String>, errors: &mut crate::error::FieldErrors| match opt_text(v) {
            None => None,
            Some(s) => match Uuid::parse_str(&s) {
                Ok(u) => Some(u),
                Err(_) => {
                    errors.add(field, "Unknown value.");
                    None
                }
            },
        };
        let to = date("to", &self.to, &mut errors).unwrap_or(today + chrono::Duration::days(1));
        let from = date("from", &self.from, &mut errors).unwrap_or(to - chrono::Duration::days(30));
        if from >= to {
            errors.add("from", "The start date must be before the end date.");
        }
        if (to - from).num_days() > 3660 {
            errors.add("from", "Choose a range of at most ten years.");
        }
        let team = uuid("team", &self.team, &mut errors);
        let lo = uuid("lo", &self.lo, &mut errors);
        errors.into_result()?;
        Ok(Range {
            from,
            to,
            filters: Filters {
                from: Some(from),
                to: Some(to),
                team,
                lo,
                // Source keys are lower case and states upper case, as the lead list reads them.
                source: opt_text(&self.source).map(|s| s.to_lowercase()),
                campaign: opt_text(&self.campaign),
                state: opt_text(&self.state).map(|s| s.to_uppercase()),
                purpose: opt_text(&self.purpose),
            },
            path: if self.figures.as_deref() == Some("base") { Path::Base } else { Path::Rollup },
            link_scope: "figures",
        })
    }
}

impl Range {
    /// The query string of these filters (for links that keep them).
    pub fn query(&self) -> String {
        let f = &self.filters;
        let mut q = format!("from={}&to={}", self.from, self.to);
        if let Some(t) = f.team {
            q.push_str(&format!("&team={t}"));
        }
        if let Some(l) = f.lo {
            q.push_str(&format!("&lo={l}"));
        }
        for (k, v) in [("source", &f.source), ("campaign", &f.campaign), ("state", &f.state), ("purpose", &f.purpose)] {
            if let Some(v) = v {
                q.push_str(&format!("&{k}={}", urlencode(v)));
            }
        }
        q
    }

    /// A link to the lead list behind a number of a cohort (created in the range, or with `cohort` in `extra`
    /// assigned or lost in it): the range, every filter and `extra` (which overrides), in the lead list's
    /// parameters, which mean what the figures mean by them.
    pub fn leads_link(&self, extra: &[(&str, String)]) -> String {
        self.link_with(true, extra)
    }

    /// A link to the lead list behind a number of today's pipeline (no cohort days: the filters and `extra`).
    pub fn leads_link_now(&self, extra: &[(&str, String)]) -> String {
        self.link_with(false, extra)
    }

    /// A link to the lead list behind a figure that no filter applies to (stale leads): only `extra`, within
    /// the figures' scope.
    pub fn unfiltered_link(&self, extra: &[(&str, String)]) -> String {
        self.finish(extra.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    /// Writes the link straight into one string (a dashboard builds over a thousand of them): the range's days
    /// (with `days`), every filter, then `extra` (whose keys replace the filters' and each other's), then the
    /// scope. The same text as collecting the pairs and joining them.
    fn link_with(&self, days: bool, extra: &[(&str, String)]) -> String {
        let f = &self.filters;
        let mut out = String::with_capacity(192);
        out.push_str("/leads?");
        // An extra replaces a filter of its name, and a later extra an earlier one.
        let replaced = |k: &str| extra.iter().any(|(ek, _)| *ek == k);
        let mut date = [0u8; 10];
        if days {
            for (k, d) in [("from", self.from), ("to", self.to)] {
                match iso_date(d, &mut date) {
                    _ if replaced(k) => {}
                    Some(text) => push_pair(&mut out, k, text),
                    None => push_pair(&mut out, k, &d.to_string()),
                }
            }
        }
        let mut id = uuid::Uuid::encode_buffer();
        for (k, v) in [("lo", f.lo), ("team", f.team)] {
            if let Some(v) = v.filter(|_| !replaced(k)) {
                push_pair(&mut out, k, v.hyphenated().encode_lower(&mut id));
            }
        }
        for (k, v) in [("source", &f.source), ("campaign", &f.campaign), ("state", &f.state), ("purpose", &f.purpose)] {
            if let Some(v) = v.as_deref().filter(|_| !replaced(k)) {
                push_pair(&mut out, k, v);
            }
        }
        for (i, (k, v)) in extra.iter().enumerate() {
            if !extra[i + 1..].iter().any(|(later, _)| later == k) {
                push_pair(&mut out, k, v);
            }
        }
        push_pair(&mut out, "scope", self.link_scope);
        out
    }

    /// Drill-down links add `scope=figures`: the list is bounded by the figure's scope over the fact it counts,
    /// not by the viewer's lead list (a manager's list also has their own leads and the organisation's queue,
    /// their figures only their teams; an LO's assignments count leads since handed to a colleague).
    fn finish(&self, pairs: Vec<(&str, String)>) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("/leads?");
        for (k, v) in &pairs {
            push_pair(&mut out, k, v);
        }
        push_pair(&mut out, "scope", self.link_scope);
        out
    }
}

/// Appends `k=v` (`v` URL-encoded as [`urlencode`] encodes it) to a link being written, after a `&` unless it is
/// the first pair.
fn push_pair(out: &mut String, k: &str, v: &str) {
    if !out.ends_with('?') {
        out.push('&');
    }
    out.push_str(k);
    out.push('=');
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

/// `d` as `YYYY-MM-DD`, as `NaiveDate`'s `Display` writes the years 0-9999 (others: None), without formatting
/// machinery.
fn iso_date(d: NaiveDate, buf: &mut [u8; 10]) -> Option<&str> {
    if !(0..=9999).contains(&d.year()) {
        return None;
    }
    let (y, m, day) = (d.year() as u32, d.month(), d.day());
    for (i, v) in [(0, y / 1000), (1, y / 100 % 10), (2, y / 10 % 10), (3, y % 10), (5, m / 10), (6, m % 10)]
        .into_iter()
        .chain([(8, day / 10), (9, day % 10)])
    {
        buf[i] = b'0' + v as u8;
    }
    buf[4] = b'-';
    buf[7] = b'-';
    std::str::from_utf8(buf).ok()
}

/// Chooses the base path when the rollups were computed in another time zone than the one configured.
async fn effective_path(state: &AppState, requested: Path) -> AppResult<Path> {
    if requested == Path::Base {
        return Ok(Path::Base);
    }
    let tz = store::rollup_timezone(&state.db).await?;
    Ok(if tz.as_deref() == Some(state.config.timezone.name()) { Path::Rollup } else { Path::Base })
}

/// One row of a grouped funnel (API and the per-LO table): a team, a loan officer or a source.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FunnelRow {
    pub key: String,
    pub label: String,
    /// The leads (or, by `lo`, the assignments) of the range.
    pub cohort: i64,
    /// By stage key: how many of the cohort reached it.
    #[schema(value_type = HashMap<String, i64>)]
    pub reached: HashMap<&'static str, i64>,
    /// By stage key: the conversion into it.
    #[schema(value_type = HashMap<String, Conversion>)]
    pub conversion: HashMap<&'static str, Conversion>,
}

/// A funnel step's conversion, percent (null without a denominator), with the cumulative rate's 95% interval.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = FunnelConversion)]
pub struct Conversion {
    pub step: Option<f64>,
    pub cumulative: Option<f64>,
    pub cumulative_low: Option<f64>,
    pub cumulative_high: Option<f64>,
}

fn funnel_row(key: String, label: String, t: &Tally) -> FunnelRow {
    let steps = t.funnel();
    FunnelRow {
        key,
        label,
        cohort: t.n,
        reached: steps.iter().map(|s| (s.stage, s.reached)).collect(),
        conversion: steps
            .iter()
            .map(|s| {
                (
                    s.stage,
                    Conversion {
                        step: s.step_rate,
                        cumulative: s.cumulative_rate,
                        cumulative_low: s.cumulative_interval.map(|i| i.0),
                        cumulative_high: s.cumulative_interval.map(|i| i.1),
                    },
                )
            })
            .collect(),
    }
}

async fn names_for(state: &AppState, ids: &[Uuid], teams: bool) -> AppResult<HashMap<Uuid, String>> {
    let rows = if teams { store::team_names(&state.db, ids).await? } else { store::user_names(&state.db, ids).await? };
    Ok(rows.into_iter().collect())
}

fn parse_ids(groups: &[store::Group], i: usize) -> Vec<Uuid> {
    groups.iter().filter_map(|g| g.key[i].as_deref().and_then(|s| Uuid::parse_str(s).ok())).collect()
}

/// The funnel grouped by team (team cohort), LO (per-LO assignment cohort) or source (team cohort).
pub async fn funnel_rows(state: &AppState, user: &CurrentUser, p: &Params) -> AppResult<Vec<FunnelRow>> {
    let scope = user.metrics_scope()?;
    let range = p.validate(state.today())?;
    let path = effective_path(state, range.path).await?;
    let tz = state.config.timezone;
    let (kind, group) = match p.group_by.as_deref().unwrap_or("team") {
        "team" => (Kind::Lead, GroupBy::Team),
        "lo" => (Kind::Assignment, GroupBy::Lo),
        "source" => (Kind::Lead, GroupBy::Source),
        _ => return Err(AppError::invalid("group_by", "Use team, lo or source.")),
    };
    // The funnel shows the cohort and the stages reached: only those sums are read.
    let read = store::Read { kind, filters: &range.filters, group: &[group], measures: store::FUNNEL, apart: false };
    let mut groups = store::read_many(&state.db, tz, path, &scope, &[read]).await?.pop().unwrap_or_default();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    let labels: HashMap<String, String> = match group {
        GroupBy::Source => store::sources(&state.db).await?.into_iter().map(|(k, l, _)| (k, l)).collect(),
        _ => names_for(state, &parse_ids(&groups, 0), group == GroupBy::Team)
            .await?
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    Ok(groups
        .into_iter()
        .filter(|g| g.tally.n != 0)
        .map(|g| {
            let key = g.key[0].clone().unwrap_or_default();
            let label = labels
                .get(&key)
                .cloned()
                .unwrap_or_else(|| if key.is_empty() { "(none)".to_string() } else { key.clone() });
            funnel_row(key, label, &g.tally)
        })
        .collect())
}

/// Speed-to-lead, contact and talk figures for one LO (or a whole cohort); rates are percents.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SpeedRow {
    pub key: String,
    pub label: String,
    pub assigned: i64,
    pub called: i64,
    /// Assignments reached by phone (the contact rate's numerator; attempts to contact average over them).
    pub contacted: i64,
    /// The median time to the first call, as shown ("4m", "—").
    pub median: String,
    pub p90: String,
    pub median_bucket_max_seconds: Option<i64>,
    pub p90_bucket_max_seconds: Option<i64>,
    pub within_5_min_pct: Option<f64>,
    pub contact_rate_pct: Option<f64>,
    pub attempts_before_contact: Option<f64>,
    pub never_called_twice_pct: Option<f64>,
    pub talk_seconds: i64,
    pub talk_per_lead_seconds: Option<i64>,
    pub talk_per_funded_seconds: Option<i64>,
    pub application_rate_pct: Option<f64>,
    /// 95% Wilson intervals of the contact and application rates (as on the team funnel), `[low, high]` percent.
    #[schema(value_type = Option<Vec<f64>>)]
    pub contact_interval: Option<(f64, f64)>,
    #[schema(value_type = Option<Vec<f64>>)]
    pub application_interval: Option<(f64, f64)>,
    pub funded: i64,
    /// Much talk, little conversion, against the other loan officers.
    pub flagged: bool,
}

fn bucket_max(b: Option<usize>) -> Option<i64> {
    b.and_then(|i| model::LATENCY_EDGES.get(i).copied())
}

fn speed_row(key: String, label: String, t: &Tally) -> SpeedRow {
    SpeedRow {
        key,
        label,
        assigned: t.n,
        called: t.called,
        contacted: t.contacted,
        median: model::latency_label(t.speed_median()),
        p90: model::latency_label(t.speed_p90()),
        median_bucket_max_seconds: bucket_max(t.speed_median()),
        p90_bucket_max_seconds: bucket_max(t.speed_p90()),
        within_5_min_pct: t.within_5_min_rate(),
        contact_rate_pct: t.contact_rate(),
        attempts_before_contact: t.attempts_before_contact(),
        never_called_twice_pct: t.never_called_twice_rate(),
        talk_seconds: t.talk_seconds,
        talk_per_lead_seconds: t.talk_per_lead(),
        talk_per_funded_seconds: t.talk_per_funded(),
        application_rate_pct: model::percent(t.applications(), t.n),
        contact_interval: model::wilson(t.contacted, t.n),
        application_interval: model::wilson(t.applications(), t.n),
        funded: t.funded(),
        flagged: false,
    }
}

fn flag_rows(rows: &mut [SpeedRow]) {
    let pairs: Vec<(Option<f64>, Option<f64>)> =
        rows.iter().map(|r| (r.talk_per_lead_seconds.map(|s| s as f64), r.application_rate_pct)).collect();
    for (r, f) in rows.iter_mut().zip(model::talk_time_flags(&pairs)) {
        r.flagged = f;
    }
}

/// Speed-to-lead per LO (assignment cohort) plus the total.
pub async fn speed_rows(state: &AppState, user: &CurrentUser, p: &Params) -> AppResult<(SpeedRow, Vec<SpeedRow>)> {
    let scope = user.metrics_scope()?;
    let range = p.validate(state.today())?;
    let path = effective_path(state, range.path).await?;
    let groups =
        store::tally(&state.db, state.config.timezone, path, Kind::Assignment, &range.filters, &scope, &[GroupBy::Lo])
            .await?;
    let names = names_for(state, &parse_ids(&groups, 0), false).await?;
    let mut total = Tally::default();
    let mut rows: Vec<SpeedRow> = groups
        .iter()
        .filter(|g| g.tally.n != 0)
        .map(|g| {
            total.add(&g.tally);
            let key = g.key[0].clone().unwrap_or_default();
            let label = Uuid::parse_str(&key).ok().and_then(|u| names.get(&u).cloned()).unwrap_or_else(|| key.clone());
            speed_row(key, label, &g.tally)
        })
        .collect();
    rows.sort_by(|a, b| a.label.cmp(&b.label));
    flag_rows(&mut rows);
    Ok((speed_row("all".into(), "All".into(), &total), rows))
}

/// Lost leads by reason and the furthest stage they had reached, and by LO.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LostRow {
    /// The reason's key (`unspecified` when none was given).
    pub reason: String,
    pub label: String,
    pub total: i64,
    /// Count by furthest won-path stage reached before the loss (index = won-path position - 1).
    pub by_stage: Vec<i64>,
    /// Count by LO id (the LO assigned when the lead was marked lost).
    pub by_lo: HashMap<String, i64>,
    /// The leads behind `total`.
    #[serde(skip)]
    pub link: String,
    /// The leads behind each of `by_stage` (`lost_from=`) and each of `by_lo` (`lo=`).
    #[serde(skip)]
    pub stage_links: Vec<String>,
    #[serde(skip)]
    pub lo_links: HashMap<String, String>,
}

pub async fn lost_rows(
    state: &AppState,
    user: &CurrentUser,
    p: &Params,
) -> AppResult<(Vec<LostRow>, HashMap<String, String>)> {
    let scope = user.metrics_scope()?;
    let range = p.validate(state.today())?;
    let path = effective_path(state, range.path).await?;
    lost_for(state, &scope, &range, path).await
}

async fn lost_for(
    state: &AppState,
    scope: &Scope,
    range: &Range,
    path: Path,
) -> AppResult<(Vec<LostRow>, HashMap<String, String>)> {
    // Only how many were lost: the count alone, not every measure; by reason × stage and by reason × LO.
    let read =
        store::Read { kind: Kind::Lost, filters: &range.filters, group: &LOST_BY, measures: store::COUNT, apart: true };
    let groups =
        store::read_many(&state.db, state.config.timezone, path, scope, &[read]).await?.pop().unwrap_or_default();
    let labels = store::labels(&state.db).await?;
    let lo_names = names_for(state, &parse_ids(&groups, 2), false).await?;
    Ok(lost_from(range, &groups, &labels, &lo_names))
}

/// The lost figures' grouping: reason, furthest stage reached, LO (read `apart`: reason × stage and reason × LO).
pub(crate) const LOST_BY: [GroupBy; 3] = [GroupBy::Detail, GroupBy::ReachedPos, GroupBy::Lo];

/// The lost rows from the losses counted by [`LOST_BY`] (each group by reason × stage, by reason × LO, or, read
/// together, by all three), with the reasons' labels and the LOs' names.
pub(crate) fn lost_from(
    range: &Range,
    groups: &[store::Group],
    labels: &store::Labels,
    lo_names: &HashMap<Uuid, String>,
) -> (Vec<LostRow>, HashMap<String, String>) {
    let mut rows: Vec<LostRow> = Vec::new();
    let mut by_reason: HashMap<&str, usize> = HashMap::new();
    for g in groups.iter().filter(|g| g.tally.n != 0) {
        let reason = g.key[0].as_deref().unwrap_or("unspecified");
        let (stage, lo) = (g.key[1].as_deref(), g.key[2].as_deref());
        let i = *by_reason.entry(reason).or_insert_with(|| {
            rows.push(lost_row(range, labels, reason));
            rows.len() - 1
        });
        let row = &mut rows[i];
        // A stage (or, read together, any) group counts toward the reason's total and its stage.
        if stage != Some(store::APART) {
            let pos: usize = stage.and_then(|s| s.parse().ok()).unwrap_or(1);
            row.total += g.tally.n;
            row.by_stage[pos.clamp(1, 8) - 1] += g.tally.n;
        }
        if lo == Some(store::APART) {
            continue;
        }
        let lo = lo.unwrap_or_default();
        if !lo.is_empty() && !row.lo_links.contains_key(lo) {
            let link = range.leads_link(&[
                ("cohort", "lost".into()),
                ("lost_reason", reason.to_string()),
                ("lo", lo.to_string()),
            ]);
            row.lo_links.insert(lo.to_string(), link);
        }
        *row.by_lo.entry(lo.to_string()).or_insert(0) += g.tally.n;
    }
    rows.sort_by(|a, b| b.total.cmp(&a.total).then(a.reason.cmp(&b.reason)));
    let lost_officers: std::collections::HashSet<&str> =
        groups.iter().filter_map(|g| g.key[2].as_deref()).filter(|k| *k != store::APART).collect();
    let names = lo_names
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .filter(|(k, _)| lost_officers.contains(k.as_str()))
        .collect();
    (rows, names)
}

/// A reason's lost row before its counts: its label and the lists behind its total and its stages.
fn lost_row(range: &Range, labels: &store::Labels, reason: &str) -> LostRow {
    let lost = |extra: Option<(&'static str, String)>| {
        let mut pairs = vec![("cohort", "lost".to_string()), ("lost_reason", reason.to_string())];
        pairs.extend(extra);
        range.leads_link(&pairs)
    };
    LostRow {
        label: labels.lost_reasons.get(reason).cloned().unwrap_or_else(|| reason.to_string()),
        reason: reason.to_string(),
        total: 0,
        by_stage: vec![0; 8],
        by_lo: HashMap::new(),
        link: lost(None),
        stage_links: model::WON_PATH.iter().map(|(stage, _)| lost(Some(("lost_from", stage.to_string())))).collect(),
        lo_links: HashMap::new(),
    }
}

impl LostRow {
    /// `by_lo` most lost first (then by LO id), as the page lists them: the same order on every request.
    pub fn by_lo_sorted(&self) -> Vec<(&str, i64)> {
        let mut v: Vec<(&str, i64)> = self.by_lo.iter().map(|(lo, n)| (lo.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

/// ROI of a source, or of one campaign under it: the `Roi` figures and which source (campaign) it is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoiRow {
    pub source: String,
    /// The campaign (campaign rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    pub label: String,
    #[serde(flatten)]
    pub roi: Roi,
    /// The lead lists behind leads, applications, funded and reached by phone (the contact rate's numerator).
    #[serde(skip)]
    pub links: [String; 4],
}

/// Source ROI and campaign ROI (see [`roi_for`]).
pub async fn roi_rows(state: &AppState, user: &CurrentUser, p: &Params) -> AppResult<(Vec<RoiRow>, Vec<RoiRow>)> {
    let scope = user.metrics_scope()?;
    let range = p.validate(state.today())?;
    let path = effective_path(state, range.path).await?;
    roi_for(state, &scope, &range, path).await
}

/// ROI by source and by campaign, from one tally by source and campaign. A row's spend is its leads' own
/// costs, the monthly spend entered for it (a source: every entry of the source, whole-source and per campaign,
/// or its monthly fee; a campaign: its own entries) prorated to the range, and a per-funded-loan source's price
/// for each funded loan. Leads without a campaign count in their source's row only.
pub(crate) async fn roi_for(
    state: &AppState,
    scope: &Scope,
    range: &Range,
    path: Path,
) -> AppResult<(Vec<RoiRow>, Vec<RoiRow>)> {
    let groups =
        store::tally(&state.db, state.config.timezone, path, Kind::Lead, &range.filters, scope, &ROI_BY).await?;
    let labels = store::labels(&state.db).await?;
    let monthly = monthly_spend_for(state, scope, range).await?;
    Ok(roi_from(range, &groups, &labels, monthly))
}

/// The ROI figures' grouping: source, campaign.
pub(crate) const ROI_BY: [GroupBy; 2] = [GroupBy::Source, GroupBy::Campaign];

/// Monthly spend is organisation-wide, by source and campaign: it is added only for those who see every
/// team, and only when no team, LO, state or purpose filter narrows the leads (a team's share is not
/// defined, so adding it all would overstate a team's cost).
pub(crate) async fn monthly_spend_for(
    state: &AppState,
    scope: &Scope,
    range: &Range,
) -> AppResult<Vec<(String, String, i64)>> {
    Ok(if scope.all && range.filters.spend_applies() {
        store::monthly_spend(&state.db, range.from, range.to).await?
    } else {
        Vec::new()
    })
}

/// The ROI rows from the leads tallied by [`ROI_BY`], the sources' labels and prices and the monthly spend.
pub(crate) fn roi_from(
    range: &Range,
    groups: &[store::Group],
    labels: &store::Labels,
    monthly: Vec<(String, String, i64)>,
) -> (Vec<RoiRow>, Vec<RoiRow>) {
    let mut source_spend: HashMap<String, i64> = HashMap::new();
    let mut campaign_spend: HashMap<(String, String), i64> = HashMap::new();
    for (source, campaign, cents) in monthly {
        *source_spend.entry(source.clone()).or_insert(0) += cents;
        if !campaign.is_empty() {
            *campaign_spend.entry((source, campaign)).or_insert(0) += cents;
        }
    }
    // A source paid per funded loan costs its price for each of the scope's funded loans.
    let per_funded = &labels.per_funded;
    let mut by_source: HashMap<String, Tally> = HashMap::new();
    let mut campaigns = Vec::new();
    for g in groups.iter().filter(|g| g.tally.n != 0) {
        let source = g.key[0].clone().unwrap_or_default();
        by_source.entry(source.clone()).or_default().add(&g.tally);
        if let Some(campaign) = g.key[1].clone() {
            let spend = g.tally.cost_cents
                + campaign_spend.get(&(source.clone(), campaign.clone())).copied().unwrap_or(0)
                + per_funded.get(&source).copied().unwrap_or(0) * g.tally.funded();
            let label = labels.sources.get(&source).cloned().unwrap_or_else(|| source.clone());
            let mut row = roi_row(range, source, Some(campaign.clone()), &g.tally, spend);
            row.label = format!("{label}: {campaign}");
            campaigns.push(row);
        }
    }
    let mut sources: Vec<RoiRow> = by_source
        .into_iter()
        .map(|(source, tally)| {
            let spend = tally.cost_cents
                + source_spend.get(&source).copied().unwrap_or(0)
                + per_funded.get(&source).copied().unwrap_or(0) * tally.funded();
            let mut row = roi_row(range, source.clone(), None, &tally, spend);
            row.label = labels.sources.get(&source).cloned().unwrap_or(source);
            row
        })
        .collect();
    for rows in [&mut sources, &mut campaigns] {
        rows.sort_by(|a, b| b.roi.leads.cmp(&a.roi.leads).then(a.label.cmp(&b.label)));
    }
    (sources, campaigns)
}

fn roi_row(range: &Range, source: String, campaign: Option<String>, tally: &Tally, spend: i64) -> RoiRow {
    let mut base = vec![("source", source.clone())];
    if let Some(c) = &campaign {
        base.push(("campaign", c.clone()));
    }
    let with = |stage: &str| {
        let mut pairs = base.clone();
        pairs.extend([("stage", stage.to_string()), ("reached", "1".to_string())]);
        range.leads_link(&pairs)
    };
    let contacted = {
        let mut pairs = base.clone();
        pairs.push(("contact", "1".to_string()));
        range.leads_link(&pairs)
    };
    RoiRow {
        links: [range.leads_link(&base), with("application"), with("funded"), contacted],
        label: source.clone(),
        roi: model::roi(tally, spend),
        source,
        campaign,
    }
}

mod page;

pub use page::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// The links as they were built before they were written into one string: the pairs collected, an extra
    /// replacing a pair of its name, each value URL-encoded, joined.
    fn collected(range: &Range, days: bool, extra: &[(&str, String)]) -> String {
        let f = &range.filters;
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if days {
            pairs.push(("from", range.from.to_string()));
            pairs.push(("to", range.to.to_string()));
        }
        pairs.extend(f.lo.map(|l| ("lo", l.to_string())));
        pairs.extend(f.team.map(|t| ("team", t.to_string())));
        for (k, v) in [("source", &f.source), ("campaign", &f.campaign), ("state", &f.state), ("purpose", &f.purpose)] {
            pairs.extend(v.clone().map(|v| (k, v)));
        }
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v.clone()));
        }
        pairs.push(("scope", range.link_scope.into()));
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
        format!("/leads?{}", q.join("&"))
    }

    #[test]
    fn lost_by_lo_lists_the_most_lost_first_whatever_the_map_order() {
        let mut row = lost_row(
            &Params::default().validate(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()).unwrap(),
            &store::Labels::default(),
            "rate",
        );
        row.by_lo =
            HashMap::from([("b".to_string(), 3), ("a".to_string(), 3), ("c".to_string(), 9), (String::new(), 1)]);
        assert_eq!(row.by_lo_sorted(), vec![("c", 9), ("a", 3), ("b", 3), ("", 1)]);
    }

    #[test]
    fn links_written_in_one_string_read_as_the_collected_pairs_did() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let params = Params {
            from: Some("2026-09-07".into()),
            to: Some("2026-12-06".into()),
            team: Some(Uuid::from_u128(7).to_string()),
            lo: Some(Uuid::from_u128(0xabc).to_string()),
            source: Some("Web Form".into()),
            campaign: Some("spring & summer/50%".into()),
            state: Some("tx".into()),
            purpose: Some("refinance".into()),
            ..Params::default()
        };
        let full = params.validate(day(2026, 12, 5)).unwrap();
        let bare = Params::default().validate(day(2026, 12, 5)).unwrap();
        let mut far = bare.clone();
        far.from = day(12026, 1, 1);
        let extras: Vec<Vec<(&str, String)>> = vec![
            vec![],
            vec![("cohort", "lost".into()), ("lost_reason", "rate shopping".into()), ("lo", "a,b".into())],
            vec![("from", "2026-11-29".into()), ("to", "2026-12-06".into()), ("stage", "funded".into())],
            vec![("source", "ünïcode".into()), ("source", "later wins".into()), ("reached", "1".into())],
        ];
        for range in [&full, &bare, &far] {
            for extra in &extras {
                assert_eq!(range.leads_link(extra), collected(range, true, extra), "{extra:?}");
                assert_eq!(range.leads_link_now(extra), collected(range, false, extra), "{extra:?}");
            }
        }
        assert_eq!(full.unfiltered_link(&[("stale", "1".into())]), format!("/leads?stale=1&scope={}", full.link_scope));
    }
}
