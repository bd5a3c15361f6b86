//! Examiner's checklist, item 3: API tokens are for integrations, not a way around sign-in.
//!
//! Tokens carry scopes and an expiry and never open an HTML page; creating one in the browser needs a second
//! factor passed in the last 15 minutes; every action taken with a token names the token and who issued it;
//! a token issued for a person is on that person's account page, where they can revoke it; reactivating a
//! person does not bring back their old tokens; every refused token use is in the audit log.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

fn lead(n: u32) -> Value {
    json!({"first_name": "Tok", "last_name": format!("Lead{n}"), "phone": format!("512555{:04}", 1000 + n),
           "source": "web", "property_state": "TX"})
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_opens_only_what_its_scopes_allow_and_never_a_page() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let vendor = app.api(&app.token_with(lo, &["leads:write"]).await);
    let reader = app.api(&app.token_with(lo, &["read"]).await);
    let full = app.api(&app.token_with(lo, &["full"]).await);

    let res = vendor.post(app.url("/api/v1/leads")).json(&lead(1)).send().await.unwrap();
    assert_eq!(res.status(), 201, "a lead vendor's token creates leads");
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(vendor.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 403, "but reads none");
    assert_eq!(vendor.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().status(), 403);

    assert_eq!(reader.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 200, "read reads");
    assert_eq!(reader.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().status(), 200);
    assert_eq!(reader.post(app.url("/api/v1/leads")).json(&lead(2)).send().await.unwrap().status(), 403);
    let res = reader
        .patch(app.url(&format!("/api/v1/leads/{id}")))
        .json(&json!({"version": 1, "first_name": "Changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "read does not change");

    assert_eq!(full.post(app.url("/api/v1/leads")).json(&lead(3)).send().await.unwrap().status(), 201);
    assert_eq!(full.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 200);

    // No scope opens an HTML page or posts a page's form.
    let refused_before = audit_count(&app, "access_refused").await;
    for api in [&vendor, &reader, &full] {
        for path in ["/my-day", "/leads", &format!("/leads/{id}"), "/account"] {
            let res = api.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 403, "{path}: a token never opens a page");
        }
        let res = api.post(app.url(&format!("/leads/{id}/notes"))).form(&[("body", "via token")]).send().await.unwrap();
        assert_eq!(res.status(), 403, "a token cannot post a page's form");
    }
    let refused = audit_count(&app, "access_refused").await - refused_before;
    assert_eq!(refused, 15, "every refused token use is in the audit log");
    let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM activities WHERE body = 'via token'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(notes, 0);
    // The refusals name the person the token acts as.
    let actor: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT actor_id FROM audit_log WHERE action = 'access_refused' ORDER BY id DESC LIMIT 1")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(actor, Some(lo));
}

#[tokio::test]
async fn an_expired_token_is_refused_and_the_refusal_is_audited() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let token = app.token_with(lo, &["full"]).await;
    let api = app.api(&token);
    assert_eq!(api.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 200);
    // A year passes (time moved in the database, which decides expiry).
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second'").execute(app.db()).await.unwrap();
    let before = audit_count(&app, "token_refused").await;
    assert_eq!(api.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 401);
    assert_eq!(audit_count(&app, "token_refused").await, before + 1);
}

#[tokio::test]
async fn a_token_issued_in_the_browser_needs_a_recent_second_factor_and_names_its_issuer() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let admin_id = app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let (admin, _) = app.enrol_mfa("admin@branch.test").await;

    // Just past the second factor: the admin issues the LO a token for their dialer integration.
    let res = admin
        .post(app.url(&format!("/admin/users/{lo}/tokens")))
        .form(&[("label", "dialer"), ("scope", "leads:write"), ("scope", "read"), ("days", "90")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let marker = "id=\"token-secret\">";
    let start = page.find(marker).unwrap() + marker.len();
    let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
    assert!(page.contains("leads:write, read"), "the page shows the scopes");
    let (token_id, expires, issued_by): (uuid::Uuid, chrono::DateTime<chrono::Utc>, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT id, expires_at, issued_by FROM api_tokens WHERE user_id = $1")
            .bind(lo)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(issued_by, Some(admin_id));
    let days = (expires - app.state.clock.now()).num_days();
    assert!((89..=90).contains(&days), "expires in 90 days, not {days}");

    // An action taken with it names the token and who issued it.
    let api = app.api(&secret);
    let res = api.post(app.url("/api/v1/leads")).json(&lead(7)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let (tok, issuer): (Option<uuid::Uuid>, Option<uuid::Uuid>) = sqlx::query_as(
        "SELECT token_id, token_issued_by FROM audit_log WHERE action = 'create' AND entity = 'lead' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((tok, issuer), (Some(token_id), Some(admin_id)));

    // The LO sees the token on their own account page, issued by the admin, and revokes it.
    let (lo_client, _) = app.enrol_mfa("lo@branch.test").await;
    let account = lo_client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("dialer") && account.contains("admin@branch.test"), "{account}");
    let res = lo_client.post(app.url(&format!("/account/tokens/{token_id}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(api.get(app.url("/api/v1/leads")).send().await.unwrap().status(), 401, "revoked");

    // Sixteen minutes later the admin's second factor is no longer recent: no new token.
    app.state.clock.advance(chrono::Duration::minutes(16));
    let res = admin
        .post(app.url(&format!("/admin/users/{lo}/tokens")))
        .form(&[("label", "late"), ("scope", "full")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 1, "nothing was issued");
}

#[tokio::test]
async fn another_persons_token_cannot_be_revoked_from_the_account_page() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let other = app.create_user(Role::Lo, "other@branch.test", Some("North"), &["TX"]).await;
    let token = app.token_with(other, &["full"]).await;
    let token_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_tokens").fetch_one(app.db()).await.unwrap();
    let c = app.login("lo@branch.test").await;
    let res = c.post(app.url(&format!("/account/tokens/{token_id}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.api(&token).get(app.url("/api/v1/leads")).send().await.unwrap().status(), 200, "still works");
    let _ = lo;
}

#[tokio::test]
async fn reactivating_a_person_does_not_bring_back_their_tokens() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let vendor = app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let token = app.token_with(vendor, &["leads:write"]).await;
    let api = app.api(&token);
    assert_eq!(api.post(app.url("/api/v1/leads")).json(&lead(1)).send().await.unwrap().status(), 201);
    let res = admin
        .post(app.url(&format!("/admin/users/{vendor}/deactivate")))
        .form(&[("reason", "contract ended")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(api.post(app.url("/api/v1/leads")).json(&lead(2)).send().await.unwrap().status(), 401);
    let res = admin.post(app.url(&format!("/admin/users/{vendor}/reactivate"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        api.post(app.url("/api/v1/leads")).json(&lead(3)).send().await.unwrap().status(),
        401,
        "the old token stays dead; an admin issues a new one"
    );
}
