//! A living demo branch (issue 25): the demo organisation's first morning has nothing that is zero only for
//! want of data. A year of leads reaches funded in the last 30 days, sources show a cost per funded loan, LOs
//! have costs, pricing exceptions wait and were decided, loss-mitigation cases have clocks running out this
//! week, past clients have refinance opportunities; every page in each demo role's navigation opens.

mod common;

use common::TestApp;
use loanfloor::demo::{DEMO_PASSWORD, DEMO_USERS};
use serde_json::Value;

async fn sign_in(app: &TestApp, email: &str) -> reqwest::Client {
    let c = app.client();
    let res = c.post(app.url("/login")).form(&[("email", email), ("password", DEMO_PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 303, "{email} signs in");
    c
}

#[tokio::test]
async fn the_demo_branch_is_alive_on_its_first_morning() {
    let app = TestApp::spawn().await;
    let started = std::time::Instant::now();
    loanfloor::demo::ensure(&app.state).await.unwrap().expect("the demo organisation is created");
    eprintln!("demo created in {:.1} s", started.elapsed().as_secs_f64());

    // The Dallas manager's dashboard over the last 30 days.
    let manager = loanfloor::auth::store::find_user_by_email(app.db(), "manager@demo.loanfloor.test")
        .await
        .unwrap()
        .unwrap()
        .into_current(false);
    let d = loanfloor::metrics::dashboard::dashboard(&app.state, &manager, &Default::default()).await.unwrap();
    let funded = d.funnel.iter().find(|s| s.stage == "funded").map(|s| s.reached).unwrap_or(0);
    assert!(funded > 0, "leads of the last 30 days reached funded: {funded}");
    assert!(d.funnel.iter().all(|s| s.reached > 0), "every funnel stage has leads");
    assert!(
        d.roi.iter().any(|r| r.roi.cost_per_funded_cents.is_some_and(|c| c > 0)),
        "a source shows its cost per funded loan"
    );
    assert!(
        d.capacity.iter().all(|c| c.cost != "$0"),
        "every LO has a cost: {:?}",
        d.capacity.iter().map(|c| &c.cost).collect::<Vec<_>>()
    );
    let by_status: Vec<(String, i32, String)> =
        sqlx::query_as("SELECT status, concession_bps, required_level FROM escalations ORDER BY created_at")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert!(d.escalations_waiting > 0, "a pricing exception waits for the manager: {by_status:?}");
    let decided: i64 = sqlx::query_scalar("SELECT count(*) FROM escalations WHERE status IN ('approved', 'denied')")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(decided > 0, "and some were decided");

    // The lock desk: live locks at late stages, two of them lapsing within the week, one extended.
    let admin = sign_in(&app, "admin@demo.loanfloor.test").await;
    let locks: Value = admin.get(app.url("/api/v1/locks?status=locked")).send().await.unwrap().json().await.unwrap();
    let locks = locks["locks"].as_array().unwrap();
    assert!(locks.len() >= 4, "live locks: {}", locks.len());
    assert!(locks.iter().any(|l| l["extended_days"].as_i64() > Some(0)), "one was extended");
    let soon: Value =
        admin.get(app.url("/api/v1/locks?expiring_within_days=7")).send().await.unwrap().json().await.unwrap();
    assert!(soon["locks"].as_array().unwrap().len() >= 2, "two lapse within the week: {soon}");

    // Loss mitigation: a clock runs out this week.
    let supervisor = sign_in(&app, "lossmit.lead@demo.loanfloor.test").await;
    let case: uuid::Uuid = sqlx::query_scalar("SELECT id FROM lossmit_cases WHERE loan_number = 'LM-DEMO-1001'")
        .fetch_one(app.db())
        .await
        .unwrap();
    let shown: Value =
        supervisor.get(app.url(&format!("/api/v1/lossmit/cases/{case}"))).send().await.unwrap().json().await.unwrap();
    let today = app.state.today();
    let due_this_week = shown["deadlines"].as_array().unwrap().iter().any(|d| {
        d["status"] == "due"
            && d["due_on"]
                .as_str()
                .and_then(|s| s.parse::<chrono::NaiveDate>().ok())
                .is_some_and(|on| on <= today + chrono::Duration::days(7))
    });
    assert!(due_this_week, "a deadline falls due this week: {shown}");

    // One case's history holds a dual-tracking refusal: a first filing refused while its complete application
    // is evaluated, audited.
    let refused: Vec<Value> =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'lossmit.foreclosure_step.refused'")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].to_string().contains("dual tracking"), "{}", refused[0]);

    // The audit log has a week of the LOs' work, day by day.
    let days: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT created_at::date) FROM audit_log
         WHERE action = 'lead.stage_changed' AND created_at >= now() - interval '7 days'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(days >= 5, "a week of activity in the audit log: {days} days");

    // Past clients worth a call.
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM opportunities WHERE status = 'open'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(open > 0, "the rate watch found refinance opportunities");

    // Every page in each role's navigation opens.
    for (email, ..) in DEMO_USERS {
        let c = sign_in(&app, email).await;
        let home = c.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
        let nav = home.split("<nav aria-label=\"Main\">").nth(1).and_then(|n| n.split("</nav>").next()).unwrap_or("");
        for href in nav.split("href=\"").skip(1).filter_map(|h| h.split('"').next()) {
            let res = c.get(app.url(href)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{href} as {email}");
        }
    }
}
