//! The option form as typed: every field kept as text (a form with a mistake comes back as it was typed), and
//! its reading into the service's input with messages by field.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};

use super::amortize::ArmTerms;
use super::model::{CostItem, Inputs};
use super::service::{LoanOption, ScenarioInput};
use crate::error::{AppResult, FieldErrors};
use crate::web::money;

/// Closing-cost rows the form offers.
pub const COST_ROWS: usize = 8;

/// The form's fields by name (costs as `cost_name_N`, `cost_amount_N`, `cost_pfc_N`).
#[derive(Debug, Clone, Default)]
pub struct ScenarioForm(pub BTreeMap<String, String>);

/// A decimal with up to `places` decimals as an integer in units of 10^-places ("6.875", 3 → 6875).
pub fn parse_decimal(raw: &str, places: u32) -> Option<i64> {
    let s = raw.trim().trim_end_matches('%').trim();
    let (neg, s) = match s.strip_prefix('-').or_else(|| s.strip_prefix('−')) {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if (whole.is_empty() && frac.is_empty())
        || frac.len() > places as usize
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 =
        if frac.is_empty() { 0 } else { format!("{frac:0<width$}", width = places as usize).parse().ok()? };
    let v = whole.checked_mul(10_i64.pow(places))?.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

impl ScenarioForm {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut m = BTreeMap::new();
        for (k, v) in pairs {
            m.insert(k, v);
        }
        ScenarioForm(m)
    }

    pub fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn is(&self, k: &str, v: &str) -> bool {
        self.get(k) == v
    }

    pub fn checked(&self, k: &str) -> bool {
        !self.get(k).is_empty()
    }

    /// A new option's form: the lead's loan amount and value, closing in a week, first payment the 1st of the
    /// month after next.
    pub fn blank(loan: Option<i64>, value: Option<i64>, today: NaiveDate) -> Self {
        let closing = today + chrono::Duration::days(7);
        let first = NaiveDate::from_ymd_opt(closing.year(), closing.month(), 1)
            .and_then(|d| d.checked_add_months(Months::new(2)))
            .unwrap_or(closing);
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("program", "conventional".to_string()),
            ("rate_type", "fixed".into()),
            ("term_years", "30".into()),
            ("points", "0".into()),
            ("loan_amount", loan.map(money::input).unwrap_or_default()),
            ("property_value", value.map(money::input).unwrap_or_default()),
            ("down_payment", "0".into()),
            ("monthly_taxes", "0".into()),
            ("monthly_insurance", "0".into()),
            ("monthly_hoa", "0".into()),
            ("fha_upfront", "1.75".into()),
            ("fha_annual", "0.55".into()),
            ("va_funding_fee", "2.15".into()),
            ("arm_initial_years", "5".into()),
            ("arm_adjust_months", "6".into()),
            ("arm_initial_cap", "2".into()),
            ("arm_periodic_cap", "1".into()),
            ("arm_lifetime_cap", "5".into()),
            ("arm_margin", "2.75".into()),
            ("closing_date", closing.to_string()),
            ("first_payment_date", first.to_string()),
        ] {
            m.insert(k.to_string(), v);
        }
        ScenarioForm(m)
    }

    /// The form of a saved option (to edit it).
    pub fn of(o: &LoanOption) -> Self {
        let r = &o.row;
        let pct = |v: i32, places: u32| {
            let div = 10_i32.pow(places);
            let s =
                format!("{}{}.{:0w$}", if v < 0 { "-" } else { "" }, v.abs() / div, v.abs() % div, w = places as usize);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("version", r.version.to_string());
        put("name", r.name.clone());
        put("program", r.program.clone());
        put("rate_type", r.rate_type.clone());
        put("property_value", money::input(r.property_value_cents));
        put("loan_amount", money::input(r.loan_amount_cents));
        put("rate", pct(r.rate_milli, 3));
        put("term_years", (r.term_months / 12).to_string());
        put("points", pct(r.points_bps, 2));
        put("credit_score", r.credit_score.map(|s| s.to_string()).unwrap_or_default());
        put("fha_upfront", pct(r.fha_upfront_bps, 2));
        put("fha_annual", pct(r.fha_annual_bps, 2));
        put("va_funding_fee", pct(r.va_funding_fee_bps, 2));
        put("arm_initial_years", r.arm_initial_months.map(|m| (m / 12).to_string()).unwrap_or_default());
        put("arm_adjust_months", r.arm_adjust_months.map(|m| m.to_string()).unwrap_or_default());
        for (k, v) in [
            ("arm_initial_cap", r.arm_initial_cap_milli),
            ("arm_periodic_cap", r.arm_periodic_cap_milli),
            ("arm_lifetime_cap", r.arm_lifetime_cap_milli),
            ("arm_margin", r.arm_margin_milli),
            ("arm_index", r.arm_index_milli),
        ] {
            put(k, v.map(|v| pct(v, 3)).unwrap_or_default());
        }
        put("monthly_taxes", money::input(r.monthly_taxes_cents));
        put("monthly_insurance", money::input(r.monthly_insurance_cents));
        put("monthly_hoa", money::input(r.monthly_hoa_cents));
        put("down_payment", money::input(r.down_payment_cents));
        put("closing_date", r.closing_date.to_string());
        put("first_payment_date", r.first_payment_date.to_string());
        for (n, c) in o.costs.iter().enumerate().take(COST_ROWS) {
            put(&format!("cost_name_{n}"), c.name.clone());
            put(&format!("cost_amount_{n}"), money::input(c.amount_cents));
            if c.is_prepaid_finance_charge {
                put(&format!("cost_pfc_{n}"), "on".into());
            }
        }
        ScenarioForm(m)
    }

    /// The expected version an edit is based on.
    pub fn version(&self) -> Option<i32> {
        self.get("version").trim().parse().ok()
    }

    /// Reads the form: the service's input, or the messages by field.
    pub fn check(&self) -> AppResult<ScenarioInput> {
        let mut e = FieldErrors::new();
        let money_of = |e: &mut FieldErrors, k: &str, required: bool| -> i64 {
            let raw = self.get(k);
            if raw.trim().is_empty() && !required {
                return 0;
            }
            money::parse_amount(raw).unwrap_or_else(|m| {
                e.add(k, format!("{}{}", &m[..1].to_uppercase(), &m[1..]));
                0
            })
        };
        let dec = |e: &mut FieldErrors, k: &str, places: u32, msg: &str| -> Option<i64> {
            let raw = self.get(k);
            if raw.trim().is_empty() {
                return None;
            }
            let v = parse_decimal(raw, places);
            if v.is_none() {
                e.add(k, msg);
            }
            v
        };
        let pct_msg = "Enter a percentage with up to three decimals, e.g. 6.875.";
        let rate = dec(&mut e, "rate", 3, pct_msg);
        if rate.is_none() && e.get("rate").is_none() {
            e.add("rate", pct_msg);
        }
        let points = dec(&mut e, "points", 2, "Enter points with up to two decimals, e.g. 1.25 or -0.5 for a credit.");
        let term_years = self.get("term_years").trim().parse::<u32>().unwrap_or(0);
        let date = |e: &mut FieldErrors, k: &str| {
            NaiveDate::parse_from_str(self.get(k).trim(), "%Y-%m-%d").unwrap_or_else(|_| {
                e.add(k, "Use a date like 2026-03-01.");
                NaiveDate::default()
            })
        };
        let closing_date = date(&mut e, "closing_date");
        let first_payment_date = date(&mut e, "first_payment_date");
        let credit_score = match self.get("credit_score").trim() {
            "" => None,
            s => match s.parse::<i32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    e.add("credit_score", "A credit score is a whole number, 300 to 850.");
                    None
                }
            },
        };
        let bps = |e: &mut FieldErrors, k: &str| {
            dec(e, k, 2, "Enter a percentage with up to two decimals.").unwrap_or(0) as i32
        };
        let (fha_upfront_bps, fha_annual_bps, va_funding_fee_bps) =
            (bps(&mut e, "fha_upfront"), bps(&mut e, "fha_annual"), bps(&mut e, "va_funding_fee"));
        let rate_type = self.get("rate_type").to_string();
        let (arm, index_milli) = if rate_type == "arm" {
            let m = |e: &mut FieldErrors, k: &str| dec(e, k, 3, pct_msg).map(|v| v as i32);
            let ic = m(&mut e, "arm_initial_cap");
            let pc = m(&mut e, "arm_periodic_cap");
            let lc = m(&mut e, "arm_lifetime_cap");
            let mg = m(&mut e, "arm_margin");
            let ix = m(&mut e, "arm_index");
            let years = self.get("arm_initial_years").trim().parse::<u32>().ok();
            let adjust = self.get("arm_adjust_months").trim().parse::<u32>().ok();
            match (years, adjust, ic, pc, lc, mg) {
                (Some(y), Some(a), Some(ic), Some(pc), Some(lc), Some(mg)) => (
                    Some(ArmTerms {
                        initial_months: y * 12,
                        adjust_months: a,
                        initial_cap: ic,
                        periodic_cap: pc,
                        lifetime_cap: lc,
                        margin: mg,
                    }),
                    ix,
                ),
                _ => (None, ix),
            }
        } else {
            (None, None)
        };
        let mut costs = Vec::new();
        for n in 0..COST_ROWS {
            let name = self.get(&format!("cost_name_{n}")).trim().to_string();
            let amount = self.get(&format!("cost_amount_{n}"));
            if name.is_empty() && amount.trim().is_empty() {
                continue;
            }
            match money::parse_amount(amount) {
                Ok(cents) if !name.is_empty() => {
                    costs.push(CostItem { name, cents, prepaid_finance_charge: self.checked(&format!("cost_pfc_{n}")) })
                }
                _ => e.add("costs", format!("Closing cost {}: give it a name and an amount in dollars.", n + 1)),
            }
        }
        let inputs = Inputs {
            program: self.get("program").to_string(),
            rate_type,
            arm,
            index_milli,
            property_value_cents: money_of(&mut e, "property_value", true),
            base_loan_cents: money_of(&mut e, "loan_amount", true),
            rate_milli: rate.unwrap_or(0) as i32,
            term_months: term_years * 12,
            points_bps: points.unwrap_or(0).clamp(-10_000, 10_000) as i32,
            pmi_annual_bps: 0,
            fha_upfront_bps,
            fha_annual_bps,
            va_funding_fee_bps,
            costs,
            monthly_taxes_cents: money_of(&mut e, "monthly_taxes", false),
            monthly_insurance_cents: money_of(&mut e, "monthly_insurance", false),
            monthly_hoa_cents: money_of(&mut e, "monthly_hoa", false),
            down_payment_cents: money_of(&mut e, "down_payment", false),
            closing_date,
            first_payment_date,
        };
        e.into_result()?;
        Ok(ScenarioInput { name: self.get("name").to_string(), credit_score, inputs })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_decimal;

    #[test]
    fn decimals_read_as_people_write_them() {
        assert_eq!(parse_decimal("6.875", 3), Some(6875));
        assert_eq!(parse_decimal("6.5%", 3), Some(6500));
        assert_eq!(parse_decimal("-0.5", 2), Some(-50));
        assert_eq!(parse_decimal("1.25", 2), Some(125));
        assert_eq!(parse_decimal("1.255", 2), None);
        assert_eq!(parse_decimal("abc", 2), None);
        assert_eq!(parse_decimal("", 2), None);
    }
}
