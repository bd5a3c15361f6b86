//! The metric definitions that need no database: funnel conversion with Wilson intervals, percentiles from
//! the speed-to-lead histogram, talk-time vs conversion flags, ROI arithmetic in cents, CSV cell safety and
//! the server-rendered SVG charts. The SQL side (which facts count) lives in migration 0007.

use serde::Serialize;

/// The won path, in order: a lead "reached" stage k when its furthest won-path stage is k or later.
pub const WON_PATH: [(&str, &str); 8] = [
    ("new", "New"),
    ("contacted", "Contacted"),
    ("prequalified", "Prequalified"),
    ("application", "Application"),
    ("processing", "Processing"),
    ("underwriting", "Underwriting"),
    ("clear_to_close", "Clear to close"),
    ("funded", "Funded"),
];

/// Index of the application stage in [`WON_PATH`].
pub const APPLICATION: usize = 3;
/// Index of the funded stage in [`WON_PATH`].
pub const FUNDED: usize = 7;

/// Upper bounds (seconds) of the speed-to-lead buckets; the last bucket is "longer".
pub const LATENCY_EDGES: [i64; 8] = [60, 120, 300, 600, 1800, 3600, 14_400, 86_400];
/// Buckets at or under five minutes (the "within 5 minutes" share).
pub const WITHIN_5_MIN_BUCKETS: usize = 3;

pub fn stage_label(key: &str) -> &str {
    WON_PATH.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or(key)
}

/// Sums of one slice of the rollups (a cohort): the same fields as the SQL measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Cohort size (leads, assignments, losses or open leads, by kind).
    pub n: i64,
    /// reached[k]: cohort members whose furthest won-path stage is k or later.
    pub reached: [i64; 8],
    pub called: i64,
    pub called_twice: i64,
    pub contacted: i64,
    pub attempts: i64,
    /// Call attempts up to and including the first contact, summed over contacted leads.
    pub attempts_to_contact: i64,
    pub talk_seconds: i64,
    /// Funded loan amounts (or open loan amounts for the pipeline).
    pub volume_cents: i64,
    pub cost_cents: i64,
    /// First-call latency histogram over [`LATENCY_EDGES`].
    pub latency: [i64; 9],
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.n += o.n;
        for k in 0..8 {
            self.reached[k] += o.reached[k];
        }
        self.called += o.called;
        self.called_twice += o.called_twice;
        self.contacted += o.contacted;
        self.attempts += o.attempts;
        self.attempts_to_contact += o.attempts_to_contact;
        self.talk_seconds += o.talk_seconds;
        self.volume_cents += o.volume_cents;
        self.cost_cents += o.cost_cents;
        for k in 0..9 {
            self.latency[k] += o.latency[k];
        }
    }

    pub fn funded(&self) -> i64 {
        self.reached[FUNDED]
    }
    pub fn applications(&self) -> i64 {
        self.reached[APPLICATION]
    }
    /// Share of the cohort with a `contacted` call outcome, percent.
    pub fn contact_rate(&self) -> Option<f64> {
        percent(self.contacted, self.n)
    }
    /// Average attempts up to the first contact, among contacted leads.
    pub fn attempts_before_contact(&self) -> Option<f64> {
        (self.contacted > 0).then(|| round1(self.attempts_to_contact as f64 / self.contacted as f64))
    }
    /// Share of the cohort never called twice (0 or 1 attempts), percent.
    pub fn never_called_twice_rate(&self) -> Option<f64> {
        percent(self.n - self.called_twice, self.n)
    }
    pub fn talk_per_lead(&self) -> Option<i64> {
        (self.n > 0).then(|| div_round(self.talk_seconds, self.n))
    }
    pub fn talk_per_funded(&self) -> Option<i64> {
        (self.funded() > 0).then(|| div_round(self.talk_seconds, self.funded()))
    }
    /// Share of the cohort whose first call came within 5 minutes of assignment, percent.
    pub fn within_5_min_rate(&self) -> Option<f64> {
        let fast: i64 = self.latency[..WITHIN_5_MIN_BUCKETS].iter().sum();
        percent(fast, self.n)
    }
    pub fn speed_median(&self) -> Option<usize> {
        histogram_quantile(&self.latency, 0.5)
    }
    pub fn speed_p90(&self) -> Option<usize> {
        histogram_quantile(&self.latency, 0.9)
    }
    pub fn funnel(&self) -> Vec<FunnelStep> {
        funnel(self.n, &self.reached)
    }
}

/// `num / den` as a percent rounded to one decimal, or None when `den` is 0.
pub fn percent(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| round1(100.0 * num as f64 / den as f64))
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Integer division rounding half away from zero (non-negative inputs).
pub fn div_round(num: i64, den: i64) -> i64 {
    div_round128(num as i128, den as i128)
}

/// [`div_round`] in i128, for products that outgrow i64 (spend × 10,000 over volume).
fn div_round128(num: i128, den: i128) -> i64 {
    if den == 0 {
        return 0;
    }
    (num * 2 + den).div_euclid(den * 2) as i64
}

/// Wilson score interval at 95% for `k` successes out of `n`, in percent (one decimal).
pub fn wilson(k: i64, n: i64) -> Option<(f64, f64)> {
    if n <= 0 || k < 0 || k > n {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some((round1(100.0 * (centre - half).max(0.0)), round1(100.0 * (centre + half).min(1.0))))
}

/// One won-path stage of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelStep {
    pub stage: &'static str,
    pub label: &'static str,
    pub reached: i64,
    /// reached / reached at the previous stage (the cohort for the first stage), percent.
    pub step_rate: Option<f64>,
    pub step_interval: Option<(f64, f64)>,
    /// reached / cohort, percent.
    pub cumulative_rate: Option<f64>,
    pub cumulative_interval: Option<(f64, f64)>,
}

pub fn funnel(cohort: i64, reached: &[i64; 8]) -> Vec<FunnelStep> {
    let mut prev = cohort;
    WON_PATH
        .iter()
        .zip(reached.iter())
        .map(|((stage, label), &r)| {
            let step = FunnelStep {
                stage,
                label,
                reached: r,
                step_rate: percent(r, prev),
                step_interval: wilson(r, prev),
                cumulative_rate: percent(r, cohort),
                cumulative_interval: wilson(r, cohort),
            };
            prev = r;
            step
        })
        .collect()
}

/// The bucket holding the `q` quantile (nearest rank) of a histogram, or None when it is empty.
pub fn histogram_quantile(hist: &[i64; 9], q: f64) -> Option<usize> {
    let total: i64 = hist.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (i, c) in hist.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(i);
        }
    }
    Some(hist.len() - 1)
}

/// "≤ 5 min" style label of a latency bucket.
pub fn latency_label(bucket: Option<usize>) -> String {
    match bucket {
        None => "—".into(),
        Some(i) if i < LATENCY_EDGES.len() => {
            let s = LATENCY_EDGES[i];
            if s < 3600 { format!("≤ {} min", s / 60) } else { format!("≤ {} h", s / 3600) }
        }
        Some(_) => "> 24 h".into(),
    }
}

/// Which latency bucket `seconds` falls in (same edges as `metrics_latency_bucket` in SQL).
pub fn latency_bucket(seconds: f64) -> usize {
    LATENCY_EDGES.iter().position(|&e| seconds <= e as f64).unwrap_or(LATENCY_EDGES.len())
}

/// Median of a list (mean of the two middle values for even lengths).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Talk-time vs conversion: flags the LOs who talk more than the team median but convert below it.
/// Each entry is (talk seconds per lead, conversion percent); LOs without a figure are never flagged.
pub fn talk_time_flags(rows: &[(Option<f64>, Option<f64>)]) -> Vec<bool> {
    let talks: Vec<f64> = rows.iter().filter_map(|r| r.0).collect();
    let convs: Vec<f64> = rows.iter().filter_map(|r| r.1).collect();
    let (Some(mt), Some(mc)) = (median(&talks), median(&convs)) else {
        return vec![false; rows.len()];
    };
    rows.iter().map(|r| matches!(r, (Some(t), Some(c)) if *t > mt && *c < mc)).collect()
}

/// Return on a lead source or campaign.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Roi {
    pub spend_cents: i64,
    pub leads: i64,
    pub contact_rate: Option<f64>,
    /// Leads reached by phone (the contact rate's numerator; cost per contact divides by it).
    pub contacts: i64,
    pub applications: i64,
    pub funded: i64,
    pub funded_volume_cents: i64,
    /// Spend / funded loans, rounded to the cent.
    pub cost_per_funded_cents: Option<i64>,
    /// Funded / applications, percent.
    pub pull_through: Option<f64>,
    /// Spend / leads.
    pub cost_per_lead_cents: Option<i64>,
    /// Spend / contacted leads.
    pub cost_per_contact_cents: Option<i64>,
    /// Spend / applications.
    pub cost_per_application_cents: Option<i64>,
    /// Spend / funded volume, in basis points of the volume (100 bps = 1%: "marketing cost 35 bps").
    pub cost_per_funded_volume_bps: Option<i64>,
}

pub fn roi(t: &Tally, spend_cents: i64) -> Roi {
    Roi {
        spend_cents,
        leads: t.n,
        contact_rate: t.contact_rate(),
        contacts: t.contacted,
        applications: t.applications(),
        funded: t.funded(),
        funded_volume_cents: t.volume_cents,
        cost_per_funded_cents: (t.funded() > 0).then(|| div_round(spend_cents, t.funded())),
        pull_through: percent(t.funded(), t.applications()),
        cost_per_lead_cents: (t.n > 0).then(|| div_round(spend_cents, t.n)),
        cost_per_contact_cents: (t.contacted > 0).then(|| div_round(spend_cents, t.contacted)),
        cost_per_application_cents: (t.applications() > 0).then(|| div_round(spend_cents, t.applications())),
        cost_per_funded_volume_bps: cost_per_funded_volume_bps(spend_cents, t.volume_cents),
    }
}

/// Cost ÷ funded volume in basis points of the volume (100 bps = 1%), the one unit for "cost per funded
/// volume" wherever it is shown (source and campaign ROI, an LO's cost); None without funded volume.
pub fn cost_per_funded_volume_bps(cost_cents: i64, volume_cents: i64) -> Option<i64> {
    (volume_cents > 0).then(|| div_round128(cost_cents as i128 * 10_000, volume_cents as i128))
}

/// Expected funded volume of the open pipeline: each open stage's volume times that stage's historical
/// stage-to-funded rate (reached funded / reached the stage), in cents.
pub fn expected_funded_cents(open_volume: &[i64; 8], history: &Tally) -> i64 {
    (0..FUNDED)
        .map(|k| {
            if history.reached[k] == 0 {
                0
            } else {
                ((open_volume[k] as i128 * history.reached[FUNDED] as i128) / history.reached[k] as i128) as i64
            }
        })
        .sum()
}

/// Spreadsheet-safe CSV cell: a leading = + - @ tab or CR is neutralised with a quote.
pub fn csv_cell(s: &str) -> String {
    crate::web::csv::safe_cell(s).into_owned()
}

/// "$1,234" from cents (the one implementation: `web::money`).
pub use crate::web::money::dollars;

/// A sparkline polyline as inline SVG (numbers only; no user text).
pub fn sparkline_svg(values: &[i64], label: &str) -> String {
    let w = 80.0;
    let h = 20.0;
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 { w / (values.len() - 1) as f64 } else { 0.0 };
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, h - 1.0 - (*v as f64 / max) * (h - 2.0)))
        .collect();
    format!(
        r#"<svg class="sparkline" width="80" height="20" viewBox="0 0 80 20" role="img" aria-label="{}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>"#,
        escape_attr(label),
        pts.join(" ")
    )
}

/// The funnel as a horizontal bar chart (SVG): static stage labels and numbers only.
pub fn funnel_svg(steps: &[FunnelStep], cohort: i64) -> String {
    let row = 26.0;
    let width = 520.0;
    let bar_x = 120.0;
    let max_w = width - bar_x - 90.0;
    let mut s = format!(
        r#"<svg class="chart funnel-chart" width="{width}" height="{}" viewBox="0 0 {width} {}" role="img" aria-labelledby="funnel-title"><title id="funnel-title">Team funnel: leads reaching each stage</title>"#,
        row * steps.len() as f64 + 4.0,
        row * steps.len() as f64 + 4.0
    );
    for (i, st) in steps.iter().enumerate() {
        let y = i as f64 * row + 2.0;
        let frac = if cohort > 0 { st.reached as f64 / cohort as f64 } else { 0.0 };
        let w = (frac * max_w).max(1.0);
        s.push_str(&format!(
            r#"<text x="0" y="{:.1}" font-size="12">{}</text><rect x="{bar_x}" y="{y:.1}" width="{w:.1}" height="{:.1}" class="bar"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            y + 16.0,
            st.label,
            row - 6.0,
            bar_x + w + 6.0,
            y + 16.0,
            st.reached
        ));
    }
    s.push_str("</svg>");
    s
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wilson_matches_hand_computation() {
        // 5 of 10: centre (0.5 + 0.19207)/1.38415 = 0.5, half = 1.96*sqrt(0.025+0.009604)/1.38415 = 0.2634.
        assert_eq!(wilson(5, 10), Some((23.7, 76.3)));
        assert_eq!(wilson(0, 10), Some((0.0, 27.8)));
        assert_eq!(wilson(10, 10), Some((72.2, 100.0)));
        assert_eq!(wilson(1, 0), None);
    }

    #[test]
    fn funnel_steps_and_cumulative() {
        let f = funnel(10, &[10, 6, 4, 3, 3, 2, 2, 1]);
        assert_eq!(f[1].step_rate, Some(60.0));
        assert_eq!(f[3].step_rate, Some(75.0));
        assert_eq!(f[3].cumulative_rate, Some(30.0));
        assert_eq!(f[7].cumulative_rate, Some(10.0));
        assert_eq!(f[7].step_rate, Some(50.0));
    }

    #[test]
    fn histogram_quantiles_use_nearest_rank() {
        // 4 leads: 2 in ≤1 min, 1 in ≤5 min, 1 in ≤1 h.
        let h = [2, 0, 1, 0, 0, 1, 0, 0, 0];
        assert_eq!(histogram_quantile(&h, 0.5), Some(0));
        assert_eq!(histogram_quantile(&h, 0.9), Some(5));
        assert_eq!(histogram_quantile(&[0; 9], 0.5), None);
        assert_eq!(latency_label(Some(2)), "≤ 5 min");
        assert_eq!(latency_label(Some(8)), "> 24 h");
        assert_eq!(latency_bucket(300.0), 2);
        assert_eq!(latency_bucket(301.0), 3);
    }

    #[test]
    fn talk_flags_against_the_median() {
        let rows = [(Some(100.0), Some(10.0)), (Some(300.0), Some(5.0)), (Some(200.0), Some(20.0)), (None, Some(1.0))];
        // talk median 200, conversion median 7.5 (of 10, 5, 20, 1).
        assert_eq!(talk_time_flags(&rows), vec![false, true, false, false]);
    }

    #[test]
    fn roi_in_cents() {
        let t = Tally {
            n: 3,
            contacted: 2,
            reached: [3, 2, 2, 2, 1, 1, 1, 1],
            volume_cents: 30_000_000,
            ..Tally::default()
        };
        let r = roi(&t, 10_000);
        assert_eq!(r.cost_per_funded_cents, Some(10_000));
        assert_eq!(r.cost_per_lead_cents, Some(3_333));
        assert_eq!(r.pull_through, Some(50.0));
        assert_eq!(r.contact_rate, Some(66.7));
        assert_eq!(dollars(123_456_789), "$1,234,568");
    }

    #[test]
    fn csv_cells_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@a"), "'@a");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("Smith"), "Smith");
    }

    fn tally_from(maxpos: &[usize]) -> Tally {
        let mut t = Tally::default();
        for &p in maxpos {
            let mut one = Tally { n: 1, ..Tally::default() };
            for k in 0..p.min(8) {
                one.reached[k] = 1;
            }
            t.add(&one);
        }
        t
    }

    /// One lead's facts as the rollups see them.
    #[derive(Debug, Clone)]
    struct LeadFacts {
        maxpos: usize,
        attempts: i64,
        /// The attempt that first reached the borrower, if any.
        contacted_on: Option<i64>,
        talk_seconds: i64,
        volume_cents: i64,
        cost_cents: i64,
        latency_bucket: usize,
    }

    impl LeadFacts {
        fn tally(&self) -> Tally {
            let mut t = Tally {
                n: 1,
                called: (self.attempts >= 1) as i64,
                called_twice: (self.attempts >= 2) as i64,
                contacted: self.contacted_on.is_some() as i64,
                attempts: self.attempts,
                attempts_to_contact: self.contacted_on.unwrap_or(0),
                talk_seconds: self.talk_seconds,
                volume_cents: self.volume_cents,
                cost_cents: self.cost_cents,
                ..Tally::default()
            };
            for k in 0..self.maxpos {
                t.reached[k] = 1;
            }
            if self.attempts >= 1 {
                t.latency[self.latency_bucket] = 1;
            }
            t
        }
    }

    fn lead_facts() -> impl Strategy<Value = LeadFacts> {
        (1usize..=8, 0i64..6, 0i64..6, 0i64..3_600, 0i64..100_000_000, 0i64..50_000, 0usize..9).prop_map(
            |(maxpos, attempts, first_contact, talk_seconds, volume_cents, cost_cents, latency_bucket)| LeadFacts {
                maxpos,
                attempts,
                contacted_on: (first_contact >= 1 && first_contact <= attempts).then_some(first_contact),
                talk_seconds,
                volume_cents,
                cost_cents,
                latency_bucket,
            },
        )
    }

    proptest! {
        #[test]
        fn funnel_is_monotone(maxpos in proptest::collection::vec(1usize..=8, 0..200)) {
            let t = tally_from(&maxpos);
            let f = t.funnel();
            prop_assert_eq!(f[0].reached, t.n);
            for w in f.windows(2) {
                prop_assert!(w[1].reached <= w[0].reached);
                if let (Some(a), Some(b)) = (w[0].cumulative_rate, w[1].cumulative_rate) {
                    prop_assert!(b <= a);
                }
                if let Some((lo, hi)) = w[1].cumulative_interval {
                    prop_assert!(lo <= hi);
                    let rate = w[1].cumulative_rate.unwrap_or(0.0);
                    prop_assert!(lo <= rate + 0.1 && rate <= hi + 0.1);
                }
            }
        }

        #[test]
        fn rollups_add_up(days in proptest::collection::vec(proptest::collection::vec(lead_facts(), 0..30), 1..10)) {
            // Per-lead tallies summed into per-day rollups, then the days summed (the rollup arithmetic), equal
            // every figure counted straight from the leads, field by field, without `Tally::add`.
            let mut sum = Tally::default();
            for day in &days {
                let mut d = Tally::default();
                for l in day { d.add(&l.tally()); }
                sum.add(&d);
            }
            let all: Vec<&LeadFacts> = days.iter().flatten().collect();
            let count = |f: &dyn Fn(&LeadFacts) -> bool| all.iter().filter(|l| f(l)).count() as i64;
            let total = |f: &dyn Fn(&LeadFacts) -> i64| all.iter().map(|l| f(l)).sum::<i64>();
            prop_assert_eq!(sum.n, all.len() as i64);
            for k in 0..8 {
                prop_assert_eq!(sum.reached[k], count(&|l| l.maxpos > k));
            }
            prop_assert_eq!(sum.called, count(&|l| l.attempts >= 1));
            prop_assert_eq!(sum.called_twice, count(&|l| l.attempts >= 2));
            prop_assert_eq!(sum.contacted, count(&|l| l.contacted_on.is_some()));
            prop_assert_eq!(sum.attempts, total(&|l| l.attempts));
            prop_assert_eq!(sum.attempts_to_contact, total(&|l| l.contacted_on.unwrap_or(0)));
            prop_assert_eq!(sum.talk_seconds, total(&|l| l.talk_seconds));
            prop_assert_eq!(sum.volume_cents, total(&|l| l.volume_cents));
            prop_assert_eq!(sum.cost_cents, total(&|l| l.cost_cents));
            for b in 0..9 {
                prop_assert_eq!(sum.latency[b], count(&|l| l.attempts >= 1 && l.latency_bucket == b));
            }
        }

        #[test]
        fn cost_per_funded_is_spend_over_funded(spend in 0i64..10_000_000_000, funded in 1i64..10_000) {
            let t = Tally { n: funded, reached: [funded; 8], ..Tally::default() };
            let c = roi(&t, spend).cost_per_funded_cents.unwrap_or(-1);
            prop_assert!((c * funded - spend).abs() <= funded / 2 + 1);
        }
    }
}
