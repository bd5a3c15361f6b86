//! Capacity and hiring: each LO's monthly load against their team's contact-rate target, how many LOs the lead
//! flow needs, and the uncertainty of every LO's rates.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn the_hiring_view_measures_load_against_the_teams_target_and_says_how_many_los_the_flow_needs() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "admin@hire.test", None, &[]).await;
    let admin = app.login("admin@hire.test").await;
    let ann = app.create_user(Role::Lo, "ann@hire.test", Some("North"), &["TX"]).await;
    let bob = app.create_user(Role::Lo, "bob@hire.test", Some("North"), &["TX"]).await;
    let north: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'North'").fetch_one(app.db()).await.unwrap();

    // The admin sets North's target to 60%; a target that is not a percent is refused, nothing changed.
    let res = admin
        .post(app.url(&format!("/admin/teams/{north}")))
        .form(&[("name", "North"), ("contact_rate_target_pct", "150")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = admin
        .post(app.url(&format!("/admin/teams/{north}")))
        .form(&[("name", "North"), ("contact_rate_target_pct", "60")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // (The team form names its managers: North's is added after it is saved.)
    app.create_user(Role::Manager, "mgr@hire.test", Some("North"), &[]).await;

    // Ann works twelve leads and reaches eight (67%, above target); Bob four and reaches none.
    for (lo, leads, reached) in [(ann, 12, 8), (bob, 4, 0)] {
        let api = app.api(&app.token_for(lo).await);
        for i in 0..leads {
            let body = json!({"first_name": "Hi", "last_name": format!("Re{i}"), "phone": format!("512-555-{:04}", if lo == ann { 1000 } else { 2000 } + i), "property_state": "TX"});
            let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
            assert_eq!(res.status(), 201);
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
            let outcome = if i < reached { "contacted" } else { "no_answer" };
            let call = json!({"kind": "call", "outcome": outcome, "talk_seconds": 120});
            let res = api.post(app.url(&format!("/api/v1/leads/{id}/activities"))).json(&call).send().await.unwrap();
            assert!(res.status().is_success());
        }
    }
    let manager = app.login("mgr@hire.test").await;
    let html = manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    // 30 days are 0.99 of a month: Ann carried 12.2 a month at target; the flow of 16.2 needs two LOs.
    let hiring = &html[html.find("id=\"hiring\"").expect("the hiring line")..];
    let hiring = &hiring[..hiring.find("</p>").unwrap()];
    assert!(hiring.contains("<strong>16.2</strong> leads a month"), "{hiring}");
    assert!(hiring.contains("60% contact-rate target carried up to <strong>12.2</strong>"), "{hiring}");
    assert!(
        hiring.contains("id=\"hiring-needed\">2<") && hiring.contains("<strong>2</strong> take leads now"),
        "{hiring}"
    );
    let cap = &html[html.find("id=\"capacity-table\"").unwrap()..];
    let cap = &cap[..cap.find("</table>").unwrap()];
    let cap_text = common::text_of(cap);
    assert!(cap_text.contains("66.7% / 60% ✓"), "Ann meets the target: {cap}");
    assert!(cap_text.contains("0.0% / 60% below"), "Bob does not: {cap}");
    assert!(cap.contains("<span class=\"pill warn\">below</span>"), "{cap}");
    // Every LO's rates carry their interval (Wilson, as on the team funnel): 8 of 12 is 39.1–86.2%.
    let officers = &html[html.find("id=\"officers-table\"").or_else(|| html.find("Loan officer")).unwrap()..];
    assert!(officers.contains("39.1–86.2%"), "{officers}");
    let csv = manager.get(app.url("/dashboard/export?table=officers")).send().await.unwrap().text().await.unwrap();
    assert!(csv.lines().next().unwrap().contains("contact_low_pct,contact_high_pct"), "{csv}");
    assert!(csv.contains("66.7,39.1,86.2"), "{csv}");
}
