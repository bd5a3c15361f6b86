//! Admin pages for users, teams, API tokens and the MFA requirement, and the signed-in user's own account page.
//! Every change runs in one transaction with its audit entry (before/after JSON).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::model::{self, FormFields, UserForm};
use super::store::{self, NewUser, TeamRow, TokenRow, UserDetail, UserFilter, UserListRow};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role, mfa_policy, password, throttle};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::routing::HandOver;
use crate::state::AppState;
use crate::web::{Flash, PageCtx, Routes, request_ctx};

pub fn router() -> Routes {
    Routes::new()
        .route("/admin/users", &["GET"], get(users_page))
        .route("/admin/users/new", &["GET", "POST"], get(new_user_page).post(create_user))
        .route("/admin/users/{id}", &["GET", "POST"], get(user_page).post(update_user))
        .route("/admin/users/{id}/deactivate", &["POST"], post(deactivate))
        .route("/admin/users/{id}/reactivate", &["POST"], post(reactivate))
        .route("/admin/users/{id}/password", &["POST"], post(admin_reset_password))
        .route("/admin/users/{id}/mfa/reset", &["POST"], post(reset_mfa))
        .route("/admin/users/{id}/tokens", &["POST"], post(create_token))
        .route("/admin/tokens", &["GET"], get(tokens_page))
        .route("/admin/tokens/{id}/revoke", &["POST"], post(revoke_token))
        .route("/admin/teams", &["GET", "POST"], get(teams_page).post(create_team))
        .route("/admin/teams/{id}", &["POST"], post(update_team))
        .route("/admin/security", &["GET", "POST"], get(security_page).post(update_security))
        .route("/account", &["GET"], get(account_page))
        .route("/account/status", &["POST"], post(set_own_status))
        .route("/account/tokens/{id}/revoke", &["POST"], post(revoke_own_token))
        .route("/account/password", &["GET", "POST"], get(own_password_page).post(change_own_password))
        .route("/api/v1/me", &["GET"], get(api_me))
}

fn admin(user: &CurrentUser) -> AppResult<()> {
    user.require(&[Role::Admin])
}

async fn hash_password(pw: String) -> AppResult<String> {
    Ok(tokio::task::spawn_blocking(move || password::hash(&pw)).await.map_err(|e| anyhow::anyhow!(e))??)
}

// ---------- users list ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/users.html")]
struct UsersPage {
    ctx: PageCtx,
    f: UserFilter,
    rows: Vec<UserListRow>,
    teams: Vec<TeamRow>,
    roles: [Role; 6],
}

async fn users_page(
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
struct NewUserPage {
    ctx: PageCtx,
    form: NewUserForm,
    errors: FieldErrors,
    teams: Vec<TeamRow>,
    roles: [Role; 6],
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

async fn new_user_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
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

async fn create_user(
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
struct UserPage {
    ctx: PageCtx,
    u: UserDetail,
    form: UserForm,
    errors: FieldErrors,
    teams: Vec<TeamRow>,
    roles: [Role; 6],
    tokens: Vec<TokenRow>,
    open_leads: i64,
    other_los: Vec<(Uuid, String)>,
    statuses: [&'static str; 3],
    days: [(i32, &'static str); 7],
}

const DAYS: [(i32, &str); 7] = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")];

fn form_from_detail(u: &UserDetail) -> UserForm {
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
        version: u.version,
    }
}

async fn render_user_page(
    state: &AppState,
    ctx: PageCtx,
    u: UserDetail,
    form: Option<UserForm>,
    errors: FieldErrors,
) -> AppResult<UserPage> {
    let form = form.unwrap_or_else(|| form_from_detail(&u));
    let open_leads = if u.role == Role::Lo { store::open_lead_count(&state.db, u.id).await? } else { 0 };
    let other_los =
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
        other_los,
        statuses: model::LO_STATUSES,
        days: DAYS,
    })
}

async fn user_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let u = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
    render_user_page(&state, ctx, u, None, FieldErrors::new()).await
}

async fn update_user(
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

fn hand_over_choice(f: &DeactivateForm, lo_id: Uuid) -> Result<HandOver, &'static str> {
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

async fn deactivate(
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
        moved = crate::routing::hand_over_open_leads(&state, &mut tx, &user, id, choice.clone()).await?;
        Entry::new(Some(&user), "open_leads_handed_over", "user", id)
            .after(serde_json::json!({ "open_leads": open, "moved": moved, "to": format!("{choice:?}") }))
            .write(&mut *tx)
            .await?;
    }
    store::set_active(&mut tx, id, false).await?;
    let after = store::user_detail(&mut *tx, id).await?;
    Entry::new(Some(&user), "user_deactivated", "user", id).before(&before).after(after).write(&mut *tx).await?;
    tx.commit().await?;
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

async fn reactivate(
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
    Flash::push(&session, "success", format!("{} is active again.", before.name)).await;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

// ---------- password, MFA ----------

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

async fn admin_reset_password(
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

async fn reset_mfa(
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

// ---------- API tokens ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/token_created.html")]
struct TokenCreatedPage {
    ctx: PageCtx,
    user_id: Uuid,
    email: String,
    label: String,
    secret: String,
    scopes: String,
    expires_at: String,
}

/// `label`, `scope` (repeated: leads:write, read, full, metrics) and `days` (1–365, default 365).
async fn create_token(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    admin(&user)?;
    let now = state.clock.now();
    // A token is a standing credential: issuing one needs a second factor passed in the last 15 minutes.
    if !crate::auth::session::has_recent_mfa(&session, now.timestamp()).await {
        return Err(AppError::forbidden(
            "Creating an API token needs a sign-in with your second factor in the last 15 minutes: sign out, sign in \
             again with your code, and create it then.",
        ));
    }
    let target = store::user_detail(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !target.active {
        return Err(AppError::conflict("Reactivate the user before giving them an API token."));
    }
    let f = FormFields(fields);
    let label = f.get("label").trim().chars().take(100).collect::<String>();
    let label = if label.is_empty() { "admin".to_string() } else { label };
    let (scopes, days) = model::token_request(&f.all("scope"), &f.get("days")).map_err(AppError::Validation)?;
    let expires_at = now + chrono::Duration::days(days);
    let mut tx = state.db.begin().await?;
    let new = crate::auth::store::NewToken {
        user_id: id,
        label: &label,
        scopes: scopes.clone(),
        expires_at,
        issued_by: Some(user.id),
    };
    let (token_id, secret) = crate::auth::store::create_token(&mut tx, &new).await?;
    Entry::new(Some(&user), "token_created", "api_token", token_id)
        .after(serde_json::json!({ "user": target.email, "label": label, "scopes": scopes, "expires_at": expires_at }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    // Shown once, in this response only; the database keeps only a hash.
    let mut res = TokenCreatedPage {
        ctx,
        user_id: id,
        email: target.email,
        label,
        secret,
        scopes: scopes.join(", "),
        expires_at: expires_at.with_timezone(&state.config.timezone).format("%Y-%m-%d %H:%M %Z").to_string(),
    }
    .into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/tokens.html")]
struct TokensPage {
    ctx: PageCtx,
    tokens: Vec<TokenRow>,
}

async fn tokens_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    Ok(TokensPage { ctx, tokens: store::list_tokens(&state.db, None).await? })
}

async fn revoke_token(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    admin(&user)?;
    let before = revoke(&state, &user, id, None).await?;
    Flash::push(&session, "success", format!("Token \"{}\" of {} was revoked.", before.label, before.user_email)).await;
    Ok(Redirect::to(&format!("/admin/users/{}", before.user_id)).into_response())
}

/// `POST /account/tokens/{id}/revoke`: a person revokes a token that acts as them (someone else may have
/// issued it); another person's token answers 404.
async fn revoke_own_token(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let before = revoke(&state, &user, id, Some(user.id)).await?;
    Flash::push(&session, "success", format!("Token \"{}\" was revoked.", before.label)).await;
    Ok(Redirect::to("/account").into_response())
}

async fn revoke(state: &AppState, user: &CurrentUser, id: Uuid, owner: Option<Uuid>) -> AppResult<store::TokenRow> {
    let mut tx = state.db.begin().await?;
    let before = store::revoke_token(&mut tx, id, owner).await?.ok_or(AppError::NotFound)?;
    if before.revoked_at.is_none() {
        Entry::new(Some(user), "token_revoked", "api_token", id)
            .before(&before)
            .after(serde_json::json!({ "revoked": true }))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(before)
}

// ---------- teams ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/teams.html")]
struct TeamsPage {
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

async fn render_teams(state: &AppState, ctx: PageCtx, new_name: String, errors: FieldErrors) -> AppResult<TeamsPage> {
    Ok(TeamsPage {
        ctx,
        teams: store::list_teams(&state.db).await?,
        managers: store::people_with_role(&state.db, Role::Manager).await?,
        new_name,
        errors,
    })
}

async fn teams_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    render_teams(&state, ctx, String::new(), FieldErrors::new()).await
}

fn check_team_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.chars().count() > 100 { Some("Enter a team name (up to 100 characters).") } else { None }
}

async fn create_team(
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

async fn update_team(
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
    let result = match check_team_name(&name) {
        Some(msg) => Err(AppError::invalid("team_name", msg)),
        None => {
            let mut tx = state.db.begin().await?;
            match store::update_team(&mut tx, id, &name, &managers).await {
                Ok(()) => {
                    let ids: Vec<Uuid> = sqlx::query_scalar!(
                        "SELECT user_id FROM team_managers WHERE team_id = $1 ORDER BY user_id",
                        id
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    Entry::new(Some(&user), "team_updated", "team", id)
                        .before(serde_json::json!({ "name": before.name, "managers": before.manager_ids }))
                        .after(serde_json::json!({ "name": name, "managers": ids }))
                        .write(&mut *tx)
                        .await?;
                    tx.commit().await?;
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
struct SecurityPage {
    ctx: PageCtx,
    all: bool,
    required: Vec<&'static str>,
    roles: [Role; 6],
    enforced: bool,
}

impl SecurityPage {
    fn requires(&self, role: &Role) -> bool {
        self.required.contains(&role.as_str())
    }
}

fn required_roles(setting: &serde_json::Value) -> (bool, Vec<&'static str>) {
    let all = mfa_policy::required(setting, Role::Admin) && Role::ALL.iter().all(|r| mfa_policy::required(setting, *r));
    let listed_all = matches!(setting, serde_json::Value::String(s) if s == "all")
        || setting.as_array().is_some_and(|a| a.iter().any(|v| v == "all"));
    let roles = Role::ALL.iter().filter(|r| mfa_policy::required(setting, **r)).map(|r| r.as_str()).collect();
    (all && listed_all, roles)
}

async fn security_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    let setting = mfa_policy::setting(&state.db).await?;
    let (all, required) = required_roles(&setting);
    Ok(SecurityPage { ctx, all, required, roles: Role::ALL, enforced: state.config.enforce_mfa })
}

async fn update_security(
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

// ---------- own account ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    ctx: PageCtx,
    u: UserDetail,
    team_name: Option<String>,
    states: String,
    /// Tokens that act as this person, whoever issued them.
    tokens: Vec<TokenRow>,
}

async fn account_page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    let u = store::user_detail(&state.db, user.id).await?.ok_or(AppError::Unauthorized)?;
    let team_name = match u.team_id {
        Some(t) => sqlx::query_scalar!("SELECT name FROM teams WHERE id = $1", t).fetch_optional(&state.db).await?,
        None => None,
    };
    let states = u.licensed_states.clone().unwrap_or_default().join(", ");
    let tokens = store::list_tokens(&state.db, Some(user.id)).await?;
    Ok(AccountPage { ctx, u, team_name, states, tokens })
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn set_own_status(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    user.require(&[Role::Lo])?;
    // An LO may step away and come back; "offline" is set by their manager or an admin.
    if !matches!(form.status.as_str(), "available" | "away") {
        return Err(AppError::invalid("status", "Choose available or away."));
    }
    let mut tx = state.db.begin().await?;
    let before = store::set_lo_status(&mut tx, user.id, &form.status).await?;
    let Some(before) = before else {
        return Err(AppError::conflict("Your loan officer profile is missing; ask an administrator."));
    };
    if before != form.status {
        Entry::new(Some(&user), "lo_status_changed", "user", user.id)
            .before(serde_json::json!({ "status": before }))
            .after(serde_json::json!({ "status": form.status }))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Flash::push(&session, "success", format!("You are now {}.", form.status)).await;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/password.html")]
struct OwnPasswordPage {
    ctx: PageCtx,
    errors: FieldErrors,
}

async fn own_password_page(_user: CurrentUser, ctx: PageCtx) -> impl IntoResponse {
    OwnPasswordPage { ctx, errors: FieldErrors::new() }
}

async fn change_own_password(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let row = crate::auth::store::find_user(&state.db, user.id).await?.ok_or(AppError::Unauthorized)?;
    // The current password is guessed against the same counters as sign-in: a stolen session gets no extra
    // guesses here, and a locked account or address is locked here too.
    let now = state.clock.now();
    let acct = throttle::account_key(&user.email);
    let addr = throttle::address_key(&request_ctx().client_addr);
    if let Err(e) = throttle::check(&state.db, &[acct.clone(), addr.clone()], now).await {
        Entry::new(Some(&user), "password_change_throttled", "user", user.id).write(&state.db).await?;
        return Err(e);
    }
    let mut errors = FieldErrors::new();
    let phc = row.password_hash.clone();
    let current = form.current_password.clone();
    let ok =
        tokio::task::spawn_blocking(move || password::verify(&current, &phc)).await.map_err(|e| anyhow::anyhow!(e))?;
    if ok {
        throttle::succeed(&state.db, &acct).await?;
    } else {
        throttle::fail(&state.db, &acct, &addr, now).await?;
        Entry::new(Some(&user), "password_change_failed", "user", user.id).write(&state.db).await?;
        errors.add("current_password", "Your current password is not correct.");
    }
    if let Some(msg) = password::policy_violation(&form.password, &user.email) {
        errors.add("password", msg);
    }
    if !errors.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, OwnPasswordPage { ctx, errors }).into_response());
    }
    let hash = hash_password(form.password).await?;
    let mut tx = state.db.begin().await?;
    store::set_password(&mut tx, user.id, &hash).await?;
    Entry::new(Some(&user), "password_changed", "user", user.id)
        .after(serde_json::json!({ "by": "self", "sessions_ended": true }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    // Every session ends, this one included: sign in again with the new password.
    session.flush().await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(Redirect::to("/login").into_response())
}

// ---------- API ----------

async fn api_me(user: CurrentUser) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "team_id": user.team_id,
        "managed_team_ids": user.managed_team_ids,
    }))
}
