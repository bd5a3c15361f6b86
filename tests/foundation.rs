//! The foundation: health, metrics, headers, errors, request limits, CSRF, and the browser smoke test.

mod common;

use common::TestApp;
use common::browser::Browser;

#[tokio::test]
async fn health_and_readiness_report_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let res = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["reason"], "ok");
}

#[tokio::test]
async fn readiness_reports_503_when_the_database_is_gone_and_recovers_while_health_stays_ok() {
    let app = TestApp::spawn().await;
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);
    let opts = (*app.db().connect_options()).clone().database("postgres");
    let admin = sqlx::PgPool::connect_with(opts).await.unwrap();
    let db = &app.db_name;
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false")).execute(&admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(db)
        .execute(&admin)
        .await
        .unwrap();
    let res = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["reason"], "database unreachable");
    // The process is alive: a supervisor must not restart it for a database outage.
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), 200);
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).execute(&admin).await.unwrap();
    let mut status = 0;
    for _ in 0..25 {
        status = reqwest::get(app.url("/readyz")).await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "the server is ready again within 5 s of the database coming back");
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/login")).await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn unknown_pages_get_a_404_page_and_api_gets_json() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/no/such/page")).await.unwrap();
    assert_eq!(res.status(), 404);
    let rid = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = res.text().await.unwrap();
    assert!(body.contains("404"), "{body}");
    assert!(body.contains(&rid), "the error page shows the request id");
    let res = reqwest::get(app.url("/api/v1/nothing-here")).await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = TestApp::spawn().await;
    reqwest::get(app.url("/login")).await.unwrap();
    // Served on the `--metrics-addr` listener (tests/security_outbound.rs: and nowhere else but to metrics tokens).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(loanfloor::serve_metrics(listener, app.state.clone(), std::future::pending()));
    let body = reqwest::get(metrics).await.unwrap().text().await.unwrap();
    assert!(body.contains("loanfloor_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"), "{body}");
    assert!(body.contains("loanfloor_db_pool_connections"));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(2 * 1024 * 1024);
    let res =
        app.client().post(app.url("/login")).form(&[("email", big.as_str()), ("password", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn a_cross_site_post_is_refused() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new()
        .post(app.url("/login"))
        .header("Origin", "https://evil.example")
        .form(&[("email", "a@b.c"), ("password", "whatever-whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res =
        reqwest::Client::new().post(app.url("/logout")).header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn browser_opens_the_home_page() {
    let app = TestApp::spawn().await;
    let b = Browser::start().await;
    b.client.goto(&app.url("/")).await.unwrap();
    let url = b.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/login"), "signed-out visitors land on sign-in: {url}");
    assert!(b.text("h1").await.contains("Sign in"));
    b.close().await;
}

/// One binary: the program serves its styles from inside itself, started from an empty folder far from the
/// source tree (as after `cargo install`), and answers a repeat request with 304.
#[tokio::test]
async fn the_binary_serves_its_styles_from_any_folder() {
    let app = TestApp::spawn().await;
    let empty = std::env::temp_dir().join(format!("loanfloor-empty-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(["serve", "--no-demo", "--worker", "false", "--addr", &format!("127.0.0.1:{port}")])
        .current_dir(&empty)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/static/app.css");
    let mut res = None;
    for _ in 0..240 {
        if let Ok(r) = reqwest::get(&url).await {
            res = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let res = res.expect("the server starts");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let css = res.text().await.unwrap();
    assert_eq!(css, include_str!("../static/app.css"), "the embedded stylesheet is the source one");
    let again = reqwest::Client::new().get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let _ = child.start_kill();
    let _ = std::fs::remove_dir_all(&empty);
}
