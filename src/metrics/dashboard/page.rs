//! The manager's dashboard as one answer (every section for the range and filters), and the LO's own numbers.

use super::*;
use crate::web::format::percent;

/// Week-over-week: the last 7 days of the range against the 7 before.
#[derive(Debug, Clone, Serialize)]
pub struct WowRow {
    pub label: &'static str,
    pub this_week: String,
    pub last_week: String,
    pub change: String,
    /// The leads behind each week's count (none for the contact rate).
    pub this_link: Option<String>,
    pub last_link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoRow {
    pub speed: SpeedRow,
    pub sparkline: String,
    pub links: OfficerLinks,
}

/// The lists behind an LO's figures (or, with no LO, the "All" row's): the assignments in the range and those
/// that reached application or funded, were reached by phone, called within 5 minutes, called at all, called
/// fewer than twice. An average links the records it averages over: speed-to-lead median and p90 `called`,
/// attempts to contact `contact`, talk per lead `assigned`, talk per funded `funded`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OfficerLinks {
    pub assigned: String,
    pub application: String,
    pub funded: String,
    pub contact: String,
    pub within_5_min: String,
    pub called: String,
    pub never_called_twice: String,
}

impl OfficerLinks {
    pub fn new(range: &Range, lo: Option<&str>) -> Self {
        let link = |extra: &[(&'static str, &'static str)]| {
            let mut pairs: Vec<(&str, String)> = vec![("cohort", "assigned".into())];
            pairs.extend(lo.map(|l| ("lo", l.to_string())));
            pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            range.leads_link(&pairs)
        };
        OfficerLinks {
            assigned: link(&[]),
            application: link(&[("stage", "application"), ("reached", "1")]),
            funded: link(&[("stage", "funded"), ("reached", "1")]),
            contact: link(&[("contact", "1")]),
            within_5_min: link(&[("speed", "5m")]),
            called: link(&[("called", "1")]),
            never_called_twice: link(&[("called", "lt2")]),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineRow {
    pub stage: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub volume: String,
    pub volume_cents: i64,
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapacityRow {
    pub lo: String,
    pub open: i64,
    /// The open leads behind `open` (none when the LO filter names someone else: the figure is then 0).
    pub open_link: Option<String>,
    pub capacity: i32,
    pub utilisation_pct: Option<f64>,
    pub cost: String,
    pub funded_volume: String,
    pub cost_per_funded_volume_bps: Option<i64>,
    /// Leads assigned to them per 30 days of the range, their contact rate and whether it meets their team's
    /// target.
    pub leads_per_month: f64,
    pub contact_rate_pct: Option<f64>,
    pub contact_target_pct: i32,
    pub meets_target: Option<bool>,
    /// Their assignments in the range and those that reached funded (what leads a month, contact rate and the
    /// funded volume are over), with the lists behind them (none when the LO filter names someone else).
    pub assigned: i64,
    pub funded: i64,
    pub links: Option<OfficerLinks>,
}

/// How many LOs the lead flow needs: the flow (leads created per 30 days in the range) over the highest
/// monthly load an LO carried while still meeting their contact-rate target (an LO with at least
/// [`HIRING_MIN_LEADS`] assigned leads in the range), rounded up.
#[derive(Debug, Clone, Serialize)]
pub struct Hiring {
    /// The strictest contact-rate target of the teams in view.
    pub target_pct: i32,
    pub lead_flow_per_month: f64,
    pub sustainable_per_lo: Option<f64>,
    pub needed: Option<i64>,
    /// People taking leads in view now.
    pub taking_leads: i64,
}

/// An LO's load counts toward the sustainable load only with at least this many assigned leads in the range.
pub const HIRING_MIN_LEADS: i64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct BandRow {
    pub band: &'static str,
    pub officers: i64,
    pub assigned: i64,
    /// The band's LOs' assigned leads (`lo=a,b,…&cohort=assigned`), and those that reached application and
    /// funded (the rates' numerators); none for an empty band.
    pub assigned_link: Option<String>,
    pub application_link: Option<String>,
    pub funded_link: Option<String>,
    pub application_rate_pct: Option<f64>,
    pub funded_rate_pct: Option<f64>,
}

/// Everything the manager dashboard shows.
pub struct Dashboard {
    pub range: Range,
    pub team: Tally,
    pub funnel: Vec<FunnelStep>,
    pub funnel_links: Vec<String>,
    pub funnel_svg: String,
    pub wow: Vec<WowRow>,
    pub officers: Vec<LoRow>,
    pub speed_total: SpeedRow,
    /// The lists behind the "All" row (every LO's assignments in the viewer's figures).
    pub total_links: OfficerLinks,
    pub lost: Vec<LostRow>,
    pub lost_lo_names: HashMap<String, String>,
    pub roi: Vec<RoiRow>,
    /// ROI of each campaign (leads that name one).
    pub campaign_roi: Vec<RoiRow>,
    pub pipeline: Vec<PipelineRow>,
    pub stale: i64,
    pub stale_capped: bool,
    pub expected_funded: String,
    pub capacity: Vec<CapacityRow>,
    pub hiring: Hiring,
    pub unassigned: i64,
    pub bands: Vec<BandRow>,
    /// Leads given to each LO in the range, in the viewer's figures, with no other filter (the availability
    /// table's "Leads given", whose list is `cohort=assigned` with the range and the LO alone).
    pub given: HashMap<String, i64>,
    pub escalations_waiting: i64,
    /// The leads behind the unassigned and stale tiles.
    pub unassigned_link: String,
    /// The created cohort behind "N in the cohort".
    pub cohort_link: String,
    pub stale_link: String,
    pub as_of: Option<DateTime<Utc>>,
    pub pending: i64,
    pub path: Path,
    pub sort: String,
}

pub(crate) const STALE_CAP: i64 = 1_000;
pub(crate) const FOLD_WHEN_PENDING: i64 = 2_000;

pub(crate) fn change(a: Option<f64>, b: Option<f64>, unit: &str) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:+.1}{unit}", a - b),
        _ => "—".into(),
    }
}

/// Builds the whole dashboard for a manager (their teams) or an admin (everything).
pub async fn dashboard(state: &AppState, user: &CurrentUser, p: &Params) -> AppResult<Dashboard> {
    user.require(&[Role::Admin, Role::Manager, Role::Marketing])?;
    let scope = user.metrics_scope()?;
    let range = p.validate(state.today())?;
    let path = effective_path(state, range.path).await?;
    let db = &state.db;
    let tz = state.config.timezone;
    let f = &range.filters;

    let sql = |e: sqlx::Error| AppError::from(e);
    let dashboards = crate::metrics::cache::dashboards(state);
    // Every rollup figure in one statement (see `store::read_many`), each reading only the sums it shows.
    use store::{ALL, COUNT, FUNNEL, FUNNEL_CONTACT, OPEN, ROI, Read};
    let w = Windows::new(&range, state.today());
    let (wow_by, spark_by) = ([GroupBy::WeekSince(w.wow_from)], [GroupBy::Lo, GroupBy::WeekSince(w.spark_from)]);
    let mut reads = vec![
        Read { kind: Kind::Lead, filters: f, group: &[], measures: ALL, apart: false },
        Read { kind: Kind::Lead, filters: &w.wow, group: &wow_by, measures: FUNNEL_CONTACT, apart: false },
        Read { kind: Kind::Assignment, filters: f, group: &[GroupBy::Lo], measures: ALL, apart: false },
        // The sparklines draw assigned leads only.
        Read { kind: Kind::Assignment, filters: &w.spark, group: &spark_by, measures: COUNT, apart: false },
        Read { kind: Kind::Open, filters: f, group: &[GroupBy::Lo, GroupBy::Detail], measures: OPEN, apart: false },
        Read { kind: Kind::Lost, filters: f, group: &LOST_BY, measures: COUNT, apart: true },
        Read { kind: Kind::Lead, filters: f, group: &ROI_BY, measures: ROI, apart: false },
        Read { kind: Kind::Lead, filters: &w.history, group: &[], measures: FUNNEL, apart: false },
    ];
    // The leads given to each LO (the availability table) count with the range alone: unless other filters are
    // set, that is the per-LO read above.
    let given_read = *f != w.range_only;
    let lo = [GroupBy::Lo];
    reads.extend(given_read.then_some(Read {
        kind: Kind::Assignment,
        filters: &w.range_only,
        group: &lo,
        measures: COUNT,
        apart: false,
    }));
    // The rest reads side by side with it (a cache miss is then about as slow as the slowest read).
    let (figures, profiles, labels, monthly, stale) = tokio::try_join!(
        dashboards.read(async { store::read_many(db, tz, path, &scope, &reads).await.map_err(sql) }),
        dashboards.read(async { store::lo_profiles(db, &scope).await.map_err(sql) }),
        dashboards.read(async { store::labels(db).await.map_err(sql) }),
        dashboards.read(monthly_spend_for(state, &scope, &range)),
        dashboards.read(async { store::stale_leads(db, &scope, state.clock.now(), STALE_CAP).await.map_err(sql) }),
    )?;
    let mut figures = figures;
    let given = if given_read { figures.pop() } else { None };
    let [team, weeks, groups, spark, open_groups, lost_groups, roi_groups, history]: [Vec<store::Group>; 8] =
        figures.try_into().map_err(|_| anyhow::anyhow!("a dashboard read is missing"))?;
    let given: HashMap<String, i64> =
        given.as_ref().unwrap_or(&groups).iter().filter_map(|g| Some((g.key.first()?.clone()?, g.tally.n))).collect();
    let total = |g: Vec<store::Group>| g.into_iter().next().map(|g| g.tally).unwrap_or_default();
    let (team, history) = (total(team), total(history));
    let names = officer_names(state, &[&groups, &open_groups], &lost_groups, &profiles).await?;
    let (lost, lost_lo_names) = lost_from(&range, &lost_groups, &labels, &names);
    let (roi, campaign_roi) = roi_from(&range, &roi_groups, &labels, monthly);

    // Team cohort funnel.
    let funnel = team.funnel();
    let funnel_links =
        funnel.iter().map(|s| range.leads_link(&[("stage", s.stage.to_string()), ("reached", "1".into())])).collect();
    let funnel_svg = model::funnel_svg(&funnel, team.n);

    // Week over week: the last 7 days before `to` against the 7 before that.
    let week = |k: &str| weeks.iter().find(|g| g.key[0].as_deref() == Some(k)).map(|g| g.tally).unwrap_or_default();
    let (last, this) = (week("0"), week("1"));
    let wow = wow_rows(&range, &this, &last);

    // Per-LO table (assignment cohort) with 8-week sparklines of assigned leads.
    let name_of = |key: &str| {
        Uuid::parse_str(key).ok().and_then(|u| names.get(&u).cloned()).unwrap_or_else(|| "(unassigned)".into())
    };
    let (officers, speed_total, sort) = officer_rows(&range, &groups, &spark, &name_of, p.sort.clone());

    // Pipeline now and capacity.
    let (pipeline, open_volume, open_by_lo, unassigned) = pipeline_rows(&range, &open_groups);
    let expected_funded = model::dollars(model::expected_funded_cents(&open_volume, &history));

    // Capacity, hiring and conversion by leads-per-LO band (assigned leads per 30 days in the range).
    let months = (range.to - range.from).num_days() as f64 / 30.4375;
    let (capacity, hiring, bands) = (
        capacity_rows(&range, &profiles, &groups, &open_by_lo, months),
        hiring(&profiles, &groups, &team, months),
        band_rows(&range, &groups, months),
    );
    let escalations_waiting = crate::escalations::waiting_count(state, user).await?;
    let (as_of, pending) = freshness(db).await?;
    Ok(Dashboard {
        unassigned_link: range.leads_link_now(&[("queue", "unassigned".into()), ("open", "1".into())]),
        cohort_link: range.leads_link(&[]),
        stale_link: range.unfiltered_link(&[("stale", "1".into())]),
        total_links: OfficerLinks::new(&range, None),
        range,
        team,
        funnel,
        funnel_links,
        funnel_svg,
        wow,
        officers,
        speed_total: speed_row("all".into(), "All".into(), &speed_total),
        lost,
        lost_lo_names,
        roi,
        campaign_roi,
        pipeline,
        stale,
        stale_capped: stale >= STALE_CAP,
        expected_funded,
        capacity,
        hiring,
        unassigned,
        bands,
        given,
        escalations_waiting,
        as_of,
        pending,
        path,
        sort,
    })
}

/// The windows the dashboard's reads need besides the range itself: the last two weeks (week over week), the
/// last eight (sparklines), the cohorts 30 to 120 days old (stage-to-funded rates: old enough to have funded,
/// recent enough to reflect today's team) and the range without its other filters (leads given).
struct Windows {
    wow_from: NaiveDate,
    spark_from: NaiveDate,
    wow: Filters,
    spark: Filters,
    history: Filters,
    range_only: Filters,
}

impl Windows {
    fn new(range: &Range, today: NaiveDate) -> Self {
        let f = &range.filters;
        let (wow_from, spark_from) = (range.to - chrono::Duration::days(14), range.to - chrono::Duration::days(56));
        let hist_to = today - chrono::Duration::days(30);
        Windows {
            wow_from,
            spark_from,
            wow: Filters { from: Some(wow_from), ..f.clone() },
            spark: Filters { from: Some(spark_from), ..f.clone() },
            history: Filters { from: Some(hist_to - chrono::Duration::days(90)), to: Some(hist_to), ..f.clone() },
            range_only: Filters { from: f.from, to: f.to, ..Filters::default() },
        }
    }
}

/// The names of every LO the dashboard's tables mention (assigned in the range, holding open leads, marked
/// lost leads, taking leads now), in one read.
async fn officer_names(
    state: &AppState,
    by_lo: &[&[store::Group]],
    lost: &[store::Group],
    profiles: &[store::LoProfile],
) -> AppResult<HashMap<Uuid, String>> {
    let mut lo_ids: Vec<Uuid> = by_lo.iter().flat_map(|groups| parse_ids(groups, 0)).collect();
    lo_ids.extend(parse_ids(lost, 2));
    lo_ids.extend(profiles.iter().map(|p| p.user_id));
    lo_ids.sort();
    lo_ids.dedup();
    names_for(state, &lo_ids, false).await
}

/// How current the figures are (the rollups' as-of and pending deltas), folding the deltas first when many
/// are pending (the figures read include them either way; this keeps the delta table small).
async fn freshness(db: &sqlx::PgPool) -> AppResult<(Option<DateTime<Utc>>, i64)> {
    let (as_of, pending) = store::as_of(db).await?;
    if pending <= FOLD_WHEN_PENDING {
        return Ok((as_of, pending));
    }
    store::fold(db, 50_000).await?;
    Ok(store::as_of(db).await?)
}

/// Week over week: the last 7 days before `to` (`this`) against the 7 before that (`last`).
fn wow_rows(range: &Range, this: &Tally, last: &Tally) -> Vec<WowRow> {
    let count_change =
        |a: i64, b: i64| if b == 0 { "—".to_string() } else { format!("{:+.1}%", 100.0 * (a - b) as f64 / b as f64) };
    // Each week's created cohort, with the filters, as the lead list reads it; `stage` for reached counts.
    let week = |weeks_back: i64, stage: Option<&str>| {
        let to = range.to - chrono::Duration::days(7 * weeks_back);
        let mut extra = vec![("from", (to - chrono::Duration::days(7)).to_string()), ("to", to.to_string())];
        if let Some(s) = stage {
            extra.push(("stage", s.to_string()));
            extra.push(("reached", "1".to_string()));
        }
        Some(range.leads_link(&extra))
    };
    let counts = |label, a: i64, b: i64, stage: Option<&str>| WowRow {
        label,
        this_week: a.to_string(),
        last_week: b.to_string(),
        change: count_change(a, b),
        this_link: week(0, stage),
        last_link: week(1, stage),
    };
    vec![
        counts("Leads", this.n, last.n, None),
        WowRow {
            label: "Contact rate",
            this_week: percent(this.contact_rate()),
            last_week: percent(last.contact_rate()),
            change: change(this.contact_rate(), last.contact_rate(), " pts"),
            this_link: week(0, None).map(|l| format!("{l}&contact=1")),
            last_link: week(1, None).map(|l| format!("{l}&contact=1")),
        },
        counts("Applications", this.applications(), last.applications(), Some("application")),
        counts("Funded", this.funded(), last.funded(), Some("funded")),
    ]
}

/// The per-LO table (assignment cohort), sorted as asked, each row with its 8-week sparkline of assigned leads
/// and the links behind its figures; and the total over them, and the sort used.
fn officer_rows(
    range: &Range,
    groups: &[store::Group],
    spark: &[store::Group],
    name_of: &dyn Fn(&str) -> String,
    sort: Option<String>,
) -> (Vec<LoRow>, Tally, String) {
    let mut speed_total = Tally::default();
    let mut speeds: Vec<SpeedRow> = groups
        .iter()
        .filter(|g| g.tally.n != 0 && g.key[0].is_some())
        .map(|g| {
            speed_total.add(&g.tally);
            let key = g.key[0].clone().unwrap_or_default();
            speed_row(key.clone(), name_of(&key), &g.tally)
        })
        .collect();
    flag_rows(&mut speeds);
    let sort = sort.unwrap_or_else(|| "name".into());
    match sort.as_str() {
        "assigned" => speeds.sort_by_key(|s| std::cmp::Reverse(s.assigned)),
        "contact" => {
            speeds.sort_by(|a, b| b.contact_rate_pct.unwrap_or(-1.0).total_cmp(&a.contact_rate_pct.unwrap_or(-1.0)))
        }
        "conversion" => speeds
            .sort_by(|a, b| b.application_rate_pct.unwrap_or(-1.0).total_cmp(&a.application_rate_pct.unwrap_or(-1.0))),
        "funded" => speeds.sort_by_key(|s| std::cmp::Reverse(s.funded)),
        "speed" => speeds.sort_by(|a, b| {
            a.median_bucket_max_seconds.unwrap_or(i64::MAX).cmp(&b.median_bucket_max_seconds.unwrap_or(i64::MAX))
        }),
        "talk" => speeds.sort_by_key(|s| std::cmp::Reverse(s.talk_per_lead_seconds)),
        _ => speeds.sort_by(|a, b| a.label.cmp(&b.label)),
    }
    let mut weekly: HashMap<&str, [i64; 8]> = HashMap::new();
    for g in spark {
        let week: Option<usize> = g.key[1].as_deref().and_then(|w| w.parse().ok());
        if let (Some(lo), Some(w)) = (g.key[0].as_deref(), week.filter(|w| *w < 8)) {
            weekly.entry(lo).or_insert([0; 8])[w] += g.tally.n;
        }
    }
    let officers = speeds
        .into_iter()
        .map(|s| {
            let series: Vec<i64> = weekly.get(s.key.as_str()).copied().unwrap_or([0; 8]).to_vec();
            LoRow {
                sparkline: model::sparkline_svg(&series, &format!("Leads assigned per week, last 8 weeks: {series:?}")),
                // The per-LO figures count assignments to the LO in the range (and stages reached while assigned).
                links: OfficerLinks::new(range, Some(&s.key)),
                speed: s,
            }
        })
        .collect();
    (officers, speed_total, sort)
}

/// Pipeline now: open leads and their volume per won-path stage (with the list behind each), the open
/// leads per LO, and how many wait unassigned.
fn pipeline_rows(
    range: &Range,
    open_groups: &[store::Group],
) -> (Vec<PipelineRow>, [i64; 8], HashMap<String, i64>, i64) {
    let mut open_count = [0i64; 8];
    let mut open_volume = [0i64; 8];
    let mut open_by_lo: HashMap<String, i64> = HashMap::new();
    let mut unassigned = 0;
    for g in open_groups {
        let pos = WON_PATH.iter().position(|(k, _)| Some(*k) == g.key[1].as_deref()).unwrap_or(0);
        open_count[pos] += g.tally.n;
        open_volume[pos] += g.tally.volume_cents;
        match &g.key[0] {
            Some(lo) => *open_by_lo.entry(lo.clone()).or_insert(0) += g.tally.n,
            None => unassigned += g.tally.n,
        }
    }
    let pipeline: Vec<PipelineRow> = (0..model::FUNDED)
        .map(|k| PipelineRow {
            stage: WON_PATH[k].0,
            label: WON_PATH[k].1,
            count: open_count[k],
            volume: model::dollars(open_volume[k]),
            volume_cents: open_volume[k],
            link: range.leads_link_now(&[("stage", WON_PATH[k].0.to_string())]),
        })
        .collect();
    (pipeline, open_volume, open_by_lo, unassigned)
}

/// Capacity and cost per LO: open leads against capacity, the LO's cost over the range's months and the
/// funded volume of their assignments.
fn capacity_rows(
    range: &Range,
    profiles: &[store::LoProfile],
    groups: &[store::Group],
    open_by_lo: &HashMap<String, i64>,
    months: f64,
) -> Vec<CapacityRow> {
    let by_lo: HashMap<String, &Tally> =
        groups.iter().filter_map(|g| g.key[0].clone().map(|k| (k, &g.tally))).collect();
    profiles
        .iter()
        .map(|pr| {
            let key = pr.user_id.to_string();
            let open = open_by_lo.get(&key).copied().unwrap_or(0);
            let cost = (pr.monthly_cost_cents as f64 * months).round() as i64;
            let t = by_lo.get(&key).copied().cloned().unwrap_or_default();
            let vol = t.volume_cents;
            let contact = t.contact_rate();
            let linked = range.filters.lo.is_none_or(|lo| lo == pr.user_id);
            CapacityRow {
                assigned: t.n,
                funded: t.reached[7],
                links: linked.then(|| OfficerLinks::new(range, Some(&key))),
                leads_per_month: per_month(t.n, months),
                contact_rate_pct: contact,
                contact_target_pct: pr.contact_target_pct,
                meets_target: contact.map(|c| c >= pr.contact_target_pct as f64),
                lo: pr.name.clone(),
                open,
                open_link: linked
                    .then(|| range.leads_link_now(&[("lo", pr.user_id.to_string()), ("open", "1".into())])),
                capacity: pr.capacity,
                utilisation_pct: model::percent(open, pr.capacity as i64),
                cost: model::dollars(cost),
                funded_volume: model::dollars(vol),
                cost_per_funded_volume_bps: model::cost_per_funded_volume_bps(cost, vol),
            }
        })
        .collect()
}

fn per_month(n: i64, months: f64) -> f64 {
    if months > 0.0 { model::round1(n as f64 / months) } else { 0.0 }
}

/// See [`Hiring`].
fn hiring(profiles: &[store::LoProfile], groups: &[store::Group], team: &Tally, months: f64) -> Hiring {
    let target_pct = profiles.iter().map(|p| p.contact_target_pct).max().unwrap_or(80);
    let sustainable_per_lo = groups
        .iter()
        .filter(|g| g.key[0].is_some() && g.tally.n >= HIRING_MIN_LEADS)
        .filter(|g| g.tally.contact_rate().is_some_and(|c| c >= target_pct as f64))
        .map(|g| per_month(g.tally.n, months))
        .fold(None, |best: Option<f64>, v| Some(best.map_or(v, |b| b.max(v))));
    let lead_flow_per_month = per_month(team.n, months);
    Hiring {
        target_pct,
        lead_flow_per_month,
        needed: sustainable_per_lo.filter(|s| *s > 0.0).map(|s| (lead_flow_per_month / s).ceil() as i64),
        sustainable_per_lo,
        taking_leads: profiles.len() as i64,
    }
}

/// Conversion by leads-per-LO band (assigned leads per 30 days in the range).
fn band_rows(range: &Range, groups: &[store::Group], months: f64) -> Vec<BandRow> {
    let bands_def: [(&str, f64, f64); 4] = [
        ("Under 50 a month", 0.0, 50.0),
        ("50–99 a month", 50.0, 100.0),
        ("100–149 a month", 100.0, 150.0),
        ("150 or more a month", 150.0, f64::MAX),
    ];
    let per_month = |n: i64| if months > 0.0 { n as f64 / months } else { 0.0 };
    bands_def
        .iter()
        .map(|(label, lo, hi)| {
            let mut t = Tally::default();
            let mut officers_in_band: Vec<&str> = Vec::new();
            for g in groups.iter().filter(|g| g.key[0].is_some()) {
                let m = per_month(g.tally.n);
                if m >= *lo && m < *hi && g.tally.n > 0 {
                    t.add(&g.tally);
                    officers_in_band.extend(g.key[0].as_deref());
                }
            }
            let link = |stage: Option<&str>| {
                (!officers_in_band.is_empty()).then(|| {
                    let mut extra = vec![("cohort", "assigned".to_string()), ("lo", officers_in_band.join(","))];
                    if let Some(s) = stage {
                        extra.push(("stage", s.to_string()));
                        extra.push(("reached", "1".to_string()));
                    }
                    range.leads_link(&extra)
                })
            };
            BandRow {
                band: label,
                officers: officers_in_band.len() as i64,
                assigned: t.n,
                assigned_link: link(None),
                application_link: link(Some("application")),
                funded_link: link(Some("funded")),
                application_rate_pct: model::percent(t.applications(), t.n),
                funded_rate_pct: model::percent(t.funded(), t.n),
            }
        })
        .collect()
}

/// The LO's own numbers next to the team's medians.
pub struct MyNumbers {
    pub range: Range,
    pub mine: SpeedRow,
    pub funnel: Vec<FunnelStep>,
    pub team_median_contact: Option<f64>,
    pub team_median_application: Option<f64>,
    pub team_median_within_5: Option<f64>,
    pub team_median_speed: String,
    pub team_officers: usize,
    /// The leads behind each funnel figure: assigned to me in the range, reached the stage while mine.
    pub funnel_links: Vec<String>,
    /// The lists behind my figures (the dashboard's LO row's).
    pub links: OfficerLinks,
}

pub async fn my_numbers(state: &AppState, user: &CurrentUser, p: &Params) -> AppResult<MyNumbers> {
    user.require(&[Role::Lo, Role::Manager])?;
    let mut range = p.validate(state.today())?;
    range.filters = Filters { from: range.filters.from, to: range.filters.to, ..Filters::default() };
    // My numbers count the facts naming me as LO, whatever my figures' scope (a producing manager's own leads).
    range.link_scope = "own";
    let path = effective_path(state, range.path).await?;
    let tz = state.config.timezone;
    let own = Scope::own(user.id);
    let mut mine_f = range.filters.clone();
    mine_f.lo = Some(user.id);
    let mine = store::total(&state.db, tz, path, Kind::Assignment, &mine_f, &own).await?;
    // Team medians: computed over the team's LOs, only the medians are shown.
    let mut team_rows = Vec::new();
    if let Some(team) = user.team_id {
        let team_scope = Scope::team(team);
        let mut tf = range.filters.clone();
        tf.team = Some(team);
        team_rows = store::tally(&state.db, tz, path, Kind::Assignment, &tf, &team_scope, &[GroupBy::Lo])
            .await?
            .into_iter()
            .filter(|g| g.key[0].is_some() && g.tally.n > 0)
            .map(|g| g.tally)
            .collect();
    }
    let med = |f: &dyn Fn(&Tally) -> Option<f64>| model::median(&team_rows.iter().filter_map(f).collect::<Vec<_>>());
    let speed_med = med(&|t: &Tally| t.speed_median().map(|b| b as f64));
    let funnel = mine.funnel();
    let funnel_links = funnel
        .iter()
        .map(|s| {
            range.leads_link(&[
                ("cohort", "assigned".into()),
                ("lo", user.id.to_string()),
                ("stage", s.stage.to_string()),
                ("reached", "1".into()),
            ])
        })
        .collect();
    Ok(MyNumbers {
        links: OfficerLinks::new(&range, Some(&user.id.to_string())),
        funnel,
        funnel_links,
        mine: speed_row(user.id.to_string(), user.name.clone(), &mine),
        team_median_contact: med(&|t: &Tally| t.contact_rate()),
        team_median_application: med(&|t: &Tally| model::percent(t.applications(), t.n)),
        team_median_within_5: med(&|t: &Tally| t.within_5_min_rate()).map(model::round1),
        team_median_speed: model::latency_label(speed_med.map(|b| b.floor() as usize)),
        team_officers: team_rows.len(),
        range,
    })
}

/// The first day of the month of `d` (for the monthly spend form).
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}
