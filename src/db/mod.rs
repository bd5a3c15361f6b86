//! Database access: the pool, the embedded PostgreSQL supervisor and migrations.

pub mod backup;
pub mod batch;
pub mod embedded;

use std::time::Duration;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use embedded::EmbeddedPostgres;

use crate::config::Config;

/// Appends ` LIMIT n` with the number written into the statement, not bound as a parameter.
///
/// A bound limit leaves PostgreSQL's generic plan guessing how many rows are wanted (it assumes a tenth of the
/// table), so it re-plans the statement on every execution: measured on the LO's lead list at 1M leads, 0.37 ms
/// of planning per request against 0.2 ms of execution. With the number in the text, each distinct limit is its
/// own prepared statement and its generic plan is reused. `n` is always an integer the code computed.
pub fn push_limit(qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, n: i64) {
    qb.push(format_args!(" LIMIT {n}"));
}

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connected database and, when we run it ourselves, the cluster behind it.
pub struct Database {
    /// The application's connections (the embedded cluster's `loanfloor_app`: no superuser, owns nothing).
    pub pool: PgPool,
    /// Where migrations and the seed generator connect, as the schema's owner; None: the same as `pool`.
    pub owner_url: Option<String>,
    /// Present when this process started the embedded cluster and must stop it on shutdown.
    pub owned_cluster: Option<EmbeddedPostgres>,
    /// The embedded cluster in use, whether this process started it or joined it.
    pub cluster: Option<EmbeddedPostgres>,
    /// The application's URL (what `pool` connects to).
    pub url: String,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or joins) the embedded cluster in the data directory.
    /// With `adopt`, a cluster found already running (e.g. left behind by a server killed with `kill -9`) is
    /// stopped at shutdown too, unless other processes are still connected to it.
    pub async fn open(config: &Config, adopt: bool) -> anyhow::Result<Self> {
        let (url, owner_url, cluster, owned) = match &config.database_url {
            Some(url) => (url.clone(), config.owner_database_url.clone(), None, false),
            None => {
                let cluster = EmbeddedPostgres::new(&config.data_dir)?;
                let started = tokio::task::spawn_blocking({
                    let c = cluster.clone();
                    move || c.start()
                })
                .await??;
                ensure_database(&cluster.url("postgres"), "loanfloor").await?;
                ensure_roles(&cluster, "loanfloor").await?;
                (cluster.app_url("loanfloor"), Some(cluster.owner_url("loanfloor")), Some(cluster), started || adopt)
            }
        };
        let pool = connect_serving(&url, config.db_pool_size).await?;
        let owned_cluster = cluster.clone().filter(|_| owned);
        Ok(Self { pool, owner_url, owned_cluster, cluster, url })
    }

    /// Applies pending migrations as the schema's owner and gives the application's role what it may do.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let Some(owner_url) = &self.owner_url else { return migrate(&self.pool).await };
        let owner = connect(owner_url, 2).await?;
        let result = async {
            migrate(&owner).await?;
            let app_role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&self.pool).await?;
            let owner_role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&owner).await?;
            if app_role != owner_role {
                grant_app_role(&owner, &app_role).await?;
            }
            anyhow::Ok(())
        }
        .await;
        owner.close().await;
        result
    }

    /// A pool connected as the schema's owner (the seed generator's bulk loads).
    pub async fn owner_pool(&self, max_connections: u32) -> anyhow::Result<PgPool> {
        match &self.owner_url {
            Some(url) => connect(url, max_connections).await,
            None => Ok(self.pool.clone()),
        }
    }

    /// Stops the embedded cluster if this process owns it and no other process is still using it
    /// (a `loanfloor migrate` beside a running server leaves the server's cluster alone).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.owned_cluster {
            // Our own pool's backends can still be listed for a moment after their connections closed (more so
            // on a loaded machine): they carry this process's application name and are not counted; another
            // client's count above zero is read again for up to two seconds before it is believed.
            let others = match connect(&cluster.url("postgres"), 1).await {
                Ok(pool) => {
                    let mut n = 0;
                    for _ in 0..20 {
                        n = sqlx::query_scalar::<_, i64>(
                            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
                                AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM $1",
                        )
                        .bind(own_application_name())
                        .fetch_one(&pool)
                        .await
                        .unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
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

/// A pooled connection idle at least this long is checked with a ping before it serves again. Under load a
/// connection goes back to work within milliseconds and is never pinged; the connections that sat idle through
/// a database restart (the ones still dead when it is back: those in use failed and were closed) are.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A statement slower than this is logged as a warning.
pub const SLOW_STATEMENT: Duration = Duration::from_millis(200);

/// Opens a pool with the settings every Loanfloor process uses.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(url, max_connections, &[]).await
}

/// The pool that serves requests and jobs: [`connect`], with parallel query off in its sessions (a startup
/// parameter, no extra round trip). Requests run many at once on few cores; a plan with parallel workers
/// pays their start for every statement and takes the cores the other requests need: the dashboard's
/// lost-reasons read (3,500 rollup rows) took 21 ms with two workers and 7 ms without, at 1M leads. Bulk
/// work on the owner's pool (the seed generator, rollup rebuilds) keeps the server's setting.
pub async fn connect_serving(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(url, max_connections, &[("max_parallel_workers_per_gather", "0")]).await
}

/// The name this process's connections carry in `pg_stat_activity` (`loanfloor:<pid>`): shutdown tells its
/// own lingering backends from another client's by it.
pub fn own_application_name() -> String {
    format!("loanfloor:{}", std::process::id())
}

async fn connect_with(url: &str, max_connections: u32, settings: &[(&str, &str)]) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    // Statements slower than 200 ms are logged at WARN, inside the request's span (so with its request id).
    let options = options
        .application_name(&own_application_name())
        .log_slow_statements(log::LevelFilter::Warn, SLOW_STATEMENT)
        .options(settings.iter().copied());
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out by default: one more round trip to PostgreSQL before each
        // statement or transaction (with the ping it also sends on release, off the request's path, 13.6% of
        // the lead list's server CPU at 1M leads; issue 22). A connection in steady use is known to be alive;
        // only one idle long enough to have been cut (a server restart, a proxy's idle timeout) is checked
        // before it serves, and a failed check replaces it.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
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

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the embedded cluster's owner and application roles (or resets their passwords to the ones in the
/// data directory), gives the database and everything in its schema to the owner, and lets the owner skip
/// foreign-key triggers during the seed generator's bulk load (PostgreSQL 15+).
async fn ensure_roles(cluster: &EmbeddedPostgres, database: &str) -> anyhow::Result<()> {
    let admin = connect(&cluster.url(database), 1).await?;
    let passwords = cluster.role_passwords();
    let result = async {
        // Two processes may start at once: one at a time.
        let mut tx = admin.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(727009)").execute(&mut *tx).await?;
        for (role, password) in &passwords {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(&mut *tx)
                .await?;
            // Role names are ours and passwords hex: nothing user-supplied is spliced in.
            let verb = if exists { "ALTER" } else { "CREATE" };
            sqlx::query(&format!(
                "{verb} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'",
                quote_ident(role)
            ))
            .execute(&mut *tx)
            .await?;
        }
        let owner = quote_ident(embedded::OWNER_ROLE);
        sqlx::query(&format!("ALTER DATABASE {} OWNER TO {owner}", quote_ident(database))).execute(&mut *tx).await?;
        sqlx::query(&format!("ALTER SCHEMA public OWNER TO {owner}")).execute(&mut *tx).await?;
        // Databases made before these roles existed: what the superuser created moves to the owner.
        sqlx::query(&format!(
            r#"DO $$
            DECLARE r record;
            BEGIN
                FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
                           AND pg_get_userbyid(c.relowner) = 'postgres'
                           AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                                    WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
                LOOP
                    EXECUTE format('ALTER %s %I OWNER TO {owner}',
                                   CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                                  WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.relname);
                END LOOP;
                FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = 'postgres'
                LOOP
                    EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', r.f);
                END LOOP;
            END $$"#
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Err(e) =
            sqlx::query(&format!("GRANT SET ON PARAMETER session_replication_role TO {owner}")).execute(&admin).await
        {
            tracing::info!(error = %e, "the seed generator will keep foreign-key triggers on (PostgreSQL before 15)");
        }
        // Disposal (issue 24) ends by moving past the WAL that held the disposed values: the owner may switch
        // segments and checkpoint (PostgreSQL 15's pg_checkpoint role).
        for grant in
            [format!("GRANT pg_checkpoint TO {owner}"), format!("GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {owner}")]
        {
            if let Err(e) = sqlx::query(&grant).execute(&admin).await {
                tracing::info!(error = %e, "disposal leaves the WAL to the next checkpoint");
            }
        }
        anyhow::Ok(())
    }
    .await;
    admin.close().await;
    result
}

/// What the application's role may do, given by the owner after every migration: read and write the data,
/// use the sequences, and on `audit_log` only INSERT and SELECT, so "append-only" holds even against the
/// application itself. Functions that rebuild derived tables run as their owner (SECURITY DEFINER).
pub async fn grant_app_role(owner: &PgPool, app_role: &str) -> anyhow::Result<()> {
    let app = quote_ident(app_role);
    let mut tx = owner.begin().await?;
    for sql in [
        format!("GRANT USAGE ON SCHEMA public TO {app}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}"),
        format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {app}"),
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {app}"),
        format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM {app}"),
    ] {
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Applies pending migrations. Safe to run from several processes
/// at once: sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}
