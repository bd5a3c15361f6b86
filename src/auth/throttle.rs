//! Sign-in throttling per account and per client address, kept in Postgres so every instance agrees.
//! Five failures in a row on an account lock it for 15 minutes; twenty from one address lock the address.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::store;
use crate::error::AppError;

pub const ACCOUNT_LIMIT: i32 = 5;
pub const ADDRESS_LIMIT: i32 = 20;
pub const LOCK_SECS: i64 = 15 * 60;

pub fn account_key(email: &str) -> String {
    format!("acct:{}", typed_email_hash(email))
}

/// What is kept of an email typed at a refused sign-in (the throttle's key, the audit entry): its SHA-256, never
/// the text — a typo of someone's address, or another person's, is personal data nobody needs to keep. An
/// investigator who knows an address finds its attempts by hashing it the same way.
pub fn typed_email_hash(email: &str) -> String {
    crate::auth::store::token_hash(&format!("loanfloor sign-in:{}", email.trim().to_lowercase()))
}
pub fn address_key(addr: &str) -> String {
    format!("addr:{addr}")
}

/// Refuses with 429 while either key is locked.
pub async fn check(db: &PgPool, keys: &[String], now: DateTime<Utc>) -> Result<(), AppError> {
    for key in keys {
        if let Some(t) = store::throttle_get(db, key).await? {
            if let Some(until) = t.locked_until.filter(|u| *u > now) {
                return Err(AppError::RateLimited { retry_after_secs: (until - now).num_seconds().max(1) as u64 });
            }
        }
    }
    Ok(())
}

/// Counts a failure on each key and locks those that reached their limit.
pub async fn fail(db: &PgPool, account: &str, address: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    for (key, limit) in [(account, ACCOUNT_LIMIT), (address, ADDRESS_LIMIT)] {
        let failures = store::throttle_fail(db, key, now).await?;
        if failures >= limit {
            store::throttle_lock(db, key, now + chrono::Duration::seconds(LOCK_SECS)).await?;
        }
    }
    Ok(())
}

/// Second-factor codes allowed per lock period, counted per user on their own key: a correct password does
/// not reset it, so someone holding the password gets five codes every 15 minutes, not five per sign-in.
pub const SECOND_FACTOR_LIMIT: i32 = 5;

pub fn second_factor_key(user: uuid::Uuid) -> String {
    format!("mfa:{user}")
}

/// Takes one second-factor attempt (counted before the code is checked, in one statement): 429 while the
/// user's second factor is locked. A correct code clears the count with [`succeed`].
pub async fn take_second_factor_attempt(db: &PgPool, user: uuid::Uuid, now: DateTime<Utc>) -> Result<(), AppError> {
    let key = second_factor_key(user);
    if store::throttle_take(db, &key, SECOND_FACTOR_LIMIT, LOCK_SECS, now).await?.is_some() {
        return Ok(());
    }
    let until = store::throttle_get(db, &key).await?.and_then(|t| t.locked_until).unwrap_or(now);
    Err(AppError::RateLimited { retry_after_secs: (until - now).num_seconds().max(1) as u64 })
}

pub async fn succeed(db: &PgPool, account: &str) -> Result<(), AppError> {
    store::throttle_clear(db, account).await?;
    Ok(())
}
