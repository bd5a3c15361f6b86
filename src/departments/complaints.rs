//! A complaint's regulatory clock in the database: recorded once when the complaint is forwarded (its type, the
//! day it was received, what the rule needs), then each step (acknowledged, responded, extension noticed, final
//! response) as an immutable event with who, when and an audit entry, in one transaction that also moves the
//! items' `regulatory_due_at` (their queue order) and schedules the breach notification of each deadline.
//!
//! Scope: the clock is read and written through an item the user may see ([`service::visible_item`], the one
//! rule for items), so it is visible exactly to whoever sees the item — the department's members, the manager
//! who forwarded it, admins.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::complaint_clock::{self as rules, ClockFacts, ComplaintDeadline};
use super::service::{self, ItemAccess};
use super::store::ItemRow;
use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

pub const BREACH_JOB: &str = "departments.complaint_breach";

/// The clock as a person types it on the forward form (or sends it to the API): empty fields are absent.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ClockInput {
    #[serde(default)]
    pub complaint_type: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub received_on: String,
    #[serde(default)]
    pub foreclosure_sale_on: String,
    #[serde(default)]
    pub regulator_due_on: String,
}

impl ClockInput {
    /// Nothing given (the category alone is not a clock: forms always send their first choice).
    pub fn is_empty(&self) -> bool {
        [&self.complaint_type, &self.received_on, &self.foreclosure_sale_on, &self.regulator_due_on]
            .iter()
            .all(|s| s.trim().is_empty())
    }
}

fn date(field: &str, s: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    if d.is_none() {
        errors.add(field, "Enter the date as YYYY-MM-DD.");
    }
    d
}

/// The facts of a new clock, checked: every problem is added to `errors` by field (None then).
pub fn check_input(input: &ClockInput, today: NaiveDate, errors: &mut FieldErrors) -> Option<ClockFacts> {
    let before = errors.get("received_on").is_some();
    let received = date("received_on", &input.received_on, errors);
    if received.is_none() && errors.get("received_on").is_none() && !before {
        errors.add("received_on", "Enter the day the complaint was received.");
    }
    if received.is_some_and(|r| r > today) {
        errors.add("received_on", "The day it was received cannot be in the future.");
    }
    let facts = ClockFacts {
        complaint_type: input.complaint_type.trim().to_string(),
        category: match input.category.trim() {
            "" => "general".to_string(),
            c => c.to_string(),
        },
        received_on: received.unwrap_or(today),
        foreclosure_sale_on: date("foreclosure_sale_on", &input.foreclosure_sale_on, errors),
        regulator_due_on: date("regulator_due_on", &input.regulator_due_on, errors),
        ..Default::default()
    };
    let mut ok = received.is_some_and(|r| r <= today);
    if let Err((field, msg)) = rules::check_facts(&facts) {
        ok = false;
        if errors.get(field).is_none() {
            errors.add(field, msg);
        }
    }
    ok &= [&input.foreclosure_sale_on, &input.regulator_due_on]
        .iter()
        .all(|s| s.trim().is_empty() || NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok());
    ok.then_some(facts)
}

/// One event of a clock, as the item's page and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClockEvent {
    pub id: i64,
    /// acknowledged, responded, extension_noticed, final_response or breach_notified.
    pub step: String,
    /// For breach_notified: the deadline that passed.
    pub deadline: String,
    pub on_date: NaiveDate,
    pub note: String,
    pub actor_name: Option<String>,
    pub at: DateTime<Utc>,
}

/// A complaint's clock with its deadlines computed for today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplaintClock {
    pub escalation_id: Uuid,
    /// notice_of_error, information_request, cfpb_portal, state_regulator or informal.
    pub complaint_type: String,
    /// general, payoff_statement, foreclosure or owner_identity.
    pub category: String,
    pub received_on: NaiveDate,
    pub foreclosure_sale_on: Option<NaiveDate>,
    pub regulator_due_on: Option<NaiveDate>,
    pub recorded_by_name: String,
    pub recorded_at: DateTime<Utc>,
    /// Each deadline with its status: met, due or breached.
    pub deadlines: Vec<ComplaintDeadline>,
    pub events: Vec<ClockEvent>,
    /// The steps recorded so far: send it back with a step (409 when someone recorded one since).
    pub version: i64,
}

impl ComplaintClock {
    fn facts(&self) -> ClockFacts {
        let on = |step: &str| self.events.iter().find(|e| e.step == step).map(|e| e.on_date);
        ClockFacts {
            complaint_type: self.complaint_type.clone(),
            category: self.category.clone(),
            received_on: self.received_on,
            foreclosure_sale_on: self.foreclosure_sale_on,
            regulator_due_on: self.regulator_due_on,
            acknowledged_on: on("acknowledged"),
            responded_on: on("responded"),
            extension_noticed_on: on("extension_noticed"),
            final_response_on: on("final_response"),
        }
    }

    /// The steps that make sense for this type (informal complaints have none).
    pub fn steps(&self) -> Vec<(&'static str, &'static str)> {
        let keys: &[&str] = match self.complaint_type.as_str() {
            "notice_of_error" | "information_request" => &["acknowledged", "responded", "extension_noticed"],
            "cfpb_portal" => &["responded", "final_response"],
            "state_regulator" => &["responded"],
            _ => &[],
        };
        rules::STEPS
            .iter()
            .filter(|(k, _)| keys.contains(k) && !self.events.iter().any(|e| e.step == *k))
            .copied()
            .collect()
    }
}

// ---------- SQL ----------

async fn load(
    db: &PgPool,
    escalation_id: Uuid,
    cal: &crate::calendar::Calendar,
    today: NaiveDate,
) -> sqlx::Result<Option<ComplaintClock>> {
    let Some(c) = sqlx::query!(
        r#"SELECT c.complaint_type, c.category, c.received_on, c.foreclosure_sale_on, c.regulator_due_on,
                  u.name AS recorded_by_name, c.recorded_at
           FROM complaint_clocks c JOIN users u ON u.id = c.recorded_by WHERE c.escalation_id = $1"#,
        escalation_id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let events = sqlx::query_as!(
        ClockEvent,
        r#"SELECT e.id, e.step, e.deadline, e.on_date, e.note, u.name AS "actor_name?", e.at
           FROM complaint_clock_events e LEFT JOIN users u ON u.id = e.actor_id
           WHERE e.escalation_id = $1 ORDER BY e.id"#,
        escalation_id
    )
    .fetch_all(db)
    .await?;
    let mut clock = ComplaintClock {
        escalation_id,
        complaint_type: c.complaint_type,
        category: c.category,
        received_on: c.received_on,
        foreclosure_sale_on: c.foreclosure_sale_on,
        regulator_due_on: c.regulator_due_on,
        recorded_by_name: c.recorded_by_name,
        recorded_at: c.recorded_at,
        deadlines: vec![],
        version: events.iter().filter(|e| e.step != "breach_notified").count() as i64,
        events,
    };
    clock.deadlines = rules::deadlines(&clock.facts(), cal, today);
    Ok(Some(clock))
}

/// The clock of an escalation, for today (None when none was recorded). Callers have checked the scope.
async fn clock_of(state: &AppState, escalation_id: Uuid) -> AppResult<Option<ComplaintClock>> {
    let cal = crate::calendar::organisation(&state.db).await?;
    Ok(load(&state.db, escalation_id, &cal, state.today()).await?)
}

/// The facts of an escalation's clock with the steps recorded so far (None when none was recorded).
pub async fn clock_facts(state: &AppState, escalation_id: Uuid) -> AppResult<Option<ClockFacts>> {
    Ok(clock_of(state, escalation_id).await?.map(|c| c.facts()))
}

/// Whether the escalation has a clock (inside the forward's transaction).
pub async fn has_clock(tx: &mut Transaction<'_, Postgres>, escalation_id: Uuid) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar!(
        "SELECT 1 AS \"x!\" FROM complaint_clocks WHERE escalation_id = $1 FOR SHARE",
        escalation_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

/// Records a new complaint's clock (once: a second is 409), audited, in the caller's transaction.
pub async fn record_clock(
    tx: &mut Transaction<'_, Postgres>,
    user: &CurrentUser,
    escalation_id: Uuid,
    f: &ClockFacts,
    now: DateTime<Utc>,
) -> AppResult<()> {
    sqlx::query!(
        "INSERT INTO complaint_clocks (escalation_id, complaint_type, category, received_on, foreclosure_sale_on,
                                       regulator_due_on, recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        escalation_id,
        f.complaint_type,
        f.category,
        f.received_on,
        f.foreclosure_sale_on,
        f.regulator_due_on,
        user.id,
        now
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            AppError::conflict("This complaint's clock was already recorded; it cannot be changed.")
        }
        _ => e.into(),
    })?;
    Entry::new(Some(user), "complaint_clock.record", "escalation", escalation_id)
        .after(serde_json::json!({
            "complaint_type": f.complaint_type, "category": f.category, "received_on": f.received_on,
            "foreclosure_sale_on": f.foreclosure_sale_on, "regulator_due_on": f.regulator_due_on,
        }))
        .write(&mut **tx)
        .await?;
    Ok(())
}

/// The end of `day` in the organisation's time zone: when a deadline on that day has passed.
fn end_of(day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let next = (day + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&next)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&next))
}

/// After the clock or a step changed: the open items' queue order (`regulatory_due_at`: the end of the earliest
/// deadline not yet done) and a breach job at the end of each such deadline's day.
pub async fn refresh(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    escalation_id: Uuid,
    facts: &ClockFacts,
) -> AppResult<()> {
    let cal = crate::calendar::organisation(&state.db).await?;
    let tz = state.config.timezone;
    let deadlines = rules::deadlines(facts, &cal, state.today());
    let next = rules::next_due(&deadlines).map(|d| end_of(d, tz));
    sqlx::query!(
        "UPDATE department_items SET regulatory_due_at = $2, updated_at = now()
         WHERE escalation_id = $1 AND status = 'open'",
        escalation_id,
        next
    )
    .execute(&mut **tx)
    .await?;
    for d in deadlines.iter().filter(|d| d.done_on.is_none()) {
        let at = end_of(d.due_on, tz);
        let key = format!("{BREACH_JOB}:{escalation_id}:{}:{}", d.key, d.due_on);
        crate::jobs::enqueue(tx, BREACH_JOB, serde_json::json!({ "escalation_id": escalation_id }), at, Some(&key))
            .await?;
    }
    Ok(())
}

/// The item the user may see, with its complaint's clock (None for other kinds or when none was recorded).
pub async fn visible_clock(
    state: &AppState,
    user: &CurrentUser,
    item_id: Uuid,
) -> AppResult<(ItemRow, ItemAccess, Option<ComplaintClock>)> {
    let (item, access) = service::visible_item(state, user, item_id).await?;
    let clock = match item.escalation_id {
        Some(e) if item.item_kind == "complaint" => clock_of(state, e).await?,
        _ => None,
    };
    Ok((item, access, clock))
}

/// A step on the clock, as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct StepInput {
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub on: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub version: Option<i64>,
}

/// Records a step (acknowledged, responded, extension noticed, final response) on the clock of an item the
/// user may see: 422 for a step the complaint does not have, a date in the future or before its receipt, an
/// extension the rule does not allow or without its reasons; 409 when the step was recorded already or the
/// version is stale.
pub async fn record_step(
    state: &AppState,
    user: &CurrentUser,
    item_id: Uuid,
    input: &StepInput,
) -> AppResult<ComplaintClock> {
    let (_, _, clock) = visible_clock(state, user, item_id).await?;
    let clock = clock.ok_or_else(|| AppError::invalid("step", "This item has no complaint clock."))?;
    let cal = crate::calendar::organisation(&state.db).await?;
    let today = state.today();
    let step = input.step.trim();
    let mut errors = FieldErrors::new();
    let recorded = clock.events.iter().any(|e| e.step == step);
    if !recorded && !clock.steps().iter().any(|(k, _)| *k == step) {
        errors.add("step", "Choose one of this complaint's steps.");
    }
    let on = match date("on", &input.on, &mut errors) {
        Some(d) if d > today => {
            errors.add("on", "The day it was done cannot be in the future.");
            None
        }
        Some(d) if d < clock.received_on => {
            errors.add("on", "The day it was done comes after the day the complaint was received.");
            None
        }
        Some(d) => Some(d),
        None => {
            if errors.get("on").is_none() {
                errors.add("on", "Enter the day it was done.");
            }
            None
        }
    };
    let note = input.note.trim();
    if note.len() > 4000 {
        errors.add("note", "Keep it under 4,000 characters.");
    }
    let mut facts = clock.facts();
    if step == "extension_noticed" && !recorded {
        if note.is_empty() {
            errors.add("note", "Write the reasons the borrower was told for the extension.");
        }
        if let Some(d) = on {
            if let Err(m) = rules::extension_allowed(&facts, d, &cal) {
                errors.add("on", m);
            }
        }
    }
    errors.into_result()?;
    if recorded {
        return Err(AppError::conflict(format!("{} was already recorded.", rules::step_label(step))));
    }
    let on = on.ok_or_else(|| AppError::invalid("on", "Enter the day it was done."))?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // Serialises steps on one clock: the version read under the lock is the one compared.
    sqlx::query!("SELECT escalation_id FROM complaint_clocks WHERE escalation_id = $1 FOR UPDATE", clock.escalation_id)
        .fetch_one(&mut *tx)
        .await?;
    let current: i64 = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM complaint_clock_events WHERE escalation_id = $1 AND step <> 'breach_notified'",
        clock.escalation_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if input.version.is_some_and(|v| v != current) || current != clock.version {
        return Err(AppError::conflict(
            "Someone recorded a step on this clock since you opened it; reload and try again.",
        ));
    }
    sqlx::query!(
        "INSERT INTO complaint_clock_events (escalation_id, step, on_date, note, actor_id, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        clock.escalation_id,
        step,
        on,
        note,
        user.id,
        now
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => AppError::conflict("That step was already recorded."),
        _ => e.into(),
    })?;
    Entry::new(Some(user), "complaint_clock.step", "escalation", clock.escalation_id)
        .after(serde_json::json!({"step": step, "on": on, "note": note, "item_id": item_id}))
        .write(&mut *tx)
        .await?;
    match step {
        "acknowledged" => facts.acknowledged_on = Some(on),
        "responded" => facts.responded_on = Some(on),
        "extension_noticed" => facts.extension_noticed_on = Some(on),
        _ => facts.final_response_on = Some(on),
    }
    refresh(state, &mut tx, clock.escalation_id, &facts).await?;
    tx.commit().await?;
    clock_of(state, clock.escalation_id).await?.ok_or(AppError::NotFound)
}

/// The `departments.complaint_breach` job: each deadline of the complaint not done once its day has passed is
/// told, once, to the lead of the department it was last forwarded to and the manager who forwarded it (an
/// event and an audit entry record it).
pub async fn run_breach(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    let escalation_id: Uuid = job
        .payload
        .get("escalation_id")
        .and_then(|v| v.as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| anyhow::anyhow!("complaint_breach job without an escalation_id"))?;
    let cal = crate::calendar::organisation(&state.db).await?;
    let today = now.with_timezone(&state.config.timezone).date_naive();
    let Some(clock) = load(&state.db, escalation_id, &cal, today).await? else {
        return Ok(());
    };
    let told: Vec<&str> =
        clock.events.iter().filter(|e| e.step == "breach_notified").map(|e| e.deadline.as_str()).collect();
    let missed: Vec<&ComplaintDeadline> = clock
        .deadlines
        .iter()
        .filter(|d| d.done_on.is_none() && d.status == rules::DeadlineStatus::Breached && !told.contains(&d.key))
        .collect();
    if missed.is_empty() {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let people = sqlx::query!(
        r#"SELECT i.id, i.forwarded_by, d.lead_user_id FROM department_items i
           JOIN departments d ON d.id = i.department_id
           WHERE i.escalation_id = $1 ORDER BY i.forwarded_at DESC LIMIT 1"#,
        escalation_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    for d in missed {
        let inserted = sqlx::query!(
            "INSERT INTO complaint_clock_events (escalation_id, step, on_date, deadline, at)
             VALUES ($1, 'breach_notified', $2, $3, $4) ON CONFLICT DO NOTHING",
            escalation_id,
            d.due_on,
            d.key,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        Entry::new(None, "complaint_clock.breach", "escalation", escalation_id)
            .after(serde_json::json!({"deadline": d.key, "due_on": d.due_on, "rule": d.rule}))
            .write(&mut *tx)
            .await?;
        if let Some(p) = &people {
            let title = format!("A complaint missed its regulatory deadline of {} ({})", d.due_on, d.rule);
            let link = format!("/departments/items/{}", p.id);
            let mut to = vec![p.forwarded_by];
            to.extend(p.lead_user_id.filter(|l| *l != p.forwarded_by));
            for u in to {
                crate::events::notify(&mut tx, u, "department.complaint_breach", &title, &link).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
