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
    let cells: Vec<&str> = row.split("class=\"num\">").skip(1).map(|c| c.split('<').next().unwrap()).collect();
    assert_eq!(cells[0], "3.0", "hours available: {row}");
    let given = &row[row.find("data-label=\"Leads given\"").unwrap()..];
    let href = given[given.find("href=\"").unwrap() + 6..].split('"').next().unwrap().replace("&#38;", "&");
    assert!(given.contains(">1</a>"), "leads given: {row}");
    // The figure opens the leads given to her, and the list's total is the figure.
    let list = manager.get(app.url(&href)).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"lead-total\"><span class=\"num\">1<"), "{href}: {list}");
    assert!(!table.contains("Houston") && table.matches("<tr>").count() == 2, "only the manager's team: {table}");
}
