//! Business days for the Regulation X clocks counted "excluding legal public holidays, Saturdays, and Sundays"
//! (12 CFR 1024.41(b)(2)(i)(B), (c)(3); 1024.35(d), (e)(3); 1024.36(c), (d)(2)): the organisation's one calendar.
//! Loss mitigation's clocks, the complaint clocks of departments and the departments' business hours all count
//! on it, so it sits in the foundation, below every capability.
//!
//! The legal public holidays are those of 5 U.S.C. 6103(a), **on their own dates**: New Year's Day (1 January),
//! Birthday of Martin Luther King, Jr. (third Monday of January), Washington's Birthday (third Monday of
//! February), Memorial Day (last Monday of May), Juneteenth National Independence Day (19 June, a legal public
//! holiday from 2021 on), Independence Day (4 July), Labor Day (first Monday of September), Columbus Day
//! (second Monday of October), Veterans Day (11 November), Thanksgiving Day (fourth Thursday of November) and
//! Christmas Day (25 December). Inauguration Day (6103(c)) concerns only federal employees in the Washington
//! area and is not one of them.
//!
//! When one of the five fixed-date holidays falls on a Saturday or a Sunday, federal offices close on the Friday
//! before or the Monday after "in lieu of" it (6103(b), Executive Order 11582). Whether that weekday is a business
//! day is the organisation's setting [`Calendar::observed_in_lieu_is_business_day`]. The default is `true`: every
//! clock here counts business days *forward* from an event, so the more days that count, the sooner the
//! deadline — and the Bureau reads "legal public holidays specified in 5 U.S.C. 6103(a)" the same way (only
//! the date in the statute is the holiday; Regulation Z comment 2(a)(6)-2). An application received Wednesday
//! 2026-07-01 must be acknowledged by Wednesday 07-08 with the default (Friday 07-03, observed in lieu of
//! Saturday 07-04, counts), by Thursday 07-09 with the setting off.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Serialize;
use sqlx::PgPool;

/// The organisation setting (key in `settings`) behind [`Calendar::observed_in_lieu_is_business_day`].
pub const SETTING_OBSERVED_IN_LIEU: &str = "lossmit.observed_holidays_are_business_days";

/// How the organisation counts business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Calendar {
    /// Whether a Friday or Monday observed in lieu of a legal public holiday that falls on a Saturday or Sunday
    /// is a business day. `true` (the default) gives the earlier deadline.
    pub observed_in_lieu_is_business_day: bool,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar { observed_in_lieu_is_business_day: true }
    }
}

/// The organisation's calendar (the setting [`SETTING_OBSERVED_IN_LIEU`]; the default when never set or not a
/// boolean).
pub async fn organisation(db: &PgPool) -> sqlx::Result<Calendar> {
    let v = sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", SETTING_OBSERVED_IN_LIEU)
        .fetch_optional(db)
        .await?;
    Ok(match v.and_then(|v| v.as_bool()) {
        Some(b) => Calendar { observed_in_lieu_is_business_day: b },
        None => Calendar::default(),
    })
}

/// The legal public holidays of 5 U.S.C. 6103(a) in `year`, on their own dates (a Saturday or Sunday included),
/// with their statutory names, in date order.
pub fn legal_public_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let on = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
    let nth = |m: u32, wd: Weekday, n: u8| NaiveDate::from_weekday_of_month_opt(year, m, wd, n);
    let mut days: Vec<(Option<NaiveDate>, &'static str)> = vec![
        (on(1, 1), "New Year's Day"),
        (nth(1, Weekday::Mon, 3), "Birthday of Martin Luther King, Jr."),
        (nth(2, Weekday::Mon, 3), "Washington's Birthday"),
        (last_weekday_of(year, 5, Weekday::Mon), "Memorial Day"),
        (on(7, 4), "Independence Day"),
        (nth(9, Weekday::Mon, 1), "Labor Day"),
        (nth(10, Weekday::Mon, 2), "Columbus Day"),
        (on(11, 11), "Veterans Day"),
        (nth(11, Weekday::Thu, 4), "Thanksgiving Day"),
        (on(12, 25), "Christmas Day"),
    ];
    // Juneteenth National Independence Day Act, Pub. L. 117-17 (17 June 2021).
    if year >= 2021 {
        days.push((on(6, 19), "Juneteenth National Independence Day"));
    }
    let mut out: Vec<(NaiveDate, &'static str)> = days.into_iter().filter_map(|(d, n)| d.map(|d| (d, n))).collect();
    out.sort();
    out
}

/// The weekdays of `year` observed in lieu of a legal public holiday falling on a weekend: the Friday before a
/// Saturday holiday, the Monday after a Sunday one (31 December when the next New Year's Day is a Saturday).
pub fn observed_in_lieu(year: i32) -> Vec<NaiveDate> {
    let mut out: Vec<NaiveDate> = [year - 1, year, year + 1]
        .into_iter()
        .flat_map(legal_public_holidays)
        .filter_map(|(d, _)| match d.weekday() {
            Weekday::Sat => Some(d - Duration::days(1)),
            Weekday::Sun => Some(d + Duration::days(1)),
            _ => None,
        })
        .filter(|d| d.year() == year)
        .collect();
    out.sort();
    out
}

fn last_weekday_of(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, wd, 4))
}

/// Whether `d` is a legal public holiday (on its own date).
pub fn is_legal_public_holiday(d: NaiveDate) -> bool {
    legal_public_holidays(d.year()).iter().any(|(h, _)| *h == d)
}

/// Whether `d` is a weekday observed in lieu of a weekend legal public holiday.
pub fn is_observed_in_lieu(d: NaiveDate) -> bool {
    observed_in_lieu(d.year()).contains(&d)
}

impl Calendar {
    /// Monday to Friday, not a legal public holiday, and — unless the organisation counts them — not a day
    /// observed in lieu of one.
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_holiday(d)
    }

    /// A legal public holiday, or — unless the organisation counts them — a day observed in lieu of one: closed
    /// whatever the weekday (a department's business hours skip these too).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        is_legal_public_holiday(d) || (!self.observed_in_lieu_is_business_day && is_observed_in_lieu(d))
    }

    /// The date `n` business days after `from` (the day of `from` itself is not counted), e.g. the last day to
    /// acknowledge an application received on `from` "within 5 days (excluding legal public holidays, Saturdays
    /// and Sundays)" under 12 CFR 1024.41(b)(2)(i)(B).
    pub fn add_business_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_business_day(d) {
                left -= 1;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const DEFAULT: Calendar = Calendar { observed_in_lieu_is_business_day: true };
    const CLOSED: Calendar = Calendar { observed_in_lieu_is_business_day: false };

    /// Each year's legal public holidays on their own dates, in date order (New Year's, MLK, Washington's,
    /// Memorial, Juneteenth, Independence, Labor, Columbus, Veterans, Thanksgiving, Christmas), and the weekdays
    /// observed in lieu of those falling on a weekend — read off the calendar of each year.
    #[allow(clippy::type_complexity)]
    const YEARS: [(i32, [(u32, u32); 11], &[(u32, u32)]); 10] = [
        // 2021: Juneteenth Sat (Fri 18 Jun), July 4 Sun (Mon 5 Jul), Christmas Sat (Fri 24 Dec); New Year's Day
        // 2022 is a Saturday, observed Fri 31 Dec 2021.
        (
            2021,
            [(1, 1), (1, 18), (2, 15), (5, 31), (6, 19), (7, 4), (9, 6), (10, 11), (11, 11), (11, 25), (12, 25)],
            &[(6, 18), (7, 5), (12, 24), (12, 31)],
        ),
        // 2022: New Year's Sat (observed in 2021), Juneteenth Sun (Mon 20 Jun), Christmas Sun (Mon 26 Dec).
        (
            2022,
            [(1, 1), (1, 17), (2, 21), (5, 30), (6, 19), (7, 4), (9, 5), (10, 10), (11, 11), (11, 24), (12, 25)],
            &[(6, 20), (12, 26)],
        ),
        // 2023: New Year's Sun (Mon 2 Jan), Veterans Day Sat (Fri 10 Nov).
        (
            2023,
            [(1, 1), (1, 16), (2, 20), (5, 29), (6, 19), (7, 4), (9, 4), (10, 9), (11, 11), (11, 23), (12, 25)],
            &[(1, 2), (11, 10)],
        ),
        // 2024: every fixed-date holiday on a weekday.
        (
            2024,
            [(1, 1), (1, 15), (2, 19), (5, 27), (6, 19), (7, 4), (9, 2), (10, 14), (11, 11), (11, 28), (12, 25)],
            &[],
        ),
        (
            2025,
            [(1, 1), (1, 20), (2, 17), (5, 26), (6, 19), (7, 4), (9, 1), (10, 13), (11, 11), (11, 27), (12, 25)],
            &[],
        ),
        // 2026: July 4 Sat (Fri 3 Jul).
        (
            2026,
            [(1, 1), (1, 19), (2, 16), (5, 25), (6, 19), (7, 4), (9, 7), (10, 12), (11, 11), (11, 26), (12, 25)],
            &[(7, 3)],
        ),
        // 2027: Juneteenth Sat (Fri 18 Jun), July 4 Sun (Mon 5 Jul), Christmas Sat (Fri 24 Dec), New Year's Day
        // 2028 Sat (Fri 31 Dec 2027).
        (
            2027,
            [(1, 1), (1, 18), (2, 15), (5, 31), (6, 19), (7, 4), (9, 6), (10, 11), (11, 11), (11, 25), (12, 25)],
            &[(6, 18), (7, 5), (12, 24), (12, 31)],
        ),
        // 2028 (leap year): New Year's Sat (observed in 2027), Veterans Day Sat (Fri 10 Nov).
        (
            2028,
            [(1, 1), (1, 17), (2, 21), (5, 29), (6, 19), (7, 4), (9, 4), (10, 9), (11, 11), (11, 23), (12, 25)],
            &[(11, 10)],
        ),
        // 2029: Veterans Day Sun (Mon 12 Nov).
        (
            2029,
            [(1, 1), (1, 15), (2, 19), (5, 28), (6, 19), (7, 4), (9, 3), (10, 8), (11, 11), (11, 22), (12, 25)],
            &[(11, 12)],
        ),
        (
            2030,
            [(1, 1), (1, 21), (2, 18), (5, 27), (6, 19), (7, 4), (9, 2), (10, 14), (11, 11), (11, 28), (12, 25)],
            &[],
        ),
    ];

    #[test]
    fn legal_public_holidays_year_by_year_2021_to_2030() {
        for (year, holidays, in_lieu) in YEARS {
            let got: Vec<NaiveDate> = legal_public_holidays(year).into_iter().map(|(h, _)| h).collect();
            let want: Vec<NaiveDate> = holidays.iter().map(|&(m, day)| d(year, m, day)).collect();
            assert_eq!(got, want, "{year}");
            let want_in_lieu: Vec<NaiveDate> = in_lieu.iter().map(|&(m, day)| d(year, m, day)).collect();
            assert_eq!(observed_in_lieu(year), want_in_lieu, "{year}");
            for h in &want {
                assert!(is_legal_public_holiday(*h), "{h}");
                assert!(!DEFAULT.is_business_day(*h) && !CLOSED.is_business_day(*h), "{h}");
            }
            for o in &want_in_lieu {
                assert!(!matches!(o.weekday(), Weekday::Sat | Weekday::Sun), "{o} is a weekday");
                assert!(!is_legal_public_holiday(*o), "{o}: only the statutory date is the holiday");
                assert!(DEFAULT.is_business_day(*o), "{o}: a business day by default");
                assert!(!CLOSED.is_business_day(*o), "{o}: not one when the organisation says so");
            }
            // Every other weekday of the year is a business day under both settings.
            let mut day = d(year, 1, 1);
            let mut business = 0;
            while day.year() == year {
                let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                if !weekend && !want.contains(&day) && !want_in_lieu.contains(&day) {
                    assert!(DEFAULT.is_business_day(day) && CLOSED.is_business_day(day), "{day}");
                    business += 1;
                }
                day += Duration::days(1);
            }
            assert!((240..=255).contains(&business), "{year}: {business}");
        }
    }

    #[test]
    fn names_and_juneteenth_from_2021() {
        let names: Vec<&str> = legal_public_holidays(2026).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names.len(), 11);
        assert_eq!(names[4], "Juneteenth National Independence Day");
        assert!(legal_public_holidays(2020).iter().all(|(h, _)| *h != d(2020, 6, 19)), "not before the 2021 Act");
        assert_eq!(legal_public_holidays(2020).len(), 10);
        assert!(is_legal_public_holiday(d(2021, 6, 19)));
    }

    #[test]
    fn five_business_days_skip_weekends_and_holidays() {
        for cal in [DEFAULT, CLOSED] {
            // Received Friday 2026-11-20: Mon 23 (1), Tue 24 (2), Wed 25 (3), Thu 26 Thanksgiving, Fri 27 (4),
            // Sat/Sun, Mon 30 (5).
            assert_eq!(cal.add_business_days(d(2026, 11, 20), 5), d(2026, 11, 30));
            // Received on a Saturday: Mon-Fri of the next week.
            assert_eq!(cal.add_business_days(d(2026, 3, 7), 5), d(2026, 3, 13));
            assert_eq!(cal.add_business_days(d(2026, 3, 9), 0), d(2026, 3, 9));
            // Received Friday 2026-12-18: Mon 21, Tue 22, Wed 23, Thu 24 (4), Fri 25 Christmas, Mon 28 (5).
            assert_eq!(cal.add_business_days(d(2026, 12, 18), 5), d(2026, 12, 28));
            // Received Friday 2028-02-25: Mon 28, Tue 29 (leap day), Wed 1, Thu 2, Fri 3 March.
            assert_eq!(cal.add_business_days(d(2028, 2, 25), 5), d(2028, 3, 3));
            // Received Friday 2030-01-18: Mon 21 is MLK Day: Tue 22 .. Mon 28.
            assert_eq!(cal.add_business_days(d(2030, 1, 18), 5), d(2030, 1, 28));
        }
    }

    #[test]
    fn the_observed_day_setting_moves_the_deadline() {
        // Received Wednesday 2026-07-01. By default Fri 3 July (observed in lieu of Saturday the 4th) counts:
        // Thu 2 (1), Fri 3 (2), Mon 6 (3), Tue 7 (4), Wed 8 (5). With it off: Thu 2, Mon 6, Tue 7, Wed 8, Thu 9.
        assert_eq!(DEFAULT.add_business_days(d(2026, 7, 1), 5), d(2026, 7, 8));
        assert_eq!(CLOSED.add_business_days(d(2026, 7, 1), 5), d(2026, 7, 9));
        // Received Thursday 2027-12-30: Fri 31 Dec (New Year's Day 2028 is a Saturday) counts by default:
        // Fri 31 (1), Mon 3 (2), Tue 4 (3), Wed 5 (4), Thu 6 (5); with it off Fri 7.
        assert_eq!(DEFAULT.add_business_days(d(2027, 12, 30), 5), d(2028, 1, 6));
        assert_eq!(CLOSED.add_business_days(d(2027, 12, 30), 5), d(2028, 1, 7));
        // Received Friday 2029-11-09: Veterans Day is Sunday the 11th; Monday the 12th counts by default.
        assert_eq!(DEFAULT.add_business_days(d(2029, 11, 9), 5), d(2029, 11, 16));
        assert_eq!(CLOSED.add_business_days(d(2029, 11, 9), 5), d(2029, 11, 19));
        // The default never gives a later deadline than the other reading.
        let mut from = d(2021, 1, 1);
        while from < d(2031, 1, 1) {
            assert!(DEFAULT.add_business_days(from, 5) <= CLOSED.add_business_days(from, 5), "{from}");
            from += Duration::days(1);
        }
        assert_eq!(Calendar::default(), DEFAULT);
    }
}
