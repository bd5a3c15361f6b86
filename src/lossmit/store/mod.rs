//! All SQL of loss mitigation. Every write runs in one transaction with its audit entry; records are only
//! ever inserted (the database refuses to change them, see migration 0008).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::clocks::{self, AppealFacts, ApplicationFacts, CaseFacts, Deadline, DecisionFacts, ForeclosureStep};
use super::model::{self, Document, NewCase, Resolution, Stage};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::calendar::{self, Calendar};
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
        crate::events::notify(&mut tx, s, "lossmit.assigned", &title, &format!("/lossmit/cases/{id}")).await?;
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

// After `select_cases!`, which the parts use (a macro is in scope from its definition on).
mod casework;
mod proceedings;
mod reads;

pub use casework::*;
pub use proceedings::*;
pub use reads::*;
