//! The LO's main path in a real browser: call queue → lead → log a call → move to application → the manager
//! sees it.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use serde_json::json;

/// Polls until the element exists and contains `needle` (the page after a form post has loaded).
async fn wait_for_text(b: &Browser, css: &str, needle: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(el) = b.client.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if t.contains(needle) {
                    return;
                }
                last = t;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?} (last: {last:?})");
}

#[tokio::test]
async fn an_lo_works_a_lead_from_the_call_queue_and_the_manager_sees_it_in_application() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mgr.north@example.com", Some("North"), &[]).await;
    let api = app.api(&app.token_for(lo).await);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ana", "last_name": "Reyes", "phone": "512-555-0142", "loan_purpose": "purchase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let b = Browser::start().await;
    let base = app.url("");
    b.sign_in(&base, "lo.one@example.com", PASSWORD).await;
    b.client.wait().for_element(Locator::Css("table.call-queue")).await.unwrap();
    assert_eq!(b.client.current_url().await.unwrap().path(), "/my-day");
    assert!(b.text("table.call-queue tbody tr").await.contains("Ana Reyes"));
    b.submit("table.call-queue tbody a").await;
    b.client.wait().for_element(Locator::Id("log-call-submit")).await.unwrap();
    assert_eq!(b.client.current_url().await.unwrap().path(), format!("/leads/{id}"));

    b.client.find(Locator::Css("#outcome option[value=contacted]")).await.unwrap().click().await.unwrap();
    b.client.find(Locator::Id("talk_time")).await.unwrap().send_keys("4:30").await.unwrap();
    b.submit("#log-call-submit").await;
    wait_for_text(&b, ".flash-success", "Call logged (4:30)").await;

    b.client.find(Locator::Css("#to-stage option[value=application]")).await.unwrap().click().await.unwrap();
    b.submit("#stage-submit").await;
    wait_for_text(&b, ".flash-success", "Moved to application").await;
    assert_eq!(b.text("#stage").await, "Application");
    assert!(b.text("#lead-timeline").await.contains("contacted"), "the call is on the timeline");

    b.client.delete_all_cookies().await.unwrap();
    b.sign_in(&base, "mgr.north@example.com", PASSWORD).await;
    for _ in 0..100 {
        if b.client.current_url().await.unwrap().path() != "/login" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.client.goto(&app.url("/leads?stage=application")).await.unwrap();
    let table = b.text("table.data").await;
    assert!(table.contains("Ana Reyes") && table.contains("Application"), "the stage by its name: {table}");
    b.client.goto(&app.url("/pipeline")).await.unwrap();
    assert!(b.text("#col-application").await.contains("1"));
    b.close().await;

    let rows: Vec<(i32, String)> = sqlx::query_as(
        "SELECT a.talk_seconds, l.stage FROM activities a JOIN leads l ON l.id = a.lead_id WHERE a.kind = 'call'",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(rows, vec![(270, "application".to_string())]);
}
