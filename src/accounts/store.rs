//! SQL for users, teams and LO profiles.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

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
        if !crate::leads::model::is_us_state(s) {
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
