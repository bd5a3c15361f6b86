//! The bell updates without a reload (issue 19): an LO has a page open when a new lead is assigned to them,
//! and the count appears on that same page.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use serde_json::json;

#[tokio::test]
async fn the_bell_counts_a_new_lead_on_a_page_that_was_already_open() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    app.create_user(Role::Lo, "lo.bell@example.com", Some("North"), &["TX"]).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);

    let b = Browser::start().await;
    b.sign_in(&app.url(""), "lo.bell@example.com", PASSWORD).await;
    b.client.wait().for_element(Locator::Css("a.bell")).await.unwrap();
    assert!(b.client.find(Locator::Css("a.bell .badge")).await.is_err(), "nothing unread yet");
    // Mark the page, so a reload (which would lose the mark) cannot pass for an update.
    b.client.execute("window.__sameDocument = true", vec![]).await.unwrap();

    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Bella", "last_name": "Borrower", "phone": "512-555-0777", "source": "direct",
                      "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let mut shown = String::new();
    for _ in 0..150 {
        if let Ok(el) = b.client.find(Locator::Css("a.bell .badge")).await {
            shown = el.text().await.unwrap_or_default();
            if shown == "1" {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(shown, "1", "the bell shows the new notification within its refresh");
    let same = b.client.execute("return window.__sameDocument === true", vec![]).await.unwrap();
    assert_eq!(same, serde_json::Value::Bool(true), "without a reload");
    let label = b.client.find(Locator::Css("a.bell")).await.unwrap().attr("aria-label").await.unwrap();
    assert_eq!(label.as_deref(), Some("Notifications: 1 unread"));
    b.close().await;
}
