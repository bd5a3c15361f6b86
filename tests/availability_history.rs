//! Availability over time (issue 17): every change of an LO's status is kept, and the manager's dashboard
//! shows the hours each LO of their teams made themselves available in the range, with the leads given.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;

#[tokio::test]
async fn the_dashboard_shows_the_hours_each_lo_was_available() {
    let app = TestApp::spawn().await;
    let (_, manager) = app.login_as(Role::Manager, "mia.mgr@example.com", Some("Dallas"), &[]).await;
    let ann = app.create_user(Role::Lo, "ann.lo@example.com", Some("Dallas"), &["TX"]).await;
    app.create_user(Role::Lo, "omar.lo@example.com", Some("Houston"), &["TX"]).await;
    // Ann is available from the start; two hours later the manager marks her away, three hours after that
    // available again, and an hour later the manager looks: three hours available.
    let set = |status: &'static str| {
        let manager = manager.clone();
        let url = app.url(&format!("/availability/{ann}/status"));
        async move {
            let res = manager.post(url).form(&[("status", status)]).send().await.unwrap();
            assert_eq!(res.status(), 303);
        }
    };
    app.state.clock.advance(Duration::hours(2));
    set("away").await;
    app.state.clock.advance(Duration::hours(3));
    set("available").await;
    app.state.clock.advance(Duration::hours(1));
    // And she enters a borrower of her own: one lead given.
    let res = app
        .api(&app.token_for(ann).await)
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Rosa", "last_name": "Diaz", "phone": "512-555-0142"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let history: Vec<String> =
        sqlx::query_scalar("SELECT status FROM lo_status_changes WHERE user_id = $1 ORDER BY id")
            .bind(ann)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(history, ["available", "away", "available"], "every change is kept");

    let today = app.state.today();
    let (from, to) = (today - Duration::days(1), today + Duration::days(2));
    let page =
        manager.get(app.url(&format!("/dashboard?from={from}&to={to}"))).send().await.unwrap().text().await.unwrap();
    let start = page.find("id=\"availability-table\"").unwrap_or_else(|| panic!("no availability table: {page}"));
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(ann).fetch_one(app.db()).await.unwrap();
    let row_start = table.find(&format!(">{name}</td>")).unwrap_or_else(|| panic!("no row for Ann: {table}"));
    let row = &table[row_start..row_start + table[row_start..].find("</tr>").unwrap()];
    assert_eq!(figure(row, "Hours available").1, "3.0", "hours available: {row}");
    let (href, given) = figure(row, "Leads given");
    assert_eq!(given, "1", "leads given: {row}");
    // The figure opens the leads given to her, and the list's total is the figure.
    let list = manager.get(app.url(&href)).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"lead-total\"><span class=\"num\">1<"), "{href}: {list}");
    assert!(!table.contains("Houston") && table.matches("<tr>").count() == 2, "only the manager's team: {table}");
}

/// The cell of a dashboard row under `label`: the link it opens (unescaped, without its fragment) and its figure.
fn figure(row: &str, label: &str) -> (String, String) {
    let cell = &row[row.find(&format!("data-label=\"{label}\"")).unwrap_or_else(|| panic!("no {label}: {row}"))..];
    let cell = &cell[..cell.find("</td>").unwrap()];
    let start = cell.find("href=\"").unwrap_or_else(|| panic!("{label} is a link: {cell}")) + 6;
    let href = cell[start..].split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&");
    let href = href.split('#').next().unwrap().to_string();
    let text = cell[start + cell[start..].find("\">").unwrap() + 2..].split('<').next().unwrap().to_string();
    (href, text)
}

/// The number in a page's total element `id`.
fn total(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"><span class=\"num\">");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {id}: {page}")) + marker.len();
    page[start..].split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn hours_offers_and_claimed_open_exactly_their_records() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let (_, manager) = app.login_as(Role::Manager, "mia.mgr@example.com", Some("Dallas"), &[]).await;
    let (ann, ann_client) = app.login_as(Role::Lo, "ann.lo@example.com", Some("Dallas"), &["TX"]).await;
    let (_, ben) = app.login_as(Role::Lo, "ben.lo@example.com", Some("Dallas"), &["OK"]).await;
    let (_, houston_mgr) = app.login_as(Role::Manager, "hugo.mgr@example.com", Some("Houston"), &[]).await;
    let omar = app.create_user(Role::Lo, "omar.lo@example.com", Some("Houston"), &["OK"]).await;
    let (_, lossmit) = app.login_as(Role::Lossmit, "lena.lm@example.com", None, &[]).await;
    let always = [("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")];
    app.set_lo_profile(&admin, ann, &always).await;
    // Ann is available for two hours, away for three, available again for one: three hours.
    let set = |status: &'static str| {
        let manager = manager.clone();
        let url = app.url(&format!("/availability/{ann}/status"));
        async move { assert_eq!(manager.post(url).form(&[("status", status)]).send().await.unwrap().status(), 303) }
    };
    app.state.clock.advance(Duration::hours(2));
    set("away").await;
    app.state.clock.advance(Duration::hours(3));
    set("available").await;
    app.state.clock.advance(Duration::hours(1));
    // The admin's rule offers Texas leads to Dallas to claim; a vendor posts two; Ann claims the first.
    let dallas: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    let res = admin
        .post(app.url("/routing/rules"))
        .form(&[
            ("name", "Dallas Texas pool"),
            ("states", "TX"),
            ("method", "claim"),
            ("team_ids", &dallas.to_string()),
            ("fallback_method", "round_robin"),
            ("claim_minutes", "10"),
            ("sla_minutes", "600"),
            ("sla_action", "reassign"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "rule saved");
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let mut leads = Vec::new();
    for (first, last, phone) in [("Rosa", "Claimwell", "512-555-0142"), ("Tomas", "Waitlow", "512-555-0177")] {
        let res = vendor
            .post(app.url("/api/v1/leads"))
            .json(&serde_json::json!({"first_name": first, "last_name": last, "phone": phone,
                                      "property_state": "TX"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id: uuid::Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        leads.push(id);
    }
    let offer: i64 = sqlx::query_scalar("SELECT id FROM claim_offers WHERE lead_id = $1")
        .bind(leads[0])
        .fetch_one(app.db())
        .await
        .unwrap();
    let res = ann_client.post(app.url(&format!("/routing/offers/{offer}/claim"))).send().await.unwrap();
    assert_eq!(res.status(), 303, "Ann claims the first offer");

    let today = app.state.today();
    let (from, to) = (today - Duration::days(1), today + Duration::days(2));
    let page =
        manager.get(app.url(&format!("/dashboard?from={from}&to={to}"))).send().await.unwrap().text().await.unwrap();
    let start = page.find("id=\"availability-table\"").unwrap_or_else(|| panic!("no availability table: {page}"));
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    let row_start = table.find(">ann lo</td>").unwrap_or_else(|| panic!("no row for Ann: {table}"));
    let row = &table[row_start..row_start + table[row_start..].find("</tr>").unwrap()];
    let (hours_href, hours) = figure(row, "Hours available");
    let (offers_href, offers) = figure(row, "Offers");
    let (claimed_href, claimed) = figure(row, "Claimed");
    assert_eq!((hours.as_str(), offers.as_str(), claimed.as_str()), ("3.0", "2", "1"), "{row}");
    // Each figure opens a list whose total is the figure.
    let open = |client: &reqwest::Client, href: &str| {
        let req = client.get(app.url(href));
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, list) = open(&manager, &hours_href).await;
    assert_eq!(status, 200, "{hours_href}: {list}");
    assert_eq!(total(&list, "hours-total"), hours, "{hours_href}");
    assert_eq!(list.matches("<span class=\"pill ok\">available</span>").count(), 2, "two spans available: {list}");
    assert_eq!(list.matches("<span class=\"pill warn\">away</span>").count(), 1, "one away: {list}");
    let (_, list) = open(&manager, &offers_href).await;
    assert_eq!(total(&list, "offer-total"), offers, "{offers_href}");
    for lead in &leads {
        assert!(list.contains(&format!("href=\"/leads/{lead}\"")), "the manager opens each offered lead: {list}");
    }
    let (_, list) = open(&manager, &claimed_href).await;
    assert_eq!(total(&list, "claimed-total"), claimed, "{claimed_href}");
    assert!(list.contains(&format!("href=\"/leads/{}\"", leads[0])) && !list.contains(&leads[1].to_string()));
    // Ann opens her own history: the lead she claimed opens, the one still on offer is not hers to open.
    let (status, list) = open(&ann_client, &offers_href).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(total(&list, "offer-total"), offers);
    assert!(list.contains(&format!("href=\"/leads/{}\"", leads[0])), "{list}");
    assert!(!list.contains(&format!("/leads/{}", leads[1])) && !list.contains("Waitlow"), "{list}");
    // Whoever does not see Ann's row is told nothing about her: another LO, another team's manager.
    for (who, client) in [("Ben", &ben), ("Houston's manager", &houston_mgr)] {
        for href in [&hours_href, &offers_href, &claimed_href] {
            assert_eq!(open(client, href).await.0, 404, "{who}: {href}");
        }
    }
    let omar_history = format!("/availability/history?lo={omar}&from={from}&to={to}");
    assert_eq!(open(&manager, &omar_history).await.0, 404, "another team's LO");
    assert_eq!(open(&houston_mgr, &omar_history).await.0, 200, "their own team's LO");
    // The role is checked before the query; then an unknown parameter or a bad value is a 422 naming it.
    assert_eq!(open(&lossmit, &format!("{hours_href}&bogus=1")).await.0, 403);
    for (query, field) in [("&bogus=1", "bogus"), ("&offers=some", "offers")] {
        let (status, body) = open(&manager, &format!("{hours_href}{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert!(body.contains(&format!("{field}: ")), "names {field}: {body}");
    }
    for (href, field) in [
        (format!("/availability/history?lo={ann}&from=2026-02-30"), "from"),
        (format!("/availability/history?lo={ann}&to=soon"), "to"),
        ("/availability/history?lo=ann".to_string(), "lo"),
    ] {
        let (status, body) = open(&manager, &href).await;
        assert_eq!(status, 422, "{href}: {body}");
        assert!(body.contains(&format!("{field}: ")), "names {field}: {body}");
    }
}
