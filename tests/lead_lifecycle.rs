//! One lead lifecycle: a stage change leaves the same traces whichever path made it — the API, the cadence's
//! move to nurture, the LOS status import, a merge: a `stage_changes` row, the one audit action `lead.stage_changed`,
//! and the `lead.stage_changed` webhook event (plus `lead.funded` for funding).

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// The traces a stage change left for one lead: (history origin, audit action, webhook event) per move to `to`.
async fn traces(app: &TestApp, lead: Uuid, to: &str) -> (i64, Vec<String>, Vec<String>) {
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM stage_changes WHERE lead_id = $1 AND to_stage = $2")
        .bind(lead)
        .bind(to)
        .fetch_one(app.db())
        .await
        .unwrap();
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity = 'lead' AND entity_id = $1 AND after->>'stage' = $2 ORDER BY id",
    )
    .bind(lead.to_string())
    .bind(to)
    .fetch_all(app.db())
    .await
    .unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event FROM webhook_deliveries WHERE payload->>'lead_id' = $1 AND payload->>'to' = $2
         ORDER BY event",
    )
    .bind(lead.to_string())
    .bind(to)
    .fetch_all(app.db())
    .await
    .unwrap();
    (history, audit, events)
}

#[tokio::test]
async fn every_path_of_a_stage_change_leaves_the_same_traces() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let res = admin
        .post(app.url("/admin/webhooks"))
        .form(&[
            ("url", "http://127.0.0.1:9/hook"),
            ("events", "lead.stage_changed"),
            ("events", "lead.funded"),
            ("allowed_host", "127.0.0.1"),
            ("plain_http_host", "127.0.0.1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.add_texas_rule(&admin, "600").await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", None, &["TX"]).await;
    // The LO works around the clock (set by the admin on the LO's page), so routing never waits for a shift.
    app.set_lo_profile(&admin, lo, &[("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")])
        .await;

    // 1. The API: the LO moves their lead to contacted.
    let lo_api = app.api(&app.token_for(lo).await);
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": "Api", "email": "pat@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let by_api: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let res = lo_api
        .post(app.url(&format!("/api/v1/leads/{by_api}/stage")))
        .json(&json!({"stage": "contacted", "version": created["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // 2. The cadence: a vendor lead routed to the LO and never reached goes to nurture when the schedule ends.
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Opal", "last_name": "Cadence", "phone": "512-555-0101", "source": "direct",
                      "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let by_cadence: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.state.clock.advance(Duration::minutes(31));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    for _ in 0..15 {
        app.state.clock.advance(Duration::days(1));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }

    // 3. The LOS status import funds the API lead (given its loan number through the API).
    let current: Value =
        lo_api.get(app.url(&format!("/api/v1/leads/{by_api}"))).send().await.unwrap().json().await.unwrap();
    let res = lo_api
        .patch(app.url(&format!("/api/v1/leads/{by_api}")))
        .json(&json!({"loan_number": "LN-7", "version": current["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let los_feed = app.api(&app.token_for(vendor).await);
    let body = json!({ "loan_number": "LN-7", "status": "funded", "at": "2026-11-20T15:00:00Z" });
    let res = los_feed.post(app.url("/api/v1/los/status")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // 4. A merge: the admin merges the LO's second entry of a borrower into the first; the duplicate is lost.
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": "Api", "email": "pat.again@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let duplicate: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // (Signed in again: a fortnight has passed on the clock since the morning's sign-in.)
    let res = app
        .login("admin@branch.test")
        .await
        .post(app.url(&format!("/leads/{by_api}/merge")))
        .form(&[("other", duplicate.to_string()), ("other_id", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], format!("/leads/{by_api}"), "merged");

    let one = |audit: &str, event: &str| (1i64, vec![audit.to_string()], vec![event.to_string()]);
    assert_eq!(traces(&app, duplicate, "lost").await, one("lead.stage_changed", "lead.stage_changed"), "a merge");
    assert_eq!(traces(&app, by_api, "contacted").await, one("lead.stage_changed", "lead.stage_changed"), "API");
    assert_eq!(
        traces(&app, by_cadence, "nurture").await,
        one("lead.stage_changed", "lead.stage_changed"),
        "the cadence's move to nurture"
    );
    let funded =
        (1i64, vec!["lead.stage_changed".to_string()], vec!["lead.funded".into(), "lead.stage_changed".into()]);
    assert_eq!(traces(&app, by_api, "funded").await, funded, "the LOS status import, funding");
    let loans: i64 = sqlx::query_scalar("SELECT count(*) FROM portfolio_loans WHERE lead_id = $1")
        .bind(by_api)
        .fetch_one(app.db())
        .await
        .unwrap_or(-1);
    assert_eq!(loans, 1, "a funded lead becomes a portfolio loan");
}

/// Assignments leave the same traces whichever path made them — routing a new lead, a manager's reassignment
/// through the API, offboarding's hand-over: one `assignments` row, the one audit action `lead.assign` and
/// one `lead.assigned` outbox row each.
#[tokio::test]
async fn every_path_of_an_assignment_leaves_the_same_traces() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let always = [("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")];
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    app.set_lo_profile(&admin, ann, &always).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let res = app
        .api(&app.token_for(vendor).await)
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ray", "last_name": "Routed", "phone": "512-555-0111", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // A second LO joins; the admin reassigns the lead to her, then she leaves and the lead goes back to Ann.
    let bea = app.create_user(Role::Lo, "bea@branch.test", Some("Dallas"), &["TX"]).await;
    app.set_lo_profile(&admin, bea, &always).await;
    let admin_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@branch.test'").fetch_one(app.db()).await.unwrap();
    let res = app
        .api(&app.token_for(admin_id).await)
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&json!({"lo_id": bea, "reason": "Bea speaks Spanish"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = admin
        .post(app.url(&format!("/admin/users/{bea}/deactivate")))
        .form(&[("hand_over", "lo"), ("to_lo", &ann.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let count = |sql: &'static str| {
        let db = app.db().clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(lead).fetch_one(&db).await.unwrap() }
    };
    let history = count("SELECT count(*) FROM assignments WHERE lead_id = $1").await;
    let audit = count("SELECT count(*) FROM audit_log WHERE action = 'lead.assign' AND entity_id = $1::text").await;
    let outbox = count("SELECT count(*) FROM domain_events WHERE kind = 'lead.assigned' AND lead_id = $1").await;
    assert_eq!((history, audit, outbox), (3, 3, 3), "routing, the reassignment and the hand-over, one of each");
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT assigned_lo_id FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(owner, Some(ann));
}
