//! A manager opens the dashboard in a real browser: the funnel chart (SVG) with its table, a funnel figure followed
//! to exactly its leads and back, sorting the LO table through the URL.

mod common;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;
use loanfloor::auth::Role;

#[tokio::test]
async fn manager_sees_the_dashboard_with_the_funnel_chart() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Manager, "boss@example.com", Some("Downtown"), &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@example.com", Some("Downtown"), &["TX"]).await;
    // Ann enters three borrowers through the API (an LO's new leads are hers) and reaches the first.
    let ann = app.api(&app.token_for(lo).await);
    let mut leads = Vec::new();
    for (i, name) in ["Avery", "Blake", "Casey"].into_iter().enumerate() {
        let res = ann
            .post(app.url("/api/v1/leads"))
            .json(&serde_json::json!({
                "first_name": name, "last_name": "Funnel", "email": format!("b{i}@funnel.test"),
                "loan_amount": "200000", "source": "direct",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: serde_json::Value = res.json().await.unwrap();
        leads.push(created);
    }
    let res = ann
        .post(app.url(&format!("/api/v1/leads/{}/stage", leads[0]["id"].as_str().unwrap())))
        .json(&serde_json::json!({"stage": "contacted", "version": leads[0]["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let b = Browser::start().await;
    b.sign_in(&app.url(""), "boss@example.com", common::PASSWORD).await;
    b.client.goto(&app.url("/dashboard")).await.unwrap();
    assert!(b.text("h1").await.contains("Production dashboard"));
    let chart = b.client.find(Locator::Css("svg.funnel-chart")).await.expect("the funnel chart renders");
    assert!(chart.attr("role").await.unwrap().as_deref() == Some("img"));
    let rows = b.client.find_all(Locator::Css("#funnel-table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 8, "one table row per won-path stage");
    let first = b.text("#funnel-table tbody tr:nth-child(1) td.num a").await;
    assert_eq!(first, "3");
    let contacted = b.client.find(Locator::Css("#funnel-table tbody tr:nth-child(2) td.num a")).await.unwrap();
    assert_eq!(contacted.text().await.unwrap(), "1");
    let href = contacted.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("/leads?") && href.contains("stage=contacted"), "drill-down: {href}");
    // Follow the figure to the leads behind it: exactly the one reached, and back to the dashboard.
    b.submit("#funnel-table tbody tr:nth-child(2) td.num a").await;
    assert_eq!(b.text("#lead-total .num").await, "1", "the list's total is the figure");
    let list = b.text("main").await;
    assert!(list.contains("Avery Funnel") && !list.contains("Blake Funnel"), "{list}");
    b.client.back().await.unwrap();
    b.client.wait().for_element(Locator::Id("funnel-table")).await.unwrap();
    assert_eq!(b.text("#funnel-table tbody tr:nth-child(2) td.num a").await, "1");
    assert!(b.text("#lo-table tbody").await.contains("ann lo"));
    b.follow("Assigned").await;
    let url = b.client.current_url().await.unwrap();
    assert!(url.query().unwrap_or("").contains("sort=assigned"), "sorting is in the URL: {url}");
    assert!(b.client.find(Locator::Css("svg.sparkline")).await.is_ok());
    b.close().await;
}
