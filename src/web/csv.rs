//! The one rule for CSV exports: a cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
//! `@`, tab or CR — OWASP "CSV injection") is prefixed with `'` so Excel and Sheets show it as text.

use std::borrow::Cow;

pub fn safe_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_cell;

    #[test]
    fn formulas_become_text_and_plain_cells_pass() {
        for bad in ["=cmd()", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(safe_cell(bad), format!("'{bad}"));
        }
        assert_eq!(safe_cell("Maria Lopez"), "Maria Lopez");
        assert_eq!(safe_cell(""), "");
    }
}
