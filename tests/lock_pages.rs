//! The lock pages (issue 20) over real HTTP: a mistake comes back with what was typed (422), a change made
//! meanwhile is a 409, an LO asks for extensions rather than granting them, another team's lock does not exist
//! for you, and the admin's investor page keeps a bad schedule's text with its message.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

async fn form(who: &reqwest::Client, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let res = who.post(app.url(path)).form(fields).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn lock_forms_keep_input_refuse_stale_changes_and_respect_roles_and_scope() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "ada@example.com", None, &[]).await;
    let ann = app.create_user(Role::Lo, "ann@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mona@example.com", Some("North"), &[]).await;
    app.create_user(Role::Lo, "cy@example.com", Some("South"), &["TX"]).await;
    let admin = app.login("ada@example.com").await;

    // The admin's investor page: a bad schedule comes back with its text and the message.
    let (status, html) =
        form(&admin, &app, "/admin/lock-investors", &[("name", "Harbor"), ("schedule", "15 days")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("value=\"15 days\"") && html.contains("write days:bps"), "{html}");
    let (status, _) =
        form(&admin, &app, "/admin/lock-investors", &[("name", "Harbor"), ("schedule", "7:5, 15:12")]).await;
    assert_eq!(status, 303);
    let page = admin.get(app.url("/admin/lock-investors")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("value=\"7:5, 15:12\""), "the schedule as saved");
    let investor: Value = admin.get(app.url("/api/v1/lock-investors")).send().await.unwrap().json().await.unwrap();
    let investor = investor.as_array().map(|a| a[0].clone()).unwrap_or_else(|| investor["investors"][0].clone());
    let investor = investor["id"].as_str().unwrap().to_string();
    let lo = app.login("ann@example.com").await;
    assert_eq!(lo.get(app.url("/admin/lock-investors")).send().await.unwrap().status(), 403);

    let res = app
        .api(&app.token_for(ann).await)
        .post(app.url("/api/v1/leads"))
        .json(
            &json!({"first_name": "Rosa", "last_name": "Diaz", "email": "rosa@borrower.test", "loan_amount": "412500"}),
        )
        .send()
        .await
        .unwrap();
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();

    // A lock form with a mistake: 422, the typed values kept, nothing locked.
    let new = format!("/leads/{lead}/locks/new");
    let mut fields = vec![
        ("investor_id", investor.as_str()),
        ("product", "30-year fixed"),
        ("rate", "6.875"),
        ("price_bps", "25"),
        ("loan_amount", "412,500"),
        ("period_days", "31"),
    ];
    let (status, html) = form(&lo, &app, &new, &fields).await;
    assert_eq!(status, 422);
    assert!(html.contains("Choose a lock period") && html.contains("value=\"6.875\""), "{html}");
    let ann_api = app.api(&app.token_for(ann).await);
    let locks = |ann_api: reqwest::Client| {
        let url = app.url(&format!("/api/v1/locks?lead_id={lead}"));
        async move {
            ann_api.get(url).send().await.unwrap().json::<Value>().await.unwrap()["locks"].as_array().unwrap().len()
        }
    };
    assert_eq!(locks(ann_api.clone()).await, 0, "nothing was locked");
    fields[5] = ("period_days", "30");
    let res = lo.post(app.url(&new)).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let lock_page = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(locks(ann_api.clone()).await, 1);
    // A second live lock is refused.
    assert_eq!(form(&lo, &app, &new, &fields).await.0, 409);

    // The LO sees the schedule priced for this loan and a way to ask, not a form that extends.
    let html = lo.get(app.url(&lock_page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("15 days: 12 bps = $495.00") && html.contains("Ask for an extension"), "{html}");
    assert!(!html.contains("id=\"extend-form\""));
    assert_eq!(form(&lo, &app, &format!("{lock_page}/extend"), &[("days", "15"), ("version", "1")]).await.0, 403);

    // The manager extends at version 1; the LO's float-down form, still showing version 1, is refused (409).
    let mona = app.login("mona@example.com").await;
    assert_eq!(form(&mona, &app, &format!("{lock_page}/extend"), &[("days", "15"), ("version", "1")]).await.0, 303);
    let (status, _) = form(
        &lo,
        &app,
        &format!("{lock_page}/float-down"),
        &[("market_rate", "6.25"), ("market_price_bps", "0"), ("version", "1")],
    )
    .await;
    assert_eq!(status, 409);
    // A cancellation needs a reason; with one it ends the lock, and then it can be relocked at the worst case.
    let (status, html) = form(&lo, &app, &format!("{lock_page}/cancel"), &[("version", "2")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("Say why the lock is cancelled"));
    assert_eq!(
        form(&lo, &app, &format!("{lock_page}/cancel"), &[("version", "2"), ("note", "moving investor")]).await.0,
        303
    );
    let res = lo
        .post(app.url(&format!("{lock_page}/relock")))
        .form(&[("version", "3"), ("today_price_bps", "10"), ("period_days", "15")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let relocked =
        lo.get(app.url(res.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    // The worse of 25 (original) and 10 (today), plus the investor's default relock fee of 25: 50 bps = $2,062.50.
    assert!(relocked.contains("50 bps, $2,062.50"), "{relocked}");

    // Another team's LO: the lock does not exist for them, read or write.
    let cy = app.login("cy@example.com").await;
    assert_eq!(cy.get(app.url(&lock_page)).send().await.unwrap().status(), 404);
    assert_eq!(form(&cy, &app, &format!("{lock_page}/cancel"), &[("note", "x")]).await.0, 404);
    assert_eq!(cy.get(app.url(&new)).send().await.unwrap().status(), 404);
}
