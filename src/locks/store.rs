//! SQL for rate locks: the lock rows (with the loan number and the price with extensions), their history, and
//! the investors with their extension schedules. Writes happen in the caller's transaction (`service`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::model::ExtensionOption;
use crate::auth::CurrentUser;

/// A rate lock: every `rate_locks` column, plus its price with the extensions (`price_bps`), the loan number
/// and the investor's name.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LockRow {
    pub id: Uuid,
    pub lead_id: Uuid,
    /// The LOS's own id for this lock.
    pub los_lock_id: Option<String>,
    pub investor_id: Uuid,
    pub investor_name: String,
    pub product: String,
    /// Thousandths of a percent: 6.875% is 6875.
    pub rate_milli: i32,
    /// The price at lock (or relock, or float-down), bps of the loan amount (negative: a credit).
    pub base_price_bps: i32,
    /// What the extensions added.
    pub extension_bps: i32,
    /// `base_price_bps + extension_bps`.
    pub price_bps: i32,
    pub loan_amount_cents: i64,
    pub loan_number: Option<String>,
    pub locked_on: NaiveDate,
    pub period_days: i32,
    pub extended_days: i32,
    /// The last day the lock covers, in the organisation's time zone.
    pub last_day: NaiveDate,
    /// When it lapses: the start of the day after `last_day` in the organisation's time zone.
    pub expires_at: DateTime<Utc>,
    pub closing_on: Option<NaiveDate>,
    /// `locked` (live), `expired`, `cancelled` or `closed`.
    pub status: String,
    pub relock_of: Option<Uuid>,
    pub locked_by: Option<Uuid>,
    /// `loanfloor` or `los`.
    pub origin: String,
    pub expiring_notice_for: Option<NaiveDate>,
    pub ended_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The one column list every read of a lock uses (alias `k` for the lock, `l` for its lead).
pub const SELECT_LOCK: &str =
    "SELECT k.id, k.lead_id, k.los_lock_id, k.investor_id, i.name AS investor_name, k.product,
        k.rate_milli, k.base_price_bps, k.extension_bps, k.base_price_bps + k.extension_bps AS price_bps,
        k.loan_amount_cents, l.loan_number, k.locked_on, k.period_days, k.extended_days, k.last_day, k.expires_at,
        k.closing_on, k.status, k.relock_of, k.locked_by, k.origin, k.expiring_notice_for, k.ended_at, k.version,
        k.created_at, k.updated_at
    FROM rate_locks k JOIN leads l ON l.id = k.lead_id JOIN lock_investors i ON i.id = k.investor_id";

/// One change in a lock's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LockEventRow {
    pub id: i64,
    pub lock_id: Uuid,
    /// `locked`, `extended`, `relocked`, `floated_down`, `cancelled`, `expired`, `closed`, `changed`,
    /// `expiring_notice`.
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    /// `loanfloor`, `los` or `job`.
    pub origin: String,
    pub days: Option<i32>,
    pub cost_bps: Option<i32>,
    pub cost_cents: Option<i64>,
    /// The loan's LO and team when it happened (whom a cost is attributed to).
    pub lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub escalation_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// One option of an investor's extension schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleOption {
    pub days: i32,
    pub cost_bps: i32,
}

impl From<ScheduleOption> for ExtensionOption {
    fn from(o: ScheduleOption) -> Self {
        ExtensionOption { days: o.days, cost_bps: o.cost_bps }
    }
}

/// An investor with its relock and float-down terms and its extension schedule (shortest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvestorRow {
    pub id: Uuid,
    pub name: String,
    pub relock_fee_bps: i32,
    pub float_down_fee_bps: i32,
    /// The least market improvement that allows a float-down, thousandths of a percent.
    pub float_down_min_milli: i32,
    /// The most extension days one lock may get (null: no cap).
    pub max_extension_days: Option<i32>,
    pub active: bool,
    pub version: i32,
    pub schedule: Vec<ScheduleOption>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl InvestorRow {
    pub fn options(&self) -> Vec<ExtensionOption> {
        self.schedule.iter().copied().map(ExtensionOption::from).collect()
    }
}

/// The lock, locked for a change (`FOR UPDATE` of the lock row), or None.
pub async fn lock_for_update(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<LockRow>> {
    sqlx::query_as::<_, LockRow>(&format!("{SELECT_LOCK} WHERE k.id = $1 FOR UPDATE OF k"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// The lock as it stands in `tx` (after a write).
pub async fn lock_in(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<LockRow> {
    sqlx::query_as::<_, LockRow>(&format!("{SELECT_LOCK} WHERE k.id = $1")).bind(id).fetch_one(&mut **tx).await
}

pub async fn lock_by_id(db: &PgPool, id: Uuid) -> sqlx::Result<Option<LockRow>> {
    sqlx::query_as::<_, LockRow>(&format!("{SELECT_LOCK} WHERE k.id = $1")).bind(id).fetch_optional(db).await
}

/// A loan's locks, newest first.
pub async fn locks_for_lead(db: &PgPool, lead_id: Uuid) -> sqlx::Result<Vec<LockRow>> {
    sqlx::query_as::<_, LockRow>(&format!("{SELECT_LOCK} WHERE k.lead_id = $1 ORDER BY k.created_at DESC, k.id"))
        .bind(lead_id)
        .fetch_all(db)
        .await
}

/// The lock list's filters.
#[derive(Debug, Clone, Default)]
pub struct LockFilter {
    pub status: Option<String>,
    /// Live locks whose last day is within this many days of `today`.
    pub expiring_within_days: Option<i32>,
    pub today: Option<NaiveDate>,
    pub lead_id: Option<Uuid>,
    /// Keyset: the page starts after this (expires_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// The locks on leads the user may see (the one lead scope), soonest expiry first.
pub async fn list(db: &PgPool, user: &CurrentUser, f: &LockFilter) -> sqlx::Result<Vec<LockRow>> {
    let mut qb = QueryBuilder::<Postgres>::new(SELECT_LOCK);
    qb.push(" WHERE true");
    user.scope().push_lead_predicate(&mut qb, "l");
    if let Some(s) = &f.status {
        qb.push(" AND k.status = ").push_bind(s.clone());
    }
    if let (Some(days), Some(today)) = (f.expiring_within_days, f.today) {
        qb.push(" AND k.status = 'locked' AND k.last_day <= ")
            .push_bind(today + chrono::Duration::days(i64::from(days)));
    }
    if let Some(lead) = f.lead_id {
        qb.push(" AND k.lead_id = ").push_bind(lead);
    }
    if let Some((at, id)) = f.after {
        qb.push(" AND (k.expires_at, k.id) > (").push_bind(at).push(", ").push_bind(id).push(")");
    }
    qb.push(" ORDER BY k.expires_at, k.id LIMIT ").push_bind(f.limit);
    qb.build_query_as::<LockRow>().fetch_all(db).await
}

/// A lock's history, oldest first.
pub async fn history(db: &PgPool, lock_id: Uuid) -> sqlx::Result<Vec<LockEventRow>> {
    sqlx::query_as!(
        LockEventRow,
        r#"SELECT e.id, e.lock_id, e.kind, e.actor_id, u.name AS "actor_name?", e.origin, e.days, e.cost_bps,
                  e.cost_cents, e.lo_id, e.team_id, e.escalation_id, e.before, e.after, e.note, e.created_at
           FROM rate_lock_events e LEFT JOIN users u ON u.id = e.actor_id
           WHERE e.lock_id = $1 ORDER BY e.id"#,
        lock_id
    )
    .fetch_all(db)
    .await
}

/// The lead a lock is for: its owner (LO, team) now, and its loan number; locked with the lead row so the
/// owner read is the one the change is attributed to.
pub struct LeadOwner {
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub loan_number: Option<String>,
}

pub async fn lead_owner(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> sqlx::Result<Option<LeadOwner>> {
    sqlx::query_as!(LeadOwner, "SELECT assigned_lo_id, team_id, loan_number FROM leads WHERE id = $1", lead_id)
        .fetch_optional(&mut **tx)
        .await
}

/// One history row.
pub struct NewEvent<'a> {
    pub lock_id: Uuid,
    pub kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub origin: &'a str,
    pub days: Option<i32>,
    pub cost_bps: Option<i32>,
    pub cost_cents: Option<i64>,
    pub lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub escalation_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub note: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn insert_event(tx: &mut Transaction<'_, Postgres>, e: &NewEvent<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"INSERT INTO rate_lock_events (lock_id, kind, actor_id, origin, days, cost_bps, cost_cents, lo_id, team_id,
                                         escalation_id, before, after, note, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"#,
        e.lock_id,
        e.kind,
        e.actor_id,
        e.origin,
        e.days,
        e.cost_bps,
        e.cost_cents,
        e.lo_id,
        e.team_id,
        e.escalation_id,
        e.before,
        e.after,
        e.note,
        e.at
    )
    .fetch_one(&mut **tx)
    .await
}

/// A new lock row's values.
pub struct InsertLock<'a> {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub los_lock_id: Option<&'a str>,
    pub investor_id: Uuid,
    pub product: &'a str,
    pub rate_milli: i32,
    pub base_price_bps: i32,
    pub extension_bps: i32,
    pub loan_amount_cents: i64,
    pub locked_on: NaiveDate,
    pub period_days: i32,
    pub extended_days: i32,
    pub last_day: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub closing_on: Option<NaiveDate>,
    pub status: &'a str,
    pub relock_of: Option<Uuid>,
    pub locked_by: Option<Uuid>,
    pub origin: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn insert_lock(tx: &mut Transaction<'_, Postgres>, k: &InsertLock<'_>) -> sqlx::Result<()> {
    let ended_at = (k.status != "locked").then_some(k.at);
    sqlx::query!(
        r#"INSERT INTO rate_locks (id, lead_id, los_lock_id, investor_id, product, rate_milli, base_price_bps,
                                   extension_bps, loan_amount_cents, locked_on, period_days, extended_days, last_day,
                                   expires_at, closing_on, status, relock_of, locked_by, origin, ended_at, created_at,
                                   updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                   $21)"#,
        k.id,
        k.lead_id,
        k.los_lock_id,
        k.investor_id,
        k.product,
        k.rate_milli,
        k.base_price_bps,
        k.extension_bps,
        k.loan_amount_cents,
        k.locked_on,
        k.period_days,
        k.extended_days,
        k.last_day,
        k.expires_at,
        k.closing_on,
        k.status,
        k.relock_of,
        k.locked_by,
        k.origin,
        ended_at,
        k.at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The fields a change to an existing lock may set (the rest stay); bumps `version`.
pub struct LockUpdate<'a> {
    pub rate_milli: i32,
    pub base_price_bps: i32,
    pub extension_bps: i32,
    pub extended_days: i32,
    pub last_day: NaiveDate,
    pub expires_at: DateTime<Utc>,
    pub closing_on: Option<NaiveDate>,
    pub status: &'a str,
    pub ended_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

pub async fn update_lock(tx: &mut Transaction<'_, Postgres>, id: Uuid, u: &LockUpdate<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE rate_locks SET rate_milli = $2, base_price_bps = $3, extension_bps = $4, extended_days = $5,
                                 last_day = $6, expires_at = $7, closing_on = $8, status = $9, ended_at = $10,
                                 version = version + 1, updated_at = $11
           WHERE id = $1"#,
        id,
        u.rate_milli,
        u.base_price_bps,
        u.extension_bps,
        u.extended_days,
        u.last_day,
        u.expires_at,
        u.closing_on,
        u.status,
        u.ended_at,
        u.at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that the "expires in 3 days" notice went out for `last_day`; false when another run already did.
/// Not a change to the lock's terms, so its `version` stays (an open form does not go stale).
pub async fn mark_expiring_notice(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    last_day: NaiveDate,
) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        r#"UPDATE rate_locks SET expiring_notice_for = $2
           WHERE id = $1 AND status = 'locked' AND expiring_notice_for IS DISTINCT FROM $2"#,
        id,
        last_day
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Live locks that have lapsed by `now`, locked for this run (another instance skips them).
pub async fn lapsed(tx: &mut Transaction<'_, Postgres>, now: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT id FROM rate_locks WHERE status = 'locked' AND expires_at <= $1
           ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
        now,
        limit
    )
    .fetch_all(&mut **tx)
    .await
}

/// Live locks whose last day is `last_day` or sooner and whose notice for their current last day has not gone
/// out, locked for this run.
pub async fn due_for_notice(
    tx: &mut Transaction<'_, Postgres>,
    through: NaiveDate,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT id FROM rate_locks
           WHERE status = 'locked' AND last_day <= $1 AND expires_at > $2
             AND expiring_notice_for IS DISTINCT FROM last_day
           ORDER BY last_day, id LIMIT $3 FOR UPDATE SKIP LOCKED"#,
        through,
        now,
        limit
    )
    .fetch_all(&mut **tx)
    .await
}

/// Every investor (or the active ones) with its schedule, by name.
pub async fn investors(db: &PgPool, active_only: bool) -> sqlx::Result<Vec<InvestorRow>> {
    let rows = sqlx::query!(
        r#"SELECT i.id, i.name, i.relock_fee_bps, i.float_down_fee_bps, i.float_down_min_milli, i.max_extension_days,
                  i.active, i.version, i.created_at, i.updated_at,
                  coalesce(array_agg(o.days ORDER BY o.days) FILTER (WHERE o.days IS NOT NULL), '{}') AS "days!",
                  coalesce(array_agg(o.cost_bps ORDER BY o.days) FILTER (WHERE o.days IS NOT NULL), '{}') AS "costs!"
           FROM lock_investors i LEFT JOIN lock_extension_options o ON o.investor_id = i.id
           WHERE i.active OR NOT $1
           GROUP BY i.id ORDER BY lower(i.name)"#,
        active_only
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| InvestorRow {
            id: r.id,
            name: r.name,
            relock_fee_bps: r.relock_fee_bps,
            float_down_fee_bps: r.float_down_fee_bps,
            float_down_min_milli: r.float_down_min_milli,
            max_extension_days: r.max_extension_days,
            active: r.active,
            version: r.version,
            schedule: r.days.iter().zip(&r.costs).map(|(d, c)| ScheduleOption { days: *d, cost_bps: *c }).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// One investor's terms and schedule (in the caller's transaction, so a change sees its own writes).
pub async fn investor_in(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<InvestorRow>> {
    let Some(r) = sqlx::query!(
        r#"SELECT id, name, relock_fee_bps, float_down_fee_bps, float_down_min_milli, max_extension_days, active,
                  version, created_at, updated_at
           FROM lock_investors WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let schedule = sqlx::query_as!(
        ScheduleOption,
        "SELECT days, cost_bps FROM lock_extension_options WHERE investor_id = $1 ORDER BY days",
        id
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(Some(InvestorRow {
        id: r.id,
        name: r.name,
        relock_fee_bps: r.relock_fee_bps,
        float_down_fee_bps: r.float_down_fee_bps,
        float_down_min_milli: r.float_down_min_milli,
        max_extension_days: r.max_extension_days,
        active: r.active,
        version: r.version,
        schedule,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// The schedule of one investor (for a quote outside a transaction).
pub async fn schedule(db: &PgPool, investor_id: Uuid) -> sqlx::Result<(Vec<ScheduleOption>, Option<i32>)> {
    let cap = sqlx::query_scalar!("SELECT max_extension_days FROM lock_investors WHERE id = $1", investor_id)
        .fetch_one(db)
        .await?;
    let options = sqlx::query_as!(
        ScheduleOption,
        "SELECT days, cost_bps FROM lock_extension_options WHERE investor_id = $1 ORDER BY days",
        investor_id
    )
    .fetch_all(db)
    .await?;
    Ok((options, cap))
}

/// An investor's id by name (case-insensitive), for the LOS import.
pub async fn investor_by_name(tx: &mut Transaction<'_, Postgres>, name: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM lock_investors WHERE lower(name) = lower($1)", name)
        .fetch_optional(&mut **tx)
        .await
}

/// Sets a lock to what the LOS says (`v`, the import's row; its id and lead stay), bumping `version`.
pub async fn apply_los_row(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    v: &InsertLock<'_>,
    ended_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE rate_locks SET investor_id = $2, product = $3, rate_milli = $4, base_price_bps = $5,
                  extension_bps = $6, loan_amount_cents = $7, locked_on = $8, period_days = $9, extended_days = $10,
                  last_day = $11, expires_at = $12, closing_on = $13, status = $14, ended_at = $15,
                  version = version + 1, updated_at = $16
           WHERE id = $1"#,
        id,
        v.investor_id,
        v.product,
        v.rate_milli,
        v.base_price_bps,
        v.extension_bps,
        v.loan_amount_cents,
        v.locked_on,
        v.period_days,
        v.extended_days,
        v.last_day,
        v.expires_at,
        v.closing_on,
        v.status,
        ended_at,
        v.at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
