//! How a person reads and types times and phone numbers: times in the organisation's time zone with the zone
//! shown, phones in national format. The API keeps RFC 3339 and E.164; this is for pages, letters and CSVs.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The time zone of the current request's reader: the signed-in person's own if they chose one on their
/// account page, else the organisation's (UTC outside a request).
pub fn zone() -> Tz {
    // Read in place: a page formats every date through here, and a copy of the whole context (its strings)
    // per date showed in the lead list's profile.
    super::reader_zone().unwrap_or(chrono_tz::UTC)
}

/// "2026-03-01 08:30 CST": a moment in the organisation's time zone, with the zone's abbreviation.
pub fn local_time(t: &DateTime<Utc>) -> String {
    t.with_timezone(&zone()).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// "2026-03-01 08:30:15 CST": [`local_time`] to the second (logs and audit trails).
pub fn local_seconds(t: &DateTime<Utc>) -> String {
    t.with_timezone(&zone()).format("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// Like [`local_time`] for an optional moment ("—" when there is none).
pub fn local_time_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(local_time).unwrap_or_else(|| "—".into())
}

/// "2026-03-01": the organisation's calendar day of a moment.
pub fn local_date(t: &DateTime<Utc>) -> String {
    let d = t.with_timezone(&zone()).date_naive();
    let (y, m, day) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        // NaiveDate's Display is exactly %Y-%m-%d (with a sign for years outside 0–9999).
        return d.to_string();
    }
    // Written digit by digit: a list page shows fifty dates, and going through the formatter showed in its profile.
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let y = y as u32;
    let mut s = String::with_capacity(10);
    s.extend([digit(y / 1000), digit(y / 100), digit(y / 10), digit(y), '-', digit(m / 10), digit(m), '-']);
    s.extend([digit(day / 10), digit(day)]);
    s
}

/// The zone's name for form labels ("times are America/Chicago time").
pub fn zone_name() -> &'static str {
    zone().name()
}

/// A `datetime-local` form value ("2026-03-01T08:30") in the organisation's time zone.
pub fn local_input(t: &DateTime<Utc>) -> String {
    t.with_timezone(&zone()).format("%Y-%m-%dT%H:%M").to_string()
}

/// A wall-clock time typed in a form (`datetime-local`), read in `tz`. In the hour a spring-forward skips, the
/// time is read one hour later; in the hour a fall-back repeats, the earlier of the two.
pub fn from_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| naive.and_utc()),
    }
}

/// A stored phone (E.164, "+15125551737") as an American reads it: "(512) 555-1737". Other numbers unchanged.
pub fn phone(p: &str) -> String {
    let digits = p.strip_prefix("+1").filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) => {
            let mut s = String::with_capacity(14);
            for part in ["(", &d[..3], ") ", &d[3..6], "-", &d[6..]] {
                s.push_str(part);
            }
            s
        }
        None => p.to_string(),
    }
}

/// [`phone`] for an optional phone ("" when there is none).
pub fn phone_opt(p: &Option<String>) -> String {
    p.as_deref().map(phone).unwrap_or_default()
}

/// A percentage as figures show it, to one decimal ("42.5%"), or "—" when it is undefined (nothing to divide by).
pub fn percent(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}%")).unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_read_nationally() {
        assert_eq!(phone("+15125551737"), "(512) 555-1737");
        assert_eq!(phone("+442071234567"), "+442071234567");
        assert_eq!(phone("512"), "512");
    }

    #[test]
    fn a_date_reads_as_the_day_it_is_in_the_readers_zone() {
        // Outside a request the zone is UTC: 23:30 UTC on the 1st is the 1st, 00:30 on the 2nd the 2nd.
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(local_date(&at("2026-03-01T23:30:00Z")), "2026-03-01");
        assert_eq!(local_date(&at("2026-03-02T00:30:00Z")), "2026-03-02");
        assert_eq!(local_date(&at("2026-11-25T12:00:00Z")), "2026-11-25");
        assert_eq!(local_date(&at("0999-12-31T12:00:00Z")), at("0999-12-31T12:00:00Z").format("%Y-%m-%d").to_string());
    }

    #[test]
    fn typed_times_are_read_in_the_organisations_zone() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap();
        // Winter: UTC-6; summer: UTC-5.
        assert_eq!(from_local(t("2026-01-15T09:00"), chicago).to_rfc3339(), "2026-01-15T15:00:00+00:00");
        assert_eq!(from_local(t("2026-07-15T09:00"), chicago).to_rfc3339(), "2026-07-15T14:00:00+00:00");
        // 2026-03-08 02:30 does not exist in Chicago (clocks jump 02:00 -> 03:00): read as 03:30 CDT.
        assert_eq!(from_local(t("2026-03-08T02:30"), chicago).to_rfc3339(), "2026-03-08T08:30:00+00:00");
        // 2026-11-01 01:30 happens twice: the earlier (CDT).
        assert_eq!(from_local(t("2026-11-01T01:30"), chicago).to_rfc3339(), "2026-11-01T06:30:00+00:00");
    }
}
