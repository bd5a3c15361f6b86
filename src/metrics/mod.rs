//! Metrics and manager dashboards: funnels per team and per LO, speed-to-lead, talk time, lost reasons,
//! source ROI, pipeline and capacity. Definitions live once: which facts count in migration 0007 (the
//! `metrics_contributions` view), the arithmetic in `model`. Figures are read from incremental rollups kept
//! by triggers in the same transaction as the facts.
pub mod api;
pub mod cache;
pub mod dashboard;
pub mod handlers;
pub mod model;
mod rebuild;
pub mod spend;
pub mod store;

use axum::routing::get;
use sqlx::PgPool;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
        .route("/dashboard", &["GET"], get(handlers::dashboard_page))
        .route("/dashboard/export", &["GET"], get(handlers::export))
        .route("/me/metrics", &["GET"], get(handlers::my_numbers))
        .route("/reports", &["GET"], get(handlers::reports))
        .route("/api/v1/metrics/funnel", &["GET"], get(handlers::api_funnel))
        .route("/api/v1/metrics/speed-to-lead", &["GET"], get(handlers::api_speed))
        .route("/api/v1/metrics/lost-reasons", &["GET"], get(handlers::api_lost))
        .route("/api/v1/metrics/roi", &["GET"], get(handlers::api_roi))
        .merge(spend::router())
}

/// Rebuilds every metrics rollup from the base tables. Call after bulk loads that ran with
/// `SET loanfloor.metrics_triggers = 'off'` (the seed generator, COPY imports).
pub async fn rebuild_rollups(db: &PgPool) -> anyhow::Result<()> {
    store::rebuild(db).await
}

/// Folds pending rollup deltas (the `metrics.fold` job; safe to run from several instances at once).
pub async fn fold_rollups(db: &PgPool) -> anyhow::Result<i64> {
    let mut total = 0;
    loop {
        let moved = store::fold(db, 50_000).await?;
        total += moved;
        if moved < 50_000 {
            return Ok(total);
        }
    }
}

/// Runs a job of kind `metrics.*`: `metrics.fold` folds pending deltas, `metrics.rebuild` rebuilds.
/// (Dashboards also fold when many deltas are pending, so no job chain is needed for freshness: reads add
/// unfolded deltas and are exact either way.)
pub async fn run_job(
    state: &crate::state::AppState,
    job: &crate::jobs::Job,
    _now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "metrics.fold" => fold_rollups(&state.db).await.map(|_| ()),
        "metrics.rebuild" => rebuild_rollups(&state.db).await,
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

/// Per-LO figures over leads assigned in [from, to), by the dashboard's definitions (its speed-to-lead
/// rows), for the capabilities that show them elsewhere (coaching, wired by `lib.rs`).
pub async fn officer_figures(
    state: &crate::state::AppState,
    user: &crate::auth::CurrentUser,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> crate::error::AppResult<Vec<crate::escalations::wiring::OfficerFigures>> {
    let p = dashboard::Params { from: Some(from.to_string()), to: Some(to.to_string()), ..Default::default() };
    let (_, rows) = dashboard::speed_rows(state, user, &p).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(crate::escalations::wiring::OfficerFigures {
                lo_id: uuid::Uuid::parse_str(&r.key).ok()?,
                assigned: r.assigned,
                called: r.called,
                contact_rate_pct: r.contact_rate_pct,
                application_rate_pct: r.application_rate_pct,
                talk_seconds: r.talk_seconds,
                funded: r.funded,
            })
        })
        .collect())
}
