//! Application state shared by every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::config::Config;
use crate::jobs::Registry;
use crate::web::metrics::HttpMetrics;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub http_metrics: Arc<HttpMetrics>,
    /// The job kinds this application runs (filled in by the composition root, `crate::state`).
    pub jobs: Arc<Registry>,
    /// Recently computed manager dashboards (a per-instance convenience; losing it changes nothing).
    pub dashboards: crate::metrics::cache::DashboardCache,
    /// Pipeline stage lists for list filters, kept up to a minute (an admin's edit clears this instance's
    /// copy at once; other instances pick it up within the minute).
    pub stage_lists: moka::future::Cache<uuid::Uuid, Arc<Vec<crate::leads::model::StageDef>>>,
}

impl AppState {
    /// A state that runs no job kinds but `noop`: the application builds its state with `crate::state`,
    /// which registers every capability's kinds.
    pub fn new(db: PgPool, config: Config) -> Self {
        let dashboards = crate::metrics::cache::DashboardCache::new(config.dashboard_cache, config.db_pool_size);
        let stage_lists =
            moka::future::Cache::builder().max_capacity(64).time_to_live(std::time::Duration::from_secs(60)).build();
        Self {
            db,
            config: Arc::new(config),
            clock: Clock::default(),
            http_metrics: Arc::default(),
            jobs: Arc::default(),
            dashboards,
            stage_lists,
        }
    }
}

impl AppState {
    /// This state with `jobs` as its job kinds.
    pub fn with_jobs(self, jobs: Registry) -> Self {
        Self { jobs: Arc::new(jobs), ..self }
    }
}

/// The time as the application sees it. Tests move it forward to drive SLAs and clocks; production never does.
#[derive(Clone, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset_secs.load(Ordering::Relaxed))
    }
    /// Moves this process's clock forward (tests only; other instances keep real time).
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_secs.fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}
