//! Made for people (issue 25, in part): the LO's screens speak the organisation's time zone and show phones
//! in national format with `tel:` links and names instead of keys.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::json;

#[tokio::test]
async fn the_lo_reads_local_times_national_phones_and_names_not_keys() {
    let app = TestApp::spawn().await; // the organisation runs on America/Chicago (the default)
    let (lo, client) = app.login_as(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ana", "last_name": "Reyes", "phone": "512-555-0142", "source": "direct"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let page = client.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(r#"<a href="tel:+15125550142">(512) 555-0142</a>"#),
        "national format, E.164 link: {}",
        &page[page.find("Phone").unwrap_or(0)..][..300]
    );
    assert!(!page.contains(" UTC"), "no time on the lead page is shown in UTC");
    assert!(page.contains(" CST") || page.contains(" CDT"), "times carry the organisation's zone");
    assert!(page.contains("Next callback (America/Chicago time)"));
    let day = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    assert!(day.contains("(512) 555-0142") && day.contains("Direct / website"), "names, not keys: {day}");
    assert!(!day.contains(">direct<"));
    assert!(day.contains("<svg class=\"icon\""), "the bell is an inline SVG, not an emoji glyph");

    // A callback typed at 09:00 on the form is 09:00 in Chicago: 15:00 UTC in January.
    let version: i32 = sqlx::query_scalar("SELECT version FROM leads WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(app.db())
        .await
        .unwrap();
    let res = client
        .post(app.url(&format!("/leads/{id}/calls")))
        .form(&[
            ("outcome", "no_answer"),
            ("talk_time", "0"),
            ("callback_at", "2027-01-15T09:00"),
            ("version", &version.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.text().await.unwrap());
    let due: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT due_at FROM tasks WHERE lead_id = $1::uuid ORDER BY id DESC LIMIT 1")
            .bind(&id)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(due.to_rfc3339(), "2027-01-15T15:00:00+00:00");
}
