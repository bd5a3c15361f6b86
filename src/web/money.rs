//! Money as people read and type it, written once for every capability: integer cents in and out, dollars
//! with thousands separators on the page, no floats anywhere.

/// "1234567" → "1,234,567".
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn sign(cents: i64) -> &'static str {
    if cents < 0 { "-" } else { "" }
}

/// "$1,995.91": an amount to the cent (payments, concessions, balances).
pub fn cents(cents: i64) -> String {
    let c = cents.unsigned_abs();
    format!("{}${}.{:02}", sign(cents), grouped(&(c / 100).to_string()), c % 100)
}

/// "$400,000" or "$400,000.50": an amount as a person typed it, cents only when there are any.
pub fn amount(cents: i64) -> String {
    let c = cents.unsigned_abs();
    let whole = grouped(&(c / 100).to_string());
    if c % 100 == 0 { format!("{}${whole}", sign(cents)) } else { format!("{}${whole}.{:02}", sign(cents), c % 100) }
}

/// "$1,234": whole dollars, half a dollar rounded up (report figures, where cents would be fake precision).
pub fn dollars(cents: i64) -> String {
    let whole = (cents.unsigned_abs() + 50) / 100;
    format!("{}${}", sign(cents), grouped(&whole.to_string()))
}

/// "4500.00": a form field's value.
pub fn input(cents: i64) -> String {
    format!("{}{}.{:02}", sign(cents), cents.unsigned_abs() / 100, cents.unsigned_abs() % 100)
}

/// Dollars as a person types them ("$4,500", "4500.5", "4,500.50", "400 000") to cents, or why not.
pub fn parse_amount(raw: &str) -> Result<i64, &'static str> {
    let s: String = raw.trim().trim_start_matches('$').chars().filter(|c| *c != ',' && *c != ' ').collect();
    if s.is_empty() {
        return Err("enter an amount");
    }
    if s.starts_with('-') {
        return Err("the amount cannot be negative");
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s.as_str(), ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 2 {
        return Err("enter an amount in dollars, like 400,000 or 400000.00");
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| "the amount is too large")? };
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole.checked_mul(100).and_then(|d| d.checked_add(frac)).ok_or("the amount is too large")
}

/// [`parse_amount`] where only the amount matters: None for anything that is not one.
pub fn parse(raw: &str) -> Option<i64> {
    parse_amount(raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(cents(199_591), "$1,995.91");
        assert_eq!(cents(-5), "-$0.05");
        assert_eq!(amount(40_000_000), "$400,000");
        assert_eq!(amount(40_000_050), "$400,000.50");
        assert_eq!(dollars(123_449), "$1,234");
        assert_eq!(dollars(123_450), "$1,235");
        assert_eq!(dollars(-123_450), "-$1,235");
        assert_eq!(dollars(0), "$0");
        assert_eq!(input(450_000), "4500.00");
        assert_eq!(input(-7), "-0.07");
        assert_eq!(cents(i64::MIN), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn parses_without_floats() {
        for (typed, want) in [
            ("$4,500", 450_000),
            ("4500.5", 450_050),
            ("4,500.50", 450_050),
            ("400 000", 40_000_000),
            (".5", 50),
            ("0.01", 1),
        ] {
            assert_eq!(parse(typed), Some(want), "{typed}");
        }
        assert_eq!(parse_amount(""), Err("enter an amount"));
        assert_eq!(parse_amount("-5"), Err("the amount cannot be negative"));
        for bad in ["4.505", "12a", ".", "1.2.3", "99999999999999999999"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
