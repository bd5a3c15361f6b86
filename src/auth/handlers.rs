//! Sign-in, second factor, enrolment and sign-out pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use super::session::{SESSION_KEY, SessionAuth, SessionState, session_state};
use super::{mfa, password, store, throttle};
use crate::audit::{self, Entry};
use crate::auth::PageCtx;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::{Routes, request_ctx};

pub fn router() -> Routes {
    Routes::new()
        .public("/login", &["GET", "POST"], get(login_page).post(login))
        .public("/login/mfa", &["GET", "POST"], get(mfa_page).post(mfa_verify))
        .public("/login/mfa/setup", &["GET", "POST"], get(mfa_setup_page).post(mfa_setup))
        .public("/logout", &["POST"], post(logout))
}

/// Only same-site relative paths may be redirect targets.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/\\")
        && !n.contains("://")
        && !n.chars().any(char::is_control);
    ok.then(|| n.to_string())
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: PageCtx,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    pub next: Option<String>,
}

async fn login_page(ctx: PageCtx, Query(q): Query<NextQuery>) -> Response {
    if let Some(u) = &ctx.user {
        return Redirect::to(u.role.home()).into_response();
    }
    LoginPage { ctx, email: String::new(), next: safe_next(q.next.as_deref()).unwrap_or_default(), error: None }
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let now = state.clock.now();
    let email = form.email.trim().to_string();
    let acct = throttle::account_key(&email);
    let addr = throttle::address_key(&request_ctx().client_addr);
    if let Err(e) = throttle::check(&state.db, &[acct.clone(), addr.clone()], now).await {
        let typed = throttle::typed_email_hash(&email);
        let mut entry = Entry::new(None, "login_throttled", "user", &typed);
        entry.after = Some(serde_json::json!({ "email_sha256": typed }));
        entry.write(&state.db).await?;
        return Err(e);
    }
    let user = store::find_user_by_email(&state.db, &email).await?;
    let phc = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| password::dummy_hash().to_string());
    let pw = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &phc)).await.map_err(|e| anyhow::anyhow!(e))?;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            throttle::fail(&state.db, &acct, &addr, now).await?;
            let typed = throttle::typed_email_hash(&email);
            let mut entry = Entry::new(None, "login_failed", "user", &typed);
            entry.after = Some(serde_json::json!({ "email_sha256": typed }));
            entry.write(&state.db).await?;
            let page = LoginPage {
                ctx,
                email,
                next: safe_next(Some(&form.next)).unwrap_or_default(),
                error: Some("The email or password is incorrect.".into()),
            };
            return Ok((StatusCode::UNAUTHORIZED, page).into_response());
        }
    };
    throttle::succeed(&state.db, &acct).await?;
    // A new session id at sign-in defeats session fixation.
    session.cycle_id().await.map_err(|e| anyhow::anyhow!(e))?;
    let auth = SessionAuth {
        user_id: user.id,
        epoch: user.auth_epoch,
        signed_in_at: now.timestamp(),
        mfa_ok: false,
        mfa_at: None,
    };
    session.insert(SESSION_KEY, &auth).await.map_err(|e| anyhow::anyhow!(e))?;
    store::record_login(&state.db, user.id).await?;
    let current = user.clone().into_current(false);
    Entry::new(Some(&current), "login_succeeded", "user", user.id).write(&state.db).await?;
    let next = safe_next(Some(&form.next));
    if let Some(n) = &next {
        let _ = session.insert("after_login", n).await;
    }
    finish_or_second_factor(&state, &session).await
}

/// After a factor is passed: go to the second factor, enrolment, or the page the user wanted.
async fn finish_or_second_factor(state: &AppState, session: &Session) -> AppResult<Response> {
    match session_state(session, state).await? {
        SessionState::Complete(u) => {
            let next: Option<String> = session.remove("after_login").await.ok().flatten();
            Ok(Redirect::to(&next.unwrap_or_else(|| u.role.home().to_string())).into_response())
        }
        SessionState::NeedsMfa { enrolled: true, .. } => Ok(Redirect::to("/login/mfa").into_response()),
        SessionState::NeedsMfa { enrolled: false, .. } => Ok(Redirect::to("/login/mfa/setup").into_response()),
        SessionState::None => Ok(Redirect::to("/login").into_response()),
    }
}

async fn mark_mfa_ok(session: &Session, now: i64) -> AppResult<()> {
    let mut auth: SessionAuth =
        session.get(SESSION_KEY).await.map_err(|e| anyhow::anyhow!(e))?.ok_or(AppError::Unauthorized)?;
    auth.mfa_ok = true;
    auth.mfa_at = Some(now);
    session.cycle_id().await.map_err(|e| anyhow::anyhow!(e))?;
    session.insert(SESSION_KEY, &auth).await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/mfa.html")]
struct MfaPage {
    ctx: PageCtx,
    error: Option<String>,
}

async fn pending_user(state: &AppState, session: &Session) -> AppResult<store::UserRow> {
    match session_state(session, state).await? {
        SessionState::NeedsMfa { user_id, .. } => {
            store::find_user(&state.db, user_id).await?.ok_or(AppError::Unauthorized)
        }
        _ => Err(AppError::Unauthorized),
    }
}

async fn mfa_page(State(state): State<AppState>, session: Session, ctx: PageCtx) -> AppResult<Response> {
    let user = pending_user(&state, &session).await?;
    if !user.mfa_enabled {
        return Ok(Redirect::to("/login/mfa/setup").into_response());
    }
    Ok(MfaPage { ctx, error: None }.into_response())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn mfa_verify(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let user = pending_user(&state, &session).await?;
    let now = state.clock.now();
    let acct = throttle::account_key(&user.email);
    let addr = throttle::address_key(&request_ctx().client_addr);
    throttle::check(&state.db, &[acct.clone(), addr.clone()], now).await?;
    // Counted before the code is checked, on the second factor's own key (see throttle::SECOND_FACTOR_LIMIT).
    throttle::take_second_factor_attempt(&state.db, user.id, now).await?;
    // Sealed at rest (crate::secrets); a user without one (or whose secret no key opens) matches no code.
    let secret = match user.mfa_secret.as_deref().map(|s| state.secrets().open(s)) {
        Some(Ok(secret)) => secret,
        Some(Err(e)) => {
            tracing::error!(user = %user.id, error = %e, "cannot open the user's TOTP secret");
            String::new()
        }
        None => String::new(),
    };
    let step = mfa::matching_step(&secret, &user.email, &form.code, now.timestamp().max(0) as u64);
    let mut ok = match step {
        // Each time step's code is accepted once (compare-and-set, so two racing requests cannot both pass).
        Some(step) => sqlx::query_scalar!(
            "UPDATE users SET mfa_last_step = $2 WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2) RETURNING id",
            user.id,
            step as i64
        )
        .fetch_optional(&state.db)
        .await?
        .is_some(),
        None => false,
    };
    if !ok {
        let used = sqlx::query_scalar!(
            "UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING id",
            user.id,
            mfa::hash_recovery(&form.code)
        )
        .fetch_optional(&state.db)
        .await?;
        ok = used.is_some();
    }
    let current = user.clone().into_current(false);
    if !ok {
        throttle::fail(&state.db, &acct, &addr, now).await?;
        Entry::new(Some(&current), "mfa_failed", "user", user.id).write(&state.db).await?;
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            MfaPage { ctx, error: Some("That code is not valid. Try the newest code.".into()) },
        )
            .into_response());
    }
    throttle::succeed(&state.db, &acct).await?;
    throttle::succeed(&state.db, &throttle::second_factor_key(user.id)).await?;
    Entry::new(Some(&current), "mfa_passed", "user", user.id).write(&state.db).await?;
    mark_mfa_ok(&session, state.clock.now().timestamp()).await?;
    finish_or_second_factor(&state, &session).await
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/mfa_setup.html")]
struct MfaSetupPage {
    ctx: PageCtx,
    secret: String,
    qr_svg: String,
    error: Option<String>,
    recovery_codes: Vec<String>,
}

/// The session field holding the secret of an enrolment in progress, sealed (see `auth::SEALED`).
pub const PENDING_SECRET: &str = "mfa_pending_secret";

/// The secret of the enrolment in progress in this session, opened; None when there is none or it no longer
/// opens (sealed with a key since rotated: enrolment starts again with a new secret).
async fn pending_secret(state: &AppState, session: &Session) -> Option<String> {
    let sealed = session.get::<String>(PENDING_SECRET).await.ok().flatten()?;
    state.secrets().open(&sealed).ok()
}

async fn mfa_setup_page(State(state): State<AppState>, session: Session, ctx: PageCtx) -> AppResult<Response> {
    let user = pending_user(&state, &session).await?;
    if user.mfa_enabled {
        return Ok(Redirect::to("/login/mfa").into_response());
    }
    let secret = match pending_secret(&state, &session).await {
        Some(s) => s,
        None => {
            let s = mfa::new_secret();
            session.insert(PENDING_SECRET, state.secrets().seal(&s)?).await.map_err(|e| anyhow::anyhow!(e))?;
            s
        }
    };
    let (_, qr_svg) = mfa::enrolment(&secret, &user.email).ok_or_else(|| anyhow::anyhow!("QR generation failed"))?;
    Ok(MfaSetupPage { ctx, secret, qr_svg, error: None, recovery_codes: vec![] }.into_response())
}

async fn mfa_setup(
    State(state): State<AppState>,
    session: Session,
    ctx: PageCtx,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let user = pending_user(&state, &session).await?;
    if user.mfa_enabled {
        return Ok(Redirect::to("/login/mfa").into_response());
    }
    let secret = pending_secret(&state, &session).await.ok_or(AppError::BadRequest("Start enrolment again.".into()))?;
    let now = state.clock.now().timestamp().max(0) as u64;
    let Some(step) = mfa::matching_step(&secret, &user.email, &form.code, now) else {
        let (_, qr_svg) = mfa::enrolment(&secret, &user.email).unwrap_or_default();
        let page = MfaSetupPage {
            ctx,
            secret,
            qr_svg,
            error: Some("That code does not match. Check your phone's clock and try the newest code.".into()),
            recovery_codes: vec![],
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let codes = mfa::new_recovery_codes();
    let sealed = state.secrets().seal(&secret)?;
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        "UPDATE users SET mfa_secret = $2, mfa_enabled = true, mfa_last_step = $3, updated_at = now() WHERE id = $1",
        user.id,
        sealed,
        step as i64
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user.id).execute(&mut *tx).await?;
    for c in &codes {
        sqlx::query!(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            user.id,
            mfa::hash_recovery(c)
        )
        .execute(&mut *tx)
        .await?;
    }
    let current = user.clone().into_current(false);
    Entry::new(Some(&current), "mfa_enrolled", "user", user.id).write(&mut *tx).await?;
    tx.commit().await?;
    let _ = session.remove::<String>(PENDING_SECRET).await;
    mark_mfa_ok(&session, state.clock.now().timestamp()).await?;
    Ok(MfaSetupPage { ctx, secret: String::new(), qr_svg: String::new(), error: None, recovery_codes: codes }
        .into_response())
}

async fn logout(State(state): State<AppState>, session: Session) -> AppResult<Response> {
    if let Ok(Some(auth)) = session.get::<SessionAuth>(SESSION_KEY).await {
        audit::record_event(&state.db, Some(auth.user_id), "logout", "session").await;
    }
    // Deletes the server-side record: a replayed cookie finds nothing.
    session.flush().await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(Redirect::to("/login").into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_relative_next() {
        assert_eq!(safe_next(Some("/leads?x=1")), Some("/leads?x=1".into()));
        assert_eq!(safe_next(Some("//evil.example")), None);
        assert_eq!(safe_next(Some("https://evil.example")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(Some("leads")), None);
    }
}
