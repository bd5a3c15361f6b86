//! SQL for routing: rules, the locked rotation, candidates, decisions, assignments, offers and cadences.

use chrono::{DateTime, NaiveTime, Utc};
use sha2::Digest;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::model::{LeadFacts, RuleFilters, RuleInput, Slot};

/// A routing rule as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleRow {
    pub id: Uuid,
    pub position: i32,
    pub name: String,
    pub active: bool,
    pub sources: Vec<String>,
    pub campaigns: Vec<String>,
    pub states: Vec<String>,
    pub purposes: Vec<String>,
    pub min_amount_cents: Option<i64>,
    pub max_amount_cents: Option<i64>,
    pub credit_bands: Vec<String>,
    pub zip_prefixes: Vec<String>,
    pub team_ids: Vec<Uuid>,
    pub lo_ids: Vec<Uuid>,
    pub method: String,
    pub claim_minutes: i32,
    pub fallback_method: String,
    pub require_working_hours: bool,
    pub sla_minutes: i32,
    pub sla_action: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

impl RuleRow {
    pub fn filters(&self) -> RuleFilters {
        RuleFilters {
            sources: self.sources.clone(),
            campaigns: self.campaigns.clone(),
            states: self.states.clone(),
            purposes: self.purposes.clone(),
            min_amount_cents: self.min_amount_cents,
            max_amount_cents: self.max_amount_cents,
            credit_bands: self.credit_bands.clone(),
            zip_prefixes: self.zip_prefixes.clone(),
        }
    }
}

/// Every rule in order (active first by position).
pub async fn list_rules(db: &PgPool) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as!(
        RuleRow,
        "SELECT id, position, name, active, sources, campaigns, states, purposes, min_amount_cents, max_amount_cents,
                credit_bands, zip_prefixes, team_ids, lo_ids, method, claim_minutes, fallback_method,
                require_working_hours, sla_minutes, sla_action, version, created_at
         FROM routing_rules ORDER BY active DESC, position, created_at"
    )
    .fetch_all(db)
    .await
}

pub async fn active_rules(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<RuleRow>> {
    sqlx::query_as!(
        RuleRow,
        "SELECT id, position, name, active, sources, campaigns, states, purposes, min_amount_cents, max_amount_cents,
                credit_bands, zip_prefixes, team_ids, lo_ids, method, claim_minutes, fallback_method,
                require_working_hours, sla_minutes, sla_action, version, created_at
         FROM routing_rules WHERE active ORDER BY position, created_at"
    )
    .fetch_all(&mut **tx)
    .await
}

pub async fn find_rule<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    db: E,
    id: Uuid,
) -> sqlx::Result<Option<RuleRow>> {
    sqlx::query_as!(
        RuleRow,
        "SELECT id, position, name, active, sources, campaigns, states, purposes, min_amount_cents, max_amount_cents,
                credit_bands, zip_prefixes, team_ids, lo_ids, method, claim_minutes, fallback_method,
                require_working_hours, sla_minutes, sla_action, version, created_at
         FROM routing_rules WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Adds a rule (at the end of the list unless a position is given).
pub async fn insert_rule(tx: &mut Transaction<'_, Postgres>, id: Uuid, input: &RuleInput) -> sqlx::Result<()> {
    let position = match input.position {
        Some(p) => p,
        None => {
            sqlx::query_scalar!(r#"SELECT coalesce(max(position), 0) + 1 AS "p!" FROM routing_rules"#)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    sqlx::query!(
        "INSERT INTO routing_rules (id, position, name, sources, campaigns, states, purposes, min_amount_cents,
            max_amount_cents, credit_bands, zip_prefixes, team_ids, lo_ids, method, claim_minutes, fallback_method,
            require_working_hours, sla_minutes, sla_action)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        id,
        position,
        input.name,
        &input.sources,
        &input.campaigns,
        &input.states,
        &input.purposes,
        input.min_amount_cents,
        input.max_amount_cents,
        &input.credit_bands,
        &input.zip_prefixes,
        &input.team_ids,
        &input.lo_ids,
        input.method,
        input.claim_minutes,
        input.fallback_method,
        input.require_working_hours,
        input.sla_minutes,
        input.sla_action
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Saves an edited rule if it is still at `version`; false when someone changed it meanwhile.
pub async fn update_rule(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    version: i32,
    input: &RuleInput,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "UPDATE routing_rules SET position = coalesce($3, position), name = $4, sources = $5, campaigns = $6, states = $7,
            purposes = $8, min_amount_cents = $9, max_amount_cents = $10, credit_bands = $11, zip_prefixes = $12,
            team_ids = $13, lo_ids = $14, method = $15, claim_minutes = $16, fallback_method = $17,
            require_working_hours = $18, sla_minutes = $19, sla_action = $20, version = version + 1, updated_at = now()
         WHERE id = $1 AND version = $2",
        id,
        version,
        input.position,
        input.name,
        &input.sources,
        &input.campaigns,
        &input.states,
        &input.purposes,
        input.min_amount_cents,
        input.max_amount_cents,
        &input.credit_bands,
        &input.zip_prefixes,
        &input.team_ids,
        &input.lo_ids,
        input.method,
        input.claim_minutes,
        input.fallback_method,
        input.require_working_hours,
        input.sla_minutes,
        input.sla_action
    )
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The lead's routing facts, locked for the rest of the transaction so it is routed once.
#[derive(Debug, Clone)]
pub struct LeadRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub stage: String,
    pub source: String,
    pub campaign: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_call_at: Option<DateTime<Utc>>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl LeadRow {
    pub fn facts(&self) -> LeadFacts {
        LeadFacts {
            source: self.source.clone(),
            campaign: self.campaign.clone(),
            state: self.property_state.clone(),
            purpose: self.loan_purpose.clone(),
            amount_cents: self.loan_amount_cents,
            credit_band: self.credit_band.clone(),
            zip: self.property_zip.clone(),
        }
    }
    pub fn display_name(&self) -> String {
        let n = format!("{} {}", self.first_name.trim(), self.last_name.trim());
        if n.trim().is_empty() { "Lead".to_string() } else { n.trim().to_string() }
    }
}

pub async fn lock_lead(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<LeadRow>> {
    Ok(lock_leads(tx, &[id]).await?.pop())
}

/// An LO with what routing needs to judge them.
#[derive(Debug, Clone)]
pub struct CandidateRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub team_id: Option<Uuid>,
    pub licensed_states: Vec<String>,
    pub capacity: i32,
    pub status: String,
    pub work_start: NaiveTime,
    pub work_end: NaiveTime,
    pub work_days: Vec<i32>,
    pub timezone: String,
    pub routing_weight: i32,
    pub open_leads: i64,
}

/// LOs in the target (every active LO when `everyone`; otherwise members of `team_ids` and the named
/// `lo_ids`), with their open-lead counts. Inactive named LOs are listed so the decision can say why.
pub async fn candidates(
    tx: &mut Transaction<'_, Postgres>,
    everyone: bool,
    team_ids: &[Uuid],
    lo_ids: &[Uuid],
) -> sqlx::Result<Vec<CandidateRow>> {
    sqlx::query_as!(
        CandidateRow,
        r#"SELECT u.id, u.name, u.email, u.active, u.team_id, p.licensed_states, p.capacity, p.status,
                  p.work_start, p.work_end, p.work_days, p.timezone, p.routing_weight,
                  coalesce(o.open_leads, 0) AS "open_leads!"
           FROM users u JOIN lo_profiles p ON p.user_id = u.id LEFT JOIN lo_open_leads o ON o.lo_id = u.id
           WHERE u.originator
             AND (($1 AND u.active) OR u.team_id = ANY($2) OR u.id = ANY($3))
           ORDER BY u.id"#,
        everyone,
        team_ids,
        lo_ids
    )
    .fetch_all(&mut **tx)
    .await
}

/// Leads assigned and won per LO over the window, for performance weighting.
pub async fn performance(
    tx: &mut Transaction<'_, Postgres>,
    lo_ids: &[Uuid],
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<(Uuid, i64, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT a.to_lo_id AS "lo!", count(DISTINCT a.lead_id) AS "assigned!",
                  count(DISTINCT a.lead_id) FILTER (WHERE s.kind = 'won' AND l.assigned_lo_id = a.to_lo_id) AS "won!"
           FROM assignments a JOIN leads l ON l.id = a.lead_id
           JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
           WHERE a.to_lo_id = ANY($1) AND a.created_at >= $2
           GROUP BY a.to_lo_id"#,
        lo_ids,
        since
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.lo, r.assigned, r.won)).collect())
}

/// The LO of the most recent other lead with the same email or phone, if that LO is an active LO.
pub async fn returning_borrower_lo(
    tx: &mut Transaction<'_, Postgres>,
    lead_id: Uuid,
    email: Option<&str>,
    phone: Option<&str>,
) -> sqlx::Result<Option<Uuid>> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    let phone = phone.map(str::trim).filter(|p| !p.is_empty());
    if email.is_none() && phone.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar!(
        // Matches come from the email and phone indexes first (materialised), never from a walk of all leads.
        r#"WITH m AS MATERIALIZED (
             SELECT l.assigned_lo_id, l.created_at FROM leads l
             WHERE l.id <> $1 AND l.assigned_lo_id IS NOT NULL
               AND ((l.email IS NOT NULL AND lower(l.email) = lower($2) AND $2 IS NOT NULL)
                    OR (l.phone IS NOT NULL AND l.phone = $3 AND $3 IS NOT NULL)))
           SELECT m.assigned_lo_id AS "lo!" FROM m JOIN users u ON u.id = m.assigned_lo_id
           WHERE u.active AND u.originator ORDER BY m.created_at DESC LIMIT 1"#,
        lead_id,
        email,
        phone
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Takes the rotation's row lock (creating the row on first use) and returns its decision count.
pub async fn lock_position(tx: &mut Transaction<'_, Postgres>, key: &str) -> sqlx::Result<i64> {
    // One round trip: the upsert creates the row on first use and row-locks it either way.
    sqlx::query_scalar!(
        "INSERT INTO rule_positions (rule_key) VALUES ($1)
         ON CONFLICT (rule_key) DO UPDATE SET seq = rule_positions.seq RETURNING seq",
        key
    )
    .fetch_one(&mut **tx)
    .await
}

/// Recounts every LO's open leads (after a bulk load that ran with triggers off).
pub async fn rebuild_open_counts(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query!("SELECT lo_open_leads_rebuild()").execute(db).await?;
    Ok(())
}

/// Takes every rotation's row lock, in key order. Transactions that route many leads call this first, so they
/// hold the rotations before any per-LO open-lead count (see migration 0012 on lock order).
pub async fn lock_all_rotations(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<()> {
    sqlx::query!("SELECT rule_key FROM rule_positions ORDER BY rule_key FOR UPDATE").fetch_all(&mut **tx).await?;
    Ok(())
}

/// Stored rotation state for these LOs: (lo, credit, last_seq, era_assigned, last_assigned_seq).
pub async fn counters(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    lo_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, i64, i64, i64, i64)>> {
    let rows = sqlx::query!(
        "SELECT lo_id, credit, last_seq, era_assigned, last_assigned_seq FROM routing_counters
         WHERE rule_key = $1 AND lo_id = ANY($2)",
        key,
        lo_ids
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.lo_id, r.credit, r.last_seq, r.era_assigned, r.last_assigned_seq)).collect())
}

/// Saves one turn: every eligible LO's credit, the chosen LO's count, and the rotation's new position.
pub async fn save_turn(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    seq: i64,
    slots: &[Slot],
    chosen: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = slots.iter().map(|s| s.lo_id).collect();
    let credits: Vec<i64> = slots.iter().map(|s| s.credit).collect();
    let eras: Vec<i64> = slots.iter().map(|s| s.era).collect();
    let last_assigned: Vec<i64> = slots.iter().map(|s| s.last_assigned).collect();
    // One round trip (it runs under the rotation lock).
    sqlx::query!(
        "WITH credits AS (
             INSERT INTO routing_counters (rule_key, lo_id, credit, assigned, last_seq, era_assigned, last_assigned_seq)
             SELECT $1, t.lo, t.credit, CASE WHEN t.lo = $4 THEN 1 ELSE 0 END, $5, t.era, t.last_assigned
             FROM unnest($2::uuid[], $3::bigint[], $7::bigint[], $8::bigint[]) AS t(lo, credit, era, last_assigned)
             ON CONFLICT (rule_key, lo_id) DO UPDATE
               SET credit = EXCLUDED.credit, last_seq = EXCLUDED.last_seq, era_assigned = EXCLUDED.era_assigned,
                   last_assigned_seq = EXCLUDED.last_assigned_seq,
                   assigned = routing_counters.assigned + EXCLUDED.assigned)
         UPDATE rule_positions SET seq = $5, last_lo_id = $4, updated_at = $6 WHERE rule_key = $1",
        key,
        &ids,
        &credits,
        chosen,
        seq,
        now,
        &eras,
        &last_assigned
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub struct NewDecision<'a> {
    pub lead_id: Uuid,
    pub rule_id: Option<Uuid>,
    pub rule_name: &'a str,
    pub method: &'a str,
    pub trigger: &'a str,
    pub outcome: &'a str,
    pub chosen_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub candidates: super::distribute::CandidateRecords,
    pub summary: &'a str,
    pub now: DateTime<Utc>,
}

/// A stored decision, for the lead page, the API and the routing log.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = RoutingDecision)]
pub struct DecisionRow {
    pub id: i64,
    pub lead_id: Uuid,
    /// The rule that decided (null: no rule matched, and the default round robin decided).
    pub rule_id: Option<Uuid>,
    pub rule_name: String,
    /// How the rule chooses among its loan officers.
    pub method: String,
    /// What routed the lead: `new_lead`, `sla`, `handover` or `claim_expired`.
    pub trigger: String,
    /// `assigned`, `offered` or `queued`.
    pub outcome: String,
    pub chosen_lo_id: Option<Uuid>,
    pub chosen_lo_name: Option<String>,
    pub team_id: Option<Uuid>,
    /// The loan officers considered, as judged at the time: `lo_id`, `name`, `email` (as the user has them
    /// now), `eligible`, `chosen`, `reasons` (why not, in words), `codes`, `weight`, `open_leads`, `capacity`,
    /// `status`. Decisions recorded by earlier versions may lack some of these.
    #[schema(value_type = Vec<Object>)]
    pub candidates: serde_json::Value,
    /// The decision in a sentence.
    pub summary: String,
    pub created_at: DateTime<Utc>,
}

pub async fn decisions_for_lead(db: &PgPool, lead_id: Uuid) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query_as!(
        DecisionRow,
        r#"SELECT d.id, d.lead_id, d.rule_id, d.rule_name, d.method, d.trigger, d.outcome, d.chosen_lo_id,
                  u.name AS "chosen_lo_name?", d.team_id, routing_candidates(d.candidates) AS "candidates!", d.summary, d.created_at
           FROM routing_decisions d LEFT JOIN users u ON u.id = d.chosen_lo_id
           WHERE d.lead_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 20"#,
        lead_id
    )
    .fetch_all(db)
    .await
}

/// The routing log, newest first, keyset-paginated on id.
pub async fn recent_decisions(
    db: &PgPool,
    before: Option<i64>,
    outcome: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<DecisionRow>> {
    sqlx::query_as!(
        DecisionRow,
        r#"SELECT d.id, d.lead_id, d.rule_id, d.rule_name, d.method, d.trigger, d.outcome, d.chosen_lo_id,
                  u.name AS "chosen_lo_name?", d.team_id, routing_candidates(d.candidates) AS "candidates!", d.summary, d.created_at
           FROM routing_decisions d LEFT JOIN users u ON u.id = d.chosen_lo_id
           WHERE ($1::bigint IS NULL OR d.id < $1) AND ($2::text IS NULL OR d.outcome = $2)
           ORDER BY d.id DESC LIMIT $3"#,
        before,
        outcome,
        limit
    )
    .fetch_all(db)
    .await
}

/// One line of a lead's assignment history.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AssignmentHistoryRow)]
pub struct HistoryRow {
    pub id: i64,
    pub from_name: Option<String>,
    pub to_name: Option<String>,
    pub to_team_name: Option<String>,
    pub actor_name: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

pub async fn history(db: &PgPool, lead_id: Uuid) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        r#"SELECT a.id, f.name AS "from_name?", t.name AS "to_name?", tm.name AS "to_team_name?",
                  ac.name AS "actor_name?", a.reason, a.created_at
           FROM assignments a
           LEFT JOIN users f ON f.id = a.from_lo_id
           LEFT JOIN users t ON t.id = a.to_lo_id
           LEFT JOIN teams tm ON tm.id = a.to_team_id
           LEFT JOIN users ac ON ac.id = a.actor_id
           WHERE a.lead_id = $1 ORDER BY a.created_at DESC, a.id DESC LIMIT 50"#,
        lead_id
    )
    .fetch_all(db)
    .await
}

/// Who hears about a lead that needs a person: the team's managers, or every active manager when the lead
/// has no team or the team has none.
/// Leads within `scope` whose speed-to-lead SLA ran out without a call between `from` and `to`: reassigned by
/// the rule (a routing decision triggered by the SLA) or escalated to the managers.
pub async fn sla_misses(
    db: &PgPool,
    scope: &crate::auth::Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let mut qb = sqlx::QueryBuilder::<Postgres>::new(
        "SELECT count(DISTINCT x.lead_id)
         FROM (SELECT d.lead_id FROM routing_decisions d WHERE d.trigger = 'sla' AND d.created_at >= ",
    );
    qb.push_bind(from).push(" AND d.created_at < ").push_bind(to);
    qb.push(
        " UNION ALL SELECT a.entity_id::uuid FROM audit_log a WHERE a.action = 'lead.sla_escalated' AND a.created_at >= ",
    );
    qb.push_bind(from).push(" AND a.created_at < ").push_bind(to);
    qb.push(") x JOIN leads l ON l.id = x.lead_id WHERE true");
    scope.push_lead_predicate(&mut qb, "l");
    qb.build_query_scalar().fetch_one(db).await
}

pub async fn managers_for(tx: &mut Transaction<'_, Postgres>, team: Option<Uuid>) -> sqlx::Result<Vec<Uuid>> {
    let mut ids =
        match team {
            Some(t) => sqlx::query_scalar!(
                "SELECT u.id FROM team_managers m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 AND u.active",
                t
            )
            .fetch_all(&mut **tx)
            .await?,
            None => vec![],
        };
    if ids.is_empty() {
        ids = sqlx::query_scalar!("SELECT id FROM users WHERE role = 'manager' AND active ORDER BY id")
            .fetch_all(&mut **tx)
            .await?;
    }
    Ok(ids)
}

/// A user by id, as a routing target or actor.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoRef {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub team_id: Option<Uuid>,
    pub licensed_states: Option<Vec<String>>,
}

pub async fn lo_by_id<'e, E: sqlx::Executor<'e, Database = Postgres>>(db: E, id: Uuid) -> sqlx::Result<Option<LoRef>> {
    sqlx::query_as!(
        LoRef,
        r#"SELECT u.id, u.email, u.name, u.role, u.active, u.team_id, p.licensed_states AS "licensed_states?"
           FROM users u LEFT JOIN lo_profiles p ON p.user_id = u.id WHERE u.id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn lo_by_email<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    db: E,
    email: &str,
) -> sqlx::Result<Option<LoRef>> {
    sqlx::query_as!(
        LoRef,
        r#"SELECT u.id, u.email, u.name, u.role, u.active, u.team_id, p.licensed_states AS "licensed_states?"
           FROM users u LEFT JOIN lo_profiles p ON p.user_id = u.id WHERE lower(u.email) = lower($1)"#,
        email.trim()
    )
    .fetch_optional(db)
    .await
}

/// A JSON setting, if present.
pub async fn setting<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    db: E,
    key: &str,
) -> sqlx::Result<Option<serde_json::Value>> {
    sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", key).fetch_optional(db).await
}

/// One LO's line on the availability board.
pub struct BoardRow {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub capacity: i32,
    pub open_leads: i64,
    pub new_waiting: i64,
    pub oldest_uncontacted: Option<chrono::DateTime<chrono::Utc>>,
    pub cadence_due: i64,
    pub cadence_done: i64,
    pub cadence_overdue: i64,
}

/// The availability board: every active LO in scope with status, capacity used (from `lo_open_leads`), new
/// leads waiting for a first contact, the oldest of them, and cadence compliance over 30 days.
pub async fn availability_board(
    db: &PgPool,
    scope: &crate::auth::Scope,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<BoardRow>> {
    let (all, lo, teams) = scope.roster_binds();
    let rows = sqlx::query!(
        r#"SELECT u.id, u.name, p.status, p.capacity, coalesce(o.open_leads, 0) AS "open_leads!",
             (SELECT count(*) FROM leads l WHERE l.assigned_lo_id = u.id AND l.stage = 'new' AND l.first_contact_at IS NULL) AS "new_waiting!",
             (SELECT min(l.assigned_at) FROM leads l WHERE l.assigned_lo_id = u.id AND l.stage = 'new' AND l.first_contact_at IS NULL) AS oldest,
             (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id AND t.kind = 'cadence' AND t.due_at <= $4 AND t.due_at > $4 - interval '30 days') AS "due!",
             (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id AND t.kind = 'cadence' AND t.due_at <= $4 AND t.due_at > $4 - interval '30 days' AND t.done_at IS NOT NULL) AS "done!",
             (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id AND t.kind = 'cadence' AND t.done_at IS NULL AND t.due_at < $4 - interval '1 hour') AS "overdue!"
           FROM users u JOIN lo_profiles p ON p.user_id = u.id LEFT JOIN lo_open_leads o ON o.lo_id = u.id
           WHERE u.originator AND u.active AND ($1 OR u.id = $2 OR u.team_id = ANY($3))
           ORDER BY u.name"#,
        all,
        lo,
        &teams,
        now
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| BoardRow {
            id: r.id,
            name: r.name,
            status: r.status,
            capacity: r.capacity,
            open_leads: r.open_leads,
            new_waiting: r.new_waiting,
            oldest_uncontacted: r.oldest,
            cadence_due: r.due,
            cadence_done: r.done,
            cadence_overdue: r.overdue,
        })
        .collect())
}

/// Leads waiting without an LO in the caller's queues (their teams', and the organisation's for admins).
pub async fn queue_waiting(db: &PgPool, scope: &crate::auth::Scope) -> sqlx::Result<i64> {
    let (all, teams, queue) = scope.queue_binds();
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM leads l WHERE l.assigned_lo_id IS NULL
             AND ($1 OR l.team_id = ANY($2) OR ($3 AND l.team_id IS NULL))"#,
        all,
        &teams,
        queue
    )
    .fetch_one(db)
    .await
}

/// These leads' routing facts, each locked for the rest of the transaction (in id order), as [`lock_lead`].
pub async fn lock_leads(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid]) -> sqlx::Result<Vec<LeadRow>> {
    sqlx::query_as!(
        LeadRow,
        "SELECT id, first_name, last_name, email, phone, stage, source, campaign, property_state, property_zip,
                loan_purpose, loan_amount_cents, credit_band, assigned_lo_id, team_id, assigned_at, first_call_at,
                first_contact_at, version
         FROM leads WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        ids
    )
    .fetch_all(&mut **tx)
    .await
}

/// Those of these leads that have been through routing before (assigned, queued or offered).
pub async fn decided(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(r#"SELECT DISTINCT lead_id AS "id!" FROM routing_decisions WHERE lead_id = ANY($1)"#, ids)
        .fetch_all(&mut **tx)
        .await
}

/// One LO's place in a rotation after a batch of turns: the values [`save_turn`] would have left, and how many
/// leads the batch gave them.
pub struct TurnState {
    pub lo_id: Uuid,
    pub credit: i64,
    pub last_seq: i64,
    pub era: i64,
    pub last_assigned: i64,
    pub assigned: i64,
}

/// Saves a batch of turns of one rotation at once: every LO that took part (as [`save_turn`] leaves them after
/// the last turn each took part in), their leads added up, and the rotation's new position.
pub async fn save_turns(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    seq: i64,
    last_lo: Uuid,
    officers: &[TurnState],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = officers.iter().map(|s| s.lo_id).collect();
    let credits: Vec<i64> = officers.iter().map(|s| s.credit).collect();
    let last_seqs: Vec<i64> = officers.iter().map(|s| s.last_seq).collect();
    let eras: Vec<i64> = officers.iter().map(|s| s.era).collect();
    let last_assigned: Vec<i64> = officers.iter().map(|s| s.last_assigned).collect();
    let assigned: Vec<i64> = officers.iter().map(|s| s.assigned).collect();
    sqlx::query!(
        "WITH credits AS (
             INSERT INTO routing_counters (rule_key, lo_id, credit, assigned, last_seq, era_assigned, last_assigned_seq)
             SELECT $1, t.lo, t.credit, t.assigned, t.last_seq, t.era, t.last_assigned
             FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
                  AS t(lo, credit, last_seq, era, last_assigned, assigned)
             ON CONFLICT (rule_key, lo_id) DO UPDATE
               SET credit = EXCLUDED.credit, last_seq = EXCLUDED.last_seq, era_assigned = EXCLUDED.era_assigned,
                   last_assigned_seq = EXCLUDED.last_assigned_seq,
                   assigned = routing_counters.assigned + EXCLUDED.assigned)
         UPDATE rule_positions SET seq = $8, last_lo_id = $9, updated_at = $10 WHERE rule_key = $1",
        key,
        &ids,
        &credits,
        &last_seqs,
        &eras,
        &last_assigned,
        &assigned,
        seq,
        last_lo,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores decisions in one statement (one, or a batch of new leads), each distinct roster once
/// (`routing_rosters`, named by the SHA-256 of its text: a roster stored before, by this instance or another,
/// is kept as it is).
pub async fn insert_decisions(tx: &mut Transaction<'_, Postgres>, ds: Vec<NewDecision<'_>>) -> sqlx::Result<()> {
    if ds.is_empty() {
        return Ok(());
    }
    let encode = |e: serde_json::Error| sqlx::Error::Encode(e.into());
    // The decisions of a rotation share their roster: each distinct one serialised and hashed once.
    let (mut roster_ids, mut roster_bodies, mut candidates) = (Vec::<String>::new(), Vec::<String>::new(), Vec::new());
    // `seen[i]` is stored under `roster_ids[i]`.
    let mut seen: Vec<&super::distribute::Roster> = Vec::new();
    for d in &ds {
        let at = match seen.iter().position(|r| **r == d.candidates.roster) {
            Some(at) => at,
            None => {
                let body = serde_json::to_string(&d.candidates.roster).map_err(encode)?;
                roster_ids.push(hex::encode(sha2::Sha256::digest(body.as_bytes())));
                roster_bodies.push(body);
                seen.push(&d.candidates.roster);
                seen.len() - 1
            }
        };
        candidates.push(d.candidates.stored(&roster_ids[at]).map_err(encode)?);
    }
    let col = |f: fn(&NewDecision<'_>) -> String| ds.iter().map(f).collect::<Vec<String>>();
    let leads: Vec<Uuid> = ds.iter().map(|d| d.lead_id).collect();
    let rules: Vec<Option<Uuid>> = ds.iter().map(|d| d.rule_id).collect();
    let chosen: Vec<Option<Uuid>> = ds.iter().map(|d| d.chosen_lo_id).collect();
    let teams: Vec<Option<Uuid>> = ds.iter().map(|d| d.team_id).collect();
    let ats: Vec<DateTime<Utc>> = ds.iter().map(|d| d.now).collect();
    let (names, methods, triggers) = (col(|d| d.rule_name.into()), col(|d| d.method.into()), col(|d| d.trigger.into()));
    let (outcomes, summaries) = (col(|d| d.outcome.into()), col(|d| d.summary.into()));
    // Texts, checked as JSON by the casts (the columns are `json`, migrations 0065 and 0070).
    sqlx::query!(
        "WITH rosters AS (
           INSERT INTO routing_rosters (id, body) SELECT i, b::json FROM UNNEST($12::text[], $13::text[]) AS r(i, b)
           ON CONFLICT (id) DO NOTHING)
         INSERT INTO routing_decisions (lead_id, rule_id, rule_name, method, trigger, outcome, chosen_lo_id, team_id,
                                        candidates, summary, created_at)
         SELECT l, r, n, m, t, o, c, tm, cs::json, s, a
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[],
                     $8::uuid[], $9::text[], $10::text[], $11::timestamptz[]) AS x(l, r, n, m, t, o, c, tm, cs, s, a)",
        &leads,
        &rules as &[Option<Uuid>],
        &names,
        &methods,
        &triggers,
        &outcomes,
        &chosen as &[Option<Uuid>],
        &teams as &[Option<Uuid>],
        &candidates,
        &summaries,
        &ats,
        &roster_ids,
        &roster_bodies
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
