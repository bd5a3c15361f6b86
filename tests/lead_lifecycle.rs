//! One lead lifecycle: a stage change leaves the same traces whichever path made it — the lead page, the API,
//! the cadence's move to nurture, the LOS status import, a merge, the history import: a `stage_changes` row, the
//! one audit action `lead.stage_changed`, the `lead.stage_changed` webhook delivery (plus `lead.funded` for
//! funding) and a metric contribution that agrees with the lead's facts. Assignments and new leads likewise.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// Whether the lead's rollup contribution rows (kept incrementally as the change was written) are exactly what
/// its facts give when recomputed (the `metrics_contributions` view), and it has one.
async fn contribution_agrees(app: &TestApp, lead: Uuid) -> bool {
    let cols = "kind, day, team_id, lo_id, source, detail, reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, \
                volume_cents";
    let (kept, differ): (i64, i64) = sqlx::query_as(&format!(
        "SELECT (SELECT count(*) FROM metrics_lead_contrib WHERE lead_id = $1),
                (SELECT count(*) FROM ((SELECT {cols} FROM metrics_lead_contrib WHERE lead_id = $1
                                        EXCEPT ALL SELECT {cols} FROM metrics_contributions WHERE lead_id = $1)
                                       UNION ALL
                                       (SELECT {cols} FROM metrics_contributions WHERE lead_id = $1
                                        EXCEPT ALL SELECT {cols} FROM metrics_lead_contrib WHERE lead_id = $1)) d)"
    ))
    .bind(lead)
    .fetch_one(app.db())
    .await
    .unwrap();
    kept > 0 && differ == 0
}

/// The traces a stage change left for one lead: (history rows, audit actions, webhook deliveries) per move to
/// `to`, and whether its metric contribution agrees with its facts.
async fn traces(app: &TestApp, lead: Uuid, to: &str) -> (i64, Vec<String>, Vec<String>, bool) {
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM stage_changes WHERE lead_id = $1 AND to_stage = $2")
        .bind(lead)
        .bind(to)
        .fetch_one(app.db())
        .await
        .unwrap();
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity = 'lead' AND entity_id = $1 AND after->>'stage' = $2 ORDER BY id",
    )
    .bind(lead.to_string())
    .bind(to)
    .fetch_all(app.db())
    .await
    .unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event FROM webhook_deliveries WHERE payload->>'lead_id' = $1 AND payload->>'to' = $2
         ORDER BY event",
    )
    .bind(lead.to_string())
    .bind(to)
    .fetch_all(app.db())
    .await
    .unwrap();
    (history, audit, events, contribution_agrees(app, lead).await)
}

#[tokio::test]
async fn every_path_of_a_stage_change_leaves_the_same_traces() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_webhook(&admin, "http://127.0.0.1:9/hook", &["lead.stage_changed", "lead.funded"]).await;
    app.add_texas_rule(&admin, "600").await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", None, &["TX"]).await;
    // The LO works around the clock (set by the admin on the LO's page), so routing never waits for a shift.
    app.set_lo_profile(&admin, lo, &[("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")])
        .await;

    // 1. The API: the LO moves their lead to contacted.
    let lo_api = app.api(&app.token_for(lo).await);
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": "Api", "email": "pat@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let by_api: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let res = lo_api
        .post(app.url(&format!("/api/v1/leads/{by_api}/stage")))
        .json(&json!({"stage": "contacted", "version": created["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // 2. The cadence: a vendor lead routed to the LO and never reached goes to nurture when the schedule ends.
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Opal", "last_name": "Cadence", "phone": "512-555-0101", "source": "direct",
                      "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let by_cadence: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    app.state.clock.advance(Duration::minutes(31));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    for _ in 0..15 {
        app.state.clock.advance(Duration::days(1));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }

    // 3. The LOS status import funds the API lead (given its loan number through the API).
    let current: Value =
        lo_api.get(app.url(&format!("/api/v1/leads/{by_api}"))).send().await.unwrap().json().await.unwrap();
    let res = lo_api
        .patch(app.url(&format!("/api/v1/leads/{by_api}")))
        .json(&json!({"loan_number": "LN-7", "version": current["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let los_feed = app.api(&app.token_for(vendor).await);
    let body = json!({ "loan_number": "LN-7", "status": "funded", "at": "2026-11-20T15:00:00Z" });
    let res = los_feed.post(app.url("/api/v1/los/status")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // 4. A merge: the admin merges the LO's second entry of a borrower into the first; the duplicate is lost.
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Pat", "last_name": "Api", "email": "pat.again@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let duplicate: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // (Signed in again: a fortnight has passed on the clock since the morning's sign-in.)
    let res = app
        .login("admin@branch.test")
        .await
        .post(app.url(&format!("/leads/{by_api}/merge")))
        .form(&[("other", duplicate.to_string()), ("other_id", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], format!("/leads/{by_api}"), "merged");

    // 5. The lead page: the LO signs in and moves a lead on its stage form.
    let lo_page = app.login("lo@branch.test").await;
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Paige", "last_name": "Form", "email": "paige@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let by_page: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let version = created["version"].to_string();
    let res = lo_page
        .post(app.url(&format!("/leads/{by_page}/stage")))
        .form(&[("stage", "contacted"), ("version", version.as_str()), ("lost_reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

    // 6. The history import: a lead brought over from another CRM by its external id, with its past move.
    let res = lo_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Hal", "last_name": "Story", "email": "hal@example.com", "source": "zillow",
                      "external_id": "Z-900"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let by_import: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let when = (app.state.clock.now() - Duration::hours(1)).to_rfc3339();
    let file = std::env::temp_dir().join(format!("lf-lifecycle-{}.csv", Uuid::new_v4()));
    std::fs::write(&file, format!("external_id,source,from_stage,to_stage,at\nZ-900,zillow,new,contacted,{when}\n"))
        .unwrap();
    let args = loanfloor::config::ImportArgs { file: file.clone(), skip_bad: false, as_email: None };
    let kind = loanfloor::leads::import::Kind::StageChanges;
    loanfloor::leads::history_import::cli(&app.state, kind, &args).await.unwrap();
    std::fs::remove_file(&file).unwrap();

    // The events reach the webhooks through the job queue.
    app.run_jobs().await;
    let one = |audit: &str, event: &str| (1i64, vec![audit.to_string()], vec![event.to_string()], true);
    assert_eq!(traces(&app, by_page, "contacted").await, one("lead.stage_changed", "lead.stage_changed"), "page");
    assert_eq!(
        traces(&app, by_import, "contacted").await,
        one("lead.stage_changed", "lead.stage_changed"),
        "the history import"
    );
    assert_eq!(traces(&app, duplicate, "lost").await, one("lead.stage_changed", "lead.stage_changed"), "a merge");
    assert_eq!(traces(&app, by_api, "contacted").await, one("lead.stage_changed", "lead.stage_changed"), "API");
    assert_eq!(
        traces(&app, by_cadence, "nurture").await,
        one("lead.stage_changed", "lead.stage_changed"),
        "the cadence's move to nurture"
    );
    let funded =
        (1i64, vec!["lead.stage_changed".to_string()], vec!["lead.funded".into(), "lead.stage_changed".into()], true);
    assert_eq!(traces(&app, by_api, "funded").await, funded, "the LOS status import, funding");
    let loans: i64 = sqlx::query_scalar("SELECT count(*) FROM portfolio_loans WHERE lead_id = $1")
        .bind(by_api)
        .fetch_one(app.db())
        .await
        .unwrap_or(-1);
    assert_eq!(loans, 1, "a funded lead becomes a portfolio loan");
}

/// Assignments leave the same traces whichever path made them — routing a new lead, a manager's reassignment
/// through the API, offboarding's hand-over: one `assignments` row, the one audit action `lead.assign` and
/// one `lead.assigned` outbox row each.
#[tokio::test]
async fn every_path_of_an_assignment_leaves_the_same_traces() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let always = [("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")];
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("Dallas"), &["TX"]).await;
    app.set_lo_profile(&admin, ann, &always).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let res = app
        .api(&app.token_for(vendor).await)
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ray", "last_name": "Routed", "phone": "512-555-0111", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // A second LO joins; the admin reassigns the lead to her, then she leaves and the lead goes back to Ann.
    let bea = app.create_user(Role::Lo, "bea@branch.test", Some("Dallas"), &["TX"]).await;
    app.set_lo_profile(&admin, bea, &always).await;
    let admin_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@branch.test'").fetch_one(app.db()).await.unwrap();
    let res = app
        .api(&app.token_for(admin_id).await)
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&json!({"lo_id": bea, "reason": "Bea speaks Spanish"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = admin
        .post(app.url(&format!("/admin/users/{bea}/deactivate")))
        .form(&[("hand_over", "lo"), ("to_lo", &ann.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let count = |sql: &'static str| {
        let db = app.db().clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(lead).fetch_one(&db).await.unwrap() }
    };
    let history = count("SELECT count(*) FROM assignments WHERE lead_id = $1").await;
    let audit = count("SELECT count(*) FROM audit_log WHERE action = 'lead.assign' AND entity_id = $1::text").await;
    let outbox = count("SELECT count(*) FROM domain_events WHERE kind = 'lead.assigned' AND lead_id = $1").await;
    assert_eq!((history, audit, outbox), (3, 3, 3), "routing, the reassignment and the hand-over, one of each");
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT assigned_lo_id FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(owner, Some(ann));

    // Ann's own new lead and her one-row CSV import are each given to her; then a bulk reassignment on the
    // admin's page moves both to Cal.
    let ann_api = app.api(&app.token_for(ann).await);
    let res = ann_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Owen", "last_name": "Own", "email": "owen@example.com", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let own: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let csv = "first_name,last_name,email,property_state\nIma,Ported,ima@example.com,TX\n";
    let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("leads.csv").mime_str("text/csv");
    let res = app
        .login("ann@branch.test")
        .await
        .post(app.url("/leads/import"))
        .multipart(reqwest::multipart::Form::new().part("file", part.unwrap()))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status() == 303, "{}", res.status());
    let imported: Uuid =
        sqlx::query_scalar("SELECT id FROM leads WHERE email = 'ima@example.com'").fetch_one(app.db()).await.unwrap();
    let cal = app.create_user(Role::Lo, "cal@branch.test", Some("Dallas"), &["TX"]).await;
    let res = admin
        .post(app.url("/leads/reassign"))
        .form(&[
            ("lead", own.to_string()),
            ("lead", imported.to_string()),
            ("to", format!("lo:{cal}")),
            ("reason", "Cal takes Ann's new borrowers".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    for (lead, first) in [(own, "created by the loan officer"), (imported, "imported by the loan officer")] {
        let reasons: Vec<String> =
            sqlx::query_scalar("SELECT reason FROM assignments WHERE lead_id = $1 ORDER BY created_at, id")
                .bind(lead)
                .fetch_all(app.db())
                .await
                .unwrap();
        assert_eq!(reasons, [first, "Cal takes Ann's new borrowers"]);
        let (audit, outbox): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM audit_log WHERE action = 'lead.assign' AND entity_id = $1::text),
                    (SELECT count(*) FROM domain_events WHERE kind = 'lead.assigned' AND lead_id = $1)",
        )
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
        assert_eq!((audit, outbox), (2, 2), "{first}, then the bulk reassignment");
        let created: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log a JOIN domain_events e ON e.lead_id = $1 AND e.kind = 'lead.created'
             WHERE a.action = 'create' AND a.entity_id = $1::text",
        )
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
        assert_eq!(created, 1, "one creation entry and one lead.created event ({first})");
        assert!(contribution_agrees(&app, lead).await);
    }
}
