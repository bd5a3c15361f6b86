//! Teams and the organisation's security settings.

use super::*;

// ---------- teams ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/teams.html")]
pub(crate) struct TeamsPage {
    ctx: PageCtx,
    teams: Vec<TeamRow>,
    managers: Vec<(Uuid, String)>,
    new_name: String,
    errors: FieldErrors,
}

impl TeamsPage {
    fn manages(t: &TeamRow, id: &Uuid) -> bool {
        t.manager_ids.contains(id)
    }
}

pub(crate) async fn render_teams(
    state: &AppState,
    ctx: PageCtx,
    new_name: String,
    errors: FieldErrors,
) -> AppResult<TeamsPage> {
    Ok(TeamsPage {
        ctx,
        teams: store::list_teams(&state.db).await?,
        managers: store::people_with_role(&state.db, Role::Manager).await?,
        new_name,
        errors,
    })
}

pub(crate) async fn teams_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    render_teams(&state, ctx, String::new(), FieldErrors::new()).await
}

pub(crate) fn check_team_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.chars().count() > 100 { Some("Enter a team name (up to 100 characters).") } else { None }
}

pub(crate) async fn create_team(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    admin(&user)?;
    let f = FormFields(fields);
    let name = f.get("name");
    let result = match check_team_name(&name) {
        Some(msg) => Err(AppError::invalid("name", msg)),
        None => {
            let mut tx = state.db.begin().await?;
            match store::create_team(&mut tx, &name).await {
                Ok(id) => {
                    Entry::new(Some(&user), "team_created", "team", id)
                        .after(serde_json::json!({ "name": name }))
                        .write(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", format!("Team {name} was created.")).await;
            Ok(Redirect::to("/admin/teams").into_response())
        }
        Err(AppError::Validation(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_teams(&state, ctx, name, errors).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn update_team(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    admin(&user)?;
    let f = FormFields(fields);
    let name = f.get("name");
    let managers: Vec<Uuid> = f.all("managers").iter().filter_map(|m| m.parse().ok()).collect();
    let before = store::list_teams(&state.db).await?.into_iter().find(|t| t.id == id).ok_or(AppError::NotFound)?;
    let target = match f.get("contact_rate_target_pct").trim() {
        "" => Some(before.contact_rate_target_pct),
        t => t.trim_end_matches('%').trim().parse::<i32>().ok().filter(|t| (1..=100).contains(t)),
    };
    let result = match (check_team_name(&name), target) {
        (Some(msg), _) => Err(AppError::invalid("team_name", msg)),
        (None, None) => Err(AppError::invalid("contact_rate_target_pct", "Enter a percent from 1 to 100, like 80.")),
        (None, Some(target)) => {
            let mut tx = state.db.begin().await?;
            match store::update_team(&mut tx, id, &name, &managers, target).await {
                Ok(()) => {
                    let ids: Vec<Uuid> = sqlx::query_scalar!(
                        "SELECT user_id FROM team_managers WHERE team_id = $1 ORDER BY user_id",
                        id
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    Entry::new(Some(&user), "team_updated", "team", id)
                        .before(serde_json::json!({ "name": before.name, "managers": before.manager_ids,
                                                     "contact_rate_target_pct": before.contact_rate_target_pct }))
                        .after(serde_json::json!({ "name": name, "managers": ids, "contact_rate_target_pct": target }))
                        .write(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    crate::auth::token_cache::changed_here(&state);
                    Ok(())
                }
                Err(AppError::Validation(mut e)) => {
                    // The per-team form reports under one key.
                    if let Some(m) = e.0.remove("name") {
                        e.0.insert("team_name".into(), m);
                    }
                    Err(AppError::Validation(e))
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => {
            Flash::push(&session, "success", format!("Team {name} was saved.")).await;
            Ok(Redirect::to("/admin/teams").into_response())
        }
        Err(AppError::Validation(errors)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_teams(&state, ctx, String::new(), errors).await?)
                .into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- security settings ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/security.html")]
pub(crate) struct SecurityPage {
    ctx: PageCtx,
    all: bool,
    required: Vec<&'static str>,
    roles: [Role; 9],
    enforced: bool,
}

impl SecurityPage {
    fn requires(&self, role: &Role) -> bool {
        self.required.contains(&role.as_str())
    }
}

pub(crate) fn required_roles(setting: &serde_json::Value) -> (bool, Vec<&'static str>) {
    let all = mfa_policy::required(setting, Role::Admin) && Role::ALL.iter().all(|r| mfa_policy::required(setting, *r));
    let listed_all = matches!(setting, serde_json::Value::String(s) if s == "all")
        || setting.as_array().is_some_and(|a| a.iter().any(|v| v == "all"));
    let roles = Role::ALL.iter().filter(|r| mfa_policy::required(setting, **r)).map(|r| r.as_str()).collect();
    (all && listed_all, roles)
}

pub(crate) async fn security_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let setting = mfa_policy::setting(&state.db).await?;
    let (all, required) = required_roles(&setting);
    Ok(SecurityPage { ctx, all, required, roles: Role::ALL, enforced: state.config.enforce_mfa })
}

pub(crate) async fn update_security(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    admin(&user)?;
    let f = FormFields(fields);
    let value = if f.get("scope") == "all" {
        serde_json::json!("all")
    } else {
        let roles: Vec<&str> =
            Role::ALL.iter().map(|r| r.as_str()).filter(|r| f.all("roles").iter().any(|x| x == r)).collect();
        serde_json::json!(roles)
    };
    let mut tx = state.db.begin().await?;
    let before = mfa_policy::setting(&mut *tx).await?;
    mfa_policy::set_setting(&mut tx, &value).await?;
    Entry::new(Some(&user), "setting_changed", "setting", "mfa_required_roles")
        .before(before)
        .after(&value)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(
        &session,
        "success",
        "The two-step sign-in requirement was saved. It applies at each person's next sign-in.",
    )
    .await;
    Ok(Redirect::to("/admin/security").into_response())
}
