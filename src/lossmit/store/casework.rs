//! The casework records: applications, documents, contacts, notices, assessments, evaluations,
//! reinstatements.

use super::*;

/// Records an application as received (and, if known, complete). Each call appends the application as now
/// known (the latest row of an application is current); a received date not seen before on the case is another
/// application (1024.41(i): which one the protections come from is decided by the facts view).
pub async fn record_application(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    received_on: NaiveDate,
    complete_on: Option<NaiveDate>,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if !model::plausible_date(received_on) || complete_on.is_some_and(|c| !model::plausible_date(c)) {
        return Err(AppError::invalid("received_on", "Enter dates between 1970 and 2100."));
    }
    if complete_on.is_some_and(|c| c < received_on) {
        return Err(AppError::invalid("complete_on", "An application cannot be complete before it was received."));
    }
    if received_on > today || complete_on.is_some_and(|c| c > today) {
        return Err(AppError::invalid("received_on", "Dates cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    // The same received date is the same application as now known; another date is another application.
    let number = sqlx::query_scalar!(
        r#"SELECT COALESCE((SELECT application_no FROM lossmit_applications WHERE case_id = $1 AND received_on = $2
                            ORDER BY id DESC LIMIT 1),
                           (SELECT max(application_no) + 1 FROM lossmit_applications WHERE case_id = $1), 1) AS "n!""#,
        case.id,
        received_on
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO lossmit_applications (case_id, application_no, received_on, complete_on, actor_id)
         VALUES ($1, $2, $3, $4, $5)",
        case.id,
        number,
        received_on,
        complete_on,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    advance_stage(
        &mut tx,
        user,
        case.id,
        if complete_on.is_some() { Stage::Evaluation } else { Stage::Application },
        today,
    )
    .await?;
    touch(&mut tx, case.id).await?;
    acknowledge_by_email(&mut tx, case, received_on, now).await?;
    Entry::new(Some(user), "lossmit.application.record", "lossmit_case", case.id)
        .after(serde_json::json!({"received_on": received_on, "complete_on": complete_on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The borrower's email acknowledgment of an application received on `received_on` (12 CFR 1024.41(b)(2)(i)(B)
/// asks for a written one within five business days when the application came 45 days or more before a
/// scheduled sale): written to the outbox in the recording transaction, once per application whatever repeats.
/// The printed letter stays on the case's letters page; the email is a faster copy, not a substitute.
async fn acknowledge_by_email(
    tx: &mut Transaction<'_, Postgres>,
    case: &CaseRow,
    received_on: NaiveDate,
    at: DateTime<Utc>,
) -> AppResult<()> {
    if !crate::lossmit::clocks::acknowledgment_applies(received_on, case.sale_date) {
        return Ok(());
    }
    let servicer = crate::lossmit::letters::servicer_contact(&mut **tx).await?;
    let (first, last) = case.borrower_name.trim().split_once(' ').unwrap_or((case.borrower_name.trim(), ""));
    let fields = [
        ("first_name", first.to_string()),
        ("last_name", last.trim().to_string()),
        ("received_on", received_on.format("%B %-d, %Y").to_string()),
        ("servicer_contact", servicer.lines()),
    ];
    let event_key = format!("lossmit_ack:{}:{received_on}", case.id);
    let message = crate::events::Event::CaseBorrowerMessage {
        case_id: case.id,
        to: case.borrower_email.trim(),
        template: "lossmit_ack",
        event_key: &event_key,
        fields: &fields,
        at,
    };
    crate::events::emit(tx, message).await
}

/// Records a received document; when the checklist is then complete and an application is on file, the
/// application becomes complete on the date the last required document arrived.
pub async fn record_document(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    document: Document,
    received_on: NaiveDate,
    note: &str,
    today: NaiveDate,
) -> AppResult<bool> {
    if received_on > today {
        return Err(AppError::invalid("received_on", "The date cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_documents (case_id, document, received_on, note, actor_id) VALUES ($1, $2, $3, $4, $5)",
        case.id,
        document.as_str(),
        received_on,
        note.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    // A document received before the delinquency began does not count towards completing the application.
    let received = sqlx::query!(
        r#"SELECT document, min(received_on) AS "first!" FROM lossmit_documents WHERE case_id = $1 AND received_on >= $2
           GROUP BY document"#,
        case.id,
        case.first_unpaid_due_date
    )
    .fetch_all(&mut *tx)
    .await?;
    let docs: Vec<Document> = received.iter().filter_map(|r| Document::parse(&r.document)).collect();
    // The application this completes: the latest received one of the current delinquency still incomplete.
    let app = sqlx::query!(
        r#"SELECT v.application_no AS "application_no!", v.received_on AS "received_on!", v.complete_on
           FROM (SELECT DISTINCT ON (application_no) application_no, received_on, complete_on
                   FROM lossmit_applications WHERE case_id = $1 ORDER BY application_no, id DESC) v
           WHERE v.received_on > COALESCE((SELECT max(current_on) FROM lossmit_reinstatements WHERE case_id = $1),
                                          '-infinity'::date)
           ORDER BY (v.complete_on IS NULL) DESC, v.received_on DESC, v.application_no DESC LIMIT 1"#,
        case.id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mut became_complete = false;
    if let Some(app) = app {
        if app.complete_on.is_none() && model::missing_documents(&docs).is_empty() {
            let last = received
                .iter()
                .filter(|r| model::REQUIRED_DOCUMENTS.iter().any(|d| d.as_str() == r.document))
                .map(|r| r.first)
                .max()
                .unwrap_or(received_on)
                .max(app.received_on);
            sqlx::query!(
                "INSERT INTO lossmit_applications (case_id, application_no, received_on, complete_on, actor_id)
                 VALUES ($1, $2, $3, $4, $5)",
                case.id,
                app.application_no,
                app.received_on,
                last,
                user.id
            )
            .execute(&mut *tx)
            .await?;
            advance_stage(&mut tx, user, case.id, Stage::Evaluation, today).await?;
            became_complete = true;
        }
    }
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.document.receive", "lossmit_case", case.id)
        .after(serde_json::json!({"document": document.as_str(), "received_on": received_on, "application_complete": became_complete}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(became_complete)
}

pub struct NewContact {
    pub occurred_on: NaiveDate,
    pub channel: model::ContactChannel,
    pub live_contact: bool,
    pub outcome: String,
}

pub async fn record_contact(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    c: NewContact,
    today: NaiveDate,
) -> AppResult<()> {
    if c.occurred_on > today {
        return Err(AppError::invalid("occurred_on", "The date cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_contact_attempts (case_id, occurred_on, channel, live_contact, outcome, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        case.id,
        c.occurred_on,
        c.channel.as_str(),
        c.live_contact,
        c.outcome.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.contact.record", "lossmit_case", case.id)
        .after(serde_json::json!({"occurred_on": c.occurred_on, "channel": c.channel.as_str(), "live_contact": c.live_contact}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn record_notice(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    kind: model::NoticeKind,
    sent_on: NaiveDate,
    note: &str,
    today: NaiveDate,
) -> AppResult<()> {
    if sent_on > today {
        return Err(AppError::invalid("sent_on", "The date cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    insert_notice(&mut tx, user, case, kind, sent_on, note).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a notice as sent in the caller's transaction (locks the case, audit-logs it).
pub async fn insert_notice(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    case: &CaseRow,
    kind: model::NoticeKind,
    sent_on: NaiveDate,
    note: &str,
) -> AppResult<()> {
    lock_case(tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_notices (case_id, kind, sent_on, note, actor_id) VALUES ($1, $2, $3, $4, $5)",
        case.id,
        kind.as_str(),
        sent_on,
        note.trim(),
        user.id
    )
    .execute(&mut **tx)
    .await?;
    touch(tx, case.id).await?;
    Entry::new(Some(user), "lossmit.notice.send", "lossmit_case", case.id)
        .after(serde_json::json!({"kind": kind.as_str(), "sent_on": sent_on}))
        .write(&mut **tx)
        .await?;
    Ok(())
}

/// The borrower's finances as assessed: monthly gross income by source and obligations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Assessment {
    pub wages_cents: i64,
    pub self_employment_cents: i64,
    pub benefits_cents: i64,
    pub rental_cents: i64,
    pub other_income_cents: i64,
    pub other_debts_cents: i64,
    pub living_expenses_cents: i64,
    pub hardship_reason: String,
    pub hardship_duration: String,
    pub note: String,
}

impl Assessment {
    pub fn gross_income_cents(&self) -> i64 {
        self.wages_cents
            + self.self_employment_cents
            + self.benefits_cents
            + self.rental_cents
            + self.other_income_cents
    }
    pub fn hardship_label(&self) -> &'static str {
        model::Hardship::parse(&self.hardship_reason).map(model::Hardship::label).unwrap_or("")
    }
}

pub async fn record_assessment(db: &PgPool, user: &CurrentUser, case: &CaseRow, a: &Assessment) -> AppResult<()> {
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_assessments (case_id, wages_cents, self_employment_cents, benefits_cents, rental_cents,
             other_income_cents, other_debts_cents, living_expenses_cents, hardship_reason, hardship_duration, note, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        case.id,
        a.wages_cents,
        a.self_employment_cents,
        a.benefits_cents,
        a.rental_cents,
        a.other_income_cents,
        a.other_debts_cents,
        a.living_expenses_cents,
        a.hardship_reason,
        a.hardship_duration,
        a.note.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.assessment.record", "lossmit_case", case.id).after(a).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn latest_assessment(db: &PgPool, case_id: Uuid) -> AppResult<Option<Assessment>> {
    Ok(sqlx::query_as!(
        Assessment,
        "SELECT wages_cents, self_employment_cents, benefits_cents, rental_cents, other_income_cents, other_debts_cents,
                living_expenses_cents, hardship_reason, hardship_duration, note
         FROM lossmit_assessments WHERE case_id = $1 ORDER BY id DESC LIMIT 1",
        case_id
    )
    .fetch_optional(db)
    .await?)
}

/// One option's decision in an evaluation.
pub struct NewDecision {
    pub option: model::LossMitOption,
    /// The investor's program, by name, for [`model::LossMitOption::InvestorProgram`].
    pub program: String,
    pub approved: bool,
    pub reason: String,
    pub terms: serde_json::Value,
}

/// Records an evaluation of the protecting application: every standard option decided on one day, with the
/// investor's own programs, each denial with its reason (1024.41(c)(1), (d)). Approving any option puts the
/// case on offer.
pub async fn record_evaluation(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    decided_on: NaiveDate,
    decisions: Vec<NewDecision>,
    today: NaiveDate,
) -> AppResult<()> {
    let mut errors = crate::error::FieldErrors::new();
    if decided_on > today {
        errors.add("decided_on", "The date cannot be in the future.");
    }
    for d in &decisions {
        if !d.approved && d.reason.trim().is_empty() {
            errors.add(
                &format!("reason_{}", d.option.as_str()),
                "A denial needs the specific reason (it goes into the decision letter).",
            );
        }
        if d.option == model::LossMitOption::InvestorProgram && d.program.trim().is_empty() {
            errors.add("program_name", "Name the investor's program.");
        }
    }
    for o in model::LossMitOption::STANDARD {
        if !decisions.iter().any(|d| d.option == o) {
            errors.add(&format!("outcome_{}", o.as_str()), "Decide this option (approved or denied).");
        }
    }
    let Some(app_no) = case.app_no else {
        errors.add("decided_on", "Record the borrower's application before deciding on it.");
        return Err(AppError::Validation(errors));
    };
    errors.into_result()?;
    let evaluation = Uuid::new_v4();
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    for d in &decisions {
        sqlx::query!(
            "INSERT INTO lossmit_decisions (case_id, option, program, approved, decided_on, reason, terms, actor_id,
                                            evaluation_id, application_no)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            case.id,
            d.option.as_str(),
            d.program.trim(),
            d.approved,
            decided_on,
            d.reason.trim(),
            d.terms,
            user.id,
            evaluation,
            app_no
        )
        .execute(&mut *tx)
        .await?;
    }
    if decisions.iter().any(|d| d.approved) {
        advance_stage(&mut tx, user, case.id, Stage::Offer, today).await?;
    }
    touch(&mut tx, case.id).await?;
    let summary: Vec<serde_json::Value> = decisions
        .iter()
        .map(|d| serde_json::json!({"option": d.option.as_str(), "program": d.program, "approved": d.approved, "reason": d.reason, "terms": d.terms}))
        .collect();
    Entry::new(Some(user), "lossmit.evaluation.record", "lossmit_case", case.id)
        .after(serde_json::json!({"evaluation": evaluation, "application": app_no, "decided_on": decided_on, "decisions": summary}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records that the borrower was brought current on `current_on`: the delinquency ended, and applications
/// received before it no longer protect the loan (1024.41(i)).
pub async fn record_reinstatement(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    current_on: NaiveDate,
    note: &str,
    today: NaiveDate,
) -> AppResult<()> {
    if current_on > today {
        return Err(AppError::invalid("current_on", "The date cannot be in the future."));
    }
    if current_on < case.first_unpaid_due_date {
        return Err(AppError::invalid(
            "current_on",
            "The borrower cannot be brought current before the delinquency began.",
        ));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_reinstatements (case_id, current_on, note, actor_id) VALUES ($1, $2, $3, $4)",
        case.id,
        current_on,
        note.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.reinstatement.record", "lossmit_case", case.id)
        .after(serde_json::json!({"current_on": current_on, "note": note.trim()}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// One application on a case as now known, and what the rule makes of it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApplicationLine {
    pub number: i32,
    pub received_on: NaiveDate,
    pub complete_on: Option<NaiveDate>,
    /// `protecting`, `duplicative` (a later complete application in the same delinquency), `superseded` (an
    /// incomplete one beside the protecting one) or `earlier_delinquency` (received before the borrower was
    /// brought current).
    pub status: &'static str,
}

pub async fn applications(db: &PgPool, case: &CaseRow) -> AppResult<Vec<ApplicationLine>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (application_no) application_no, received_on, complete_on
           FROM lossmit_applications WHERE case_id = $1 ORDER BY application_no, id DESC"#,
        case.id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let status = if Some(r.application_no) == case.app_no {
                "protecting"
            } else if case.brought_current_on.is_some_and(|c| r.received_on <= c) {
                "earlier_delinquency"
            } else if r.complete_on.is_some() {
                "duplicative"
            } else {
                "superseded"
            };
            ApplicationLine { number: r.application_no, received_on: r.received_on, complete_on: r.complete_on, status }
        })
        .collect())
}
