//! Unit tests of the escalation rules: authority limits, stages, fair-lending checks.

use super::*;

fn user(id: u128, role: Role, teams: Vec<Uuid>) -> CurrentUser {
    CurrentUser {
        id: Uuid::from_u128(id),
        email: "u@x".into(),
        name: "U".into(),
        role,
        team_id: None,
        managed_team_ids: teams,
        originator: role == Role::Lo,
        via_token: false,
        token: None,
    }
}

fn table() -> AuthorityTable {
    AuthorityTable {
        manager_role_bps: Some(Some(25)),
        admin_role_bps: Some(None),
        users: vec![(Uuid::from_u128(50), Level::PricingDesk, Some(100))],
    }
}

fn facts(requester: u128, team: u128, bps: i32) -> RequestFacts {
    RequestFacts {
        requester_id: Uuid::from_u128(requester),
        team_id: Some(Uuid::from_u128(team)),
        concession_bps: bps,
        status: Status::Requested,
        level: table().required_level(bps),
        lead_visible: false,
    }
}

#[test]
fn concession_dollars_from_loan_amount() {
    assert_eq!(concession_cents(40_000_000, 25), 100_000);
    assert_eq!(concession_cents(40_000_000, 50), 200_000);
    assert_eq!(concession_cents(33_333_333, 1), 3_333); // 3333.3333 → 3333
    assert_eq!(concession_cents(33_335_000, 1), 3_334); // 3333.5 rounds half up
    assert_eq!(concession_cents(0, 25), 0);
    assert_eq!(format_dollars(100_000), "$1,000.00");
    assert_eq!(format_dollars(123_456_789), "$1,234,567.89");
    assert_eq!(format_dollars(5), "$0.05");
}

#[test]
fn rates_parse_in_thousandths() {
    assert_eq!(parse_thousandths("6.875"), Some(6875));
    assert_eq!(parse_thousandths("6.5"), Some(6500));
    assert_eq!(parse_thousandths("7"), Some(7000));
    assert_eq!(parse_thousandths("6.8755"), None);
    assert_eq!(parse_thousandths("-1"), None);
    assert_eq!(parse_thousandths("abc"), None);
    assert_eq!(format_thousandths(6625), "6.625");
}

#[test]
fn workflow_moves_forward_only() {
    assert!(may_transition(Status::Requested, Status::InReview));
    assert!(may_transition(Status::InReview, Status::Approved));
    assert!(may_transition(Status::Requested, Status::Countered));
    assert!(may_transition(Status::Approved, Status::Closed));
    assert!(!may_transition(Status::Approved, Status::Denied));
    assert!(!may_transition(Status::Closed, Status::InReview));
    assert!(!may_transition(Status::Denied, Status::Approved));
}

#[test]
fn a_second_decision_is_a_conflict() {
    let e = check_decision(Status::Approved, Decision::Deny, None, 25).unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(check_decision(Status::InReview, Decision::Approve, None, 25).is_ok());
    assert_eq!(check_decision(Status::InReview, Decision::Counter, Some(25), 25).unwrap_err().status(), 422);
    assert_eq!(check_decision(Status::InReview, Decision::Counter, None, 25).unwrap_err().status(), 422);
    assert!(check_decision(Status::InReview, Decision::Counter, Some(15), 25).is_ok());
}

#[test]
fn requester_never_decides_their_own() {
    let t = table();
    let admin = user(1, Role::Admin, vec![]);
    let e = may_decide(&admin, t.authority_of(&admin).as_ref(), &facts(1, 9, 0)).unwrap_err();
    assert_eq!(e.status(), 403);
    let lo = user(2, Role::Lo, vec![]);
    assert_eq!(may_decide(&lo, t.authority_of(&lo).as_ref(), &facts(2, 9, 10)).unwrap_err().status(), 403);
    assert_eq!(may_decide(&lo, t.authority_of(&lo).as_ref(), &facts(3, 9, 10)).unwrap_err().status(), 403);
}

#[test]
fn managers_decide_for_their_teams_up_to_their_limit() {
    let t = table();
    let m = user(3, Role::Manager, vec![Uuid::from_u128(9)]);
    let a = t.authority_of(&m);
    assert!(may_decide(&m, a.as_ref(), &facts(2, 9, 25)).is_ok());
    let e = may_decide(&m, a.as_ref(), &facts(2, 9, 50)).unwrap_err();
    assert!(e.public_message().contains("beyond your approval authority of 25 bps"));
    assert!(may_decide(&m, a.as_ref(), &facts(2, 8, 10)).is_err(), "another team");
    let desk = user(50, Role::Manager, vec![]);
    let d = t.authority_of(&desk);
    assert!(may_decide(&desk, d.as_ref(), &facts(2, 9, 50)).is_ok());
    assert!(may_decide(&desk, d.as_ref(), &facts(2, 9, 150)).is_err());
    let admin = user(1, Role::Admin, vec![]);
    assert!(may_decide(&admin, t.authority_of(&admin).as_ref(), &facts(2, 9, 150)).is_ok());
}

#[test]
fn requests_route_to_the_lowest_tier_that_covers_them() {
    let t = table();
    assert_eq!(t.required_level(0), Level::Manager);
    assert_eq!(t.required_level(25), Level::Manager);
    assert_eq!(t.required_level(26), Level::PricingDesk);
    assert_eq!(t.required_level(101), Level::Admin);
    let no_desk = AuthorityTable { users: vec![], ..table() };
    assert_eq!(no_desk.required_level(50), Level::Admin);
}

#[test]
fn visibility_beyond_the_team_is_for_the_pricing_desk_and_admins() {
    let t = table();
    let other = user(4, Role::Manager, vec![Uuid::from_u128(7)]);
    assert!(!may_see(&other, t.authority_of(&other).as_ref(), &facts(2, 9, 50)));
    let desk = user(50, Role::Manager, vec![]);
    assert!(may_see(&desk, t.authority_of(&desk).as_ref(), &facts(2, 9, 50)));
    assert!(!may_see(&desk, t.authority_of(&desk).as_ref(), &facts(2, 9, 20)), "the team manager's own request");
    assert!(may_decide(&desk, t.authority_of(&desk).as_ref(), &facts(2, 9, 20)).is_err());
    let lo = user(2, Role::Lo, vec![]);
    assert!(may_see(&lo, None, &facts(2, 9, 50)));
}

#[test]
fn sla_clock_counts_down_then_shows_breach() {
    let now = Utc::now();
    let (s, b) = sla_clock(now + chrono::Duration::minutes(200), now);
    assert_eq!((s.as_str(), b), ("due in 3h 20m", false));
    let (s, b) = sla_clock(now - chrono::Duration::minutes(65), now);
    assert_eq!((s.as_str(), b), ("breached 1h 5m ago", true));
}

fn row(lo: &str, decision: Option<Decision>, bps: i32, state: &str) -> ReportRow {
    ReportRow {
        lo_id: Uuid::nil(),
        lo_name: lo.into(),
        team_id: None,
        team_name: "T".into(),
        month: "2026-11".into(),
        status: decision.map(|d| d.outcome()).unwrap_or(Status::Requested),
        decision,
        granted_bps: bps,
        granted_cents: concession_cents(40_000_000, bps),
        hours_to_decision: decision.map(|_| 2.0),
        funded: false,
        property_state: Some(state.into()),
        loan_amount_cents: Some(40_000_000),
        credit_band: None,
        loan_purpose: None,
    }
}

#[test]
fn summaries_and_fair_lending_flags() {
    let rows = vec![
        row("A", Some(Decision::Approve), 25, "TX"),
        row("A", Some(Decision::Deny), 0, "TX"),
        row("A", None, 0, "CA"),
        row("B", Some(Decision::Counter), 10, "CA"),
        row("B", Some(Decision::Approve), 20, "CA"),
    ];
    let by_lo = summarise(&rows, |r| (r.lo_name.clone(), format!("lo={}", r.lo_name)));
    assert_eq!(by_lo[0].filter, "lo=A");
    assert_eq!(by_lo[0].requests, 3);
    assert_eq!(by_lo[0].decided, 2);
    assert_eq!(by_lo[0].total_bps, 25);
    assert_eq!(by_lo[0].total_cents, 100_000);
    assert_eq!(by_lo[0].approval_rate, Some(50.0));
    assert_eq!(by_lo[1].approval_rate, Some(100.0));
    assert_eq!(by_lo[1].total_bps, 30);
    let screen = fair_lending_screen(&rows, FairLendingThresholds::default());
    let tx = screen.iter().find(|s| s.segment == "TX").unwrap();
    assert_eq!(
        (tx.concession_rate, tx.rest_rate, tx.avg_bps, tx.rest_avg_bps),
        (50.0, Some(100.0), Some(25.0), Some(15.0))
    );
    assert!(!tx.flagged, "1 of 2 against 3 of 3 is too small a sample to flag");
    let band = screen.iter().find(|s| s.dimension == "Loan amount").unwrap();
    assert!(!band.flagged, "no rest to compare with");
    // The same gap over 30 decided requests on each side is flagged.
    let mut big = Vec::new();
    for i in 0..30 {
        big.push(row("A", Some(if i % 2 == 0 { Decision::Approve } else { Decision::Deny }), 25, "TX"));
        big.push(row("B", Some(Decision::Approve), 20, "CA"));
    }
    let screen = fair_lending_screen(&big, FairLendingThresholds::default());
    assert!(screen.iter().find(|s| s.segment == "TX").unwrap().flagged);
    big.pop();
    let screen = fair_lending_screen(&big, FairLendingThresholds::default());
    assert!(!screen.iter().find(|s| s.segment == "TX").unwrap().flagged, "29 on the other side");
}

#[test]
fn csv_cells_cannot_carry_formulas() {
    assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
    assert_eq!(csv_cell("+1"), "'+1");
    assert_eq!(csv_cell("-2"), "'-2");
    assert_eq!(csv_cell("@x"), "'@x");
    assert_eq!(csv_cell("\tx"), "'\tx");
    assert_eq!(csv_cell("\rx"), "'\rx");
    assert_eq!(csv_cell("Ann"), "Ann");
}

#[test]
fn file_names_are_made_safe() {
    assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
    assert_eq!(safe_file_name("quote \"x\".pdf"), "quote x.pdf");
    assert_eq!(safe_file_name(""), "attachment");
}
