//! A manager who also originates: in a routing rotation with a capacity like an LO, their own leads and day,
//! and their own production on their own numbers — never inside the team figures they manage.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_producing_manager_takes_leads_in_rotation_up_to_capacity_and_counts_apart_from_the_team() {
    let app = TestApp::spawn().await;
    let admin_id = app.create_user(Role::Admin, "admin@prod.test", None, &[]).await;
    let admin = app.login("admin@prod.test").await;
    let admin_api = app.api(&app.token_for(admin_id).await);
    let mgr = app.create_user(Role::Manager, "mgr@prod.test", Some("North"), &[]).await;
    let ann = app.create_user(Role::Lo, "ann@prod.test", Some("North"), &["TX"]).await;
    let north: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'North'").fetch_one(app.db()).await.unwrap();

    // Before: a manager has no status and is in no rotation.
    let manager = app.login("mgr@prod.test").await;
    let res = manager.post(app.url("/account/status")).form(&[("status", "available")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "a manager who does not originate has no status");

    // The admin makes them a producing manager: licensed in Texas, capacity 2, around the clock.
    let version: i32 =
        sqlx::query_scalar("SELECT version FROM users WHERE id = $1").bind(mgr).fetch_one(app.db()).await.unwrap();
    let mut form: Vec<(&str, String)> = vec![
        ("version", version.to_string()),
        ("name", "Morgan Manager".into()),
        ("email", "mgr@prod.test".into()),
        ("role", "manager".into()),
        ("managed_team_ids", north.to_string()),
        ("originates", "1".into()),
        ("licensed_states", "TX".into()),
        ("capacity", "2".into()),
        ("status", "available".into()),
        ("work_start", "00:00".into()),
        ("work_end", "00:00".into()),
        ("timezone", "America/Chicago".into()),
        ("routing_weight", "1".into()),
        ("monthly_cost", "9000".into()),
    ];
    form.extend((1..=7).map(|d| ("work_days", d.to_string())));
    let res = admin.post(app.url(&format!("/admin/users/{mgr}"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    app.set_lo_profile(
        &admin,
        ann,
        &[("capacity", "10"), ("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")],
    )
    .await;
    // A rule for Texas naming both.
    let res = admin
        .post(app.url("/routing/rules"))
        .form(&[
            ("name", "Texas with the manager"),
            ("states", "TX"),
            ("method", "round_robin"),
            ("fallback_method", "round_robin"),
            ("claim_minutes", "10"),
            ("sla_minutes", "60"),
            ("sla_action", "reassign"),
            ("lo_ids", &mgr.to_string()),
            ("lo_ids", &ann.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

    // Six Texas leads from a vendor: the manager takes two (their capacity), Ann the rest.
    let vendor = app.create_user(Role::Intake, "feed@prod.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let mut by_owner: std::collections::HashMap<Option<String>, Vec<String>> = Default::default();
    for i in 0..6 {
        let body = json!({"first_name": "Tex", "last_name": format!("Lead{i}"), "phone": format!("512-555-06{i:02}"),
                          "property_state": "TX", "source": "web", "loan_amount": "300000"});
        let res = feed.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let lead: Value =
            admin_api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
        let owner = lead["assigned_lo"]["id"].as_str().map(str::to_string);
        by_owner.entry(owner).or_default().push(id);
    }
    let mine = by_owner.get(&Some(mgr.to_string())).cloned().unwrap_or_default();
    let anns = by_owner.get(&Some(ann.to_string())).cloned().unwrap_or_default();
    assert_eq!((mine.len(), anns.len()), (2, 4), "the manager is in rotation up to capacity: {by_owner:?}");

    // Their own leads are theirs to work (My day, status) and carry no team.
    let manager = app.login("mgr@prod.test").await;
    let res = manager.get(app.url("/my-day")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = manager.post(app.url("/account/status")).form(&[("status", "away")]).send().await.unwrap();
    assert_eq!(res.status(), 303, "a producing manager sets their own status");
    let teamless: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id = $1 AND team_id IS NULL")
        .bind(mgr)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(teamless, 2);
    // One of the manager's leads funds, one of Ann's.
    for id in [&mine[0], &anns[0]] {
        let lead: Value =
            admin_api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
        let res = admin_api
            .post(app.url(&format!("/api/v1/leads/{id}/stage")))
            .json(&json!({"stage": "funded", "version": lead["version"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    // Their own numbers: their two leads, one funded. The team's figures: Ann's four, one funded.
    let html = manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"own-production\""), "the dashboard says where their own production is");
    assert!(html.contains("href=\"/me/metrics\""), "and the navigation has their numbers");
    let mgr_api = app.api(&app.token_for(mgr).await);
    let funnel = |v: &Value| -> (i64, i64) {
        let rows = v["rows"].as_array().unwrap();
        (
            rows.iter().map(|r| r["cohort"].as_i64().unwrap()).sum(),
            rows.iter().map(|r| r["reached"]["funded"].as_i64().unwrap()).sum(),
        )
    };
    let team: Value = mgr_api.get(app.url("/api/v1/metrics/funnel")).send().await.unwrap().json().await.unwrap();
    assert_eq!(funnel(&team), (4, 1), "the team's figures: Ann's leads only: {team}");
    let all: Value = admin_api.get(app.url("/api/v1/metrics/funnel")).send().await.unwrap().json().await.unwrap();
    assert_eq!(funnel(&all), (6, 2), "the organisation's: everyone's: {all}");
    // Their own numbers: their two leads (assigned to them), one funded — each figure its lead list's total.
    let page = manager.get(app.url("/me/metrics")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let table = &page[page.find("id=\"my-funnel\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let mut rest = table;
    // Each row: reached (a count), step conversion (over the stage before: data-over), cumulative (a rate).
    let (mut reached, mut figures) = (Vec::new(), Vec::new());
    while let Some(at) = rest.find("<a href=\"") {
        rest = &rest[at + 9..];
        let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
        let anchor = &rest[..rest.find("</a>").unwrap()];
        if anchor.contains('%') && !anchor.contains("data-over") {
            continue;
        }
        let n = common::link_count(rest).unwrap();
        if !anchor.contains("data-over") {
            reached.push(n);
        }
        figures.push((href, n));
    }
    assert_eq!(reached.len(), 8, "{figures:?}");
    assert_eq!((reached[0], reached[7]), (2, 1), "assigned to them, and funded: {figures:?}");
    for (href, n) in &figures {
        assert_eq!(app.list_total(&manager, href).await, *n, "{href}");
    }
}
