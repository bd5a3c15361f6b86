//! The rules of departments, with no database: which departments exist, which department an item goes to by
//! default and what it may decide, and the SLA clock in a department's business hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::calendar::Calendar;

/// The departments a production manager bridges to (one record each at most).
pub const KINDS: [(&str, &str); 9] = [
    ("underwriting", "Underwriting"),
    ("processing", "Processing"),
    ("closing", "Closing"),
    ("compliance", "Compliance"),
    ("legal", "Legal"),
    ("collections", "Collections"),
    ("secondary", "Secondary / pricing"),
    ("executive", "Executive"),
    ("marketing", "Marketing"),
];

pub fn kind_label(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l).unwrap_or("Department")
}

/// The item kind of a loss-mitigation case question (escalations use their escalation kind).
pub const CASE_QUESTION: &str = "case_question";

/// Every kind of item a department answers, with its label: the escalation kinds and the case question.
pub const ITEM_KINDS: [(&str, &str); 11] = [
    ("underwriting_scenario", "Underwriting scenario"),
    ("condition_dispute", "Underwriting condition dispute"),
    ("guideline_exception", "Guideline exception"),
    ("appraisal_issue", "Appraisal issue"),
    ("closing_delay", "Closing delay"),
    ("complaint", "Complaint"),
    ("compliance", "Compliance question"),
    ("executive", "Executive escalation"),
    ("pricing_exception", "Pricing exception"),
    ("lock_extension", "Lock extension"),
    (CASE_QUESTION, "Loss-mitigation case question"),
];

pub fn item_kind_label(kind: &str) -> &'static str {
    ITEM_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l).unwrap_or("Question")
}

/// The department an item goes to unless the manager picks another.
pub fn default_department(item_kind: &str) -> &'static str {
    match item_kind {
        "underwriting_scenario" | "condition_dispute" | "guideline_exception" | "appraisal_issue" => "underwriting",
        "closing_delay" => "closing",
        "complaint" | "compliance" => "compliance",
        "executive" => "executive",
        "pricing_exception" | "lock_extension" => "secondary",
        CASE_QUESTION => "legal",
        _ => "processing",
    }
}

/// The decisions a department may answer an item of this kind with: (key, label).
pub fn decision_options(item_kind: &str) -> &'static [(&'static str, &'static str)] {
    match item_kind {
        "underwriting_scenario" => &[
            ("eligible", "Eligible as presented"),
            ("eligible_with_conditions", "Eligible with conditions"),
            ("ineligible", "Not eligible"),
        ],
        "condition_dispute" => &[
            ("condition_waived", "Condition waived"),
            ("condition_modified", "Condition modified"),
            ("condition_stands", "Condition stands"),
        ],
        "guideline_exception" => {
            &[("exception_granted", "Exception granted"), ("exception_denied", "Exception denied")]
        }
        "appraisal_issue" => &[
            ("reconsideration_ordered", "Reconsideration of value ordered"),
            ("new_appraisal", "New appraisal ordered"),
            ("value_stands", "Value stands"),
        ],
        "closing_delay" => &[("new_date_set", "New closing date set"), ("cannot_close", "Cannot close as scheduled")],
        "complaint" => &[
            ("resolved", "Resolved with the borrower"),
            ("referred", "Referred (regulator or legal)"),
            ("unfounded", "Reviewed, unfounded"),
        ],
        "compliance" => &[("compliant", "Compliant as is"), ("remediate", "Remediation needed")],
        "executive" => &[("approved", "Approved"), ("declined", "Declined"), ("noted", "Noted, no action")],
        "pricing_exception" | "lock_extension" => &[("approved", "Approved"), ("declined", "Declined")],
        _ => &[("advised", "Advice given"), ("action_taken", "Action taken")],
    }
}

pub fn decision_label(item_kind: &str, decision: &str) -> &'static str {
    decision_options(item_kind).iter().find(|(k, _)| *k == decision).map(|(_, l)| *l).unwrap_or("Answered")
}

/// Response time when a department has none configured for a kind: one business day of eight hours.
pub const DEFAULT_RESPONSE_MINUTES: i32 = 480;

/// A department's business hours: [opens, closes) minutes after local midnight on ISO weekdays (1 = Monday),
/// closed on the legal public holidays of the organisation's calendar (5 U.S.C. 6103(a), `crate::calendar`).
#[derive(Debug, Clone)]
pub struct Hours {
    pub tz: Tz,
    pub opens_minute: i32,
    pub closes_minute: i32,
    pub work_days: Vec<i32>,
    pub calendar: Calendar,
}

impl Hours {
    fn works_on(&self, d: NaiveDate) -> bool {
        self.work_days.contains(&(d.weekday().number_from_monday() as i32)) && !self.calendar.is_holiday(d)
    }

    fn at(&self, d: NaiveDate, minute: i32) -> DateTime<Utc> {
        let naive = d.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        // A local time skipped by a clock change is read an hour later; a repeated one as its first occurrence.
        self.tz
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| self.tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
    }

    /// The moment `minutes` business minutes after `from`: time outside the hours (nights, days off) does not
    /// count, nor do legal public holidays. 60 minutes from Friday 16:30 with hours 9:00–17:00 Monday to Friday is
    /// Monday 9:30.
    pub fn add_business_minutes(&self, from: DateTime<Utc>, minutes: i32) -> DateTime<Utc> {
        let mut left = i64::from(minutes.max(0));
        let mut day = from.with_timezone(&self.tz).date_naive();
        let mut cursor = from;
        // At most two years of days: hours with no working day at all fall back to wall-clock minutes.
        for _ in 0..800 {
            if self.works_on(day) {
                let open = self.at(day, self.opens_minute);
                let close = self.at(day, self.closes_minute);
                let start = cursor.max(open);
                if start < close {
                    let available = (close - start).num_minutes();
                    if left <= available {
                        return start + Duration::minutes(left);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt().unwrap_or(day);
            cursor = self.at(day, 0);
        }
        from + Duration::minutes(i64::from(minutes))
    }
}

/// "09:00" ↔ 540 for the hours form.
pub fn parse_clock(s: &str) -> Option<i32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

pub fn format_clock(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The median of response times in minutes (sorted or not); None for none.
pub fn median_minutes(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2 })
}

/// "2 h 05 min" for a response time.
pub fn format_minutes(m: i64) -> String {
    if m < 60 { format!("{m} min") } else { format!("{} h {:02} min", m / 60, m % 60) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago_weekdays() -> Hours {
        Hours {
            tz: chrono_tz::America::Chicago,
            opens_minute: 540,
            closes_minute: 1020,
            work_days: vec![1, 2, 3, 4, 5],
            calendar: Calendar::default(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn business_minutes_skip_nights_and_weekends() {
        let h = chicago_weekdays();
        // Friday 2026-03-06 16:30 CST (22:30 UTC) + 60 min: 30 on Friday, 30 on Monday from 9:00 → Monday 9:30,
        // which is CDT (UTC-5) after the clock change of 2026-03-08: 14:30 UTC.
        assert_eq!(h.add_business_minutes(utc("2026-03-06T22:30:00Z"), 60), utc("2026-03-09T14:30:00Z"));
        // Tuesday 2026-03-10 08:00 CDT (13:00 UTC), before opening, + 90 min → 10:30 CDT = 15:30 UTC.
        assert_eq!(h.add_business_minutes(utc("2026-03-10T13:00:00Z"), 90), utc("2026-03-10T15:30:00Z"));
        // Tuesday 12:00 CDT + 8 h of business time → Wednesday 12:00 CDT (17:00 UTC).
        assert_eq!(h.add_business_minutes(utc("2026-03-10T17:00:00Z"), 480), utc("2026-03-11T17:00:00Z"));
        // Saturday evening + 15 min → Monday 9:15 CDT (14:15 UTC).
        assert_eq!(h.add_business_minutes(utc("2026-03-14T23:00:00Z"), 15), utc("2026-03-16T14:15:00Z"));
    }

    #[test]
    fn around_the_clock_hours_are_wall_minutes() {
        let h = Hours {
            tz: chrono_tz::UTC,
            opens_minute: 0,
            closes_minute: 1440,
            work_days: (1..=7).collect(),
            calendar: Calendar::default(),
        };
        let from = utc("2026-05-02T23:50:00Z");
        assert_eq!(h.add_business_minutes(from, 60), utc("2026-05-03T00:50:00Z"));
    }

    #[test]
    fn business_minutes_skip_thanksgiving() {
        let h = chicago_weekdays();
        // Wednesday 2026-11-25 16:00 CST (22:00 UTC) + 120 min: 60 on Wednesday; Thursday 11-26 is Thanksgiving
        // Day (closed), so the other 60 run Friday 9:00–10:00 CST: Friday 2026-11-27 16:00 UTC.
        assert_eq!(h.add_business_minutes(utc("2026-11-25T22:00:00Z"), 120), utc("2026-11-27T16:00:00Z"));
        // Christmas Day 2026 is a Friday: 60 minutes from Thursday 12-24 16:30 CST end Monday 12-28 9:30 CST.
        assert_eq!(h.add_business_minutes(utc("2026-12-24T22:30:00Z"), 60), utc("2026-12-28T15:30:00Z"));
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(default_department("underwriting_scenario"), "underwriting");
        assert_eq!(default_department("complaint"), "compliance");
        assert_eq!(default_department(CASE_QUESTION), "legal");
        assert!(decision_options("condition_dispute").iter().any(|(k, _)| *k == "condition_waived"));
        assert_eq!(decision_label("underwriting_scenario", "ineligible"), "Not eligible");
    }

    #[test]
    fn clocks_and_medians() {
        assert_eq!(parse_clock("09:00"), Some(540));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("25:00"), None);
        assert_eq!(format_clock(1020), "17:00");
        assert_eq!(median_minutes(&mut [30, 10, 20]), Some(20));
        assert_eq!(median_minutes(&mut [40, 10, 20, 30]), Some(25));
        assert_eq!(median_minutes(&mut []), None);
        assert_eq!(format_minutes(125), "2 h 05 min");
    }
}
