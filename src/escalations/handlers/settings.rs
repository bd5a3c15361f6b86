//! Approval limits, approvers, kinds and the fair-lending thresholds (admin).

use super::*;

#[derive(Template, WebTemplate)]
#[template(path = "escalations/settings.html")]
pub(crate) struct SettingsPage {
    ctx: PageCtx,
    manager_bps: String,
    admin_bps: String,
    users: Vec<UserLimit>,
    kinds: Vec<KindSetting>,
    priorities: [&'static str; 4],
    thresholds: model::FairLendingThresholds,
    errors: FieldErrors,
}

impl SettingsPage {
    fn err(&self, f: &str) -> &str {
        self.errors.get(f).unwrap_or("")
    }
    fn limit(&self, v: &Option<i32>) -> String {
        v.map(|v| format!("{v} bps")).unwrap_or_else(|| "no limit".into())
    }
    fn level_label(&self, l: &str) -> &'static str {
        model::Level::parse(l).map(|l| l.label()).unwrap_or("")
    }
}

pub(crate) async fn settings_page(state: &AppState, ctx: PageCtx, errors: FieldErrors) -> AppResult<SettingsPage> {
    let table = store::authority_table(&state.db).await?;
    let show = |v: Option<Option<i32>>| v.flatten().map(|v| v.to_string()).unwrap_or_default();
    Ok(SettingsPage {
        ctx,
        manager_bps: show(table.manager_role_bps),
        admin_bps: show(table.admin_role_bps),
        users: store::user_limits(&state.db).await?,
        kinds: store::kind_settings(&state.db).await?,
        priorities: model::PRIORITIES,
        thresholds: store::fair_lending_thresholds(&state.db).await?,
        errors,
    })
}

pub(crate) async fn settings(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    settings_page(&state, ctx, FieldErrors::new()).await
}

pub(crate) fn parse_limit(errors: &mut FieldErrors, field: &str, s: &str) -> Option<i32> {
    match s.trim() {
        "" => None,
        v => match v.parse::<i32>() {
            Ok(n) if (0..=1000).contains(&n) => Some(n),
            _ => {
                errors.add(field, "Enter whole basis points from 0 to 1,000, or leave empty for no limit.");
                None
            }
        },
    }
}

pub(crate) async fn settings_result(
    state: &AppState,
    ctx: PageCtx,
    session: &Session,
    errors: FieldErrors,
    message: &str,
) -> AppResult<Response> {
    if errors.is_empty() {
        Flash::push(session, "success", message).await;
        Ok(Redirect::to("/escalations/settings").into_response())
    } else {
        Ok((StatusCode::UNPROCESSABLE_ENTITY, settings_page(state, ctx, errors).await?).into_response())
    }
}

#[derive(Deserialize)]
pub(crate) struct LimitsForm {
    #[serde(default)]
    manager_bps: String,
    #[serde(default)]
    admin_bps: String,
}

pub(crate) async fn save_limits(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<LimitsForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let manager = parse_limit(&mut errors, "manager_bps", &f.manager_bps);
    if f.manager_bps.trim().is_empty() {
        errors.add("manager_bps", "Managers need a limit in basis points.");
    }
    let admin = parse_limit(&mut errors, "admin_bps", &f.admin_bps);
    if errors.is_empty() {
        let before = store::authority_table(&state.db).await?;
        let mut tx = state.db.begin().await?;
        store::set_role_limit(&mut tx, "manager", manager).await?;
        store::set_role_limit(&mut tx, "admin", admin).await?;
        Entry::new(Some(&user), "escalation.settings.limits", "approver_limits", "roles")
            .before(serde_json::json!({"manager_bps": before.manager_role_bps.flatten(), "admin_bps": before.admin_role_bps.flatten()}))
            .after(serde_json::json!({"manager_bps": manager, "admin_bps": admin}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Approval limits saved.").await
}

#[derive(Deserialize)]
pub(crate) struct ApproverForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    max_bps: String,
}

pub(crate) async fn save_approver(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<ApproverForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let max = parse_limit(&mut errors, "max_bps", &f.max_bps);
    let level = model::Level::parse(&f.level);
    if level.is_none() {
        errors.add("level", "Choose the approver's level.");
    }
    let target = store::user_by_email(&state.db, &f.email).await?;
    match &target {
        Some((_, role)) if role == "manager" || role == "admin" => {}
        Some(_) => errors.add("email", "Only managers and admins can approve requests."),
        None => errors.add("email", "No user has this email."),
    }
    if let (true, Some((uid, _)), Some(level)) = (errors.is_empty(), target, level) {
        let mut tx = state.db.begin().await?;
        store::set_user_limit(&mut tx, uid, level, max).await?;
        Entry::new(Some(&user), "escalation.settings.approver", "approver_limits", uid)
            .after(serde_json::json!({"level": level.as_str(), "max_bps": max}))
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Approver saved.").await
}

pub(crate) async fn remove_approver(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(user_id): Path<Uuid>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    if store::remove_user_limit(&mut tx, user_id).await? == 0 {
        return Err(AppError::NotFound);
    }
    Entry::new(Some(&user), "escalation.settings.approver_removed", "approver_limits", user_id).write(&mut *tx).await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Approver removed.").await;
    Ok(Redirect::to("/escalations/settings").into_response())
}

pub(crate) async fn save_kinds(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let mut changes = Vec::new();
    for k in Kind::ALL {
        let get =
            |f: &str| form.iter().find(|(n, _)| *n == format!("{}_{f}", k.as_str())).map(|(_, v)| v.trim().to_string());
        let (Some(hours), Some(priority)) = (get("sla_hours"), get("priority")) else { continue };
        let hours = match hours.parse::<i32>() {
            Ok(h) if (1..=720).contains(&h) => h,
            _ => {
                errors.add(&format!("{}_sla_hours", k.as_str()), "Enter SLA hours from 1 to 720.");
                continue;
            }
        };
        if !model::PRIORITIES.contains(&priority.as_str()) {
            errors.add(&format!("{}_priority", k.as_str()), "Choose a priority.");
            continue;
        }
        changes.push((k.as_str(), hours, priority));
    }
    if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        for (k, h, p) in &changes {
            store::update_kind(&mut tx, k, *h, p).await?;
        }
        Entry::new(Some(&user), "escalation.settings.kinds", "escalation_kinds", "all")
            .after(
                changes
                    .iter()
                    .map(|(k, h, p)| serde_json::json!({"kind": k, "sla_hours": h, "priority": p}))
                    .collect::<Vec<_>>(),
            )
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "SLA and priorities saved.").await
}

#[derive(Deserialize)]
pub(crate) struct FairLendingForm {
    #[serde(default)]
    rate_points: String,
    #[serde(default)]
    avg_bps: String,
}

pub(crate) async fn save_fair_lending(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(f): axum::Form<FairLendingForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let mut parse = |field: &str, s: &str| match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => v,
        _ => {
            errors.add(field, "Enter a number from 0 to 100.");
            0.0
        }
    };
    let t = model::FairLendingThresholds {
        rate_points: parse("rate_points", &f.rate_points),
        avg_bps: parse("avg_bps", &f.avg_bps),
    };
    if errors.is_empty() {
        let before = store::fair_lending_thresholds(&state.db).await?;
        let mut tx = state.db.begin().await?;
        store::set_fair_lending_thresholds(&mut tx, t).await?;
        Entry::new(Some(&user), "escalation.settings.fair_lending", "settings", "escalations.fair_lending")
            .before(before)
            .after(t)
            .write(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    settings_result(&state, ctx, &session, errors, "Fair-lending thresholds saved.").await
}
