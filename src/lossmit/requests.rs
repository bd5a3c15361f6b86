//! Notices of error (12 CFR 1024.35) and requests for information (1024.36): what a borrower sent, when, and
//! the servicer's clocks to acknowledge and to answer. The clocks are pure functions over the recorded dates
//! ([`deadlines`]); the API records requests and each step taken on them.
//!
//! Business days exclude Saturdays, Sundays and legal public holidays (the organisation's [`Calendar`]). Where
//! the rule allows two readings, the one giving the servicer the earlier deadline is taken.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::clocks::{ClockStatus, Deadline};
use super::store;
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::calendar::Calendar;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

pub const KINDS: [(&str, &str); 2] =
    [("notice_of_error", "Notice of error"), ("information_request", "Request for information")];
pub const CATEGORIES: [(&str, &str); 8] = [
    ("payoff_statement", "Payoff statement"),
    ("owner_identity", "Owner or assignee of the loan"),
    ("foreclosure", "Foreclosure (first notice, filing, sale)"),
    ("payment", "Payment applied or credited"),
    ("escrow", "Escrow (taxes, insurance)"),
    ("fees", "Fees"),
    ("loss_mitigation", "Loss mitigation"),
    ("other", "Other"),
];
pub const CHANNELS: [&str; 5] = ["mail", "email", "phone", "portal", "fax"];

pub const RULE_ERROR_ACK: &str = "12 CFR 1024.35(d)";
pub const RULE_INFO_ACK: &str = "12 CFR 1024.36(c)";

/// One request as recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BorrowerRequest {
    pub id: i64,
    pub case_id: Uuid,
    pub kind: String,
    pub category: String,
    pub channel: String,
    pub received_on: NaiveDate,
    pub summary: String,
    pub acknowledged_on: Option<NaiveDate>,
    pub extended_on: Option<NaiveDate>,
    pub responded_on: Option<NaiveDate>,
    /// What the answer said: `corrected`, `no_error`, `provided` or `not_available`.
    pub response_outcome: Option<String>,
    pub response_text: String,
    /// Why the answer needs the extra 15 business days (told to the borrower in the extension notice).
    pub extension_reason: String,
}

/// The answers a servicer can give (1024.35(e)(1)(i), 1024.36(d)(1)).
pub const OUTCOMES: [(&str, &str); 4] = [
    ("corrected", "The error was corrected"),
    ("no_error", "No error occurred (with the reasons)"),
    ("provided", "The information is provided"),
    ("not_available", "The information is not available (with the reasons)"),
];

/// Which response clock applies, and whether it may be extended once by 15 business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRule {
    pub business_days: u32,
    pub rule: &'static str,
    pub extendable: bool,
    /// For a foreclosure-related error received more than 7 days before a sale: answer before the sale date.
    pub before_sale: Option<NaiveDate>,
}

/// The response clock for a request (1024.35(e)(3), 1024.36(d)(2)).
pub fn response_rule(r: &BorrowerRequest, sale_date: Option<NaiveDate>) -> ResponseRule {
    let general = |rule| ResponseRule { business_days: 30, rule, extendable: true, before_sale: None };
    match (r.kind.as_str(), r.category.as_str()) {
        ("notice_of_error", "payoff_statement") => {
            ResponseRule { business_days: 7, rule: "12 CFR 1024.35(e)(3)(i)(A)", extendable: false, before_sale: None }
        }
        // Errors about a first notice, filing or sale received more than 7 days before the sale: before the
        // sale or within 30 business days, whichever is earlier; not extendable.
        ("notice_of_error", "foreclosure") if sale_date.is_some_and(|s| (s - r.received_on).num_days() > 7) => {
            ResponseRule {
                business_days: 30,
                rule: "12 CFR 1024.35(e)(3)(i)(B)",
                extendable: false,
                before_sale: sale_date,
            }
        }
        ("notice_of_error", _) => general("12 CFR 1024.35(e)(3)(i)(C)"),
        // A payoff statement asked for as information: Regulation Z's 7 business days (the earlier clock).
        ("information_request", "payoff_statement") => {
            ResponseRule { business_days: 7, rule: "12 CFR 1026.36(c)(3)", extendable: false, before_sale: None }
        }
        ("information_request", "owner_identity") => {
            ResponseRule { business_days: 10, rule: "12 CFR 1024.36(d)(2)(i)(A)", extendable: false, before_sale: None }
        }
        _ => general("12 CFR 1024.36(d)(2)(i)(B)"),
    }
}

fn status(due: NaiveDate, done: Option<NaiveDate>, today: NaiveDate) -> ClockStatus {
    match done {
        Some(d) if d <= due => ClockStatus::Met,
        Some(_) => ClockStatus::Breached,
        None if today > due => ClockStatus::Breached,
        None => ClockStatus::Due,
    }
}

/// The last day to answer, with any extension the servicer gave in time.
pub fn response_due(r: &BorrowerRequest, sale_date: Option<NaiveDate>, cal: &Calendar) -> NaiveDate {
    let rule = response_rule(r, sale_date);
    let base = cal.add_business_days(r.received_on, rule.business_days);
    if let Some(sale) = rule.before_sale {
        // "Prior to the date of a foreclosure sale": the day before it at the latest.
        return base.min(sale - chrono::Duration::days(1));
    }
    match r.extended_on {
        Some(e) if rule.extendable && e <= base => cal.add_business_days(base, 15),
        _ => base,
    }
}

/// The request's two clocks: the acknowledgment (5 business days; an answer within them makes it unneeded)
/// and the answer.
pub fn deadlines(r: &BorrowerRequest, sale_date: Option<NaiveDate>, cal: &Calendar, today: NaiveDate) -> [Deadline; 2] {
    let error = r.kind == "notice_of_error";
    let ack_due = cal.add_business_days(r.received_on, 5);
    let ack_done = match (r.acknowledged_on, r.responded_on) {
        (Some(a), Some(s)) => Some(a.min(s)),
        (a, s) => a.or(s),
    };
    let due = response_due(r, sale_date, cal);
    [
        Deadline {
            key: "error_ack",
            label: if error {
                "Acknowledge the notice of error (5 business days)"
            } else {
                "Acknowledge the request for information (5 business days)"
            },
            rule: if error { RULE_ERROR_ACK } else { RULE_INFO_ACK },
            due_on: ack_due,
            status: status(ack_due, ack_done, today),
            done_on: ack_done,
            cycle_due_on: None,
            missed_cycles: 0,
        },
        Deadline {
            key: "error_response",
            label: if error { "Correct the error or explain why not" } else { "Provide the information" },
            rule: response_rule(r, sale_date).rule,
            due_on: due,
            status: status(due, r.responded_on, today),
            done_on: r.responded_on,
            cycle_due_on: None,
            missed_cycles: 0,
        },
    ]
}

// ---------- SQL ----------

pub async fn list(db: &PgPool, case_id: Uuid) -> sqlx::Result<Vec<BorrowerRequest>> {
    sqlx::query_as(
        "SELECT id, case_id, kind, category, channel, received_on, summary, acknowledged_on, extended_on, responded_on,
                response_outcome, response_text, extension_reason
         FROM lossmit_borrower_requests WHERE case_id = $1 ORDER BY received_on, id",
    )
    .bind(case_id)
    .fetch_all(db)
    .await
}

/// The clocks of the unanswered requests of these cases, by case (one query, for the supervisor's board).
pub async fn open_deadlines(
    db: &PgPool,
    cases: &[&store::CaseRow],
    today: NaiveDate,
) -> sqlx::Result<std::collections::HashMap<Uuid, Vec<Deadline>>> {
    let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    let rows: Vec<BorrowerRequest> = sqlx::query_as(
        "SELECT id, case_id, kind, category, channel, received_on, summary, acknowledged_on, extended_on, responded_on,
                response_outcome, response_text, extension_reason
         FROM lossmit_borrower_requests WHERE case_id = ANY($1) AND responded_on IS NULL ORDER BY received_on, id",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut out: std::collections::HashMap<Uuid, Vec<Deadline>> = std::collections::HashMap::new();
    for r in rows {
        if let Some(c) = cases.iter().find(|c| c.id == r.case_id) {
            let cal = Calendar { observed_in_lieu_is_business_day: c.observed_in_lieu_is_business_day };
            out.entry(r.case_id).or_default().extend(deadlines(&r, c.sale_date, &cal, today));
        }
    }
    Ok(out)
}

/// The deadlines of every request on a case, for the case's clocks.
pub async fn case_deadlines(state: &AppState, c: &store::CaseRow, today: NaiveDate) -> AppResult<Vec<Deadline>> {
    let cal = Calendar { observed_in_lieu_is_business_day: c.observed_in_lieu_is_business_day };
    Ok(list(&state.db, c.id).await?.iter().flat_map(|r| deadlines(r, c.sale_date, &cal, today)).collect())
}

// ---------- API ----------

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BorrowerRequestInput)]
pub struct NewRequest {
    pub kind: String,
    pub category: String,
    pub channel: String,
    pub received_on: NaiveDate,
    #[serde(default)]
    pub summary: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BorrowerRequestProgress)]
pub struct Progress {
    pub request_id: i64,
    /// `acknowledged`, `extended` or `responded`.
    pub step: String,
    pub on: NaiveDate,
    /// For `responded`: what the answer said (see [`OUTCOMES`]) and its text; the response letter is filed.
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub explanation: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = BorrowerRequestView)]
pub struct RequestJson {
    #[serde(flatten)]
    pub request: BorrowerRequest,
    /// The acknowledgement and the answer.
    #[schema(value_type = Vec<Deadline>)]
    pub deadlines: [Deadline; 2],
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> AppResult<T> {
    b.map(|Json(v)| v).map_err(|e| AppError::BadRequest(e.body_text()))
}

async fn render(state: &AppState, c: &store::CaseRow) -> AppResult<Json<Vec<RequestJson>>> {
    let cal = Calendar { observed_in_lieu_is_business_day: c.observed_in_lieu_is_business_day };
    let today = state.today();
    let rows = list(&state.db, c.id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| RequestJson { deadlines: deadlines(&r, c.sale_date, &cal, today), request: r })
            .collect(),
    ))
}

/// `GET /api/v1/lossmit/cases/{id}/borrower-requests`
pub async fn index(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let c = store::visible_case(&state.db, &user, id).await?;
    render(&state, &c).await
}

/// Records a notice of error or request for information on a case (validated; audit-logged in the same
/// transaction). Used by the API and the case page.
pub async fn record(
    db: &PgPool,
    user: &CurrentUser,
    c: &store::CaseRow,
    r: &NewRequest,
    today: NaiveDate,
) -> AppResult<i64> {
    let mut e = FieldErrors::new();
    if !KINDS.iter().any(|(k, _)| *k == r.kind) {
        e.add("kind", "Use notice_of_error or information_request.");
    }
    if !CATEGORIES.iter().any(|(k, _)| *k == r.category) {
        e.add("category", "Use one of the listed categories.");
    }
    if !CHANNELS.contains(&r.channel.as_str()) {
        e.add("channel", "Use mail, email, phone, portal or fax.");
    }
    if r.received_on > today || !super::model::plausible_date(r.received_on) {
        e.add("request_received_on", "The date it was received cannot be in the future.");
    }
    if r.summary.len() > 4000 {
        e.add("summary", "At most 4,000 characters.");
    }
    e.into_result()?;
    let mut tx = db.begin().await?;
    let rid: i64 = sqlx::query_scalar(
        "INSERT INTO lossmit_borrower_requests (case_id, kind, category, channel, received_on, summary, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(c.id)
    .bind(&r.kind)
    .bind(&r.category)
    .bind(&r.channel)
    .bind(r.received_on)
    .bind(r.summary.trim())
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    Entry::new(Some(user), "borrower_request_recorded", "lossmit_case", c.id)
        .after(serde_json::json!({"request_id": rid, "kind": r.kind, "category": r.category, "received_on": r.received_on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rid)
}

/// `POST /api/v1/lossmit/cases/{id}/borrower-requests`: records a notice of error or request for information
/// (201 with the case's requests and their clocks).
pub async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<NewRequest>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let c = store::visible_case(&state.db, &user, id).await?;
    let r = body(input)?;
    record(&state.db, &user, &c, &r, state.today()).await?;
    Ok((StatusCode::CREATED, render(&state, &c).await?))
}

/// Records a step on a request: acknowledged, extended (once, before the answer was due, where the rule
/// allows) or responded (with what the answer said; its letter is rendered and filed in the same transaction).
pub async fn record_progress(state: &AppState, user: &CurrentUser, c: &store::CaseRow, p: &Progress) -> AppResult<()> {
    let today = state.today();
    let mut tx = state.db.begin().await?;
    let r: BorrowerRequest = sqlx::query_as(
        "SELECT id, case_id, kind, category, channel, received_on, summary, acknowledged_on, extended_on, responded_on,
                response_outcome, response_text, extension_reason
         FROM lossmit_borrower_requests WHERE id = $1 AND case_id = $2 FOR UPDATE",
    )
    .bind(p.request_id)
    .bind(c.id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if p.on > today || p.on < r.received_on {
        return Err(AppError::invalid("on", "The date must be between the day the request arrived and today."));
    }
    let cal = Calendar { observed_in_lieu_is_business_day: c.observed_in_lieu_is_business_day };
    let column = match p.step.as_str() {
        "acknowledged" if r.acknowledged_on.is_none() => "acknowledged_on",
        "responded" if r.responded_on.is_none() => {
            let mut e = FieldErrors::new();
            let fits = match r.kind.as_str() {
                "notice_of_error" => ["corrected", "no_error"].contains(&p.outcome.as_str()),
                _ => ["provided", "not_available"].contains(&p.outcome.as_str()),
            };
            if !fits {
                e.add(
                    "outcome",
                    if r.kind == "notice_of_error" {
                        "Say whether the error was corrected or no error occurred."
                    } else {
                        "Say whether the information is provided or not available."
                    },
                );
            }
            if p.explanation.trim().is_empty() {
                e.add("explanation", "The answer's text goes into the letter: what was done, or the reasons.");
            }
            e.into_result()?;
            "responded_on"
        }
        "extended" if r.extended_on.is_none() && r.responded_on.is_none() => {
            let rule = response_rule(&r, c.sale_date);
            let base = cal.add_business_days(r.received_on, rule.business_days);
            if !rule.extendable {
                return Err(AppError::conflict(format!("This request's answer cannot be extended ({}).", rule.rule)));
            }
            if p.on > base {
                return Err(AppError::conflict(format!(
                    "An extension must be given before the answer is due ({base})."
                )));
            }
            if p.explanation.trim().is_empty() {
                return Err(AppError::invalid(
                    "explanation",
                    "Give the reason for the extension: the borrower is told it in writing.",
                ));
            }
            "extended_on"
        }
        "acknowledged" | "responded" | "extended" => {
            return Err(AppError::conflict("That step was already recorded for this request."));
        }
        _ => return Err(AppError::invalid("step", "Use acknowledged, extended or responded.")),
    };
    // `column` is one of three fixed names above, never input.
    sqlx::query(&format!("UPDATE lossmit_borrower_requests SET {column} = $2, updated_at = now() WHERE id = $1"))
        .bind(r.id)
        .bind(p.on)
        .execute(&mut *tx)
        .await?;
    if column == "responded_on" {
        sqlx::query("UPDATE lossmit_borrower_requests SET response_outcome = $2, response_text = $3 WHERE id = $1")
            .bind(r.id)
            .bind(&p.outcome)
            .bind(p.explanation.trim())
            .execute(&mut *tx)
            .await?;
        let answered = BorrowerRequest {
            responded_on: Some(p.on),
            response_outcome: Some(p.outcome.clone()),
            response_text: p.explanation.trim().to_string(),
            ..r.clone()
        };
        super::letters::file_request_letter(state, &mut tx, user, c, &answered, super::letters::RESPONSE_KIND).await?;
    }
    if column == "extended_on" {
        sqlx::query("UPDATE lossmit_borrower_requests SET extension_reason = $2 WHERE id = $1")
            .bind(r.id)
            .bind(p.explanation.trim())
            .execute(&mut *tx)
            .await?;
        let extended = BorrowerRequest {
            extended_on: Some(p.on),
            extension_reason: p.explanation.trim().to_string(),
            ..r.clone()
        };
        super::letters::file_request_letter(state, &mut tx, user, c, &extended, super::letters::EXTENSION_KIND).await?;
    }
    Entry::new(Some(user), "borrower_request_progress", "lossmit_case", c.id)
        .after(serde_json::json!({"request_id": r.id, "step": p.step, "on": p.on, "outcome": p.outcome}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /api/v1/lossmit/cases/{id}/borrower-requests/progress` `{"request_id", "step", "on"}` (and for
/// `responded`, `outcome` and `explanation`).
pub async fn progress(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    input: Result<Json<Progress>, JsonRejection>,
) -> AppResult<impl IntoResponse> {
    let c = store::visible_case(&state.db, &user, id).await?;
    let p = body(input)?;
    record_progress(&state, &user, &c, &p).await?;
    render(&state, &c).await
}

/// A label from one of the vocabularies above.
pub fn label_of(list: &[(&'static str, &'static str)], key: &str) -> &'static str {
    list.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn req(kind: &str, category: &str, received: NaiveDate) -> BorrowerRequest {
        BorrowerRequest {
            id: 1,
            case_id: Uuid::nil(),
            kind: kind.into(),
            category: category.into(),
            channel: "mail".into(),
            received_on: received,
            summary: String::new(),
            acknowledged_on: None,
            extended_on: None,
            responded_on: None,
            response_outcome: None,
            response_text: String::new(),
            extension_reason: String::new(),
        }
    }

    #[test]
    fn the_clocks_count_business_days_around_weekends_and_holidays() {
        let cal = Calendar::default();
        // Received Thursday 2026-11-19: 5 business days skip the weekend and Thanksgiving (11-26) -> 11-27.
        let r = req("notice_of_error", "payment", d(2026, 11, 19));
        let [ack, answer] = deadlines(&r, None, &cal, d(2026, 11, 20));
        assert_eq!(ack.due_on, d(2026, 11, 27));
        assert_eq!(ack.key, "error_ack");
        // 30 business days from 2026-11-19, skipping Thanksgiving, Christmas and New Year's Day: 2027-01-05.
        assert_eq!(answer.due_on, d(2027, 1, 5));
        assert_eq!(answer.status, ClockStatus::Due);
    }

    #[test]
    fn payoff_owner_and_foreclosure_have_their_own_clocks() {
        let cal = Calendar::default();
        let monday = d(2026, 6, 1);
        assert_eq!(response_due(&req("notice_of_error", "payoff_statement", monday), None, &cal), d(2026, 6, 10));
        assert_eq!(response_due(&req("information_request", "owner_identity", monday), None, &cal), d(2026, 6, 15));
        // A foreclosure error 20 days before the sale: answered the day before the sale at the latest.
        let sale = d(2026, 6, 21);
        assert_eq!(response_due(&req("notice_of_error", "foreclosure", monday), Some(sale), &cal), d(2026, 6, 20));
        // ... and 7 or fewer days before it, the general clock.
        let soon = d(2026, 6, 8);
        assert_eq!(
            response_rule(&req("notice_of_error", "foreclosure", monday), Some(soon)).rule,
            "12 CFR 1024.35(e)(3)(i)(C)"
        );
    }

    #[test]
    fn one_extension_of_15_business_days_where_the_rule_allows_it() {
        let cal = Calendar::default();
        let mut r = req("information_request", "escrow", d(2026, 6, 1));
        let base = response_due(&r, None, &cal);
        r.extended_on = Some(base);
        assert_eq!(response_due(&r, None, &cal), cal.add_business_days(base, 15));
        // Too late: no extension.
        r.extended_on = Some(base + chrono::Duration::days(1));
        assert_eq!(response_due(&r, None, &cal), base);
        // Payoff statements are never extended.
        let mut p = req("notice_of_error", "payoff_statement", d(2026, 6, 1));
        p.extended_on = Some(d(2026, 6, 2));
        assert_eq!(response_due(&p, None, &cal), d(2026, 6, 10));
    }

    #[test]
    fn an_answer_within_five_days_makes_the_acknowledgment_unneeded_and_a_late_one_is_a_breach() {
        let cal = Calendar::default();
        let mut r = req("notice_of_error", "fees", d(2026, 6, 1));
        r.responded_on = Some(d(2026, 6, 3));
        let [ack, answer] = deadlines(&r, None, &cal, d(2026, 6, 30));
        assert_eq!((ack.status, answer.status), (ClockStatus::Met, ClockStatus::Met));
        let late = req("notice_of_error", "fees", d(2026, 6, 1));
        let [ack, answer] = deadlines(&late, None, &cal, d(2026, 6, 9));
        assert_eq!((ack.status, answer.status), (ClockStatus::Breached, ClockStatus::Due));
    }
}
