//! The lead-history simulator: one lead at a time, from arrival through routing, call attempts, stage changes
//! and exit (funded, lost with a reason, or nurture), stopping at "now" for leads still in flight. Pure: it
//! writes COPY rows into buffers and never touches the database, so the bulk seed and the demo organisation
//! share it and it is deterministic for a seed.

use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::catalog::{self, SOURCES, STATES};
use super::copy_text::CopyBuf;

mod lead;
mod work;

/// Pipeline stages in order, then the two exits; index = position in this list.
pub const STAGES: [&str; 10] = [
    "new",
    "contacted",
    "prequalified",
    "application",
    "processing",
    "underwriting",
    "clear_to_close",
    "funded",
    "lost",
    "nurture",
];
const NEW: usize = 0;
const CONTACTED: usize = 1;
const PREQUALIFIED: usize = 2;
const FUNDED: usize = 7;
const LOST: usize = 8;
const NURTURE: usize = 9;

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// The simulated branch clock (US Central standard time) for business hours.
const LOCAL_OFFSET: i64 = -6 * HOUR;

/// How many leads one batch (one round of COPY statements) holds. Fixed so output does not depend on it.
pub const BATCH_LEADS: u64 = 10_000;

/// A loan officer leads can be assigned to.
#[derive(Debug, Clone)]
pub struct LoanOfficer {
    pub id: Uuid,
    pub team_id: Option<Uuid>,
    /// Indexes into [`catalog::STATES`].
    pub states: Vec<usize>,
    pub routing_weight: u32,
}

/// The LOs with, per state, who is licensed there; plus per-LO traits that shape their results.
pub struct Roster {
    pub officers: Vec<LoanOfficer>,
    /// Conversion multiplier per LO (0.8–1.2).
    skill: Vec<f64>,
    /// Speed-to-lead multiplier per LO (0.5–3: higher is slower).
    slowness: Vec<f64>,
    by_state: Vec<Option<(Vec<usize>, WeightedIndex<u32>)>>,
    covered: Option<WeightedIndex<u32>>,
    covered_list: Vec<usize>,
    all_states: WeightedIndex<u32>,
}

impl Roster {
    pub fn new(officers: Vec<LoanOfficer>, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f1a);
        let skill = officers.iter().map(|_| rng.gen_range(0.8..1.2)).collect();
        let slowness = officers
            .iter()
            .map(|_| if rng.gen_bool(0.2) { rng.gen_range(1.5..3.0) } else { rng.gen_range(0.5..1.2) })
            .collect();
        let mut by_state = Vec::with_capacity(STATES.len());
        for s in 0..STATES.len() {
            let licensed: Vec<usize> = (0..officers.len()).filter(|&i| officers[i].states.contains(&s)).collect();
            let weights: Vec<u32> = licensed.iter().map(|&i| officers[i].routing_weight.max(1)).collect();
            by_state.push(WeightedIndex::new(weights).ok().map(|w| (licensed, w)));
        }
        let covered_list: Vec<usize> = (0..STATES.len()).filter(|&s| by_state[s].is_some()).collect();
        let covered = WeightedIndex::new(covered_list.iter().map(|&s| STATES[s].population)).ok();
        let all_states = WeightedIndex::new(STATES.iter().map(|s| s.population)).expect("populations are positive");
        Self { officers, skill, slowness, by_state, covered, covered_list, all_states }
    }

    fn pick_lo(&self, rng: &mut ChaCha8Rng, state: usize) -> Option<usize> {
        self.by_state[state].as_ref().map(|(list, w)| list[w.sample(rng)])
    }
}

/// What a lead is for: most have an ordinary history; the demo adds a few with work waiting for today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    History,
    /// Arrived in the last hours, assigned, nobody has called yet.
    Fresh(usize),
    /// Contacted in the last days, a callback due around now.
    CallbackDue(usize),
    /// Arrived in the last two hours, waiting in the unassigned queue.
    Unassigned,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub leads: u64,
    /// Unix seconds; nothing happens after it.
    pub now: i64,
    /// Leads arrive over this many days before now.
    pub history_days: i64,
    pub pipeline_id: Uuid,
    /// Demo extras (counted within `leads`): new leads per LO nobody has called yet, callbacks due per LO, and
    /// leads waiting in the unassigned queue.
    pub fresh_per_lo: u64,
    pub callbacks_per_lo: u64,
    pub unassigned: u64,
}

impl Plan {
    pub fn batches(&self) -> u64 {
        self.leads.div_ceil(BATCH_LEADS)
    }

    fn scenario(&self, i: u64, officers: usize) -> Scenario {
        let officers = officers as u64;
        if i < self.unassigned {
            return Scenario::Unassigned;
        }
        let i = i - self.unassigned;
        if officers > 0 && i < self.fresh_per_lo * officers {
            return Scenario::Fresh((i % officers) as usize);
        }
        let i = i - self.fresh_per_lo * officers;
        if officers > 0 && i < self.callbacks_per_lo * officers {
            return Scenario::CallbackDue((i % officers) as usize);
        }
        Scenario::History
    }
}

/// One batch of rows, one buffer per table, in foreign-key order.
pub struct Batch {
    pub leads: CopyBuf,
    pub consents: CopyBuf,
    pub opt_outs: CopyBuf,
    pub assignments: CopyBuf,
    pub stage_changes: CopyBuf,
    pub activities: CopyBuf,
    pub tasks: CopyBuf,
    /// Leads per final stage (index into [`STAGES`]).
    pub by_stage: [u64; 10],
}

pub const LEADS_COPY: &str = "COPY leads (id, pipeline_id, stage, first_name, last_name, email, phone, property_state, \
    property_zip, loan_purpose, loan_amount_cents, property_value_cents, credit_band, occupancy, property_type, \
    rate_quoted, source, campaign, vendor, cost_cents, external_id, assigned_lo_id, team_id, assigned_at, lost_reason, \
    first_call_at, first_contact_at, last_activity_at, stage_changed_at, version, created_at, updated_at) FROM STDIN";
pub const CONSENTS_COPY: &str =
    "COPY lead_consents (lead_id, channel, consent_text, captured_at, source_page, token, created_at) FROM STDIN";
pub const OPT_OUTS_COPY: &str = "COPY lead_opt_outs (lead_id, channel, created_at) FROM STDIN";
pub const ASSIGNMENTS_COPY: &str =
    "COPY assignments (lead_id, from_lo_id, to_lo_id, to_team_id, actor_id, reason, created_at) FROM STDIN";
pub const STAGE_CHANGES_COPY: &str =
    "COPY stage_changes (lead_id, from_stage, to_stage, lo_id, actor_id, lost_reason, origin, created_at) FROM STDIN";
pub const ACTIVITIES_COPY: &str = "COPY activities (lead_id, actor_id, kind, direction, outcome, talk_seconds, body, \
    occurred_at, created_at) FROM STDIN";
pub const TASKS_COPY: &str = "COPY tasks (lead_id, owner_id, kind, title, due_at, done_at, created_at) FROM STDIN";

impl Batch {
    /// (COPY statement, rows) in the order they must be written.
    pub fn tables(&self) -> [(&'static str, &CopyBuf); 7] {
        [
            (LEADS_COPY, &self.leads),
            (CONSENTS_COPY, &self.consents),
            (OPT_OUTS_COPY, &self.opt_outs),
            (ASSIGNMENTS_COPY, &self.assignments),
            (STAGE_CHANGES_COPY, &self.stage_changes),
            (ACTIVITIES_COPY, &self.activities),
            (TASKS_COPY, &self.tasks),
        ]
    }
}

const CONSENT_TEXT: &str = "By submitting this form I agree that the lender and its loan officers may contact me \
    about my mortgage inquiry at the number provided, including by autodialed calls and texts. Consent is not a \
    condition of purchase.";

#[derive(Clone, Copy)]
struct Activity {
    at: i64,
    kind: &'static str,
    direction: Option<&'static str>,
    outcome: Option<&'static str>,
    talk: i64,
    body: &'static str,
}

#[derive(Clone, Copy)]
struct StageChange {
    at: i64,
    from: Option<usize>,
    to: usize,
    lost_reason: Option<&'static str>,
}

#[derive(Clone, Copy)]
struct Task {
    created: i64,
    due: i64,
    done: Option<i64>,
    title: &'static str,
}

/// Per-lead scratch reused across leads.
#[derive(Default)]
struct Story {
    activities: Vec<Activity>,
    stages: Vec<StageChange>,
    tasks: Vec<Task>,
    opt_out: Option<i64>,
}

struct Dists {
    source: WeightedIndex<u32>,
    purpose: WeightedIndex<u32>,
    credit: WeightedIndex<u32>,
    occupancy: WeightedIndex<u32>,
    property: WeightedIndex<u32>,
    lost_early: WeightedIndex<u32>,
    lost_late: WeightedIndex<u32>,
    reassign: WeightedIndex<u32>,
}

impl Dists {
    fn new() -> Self {
        fn w(items: impl Iterator<Item = u32>) -> WeightedIndex<u32> {
            WeightedIndex::new(items).expect("catalog weights are positive")
        }
        Self {
            source: w(SOURCES.iter().map(|s| s.share)),
            purpose: w(catalog::PURPOSES.iter().map(|p| p.1)),
            credit: w(catalog::CREDIT_BANDS.iter().map(|p| p.1)),
            occupancy: w(catalog::OCCUPANCIES.iter().map(|p| p.1)),
            property: w(catalog::PROPERTY_TYPES.iter().map(|p| p.1)),
            lost_early: w(catalog::LOST_EARLY.iter().map(|p| p.1)),
            lost_late: w(catalog::LOST_LATE.iter().map(|p| p.1)),
            reassign: w(catalog::REASSIGN_REASONS.iter().map(|p| p.1)),
        }
    }
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal sample with the given median.
fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// Is `t` within branch business hours (weekdays 8:00–19:00 local)?
fn in_business_hours(t: i64) -> bool {
    let local = t + LOCAL_OFFSET;
    let weekday = (local.div_euclid(DAY) + 3).rem_euclid(7); // 0 = Monday
    let sec = local.rem_euclid(DAY);
    weekday < 5 && (8 * HOUR..19 * HOUR).contains(&sec)
}

/// The first business-hours moment at or after `t` (with a little jitter when it has to move).
fn business_time(rng: &mut ChaCha8Rng, t: i64) -> i64 {
    if in_business_hours(t) {
        return t;
    }
    let local = t + LOCAL_OFFSET;
    let mut day = local.div_euclid(DAY);
    if local.rem_euclid(DAY) >= 8 * HOUR {
        day += 1;
    }
    while (day + 3).rem_euclid(7) >= 5 {
        day += 1;
    }
    day * DAY + 8 * HOUR - LOCAL_OFFSET + rng.gen_range(0..90 * MIN)
}

fn uuid_from(rng: &mut ChaCha8Rng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Generates batch `index` of the plan. `ids` supplies row identities (fresh randomness in production, so a
/// second seed run appends instead of colliding); everything else comes from the plan's seed.
pub fn generate_batch(plan: &Plan, roster: &Roster, index: u64, ids: &mut ChaCha8Rng) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(index + 1);
    let start = index * BATCH_LEADS;
    let end = ((index + 1) * BATCH_LEADS).min(plan.leads);
    let n = end.saturating_sub(start) as usize;
    let mut b = Batch {
        leads: CopyBuf::with_capacity(n * 420),
        consents: CopyBuf::with_capacity(n * 340),
        opt_outs: CopyBuf::with_capacity(256),
        assignments: CopyBuf::with_capacity(n * 140),
        stage_changes: CopyBuf::with_capacity(n * 3 * 130),
        activities: CopyBuf::with_capacity(n * 11 * 150),
        tasks: CopyBuf::with_capacity(n * 150),
        by_stage: [0; 10],
    };
    let dists = Dists::new();
    let mut story = Story::default();
    let mut scratch = String::with_capacity(128);
    for i in start..end {
        let scenario = plan.scenario(i, roster.officers.len());
        lead::one_lead(plan, roster, &dists, scenario, &mut rng, ids, &mut story, &mut scratch, &mut b);
    }
    b
}

/// An arrival time in the last `days` days: fewer at weekends, most in business hours, never after `now`.
fn arrival(rng: &mut ChaCha8Rng, now: i64, days: i64) -> i64 {
    let today = (now + LOCAL_OFFSET).div_euclid(DAY);
    for _ in 0..64 {
        let day = today - rng.gen_range(0..days.max(1));
        let weekday = (day + 3).rem_euclid(7);
        let keep = match weekday {
            5 => 0.45,
            6 => 0.35,
            _ => 1.0,
        };
        let sec = if rng.gen_bool(0.75) {
            // Business-hours hump around early afternoon.
            8 * HOUR + (rng.gen_range(0..6 * HOUR) + rng.gen_range(0..6 * HOUR))
        } else {
            rng.gen_range(0..DAY)
        };
        let t = day * DAY + sec - LOCAL_OFFSET;
        if rng.gen_bool(keep) && t <= now {
            return t;
        }
    }
    now - rng.gen_range(0..HOUR)
}

fn call(at: i64, direction: &'static str, outcome: &'static str, talk: i64, body: &'static str) -> Activity {
    Activity { at, kind: "call", direction: Some(direction), outcome: Some(outcome), talk, body }
}

fn message(kind: &'static str, direction: &'static str, at: i64, body: &'static str) -> Activity {
    Activity { at, kind, direction: Some(direction), outcome: None, talk: 0, body }
}

fn note(at: i64, body: &'static str) -> Activity {
    Activity { at, kind: "note", direction: None, outcome: None, talk: 0, body }
}

#[cfg(test)]
mod tests;
