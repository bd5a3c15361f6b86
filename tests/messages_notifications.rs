//! Every staff notification (issue 19) reaches its person by email through a real SMTP server on 127.0.0.1,
//! made by the product's own flows: speed to lead reassigned (the LO who lost the lead) and missed on a rule
//! that escalates (the manager), a lead that found no LO (the manager), a pricing exception waiting for approval
//! and past its SLA (the manager) and its decision (the LO), a loss-mitigation case assigned and its deadlines
//! in the morning digest (the specialist).

mod common;

use chrono::Duration;
use common::TestApp;
use common::smtp::SmtpServer;
use loanfloor::auth::Role;
use serde_json::{Value, json};

async fn drain(app: &TestApp) {
    for _ in 0..10 {
        if app.run_jobs().await == 0 {
            return;
        }
    }
}

async fn rule(app: &TestApp, admin: &reqwest::Client, name: &str, state: &str, action: &str) {
    let form = [
        ("name", name),
        ("states", state),
        ("method", "round_robin"),
        ("fallback_method", "round_robin"),
        ("claim_minutes", "10"),
        ("sla_minutes", "60"),
        ("sla_action", action),
    ];
    let res = admin.post(app.url("/routing/rules")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "the {name} rule is saved");
}

/// The kinds of email each address got, as the outbox recorded them sent, checked against what the SMTP
/// server received (the same subjects, each once).
async fn sent_kinds(app: &TestApp, smtp: &SmtpServer, address: &str) -> Vec<String> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, subject FROM messages WHERE to_address = $1 AND status = 'sent' ORDER BY id")
            .bind(address)
            .fetch_all(app.db())
            .await
            .unwrap();
    let mut received: Vec<String> = smtp.to(address).iter().map(|m| m.header("Subject").unwrap()).collect();
    let mut subjects: Vec<String> = rows.iter().map(|(_, s)| s.clone()).collect();
    received.sort();
    subjects.sort();
    assert_eq!(received, subjects, "what {address} received is what the outbox says was sent");
    rows.into_iter().map(|(k, _)| k).collect()
}

#[tokio::test]
async fn each_staff_notification_arrives_by_email() {
    let smtp = SmtpServer::start();
    let url = smtp.url();
    let app = TestApp::spawn_with(|c| c.smtp_url = Some(url)).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    rule(&app, &admin, "Texas", "TX", "reassign").await;
    rule(&app, &admin, "Oklahoma", "OK", "escalate").await;
    let ann = app.create_user(Role::Lo, "ann@branch.test", Some("North"), &["TX", "OK"]).await;
    let bea = app.create_user(Role::Lo, "bea@branch.test", Some("North"), &["TX", "OK"]).await;
    let mo = app.create_user(Role::Manager, "mo@branch.test", Some("North"), &[]).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let post = |first: &'static str, state: &'static str, phone: &'static str| {
        let feed = feed.clone();
        let url = app.url("/api/v1/leads");
        async move {
            let body = json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                              "property_state": state, "loan_amount_cents": 40_000_000, "credit_band": "excellent",
                              "loan_purpose": "purchase"});
            let res = feed.post(url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
        }
    };
    let texas = post("Tex", "TX", "512-555-0701").await;
    post("Okie", "OK", "405-555-0702").await;
    post("Cali", "CA", "310-555-0703").await;
    drain(&app).await;

    // Nobody calls within the hour: the Texas lead moves to the other LO, the Oklahoma one goes to the manager.
    let first_lo: uuid::Uuid = sqlx::query_scalar("SELECT assigned_lo_id FROM leads WHERE id = $1::uuid")
        .bind(&texas)
        .fetch_one(app.db())
        .await
        .unwrap();
    // The SLA counts working hours: move to the checks' due time, whatever day the test runs.
    let due: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(run_at) FROM jobs WHERE kind = 'routing.sla_check' AND status = 'queued'")
            .fetch_one(app.db())
            .await
            .unwrap();
    app.state.clock.advance(due - app.state.clock.now() + Duration::minutes(1));
    drain(&app).await;

    // A pricing exception on a lead of Ann's, waiting past its SLA, then decided by Mo.
    let ann_api = app.api(&app.token_for(ann).await);
    let res = ann_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Rosa", "last_name": "Borrower", "email": "rosa@borrower.test", "loan_amount_cents": 40_000_000,
                      "property_state": "TX", "credit_band": "excellent", "loan_purpose": "purchase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let rosa = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = ann_api
        .post(app.url("/api/v1/escalations"))
        .json(&json!({"lead_id": rosa, "kind": "pricing_exception", "concession_bps": 10, "reason": "pricing_error"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let escalation = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    drain(&app).await;
    app.state.clock.advance(Duration::hours(5));
    drain(&app).await;
    let mo_api = app.api(&app.token_for(mo).await);
    let res = mo_api
        .post(app.url(&format!("/api/v1/escalations/{escalation}/decision")))
        .json(&json!({"decision": "approve", "note": "Match the quote."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    drain(&app).await;

    // A loss-mitigation case for Sam, whose live-contact clock runs out in two days.
    let (_, supervisor) = app.login_as(Role::LossmitSupervisor, "sue@branch.test", None, &[]).await;
    app.create_user(Role::Lossmit, "sam@branch.test", None, &[]).await;
    let today = app.state.clock.now().with_timezone(&app.state.config.timezone).date_naive();
    let case = json!({
        "loan_number": "LM-N-1", "borrower_name": "Dana Whitfield", "property_state": "TX", "investor": "fannie_mae",
        "upb_cents": 18_000_000, "note_rate": 7.5, "remaining_term_months": 300, "monthly_pi_cents": 133_018,
        "first_unpaid_due_date": (today - Duration::days(34)).to_string(), "specialist_email": "sam@branch.test",
    });
    let res = supervisor.post(app.url("/api/v1/lossmit/cases")).json(&case).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let next = app.state.clock.now() + Duration::days(1);
    let told = loanfloor::lossmit::store::send_deadline_digest(app.db(), today, next).await.unwrap();
    assert_eq!(told, 1);
    drain(&app).await;

    let (lost, kept) =
        if first_lo == ann { ("ann@branch.test", "bea@branch.test") } else { ("bea@branch.test", "ann@branch.test") };
    let lost_kinds = sent_kinds(&app, &smtp, lost).await;
    assert!(lost_kinds.contains(&"lead_reassigned".to_string()), "{lost}: {lost_kinds:?}");
    assert!(lost_kinds.contains(&"lead_assigned".to_string()), "{lost}: {lost_kinds:?}");
    let kept_kinds = sent_kinds(&app, &smtp, kept).await;
    assert!(kept_kinds.contains(&"lead_assigned".to_string()), "{kept}: {kept_kinds:?}");
    assert!(
        sent_kinds(&app, &smtp, "ann@branch.test").await.contains(&"escalation.decided".to_string()),
        "Ann hears of the decision"
    );
    let manager = sent_kinds(&app, &smtp, "mo@branch.test").await;
    for kind in ["sla_escalated", "lead_unassigned", "escalation.requested", "escalation.sla_breach"] {
        assert!(manager.contains(&kind.to_string()), "the manager got {kind}: {manager:?}");
    }
    let specialist = sent_kinds(&app, &smtp, "sam@branch.test").await;
    assert_eq!(specialist, ["lossmit.assigned", "lossmit.digest"]);
    let digest =
        smtp.to("sam@branch.test").into_iter().find(|m| m.header("Subject").unwrap().contains("due within 2 days"));
    assert!(digest.is_some(), "tomorrow's deadlines are in the morning digest");
    let _ = bea;
}
