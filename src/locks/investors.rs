//! The investors a branch locks with, maintained by admins: their relock and float-down terms and their
//! published extension schedule. Each change is audited in the caller's transaction.

use serde::Deserialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::store::{self, InvestorRow, ScheduleOption};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};

/// An investor's terms as an admin enters them (the API's body and the admin page's form).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvestorInput {
    pub name: String,
    #[serde(default = "default_fee")]
    pub relock_fee_bps: i32,
    #[serde(default = "default_fee")]
    pub float_down_fee_bps: i32,
    /// The least market improvement that allows a float-down, thousandths of a percent (250: 0.250%).
    #[serde(default = "default_min")]
    pub float_down_min_milli: i32,
    pub max_extension_days: Option<i32>,
    #[serde(default = "default_active")]
    pub active: bool,
    /// The extension schedule; given, it replaces the investor's whole schedule.
    pub schedule: Option<Vec<ScheduleOption>>,
    /// On an update: the version the change is based on (409 when stale).
    pub version: Option<i32>,
}

fn default_fee() -> i32 {
    25
}
fn default_min() -> i32 {
    250
}
fn default_active() -> bool {
    true
}

fn check(input: &InvestorInput) -> AppResult<()> {
    let mut e = FieldErrors::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        e.add("name", "Enter the investor's name (up to 120 characters).");
    }
    if !(0..=500).contains(&input.relock_fee_bps) {
        e.add("relock_fee_bps", "Enter a fee between 0 and 500 bps.");
    }
    if !(0..=500).contains(&input.float_down_fee_bps) {
        e.add("float_down_fee_bps", "Enter a fee between 0 and 500 bps.");
    }
    if !(0..=5000).contains(&input.float_down_min_milli) {
        e.add("float_down_min_milli", "Enter an improvement between 0 and 5.000% (0 to 5000).");
    }
    if input.max_extension_days.is_some_and(|d| !(1..=180).contains(&d)) {
        e.add("max_extension_days", "Enter a cap between 1 and 180 days, or none.");
    }
    if let Some(schedule) = &input.schedule {
        check_schedule(schedule, &mut e);
    }
    e.into_result()
}

fn check_schedule(schedule: &[ScheduleOption], e: &mut FieldErrors) {
    let mut days: Vec<i32> = schedule.iter().map(|o| o.days).collect();
    days.sort_unstable();
    days.dedup();
    if days.len() != schedule.len() {
        e.add("schedule", "Each extension length appears once.");
    }
    if schedule.iter().any(|o| !(1..=60).contains(&o.days) || !(0..=500).contains(&o.cost_bps)) {
        e.add("schedule", "An option extends by 1 to 60 days for 0 to 500 bps.");
    }
}

fn name_taken() -> AppError {
    AppError::Taken { field: "name", message: "Another investor has this name.".into(), other: None }
}

/// Replaces an investor's extension schedule with `schedule` (admins), audited.
pub async fn replace_schedule(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    investor_id: Uuid,
    schedule: &[ScheduleOption],
) -> AppResult<InvestorRow> {
    actor.require(&[Role::Admin])?;
    let mut e = FieldErrors::new();
    check_schedule(schedule, &mut e);
    e.into_result()?;
    let before = store::investor_in(tx, investor_id).await?.ok_or(AppError::NotFound)?;
    sqlx::query!("DELETE FROM lock_extension_options WHERE investor_id = $1", investor_id).execute(&mut **tx).await?;
    let days: Vec<i32> = schedule.iter().map(|o| o.days).collect();
    let costs: Vec<i32> = schedule.iter().map(|o| o.cost_bps).collect();
    sqlx::query!(
        "INSERT INTO lock_extension_options (investor_id, days, cost_bps) SELECT $1, * FROM unnest($2::int[], $3::int[])",
        investor_id,
        &days,
        &costs
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("UPDATE lock_investors SET version = version + 1, updated_at = now() WHERE id = $1", investor_id)
        .execute(&mut **tx)
        .await?;
    let after = store::investor_in(tx, investor_id).await?.ok_or(AppError::NotFound)?;
    Entry::new(Some(actor), "lock_investor.schedule_replaced", "lock_investor", investor_id)
        .before(&before.schedule)
        .after(&after.schedule)
        .write(&mut **tx)
        .await?;
    Ok(after)
}

/// Adds an investor (admins), with its schedule when given.
pub async fn create_investor(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    input: &InvestorInput,
) -> AppResult<InvestorRow> {
    actor.require(&[Role::Admin])?;
    check(input)?;
    let id = Uuid::new_v4();
    sqlx::query!(
        r#"INSERT INTO lock_investors (id, name, relock_fee_bps, float_down_fee_bps, float_down_min_milli,
                                       max_extension_days, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        id,
        input.name.trim(),
        input.relock_fee_bps,
        input.float_down_fee_bps,
        input.float_down_min_milli,
        input.max_extension_days,
        input.active
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::error::on_constraint(e, &[("lock_investors_name_idx", name_taken)]))?;
    Entry::new(Some(actor), "lock_investor.created", "lock_investor", id)
        .after(json_of(input))
        .write(&mut **tx)
        .await?;
    if let Some(schedule) = &input.schedule {
        return replace_schedule(tx, actor, id, schedule).await;
    }
    store::investor_in(tx, id).await?.ok_or(AppError::NotFound)
}

/// Changes an investor's terms (admins); with a `version`, a stale one is a 409. A given schedule replaces the
/// old one.
pub async fn update_investor(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    id: Uuid,
    input: &InvestorInput,
) -> AppResult<InvestorRow> {
    actor.require(&[Role::Admin])?;
    check(input)?;
    let version = sqlx::query_scalar!("SELECT version FROM lock_investors WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if input.version.is_some_and(|v| v != version) {
        return Err(AppError::conflict("Someone changed this investor since you opened it; reload and try again."));
    }
    let before = store::investor_in(tx, id).await?.ok_or(AppError::NotFound)?;
    sqlx::query!(
        r#"UPDATE lock_investors SET name = $2, relock_fee_bps = $3, float_down_fee_bps = $4, float_down_min_milli = $5,
                  max_extension_days = $6, active = $7, version = version + 1, updated_at = now()
           WHERE id = $1"#,
        id,
        input.name.trim(),
        input.relock_fee_bps,
        input.float_down_fee_bps,
        input.float_down_min_milli,
        input.max_extension_days,
        input.active
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| crate::error::on_constraint(e, &[("lock_investors_name_idx", name_taken)]))?;
    Entry::new(Some(actor), "lock_investor.updated", "lock_investor", id)
        .before(&before)
        .after(json_of(input))
        .write(&mut **tx)
        .await?;
    if let Some(schedule) = &input.schedule {
        return replace_schedule(tx, actor, id, schedule).await;
    }
    store::investor_in(tx, id).await?.ok_or(AppError::NotFound)
}

fn json_of(input: &InvestorInput) -> serde_json::Value {
    serde_json::json!({
        "name": input.name.trim(), "relock_fee_bps": input.relock_fee_bps,
        "float_down_fee_bps": input.float_down_fee_bps, "float_down_min_milli": input.float_down_min_milli,
        "max_extension_days": input.max_extension_days, "active": input.active,
    })
}
