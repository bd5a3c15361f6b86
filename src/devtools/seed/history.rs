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
        one_lead(plan, roster, &dists, scenario, &mut rng, ids, &mut story, &mut scratch, &mut b);
    }
    b
}

#[allow(clippy::too_many_arguments)]
fn one_lead(
    plan: &Plan,
    roster: &Roster,
    d: &Dists,
    scenario: Scenario,
    rng: &mut ChaCha8Rng,
    ids: &mut ChaCha8Rng,
    story: &mut Story,
    scratch: &mut String,
    b: &mut Batch,
) {
    story.activities.clear();
    story.stages.clear();
    story.tasks.clear();
    story.opt_out = None;
    let now = plan.now;
    let id = uuid_from(ids);
    let source = &SOURCES[d.source.sample(rng)];

    // Where: a state an LO is licensed in (nearly always), weighted by population.
    let forced_lo = match scenario {
        Scenario::Fresh(l) | Scenario::CallbackDue(l) => Some(l),
        _ => None,
    };
    let state = match forced_lo {
        Some(l) if !roster.officers[l].states.is_empty() => {
            let states = &roster.officers[l].states;
            let w: u32 = states.iter().map(|&s| STATES[s].population).sum();
            let mut x = rng.gen_range(0..w.max(1));
            let mut chosen = states[0];
            for &s in states {
                if x < STATES[s].population {
                    chosen = s;
                    break;
                }
                x -= STATES[s].population;
            }
            chosen
        }
        _ => match &roster.covered {
            Some(c) if !rng.gen_bool(0.005) => roster.covered_list[c.sample(rng)],
            _ => roster.all_states.sample(rng),
        },
    };
    let st = &STATES[state];

    // When it arrived.
    let created = match scenario {
        Scenario::History => arrival(rng, now, plan.history_days),
        Scenario::Fresh(_) => now - rng.gen_range(5 * MIN..170 * MIN),
        Scenario::CallbackDue(_) => now - rng.gen_range(DAY..6 * DAY),
        Scenario::Unassigned => now - rng.gen_range(2 * MIN..110 * MIN),
    };

    // Who they are and what they want.
    let first = pick(rng, catalog::FIRST_NAMES);
    let last = pick(rng, catalog::LAST_NAMES);
    let email_n = rng.gen_range(1..1000);
    let domain = pick(rng, catalog::EMAIL_DOMAINS);
    let has_email = rng.gen_bool(0.95);
    let has_phone = rng.gen_bool(0.97);
    let area = pick(rng, st.area_codes);
    let line = loop {
        let l = rng.gen_range(0..10_000u32);
        if l != 1212 {
            break l;
        }
    };
    let zip = st.zip3.0 as u32 + rng.gen_range(0..=(st.zip3.1 - st.zip3.0) as u32);
    let zip = zip * 100 + rng.gen_range(1..100u32);
    let purpose = catalog::PURPOSES[d.purpose.sample(rng)].0;
    let (credit, _, rate_adj) = catalog::CREDIT_BANDS[d.credit.sample(rng)];
    let occupancy = catalog::OCCUPANCIES[d.occupancy.sample(rng)].0;
    let property_type = catalog::PROPERTY_TYPES[d.property.sample(rng)].0;
    let value_dollars = (st.median_value_k as f64 * 1000.0 * lognormal(rng, 1.0, 0.4)).clamp(60_000.0, 5_000_000.0);
    let value = (value_dollars / 5000.0).round() as i64 * 5000;
    let ltv = match purpose {
        "purchase" => rng.gen_range(0.75..0.965),
        "refinance" => rng.gen_range(0.4..0.8),
        "cash_out" => rng.gen_range(0.55..0.8),
        _ => rng.gen_range(0.08..0.25),
    };
    let amount = ((value as f64 * ltv) / 1000.0).round() as i64 * 1000;
    let rate = 6_750 + rate_adj * 10 + rng.gen_range(-2..=2) * 125;
    let campaign = pick(rng, source.campaigns);

    // Routing.
    let lo1 = match scenario {
        Scenario::Unassigned => None,
        Scenario::Fresh(l) | Scenario::CallbackDue(l) => Some(l),
        Scenario::History => roster.pick_lo(rng, state),
    };
    let assigned_at = lo1.map(|_| created + rng.gen_range(2..90));
    let reassign_roll = rng.gen_bool(0.05) && scenario == Scenario::History;
    let mut reassign: Option<(i64, usize, &'static str)> = None;
    if let (true, Some(l1), Some(at)) = (reassign_roll, lo1, assigned_at) {
        let when = at + rng.gen_range(2 * HOUR..12 * DAY);
        let reason = catalog::REASSIGN_REASONS[d.reassign.sample(rng)].0;
        for _ in 0..4 {
            if let Some(l2) = roster.pick_lo(rng, state) {
                if l2 != l1 && when <= now {
                    reassign = Some((when, l2, reason));
                    break;
                }
            }
        }
    }

    story.stages.push(StageChange { at: created, from: None, to: NEW, lost_reason: None });
    let mut stage = NEW;
    let mut quoted = false;
    match (lo1, assigned_at) {
        (Some(l1), Some(at)) if !matches!(scenario, Scenario::Fresh(_)) => {
            let skill = roster.skill[l1];
            let slowness = roster.slowness[l1];
            let force_contact = matches!(scenario, Scenario::CallbackDue(_));
            let (s, q) = work_lead(rng, d, story, source, skill, slowness, at, now, force_contact);
            stage = s;
            quoted = q;
        }
        (None, _) if scenario == Scenario::History => {
            // No licensed LO: a manager closes it out after a few days (or it still waits in the queue).
            let wait = rng.gen_range(2 * DAY..5 * DAY);
            let at = business_time(rng, created + wait);
            if at <= now {
                story.stages.push(StageChange { at, from: Some(NEW), to: LOST, lost_reason: Some("other") });
                stage = LOST;
            }
        }
        _ => {}
    }

    // The reassignment only stands if it happened while the lead was still being worked.
    let last_event =
        story.activities.iter().map(|a| a.at).chain(story.stages.iter().map(|s| s.at)).max().unwrap_or(created);
    let closed = matches!(stage, FUNDED | LOST | NURTURE);
    if let Some((when, _, _)) = reassign {
        if closed && when > last_event {
            reassign = None;
        }
    }
    let owner = |t: i64| -> Option<usize> {
        match reassign {
            Some((when, l2, _)) if t >= when => Some(l2),
            _ => lo1,
        }
    };
    let lo_id = |l: Option<usize>| l.map(|l| roster.officers[l].id);
    let final_lo = owner(i64::MAX);

    // Rows: the lead first.
    let first_call = story.activities.iter().filter(|a| a.kind == "call").map(|a| a.at).min();
    let first_contact = story.activities.iter().filter(|a| a.outcome == Some("contacted")).map(|a| a.at).min();
    let last_activity = story.activities.iter().map(|a| a.at).max();
    let last_stage =
        story.stages.last().copied().unwrap_or(StageChange { at: created, from: None, to: NEW, lost_reason: None });
    let version = story.stages.len() as i64 + i64::from(reassign.is_some());
    let updated = last_event.max(reassign.map(|r| r.0).unwrap_or(created));

    let l = &mut b.leads;
    l.uuid(id);
    l.uuid(plan.pipeline_id);
    l.text(STAGES[stage]);
    l.text(first);
    l.text(last);
    if has_email {
        scratch.clear();
        for c in first.chars().chain(".".chars()).chain(last.chars()) {
            scratch.push(c.to_ascii_lowercase());
        }
        scratch.push_str(&email_n.to_string());
        scratch.push('@');
        scratch.push_str(domain);
        l.text(scratch);
    } else {
        l.null();
    }
    if has_phone {
        scratch.clear();
        scratch.push_str("+1");
        scratch.push_str(&area.to_string());
        scratch.push_str("555");
        scratch.push_str(&format!("{line:04}"));
        l.text(scratch);
    } else {
        l.null();
    }
    l.text(st.code);
    l.text(&format!("{zip:05}"));
    l.text(purpose);
    l.int(amount * 100);
    l.int(value * 100);
    l.text(credit);
    l.text(occupancy);
    l.text(property_type);
    if quoted {
        l.decimal3(rate);
    } else {
        l.null();
    }
    l.text(source.key);
    l.text(campaign);
    l.opt_text(source.vendor);
    l.int(source.cost_per_lead_cents);
    match source.external_prefix {
        Some(p) => {
            scratch.clear();
            scratch.push_str(p);
            scratch.push('-');
            scratch.push_str(&format!("{:016x}", ids.next_u64()));
            l.text(scratch);
        }
        None => l.null(),
    }
    l.opt_uuid(lo_id(final_lo));
    l.opt_uuid(final_lo.and_then(|x| roster.officers[x].team_id));
    l.opt_ts(reassign.map(|r| r.0).or(assigned_at));
    l.opt_text(last_stage.lost_reason.filter(|_| stage == LOST));
    l.opt_ts(first_call);
    l.opt_ts(first_contact);
    l.opt_ts(last_activity);
    l.ts(last_stage.at);
    l.int(version);
    l.ts(created);
    l.ts(updated);
    l.end_row();
    b.by_stage[stage] += 1;

    if source.web_consent {
        let c = &mut b.consents;
        c.uuid(id);
        c.text("call");
        c.text(CONSENT_TEXT);
        c.ts(created - rng.gen_range(5..120));
        scratch.clear();
        scratch.push_str("https://www.example.com/lp/");
        scratch.push_str(campaign);
        c.text(scratch);
        c.text(&format!("{:016x}{:016x}", ids.next_u64(), ids.next_u64()));
        c.ts(created);
        c.end_row();
    }
    if let Some(at) = story.opt_out {
        b.opt_outs.uuid(id);
        b.opt_outs.text("call");
        b.opt_outs.ts(at);
        b.opt_outs.end_row();
    }

    if let (Some(l1), Some(at)) = (lo1, assigned_at) {
        let a = &mut b.assignments;
        a.uuid(id);
        a.null();
        a.uuid(roster.officers[l1].id);
        a.opt_uuid(roster.officers[l1].team_id);
        a.null();
        a.text("routing");
        a.ts(at);
        a.end_row();
        if let Some((when, l2, reason)) = reassign {
            a.uuid(id);
            a.uuid(roster.officers[l1].id);
            a.uuid(roster.officers[l2].id);
            a.opt_uuid(roster.officers[l2].team_id);
            a.null();
            a.text(reason);
            a.ts(when);
            a.end_row();
        }
    }

    for s in &story.stages {
        let sc = &mut b.stage_changes;
        sc.uuid(id);
        sc.opt_text(s.from.map(|f| STAGES[f]));
        sc.text(STAGES[s.to]);
        let who = if s.from.is_none() { None } else { lo_id(owner(s.at)) };
        sc.opt_uuid(who);
        sc.opt_uuid(who);
        sc.opt_text(s.lost_reason);
        sc.text("seed");
        sc.ts(s.at);
        sc.end_row();
    }

    for a in &story.activities {
        let ac = &mut b.activities;
        ac.uuid(id);
        ac.opt_uuid(lo_id(owner(a.at)));
        ac.text(a.kind);
        ac.opt_text(a.direction);
        ac.opt_text(a.outcome);
        ac.int(a.talk);
        ac.text(a.body);
        ac.ts(a.at);
        ac.ts(a.at);
        ac.end_row();
    }

    for t in &story.tasks {
        let tk = &mut b.tasks;
        tk.uuid(id);
        // An open callback belongs to whoever owns the lead now.
        tk.opt_uuid(lo_id(if t.done.is_some() { owner(t.created) } else { final_lo }));
        tk.text("callback");
        tk.text(t.title);
        tk.ts(t.due);
        tk.opt_ts(t.done);
        tk.ts(t.created);
        tk.end_row();
    }
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

/// Works one assigned lead from `assigned` until it exits or `now`: call attempts until contact, then the
/// pipeline with its drop-offs. Returns the final stage and whether a rate was quoted.
#[allow(clippy::too_many_arguments)]
fn work_lead(
    rng: &mut ChaCha8Rng,
    d: &Dists,
    story: &mut Story,
    source: &catalog::SourceInfo,
    skill: f64,
    slowness: f64,
    assigned: i64,
    now: i64,
    force_contact: bool,
) -> (usize, bool) {
    let reachable = force_contact || rng.gen_bool((source.contact * skill).min(0.98));
    let speed_secs = (lognormal(rng, 12.0 * MIN as f64 * slowness, 1.2) as i64).clamp(30, 3 * DAY);
    // A demo callback lead was reached soon after it arrived, whatever the hour.
    let mut t = if force_contact {
        assigned + rng.gen_range(5 * MIN..2 * HOUR)
    } else {
        business_time(rng, assigned + speed_secs)
    };
    let fast = t - assigned <= 5 * MIN;
    let attempts = 5 + rng.gen_range(0..5);
    let mut contacted_at = None;
    let mut last = assigned;
    for k in 0..attempts {
        if t > now {
            return (NEW, false);
        }
        let p = match (reachable, force_contact, k) {
            (_, true, _) => 1.0,
            (false, _, _) => 0.0,
            (true, _, 0) if fast => 0.55,
            (true, _, 0) => 0.38,
            _ => 0.3,
        };
        if rng.gen_bool(p) {
            let talk = (lognormal(rng, 420.0, 0.7) as i64).clamp(60, 3600);
            story.activities.push(call(t, "outbound", "contacted", talk, ""));
            contacted_at = Some(t + talk);
            break;
        }
        let r: f64 = rng.r#gen();
        if !reachable && r < 0.03 {
            story.activities.push(call(t, "outbound", "bad_number", 0, ""));
            let at = t + rng.gen_range(MIN..30 * MIN);
            if at <= now {
                story.stages.push(StageChange { at, from: Some(NEW), to: LOST, lost_reason: Some("no_contact") });
                return (LOST, false);
            }
            return (NEW, false);
        }
        if r > 0.995 {
            story.activities.push(call(t, "outbound", "do_not_call", rng.gen_range(5..40), ""));
            story.opt_out = Some(t + 60);
            let at = t + rng.gen_range(MIN..20 * MIN);
            if at <= now {
                story.stages.push(StageChange { at, from: Some(NEW), to: LOST, lost_reason: Some("other") });
                return (LOST, false);
            }
            return (NEW, false);
        }
        if r < 0.45 {
            story.activities.push(call(t, "outbound", "voicemail", rng.gen_range(20..50), ""));
        } else {
            story.activities.push(call(t, "outbound", "no_answer", 0, ""));
        }
        last = t;
        if rng.gen_bool(0.6) && t + MIN <= now {
            story.activities.push(message("text", "outbound", t + MIN, pick(rng, catalog::TEXT_BODIES)));
        }
        if rng.gen_bool(0.35) && t + 3 * MIN <= now {
            story.activities.push(message("email", "outbound", t + 3 * MIN, pick(rng, catalog::EMAIL_BODIES)));
        }
        if reachable && rng.gen_bool(0.15) {
            // The borrower calls back.
            let back = t + rng.gen_range(20 * MIN..20 * HOUR);
            if back > now {
                return (NEW, false);
            }
            let talk = (lognormal(rng, 480.0, 0.7) as i64).clamp(60, 3600);
            story.activities.push(call(back, "inbound", "contacted", talk, ""));
            contacted_at = Some(back + talk);
            break;
        }
        let gap = if k == 0 { rng.gen_range(20 * MIN..4 * HOUR) } else { rng.gen_range(DAY..3 * DAY) };
        t = business_time(rng, t + gap);
    }
    let Some(mut t) = contacted_at else {
        // Never reached: closed out after the last attempt, or still being chased.
        let wait = rng.gen_range(DAY..10 * DAY);
        let at = business_time(rng, last + wait);
        if at > now {
            return (NEW, false);
        }
        let (to, reason) = if rng.gen_bool(0.3) { (NURTURE, None) } else { (LOST, Some("no_contact")) };
        story.stages.push(StageChange { at, from: Some(NEW), to, lost_reason: reason });
        return (to, false);
    };
    t += MIN;
    if t > now {
        return (NEW, false);
    }
    story.stages.push(StageChange { at: t, from: Some(NEW), to: CONTACTED, lost_reason: None });
    if rng.gen_bool(0.7) {
        story.activities.push(note(t + MIN, pick(rng, catalog::CALL_NOTES)));
    }
    if force_contact {
        let due = now + rng.gen_range(-3 * HOUR..5 * HOUR);
        story.tasks.push(Task { created: t, due: due.max(t + HOUR), done: None, title: "Call back" });
        return (CONTACTED, false);
    }

    let conv = source.conversion.sqrt() * skill;
    // (success chance, gap in hours (min, max)) for each move from `stage` to the next.
    let steps: [(f64, (i64, i64)); 6] = [
        ((0.30 * conv).min(0.95), (4, 6 * 24)),
        ((0.40 * conv).min(0.95), (24, 14 * 24)),
        (0.80, (24, 5 * 24)),
        (0.90, (2 * 24, 7 * 24)),
        (0.82, (5 * 24, 20 * 24)),
        (0.95, (3 * 24, 10 * 24)),
    ];
    let mut stage = CONTACTED;
    let mut quoted = false;
    for (i, &(p, (lo, hi))) in steps.iter().enumerate() {
        let gap = rng.gen_range(lo * HOUR..hi * HOUR);
        let next = business_time(rng, t + gap);
        // Work in between: calls, emails, texts, notes.
        let touches = 1 + rng.gen_range(0..4);
        let mut prev = t;
        for j in 0..touches {
            let at = business_time(rng, t + gap * (j + 1) / (touches + 1));
            if at > now || at >= next {
                break;
            }
            let r: f64 = rng.r#gen();
            if r < 0.45 {
                let talk = (lognormal(rng, 360.0, 0.8) as i64).clamp(30, 3600);
                story.activities.push(call(at, "outbound", "contacted", talk, ""));
                if rng.gen_bool(0.5) {
                    story.tasks.push(Task { created: prev, due: at, done: Some(at), title: "Call back" });
                }
            } else if r < 0.7 {
                let dir = if rng.gen_bool(0.3) { "inbound" } else { "outbound" };
                story.activities.push(message("email", dir, at, pick(rng, catalog::EMAIL_BODIES)));
            } else if r < 0.85 {
                let dir = if rng.gen_bool(0.4) { "inbound" } else { "outbound" };
                story.activities.push(message("text", dir, at, pick(rng, catalog::TEXT_BODIES)));
            } else {
                story.activities.push(note(at, pick(rng, catalog::NOTES)));
            }
            prev = at;
        }
        if next > now {
            // Still in flight: the LO has a callback on the books (some already overdue).
            if stage < FUNDED && rng.gen_bool(0.7) {
                let due = (now + rng.gen_range(-36 * HOUR..4 * DAY)).max(prev + HOUR);
                story.tasks.push(Task { created: prev, due, done: None, title: "Follow up" });
            }
            return (stage, quoted);
        }
        if rng.gen_bool(p) {
            story.stages.push(StageChange { at: next, from: Some(stage), to: stage + 1, lost_reason: None });
            stage += 1;
            if stage >= PREQUALIFIED {
                quoted = true;
            }
            t = next;
        } else {
            let nurture_p = match stage {
                CONTACTED => 0.35,
                PREQUALIFIED => 0.25,
                _ => 0.05,
            };
            let (to, reason) = if rng.gen_bool(nurture_p) {
                (NURTURE, None)
            } else if i < 2 {
                (LOST, Some(catalog::LOST_EARLY[d.lost_early.sample(rng)].0))
            } else {
                (LOST, Some(catalog::LOST_LATE[d.lost_late.sample(rng)].0))
            };
            story.stages.push(StageChange { at: next, from: Some(stage), to, lost_reason: reason });
            return (to, quoted);
        }
    }
    (stage, quoted)
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
