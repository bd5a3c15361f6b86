//! Domain events (issue 16): a lead's creation, its assignments, stage changes and funding each leave exactly
//! one outbox row of their kind, written in the transaction that made the change; a change that rolls back
//! leaves none. The consumers the composition root wires (the portfolio, webhooks) react through the job
//! queue, once each however often the job runs and however many instances dispatch at the same time; the
//! in-process hooks (the bell) react inside the caller's transaction.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

async fn outbox(app: &TestApp, lead: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM domain_events WHERE lead_id = $1 ORDER BY id")
        .bind(lead)
        .fetch_all(app.db())
        .await
        .unwrap()
}

async fn version(api: &reqwest::Client, app: &TestApp, lead: Uuid) -> Value {
    let v: Value = api.get(app.url(&format!("/api/v1/leads/{lead}"))).send().await.unwrap().json().await.unwrap();
    v["version"].clone()
}

#[tokio::test]
async fn each_change_of_a_lead_leaves_one_outbox_row_in_its_own_transaction() {
    let app = TestApp::spawn().await;
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    let bob = app.create_user(Role::Lo, "bob@branch.test", Some("Dallas"), &["TX"]).await;
    let admin = app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let (ann_api, admin_api) = (app.api(&app.token_for(ann).await), app.api(&app.token_for(admin).await));

    // Ann enters her borrower: created, and assigned to her.
    let res = ann_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": "Outbox", "email": "pat@outbox.test", "loan_amount": "300000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(outbox(&app, lead).await, ["lead.created", "lead.assigned"]);
    let created: Value =
        sqlx::query_scalar("SELECT payload FROM domain_events WHERE lead_id = $1 AND kind = 'lead.created'")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(created["lead"]["last_name"], "Outbox");

    // A stage move refused (lost without a reason) writes nothing; the real one writes one row.
    let res = ann_api
        .post(app.url(&format!("/api/v1/leads/{lead}/stage")))
        .json(&json!({"stage": "lost", "version": version(&ann_api, &app, lead).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(outbox(&app, lead).await.len(), 2);
    let res = ann_api
        .post(app.url(&format!("/api/v1/leads/{lead}/stage")))
        .json(&json!({"stage": "contacted", "version": version(&ann_api, &app, lead).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The admin hands it to Bob: one assignment row, naming him.
    let res = admin_api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&json!({"lo_id": bob, "reason": "Ann is on leave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let assigned: Value = sqlx::query_scalar(
        "SELECT payload FROM domain_events WHERE lead_id = $1 AND kind = 'lead.assigned' ORDER BY id DESC LIMIT 1",
    )
    .bind(lead)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(assigned["to_lo_id"], bob.to_string());

    // Bob funds it: a stage change and a funding; the portfolio's consumer makes the past client's loan when the
    // job queue dispatches the event, once however often it runs.
    let bob_api = app.api(&app.token_for(bob).await);
    let res = bob_api
        .post(app.url(&format!("/api/v1/leads/{lead}/stage")))
        .json(&json!({"stage": "funded", "version": version(&bob_api, &app, lead).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        outbox(&app, lead).await,
        ["lead.created", "lead.assigned", "lead.stage_changed", "lead.assigned", "lead.stage_changed", "lead.funded"]
    );
    let loans = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM portfolio_loans WHERE lead_id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap()
    };
    assert_eq!(loans().await, 0, "not inside the request: through the job queue");
    assert!(app.run_jobs().await > 0);
    assert_eq!(loans().await, 1);
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM domain_events WHERE lead_id = $1 AND dispatched_at IS NULL")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(pending, 0, "every event with a consumer is dispatched");
    // A retried job (or the sweep) finds nothing left to apply.
    let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM domain_events WHERE lead_id = $1")
        .bind(lead)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(loanfloor::events::dispatch(&app.state, &all, app.state.clock.now()).await.unwrap(), 0);
    assert_eq!(loans().await, 1);
}

/// Two instances dispatching the same events at once apply each once: one portfolio loan, one webhook
/// delivery per event and endpoint.
#[tokio::test]
async fn two_dispatchers_at_once_apply_each_event_once() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_webhook(&admin, "http://127.0.0.1:9/hook", &["lead.funded"]).await;
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    let api = app.api(&app.token_for(ann).await);
    let mut leads = Vec::new();
    for i in 0..6 {
        let res = api
            .post(app.url("/api/v1/leads"))
            .json(&json!({"first_name": "Twin", "last_name": format!("Dispatch{i}"), "email": format!("t{i}@d.test")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        app.move_stage(&api, lead, "funded", None).await;
        leads.push(lead);
    }
    // A second instance's state on the same database.
    let other = loanfloor::state(app.db().clone(), (*app.state.config).clone());
    let now = app.state.clock.now();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM domain_events WHERE dispatched_at IS NULL")
        .fetch_one(app.db())
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        loanfloor::events::dispatch_pending(&app.state, now),
        loanfloor::events::dispatch_pending(&other, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a + b) as i64, pending, "between them they applied each pending event once ({a} + {b})");
    assert!(pending >= 18, "created, stage changed and funded for six leads: {pending}");
    let count = |sql: &'static str| {
        let (db, leads) = (app.db().clone(), leads.clone());
        async move { sqlx::query_scalar::<_, i64>(sql).bind(&leads).fetch_one(&db).await.unwrap() }
    };
    assert_eq!(count("SELECT count(*) FROM portfolio_loans WHERE lead_id = ANY($1)").await, 6);
    let funded = "SELECT count(*) FROM webhook_deliveries WHERE event = 'lead.funded'
                  AND (payload->>'lead_id')::uuid = ANY($1)";
    assert_eq!(count(funded).await, 6, "one delivery per funding");
    assert_eq!(count("SELECT count(*) FROM domain_events WHERE lead_id = ANY($1) AND dispatched_at IS NULL").await, 0);
}

#[tokio::test]
async fn an_event_emitted_in_a_transaction_that_rolls_back_leaves_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    let lead = Uuid::new_v4();
    let payload = json!({"lead_id": lead});
    let mut tx = app.db().begin().await.unwrap();
    let now = app.state.clock.now();
    loanfloor::events::publish(&mut tx, &["lead.funded"], &[lead], &[payload], now).await.unwrap();
    loanfloor::events::notify(&mut tx, ann, "test", "Told inside a transaction", "/").await.unwrap();
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM domain_events WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 1, "the outbox row is written in the caller's transaction");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'events.dispatch'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "with its dispatch job");
    tx.rollback().await.unwrap();
    assert!(outbox(&app, lead).await.is_empty());
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'events.dispatch'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nor its job");
    let told: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1")
        .bind(ann)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(told, 0, "the bell's subscriber wrote inside the same transaction, so nothing is left");
    // And a lead naming an unknown referrer is refused whole: no lead, no outbox row.
    let api = app.api(&app.token_for(ann).await);
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM domain_events").fetch_one(app.db()).await.unwrap();
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ref", "last_name": "Fail", "email": "ref@fail.test",
                      "referred_by_loan_number": "NO-SUCH-LOAN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM domain_events").fetch_one(app.db()).await.unwrap();
    assert_eq!(after, before);
}
