//! Examiner's checklist, item 2: a second factor for every person (FTC Safeguards Rule, 16 CFR 314.4(c)(5)).
//!
//! A real organisation requires TOTP of every role by default; only the demo organisation may run without
//! it, and then every page says so; `--enforce-mfa=false` is refused for a real organisation; second-factor
//! failures have their own counter that a correct password does not reset, counted and checked in one
//! statement so parallel attempts cannot pass the limit.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{PASSWORD, TestApp};
use loanfloor::auth::{Role, mfa};

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn password_step(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let c = app.client();
    let res = c.post(app.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 303, "{email}: the password is right");
    let to = location(&res);
    (c, to)
}

#[tokio::test]
async fn a_real_organisation_requires_a_second_factor_of_every_role_by_default() {
    // A database migrated from scratch with no demo is a real organisation; nothing was configured.
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    for role in Role::ALL {
        let email = format!("{}@branch.test", role.as_str());
        app.create_user(role, &email, if role == Role::Lo { Some("North") } else { None }, &["TX"]).await;
        let (c, to) = password_step(&app, &email).await;
        assert_eq!(to, "/login/mfa/setup", "{}: enrolment before any page", role.as_str());
        // No page opens before the second factor.
        let res = c.get(app.url(role.home())).send().await.unwrap();
        assert_eq!(res.status(), 303, "{}", role.as_str());
        assert_eq!(location(&res), "/login/mfa/setup", "{}", role.as_str());
    }
}

/// Enrols `email` through the product's own pages; returns the TOTP secret.
async fn enrol(app: &TestApp, email: &str) -> String {
    app.enrol_mfa(email).await.1
}

fn wrong_code(secret: &str, email: &str, t: u64) -> String {
    // A code that is not valid in any accepted step.
    let valid: Vec<String> =
        [t - 30, t, t + 30].iter().map(|s| mfa::current_code(secret, email, *s).unwrap()).collect();
    (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap()
}

#[tokio::test]
async fn a_correct_password_does_not_reset_the_second_factor_count() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let email = "lo@branch.test";
    app.create_user(Role::Lo, email, Some("North"), &["TX"]).await;
    let secret = enrol(&app, email).await;
    let t = app.state.clock.now().timestamp() as u64;
    let bad = wrong_code(&secret, email, t);

    // A thief who has the password signs in again and again, four wrong codes each time.
    let mut refused = false;
    for round in 0..3 {
        let (c, to) = password_step(&app, email).await;
        assert_eq!(to, "/login/mfa", "round {round}");
        for _ in 0..4 {
            let res = c.post(app.url("/login/mfa")).form(&[("code", bad.as_str())]).send().await.unwrap();
            match res.status().as_u16() {
                422 => {}
                429 => refused = true,
                s => panic!("unexpected {s}"),
            }
        }
    }
    assert!(refused, "after five wrong codes the second factor locks, whatever the password did");
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'mfa_failed'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(failed, 5, "exactly five codes were tried before the lock");
    // Even the right code waits for the lock to pass.
    let (c, _) = password_step(&app, email).await;
    let good = mfa::current_code(&secret, email, app.state.clock.now().timestamp() as u64).unwrap();
    let res = c.post(app.url("/login/mfa")).form(&[("code", good.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn parallel_second_factor_attempts_cannot_pass_the_limit() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let email = "mgr@branch.test";
    app.create_user(Role::Manager, email, Some("North"), &[]).await;
    let secret = enrol(&app, email).await;
    let bad = wrong_code(&secret, email, app.state.clock.now().timestamp() as u64);
    let (c, to) = password_step(&app, email).await;
    assert_eq!(to, "/login/mfa");
    let attempts = (0..20).map(|_| {
        let c = c.clone();
        let url = app.url("/login/mfa");
        let bad = bad.clone();
        async move { c.post(url).form(&[("code", bad.as_str())]).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 422).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert!(checked <= 5, "at most five codes were checked, {checked} were: {statuses:?}");
}

/// Runs the real binary against a test database; returns its exit status and what it printed.
async fn run_binary(args: &[&str], database_url: &str, wait: Duration) -> (Option<i32>, String, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(wait, child.wait()).await.ok().map(|s| s.unwrap().code().unwrap_or(-1));
    if status.is_none() {
        let _ = child.start_kill();
    }
    let out = child.wait_with_output().await.unwrap();
    (status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn database_url(app: &TestApp) -> String {
    app.url.clone()
}

#[tokio::test]
async fn turning_the_second_factor_off_is_refused_for_a_real_organisation() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let url = database_url(&app);
    let (status, _, err) = run_binary(
        &["serve", "--no-demo", "--enforce-mfa=false", "--addr", "127.0.0.1:0"],
        &url,
        Duration::from_secs(60),
    )
    .await;
    assert!(matches!(status, Some(code) if code != 0), "the server must not start: {status:?} {err}");
    assert!(err.contains("--enforce-mfa=false is refused"), "one clear sentence says why: {err}");
}

#[tokio::test]
async fn the_demo_organisation_says_on_every_page_that_it_runs_without_a_second_factor() {
    let app = TestApp::spawn().await; // an empty, migrated database: the demo is created in it
    let url = database_url(&app);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(["serve", "--addr", &addr, "--worker", "false"])
        .env("DATABASE_URL", &url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut page = None;
    for _ in 0..240 {
        if let Ok(res) = client.get(format!("http://{addr}/login")).send().await {
            page = Some(res.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.start_kill();
    let page = page.expect("the demo server starts");
    assert!(page.contains("Demo organisation: sign-in here does not require a second factor"), "{page}");
    let kind: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'organisation_kind'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(kind, serde_json::json!("demo"));
}
