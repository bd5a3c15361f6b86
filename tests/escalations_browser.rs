//! In Chromium: an LO files a 25 bps pricing exception, the manager approves it from the queue.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use uuid::Uuid;

/// Waits until sign-in has left the login page.
async fn signed_in(b: &Browser) {
    for _ in 0..100 {
        if !b.client.current_url().await.unwrap().path().starts_with("/login") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sign-in did not complete");
}

#[tokio::test]
async fn lo_files_an_exception_and_the_manager_approves_it_in_the_browser() {
    let app = TestApp::spawn().await;
    let lo_id = app.create_user(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    // Ann enters her borrower through the API (an LO's new lead is hers).
    let res = app
        .api(&app.token_for(lo_id).await)
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({
            "first_name": "Rosa", "last_name": "Diaz", "email": "rosa.diaz@example.com", "loan_amount": "400000",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let lead: Uuid = created["id"].as_str().unwrap().parse().unwrap();

    let b = Browser::start().await;
    b.sign_in(&app.url(""), "ann.lo@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url(&format!("/escalations/new?lead_id={lead}"))).await.unwrap();
    assert!(b.text("#lead-amount").await.contains("$400,000.00"));
    b.client.find(Locator::Id("standard_rate")).await.unwrap().send_keys("6.875").await.unwrap();
    b.client.find(Locator::Id("requested_rate")).await.unwrap().send_keys("6.625").await.unwrap();
    b.client.find(Locator::Css("#reason option[value=competitor_match]")).await.unwrap().click().await.unwrap();
    b.client.find(Locator::Id("competitor_name")).await.unwrap().send_keys("Keystone Lending").await.unwrap();
    b.client.find(Locator::Id("note")).await.unwrap().send_keys("Written quote in hand.").await.unwrap();
    b.submit("#escalation-form button[type=submit]").await;
    b.client.wait().for_element(Locator::Id("status")).await.unwrap();
    assert_eq!(b.text("#status").await, "Requested");
    assert_eq!(b.text("#concession").await, "25 bps · $1,000.00");
    b.close().await;

    let b = Browser::start().await;
    b.sign_in(&app.url(""), "mona.manager@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url("/escalations")).await.unwrap();
    let queue = b.text("#queue").await;
    assert!(queue.contains("Rosa Diaz") && queue.contains("$1,000.00") && queue.contains("due in"), "{queue}");
    b.submit("#queue tbody a").await;
    b.client.wait().for_element(Locator::Id("decide-form")).await.unwrap();
    b.client.find(Locator::Id("decision-approve")).await.unwrap().click().await.unwrap();
    b.client.find(Locator::Id("decision-note")).await.unwrap().send_keys("Match it.").await.unwrap();
    b.submit("#decide").await;
    b.client.wait().for_element(Locator::Css(".flash-success")).await.unwrap();
    assert_eq!(b.text("#status").await, "Approved");
    assert!(b.text("#history").await.contains("Decision: approve"));
    b.close().await;

    let status: String = sqlx::query_scalar("SELECT status FROM escalations").fetch_one(app.db()).await.unwrap();
    assert_eq!(status, "approved");
}
