//! The signed-in person's own account: status, password, and the account API.

use super::*;

// ---------- own account ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/account.html")]
pub(crate) struct AccountPage {
    ctx: PageCtx,
    u: UserDetail,
    team_name: Option<String>,
    states: String,
    /// Tokens that act as this person, whoever issued them.
    tokens: Vec<TokenRow>,
    /// The zone this person chose to read times in ("" for the organisation's), and the organisation's.
    own_zone: String,
    org_zone: &'static str,
    zones: &'static [(&'static str, &'static str)],
}

/// The zones a person may read times in: the United States' zones, by the name people use.
pub(crate) const ZONES: &[(&str, &str)] = &[
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Mountain without daylight saving (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
    ("America/Puerto_Rico", "Atlantic (Puerto Rico)"),
];

pub(crate) async fn account_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    let u = store::user_detail(&state.db, user.id).await?.ok_or(AppError::Unauthorized)?;
    let team_name = match u.team_id {
        Some(t) => sqlx::query_scalar!("SELECT name FROM teams WHERE id = $1", t).fetch_optional(&state.db).await?,
        None => None,
    };
    let states = u.licensed_states.clone().unwrap_or_default().join(", ");
    let tokens = store::list_tokens(&state.db, Some(user.id)).await?;
    let own_zone = sqlx::query_scalar!("SELECT display_timezone FROM users WHERE id = $1", user.id)
        .fetch_one(&state.db)
        .await?
        .unwrap_or_default();
    let org_zone = state.config.timezone.name();
    Ok(AccountPage { ctx, u, team_name, states, tokens, own_zone, org_zone, zones: ZONES })
}

#[derive(Debug, Default, Deserialize)]
pub struct TimeZoneForm {
    /// A zone of [`ZONES`], or "" for the organisation's.
    #[serde(default)]
    timezone: String,
}

/// `POST /account/time-zone`: the zone this person reads and types times in, on every page and form.
pub(crate) async fn set_own_time_zone(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<TimeZoneForm>,
) -> AppResult<Response> {
    let chosen = form.timezone.trim();
    if !chosen.is_empty() && !ZONES.iter().any(|(z, _)| *z == chosen) {
        return Err(AppError::invalid("timezone", "Choose one of the listed time zones."));
    }
    let chosen = (!chosen.is_empty()).then_some(chosen);
    let mut tx = state.db.begin().await?;
    let before = sqlx::query_scalar!("SELECT display_timezone FROM users WHERE id = $1 FOR UPDATE", user.id)
        .fetch_one(&mut *tx)
        .await?;
    if before.as_deref() != chosen {
        sqlx::query!("UPDATE users SET display_timezone = $2, updated_at = now() WHERE id = $1", user.id, chosen)
            .execute(&mut *tx)
            .await?;
        Entry::new(Some(&user), "time_zone_changed", "user", user.id)
            .before(serde_json::json!({ "display_timezone": before }))
            .after(serde_json::json!({ "display_timezone": chosen }))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let shown = chosen.unwrap_or(state.config.timezone.name());
    Flash::push(&session, "success", format!("Times now show in {shown} time.")).await;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

pub(crate) async fn set_own_status(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    user.require_originator()?;
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
pub(crate) struct OwnPasswordPage {
    ctx: PageCtx,
    errors: FieldErrors,
}

pub(crate) async fn own_password_page(_user: CurrentUser, ctx: PageCtx) -> impl IntoResponse {
    OwnPasswordPage { ctx, errors: FieldErrors::new() }
}

pub(crate) async fn change_own_password(
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

/// `GET /api/v1/me`: who the token (or session) acts as.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: uuid::Uuid,
    pub email: String,
    pub name: String,
    pub role: crate::auth::Role,
    pub team_id: Option<uuid::Uuid>,
    /// The teams a manager manages (empty for everyone else).
    pub managed_team_ids: Vec<uuid::Uuid>,
}

pub(crate) async fn api_me(user: CurrentUser) -> axum::Json<Me> {
    axum::Json(Me {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        team_id: user.team_id,
        managed_team_ids: user.managed_team_ids,
    })
}
