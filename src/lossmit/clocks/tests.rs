//! The clocks against the Bureau's own examples and hand-computed dates.

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn facts() -> CaseFacts {
    CaseFacts { first_unpaid_due_date: d(2026, 3, 1), ..Default::default() }
}

fn get(list: &[Deadline], key: &str) -> Deadline {
    list.iter().find(|x| x.key == key).cloned().unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn the_bureaus_own_examples() {
    // Comment 31 (delinquency): a payment due January 1 unpaid, "on January 31 the borrower is 30 days
    // delinquent". Comment 39(a)-1: live contact "not later than 36 days after January 1 — i.e., on or
    // before February 6".
    let jan1 = d(2026, 1, 1);
    assert_eq!(days_delinquent(jan1, d(2026, 1, 31)), 30);
    assert_eq!(delinquency_day(jan1, 30), d(2026, 1, 31));
    let l = deadlines(&CaseFacts { first_unpaid_due_date: jan1, ..Default::default() }, jan1);
    assert_eq!(get(&l, "live_contact").due_on, d(2026, 2, 6));
    assert_eq!(get(&l, "written_notice").due_on, d(2026, 2, 15));
    assert_eq!(get(&l, "continuity_personnel").due_on, d(2026, 2, 15));
    // More than 120 days delinquent: 121 days after January 1 (2026 is not a leap year) is May 2.
    assert_eq!(get(&l, "first_filing_earliest").due_on, d(2026, 5, 2));
    assert_eq!(days_delinquent(jan1, d(2026, 5, 1)), 120);
}

#[test]
fn day_n_is_the_due_date_plus_n() {
    let due = d(2026, 3, 1);
    assert_eq!(delinquency_day(due, 0), due);
    assert_eq!(delinquency_day(due, 36), d(2026, 4, 6));
    assert_eq!(delinquency_day(due, 45), d(2026, 4, 15));
    assert_eq!(first_filing_allowed_from(due), d(2026, 6, 30));
    assert_eq!(days_delinquent(due, due), 0);
    assert_eq!(days_delinquent(due, d(2026, 3, 2)), 1);
    assert_eq!(days_delinquent(due, d(2026, 4, 6)), 36);
    assert_eq!(days_delinquent(due, d(2026, 6, 29)), 120);
    assert_eq!(days_delinquent(due, d(2026, 6, 30)), 121);
    assert_eq!(days_delinquent(due, d(2026, 2, 27)), 0);
}

#[test]
fn month_ends_leap_day_and_year_end_by_hand() {
    // (due date, day 36, day 45, first day more than 120 days delinquent), counted on a calendar by hand.
    let cases = [
        // 31 Jan + 28 = 28 Feb (2026 is not a leap year), + 8 = 8 Mar; + 17 = 17 Mar; 28+31+30+31 = 120 on
        // 31 May, so 121 on 1 June.
        (d(2026, 1, 31), d(2026, 3, 8), d(2026, 3, 17), d(2026, 6, 1)),
        // 2028 is a leap year: 31 Jan + 29 = 29 Feb, + 36 = 7 Mar, + 45 = 16 Mar; 29+31+30+31 = 121 on 31 May.
        (d(2028, 1, 31), d(2028, 3, 7), d(2028, 3, 16), d(2028, 5, 31)),
        // Due on the leap day itself: 31 days to 31 Mar, + 5 = 5 Apr (36), 14 Apr (45); 31+30+31 = 92 on
        // 31 May, + 29 = 121 on 29 June.
        (d(2028, 2, 29), d(2028, 4, 5), d(2028, 4, 14), d(2028, 6, 29)),
        // Across the year end: 1 Dec + 30 = 31 Dec, + 36 = 6 Jan, + 45 = 15 Jan; 30+31+28+31 = 120 on 31 Mar.
        (d(2026, 12, 1), d(2027, 1, 6), d(2027, 1, 15), d(2027, 4, 1)),
    ];
    for (due, day36, day45, filing) in cases {
        let l = deadlines(&CaseFacts { first_unpaid_due_date: due, ..Default::default() }, due);
        assert_eq!(get(&l, "live_contact").due_on, day36, "{due}");
        assert_eq!(get(&l, "written_notice").due_on, day45, "{due}");
        assert_eq!(get(&l, "first_filing_earliest").due_on, filing, "{due}");
        assert_eq!(days_delinquent(due, filing), 121, "{due}");
    }
    assert_eq!(days_delinquent(d(2028, 1, 31), d(2028, 2, 29)), 29);
    assert_eq!(days_delinquent(d(2028, 2, 29), d(2028, 3, 31)), 31);
    assert_eq!(days_delinquent(d(2026, 1, 31), d(2026, 2, 28)), 28);
}

#[test]
fn duties_repeat_after_each_due_date_while_delinquent() {
    // Monthly due dates counted from the first, month ends clamped.
    assert_eq!(
        due_dates(d(2026, 1, 31), d(2026, 4, 30)),
        vec![d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31), d(2026, 4, 30)]
    );
    assert_eq!(due_dates(d(2028, 1, 31), d(2028, 3, 1)), vec![d(2028, 1, 31), d(2028, 2, 29)]);
    // Live contact: one on 04-05 covers the 03-01 cycle (to 04-06) and the 04-01 one (to 05-07).
    let mut f = facts();
    f.live_contacts = vec![d(2026, 4, 5)];
    let l = deadlines(&f, d(2026, 5, 8));
    let c = get(&l, "live_contact");
    assert_eq!((c.cycle_due_on, c.due_on, c.status), (Some(d(2026, 5, 1)), d(2026, 6, 6), ClockStatus::Due));
    assert!(l.iter().all(|x| x.key != "live_contact_missed"));
    // No contact in the 05-01 cycle by 06-06: missed; the current cycle is 06-01's, due 07-07.
    let l = deadlines(&f, d(2026, 6, 7));
    assert_eq!(get(&l, "live_contact").due_on, d(2026, 7, 7));
    assert_eq!(get(&l, "live_contact_missed").due_on, d(2026, 6, 6));
    assert_eq!(get(&l, "live_contact_missed").cycle_due_on, Some(d(2026, 5, 1)));
    // Resolved on 05-15: no cycle starts after; the last one stays as it ended.
    f.delinquency_ended_on = Some(d(2026, 5, 15));
    let l = deadlines(&f, d(2026, 7, 1));
    assert_eq!(get(&l, "live_contact").cycle_due_on, Some(d(2026, 5, 1)));
    assert_eq!(get(&l, "live_contact").status, ClockStatus::Breached);
}

#[test]
fn written_notice_not_more_than_once_in_180_days() {
    // Sent 04-10 for the 03-01 cycle. It covers every cycle whose day 45 is fewer than 180 days later
    // (04-10 + 180 = 10-07): the 08-01 cycle (09-15, 158 days) is covered, the 09-01 one (10-16, 189) is not.
    let mut f = facts();
    f.early_notices = vec![d(2026, 4, 10)];
    let l = deadlines(&f, d(2026, 10, 10));
    let n = get(&l, "written_notice");
    assert_eq!((n.cycle_due_on, n.due_on, n.status), (Some(d(2026, 9, 1)), d(2026, 10, 16), ClockStatus::Due));
    assert!(l.iter().all(|x| x.key != "written_notice_missed"));
    let l = deadlines(&f, d(2026, 10, 17));
    assert_eq!(get(&l, "written_notice_missed").due_on, d(2026, 10, 16));
    assert_eq!(get(&l, "written_notice").cycle_due_on, Some(d(2026, 10, 1)));
    assert_eq!(get(&l, "written_notice").due_on, d(2026, 11, 15));
    // Sent again on 10-16: that cycle is met and the next 180 days are covered.
    f.early_notices.push(d(2026, 10, 16));
    let l = deadlines(&f, d(2026, 11, 20));
    assert_eq!(get(&l, "written_notice").status, ClockStatus::Met);
    assert!(l.iter().all(|x| x.key != "written_notice_missed"));
}

#[test]
fn early_intervention_clocks() {
    let mut f = facts();
    // On day 36 nothing is breached.
    let l = deadlines(&f, d(2026, 4, 6));
    assert_eq!(get(&l, "live_contact").due_on, d(2026, 4, 6));
    assert_eq!(get(&l, "live_contact").status, ClockStatus::Due);
    assert_eq!(get(&l, "written_notice").due_on, d(2026, 4, 15));
    assert_eq!(get(&l, "continuity_personnel").due_on, d(2026, 4, 15));
    // Day 37 with no contact: the first cycle is missed; the current one is the 04-01 due date's (05-07).
    let l = deadlines(&f, d(2026, 4, 7));
    assert_eq!(get(&l, "live_contact_missed").status, ClockStatus::Breached);
    assert_eq!(get(&l, "live_contact_missed").due_on, d(2026, 4, 6));
    assert_eq!(get(&l, "live_contact").due_on, d(2026, 5, 7));
    assert_eq!(get(&l, "live_contact").cycle_due_on, Some(d(2026, 4, 1)));
    assert_eq!(get(&l, "live_contact").missed_cycles, 1);
    // Contact on day 36 exactly: met (for both cycles); notice on day 46: the first cycle missed, done late;
    // specialist on day 10: met.
    f.first_live_contact_on = Some(d(2026, 4, 6));
    f.written_notice_on = Some(d(2026, 4, 16));
    f.specialist_assigned_on = Some(d(2026, 3, 11));
    let l = deadlines(&f, d(2026, 4, 16));
    assert_eq!(get(&l, "live_contact").status, ClockStatus::Met);
    assert!(l.iter().all(|x| x.key != "live_contact_missed"));
    assert_eq!(get(&l, "written_notice_missed").status, ClockStatus::Breached);
    assert_eq!(get(&l, "written_notice_missed").done_on, Some(d(2026, 4, 16)));
    assert_eq!(get(&l, "continuity_personnel").status, ClockStatus::Met);
    assert!(l.iter().all(|x| x.key != "acknowledgment" && x.key != "evaluation" && x.key != "appeal"));
    // Notice on day 45 exactly: met.
    f.written_notice_on = Some(d(2026, 4, 15));
    let l = deadlines(&f, d(2026, 4, 16));
    assert_eq!(get(&l, "written_notice").status, ClockStatus::Met);
    assert!(l.iter().all(|x| x.key != "written_notice_missed"));
}

#[test]
fn records_dated_before_the_delinquency_began_never_satisfy_a_clock() {
    let mut f = facts(); // due 2026-03-01
    f.first_live_contact_on = Some(d(2026, 2, 27));
    f.written_notice_on = Some(d(2026, 2, 28));
    let l = deadlines(&f, d(2026, 4, 20));
    assert_eq!(get(&l, "live_contact_missed").status, ClockStatus::Breached);
    assert_eq!(get(&l, "live_contact_missed").done_on, None);
    assert_eq!(get(&l, "live_contact_missed").cycle_due_on, Some(d(2026, 3, 1)));
    assert_eq!(get(&l, "written_notice_missed").status, ClockStatus::Breached);
    // On the due date itself the delinquency has begun: it counts.
    f.first_live_contact_on = Some(d(2026, 3, 1));
    assert!(deadlines(&f, d(2026, 4, 20)).iter().all(|x| x.key != "live_contact_missed"));
    // A specialist assigned before the delinquency is in place from its first day.
    f.specialist_assigned_on = Some(d(2026, 2, 1));
    let l = deadlines(&f, d(2026, 4, 20));
    assert_eq!(get(&l, "continuity_personnel").status, ClockStatus::Met);
    assert_eq!(get(&l, "continuity_personnel").done_on, Some(d(2026, 3, 1)));
    // An acknowledgment sent before the application was received does not acknowledge it.
    f.application.received_on = Some(d(2026, 4, 1));
    f.application.acknowledged_on = Some(d(2026, 3, 30));
    assert_eq!(get(&deadlines(&f, d(2026, 4, 20)), "acknowledgment").status, ClockStatus::Breached);
}

#[test]
fn acknowledgment_in_five_business_days_over_thanksgiving() {
    let mut f = CaseFacts { first_unpaid_due_date: d(2026, 9, 1), ..Default::default() };
    f.application.received_on = Some(d(2026, 11, 20)); // Friday
    let l = deadlines(&f, d(2026, 11, 30));
    assert_eq!(get(&l, "acknowledgment").due_on, d(2026, 11, 30));
    assert_eq!(get(&l, "acknowledgment").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "acknowledgment").status, ClockStatus::Breached);
    f.application.acknowledged_on = Some(d(2026, 11, 27));
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "acknowledgment").status, ClockStatus::Met);
}

#[test]
fn acknowledgment_over_observed_independence_day() {
    // Received Wednesday 2026-07-01; July 4 is a Saturday, observed Friday 3 July. By default the Friday is
    // a business day (the earlier deadline): Thu 2 (1), Fri 3 (2), Mon 6 (3), Tue 7 (4), Wed 8 (5).
    let mut f = facts();
    f.application.received_on = Some(d(2026, 7, 1));
    assert_eq!(get(&deadlines(&f, d(2026, 7, 1)), "acknowledgment").due_on, d(2026, 7, 8));
    // An organisation that treats it as a holiday: Thu 2 (1), Mon 6 (2), Tue 7 (3), Wed 8 (4), Thu 9 (5).
    f.calendar = Calendar { observed_in_lieu_is_business_day: false };
    assert_eq!(get(&deadlines(&f, d(2026, 7, 1)), "acknowledgment").due_on, d(2026, 7, 9));
}

#[test]
fn acknowledgment_only_45_or_more_days_before_a_sale() {
    let mut f = facts();
    f.application.received_on = Some(d(2026, 8, 3));
    f.sale_date = Some(d(2026, 9, 17)); // 45 days after: applies
    assert!(deadlines(&f, d(2026, 8, 3)).iter().any(|x| x.key == "acknowledgment"));
    f.sale_date = Some(d(2026, 9, 16)); // 44 days: does not
    assert!(deadlines(&f, d(2026, 8, 3)).iter().all(|x| x.key != "acknowledgment"));
}

#[test]
fn evaluation_thirty_days_from_complete_and_the_37_day_line() {
    let mut f = facts();
    f.application.received_on = Some(d(2026, 5, 1));
    f.application.complete_on = Some(d(2026, 5, 15));
    let l = deadlines(&f, d(2026, 6, 14));
    assert_eq!(get(&l, "evaluation").due_on, d(2026, 6, 14)); // 15 May + 30 days (a Sunday: not moved)
    assert_eq!(get(&l, "evaluation").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 6, 15)), "evaluation").status, ClockStatus::Breached);
    f.decision = Some(DecisionFacts { decided_on: d(2026, 6, 12), approved: true, modification_denied: false });
    assert_eq!(get(&deadlines(&f, d(2026, 6, 15)), "evaluation").status, ClockStatus::Met);
    // Complete exactly 37 days before the sale: no evaluation clock; 38 days: there is one.
    f.sale_date = Some(d(2026, 6, 21));
    assert!(deadlines(&f, d(2026, 5, 15)).iter().all(|x| x.key != "evaluation"));
    f.sale_date = Some(d(2026, 6, 22));
    assert!(deadlines(&f, d(2026, 5, 15)).iter().any(|x| x.key == "evaluation"));
}

#[test]
fn first_filing_earliest_when_more_than_120_days_delinquent() {
    let mut f = facts();
    let l = deadlines(&f, d(2026, 6, 29));
    assert_eq!(get(&l, "first_filing_earliest").due_on, d(2026, 6, 30));
    assert_eq!(get(&l, "first_filing_earliest").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 6, 30)), "first_filing_earliest").status, ClockStatus::Met);
    f.first_filing_on = Some(d(2026, 6, 29));
    assert_eq!(get(&deadlines(&f, d(2026, 7, 1)), "first_filing_earliest").status, ClockStatus::Breached);
}

#[test]
fn appeal_window_and_appeal_decision() {
    let mut f = facts();
    f.application.complete_on = Some(d(2026, 5, 1));
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: false, modification_denied: true });
    let l = deadlines(&f, d(2026, 5, 21));
    assert_eq!(get(&l, "appeal").due_on, d(2026, 6, 3)); // 20 May + 14
    assert_eq!(get(&l, "appeal").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 6, 4)), "appeal").status, ClockStatus::Met); // window closed
    f.appeal = Some(AppealFacts { filed_on: d(2026, 6, 1), decided_on: None, granted: false });
    let l = deadlines(&f, d(2026, 7, 1));
    assert_eq!(get(&l, "appeal_decision").due_on, d(2026, 7, 1)); // 1 June + 30
    assert_eq!(get(&l, "appeal_decision").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 7, 2)), "appeal_decision").status, ClockStatus::Breached);
    // A sale scheduled 89 days after completion: no appeal right.
    f.sale_date = Some(d(2026, 7, 29));
    assert!(deadlines(&f, d(2026, 5, 21)).iter().all(|x| x.key != "appeal"));
    f.sale_date = Some(d(2026, 7, 30)); // 90 days: appeal applies
    assert!(deadlines(&f, d(2026, 5, 21)).iter().any(|x| x.key == "appeal"));
}

#[test]
fn decisions_per_option_end_the_bar_only_when_nothing_is_left() {
    // 1024.41(g), (h): complete 2026-05-01, no sale, evaluated 2026-05-20.
    let mut f = facts();
    f.application.complete_on = Some(d(2026, 5, 1));
    let motion = ForeclosureStep::MotionForJudgment;
    // Modification denied, repayment plan approved and on offer: the denial ends nothing.
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: true, modification_denied: true });
    f.offer_open = true;
    assert!(check_foreclosure_step(&f, motion, d(2026, 8, 1)).is_err(), "another option is on offer");
    // The borrower rejects the plan (the case moves on): the bar holds through the acceptance and appeal
    // windows (both 14 days, to 06-03) and ends after them, no appeal having been taken.
    f.offer_open = false;
    assert!(check_foreclosure_step(&f, motion, d(2026, 6, 3)).is_err());
    assert!(check_foreclosure_step(&f, motion, d(2026, 6, 4)).is_ok());
    // Only a modification denial may be appealed: a plan denied and a modification approved gives no appeal.
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: true, modification_denied: false });
    assert!(deadlines(&f, d(2026, 5, 21)).iter().all(|x| x.key != "appeal"));
    // Everything denied except the modification, which was not: nothing on offer, no appeal, bar ends.
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: false, modification_denied: false });
    assert!(check_foreclosure_step(&f, motion, d(2026, 5, 21)).is_ok());
    // Everything denied: the appeal window (14 days) holds the bar, an appeal filed in time holds it until
    // decided, a granted appeal holds it while its offer is open.
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: false, modification_denied: true });
    assert!(check_foreclosure_step(&f, motion, d(2026, 6, 3)).is_err());
    assert!(check_foreclosure_step(&f, motion, d(2026, 6, 4)).is_ok(), "no appeal taken in time");
    f.appeal = Some(AppealFacts { filed_on: d(2026, 6, 1), decided_on: None, granted: false });
    assert!(check_foreclosure_step(&f, motion, d(2026, 9, 1)).is_err(), "appeal undecided");
    f.appeal = Some(AppealFacts { filed_on: d(2026, 6, 1), decided_on: Some(d(2026, 6, 20)), granted: false });
    assert!(check_foreclosure_step(&f, motion, d(2026, 6, 21)).is_ok(), "appeal denied");
    f.appeal = Some(AppealFacts { filed_on: d(2026, 6, 1), decided_on: Some(d(2026, 6, 20)), granted: true });
    assert!(check_foreclosure_step(&f, motion, d(2026, 7, 4)).is_err(), "14 days to accept after a granted appeal");
    assert!(check_foreclosure_step(&f, motion, d(2026, 7, 5)).is_ok());
}

#[test]
fn complete_application_notice_in_five_business_days() {
    let mut f = CaseFacts { first_unpaid_due_date: d(2026, 9, 1), ..Default::default() };
    f.application.received_on = Some(d(2026, 11, 2));
    // Complete Friday 2026-11-20: Mon 23, Tue 24, Wed 25, (Thanksgiving), Fri 27, Mon 30.
    f.application.complete_on = Some(d(2026, 11, 20));
    let l = deadlines(&f, d(2026, 11, 30));
    assert_eq!(get(&l, "complete_notice").due_on, d(2026, 11, 30));
    assert_eq!(get(&l, "complete_notice").rule, "12 CFR 1024.41(c)(3)");
    assert_eq!(get(&l, "complete_notice").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "complete_notice").status, ClockStatus::Breached);
    // A notice dated before the application became complete does not count; one on the due date does.
    f.application.complete_notice_on = Some(d(2026, 11, 19));
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "complete_notice").status, ClockStatus::Breached);
    f.application.complete_notice_on = Some(d(2026, 11, 30));
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "complete_notice").status, ClockStatus::Met);
    // (c)(3)(ii): a decision given first satisfies it.
    f.application.complete_notice_on = None;
    f.decision = Some(DecisionFacts { decided_on: d(2026, 11, 25), approved: false, modification_denied: true });
    assert_eq!(get(&deadlines(&f, d(2026, 12, 1)), "complete_notice").status, ClockStatus::Met);
    // Complete 37 days or less before a sale: no such notice is owed.
    f.sale_date = Some(d(2026, 12, 27));
    assert!(deadlines(&f, d(2026, 11, 20)).iter().all(|x| x.key != "complete_notice"));
    f.sale_date = Some(d(2026, 12, 28)); // 38 days
    assert!(deadlines(&f, d(2026, 11, 20)).iter().any(|x| x.key == "complete_notice"));
}

#[test]
fn acceptance_window_14_or_7_days_by_the_sale_thresholds() {
    // Sale 2026-09-30. Complete on 07-02 (90 days before): 14 days; 07-03 (89): 7; 08-23 (38): 7;
    // 08-24 (37): no minimum window.
    let sale = Some(d(2026, 9, 30));
    assert_eq!(acceptance_days(d(2026, 7, 2), sale), Some(14));
    assert_eq!(acceptance_days(d(2026, 7, 3), sale), Some(7));
    assert_eq!(acceptance_days(d(2026, 8, 23), sale), Some(7));
    assert_eq!(acceptance_days(d(2026, 8, 24), sale), None);
    assert_eq!(acceptance_days(d(2026, 8, 24), None), Some(14), "no sale: as if more than 90 days");
    let mut f = facts();
    f.sale_date = sale;
    f.application.complete_on = Some(d(2026, 7, 2));
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 20), approved: true, modification_denied: false });
    let l = deadlines(&f, d(2026, 7, 20));
    assert_eq!(get(&l, "acceptance").due_on, d(2026, 8, 3));
    assert_eq!(get(&l, "acceptance").rule, "12 CFR 1024.41(e)");
    assert_eq!(get(&l, "acceptance").status, ClockStatus::Due);
    assert_eq!(get(&deadlines(&f, d(2026, 8, 4)), "acceptance").status, ClockStatus::Met);
    f.application.complete_on = Some(d(2026, 7, 3));
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 20), approved: true, modification_denied: false });
    let l = deadlines(&f, d(2026, 7, 20));
    assert_eq!(get(&l, "acceptance").due_on, d(2026, 7, 27));
    assert!(get(&l, "acceptance").label.contains("7 days"));
    // Within the window the offer stands even if the case was moved on: the sale is refused until 07-27.
    f.offer_open = false;
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 7, 27)).is_err());
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 7, 28)).is_ok());
    // A denial has no acceptance window; an appeal that grants an option opens one of 14 days.
    f.application.complete_on = Some(d(2026, 5, 1));
    f.sale_date = None;
    f.decision = Some(DecisionFacts { decided_on: d(2026, 5, 20), approved: false, modification_denied: true });
    assert!(deadlines(&f, d(2026, 5, 20)).iter().all(|x| x.key != "acceptance"));
    f.appeal = Some(AppealFacts { filed_on: d(2026, 5, 25), decided_on: Some(d(2026, 6, 10)), granted: true });
    assert_eq!(get(&deadlines(&f, d(2026, 6, 10)), "acceptance").due_on, d(2026, 6, 24));
}

#[test]
fn protections_are_fixed_when_the_application_became_complete() {
    // Complete 2026-07-01 with no sale scheduled: as if more than 90 days before any sale. A sale
    // scheduled afterwards for 08-01 (31 days later) takes no protection away.
    let mut f = facts();
    f.application.received_on = Some(d(2026, 6, 20));
    f.application.complete_on = Some(d(2026, 7, 1));
    f.sale_date = Some(d(2026, 8, 1));
    f.sale_date_at_receipt = Some(None);
    f.sale_date_at_completion = Some(None);
    let l = deadlines(&f, d(2026, 7, 10));
    assert!(l.iter().any(|x| x.key == "evaluation") && l.iter().any(|x| x.key == "complete_notice"));
    assert!(l.iter().any(|x| x.key == "acknowledgment"));
    assert_eq!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 7, 10)).unwrap_err().rule, RULE_DUAL_TRACKING);
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 20), approved: false, modification_denied: true });
    assert_eq!(get(&deadlines(&f, d(2026, 7, 21)), "appeal").due_on, d(2026, 8, 3), "appeal rights kept");
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 20), approved: true, modification_denied: false });
    assert_eq!(get(&deadlines(&f, d(2026, 7, 21)), "acceptance").due_on, d(2026, 8, 3), "14 days kept");
    // Without the snapshot (the sale as it stands now) the same facts would lose them all.
    f.sale_date_at_completion = None;
    f.sale_date_at_receipt = None;
    let l = deadlines(&f, d(2026, 7, 10));
    assert!(l.iter().all(|x| x.key != "evaluation" && x.key != "acknowledgment"));
    // A sale 60 days after completion when it became complete: 7 days to accept even if later moved away.
    f.sale_date = None;
    f.sale_date_at_completion = Some(Some(d(2026, 8, 30)));
    assert_eq!(get(&deadlines(&f, d(2026, 7, 21)), "acceptance").due_on, d(2026, 7, 27));
}

#[test]
fn first_filing_refused_until_more_than_120_days_delinquent() {
    let f = facts();
    // 2026-06-29 is exactly 120 days after 2026-03-01: not *more than* 120.
    let r = check_foreclosure_step(&f, ForeclosureStep::FirstFiling, d(2026, 6, 29)).unwrap_err();
    assert_eq!(r.rule, "12 CFR 1024.41(f)(1)");
    assert!(r.message.contains("it is 120 days delinquent; the earliest date is 2026-06-30"), "{}", r.message);
    assert!(check_foreclosure_step(&f, ForeclosureStep::FirstFiling, d(2026, 6, 30)).is_ok());
}

#[test]
fn dual_tracking_refuses_while_complete_application_pending() {
    let mut f = facts();
    f.application.complete_on = Some(d(2026, 7, 1));
    let on = d(2026, 7, 10);
    assert_eq!(
        check_foreclosure_step(&f, ForeclosureStep::FirstFiling, on).unwrap_err().rule,
        RULE_FIRST_FILING_PENDING
    );
    assert_eq!(
        check_foreclosure_step(&f, ForeclosureStep::MotionForJudgment, on).unwrap_err().rule,
        RULE_DUAL_TRACKING
    );
    assert_eq!(check_foreclosure_step(&f, ForeclosureStep::Sale, on).unwrap_err().rule, RULE_DUAL_TRACKING);
    // Denied on 20 July: still blocked during the 14-day appeal window (to 3 August), free after.
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 20), approved: false, modification_denied: true });
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 3)).is_err());
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 4)).is_ok());
    // An appeal filed in time blocks until decided; a denied appeal frees, a granted one does not.
    f.appeal = Some(AppealFacts { filed_on: d(2026, 8, 1), decided_on: None, granted: false });
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 20)).is_err());
    f.appeal = Some(AppealFacts { filed_on: d(2026, 8, 1), decided_on: Some(d(2026, 8, 25)), granted: false });
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 26)).is_ok());
    f.appeal = Some(AppealFacts { filed_on: d(2026, 8, 1), decided_on: Some(d(2026, 8, 25)), granted: true });
    f.offer_open = true;
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 26)).is_err());
}

#[test]
fn no_protection_for_late_or_incomplete_applications() {
    let mut f = facts();
    f.application.received_on = Some(d(2026, 7, 1)); // incomplete: no guard
    assert!(check_foreclosure_step(&f, ForeclosureStep::MotionForJudgment, d(2026, 7, 10)).is_ok());
    // Complete 37 days before the sale: not protected under (g).
    f.application.complete_on = Some(d(2026, 7, 1));
    f.sale_date = Some(d(2026, 8, 7));
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 8, 7)).is_ok());
    // Approved offer outstanding (or trial/plan under way): still protected when the application came in
    // time; once the borrower rejects or fails the plan (the case moves on), the protection ends.
    f.sale_date = None;
    f.decision = Some(DecisionFacts { decided_on: d(2026, 7, 15), approved: true, modification_denied: false });
    f.offer_open = true;
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 9, 1)).is_err());
    f.offer_open = false;
    assert!(check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 9, 1)).is_ok());
}
