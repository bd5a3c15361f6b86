//! A private PostgreSQL cluster run from the system's server binaries.
//!
//! Why: a newcomer should get a working CRM with `cargo run --release` and nothing to configure. The cluster
//! listens on a Unix socket inside its data directory only (no TCP port), is reused across starts, recovers
//! from a stale pid file after a crash, and is stopped with `pg_ctl stop -m fast` on shutdown.
//!
//! Least privilege: every connection authenticates with `scram-sha-256`, with passwords generated on the first
//! start and kept in the data directory (`credentials`, mode 0600). Three roles: the `postgres` superuser
//! (creates databases and roles), `loanfloor_owner` (owns the schema: migrations, the seed generator) and
//! `loanfloor_app` (the running application: no superuser, owns nothing, only INSERT and SELECT on the audit
//! log). The socket directory is open to the server's user only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// What to install when the binaries are missing; printed as one sentence.
pub const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in \
/usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to use \
an existing server.";

/// The role that owns the schema (migrations, the seed generator).
pub const OWNER_ROLE: &str = "loanfloor_owner";
/// The role the running application connects as.
pub const APP_ROLE: &str = "loanfloor_app";

/// Generated passwords of the cluster's roles, kept in `<root>/credentials` (mode 0600).
#[derive(Debug, Clone)]
struct Credentials {
    superuser: String,
    owner: String,
    app: String,
}

impl Credentials {
    fn generate() -> Self {
        Self { superuser: secret(), owner: secret(), app: secret() }
    }
    fn parse(text: &str) -> Option<Self> {
        let get = |k: &str| {
            text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')).map(|v| v.trim().to_string()))
        };
        Some(Self { superuser: get("superuser")?, owner: get("owner")?, app: get("app")? })
    }
    fn render(&self) -> String {
        format!("superuser={}\nowner={}\napp={}\n", self.superuser, self.owner, self.app)
    }
}

fn secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Writes `text` to `path` readable by its owner only (created with mode 0600, never wider).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A supervised cluster. Dropping it does not stop the server; call [`EmbeddedPostgres::stop`].
#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as_postgres: bool,
    credentials: Credentials,
    max_wal_size: &'static str,
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
        let socket_dir = socket_dir_for(&root)?;
        let run_as_postgres = is_root();
        // The passwords are made once, before the cluster exists, and kept beside it.
        let cred_path = root.join("credentials");
        let credentials = match std::fs::read_to_string(&cred_path).ok().and_then(|t| Credentials::parse(&t)) {
            Some(c) => c,
            None => {
                let c = Credentials::generate();
                write_private(&cred_path, &c.render())?;
                c
            }
        };
        Ok(Self { bin_dir, root, data_dir, socket_dir, run_as_postgres, credentials, max_wal_size: "8GB" })
    }

    /// A smaller WAL allowance than the 8 GB a million-lead seed wants (the test cluster, which clones hundreds
    /// of small databases and must not fill a CI machine's disk with their WAL).
    pub fn with_max_wal_size(mut self, size: &'static str) -> Self {
        self.max_wal_size = size;
        self
    }

    /// The superuser's connection URL for a database in this cluster (socket only): creating databases and
    /// roles, and tests.
    pub fn url(&self, database: &str) -> String {
        self.url_as("postgres", &self.credentials.superuser, database)
    }

    /// The schema owner's URL: migrations and the seed generator.
    pub fn owner_url(&self, database: &str) -> String {
        self.url_as(OWNER_ROLE, &self.credentials.owner, database)
    }

    /// The application's URL: no superuser, owns nothing.
    pub fn app_url(&self, database: &str) -> String {
        self.url_as(APP_ROLE, &self.credentials.app, database)
    }

    fn url_as(&self, role: &str, password: &str, database: &str) -> String {
        // Passwords are hex and role names plain, so nothing needs escaping.
        format!("postgres://{role}:{password}@localhost/{database}?host={}", self.socket_dir.display())
    }

    /// The path of one of the server's client programs (pg_dump, pg_restore), run as the calling user.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// The owner's and the application's role names and passwords.
    pub(crate) fn role_passwords(&self) -> [(&'static str, String); 2] {
        [(OWNER_ROLE, self.credentials.owner.clone()), (APP_ROLE, self.credentials.app.clone())]
    }

    /// The socket directory (open to the server's user only).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The file holding the generated passwords.
    pub fn credentials_path(&self) -> PathBuf {
        self.root.join("credentials")
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
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.socket_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        // A cluster already running here has its files right; walking its live data directory with `chown -R`
        // races the files PostgreSQL creates and removes meanwhile (and takes long on a large one).
        if self.run_as_postgres && !self.is_running() {
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
        let legacy = !self.requires_passwords();
        if self.is_running() {
            if legacy {
                self.require_passwords()?;
            }
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
            // wal_recycle=off: a WAL segment past its checkpoint is removed, not renamed for reuse with its old
            // contents, so disposed personal values leave the data directory (issue 24).
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_locks_per_transaction=1024 -c jit=off -c max_wal_size={} -c checkpoint_timeout=15min -c wal_recycle=off",
            self.socket_dir.display(),
            self.max_wal_size
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
        if legacy {
            self.require_passwords()?;
        }
        Ok(true)
    }

    fn hba_path(&self) -> PathBuf {
        self.data_dir.join("pg_hba.conf")
    }

    /// Whether the cluster asks every connection for a password (clusters made before passwords were
    /// generated trusted every local connection).
    fn requires_passwords(&self) -> bool {
        std::fs::read_to_string(self.hba_path())
            .map(|t| {
                let rules: Vec<&str> =
                    t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
                !rules.is_empty() && rules.iter().all(|l| l.ends_with("scram-sha-256"))
            })
            .unwrap_or(false)
    }

    /// Turns a cluster that trusted local connections into one that asks for the generated passwords: sets
    /// the superuser's password over the trusted socket, then rewrites `pg_hba.conf` and reloads.
    fn require_passwords(&self) -> anyhow::Result<()> {
        tracing::warn!(data_dir = %self.data_dir.display(), "the embedded cluster trusted local connections; requiring passwords from now on");
        let sql = format!("ALTER ROLE postgres PASSWORD '{}'", self.credentials.superuser);
        let out = self
            .pg_command("psql")
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", &sql])
            .output()
            .context("cannot run psql")?;
        if !out.status.success() {
            bail!("cannot set the superuser's password: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        self.write_hba()?;
        let out = self.pg_command("pg_ctl").arg("reload").arg("-D").arg(&self.data_dir).output()?;
        if !out.status.success() {
            bail!("pg_ctl reload failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Socket connections only, each with a password (no `trust`, no `peer`).
    fn write_hba(&self) -> anyhow::Result<()> {
        let hba = self.hba_path();
        write_private(
            &hba,
            "# Written by Loanfloor: local socket connections only, each with its password.\nlocal all all scram-sha-256\n",
        )?;
        if self.run_as_postgres {
            chown_postgres(&hba)?;
        }
        Ok(())
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
        // The superuser's password goes to initdb in a private file, removed right after.
        let pwfile = self.root.join(".initdb-password");
        write_private(&pwfile, &self.credentials.superuser)?;
        if self.run_as_postgres {
            chown_postgres(&pwfile)?;
        }
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .context("cannot run initdb");
        let _ = std::fs::remove_file(&pwfile);
        let out = out?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        self.write_hba()
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

pub(crate) fn find_bin_dir() -> Option<PathBuf> {
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
    // A file removed while chown walks the tree (another process's cluster starting or stopping under the same
    // root) fails the walk though nothing is wrong: walk once more before giving up.
    for attempt in 0..2 {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .stderr(if attempt == 0 { Stdio::null() } else { Stdio::inherit() })
            .status()
            .context("cannot run chown")?;
        if status.success() {
            return Ok(());
        }
    }
    bail!("cannot give {} to the postgres user (does the postgres system user exist?)", path.display());
}

/// Where the cluster's socket lives: `<root>/run`, or, when that path is too long for a Unix socket (about
/// 100 bytes), a directory with a random name under /tmp, recorded in `<root>/socket-dir` so every process
/// using this data directory finds it. Never a predictable /tmp path another user could create first.
fn socket_dir_for(root: &Path) -> anyhow::Result<PathBuf> {
    let inside = root.join("run");
    if inside.as_os_str().len() <= 90 {
        return Ok(inside);
    }
    let record = root.join("socket-dir");
    if let Ok(text) = std::fs::read_to_string(&record) {
        let dir = PathBuf::from(text.trim());
        if owned_private_dir(&dir) {
            return Ok(dir);
        }
    }
    let dir = PathBuf::from(format!("/tmp/loanfloor-{}", secret()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create the socket directory {}", dir.display()))?;
    }
    std::fs::write(&record, dir.to_string_lossy().as_bytes())?;
    Ok(dir)
}

/// A directory that only its owner can open, owned by us or by the postgres user we run the server as.
fn owned_private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return false };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    meta.is_dir() && meta.mode() & 0o077 == 0 && (meta.uid() == me || is_root())
}
