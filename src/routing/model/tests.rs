//! Unit tests of routing's pure rules: eligibility, working hours, rotations, speed-to-lead windows.

use super::*;
use proptest::prelude::*;

fn all_day() -> WorkHours {
    WorkHours::new(NaiveTime::MIN, NaiveTime::MIN, vec![1, 2, 3, 4, 5, 6, 7], "America/Chicago", Tz::UTC)
}

fn cand(states: &[&str]) -> Candidate {
    Candidate {
        lo_id: Uuid::from_u128(1),
        name: "Maria".into(),
        active: true,
        licensed_states: states.iter().map(|s| s.to_string()).collect(),
        capacity: 50,
        open_leads: 3,
        status: "available".into(),
        hours: all_day(),
        weight: 1,
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn an_available_licensed_lo_with_room_is_eligible() {
    let e = exclusions(&cand(&["TX"]), Some("tx"), Utc::now(), &Checks::default());
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn every_reason_is_reported() {
    let mut c = cand(&["CA"]);
    c.active = false;
    c.open_leads = 50;
    c.status = "away".into();
    c.hours = WorkHours::new(
        NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        vec![1, 2, 3, 4, 5],
        "America/Chicago",
        Tz::UTC,
    );
    // Sunday 2026-11-22 12:00 Chicago.
    let now = at("2026-11-22T18:00:00Z");
    let checks = Checks { working_hours: true, exclude: vec![(c.lo_id, "missed SLA".into())] };
    let msgs: Vec<String> = exclusions(&c, Some("TX"), now, &checks).iter().map(Exclusion::message).collect();
    assert_eq!(
        msgs,
        vec![
            "missed SLA",
            "inactive",
            "not licensed in TX",
            "at capacity (50 of 50 open leads)",
            "status is away",
            "outside working hours"
        ]
    );
}

#[test]
fn working_hours_follow_the_los_time_zone_and_days() {
    let h = WorkHours::new(
        NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        vec![1, 2, 3, 4, 5],
        "America/Los_Angeles",
        Tz::UTC,
    );
    // Monday 2026-11-23: 15:59Z is 07:59 in LA, 16:00Z is 08:00.
    assert!(!h.contains(at("2026-11-23T15:59:00Z")));
    assert!(h.contains(at("2026-11-23T16:00:00Z")));
    assert!(h.contains(at("2026-11-24T01:59:00Z"))); // 17:59 Monday
    assert!(!h.contains(at("2026-11-24T02:00:00Z"))); // 18:00
    assert!(!h.contains(at("2026-11-22T20:00:00Z"))); // Sunday noon
}

#[test]
fn overnight_shifts_wrap_midnight() {
    let h = WorkHours::new(
        NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        vec![1],
        "UTC",
        Tz::UTC,
    );
    assert!(h.contains(at("2026-11-23T23:00:00Z"))); // Monday 23:00
    assert!(h.contains(at("2026-11-24T05:00:00Z"))); // Tuesday 05:00, shift began Monday
    assert!(!h.contains(at("2026-11-24T23:00:00Z"))); // Tuesday night: not a work day
}

#[test]
fn the_sla_clock_runs_only_in_working_hours() {
    let h = WorkHours::new(
        NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        vec![1, 2, 3, 4, 5],
        "UTC",
        Tz::UTC,
    );
    // Inside hours: plain five minutes.
    assert_eq!(h.due_after(at("2026-11-23T10:00:00Z"), 5), at("2026-11-23T10:05:00Z"));
    // Friday 17:58: two minutes today, three on Monday morning.
    assert_eq!(h.due_after(at("2026-11-27T17:58:00Z"), 5), at("2026-11-30T08:03:00Z"));
    // Around the clock.
    assert_eq!(all_day().due_after(at("2026-11-22T03:00:00Z"), 5), at("2026-11-22T03:05:00Z"));
}

#[test]
fn rule_filters_match_on_every_field() {
    let lead = LeadFacts {
        source: "zillow".into(),
        campaign: Some("fall".into()),
        state: Some("TX".into()),
        purpose: Some("refinance".into()),
        amount_cents: Some(40_000_000),
        credit_band: Some("740+".into()),
        zip: Some("75201".into()),
    };
    assert!(RuleFilters::default().matches(&lead));
    let f = RuleFilters {
        sources: vec!["Zillow".into()],
        states: vec!["TX".into(), "OK".into()],
        min_amount_cents: Some(30_000_000),
        max_amount_cents: Some(50_000_000),
        zip_prefixes: vec!["752".into()],
        ..Default::default()
    };
    assert!(f.matches(&lead));
    assert!(!RuleFilters { states: vec!["CA".into()], ..Default::default() }.matches(&lead));
    assert!(!RuleFilters { min_amount_cents: Some(50_000_000), ..Default::default() }.matches(&lead));
    assert!(!RuleFilters { zip_prefixes: vec!["770".into()], ..Default::default() }.matches(&lead));
    assert!(!RuleFilters { purposes: vec!["purchase".into()], ..Default::default() }.matches(&lead));
    let no_amount = LeadFacts { amount_cents: None, ..lead };
    assert!(!RuleFilters { min_amount_cents: Some(1), ..Default::default() }.matches(&no_amount));
}

fn slots(weights: &[i64]) -> Vec<Slot> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| Slot {
            lo_id: Uuid::from_u128(i as u128 + 1),
            weight: *w,
            credit: 0,
            last_seq: 0,
            era: 0,
            last_assigned: -1,
        })
        .collect()
}

#[test]
fn equal_weights_alternate() {
    let mut s = slots(&[1, 1]);
    let picks: Vec<usize> = (1..=6).map(|seq| take_turn(&mut s, seq).unwrap()).collect();
    assert_eq!(picks, vec![0, 1, 0, 1, 0, 1]);
}

#[test]
fn weights_five_one_one_follow_nginx_order() {
    let mut s = slots(&[5, 1, 1]);
    let picks: Vec<usize> = (1..=7).map(|seq| take_turn(&mut s, seq).unwrap()).collect();
    assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn nobody_with_weight_means_no_choice() {
    assert_eq!(take_turn(&mut [], 1), None);
    assert_eq!(take_turn(&mut slots(&[0, 0]), 1), None);
}

#[test]
fn an_lo_back_from_time_off_gets_no_burst() {
    // A, B, C share leads; C is away for 30 decisions, then returns.
    let mut all = slots(&[1, 1, 1]);
    let mut counts = [0i64; 3];
    let mut seq = 0;
    for _ in 0..30 {
        seq += 1;
        let i = take_turn(&mut all, seq).unwrap();
        counts[i] += 1;
    }
    // C away: only A and B are eligible (C's slot is left untouched, as in the store).
    for _ in 0..30 {
        seq += 1;
        let mut ab = vec![all[0].clone(), all[1].clone()];
        let i = take_turn(&mut ab, seq).unwrap();
        counts[i] += 1;
        all[0] = ab[0].clone();
        all[1] = ab[1].clone();
    }
    assert_eq!(counts, [25, 25, 10]);
    // C is back: over the next 9 leads everyone gets 3 — no catch-up burst for C.
    let mut next = [0i64; 3];
    for _ in 0..9 {
        seq += 1;
        next[take_turn(&mut all, seq).unwrap()] += 1;
    }
    assert_eq!(next, [3, 3, 3]);
}

#[test]
fn quota_method_alternates_and_gives_a_returning_lo_no_burst() {
    let mut s = slots(&[1, 1]);
    let picks: Vec<usize> = (1..=6).map(|seq| take_quota_turn(&mut s, seq).unwrap()).collect();
    assert_eq!(picks, vec![0, 1, 0, 1, 0, 1]);
    let mut w = slots(&[5, 1, 1]);
    let mut counts = [0i64; 3];
    for seq in 1..=7 {
        counts[take_quota_turn(&mut w, seq).unwrap()] += 1;
    }
    assert_eq!(counts, [5, 1, 1]);
    // A, B, C share; C is away for 30 decisions, then returns: the next 9 leads go 3, 3, 3.
    let mut all = slots(&[1, 1, 1]);
    let mut seq = 0;
    for _ in 0..30 {
        seq += 1;
        take_quota_turn(&mut all, seq).unwrap();
    }
    for _ in 0..30 {
        seq += 1;
        let mut ab = vec![all[0].clone(), all[1].clone()];
        take_quota_turn(&mut ab, seq).unwrap();
        all[0] = ab[0].clone();
        all[1] = ab[1].clone();
    }
    let mut next = [0i64; 3];
    for _ in 0..9 {
        seq += 1;
        next[take_quota_turn(&mut all, seq).unwrap()] += 1;
    }
    assert_eq!(next, [3, 3, 3]);
    assert_eq!(take_quota_turn(&mut [], 1), None);
    assert_eq!(take_quota_turn(&mut slots(&[0, 0]), 1), None);
}

#[test]
fn performance_weight_rewards_conversion_with_a_prior() {
    assert_eq!(performance_weight(1, 0, 0), 100);
    assert_eq!(performance_weight(1, 90, 19), 200);
    assert_eq!(performance_weight(2, 90, 19), 400);
    assert_eq!(performance_weight(0, 90, 19), 0);
}

#[test]
fn cadence_default_is_the_researched_schedule() {
    let c = Cadence::default();
    assert_eq!(c.attempts.len(), 8);
    assert_eq!(c.attempts[3], (1440, 2880));
    assert!(c.validate().is_ok());
    let bad = Cadence { attempts: vec![(30, 60), (10, 20)], max_voicemails: 2 };
    assert!(bad.validate().is_err());
    assert_eq!(Cadence::from_setting(Some(&serde_json::json!({"nonsense": 1}))), Cadence::default());
    assert_eq!(c.task_title(0, 0), "Call attempt 1 of 8 — voicemail allowed");
    assert_eq!(c.task_title(4, 2), "Call attempt 5 of 8 — no voicemail (limit reached)");
}

#[test]
fn cadence_windows_round_trip() {
    assert_eq!(parse_windows("0-5, 30-60,1440"), Ok(vec![(0, 5), (30, 60), (1440, 1440)]));
    assert!(parse_windows("soon").is_err());
    assert_eq!(format_windows(&Cadence::default().attempts[..2]), "0-5, 30-60");
}

#[test]
fn lists_are_trimmed_and_deduplicated() {
    assert_eq!(parse_list(" tx, ca ,,TX", true), vec!["TX", "CA"]);
}

proptest! {
    /// With a fixed eligible set, every LO is within one lead of its weighted share after every decision
    /// (round robin and weighted round robin use the quota method).
    #[test]
    fn every_lo_gets_its_weighted_share_within_one_lead(
        weights in proptest::collection::vec(1i64..=10, 1..8),
        n in 1usize..400,
    ) {
        // The quota method (round robin, weighted round robin): within one lead at every step.
        let mut s = slots(&weights);
        let total: i64 = weights.iter().sum();
        let mut counts = vec![0i64; weights.len()];
        for seq in 1..=n as i64 {
            let i = take_quota_turn(&mut s, seq).unwrap();
            counts[i] += 1;
            for (j, w) in weights.iter().enumerate() {
                let share = seq as f64 * *w as f64 / total as f64;
                prop_assert!((counts[j] as f64 - share).abs() < 1.0,
                    "after {} leads LO {} has {} but its share is {:.2}", seq, j, counts[j], share);
                if seq % total == 0 {
                    prop_assert_eq!(counts[j], seq / total * *w);
                }
            }
        }
    }

    /// Whatever LOs come and go, each stretch with the same eligible LOs keeps every one of them within one
    /// lead of its weighted share of that stretch, and a returning LO gets no burst.
    #[test]
    fn quota_holds_over_every_stretch_of_the_same_eligible_set(
        weights in proptest::collection::vec(1i64..=6, 2..6),
        plan in proptest::collection::vec((0usize..6, 1usize..40), 1..6),
    ) {
        let mut all = slots(&weights);
        let mut seq = 0;
        for (away, len) in plan {
            let away = away % (weights.len() + 1); // == len means nobody is away
            let members: Vec<usize> = (0..weights.len()).filter(|i| *i != away).collect();
            let total: i64 = members.iter().map(|i| weights[*i]).sum();
            let mut counts = vec![0i64; weights.len()];
            for k in 1..=len as i64 {
                seq += 1;
                let mut group: Vec<Slot> = members.iter().map(|i| all[*i].clone()).collect();
                let g = take_quota_turn(&mut group, seq).unwrap();
                counts[members[g]] += 1;
                for (slot, i) in group.into_iter().zip(&members) {
                    all[*i] = slot;
                }
                for i in &members {
                    let share = k as f64 * weights[*i] as f64 / total as f64;
                    // The first stretch after someone leaves carries the others' counts, so allow the one
                    // lead of slack that a departure can leave behind.
                    prop_assert!((counts[*i] as f64 - share).abs() < 2.0,
                        "LO {} has {} of {} leads in this stretch, share {:.2}", i, counts[*i], k, share);
                }
            }
        }
    }

    /// Smooth weighted round robin (availability-first, performance-weighted) is exact at every full
    /// cycle of the weights, and in between no LO drifts a whole lead per LO from its share. (It is NOT
    /// always within one lead mid-cycle: weights [9,9,3,1,3,9,9] after 24 leads give an LO 4 against a
    /// share of 5.02; proptest found that, hence the quota method for round robin.)
    #[test]
    fn smooth_weighted_round_robin_is_exact_every_cycle(
        weights in proptest::collection::vec(1i64..=10, 1..8),
        n in 1usize..400,
    ) {
        let mut s = slots(&weights);
        let total: i64 = weights.iter().sum();
        let mut counts = vec![0i64; weights.len()];
        for seq in 1..=n as i64 {
            let i = take_turn(&mut s, seq).unwrap();
            counts[i] += 1;
            for (j, w) in weights.iter().enumerate() {
                let share = seq as f64 * *w as f64 / total as f64;
                if seq % total == 0 {
                    prop_assert_eq!(counts[j], seq / total * *w, "after {} leads LO {} is off its exact share", seq, j);
                }
                prop_assert!((counts[j] as f64 - share).abs() < weights.len() as f64,
                    "after {} leads LO {} has {} but its share is {:.2}", seq, j, counts[j], share);
            }
        }
    }

    /// Whatever the eligible set does over time, an LO who rejoins never receives more than its share plus
    /// one over any later stretch of the same eligible set.
    #[test]
    fn rejoining_never_brings_a_burst(
        away in proptest::collection::vec(proptest::bool::ANY, 3..60),
        tail in 3usize..60,
    ) {
        let mut all = slots(&[1, 1, 1]);
        let mut seq = 0;
        for &c_away in &away {
            seq += 1;
            if c_away {
                let mut ab = vec![all[0].clone(), all[1].clone()];
                take_turn(&mut ab, seq).unwrap();
                all[0] = ab[0].clone();
                all[1] = ab[1].clone();
            } else {
                take_turn(&mut all, seq).unwrap();
            }
        }
        let mut c = 0i64;
        for k in 1..=tail as i64 {
            seq += 1;
            if take_turn(&mut all, seq).unwrap() == 2 { c += 1; }
            prop_assert!(c as f64 <= k as f64 / 3.0 + 1.0 + 1e-9, "{} of {} leads", c, k);
        }
    }
}
