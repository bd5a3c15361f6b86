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
use crate::auth::{CurrentUser, PageCtx, Role, mfa_policy, password, throttle};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes, request_ctx};

mod audit_log;
mod own;
pub use own::Me;
mod teams;
mod tokens;
mod users;

use own::*;
use teams::*;
use tokens::*;
use users::*;

pub fn router() -> Routes {
    audit_log::router().merge(
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
            .route("/account/time-zone", &["POST"], post(set_own_time_zone))
            .route("/account/tokens/{id}/revoke", &["POST"], post(revoke_own_token))
            .route("/account/password", &["GET", "POST"], get(own_password_page).post(change_own_password))
            .route("/api/v1/me", &["GET"], get(api_me)),
    )
}

pub(crate) fn admin(user: &CurrentUser) -> AppResult<()> {
    user.require(&[Role::Admin])
}

pub(crate) async fn hash_password(pw: String) -> AppResult<String> {
    Ok(tokio::task::spawn_blocking(move || password::hash(&pw)).await.map_err(|e| anyhow::anyhow!(e))??)
}
