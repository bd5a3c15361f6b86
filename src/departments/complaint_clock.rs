//! A complaint's regulatory clock, with no database: from the complaint's type, the day it was received and
//! what has been done (acknowledged, responded, extension noticed, final response), the deadlines the law or the
//! regulator sets, each met, breached or due — beside the department's SLA, which stays the department's own.
//!
//! Days are counted as each rule counts them. The day of receipt is day 0; a deadline of N days is the Nth day
//! after it. Regulation X's days exclude "legal public holidays, Saturdays, and Sundays" (12 CFR 1024.35(d),
//! (e)(3)(i); 1024.36(c), (d)(2)(i)), counted on the organisation's one calendar ([`Calendar`]); the CFPB
//! portal's are calendar days (Company Portal Manual, 8.1: a response within 15 calendar days of the complaint
//! being sent to the company, and when it cannot be closed then, "in progress" with a final response within
//! 60 calendar days).
//!
//! A clock is met when its step was done on or before its due date, breached when it was done later or is not
//! done once the date has passed, and due otherwise — the language of the loss-mitigation clocks.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::calendar::Calendar;

/// What kind of complaint it is: (key, label).
pub const TYPES: [(&str, &str); 5] = [
    ("notice_of_error", "Notice of error (Regulation X, 12 CFR 1024.35)"),
    ("information_request", "Request for information (12 CFR 1024.36)"),
    ("cfpb_portal", "CFPB complaint portal"),
    ("state_regulator", "State regulator or other (due date from its letter)"),
    ("informal", "Informal complaint (no regulatory clock)"),
];

/// Which response clock of 1024.35(e)(3)(i) or 1024.36(d)(2)(i) applies: (key, label).
pub const CATEGORIES: [(&str, &str); 4] = [
    ("general", "Any other error or information"),
    ("payoff_statement", "Payoff statement (notice of error, 1024.35(b)(6))"),
    ("foreclosure", "Foreclosure (notice of error, 1024.35(b)(9) or (b)(10))"),
    ("owner_identity", "Owner or assignee of the loan (request for information)"),
];

/// What a person records on the clock: (key, label).
pub const STEPS: [(&str, &str); 4] = [
    ("acknowledged", "Acknowledged in writing"),
    ("responded", "Responded"),
    ("extension_noticed", "Extension noticed to the borrower (with its reasons)"),
    ("final_response", "Final response sent"),
];

pub fn type_label(t: &str) -> &'static str {
    TYPES.iter().find(|(k, _)| *k == t).map(|(_, l)| *l).unwrap_or("Complaint")
}

pub fn category_label(c: &str) -> &'static str {
    CATEGORIES.iter().find(|(k, _)| *k == c).map(|(_, l)| *l).unwrap_or("")
}

pub fn step_label(s: &str) -> &'static str {
    STEPS.iter().find(|(k, _)| *k == s).map(|(_, l)| *l).unwrap_or("Breach told")
}

/// The recorded facts of one complaint's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockFacts {
    pub complaint_type: String,
    pub category: String,
    pub received_on: NaiveDate,
    pub foreclosure_sale_on: Option<NaiveDate>,
    pub regulator_due_on: Option<NaiveDate>,
    pub acknowledged_on: Option<NaiveDate>,
    pub responded_on: Option<NaiveDate>,
    pub extension_noticed_on: Option<NaiveDate>,
    pub final_response_on: Option<NaiveDate>,
}

/// Met, due or breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeadlineStatus {
    Met,
    Due,
    Breached,
}

impl DeadlineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineStatus::Met => "met",
            DeadlineStatus::Due => "due",
            DeadlineStatus::Breached => "breached",
        }
    }
}

/// One deadline of a complaint with the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ComplaintDeadline {
    /// `acknowledgment`, `response` or `final_response`.
    pub key: &'static str,
    pub label: &'static str,
    pub rule: &'static str,
    pub due_on: NaiveDate,
    pub done_on: Option<NaiveDate>,
    pub status: DeadlineStatus,
}

fn status(due: NaiveDate, done: Option<NaiveDate>, today: NaiveDate) -> DeadlineStatus {
    match done {
        Some(d) if d <= due => DeadlineStatus::Met,
        Some(_) => DeadlineStatus::Breached,
        None if today > due => DeadlineStatus::Breached,
        None => DeadlineStatus::Due,
    }
}

/// The response clock of a notice of error or a request for information: (business days, rule, extendable).
fn regulation_x_response(f: &ClockFacts) -> Option<(u32, &'static str, bool)> {
    match (f.complaint_type.as_str(), f.category.as_str()) {
        ("notice_of_error", "payoff_statement") => Some((7, "12 CFR 1024.35(e)(3)(i)(A)", false)),
        ("notice_of_error", "foreclosure") => Some((30, "12 CFR 1024.35(e)(3)(i)(B)", false)),
        ("notice_of_error", _) => Some((30, "12 CFR 1024.35(e)(3)(i)(C); extension (e)(3)(ii)", true)),
        ("information_request", "owner_identity") => Some((10, "12 CFR 1024.36(d)(2)(i)(A)", false)),
        ("information_request", _) => Some((30, "12 CFR 1024.36(d)(2)(i)(B); extension (d)(2)(ii)", true)),
        _ => None,
    }
}

/// The response's due date before any extension.
fn base_response_due(f: &ClockFacts, cal: &Calendar) -> Option<NaiveDate> {
    let (days, _, _) = regulation_x_response(f)?;
    let base = cal.add_business_days(f.received_on, days);
    Some(match (f.category.as_str(), f.foreclosure_sale_on) {
        // "Prior to the date of a foreclosure sale or within 30 days …, whichever is earlier": the day before
        // the sale at the latest.
        ("foreclosure", Some(sale)) => base.min(sale - Duration::days(1)),
        _ => base,
    })
}

/// Whether an extension noticed on `on` is allowed: only for the 30-day clocks of 1024.35(e)(3)(i)(C) and
/// 1024.36(d)(2)(i)(B), once, and only if the borrower is told before the 30 days end ((e)(3)(ii), (d)(2)(ii)).
pub fn extension_allowed(f: &ClockFacts, on: NaiveDate, cal: &Calendar) -> Result<(), &'static str> {
    let Some((_, _, extendable)) = regulation_x_response(f) else {
        return Err("Only a notice of error or a request for information has an extension.");
    };
    if !extendable {
        return Err("This clock cannot be extended (payoff statement, foreclosure, owner or assignee).");
    }
    if f.extension_noticed_on.is_some() {
        return Err("The one extension was already noticed.");
    }
    if f.responded_on.is_some() {
        return Err("The response was already sent.");
    }
    match base_response_due(f, cal) {
        Some(due) if on <= due => Ok(()),
        _ => Err("Too late: the extension must be noticed to the borrower before the 30 days end."),
    }
}

/// The complaint's deadlines (none for an informal complaint): acknowledgment and response for Regulation X,
/// response and final response for the CFPB portal, the regulator's date for a state regulator.
pub fn deadlines(f: &ClockFacts, cal: &Calendar, today: NaiveDate) -> Vec<ComplaintDeadline> {
    let mut out = vec![];
    match f.complaint_type.as_str() {
        t @ ("notice_of_error" | "information_request") => {
            let error = t == "notice_of_error";
            // Acknowledge within 5 business days; a response sent within them covers it (the loss-mitigation
            // clocks read 1024.35(d)/(f)(1) and 1024.36(c) the same way).
            let ack_due = cal.add_business_days(f.received_on, 5);
            let ack_done = match (f.acknowledged_on, f.responded_on) {
                (Some(a), Some(r)) => Some(a.min(r)),
                (a, r) => a.or(r),
            };
            out.push(ComplaintDeadline {
                key: "acknowledgment",
                label: "Written acknowledgment (5 business days)",
                rule: if error { "12 CFR 1024.35(d)" } else { "12 CFR 1024.36(c)" },
                due_on: ack_due,
                done_on: ack_done,
                status: status(ack_due, ack_done, today),
            });
            if let (Some((_, rule, extendable)), Some(base)) = (regulation_x_response(f), base_response_due(f, cal)) {
                // One extension of 15 business days, when noticed on or before the original due date.
                let due = match f.extension_noticed_on {
                    Some(e) if extendable && e <= base => cal.add_business_days(base, 15),
                    _ => base,
                };
                out.push(ComplaintDeadline {
                    key: "response",
                    label: if error { "Correct the error or explain why not" } else { "Provide the information" },
                    rule,
                    due_on: due,
                    done_on: f.responded_on,
                    status: status(due, f.responded_on, today),
                });
            }
        }
        "cfpb_portal" => {
            let due = f.received_on + Duration::days(15);
            let done = match (f.responded_on, f.final_response_on) {
                (Some(r), Some(x)) => Some(r.min(x)),
                (r, x) => r.or(x),
            };
            out.push(ComplaintDeadline {
                key: "response",
                label: "Respond through the CFPB portal (15 calendar days)",
                rule: "CFPB Company Portal Manual 8.1 (15 calendar days)",
                due_on: due,
                done_on: done,
                status: status(due, done, today),
            });
            let final_due = f.received_on + Duration::days(60);
            out.push(ComplaintDeadline {
                key: "final_response",
                label: "Final response when the first was in progress (60 calendar days)",
                rule: "CFPB Company Portal Manual 8.1 (60 calendar days)",
                due_on: final_due,
                done_on: f.final_response_on,
                status: status(final_due, f.final_response_on, today),
            });
        }
        "state_regulator" => {
            if let Some(due) = f.regulator_due_on {
                out.push(ComplaintDeadline {
                    key: "response",
                    label: "Respond to the regulator by the date in its letter",
                    rule: "The regulator's letter",
                    due_on: due,
                    done_on: f.responded_on,
                    status: status(due, f.responded_on, today),
                });
            }
        }
        _ => {}
    }
    out
}

/// The earliest deadline not yet done (met or not): what a queue orders by beside the SLA.
pub fn next_due(deadlines: &[ComplaintDeadline]) -> Option<NaiveDate> {
    deadlines.iter().filter(|d| d.done_on.is_none()).map(|d| d.due_on).min()
}

/// Checks the facts a person gives when recording a complaint's clock; the first problem by field.
pub fn check_facts(f: &ClockFacts) -> Result<(), (&'static str, &'static str)> {
    if !TYPES.iter().any(|(k, _)| *k == f.complaint_type) {
        return Err(("complaint_type", "Choose what kind of complaint this is."));
    }
    let category_fits = match f.category.as_str() {
        "general" => true,
        "payoff_statement" | "foreclosure" => f.complaint_type == "notice_of_error",
        "owner_identity" => f.complaint_type == "information_request",
        _ => false,
    };
    if !category_fits {
        return Err(("category", "That clock belongs to another kind of complaint."));
    }
    if f.foreclosure_sale_on.is_some() && f.category != "foreclosure" {
        return Err(("foreclosure_sale_on", "A sale date applies to a foreclosure-related notice of error only."));
    }
    match (f.complaint_type.as_str(), f.regulator_due_on) {
        ("state_regulator", None) => Err(("regulator_due_on", "Enter the due date the regulator's letter states.")),
        ("state_regulator", Some(d)) if d < f.received_on => {
            Err(("regulator_due_on", "The due date comes after the day the letter was received."))
        }
        ("state_regulator", Some(_)) => Ok(()),
        (_, Some(_)) => Err(("regulator_due_on", "A due date is entered for a state regulator's complaint only.")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn facts(t: &str, category: &str, received: NaiveDate) -> ClockFacts {
        ClockFacts { complaint_type: t.into(), category: category.into(), received_on: received, ..Default::default() }
    }

    fn due(ds: &[ComplaintDeadline], key: &str) -> NaiveDate {
        ds.iter().find(|x| x.key == key).unwrap().due_on
    }

    const CAL: Calendar = Calendar { observed_in_lieu_is_business_day: true };

    #[test]
    fn notice_of_error_received_before_thanksgiving() {
        // Wednesday 2026-11-25; Thursday 11-26 is Thanksgiving, then Friday 27 (1), Mon 30 (2), Tue 12-01 (3),
        // Wed 02 (4), Thu 03 (5): acknowledgment by Thursday 2026-12-03.
        let f = facts("notice_of_error", "general", d(2026, 11, 25));
        let ds = deadlines(&f, &CAL, d(2026, 11, 25));
        assert_eq!(due(&ds, "acknowledgment"), d(2026, 12, 3));
        // 30 business days, counted by hand: Nov 27, 30 (2); Dec 1–4 (6), 7–11 (11), 14–18 (16), 21–24 (20),
        // Christmas Friday 25 skipped, 28–31 (24); Friday 2027-01-01 is New Year's Day; Jan 4–8 (29), Monday
        // Jan 11 (30).
        assert_eq!(due(&ds, "response"), d(2027, 1, 11));
        assert!(ds.iter().all(|x| x.status == DeadlineStatus::Due));
    }

    #[test]
    fn payoff_statement_across_christmas() {
        // Friday 2026-12-18: Mon 21 (1), Tue 22 (2), Wed 23 (3), Thu 24 (4), Fri 25 Christmas skipped, Mon 28
        // (5), Tue 29 (6), Wed 30 (7): the payoff statement error is answered by Wednesday 2026-12-30.
        let mut f = facts("notice_of_error", "payoff_statement", d(2026, 12, 18));
        let ds = deadlines(&f, &CAL, d(2026, 12, 18));
        assert_eq!(due(&ds, "acknowledgment"), d(2026, 12, 28));
        assert_eq!(due(&ds, "response"), d(2026, 12, 30));
        // Answered on the 31st: breached; the acknowledgment on the 28th: met.
        f.acknowledged_on = Some(d(2026, 12, 28));
        f.responded_on = Some(d(2026, 12, 31));
        let ds = deadlines(&f, &CAL, d(2027, 1, 4));
        assert_eq!(ds[0].status, DeadlineStatus::Met);
        assert_eq!(ds[1].status, DeadlineStatus::Breached);
        // Not extendable.
        assert!(
            extension_allowed(&facts("notice_of_error", "payoff_statement", d(2026, 12, 18)), d(2026, 12, 21), &CAL)
                .is_err()
        );
    }

    #[test]
    fn foreclosure_error_is_due_before_the_sale_when_that_is_earlier() {
        // Received Monday 2026-03-02, sale Friday 2026-03-20: 30 business days would be 2026-04-13, the day
        // before the sale is earlier.
        let mut f = facts("notice_of_error", "foreclosure", d(2026, 3, 2));
        f.foreclosure_sale_on = Some(d(2026, 3, 20));
        assert_eq!(due(&deadlines(&f, &CAL, d(2026, 3, 2)), "response"), d(2026, 3, 19));
        // A sale far off: 30 business days (Mon 2026-03-02 + 30 = Mon 2026-04-13; no holiday in between).
        f.foreclosure_sale_on = Some(d(2026, 6, 1));
        assert_eq!(due(&deadlines(&f, &CAL, d(2026, 3, 2)), "response"), d(2026, 4, 13));
        assert!(extension_allowed(&f, d(2026, 3, 5), &CAL).is_err(), "(e)(3)(i)(B) is not extendable");
    }

    #[test]
    fn the_one_extension_only_where_the_rule_allows_it() {
        let mut f = facts("notice_of_error", "general", d(2026, 3, 2));
        // Noticed on the last day (2026-04-13): allowed, and the response moves 15 business days to 2026-05-04.
        assert_eq!(extension_allowed(&f, d(2026, 4, 13), &CAL), Ok(()));
        assert!(extension_allowed(&f, d(2026, 4, 14), &CAL).is_err(), "after the 30 days");
        f.extension_noticed_on = Some(d(2026, 4, 13));
        assert_eq!(due(&deadlines(&f, &CAL, d(2026, 4, 14)), "response"), d(2026, 5, 4));
        assert!(extension_allowed(&f, d(2026, 4, 13), &CAL).is_err(), "once");
        // A late notice (recorded as facts) does not move the date.
        f.extension_noticed_on = Some(d(2026, 4, 20));
        assert_eq!(due(&deadlines(&f, &CAL, d(2026, 4, 21)), "response"), d(2026, 4, 13));
        // Requests for information: the owner's identity in 10 days, not extendable; others 30, extendable.
        let owner = facts("information_request", "owner_identity", d(2026, 3, 2));
        assert_eq!(due(&deadlines(&owner, &CAL, d(2026, 3, 2)), "response"), d(2026, 3, 16));
        assert!(extension_allowed(&owner, d(2026, 3, 3), &CAL).is_err());
        let other = facts("information_request", "general", d(2026, 3, 2));
        assert_eq!(extension_allowed(&other, d(2026, 3, 3), &CAL), Ok(()));
        assert!(extension_allowed(&facts("cfpb_portal", "general", d(2026, 3, 2)), d(2026, 3, 3), &CAL).is_err());
    }

    #[test]
    fn cfpb_portal_counts_calendar_days() {
        // Received Friday 2026-12-18: 15 calendar days is Saturday 2027-01-02 (weekends and holidays count);
        // 60 is Tuesday 2027-02-16.
        let mut f = facts("cfpb_portal", "general", d(2026, 12, 18));
        let ds = deadlines(&f, &CAL, d(2026, 12, 18));
        assert_eq!(due(&ds, "response"), d(2027, 1, 2));
        assert_eq!(due(&ds, "final_response"), d(2027, 2, 16));
        // An "in progress" response on day 15 meets the first clock; the final one is still due.
        f.responded_on = Some(d(2027, 1, 2));
        let ds = deadlines(&f, &CAL, d(2027, 1, 10));
        assert_eq!((ds[0].status, ds[1].status), (DeadlineStatus::Met, DeadlineStatus::Due));
        assert_eq!(next_due(&ds), Some(d(2027, 2, 16)));
        // Nothing by day 61: breached.
        assert_eq!(deadlines(&f, &CAL, d(2027, 2, 17))[1].status, DeadlineStatus::Breached);
    }

    #[test]
    fn regulator_dates_and_informal_complaints() {
        let mut f = facts("state_regulator", "general", d(2026, 5, 4));
        assert!(check_facts(&f).is_err(), "the letter's date is needed");
        f.regulator_due_on = Some(d(2026, 5, 20));
        assert_eq!(check_facts(&f), Ok(()));
        assert_eq!(due(&deadlines(&f, &CAL, d(2026, 5, 4)), "response"), d(2026, 5, 20));
        assert!(deadlines(&facts("informal", "general", d(2026, 5, 4)), &CAL, d(2026, 5, 4)).is_empty());
        assert!(check_facts(&facts("cfpb_portal", "payoff_statement", d(2026, 5, 4))).is_err());
        assert!(check_facts(&facts("whatever", "general", d(2026, 5, 4))).is_err());
    }
}
