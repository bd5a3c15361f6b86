//! A private PostgreSQL cluster run from the system's server binaries.
//!
//! Why: a newcomer should get a working CRM with `cargo run --release` and nothing to configure. The cluster
//! listens on a Unix socket inside its data directory only (no TCP port), is reused across starts, recovers
//! from a stale pid file after a crash, and is stopped with `pg_ctl stop -m fast` on shutdown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// What to install when the binaries are missing; printed as one sentence.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in \
/usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to use \
an existing server.";

/// A supervised cluster. Dropping it does not stop the server; call [`EmbeddedPostgres::stop`].
#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as_postgres: bool,
}

impl EmbeddedPostgres {
    /// Locates the binaries and prepares (but does not start) a cluster in `root`.
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().ok_or_else(|| anyhow::anyhow!(INSTALL_HINT))?;
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the data directory {}", root.display()))?;
        let root =
            root.canonicalize().with_context(|| format!("cannot resolve the data directory {}", root.display()))?;
        let data_dir = root.join("pgdata");
        // A Unix socket path must stay under ~100 bytes; fall back to a short path in /tmp for deep trees.
        let mut socket_dir = root.join("run");
        if socket_dir.as_os_str().len() > 90 {
            let digest = sha2_hex(root.to_string_lossy().as_bytes());
            socket_dir = PathBuf::from(format!("/tmp/loanfloor-{}", &digest[..12]));
        }
        let run_as_postgres = is_root();
        Ok(Self { bin_dir, data_dir, socket_dir, run_as_postgres })
    }

    /// The connection URL for a database in this cluster (socket only).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@localhost/{database}?host={}", self.socket_dir.display())
    }

    /// The directory holding the cluster's files.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Initialises the cluster when needed and starts it unless it already runs (another `loanfloor`
    /// process on the same data directory, e.g. `loanfloor migrate` beside a running server).
    /// Returns true when this call started the server.
    pub fn start(&self) -> anyhow::Result<bool> {
        std::fs::create_dir_all(&self.socket_dir)?;
        if self.run_as_postgres {
            let parent = self.data_dir.parent().unwrap_or(Path::new("/"));
            chown_postgres(parent)?;
            chown_postgres(&self.socket_dir)?;
            let probe = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(parent)
                .status()
                .context("`runuser` is needed to run PostgreSQL as root (Debian: `apt-get install util-linux`)")?;
            if !probe.success() {
                bail!(
                    "the postgres system user cannot reach {}: choose a --data-dir under a directory every user can traverse (e.g. /var/tmp/loanfloor)",
                    parent.display()
                );
            }
        }
        if !self.data_dir.join("PG_VERSION").exists() {
            self.initdb()?;
        }
        if self.is_running() {
            return Ok(false);
        }
        // A pid file left by a crash or `kill -9`: pg_ctl reports "not running", so the file is stale.
        let pid_file = self.data_dir.join("postmaster.pid");
        if pid_file.exists() {
            tracing::warn!(path = %pid_file.display(), "removing a stale postmaster.pid");
            let _ = std::fs::remove_file(&pid_file);
        }
        let log = self.data_dir.parent().unwrap_or(Path::new(".")).join("postgres.log");
        let opts = format!(
            // max_locks_per_transaction: the metric triggers take one advisory lock per lead a transaction
            // touches, so an all-or-nothing import of 100k leads needs a large lock table. max_wal_size and
            // checkpoint_timeout: with the 1 GB default a seed of 1M leads checkpointed every 20 s, and every
            // page written after a checkpoint goes to the WAL once more in full. synchronous_commit=on: a system
            // of record answers 201 only for what is on disk (with it off, a crash of PostgreSQL lost a lead
            // already answered 201); concurrent commits still share one WAL flush (group commit).
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_locks_per_transaction=1024 -c jit=off -c max_wal_size=8GB -c checkpoint_timeout=15min",
            self.socket_dir.display()
        );
        let status = self
            .pg_command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .arg("-w")
            .arg("-t")
            .arg("60")
            .arg("-o")
            .arg(&opts)
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl")?;
        if !status.success() {
            // Another process may have started it between our check and our start.
            if self.is_running() {
                return Ok(false);
            }
            bail!("PostgreSQL did not start; see {}", log.display());
        }
        Ok(true)
    }

    /// True when a postmaster serves this data directory.
    pub fn is_running(&self) -> bool {
        self.pg_command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Stops the cluster (fast mode: open transactions roll back, nothing committed is lost).
    pub fn stop(&self) -> anyhow::Result<()> {
        let status = self
            .pg_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30"])
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl")?;
        if !status.success() && self.is_running() {
            bail!("pg_ctl stop failed for {}", self.data_dir.display());
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        if self.run_as_postgres {
            chown_postgres(&self.data_dir)?;
        }
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .output()
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_all(&dir) {
                // Resolve Debian's symlinks so the binaries find their libraries and share files.
                let resolved = dir.join("pg_ctl").canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf));
                return Some(resolved.filter(|d| has_all(d)).unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_all(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chown_postgres(path: &Path) -> anyhow::Result<()> {
    let status =
        Command::new("chown").args(["-R", "postgres:postgres"]).arg(path).status().context("cannot run chown")?;
    if !status.success() {
        bail!("cannot give {} to the postgres user (does the postgres system user exist?)", path.display());
    }
    Ok(())
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
