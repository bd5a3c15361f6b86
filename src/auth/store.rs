//! SQL for users, teams, tokens, MFA and throttling.

use chrono::{DateTime, Utc};
use sha2::Digest;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::{CurrentUser, Role};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub password_hash: String,
    pub team_id: Option<Uuid>,
    pub auth_epoch: i32,
    pub mfa_enabled: bool,
    pub mfa_secret: Option<String>,
    pub managed_team_ids: Vec<Uuid>,
    /// The zone this person reads times in (None: the organisation's).
    pub display_timezone: Option<String>,
    /// Takes leads: an LO, or a manager who also originates (`users.originator`).
    pub originator: bool,
}

impl UserRow {
    pub fn into_current(self, via_token: bool) -> CurrentUser {
        CurrentUser {
            id: self.id,
            email: self.email,
            name: self.name,
            role: self.role,
            team_id: self.team_id,
            managed_team_ids: self.managed_team_ids,
            originator: self.originator,
            via_token,
            token: None,
        }
    }
}

/// A [`UserRow`] from a query's record that selected the user's columns under their own names (the token
/// and session queries select more beside them).
macro_rules! user_row {
    ($r:expr) => {
        UserRow {
            id: $r.id,
            email: $r.email,
            name: $r.name,
            role: $r.role,
            active: $r.active,
            password_hash: $r.password_hash,
            team_id: $r.team_id,
            auth_epoch: $r.auth_epoch,
            mfa_enabled: $r.mfa_enabled,
            mfa_secret: $r.mfa_secret,
            managed_team_ids: $r.managed_team_ids,
            display_timezone: $r.display_timezone,
            originator: $r.originator,
        }
    };
}

pub async fn find_user(db: &PgPool, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email, u.name, u.role AS "role: Role", u.active, u.password_hash, u.team_id,
                  u.auth_epoch, u.mfa_enabled, u.mfa_secret, u.display_timezone, u.originator AS "originator!",
                  COALESCE(ARRAY(SELECT tm.team_id FROM team_managers tm WHERE tm.user_id = u.id), '{}') AS "managed_team_ids!"
           FROM users u WHERE u.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn find_user_by_email(db: &PgPool, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.email, u.name, u.role AS "role: Role", u.active, u.password_hash, u.team_id,
                  u.auth_epoch, u.mfa_enabled, u.mfa_secret, u.display_timezone, u.originator AS "originator!",
                  COALESCE(ARRAY(SELECT tm.team_id FROM team_managers tm WHERE tm.user_id = u.id), '{}') AS "managed_team_ids!"
           FROM users u WHERE lower(u.email) = lower($1)"#,
        email
    )
    .fetch_optional(db)
    .await
}

pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// The active user behind an unrevoked, unexpired API token, with the token's grant, in one round trip.
/// "Last used" is recorded to the minute: a token used again within a minute writes nothing, so an
/// integration posting leads does not pay a disk flush per request for it.
/// Returns the user with the token's expiry.
pub async fn user_for_token(db: &PgPool, hash: &str) -> sqlx::Result<Option<(CurrentUser, DateTime<Utc>)>> {
    let row = sqlx::query!(
        r#"WITH t AS (SELECT id, user_id, last_used_at, scopes, issued_by, expires_at FROM api_tokens
                      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()),
                touched AS (UPDATE api_tokens a SET last_used_at = now() FROM t
                            WHERE a.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'))
           SELECT u.id, u.email, u.name, u.role AS "role: Role", u.active, u.password_hash, u.team_id,
                  u.auth_epoch, u.mfa_enabled, u.mfa_secret, u.display_timezone, u.originator AS "originator!",
                  COALESCE(ARRAY(SELECT tm.team_id FROM team_managers tm WHERE tm.user_id = u.id), '{}') AS "managed_team_ids!",
                  t.id AS token_id, t.scopes, t.issued_by, t.expires_at
           FROM t JOIN users u ON u.id = t.user_id"#,
        hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.filter(|r| r.active).map(|r| {
        let grant = super::model::TokenGrant { id: r.token_id, scopes: r.scopes, issued_by: r.issued_by };
        let expires_at = r.expires_at;
        let mut user = user_row!(r).into_current(true);
        user.token = Some(grant);
        (user, expires_at)
    }))
}

/// A browser session with its user, in one round trip: what most requests need to know who is calling.
pub struct SessionWithUser {
    pub data: serde_json::Value,
    pub expires_at: DateTime<Utc>,
    pub user: UserRow,
    /// The user's unread notifications (for the page header).
    pub unread: i64,
    /// The `mfa_required_roles` setting.
    pub mfa_roles: Option<serde_json::Value>,
}

/// `id_hash` is the session id as stored (`session_store::stored_id`).
pub async fn session_with_user(db: &PgPool, id_hash: &str) -> sqlx::Result<Option<SessionWithUser>> {
    let row = sqlx::query!(
        r#"SELECT s.data, s.expires_at,
                  u.id, u.email, u.name, u.role AS "role: Role", u.active, u.password_hash, u.team_id,
                  u.auth_epoch, u.mfa_enabled, u.mfa_secret, u.display_timezone, u.originator AS "originator!",
                  COALESCE(ARRAY(SELECT tm.team_id FROM team_managers tm WHERE tm.user_id = u.id), '{}') AS "managed_team_ids!",
                  (SELECT count(*) FROM notifications n WHERE n.user_id = u.id AND n.read_at IS NULL) AS "unread!",
                  (SELECT value FROM settings WHERE key = 'mfa_required_roles') AS "mfa_roles?"
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id_hash = $1 AND s.expires_at > now()"#,
        id_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| SessionWithUser {
        data: r.data,
        expires_at: r.expires_at,
        user: user_row!(r),
        unread: r.unread,
        mfa_roles: r.mfa_roles,
    }))
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: Uuid,
    pub label: &'a str,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Who issues it (None: an operator on the command line).
    pub issued_by: Option<Uuid>,
}

/// The default lifetime of a token.
pub const TOKEN_DAYS: i64 = 365;

/// Creates a token and returns its id and secret (shown once; only the hash is stored).
pub async fn create_token(tx: &mut Transaction<'_, Postgres>, t: &NewToken<'_>) -> sqlx::Result<(Uuid, String)> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("lf_{}", hex::encode(bytes));
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO api_tokens (id, user_id, label, token_hash, scopes, expires_at, issued_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        t.user_id,
        t.label,
        token_hash(&secret),
        &t.scopes,
        t.expires_at,
        t.issued_by
    )
    .execute(&mut **tx)
    .await?;
    Ok((id, secret))
}

/// Whether the database holds the demo organisation, which may run without a second factor (migration 0018).
pub async fn is_demo_organisation(db: &PgPool) -> sqlx::Result<bool> {
    let kind =
        sqlx::query_scalar!("SELECT value FROM settings WHERE key = 'organisation_kind'").fetch_optional(db).await?;
    Ok(kind.is_some_and(|v| v == serde_json::json!("demo")))
}

/// Marks the organisation as the demo (created by the program on an empty database: no second factor
/// required) or as real (a person added with `loanfloor user add`): a demo that becomes real starts
/// requiring a second factor of every role.
pub async fn mark_organisation(tx: &mut Transaction<'_, Postgres>, demo: bool) -> sqlx::Result<()> {
    if demo {
        sqlx::query!("UPDATE settings SET value = '[]', updated_at = now() WHERE key = 'mfa_required_roles'")
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query!(
            r#"UPDATE settings SET value = '"all"', updated_at = now()
               WHERE key = 'mfa_required_roles'
                 AND (SELECT value FROM settings WHERE key = 'organisation_kind') = '"demo"'::jsonb"#
        )
        .execute(&mut **tx)
        .await?;
    }
    let kind = serde_json::json!(if demo { "demo" } else { "real" });
    sqlx::query!(
        "INSERT INTO settings (key, value) VALUES ('organisation_kind', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        kind
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn record_login(db: &PgPool, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET last_login_at = now() WHERE id = $1", user_id).execute(db).await?;
    Ok(())
}

/// Throttle state for one key.
pub struct Throttle {
    pub failures: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

pub async fn throttle_get(db: &PgPool, key: &str) -> sqlx::Result<Option<Throttle>> {
    sqlx::query_as!(Throttle, "SELECT failures, locked_until FROM login_throttle WHERE key = $1", key)
        .fetch_optional(db)
        .await
}

/// Counts a failure and returns the running count. Failures older than a day are forgotten.
pub async fn throttle_fail(db: &PgPool, key: &str, now: DateTime<Utc>) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ($1, 1, $2)
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN login_throttle.last_failure_at < $2::timestamptz - interval '1 day' THEN 1
                             ELSE login_throttle.failures + 1 END,
             last_failure_at = $2
           RETURNING failures"#,
        key,
        now
    )
    .fetch_one(db)
    .await
}

/// Counts one attempt before it is checked, in one statement, so parallel attempts cannot pass the limit:
/// None while the key is locked; otherwise the attempt's number, and the key is locked for `lock_secs` from
/// the attempt that reaches `limit`. An expired lock, or a day without attempts, starts the count afresh.
pub async fn throttle_take(
    db: &PgPool,
    key: &str,
    limit: i32,
    lock_secs: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        r#"INSERT INTO login_throttle (key, failures, last_failure_at) VALUES ($1, 1, $2)
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN login_throttle.locked_until IS NOT NULL
                               OR login_throttle.last_failure_at < $2::timestamptz - interval '1 day' THEN 1
                             ELSE login_throttle.failures + 1 END,
             locked_until = CASE WHEN login_throttle.locked_until IS NULL
                                  AND login_throttle.last_failure_at >= $2::timestamptz - interval '1 day'
                                  AND login_throttle.failures + 1 >= $3
                                 THEN $2::timestamptz + make_interval(secs => $4::float8) END,
             last_failure_at = $2
           WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2
           RETURNING failures"#,
        key,
        now,
        limit,
        lock_secs as f64
    )
    .fetch_optional(db)
    .await
}

pub async fn throttle_lock(db: &PgPool, key: &str, until: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("UPDATE login_throttle SET locked_until = $2, failures = 0 WHERE key = $1", key, until)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn throttle_clear(db: &PgPool, key: &str) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM login_throttle WHERE key = $1", key).execute(db).await?;
    Ok(())
}

/// The user's unread notifications, for the page header (the session check reads it with the user; this is
/// for a page reached without one).
pub async fn unread_count(db: &sqlx::PgPool, user_id: uuid::Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM notifications WHERE user_id = $1 AND read_at IS NULL"#, user_id)
        .fetch_one(db)
        .await
}

/// The user a command-line change or import acts as: `--as-email`, or the first active admin.
pub async fn cli_actor(db: &PgPool, as_email: Option<&str>) -> anyhow::Result<crate::auth::CurrentUser> {
    let row = match as_email {
        Some(e) => find_user_by_email(db, e).await?,
        None => {
            let id = sqlx::query_scalar!(
                "SELECT id FROM users WHERE role = 'admin' AND active ORDER BY created_at, id LIMIT 1"
            )
            .fetch_optional(db)
            .await?;
            match id {
                Some(id) => find_user(db, id).await?,
                None => None,
            }
        }
    };
    row.filter(|u| u.active).map(|u| u.into_current(false)).ok_or_else(|| anyhow::anyhow!("no such active user"))
}
