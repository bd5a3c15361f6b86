//! `loanfloor bench`: seeds a large organisation in its own data directory (or `DATABASE_URL`) when absent,
//! serves the app in-process with figure reuse off and measures, in one run: (a) a 20-LO team manager's
//! dashboard over 90 days computed fresh (rollups, and the same page from the base tables) and the admin's
//! funnel API by LO, (b) the LO lead list vs a bare axum+sqlx+askama page reading 50 rows, (c) API lead intake
//! with routing at concurrency 32 and the time from commit to assignment, (d) the process's resident memory,
//! (e) the seed's time. Prints a markdown table with the targets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::auth::Role;
use crate::config::{BenchArgs, Config, GlobalArgs, SeedArgs, ServeArgs};
use crate::db::Database;
use crate::state::AppState;

const PASSWORD: &str = "bench-password-for-loanfloor";
const TEAM_MANAGER: &str = "bench.team.manager@loanfloor.test";
const ADMIN: &str = "bench.admin@loanfloor.test";
/// Concurrent requests of the intake measurement (a lead vendor's morning burst).
const INTAKE_CONCURRENCY: usize = 32;
const CONCURRENCY: usize = 8;

/// Latencies and throughput of one measured endpoint.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.ok as f64 / self.seconds } else { 0.0 }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `CONCURRENCY` workers calling `request` until `seconds` pass (each worker finishes its request in
/// flight, so slow paths still get at least one sample each).
async fn measure<F, Fut>(seconds: u64, request: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    measure_at(seconds, CONCURRENCY, request).await
}

/// [`measure`] with `concurrency` workers.
async fn measure_at<F, Fut>(seconds: u64, concurrency: usize, request: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::<f64>::new()));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..concurrency {
        let (request, stop, counter, samples, failed) =
            (request.clone(), stop.clone(), counter.clone(), samples.clone(), failed.clone());
        handles.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if request(i).await {
                    local.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples.lock().await.extend(local);
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut s = samples.lock().await.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    Measured {
        ok: s.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        seconds: elapsed,
        p50_ms: percentile(&s, 0.5),
        p95_ms: percentile(&s, 0.95),
        p99_ms: percentile(&s, 0.99),
    }
}

/// Resident and peak memory of this process (server and load generator share it), in MB.
pub fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

// The bare comparison page: axum + sqlx + askama, 50 rows.
#[derive(Template)]
#[template(
    source = "<!doctype html><html><head><title>Leads</title></head><body><table>{% for r in rows %}<tr><td>{{ r.1 }} {{ r.2 }}</td><td>{{ r.3 }}</td><td>{{ r.4 }}</td></tr>{% endfor %}</table></body></html>",
    ext = "html"
)]
struct BarePage {
    rows: Vec<(Uuid, String, String, String, chrono::DateTime<chrono::Utc>)>,
}

async fn bare_list(State(db): State<PgPool>) -> Result<Html<String>, String> {
    let rows = sqlx::query_as(
        "SELECT id, first_name, last_name, stage, created_at FROM leads ORDER BY created_at DESC, id DESC LIMIT 50",
    )
    .fetch_all(&db)
    .await
    .map_err(|e| e.to_string())?;
    BarePage { rows }.render().map(Html).map_err(|e| e.to_string())
}

/// Seeds when the bench database holds fewer than half the requested leads (the seed rebuilds the rollups).
///
/// The seed runs as `loanfloor seed` in a process of its own, on the same database: the memory its generators
/// took goes with that process, so the resident memory measured afterwards is the server's and the load
/// generator's alone (seeded in this process, a fresh run's read held some 90 MB more at 1M leads).
async fn ensure_seeded(state: &AppState, global: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<Option<f64>> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(&state.db).await?;
    let mut seeded = None;
    if have < (args.leads / 2) as i64 {
        eprintln!("seeding {} leads and {} LOs (this takes a while)…", args.leads, args.officers);
        let t = Instant::now();
        let seed = SeedArgs { leads: args.leads, officers: args.officers, seed: 42 };
        let mut child = tokio::process::Command::new(std::env::current_exe().context("finding this program")?);
        child.arg("--data-dir").arg(&global.data_dir).args([
            "seed",
            "--leads",
            &seed.leads.to_string(),
            "--officers",
            &seed.officers.to_string(),
            "--seed",
            &seed.seed.to_string(),
        ]);
        for (var, value) in [
            ("DATABASE_URL", global.database_url.as_ref().map(std::ffi::OsString::from)),
            ("LOANFLOOR_OWNER_DATABASE_URL", global.owner_database_url.as_ref().map(std::ffi::OsString::from)),
            ("LOANFLOOR_SECRET_KEY_FILE", global.secret_key_file.as_ref().map(|f| f.as_os_str().to_owned())),
        ] {
            match value {
                Some(v) => child.env(var, v),
                None => child.env_remove(var),
            };
        }
        let status = child.status().await.context("starting the seed process")?;
        anyhow::ensure!(status.success(), "seeding the bench database failed ({status})");
        eprintln!("seeded (rollups included) in {:.0} s", t.elapsed().as_secs_f64());
        seeded = Some(t.elapsed().as_secs_f64());
    }
    crate::metrics::store::ensure_timezone(&state.db, state.config.timezone).await?;
    crate::metrics::fold_rollups(&state.db).await?;
    // A fresh bulk load has no visibility map and no hint bits yet: the first reads of every page would write
    // it back, and autovacuum would work through 16M rows during the measurements. VACUUM does now what
    // autovacuum would do in the minutes after a load (it is quick when nothing changed since the last one).
    eprintln!("vacuuming…");
    sqlx::query("VACUUM (ANALYZE)").execute(&state.db).await?;
    Ok(seeded)
}

/// Starts the process's peak resident memory (VmHWM) afresh, so the peak reported covers the measurements and
/// not the seeding before them (Linux: writing 5 to /proc/self/clear_refs).
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("could not reset the peak RSS ({e}); the peak includes seeding");
    }
}

/// The bench's users: a manager of a 20-LO team ([`TEAM_MANAGER`]), an admin ([`ADMIN`]), the busiest LO
/// (password reset to the bench's) and an intake integration with a token; returns the LO's email and the token.
async fn bench_users(db: &PgPool) -> anyhow::Result<(String, String)> {
    let hash = crate::auth::password::hash(PASSWORD)?;
    let mut tx = db.begin().await?;
    // The team manager: the first teams by name until they hold at least 20 LOs (seeded teams have about
    // eight), as one manager of a 20-LO team sees them; and an admin for the organisation-wide funnel API.
    for (email, name, role) in [(TEAM_MANAGER, "Bench Team Manager", "manager"), (ADMIN, "Bench Admin", "admin")] {
        sqlx::query(
            "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (lower(email)) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(email)
        .bind(name)
        .bind(role)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO team_managers (team_id, user_id)
         SELECT t.id, (SELECT id FROM users WHERE lower(email) = $1)
         FROM (SELECT t.id, sum(count(u.id)) OVER (ORDER BY t.name) - count(u.id) AS before
               FROM teams t JOIN users u ON u.team_id = t.id AND u.role = 'lo' GROUP BY t.id, t.name) t
         WHERE t.before < 20
         ON CONFLICT DO NOTHING",
    )
    .bind(TEAM_MANAGER)
    .execute(&mut *tx)
    .await?;
    let lo: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT u.id, u.email FROM users u WHERE u.role = 'lo' AND u.active
         ORDER BY (SELECT count(*) FROM leads l WHERE l.assigned_lo_id = u.id) DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (lo_id, lo_email) = lo.context("the seeded data has no loan officers")?;
    sqlx::query("UPDATE users SET password_hash = $2, mfa_enabled = false WHERE id = $1")
        .bind(lo_id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    let intake = "bench.intake@loanfloor.test";
    let intake_id: Uuid = match sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
        .bind(intake)
        .fetch_optional(&mut *tx)
        .await?
    {
        Some(id) => id,
        None => {
            let id = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, 'Bench Intake', $3, $4)",
            )
            .bind(id)
            .bind(intake)
            .bind(Role::Intake.as_str())
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            id
        }
    };
    let new = crate::auth::store::NewToken {
        user_id: intake_id,
        label: "bench",
        scopes: vec!["leads:write".into()],
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
        issued_by: None,
    };
    let (_, token) = crate::auth::store::create_token(&mut tx, &new).await?;
    tx.commit().await?;
    Ok((lo_email, token))
}

fn client(base: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, base.parse()?);
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONCURRENCY * 2)
        .build()?)
}

async fn sign_in(base: &str, email: &str) -> anyhow::Result<reqwest::Client> {
    let c = client(base)?;
    let res = c.post(format!("{base}/login")).form(&[("email", email), ("password", PASSWORD)]).send().await?;
    anyhow::ensure!(res.status().as_u16() == 303, "sign-in as {email} answered {}", res.status());
    Ok(c)
}

async fn get_ok(c: &reqwest::Client, url: &str) -> bool {
    match c.get(url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// What one bench run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub leads: i64,
    pub seconds: u64,
    pub dashboard: Measured,
    pub dashboard_base: Measured,
    /// The dashboard's figures computed by direct calls (no HTTP, no request timeout), rollups and base.
    pub figures_rollup: Measured,
    pub figures_base: Measured,
    pub list: Measured,
    /// The same LO's list through the JSON API (`/api/v1/leads`, first page).
    pub list_api: Measured,
    pub bare: Measured,
    pub intake: Measured,
    /// The admin's `/api/v1/metrics/funnel?group_by=lo` over 90 days.
    pub funnel: Measured,
    /// Time from a bench lead's commit (its `created_at`) to its assignment, p50 and p99 (ms).
    pub assign_p50_ms: f64,
    pub assign_p99_ms: f64,
    /// Of the intake's leads, the share given to an LO (the rest waited in a queue: every eligible LO full).
    /// An assignment costs more than a place in the queue, so readings compare at similar shares.
    pub assigned_share: f64,
    pub rss_mb: f64,
    pub peak_mb: f64,
    /// How long seeding took, when this run seeded.
    pub seed_seconds: Option<f64>,
    /// How long the dashboard page reuses computed figures (seconds; 0 = never).
    pub dashboard_cache_secs: u64,
}

impl Report {
    /// The results as a markdown table, with the targets and whether each was met.
    pub fn to_markdown(&self) -> String {
        let (dash, dash_base, list, bare_m, intake, funnel) =
            (&self.dashboard, &self.dashboard_base, &self.list, &self.bare, &self.intake, &self.funnel);
        let (fr, fb) = (&self.figures_rollup, &self.figures_base);
        let speedup = fb.p95_ms / fr.p95_ms;
        // A list's requests per second, and its ratio to the bare page's against the ≥ 0.5× target.
        let served = |m: &Measured| format!("{:.1} ({:.1} ms; {} failed)", m.per_second(), m.p95_ms, m.failed);
        let vs_bare = |m: &Measured| {
            let ratio = m.per_second() / bare_m.per_second();
            (format!("{ratio:.2}×"), Some(ratio >= 0.5 && m.failed == 0))
        };
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let timing = |m: &Measured| {
            format!(
                "{:.1} ms / {:.1} ms / {:.1} ({} ok, {} failed)",
                m.p50_ms,
                m.p95_ms,
                m.per_second(),
                m.ok,
                m.failed
            )
        };
        let mut out = format!(
            "## loanfloor bench ({} leads, {} s per measurement, concurrency {CONCURRENCY}; intake {INTAKE_CONCURRENCY})\n\n",
            self.leads, self.seconds
        );
        out.push_str("| Measure | Result | Target | |\n|---|---|---|---|\n");
        let mut row = |measure: &str, result: String, target: &str, met: Option<bool>| {
            out.push_str(&format!("| {measure} | {result} | {target} | {} |\n", met.map(verdict).unwrap_or("")));
        };
        let fresh = |m: &Measured| m.ok > 0 && m.failed == 0 && m.p95_ms <= 50.0;
        row(
            &format!(
                "(a) Dashboard page, manager of a 20-LO team, 90 days, computed fresh (reuse {} s): p50 / p95 / req/s",
                self.dashboard_cache_secs
            ),
            timing(dash),
            "p95 ≤ 50 ms",
            Some(fresh(dash)),
        );
        row(
            "(a) Funnel API, admin, `group_by=lo`, 90 days, fresh: p50 / p95 / req/s",
            timing(funnel),
            "p95 ≤ 50 ms",
            Some(fresh(funnel)),
        );
        row("(a) Dashboard page from base tables: p50 / p95 / req/s", timing(dash_base), "", None);
        row("(a) Dashboard figures by direct call, rollups: p50 / p95 / calls/s", timing(fr), "", None);
        row("(a) Dashboard figures by direct call, base tables: p50 / p95 / calls/s", timing(fb), "", None);
        row(
            "(a) Rollups vs base (direct calls): p95 ratio",
            format!("{speedup:.1}×"),
            "≥ 10×",
            (fb.ok > 0).then_some(speedup >= 10.0),
        );
        row("(b) LO lead list /leads req/s (p95)", served(list), "", None);
        row(
            "(b) Bare axum+sqlx+askama 50 rows req/s (p95)",
            format!("{:.1} ({:.1} ms)", bare_m.per_second(), bare_m.p95_ms),
            "",
            None,
        );
        let (ratio, met) = vs_bare(list);
        row("(b) List vs bare", ratio, "≥ 0.5×", met);
        row("(b) LO lead list API /api/v1/leads req/s (p95)", served(&self.list_api), "", None);
        let (ratio, met) = vs_bare(&self.list_api);
        row("(b) List API vs bare", ratio, "≥ 0.5×", met);
        row(
            "(c) API intake with routing (200 LOs, every lead new)",
            format!(
                "{:.0} leads/s ({} ok, {} failed, p95 {:.1} ms)",
                intake.per_second(),
                intake.ok,
                intake.failed,
                intake.p95_ms
            ),
            "≥ 1,000 leads/s",
            Some(intake.per_second() >= 1000.0 && intake.failed == 0),
        );
        row(
            "(c) Commit to routing decision (assigned, or queued when every LO is full): p50 / p99; share assigned",
            format!(
                "{:.0} ms / {:.0} ms; {:.0}% assigned",
                self.assign_p50_ms,
                self.assign_p99_ms,
                100.0 * self.assigned_share
            ),
            "≤ 1 s",
            Some(self.assign_p99_ms <= 1000.0),
        );
        row(
            "(d) Process RSS now / peak (server + load generator)",
            format!("{:.0} MB / {:.0} MB", self.rss_mb, self.peak_mb),
            "≤ 200 MB",
            Some(self.peak_mb <= 200.0),
        );
        match self.seed_seconds {
            Some(t) => row("(e) Seed (rollups included)", format!("{t:.0} s"), "≤ 300 s", Some(t <= 300.0)),
            None => row("(e) Seed (rollups included)", "not seeded in this run".into(), "≤ 300 s", None),
        }
        out
    }
}

pub async fn run(global: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<()> {
    let serve = ServeArgs {
        addr: "127.0.0.1:0".parse()?,
        no_demo: true,
        enforce_mfa: false,
        worker: false,
        db_pool_size: 16,
        // Figures are computed fresh for every request: the 30-second reuse is an option, off when measured.
        dashboard_cache_seconds: 0,
        token_cache: args.token_cache,
        session_cache: args.session_cache,
        ..ServeArgs::default()
    };
    let bench_global = GlobalArgs { data_dir: args.bench_dir.clone(), ..global.clone() };
    let config = Config::from_args(&bench_global, &serve)?.with_secret_key()?;
    let database = Database::open(&config, true).await?;
    database.migrate().await?;
    // The bulk load runs as the schema's owner; the measurements as the application.
    let owner = AppState::new(database.owner_pool(config.db_pool_size).await?, config.clone());
    let seeded = ensure_seeded(&owner, &bench_global, args).await?;
    let state = crate::state(database.pool.clone(), config);
    reset_peak_rss();
    let mut report = measure_app(&state, args.seconds, &args.only).await?;
    report.seed_seconds = seeded;
    println!("\n{}", report.to_markdown());
    // Every pool of ours closed first: shutdown leaves a cluster running while other clients are connected.
    state.db.close().await;
    owner.db.close().await;
    database.shutdown().await?;
    Ok(())
}

/// Serves the app in-process on a seeded database and measures everything (the bench without seeding;
/// tests call it on a tiny hand-written dataset).
/// `only` names the parts to measure (dashboard, base, list, intake); empty means all.
pub async fn measure_app(state: &AppState, secs: u64, only: &[String]) -> anyhow::Result<Report> {
    let wanted = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(&state.db).await?;
    let (lo, token) = bench_users(&state.db).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        let _ = crate::serve(listener, server_state, async move {
            let _ = stop_rx.await;
        })
        .await;
    });
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_base = format!("http://{}", bare_listener.local_addr()?);
    let bare_app = axum::Router::new().route("/bare", axum::routing::get(bare_list)).with_state(state.db.clone());
    let bare = tokio::spawn(async move {
        let _ = axum::serve(bare_listener, bare_app).await;
    });

    let manager_client = sign_in(&base, TEAM_MANAGER).await?;
    let lo_client = sign_in(&base, &lo).await?;
    let admin_client = sign_in(&base, ADMIN).await?;
    // Ninety days up to and including today, in the organisation's days.
    let today = state.today();
    let (from, to) =
        ((today - chrono::Duration::days(89)).to_string(), (today + chrono::Duration::days(1)).to_string());
    let days = format!("from={from}&to={to}");

    // (a) Dashboard from rollups vs from the base tables (same page, same figures), as the manager of a 20-LO
    // team over 90 days.
    let dash_url = format!("{base}/dashboard?{days}");
    let warm = manager_client.get(&dash_url).send().await?;
    anyhow::ensure!(warm.status().is_success(), "the dashboard answered {}", warm.status());
    let mut dash = Measured::default();
    if wanted("dashboard") {
        eprintln!("measuring the dashboard (rollups)…");
        dash = measure_get(secs, &manager_client, &dash_url).await;
    }
    let mut dash_base = Measured::default();
    if wanted("base") {
        eprintln!("measuring the dashboard (base tables)…");
        dash_base = measure_get(secs, &manager_client, &format!("{dash_url}&figures=base")).await;
    }
    // (a) The admin's funnel API grouped by LO over 90 days.
    let mut funnel = Measured::default();
    if wanted("funnel") {
        eprintln!("measuring the funnel API…");
        funnel = measure_get(secs, &admin_client, &format!("{base}/api/v1/metrics/funnel?{days}&group_by=lo")).await;
    }

    // (a') The same figures by direct calls (the HTTP request timeout would cut the base path short).
    let manager_user = crate::auth::store::find_user_by_email(&state.db, TEAM_MANAGER)
        .await?
        .context("the bench manager exists")?
        .into_current(false);
    let mut direct = Vec::new();
    let paths = [("dashboard", None), ("base", Some("base".to_string()))];
    for (_, figures) in paths.into_iter().filter(|(part, _)| wanted(part)) {
        eprintln!("measuring dashboard figures by direct call ({})…", figures.as_deref().unwrap_or("rollups"));
        let (st, user) = (state.clone(), manager_user.clone());
        let params = crate::metrics::dashboard::Params {
            figures,
            from: Some(from.clone()),
            to: Some(to.clone()),
            ..Default::default()
        };
        direct.push(
            measure(secs, move |_| {
                let (st, user, params) = (st.clone(), user.clone(), params.clone());
                async move { crate::metrics::dashboard::dashboard(&st, &user, &params).await.is_ok() }
            })
            .await,
        );
    }
    let figures_base = if wanted("base") { direct.pop().unwrap_or_default() } else { Measured::default() };
    let figures_rollup = direct.pop().unwrap_or_default();

    // (b) The LO lead list vs the bare page.
    let (list, list_api, bare_m) =
        if wanted("list") { measure_lists(secs, &lo_client, &base, &bare_base).await? } else { Default::default() };

    // (c) Lead intake through the API, with routing.
    let (mut intake, mut assigned) = (Measured::default(), (f64::NAN, f64::NAN, f64::NAN));
    if wanted("intake") {
        eprintln!("measuring API intake…");
        let run_id;
        (intake, run_id) = measure_intake(secs, &base, token).await?;
        assigned = assignment_lag(&state.db, &run_id).await?;
    }

    let (rss, peak) = memory_mb();
    let _ = stop_tx.send(());
    let _ = server.await;
    bare.abort();

    Ok(Report {
        leads,
        seconds: secs,
        dashboard: dash,
        dashboard_base: dash_base,
        figures_rollup,
        figures_base,
        list,
        list_api,
        bare: bare_m,
        intake,
        funnel,
        assign_p50_ms: assigned.0,
        assign_p99_ms: assigned.1,
        assigned_share: assigned.2,
        rss_mb: rss,
        peak_mb: peak,
        seed_seconds: None,
        dashboard_cache_secs: state.config.dashboard_cache.as_secs(),
    })
}

/// The LO's lead list as a page and through the API, then the bare page (all served by this process).
async fn measure_lists(
    secs: u64,
    lo_client: &reqwest::Client,
    base: &str,
    bare_base: &str,
) -> anyhow::Result<(Measured, Measured, Measured)> {
    eprintln!("measuring the lead list (page and API)…");
    let page = measure_get(secs, lo_client, &format!("{base}/leads")).await;
    let api = measure_get(secs, lo_client, &format!("{base}/api/v1/leads")).await;
    let bare = measure_get(secs, &client(bare_base)?, &format!("{bare_base}/bare")).await;
    Ok((page, api, bare))
}

/// GETs `url` with `client` at the bench's concurrency for `secs`.
async fn measure_get(secs: u64, client: &reqwest::Client, url: &str) -> Measured {
    let (c, u) = (client.clone(), url.to_string());
    measure(secs, move |_| {
        let (c, u) = (c.clone(), u.clone());
        async move { get_ok(&c, &u).await }
    })
    .await
}

/// Posts new leads to `POST /api/v1/leads` with the intake token for `secs`: every lead new, routed.
async fn measure_intake(secs: u64, base: &str, token: String) -> anyhow::Result<(Measured, String)> {
    let api = reqwest::Client::builder().pool_max_idle_per_host(INTAKE_CONCURRENCY * 2).build()?;
    let intake_url = format!("{base}/api/v1/leads");
    let run = Uuid::new_v4();
    let run_id = run.simple().to_string();
    // A fresh area code per run, so this run's leads are not duplicates of an earlier run's open leads.
    let area = 200 + (run.as_u128() % 800) as u64;
    let states = ["TX", "CA", "FL", "NY", "IL", "GA", "NC", "AZ"];
    let tag = run_id.clone();
    let measured = measure_at(secs, INTAKE_CONCURRENCY, move |i| {
        let (api, url, token, run_id) = (api.clone(), intake_url.clone(), token.clone(), run_id.clone());
        async move {
            let body = serde_json::json!({
                "first_name": "Bench", "last_name": format!("Lead{i}"),
                "email": format!("bench.{run_id}.{i}@example.com"), "phone": format!("+1{area}{:07}", i % 10_000_000),
                "property_state": states[(i % 8) as usize], "loan_purpose": if i % 2 == 0 { "purchase" } else { "refinance" },
                "loan_amount_cents": 35_000_000, "source": "direct", "external_id": format!("bench-{run_id}-{i}"),
            });
            match api.post(&url).bearer_auth(&token).json(&body).send().await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            }
        }
    })
    .await;
    Ok((measured, tag))
}

/// p50 and p99 of the time from each bench lead's commit to its routing decision, in ms: its assignment, or
/// its place in the queue when no LO had room (leads still waiting count as waiting until now); and the share
/// of the leads given to an LO.
async fn assignment_lag(db: &PgPool, run_id: &str) -> anyhow::Result<(f64, f64, f64)> {
    // Give a batching router its moment to catch up with the last leads of the burst.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let row: (Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY lag), percentile_disc(0.99) WITHIN GROUP (ORDER BY lag),
                avg(assigned)
         FROM (SELECT 1000 * extract(epoch FROM coalesce(
                   (SELECT min(d.created_at) FROM routing_decisions d WHERE d.lead_id = l.id),
                   now()) - l.created_at)::float8 AS lag,
                  (l.assigned_lo_id IS NOT NULL)::int::float8 AS assigned
               FROM leads l WHERE l.external_id LIKE $1) x",
    )
    .bind(format!("bench-{run_id}-%"))
    .fetch_one(db)
    .await?;
    Ok((row.0.unwrap_or(f64::NAN), row.1.unwrap_or(f64::NAN), row.2.unwrap_or(f64::NAN)))
}
