//! In Chromium (issue 21): an LO builds three loan options from the lead page, compares them side by side,
//! sends the borrower a link; the borrower opens it (no sign-in) and sees the options; the LO revokes it and
//! the link stops working. The lead comes from the LO's API; everything else is clicking and typing.

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

/// From the comparison page, adds an option named `name` at `rate` with `points`.
async fn add_option(b: &Browser, name: &str, rate: &str, points: &str) {
    b.follow("Add an option").await;
    fill(b, "name", name).await;
    fill(b, "property_value", "550000").await;
    fill(b, "rate", rate).await;
    fill(b, "points", points).await;
    fill(b, "cost_name_0", "Lender fees").await;
    fill(b, "cost_amount_0", "1200").await;
    b.client.find(Locator::Css("input[name=cost_pfc_0]")).await.unwrap().click().await.unwrap();
    b.submit("#option-form button[type=submit]").await;
    b.client.wait().for_element(Locator::Id("links-h")).await.unwrap();
}

#[tokio::test]
async fn lo_builds_three_options_the_borrower_opens_the_link_and_it_fails_after_revocation() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
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

    let b = Browser::start().await;
    b.sign_in(&app.url(""), "ann.lo@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url(&format!("/leads/{lead}"))).await.unwrap();
    b.follow("Compare options side by side").await;

    // A mistake comes back with what was typed.
    b.follow("Add an option").await;
    fill(&b, "name", "Typo").await;
    fill(&b, "property_value", "550000").await;
    fill(&b, "rate", "six").await;
    b.submit("#option-form button[type=submit]").await;
    assert!(b.text("#option-form").await.contains("Enter a percentage"));
    assert_eq!(b.client.find(Locator::Id("name")).await.unwrap().prop("value").await.unwrap().unwrap(), "Typo");
    b.client.goto(&app.url(&format!("/leads/{lead}/options"))).await.unwrap();

    add_option(&b, "30-year fixed, no points", "6.875", "0").await;
    add_option(&b, "30-year fixed, 1 point", "6.5", "1").await;
    add_option(&b, "30-year fixed, lender credit", "7.125", "-0.5").await;
    let table = b.text(".compare").await;
    for name in ["no points", "1 point", "lender credit", "APR", "Cash to close", "Break-even of points", "★"] {
        assert!(table.contains(name), "{name} in {table}");
    }

    // The comparison and the form pass axe-core (WCAG 2 A/AA) on a desktop and at phone size.
    for (width, height) in [(1280, 900), (390, 844)] {
        b.client.set_window_size(width, height).await.unwrap();
        for path in [format!("/leads/{lead}/options/new"), format!("/leads/{lead}/options")] {
            b.client.goto(&app.url(&path)).await.unwrap();
            let found = b.axe_violations().await;
            assert!(found.is_empty(), "{path} at {width}px: {found:?}");
        }
    }
    b.client.set_window_size(1280, 900).await.unwrap();

    // Ann sends the first two; the link is shown once.
    let boxes = b.client.find_all(Locator::Css("#link-form input[name=scenario_id]")).await.unwrap();
    boxes[2].click().await.unwrap();
    fill(&b, "days", "7").await;
    b.submit("#link-form button[type=submit]").await;
    let flash = b.text(".flash-success").await;
    let at = flash.find("/o/").unwrap_or_else(|| panic!("the link: {flash}"));
    let token: String = flash[at + 3..].chars().take_while(char::is_ascii_hexdigit).collect();

    b.close().await;

    // The borrower, not signed in, opens it in their own browser (one browser runs at a time here).
    let borrower = Browser::start().await;
    borrower.client.goto(&app.url(&format!("/o/{token}"))).await.unwrap();
    let page = borrower.text("main").await;
    assert!(page.contains("Prepared by"), "{page}");
    assert!(page.contains("30-year fixed, no points") && page.contains("30-year fixed, 1 point"), "{page}");
    assert!(!page.contains("30-year fixed, lender credit"), "only the options sent");
    assert!(!page.contains("Diaz"), "nothing else of the lead");
    borrower.client.set_window_size(390, 844).await.unwrap();
    let found = borrower.axe_violations().await;
    assert!(found.is_empty(), "the borrower's page on a phone: {found:?}");
    borrower.close().await;

    // Ann sees the view and revokes the link.
    let b = Browser::start().await;
    b.sign_in(&app.url(""), "ann.lo@example.com", PASSWORD).await;
    signed_in(&b).await;
    b.client.goto(&app.url(&format!("/leads/{lead}/options"))).await.unwrap();
    let links = b.text("#links table").await;
    assert!(links.contains("Revoke"), "{links}");
    b.submit("#links table form button[type=submit]").await;
    assert!(b.text(".flash-success").await.contains("revoked"));
    b.close().await;

    let borrower = Browser::start().await;
    borrower.client.goto(&app.url(&format!("/o/{token}"))).await.unwrap();
    assert!(borrower.text("#link-closed").await.contains("no longer active"));
    borrower.close().await;
}
