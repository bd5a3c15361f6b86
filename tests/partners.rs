//! Referral partners: records with their company and people, named on leads by the form, the API and the CSV
//! import, and counted — each figure a link to exactly its leads, in the viewer's scope.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

/// Every `(href, number)` link in the partners table row of `company`.
fn row_links(html: &str, company: &str) -> Vec<(String, i64)> {
    let row = &html[html.find(&format!(">{company}</a>")).unwrap_or_else(|| panic!("{company}: {html}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    let mut out = Vec::new();
    let mut rest = row;
    while let Some(i) = rest.find("<a href=\"/leads?") {
        rest = &rest[i + 9..];
        let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
        out.push((href, common::link_count(rest).unwrap()));
    }
    out
}

#[tokio::test]
async fn partners_are_kept_named_on_leads_every_way_and_counted_exactly() {
    let app = TestApp::spawn().await;
    let admin_id = app.create_user(Role::Admin, "admin@ptn.test", None, &[]).await;
    let admin_api = app.api(&app.token_for(admin_id).await);
    let (_, manager) = app.login_as(Role::Manager, "mgr@ptn.test", Some("North"), &[]).await;
    let (ann, ann_page) = app.login_as(Role::Lo, "ann@ptn.test", Some("North"), &["TX"]).await;
    let ann_api = app.api(&app.token_for(ann).await);
    let cy = app.create_user(Role::Lo, "cy@ptn.test", Some("South"), &["TX"]).await;
    let cy_api = app.api(&app.token_for(cy).await);

    // The manager adds a Realtor's office; a second one of the same name is a 409, a bad email a 422, each
    // re-shown with what was typed.
    let form = [
        ("company", "Lone Star Realty"),
        ("kind", "realtor"),
        ("phone", "512-555-0400"),
        ("email", "desk@lonestar.test"),
    ];
    let res = manager.post(app.url("/partners")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let partner: Uuid = location(&res).trim_start_matches("/partners/").parse().unwrap();
    let res = manager
        .post(app.url("/partners"))
        .form(&[("company", "lone star realty"), ("kind", "realtor")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = manager
        .post(app.url("/partners"))
        .form(&[("company", "Hill Builders"), ("kind", "builder"), ("email", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"Hill Builders\"") && html.contains("enter an email address"), "{html}");
    // Its people.
    let person =
        [("name", "Rita Agent"), ("title", "Broker"), ("phone", "512-555-0401"), ("email", "rita@lonestar.test")];
    let res = manager.post(app.url(&format!("/partners/{partner}/contacts"))).form(&person).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = manager
        .post(app.url(&format!("/partners/{partner}/contacts")))
        .form(&[("name", ""), ("phone", "12")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = ann_page.get(app.url(&format!("/partners/{partner}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Rita Agent") && page.contains("Broker"), "an LO sees the partner and its people");
    assert!(!page.contains("id=\"edit-partner\""), "but no form to change it");
    let res = ann_page
        .post(app.url(&format!("/partners/{partner}")))
        .form(&[("company", "Mine now"), ("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "LOs do not change partners");
    let (_, lossmit) = app.login_as(Role::Lossmit, "lm@ptn.test", None, &[]).await;
    assert_eq!(lossmit.get(app.url("/partners")).send().await.unwrap().status(), 403);

    // Leads name it: Ann through the API and the form, Cy (another team) through the API, an import of two.
    let lead = |last: &str, partner: &str| {
        let phone: u32 = last.bytes().map(u32::from).sum::<u32>() * 7 % 9000 + 1000;
        json!({"first_name": "Bo", "last_name": last, "phone": format!("512-555-{phone}"), "property_state": "TX",
               "loan_amount": "250000", "referral_partner_id": partner})
    };
    let res = ann_api.post(app.url("/api/v1/leads")).json(&lead("Apione", &partner.to_string())).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let funded: Value = res.json().await.unwrap();
    assert_eq!(funded["referral_partner_id"], partner.to_string());
    assert_eq!(funded["referral_partner"], "Lone Star Realty");
    for (bad, why) in
        [(Uuid::new_v4().to_string(), "no referral partner"), ("realty".to_string(), "not a referral partner")]
    {
        let res = ann_api.post(app.url("/api/v1/leads")).json(&lead("Nobody", &bad)).send().await.unwrap();
        assert_eq!(res.status(), 422);
        let v: Value = res.json().await.unwrap();
        assert!(v["errors"]["referral_partner_id"][0].as_str().unwrap().contains(why), "{v}");
    }
    let form = [
        ("first_name", "Fo"),
        ("last_name", "Rmlead"),
        ("phone", "512-555-7788"),
        ("property_state", "TX"),
        ("source", "web"),
        ("referral_partner_id", &partner.to_string()),
    ];
    let res = ann_page.post(app.url("/leads/new")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = cy_api.post(app.url("/api/v1/leads")).json(&lead("Southern", &partner.to_string())).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let csv = format!(
        "first_name,last_name,phone,property_state,referral_partner_id\nIm,Portone,512-555-3001,TX,{partner}\nIm,Porttwo,512-555-3002,TX,{partner}\nIm,Portbad,512-555-3003,TX,{}\n",
        Uuid::new_v4()
    );
    let upload = |csv: String| {
        let part =
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("leads.csv").mime_str("text/csv").unwrap();
        reqwest::multipart::Form::new().part("file", part)
    };
    let res = ann_page.post(app.url("/leads/import")).multipart(upload(csv.clone())).send().await.unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 422, "the unknown partner is a bad row: nothing imported: {body}");
    assert!(body.contains("referral_partner_id"));
    let good: String = csv.lines().take(3).map(|l| format!("{l}\n")).collect();
    let res = ann_page.post(app.url("/leads/import")).multipart(upload(good)).send().await.unwrap();
    assert!(res.status().is_success() || res.status() == 303, "{}", res.status());
    let named: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE referral_partner_id = $1")
        .bind(partner)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(named, 5, "API, form, the other team's API lead and two imported");

    // One funds.
    let url = app.url(&format!("/api/v1/leads/{}/stage", funded["id"].as_str().unwrap()));
    let res = admin_api.post(url).json(&json!({"stage": "funded", "version": funded["version"]})).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // The figures: the manager's count their own scope (Cy's lead is South's), the admin's everything; each
    // number is its list's total.
    let admin_page = app.login("admin@ptn.test").await;
    for (who, client, leads) in [("manager", &manager, 4), ("admin", &admin_page, 5), ("ann", &ann_page, 4)] {
        let html = client.get(app.url("/partners")).send().await.unwrap().text().await.unwrap();
        let links = row_links(&html, "Lone Star Realty");
        assert_eq!(
            links.iter().map(|l| l.1).collect::<Vec<_>>(),
            vec![leads, 1, 1, 1],
            "{who}: leads, applications, funded, funded volume (over the funded)"
        );
        for (href, n) in &links {
            assert_eq!(app.list_total(client, href).await, *n, "{who}: {href}");
        }
        assert!(html.contains("$250,000"), "{who}: the funded volume");
    }

    // Retired: still on its leads and counted, no longer offered, and a new lead cannot name it; a stale
    // change is a 409.
    let change = [("company", "Lone Star Realty"), ("kind", "realtor"), ("retired", "1"), ("version", "1")];
    let res = manager.post(app.url(&format!("/partners/{partner}"))).form(&change).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = manager.post(app.url(&format!("/partners/{partner}"))).form(&change).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let res = ann_api.post(app.url("/api/v1/leads")).json(&lead("Late", &partner.to_string())).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let form = ann_page.get(app.url("/leads/new")).send().await.unwrap().text().await.unwrap();
    assert!(!form.contains(&partner.to_string()), "a retired partner is not offered");
    let v: Value = ann_api
        .get(app.url(&format!("/api/v1/leads/{}", funded["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = ann_api
        .patch(app.url(&format!("/api/v1/leads/{}", funded["id"].as_str().unwrap())))
        .json(&json!({"version": v["version"], "property_zip": "78701"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a lead keeps its retired partner through other edits");
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity = 'referral_partner'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 3, "added, a person added, retired");
}

#[tokio::test]
async fn the_partners_api_refuses_a_field_it_does_not_know_after_asking_who_may() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let admin = app.api(&app.token_for(admin).await);
    let lo = app.api(&app.token_for(lo).await);
    let body = json!({"company": "Lone Star Realty", "colour": "red"});
    // An LO may not add partners, whatever the body says.
    let res = lo.post(app.url("/api/v1/partners")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // The admin is told which field is not known, and nothing is kept.
    let res = admin.post(app.url("/api/v1/partners")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let v: Value = res.json().await.unwrap();
    assert!(v["errors"]["colour"].is_array(), "{v}");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM referral_partners").fetch_one(app.db()).await.unwrap();
    assert_eq!(kept, 0);
    let res =
        admin.post(app.url("/api/v1/partners")).json(&json!({"company": "Lone Star Realty"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
}
