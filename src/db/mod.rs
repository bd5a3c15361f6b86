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
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
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
                (cluster.url("loanfloor"), started.then_some(cluster))
            }
        };
        let pool = connect(&url, config.db_pool_size).await?;
        Ok(Self { pool, owned_cluster })
    }

    /// Stops the embedded cluster if this process started it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.owned_cluster {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
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
