//! One simulated lead: where and when it arrives, who the borrower is, who it is routed to, how it is worked
//! (`work.rs`), and its COPY rows. The order in which it draws from the generators is part of the seed's
//! contract (the same seed gives the same branch), so each step below draws exactly what it always did.

use super::*;

/// Everything decided about one lead before its rows are written.
#[derive(Clone, Copy)]
struct Lead {
    id: Uuid,
    source: &'static catalog::SourceInfo,
    st: &'static catalog::StateInfo,
    state: usize,
    created: i64,
    first: &'static str,
    last: &'static str,
    email_n: i32,
    domain: &'static str,
    has_email: bool,
    has_phone: bool,
    area: u16,
    line: u32,
    zip: u32,
    purpose: &'static str,
    credit: &'static str,
    occupancy: &'static str,
    property_type: &'static str,
    value: i64,
    amount: i64,
    rate: i64,
    campaign: &'static str,
    /// The LO routing chose, when it was, and a later reassignment (when, to whom, why).
    lo1: Option<usize>,
    assigned_at: Option<i64>,
    reassign: Option<(i64, usize, &'static str)>,
    stage: usize,
    quoted: bool,
    last_event: i64,
}

impl Lead {
    /// Who owned the lead at `t`.
    fn owner(&self, t: i64) -> Option<usize> {
        match self.reassign {
            Some((when, l2, _)) if t >= when => Some(l2),
            _ => self.lo1,
        }
    }
}

fn lo_id(roster: &Roster, l: Option<usize>) -> Option<Uuid> {
    l.map(|l| roster.officers[l].id)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn one_lead(
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
    let state = where_from(roster, scenario, rng);
    // When it arrived.
    let created = match scenario {
        Scenario::History => arrival(rng, now, plan.history_days),
        Scenario::Fresh(_) => now - rng.gen_range(5 * MIN..170 * MIN),
        Scenario::CallbackDue(_) => now - rng.gen_range(DAY..6 * DAY),
        Scenario::Unassigned => now - rng.gen_range(2 * MIN..110 * MIN),
    };
    let mut lead = borrower(d, source, state, created, id, rng);
    route(&mut lead, roster, d, scenario, now, rng);
    work(&mut lead, roster, d, scenario, story, now, rng);
    // The reassignment only stands if it happened while the lead was still being worked.
    lead.last_event =
        story.activities.iter().map(|a| a.at).chain(story.stages.iter().map(|s| s.at)).max().unwrap_or(created);
    let closed = matches!(lead.stage, FUNDED | LOST | NURTURE);
    if let Some((when, _, _)) = lead.reassign {
        if closed && when > lead.last_event {
            lead.reassign = None;
        }
    }
    write_lead_row(&lead, plan, roster, story, ids, scratch, b);
    write_history_rows(&lead, roster, story, rng, ids, scratch, b);
}

/// Where: a state an LO is licensed in (nearly always), weighted by population.
fn where_from(roster: &Roster, scenario: Scenario, rng: &mut ChaCha8Rng) -> usize {
    let forced_lo = match scenario {
        Scenario::Fresh(l) | Scenario::CallbackDue(l) => Some(l),
        _ => None,
    };
    match forced_lo {
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
    }
}

/// Who the borrower is and what they want.
fn borrower(
    d: &Dists,
    source: &'static catalog::SourceInfo,
    state: usize,
    created: i64,
    id: Uuid,
    rng: &mut ChaCha8Rng,
) -> Lead {
    let st = &STATES[state];
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
    Lead {
        id,
        source,
        st,
        state,
        created,
        first,
        last,
        email_n,
        domain,
        has_email,
        has_phone,
        area,
        line,
        zip,
        purpose,
        credit,
        occupancy,
        property_type,
        value,
        amount,
        rate,
        campaign,
        lo1: None,
        assigned_at: None,
        reassign: None,
        stage: NEW,
        quoted: false,
        last_event: created,
    }
}

/// Routing: the LO it went to (none for the queue) and, now and then, a later reassignment.
fn route(lead: &mut Lead, roster: &Roster, d: &Dists, scenario: Scenario, now: i64, rng: &mut ChaCha8Rng) {
    let (state, created) = (lead.state, lead.created);
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
    (lead.lo1, lead.assigned_at, lead.reassign) = (lo1, assigned_at, reassign);
}

/// How the lead was worked: by its LO (`work_lead`) or, with no licensed LO, closed out by a manager.
fn work(
    lead: &mut Lead,
    roster: &Roster,
    d: &Dists,
    scenario: Scenario,
    story: &mut Story,
    now: i64,
    rng: &mut ChaCha8Rng,
) {
    let (lo1, assigned_at, created, source) = (lead.lo1, lead.assigned_at, lead.created, lead.source);
    story.stages.push(StageChange { at: created, from: None, to: NEW, lost_reason: None });
    let mut stage = NEW;
    let mut quoted = false;
    match (lo1, assigned_at) {
        (Some(l1), Some(at)) if !matches!(scenario, Scenario::Fresh(_)) => {
            let skill = roster.skill[l1];
            let slowness = roster.slowness[l1];
            let force_contact = matches!(scenario, Scenario::CallbackDue(_));
            let (s, q) = super::work::work_lead(rng, d, story, source, skill, slowness, at, now, force_contact);
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
    (lead.stage, lead.quoted) = (stage, quoted);
}

/// The lead's own row.
fn write_lead_row(
    lead: &Lead,
    plan: &Plan,
    roster: &Roster,
    story: &Story,
    ids: &mut ChaCha8Rng,
    scratch: &mut String,
    b: &mut Batch,
) {
    let Lead {
        id,
        source,
        st,
        created,
        first,
        last,
        email_n,
        domain,
        has_email,
        has_phone,
        area,
        line,
        zip,
        purpose,
        credit,
        occupancy,
        property_type,
        value,
        amount,
        rate,
        campaign,
        assigned_at,
        reassign,
        stage,
        quoted,
        last_event,
        ..
    } = *lead;
    let final_lo = lead.owner(i64::MAX);
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
    l.opt_uuid(lo_id(roster, final_lo));
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
}

/// Its consent, opt-out, assignments, stage changes, activities and tasks.
fn write_history_rows(
    lead: &Lead,
    roster: &Roster,
    story: &Story,
    rng: &mut ChaCha8Rng,
    ids: &mut ChaCha8Rng,
    scratch: &mut String,
    b: &mut Batch,
) {
    let Lead { id, source, created, campaign, lo1, assigned_at, reassign, .. } = *lead;
    let owner = |t: i64| lead.owner(t);
    let final_lo = lead.owner(i64::MAX);
    let lo_id = |l: Option<usize>| lo_id(roster, l);
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
