//! CSV imports from the LOS: closed loans into the portfolio, and loan status updates onto leads.
//!
//! Both read the file as a stream (csv crate, UTF-8 with or without BOM), report every bad row with its line
//! number, and are all-or-nothing unless `skip_bad` is set.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::model::{PAYOFF_REASONS, PRODUCTS, parse_money_cents, parse_rate_milli};
use super::store::{self, NewLoan};
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::imports::{CsvRows, Unreadable};
use crate::state::AppState;

/// The documented loan import columns (required ones first).
pub const LOAN_COLUMNS_REQUIRED: [&str; 9] = [
    "loan_number",
    "borrower_name",
    "property_state",
    "loan_amount",
    "note_rate",
    "term_months",
    "product",
    "closed_on",
    "lo_email",
];
pub const LOAN_COLUMNS_OPTIONAL: [&str; 9] = [
    "co_borrower_name",
    "email",
    "phone",
    "property_zip",
    "arm_reset_on",
    "original_value",
    "paid_off_on",
    "payoff_reason",
    "opted_out",
];
/// The LOS status columns: `status` and `at`, and the lead by `loan_number` or by `lead_id` (or both: the LOS
/// then records its loan number on the lead).
pub const LOS_COLUMNS: [&str; 4] = ["loan_number", "lead_id", "status", "at"];
const LOS_REQUIRED: [&str; 2] = ["status", "at"];
/// The LOS statuses that map onto pipeline stages, in order.
pub const LOS_STATUSES: [&str; 5] = ["application", "processing", "underwriting", "clear_to_close", "funded"];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<RowError>,
    /// False when nothing was saved (all-or-nothing and some rows were bad).
    pub committed: bool,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let mut s = if self.committed {
            format!("{} added, {} updated, {} unchanged", self.added, self.updated, self.unchanged)
        } else {
            format!("Nothing imported: {} bad rows (fix them or import with skip-bad rows)", self.errors.len())
        };
        if self.committed && !self.errors.is_empty() {
            s.push_str(&format!(", {} bad rows skipped", self.errors.len()));
        }
        s
    }
}

fn bom_free(s: &str) -> String {
    s.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()
}

/// Opens an LOS file (blank rows passed over) and maps its header: column name → index. A header that cannot
/// be read or lacks a required column is reported on line 1, and there is nothing to import.
fn open_file<R: Read>(
    input: R,
    required: &[&str],
    report: &mut ImportReport,
) -> Option<(CsvRows<R>, HashMap<String, usize>)> {
    let rows = match CsvRows::open(input) {
        Ok(rows) => rows.skipping_blank_rows(),
        Err(e) => {
            report.errors.push(RowError { line: 1, message: format!("cannot read the header row: {e}") });
            return None;
        }
    };
    let map: HashMap<String, usize> = rows.headers().iter().enumerate().map(|(i, h)| (bom_free(h), i)).collect();
    let missing: Vec<&str> = required.iter().copied().filter(|c| !map.contains_key(*c)).collect();
    if !missing.is_empty() {
        report.errors.push(RowError { line: 1, message: format!("missing columns: {}", missing.join(", ")) });
        return None;
    }
    Some((rows, map))
}

/// An unreadable row, as these imports report it.
fn unreadable(u: Unreadable) -> RowError {
    RowError { line: u.line, message: u.error.to_string() }
}

struct Row<'a> {
    rec: &'a csv::StringRecord,
    map: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn get(&self, col: &str) -> Option<String> {
        let i = *self.map.get(col)?;
        self.rec.get(i).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(s, "%m/%d/%Y")).ok()
}

/// Validates one loan row; LO email lookups are cached per import.
async fn parse_loan_row(
    tx: &mut Transaction<'_, Postgres>,
    row: &Row<'_>,
    officers: &mut HashMap<String, Option<(Uuid, Option<Uuid>)>>,
) -> sqlx::Result<Result<NewLoan, Vec<String>>> {
    let mut errs = Vec::new();
    let loan_number = row.get("loan_number").unwrap_or_default();
    if loan_number.is_empty() || loan_number.len() > 64 {
        errs.push("loan_number: required (at most 64 characters)".to_string());
    }
    let borrower_name = row.get("borrower_name").unwrap_or_default();
    if borrower_name.is_empty() {
        errs.push("borrower_name: required".to_string());
    }
    let state = row.get("property_state").map(|s| s.to_ascii_uppercase());
    if !state.as_deref().is_some_and(crate::leads::model::is_us_state) {
        errs.push("property_state: must be a two-letter US state".to_string());
    }
    let amount = row.get("loan_amount").and_then(|s| parse_money_cents(&s)).filter(|c| *c > 0);
    if amount.is_none() {
        errs.push("loan_amount: must be a dollar amount like 300000.00".to_string());
    }
    let rate = row.get("note_rate").and_then(|s| parse_rate_milli(&s));
    if rate.is_none() {
        errs.push("note_rate: must be a percent like 6.875".to_string());
    }
    let term = row.get("term_months").and_then(|s| s.parse::<i32>().ok()).filter(|t| (12..=480).contains(t));
    if term.is_none() {
        errs.push("term_months: must be a whole number of months between 12 and 480".to_string());
    }
    let product = row.get("product").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    if !PRODUCTS.contains(&product.as_str()) {
        errs.push(format!("product: must be one of {}", PRODUCTS.join(", ")));
    }
    let arm_reset_on = optional(row, "arm_reset_on", parse_date, "must be a date (YYYY-MM-DD)", &mut errs);
    if product == "arm" && arm_reset_on.is_none() && row.get("arm_reset_on").is_none() {
        errs.push("arm_reset_on: required for an ARM".to_string());
    }
    let closed_on = row.get("closed_on").and_then(|s| parse_date(&s));
    if closed_on.is_none() {
        errs.push("closed_on: must be a date (YYYY-MM-DD)".to_string());
    }
    let money = |s: &str| parse_money_cents(s).filter(|c| *c > 0);
    let original_value = optional(row, "original_value", money, "must be a dollar amount", &mut errs);
    let paid_off_on = optional(row, "paid_off_on", parse_date, "must be a date (YYYY-MM-DD)", &mut errs);
    let payoff_reason = row.get("payoff_reason").map(|s| s.to_ascii_lowercase());
    if let Some(r) = &payoff_reason {
        if !PAYOFF_REASONS.contains(&r.as_str()) {
            errs.push(format!("payoff_reason: must be one of {}", PAYOFF_REASONS.join(", ")));
        }
    }
    let opted_out = match row.get("opted_out").map(|s| s.to_ascii_lowercase()) {
        None => false,
        Some(s) if ["yes", "y", "true", "1"].contains(&s.as_str()) => true,
        Some(s) if ["no", "n", "false", "0"].contains(&s.as_str()) => false,
        Some(_) => {
            errs.push("opted_out: must be yes or no".to_string());
            false
        }
    };
    let email = row.get("email");
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        errs.push("email: not an email address".to_string());
    }
    let lo = loan_officer(tx, row, officers, &mut errs).await?;
    if !errs.is_empty() {
        return Ok(Err(errs));
    }
    let (lo_id, team_id) = lo.unwrap_or_default();
    Ok(Ok(NewLoan {
        loan_number,
        borrower_name,
        co_borrower_name: row.get("co_borrower_name"),
        email,
        phone: row.get("phone"),
        property_state: state,
        property_zip: row.get("property_zip"),
        loan_amount_cents: amount,
        note_rate_milli: rate,
        term_months: term.unwrap_or(360),
        product,
        arm_reset_on,
        closed_on: closed_on.unwrap_or_default(),
        lo_id: Some(lo_id),
        team_id,
        original_value_cents: original_value,
        paid_off_on,
        payoff_reason,
        opted_out,
    }))
}

/// An optional column: absent is None; present, it must parse, or the row gets "`field`: `message`".
fn optional<T>(
    row: &Row<'_>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    message: &str,
    errs: &mut Vec<String>,
) -> Option<T> {
    let value = row.get(field)?;
    let parsed = parse(&value);
    if parsed.is_none() {
        errs.push(format!("{field}: {message}"));
    }
    parsed
}

/// The loan's LO by the `lo_email` column (looked up once per file): (id, team), or the row's error.
async fn loan_officer(
    tx: &mut Transaction<'_, Postgres>,
    row: &Row<'_>,
    officers: &mut HashMap<String, Option<(Uuid, Option<Uuid>)>>,
    errs: &mut Vec<String>,
) -> sqlx::Result<Option<(Uuid, Option<Uuid>)>> {
    let lo_email = row.get("lo_email").unwrap_or_default().to_ascii_lowercase();
    if lo_email.is_empty() {
        errs.push("lo_email: required".to_string());
        return Ok(None);
    }
    if !officers.contains_key(&lo_email) {
        let found = store::user_by_email(tx, &lo_email).await?.map(|(id, team, _)| (id, team));
        officers.insert(lo_email.clone(), found);
    }
    let found = officers.get(&lo_email).copied().flatten();
    if found.is_none() {
        errs.push(format!("lo_email: no user with email {lo_email}"));
    }
    Ok(found)
}

/// Imports closed loans (added, or updated by loan number).
pub async fn import_loans<R: Read + Send>(
    state: &AppState,
    input: R,
    skip_bad: bool,
    actor: &CurrentUser,
) -> AppResult<ImportReport> {
    let mut report = ImportReport::default();
    let Some((mut rows, map)) = open_file(input, &LOAN_COLUMNS_REQUIRED, &mut report) else {
        return Ok(report);
    };
    let mut tx = state.db.begin().await?;
    let mut officers = HashMap::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    while let Some((line, rec)) = rows.next_row(|u| report.errors.push(unreadable(u))) {
        let row = Row { rec, map: &map };
        match parse_loan_row(&mut tx, &row, &mut officers).await? {
            Err(msgs) => report.errors.push(RowError { line, message: msgs.join("; ") }),
            Ok(loan) => {
                if let Some(first) = seen.insert(loan.loan_number.clone(), line) {
                    report.errors.push(RowError {
                        line,
                        message: format!("loan_number: {} already appears on line {first}", loan.loan_number),
                    });
                    continue;
                }
                if !report.errors.is_empty() && !skip_bad {
                    continue; // keep validating to report every bad row; nothing will be saved
                }
                let (_, inserted) = store::upsert_loan(&mut tx, &loan).await?;
                if inserted {
                    report.added += 1;
                } else {
                    report.updated += 1;
                }
            }
        }
    }
    if !report.errors.is_empty() && !skip_bad {
        tx.rollback().await?;
        report.added = 0;
        report.updated = 0;
        return Ok(report);
    }
    Entry::new(Some(actor), "portfolio.import", "portfolio_loans", "")
        .after(serde_json::json!({ "added": report.added, "updated": report.updated, "bad_rows": report.errors.len() }))
        .write(&mut *tx)
        .await?;
    super::ensure_rate_watch_scheduled(state, &mut tx, state.clock.now()).await?;
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// The market-rate import columns.
pub const RATE_COLUMNS: [&str; 3] = ["product", "rate", "effective_on"];

/// Imports market rates (`product,rate,effective_on`); all or nothing. A product and day already entered is
/// replaced.
pub async fn import_market_rates<R: Read + Send>(
    state: &AppState,
    input: R,
    actor: &CurrentUser,
) -> AppResult<ImportReport> {
    let mut report = ImportReport::default();
    let Some((mut rows, map)) = open_file(input, &RATE_COLUMNS, &mut report) else {
        return Ok(report);
    };
    let mut tx = state.db.begin().await?;
    while let Some((line, rec)) = rows.next_row(|u| report.errors.push(unreadable(u))) {
        let row = Row { rec, map: &map };
        let mut errs = Vec::new();
        let product = row.get("product").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        if !PRODUCTS.contains(&product.as_str()) {
            errs.push(format!("product: must be one of {}", PRODUCTS.join(", ")));
        }
        let rate = row.get("rate").and_then(|s| parse_rate_milli(&s));
        if rate.is_none() {
            errs.push("rate: must be a percent like 6.125".to_string());
        }
        let day = row.get("effective_on").and_then(|s| parse_date(&s));
        if day.is_none() {
            errs.push("effective_on: must be a date (YYYY-MM-DD)".to_string());
        }
        match (rate, day) {
            (Some(rate), Some(day)) if errs.is_empty() => {
                if report.errors.is_empty() {
                    store::set_market_rate(&mut tx, &product, rate, day, actor.id).await?;
                    report.added += 1;
                }
            }
            _ => report.errors.push(RowError { line, message: errs.join("; ") }),
        }
    }
    if !report.errors.is_empty() {
        tx.rollback().await?;
        report.added = 0;
        return Ok(report);
    }
    Entry::new(Some(actor), "market_rate.imported", "market_rate", "")
        .after(serde_json::json!({ "rates": report.added }))
        .write(&mut *tx)
        .await?;
    super::ensure_rate_watch_scheduled(state, &mut tx, state.clock.now()).await?;
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// What an LOS status update did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LosOutcome {
    pub lead_id: Uuid,
    /// The lead's loan number after the update (recorded by it when the lead was found by `lead_id`).
    pub loan_number: Option<String>,
    pub from_stage: String,
    pub stage: String,
    pub changed: bool,
}

/// How an LOS update names its lead: by loan number, or by the lead's own id (the lender's lead id, which the
/// LOS has from the `lead.created` webhook or the API). With both, the lead is the one with the id and the
/// number is recorded on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LosLead<'a> {
    pub loan_number: Option<&'a str>,
    pub lead_id: Option<Uuid>,
}

/// Parses `at`: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or a date (midnight in the organisation's time zone).
pub fn parse_at(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return tz.from_local_datetime(&t).earliest().map(|t| t.with_timezone(&Utc));
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest().map(|t| t.with_timezone(&Utc))
}

/// The lead an LOS update names, locked: by id (then a given loan number is recorded on it, audited, through
/// `leads::store::record_loan_number`), or by loan number.
async fn los_lead(
    tx: &mut Transaction<'_, Postgres>,
    which: LosLead<'_>,
    actor: &CurrentUser,
    now: DateTime<Utc>,
) -> AppResult<(Uuid, Option<String>)> {
    let number = which.loan_number.map(str::trim).filter(|n| !n.is_empty());
    if let Some(id) = which.lead_id {
        let found = sqlx::query_scalar!("SELECT loan_number FROM leads WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| AppError::invalid("lead_id", "no lead has this id"))?;
        return match number {
            Some(n) => Ok((id, Some(crate::leads::store::record_loan_number(tx, actor, id, n, now).await?))),
            None => Ok((id, found)),
        };
    }
    let Some(n) = number else {
        return Err(AppError::invalid("loan_number", "give the lead's loan_number or its lead_id"));
    };
    let id = sqlx::query_scalar!("SELECT id FROM leads WHERE loan_number = $1 FOR UPDATE", n)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::invalid("loan_number", "no lead has this loan number"))?;
    Ok((id, Some(n.to_string())))
}

/// Moves the lead an LOS update names ([`LosLead`]) to the LOS `status`, inside the caller's transaction.
///
/// Idempotent and forward-only: a status at or behind the lead's current stage changes nothing, so
/// replaying an LOS file (or an older row after a newer one) is harmless. A lead that is lost or in nurture
/// moves, because the LOS says the loan is alive. Reaching `funded` adds the loan to the portfolio.
pub async fn apply_los_update(
    tx: &mut Transaction<'_, Postgres>,
    which: LosLead<'_>,
    status: &str,
    at: DateTime<Utc>,
    actor: &CurrentUser,
    now: DateTime<Utc>,
) -> AppResult<LosOutcome> {
    if !LOS_STATUSES.contains(&status) {
        return Err(AppError::invalid("status", format!("must be one of {}", LOS_STATUSES.join(", "))));
    }
    let (lead_id, loan_number) = los_lead(tx, which, actor, now).await?;
    let lead = sqlx::query!(
        r#"SELECT l.id, l.stage, l.pipeline_id, l.assigned_lo_id, s.position, s.kind
           FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
           WHERE l.id = $1 FOR UPDATE OF l"#,
        lead_id
    )
    .fetch_one(&mut **tx)
    .await?;
    let target = sqlx::query_scalar!(
        "SELECT position FROM stages WHERE pipeline_id = $1 AND key = $2",
        lead.pipeline_id,
        status
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| AppError::invalid("status", "this lead's pipeline has no such stage"))?;
    let reopen = matches!(lead.kind.as_str(), "lost" | "nurture");
    let moves = lead.stage != status && (reopen || target > lead.position);
    if !moves {
        let stage = lead.stage.clone();
        return Ok(LosOutcome { lead_id: lead.id, loan_number, from_stage: lead.stage, stage, changed: false });
    }
    let change = crate::leads::lifecycle::StageChange {
        lead_id: lead.id,
        from: Some(&lead.stage),
        to: status,
        lo_id: lead.assigned_lo_id,
        lost_reason: None,
        origin: "los",
        at,
        by: None,
        note: serde_json::json!({ "loan_number": loan_number }),
    };
    crate::leads::lifecycle::change_stage(tx, Some(actor), change, now).await?;
    Ok(LosOutcome { lead_id: lead.id, loan_number, from_stage: lead.stage, stage: status.to_string(), changed: true })
}

/// Applies an LOS status file.
pub async fn import_los_status<R: Read + Send>(
    state: &AppState,
    input: R,
    skip_bad: bool,
    actor: &CurrentUser,
) -> AppResult<ImportReport> {
    let mut report = ImportReport::default();
    let Some((mut rows, map)) = open_file(input, &LOS_REQUIRED, &mut report) else {
        return Ok(report);
    };
    if !map.contains_key("loan_number") && !map.contains_key("lead_id") {
        report.errors.push(RowError { line: 1, message: "missing columns: loan_number or lead_id".into() });
        return Ok(report);
    }
    let tz = state.config.timezone;
    let mut tx = state.db.begin().await?;
    while let Some((line, rec)) = rows.next_row(|u| report.errors.push(unreadable(u))) {
        let row = Row { rec, map: &map };
        let loan_number = row.get("loan_number");
        let Ok(lead_id) = row.get("lead_id").map(|s| s.parse::<Uuid>()).transpose() else {
            report.errors.push(RowError { line, message: "lead_id: not a lead id (a UUID)".into() });
            continue;
        };
        let status = row.get("status").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let Some(at) = row.get("at").and_then(|s| parse_at(&s, tz)) else {
            report.errors.push(RowError { line, message: "at: must be a date or date and time".into() });
            continue;
        };
        if !report.errors.is_empty() && !skip_bad {
            // Still check the status so every bad row is reported.
            if !LOS_STATUSES.contains(&status.as_str()) {
                report
                    .errors
                    .push(RowError { line, message: format!("status: must be one of {}", LOS_STATUSES.join(", ")) });
            }
            continue;
        }
        // A savepoint per row so a bad row does not poison the transaction.
        let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
        let which = LosLead { loan_number: loan_number.as_deref(), lead_id };
        match apply_los_update(&mut sp, which, &status, at, actor, state.clock.now()).await {
            Ok(o) => {
                sp.commit().await?;
                if o.changed {
                    report.updated += 1;
                } else {
                    report.unchanged += 1;
                }
            }
            Err(AppError::Validation(fe)) => {
                sp.rollback().await?;
                let msg = fe.0.iter().map(|(f, m)| format!("{f}: {}", m.join(", "))).collect::<Vec<_>>().join("; ");
                report.errors.push(RowError { line, message: msg });
            }
            Err(AppError::Taken { field, message, .. }) => {
                sp.rollback().await?;
                report.errors.push(RowError { line, message: format!("{field}: {message}") });
            }
            Err(e) => return Err(e),
        }
    }
    if !report.errors.is_empty() && !skip_bad {
        tx.rollback().await?;
        report.updated = 0;
        report.unchanged = 0;
        return Ok(report);
    }
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}
