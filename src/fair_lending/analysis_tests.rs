//! Unit tests of the stratified comparison: a hand-computed case, generated data with and without a planted
//! disparity, a tiny sample, and a difference that the cells of similar loans explain.

use super::*;

const WHITE: Probs = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
const HISPANIC: Probs = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
/// BISG-like posteriors: mostly one group, some weight elsewhere.
const LIKELY_WHITE: Probs = [0.9, 0.04, 0.01, 0.01, 0.01, 0.03];
const LIKELY_HISPANIC: Probs = [0.07, 0.01, 0.01, 0.0, 0.01, 0.9];

fn request(cell: &str, race: Probs, granted: bool, bps: i32) -> Request {
    Request {
        id: Uuid::new_v4(),
        filed_on: chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        lo_id: Uuid::nil(),
        lo: "Lee Officer".into(),
        approver_id: None,
        approver: "—".into(),
        team_id: None,
        team: "—".into(),
        cell: cell.into(),
        granted,
        granted_bps: if granted { bps } else { 0 },
        granted_cents: if granted { i64::from(bps) * 40_000 } else { 0 },
        race,
        race_source: RaceSource::Bisg,
        sex: None,
    }
}

/// `n` requests of `race` in `cell`, the first `granted` of them granted at `bps`.
fn batch(out: &mut Vec<Request>, cell: &str, race: Probs, n: usize, granted: usize, bps: i32) {
    for i in 0..n {
        // Concessions vary by ±5 bps around `bps` so the variance is not zero.
        out.push(request(cell, race, i < granted, bps + (i % 3) as i32 * 5 - 5));
    }
}

const HISP: Side = Side::Race(Group::Hispanic);
const REF: Side = Side::Race(Group::White);

#[test]
fn the_pooled_difference_matches_a_hand_computation() {
    // Cell A: the group 2 of 4 granted, the reference 3 of 4; cell B: the group 1 of 2, the reference 4 of 4.
    // By hand: d_A = −0.25, W_A = 4·4/8 = 2; d_B = −0.5, W_B = 2·4/6 = 4/3; D = (2·−0.25 + 4/3·−0.5)/(10/3)
    // = −0.35. Pooled variances: A p = 5/8, s² = 5/8·3/8·8/7 = 0.267857, var = s²·(1/4 + 1/4) = 0.133929;
    // B p = 5/6, s² = 5/36·6/5 = 1/6, var = 1/6·(1/2 + 1/4) = 0.125. Var D = (4·0.133929 + 16/9·0.125)/(10/3)²
    // = 0.068214, SE = 0.261179, z = −1.340079, p = erfc(1.340079/√2) = 0.180220,
    // CI = −0.35 ± 1.959964·0.261179 = [−0.861901, 0.161901] (python3's math.erfc).
    let mut rs = Vec::new();
    for (cell, g, r) in [("A", [true, true, false, false], [true, true, true, false])] {
        for x in g {
            rs.push(request(cell, HISPANIC, x, 10));
        }
        for x in r {
            rs.push(request(cell, WHITE, x, 10));
        }
    }
    for x in [true, false] {
        rs.push(request("B", HISPANIC, x, 10));
    }
    for _ in 0..4 {
        rs.push(request("B", WHITE, true, 10));
    }
    let all: Vec<&Request> = rs.iter().collect();
    let c = compare(&all, HISP, REF, Outcome::GrantRate);
    let near = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-5, "{a:?} vs {b}");
    near(c.difference, -0.35);
    near(c.p_value, 0.180_220);
    near(c.ci_low, -0.861_901);
    near(c.ci_high, 0.161_901);
    assert_eq!((c.n_group, c.n_reference, c.cells, c.requests), (6.0, 8.0, 2, 14));
    // Raw (unadjusted) rates: 3 of 6 and 7 of 8.
    near(c.raw_group, 0.5);
    near(c.raw_reference, 0.875);
    assert!(!c.flagged, "6 and 8 requests are too few to flag anything");
    assert!(c.note.contains("too few"));
}

/// Four cells of similar loans, 40 requests of each group in each.
fn generated(hisp_granted: usize, white_granted: usize, hisp_bps: i32, white_bps: i32) -> Vec<Request> {
    let mut rs = Vec::new();
    for cell in ["720+|≤80%|$200k–399k|purchase|website", "680–719|80–90%|$400k–749k|refinance|referral"]
        .into_iter()
        .chain(["640–679|90–95%|under $200k|purchase|aggregator", "720+|≤80%|$400k–749k|refinance|paid_search"])
    {
        batch(&mut rs, cell, LIKELY_HISPANIC, 40, hisp_granted, hisp_bps);
        batch(&mut rs, cell, LIKELY_WHITE, 40, white_granted, white_bps);
    }
    rs
}

#[test]
fn a_planted_disparity_is_found() {
    // Hispanic-proxied borrowers: 20 of 40 granted per cell at ~15 bps; White-proxied: 32 of 40 at ~25 bps.
    let rs = generated(20, 32, 15, 25);
    let all: Vec<&Request> = rs.iter().collect();
    let rate = compare(&all, HISP, REF, Outcome::GrantRate);
    assert!(rate.flagged, "{rate:?}");
    assert!(rate.p_value.unwrap() < 0.05);
    let d = rate.difference.unwrap();
    // The weighted means mix the groups (each request is 90% one group): the gap shrinks from 30 points but
    // stays well clear of zero, and the interval excludes it.
    assert!(d < -0.15 && d > -0.30, "{d}");
    assert!(rate.ci_high.unwrap() < 0.0);
    assert!(rate.n_group >= MIN_EFFECTIVE_N && rate.n_reference >= MIN_EFFECTIVE_N);
    let bps = compare(&all, HISP, REF, Outcome::AvgBps);
    assert!(bps.flagged, "{bps:?}");
    assert!(bps.difference.unwrap() < -5.0);
    let dollars = compare(&all, HISP, REF, Outcome::AvgDollars);
    assert!(dollars.flagged && dollars.difference.unwrap() < 0.0);
    // The whole run finds it too, and only for the planted group.
    let run = analyse(&rs, Grouping::Overall);
    assert!(run.iter().any(|c| c.flagged && c.group == HISP));
    assert!(run.iter().filter(|c| c.flagged).all(|c| c.group == HISP), "{run:#?}");
}

#[test]
fn equal_treatment_is_not_flagged() {
    let rs = generated(28, 28, 20, 20);
    let run = analyse(&rs, Grouping::Overall);
    assert!(run.iter().all(|c| !c.flagged), "{run:#?}");
    let all: Vec<&Request> = rs.iter().collect();
    let rate = compare(&all, HISP, REF, Outcome::GrantRate);
    assert!(rate.difference.unwrap().abs() < 1e-9);
    assert!((rate.p_value.unwrap() - 1.0).abs() < 1e-9);
    // A favoured group is not a disparity against it.
    let rs = generated(36, 28, 25, 20);
    assert!(analyse(&rs, Grouping::Overall).iter().all(|c| !c.flagged));
}

#[test]
fn a_tiny_sample_is_never_flagged() {
    // "1 of 2 against 3 of 3", and even 0 of 5 against 5 of 5.
    let mut rs = Vec::new();
    batch(&mut rs, "c", HISPANIC, 5, 0, 10);
    batch(&mut rs, "c", WHITE, 5, 5, 30);
    let all: Vec<&Request> = rs.iter().collect();
    for outcome in Outcome::ALL {
        let c = compare(&all, HISP, REF, outcome);
        assert!(!c.flagged, "{c:?}");
    }
    let c = compare(&all, HISP, REF, Outcome::GrantRate);
    assert!(c.p_value.unwrap() < 0.05, "significant, and still too small to flag");
}

#[test]
fn a_gap_explained_by_similar_loans_is_not_flagged() {
    // Most Hispanic-proxied requests sit in a cell where everyone is granted less often; within each cell the
    // groups are treated alike. The raw rates differ by 30 points; the stratified difference is zero.
    let mut rs = Vec::new();
    batch(&mut rs, "low", LIKELY_HISPANIC, 80, 24, 20);
    batch(&mut rs, "low", LIKELY_WHITE, 40, 12, 20);
    batch(&mut rs, "high", LIKELY_HISPANIC, 40, 36, 20);
    batch(&mut rs, "high", LIKELY_WHITE, 80, 72, 20);
    let all: Vec<&Request> = rs.iter().collect();
    let c = compare(&all, HISP, REF, Outcome::GrantRate);
    assert!(c.raw_reference.unwrap() - c.raw_group.unwrap() > 0.15, "{c:?}");
    assert!(c.difference.unwrap().abs() < 1e-9);
    assert!(!c.flagged);
}

#[test]
fn sex_is_compared_where_reported_and_scopes_split_the_requests() {
    let mut rs = generated(20, 32, 15, 25);
    for (i, r) in rs.iter_mut().enumerate() {
        r.sex = Some(if i % 2 == 0 { "female" } else { "male" }.into());
        r.lo_id = if i < 160 { Uuid::from_u128(1) } else { Uuid::from_u128(2) };
        r.lo = if i < 160 { "Avery".into() } else { "Blake".into() };
    }
    let run = analyse(&rs, Grouping::Lo);
    let scopes: std::collections::BTreeSet<&str> = run.iter().map(|c| c.scope_label.as_str()).collect();
    assert_eq!(scopes.into_iter().collect::<Vec<_>>(), ["All requests", "Avery", "Blake"]);
    let female = run.iter().find(|c| c.scope == "all" && c.group == Side::Sex(Sex::Female)).unwrap();
    assert_eq!(female.n_group + female.n_reference, 320.0);
    assert!(!female.flagged, "sex alternates within every batch: {female:?}");
    let behind = requests_behind(&rs, Grouping::Lo, &Uuid::from_u128(2).to_string(), HISP);
    assert_eq!(behind.len(), 160);
    assert!(behind.iter().all(|r| r.lo == "Blake"));
}

#[test]
fn the_normal_tail_is_right() {
    assert!((two_sided_p(1.959_963_984_540_054) - 0.05).abs() < 1e-6);
    assert!((two_sided_p(1.0) - 0.317_310_507_862_914).abs() < 1e-6);
    assert!((two_sided_p(0.0) - 1.0).abs() < 1e-6);
    assert!(two_sided_p(-8.0) < 1e-12);
}
