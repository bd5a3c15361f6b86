//! How an LO works one assigned lead: call attempts until the borrower is reached (or the lead is closed
//! out), then the pipeline with its drop-offs and the touches in between.

use super::*;

/// How the call attempts ended: the borrower was reached at a time, or the lead ended (or waits) in a stage.
enum Reached {
    At(i64),
    Ended(usize),
}

/// Works one assigned lead from `assigned` until it exits or `now`: call attempts until contact, then the
/// pipeline with its drop-offs. Returns the final stage and whether a rate was quoted.
#[allow(clippy::too_many_arguments)]
pub(super) fn work_lead(
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
    match reach(rng, story, source, skill, slowness, assigned, now, force_contact) {
        Reached::At(t) => pipeline(rng, d, story, source, skill, t, now, force_contact),
        Reached::Ended(stage) => (stage, false),
    }
}

/// The call attempts (with texts, emails and the odd call back) until contact, a bad number, an opt-out or
/// the end of the chase.
#[allow(clippy::too_many_arguments)]
fn reach(
    rng: &mut ChaCha8Rng,
    story: &mut Story,
    source: &catalog::SourceInfo,
    skill: f64,
    slowness: f64,
    assigned: i64,
    now: i64,
    force_contact: bool,
) -> Reached {
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
            return Reached::Ended(NEW);
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
                return Reached::Ended(LOST);
            }
            return Reached::Ended(NEW);
        }
        if r > 0.995 {
            story.activities.push(call(t, "outbound", "do_not_call", rng.gen_range(5..40), ""));
            story.opt_out = Some(t + 60);
            let at = t + rng.gen_range(MIN..20 * MIN);
            if at <= now {
                story.stages.push(StageChange { at, from: Some(NEW), to: LOST, lost_reason: Some("other") });
                return Reached::Ended(LOST);
            }
            return Reached::Ended(NEW);
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
                return Reached::Ended(NEW);
            }
            let talk = (lognormal(rng, 480.0, 0.7) as i64).clamp(60, 3600);
            story.activities.push(call(back, "inbound", "contacted", talk, ""));
            contacted_at = Some(back + talk);
            break;
        }
        let gap = if k == 0 { rng.gen_range(20 * MIN..4 * HOUR) } else { rng.gen_range(DAY..3 * DAY) };
        t = business_time(rng, t + gap);
    }
    let Some(t) = contacted_at else {
        // Never reached: closed out after the last attempt, or still being chased.
        let wait = rng.gen_range(DAY..10 * DAY);
        let at = business_time(rng, last + wait);
        if at > now {
            return Reached::Ended(NEW);
        }
        let (to, reason) = if rng.gen_bool(0.3) { (NURTURE, None) } else { (LOST, Some("no_contact")) };
        story.stages.push(StageChange { at, from: Some(NEW), to, lost_reason: reason });
        return Reached::Ended(to);
    };
    Reached::At(t)
}

/// From contact on: contacted, then each move up the pipeline or out of it.
#[allow(clippy::too_many_arguments)]
fn pipeline(
    rng: &mut ChaCha8Rng,
    d: &Dists,
    story: &mut Story,
    source: &catalog::SourceInfo,
    skill: f64,
    mut t: i64,
    now: i64,
    force_contact: bool,
) -> (usize, bool) {
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
        let prev = touches(rng, story, t, gap, next, now);
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

/// Work between two moves: calls, emails, texts, notes. Returns the time of the last one (or `t`).
fn touches(rng: &mut ChaCha8Rng, story: &mut Story, t: i64, gap: i64, next: i64, now: i64) -> i64 {
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
    prev
}
