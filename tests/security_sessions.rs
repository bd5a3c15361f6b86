//! Examiner's checklist for sessions, cookies and proxies (issue 15, items 4 and 5), each point through real
//! HTTP against real PostgreSQL:
//! 1. session ids are stored only as their SHA-256;
//! 2. the session cookie is `Secure` with the `__Host-` prefix by default, whatever address the server binds;
//!    the demo organisation on loopback and `--insecure-cookies` are the only exceptions, stated at start-up
//!    and on every page;
//! 3. HSTS on requests that came over TLS (through a trusted proxy);
//! 4. idle timeout 30 minutes, absolute 12 hours, both configurable;
//! 5. a sign-out racing an in-flight request cannot bring the session back;
//! 6. pages, API answers and CSV downloads say `Cache-Control: no-store`; static files keep their cache;
//! 7. changing one's password needs the current one and is throttled like sign-in;
//! 8. the client address that throttling and the audit log record cannot be chosen by the client.

mod common;

use std::process::Stdio;
use std::time::Duration;

use clap::Parser;
use common::{PASSWORD, TestApp};
use loanfloor::auth::Role;
use loanfloor::config::{Cli, Command, Config, ServeArgs};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use sha2::Digest;
use uuid::Uuid;

const WRONG: &str = "not-the-right-password";
const INSECURE_BANNER: &str = "Insecure cookies: this server sends its sign-in cookie over plain HTTP";
const HSTS: &str = "strict-transport-security";

/// A client that keeps no cookies and follows no redirects, so the test reads and sends cookies itself.
fn bare(app: &TestApp) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, format!("http://{}", app.addr).parse().unwrap());
    reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The whole `Set-Cookie` header that carries the session cookie `name`.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// `name=value` of a `Set-Cookie` header, to send back as a `Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    bare(app).post(app.url("/login")).form(&[("email", email), ("password", password)]).send().await.unwrap()
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT client_addr FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(app.db())
        .await
        .unwrap()
}

async fn sessions_of(app: &TestApp, user: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1").bind(user).fetch_one(app.db()).await.unwrap()
}

fn config(args: &[&str]) -> Config {
    let cli = Cli::try_parse_from(args).unwrap();
    let Some(Command::Serve(serve)) = cli.command else { panic!("a serve command") };
    Config::from_args(&cli.global, &serve).unwrap()
}

// ---------------------------------------------------------------- 1. hashed at rest

#[tokio::test]
async fn session_ids_are_stored_only_as_their_sha256() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = pair(&set_cookie(&res, "loanfloor_session").expect("a session cookie"));
    let id = cookie.split_once('=').unwrap().1.to_string();
    assert_eq!(bare(&app).get(app.url("/account")).header("cookie", &cookie).send().await.unwrap().status(), 200);

    let hash = hex::encode(sha2::Sha256::digest(id.as_bytes()));
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions WHERE user_id = $1")
        .bind(lo)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(stored, vec![hash], "the table holds the SHA-256 of the cookie's id");
    let clear: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE strpos(id_hash || data::text, $1) > 0")
        .bind(&id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(clear, 0, "the id itself is nowhere in the table");
}

// ---------------------------------------------------------------- 2. Secure, __Host-, stated exceptions

#[tokio::test]
async fn by_default_the_session_cookie_is_secure_with_the_host_prefix_whatever_address_is_bound() {
    for addr in ["127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", "10.1.2.3:443"] {
        let c = config(&["loanfloor", "serve", "--addr", addr]);
        assert_eq!(c.plain_http_cookies(), None, "{addr}");
        assert_eq!(loanfloor::auth::session::cookie_name(&c), "__Host-loanfloor_session", "{addr}");
    }
    let mut demo = config(&["loanfloor", "serve"]);
    demo.demo_organisation = true;
    assert!(demo.plain_http_cookies().is_some(), "the demo organisation on loopback");
    let mut demo_public = config(&["loanfloor", "serve", "--addr", "0.0.0.0:8080"]);
    demo_public.demo_organisation = true;
    assert_eq!(demo_public.plain_http_cookies(), None, "the demo organisation on a public address");
    let flagged = config(&["loanfloor", "serve", "--addr", "0.0.0.0:8080", "--insecure-cookies"]);
    assert_eq!(flagged.plain_http_cookies(), Some("--insecure-cookies"));
    assert_eq!(loanfloor::auth::session::cookie_name(&flagged), "loanfloor_session");

    // Through HTTP: the server as configured by default (the harness itself runs with insecure cookies).
    let app = TestApp::spawn_with(|c| c.insecure_cookies = false).await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let page = bare(&app).get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(INSECURE_BANNER), "no banner when cookies are secure");
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&res, "loanfloor_session").is_none(), "no cookie without the prefix");
    let header = set_cookie(&res, "__Host-loanfloor_session").expect("a __Host- session cookie");
    let attrs: Vec<String> = header.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    for required in ["secure", "httponly", "path=/", "samesite=lax"] {
        assert!(attrs.iter().any(|a| a == required), "{required} in {header}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "a __Host- cookie has no Domain: {header}");
    // The prefixed cookie is the one that opens the session.
    let res = bare(&app).get(app.url("/account")).header("cookie", pair(&header)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let unprefixed = pair(&header).replacen("__Host-", "", 1);
    let res = bare(&app).get(app.url("/account")).header("cookie", unprefixed).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the same id under the unprefixed name opens nothing");
}

#[tokio::test]
async fn insecure_cookies_are_stated_on_every_page() {
    let app = TestApp::spawn().await; // the harness runs with --insecure-cookies
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    let header = set_cookie(&res, "loanfloor_session").expect("an unprefixed cookie");
    assert!(!header.to_ascii_lowercase().contains("secure"), "{header}");
    let cookie = pair(&header);
    let c = bare(&app);
    let page = c.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(INSECURE_BANNER), "the sign-in page: {page}");
    for path in ["/account", "/my-day", "/no-such-page"] {
        let page = c.get(app.url(path)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(INSECURE_BANNER), "{path}: {page}");
    }
}

/// Starts the real binary on a free loopback port against the test database; returns what it logged and the
/// session cookie a sign-in got.
async fn run_server(app: &TestApp, args: &[&str], email: &str, password: &str) -> (String, Option<String>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["serve", "--addr", &addr, "--worker", "false"];
    all.extend_from_slice(args);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(&all)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .env("LOANFLOOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut page = None;
    for _ in 0..240 {
        if let Ok(res) = client.get(format!("http://{addr}/login")).send().await {
            page = Some(res.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let page = page.expect("the server starts");
    let res = client
        .post(format!("http://{addr}/login"))
        .header("origin", format!("http://{addr}"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("loanfloor_session="))
        .map(str::to_string);
    let _ = child.start_kill();
    let out = child.wait_with_output().await.unwrap();
    (page, cookie, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_exceptions_are_stated_at_start_up_and_a_real_organisation_gets_secure_cookies_on_loopback() {
    // The demo organisation on loopback: plain-HTTP cookies, said in the log and on the page.
    let app = TestApp::spawn().await;
    let (page, cookie, log) = run_server(&app, &[], "admin@demo.loanfloor.test", "loanfloor-demo-2026").await;
    assert!(page.contains(INSECURE_BANNER), "{page}");
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.starts_with("loanfloor_session=") && !cookie.contains("Secure"), "{cookie}");
    assert!(log.contains("insecure cookies") && log.contains("the demo organisation on a loopback address"), "{log}");

    // A real organisation on the same loopback address: Secure and __Host-, no banner, nothing to state.
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let (page, cookie, log) = run_server(&app, &["--no-demo"], "lo@branch.test", PASSWORD).await;
    assert!(!page.contains(INSECURE_BANNER), "{page}");
    let cookie = cookie.expect("a session cookie");
    assert!(cookie.starts_with("__Host-loanfloor_session=") && cookie.contains("Secure"), "{cookie}");
    assert!(!log.contains("insecure cookies"), "{log}");

    // --insecure-cookies: stated with its reason.
    let (page, cookie, log) = run_server(&app, &["--no-demo", "--insecure-cookies"], "lo@branch.test", PASSWORD).await;
    assert!(page.contains(INSECURE_BANNER), "{page}");
    assert!(cookie.expect("a session cookie").starts_with("loanfloor_session="));
    assert!(log.contains("insecure cookies") && log.contains("--insecure-cookies"), "{log}");
}

// ---------------------------------------------------------------- 3. HSTS

#[tokio::test]
async fn hsts_is_sent_when_the_request_came_over_tls_through_a_trusted_proxy() {
    let app = TestApp::spawn().await; // no proxy trusted
    let res = bare(&app).get(app.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(res.headers().get(HSTS).is_none(), "an untrusted peer cannot claim TLS");

    let app = TestApp::spawn_with(|c| c.trust_proxy = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let res = bare(&app).get(app.url("/login")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(res.headers().get(HSTS).unwrap(), "max-age=31536000; includeSubDomains");
    let res = bare(&app).get(app.url("/api/v1/me")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(res.headers().get(HSTS).is_some(), "API answers too");
    let res = bare(&app).get(app.url("/login")).header("x-forwarded-proto", "http").send().await.unwrap();
    assert!(res.headers().get(HSTS).is_none(), "plain HTTP behind the proxy");
    let res = bare(&app).get(app.url("/login")).send().await.unwrap();
    assert!(res.headers().get(HSTS).is_none(), "the proxy said nothing");
}

// ---------------------------------------------------------------- 4. timeouts

#[tokio::test]
async fn sessions_idle_out_after_30_minutes_and_end_12_hours_after_sign_in_by_default() {
    let defaults = config(&["loanfloor", "serve"]);
    assert_eq!((defaults.session_idle_minutes, defaults.session_max_hours), (30, 12));
    let tuned = config(&["loanfloor", "serve", "--session-idle-minutes", "10", "--session-max-hours", "8"]);
    assert_eq!((tuned.session_idle_minutes, tuned.session_max_hours), (10, 8));
    let built_in = ServeArgs::default();
    assert_eq!((built_in.session_idle_minutes, built_in.session_max_hours), (30, 12));

    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    let header = set_cookie(&res, "loanfloor_session").unwrap();
    assert!(header.contains("Max-Age=1800"), "the cookie lives 30 idle minutes: {header}");
    let cookie = pair(&header);
    let left: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - now())::float8 / 60 FROM sessions WHERE user_id = $1",
    )
    .bind(lo)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!((28.0..=30.5).contains(&left), "30 idle minutes on the server: {left}");
    let c = bare(&app);
    // Busy for almost 12 hours (time moved by the test clock), the session still opens...
    app.state.clock.advance(chrono::Duration::hours(11) + chrono::Duration::minutes(58));
    assert_eq!(c.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap().status(), StatusCode::OK);
    // ...and not past 12 hours, however active.
    app.state.clock.advance(chrono::Duration::minutes(3));
    let res = c.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));

    // Idle: 30 minutes without a request (the stored expiry moved into the past) ends a fresh session.
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    let cookie = pair(&set_cookie(&res, "loanfloor_session").unwrap());
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(lo)
        .execute(app.db())
        .await
        .unwrap();
    let res = c.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let app = TestApp::spawn_with(|c| c.session_idle_minutes = 10).await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    assert!(set_cookie(&res, "loanfloor_session").unwrap().contains("Max-Age=600"), "configurable");
}

// ---------------------------------------------------------------- 5. sign-out races

#[tokio::test]
async fn a_sign_out_racing_an_in_flight_request_cannot_bring_the_session_back() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = sign_in(&app, "lo@branch.test", PASSWORD).await;
    let cookie = pair(&set_cookie(&res, "loanfloor_session").unwrap());
    // Six minutes on, a request pushes the idle expiry forward, so it holds the session and saves it.
    app.state.clock.advance(chrono::Duration::minutes(6));

    // The in-flight request: the LO sets themself away, held inside the handler by a lock on their profile.
    let mut blocker = app.db().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM lo_profiles WHERE user_id = $1 FOR UPDATE")
        .bind(lo)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let in_flight = {
        let (c, url, cookie) = (bare(&app), app.url("/account/status"), cookie.clone());
        tokio::spawn(async move { c.post(url).header("cookie", cookie).form(&[("status", "away")]).send().await })
    };
    let mut waiting = false;
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%lo_profiles%'",
        )
        .fetch_one(app.db())
        .await
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the request reached its handler with the session in hand");

    // Sign-out, from the same browser, while that request is still running.
    let res = bare(&app).post(app.url("/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(sessions_of(&app, lo).await, 0, "sign-out deleted the session");

    blocker.rollback().await.unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the request that was already running finishes");
    assert_eq!(sessions_of(&app, lo).await, 0, "its save did not write the session back");
    let res = bare(&app).get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the signed-out cookie opens nothing");
    assert!(location(&res).starts_with("/login"));
}

// ---------------------------------------------------------------- 6. no-store

#[tokio::test]
async fn pages_api_answers_and_csv_downloads_say_no_store_and_static_files_keep_their_cache() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let lead = serde_json::json!({
        "first_name": "Ana", "last_name": "Reyes", "email": "ana.reyes@example.com", "phone": "(512) 555-0142",
        "property_state": "TX", "property_zip": "78701", "loan_purpose": "purchase",
        "loan_amount_cents": 32000000, "property_value_cents": 40000000, "credit_band": "good",
        "source": "zillow", "external_id": "Z-1001",
        "consent": {"channel": "call", "text": "I agree to be called", "captured_at": "2026-03-01T14:30:00Z", "token": "tf-1"}
    });
    let res = admin.post(app.url("/api/v1/leads")).json(&lead).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get(CACHE_CONTROL).unwrap(), "no-store", "the API's answer to a write");
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let borrower_data = [
        format!("/leads/{id}"),
        "/leads".into(),
        format!("/api/v1/leads/{id}"),
        "/api/v1/leads".into(),
        "/api/v1/leads.csv".into(),
        "/leads/export.csv".into(),
        "/dashboard".into(),
        "/admin/audit".into(),
    ];
    for path in &borrower_data {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers().get(CACHE_CONTROL).map(|v| v.to_str().unwrap()), Some("no-store"), "{path}");
        if path.ends_with(".csv") {
            assert!(res.text().await.unwrap().contains("Reyes"), "{path} carries the borrower");
        }
    }
    // Every other answer too: sign-in, errors, refusals.
    let anon = bare(&app);
    for (path, status) in [("/login", 200), ("/no-such-page", 404), ("/api/v1/me", 401), ("/leads", 303)] {
        let res = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert_eq!(res.headers().get(CACHE_CONTROL).unwrap(), "no-store", "{path}");
    }
    let res = anon.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get(CACHE_CONTROL).unwrap(), "public, max-age=3600", "static files stay cacheable");
}

// ---------------------------------------------------------------- 7. password change

#[tokio::test]
async fn changing_your_password_needs_the_current_one_and_is_throttled_like_sign_in() {
    let app = TestApp::spawn().await;
    let (_, lo) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let change = |current: &'static str| {
        let lo = lo.clone();
        let url = app.url("/account/password");
        async move {
            lo.post(url)
                .form(&[("current_password", current), ("password", "Rate-Lock-Expires-Tuesday")])
                .send()
                .await
                .unwrap()
        }
    };
    // Without the current password, or with a wrong one: refused, and each counts as a failed guess.
    let res = change("").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("current password is not correct"));
    for i in 2..=5 {
        assert_eq!(change(WRONG).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "guess {i}");
    }
    // The sixth try is refused even with the right password, and sign-in is locked as well.
    let res = change(PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((840..=900).contains(&retry), "a 15-minute lock, got {retry}s");
    assert_eq!(sign_in(&app, "lo@branch.test", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(audit_rows(&app, "password_change_failed").await.len(), 5);
    assert_eq!(audit_rows(&app, "password_change_throttled").await.len(), 1);
    assert_eq!(
        sign_in(&app, "lo@branch.test", "Rate-Lock-Expires-Tuesday").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // After the lock, the right current password changes it.
    app.state.clock.advance(chrono::Duration::minutes(16));
    let res = change(PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(sign_in(&app, "lo@branch.test", "Rate-Lock-Expires-Tuesday").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn guessing_current_passwords_counts_against_the_address_too() {
    let app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(app.login_as(Role::Lo, &format!("lo{i}@branch.test"), Some("Dallas"), &["TX"]).await.1);
    }
    // Four wrong guesses on each of five accounts: no account reaches its limit, the address does.
    for c in &clients {
        for _ in 0..4 {
            let res = c
                .post(app.url("/account/password"))
                .form(&[("current_password", WRONG), ("password", "Rate-Lock-Expires-Tuesday")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    app.create_user(Role::Lo, "fresh@branch.test", Some("Dallas"), &["TX"]).await;
    assert_eq!(sign_in(&app, "fresh@branch.test", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---------------------------------------------------------------- 8. client address

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // Our balancer is in 10.0.0.0/8; this client connects from 127.0.0.1, around it.
    let app = TestApp::spawn_with(|c| c.trust_proxy = vec!["10.0.0.0/8".parse().unwrap()]).await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    // Twenty failures, each claiming another address: the audit log and the throttle see the real peer.
    for i in 0..20 {
        let res = bare(&app)
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("email", format!("guess{i}@branch.test").as_str()), ("password", WRONG)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let addrs = audit_rows(&app, "login_failed").await;
    assert_eq!(addrs.len(), 20);
    assert!(addrs.iter().all(|a| a == "127.0.0.1"), "{addrs:?}");
    let res = bare(&app)
        .post(app.url("/login"))
        .header("x-forwarded-for", "198.51.100.99")
        .form(&[("email", "lo@branch.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "a new claimed address does not escape the lock");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() {
    let trusted = config(&["loanfloor", "serve", "--trust-proxy", "127.0.0.1,10.0.0.0/8"]).trust_proxy;
    assert_eq!(trusted.len(), 2);
    let refused = Cli::try_parse_from(["loanfloor", "serve", "--trust-proxy", "true"]).unwrap_err().to_string();
    assert!(refused.contains("not an IP address or CIDR"), "{refused}");

    let app = TestApp::spawn_with(move |c| c.trust_proxy = trusted).await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let attempt = |xff: String, email: String| {
        let c = bare(&app);
        let url = app.url("/login");
        async move {
            c.post(url)
                .header("x-forwarded-for", xff)
                .form(&[("email", email.as_str()), ("password", WRONG)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The client wrote the left part itself; our proxy appended 203.0.113.9; 10.0.0.5 is our inner balancer.
    assert_eq!(attempt("198.51.100.7, 203.0.113.9, 10.0.0.5".into(), "a@branch.test".into()).await, 401);
    assert_eq!(audit_rows(&app, "login_failed").await, vec!["203.0.113.9".to_string()]);

    // Varying the part the client controls does not give it a fresh address to throttle.
    for i in 1..20 {
        let status = attempt(format!("198.51.100.{i}, 203.0.113.9"), format!("guess{i}@branch.test")).await;
        assert_eq!(status, 401, "guess {i}");
    }
    assert_eq!(attempt("198.51.100.200, 203.0.113.9".into(), "lo@branch.test".into()).await, 429);
    // Another client behind the same proxy is not locked out with it.
    assert_eq!(attempt("203.0.113.10".into(), "lo@branch.test".into()).await, 401);
    let addrs = audit_rows(&app, "login_failed").await;
    assert_eq!(addrs.iter().filter(|a| *a == "203.0.113.9").count(), 20, "{addrs:?}");
    assert_eq!(addrs.last().unwrap(), "203.0.113.10");
}
