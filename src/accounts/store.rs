//! SQL for users, teams and LO profiles.

use chrono::{DateTime, NaiveTime, Utc};
use sqlx::{Executor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::UserEdit;

use crate::auth::Role;
use crate::error::{AppError, FieldErrors, on_constraint};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
    pub team: Option<String>,
    pub states: Vec<String>,
    pub capacity: i32,
    pub nmls_id: Option<String>,
}

/// Checks a new user's fields, collecting every problem.
pub fn validate_new_user(u: &NewUser) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let email = u.email.trim();
    if !(email.len() <= 254
        && email.contains('@')
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.contains(char::is_whitespace))
    {
        errors.add("email", "Enter a valid email address.");
    }
    if u.name.trim().is_empty() || u.name.len() > 200 {
        errors.add("name", "Enter the person's name.");
    }
    if let Some(msg) = crate::auth::password::policy_violation(&u.password, email) {
        errors.add("password", msg);
    }
    for s in &u.states {
        if !crate::web::us::is_us_state(s) {
            errors.add("states", format!("{s} is not a US state code."));
        }
    }
    if u.capacity < 0 || u.capacity > 10_000 {
        errors.add("capacity", "Capacity must be between 0 and 10,000.");
    }
    errors
}

/// Finds a team by name (case-insensitive) or creates it.
pub async fn ensure_team(tx: &mut Transaction<'_, Postgres>, name: &str) -> sqlx::Result<Uuid> {
    let name = name.trim();
    if let Some(id) = sqlx::query_scalar!("SELECT id FROM teams WHERE lower(name) = lower($1)", name)
        .fetch_optional(&mut **tx)
        .await?
    {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    sqlx::query!("INSERT INTO teams (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", id, name)
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar!("SELECT id FROM teams WHERE lower(name) = lower($1)", name).fetch_one(&mut **tx).await
}

/// Creates a user (hashing the password), their LO profile, and team membership or management.
pub async fn create_user(tx: &mut Transaction<'_, Postgres>, u: &NewUser) -> Result<Uuid, AppError> {
    validate_new_user(u).into_result()?;
    let hash = crate::auth::password::hash(&u.password)?;
    let team_id = match &u.team {
        Some(t) if !t.trim().is_empty() => Some(ensure_team(tx, t).await?),
        _ => None,
    };
    let id = Uuid::new_v4();
    let member_team = if u.role == Role::Lo { team_id } else { None };
    sqlx::query!(
        "INSERT INTO users (id, email, name, role, password_hash, team_id) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        u.email.trim(),
        u.name.trim(),
        u.role.as_str(),
        hash,
        member_team
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[("users_email_idx", || AppError::invalid("email", "A user with this email already exists."))],
        )
    })?;
    if u.role == Role::Lo {
        let states: Vec<String> = u.states.iter().map(|s| s.trim().to_uppercase()).collect();
        sqlx::query!(
            "INSERT INTO lo_profiles (user_id, licensed_states, capacity, nmls_id) VALUES ($1, $2, $3, $4)",
            id,
            &states,
            u.capacity,
            u.nmls_id
        )
        .execute(&mut **tx)
        .await?;
    }
    if u.role == Role::Manager {
        if let Some(t) = team_id {
            sqlx::query!("INSERT INTO team_managers (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", t, id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(id)
}

/// One row of the admin's user list.
#[derive(Debug, Clone)]
pub struct UserListRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team_name: Option<String>,
    pub managed_teams: String,
    pub active: bool,
    pub mfa_enabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub lo_status: Option<String>,
}

/// Filters for the user list; empty strings mean "any".
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct UserFilter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub team: String,
    /// "", "active" or "inactive".
    #[serde(default)]
    pub state: String,
    /// "", "on" or "off".
    #[serde(default)]
    pub mfa: String,
}

pub async fn list_users(db: &PgPool, f: &UserFilter) -> sqlx::Result<Vec<UserListRow>> {
    let team: Option<Uuid> = f.team.parse().ok();
    sqlx::query_as!(
        UserListRow,
        r#"SELECT u.id, u.email, u.name, u.role AS "role: Role", t.name AS "team_name?",
                  COALESCE((SELECT string_agg(mt.name, ', ' ORDER BY mt.name) FROM team_managers tm
                            JOIN teams mt ON mt.id = tm.team_id WHERE tm.user_id = u.id), '') AS "managed_teams!",
                  u.active, u.mfa_enabled, u.last_login_at, p.status AS "lo_status?"
           FROM users u
           LEFT JOIN teams t ON t.id = u.team_id
           LEFT JOIN lo_profiles p ON p.user_id = u.id
           WHERE ($1 = '' OR u.name ILIKE '%' || $1 || '%' OR u.email ILIKE '%' || $1 || '%')
             AND ($2 = '' OR u.role = $2)
             AND ($3::uuid IS NULL OR u.team_id = $3
                  OR EXISTS (SELECT 1 FROM team_managers tm WHERE tm.user_id = u.id AND tm.team_id = $3))
             AND ($4 = '' OR u.active = ($4 = 'active'))
             AND ($5 = '' OR u.mfa_enabled = ($5 = 'on'))
           ORDER BY u.active DESC, lower(u.name), u.id
           LIMIT 1000"#,
        f.q.trim(),
        f.role,
        team,
        f.state,
        f.mfa
    )
    .fetch_all(db)
    .await
}

/// Everything the user edit page shows. Also the before/after snapshot in the audit log (no secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserDetail {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub team_id: Option<Uuid>,
    pub managed_team_ids: Vec<Uuid>,
    pub mfa_enabled: bool,
    pub version: i32,
    pub last_login_at: Option<DateTime<Utc>>,
    pub nmls_id: Option<String>,
    pub licensed_states: Option<Vec<String>>,
    pub capacity: Option<i32>,
    pub status: Option<String>,
    pub work_start: Option<NaiveTime>,
    pub work_end: Option<NaiveTime>,
    pub work_days: Option<Vec<i32>>,
    pub timezone: Option<String>,
    pub routing_weight: Option<i32>,
    pub monthly_cost_cents: Option<i64>,
    pub originates: bool,
}

pub async fn user_detail<'e, E: Executor<'e, Database = Postgres>>(
    db: E,
    id: Uuid,
) -> sqlx::Result<Option<UserDetail>> {
    sqlx::query_as!(
        UserDetail,
        r#"SELECT u.id, u.email, u.name, u.role AS "role: Role", u.active, u.team_id,
                  COALESCE(ARRAY(SELECT tm.team_id FROM team_managers tm WHERE tm.user_id = u.id ORDER BY tm.team_id), '{}') AS "managed_team_ids!",
                  u.mfa_enabled, u.version, u.last_login_at,
                  p.nmls_id AS "nmls_id?", p.licensed_states AS "licensed_states?", p.capacity AS "capacity?",
                  p.status AS "status?", p.work_start AS "work_start?", p.work_end AS "work_end?",
                  p.work_days AS "work_days?", p.timezone AS "timezone?", p.routing_weight AS "routing_weight?",
                  p.monthly_cost_cents AS "monthly_cost_cents?", u.originates
           FROM users u LEFT JOIN lo_profiles p ON p.user_id = u.id
           WHERE u.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Locks the user's row for a change and returns its current state.
pub async fn lock_user(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<UserDetail, AppError> {
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound)?;
    user_detail(&mut **tx, id).await?.ok_or(AppError::NotFound)
}

/// Applies a checked edit if the user is still at `version`; a stale edit is a conflict, never an overwrite.
pub async fn update_user(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    version: i32,
    e: &UserEdit,
) -> Result<(), AppError> {
    let updated = sqlx::query!(
        "UPDATE users SET name = $3, email = $4, role = $5, team_id = $6, originates = $7, version = version + 1,
                updated_at = now()
         WHERE id = $1 AND version = $2",
        id,
        version,
        e.name,
        e.email,
        e.role.as_str(),
        e.team_id,
        e.originates
    )
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        on_constraint(
            err,
            &[
                ("users_email_idx", || AppError::invalid("email", "A user with this email already exists.")),
                ("users_team_id_fkey", || AppError::invalid("team_id", "That team no longer exists.")),
            ],
        )
    })?;
    if updated.rows_affected() == 0 {
        return Err(AppError::conflict(
            "Someone else changed this user while you were editing. Reload the page to see their changes.",
        ));
    }
    sqlx::query!("DELETE FROM team_managers WHERE user_id = $1 AND NOT (team_id = ANY($2))", id, &e.managed_team_ids)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        "INSERT INTO team_managers (team_id, user_id) SELECT t.id, $1 FROM teams t WHERE t.id = ANY($2) ON CONFLICT DO NOTHING",
        id,
        &e.managed_team_ids
    )
    .execute(&mut **tx)
    .await?;
    if let Some(p) = &e.profile {
        sqlx::query!(
            "INSERT INTO lo_profiles (user_id, nmls_id, licensed_states, capacity, status, status_changed_at, work_start,
                                      work_end, work_days, timezone, routing_weight, monthly_cost_cents)
             VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11)
             ON CONFLICT (user_id) DO UPDATE SET nmls_id = $2, licensed_states = $3, capacity = $4, status = $5,
                 status_changed_at = CASE WHEN lo_profiles.status = $5 THEN lo_profiles.status_changed_at ELSE now() END,
                 work_start = $6, work_end = $7, work_days = $8, timezone = $9, routing_weight = $10,
                 monthly_cost_cents = $11, updated_at = now()",
            id,
            p.nmls_id,
            &p.licensed_states,
            p.capacity,
            p.status,
            p.work_start,
            p.work_end,
            &p.work_days,
            p.timezone,
            p.routing_weight,
            p.monthly_cost_cents
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Turns a user off or on. Turning off bumps the auth epoch (every session ends) and takes an LO off routing;
/// leads and history stay untouched.
pub async fn set_active(tx: &mut Transaction<'_, Postgres>, id: Uuid, active: bool) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET active = $2, version = version + 1, updated_at = now() WHERE id = $1", id, active)
        .execute(&mut **tx)
        .await?;
    if !active {
        // Reactivating a person does not bring back the tokens they had.
        sqlx::query!("UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", id)
            .execute(&mut **tx)
            .await?;
        sqlx::query!(
            "UPDATE lo_profiles SET status = 'offline', status_changed_at = now(), updated_at = now()
             WHERE user_id = $1 AND status <> 'offline'",
            id
        )
        .execute(&mut **tx)
        .await?;
        crate::auth::session_store::end_sessions_of(tx, id).await?;
    }
    Ok(())
}

/// Sets a new password hash and ends every session of the user.
pub async fn set_password(tx: &mut Transaction<'_, Postgres>, id: Uuid, hash: &str) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", id, hash)
        .execute(&mut **tx)
        .await?;
    crate::auth::session_store::end_sessions_of(tx, id).await?;
    Ok(())
}

/// Removes a user's second factor (lost phone); they enrol again at next sign-in if MFA is required.
/// Their sessions end, because a session that passed the old factor should not outlive it.
pub async fn reset_mfa(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("UPDATE users SET mfa_enabled = false, mfa_secret = NULL, updated_at = now() WHERE id = $1", id)
        .execute(&mut **tx)
        .await?;
    sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", id).execute(&mut **tx).await?;
    crate::auth::session_store::end_sessions_of(tx, id).await?;
    Ok(())
}

/// Open (not funded, lost or nurture) leads assigned to an LO.
pub async fn open_lead_count<'e, E: Executor<'e, Database = Postgres>>(db: E, lo_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
           WHERE l.assigned_lo_id = $1 AND s.kind = 'open'"#,
        lo_id
    )
    .fetch_one(db)
    .await
}

/// An LO sets their own availability.
pub async fn set_lo_status(tx: &mut Transaction<'_, Postgres>, id: Uuid, status: &str) -> sqlx::Result<Option<String>> {
    let before = sqlx::query_scalar!("SELECT status FROM lo_profiles WHERE user_id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?;
    if before.is_some() {
        sqlx::query!(
            "UPDATE lo_profiles SET status = $2,
                 status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE now() END, updated_at = now()
             WHERE user_id = $1",
            id,
            status
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(before)
}

/// A team with its managers and member count.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: Uuid,
    pub name: String,
    pub manager_ids: Vec<Uuid>,
    pub managers: String,
    pub members: i64,
    /// The share of assigned leads its LOs should reach, percent.
    pub contact_rate_target_pct: i32,
}

pub async fn list_teams(db: &PgPool) -> sqlx::Result<Vec<TeamRow>> {
    sqlx::query_as!(
        TeamRow,
        r#"SELECT t.id, t.name,
                  COALESCE(ARRAY(SELECT tm.user_id FROM team_managers tm WHERE tm.team_id = t.id), '{}') AS "manager_ids!",
                  COALESCE((SELECT string_agg(u.name, ', ' ORDER BY u.name) FROM team_managers tm JOIN users u ON u.id = tm.user_id
                            WHERE tm.team_id = t.id), '') AS "managers!",
                  (SELECT count(*) FROM users u WHERE u.team_id = t.id AND u.active) AS "members!",
                  t.contact_rate_target_pct
           FROM teams t ORDER BY lower(t.name)"#
    )
    .fetch_all(db)
    .await
}

/// (id, name) of every active user of a role, for pickers.
pub async fn people_with_role(db: &PgPool, role: Role) -> sqlx::Result<Vec<(Uuid, String)>> {
    Ok(sqlx::query!("SELECT id, name FROM users WHERE role = $1 AND active ORDER BY lower(name)", role.as_str())
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}

pub async fn create_team(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<Uuid, AppError> {
    let id = Uuid::new_v4();
    sqlx::query!("INSERT INTO teams (id, name) VALUES ($1, $2)", id, name).execute(&mut **tx).await.map_err(|e| {
        on_constraint(e, &[("teams_name_idx", || AppError::invalid("name", "A team with this name already exists."))])
    })?;
    Ok(id)
}

/// Renames a team and replaces its managers (only users with the manager role are kept).
pub async fn update_team(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    name: &str,
    managers: &[Uuid],
    contact_rate_target_pct: i32,
) -> Result<(), AppError> {
    let n = sqlx::query!(
        "UPDATE teams SET name = $2, contact_rate_target_pct = $3 WHERE id = $1",
        id,
        name,
        contact_rate_target_pct
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        on_constraint(e, &[("teams_name_idx", || AppError::invalid("name", "A team with this name already exists."))])
    })?;
    if n.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    sqlx::query!("DELETE FROM team_managers WHERE team_id = $1 AND NOT (user_id = ANY($2))", id, managers)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        "INSERT INTO team_managers (team_id, user_id) SELECT $1, u.id FROM users u WHERE u.id = ANY($2) AND u.role = 'manager'
         ON CONFLICT DO NOTHING",
        id,
        managers
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An API token as the admin sees it (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_email: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Who issued it (None: an operator on the command line, or before issuers were recorded).
    pub issued_by_email: Option<String>,
}

impl TokenRow {
    pub fn scope_list(&self) -> String {
        self.scopes.join(", ")
    }
    pub fn expired(&self) -> bool {
        self.expires_at <= Utc::now()
    }
}

pub async fn list_tokens(db: &PgPool, user_id: Option<Uuid>) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as!(
        TokenRow,
        r#"SELECT k.id, k.user_id, u.email AS user_email, k.label, k.created_at, k.last_used_at, k.revoked_at,
                  k.scopes, k.expires_at, i.email AS "issued_by_email?"
           FROM api_tokens k JOIN users u ON u.id = k.user_id LEFT JOIN users i ON i.id = k.issued_by
           WHERE ($1::uuid IS NULL OR k.user_id = $1)
           ORDER BY k.revoked_at IS NOT NULL, k.created_at DESC LIMIT 500"#,
        user_id
    )
    .fetch_all(db)
    .await
}

/// Revokes a token (of `owner` only, when given); returns it as it was, or None when there is no such token.
pub async fn revoke_token(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    owner: Option<Uuid>,
) -> sqlx::Result<Option<TokenRow>> {
    let before = sqlx::query_as!(
        TokenRow,
        r#"SELECT k.id, k.user_id, u.email AS user_email, k.label, k.created_at, k.last_used_at, k.revoked_at,
                  k.scopes, k.expires_at, i.email AS "issued_by_email?"
           FROM api_tokens k JOIN users u ON u.id = k.user_id LEFT JOIN users i ON i.id = k.issued_by
           WHERE k.id = $1 AND ($2::uuid IS NULL OR k.user_id = $2) FOR UPDATE OF k"#,
        id,
        owner
    )
    .fetch_optional(&mut **tx)
    .await?;
    if before.is_some() {
        sqlx::query!("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(before)
}

/// Why a hand-over target cannot take an offboarded LO's leads, or None when it can.
pub async fn hand_over_target_problem<'e, E: Executor<'e, Database = Postgres>>(
    db: E,
    to: &super::model::HandOver,
) -> sqlx::Result<Option<&'static str>> {
    use super::model::HandOver;
    Ok(match to {
        HandOver::Redistribute => None,
        HandOver::ToLo(lo) => {
            let ok = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND originator AND active) AS "ok!""#,
                lo
            )
            .fetch_one(db)
            .await?;
            (!ok).then_some("Choose an active loan officer to take over the open leads.")
        }
        HandOver::ToTeamQueue(team) => {
            let ok = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1) AS "ok!""#, team)
                .fetch_one(db)
                .await?;
            (!ok).then_some("Choose an existing team whose queue takes the leads.")
        }
    })
}
