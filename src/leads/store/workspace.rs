//! The LO's workspace: the call queue and consent to call, tasks, the pipeline board, duplicates and merging,
//! and the admin's stages and lost reasons.

use super::*;

/// One entry of the LO's call queue.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct QueueEntry {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub stage: String,
    pub source: String,
    pub loan_purpose: Option<String>,
    /// For the calling window.
    pub property_state: Option<String>,
    /// When this entry started waiting: created (new), due (callback), last touched (stale).
    pub since: DateTime<Utc>,
    #[sqlx(skip)]
    pub reason: Option<QueueReason>,
}

/// The consent rule for calls, over the lead aliased `l`: no opt-out of calls (`call` or `all`, from a call
/// outcome, the lead page, the API or an unsubscribe), the number on no do-not-call list (the lender's own
/// always; the national registry unless the borrower consented to calls in writing). The call queue, the
/// cadence and anything else that asks for a call use it; the calling hours are checked on top
/// ([`super::consent`]).
pub const MAY_CALL: &str = "(NOT EXISTS (SELECT 1 FROM lead_opt_outs o WHERE o.lead_id = l.id AND o.channel IN ('call', 'all'))
     AND NOT EXISTS (SELECT 1 FROM do_not_call_numbers d
                     WHERE d.phone = right(l.phone, 10)
                       AND (d.list = 'internal'
                            OR NOT EXISTS (SELECT 1 FROM lead_consents c WHERE c.lead_id = l.id AND c.channel IN ('call', 'all')))))";

/// Whether the borrower may be called (see [`MAY_CALL`]).
pub async fn may_call(tx: &mut Transaction<'_, Postgres>, lead: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(&format!("SELECT {MAY_CALL} FROM leads l WHERE l.id = $1"))
        .bind(lead)
        .fetch_optional(&mut **tx)
        .await
        .map(|v| v.unwrap_or(false))
}

/// Which of `leads` may be called (see [`MAY_CALL`]), in one statement.
pub async fn may_call_each(
    tx: &mut Transaction<'_, Postgres>,
    leads: &[Uuid],
) -> sqlx::Result<std::collections::HashSet<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(&format!("SELECT l.id FROM leads l WHERE l.id = ANY($1) AND {MAY_CALL}"))
        .bind(leads)
        .fetch_all(&mut **tx)
        .await?;
    Ok(ids.into_iter().collect())
}

/// A borrower who may no longer be called: their open call tasks (callbacks and cadence attempts) are closed
/// and their contact cadence stops, in the transaction that recorded the opt-out.
pub async fn stop_calls(tx: &mut Transaction<'_, Postgres>, lead: Uuid, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tasks SET done_at = $2 WHERE lead_id = $1 AND done_at IS NULL AND kind IN ('callback', 'cadence')",
    )
    .bind(lead)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE lead_cadences SET status = 'stopped', updated_at = $2 WHERE lead_id = $1 AND status = 'active'",
    )
    .bind(lead)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that a borrower opted out of `channel` (`call`, `text`, `email` or `all`) by any path (a call
/// outcome, an unsubscribe link, an admin, an import), in the caller's transaction; an opt-out that covers
/// calls also stops them at once ([`stop_calls`]). Returns false when it was already recorded.
pub async fn record_opt_out(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    channel: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let added = sqlx::query!(
        "INSERT INTO lead_opt_outs (lead_id, channel, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        lead,
        channel,
        now
    )
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if channel == "call" || channel == "all" {
        stop_calls(tx, lead, now).await?;
    }
    Ok(added)
}

/// Records the opt-outs leads arrived with (a new lead's `opt_out` field, an import's column, including rows
/// that duplicate an open lead), in one statement, and stops calls to those whose opt-out covers calls.
pub async fn record_opt_outs(
    tx: &mut Transaction<'_, Postgres>,
    opt_outs: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if opt_outs.is_empty() {
        return Ok(());
    }
    let (ids, channels): (Vec<Uuid>, Vec<String>) = opt_outs.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO lead_opt_outs (lead_id, channel, created_at)
         SELECT t.lead_id, t.channel, $3 FROM UNNEST($1::uuid[], $2::text[]) AS t(lead_id, channel)
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&channels)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for (lead, _) in opt_outs.iter().filter(|(_, c)| c == "call" || c == "all") {
        stop_calls(tx, *lead, now).await?;
    }
    Ok(())
}

/// How a message reached the borrower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundChannel {
    Email,
    Text,
}

/// An email or text that went to the borrower, as an activity on the lead (by the system, no actor). It is not the
/// LO's touch: the lead's last activity, which makes a lead stale, stays the LO's.
pub async fn record_outbound_message(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    channel: OutboundChannel,
    body: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let kind = match channel {
        OutboundChannel::Email => "email",
        OutboundChannel::Text => "text",
    };
    insert_system_activity(tx, lead, kind, "outbound", body, at).await
}

/// Something the borrower did outside a call or message (opened the loan options the LO sent), as an inbound note
/// on the lead, by the system (no actor); like a sent message, it is not the LO's touch.
pub async fn record_borrower_note(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    body: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    insert_system_activity(tx, lead, "note", "inbound", body, at).await
}

/// One activity recorded by the system (no actor) at `at`.
async fn insert_system_activity(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    kind: &str,
    direction: &str,
    body: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO activities (lead_id, kind, direction, body, occurred_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
        lead,
        kind,
        direction,
        body,
        at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The LO's call queue: new uncontacted leads oldest first, then due callbacks, then stale leads. A borrower
/// who may not be called ([`MAY_CALL`]) is never in it, and one outside their calling hours not until they open.
pub async fn call_queue(state: &AppState, user: &CurrentUser) -> AppResult<Vec<QueueEntry>> {
    let now = state.clock.now();
    let mut out: Vec<QueueEntry> = Vec::new();
    let fresh: Vec<QueueEntry> = sqlx::query_as(&format!(
        "SELECT l.id, l.first_name, l.last_name, l.phone, l.stage, l.source, l.loan_purpose, l.property_state,
                l.created_at AS since
         FROM leads l WHERE l.assigned_lo_id = $1 AND l.stage = 'new' AND l.first_contact_at IS NULL AND {MAY_CALL}
         ORDER BY l.created_at LIMIT 100"
    ))
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    out.extend(fresh.into_iter().map(|e| QueueEntry { reason: Some(QueueReason::NewUncontacted), ..e }));
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT DISTINCT ON (l.id) l.id, l.first_name, l.last_name, l.phone, l.stage, l.source, l.loan_purpose,
                l.property_state, t.due_at AS since
         FROM tasks t JOIN leads l ON l.id = t.lead_id
         WHERE t.done_at IS NULL AND t.owner_id = ",
    );
    qb.push_bind(user.id).push(" AND t.due_at <= ").push_bind(now).push(" AND ").push(MAY_CALL);
    user.scope().push_lead_predicate(&mut qb, "l");
    qb.push(" ORDER BY l.id, t.due_at LIMIT 100");
    let due: Vec<QueueEntry> = qb.build_query_as().fetch_all(&state.db).await?;
    out.extend(due.into_iter().map(|e| QueueEntry { reason: Some(QueueReason::CallbackDue), ..e }));
    let stale: Vec<QueueEntry> = sqlx::query_as(&format!(
        "SELECT l.id, l.first_name, l.last_name, l.phone, l.stage, l.source, l.loan_purpose, l.property_state,
                GREATEST(l.stage_changed_at, COALESCE(l.last_activity_at, l.created_at)) AS since
         FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
         WHERE l.assigned_lo_id = $1 AND s.kind = 'open' AND s.stale_after_days IS NOT NULL
           AND GREATEST(l.stage_changed_at, COALESCE(l.last_activity_at, l.created_at))
               < $2 - make_interval(days => s.stale_after_days) AND {MAY_CALL}
         ORDER BY since LIMIT 100"
    ))
    .bind(user.id)
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    out.extend(stale.into_iter().map(|e| QueueEntry { reason: Some(QueueReason::Stale), ..e }));
    model::order_queue(&mut out, |e| (e.reason.unwrap_or(QueueReason::Stale), e.since));
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.id));
    // Outside the borrower's calling hours a lead waits (its page says until when).
    if let Some(org) = state.config.calling_hours() {
        let rules = super::calling_rules(&mut *state.db.acquire().await?).await?;
        out.retain(|e| rules.window_for(e.property_state.as_deref(), e.phone.as_deref(), org).allows(now));
    }
    Ok(out)
}

/// An open task of the user's.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub lead_id: Uuid,
    pub lead_name: String,
    pub title: String,
    pub kind: String,
    pub due_at: DateTime<Utc>,
}

/// The user's open tasks, soonest first; only overdue ones when `overdue_only`.
pub async fn open_tasks(state: &AppState, user: &CurrentUser, overdue_only: bool) -> AppResult<Vec<TaskRow>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT t.id, t.lead_id, trim(l.first_name || ' ' || l.last_name) AS lead_name, t.title, t.kind, t.due_at
         FROM tasks t JOIN leads l ON l.id = t.lead_id WHERE t.done_at IS NULL AND t.owner_id = ",
    );
    qb.push_bind(user.id);
    if overdue_only {
        qb.push(" AND t.due_at < ").push_bind(state.clock.now());
    }
    user.scope().push_lead_predicate(&mut qb, "l");
    qb.push(" ORDER BY t.due_at LIMIT 500");
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}

/// A card on the pipeline board.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BoardCard {
    pub stage: String,
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub loan_amount_cents: Option<i64>,
    pub assigned_lo_name: Option<String>,
    pub stage_changed_at: DateTime<Utc>,
}

/// Counts per stage and the most recently moved `per_stage` cards of each, scoped.
pub async fn board(
    state: &AppState,
    user: &CurrentUser,
    per_stage: i64,
) -> AppResult<(Vec<StageDef>, Vec<(String, i64)>, Vec<BoardCard>)> {
    let stage_list = stages(&state.db, DEFAULT_PIPELINE).await?;
    let mut qb = QueryBuilder::<Postgres>::new("SELECT l.stage, count(*) FROM leads l WHERE l.pipeline_id = ");
    qb.push_bind(DEFAULT_PIPELINE);
    user.scope().push_lead_predicate(&mut qb, "l");
    qb.push(" GROUP BY l.stage");
    let counts: Vec<(String, i64)> = qb.build_query_as().fetch_all(&state.db).await?;
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT s.key AS stage, x.id, x.first_name, x.last_name, x.loan_amount_cents, x.assigned_lo_name, x.stage_changed_at
         FROM stages s CROSS JOIN LATERAL (
           SELECT l.id, l.first_name, l.last_name, l.loan_amount_cents, u.name AS assigned_lo_name, l.stage_changed_at
           FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id
           WHERE l.pipeline_id = s.pipeline_id AND l.stage = s.key",
    );
    user.scope().push_lead_predicate(&mut qb, "l");
    qb.push(" ORDER BY l.stage_changed_at DESC");
    crate::db::push_limit(&mut qb, per_stage);
    qb.push(") x WHERE s.pipeline_id = ")
        .push_bind(DEFAULT_PIPELINE)
        .push(" ORDER BY s.position, x.stage_changed_at DESC");
    let cards: Vec<BoardCard> = qb.build_query_as().fetch_all(&state.db).await?;
    Ok((stage_list, counts, cards))
}

/// Leads that look like the same borrower as `lead` (same phone or email), visible to the user.
pub async fn possible_duplicates(state: &AppState, user: &CurrentUser, lead: &Lead) -> AppResult<Vec<LeadRow>> {
    let scope = user.scope();
    let mut qb = super::rows::row_select(&scope, None);
    qb.push(" AND l.id <> ").push_bind(lead.id);
    qb.push(" AND l.duplicate_of IS NULL AND (l.phone = ").push_bind(lead.phone.clone());
    qb.push(" OR lower(l.email) = lower(").push_bind(lead.email.clone()).push("))");
    scope.push_lead_predicate(&mut qb, "l");
    qb.push(" ORDER BY l.created_at LIMIT 20");
    super::rows::fetch_rows(state, qb).await
}

/// A manager merges `other` into `keep`: activities, tasks, consents and opt-outs move to `keep`; `other` is
/// linked (`duplicate_of`) and closed as lost/duplicate with its history intact.
pub async fn merge(state: &AppState, user: &CurrentUser, keep: Uuid, other: Uuid) -> AppResult<()> {
    user.require(&[Role::Manager, Role::Admin])?;
    if keep == other {
        return Err(AppError::invalid("other", "choose a different lead to merge"));
    }
    let mut tx = state.db.begin().await?;
    // Lock in id order so two opposite merges cannot deadlock.
    let (a, b) = if keep < other { (keep, other) } else { (other, keep) };
    let first = lock_lead(&mut tx, user, a).await?;
    let second = lock_lead(&mut tx, user, b).await?;
    let dup = if first.id == other { first } else { second };
    if dup.duplicate_of.is_some() {
        return Err(AppError::invalid("other", "that lead is already merged"));
    }
    let now = state.clock.now();
    sqlx::query!("UPDATE activities SET lead_id = $1 WHERE lead_id = $2", keep, other).execute(&mut *tx).await?;
    sqlx::query!("UPDATE tasks SET lead_id = $1 WHERE lead_id = $2", keep, other).execute(&mut *tx).await?;
    sqlx::query!("UPDATE lead_consents SET lead_id = $1 WHERE lead_id = $2", keep, other).execute(&mut *tx).await?;
    sqlx::query!(
        "INSERT INTO lead_opt_outs (lead_id, channel, created_at) SELECT $1, channel, created_at FROM lead_opt_outs
         WHERE lead_id = $2 ON CONFLICT DO NOTHING",
        keep,
        other
    )
    .execute(&mut *tx)
    .await?;
    let lost_kind = sqlx::query_scalar!(
        "SELECT key FROM stages WHERE pipeline_id = $1 AND kind = 'lost' ORDER BY position LIMIT 1",
        dup.pipeline_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let to = lost_kind.unwrap_or_else(|| dup.stage.clone());
    sqlx::query!("UPDATE leads SET duplicate_of = $2, lost_reason = 'duplicate' WHERE id = $1", other, keep)
        .execute(&mut *tx)
        .await?;
    if to != dup.stage {
        // The duplicate is lost as a duplicate through the one lifecycle: history row, audit entry, event.
        let change = crate::leads::lifecycle::StageChange {
            lead_id: other,
            from: Some(&dup.stage),
            to: &to,
            lo_id: dup.assigned_lo_id,
            lost_reason: Some("duplicate"),
            origin: "merge",
            at: now,
            by: None,
            note: serde_json::json!({ "merged_into": keep }),
        };
        crate::leads::lifecycle::change_stage(&mut tx, Some(user), change, now).await?;
    }
    sqlx::query!(
        "INSERT INTO activities (lead_id, actor_id, kind, body, occurred_at) VALUES ($1, $2, 'note', $3, $4)",
        keep,
        user.id,
        format!("Merged duplicate lead {} ({}) into this lead", dup.name(), other),
        now
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("UPDATE leads SET version = version + 1, updated_at = $2 WHERE id = $1", keep, now)
        .execute(&mut *tx)
        .await?;
    Entry::new(Some(user), "merge", "lead", keep).after(serde_json::json!({"merged": other})).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Active LOs the user may filter by (their team's for managers, all for admins, themselves for LOs).
pub async fn visible_officers(db: &sqlx::PgPool, user: &CurrentUser) -> sqlx::Result<Vec<(Uuid, String)>> {
    let s = user.scope();
    if !s.all && s.team_ids.is_empty() {
        // An LO's scope holds only themselves (signed in, so active): no query needed.
        return Ok(s.lo_id.filter(|id| *id == user.id).map(|id| vec![(id, user.name.clone())]).unwrap_or_default());
    }
    let (all, lo, teams) = s.roster_binds();
    let rows = sqlx::query!(
        "SELECT u.id, u.name FROM users u WHERE u.originator AND u.active AND ($1 OR u.id = $2 OR u.team_id = ANY($3))
         ORDER BY u.name",
        all,
        lo,
        &teams
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

/// The whole lead without a scope check: only for answering the caller about the lead it just created.
pub async fn lead_unscoped(db: &sqlx::PgPool, id: Uuid) -> AppResult<Lead> {
    fetch_lead(db, id, false).await?.ok_or(AppError::NotFound)
}

/// An admin's change to a stage: its label and when leads in it go stale.
pub async fn update_stage(
    state: &AppState,
    user: &CurrentUser,
    key: &str,
    label: &str,
    stale_after_days: Option<i32>,
) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let mut e = FieldErrors::new();
    if label.trim().is_empty() || label.len() > 60 {
        e.add("label", "a label of 1 to 60 characters");
    }
    if stale_after_days.is_some_and(|d| !(1..=365).contains(&d)) {
        e.add("stale_after_days", "between 1 and 365 days, or empty for never");
    }
    e.into_result()?;
    let mut tx = state.db.begin().await?;
    let before = sqlx::query!(
        "SELECT label, stale_after_days FROM stages WHERE pipeline_id = $1 AND key = $2 FOR UPDATE",
        DEFAULT_PIPELINE,
        key
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    sqlx::query!(
        "UPDATE stages SET label = $3, stale_after_days = $4 WHERE pipeline_id = $1 AND key = $2",
        DEFAULT_PIPELINE,
        key,
        label.trim(),
        stale_after_days
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "update", "stage", key)
        .before(serde_json::json!({"label": before.label, "stale_after_days": before.stale_after_days}))
        .after(serde_json::json!({"label": label.trim(), "stale_after_days": stale_after_days}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    stage_lists(state).0.invalidate(&DEFAULT_PIPELINE).await;
    Ok(())
}

/// Every lost reason, active or not (key, label, active), for the admin page.
pub async fn all_lost_reasons(db: &sqlx::PgPool) -> sqlx::Result<Vec<(String, String, bool)>> {
    let rows = sqlx::query!("SELECT key, label, active FROM lost_reasons ORDER BY position").fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.key, r.label, r.active)).collect())
}

/// Adds a lost reason to the managed list, or renames and (de)activates an existing one. Reasons are never
/// deleted: past stage changes refer to them.
pub async fn save_lost_reason(
    state: &AppState,
    user: &CurrentUser,
    key: &str,
    label: &str,
    active: bool,
) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let key = key.trim().to_lowercase();
    let mut e = FieldErrors::new();
    if key.is_empty()
        || key.len() > 40
        || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        e.add("key", "a short key: lower-case letters, digits and _");
    }
    if label.trim().is_empty() || label.len() > 80 {
        e.add("label", "a label of 1 to 80 characters");
    }
    e.into_result()?;
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        "INSERT INTO lost_reasons (key, label, position, active)
         VALUES ($1, $2, (SELECT COALESCE(max(position), 0) + 1 FROM lost_reasons), $3)
         ON CONFLICT (key) DO UPDATE SET label = EXCLUDED.label, active = EXCLUDED.active",
        key,
        label.trim(),
        active
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "save", "lost_reason", &key)
        .after(serde_json::json!({"label": label.trim(), "active": active}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
