//! The Regulation X clocks (12 CFR 1024.39–1024.41) of one case, computed from its dated facts and "today".
//!
//! Day counting, as the Bureau counts (12 CFR 1024.31 "delinquency" and its comment; comment 39(a)-1): the
//! delinquency begins on the first unpaid due date, and day N of the delinquency is that date **plus N**
//! calendar days. With January 1 unpaid the borrower is 30 days delinquent on January 31, and live contact is
//! due "not later than 36 days after January 1 — i.e., on or before February 6". So `days_delinquent` is
//! `today − first unpaid due date`; for a payment due 2026-03-01 live contact is due by 2026-04-06, the written
//! notice and continuity personnel by 2026-04-15, and a first notice or filing needs *more than* 120 days of
//! delinquency, i.e. not before 2026-06-30. Calendar-day periods after an event (30 days to evaluate, 14 days
//! to appeal) run from the day after the event. Business-day periods use [`super::calendar`].
//!
//! A record dated before the event that starts a clock never satisfies it: a live contact or written notice
//! dated before the delinquency began, an acknowledgment before the application was received.

use chrono::{Duration, Months, NaiveDate};
use serde::Serialize;

use crate::calendar::Calendar;

/// Whether a deadline was met, is still open, or was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    Met,
    Due,
    Breached,
}

impl ClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStatus::Met => "met",
            ClockStatus::Due => "due",
            ClockStatus::Breached => "breached",
        }
    }
}

/// One dated deadline with the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    pub key: &'static str,
    pub label: &'static str,
    pub rule: &'static str,
    pub due_on: NaiveDate,
    pub status: ClockStatus,
    /// When the obligation was performed, if it was.
    pub done_on: Option<NaiveDate>,
    /// For a duty that repeats after each payment due date while the borrower stays delinquent (live contact,
    /// written notice): the due date whose cycle this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_due_on: Option<NaiveDate>,
    /// Earlier cycles of the same duty that were missed.
    #[serde(skip_serializing_if = "is_zero")]
    pub missed_cycles: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The facts of an application for loss mitigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplicationFacts {
    pub received_on: Option<NaiveDate>,
    pub complete_on: Option<NaiveDate>,
    pub acknowledged_on: Option<NaiveDate>,
    /// When the notice that the application is complete (1024.41(c)(3)) was sent.
    pub complete_notice_on: Option<NaiveDate>,
}

/// The first evaluation of the complete application: every option decided on one day (1024.41(c)(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionFacts {
    pub decided_on: NaiveDate,
    /// At least one option was approved (an offer is outstanding).
    pub approved: bool,
    /// A trial or permanent loan modification was denied: the only denial the borrower may appeal (1024.41(h)).
    pub modification_denied: bool,
}

/// A borrower's appeal of a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppealFacts {
    pub filed_on: NaiveDate,
    pub decided_on: Option<NaiveDate>,
    /// The appeal decision granted an option (the borrower then has an offer outstanding).
    pub granted: bool,
}

/// Everything the clocks need to know about a case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFacts {
    pub first_unpaid_due_date: NaiveDate,
    pub sale_date: Option<NaiveDate>,
    pub first_live_contact_on: Option<NaiveDate>,
    pub written_notice_on: Option<NaiveDate>,
    /// Every live contact and every early-intervention notice since the delinquency began (the duties repeat).
    pub live_contacts: Vec<NaiveDate>,
    pub early_notices: Vec<NaiveDate>,
    /// The day the delinquency ended (the case was resolved), if it did: no cycle starts on or after it.
    pub delinquency_ended_on: Option<NaiveDate>,
    pub specialist_assigned_on: Option<NaiveDate>,
    pub application: ApplicationFacts,
    pub decision: Option<DecisionFacts>,
    pub appeal: Option<AppealFacts>,
    pub first_filing_on: Option<NaiveDate>,
    /// An approved option is on offer or in its trial/plan period (the case is at stage `offer` or
    /// `trial_plan`); moving the case on records the borrower's rejection or failure to perform.
    pub offer_open: bool,
    /// The organisation's business days.
    pub calendar: Calendar,
    /// The sale date as it stood when the application was received, and when it became complete, if it has
    /// changed since (`None`: unchanged, the current `sale_date` is it). The protections are fixed then
    /// (1024.41(b)(3)): a sale scheduled later takes none of them away.
    pub sale_date_at_receipt: Option<Option<NaiveDate>>,
    pub sale_date_at_completion: Option<Option<NaiveDate>>,
}

/// The sale date the acknowledgment's 45-day line is measured against: as it stood when the application was
/// received.
pub fn sale_at_receipt(f: &CaseFacts) -> Option<NaiveDate> {
    f.sale_date_at_receipt.unwrap_or(f.sale_date)
}

/// The sale date the 37- and 90-day lines (evaluation, complete-application notice, dual tracking, appeal,
/// acceptance window) are measured against: as it stood when the complete application was received; none
/// then means "more than 90 days before any sale" (1024.41(b)(3)).
pub fn sale_at_completion(f: &CaseFacts) -> Option<NaiveDate> {
    f.sale_date_at_completion.unwrap_or(f.sale_date)
}

pub const RULE_LIVE_CONTACT: &str = "12 CFR 1024.39(a)";
pub const RULE_WRITTEN_NOTICE: &str = "12 CFR 1024.39(b)";
pub const RULE_CONTINUITY: &str = "12 CFR 1024.40(a)";
pub const RULE_ACKNOWLEDGMENT: &str = "12 CFR 1024.41(b)(2)(i)(B)";
pub const RULE_EVALUATION: &str = "12 CFR 1024.41(c)(1)";
pub const RULE_FIRST_FILING_120: &str = "12 CFR 1024.41(f)(1)";
pub const RULE_FIRST_FILING_PENDING: &str = "12 CFR 1024.41(f)(2)";
pub const RULE_DUAL_TRACKING: &str = "12 CFR 1024.41(g)";
pub const RULE_APPEAL: &str = "12 CFR 1024.41(h)";
pub const RULE_COMPLETE_NOTICE: &str = "12 CFR 1024.41(c)(3)";
pub const RULE_ACCEPTANCE: &str = "12 CFR 1024.41(e)";
pub const RULE_APPEAL_DECISION: &str = "12 CFR 1024.41(h)(4)";

/// The date on which the borrower is `n` days delinquent: the first unpaid due date plus `n` days (the due
/// date itself is day 0; comment 39(a)-1: 36 days after January 1 is February 6).
pub fn delinquency_day(first_unpaid_due_date: NaiveDate, n: i64) -> NaiveDate {
    first_unpaid_due_date + Duration::days(n)
}

/// Days delinquent on `today`: `today − first unpaid due date` (comment 31: January 1 unpaid, January 31 is 30
/// days delinquent); 0 on the due date and before it.
pub fn days_delinquent(first_unpaid_due_date: NaiveDate, today: NaiveDate) -> i64 {
    (today - first_unpaid_due_date).num_days().max(0)
}

/// The first day a first notice or filing is allowed: the day the loan is more than 120 days delinquent,
/// i.e. 121 days after the first unpaid due date (1024.41(f)(1)(i)).
pub fn first_filing_allowed_from(first_unpaid_due_date: NaiveDate) -> NaiveDate {
    delinquency_day(first_unpaid_due_date, 121)
}

/// The records of a repeating duty (all of them and the first, as the facts give them), sorted, each counted
/// only from the day the delinquency began.
fn records_since_delinquency(f: &CaseFacts, all: &[NaiveDate], first: Option<NaiveDate>) -> Vec<NaiveDate> {
    let mut v: Vec<NaiveDate> = all.iter().copied().chain(first).filter(|d| *d >= f.first_unpaid_due_date).collect();
    v.sort();
    v.dedup();
    v
}

/// A deadline an action must meet: met if done on or before the due date, breached if done later or not done
/// once the due date has passed, due otherwise.
fn status_of(due_on: NaiveDate, done_on: Option<NaiveDate>, today: NaiveDate) -> ClockStatus {
    match done_on {
        Some(d) if d <= due_on => ClockStatus::Met,
        Some(_) => ClockStatus::Breached,
        None if today > due_on => ClockStatus::Breached,
        None => ClockStatus::Due,
    }
}

fn days_before(event: NaiveDate, sale: Option<NaiveDate>) -> Option<i64> {
    sale.map(|s| (s - event).num_days())
}

/// Whether the acknowledgment duty applies: application received 45 or more days before a sale, or none.
pub fn acknowledgment_applies(received_on: NaiveDate, sale: Option<NaiveDate>) -> bool {
    days_before(received_on, sale).is_none_or(|d| d >= 45)
}

/// Whether the evaluation duty and the dual-tracking protections apply: a complete application more than
/// 37 days before a sale, or none scheduled.
pub fn evaluation_applies(complete_on: NaiveDate, sale: Option<NaiveDate>) -> bool {
    days_before(complete_on, sale).is_none_or(|d| d > 37)
}

/// Whether a denial may be appealed: complete application 90 or more days before a sale, or none.
pub fn appeal_applies(complete_on: NaiveDate, sale: Option<NaiveDate>) -> bool {
    days_before(complete_on, sale).is_none_or(|d| d >= 90)
}

/// How long the borrower has to accept or reject an offer (1024.41(e)(1)): at least 14 days when the complete
/// application was received 90 days or more before a sale (or none is scheduled), 7 days when less than 90
/// but more than 37 days before it; `None` when 37 days or less before it (no such minimum).
pub fn acceptance_days(complete_on: NaiveDate, sale: Option<NaiveDate>) -> Option<i64> {
    match days_before(complete_on, sale) {
        None => Some(14),
        Some(d) if d >= 90 => Some(14),
        Some(d) if d > 37 => Some(7),
        Some(_) => None,
    }
}

/// The last day of the borrower's window to accept or reject the offer outstanding on the case, if any: 14
/// or 7 days after an approval (1024.41(e)(1)), 14 days after an appeal granted an option (1024.41(h)(4)).
/// The servicer may not treat the offer as rejected before it ends.
pub fn acceptance_window_end(f: &CaseFacts) -> Option<NaiveDate> {
    let complete = f.application.complete_on?;
    let decision = f.decision?;
    let sale = sale_at_completion(f);
    let approval = if decision.approved {
        acceptance_days(complete, sale).map(|n| decision.decided_on + Duration::days(n))
    } else {
        None
    };
    let appeal = match f.appeal {
        Some(a) if a.granted && decision.modification_denied && appeal_applies(complete, sale) => {
            a.decided_on.map(|on| on + Duration::days(14))
        }
        _ => None,
    };
    approval.max(appeal)
}

/// The payment due dates of the delinquency up to `until`: the first unpaid due date and each monthly due date
/// after it (the 29th–31st clamped to the month's end, always counted from the first), at least the first.
pub fn due_dates(first_unpaid_due_date: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
    let mut out = vec![first_unpaid_due_date];
    for k in 1..=1200u32 {
        match first_unpaid_due_date.checked_add_months(Months::new(k)) {
            Some(d) if d <= until => out.push(d),
            _ => break,
        }
    }
    out
}

/// One cycle of a repeating duty.
struct Cycle {
    due: NaiveDate,
    deadline: NaiveDate,
    done: Option<NaiveDate>,
    status: ClockStatus,
}

/// Evaluates a duty owed `after` days after each due date while the borrower stays delinquent, and picks the
/// cycle to show: the earliest one still open, else the latest; with the latest earlier cycle that was missed
/// and how many were.
/// `covered(due, deadline)` is the record that satisfies a cycle; `records` are all of them (a late one is
/// shown as done late).
fn repeating(
    f: &CaseFacts,
    today: NaiveDate,
    after: i64,
    records: &[NaiveDate],
    covered: impl Fn(NaiveDate, NaiveDate) -> Option<NaiveDate>,
) -> (Cycle, Option<Cycle>, usize) {
    let until = match f.delinquency_ended_on {
        Some(end) => today.min(end - Duration::days(1)),
        None => today,
    };
    let cycles: Vec<Cycle> = due_dates(f.first_unpaid_due_date, until)
        .into_iter()
        .map(|due| {
            let deadline = due + Duration::days(after);
            match covered(due, deadline) {
                Some(done) => Cycle { due, deadline, done: Some(done), status: ClockStatus::Met },
                None => {
                    let late = records.iter().copied().find(|r| *r > deadline);
                    let status = if today > deadline { ClockStatus::Breached } else { ClockStatus::Due };
                    Cycle { due, deadline, done: late, status }
                }
            }
        })
        .collect();
    let pick = cycles.iter().position(|c| c.status == ClockStatus::Due).unwrap_or(cycles.len() - 1);
    let missed = cycles[..pick].iter().filter(|c| c.status == ClockStatus::Breached).count();
    let mut cycles = cycles;
    let last_missed = cycles[..pick].iter().rposition(|c| c.status == ClockStatus::Breached);
    let current = cycles.swap_remove(pick);
    (current, last_missed.map(|i| cycles.swap_remove(i)), missed)
}

/// The latest missed cycle of a repeating duty, kept on the case (and the board's breaches) once a later cycle
/// is the current one.
fn missed_deadline(key: &'static str, label: &'static str, rule: &'static str, m: Cycle, count: usize) -> Deadline {
    Deadline {
        key,
        label,
        rule,
        due_on: m.deadline,
        status: ClockStatus::Breached,
        done_on: m.done,
        cycle_due_on: Some(m.due),
        missed_cycles: count,
    }
}

/// All the clocks of a case on `today`, in a stable order.
pub fn deadlines(f: &CaseFacts, today: NaiveDate) -> Vec<Deadline> {
    let mut out = Vec::new();
    early_intervention(f, today, &mut out);
    application(f, today, &mut out);
    first_filing(f, today, &mut out);
    borrower_windows(f, today, &mut out);
    out
}

/// 1024.39 and 1024.40: live contact and the written notice after each due date, and the assigned personnel.
fn early_intervention(f: &CaseFacts, today: NaiveDate, out: &mut Vec<Deadline>) {
    let day45 = delinquency_day(f.first_unpaid_due_date, 45);
    // 1024.39(a): live contact no later than 36 days after each payment due date while delinquent; a contact
    // made on or after that due date and by the deadline satisfies the cycle.
    let contacts = records_since_delinquency(f, &f.live_contacts, f.first_live_contact_on);
    let (c, c_missed, missed) = repeating(f, today, 36, &contacts, |due, deadline| {
        contacts.iter().copied().find(|x| *x >= due && *x <= deadline)
    });
    out.push(Deadline {
        key: "live_contact",
        label: "Good-faith live contact (36 days after the due date)",
        rule: RULE_LIVE_CONTACT,
        due_on: c.deadline,
        status: c.status,
        done_on: c.done,
        cycle_due_on: Some(c.due),
        missed_cycles: missed,
    });
    if let Some(m) = c_missed {
        out.push(missed_deadline(
            "live_contact_missed",
            "Good-faith live contact missed",
            RULE_LIVE_CONTACT,
            m,
            missed,
        ));
    }
    // 1024.39(b)(1): the written notice no later than 45 days after each payment due date while delinquent,
    // but not more than once in any 180-day period: a notice sent since the delinquency began, by the
    // deadline and fewer than 180 days before it, covers the cycle.
    let notices = records_since_delinquency(f, &f.early_notices, f.written_notice_on);
    let (n, n_missed, missed) = repeating(f, today, 45, &notices, |_, deadline| {
        notices.iter().copied().rev().find(|x| *x <= deadline && (deadline - *x).num_days() < 180)
    });
    out.push(Deadline {
        key: "written_notice",
        label: "Written early-intervention notice (45 days after the due date, at most once in 180 days)",
        rule: RULE_WRITTEN_NOTICE,
        due_on: n.deadline,
        status: n.status,
        done_on: n.done,
        cycle_due_on: Some(n.due),
        missed_cycles: missed,
    });
    if let Some(m) = n_missed {
        out.push(missed_deadline("written_notice_missed", "Written notice missed", RULE_WRITTEN_NOTICE, m, missed));
    }
    // Personnel assigned before the delinquency began are in place on its first day.
    let assigned = f.specialist_assigned_on.map(|a| a.max(f.first_unpaid_due_date));
    out.push(Deadline {
        key: "continuity_personnel",
        label: "Continuity-of-contact personnel assigned (45 days after the due date)",
        rule: RULE_CONTINUITY,
        due_on: day45,
        status: status_of(day45, assigned, today),
        done_on: assigned,
        cycle_due_on: None,
        missed_cycles: 0,
    });
}

/// 1024.41(b) and (c): acknowledging the application, telling the borrower it is complete, evaluating it.
fn application(f: &CaseFacts, today: NaiveDate, out: &mut Vec<Deadline>) {
    if let Some(received) = f.application.received_on {
        if acknowledgment_applies(received, sale_at_receipt(f)) {
            let due = f.calendar.add_business_days(received, 5);
            let acknowledged = f.application.acknowledged_on.filter(|a| *a >= received);
            out.push(Deadline {
                key: "acknowledgment",
                label: "Acknowledge the application (5 business days)",
                rule: RULE_ACKNOWLEDGMENT,
                due_on: due,
                status: status_of(due, acknowledged, today),
                done_on: acknowledged,
                cycle_due_on: None,
                missed_cycles: 0,
            });
        }
    }
    if let Some(complete) = f.application.complete_on.filter(|c| evaluation_applies(*c, sale_at_completion(f))) {
        // 1024.41(c)(3)(i): within 5 days (excluding legal public holidays, Saturdays and Sundays) after
        // receiving a complete application more than 37 days before a sale, tell the borrower it is complete;
        // (c)(3)(ii): not needed once the decision on it has been given, which then satisfies the clock.
        let due = f.calendar.add_business_days(complete, 5);
        let notice = f.application.complete_notice_on.filter(|n| *n >= complete);
        let decided = f.decision.map(|d| d.decided_on);
        let done = [notice, decided].into_iter().flatten().min();
        out.push(Deadline {
            key: "complete_notice",
            label: "Notify the borrower the application is complete (5 business days)",
            rule: RULE_COMPLETE_NOTICE,
            due_on: due,
            status: status_of(due, done, today),
            done_on: done,
            cycle_due_on: None,
            missed_cycles: 0,
        });
    }
    if let Some(complete) = f.application.complete_on {
        if evaluation_applies(complete, sale_at_completion(f)) {
            let due = complete + Duration::days(30);
            let done = f.decision.map(|d| d.decided_on);
            out.push(Deadline {
                key: "evaluation",
                label: "Evaluate the complete application (30 days)",
                rule: RULE_EVALUATION,
                due_on: due,
                status: status_of(due, done, today),
                done_on: done,
                cycle_due_on: None,
                missed_cycles: 0,
            });
        }
    }
}

/// 1024.41(f): the earliest first notice or filing.
fn first_filing(f: &CaseFacts, today: NaiveDate, out: &mut Vec<Deadline>) {
    let earliest = first_filing_allowed_from(f.first_unpaid_due_date);
    out.push(Deadline {
        key: "first_filing_earliest",
        label: "Earliest first notice or filing (more than 120 days delinquent)",
        rule: RULE_FIRST_FILING_120,
        due_on: earliest,
        status: match f.first_filing_on {
            Some(d) if d < earliest => ClockStatus::Breached,
            Some(_) => ClockStatus::Met,
            None if today >= earliest => ClockStatus::Met,
            None => ClockStatus::Due,
        },
        done_on: f.first_filing_on,
        cycle_due_on: None,
        missed_cycles: 0,
    });
}

/// 1024.41(h) and (e): the borrower's windows to appeal a denial and to accept an offer, and the appeal's
/// decision.
fn borrower_windows(f: &CaseFacts, today: NaiveDate, out: &mut Vec<Deadline>) {
    if let (Some(complete), Some(decision)) = (f.application.complete_on, f.decision) {
        if decision.modification_denied && appeal_applies(complete, sale_at_completion(f)) {
            let window_end = decision.decided_on + Duration::days(14);
            let filed = f.appeal.map(|a| a.filed_on);
            // The borrower's window: met once an appeal is filed in time or the window has closed.
            let status = match filed {
                Some(d) if d <= window_end => ClockStatus::Met,
                Some(_) => ClockStatus::Breached,
                None if today > window_end => ClockStatus::Met,
                None => ClockStatus::Due,
            };
            out.push(Deadline {
                key: "appeal",
                label: "Borrower's window to appeal the denial (14 days)",
                rule: RULE_APPEAL,
                due_on: window_end,
                status,
                done_on: filed,
                cycle_due_on: None,
                missed_cycles: 0,
            });
            if let Some(appeal) = f.appeal.filter(|a| a.filed_on <= window_end) {
                let due = appeal.filed_on + Duration::days(30);
                out.push(Deadline {
                    key: "appeal_decision",
                    label: "Decide the appeal and notify the borrower (30 days after the appeal)",
                    rule: RULE_APPEAL_DECISION,
                    due_on: due,
                    status: status_of(due, appeal.decided_on, today),
                    done_on: appeal.decided_on,
                    cycle_due_on: None,
                    missed_cycles: 0,
                });
            }
        }
    }
    if let Some(end) = acceptance_window_end(f) {
        // The borrower's window: open until its last day, after which the offer may be treated as rejected.
        let seven = f.decision.is_some_and(|d| d.approved)
            && f.application.complete_on.and_then(|c| acceptance_days(c, sale_at_completion(f))) == Some(7);
        out.push(Deadline {
            key: "acceptance",
            label: if seven {
                "Borrower's window to accept or reject the offer (7 days)"
            } else {
                "Borrower's window to accept or reject the offer (14 days)"
            },
            rule: RULE_ACCEPTANCE,
            due_on: end,
            status: if today > end { ClockStatus::Met } else { ClockStatus::Due },
            done_on: None,
            cycle_due_on: None,
            missed_cycles: 0,
        });
    }
}

/// The steps of a foreclosure the servicer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeclosureStep {
    FirstFiling,
    MotionForJudgment,
    Sale,
}

impl ForeclosureStep {
    pub const ALL: [ForeclosureStep; 3] =
        [ForeclosureStep::FirstFiling, ForeclosureStep::MotionForJudgment, ForeclosureStep::Sale];
    pub fn as_str(self) -> &'static str {
        match self {
            ForeclosureStep::FirstFiling => "first_filing",
            ForeclosureStep::MotionForJudgment => "motion_for_judgment",
            ForeclosureStep::Sale => "sale",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ForeclosureStep::FirstFiling => "First notice or filing",
            ForeclosureStep::MotionForJudgment => "Motion for judgment or order of sale",
            ForeclosureStep::Sale => "Foreclosure sale",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Why a foreclosure step may not be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: &'static str,
    pub message: String,
}

/// Whether a complete application is pending under the rule on `on`: complete more than 37 days before a
/// sale (or none), and not yet decided, or denied with the appeal window still open or an appeal undecided, or
/// approved (on appeal too) with the offer still open or the borrower in the trial or plan (`offer_open`), and
/// in any case until the borrower's acceptance window has ended (1024.41(e)).
pub fn application_pending(f: &CaseFacts, on: NaiveDate) -> bool {
    let Some(complete) = f.application.complete_on else { return false };
    if complete > on || !evaluation_applies(complete, sale_at_completion(f)) {
        return false;
    }
    let Some(d) = f.decision.filter(|d| d.decided_on <= on) else { return true };
    // 1024.41(g): the bar ends only when the borrower is not eligible for any option and the appeal is over or
    // was not taken in time, or rejects every offer, or fails to perform. A denial of one option while another
    // is on offer ends nothing.
    let offer_open = f.offer_open || acceptance_window_end(f).is_some_and(|end| on <= end);
    (d.approved && offer_open) || appeal_pending(f, d, complete, on, offer_open)
}

/// Whether the appeal of a denied loan modification still holds the bar on `on`: its 14-day window is open,
/// or an appeal filed in time is undecided, or it was granted and the offer is open (1024.41(h)).
fn appeal_pending(f: &CaseFacts, d: DecisionFacts, complete: NaiveDate, on: NaiveDate, offer_open: bool) -> bool {
    if !d.modification_denied || !appeal_applies(complete, sale_at_completion(f)) {
        return false;
    }
    let window_end = d.decided_on + Duration::days(14);
    match f.appeal {
        Some(a) if a.filed_on <= window_end => match a.decided_on {
            None => true,
            Some(x) if x > on => true,
            Some(_) => a.granted && offer_open,
        },
        _ => on <= window_end,
    }
}

/// The dual-tracking guard: may `step` be recorded on `on`? Refuses a first filing unless the loan is more
/// than 120 days delinquent on `on` (1024.41(f)(1)) or while a complete application is pending (1024.41(f)(2)), and a motion for judgment or a
/// sale while a complete application is pending (1024.41(g)).
pub fn check_foreclosure_step(f: &CaseFacts, step: ForeclosureStep, on: NaiveDate) -> Result<(), Refusal> {
    if step == ForeclosureStep::FirstFiling {
        let days = days_delinquent(f.first_unpaid_due_date, on);
        if days <= 120 {
            let earliest = first_filing_allowed_from(f.first_unpaid_due_date);
            return Err(Refusal {
                rule: RULE_FIRST_FILING_120,
                message: format!(
                    "Refused under {RULE_FIRST_FILING_120}: no first notice or filing until the loan is more than 120 days delinquent (on {on} it is {days} days delinquent; the earliest date is {earliest})."
                ),
            });
        }
    }
    if application_pending(f, on) {
        let rule = if step == ForeclosureStep::FirstFiling { RULE_FIRST_FILING_PENDING } else { RULE_DUAL_TRACKING };
        return Err(Refusal {
            rule,
            message: format!(
                "Refused under {rule} (dual tracking): a complete loss-mitigation application is pending, so no {} may be recorded until it is decided and any appeal is over.",
                step.label().to_lowercase()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
