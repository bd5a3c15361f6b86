//! CSV imports of leads (browser upload and `loanfloor import leads FILE [--skip-bad]`).
//!
//! The file is read as a stream (the `csv` crate over a file, never whole in memory, on a blocking thread a
//! batch ahead of the writes), header-mapped by the API's field names, checked row by row with the same rules
//! as the API, and written in batches with
//! `UNNEST` arrays inside one transaction: all or nothing by default, or the good rows with `--skip-bad`.
//! Every bad row is reported with its line number and reason.
//!
//! Speed (100k rows in seconds, not minutes): the metric triggers are switched off for the import's
//! transaction and the imported leads' rollup contributions are added in one set-based step before it commits
//! (`metrics_add_new_leads`, migration 0013), instead of one recomputation and one lock per lead at commit.
//! Leads imported by anyone but an LO are routed after the commit by `leads.route_imported` jobs (one per
//! batch, enqueued in the same transaction), each lead through the same `routing::route_created_lead` as a lead
//! from the API, in its own short transaction: routing 100k leads inside the import would hold the rotation
//! lock for minutes and make the import take minutes.

use std::collections::HashMap;
use std::io::Read;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::lifecycle;
use super::model::{self, LeadDraft, LeadFields};
use super::store::NewLead;
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::config::ImportArgs;
use crate::error::{AppError, AppResult};
use crate::imports::CsvRows;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Leads,
    StageChanges,
    Activities,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: u64,
    pub imported: u64,
    /// Rows matching an open lead (phone or email): recorded on that lead, not created twice.
    pub duplicates: u64,
    /// Rows whose (source, external_id) was imported before: skipped.
    pub already_imported: u64,
    /// Imported leads handed to routing, which assigns them in the background after the commit.
    pub routing: u64,
    pub bad: Vec<BadRow>,
    /// False when bad rows made the all-or-nothing import roll back.
    pub committed: bool,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let mut s = if self.committed {
            format!(
                "{} rows read: {} imported, {} duplicates of open leads (noted on them), {} already imported, {} bad",
                self.rows,
                self.imported,
                self.duplicates,
                self.already_imported,
                self.bad.len()
            )
        } else {
            format!(
                "Nothing imported: {} of {} rows are bad (fix them, or import with --skip-bad to commit the rest)",
                self.bad.len(),
                self.rows
            )
        };
        if self.committed && self.routing > 0 {
            s.push_str(&format!("; {} new leads are being routed in the background", self.routing));
        }
        for b in self.bad.iter().take(1000) {
            s.push_str(&format!("\nline {}: {}", b.line, b.reason));
        }
        if self.bad.len() > 1000 {
            s.push_str(&format!("\n… and {} more", self.bad.len() - 1000));
        }
        s
    }

    /// The bad rows as a CSV report (line, reason).
    pub fn bad_rows_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["line", "reason"]);
        for b in &self.bad {
            let _ = w.write_record([b.line.to_string(), model::neutralize_cell(&b.reason).into_owned()]);
        }
        w.into_inner().unwrap_or_default()
    }
}

const BATCH: usize = 2000;

struct GoodRow {
    line: u64,
    fields: LeadFields,
}

/// One batch of the file, read and checked: the good rows to write and the bad ones to report.
#[derive(Default)]
struct Checked {
    rows: u64,
    good: Vec<GoodRow>,
    bad: Vec<BadRow>,
}

/// Reads and checks the rows (on a blocking thread), sending them on in batches of `BATCH` good rows. Stops
/// when the receiver is gone (the import failed).
fn check_rows<R: Read>(mut rows: CsvRows<R>, headers: &[String], batches: &tokio::sync::mpsc::Sender<Checked>) {
    let mut part = Checked::default();
    while let Some((line, record)) = rows.next_row(|u| {
        part.rows += 1;
        part.bad.push(BadRow { line: u.line, reason: format!("unreadable row: {}", u.error) });
    }) {
        part.rows += 1;
        if record.len() != headers.len() {
            part.bad.push(BadRow {
                line,
                reason: format!("has {} columns, the header has {}", record.len(), headers.len()),
            });
            continue;
        }
        let mut draft = LeadDraft::default();
        for (h, v) in headers.iter().zip(record.iter()) {
            draft.set(h, v.trim().to_string());
        }
        if draft.consent.as_ref().is_some_and(|c| c.channel.as_deref().unwrap_or("").is_empty()) {
            draft.consent = None;
        }
        match draft.validate() {
            Ok(fields) => part.good.push(GoodRow { line, fields }),
            Err(errors) => {
                let reason = errors
                    .0
                    .iter()
                    .map(|(f, msgs)| format!("{f}: {}", msgs.join("; ")))
                    .collect::<Vec<_>>()
                    .join(" | ");
                part.bad.push(BadRow { line, reason });
            }
        }
        if part.good.len() >= BATCH && batches.blocking_send(std::mem::take(&mut part)).is_err() {
            return;
        }
    }
    let _ = batches.blocking_send(part);
}

/// Imports leads from CSV `input` as `user`. An LO's imported leads are theirs; anyone else's go to routing.
pub async fn import_leads<R: Read + Send + 'static>(
    state: &AppState,
    user: &CurrentUser,
    input: R,
    skip_bad: bool,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let rows = match CsvRows::open(input) {
        Ok(rows) => rows,
        Err(e) => {
            report.bad.push(BadRow { line: 1, reason: format!("cannot read the header row: {e}") });
            return Ok(report);
        }
    };
    let headers: Vec<String> =
        rows.headers().iter().map(|c| c.trim_start_matches('\u{feff}').trim().to_lowercase()).collect();
    let unknown: Vec<&String> = headers.iter().filter(|h| !model::CSV_COLUMNS.contains(&h.as_str())).collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        report.bad.push(BadRow { line: 1, reason: format!("unknown column(s): {}", names.join(", ")) });
        return Ok(report);
    }
    let mut tx = state.db.begin().await?;
    // The imported leads' rollups are added in one step at the end (see the module comment).
    sqlx::query("SELECT set_config('loanfloor.metrics_triggers', 'off', true)").execute(&mut *tx).await?;
    let mut seen = Seen::default();
    // The file is read and checked on a blocking thread, a batch ahead of the writes: parsing and validating
    // the next batch overlaps with PostgreSQL writing this one (two cores, not one).
    let (batches, mut checked) = tokio::sync::mpsc::channel::<Checked>(2);
    let reading = tokio::task::spawn_blocking(move || check_rows(rows, &headers, &batches));
    while let Some(part) = checked.recv().await {
        report.rows += part.rows;
        report.bad.extend(part.bad);
        write_batch(state, &mut tx, user, part.good, &mut seen, &mut report).await?;
    }
    reading.await?;
    report.bad.sort_by_key(|b| b.line);
    if !report.bad.is_empty() && !skip_bad {
        tx.rollback().await?;
        report.imported = 0;
        report.duplicates = 0;
        report.already_imported = 0;
        report.routing = 0;
        report.committed = false;
        return Ok(report);
    }
    // Every fact of the new leads is written: their contributions go in before the commit, in one step (ids
    // sorted, so the index probes walk in order), so the rollups never disagree with the base tables. The
    // existing leads that got a duplicate note are recomputed the ordinary way, each under its lock.
    let mut created: Vec<Uuid> = seen.created;
    created.sort();
    sqlx::query("SELECT metrics_add_new_leads($1)").bind(&created).execute(&mut *tx).await?;
    let noted: Vec<Uuid> = seen.noted.into_iter().filter(|id| created.binary_search(id).is_err()).collect();
    if !noted.is_empty() {
        sqlx::query("SELECT set_config('loanfloor.metrics_triggers', 'on', true)").execute(&mut *tx).await?;
        sqlx::query("SELECT metrics_recompute_leads($1)").bind(&noted).execute(&mut *tx).await?;
    }
    Entry::new(Some(user), "import", "leads", "csv")
        .after(serde_json::json!({
            "rows": report.rows, "imported": report.imported, "duplicates": report.duplicates,
            "already_imported": report.already_imported, "bad": report.bad.len(), "skip_bad": skip_bad,
        }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// What this import has already written, to catch repeats within the file and to count it in the rollups.
#[derive(Default)]
struct Seen {
    external: HashMap<(String, String), u64>,
    phone: HashMap<String, Uuid>,
    email: HashMap<String, Uuid>,
    /// Loan numbers this import gave a lead, and the line that did.
    loan_numbers: HashMap<String, u64>,
    /// Leads this import created.
    created: Vec<Uuid>,
    /// Leads this import added a duplicate note to (created before it, or by it).
    noted: std::collections::HashSet<Uuid>,
}

/// What a batch's rows may refer to: the loan numbers this import already gave and those other leads hold,
/// the past clients and the active referral partners the batch names.
struct References<'a> {
    seen_loan_numbers: &'a HashMap<String, u64>,
    taken: &'a HashMap<String, Option<(Uuid, String)>>,
    referrers: &'a HashMap<String, Uuid>,
    partners: &'a std::collections::HashSet<Uuid>,
}

impl References<'_> {
    /// A row's references: the past client who referred it (its portfolio loan), or why the row is bad — a loan
    /// number belongs to one lead, a referrer must be a past client, a partner must be an active one.
    fn check(&self, f: &model::LeadFields) -> Result<Option<Uuid>, String> {
        if let Some(n) = &f.loan_number {
            match (self.seen_loan_numbers.get(n), self.taken.get(n)) {
                (Some(first), _) => return Err(format!("loan_number: the same loan number as line {first}")),
                (None, Some(Some((id, name)))) => {
                    return Err(format!("loan_number: already on the lead of {name} (/leads/{id})"));
                }
                (None, Some(None)) => return Err("loan_number: already on another lead".to_string()),
                (None, None) => {}
            }
        }
        if f.referral_partner_id.is_some_and(|p| !self.partners.contains(&p)) {
            return Err("referral_partner_id: no active referral partner has this id".to_string());
        }
        match &f.referred_by_loan_number {
            Some(n) => match self.referrers.get(n) {
                Some(id) => Ok(Some(*id)),
                None => Err("referred_by_loan_number: no past client has this loan number".to_string()),
            },
            None => Ok(None),
        }
    }
}

async fn write_batch(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    batch: Vec<GoodRow>,
    seen: &mut Seen,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let now = state.clock.now();
    let known = imported_keys(tx, &batch).await?;
    let phones: Vec<String> = batch.iter().filter_map(|r| r.fields.phone.clone()).collect();
    let emails: Vec<String> = batch.iter().filter_map(|r| r.fields.email.clone()).collect();
    let open_phone = open_leads_by(tx, BY_PHONE, phones).await?;
    let open_email = open_leads_by(tx, BY_EMAIL, emails).await?;
    let taken = loan_numbers_taken(tx, user, &batch).await?;
    let referrers = past_clients(tx, &batch).await?;
    let partners = if batch.iter().any(|r| r.fields.referral_partner_id.is_some()) {
        crate::leads::partners::active_ids(tx).await?
    } else {
        Default::default()
    };
    let mut new_rows: Vec<NewLead> = Vec::with_capacity(batch.len());
    let mut notes: Vec<(Uuid, String)> = Vec::new();
    let mut opt_outs: Vec<(Uuid, String)> = Vec::new();
    for r in &batch {
        let f = &r.fields;
        let refs = References {
            seen_loan_numbers: &seen.loan_numbers,
            taken: &taken,
            referrers: &referrers,
            partners: &partners,
        };
        let referred_by = match refs.check(f) {
            Ok(referred_by) => referred_by,
            Err(reason) => {
                report.bad.push(BadRow { line: r.line, reason });
                continue;
            }
        };
        if let Some(ext) = &f.external_id {
            let key = (f.source.clone(), ext.clone());
            // A repeat within the file is a bad row wherever it stands (the lookup below also finds the rows
            // that earlier batches of this import wrote); a key imported by an earlier import is skipped.
            if let Some(first) = seen.external.get(&key) {
                report.bad.push(BadRow {
                    line: r.line,
                    reason: format!("external_id: same source and external_id as line {first}"),
                });
                continue;
            }
            if known.contains(&key) {
                report.already_imported += 1;
                continue;
            }
            seen.external.insert(key, r.line);
        }
        let dup = f
            .phone
            .as_ref()
            .and_then(|p| open_phone.get(p).or_else(|| seen.phone.get(p)))
            .or_else(|| f.email.as_ref().and_then(|e| open_email.get(e).or_else(|| seen.email.get(e))))
            .copied();
        if let Some(existing) = dup {
            report.duplicates += 1;
            seen.noted.insert(existing);
            // The borrower's opt-out holds whichever record the row lands on.
            opt_outs.extend(f.opt_outs.iter().map(|c| (existing, c.clone())));
            notes.push((
                existing,
                format!(
                    "Duplicate submission (CSV import line {}) from source {}: {} {}, {} {}",
                    r.line,
                    f.source,
                    f.first_name,
                    f.last_name,
                    f.phone.as_deref().unwrap_or(""),
                    f.email.as_deref().unwrap_or("")
                ),
            ));
            continue;
        }
        let id = crate::leads::store::new_lead_id();
        if let Some(p) = &f.phone {
            seen.phone.insert(p.clone(), id);
        }
        if let Some(e) = &f.email {
            seen.email.insert(e.clone(), id);
        }
        if let Some(n) = &f.loan_number {
            seen.loan_numbers.insert(n.clone(), r.line);
        }
        opt_outs.extend(f.opt_outs.iter().map(|c| (id, c.clone())));
        new_rows.push(NewLead { id, fields: f, referred_by });
    }
    // An LO's import is theirs from its first moment (recorded as an assignment with the creation).
    let owner = (user.role == Role::Lo).then_some(lifecycle::FirstOwner {
        lo: user.id,
        team: user.team_id,
        reason: "imported by the loan officer",
    });
    crate::leads::store::insert_many(tx, &new_rows, owner.as_ref(), now).await?;
    let ids: Vec<Uuid> = new_rows.iter().map(|r| r.id).collect();
    let entered: Vec<serde_json::Value> =
        new_rows.iter().map(|r| serde_json::to_value(r.fields)).collect::<Result<_, _>>()?;
    lifecycle::record_created(tx, Some(user), &ids, &entered, "import", owner, now, None).await?;
    insert_notes(tx, user, notes, now).await?;
    crate::leads::store::record_opt_outs(tx, &opt_outs, now).await?;
    if user.role != Role::Lo && !ids.is_empty() {
        let payload = RouteImported { actor_id: user.id, lead_ids: ids.clone() };
        crate::jobs::enqueue(tx, ROUTE_JOB, serde_json::to_value(&payload)?, now, None).await?;
        report.routing += ids.len() as u64;
    }
    seen.created.extend(ids);
    report.imported += new_rows.len() as u64;
    Ok(())
}

/// The batch's (source, external_id) keys some lead already has (imported before, or by an earlier batch).
async fn imported_keys(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[GoodRow],
) -> sqlx::Result<std::collections::HashSet<(String, String)>> {
    // Each lookup walks the batch's distinct keys and probes one index per key: a LATERAL subquery that cannot
    // be flattened (LIMIT 1, OFFSET 0) keeps the probe per key whatever the statistics say. While an import
    // grows the table its statistics lag behind, and plans chosen from them scanned the whole table once per
    // batch. The probe holds nothing but the indexed condition: an ORDER BY, or the join to stages, inside it
    // tempted the planner to walk the created_at or stage index instead.
    let mut keys: Vec<(String, String)> =
        batch.iter().filter_map(|r| r.fields.external_id.clone().map(|e| (r.fields.source.clone(), e))).collect();
    keys.sort();
    keys.dedup();
    let (srcs, exts): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    let known: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.source, k.external_id FROM UNNEST($1::text[], $2::text[]) AS k(source, external_id)
         CROSS JOIN LATERAL (SELECT 1 FROM leads l
                             WHERE l.external_id IS NOT NULL AND l.source = k.source AND l.external_id = k.external_id
                             LIMIT 1) m",
    )
    .bind(&srcs)
    .bind(&exts)
    .persistent(false)
    .fetch_all(&mut **tx)
    .await?;
    Ok(known.into_iter().collect())
}

/// The notes on existing leads that duplicates in the file left ("Duplicate submission …"), in one statement.
async fn insert_notes(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    notes: Vec<(Uuid, String)>,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    if notes.is_empty() {
        return Ok(());
    }
    let (ids, bodies): (Vec<Uuid>, Vec<String>) = notes.into_iter().unzip();
    sqlx::query(
        "INSERT INTO activities (lead_id, actor_id, kind, body, occurred_at)
             SELECT t.lead_id, $3, 'note', t.body, $4 FROM UNNEST($1::uuid[], $2::text[]) AS t(lead_id, body)",
    )
    .bind(&ids)
    .bind(&bodies)
    .bind(user.id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The batch's loan numbers that leads already have: the lead's id and name when `user` may see it.
async fn loan_numbers_taken(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    batch: &[GoodRow],
) -> anyhow::Result<HashMap<String, Option<(Uuid, String)>>> {
    let numbers: Vec<String> = batch.iter().filter_map(|r| r.fields.loan_number.clone()).collect();
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    /// (loan number, lead id, name, assigned LO, team)
    type Holder = (String, Uuid, String, Option<Uuid>, Option<Uuid>);
    let found: Vec<Holder> = sqlx::query_as(
        "SELECT l.loan_number, l.id, trim(l.first_name || ' ' || l.last_name), l.assigned_lo_id, l.team_id
         FROM leads l WHERE l.loan_number = ANY($1::text[])",
    )
    .bind(&numbers)
    .fetch_all(&mut **tx)
    .await?;
    let scope = user.scope();
    Ok(found
        .into_iter()
        .map(|(n, id, name, lo, team)| (n, scope.allows_lead(lo, team).then_some((id, name))))
        .collect())
}

/// The portfolio loans the batch names as referrers, by loan number.
async fn past_clients(tx: &mut Transaction<'_, Postgres>, batch: &[GoodRow]) -> anyhow::Result<HashMap<String, Uuid>> {
    let numbers: Vec<String> = batch.iter().filter_map(|r| r.fields.referred_by_loan_number.clone()).collect();
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT loan_number, id FROM portfolio_loans WHERE loan_number = ANY($1::text[])")
            .bind(&numbers)
            .fetch_all(&mut **tx)
            .await?;
    Ok(found.into_iter().collect())
}

/// The job that routes one batch of imported leads.
pub const ROUTE_JOB: &str = "leads.route_imported";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RouteImported {
    /// Who imported them (recorded as the actor of the routing).
    actor_id: Uuid,
    /// In file order.
    lead_ids: Vec<Uuid>,
}

/// Runs a `leads.route_imported` job: routes each lead in its own transaction, in file order. A lead that
/// already has a routing decision or an LO (a retry, or a manager who took it from the queue) is left alone,
/// so running the job again routes nothing twice.
pub async fn route_imported(state: &AppState, job: &crate::jobs::Job) -> anyhow::Result<()> {
    let payload: RouteImported = serde_json::from_value(job.payload.clone())?;
    let actor = crate::auth::store::find_user(&state.db, payload.actor_id).await?.map(|u| u.into_current(false));
    let total = payload.lead_ids.len() as i64;
    for (done, id) in payload.lead_ids.iter().enumerate() {
        // One transaction per lead, as for API intake; a lead routed before (a retried job) is left alone.
        match (crate::leads::wiring::wired()?.route_new_lead)(state, *id, actor.as_ref(), None).await {
            Ok(_) | Err(AppError::NotFound) => {}
            Err(AppError::Internal(e)) => return Err(e.context(format!("routing imported lead {id}"))),
            Err(e) => anyhow::bail!("routing imported lead {id}: {}", e.public_message()),
        }
        if done % 250 == 249 {
            crate::jobs::set_progress(state, job.id, done as i64 + 1, total).await?;
        }
    }
    crate::jobs::set_progress(state, job.id, total, total).await?;
    Ok(())
}

/// How a row is matched to an open lead: the indexed expression (`leads_phone_idx`, `leads_email_idx`).
const BY_PHONE: &str = "l.phone IS NOT NULL AND l.phone";
const BY_EMAIL: &str = "l.email IS NOT NULL AND lower(l.email)";

/// The oldest open lead for each key that has one (the lead a duplicate row is noted on).
async fn open_leads_by(
    tx: &mut Transaction<'_, Postgres>,
    matched_on: &'static str,
    keys: Vec<String>,
) -> anyhow::Result<HashMap<String, Uuid>> {
    let keys: std::collections::BTreeSet<String> = keys.into_iter().collect();
    let keys: Vec<String> = keys.into_iter().collect();
    let sql = format!(
        "SELECT m.id, k.key FROM UNNEST($1::text[]) AS k(key)
         CROSS JOIN LATERAL (SELECT l.id, l.created_at, l.pipeline_id, l.stage FROM leads l
                             WHERE {matched_on} = k.key AND l.duplicate_of IS NULL OFFSET 0) m
         JOIN stages s ON s.pipeline_id = m.pipeline_id AND s.key = m.stage
         WHERE s.kind = 'open'
         ORDER BY m.created_at"
    );
    let found: Vec<(Uuid, String)> = sqlx::query_as(&sql).bind(&keys).persistent(false).fetch_all(&mut **tx).await?;
    let mut oldest = HashMap::new();
    for (id, key) in found {
        oldest.entry(key).or_insert(id);
    }
    Ok(oldest)
}

/// `loanfloor import leads|stage-changes|activities FILE [--skip-bad] [--as-email E]`.
pub async fn cli(state: &AppState, kind: Kind, args: &ImportArgs) -> anyhow::Result<String> {
    match kind {
        Kind::Leads => {}
        Kind::StageChanges | Kind::Activities => return super::history_import::cli(state, kind, args).await,
    }
    let user = crate::auth::store::cli_actor(&state.db, args.as_email.as_deref()).await?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let started = std::time::Instant::now();
    let report = import_leads(state, &user, std::io::BufReader::with_capacity(1 << 16, file), args.skip_bad).await?;
    if !report.committed {
        anyhow::bail!("{}", report.summary());
    }
    Ok(format!("{} ({:.1} s)", report.summary(), started.elapsed().as_secs_f64()))
}

// ---------- Browser upload ----------

#[derive(Template, WebTemplate)]
#[template(path = "leads/import.html")]
struct ImportPage {
    ctx: PageCtx,
    report: Option<ImportReport>,
    report_token: Option<String>,
    columns: Vec<&'static str>,
}

pub async fn page(user: CurrentUser, ctx: PageCtx) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    Ok(ImportPage { ctx, report: None, report_token: None, columns: model::CSV_COLUMNS.to_vec() })
}

/// `POST /leads/import` (multipart: `file`, optional `skip_bad`): streams the upload to a temporary file, then
/// imports it. 200 when committed, 422 when bad rows rolled the import back.
pub async fn upload(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    mut form: Multipart,
) -> AppResult<Response> {
    user.require(&[Role::Lo, Role::Manager, Role::Admin])?;
    // Removed when this request ends, however it ends (a client gone mid-import drops the future).
    let upload = super::uploads::TempUpload::new();
    let upload_path = upload.path.clone();
    let mut got_file = false;
    let mut skip_bad = false;
    let bad_upload = |e: axum::extract::multipart::MultipartError| AppError::BadRequest(format!("upload failed: {e}"));
    let result: AppResult<()> = async {
        while let Some(mut field) = form.next_field().await.map_err(bad_upload)? {
            match field.name() {
                Some("file") => {
                    use tokio::io::AsyncWriteExt;
                    let mut out = tokio::fs::File::create(&upload_path).await.map_err(anyhow::Error::from)?;
                    while let Some(chunk) = field.chunk().await.map_err(bad_upload)? {
                        out.write_all(&chunk).await.map_err(anyhow::Error::from)?;
                    }
                    out.flush().await.map_err(anyhow::Error::from)?;
                    got_file = true;
                }
                Some("skip_bad") => skip_bad = !field.text().await.map_err(bad_upload)?.is_empty(),
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let outcome = match result {
        Ok(()) if got_file => match std::fs::File::open(&upload_path) {
            Ok(f) => import_leads(&state, &user, std::io::BufReader::new(f), skip_bad).await.map_err(AppError::from),
            Err(e) => Err(AppError::Internal(e.into())),
        },
        Ok(()) => Err(AppError::invalid("file", "choose a CSV file to import")),
        Err(e) => Err(e),
    };
    drop(upload);
    let report = outcome?;
    let report_token = if report.bad.is_empty() {
        None
    } else {
        let token = super::uploads::save_report(&state.db, user.id, report.bad_rows_csv(), state.clock.now()).await?;
        Some(token.simple().to_string())
    };
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = ImportPage { ctx, report: Some(report), report_token, columns: model::CSV_COLUMNS.to_vec() };
    Ok((status, page).into_response())
}

/// `GET /leads/import/report/{token}`: the bad-row report of the user's own upload (for 24 hours).
pub async fn report(user: CurrentUser, State(state): State<AppState>, Path(token): Path<Uuid>) -> AppResult<Response> {
    let body = super::uploads::report(&state.db, user.id, token, state.clock.now()).await?.ok_or(AppError::NotFound)?;
    Ok(super::handlers::csv_attachment("import-bad-rows.csv", body))
}
