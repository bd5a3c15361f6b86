//! The comparison, pure: pricing-exception outcomes of one group against a reference group among similarly
//! situated loans.
//!
//! Method: a **stratified comparison (Mantel–Haenszel style)**. Requests are put in cells of similar loans
//! (credit band × LTV band × loan amount band × product × channel). In each cell that holds both groups, the
//! difference of the groups' weighted means is taken; the differences are pooled with the cell weight
//! W = nₐ·n_b / (nₐ + n_b) (the Mantel–Haenszel weight, on effective sizes). Each request weighs into a group
//! by its probability of belonging to it: the BISG posterior, or 1/0 where the applicant reported HMDA
//! ethnicity and race. Within a cell, precision uses Kish's effective size (Σw)² / Σw²; the minimum sample
//! uses the expected count of the group's members (Σw), which is never larger.
//!
//! Significance: a two-sided z-test on the pooled difference. A cell's variance is the pooled within-cell
//! variance (under "no difference") times (1/nₐ + 1/n_b); the pooled difference's variance is Σ W²·var / (Σ W)².
//! The 95% confidence interval is the difference ± 1.96 standard errors.
//!
//! A difference is flagged only when both groups have an expected count of at least [`MIN_EFFECTIVE_N`] in
//! the matched cells, p < [`ALPHA`], and the group fares worse than the reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bisg::{Group, Probs};

/// Below this expected count (per group, in the cells that hold both groups) nothing is flagged.
pub const MIN_EFFECTIVE_N: f64 = 30.0;
/// The significance level of a flag.
pub const ALPHA: f64 = 0.05;
/// The normal quantile of a 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// How a request's race and ethnicity were known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceSource {
    /// HMDA ethnicity and race the applicant reported.
    Hmda,
    /// The BISG proxy.
    Bisg,
    /// Neither (no proxy tables loaded): the request weighs in no race comparison.
    Unknown,
}

/// One decided pricing exception, as the analysis reads it (and saves it with the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: Uuid,
    pub filed_on: chrono::NaiveDate,
    pub lo_id: Uuid,
    pub lo: String,
    pub approver_id: Option<Uuid>,
    pub approver: String,
    pub team_id: Option<Uuid>,
    pub team: String,
    /// The cell of similar loans: credit band | LTV band | amount band | product | channel.
    pub cell: String,
    pub granted: bool,
    pub granted_bps: i32,
    pub granted_cents: i64,
    /// Weight in each race and ethnicity group (sums to 1, or 0 when unknown).
    pub race: Probs,
    pub race_source: RaceSource,
    /// "female" or "male" where the applicant reported it.
    pub sex: Option<String>,
}

/// What a comparison measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Share of decided requests granted (approved or countered).
    GrantRate,
    /// Average concession granted, basis points (granted requests).
    AvgBps,
    /// Average concession granted, dollars (granted requests).
    AvgDollars,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::GrantRate, Outcome::AvgBps, Outcome::AvgDollars];
    pub fn label(self) -> &'static str {
        match self {
            Outcome::GrantRate => "Exception rate (granted ÷ decided)",
            Outcome::AvgBps => "Average concession (bps)",
            Outcome::AvgDollars => "Average concession ($)",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::GrantRate => "grant_rate",
            Outcome::AvgBps => "avg_bps",
            Outcome::AvgDollars => "avg_dollars",
        }
    }
    /// The request's value, or None when it does not enter this outcome (a denied request has no concession).
    pub fn value(self, r: &Request) -> Option<f64> {
        match self {
            Outcome::GrantRate => Some(if r.granted { 1.0 } else { 0.0 }),
            Outcome::AvgBps => r.granted.then_some(f64::from(r.granted_bps)),
            Outcome::AvgDollars => r.granted.then_some(r.granted_cents as f64 / 100.0),
        }
    }
}

/// The two sides of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "group")]
pub enum Side {
    Race(Group),
    Sex(Sex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

impl Side {
    /// The request's weight on this side.
    pub fn weight(self, r: &Request) -> f64 {
        match self {
            Side::Race(g) => r.race[g.index()],
            Side::Sex(Sex::Female) => f64::from(u8::from(r.sex.as_deref() == Some("female"))),
            Side::Sex(Sex::Male) => f64::from(u8::from(r.sex.as_deref() == Some("male"))),
        }
    }
    pub fn key(self) -> String {
        match self {
            Side::Race(g) => g.as_str().to_string(),
            Side::Sex(Sex::Female) => "female".into(),
            Side::Sex(Sex::Male) => "male".into(),
        }
    }
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "female" => Some(Side::Sex(Sex::Female)),
            "male" => Some(Side::Sex(Sex::Male)),
            other => Group::parse(other).map(Side::Race),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Side::Race(g) => g.label(),
            Side::Sex(Sex::Female) => "Female (reported)",
            Side::Sex(Sex::Male) => "Male (reported)",
        }
    }
}

/// The comparisons every run makes: each proxied group against non-Hispanic White, and reported sex.
pub const COMPARISONS: [(Side, Side); 6] = [
    (Side::Race(Group::Black), Side::Race(Group::White)),
    (Side::Race(Group::Hispanic), Side::Race(Group::White)),
    (Side::Race(Group::Api), Side::Race(Group::White)),
    (Side::Race(Group::Native), Side::Race(Group::White)),
    (Side::Race(Group::Multiple), Side::Race(Group::White)),
    (Side::Sex(Sex::Female), Side::Sex(Sex::Male)),
];

/// One comparison's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The scope's key ("all", or an LO's, approver's or team's id) and label.
    pub scope: String,
    pub scope_label: String,
    pub group: Side,
    pub reference: Side,
    pub outcome: Outcome,
    /// Expected counts (Σ of weights) in the matched cells (cells holding both sides).
    pub n_group: f64,
    pub n_reference: f64,
    /// Requests entering the comparison (any weight on either side, in a matched cell).
    pub requests: usize,
    pub cells: usize,
    /// Weighted means over every request of the scope (not adjusted).
    pub raw_group: Option<f64>,
    pub raw_reference: Option<f64>,
    /// The pooled within-cell difference (group − reference), its 95% interval and two-sided p-value.
    pub difference: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub flagged: bool,
    /// Why nothing was flagged, when the sample is too small to say.
    pub note: String,
}

/// Kish's effective size of a set of weights.
pub fn effective_n(weights: impl Iterator<Item = f64>) -> f64 {
    let (sum, sq) = weights.fold((0.0, 0.0), |(s, q), w| (s + w, q + w * w));
    if sq > 0.0 { sum * sum / sq } else { 0.0 }
}

/// The weighted mean of `values` (value, weight), or None when the weights sum to zero.
fn weighted_mean(values: &[(f64, f64)]) -> Option<f64> {
    let w: f64 = values.iter().map(|(_, w)| w).sum();
    (w > 0.0).then(|| values.iter().map(|(v, w)| v * w).sum::<f64>() / w)
}

/// The stratified comparison of `group` against `reference` on `outcome` over `requests` (one scope).
pub fn compare(requests: &[&Request], group: Side, reference: Side, outcome: Outcome) -> Comparison {
    let mut cells: BTreeMap<&str, Vec<(f64, f64, f64)>> = BTreeMap::new();
    let (mut raw_g, mut raw_r) = (Vec::new(), Vec::new());
    for r in requests {
        let Some(y) = outcome.value(r) else { continue };
        let (wg, wr) = (group.weight(r), reference.weight(r));
        if wg + wr <= 0.0 {
            continue;
        }
        raw_g.push((y, wg));
        raw_r.push((y, wr));
        cells.entry(r.cell.as_str()).or_default().push((y, wg, wr));
    }
    let (mut sum_w, mut sum_wd, mut sum_w2v) = (0.0, 0.0, 0.0);
    let (mut used_g, mut used_r, mut used) = (Vec::new(), Vec::new(), 0usize);
    let mut matched_cells = 0;
    for members in cells.values() {
        let g: Vec<(f64, f64)> = members.iter().map(|(y, wg, _)| (*y, *wg)).collect();
        let r: Vec<(f64, f64)> = members.iter().map(|(y, _, wr)| (*y, *wr)).collect();
        let (Some(mg), Some(mr)) = (weighted_mean(&g), weighted_mean(&r)) else { continue };
        let ng = effective_n(g.iter().map(|(_, w)| *w));
        let nr = effective_n(r.iter().map(|(_, w)| *w));
        // The pooled within-cell variance, with the small-sample correction n / (n − 1).
        let both: Vec<(f64, f64)> = members.iter().map(|(y, wg, wr)| (*y, wg + wr)).collect();
        let mu = weighted_mean(&both).unwrap_or(0.0);
        let total: f64 = both.iter().map(|(_, w)| w).sum();
        let mut s2 = both.iter().map(|(y, w)| w * (y - mu).powi(2)).sum::<f64>() / total;
        let n_cell = effective_n(both.iter().map(|(_, w)| *w));
        if n_cell > 1.0 {
            s2 *= n_cell / (n_cell - 1.0);
        }
        let w = ng * nr / (ng + nr);
        sum_w += w;
        sum_wd += w * (mg - mr);
        sum_w2v += w * w * s2 * (1.0 / ng + 1.0 / nr);
        used_g.extend(g.iter().map(|(_, w)| *w));
        used_r.extend(r.iter().map(|(_, w)| *w));
        used += members.len();
        matched_cells += 1;
    }
    // The expected number of each group's members in the matched cells (Σ of probabilities): never more than
    // Kish's effective size, and what a minimum cell size must mean when weights are probabilities (a hundred
    // requests at 4% each are four people, not a hundred).
    let n_group: f64 = used_g.iter().sum();
    let n_reference: f64 = used_r.iter().sum();
    let difference = (sum_w > 0.0).then(|| sum_wd / sum_w);
    let se = (sum_w > 0.0).then(|| sum_w2v.sqrt() / sum_w);
    let (ci_low, ci_high, p_value) = match (difference, se) {
        (Some(d), Some(se)) if se > 0.0 => (Some(d - Z95 * se), Some(d + Z95 * se), Some(two_sided_p(d / se))),
        (Some(d), Some(_)) => (Some(d), Some(d), Some(if d.abs() < 1e-12 { 1.0 } else { 0.0 })),
        _ => (None, None, None),
    };
    let big_enough = n_group >= MIN_EFFECTIVE_N && n_reference >= MIN_EFFECTIVE_N;
    let adverse = difference.is_some_and(|d| d < 0.0);
    let significant = p_value.is_some_and(|p| p < ALPHA);
    let note = if difference.is_none() {
        "no cell holds both groups".to_string()
    } else if !big_enough {
        format!("too few to test: under {MIN_EFFECTIVE_N} expected in the matched cells")
    } else {
        String::new()
    };
    Comparison {
        scope: String::new(),
        scope_label: String::new(),
        group,
        reference,
        outcome,
        n_group,
        n_reference,
        requests: used,
        cells: matched_cells,
        raw_group: weighted_mean(&raw_g),
        raw_reference: weighted_mean(&raw_r),
        difference,
        ci_low,
        ci_high,
        p_value,
        flagged: big_enough && adverse && significant,
        note,
    }
}

/// How a run splits the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    Overall,
    Lo,
    Approver,
    Team,
}

impl Grouping {
    pub const ALL: [Grouping; 4] = [Grouping::Overall, Grouping::Lo, Grouping::Approver, Grouping::Team];
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Overall => "overall",
            Grouping::Lo => "lo",
            Grouping::Approver => "approver",
            Grouping::Team => "team",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Grouping::Overall => "All requests",
            Grouping::Lo => "Per loan officer",
            Grouping::Approver => "Per approver",
            Grouping::Team => "Per branch",
        }
    }
    pub fn parse(s: &str) -> Option<Grouping> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
    /// The request's scope (key, label) under this grouping.
    pub fn scope_of(self, r: &Request) -> (String, String) {
        let key = |id: Option<Uuid>| id.map_or_else(|| "none".to_string(), |i| i.to_string());
        match self {
            Grouping::Overall => ("all".into(), "All requests".into()),
            Grouping::Lo => (r.lo_id.to_string(), r.lo.clone()),
            Grouping::Approver => (key(r.approver_id), r.approver.clone()),
            Grouping::Team => (key(r.team_id), r.team.clone()),
        }
    }
}

/// Every comparison of a run: the whole set first, then each scope of the grouping.
pub fn analyse(requests: &[Request], grouping: Grouping) -> Vec<Comparison> {
    let mut scopes: BTreeMap<(String, String), Vec<&Request>> = BTreeMap::new();
    let all: Vec<&Request> = requests.iter().collect();
    if grouping != Grouping::Overall {
        for r in requests {
            let (key, label) = grouping.scope_of(r);
            scopes.entry((label, key)).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    let mut run = |key: &str, label: &str, members: &[&Request]| {
        for (group, reference) in COMPARISONS {
            for outcome in Outcome::ALL {
                let mut c = compare(members, group, reference, outcome);
                c.scope = key.to_string();
                c.scope_label = label.to_string();
                out.push(c);
            }
        }
    };
    run("all", "All requests", &all);
    for ((label, key), members) in &scopes {
        run(key, label, members);
    }
    out
}

/// The requests of `scope` ("all" or a grouping key) that weigh on `side`, heaviest first.
pub fn requests_behind<'a>(requests: &'a [Request], grouping: Grouping, scope: &str, side: Side) -> Vec<&'a Request> {
    let mut out: Vec<&Request> = requests
        .iter()
        .filter(|r| scope == "all" || grouping.scope_of(r).0 == scope)
        .filter(|r| side.weight(r) > 0.0)
        .collect();
    out.sort_by(|a, b| side.weight(b).total_cmp(&side.weight(a)).then(a.filed_on.cmp(&b.filed_on)));
    out
}

/// P(|Z| ≥ |z|) for a standard normal Z.
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit; relative error under 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
