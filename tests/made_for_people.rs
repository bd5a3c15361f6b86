//! Pages speak names, not keys (issue 25): the lead list, My day and the routing queue show a stage's,
//! source's and loan purpose's names as the admin and the product call them, and phones in national format
//! with `tel:` links.

mod common;

use common::TestApp;
use loanfloor::auth::Role;

#[tokio::test]
async fn the_lead_list_my_day_and_the_queue_show_names_not_keys() {
    let app = TestApp::spawn().await;
    let (lo, lo_page) = app.login_as(Role::Lo, "ann.lo@example.com", Some("Dallas"), &["TX"]).await;
    // Ann's own lead from the website, a purchase, moved to prequalified (its name in the pipeline:
    // "Prequalified"); a second one left new.
    let ann = app.api(&app.token_for(lo).await);
    let mut ids = Vec::new();
    for (first, phone) in [("Rosa", "512-555-0142"), ("Luis", "512-555-0143")] {
        let res = ann
            .post(app.url("/api/v1/leads"))
            .json(&serde_json::json!({
                "first_name": first, "last_name": "Diaz", "phone": phone, "property_state": "TX",
                "loan_purpose": "purchase", "source": "direct",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let v: serde_json::Value = res.json().await.unwrap();
        ids.push(v);
    }
    let res = ann
        .post(app.url(&format!("/api/v1/leads/{}/stage", ids[0]["id"].as_str().unwrap())))
        .json(&serde_json::json!({"stage": "prequalified", "version": ids[0]["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let label: String =
        sqlx::query_scalar("SELECT label FROM stages WHERE key = 'prequalified'").fetch_one(app.db()).await.unwrap();

    let list = lo_page.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    let row = list.split("<tr>").find(|r| r.contains("Rosa Diaz")).expect("Rosa's row");
    assert!(row.contains(&format!("<td>{label}</td>")), "the stage's name: {row}");
    assert!(row.contains("<td>Direct / website</td>"), "the source's name: {row}");
    assert!(row.contains("<td>Purchase</td>"), "the purpose's name: {row}");
    assert!(row.contains("href=\"tel:+15125550142\">(512) 555-0142</a>"), "a national phone with a tel: link: {row}");
    assert!(!row.contains(">direct<") && !row.contains(">prequalified<") && !row.contains(">purchase<"), "{row}");

    // The lead page names its source.
    let page = lo_page
        .get(app.url(&format!("/leads/{}", ids[0]["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<dt>Source</dt><dd>Direct / website"), "{page}");

    // The pricing-exception form's lead card, too.
    let form = lo_page
        .get(app.url(&format!("/escalations/new?lead_id={}", ids[0]["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [format!("<dd>{label}</dd>"), "<dd>Direct / website</dd>".into(), "<dd>Purchase</dd>".into()] {
        assert!(form.contains(&shown), "{shown} on the request form: {form}");
    }

    let day = lo_page.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    let row = day.split("<tr>").find(|r| r.contains("Luis Diaz")).expect("Luis waits in My day");
    assert!(row.contains("Direct / website") && !row.contains(">direct<"), "{row}");

    // A lead nobody holds waits in the routing queue under its source's name.
    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    let intake = app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let res = app
        .api(&app.token_for(intake).await)
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Nia", "last_name": "Unrouted", "phone": "512-555-0150",
                                   "property_state": "WY", "source": "referral"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let queue = admin.get(app.url("/routing/queue")).send().await.unwrap().text().await.unwrap();
    let row = queue.split("<tr>").find(|r| r.contains("Nia Unrouted")).expect("Nia waits in the queue");
    assert!(row.contains("<td>Referral</td>"), "{row}");
}

/// The dashboard's LO, team and source filters are drop-downs of names the manager may choose from: their
/// team's LOs and teams only, the sources by name; a chosen LO stays selected.
#[tokio::test]
async fn the_dashboard_filters_offer_names_within_the_managers_teams() {
    let app = TestApp::spawn().await;
    let (_, manager) = app.login_as(Role::Manager, "mia.mgr@example.com", Some("Dallas"), &[]).await;
    let ann = app.create_user(Role::Lo, "ann.lo@example.com", Some("Dallas"), &["TX"]).await;
    let omar = app.create_user(Role::Lo, "omar.lo@example.com", Some("Houston"), &["TX"]).await;
    let name_of = |id| {
        let db = app.db().clone();
        async move { sqlx::query_scalar::<_, String>("SELECT name FROM users WHERE id = $1").bind(id).fetch_one(&db).await }
    };
    let (name, other) = (name_of(ann).await.unwrap(), name_of(omar).await.unwrap());
    let page = manager.get(app.url(&format!("/dashboard?lo={ann}"))).send().await.unwrap().text().await.unwrap();
    let select = |id: &str| {
        let start = page.find(&format!("<select id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} drop-down: {page}"));
        page[start..start + page[start..].find("</select>").unwrap()].to_string()
    };
    let officers = select("f-lo");
    assert!(officers.contains(&format!("<option value=\"{ann}\" selected>{name}</option>")), "{officers}");
    assert!(!officers.contains(&other) && !officers.contains(&omar.to_string()), "not another team's LO: {officers}");
    let teams = select("f-team");
    assert!(teams.contains(">Dallas</option>") && !teams.contains("Houston"), "{teams}");
    let sources = select("f-source");
    let website: String =
        sqlx::query_scalar("SELECT label FROM lead_sources WHERE key = 'direct'").fetch_one(app.db()).await.unwrap();
    assert!(sources.contains(&format!(">{website}</option>")), "{sources}");
    assert!(!page.contains("LO id") && !page.contains("Team id"), "no id boxes");
}
