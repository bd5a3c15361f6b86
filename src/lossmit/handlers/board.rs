//! The specialist's queue and the supervisor's deadline board (caseload, deadlines, breaches, reassignment,
//! the business-day calendar).

use super::*;

// ---------------------------------------------------------------- queue

/// A case in the queue (the page's row, and the API's).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = CaseQueueRow)]
pub struct QueueRow {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    /// The stage's name.
    pub stage: &'static str,
    pub days_delinquent: i64,
    /// The specialist's name, or `Unassigned`.
    pub specialist: String,
    /// The nearest open deadline's name (empty when none is due).
    pub next_label: String,
    /// Its day, `YYYY-MM-DD` (empty when none is due).
    pub next_due: String,
    #[serde(skip)]
    pub next_sort: Option<NaiveDate>,
    /// How many deadlines were missed.
    pub breached: usize,
    /// Where the application stands.
    pub application: &'static str,
}

/// The answer to `GET /api/v1/lossmit/cases`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CaseQueue {
    /// Nearest open deadline first.
    pub items: Vec<QueueRow>,
    /// What the report figure behind the filter counts, in `unit`.
    pub total: usize,
    /// `case`, `decision`, or a clock status's `… deadline` (`met deadline`, `breached deadline`, `due deadline`).
    pub unit: String,
}

/// The queue's filters (`GET /api/v1/lossmit/cases`), as the report figures link to them; any other parameter
/// is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQueueParams {
    /// A case stage key.
    pub stage: Option<String>,
    /// An age bucket of days delinquent: `0` (0–30) to `4` (121+).
    pub age: Option<u8>,
    /// A specialist's id, or `none` for unassigned cases.
    pub specialist: Option<String>,
    /// Cases with a deadline `met`, `breached` or `due` (counts deadlines).
    pub clock: Option<String>,
    /// Resolved cases with this resolution.
    pub resolution: Option<String>,
    /// `cured_or_modified` or `redefaulted`.
    pub history: Option<String>,
    /// `1`: decided after a complete application.
    pub decided: Option<String>,
    /// A loss-mitigation option's decisions (counts decisions); goes with `approved`.
    pub option: Option<String>,
    /// `yes` or `no`; goes with `option`.
    pub approved: Option<String>,
}

pub(crate) fn queue_row(c: &CaseRow, today: NaiveDate) -> QueueRow {
    let d = c.deadlines(today);
    let next = d.iter().filter(|x| x.status == ClockStatus::Due).min_by_key(|x| x.due_on);
    QueueRow {
        id: c.id,
        loan_number: c.loan_number.clone(),
        borrower_name: c.borrower_name.clone(),
        stage: c.stage_label(),
        days_delinquent: clocks::days_delinquent(c.first_unpaid_due_date, today),
        specialist: c.specialist_name.clone().unwrap_or_else(|| "Unassigned".into()),
        next_label: next.map(|x| x.label.to_string()).unwrap_or_default(),
        next_due: next.map(|x| x.due_on.to_string()).unwrap_or_default(),
        next_sort: next.map(|x| x.due_on),
        breached: d.iter().filter(|x| x.status == ClockStatus::Breached).count(),
        application: c.application_status(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/queue.html")]
pub(crate) struct QueuePage {
    ctx: PageCtx,
    rows: Vec<QueueRow>,
    supervisor: bool,
    today: NaiveDate,
    /// The report figure this list is behind ("Evaluation, 31–60 days delinquent"), if any.
    filtered: Option<Filtered>,
}

/// Which cases the report figure behind a link counts (`/lossmit?…`): a stage and age bucket (the stage-by-age
/// table), a specialist and a clock status (deadlines per specialist), a resolution (cure rate) or the cases'
/// history (re-default). Anything else is a 422 naming it.
#[derive(Debug, Default)]
pub(crate) struct CaseFilter {
    stage: Option<Stage>,
    /// Index of [`reports::AGE_BUCKETS`].
    age: Option<usize>,
    /// A specialist, or `Some(None)` for unassigned cases.
    specialist: Option<Option<Uuid>>,
    clock: Option<ClockStatus>,
    resolution: Option<String>,
    history: Option<History>,
    /// Decided after a complete application (the time-to-decision figure).
    decided: bool,
    /// An option's decisions, approved or denied (the option mix): counts decisions, as a clock counts deadlines.
    option: Option<&'static str>,
    approved: Option<bool>,
}

/// A case's past, as the re-default figure counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum History {
    /// Ever resolved as cured or modified.
    CuredOrModified,
    /// Resolved as cured or modified and later reopened.
    Redefaulted,
}

const CASE_PARAMS: &str = "stage, age, specialist, clock, resolution, history, decided, option, approved";

impl CaseFilter {
    fn parse(pairs: &[(String, String)]) -> AppResult<CaseFilter> {
        let mut errors = FieldErrors::new();
        let mut f = CaseFilter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "stage" => match Stage::ALL.iter().find(|s| s.as_str() == v) {
                    Some(s) => f.stage = Some(*s),
                    None => errors.add("stage", "not a case stage"),
                },
                "age" => match v.parse::<usize>().ok().filter(|i| *i < reports::AGE_BUCKETS.len()) {
                    Some(i) => f.age = Some(i),
                    None => errors.add("age", "must be 0 to 4 (0–30 … 121+ days delinquent)"),
                },
                "specialist" => match v.as_str() {
                    "none" => f.specialist = Some(None),
                    s => match Uuid::parse_str(s) {
                        Ok(id) => f.specialist = Some(Some(id)),
                        Err(_) => errors.add("specialist", "not a specialist id (or none)"),
                    },
                },
                "clock" => match [ClockStatus::Met, ClockStatus::Breached, ClockStatus::Due]
                    .into_iter()
                    .find(|c| c.as_str() == v)
                {
                    Some(c) => f.clock = Some(c),
                    None => errors.add("clock", "must be met, breached or due"),
                },
                "resolution" => match Resolution::ALL.iter().find(|r| r.as_str() == v) {
                    Some(r) => f.resolution = Some(r.as_str().to_string()),
                    None => errors.add("resolution", "not a resolution"),
                },
                "history" => match v.as_str() {
                    "cured_or_modified" => f.history = Some(History::CuredOrModified),
                    "redefaulted" => f.history = Some(History::Redefaulted),
                    _ => errors.add("history", "must be cured_or_modified or redefaulted"),
                },
                "decided" => match v.as_str() {
                    "1" => f.decided = true,
                    _ => errors.add("decided", "must be 1"),
                },
                "option" => match LossMitOption::ALL.iter().find(|o| o.as_str() == v) {
                    Some(o) => f.option = Some(o.as_str()),
                    None => errors.add("option", "not a loss-mitigation option"),
                },
                "approved" => match v.as_str() {
                    "yes" => f.approved = Some(true),
                    "no" => f.approved = Some(false),
                    _ => errors.add("approved", "must be yes or no"),
                },
                other => errors.add(other, format!("is not a filter of the case list (known: {CASE_PARAMS})")),
            }
        }
        if f.option.is_some() != f.approved.is_some() {
            errors.add("option", "option and approved go together");
        }
        errors.into_result()?;
        Ok(f)
    }

    fn is_empty(&self) -> bool {
        self.stage.is_none()
            && self.age.is_none()
            && self.specialist.is_none()
            && self.clock.is_none()
            && self.resolution.is_none()
            && self.history.is_none()
            && !self.decided
            && self.option.is_none()
    }

    /// Resolved cases are listed under a resolved stage, a resolution, a clock or a history; otherwise open ones.
    fn includes_resolved(&self) -> bool {
        self.stage.is_some_and(|s| s.as_str() == "resolved")
            || self.resolution.is_some()
            || self.clock.is_some()
            || self.history.is_some()
            || self.decided
            || self.option.is_some()
    }

    /// What the list's total counts: cases, a clock figure's deadlines, an option figure's decisions.
    fn unit(&self) -> String {
        match (self.clock, self.option) {
            (Some(c), _) => format!("{} deadline", c.as_str()),
            (None, Some(_)) => "decision".into(),
            (None, None) => "case".into(),
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(self.stage.map(|s| s.label().to_string()));
        parts.extend(self.age.map(|a| format!("{} days delinquent", reports::AGE_BUCKETS[a])));
        parts.extend(self.clock.map(|c| format!("with a {} deadline", c.as_str())));
        parts.extend(self.resolution.as_ref().map(|r| format!("resolved as {}", r.replace('_', " "))));
        parts.extend(self.history.map(|h| match h {
            History::CuredOrModified => "ever cured or modified".to_string(),
            History::Redefaulted => "re-defaulted after a cure or modification".to_string(),
        }));
        if self.decided {
            parts.push("decided after a complete application".into());
        }
        parts.extend(
            self.option.map(|o| format!("{o} {}", if self.approved == Some(true) { "approved" } else { "denied" })),
        );
        parts.join(", ")
    }
}

pub(crate) async fn queue(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    // Who may see cases before what they asked for: a refusal never depends on the query.
    user.require(&store::CASE_ROLES)?;
    let f = CaseFilter::parse(&pairs)?;
    let (rows, total) = filtered_queue(&state, &user, &f).await?;
    let filtered = (!f.is_empty()).then(|| Filtered { described: f.describe(), total, unit: f.unit() });
    Ok(QueuePage { ctx, rows, supervisor: user.may_see_case(None), today: state.today(), filtered })
}

/// `GET /api/v1/lossmit/cases`: the queue with the page's filters (`stage`, `age`, `specialist`, `clock`,
/// `resolution`, `history`, `decided`, `option`, `approved`); `total` counts what the report figure counts, in
/// `unit` (cases, deadlines or decisions).
pub(crate) async fn api_queue(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<axum::Json<CaseQueue>> {
    user.require(&store::CASE_ROLES)?;
    let f = CaseFilter::parse(&pairs)?;
    let (items, total) = filtered_queue(&state, &user, &f).await?;
    Ok(axum::Json(CaseQueue { items, total, unit: f.unit() }))
}

/// The cases the user may see behind the filter, nearest open deadline first, and the total of what the figure
/// behind the filter counts (cases, or deadlines for a clock figure, decisions for an option figure).
async fn filtered_queue(state: &AppState, user: &CurrentUser, f: &CaseFilter) -> AppResult<(Vec<QueueRow>, usize)> {
    let today = state.today();
    let history = match f.history {
        Some(h) => Some(reports::history_cases(&state.db, h).await?),
        None => None,
    };
    let cases: Vec<CaseRow> = store::visible_cases(&state.db, user, f.includes_resolved())
        .await?
        .into_iter()
        .filter(|c| f.stage.is_none_or(|s| c.stage == s.as_str()))
        .filter(|c| f.age.is_none_or(|a| reports::age_bucket(c, today) == a))
        .filter(|c| f.specialist.is_none_or(|s| c.specialist_id == s))
        .filter(|c| f.resolution.is_none() || c.resolution == f.resolution)
        .filter(|c| history.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .collect();
    let option = match (f.option, f.approved) {
        (Some(o), Some(a)) => Some(reports::option_decisions(&state.db, o, a).await?),
        _ => None,
    };
    let cases = cases.into_iter().filter(|c| !f.decided || reports::decided_after_complete(c));
    // A clock or option figure counts deadlines or decisions, not cases: the list shows the cases and totals
    // what the figure counts.
    let with: Vec<(CaseRow, usize)> = cases
        .map(|c| {
            let n = match (f.clock, &option) {
                (Some(status), _) => reports::servicer_clocks(&c, today).filter(|d| d.status == status).count(),
                (None, Some(per)) => per.get(&c.id).copied().unwrap_or(0),
                (None, None) => 1,
            };
            (c, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let deadlines = with.iter().map(|(_, n)| n).sum();
    let cases: Vec<CaseRow> = with.into_iter().map(|(c, _)| c).collect();
    let mut rows: Vec<QueueRow> = cases.iter().map(|c| queue_row(c, today)).collect();
    // Nearest open deadline first; cases with none last.
    rows.sort_by(|a, b| {
        (a.next_sort.is_none(), a.next_sort, &a.loan_number).cmp(&(b.next_sort.is_none(), b.next_sort, &b.loan_number))
    });
    Ok((rows, deadlines))
}

/// The report figure a filtered list is behind: its total (cases, or deadlines for a clock figure).
pub struct Filtered {
    pub described: String,
    pub total: usize,
    pub unit: String,
}

// ---------------------------------------------------------------- board

pub struct CaseloadRow {
    pub name: String,
    pub open: usize,
    pub due_this_week: usize,
    pub breached: usize,
}

pub struct DeadlineRow {
    pub case_id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub specialist: String,
    pub label: &'static str,
    pub rule: &'static str,
    pub due_on: NaiveDate,
    /// The payment due date whose cycle this is (the duties that repeat).
    pub cycle_due_on: Option<NaiveDate>,
}

pub struct BoardCase {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub specialist_id: Option<Uuid>,
    pub specialist: String,
    pub version: i32,
}

impl BoardCase {
    fn assigned_to(&self, id: &Uuid) -> bool {
        self.specialist_id.as_ref() == Some(id)
    }
}

impl BoardPage {
    fn error_for(&self, id: &Uuid) -> bool {
        self.error_case.as_ref() == Some(id)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/board.html")]
pub(crate) struct BoardPage {
    ctx: PageCtx,
    today: NaiveDate,
    week_end: NaiveDate,
    caseload: Vec<CaseloadRow>,
    due_week: Vec<DeadlineRow>,
    breaches: Vec<DeadlineRow>,
    cases: Vec<BoardCase>,
    specialists: Vec<Specialist>,
    errors: FieldErrors,
    error_case: Option<Uuid>,
    calendar: Calendar,
    servicer: crate::lossmit::letters::ServicerContact,
    admin: bool,
}

/// The board; `servicer_input` is the servicer contact as typed when its form was refused.
pub(crate) async fn board_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    errors: FieldErrors,
    error_case: Option<Uuid>,
    servicer_input: Option<crate::lossmit::letters::ServicerContact>,
) -> AppResult<impl IntoResponse + use<>> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let cases = store::visible_cases(&state.db, user, false).await?;
    let specialists = store::specialists(&state.db).await?;
    let today = state.today();
    let week_end = today + Duration::days(7);
    let mut load: BTreeMap<String, CaseloadRow> = specialists
        .iter()
        .map(|s| (s.name.clone(), CaseloadRow { name: s.name.clone(), open: 0, due_this_week: 0, breached: 0 }))
        .collect();
    let (mut due_week, mut breaches) = (Vec::new(), Vec::new());
    // Unanswered notices of error and information requests run their own clocks beside the case's.
    let mut requests =
        crate::lossmit::requests::open_deadlines(&state.db, &cases.iter().collect::<Vec<_>>(), today).await?;
    for c in &cases {
        let name = c.specialist_name.clone().unwrap_or_else(|| "Unassigned".into());
        let row = load.entry(name.clone()).or_insert_with(|| CaseloadRow {
            name: name.clone(),
            open: 0,
            due_this_week: 0,
            breached: 0,
        });
        row.open += 1;
        for d in c.deadlines(today).into_iter().chain(requests.remove(&c.id).unwrap_or_default()) {
            let line = || DeadlineRow {
                case_id: c.id,
                loan_number: c.loan_number.clone(),
                borrower_name: c.borrower_name.clone(),
                specialist: name.clone(),
                label: d.label,
                rule: d.rule,
                due_on: d.due_on,
                cycle_due_on: d.cycle_due_on,
            };
            match d.status {
                ClockStatus::Due if d.due_on <= week_end => {
                    row.due_this_week += 1;
                    due_week.push(line());
                }
                ClockStatus::Breached => {
                    row.breached += 1;
                    breaches.push(line());
                }
                _ => {}
            }
        }
    }
    due_week.sort_by_key(|d| d.due_on);
    breaches.sort_by_key(|d| d.due_on);
    let board_cases = cases
        .iter()
        .map(|c| BoardCase {
            id: c.id,
            loan_number: c.loan_number.clone(),
            borrower_name: c.borrower_name.clone(),
            specialist_id: c.specialist_id,
            specialist: c.specialist_name.clone().unwrap_or_else(|| "Unassigned".into()),
            version: c.version,
        })
        .collect();
    Ok(BoardPage {
        ctx,
        today,
        week_end,
        caseload: load.into_values().collect(),
        due_week,
        breaches,
        cases: board_cases,
        specialists,
        errors,
        error_case,
        calendar: store::calendar(&state.db).await?,
        servicer: match servicer_input {
            Some(typed) => typed,
            None => crate::lossmit::letters::servicer_contact(&state.db).await?,
        },
        admin: user.role == Role::Admin,
    })
}

pub(crate) async fn board(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    board_page(&state, &user, ctx, FieldErrors::new(), None, None).await
}

/// `POST /lossmit/settings` (admins): whether days observed in lieu of a weekend legal public holiday are
/// business days.
pub(crate) async fn set_calendar(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(m): Form<Input>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let observed_in_lieu_is_business_day = match val(&m, "observed_in_lieu") {
        "business_day" => true,
        "holiday" => false,
        _ => return Err(AppError::invalid("observed_in_lieu", "Choose business day or holiday.")),
    };
    store::set_calendar(&state.db, &user, Calendar { observed_in_lieu_is_business_day }).await?;
    Flash::push(&session, "success", "Business-day calendar saved.").await;
    Ok(Redirect::to("/lossmit/board").into_response())
}

pub(crate) async fn reassign(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(m): Form<Input>,
) -> AppResult<Response> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let case = store::visible_case(&state.db, &user, id).await?;
    let mut e = FieldErrors::new();
    let to = val(&m, "specialist_id").parse::<Uuid>().ok();
    if to.is_none() {
        e.add("specialist_id", "Choose a specialist.");
    }
    let version = val(&m, "version").parse::<i32>().unwrap_or(-1);
    let result = match to {
        Some(to) if e.is_empty() => {
            store::reassign(&state.db, &user, case.id, to, version, val(&m, "reason"), state.today()).await
        }
        _ => Err(AppError::Validation(e)),
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", format!("Case {} reassigned.", case.loan_number)).await;
            Ok(Redirect::to("/lossmit/board").into_response())
        }
        Err(AppError::Validation(e)) => {
            let page = board_page(&state, &user, ctx, e, Some(id), None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}
