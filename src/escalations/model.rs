//! The rules of escalations, with no database: kinds and statuses, the workflow, who may decide, concession
//! arithmetic, SLA clocks, the concession reports, the fair-lending screen and CSV cell neutralisation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{CurrentUser, Role};
use crate::error::AppError;

/// What an escalation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PricingException,
    LockExtension,
    UnderwritingScenario,
    Complaint,
    Compliance,
    /// Issue 26: kinds answered by another department (underwriting, closing, the executives); each goes to
    /// its department by default (`departments::model::default_department`) with its own decision options.
    ConditionDispute,
    GuidelineException,
    AppraisalIssue,
    ClosingDelay,
    Executive,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::PricingException,
        Kind::LockExtension,
        Kind::UnderwritingScenario,
        Kind::ConditionDispute,
        Kind::GuidelineException,
        Kind::AppraisalIssue,
        Kind::ClosingDelay,
        Kind::Complaint,
        Kind::Compliance,
        Kind::Executive,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PricingException => "pricing_exception",
            Kind::LockExtension => "lock_extension",
            Kind::UnderwritingScenario => "underwriting_scenario",
            Kind::Complaint => "complaint",
            Kind::Compliance => "compliance",
            Kind::ConditionDispute => "condition_dispute",
            Kind::GuidelineException => "guideline_exception",
            Kind::AppraisalIssue => "appraisal_issue",
            Kind::ClosingDelay => "closing_delay",
            Kind::Executive => "executive",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Kind::PricingException => "Pricing exception",
            Kind::LockExtension => "Lock extension",
            Kind::UnderwritingScenario => "Underwriting scenario",
            Kind::Complaint => "Complaint",
            Kind::Compliance => "Compliance",
            Kind::ConditionDispute => "Underwriting condition dispute",
            Kind::GuidelineException => "Guideline exception",
            Kind::AppraisalIssue => "Appraisal issue",
            Kind::ClosingDelay => "Closing delay",
            Kind::Executive => "Executive escalation",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Requested,
    InReview,
    Approved,
    Denied,
    Countered,
    Closed,
}

impl Status {
    pub const ALL: [Status; 6] =
        [Status::Requested, Status::InReview, Status::Approved, Status::Denied, Status::Countered, Status::Closed];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Requested => "requested",
            Status::InReview => "in_review",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Countered => "countered",
            Status::Closed => "closed",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Status::Requested => "Requested",
            Status::InReview => "In review",
            Status::Approved => "Approved",
            Status::Denied => "Denied",
            Status::Countered => "Countered",
            Status::Closed => "Closed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Still waiting on an approver.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Requested | Status::InReview)
    }
}

/// Why the LO asks for a better price.
pub const REASONS: [(&str, &str); 4] = [
    ("competitor_match", "Competitor match"),
    ("relationship_retention", "Relationship / retention"),
    ("pricing_error", "Pricing error"),
    ("other", "Other"),
];

pub fn reason_label(key: &str) -> &'static str {
    REASONS.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or("Other")
}

pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// An approver's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
    Counter,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approve" => Some(Decision::Approve),
            "deny" => Some(Decision::Deny),
            "counter" => Some(Decision::Counter),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Counter => "counter",
        }
    }
    pub fn outcome(self) -> Status {
        match self {
            Decision::Approve => Status::Approved,
            Decision::Deny => Status::Denied,
            Decision::Counter => Status::Countered,
        }
    }
}

/// The workflow: requested → in_review → approved / denied / countered → closed. A decision may also be made
/// straight from `requested` (opening the review is then implied). Anything else is a conflict (409).
pub fn may_transition(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (Requested, InReview)
            | (Requested | InReview, Approved | Denied | Countered)
            | (Approved | Denied | Countered, Closed)
            | (Requested | InReview, Closed)
    )
}

/// Concession dollars: loan amount × bps / 10,000, rounded half up to the cent. 25 bps on $400,000 is $1,000.
pub fn concession_cents(loan_amount_cents: i64, bps: i32) -> i64 {
    let n = i128::from(loan_amount_cents.max(0)) * i128::from(bps.max(0));
    ((n + 5_000) / 10_000) as i64
}

/// Parses a rate or price written as a decimal ("6.875") into thousandths (6875). Three decimals at most.
pub fn parse_thousandths(s: &str) -> Option<i32> {
    let s = s.trim().trim_end_matches('%').trim();
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i32 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    if whole > 999 {
        return None;
    }
    let mut f = frac.to_string();
    while f.len() < 3 {
        f.push('0');
    }
    Some(whole * 1000 + f.parse::<i32>().ok()?)
}

/// Thousandths back to "6.875".
pub fn format_thousandths(v: i32) -> String {
    format!("{}.{:03}", v / 1000, v % 1000)
}

/// Cents as "$1,000.00" (the one implementation: `web::money`).
pub use crate::web::money::cents as format_dollars;

/// The approval tier a request waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Manager,
    PricingDesk,
    Admin,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Manager => "manager",
            Level::PricingDesk => "pricing_desk",
            Level::Admin => "admin",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Level::Manager => "Team manager",
            Level::PricingDesk => "Pricing desk",
            Level::Admin => "Administrator",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "manager" => Some(Level::Manager),
            "pricing_desk" => Some(Level::PricingDesk),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }
}

/// The configured approval authority (rows of `approver_limits`). `None` as a limit means no limit.
#[derive(Debug, Clone, Default)]
pub struct AuthorityTable {
    pub manager_role_bps: Option<Option<i32>>,
    pub admin_role_bps: Option<Option<i32>>,
    /// Named users (pricing desk, regional managers) with their level and limit.
    pub users: Vec<(Uuid, Level, Option<i32>)>,
}

/// One user's authority to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub level: Level,
    /// Highest concession this user may decide; `None` = unlimited.
    pub max_bps: Option<i32>,
    /// Pricing desk and admins decide for every team; managers only for the teams they manage.
    pub all_teams: bool,
}

fn within(limit: Option<i32>, bps: i32) -> bool {
    limit.is_none_or(|m| bps <= m)
}

impl AuthorityTable {
    /// The user's authority: a row for the user overrides the row for their role. LOs have none.
    pub fn authority_of(&self, user: &CurrentUser) -> Option<Authority> {
        if let Some((_, level, max)) = self.users.iter().find(|(id, _, _)| *id == user.id) {
            if matches!(user.role, Role::Lo | Role::Lossmit | Role::LossmitSupervisor | Role::Intake | Role::Department)
            {
                return None;
            }
            return Some(Authority { level: *level, max_bps: *max, all_teams: *level != Level::Manager });
        }
        match user.role {
            Role::Manager => {
                self.manager_role_bps.map(|max| Authority { level: Level::Manager, max_bps: max, all_teams: false })
            }
            Role::Admin => {
                Some(Authority { level: Level::Admin, max_bps: self.admin_role_bps.unwrap_or(None), all_teams: true })
            }
            _ => None,
        }
    }

    /// The lowest tier whose authority covers `bps`: team managers, then the pricing desk, then admins.
    pub fn required_level(&self, bps: i32) -> Level {
        let manager_limit = self.manager_role_bps.unwrap_or(Some(0));
        if within(manager_limit, bps) {
            return Level::Manager;
        }
        if self.users.iter().any(|(_, l, m)| *l == Level::PricingDesk && within(*m, bps)) {
            return Level::PricingDesk;
        }
        Level::Admin
    }
}

/// The facts about one request that decide who may act on it.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub requester_id: Uuid,
    pub team_id: Option<Uuid>,
    pub concession_bps: i32,
    pub status: Status,
    /// The tier the request waits on.
    pub level: Level,
    /// Whether the user may see the lead under the ordinary scoping rule.
    pub lead_visible: bool,
}

/// Whether an all-team approver (pricing desk, admin level) reaches the request: admins reach everything within
/// their limit; the pricing desk only what was routed beyond the team managers.
fn reaches_beyond_team(a: &Authority, r: &RequestFacts) -> bool {
    a.all_teams && within(a.max_bps, r.concession_bps) && (a.level == Level::Admin || r.level != Level::Manager)
}

/// Whether `user` may see the request: the requester, anyone who sees the lead, admins, and approvers beyond the
/// team (pricing desk) when the request was routed to them. Everyone else gets 404.
pub fn may_see(user: &CurrentUser, auth: Option<&Authority>, r: &RequestFacts) -> bool {
    user.id == r.requester_id || r.lead_visible || user.is_admin() || auth.is_some_and(|a| reaches_beyond_team(a, r))
}

/// Who may decide: never the requester; only someone with approval authority; a manager only for the teams they
/// manage; and only up to their limit. Refusals carry the message the approver sees (403).
pub fn may_decide(user: &CurrentUser, auth: Option<&Authority>, r: &RequestFacts) -> Result<(), AppError> {
    if user.id == r.requester_id {
        return Err(AppError::forbidden("You cannot decide your own request."));
    }
    let Some(a) = auth else {
        return Err(AppError::forbidden("Only managers and approvers with approval authority can decide requests."));
    };
    let own_team = user.scope().manages_team(r.team_id);
    if !own_team && !(a.all_teams && (a.level == Level::Admin || r.level != Level::Manager)) {
        return Err(AppError::forbidden(if a.all_teams {
            "This request is within the team manager's authority; it waits on them."
        } else {
            "You can only decide requests from loan officers on the teams you manage."
        }));
    }
    if !within(a.max_bps, r.concession_bps) {
        return Err(AppError::forbidden(format!(
            "This request asks for {} bps, beyond your approval authority of {} bps. It waits for the next approver.",
            r.concession_bps,
            a.max_bps.unwrap_or(0)
        )));
    }
    Ok(())
}

/// Checks a decision against the request's state and the counter offer.
pub fn check_decision(
    status: Status,
    decision: Decision,
    counter_bps: Option<i32>,
    requested_bps: i32,
) -> Result<(), AppError> {
    if !may_transition(status, decision.outcome()) {
        return Err(AppError::conflict(format!(
            "This request is already {}. Decisions are final; add a comment instead.",
            status.label().to_lowercase()
        )));
    }
    if decision == Decision::Counter {
        match counter_bps {
            Some(c) if c > 0 && (requested_bps == 0 || c < requested_bps) => {}
            Some(_) if requested_bps > 0 => {
                return Err(AppError::invalid(
                    "counter_bps",
                    format!("A counter offer must be between 1 and {} bps.", requested_bps - 1),
                ));
            }
            _ => return Err(AppError::invalid("counter_bps", "Enter the counter offer in basis points.")),
        }
    }
    Ok(())
}

/// The concession actually granted by a decision, in bps.
pub fn granted_bps(decision: Decision, requested_bps: i32, counter_bps: Option<i32>) -> i32 {
    match decision {
        Decision::Approve => requested_bps,
        Decision::Deny => 0,
        Decision::Counter => counter_bps.unwrap_or(0),
    }
}

/// The SLA clock for the queue: "due in 3h 20m" or "breached 1h 5m ago", and whether it is breached.
pub fn sla_clock(due_at: DateTime<Utc>, now: DateTime<Utc>) -> (String, bool) {
    let secs = (due_at - now).num_seconds();
    let span = |s: i64| {
        let m = s.abs() / 60;
        if m >= 24 * 60 { format!("{}d {}h", m / 1440, (m % 1440) / 60) } else { format!("{}h {}m", m / 60, m % 60) }
    };
    if secs >= 0 { (format!("due in {}", span(secs)), false) } else { (format!("breached {} ago", span(secs)), true) }
}

/// Loan amount bands for the fair-lending screen.
pub fn amount_band(cents: Option<i64>) -> &'static str {
    match cents {
        None => "Unknown",
        Some(c) if c < 20_000_000 => "Under $200k",
        Some(c) if c < 40_000_000 => "$200k to $399k",
        Some(c) if c < 75_000_000 => "$400k to $749k",
        Some(_) => "$750k and over",
    }
}

/// One pricing exception, as the reports see it.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub lo_id: Uuid,
    pub lo_name: String,
    pub team_id: Option<Uuid>,
    pub team_name: String,
    /// "2026-11".
    pub month: String,
    pub status: Status,
    pub decision: Option<Decision>,
    pub granted_bps: i32,
    pub granted_cents: i64,
    pub hours_to_decision: Option<f64>,
    pub funded: bool,
    pub property_state: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub loan_purpose: Option<String>,
}

impl ReportRow {
    fn decided(&self) -> bool {
        self.decision.is_some()
    }
    /// A concession was given (approved or countered).
    fn granted(&self) -> bool {
        matches!(self.decision, Some(Decision::Approve | Decision::Counter))
    }
}

/// Concessions for one LO, team or month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConcessionSummary {
    pub key: String,
    /// The approvals list's filter for this row's requests (`lo=…`, `team=…`, a month's `from`/`to`).
    pub filter: String,
    pub requests: i64,
    pub decided: i64,
    pub granted: i64,
    pub total_bps: i64,
    pub total_cents: i64,
    /// granted ÷ decided, percent; None before any decision.
    pub approval_rate: Option<f64>,
    pub avg_hours_to_decision: Option<f64>,
    /// Granted requests whose loan funded.
    pub funded: i64,
}

/// Which requests a concession report's figure counts, as the approvals list filters them (`outcome=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    Decided,
    /// Approved or countered.
    Granted,
    /// Granted, and the loan reached the funded stage.
    Funded,
}

impl ReportOutcome {
    pub const ALL: [ReportOutcome; 3] = [ReportOutcome::Decided, ReportOutcome::Granted, ReportOutcome::Funded];
    pub fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Decided => "decided",
            ReportOutcome::Granted => "granted",
            ReportOutcome::Funded => "funded",
        }
    }
    pub fn parse(s: &str) -> Option<ReportOutcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Adds up rows by a key (LO, team or month) and the list filter of its requests, sorted by key.
pub fn summarise(rows: &[ReportRow], key: impl Fn(&ReportRow) -> (String, String)) -> Vec<ConcessionSummary> {
    let mut groups: BTreeMap<(String, String), (ConcessionSummary, f64, i64)> = BTreeMap::new();
    for r in rows {
        let (k, filter) = key(r);
        let (s, hours, timed) = groups
            .entry((k.clone(), filter.clone()))
            .or_insert_with(|| (ConcessionSummary { key: k, filter, ..Default::default() }, 0.0, 0));
        s.requests += 1;
        if r.decided() {
            s.decided += 1;
            if let Some(h) = r.hours_to_decision {
                *hours += h;
                *timed += 1;
            }
        }
        if r.granted() {
            s.granted += 1;
            s.total_bps += i64::from(r.granted_bps);
            s.total_cents += r.granted_cents;
            if r.funded {
                s.funded += 1;
            }
        }
    }
    groups
        .into_values()
        .map(|(mut s, hours, timed)| {
            s.approval_rate = (s.decided > 0).then(|| round1(100.0 * s.granted as f64 / s.decided as f64));
            s.avg_hours_to_decision = (timed > 0).then(|| round1(hours / timed as f64));
            s
        })
        .collect()
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Configurable thresholds of the fair-lending screen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct FairLendingThresholds {
    /// Percentage points of concession rate.
    pub rate_points: f64,
    /// Basis points of average granted concession.
    pub avg_bps: f64,
}

impl Default for FairLendingThresholds {
    fn default() -> Self {
        Self { rate_points: 10.0, avg_bps: 5.0 }
    }
}

/// One segment of the fair-lending screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentScreen {
    pub dimension: &'static str,
    pub segment: String,
    pub decided: i64,
    pub granted: i64,
    /// granted ÷ decided in the segment, percent.
    pub concession_rate: f64,
    /// Same for every other decided request.
    pub rest_rate: Option<f64>,
    /// Average granted bps in the segment.
    pub avg_bps: Option<f64>,
    pub rest_avg_bps: Option<f64>,
    pub flagged: bool,
}

/// The fewest decided requests a segment, and the rest it is compared with, must each hold before the screen
/// flags anything: "1 of 2 against 3 of 3" says nothing (issue 28; the compliance analysis tests significance).
pub const SCREEN_MIN_DECIDED: i64 = 30;

/// The fair-lending screen: per segment of property state, loan amount band, credit band and loan purpose, the
/// concession rate (granted ÷ decided) and average granted bps, compared with every other decided request.
/// A segment is flagged when either differs from the rest by more than the threshold. A screening aid only.
pub fn fair_lending_screen(rows: &[ReportRow], t: FairLendingThresholds) -> Vec<SegmentScreen> {
    type Dim = (&'static str, fn(&ReportRow) -> String);
    let dims: [Dim; 4] = [
        ("Property state", |r| r.property_state.clone().unwrap_or_else(|| "Unknown".into())),
        ("Loan amount", |r| amount_band(r.loan_amount_cents).to_string()),
        ("Credit band", |r| r.credit_band.clone().unwrap_or_else(|| "Unknown".into())),
        ("Loan purpose", |r| r.loan_purpose.clone().unwrap_or_else(|| "Unknown".into())),
    ];
    let decided: Vec<&ReportRow> = rows.iter().filter(|r| r.decided()).collect();
    let total = tally(decided.iter().copied());
    let mut out = Vec::new();
    for (dimension, f) in dims {
        let mut segs: BTreeMap<String, Vec<&ReportRow>> = BTreeMap::new();
        for r in &decided {
            segs.entry(f(r)).or_default().push(r);
        }
        for (segment, members) in segs {
            let s = tally(members.iter().copied());
            let rest = Tally {
                decided: total.decided - s.decided,
                granted: total.granted - s.granted,
                bps: total.bps - s.bps,
            };
            let rate = s.rate().unwrap_or(0.0);
            let rest_rate = rest.rate();
            let avg = s.avg_bps();
            let rest_avg = rest.avg_bps();
            let rate_gap = rest_rate.is_some_and(|rr| (rate - rr).abs() > t.rate_points + 1e-9);
            let bps_gap = matches!((avg, rest_avg), (Some(a), Some(b)) if (a - b).abs() > t.avg_bps + 1e-9);
            out.push(SegmentScreen {
                dimension,
                segment,
                decided: s.decided,
                granted: s.granted,
                concession_rate: round1(rate),
                rest_rate: rest_rate.map(round1),
                avg_bps: avg.map(round1),
                rest_avg_bps: rest_avg.map(round1),
                flagged: (rate_gap || bps_gap) && s.decided >= SCREEN_MIN_DECIDED && rest.decided >= SCREEN_MIN_DECIDED,
            });
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    decided: i64,
    granted: i64,
    bps: i64,
}

impl Tally {
    fn rate(&self) -> Option<f64> {
        (self.decided > 0).then(|| 100.0 * self.granted as f64 / self.decided as f64)
    }
    fn avg_bps(&self) -> Option<f64> {
        (self.granted > 0).then(|| self.bps as f64 / self.granted as f64)
    }
}

fn tally<'a>(rows: impl Iterator<Item = &'a ReportRow>) -> Tally {
    let mut t = Tally::default();
    for r in rows {
        t.decided += 1;
        if r.granted() {
            t.granted += 1;
            t.bps += i64::from(r.granted_bps);
        }
    }
    t
}

/// Neutralises spreadsheet formulas: a cell starting with = + - @ tab or CR gets a leading apostrophe.
pub fn csv_cell(s: &str) -> String {
    crate::web::csv::safe_cell(s).into_owned()
}

/// Attachments: at most 5 MB, of the kinds a competitor's quote comes in.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
pub const ATTACHMENT_TYPES: [&str; 5] = ["application/pdf", "image/png", "image/jpeg", "text/plain", "text/csv"];

/// A file name safe for a Content-Disposition header.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned.starts_with('.') { "attachment".into() } else { cleaned }
}

#[cfg(test)]
mod tests;
