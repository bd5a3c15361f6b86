//! When a borrower may be called: the calling window of the property's state (federal 8:00–21:00, or a
//! stricter state law), in every time zone the state spans, and a phone number as the do-not-call lists hold
//! it. Pure: the windows come from the `calling_windows` table; unit-tested below.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// One state's calling hours: weekdays, Saturdays and Sundays (None: no calls that day), in every zone listed.
#[derive(Debug, Clone)]
pub struct CallingWindow {
    pub state: String,
    pub zones: Vec<Tz>,
    pub weekday: (NaiveTime, NaiveTime),
    pub saturday: Option<(NaiveTime, NaiveTime)>,
    pub sunday: Option<(NaiveTime, NaiveTime)>,
    /// Local dates with no calls at all (the state's law forbids calls on legal holidays).
    pub holidays: Vec<NaiveDate>,
    pub source: String,
}

fn hm(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour")
}

impl CallingWindow {
    /// The federal window (8:00–21:00 every day) in one zone: for a lead with no property state, in the
    /// organisation's time zone.
    pub fn federal(zone: Tz) -> Self {
        let day = (hm(8), hm(21));
        Self {
            state: String::new(),
            zones: vec![zone],
            weekday: day,
            saturday: Some(day),
            sunday: Some(day),
            holidays: Vec::new(),
            source: "Federal TCPA: 8:00-21:00".into(),
        }
    }

    fn hours(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if self.holidays.contains(&date) {
            return None;
        }
        match date.weekday() {
            Weekday::Sat => self.saturday,
            Weekday::Sun => self.sunday,
            _ => Some(self.weekday),
        }
    }

    /// Whether a call at `at` falls inside the window in every zone of the state.
    pub fn allows(&self, at: DateTime<Utc>) -> bool {
        self.zones.iter().all(|z| {
            let local = at.with_timezone(z);
            self.hours(local.date_naive()).is_some_and(|(from, until)| local.time() >= from && local.time() < until)
        })
    }

    /// The first moment at or after `at` when a call is allowed (within the next eight days; `at` itself when
    /// none is found, which no real window produces).
    pub fn next_allowed(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.allows(at) {
            return at;
        }
        let mut candidates: Vec<DateTime<Utc>> = Vec::new();
        for z in &self.zones {
            let today = at.with_timezone(z).date_naive();
            for d in 0..8 {
                let day = today + chrono::Duration::days(d);
                if let Some((from, _)) = self.hours(day) {
                    if let Some(t) = z.from_local_datetime(&day.and_time(from)).earliest() {
                        candidates.push(t.with_timezone(&Utc));
                    }
                }
            }
        }
        candidates.sort();
        candidates.into_iter().find(|t| *t >= at && self.allows(*t)).unwrap_or(at)
    }

    /// The hours as a person reads them, e.g. "9:00–21:00 Monday–Saturday, 12:00–21:00 Sunday".
    pub fn describe(&self) -> String {
        let span = |(a, b): (NaiveTime, NaiveTime)| format!("{}–{}", a.format("%-H:%M"), b.format("%-H:%M"));
        let mut parts = Vec::new();
        if self.saturday == Some(self.weekday) {
            parts.push(format!("{} Monday–Saturday", span(self.weekday)));
        } else {
            parts.push(format!("{} Monday–Friday", span(self.weekday)));
            parts.push(match self.saturday {
                Some(s) => format!("{} Saturday", span(s)),
                None => "no calls Saturday".into(),
            });
        }
        parts.push(match self.sunday {
            Some(s) => format!("{} Sunday", span(s)),
            None => "no calls Sunday".into(),
        });
        if !self.holidays.is_empty() {
            parts.push("no calls on legal holidays".into());
        }
        parts.join(", ")
    }
}

/// The calling windows of every state and the state of every US area code: which hours apply to a borrower.
#[derive(Debug, Clone, Default)]
pub struct CallingRules {
    pub windows: Vec<CallingWindow>,
    /// Area code → state (`area_code_states`).
    pub area_codes: std::collections::HashMap<String, String>,
}

impl CallingRules {
    /// The state whose hours apply to a borrower: the property's, or else the state of the phone's area code
    /// (true when it came from the phone).
    pub fn state_for(&self, property_state: Option<&str>, phone: Option<&str>) -> Option<(String, bool)> {
        if let Some(s) = property_state.map(str::trim).filter(|s| !s.is_empty()) {
            return Some((s.to_uppercase(), false));
        }
        let digits = dnc_number(phone?)?;
        self.area_codes.get(&digits[..3]).map(|s| (s.clone(), true))
    }

    /// The window that applies to a borrower (see [`Self::state_for`]); the federal one in the organisation's
    /// zone when neither the property nor the phone names a state.
    pub fn window_for(&self, property_state: Option<&str>, phone: Option<&str>, org: Tz) -> CallingWindow {
        self.state_for(property_state, phone)
            .and_then(|(s, _)| self.windows.iter().find(|w| w.state == s))
            .cloned()
            .unwrap_or_else(|| CallingWindow::federal(org))
    }
}

/// A phone number as the do-not-call lists hold it: the ten digits of its E.164 form (the leads' own
/// normaliser, [`super::model::normalize_phone`]), or None when it is not a US number.
pub fn dnc_number(phone: &str) -> Option<String> {
    super::model::normalize_phone(phone).ok().map(|e164| e164[2..].to_string())
}

/// The opt-out channels a lead arrived with, as a source writes them ("call; email", "all", ""): each one of
/// `call`, `text`, `email`, `all`, without repeats; the message names the first unknown one.
pub fn opt_out_channels(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split([';', ',', '|', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        let channel = word.to_lowercase();
        if !["call", "text", "email", "all"].contains(&channel.as_str()) {
            return Err(format!(
                "'{}' is not a channel: use call, text, email or all",
                word.chars().take(20).collect::<String>()
            ));
        }
        if !out.contains(&channel) {
            out.push(channel);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texas() -> CallingWindow {
        CallingWindow {
            state: "TX".into(),
            zones: vec![chrono_tz::America::Chicago, chrono_tz::America::Denver],
            weekday: (hm(9), hm(21)),
            saturday: Some((hm(9), hm(21))),
            sunday: Some((hm(12), hm(21))),
            holidays: Vec::new(),
            source: "Texas".into(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_state_window_holds_in_every_zone_it_spans() {
        let tx = texas();
        // Monday 2026-12-07, 15:00 UTC = 9:00 Chicago but 8:00 Denver (El Paso): not yet.
        assert!(!tx.allows(utc("2026-12-07T15:00:00Z")));
        // 16:00 UTC = 10:00 Chicago, 9:00 Denver.
        assert!(tx.allows(utc("2026-12-07T16:00:00Z")));
        assert_eq!(tx.next_allowed(utc("2026-12-07T15:00:00Z")), utc("2026-12-07T16:00:00Z"));
        // 02:30 UTC Tuesday = 20:30 Chicago Monday, 19:30 Denver: allowed; 03:00 = 21:00 Chicago: not.
        assert!(tx.allows(utc("2026-12-08T02:30:00Z")));
        assert!(!tx.allows(utc("2026-12-08T03:00:00Z")));
        // Sunday 2026-12-06 17:00 UTC = 11:00 Chicago: Texas waits for noon (12:00 Denver = 19:00 UTC).
        assert!(!tx.allows(utc("2026-12-06T17:00:00Z")));
        assert_eq!(tx.next_allowed(utc("2026-12-06T17:00:00Z")), utc("2026-12-06T19:00:00Z"));
        assert_eq!(tx.describe(), "9:00–21:00 Monday–Saturday, 12:00–21:00 Sunday");
    }

    #[test]
    fn no_sunday_calls_move_to_monday_and_federal_hours_apply_without_a_state() {
        let mut ut = CallingWindow::federal(chrono_tz::America::Denver);
        ut.sunday = None;
        // Sunday 2026-12-06 18:00 UTC = 11:00 Denver: no calls on Sunday; Monday 8:00 Denver = 15:00 UTC.
        assert_eq!(ut.next_allowed(utc("2026-12-06T18:00:00Z")), utc("2026-12-07T15:00:00Z"));
        assert_eq!(ut.describe(), "8:00–21:00 Monday–Saturday, no calls Sunday");
        let fed = CallingWindow::federal(chrono_tz::America::New_York);
        assert!(fed.allows(utc("2026-12-07T13:00:00Z")), "8:00 New York");
        assert!(!fed.allows(utc("2026-12-07T12:59:00Z")));
    }

    #[test]
    fn a_state_that_forbids_holiday_calls_waits_for_the_next_working_day() {
        let mut al = CallingWindow::federal(chrono_tz::America::Chicago);
        al.sunday = None;
        al.holidays = vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()];
        // Friday 25 December 2026, 16:00 UTC = 10:00 Chicago: Christmas; next is Saturday 8:00 Chicago.
        assert!(!al.allows(utc("2026-12-25T16:00:00Z")));
        assert_eq!(al.next_allowed(utc("2026-12-25T16:00:00Z")), utc("2026-12-26T14:00:00Z"));
        assert!(al.describe().ends_with("no calls on legal holidays"), "{}", al.describe());
    }

    #[test]
    fn without_a_property_state_the_phone_area_code_decides() {
        let rules = CallingRules {
            windows: vec![texas()],
            area_codes: [("512".to_string(), "TX".to_string())].into_iter().collect(),
        };
        let org = chrono_tz::America::New_York;
        assert_eq!(rules.state_for(None, Some("+15125550101")), Some(("TX".into(), true)));
        assert_eq!(rules.state_for(Some("ca"), Some("+15125550101")), Some(("CA".into(), false)));
        assert_eq!(rules.window_for(None, Some("(512) 555-0101"), org).state, "TX");
        // An unknown code, or no phone: federal hours in the organisation's zone.
        assert_eq!(rules.window_for(None, Some("+12125550101"), org).state, "");
        assert_eq!(rules.window_for(None, None, org).zones, vec![org]);
    }

    #[test]
    fn opt_out_columns_name_channels() {
        assert_eq!(opt_out_channels("").unwrap(), Vec::<String>::new());
        assert_eq!(opt_out_channels("Call; email,call").unwrap(), vec!["call".to_string(), "email".to_string()]);
        assert!(opt_out_channels("call; fax").unwrap_err().contains("'fax'"));
    }

    #[test]
    fn numbers_are_kept_as_ten_digits() {
        assert_eq!(dnc_number("(512) 555-0101").as_deref(), Some("5125550101"));
        assert_eq!(dnc_number("+1 512.555.0101").as_deref(), Some("5125550101"));
        assert_eq!(dnc_number("555-0101"), None);
        assert_eq!(dnc_number("25125550101"), None);
    }
}
