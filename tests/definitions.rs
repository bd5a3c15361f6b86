//! One definition per figure (issue 17): contact rate, conversion, talk time and the lead count of an LO are
//! the same number on the dashboard's API, the dashboard page's CSV and the coaching page, because coaching
//! reads them from metrics (through `escalations::wiring`) instead of defining its own.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn coaching_and_the_dashboard_give_an_lo_the_same_figures() {
    let app = TestApp::spawn().await;
    let (_, manager) = app.login_as(Role::Manager, "mia.mgr@example.com", Some("Dallas"), &[]).await;
    let ann = app.create_user(Role::Lo, "ann.lo@example.com", Some("Dallas"), &["TX"]).await;
    let api = app.api(&app.token_for(ann).await);
    // Four borrowers of Ann's: two reached (5 and 2 minutes), one not answering, one not called; the first
    // reaches application.
    let mut leads = Vec::new();
    for i in 0..4 {
        let res = api
            .post(app.url("/api/v1/leads"))
            .json(&json!({"first_name": "Def", "last_name": format!("Lead{i}"), "phone": format!("512-555-02{i:02}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        leads.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    for (lead, outcome, talk) in
        [(leads[0], "contacted", 300), (leads[1], "no_answer", 0), (leads[2], "contacted", 120)]
    {
        let res = api
            .post(app.url(&format!("/api/v1/leads/{lead}/activities")))
            .json(&json!({"kind": "call", "outcome": outcome, "talk_seconds": talk}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    app.move_stage(&api, leads[0], "contacted", None).await;
    app.move_stage(&api, leads[0], "prequalified", None).await;
    app.move_stage(&api, leads[0], "application", None).await;

    // The dashboard's figures for Ann over coaching's window (the 30 days up to today).
    let today = app.state.today();
    let (from, to) = (today - Duration::days(29), today + Duration::days(1));
    let speed: Value = manager
        .get(app.url(&format!("/api/v1/metrics/speed-to-lead?from={from}&to={to}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = speed["rows"].as_array().unwrap().iter().find(|r| r["key"] == ann.to_string()).unwrap().clone();
    assert_eq!((row["assigned"].as_i64(), row["called"].as_i64()), (Some(4), Some(3)), "{row}");
    assert_eq!(row["contact_rate_pct"].as_f64(), Some(50.0), "two of four reached: {row}");
    assert_eq!(row["application_rate_pct"].as_f64(), Some(25.0), "{row}");
    assert_eq!(row["talk_seconds"].as_i64(), Some(420));

    // The coaching page says the same.
    let page = manager.get(app.url("/coaching")).send().await.unwrap().text().await.unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(ann).fetch_one(app.db()).await.unwrap();
    let start = page.find(&format!(">{name}</th>")).unwrap_or_else(|| panic!("no row for Ann: {page}"));
    let row_html = &page[start..start + page[start..].find("</tr>").unwrap()];
    // Each cell's text (the figures that link carry it inside their link).
    let text = |c: &str| -> String { common::text_of(&c[..c.find("</td>").unwrap_or(c.len())]) };
    let cells: Vec<String> = row_html.split("class=\"num\">").skip(1).map(text).collect();
    let pct = |v: &Value| format!("{:.1}%", v.as_f64().unwrap());
    assert_eq!(
        cells,
        [
            row["assigned"].to_string(),
            row["called"].to_string(),
            (row["talk_seconds"].as_i64().unwrap() / 60).to_string(),
            pct(&row["contact_rate_pct"]),
            pct(&row["application_rate_pct"]),
            row["funded"].to_string(),
        ],
        "{row_html}"
    );

    // And a coaching review keeps the same figures as they were.
    let res = manager
        .post(app.url("/coaching"))
        .form(&[("lo_id", ann.to_string()), ("notes", "Good contact rate; push to application".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let kept: Value = sqlx::query_scalar("SELECT metrics FROM coaching_reviews WHERE lo_id = $1")
        .bind(ann)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!((kept["contact_rate"].as_f64(), kept["conversion"].as_f64()), (Some(50.0), Some(25.0)), "{kept}");
}
