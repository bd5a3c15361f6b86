//! The SQL of fair-lending monitoring: the decided pricing exceptions of a period with the facts of their
//! loans (read from the escalation and lead tables, not through the escalations capability), HMDA
//! demographics, and the saved runs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// One decided pricing exception with its loan's facts, before the bands and proxies are worked out.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub lo_id: Uuid,
    pub lo: String,
    pub approver_id: Option<Uuid>,
    pub approver: Option<String>,
    pub team_id: Option<Uuid>,
    pub team: Option<String>,
    pub granted: bool,
    pub granted_bps: i32,
    pub granted_cents: i64,
    pub last_name: String,
    pub property_zip: Option<String>,
    pub credit_band: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub property_value_cents: Option<i64>,
    pub product: Option<String>,
    pub channel: Option<String>,
    pub ethnicity: Option<String>,
    pub race: Option<String>,
    pub sex: Option<String>,
}

/// The decided pricing exceptions filed in [from, to).
pub async fn decided_exceptions(db: &PgPool, from: DateTime<Utc>, to: DateTime<Utc>) -> sqlx::Result<Vec<RawRequest>> {
    sqlx::query_as!(
        RawRequest,
        r#"SELECT e.id, e.created_at, e.requester_id AS lo_id, r.name AS lo,
                  e.decided_by AS approver_id, a.name AS "approver?", e.team_id, t.name AS "team?",
                  (e.decision IN ('approve', 'counter')) AS "granted!", e.granted_bps, e.granted_cents,
                  l.last_name, l.property_zip, l.credit_band,
                  coalesce(e.loan_amount_cents, l.loan_amount_cents) AS loan_amount_cents,
                  l.property_value_cents,
                  coalesce((SELECT k.product FROM rate_locks k WHERE k.lead_id = l.id
                            ORDER BY k.created_at DESC LIMIT 1), l.loan_purpose) AS product,
                  s.channel AS "channel?",
                  d.ethnicity AS "ethnicity?", d.race AS "race?", d.sex AS "sex?"
           FROM escalations e
           JOIN leads l ON l.id = e.lead_id
           JOIN users r ON r.id = e.requester_id
           LEFT JOIN users a ON a.id = e.decided_by
           LEFT JOIN teams t ON t.id = e.team_id
           LEFT JOIN lead_sources s ON s.key = l.source
           LEFT JOIN LATERAL (SELECT ethnicity, race, sex FROM lead_demographics
                              WHERE lead_id = l.id ORDER BY id DESC LIMIT 1) d ON true
           WHERE e.kind = 'pricing_exception' AND e.decision IS NOT NULL
             AND e.created_at >= $1 AND e.created_at < $2
           ORDER BY e.created_at, e.id"#,
        from,
        to
    )
    .fetch_all(db)
    .await
}

/// A saved run, as its page reads it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: Uuid,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub grouping: String,
    pub inputs: serde_json::Value,
    pub method_version: String,
    pub results: serde_json::Value,
    pub created_by: Uuid,
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn run(db: &PgPool, id: Uuid) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as!(
        RunRow,
        "SELECT f.id, f.period_from, f.period_to, f.grouping, f.inputs, f.method_version, f.results, f.created_by,
                u.name AS created_by_name, f.created_at
         FROM fair_lending_runs f JOIN users u ON u.id = f.created_by WHERE f.id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// The latest runs (newest first), for the run list.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub id: Uuid,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub grouping: String,
    pub created_by_name: String,
    pub created_at: DateTime<Utc>,
    pub flagged: i64,
}

pub async fn recent_runs(db: &PgPool, limit: i64) -> sqlx::Result<Vec<RunLine>> {
    sqlx::query_as!(
        RunLine,
        r#"SELECT f.id, f.period_from, f.period_to, f.grouping, u.name AS created_by_name, f.created_at,
                  (SELECT count(*) FROM jsonb_array_elements(f.results -> 'comparisons') c
                   WHERE (c ->> 'flagged')::boolean) AS "flagged!"
           FROM fair_lending_runs f JOIN users u ON u.id = f.created_by
           ORDER BY f.created_at DESC, f.id LIMIT $1"#,
        limit
    )
    .fetch_all(db)
    .await
}

/// A run to save.
pub struct NewRun<'a> {
    pub id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub grouping: &'a str,
    pub inputs: serde_json::Value,
    pub method_version: &'a str,
    pub results: serde_json::Value,
    pub created_by: Uuid,
}

pub async fn insert_run(tx: &mut sqlx::PgConnection, r: &NewRun<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO fair_lending_runs (id, period_from, period_to, grouping, inputs, method_version, results, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        r.id,
        r.from,
        r.to,
        r.grouping,
        r.inputs,
        r.method_version,
        r.results,
        r.created_by
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The latest HMDA demographics recorded on a lead.
#[derive(Debug, Clone, Serialize)]
pub struct Demographics {
    pub ethnicity: String,
    pub race: String,
    pub sex: String,
    pub method: String,
    pub collected_by_name: String,
    pub collected_at: DateTime<Utc>,
}

pub async fn demographics(db: &PgPool, lead: Uuid) -> sqlx::Result<Option<Demographics>> {
    sqlx::query_as!(
        Demographics,
        "SELECT d.ethnicity, d.race, d.sex, d.method, u.name AS collected_by_name, d.collected_at
         FROM lead_demographics d JOIN users u ON u.id = d.collected_by
         WHERE d.lead_id = $1 ORDER BY d.id DESC LIMIT 1",
        lead
    )
    .fetch_optional(db)
    .await
}

pub struct NewDemographics<'a> {
    pub lead: Uuid,
    pub ethnicity: &'a str,
    pub race: &'a str,
    pub sex: &'a str,
    pub method: &'a str,
    pub by: Uuid,
    pub at: DateTime<Utc>,
}

pub async fn insert_demographics(tx: &mut sqlx::PgConnection, d: &NewDemographics<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO lead_demographics (lead_id, ethnicity, race, sex, method, collected_by, collected_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        d.lead,
        d.ethnicity,
        d.race,
        d.sex,
        d.method,
        d.by,
        d.at
    )
    .fetch_one(tx)
    .await
}
