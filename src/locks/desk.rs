//! The lock desk (issue 20): the locks that lapse in the next days with "will it close in time?", what
//! extensions cost per LO, team and month, fall-out after lock, lock-to-close days and pull-through by lock
//! cohort; and the list of loans behind every figure (`/locks`). Reads only; every read goes through the one
//! lead scope, so a manager sees their teams' loans, an LO their own, an admin all.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::{self, Figures as _};
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new().route("/locks/desk", &["GET"], get(desk)).route("/locks", &["GET"], get(list))
}

/// Who works locks: the loan's LO, their managers, admins (each within the lead scope).
const ROLES: [Role; 3] = [Role::Lo, Role::Manager, Role::Admin];

/// How far ahead the board looks unless asked otherwise.
const BOARD_DAYS: i64 = 7;
/// The most rows a list shows (the figures above it count them all).
const LIST_LIMIT: i64 = 500;

/// A live lock on the board or in a list, with its loan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockLine {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub loan_number: Option<String>,
    pub borrower: String,
    pub stage_label: String,
    pub lo_name: Option<String>,
    pub investor: String,
    pub product: String,
    pub status: String,
    pub rate_milli: i32,
    pub price_bps: i32,
    pub loan_amount_cents: i64,
    pub locked_on: NaiveDate,
    pub last_day: NaiveDate,
    pub closing_on: Option<NaiveDate>,
    pub extended_days: i32,
    pub extension_cents: i64,
}

impl LockLine {
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        model::days_left(self.last_day, today)
    }
    pub fn closes_late(&self) -> bool {
        model::closes_late(self.last_day, self.closing_on)
    }
    pub fn days_to_closing(&self, today: NaiveDate) -> Option<i64> {
        self.closing_on.map(|c| (c - today).num_days())
    }
}

/// One group's extension cost (an LO, a team, a month).
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    pub key: String,
    /// The list's query string for this group's loans.
    pub filter: String,
    /// Locks extended (what the list behind the figure shows).
    pub loans: i64,
    pub extensions: i64,
    pub days: i64,
    pub cents: i64,
}

/// A locked loan of the cohort, as the fall-out and pull-through figures count it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedLoan {
    pub lead_id: Uuid,
    pub first_locked_on: NaiveDate,
    pub lo_id: Option<Uuid>,
    pub lo_name: Option<String>,
    pub source: String,
    pub outcome: String,
    pub lock_to_close_days: Option<i32>,
}

/// One group's cohort figures: locked loans, how many funded, fell out or are still pending, pull-through
/// (funded ÷ locked) and the median days from first lock to funding.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortRow {
    pub key: String,
    pub filter: String,
    pub locked: i64,
    pub funded: i64,
    pub fell_out: i64,
    pub pending: i64,
    pub median_lock_to_close: Option<i64>,
}

impl CohortRow {
    pub fn pull_through(&self) -> Option<f64> {
        (self.locked > 0).then(|| self.funded as f64 * 100.0 / self.locked as f64)
    }
    pub fn fall_out(&self) -> Option<f64> {
        (self.locked > 0).then(|| self.fell_out as f64 * 100.0 / self.locked as f64)
    }
}

/// Groups the cohort's loans by `key` (label, list filter), in the order the keys sort.
pub fn cohorts(loans: &[LockedLoan], key: impl Fn(&LockedLoan) -> (String, String)) -> Vec<CohortRow> {
    let mut groups: std::collections::BTreeMap<String, (String, Vec<&LockedLoan>)> = Default::default();
    for loan in loans {
        let (label, filter) = key(loan);
        groups.entry(label).or_insert_with(|| (filter, vec![])).1.push(loan);
    }
    groups
        .into_iter()
        .map(|(key, (filter, rows))| {
            let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count() as i64;
            let mut days: Vec<i64> = rows.iter().filter_map(|r| r.lock_to_close_days.map(i64::from)).collect();
            days.sort_unstable();
            // The lower median: a day count someone actually took.
            let median = (!days.is_empty()).then(|| days[(days.len() - 1) / 2]);
            CohortRow {
                key,
                filter,
                locked: rows.len() as i64,
                funded: count("funded"),
                fell_out: count("fell_out"),
                pending: count("pending"),
                median_lock_to_close: median,
            }
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct DeskQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    days: String,
}

/// A date field of a query string, or its default; a date that cannot be read is a 422 naming it.
fn date_field(errors: &mut FieldErrors, field: &str, raw: &str, default: NaiveDate) -> NaiveDate {
    match raw.trim() {
        "" => default,
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
            errors.add(field, "use a date like 2026-01-31");
            default
        }),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "locks/desk.html")]
pub struct DeskPage {
    ctx: PageCtx,
    today: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
    days: i64,
    expiring: Vec<LockLine>,
    cost_by_lo: Vec<CostRow>,
    cost_by_team: Vec<CostRow>,
    cost_by_month: Vec<CostRow>,
    cohort_total: Vec<CohortRow>,
    cohort_by_lo: Vec<CohortRow>,
    cohort_by_source: Vec<CohortRow>,
    cohort_by_month: Vec<CohortRow>,
}

impl model::Figures for DeskPage {}

impl DeskPage {
    fn pct(&self, v: Option<f64>) -> String {
        crate::web::format::percent(v)
    }
}

async fn desk(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<DeskQuery>,
) -> AppResult<impl IntoResponse> {
    user.require(&ROLES)?;
    let today = state.today();
    let mut errors = FieldErrors::new();
    let default_from = (today - chrono::Duration::days(180)).with_day(1).unwrap_or(today);
    let from = date_field(&mut errors, "from", &q.from, default_from);
    let to = date_field(&mut errors, "to", &q.to, today);
    if from > to {
        errors.add("from", "must be on or before to");
    }
    let days = match q.days.trim() {
        "" => BOARD_DAYS,
        s => s.parse::<i64>().ok().filter(|d| (0..=60).contains(d)).unwrap_or_else(|| {
            errors.add("days", "a number of days from 0 to 60");
            BOARD_DAYS
        }),
    };
    errors.into_result()?;
    let scope = user.scope();
    let filter = ListQuery { status: "locked".into(), expiring_within: days.to_string(), ..Default::default() };
    let expiring = lines(&state, &scope, &filter, today).await?;
    let costs = extension_costs(&state, &scope, from, to).await?;
    let range = format!("ext_from={from}&ext_to={to}");
    let cost = |key: fn(&CostFact) -> (String, String)| group_costs(&costs, key);
    let cost_by_lo = cost(|c| (c.lo_name.clone().unwrap_or_else(|| "Unassigned".into()), lo_filter(c.lo_id)));
    let cost_by_team = cost(|c| (c.team_name.clone().unwrap_or_else(|| "No team".into()), team_filter(c.team_id)));
    let cost_by_month = cost(|c| (c.month.clone(), format!("month={}", c.month)));
    let with_range = |rows: Vec<CostRow>| -> Vec<CostRow> {
        rows.into_iter().map(|r| CostRow { filter: format!("{range}&{}", r.filter), ..r }).collect()
    };
    let loans = locked_loans(&state, &scope, from, to).await?;
    let cohort_range = format!("from={from}&to={to}");
    let cohort = |key: fn(&LockedLoan) -> (String, String)| {
        cohorts(&loans, key)
            .into_iter()
            .map(|r| CohortRow { filter: format!("{cohort_range}&{}", r.filter), ..r })
            .collect::<Vec<_>>()
    };
    Ok(DeskPage {
        ctx,
        today,
        from,
        to,
        days,
        expiring,
        cost_by_lo: with_range(cost_by_lo),
        cost_by_team: with_range(cost_by_team),
        cost_by_month: cost_by_month
            .into_iter()
            .map(|r| {
                let month = r.key.clone();
                CostRow { filter: month_range("ext_from", "ext_to", &month, from, to), ..r }
            })
            .collect(),
        cohort_total: cohort(|_| ("All locked loans".into(), String::new())),
        cohort_by_lo: cohort(|l| (l.lo_name.clone().unwrap_or_else(|| "Unassigned".into()), lo_filter(l.lo_id))),
        cohort_by_source: cohort(|l| (l.source.clone(), format!("source={}", l.source))),
        cohort_by_month: by_month(&loans, from, to),
    })
}

/// The cohort figures per month of first lock, each opening the loans first locked that month.
fn by_month(loans: &[LockedLoan], from: NaiveDate, to: NaiveDate) -> Vec<CohortRow> {
    cohorts(loans, |l| (l.first_locked_on.format("%Y-%m").to_string(), String::new()))
        .into_iter()
        .map(|r| {
            let month = r.key.clone();
            CohortRow { filter: month_range("from", "to", &month, from, to), ..r }
        })
        .collect()
}

/// Pull-through by lock cohort (month of first lock) over the loans first locked from `from` to `to`, in
/// `user`'s lead scope: the dashboard's lock section, the same figures as the desk's.
pub async fn pull_through_by_month(
    state: &AppState,
    user: &CurrentUser,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<CohortRow>> {
    if user.require(&ROLES).is_err() {
        return Ok(vec![]);
    }
    let loans = locked_loans(state, &user.scope(), from, to).await?;
    Ok(by_month(&loans, from, to))
}

fn lo_filter(lo: Option<Uuid>) -> String {
    lo.map_or_else(|| "lo=none".into(), |id| format!("lo={id}"))
}

fn team_filter(team: Option<Uuid>) -> String {
    team.map_or_else(|| "team=none".into(), |id| format!("team={id}"))
}

/// `from_key=<first day>&to_key=<last day>` of `month` ("2026-03"), clipped to the page's range.
fn month_range(from_key: &str, to_key: &str, month: &str, from: NaiveDate, to: NaiveDate) -> String {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap_or(from);
    let last = first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(to);
    format!("{from_key}={}&{to_key}={}", first.max(from), last.min(to))
}

/// One extension, attributed to the LO and team of the loan when it was extended.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CostFact {
    pub lock_id: Uuid,
    pub lo_id: Option<Uuid>,
    pub lo_name: Option<String>,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub month: String,
    pub days: i32,
    pub cents: i64,
}

fn group_costs(facts: &[CostFact], key: impl Fn(&CostFact) -> (String, String)) -> Vec<CostRow> {
    type Group = (CostRow, std::collections::HashSet<Uuid>);
    let mut groups: std::collections::BTreeMap<String, Group> = Default::default();
    for f in facts {
        let (label, filter) = key(f);
        let (row, locks) = groups.entry(label.clone()).or_insert_with(|| {
            (CostRow { key: label, filter, loans: 0, extensions: 0, days: 0, cents: 0 }, Default::default())
        });
        locks.insert(f.lock_id);
        row.loans = locks.len() as i64;
        row.extensions += 1;
        row.days += i64::from(f.days);
        row.cents += f.cents;
    }
    groups.into_values().map(|(row, _)| row).collect()
}

/// The extensions made in the organisation's days `from..=to` on loans the scope sees.
async fn extension_costs(
    state: &AppState,
    scope: &crate::auth::Scope,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<CostFact>> {
    let tz = state.config.timezone;
    let (start, end) = (crate::state::day_start(tz, from), crate::state::day_start(tz, to + chrono::Duration::days(1)));
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT e.lock_id, e.lo_id, u.name AS lo_name, e.team_id, t.name AS team_name,
                to_char(e.created_at AT TIME ZONE ",
    );
    qb.push_bind(tz.name().to_string()).push(
        ", 'YYYY-MM') AS month, coalesce(e.days, 0) AS days, coalesce(e.cost_cents, 0) AS cents
         FROM rate_lock_events e
         JOIN rate_locks k ON k.id = e.lock_id
         JOIN leads l ON l.id = k.lead_id
         LEFT JOIN users u ON u.id = e.lo_id
         LEFT JOIN teams t ON t.id = e.team_id
         WHERE e.kind = 'extended' AND e.created_at >= ",
    );
    qb.push_bind(start).push(" AND e.created_at < ").push_bind(end);
    scope.push_lead_predicate(&mut qb, "l");
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}

/// The SQL that classifies each locked loan (the lead aliased `l`, its first lock day `f.first_locked_on`):
/// funded (its stage is the pipeline's won stage), fell out (lost or nurtured, or no live lock left), pending.
const OUTCOME_SQL: &str = "CASE WHEN s.kind = 'won' THEN 'funded'
         WHEN s.kind IN ('lost', 'nurture')
              OR NOT EXISTS (SELECT 1 FROM rate_locks x WHERE x.lead_id = l.id AND x.status = 'locked') THEN 'fell_out'
         ELSE 'pending' END";

/// The loans whose first lock falls in `from..=to`, in scope, with their outcome and days from first lock to
/// funding.
async fn locked_loans(
    state: &AppState,
    scope: &crate::auth::Scope,
    from: NaiveDate,
    to: NaiveDate,
) -> AppResult<Vec<LockedLoan>> {
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT l.id AS lead_id, f.first_locked_on, l.assigned_lo_id AS lo_id, u.name AS lo_name, l.source,
                {OUTCOME_SQL} AS outcome,
                CASE WHEN s.kind = 'won' THEN
                    ((SELECT min(c.created_at) FROM stage_changes c WHERE c.lead_id = l.id AND c.to_stage = l.stage)
                       AT TIME ZONE "
    ));
    qb.push_bind(state.config.timezone.name().to_string());
    qb.push(")::date - f.first_locked_on END AS lock_to_close_days");
    push_cohort_from(&mut qb, from, to);
    qb.push(" LEFT JOIN users u ON u.id = l.assigned_lo_id WHERE true");
    scope.push_lead_predicate(&mut qb, "l");
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}

/// ` FROM (<first lock day per loan, in range>) f JOIN leads l JOIN stages s`.
fn push_cohort_from(qb: &mut QueryBuilder<'_, Postgres>, from: NaiveDate, to: NaiveDate) {
    qb.push(
        " FROM (SELECT lead_id, min(locked_on) AS first_locked_on FROM rate_locks GROUP BY lead_id
                 HAVING min(locked_on) BETWEEN ",
    );
    qb.push_bind(from).push(" AND ").push_bind(to);
    qb.push(
        ") f JOIN leads l ON l.id = f.lead_id
           JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage",
    );
}

/// The filters of the loans list (every figure of the desk opens it with its own).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    /// `locked`, `expired`, `cancelled`, `closed` or empty (all).
    #[serde(default)]
    pub status: String,
    /// Live locks whose last day is at most this many days away.
    #[serde(default)]
    pub expiring_within: String,
    /// An LO's id, or `none` (unassigned).
    #[serde(default)]
    pub lo: String,
    /// A team's id, or `none`.
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub source: String,
    /// Loans whose first lock falls in this range (the cohort).
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// `funded`, `fell_out` or `pending` (within the cohort).
    #[serde(default)]
    pub outcome: String,
    /// Locks extended in this range (the LO and team filters then name who the cost is attributed to).
    #[serde(default)]
    pub ext_from: String,
    #[serde(default)]
    pub ext_to: String,
}

/// An id filter: a uuid, `none`, or empty (no filter); anything else is a 422 naming the field.
fn id_filter(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<Option<Uuid>> {
    match raw.trim() {
        "" => None,
        "none" => Some(None),
        s => match Uuid::parse_str(s) {
            Ok(id) => Some(Some(id)),
            Err(_) => {
                errors.add(field, "not a known id");
                None
            }
        },
    }
}

/// The locks the filters select, in scope, soonest last day first.
async fn lines(
    state: &AppState,
    scope: &crate::auth::Scope,
    q: &ListQuery,
    today: NaiveDate,
) -> AppResult<Vec<LockLine>> {
    let mut errors = FieldErrors::new();
    let status = match q.status.trim() {
        "" | "all" => None,
        s @ ("locked" | "expired" | "cancelled" | "closed") => Some(s.to_string()),
        _ => {
            errors.add("status", "one of locked, expired, cancelled, closed");
            None
        }
    };
    let within = match q.expiring_within.trim() {
        "" => None,
        s => s.parse::<i64>().ok().filter(|d| (0..=365).contains(d)).or_else(|| {
            errors.add("expiring_within", "a number of days from 0 to 365");
            None
        }),
    };
    let lo = id_filter(&mut errors, "lo", &q.lo);
    let team = id_filter(&mut errors, "team", &q.team);
    let cohort = (!q.from.trim().is_empty() || !q.to.trim().is_empty())
        .then(|| (date_field(&mut errors, "from", &q.from, today), date_field(&mut errors, "to", &q.to, today)));
    let extended = (!q.ext_from.trim().is_empty() || !q.ext_to.trim().is_empty()).then(|| {
        (date_field(&mut errors, "ext_from", &q.ext_from, today), date_field(&mut errors, "ext_to", &q.ext_to, today))
    });
    let outcome = match q.outcome.trim() {
        "" => None,
        s @ ("funded" | "fell_out" | "pending") if cohort.is_some() => Some(s.to_string()),
        _ => {
            errors.add("outcome", "funded, fell_out or pending, with a cohort (from and to)");
            None
        }
    };
    errors.into_result()?;
    let tz = state.config.timezone;
    let extended = extended.map(|(from, to)| {
        (crate::state::day_start(tz, from), crate::state::day_start(tz, to + chrono::Duration::days(1)))
    });
    // The extensions a line counts: all of the lock's, or (with a range) those in the range attributed to the
    // LO or team asked for, so the list adds up to the figure that opened it.
    let push_extensions = |qb: &mut QueryBuilder<'_, Postgres>| {
        qb.push("e.lock_id = k.id AND e.kind = 'extended'");
        if let Some((start, end)) = extended {
            qb.push(" AND e.created_at >= ").push_bind(start).push(" AND e.created_at < ").push_bind(end);
            push_owner_filter(qb, "e.lo_id", "e.team_id", lo, team);
        }
    };
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT k.id, k.lead_id, l.loan_number, trim(l.first_name || ' ' || l.last_name) AS borrower,
                s.label AS stage_label, u.name AS lo_name, i.name AS investor, k.product, k.status, k.rate_milli,
                k.base_price_bps + k.extension_bps AS price_bps, k.loan_amount_cents, k.locked_on, k.last_day,
                k.closing_on, k.extended_days,
                coalesce((SELECT sum(e.cost_cents) FROM rate_lock_events e WHERE ",
    );
    push_extensions(&mut qb);
    qb.push(
        "), 0)::bigint AS extension_cents
         FROM rate_locks k
         JOIN leads l ON l.id = k.lead_id
         JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
         JOIN lock_investors i ON i.id = k.investor_id
         LEFT JOIN users u ON u.id = l.assigned_lo_id
         WHERE true",
    );
    scope.push_lead_predicate(&mut qb, "l");
    if let Some(s) = status {
        qb.push(" AND k.status = ").push_bind(s);
    }
    if let Some(d) = within {
        qb.push(" AND k.status = 'locked' AND k.last_day <= ").push_bind(today + chrono::Duration::days(d));
    }
    if let Some(source) = Some(q.source.trim()).filter(|s| !s.is_empty()) {
        qb.push(" AND l.source = ").push_bind(source.to_string());
    }
    if extended.is_some() {
        // Locks extended in the range, by whom the cost is attributed to.
        qb.push(" AND EXISTS (SELECT 1 FROM rate_lock_events e WHERE ");
        push_extensions(&mut qb);
        qb.push(")");
    } else {
        push_owner_filter(&mut qb, "l.assigned_lo_id", "l.team_id", lo, team);
    }
    if let Some((from, to)) = cohort {
        // Loans whose first lock falls in the range: every lock of such a loan, the latest first.
        qb.push(" AND k.lead_id IN (SELECT f.lead_id");
        push_cohort_from(&mut qb, from, to);
        qb.push(" WHERE true");
        if let Some(o) = outcome {
            qb.push(format_args!(" AND ({OUTCOME_SQL}) = ")).push_bind(o);
        }
        qb.push(") AND NOT EXISTS (SELECT 1 FROM rate_locks later WHERE later.lead_id = k.lead_id AND later.created_at > k.created_at)");
    }
    qb.push(" ORDER BY k.last_day, k.id LIMIT ").push(LIST_LIMIT.to_string());
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}

fn push_owner_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    lo_col: &str,
    team_col: &str,
    lo: Option<Option<Uuid>>,
    team: Option<Option<Uuid>>,
) {
    match lo {
        Some(Some(id)) => {
            qb.push(format_args!(" AND {lo_col} = ")).push_bind(id);
        }
        Some(None) => {
            qb.push(format_args!(" AND {lo_col} IS NULL"));
        }
        None => {}
    }
    match team {
        Some(Some(id)) => {
            qb.push(format_args!(" AND {team_col} = ")).push_bind(id);
        }
        Some(None) => {
            qb.push(format_args!(" AND {team_col} IS NULL"));
        }
        None => {}
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "locks/list.html")]
pub struct ListPage {
    ctx: PageCtx,
    today: NaiveDate,
    rows: Vec<LockLine>,
    /// How many locks the filters select (the rows shown are the first `limit`).
    total: i64,
    limit: i64,
    total_cents: i64,
}

impl model::Figures for ListPage {}

impl ListPage {}

async fn list(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> AppResult<impl IntoResponse> {
    user.require(&ROLES)?;
    let today = state.today();
    let rows = lines(&state, &user.scope(), &q, today).await?;
    let total_cents = rows.iter().map(|r| r.extension_cents).sum();
    Ok(ListPage { ctx, today, total: rows.len() as i64, rows, limit: LIST_LIMIT, total_cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loan(lo: &str, outcome: &str, days: Option<i32>) -> LockedLoan {
        LockedLoan {
            lead_id: Uuid::nil(),
            first_locked_on: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            lo_id: None,
            lo_name: Some(lo.into()),
            source: "web".into(),
            outcome: outcome.into(),
            lock_to_close_days: days,
        }
    }

    #[test]
    fn cohorts_count_outcomes_and_take_the_lower_median() {
        let loans = [
            loan("Ann", "funded", Some(30)),
            loan("Ann", "funded", Some(40)),
            loan("Ann", "fell_out", None),
            loan("Ann", "pending", None),
            loan("Bob", "funded", Some(25)),
        ];
        let rows = cohorts(&loans, |l| (l.lo_name.clone().unwrap(), String::new()));
        assert_eq!(rows.len(), 2);
        let ann = &rows[0];
        assert_eq!((ann.locked, ann.funded, ann.fell_out, ann.pending), (4, 2, 1, 1));
        assert_eq!(ann.median_lock_to_close, Some(30));
        assert_eq!(ann.pull_through(), Some(50.0));
        assert_eq!(ann.fall_out(), Some(25.0));
        assert_eq!(rows[1].median_lock_to_close, Some(25));
        assert_eq!(rows[1].pull_through(), Some(100.0));
    }

    #[test]
    fn costs_add_up_per_group() {
        let fact = |lo: &str, days, cents| CostFact {
            lock_id: Uuid::from_u128(days as u128),
            lo_id: None,
            lo_name: Some(lo.into()),
            team_id: None,
            team_name: None,
            month: "2026-03".into(),
            days,
            cents,
        };
        // Ann: two extensions of one lock (7 days each) and one of another (15 days).
        let facts = [fact("Ann", 15, 51_563), fact("Ann", 7, 20_625), fact("Ann", 7, 20_625), fact("Bob", 15, 30_000)];
        let rows = group_costs(&facts, |f| (f.lo_name.clone().unwrap(), String::new()));
        let ann =
            CostRow { key: "Ann".into(), filter: String::new(), loans: 2, extensions: 3, days: 29, cents: 92_813 };
        assert_eq!(rows[0], ann);
        assert_eq!(rows[1].cents, 30_000);
    }

    #[test]
    fn month_ranges_are_clipped_to_the_page() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(month_range("from", "to", "2026-02", d(2, 10), d(6, 1)), "from=2026-02-10&to=2026-02-28");
        assert_eq!(month_range("from", "to", "2026-03", d(2, 10), d(6, 1)), "from=2026-03-01&to=2026-03-31");
    }
}
