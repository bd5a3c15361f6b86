//! The foundation: health, metrics, headers, errors, request limits, CSRF, and the browser smoke test.

mod common;

use common::TestApp;
use common::browser::Browser;

#[tokio::test]
async fn health_reports_ok_when_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn health_reports_503_when_the_database_is_gone_and_recovers() {
    let app = TestApp::spawn().await;
    let opts = (*app.db().connect_options()).clone().database("postgres");
    let admin = sqlx::PgPool::connect_with(opts).await.unwrap();
    let db = &app.db_name;
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false")).execute(&admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(db)
        .execute(&admin)
        .await
        .unwrap();
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 503);
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).execute(&admin).await.unwrap();
    let mut status = 0;
    for _ in 0..20 {
        status = reqwest::get(app.url("/healthz")).await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "the server recovers when the database comes back");
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
