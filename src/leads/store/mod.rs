//! SQL for leads. Other capabilities read leads only through the scoped functions here.
//!
//! Every write runs in one transaction with its audit entry; every edit checks the version it was based on
//! (under a row lock), so a stale edit is refused instead of silently overwriting a colleague's change.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::model::{self, LeadDraft, LeadFields, QueueReason, StageDef};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::events::Event;
use crate::state::AppState;

/// The default mortgage pipeline (migration 0003).
pub const DEFAULT_PIPELINE: Uuid = Uuid::from_u128(1);

/// The fields other capabilities need about a lead (routing, escalations, metrics drill-downs).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeadSummary {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub stage: String,
    pub property_state: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub source: String,
    pub assigned_lo_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub version: i32,
}

/// A lead the user may see, or NotFound (no existence leak) — the scoping rule applied to one record.
pub async fn visible_lead(db: &sqlx::PgPool, user: &CurrentUser, id: Uuid) -> AppResult<LeadSummary> {
    let lead = sqlx::query_as!(
        LeadSummary,
        "SELECT id, first_name, last_name, stage, property_state, loan_purpose, loan_amount_cents, credit_band, source,
                assigned_lo_id, team_id, version
         FROM leads WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    if !user.scope().allows_lead(lead.assigned_lo_id, lead.team_id) {
        crate::audit::record_event(db, Some(user.id), "access_refused", &format!("lead {id}")).await;
        return Err(AppError::NotFound);
    }
    Ok(lead)
}

/// The whole lead, with its assigned LO's name.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Lead {
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub stage: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub property_state: Option<String>,
    pub property_zip: Option<String>,
    pub loan_purpose: Option<String>,
    pub loan_amount_cents: Option<i64>,
    pub property_value_cents: Option<i64>,
    pub credit_band: Option<String>,
    pub occupancy: Option<String>,
    pub property_type: Option<String>,
    pub rate_quoted_milli: Option<i32>,
    pub source: String,
    pub campaign: Option<String>,
    pub vendor: Option<String>,
    pub cost_cents: i64,
    pub external_id: Option<String>,
    /// The LOS loan number (unique among leads).
    pub loan_number: Option<String>,
    /// The portfolio loan number of the past client who referred the borrower.
    pub referred_by_loan_number: Option<String>,
    /// The referral partner who sent the borrower, and the partner's company.
    pub referral_partner_id: Option<Uuid>,
    pub referral_partner: Option<String>,
    pub assigned_lo_id: Option<Uuid>,
    pub assigned_lo_name: Option<String>,
    pub assigned_lo_email: Option<String>,
    pub team_id: Option<Uuid>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    pub duplicate_of: Option<Uuid>,
    pub first_call_at: Option<DateTime<Utc>>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub stage_changed_at: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const LEAD_SELECT: &str = "SELECT l.id, l.pipeline_id, l.stage, l.first_name, l.last_name, l.email, l.phone,
    l.property_state, l.property_zip, l.loan_purpose, l.loan_amount_cents, l.property_value_cents, l.credit_band,
    l.occupancy, l.property_type, (l.rate_quoted * 1000)::int4 AS rate_quoted_milli, l.source, l.campaign, l.vendor,
    l.cost_cents, l.external_id, l.loan_number,
    CASE WHEN l.referred_by_loan_id IS NOT NULL
         THEN (SELECT rp.loan_number FROM portfolio_loans rp WHERE rp.id = l.referred_by_loan_id) END
        AS referred_by_loan_number,
    l.referral_partner_id,
    CASE WHEN l.referral_partner_id IS NOT NULL
         THEN (SELECT p.company FROM referral_partners p WHERE p.id = l.referral_partner_id) END AS referral_partner,
    l.assigned_lo_id, u.name AS assigned_lo_name, u.email AS assigned_lo_email,
    l.team_id, l.assigned_at, l.lost_reason, l.duplicate_of, l.first_call_at, l.first_contact_at,
    l.last_activity_at, l.stage_changed_at, l.version, l.created_at, l.updated_at
    FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id";

impl Lead {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_string()
    }
    pub fn ltv_bps(&self) -> Option<i64> {
        model::ltv_bps(self.loan_amount_cents, self.property_value_cents)
    }
    /// The lead as an editable draft (what the edit form and PATCH start from).
    pub fn draft(&self) -> LeadDraft {
        let dollars = |c: Option<i64>| {
            c.map(|c| if c % 100 == 0 { (c / 100).to_string() } else { format!("{}.{:02}", c / 100, c % 100) })
                .unwrap_or_default()
        };
        LeadDraft {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone().unwrap_or_default(),
            phone: self.phone.clone().unwrap_or_default(),
            property_state: self.property_state.clone().unwrap_or_default(),
            property_zip: self.property_zip.clone().unwrap_or_default(),
            loan_purpose: self.loan_purpose.clone().unwrap_or_default(),
            loan_amount: dollars(self.loan_amount_cents),
            property_value: dollars(self.property_value_cents),
            credit_band: self.credit_band.clone().unwrap_or_default(),
            occupancy: self.occupancy.clone().unwrap_or_default(),
            property_type: self.property_type.clone().unwrap_or_default(),
            rate_quoted: self.rate_quoted_milli.map(model::format_rate).unwrap_or_default(),
            source: self.source.clone(),
            campaign: self.campaign.clone().unwrap_or_default(),
            vendor: self.vendor.clone().unwrap_or_default(),
            cost_cents: self.cost_cents.to_string(),
            external_id: self.external_id.clone().unwrap_or_default(),
            loan_number: self.loan_number.clone().unwrap_or_default(),
            referred_by_loan_number: self.referred_by_loan_number.clone().unwrap_or_default(),
            referral_partner_id: self.referral_partner_id.map(|p| p.to_string()).unwrap_or_default(),
            ..Default::default()
        }
    }
    /// The API representation (`*_cents` money, rate as a decimal percent, RFC 3339 times): [`LeadView`].
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.view()).unwrap_or_default()
    }
}

async fn fetch_lead<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    db: E,
    id: Uuid,
    for_update: bool,
) -> sqlx::Result<Option<Lead>> {
    let sql = format!("{LEAD_SELECT} WHERE l.id = $1{}", if for_update { " FOR UPDATE OF l" } else { "" });
    sqlx::query_as::<_, Lead>(&sql).bind(id).fetch_optional(db).await
}

/// The whole lead if the user may see it; NotFound otherwise (and the refusal is audited).
pub async fn lead(db: &sqlx::PgPool, user: &CurrentUser, id: Uuid) -> AppResult<Lead> {
    let lead = fetch_lead(db, id, false).await?.ok_or(AppError::NotFound)?;
    if !user.scope().allows_lead(lead.assigned_lo_id, lead.team_id) {
        crate::audit::record_event(db, Some(user.id), "access_refused", &format!("lead {id}")).await;
        return Err(AppError::NotFound);
    }
    Ok(lead)
}

/// The lead for a write: locked for the rest of the transaction, scoped, NotFound when out of scope.
async fn lock_lead(tx: &mut Transaction<'_, Postgres>, user: &CurrentUser, id: Uuid) -> AppResult<Lead> {
    let lead = fetch_lead(&mut **tx, id, true).await?.ok_or(AppError::NotFound)?;
    if !user.scope().allows_lead(lead.assigned_lo_id, lead.team_id) {
        return Err(AppError::NotFound);
    }
    Ok(lead)
}

/// The stages of a pipeline, in order.
pub async fn stages(db: &sqlx::PgPool, pipeline_id: Uuid) -> sqlx::Result<Vec<StageDef>> {
    sqlx::query_as!(
        StageDef,
        "SELECT key, label, position, kind, stale_after_days FROM stages WHERE pipeline_id = $1 ORDER BY position",
        pipeline_id
    )
    .fetch_all(db)
    .await
}

/// Pipeline stage lists for list filters, kept up to a minute (an admin's edit clears this instance's copy at
/// once; other instances pick it up within the minute). Kept in the state's extensions.
struct StageLists(moka::future::Cache<Uuid, std::sync::Arc<Vec<StageDef>>>);

fn stage_lists(state: &AppState) -> std::sync::Arc<StageLists> {
    state.extensions.get_or_insert_with(|| {
        StageLists(
            moka::future::Cache::builder().max_capacity(64).time_to_live(std::time::Duration::from_secs(60)).build(),
        )
    })
}

/// The pipeline's stages for list filters and boards, from this instance's copy of at most a minute ago.
pub async fn stage_list(state: &AppState, pipeline_id: Uuid) -> AppResult<std::sync::Arc<Vec<StageDef>>> {
    stage_lists(state)
        .0
        .try_get_with(pipeline_id, async { stages(&state.db, pipeline_id).await.map(std::sync::Arc::new) })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("loading the pipeline's stages: {e}")))
}

/// Records the consent a lead arrived or was edited with (TCPA evidence), in the caller's transaction.
async fn insert_consent(tx: &mut Transaction<'_, Postgres>, lead: Uuid, c: &model::Consent) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO lead_consents (lead_id, channel, consent_text, captured_at, source_page, token)
         VALUES ($1, $2, $3, $4, $5, $6)",
        lead,
        c.channel,
        c.text,
        c.captured_at,
        c.source_page,
        c.token
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The outcome of an edit based on a version.
#[derive(Debug)]
pub enum Saved {
    Ok(Box<Lead>),
    /// Someone else changed the lead first: the current record, for showing next to the attempted change.
    Stale(Box<Lead>),
}

/// Saves an edit of the lead's fields, if `version` is still current.
pub async fn update_lead(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    version: i32,
    fields: &LeadFields,
) -> AppResult<Saved> {
    let mut tx = state.db.begin().await?;
    let before = lock_lead(&mut tx, user, id).await?;
    if before.version != version {
        return Ok(Saved::Stale(Box::new(before)));
    }
    if fields.loan_number.is_some() && fields.loan_number != before.loan_number {
        loan_number_free(&mut tx, user, fields.loan_number.as_deref().unwrap_or_default(), Some(id)).await?;
    }
    crate::leads::partners::check_for_lead(&mut tx, fields.referral_partner_id, before.referral_partner_id).await?;
    let r = sqlx::query!(
        "UPDATE leads SET first_name = $2, last_name = $3, email = $4, phone = $5, property_state = $6,
             property_zip = $7, loan_purpose = $8, loan_amount_cents = $9, property_value_cents = $10,
             credit_band = $11, occupancy = $12, property_type = $13, rate_quoted = ($14::int4 / 1000.0),
             source = $15, campaign = $16, vendor = $17, cost_cents = $18, external_id = $19,
             loan_number = $21, referral_partner_id = $22, version = version + 1, updated_at = $20
         WHERE id = $1",
        id,
        fields.first_name,
        fields.last_name,
        fields.email,
        fields.phone,
        fields.property_state,
        fields.property_zip,
        fields.loan_purpose,
        fields.loan_amount_cents,
        fields.property_value_cents,
        fields.credit_band,
        fields.occupancy,
        fields.property_type,
        fields.rate_quoted_milli,
        fields.source,
        fields.campaign,
        fields.vendor,
        fields.cost_cents,
        fields.external_id,
        state.clock.now(),
        fields.loan_number,
        fields.referral_partner_id
    )
    .execute(&mut *tx)
    .await;
    if let Err(e) = r {
        return Err(crate::error::on_constraint(
            e,
            &[
                ("leads_source_external_idx", || {
                    AppError::invalid("external_id", "another lead from this source has this external id")
                }),
                // Another request set the same loan number between the check above and this write.
                ("leads_loan_number_idx", || loan_number_taken(None)),
            ],
        ));
    }
    if fields.referred_by_loan_number != before.referred_by_loan_number {
        let referred = Event::LeadReferred {
            lead_id: id,
            loan_number: fields.referred_by_loan_number.as_deref(),
            actor: Some(user),
        };
        crate::events::emit(&mut tx, referred).await?;
    }
    if let Some(c) = &fields.consent {
        insert_consent(&mut tx, id, c).await?;
    }
    let opt_outs: Vec<(Uuid, String)> = fields.opt_outs.iter().map(|c| (id, c.clone())).collect();
    record_opt_outs(&mut tx, &opt_outs, state.clock.now()).await?;
    Entry::new(Some(user), "update", "lead", id).before(before.draft()).after(fields).write(&mut *tx).await?;
    let after = fetch_lead(&mut *tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Saved::Ok(Box::new(after)))
}

/// The 409 for a loan number that is already on another lead: that lead's name and id when the caller may see
/// it, nothing about it otherwise.
fn loan_number_taken(other: Option<(Uuid, String)>) -> AppError {
    match other {
        Some((id, name)) => AppError::Taken {
            field: "loan_number",
            message: format!("This loan number is already on the lead of {name} (/leads/{id}); a loan has one lead."),
            other: Some(serde_json::json!({ "id": id, "name": name })),
        },
        None => AppError::Taken {
            field: "loan_number",
            message: "This loan number is already on another lead.".into(),
            other: None,
        },
    }
}

/// Refuses a loan number another lead already has (`leads_loan_number_idx`), naming that lead only through
/// the caller's scope.
async fn loan_number_free(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    loan_number: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    let other = sqlx::query!(
        "SELECT id, first_name, last_name, assigned_lo_id, team_id FROM leads
         WHERE loan_number = $1 AND id IS DISTINCT FROM $2",
        loan_number,
        except
    )
    .fetch_optional(&mut **tx)
    .await?;
    let Some(o) = other else { return Ok(()) };
    let shown = user.scope().allows_lead(o.assigned_lo_id, o.team_id);
    let name = format!("{} {}", o.first_name, o.last_name).trim().to_string();
    Err(loan_number_taken(shown.then_some((o.id, name))))
}

/// Moves a lead to another stage (a `lost` move needs a reason), recording the fact.
pub async fn change_stage(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    version: i32,
    to: &str,
    lost_reason: Option<&str>,
) -> AppResult<Saved> {
    let mut tx = state.db.begin().await?;
    let before = lock_lead(&mut tx, user, id).await?;
    let stage_list = stages(&state.db, before.pipeline_id).await?;
    let reasons: Vec<String> = lost_reasons(&state.db).await?.into_iter().map(|(k, _)| k).collect();
    model::check_transition(&stage_list, &before.stage, to, lost_reason, &reasons).map_err(AppError::Validation)?;
    if before.version != version {
        return Ok(Saved::Stale(Box::new(before)));
    }
    let is_lost = stage_list.iter().any(|s| s.key == to && s.kind == "lost");
    let reason = if is_lost { lost_reason.map(str::trim) } else { None };
    let now = state.clock.now();
    let change = super::lifecycle::StageChange {
        lead_id: id,
        from: Some(&before.stage),
        to,
        lo_id: before.assigned_lo_id,
        lost_reason: reason,
        origin: "app",
        at: now,
        by: None,
        note: serde_json::Value::Null,
    };
    super::lifecycle::change_stage(&mut tx, Some(user), change, now).await?;
    let after = fetch_lead(&mut *tx, id, false).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(Saved::Ok(Box::new(after)))
}

/// A call, email, text, note or meeting, as logged by the LO or an integration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActivityInput {
    pub kind: String,
    pub direction: Option<String>,
    pub outcome: Option<String>,
    pub talk_seconds: i32,
    pub occurred_at: Option<DateTime<Utc>>,
    pub body: String,
    /// Schedules a callback task (the one-step call log form).
    pub callback_at: Option<DateTime<Utc>>,
}

impl ActivityInput {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if !model::ACTIVITY_KINDS.contains(&self.kind.as_str()) {
            e.add("kind", "must be one of: call, email, text, note, meeting");
        }
        match (&self.outcome, self.kind.as_str()) {
            (Some(o), "call") if !model::CALL_OUTCOMES.iter().any(|(k, _)| k == o) => {
                e.add("outcome", "must be one of: contacted, no_answer, voicemail, bad_number, do_not_call")
            }
            (None, "call") => e.add("outcome", "choose the call's outcome"),
            (Some(_), k) if k != "call" => e.add("outcome", "only calls have an outcome"),
            _ => {}
        }
        if let Some(d) = &self.direction {
            if d != "outbound" && d != "inbound" {
                e.add("direction", "must be outbound or inbound");
            }
        }
        if !(0..=86_400).contains(&self.talk_seconds) {
            e.add("talk_seconds", "between 0 and 86400 seconds");
        }
        if self.kind == "note" && self.body.trim().is_empty() {
            e.add("body", "write the note");
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

/// Logs an activity and keeps the lead's speed-to-lead facts current (first call, first contact, last
/// activity); a `do_not_call` outcome records a call opt-out; a callback time creates a task.
pub async fn log_activity(state: &AppState, user: &CurrentUser, id: Uuid, a: &ActivityInput) -> AppResult<i64> {
    a.validate().map_err(AppError::Validation)?;
    let mut tx = state.db.begin().await?;
    let lead = lock_lead(&mut tx, user, id).await?;
    let now = state.clock.now();
    let at = a.occurred_at.unwrap_or(now);
    let direction = a.direction.clone().or_else(|| (a.kind == "call").then(|| "outbound".to_string()));
    let activity_id = sqlx::query_scalar!(
        "INSERT INTO activities (lead_id, actor_id, kind, direction, outcome, talk_seconds, body, occurred_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        id,
        user.id,
        a.kind,
        direction,
        a.outcome,
        a.talk_seconds,
        a.body.trim(),
        at,
        now
    )
    .fetch_one(&mut *tx)
    .await?;
    let is_call = a.kind == "call";
    let contacted = is_call && a.outcome.as_deref() == Some("contacted");
    sqlx::query!(
        "UPDATE leads SET
             first_call_at = CASE WHEN $2 THEN LEAST(COALESCE(first_call_at, $4), $4) ELSE first_call_at END,
             first_contact_at = CASE WHEN $3 THEN LEAST(COALESCE(first_contact_at, $4), $4) ELSE first_contact_at END,
             last_activity_at = GREATEST(COALESCE(last_activity_at, $4), $4)
         WHERE id = $1",
        id,
        is_call,
        contacted,
        at
    )
    .execute(&mut *tx)
    .await?;
    if is_call && matches!(a.outcome.as_deref(), Some("no_answer" | "voicemail")) {
        // The borrower's missed-call email: one a day at most, whatever the number of attempts.
        let day = now.with_timezone(&state.config.timezone).date_naive();
        let key = format!("missed_call:{id}:{day}");
        let message =
            Event::BorrowerMessage { lead_id: id, template: "missed_call", event_key: &key, fields: &[], at: now };
        crate::events::emit(&mut tx, message).await?;
    }
    if a.outcome.as_deref() == Some("do_not_call") {
        record_opt_out(&mut tx, id, "call", now).await?;
    }
    if let Some(due) = a.callback_at {
        let owner = lead.assigned_lo_id.unwrap_or(user.id);
        sqlx::query!(
            "INSERT INTO tasks (lead_id, owner_id, kind, title, due_at, created_at) VALUES ($1, $2, 'callback', $3, $4, $5)",
            id,
            owner,
            format!("Call back {}", lead.name()),
            due,
            now
        )
        .execute(&mut *tx)
        .await?;
    }
    Entry::new(Some(user), "log_activity", "lead", id).after(a).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(activity_id)
}

/// Marks a task done (the owner, or anyone who may see its lead).
pub async fn complete_task(state: &AppState, user: &CurrentUser, task_id: i64) -> AppResult<Uuid> {
    let mut tx = state.db.begin().await?;
    let t = sqlx::query!("SELECT lead_id, owner_id FROM tasks WHERE id = $1 AND done_at IS NULL FOR UPDATE", task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if t.owner_id != Some(user.id) {
        lock_lead(&mut tx, user, t.lead_id).await?;
    }
    sqlx::query!("UPDATE tasks SET done_at = $2 WHERE id = $1", task_id, state.clock.now()).execute(&mut *tx).await?;
    Entry::new(Some(user), "complete_task", "task", task_id).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(t.lead_id)
}

/// One entry of the lead page's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineItem {
    pub at: DateTime<Utc>,
    /// `stage`, `assignment`, `call`, `email`, `text`, `note`, `meeting`, `task`.
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub who: Option<String>,
}

/// Everything that happened to a lead, newest first (stage changes, assignments, activities, tasks).
pub async fn timeline(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Vec<TimelineItem>> {
    sqlx::query_as::<_, TimelineItem>(
        "SELECT * FROM (
           SELECT sc.created_at AS at, 'stage' AS kind,
                  COALESCE(sc.from_stage, '—') || ' → ' || sc.to_stage AS title,
                  COALESCE('lost: ' || lr.label, '') || CASE WHEN sc.origin <> 'app' THEN ' (' || sc.origin || ')' ELSE '' END AS detail,
                  u.name AS who
           FROM stage_changes sc LEFT JOIN users u ON u.id = sc.actor_id LEFT JOIN lost_reasons lr ON lr.key = sc.lost_reason
           WHERE sc.lead_id = $1
           UNION ALL
           SELECT a.created_at, 'assignment', 'Assigned to ' || COALESCE(t.name, 'the unassigned queue'),
                  COALESCE('from ' || f.name || '. ', '') || a.reason, u.name
           FROM assignments a LEFT JOIN users t ON t.id = a.to_lo_id LEFT JOIN users f ON f.id = a.from_lo_id
                LEFT JOIN users u ON u.id = a.actor_id
           WHERE a.lead_id = $1
           UNION ALL
           SELECT ac.occurred_at, ac.kind,
                  initcap(ac.kind) || COALESCE(': ' || replace(ac.outcome, '_', ' '), ''),
                  CASE WHEN ac.kind = 'call' THEN 'talk time ' || (ac.talk_seconds / 60) || ':' || lpad((ac.talk_seconds % 60)::text, 2, '0') || ' ' ELSE '' END || ac.body,
                  u.name
           FROM activities ac LEFT JOIN users u ON u.id = ac.actor_id WHERE ac.lead_id = $1
           UNION ALL
           SELECT tk.due_at, 'task', tk.title,
                  CASE WHEN tk.done_at IS NOT NULL THEN 'done ' || to_char(tk.done_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') ELSE 'due' END,
                  u.name
           FROM tasks tk LEFT JOIN users u ON u.id = tk.owner_id WHERE tk.lead_id = $1
         ) x ORDER BY at DESC LIMIT 500",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConsentRow {
    pub channel: String,
    pub consent_text: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub source_page: Option<String>,
    pub token: Option<String>,
}

/// Consents and opt-outs of a lead.
pub async fn consents(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<(Vec<ConsentRow>, Vec<String>)> {
    let c = sqlx::query_as!(
        ConsentRow,
        "SELECT channel, consent_text, captured_at, source_page, token FROM lead_consents WHERE lead_id = $1 ORDER BY id",
        id
    )
    .fetch_all(db)
    .await?;
    let o = sqlx::query_scalar!("SELECT channel FROM lead_opt_outs WHERE lead_id = $1 ORDER BY channel", id)
        .fetch_all(db)
        .await?;
    Ok((c, o))
}

mod calls_filter;
mod consent;
mod create;
mod create_batch;
mod insert;
mod list;
mod loan_number;
mod names;
mod rows;
mod totals;
mod view;
mod workspace;

pub use view::{AssignedLo, LeadView};

pub use consent::*;
pub use create::*;
pub use insert::*;
pub use list::*;
pub use loan_number::*;
pub use names::*;
pub use rows::*;
pub use totals::*;
pub use workspace::*;
