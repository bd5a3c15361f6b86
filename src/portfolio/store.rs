//! SQL for the portfolio: loans, market rates, the appreciation index, retention settings, opportunities
//! and their skips. Loan and opportunity lists compose the one scoping rule through
//! `Scope::push_loan_predicate` (src/auth/model.rs); no query here writes the visibility predicate itself.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};

/// A loan to add or update from an import (by loan number).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewLoan {
    pub loan_number: String,
    pub borrower_name: String,
    pub co_borrower_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub note_rate_milli: Option<i64>,
    pub term_months: i32,
    pub product: String,
    pub arm_reset_on: Option<NaiveDate>,
    pub closed_on: NaiveDate,
    pub lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub original_value_cents: Option<i64>,
    pub paid_off_on: Option<NaiveDate>,
    pub payoff_reason: Option<String>,
    pub opted_out: bool,
}

/// Adds the loan or updates the one with the same loan number; returns (id, whether it was new).
pub async fn upsert_loan(tx: &mut Transaction<'_, Postgres>, l: &NewLoan) -> sqlx::Result<(Uuid, bool)> {
    let r = sqlx::query!(
        r#"INSERT INTO portfolio_loans (id, loan_number, borrower_name, co_borrower_name, email, phone, property_state,
               property_zip, loan_amount_cents, note_rate, term_months, product, arm_reset_on, closed_on, lo_id, team_id,
               original_value_cents, paid_off_on, payoff_reason, opted_out)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::int8::numeric / 1000, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
           ON CONFLICT (loan_number) DO UPDATE SET borrower_name = EXCLUDED.borrower_name,
               co_borrower_name = EXCLUDED.co_borrower_name, email = EXCLUDED.email, phone = EXCLUDED.phone,
               property_state = EXCLUDED.property_state, property_zip = EXCLUDED.property_zip,
               loan_amount_cents = EXCLUDED.loan_amount_cents, note_rate = EXCLUDED.note_rate,
               term_months = EXCLUDED.term_months, product = EXCLUDED.product, arm_reset_on = EXCLUDED.arm_reset_on,
               closed_on = EXCLUDED.closed_on, lo_id = EXCLUDED.lo_id, team_id = EXCLUDED.team_id,
               original_value_cents = EXCLUDED.original_value_cents, paid_off_on = EXCLUDED.paid_off_on,
               payoff_reason = EXCLUDED.payoff_reason, opted_out = EXCLUDED.opted_out, updated_at = now()
           RETURNING id, (xmax = 0) AS "inserted!""#,
        Uuid::new_v4(),
        l.loan_number,
        l.borrower_name,
        l.co_borrower_name,
        l.email,
        l.phone,
        l.property_state,
        l.property_zip,
        l.loan_amount_cents,
        l.note_rate_milli,
        l.term_months,
        l.product,
        l.arm_reset_on,
        l.closed_on,
        l.lo_id,
        l.team_id,
        l.original_value_cents,
        l.paid_off_on,
        l.payoff_reason,
        l.opted_out
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok((r.id, r.inserted))
}

/// An LO (any role that can own loans) by email: (id, team, active).
pub async fn user_by_email(
    tx: &mut Transaction<'_, Postgres>,
    email: &str,
) -> sqlx::Result<Option<(Uuid, Option<Uuid>, bool)>> {
    let r = sqlx::query!("SELECT id, team_id, active FROM users WHERE lower(email) = lower($1)", email.trim())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(r.map(|r| (r.id, r.team_id, r.active)))
}

/// Makes a funded lead a portfolio loan (once; a second call changes nothing).
pub async fn loan_from_lead(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> AppResult<Option<Uuid>> {
    let lead = sqlx::query!(
        r#"SELECT first_name, last_name, email, phone, property_state, property_zip, loan_amount_cents,
                  (rate_quoted * 1000)::int8 AS rate_milli, property_value_cents, assigned_lo_id, team_id, loan_number,
                  stage_changed_at
           FROM leads WHERE id = $1"#,
        lead_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let loan_number = lead.loan_number.clone().unwrap_or_else(|| format!("LF-{}", &lead_id.simple().to_string()[..12]));
    let name = format!("{} {}", lead.first_name, lead.last_name).trim().to_string();
    let rate = lead.rate_milli.filter(|r| *r > 0 && *r < 30_000);
    let id = sqlx::query_scalar!(
        r#"INSERT INTO portfolio_loans (id, loan_number, borrower_name, email, phone, property_state, property_zip,
               loan_amount_cents, note_rate, product, closed_on, lo_id, team_id, lead_id, original_value_cents)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::int8::numeric / 1000, 'conventional', $10, $11,
                   COALESCE($12, (SELECT team_id FROM users WHERE id = $11)), $13, $14)
           ON CONFLICT DO NOTHING
           RETURNING id"#,
        Uuid::new_v4(),
        loan_number,
        if name.is_empty() { "(no name)".to_string() } else { name },
        lead.email,
        lead.phone,
        lead.property_state,
        lead.property_zip,
        lead.loan_amount_cents.filter(|a| *a > 0),
        rate,
        lead.stage_changed_at.date_naive(),
        lead.assigned_lo_id,
        lead.team_id,
        lead_id,
        lead.property_value_cents.filter(|v| *v > 0)
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(id)
}

/// Retention settings (the single row).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub threshold_bps: i32,
    pub closing_cost_cents: i64,
    pub cooldown_days: i32,
}

pub async fn settings<'e, E: sqlx::Executor<'e, Database = Postgres>>(db: E) -> sqlx::Result<Settings> {
    sqlx::query_as!(
        Settings,
        "SELECT threshold_bps, closing_cost_cents, cooldown_days FROM retention_settings WHERE id"
    )
    .fetch_one(db)
    .await
}

pub async fn update_settings(tx: &mut Transaction<'_, Postgres>, s: &Settings) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE retention_settings SET threshold_bps = $1, closing_cost_cents = $2, cooldown_days = $3, updated_at = now() WHERE id",
        s.threshold_bps,
        s.closing_cost_cents,
        s.cooldown_days
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The latest market rate per product effective on or before `today` (milli-percent).
pub async fn current_market_rates<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    db: E,
    today: NaiveDate,
) -> sqlx::Result<HashMap<String, i64>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (product) product, (rate * 1000)::int8 AS "rate!"
           FROM market_rates WHERE effective_on <= $1 ORDER BY product, effective_on DESC"#,
        today
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.product, r.rate)).collect())
}

#[derive(Debug, Clone)]
pub struct MarketRateRow {
    pub product: String,
    pub rate_milli: i64,
    pub effective_on: NaiveDate,
    pub entered_by: Option<String>,
}

pub async fn recent_market_rates(db: &PgPool) -> sqlx::Result<Vec<MarketRateRow>> {
    sqlx::query_as!(
        MarketRateRow,
        r#"SELECT m.product, (m.rate * 1000)::int8 AS "rate_milli!", m.effective_on, u.name AS "entered_by?"
           FROM market_rates m LEFT JOIN users u ON u.id = m.entered_by
           ORDER BY m.effective_on DESC, m.product LIMIT 60"#
    )
    .fetch_all(db)
    .await
}

/// Sets the market rate for a product and day (a second entry the same day replaces the first).
pub async fn set_market_rate(
    tx: &mut Transaction<'_, Postgres>,
    product: &str,
    rate_milli: i64,
    effective_on: NaiveDate,
    by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO market_rates (product, rate, effective_on, entered_by) VALUES ($1, $2::int8::numeric / 1000, $3, $4)
         ON CONFLICT (product, effective_on) DO UPDATE SET rate = EXCLUDED.rate, entered_by = EXCLUDED.entered_by",
        product,
        rate_milli,
        effective_on,
        by
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AppreciationRow {
    pub state: String,
    pub annual_milli: i64,
}

pub async fn appreciation_index(db: &PgPool) -> sqlx::Result<Vec<AppreciationRow>> {
    sqlx::query_as!(
        AppreciationRow,
        r#"SELECT state, (annual_pct * 1000)::int8 AS "annual_milli!" FROM appreciation_index ORDER BY state"#
    )
    .fetch_all(db)
    .await
}

pub async fn set_appreciation(
    tx: &mut Transaction<'_, Postgres>,
    state: &str,
    annual_milli: i64,
    by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO appreciation_index (state, annual_pct, updated_by) VALUES ($1, $2::int8::numeric / 1000, $3)
         ON CONFLICT (state) DO UPDATE SET annual_pct = EXCLUDED.annual_pct, updated_by = EXCLUDED.updated_by, updated_at = now()",
        state,
        annual_milli,
        by
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One active loan as the scan sees it.
#[derive(Debug, Clone)]
pub struct ScanLoan {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub loan_amount_cents: Option<i64>,
    pub note_rate_milli: Option<i64>,
    pub term_months: i32,
    pub product: String,
    pub arm_reset_on: Option<NaiveDate>,
    pub closed_on: NaiveDate,
    pub original_value_cents: Option<i64>,
    pub appreciation_milli: i64,
    pub lo_id: Option<Uuid>,
    pub lo_active: Option<bool>,
    pub team_id: Option<Uuid>,
    pub opted_out: bool,
    /// The lead the loan came from, when it came through Loanfloor (its borrower's email and consent).
    pub lead_id: Option<Uuid>,
}

pub async fn scan_loans(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<ScanLoan>> {
    sqlx::query_as!(
        ScanLoan,
        r#"SELECT p.id, p.loan_number, p.borrower_name, p.loan_amount_cents, (p.note_rate * 1000)::int8 AS note_rate_milli,
                  p.term_months, p.product, p.arm_reset_on, p.closed_on, p.original_value_cents,
                  COALESCE((a.annual_pct * 1000)::int8, 0) AS "appreciation_milli!",
                  p.lo_id, u.active AS "lo_active?", COALESCE(p.team_id, u.team_id) AS team_id,
                  (p.opted_out OR EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = p.lead_id AND o.channel = 'all')) AS "opted_out!",
                  p.lead_id
           FROM portfolio_loans p
           LEFT JOIN users u ON u.id = p.lo_id
           LEFT JOIN appreciation_index a ON a.state = p.property_state
           WHERE p.paid_off_on IS NULL
           ORDER BY p.closed_on, p.id"#
    )
    .fetch_all(&mut **tx)
    .await
}

/// (loan, kind) pairs that must not fire again now: an open opportunity, or any created since `since`.
pub async fn cooling_down(
    tx: &mut Transaction<'_, Postgres>,
    since: DateTime<Utc>,
) -> sqlx::Result<HashSet<(Uuid, String)>> {
    let rows = sqlx::query!(
        "SELECT DISTINCT loan_id, kind FROM opportunities WHERE status = 'open' OR created_at >= $1",
        since
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.loan_id, r.kind)).collect())
}

/// (loan, kind) pairs whose skip was already recorded since `since` (so nightly scans do not repeat it).
pub async fn recent_skips(
    tx: &mut Transaction<'_, Postgres>,
    since: DateTime<Utc>,
) -> sqlx::Result<HashSet<(Uuid, String)>> {
    let rows = sqlx::query!("SELECT DISTINCT loan_id, kind FROM opportunity_skips WHERE created_at >= $1", since)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(|r| (r.loan_id, r.kind)).collect())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_opportunity(
    tx: &mut Transaction<'_, Postgres>,
    loan_id: Uuid,
    kind: &str,
    why: &str,
    numbers: &serde_json::Value,
    lo_id: Option<Uuid>,
    team_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "INSERT INTO opportunities (id, loan_id, kind, why, numbers, lo_id, team_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (loan_id, kind) WHERE status = 'open' DO NOTHING RETURNING id",
        Uuid::new_v4(),
        loan_id,
        kind,
        why,
        numbers,
        lo_id,
        team_id,
        now
    )
    .fetch_optional(&mut **tx)
    .await
}

pub async fn insert_skip(
    tx: &mut Transaction<'_, Postgres>,
    loan_id: Uuid,
    kind: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO opportunity_skips (loan_id, kind, reason, created_at) VALUES ($1, $2, $3, $4)",
        loan_id,
        kind,
        reason,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A loan in a list or on its page.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Loan)]
pub struct LoanRow {
    pub id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub co_borrower_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub note_rate_milli: Option<i64>,
    pub term_months: i32,
    pub product: String,
    pub arm_reset_on: Option<NaiveDate>,
    pub closed_on: NaiveDate,
    pub lo_id: Option<Uuid>,
    pub lo_name: Option<String>,
    pub team_id: Option<Uuid>,
    pub original_value_cents: Option<i64>,
    pub paid_off_on: Option<NaiveDate>,
    pub payoff_reason: Option<String>,
    pub opted_out: bool,
}

/// Loans the user may see, by loan number after `after` (keyset), at most `limit`.
/// The loans a retention figure counts, as the portfolio list filters them (`/portfolio?loans=…`): each figure
/// and its list read the same predicate ([`push_set`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoanSet {
    Every,
    /// In the portfolio (not paid off).
    Active,
    /// Paid off in the 365 days before today.
    PaidOff12m,
    RefinancedWithUs,
    LostToCompetitor,
    /// Paid off with a recorded reason (recapture's denominator).
    WithReason,
}

impl LoanSet {
    pub const KEYS: [(&'static str, LoanSet); 5] = [
        ("active", LoanSet::Active),
        ("paid_off_12m", LoanSet::PaidOff12m),
        ("refinanced_with_us", LoanSet::RefinancedWithUs),
        ("lost_to_competitor", LoanSet::LostToCompetitor),
        ("with_reason", LoanSet::WithReason),
    ];
    pub fn parse(s: &str) -> Option<LoanSet> {
        if s.is_empty() {
            return Some(LoanSet::Every);
        }
        Self::KEYS.iter().find(|(k, _)| *k == s).map(|(_, v)| *v)
    }
}

/// The set's predicate over `portfolio_loans p` (an expression, no leading `AND`).
fn push_set(qb: &mut QueryBuilder<'_, Postgres>, set: LoanSet, today: NaiveDate) {
    match set {
        LoanSet::Every => qb.push("true"),
        LoanSet::Active => qb.push("p.paid_off_on IS NULL"),
        LoanSet::PaidOff12m => qb.push("p.paid_off_on > ").push_bind(today).push("::date - 365"),
        LoanSet::RefinancedWithUs => qb.push("p.payoff_reason = 'refinanced_with_us'"),
        LoanSet::LostToCompetitor => qb.push("p.payoff_reason = 'lost_to_competitor'"),
        LoanSet::WithReason => qb.push("(p.paid_off_on IS NOT NULL AND p.payoff_reason IS NOT NULL)"),
    };
}

/// One page of the loans of `set` the user may see, by loan number.
pub async fn visible_loans(
    db: &PgPool,
    user: &CurrentUser,
    set: LoanSet,
    today: NaiveDate,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<LoanRow>> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(LOAN_SELECT);
    user.scope().push_loan_predicate(&mut qb, "p");
    qb.push(" AND ");
    push_set(&mut qb, set, today);
    qb.push(" AND p.loan_number > ").push_bind(after.to_string());
    qb.push(" ORDER BY p.loan_number LIMIT ").push_bind(limit);
    qb.build_query_as().fetch_all(db).await
}

/// The columns of a [`LoanRow`], for queries that add the scope and their own conditions.
const LOAN_SELECT: &str =
    "SELECT p.id, p.loan_number, p.borrower_name, p.co_borrower_name, p.email, p.phone, p.property_state,
                p.property_zip, p.loan_amount_cents, (p.note_rate * 1000)::int8 AS note_rate_milli, p.term_months,
                p.product, p.arm_reset_on, p.closed_on, p.lo_id, u.name AS lo_name, p.team_id,
                p.original_value_cents, p.paid_off_on, p.payoff_reason, p.opted_out
         FROM portfolio_loans p LEFT JOIN users u ON u.id = p.lo_id WHERE true";

/// One loan the user may see, or NotFound.
pub async fn visible_loan(db: &PgPool, user: &CurrentUser, id: Uuid) -> AppResult<LoanRow> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(LOAN_SELECT);
    qb.push(" AND p.id = ").push_bind(id);
    user.scope().push_loan_predicate(&mut qb, "p");
    let row: Option<LoanRow> = qb.build_query_as().fetch_optional(db).await?;
    match row {
        Some(r) => Ok(r),
        None => {
            crate::audit::record_event(db, Some(user.id), "access_refused", &format!("portfolio loan {id}")).await;
            Err(AppError::NotFound)
        }
    }
}

pub async fn record_payoff(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    paid_off_on: Option<NaiveDate>,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE portfolio_loans SET paid_off_on = $2, payoff_reason = $3, updated_at = now() WHERE id = $1",
        id,
        paid_off_on,
        reason
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An opportunity in a list.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Opportunity)]
pub struct OpportunityRow {
    pub id: Uuid,
    pub loan_id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub kind: String,
    pub why: String,
    /// The figures behind it, by kind (`arm_reset_on`, `days_to_reset`, `years`, `anniversary_on`, ...).
    #[schema(value_type = Object)]
    pub numbers: serde_json::Value,
    pub lo_id: Option<Uuid>,
    pub lo_name: Option<String>,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Opportunities the user may see (an LO: their own; a manager: their teams'; an admin: all).
/// Which opportunities a list shows: any of `statuses` (empty: all) and, when given, one LO's (`Some(None)`:
/// the team queue's).
#[derive(Debug, Clone, Default)]
pub struct OpportunityFilter {
    pub statuses: Vec<&'static str>,
    pub lo: Option<Option<Uuid>>,
}

fn push_opportunity_filter(qb: &mut QueryBuilder<'_, Postgres>, user: &CurrentUser, f: &OpportunityFilter) {
    user.scope().push_loan_predicate(qb, "o");
    if !f.statuses.is_empty() {
        qb.push(" AND o.status = ANY(")
            .push_bind(f.statuses.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .push(")");
    }
    match f.lo {
        Some(Some(lo)) => {
            qb.push(" AND o.lo_id = ").push_bind(lo);
        }
        Some(None) => {
            qb.push(" AND o.lo_id IS NULL");
        }
        None => {}
    }
}

pub async fn visible_opportunities(
    db: &PgPool,
    user: &CurrentUser,
    f: &OpportunityFilter,
    limit: i64,
) -> sqlx::Result<Vec<OpportunityRow>> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT o.id, o.loan_id, p.loan_number, p.borrower_name, o.kind, o.why, o.numbers, o.lo_id,
                u.name AS lo_name, o.team_id, t.name AS team_name, o.status, o.created_at
         FROM opportunities o
         JOIN portfolio_loans p ON p.id = o.loan_id
         LEFT JOIN users u ON u.id = o.lo_id
         LEFT JOIN teams t ON t.id = o.team_id
         WHERE true",
    );
    push_opportunity_filter(&mut qb, user, f);
    qb.push(" ORDER BY o.created_at DESC, o.id LIMIT ").push_bind(limit);
    qb.build_query_as().fetch_all(db).await
}

/// How many opportunities [`visible_opportunities`] would list without its limit.
pub async fn count_opportunities(db: &PgPool, user: &CurrentUser, f: &OpportunityFilter) -> sqlx::Result<i64> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT count(*) FROM opportunities o WHERE true");
    push_opportunity_filter(&mut qb, user, f);
    qb.build_query_scalar().fetch_one(db).await
}

pub async fn loan_opportunities(db: &PgPool, loan_id: Uuid) -> sqlx::Result<Vec<OpportunityRow>> {
    sqlx::query_as!(
        OpportunityRow,
        r#"SELECT o.id, o.loan_id, p.loan_number, p.borrower_name, o.kind, o.why, o.numbers, o.lo_id,
                  u.name AS "lo_name?", o.team_id, t.name AS "team_name?", o.status, o.created_at
           FROM opportunities o
           JOIN portfolio_loans p ON p.id = o.loan_id
           LEFT JOIN users u ON u.id = o.lo_id
           LEFT JOIN teams t ON t.id = o.team_id
           WHERE o.loan_id = $1 ORDER BY o.created_at DESC"#,
        loan_id
    )
    .fetch_all(db)
    .await
}

/// Locks an opportunity the user may see: (status, lo_id, team_id), or NotFound.
pub async fn lock_visible_opportunity(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    id: Uuid,
) -> AppResult<String> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT status FROM opportunities o WHERE o.id = ");
    qb.push_bind(id);
    user.scope().push_loan_predicate(&mut qb, "o");
    qb.push(" FOR UPDATE");
    qb.build_query_scalar().fetch_optional(&mut **tx).await?.ok_or(AppError::NotFound)
}

pub async fn set_opportunity_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    by: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE opportunities SET status = $2, status_changed_at = $4, status_changed_by = $3 WHERE id = $1",
        id,
        status,
        by,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct SkipRow {
    pub loan_id: Uuid,
    pub loan_number: String,
    pub borrower_name: String,
    pub kind: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Recorded skips on loans the user may see, newest first.
pub async fn visible_skips(db: &PgPool, user: &CurrentUser, limit: i64) -> sqlx::Result<Vec<SkipRow>> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT s.loan_id, p.loan_number, p.borrower_name, s.kind, s.reason, s.created_at
         FROM opportunity_skips s JOIN portfolio_loans p ON p.id = s.loan_id WHERE true",
    );
    user.scope().push_loan_predicate(&mut qb, "p");
    qb.push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ").push_bind(limit);
    qb.build_query_as().fetch_all(db).await
}

/// Retention totals over the loans the user may see.
#[derive(sqlx::FromRow)]
pub struct RetentionTotals {
    pub portfolio_size: i64,
    pub paid_off_12m: i64,
    pub refinanced_with_us: i64,
    pub paid_off_with_reason: i64,
    pub lost_to_competitor: i64,
    /// Leads a past client referred, and those that reached funded, among the leads the user's lead list
    /// shows: what `/leads?referrer=past_client` (and `&stage=funded&reached=1`) lists.
    pub referrals: i64,
    pub referrals_funded: i64,
}

/// The retention counts over the loans the user may see, each by its [`LoanSet`]'s predicate, in one statement.
pub async fn retention_totals(db: &PgPool, user: &CurrentUser, today: NaiveDate) -> sqlx::Result<RetentionTotals> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT ");
    for (i, (set, name)) in [
        (LoanSet::Active, "portfolio_size"),
        (LoanSet::PaidOff12m, "paid_off_12m"),
        (LoanSet::RefinancedWithUs, "refinanced_with_us"),
        (LoanSet::WithReason, "paid_off_with_reason"),
        (LoanSet::LostToCompetitor, "lost_to_competitor"),
    ]
    .into_iter()
    .enumerate()
    {
        qb.push(if i == 0 { "count(*) FILTER (WHERE " } else { ", count(*) FILTER (WHERE " });
        push_set(&mut qb, set, today);
        qb.push(format_args!(") AS {name}"));
    }
    // The referrals, in the same statement: the lead list's `referrer=past_client` and `reached` (funded is the
    // eighth won-path stage) over the lead list's scope.
    qb.push(", (SELECT count(*) FROM leads l WHERE l.referred_by_loan_id IS NOT NULL");
    user.lead_list_scope().push_lead_predicate(&mut qb, "l");
    qb.push(
        ") AS referrals, (SELECT count(*) FROM leads l WHERE l.referred_by_loan_id IS NOT NULL
           AND EXISTS (SELECT 1 FROM stage_changes s WHERE s.lead_id = l.id AND metrics_won_pos(s.to_stage) >= 8)",
    );
    user.lead_list_scope().push_lead_predicate(&mut qb, "l");
    qb.push(") AS referrals_funded FROM portfolio_loans p WHERE true");
    user.scope().push_loan_predicate(&mut qb, "p");
    qb.build_query_as().fetch_one(db).await
}

/// How many loans of `set` the user may see (the list's total).
pub async fn count_loans(db: &PgPool, user: &CurrentUser, set: LoanSet, today: NaiveDate) -> sqlx::Result<i64> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("SELECT count(*) FROM portfolio_loans p WHERE ");
    push_set(&mut qb, set, today);
    user.scope().push_loan_predicate(&mut qb, "p");
    qb.build_query_scalar().fetch_one(db).await
}

/// Opportunities per LO (team-queue ones under "Team queue").
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct LoOpportunityCounts {
    /// None: the team queue's.
    pub lo_id: Option<Uuid>,
    pub lo_name: String,
    pub open: i64,
    pub worked: i64,
    pub converted: i64,
    pub dismissed: i64,
}

impl LoOpportunityCounts {
    /// The opportunities list behind one of this row's figures (`open`, `worked` — worked or converted —,
    /// `converted`, `dismissed`).
    pub fn list(&self, figure: &str) -> String {
        let lo = self.lo_id.map_or_else(|| "none".to_string(), |id| id.to_string());
        let status = if figure == "worked" { "worked&status=converted" } else { figure };
        format!("/portfolio/opportunities?lo={lo}&status={status}")
    }
}

pub async fn opportunities_per_lo(db: &PgPool, user: &CurrentUser) -> sqlx::Result<Vec<LoOpportunityCounts>> {
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT o.lo_id, COALESCE(min(u.name), 'Team queue') AS lo_name,
                count(*) FILTER (WHERE o.status = 'open') AS open,
                count(*) FILTER (WHERE o.status IN ('worked', 'converted')) AS worked,
                count(*) FILTER (WHERE o.status = 'converted') AS converted,
                count(*) FILTER (WHERE o.status = 'dismissed') AS dismissed
         FROM opportunities o LEFT JOIN users u ON u.id = o.lo_id WHERE true",
    );
    user.scope().push_loan_predicate(&mut qb, "o");
    qb.push(" GROUP BY o.lo_id ORDER BY 2, 1");
    qb.build_query_as().fetch_all(db).await
}
