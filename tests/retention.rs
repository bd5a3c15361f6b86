//! Retention rules and legal holds (issue 24): the admin's page shows each rule with its source, refuses a
//! period its source does not allow (422, the input kept) and a stale edit (409); a hold is placed and released
//! with a reason, both audited, and only an admin reaches any of it. What is due follows the rules.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::json;
use uuid::Uuid;

async fn version_of(app: &TestApp, kind: &str) -> i32 {
    sqlx::query_scalar("SELECT version FROM retention_rules WHERE kind = $1")
        .bind(kind)
        .fetch_one(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn rules_are_shown_with_their_sources_and_kept_within_them() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let page = admin.get(app.url("/admin/retention")).send().await.unwrap().text().await.unwrap();
    for source in ["16 CFR 314.4(c)(6)", "12 CFR 1002.12(b)(1)", "12 CFR 1024.38(c)(1)"] {
        assert!(page.contains(source), "the page names {source}");
    }

    // Regulation B: an application is kept at least 25 months; the input is kept on the 422 page.
    let v = version_of(&app, "application").await;
    let res = admin
        .post(app.url("/admin/retention/rules"))
        .form(&[("kind", "application"), ("months", "13"), ("version", &v.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("from 25 to 120"), "the message says the bounds");
    assert!(body.contains("value=\"13\""), "the typed value is kept");
    let months: i32 = sqlx::query_scalar("SELECT months FROM retention_rules WHERE kind = 'application'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(months, 25, "nothing saved");

    // A valid change is saved and audited; the same form sent again (its version now stale) is a 409.
    let form = [("kind", "application"), ("months", "36"), ("version", &v.to_string())];
    let res = admin.post(app.url("/admin/retention/rules")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = admin.post(app.url("/admin/retention/rules")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 409, "a stale version is refused, not overwritten");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'retention_rule.updated' AND entity_id = 'application'
            AND after = '{\"months\": 36}'::jsonb",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Only an admin: a manager is refused the page and the form.
    let (_, manager) = app.login_as(Role::Manager, "mgr@branch.test", Some("North"), &[]).await;
    assert_eq!(manager.get(app.url("/admin/retention")).send().await.unwrap().status(), 403);
    let v = version_of(&app, "lead").await.to_string();
    let res = manager
        .post(app.url("/admin/retention/rules"))
        .form(&[("kind", "lead"), ("months", "1"), ("version", v.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(version_of(&app, "lead").await.to_string(), v, "the manager changed nothing");
}

async fn lead(app: &TestApp, feed: &reqwest::Client, first: &str, phone: &str) -> Uuid {
    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": first, "last_name": "Holdsworth", "phone": phone,
                      "email": format!("{}@holds.test", first.to_lowercase()), "source": "direct", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_legal_hold_keeps_a_record_until_it_is_released() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let held = lead(&app, &feed, "Harriet", "512-555-0101").await;
    let free = lead(&app, &feed, "Florence", "512-555-0102").await;
    let later = app.state.clock.now() + Duration::days(365 * 3);

    let due = loanfloor::retention::dispose::find_due(app.db(), later, app.state.config.timezone).await.unwrap();
    assert!(due.leads.contains(&held) && due.leads.contains(&free), "both are past two years then");
    let now = loanfloor::retention::dispose::find_due(app.db(), app.state.clock.now(), app.state.config.timezone)
        .await
        .unwrap();
    assert!(!now.leads.contains(&held) && !now.leads.contains(&free), "neither is due today");

    // A hold needs a reason and a record that exists; both answers keep the input.
    let res = admin
        .post(app.url("/admin/retention/holds"))
        .form(&[("record", "lead"), ("reference", &held.to_string()), ("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = admin
        .post(app.url("/admin/retention/holds"))
        .form(&[("record", "lead"), ("reference", &Uuid::new_v4().to_string()), ("reason", "CFPB complaint 42")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("CFPB complaint 42"), "the reason typed is kept");

    let lead_page = admin.get(app.url(&format!("/leads/{held}"))).send().await.unwrap().text().await.unwrap();
    assert!(lead_page.contains("Place a legal hold"), "an admin places a hold from the lead page too");
    let held_id = held.to_string();
    let hold = [("record", "lead"), ("reference", held_id.as_str()), ("reason", "Litigation hold, matter 2026-17")];
    let res = admin.post(app.url("/admin/retention/holds")).form(&hold).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = admin.post(app.url("/admin/retention/holds")).form(&hold).send().await.unwrap();
    assert_eq!(res.status(), 409, "one active hold per record");
    let page = admin.get(app.url("/admin/retention")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Litigation hold, matter 2026-17") && page.contains("Harriet Holdsworth"));
    let lead_page = admin.get(app.url(&format!("/leads/{held}"))).send().await.unwrap().text().await.unwrap();
    assert!(lead_page.contains("On legal hold") && lead_page.contains("Litigation hold, matter 2026-17"));
    assert!(lead_page.contains("Release the hold"));

    let report = loanfloor::retention::dispose::apply(&app.state, later).await.unwrap();
    assert!(report.leads >= 1, "the free lead is disposed");
    let first: String =
        sqlx::query_scalar("SELECT first_name FROM leads WHERE id = $1").bind(held).fetch_one(app.db()).await.unwrap();
    assert_eq!(first, "Harriet", "the held lead is untouched");
    let first: String =
        sqlx::query_scalar("SELECT first_name FROM leads WHERE id = $1").bind(free).fetch_one(app.db()).await.unwrap();
    assert_eq!(first, loanfloor::retention::dispose::MARKER);

    // Released with a reason (audited); the next run disposes of it.
    let hold_id: Uuid = sqlx::query_scalar("SELECT id FROM legal_holds WHERE lead_id = $1 AND released_at IS NULL")
        .bind(held)
        .fetch_one(app.db())
        .await
        .unwrap();
    let (_, manager) = app.login_as(Role::Manager, "mgr@branch.test", Some("North"), &[]).await;
    let release = [("id", hold_id.to_string()), ("reason", "Matter settled".to_string())];
    let res = manager.post(app.url("/admin/retention/holds/release")).form(&release).send().await.unwrap();
    assert_eq!(res.status(), 403, "only an admin releases a hold");
    let res = admin.post(app.url("/admin/retention/holds/release")).form(&release).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity = 'legal_hold' AND entity_id = $1 ORDER BY id")
            .bind(hold_id.to_string())
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(actions, ["legal_hold.placed", "legal_hold.released"]);
    loanfloor::retention::dispose::apply(&app.state, later).await.unwrap();
    let first: String =
        sqlx::query_scalar("SELECT first_name FROM leads WHERE id = $1").bind(held).fetch_one(app.db()).await.unwrap();
    assert_eq!(first, loanfloor::retention::dispose::MARKER, "disposed once released");
    let lead_page = admin.get(app.url(&format!("/leads/{held}"))).send().await.unwrap().text().await.unwrap();
    assert!(lead_page.contains("personal data was disposed of on"), "the lead page says so");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'retention.disposed'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(runs >= 2, "each batch wrote its audit entry");
}
