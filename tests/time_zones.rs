//! A person's own time zone (issue 25): chosen on the account page, used by every page and form they read or
//! type a time in, while the organisation's zone stays the default and the API stays RFC 3339 in UTC.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use uuid::Uuid;

async fn own_zone(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("SELECT display_timezone FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_lo_in_california_reads_and_types_times_in_pacific_time() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "cal.lo@example.com", Some("West"), &["CA"]).await;
    let (_, teammate) = app.login_as(Role::Lo, "tex.lo@example.com", Some("West"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Ana", "last_name": "Reyes", "phone": "512-555-0142"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();

    // The account page offers the organisation's zone (the default) and the US zones by name.
    let page = client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The organisation&#x27;s time zone (America/Chicago)") || page.contains("(America/Chicago)"));
    assert!(page.contains("Pacific (Los Angeles)"), "{page}");
    // A zone that is not offered is refused and nothing changes.
    let res = client.post(app.url("/account/time-zone")).form(&[("timezone", "Mars/Olympus")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(own_zone(&app, "cal.lo@example.com").await, None);

    let res =
        client.post(app.url("/account/time-zone")).form(&[("timezone", "America/Los_Angeles")]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(own_zone(&app, "cal.lo@example.com").await.as_deref(), Some("America/Los_Angeles"));
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'time_zone_changed'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 1);

    // The callback she types is her wall clock: 9:00 in Los Angeles in January is 17:00 UTC.
    let res = client
        .post(app.url(&format!("/leads/{id}/calls")))
        .form(&[("outcome", "contacted"), ("talk_time", "3:00"), ("callback_at", "2030-01-02T09:00"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let due: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT due_at FROM tasks WHERE lead_id = $1").bind(id).fetch_one(app.db()).await.unwrap();
    assert_eq!(due.to_rfc3339(), "2030-01-02T17:00:00+00:00");
    // Her pages say so: the form's label names her zone, and the callback reads 09:00 PST.
    let page = client.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Next callback (America/Los_Angeles time)"), "{page}");
    assert!(page.contains("2030-01-02 09:00 PST"), "{page}");
    // Her teammate cannot open her lead, and keeps the organisation's zone, having chosen nothing.
    let res = teammate.get(app.url(&format!("/leads/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "an LO sees only their own leads");
    let tasks = client.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    assert!(tasks.contains("09:00 PST"), "{tasks}");
    let tex = teammate.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(tex.contains("<option value=\"\" selected>"), "the teammate keeps the organisation's zone");
    // The API answers in UTC whatever the person chose.
    let shown: serde_json::Value =
        api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
    let created_at = shown["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z') || created_at.ends_with("+00:00"), "{created_at}");

    // Her download reads the same way, the zone named in the column; the API's CSV stays UTC.
    let csv = client.get(app.url("/leads/export.csv")).send().await.unwrap().text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",created_at (America/Los_Angeles)"), "{csv}");
    let created = lines.next().unwrap().rsplit(',').next().unwrap().to_string();
    assert!(created.ends_with(" PST") || created.ends_with(" PDT"), "{csv}");
    let csv = api.get(app.url("/api/v1/leads.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",created_at"), "{csv}");
    let created = csv.lines().nth(1).unwrap().rsplit(',').next().unwrap().to_string();
    assert!(created.ends_with("+00:00"), "{csv}");

    // Back to the organisation's zone: the same callback reads 11:00 CST.
    let res = client.post(app.url("/account/time-zone")).form(&[("timezone", "")]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(own_zone(&app, "cal.lo@example.com").await, None);
    let page = client.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("2030-01-02 11:00 CST"), "{page}");
}

/// The concession reports count days and months in the organisation's zone: a request filed at 8 pm in
/// Chicago on the last day of a month (2 am UTC on the first of the next) is that month's, inside a range
/// ending that day; a date the report cannot read is a 422 naming it.
#[tokio::test]
async fn concession_reports_count_the_organisations_days_and_months() {
    use chrono::{Datelike, TimeZone};
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "ann@tz.test", Some("North"), &["TX"]).await;
    let lo_api = app.api(&app.token_for(lo).await);
    app.create_user(Role::Admin, "admin@tz.test", None, &[]).await;
    // The last day of this month, 20:00 in the organisation's zone.
    let tz = app.state.config.timezone;
    let today = app.state.today();
    let first_next = (today.with_day(1).unwrap() + chrono::Months::new(1)).and_hms_opt(0, 0, 0).unwrap();
    let last_day = first_next.date() - chrono::Duration::days(1);
    let evening = tz.from_local_datetime(&last_day.and_hms_opt(20, 0, 0).unwrap()).unwrap().with_timezone(&chrono::Utc);
    app.state.clock.advance(evening - app.state.clock.now());
    assert_ne!(app.state.clock.now().month(), last_day.month(), "in UTC it is already the next month");

    let body = serde_json::json!({"first_name": "Eve", "last_name": "Ning", "phone": "512-555-0777", "property_state": "TX",
                                   "loan_amount": "400000"});
    let lead: serde_json::Value =
        lo_api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap().json().await.unwrap();
    let res = lo_api
        .post(app.url("/api/v1/escalations"))
        .json(&serde_json::json!({"lead_id": lead["id"], "kind": "pricing_exception", "standard_rate": 6.875,
                                  "requested_rate": 6.625, "concession_bps": 25, "reason": "competitor_match",
                                  "note": "Matched a quote"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let month = last_day.format("%Y-%m").to_string();
    let range = format!("from={}&to={last_day}", last_day.with_day(1).unwrap());
    let admin = app.login("admin@tz.test").await;
    let csv = admin
        .get(app.url(&format!("/escalations/reports.csv?table=month&{range}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = csv.lines().find(|l| l.starts_with(&month)).unwrap_or_else(|| panic!("{month} in {csv}"));
    assert_eq!(row.split(',').nth(1), Some("1"), "one request that month: {csv}");
    for bad in ["from=2026-13-01", "to=yesterday"] {
        let res = admin.get(app.url(&format!("/escalations/reports?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
    }
}
