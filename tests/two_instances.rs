//! Scaling out: two instances of the application on one PostgreSQL, both with their job workers running, take
//! a burst of leads from a lead vendor split between them. Every lead is routed exactly once, the rotation
//! stays fair across both instances, and every job runs once.

mod common;

use std::time::Duration;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::json;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_route_every_lead_once() {
    let sent = burst_over_two_instances(None).await;
    assert!(sent.iter().all(|s| *s == (201, true)), "every lead accepted, with its LO: {sent:?}");
}

/// Answered as soon as saved (`--answer-before-routing-ms 0`), a burst is routed behind the answers: still
/// every lead exactly once and the rotation fair across both instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leads_answered_before_routing_are_each_routed_once_and_fairly() {
    let sent = burst_over_two_instances(Some(Duration::ZERO)).await;
    assert!(sent.iter().all(|s| s.0 == 201), "every lead accepted: {sent:?}");
}

/// Sends 200 new leads to two instances on one database, eight at a time, with the instances answering after
/// at most `wait` for each lead's routing (None: the tests' default, a minute); checks that every lead is
/// routed exactly once, fairly, and every job runs once. Returns each answer's status and whether it named an LO.
async fn burst_over_two_instances(wait: Option<Duration>) -> Vec<(u16, bool)> {
    let tweak = |c: &mut loanfloor::config::Config| {
        if let Some(w) = wait {
            c.answer_before_routing = w;
        }
    };
    let one = TestApp::spawn_with(tweak).await;
    let two = TestApp::serve_database(one.url.clone(), one.db_name.clone(), tweak).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = [one.state.clone(), two.state.clone()].map(|s| loanfloor::jobs::spawn_worker(s, stop_rx.clone()));

    // Four Texas LOs on the same team, available around the clock (set through the admin's rule and profile).
    let mut officers = Vec::new();
    for i in 0..4 {
        officers.push(one.create_user(Role::Lo, &format!("lo{i}@branch.test"), Some("Dallas"), &["TX"]).await);
    }
    let (_, admin) = one.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    one.add_texas_rule(&admin, "60").await;
    let vendor = one.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let token = one.token_with(vendor, &["leads:write"]).await;

    // 200 leads, half through each instance, eight at a time.
    let apps = [&one, &two];
    let mut sent = Vec::new();
    for batch in 0..25 {
        let mut tasks = Vec::new();
        for k in 0..8 {
            let n = batch * 8 + k;
            let app = apps[n % 2];
            let api = app.api(&token);
            let url = app.url("/api/v1/leads");
            tasks.push(tokio::spawn(async move {
                api.post(url)
                    .json(&json!({"first_name": "Burst", "last_name": format!("Lead{n}"),
                                  "phone": format!("512{:07}", 2_000_000 + n), "property_state": "TX",
                                  "source": "web", "external_id": format!("B-{n}")}))
                    .send()
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            // Routed in a batch with the leads around it, and answered once its batch committed.
            sent.push((status, body["assigned_lo"]["id"].is_string()));
        }
    }
    // Every lead decided (at once when the answers waited for routing; behind them otherwise).
    for _ in 0..150 {
        let decided: i64 = sqlx::query_scalar("SELECT count(DISTINCT lead_id) FROM routing_decisions")
            .fetch_one(one.db())
            .await
            .unwrap();
        if decided >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Let both workers drain what is due.
    for _ in 0..100 {
        let due: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') AND run_at <= now()")
                .fetch_one(one.db())
                .await
                .unwrap();
        if due == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }

    let db = one.db();
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(db).await.unwrap();
    assert_eq!(leads, 200);
    let twice: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT lead_id, count(*) FROM assignments GROUP BY lead_id HAVING count(*) <> 1")
            .fetch_all(db)
            .await
            .unwrap();
    assert!(twice.is_empty(), "every lead assigned exactly once: {twice:?}");
    let decided: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT lead_id, count(*) FROM routing_decisions GROUP BY lead_id HAVING count(*) <> 1")
            .fetch_all(db)
            .await
            .unwrap();
    assert!(decided.is_empty(), "one routing decision per lead: {decided:?}");
    let per_lo: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM leads WHERE assigned_lo_id = ANY($1) GROUP BY assigned_lo_id ORDER BY 1",
    )
    .bind(&officers)
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(per_lo.iter().sum::<i64>(), 200, "every lead reached an LO: {per_lo:?}");
    assert!(per_lo.len() == 4 && per_lo[3] - per_lo[0] <= 1, "the rotation is fair across instances: {per_lo:?}");
    let rerun: Vec<(String, i32, String)> =
        sqlx::query_as("SELECT kind, attempts, status FROM jobs WHERE attempts > 1 OR status = 'failed'")
            .fetch_all(db)
            .await
            .unwrap();
    assert!(rerun.is_empty(), "every job ran once: {rerun:?}");
    sent
}
