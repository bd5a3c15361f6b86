//! The command line: `serve` (default), `migrate`, `user add`, `token add`, `seed`, `import`, `bench`,
//! `new-key`, `rotate-key`.
//! Every command works against the same data directory whether or not a server runs on it.

use std::io::Write;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::{
    AuditCommand, BisgCommand, Cli, Command, Config, GlobalArgs, ImportCommand, LogFormat, ServeArgs, TokenCommand,
    UserCommand,
};
use crate::db::Database;
use crate::state::AppState;

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LOANFLOOR_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Opens the database for a one-shot command and applies migrations.
pub async fn open_for_command(global: &GlobalArgs) -> anyhow::Result<(Database, AppState)> {
    let serve = ServeArgs { db_pool_size: 8, ..ServeArgs::default() };
    let config = Config::from_args(global, &serve)?.with_secret_key()?;
    let database = Database::open(&config, false).await?;
    database.migrate().await?;
    crate::secrets::seal_plaintext(&database.pool, &config.secrets, &crate::sealed_places()).await?;
    let state = crate::state(database.pool.clone(), config);
    Ok((database, state))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Command::Serve(args) = command {
        return serve(&cli.global, args).await;
    }
    if let Command::NewKey { file } = &command {
        println!("{}", crate::secrets::new_key_command(file)?);
        return Ok(());
    }
    if let Command::Bench(args) = &command {
        return crate::devtools::bench::run(&cli.global, args).await;
    }
    if let Command::Restore { file } = &command {
        // Into an empty database: nothing may be migrated before the backup's own schema arrives.
        let serve = ServeArgs { db_pool_size: 2, ..ServeArgs::default() };
        let config = Config::from_args(&cli.global, &serve)?;
        let database = Database::open(&config, false).await?;
        let result = crate::db::backup::restore(&database, file).await;
        let stopped = database.shutdown().await;
        return result.and(stopped);
    }
    let (database, state) = open_for_command(&cli.global).await?;
    let result = match command {
        Command::Serve(_) | Command::Bench(_) | Command::Restore { .. } | Command::NewKey { .. } => {
            unreachable!("handled above")
        }
        Command::RotateKey { new_key_file } => {
            let places = crate::sealed_places();
            crate::secrets::rotate_key_command(&state.config, &state.db, &places, new_key_file.as_deref())
                .await
                .map(|done| println!("{done}"))
        }
        Command::Backup { file } => crate::db::backup::backup(&database, &file).await,
        Command::Dispose(args) => {
            // As the owner, so the compaction may vacuum the tables and move past the WAL.
            let owner = crate::state(database.owner_pool(2).await?, (*state.config).clone());
            crate::retention::cli(&owner, &args).await
        }
        Command::Audit(AuditCommand::Verify) => {
            let v = crate::audit::verify(&state.db).await?;
            println!(
                "audit entries: {}; with a snapshot digest: {}; scrubbed by disposal: {}; changed otherwise: {}",
                v.entries,
                v.with_digest,
                v.scrubbed,
                v.changed.len()
            );
            if v.changed.is_empty() {
                Ok(())
            } else {
                let ids: Vec<String> = v.changed.iter().map(i64::to_string).collect();
                anyhow::bail!("audit entries whose snapshots no longer match their digest: {}", ids.join(", "))
            }
        }
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Add(args)) => crate::accounts::cli::user_add(&state, &args).await,
        Command::Token(TokenCommand::Add { email, label, scopes, days }) => {
            crate::accounts::cli::token_add(&state, &email, &label, &scopes, days).await
        }
        Command::Seed(args) => {
            // A bulk load of the schema's tables: as their owner, not as the application.
            let owner = crate::state(database.owner_pool(state.config.db_pool_size).await?, (*state.config).clone());
            crate::devtools::seed::run(&owner, &args).await.map(|_| ())
        }
        Command::Import(cmd) => run_import(&state, cmd).await,
        Command::Sources(cmd) => crate::leads::sources::cli(&state, cmd).await,
        Command::Bisg(BisgCommand::Load) => {
            crate::fair_lending::tables::load(&state.db, true, "cli").await.map(|r| println!("{r}"))
        }
    };
    database.shutdown().await?;
    result
}

async fn run_import(state: &AppState, cmd: ImportCommand) -> anyhow::Result<()> {
    let report = match cmd {
        ImportCommand::Leads(a) => crate::leads::import::cli(state, crate::leads::import::Kind::Leads, &a).await?,
        ImportCommand::StageChanges(a) => {
            crate::leads::import::cli(state, crate::leads::import::Kind::StageChanges, &a).await?
        }
        ImportCommand::Activities(a) => {
            crate::leads::import::cli(state, crate::leads::import::Kind::Activities, &a).await?
        }
        ImportCommand::Loans(a) => crate::portfolio::import_cli(state, &a).await?,
        ImportCommand::LosStatus(a) => crate::portfolio::los_status_cli(state, &a).await?,
        ImportCommand::LosLocks(a) => crate::locks::import::cli(state, &a).await?,
        ImportCommand::Spend(a) => crate::metrics::spend::cli(state, &a).await?,
    };
    println!("{report}");
    Ok(())
}

async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(global, &args)?.with_secret_key()?;
    let database = Database::open(&config, true).await?;
    let result = serve_on(&database, config).await;
    let stopped = database.shutdown().await;
    result.and(stopped)
}

async fn serve_on(database: &Database, config: Config) -> anyhow::Result<()> {
    database.migrate().await?;
    crate::secrets::seal_plaintext(&database.pool, &config.secrets, &crate::sealed_places()).await?;
    let addr = config.addr;
    let demo = config.demo;
    let worker_enabled = config.worker;
    let metrics_addr = config.metrics_addr;
    let demo_logins =
        if demo { crate::demo::ensure(&crate::state(database.pool.clone(), config.clone())).await? } else { None };
    let mut config = config;
    config.demo_organisation = crate::auth::store::is_demo_organisation(&database.pool).await?;
    if !config.enforce_mfa && !config.demo_organisation {
        anyhow::bail!(
            "--enforce-mfa=false is refused: this database holds a real organisation, whose people must sign in with \
             a second factor (only the demo organisation may run without one)"
        );
    }
    if config.demo_organisation {
        tracing::warn!("this is the demo organisation: sign-in does not require a second factor");
    }
    let state = crate::state(database.pool.clone(), config);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let metrics_listener = match metrics_addr {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| format!("cannot listen on {a}"))?),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    crate::home::schedule(&state).await.context("scheduling the morning digest and the hourly housekeeping")?;
    crate::retention::schedule(&state).await.context("scheduling the nightly disposal")?;
    crate::locks::schedule(&state).await.context("scheduling the rate locks' expiry")?;
    // The fair-lending proxy tables, when empty: in the background, so a first start is not held up.
    let db = state.db.clone();
    tokio::spawn(async move {
        match crate::fair_lending::tables::load(&db, false, "start").await {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => {
                tracing::error!(error = %e, "the BISG tables could not be loaded (`loanfloor bisg load` retries)")
            }
        }
    });
    let worker = worker_enabled.then(|| crate::jobs::spawn_worker(state.clone(), stop_rx.clone()));
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Loanfloor is running at http://{addr}/");
    if let Some(logins) = demo_logins {
        let _ = writeln!(out, "{logins}");
    }
    let _ = out.flush();
    let (signal_tx, mut signal_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signal_tx.send(true);
    });
    if let Some(l) = metrics_listener {
        let _ = writeln!(out, "Prometheus metrics at http://{}/metrics", l.local_addr()?);
        let _ = out.flush();
        let mut stop = signal_rx.clone();
        let s = state.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|v| *v).await;
            };
            if let Err(e) = crate::serve_metrics(l, s, stopped).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let mut graceful_rx = signal_rx.clone();
    let server = crate::serve(listener, state, async move {
        let _ = graceful_rx.wait_for(|v| *v).await;
    });
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r?,
        _ = signal_rx.wait_for(|v| *v) => {
            // SIGTERM/SIGINT: stop accepting, let in-flight requests and the running job finish, all within
            // one 30-second budget (a job cut off here is picked up again by another instance: jobs run at
            // least once and their handlers are idempotent).
            tracing::info!("shutting down: finishing in-flight requests and the running job (30 s at most)");
            let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
            let _ = stop_tx.send(true);
            if tokio::time::timeout_at(deadline, &mut server).await.is_err() {
                tracing::warn!("requests still running after 30 s; closing them");
            }
            if let Some(w) = worker {
                if tokio::time::timeout_at(deadline, w).await.is_err() {
                    tracing::warn!("a job was still running after 30 s; it will be run again");
                }
            }
            return Ok(());
        }
    }
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        let _ = tokio::time::timeout(SHUTDOWN_BUDGET, w).await;
    }
    Ok(())
}

/// How long a stopping server waits for in-flight requests and the running job.
const SHUTDOWN_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
