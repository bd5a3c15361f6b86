//! Appeals, foreclosure steps under the dual-tracking guard, reassignment, stage changes and the sale date.

use super::*;

pub async fn record_appeal(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    filed_on: NaiveDate,
    today: NaiveDate,
) -> AppResult<()> {
    if filed_on > today {
        return Err(AppError::invalid("filed_on", "The date cannot be in the future."));
    }
    if case.decided_on.is_none() || case.modification_denied != Some(true) {
        return Err(AppError::invalid(
            "filed_on",
            "Only the denial of a loan modification on a complete application can be appealed (12 CFR 1024.41(h)).",
        ));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    sqlx::query!(
        "INSERT INTO lossmit_appeals (case_id, filed_on, actor_id) VALUES ($1, $2, $3)",
        case.id,
        filed_on,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    Entry::new(Some(user), "lossmit.appeal.file", "lossmit_case", case.id)
        .after(serde_json::json!({"filed_on": filed_on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn record_appeal_decision(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    decided_on: NaiveDate,
    granted: bool,
    reason: &str,
    today: NaiveDate,
) -> AppResult<()> {
    if decided_on > today {
        return Err(AppError::invalid("appeal_decided_on", "The date cannot be in the future."));
    }
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case.id).await?;
    let appeal = sqlx::query_scalar!(
        "SELECT p.id FROM lossmit_appeals p WHERE p.case_id = $1
           AND NOT EXISTS (SELECT 1 FROM lossmit_appeal_decisions d WHERE d.appeal_id = p.id)
         ORDER BY p.filed_on, p.id LIMIT 1",
        case.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::invalid("appeal_decided_on", "There is no undecided appeal."))?;
    sqlx::query!(
        "INSERT INTO lossmit_appeal_decisions (appeal_id, decided_on, granted, reason, actor_id) VALUES ($1, $2, $3, $4, $5)",
        appeal,
        decided_on,
        granted,
        reason.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case.id).await?;
    if granted {
        advance_stage(&mut tx, user, case.id, Stage::Offer, today).await?;
    }
    Entry::new(Some(user), "lossmit.appeal.decide", "lossmit_case", case.id)
        .after(serde_json::json!({"decided_on": decided_on, "granted": granted}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a foreclosure step unless the dual-tracking guard refuses it; a refusal is audit-logged and
/// answered with 409 naming the rule.
pub async fn record_foreclosure_step(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    step: ForeclosureStep,
    on: NaiveDate,
) -> AppResult<()> {
    let mut tx = db.begin().await?;
    lock_case(&mut tx, case_id).await?;
    // Re-read the facts under the lock, so the guard sees every record committed before it.
    let case = select_cases!("WHERE c.id = $1", case_id).fetch_one(&mut *tx).await?;
    if let Err(refusal) = clocks::check_foreclosure_step(&case.facts(), step, on) {
        tx.rollback().await?;
        let mut log = db.begin().await?;
        Entry::new(Some(user), "lossmit.foreclosure_step.refused", "lossmit_case", case_id)
            .after(
                serde_json::json!({"step": step.as_str(), "on": on, "rule": refusal.rule, "message": refusal.message}),
            )
            .write(&mut *log)
            .await?;
        log.commit().await?;
        return Err(AppError::Conflict(refusal.message));
    }
    sqlx::query!(
        "INSERT INTO lossmit_foreclosure_steps (case_id, step, occurred_on, actor_id) VALUES ($1, $2, $3, $4)",
        case_id,
        step.as_str(),
        on,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, case_id).await?;
    Entry::new(Some(user), "lossmit.foreclosure_step.record", "lossmit_case", case_id)
        .after(serde_json::json!({"step": step.as_str(), "on": on}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Reassigns a case to another specialist (supervisors and admins), with history; stale versions get 409.
pub async fn reassign(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    to: Uuid,
    version: i32,
    reason: &str,
    today: NaiveDate,
) -> AppResult<()> {
    user.require(&SUPERVISOR_ROLES)?;
    if !is_specialist(db, to).await? {
        return Err(AppError::invalid("specialist_id", "Choose an active loss-mitigation specialist."));
    }
    let mut tx = db.begin().await?;
    let (_, current_version) = lock_case(&mut tx, case_id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    let from = sqlx::query_scalar!("SELECT specialist_id FROM lossmit_cases WHERE id = $1", case_id)
        .fetch_one(&mut *tx)
        .await?;
    if from == Some(to) {
        return Err(AppError::invalid("specialist_id", "The case is already assigned to that specialist."));
    }
    sqlx::query!(
        "UPDATE lossmit_cases SET specialist_id = $2, version = version + 1, updated_at = now() WHERE id = $1",
        case_id,
        to
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO lossmit_assignments (case_id, from_specialist_id, to_specialist_id, assigned_on, reason, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        from,
        to,
        today,
        reason.trim(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    let title = format!(
        "Loss-mitigation case reassigned to you{}",
        if reason.trim().is_empty() { String::new() } else { format!(": {}", reason.trim()) }
    );
    crate::events::notify(&mut tx, to, "lossmit.assigned", &title, &format!("/lossmit/cases/{case_id}")).await?;
    Entry::new(Some(user), "lossmit.case.reassign", "lossmit_case", case_id)
        .before(serde_json::json!({"specialist_id": from}))
        .after(serde_json::json!({"specialist_id": to, "reason": reason}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a case to a stage (or resolves it with a resolution, or reopens a resolved case — a re-default).
pub async fn change_stage(
    db: &PgPool,
    user: &CurrentUser,
    case_id: Uuid,
    to: Stage,
    resolution: Option<Resolution>,
    version: i32,
    today: NaiveDate,
) -> AppResult<()> {
    if (to == Stage::Resolved) != resolution.is_some() {
        return Err(AppError::invalid("resolution", "Choose a resolution when (and only when) resolving a case."));
    }
    let mut tx = db.begin().await?;
    let (from, current_version) = lock_case(&mut tx, case_id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    let res = resolution.map(Resolution::as_str);
    sqlx::query!(
        "UPDATE lossmit_cases SET stage = $2, resolution = $3, resolved_on = CASE WHEN $3::text IS NULL THEN NULL ELSE $4::date END,
             version = version + 1, updated_at = now() WHERE id = $1",
        case_id,
        to.as_str(),
        res,
        today
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO lossmit_stage_changes (case_id, from_stage, to_stage, resolution, changed_on, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        from,
        to.as_str(),
        res,
        today,
        user.id
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "lossmit.case.stage", "lossmit_case", case_id)
        .before(serde_json::json!({"stage": from}))
        .after(serde_json::json!({"stage": to.as_str(), "resolution": res}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets or clears the scheduled foreclosure sale date (it decides which protections an application gets);
/// stale versions get 409.
pub async fn set_sale_date(
    db: &PgPool,
    user: &CurrentUser,
    case: &CaseRow,
    sale_date: Option<NaiveDate>,
    version: i32,
) -> AppResult<()> {
    if sale_date.is_some_and(|s| !model::plausible_date(s)) {
        return Err(AppError::invalid("sale_date", "Enter a sale date between 1970 and 2100."));
    }
    if sale_date.is_some_and(|s| s <= case.first_unpaid_due_date) {
        return Err(AppError::invalid("sale_date", "A sale date must come after the first unpaid due date."));
    }
    let mut tx = db.begin().await?;
    let (_, current_version) = lock_case(&mut tx, case.id).await?;
    if current_version != version {
        return Err(AppError::conflict("This case changed since you opened it. Reload and try again."));
    }
    sqlx::query!(
        "UPDATE lossmit_cases SET sale_date = $2, version = version + 1, updated_at = now() WHERE id = $1",
        case.id,
        sale_date
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "lossmit.case.sale_date", "lossmit_case", case.id)
        .before(serde_json::json!({"sale_date": case.sale_date}))
        .after(serde_json::json!({"sale_date": sale_date}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
