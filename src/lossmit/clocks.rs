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

use super::calendar::Calendar;

/// Whether a deadline was met, is still open, or was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    out
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
mod tests {
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
        assert_eq!(
            check_foreclosure_step(&f, ForeclosureStep::Sale, d(2026, 7, 10)).unwrap_err().rule,
            RULE_DUAL_TRACKING
        );
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
}
