//! The borrower letters Regulation X requires, rendered for print and filed on the case as records nothing can
//! change (issue 18 item 9): the early-intervention written notice (12 CFR 1024.39(b)(2)), the acknowledgment
//! of an application (1024.41(b)(2)(i)(B)), the notice that the application is complete (1024.41(c)(3)) and the
//! decision letter with each option's outcome (1024.41(c)(1)(ii), (d)).
//!
//! Each letter is a template of its own that renders the letter alone; the page shows it with a button that
//! files it: the rendered letter is stored with its SHA-256 (`lossmit_letters`, which a trigger keeps from being
//! updated or deleted) and the matching notice is recorded as sent today, in one transaction.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::PgPool;
use tower_sessions::Session;
use uuid::Uuid;

use super::clocks;
use super::model::{self, Document, LossMitOption, NoticeKind};
use super::options::{format_bps, format_cents};
use super::store::{self, CaseRow, DecisionRow};
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::auth::PageCtx;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::{Flash, Routes};

/// The letters, by the path segment that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterKind {
    EarlyIntervention,
    Acknowledgment,
    CompleteApplication,
    Decision,
}

impl LetterKind {
    pub const ALL: [LetterKind; 4] = [
        LetterKind::EarlyIntervention,
        LetterKind::Acknowledgment,
        LetterKind::CompleteApplication,
        LetterKind::Decision,
    ];
    pub fn slug(self) -> &'static str {
        match self {
            LetterKind::EarlyIntervention => "early-intervention",
            LetterKind::Acknowledgment => "acknowledgment",
            LetterKind::CompleteApplication => "complete-application",
            LetterKind::Decision => "decision",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            LetterKind::EarlyIntervention => "Early-intervention written notice",
            LetterKind::Acknowledgment => "Application acknowledgment",
            LetterKind::CompleteApplication => "Notice that the application is complete",
            LetterKind::Decision => "Decision letter",
        }
    }
    /// The notice recorded when the letter is filed (it satisfies that notice's clock).
    pub fn notice(self) -> NoticeKind {
        match self {
            LetterKind::EarlyIntervention => NoticeKind::EarlyIntervention,
            LetterKind::Acknowledgment => NoticeKind::Acknowledgment,
            LetterKind::CompleteApplication => NoticeKind::CompleteApplication,
            LetterKind::Decision => NoticeKind::Decision,
        }
    }
    /// The letter's page (GET shows it, POST files it).
    pub fn path(self) -> &'static str {
        match self {
            LetterKind::EarlyIntervention => "/lossmit/cases/{id}/letters/early-intervention",
            LetterKind::Acknowledgment => "/lossmit/cases/{id}/letters/acknowledgment",
            LetterKind::CompleteApplication => "/lossmit/cases/{id}/letters/complete-application",
            LetterKind::Decision => "/lossmit/cases/{id}/letters/decision",
        }
    }
}

/// How the borrower reaches the servicer: the letters must give it (1024.39(b)(2)(ii)). An organisation setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicerContact {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub hours: String,
}

pub const SETTING_SERVICER_CONTACT: &str = "lossmit.servicer_contact";

pub async fn servicer_contact<'e>(db: impl sqlx::PgExecutor<'e>) -> AppResult<ServicerContact> {
    let v = sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", SETTING_SERVICER_CONTACT)
        .fetch_optional(db)
        .await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

impl ServicerContact {
    /// The contact as the lines under a letter or an email.
    pub fn lines(&self) -> String {
        [&self.name, &self.phone, &self.address, &self.hours]
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Saves the servicer's contact details (admins and supervisors), audit-logged in the same transaction.
pub async fn set_servicer_contact(db: &PgPool, user: &CurrentUser, contact: &ServicerContact) -> AppResult<()> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let mut errors = crate::error::FieldErrors::new();
    if contact.name.trim().is_empty() {
        errors.add("servicer_name", "Give the servicer's name as the letters should show it.");
    }
    if contact.phone.chars().filter(char::is_ascii_digit).count() < 10 {
        errors.add("servicer_phone", "Give a telephone number with its area code (1024.39(b)(2)(ii)).");
    }
    errors.into_result()?;
    let before = servicer_contact(db).await?;
    let after = serde_json::to_value(contact).map_err(anyhow::Error::from)?;
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        SETTING_SERVICER_CONTACT,
        after
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "setting_changed", "setting", SETTING_SERVICER_CONTACT)
        .before(serde_json::to_value(&before).map_err(anyhow::Error::from)?)
        .after(after)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- the letters

#[derive(Template)]
#[template(path = "lossmit/letters/early_intervention.html")]
struct EarlyInterventionLetter {
    case: CaseRow,
    today: NaiveDate,
    servicer: ServicerContact,
    options: Vec<(&'static str, &'static str)>,
    documents: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "lossmit/letters/acknowledgment.html")]
struct AckLetter {
    case: CaseRow,
    today: NaiveDate,
    servicer: ServicerContact,
    received_on: NaiveDate,
    missing: Vec<&'static str>,
    respond_by: NaiveDate,
}

#[derive(Template)]
#[template(path = "lossmit/letters/complete_application.html")]
struct CompleteLetter {
    case: CaseRow,
    today: NaiveDate,
    servicer: ServicerContact,
    complete_on: NaiveDate,
    evaluate_by: NaiveDate,
    protected: bool,
}

/// One option in a decision letter.
pub struct LetterOption {
    pub label: String,
    pub approved: bool,
    pub reason: String,
    pub terms: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "lossmit/letters/decision.html")]
struct DecisionLetter {
    case: CaseRow,
    today: NaiveDate,
    servicer: ServicerContact,
    decided_on: NaiveDate,
    options: Vec<LetterOption>,
    any_approved: bool,
    modification_denied: bool,
    appeal_by: Option<NaiveDate>,
    accept_by: NaiveDate,
}

fn shown_terms(terms: &serde_json::Value) -> Vec<(String, String)> {
    match terms {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(_, v)| v.is_number() || v.is_boolean())
            .map(|(k, v)| {
                let shown = match v.as_i64() {
                    Some(n) if k.ends_with("_cents") => format_cents(n),
                    Some(n) if k.ends_with("_bps") => format_bps(n),
                    _ => v.to_string(),
                };
                (k.trim_end_matches("_cents").trim_end_matches("_bps").replace('_', " "), shown)
            })
            .collect(),
        _ => vec![],
    }
}

/// A short description of each option, for the early-intervention notice (1024.39(b)(2)(iii)).
fn option_descriptions() -> Vec<(&'static str, &'static str)> {
    LossMitOption::STANDARD
        .iter()
        .map(|o| {
            let what = match o {
                LossMitOption::Modification => "a permanent change to your loan's terms that can lower your payment",
                LossMitOption::Forbearance => "a period of reduced or suspended payments while you recover",
                LossMitOption::RepaymentPlan => "catching up the past-due amount over several months",
                LossMitOption::ShortSale => "selling the home for less than you owe, with our approval",
                LossMitOption::DeedInLieu => "transferring the home to us instead of a foreclosure",
                LossMitOption::InvestorProgram => "a program of the owner of your loan",
            };
            (o.label(), what)
        })
        .collect()
}

/// Renders `kind` for `case` on `today`: the letter's HTML alone, or a conflict saying why it cannot be written
/// yet (no application, no decision, no servicer telephone number).
async fn render(state: &AppState, case: &CaseRow, kind: LetterKind, today: NaiveDate) -> AppResult<String> {
    let servicer = servicer_contact(&state.db).await?;
    let html = match kind {
        LetterKind::EarlyIntervention => {
            if servicer.phone.trim().is_empty() {
                return Err(AppError::conflict(
                    "The early-intervention notice must give the servicer's telephone number (12 CFR 1024.39(b)(2)(ii)): a supervisor sets it on the deadline board.",
                ));
            }
            EarlyInterventionLetter {
                case: case.clone(),
                today,
                servicer,
                options: option_descriptions(),
                documents: model::REQUIRED_DOCUMENTS.iter().map(|d| d.label()).collect(),
            }
            .render()
        }
        LetterKind::Acknowledgment => {
            let Some(received_on) = case.app_received_on else {
                return Err(AppError::conflict("No application has been received on this case yet."));
            };
            let received = store::documents_received(&state.db, case).await?;
            let docs: Vec<Document> = received.iter().map(|(d, _)| *d).collect();
            let missing = model::missing_documents(&docs).into_iter().map(Document::label).collect();
            // 1024.41(b)(2)(ii): a reasonable date to complete the application — here the earliest of 30 days,
            // the 120th day of delinquency (while still ahead) and 38 days before a scheduled sale.
            let mut respond_by = today + Duration::days(30);
            let day120 = clocks::delinquency_day(case.first_unpaid_due_date, 120);
            if day120 > today + Duration::days(7) {
                respond_by = respond_by.min(day120);
            }
            if let Some(sale) = case.sale_date {
                let d = sale - Duration::days(38);
                if d > today {
                    respond_by = respond_by.min(d);
                }
            }
            AckLetter { case: case.clone(), today, servicer, received_on, missing, respond_by }.render()
        }
        LetterKind::CompleteApplication => {
            let Some(complete_on) = case.app_complete_on else {
                return Err(AppError::conflict("The application on this case is not complete yet."));
            };
            let protected = clocks::evaluation_applies(complete_on, clocks::sale_at_completion(&case.facts()));
            let evaluate_by = complete_on + Duration::days(30);
            CompleteLetter { case: case.clone(), today, servicer, complete_on, evaluate_by, protected }.render()
        }
        LetterKind::Decision => {
            let all = store::decisions(&state.db, case.id).await?;
            let latest =
                all.first().ok_or_else(|| AppError::conflict("No decision has been recorded on this case yet."))?;
            let (decided_on, app_no) = (latest.decided_on, latest.application_no);
            let evaluation: Vec<&DecisionRow> =
                all.iter().filter(|d| d.decided_on == decided_on && d.application_no == app_no).collect();
            let modification_denied = evaluation.iter().any(|d| d.option == "modification" && !d.approved);
            let sale = clocks::sale_at_completion(&case.facts());
            let appeal_by = match case.app_complete_on {
                Some(complete) if modification_denied && clocks::appeal_applies(complete, sale) => {
                    Some(decided_on + Duration::days(14))
                }
                _ => None,
            };
            let options: Vec<LetterOption> = evaluation
                .iter()
                .map(|d| LetterOption {
                    label: match LossMitOption::parse(&d.option) {
                        Some(LossMitOption::InvestorProgram) => format!("Investor program: {}", d.program),
                        Some(o) => o.label().to_string(),
                        None => d.option.clone(),
                    },
                    approved: d.approved,
                    reason: d.reason.clone(),
                    terms: shown_terms(&d.terms),
                })
                .collect();
            // 1024.41(e)(1): 14 days, or 7 when the complete application came less than 90 days before a sale.
            let accept_days = case.app_complete_on.and_then(|c| clocks::acceptance_days(c, sale)).unwrap_or(14);
            DecisionLetter {
                case: case.clone(),
                today,
                servicer,
                decided_on,
                any_approved: options.iter().any(|o| o.approved),
                options,
                modification_denied,
                appeal_by,
                accept_by: decided_on + Duration::days(accept_days),
            }
            .render()
        }
    };
    html.map_err(|e| AppError::Internal(anyhow::anyhow!("rendering the {} letter: {e}", kind.slug())))
}

// ---------------------------------------------------------------- pages

/// One filed letter as stored.
pub struct FiledLetter {
    pub id: i64,
    pub kind: String,
    pub sent_on: NaiveDate,
    pub html: String,
    pub sha256: String,
    pub filed_by: Option<String>,
}

impl FiledLetter {
    pub fn label(&self) -> &'static str {
        if self.kind == RESPONSE_KIND {
            return "Answer to a notice of error or request for information";
        }
        if self.kind == EXTENSION_KIND {
            return "Notice extending the time to answer";
        }
        LetterKind::ALL.into_iter().find(|k| k.notice().as_str() == self.kind).map(LetterKind::label).unwrap_or("")
    }
}

/// The letter kind of an answer to a notice of error or request for information.
pub const RESPONSE_KIND: &str = "request_response";
/// The letter kind of the notice that the answer will take 15 more business days.
pub const EXTENSION_KIND: &str = "request_extension";

#[derive(Template)]
#[template(path = "lossmit/letters/request_response.html")]
struct ResponseLetter<'a> {
    case: &'a CaseRow,
    today: NaiveDate,
    servicer: ServicerContact,
    request: &'a super::requests::BorrowerRequest,
    error: bool,
    received_label: String,
    category: &'static str,
    outcome: &'static str,
    /// The extension notice instead of the answer, with the new last day to answer.
    extended_to: Option<NaiveDate>,
}

/// Renders the answer to `request` (1024.35(e)(1)(i): corrected, or no error with the reasons and the right to
/// ask for the documents relied on; 1024.36(d)(1): the information, or why it is not available), or with
/// `kind` = [`EXTENSION_KIND`] the notice that the answer takes 15 more business days and why
/// (1024.35(e)(3)(ii), 1024.36(d)(2)(ii)), and files it in the caller's transaction.
pub async fn file_request_letter(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user: &CurrentUser,
    case: &CaseRow,
    request: &super::requests::BorrowerRequest,
    kind: &'static str,
) -> AppResult<i64> {
    use super::requests::{CATEGORIES, OUTCOMES, label_of};
    let today = state.today();
    let calendar =
        crate::calendar::Calendar { observed_in_lieu_is_business_day: case.observed_in_lieu_is_business_day };
    let extended_to =
        (kind == EXTENSION_KIND).then(|| super::requests::response_due(request, case.sale_date, &calendar));
    let html = ResponseLetter {
        case,
        today,
        servicer: servicer_contact(&state.db).await?,
        request,
        error: request.kind == "notice_of_error",
        received_label: request.received_on.format("%B %-d, %Y").to_string(),
        category: label_of(&CATEGORIES, &request.category),
        outcome: label_of(&OUTCOMES, request.response_outcome.as_deref().unwrap_or("")),
        extended_to,
    }
    .render()
    .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering the answer letter: {e}")))?;
    let sha256 = hex::encode(sha2::Sha256::digest(html.as_bytes()));
    let id = sqlx::query_scalar!(
        "INSERT INTO lossmit_letters (case_id, kind, sent_on, html, sha256, actor_id, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        case.id,
        kind,
        if kind == EXTENSION_KIND {
            request.extended_on.unwrap_or(today)
        } else {
            request.responded_on.unwrap_or(today)
        },
        html,
        sha256,
        user.id,
        request.id
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn filed(db: &PgPool, case_id: Uuid) -> AppResult<Vec<FiledLetter>> {
    Ok(sqlx::query_as!(
        FiledLetter,
        r#"SELECT l.id, l.kind, l.sent_on, l.html, l.sha256, u.name AS "filed_by?"
           FROM lossmit_letters l LEFT JOIN users u ON u.id = l.actor_id WHERE l.case_id = $1 ORDER BY l.id"#,
        case_id
    )
    .fetch_all(db)
    .await?)
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/letter.html")]
struct LetterPage {
    ctx: PageCtx,
    case: CaseRow,
    kind: LetterKind,
    letter: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/letters_filed.html")]
struct FiledPage {
    ctx: PageCtx,
    case: CaseRow,
    letters: Vec<FiledLetter>,
}

/// The letters' routes: each letter's page (GET) and its filing (POST), and the filed letters.
pub fn router() -> Routes {
    let mut routes = Routes::new().route("/lossmit/cases/{id}/letters/filed", &["GET"], get(filed_page)).route(
        "/lossmit/settings/servicer",
        &["POST"],
        post(save_servicer),
    );
    for kind in LetterKind::ALL {
        routes = routes.route(
            kind.path(),
            &["GET", "POST"],
            get(move |user: CurrentUser, ctx: PageCtx, state: State<AppState>, id: Path<Uuid>| {
                show(kind, user, ctx, state, id)
            })
            .post(move |user: CurrentUser, session: Session, state: State<AppState>, id: Path<Uuid>| {
                file(kind, user, session, state, id)
            }),
        );
    }
    routes
}

/// `GET /lossmit/cases/{id}/letters/<kind>`: the letter as it would be sent today, with the button that files it.
async fn show(
    kind: LetterKind,
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let letter = render(&state, &case, kind, state.today()).await?;
    Ok(LetterPage { ctx, case, kind, letter }.into_response())
}

/// `POST /lossmit/cases/{id}/letters/<kind>`: files the letter as rendered now and records its notice as sent
/// today, in one transaction; then shows the case's filed letters.
async fn file(
    kind: LetterKind,
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let today = state.today();
    let html = render(&state, &case, kind, today).await?;
    let sha256 = hex::encode(sha2::Sha256::digest(html.as_bytes()));
    let mut tx = state.db.begin().await?;
    let letter_id = sqlx::query_scalar!(
        "INSERT INTO lossmit_letters (case_id, kind, sent_on, html, sha256, actor_id) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id",
        case.id,
        kind.notice().as_str(),
        today,
        html,
        sha256,
        user.id
    )
    .fetch_one(&mut *tx)
    .await?;
    store::insert_notice(
        &mut tx,
        &user,
        &case,
        kind.notice(),
        today,
        &format!("{} filed (letter {letter_id})", kind.label()),
    )
    .await?;
    Entry::new(Some(&user), "lossmit.letter.file", "lossmit_case", case.id)
        .after(serde_json::json!({"letter": letter_id, "kind": kind.notice().as_str(), "sent_on": today, "sha256": sha256}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{} filed and recorded as sent today.", kind.label())).await;
    Ok(Redirect::to(&format!("/lossmit/cases/{id}/letters/filed")).into_response())
}

/// `GET /lossmit/cases/{id}/letters/filed`: every letter filed on the case, exactly as it was sent.
pub async fn filed_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let letters = filed(&state.db, case.id).await?;
    Ok(FiledPage { ctx, case, letters }.into_response())
}

/// `POST /lossmit/settings/servicer` (supervisors and admins): the contact the letters give.
async fn save_servicer(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    form: Result<Form<std::collections::HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    // Who may comes before what was sent: a refused role learns nothing from the body's shape.
    user.require(&store::SUPERVISOR_ROLES)?;
    let Form(m) = form.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let field = |k: &str| m.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let contact = ServicerContact {
        name: field("name"),
        phone: field("phone"),
        address: field("address"),
        hours: field("hours"),
    };
    match set_servicer_contact(&state.db, &user, &contact).await {
        Ok(()) => {}
        Err(AppError::Validation(errors)) => {
            let page = super::handlers::board_page(&state, &user, ctx, errors, None, Some(contact)).await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return Err(e),
    }
    Flash::push(&session, "success", "The servicer's contact for letters is saved.").await;
    Ok(Redirect::to("/lossmit/board").into_response())
}
