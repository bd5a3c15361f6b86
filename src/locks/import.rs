//! Locks from the LOS: `POST /api/v1/los/locks` (a JSON array of rows) and `loanfloor import los-locks FILE`
//! (the same rows as CSV). A row names its loan (`loan_number`, or `lead_id`) and the LOS's `lock_id`; with
//! them it is idempotent: the same row again changes nothing, and a changed row (a new extension, status,
//! price, ...) updates the lock and records each change as history with origin `los`.
//!
//! Bad rows are reported by line (CSV: the file's line, the header being line 1; JSON: the row's index in the
//! array, from 0) with the reason. As the LOS status import does: all rows or none by default; with
//! `--skip-bad` (`?skip_bad=true`) the good rows commit and the bad ones are listed.

use std::io::Read;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model;
use super::model::parse_rate_milli;
use super::service::{Change, insert_error, record, second_live};
use super::store::{self, InsertLock, LockRow};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::imports::{Columns, CsvRows, RowError};
use crate::state::AppState;

pub const REQUIRED: [&str; 9] =
    ["lock_id", "investor", "product", "rate", "price_bps", "loan_amount", "locked_on", "period_days", "status"];
pub const OPTIONAL: [&str; 5] = ["loan_number", "lead_id", "extended_days", "extension_cost_bps", "closing_on"];
pub const STATUSES: [&str; 4] = ["locked", "expired", "cancelled", "closed"];

/// A text value that may come as a JSON number too (`6.875`, `412500`).
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format!("expected text or a number, got {other}"))),
    })
}

/// A field of an LOS row as the contract documents it: text, a number, or null.
fn text_or_number_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Null]))
        .description(Some("Text or a number, as the CSV column."))
        .build()
}

/// One LOS lock row, as the CSV's columns (a value may be text or a number).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LosLockInput {
    /// The loan by its loan number (or give `lead_id`).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub loan_number: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub lead_id: Option<String>,
    /// The LOS's id for the lock.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub lock_id: Option<String>,
    /// The investor's name as Loanfloor knows it.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub investor: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub product: Option<String>,
    /// A percent: `6.875`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub rate: Option<String>,
    /// The price at lock, bps (negative: a credit).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub price_bps: Option<String>,
    /// Dollars: `412500` or `412,500.00`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub loan_amount: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub locked_on: Option<String>,
    /// 15, 30, 45 or 60.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub period_days: Option<String>,
    /// Days of extension so far (default 0).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub extended_days: Option<String>,
    /// What the extensions so far cost, bps (default 0).
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub extension_cost_bps: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub closing_on: Option<String>,
    /// `locked`, `expired`, `cancelled` or `closed`.
    #[serde(default, deserialize_with = "text_or_number")]
    #[schema(schema_with = text_or_number_schema)]
    pub status: Option<String>,
}

/// The outcome of an LOS lock import.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct LockImportReport {
    pub rows: u64,
    pub created: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub skip_bad: bool,
    /// Whether anything was saved (false: all or nothing, and some rows were bad).
    pub committed: bool,
    /// The bad rows: `line` is the CSV line (header = 1) or the JSON array index (from 0).
    pub errors: Vec<RowError>,
}

impl LockImportReport {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} rows read: {} locks created, {} changed, {} unchanged",
            self.rows, self.created, self.changed, self.unchanged
        );
        if !self.errors.is_empty() {
            s.push_str(&format!(", {} bad rows", self.errors.len()));
            if !self.committed {
                s.push_str(" (nothing imported: all or nothing; fix the file or use --skip-bad)");
            }
        }
        for e in &self.errors {
            s.push_str(&format!("\nline {}: {}", e.line, e.message));
        }
        s
    }
}

/// A checked row.
#[derive(Debug, Clone)]
pub struct LosLock {
    pub loan_number: Option<String>,
    pub lead_id: Option<Uuid>,
    pub los_lock_id: String,
    pub investor: String,
    pub product: String,
    pub rate_milli: i32,
    pub price_bps: i32,
    pub loan_amount_cents: i64,
    pub locked_on: NaiveDate,
    pub period_days: i32,
    pub extended_days: i32,
    pub extension_bps: i32,
    pub closing_on: Option<NaiveDate>,
    pub status: String,
}

fn int(v: Option<&str>, field: &str, range: std::ops::RangeInclusive<i32>, errs: &mut Vec<String>) -> i32 {
    match v.map(|s| s.trim().parse::<i32>()) {
        None => 0,
        Some(Ok(n)) if range.contains(&n) => n,
        _ => {
            errs.push(format!("{field}: must be a whole number from {} to {}", range.start(), range.end()));
            0
        }
    }
}

fn date(v: Option<&str>, field: &str, errs: &mut Vec<String>) -> Option<NaiveDate> {
    let d = v.and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok());
    if v.is_some() && d.is_none() {
        errs.push(format!("{field}: must be a date (YYYY-MM-DD)"));
    }
    d
}

/// Checks one row; the reasons it is bad, each starting with its column.
pub fn check_row(r: &LosLockInput) -> Result<LosLock, Vec<String>> {
    let mut errs = Vec::new();
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let need = |v: &Option<String>, field: &str, errs: &mut Vec<String>| {
        let t = text(v);
        if t.is_none() {
            errs.push(format!("{field}: required"));
        }
        t.unwrap_or_default()
    };
    let loan_number = text(&r.loan_number);
    let lead_id = match text(&r.lead_id).map(|s| s.parse::<Uuid>()) {
        Some(Err(_)) => {
            errs.push("lead_id: not a lead id (a UUID)".into());
            None
        }
        other => other.and_then(Result::ok),
    };
    if loan_number.is_none() && lead_id.is_none() {
        errs.push("loan_number: give the loan number or the lead_id".into());
    }
    let los_lock_id = need(&r.lock_id, "lock_id", &mut errs);
    if los_lock_id.chars().count() > 64 {
        errs.push("lock_id: up to 64 characters".into());
    }
    let investor = need(&r.investor, "investor", &mut errs);
    let product = need(&r.product, "product", &mut errs);
    if product.chars().count() > 80 {
        errs.push("product: up to 80 characters".into());
    }
    let rate_milli = text(&r.rate).and_then(|s| parse_rate_milli(&s)).unwrap_or_else(|| {
        errs.push("rate: must be a percent like 6.875".into());
        0
    });
    let price = text(&r.price_bps);
    if price.is_none() {
        errs.push("price_bps: required".into());
    }
    let price_bps = int(price.as_deref(), "price_bps", -1500..=1500, &mut errs);
    let loan_amount_cents = match text(&r.loan_amount).map(|s| crate::web::money::parse_amount(&s)) {
        Some(Ok(c)) if c > 0 => c,
        Some(Err(m)) => {
            errs.push(format!("loan_amount: {m}"));
            0
        }
        _ => {
            errs.push("loan_amount: required, in dollars".into());
            0
        }
    };
    let locked_on = date(text(&r.locked_on).as_deref(), "locked_on", &mut errs);
    if text(&r.locked_on).is_none() {
        errs.push("locked_on: required".into());
    }
    let period_days = int(text(&r.period_days).as_deref(), "period_days", 1..=60, &mut errs);
    if !model::is_period(period_days) {
        errs.push("period_days: must be 15, 30, 45 or 60".into());
    }
    let extended_days = int(text(&r.extended_days).as_deref(), "extended_days", 0..=360, &mut errs);
    let extension_bps = int(text(&r.extension_cost_bps).as_deref(), "extension_cost_bps", 0..=3000, &mut errs);
    let closing_on = date(text(&r.closing_on).as_deref(), "closing_on", &mut errs);
    let status = text(&r.status).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    if !STATUSES.contains(&status.as_str()) {
        errs.push(format!("status: must be one of {}", STATUSES.join(", ")));
    }
    match locked_on {
        Some(locked_on) if errs.is_empty() => Ok(LosLock {
            loan_number,
            lead_id,
            los_lock_id,
            investor,
            product,
            rate_milli,
            price_bps,
            loan_amount_cents,
            locked_on,
            period_days,
            extended_days,
            extension_bps,
            closing_on,
            status,
        }),
        _ => Err(errs),
    }
}

/// What applying a row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Changed,
    Unchanged,
}

/// The loan a row names (locked for the change): by lead id (its loan number must then agree, when both are
/// given), or by loan number.
async fn find_lead(tx: &mut Transaction<'_, Postgres>, row: &LosLock) -> AppResult<Uuid> {
    if let Some(id) = row.lead_id {
        let number = sqlx::query_scalar!("SELECT loan_number FROM leads WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| AppError::invalid("lead_id", "no lead has this id"))?;
        if let (Some(given), Some(has)) = (&row.loan_number, &number) {
            if given != has {
                return Err(AppError::invalid("loan_number", format!("the lead with this id has loan number {has}")));
            }
        }
        return Ok(id);
    }
    let number = row.loan_number.as_deref().unwrap_or_default();
    sqlx::query_scalar!("SELECT id FROM leads WHERE loan_number = $1 FOR UPDATE", number)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::invalid("loan_number", "no lead has this loan number"))
}

/// Applies one checked row in the caller's transaction, as `actor` (an admin or the LOS's intake token).
pub async fn apply_row(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    row: &LosLock,
) -> AppResult<Applied> {
    let lead_id = find_lead(tx, row).await?;
    let investor_id = store::investor_by_name(tx, &row.investor)
        .await?
        .ok_or_else(|| AppError::invalid("investor", format!("no investor is named {:?}", row.investor)))?;
    let existing = sqlx::query_scalar!(
        "SELECT id FROM rate_locks WHERE lead_id = $1 AND los_lock_id = $2 FOR UPDATE",
        lead_id,
        row.los_lock_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    let last_day = model::last_day(row.locked_on, row.period_days + row.extended_days);
    let values = InsertLock {
        id: existing.unwrap_or_else(Uuid::new_v4),
        lead_id,
        los_lock_id: Some(&row.los_lock_id),
        investor_id,
        product: &row.product,
        rate_milli: row.rate_milli,
        base_price_bps: row.price_bps,
        extension_bps: row.extension_bps,
        loan_amount_cents: row.loan_amount_cents,
        locked_on: row.locked_on,
        period_days: row.period_days,
        extended_days: row.extended_days,
        last_day,
        expires_at: model::expires_at(last_day, state.config.timezone),
        closing_on: row.closing_on,
        status: &row.status,
        relock_of: None,
        locked_by: None,
        origin: "los",
        at: state.clock.now(),
    };
    match existing {
        None => create(state, tx, actor, &values).await.map(|_| Applied::Created),
        Some(id) => {
            let before = store::lock_for_update(tx, id).await?.ok_or(AppError::NotFound)?;
            change(state, tx, actor, &before, &values).await
        }
    }
}

async fn create(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    values: &InsertLock<'_>,
) -> AppResult<LockRow> {
    if values.status == "locked" {
        let live =
            sqlx::query_scalar!("SELECT id FROM rate_locks WHERE lead_id = $1 AND status = 'locked'", values.lead_id)
                .fetch_optional(&mut **tx)
                .await?;
        if live.is_some() {
            return Err(second_live());
        }
    }
    store::insert_lock(tx, values).await.map_err(insert_error)?;
    let after = store::lock_in(tx, values.id).await?;
    record(state, tx, Some(actor), None, &after, Change::new("locked", "los", "", Some("lock.created"))).await?;
    if values.extended_days > 0 {
        let change = Change {
            days: Some(values.extended_days),
            cost_bps: Some(values.extension_bps),
            ..Change::new("extended", "los", "extensions before the lock reached Loanfloor", None)
        };
        record(state, tx, Some(actor), None, &after, change).await?;
    }
    Ok(after)
}

/// Whether a row says anything new about the lock.
fn differs(before: &LockRow, v: &InsertLock<'_>) -> bool {
    (before.investor_id, before.product.as_str(), before.rate_milli, before.base_price_bps, before.extension_bps)
        != (v.investor_id, v.product, v.rate_milli, v.base_price_bps, v.extension_bps)
        || (before.loan_amount_cents, before.locked_on, before.period_days, before.extended_days)
            != (v.loan_amount_cents, v.locked_on, v.period_days, v.extended_days)
        || (before.closing_on, before.status.as_str()) != (v.closing_on, v.status)
}

async fn change(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    actor: &CurrentUser,
    before: &LockRow,
    v: &InsertLock<'_>,
) -> AppResult<Applied> {
    if !differs(before, v) {
        return Ok(Applied::Unchanged);
    }
    let ended_at = match (before.status.as_str(), v.status) {
        (_, "locked") => None,
        ("locked", _) => Some(v.at),
        _ => before.ended_at,
    };
    store::apply_los_row(tx, before.id, v, ended_at).await.map_err(insert_error)?;
    let after = store::lock_in(tx, before.id).await?;
    let mut recorded = false;
    if v.extended_days != before.extended_days {
        let change = Change {
            days: Some(v.extended_days - before.extended_days),
            cost_bps: Some(v.extension_bps - before.extension_bps),
            ..Change::new("extended", "los", "", Some("lock.extended"))
        };
        record(state, tx, Some(actor), Some(before), &after, change).await?;
        recorded = true;
    }
    if v.status != before.status {
        let (kind, webhook) = match v.status {
            "expired" => ("expired", Some("lock.expired")),
            "cancelled" => ("cancelled", Some("lock.cancelled")),
            "closed" => ("closed", None),
            _ => ("changed", None),
        };
        record(state, tx, Some(actor), Some(before), &after, Change::new(kind, "los", "", webhook)).await?;
        recorded = true;
    }
    if !recorded {
        record(state, tx, Some(actor), Some(before), &after, Change::new("changed", "los", "", None)).await?;
    }
    Ok(Applied::Changed)
}

/// Applies checked rows (`(line, row or its reasons)`), each in a savepoint, under the all-or-nothing rule.
pub async fn import_rows(
    state: &AppState,
    actor: &CurrentUser,
    rows: Vec<(u64, Result<LosLock, Vec<String>>)>,
    mut report: LockImportReport,
) -> AppResult<LockImportReport> {
    actor.require(&[Role::Admin, Role::Intake])?;
    let mut tx = state.db.begin().await?;
    for (line, row) in rows {
        report.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(reasons) => {
                report.errors.push(RowError { line, column: None, message: reasons.join("; ") });
                continue;
            }
        };
        let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
        match apply_row(state, &mut sp, actor, &row).await {
            Ok(applied) => {
                sp.commit().await?;
                match applied {
                    Applied::Created => report.created += 1,
                    Applied::Changed => report.changed += 1,
                    Applied::Unchanged => report.unchanged += 1,
                }
            }
            Err(e) => {
                sp.rollback().await?;
                report.errors.push(RowError { line, column: None, message: row_message(e)? });
            }
        }
    }
    if !report.errors.is_empty() && !report.skip_bad {
        tx.rollback().await?;
        (report.created, report.changed, report.unchanged) = (0, 0, 0);
        return Ok(report);
    }
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// A row's refusal as the report says it; anything but a refusal of the row is the import's error.
fn row_message(e: AppError) -> AppResult<String> {
    Ok(match e {
        AppError::Validation(fe) => {
            fe.0.iter().map(|(f, m)| format!("{f}: {}", m.join(", "))).collect::<Vec<_>>().join("; ")
        }
        AppError::Conflict(m) => m,
        AppError::Taken { field, message, .. } => format!("{field}: {message}"),
        other => return Err(other),
    })
}

/// The JSON rows of `POST /api/v1/los/locks` (bad rows by their index from 0).
pub async fn import_json(
    state: &AppState,
    actor: &CurrentUser,
    rows: &[LosLockInput],
    skip_bad: bool,
) -> AppResult<LockImportReport> {
    let checked = rows.iter().enumerate().map(|(i, r)| (i as u64, check_row(r))).collect();
    import_rows(state, actor, checked, LockImportReport { skip_bad, ..Default::default() }).await
}

/// A CSV file of rows (bad rows by their line, the header being line 1).
pub async fn import_csv<R: Read>(
    state: &AppState,
    actor: &CurrentUser,
    input: R,
    skip_bad: bool,
) -> AppResult<LockImportReport> {
    let mut report = LockImportReport { skip_bad, ..Default::default() };
    let file_error = |report: &mut LockImportReport, message: String| {
        report.errors.push(RowError { line: 1, column: None, message });
        std::mem::take(report)
    };
    let mut rows = match CsvRows::open(input) {
        Ok(rows) => rows.skipping_blank_rows(),
        Err(e) => return Ok(file_error(&mut report, format!("cannot read the header row: {e}"))),
    };
    let columns = match Columns::new(rows.headers(), &REQUIRED, &OPTIONAL) {
        Ok(c) => c,
        Err(m) => return Ok(file_error(&mut report, m)),
    };
    let mut checked = Vec::new();
    let mut unreadable = Vec::new();
    while let Some((line, rec)) = rows.next_row(|u| unreadable.push((u.line, Err(vec![u.message()])))) {
        let get = |c: &str| columns.opt(rec, c).map(str::to_string);
        let input = LosLockInput {
            loan_number: get("loan_number"),
            lead_id: get("lead_id"),
            lock_id: get("lock_id"),
            investor: get("investor"),
            product: get("product"),
            rate: get("rate"),
            price_bps: get("price_bps"),
            loan_amount: get("loan_amount"),
            locked_on: get("locked_on"),
            period_days: get("period_days"),
            extended_days: get("extended_days"),
            extension_cost_bps: get("extension_cost_bps"),
            closing_on: get("closing_on"),
            status: get("status"),
        };
        checked.push((line, check_row(&input)));
    }
    checked.extend(unreadable);
    checked.sort_by_key(|(line, _)| *line);
    import_rows(state, actor, checked, report).await
}

/// `loanfloor import los-locks FILE [--skip-bad] [--as EMAIL]`.
pub async fn cli(state: &AppState, args: &crate::config::ImportArgs) -> anyhow::Result<String> {
    let actor = crate::auth::store::cli_actor(&state.db, args.as_email.as_deref()).await?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let report = import_csv(state, &actor, std::io::BufReader::new(file), args.skip_bad)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !report.committed {
        anyhow::bail!("{}", report.summary());
    }
    Ok(report.summary())
}
