//! In Chromium (issue 26): an LO raises an underwriting scenario, the manager forwards it to underwriting, an
//! underwriter answers it from the department's queue, and the LO reads the answer on the request's page —
//! without the manager's internal note.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use uuid::Uuid;

const INTERNAL_NOTE: &str = "Between us: DTI is 47%, look hard at the reserves";

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

/// The page passes axe-core (WCAG 2 A and AA), as every page does (tests/accessibility_browser.rs).
async fn accessible(b: &Browser, what: &str) {
    let found = b.axe_violations().await;
    assert!(found.is_empty(), "{what}: {}", found.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; "));
}

async fn browser_as(app: &TestApp, email: &str) -> Browser {
    let b = Browser::start().await;
    b.sign_in(&app.url(""), email, PASSWORD).await;
    signed_in(&b).await;
    b
}

#[tokio::test]
async fn an_underwriting_scenario_travels_lo_manager_underwriter_and_back_in_the_browser() {
    let app = TestApp::spawn().await;
    let lo_id = app.create_user(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    let underwriter = app.create_user(Role::Department, "uma.underwriter@example.com", None, &[]).await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    // The admin sets up underwriting with Uma as its member.
    let form = [
        ("kind", "underwriting".to_string()),
        ("name", "Underwriting".into()),
        ("time_zone", "America/Chicago".into()),
        ("opens", "08:00".into()),
        ("closes", "18:00".into()),
        ("day", "1".into()),
        ("day", "2".into()),
        ("day", "3".into()),
        ("day", "4".into()),
        ("day", "5".into()),
        ("member", underwriter.to_string()),
        ("sla_underwriting_scenario", "240".into()),
    ];
    assert_eq!(admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap().status(), 303);
    let res = app
        .api(&app.token_for(lo_id).await)
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Rosa", "last_name": "Diaz", "email": "rosa.diaz@example.com",
                                  "loan_amount": "400000", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();

    // Ann raises the scenario on the request form.
    let b = browser_as(&app, "ann.lo@example.com").await;
    b.client.goto(&app.url(&format!("/escalations/new?lead_id={lead}"))).await.unwrap();
    b.client.find(Locator::Css("#kind option[value=underwriting_scenario]")).await.unwrap().click().await.unwrap();
    b.client
        .find(Locator::Id("note"))
        .await
        .unwrap()
        .send_keys("Self-employed 14 months, one year of returns. Eligible?")
        .await
        .unwrap();
    b.submit("#escalation-form button[type=submit]").await;
    assert_eq!(b.text("#status").await, "Requested");
    let escalation = b.client.current_url().await.unwrap().path().trim_start_matches("/escalations/").to_string();
    b.close().await;

    // Mona opens it from her queue and forwards it to underwriting (preselected for this kind).
    let b = browser_as(&app, "mona.manager@example.com").await;
    b.client.goto(&app.url("/escalations")).await.unwrap();
    b.submit("#queue tbody a").await;
    b.client.wait().for_element(Locator::Id("forward-form")).await.unwrap();
    accessible(&b, "the request with its forward form").await;
    let chosen = b.text("#forward-department option:checked").await;
    assert_eq!(chosen, "Underwriting");
    b.client.find(Locator::Id("forward-note")).await.unwrap().send_keys(INTERNAL_NOTE).await.unwrap();
    b.submit("#forward").await;
    b.client.wait().for_element(Locator::Css(".flash-success")).await.unwrap();
    assert!(b.text("#department-status-1").await.contains("Forwarded to Underwriting"));
    accessible(&b, "the request with its hops").await;
    b.client.goto(&app.url("/departments")).await.unwrap();
    accessible(&b, "the manager's department figures").await;
    b.close().await;

    // Uma finds it in her department's queue and answers.
    let b = browser_as(&app, "uma.underwriter@example.com").await;
    b.client.goto(&app.url("/departments")).await.unwrap();
    b.follow("Underwriting queue").await;
    assert!(b.text("#queue").await.contains("Rosa Diaz"));
    accessible(&b, "the department's queue").await;
    b.submit("#queue tbody a").await;
    assert!(b.text("#question").await.contains("Self-employed 14 months"));
    assert!(b.text("#hops").await.contains(INTERNAL_NOTE), "the department reads the manager's note");
    accessible(&b, "the item with its answer form").await;
    b.client.find(Locator::Id("decision-eligible_with_conditions")).await.unwrap().click().await.unwrap();
    b.client
        .find(Locator::Id("answer"))
        .await
        .unwrap()
        .send_keys("Eligible with a CPA letter and two months of reserves.")
        .await
        .unwrap();
    b.submit("#send-answer").await;
    b.client.wait().for_element(Locator::Css(".flash-success")).await.unwrap();
    assert_eq!(b.text("#item-status").await, "Answered");
    // The request itself stays out of her reach.
    b.client.goto(&app.url(&format!("/escalations/{escalation}"))).await.unwrap();
    assert!(!b.client.source().await.unwrap().contains("Self-employed 14 months"));
    b.close().await;

    // Ann reads the answer on her request, not the internal note.
    let b = browser_as(&app, "ann.lo@example.com").await;
    b.client.goto(&app.url(&format!("/escalations/{escalation}"))).await.unwrap();
    assert_eq!(b.text("#department-status-1").await, "Answered by Underwriting: Eligible with conditions");
    assert_eq!(b.text("#department-answer-1").await, "Eligible with a CPA letter and two months of reserves.");
    assert!(!b.client.source().await.unwrap().contains(INTERNAL_NOTE));
    accessible(&b, "the request with its answer").await;
    b.close().await;
    // The admin's department page, with its members and response times.
    let b = browser_as(&app, "ada.admin@example.com").await;
    b.client.goto(&app.url("/admin/departments")).await.unwrap();
    b.follow("Underwriting").await;
    accessible(&b, "the department's admin page").await;
    b.close().await;
}

#[tokio::test]
async fn a_complaint_is_forwarded_with_its_regulatory_clock_and_acknowledged_in_the_browser() {
    let app = TestApp::spawn().await;
    let lo_id = app.create_user(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    let officer = app.create_user(Role::Department, "cora.compliance@example.com", None, &[]).await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let mut form = vec![
        ("kind", "compliance".to_string()),
        ("name", "Compliance".into()),
        ("time_zone", "America/Chicago".into()),
        ("opens", "00:00".into()),
        ("closes", "24:00".into()),
        ("member", officer.to_string()),
        ("sla_complaint", "43200".into()),
    ];
    form.extend((1..=7).map(|d| ("day", d.to_string())));
    assert_eq!(admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap().status(), 303);
    let api = app.api(&app.token_for(lo_id).await);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Rosa", "last_name": "Diaz", "email": "rosa.diaz@example.com",
                                  "loan_amount": "400000", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    let lead: Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let res = api
        .post(app.url("/api/v1/escalations"))
        .json(&serde_json::json!({"lead_id": lead, "kind": "complaint", "note": "Says the escrow shortage is wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let escalation = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    // Mona forwards it to compliance as a notice of error received 2026-11-25.
    let b = browser_as(&app, "mona.manager@example.com").await;
    b.client.goto(&app.url(&format!("/escalations/{escalation}"))).await.unwrap();
    b.client.wait().for_element(Locator::Id("complaint-clock-fields")).await.unwrap();
    accessible(&b, "the forward form with the complaint's clock").await;
    b.client.find(Locator::Id("forward-note")).await.unwrap().send_keys("Escrow analysis disputed").await.unwrap();
    b.client.find(Locator::Css("#complaint-type option[value=notice_of_error]")).await.unwrap().click().await.unwrap();
    b.client.execute("document.getElementById('complaint-received').value = '2026-11-25';", vec![]).await.unwrap();
    b.submit("#forward").await;
    b.client.wait().for_element(Locator::Css(".flash-success")).await.unwrap();
    assert!(b.text("#department-status-1").await.contains("Forwarded to Compliance"));
    b.close().await;

    // Cora reads the clock on the item and records the acknowledgment.
    let b = browser_as(&app, "cora.compliance@example.com").await;
    b.client.goto(&app.url("/departments")).await.unwrap();
    b.follow("Compliance queue").await;
    b.submit("#queue tbody a").await;
    assert!(b.text("#clock-type").await.starts_with("Notice of error"));
    assert!(b.text("#deadline-acknowledgment").await.contains("2026-12-03"));
    assert!(b.text("#deadline-response").await.contains("2027-01-11"));
    accessible(&b, "the item with its regulatory clock").await;
    b.client.find(Locator::Css("#clock-step option[value=acknowledged]")).await.unwrap().click().await.unwrap();
    b.client.execute("document.getElementById('clock-on').value = '2026-12-02';", vec![]).await.unwrap();
    b.submit("#record-step").await;
    b.client.wait().for_element(Locator::Css(".flash-success")).await.unwrap();
    let row = b.text("#deadline-acknowledgment").await;
    assert!(row.contains("2026-12-02") && row.contains("met"), "{row}");
    b.close().await;
}
