//! Business days for the Regulation X clocks: Monday to Friday, excluding US federal public holidays
//! (5 U.S.C. 6103, the eleven holidays OPM publishes, Juneteenth included). A holiday falling on a Saturday is
//! observed the Friday before, one falling on a Sunday the Monday after (Inauguration Day is not needed here).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// The observed dates of the federal holidays of `year` (New Year's Day of `year + 1` may be observed on
/// 31 December of `year`, so it is included when it is).
pub fn federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).map(observed);
    let nth = |m: u32, wd: Weekday, n: u8| NaiveDate::from_weekday_of_month_opt(year, m, wd, n);
    let mut days: Vec<NaiveDate> = [
        fixed(1, 1),                            // New Year's Day
        nth(1, Weekday::Mon, 3),                // Birthday of Martin Luther King, Jr.
        nth(2, Weekday::Mon, 3),                // Washington's Birthday
        last_weekday_of(year, 5, Weekday::Mon), // Memorial Day
        fixed(6, 19),                           // Juneteenth National Independence Day
        fixed(7, 4),                            // Independence Day
        nth(9, Weekday::Mon, 1),                // Labor Day
        nth(10, Weekday::Mon, 2),               // Columbus Day
        fixed(11, 11),                          // Veterans Day
        nth(11, Weekday::Thu, 4),               // Thanksgiving Day
        fixed(12, 25),                          // Christmas Day
    ]
    .into_iter()
    .flatten()
    .collect();
    // The next New Year's Day, when it falls on a Saturday, is observed on 31 December of this year.
    if let Some(next) = NaiveDate::from_ymd_opt(year + 1, 1, 1).map(observed) {
        if next.year() == year {
            days.push(next);
        }
    }
    // ...and this year's, in that case, is not observed in this year at all.
    days.retain(|d| d.year() == year);
    days.sort();
    days
}

/// Saturday holidays are observed on Friday, Sunday holidays on Monday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

fn last_weekday_of(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, wd, 4))
}

/// Whether `d` is an observed federal holiday.
pub fn is_federal_holiday(d: NaiveDate) -> bool {
    federal_holidays(d.year()).contains(&d)
}

/// Monday to Friday and not an observed federal holiday.
pub fn is_business_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_federal_holiday(d)
}

/// The date `n` business days after `from` (the day of `from` itself is not counted), e.g. the last day to
/// acknowledge an application received on `from` "within 5 days (excluding legal public holidays, Saturdays
/// and Sundays)" under 12 CFR 1024.41(b)(2)(i)(B).
pub fn add_business_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut d = from;
    let mut left = n;
    while left > 0 {
        d += Duration::days(1);
        if is_business_day(d) {
            left -= 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn holidays_2026_with_observed_dates() {
        assert_eq!(
            federal_holidays(2026),
            vec![
                d(2026, 1, 1),   // Thursday
                d(2026, 1, 19),  // MLK: third Monday
                d(2026, 2, 16),  // Washington's Birthday
                d(2026, 5, 25),  // Memorial Day: last Monday
                d(2026, 6, 19),  // Juneteenth, a Friday
                d(2026, 7, 3),   // July 4 is a Saturday -> observed Friday July 3
                d(2026, 9, 7),   // Labor Day
                d(2026, 10, 12), // Columbus Day
                d(2026, 11, 11), // Veterans Day, Wednesday
                d(2026, 11, 26), // Thanksgiving: fourth Thursday
                d(2026, 12, 25), // Christmas, Friday
            ]
        );
        assert!(!is_business_day(d(2026, 7, 3)));
        assert!(!is_federal_holiday(d(2026, 7, 4)), "the Saturday itself is a weekend day, not the observed date");
    }

    #[test]
    fn sunday_holiday_is_observed_monday() {
        // Juneteenth 2022 was a Sunday -> observed Monday June 20; Christmas 2022 Sunday -> Monday Dec 26.
        assert!(is_federal_holiday(d(2022, 6, 20)));
        assert!(is_federal_holiday(d(2022, 12, 26)));
        // Veterans Day 2029 is a Sunday -> Monday Nov 12.
        assert!(is_federal_holiday(d(2029, 11, 12)));
    }

    #[test]
    fn saturday_new_year_is_observed_on_the_previous_december_31() {
        // 1 January 2028 is a Saturday: observed Friday 31 December 2027.
        assert!(federal_holidays(2027).contains(&d(2027, 12, 31)));
        assert!(!federal_holidays(2028).contains(&d(2027, 12, 31)));
        assert!(!is_business_day(d(2027, 12, 31)));
    }

    #[test]
    fn five_business_days_skip_weekend_and_thanksgiving() {
        // Received Friday 2026-11-20: Mon 23 (1), Tue 24 (2), Wed 25 (3), Thu 26 Thanksgiving, Fri 27 (4),
        // Sat/Sun, Mon 30 (5).
        assert_eq!(add_business_days(d(2026, 11, 20), 5), d(2026, 11, 30));
        // Received Monday 2026-06-29: Tue 30 (1), Wed 1 (2), Thu 2 (3), Fri 3 observed July 4, Mon 6 (4), Tue 7 (5).
        assert_eq!(add_business_days(d(2026, 6, 29), 5), d(2026, 7, 7));
        // Received on a Saturday: Mon-Fri of the next week.
        assert_eq!(add_business_days(d(2026, 3, 7), 5), d(2026, 3, 13));
        assert_eq!(add_business_days(d(2026, 3, 9), 0), d(2026, 3, 9));
    }
}
