//! Issue 22: with `--session-cache` each instance keeps a signed-in session for a few seconds, so a page needs no
//! round trip to learn who is calling. A change made anywhere (a deactivation, a sign-out, a new notification for
//! the bell) reaches every instance through PostgreSQL's notifications: the kept session stops answering within a
//! second, not when the entry would have aged out; and the instance that made the change forgets at once.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::auth::session_cache::SessionCache;
use uuid::Uuid;

/// Whether instance `app` keeps a session of `person`.
async fn kept(app: &TestApp, person: Uuid) -> bool {
    let hashes: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions WHERE user_id = $1")
        .bind(person)
        .fetch_all(app.db())
        .await
        .unwrap();
    let cache = SessionCache::of(&app.state);
    hashes.iter().any(|h| cache.get(h).is_some())
}

/// Serves `client`'s lead list on `app` until `app` keeps `person`'s session (its listener listening).
async fn keep(app: &TestApp, client: &reqwest::Client, person: Uuid) {
    let start = Instant::now();
    while !kept(app, person).await {
        assert!(start.elapsed() < Duration::from_secs(5), "the instance never kept the session");
        assert_eq!(client.get(app.url("/leads")).send().await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 1 s) until `check` holds for the lead list page `app` serves to `client`; how long it took.
async fn within_a_second(app: &TestApp, client: &reqwest::Client, check: impl Fn(u16, &str) -> bool) -> Duration {
    let since = Instant::now();
    loop {
        let res = client.get(app.url("/leads")).send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        if check(status, &body) {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(1), "still {status} a second after the change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_on_one_instance_reaches_a_kept_session_on_the_other_within_a_second() {
    let one = TestApp::spawn_with(|c| c.session_cache = true).await;
    let two = TestApp::serve_database(one.url.clone(), one.db_name.clone(), |c| c.session_cache = true).await;
    let (_, admin) = one.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let ann = one.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    let bo = one.create_user(Role::Lo, "bo@branch.test", Some("Dallas"), &["TX"]).await;
    // Signed in through instance one; the same cookie goes to instance two (one host, as behind a load balancer).
    let (ann_web, bo_web) = (one.login("ann@branch.test").await, one.login("bo@branch.test").await);
    keep(&two, &ann_web, ann).await;
    keep(&two, &bo_web, bo).await;
    let page = ann_web.get(two.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Notifications: 0 unread"), "the bell starts empty");

    // A notification for Ann (as a job on any instance writes one): instance two's bell counts it within a second.
    sqlx::query("INSERT INTO notifications (user_id, kind, title) VALUES ($1, 'lead_assigned', 'A new lead')")
        .bind(ann)
        .execute(one.db())
        .await
        .unwrap();
    let took = within_a_second(&two, &ann_web, |s, body| s == 200 && body.contains("Notifications: 1 unread")).await;
    eprintln!("the new notification reached instance two's kept session in {took:?}");
    assert!(kept(&two, bo).await, "Bo's kept session is not Ann's notification's business");

    // Bo signs out on instance one: instance two no longer takes his cookie within a second.
    keep(&two, &bo_web, bo).await;
    let res = bo_web.post(one.url("/logout")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    within_a_second(&two, &bo_web, |s, _| s != 200).await;

    // The admin deactivates Ann on instance one: instance two refuses her session within a second.
    keep(&two, &ann_web, ann).await;
    let res = admin.post(one.url(&format!("/admin/users/{ann}/deactivate"))).form(&[("hand_over", "")]).send().await;
    assert_eq!(res.unwrap().status(), 303);
    let took = within_a_second(&two, &ann_web, |s, _| s != 200).await;
    eprintln!("deactivation reached instance two in {took:?}");
    assert!(!kept(&two, ann).await);
}

/// The instance that changes a session or a person forgets at once, before it answers: its very next request
/// never runs inside the notification's delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_instance_that_makes_the_change_forgets_the_session_before_it_answers() {
    let app = TestApp::spawn_with(|c| c.session_cache = true).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    let bo = app.create_user(Role::Lo, "bo@branch.test", Some("Dallas"), &["TX"]).await;
    let (ann_web, bo_web) = (app.login("ann@branch.test").await, app.login("bo@branch.test").await);

    // Ann opens a notification: the page it leads to counts one fewer at once.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notifications (user_id, kind, title, link) VALUES ($1, 'lead_assigned', 'A new lead', '/leads')
         RETURNING id",
    )
    .bind(ann)
    .fetch_one(app.db())
    .await
    .unwrap();
    let start = Instant::now();
    loop {
        keep(&app, &ann_web, ann).await;
        let page = ann_web.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
        if page.contains("Notifications: 1 unread") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "the new notification never reached the bell");
    }
    let res = ann_web.post(app.url(&format!("/notifications/{id}/read"))).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert!(!kept(&app, ann).await, "forgotten before the notification's page was answered");
    let page = ann_web.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Notifications: 0 unread"));

    // Bo signs out, the admin deactivates Ann: both are forgotten before the answer.
    keep(&app, &bo_web, bo).await;
    let res = bo_web.post(app.url("/logout")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert!(!kept(&app, bo).await, "forgotten before the sign-out was answered");
    assert_ne!(bo_web.get(app.url("/leads")).send().await.unwrap().status(), 200);
    keep(&app, &ann_web, ann).await;
    let res = admin.post(app.url(&format!("/admin/users/{ann}/deactivate"))).form(&[("hand_over", "")]).send().await;
    assert_eq!(res.unwrap().status(), 303);
    assert!(!kept(&app, ann).await, "forgotten before the deactivation was answered");
    assert_ne!(ann_web.get(app.url("/leads")).send().await.unwrap().status(), 200);
}
