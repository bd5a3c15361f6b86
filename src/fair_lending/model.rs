//! Pure rules: the cells of similar loans (bands), and the HMDA demographic choices and how a reported
//! ethnicity and race take the place of the proxy.

use super::bisg::{Group, Probs};

/// HMDA ethnicity choices (Regulation C, appendix B, aggregate categories).
pub const ETHNICITIES: [(&str, &str); 3] = [
    ("hispanic", "Hispanic or Latino"),
    ("not_hispanic", "Not Hispanic or Latino"),
    ("not_provided", "I do not wish to provide this information"),
];
/// HMDA race choices.
pub const RACES: [(&str, &str); 7] = [
    ("american_indian_alaska_native", "American Indian or Alaska Native"),
    ("asian", "Asian"),
    ("black", "Black or African American"),
    ("native_hawaiian_pacific_islander", "Native Hawaiian or Other Pacific Islander"),
    ("white", "White"),
    ("two_or_more", "Two or more races"),
    ("not_provided", "I do not wish to provide this information"),
];
/// HMDA sex choices.
pub const SEXES: [(&str, &str); 3] =
    [("female", "Female"), ("male", "Male"), ("not_provided", "I do not wish to provide this information")];
/// How the information was taken.
pub const METHODS: [(&str, &str); 3] = [
    ("face_to_face", "Face-to-face interview"),
    ("telephone", "Telephone interview"),
    ("mail_or_internet", "Mail, fax or internet"),
];

pub fn label_of(choices: &[(&'static str, &'static str)], key: &str) -> &'static str {
    choices.iter().find(|(k, _)| *k == key).map_or("—", |(_, l)| *l)
}

/// The group of a reported ethnicity and race, in the Census (BISG) categories: Hispanic of any race, else the
/// race. None when either was not provided (the proxy is used then).
pub fn reported_group(ethnicity: &str, race: &str) -> Option<Group> {
    match (ethnicity, race) {
        ("not_provided", _) | (_, "not_provided") => None,
        ("hispanic", _) => Some(Group::Hispanic),
        (_, "white") => Some(Group::White),
        (_, "black") => Some(Group::Black),
        (_, "asian" | "native_hawaiian_pacific_islander") => Some(Group::Api),
        (_, "american_indian_alaska_native") => Some(Group::Native),
        (_, "two_or_more") => Some(Group::Multiple),
        _ => None,
    }
}

/// A certain group as weights.
pub fn one_hot(g: Group) -> Probs {
    let mut p = [0.0; 6];
    p[g.index()] = 1.0;
    p
}

/// Loan-to-value bands (loan amount ÷ property value).
pub fn ltv_band(amount_cents: Option<i64>, value_cents: Option<i64>) -> &'static str {
    match (amount_cents, value_cents) {
        (Some(a), Some(v)) if v > 0 => {
            let ltv = a as f64 * 100.0 / v as f64;
            if ltv <= 80.0 {
                "LTV ≤80%"
            } else if ltv <= 90.0 {
                "LTV 80–90%"
            } else if ltv <= 95.0 {
                "LTV 90–95%"
            } else {
                "LTV >95%"
            }
        }
        _ => "LTV unknown",
    }
}

/// Loan amount bands (the same as the escalation reports').
pub fn amount_band(cents: Option<i64>) -> &'static str {
    match cents {
        None => "amount unknown",
        Some(c) if c < 20_000_000 => "under $200k",
        Some(c) if c < 40_000_000 => "$200k–$399k",
        Some(c) if c < 75_000_000 => "$400k–$749k",
        Some(_) => "$750k and over",
    }
}

/// The cell of similar loans: credit band | LTV band | amount band | product | channel.
pub fn cell(
    credit: Option<&str>,
    amount_cents: Option<i64>,
    value_cents: Option<i64>,
    product: Option<&str>,
    channel: Option<&str>,
) -> String {
    let known = |v: Option<&str>, what: &str| {
        v.map(str::trim).filter(|s| !s.is_empty()).map_or_else(|| format!("{what} unknown"), |s| s.to_lowercase())
    };
    format!(
        "{} | {} | {} | {} | {}",
        known(credit, "credit"),
        ltv_band(amount_cents, value_cents),
        amount_band(amount_cents),
        known(product, "product"),
        known(channel, "channel")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_ethnicity_and_race_map_to_the_census_groups() {
        assert_eq!(reported_group("hispanic", "white"), Some(Group::Hispanic));
        assert_eq!(reported_group("not_hispanic", "white"), Some(Group::White));
        assert_eq!(reported_group("not_hispanic", "native_hawaiian_pacific_islander"), Some(Group::Api));
        assert_eq!(reported_group("not_hispanic", "two_or_more"), Some(Group::Multiple));
        assert_eq!(reported_group("not_provided", "black"), None, "declined: the proxy is used");
        assert_eq!(reported_group("hispanic", "not_provided"), None);
        assert_eq!(one_hot(Group::Black), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn cells_band_the_loan() {
        assert_eq!(ltv_band(Some(8_000_000), Some(10_000_000)), "LTV ≤80%");
        assert_eq!(ltv_band(Some(8_000_001), Some(10_000_000)), "LTV 80–90%");
        assert_eq!(ltv_band(Some(9_600_000), Some(10_000_000)), "LTV >95%");
        assert_eq!(ltv_band(Some(1), None), "LTV unknown");
        assert_eq!(
            cell(Some("720+"), Some(30_000_000), Some(40_000_000), Some("Purchase"), None),
            "720+ | LTV ≤80% | $200k–$399k | purchase | channel unknown"
        );
    }
}
