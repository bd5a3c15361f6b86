//! One loan option's figures, from its inputs (pure): the payment, mortgage insurance, cash to close, the
//! Truth in Lending figures (amount financed, finance charge, APR) and what the borrower has paid and owns at 5,
//! 7 and 10 years and at the end of the term. Money is integer cents; rates are thousandths of a percent.
//!
//! How each figure is made (the pages' footnotes say the same to the borrower):
//! - **Loan amount** = base loan + an FHA upfront premium or VA funding fee, which are financed.
//! - **Points** are basis points of the loan amount; negative points are a lender credit. A credit first pays
//!   prepaid finance charges (lowering the finance charge) and then other closing costs; a credit beyond the
//!   costs is not paid out.
//! - **Prepaid interest** runs from closing to a month before the first payment, at the note rate on a 365-day
//!   year, and is a prepaid finance charge.
//! - **Mortgage insurance**: conventional and jumbo PMI is the annual rate (from the admin's table) of the
//!   original loan, a twelfth a month, until the scheduled balance reaches 78% of the property value (the
//!   Homeowners Protection Act's automatic termination). FHA annual premium is its rate of the average scheduled
//!   balance of each loan year, a twelfth a month, for the whole term when the loan-to-value is over 90% and for
//!   11 years otherwise. VA loans have none.
//! - **Amount financed** = loan amount − prepaid finance charges; **finance charge** = the payments of principal,
//!   interest and mortgage insurance − amount financed; **APR** by Appendix J (see `apr`), with the odd first
//!   period from closing to the first payment. An ARM's APR assumes today's index after the fixed period, limited
//!   by the caps (the composite rate Regulation Z's commentary describes).
//! - **Cost at a horizon** = closing costs paid + upfront premium + interest + mortgage insurance paid by then:
//!   what the option has cost, principal repaid aside. The best option at a horizon is the one that cost least.

use chrono::{Months, NaiveDate};
use serde::Serialize;

use super::amortize::{self, ArmTerms, Month};
use super::apr;

/// The loan programs an option may be.
pub const PROGRAMS: [&str; 4] = ["conventional", "fha", "va", "jumbo"];
/// Fixed or adjustable.
pub const RATE_TYPES: [&str; 2] = ["fixed", "arm"];
/// The horizons the figures are given at, in months (and the full term).
pub const HORIZONS: [u32; 3] = [60, 84, 120];

/// One closing cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CostItem {
    pub name: String,
    pub cents: i64,
    /// A prepaid finance charge (Regulation Z 1026.4): lowers the amount financed, raises the APR.
    pub prepaid_finance_charge: bool,
}

/// What an option is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub program: String,
    pub rate_type: String,
    pub arm: Option<ArmTerms>,
    /// Today's index for an ARM (thousandths of a percent).
    pub index_milli: Option<i32>,
    pub property_value_cents: i64,
    pub base_loan_cents: i64,
    pub rate_milli: i32,
    pub term_months: u32,
    /// Points in basis points of the loan amount; negative is a lender credit.
    pub points_bps: i32,
    /// Conventional/jumbo PMI, annual basis points (from the admin's table); 0 when none.
    pub pmi_annual_bps: i32,
    pub fha_upfront_bps: i32,
    pub fha_annual_bps: i32,
    pub va_funding_fee_bps: i32,
    pub costs: Vec<CostItem>,
    pub monthly_taxes_cents: i64,
    pub monthly_insurance_cents: i64,
    pub monthly_hoa_cents: i64,
    /// Cash from the borrower toward the price (the down payment).
    pub down_payment_cents: i64,
    pub closing_date: NaiveDate,
    pub first_payment_date: NaiveDate,
}

/// The figures at one horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Horizon {
    pub months: u32,
    /// Cash to close + principal, interest and mortgage insurance paid by then.
    pub total_paid_cents: i64,
    pub interest_paid_cents: i64,
    pub mi_paid_cents: i64,
    /// Closing costs + upfront premium + interest + mortgage insurance (principal repaid aside).
    pub cost_cents: i64,
    pub balance_cents: i64,
    /// Property value − balance (no change in the value is assumed).
    pub equity_cents: i64,
}

/// A step of an ARM's payment path: from `month` the rate is `rate_milli` and the payment `payment_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PathStep {
    pub month: u32,
    pub rate_milli: i32,
    pub payment_cents: i64,
}

/// An ARM's two payment paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ArmPaths {
    pub fully_indexed_milli: i32,
    pub todays_index: Vec<PathStep>,
    pub worst_case: Vec<PathStep>,
    pub worst_case_max_payment_cents: i64,
}

/// Everything the comparison shows for one option.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub loan_amount_cents: i64,
    pub upfront_premium_cents: i64,
    /// Loan-to-value of the base loan, basis points.
    pub ltv_bps: i64,
    pub principal_and_interest_cents: i64,
    pub monthly_mi_cents: i64,
    pub monthly_escrow_cents: i64,
    pub total_monthly_cents: i64,
    /// Months mortgage insurance is paid.
    pub mi_months: u32,
    pub points_cents: i64,
    pub prepaid_interest_cents: i64,
    pub prepaid_interest_days: i64,
    pub closing_costs_cents: i64,
    pub cash_to_close_cents: i64,
    pub prepaid_finance_charges_cents: i64,
    pub amount_financed_cents: i64,
    pub total_of_payments_cents: i64,
    pub finance_charge_cents: i64,
    /// The APR as disclosed (three decimals, thousandths of a percent).
    pub apr_milli: i32,
    /// The unrounded APR in percent.
    pub apr_exact: f64,
    pub horizons: Vec<Horizon>,
    pub arm: Option<ArmPaths>,
}

/// The largest amount an input may hold, in cents ($1 billion): far above any mortgage, far below overflow.
pub const MAX_AMOUNT: i64 = 100_000_000_000;

/// Why inputs cannot be figured: (field, message) pairs.
pub type Problems = Vec<(&'static str, String)>;

/// Checks the inputs a form or the API sent.
pub fn validate(i: &Inputs) -> Problems {
    let mut p: Problems = Vec::new();
    if !PROGRAMS.contains(&i.program.as_str()) {
        p.push(("program", "Choose conventional, FHA, VA or jumbo.".into()));
    }
    if !RATE_TYPES.contains(&i.rate_type.as_str()) {
        p.push(("rate_type", "Choose fixed or ARM.".into()));
    }
    if !(1..=MAX_AMOUNT).contains(&i.property_value_cents) {
        p.push(("property_value", "Enter the property's value (up to $1 billion).".into()));
    }
    if !(1..=MAX_AMOUNT).contains(&i.base_loan_cents) {
        p.push(("loan_amount", "Enter a loan amount above zero (up to $1 billion).".into()));
    } else if i.property_value_cents > 0 && i.base_loan_cents > i.property_value_cents.saturating_mul(2) {
        p.push(("loan_amount", "The loan is more than twice the property's value.".into()));
    }
    if !(1..=25_000).contains(&i.rate_milli) {
        p.push(("rate", "Enter a rate between 0.001% and 25%.".into()));
    }
    if !(12..=480).contains(&i.term_months) || i.term_months % 12 != 0 {
        p.push(("term_years", "Enter a term of 1 to 40 whole years.".into()));
    }
    if !(-500..=500).contains(&i.points_bps) {
        p.push(("points", "Points run from −5 (a credit) to 5.".into()));
    }
    for (field, v) in [
        ("pmi_annual_bps", i.pmi_annual_bps),
        ("fha_upfront_bps", i.fha_upfront_bps),
        ("fha_annual_bps", i.fha_annual_bps),
        ("va_funding_fee_bps", i.va_funding_fee_bps),
    ] {
        if !(0..=1_000).contains(&v) {
            p.push((field, "Between 0 and 1,000 basis points.".into()));
        }
    }
    for (field, v) in [
        ("monthly_taxes", i.monthly_taxes_cents),
        ("monthly_insurance", i.monthly_insurance_cents),
        ("monthly_hoa", i.monthly_hoa_cents),
        ("down_payment", i.down_payment_cents),
    ] {
        if !(0..=MAX_AMOUNT).contains(&v) {
            p.push((field, "Not below zero, nor above $1 billion.".into()));
        }
    }
    if i.costs.len() > 40 || i.costs.iter().any(|c| !(0..=MAX_AMOUNT).contains(&c.cents) || c.name.trim().is_empty()) {
        p.push(("costs", "Each closing cost needs a name and an amount not below zero.".into()));
    }
    let start = interest_start(i.first_payment_date);
    let odd = (start - i.closing_date).num_days();
    if !(0..=31).contains(&odd) {
        p.push((
            "first_payment_date",
            "The first payment falls one to two months after closing (a month's interest in arrears).".into(),
        ));
    }
    if i.rate_type == "arm" {
        match (&i.arm, i.index_milli) {
            (Some(a), Some(ix)) => {
                if a.initial_months == 0 || a.initial_months >= i.term_months || a.adjust_months == 0 {
                    p.push(("arm_initial_years", "The fixed period is shorter than the term, and it adjusts.".into()));
                }
                if [a.initial_cap, a.periodic_cap, a.lifetime_cap, a.margin].iter().any(|v| !(0..=15_000).contains(v))
                    || !(0..=20_000).contains(&ix)
                {
                    p.push(("arm_caps", "Caps, margin and index are between 0% and 15%.".into()));
                }
            }
            _ => p.push(("arm_caps", "An ARM needs its fixed period, caps, margin and today's index.".into())),
        }
    }
    p
}

/// The day interest starts accruing in arrears: a month before the first payment.
pub fn interest_start(first_payment: NaiveDate) -> NaiveDate {
    first_payment.checked_sub_months(Months::new(1)).unwrap_or(first_payment)
}

/// The upfront premium a program finances.
pub fn upfront_premium(i: &Inputs) -> i64 {
    match i.program.as_str() {
        "fha" => bps_of(i.base_loan_cents, i.fha_upfront_bps),
        "va" => bps_of(i.base_loan_cents, i.va_funding_fee_bps),
        _ => 0,
    }
}

/// `bps` of `cents`, rounded half away from zero.
pub fn bps_of(cents: i64, bps: i32) -> i64 {
    let exact = i128::from(cents) * i128::from(bps);
    let (q, r) = (exact / 10_000, exact % 10_000);
    (if r.abs() * 2 >= 10_000 { q + exact.signum() } else { q }) as i64
}

/// The schedule the option follows (an ARM at today's index within its caps) and, for an ARM, its paths.
fn schedules(i: &Inputs, loan: i64) -> (Vec<Month>, Option<ArmPaths>) {
    match (&i.arm, i.index_milli, i.rate_type.as_str()) {
        (Some(terms), Some(ix), "arm") => {
            let today = amortize::arm_rates(i.rate_milli, terms, Some(ix), i.term_months);
            let worst = amortize::arm_rates(i.rate_milli, terms, None, i.term_months);
            let s_today = amortize::schedule(loan, i.term_months, |k| amortize::arm_rate_at(&today, terms, k));
            let s_worst = amortize::schedule(loan, i.term_months, |k| amortize::arm_rate_at(&worst, terms, k));
            let paths = ArmPaths {
                fully_indexed_milli: ix + terms.margin,
                todays_index: path(&s_today),
                worst_case: path(&s_worst),
                worst_case_max_payment_cents: s_worst
                    .iter()
                    .take(s_worst.len().saturating_sub(1))
                    .map(|m| m.payment)
                    .max()
                    .unwrap_or(0),
            };
            (s_today, Some(paths))
        }
        _ => (amortize::schedule(loan, i.term_months, |_| i.rate_milli), None),
    }
}

/// The months where the rate changes, with the payment from then.
fn path(s: &[Month]) -> Vec<PathStep> {
    let mut out: Vec<PathStep> = Vec::new();
    for m in s {
        if out.last().is_none_or(|p| p.rate_milli != m.rate_milli) {
            out.push(PathStep { month: m.number, rate_milli: m.rate_milli, payment_cents: m.payment });
        }
    }
    out
}

/// The mortgage insurance paid in each month of `s`.
fn mi_by_month(i: &Inputs, s: &[Month], loan: i64, ltv_bps: i64) -> Vec<i64> {
    let mut out = vec![0; s.len()];
    match i.program.as_str() {
        "conventional" | "jumbo" if i.pmi_annual_bps > 0 => {
            let monthly = amortize::round_cents(bps_of(i.base_loan_cents, i.pmi_annual_bps) as f64 / 12.0);
            let mut before = loan;
            for (k, m) in s.iter().enumerate() {
                // Paid while the balance before the payment is above 78% of the value.
                if before * 100 > i.property_value_cents * 78 {
                    out[k] = monthly;
                } else {
                    break;
                }
                before = m.balance;
            }
        }
        "fha" if i.fha_annual_bps > 0 => {
            let months = if ltv_bps > 9_000 { s.len() } else { s.len().min(132) };
            let mut before = loan;
            let mut starts = Vec::with_capacity(s.len());
            for m in s {
                starts.push(before);
                before = m.balance;
            }
            for year in starts.chunks(12).enumerate() {
                let avg = year.1.iter().sum::<i64>() as f64 / year.1.len() as f64;
                let monthly = amortize::round_cents(avg * f64::from(i.fha_annual_bps) / 10_000.0 / 12.0);
                for k in 0..year.1.len() {
                    let idx = year.0 * 12 + k;
                    if idx < months {
                        out[idx] = monthly;
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The option's figures. Call [`validate`] first: inputs it refuses give meaningless figures.
pub fn figures(i: &Inputs) -> Figures {
    let upfront = upfront_premium(i);
    let loan = i.base_loan_cents + upfront;
    let ltv_bps = if i.property_value_cents > 0 { i.base_loan_cents * 10_000 / i.property_value_cents } else { 0 };
    let (s, arm) = schedules(i, loan);
    let mi = mi_by_month(i, &s, loan, ltv_bps);
    let payments: Vec<i64> = s.iter().zip(&mi).map(|(m, mi)| m.payment + mi).collect();

    let points = bps_of(loan, i.points_bps);
    let days = (interest_start(i.first_payment_date) - i.closing_date).num_days().max(0);
    let prepaid_interest =
        amortize::round_cents(loan as f64 * f64::from(i.rate_milli) / 100_000.0 * days as f64 / 365.0);
    let pfc_items: i64 = i.costs.iter().filter(|c| c.prepaid_finance_charge).map(|c| c.cents).sum();
    let other_items: i64 = i.costs.iter().filter(|c| !c.prepaid_finance_charge).map(|c| c.cents).sum();
    let credit = (-points).max(0);
    let pfc_before = points.max(0) + pfc_items + prepaid_interest + upfront;
    let pfc = (pfc_before - credit).max(0);
    let gross = points.max(0) + pfc_items + prepaid_interest + other_items;
    let closing_costs = (gross - credit).max(0);
    let amount_financed = loan - pfc;
    let total_of_payments: i64 = payments.iter().sum();
    let flows = apr::monthly_flows(i.closing_date, i.first_payment_date, &payments);
    let apr_exact = apr::apr_percent(amount_financed, &flows, 12.0).unwrap_or(0.0);

    let mut horizons: Vec<u32> = HORIZONS.iter().copied().filter(|h| *h < i.term_months).collect();
    horizons.push(i.term_months);
    let horizons = horizons
        .into_iter()
        .map(|h| {
            let upto = &s[..h as usize];
            let interest: i64 = upto.iter().map(|m| m.interest).sum();
            let principal: i64 = upto.iter().map(|m| m.principal).sum();
            let mi_paid: i64 = mi[..h as usize].iter().sum();
            let balance = upto.last().map_or(loan, |m| m.balance);
            Horizon {
                months: h,
                total_paid_cents: i.down_payment_cents + closing_costs + interest + principal + mi_paid,
                interest_paid_cents: interest,
                mi_paid_cents: mi_paid,
                cost_cents: closing_costs + upfront + interest + mi_paid,
                balance_cents: balance,
                equity_cents: i.property_value_cents - balance,
            }
        })
        .collect();
    let escrow = i.monthly_taxes_cents + i.monthly_insurance_cents + i.monthly_hoa_cents;
    let pi = s.first().map_or(0, |m| m.payment);
    Figures {
        loan_amount_cents: loan,
        upfront_premium_cents: upfront,
        ltv_bps,
        principal_and_interest_cents: pi,
        monthly_mi_cents: mi.first().copied().unwrap_or(0),
        monthly_escrow_cents: escrow,
        total_monthly_cents: pi + mi.first().copied().unwrap_or(0) + escrow,
        mi_months: mi.iter().filter(|m| **m > 0).count() as u32,
        points_cents: points,
        prepaid_interest_cents: prepaid_interest,
        prepaid_interest_days: days,
        closing_costs_cents: closing_costs,
        cash_to_close_cents: i.down_payment_cents + closing_costs,
        prepaid_finance_charges_cents: pfc,
        amount_financed_cents: amount_financed,
        total_of_payments_cents: total_of_payments,
        finance_charge_cents: total_of_payments - amount_financed,
        apr_milli: (apr_exact * 1000.0).round() as i32,
        apr_exact,
        horizons,
        arm,
    }
}

/// The side-by-side marks: for each horizon (5, 7, 10 years, full term) the option that cost least, and each
/// option's break-even against the no-point option.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marks {
    /// (horizon months, or 0 for "full term"; index of the best option).
    pub best: Vec<(u32, usize)>,
    /// Per option: months until its lower monthly payment repays its higher closing costs, against the option
    /// with the fewest points (None: no saving, or it is that option).
    pub break_even: Vec<Option<u32>>,
    /// Index of the no-point (fewest points) option.
    pub baseline: Option<usize>,
}

/// Marks the best option at each horizon and the break-evens; `points` are each option's points in bps.
pub fn compare(options: &[(&Figures, i32)]) -> Marks {
    let mut marks = Marks::default();
    if options.is_empty() {
        return marks;
    }
    for h in HORIZONS {
        let best = options
            .iter()
            .enumerate()
            .filter_map(|(k, (f, _))| f.horizons.iter().find(|x| x.months == h).map(|x| (k, x.cost_cents)))
            .min_by_key(|(_, c)| *c);
        if let Some((k, _)) = best {
            marks.best.push((h, k));
        }
    }
    if let Some((k, _)) = options
        .iter()
        .enumerate()
        .filter_map(|(k, (f, _))| f.horizons.last().map(|x| (k, x.cost_cents)))
        .min_by_key(|(_, c)| *c)
    {
        marks.best.push((0, k));
    }
    let base = options.iter().enumerate().min_by_key(|(_, (_, p))| *p).map(|(k, _)| k);
    marks.baseline = base;
    marks.break_even = options
        .iter()
        .enumerate()
        .map(|(k, (f, _))| {
            let b = options[base?].0;
            if Some(k) == base {
                return None;
            }
            let extra =
                f.closing_costs_cents + f.upfront_premium_cents - b.closing_costs_cents - b.upfront_premium_cents;
            let saving = (b.principal_and_interest_cents + b.monthly_mi_cents)
                - (f.principal_and_interest_cents + f.monthly_mi_cents);
            if extra <= 0 || saving <= 0 {
                return None;
            }
            Some(extra.div_euclid(saving) as u32 + u32::from(extra % saving != 0))
        })
        .collect();
    marks
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
