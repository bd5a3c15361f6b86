//! Configuration: one `Config`, from CLI flags and environment variables, validated once at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

/// Loanfloor: a CRM for mortgage production managers and their loan officers.
///
/// With no DATABASE_URL, Loanfloor runs its own private PostgreSQL in the data directory.
#[derive(Debug, Parser)]
#[command(name = "loanfloor", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Where the embedded PostgreSQL cluster lives (ignored with DATABASE_URL).
    #[arg(long, env = "LOANFLOOR_DATA_DIR", default_value = ".loanfloor", global = true)]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL server instead of the embedded one; several instances may share it.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// With DATABASE_URL: connect as this role (the schema's owner) for migrations and the seed generator, so
    /// the application's own role need not own the tables (see the README, "Least privilege").
    #[arg(long, env = "LOANFLOOR_OWNER_DATABASE_URL", global = true, hide_env_values = true)]
    pub owner_database_url: Option<String>,
    /// Log format.
    #[arg(long, env = "LOANFLOOR_LOG_FORMAT", default_value = "human", global = true)]
    pub log_format: LogFormat,
    /// The file holding the key that encrypts stored secrets (TOTP and webhook secrets): 64 hex characters,
    /// made by `loanfloor new-key FILE`. Required with DATABASE_URL; the embedded mode's default is
    /// `<data dir>/secret.key`, made on its first start.
    #[arg(long, env = "LOANFLOOR_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct DisposeArgs {
    /// Count what is due tonight, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Dispose of what is due now.
    #[arg(long)]
    pub apply: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application and API (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Write a backup of the whole database to FILE (pg_dump's custom format), as the schema's owner.
    Backup {
        /// Where to write the backup.
        file: PathBuf,
    },
    /// Restore a backup made with `loanfloor backup` into an empty database (all or nothing).
    Restore {
        /// The backup to read.
        file: PathBuf,
    },
    /// Dispose of customer information past its retention rule (issue 24): `--dry-run` counts what is due,
    /// `--apply` replaces it with the disposal marker everywhere, then compacts (run it as the database owner).
    Dispose(DisposeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write synthetic mortgage leads with realistic histories (for load tests and demos).
    Seed(SeedArgs),
    /// Import CSV files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Manage lead sources (vendors and channels) and their campaigns.
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// The BISG reference tables of the fair-lending analysis.
    #[command(subcommand)]
    Bisg(BisgCommand),
    /// Run the performance benchmark on its own data directory and print a results table.
    Bench(BenchArgs),
    /// Write a new random key for LOANFLOOR_SECRET_KEY_FILE to FILE (mode 0600; never overwrites).
    NewKey {
        /// Where to write the key.
        file: PathBuf,
    },
    /// Re-encrypt every stored secret from the current key to a new one, in one transaction (stop the servers
    /// first; see the README, "Secrets at rest").
    RotateKey {
        /// The new key (made with `loanfloor new-key FILE`). Optional in the embedded mode with its own key
        /// file: a new key is made and swapped in, the old one kept as `secret.key.old`.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

/// `loanfloor bisg …`.
#[derive(Debug, Clone, Subcommand)]
pub enum BisgCommand {
    /// Load (or reload) the shipped 2010 Census surname and ZCTA tables, in one transaction.
    Load,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOANFLOOR_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Do not create the demo organisation on an empty database.
    #[arg(long, env = "LOANFLOOR_NO_DEMO")]
    pub no_demo: bool,
    /// Idle session expiry in minutes.
    #[arg(long, env = "LOANFLOOR_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: i64,
    /// Absolute session lifetime in hours, however active.
    #[arg(long, env = "LOANFLOOR_SESSION_MAX_HOURS", default_value_t = 12)]
    pub session_max_hours: i64,
    /// Enforce the admin's multi-factor requirement (turn off for demos and tests only).
    #[arg(long, env = "LOANFLOOR_ENFORCE_MFA", default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_mfa: bool,
    /// Hold calls to each state's calling hours in the borrower's time zone (the call queue, cadence attempts,
    /// the lead page). Turn off for tests only: the law applies to every real call.
    #[arg(long, env = "LOANFLOOR_ENFORCE_CALLING_HOURS", default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_calling_hours: bool,
    /// The organisation's time zone, used for dates on pages and metric ranges.
    #[arg(long, env = "LOANFLOOR_TIMEZONE", default_value = "America/Chicago")]
    pub timezone: chrono_tz::Tz,
    /// Your own proxies or load balancers, as addresses or CIDRs (comma-separated, e.g. 127.0.0.1,10.0.0.0/8).
    /// Only a connection from one of them has its X-Forwarded-For and X-Forwarded-Proto believed; the client is
    /// the right-most X-Forwarded-For entry that is not one of them.
    #[arg(long, env = "LOANFLOOR_TRUST_PROXY", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trust_proxy: Vec<IpNet>,
    /// Send the session cookie without `Secure` (and without the `__Host-` prefix), for plain-HTTP development
    /// only; the start-up log and every page say so.
    #[arg(long, env = "LOANFLOOR_INSECURE_COOKIES")]
    pub insecure_cookies: bool,
    /// Maximum request body in bytes (uploads allow 50x this).
    #[arg(long, env = "LOANFLOOR_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Database connections in this instance's pool.
    #[arg(long, env = "LOANFLOOR_DB_POOL", default_value_t = 20)]
    pub db_pool_size: u32,
    /// Run the background job worker in this instance.
    #[arg(long, env = "LOANFLOOR_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub worker: bool,
    /// Seconds a computed manager dashboard is reused for the same user and filters (0: compute every time).
    #[arg(long, env = "LOANFLOOR_DASHBOARD_CACHE_SECONDS", default_value_t = 30)]
    pub dashboard_cache_seconds: u64,
    /// How long `POST /api/v1/leads` waits for a new lead's routing before answering without its LO (0: answer
    /// once the lead is saved). The routing goes on either way (the lead is saved with its safety-net job
    /// first); while 64 leads wait to be routed on the instance, requests wait for their lead's
    /// routing in full, so a burst cannot outrun routing. Leads created on pages always wait.
    #[arg(long, env = "LOANFLOOR_ANSWER_BEFORE_ROUTING_MS", default_value_t = 0)]
    pub answer_before_routing_ms: u64,
    /// Keep the users behind API tokens for a few seconds, forgotten on every change any instance makes (PostgreSQL
    /// notifications, so a revocation takes effect within milliseconds rather than at once); off by default.
    #[arg(long, env = "LOANFLOOR_TOKEN_CACHE", default_value_t = false, action = clap::ArgAction::Set)]
    pub token_cache: bool,
    /// Keep signed-in sessions for a few seconds, forgotten on every change to the person, the session or their
    /// unread notifications that any instance makes (PostgreSQL notifications, so a sign-out or deactivation takes
    /// effect within milliseconds rather than at once); off by default.
    #[arg(long, env = "LOANFLOOR_SESSION_CACHE", default_value_t = false, action = clap::ArgAction::Set)]
    pub session_cache: bool,
    /// Serve Prometheus `/metrics` on this separate address (off by default; on the main address only API tokens
    /// allowed to read metrics get it). Bind it where only your monitoring can reach it.
    #[arg(long, env = "LOANFLOOR_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Send email through this SMTP server: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS from the start) or `smtp://host:25` (plain, for a local relay). Without
    /// it, messages are kept in the admin's outbox page (Messages → Outbox) instead of being sent.
    #[arg(long, env = "LOANFLOOR_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of every email, e.g. `Lakeside Lending <loans@lakeside.example>`.
    #[arg(long, env = "LOANFLOOR_MAIL_FROM", default_value = "Loanfloor <no-reply@loanfloor.invalid>")]
    pub mail_from: String,
    /// The address people reach this server at, for links in emails (unsubscribe, the lead's page), e.g.
    /// `https://crm.lakeside.example`. Default: http:// and `--addr`.
    #[arg(long, env = "LOANFLOOR_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".parse().expect("valid address"),
            no_demo: false,
            session_idle_minutes: 30,
            session_max_hours: 12,
            enforce_mfa: true,
            enforce_calling_hours: true,
            timezone: chrono_tz::America::Chicago,
            trust_proxy: Vec::new(),
            insecure_cookies: false,
            body_limit: 1024 * 1024,
            db_pool_size: 20,
            worker: true,
            dashboard_cache_seconds: 30,
            answer_before_routing_ms: 0,
            token_cache: false,
            session_cache: false,
            metrics_addr: None,
            smtp_url: None,
            mail_from: "Loanfloor <no-reply@loanfloor.invalid>".into(),
            public_url: None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password from LOANFLOOR_PASSWORD or a prompt).
    Add(UserAddArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// admin, manager, lo, lossmit, lossmit_supervisor, intake or marketing.
    #[arg(long)]
    pub role: String,
    /// Team (created if missing); with --role manager the user manages it.
    #[arg(long)]
    pub team: Option<String>,
    /// States an LO is licensed in, e.g. TX,CA.
    #[arg(long, value_delimiter = ',')]
    pub states: Vec<String>,
    /// Maximum open leads for an LO.
    #[arg(long, default_value_t = 50)]
    pub capacity: i32,
    /// NMLS id for an LO.
    #[arg(long)]
    pub nmls: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every entry's snapshot digest: exits 1, naming the entries, when a snapshot was changed other
    /// than by disposal (a scrubbed entry keeps the digest of what it held when written).
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; the token alone is printed on the last line.
    Add {
        #[arg(long)]
        email: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        label: String,
        /// What the token may do: leads:write (a lead vendor), read, full, metrics (repeat or comma-separate).
        #[arg(long = "scope", value_delimiter = ',', default_value = "leads:write")]
        scopes: Vec<String>,
        /// Days until it expires (1–365).
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Number of leads.
    #[arg(long, default_value_t = 10_000)]
    pub leads: u64,
    /// Number of loan officers (`--los` is its old name; LOS means loan origination system).
    #[arg(long, alias = "los", default_value_t = 20)]
    pub officers: u32,
    /// Random seed: the same seed writes the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Leads (columns as the API's field names; see the README).
    Leads(ImportArgs),
    /// Past stage changes keyed by the lead's external_id.
    StageChanges(ImportArgs),
    /// Past activities keyed by the lead's external_id.
    Activities(ImportArgs),
    /// Funded loans from the LOS.
    Loans(ImportArgs),
    /// LOS status updates, by loan number or by lead id (which then records the loan number).
    LosStatus(ImportArgs),
    /// Rate locks from the LOS, by loan number (or lead id) and the LOS lock id; the same row again changes nothing.
    LosLocks(ImportArgs),
    /// Monthly marketing spend by source and campaign (columns month, source, amount, campaign).
    Spend(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// List every source with its vendor, channel, cost and campaigns.
    List,
    /// Add a source.
    Add(SourceArgs),
    /// Change a source: rename it, change its vendor, channel or cost, retire it or bring it back.
    Change(SourceArgs),
    /// Add, rename or retire a campaign under a source.
    Campaign {
        /// The source's key.
        source: String,
        /// The campaign's key (lower-case letters, digits, - _ .).
        key: String,
        /// Its name.
        #[arg(long)]
        label: Option<String>,
        /// Retire it (re-adding it brings it back).
        #[arg(long)]
        retire: bool,
        /// Act as this user (default: the first admin).
        #[arg(long)]
        as_email: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The source's key, as leads carry it (lower-case letters, digits, - _ .).
    pub key: String,
    /// Its name.
    #[arg(long)]
    pub label: Option<String>,
    /// The vendor behind it.
    #[arg(long)]
    pub vendor: Option<String>,
    /// aggregator, paid_search, social, website, referral, partner, direct_mail or other.
    #[arg(long)]
    pub channel: Option<String>,
    /// per_lead, monthly or per_funded.
    #[arg(long)]
    pub cost_model: Option<String>,
    /// Its price in dollars (per lead, a month or per funded loan).
    #[arg(long)]
    pub cost: Option<String>,
    /// Retire the source (kept for history and reports, no longer offered on forms).
    #[arg(long, conflicts_with = "restore")]
    pub retire: bool,
    /// Bring a retired source back.
    #[arg(long)]
    pub restore: bool,
    /// Act as this user (default: the first admin).
    #[arg(long)]
    pub as_email: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, with or without BOM).
    pub file: PathBuf,
    /// Commit the good rows and report the bad ones (default: all or nothing).
    #[arg(long)]
    pub skip_bad: bool,
    /// Act as this user (default: the first admin).
    #[arg(long)]
    pub as_email: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Leads to seed when the bench database is empty.
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: u64,
    /// Loan officers to seed (`--los` is its old name).
    #[arg(long, alias = "los", default_value_t = 200)]
    pub officers: u32,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Data directory for the bench cluster.
    #[arg(long, default_value = ".loanfloor-bench")]
    pub bench_dir: PathBuf,
    /// Measure only these parts (comma-separated: dashboard, funnel, base, list, intake); all by default.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Keep API tokens' users per instance, as `serve --token-cache` (false: the run without, for comparison).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub token_cache: bool,
    /// Keep signed-in sessions per instance, as `serve --session-cache` (false: the run without, for comparison).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub session_cache: bool,
}

/// The validated configuration a running process uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// The schema owner's URL for migrations and the seed (with `database_url`; None: the same role).
    pub owner_database_url: Option<String>,
    pub log_format: LogFormat,
    pub addr: SocketAddr,
    pub demo: bool,
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    pub enforce_mfa: bool,
    /// `--enforce-calling-hours`.
    pub enforce_calling_hours: bool,
    pub timezone: chrono_tz::Tz,
    /// Proxies whose forwarding headers are believed (see `web::client`).
    pub trust_proxy: Vec<IpNet>,
    pub body_limit: usize,
    pub db_pool_size: u32,
    pub worker: bool,
    /// The separate listener for Prometheus `/metrics` (None: not served there).
    pub metrics_addr: Option<SocketAddr>,
    /// How long a computed manager dashboard is reused (zero: never).
    pub dashboard_cache: std::time::Duration,
    /// `--answer-before-routing-ms`.
    pub answer_before_routing: std::time::Duration,
    /// `--token-cache`: keep API tokens' users per instance (`auth::token_cache`).
    pub token_cache: bool,
    /// `--session-cache`: keep signed-in sessions per instance (`auth::session_cache`).
    pub session_cache: bool,
    /// `--insecure-cookies`: the session cookie may go over plain HTTP (see [`Config::plain_http_cookies`]).
    pub insecure_cookies: bool,
    /// The database holds the demo organisation (learnt at start-up): every page says that sign-in may run
    /// without a second factor there.
    pub demo_organisation: bool,
    /// `--smtp-url` (None: messages are kept in the outbox, not sent).
    pub smtp_url: Option<String>,
    /// `--mail-from`, checked to be a mailbox at start.
    pub mail_from: String,
    /// `--public-url` without a trailing slash.
    pub public_url: String,
    /// `--secret-key-file` as given (None: the embedded default, or an error with DATABASE_URL).
    pub secret_key_file: Option<PathBuf>,
    /// Seals and opens stored secrets; without a key until [`Config::with_secret_key`].
    pub secrets: crate::secrets::Sealer,
}

impl Config {
    /// The organisation's zone when calling hours are enforced (the zone of a lead with no property state);
    /// None when they are not.
    pub fn calling_hours(&self) -> Option<chrono_tz::Tz> {
        self.enforce_calling_hours.then_some(self.timezone)
    }

    pub fn from_args(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Self> {
        if serve.session_idle_minutes <= 0 || serve.session_max_hours <= 0 {
            anyhow::bail!("session lifetimes must be positive");
        }
        if serve.db_pool_size < 2 {
            anyhow::bail!("--db-pool-size must be at least 2");
        }
        if serve.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            anyhow::bail!(
                "--mail-from '{}' is not an email address (e.g. Lakeside Lending <loans@lakeside.example>)",
                serve.mail_from
            );
        }
        if let Some(url) = serve.smtp_url.as_deref().filter(|s| !s.trim().is_empty()) {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                anyhow::bail!("--smtp-url must start with smtp:// (STARTTLS with ?tls=required) or smtps:// (TLS)");
            }
        }
        if serve.metrics_addr.is_some_and(|m| m == serve.addr) {
            anyhow::bail!("--metrics-addr must differ from --addr (metrics are not served to the public listener)");
        }
        Ok(Self {
            data_dir: global.data_dir.clone(),
            database_url: global.database_url.clone().filter(|s| !s.trim().is_empty()),
            owner_database_url: global.owner_database_url.clone().filter(|s| !s.trim().is_empty()),
            log_format: global.log_format,
            addr: serve.addr,
            demo: !serve.no_demo,
            session_idle_minutes: serve.session_idle_minutes,
            session_max_hours: serve.session_max_hours,
            enforce_mfa: serve.enforce_mfa,
            enforce_calling_hours: serve.enforce_calling_hours,
            timezone: serve.timezone,
            trust_proxy: serve.trust_proxy.clone(),
            body_limit: serve.body_limit,
            db_pool_size: serve.db_pool_size,
            worker: serve.worker,
            metrics_addr: serve.metrics_addr,
            dashboard_cache: std::time::Duration::from_secs(serve.dashboard_cache_seconds),
            answer_before_routing: std::time::Duration::from_millis(serve.answer_before_routing_ms),
            token_cache: serve.token_cache,
            session_cache: serve.session_cache,
            insecure_cookies: serve.insecure_cookies,
            demo_organisation: false,
            smtp_url: serve.smtp_url.clone().filter(|s| !s.trim().is_empty()),
            mail_from: serve.mail_from.clone(),
            public_url: serve
                .public_url
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| format!("http://{}", serve.addr))
                .trim_end_matches('/')
                .to_string(),
            secret_key_file: global.secret_key_file.clone().filter(|p| !p.as_os_str().is_empty()),
            secrets: crate::secrets::Sealer::default(),
        })
    }

    /// This configuration with the key that seals stored secrets loaded (made first in the embedded mode);
    /// every process that opens the database calls it, and fails here with one sentence without a key.
    pub fn with_secret_key(mut self) -> anyhow::Result<Self> {
        self.secrets = crate::secrets::load(&self)?.into();
        Ok(self)
    }

    /// Why the session cookie goes without `Secure` and the `__Host-` prefix, or None when it has both (the
    /// default, whatever address the server binds: a TLS proxy on the same host talks to 127.0.0.1). The only
    /// exceptions are the demo organisation on a loopback address and an explicit `--insecure-cookies`.
    pub fn plain_http_cookies(&self) -> Option<&'static str> {
        if self.insecure_cookies {
            Some("--insecure-cookies")
        } else if self.demo_organisation && self.addr.ip().is_loopback() {
            Some("the demo organisation on a loopback address")
        } else {
            None
        }
    }
}

/// `--trust-proxy` entries: an address (one host) or a CIDR.
fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("'{s}' is not an IP address or CIDR (e.g. 127.0.0.1 or 10.0.0.0/8)"))
}
