//! Departments (issue 26): an admin sets up underwriting; an LO's underwriting scenario is forwarded by the
//! manager; the underwriter sees that item only (not the lead, not the request, nothing else), answers it;
//! the LO sees the answer but not the internal notes; every hop is immutable; an SLA breach is found with the
//! controllable clock and told to the department's lead and the forwarding manager.

mod common;

use chrono::{Datelike, NaiveDate, TimeZone};
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
    // The dashboard shows the same figures over its range (default: the 30 days up to today), each opening the
    // same list filtered the same way.
    let dash = w.manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    let table = dash.split("id=\"department-figures\"").nth(1).expect("the dashboard's department figures");
    let row = table.split("</tr>").find(|r| r.contains(">Underwriting</th>")).unwrap();
    let today = app.state.today();
    for status in ["open", "overdue", "answered"] {
        let href = format!(
            "/departments/forwarded?department={}&amp;status={status}&amp;from={}&amp;to={}\">1</a>",
            w.department,
            today + chrono::Duration::days(1) - chrono::Duration::days(30),
            today + chrono::Duration::days(1)
        );
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
    // The underwriting scenario breaches (60 minutes), the executive item too (120); both are told now.
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    app.state.clock.advance(chrono::Duration::minutes(121));
    app.run_jobs().await;
    // The server schedules the digest as it starts (`home::schedule`); it runs Monday at 7:00 in the
    // organisation's time zone, worked out here from the calendar.
    loanfloor::home::executive_digest::schedule(&app.state).await.unwrap();
    let tz = app.state.config.timezone;
    let local = app.state.clock.now().with_timezone(&tz);
    let mut monday = local.date_naive();
    while monday.weekday() != chrono::Weekday::Mon
        || tz.from_local_datetime(&monday.and_hms_opt(7, 0, 0).unwrap()).unwrap() <= local
    {
        monday = monday.succ_opt().unwrap();
    }
    let seven = tz.from_local_datetime(&monday.and_hms_opt(7, 0, 0).unwrap()).unwrap().with_timezone(&chrono::Utc);
    let digests = |who: Uuid| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM messages WHERE kind = 'departments.executive_digest' AND user_id = $1",
            )
            .bind(who)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    // A minute before: nothing yet.
    app.state.clock.advance(seven - app.state.clock.now() - chrono::Duration::minutes(1));
    app.run_jobs().await;
    assert_eq!(digests(eve).await, 0, "not before Monday 7:00");
    app.state.clock.advance(chrono::Duration::minutes(2));
    app.run_jobs().await;
    assert_eq!(digests(eve).await, 1, "the executive member");
    assert_eq!(digests(cfo).await, 1, "the department's lead");
    let (subject, body): (String, String) = sqlx::query_as(
        "SELECT subject, body FROM messages WHERE kind = 'departments.executive_digest' AND user_id = $1",
    )
    .bind(eve)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(subject, "Executive digest: 1 open, 2 breaches this week");
    assert!(body.contains("Executive escalation for Rosa Diaz (forwarded by mona manager"), "{body}");
    assert!(body.contains("past due"), "past its 120 minutes: {body}");
    assert!(body.contains("- Underwriting: 1") && body.contains("- Executive team: 1"), "{body}");
    // The next Monday is scheduled; running the queue again now writes nothing twice.
    let next: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'home.executive_digest' AND run_at > $1")
            .bind(seven)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(next, 1, "next week's digest is scheduled");
    app.run_jobs().await;
    assert_eq!(digests(eve).await, 1, "one message per reader and week");
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

/// The compliance department (around the clock, complaints answered within 30 days of wall-clock minutes, so the
/// regulatory deadline is the earlier clock), with `member` and `lead`.
async fn compliance(w: &World, member: Uuid, lead: Uuid) -> Uuid {
    let form: Vec<(String, String)> = vec![
        ("kind".into(), "compliance".into()),
        ("name".into(), "Compliance".into()),
        ("lead_user_id".into(), lead.to_string()),
        ("time_zone".into(), "America/Chicago".into()),
        ("opens".into(), "00:00".into()),
        ("closes".into(), "24:00".into()),
        ("member".into(), member.to_string()),
        ("sla_complaint".into(), "43200".into()),
    ]
    .into_iter()
    .chain((1..=7).map(|d| ("day".to_string(), d.to_string())))
    .collect();
    let res = w.admin.post(w.app.url("/admin/departments")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "compliance saved");
    res.headers()["location"].to_str().unwrap().trim_start_matches("/admin/departments/").parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn deadline<'a>(clock: &'a Value, key: &str) -> &'a Value {
    clock["deadlines"].as_array().unwrap().iter().find(|d| d["key"] == key).unwrap_or_else(|| panic!("{key}: {clock}"))
}

#[tokio::test]
async fn a_notice_of_error_runs_its_regulation_x_clock_beside_the_sla() {
    let w = world().await;
    let app = &w.app;
    let (officer_id, officer) = app.login_as(Role::Department, "cora.compliance@example.com", None, &[]).await;
    let clead = app.create_user(Role::Department, "carla.cclead@example.com", None, &[]).await;
    let dept = compliance(&w, officer_id, clead).await;
    let complaint = file(app, w.lo_id, w.lead, "complaint", "Borrower says the escrow shortage is wrong").await;
    let url = app.url(&format!("/escalations/{complaint}/forward"));
    // The escalation page asks for the clock; forwarding a complaint without it comes back with what was typed.
    let page = w.manager.get(app.url(&format!("/escalations/{complaint}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"complaint-clock-fields\""), "the forward form asks for the complaint's clock");
    let res = w
        .manager
        .post(&url)
        .form(&[("department_id", dept.to_string()), ("note", "Escrow analysis disputed".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Choose what kind of complaint this is"), "{html}");
    assert!(html.contains("Escrow analysis disputed"), "the note is kept");
    let res = w
        .manager
        .post(&url)
        .form(&[
            ("department_id", dept.to_string()),
            ("note", "Escrow analysis disputed".into()),
            ("complaint_type", "notice_of_error".into()),
            ("received_on", "2026-13-01".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a date that does not exist");
    assert!(res.text().await.unwrap().contains("value=\"2026-13-01\""), "the typed date is kept");
    // Received Wednesday 2026-11-25, the day before Thanksgiving.
    let res = w
        .manager
        .post(&url)
        .form(&[
            ("department_id", dept.to_string()),
            ("note", "Escrow analysis disputed".into()),
            ("complaint_type", "notice_of_error".into()),
            ("category", "general".into()),
            ("received_on", "2026-11-25".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let item = item_of(&w, complaint).await;
    let officer_api = app.api(&app.token_for(officer_id).await);
    let detail = |c: reqwest::Client| {
        let u = app.url(&format!("/api/v1/departments/items/{item}"));
        async move { c.get(u).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let d = detail(officer_api.clone()).await;
    let clock = &d["complaint_clock"];
    assert_eq!(clock["complaint_type"], "notice_of_error");
    assert_eq!(clock["received_on"], "2026-11-25");
    // Acknowledge within 5 business days, Thanksgiving skipped: Fri 27, Mon 30, Tue 1, Wed 2, Thu 3 December.
    assert_eq!(deadline(clock, "acknowledgment")["due_on"], "2026-12-03");
    assert_eq!(deadline(clock, "acknowledgment")["rule"], "12 CFR 1024.35(d)");
    // 30 business days (Christmas and New Year's Day skipped): Monday 2027-01-11.
    assert_eq!(deadline(clock, "response")["due_on"], "2027-01-11");
    let today = app.state.today();
    assert_eq!(deadline(clock, "acknowledgment")["status"], if today > day("2026-12-03") { "breached" } else { "due" });
    // The SLA (30 days of wall-clock minutes) is later than the open deadlines' end: the item sorts by them.
    assert!(d["item"]["regulatory_due_at"].is_string(), "{d}");

    // The breach job tells the compliance lead and the forwarding manager once, for the acknowledgment.
    let told = |who: Uuid| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'department.complaint_breach'",
            )
            .bind(who)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    app.run_jobs().await;
    app.run_jobs().await;
    if today > day("2026-12-03") {
        assert_eq!(told(clead).await, 1, "the department's lead");
        assert_eq!(told(w.manager_id).await, 1, "the forwarding manager");
        assert_eq!(told(officer_id).await, 0, "members see it on the item");
    }

    // The officer records the acknowledgment (sent 2026-12-04: late) on the item's page.
    let page = officer.get(app.url(&format!("/departments/items/{item}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"complaint-clock\"") && page.contains("2026-12-03"), "{page}");
    let step_url = app.url(&format!("/departments/items/{item}/clock"));
    let res = officer
        .post(&step_url)
        .form(&[("step", "acknowledged"), ("on", "2026-12-04"), ("note", "Letter mailed"), ("version", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let clock = detail(officer_api.clone()).await["complaint_clock"].clone();
    assert_eq!(deadline(&clock, "acknowledgment")["done_on"], "2026-12-04");
    assert_eq!(deadline(&clock, "acknowledgment")["status"], "breached", "done after its day");
    assert_eq!(clock["version"], 1);
    // A form opened before that step is stale: 409, nothing recorded.
    let res = officer
        .post(&step_url)
        .form(&[("step", "responded"), ("on", "2026-12-04"), ("version", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // The extension needs the reasons the borrower was told: 422 with what was typed.
    let res = officer
        .post(&step_url)
        .form(&[("step", "extension_noticed"), ("on", "2026-12-04"), ("note", ""), ("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Write the reasons") && html.contains("value=\"2026-12-04\""), "{html}");
    // Through the API, in time: the response moves 15 business days, MLK Day (2027-01-18) skipped: 2027-02-02.
    let res = officer_api
        .post(app.url(&format!("/api/v1/departments/items/{item}/clock")))
        .json(&json!({"step": "extension_noticed", "on": "2026-12-04", "note": "We need the escrow history from the prior servicer", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let clock: Value = res.json().await.unwrap();
    assert_eq!(deadline(&clock, "response")["due_on"], "2027-02-02");
    // Once only.
    let res = officer_api
        .post(app.url(&format!("/api/v1/departments/items/{item}/clock")))
        .json(&json!({"step": "extension_noticed", "on": "2026-12-05", "note": "again", "version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // Only those who see the item see or touch its clock.
    assert_eq!(status(&w.lo, app.url(&format!("/departments/items/{item}"))).await, StatusCode::NOT_FOUND);
    assert_eq!(status(&w.outsider, app.url(&format!("/departments/items/{item}"))).await, StatusCode::NOT_FOUND);
    let res = w
        .outsider
        .post(&step_url)
        .form(&[("step", "responded"), ("on", "2026-12-04"), ("version", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let lo_api = app.api(&app.token_for(w.lo_id).await);
    let res = lo_api.get(app.url(&format!("/api/v1/departments/items/{item}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(detail(app.api(&app.token_for(w.manager_id).await)).await["complaint_clock"].is_object(), "the forwarder");

    // The clock and its events are facts: the database refuses to change them; each step is in the audit log.
    for sql in [
        "UPDATE complaint_clock_events SET on_date = '2026-12-01' WHERE escalation_id = $1",
        "DELETE FROM complaint_clock_events WHERE escalation_id = $1",
        "UPDATE complaint_clocks SET received_on = '2026-12-01' WHERE escalation_id = $1",
    ] {
        assert!(sqlx::query(sql).bind(complaint).execute(app.db()).await.is_err(), "{sql}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action IN ('complaint_clock.record', 'complaint_clock.step')",
    )
    .bind(complaint.to_string())
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(audited, 3, "the clock and two steps");
}

#[tokio::test]
async fn complaint_queues_order_by_the_earlier_of_sla_and_regulatory_deadline() {
    let w = world().await;
    let app = &w.app;
    let officer_id = app.create_user(Role::Department, "cora.compliance@example.com", None, &[]).await;
    let dept = compliance(&w, officer_id, officer_id).await;
    let manager_api = app.api(&app.token_for(w.manager_id).await);
    let forward_api = |body: Value| {
        let c = manager_api.clone();
        let u = app.url("/api/v1/departments/items");
        async move { c.post(u).json(&body).send().await.unwrap() }
    };
    // An informal complaint first, its clock given by the LO who raises it: only the 30-day SLA.
    let lo_api = app.api(&app.token_for(w.lo_id).await);
    let raise = |body: Value| {
        let c = lo_api.clone();
        let u = app.url("/api/v1/escalations");
        async move { c.post(u).json(&body).send().await.unwrap() }
    };
    let res = raise(json!({"lead_id": w.lead, "kind": "underwriting_scenario", "note": "x",
                           "complaint_type": "informal", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 422, "only a complaint has a regulatory clock");
    let res = raise(json!({"lead_id": w.lead, "kind": "complaint", "note": "Rude phone call",
                           "complaint_type": "informal", "received_on": app.state.today().to_string()}))
    .await;
    assert_eq!(res.status(), 201);
    let informal: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // Its clock is recorded: the forward needs no clock (and may not give a second one).
    let page = w.manager.get(app.url(&format!("/escalations/{informal}"))).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("id=\"complaint-clock-fields\""), "the clock is not asked again");
    let res = forward_api(json!({"escalation_id": informal, "department_id": dept, "note": "Coach the LO",
                                 "complaint_type": "cfpb_portal", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 409, "the clock is recorded once");
    let res = forward_api(json!({"escalation_id": informal, "department_id": dept, "note": "Coach the LO"})).await;
    assert_eq!(res.status(), 201);
    let informal_item = item_of(&w, informal).await;
    let d: Value = manager_api
        .get(app.url(&format!("/api/v1/departments/items/{informal_item}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["complaint_clock"]["complaint_type"], "informal");
    assert_eq!(d["complaint_clock"]["deadlines"], json!([]));
    // A day later, a CFPB portal complaint received 2026-11-25: 15 calendar days, due 2026-12-10 (weekends
    // count). Its SLA ends a day after the informal one's; its regulatory deadline is earlier than both.
    app.state.clock.advance(chrono::Duration::days(1));
    let portal_lead = lead_of(app, w.lo_id, "Pat", "Quinn").await;
    let portal = file(app, w.lo_id, portal_lead, "complaint", "CFPB portal complaint about fees").await;
    // A type that does not exist, a category for another type: 422.
    let res = forward_api(json!({"escalation_id": portal, "department_id": dept, "note": "Portal",
                                 "complaint_type": "tweet", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 422);
    let res = forward_api(json!({"escalation_id": portal, "department_id": dept, "note": "Portal",
                                 "complaint_type": "cfpb_portal", "category": "payoff_statement", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 422);
    let res = forward_api(json!({"escalation_id": portal, "department_id": dept, "note": "Portal",
                                 "complaint_type": "cfpb_portal", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let portal_item = item_of(&w, portal).await;
    let d: Value = manager_api
        .get(app.url(&format!("/api/v1/departments/items/{portal_item}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deadline(&d["complaint_clock"], "response")["due_on"], "2026-12-10");
    assert_eq!(deadline(&d["complaint_clock"], "final_response")["due_on"], "2027-01-24");
    // A clock for a kind that has none is refused.
    let scenario = file(app, w.lo_id, w.lead, "underwriting_scenario", "Another one").await;
    let res = forward_api(json!({"escalation_id": scenario, "department_id": w.department, "note": "x",
                                 "complaint_type": "informal", "received_on": "2026-11-25"}))
    .await;
    assert_eq!(res.status(), 422);
    // The queue: the portal complaint, forwarded later, comes first (its deadline is before the informal one's SLA).
    // (A day later: the officer signs in again.)
    let officer = app.login("cora.compliance@example.com").await;
    let queue = officer.get(app.url(&format!("/departments/{dept}/queue"))).send().await.unwrap().text().await.unwrap();
    let (p, i) = (queue.find("Pat Quinn").expect("portal in the queue"), queue.find("Rosa Diaz").expect("informal"));
    assert!(p < i, "ordered by the earlier of SLA and regulatory deadline");
    let portal_row = queue[p..].split("</tr>").next().unwrap();
    assert!(portal_row.contains("2026-12-10 23:59"), "the deadline's day: {portal_row}");
    assert!(portal_row.contains("(regulatory deadline)"), "the queue says which clock is next: {portal_row}");
    let informal_row = queue[i..].split("</tr>").next().unwrap();
    assert!(informal_row.contains("(response time)"), "{informal_row}");
    let items: Value = app
        .api(&app.token_for(officer_id).await)
        .get(app.url("/api/v1/departments/items?status=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order: Vec<&str> = items["items"].as_array().unwrap().iter().map(|i| i["borrower"].as_str().unwrap()).collect();
    assert_eq!(order, vec!["Pat Quinn", "Rosa Diaz"]);
}

#[tokio::test]
async fn the_dashboard_department_figures_follow_its_range_and_team() {
    let w = world().await;
    let app = &w.app;
    assert_eq!(forward(&w, w.escalation, FORWARD_NOTE).await.status(), 303);
    let today = app.state.today();
    let north: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'North'").fetch_one(app.db()).await.unwrap();
    let south: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'South'").fetch_one(app.db()).await.unwrap();
    let open_figure = |query: String| {
        let c = w.manager.clone();
        let u = app.url(&format!("/dashboard?{query}"));
        async move {
            let dash = c.get(u).send().await.unwrap().text().await.unwrap();
            let table = dash.split("id=\"department-figures\"").nth(1).expect("department figures").to_string();
            let row = table.split("</tr>").find(|r| r.contains(">Underwriting</th>")).unwrap().to_string();
            let start = "href=\"/departments/forwarded?department=";
            let href = row.split(start).nth(1).unwrap().split('"').next().unwrap();
            let n: i64 = row.split(&format!("{href}\">")).nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
            (format!("/departments/forwarded?department={href}"), n)
        }
    };
    let tomorrow = today + chrono::Duration::days(1);
    // Today, North: the item counts, and its list (with the same filters) shows it.
    let (href, n) = open_figure(format!("from={today}&to={tomorrow}&team={north}")).await;
    assert_eq!(n, 1);
    assert!(href.contains(&format!("&amp;from={today}&amp;to={tomorrow}&amp;team={north}")), "{href}");
    assert_eq!(app.list_total(&w.manager, &href).await, 1);
    // A range that ended yesterday: nothing; its list is empty too.
    let (href, n) = open_figure(format!("from={}&to={today}", today - chrono::Duration::days(30))).await;
    assert_eq!(n, 0);
    assert_eq!(app.list_total(&w.manager, &href).await, 0);
    // Another team (the admin sees every team): nothing.
    let admin_dash = w
        .admin
        .get(app.url(&format!("/dashboard?from={today}&to={tomorrow}&team={south}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = admin_dash
        .split("id=\"department-figures\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .find(|r| r.contains(">Underwriting</th>"))
        .unwrap()
        .to_string();
    assert!(row.contains("status=open&amp;from=") && row.contains(&format!("team={south}\">0</a>")), "{row}");
}
