//! The security baseline, as an attacker and as the people it protects would meet it: throttled guessing,
//! sessions that really end, a second factor that cannot be skipped, argon2id hashes and the password policy,
//! and an audit trail of sign-ins and refusals.

mod common;

use common::{PASSWORD, TestApp};
use loanfloor::auth::Role;
use loanfloor::auth::mfa;
use reqwest::StatusCode;
use uuid::Uuid;

const WRONG: &str = "not-the-right-password";
const BAD_LOGIN: &str = "The email or password is incorrect.";

/// A client with a same-origin Origin header that keeps no cookies, so the test controls the Cookie header.
fn bare(app: &TestApp) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, format!("http://{}", app.addr).parse().unwrap());
    reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("loanfloor_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn attempt(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    bare(app).post(app.url("/login")).form(&[("email", email), ("password", password)]).send().await.unwrap()
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sixth_wrong_password_in_a_row_is_throttled_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "maria@branch.test", Some("Dallas"), &["TX"]).await;
    for i in 1..=5 {
        let res = attempt(&app, "maria@branch.test", WRONG).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(res.text().await.unwrap().contains(BAD_LOGIN));
    }
    let res = attempt(&app, "MARIA@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the account is locked whatever the casing");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((840..=900).contains(&retry), "a 15-minute lock, got {retry}s");
    assert_eq!(audit_count(&app, "login_failed").await, 5);
    assert_eq!(audit_count(&app, "login_throttled").await, 1);
    let addr: String = sqlx::query_scalar("SELECT client_addr FROM audit_log WHERE action = 'login_failed' LIMIT 1")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(addr, "127.0.0.1");

    // After the lock the right password works again.
    app.state.clock.advance(chrono::Duration::minutes(16));
    let res = attempt(&app, "maria@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answers_as_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "known@branch.test", None, &[]).await;
    let known = attempt(&app, "known@branch.test", WRONG).await;
    let unknown = attempt(&app, "nobody@branch.test", WRONG).await;
    assert_eq!(known.status(), unknown.status());
    let (a, b) = (known.text().await.unwrap(), unknown.text().await.unwrap());
    assert!(a.contains(BAD_LOGIN) && b.contains(BAD_LOGIN));
    // The pages differ only in the echoed email and the request id.
    let strip = |s: &str, email: &str| {
        s.replace(email, "E").lines().filter(|l| !l.contains("request")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(strip(&a, "known@branch.test"), strip(&b, "nobody@branch.test"));
    for _ in 2..=5 {
        assert_eq!(attempt(&app, "nobody@branch.test", WRONG).await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt(&app, "nobody@branch.test", WRONG).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "unknown accounts lock the same way");
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn one_address_guessing_across_many_accounts_is_locked_out() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "real@branch.test", None, &[]).await;
    for i in 0..20 {
        let res = attempt(&app, &format!("guess{i}@branch.test"), WRONG).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    // No single account reached its limit, but the address did.
    let res = attempt(&app, "real@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_replayed_cookie_after_logout_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = attempt(&app, "lo@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&res).expect("a session cookie at sign-in");
    let c = bare(&app);
    let res = c.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the cookie works before logout");
    let res = c.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = c.post(app.url("/logout")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE data::text LIKE '%user_id%'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(left, 0, "logout deletes the server-side session");

    let res = c.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"), "{}", location(&res));
    let res = c.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res =
        c.post(app.url("/account/status")).header("cookie", &cookie).form(&[("status", "away")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
    let status: String = sqlx::query_scalar("SELECT status FROM lo_profiles").fetch_one(app.db()).await.unwrap();
    assert_eq!(status, "available", "the replayed cookie changed nothing");
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "victim@branch.test", None, &[]).await;
    app.create_user(Role::Lo, "attacker@branch.test", None, &[]).await;
    let c = bare(&app);
    // The attacker gets a real, stored session from the server (their own sign-in) and plants its cookie in the
    // victim's browser; the victim then signs in with that cookie.
    let res = attempt(&app, "attacker@branch.test", PASSWORD).await;
    let planted = session_cookie(&res).expect("a session cookie at the attacker's sign-in");
    let me = c.get(app.url("/api/v1/me")).header("cookie", &planted).send().await.unwrap();
    assert_eq!(me.json::<serde_json::Value>().await.unwrap()["email"], "attacker@branch.test", "the session is real");
    let res = c
        .post(app.url("/login"))
        .header("cookie", &planted)
        .form(&[("email", "victim@branch.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let fresh = session_cookie(&res).expect("a new session cookie");
    assert_ne!(fresh, planted, "the victim's sign-in gets a new session id");
    let me = c.get(app.url("/api/v1/me")).header("cookie", &fresh).send().await.unwrap();
    assert_eq!(me.json::<serde_json::Value>().await.unwrap()["email"], "victim@branch.test");
    // The attacker's copy of the planted cookie does not open the victim's account.
    let me = c.get(app.url("/api/v1/me")).header("cookie", &planted).send().await.unwrap();
    if me.status() == StatusCode::OK {
        assert_ne!(me.json::<serde_json::Value>().await.unwrap()["email"], "victim@branch.test");
    } else {
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn admin_and_lo(app: &TestApp) -> (reqwest::Client, Uuid, reqwest::Client) {
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let (lo_id, lo) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    assert_eq!(lo.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    (admin, lo_id, lo)
}

#[tokio::test]
async fn deactivation_ends_every_session_and_token_of_the_user() {
    let app = TestApp::spawn().await;
    let (admin, lo_id, lo) = admin_and_lo(&app).await;
    let second_device = app.login("lo@branch.test").await;
    let token = app.token_for(lo_id).await;
    assert_eq!(app.api(&token).get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::OK);

    let res = admin
        .post(app.url(&format!("/admin/users/{lo_id}/deactivate")))
        .form(&[("hand_over", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "an LO without open leads is deactivated directly");
    for client in [&lo, &second_device] {
        let res = client.get(app.url("/account")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).starts_with("/login"));
    }
    assert_eq!(app.api(&token).get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1")
        .bind(lo_id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    let res = attempt(&app, "lo@branch.test", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a deactivated user cannot sign in");
}

#[tokio::test]
async fn a_password_reset_by_an_admin_ends_sessions_and_only_the_new_password_works() {
    let app = TestApp::spawn().await;
    let (admin, lo_id, lo) = admin_and_lo(&app).await;
    let res = admin
        .post(app.url(&format!("/admin/users/{lo_id}/password")))
        .form(&[("password", "Closing-Disclosure-Friday")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = lo.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the old session is over");
    assert_eq!(attempt(&app, "lo@branch.test", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "lo@branch.test", "Closing-Disclosure-Friday").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_count(&app, "password_reset").await, 1);
}

#[tokio::test]
async fn changing_your_own_password_ends_all_your_sessions() {
    let app = TestApp::spawn().await;
    let (_, _, lo) = admin_and_lo(&app).await;
    let other = app.login("lo@branch.test").await;
    // Wrong current password and a weak new one: 422 with both messages.
    let res = lo
        .post(app.url("/account/password"))
        .form(&[("current_password", WRONG), ("password", "password1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("current password is not correct"), "{body}");
    assert!(body.contains("commonly used passwords"), "{body}");
    let res = lo
        .post(app.url("/account/password"))
        .form(&[("current_password", PASSWORD), ("password", "Rate-Lock-Expires-Tuesday")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for c in [&lo, &other] {
        assert_eq!(c.get(app.url("/account")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(attempt(&app, "lo@branch.test", "Rate-Lock-Expires-Tuesday").await.status(), StatusCode::SEE_OTHER);
}

/// Tries every signed-in page the application serves (from the route table) before the second factor.
async fn assert_held_at(app: &TestApp, c: &reqwest::Client, target: &str) {
    let pages: Vec<&str> = loanfloor::route_table()
        .into_iter()
        .filter(|r| r.method == "GET" && r.access == loanfloor::Access::Authenticated)
        .map(|r| r.path)
        .filter(|p| !p.contains('{') && !p.starts_with("/api/"))
        .collect();
    assert!(pages.len() >= 8, "{pages:?}");
    for path in pages {
        let res = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path} before the second factor");
        assert_eq!(location(&res), target, "{path}");
    }
    let res = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the API refuses a half-signed-in session");
    let res = c.post(app.url("/account/status")).form(&[("status", "away")]).send().await.unwrap();
    assert_eq!(location(&res), target, "writes are held too");
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = html.find(start)? + start.len();
    let j = html[i..].find(end)? + i;
    Some(&html[i..j])
}

fn now(app: &TestApp) -> u64 {
    app.state.clock.now().timestamp() as u64
}

#[tokio::test]
async fn with_mfa_required_a_new_user_must_enrol_before_any_page_and_then_always_passes_the_factor() {
    // A real organisation (the template database is one) requires a second factor of every role by default.
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let required: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mfa_required_roles'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(required, serde_json::json!("all"));
    let admin_id = app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let c = app.client();
    let res =
        c.post(app.url("/login")).form(&[("email", "admin@branch.test"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa/setup");
    assert_held_at(&app, &c, "/login/mfa/setup").await;

    // Enrol: read the key from the page (as a person types it into an app), answer with the current code.
    let page = c.get(app.url("/login/mfa/setup")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code is shown");
    let secret = between(&page, "<code class=\"secret\">", "</code>").unwrap().to_string();
    let res = c.post(app.url("/login/mfa/setup")).form(&[("code", "000000")]).send().await.unwrap();
    let wrong_ok = mfa::current_code(&secret, "admin@branch.test", now(&app)).unwrap() == "000000";
    if !wrong_ok {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let code = mfa::current_code(&secret, "admin@branch.test", now(&app)).unwrap();
    let res = c.post(app.url("/login/mfa/setup")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let codes: Vec<String> =
        page.split("<li><code>").skip(1).filter_map(|s| s.split("</code>").next()).map(str::to_string).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes are shown once");
    assert_eq!(c.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::OK);
    let enabled: bool = sqlx::query_scalar("SELECT mfa_enabled FROM users WHERE id = $1")
        .bind(admin_id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(enabled);

    // Next sign-in, half a minute later: the factor is asked for, and nothing is reachable before it.
    app.state.clock.advance(chrono::Duration::seconds(30));
    let c = app.client();
    let res =
        c.post(app.url("/login")).form(&[("email", "admin@branch.test"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa");
    assert_held_at(&app, &c, "/login/mfa").await;
    let code = mfa::current_code(&secret, "admin@branch.test", now(&app)).unwrap();
    let res = c.post(app.url("/login/mfa")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(location(&res), "/admin");
    assert_eq!(c.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::OK);

    // The same code seen over a shoulder does not work a second time.
    let thief = app.client();
    thief.post(app.url("/login")).form(&[("email", "admin@branch.test"), ("password", PASSWORD)]).send().await.unwrap();
    let res = thief.post(app.url("/login/mfa")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "a used code is refused");
    assert_held_at(&app, &thief, "/login/mfa").await;

    // A recovery code works once.
    for (attempt_no, expect_ok) in [(1, true), (2, false)] {
        let c = app.client();
        c.post(app.url("/login")).form(&[("email", "admin@branch.test"), ("password", PASSWORD)]).send().await.unwrap();
        let res = c.post(app.url("/login/mfa")).form(&[("code", codes[3].as_str())]).send().await.unwrap();
        if expect_ok {
            assert_eq!(location(&res), "/admin", "recovery code, use {attempt_no}");
        } else {
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "recovery code, use {attempt_no}");
            assert_held_at(&app, &c, "/login/mfa").await;
        }
    }
    assert_eq!(audit_count(&app, "mfa_enrolled").await, 1);
    assert_eq!(audit_count(&app, "mfa_failed").await, 2, "the replayed code and the reused recovery code");
}

#[tokio::test]
async fn an_enrolled_user_needs_the_factor_even_when_the_requirement_is_off() {
    // The LO enrolled while the organisation required a factor of everyone; then the admin (enrolled too)
    // lifted the requirement on the security page.
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    app.create_user(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let (_, secret) = app.enrol_mfa("lo@branch.test").await;
    let (admin, _) = app.enrol_mfa("admin@branch.test").await;
    let res = admin.post(app.url("/admin/security")).form(&[("scope", "roles")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let required: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mfa_required_roles'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(required, serde_json::json!([]), "no role requires a factor now");
    app.state.clock.advance(chrono::Duration::seconds(30));
    let c = app.client();
    let res =
        c.post(app.url("/login")).form(&[("email", "lo@branch.test"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa");
    assert_held_at(&app, &c, "/login/mfa").await;
    let res = c.get(app.url("/login/mfa/setup")).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa", "enrolment cannot replace an existing factor");
    let code = mfa::current_code(&secret, "lo@branch.test", now(&app)).unwrap();
    let res = c.post(app.url("/login/mfa")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(location(&res), "/my-day");
    assert_eq!(c.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_without_mfa_signs_straight_in_when_the_requirement_is_off() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let res = attempt(&app, "feed@vendor.test", PASSWORD).await;
    assert_eq!(location(&res), "/account");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_and_the_admin_form_enforces_the_policy() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let form = |pw: &'static str| {
        vec![
            ("name", "Dana Kim"),
            ("email", "dana.kim@branch.test"),
            ("role", "lo"),
            ("states", "TX, NM"),
            ("capacity", "35"),
            ("password", pw),
        ]
    };
    for (pw, message) in [
        ("short-pw", "Use at least 12 characters."),
        ("password1234", "That password is on the list of commonly used passwords."),
        ("dana.kim-is-great", "Do not use your email address in your password."),
    ] {
        let res = admin.post(app.url("/admin/users/new")).form(&form(pw)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{pw}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{pw}: {body}");
        assert!(body.contains("value=\"Dana Kim\""), "the name is kept");
        assert!(body.contains("value=\"dana.kim@branch.test\""), "the email is kept");
        assert!(body.contains("value=\"TX, NM\""), "the states are kept");
        assert!(body.contains("value=\"35\""), "the capacity is kept");
        assert!(!body.contains(pw), "the refused password is not echoed back");
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(app.db()).await.unwrap();
    assert_eq!(users, 1, "nothing was created");
    let long = "a-very-long-passphrase-about-escrow-and-title-insurance-and-more!";
    assert_eq!(long.len(), 65);
    let res = admin.post(app.url("/admin/users/new")).form(&form(long)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "long passphrases are accepted");
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'dana.kim@branch.test'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(long));
    assert_eq!(attempt(&app, "dana.kim@branch.test", long).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_ins_and_refusals_are_in_the_audit_log_with_the_client_address() {
    let app = TestApp::spawn().await;
    let (lo_id, lo) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    attempt(&app, "lo@branch.test", WRONG).await;
    let res = lo.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.api("lf_forged").get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let rows: Vec<(String, Option<Uuid>, String, String)> =
        sqlx::query_as("SELECT action, actor_id, entity_id, client_addr FROM audit_log ORDER BY id")
            .fetch_all(app.db())
            .await
            .unwrap();
    let find = |action: &str| rows.iter().find(|r| r.0 == action).unwrap_or_else(|| panic!("{action}: {rows:?}"));
    assert_eq!(find("login_succeeded").1, Some(lo_id));
    // The typed email is kept as its hash only (issue 24): the attempt is found by hashing a known address.
    assert_eq!(find("login_failed").2, loanfloor::auth::throttle::typed_email_hash("LO@branch.test "));
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'login_%' AND concat(entity_id, after::text) LIKE '%lo@branch%'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(kept, 0, "no typed email in the audit log");
    let refused = find("access_refused");
    assert_eq!((refused.1, refused.2.as_str()), (Some(lo_id), "/admin/users"));
    assert_eq!(find("token_refused").2, "/api/v1/me");
    assert!(rows.iter().all(|r| r.3 == "127.0.0.1"), "{rows:?}");
    // The log itself cannot be rewritten.
    let err = sqlx::query("UPDATE audit_log SET action = 'nothing'").execute(app.db()).await;
    assert!(err.is_err());
    let err = sqlx::query("DELETE FROM audit_log").execute(app.db()).await;
    assert!(err.is_err());
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    let app = TestApp::spawn().await; // session_max_hours = 12
    let (_, lo) = app.login_as(Role::Lo, "lo@branch.test", None, &[]).await;
    app.state.clock.advance(chrono::Duration::hours(11));
    assert_eq!(lo.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    app.state.clock.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    let res = lo.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=/account", "a relative next= brings the user back");
}

#[tokio::test]
async fn an_idle_session_expires_and_activity_keeps_it_alive() {
    let app = TestApp::spawn().await; // session_idle_minutes = 30
    let (lo_id, lo) = app.login_as(Role::Lo, "lo@branch.test", None, &[]).await;
    assert_eq!(lo.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    let minutes_left: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - now())::float8 / 60 FROM sessions WHERE user_id = $1",
    )
    .bind(lo_id)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!((28.0..=30.5).contains(&minutes_left), "30 minutes of idle time, got {minutes_left} minutes");
    let expiry = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT expires_at FROM sessions WHERE user_id = $1")
            .bind(lo_id)
            .fetch_one(app.db())
            .await
            .unwrap()
    };
    // A page view soon after writes nothing back (no write per request)...
    let before = expiry().await;
    assert_eq!(lo.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(expiry().await, before, "a fresh session is not rewritten on every page view");
    // ...but activity after a while pushes the idle expiry forward, server-side and in the cookie.
    sqlx::query("UPDATE sessions SET expires_at = now() + interval '20 minutes' WHERE user_id = $1")
        .bind(lo_id)
        .execute(app.db())
        .await
        .unwrap();
    let res = lo.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers().get(reqwest::header::SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
    assert!(cookie.as_deref().is_some_and(|c| c.contains("Max-Age=1800")), "cookie renewed: {cookie:?}");
    let left = (expiry().await - chrono::Utc::now()).num_minutes();
    assert!((28..=30).contains(&left), "activity keeps the session alive: {left} minutes left");
    // Thirty idle minutes later (the stored expiry has passed), the cookie no longer opens anything.
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(lo_id)
        .execute(app.db())
        .await
        .unwrap();
    let res = lo.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
}
