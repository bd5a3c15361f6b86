//! In Chromium (issue 20): an LO locks a loan, asks for an extension, the manager approves it, and the lock desk
//! shows the extension's cost. Every record is made through the product: the investor and its schedule by the
//! admin's API, the lead by the LO's API, everything else by clicking.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use fantoccini::Locator;
use loanfloor::auth::Role;
use uuid::Uuid;

async fn signed_in(b: &Browser) {
    for _ in 0..100 {
        if !b.client.current_url().await.unwrap().path().starts_with("/login") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sign-in did not complete");
}

async fn fill(b: &Browser, id: &str, text: &str) {
    let el = b.client.find(Locator::Id(id)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

#[tokio::test]
async fn lo_locks_asks_for_an_extension_manager_approves_and_the_desk_shows_its_cost() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    let res = app
        .api(&app.token_for(admin).await)
        .post(app.url("/api/v1/lock-investors"))
        .json(&serde_json::json!({
            "name": "Harbor Mortgage Capital", "relock_fee_bps": 12, "max_extension_days": 30,
            "schedule": [{"days": 7, "cost_bps": 5}, {"days": 15, "cost_bps": 12}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = app
        .api(&app.token_for(lo).await)
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({
            "first_name": "Rosa", "last_name": "Diaz", "email": "rosa.diaz@example.com", "loan_amount": "412500",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();

    // Ann locks the loan from the lead page.
    let b = Browser::start().await;
    b.sign_in(&app.url(""), "ann.lo@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url(&format!("/leads/{lead}"))).await.unwrap();
    b.follow("Lock this loan").await;
    b.client.find(Locator::Css("#investor_id option:nth-child(2)")).await.unwrap().click().await.unwrap();
    fill(&b, "product", "30-year fixed conventional").await;
    fill(&b, "rate", "6.875").await;
    // A mistake comes back with what was typed.
    fill(&b, "price_bps", "a quarter").await;
    b.submit("#lock-form button[type=submit]").await;
    assert!(b.text("#lock-form").await.contains("Enter whole basis points"));
    assert_eq!(b.client.find(Locator::Id("rate")).await.unwrap().prop("value").await.unwrap().unwrap(), "6.875");
    fill(&b, "price_bps", "25").await;
    b.submit("#lock-form button[type=submit]").await;
    assert_eq!(b.text("#lock-status").await, "locked");
    let first_last_day = b.text("#lock-last-day").await;
    assert!(b.text("#lock-price").await.contains("$1,031.25"), "25 bps of $412,500");

    // She asks for a 15-day extension: 12 bps of $412,500 is $495.00.
    b.submit("#request-extension").await;
    b.client.find(Locator::Css("#kind option[value=lock_extension]")).await.unwrap().click().await.unwrap();
    b.client.find(Locator::Css("#extension_days option[value='15']")).await.unwrap().click().await.unwrap();
    fill(&b, "note", "Appraisal came in late; closing moves a week.").await;
    b.submit("#escalation-form button[type=submit]").await;
    assert_eq!(b.text("#status").await, "Requested");
    assert_eq!(b.text("#extension").await, "15 days · 12 bps · $495.00");
    b.close().await;

    // Mona approves it; the approval is the extension.
    let b = Browser::start().await;
    b.sign_in(&app.url(""), "mona.manager@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url("/escalations")).await.unwrap();
    b.submit("#queue tbody a").await;
    b.client.wait().for_element(Locator::Id("decide-form")).await.unwrap();
    b.client.find(Locator::Id("decision-approve")).await.unwrap().click().await.unwrap();
    b.submit("#decide").await;
    assert_eq!(b.text("#status").await, "Approved");
    b.submit("#lock-link").await;
    let extended_last_day = b.text("#lock-last-day").await;
    assert_ne!(extended_last_day, first_last_day);
    let history = b.text("#lock-history").await;
    assert!(history.contains("Extended") && history.contains("12 bps · $495.00"), "{history}");

    // The lock desk shows the cost against Ann, her team and this month, and the lock on the board.
    b.client.goto(&app.url("/locks/desk?days=60")).await.unwrap();
    let by_lo = b.text("#cost-by-lo").await;
    assert!(by_lo.contains("$495.00"), "{by_lo}");
    assert!(b.text("#cost-by-team").await.contains("North"));
    assert!(b.text("#expiring").await.contains("Rosa Diaz"));
    // The cost opens the loan it was spent on.
    b.client.find(Locator::Css("#cost-by-lo tbody a")).await.unwrap().click().await.unwrap();
    b.client.wait().for_element(Locator::Id("locks")).await.unwrap();
    let list = b.text("#locks").await;
    assert!(list.contains("Rosa Diaz") && list.contains("$495.00"), "{list}");
    b.close().await;
}
