//! Database access: the pool, the embedded PostgreSQL supervisor and migrations.

pub mod embedded;

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use embedded::EmbeddedPostgres;

use crate::config::Config;

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connected database and, when we run it ourselves, the cluster behind it.
pub struct Database {
    pub pool: PgPool,
    /// Present when this process started the embedded cluster and must stop it on shutdown.
    pub owned_cluster: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or joins) the embedded cluster in the data directory.
    /// With `adopt`, a cluster found already running (e.g. left behind by a server killed with `kill -9`) is
    /// stopped at shutdown too, unless other processes are still connected to it.
    pub async fn open(config: &Config, adopt: bool) -> anyhow::Result<Self> {
        let (url, owned_cluster) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let cluster = EmbeddedPostgres::new(&config.data_dir)?;
                let started = tokio::task::spawn_blocking({
                    let c = cluster.clone();
                    move || c.start()
                })
                .await??;
                ensure_database(&cluster.url("postgres"), "loanfloor").await?;
                (cluster.url("loanfloor"), (started || adopt).then_some(cluster))
            }
        };
        let pool = connect(&url, config.db_pool_size).await?;
        Ok(Self { pool, owned_cluster })
    }

    /// Stops the embedded cluster if this process owns it and no other process is still using it
    /// (a `loanfloor migrate` beside a running server leaves the server's cluster alone).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.owned_cluster {
            let others = match connect(&cluster.url("postgres"), 1).await {
                Ok(pool) => {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
                    pool.close().await;
                    n
                }
                Err(_) => 0,
            };
            if others == 0 {
                tokio::task::spawn_blocking(move || cluster.stop()).await??;
            } else {
                tracing::info!(others, "leaving the embedded PostgreSQL running for its other clients");
            }
        }
        Ok(())
    }
}

/// How many connections a bulk job (the seed's COPY writers, the rollup rebuild's workers) runs side by side:
/// one per core, at most four, and never more than `pool` can give besides the `reserved` connections the
/// job already holds.
pub fn bulk_connections(pool: &PgPool, reserved: usize) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    cores.min((pool.options().get_max_connections() as usize).saturating_sub(reserved)).max(1)
}

/// Opens a pool with the settings every Loanfloor process uses.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let options = options.application_name("loanfloor");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")
}

/// Creates `name` on the server at `admin_url` when it does not exist yet.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let admin = connect(admin_url, 1).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&admin)
        .await?;
    if !exists {
        // Identifiers cannot be bound; `name` is ours, never user input.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', ""));
        if let Err(e) = sqlx::query(&sql).execute(&admin).await {
            // Lost a race with another process creating it: fine.
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string());
            if code.as_deref() != Some("42P04") {
                return Err(e.into());
            }
        }
    }
    admin.close().await;
    Ok(())
}

/// Applies pending migrations. Safe to run from several processes
/// at once: sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}
