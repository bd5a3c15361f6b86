//! The lead list, its CSV export and `GET /api/v1/leads`: the filter every figure link opens (each parameter
//! with its figure's definition), the keyset pages and the capped total.

use super::*;

/// Every parameter the lead list, its CSV export and `GET /api/v1/leads` understand. Anything else is refused
/// (422 naming it): a filter the list silently dropped would show the whole list behind a figure.
pub const LIST_PARAMS: [&str; 29] = [
    "stage",
    "source",
    "age",
    "state",
    "purpose",
    "lo",
    "q",
    "sort",
    "queue",
    "after",
    "limit",
    "from",
    "to",
    "team",
    "campaign",
    "reached",
    "stale",
    "lost_reason",
    "cohort",
    "open",
    "scope",
    "partner",
    "referrer",
    "lost_from",
    "load",
    "uncontacted",
    "contact",
    "speed",
    "called",
];

/// The won path, in order, as migration 0007's `metrics_won_pos` numbers it ("reached stage X" = the furthest
/// won-path position ever reached is at least X's).
pub(crate) const WON_PATH: [&str; 8] =
    ["new", "contacted", "prequalified", "application", "processing", "underwriting", "clear_to_close", "funded"];

/// Past this many matches the list says "10,000+" instead of counting on (a million-lead list stays fast).
pub const TOTAL_CAP: i64 = 10_000;

/// Filters of the lead list, the CSV export and `GET /api/v1/leads`. The drill-down filters (`from`, `to`,
/// `team`, `campaign`, `reached`, `stale`, `lost_reason`, `cohort`, `open`, `scope`) mean exactly what the
/// dashboard's figures mean by them (README, Metrics: drill-down), so a figure's link lists the leads it counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeadFilter {
    pub stage: String,
    pub source: String,
    /// `today`, `7d`, `30d` (created within) or `older` (created more than 30 days ago).
    pub age: String,
    pub state: String,
    pub purpose: String,
    /// An LO's id: the lead's LO (cohort `assigned`: the LO assigned; cohort `lost`: the LO who lost it).
    pub lo: String,
    /// Name (last name prefix, or "first last"), phone or email.
    pub q: String,
    /// `newest` (default) or `oldest`.
    pub sort: String,
    /// `unassigned`: only leads waiting for an LO.
    pub queue: String,
    /// Keyset cursor from the previous page.
    pub after: String,
    pub limit: Option<i64>,
    /// Cohort days (YYYY-MM-DD, the organisation's time zone): `from` inclusive, `to` exclusive.
    pub from: String,
    pub to: String,
    /// A team's id: the lead's team (cohort `assigned`: the team of the assignment).
    pub team: String,
    pub campaign: String,
    /// `1`: `stage` means "reached this won-path stage or a later one" (cohort `assigned`: while assigned).
    pub reached: String,
    /// `1`: in an open stage longer than the stage's `stale_after_days`.
    pub stale: String,
    /// With cohort `lost`: the reason on the change to lost (`unspecified` when none was given).
    pub lost_reason: String,
    /// With cohort `lost`: the furthest won-path stage the lead had reached before that change.
    pub lost_from: String,
    /// `1`: in a stage of kind `open` of the lead's pipeline (what counts toward an LO's capacity).
    pub load: String,
    /// `1`: no first contact yet (the availability board's "new leads not reached", with `stage=new`).
    pub uncontacted: String,
    /// `1`: reached by a call as the contact rate counts it (cohort `created`: any caller's call with outcome
    /// contacted; cohort `assigned`: the LO's own, while the assignment lasted); `0`: not reached.
    pub contact: String,
    /// `5m`: with cohort `assigned`, the LO's first call came within 5 minutes of the assignment.
    pub speed: String,
    /// How often the lead was called, as `contact` counts calls: `1` at least once (coaching's "called"),
    /// `2` at least twice, `0` never, `lt2` fewer than twice (the dashboard's "never called twice").
    pub called: String,
    /// `created` (default: leads by the day they were created), `assigned` (leads by their assignments to an LO:
    /// the per-LO figures) or `lost` (leads by their changes to lost: the lost-reasons figures).
    pub cohort: String,
    /// `1`: only leads now in an open won-path stage (new … clear to close), as "Pipeline now" counts them.
    pub open: String,
    /// `figures`: what the signed-in user's figures cover (a manager: the teams they manage, not their own
    /// leads elsewhere nor the organisation's queue); `own`: their own numbers (the facts naming them as LO).
    /// Either bounds the list by the figure's facts instead of the lead list (see `push_filter_over`).
    pub scope: String,
    /// A referral partner's id: the leads naming that partner.
    pub partner: String,
    /// `past_client`: leads a past client referred (by loan number); `partner`: leads a referral partner sent.
    pub referrer: String,
}

/// Which facts place a lead in the list's cohort (the same choice the metrics' contribution kinds make).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cohort {
    Created,
    Assigned,
    Lost,
}

/// A filter's values, checked.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(super) cohort: Cohort,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    team: Option<Uuid>,
    /// One LO, or several (`lo=a,b,c`: the hiring view's bands); empty: any.
    lo: Vec<Uuid>,
    /// Won-path position (1-based) the lead must have reached.
    reached: Option<i32>,
    /// Won-path position reached before the change to lost (cohort `lost`).
    lost_from: Option<i32>,
    stale: bool,
    open: bool,
    load: bool,
    uncontacted: bool,
    /// Contact, calls and speed to lead, as the figures count calls.
    calls: super::calls_filter::CallFilter,
    figures_scope: FigureScope,
    partner: Option<Uuid>,
}

/// Whose figures a list is behind (`scope=`): none (the lead list), the user's figures (`figures`: the metrics
/// scope), or their own numbers (`own`: the facts naming them as LO, as `/me/metrics` counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FigureScope {
    List,
    Figures,
    Own,
}

pub(crate) fn flag(errors: &mut FieldErrors, field: &str, v: &str) -> bool {
    match v {
        "" | "0" => false,
        "1" => true,
        _ => {
            errors.add(field, "must be 1 (or left out)");
            false
        }
    }
}

impl LeadFilter {
    /// Reads the query's pairs: an unknown parameter, a repeated one or a value that is not valid for its field
    /// is an error naming the field. The filter holds whatever known values were given (to re-show the form).
    pub fn from_pairs(pairs: &[(String, String)]) -> (LeadFilter, FieldErrors) {
        let mut f = LeadFilter::default();
        let mut errors = FieldErrors::new();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k.as_str()) {
                errors.add(k, "is given more than once");
                continue;
            }
            seen.push(k);
            let v = v.clone();
            match k.as_str() {
                "stage" => f.stage = v,
                "source" => f.source = v,
                "age" => f.age = v,
                "state" => f.state = v,
                "purpose" => f.purpose = v,
                "lo" => f.lo = v,
                "q" => f.q = v,
                "sort" => f.sort = v,
                "queue" => f.queue = v,
                "after" => f.after = v,
                "limit" => match v.trim() {
                    "" => {}
                    n => match n.parse::<i64>() {
                        Ok(n) => f.limit = Some(n),
                        Err(_) => errors.add("limit", "must be a whole number"),
                    },
                },
                "from" => f.from = v,
                "to" => f.to = v,
                "team" => f.team = v,
                "campaign" => f.campaign = v,
                "reached" => f.reached = v,
                "stale" => f.stale = v,
                "lost_reason" => f.lost_reason = v,
                "cohort" => f.cohort = v,
                "open" => f.open = v,
                "scope" => f.scope = v,
                "partner" => f.partner = v,
                "referrer" => f.referrer = v,
                "lost_from" => f.lost_from = v,
                "load" => f.load = v,
                "uncontacted" => f.uncontacted = v,
                "contact" => f.contact = v,
                "speed" => f.speed = v,
                "called" => f.called = v,
                other => {
                    errors.add(other, format!("is not a filter of the lead list (known: {})", LIST_PARAMS.join(", ")))
                }
            }
        }
        if let Err(more) = f.check() {
            for (k, msgs) in more.0 {
                for m in msgs {
                    errors.add(&k, m);
                }
            }
        }
        (f, errors)
    }

    /// Checks every value (dates, ids, choices and how they combine).
    pub(super) fn check(&self) -> Result<Checked, FieldErrors> {
        let mut e = FieldErrors::new();
        let date = |e: &mut FieldErrors, field: &str, v: &str| match v.trim() {
            "" => None,
            s => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| e.add(field, "use a date like 2026-01-31")).ok(),
        };
        let id = |e: &mut FieldErrors, field: &str, v: &str, what: &str| match v.trim() {
            "" => None,
            s => Uuid::parse_str(s).map_err(|_| e.add(field, format!("not {what} id"))).ok(),
        };
        let from = date(&mut e, "from", &self.from);
        let to = date(&mut e, "to", &self.to);
        if let (Some(a), Some(b)) = (from, to) {
            if a >= b {
                e.add("from", "must be before to");
            }
        }
        let team = id(&mut e, "team", &self.team, "a team");
        let lo: Vec<Uuid> = if self.lo.trim().is_empty() {
            Vec::new()
        } else {
            self.lo.split(',').filter_map(|one| id(&mut e, "lo", one, "an LO")).collect()
        };
        let partner = id(&mut e, "partner", &self.partner, "a referral partner's");
        let cohort = match self.cohort.as_str() {
            "" if !self.lost_reason.is_empty() => Cohort::Lost,
            "" | "created" => Cohort::Created,
            "assigned" => Cohort::Assigned,
            "lost" => Cohort::Lost,
            _ => {
                e.add("cohort", "must be created, assigned or lost");
                Cohort::Created
            }
        };
        if !self.lost_reason.is_empty() && cohort != Cohort::Lost {
            e.add("lost_reason", "goes with cohort=lost");
        }
        let lost_from = self.lost_from_pos(&mut e, cohort);
        let reached = if flag(&mut e, "reached", &self.reached) {
            match WON_PATH.iter().position(|s| *s == self.stage) {
                Some(i) => Some(i as i32 + 1),
                None => {
                    e.add("reached", "needs a stage of the won path (new … funded)");
                    None
                }
            }
        } else {
            None
        };
        let stale = flag(&mut e, "stale", &self.stale);
        let open = flag(&mut e, "open", &self.open);
        let load = flag(&mut e, "load", &self.load);
        let uncontacted = flag(&mut e, "uncontacted", &self.uncontacted);
        let calls = super::calls_filter::CallFilter::check(
            &mut e,
            cohort == Cohort::Lost,
            cohort == Cohort::Assigned,
            &self.contact,
            &self.called,
            &self.speed,
        );
        let figures_scope = match self.scope.as_str() {
            "" => FigureScope::List,
            "figures" => FigureScope::Figures,
            "own" => FigureScope::Own,
            _ => {
                e.add("scope", "must be figures or own (or left out)");
                FigureScope::List
            }
        };
        if !matches!(self.sort.as_str(), "" | "newest" | "oldest") {
            e.add("sort", "must be newest or oldest");
        }
        if !matches!(self.referrer.as_str(), "" | "past_client" | "partner") {
            e.add("referrer", "must be past_client or partner");
        }
        if !matches!(self.queue.as_str(), "" | "unassigned") {
            e.add("queue", "must be unassigned");
        }
        if !matches!(self.age.as_str(), "" | "today" | "7d" | "30d" | "older") {
            e.add("age", "must be today, 7d, 30d or older");
        }
        if !self.after.is_empty() {
            if let Err(AppError::Validation(more)) = decode_cursor(&self.after) {
                for m in more.0.into_values().flatten() {
                    e.add("after", m);
                }
            }
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(Checked {
            cohort,
            from,
            to,
            team,
            lo,
            reached,
            lost_from,
            stale,
            open,
            load,
            uncontacted,
            calls,
            figures_scope,
            partner,
        })
    }

    /// `lost_from`: the won-path position reached before the change to lost (only with cohort `lost`).
    fn lost_from_pos(&self, e: &mut FieldErrors, cohort: Cohort) -> Option<i32> {
        match self.lost_from.as_str() {
            "" => None,
            _ if cohort != Cohort::Lost => {
                e.add("lost_from", "goes with cohort=lost");
                None
            }
            s => match WON_PATH.iter().position(|w| *w == s) {
                Some(i) => Some(i as i32 + 1),
                None => {
                    e.add("lost_from", "must be a stage of the won path (new … funded)");
                    None
                }
            },
        }
    }

    /// Every parameter of the filter with its value, in the list's order (the export and links keep them).
    pub fn pairs(&self) -> [(&'static str, &String); 27] {
        [
            ("stage", &self.stage),
            ("source", &self.source),
            ("age", &self.age),
            ("state", &self.state),
            ("purpose", &self.purpose),
            ("lo", &self.lo),
            ("q", &self.q),
            ("sort", &self.sort),
            ("queue", &self.queue),
            ("from", &self.from),
            ("to", &self.to),
            ("team", &self.team),
            ("campaign", &self.campaign),
            ("reached", &self.reached),
            ("stale", &self.stale),
            ("lost_reason", &self.lost_reason),
            ("cohort", &self.cohort),
            ("open", &self.open),
            ("scope", &self.scope),
            ("partner", &self.partner),
            ("referrer", &self.referrer),
            ("lost_from", &self.lost_from),
            ("load", &self.load),
            ("uncontacted", &self.uncontacted),
            ("contact", &self.contact),
            ("speed", &self.speed),
            ("called", &self.called),
        ]
    }

    /// The filter as a query string (without `after`), for pagination and export links.
    pub fn query_string(&self) -> String {
        self.pairs()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", crate::error::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The drill-down filters the list's form has no input for, so a refined search keeps them (everything
    /// after `queue` in [`LeadFilter::pairs`]).
    pub fn hidden_pairs(&self) -> Vec<(&'static str, String)> {
        self.pairs()
            .into_iter()
            .skip_while(|(k, _)| *k != "queue")
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, v.clone()))
            .collect()
    }

    /// Whether any parameter narrows the list (sort order, page size and cursor do not).
    pub fn narrows(&self) -> bool {
        self.pairs().iter().any(|(k, v)| *k != "sort" && !v.is_empty())
    }

    fn oldest_first(&self) -> bool {
        self.sort == "oldest"
    }
}

pub(crate) fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

pub(crate) fn decode_cursor(s: &str) -> Result<(DateTime<Utc>, Uuid), AppError> {
    let bad = || AppError::invalid("after", "not a cursor from this list");
    let (t, id) = s.split_once('_').ok_or_else(bad)?;
    let micros: i64 = t.parse().map_err(|_| bad())?;
    Ok((DateTime::from_timestamp_micros(micros).ok_or_else(bad)?, Uuid::parse_str(id).map_err(|_| bad())?))
}

pub(crate) use crate::state::day_start;

/// `col >= start of from` and `col < start of to`.
pub(crate) fn push_days(qb: &mut QueryBuilder<'_, Postgres>, col: &str, c: &Checked, tz: chrono_tz::Tz) {
    if let Some(d) = c.from {
        qb.push(format_args!(" AND {col} >= ")).push_bind(day_start(tz, d));
    }
    if let Some(d) = c.to {
        qb.push(format_args!(" AND {col} < ")).push_bind(day_start(tz, d));
    }
}

/// Appends the filter's WHERE conditions (after `WHERE true` and the scope) for table alias `l`.
pub(crate) fn push_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    f: &LeadFilter,
    state: &AppState,
    user: &CurrentUser,
) -> AppResult<()> {
    push_filter_over(qb, f, state, user, false)
}

/// The filter; `pinned`: the cohort's fact must be the outer query's `fact` row (one assignment or one change to
/// lost), so a count over `leads l JOIN … fact` counts the figure's facts, not its leads.
pub(super) fn push_filter_over(
    qb: &mut QueryBuilder<'_, Postgres>,
    f: &LeadFilter,
    state: &AppState,
    user: &CurrentUser,
    pinned: bool,
) -> AppResult<()> {
    let c = f.check().map_err(AppError::Validation)?;
    if !f.q.trim().is_empty() && !user.sees_borrowers() {
        // A search by name, phone or email would tell who is a borrower.
        return Err(AppError::invalid("q", "searching by borrower is not available to your role"));
    }
    let now = state.clock.now();
    let tz = state.config.timezone;
    // The scope the user's figures are counted in, over the owner columns of the cohort's fact.
    let figures = match c.figures_scope {
        FigureScope::List => None,
        FigureScope::Figures => Some(user.metrics_scope()?),
        FigureScope::Own => Some(crate::auth::Scope::own(user.id)),
    };
    // Whose rows: the user's lead list; a figure's list is bounded instead by the figure's scope over the fact
    // it counts (`push_cohort`), so its total equals the figure even where the lead has since left the user
    // (its row then shows no borrower: `LeadRow::in_scope`).
    if figures.is_none() {
        user.lead_list_scope().push_lead_predicate(qb, "l");
    }
    if !f.stage.is_empty() && c.reached.is_none() {
        qb.push(" AND l.stage = ").push_bind(f.stage.clone());
    }
    if !f.source.is_empty() {
        qb.push(" AND l.source = ").push_bind(f.source.to_lowercase());
    }
    if !f.state.is_empty() {
        qb.push(" AND l.property_state = ").push_bind(f.state.to_uppercase());
    }
    if !f.purpose.is_empty() {
        qb.push(" AND l.loan_purpose = ").push_bind(f.purpose.clone());
    }
    if !f.campaign.is_empty() {
        qb.push(" AND l.campaign = ").push_bind(f.campaign.clone());
    }
    if let Some(p) = c.partner {
        qb.push(" AND l.referral_partner_id = ").push_bind(p);
    }
    match f.referrer.as_str() {
        "past_client" => {
            qb.push(" AND l.referred_by_loan_id IS NOT NULL");
        }
        "partner" => {
            qb.push(" AND l.referral_partner_id IS NOT NULL");
        }
        _ => {}
    }
    push_cohort(qb, f, &c, tz, figures.as_ref(), pinned);
    if c.open {
        qb.push(" AND metrics_won_pos(l.stage) BETWEEN 1 AND 7");
    }
    if c.load {
        // As routing counts an LO's load (`lo_open_leads`): a stage of kind open in the lead's pipeline.
        qb.push(" AND EXISTS (SELECT 1 FROM stages sk WHERE sk.pipeline_id = l.pipeline_id AND sk.key = l.stage AND sk.kind = 'open')");
    }
    if c.uncontacted {
        qb.push(" AND l.first_contact_at IS NULL");
    }
    if c.stale {
        // As the dashboard counts stale leads: in an open stage longer than the stage's stale_after_days.
        qb.push(
            " AND EXISTS (SELECT 1 FROM stages st WHERE st.pipeline_id = l.pipeline_id AND st.key = l.stage
               AND st.kind = 'open' AND st.stale_after_days IS NOT NULL
               AND l.stage_changed_at < ",
        )
        .push_bind(now)
        .push(" - make_interval(days => st.stale_after_days))");
    }
    if f.queue == "unassigned" {
        qb.push(" AND l.assigned_lo_id IS NULL");
    }
    match f.age.as_str() {
        "today" => {
            qb.push(" AND l.created_at >= ").push_bind(now - chrono::Duration::days(1));
        }
        "7d" => {
            qb.push(" AND l.created_at >= ").push_bind(now - chrono::Duration::days(7));
        }
        "30d" => {
            qb.push(" AND l.created_at >= ").push_bind(now - chrono::Duration::days(30));
        }
        "older" => {
            qb.push(" AND l.created_at < ").push_bind(now - chrono::Duration::days(30));
        }
        _ => {}
    }
    push_search(qb, f.q.trim());
    Ok(())
}

/// The figure's cohort: which leads, by which date, team and LO the figure counts (see `Cohort`).
fn push_cohort(
    qb: &mut QueryBuilder<'_, Postgres>,
    f: &LeadFilter,
    c: &Checked,
    tz: chrono_tz::Tz,
    figures: Option<&crate::auth::Scope>,
    pinned: bool,
) {
    match c.cohort {
        // Leads by the day they were created, their current team and LO (metrics kind `lead`, `open`).
        Cohort::Created => {
            push_days(qb, "l.created_at", c, tz);
            if let Some(t) = c.team {
                qb.push(" AND l.team_id = ").push_bind(t);
            }
            if !c.lo.is_empty() {
                qb.push(" AND l.assigned_lo_id = ANY(").push_bind(c.lo.clone()).push(")");
            }
            c.calls.push_created(qb);
            if let Some(s) = figures {
                s.push_lead_predicate(qb, "l");
            }
            if let Some(pos) = c.reached.filter(|p| *p > 1) {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM stage_changes s WHERE s.lead_id = l.id
                       AND metrics_won_pos(s.to_stage) >= ",
                )
                .push_bind(pos)
                .push(")");
            }
        }
        // Leads with an assignment to an LO in the range (metrics kind `assignment`): team and LO are the
        // assignment's; a stage counts when the change to it was made by that LO while the assignment lasted
        // (until the lead's next assignment).
        Cohort::Assigned => {
            qb.push(
                " AND EXISTS (SELECT 1 FROM (SELECT a.id, a.created_at, a.to_lo_id AS assigned_lo_id,
                       coalesce(a.to_team_id, l.team_id) AS team_id
                   FROM assignments a WHERE a.lead_id = l.id AND a.to_lo_id IS NOT NULL) a WHERE true",
            );
            push_days(qb, "a.created_at", c, tz);
            if let Some(t) = c.team {
                qb.push(" AND a.team_id = ").push_bind(t);
            }
            if !c.lo.is_empty() {
                qb.push(" AND a.assigned_lo_id = ANY(").push_bind(c.lo.clone()).push(")");
            }
            if let Some(s) = figures {
                s.push_lead_predicate(qb, "a");
            }
            c.calls.push_assigned(qb);
            if pinned {
                qb.push(" AND a.id = fact.id");
            }
            if let Some(pos) = c.reached.filter(|p| *p > 1) {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM stage_changes s WHERE s.lead_id = l.id
                       AND s.lo_id = a.assigned_lo_id AND s.created_at >= a.created_at
                       AND NOT EXISTS (SELECT 1 FROM assignments a2 WHERE a2.lead_id = l.id
                                         AND (a2.created_at, a2.id) > (a.created_at, a.id)
                                         AND a2.created_at <= s.created_at)
                       AND metrics_won_pos(s.to_stage) >= ",
                )
                .push_bind(pos)
                .push(")");
            }
            qb.push(")");
        }
        // Leads by the day they were created with a change to lost (metrics kind `lost`): the LO is the one on
        // that change, the reason that change's (`unspecified` when none was given).
        Cohort::Lost => {
            push_days(qb, "l.created_at", c, tz);
            if let Some(t) = c.team {
                qb.push(" AND l.team_id = ").push_bind(t);
            }
            qb.push(
                " AND EXISTS (SELECT 1 FROM (SELECT s.id, s.lo_id AS assigned_lo_id, l.team_id AS team_id,
                       coalesce(s.lost_reason, 'unspecified') AS reason
                       , (SELECT greatest(1, max(metrics_won_pos(p.to_stage))) FROM stage_changes p
                          WHERE p.lead_id = s.lead_id AND (p.created_at, p.id) < (s.created_at, s.id)) AS reached_pos
                   FROM stage_changes s WHERE s.lead_id = l.id AND s.to_stage = 'lost') x WHERE true",
            );
            if !f.lost_reason.is_empty() {
                qb.push(" AND x.reason = ").push_bind(f.lost_reason.clone());
            }
            if let Some(pos) = c.lost_from {
                qb.push(" AND x.reached_pos = ").push_bind(pos);
            }
            if !c.lo.is_empty() {
                qb.push(" AND x.assigned_lo_id = ANY(").push_bind(c.lo.clone()).push(")");
            }
            if let Some(s) = figures {
                s.push_lead_predicate(qb, "x");
            }
            if pinned {
                qb.push(" AND x.id = fact.id");
            }
            qb.push(")");
        }
    }
}

/// The search box: an exact email, an exact phone, or the start of a last name ("first last": both).
fn push_search(qb: &mut QueryBuilder<'_, Postgres>, q: &str) {
    if !q.is_empty() {
        if q.contains('@') {
            qb.push(" AND lower(l.email) = lower(").push_bind(q.to_string()).push(")");
        } else if let Ok(phone) = model::normalize_phone(q) {
            qb.push(" AND l.phone = ").push_bind(phone);
        } else {
            let like = |s: &str| {
                format!("{}%", s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
            };
            match q.split_once(' ') {
                Some((first, last)) => {
                    qb.push(" AND lower(l.first_name) LIKE ").push_bind(like(first.trim()));
                    qb.push(" AND lower(l.last_name) LIKE ").push_bind(like(last.trim()));
                }
                None => {
                    qb.push(" AND lower(l.last_name) LIKE ").push_bind(like(q));
                }
            }
        }
    }
}

/// One page of the leads the user may see, newest (or oldest) first, with the cursor of the next page (and,
/// with `own_list`, the signed-in LO's whole-list total on every row: see [`row_select`]).
pub(super) async fn list_rows(
    state: &AppState,
    user: &CurrentUser,
    f: &LeadFilter,
    own_list: bool,
) -> AppResult<(Vec<LeadRow>, Option<String>)> {
    let limit = f.limit.unwrap_or(50).clamp(1, 200);
    let mut qb = row_select(&user.lead_list_scope(), own_list.then_some(user));
    push_filter(&mut qb, f, state, user)?;
    let (cmp, dir) = if f.oldest_first() { (">", "ASC") } else { ("<", "DESC") };
    if !f.after.is_empty() {
        let (at, id) = decode_cursor(&f.after)?;
        qb.push(format_args!(" AND (l.created_at, l.id) {cmp} (")).push_bind(at).push(", ").push_bind(id).push(")");
    }
    qb.push(format_args!(" ORDER BY l.created_at {dir}, l.id {dir}"));
    crate::db::push_limit(&mut qb, limit + 1);
    let mut rows = fetch_rows(state, qb).await?;
    for r in rows.iter_mut().filter(|r| !user.sees_borrowers() || !r.in_scope) {
        r.first_name.clear();
        r.last_name.clear();
        r.email = None;
        r.phone = None;
    }
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(r.created_at, r.id))
    } else {
        None
    };
    Ok((rows, next))
}

/// The ids of the leads matching the filter that the user may work (their scope, as the export's), newest
/// first, at most `cap` (a bulk send checks whether more match by asking for one more).
pub async fn matching_ids(state: &AppState, user: &CurrentUser, f: &LeadFilter, cap: i64) -> AppResult<Vec<Uuid>> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT l.id FROM leads l WHERE true");
    user.scope().push_lead_predicate(&mut qb, "l");
    push_filter(&mut qb, f, state, user)?;
    qb.push(" ORDER BY l.created_at DESC, l.id DESC");
    crate::db::push_limit(&mut qb, cap);
    Ok(qb.build_query_scalar().fetch_all(&state.db).await?)
}

/// All leads matching the filter that the user may see, streamed in pages (for the CSV export).
pub async fn export_page(
    state: &AppState,
    user: &CurrentUser,
    f: &LeadFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> AppResult<Vec<Lead>> {
    let mut qb = QueryBuilder::<Postgres>::new(LEAD_SELECT);
    qb.push(" WHERE true");
    user.scope().push_lead_predicate(&mut qb, "l");
    push_filter(&mut qb, f, state, user)?;
    if let Some((at, id)) = after {
        qb.push(" AND (l.created_at, l.id) < (").push_bind(at).push(", ").push_bind(id).push(")");
    }
    qb.push(" ORDER BY l.created_at DESC, l.id DESC");
    crate::db::push_limit(&mut qb, limit);
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}
