//! SQL for escalations: requests, their immutable events, attachments, settings, reports and coaching reviews.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::model::{self, AuthorityTable, FairLendingThresholds, Level, ReportRow};
use crate::auth::CurrentUser;

mod coaching;
pub use coaching::*;

/// One request with the lead context and names the pages show. Rates and prices are in thousandths.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EscalationRow {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub requester_id: Uuid,
    pub requester_name: String,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub kind: String,
    pub priority: String,
    pub status: String,
    pub standard_rate: Option<i32>,
    pub requested_rate: Option<i32>,
    pub standard_price: Option<i32>,
    pub requested_price: Option<i32>,
    pub concession_bps: i32,
    pub concession_cents: i64,
    pub loan_amount_cents: Option<i64>,
    pub reason: String,
    pub competitor_name: Option<String>,
    pub competitor_offer: Option<String>,
    pub note: String,
    pub required_level: String,
    pub current_level: String,
    pub due_at: DateTime<Utc>,
    pub decision: Option<String>,
    pub granted_bps: i32,
    pub granted_cents: i64,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub borrower: String,
    pub lead_stage: String,
    pub lead_lo_id: Option<Uuid>,
    pub lead_lo_name: Option<String>,
    pub lead_team_id: Option<Uuid>,
    pub property_state: Option<String>,
    pub loan_purpose: Option<String>,
    pub credit_band: Option<String>,
    pub rate_quoted: Option<i32>,
    /// The rate lock this request prices (a lock extension always; a pricing exception when the loan was locked).
    pub lock_id: Option<Uuid>,
    /// A lock extension's days.
    pub extension_days: Option<i32>,
}

const SELECT: &str = "SELECT e.id, e.lead_id, e.requester_id, r.name AS requester_name, e.team_id, t.name AS team_name,
    e.kind, e.priority, e.status,
    (e.standard_rate * 1000)::int4 AS standard_rate, (e.requested_rate * 1000)::int4 AS requested_rate,
    (e.standard_price * 1000)::int4 AS standard_price, (e.requested_price * 1000)::int4 AS requested_price,
    e.concession_bps, e.concession_cents, e.loan_amount_cents, e.reason, e.competitor_name, e.competitor_offer,
    e.note, e.required_level, e.current_level, e.due_at, e.decision, e.granted_bps, e.granted_cents,
    d.name AS decided_by_name, e.decided_at, e.version, e.created_at, e.updated_at,
    trim(l.first_name || ' ' || l.last_name) AS borrower, l.stage AS lead_stage, l.assigned_lo_id AS lead_lo_id,
    lo.name AS lead_lo_name, l.team_id AS lead_team_id, l.property_state, l.loan_purpose, l.credit_band,
    (l.rate_quoted * 1000)::int4 AS rate_quoted, e.lock_id, e.extension_days
  FROM escalations e
  JOIN leads l ON l.id = e.lead_id
  JOIN users r ON r.id = e.requester_id
  LEFT JOIN teams t ON t.id = e.team_id
  LEFT JOIN users d ON d.id = e.decided_by
  LEFT JOIN users lo ON lo.id = l.assigned_lo_id";

pub async fn find(db: &PgPool, id: Uuid) -> sqlx::Result<Option<EscalationRow>> {
    let mut qb = QueryBuilder::new(SELECT);
    qb.push(" WHERE e.id = ").push_bind(id);
    qb.build_query_as().fetch_optional(db).await
}

/// What a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only requests this user filed.
    pub mine_only: bool,
    /// `open` (requested or in review), a single status, or empty for all.
    pub status: String,
    pub kind: String,
    pub lo_id: Option<Uuid>,
    /// A team, or [`TeamFilter::None`] for requests filed without one (the report's "No team" row).
    pub team: Option<TeamFilter>,
    pub lead_id: Option<Uuid>,
    /// Filed at or after / before (the concession reports' range, in the organisation's days).
    pub filed_from: Option<DateTime<Utc>>,
    pub filed_before: Option<DateTime<Utc>>,
    /// Decided, granted or granted-and-funded, as the concession reports count them.
    pub outcome: Option<model::ReportOutcome>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TeamFilter {
    Team(Uuid),
    None,
}

/// Who sees which request ([`model::may_see`] as SQL): their own, those on leads their scope covers, and
/// (approvers over every team) those within their authority. The queue, the API and the concession reports
/// all use it, so a report's figure and the list behind it count the same requests.
fn push_visible(
    qb: &mut QueryBuilder<'_, Postgres>,
    user: &CurrentUser,
    authority: Option<&model::Authority>,
    mine_only: bool,
) {
    qb.push(" WHERE (e.requester_id = ").push_bind(user.id);
    if !mine_only {
        qb.push(" OR (true");
        user.scope().push_lead_predicate(qb, "l");
        qb.push(")");
        if let Some(a) = authority.filter(|a| a.all_teams) {
            qb.push(" OR (e.concession_bps <= ").push_bind(a.max_bps.unwrap_or(i32::MAX));
            if a.level != Level::Admin {
                qb.push(" AND e.current_level <> 'manager'");
            }
            qb.push(")");
        }
    }
    qb.push(")");
}

/// The report's outcomes as SQL over `e` (the request) and `l` (its lead).
const GRANTED: &str = " AND e.decision IN ('approve', 'counter')";
const FUNDED: &str = " AND (l.stage = 'funded' OR EXISTS (SELECT 1 FROM stage_changes sc WHERE sc.lead_id = l.id AND sc.to_stage = 'funded'))";

fn push_filter(
    qb: &mut QueryBuilder<'_, Postgres>,
    user: &CurrentUser,
    authority: Option<&model::Authority>,
    f: &ListFilter,
) {
    push_visible(qb, user, authority, f.mine_only);
    match f.status.as_str() {
        "" => {}
        "open" => {
            qb.push(" AND e.status IN ('requested', 'in_review')");
        }
        s => {
            qb.push(" AND e.status = ").push_bind(s.to_string());
        }
    }
    if !f.kind.is_empty() {
        qb.push(" AND e.kind = ").push_bind(f.kind.clone());
    }
    if let Some(lo) = f.lo_id {
        qb.push(" AND e.requester_id = ").push_bind(lo);
    }
    match f.team {
        Some(TeamFilter::Team(t)) => {
            qb.push(" AND e.team_id = ").push_bind(t);
        }
        Some(TeamFilter::None) => {
            qb.push(" AND e.team_id IS NULL");
        }
        None => {}
    }
    if let Some(lead) = f.lead_id {
        qb.push(" AND e.lead_id = ").push_bind(lead);
    }
    if let Some(from) = f.filed_from {
        qb.push(" AND e.created_at >= ").push_bind(from);
    }
    if let Some(before) = f.filed_before {
        qb.push(" AND e.created_at < ").push_bind(before);
    }
    match f.outcome {
        Some(model::ReportOutcome::Decided) => {
            qb.push(" AND e.decision IS NOT NULL");
        }
        Some(model::ReportOutcome::Granted) => {
            qb.push(GRANTED);
        }
        Some(model::ReportOutcome::Funded) => {
            qb.push(GRANTED).push(FUNDED);
        }
        None => {}
    }
}

/// Requests the user may see, oldest first, up to the filter's limit.
pub async fn list(
    db: &PgPool,
    user: &CurrentUser,
    authority: Option<&model::Authority>,
    f: &ListFilter,
) -> sqlx::Result<Vec<EscalationRow>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_filter(&mut qb, user, authority, f);
    qb.push(" ORDER BY e.created_at, e.id LIMIT ").push_bind(if f.limit > 0 { f.limit } else { 500 });
    qb.build_query_as().fetch_all(db).await
}

/// How many requests [`list`] would show without its limit.
pub async fn count(
    db: &PgPool,
    user: &CurrentUser,
    authority: Option<&model::Authority>,
    f: &ListFilter,
) -> sqlx::Result<i64> {
    let mut qb = QueryBuilder::new("SELECT count(*) FROM escalations e JOIN leads l ON l.id = e.lead_id");
    push_filter(&mut qb, user, authority, f);
    qb.build_query_scalar().fetch_one(db).await
}

/// Open requests this user may decide: not their own, within their authority, on their teams (managers).
pub async fn waiting_count(db: &PgPool, user: &CurrentUser, a: &model::Authority) -> sqlx::Result<i64> {
    // Decision authority, not visibility: the teams are the ones the scope manages (`Scope::manages_team`).
    let managed = user.scope().team_ids;
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM escalations e JOIN leads l ON l.id = e.lead_id
           WHERE e.status IN ('requested', 'in_review') AND e.requester_id <> $1
             AND (l.team_id = ANY($3) OR ($2 AND ($5 OR e.current_level <> 'manager'))) AND e.concession_bps <= $4"#,
        user.id,
        a.all_teams,
        &managed,
        a.max_bps.unwrap_or(i32::MAX),
        a.level == Level::Admin
    )
    .fetch_one(db)
    .await
}

pub async fn authority_table(db: &PgPool) -> sqlx::Result<AuthorityTable> {
    let rows =
        sqlx::query!("SELECT level, role, user_id, max_bps FROM approver_limits ORDER BY id").fetch_all(db).await?;
    let mut t = AuthorityTable::default();
    for r in rows {
        match (r.role.as_deref(), r.user_id) {
            (Some("manager"), _) => t.manager_role_bps = Some(r.max_bps),
            (Some("admin"), _) => t.admin_role_bps = Some(r.max_bps),
            (_, Some(uid)) => {
                if let Some(level) = Level::parse(&r.level) {
                    t.users.push((uid, level, r.max_bps));
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

/// A named approver with a limit of their own, for the settings page.
#[derive(Debug, Clone)]
pub struct UserLimit {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub level: String,
    pub max_bps: Option<i32>,
}

pub async fn user_limits(db: &PgPool) -> sqlx::Result<Vec<UserLimit>> {
    sqlx::query_as!(
        UserLimit,
        r#"SELECT a.user_id AS "user_id!", u.name, u.email, a.level, a.max_bps
           FROM approver_limits a JOIN users u ON u.id = a.user_id ORDER BY u.name"#
    )
    .fetch_all(db)
    .await
}

pub async fn set_role_limit(tx: &mut Transaction<'_, Postgres>, role: &str, max_bps: Option<i32>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE approver_limits SET max_bps = $2, updated_at = now() WHERE role = $1", role, max_bps)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_user_limit(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    level: Level,
    max_bps: Option<i32>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO approver_limits (level, user_id, max_bps) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) WHERE user_id IS NOT NULL DO UPDATE SET level = $1, max_bps = $3, updated_at = now()",
        level.as_str(),
        user_id,
        max_bps
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn remove_user_limit(tx: &mut Transaction<'_, Postgres>, user_id: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!("DELETE FROM approver_limits WHERE user_id = $1", user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// SLA hours and priority of a kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindSetting {
    pub kind: String,
    pub label: String,
    pub sla_hours: i32,
    pub priority: String,
}

pub async fn kind_settings(db: &PgPool) -> sqlx::Result<Vec<KindSetting>> {
    sqlx::query_as!(KindSetting, "SELECT kind, label, sla_hours, priority FROM escalation_kinds ORDER BY kind")
        .fetch_all(db)
        .await
}

pub async fn update_kind(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    sla_hours: i32,
    priority: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE escalation_kinds SET sla_hours = $2, priority = $3, updated_at = now() WHERE kind = $1",
        kind,
        sla_hours,
        priority
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn fair_lending_thresholds(db: &PgPool) -> sqlx::Result<FairLendingThresholds> {
    let v = sqlx::query_scalar!("SELECT value FROM settings WHERE key = 'escalations.fair_lending'")
        .fetch_optional(db)
        .await?;
    Ok(v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

pub async fn set_fair_lending_thresholds(
    tx: &mut Transaction<'_, Postgres>,
    t: FairLendingThresholds,
) -> sqlx::Result<()> {
    let v = serde_json::to_value(t).unwrap_or_default();
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ('escalations.fair_lending', $1)
         ON CONFLICT (key) DO UPDATE SET value = $1, updated_at = now()",
        v
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A request to insert (validated).
#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub lead_id: Uuid,
    pub team_id: Option<Uuid>,
    pub kind: String,
    pub priority: String,
    pub standard_rate: Option<i32>,
    pub requested_rate: Option<i32>,
    pub standard_price: Option<i32>,
    pub requested_price: Option<i32>,
    pub concession_bps: i32,
    pub concession_cents: i64,
    pub loan_amount_cents: Option<i64>,
    pub reason: String,
    pub competitor_name: Option<String>,
    pub competitor_offer: Option<String>,
    pub note: String,
    pub required_level: Level,
    pub due_at: DateTime<Utc>,
    pub lock_id: Option<Uuid>,
    pub extension_days: Option<i32>,
}

pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    requester: Uuid,
    n: &NewEscalation,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO escalations (id, lead_id, requester_id, team_id, kind, priority, standard_rate, requested_rate,
            standard_price, requested_price, concession_bps, concession_cents, loan_amount_cents, reason,
            competitor_name, competitor_offer, note, required_level, current_level, due_at, created_at, updated_at,
            lock_id, extension_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7::int4::numeric / 1000, $8::int4::numeric / 1000, $9::int4::numeric / 1000,
            $10::int4::numeric / 1000, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19, $20, $20, $21, $22)",
        id,
        n.lead_id,
        requester,
        n.team_id,
        n.kind,
        n.priority,
        n.standard_rate,
        n.requested_rate,
        n.standard_price,
        n.requested_price,
        n.concession_bps,
        n.concession_cents,
        n.loan_amount_cents,
        n.reason,
        n.competitor_name,
        n.competitor_offer,
        n.note,
        n.required_level.as_str(),
        n.due_at,
        now,
        n.lock_id,
        n.extension_days
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One immutable event.
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub counter_bps: Option<i32>,
    pub note: &'a str,
}

pub async fn add_event(
    tx: &mut Transaction<'_, Postgres>,
    escalation_id: Uuid,
    actor: Option<Uuid>,
    e: &NewEvent<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO escalation_events (escalation_id, actor_id, kind, from_status, to_status, decision, counter_bps, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        escalation_id,
        actor,
        e.kind,
        e.from_status,
        e.to_status,
        e.decision,
        e.counter_bps,
        e.note,
        now
    )
    .fetch_one(&mut **tx)
    .await
}

/// One event of a request's history: filed, a status change, a decision, a note.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = EscalationEvent)]
pub struct EventRow {
    pub id: i64,
    pub actor_name: Option<String>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub decision: Option<String>,
    pub counter_bps: Option<i32>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

pub async fn events(db: &PgPool, escalation_id: Uuid) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT ev.id, u.name AS "actor_name?", ev.kind, ev.from_status, ev.to_status, ev.decision, ev.counter_bps,
                  ev.note, ev.created_at
           FROM escalation_events ev LEFT JOIN users u ON u.id = ev.actor_id
           WHERE ev.escalation_id = $1 ORDER BY ev.id"#,
        escalation_id
    )
    .fetch_all(db)
    .await
}

/// Locks the request for a state change; returns (status, version, requester, concession bps).
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<(String, i32, Uuid, i32)>> {
    let r = sqlx::query!(
        "SELECT status, version, requester_id, concession_bps FROM escalations WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(r.map(|r| (r.status, r.version, r.requester_id, r.concession_bps)))
}

pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE escalations SET status = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        id,
        status,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn record_decision(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    decision: &str,
    granted_bps: i32,
    decided_by: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE escalations SET status = $2, decision = $3, granted_bps = $4,
                granted_cents = CASE WHEN $4 = concession_bps THEN concession_cents
                                     ELSE (coalesce(loan_amount_cents, 0)::numeric * $4 / 10000)::numeric(20, 0)::int8 END,
                decided_by = $5, decided_at = $6, first_decided_at = coalesce(first_decided_at, $6),
                version = version + 1, updated_at = $6
         WHERE id = $1",
        id,
        status,
        decision,
        granted_bps,
        decided_by,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// People to tell about a new or overdue request at `level`: the managers of the lead's team, the pricing
/// desk within its limit, or the admins. Never the requester.
pub async fn approvers_for(
    tx: &mut Transaction<'_, Postgres>,
    level: Level,
    team_id: Option<Uuid>,
    bps: i32,
    requester: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    let ids = match (level, team_id) {
        (Level::Manager, Some(team)) => {
            sqlx::query_scalar!(
                "SELECT tm.user_id FROM team_managers tm JOIN users u ON u.id = tm.user_id
                 WHERE tm.team_id = $1 AND u.active AND u.id <> $2",
                team,
                requester
            )
            .fetch_all(&mut **tx)
            .await?
        }
        (Level::PricingDesk, _) => {
            sqlx::query_scalar!(
                r#"SELECT a.user_id AS "id!" FROM approver_limits a JOIN users u ON u.id = a.user_id
                   WHERE a.level = 'pricing_desk' AND u.active AND u.id <> $1 AND (a.max_bps IS NULL OR a.max_bps >= $2)"#,
                requester,
                bps
            )
            .fetch_all(&mut **tx)
            .await?
        }
        _ => Vec::new(),
    };
    if !ids.is_empty() {
        return Ok(ids);
    }
    sqlx::query_scalar!("SELECT id FROM users WHERE role = 'admin' AND active AND id <> $1", requester)
        .fetch_all(&mut **tx)
        .await
}

/// An uploaded file.
pub struct Attachment {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i32,
}

pub async fn add_attachment(
    tx: &mut Transaction<'_, Postgres>,
    escalation_id: Uuid,
    file_name: &str,
    content_type: &str,
    bytes: &[u8],
    uploaded_by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO escalation_attachments (id, escalation_id, file_name, content_type, size_bytes, bytes, uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        escalation_id,
        file_name,
        content_type,
        bytes.len() as i32,
        bytes,
        uploaded_by
    )
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn attachments(db: &PgPool, escalation_id: Uuid) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query_as!(
        Attachment,
        "SELECT id, file_name, content_type, size_bytes FROM escalation_attachments WHERE escalation_id = $1 ORDER BY created_at",
        escalation_id
    )
    .fetch_all(db)
    .await
}

/// (file name, content type, bytes) of one attachment of one request.
pub async fn attachment_bytes(
    db: &PgPool,
    escalation_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<(String, String, Vec<u8>)>> {
    let r = sqlx::query!(
        "SELECT file_name, content_type, bytes FROM escalation_attachments WHERE escalation_id = $1 AND id = $2",
        escalation_id,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.file_name, r.content_type, r.bytes)))
}

/// Overdue open requests not yet reported (for the SLA job), locked.
pub async fn lock_breached(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(String, Option<Uuid>, i32, Uuid, String)>> {
    let r = sqlx::query!(
        r#"SELECT e.current_level, l.team_id, e.concession_bps, e.requester_id, e.status FROM escalations e
           JOIN leads l ON l.id = e.lead_id
           WHERE e.id = $1 AND e.status IN ('requested', 'in_review') AND e.due_at <= $2 AND e.sla_breach_notified_at IS NULL
           FOR UPDATE OF e"#,
        id,
        now
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(r.map(|r| (r.current_level, r.team_id, r.concession_bps, r.requester_id, r.status)))
}

pub async fn mark_breach_notified(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!("UPDATE escalations SET sla_breach_notified_at = $2 WHERE id = $1", id, now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Pricing exceptions filed in [from, to), scoped by the lead rule, for the reports.
pub async fn report_rows(
    db: &PgPool,
    user: &CurrentUser,
    authority: Option<&model::Authority>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> sqlx::Result<Vec<ReportRow>> {
    #[derive(sqlx::FromRow)]
    struct Raw {
        lo_id: Uuid,
        lo_name: String,
        team_id: Option<Uuid>,
        team_name: Option<String>,
        month: String,
        status: String,
        decision: Option<String>,
        granted_bps: i32,
        granted_cents: i64,
        hours_to_decision: Option<f64>,
        funded: bool,
        property_state: Option<String>,
        loan_amount_cents: Option<i64>,
        credit_band: Option<String>,
        loan_purpose: Option<String>,
    }
    let mut qb = QueryBuilder::new(
        "SELECT e.requester_id AS lo_id, r.name AS lo_name, e.team_id, t.name AS team_name, to_char(e.created_at AT TIME ZONE ",
    );
    qb.push_bind(tz.name()).push(
        ", 'YYYY-MM') AS month,
                e.status, e.decision, e.granted_bps, e.granted_cents,
                (extract(epoch FROM e.first_decided_at - e.created_at) / 3600.0)::float8 AS hours_to_decision,
                (true",
    )
    .push(FUNDED)
    .push(
        ") AS funded,
                l.property_state, coalesce(e.loan_amount_cents, l.loan_amount_cents) AS loan_amount_cents, l.credit_band, l.loan_purpose
         FROM escalations e JOIN leads l ON l.id = e.lead_id JOIN users r ON r.id = e.requester_id
         LEFT JOIN teams t ON t.id = e.team_id
",
    );
    // The queue's visibility (mine_only for those who decide nothing, as the queue shows them).
    push_visible(&mut qb, user, authority, authority.is_none());
    qb.push(" AND e.kind = 'pricing_exception' AND e.created_at >= ")
        .push_bind(from)
        .push(" AND e.created_at < ")
        .push_bind(to);
    qb.push(" ORDER BY e.created_at");
    let raw: Vec<Raw> = qb.build_query_as().fetch_all(db).await?;
    Ok(raw
        .into_iter()
        .map(|r| ReportRow {
            lo_id: r.lo_id,
            lo_name: r.lo_name,
            team_id: r.team_id,
            team_name: r.team_name.unwrap_or_else(|| "No team".into()),
            month: r.month,
            status: model::Status::parse(&r.status).unwrap_or(model::Status::Requested),
            decision: r.decision.as_deref().and_then(model::Decision::parse),
            granted_bps: r.granted_bps,
            granted_cents: r.granted_cents,
            hours_to_decision: r.hours_to_decision,
            funded: r.funded,
            property_state: r.property_state,
            loan_amount_cents: r.loan_amount_cents,
            credit_band: r.credit_band,
            loan_purpose: r.loan_purpose,
        })
        .collect())
}

/// Teams and LOs for the queue filters (the user's own teams; admins: all).
pub async fn filter_choices(
    db: &PgPool,
    user: &CurrentUser,
) -> sqlx::Result<(Vec<(Uuid, String)>, Vec<(Uuid, String)>)> {
    let (all, lo, scope_teams) = user.scope().roster_binds();
    let teams = sqlx::query!("SELECT id, name FROM teams WHERE $1 OR id = ANY($2) ORDER BY name", all, &scope_teams)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let officers = sqlx::query!(
        "SELECT u.id, u.name FROM users u WHERE u.role = 'lo' AND ($1 OR u.id = $2 OR u.team_id = ANY($3)) ORDER BY u.name",
        all,
        lo,
        &scope_teams
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.id, r.name))
    .collect();
    Ok((teams, officers))
}

pub async fn user_by_email(db: &PgPool, email: &str) -> sqlx::Result<Option<(Uuid, String)>> {
    let r = sqlx::query!("SELECT id, role FROM users WHERE lower(email) = lower($1)", email.trim())
        .fetch_optional(db)
        .await?;
    Ok(r.map(|r| (r.id, r.role)))
}
