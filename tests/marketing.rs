//! Marketing: spend by source and campaign (form and CSV import), ROI by campaign with the lead list behind
//! each figure, and a marketing role that sees the whole organisation's figures without any borrower.

mod common;

use chrono::Datelike;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

/// Two teams' leads from a vendor feed under one source: three in the spring campaign (one funds), one in the
/// fall campaign, one with none. Returns the admin's API client.
async fn organisation(app: &TestApp) -> reqwest::Client {
    let admin = app.create_user(Role::Admin, "admin@mkt.test", None, &[]).await;
    let api = app.api(&app.token_for(admin).await);
    let body = json!({"key": "mailer", "label": "Direct mailer", "channel": "direct_mail", "cost_model": "per_lead", "cost": "0"});
    assert_eq!(api.post(app.url("/api/v1/sources")).json(&body).send().await.unwrap().status(), 201);
    let vendor = app.create_user(Role::Intake, "feed@mkt.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    for (i, campaign) in [Some("spring"), Some("spring"), Some("spring"), Some("fall"), None].iter().enumerate() {
        let mut body = json!({"first_name": "Mia", "last_name": format!("Borrowerson{i}"), "phone": format!("512-555-02{i:02}"),
                              "email": format!("mia{i}@borrower.test"), "source": "mailer", "loan_amount": "300000"});
        if let Some(c) = campaign {
            body["campaign"] = json!(c);
        }
        let res = feed.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        if i == 0 {
            let lead: Value = res.json().await.unwrap();
            let moved = json!({"stage": "funded", "version": lead["version"]});
            let url = app.url(&format!("/api/v1/leads/{}/stage", lead["id"].as_str().unwrap()));
            assert_eq!(api.post(url).json(&moved).send().await.unwrap().status(), 200);
        }
    }
    api
}

fn this_month(app: &TestApp) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let first = app.state.today().with_day(1).unwrap();
    (first, first + chrono::Months::new(1))
}

async fn upload(client: &reqwest::Client, app: &TestApp, csv: &str) -> (u16, String) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("spend.csv").mime_str("text/csv").unwrap(),
    );
    let res = client.post(app.url("/reports/spend/import")).multipart(form).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn spend_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM metrics_source_spend").fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn campaign_spend_from_a_csv_file_reaches_campaign_roi_and_a_bad_file_changes_nothing() {
    let app = TestApp::spawn().await;
    organisation(&app).await;
    let (_, marketing) = app.login_as(Role::Marketing, "mkt@mkt.test", None, &[]).await;
    let (first, next) = this_month(&app);
    let month = first.format("%Y-%m");

    // A bad file: each bad row by line and column, nothing saved.
    let bad = format!(
        "month,source,campaign,amount\n{month},mailer,spring,600\n2026-13,mailer,,400\n{month},nowhere,,5\n{month},mailer,spring,700\n{month},mailer,fall,lots\n"
    );
    let (status, html) = upload(&marketing, &app, &bad).await;
    assert_eq!(status, 422, "{html}");
    for expected in [
        "line 3: month:",
        "line 4: source:",
        "line 5: the same source, campaign and month as line 2",
        "line 6: amount:",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    assert!(html.contains("nothing imported"), "{html}");
    assert_eq!(spend_rows(&app).await, 0, "all or nothing");

    // The good file, then one more entry by form.
    let good = format!("month,source,campaign,amount\n{month},mailer,spring,600\n{month},mailer,,400\n");
    let (status, html) = upload(&marketing, &app, &good).await;
    assert_eq!(status, 303, "{html}");
    let form = [("source", "mailer"), ("campaign", "fall"), ("month", &month.to_string()), ("amount", "250")];
    let res = marketing.post(app.url("/reports/spend")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'source_spend.set'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 3);
    // A form error re-renders with what was typed.
    let form = [("source", "mailer"), ("campaign", "fall"), ("month", "Nov"), ("amount", "250")];
    let res = marketing.post(app.url("/reports/spend")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"Nov\"") && html.contains("use a month like"), "{html}");

    // Campaign ROI over the whole month (no proration): each campaign its own spend; the source all of it.
    let range = format!("from={first}&to={next}");
    let res = marketing.get(app.url(&format!("/dashboard/export?{range}&table=campaign_roi"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let row = |campaign: &str| -> Vec<String> {
        csv.lines()
            .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
            .find(|c| c.len() > 2 && c[0] == "mailer" && c[1] == campaign)
            .unwrap_or_else(|| panic!("{campaign}: {csv}"))
    };
    let (spring, fall) = (row("spring"), row("fall"));
    assert_eq!((spring[2].as_str(), spring[3].as_str(), spring[6].as_str()), ("60000", "3", "1"), "{csv}");
    assert_eq!(spring[8], "60000", "cost per funded: $600 over one funded loan: {csv}");
    assert_eq!(spring[10], "20000", "cost per lead: $600 over three leads: {csv}");
    assert_eq!((fall[2].as_str(), fall[3].as_str()), ("25000", "1"), "{csv}");
    let res = marketing.get(app.url(&format!("/dashboard/export?{range}&table=roi"))).send().await.unwrap();
    let csv = res.text().await.unwrap();
    assert!(csv.lines().any(|l| l.starts_with("Direct mailer,125000,5,")), "the source: all its spend: {csv}");

    // The dashboard's campaign table links each figure to its leads; the list's total is the figure.
    let html = marketing.get(app.url(&format!("/dashboard?{range}"))).send().await.unwrap().text().await.unwrap();
    let table = &html[html.find("id=\"campaign-roi-table\"").expect("campaign table")..];
    let table = &table[..table.find("</table>").unwrap()];
    let href = |nth: usize| -> String {
        let mut rest = table;
        let mut out = String::new();
        for _ in 0..=nth {
            let at = rest.find("href=\"").unwrap() + 6;
            rest = &rest[at..];
            out = rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
        }
        out
    };
    // Leads, then contact rate, applications and funded (each figure's link, in the row's order).
    let (leads, funded) = (href(0), (0..4).map(href).find(|h| h.contains("stage=funded")).unwrap_or_default());
    assert!(leads.contains("campaign=spring") && funded.contains("stage=funded"), "{leads} {funded}");
    for (link, want) in [(leads, "3"), (funded, "1")] {
        assert_eq!(app.list_total(&marketing, &link).await.to_string(), want, "{link}");
    }
}

#[tokio::test]
async fn marketing_sees_the_whole_organisations_figures_and_never_a_borrower() {
    let app = TestApp::spawn().await;
    let admin_api = organisation(&app).await;
    // A lead on a team's LO as well, so "every team" is tested.
    let lo = app.create_user(Role::Lo, "lo@mkt.test", Some("North"), &["TX"]).await;
    let lo_api = app.api(&app.token_for(lo).await);
    let body = json!({"first_name": "Tess", "last_name": "Teamlead", "phone": "512-555-0299", "source": "mailer",
                      "campaign": "spring", "email": "tess@borrower.test"});
    let lead: Value = lo_api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap().json().await.unwrap();
    let lead_id = lead["id"].as_str().unwrap().to_string();
    let (_, marketing) = app.login_as(Role::Marketing, "mkt@mkt.test", None, &[]).await;

    let res = marketing.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("href=\"/reports/spend\""), "the role's navigation");
    // Every lead of the organisation is in the list, and no borrower's name, phone or email is.
    let res = marketing.get(app.url("/leads?source=mailer")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"lead-total\"><span class=\"num\">6<"), "{html}");
    for secret in ["Teamlead", "Borrowerson", "borrower.test", "555-0299", "5125550299", "/leads/new"] {
        assert!(!html.contains(secret), "{secret} shown to marketing");
    }
    // The same list through the API with a read token.
    let mkt_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'mkt@mkt.test'").fetch_one(app.db()).await.unwrap();
    let mkt_api = app.api(&app.token_with(mkt_id, &["read"]).await);
    let v: Value = mkt_api.get(app.url("/api/v1/leads?source=mailer")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 6);
    let text = v.to_string();
    assert!(!text.contains("Teamlead") && !text.contains("borrower.test") && !text.contains("5125550299"), "{text}");
    // A search by borrower, the lead itself, its export: refused.
    let res = marketing.get(app.url("/leads?q=Teamlead")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(!res.text().await.unwrap().contains("Tess"));
    assert_eq!(mkt_api.get(app.url("/api/v1/leads?q=tess@borrower.test")).send().await.unwrap().status(), 422);
    for path in [format!("/leads/{lead_id}"), "/leads/export.csv".to_string(), "/leads/new".to_string()] {
        let res = marketing.get(app.url(&path)).send().await.unwrap();
        assert!(matches!(res.status().as_u16(), 403 | 404), "{path}: {}", res.status());
        assert!(!res.text().await.unwrap().contains("Teamlead"), "{path}");
    }
    let res = mkt_api.get(app.url(&format!("/api/v1/leads/{lead_id}"))).send().await.unwrap();
    assert!(matches!(res.status().as_u16(), 403 | 404));
    // Figures: the whole organisation's (the team's lead and the unassigned feed's alike).
    let v: Value = mkt_api.get(app.url("/api/v1/metrics/roi")).send().await.unwrap().json().await.unwrap();
    let mailer = v["rows"].as_array().unwrap().iter().find(|r| r["source"] == "mailer").cloned().unwrap();
    assert_eq!(mailer["leads"], 6, "{v}");
    // Sources are the admins' to change.
    let body = json!({"key": "social", "label": "Social"});
    assert_eq!(mkt_api.post(app.url("/api/v1/sources")).json(&body).send().await.unwrap().status(), 403);
    // An admin's list still shows everything.
    let v: Value = admin_api.get(app.url("/api/v1/leads?source=mailer")).send().await.unwrap().json().await.unwrap();
    assert!(v.to_string().contains("Teamlead"));
}

#[tokio::test]
async fn spend_is_set_listed_and_imported_through_the_api() {
    let app = TestApp::spawn().await;
    organisation(&app).await;
    let mkt = app.create_user(Role::Marketing, "mkt@mkt.test", None, &[]).await;
    let api = app.api(&app.token_for(mkt).await);
    let lo = app.create_user(Role::Lo, "ann.lo@mkt.test", Some("North"), &["TX"]).await;
    let lo = app.api(&app.token_for(lo).await);
    let month = this_month(&app).0.format("%Y-%m").to_string();
    let put = |client: &reqwest::Client, body: Value| client.put(app.url("/api/v1/spend")).json(&body).send();

    // Who may: an LO is refused whatever the body.
    let res = put(&lo, json!({"month": month, "source": "mailer", "amount_cents": 1})).await.unwrap();
    assert_eq!(res.status(), 403);
    // Bad input names its field and keeps nothing.
    for (body, field) in [
        (json!({"month": month, "source": "mailer", "amount_cents": 100, "colour": "red"}), "colour"),
        (json!({"month": "2026-13", "source": "mailer", "amount_cents": 100}), "month"),
        (json!({"month": month, "source": "nobody", "amount_cents": 100}), "source"),
        (json!({"month": month, "source": "mailer", "amount_cents": -5}), "amount_cents"),
        (json!({"month": month, "source": "mailer"}), "amount_cents"),
    ] {
        let res = put(&api, body.clone()).await.unwrap();
        assert_eq!(res.status(), 422, "{body}");
        let v: Value = res.json().await.unwrap();
        assert!(v["errors"][field].is_array(), "{body} names {field}: {v}");
    }
    assert_eq!(spend_rows(&app).await, 0);
    // Set, then replace: the answer says what it was before; the list shows it; the audit log has both.
    let v: Value =
        put(&api, json!({"month": month, "source": "mailer", "campaign": "spring", "amount_cents": 125_050}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!((v["amount_cents"].as_i64(), v["before_cents"].is_null()), (Some(125_050), true), "{v}");
    let v: Value = put(&api, json!({"month": month, "source": "mailer", "campaign": "spring", "amount_cents": 99_000}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["before_cents"], 125_050, "{v}");
    let list: Value = api.get(app.url("/api/v1/spend")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["spend"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["spend"][0]["spend_cents"], 99_000);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'source_spend.set'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 2);
    // A file: all rows or none, bad rows by line.
    let bad = format!("month,source,amount\n{month},mailer,100\n{month},nobody,5\n");
    let res = api.post(app.url("/api/v1/spend/import")).body(bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 3, "{report}");
    assert_eq!(spend_rows(&app).await, 1, "nothing of a refused file is kept");
    let good = format!("month,source,amount,campaign\n{month},mailer,100,\n{month},mailer,250.50,fall\n");
    let res = api.post(app.url("/api/v1/spend/import")).body(good).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(spend_rows(&app).await, 3);
}
