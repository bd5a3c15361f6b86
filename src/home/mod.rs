//! The front door: `/` sends each role to its home page; the `/admin` landing page (the account page lives in accounts); health;
//! Prometheus metrics for API tokens.

pub mod api_docs;
pub mod data_request;
pub mod digest;
pub mod executive_digest;
pub mod housekeeping;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
        .public("/", &["GET"], get(root))
        .route("/admin", &["GET"], get(admin_home))
        .route("/admin/data-request", &["GET", "POST"], get(data_request::page).post(data_request::page_post))
        .route(
            "/admin/data-request.json",
            &["GET", "POST"],
            get(data_request::json_export).post(data_request::json_export_post),
        )
        .route("/metrics", &["GET"], get(metrics_for_tokens))
        .merge(api_docs::router())
}

/// `GET /metrics` on the main listener: for an admin's API token with the `metrics` scope only (a scraper), never
/// a browser session — people and dashboards use the `--metrics-addr` listener. (The token extractor admits a
/// token here only with that scope; it is checked again here, so this route stays closed if that rule moves.)
async fn metrics_for_tokens(user: CurrentUser, state: State<AppState>) -> AppResult<Response> {
    let metrics_scope = user.token.as_ref().is_some_and(|t| t.scopes.iter().any(|s| s == "metrics"));
    if !metrics_scope || user.role != Role::Admin {
        return Err(AppError::forbidden(
            "Metrics are served on the --metrics-addr listener, or here to an admin's API token with the metrics scope.",
        ));
    }
    Ok(crate::web::metrics::prometheus(state).await.into_response())
}

async fn root(ctx: PageCtx) -> Response {
    match ctx.user {
        Some(u) => Redirect::to(u.role.home()).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// 200 when the database answers, 503 otherwise; the server keeps running and recovers by itself.
/// `GET /healthz`: the process is alive (for a supervisor deciding whether to restart it). It does not ask
/// the database: a database outage is not cured by restarting the application.
pub async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: this instance can serve (for a load balancer): the database answers within 2 seconds and
/// its schema has every migration this binary knows. 503 otherwise, with the reason.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let expected = crate::db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&state.db),
    )
    .await;
    let (ready, reason) = match applied {
        Ok(Ok(Some(v))) if v >= expected => (true, "ok".to_string()),
        Ok(Ok(v)) => {
            (false, format!("migrations behind: database at {}, this binary needs {expected}", v.unwrap_or(0)))
        }
        Ok(Err(_)) | Err(_) => (false, "database unreachable".to_string()),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut res =
        (status, Json(serde_json::json!({"status": if ready { "ready" } else { "unavailable" }, "reason": reason})))
            .into_response();
    if !ready {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    }
    res
}

/// Runs a `home.*` job: the managers' morning digest, the hourly housekeeping.
pub async fn run_job(
    state: &AppState,
    job: &crate::jobs::Job,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match job.kind.as_str() {
        digest::DIGEST_JOB => digest::run_job(state, job, now).await,
        executive_digest::EXECUTIVE_DIGEST_JOB => executive_digest::run_job(state, job, now).await,
        housekeeping::HOUSEKEEPING_JOB => housekeeping::run(state, now).await.map(|_| ()),
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

/// Schedules the recurring `home.*` jobs (at server start; each run schedules its next).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    digest::schedule(state).await?;
    executive_digest::schedule(state).await?;
    housekeeping::schedule(state).await
}

#[derive(Template, WebTemplate)]
#[template(path = "home/admin.html")]
struct AdminPage {
    ctx: PageCtx,
    users: i64,
    teams: i64,
    leads: i64,
    unassigned: i64,
}

async fn admin_home(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    let r = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM users WHERE active) AS "users!",
                  (SELECT count(*) FROM teams) AS "teams!",
                  (SELECT count(*) FROM (SELECT 1 FROM leads LIMIT 100000) x) AS "leads!",
                  (SELECT count(*) FROM (SELECT 1 FROM leads WHERE assigned_lo_id IS NULL
                                         AND metrics_won_pos(stage) BETWEEN 1 AND 7 LIMIT 10000) y) AS "unassigned!""#
    )
    .fetch_one(&state.db)
    .await?;
    Ok(AdminPage { ctx, users: r.users, teams: r.teams, leads: r.leads, unassigned: r.unassigned })
}
