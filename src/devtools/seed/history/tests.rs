//! Unit tests of the history generator.

use super::*;

fn roster() -> Roster {
    let officers = (0..6)
        .map(|i| LoanOfficer {
            id: Uuid::from_u128(i as u128 + 1),
            team_id: Some(Uuid::from_u128(100 + (i / 3) as u128)),
            states: vec![catalog::state_index("TX").unwrap(), catalog::state_index(["CA", "FL", "NY"][i % 3]).unwrap()],
            routing_weight: 1 + i as u32 % 2,
        })
        .collect();
    Roster::new(officers, 7)
}

fn plan(seed: u64) -> Plan {
    Plan {
        seed,
        leads: 3_000,
        now: 1_795_000_000,
        history_days: 395,
        pipeline_id: Uuid::from_u128(1),
        fresh_per_lo: 1,
        callbacks_per_lo: 1,
        unassigned: 4,
    }
}

#[test]
fn the_same_seed_gives_the_same_rows() {
    let r = roster();
    let a = generate_batch(&plan(9), &r, 0, &mut ChaCha8Rng::seed_from_u64(1));
    let b = generate_batch(&plan(9), &r, 0, &mut ChaCha8Rng::seed_from_u64(1));
    let c = generate_batch(&plan(10), &r, 0, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(a.activities.bytes, b.activities.bytes);
    assert_eq!(a.leads.bytes, b.leads.bytes);
    assert_ne!(a.leads.bytes, c.leads.bytes);
    assert_eq!(a.leads.rows, 3_000);
}

#[test]
fn histories_look_like_a_mortgage_funnel() {
    let r = roster();
    let b = generate_batch(&plan(3), &r, 0, &mut ChaCha8Rng::seed_from_u64(1));
    let s = b.by_stage;
    let total: u64 = s.iter().sum();
    assert_eq!(total, 3_000);
    // Most leads are closed out; a few percent fund; lost outnumbers funded.
    assert!(s[LOST] > s[FUNDED] * 3, "{s:?}");
    assert!(s[FUNDED] > 30 && s[FUNDED] < 400, "{s:?}");
    assert!(s[NURTURE] > 100, "{s:?}");
    let per_lead = b.activities.rows as f64 / total as f64;
    assert!((6.0..16.0).contains(&per_lead), "{per_lead} activities per lead");
    // The demo extras: 4 unassigned + 6 fresh are new; 6 callbacks are contacted with an open task.
    assert!(s[NEW] >= 10);
}

#[test]
fn business_time_moves_weekend_calls_to_monday_morning() {
    // 2026-11-21 is a Saturday; noon Central = 18:00 UTC.
    let sat = chrono::DateTime::parse_from_rfc3339("2026-11-21T18:00:00Z").unwrap().timestamp();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = business_time(&mut rng, sat);
    let monday_8 = chrono::DateTime::parse_from_rfc3339("2026-11-23T14:00:00Z").unwrap().timestamp();
    assert!((monday_8..monday_8 + 90 * MIN).contains(&t), "{t}");
    assert_eq!(business_time(&mut rng, monday_8 + HOUR), monday_8 + HOUR);
}
