//! The annual percentage rate by the actuarial method of Regulation Z, Appendix J (12 CFR 1026), pure.
//!
//! Appendix J (b)(8)'s general equation for a single advance `A` at time zero and payments `P_k`:
//!
//! ```text
//! A = Σ P_k / ((1 + f_k·i) · (1 + i)^t_k)
//! ```
//!
//! where `i` is the rate per unit period, `t_k` the whole unit periods and `f_k` the fraction of a unit period
//! between the advance and payment `k` (Appendix J (b)(5): whole periods are counted back from the payment, the
//! remainder is the fraction, e.g. the remaining days divided by 30 when the unit period is a month). The APR is
//! `i` times the number of unit periods in a year (Appendix J (b)(1)). The equation falls strictly as `i` rises,
//! so it has one root; we find it by bisection to far below a millionth of a percentage point.

use chrono::{Datelike, Months, NaiveDate};

/// One payment of the stream: amount in cents, whole unit periods and the fraction of one from the advance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flow {
    pub cents: i64,
    pub t: u32,
    pub f: f64,
}

/// The present value, at rate `i` per unit period, of the payments (Appendix J (b)(8), right-hand side).
pub fn present_value(flows: &[Flow], i: f64) -> f64 {
    flows.iter().map(|p| p.cents as f64 / ((1.0 + p.f * i) * (1.0 + i).powi(p.t as i32))).sum()
}

/// The rate per unit period at which the payments repay `amount_financed_cents` (None when they do not cover it:
/// a negative rate is not an APR a lender discloses).
pub fn unit_rate(amount_financed_cents: i64, flows: &[Flow]) -> Option<f64> {
    let a = amount_financed_cents as f64;
    if a <= 0.0 || flows.is_empty() || present_value(flows, 0.0) < a {
        return None;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while present_value(flows, hi) > a {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if present_value(flows, mid) > a {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-15 {
            break;
        }
    }
    Some((lo + hi) / 2.0)
}

/// The APR in percent (unrounded), for `periods_per_year` unit periods a year.
pub fn apr_percent(amount_financed_cents: i64, flows: &[Flow], periods_per_year: f64) -> Option<f64> {
    unit_rate(amount_financed_cents, flows).map(|i| i * periods_per_year * 100.0)
}

/// The APR as disclosed: rounded to three decimal places (12 CFR 1026.37(o)(4)(ii)), in thousandths of a percent
/// (6.125% is 6125), the unit Loanfloor stores rates in.
pub fn apr_milli(amount_financed_cents: i64, flows: &[Flow], periods_per_year: f64) -> Option<i32> {
    apr_percent(amount_financed_cents, flows, periods_per_year).map(|p| (p * 1000.0).round() as i32)
}

/// Whole months and the remaining days from `from` to `to`, counting months back from `to` (Appendix J (b)(5)(ii):
/// "the number of full unit-periods … shall be the number of months measured back from the later date"). A
/// month back from the 31st lands on the last day of a shorter month (Appendix J (b)(3)(iv)).
pub fn months_and_days(from: NaiveDate, to: NaiveDate) -> (u32, u32) {
    let mut months = 0u32;
    loop {
        let back = back_months(to, months + 1);
        if back < from {
            break;
        }
        months += 1;
    }
    let anchor = back_months(to, months);
    (months, (anchor - from).num_days().max(0) as u32)
}

fn back_months(d: NaiveDate, n: u32) -> NaiveDate {
    let back = d.checked_sub_months(Months::new(n)).unwrap_or(d);
    // A payment on the last day of a month is measured from the last day of earlier months.
    if is_month_end(d) { month_end(back) } else { back }
}

fn is_month_end(d: NaiveDate) -> bool {
    d.succ_opt().is_none_or(|n| n.month() != d.month())
}

fn month_end(d: NaiveDate) -> NaiveDate {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    first_next.and_then(|n| n.pred_opt()).unwrap_or(d)
}

/// A monthly payment stream that starts on `first_payment` after an advance on `advanced`: payment `k` falls
/// `k` months after the first, so every payment has the first one's fraction (the odd first period) and one
/// more whole month than the one before.
pub fn monthly_flows(advanced: NaiveDate, first_payment: NaiveDate, payments: &[i64]) -> Vec<Flow> {
    let (t0, days) = months_and_days(advanced, first_payment);
    let f = f64::from(days) / 30.0;
    payments.iter().enumerate().map(|(k, &cents)| Flow { cents, t: t0 + k as u32, f }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// `n` payments of `cents` at whole periods `t0, t0+1, …` with fraction `f`.
    fn level(cents: i64, n: u32, t0: u32, f: f64) -> Vec<Flow> {
        (0..n).map(|k| Flow { cents, t: t0 + k, f }).collect()
    }

    fn assert_apr(amount: i64, flows: &[Flow], per_year: f64, expected: f64) {
        let got = apr_percent(amount, flows, per_year).unwrap();
        // The Bureau states its examples to two decimals: the exact figure must round to it.
        assert!((got - expected).abs() < 0.005, "APR {got} is not {expected} to two decimals");
    }

    // ---- Appendix J (c): the Bureau's own worked examples, with the APRs it states. ----

    #[test]
    fn appendix_j_c1i_monthly_regular_first_period() {
        // $5,000 advanced 10 Jan 1978; 24 monthly payments of $230 from 10 Feb 1978. APR 9.69%.
        let flows = monthly_flows(d(1978, 1, 10), d(1978, 2, 10), &[23_000; 24]);
        assert_eq!((flows[0].t, flows[0].f), (1, 0.0));
        assert_apr(500_000, &flows, 12.0, 9.69);
    }

    #[test]
    fn appendix_j_c1ii_monthly_long_first_period() {
        // $6,000 advanced 10 Feb 1978; 36 monthly payments of $200 from 1 Apr 1978. Back from 1 Apr: 1 Mar is one
        // month, 10 Feb to 1 Mar is 19 days: t = 1, f = 19/30. APR 11.82%.
        let flows = monthly_flows(d(1978, 2, 10), d(1978, 4, 1), &[20_000; 36]);
        assert_eq!(flows[0].t, 1);
        assert!((flows[0].f - 19.0 / 30.0).abs() < 1e-12);
        assert_apr(600_000, &flows, 12.0, 11.82);
    }

    #[test]
    fn appendix_j_c1iii_semimonthly_short_first_period() {
        // $5,000 advanced 23 Feb 1978; 24 semimonthly payments of $219.17 from 1 Mar 1978. 23 Feb to 1 Mar is 6
        // days, less than a semimonth: t = 0, f = 6/15. 24 unit periods a year. APR 10.34%.
        assert_apr(500_000, &level(21_917, 24, 0, 6.0 / 15.0), 24.0, 10.34);
    }

    #[test]
    fn appendix_j_c1iv_quarterly_long_first_period() {
        // $10,000 advanced 23 May 1978; 40 quarterly payments of $385 from 1 Oct 1978. Back from 1 Oct: 1 Jul is one
        // quarter; back from 1 Jul, 1 Jun is a month and 23 May to 1 Jun is 9 days: (30 + 9)/90 of a quarter.
        // (Counting 1 month and 8 days instead gives 8.976%, which would round to 8.98%: the test can tell.)
        let f = (30.0 + 9.0) / 90.0;
        assert_apr(1_000_000, &level(38_500, 40, 1, f), 4.0, 8.97);
    }

    #[test]
    fn appendix_j_c1v_weekly_long_first_period() {
        // $500 advanced 20 Mar 1978; 30 weekly payments of $17.60 from 21 Apr 1978: 32 days, 4 weeks and 4 days:
        // t = 4, f = 4/7. APR 14.96%.
        assert_apr(50_000, &level(1_760, 30, 4, 4.0 / 7.0), 52.0, 14.96);
    }

    #[test]
    fn appendix_j_c2i_monthly_odd_first_payment() {
        // $5,000 advanced 10 Jan 1978; $250 on 10 Feb 1978, then 23 monthly payments of $230. APR 10.08%.
        let mut payments = vec![25_000];
        payments.extend([23_000; 23]);
        assert_apr(500_000, &monthly_flows(d(1978, 1, 10), d(1978, 2, 10), &payments), 12.0, 10.08);
    }

    #[test]
    fn appendix_j_c2ii_four_weekly_odd_first_payment_long_first_period() {
        // $400 advanced 18 Mar 1978; $39.50 on 20 Apr 1978 (33 days: one 4-week period and 5 days, f = 5/28), then
        // 11 payments of $38.31 every 4 weeks. 13 unit periods a year. APR 28.50%.
        let f = 5.0 / 28.0;
        let mut flows = vec![Flow { cents: 3_950, t: 1, f }];
        flows.extend(level(3_831, 11, 2, f));
        assert_apr(40_000, &flows, 13.0, 28.50);
    }

    #[test]
    fn appendix_j_c3i_monthly_odd_final_payment() {
        // $5,000 advanced 10 Jan 1978; 23 monthly payments of $230 from 10 Feb 1978 and a final $280. APR 10.50%.
        let mut payments = vec![23_000; 23];
        payments.push(28_000);
        assert_apr(500_000, &monthly_flows(d(1978, 1, 10), d(1978, 2, 10), &payments), 12.0, 10.50);
    }

    #[test]
    fn appendix_j_c3ii_biweekly_short_first_period_odd_final_payment() {
        // $200 advanced 3 Apr 1978; 19 payments of $9.50 every 2 weeks from 11 Apr 1978 (8 days: t = 0, f = 8/14),
        // then a final $30. 26 unit periods a year. APR 12.22%.
        let f = 8.0 / 14.0;
        let mut flows = level(950, 19, 0, f);
        flows.push(Flow { cents: 3_000, t: 19, f });
        assert_apr(20_000, &flows, 26.0, 12.22);
    }

    #[test]
    fn appendix_j_c4i_monthly_odd_first_and_final_payments() {
        // $5,000 advanced 10 Jan 1978; $250 on 10 Feb, 22 payments of $230, a final $280. APR 10.90%.
        let mut payments = vec![25_000];
        payments.extend([23_000; 22]);
        payments.push(28_000);
        assert_apr(500_000, &monthly_flows(d(1978, 1, 10), d(1978, 2, 10), &payments), 12.0, 10.90);
    }

    #[test]
    fn appendix_j_c4ii_bimonthly_short_first_period() {
        // $8,000 advanced 10 Jan 1978; $449.36 on 1 Mar 1978, 18 payments of $465 every two months from 1 May 1978,
        // a final $200. 10 Jan to 1 Mar is 1 month and 22 days, short of a 2-month unit period: t = 0,
        // f = 1/2 + 22/60. 6 unit periods a year. APR 7.30%.
        let f = 0.5 + 22.0 / 60.0;
        let mut flows = vec![Flow { cents: 44_936, t: 0, f }];
        flows.extend(level(46_500, 18, 1, f));
        flows.push(Flow { cents: 20_000, t: 19, f });
        assert_apr(800_000, &flows, 6.0, 7.30);
    }

    #[test]
    fn appendix_j_c5i_single_advance_single_payment() {
        // $1,000 advanced 3 Jan 1978, $1,080 repaid 15 Sep 1978: 255 days, one unit period of 255 days, so 365/255
        // unit periods a year. APR 11.45%.
        assert_apr(100_000, &[Flow { cents: 108_000, t: 1, f: 0.0 }], 365.0 / 255.0, 11.45);
    }

    // ---- The counting of months and days (Appendix J (b)(3), (b)(5)). ----

    #[test]
    fn months_are_counted_back_from_the_later_date() {
        assert_eq!(months_and_days(d(1978, 2, 10), d(1978, 4, 1)), (1, 19));
        assert_eq!(months_and_days(d(2026, 1, 15), d(2026, 3, 1)), (1, 17));
        assert_eq!(months_and_days(d(2026, 1, 10), d(2026, 2, 10)), (1, 0));
        assert_eq!(months_and_days(d(2026, 1, 20), d(2026, 2, 1)), (0, 12));
        // From the last day of a month to the last day of another (Appendix J (b)(3)(iv)).
        assert_eq!(months_and_days(d(2026, 1, 31), d(2026, 2, 28)), (1, 0));
        assert_eq!(months_and_days(d(2026, 2, 28), d(2026, 3, 31)), (1, 0));
    }

    #[test]
    fn payments_that_do_not_cover_the_amount_financed_have_no_apr() {
        assert_eq!(unit_rate(100_000, &level(1_000, 12, 1, 0.0)), None);
        assert_eq!(unit_rate(0, &level(1_000, 12, 1, 0.0)), None);
    }

    #[test]
    fn the_disclosed_apr_is_rounded_to_three_decimals() {
        // 12 payments of $100 repaying exactly $1,200: 0%.
        assert_eq!(apr_milli(120_000, &level(10_000, 12, 1, 0.0), 12.0), Some(0));
    }
}
