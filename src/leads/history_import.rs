//! History import for teams moving from another CRM or LOS: `loanfloor import stage-changes FILE` and
//! `loanfloor import activities FILE`, keyed by the lead's `external_id` (with `source` when an external id is
//! used by more than one source), so funnels and speed-to-lead cover the past.
//!
//! The file is streamed in chunks; each chunk's leads and LOs are looked up in one query each. By default the
//! import is all or nothing (every bad row is still reported, with its line); with `--skip-bad` the good rows
//! are committed. Stage changes go through the one lifecycle (`lifecycle::import_stage_history`: history row,
//! audit entry and event each, then stage and stage_changed_at from the latest change); first_call_at,
//! first_contact_at and last_activity_at follow the imported activities.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::import::Kind;
use super::lifecycle::{self, StageChange};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::config::ImportArgs;
use crate::imports::{Columns, CsvRows, ImportReport};
use crate::state::AppState;

const CHUNK: usize = 2_000;

pub const STAGE_CHANGE_COLUMNS: &[&str] = &["external_id", "to_stage", "at"];
pub const STAGE_CHANGE_OPTIONAL: &[&str] = &["source", "from_stage", "lost_reason", "lo_email"];
pub const ACTIVITY_COLUMNS: &[&str] = &["external_id", "kind", "occurred_at"];
pub const ACTIVITY_OPTIONAL: &[&str] = &["source", "direction", "outcome", "talk_seconds", "body", "lo_email"];

const KINDS: &[&str] = &["call", "email", "text", "note", "meeting"];
const DIRECTIONS: &[&str] = &["outbound", "inbound"];
const OUTCOMES: &[&str] = &["contacted", "no_answer", "voicemail", "bad_number", "do_not_call"];
const MAX_BODY: usize = 10_000;

/// Which history a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    StageChanges,
    Activities,
}

impl History {
    fn what(self) -> &'static str {
        match self {
            History::StageChanges => "stage changes",
            History::Activities => "activities",
        }
    }
}

/// `loanfloor import stage-changes|activities FILE [--skip-bad] [--as-email E]`. A refused import is an error
/// (non-zero exit) carrying the report.
pub async fn cli(state: &AppState, kind: Kind, args: &ImportArgs) -> anyhow::Result<String> {
    let history = match kind {
        Kind::StageChanges => History::StageChanges,
        Kind::Activities => History::Activities,
        Kind::Leads => anyhow::bail!("lead files are imported by leads::import"),
    };
    let actor = acting_user(&state.db, args.as_email.as_deref()).await?;
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let report = import(state, history, std::io::BufReader::new(file), &name, args.skip_bad, actor.as_ref()).await?;
    if report.refused() {
        anyhow::bail!("{report}");
    }
    Ok(report.to_string())
}

/// The user an import is recorded as: `--as-email`, or the first admin.
pub async fn acting_user(db: &sqlx::PgPool, email: Option<&str>) -> anyhow::Result<Option<CurrentUser>> {
    let row = sqlx::query!(
        "SELECT id, email, name, role, team_id FROM users
         WHERE active AND (($1::text IS NULL AND role = 'admin') OR lower(email) = lower($1))
         ORDER BY created_at, id LIMIT 1",
        email
    )
    .fetch_optional(db)
    .await?;
    match (row, email) {
        (None, Some(e)) => anyhow::bail!("no active user with email {e}"),
        (None, None) => Ok(None),
        (Some(r), _) => Ok(Some(CurrentUser {
            id: r.id,
            email: r.email,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Admin),
            team_id: r.team_id,
            managed_team_ids: Vec::new(),
            originator: false,
            via_token: false,
            token: None,
        })),
    }
}

/// Imports a history file from any reader (a file, an upload). Returns the report; nothing is committed when
/// `report.refused()`.
pub async fn import<R: std::io::Read>(
    state: &AppState,
    history: History,
    input: R,
    file_name: &str,
    skip_bad: bool,
    actor: Option<&CurrentUser>,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::new(history.what(), skip_bad);
    let mut rows = match CsvRows::open(input) {
        Ok(rows) => rows,
        Err(e) => {
            report.reject_file(format!("cannot read the header: {e}"));
            return Ok(report);
        }
    };
    let (required, optional) = match history {
        History::StageChanges => (STAGE_CHANGE_COLUMNS, STAGE_CHANGE_OPTIONAL),
        History::Activities => (ACTIVITY_COLUMNS, ACTIVITY_OPTIONAL),
    };
    let columns = match Columns::new(rows.headers(), required, optional) {
        Ok(c) => c,
        Err(msg) => {
            report.reject_file(msg);
            return Ok(report);
        }
    };

    let mut tx = state.db.begin().await?;
    let mut ctx = Reference::load(&mut tx).await?;
    let now = state.clock.now();
    let mut touched: HashSet<Uuid> = HashSet::new();
    let mut chunk: Vec<(u64, csv::StringRecord)> = Vec::with_capacity(CHUNK);
    loop {
        let next = rows.next_row(|u| {
            report.rows += 1;
            report.reject(u.line, u.column(), u.message());
        });
        let done = next.is_none();
        if let Some((line, row)) = next {
            report.rows += 1;
            chunk.push((line, row.clone()));
        }
        if chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
            let write = !report.refused();
            let n = match history {
                History::StageChanges => {
                    stage_chunk(&mut tx, actor, &mut ctx, &columns, &chunk, now, write, &mut report, &mut touched)
                        .await?
                }
                History::Activities => {
                    activity_chunk(&mut tx, &mut ctx, &columns, &chunk, now, write, &mut report, &mut touched).await?
                }
            };
            report.imported += n;
            chunk.clear();
        }
        if done {
            break;
        }
    }
    report.errors.sort_by_key(|e| e.line);
    if report.refused() {
        report.imported = 0;
        tx.rollback().await?;
        return Ok(report);
    }
    let touched: Vec<Uuid> = touched.into_iter().collect();
    match history {
        // The stage changes set each lead's stage as they were recorded (through the lifecycle).
        History::StageChanges => {}
        History::Activities => refresh_activity(&mut tx, &touched).await?,
    }
    Entry::new(actor.map(|a| a as &dyn crate::audit::Acts), "history_imported", history.what(), file_name)
        .after(serde_json::json!({
            "file": file_name,
            "rows": report.rows,
            "imported": report.imported,
            "bad_rows": report.bad_rows(),
            "leads": touched.len(),
            "skip_bad": skip_bad,
        }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// What rows are checked against: stages per pipeline, lost reasons, the sources that use external ids, and
/// LOs by email (cached as they are looked up).
struct Reference {
    stages: HashMap<(Uuid, String), String>,
    stage_keys: Vec<String>,
    lost_reasons: HashSet<String>,
    sources: Vec<String>,
    users: HashMap<String, Option<Uuid>>,
}

impl Reference {
    async fn load(conn: &mut PgConnection) -> anyhow::Result<Self> {
        let rows =
            sqlx::query!("SELECT pipeline_id, key, kind FROM stages ORDER BY position").fetch_all(&mut *conn).await?;
        let mut stage_keys = Vec::new();
        let mut stages = HashMap::new();
        for r in rows {
            if !stage_keys.contains(&r.key) {
                stage_keys.push(r.key.clone());
            }
            stages.insert((r.pipeline_id, r.key), r.kind);
        }
        let lost_reasons =
            sqlx::query_scalar!("SELECT key FROM lost_reasons").fetch_all(&mut *conn).await?.into_iter().collect();
        // The distinct sources of leads with an external id, by a loose scan of leads_source_external_idx, so
        // lookups can use that index with both columns.
        let sources = sqlx::query_scalar!(
            r#"WITH RECURSIVE s AS (
                   SELECT min(source) AS source FROM leads WHERE external_id IS NOT NULL
                   UNION ALL
                   SELECT (SELECT min(source) FROM leads WHERE external_id IS NOT NULL AND source > s.source)
                   FROM s WHERE s.source IS NOT NULL)
               SELECT source AS "source!" FROM s WHERE source IS NOT NULL"#
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok(Self { stages, stage_keys, lost_reasons, sources, users: HashMap::new() })
    }

    /// Resolves the emails in a chunk to user ids in one query.
    async fn resolve_users(&mut self, conn: &mut PgConnection, emails: Vec<String>) -> anyhow::Result<()> {
        let missing: Vec<String> = emails.into_iter().filter(|e| !self.users.contains_key(e)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let found =
            sqlx::query!("SELECT id, lower(email) AS \"email!\" FROM users WHERE lower(email) = ANY($1)", &missing)
                .fetch_all(&mut *conn)
                .await?;
        for e in missing {
            self.users.insert(e, None);
        }
        for r in found {
            self.users.insert(r.email, Some(r.id));
        }
        Ok(())
    }
}

/// A lead found by external id.
struct LeadRef {
    id: Uuid,
    pipeline_id: Uuid,
    created_at: DateTime<Utc>,
}

/// Looks up a chunk's leads: (source, external_id) -> lead, and external_id -> every source using it.
async fn find_leads(
    conn: &mut PgConnection,
    ctx: &Reference,
    external_ids: Vec<String>,
) -> anyhow::Result<HashMap<String, Vec<(String, LeadRef)>>> {
    let rows = sqlx::query!(
        "SELECT id, source, external_id AS \"external_id!\", pipeline_id, created_at FROM leads
         WHERE source = ANY($1) AND external_id = ANY($2)",
        &ctx.sources,
        &external_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<String, Vec<(String, LeadRef)>> = HashMap::new();
    for r in rows {
        out.entry(r.external_id)
            .or_default()
            .push((r.source, LeadRef { id: r.id, pipeline_id: r.pipeline_id, created_at: r.created_at }));
    }
    Ok(out)
}

/// Picks the lead a row means, or says why not.
fn match_lead<'a>(
    leads: &'a HashMap<String, Vec<(String, LeadRef)>>,
    external_id: &str,
    source: Option<&str>,
) -> Result<&'a LeadRef, (&'static str, String)> {
    let candidates = leads.get(external_id).map(Vec::as_slice).unwrap_or(&[]);
    let matching: Vec<&(String, LeadRef)> =
        candidates.iter().filter(|(s, _)| source.is_none_or(|want| s.eq_ignore_ascii_case(want))).collect();
    match (matching.as_slice(), source) {
        ([one], _) => Ok(&one.1),
        ([], Some(s)) => Err(("external_id", format!("no lead with external_id {external_id:?} from source {s:?}"))),
        ([], None) => Err(("external_id", format!("no lead with external_id {external_id:?}"))),
        (many, _) => Err((
            "source",
            format!("external_id {external_id:?} belongs to {} leads; add a source column to say which", many.len()),
        )),
    }
}

fn parse_time(v: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if v.is_empty() {
        return Err("required (an RFC 3339 time such as 2024-05-01T14:30:00Z)".into());
    }
    let t = DateTime::parse_from_rfc3339(v)
        .map_err(|_| format!("{v:?} is not an RFC 3339 time (e.g. 2024-05-01T14:30:00-05:00)"))?
        .with_timezone(&Utc);
    if t > now + chrono::Duration::minutes(5) {
        return Err(format!("{v:?} is in the future"));
    }
    Ok(t)
}

fn lower_emails(columns: &Columns, chunk: &[(u64, csv::StringRecord)]) -> Vec<String> {
    let mut v: Vec<String> =
        chunk.iter().filter_map(|(_, r)| columns.opt(r, "lo_email")).map(str::to_lowercase).collect();
    v.sort();
    v.dedup();
    v
}

fn external_ids(columns: &Columns, chunk: &[(u64, csv::StringRecord)]) -> Vec<String> {
    let mut v: Vec<String> =
        chunk.iter().filter_map(|(_, r)| columns.opt(r, "external_id")).map(str::to_string).collect();
    v.sort();
    v.dedup();
    v
}

/// Why a row is bad: the column at fault (if one) and the reason.
type RowProblem = (Option<&'static str>, String);

/// Checks what every history row has: the right width, a known lead, a known LO. Returns (lead, lo id).
fn common_checks<'a>(
    columns: &Columns,
    ctx: &Reference,
    leads: &'a HashMap<String, Vec<(String, LeadRef)>>,
    row: &csv::StringRecord,
) -> Result<(&'a LeadRef, Option<Uuid>), RowProblem> {
    if row.len() > columns.width() && row.iter().skip(columns.width()).any(|v| !v.trim().is_empty()) {
        return Err((None, format!("{} fields but the header has {}", row.len(), columns.width())));
    }
    let external_id = columns.get(row, "external_id");
    if external_id.is_empty() {
        return Err((Some("external_id"), "required".into()));
    }
    let lead = match_lead(leads, external_id, columns.opt(row, "source")).map_err(|(c, m)| (Some(c), m))?;
    let lo = match columns.opt(row, "lo_email") {
        None => None,
        Some(e) => match ctx.users.get(&e.to_lowercase()) {
            Some(Some(id)) => Some(*id),
            _ => return Err((Some("lo_email"), format!("no user with email {e:?}"))),
        },
    };
    Ok((lead, lo))
}

#[allow(clippy::too_many_arguments)]
async fn stage_chunk(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&CurrentUser>,
    ctx: &mut Reference,
    columns: &Columns,
    chunk: &[(u64, csv::StringRecord)],
    now: DateTime<Utc>,
    write: bool,
    report: &mut ImportReport,
    touched: &mut HashSet<Uuid>,
) -> anyhow::Result<u64> {
    ctx.resolve_users(tx, lower_emails(columns, chunk)).await?;
    let leads = find_leads(tx, ctx, external_ids(columns, chunk)).await?;
    let (mut lead_ids, mut froms, mut tos, mut lo_ids, mut reasons, mut ats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (line, row) in chunk {
        let checked = common_checks(columns, ctx, &leads, row).and_then(|(lead, lo)| {
            let stage_kind = |key: &str| ctx.stages.get(&(lead.pipeline_id, key.to_string()));
            let unknown = |key: &str| format!("unknown stage {key:?} (stages: {})", ctx.stage_keys.join(", "));
            let from = columns.opt(row, "from_stage").map(str::to_lowercase);
            if let Some(f) = &from {
                if stage_kind(f).is_none() {
                    return Err((Some("from_stage"), unknown(f)));
                }
            }
            let to = columns.get(row, "to_stage").to_lowercase();
            let kind = match stage_kind(&to) {
                _ if to.is_empty() => return Err((Some("to_stage"), "required".into())),
                None => return Err((Some("to_stage"), unknown(&to))),
                Some(k) => k,
            };
            let at = parse_time(columns.get(row, "at"), now).map_err(|m| (Some("at"), m))?;
            let reason = columns.opt(row, "lost_reason").map(str::to_lowercase);
            match (&reason, kind.as_str()) {
                (None, "lost") => return Err((Some("lost_reason"), "required when to_stage is lost".into())),
                (Some(r), "lost") if !ctx.lost_reasons.contains(r) => {
                    let mut known: Vec<&String> = ctx.lost_reasons.iter().collect();
                    known.sort();
                    let known: Vec<&str> = known.into_iter().map(String::as_str).collect();
                    return Err((
                        Some("lost_reason"),
                        format!("unknown lost reason {r:?} (reasons: {})", known.join(", ")),
                    ));
                }
                (Some(_), k) if k != "lost" => {
                    return Err((Some("lost_reason"), "only a change to a lost stage has a lost reason".into()));
                }
                _ => {}
            }
            Ok((lead.id, from, to, lo, reason, at))
        });
        match checked {
            Ok((lead, from, to, lo, reason, at)) => {
                lead_ids.push(lead);
                froms.push(from);
                tos.push(to);
                lo_ids.push(lo);
                reasons.push(reason);
                ats.push(at);
            }
            Err((column, message)) => report.reject(*line, column, message),
        }
    }
    if !write || report.refused() || lead_ids.is_empty() {
        return Ok(lead_ids.len() as u64);
    }
    let changes: Vec<StageChange> = (0..lead_ids.len())
        .map(|i| StageChange {
            lead_id: lead_ids[i],
            from: froms[i].as_deref(),
            to: &tos[i],
            lo_id: lo_ids[i],
            lost_reason: reasons[i].as_deref(),
            origin: "import",
            at: ats[i],
            by: lo_ids[i],
            note: serde_json::Value::Null,
        })
        .collect();
    lifecycle::import_stage_history(tx, actor, &changes, now).await?;
    touched.extend(lead_ids.iter().copied());
    Ok(lead_ids.len() as u64)
}

#[allow(clippy::too_many_arguments)]
async fn activity_chunk(
    tx: &mut Transaction<'_, Postgres>,
    ctx: &mut Reference,
    columns: &Columns,
    chunk: &[(u64, csv::StringRecord)],
    now: DateTime<Utc>,
    write: bool,
    report: &mut ImportReport,
    touched: &mut HashSet<Uuid>,
) -> anyhow::Result<u64> {
    ctx.resolve_users(tx, lower_emails(columns, chunk)).await?;
    let leads = find_leads(tx, ctx, external_ids(columns, chunk)).await?;
    let mut lead_ids = Vec::new();
    let mut actors = Vec::new();
    let mut kinds = Vec::new();
    let mut directions = Vec::new();
    let mut outcomes = Vec::new();
    let mut talks = Vec::new();
    let mut bodies = Vec::new();
    let mut ats = Vec::new();
    for (line, row) in chunk {
        let checked = common_checks(columns, ctx, &leads, row).and_then(|(lead, lo)| {
            let kind = columns.get(row, "kind").to_lowercase();
            if kind.is_empty() {
                return Err((Some("kind"), "required".into()));
            }
            if !KINDS.contains(&kind.as_str()) {
                return Err((Some("kind"), format!("unknown kind {kind:?} (kinds: {})", KINDS.join(", "))));
            }
            let direction = columns.opt(row, "direction").map(str::to_lowercase);
            if let Some(d) = &direction {
                if !DIRECTIONS.contains(&d.as_str()) {
                    return Err((Some("direction"), format!("{d:?} is not inbound or outbound")));
                }
            }
            let outcome = columns.opt(row, "outcome").map(str::to_lowercase);
            if let Some(o) = &outcome {
                if kind != "call" {
                    return Err((Some("outcome"), "only calls have an outcome".into()));
                }
                if !OUTCOMES.contains(&o.as_str()) {
                    return Err((
                        Some("outcome"),
                        format!("unknown outcome {o:?} (outcomes: {})", OUTCOMES.join(", ")),
                    ));
                }
            }
            let talk = match columns.opt(row, "talk_seconds") {
                None => 0,
                Some(v) => match v.parse::<i32>() {
                    Ok(n) if (0..=86_400).contains(&n) => n,
                    _ => {
                        return Err((
                            Some("talk_seconds"),
                            format!("{v:?} is not a number of seconds from 0 to 86400"),
                        ));
                    }
                },
            };
            if talk > 0 && kind != "call" && kind != "meeting" {
                return Err((Some("talk_seconds"), "only calls and meetings have talk time".into()));
            }
            let at = parse_time(columns.get(row, "occurred_at"), now).map_err(|m| (Some("occurred_at"), m))?;
            if at < lead.created_at {
                return Err((
                    Some("occurred_at"),
                    format!(
                        "before the lead was created ({}); import its stage changes first",
                        lead.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
            let body = columns.get(row, "body");
            if body.chars().count() > MAX_BODY {
                return Err((Some("body"), format!("longer than {MAX_BODY} characters")));
            }
            Ok((lead.id, lo, kind, direction, outcome, talk, body.to_string(), at))
        });
        match checked {
            Ok((lead, lo, kind, direction, outcome, talk, body, at)) => {
                lead_ids.push(lead);
                actors.push(lo);
                kinds.push(kind);
                directions.push(direction);
                outcomes.push(outcome);
                talks.push(talk);
                bodies.push(body);
                ats.push(at);
            }
            Err((column, message)) => report.reject(*line, column, message),
        }
    }
    if !write || report.refused() || lead_ids.is_empty() {
        return Ok(lead_ids.len() as u64);
    }
    sqlx::query(
        "INSERT INTO activities (lead_id, actor_id, kind, direction, outcome, talk_seconds, body, occurred_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                              $8::timestamptz[])",
    )
    .bind(&lead_ids)
    .bind(&actors)
    .bind(&kinds)
    .bind(&directions)
    .bind(&outcomes)
    .bind(&talks)
    .bind(&bodies)
    .bind(&ats)
    .execute(&mut **tx)
    .await?;
    touched.extend(lead_ids.iter().copied());
    Ok(lead_ids.len() as u64)
}

/// first_call_at, first_contact_at and last_activity_at from each lead's activities.
async fn refresh_activity(tx: &mut Transaction<'_, Postgres>, leads: &[Uuid]) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE leads l SET first_call_at = a.first_call,
                first_contact_at = a.first_contact,
                last_activity_at = a.last_at,
                version = l.version + 1,
                updated_at = now()
         FROM (SELECT lead_id,
                      min(occurred_at) FILTER (WHERE kind = 'call') AS first_call,
                      min(occurred_at) FILTER (WHERE outcome = 'contacted') AS first_contact,
                      max(occurred_at) AS last_at
               FROM activities WHERE lead_id = ANY($1) GROUP BY lead_id) a
         WHERE l.id = a.lead_id",
        leads
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
