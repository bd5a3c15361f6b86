//! Portfolio rules that need no database: amortisation, refinance savings, estimated LTV and the retention
//! triggers (rate watch, ARM reset, mortgage-insurance removal, closing anniversary, FHA to conventional).
//!
//! Money is integer cents. Rates are "milli-percent" integers (6.875% = 6875) so they compare exactly; the
//! amortisation formula itself is evaluated in f64 and every result is rounded to the cent, the way a
//! payment calculator on a loan estimate does it.

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;

pub const PRODUCTS: [&str; 5] = ["conventional", "fha", "va", "jumbo", "arm"];
pub const PAYOFF_REASONS: [&str; 4] = ["refinanced_with_us", "lost_to_competitor", "sold", "other"];
pub const KINDS: [&str; 5] = ["rate_watch", "arm_reset", "mi_removal", "anniversary", "fha_to_conventional"];
pub const STATUSES: [&str; 4] = ["open", "worked", "converted", "dismissed"];

/// How many days after a closing anniversary the anniversary check-in still fires.
pub const ANNIVERSARY_WINDOW_DAYS: i64 = 14;
/// ARM resets this close (in months) fire the ARM-reset trigger.
pub const ARM_RESET_HORIZON_MONTHS: u32 = 6;
/// Estimated LTV (basis points of percent: 8000 = 80.00%) at which MI removal / FHA-to-conventional fire.
pub const LTV_TRIGGER_BP: i64 = 8000;

pub fn product_label(p: &str) -> &'static str {
    match p {
        "conventional" => "Conventional",
        "fha" => "FHA",
        "va" => "VA",
        "jumbo" => "Jumbo",
        "arm" => "ARM",
        _ => "Other",
    }
}

pub fn kind_label(k: &str) -> &'static str {
    match k {
        "rate_watch" => "Rate watch (refinance)",
        "arm_reset" => "ARM reset",
        "mi_removal" => "Mortgage insurance removal",
        "anniversary" => "Closing anniversary",
        "fha_to_conventional" => "FHA to conventional",
        _ => "Other",
    }
}

/// Parses a rate in percent ("6.875", "6.875%") into milli-percent; at most three decimals.
pub fn parse_rate_milli(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('%').trim();
    let v = parse_fixed(s, 3)?;
    (v > 0 && v < 30_000).then_some(v)
}

/// Parses a signed yearly percent ("4.5", "-1.25%") into milli-percent, between -50% and 50%.
pub fn parse_signed_pct_milli(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('%').trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.trim()),
        None => (false, s),
    };
    let v = parse_fixed(body, 3)?;
    let v = if neg { -v } else { v };
    (-50_000 < v && v < 50_000).then_some(v)
}

/// Dollars as typed into cents (the one implementation: `web::money`).
pub use crate::web::money::parse as parse_money_cents;

/// A non-negative decimal with at most `scale` fraction digits, as an integer scaled by 10^scale.
fn parse_fixed(s: &str, scale: u32) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > scale as usize || int.len() > 12 {
        return None;
    }
    let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_v: i64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    for _ in frac.len()..scale as usize {
        frac_v *= 10;
    }
    int_v.checked_mul(10i64.pow(scale))?.checked_add(frac_v)
}

/// "6.875%" from milli-percent.
pub fn format_rate(milli: i64) -> String {
    let s = format!("{}.{:03}", milli / 1000, (milli % 1000).abs());
    format!("{s}%")
}

/// "$1,995.91" from cents (the one implementation: `web::money`).
pub use crate::web::money::cents as format_cents;

/// "78.50%" from basis points of percent.
pub fn format_bp(bp: i64) -> String {
    format!("{}.{:02}%", bp / 100, (bp % 100).abs())
}

fn monthly_rate(rate_milli: i64) -> f64 {
    rate_milli as f64 / 100_000.0 / 12.0
}

fn round_cents(v: f64) -> i64 {
    v.round() as i64
}

/// The level monthly principal-and-interest payment that repays `principal` over `months` (standard
/// amortisation: P = B·r / (1 − (1 + r)^−n)), rounded to the cent.
pub fn monthly_payment_cents(principal_cents: i64, rate_milli: i64, months: i32) -> i64 {
    if months <= 0 || principal_cents <= 0 {
        return 0;
    }
    let r = monthly_rate(rate_milli);
    let b = principal_cents as f64;
    if r == 0.0 {
        return round_cents(b / months as f64);
    }
    round_cents(b * r / (1.0 - (1.0 + r).powi(-months)))
}

/// The balance left after `paid` scheduled payments (B·(1 + r)^k − P·((1 + r)^k − 1) / r, with P the rounded
/// payment), rounded to the cent and never below zero.
pub fn remaining_balance_cents(principal_cents: i64, rate_milli: i64, months: i32, paid: i32) -> i64 {
    let paid = paid.clamp(0, months.max(0));
    if paid >= months {
        return 0;
    }
    let p = monthly_payment_cents(principal_cents, rate_milli, months) as f64;
    let b = principal_cents as f64;
    let r = monthly_rate(rate_milli);
    if r == 0.0 {
        return (principal_cents - round_cents(p) * paid as i64).max(0);
    }
    let g = (1.0 + r).powi(paid);
    round_cents(b * g - p * (g - 1.0) / r).max(0)
}

/// Whole months between closing and `today` (payments made, as the schedule counts them).
pub fn months_elapsed(closed_on: NaiveDate, today: NaiveDate) -> i32 {
    if today <= closed_on {
        return 0;
    }
    let mut m = (today.year() - closed_on.year()) * 12 + today.month() as i32 - closed_on.month() as i32;
    if today.day() < closed_on.day() {
        m -= 1;
    }
    m.max(0)
}

/// Home value estimated from the value at closing and the state's yearly appreciation, compounded monthly
/// over the months since closing: V · (1 + a)^(months / 12).
pub fn estimated_value_cents(original_value_cents: i64, annual_pct_milli: i64, months: i32) -> i64 {
    let a = annual_pct_milli as f64 / 100_000.0;
    round_cents(original_value_cents as f64 * (1.0 + a).powf(months as f64 / 12.0))
}

/// Loan-to-value in basis points of percent (7850 = 78.50%), rounded half up.
pub fn ltv_bp(balance_cents: i64, value_cents: i64) -> i64 {
    if value_cents <= 0 {
        return i64::MAX;
    }
    (balance_cents as i128 * 10_000 * 2 + value_cents as i128).div_euclid(value_cents as i128 * 2) as i64
}

/// What a refinance at today's rate would do for the borrower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefinanceNumbers {
    pub remaining_balance_cents: i64,
    pub current_payment_cents: i64,
    pub new_rate_milli: i64,
    pub new_payment_cents: i64,
    pub monthly_saving_cents: i64,
    pub closing_cost_cents: i64,
    /// Closing costs ÷ monthly saving, rounded up; None when there is no saving.
    pub break_even_months: Option<i64>,
}

/// Refinancing the remaining balance at `new_rate_milli` over the loan's original term.
pub fn refinance_numbers(
    loan: &LoanFacts,
    new_rate_milli: i64,
    closing_cost_cents: i64,
    today: NaiveDate,
) -> Option<RefinanceNumbers> {
    let amount = loan.loan_amount_cents?;
    let rate = loan.note_rate_milli?;
    let paid = months_elapsed(loan.closed_on, today);
    let balance = remaining_balance_cents(amount, rate, loan.term_months, paid);
    let current = monthly_payment_cents(amount, rate, loan.term_months);
    let new_payment = monthly_payment_cents(balance, new_rate_milli, loan.term_months);
    let saving = current - new_payment;
    let break_even = (saving > 0).then(|| {
        let c = closing_cost_cents.max(0);
        (c + saving - 1) / saving
    });
    Some(RefinanceNumbers {
        remaining_balance_cents: balance,
        current_payment_cents: current,
        new_rate_milli,
        new_payment_cents: new_payment,
        monthly_saving_cents: saving,
        closing_cost_cents,
        break_even_months: break_even,
    })
}

/// The facts about one loan the triggers look at.
#[derive(Debug, Clone)]
pub struct LoanFacts {
    pub loan_amount_cents: Option<i64>,
    pub note_rate_milli: Option<i64>,
    pub term_months: i32,
    pub product: String,
    pub arm_reset_on: Option<NaiveDate>,
    pub closed_on: NaiveDate,
    pub original_value_cents: Option<i64>,
    /// The property state's yearly appreciation (milli-percent), 0 when the admin has not entered one.
    pub appreciation_milli: i64,
}

/// What the scan knows besides the loan.
#[derive(Debug, Clone)]
pub struct ScanInputs {
    pub today: NaiveDate,
    /// The latest market rate for the loan's product, if any was entered.
    pub market_rate_milli: Option<i64>,
    pub threshold_bps: i32,
    pub closing_cost_cents: i64,
}

/// One trigger that fired, with the sentence the LO reads and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trigger {
    pub kind: &'static str,
    pub why: String,
    pub numbers: serde_json::Value,
}

/// The estimated LTV today: amortised balance ÷ (value at closing × appreciation), with both parts.
pub fn estimated_ltv(loan: &LoanFacts, today: NaiveDate) -> Option<(i64, i64, i64)> {
    let amount = loan.loan_amount_cents?;
    let rate = loan.note_rate_milli?;
    let value = loan.original_value_cents?;
    let months = months_elapsed(loan.closed_on, today);
    let balance = remaining_balance_cents(amount, rate, loan.term_months, months);
    let est_value = estimated_value_cents(value, loan.appreciation_milli, months);
    Some((ltv_bp(balance, est_value), balance, est_value))
}

/// Every trigger that fires for this loan today (pure; the store adds cool-down and opt-out checks).
pub fn evaluate(loan: &LoanFacts, inputs: &ScanInputs) -> Vec<Trigger> {
    let mut out = Vec::new();
    let today = inputs.today;

    // Rate watch: the note rate exceeds today's market rate by at least the threshold.
    if let (Some(note), Some(market)) = (loan.note_rate_milli, inputs.market_rate_milli) {
        let threshold_milli = i64::from(inputs.threshold_bps) * 10;
        if note - market >= threshold_milli {
            if let Some(n) = refinance_numbers(loan, market, inputs.closing_cost_cents, today) {
                if n.monthly_saving_cents > 0 {
                    let be = n.break_even_months.unwrap_or(0);
                    out.push(Trigger {
                        kind: "rate_watch",
                        why: format!(
                            "Note rate {} is {} above today's {} rate of {}: refinancing {} would save {} a month; closing costs of {} are recovered in {} months.",
                            format_rate(note),
                            format_rate(note - market),
                            product_label(&loan.product),
                            format_rate(market),
                            format_cents(n.remaining_balance_cents),
                            format_cents(n.monthly_saving_cents),
                            format_cents(n.closing_cost_cents),
                            be
                        ),
                        numbers: serde_json::to_value(&n).unwrap_or_default(),
                    });
                }
            }
        }
    }

    // ARM reset within six months.
    if loan.product == "arm" {
        if let Some(reset) = loan.arm_reset_on {
            let horizon = today.checked_add_months(Months::new(ARM_RESET_HORIZON_MONTHS)).unwrap_or(today);
            if reset > today && reset <= horizon {
                let days = (reset - today).num_days();
                out.push(Trigger {
                    kind: "arm_reset",
                    why: format!(
                        "The ARM rate resets on {reset} (in {days} days): time to talk about a fixed-rate refinance."
                    ),
                    numbers: serde_json::json!({ "arm_reset_on": reset, "days_to_reset": days }),
                });
            }
        }
    }

    // Mortgage-insurance removal and FHA to conventional, from the estimated LTV.
    if let Some((ltv, balance, value)) = estimated_ltv(loan, today) {
        let numbers = serde_json::json!({
            "estimated_ltv_bp": ltv, "balance_cents": balance, "estimated_value_cents": value,
        });
        let original_ltv = match (loan.loan_amount_cents, loan.original_value_cents) {
            (Some(a), Some(v)) => ltv_bp(a, v),
            _ => 0,
        };
        if loan.product == "conventional" && original_ltv > LTV_TRIGGER_BP && ltv <= LTV_TRIGGER_BP {
            out.push(Trigger {
                kind: "mi_removal",
                why: format!(
                    "Estimated LTV is {} (balance {} ÷ estimated value {}), down from {} at closing: the borrower can ask to drop mortgage insurance at 80% (it ends by itself at 78%).",
                    format_bp(ltv),
                    format_cents(balance),
                    format_cents(value),
                    format_bp(original_ltv)
                ),
                numbers: numbers.clone(),
            });
        }
        if loan.product == "fha" && ltv <= LTV_TRIGGER_BP {
            out.push(Trigger {
                kind: "fha_to_conventional",
                why: format!(
                    "FHA loan at an estimated LTV of {} (balance {} ÷ estimated value {}): a conventional refinance would drop the FHA mortgage insurance premium.",
                    format_bp(ltv),
                    format_cents(balance),
                    format_cents(value)
                ),
                numbers,
            });
        }
    }

    // Closing anniversary (fires during the two weeks after it).
    let years = today.year() - loan.closed_on.year();
    if years >= 1 {
        let anniversary = loan
            .closed_on
            .with_year(today.year())
            .or_else(|| NaiveDate::from_ymd_opt(today.year(), loan.closed_on.month(), 28))
            .unwrap_or(today);
        let since = (today - anniversary).num_days();
        if (0..ANNIVERSARY_WINDOW_DAYS).contains(&since) {
            out.push(Trigger {
                kind: "anniversary",
                why: format!(
                    "{years}-year anniversary of closing on {}: a check-in keeps us the borrower's lender.",
                    loan.closed_on
                ),
                numbers: serde_json::json!({ "years": years, "anniversary_on": anniversary }),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn loan(amount: i64, rate: i64, closed: NaiveDate) -> LoanFacts {
        LoanFacts {
            loan_amount_cents: Some(amount),
            note_rate_milli: Some(rate),
            term_months: 360,
            product: "conventional".into(),
            arm_reset_on: None,
            closed_on: closed,
            original_value_cents: None,
            appreciation_milli: 0,
        }
    }

    #[test]
    fn payments_match_hand_computed_amortisation() {
        // $300,000 over 30 years: 7% → $1,995.91; 6% → $1,798.65; $400,000 at 6.875% → $2,627.72.
        assert_eq!(monthly_payment_cents(30_000_000, 7000, 360), 199_591);
        assert_eq!(monthly_payment_cents(30_000_000, 6000, 360), 179_865);
        assert_eq!(monthly_payment_cents(40_000_000, 6875, 360), 262_772);
        assert_eq!(monthly_payment_cents(36_000, 0, 360), 100);
    }

    #[test]
    fn remaining_balance_matches_hand_computed_schedule() {
        // $300,000 at 7% after 12 payments of $1,995.91: $296,952.54.
        assert_eq!(remaining_balance_cents(30_000_000, 7000, 360, 12), 29_695_254);
        // $200,000 at 4.5% after 60 payments: $182,315.88.
        assert_eq!(remaining_balance_cents(20_000_000, 4500, 360, 60), 18_231_588);
        assert_eq!(remaining_balance_cents(30_000_000, 7000, 360, 0), 30_000_000);
        assert_eq!(remaining_balance_cents(30_000_000, 7000, 360, 360), 0);
    }

    #[test]
    fn months_elapsed_counts_whole_months() {
        assert_eq!(months_elapsed(d(2025, 1, 15), d(2026, 1, 15)), 12);
        assert_eq!(months_elapsed(d(2025, 1, 15), d(2026, 1, 14)), 11);
        assert_eq!(months_elapsed(d(2025, 1, 31), d(2025, 2, 28)), 0);
        assert_eq!(months_elapsed(d(2026, 1, 1), d(2025, 1, 1)), 0);
    }

    #[test]
    fn refinance_saving_and_break_even_for_a_new_loan() {
        // Closed this month: balance $300,000; 7% → 6%: $1,995.91 − $1,798.65 = $197.26 a month;
        // $4,000 closing costs / $197.26 = 20.28 → 21 months.
        let l = loan(30_000_000, 7000, d(2026, 11, 10));
        let n = refinance_numbers(&l, 6000, 400_000, d(2026, 11, 23)).unwrap();
        assert_eq!(n.remaining_balance_cents, 30_000_000);
        assert_eq!(n.current_payment_cents, 199_591);
        assert_eq!(n.new_payment_cents, 179_865);
        assert_eq!(n.monthly_saving_cents, 19_726);
        assert_eq!(n.break_even_months, Some(21));
    }

    #[test]
    fn refinance_after_a_year_uses_the_amortised_balance() {
        // After 12 payments: $296,952.54 at 6% over 360 months → $1,780.38; saving $215.53;
        // $4,000 / $215.53 = 18.56 → 19 months.
        let l = loan(30_000_000, 7000, d(2025, 11, 1));
        let n = refinance_numbers(&l, 6000, 400_000, d(2026, 11, 1)).unwrap();
        assert_eq!(n.remaining_balance_cents, 29_695_254);
        assert_eq!(n.new_payment_cents, 178_038);
        assert_eq!(n.monthly_saving_cents, 21_553);
        assert_eq!(n.break_even_months, Some(19));
    }

    #[test]
    fn break_even_is_exact_when_costs_divide_evenly() {
        let l = loan(30_000_000, 7000, d(2026, 11, 10));
        let n = refinance_numbers(&l, 6000, 19_726 * 10, d(2026, 11, 23)).unwrap();
        assert_eq!(n.break_even_months, Some(10));
    }

    #[test]
    fn rate_watch_fires_only_at_the_threshold() {
        let inputs = |m| ScanInputs {
            today: d(2026, 11, 23),
            market_rate_milli: Some(m),
            threshold_bps: 75,
            closing_cost_cents: 400_000,
        };
        let l = loan(30_000_000, 7000, d(2026, 11, 10));
        assert!(evaluate(&l, &inputs(6250)).iter().any(|t| t.kind == "rate_watch"), "0.75% fires");
        assert!(!evaluate(&l, &inputs(6251)).iter().any(|t| t.kind == "rate_watch"), "0.749% does not");
        let t = evaluate(&l, &inputs(6000)).into_iter().find(|t| t.kind == "rate_watch").unwrap();
        assert_eq!(t.numbers["monthly_saving_cents"], 19_726);
        assert!(t.why.contains("$197.26"), "{}", t.why);
    }

    #[test]
    fn arm_reset_within_six_months() {
        let mut l = loan(30_000_000, 5000, d(2022, 3, 1));
        l.product = "arm".into();
        let inputs =
            ScanInputs { today: d(2026, 11, 23), market_rate_milli: None, threshold_bps: 75, closing_cost_cents: 0 };
        l.arm_reset_on = Some(d(2027, 5, 23));
        assert!(evaluate(&l, &inputs).iter().any(|t| t.kind == "arm_reset"));
        l.arm_reset_on = Some(d(2027, 5, 24));
        assert!(!evaluate(&l, &inputs).iter().any(|t| t.kind == "arm_reset"));
    }

    #[test]
    fn estimated_ltv_uses_amortisation_and_appreciation() {
        // $250,000 at 6.5% after 60 payments: $234,027.45; value $250,000 × 1.04^5 = $304,163.23;
        // LTV = 76.94%.
        let mut l = loan(25_000_000, 6500, d(2021, 11, 1));
        l.original_value_cents = Some(25_000_000);
        l.appreciation_milli = 4000;
        let (ltv, bal, val) = estimated_ltv(&l, d(2026, 11, 1)).unwrap();
        assert_eq!(bal, 23_402_745);
        assert_eq!(val, 30_416_323);
        assert_eq!(ltv, 7694);
    }

    #[test]
    fn mi_removal_and_fha_fire_at_eighty_percent() {
        let today = d(2026, 11, 1);
        let inputs = ScanInputs { today, market_rate_milli: None, threshold_bps: 75, closing_cost_cents: 0 };
        // 95% LTV at closing, value up 4%/year for 5 years → 76.94% × 0.95... compute: balance 234,027.45 of a
        // $250,000 loan on a $263,157.89 home → value 320,171.82 → 73.09%.
        let mut l = loan(25_000_000, 6500, d(2021, 11, 1));
        l.original_value_cents = Some(26_315_789);
        l.appreciation_milli = 4000;
        assert!(evaluate(&l, &inputs).iter().any(|t| t.kind == "mi_removal"));
        // No appreciation: 234,027.45 / 263,157.89 = 88.93% → nothing.
        l.appreciation_milli = 0;
        assert!(!evaluate(&l, &inputs).iter().any(|t| t.kind == "mi_removal"));
        // Closed at 80% or below: never had MI.
        l.original_value_cents = Some(40_000_000);
        assert!(!evaluate(&l, &inputs).iter().any(|t| t.kind == "mi_removal"));
        l.product = "fha".into();
        assert!(evaluate(&l, &inputs).iter().any(|t| t.kind == "fha_to_conventional"));
    }

    #[test]
    fn anniversary_fires_for_two_weeks() {
        let l = loan(30_000_000, 7000, d(2023, 11, 20));
        let inputs = |today| ScanInputs { today, market_rate_milli: None, threshold_bps: 75, closing_cost_cents: 0 };
        let t = evaluate(&l, &inputs(d(2026, 11, 23))).into_iter().find(|t| t.kind == "anniversary").unwrap();
        assert!(t.why.starts_with("3-year anniversary"), "{}", t.why);
        assert!(!evaluate(&l, &inputs(d(2026, 12, 4))).iter().any(|t| t.kind == "anniversary"));
        assert!(!evaluate(&l, &inputs(d(2026, 11, 19))).iter().any(|t| t.kind == "anniversary"));
    }

    #[test]
    fn parsing_money_and_rates() {
        assert_eq!(parse_money_cents("$300,000.5"), Some(30_000_050));
        assert_eq!(parse_money_cents("300000"), Some(30_000_000));
        assert_eq!(parse_money_cents("3.001"), None);
        assert_eq!(parse_money_cents("-5"), None);
        assert_eq!(parse_rate_milli("6.875%"), Some(6875));
        assert_eq!(parse_rate_milli("7"), Some(7000));
        assert_eq!(parse_rate_milli("0"), None);
        assert_eq!(parse_rate_milli("abc"), None);
        assert_eq!(parse_signed_pct_milli("-1.25%"), Some(-1250));
        assert_eq!(parse_signed_pct_milli("4.5"), Some(4500));
        assert_eq!(parse_signed_pct_milli("0"), Some(0));
        assert_eq!(parse_signed_pct_milli("60"), None);
        assert_eq!(format_cents(199_591), "$1,995.91");
        assert_eq!(format_cents(30_000_000), "$300,000.00");
        assert_eq!(format_rate(6875), "6.875%");
        assert_eq!(format_bp(7694), "76.94%");
    }
}
