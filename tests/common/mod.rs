//! Test harness: `TestApp::spawn()` serves the real application on a random port against a fresh database
//! cloned from a migrated template, on one embedded PostgreSQL cluster shared by the whole test run (or the
//! server in `DATABASE_URL`). Helpers sign in as each role with a real HTTP client.
#![allow(dead_code)]

pub mod browser;
pub mod receiver;
pub mod smtp;

use std::net::SocketAddr;
use std::path::PathBuf;

use loanfloor::accounts::store::{NewUser, create_user};
use loanfloor::auth::Role;
use loanfloor::config::{Config, GlobalArgs, LogFormat, ServeArgs};
use loanfloor::state::AppState;
use sha2::Digest;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const PASSWORD: &str = "test-password-for-loanfloor";

static TEMPLATE: OnceCell<(String, String)> = OnceCell::const_new();

/// (server admin URL with `{db}` placeholder, template database name)
async fn template() -> &'static (String, String) {
    TEMPLATE
        .get_or_init(|| async {
            let base = match std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()) {
                Some(url) => url,
                None => start_cluster().await,
            };
            let hash = migrations_hash();
            let template = format!("lf_template_{}", &hash[..12]);
            let admin_url = replace_db(&base, "postgres");
            let admin = loanfloor::db::connect(&admin_url, 2).await.expect("connect to the test cluster");
            sqlx::query("SELECT pg_advisory_lock(727002)").execute(&admin).await.unwrap();
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&admin)
                .await
                .unwrap();
            if !exists {
                let building = format!("{template}_build");
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{building}\"")).execute(&admin).await;
                sqlx::query(&format!("CREATE DATABASE \"{building}\"")).execute(&admin).await.unwrap();
                let pool = loanfloor::db::connect(&replace_db(&base, &building), 2).await.unwrap();
                loanfloor::db::migrate(&pool).await.expect("migrations apply to the template");
                pool.close().await;
                // A closed connection's server process may still be leaving: the rename waits for it.
                for attempt in 0.. {
                    match sqlx::query(&format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""))
                        .execute(&admin)
                        .await
                    {
                        Ok(_) => break,
                        Err(e)
                            if attempt < 100
                                && e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55006") =>
                        {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        Err(e) => panic!("the template database could not be renamed: {e}"),
                    }
                }
            }
            // Drop test databases left by earlier runs (older than two hours).
            let cutoff = chrono::Utc::now().timestamp() - 7200;
            let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lf_test_%'")
                .fetch_all(&admin)
                .await
                .unwrap_or_default();
            for name in old {
                let ts: i64 = name.split('_').nth(2).and_then(|t| t.parse().ok()).unwrap_or(i64::MAX);
                if ts < cutoff {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&admin).await;
                }
            }
            sqlx::query("SELECT pg_advisory_unlock(727002)").execute(&admin).await.unwrap();
            admin.close().await;
            (base, template)
        })
        .await
}

fn migrations_hash() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update(f.file_name().unwrap().to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    hex::encode(h.finalize())
}

pub fn replace_db(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let base = match head.rfind('/') {
        Some(i) if head[..i].contains("//") && i > head.find("//").unwrap() + 1 => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Where the shared test cluster (and the tests' secret key) lives, one per checkout.
fn test_root() -> PathBuf {
    let key = hex::encode(sha2::Sha256::digest(env!("CARGO_MANIFEST_DIR").as_bytes()));
    PathBuf::from(format!("/tmp/loanfloor-test-{}", &key[..10]))
}

/// The key file every test server and spawned binary seals stored secrets with (`LOANFLOOR_SECRET_KEY_FILE`),
/// made once beside the shared test cluster (mode 0600) and shared by parallel test binaries.
pub fn secret_key_file() -> PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let root = test_root();
        std::fs::create_dir_all(&root).unwrap();
        let path = root.join("secret.key");
        if loanfloor::secrets::SecretKey::read(&path).is_err() {
            // Another test binary may write it at the same moment: whoever loses reads the winner's.
            let _ = loanfloor::secrets::SecretKey::generate().write_new(&path);
        }
        loanfloor::secrets::SecretKey::read(&path).expect("the tests' secret key file");
        path
    })
    .clone()
}

/// Starts (or joins) the one embedded cluster for test runs, under a file lock so parallel test binaries agree.
async fn start_cluster() -> String {
    tokio::task::spawn_blocking(|| {
        let key = hex::encode(sha2::Sha256::digest(env!("CARGO_MANIFEST_DIR").as_bytes()));
        let root = test_root();
        std::fs::create_dir_all(&root).unwrap();
        let lock =
            std::fs::File::create(std::env::temp_dir().join(format!("loanfloor-test-{}.lock", &key[..10]))).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        // Cloning a database writes it to the WAL: checkpoint after 1 GB, not the 8 GB sized for seeding.
        let cluster = loanfloor::db::EmbeddedPostgres::new(&root)
            .expect("PostgreSQL server binaries are needed for the tests")
            .with_max_wal_size("1GB");
        cluster.start().expect("the test cluster starts");
        drop(lock);
        cluster.url("postgres")
    })
    .await
    .unwrap()
}

pub struct TestApp {
    /// The database's URL (for running the binary against it).
    pub url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub db_name: String,
    /// Dropped with the TestApp when it was cloned for this test (not for a database the test brought).
    owns_database: bool,
}

impl Drop for TestApp {
    /// Drops the test's database when the test ends: a full run clones hundreds of them, and leaving them
    /// (with the WAL that cloning writes) filled a CI machine's disk before the last tests ran.
    fn drop(&mut self) {
        if !self.owns_database {
            return;
        }
        let admin = replace_db(&self.url, "postgres");
        let name = self.db_name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let pool = loanfloor::db::connect(&admin, 1).await.ok()?;
                let r = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&pool).await;
                pool.close().await;
                r.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("note: test database {} was not dropped; the next run drops it after two hours", self.db_name);
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a configuration tweak (e.g. MFA enforcement on).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (base, template) = template().await;
        let db_name = format!("lf_test_{}_{}", chrono::Utc::now().timestamp(), Uuid::new_v4().simple());
        let admin = loanfloor::db::connect(&replace_db(base, "postgres"), 1).await.unwrap();
        let mut tries = 0;
        loop {
            match sqlx::query(&format!("CREATE DATABASE \"{db_name}\" TEMPLATE \"{template}\"")).execute(&admin).await {
                Ok(_) => break,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50 + tries * 20)).await;
                }
                Err(e) => panic!("cannot create a test database: {e}"),
            }
        }
        admin.close().await;
        let mut app = Self::serve_database(replace_db(base, &db_name), db_name, tweak).await;
        app.owns_database = true;
        app
    }

    /// Serves the application on a random port against an existing, migrated database.
    pub async fn serve_database(url: String, db_name: String, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let global = GlobalArgs {
            data_dir: "/nonexistent".into(),
            database_url: Some(url.clone()),
            owner_database_url: None,
            log_format: LogFormat::Human,
            secret_key_file: Some(secret_key_file()),
        };
        let serve = ServeArgs {
            addr: "127.0.0.1:0".parse().unwrap(),
            no_demo: true,
            enforce_mfa: false,
            // Tests of the call queue run at any hour; tests/consent.rs turns calling hours on and sets the clock.
            enforce_calling_hours: false,
            db_pool_size: 6,
            worker: false,
            // Tests check figures right after writing them; the cache has its own test.
            dashboard_cache_seconds: 0,
            // Tests check a new lead's LO right after creating it: the request waits for its routing (a minute
            // at most); tests/leads_api.rs checks the answer before routing.
            answer_before_routing_ms: 60_000,
            // The harness speaks plain HTTP on 127.0.0.1; tests/security_sessions.rs checks the Secure default.
            insecure_cookies: true,
            ..ServeArgs::default()
        };
        let mut config = Config::from_args(&global, &serve).unwrap().with_secret_key().unwrap();
        tweak(&mut config);
        let pool = loanfloor::db::connect_serving(&url, config.db_pool_size).await.unwrap();
        let state = loanfloor::state(pool, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = state.clone();
        tokio::spawn(async move {
            loanfloor::serve(listener, s, std::future::pending()).await.unwrap();
        });
        TestApp { url, addr, state, db_name, owns_database: false }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The total a list page shows for the figure behind `href` (its `<p class="total" id="…"><span
    /// class="num">N</span>`: leads, requests, cases, loans, opportunities). Entities in `href` are read as a
    /// browser reads them. Panics unless the page answers 200 and shows an uncapped total.
    pub async fn list_total(&self, client: &reqwest::Client, href: &str) -> i64 {
        let href = unescape_href(href);
        let res = client.get(self.url(&href)).send().await.unwrap();
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 200, "{href}: {html}");
        let start = html.find("<p class=\"total\" id=\"").unwrap_or_else(|| panic!("{href}: the list shows no total"));
        let marker = "<span class=\"num\">";
        let at = start + html[start..].find(marker).unwrap() + marker.len();
        let text = &html[at..at + html[at..].find('<').unwrap()];
        assert!(!text.ends_with('+'), "{href}: a capped total");
        text.replace(',', "").parse().unwrap_or_else(|_| panic!("{href}: total {text:?}"))
    }

    pub fn db(&self) -> &sqlx::PgPool {
        &self.state.db
    }

    /// Registers a webhook endpoint at `url` (a local receiver: plain HTTP and the loopback address allowed)
    /// for `events` on the admin's page; the page's HTML, which shows the signing secret once.
    pub async fn add_webhook(&self, admin: &reqwest::Client, url: &str, events: &[&str]) -> String {
        let mut form = vec![("url", url), ("allowed_host", "127.0.0.1"), ("plain_http_host", "127.0.0.1")];
        form.extend(events.iter().map(|e| ("events", *e)));
        let res = admin.post(self.url("/admin/webhooks")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 201, "webhook endpoint registered");
        res.text().await.unwrap()
    }

    /// Runs every job due on the test clock, as the background worker would (domain events reach their
    /// consumers this way: the portfolio's loan, webhook deliveries); returns how many ran.
    pub async fn run_jobs(&self) -> usize {
        loanfloor::jobs::run_due(&self.state, self.state.clock.now(), "test").await.unwrap()
    }

    /// A browser-like client: keeps cookies, sends a same-origin Origin header, does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, format!("http://{}", self.addr).parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Creates a user directly in the database; returns the id.
    pub async fn create_user(&self, role: Role, email: &str, team: Option<&str>, states: &[&str]) -> Uuid {
        let mut tx = self.db().begin().await.unwrap();
        let id = create_user(
            &mut tx,
            &NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap().replace('.', " "),
                role,
                password: PASSWORD.into(),
                team: team.map(str::to_string),
                states: states.iter().map(|s| s.to_string()).collect(),
                capacity: 50,
                nmls_id: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// Signs in with the test password; panics unless sign-in redirects away from the login page.
    pub async fn login(&self, email: &str) -> reqwest::Client {
        let client = self.client();
        let res =
            client.post(self.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(res.status(), 303, "sign-in for {email} should redirect");
        client
    }

    /// Creates a user of `role` in `team` and signs them in.
    pub async fn login_as(
        &self,
        role: Role,
        email: &str,
        team: Option<&str>,
        states: &[&str],
    ) -> (Uuid, reqwest::Client) {
        let id = self.create_user(role, email, team, states).await;
        (id, self.login(email).await)
    }

    /// An API token with the whole API (`full`) for a user.
    pub async fn token_for(&self, user_id: Uuid) -> String {
        self.token_with(user_id, &["full"]).await
    }

    /// An API token with these scopes for a user, valid for a year, issued by an operator.
    pub async fn token_with(&self, user_id: Uuid, scopes: &[&str]) -> String {
        let mut tx = self.db().begin().await.unwrap();
        let new = loanfloor::auth::store::NewToken {
            user_id,
            label: "test",
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: chrono::Utc::now() + chrono::Duration::days(365),
            issued_by: None,
        };
        let (_, secret) = loanfloor::auth::store::create_token(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();
        secret
    }

    /// Signs in with the password and enrols a second factor through the product's own pages (the server must
    /// require one: `enforce_mfa`). Returns the signed-in client, whose session has just passed the factor,
    /// and the TOTP secret.
    pub async fn enrol_mfa(&self, email: &str) -> (reqwest::Client, String) {
        let c = self.client();
        let res = c.post(self.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(res.status(), 303, "{email}: the password is right");
        let page = c.get(self.url("/login/mfa/setup")).send().await.unwrap().text().await.unwrap();
        let marker = "<code class=\"secret\">";
        let start = page.find(marker).expect("the setup page shows the secret") + marker.len();
        let secret = page[start..start + page[start..].find("</code>").unwrap()].to_string();
        let code =
            loanfloor::auth::mfa::current_code(&secret, email, self.state.clock.now().timestamp() as u64).unwrap();
        let res = c.post(self.url("/login/mfa/setup")).form(&[("code", code.as_str())]).send().await.unwrap();
        assert!(res.status().is_success() || res.status() == 303, "enrolment accepted: {}", res.status());
        (c, secret)
    }

    /// Moves a lead's stage through `POST /api/v1/leads/{id}/stage` as `who`, at the version the lead has now.
    /// Panics unless the move is accepted (200).
    pub async fn move_stage(&self, who: &reqwest::Client, lead: Uuid, stage: &str, lost_reason: Option<&str>) {
        let now: serde_json::Value =
            who.get(self.url(&format!("/api/v1/leads/{lead}"))).send().await.unwrap().json().await.unwrap();
        let res = who
            .post(self.url(&format!("/api/v1/leads/{lead}/stage")))
            .json(&serde_json::json!({"stage": stage, "lost_reason": lost_reason, "version": now["version"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "stage move to {stage}: {}", res.text().await.unwrap());
    }

    /// Changes a lead's fields through `PATCH /api/v1/leads/{id}` as `who`, at the version the lead has now.
    /// Panics unless the change is accepted (200).
    pub async fn patch_lead(&self, who: &reqwest::Client, lead: Uuid, mut change: serde_json::Value) {
        let now: serde_json::Value =
            who.get(self.url(&format!("/api/v1/leads/{lead}"))).send().await.unwrap().json().await.unwrap();
        change["version"] = now["version"].clone();
        let res = who.patch(self.url(&format!("/api/v1/leads/{lead}"))).json(&change).send().await.unwrap();
        assert_eq!(res.status(), 200, "lead changed: {}", res.text().await.unwrap());
    }

    /// An admin changes an LO's profile on the LO's admin page (these form fields over the current ones;
    /// `work_days` as a comma-separated list). Panics unless the page accepts it.
    pub async fn set_lo_profile(&self, admin: &reqwest::Client, lo: Uuid, changes: &[(&str, &str)]) {
        type Row =
            (i32, String, String, Option<Uuid>, Vec<String>, i32, String, String, String, Vec<i32>, String, i32, i64);
        let r: Row = sqlx::query_as(
            "SELECT u.version, u.name, u.email, u.team_id, p.licensed_states, p.capacity, p.status,
                    to_char(p.work_start, 'HH24:MI'), to_char(p.work_end, 'HH24:MI'), p.work_days, p.timezone,
                    p.routing_weight, p.monthly_cost_cents
             FROM users u JOIN lo_profiles p ON p.user_id = u.id WHERE u.id = $1",
        )
        .bind(lo)
        .fetch_one(self.db())
        .await
        .unwrap();
        let mut form: Vec<(String, String)> = vec![
            ("version".into(), r.0.to_string()),
            ("name".into(), r.1),
            ("email".into(), r.2),
            ("role".into(), "lo".into()),
            ("team_id".into(), r.3.map(|t| t.to_string()).unwrap_or_default()),
            ("licensed_states".into(), r.4.join(",")),
            ("capacity".into(), r.5.to_string()),
            ("status".into(), r.6),
            ("work_start".into(), r.7),
            ("work_end".into(), r.8),
            ("work_days".into(), r.9.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")),
            ("timezone".into(), r.10),
            ("routing_weight".into(), r.11.to_string()),
            ("monthly_cost".into(), format!("{}.{:02}", r.12 / 100, r.12 % 100)),
        ];
        for (k, v) in changes {
            form.retain(|(fk, _)| fk != k);
            form.push((k.to_string(), v.to_string()));
        }
        let days = form.iter().find(|(k, _)| k == "work_days").map(|(_, v)| v.clone()).unwrap_or_default();
        form.retain(|(k, _)| k != "work_days");
        form.extend(days.split(',').filter(|d| !d.is_empty()).map(|d| ("work_days".to_string(), d.to_string())));
        let res = admin.post(self.url(&format!("/admin/users/{lo}"))).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 303, "profile change {changes:?}: {}", res.text().await.unwrap());
    }

    /// An admin saves a round-robin routing rule for Texas leads through the rules page.
    pub async fn add_texas_rule(&self, admin: &reqwest::Client, sla_minutes: &str) {
        let res = admin
            .post(self.url("/routing/rules"))
            .form(&[
                ("name", "Texas"),
                ("states", "TX"),
                ("method", "round_robin"),
                ("fallback_method", "round_robin"),
                ("claim_minutes", "10"),
                ("sla_minutes", sla_minutes),
                ("sla_action", "reassign"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "the rule is saved");
    }

    /// A client that authenticates with a bearer token (no cookies).
    pub fn api(&self, token: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }
}

/// An `href` as the page wrote it, read as a browser reads it (`&amp;`, `&#38;` and friends).
pub fn unescape_href(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&").replace("&#43;", "+").replace("&#61;", "=")
}

/// A piece of a page as text: its tags left out.
pub fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for ch in html.chars() {
        match ch {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The count a figure link stands for, given the link's markup from its attributes to `</a>`: its `data-over`
/// (an average, sum or ratio links the records it is over and names how many), else the number its text starts
/// with (thousands separators allowed); `None` when neither.
pub fn link_count(anchor: &str) -> Option<i64> {
    let open_end = anchor.find('>')?;
    if let Some(at) = anchor[..open_end].find("data-over=\"") {
        let v = &anchor[at + 11..];
        return v[..v.find('"')?].parse().ok();
    }
    let text = text_of(&anchor[open_end + 1..anchor.find("</a>").unwrap_or(anchor.len())]);
    let digits: String = text.trim().chars().take_while(|c| c.is_ascii_digit() || *c == ',').collect();
    digits.replace(',', "").parse().ok()
}
