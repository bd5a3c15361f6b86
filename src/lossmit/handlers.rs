//! Loss-mitigation pages: the specialist's queue, the supervisor's deadline board, the case page with its
//! forms, printable letters, the case export and the reports. Thin: extract, authorise, call the store,
//! render.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use tower_sessions::Session;
use uuid::Uuid;

use super::api::{CaseJson, next_digest, today};
use super::calendar::Calendar;
use super::clocks::{self, ClockStatus, Deadline, ForeclosureStep};
use super::model::{
    self, ContactChannel, Document, Hardship, LossMitOption, NoticeKind, Resolution, Stage, parse_money,
};
use super::options::{format_bps, format_cents, ratios};
use super::requests;
use super::store::{self, Assessment, CaseRow, DecisionRow, RecordLine, Specialist};
use super::workout::{self, OptionCard, Scenario};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, PageCtx, Routes};

type Input = HashMap<String, String>;

pub fn router() -> Routes {
    Routes::new()
        .route("/lossmit", &["GET"], get(queue))
        .route("/lossmit/board", &["GET"], get(board))
        .route("/lossmit/reports", &["GET"], get(reports))
        .route("/lossmit/settings", &["POST"], post(set_calendar))
        .route("/lossmit/cases", &["POST"], post(create))
        .route("/lossmit/cases/new", &["GET"], get(new_case))
        .route("/lossmit/cases/{id}", &["GET"], get(show))
        .route("/lossmit/cases/{id}/contacts", &["POST"], post(add_contact))
        .route("/lossmit/cases/{id}/notices", &["POST"], post(add_notice))
        .route("/lossmit/cases/{id}/documents", &["POST"], post(add_document))
        .route("/lossmit/cases/{id}/application", &["POST"], post(add_application))
        .route("/lossmit/cases/{id}/assessment", &["POST"], post(add_assessment))
        .route("/lossmit/cases/{id}/decisions", &["POST"], post(add_decision))
        .route("/lossmit/cases/{id}/reinstatement", &["POST"], post(add_reinstatement))
        .route("/lossmit/cases/{id}/requests", &["POST"], post(add_request))
        .route("/lossmit/cases/{id}/requests/progress", &["POST"], post(add_request_progress))
        .route("/lossmit/cases/{id}/appeals", &["POST"], post(add_appeal))
        .route("/lossmit/cases/{id}/appeal-decision", &["POST"], post(add_appeal_decision))
        .route("/lossmit/cases/{id}/foreclosure-steps", &["POST"], post(add_foreclosure_step))
        .route("/lossmit/cases/{id}/stage", &["POST"], post(change_stage))
        .route("/lossmit/cases/{id}/sale-date", &["POST"], post(set_sale_date))
        .route("/lossmit/cases/{id}/reassign", &["POST"], post(reassign))
        .route("/lossmit/cases/{id}/export", &["GET"], get(export))
}

fn val<'a>(m: &'a Input, k: &str) -> &'a str {
    m.get(k).map(|s| s.trim()).unwrap_or("")
}

fn req_date(m: &Input, k: &str, e: &mut FieldErrors) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(val(m, k), "%Y-%m-%d") {
        Ok(d) if model::plausible_date(d) => Some(d),
        _ => {
            e.add(k, "Enter a date (YYYY-MM-DD).");
            None
        }
    }
}

fn opt_date(m: &Input, k: &str, e: &mut FieldErrors) -> Option<NaiveDate> {
    if val(m, k).is_empty() { None } else { req_date(m, k, e) }
}

fn req_money(m: &Input, k: &str, e: &mut FieldErrors) -> i64 {
    let v = val(m, k);
    if v.is_empty() {
        return 0;
    }
    parse_money(v).unwrap_or_else(|| {
        e.add(k, "Enter an amount in dollars, e.g. 1234.56.");
        0
    })
}

// ---------------------------------------------------------------- queue

pub struct QueueRow {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub stage: &'static str,
    pub days_delinquent: i64,
    pub specialist: String,
    pub next_label: String,
    pub next_due: String,
    pub next_sort: Option<NaiveDate>,
    pub breached: usize,
    pub application: &'static str,
}

fn queue_row(c: &CaseRow, today: NaiveDate) -> QueueRow {
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
struct QueuePage {
    ctx: PageCtx,
    rows: Vec<QueueRow>,
    supervisor: bool,
    today: NaiveDate,
}

async fn queue(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    let cases = store::visible_cases(&state.db, &user, false).await?;
    let today = today(&state);
    let mut rows: Vec<QueueRow> = cases.iter().map(|c| queue_row(c, today)).collect();
    // Nearest open deadline first; cases with none last.
    rows.sort_by(|a, b| {
        (a.next_sort.is_none(), a.next_sort, &a.loan_number).cmp(&(b.next_sort.is_none(), b.next_sort, &b.loan_number))
    });
    Ok(QueuePage { ctx, rows, supervisor: user.may_see_case(None), today })
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
struct BoardPage {
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
    servicer: super::letters::ServicerContact,
    admin: bool,
}

/// The board; `servicer_input` is the servicer contact as typed when its form was refused.
pub(super) async fn board_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    errors: FieldErrors,
    error_case: Option<Uuid>,
    servicer_input: Option<super::letters::ServicerContact>,
) -> AppResult<impl IntoResponse + use<>> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let cases = store::visible_cases(&state.db, user, false).await?;
    let specialists = store::specialists(&state.db).await?;
    let today = today(state);
    let week_end = today + Duration::days(7);
    let mut load: BTreeMap<String, CaseloadRow> = specialists
        .iter()
        .map(|s| (s.name.clone(), CaseloadRow { name: s.name.clone(), open: 0, due_this_week: 0, breached: 0 }))
        .collect();
    let (mut due_week, mut breaches) = (Vec::new(), Vec::new());
    // Unanswered notices of error and information requests run their own clocks beside the case's.
    let mut requests = super::requests::open_deadlines(&state.db, &cases.iter().collect::<Vec<_>>(), today).await?;
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
            None => super::letters::servicer_contact(&state.db).await?,
        },
        admin: user.role == Role::Admin,
    })
}

async fn board(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    board_page(&state, &user, ctx, FieldErrors::new(), None, None).await
}

/// `POST /lossmit/settings` (admins): whether days observed in lieu of a weekend legal public holiday are
/// business days.
async fn set_calendar(
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

async fn reassign(
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
            store::reassign(&state.db, &user, case.id, to, version, val(&m, "reason"), today(&state)).await
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

// ---------------------------------------------------------------- new case

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/new.html")]
struct NewCasePage {
    ctx: PageCtx,
    specialists: Vec<Specialist>,
    errors: FieldErrors,
    input: Input,
}

impl NewCasePage {
    fn v(&self, k: &str) -> String {
        val(&self.input, k).to_string()
    }
    fn investors(&self) -> Vec<(&'static str, &'static str)> {
        model::Investor::ALL.iter().map(|i| (i.as_str(), i.label())).collect()
    }
}

async fn new_case(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let specialists = store::specialists(&state.db).await?;
    Ok(NewCasePage { ctx, specialists, errors: FieldErrors::new(), input: Input::new() })
}

fn parse_new_case(m: &Input) -> (Option<model::NewCase>, FieldErrors) {
    let mut e = FieldErrors::new();
    let upb = req_money(m, "upb", &mut e);
    let pi = req_money(m, "monthly_pi", &mut e);
    let escrow = req_money(m, "monthly_escrow", &mut e);
    let rate = val(m, "note_rate").parse::<f64>().unwrap_or_else(|_| {
        e.add("note_rate", "Enter the note rate as a percent, e.g. 6.875.");
        0.0
    });
    let term = val(m, "remaining_term_months").parse::<i32>().unwrap_or_else(|_| {
        e.add("remaining_term_months", "Enter the remaining term in months.");
        0
    });
    let due = req_date(m, "first_unpaid_due_date", &mut e);
    let sale = opt_date(m, "sale_date", &mut e);
    let Some(due) = due else { return (None, e) };
    let mut c = model::NewCase {
        loan_number: val(m, "loan_number").into(),
        borrower_name: val(m, "borrower_name").into(),
        co_borrower_name: val(m, "co_borrower_name").into(),
        borrower_phone: val(m, "borrower_phone").into(),
        borrower_email: val(m, "borrower_email").into(),
        property_address: val(m, "property_address").into(),
        property_state: val(m, "property_state").into(),
        investor: val(m, "investor").into(),
        upb_cents: upb,
        note_rate: rate,
        remaining_term_months: term,
        monthly_pi_cents: pi,
        monthly_escrow_cents: escrow,
        first_unpaid_due_date: due,
        sale_date: sale,
        specialist_email: Some(val(m, "specialist_email").to_string()),
    };
    // The form's dollar fields are named differently from the API's cents fields.
    let more = c.normalise_and_validate();
    for (k, msgs) in more.0 {
        let k = match k.as_str() {
            "upb_cents" => "upb",
            "monthly_pi_cents" => "monthly_pi",
            "monthly_escrow_cents" => "monthly_escrow",
            other => other,
        }
        .to_string();
        if e.get(&k).is_none() {
            for msg in msgs {
                e.add(&k, msg);
            }
        }
    }
    (Some(c), e)
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(m): Form<Input>,
) -> AppResult<Response> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let (case, errors) = parse_new_case(&m);
    let result = match case {
        Some(c) if errors.is_empty() => {
            store::create_case(&state.db, &user, c, today(&state), next_digest(&state)).await
        }
        _ => Err(AppError::Validation(errors)),
    };
    match result {
        Ok(id) => {
            Flash::push(&session, "success", "Case opened.").await;
            Ok(Redirect::to(&format!("/lossmit/cases/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let specialists = store::specialists(&state.db).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, NewCasePage { ctx, specialists, errors, input: m }).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- case page

pub struct DocLine {
    pub key: &'static str,
    pub label: &'static str,
    pub received_on: Option<NaiveDate>,
}

/// A notice of error or request for information on the case page, with its two clocks.
pub struct RequestLine {
    pub request: requests::BorrowerRequest,
    pub kind: &'static str,
    pub category: &'static str,
    pub outcome: &'static str,
    pub ack: Deadline,
    pub answer: Deadline,
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/case.html")]
struct CasePage {
    ctx: PageCtx,
    case: CaseRow,
    today: NaiveDate,
    days_delinquent: i64,
    arrears: String,
    deadlines: Vec<Deadline>,
    records: Vec<RecordLine>,
    checklist: Vec<DocLine>,
    missing: usize,
    assessment: Option<Assessment>,
    finance: Vec<(String, String)>,
    scenario: Scenario,
    cards: Vec<OptionCard>,
    decisions: Vec<DecisionRow>,
    applications: Vec<store::ApplicationLine>,
    requests: Vec<RequestLine>,
    errors: FieldErrors,
    input: Input,
    alert: Option<String>,
    dual_tracking: Option<String>,
    supervisor: bool,
}

impl CasePage {
    fn v(&self, k: &str) -> String {
        val(&self.input, k).to_string()
    }
    fn money(&self, c: &i64) -> String {
        format_cents(*c)
    }
    /// An assessment input: what was typed, else the latest assessment's amount.
    fn a_input(&self, k: &str) -> String {
        if let Some(v) = self.input.get(k) {
            return v.clone();
        }
        let Some(a) = &self.assessment else { return String::new() };
        let cents = match k {
            "wages" => a.wages_cents,
            "self_employment" => a.self_employment_cents,
            "benefits" => a.benefits_cents,
            "rental" => a.rental_cents,
            "other_income" => a.other_income_cents,
            "other_debts" => a.other_debts_cents,
            "living_expenses" => a.living_expenses_cents,
            _ => return String::new(),
        };
        model::cents_input(cents)
    }
    fn channels(&self) -> &'static [ContactChannel] {
        ContactChannel::ALL
    }
    fn notice_kinds(&self) -> &'static [NoticeKind] {
        NoticeKind::ALL
    }
    fn documents(&self) -> &'static [Document] {
        Document::ALL
    }
    fn hardships(&self) -> &'static [Hardship] {
        Hardship::ALL
    }
    fn option_kinds(&self) -> [LossMitOption; 5] {
        LossMitOption::STANDARD
    }
    /// The evaluation form's choice for an option: what was typed, else nothing.
    fn outcome_is(&self, option: &LossMitOption, outcome: &str) -> bool {
        self.input.get(&format!("outcome_{}", option.as_str())).is_some_and(|v| v == outcome)
    }
    fn err(&self, key: &str) -> String {
        self.errors.get(key).map(|m| m.to_string()).unwrap_or_default()
    }
    fn request_kinds(&self) -> &'static [(&'static str, &'static str)] {
        &requests::KINDS
    }
    fn request_categories(&self) -> &'static [(&'static str, &'static str)] {
        &requests::CATEGORIES
    }
    fn request_channels(&self) -> &'static [&'static str] {
        &requests::CHANNELS
    }
    fn request_outcomes(&self) -> &'static [(&'static str, &'static str)] {
        &requests::OUTCOMES
    }
    fn stages(&self) -> &'static [Stage] {
        Stage::ALL
    }
    fn resolutions(&self) -> &'static [Resolution] {
        Resolution::ALL
    }
    fn steps(&self) -> [ForeclosureStep; 3] {
        ForeclosureStep::ALL
    }
    fn option_label(&self, key: &str) -> &'static str {
        LossMitOption::parse(key).map(LossMitOption::label).unwrap_or("")
    }
    fn hardship_selected(&self, key: &str) -> bool {
        match self.input.get("hardship_reason") {
            Some(v) => v == key,
            None => self.assessment.as_ref().is_some_and(|a| a.hardship_reason == key),
        }
    }
    fn permanent_selected(&self) -> bool {
        match self.input.get("hardship_duration") {
            Some(v) => v == "permanent",
            None => self.assessment.as_ref().is_some_and(|a| a.hardship_duration == "permanent"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn case_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    case: CaseRow,
    errors: FieldErrors,
    input: Input,
    alert: Option<String>,
) -> AppResult<CasePage> {
    let today = today(state);
    let records = store::records(&state.db, case.id).await?;
    let received = store::documents_received(&state.db, &case).await?;
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let decisions = store::decisions(&state.db, case.id).await?;
    let applications = store::applications(&state.db, &case).await?;
    let cal = Calendar { observed_in_lieu_is_business_day: case.observed_in_lieu_is_business_day };
    let requests: Vec<RequestLine> = requests::list(&state.db, case.id)
        .await?
        .into_iter()
        .map(|r| {
            let [ack, answer] = requests::deadlines(&r, case.sale_date, &cal, today);
            RequestLine {
                kind: requests::label_of(&requests::KINDS, &r.kind),
                category: requests::label_of(&requests::CATEGORIES, &r.category),
                outcome: requests::label_of(&requests::OUTCOMES, r.response_outcome.as_deref().unwrap_or("")),
                request: r,
                ack,
                answer,
            }
        })
        .collect();
    let checklist: Vec<DocLine> = model::REQUIRED_DOCUMENTS
        .iter()
        .map(|d| DocLine {
            key: d.as_str(),
            label: d.label(),
            received_on: received.iter().find(|(x, _)| x == d).map(|(_, on)| *on),
        })
        .collect();
    let missing = checklist.iter().filter(|d| d.received_on.is_none()).count();
    let scenario = Scenario::from_input(&case, &input);
    let cards = workout::run(&case, assessment.as_ref(), &scenario, today);
    let piti = case.monthly_pi_cents + case.monthly_escrow_cents;
    let finance = match &assessment {
        Some(a) => {
            let r = ratios(piti, a.other_debts_cents, a.gross_income_cents());
            vec![
                ("Gross monthly income".into(), format_cents(a.gross_income_cents())),
                ("Current housing payment (PITI)".into(), format_cents(piti)),
                ("Other monthly debts".into(), format_cents(a.other_debts_cents)),
                ("Living expenses".into(), format_cents(a.living_expenses_cents)),
                ("Housing ratio".into(), r.housing_bps.map(format_bps).unwrap_or_else(|| "—".into())),
                ("DTI".into(), r.dti_bps.map(format_bps).unwrap_or_else(|| "—".into())),
                (
                    "Monthly surplus".into(),
                    format_cents(a.gross_income_cents() - piti - a.other_debts_cents - a.living_expenses_cents),
                ),
                ("Hardship".into(), format!("{} ({})", a.hardship_label(), a.hardship_duration)),
            ]
        }
        None => vec![],
    };
    let dual_tracking = if clocks::application_pending(&case.facts(), today) {
        Some(format!(
            "A complete application is pending: {} and {} block foreclosure steps.",
            clocks::RULE_FIRST_FILING_PENDING,
            clocks::RULE_DUAL_TRACKING
        ))
    } else {
        None
    };
    Ok(CasePage {
        ctx,
        days_delinquent: clocks::days_delinquent(case.first_unpaid_due_date, today),
        arrears: format_cents(model::arrears_cents(
            case.first_unpaid_due_date,
            today,
            case.monthly_pi_cents,
            case.monthly_escrow_cents,
        )),
        deadlines: case.deadlines(today),
        case,
        today,
        records,
        checklist,
        missing,
        assessment,
        finance,
        scenario,
        cards,
        decisions,
        applications,
        requests,
        errors,
        input,
        alert,
        dual_tracking,
        supervisor: user.may_see_case(None),
    })
}

async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<Input>,
) -> AppResult<impl IntoResponse> {
    let case = store::visible_case(&state.db, &user, id).await?;
    case_page(&state, &user, ctx, case, FieldErrors::new(), q, None).await
}

/// Ends a case-page form: success → flash and back to the case (PRG); invalid input → the page again with
/// the input and messages (422); a refusal (conflict) → the page with the refusal shown (409).
async fn finish(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    session: &Session,
    case: CaseRow,
    input: Input,
    result: AppResult<String>,
) -> AppResult<Response> {
    match result {
        Ok(msg) => {
            Flash::push(session, "success", msg).await;
            Ok(Redirect::to(&format!("/lossmit/cases/{}", case.id)).into_response())
        }
        Err(AppError::Validation(e)) => {
            let page = case_page(state, user, ctx, case, e, input, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(AppError::Conflict(msg)) => {
            let page = case_page(state, user, ctx, case, FieldErrors::new(), input, Some(msg)).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e),
    }
}

macro_rules! case_form {
    ($name:ident, |$state:ident, $user:ident, $case:ident, $m:ident, $e:ident, $today:ident| $body:block) => {
        async fn $name(
            $user: CurrentUser,
            ctx: PageCtx,
            session: Session,
            State($state): State<AppState>,
            Path(id): Path<Uuid>,
            Form($m): Form<Input>,
        ) -> AppResult<Response> {
            let $case = store::visible_case(&$state.db, &$user, id).await?;
            let $today = today(&$state);
            let mut $e = FieldErrors::new();
            let result: AppResult<String> = async { $body }.await;
            finish(&$state, &$user, ctx, &session, $case, $m, result).await
        }
    };
}

case_form!(add_contact, |state, user, case, m, e, today| {
    let on = req_date(&m, "occurred_on", &mut e);
    let channel = ContactChannel::parse(val(&m, "channel"));
    if channel.is_none() {
        e.add("channel", "Choose how the borrower was contacted.");
    }
    let (Some(on), Some(channel)) = (on, channel) else { return Err(AppError::Validation(e)) };
    e.into_result()?;
    let live = val(&m, "live_contact") == "on";
    let c = store::NewContact { occurred_on: on, channel, live_contact: live, outcome: val(&m, "outcome").into() };
    store::record_contact(&state.db, &user, &case, c, today).await?;
    Ok(if live { "Live contact recorded.".into() } else { "Contact attempt recorded.".into() })
});

case_form!(add_notice, |state, user, case, m, e, today| {
    let on = req_date(&m, "sent_on", &mut e);
    let kind = NoticeKind::parse(val(&m, "kind"));
    if kind.is_none() {
        e.add("kind", "Choose the notice.");
    }
    let (Some(on), Some(kind)) = (on, kind) else { return Err(AppError::Validation(e)) };
    store::record_notice(&state.db, &user, &case, kind, on, val(&m, "note"), today).await?;
    Ok(format!("{} recorded as sent.", kind.label()))
});

case_form!(add_document, |state, user, case, m, e, today| {
    let on = req_date(&m, "document_received_on", &mut e);
    let doc = Document::parse(val(&m, "document"));
    if doc.is_none() {
        e.add("document", "Choose the document.");
    }
    let (Some(on), Some(doc)) = (on, doc) else { return Err(AppError::Validation(e)) };
    let complete = store::record_document(&state.db, &user, &case, doc, on, val(&m, "document_note"), today).await?;
    Ok(if complete {
        "Document received: the application is now complete.".into()
    } else {
        "Document received.".into()
    })
});

case_form!(add_application, |state, user, case, m, e, today| {
    let received = req_date(&m, "received_on", &mut e);
    let complete = opt_date(&m, "complete_on", &mut e);
    let Some(received) = received else { return Err(AppError::Validation(e)) };
    e.into_result()?;
    store::record_application(&state.db, &user, &case, received, complete, today).await?;
    Ok("Application recorded.".into())
});

case_form!(add_assessment, |state, user, case, m, e, today| {
    let _ = today;
    let a = Assessment {
        wages_cents: req_money(&m, "wages", &mut e),
        self_employment_cents: req_money(&m, "self_employment", &mut e),
        benefits_cents: req_money(&m, "benefits", &mut e),
        rental_cents: req_money(&m, "rental", &mut e),
        other_income_cents: req_money(&m, "other_income", &mut e),
        other_debts_cents: req_money(&m, "other_debts", &mut e),
        living_expenses_cents: req_money(&m, "living_expenses", &mut e),
        hardship_reason: val(&m, "hardship_reason").into(),
        hardship_duration: val(&m, "hardship_duration").into(),
        note: val(&m, "assessment_note").into(),
    };
    if Hardship::parse(&a.hardship_reason).is_none() {
        e.add("hardship_reason", "Choose the hardship.");
    }
    if !matches!(a.hardship_duration.as_str(), "temporary" | "permanent") {
        e.add("hardship_duration", "Is the hardship temporary or permanent?");
    }
    e.into_result()?;
    store::record_assessment(&state.db, &user, &case, &a).await?;
    Ok("Financial assessment recorded.".into())
});

/// The evaluation's decisions from a form or a JSON body: `outcome_<option>` (`approved`/`denied`) and
/// `reason_<option>` for every standard option, and optionally `program_name`, `program_outcome`,
/// `program_reason` for an investor program.
pub fn parse_evaluation(
    case: &CaseRow,
    assessment: Option<&Assessment>,
    m: &Input,
    e: &mut FieldErrors,
    today: NaiveDate,
) -> Vec<store::NewDecision> {
    let cards = workout::run(case, assessment, &Scenario::from_input(case, m), today);
    let mut out = Vec::new();
    for o in LossMitOption::STANDARD {
        let approved = match val(m, &format!("outcome_{}", o.as_str())) {
            "approved" => true,
            "denied" => false,
            _ => {
                e.add(&format!("outcome_{}", o.as_str()), "Approved or denied?");
                continue;
            }
        };
        let reason = val(m, &format!("reason_{}", o.as_str()));
        if !approved && reason.trim().is_empty() {
            e.add(&format!("reason_{}", o.as_str()), "A denial needs the specific reason (it goes into the letter).");
        }
        out.push(store::NewDecision {
            option: o,
            program: String::new(),
            approved,
            reason: reason.into(),
            terms: if approved { workout::terms_for(&cards, o) } else { serde_json::json!({}) },
        });
    }
    let program = val(m, "program_name").trim();
    let program_outcome = val(m, "program_outcome");
    if !program.is_empty() || !program_outcome.is_empty() {
        match program_outcome {
            "approved" | "denied" => out.push(store::NewDecision {
                option: LossMitOption::InvestorProgram,
                program: program.into(),
                approved: program_outcome == "approved",
                reason: val(m, "program_reason").into(),
                terms: serde_json::json!({}),
            }),
            _ => e.add("program_outcome", "Approved or denied?"),
        }
    }
    out
}

case_form!(add_decision, |state, user, case, m, e, today| {
    let on = req_date(&m, "decided_on", &mut e);
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let decisions = parse_evaluation(&case, assessment.as_ref(), &m, &mut e, today);
    let Some(on) = on.filter(|_| e.is_empty()) else { return Err(AppError::Validation(e)) };
    let approved: Vec<&str> = decisions.iter().filter(|d| d.approved).map(|d| d.option.label()).collect();
    store::record_evaluation(&state.db, &user, &case, on, decisions, today).await?;
    Ok(if approved.is_empty() {
        "Evaluation recorded: every option denied.".to_string()
    } else {
        format!("Evaluation recorded: {} approved.", approved.join(", "))
    })
});

case_form!(add_request, |state, user, case, m, e, today| {
    let on = req_date(&m, "request_received_on", &mut e);
    let Some(on) = on else { return Err(AppError::Validation(e)) };
    let r = requests::NewRequest {
        kind: val(&m, "request_kind").into(),
        category: val(&m, "request_category").into(),
        channel: val(&m, "request_channel").into(),
        received_on: on,
        summary: val(&m, "request_summary").into(),
    };
    requests::record(&state.db, &user, &case, &r, today).await?;
    Ok(format!("{} recorded.", requests::label_of(&requests::KINDS, &r.kind)))
});

case_form!(add_request_progress, |state, user, case, m, e, today| {
    let _ = today;
    let on = req_date(&m, "progress_on", &mut e);
    let id = val(&m, "request_id").parse::<i64>().ok();
    if id.is_none() {
        e.add("request_id", "Choose the request.");
    }
    let (Some(on), Some(request_id)) = (on, id) else { return Err(AppError::Validation(e)) };
    let p = requests::Progress {
        request_id,
        step: val(&m, "step").into(),
        on,
        outcome: val(&m, "outcome").into(),
        explanation: val(&m, "explanation").into(),
    };
    requests::record_progress(&state, &user, &case, &p).await?;
    Ok(match p.step.as_str() {
        "responded" => "Answer recorded and its letter filed.".to_string(),
        "extended" => "Extension recorded.".to_string(),
        _ => "Acknowledgment recorded.".to_string(),
    })
});

case_form!(add_reinstatement, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "current_on", &mut e) else { return Err(AppError::Validation(e)) };
    store::record_reinstatement(&state.db, &user, &case, on, val(&m, "reinstatement_note"), today).await?;
    Ok("Recorded: the borrower was brought current.".into())
});

case_form!(add_appeal, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "filed_on", &mut e) else { return Err(AppError::Validation(e)) };
    store::record_appeal(&state.db, &user, &case, on, today).await?;
    Ok("Appeal recorded.".into())
});

case_form!(add_appeal_decision, |state, user, case, m, e, today| {
    let Some(on) = req_date(&m, "appeal_decided_on", &mut e) else { return Err(AppError::Validation(e)) };
    let granted = val(&m, "appeal_outcome") == "granted";
    store::record_appeal_decision(&state.db, &user, &case, on, granted, val(&m, "appeal_reason"), today).await?;
    Ok("Appeal decision recorded.".into())
});

case_form!(add_foreclosure_step, |state, user, case, m, e, today| {
    let on = req_date(&m, "step_on", &mut e);
    let step = ForeclosureStep::parse(val(&m, "step"));
    if step.is_none() {
        e.add("step", "Choose the foreclosure step.");
    }
    let (Some(on), Some(step)) = (on, step) else { return Err(AppError::Validation(e)) };
    if on > today {
        return Err(AppError::invalid("step_on", "The date cannot be in the future."));
    }
    store::record_foreclosure_step(&state.db, &user, case.id, step, on).await?;
    Ok(format!("{} recorded.", step.label()))
});

case_form!(change_stage, |state, user, case, m, e, today| {
    let stage = Stage::parse(val(&m, "stage"));
    if stage.is_none() {
        e.add("stage", "Choose a stage.");
    }
    let resolution = Resolution::parse(val(&m, "resolution"));
    let version = val(&m, "version").parse::<i32>().unwrap_or(-1);
    let Some(stage) = stage else { return Err(AppError::Validation(e)) };
    store::change_stage(&state.db, &user, case.id, stage, resolution, version, today).await?;
    Ok(format!("Stage set to {}.", stage.label()))
});

case_form!(set_sale_date, |state, user, case, m, e, today| {
    let _ = today;
    let sale = opt_date(&m, "sale_date", &mut e);
    e.into_result()?;
    let version = val(&m, "version").parse::<i32>().unwrap_or(-1);
    store::set_sale_date(&state.db, &user, &case, sale, version).await?;
    Ok(match sale {
        Some(d) => format!("Foreclosure sale scheduled for {d}."),
        None => "Foreclosure sale date cleared.".into(),
    })
});

// ---------------------------------------------------------------- export

/// A text cell a spreadsheet will not run as a formula (leading `=`, `+`, `-`, `@`, tab or CR get a `'`).
pub fn spreadsheet_safe(s: &str) -> String {
    crate::web::csv::safe_cell(s).into_owned()
}

#[derive(serde::Deserialize, Default)]
struct FormatQuery {
    #[serde(default)]
    format: String,
}

async fn export(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<FormatQuery>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let today = today(&state);
    let records = store::records(&state.db, case.id).await?;
    let decisions = store::decisions(&state.db, case.id).await?;
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let name = format!("lossmit-{}", case.loan_number.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"));
    if q.format == "csv" {
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| AppError::Internal(e.into());
        w.write_record(["record", "on", "kind", "detail", "flag", "actor", "recorded_at"]).map_err(csv_err)?;
        w.write_record([
            "case",
            &case.created_at.date_naive().to_string(),
            &case.stage,
            &spreadsheet_safe(&format!("{} / {}", case.loan_number, case.borrower_name)),
            "",
            "",
            &case.created_at.to_rfc3339(),
        ])
        .map_err(csv_err)?;
        for d in case.deadlines(today) {
            w.write_record(["deadline", &d.due_on.to_string(), d.key, d.rule, d.status.as_str(), "", ""])
                .map_err(csv_err)?;
        }
        for r in &records {
            w.write_record([
                r.record.as_str(),
                &r.on.to_string(),
                &r.kind,
                &spreadsheet_safe(&r.detail),
                if r.flag { "yes" } else { "no" },
                &spreadsheet_safe(r.actor.as_deref().unwrap_or("")),
                &r.created_at.to_rfc3339(),
            ])
            .map_err(csv_err)?;
        }
        let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
            ],
            body,
        )
            .into_response());
    }
    let body = serde_json::json!({
        "case": CaseJson::from_row(&case, today),
        "borrower": {"name": case.borrower_name, "co_borrower": case.co_borrower_name, "phone": case.borrower_phone, "email": case.borrower_email},
        "assessment": assessment,
        "decisions": decisions,
        "records": records,
        "exported_on": today,
    });
    Ok(([(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.json\""))], axum::Json(body))
        .into_response())
}

// ---------------------------------------------------------------- reports

pub struct StageAgeRow {
    pub stage: &'static str,
    pub buckets: [usize; 5],
    pub total: usize,
}

pub struct SpecialistClockRow {
    pub name: String,
    pub met: usize,
    pub breached: usize,
    pub due: usize,
    pub met_rate: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/reports.html")]
struct ReportsPage {
    ctx: PageCtx,
    by_stage: Vec<StageAgeRow>,
    clocks: Vec<SpecialistClockRow>,
    decided: usize,
    avg_days_to_decision: String,
    median_days_to_decision: String,
    option_mix: Vec<(String, usize, usize)>,
    resolved: usize,
    cured: usize,
    cure_rate: String,
    cured_or_modified: usize,
    redefaulted: usize,
    redefault_rate: String,
    overdue_requests: Vec<DeadlineRow>,
}

const AGE_BUCKETS: [&str; 5] = ["0–30", "31–60", "61–90", "91–120", "121+"];

fn rate(n: usize, d: usize) -> String {
    if d == 0 { "—".into() } else { format_bps(((n as i64) * 10_000 * 2 + d as i64) / (2 * d as i64)) }
}

async fn reports(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
) -> AppResult<Response> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let today = today(&state);
    let cases = store::visible_cases(&state.db, &user, true).await?;
    let facts = store::report_facts(&state.db).await?;
    let by_stage: Vec<StageAgeRow> = Stage::ALL
        .iter()
        .map(|s| {
            let mut buckets = [0usize; 5];
            for c in cases.iter().filter(|c| c.stage == s.as_str()) {
                let age = clocks::days_delinquent(c.first_unpaid_due_date, c.resolved_on.unwrap_or(today));
                let i = match age {
                    ..=30 => 0,
                    31..=60 => 1,
                    61..=90 => 2,
                    91..=120 => 3,
                    _ => 4,
                };
                buckets[i] += 1;
            }
            StageAgeRow { stage: s.label(), total: buckets.iter().sum(), buckets }
        })
        .collect();
    let mut per: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for c in &cases {
        let e = per.entry(c.specialist_name.clone().unwrap_or_else(|| "Unassigned".into())).or_default();
        for d in c.deadlines(today) {
            if d.key == "first_filing_earliest" || d.key == "appeal" {
                continue; // not the servicer's performance
            }
            match d.status {
                ClockStatus::Met => e.0 += 1,
                ClockStatus::Breached => e.1 += 1,
                ClockStatus::Due => e.2 += 1,
            }
        }
    }
    let clocks_rows: Vec<SpecialistClockRow> = per
        .into_iter()
        .map(|(name, (met, breached, due))| SpecialistClockRow {
            name,
            met,
            breached,
            due,
            met_rate: rate(met, met + breached),
        })
        .collect();
    let mut days: Vec<i64> = cases
        .iter()
        .filter_map(|c| match (c.app_complete_on, c.decided_on) {
            (Some(a), Some(b)) => Some((b - a).num_days()),
            _ => None,
        })
        .collect();
    days.sort();
    let decided = days.len();
    let avg =
        if decided == 0 { "—".into() } else { format!("{:.1}", days.iter().sum::<i64>() as f64 / decided as f64) };
    let median = if decided == 0 {
        "—".into()
    } else if decided % 2 == 1 {
        days[decided / 2].to_string()
    } else {
        format!("{:.1}", (days[decided / 2 - 1] + days[decided / 2]) as f64 / 2.0)
    };
    let option_mix: Vec<(String, usize, usize)> = LossMitOption::ALL
        .iter()
        .map(|o| {
            let of = facts.decisions.iter().filter(|d| d.1 == o.as_str());
            let approved = of.clone().filter(|d| d.2).count();
            (o.label().to_string(), approved, of.count() - approved)
        })
        .collect();
    let resolved = cases.iter().filter(|c| c.stage == "resolved").count();
    let cured = cases.iter().filter(|c| c.resolution.as_deref() == Some("cured")).count();
    let ever: std::collections::HashSet<Uuid> = facts.ever_cured_or_modified.iter().copied().collect();
    let redefaulted = facts.reopened_after_cure.len();
    // Notices of error and requests for information past their acknowledgment or answer date, still not done.
    let open: Vec<&CaseRow> = cases.iter().filter(|c| c.is_open()).collect();
    let request_clocks = requests::open_deadlines(&state.db, &open, today).await?;
    let mut overdue_requests: Vec<DeadlineRow> = open
        .iter()
        .flat_map(|c| {
            request_clocks
                .get(&c.id)
                .into_iter()
                .flatten()
                .filter(|d| d.status == ClockStatus::Breached && d.done_on.is_none())
                .map(|d| DeadlineRow {
                    case_id: c.id,
                    loan_number: c.loan_number.clone(),
                    borrower_name: c.borrower_name.clone(),
                    specialist: c.specialist_name.clone().unwrap_or_default(),
                    label: d.label,
                    rule: d.rule,
                    due_on: d.due_on,
                    cycle_due_on: None,
                })
        })
        .collect();
    overdue_requests.sort_by_key(|d| d.due_on);
    let page = ReportsPage {
        ctx,
        by_stage,
        clocks: clocks_rows,
        decided,
        avg_days_to_decision: avg,
        median_days_to_decision: median,
        option_mix,
        resolved,
        cured,
        cure_rate: rate(cured, resolved),
        cured_or_modified: ever.len(),
        redefaulted,
        redefault_rate: rate(redefaulted, ever.len()),
        overdue_requests,
    };
    if q.format == "csv" {
        let mut w = csv::Writer::from_writer(Vec::new());
        let err = |e: csv::Error| AppError::Internal(e.into());
        w.write_record(["section", "key", "a", "b", "c", "d", "e"]).map_err(err)?;
        for r in &page.by_stage {
            let b: Vec<String> = r.buckets.iter().map(|x| x.to_string()).collect();
            w.write_record(["stage_by_age", r.stage, &b[0], &b[1], &b[2], &b[3], &b[4]]).map_err(err)?;
        }
        for r in &page.clocks {
            w.write_record([
                "deadlines_per_specialist",
                &spreadsheet_safe(&r.name),
                &r.met.to_string(),
                &r.breached.to_string(),
                &r.due.to_string(),
                &r.met_rate,
                "",
            ])
            .map_err(err)?;
        }
        w.write_record([
            "time_to_decision_days",
            "decided",
            &page.decided.to_string(),
            &page.avg_days_to_decision,
            &page.median_days_to_decision,
            "",
            "",
        ])
        .map_err(err)?;
        for (o, a, d) in &page.option_mix {
            w.write_record(["option_mix", o, &a.to_string(), &d.to_string(), "", "", ""]).map_err(err)?;
        }
        w.write_record([
            "cure_rate",
            "cured/resolved",
            &page.cured.to_string(),
            &page.resolved.to_string(),
            &page.cure_rate,
            "",
            "",
        ])
        .map_err(err)?;
        w.write_record([
            "redefault_rate",
            "reopened/cured_or_modified",
            &page.redefaulted.to_string(),
            &page.cured_or_modified.to_string(),
            &page.redefault_rate,
            "",
            "",
        ])
        .map_err(err)?;
        let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"lossmit-report.csv\""),
            ],
            body,
        )
            .into_response());
    }
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("Called borrower"), "Called borrower");
    }
}
