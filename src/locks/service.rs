//! The writes to a rate lock, one function per kind of change, each in the caller's transaction. Every change
//! writes the lock row (its `version` moved on), one `rate_lock_events` row with the lock before and after and,
//! where money moves, its cost in bps and cents attributed to the loan's LO and team at the time, one audit
//! entry, and the `lock.*` webhook event. Who may do what is decided here, so the API, the pages and the
//! escalations share it: lock, relock, float-down and cancel — whoever sees the loan through the one lead scope
//! and works loans (its LO, managers of its team, admins); extend directly — managers and admins only (an LO asks
//! through an escalation).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model;
use super::store::{self, InsertLock, InvestorRow, LeadOwner, LockEventRow, LockRow, LockUpdate, NewEvent};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::Event;
use crate::state::AppState;

/// A new lock as the desk (or the API) enters it.
#[derive(Debug, Clone)]
pub struct NewLock {
    pub lead_id: Uuid,
    pub investor_id: Uuid,
    pub product: String,
    pub rate_milli: i32,
    pub price_bps: i32,
    pub loan_amount_cents: i64,
    pub locked_on: NaiveDate,
    pub period_days: i32,
    pub closing_on: Option<NaiveDate>,
    pub los_lock_id: Option<String>,
}

/// What one change records besides the lock row.
pub(crate) struct Change<'a> {
    pub kind: &'a str,
    pub origin: &'a str,
    pub days: Option<i32>,
    pub cost_bps: Option<i32>,
    pub escalation_id: Option<Uuid>,
    pub note: &'a str,
    /// The webhook event, if this change has one.
    pub webhook: Option<&'a str>,
}

impl<'a> Change<'a> {
    pub(crate) fn new(kind: &'a str, origin: &'a str, note: &'a str, webhook: Option<&'a str>) -> Self {
        Change { kind, origin, days: None, cost_bps: None, escalation_id: None, note, webhook }
    }
}

const WORKERS: [Role; 3] = [Role::Admin, Role::Manager, Role::Lo];

/// The loan's owner, if `actor` may change its lock: 404 outside the one lead scope (as if it did not
/// exist), 403 for a role that does not work loans, or for an LO when `managers_only`.
async fn authorise(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lead_id: Uuid,
    managers_only: bool,
) -> AppResult<LeadOwner> {
    let owner = store::lead_owner(tx, lead_id).await?.ok_or(AppError::NotFound)?;
    if !actor.scope().allows_lead(owner.assigned_lo_id, owner.team_id) {
        return Err(AppError::NotFound);
    }
    actor.require(&WORKERS)?;
    if managers_only && !actor.is_manager_or_admin() {
        return Err(AppError::forbidden(
            "Only a manager or an administrator extends a lock directly; ask for an extension through an escalation.",
        ));
    }
    Ok(owner)
}

/// The lock, locked for a change, if `actor` may make it.
async fn lock_for_change(
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lock_id: Uuid,
    managers_only: bool,
) -> AppResult<LockRow> {
    let lock = store::lock_for_update(tx, lock_id).await?.ok_or(AppError::NotFound)?;
    authorise(tx, actor, lock.lead_id, managers_only).await?;
    Ok(lock)
}

/// Refuses unless the lock is live now (`locked` and not past its expiry, which the job may not have seen yet).
fn require_live(lock: &LockRow, now: DateTime<Utc>, what: &str) -> AppResult<()> {
    if lock.status != "locked" {
        return Err(AppError::conflict(format!("This lock is {}: only a live lock can be {what}.", lock.status)));
    }
    if lock.expires_at <= now {
        return Err(AppError::conflict(format!(
            "This lock expired at {}: only a live lock can be {what}; relock it instead.",
            lock.expires_at.to_rfc3339()
        )));
    }
    Ok(())
}

/// The investor's terms, or a validation error on `field`.
async fn investor(tx: &mut Transaction<'_, Postgres>, id: Uuid, field: &str) -> AppResult<InvestorRow> {
    store::investor_in(tx, id).await?.ok_or_else(|| AppError::invalid(field, "No such investor."))
}

/// Refuses a second live lock on a loan (checked first for a clear answer; the unique index decides races).
async fn refuse_second_live(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> AppResult<()> {
    let live = sqlx::query_scalar!("SELECT id FROM rate_locks WHERE lead_id = $1 AND status = 'locked'", lead_id)
        .fetch_optional(&mut **tx)
        .await?;
    if live.is_some() {
        return Err(second_live());
    }
    Ok(())
}

pub(crate) fn second_live() -> AppError {
    AppError::conflict(
        "This loan already has a live lock: extend it, float it down, or cancel it before locking again.",
    )
}

pub(crate) fn insert_error(e: sqlx::Error) -> AppError {
    crate::error::on_constraint(
        e,
        &[
            ("rate_locks_one_live_idx", second_live),
            ("rate_locks_los_idx", || {
                AppError::invalid("los_lock_id", "This loan already has a lock with this LOS lock id.")
            }),
        ],
    )
}

/// What the LOS and webhooks receive about a lock (no borrower contact data).
pub fn webhook_payload(lock: &LockRow, change: Option<(i32, i32)>) -> Value {
    let mut v = json!({
        "lock_id": lock.id, "lead_id": lock.lead_id, "loan_number": lock.loan_number, "los_lock_id": lock.los_lock_id,
        "investor": lock.investor_name, "product": lock.product, "rate_milli": lock.rate_milli,
        "price_bps": lock.price_bps, "base_price_bps": lock.base_price_bps, "extension_bps": lock.extension_bps,
        "loan_amount_cents": lock.loan_amount_cents, "period_days": lock.period_days,
        "extended_days": lock.extended_days, "last_day": lock.last_day, "expires_at": lock.expires_at,
        "status": lock.status, "origin": lock.origin,
    });
    if let Some((days, bps)) = change {
        v["extension"] = json!({
            "days": days, "cost_bps": bps, "cost_cents": model::bps_of(lock.loan_amount_cents, bps),
        });
    }
    v
}

/// Records a change made to `after` (from `before`): the history row, the audit entry, the webhook event, and
/// the expiry job's run at the lock's new expiry and notice time.
pub(crate) async fn record(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    before: Option<&LockRow>,
    after: &LockRow,
    change: Change<'_>,
) -> AppResult<()> {
    let owner = store::lead_owner(tx, after.lead_id).await?.ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let before_json = before.map(|b| serde_json::to_value(b).unwrap_or(Value::Null));
    let after_json = serde_json::to_value(after).unwrap_or(Value::Null);
    let event = NewEvent {
        lock_id: after.id,
        kind: change.kind,
        actor_id: actor.map(|a| a.id),
        origin: change.origin,
        days: change.days,
        cost_bps: change.cost_bps,
        cost_cents: change.cost_bps.map(|bps| model::bps_of(after.loan_amount_cents, bps)),
        lo_id: owner.assigned_lo_id,
        team_id: owner.team_id,
        escalation_id: change.escalation_id,
        before: before_json.clone(),
        after: Some(after_json.clone()),
        note: change.note,
        at: now,
    };
    store::insert_event(tx, &event).await.map_err(|e| {
        crate::error::on_constraint(
            e,
            &[("rate_lock_events_escalation_id_fkey", || AppError::invalid("escalation_id", "No such escalation."))],
        )
    })?;
    let action = format!("lock.{}", change.kind);
    let mut entry = Entry::new(actor.map(|a| a as &dyn crate::audit::Acts), &action, "rate_lock", after.id)
        .after(json!({ "lock": after_json, "origin": change.origin, "days": change.days,
                       "cost_bps": change.cost_bps, "note": change.note }));
    if let Some(b) = before_json {
        entry = entry.before(b);
    }
    entry.write(&mut **tx).await?;
    if let Some(kind) = change.webhook {
        let payload = webhook_payload(after, change.days.zip(change.cost_bps));
        crate::events::emit(tx, Event::LockChanged { kind, payload: &payload }).await?;
    }
    if after.status == "locked" {
        super::schedule::schedule_for(state, tx, after).await?;
    }
    Ok(())
}

/// Checks a new lock's fields; errors name `NewLock`'s fields.
fn check_new(input: &NewLock, today: NaiveDate) -> AppResult<()> {
    let mut e = FieldErrors::new();
    let product = input.product.trim();
    if product.is_empty() || product.chars().count() > 80 {
        e.add("product", "Enter the product (up to 80 characters).");
    }
    if !(1..=20_000).contains(&input.rate_milli) {
        e.add("rate_milli", "Enter a rate between 0.001% and 20%.");
    }
    if !(-1500..=1500).contains(&input.price_bps) {
        e.add("price_bps", "Enter a price between a 15-point credit and 15 points (-1500 to 1500 bps).");
    }
    if input.loan_amount_cents <= 0 {
        e.add("loan_amount_cents", "Enter the loan amount.");
    }
    if !model::is_period(input.period_days) {
        e.add("period_days", "Choose a lock period of 15, 30, 45 or 60 days.");
    } else if model::last_day(input.locked_on, input.period_days) < today {
        e.add("locked_on", "A lock taken on this day has already run out; enter today's lock.");
    }
    if input.locked_on > today {
        e.add("locked_on", "A lock cannot be taken in the future.");
    }
    if input.closing_on.is_some_and(|c| c < input.locked_on) {
        e.add("closing_on", "The closing date cannot be before the lock date.");
    }
    if input.los_lock_id.as_deref().is_some_and(|l| l.trim().is_empty() || l.trim().chars().count() > 64) {
        e.add("los_lock_id", "An LOS lock id has 1 to 64 characters.");
    }
    e.into_result()
}

/// Locks a loan: a new live lock (409 when the loan already has one).
pub async fn lock(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    input: NewLock,
) -> AppResult<LockRow> {
    authorise(tx, actor, input.lead_id, false).await?;
    check_new(&input, state.today())?;
    let inv = investor(tx, input.investor_id, "investor_id").await?;
    if !inv.active {
        return Err(AppError::invalid("investor_id", "This investor is no longer offered."));
    }
    refuse_second_live(tx, input.lead_id).await?;
    let last_day = model::last_day(input.locked_on, input.period_days);
    let id = Uuid::new_v4();
    let row = InsertLock {
        id,
        lead_id: input.lead_id,
        los_lock_id: input.los_lock_id.as_deref().map(str::trim),
        investor_id: input.investor_id,
        product: input.product.trim(),
        rate_milli: input.rate_milli,
        base_price_bps: input.price_bps,
        extension_bps: 0,
        loan_amount_cents: input.loan_amount_cents,
        locked_on: input.locked_on,
        period_days: input.period_days,
        extended_days: 0,
        last_day,
        expires_at: model::expires_at(last_day, state.config.timezone),
        closing_on: input.closing_on,
        status: "locked",
        relock_of: None,
        locked_by: Some(actor.id),
        origin: "loanfloor",
        at: state.clock.now(),
    };
    store::insert_lock(tx, &row).await.map_err(insert_error)?;
    let after = store::lock_in(tx, id).await?;
    record(state, tx, Some(actor), None, &after, Change::new("locked", "loanfloor", "", Some("lock.created"))).await?;
    Ok(after)
}

/// What an extension of `days` would cost this lock under its investor's schedule: (bps, cents). A length the
/// investor does not offer, or past its cap, is a validation error on `days`.
pub async fn extension_quote(db: &PgPool, lock: &LockRow, days: i32) -> AppResult<(i32, i64)> {
    let (options, cap) = store::schedule(db, lock.investor_id).await?;
    let options: Vec<model::ExtensionOption> = options.into_iter().map(Into::into).collect();
    let bps = model::extension_cost(&options, days, lock.extended_days, cap)
        .map_err(|e| AppError::invalid("days", e.message()))?;
    Ok((bps, model::bps_of(lock.loan_amount_cents, bps)))
}

/// Extends a live lock by one of its investor's options (managers and admins; `escalation_id` names the request
/// that approved it, if one did).
pub async fn extend(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lock_id: Uuid,
    days: i32,
    escalation_id: Option<Uuid>,
    note: &str,
) -> AppResult<LockRow> {
    let before = lock_for_change(tx, actor, lock_id, true).await?;
    extend_locked(state, tx, actor, before, days, escalation_id, note).await
}

/// Extends a live lock as an approved lock-extension request asked: `approver` decided the request, which
/// escalations authorised (the approver's level and the request's team), so the lead scope is the request's,
/// not the approver's own; the approval and the extension commit together.
pub async fn extend_approved(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    approver: &CurrentUser,
    lock_id: Uuid,
    days: i32,
    escalation_id: Uuid,
    note: &str,
) -> AppResult<LockRow> {
    let before = store::lock_for_update(tx, lock_id).await?.ok_or(AppError::NotFound)?;
    extend_locked(state, tx, approver, before, days, Some(escalation_id), note).await
}

async fn extend_locked(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    before: LockRow,
    days: i32,
    escalation_id: Option<Uuid>,
    note: &str,
) -> AppResult<LockRow> {
    let lock_id = before.id;
    let now = state.clock.now();
    require_live(&before, now, "extended")?;
    let inv = investor(tx, before.investor_id, "days").await?;
    let bps = model::extension_cost(&inv.options(), days, before.extended_days, inv.max_extension_days)
        .map_err(|e| AppError::invalid("days", e.message()))?;
    let last_day = before.last_day + chrono::Duration::days(i64::from(days));
    let update = LockUpdate {
        rate_milli: before.rate_milli,
        base_price_bps: before.base_price_bps,
        extension_bps: before.extension_bps + bps,
        extended_days: before.extended_days + days,
        last_day,
        expires_at: model::expires_at(last_day, state.config.timezone),
        closing_on: before.closing_on,
        status: "locked",
        ended_at: None,
        at: now,
    };
    store::update_lock(tx, lock_id, &update).await.map_err(|e| {
        crate::error::on_constraint(
            e,
            &[("rate_locks_extension_bps_check", || {
                AppError::invalid("days", "This lock cannot be extended further.")
            })],
        )
    })?;
    let after = store::lock_in(tx, lock_id).await?;
    let change = Change {
        days: Some(days),
        cost_bps: Some(bps),
        escalation_id,
        ..Change::new("extended", "loanfloor", note, Some("lock.extended"))
    };
    record(state, tx, Some(actor), Some(&before), &after, change).await?;
    Ok(after)
}

/// Relocks an expired or cancelled lock: a new live lock naming it, for `period_days` from today, at the worse of
/// its original price and today's, plus the investor's relock fee. The cost recorded is what the loan pays over
/// the original price.
pub async fn relock(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lock_id: Uuid,
    today_price_bps: i32,
    period_days: i32,
    note: &str,
) -> AppResult<LockRow> {
    let old = lock_for_change(tx, actor, lock_id, false).await?;
    let now = state.clock.now();
    let lapsed = old.status == "locked" && old.expires_at <= now;
    if !matches!(old.status.as_str(), "expired" | "cancelled") && !lapsed {
        return Err(AppError::conflict(format!(
            "This lock is {}: only an expired or cancelled lock can be relocked.",
            old.status
        )));
    }
    let mut e = FieldErrors::new();
    if !model::is_period(period_days) {
        e.add("period_days", "Choose a lock period of 15, 30, 45 or 60 days.");
    }
    if !(-1500..=1500).contains(&today_price_bps) {
        e.add("today_price_bps", "Enter today's price between -1500 and 1500 bps.");
    }
    e.into_result()?;
    if lapsed {
        // The job has not seen it yet: it ends now, as the job would have ended it.
        expire_one(state, tx, &old).await?;
    }
    refuse_second_live(tx, old.lead_id).await?;
    let inv = investor(tx, old.investor_id, "investor_id").await?;
    let price = model::relock_price_bps(old.base_price_bps, today_price_bps, inv.relock_fee_bps);
    let today = state.today();
    let last_day = model::last_day(today, period_days);
    let id = Uuid::new_v4();
    let row = InsertLock {
        id,
        lead_id: old.lead_id,
        los_lock_id: None,
        investor_id: old.investor_id,
        product: &old.product,
        rate_milli: old.rate_milli,
        base_price_bps: price,
        extension_bps: 0,
        loan_amount_cents: old.loan_amount_cents,
        locked_on: today,
        period_days,
        extended_days: 0,
        last_day,
        expires_at: model::expires_at(last_day, state.config.timezone),
        closing_on: old.closing_on,
        status: "locked",
        relock_of: Some(old.id),
        locked_by: Some(actor.id),
        origin: "loanfloor",
        at: now,
    };
    store::insert_lock(tx, &row).await.map_err(insert_error)?;
    let after = store::lock_in(tx, id).await?;
    let change = Change {
        days: Some(period_days),
        cost_bps: Some(price - old.base_price_bps),
        ..Change::new("relocked", "loanfloor", note, Some("lock.relocked"))
    };
    record(state, tx, Some(actor), Some(&old), &after, change).await?;
    Ok(after)
}

/// Floats a live lock down to the market's rate and price plus the investor's fee, when the market is better
/// by at least the investor's minimum (otherwise a validation error on `market_rate_milli`). The cost recorded
/// is the fee.
pub async fn float_down(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lock_id: Uuid,
    market_rate_milli: i32,
    market_price_bps: i32,
    note: &str,
) -> AppResult<LockRow> {
    let before = lock_for_change(tx, actor, lock_id, false).await?;
    let now = state.clock.now();
    require_live(&before, now, "floated down")?;
    if !(1..=20_000).contains(&market_rate_milli) {
        return Err(AppError::invalid("market_rate_milli", "Enter a rate between 0.001% and 20%."));
    }
    let inv = investor(tx, before.investor_id, "investor_id").await?;
    let terms = model::float_down(
        before.rate_milli,
        market_rate_milli,
        market_price_bps,
        inv.float_down_min_milli,
        inv.float_down_fee_bps,
    );
    let Some((rate, price)) = terms else {
        return Err(AppError::invalid(
            "market_rate_milli",
            format!(
                "{} allows a float-down only when the market is at least {} better than the locked {}.",
                inv.name,
                model::rate_label(inv.float_down_min_milli),
                model::rate_label(before.rate_milli)
            ),
        ));
    };
    if !(-1500..=1500).contains(&price) {
        return Err(AppError::invalid("market_price_bps", "The new price must be between -1500 and 1500 bps."));
    }
    let update = LockUpdate { rate_milli: rate, base_price_bps: price, ..same(&before, now) };
    store::update_lock(tx, lock_id, &update).await?;
    let after = store::lock_in(tx, lock_id).await?;
    let change = Change {
        cost_bps: Some(inv.float_down_fee_bps),
        ..Change::new("floated_down", "loanfloor", note, Some("lock.floated_down"))
    };
    record(state, tx, Some(actor), Some(&before), &after, change).await?;
    Ok(after)
}

/// The update that leaves `lock` as it is (a starting point for one field's change).
pub(crate) fn same(lock: &LockRow, at: DateTime<Utc>) -> LockUpdate<'static> {
    LockUpdate {
        rate_milli: lock.rate_milli,
        base_price_bps: lock.base_price_bps,
        extension_bps: lock.extension_bps,
        extended_days: lock.extended_days,
        last_day: lock.last_day,
        expires_at: lock.expires_at,
        closing_on: lock.closing_on,
        status: "locked",
        ended_at: lock.ended_at,
        at,
    }
}

/// Cancels a live lock (the loan withdrew, or moves to another investor).
pub async fn cancel(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    lock_id: Uuid,
    note: &str,
) -> AppResult<LockRow> {
    let before = lock_for_change(tx, actor, lock_id, false).await?;
    let now = state.clock.now();
    if before.status != "locked" {
        return Err(AppError::conflict(format!("This lock is {}: only a live lock can be cancelled.", before.status)));
    }
    let update = LockUpdate { status: "cancelled", ended_at: Some(now), ..same(&before, now) };
    store::update_lock(tx, lock_id, &update).await?;
    let after = store::lock_in(tx, lock_id).await?;
    record(
        state,
        tx,
        Some(actor),
        Some(&before),
        &after,
        Change::new("cancelled", "loanfloor", note, Some("lock.cancelled")),
    )
    .await?;
    Ok(after)
}

/// Opens a change to a lock the caller has found visible (`visible_lock`: 404 outside the scope, before
/// anything else is said about it), for the API and the pages alike: when the caller read it at `version`, it must
/// still be at that version (409: someone changed it meanwhile). The lock stays locked for the change until the
/// transaction ends.
pub async fn begin_change(
    state: &AppState,
    id: Uuid,
    version: Option<i32>,
) -> AppResult<Transaction<'static, Postgres>> {
    let mut tx = state.db.begin().await?;
    let lock = store::lock_for_update(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    if version.is_some_and(|v| v != lock.version) {
        return Err(AppError::conflict(format!(
            "This lock changed since you read it (version {} now); read it again and retry.",
            lock.version
        )));
    }
    Ok(tx)
}

/// A lock the user may see (its loan through the one lead scope), or 404.
pub async fn visible_lock(db: &PgPool, user: &CurrentUser, lock_id: Uuid) -> AppResult<LockRow> {
    let lock = store::lock_by_id(db, lock_id).await?.ok_or(AppError::NotFound)?;
    crate::leads::store::visible_lead(db, user, lock.lead_id).await?;
    Ok(lock)
}

/// A loan's locks, newest first (the caller has checked the lead is visible).
pub async fn locks_for_lead(db: &PgPool, lead_id: Uuid) -> AppResult<Vec<LockRow>> {
    Ok(store::locks_for_lead(db, lead_id).await?)
}

/// A lock's history, oldest first.
pub async fn history(db: &PgPool, lock_id: Uuid) -> AppResult<Vec<LockEventRow>> {
    Ok(store::history(db, lock_id).await?)
}

/// The investors (or the active ones) with their extension schedules.
pub async fn investors(db: &PgPool, active_only: bool) -> AppResult<Vec<InvestorRow>> {
    Ok(store::investors(db, active_only).await?)
}

/// Ends a live lock whose expiry has come, in the caller's transaction (the job, or a relock that got there
/// first). The lock must be locked for update by the caller.
pub async fn expire_one(state: &AppState, tx: &mut Transaction<'_, Postgres>, before: &LockRow) -> AppResult<LockRow> {
    let now = state.clock.now();
    let update = LockUpdate { status: "expired", ended_at: Some(before.expires_at), ..same(before, now) };
    store::update_lock(tx, before.id, &update).await?;
    let after = store::lock_in(tx, before.id).await?;
    record(state, tx, None, Some(before), &after, Change::new("expired", "job", "", Some("lock.expired"))).await?;
    if let Some(lo) = store::lead_owner(tx, after.lead_id).await?.and_then(|o| o.assigned_lo_id) {
        let title = format!("Rate lock expired: {}", loan_label(&after));
        crate::events::notify(tx, lo, "locks.expired", &title, &format!("/leads/{}", after.lead_id)).await?;
    }
    Ok(after)
}

pub(crate) fn loan_label(lock: &LockRow) -> String {
    let loan = lock.loan_number.clone().unwrap_or_else(|| "a loan without a loan number".into());
    format!("{loan} ({}, {} {})", lock.investor_name, lock.product, model::rate_label(lock.rate_milli))
}
