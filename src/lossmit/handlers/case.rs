//! The case page: everything about one case, re-rendered with the input and messages when a form is refused.

use super::*;

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
pub(crate) struct CasePage {
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
    departments: super::forward::CaseDepartments,
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
pub(crate) async fn case_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    case: CaseRow,
    errors: FieldErrors,
    input: Input,
    alert: Option<String>,
) -> AppResult<CasePage> {
    let today = state.today();
    let departments = super::forward::case_departments(state, user, &case, &input).await?;
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
        departments,
    })
}

pub(crate) async fn show(
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
pub(crate) async fn finish(
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
