//! API tokens: issuing (the secret shown once), listing and revoking.

use super::*;

// ---------- API tokens ----------

#[derive(Template, WebTemplate)]
#[template(path = "accounts/token_created.html")]
pub(crate) struct TokenCreatedPage {
    ctx: PageCtx,
    user_id: Uuid,
    email: String,
    label: String,
    secret: String,
    scopes: String,
    expires_at: String,
}

/// `label`, `scope` (repeated: leads:write, read, full, metrics) and `days` (1–365, default 365).
pub(crate) async fn create_token(
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
pub(crate) struct TokensPage {
    ctx: PageCtx,
    tokens: Vec<TokenRow>,
}

pub(crate) async fn tokens_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
) -> AppResult<impl IntoResponse> {
    admin(&user)?;
    Ok(TokensPage { ctx, tokens: store::list_tokens(&state.db, None).await? })
}

pub(crate) async fn revoke_token(
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
pub(crate) async fn revoke_own_token(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let before = revoke(&state, &user, id, Some(user.id)).await?;
    Flash::push(&session, "success", format!("Token \"{}\" was revoked.", before.label)).await;
    Ok(Redirect::to("/account").into_response())
}

pub(crate) async fn revoke(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    owner: Option<Uuid>,
) -> AppResult<store::TokenRow> {
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
    crate::auth::token_cache::changed_here(state);
    Ok(before)
}
