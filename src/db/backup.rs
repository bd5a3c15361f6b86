//! `loanfloor backup FILE` and `loanfloor restore FILE`: the whole database with the system's pg_dump and
//! pg_restore (custom format), as the schema's owner. A restore goes into an empty database, in one
//! transaction (all or nothing), and then gives the application's role its rights as a migration would.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::Database;

/// The program `name` from the embedded cluster's binaries, the system's PostgreSQL binaries, or PATH.
fn program(database: &Database, name: &str) -> Command {
    let path = database
        .cluster
        .as_ref()
        .map(|c| c.program(name))
        .or_else(|| super::embedded::find_bin_dir().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| name.into());
    Command::new(path)
}

fn owner_url(database: &Database) -> &str {
    database.owner_url.as_deref().unwrap_or(&database.url)
}

/// Writes the database to `file` (pg_dump's custom format: compressed, restorable table by table).
pub async fn backup(database: &Database, file: &Path) -> anyhow::Result<()> {
    let mut cmd = program(database, "pg_dump");
    cmd.args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(file)
        .arg("--dbname")
        .arg(owner_url(database));
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("cannot run pg_dump (Debian: apt-get install postgresql-client)")?;
    if !out.status.success() {
        bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    println!("backup written to {}", file.display());
    Ok(())
}

/// Restores `file` into the (empty) database, then grants the application's role its rights.
pub async fn restore(database: &Database, file: &Path) -> anyhow::Result<()> {
    if !file.is_file() {
        bail!("no backup at {}", file.display());
    }
    let has_schema: bool = sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
        .fetch_one(&database.pool)
        .await?;
    if has_schema {
        bail!(
            "the database is not empty: restore into a new data directory (--data-dir) or an empty database, so \
             nothing in it is overwritten"
        );
    }
    let mut cmd = program(database, "pg_restore");
    cmd.args(["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname"])
        .arg(owner_url(database))
        .arg(file);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("cannot run pg_restore (Debian: apt-get install postgresql-client)")?;
    if !out.status.success() {
        bail!("pg_restore failed, nothing was restored: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    // Migrations newer than the backup, and the application role's rights.
    database.migrate().await?;
    println!("restored {}", file.display());
    Ok(())
}
