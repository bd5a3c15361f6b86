//! All SQL of loss mitigation. Every write runs in one transaction with its audit entry; records are only
//! ever inserted (the database refuses to change them, see migration 0008).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::calendar::{self, Calendar};
use super::clocks::{self, AppealFacts, ApplicationFacts, CaseFacts, Deadline, DecisionFacts, ForeclosureStep};
use super::model::{self, Document, NewCase, Resolution, Stage};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, on_constraint};

/// A case with the dated facts its clocks are computed from.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRow {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub co_borrower_name: String,
    pub borrower_phone: String,
    pub borrower_email: String,
    pub property_address: String,
    pub property_state: String,
    pub investor: String,
    pub upb_cents: i64,
    pub note_rate: f64,
    pub remaining_term_months: i32,
    pub monthly_pi_cents: i64,
    pub monthly_escrow_cents: i64,
    pub first_unpaid_due_date: NaiveDate,
    pub sale_date: Option<NaiveDate>,
    pub specialist_id: Option<Uuid>,
    pub specialist_name: Option<String>,
    pub stage: String,
    pub resolution: Option<String>,
    pub resolved_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub first_live_contact_on: Option<NaiveDate>,
    pub written_notice_on: Option<NaiveDate>,
    pub specialist_assigned_on: Option<NaiveDate>,
    pub app_received_on: Option<NaiveDate>,
    pub app_complete_on: Option<NaiveDate>,
    pub acknowledged_on: Option<NaiveDate>,
    pub decided_on: Option<NaiveDate>,
    pub decision_approved: Option<bool>,
    pub appeal_filed_on: Option<NaiveDate>,
    pub appeal_decided_on: Option<NaiveDate>,
    pub appeal_granted: Option<bool>,
    pub first_filing_on: Option<NaiveDate>,
    pub complete_notice_on: Option<NaiveDate>,
    pub live_contacts: Vec<NaiveDate>,
    pub early_notices: Vec<NaiveDate>,
    /// The application the protections come from (1024.41(i)), by its number on the case.
    pub app_no: Option<i32>,
    /// The first evaluation denied a loan modification (the only denial that may be appealed).
    pub modification_denied: Option<bool>,
    /// The last day the borrower was brought current (applications before it belong to an earlier delinquency).
    pub brought_current_on: Option<NaiveDate>,
    /// Whether the sale date was changed after the application was received / became complete (recorded),
    /// and what it was before the first such change (from the audit log, which nothing can alter).
    pub sale_changed_since_receipt: Option<bool>,
    pub sale_date_at_receipt: Option<NaiveDate>,
    pub sale_changed_since_completion: Option<bool>,
    pub sale_date_at_completion: Option<NaiveDate>,
    /// The organisation setting [`Calendar::observed_in_lieu_is_business_day`].
    pub observed_in_lieu_is_business_day: bool,
}

impl CaseRow {
    pub fn facts(&self) -> CaseFacts {
        CaseFacts {
            first_unpaid_due_date: self.first_unpaid_due_date,
            sale_date: self.sale_date,
            first_live_contact_on: self.first_live_contact_on,
            written_notice_on: self.written_notice_on,
            live_contacts: self.live_contacts.clone(),
            early_notices: self.early_notices.clone(),
            delinquency_ended_on: self.resolved_on,
            specialist_assigned_on: self.specialist_assigned_on,
            application: ApplicationFacts {
                received_on: self.app_received_on,
                complete_on: self.app_complete_on,
                acknowledged_on: self.acknowledged_on,
                complete_notice_on: self.complete_notice_on,
            },
            decision: self.decided_on.map(|d| DecisionFacts {
                decided_on: d,
                approved: self.decision_approved.unwrap_or(false),
                modification_denied: self.modification_denied.unwrap_or(false),
            }),
            appeal: self.appeal_filed_on.map(|f| AppealFacts {
                filed_on: f,
                decided_on: self.appeal_decided_on,
                granted: self.appeal_granted.unwrap_or(false),
            }),
            first_filing_on: self.first_filing_on,
            offer_open: matches!(self.stage.as_str(), "offer" | "trial_plan"),
            calendar: Calendar { observed_in_lieu_is_business_day: self.observed_in_lieu_is_business_day },
            sale_date_at_receipt: self.sale_changed_since_receipt.filter(|c| *c).map(|_| self.sale_date_at_receipt),
            sale_date_at_completion: self
                .sale_changed_since_completion
                .filter(|c| *c)
                .map(|_| self.sale_date_at_completion),
        }
    }
    pub fn deadlines(&self, today: NaiveDate) -> Vec<Deadline> {
        clocks::deadlines(&self.facts(), today)
    }
    pub fn is_open(&self) -> bool {
        self.stage != "resolved"
    }
    /// `incomplete`, `complete`, or `none` when no application has been received.
    pub fn application_status(&self) -> &'static str {
        match (self.app_received_on, self.app_complete_on) {
            (None, _) => "none",
            (Some(_), None) => "incomplete",
            (Some(_), Some(_)) => "complete",
        }
    }
    pub fn stage_label(&self) -> &'static str {
        Stage::parse(&self.stage).map(Stage::label).unwrap_or("")
    }
    pub fn investor_label(&self) -> &'static str {
        model::Investor::parse(&self.investor).map(model::Investor::label).unwrap_or("")
    }
    pub fn resolution_label(&self) -> &'static str {
        self.resolution.as_deref().and_then(Resolution::parse).map(Resolution::label).unwrap_or("")
    }
}

/// `query_as!` for [`CaseRow`] with a WHERE clause (the macro needs one literal query, built here with `+`).
macro_rules! select_cases {
    ($where:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            CaseRow,
            r#"SELECT c.id, c.loan_number, c.borrower_name, c.co_borrower_name, c.borrower_phone, c.borrower_email,
                  c.property_address, c.property_state, c.investor, c.upb_cents, c.note_rate::float8 AS "note_rate!",
                  c.remaining_term_months, c.monthly_pi_cents, c.monthly_escrow_cents, c.first_unpaid_due_date,
                  c.sale_date, c.specialist_id, u.name AS "specialist_name?", c.stage, c.resolution, c.resolved_on,
                  c.version, c.created_at,
                  f.first_live_contact_on, f.written_notice_on, f.specialist_assigned_on, f.app_received_on,
                  f.app_complete_on, f.acknowledged_on, f.decided_on, f.decision_approved, f.appeal_filed_on,
                  f.appeal_decided_on, f.appeal_granted, f.first_filing_on, f.complete_notice_on,
                  f.live_contacts AS "live_contacts!", f.early_notices AS "early_notices!",
                  f.app_no, f.modification_denied, f.brought_current_on,
                  sr.changed AS "sale_changed_since_receipt?", sr.sale_date AS "sale_date_at_receipt?",
                  sc.changed AS "sale_changed_since_completion?", sc.sale_date AS "sale_date_at_completion?",
                  COALESCE((SELECT (s.value #>> '{}')::boolean FROM settings s
                            WHERE s.key = 'lossmit.observed_holidays_are_business_days'), true)
                    AS "observed_in_lieu_is_business_day!"
               FROM lossmit_cases c
               JOIN lossmit_case_facts f ON f.case_id = c.id
               -- 1024.41(b)(3): the sale date as it stood when the application was received and when it became
               -- complete (the first change recorded after that, read back from the audit log).
               LEFT JOIN LATERAL (
                   SELECT true AS changed, (l.before ->> 'sale_date')::date AS sale_date FROM audit_log l
                   WHERE l.entity = 'lossmit_case' AND l.entity_id = c.id::text AND l.action = 'lossmit.case.sale_date'
                     AND l.created_at > (SELECT min(a.created_at) FROM lossmit_applications a
                                         WHERE a.case_id = c.id AND a.application_no = f.app_no)
                   ORDER BY l.created_at, l.id LIMIT 1) sr ON true
               LEFT JOIN LATERAL (
                   SELECT true AS changed, (l.before ->> 'sale_date')::date AS sale_date FROM audit_log l
                   WHERE l.entity = 'lossmit_case' AND l.entity_id = c.id::text AND l.action = 'lossmit.case.sale_date'
                     AND l.created_at > (SELECT min(a.created_at) FROM lossmit_applications a
                                         WHERE a.case_id = c.id AND a.application_no = f.app_no
                                           AND a.complete_on = f.app_complete_on)
                   ORDER BY l.created_at, l.id LIMIT 1) sc ON true
               LEFT JOIN users u ON u.id = c.specialist_id "# + $where
            $(, $arg)*
        )
    };
}

/// One case, whoever asks (callers check visibility).
pub async fn load_case(db: &PgPool, id: Uuid) -> AppResult<Option<CaseRow>> {
    Ok(select_cases!("WHERE c.id = $1", id).fetch_optional(db).await?)
}

/// The loss-mitigation roles; everyone else is refused with 403.
pub const CASE_ROLES: [Role; 3] = [Role::Lossmit, Role::LossmitSupervisor, Role::Admin];
/// Who runs the team: creates cases, reassigns, sees the board and reports.
pub const SUPERVISOR_ROLES: [Role; 2] = [Role::LossmitSupervisor, Role::Admin];

/// A case the user may see: 403 for roles outside loss mitigation, 404 for cases out of their scope.
pub async fn visible_case(db: &PgPool, user: &CurrentUser, id: Uuid) -> AppResult<CaseRow> {
    user.require(&CASE_ROLES)?;
    match load_case(db, id).await? {
        Some(c) if user.may_see_case(c.specialist_id) => Ok(c),
        _ => Err(AppError::NotFound),
    }
}

/// The cases a user may see (all for supervisors and admins, their own for specialists), open ones only
/// unless `include_resolved`.
pub async fn visible_cases(db: &PgPool, user: &CurrentUser, include_resolved: bool) -> AppResult<Vec<CaseRow>> {
    user.require(&CASE_ROLES)?;
    let all = user.may_see_case(None);
    Ok(select_cases!(
        "WHERE ($1 OR c.specialist_id = $2) AND ($3 OR c.stage <> 'resolved') ORDER BY c.created_at, c.id",
        all,
        user.id,
        include_resolved
    )
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, Serialize)]
pub struct Specialist {
    pub id: Uuid,
    pub name: String,
    pub email: String,
}

/// Active loss-mitigation specialists, for assignment.
pub async fn specialists(db: &PgPool) -> AppResult<Vec<Specialist>> {
    Ok(sqlx::query_as!(
        Specialist,
        "SELECT id, name, email FROM users WHERE role = 'lossmit' AND active ORDER BY name, id"
    )
    .fetch_all(db)
    .await?)
}

async fn specialist_by_email(db: &PgPool, email: &str) -> AppResult<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM users WHERE lower(email) = lower($1) AND role = 'lossmit' AND active",
        email
    )
    .fetch_optional(db)
    .await?)
}

async fn is_specialist(db: &PgPool, id: Uuid) -> AppResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'lossmit' AND active) AS "x!""#,
        id
    )
    .fetch_one(db)
    .await?)
}

/// Opens a case (supervisors and admins), assigning the specialist if given.
pub async fn create_case(
    db: &PgPool,
    user: &CurrentUser,
    mut input: NewCase,
    today: NaiveDate,
    digest_at: DateTime<Utc>,
) -> AppResult<Uuid> {
    user.require(&SUPERVISOR_ROLES)?;
    let mut errors = input.normalise_and_validate();
    let mut specialist = None;
    if let Some(email) = &input.specialist_email {
        specialist = specialist_by_email(db, email).await?;
        if specialist.is_none() {
            errors.add("specialist_email", "No active loss-mitigation specialist has that email.");
        }
    }
    errors.into_result()?;
    let id = Uuid::new_v4();
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO lossmit_cases (id, loan_number, borrower_name, co_borrower_name, borrower_phone, borrower_email,
             property_address, property_state, investor, upb_cents, note_rate, remaining_term_months, monthly_pi_cents,
             monthly_escrow_cents, first_unpaid_due_date, sale_date, specialist_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::float8::numeric(6,3), $12, $13, $14, $15, $16, $17, $18)",
        id,
        input.loan_number,
        input.borrower_name,
        input.co_borrower_name.trim(),
        input.borrower_phone.trim(),
        input.borrower_email.trim(),
        input.property_address.trim(),
        input.property_state,
        input.investor,
        input.upb_cents,
        input.note_rate,
        input.remaining_term_months,
        input.monthly_pi_cents,
        input.monthly_escrow_cents,
        input.first_unpaid_due_date,
        input.sale_date,
        specialist,
        user.id
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        on_constraint(e, &[("lossmit_cases_loan_number_key", || {
            AppError::invalid("loan_number", "A case for this loan number already exists.")
        })])
    })?;
    sqlx::query!(
        "INSERT INTO lossmit_stage_changes (case_id, from_stage, to_stage, changed_on, actor_id)
         VALUES ($1, NULL, 'early_intervention', $2, $3)",
        id,
        today,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    if let Some(s) = specialist {
        sqlx::query!(
            "INSERT INTO lossmit_assignments (case_id, from_specialist_id, to_specialist_id, assigned_on, reason, actor_id)
             VALUES ($1, NULL, $2, $3, 'Case opened', $4)",
            id,
            s,
            today,
            user.id
        )
        .execute(&mut *tx)
        .await?;
        let title = format!("Loss-mitigation case {} ({}) assigned to you", input.loan_number, input.borrower_name);
        crate::notifications::notify(&mut tx, s, "lossmit.assigned", &title, &format!("/lossmit/cases/{id}")).await?;
    }
    // The daily deadline digest keeps itself scheduled once any case exists (one job per day: the dedupe key
    // carries the date).
    crate::jobs::enqueue(&mut tx, DIGEST_JOB, serde_json::json!({}), digest_at, Some(&digest_key(digest_at))).await?;
    Entry::new(Some(user), "lossmit.case.create", "lossmit_case", id).after(&input).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(id)
}

async fn lock_case(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> AppResult<(String, i32)> {
    let r = sqlx::query!("SELECT stage, version FROM lossmit_cases WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((r.stage, r.version))
}

async fn touch(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> AppResult<()> {
    sqlx::query!("UPDATE lossmit_cases SET version = version + 1, updated_at = now() WHERE id = $1", id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves the stage forward automatically (application received → application, complete → evaluation,
/// approved decision → offer), never backward, recording the change.
async fn advance_stage(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    id: Uuid,
    to: Stage,
    today: NaiveDate,
) -> AppResult<()> {
    let (current, _) = lock_case(tx, id).await?;
    let rank = |s: &str| Stage::ALL.iter().position(|x| x.as_str() == s).unwrap_or(0);
    if rank(to.as_str()) <= rank(&current) {
        return Ok(());
    }
    sqlx::query!("UPDATE lossmit_cases SET stage = $2 WHERE id = $1", id, to.as_str()).execute(&mut **tx).await?;
    sqlx::query!(
        "INSERT INTO lossmit_stage_changes (case_id, from_stage, to_stage, changed_on, actor_id) VALUES ($1, $2, $3, $4, $5)",
        id,
        current,
        to.as_str(),
        today,
        user.id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

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
    Entry::new(Some(user), "lossmit.application.record", "lossmit_case", case.id)
        .after(serde_json::json!({"received_on": received_on, "complete_on": complete_on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
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
#[derive(Debug, Clone, serde::Serialize)]
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

pub async fn record_appeal(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    filed_on: NaiveDate,
    today: NaiveDate,
) -> AppResult<()> {
    if filed_on > today {
        return Err(AppError::invalid("filed_on", "The date cannot be in the future."));
    }
    if case.decided_on.is_none() || case.modification_denied != Some(true) {
        return Err(AppError::invalid(
            "filed_on",
            "Only the denial of a loan modification on a complete application can be appealed (12 CFR 1024.41(h)).",
        ));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_appeals (case_id, filed_on, actor_id) VALUES ($1, $2, $3)",
        case.id,
        filed_on,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.appeal.file", "lossmit_case", case.id)
        .after(serde_json::json!({"filed_on": filed_on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn record_appeal_decision(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    decided_on: NaiveDate,
    granted: bool,
    reason: &str,
    today: NaiveDate,
) -> AppResult<()> {
    if decided_on > today {
        return Err(AppError::invalid("appeal_decided_on", "The date cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    let appeal = sqlx::query_scalar!(
        "SELECT p.id FROM lossmit_appeals p WHERE p.case_id = $1
           AND NOT EXISTS (SELECT 1 FROM lossmit_appeal_decisions d WHERE d.appeal_id = p.id)
         ORDER BY p.filed_on, p.id LIMIT 1",
        case.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::invalid("appeal_decided_on", "There is no undecided appeal."))?;
    sqlx::query!(
        "INSERT INTO lossmit_appeal_decisions (appeal_id, decided_on, granted, reason, actor_id) VALUES ($1, $2, $3, $4, $5)",
        appeal,
        decided_on,
        granted,
        reason.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    if granted {
        advance_stage(&mut tx, user, case.id, Stage::Offer, today).await?;
    }
    Entry::new(Some(user), "lossmit.appeal.decide", "lossmit_case", case.id)
        .after(serde_json::json!({"decided_on": decided_on, "granted": granted}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a foreclosure step unless the dual-tracking guard refuses it; a refusal is audit-logged and
/// answered with 409 naming the rule.
pub async fn record_foreclosure_step(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    step: ForeclosureStep,
    on: NaiveDate,
) -> AppResult<()> {
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case_id).await?;
    // Re-read the facts under the lock, so the guard sees every record committed before it.
    let case = select_cases!("WHERE c.id = $1", case_id).fetch_one(&mut *tx).await?;
    if let Err(refusal) = clocks::check_foreclosure_step(&case.facts(), step, on) {
        tx.rollback().await?;
        let mut log = db.begin().await?;
        Entry::new(Some(user), "lossmit.foreclosure_step.refused", "lossmit_case", case_id)
            .after(
                serde_json::json!({"step": step.as_str(), "on": on, "rule": refusal.rule, "message": refusal.message}),
            )
            .write(&mut *log)
            .await?;
        log.commit().await?;
        return Err(AppError::Conflict(refusal.message));
    }
    sqlx::query!(
        "INSERT INTO lossmit_foreclosure_steps (case_id, step, occurred_on, actor_id) VALUES ($1, $2, $3, $4)",
        case_id,
        step.as_str(),
        on,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case_id).await?;
    Entry::new(Some(user), "lossmit.foreclosure_step.record", "lossmit_case", case_id)
        .after(serde_json::json!({"step": step.as_str(), "on": on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Reassigns a case to another specialist (supervisors and admins), with history; stale versions get 409.
pub async fn reassign(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    to: Uuid,
    version: i32,
    reason: &str,
    today: NaiveDate,
) -> AppResult<()> {
    user.require(&SUPERVISOR_ROLES)?;
    if !is_specialist(db, to).await? {
        return Err(AppError::invalid("specialist_id", "Choose an active loss-mitigation specialist."));
    }
    let mut tx = db.begin().await?;
    let (_, current_version) = lock_case(&mut tx, case_id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    let from = sqlx::query_scalar!("SELECT specialist_id FROM lossmit_cases WHERE id = $1", case_id)
        .fetch_one(&mut *tx)
        .await?;
    if from == Some(to) {
        return Err(AppError::invalid("specialist_id", "The case is already assigned to that specialist."));
    }
    sqlx::query!(
        "UPDATE lossmit_cases SET specialist_id = $2, version = version + 1, updated_at = now() WHERE id = $1",
        case_id,
        to
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO lossmit_assignments (case_id, from_specialist_id, to_specialist_id, assigned_on, reason, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        from,
        to,
        today,
        reason.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    let title = format!(
        "Loss-mitigation case reassigned to you{}",
        if reason.trim().is_empty() { String::new() } else { format!(": {}", reason.trim()) }
    );
    crate::notifications::notify(&mut tx, to, "lossmit.assigned", &title, &format!("/lossmit/cases/{case_id}")).await?;
    Entry::new(Some(user), "lossmit.case.reassign", "lossmit_case", case_id)
        .before(serde_json::json!({"specialist_id": from}))
        .after(serde_json::json!({"specialist_id": to, "reason": reason}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a case to a stage (or resolves it with a resolution, or reopens a resolved case — a re-default).
pub async fn change_stage(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    to: Stage,
    resolution: Option<Resolution>,
    version: i32,
    today: NaiveDate,
) -> AppResult<()> {
    if (to == Stage::Resolved) != resolution.is_some() {
        return Err(AppError::invalid("resolution", "Choose a resolution when (and only when) resolving a case."));
    }
    let mut tx = db.begin().await?;
    let (from, current_version) = lock_case(&mut tx, case_id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    let res = resolution.map(Resolution::as_str);
    sqlx::query!(
        "UPDATE lossmit_cases SET stage = $2, resolution = $3, resolved_on = CASE WHEN $3::text IS NULL THEN NULL ELSE $4::date END,
             version = version + 1, updated_at = now() WHERE id = $1",
        case_id,
        to.as_str(),
        res,
        today
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO lossmit_stage_changes (case_id, from_stage, to_stage, resolution, changed_on, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        from,
        to.as_str(),
        res,
        today,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "lossmit.case.stage", "lossmit_case", case_id)
        .before(serde_json::json!({"stage": from}))
        .after(serde_json::json!({"stage": to.as_str(), "resolution": res}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets or clears the scheduled foreclosure sale date (it decides which protections an application gets);
/// stale versions get 409.
pub async fn set_sale_date(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    sale_date: Option<NaiveDate>,
    version: i32,
) -> AppResult<()> {
    if sale_date.is_some_and(|s| !model::plausible_date(s)) {
        return Err(AppError::invalid("sale_date", "Enter a sale date between 1970 and 2100."));
    }
    if sale_date.is_some_and(|s| s <= case.first_unpaid_due_date) {
        return Err(AppError::invalid("sale_date", "A sale date must come after the first unpaid due date."));
    }
    let mut tx = db.begin().await?;
    let (_, current_version) = lock_case(&mut tx, case.id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    sqlx::query!(
        "UPDATE lossmit_cases SET sale_date = $2, version = version + 1, updated_at = now() WHERE id = $1",
        case.id,
        sale_date
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "lossmit.case.sale_date", "lossmit_case", case.id)
        .before(serde_json::json!({"sale_date": case.sale_date}))
        .after(serde_json::json!({"sale_date": sale_date}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation's business-day calendar (the setting [`calendar::SETTING_OBSERVED_IN_LIEU`]; the default
/// when never set).
pub async fn calendar(db: &PgPool) -> AppResult<Calendar> {
    let v = sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", calendar::SETTING_OBSERVED_IN_LIEU)
        .fetch_optional(db)
        .await?;
    Ok(match v.and_then(|v| v.as_bool()) {
        Some(b) => Calendar { observed_in_lieu_is_business_day: b },
        None => Calendar::default(),
    })
}

/// Sets whether days observed in lieu of a weekend legal public holiday are business days (admins only),
/// audit-logged in the same transaction.
pub async fn set_calendar(db: &PgPool, user: &CurrentUser, cal: Calendar) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let before = calendar(db).await?;
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        calendar::SETTING_OBSERVED_IN_LIEU,
        serde_json::json!(cal.observed_in_lieu_is_business_day)
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "setting_changed", "setting", calendar::SETTING_OBSERVED_IN_LIEU)
        .before(serde_json::json!(before.observed_in_lieu_is_business_day))
        .after(serde_json::json!(cal.observed_in_lieu_is_business_day))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The job that tells each specialist, once a day, about deadlines due within two days and breaches.
pub const DIGEST_JOB: &str = "lossmit.deadline_digest";

fn digest_key(at: DateTime<Utc>) -> String {
    format!("{DIGEST_JOB}:{}", at.date_naive())
}

/// The next 07:00 in the organisation's time zone strictly after `now`.
pub fn next_digest_at(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = now.with_timezone(&tz);
    let mut day = local.date_naive();
    loop {
        let at = day.and_hms_opt(7, 0, 0).and_then(|t| tz.from_local_datetime(&t).earliest());
        if let Some(at) = at.map(|a| a.with_timezone(&Utc)).filter(|a| *a > now) {
            return at;
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// Sends the digest for `today` and schedules the next one a day later. Returns the notifications sent.
pub async fn send_deadline_digest(db: &PgPool, today: NaiveDate, next_run: DateTime<Utc>) -> AppResult<usize> {
    let cases =
        select_cases!("WHERE c.stage <> 'resolved' AND c.specialist_id IS NOT NULL ORDER BY c.specialist_id, c.id")
            .fetch_all(db)
            .await?;
    let mut per: std::collections::BTreeMap<Uuid, (usize, usize)> = std::collections::BTreeMap::new();
    for c in &cases {
        let Some(s) = c.specialist_id else { continue };
        let e = per.entry(s).or_default();
        for d in c.deadlines(today) {
            match d.status {
                clocks::ClockStatus::Due
                    if d.key != "first_filing_earliest" && d.due_on <= today + chrono::Duration::days(2) =>
                {
                    e.0 += 1
                }
                clocks::ClockStatus::Breached => e.1 += 1,
                _ => {}
            }
        }
    }
    let mut tx = db.begin().await?;
    let mut sent = 0;
    for (specialist, (due, breached)) in per {
        if due == 0 && breached == 0 {
            continue;
        }
        let title = format!("Loss mitigation: {due} deadline(s) due within 2 days, {breached} breached");
        crate::notifications::notify(&mut tx, specialist, "lossmit.digest", &title, "/lossmit").await?;
        sent += 1;
    }
    crate::jobs::enqueue(&mut tx, DIGEST_JOB, serde_json::json!({}), next_run, Some(&digest_key(next_run))).await?;
    tx.commit().await?;
    Ok(sent)
}

/// One line of the case's record, for the timeline, the letters and the export.
#[derive(Debug, Clone, Serialize)]
pub struct RecordLine {
    pub record: String,
    pub on: NaiveDate,
    pub kind: String,
    pub detail: String,
    pub flag: bool,
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Every immutable record of a case, oldest first, in one query.
pub async fn records(db: &PgPool, case_id: Uuid) -> AppResult<Vec<RecordLine>> {
    Ok(sqlx::query_as!(
        RecordLine,
        r#"SELECT r.record AS "record!", r.on_date AS "on!", r.kind AS "kind!", r.detail AS "detail!", r.flag AS "flag!",
                  u.name AS "actor?", r.created_at AS "created_at!"
           FROM (
             SELECT 'contact' AS record, occurred_on AS on_date, channel AS kind, outcome AS detail, live_contact AS flag, actor_id, created_at
               FROM lossmit_contact_attempts WHERE case_id = $1
             UNION ALL SELECT 'notice', sent_on, kind, note, false, actor_id, created_at FROM lossmit_notices WHERE case_id = $1
             UNION ALL SELECT 'document', received_on, document, note, false, actor_id, created_at FROM lossmit_documents WHERE case_id = $1
             UNION ALL SELECT 'application', received_on, CASE WHEN complete_on IS NULL THEN 'incomplete' ELSE 'complete' END,
                   COALESCE('complete on ' || complete_on::text, ''), complete_on IS NOT NULL, actor_id, created_at
               FROM lossmit_applications WHERE case_id = $1
             UNION ALL SELECT 'assessment', created_at::date, hardship_reason, hardship_duration, false, actor_id, created_at
               FROM lossmit_assessments WHERE case_id = $1
             UNION ALL SELECT 'decision', decided_on, option, reason, approved, actor_id, created_at FROM lossmit_decisions WHERE case_id = $1
             UNION ALL SELECT 'appeal', filed_on, 'filed', '', false, actor_id, created_at FROM lossmit_appeals WHERE case_id = $1
             UNION ALL SELECT 'appeal_decision', d.decided_on, CASE WHEN d.granted THEN 'granted' ELSE 'denied' END, d.reason, d.granted,
                   d.actor_id, d.created_at
               FROM lossmit_appeal_decisions d JOIN lossmit_appeals p ON p.id = d.appeal_id WHERE p.case_id = $1
             UNION ALL SELECT 'foreclosure_step', occurred_on, step, '', false, actor_id, created_at FROM lossmit_foreclosure_steps WHERE case_id = $1
             UNION ALL SELECT 'assignment', a.assigned_on, 'assigned', COALESCE(f.name, '(none)') || ' -> ' || t.name || CASE WHEN a.reason = '' THEN '' ELSE ': ' || a.reason END,
                   false, a.actor_id, a.created_at
               FROM lossmit_assignments a JOIN users t ON t.id = a.to_specialist_id LEFT JOIN users f ON f.id = a.from_specialist_id
               WHERE a.case_id = $1
             UNION ALL SELECT 'stage', changed_on, to_stage, COALESCE(from_stage, '') || COALESCE(' / ' || resolution, ''), false, actor_id, created_at
               FROM lossmit_stage_changes WHERE case_id = $1
           ) r LEFT JOIN users u ON u.id = r.actor_id
           ORDER BY r.created_at, r.record"#,
        case_id
    )
    .fetch_all(db)
    .await?)
}

/// The decisions of a case with their terms, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRow {
    pub option: String,
    pub program: String,
    pub application_no: i32,
    pub approved: bool,
    pub decided_on: NaiveDate,
    pub reason: String,
    pub terms: serde_json::Value,
}

pub async fn decisions(db: &PgPool, case_id: Uuid) -> AppResult<Vec<DecisionRow>> {
    Ok(sqlx::query_as!(
        DecisionRow,
        "SELECT option, program, application_no, approved, decided_on, reason, terms FROM lossmit_decisions
         WHERE case_id = $1 ORDER BY decided_on DESC, id",
        case_id
    )
    .fetch_all(db)
    .await?)
}

/// The documents received since the delinquency began (first receipt of each), for the checklist; one
/// received earlier never counts.
pub async fn documents_received(db: &PgPool, case: &CaseRow) -> AppResult<Vec<(Document, NaiveDate)>> {
    let rows = sqlx::query!(
        r#"SELECT document, min(received_on) AS "first!" FROM lossmit_documents WHERE case_id = $1 AND received_on >= $2
           GROUP BY document ORDER BY document"#,
        case.id,
        case.first_unpaid_due_date
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Document::parse(&r.document).map(|d| (d, r.first))).collect())
}

/// Facts for the reports, one row per case (visible to supervisors and admins).
pub struct ReportFacts {
    pub decisions: Vec<(Uuid, String, bool, NaiveDate)>,
    pub reopened_after_cure: Vec<Uuid>,
    pub ever_cured_or_modified: Vec<Uuid>,
}

pub async fn report_facts(db: &PgPool) -> AppResult<ReportFacts> {
    let decisions = sqlx::query!("SELECT case_id, option, approved, decided_on FROM lossmit_decisions ORDER BY id")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.case_id, r.option, r.approved, r.decided_on))
        .collect();
    // A re-default: a case resolved as cured or modified that was later reopened.
    let reopened_after_cure = sqlx::query_scalar!(
        "SELECT DISTINCT s.case_id FROM lossmit_stage_changes s
         WHERE s.from_stage = 'resolved' AND EXISTS (
             SELECT 1 FROM lossmit_stage_changes r WHERE r.case_id = s.case_id AND r.to_stage = 'resolved'
               AND r.resolution IN ('cured', 'modified') AND r.id < s.id)"
    )
    .fetch_all(db)
    .await?;
    let ever_cured_or_modified = sqlx::query_scalar!(
        "SELECT DISTINCT case_id FROM lossmit_stage_changes WHERE to_stage = 'resolved' AND resolution IN ('cured', 'modified')"
    )
    .fetch_all(db)
    .await?;
    Ok(ReportFacts { decisions, reopened_after_cure, ever_cured_or_modified })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn digest_runs_at_seven_in_the_organisations_time_zone() {
        let tz = chrono_tz::America::Chicago; // CST = UTC-6 in November
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert_eq!(next_digest_at(at(12, 0), tz), at(13, 0));
        assert_eq!(next_digest_at(at(13, 0), tz), Utc.with_ymd_and_hms(2026, 11, 24, 13, 0, 0).unwrap());
        assert_eq!(digest_key(at(13, 0)), "lossmit.deadline_digest:2026-11-23");
    }
}
