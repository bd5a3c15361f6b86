//! SQL for loan options: scenarios with their versions and closing costs, the admin's PMI table, the borrower
//! links and their views. Writes happen in the caller's transaction (`service`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A scenario at one of its versions: every input the figures are made from.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ScenarioRow {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub version: i32,
    pub name: String,
    /// `conventional`, `fha`, `va` or `jumbo`.
    pub program: String,
    /// `fixed` or `arm`.
    pub rate_type: String,
    pub property_value_cents: i64,
    /// The base loan, before a financed FHA upfront premium or VA funding fee.
    pub loan_amount_cents: i64,
    /// Thousandths of a percent: 6.875% is 6875.
    pub rate_milli: i32,
    pub term_months: i32,
    /// Bps of the loan amount; negative is a lender credit.
    pub points_bps: i32,
    pub credit_score: Option<i32>,
    /// Annual PMI bps from the admin's table when this version was saved.
    pub pmi_annual_bps: i32,
    pub fha_upfront_bps: i32,
    pub fha_annual_bps: i32,
    pub va_funding_fee_bps: i32,
    pub arm_initial_months: Option<i32>,
    pub arm_adjust_months: Option<i32>,
    pub arm_initial_cap_milli: Option<i32>,
    pub arm_periodic_cap_milli: Option<i32>,
    pub arm_lifetime_cap_milli: Option<i32>,
    pub arm_margin_milli: Option<i32>,
    pub arm_index_milli: Option<i32>,
    pub monthly_taxes_cents: i64,
    pub monthly_insurance_cents: i64,
    pub monthly_hoa_cents: i64,
    /// Cash from the borrower toward the price.
    pub down_payment_cents: i64,
    pub closing_date: NaiveDate,
    pub first_payment_date: NaiveDate,
    pub copied_from: Option<Uuid>,
    pub created_by: Option<Uuid>,
    /// When this version was saved.
    pub saved_at: DateTime<Utc>,
}

/// One closing cost of a version.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CostRow {
    pub scenario_id: Uuid,
    pub version: i32,
    pub name: String,
    pub amount_cents: i64,
    pub is_prepaid_finance_charge: bool,
}

/// A version in a scenario's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VersionRow {
    pub version: i32,
    pub name: String,
    pub rate_milli: i32,
    pub points_bps: i32,
    pub created_by_name: Option<String>,
    pub saved_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT s.id, s.lead_id, v.version, v.name, v.program, v.rate_type, v.property_value_cents,
        v.loan_amount_cents, v.rate_milli, v.term_months, v.points_bps, v.credit_score, v.pmi_annual_bps,
        v.fha_upfront_bps, v.fha_annual_bps, v.va_funding_fee_bps, v.arm_initial_months, v.arm_adjust_months,
        v.arm_initial_cap_milli, v.arm_periodic_cap_milli, v.arm_lifetime_cap_milli, v.arm_margin_milli,
        v.arm_index_milli, v.monthly_taxes_cents, v.monthly_insurance_cents, v.monthly_hoa_cents,
        v.down_payment_cents, v.closing_date, v.first_payment_date, s.copied_from, v.created_by,
        v.created_at AS saved_at
   FROM loan_scenarios s JOIN loan_scenario_versions v ON v.scenario_id = s.id";

/// The current versions of a lead's options, oldest first.
pub async fn for_lead(db: &PgPool, lead_id: Uuid) -> sqlx::Result<Vec<ScenarioRow>> {
    sqlx::query_as::<_, ScenarioRow>(&format!(
        "{SELECT} AND v.version = s.version WHERE s.lead_id = $1 AND s.archived_at IS NULL ORDER BY s.created_at, s.id"
    ))
    .bind(lead_id)
    .fetch_all(db)
    .await
}

/// These options at their current versions, in the order of `ids` (archived ones are left out).
pub async fn by_ids(db: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<ScenarioRow>> {
    sqlx::query_as::<_, ScenarioRow>(&format!(
        "{SELECT} AND v.version = s.version WHERE s.id = ANY($1) AND s.archived_at IS NULL
         ORDER BY array_position($1, s.id)"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

/// One option at its current version (archived too: its history stays readable).
pub async fn one(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ScenarioRow>> {
    sqlx::query_as::<_, ScenarioRow>(&format!("{SELECT} AND v.version = s.version WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The lead an option belongs to, with its current version, locked for a change.
pub async fn lock_scenario(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<(Uuid, i32, bool)>> {
    let row = sqlx::query!(
        "SELECT lead_id, version, archived_at IS NOT NULL AS \"archived!\" FROM loan_scenarios WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| (r.lead_id, r.version, r.archived)))
}

/// The closing costs of these (scenario, version) pairs.
pub async fn costs(db: &PgPool, ids: &[Uuid], versions: &[i32]) -> sqlx::Result<Vec<CostRow>> {
    sqlx::query_as!(
        CostRow,
        "SELECT c.scenario_id, c.version, c.name, c.amount_cents, c.is_prepaid_finance_charge
           FROM loan_scenario_costs c JOIN UNNEST($1::uuid[], $2::int[]) AS x(s, v) ON c.scenario_id = x.s AND c.version = x.v
          ORDER BY c.scenario_id, c.version, c.position",
        ids,
        versions
    )
    .fetch_all(db)
    .await
}

/// A scenario's versions, newest first.
pub async fn versions(db: &PgPool, id: Uuid) -> sqlx::Result<Vec<VersionRow>> {
    sqlx::query_as!(
        VersionRow,
        "SELECT v.version, v.name, v.rate_milli, v.points_bps, u.name AS \"created_by_name?\", v.created_at AS saved_at
           FROM loan_scenario_versions v LEFT JOIN users u ON u.id = v.created_by
          WHERE v.scenario_id = $1 ORDER BY v.version DESC",
        id
    )
    .fetch_all(db)
    .await
}

/// How many live options a lead has (locked: two saves at once cannot both pass the limit).
pub async fn count_live(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!("SELECT id FROM leads WHERE id = $1 FOR UPDATE", lead_id).fetch_optional(&mut **tx).await?;
    sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM loan_scenarios WHERE lead_id = $1 AND archived_at IS NULL",
        lead_id
    )
    .fetch_one(&mut **tx)
    .await
}

/// A new scenario row (its first version is written by [`insert_version`]).
pub async fn insert_scenario(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    lead_id: Uuid,
    copied_from: Option<(Uuid, i32)>,
    by: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO loan_scenarios (id, lead_id, version, copied_from, copied_version, created_by, created_at, updated_at)
         VALUES ($1, $2, 1, $3, $4, $5, $6, $6)",
        id,
        lead_id,
        copied_from.map(|c| c.0),
        copied_from.map(|c| c.1),
        by,
        at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a scenario to its next version if it is still at `expected` (None: someone saved meanwhile).
pub async fn next_version(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    expected: i32,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "UPDATE loan_scenarios SET version = version + 1, updated_at = $3
          WHERE id = $1 AND version = $2 AND archived_at IS NULL RETURNING version",
        id,
        expected,
        at
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Archives a scenario if it is still at `expected`.
pub async fn archive(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    expected: i32,
    at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "UPDATE loan_scenarios SET archived_at = $3, updated_at = $3 WHERE id = $1 AND version = $2 AND archived_at IS NULL",
        id,
        expected,
        at
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Writes one version of a scenario with its closing costs.
pub async fn insert_version(
    tx: &mut Transaction<'_, Postgres>,
    row: &ScenarioRow,
    costs: &[(String, i64, bool)],
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO loan_scenario_versions (scenario_id, version, name, program, rate_type, property_value_cents,
            loan_amount_cents, rate_milli, term_months, points_bps, credit_score, pmi_annual_bps, fha_upfront_bps,
            fha_annual_bps, va_funding_fee_bps, arm_initial_months, arm_adjust_months, arm_initial_cap_milli,
            arm_periodic_cap_milli, arm_lifetime_cap_milli, arm_margin_milli, arm_index_milli, monthly_taxes_cents,
            monthly_insurance_cents, monthly_hoa_cents, down_payment_cents, closing_date, first_payment_date,
            created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                 $23, $24, $25, $26, $27, $28, $29, $30)",
        row.id,
        row.version,
        row.name,
        row.program,
        row.rate_type,
        row.property_value_cents,
        row.loan_amount_cents,
        row.rate_milli,
        row.term_months,
        row.points_bps,
        row.credit_score,
        row.pmi_annual_bps,
        row.fha_upfront_bps,
        row.fha_annual_bps,
        row.va_funding_fee_bps,
        row.arm_initial_months,
        row.arm_adjust_months,
        row.arm_initial_cap_milli,
        row.arm_periodic_cap_milli,
        row.arm_lifetime_cap_milli,
        row.arm_margin_milli,
        row.arm_index_milli,
        row.monthly_taxes_cents,
        row.monthly_insurance_cents,
        row.monthly_hoa_cents,
        row.down_payment_cents,
        row.closing_date,
        row.first_payment_date,
        row.created_by,
        row.saved_at
    )
    .execute(&mut **tx)
    .await?;
    let names: Vec<String> = costs.iter().map(|c| c.0.clone()).collect();
    let amounts: Vec<i64> = costs.iter().map(|c| c.1).collect();
    let pfc: Vec<bool> = costs.iter().map(|c| c.2).collect();
    sqlx::query!(
        "INSERT INTO loan_scenario_costs (scenario_id, version, position, name, amount_cents, is_prepaid_finance_charge, created_at)
         SELECT $1, $2, (x.o - 1)::int, x.n, x.a, x.p, $6
           FROM UNNEST($3::text[], $4::bigint[], $5::bool[]) WITH ORDINALITY AS x(n, a, p, o)",
        row.id,
        row.version,
        &names,
        &amounts,
        &pfc,
        row.saved_at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---- The admin's PMI table. ----

/// One band of the PMI table.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PmiRow {
    pub id: Uuid,
    /// LTVs above this (bps) …
    pub ltv_from_bps: i32,
    /// … up to and including this.
    pub ltv_to_bps: i32,
    pub credit_from: i32,
    pub credit_to: i32,
    pub annual_bps: i32,
}

pub async fn pmi_rows(db: &PgPool) -> sqlx::Result<Vec<PmiRow>> {
    sqlx::query_as!(
        PmiRow,
        "SELECT id, ltv_from_bps, ltv_to_bps, credit_from, credit_to, annual_bps FROM pmi_rates
          ORDER BY ltv_from_bps, credit_from"
    )
    .fetch_all(db)
    .await
}

/// The annual PMI rate for a loan-to-value and credit score (None: no band covers them).
pub async fn pmi_rate(db: &PgPool, ltv_bps: i64, credit: i32) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "SELECT annual_bps FROM pmi_rates WHERE $1 > ltv_from_bps AND $1 <= ltv_to_bps
            AND $2 BETWEEN credit_from AND credit_to ORDER BY ltv_to_bps - ltv_from_bps LIMIT 1",
        i32::try_from(ltv_bps).unwrap_or(i32::MAX),
        credit
    )
    .fetch_optional(db)
    .await
}

/// Adds a band, or replaces the rate of the same band.
pub async fn upsert_pmi(
    tx: &mut Transaction<'_, Postgres>,
    row: &PmiRow,
    by: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<PmiRow> {
    sqlx::query_as!(
        PmiRow,
        "INSERT INTO pmi_rates (id, ltv_from_bps, ltv_to_bps, credit_from, credit_to, annual_bps, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (ltv_from_bps, ltv_to_bps, credit_from, credit_to) DO UPDATE SET annual_bps = EXCLUDED.annual_bps
         RETURNING id, ltv_from_bps, ltv_to_bps, credit_from, credit_to, annual_bps",
        row.id,
        row.ltv_from_bps,
        row.ltv_to_bps,
        row.credit_from,
        row.credit_to,
        row.annual_bps,
        by,
        at
    )
    .fetch_one(&mut **tx)
    .await
}

pub async fn delete_pmi(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<PmiRow>> {
    sqlx::query_as!(
        PmiRow,
        "DELETE FROM pmi_rates WHERE id = $1 RETURNING id, ltv_from_bps, ltv_to_bps, credit_from, credit_to, annual_bps",
        id
    )
    .fetch_optional(&mut **tx)
    .await
}

// ---- Borrower links. ----

/// A link the LO sent (never its token: only the hash is kept).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LinkRow {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub scenario_ids: Vec<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub views: i64,
    pub last_viewed_at: Option<DateTime<Utc>>,
}

/// A new link: its token's hash only.
pub struct NewLink<'a> {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub token_hash: &'a str,
    pub scenario_ids: &'a [Uuid],
    pub expires_at: DateTime<Utc>,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

pub async fn insert_link(tx: &mut Transaction<'_, Postgres>, l: &NewLink<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO loan_option_links (id, lead_id, token_hash, scenario_ids, expires_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        l.id,
        l.lead_id,
        l.token_hash,
        l.scenario_ids,
        l.expires_at,
        l.by,
        l.at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn links_for_lead(db: &PgPool, lead_id: Uuid) -> sqlx::Result<Vec<LinkRow>> {
    sqlx::query_as!(
        LinkRow,
        r#"SELECT k.id, k.lead_id, k.scenario_ids, k.expires_at, k.revoked_at, k.created_by, k.created_at,
                  (SELECT count(*) FROM loan_option_link_views v WHERE v.link_id = k.id) AS "views!",
                  (SELECT max(v.viewed_at) FROM loan_option_link_views v WHERE v.link_id = k.id) AS last_viewed_at
             FROM loan_option_links k WHERE k.lead_id = $1 ORDER BY k.created_at DESC"#,
        lead_id
    )
    .fetch_all(db)
    .await
}

/// A link by id, locked for a change.
pub async fn link_for_update(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<(Uuid, bool)>> {
    let r = sqlx::query!(
        "SELECT lead_id, revoked_at IS NOT NULL AS \"revoked!\" FROM loan_option_links WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(r.map(|r| (r.lead_id, r.revoked)))
}

pub async fn revoke_link(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    by: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE loan_option_links SET revoked_at = $3, revoked_by = $2 WHERE id = $1", id, by, at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What opening a link needs: the link, its lead's LO and the LO's name (nothing else of the lead).
pub struct OpenedLink {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub scenario_ids: Vec<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub lo_user_id: Option<Uuid>,
    pub lo_name: Option<String>,
}

pub async fn link_by_hash(tx: &mut Transaction<'_, Postgres>, hash: &str) -> sqlx::Result<Option<OpenedLink>> {
    sqlx::query_as!(
        OpenedLink,
        r#"SELECT k.id, k.lead_id, k.scenario_ids, k.expires_at, k.revoked_at, k.created_by,
                  COALESCE(l.assigned_lo_id, k.created_by) AS lo_user_id,
                  COALESCE(lu.name, cu.name) AS lo_name
             FROM loan_option_links k
             JOIN leads l ON l.id = k.lead_id
             LEFT JOIN users lu ON lu.id = l.assigned_lo_id
             LEFT JOIN users cu ON cu.id = k.created_by
            WHERE k.token_hash = $1"#,
        hash
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Records one view of a link and the activity on its lead.
pub async fn record_view(
    tx: &mut Transaction<'_, Postgres>,
    link_id: Uuid,
    lead_id: Uuid,
    note: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("INSERT INTO loan_option_link_views (link_id, viewed_at) VALUES ($1, $2)", link_id, at)
        .execute(&mut **tx)
        .await?;
    crate::leads::store::record_borrower_note(tx, lead_id, note, at).await?;
    Ok(())
}
