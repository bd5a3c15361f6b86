//! The SQL of departments: the records an admin keeps, the forwarded items and their hops, the queue and the
//! figures. Visibility of an item is membership of its department (or having forwarded it, or being an admin),
//! decided in `service`; nothing here widens a lead query.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DepartmentRow {
    pub id: Uuid,
    /// underwriting, processing, closing, compliance, legal, collections, secondary, executive, marketing.
    pub kind: String,
    pub name: String,
    pub lead_user_id: Option<Uuid>,
    pub lead_name: Option<String>,
    pub time_zone: String,
    /// Business hours, minutes after local midnight.
    pub opens_minute: i32,
    pub closes_minute: i32,
    /// ISO weekdays (1 = Monday).
    pub work_days: Vec<i32>,
    pub version: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlaRow {
    pub item_kind: String,
    pub response_minutes: i32,
}

/// A forwarded item as a queue, an API caller or the escalation page sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemRow {
    pub id: Uuid,
    pub department_id: Uuid,
    pub department_name: String,
    pub escalation_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    /// The escalation kind, or `case_question`.
    pub item_kind: String,
    /// open, answered or returned.
    pub status: String,
    pub forwarded_by: Uuid,
    pub forwarded_by_name: String,
    pub forwarded_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answered_by_name: Option<String>,
    pub decision: Option<String>,
    /// The department's answer (what the loan officer may read).
    pub answer: String,
    pub breach_notified_at: Option<DateTime<Utc>>,
    /// A complaint's earliest regulatory deadline not yet done, as the end of its day (null for other items):
    /// queues order by the earlier of this and `due_at`.
    pub regulatory_due_at: Option<DateTime<Utc>>,
    /// The borrower the item is about.
    pub borrower: String,
    pub version: i32,
}

/// One hop of an item: forward, answer, return or SLA breach, with who, when and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HopRow {
    pub id: i64,
    pub action: String,
    pub actor_name: Option<String>,
    pub department_name: String,
    pub decision: Option<String>,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// What a department member reads about the loan an escalation is on: the question and the loan's facts, not
/// the lead's contact details, activities or other requests.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationFacts {
    pub kind: String,
    pub question: String,
    pub requester_name: String,
    pub filed_at: DateTime<Utc>,
    pub borrower: String,
    pub stage: String,
    pub loan_amount_cents: Option<i64>,
    pub loan_purpose: Option<String>,
    pub property_state: Option<String>,
    pub credit_band: Option<String>,
    pub lo_name: Option<String>,
}

/// What a department reads about a loss-mitigation case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseFacts {
    pub loan_number: String,
    pub borrower: String,
    pub investor: String,
    pub upb_cents: i64,
    pub stage: String,
    pub property_state: String,
    pub first_unpaid_due_date: chrono::NaiveDate,
    pub sale_date: Option<chrono::NaiveDate>,
}

pub async fn departments(db: &PgPool) -> sqlx::Result<Vec<DepartmentRow>> {
    sqlx::query_as!(
        DepartmentRow,
        r#"SELECT d.id, d.kind, d.name, d.lead_user_id, u.name AS "lead_name?", d.time_zone, d.opens_minute,
                  d.closes_minute, d.work_days, d.version
           FROM departments d LEFT JOIN users u ON u.id = d.lead_user_id ORDER BY d.name"#
    )
    .fetch_all(db)
    .await
}

pub async fn department(db: &PgPool, id: Uuid) -> sqlx::Result<Option<DepartmentRow>> {
    sqlx::query_as!(
        DepartmentRow,
        r#"SELECT d.id, d.kind, d.name, d.lead_user_id, u.name AS "lead_name?", d.time_zone, d.opens_minute,
                  d.closes_minute, d.work_days, d.version
           FROM departments d LEFT JOIN users u ON u.id = d.lead_user_id WHERE d.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The departments this user is a member of.
pub async fn memberships(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("SELECT department_id FROM department_members WHERE user_id = $1", user_id).fetch_all(db).await
}

pub async fn members(db: &PgPool, department_id: Uuid) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as!(
        MemberRow,
        "SELECT u.id AS user_id, u.name, u.email FROM department_members m JOIN users u ON u.id = m.user_id
         WHERE m.department_id = $1 ORDER BY u.name",
        department_id
    )
    .fetch_all(db)
    .await
}

pub async fn slas(db: &PgPool, department_id: Uuid) -> sqlx::Result<Vec<SlaRow>> {
    sqlx::query_as!(
        SlaRow,
        "SELECT item_kind, response_minutes FROM department_slas WHERE department_id = $1 ORDER BY item_kind",
        department_id
    )
    .fetch_all(db)
    .await
}

/// The department's fields as an admin saves them.
pub struct DepartmentFields<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub lead_user_id: Option<Uuid>,
    pub time_zone: &'a str,
    pub opens_minute: i32,
    pub closes_minute: i32,
    pub work_days: &'a [i32],
}

pub async fn insert_department(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    f: &DepartmentFields<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO departments (id, kind, name, lead_user_id, time_zone, opens_minute, closes_minute, work_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        f.kind,
        f.name,
        f.lead_user_id,
        f.time_zone,
        f.opens_minute,
        f.closes_minute,
        f.work_days
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Updates a department at `version`; false when the version is stale (or the department is gone).
pub async fn update_department(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    version: i32,
    f: &DepartmentFields<'_>,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "UPDATE departments SET name = $3, lead_user_id = $4, time_zone = $5, opens_minute = $6, closes_minute = $7,
                work_days = $8, version = version + 1, updated_at = now()
         WHERE id = $1 AND version = $2",
        id,
        version,
        f.name,
        f.lead_user_id,
        f.time_zone,
        f.opens_minute,
        f.closes_minute,
        f.work_days
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Replaces the members (active users only; unknown ids are ignored).
pub async fn set_members(tx: &mut Transaction<'_, Postgres>, id: Uuid, users: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM department_members WHERE department_id = $1 AND NOT (user_id = ANY($2))", id, users)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        "INSERT INTO department_members (department_id, user_id)
         SELECT $1, u.id FROM users u WHERE u.id = ANY($2) AND u.active ON CONFLICT DO NOTHING",
        id,
        users
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces the SLAs: (item kind, response minutes).
pub async fn set_slas(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    kinds: &[String],
    minutes: &[i32],
) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM department_slas WHERE department_id = $1", id).execute(&mut **tx).await?;
    sqlx::query!(
        "INSERT INTO department_slas (department_id, item_kind, response_minutes)
         SELECT $1, k, m FROM UNNEST($2::text[], $3::int[]) AS t(k, m)",
        id,
        kinds,
        minutes
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Active users an admin may add as members or make the lead: (id, name, role label key).
pub async fn candidates(db: &PgPool) -> sqlx::Result<Vec<(Uuid, String, String)>> {
    Ok(sqlx::query!("SELECT id, name, role FROM users WHERE active AND role <> 'intake' ORDER BY name")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name, r.role))
        .collect())
}

/// The department's hours and its response minutes for a kind, locked against a concurrent edit.
pub async fn sla_for(
    tx: &mut Transaction<'_, Postgres>,
    department_id: Uuid,
    item_kind: &str,
) -> sqlx::Result<Option<(String, i32, i32, Vec<i32>, Option<i32>)>> {
    Ok(sqlx::query!(
        "SELECT d.time_zone, d.opens_minute, d.closes_minute, d.work_days, s.response_minutes AS \"minutes?\"
         FROM departments d LEFT JOIN department_slas s ON s.department_id = d.id AND s.item_kind = $2
         WHERE d.id = $1 FOR SHARE OF d",
        department_id,
        item_kind
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| (r.time_zone, r.opens_minute, r.closes_minute, r.work_days, r.minutes)))
}

/// A new item and its forward hop.
pub struct NewItem<'a> {
    pub id: Uuid,
    pub department_id: Uuid,
    pub escalation_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub item_kind: &'a str,
    pub forwarded_by: Uuid,
    pub at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

pub async fn insert_item(tx: &mut Transaction<'_, Postgres>, n: &NewItem<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO department_items (id, department_id, escalation_id, case_id, item_kind, forwarded_by,
                                       forwarded_at, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        n.id,
        n.department_id,
        n.escalation_id,
        n.case_id,
        n.item_kind,
        n.forwarded_by,
        n.at,
        n.due_at
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Whether the escalation or case already waits on a department (one open item at a time).
pub async fn open_item_for(
    tx: &mut Transaction<'_, Postgres>,
    escalation_id: Option<Uuid>,
    case_id: Option<Uuid>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM department_items
         WHERE status = 'open' AND (escalation_id = $1 OR case_id = $2) LIMIT 1",
        escalation_id,
        case_id
    )
    .fetch_optional(&mut **tx)
    .await
}

/// One hop, appended.
#[allow(clippy::too_many_arguments)]
pub async fn add_hop(
    tx: &mut Transaction<'_, Postgres>,
    item_id: Uuid,
    action: &str,
    actor: Option<Uuid>,
    department_id: Uuid,
    decision: Option<&str>,
    note: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO department_hops (item_id, action, actor_id, department_id, decision, note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        item_id,
        action,
        actor,
        department_id,
        decision,
        note,
        at
    )
    .fetch_one(&mut **tx)
    .await
}

/// Locks an item for a change: (status, version, department, forwarded_by, escalation, case, item kind).
pub async fn lock_item(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> sqlx::Result<Option<(String, i32, Uuid, Uuid, Option<Uuid>, Option<Uuid>, String)>> {
    Ok(sqlx::query!(
        "SELECT status, version, department_id, forwarded_by, escalation_id, case_id, item_kind
         FROM department_items WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| (r.status, r.version, r.department_id, r.forwarded_by, r.escalation_id, r.case_id, r.item_kind)))
}

#[allow(clippy::too_many_arguments)]
pub async fn close_item(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    by: Uuid,
    decision: Option<&str>,
    answer: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE department_items SET status = $2, answered_by = $3, answered_at = $6, decision = $4,
                answer = $5, version = version + 1, updated_at = now()
         WHERE id = $1",
        id,
        status,
        by,
        decision,
        answer,
        at
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Items, open ones first by the earlier of the SLA and a complaint's regulatory deadline; `departments`
/// restricts to those departments (None: every department), `escalation_id`/`case_id` to one subject.
#[derive(Default)]
pub struct ItemFilter {
    pub departments: Option<Vec<Uuid>>,
    pub forwarded_by: Option<Uuid>,
    pub escalation_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub status: Option<String>,
    /// Only items due at or before this moment (open and past due, with `status` open).
    pub due_by: Option<DateTime<Utc>>,
    /// Only items forwarded in [since, before) (the dashboard's date range).
    pub forwarded_since: Option<DateTime<Utc>>,
    pub forwarded_before: Option<DateTime<Utc>>,
    /// Only escalations of this team (the dashboard's team filter; case questions have no team).
    pub team: Option<Uuid>,
    pub limit: i64,
}

pub async fn items(db: &PgPool, f: &ItemFilter) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        r#"SELECT i.id, i.department_id, d.name AS department_name, i.escalation_id, i.case_id, i.item_kind,
                  i.status, i.forwarded_by, fu.name AS forwarded_by_name, i.forwarded_at, i.due_at, i.answered_at,
                  au.name AS "answered_by_name?", i.decision, i.answer, i.breach_notified_at, i.regulatory_due_at,
                  COALESCE(l.first_name || ' ' || l.last_name, c.borrower_name, '') AS "borrower!", i.version
           FROM department_items i
           JOIN departments d ON d.id = i.department_id
           JOIN users fu ON fu.id = i.forwarded_by
           LEFT JOIN users au ON au.id = i.answered_by
           LEFT JOIN escalations e ON e.id = i.escalation_id
           LEFT JOIN leads l ON l.id = e.lead_id
           LEFT JOIN lossmit_cases c ON c.id = i.case_id
           WHERE ($1::uuid[] IS NULL OR i.department_id = ANY($1))
             AND ($2::uuid IS NULL OR i.forwarded_by = $2)
             AND ($3::uuid IS NULL OR i.escalation_id = $3)
             AND ($4::uuid IS NULL OR i.case_id = $4)
             AND ($5::text IS NULL OR i.status = $5)
             AND ($7::timestamptz IS NULL OR LEAST(i.due_at, i.regulatory_due_at) <= $7)
             AND ($8::timestamptz IS NULL OR i.forwarded_at >= $8)
             AND ($9::timestamptz IS NULL OR i.forwarded_at < $9)
             AND ($10::uuid IS NULL OR e.team_id = $10)
           ORDER BY (i.status = 'open') DESC, CASE WHEN i.status = 'open' THEN LEAST(i.due_at, i.regulatory_due_at) END,
                    i.forwarded_at DESC
           LIMIT $6"#,
        f.departments.as_deref(),
        f.forwarded_by,
        f.escalation_id,
        f.case_id,
        f.status,
        f.limit,
        f.due_by,
        f.forwarded_since,
        f.forwarded_before,
        f.team
    )
    .fetch_all(db)
    .await
}

pub async fn item(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        r#"SELECT i.id, i.department_id, d.name AS department_name, i.escalation_id, i.case_id, i.item_kind,
                  i.status, i.forwarded_by, fu.name AS forwarded_by_name, i.forwarded_at, i.due_at, i.answered_at,
                  au.name AS "answered_by_name?", i.decision, i.answer, i.breach_notified_at, i.regulatory_due_at,
                  COALESCE(l.first_name || ' ' || l.last_name, c.borrower_name, '') AS "borrower!", i.version
           FROM department_items i
           JOIN departments d ON d.id = i.department_id
           JOIN users fu ON fu.id = i.forwarded_by
           LEFT JOIN users au ON au.id = i.answered_by
           LEFT JOIN escalations e ON e.id = i.escalation_id
           LEFT JOIN leads l ON l.id = e.lead_id
           LEFT JOIN lossmit_cases c ON c.id = i.case_id
           WHERE i.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn hops(db: &PgPool, item_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, HopRow)>> {
    Ok(sqlx::query!(
        r#"SELECT h.item_id, h.id, h.action, u.name AS "actor_name?", d.name AS department_name, h.decision, h.note,
                  h.at
           FROM department_hops h JOIN departments d ON d.id = h.department_id
           LEFT JOIN users u ON u.id = h.actor_id
           WHERE h.item_id = ANY($1) ORDER BY h.id"#,
        item_ids
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        (
            r.item_id,
            HopRow {
                id: r.id,
                action: r.action,
                actor_name: r.actor_name,
                department_name: r.department_name,
                decision: r.decision,
                note: r.note,
                at: r.at,
            },
        )
    })
    .collect())
}

pub async fn escalation_facts(db: &PgPool, escalation_id: Uuid) -> sqlx::Result<Option<EscalationFacts>> {
    sqlx::query_as!(
        EscalationFacts,
        r#"SELECT e.kind, e.note AS question, r.name AS requester_name, e.created_at AS filed_at,
                  l.first_name || ' ' || l.last_name AS "borrower!", l.stage, l.loan_amount_cents, l.loan_purpose,
                  l.property_state, l.credit_band, lo.name AS "lo_name?"
           FROM escalations e JOIN leads l ON l.id = e.lead_id JOIN users r ON r.id = e.requester_id
           LEFT JOIN users lo ON lo.id = l.assigned_lo_id
           WHERE e.id = $1"#,
        escalation_id
    )
    .fetch_optional(db)
    .await
}

pub async fn case_facts(db: &PgPool, case_id: Uuid) -> sqlx::Result<Option<CaseFacts>> {
    sqlx::query_as!(
        CaseFacts,
        r#"SELECT loan_number, borrower_name AS borrower, investor, upb_cents, stage, property_state,
                  first_unpaid_due_date, sale_date
           FROM lossmit_cases WHERE id = $1"#,
        case_id
    )
    .fetch_optional(db)
    .await
}

/// The lead an escalation is on.
pub async fn escalation_lead(db: &PgPool, escalation_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT lead_id FROM escalations WHERE id = $1", escalation_id).fetch_optional(db).await
}

/// The escalation's kind, requester and lead (for forwarding).
pub async fn escalation_subject(
    tx: &mut Transaction<'_, Postgres>,
    escalation_id: Uuid,
) -> sqlx::Result<Option<(String, Uuid, Uuid, String)>> {
    Ok(sqlx::query!(
        "SELECT kind, requester_id, lead_id, status FROM escalations WHERE id = $1 FOR SHARE",
        escalation_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| (r.kind, r.requester_id, r.lead_id, r.status)))
}

/// An open item past its due time and not yet reported: (department, forwarded_by, lead user, status).
pub async fn lock_breached(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(Uuid, Uuid, Option<Uuid>)>> {
    Ok(sqlx::query!(
        "SELECT i.department_id, i.forwarded_by, d.lead_user_id
         FROM department_items i JOIN departments d ON d.id = i.department_id
         WHERE i.id = $1 AND i.status = 'open' AND i.breach_notified_at IS NULL AND i.due_at <= $2
         FOR UPDATE OF i",
        id,
        now
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| (r.department_id, r.forwarded_by, r.lead_user_id)))
}

pub async fn mark_breached(tx: &mut Transaction<'_, Postgres>, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE department_items SET breach_notified_at = $2, updated_at = now() WHERE id = $1", id, now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Per department: open items, open items past due, and answered items' response minutes.
pub struct DepartmentFigures {
    pub department_id: Uuid,
    pub name: String,
    pub open: i64,
    pub breached: i64,
    pub response_minutes: Vec<i64>,
}

pub async fn figures(
    db: &PgPool,
    forwarded_by: Option<Uuid>,
    now: DateTime<Utc>,
    range: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    team: Option<Uuid>,
) -> sqlx::Result<Vec<DepartmentFigures>> {
    Ok(sqlx::query!(
        r#"SELECT d.id, d.name,
                  COUNT(i.id) FILTER (WHERE i.status = 'open') AS "open!",
                  COUNT(i.id) FILTER (WHERE i.status = 'open' AND LEAST(i.due_at, i.regulatory_due_at) <= $2)
                      AS "breached!",
                  COALESCE(ARRAY_AGG((EXTRACT(EPOCH FROM i.answered_at - i.forwarded_at) / 60)::bigint)
                           FILTER (WHERE i.status = 'answered'),
                           '{}') AS "minutes!"
           FROM departments d
           LEFT JOIN (department_items i LEFT JOIN escalations e ON e.id = i.escalation_id)
                  ON i.department_id = d.id AND ($1::uuid IS NULL OR i.forwarded_by = $1)
                 AND ($3::timestamptz IS NULL OR i.forwarded_at >= $3)
                 AND ($4::timestamptz IS NULL OR i.forwarded_at < $4)
                 AND ($5::uuid IS NULL OR e.team_id = $5)
           GROUP BY d.id, d.name ORDER BY d.name"#,
        forwarded_by,
        now,
        range.0,
        range.1,
        team
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| DepartmentFigures {
        department_id: r.id,
        name: r.name,
        open: r.open,
        breached: r.breached,
        response_minutes: r.minutes,
    })
    .collect())
}

/// Who reads the weekly executive digest: the executive department's members and its lead.
pub async fn executive_readers(db: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT m.user_id AS "id!" FROM department_members m JOIN departments d ON d.id = m.department_id
           WHERE d.kind = 'executive'
           UNION
           SELECT d.lead_user_id AS "id!" FROM departments d WHERE d.kind = 'executive' AND d.lead_user_id IS NOT NULL"#
    )
    .fetch_all(db)
    .await
}

/// Per department, what was told as breached in [since, until): items past their response time and complaints
/// past a regulatory deadline (counted at the department the complaint was last forwarded to).
pub async fn breaches_between(
    db: &PgPool,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, i64)>> {
    Ok(sqlx::query!(
        r#"SELECT b.name AS "name!", count(*) AS "n!" FROM (
               SELECT d.name FROM department_items i JOIN departments d ON d.id = i.department_id
               WHERE i.breach_notified_at >= $1 AND i.breach_notified_at < $2
               UNION ALL
               SELECT d.name FROM complaint_clock_events e
               JOIN LATERAL (SELECT department_id FROM department_items WHERE escalation_id = e.escalation_id
                             ORDER BY forwarded_at DESC LIMIT 1) last ON true
               JOIN departments d ON d.id = last.department_id
               WHERE e.step = 'breach_notified' AND e.at >= $1 AND e.at < $2
           ) b GROUP BY b.name ORDER BY b.name"#,
        since,
        until
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.name, r.n))
    .collect())
}
