//! Disposal (issue 24): finds the people whose records are past their retention rule and not on legal hold,
//! and replaces their identifying values with the disposal marker everywhere Loanfloor copied them — the lead,
//! its calls and notes, consents, tasks, messages, escalations and their attachments, the bell, the staff
//! emails that named them, webhook deliveries, domain events, jobs, replayable API answers, loss-mitigation
//! cases with every record filed on them, portfolio loans with their rate-watch offers, and the audit log's
//! snapshots (the entries stay, with their ids and every other column; see migration 0052).
//!
//! Rows are kept, never deleted (but for attachments and stored API answers), so every count and the rollups of
//! past periods are unchanged: the scrubbed columns are none of the rollups' dimensions. One transaction per
//! batch; one audit entry per batch says how many records of each kind were disposed, and names no one.
//!
//! After the scrub, `compact` asks PostgreSQL to rewrite the touched tables without the old row versions
//! (VACUUM FULL), refresh the statistics (which sample column values) and move past the WAL segments that held
//! them — which needs the database owner (the `loanfloor dispose --apply` command). The nightly job runs as the
//! application role, so there autovacuum frees the old versions, but their bytes stay in the pages' free space
//! until new rows overwrite them or the operator's command rewrites the tables.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Entry;
use crate::state::AppState;

/// What replaces a disposed value.
pub const MARKER: &str = "[disposed]";

/// People disposed per transaction.
const BATCH: usize = 200;

/// JSON keys whose values are personal wherever they appear in a stored document of a disposed person.
const PERSONAL_KEYS: &[&str] = &[
    "first_name",
    "last_name",
    "name",
    "borrower_name",
    "co_borrower_name",
    "email",
    "borrower_email",
    "phone",
    "borrower_phone",
    "property_address",
    "address",
    "property_zip",
    "zip",
    "external_id",
    "loan_number",
    "note",
    "notes",
    "body",
    "text",
    "summary",
    "subject",
    "title",
    "to_address",
    "consent_text",
    "competitor_name",
    "competitor_offer",
    "response_text",
    "extension_reason",
    "why",
    "file_name",
];

/// The records due for disposal at one moment.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Due {
    pub leads: Vec<Uuid>,
    pub applications: Vec<Uuid>,
    pub cases: Vec<Uuid>,
    pub loans: Vec<Uuid>,
}

impl Due {
    pub fn is_empty(&self) -> bool {
        self.leads.is_empty() && self.applications.is_empty() && self.cases.is_empty() && self.loans.is_empty()
    }
}

/// What one run disposed (or, in a dry run, would dispose), by kind.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub leads: usize,
    pub applications: usize,
    pub loss_mitigation_cases: usize,
    pub portfolio_loans: usize,
    pub audit_entries_scrubbed: u64,
    pub held: i64,
}

/// The records past their rule at `now` and under no active legal hold (of their own, or of the loan or lead
/// they belong to). A lead whose funded loan is still in the portfolio waits for the loan (servicing keeps it).
pub async fn find_due(db: &PgPool, now: DateTime<Utc>, tz: chrono_tz::Tz) -> sqlx::Result<Due> {
    let today = now.with_timezone(&tz).date_naive();
    let leads = sqlx::query!(
        r#"WITH r AS (SELECT (SELECT months FROM retention_rules WHERE kind = 'lead') AS lead_m,
                             (SELECT months FROM retention_rules WHERE kind = 'application') AS app_m),
           l AS (
             SELECT l.id,
                    greatest(l.created_at, l.updated_at, l.last_activity_at, l.stage_changed_at) AS last_used,
                    EXISTS (SELECT 1 FROM stages st
                             WHERE st.pipeline_id = l.pipeline_id
                               AND (st.key = l.stage OR st.key IN (SELECT sc.to_stage FROM stage_changes sc
                                                                    WHERE sc.lead_id = l.id))
                               AND (st.kind = 'won' OR (st.kind = 'open' AND st.position >=
                                      (SELECT a.position FROM stages a
                                        WHERE a.pipeline_id = l.pipeline_id AND a.key = 'application'))))
                      AS applied
               FROM leads l
              WHERE l.disposed_at IS NULL
                AND greatest(l.created_at, l.updated_at, l.last_activity_at, l.stage_changed_at)
                    < $1::timestamptz - make_interval(months => (SELECT least(lead_m, app_m) FROM r))
                AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.lead_id = l.id AND h.released_at IS NULL)
                AND NOT EXISTS (SELECT 1 FROM portfolio_loans p WHERE p.lead_id = l.id AND p.disposed_at IS NULL))
           SELECT l.id AS "id!", l.applied AS "applied!" FROM l, r
            WHERE l.last_used < $1::timestamptz - make_interval(months => CASE WHEN l.applied THEN r.app_m ELSE r.lead_m END)
            ORDER BY l.last_used"#,
        now
    )
    .fetch_all(db)
    .await?;
    let (applications, leads): (Vec<_>, Vec<_>) = leads.into_iter().partition(|r| r.applied);
    let cases = sqlx::query_scalar!(
        r#"SELECT c.id FROM lossmit_cases c
            WHERE c.disposed_at IS NULL
              AND c.resolution IN ('paid_off', 'short_sale', 'deed_in_lieu', 'foreclosure')
              AND c.resolved_on < $1::date - make_interval(months =>
                    (SELECT months FROM retention_rules WHERE kind = 'servicing'))
              AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.case_id = c.id AND h.released_at IS NULL)
            ORDER BY c.resolved_on"#,
        today
    )
    .fetch_all(db)
    .await?;
    let loans = sqlx::query_scalar!(
        r#"SELECT p.id FROM portfolio_loans p
            WHERE p.disposed_at IS NULL AND p.paid_off_on IS NOT NULL
              AND p.paid_off_on < $1::date - make_interval(months =>
                    (SELECT months FROM retention_rules WHERE kind = 'servicing'))
              AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL
                                 AND (h.loan_id = p.id OR (p.lead_id IS NOT NULL AND h.lead_id = p.lead_id)))
            ORDER BY p.paid_off_on"#,
        today
    )
    .fetch_all(db)
    .await?;
    Ok(Due {
        leads: leads.into_iter().map(|r| r.id).collect(),
        applications: applications.into_iter().map(|r| r.id).collect(),
        cases,
        loans,
    })
}

/// Active legal holds (for the report: records kept back only because of one).
async fn active_holds(db: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM legal_holds WHERE released_at IS NULL"#).fetch_one(db).await
}

/// A dry run: what would be disposed at `now`.
pub async fn preview(state: &AppState, now: DateTime<Utc>) -> sqlx::Result<(Due, Report)> {
    let due = find_due(&state.db, now, state.config.timezone).await?;
    let report = Report {
        leads: due.leads.len(),
        applications: due.applications.len(),
        loss_mitigation_cases: due.cases.len(),
        portfolio_loans: due.loans.len(),
        audit_entries_scrubbed: 0,
        held: active_holds(&state.db).await?,
    };
    Ok((due, report))
}

/// Disposes of everything due at `now`, in batches, each in its own transaction with its audit entry.
pub async fn apply(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<Report> {
    let (due, mut report) = preview(state, now).await?;
    // What each batch really disposed: each scrub claims its records (FOR UPDATE, not yet disposed), so a run
    // that overlaps another (a job retried while the first still ran) skips what the other already did.
    (report.leads, report.applications, report.loss_mitigation_cases, report.portfolio_loans) = (0, 0, 0, 0);
    // Loans first: a lead whose loan goes now is found due on the next run, when its own rule says so.
    let batches = [
        ("portfolio_loan", &due.loans),
        ("lossmit_case", &due.cases),
        ("lead", &due.leads),
        ("application", &due.applications),
    ];
    for (kind, all) in batches {
        for chunk in all.chunks(BATCH) {
            let mut tx = begin(state).await?;
            let (records, scrubbed) = match kind {
                "portfolio_loan" => scrub_loans(&mut tx, chunk, now).await?,
                "lossmit_case" => scrub_cases(&mut tx, chunk, now).await?,
                _ => scrub_leads(&mut tx, chunk, now).await?,
            };
            let count = match kind {
                "portfolio_loan" => &mut report.portfolio_loans,
                "lossmit_case" => &mut report.loss_mitigation_cases,
                "lead" => &mut report.leads,
                _ => &mut report.applications,
            };
            *count += records;
            report.audit_entries_scrubbed += scrubbed;
            record(&mut tx, kind, records, scrubbed).await?;
            tx.commit().await?;
        }
    }
    if !due.is_empty() {
        tracing::info!(?report, "disposal");
    }
    Ok(report)
}

async fn begin(state: &AppState) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = state.db.begin().await?;
    sqlx::query_scalar!("SELECT set_config('loanfloor.disposal', 'on', true)").fetch_one(&mut *tx).await?;
    Ok(tx)
}

/// The one audit entry of a batch: the kind and number of records disposed, naming no one.
async fn record(tx: &mut Transaction<'_, Postgres>, kind: &str, records: usize, audit: u64) -> sqlx::Result<()> {
    if records == 0 {
        return Ok(());
    }
    Entry::new(None, "retention.disposed", "retention", kind)
        .after(serde_json::json!({"kind": kind, "records": records, "audit_entries_scrubbed": audit}))
        .write(&mut **tx)
        .await
}

fn keys() -> Vec<String> {
    PERSONAL_KEYS.iter().map(|k| k.to_string()).collect()
}

/// The identifying values of the people about to be disposed (at least 3 characters): scrubbed wherever they
/// appear inside a linked record's stored document.
fn values(rows: impl IntoIterator<Item = Option<String>>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_string())
        .filter(|v| v.chars().count() >= 3 && v != MARKER)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The records a batch disposes of, and those hanging from them, as copies name them: their ids (as text, the
/// way payloads and audit entries carry them), the pages that show them (the bell's and staff emails' links),
/// and the audit log's entity names for them. Every copy is found by these keys, never by searching texts for
/// a name (which does not scale to millions of rows and misses a name typed differently).
#[derive(Default)]
struct Linked {
    ids: Vec<String>,
    links: Vec<String>,
    entities: Vec<String>,
}

impl Linked {
    fn add(&mut self, entity: &str, page: Option<&str>, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Some(page) = page {
                self.links.push(format!("{page}{id}"));
            }
            self.ids.push(id);
        }
        self.entities.push(entity.to_string());
    }
}

/// Leads (never applications, or applications): the lead and everything copied from it.
async fn scrub_leads(
    tx: &mut Transaction<'_, Postgres>,
    chunk: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<(usize, u64)> {
    let people = sqlx::query!(
        "SELECT id, first_name, last_name, email, phone, external_id FROM leads
          WHERE id = ANY($1) AND disposed_at IS NULL FOR UPDATE",
        chunk
    )
    .fetch_all(&mut **tx)
    .await?;
    let claimed: Vec<Uuid> = people.iter().map(|p| p.id).collect();
    let ids = claimed.as_slice();
    let vals = values(people.into_iter().flat_map(|p| {
        [
            Some(format!("{} {}", p.first_name, p.last_name)),
            Some(p.first_name),
            Some(p.last_name),
            p.email,
            p.phone,
            p.external_id,
        ]
    }));
    let keys = keys();
    sqlx::query!(
        "UPDATE leads SET first_name = $2, last_name = '', email = NULL, phone = NULL, property_zip = NULL,
                          external_id = NULL, loan_number = NULL, disposed_at = $3, version = version + 1
          WHERE id = ANY($1)",
        ids,
        MARKER,
        now
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("UPDATE activities SET body = $2 WHERE lead_id = ANY($1) AND body <> ''", ids, MARKER)
        .execute(&mut **tx)
        .await?;
    sqlx::query!("UPDATE tasks SET title = $2 WHERE lead_id = ANY($1)", ids, MARKER).execute(&mut **tx).await?;
    sqlx::query!(
        "UPDATE lead_consents SET consent_text = $2, source_page = NULL, token = NULL WHERE lead_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE messages SET to_address = $2 || '-' || id, subject = $2, body = $2 WHERE lead_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE routing_decisions SET summary = $2, candidates = disposal_scrub(candidates::jsonb, $3, $4)::json
          WHERE lead_id = ANY($1)",
        ids,
        MARKER,
        &keys,
        &vals
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE escalations SET competitor_name = NULL, competitor_offer = NULL,
                                note = CASE WHEN note = '' THEN note ELSE $2 END
          WHERE lead_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE escalation_events SET note = $2
          WHERE note <> '' AND escalation_id IN (SELECT id FROM escalations WHERE lead_id = ANY($1))",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "DELETE FROM escalation_attachments WHERE escalation_id IN (SELECT id FROM escalations WHERE lead_id = ANY($1))",
        ids
    )
    .execute(&mut **tx)
    .await?;
    // A lock's history keeps its terms (no one's personal data) but not the words typed about the borrower.
    sqlx::query!(
        "UPDATE rate_lock_events SET note = $2
          WHERE note <> '' AND lock_id IN (SELECT id FROM rate_locks WHERE lead_id = ANY($1))",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("DELETE FROM idempotency_keys WHERE lead_id = ANY($1)", ids).execute(&mut **tx).await?;
    let mut linked = Linked::default();
    linked.add("lead", Some("/leads/"), ids.iter().map(Uuid::to_string));
    let locks = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM rate_locks WHERE lead_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("rate_lock", Some("/locks/"), locks);
    let escalations = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM escalations WHERE lead_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("escalation", Some("/escalations/"), escalations);
    let tasks = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM tasks WHERE lead_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("task", None, tasks);
    let messages = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM messages WHERE lead_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("message", None, messages);
    scrub_copies(tx, &linked, &keys, &vals).await?;
    Ok((ids.len(), scrub_audit(tx, &linked, &keys, &vals, now).await?))
}

/// Copies that name a record without a foreign key to it: the bell and staff emails (by the page they link),
/// webhook deliveries, domain events and jobs (by the record's id in their payload).
async fn scrub_copies(
    tx: &mut Transaction<'_, Postgres>,
    linked: &Linked,
    keys: &[String],
    vals: &[String],
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE notifications SET title = $2
          WHERE link = ANY($1) OR split_part(split_part(link, '?', 1), '#', 1) = ANY($1)",
        &linked.links,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    // Staff emails (a new lead, an escalation filed or decided, a case assigned) name the borrower in their
    // subject and body; they keep the page they link (migration 0053).
    sqlx::query!(
        "UPDATE messages SET subject = $2, body = $2
          WHERE audience = 'staff' AND link <> '' AND split_part(split_part(link, '?', 1), '#', 1) = ANY($1)",
        &linked.links,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "WITH deliveries AS (UPDATE webhook_deliveries SET payload = disposal_scrub(payload, $2, $3)
                              WHERE payload_names(payload, $1)),
              events AS (UPDATE domain_events SET payload = disposal_scrub(payload, $2, $3)
                          WHERE lead_id::text = ANY($1) OR payload_names(payload, $1))
         UPDATE jobs SET payload = disposal_scrub(payload, $2, $3) WHERE payload_names(payload, $1)",
        &linked.ids,
        keys,
        vals
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The audit entries about the linked records (by the log's own (entity, entity_id) index): their personal
/// values become the marker; the entry, its id and every other column stay (the trigger checks).
async fn scrub_audit(
    tx: &mut Transaction<'_, Postgres>,
    linked: &Linked,
    keys: &[String],
    vals: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE audit_log SET before = disposal_scrub(before, $3, $4), after = disposal_scrub(after, $3, $4),
                              scrubbed_at = $5
          WHERE entity = ANY($1) AND entity_id = ANY($2) AND (before IS NOT NULL OR after IS NOT NULL)",
        &linked.entities,
        &linked.ids,
        keys,
        vals,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Loss-mitigation cases: the case, every record filed on it, its letters, its messages and copies.
async fn scrub_cases(
    tx: &mut Transaction<'_, Postgres>,
    chunk: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<(usize, u64)> {
    let people = sqlx::query!(
        "SELECT id, borrower_name, co_borrower_name, borrower_phone, borrower_email, property_address, loan_number
           FROM lossmit_cases WHERE id = ANY($1) AND disposed_at IS NULL FOR UPDATE",
        chunk
    )
    .fetch_all(&mut **tx)
    .await?;
    let claimed: Vec<Uuid> = people.iter().map(|p| p.id).collect();
    let ids = claimed.as_slice();
    let vals = values(people.into_iter().flat_map(|p| {
        [
            Some(p.borrower_name),
            Some(p.co_borrower_name),
            Some(p.borrower_phone),
            Some(p.borrower_email),
            Some(p.property_address),
            Some(p.loan_number),
        ]
    }));
    let keys = keys();
    sqlx::query!(
        "UPDATE lossmit_cases SET borrower_name = $2, co_borrower_name = '', borrower_phone = '', borrower_email = '',
                                  property_address = $2, loan_number = $2 || '-' || id, disposed_at = $3,
                                  version = version + 1
          WHERE id = ANY($1)",
        ids,
        MARKER,
        now
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE lossmit_assessments SET wages_cents = 0, self_employment_cents = 0, benefits_cents = 0,
                rental_cents = 0, other_income_cents = 0, other_debts_cents = 0, living_expenses_cents = 0,
                hardship_reason = 'other', note = $2
          WHERE case_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("UPDATE lossmit_documents SET note = $2 WHERE case_id = ANY($1) AND note <> ''", ids, MARKER)
        .execute(&mut **tx)
        .await?;
    sqlx::query!("UPDATE lossmit_notices SET note = $2 WHERE case_id = ANY($1) AND note <> ''", ids, MARKER)
        .execute(&mut **tx)
        .await?;
    sqlx::query!("UPDATE lossmit_reinstatements SET note = $2 WHERE case_id = ANY($1) AND note <> ''", ids, MARKER)
        .execute(&mut **tx)
        .await?;
    sqlx::query!("UPDATE lossmit_letters SET html = $2 WHERE case_id = ANY($1)", ids, MARKER)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        "UPDATE lossmit_borrower_requests SET summary = $2, response_text = CASE WHEN response_text = '' THEN '' ELSE $2 END,
                extension_reason = CASE WHEN extension_reason = '' THEN '' ELSE $2 END
          WHERE case_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE lossmit_decisions SET terms = disposal_scrub(terms, $2, $3) WHERE case_id = ANY($1)",
        ids,
        &keys,
        &vals
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE messages SET to_address = $2 || '-' || id, subject = $2, body = $2 WHERE case_id = ANY($1)",
        ids,
        MARKER
    )
    .execute(&mut **tx)
    .await?;
    let mut linked = Linked::default();
    linked.add("lossmit_case", Some("/lossmit/cases/"), ids.iter().map(Uuid::to_string));
    let messages = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM messages WHERE case_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("message", None, messages);
    scrub_copies(tx, &linked, &keys, &vals).await?;
    Ok((ids.len(), scrub_audit(tx, &linked, &keys, &vals, now).await?))
}

/// Portfolio loans: the loan, its rate-watch offers and copies.
async fn scrub_loans(
    tx: &mut Transaction<'_, Postgres>,
    chunk: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<(usize, u64)> {
    let people = sqlx::query!(
        "SELECT id, borrower_name, co_borrower_name, email, phone, loan_number FROM portfolio_loans
          WHERE id = ANY($1) AND disposed_at IS NULL FOR UPDATE",
        chunk
    )
    .fetch_all(&mut **tx)
    .await?;
    let claimed: Vec<Uuid> = people.iter().map(|p| p.id).collect();
    let ids = claimed.as_slice();
    let vals = values(
        people
            .into_iter()
            .flat_map(|p| [Some(p.borrower_name), p.co_borrower_name, p.email, p.phone, Some(p.loan_number)]),
    );
    let keys = keys();
    sqlx::query!(
        "UPDATE portfolio_loans SET borrower_name = $2, co_borrower_name = NULL, email = NULL, phone = NULL,
                                    property_zip = NULL, loan_number = $2 || '-' || id, disposed_at = $3
          WHERE id = ANY($1)",
        ids,
        MARKER,
        now
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE opportunities SET why = $2, numbers = disposal_scrub(numbers, $3, $4) WHERE loan_id = ANY($1)",
        ids,
        MARKER,
        &keys,
        &vals
    )
    .execute(&mut **tx)
    .await?;
    let mut linked = Linked::default();
    linked.add("portfolio_loan", Some("/portfolio/loans/"), ids.iter().map(Uuid::to_string));
    let offers = sqlx::query_scalar!("SELECT id::text AS \"id!\" FROM opportunities WHERE loan_id = ANY($1)", ids)
        .fetch_all(&mut **tx)
        .await?;
    linked.add("opportunity", Some("/portfolio/opportunities/"), offers);
    scrub_copies(tx, &linked, &keys, &vals).await?;
    Ok((ids.len(), scrub_audit(tx, &linked, &keys, &vals, now).await?))
}

/// The tables disposal writes to: their old row versions, and the index entries pointing at them, hold the
/// values it replaced.
const TOUCHED: [&str; 26] = [
    "leads",
    "rate_lock_events",
    "activities",
    "tasks",
    "lead_consents",
    "messages",
    "routing_decisions",
    "escalations",
    "escalation_events",
    "escalation_attachments",
    "idempotency_keys",
    "notifications",
    "webhook_deliveries",
    "domain_events",
    "jobs",
    "audit_log",
    "lossmit_cases",
    "lossmit_assessments",
    "lossmit_documents",
    "lossmit_notices",
    "lossmit_reinstatements",
    "lossmit_letters",
    "lossmit_borrower_requests",
    "lossmit_decisions",
    "portfolio_loans",
    "opportunities",
];

/// Asks PostgreSQL to rewrite the tables the scrub touched, to resample the statistics and to move past the WAL
/// that held the old values. A plain VACUUM is not enough: it frees the old row versions and index entries but
/// leaves their bytes in the pages' free space, in the data files, until new rows happen to overwrite them;
/// VACUUM FULL writes each table and its indexes anew and truncates the old files at once. It locks each table
/// while it is rewritten (one table at a time), which is why it belongs to the operator's command, not to the
/// application. A rewrite keeps the old versions a transaction older than the scrub may still see, so each
/// waits for those to end first. Each step needs the table owner (pg_statistic, a superuser; the WAL, a
/// superuser or the grants the embedded cluster gives its owner role); a step refused is reported and skipped
/// (PostgreSQL skips a table the role does not own with a warning).
pub async fn compact(db: &PgPool) -> Vec<String> {
    let mut skipped = Vec::new();
    settle(db, &mut skipped).await;
    for table in TOUCHED {
        step(db, &format!("VACUUM (FULL, ANALYZE) {table}"), &mut skipped).await;
    }
    // ANALYZE replaced the tables' statistics (sampled values): their old rows go the same way.
    settle(db, &mut skipped).await;
    step(db, "VACUUM (FULL) pg_catalog.pg_statistic", &mut skipped).await;
    for _ in 0..2 {
        step(db, "SELECT pg_switch_wal()", &mut skipped).await;
        step(db, "CHECKPOINT", &mut skipped).await;
    }
    skipped
}

async fn step(db: &PgPool, sql: &str, skipped: &mut Vec<String>) {
    if let Err(e) = sqlx::raw_sql(sql).execute(db).await {
        skipped.push(format!("{sql}: {e}"));
    }
}

/// How long `compact` waits for the transactions older than what it is about to rewrite.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until no session (in any database: creating a database holds every database's horizon) runs a
/// transaction, or holds a snapshot, begun before this call; until then the old row versions are still
/// visible to it and a rewrite keeps them. Noted in `skipped` when one still does after [`SETTLE`].
async fn settle(db: &PgPool, skipped: &mut Vec<String>) {
    let Ok(mark) =
        sqlx::query_scalar!(r#"SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS "mark!""#).fetch_one(db).await
    else {
        return;
    };
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let older = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM pg_stat_activity
                WHERE pid <> pg_backend_pid()
                  AND (age(backend_xid) > age(xid($1::text::xid8)) OR age(backend_xmin) > age(xid($1::text::xid8)))"#,
            mark
        )
        .fetch_one(db)
        .await;
        match older {
            Ok(0) | Err(_) => return,
            Ok(n) if std::time::Instant::now() >= deadline => {
                skipped.push(format!(
                    "{n} transaction(s) older than the disposal still running after {} s: the rewrite kept what they may see",
                    SETTLE.as_secs()
                ));
                return;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}
