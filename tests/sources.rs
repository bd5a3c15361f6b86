//! Lead sources and campaigns are managed records (issue 17): an admin adds, sets up, re-prices, retires
//! them on `/admin/sources` and through `/api/v1/sources`; a lead posted under a source nobody set up is kept
//! and the source is listed for review; bad input re-renders with a message (422), a taken key or a stale
//! change is a 409; only admins change them.

mod common;

use chrono::Datelike;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

async fn sources(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.api(token).get(app.url("/api/v1/sources")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn find<'a>(list: &'a [Value], key: &str) -> &'a Value {
    list.iter().find(|s| s["key"] == key).unwrap_or_else(|| panic!("no source {key} in {list:?}"))
}

#[tokio::test]
async fn an_admin_manages_sources_and_an_unknown_source_is_kept_for_review() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let admin_token = app.token_for(admin_id).await;

    // A new vendor, set up on the page.
    let res = admin
        .post(app.url("/admin/sources"))
        .form(&[
            ("key", "homeleads"),
            ("label", "HomeLeads"),
            ("vendor", "HomeLeads Inc."),
            ("channel", "aggregator"),
            ("cost_model", "per_lead"),
            ("cost", "$42.50"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = admin.get(app.url("/admin/sources")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("HomeLeads Inc.") && page.contains("$42.50 per lead"), "{page}");

    // Bad input: the form again with what was typed and why (422); the same key again: 409.
    let res = admin
        .post(app.url("/admin/sources"))
        .form(&[("key", "Bad Key!"), ("label", "Typed by hand"), ("cost", "forty")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Typed by hand") && page.contains("use a short key"), "{page}");
    assert!(page.contains("enter an amount in dollars"), "{page}");
    let res = admin.post(app.url("/admin/sources")).form(&[("key", "homeleads"), ("label", "Again")]).send().await;
    assert_eq!(res.unwrap().status(), 409);

    // A vendor posts a lead under a source nobody set up: the lead is kept, the source listed for review.
    let vendor = app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Una", "last_name": "Known", "phone": "512-555-0177", "source": "rateplaza"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let list = sources(&app, &admin_token).await;
    let new = find(&list, "rateplaza");
    assert_eq!((new["reviewed"].clone(), new["label"].clone()), (json!(false), json!("rateplaza")));
    assert_eq!(list[0]["key"], "rateplaza", "sources to review come first");
    let page = admin.get(app.url("/admin/sources")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("to review"), "{page}");
    // The lead list names the lead's stage and source (here its key, the source having no name yet).
    let named = |list: Value| {
        let item = list["items"].as_array().unwrap().iter().find(|i| i["source"] == "rateplaza").unwrap().clone();
        (item["stage_label"].as_str().unwrap().to_string(), item["source_label"].as_str().unwrap().to_string())
    };
    let listed = || async { admin.get(app.url("/api/v1/leads")).send().await.unwrap().json::<Value>().await.unwrap() };
    assert_eq!(named(listed().await), ("New".to_string(), "rateplaza".to_string()));

    // The admin sets it up on its row; a second save against the old version is refused (409).
    let version = new["version"].to_string();
    let set_up = [
        ("version", version.as_str()),
        ("label", "RatePlaza"),
        ("vendor", "RatePlaza LLC"),
        ("channel", "aggregator"),
        ("cost_model", "per_funded"),
        ("cost", "1,250"),
    ];
    let res = admin.post(app.url("/admin/sources/rateplaza")).form(&set_up).send().await.unwrap();
    assert_eq!(res.status(), 303);
    // Named at once on the instance that made the change (its copy of the sources' names is cleared).
    assert_eq!(named(listed().await), ("New".to_string(), "RatePlaza".to_string()));
    let page = admin.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<td>RatePlaza</td>"), "{page}");
    let res = admin.post(app.url("/admin/sources/rateplaza")).form(&set_up).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("changed by someone else"));
    let list = sources(&app, &admin_token).await;
    let set = find(&list, "rateplaza");
    assert_eq!(set["reviewed"], true);
    assert_eq!((set["cost_model"].as_str(), set["cost_cents"].as_i64()), (Some("per_funded"), Some(125_000)));

    // A campaign under it; then the source is retired through the API, which keeps it on its leads.
    let res = admin
        .post(app.url("/admin/sources/rateplaza/campaigns"))
        .form(&[("key", "spring_refi"), ("label", "Spring refinance")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let api = app.api(&admin_token);
    let res = api
        .patch(app.url("/api/v1/sources/rateplaza"))
        .json(&json!({"retired": true, "version": set["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let retired: Value = res.json().await.unwrap();
    assert!(retired["retired_at"].is_string());
    let list = sources(&app, &admin_token).await;
    assert_eq!(find(&list, "rateplaza")["campaigns"], json!(["Spring refinance [spring_refi]"]));
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM leads WHERE source = 'rateplaza'").fetch_one(app.db()).await.unwrap();
    assert_eq!(kept, 1);
    // Unknown fields are refused, not ignored, and named.
    let res = api.post(app.url("/api/v1/sources")).json(&json!({"key": "x", "label": "X", "colour": "red"})).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.json::<Value>().await.unwrap()["errors"]["colour"].is_array());

    // Every change is in the audit log.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity IN ('lead_source', 'lead_campaign') ORDER BY id")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(actions, ["source.add", "source.change", "campaign.save", "source.change"]);
}

#[tokio::test]
async fn only_admins_change_sources() {
    let app = TestApp::spawn().await;
    let (lo_id, lo) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let (mgr_id, _) = app.login_as(Role::Manager, "mgr@branch.test", Some("Dallas"), &[]).await;
    assert_eq!(lo.get(app.url("/admin/sources")).send().await.unwrap().status(), 403);
    let res = lo.post(app.url("/admin/sources")).form(&[("key", "mine"), ("label", "Mine")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    for who in [lo_id, mgr_id] {
        let token = app.token_for(who).await;
        assert!(!sources(&app, &token).await.is_empty(), "staff read the sources' keys");
        let res = app.api(&token).post(app.url("/api/v1/sources")).json(&json!({"key": "mine", "label": "Mine"}));
        assert_eq!(res.send().await.unwrap().status(), 403);
    }
    let added: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_sources WHERE key = 'mine'").fetch_one(app.db()).await.unwrap();
    assert_eq!(added, 0);
}

/// Each cost model reaches the ROI figures: a lead without its own cost is priced at its per-lead source's
/// price, a per-funded-loan source costs its price per funded loan, a flat monthly fee counts for the month.
#[tokio::test]
async fn roi_counts_each_sources_cost_model() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let api = app.api(&app.token_for(admin).await);
    for (key, model, cost) in
        [("perlead", "per_lead", "40"), ("perfund", "per_funded", "1,000"), ("flat", "monthly", "3000")]
    {
        let body = json!({"key": key, "label": key, "channel": "aggregator", "cost_model": model, "cost": cost});
        let res = api.post(app.url("/api/v1/sources")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let vendor = app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let mut ids = Vec::new();
    for (i, source) in ["perlead", "perlead", "perfund", "perfund", "flat"].iter().enumerate() {
        let body = json!({"first_name": "Roi", "last_name": format!("Case{i}"), "phone": format!("512-555-01{i:02}"),
                          "source": source, "loan_amount": "400000"});
        let res = feed.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    // One of the per-funded source's leads funds.
    let lead: Value =
        api.get(app.url(&format!("/api/v1/leads/{}", ids[2]))).send().await.unwrap().json().await.unwrap();
    let res = api
        .post(app.url(&format!("/api/v1/leads/{}/stage", ids[2])))
        .json(&json!({"stage": "funded", "version": lead["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let today = app.state.today();
    let first = today.with_day(1).unwrap();
    let next = (first + chrono::Months::new(1)).format("%Y-%m-%d");
    let url = app.url(&format!("/api/v1/metrics/roi?from={}&to={next}", first.format("%Y-%m-%d")));
    let roi: Value = api.get(url).send().await.unwrap().json().await.unwrap();
    let spend = |source: &str| {
        roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == source).map(|r| r["spend_cents"].clone())
    };
    assert_eq!(spend("perlead"), Some(json!(8_000)), "two leads at $40: {roi}");
    assert_eq!(spend("perfund"), Some(json!(100_000)), "one funded loan at $1,000: {roi}");
    assert_eq!(spend("flat"), Some(json!(300_000)), "the month's flat fee: {roi}");
    // The costs per step: $1,000 over two leads, one funded $400,000 loan (25 bps of its volume).
    let row = roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == "perfund").unwrap();
    assert_eq!(row["cost_per_lead_cents"], 50_000);
    assert_eq!(row["cost_per_funded_cents"], 100_000);
    assert_eq!(row["cost_per_funded_volume_bps"], 25);
    assert_eq!(row["cost_per_contact_cents"], Value::Null, "nobody was contacted");
}

#[tokio::test]
async fn campaigns_are_added_renamed_and_retired_through_the_api() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let admin = app.api(&app.token_for(admin).await);
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let lo = app.api(&app.token_for(lo).await);
    let url = app.url("/api/v1/sources/referral/campaigns/spring-26");
    assert_eq!(lo.put(&url).json(&json!({"label": "Spring"})).send().await.unwrap().status(), 403);
    let res = admin.put(&url).json(&json!({"label": "Spring", "colour": "red"})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.json::<serde_json::Value>().await.unwrap()["errors"]["colour"].is_array());
    let campaigns = || async {
        sqlx::query_as::<_, (String, bool)>(
            "SELECT label, retired_at IS NOT NULL FROM lead_campaigns WHERE source = 'referral' AND key = 'spring-26'",
        )
        .fetch_all(app.db())
        .await
        .unwrap()
    };
    assert!(campaigns().await.is_empty(), "nothing kept from a refused body");
    let res = admin.put(&url).json(&json!({"label": "Spring 2026"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let source: serde_json::Value = res.json().await.unwrap();
    assert!(source["campaigns"].to_string().contains("Spring 2026"), "{source}");
    admin.put(&url).json(&json!({"label": "Spring mailer"})).send().await.unwrap();
    assert_eq!(campaigns().await, [("Spring mailer".to_string(), false)], "renamed");
    admin.put(&url).json(&json!({"retire": "yes"})).send().await.unwrap();
    assert_eq!(campaigns().await, [("Spring mailer".to_string(), true)], "retired");
    let missing = admin.put(app.url("/api/v1/sources/nobody/campaigns/x")).json(&json!({"label": "X"})).send().await;
    assert_eq!(missing.unwrap().status(), 404);
}
