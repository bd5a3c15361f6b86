//! Payments and amortization in integer cents, and the rate paths of an adjustable-rate loan (pure).
//!
//! Rounding, as servicers apply it: the payment is rounded to the nearest cent (half up), each month's interest
//! is the balance times the monthly rate rounded to the nearest cent, and the last payment is whatever pays the
//! balance off. Rates are thousandths of a percent (6.875% is 6875), as Loanfloor stores them.

/// Rounds a non-negative amount of cents, half up.
pub fn round_cents(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// The level monthly principal-and-interest payment that repays `principal_cents` over `months` at
/// `rate_milli` (thousandths of a percent a year, 12 monthly periods): `L·r / (1 − (1+r)^−n)`.
pub fn payment(principal_cents: i64, rate_milli: i32, months: u32) -> i64 {
    if months == 0 || principal_cents <= 0 {
        return principal_cents.max(0);
    }
    let l = principal_cents as f64;
    if rate_milli == 0 {
        return round_cents(l / f64::from(months));
    }
    let r = f64::from(rate_milli) / 100_000.0 / 12.0;
    round_cents(l * r / (1.0 - (1.0 + r).powi(-(months as i32))))
}

/// One month of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    /// 1-based payment number.
    pub number: u32,
    pub rate_milli: i32,
    pub payment: i64,
    pub interest: i64,
    pub principal: i64,
    /// The balance after this payment.
    pub balance: i64,
}

/// The schedule of a loan whose rate in month `k` (1-based) is `rate_at(k)`: whenever the rate changes the
/// payment is recomputed to repay the balance over the months left (as an ARM's note says); the last payment
/// clears the balance.
pub fn schedule(principal_cents: i64, months: u32, rate_at: impl Fn(u32) -> i32) -> Vec<Month> {
    let mut out = Vec::with_capacity(months as usize);
    let mut balance = principal_cents;
    let mut current: Option<(i32, i64)> = None;
    for k in 1..=months {
        let rate = rate_at(k);
        let pay = match current {
            Some((r, p)) if r == rate => p,
            _ => payment(balance, rate, months - k + 1),
        };
        current = Some((rate, pay));
        let interest = round_cents(balance as f64 * f64::from(rate) / 100_000.0 / 12.0);
        let mut principal = pay - interest;
        if k == months || principal > balance {
            principal = balance;
        }
        balance -= principal;
        out.push(Month { number: k, rate_milli: rate, payment: interest + principal, interest, principal, balance });
    }
    out
}

/// An adjustable rate's terms: a start rate fixed for `initial_months`, then a change every `adjust_months` to
/// the index plus the margin, limited by the caps (all in thousandths of a percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmTerms {
    pub initial_months: u32,
    pub adjust_months: u32,
    /// Most the first change may move the rate.
    pub initial_cap: i32,
    /// Most each later change may move it.
    pub periodic_cap: i32,
    /// Most the rate may ever rise above the start rate.
    pub lifetime_cap: i32,
    pub margin: i32,
}

/// The rate an ARM charges in each adjustment period (one entry for the initial period, then one per change),
/// when the index stays at `index` (today's value: the path Regulation Z's composite APR assumes), or rises as
/// fast as the caps allow when `index` is None (the worst case). The rate never falls below the margin (the
/// usual floor) nor rises above start + lifetime cap, and moves by at most the initial cap at the first change
/// and the periodic cap at each later one.
pub fn arm_rates(start: i32, terms: &ArmTerms, index: Option<i32>, months: u32) -> Vec<i32> {
    let mut rates = vec![start];
    if terms.adjust_months == 0 || terms.initial_months >= months {
        return rates;
    }
    let ceiling = start + terms.lifetime_cap;
    let floor = terms.margin.min(start);
    let changes = (months - terms.initial_months).div_ceil(terms.adjust_months);
    let mut rate = start;
    for c in 0..changes {
        let cap = if c == 0 { terms.initial_cap } else { terms.periodic_cap };
        let target = match index {
            Some(ix) => ix + terms.margin,
            None => i32::MAX / 2,
        };
        rate = target.clamp(rate - cap, rate + cap).clamp(floor, ceiling);
        rates.push(rate);
    }
    rates
}

/// The rate in month `k` (1-based) of an ARM whose periods' rates are `rates` (see [`arm_rates`]).
pub fn arm_rate_at(rates: &[i32], terms: &ArmTerms, k: u32) -> i32 {
    if k <= terms.initial_months || terms.adjust_months == 0 {
        return rates[0];
    }
    let period = 1 + ((k - terms.initial_months - 1) / terms.adjust_months) as usize;
    rates[period.min(rates.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_payments_match_the_published_tables() {
        // Hand-checked against the standard formula and published amortization tables:
        // $100,000 at 8% for 30 years: r = 0.0066667, (1+r)^360 = 10.9357; 100000·r/(1 − 1/10.9357) = 733.76.
        assert_eq!(payment(10_000_000, 8_000, 360), 73_376);
        // $200,000 at 6% for 30 years: r = 0.005, (1.005)^360 = 6.022575; 1000/(1 − 0.166042) = 1199.10.
        assert_eq!(payment(20_000_000, 6_000, 360), 119_910);
        // $300,000 at 7% for 30 years: 1995.91.
        assert_eq!(payment(30_000_000, 7_000, 360), 199_591);
        // $250,000 at 6.5% for 15 years: 2177.77.
        assert_eq!(payment(25_000_000, 6_500, 180), 217_777);
        // No interest: $12,000 over 12 months is $1,000.
        assert_eq!(payment(1_200_000, 0, 12), 100_000);
    }

    #[test]
    fn a_schedule_pays_the_loan_off_exactly() {
        let s = schedule(20_000_000, 360, |_| 6_000);
        assert_eq!(s.len(), 360);
        // Month 1: interest 200,000.00 × 0.005 = 1,000.00; principal 199.10; balance 199,800.90.
        assert_eq!((s[0].interest, s[0].principal, s[0].balance), (100_000, 19_910, 19_980_090));
        // Month 2: interest 199,800.90 × 0.005 = 999.00 (999.0045 rounds down); principal 200.10.
        assert_eq!((s[1].interest, s[1].principal), (99_900, 20_010));
        assert_eq!(s.last().unwrap().balance, 0);
        let principal: i64 = s.iter().map(|m| m.principal).sum();
        assert_eq!(principal, 20_000_000);
        // Every payment but the last is the level payment; the last is within a few dollars of it.
        assert!(s[..359].iter().all(|m| m.payment == 119_910));
        assert!((s[359].payment - 119_910).abs() < 500);
    }

    /// A 5/6 ARM at 6.000% with 2/1/5 caps, margin 2.750%.
    const FIVE_SIX: ArmTerms = ArmTerms {
        initial_months: 60,
        adjust_months: 6,
        initial_cap: 2_000,
        periodic_cap: 1_000,
        lifetime_cap: 5_000,
        margin: 2_750,
    };

    #[test]
    fn the_worst_case_rises_by_the_caps_to_the_lifetime_ceiling() {
        // 6% → 8% at month 61 (initial cap 2), 9% at 67, 10% at 73, 11% at 79 (lifetime 6 + 5), then stays.
        let rates = arm_rates(6_000, &FIVE_SIX, None, 360);
        assert_eq!(&rates[..6], &[6_000, 8_000, 9_000, 10_000, 11_000, 11_000]);
        assert_eq!(rates.len(), 1 + 50);
        assert_eq!(arm_rate_at(&rates, &FIVE_SIX, 60), 6_000);
        assert_eq!(arm_rate_at(&rates, &FIVE_SIX, 61), 8_000);
        assert_eq!(arm_rate_at(&rates, &FIVE_SIX, 66), 8_000);
        assert_eq!(arm_rate_at(&rates, &FIVE_SIX, 67), 9_000);
        assert_eq!(arm_rate_at(&rates, &FIVE_SIX, 360), 11_000);
    }

    #[test]
    fn todays_index_path_moves_to_the_fully_indexed_rate_within_the_caps() {
        // Index 4.300% + margin 2.750% = 7.050%: the first change may go 2 points, so 7.050% at once and after.
        let rates = arm_rates(6_000, &FIVE_SIX, Some(4_300), 360);
        assert!(rates[1..].iter().all(|&r| r == 7_050));
        // Index 1.000%: fully indexed 3.750%, 2.25 below the start: the first change is held to 4.000%, the next
        // reaches 3.750%.
        let rates = arm_rates(6_000, &FIVE_SIX, Some(1_000), 360);
        assert_eq!(&rates[..3], &[6_000, 4_000, 3_750]);
        // Index 6.000%: fully indexed 8.750%: 8.000% (initial cap), then 8.750%.
        let rates = arm_rates(6_000, &FIVE_SIX, Some(6_000), 360);
        assert_eq!(&rates[..3], &[6_000, 8_000, 8_750]);
    }

    #[test]
    fn the_worst_case_payment_path_is_hand_checked() {
        // $300,000 5/6 ARM at 6%: payment 1,798.65 (r = 0.005, (1.005)^360 = 6.022575: 1500/0.833958).
        let rates = arm_rates(6_000, &FIVE_SIX, None, 360);
        let s = schedule(30_000_000, 360, |k| arm_rate_at(&rates, &FIVE_SIX, k));
        assert_eq!(s[0].payment, 179_865);
        // After 60 payments the balance is L·(1+r)^60 − P·((1+r)^60 − 1)/r with (1.005)^60 = 1.3488502:
        // 404,655.05 − 1,798.65 × 69.770031 = 279,163.18, to a few cents of the rounded schedule.
        let b60 = s[59].balance;
        assert!((b60 - 27_916_318).abs() < 100, "balance after 60: {b60}");
        // Month 61 at 8% over 300 months: r = 0.0066667, (1+r)^300 = 7.328074; B·r/(1 − 1/7.328074) = 2,154.63
        // for B = 279,163.18.
        assert!((s[60].payment - 215_463).abs() <= 2, "payment at 8%: {}", s[60].payment);
        // Month 79 onward at the 11% ceiling: the largest regular payment of the path (only the last, which
        // clears the cents that rounding left, may differ by a few dollars).
        let max = s[..359].iter().map(|m| m.payment).max().unwrap();
        assert_eq!(s[78].rate_milli, 11_000);
        assert_eq!(s[78].payment, max);
        assert_eq!(s.last().unwrap().balance, 0);
    }
}
