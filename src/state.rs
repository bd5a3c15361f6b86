//! Application state shared by every handler.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Per-instance values that capabilities own (their caches), one per type, made on first use.
    pub extensions: Extensions,
}

impl AppState {
    /// A state that runs no job kinds but `noop`: the application builds its state with `crate::state`,
    /// which registers every capability's kinds.
    pub fn new(db: PgPool, config: Config) -> Self {
        Self {
            db,
            config: Arc::new(config),
            clock: Clock::default(),
            http_metrics: Arc::default(),
            jobs: Arc::default(),
            extensions: Extensions::default(),
        }
    }
}

/// Midnight of `day` in `tz`, in UTC: where a day of the organisation's (a figure's, a report's, a list's range)
/// begins. The one definition every date range uses.
pub fn day_start(tz: chrono_tz::Tz, day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive).earliest().map(|d| d.with_timezone(&chrono::Utc)).unwrap_or_else(|| naive.and_utc())
}

impl AppState {
    /// Today in the organisation's time zone, by the state's clock: the one definition of "today".
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.now().with_timezone(&self.config.timezone).date_naive()
    }

    /// Seals and opens stored secrets (TOTP, webhook secrets) with the configured key.
    pub fn secrets(&self) -> &crate::secrets::Sealer {
        &self.config.secrets
    }

    /// This state with `jobs` as its job kinds.
    pub fn with_jobs(self, jobs: Registry) -> Self {
        Self { jobs: Arc::new(jobs), ..self }
    }
}

/// A typed slot per state for values a capability owns, such as the dashboard cache (`metrics::cache`) or
/// the pipeline stage lists (`leads::store`): the foundation holds them without knowing their types. Each
/// value is made on first use and shared by every clone of the state; another `AppState` has its own.
#[derive(Clone, Default)]
pub struct Extensions(Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>);

impl Extensions {
    /// This state's `T`, made with `init` the first time it is asked for.
    pub fn get_or_insert_with<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut values = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let value = values.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(init())).clone();
        value.downcast::<T>().unwrap_or_else(|_| unreachable!("extensions are keyed by their type"))
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

/// What a lower layer calls above itself, wired once per process by the composition root (`lib.rs`): code,
/// identical in every instance, holding no state. The first wiring of the process stands (every state the
/// process builds wires the same thing); asking before any wiring is an error naming what is missing.
pub struct Wired<T: 'static> {
    cell: std::sync::OnceLock<T>,
    what: &'static str,
}

impl<T: 'static> Wired<T> {
    /// `what` names the wiring in the error ("leads", "accounts").
    pub const fn new(what: &'static str) -> Self {
        Self { cell: std::sync::OnceLock::new(), what }
    }
    pub fn set(&self, wiring: T) {
        let _ = self.cell.set(wiring);
    }
    pub fn get(&'static self) -> crate::error::AppResult<&'static T> {
        self.cell.get().ok_or_else(|| {
            crate::error::AppError::Internal(anyhow::anyhow!(
                "{} are not wired: build the state with loanfloor::state",
                self.what
            ))
        })
    }
}
