//! People: the list, creating and editing a user, deactivation with the hand-over of open leads,
//! password and second-factor resets.

use super::*;
use crate::accounts::model::HandOver;

// ---------- users list ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/users.html")]
pub(crate) struct UsersPage {
    ctx: PageCtx,
    f: UserFilter,
    rows: Vec<UserListRow>,
    teams: Vec<TeamRow>,
    roles: [Role; 9],
}

pub(crate) async fn users_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(f): Query<UserFilter>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let rows = store::list_users(&state.db, &f).await?;
    let teams = store::list_teams(&state.db).await?;
    Ok(UsersPage { ctx, f, rows, teams, roles: Role::ALL })
}

// ---------- create ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_new.html")]
pub(crate) struct NewUserPage {
    ctx: PageCtx,
    form: NewUserForm,
    errors: FieldErrors,
    teams: Vec<TeamRow>,
    roles: [Role; 9],
}

#[derive(Debug, Default, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    states: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    nmls_id: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn new_user_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let form = NewUserForm { role: "lo".into(), capacity: "50".into(), ..Default::default() };
    Ok(NewUserPage {
        ctx,
        form,
        errors: FieldErrors::new(),
        teams: store::list_teams(&state.db).await?,
        roles: Role::ALL,
    })
}

pub(crate) async fn create_user(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(mut form): Form<NewUserForm>,
) -> AppResult<Response> {
    admin(&user)?;
    let teams = store::list_teams(&state.db).await?;
    let mut errors = FieldErrors::new();
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose a role.");
    }
    let team = if form.team_id.is_empty() {
        None
    } else {
        match teams.iter().find(|t| t.id.to_string() == form.team_id) {
            Some(t) => Some(t.name.clone()),
            None => {
                errors.add("team_id", "Choose a team from the list.");
                None
            }
        }
    };
    let states = model::parse_states(&form.states).unwrap_or_else(|m| {
        errors.add("states", m);
        vec![]
    });
    let capacity = if form.capacity.trim().is_empty() { Ok(50) } else { form.capacity.trim().parse::<i32>() };
    let capacity = capacity.unwrap_or_else(|_| {
        errors.add("capacity", "Capacity is a whole number of open leads.");
        50
    });
    let new = NewUser {
        email: form.email.trim().to_string(),
        name: form.name.trim().to_string(),
        role: role.unwrap_or(Role::Lo),
        password: form.password.clone(),
        team,
        states,
        capacity,
        nmls_id: Some(form.nmls_id.trim().to_string()).filter(|s| !s.is_empty()),
    };
    for (field, msgs) in store::validate_new_user(&new).0 {
        for m in msgs {
            if errors.get(&field) != Some(m.as_str()) {
                errors.add(&field, m);
            }
        }
    }
    let result = if errors.is_empty() {
        let mut tx = state.db.begin().await?;
        match store::create_user(&mut tx, &new).await {
            Ok(id) => {
                let after = store::user_detail(&mut *tx, id).await?;
                Entry::new(Some(&user), "user_created", "user", id).after(after).write(&mut *tx).await?;
                tx.commit().await?;
                Ok(id)
            }
            Err(e) => Err(e),
        }
    } else {
        Err(AppError::Validation(errors))
    };
    match result {
        Ok(id) => {
            Flash::push(&session, "success", format!("{} was added.", new.name)).await;
            Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            // Keep everything the admin typed except the password.
            form.password.clear();
            let page = NewUserPage { ctx, form, errors, teams, roles: Role::ALL };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

// ---------- edit ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_edit.html")]
pub(crate) struct UserPage {
    ctx: PageCtx,
    u: UserDetail,
    form: UserForm,
    errors: FieldErrors,
    teams: Vec<TeamRow>,
    roles: [Role; 9],
    tokens: Vec<TokenRow>,
    open_leads: i64,
    other_officers: Vec<(Uuid, String)>,
    statuses: [&'static str; 3],
    days: [(i32, &'static str); 7],
}

pub(crate) const DAYS: [(i32, &str); 7] =
    [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")];

pub(crate) fn form_from_detail(u: &UserDetail) -> UserForm {
    UserForm {
        name: u.name.clone(),
        email: u.email.clone(),
        role: u.role.as_str().to_string(),
        team_id: u.team_id.map(|t| t.to_string()).unwrap_or_default(),
        managed_team_ids: u.managed_team_ids.iter().map(Uuid::to_string).collect(),
        nmls_id: u.nmls_id.clone().unwrap_or_default(),
        licensed_states: u.licensed_states.clone().unwrap_or_default().join(", "),
        capacity: u.capacity.unwrap_or(50).to_string(),
        status: u.status.clone().unwrap_or_else(|| "available".into()),
        work_start: u.work_start.map(|t| t.format("%H:%M").to_string()).unwrap_or_else(|| "08:00".into()),
        work_end: u.work_end.map(|t| t.format("%H:%M").to_string()).unwrap_or_else(|| "18:00".into()),
        work_days: u.work_days.clone().unwrap_or_else(|| vec![1, 2, 3, 4, 5]),
        timezone: u.timezone.clone().unwrap_or_else(|| "America/Chicago".into()),
        routing_weight: u.routing_weight.unwrap_or(1).to_string(),
        monthly_cost: model::cents_to_dollars(u.monthly_cost_cents.unwrap_or(0)),
        originates: u.originates,
        version: u.version,
    }
}

pub(crate) async fn render_user_page(
    state: &AppState,
    ctx: PageCtx,
    u: UserDetail,
    form: Option<UserForm>,
    errors: FieldErrors,
) -> AppResult<UserPage> {
    let form = form.unwrap_or_else(|| form_from_detail(&u));
    let open_leads = if u.role == Role::Lo { store::open_lead_count(&state.db, u.id).await? } else { 0 };
    let other_officers =
        store::people_with_role(&state.db, Role::Lo).await?.into_iter().filter(|(id, _)| *id != u.id).collect();
    Ok(UserPage {
        ctx,
        tokens: store::list_tokens(&state.db, Some(u.id)).await?,
        u,
        form,
        errors,
        teams: store::list_teams(&state.db).await?,
        roles: Role::ALL,
        open_leads,
        other_officers,
        statuses: model::LO_STATUSES,
        days: DAYS,
    })
}

pub(crate) async fn user_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let u = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
    render_user_page(&state, ctx, u, None, FieldErrors::new()).await
}

pub(crate) async fn update_user(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    admin(&user)?;
    let form = UserForm::from_fields(&FormFields(fields));
    let edit = match model::check_user_form(&form) {
        Ok(e) => e,
        Err(errors) => {
            let u = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
            let page = render_user_page(&state, ctx, u, Some(form), errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    let before = store::lock_user(&mut tx, id).await?;
    if id == user.id && edit.role != Role::Admin {
        return Err(AppError::invalid("role", "You cannot remove your own administrator role."));
    }
    if let Err(e) = store::update_user(&mut tx, id, form.version, &edit).await {
        drop(tx);
        if let AppError::Validation(errors) = e {
            let u = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
            let page = render_user_page(&state, ctx, u, Some(form), errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        return Err(e);
    }
    let after = store::user_detail(&mut *tx, id).await?;
    // A role change alters what the user may see: end their sessions so the new scope applies at once.
    if before.role != edit.role {
        crate::auth::session_store::end_sessions_of(&mut tx, id).await?;
    }
    Entry::new(Some(&user), "user_updated", "user", id).before(&before).after(after).write(&mut *tx).await?;
    tx.commit().await?;
    crate::auth::token_cache::changed_here(&state);
    Flash::push(&session, "success", "Saved.").await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

// ---------- deactivate / reactivate ----------

#[derive(Debug, Default, Deserialize)]
pub struct DeactivateForm {
    /// "redistribute", "lo" or "team".
    #[serde(default)]
    hand_over: String,
    #[serde(default)]
    to_lo: String,
    #[serde(default)]
    to_team: String,
}

pub(crate) fn hand_over_choice(f: &DeactivateForm, lo_id: Uuid) -> Result<HandOver, &'static str> {
    match f.hand_over.as_str() {
        "redistribute" => Ok(HandOver::Redistribute),
        "lo" => match f.to_lo.parse::<Uuid>() {
            Ok(to) if to != lo_id => Ok(HandOver::ToLo(to)),
            _ => Err("Choose the loan officer who takes over the open leads."),
        },
        "team" => {
            f.to_team.parse().map(HandOver::ToTeamQueue).map_err(|_| "Choose the team whose queue takes the leads.")
        }
        _ => Err("Choose where this loan officer's open leads go before deactivating."),
    }
}

pub(crate) async fn deactivate(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<DeactivateForm>,
) -> AppResult<Response> {
    admin(&user)?;
    if id == user.id {
        return Err(AppError::conflict("You cannot deactivate your own account."));
    }
    let mut tx = state.db.begin().await?;
    let before = store::lock_user(&mut tx, id).await?;
    if !before.active {
        Flash::push(&session, "info", format!("{} was already inactive.", before.name)).await;
        return Ok(Redirect::to(&format!("/admin/users/{id}")).into_response());
    }
    let open = if before.role == Role::Lo { store::open_lead_count(&mut *tx, id).await? } else { 0 };
    let mut moved = 0;
    if open > 0 {
        let choice = match hand_over_choice(&form, id) {
            Ok(c) => c,
            Err(msg) => {
                drop(tx);
                let mut errors = FieldErrors::new();
                errors.add("hand_over", msg);
                let page = render_user_page(&state, ctx, before, None, errors).await?;
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
            }
        };
        if let Some(msg) = store::hand_over_target_problem(&mut *tx, &choice).await? {
            drop(tx);
            let mut errors = FieldErrors::new();
            errors.add("hand_over", msg);
            let page = render_user_page(&state, ctx, before, None, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        moved = (crate::accounts::wiring::wired()?.hand_over_open_leads)(&state, &mut tx, &user, id, choice.clone())
            .await?;
        Entry::new(Some(&user), "open_leads_handed_over", "user", id)
            .after(serde_json::json!({ "open_leads": open, "moved": moved, "to": format!("{choice:?}") }))
            .write(&mut *tx)
            .await?;
    }
    store::set_active(&mut tx, id, false).await?;
    let after = store::user_detail(&mut *tx, id).await?;
    Entry::new(Some(&user), "user_deactivated", "user", id).before(&before).after(after).write(&mut *tx).await?;
    tx.commit().await?;
    crate::auth::token_cache::changed_here(&state);
    let msg = if open > 0 {
        format!(
            "{} was deactivated; {moved} of {open} open leads were handed over. Their sessions have ended.",
            before.name
        )
    } else {
        format!("{} was deactivated. Their sessions have ended.", before.name)
    };
    Flash::push(&session, "success", msg).await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

pub(crate) async fn reactivate(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    admin(&user)?;
    let mut tx = state.db.begin().await?;
    let before = store::lock_user(&mut tx, id).await?;
    if !before.active {
        store::set_active(&mut tx, id, true).await?;
        let after = store::user_detail(&mut *tx, id).await?;
        Entry::new(Some(&user), "user_reactivated", "user", id).before(&before).after(after).write(&mut *tx).await?;
    }
    tx.commit().await?;
    crate::auth::token_cache::changed_here(&state);
    Flash::push(&session, "success", format!("{} is active again.", before.name)).await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

// ---------- password, MFA ----------

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub(crate) current_password: String,
    #[serde(default)]
    pub(crate) password: String,
}

pub(crate) async fn admin_reset_password(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    admin(&user)?;
    let target = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if let Some(msg) = password::policy_violation(&form.password, &target.email) {
        let mut errors = FieldErrors::new();
        errors.add("password", msg);
        let page = render_user_page(&state, ctx, target, None, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let hash = hash_password(form.password).await?;
    let mut tx = state.db.begin().await?;
    store::lock_user(&mut tx, id).await?;
    store::set_password(&mut tx, id, &hash).await?;
    Entry::new(Some(&user), "password_reset", "user", id)
        .after(serde_json::json!({ "by": "admin", "sessions_ended": true }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Password set for {}. Their sessions have ended.", target.name)).await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

pub(crate) async fn reset_mfa(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    admin(&user)?;
    let mut tx = state.db.begin().await?;
    let before = store::lock_user(&mut tx, id).await?;
    store::reset_mfa(&mut tx, id).await?;
    Entry::new(Some(&user), "mfa_reset", "user", id)
        .before(serde_json::json!({ "mfa_enabled": before.mfa_enabled }))
        .after(serde_json::json!({ "mfa_enabled": false }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("Two-step sign-in was reset for {}.", before.name)).await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}
