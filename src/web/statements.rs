//! SQL statements per request, to keep pages free of N+1 queries (CONVENTIONS.md).
//!
//! sqlx reports every statement it runs as a `tracing` event with target `sqlx::query` (at DEBUG by default),
//! from inside the task that awaits the query. [`layer`] is a tracing layer that counts those events into a
//! counter owned by the current request ([`request_context`](super::request_context) opens one per request,
//! [`counting`] does the same for any future). Nothing is counted unless the layer is installed in the
//! process's subscriber; [`install_for_tests`] installs it (with the `x-sql-statements` response header on,
//! so a test can read each request's count over HTTP).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

/// The response header carrying the request's statement count (only once [`install_for_tests`] ran).
pub const HEADER: &str = "x-sql-statements";

/// The target sqlx logs each statement under.
const SQLX_TARGET: &str = "sqlx::query";

tokio::task_local! {
    static STATEMENTS: Arc<AtomicU32>;
}

static EXPOSE_HEADER: AtomicBool = AtomicBool::new(false);

/// Counts `sqlx::query` events into the current task's counter; events outside a counted scope are ignored.
pub struct StatementCounter;

impl<S: Subscriber> Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == SQLX_TARGET {
            let _ = STATEMENTS.try_with(|n| n.fetch_add(1, Ordering::Relaxed));
        }
    }
}

/// The counting layer with its own filter: it enables sqlx's statement events at every level, whatever the
/// other layers' filters say (they still decide what gets printed).
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    StatementCounter.with_filter(Targets::new().with_target(SQLX_TARGET, LevelFilter::TRACE))
}

/// Runs `f` with a fresh statement counter; returns its output and how many statements it ran.
pub async fn counting<F: Future>(f: F) -> (F::Output, u32) {
    let counter = Arc::new(AtomicU32::new(0));
    let out = STATEMENTS.scope(counter.clone(), f).await;
    (out, counter.load(Ordering::Relaxed))
}

/// Whether responses carry the [`HEADER`] with their statement count.
pub fn header_enabled() -> bool {
    EXPOSE_HEADER.load(Ordering::Relaxed)
}

/// Installs a process-wide subscriber with the counting layer and turns the response header on. For tests;
/// safe to call from every test of a binary. Returns false if another global subscriber was set first (then
/// nothing is counted).
pub fn install_for_tests() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(layer());
        let installed = tracing::subscriber::set_global_default(subscriber).is_ok();
        EXPOSE_HEADER.store(installed, Ordering::Relaxed);
        installed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_only_sqlx_statement_events_inside_the_scope() {
        let subscriber = {
            use tracing_subscriber::layer::SubscriberExt;
            tracing_subscriber::registry().with(layer())
        };
        let _guard = tracing::subscriber::set_default(subscriber);
        let ((), n) = counting(async {
            tracing::debug!(target: "sqlx::query", summary = "select 1", "statement");
            tracing::info!(target: "sqlx::query", summary = "select 2", "statement");
            tracing::info!(target: "loanfloor", "not a statement");
        })
        .await;
        assert_eq!(n, 2);
        // Outside a counted scope nothing is counted and nothing fails.
        tracing::debug!(target: "sqlx::query", "statement");
        let ((), n) = counting(async {}).await;
        assert_eq!(n, 0);
    }
}
