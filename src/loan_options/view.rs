//! The side-by-side table as both the LO and the borrower see it: one row per figure, one column per option,
//! the best option at each horizon marked, and a footnote that says how each figure is made.

use super::model::{self, Figures};
use super::service::LoanOption;
use crate::web::money;

/// A rate in thousandths of a percent as people read it: "6.875%".
pub fn rate(milli: i32) -> String {
    let s = format!("{}.{:03}", milli / 1000, (milli % 1000).abs());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// Basis points as points: "1.25 points", "0.5 point credit".
pub fn points(bps: i32) -> String {
    if bps == 0 {
        return "none".into();
    }
    let v = format!("{}.{:02}", bps.abs() / 100, bps.abs() % 100);
    let v = v.trim_end_matches('0').trim_end_matches('.').to_string();
    if bps < 0 { format!("{v} credit") } else { v }
}

/// Months as "5 years" or "30 years".
pub fn horizon(months: u32) -> String {
    if months % 12 == 0 { format!("{} years", months / 12) } else { format!("{months} months") }
}

pub fn program(p: &str) -> &'static str {
    match p {
        "fha" => "FHA",
        "va" => "VA",
        "jumbo" => "Jumbo",
        _ => "Conventional",
    }
}

/// One cell: its text and whether it is the best at its horizon.
pub struct Cell {
    pub text: String,
    pub best: bool,
}

/// One figure across the options.
pub struct Row {
    pub label: String,
    /// The footnote that explains it (1-based).
    pub note: usize,
    pub cells: Vec<Cell>,
    /// A row that starts a group (drawn with a rule above).
    pub group: bool,
}

/// One option's column head.
pub struct Head {
    pub id: String,
    pub name: String,
    pub version: i32,
    pub summary: String,
}

/// An ARM's two paths, for the table under the comparison.
pub struct ArmView {
    pub name: String,
    pub fully_indexed: String,
    pub today: Vec<(String, String, String)>,
    pub worst: Vec<(String, String, String)>,
}

/// The whole comparison.
pub struct Comparison {
    pub heads: Vec<Head>,
    pub rows: Vec<Row>,
    pub notes: Vec<&'static str>,
    pub arms: Vec<ArmView>,
}

/// How each figure is made, in the order of [`NOTES`]' numbers.
pub const NOTES: [&str; 14] = [
    "Principal and interest: the level payment that repays the loan amount over the term at the note rate, rounded to the cent. For an ARM, the payment during the fixed period.",
    "Mortgage insurance: conventional and jumbo PMI is the annual rate from the lender's table for this loan-to-value and credit score, on the original loan, paid monthly until the scheduled balance reaches 78% of the property value. FHA annual premium is its rate of each year's average balance, paid monthly for the whole term above 90% loan-to-value and 11 years otherwise. VA loans have none.",
    "Total monthly payment: principal and interest, mortgage insurance, and the monthly taxes, homeowner's insurance and HOA dues.",
    "Loan amount: the base loan plus an FHA upfront premium or VA funding fee, which are financed.",
    "Points: a percentage of the loan amount paid at closing to lower the rate; a lender credit (negative points) pays closing costs instead, prepaid finance charges first.",
    "Cash to close: the down payment plus closing costs, points and prepaid interest from closing to the month before the first payment, less any lender credit.",
    "Amount financed: the loan amount less the prepaid finance charges (points, lender fees marked as finance charges, prepaid interest, prepaid or financed mortgage insurance premiums).",
    "Finance charge: every payment of principal, interest and mortgage insurance over the term, less the amount financed: what the credit costs in dollars.",
    "APR: the yearly rate at which the payments repay the amount financed, by the actuarial method of Regulation Z, Appendix J, counting the odd days from closing to the first payment; shown to three decimals. For an ARM it assumes today's index plus the margin after the fixed period, within the caps.",
    "Total paid: cash to close plus principal, interest and mortgage insurance paid by then (taxes, insurance and HOA dues, the same whichever option, are left out).",
    "Interest paid: the interest in the payments made by then.",
    "Cost by then: closing costs, any upfront premium, interest and mortgage insurance paid by then: what the option has cost, principal repaid aside. ★ marks the option that cost least at that horizon.",
    "Equity: the property's value today less the scheduled balance then (no change in value is assumed).",
    "Break-even: how many months the lower monthly payment takes to repay the higher closing costs, against the option with the fewest points.",
];

fn row(label: impl Into<String>, note: usize, cells: Vec<String>) -> Row {
    Row {
        label: label.into(),
        note,
        cells: cells.into_iter().map(|text| Cell { text, best: false }).collect(),
        group: false,
    }
}

fn each(options: &[LoanOption], f: impl Fn(&LoanOption) -> String) -> Vec<String> {
    options.iter().map(f).collect()
}

/// An option's figures at `months` (0: the full term).
fn pick(o: &LoanOption, months: u32) -> Option<&model::Horizon> {
    if months == 0 { o.figures.horizons.last() } else { o.figures.horizons.iter().find(|h| h.months == months) }
}

/// Builds the comparison of `options` (in their order).
pub fn compare(options: &[LoanOption]) -> Comparison {
    let pairs: Vec<(&Figures, i32)> = options.iter().map(|o| (&o.figures, o.row.points_bps)).collect();
    let marks = model::compare(&pairs);
    let heads = options
        .iter()
        .map(|o| Head {
            id: o.row.id.to_string(),
            name: o.row.name.clone(),
            version: o.row.version,
            summary: format!(
                "{} {} · {} years · {}",
                program(&o.row.program),
                if o.row.rate_type == "arm" {
                    format!(
                        "{}/{} ARM",
                        o.row.arm_initial_months.unwrap_or(0) / 12,
                        o.row.arm_adjust_months.unwrap_or(0)
                    )
                } else {
                    "fixed".into()
                },
                o.row.term_months / 12,
                rate(o.row.rate_milli)
            ),
        })
        .collect();
    let mut rows = vec![
        row("Rate", 9, each(options, |o| rate(o.row.rate_milli))),
        row("APR", 9, each(options, |o| rate(o.figures.apr_milli))),
        row("Principal and interest", 1, each(options, |o| money::cents(o.figures.principal_and_interest_cents))),
        row("Mortgage insurance", 2, each(options, |o| money::cents(o.figures.monthly_mi_cents))),
        row("Taxes, insurance, HOA", 3, each(options, |o| money::cents(o.figures.monthly_escrow_cents))),
        row("Total monthly payment", 3, each(options, |o| money::cents(o.figures.total_monthly_cents))),
        row("Loan amount", 4, each(options, |o| money::cents(o.figures.loan_amount_cents))),
        row(
            "Points",
            5,
            each(options, |o| format!("{} ({})", points(o.row.points_bps), money::cents(o.figures.points_cents))),
        ),
        row("Cash to close", 6, each(options, |o| money::cents(o.figures.cash_to_close_cents))),
        row("Amount financed", 7, each(options, |o| money::cents(o.figures.amount_financed_cents))),
        row("Finance charge", 8, each(options, |o| money::cents(o.figures.finance_charge_cents))),
        row(
            "Break-even of points",
            14,
            options
                .iter()
                .enumerate()
                .map(|(k, _)| match (marks.break_even.get(k).copied().flatten(), marks.baseline == Some(k)) {
                    (_, true) => "the comparison's base".into(),
                    (Some(m), _) => format!("{m} months"),
                    (None, _) => "—".into(),
                })
                .collect(),
        ),
    ];
    let mut horizons: Vec<(u32, String)> = model::HORIZONS.iter().map(|h| (*h, horizon(*h))).collect();
    horizons.push((0, "the full term".into()));
    for (h, label) in horizons {
        let best = marks.best.iter().find(|(m, _)| *m == h).map(|(_, k)| *k);
        let dash = || "—".to_string();
        let mut cost = row(
            format!("Cost by {label}"),
            12,
            each(options, |o| pick(o, h).map_or_else(dash, |x| money::cents(x.cost_cents))),
        );
        cost.group = true;
        for (k, c) in cost.cells.iter_mut().enumerate() {
            if Some(k) == best && options.len() > 1 {
                c.best = true;
                c.text = format!("★ {}", c.text);
            }
        }
        rows.push(cost);
        rows.push(row(
            format!("Total paid by {label}"),
            10,
            each(options, |o| pick(o, h).map_or_else(dash, |x| money::cents(x.total_paid_cents))),
        ));
        rows.push(row(
            format!("Interest paid by {label}"),
            11,
            each(options, |o| pick(o, h).map_or_else(dash, |x| money::cents(x.interest_paid_cents))),
        ));
        rows.push(row(
            format!("Equity at {label}"),
            13,
            each(options, |o| pick(o, h).map_or_else(dash, |x| money::cents(x.equity_cents))),
        ));
    }
    let arms = options
        .iter()
        .filter_map(|o| {
            let a = o.figures.arm.as_ref()?;
            let steps = |s: &[model::PathStep]| {
                s.iter()
                    .map(|p| (format!("month {}", p.month), rate(p.rate_milli), money::cents(p.payment_cents)))
                    .collect()
            };
            Some(ArmView {
                name: o.row.name.clone(),
                fully_indexed: rate(a.fully_indexed_milli),
                today: steps(&a.todays_index),
                worst: steps(&a.worst_case),
            })
        })
        .collect();
    Comparison { heads, rows, notes: NOTES.to_vec(), arms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(rate(6875), "6.875%");
        assert_eq!(rate(6500), "6.5%");
        assert_eq!(rate(7000), "7%");
        assert_eq!(points(125), "1.25");
        assert_eq!(points(-50), "0.5 credit");
        assert_eq!(points(0), "none");
        assert_eq!(horizon(84), "7 years");
    }
}
