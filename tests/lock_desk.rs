//! The lock desk's figures (issue 20), computed by hand from locks made through the product: the board of locks
//! lapsing soon with "will it close in time?", extension cost per LO, team and month, fall-out and pull-through
//! by lock cohort with lock-to-close days, and the loans behind each figure — each within the viewer's scope.

mod common;

use chrono::{Duration, NaiveDate};
use common::{TestApp, text_of};
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// The text of the table with this id on `html`.
fn table(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no table {id}"));
    let start = html[at..].find('>').unwrap() + at + 1;
    let end = html[at..].find("</table>").unwrap() + at;
    // Each cell's text apart from the next.
    text_of(&html[start..end].replace('<', " <")).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The href of the first link in the body of the table with this id.
fn first_link(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap();
    let at = html[at..].find("<tbody").unwrap() + at;
    let href = html[at..].find("href=\"").unwrap() + at + 6;
    common::unescape_href(&html[href..href + html[href..].find('"').unwrap()])
}

async fn page(who: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let res = who.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

struct World {
    app: TestApp,
    today: NaiveDate,
    ann_lo: Uuid,
}

async fn lead(app: &TestApp, token: &str, last: &str, amount: &str) -> Uuid {
    let res = app
        .api(token)
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": last, "loan_amount": amount, "email": format!("pat.{}@borrower.test", last.to_lowercase())}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

#[allow(clippy::too_many_arguments)]
async fn lock(
    app: &TestApp,
    token: &str,
    lead: Uuid,
    investor: &str,
    amount_cents: i64,
    locked_on: NaiveDate,
    period: i32,
    closing_on: Option<NaiveDate>,
) -> Uuid {
    let res = app
        .api(token)
        .post(app.url("/api/v1/locks"))
        .json(&json!({
            "lead_id": lead, "investor_id": investor, "product": "30-year fixed", "rate_milli": 6875,
            "price_bps": 25, "loan_amount_cents": amount_cents, "locked_on": locked_on, "period_days": period,
            "closing_on": closing_on,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let today = app.state.today();
    let admin = app.create_user(Role::Admin, "ada@example.com", None, &[]).await;
    let ann = app.create_user(Role::Lo, "ann@example.com", Some("North"), &["TX"]).await;
    let bo = app.create_user(Role::Lo, "bo@example.com", Some("North"), &["TX"]).await;
    let cy = app.create_user(Role::Lo, "cy@example.com", Some("South"), &["TX"]).await;
    let mona = app.create_user(Role::Manager, "mona@example.com", Some("North"), &[]).await;
    app.create_user(Role::Manager, "sam@example.com", Some("South"), &[]).await;
    app.create_user(Role::Marketing, "mia@example.com", None, &[]).await;
    let res = app
        .api(&app.token_for(admin).await)
        .post(app.url("/api/v1/lock-investors"))
        .json(&json!({"name": "Harbor", "schedule": [{"days": 7, "cost_bps": 5}, {"days": 15, "cost_bps": 12}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let investor = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let (ta, tb, tc, tm) =
        (app.token_for(ann).await, app.token_for(bo).await, app.token_for(cy).await, app.token_for(mona).await);
    let d = |n: i64| today + Duration::days(n);
    // Ann: Aster locked 40 days ago for 60 (last day in 20 days), closing in 30 — late until extended.
    let aster = lead(&app, &ta, "Aster", "412500").await;
    let aster_lock = lock(&app, &ta, aster, &investor, 41_250_000, d(-40), 60, Some(d(30))).await;
    // Ann: Birch locked 10 days ago for 15 (last day in 5 days): on the 7-day board; then funded.
    let birch = lead(&app, &ta, "Birch", "300000").await;
    lock(&app, &ta, birch, &investor, 30_000_000, d(-10), 15, Some(d(4))).await;
    // Bo: Cedar locked 20 days ago for 30, extended 7 days, then cancelled (fell out).
    let cedar = lead(&app, &tb, "Cedar", "250000").await;
    let cedar_lock = lock(&app, &tb, cedar, &investor, 25_000_000, d(-20), 30, None).await;
    // Cy (South): Dahlia locked 3 days ago for 15 (last day in 12 days).
    let dahlia = lead(&app, &tc, "Dahlia", "500000").await;
    lock(&app, &tc, dahlia, &investor, 50_000_000, d(-3), 15, None).await;

    let mona_api = app.api(&tm);
    for (id, days) in [(aster_lock, 15), (cedar_lock, 7)] {
        let res = mona_api
            .post(app.url(&format!("/api/v1/locks/{id}/extend")))
            .json(&json!({"days": days}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let res = app
        .api(&tb)
        .post(app.url(&format!("/api/v1/locks/{cedar_lock}/cancel")))
        .json(&json!({"note": "Borrower withdrew"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.move_stage(&app.api(&ta), birch, "funded", None).await;
    World { app, today, ann_lo: ann }
}

#[tokio::test]
async fn the_desk_adds_up_by_hand_and_each_figure_opens_its_loans() {
    let w = world().await;
    let app = &w.app;
    let mona = app.login("mona@example.com").await;
    let html = page(&mona, app, "/locks/desk").await;

    // The board: Birch lapses in 5 days; Aster (35 days after its extension) and South's Dahlia are not on it.
    let board = table(&html, "expiring");
    assert!(board.contains("Pat Birch") && !board.contains("Aster") && !board.contains("Dahlia"), "{board}");
    assert!(board.contains(&(w.today + Duration::days(5)).to_string()), "{board}");
    // Aster closes in 30 days, its lock (extended 15) now runs 35: in time; on a 60-day board it shows so.
    let wide = table(&page(&mona, app, "/locks/desk?days=60").await, "expiring");
    assert!(
        wide.contains("Pat Aster") && wide.contains("15 days · $495.00") && !wide.contains("Closes late"),
        "{wide}"
    );

    // Extension cost: 12 bps of $412,500 = $495.00 (Ann), 5 bps of $250,000 = $125.00 (Bo); North $620.00.
    let by_lo = table(&html, "cost-by-lo");
    assert!(by_lo.contains("ann 1 1 15 $495.00") && by_lo.contains("bo 1 1 7 $125.00"), "{by_lo}");
    assert!(table(&html, "cost-by-team").contains("North 2 2 22 $620.00"), "{}", table(&html, "cost-by-team"));
    assert!(table(&html, "cost-by-month").contains("2 2 22 $620.00"));

    // The cohort: Aster (pending), Birch (funded 10 days after its lock), Cedar (cancelled: fell out).
    let total = table(&html, "cohort-total");
    assert!(total.contains("All locked loans 3 1 1 1 33.3% 33.3% 10"), "{total}");
    let by_source = table(&html, "cohort-by-source");
    assert!(by_source.contains(" 3 1 1 1 "), "{by_source}");

    // The cost figure opens the loan it was spent on, with the same dollars.
    let href = first_link(&html, "cost-by-lo");
    let list = text_of(&page(&mona, app, &href).await);
    assert!(list.contains("Pat Aster") && list.contains("$495.00") && !list.contains("Pat Cedar"), "{href}: {list}");
    // The funded count opens Birch only.
    let funded =
        page(&mona, app, &format!("/locks?from={}&to={}&outcome=funded", w.today - Duration::days(60), w.today)).await;
    let funded = table(&funded, "locks");
    assert!(funded.contains("Pat Birch") && !funded.contains("Pat Aster") && !funded.contains("Pat Cedar"), "{funded}");
}

#[tokio::test]
async fn the_dashboard_shows_pull_through_by_lock_month() {
    let w = world().await;
    let app = &w.app;
    let mona = app.login("mona@example.com").await;
    let from = w.today - Duration::days(60);
    let html = page(&mona, app, &format!("/dashboard?from={from}&to={}", w.today + Duration::days(1))).await;
    let t = table(&html, "lock-pull-through");
    // Aster (first locked 40 days ago, pending), Cedar (20, fell out), Birch (10, funded): by month by hand.
    let mut months: std::collections::BTreeMap<String, [i64; 4]> = Default::default();
    for (ago, outcome) in [(40, 2), (20, 1), (10, 0)] {
        let m = months.entry((w.today - Duration::days(ago)).format("%Y-%m").to_string()).or_default();
        m[0] += 1;
        m[1 + outcome] += 1;
    }
    for (month, [locked, funded, fell, pending]) in &months {
        let row = format!("{month} {locked} {funded} {fell} {pending}");
        assert!(t.contains(&row), "{row} in {t}");
    }
    // Each month's count opens exactly its loans.
    let href = first_link(&html, "lock-pull-through");
    let (month, [locked, ..]) = months.iter().next().unwrap();
    assert!(href.contains(&format!("from={}", month)) || href.contains(&from.to_string()), "{href}");
    assert_eq!(app.list_total(&mona, &href).await, *locked, "{href}");
    // South's manager counts Dahlia alone (first locked 3 days ago, pending).
    let sam = page(&app.login("sam@example.com").await, app, "/dashboard").await;
    let month = (w.today - Duration::days(3)).format("%Y-%m");
    assert!(
        table(&sam, "lock-pull-through").contains(&format!("{month} 1 0 0 1 0.0%")),
        "{}",
        table(&sam, "lock-pull-through")
    );
    // Marketing works no loans: no lock section.
    let mia = page(&app.login("mia@example.com").await, app, "/dashboard").await;
    assert!(!mia.contains("lock-pull-through"));
}

#[tokio::test]
async fn each_viewer_sees_only_the_loans_in_their_scope() {
    let w = world().await;
    let app = &w.app;
    // South's manager sees Dahlia and nothing of North's costs.
    let sam = page(&app.login("sam@example.com").await, app, "/locks/desk?days=60").await;
    assert!(table(&sam, "expiring").contains("Pat Dahlia"));
    assert!(!sam.contains("Pat Aster") && !sam.contains("$495.00") && !sam.contains("$125.00"));
    // Ann sees her own loans and costs, not her teammate Bo's.
    let ann = app.login("ann@example.com").await;
    let html = page(&ann, app, "/locks/desk?days=60").await;
    assert!(html.contains("$495.00") && !html.contains("$125.00") && !html.contains("Pat Cedar"));
    let list = page(&ann, app, "/locks?status=cancelled").await;
    assert!(!list.contains("Pat Cedar"), "a teammate's cancelled lock");
    // A list filter naming another LO shows nothing to Ann (scope first, then the filter).
    let bo_filter = page(&ann, app, &format!("/locks?lo={}", Uuid::new_v4())).await;
    assert!(table(&bo_filter, "locks").contains("No locks match"));
    let own = table(&page(&ann, app, &format!("/locks?lo={}", w.ann_lo)).await, "locks");
    assert!(own.contains("Pat Aster") && own.contains("Pat Birch"), "{own}");
    // Marketing does not work locks.
    let mia = app.login("mia@example.com").await;
    assert_eq!(mia.get(app.url("/locks/desk")).send().await.unwrap().status(), 403);
    assert_eq!(mia.get(app.url("/locks")).send().await.unwrap().status(), 403);
    // A bad filter is a 422 naming it, never silently ignored.
    assert_eq!(ann.get(app.url("/locks?status=maybe")).send().await.unwrap().status(), 422);
    assert_eq!(ann.get(app.url("/locks/desk?from=yesterday")).send().await.unwrap().status(), 422);
}
