//! Consent enforced (issue 19, in part): a borrower who says "do not call" leaves the LO's call queue at once,
//! their open call tasks close, the contact cadence schedules no further attempt, and the lead page says why.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn do_not_call_takes_the_borrower_out_of_every_call_queue() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    // Leads arrive from a vendor and are routed to the LO, which starts their contact cadence.
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let mut ids = Vec::new();
    for (first, phone) in [("Opal", "512-555-0101"), ("Pearl", "512-555-0102")] {
        let res = feed
            .post(app.url("/api/v1/leads"))
            .json(&json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                          "property_state": "TX"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let day = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    assert!(day.contains("Opal") && day.contains("Pearl"), "both new leads are in the queue");

    // Opal asks not to be called again; the LO had set a callback on the first try.
    let res = client
        .post(app.url(&format!("/leads/{}/calls", ids[0])))
        .form(&[("outcome", "no_answer"), ("talk_time", "0"), ("callback_at", "2026-01-01T09:00")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let res = api
        .post(app.url(&format!("/api/v1/leads/{}/activities", ids[0])))
        .json(&json!({"kind": "call", "outcome": "do_not_call", "talk_seconds": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let day = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    assert!(!day.contains("Opal"), "an opted-out borrower is in no call queue: {day}");
    assert!(day.contains("Pearl"), "the other borrower stays");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND done_at IS NULL AND kind IN ('callback', 'cadence')",
    )
    .bind(&ids[0])
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(open, 0, "the opted-out borrower's call tasks closed");
    let page = client.get(app.url(&format!("/leads/{}", ids[0]))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Do not call: this borrower is not in any call queue"), "the lead page says why");

    // The cadence's next step, when it comes due, schedules nothing for Opal.
    for _ in 0..6 {
        app.state.clock.advance(chrono::Duration::hours(12));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND done_at IS NULL")
        .bind(&ids[0])
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(open, 0, "no new call attempt after the opt-out");
    let pearl_tasks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND kind = 'cadence'")
            .bind(&ids[1])
            .fetch_one(app.db())
            .await
            .unwrap();
    assert!(pearl_tasks >= 2, "the other borrower's cadence went on ({pearl_tasks} attempts)");
}
