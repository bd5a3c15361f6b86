//! Departments (issue 26): an admin sets up underwriting; an LO's underwriting scenario is forwarded by the
//! manager; the underwriter sees that item only (not the lead, not the request, nothing else), answers it;
//! the LO sees the answer but not the internal notes; every hop is immutable; an SLA breach is found with the
//! controllable clock and told to the department's lead and the forwarding manager.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

const FORWARD_NOTE: &str = "Internal: DTI is 47%, check the compensating factors before we promise anything";
const ANSWER: &str = "Eligible with two months of reserves documented";

struct World {
    app: TestApp,
    admin: reqwest::Client,
    manager: reqwest::Client,
    manager_id: Uuid,
    lo: reqwest::Client,
    lo_id: Uuid,
    underwriter: reqwest::Client,
    underwriter_id: Uuid,
    uw_lead_id: Uuid,
    outsider: reqwest::Client,
    other_manager: reqwest::Client,
    department: Uuid,
    lead: Uuid,
    escalation: Uuid,
}

async fn lead_of(app: &TestApp, lo_id: Uuid, first: &str, last: &str) -> Uuid {
    let res = app
        .api(&app.token_for(lo_id).await)
        .post(app.url("/api/v1/leads"))
        .json(
            &json!({"first_name": first, "last_name": last, "email": format!("{}@borrower.test", last.to_lowercase()),
                      "loan_amount": "400000", "property_state": "TX"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

async fn file(app: &TestApp, lo_id: Uuid, lead: Uuid, kind: &str, note: &str) -> Uuid {
    let res = app
        .api(&app.token_for(lo_id).await)
        .post(app.url("/api/v1/escalations"))
        .json(&json!({"lead_id": lead, "kind": kind, "note": note}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "filed");
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

/// The underwriting department as an admin saves it on its page: `hours` (opens, closes, days), members, the
/// response time for underwriting scenarios.
fn department_form(
    name: &str,
    lead: Uuid,
    members: &[Uuid],
    hours: (&str, &str, &[u8]),
    scenario_minutes: &str,
) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("kind".into(), "underwriting".into()),
        ("name".into(), name.into()),
        ("lead_user_id".into(), lead.to_string()),
        ("time_zone".into(), "America/Chicago".into()),
        ("opens".into(), hours.0.into()),
        ("closes".into(), hours.1.into()),
        ("sla_underwriting_scenario".into(), scenario_minutes.into()),
    ];
    f.extend(hours.2.iter().map(|d| ("day".to_string(), d.to_string())));
    f.extend(members.iter().map(|m| ("member".to_string(), m.to_string())));
    f
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let (manager_id, manager) = app.login_as(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    let (_, other_manager) = app.login_as(Role::Manager, "sam.south@example.com", Some("South"), &[]).await;
    let (lo_id, lo) = app.login_as(Role::Lo, "ann.lo@example.com", Some("North"), &["TX"]).await;
    // Underwriters are department members only: no lead, no list, no figures of their own.
    let (underwriter_id, underwriter) = app.login_as(Role::Department, "uma.underwriter@example.com", None, &[]).await;
    let uw_lead_id = app.create_user(Role::Department, "ulla.uwlead@example.com", None, &[]).await;
    let (_, outsider) = app.login_as(Role::Department, "otto.outsider@example.com", None, &[]).await;
    // Around the clock, so the SLA is wall-clock minutes whatever day the test runs.
    let form = department_form(
        "Underwriting",
        uw_lead_id,
        &[underwriter_id],
        ("00:00", "24:00", &[1, 2, 3, 4, 5, 6, 7]),
        "60",
    );
    let res = admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "department saved");
    let department: Uuid =
        res.headers()["location"].to_str().unwrap().trim_start_matches("/admin/departments/").parse().unwrap();
    let lead = lead_of(&app, lo_id, "Rosa", "Diaz").await;
    let escalation =
        file(&app, lo_id, lead, "underwriting_scenario", "Self-employed borrower, 1 year of returns: eligible?").await;
    World {
        app,
        admin,
        manager,
        manager_id,
        lo,
        lo_id,
        underwriter,
        underwriter_id,
        uw_lead_id,
        outsider,
        other_manager,
        department,
        lead,
        escalation,
    }
}

async fn forward(w: &World, escalation: Uuid, note: &str) -> reqwest::Response {
    w.manager
        .post(w.app.url(&format!("/escalations/{escalation}/forward")))
        .form(&[("department_id", w.department.to_string()), ("note", note.to_string())])
        .send()
        .await
        .unwrap()
}

async fn item_of(w: &World, escalation: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT id FROM department_items WHERE escalation_id = $1 ORDER BY forwarded_at DESC LIMIT 1")
        .bind(escalation)
        .fetch_one(w.app.db())
        .await
        .unwrap()
}

async fn status(c: &reqwest::Client, url: String) -> StatusCode {
    c.get(url).send().await.unwrap().status()
}

#[tokio::test]
async fn a_member_sees_forwarded_items_only_and_nothing_more_of_the_lead() {
    let w = world().await;
    let app = &w.app;
    let queue = app.url(&format!("/departments/{}/queue", w.department));
    // Before the forward the underwriter sees an empty queue, and neither the lead nor the request.
    let page = w.underwriter.get(&queue).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("Rosa Diaz") && page.contains("Nothing forwarded"), "{page}");
    assert_eq!(status(&w.underwriter, app.url(&format!("/escalations/{}", w.escalation))).await, 404);
    assert_eq!(status(&w.underwriter, app.url(&format!("/leads/{}", w.lead))).await, 404);
    // Only managers and admins forward; a manager of another team cannot even see the request.
    let body = json!({"escalation_id": w.escalation, "department_id": w.department, "note": "please"});
    let lo_api = app.api(&app.token_for(w.lo_id).await);
    let res = lo_api.post(app.url("/api/v1/departments/items")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 403, "an LO does not forward");
    let res = w
        .other_manager
        .post(app.url(&format!("/escalations/{}/forward", w.escalation)))
        .form(&[("department_id", w.department.to_string()), ("note", "mine now".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another team's manager");
    // A forward without a note comes back with the department chosen (422).
    let res = w
        .manager
        .post(app.url(&format!("/escalations/{}/forward", w.escalation)))
        .form(&[("department_id", w.department.to_string()), ("note", "  ".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Say what the department should answer."), "{page}");
    assert!(page.contains(&format!("<option value=\"{}\" selected>Underwriting</option>", w.department)), "{page}");

    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    // Forwarding again while it waits is a conflict.
    assert_eq!(forward(&w, w.escalation, "again").await.status(), 409);
    let item = item_of(&w, w.escalation).await;
    // A second request of the same LO, not forwarded, stays out of the underwriter's sight.
    let other = file(&w.app, w.lo_id, w.lead, "appraisal_issue", "Appraisal came in $20k low").await;

    let page = w.underwriter.get(&queue).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Rosa Diaz") && page.contains("Underwriting scenario"), "{page}");
    assert!(page.contains("due in"), "{page}");
    let page =
        w.underwriter.get(app.url(&format!("/departments/items/{item}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Self-employed borrower, 1 year of returns: eligible?"), "the question: {page}");
    assert!(page.contains("$400,000.00") && page.contains("TX"), "the loan's facts: {page}");
    assert!(page.contains(FORWARD_NOTE), "the manager's note: {page}");
    assert!(page.contains("id=\"answer-form\""), "the member may answer");
    assert!(!page.contains("diaz@borrower.test"), "no contact details of the lead: {page}");
    assert!(!page.contains("Appraisal came in"), "no other request of the lead");
    // Still no lead, no request, no other request.
    assert_eq!(status(&w.underwriter, app.url(&format!("/leads/{}", w.lead))).await, 404);
    assert_eq!(status(&w.underwriter, app.url(&format!("/escalations/{}", w.escalation))).await, 404);
    assert_eq!(status(&w.underwriter, app.url(&format!("/escalations/{other}"))).await, 404);
    assert_eq!(status(&w.underwriter, app.url(&format!("/api/v1/leads/{}", w.lead))).await, 404);
    let uw_api = app.api(&app.token_for(w.underwriter_id).await);
    let listed: Value = uw_api.get(app.url("/api/v1/departments/items")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![item.to_string().as_str()]);
    // Someone outside the department: 404 on the item, its API and its queue, and the answer is refused.
    assert_eq!(status(&w.outsider, app.url(&format!("/departments/items/{item}"))).await, 404);
    assert_eq!(status(&w.outsider, queue.clone()).await, 404);
    assert_eq!(status(&w.other_manager, queue.clone()).await, 404);
    assert_eq!(status(&w.lo, app.url(&format!("/departments/items/{item}"))).await, 404);
    let res = w
        .outsider
        .post(app.url(&format!("/departments/items/{item}/answer")))
        .form(&[("decision", "eligible"), ("answer", "sure")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // The forwarding manager sees the item but does not answer it.
    assert_eq!(status(&w.manager, app.url(&format!("/departments/items/{item}"))).await, 200);
    let res = app
        .api(&app.token_for(w.manager_id).await)
        .post(app.url(&format!("/api/v1/departments/items/{item}/answer")))
        .json(&json!({"decision": "eligible", "answer": "I answer myself"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let open: String = sqlx::query_scalar("SELECT status FROM department_items WHERE id = $1")
        .bind(item)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(open, "open");
}

#[tokio::test]
async fn the_answer_reaches_the_lo_without_the_internal_notes_and_hops_are_immutable() {
    let w = world().await;
    let app = &w.app;
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    let item = item_of(&w, w.escalation).await;
    let answer_url = app.url(&format!("/departments/items/{item}/answer"));
    // The LO sees where the request is, not the note.
    let page = w.lo.get(app.url(&format!("/escalations/{}", w.escalation))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Forwarded to Underwriting, waiting for its answer"), "{page}");
    assert!(!page.contains(FORWARD_NOTE), "the LO does not read the internal note");
    // An answer without a decision comes back with what was typed (422); a stale version is a 409.
    let res = w.underwriter.post(&answer_url).form(&[("answer", ANSWER), ("version", "1")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Choose one of the decisions.") && page.contains(ANSWER), "{page}");
    let uw_api = app.api(&app.token_for(w.underwriter_id).await);
    let res = uw_api
        .post(app.url(&format!("/api/v1/departments/items/{item}/answer")))
        .json(&json!({"decision": "eligible_with_conditions", "answer": ANSWER, "version": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = uw_api
        .post(app.url(&format!("/api/v1/departments/items/{item}/answer")))
        .json(&json!({"decision": "approve", "answer": ANSWER}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a decision this kind does not have");
    let res = w
        .underwriter
        .post(&answer_url)
        .form(&[("decision", "eligible_with_conditions"), ("answer", ANSWER), ("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Answered once: a second answer is a conflict.
    let res =
        w.underwriter.post(&answer_url).form(&[("decision", "ineligible"), ("answer", "no")]).send().await.unwrap();
    assert_eq!(res.status(), 409);

    let page = w.lo.get(app.url(&format!("/escalations/{}", w.escalation))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Answered by Underwriting: Eligible with conditions"), "{page}");
    assert!(page.contains(ANSWER));
    assert!(!page.contains(FORWARD_NOTE), "the LO still does not read the internal note");
    let page =
        w.manager.get(app.url(&format!("/escalations/{}", w.escalation))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(FORWARD_NOTE) && page.contains(ANSWER), "the manager reads every hop");
    // The LO and the manager were told.
    for who in [w.lo_id, w.manager_id] {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'department.answer'")
                .bind(who)
                .fetch_one(app.db())
                .await
                .unwrap();
        assert_eq!(n, 1, "{who} told of the answer");
    }
    // Two hops, each with who and why; the database refuses to change or delete them.
    let hops: Vec<(String, Option<Uuid>, String)> =
        sqlx::query_as("SELECT action, actor_id, note FROM department_hops WHERE item_id = $1 ORDER BY id")
            .bind(item)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(
        hops,
        vec![
            ("forward".to_string(), Some(w.manager_id), FORWARD_NOTE.to_string()),
            ("answer".to_string(), Some(w.underwriter_id), ANSWER.to_string()),
        ]
    );
    let update = sqlx::query("UPDATE department_hops SET note = 'rewritten'").execute(app.db()).await;
    assert!(update.is_err(), "hops cannot be rewritten");
    let delete = sqlx::query("DELETE FROM department_hops").execute(app.db()).await;
    assert!(delete.is_err(), "hops cannot be deleted");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action IN ('department.forward', 'department.answer')",
    )
    .bind(item.to_string())
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn an_sla_breach_is_told_to_the_department_lead_and_the_forwarding_manager_once() {
    let w = world().await;
    let app = &w.app;
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    let item = item_of(&w, w.escalation).await;
    // A second request, answered in 30 minutes, for the median.
    let quick = file(app, w.lo_id, w.lead, "underwriting_scenario", "Gift funds from a sibling?").await;
    assert_eq!(forward(&w, quick, "quick one").await.status(), 303);
    let quick_item = item_of(&w, quick).await;
    let breaches = |who: Uuid| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'department.sla_breach'",
            )
            .bind(who)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    app.state.clock.advance(chrono::Duration::minutes(30));
    let res = w
        .underwriter
        .post(app.url(&format!("/departments/items/{quick_item}/answer")))
        .form(&[("decision", "eligible"), ("answer", "Gift letter and transfer trail")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // 59 minutes after the forward: not yet due.
    app.state.clock.advance(chrono::Duration::minutes(29));
    app.run_jobs().await;
    assert_eq!(breaches(w.uw_lead_id).await, 0);
    assert_eq!(breaches(w.manager_id).await, 0);
    // 61 minutes: past the 60-minute SLA.
    app.state.clock.advance(chrono::Duration::minutes(2));
    app.run_jobs().await;
    assert_eq!(breaches(w.uw_lead_id).await, 1, "the department's lead is told");
    assert_eq!(breaches(w.manager_id).await, 1, "the forwarding manager is told");
    assert_eq!(breaches(w.underwriter_id).await, 0, "members see it in the queue");
    app.state.clock.advance(chrono::Duration::hours(5));
    app.run_jobs().await;
    assert_eq!(breaches(w.manager_id).await, 1, "once");
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM department_hops WHERE item_id = $1 ORDER BY id")
        .bind(item)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(actions, vec!["forward", "sla_breach"]);
    let quick_actions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM department_hops WHERE item_id = $1 AND action = 'sla_breach'")
            .bind(quick_item)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(quick_actions, 0, "an answered item does not breach");

    // The manager's figures: one open, one past due, one answered in 30 minutes; each opens its list.
    let page = w.manager.get(app.url("/departments")).send().await.unwrap().text().await.unwrap();
    let row =
        page.split("<th scope=\"row\">Underwriting</th>").nth(1).unwrap().split("</tr>").next().unwrap().to_string();
    assert!(row.contains(">1</a>") && row.contains("30 min"), "{row}");
    for (status, expected) in [("open", 1), ("overdue", 1), ("answered", 1)] {
        let href = format!("/departments/forwarded?department={}&status={status}", w.department);
        assert!(page.contains(&href.replace('&', "&amp;")), "{status} links to its list");
        assert_eq!(app.list_total(&w.manager, &href).await, expected, "{status}");
    }
    // The dashboard shows the same figures, each opening the same list.
    let dash = w.manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    let table = dash.split("id=\"department-figures\"").nth(1).expect("the dashboard's department figures");
    let row = table.split("</tr>").find(|r| r.contains(">Underwriting</th>")).unwrap();
    for status in ["open", "overdue", "answered"] {
        let href = format!("/departments/forwarded?department={}&amp;status={status}\">1</a>", w.department);
        assert!(row.contains(&href), "{status}: {row}");
    }
    assert!(row.contains(">30 min</a>"), "{row}");
    // Another manager forwarded nothing: their list is empty.
    let href = format!("/departments/forwarded?department={}&status=open", w.department);
    assert_eq!(app.list_total(&w.other_manager, &href).await, 0);
}

#[tokio::test]
async fn the_admin_page_keeps_what_was_typed_and_refuses_a_stale_save() {
    let w = world().await;
    let app = &w.app;
    let url = app.url(&format!("/admin/departments/{}", w.department));
    let mut form =
        department_form("UW & Credit", w.uw_lead_id, &[w.underwriter_id], ("09:00", "17:00", &[1, 2, 3, 4, 5]), "240");
    form.push(("version".into(), "1".into()));
    form.push(("time_zone".into(), "Mars/Olympus".into()));
    form.retain(|(k, v)| k != "time_zone" || v == "Mars/Olympus");
    let res = w.admin.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Enter a time zone") && page.contains("value=\"UW &#38; Credit\""), "{page}");
    form.retain(|(k, _)| k != "time_zone");
    form.push(("time_zone".into(), "America/New_York".into()));
    assert_eq!(w.admin.post(&url).form(&form).send().await.unwrap().status(), 303);
    // The same form again, at the version it was opened at: someone saved since.
    let res = w.admin.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let saved: (String, i32, i32, String) =
        sqlx::query_as("SELECT name, opens_minute, version, time_zone FROM departments WHERE id = $1")
            .bind(w.department)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(saved, ("UW & Credit".to_string(), 540, 2, "America/New_York".to_string()));
    let minutes: i32 = sqlx::query_scalar(
        "SELECT response_minutes FROM department_slas WHERE department_id = $1 AND item_kind = 'underwriting_scenario'",
    )
    .bind(w.department)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(minutes, 240);
    // A second underwriting department is refused on its field; only admins reach the page.
    let res = w.admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That department already exists"));
    assert_eq!(status(&w.manager, app.url("/admin/departments")).await, 403);
    // Someone who is only a department's member gets the department role on the users page; they land on
    // their departments and open no lead list.
    let res = w
        .admin
        .post(app.url("/admin/users/new"))
        .form(&[
            ("email", "dee.uw@example.com"),
            ("name", "Dee Underwriter"),
            ("role", "department"),
            ("password", common::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let dee = app.client();
    let res = dee
        .post(app.url("/login"))
        .form(&[("email", "dee.uw@example.com"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/departments");
    let list = dee.get(app.url("/leads")).send().await.unwrap();
    let body = list.text().await.unwrap();
    assert!(!body.contains("Rosa Diaz"), "no lead of anyone");
    assert_eq!(status(&dee, app.url(&format!("/leads/{}", w.lead))).await, 404);
}

#[tokio::test]
async fn a_supervisor_forwards_a_case_question_to_legal() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let (sup_id, _) = app.login_as(Role::LossmitSupervisor, "sue.sup@example.com", None, &[]).await;
    let (counsel_id, counsel) = app.login_as(Role::Department, "lee.counsel@example.com", None, &[]).await;
    let (spec_id, _) = app.login_as(Role::Lossmit, "spec@example.com", None, &[]).await;
    let form: Vec<(String, String)> = vec![
        ("kind".into(), "legal".into()),
        ("name".into(), "Legal".into()),
        ("time_zone".into(), "America/Chicago".into()),
        ("opens".into(), "00:00".into()),
        ("closes".into(), "24:00".into()),
        ("day".into(), "1".into()),
        ("day".into(), "7".into()),
        ("member".into(), counsel_id.to_string()),
    ];
    let res = admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let legal: Uuid = sqlx::query_scalar("SELECT id FROM departments").fetch_one(app.db()).await.unwrap();
    let res = app
        .api(&app.token_for(sup_id).await)
        .post(app.url("/api/v1/lossmit/cases"))
        .json(&json!({"loan_number": "LM-1001", "borrower_name": "Pat Marchbank", "property_state": "TX",
                      "investor": "fannie_mae", "upb_cents": 25_000_000, "note_rate": 6.5, "remaining_term_months": 300,
                      "monthly_pi_cents": 180_000, "first_unpaid_due_date": "2026-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let case: Uuid = sqlx::query_scalar("SELECT id FROM lossmit_cases").fetch_one(app.db()).await.unwrap();
    let body = json!({"case_id": case, "department_id": legal, "note": "Bankruptcy filed: may we send the letter?"});
    let res = app
        .api(&app.token_for(spec_id).await)
        .post(app.url("/api/v1/departments/items"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "a specialist does not forward");
    let res = app
        .api(&app.token_for(sup_id).await)
        .post(app.url("/api/v1/departments/items"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let item: Value = res.json().await.unwrap();
    assert_eq!(item["item_kind"], "case_question");
    assert_eq!(item["borrower"], "Pat Marchbank");
    let id = item["id"].as_str().unwrap();
    let page = counsel.get(app.url(&format!("/departments/items/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("LM-1001") && page.contains("$250,000.00"), "{page}");
    let refused = status(&counsel, app.url(&format!("/lossmit/cases/{case}"))).await;
    assert!(matches!(refused.as_u16(), 403 | 404), "the case itself stays in loss mitigation: {refused}");
    let res = app
        .api(&app.token_for(counsel_id).await)
        .post(app.url(&format!("/api/v1/departments/items/{id}/answer")))
        .json(&json!({"decision": "advised", "answer": "Stop: the automatic stay applies."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let detail: Value = app
        .api(&app.token_for(sup_id).await)
        .get(app.url(&format!("/api/v1/departments/items/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["item"]["status"], "answered");
    assert_eq!(detail["hops"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_weekly_executive_digest_lists_open_executive_escalations_and_breaches() {
    let w = world().await;
    let app = &w.app;
    let eve = app.create_user(Role::Manager, "eve.exec@example.com", None, &[]).await;
    let cfo = app.create_user(Role::Manager, "carl.cfo@example.com", None, &[]).await;
    let form: Vec<(String, String)> = vec![
        ("kind".into(), "executive".into()),
        ("name".into(), "Executive team".into()),
        ("lead_user_id".into(), cfo.to_string()),
        ("time_zone".into(), "America/Chicago".into()),
        ("opens".into(), "00:00".into()),
        ("closes".into(), "24:00".into()),
        ("member".into(), eve.to_string()),
        ("sla_executive".into(), "120".into()),
    ]
    .into_iter()
    .chain((1..=7).map(|d| ("day".to_string(), d.to_string())))
    .collect();
    let res = w.admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let executive: Uuid =
        res.headers()["location"].to_str().unwrap().trim_start_matches("/admin/departments/").parse().unwrap();
    let escalation = file(app, w.lo_id, w.lead, "executive", "Builder partner threatens to pull 40 loans a year").await;
    let res = w
        .manager
        .post(app.url(&format!("/escalations/{escalation}/forward")))
        .form(&[("department_id", executive.to_string()), ("note", "Needs a call from the top".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // The underwriting scenario breaches (60 minutes); the executive item is not yet due (120).
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    app.state.clock.advance(chrono::Duration::minutes(61));
    app.run_jobs().await;
    let written = loanfloor::home::executive_digest::send(&app.state, app.state.clock.now()).await.unwrap();
    assert_eq!(written, 2, "the executive member and the department's lead");
    let (subject, body): (String, String) = sqlx::query_as(
        "SELECT subject, body FROM messages WHERE kind = 'departments.executive_digest' AND user_id = $1",
    )
    .bind(eve)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(subject, "Executive digest: 1 open, 1 SLA breaches this week");
    assert!(body.contains("Executive escalation for Rosa Diaz (forwarded by mona manager"), "{body}");
    assert!(!body.contains("past due"), "not yet due: {body}");
    assert!(body.contains("- Underwriting: 1"), "{body}");
    let again = loanfloor::home::executive_digest::send(&app.state, app.state.clock.now()).await.unwrap();
    assert_eq!(again, 0, "one message per reader and week");
    let lo_got: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE kind = 'departments.executive_digest' AND user_id = $1",
    )
    .bind(w.lo_id)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(lo_got, 0);
}

#[tokio::test]
async fn a_department_sends_an_item_back_and_the_manager_forwards_it_again() {
    let w = world().await;
    let app = &w.app;
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    let item = item_of(&w, w.escalation).await;
    let back = app.url(&format!("/departments/items/{item}/return"));
    // Sending back needs a reason (422, the answer form still there).
    let res = w.underwriter.post(&back).form(&[("answer", " "), ("version", "1")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Say why it goes back."));
    let why = "Internal: we need the 2024 returns before we can say anything";
    assert_eq!(
        w.underwriter.post(&back).form(&[("answer", why), ("version", "1")]).send().await.unwrap().status(),
        303
    );
    let told: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'department.return'")
            .bind(w.manager_id)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(told, 1, "the manager is told");
    // The LO sees that it came back, not why.
    let page = w.lo.get(app.url(&format!("/escalations/{}", w.escalation))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Underwriting sent it back to the manager"), "{page}");
    assert!(!page.contains(why), "the reason is internal");
    // The manager reads why and forwards again: a new item, the old one stays as it was.
    let page =
        w.manager.get(app.url(&format!("/escalations/{}", w.escalation))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(why) && page.contains("id=\"forward-form\""), "{page}");
    assert_eq!(forward(&w, w.escalation, "Returns attached now").await.status(), 303);
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM department_items WHERE escalation_id = $1 ORDER BY forwarded_at, status",
    )
    .bind(w.escalation)
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"returned".to_string()) && statuses.contains(&"open".to_string()), "{statuses:?}");
}

#[tokio::test]
async fn a_supervisor_forwards_from_the_case_page() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let (sup_id, supervisor) = app.login_as(Role::LossmitSupervisor, "sue.sup@example.com", None, &[]).await;
    let form = [
        ("kind", "legal"),
        ("name", "Legal"),
        ("time_zone", "UTC"),
        ("opens", "09:00"),
        ("closes", "17:00"),
        ("day", "2"),
    ];
    assert_eq!(admin.post(app.url("/admin/departments")).form(&form).send().await.unwrap().status(), 303);
    let legal: Uuid = sqlx::query_scalar("SELECT id FROM departments").fetch_one(app.db()).await.unwrap();
    let res = app
        .api(&app.token_for(sup_id).await)
        .post(app.url("/api/v1/lossmit/cases"))
        .json(&json!({"loan_number": "LM-2002", "borrower_name": "Rene Holt", "property_state": "TX",
                      "investor": "fha", "upb_cents": 18_000_000, "note_rate": 6.25, "remaining_term_months": 320,
                      "monthly_pi_cents": 120_000, "first_unpaid_due_date": "2026-02-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let case: Uuid = sqlx::query_scalar("SELECT id FROM lossmit_cases").fetch_one(app.db()).await.unwrap();
    let page = supervisor.get(app.url(&format!("/lossmit/cases/{case}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("<option value=\"{legal}\" selected>Legal</option>")), "legal by default");
    let url = app.url(&format!("/lossmit/cases/{case}/forward"));
    let res = supervisor
        .post(&url)
        .form(&[("forward_department", legal.to_string()), ("forward_note", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Say what the department should answer."));
    let res = supervisor
        .post(&url)
        .form(&[
            ("forward_department", legal.to_string()),
            ("forward_note", "Borrower's attorney sent a cease letter".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = supervisor.get(app.url(&format!("/lossmit/cases/{case}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Waiting on Legal") && page.contains("Borrower&#39;s attorney sent a cease letter"),
        "{page}"
    );
    // Due in business hours: Tuesdays 9:00–17:00 UTC, 480 minutes: on a Tuesday within those hours, at least
    // eight hours and at most eight days after the forward (the arithmetic is unit-tested in the model).
    let (at, due): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT forwarded_at, due_at FROM department_items").fetch_one(app.db()).await.unwrap();
    use chrono::{Datelike, Timelike};
    assert_eq!(due.weekday(), chrono::Weekday::Tue, "{due}");
    let minute = due.hour() * 60 + due.minute();
    assert!((9 * 60 + 1..=17 * 60).contains(&minute), "{due}");
    assert!(due - at >= chrono::Duration::hours(8) && due - at <= chrono::Duration::days(8), "{at} → {due}");
}
