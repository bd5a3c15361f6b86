//! Who is calling: the session (browser) or an API token, turned into a [`CurrentUser`].
//!
//! Sessions live in Postgres (tower-sessions), so every instance sees them and logout deletes them
//! server-side. Each session remembers the user's `auth_epoch`; deactivation and password resets bump it,
//! which ends all of that user's sessions at their next request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::session::Id;
use uuid::Uuid;

use super::model::CurrentUser;
use super::session_cache::{KeptSession, SessionCache};
use super::session_store::stored_id;
use super::store;
use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::RequestCtx;

pub const SESSION_KEY: &str = "auth";

/// What the session stores about the signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: Uuid,
    pub epoch: i32,
    /// Unix seconds at sign-in, for the absolute lifetime.
    pub signed_in_at: i64,
    /// True once the second factor is passed (or none is needed).
    pub mfa_ok: bool,
    /// Unix seconds when the second factor was last passed in this session (creating an API token in the
    /// browser needs one within the last 15 minutes).
    #[serde(default)]
    pub mfa_at: Option<i64>,
}

/// How recent a second factor must be for sensitive actions (creating an API token).
pub const RECENT_MFA_SECS: i64 = 15 * 60;

/// Whether this session passed its second factor within [`RECENT_MFA_SECS`] of `now`.
pub async fn has_recent_mfa(session: &Session, now: i64) -> bool {
    session
        .get::<SessionAuth>(SESSION_KEY)
        .await
        .ok()
        .flatten()
        .and_then(|a| a.mfa_at)
        .is_some_and(|t| now - t <= RECENT_MFA_SECS && t <= now)
}

/// Where a session stands, for the pages that run before sign-in is complete.
pub enum SessionState {
    None,
    /// Password accepted; the user must still pass (or enrol in) the second factor.
    NeedsMfa {
        user_id: Uuid,
        enrolled: bool,
    },
    Complete(CurrentUser),
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<CurrentUser>() {
            return Ok(cached.clone());
        }
        let user = resolve(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<crate::audit::ActorSlot>() {
            slot.set(user.id);
        }
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<CurrentUser, Response> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    if let Some(token) = bearer {
        return match token_user(state, &token).await {
            Ok(Some(user)) => {
                let path = parts
                    .extensions
                    .get::<axum::extract::OriginalUri>()
                    .map(|u| u.0.path().to_string())
                    .unwrap_or_else(|| parts.uri.path().to_string());
                if user.token.as_ref().is_some_and(|g| g.allows(&parts.method, &path)) {
                    Ok(user)
                } else {
                    // Audited as a refusal with its actor (audit::record_refusals).
                    if let Some(slot) = parts.extensions.get::<crate::audit::ActorSlot>() {
                        slot.set(user.id);
                    }
                    Err(AppError::forbidden(
                        "This API token's scopes do not allow this request; tokens never open pages.",
                    )
                    .into_response())
                }
            }
            Ok(None) => Err(AppError::Unauthorized.into_response()),
            Err(e) => Err(AppError::from(e).into_response()),
        };
    }
    let session = Session::from_request_parts(parts, state).await.map_err(|e| e.into_response())?;
    if let Some(id) = session_cookie(parts, cookie_name(&state.config)) {
        match fast_session(state, &id).await {
            Ok(Some((user, hints, touch))) => {
                // A page's own background poll (the bell) is not activity: it never pushes the idle expiry.
                let background = parts.headers.contains_key(BACKGROUND_POLL);
                if touch && !background {
                    // Sliding idle expiry: mark the session changed so it is saved with a new expiry and
                    // cookie; at most every few minutes, so most page views write nothing.
                    let _ = session.insert(TOUCHED_KEY, state.clock.now().timestamp()).await;
                }
                parts.extensions.insert(hints);
                return Ok(user);
            }
            Ok(None) => {}
            Err(e) => return Err(AppError::from(e).into_response()),
        }
    }
    match session_state(&session, state).await.map_err(IntoResponse::into_response)? {
        SessionState::Complete(user) => Ok(user),
        SessionState::None => Err(AppError::Unauthorized.into_response()),
        SessionState::NeedsMfa { enrolled, .. } => {
            let is_api = parts.extensions.get::<RequestCtx>().is_some_and(|c| c.is_api);
            if is_api {
                Err(AppError::Unauthorized.into_response())
            } else if enrolled {
                Err(Redirect::to("/login/mfa").into_response())
            } else {
                Err(Redirect::to("/login/mfa/setup").into_response())
            }
        }
    }
}

/// The active user behind an API token: kept by this instance for a few seconds (`token_cache`, invalidated
/// across instances by PostgreSQL notifications), otherwise read in one round trip and kept.
async fn token_user(state: &AppState, token: &str) -> sqlx::Result<Option<CurrentUser>> {
    let hash = store::token_hash(token);
    let cache = super::token_cache::TokenCache::of(state);
    let now = chrono::Utc::now();
    if let Some(user) = cache.get(&hash, now) {
        return Ok(Some(user));
    }
    let generation = cache.generation();
    let found = store::user_for_token(&state.db, &hash).await?;
    Ok(found.map(|(user, expires_at)| {
        cache.keep(hash, &user, expires_at, generation);
        user
    }))
}

/// The session cookie's name: with the `__Host-` prefix whenever the cookie is `Secure`, so a browser takes it
/// only from this exact origin over TLS, for path `/`, and no sibling subdomain can set or shadow it.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.plain_http_cookies().is_some() { "loanfloor_session" } else { "__Host-loanfloor_session" }
}
const TOUCHED_KEY: &str = "touched_at";
/// The header a page's script sends on its background polls (see `static/app.js`).
pub const BACKGROUND_POLL: &str = "x-background-poll";
/// A session's idle expiry is pushed forward when less than its full idle time minus this remains.
const TOUCH_EVERY_MINUTES: i64 = 5;

/// What the page header needs, learnt while reading the session (so pages need no extra queries for it).
#[derive(Debug, Clone, Copy)]
pub struct SessionHints {
    pub unread: i64,
    pub has_flash: bool,
}

/// The session id in the request's cookie, if it is one (the form tower-sessions gives ids).
fn session_cookie(parts: &Parts, cookie: &str) -> Option<Id> {
    parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |c| {
            let (name, value) = c.trim().split_once('=')?;
            if name == cookie { value.parse().ok() } else { None }
        },
    )
}

/// The common case in one query: a live session of an active user whose sign-in is complete. Anything else
/// (no such session, expired, deactivated, superseded, too old, second factor pending) returns None and
/// goes through [`session_state`], which ends the session or asks for the second factor. Returns the user,
/// the page hints and whether the idle expiry is due to be pushed forward.
async fn fast_session(state: &AppState, id: &Id) -> sqlx::Result<Option<(CurrentUser, SessionHints, bool)>> {
    let id_hash = stored_id(id);
    let cache = state.config.session_cache.then(|| SessionCache::of(state));
    // A kept session answers while it is within its idle expiry and its sign-in's absolute lifetime (the person,
    // the session and the unread count are forgotten when they change).
    if let Some(kept) = cache.as_ref().and_then(|c| c.get(&id_hash)) {
        if kept.expires_at > chrono::Utc::now() && !kept.auth.too_old(state) {
            return Ok(Some(answer(state, kept)));
        }
    }
    let began = std::time::Instant::now();
    let Some(row) = store::session_with_user(&state.db, &id_hash).await? else { return Ok(None) };
    let Some(auth) = row.data.get(SESSION_KEY).and_then(|v| serde_json::from_value::<SessionAuth>(v.clone()).ok())
    else {
        return Ok(None);
    };
    let u = &row.user;
    if !auth.opens(u, state) {
        return Ok(None);
    }
    if !auth.mfa_ok {
        let required =
            state.config.enforce_mfa && row.mfa_roles.as_ref().is_some_and(|v| super::mfa_policy::required(v, u.role));
        if u.mfa_enabled || required {
            return Ok(None);
        }
    }
    let kept = KeptSession {
        zone: row.user.display_timezone.as_deref().and_then(|z| z.parse().ok()),
        unread: row.unread,
        has_flash: row.data.get("flash").is_some(),
        expires_at: row.expires_at,
        user: row.user.into_current(false),
        auth,
    };
    // Kept only once complete (above: second factor passed or not needed); a change to the roles that need one
    // notifies like a change to a person (`migrations/0066`).
    if let Some(c) = cache {
        c.keep(id_hash, kept.clone(), began);
    }
    Ok(Some(answer(state, kept)))
}

/// The signed-in user, the page hints and whether the idle expiry is due to be pushed forward.
fn answer(state: &AppState, kept: KeptSession) -> (CurrentUser, SessionHints, bool) {
    let idle = chrono::Duration::minutes(state.config.session_idle_minutes);
    let touch = kept.expires_at < state.clock.now() + idle - chrono::Duration::minutes(TOUCH_EVERY_MINUTES);
    if let Some(zone) = kept.zone {
        crate::web::set_person_zone(zone);
    }
    (kept.user, SessionHints { unread: kept.unread, has_flash: kept.has_flash }, touch)
}

/// Reads and validates the session: expired, deactivated or superseded sessions are ended here.
pub async fn session_state(session: &Session, state: &AppState) -> Result<SessionState, AppError> {
    let Some(auth) = session.get::<SessionAuth>(SESSION_KEY).await.map_err(|e| anyhow::anyhow!(e))? else {
        return Ok(SessionState::None);
    };
    let user = store::find_user(&state.db, auth.user_id).await?;
    let Some(user) = user.filter(|u| auth.opens(u, state)) else {
        session.flush().await.map_err(|e| anyhow::anyhow!(e))?;
        return Ok(SessionState::None);
    };
    if !auth.mfa_ok {
        let required = state.config.enforce_mfa && super::mfa_policy::required_for(&state.db, user.role).await?;
        if user.mfa_enabled || required {
            return Ok(SessionState::NeedsMfa { user_id: user.id, enrolled: user.mfa_enabled });
        }
    }
    person_zone(&user);
    Ok(SessionState::Complete(user.into_current(false)))
}

/// The person's own time zone, if they chose one, for the rest of the request's pages and forms.
fn person_zone(user: &store::UserRow) {
    if let Some(zone) = user.display_timezone.as_deref().and_then(|z| z.parse().ok()) {
        crate::web::set_person_zone(zone);
    }
}

impl SessionAuth {
    /// Whether this sign-in still opens `user`'s account: the same user, still active, not superseded (a
    /// deactivation or password reset bumps the epoch) and within the absolute session lifetime.
    fn opens(&self, user: &store::UserRow, state: &AppState) -> bool {
        self.user_id == user.id && user.active && user.auth_epoch == self.epoch && !self.too_old(state)
    }

    /// Whether the sign-in is past the absolute session lifetime.
    fn too_old(&self, state: &AppState) -> bool {
        state.clock.now().timestamp() - self.signed_in_at > state.config.session_max_hours * 3600
    }
}
