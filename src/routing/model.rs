//! Routing rules that need no database: which rule matches a lead, who is eligible and why not, the fair
//! rotation (smooth weighted round robin), working hours and the speed-to-lead clock, and the cadence schedule.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a rule picks among its eligible LOs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Equal turns.
    RoundRobin,
    /// Turns in proportion to each LO's routing weight.
    WeightedRoundRobin,
    /// Only LOs inside working hours; turns in proportion to spare capacity.
    AvailabilityFirst,
    /// Turns in proportion to routing weight × recent conversion.
    PerformanceWeighted,
    /// Offered to the pool; the first to claim within the claim window gets it.
    Claim,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::RoundRobin,
        Method::WeightedRoundRobin,
        Method::AvailabilityFirst,
        Method::PerformanceWeighted,
        Method::Claim,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Method::RoundRobin => "round_robin",
            Method::WeightedRoundRobin => "weighted_round_robin",
            Method::AvailabilityFirst => "availability_first",
            Method::PerformanceWeighted => "performance_weighted",
            Method::Claim => "claim",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Method::RoundRobin => "Round robin",
            Method::WeightedRoundRobin => "Weighted round robin",
            Method::AvailabilityFirst => "Availability first",
            Method::PerformanceWeighted => "Performance weighted",
            Method::Claim => "Claim (first to accept)",
        }
    }
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What happens when the assigned LO logs no call attempt within the rule's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaAction {
    Reassign,
    Escalate,
}

impl SlaAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaAction::Reassign => "reassign",
            SlaAction::Escalate => "escalate",
        }
    }
    pub fn parse(s: &str) -> Option<SlaAction> {
        match s {
            "reassign" => Some(SlaAction::Reassign),
            "escalate" => Some(SlaAction::Escalate),
            _ => None,
        }
    }
}

/// The facts about a lead that rules filter on.
#[derive(Debug, Clone, Default)]
pub struct LeadFacts {
    pub source: String,
    pub campaign: Option<String>,
    pub state: Option<String>,
    pub purpose: Option<String>,
    pub amount_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub zip: Option<String>,
}

/// A rule's filters. Empty lists and missing bounds match everything.
#[derive(Debug, Clone, Default)]
pub struct RuleFilters {
    pub sources: Vec<String>,
    pub campaigns: Vec<String>,
    pub states: Vec<String>,
    pub purposes: Vec<String>,
    pub min_amount_cents: Option<i64>,
    pub max_amount_cents: Option<i64>,
    pub credit_bands: Vec<String>,
    pub zip_prefixes: Vec<String>,
}

fn list_matches(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x.trim().eq_ignore_ascii_case(v.trim())))
}

impl RuleFilters {
    /// Whether a lead falls under this rule. A filter on a field the lead lacks does not match.
    pub fn matches(&self, lead: &LeadFacts) -> bool {
        list_matches(&self.sources, Some(&lead.source))
            && list_matches(&self.campaigns, lead.campaign.as_deref())
            && list_matches(&self.states, lead.state.as_deref())
            && list_matches(&self.purposes, lead.purpose.as_deref())
            && list_matches(&self.credit_bands, lead.credit_band.as_deref())
            && (self.min_amount_cents.is_none()
                || lead.amount_cents.zip(self.min_amount_cents).is_some_and(|(a, m)| a >= m))
            && (self.max_amount_cents.is_none()
                || lead.amount_cents.zip(self.max_amount_cents).is_some_and(|(a, m)| a <= m))
            && (self.zip_prefixes.is_empty()
                || lead
                    .zip
                    .as_deref()
                    .is_some_and(|z| self.zip_prefixes.iter().any(|p| z.trim().starts_with(p.trim()))))
    }
}

/// An LO's working hours in their own time zone. `start == end` means around the clock; `start > end` is an
/// overnight shift.
#[derive(Debug, Clone)]
pub struct WorkHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// ISO weekdays, 1 = Monday.
    pub days: Vec<i32>,
    pub tz: Tz,
}

impl WorkHours {
    pub fn new(start: NaiveTime, end: NaiveTime, days: Vec<i32>, tz: &str, fallback: Tz) -> Self {
        Self { start, end, days, tz: tz.parse().unwrap_or(fallback) }
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let t = local.time();
        let weekday = local.weekday().number_from_monday() as i32;
        if self.start == self.end {
            return self.days.contains(&weekday);
        }
        if self.start < self.end {
            self.days.contains(&weekday) && t >= self.start && t < self.end
        } else if t >= self.start {
            self.days.contains(&weekday)
        } else if t < self.end {
            // The tail of a shift that started yesterday.
            let yesterday = local.weekday().pred().number_from_monday() as i32;
            self.days.contains(&yesterday)
        } else {
            false
        }
    }

    /// When `minutes` of working time after `from` have passed: the speed-to-lead deadline. A lead assigned at
    /// night is due a few minutes into the LO's next shift. With no working time at all in the next two weeks,
    /// plain elapsed time is used.
    pub fn due_after(&self, from: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let mut need = minutes.max(0);
        if need == 0 {
            return from;
        }
        let mut cursor = from;
        let limit = from + Duration::days(14);
        while cursor < limit {
            if self.contains(cursor) {
                need -= 1;
                cursor += Duration::minutes(1);
                if need == 0 {
                    return cursor;
                }
            } else {
                cursor += Duration::minutes(1);
            }
        }
        from + Duration::minutes(minutes)
    }
}

/// An LO as routing sees them at the moment of a decision.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub lo_id: Uuid,
    pub name: String,
    pub active: bool,
    pub licensed_states: Vec<String>,
    pub capacity: i32,
    pub open_leads: i64,
    /// available, away or offline.
    pub status: String,
    pub hours: WorkHours,
    pub weight: i32,
}

/// Why an LO was passed over for a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Exclusion {
    Inactive,
    NotLicensed {
        state: String,
    },
    AtCapacity {
        open: i64,
        capacity: i32,
    },
    Unavailable {
        status: String,
    },
    OutsideHours,
    ZeroWeight,
    /// Left out on purpose for this decision (missed the SLA, being offboarded).
    Excluded {
        why: String,
    },
}

impl Exclusion {
    pub fn message(&self) -> String {
        match self {
            Exclusion::Inactive => "inactive".into(),
            Exclusion::NotLicensed { state } => format!("not licensed in {state}"),
            Exclusion::AtCapacity { open, capacity } => format!("at capacity ({open} of {capacity} open leads)"),
            Exclusion::Unavailable { status } => format!("status is {status}"),
            Exclusion::OutsideHours => "outside working hours".into(),
            Exclusion::ZeroWeight => "routing weight is 0".into(),
            Exclusion::Excluded { why } => why.clone(),
        }
    }
}

/// Which checks a decision applies beyond the ones that always hold (active, licensed, under capacity,
/// available).
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub working_hours: bool,
    /// LOs left out of this decision, with the reason.
    pub exclude: Vec<(Uuid, String)>,
}

/// Every reason `c` cannot take a lead in `state` at `now` (empty = eligible).
pub fn exclusions(c: &Candidate, state: Option<&str>, now: DateTime<Utc>, checks: &Checks) -> Vec<Exclusion> {
    let mut out = Vec::new();
    if let Some((_, why)) = checks.exclude.iter().find(|(id, _)| *id == c.lo_id) {
        out.push(Exclusion::Excluded { why: why.clone() });
    }
    if !c.active {
        out.push(Exclusion::Inactive);
    }
    if let Some(st) = state.map(str::trim).filter(|s| !s.is_empty()) {
        if !c.licensed_states.iter().any(|l| l.eq_ignore_ascii_case(st)) {
            out.push(Exclusion::NotLicensed { state: st.to_uppercase() });
        }
    }
    if c.open_leads >= i64::from(c.capacity) {
        out.push(Exclusion::AtCapacity { open: c.open_leads, capacity: c.capacity });
    }
    if c.status != "available" {
        out.push(Exclusion::Unavailable { status: c.status.clone() });
    }
    if checks.working_hours && !c.hours.contains(now) {
        out.push(Exclusion::OutsideHours);
    }
    out
}

/// One LO's place in a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub lo_id: Uuid,
    pub weight: i64,
    /// Smooth weighted round robin credit (stored in Postgres between decisions).
    pub credit: i64,
    /// The last decision (sequence number) this LO was eligible for.
    pub last_seq: i64,
    /// Leads this LO got in the current era of the quota method.
    pub era: i64,
    /// The last decision that gave this LO a lead (-1: never).
    pub last_assigned: i64,
}

/// One turn of smooth weighted round robin over the eligible `slots`, at decision number `seq` (the previous
/// decision was `seq - 1`). Every eligible LO earns its weight; the one with the most credit is chosen and
/// pays the total. An LO who was not eligible at the previous decision (back from time off, new) has any
/// positive credit dropped, so they rejoin at the current pace instead of receiving a burst of catch-up leads;
/// turns of LOs who are skipped are not piled onto one backup, because only the eligible earn credit.
/// Returns the index of the chosen slot; updates credits and `last_seq`.
pub fn take_turn(slots: &mut [Slot], seq: i64) -> Option<usize> {
    let total: i64 = slots.iter().map(|s| s.weight.max(0)).sum();
    if slots.is_empty() || total <= 0 {
        return None;
    }
    for s in slots.iter_mut() {
        if s.last_seq != seq - 1 {
            s.credit = s.credit.min(0);
        }
        s.credit += s.weight.max(0);
        s.last_seq = seq;
    }
    let mut best = 0;
    for (i, s) in slots.iter().enumerate() {
        let b = &slots[best];
        if s.credit > b.credit || (s.credit == b.credit && s.weight > b.weight) {
            best = i;
        }
    }
    slots[best].credit -= total;
    slots[best].last_assigned = seq;
    Some(best)
}

/// One turn of the quota method (Balinski & Young) over the eligible `slots` at decision `seq`, for round
/// robin and weighted round robin. Within an era (a stretch of decisions with the same eligible LOs) every LO
/// stays within one lead of its weighted share after every decision: only LOs still under their upper quota
/// may take the lead, and among them the one with the highest weight per lead already given (w / (count + 1))
/// does; ties go to whoever has waited longest. An LO who joins or returns (not eligible at the previous
/// decision) starts a new era for everyone, so it rejoins at the current pace with no catch-up burst; an LO
/// who leaves just drops out, and the others carry on. Returns the chosen index; updates the slots.
pub fn take_quota_turn(slots: &mut [Slot], seq: i64) -> Option<usize> {
    let total: i64 = slots.iter().map(|s| s.weight.max(0)).sum();
    if slots.is_empty() || total <= 0 {
        return None;
    }
    if slots.iter().any(|s| s.last_seq != seq - 1) {
        for s in slots.iter_mut() {
            s.era = 0;
        }
    }
    let n: i64 = slots.iter().filter(|s| s.weight > 0).map(|s| s.era).sum();
    let mut best: Option<usize> = None;
    for (i, s) in slots.iter().enumerate() {
        // Under its upper quota after this decision: era < (n + 1) · w / W.
        if s.weight <= 0 || s.era * total >= (n + 1) * s.weight {
            continue;
        }
        best = match best {
            None => Some(i),
            Some(b) => {
                let o = &slots[b];
                // w_i / (era_i + 1) against w_b / (era_b + 1), without division.
                let (mine, theirs) = (s.weight * (o.era + 1), o.weight * (s.era + 1));
                if mine > theirs || (mine == theirs && s.last_assigned < o.last_assigned) { Some(i) } else { Some(b) }
            }
        };
    }
    let chosen = best?;
    for s in slots.iter_mut() {
        s.last_seq = seq;
    }
    slots[chosen].era += 1;
    slots[chosen].last_assigned = seq;
    Some(chosen)
}

/// Performance weight: routing weight × smoothed conversion (won per thousand assigned in the window, with
/// one win and ten leads of prior so a new LO is neither starved nor flooded).
pub fn performance_weight(base: i32, assigned: i64, won: i64) -> i64 {
    let per_mille = ((won.max(0) + 1) * 1000) / (assigned.max(0) + 10);
    i64::from(base.max(0)) * per_mille.max(1)
}

/// The contact cadence: attempt windows (minutes after assignment) and the voicemail limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cadence {
    pub attempts: Vec<(i64, i64)>,
    pub max_voicemails: i32,
}

impl Default for Cadence {
    /// At once, 30–60 min, 1–2 h, then days 2, 3, 5, 8 and 14; at most two voicemails.
    fn default() -> Self {
        Cadence {
            attempts: vec![
                (0, 5),
                (30, 60),
                (60, 120),
                (1440, 2880),
                (2880, 4320),
                (5760, 7200),
                (10080, 11520),
                (18720, 20160),
            ],
            max_voicemails: 2,
        }
    }
}

impl Cadence {
    /// Reads the stored setting, or the default when it is missing or malformed.
    pub fn from_setting(v: Option<&serde_json::Value>) -> Cadence {
        v.and_then(|v| serde_json::from_value::<Cadence>(v.clone()).ok())
            .filter(|c| c.validate().is_ok())
            .unwrap_or_default()
    }

    /// Windows must be non-empty, start at or after 0, and be in order.
    pub fn validate(&self) -> Result<(), String> {
        if self.attempts.is_empty() {
            return Err("Add at least one attempt.".into());
        }
        let mut prev = -1;
        for (i, (from, to)) in self.attempts.iter().enumerate() {
            if *from < 0 || to < from {
                return Err(format!("Attempt {}: the window must start at 0 or later and end after it starts.", i + 1));
            }
            if *from <= prev && i > 0 {
                return Err(format!("Attempt {} must start after attempt {}.", i + 1, i));
            }
            prev = *from;
        }
        if self.max_voicemails < 0 {
            return Err("Voicemails cannot be negative.".into());
        }
        Ok(())
    }

    /// The task title for attempt `step` (0-based), given voicemails already left.
    pub fn task_title(&self, step: usize, voicemails_left: i64) -> String {
        let n = self.attempts.len();
        let vm = if voicemails_left < i64::from(self.max_voicemails) {
            "voicemail allowed"
        } else {
            "no voicemail (limit reached)"
        };
        format!("Call attempt {} of {} — {}", step + 1, n, vm)
    }
}

/// Parses attempt windows written as "0-5, 30-60, 1440-2880" (minutes after assignment).
pub fn parse_windows(s: &str) -> Result<Vec<(i64, i64)>, String> {
    let mut out = Vec::new();
    for part in s.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let from = a.trim().parse::<i64>().map_err(|_| format!("\"{part}\" is not a window like 30-60."))?;
        let to = b.trim().parse::<i64>().map_err(|_| format!("\"{part}\" is not a window like 30-60."))?;
        out.push((from, to));
    }
    Ok(out)
}

/// Writes windows back as "0-5, 30-60".
pub fn format_windows(w: &[(i64, i64)]) -> String {
    w.iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>().join(", ")
}

/// Parses "TX, ca ,NM" into ["TX", "CA", "NM"] (trimmed, upper-cased, no empties, no duplicates).
pub fn parse_list(s: &str, upper: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split([',', '\n']) {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let p = if upper { p.to_uppercase() } else { p.to_string() };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A validated rule.
pub struct RuleInput {
    pub name: String,
    pub position: Option<i32>,
    pub sources: Vec<String>,
    pub campaigns: Vec<String>,
    pub states: Vec<String>,
    pub purposes: Vec<String>,
    pub min_amount_cents: Option<i64>,
    pub max_amount_cents: Option<i64>,
    pub credit_bands: Vec<String>,
    pub zip_prefixes: Vec<String>,
    pub team_ids: Vec<Uuid>,
    pub lo_ids: Vec<Uuid>,
    pub method: String,
    pub claim_minutes: i32,
    pub fallback_method: String,
    pub require_working_hours: bool,
    pub sla_minutes: i32,
    pub sla_action: String,
}

#[cfg(test)]
mod tests;
