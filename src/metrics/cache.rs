//! Recently computed manager dashboards, reused for a short while (30 s by default,
//! `--dashboard-cache-seconds`) for the same user and filters.
//!
//! A manager's dashboard reads a dozen rollup queries; at 1M leads that is hundreds of milliseconds of
//! database time, while the figures change little from one second to the next. The page says when its
//! figures were computed and offers "Refresh now", which recomputes at once. Concurrent requests for the
//! same dashboard wait for one computation (moka's `try_get_with`) instead of all computing it. The cache
//! is per instance and holds nothing that is not in Postgres: losing it only costs a recomputation. CSV
//! exports and the JSON API always compute fresh.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::future::Cache;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::dashboard::{Dashboard, Params};
use crate::error::{AppError, AppResult};
use crate::portfolio::RetentionSummary;
use crate::state::AppState;

/// This instance's dashboard cache (kept in the state's extensions; a per-instance convenience, losing it
/// changes nothing).
pub fn dashboards(state: &AppState) -> Arc<DashboardCache> {
    state.extensions.get_or_insert_with(|| DashboardCache::new(state.config.dashboard_cache, state.config.db_pool_size))
}

/// One computed dashboard page's figures.
pub struct Snapshot {
    pub dashboard: Dashboard,
    pub retention: RetentionSummary,
    /// Pull-through by lock cohort month (the viewer's locked loans first locked in the range).
    pub locks: Vec<crate::locks::desk::CohortRow>,
    /// Per department: open items, past due, answered and the median response time, over what the viewer
    /// forwarded (admins: everything); none for marketing.
    pub departments: Vec<crate::departments::service::Figure>,
    pub computed_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct DashboardCache {
    snapshots: Option<Cache<String, Arc<Snapshot>>>,
    /// Dashboard reads running at once in this instance: a computation runs its reads side by side, but all
    /// dashboards together never hold more than this many pool connections, so other pages keep theirs.
    reads: Arc<Semaphore>,
}

impl DashboardCache {
    /// A cache keeping snapshots for `ttl` (none when `ttl` is zero); dashboards may use a quarter of the
    /// `pool_size` connections (at least two) at once.
    pub fn new(ttl: Duration, pool_size: u32) -> Self {
        let snapshots = (!ttl.is_zero()).then(|| Cache::builder().max_capacity(1_000).time_to_live(ttl).build());
        Self { snapshots, reads: Arc::new(Semaphore::new((pool_size as usize / 4).max(2))) }
    }

    /// Runs one dashboard read when a read slot is free.
    pub async fn read<T>(&self, read: impl Future<Output = AppResult<T>>) -> AppResult<T> {
        let _slot = self.reads.acquire().await.map_err(anyhow::Error::from)?;
        read.await
    }

    /// The snapshot for this user and these filters: a fresh one when `refresh` is set, when none is kept or
    /// when the kept one is older than the time to live; otherwise the kept one.
    pub async fn get_or_compute<F>(
        &self,
        user: Uuid,
        params: &Params,
        refresh: bool,
        compute: F,
    ) -> AppResult<Arc<Snapshot>>
    where
        F: Future<Output = AppResult<Snapshot>>,
    {
        let Some(cache) = &self.snapshots else {
            return compute.await.map(Arc::new);
        };
        let key = format!("{user}|{}", serde_json::to_string(params).map_err(anyhow::Error::from)?);
        if refresh {
            cache.invalidate(&key).await;
        }
        cache.try_get_with(key, async { compute.await.map(Arc::new) }).await.map_err(|e| shared_error(&e))
    }
}

/// The error a shared computation ended with, for each request that waited on it.
fn shared_error(e: &AppError) -> AppError {
    match e {
        AppError::NotFound => AppError::NotFound,
        AppError::Forbidden(why) => AppError::Forbidden(why.clone()),
        AppError::Unauthorized => AppError::Unauthorized,
        AppError::Conflict(why) => AppError::Conflict(why.clone()),
        AppError::BadRequest(why) => AppError::BadRequest(why.clone()),
        AppError::Validation(fields) => AppError::Validation(fields.clone()),
        other => AppError::Internal(anyhow::anyhow!("computing the dashboard failed: {}", other.public_message())),
    }
}
