//! Examiner's checklist, items 7 and 8: what leaves Loanfloor, and what operators' endpoints give away.
//!
//! Item 7, webhooks: a receiver on 127.0.0.1 started by the test (the admin allows that host, and plain HTTP for
//! it, on the endpoint — the product's own override for a receiver inside the lender's network) gets each
//! delivery signed with a timestamp (`t=…,v1=…` over "t.body"), which a receiver can check against replay, and
//! without the borrower's name, email or phone unless the admin opted the endpoint in. Plain HTTP is refused
//! unless allowed for the endpoint's host, redirects are not followed, and proxy environment variables are
//! ignored. (The address guard's ranges are unit-tested in `webhooks::model`.)
//!
//! Item 8, operational endpoints: `/metrics` is served on the separate `--metrics-addr` listener, and on the
//! main listener only to an API token allowed to read metrics; text with a NUL byte or invalid UTF-8 in a form,
//! a query string, a JSON body or a CSV row is answered 422 naming the field, never 500.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use common::TestApp;
use hmac::{Hmac, Mac};
use loanfloor::auth::Role;
use serde_json::{Value, json};
use sha2::Sha256;

type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on 127.0.0.1 that records each request and answers `status` (with `location`, if any).
async fn receiver(status: StatusCode, location: Option<String>) -> (u16, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let g = g.clone();
        let location = location.clone();
        async move {
            g.lock().unwrap().push((headers, body.to_vec()));
            let mut res = axum::response::Response::new(axum::body::Body::empty());
            *res.status_mut() = status;
            if let Some(l) = location {
                res.headers_mut().insert("location", l.parse().unwrap());
            }
            res
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}

fn secret_in(page: &str) -> String {
    let i = page.find("whsec_").expect("the secret is shown once");
    page[i..i + 6 + 64].to_string()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let i = text.find(start).unwrap_or_else(|| panic!("{start} in {text}")) + start.len();
    &text[i..i + text[i..].find(end).unwrap()]
}

/// Registers an endpoint through the admin page; returns (status, page).
async fn register(app: &TestApp, admin: &reqwest::Client, form: &[(&str, &str)]) -> (StatusCode, String) {
    let res = admin.post(app.url("/admin/webhooks")).form(form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// The id of the endpoint registered for `url`, as the admin page shows it.
async fn endpoint_id(app: &TestApp, admin: &reqwest::Client, url: &str) -> String {
    let page = admin.get(app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
    let row = &page[page.find(url).unwrap()..];
    between(row, "action=\"/admin/webhooks/", "\"").to_string()
}

/// A lead an LO enters through the API, with the borrower's contact details (the phone number ends in the
/// first name's length, so two leads are not duplicates of each other).
async fn new_lead(app: &TestApp, api: &reqwest::Client, first: &str, email: &str) -> String {
    let phone = format!("(512) 555-014{}", first.len() % 10);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({
            "first_name": first, "last_name": "Okonkwo-Reyes", "email": email, "phone": phone,
            "property_state": "TX", "loan_purpose": "purchase", "loan_amount_cents": 38_500_000,
            "source": "website",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn run_jobs(app: &TestApp) {
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
}

async fn delivery(app: &TestApp) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, last_error FROM webhook_deliveries ORDER BY created_at DESC LIMIT 1")
        .fetch_one(app.db())
        .await
        .unwrap()
}

/// What a receiver does with `X-Loanfloor-Signature`, written out independently of the product's code.
fn receiver_accepts(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let (Some(t), Some(v1)) =
        (header.split(',').find_map(|p| p.strip_prefix("t=")), header.split(',').find_map(|p| p.strip_prefix("v1=")))
    else {
        return false;
    };
    let Ok(t_secs) = t.parse::<i64>() else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let Ok(sig) = hex::decode(v1) else { return false };
    (now - t_secs).abs() <= 300 && mac.verify_slice(&sig).is_ok()
}

#[tokio::test]
async fn a_delivery_is_signed_with_a_timestamp_and_carries_no_contact_details_unless_opted_in() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let (port, got) = receiver(StatusCode::OK, None).await;
    let url = format!("http://127.0.0.1:{port}/hook");

    // HTTPS only: plain HTTP needs the admin to allow it for this very host.
    let (status, page) =
        register(&app, &admin, &[("url", &url), ("events", "lead.created"), ("allowed_host", "127.0.0.1")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Use https://"), "{page}");
    let (status, page) = register(
        &app,
        &admin,
        &[("url", &url), ("events", "lead.created"), ("allowed_host", "127.0.0.1"), ("plain_http_host", "10.1.1.1")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("only for the address&#39;s own host") || page.contains("only for the address's own host"));
    let (status, page) = register(
        &app,
        &admin,
        &[("url", &url), ("events", "lead.created"), ("allowed_host", "127.0.0.1"), ("plain_http_host", "127.0.0.1")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let secret = secret_in(&page);
    let audited: Value = sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'webhook.registered'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited["settings"]["plain_http_host"], "127.0.0.1", "the allowance is audited: {audited}");
    assert_eq!(audited["settings"]["include_contact"], false);

    let lead = new_lead(&app, &api, "Adaeze", "adaeze.or@example.com").await;
    run_jobs(&app).await;
    assert_eq!(delivery(&app).await.0, "delivered");
    let (headers, body) = got.lock().unwrap()[0].clone();
    let header = headers["x-loanfloor-signature"].to_str().unwrap().to_string();
    let now = app.state.clock.now().timestamp();
    assert!(header.starts_with("t=") && header.contains(",v1="), "{header}");
    let t: i64 = between(&format!("{header},"), "t=", ",").parse().unwrap();
    assert!((now - t).abs() <= 5, "the timestamp is the time of sending: {t} vs {now}");
    assert!(receiver_accepts(&secret, &header, &body, now), "a receiver verifies {header}");
    assert!(loanfloor::webhooks::model::verify(&secret, &header, &body, now, 300));
    assert!(!receiver_accepts(&secret, &header, &body, now + 301), "a replay after five minutes is refused");
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert!(!receiver_accepts(&secret, &header, &tampered, now), "a changed body is refused");

    let text = String::from_utf8(body.clone()).unwrap();
    let payload: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(payload["event"], "lead.created");
    assert_eq!(payload["data"]["lead_id"], lead.as_str());
    assert_eq!(payload["data"]["lead"]["loan_amount_cents"], 38_500_000);
    for contact in ["Adaeze", "Okonkwo", "adaeze.or@example.com", "555-0146", "5125550146"] {
        assert!(!text.contains(contact), "the payload carries the borrower's {contact:?}: {text}");
    }

    // The admin opts this endpoint in to contact details (audited); the next lead's delivery carries them.
    let id = endpoint_id(&app, &admin, &url).await;
    let res = admin
        .post(app.url(&format!("/admin/webhooks/{id}")))
        .form(&[
            ("active", "1"),
            ("include_contact", "1"),
            ("allowed_host", "127.0.0.1"),
            ("plain_http_host", "127.0.0.1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (before, after): (Value, Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'webhook.updated'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((before["include_contact"].clone(), after["include_contact"].clone()), (json!(false), json!(true)));
    new_lead(&app, &api, "Bartholomew", "bart.or@example.com").await;
    run_jobs(&app).await;
    let (_, body) = got.lock().unwrap()[1].clone();
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["data"]["lead"]["email"], "bart.or@example.com");
    assert_eq!(payload["data"]["lead"]["first_name"], "Bartholomew");
}

#[tokio::test]
async fn plain_http_redirects_and_special_addresses_never_carry_a_delivery() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);

    // The admin withdraws the plain-HTTP allowance: the next delivery is refused, and nothing is sent.
    let (port, got) = receiver(StatusCode::OK, None).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let form = [("url", url.as_str()), ("events", "lead.created"), ("allowed_host", "127.0.0.1")];
    let (status, _) = register(&app, &admin, &[form.as_slice(), &[("plain_http_host", "127.0.0.1")]].concat()).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = endpoint_id(&app, &admin, &url).await;
    let res = admin
        .post(app.url(&format!("/admin/webhooks/{id}")))
        .form(&[("active", "1"), ("allowed_host", "127.0.0.1"), ("plain_http_host", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    new_lead(&app, &api, "Cass", "cass@example.com").await;
    run_jobs(&app).await;
    let (status, error) = delivery(&app).await;
    assert_eq!(status, "refused");
    assert!(error.unwrap_or_default().contains("plain HTTP to 127.0.0.1 is not allowed"));
    assert!(got.lock().unwrap().is_empty(), "nothing went over plain HTTP");

    // A receiver that redirects (to another receiver on this machine) is not followed.
    let (other_port, other) = receiver(StatusCode::OK, None).await;
    let (port, got) =
        receiver(StatusCode::TEMPORARY_REDIRECT, Some(format!("http://127.0.0.1:{other_port}/elsewhere"))).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let form = [
        ("url", url.as_str()),
        ("events", "lead.stage_changed"),
        ("allowed_host", "127.0.0.1"),
        ("plain_http_host", "127.0.0.1"),
    ];
    assert_eq!(register(&app, &admin, &form).await.0, StatusCode::CREATED);
    let lead = new_lead(&app, &api, "Dov", "dov@example.com").await;
    let current: Value = api.get(app.url(&format!("/api/v1/leads/{lead}"))).send().await.unwrap().json().await.unwrap();
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/stage")))
        .json(&json!({"stage": "contacted", "version": current["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    run_jobs(&app).await;
    assert_eq!(got.lock().unwrap().len(), 1, "the receiver was asked once");
    assert!(other.lock().unwrap().is_empty(), "the redirect was not followed");
    let (status, error) = delivery(&app).await;
    assert_eq!(status, "retrying");
    assert!(error.unwrap_or_default().contains("redirects are not followed"));

    // Literal special addresses are refused at registration, however written.
    for host in ["198.18.0.1", "192.0.0.8", "240.0.0.1", "100.64.0.1", "[64:ff9b::a00:1]", "[2002:c0a8:101::1]"] {
        let url = format!("https://{host}/hook");
        let (status, page) = register(&app, &admin, &[("url", &url), ("events", "lead.created")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{host}");
        assert!(page.contains("deliveries go there only if you allow this host"), "{host}");
    }
}

/// Run by [`deliveries_ignore_proxy_environment_variables`] in a process of its own, because it sets
/// `HTTP_PROXY` and friends, which every HTTP client in the process would otherwise see.
#[tokio::test]
#[ignore = "run by deliveries_ignore_proxy_environment_variables in its own process"]
async fn proxy_child() {
    assert_eq!(std::env::var("LOANFLOOR_PROXY_CHILD").as_deref(), Ok("1"), "run only by its parent test");
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let (port, got) = receiver(StatusCode::OK, None).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let form = [
        ("url", url.as_str()),
        ("events", "lead.created"),
        ("allowed_host", "127.0.0.1"),
        ("plain_http_host", "127.0.0.1"),
    ];
    assert_eq!(register(&app, &admin, &form).await.0, StatusCode::CREATED);
    new_lead(&app, &api, "Efua", "efua@example.com").await;
    // A "proxy" that counts the connections made to it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let proxied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = proxied.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = proxy.accept().await {
            p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        // SAFETY: this test runs alone in its own process; nothing else reads the environment meanwhile.
        unsafe { std::env::set_var(name, &proxy_url) };
    }
    for name in ["NO_PROXY", "no_proxy"] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }
    run_jobs(&app).await;
    assert_eq!(proxied.load(std::sync::atomic::Ordering::SeqCst), 0, "the delivery went through the proxy");
    assert_eq!(got.lock().unwrap().len(), 1, "the receiver got the delivery directly");
    assert_eq!(delivery(&app).await.0, "delivered");
}

#[tokio::test]
async fn deliveries_ignore_proxy_environment_variables() {
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "proxy_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("LOANFLOOR_PROXY_CHILD", "1")
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_on_the_main_one_only_to_a_metrics_token() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    reqwest::get(app.url("/login")).await.unwrap();

    // Off by default; `--metrics-addr` turns on the separate listener.
    assert_eq!(loanfloor::config::ServeArgs::default().metrics_addr, None);
    let cli = <loanfloor::config::Cli as clap::Parser>::try_parse_from([
        "loanfloor",
        "serve",
        "--metrics-addr",
        "127.0.0.1:9464",
    ])
    .unwrap();
    match cli.command {
        Some(loanfloor::config::Command::Serve(args)) => {
            assert_eq!(args.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()))
        }
        other => panic!("{other:?}"),
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = listener.local_addr().unwrap();
    tokio::spawn(loanfloor::serve_metrics(listener, app.state.clone(), std::future::pending()));
    let res = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("loanfloor_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"), "{body}");
    assert!(body.contains("loanfloor_db_pool_connections"));
    let res = reqwest::get(format!("http://{metrics_addr}/login")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the metrics listener serves nothing else");

    // The main listener: not to anonymous callers, not to a signed-in admin's browser.
    let anonymous = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    let res = admin.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.text().await.unwrap().contains("loanfloor_http_requests_total"));
    // Not to a token without the metrics scope, nor to one of someone other than an admin.
    for token in
        [app.token_for(admin_id).await, app.token_with(lo, &["read"]).await, app.token_with(lo, &["metrics"]).await]
    {
        let res = app.api(&token).get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(!res.text().await.unwrap().contains("loanfloor_http_requests_total"));
    }
    // An admin's token with the metrics scope (the scraper's) reads them.
    let scraper = app.api(&app.token_with(admin_id, &["metrics"]).await);
    let res = scraper.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("loanfloor_http_requests_total"));
}

/// Two free ports on 127.0.0.1 (bound, then released for the server to take).
async fn free_addrs() -> (String, String) {
    let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (a.local_addr().unwrap().to_string(), b.local_addr().unwrap().to_string())
}

#[tokio::test]
async fn the_server_started_with_metrics_addr_serves_metrics_there_and_not_to_anonymous_callers() {
    let app = TestApp::spawn().await;
    let (addr, metrics_addr) = free_addrs().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(["serve", "--addr", &addr, "--metrics-addr", &metrics_addr, "--worker", "false", "--no-demo"])
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut scraped = None;
    for _ in 0..240 {
        if let Ok(res) = client.get(format!("http://{metrics_addr}/metrics")).send().await {
            scraped = Some((res.status(), res.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let main = client.get(format!("http://{addr}/metrics")).send().await;
    let other = client.get(format!("http://{metrics_addr}/login")).send().await;
    let _ = child.start_kill();
    let (status, body) = scraped.expect("the metrics listener answers");
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("loanfloor_db_pool_connections"), "{body}");
    let main = main.unwrap();
    assert_eq!(main.status(), StatusCode::SEE_OTHER, "the public listener asks an anonymous caller to sign in");
    assert!(!main.text().await.unwrap().contains("loanfloor_db_pool_connections"));
    assert_eq!(other.unwrap().status(), StatusCode::NOT_FOUND);
}

/// The 422 answer names `field` (JSON for the API, the error page for browsers).
async fn assert_named(res: reqwest::Response, field: &str, what: &str) {
    let status = res.status();
    let api = res.url().path().starts_with("/api/");
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    if api {
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["errors"][field].is_array(), "{what}: names {field}: {body}");
    } else {
        assert!(body.contains(&format!("{field}:")), "{what}: names {field}: {body}");
    }
}

#[tokio::test]
async fn text_with_nul_bytes_or_invalid_utf8_is_refused_naming_the_field_never_a_500() {
    let app = TestApp::spawn().await;
    let (lo, ann) = app.login_as(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);

    // A form post: a NUL, then bytes that are not UTF-8 (which the form reader would have turned into U+FFFD).
    for (body, field) in [
        ("first_name=Da%00na&last_name=Reyes&email=dana%40example.com", "first_name"),
        ("first_name=Dana&last_name=Re%FFyes&email=dana%40example.com", "last_name"),
    ] {
        let res = ann
            .post(app.url("/leads/new"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_named(res, field, body).await;
    }
    // A query string.
    assert_named(ann.get(app.url("/leads?q=ab%00cd")).send().await.unwrap(), "q", "query NUL").await;
    assert_named(api.get(app.url("/api/v1/leads?q=%C3%28")).send().await.unwrap(), "q", "query UTF-8").await;
    // A JSON body: an escaped NUL, then a raw byte that is not UTF-8.
    let res = api
        .post(app.url("/api/v1/leads"))
        .header("content-type", "application/json")
        .body(r#"{"first_name":"Dana","last_name":"Reyes","email":"dana\u0000@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_named(res, "email", "JSON NUL").await;
    let res = api
        .post(app.url("/api/v1/leads"))
        .header("content-type", "application/json")
        .body(b"{\"first_name\":\"Dana\",\"last_name\":\"Re\xffyes\",\"email\":\"dana@example.com\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_named(res, "last_name", "JSON UTF-8").await;
    // A CSV import row: the bad rows are reported by line and column, and nothing is imported.
    let mut csv = b"first_name,last_name,email\nEli,Park,eli@example.com\nFay,Ch\x00en,fay@example.com\n".to_vec();
    csv.extend_from_slice(b"Gus,Ames,gus\xff@example.com\n");
    let part = reqwest::multipart::Part::bytes(csv).file_name("leads.csv").mime_str("text/csv").unwrap();
    let res = ann
        .post(app.url("/leads/import"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("last_name: contains a NUL byte"), "{page}");
    assert!(page.contains("email: not valid UTF-8"), "{page}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(stored, 0, "nothing was stored, garbled or not");
    // Clean text still goes through.
    let res = ann
        .post(app.url("/leads/new"))
        .form(&[("first_name", "Renée"), ("last_name", "Ó Briain"), ("email", "renee@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}
