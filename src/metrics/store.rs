//! SQL for metrics. Every figure is a sum over contribution rows (see migration 0007): from the rollups
//! (`metrics_daily` plus not-yet-folded `metrics_deltas`, exact at any moment) or, for comparison and
//! checking, straight from the base tables through the `metrics_contributions` view. Both paths share the
//! same filters, scope predicate and grouping, so they return the same answer.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::model::Tally;
use crate::auth::Scope;

/// Which kind of contribution rows to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One row per lead, by creation day (team cohort funnel, ROI).
    Lead,
    /// One row per assignment to an LO, by assignment day (per-LO funnel, speed-to-lead, talk time).
    Assignment,
    /// One row per change to lost, by the lead's creation day.
    Lost,
    /// One row per lead now in an open won-path stage (pipeline now).
    Open,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Assignment => "assignment",
            Kind::Lost => "lost",
            Kind::Open => "open",
        }
    }
}

/// Where figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Rollup,
    /// Straight from leads, stage_changes, assignments and activities (no rollups).
    Base,
}

/// A grouping column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Team,
    Lo,
    Source,
    Campaign,
    /// Lost reason, or current stage for the pipeline.
    Detail,
    ReachedPos,
    /// Whole weeks since this date (sparklines, week-over-week).
    WeekSince(NaiveDate),
}

/// Filters from the URL, already validated. Dates are in the organisation's time zone; `to` is exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub team: Option<Uuid>,
    pub lo: Option<Uuid>,
    pub source: Option<String>,
    pub campaign: Option<String>,
    pub state: Option<String>,
    pub purpose: Option<String>,
}

impl Filters {
    /// Whether the organisation's monthly spend (by source and campaign) belongs to these figures: not when a
    /// team, LO, state or purpose narrows the leads, since spend has no share for them.
    pub fn spend_applies(&self) -> bool {
        self.team.is_none() && self.lo.is_none() && self.state.is_none() && self.purpose.is_none()
    }
}

/// One grouped answer: the group's key values (as text) and its sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: Vec<Option<String>>,
    pub tally: Tally,
}

const DIMS: &str = "kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos";
const MEASURES: [&str; 26] = [
    "n",
    "r1",
    "r2",
    "r3",
    "r4",
    "r5",
    "r6",
    "r7",
    "r8",
    "called",
    "called_twice",
    "contacted",
    "attempts",
    "attempts_to_contact",
    "talk_seconds",
    "volume_cents",
    "cost_cents",
    "h0",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "h7",
    "h8",
];

/// The coarsest rollup grain that still has every column the filters, grouping and scope need: grain 4 (day,
/// team), grain 2 (day, team, source), grain 3 (day, team, source, campaign), grain 1 (day, team, LO), or grain 0
/// (every dimension). Every grain keeps the lost reason or stage and the stage reached.
fn grain_for(f: &Filters, group: &[GroupBy], scope: &Scope) -> i16 {
    let fine = f.state.is_some() || f.purpose.is_some();
    let by_campaign = f.campaign.is_some() || group.contains(&GroupBy::Campaign);
    let by_source = f.source.is_some() || group.contains(&GroupBy::Source);
    // Grains 2 and 3 have no LO column: use them only when neither filters, grouping nor scope need the LO.
    let by_lo = f.lo.is_some() || group.contains(&GroupBy::Lo) || (!scope.all && scope.lo_id.is_some());
    if fine || (by_lo && (by_campaign || by_source)) {
        0
    } else if by_lo {
        1
    } else if by_campaign {
        3
    } else if by_source {
        2
    } else {
        4
    }
}

/// Days [from, to) of a rollup read: all of the filters' range, or one part of it (see [`rollup_parts`]).
type Days = (Option<NaiveDate>, Option<NaiveDate>);

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, kind: Kind, f: &Filters, scope: &Scope, days: Days) {
    qb.push(" AND kind = ").push_bind(kind.as_str());
    // The days are read through `(SELECT $n)`, unknown when planning (as the scope's ids are): a dashboard's
    // statements are then planned once per connection rather than on every request, where planning cost about
    // a fifth of each read.
    if kind != Kind::Open {
        if let Some(from) = days.0 {
            qb.push(" AND day >= (SELECT ").push_bind(from).push("::date)");
        }
        if let Some(to) = days.1 {
            qb.push(" AND day < (SELECT ").push_bind(to).push("::date)");
        }
    }
    if let Some(v) = f.team {
        qb.push(" AND team_id = ").push_bind(v);
    }
    if let Some(v) = f.lo {
        qb.push(" AND lo_id = ").push_bind(v);
    }
    for (col, v) in [("source", &f.source), ("campaign", &f.campaign), ("state", &f.state), ("purpose", &f.purpose)] {
        if let Some(v) = v {
            qb.push(format_args!(" AND {col} = ")).push_bind(v.clone());
        }
    }
    scope.push_contribution_predicate(qb);
}

/// Grains 10-14 are grains 0-4 summed by month, `day` being the month's first day (migrations 0047, 0061).
const MONTHLY: i16 = 10;

/// One read of rollup rows: whole months (the monthly grain) or days, added or (`subtract`) taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    monthly: bool,
    subtract: bool,
    days: Days,
}

impl Part {
    fn add(monthly: bool, days: Days) -> Part {
        Part { monthly, subtract: false, days }
    }
}

/// The rollup rows a range reads: its whole months from the monthly grain, and each partial month at either
/// end either as its days inside the range, or as the whole month minus its days outside the range, whichever
/// reads fewer days. Every measure is a sum, so taking the outside days away is exact, and a partial month
/// never costs more than half a month of daily rows (90 days read about 2 x 7 days instead of up to 2 x 30;
/// the current month's days after the range are still to come and cost nothing). The open pipeline ignores
/// days and reads only months; a weekly grouping needs the days themselves.
fn rollup_parts(kind: Kind, f: &Filters, by_week: bool) -> Vec<Part> {
    use chrono::{Datelike, Months};
    if by_week {
        return vec![Part::add(false, (f.from, f.to))];
    }
    if kind == Kind::Open {
        return vec![Part::add(true, (None, None))];
    }
    let month_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let next_month = |d: NaiveDate| month_of(d).checked_add_months(Months::new(1)).unwrap_or(d);
    // The first whole month on or after `from`, and the first day of `to`'s month (the whole months end there).
    let first = f.from.map(|d| if d.day() == 1 { d } else { next_month(d) });
    let last = f.to.map(month_of);
    if let (Some(a), Some(b)) = (first, last) {
        if a >= b {
            return vec![Part::add(false, (f.from, f.to))];
        }
    }
    let (mut months_from, mut months_to) = (first, last);
    let mut parts = Vec::new();
    if let (Some(from), Some(a)) = (f.from, first) {
        if from < a {
            let month = month_of(from);
            if from - month < a - from {
                months_from = Some(month);
                parts.push(Part { monthly: false, subtract: true, days: (Some(month), Some(from)) });
            } else {
                parts.push(Part::add(false, (Some(from), Some(a))));
            }
        }
    }
    if let (Some(b), Some(to)) = (last, f.to) {
        if b < to {
            let end = next_month(b);
            if end - to < to - b {
                months_to = Some(end);
                parts.push(Part { monthly: false, subtract: true, days: (Some(to), Some(end)) });
            } else {
                parts.push(Part::add(false, (Some(b), Some(to))));
            }
        }
    }
    parts.insert(0, Part::add(true, (months_from, months_to)));
    parts
}

pub use crate::state::day_start;

/// Sets of measures a figure reads: every one; the funnel's (the cohort and how many reached each won-path
/// stage); the funnel's and the contacted count (week over week); the count alone.
pub const ALL: &[&str] = &MEASURES;
pub const FUNNEL: &[&str] = &["n", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
pub const FUNNEL_CONTACT: &[&str] = &["n", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "contacted"];
pub const COUNT: &[&str] = &["n"];
/// What a source's or campaign's ROI is computed from.
pub const ROI: &[&str] =
    &["n", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "contacted", "volume_cents", "cost_cents"];
/// What the pipeline shows: open leads and their loan volume.
pub const OPEN: &[&str] = &["n", "volume_cents"];

/// One rollup read of a statement: `kind` rows under `filters` (and the statement's scope), grouped by `group`,
/// summing `measures` (the tally's other fields stay zero). Sums cost work for every row read, so a figure
/// reads only the measures it shows.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub kind: Kind,
    pub filters: &'a Filters,
    pub group: &'a [GroupBy],
    pub measures: &'a [&'static str],
    /// Group by the first key with each other key apart (`GROUPING SETS ((k0, k1), (k0, k2), …)`) instead of by
    /// all of them together: a figure shown by reason × stage and by reason × LO then gets those groups, not
    /// every reason × stage × LO (the lost reasons: 743 groups became about 250 at 1M leads). A group's keys
    /// it is not grouped by read [`APART`], so the keys after the first should be ones that never read `*`: ids
    /// and stage positions (the lost reasons' stage and LO), not free text such as a campaign.
    pub apart: bool,
}

/// The key of a group of an `apart` read that the group is not grouped by.
pub const APART: &str = "*";

/// A tally with `measures` set from `sums` (in that order) and every other field zero.
fn tally_of(measures: &[&str], sums: &[i64]) -> Tally {
    let mut t = Tally::default();
    for (m, &v) in measures.iter().zip(sums) {
        let digit = || m[1..].parse::<usize>().unwrap_or(0);
        match *m {
            "n" => t.n = v,
            "called" => t.called = v,
            "called_twice" => t.called_twice = v,
            "contacted" => t.contacted = v,
            "attempts" => t.attempts = v,
            "attempts_to_contact" => t.attempts_to_contact = v,
            "talk_seconds" => t.talk_seconds = v,
            "volume_cents" => t.volume_cents = v,
            "cost_cents" => t.cost_cents = v,
            r if r.starts_with('r') => t.reached[digit() - 1] = v,
            _ => t.latency[digit()] = v,
        }
    }
    t
}

/// Sums `kind` contribution rows under `filters` and `scope`, grouped by `group`.
pub async fn tally(
    db: &PgPool,
    tz: chrono_tz::Tz,
    path: Path,
    kind: Kind,
    filters: &Filters,
    scope: &Scope,
    group: &[GroupBy],
) -> sqlx::Result<Vec<Group>> {
    let read = Read { kind, filters, group, measures: ALL, apart: false };
    Ok(read_many(db, tz, path, scope, &[read]).await?.pop().unwrap_or_default())
}

/// Several rollup reads under one scope in **one statement** (a `UNION ALL` of the reads, each tagged with its
/// place): a page's figures then cost one round trip and one executor start instead of one per figure. Returns
/// each read's groups, in the order of `reads`.
pub async fn read_many(
    db: &PgPool,
    tz: chrono_tz::Tz,
    path: Path,
    scope: &Scope,
    reads: &[Read<'_>],
) -> sqlx::Result<Vec<Vec<Group>>> {
    let keys = reads.iter().map(|r| r.group.len()).max().unwrap_or(0);
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("");
    for (i, read) in reads.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("(");
        push_read(&mut qb, tz, path, scope, read, i, keys);
        qb.push(")");
    }
    let rows = if path == Path::Rollup {
        // The rollups' statement is planned once per connection (`force_generic_plan`, for this read-only
        // transaction only, set in the message that begins it): planned afresh for each call's dates and ids, it
        // cost 3-4 ms of planning on top of about 5 ms of run at 1M leads (a manager's 90-day dashboard), and the
        // generic plan reads the same indexes (the rollups' grain, kind and day, or team). The base path keeps
        // custom plans: its candidate leads come from a date range whose width decides the plan.
        let mut tx = db.begin_with("BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_generic_plan").await?;
        let rows = qb.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows
    } else {
        qb.build().fetch_all(db).await?
    };
    let mut out: Vec<Vec<Group>> = vec![Vec::new(); reads.len()];
    for row in rows {
        let part = row.try_get::<i32, _>(0)? as usize;
        let Some(read) = reads.get(part) else { continue };
        let m = read.group.len();
        let key = (0..m).map(|i| row.try_get::<Option<String>, _>(1 + i)).collect::<sqlx::Result<Vec<_>>>()?;
        let sums: Vec<i64> = row.try_get(1 + keys)?;
        out[part].push(Group { key, tally: tally_of(read.measures, &sums) });
    }
    Ok(out)
}

/// One read of [`read_many`]: `SELECT part, <keys padded to keys>, ARRAY[<sums>] ... GROUP BY`. The sums are one
/// array, as long as the read's measures: a count-only read's rows stay narrow beside a full tally's (padding
/// every row to 26 sums tripled what a dashboard's statement sent).
fn push_read(
    qb: &mut QueryBuilder<'_, Postgres>,
    tz: chrono_tz::Tz,
    path: Path,
    scope: &Scope,
    read: &Read<'_>,
    part: usize,
    keys: usize,
) {
    let Read { kind, filters, group, measures, apart } = *read;
    qb.push(format_args!("SELECT {part}::int4, "));
    for (i, g) in group.iter().enumerate() {
        let text = match g {
            GroupBy::Team => "team_id::text",
            GroupBy::Lo => "lo_id::text",
            GroupBy::Source => "source",
            GroupBy::Campaign => "campaign",
            GroupBy::Detail => "detail",
            GroupBy::ReachedPos => "reached_pos::text",
            // In float8, not numeric (exact for any day count): a numeric division per row read was a quarter of
            // the sparklines' read (1.5 -> 1.2 ms for a 20-LO team's 8 weeks at 1M leads).
            GroupBy::WeekSince(d) => {
                qb.push("floor((day - ").push_bind(*d).push(")::float8 / 7)::int4::text, ");
                continue;
            }
        };
        match group_column(g) {
            Some(col) if apart && i > 0 => {
                qb.push(format_args!("CASE WHEN GROUPING({col}) = 1 THEN '{APART}' ELSE {text} END, "))
            }
            _ => qb.push(format_args!("{text}, ")),
        };
    }
    for _ in group.len()..keys {
        qb.push("NULL::text, ");
    }
    // Summed in float8, exact here: every measure is a whole number and no sum comes near 2^53 (9e15; the largest,
    // loan volume in cents, would be $90 trillion), and PostgreSQL adds float8 at half the cost of the numeric it
    // uses for sum(bigint) (the aggregation was about half of the dashboard's statement at 1M leads).
    let sums: Vec<String> = measures.iter().map(|m| format!("coalesce(sum({m}::float8), 0)::bigint")).collect();
    qb.push(format_args!("ARRAY[{}]::int8[]", sums.join(", ")));
    let cols = format!("{DIMS}, {}", measures.join(", "));
    qb.push(format_args!(" FROM ("));
    // Whether a month's outside days were taken away: a group whose facts all lay outside the range then sums
    // to nothing and is left out, as the base tables (one counted fact per row) never show it.
    let mut subtracted = false;
    match path {
        Path::Rollup => {
            let grain = grain_for(filters, group, scope);
            let by_week = group.iter().any(|g| matches!(g, GroupBy::WeekSince(_)));
            let parts = rollup_parts(kind, filters, by_week);
            subtracted = parts.iter().any(|p| p.subtract);
            let negated: Vec<String> = measures.iter().map(|m| format!("-{m}")).collect();
            let negated = format!("{DIMS}, {}", negated.join(", "));
            for part in parts {
                let g = if part.monthly { grain + MONTHLY } else { grain };
                let cols = if part.subtract { &negated } else { &cols };
                qb.push(format_args!("SELECT {cols} FROM metrics_daily WHERE grain = ")).push_bind(g);
                push_filters(qb, kind, filters, scope, part.days);
                qb.push(" UNION ALL ");
            }
            qb.push(format_args!("SELECT {cols} FROM metrics_deltas WHERE true"));
            push_filters(qb, kind, filters, scope, (filters.from, filters.to));
        }
        Path::Base => {
            qb.push(format_args!("SELECT {cols} FROM metrics_contributions WHERE true"));
            push_filters(qb, kind, filters, scope, (filters.from, filters.to));
            // Narrow the base scan with the indexed timestamps (a day either side covers any time zone).
            let pad = chrono::Duration::days(1);
            let lower = filters.from.map(|d| day_start(tz, d) - pad);
            let upper = filters.to.map(|d| day_start(tz, d) + pad);
            if kind != Kind::Open && (lower.is_some() || upper.is_some()) {
                let (table, col) = if kind == Kind::Assignment { ("assignments", "lead_id") } else { ("leads", "id") };
                // `= ANY(ARRAY(...))` lets the planner evaluate the view per candidate lead through the indexes.
                qb.push(format_args!(" AND lead_id = ANY(ARRAY(SELECT {col} FROM {table} WHERE true"));
                if let Some(l) = lower {
                    qb.push(" AND created_at >= ").push_bind(l);
                }
                if let Some(u) = upper {
                    qb.push(" AND created_at < ").push_bind(u);
                }
                qb.push("))");
            }
        }
    }
    qb.push(") x");
    if !group.is_empty() {
        // Grouped by the columns themselves and cast to text once per group, not once per row read (a 90-day
        // funnel by LO reads some 3,400 rows into 200 groups: a fifth of its time went on the casts).
        qb.push(" GROUP BY ");
        let keys: Vec<String> = group
            .iter()
            .enumerate()
            .map(|(i, g)| group_column(g).map(str::to_string).unwrap_or_else(|| (i + 2).to_string()))
            .collect();
        match keys.split_first() {
            Some((first, rest)) if apart && !rest.is_empty() => {
                let sets: Vec<String> = rest.iter().map(|k| format!("({first}, {k})")).collect();
                qb.push(format_args!("GROUPING SETS ({})", sets.join(", ")));
            }
            _ => {
                qb.push(keys.join(", "));
            }
        }
        if subtracted {
            qb.push(" HAVING sum(n::float8) <> 0");
        }
    }
}

/// The rollup column a group is keyed by (none for the week number, grouped by its place in the select list).
fn group_column(g: &GroupBy) -> Option<&'static str> {
    Some(match g {
        GroupBy::Team => "team_id",
        GroupBy::Lo => "lo_id",
        GroupBy::Source => "source",
        GroupBy::Campaign => "campaign",
        GroupBy::Detail => "detail",
        GroupBy::ReachedPos => "reached_pos",
        GroupBy::WeekSince(_) => return None,
    })
}

/// One ungrouped tally.
pub async fn total(
    db: &PgPool,
    tz: chrono_tz::Tz,
    path: Path,
    kind: Kind,
    filters: &Filters,
    scope: &Scope,
) -> sqlx::Result<Tally> {
    Ok(tally(db, tz, path, kind, filters, scope, &[]).await?.into_iter().next().map(|g| g.tally).unwrap_or_default())
}

/// Moves pending deltas into the daily rollups; returns how many delta rows were folded.
pub async fn fold(db: &PgPool, max_rows: i32) -> sqlx::Result<i64> {
    let moved: Option<i64> = sqlx::query_scalar("SELECT metrics_fold($1)").bind(max_rows).fetch_one(db).await?;
    Ok(moved.unwrap_or(0))
}

/// When the rollups last took in new facts (fold or rebuild), and how many facts wait unfolded
/// (they are still counted: readers add them).
pub async fn as_of(db: &PgPool) -> sqlx::Result<(Option<DateTime<Utc>>, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT max(value) FROM metrics_state WHERE key IN ('folded_at', 'rebuilt_at')) AS at,
                (SELECT count(*) FROM (SELECT 1 FROM metrics_deltas LIMIT 100000) d) AS pending",
    )
    .fetch_one(db)
    .await?;
    Ok((row.try_get("at")?, row.try_get("pending")?))
}

/// The time zone the rollup days were computed in.
pub async fn rollup_timezone(db: &PgPool) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT metrics_tz()").fetch_one(db).await
}

/// Sets the rollup time zone and rebuilds when it changed.
pub async fn ensure_timezone(db: &PgPool, tz: chrono_tz::Tz) -> anyhow::Result<()> {
    let current = rollup_timezone(db).await?;
    if current.as_deref() != Some(tz.name()) {
        sqlx::query(
            "UPDATE settings SET value = to_jsonb($1::text), updated_at = now() WHERE key = 'metrics_timezone'",
        )
        .bind(tz.name())
        .execute(db)
        .await?;
        rebuild(db).await?;
    }
    Ok(())
}

pub use super::rebuild::{rebuild, rebuild_with};

/// Names of users (LOs) by id.
pub async fn user_names(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as("SELECT id, name FROM users WHERE id = ANY($1)").bind(ids).fetch_all(db).await
}

/// Team names by id.
pub async fn team_names(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as("SELECT id, name FROM teams WHERE id = ANY($1)").bind(ids).fetch_all(db).await
}

/// How an active LO made themselves available over a window: seconds with status `available` (from the
/// status history, up to `now`), and claim offers made to them and claimed by them. (The leads given to them
/// are the dashboard's rollup count, `Dashboard::given`.)
#[derive(Debug, Clone)]
pub struct Availability {
    pub lo_id: Uuid,
    pub name: String,
    pub team_id: Option<Uuid>,
    pub available_seconds: i64,
    pub offers: i64,
    pub claimed: i64,
}

/// [`Availability`] over [from, to) of every active LO the scope's roster covers, in one statement.
pub async fn availability(
    db: &PgPool,
    scope: &crate::auth::Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Availability>> {
    let (all, own, teams) = scope.roster_binds();
    // The spans are routing's one definition (the LO's availability history lists the same spans).
    crate::routing::history::status_spans_query!(
        Availability,
        r#"SELECT u.id AS lo_id, u.name, u.team_id,
                  COALESCE((SELECT sum(extract(epoch FROM s.ended - s.started))
                            FROM status_spans s WHERE s.user_id = u.id AND s.status = 'available'), 0)::int8 AS "available_seconds!",
                  (SELECT count(*) FROM claim_offers o
                   WHERE u.id = ANY(o.lo_ids) AND o.created_at >= $1 AND o.created_at < $2) AS "offers!",
                  (SELECT count(*) FROM claim_offers o
                   WHERE o.claimed_by = u.id AND o.created_at >= $1 AND o.created_at < $2) AS "claimed!"
           FROM users u WHERE u.originator AND u.active AND ($4 OR u.id = $5 OR u.team_id = ANY($6))
           ORDER BY lower(u.name)"#,
        from,
        to,
        now,
        all,
        own,
        &teams
    )
    .fetch_all(db)
    .await
}

/// One choice of the dashboard's filters: a team or a source.
pub struct FilterChoice {
    pub kind: String,
    pub value: String,
    pub label: String,
    pub team_id: Option<Uuid>,
}

/// Every team and source, by name, in one statement (the caller keeps what its scope covers).
pub async fn filter_choices(db: &PgPool) -> sqlx::Result<Vec<FilterChoice>> {
    sqlx::query_as!(
        FilterChoice,
        r#"SELECT kind AS "kind!", value AS "value!", label AS "label!", team_id FROM (
             SELECT 2 AS o, 'team' AS kind, t.id::text AS value, t.name AS label, t.id AS team_id FROM teams t
             UNION ALL SELECT 3, 'source', s.key, s.label, NULL FROM lead_sources s) c
           ORDER BY o, lower(label)"#
    )
    .fetch_all(db)
    .await
}

/// The names figures are shown with: lost reasons' and sources' labels, and the price per funded loan of each
/// source paid that way (cents), in one read.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub lost_reasons: std::collections::HashMap<String, String>,
    pub sources: std::collections::HashMap<String, String>,
    pub per_funded: std::collections::HashMap<String, i64>,
}

pub async fn labels(db: &PgPool) -> sqlx::Result<Labels> {
    let rows = sqlx::query!(
        r#"SELECT 'lost' AS "kind!", key AS "key!", label AS "label!", NULL::int8 AS per_funded_cents
           FROM lost_reasons
           UNION ALL
           SELECT 'source', key, label,
                  CASE WHEN cost_model = 'per_funded' AND cost_cents > 0 THEN cost_cents END
           FROM lead_sources"#
    )
    .fetch_all(db)
    .await?;
    let mut labels = Labels::default();
    for r in rows {
        if r.kind == "lost" {
            labels.lost_reasons.insert(r.key, r.label);
        } else {
            if let Some(cents) = r.per_funded_cents {
                labels.per_funded.insert(r.key.clone(), cents);
            }
            labels.sources.insert(r.key, r.label);
        }
    }
    Ok(labels)
}

/// Lead source labels and per-lead cost.
pub async fn sources(db: &PgPool) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as("SELECT key, label, cost_per_lead_cents FROM lead_sources ORDER BY label").fetch_all(db).await
}

/// Monthly spend overlapping [from, to), prorated by days, in cents, by source and campaign ('' for the whole
/// source): what admins and marketing entered, and a monthly-fee source's fee for each month nobody entered
/// anything for the source (from its first month to the month it retired).
pub async fn monthly_spend(db: &PgPool, from: NaiveDate, to: NaiveDate) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "WITH months AS (
             SELECT m::date AS month
             FROM generate_series(date_trunc('month', $1::date), ($2::date - 1)::timestamp, interval '1 month') m),
         spend AS (
             SELECT source, campaign, month, spend_cents FROM metrics_source_spend
             WHERE month < $2 AND (month + interval '1 month')::date > $1
             UNION ALL
             SELECT s.key, '', m.month, s.cost_cents FROM lead_sources s CROSS JOIN months m
             WHERE s.cost_model = 'monthly' AND s.cost_cents > 0
               AND m.month >= date_trunc('month', s.created_at)::date
               AND (s.retired_at IS NULL OR s.retired_at >= m.month)
               AND NOT EXISTS (SELECT 1 FROM metrics_source_spend x WHERE x.source = s.key AND x.month = m.month))
         SELECT source, campaign, coalesce(sum(
            (spend_cents::numeric * greatest(0, least($2::date, (month + interval '1 month')::date) - greatest($1::date, month))
             / ((month + interval '1 month')::date - month))::bigint), 0)::bigint
         FROM spend GROUP BY source, campaign",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// An LO's capacity and monthly cost.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoProfile {
    pub user_id: Uuid,
    pub name: String,
    pub team_id: Option<Uuid>,
    pub capacity: i32,
    pub monthly_cost_cents: i64,
    /// Their team's contact-rate target (80% without a team).
    pub contact_target_pct: i32,
}

/// Active LOs the scope covers (managers: their teams and themselves; LOs: themselves).
pub async fn lo_profiles(db: &PgPool, scope: &Scope) -> sqlx::Result<Vec<LoProfile>> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT u.id AS user_id, u.name, u.team_id, coalesce(p.capacity, 0) AS capacity,
                coalesce(p.monthly_cost_cents, 0) AS monthly_cost_cents,
                coalesce(t.contact_rate_target_pct, 80) AS contact_target_pct
         FROM users u LEFT JOIN lo_profiles p ON p.user_id = u.id LEFT JOIN teams t ON t.id = u.team_id
         WHERE u.originator AND u.active",
    );
    scope.push_roster_predicate(&mut qb, "u");
    qb.push(" ORDER BY u.name");
    qb.build_query_as().fetch_all(db).await
}

/// Leads sitting in an open stage longer than the stage's `stale_after_days`, counted up to `cap`.
pub async fn stale_leads(db: &PgPool, scope: &Scope, now: DateTime<Utc>, cap: i64) -> sqlx::Result<i64> {
    // Stage by stage (a range scan of `leads_team_stage_changed_idx` per team in scope), then the cap.
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT count(*) FROM (SELECT 1 FROM stages s CROSS JOIN LATERAL (
             SELECT 1 FROM leads l WHERE l.stage = s.key AND l.pipeline_id = s.pipeline_id AND l.stage_changed_at < ",
    );
    qb.push_bind(now).push(" - make_interval(days => s.stale_after_days)");
    scope.push_lead_predicate(&mut qb, "l");
    qb.push(" LIMIT ").push_bind(cap).push(
        ") x
         WHERE s.kind = 'open' AND s.stale_after_days IS NOT NULL LIMIT ",
    );
    qb.push_bind(cap).push(") y");
    qb.build_query_scalar().fetch_one(db).await
}

/// One month's spend on a source, or on one of its campaigns.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = SpendEntry)]
pub struct SourceSpend {
    pub source: String,
    /// The source's name.
    pub label: String,
    /// The campaign's key; '' for the whole source.
    pub campaign: String,
    /// The month's first day.
    pub month: NaiveDate,
    pub spend_cents: i64,
}

pub async fn list_spend(db: &PgPool) -> sqlx::Result<Vec<SourceSpend>> {
    sqlx::query_as(
        "SELECT m.source, s.label, m.campaign, m.month, m.spend_cents FROM metrics_source_spend m
         JOIN lead_sources s ON s.key = m.source ORDER BY m.month DESC, s.label, m.campaign LIMIT 500",
    )
    .fetch_all(db)
    .await
}

/// Sets the spend of a source (campaign '') or one of its campaigns for a month; returns the previous amount.
pub async fn upsert_spend(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    source: &str,
    campaign: &str,
    month: NaiveDate,
    spend_cents: i64,
) -> sqlx::Result<Option<i64>> {
    let before: Option<i64> = sqlx::query_scalar(
        "SELECT spend_cents FROM metrics_source_spend WHERE source = $1 AND campaign = $2 AND month = $3 FOR UPDATE",
    )
    .bind(source)
    .bind(campaign)
    .bind(month)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO metrics_source_spend (source, campaign, month, spend_cents) VALUES ($1, $2, $3, $4)
         ON CONFLICT (source, campaign, month) DO UPDATE SET spend_cents = excluded.spend_cents, updated_at = now()",
    )
    .bind(source)
    .bind(campaign)
    .bind(month)
    .bind(spend_cents)
    .execute(&mut **tx)
    .await?;
    Ok(before)
}
