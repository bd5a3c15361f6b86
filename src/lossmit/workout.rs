//! The options workout of one case: the scenario a specialist types (plan length, forbearance, modification
//! rate, sale figures) run through [`super::options`], as cards shown side by side and as decision terms.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::model::{self, LossMitOption, parse_money};
use super::options::{self, FLEX, ModificationInput, format_bps, format_cents};
use super::store::{Assessment, CaseRow};

/// The scenario, as typed (strings, so the form shows exactly what was entered).
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub plan_months: String,
    pub forb_months: String,
    pub forb_payment: String,
    pub forb_prior: String,
    pub mod_rate: String,
    pub market_value: String,
    pub list_price: String,
    pub closing_costs: String,
    pub relocation: String,
    pub title_clear: bool,
}

impl Scenario {
    pub fn from_input(case: &CaseRow, m: &HashMap<String, String>) -> Self {
        let get = |k: &str, default: String| {
            m.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).unwrap_or(default)
        };
        let value = model::cents_input(case.upb_cents);
        Scenario {
            plan_months: get("plan_months", "6".into()),
            forb_months: get("forb_months", "6".into()),
            forb_payment: get("forb_payment", "0".into()),
            forb_prior: get("forb_prior", "0".into()),
            mod_rate: get("mod_rate", format!("{:.3}", (case.note_rate - 1.0).max(0.0))),
            market_value: get("market_value", value.clone()),
            list_price: get("list_price", value),
            closing_costs: get("closing_costs", model::cents_input(case.upb_cents * 7 / 100)),
            relocation: get("relocation", "3000.00".into()),
            title_clear: m.get("title").is_none_or(|v| v != "clouded"),
        }
    }
}

/// One option as shown side by side.
#[derive(Debug, Clone, Serialize)]
pub struct OptionCard {
    pub key: &'static str,
    pub title: &'static str,
    pub lines: Vec<(String, String)>,
    pub flags: Vec<String>,
    pub steps: Vec<(String, String, String)>,
    pub terms: serde_json::Value,
}

fn months(s: &str) -> Option<i32> {
    s.parse::<i32>().ok().filter(|m| (1..=480).contains(m))
}

/// Runs every option for the case on `today`.
pub fn run(case: &CaseRow, assessment: Option<&Assessment>, s: &Scenario, today: NaiveDate) -> Vec<OptionCard> {
    let contractual = case.monthly_pi_cents + case.monthly_escrow_cents;
    let arrears =
        model::arrears_cents(case.first_unpaid_due_date, today, case.monthly_pi_cents, case.monthly_escrow_cents);
    let (short_sale, deed_in_lieu) = disposition_cards(case.upb_cents + arrears, s);
    vec![
        repayment_plan_card(contractual, arrears, s),
        forbearance_card(contractual, s),
        modification_card(case, assessment, arrears, s),
        short_sale,
        deed_in_lieu,
    ]
}

impl OptionCard {
    fn new(key: &'static str, title: &'static str) -> Self {
        OptionCard { key, title, lines: vec![], flags: vec![], steps: vec![], terms: serde_json::Value::Null }
    }
}

fn repayment_plan_card(contractual: i64, arrears: i64, s: &Scenario) -> OptionCard {
    let mut plan = OptionCard::new("repayment_plan", "Repayment plan");
    match months(&s.plan_months).and_then(|m| options::repayment_plan(contractual, arrears, m)) {
        Some(p) => {
            plan.lines = vec![
                ("Arrears".into(), format_cents(arrears)),
                ("Months".into(), p.months.to_string()),
                ("Added each month".into(), format_cents(p.installment_cents)),
                ("Last month adds".into(), format_cents(p.last_installment_cents)),
                ("Plan payment".into(), format_cents(p.plan_payment_cents)),
                ("Share of contractual payment".into(), format_bps(p.payment_ratio_bps)),
            ];
            if p.flag_payment_over_150 {
                plan.flags.push("Payment above 150% of the contractual payment".into());
            }
            if p.flag_term_over_12 {
                plan.flags.push("Plan longer than 12 months".into());
            }
            plan.terms = serde_json::to_value(&p).unwrap_or_default();
        }
        None => plan.flags.push("Enter a plan length of 1 to 480 months.".into()),
    }
    plan
}

fn forbearance_card(contractual: i64, s: &Scenario) -> OptionCard {
    let mut forb = OptionCard::new("forbearance", "Forbearance");
    let fb = match (months(&s.forb_months), parse_money(&s.forb_payment), s.forb_prior.parse::<i32>().ok()) {
        (Some(m), Some(pay), Some(prior)) => options::forbearance(contractual, pay, m, prior),
        _ => None,
    };
    match fb {
        Some(f) => {
            forb.lines = vec![
                (
                    "Payment during forbearance".into(),
                    if f.suspended { "Suspended".into() } else { format_cents(f.reduced_payment_cents) },
                ),
                ("Months granted".into(), format!("{} of {} requested", f.months, f.requested_months)),
                (
                    "Cumulative months".into(),
                    format!("{} (cap {})", f.cumulative_months, options::FORBEARANCE_CAP_MONTHS),
                ),
                ("Shortfall owed at the end".into(), format_cents(f.shortfall_cents)),
            ];
            if f.capped {
                forb.flags.push("Cut back to stay within 12 cumulative months".into());
            }
            forb.terms = serde_json::to_value(&f).unwrap_or_default();
        }
        None => forb.flags.push("Enter months, a payment below the contractual payment and prior months.".into()),
    }
    forb
}

fn modification_card(case: &CaseRow, assessment: Option<&Assessment>, arrears: i64, s: &Scenario) -> OptionCard {
    let mut modc = OptionCard::new("modification", "Modification (Flex-style waterfall)");
    let Some(rate) = s.mod_rate.parse::<f64>().ok().filter(|r| (0.0..30.0).contains(r)) else {
        modc.flags.push("Enter the modification rate as a percent.".into());
        return modc;
    };
    let m = options::modification(
        &ModificationInput {
            upb_cents: case.upb_cents,
            arrears_cents: arrears,
            note_rate_percent: case.note_rate,
            remaining_term_months: case.remaining_term_months,
            current_pi_cents: case.monthly_pi_cents,
            monthly_escrow_cents: case.monthly_escrow_cents,
            modification_rate_percent: rate,
            gross_income_cents: assessment.map(Assessment::gross_income_cents).unwrap_or(0),
            other_debts_cents: assessment.map(|a| a.other_debts_cents).unwrap_or(0),
        },
        FLEX,
    );
    let ratio = |bps: Option<i64>| bps.map(format_bps).unwrap_or_else(|| "no income recorded".into());
    modc.lines = vec![
        ("Capitalised balance".into(), format_cents(m.capitalised_upb_cents)),
        ("Rate".into(), format!("{:.3}%", m.rate_percent)),
        ("Term".into(), format!("{} months", m.term_months)),
        ("Principal forborne".into(), format_cents(m.forborne_principal_cents)),
        ("Interest-bearing balance".into(), format_cents(m.interest_bearing_upb_cents)),
        ("Target P&I (20% lower)".into(), format_cents(m.target_pi_cents)),
        ("New P&I".into(), format_cents(m.new_pi_cents)),
        ("New payment with escrow".into(), format_cents(m.new_payment_cents)),
        ("P&I reduction".into(), format_bps(m.reduction_bps)),
        ("Housing ratio".into(), ratio(m.ratios.housing_bps)),
        ("DTI".into(), ratio(m.ratios.dti_bps)),
    ];
    modc.steps = m
        .steps
        .iter()
        .map(|st| (st.step.to_string(), format_cents(st.pi_cents), format_bps(st.reduction_bps)))
        .collect();
    if !m.target_met {
        modc.flags.push("The 20% P&I reduction target is not reached within the program limits".into());
    }
    modc.terms = serde_json::to_value(&m).unwrap_or_default();
    modc
}

/// The short sale's and the deed-in-lieu's cards: both read the property's value against the total debt.
fn disposition_cards(total_debt: i64, s: &Scenario) -> (OptionCard, OptionCard) {
    let mut ss = OptionCard::new("short_sale", "Short sale");
    let mut dil = OptionCard::new("deed_in_lieu", "Deed-in-lieu");
    let money = (
        parse_money(&s.market_value),
        parse_money(&s.list_price),
        parse_money(&s.closing_costs),
        parse_money(&s.relocation),
    );
    let (Some(value), Some(price), Some(costs), Some(reloc)) = money else {
        ss.flags.push("Enter the market value, list price and costs in dollars.".into());
        dil.flags.push("Enter the market value and relocation assistance in dollars.".into());
        return (ss, dil);
    };
    let x = options::short_sale(total_debt, value, price, costs);
    ss.lines = vec![
        ("Total debt (UPB + arrears)".into(), format_cents(total_debt)),
        ("Market value".into(), format_cents(value)),
        ("List price".into(), format_cents(x.list_price_cents)),
        ("Sale costs".into(), format_cents(x.closing_costs_cents)),
        ("Net proceeds".into(), format_cents(x.net_proceeds_cents)),
        ("Shortfall".into(), format_cents(x.shortfall_cents)),
        ("Net to value".into(), x.net_to_value_bps.map(format_bps).unwrap_or_default()),
    ];
    ss.terms = serde_json::to_value(&x).unwrap_or_default();
    let d = options::deed_in_lieu(total_debt, value, reloc, s.title_clear);
    dil.lines = vec![
        ("Total debt".into(), format_cents(total_debt)),
        ("Market value".into(), format_cents(d.market_value_cents)),
        ("Shortfall".into(), format_cents(d.shortfall_cents)),
        ("Relocation assistance".into(), format_cents(d.relocation_assistance_cents)),
        ("Title".into(), if d.title_clear { "Clear".into() } else { "Not clear".into() }),
    ];
    if !d.eligible {
        dil.flags.push("Needs clear title (no junior liens or judgments)".into());
    }
    dil.terms = serde_json::to_value(&d).unwrap_or_default();
    (ss, dil)
}

/// The terms of one option for a decision record.
pub fn terms_for(cards: &[OptionCard], option: LossMitOption) -> serde_json::Value {
    cards.iter().find(|c| c.key == option.as_str()).map(|c| c.terms.clone()).unwrap_or(serde_json::Value::Null)
}
