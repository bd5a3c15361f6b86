//! A manager opens the dashboard in a real browser: the funnel chart (SVG) with its table, drill-down links,
//! sorting the LO table through the URL.

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
    let team: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Downtown'").fetch_one(app.db()).await.unwrap();
    let today = chrono::Utc::now();
    for i in 0..3u128 {
        let id = uuid::Uuid::from_u128(0xb000 + i);
        sqlx::query(
            "INSERT INTO leads (id, pipeline_id, stage, source, team_id, assigned_lo_id, created_at, loan_amount_cents)
             VALUES ($1, '00000000-0000-0000-0000-000000000001', 'new', 'direct', $2, $3, $4, 20000000)",
        )
        .bind(id)
        .bind(team)
        .bind(lo)
        .bind(today - chrono::Duration::hours(2))
        .execute(app.db())
        .await
        .unwrap();
        sqlx::query("INSERT INTO assignments (lead_id, to_lo_id, to_team_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(lo)
            .bind(team)
            .bind(today - chrono::Duration::hours(2))
            .execute(app.db())
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO stage_changes (lead_id, to_stage, lo_id, created_at) VALUES ($1, 'contacted', $2, now())")
        .bind(uuid::Uuid::from_u128(0xb000))
        .bind(lo)
        .execute(app.db())
        .await
        .unwrap();

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
    assert!(b.text("#lo-table tbody").await.contains("ann lo"));
    b.follow("Assigned").await;
    let url = b.client.current_url().await.unwrap();
    assert!(url.query().unwrap_or("").contains("sort=assigned"), "sorting is in the URL: {url}");
    assert!(b.client.find(Locator::Css("svg.sparkline")).await.is_ok());
    b.close().await;
}
