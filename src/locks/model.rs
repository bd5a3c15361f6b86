//! Rate locks as a lock desk prices them (issue 20): pure rules, no I/O, unit-tested with hand-computed
//! figures.
//!
//! Conventions, as investors' rate sheets state them:
//! - A **price** is in basis points of the loan amount: positive is a cost to the borrower (discount points),
//!   negative a lender credit. A higher price is worse for the borrower.
//! - A lock of N days taken on day D **expires at the end of day D + N** in the organisation's time zone (a
//!   30-day lock taken on 1 March runs through 31 March).
//! - An **extension** is one of the investor's published options (days, cost in bps); its cost adds to the
//!   lock's price and is what the branch pays when the loan closes late.
//! - A **relock** after expiry or cancellation follows the worst-case policy: the worse (higher) of the original
//!   price and today's price for the same product and rate, plus the investor's relock fee.
//! - A **float-down** lowers the rate when the market has improved by at least the investor's minimum, for a
//!   fee; the price is today's price plus that fee.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The lock periods a lender offers.
pub const PERIODS: [i32; 4] = [15, 30, 45, 60];

/// Whether `days` is a lock period the desk offers.
pub fn is_period(days: i32) -> bool {
    PERIODS.contains(&days)
}

/// The last day a lock of `days` taken on `locked_on` covers.
pub fn last_day(locked_on: NaiveDate, days: i32) -> NaiveDate {
    locked_on + Duration::days(i64::from(days))
}

/// The instant the lock lapses: the start of the day after its last day, in the organisation's time zone.
pub fn expires_at(last_day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    crate::state::day_start(tz, last_day + Duration::days(1))
}

/// Days from `today` to the lock's last day (0: it lapses tonight; negative: lapsed).
pub fn days_left(last_day: NaiveDate, today: NaiveDate) -> i64 {
    (last_day - today).num_days()
}

/// Whether the loan's expected closing falls after the lock's last day ("will it close in time?").
pub fn closes_late(last_day: NaiveDate, closing_on: Option<NaiveDate>) -> bool {
    closing_on.is_some_and(|c| c > last_day)
}

/// One option of an investor's extension schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionOption {
    pub days: i32,
    pub cost_bps: i32,
}

/// Why an extension cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionError {
    /// The investor publishes no option of that length; the lengths it does publish.
    NotOffered(Vec<i32>),
    /// The lock has already been extended as far as the investor allows (days in total).
    OverLimit { allowed: i32 },
}

impl ExtensionError {
    pub fn message(&self) -> String {
        match self {
            ExtensionError::NotOffered(days) if days.is_empty() => {
                "This investor has no extension schedule; ask the lock desk to add one.".into()
            }
            ExtensionError::NotOffered(days) => {
                let list: Vec<String> = days.iter().map(|d| format!("{d}")).collect();
                format!("This investor extends by {} days only.", list.join(", "))
            }
            ExtensionError::OverLimit { allowed } => {
                format!("This investor allows at most {allowed} days of extensions on one lock.")
            }
        }
    }
}

/// The cost in bps of extending by `days` under `schedule`, given the days already extended and the investor's
/// cap on extension days per lock (None: no cap).
pub fn extension_cost(
    schedule: &[ExtensionOption],
    days: i32,
    extended_so_far: i32,
    max_total_days: Option<i32>,
) -> Result<i32, ExtensionError> {
    let option = schedule
        .iter()
        .find(|o| o.days == days)
        .ok_or_else(|| ExtensionError::NotOffered(schedule.iter().map(|o| o.days).collect()))?;
    if let Some(allowed) = max_total_days {
        if extended_so_far + days > allowed {
            return Err(ExtensionError::OverLimit { allowed });
        }
    }
    Ok(option.cost_bps)
}

/// `bps` of `amount_cents`, in cents, rounded half away from zero (a credit is negative).
pub fn bps_of(amount_cents: i64, bps: i32) -> i64 {
    let exact = i128::from(amount_cents) * i128::from(bps);
    let (q, r) = (exact / 10_000, exact % 10_000);
    let rounded = if r.abs() * 2 >= 10_000 { q + exact.signum() } else { q };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// The price of a relock under the worst-case policy: the worse of the original and today's price, plus the
/// relock fee.
pub fn relock_price_bps(original_bps: i32, today_bps: i32, fee_bps: i32) -> i32 {
    original_bps.max(today_bps) + fee_bps
}

/// A float-down's terms: the new rate and price, if the market improved by at least `min_improvement`
/// (thousandths of a percent, as rates are stored: 6.875% is 6875).
pub fn float_down(
    locked_rate: i32,
    market_rate: i32,
    market_price_bps: i32,
    min_improvement: i32,
    fee_bps: i32,
) -> Option<(i32, i32)> {
    (locked_rate - market_rate >= min_improvement).then_some((market_rate, market_price_bps + fee_bps))
}

/// A rate stored in thousandths of a percent, as people write it: 6875 is "6.875%".
pub fn rate_label(rate: i32) -> String {
    format!("{}.{:03}%", rate / 1000, rate % 1000)
}

/// A percentage as people write it ("6.875", "6.5%", "7") in thousandths of a percent; at most three decimals.
pub fn parse_percent(raw: &str) -> Option<i32> {
    let s = raw.trim().trim_end_matches('%').trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || whole.len() > 3 || frac.len() > 3 || !digits(whole) || !digits(frac) {
        return None;
    }
    let frac: i32 = format!("{frac:0<3}").parse().ok()?;
    Some(whole.parse::<i32>().ok()? * 1000 + frac)
}

/// A lock's rate as typed or sent by the LOS ("6.875", "6.875%"), 0.001% to 20%, in thousandths of a percent.
pub fn parse_rate_milli(raw: &str) -> Option<i32> {
    parse_percent(raw).filter(|m| (1..=20_000).contains(m))
}

/// A price in bps as a lock confirmation shows it: "0.500 points", "0.250 credit", "par".
pub fn price_label(bps: i32) -> String {
    match bps {
        0 => "par".into(),
        b if b > 0 => format!("{}.{:03} points", b / 100, (b % 100) * 10),
        b => format!("{}.{:03} credit", -b / 100, (-b % 100) * 10),
    }
}

/// How the lock pages write money, rates and prices (each page's template calls these on itself).
pub trait Figures {
    fn cents(&self, c: &i64) -> String {
        crate::web::money::cents(*c)
    }
    fn rate(&self, r: &i32) -> String {
        rate_label(*r)
    }
    fn price(&self, b: &i32) -> String {
        price_label(*b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_lock_runs_through_its_last_day_in_the_organisations_zone() {
        assert_eq!(last_day(d(2026, 3, 1), 30), d(2026, 3, 31));
        assert_eq!(last_day(d(2026, 12, 20), 15), d(2027, 1, 4));
        // Chicago is UTC-5 in March after the clocks change (8 March 2026): 31 March ends at 05:00 UTC on 1 April.
        let tz: chrono_tz::Tz = "America/Chicago".parse().unwrap();
        assert_eq!(expires_at(d(2026, 3, 31), tz).to_rfc3339(), "2026-04-01T05:00:00+00:00");
        assert_eq!(days_left(d(2026, 3, 31), d(2026, 3, 31)), 0);
        assert_eq!(days_left(d(2026, 3, 31), d(2026, 4, 2)), -2);
        assert!(closes_late(d(2026, 3, 31), Some(d(2026, 4, 1))));
        assert!(!closes_late(d(2026, 3, 31), Some(d(2026, 3, 31))));
        assert!(!closes_late(d(2026, 3, 31), None));
        assert!(is_period(45) && !is_period(40));
    }

    #[test]
    fn extensions_cost_what_the_schedule_says_in_dollars() {
        let schedule = [
            ExtensionOption { days: 5, cost_bps: 6 },
            ExtensionOption { days: 10, cost_bps: 12 },
            ExtensionOption { days: 15, cost_bps: 20 },
        ];
        // $412,500 extended 10 days at 12 bps: 412,500 x 0.0012 = $495.00.
        let bps = extension_cost(&schedule, 10, 0, Some(30)).unwrap();
        assert_eq!(bps, 12);
        assert_eq!(bps_of(41_250_000, bps), 49_500);
        // $333,333.33 at 6 bps = $199.99998: $200.00 after rounding to the cent.
        assert_eq!(bps_of(33_333_333, 6), 20_000);
        // A credit rounds away from zero too: -$0.005 is -$0.01.
        assert_eq!(bps_of(50, -1), 0);
        assert_eq!(bps_of(5_000, -1), -1);
        assert_eq!(extension_cost(&schedule, 7, 0, None), Err(ExtensionError::NotOffered(vec![5, 10, 15])));
        assert_eq!(extension_cost(&schedule, 15, 20, Some(30)), Err(ExtensionError::OverLimit { allowed: 30 }));
        assert_eq!(extension_cost(&schedule, 10, 20, Some(30)), Ok(12));
        assert!(ExtensionError::NotOffered(vec![]).message().contains("no extension schedule"));
    }

    #[test]
    fn a_relock_takes_the_worse_price_plus_the_fee() {
        // Locked at 0.250 points; today's price 0.600 points; fee 0.150: 0.750 points.
        assert_eq!(relock_price_bps(25, 60, 15), 75);
        // The market improved to a 0.500 credit: the original 0.250 points still applies, plus the fee.
        assert_eq!(relock_price_bps(25, -50, 15), 40);
        // $400,000 at 0.750 points = $3,000.
        assert_eq!(bps_of(40_000_000, 75), 300_000);
    }

    #[test]
    fn a_float_down_needs_the_minimum_improvement() {
        // Locked at 6.875%; market 6.500% (0.375 better); minimum 0.250; fee 0.250 points on a 0.100 price.
        assert_eq!(float_down(6875, 6500, 10, 250, 25), Some((6500, 35)));
        // Only 0.125 better: no float-down.
        assert_eq!(float_down(6875, 6750, 0, 250, 25), None);
        assert_eq!(rate_label(6875), "6.875%");
        assert_eq!(price_label(50), "0.500 points");
        assert_eq!(price_label(-125), "1.250 credit");
        assert_eq!(price_label(0), "par");
    }
}
