//! The published API contract (issue 23): `/api/v1/openapi.json` is OpenAPI 3.1, documents every `/api/v1`
//! route the application serves (a route added without documentation fails here), and real answers match the
//! schemas it documents for them.

mod common;

use std::collections::BTreeSet;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

async fn document(app: &TestApp) -> Value {
    let res = app.client().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the contract is public");
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_every_api_route() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    // `OPENAPI_OUT=path` keeps a copy of the served document (for reading it, or for tools that take a file).
    if let Ok(out) = std::env::var("OPENAPI_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "openapi: {}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let served: BTreeSet<(String, String)> = loanfloor::route_table()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes the contract does not document: {undocumented:?}");
    let gone: Vec<_> = documented.difference(&served).collect();
    assert!(gone.is_empty(), "the contract documents routes that are not served: {gone:?}");
    assert!(served.len() >= 40, "the route table lists the API: {}", served.len());

    // Every operation says which token scopes admit it, and answers with the one error shape.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let scopes = op["security"][0]["bearer"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
        assert!(!scopes.is_empty(), "{method} {path}: no scope admits it");
        for status in ["401", "403", "404", "422"] {
            assert!(!op["responses"][status].is_null(), "{method} {path}: no {status} answer");
        }
    }
    // Every JSON answer and body has a schema of its own, and the lists document the filters they read.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let schemas = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .filter_map(|(_, r)| r["content"].get("application/json"))
            .chain(op["requestBody"]["content"].get("application/json"))
            .map(|c| &c["schema"]);
        for schema in schemas {
            let named = schema["$ref"].is_string() || schema["items"]["$ref"].is_string();
            assert!(named, "{method} {path}: {schema} is not a named schema");
        }
    }
    for path in [
        "/api/v1/leads",
        "/api/v1/leads.csv",
        "/api/v1/escalations",
        "/api/v1/metrics/funnel",
        "/api/v1/metrics/speed-to-lead",
        "/api/v1/metrics/lost-reasons",
        "/api/v1/metrics/roi",
        "/api/v1/lossmit/cases",
        "/api/v1/portfolio/loans",
        "/api/v1/portfolio/opportunities",
    ] {
        let params =
            doc["paths"][path]["get"]["parameters"].as_array().unwrap_or_else(|| panic!("{path}: no parameters"));
        assert!(params.iter().all(|p| p["in"] == "query" && p["required"] == false && p["schema"].is_object()));
    }
    let cadence = doc["paths"]["/api/v1/availability/cadence"]["get"]["parameters"].as_array().unwrap();
    let lo = cadence.iter().find(|p| p["name"] == "lo").expect("the cadence documents `lo`");
    assert_eq!((lo["in"].clone(), lo["required"].clone()), (json!("query"), json!(true)));
    let sets = json!(["due", "done", "overdue"]);
    assert!(cadence.iter().any(|p| p["name"] == "tasks" && p["required"] == false && p["schema"]["enum"] == sets));
    let lead_filters = doc["paths"]["/api/v1/leads"]["get"]["parameters"].as_array().unwrap();
    assert!(lead_filters.iter().any(|p| p["name"] == "cohort" && p["description"].as_str().unwrap().contains("lost")));

    let create = &doc["paths"]["/api/v1/leads"]["post"];
    assert_eq!(create["security"][0]["bearer"], json!(["leads:write", "full"]));
    assert_eq!(doc["paths"]["/api/v1/leads"]["get"]["security"][0]["bearer"], json!(["read", "full"]));
    let key = create["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
    assert_eq!(key["in"], "header");
    assert!(key["description"].as_str().unwrap().contains("replay"));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // The page for people shows the same operations.
    let page = app.client().get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("POST /api/v1/leads") && html.contains("Idempotency-Key") && html.contains("leads:write"));
    assert!(html.contains("/api/v1/lossmit/cases/{id}/borrower-requests/progress"));
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let lo = app.create_user(Role::Lo, "lo.contract@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let lead = json!({"first_name": "Ana", "last_name": "Reyes", "phone": "(512) 555-0142", "property_state": "TX",
        "loan_amount_cents": 32000000, "property_value_cents": 40000000, "source": "zillow"});

    let res = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "k-1").json(&lead).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads", "post", "201"), &created, "POST /api/v1/leads 201");
    let replay = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "k-1").json(&lead).send().await.unwrap();
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads", "post", "200"), &replay, "POST /api/v1/leads 200");
    assert_eq!(replay["replayed"], true);

    let id = created["id"].as_str().unwrap();
    let shown: Value = api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/leads/{id}", "get", "200"), &shown, "GET /api/v1/leads/{id}");
    let me: Value = api.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    conforms(&doc, &answer_schema(&doc, "/api/v1/me", "get", "200"), &me, "GET /api/v1/me");

    // Errors: a refused field (422), a body that is not JSON (400), an id that is not one (400, axum's own
    // refusal, in the same shape), somebody else's record (404), a body without its media type (415).
    let cases = [
        (api.post(app.url("/api/v1/leads")).json(&json!({"first_name": "Ana", "colour": "blue"})), 422),
        (api.post(app.url("/api/v1/leads")).body("not json"), 400),
        (api.get(app.url("/api/v1/leads/not-a-uuid")), 400),
        (api.get(app.url(&format!("/api/v1/leads/{}", uuid::Uuid::new_v4()))), 404),
        (api.post(app.url("/api/v1/escalations")).header("content-type", "application/json").body("{"), 400),
        (api.post(app.url("/api/v1/escalations")).body("{}"), 415),
    ];
    for (req, status) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        let body: Value = res.json().await.unwrap_or_else(|e| panic!("a {status} answers JSON: {e}"));
        let schema = &doc["components"]["responses"][error_name(status)]["content"]["application/json"]["schema"];
        conforms(&doc, schema, &body, &format!("a {status}"));
    }

    // The checker itself refuses what breaks a schema.
    let lead_schema = json!({"$ref": "#/components/schemas/Lead"});
    let mut broken = shown.clone();
    broken["version"] = json!("one");
    assert!(!violations(&doc, &lead_schema, &broken, "$").is_empty());
    broken.as_object_mut().unwrap().remove("version");
    assert!(!violations(&doc, &lead_schema, &broken, "$").is_empty());
}

/// The answers that used to be described in words are typed: each is fetched here and checked against its schema
/// (`answer`), and so is each body the API reads field by field (`sent`).
#[tokio::test]
async fn typed_lead_and_escalation_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let lo = app.create_user(Role::Lo, "lo.typed@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Manager, "mgr.typed@example.com", Some("North"), &[]).await;
    let api = app.api(&app.token_for(lo).await);
    let id = create_lead(&app, &api, "Bea").await;
    let lead = format!("/api/v1/leads/{id}");

    let call = json!({"kind": "call", "direction": "outbound", "outcome": "contacted", "talk_seconds": 95,
        "body": "Talked through rates"});
    sent(&doc, "/api/v1/leads/{id}/activities", "post", &call);
    let logged = answer(
        &doc,
        api.post(app.url(&format!("{lead}/activities"))).json(&call),
        "/api/v1/leads/{id}/activities",
        201,
    )
    .await;
    assert_eq!(logged["lead_id"], id.as_str());
    let opt = json!({"channel": "text"});
    sent(&doc, "/api/v1/leads/{id}/opt-outs", "post", &opt);
    let added =
        answer(&doc, api.post(app.url(&format!("{lead}/opt-outs"))).json(&opt), "/api/v1/leads/{id}/opt-outs", 201);
    assert_eq!(added.await["added"], true);
    let again =
        answer(&doc, api.post(app.url(&format!("{lead}/opt-outs"))).json(&opt), "/api/v1/leads/{id}/opt-outs", 200);
    assert_eq!(again.await["added"], false);
    let version = api.get(app.url(&lead)).send().await.unwrap().json::<Value>().await.unwrap()["version"].clone();
    let stage = json!({"stage": "lost", "lost_reason": "rate", "version": version});
    sent(&doc, "/api/v1/leads/{id}/stage", "post", &stage);
    answer(&doc, api.post(app.url(&format!("{lead}/stage"))).json(&stage), "/api/v1/leads/{id}/stage", 200).await;

    let list = answer(&doc, api.get(app.url("/api/v1/leads?limit=1")), "/api/v1/leads", 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    create_lead(&app, &api, "Cal").await;
    let page = answer(&doc, api.get(app.url("/api/v1/leads?limit=1")), "/api/v1/leads", 200).await;
    assert!(page["next"].is_string(), "{page}");
    let lost = answer(&doc, api.get(app.url("/api/v1/leads?cohort=lost")), "/api/v1/leads", 200).await;
    assert_eq!((lost["losses"].clone(), lost["losses_capped"].clone()), (json!(1), json!(false)), "{lost}");
    assert!(lost.get("assignments").is_none());
    let assigned = answer(&doc, api.get(app.url("/api/v1/leads?cohort=assigned")), "/api/v1/leads", 200).await;
    assert!(assigned["assignments"].is_i64() && assigned.get("losses").is_none(), "{assigned}");

    let filed = json!({"lead_id": id, "kind": "pricing_exception", "concession_bps": 10, "reason": "pricing_error"});
    let filed = answer(&doc, api.post(app.url("/api/v1/escalations")).json(&filed), "/api/v1/escalations", 201).await;
    let listed = answer(&doc, api.get(app.url("/api/v1/escalations?status=all")), "/api/v1/escalations", 200).await;
    assert_eq!(listed["total"], 1, "{listed}");
    let path = format!("/api/v1/escalations/{}", filed["id"].as_str().unwrap());
    let shown = answer(&doc, api.get(app.url(&path)), "/api/v1/escalations/{id}", 200).await;
    assert!(!shown["events"].as_array().unwrap().is_empty(), "{shown}");

    let admin = app.create_user(Role::Admin, "admin.typed@example.com", None, &[]).await;
    let admin = app.api(&app.token_for(admin).await);
    let campaign = json!({"label": "Spring mailer"});
    sent(&doc, "/api/v1/sources/{key}/campaigns/{campaign}", "put", &campaign);
    let url = app.url("/api/v1/sources/zillow/campaigns/spring");
    answer(&doc, admin.put(url).json(&campaign), "/api/v1/sources/{key}/campaigns/{campaign}", 200).await;
}

#[tokio::test]
async fn typed_metrics_and_spend_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let lo = app.create_user(Role::Lo, "lo.metrics@example.com", Some("North"), &["TX"]).await;
    let lo_api = app.api(&app.token_for(lo).await);
    let id = create_lead(&app, &lo_api, "Dee").await;
    let version = lo_api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap();
    let version = version.json::<Value>().await.unwrap()["version"].clone();
    let stage = json!({"stage": "lost", "lost_reason": "rate", "version": version});
    let res = lo_api.post(app.url(&format!("/api/v1/leads/{id}/stage"))).json(&stage).send().await.unwrap();
    assert_eq!(res.status(), 200);
    create_lead(&app, &lo_api, "Eve").await;
    app.run_jobs().await;
    let admin = app.create_user(Role::Admin, "admin.metrics@example.com", None, &[]).await;
    let api = app.api(&app.token_for(admin).await);

    for group in ["team", "lo", "source"] {
        let url = app.url(&format!("/api/v1/metrics/funnel?group_by={group}"));
        answer(&doc, api.get(url), "/api/v1/metrics/funnel", 200).await;
    }
    let funnel =
        answer(&doc, api.get(app.url("/api/v1/metrics/funnel?group_by=source")), "/api/v1/metrics/funnel", 200);
    assert!(!funnel.await["rows"].as_array().unwrap().is_empty());
    let speed = answer(&doc, api.get(app.url("/api/v1/metrics/speed-to-lead")), "/api/v1/metrics/speed-to-lead", 200);
    assert!(speed.await["total"].is_object());
    let lost = answer(&doc, api.get(app.url("/api/v1/metrics/lost-reasons")), "/api/v1/metrics/lost-reasons", 200);
    assert!(!lost.await["rows"].as_array().unwrap().is_empty());

    let spend = json!({"month": "2026-11", "source": "zillow", "amount_cents": 125000});
    let saved = answer(&doc, api.put(app.url("/api/v1/spend")).json(&spend), "/api/v1/spend", 200).await;
    assert_eq!(saved["before_cents"], Value::Null);
    let listed = answer(&doc, api.get(app.url("/api/v1/spend")), "/api/v1/spend", 200).await;
    assert!(!listed["spend"].as_array().unwrap().is_empty());
    let roi = answer(&doc, api.get(app.url("/api/v1/metrics/roi")), "/api/v1/metrics/roi", 200).await;
    assert!(!roi["rows"].as_array().unwrap().is_empty());
    let csv = |body: &str| {
        api.post(app.url("/api/v1/spend/import")).header("content-type", "text/csv").body(body.to_string())
    };
    answer(&doc, csv("month,source,amount\n2026-10,zillow,500\n"), "/api/v1/spend/import", 200).await;
    let refused = answer(&doc, csv("month,source,amount\n2026-13,zillow,500\n"), "/api/v1/spend/import", 422).await;
    assert!(!refused["errors"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn typed_lossmit_and_portfolio_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let supervisor = app.create_user(Role::LossmitSupervisor, "sup.typed@example.com", None, &[]).await;
    let api = app.api(&app.token_for(supervisor).await);
    let case = json!({"loan_number": "LN-9001", "borrower_name": "Dana Whitfield", "property_state": "TX",
        "investor": "fannie_mae", "upb_cents": 18_000_000, "note_rate": 7.5, "remaining_term_months": 300,
        "monthly_pi_cents": 133_018, "monthly_escrow_cents": 35_000, "first_unpaid_due_date": "2026-03-01"});
    answer(&doc, api.post(app.url("/api/v1/lossmit/cases")).json(&case), "/api/v1/lossmit/cases", 201).await;
    let queue = answer(&doc, api.get(app.url("/api/v1/lossmit/cases")), "/api/v1/lossmit/cases", 200).await;
    assert_eq!((queue["total"].clone(), queue["unit"].clone()), (json!(1), json!("case")), "{queue}");

    let lo = app.create_user(Role::Lo, "lo.portfolio@example.com", Some("North"), &["TX"]).await;
    for sql in [
        "INSERT INTO portfolio_loans (id, loan_number, borrower_name, property_state, loan_amount_cents, note_rate,
                                      product, closed_on, lo_id, team_id, original_value_cents)
         SELECT md5('loan')::uuid, 'PL-1', 'Past Client', 'TX', 30000000, 7.5, 'conventional', date '2023-01-01',
                $1, team_id, 40000000 FROM users WHERE id = $1",
        "INSERT INTO opportunities (id, loan_id, kind, why, numbers, lo_id, team_id)
         SELECT md5('opp')::uuid, md5('loan')::uuid, 'anniversary', 'Three years', '{\"years\": 3}', $1, team_id
         FROM users WHERE id = $1",
    ] {
        sqlx::query(sql).bind(lo).execute(app.db()).await.unwrap();
    }
    let api = app.api(&app.token_for(lo).await);
    let loans = answer(&doc, api.get(app.url("/api/v1/portfolio/loans")), "/api/v1/portfolio/loans", 200).await;
    assert_eq!(loans["loans"].as_array().unwrap().len(), 1, "{loans}");
    let path = "/api/v1/portfolio/opportunities";
    let open = answer(&doc, api.get(app.url(&format!("{path}?status=open&status=worked"))), path, 200).await;
    let opp = open["opportunities"][0]["id"].as_str().unwrap().to_string();
    let status = json!({"status": "worked"});
    let url = app.url(&format!("{path}/{opp}"));
    let changed = answer(&doc, api.post(url).json(&status), "/api/v1/portfolio/opportunities/{id}", 200).await;
    assert_eq!(changed["previous_status"], "open");
}

/// Routing's answers: an assignment, the routing explanation and the availability cadence.
#[tokio::test]
async fn typed_routing_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let ana = app.create_user(Role::Lo, "ana.routing@example.com", Some("North"), &["TX"]).await;
    let ben = app.create_user(Role::Lo, "ben.routing@example.com", Some("North"), &["TX"]).await;
    let manager = app.create_user(Role::Manager, "mgr.routing@example.com", Some("North"), &[]).await;
    let api = app.api(&app.token_for(manager).await);
    let intake = app.create_user(Role::Intake, "intake.routing@example.com", None, &[]).await;
    let id = create_lead(&app, &app.api(&app.token_for(intake).await), "Flo").await;
    let lead = format!("/api/v1/leads/{id}");

    // Routing gave the lead to one of them (or queued it): the manager hands it to the other, then back.
    let shown = api.get(app.url(&lead)).send().await.unwrap().json::<Value>().await.unwrap();
    let (to, back) = if shown["assigned_lo"]["id"] == ana.to_string() { (ben, ana) } else { (ana, ben) };
    let back_email = if back == ana { "ana.routing@example.com" } else { "ben.routing@example.com" };
    let first = json!({"lo_id": to, "reason": "Speaks the borrower's language", "version": shown["version"]});
    sent(&doc, "/api/v1/leads/{id}/assign", "post", &first);
    let path = "/api/v1/leads/{id}/assign";
    let assigned = answer(&doc, api.post(app.url(&format!("{lead}/assign"))).json(&first), path, 200).await;
    assert_eq!(assigned["assigned_lo"]["id"], to.to_string(), "{assigned}");
    let again = json!({"lo_email": back_email, "reason": "Out this week", "version": assigned["version"]});
    sent(&doc, path, "post", &again);
    let moved = answer(&doc, api.post(app.url(&format!("{lead}/assign"))).json(&again), path, 200).await;
    assert_eq!(moved["assigned_lo"]["id"], back.to_string(), "{moved}");

    let routing = answer(&doc, api.get(app.url(&format!("{lead}/routing"))), "/api/v1/leads/{id}/routing", 200).await;
    assert!(routing["decision"].is_object(), "{routing}");
    assert!(!routing["decisions"].as_array().unwrap().is_empty() && routing["history"].as_array().unwrap().len() >= 2);

    // The first call attempt is due at once; two hours on, it is due and overdue.
    app.state.clock.advance(chrono::Duration::hours(2));
    let path = "/api/v1/availability/cadence";
    let mut seen = 0;
    for lo in [ana, ben] {
        for set in ["due", "done", "overdue"] {
            let tasks = answer(&doc, api.get(app.url(&format!("{path}?lo={lo}&tasks={set}"))), path, 200).await;
            assert_eq!(tasks["lo"]["id"], lo.to_string(), "{tasks}");
            seen += tasks["items"].as_array().unwrap().len();
        }
    }
    assert!(seen > 0, "no cadence task was listed");

    // The checker refuses an answer that breaks these schemas: a field of the wrong type, or one not documented.
    let schema = answer_schema(&doc, "/api/v1/leads/{id}/routing", "get", "200");
    let mut broken = routing.clone();
    broken["decision"]["outcome"] = json!(1);
    assert!(!violations(&doc, &schema, &broken, "$").is_empty());
    let schema = answer_schema(&doc, "/api/v1/leads/{id}/assign", "post", "200");
    let mut broken = moved.clone();
    broken["assigned_lo"]["phone"] = json!("555");
    assert!(!violations(&doc, &schema, &broken, "$").is_empty());
}

/// The lock desk's answers and bodies (issue 20): investors, a lock, its extension, detail, list and the LOS import.
#[tokio::test]
async fn typed_lock_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let admin = app.create_user(Role::Admin, "admin.locks@example.com", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo.locks@example.com", Some("North"), &["TX"]).await;
    let (admin, api) = (app.api(&app.token_for(admin).await), app.api(&app.token_for(lo).await));
    let investor = json!({"name": "Keystone Capital", "max_extension_days": 30,
        "schedule": [{"days": 15, "cost_bps": 12}]});
    sent(&doc, "/api/v1/lock-investors", "post", &investor);
    let path = "/api/v1/lock-investors";
    let added = answer(&doc, admin.post(app.url(path)).json(&investor), path, 201).await;
    answer(&doc, api.get(app.url(path)), path, 200).await;
    let lead = create_lead(&app, &api, "Lock").await;
    let body = json!({"lead_id": lead, "investor_id": added["id"], "product": "Conventional 30", "rate_milli": 6875,
        "price_bps": 25, "loan_amount_cents": 30000000, "period_days": 30, "closing_on": "2099-01-01"});
    sent(&doc, "/api/v1/locks", "post", &body);
    let lock = answer(&doc, api.post(app.url("/api/v1/locks")).json(&body), "/api/v1/locks", 201).await;
    let id = lock["id"].as_str().unwrap();
    let manager = app.create_user(Role::Manager, "mgr.locks@example.com", Some("North"), &[]).await;
    let manager = app.api(&app.token_for(manager).await);
    let extend = json!({"days": 15, "note": "late appraisal", "version": 1});
    sent(&doc, "/api/v1/locks/{id}/extend", "post", &extend);
    let url = app.url(&format!("/api/v1/locks/{id}/extend"));
    answer(&doc, manager.post(url).json(&extend), "/api/v1/locks/{id}/extend", 200).await;
    let detail = answer(&doc, api.get(app.url(&format!("/api/v1/locks/{id}"))), "/api/v1/locks/{id}", 200).await;
    assert_eq!(detail["history"].as_array().unwrap().len(), 2, "{detail}");
    answer(&doc, api.get(app.url("/api/v1/locks?expiring_within_days=60")), "/api/v1/locks", 200).await;
    let rows = json!([{"loan_number": "NOPE-1", "lock_id": "L-1", "investor": "Keystone Capital",
        "product": "Conventional 30", "rate": 6.875, "price_bps": 25, "loan_amount": "300000",
        "locked_on": "2026-01-05", "period_days": 30, "status": "locked"}]);
    sent(&doc, "/api/v1/los/locks", "post", &rows);
    let report =
        answer(&doc, admin.post(app.url("/api/v1/los/locks?skip_bad=true")).json(&rows), "/api/v1/los/locks", 200);
    assert_eq!(report.await["errors"][0]["line"], 0);
}

#[tokio::test]
async fn typed_loan_option_answers_match_their_schemas() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let lo = app.create_user(Role::Lo, "lo.options@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let lead = create_lead(&app, &api, "Options").await;
    let body = json!({"name": "5/6 ARM", "program": "conventional", "rate_type": "arm",
        "property_value_cents": 40000000, "loan_amount_cents": 30000000, "rate_milli": 6000, "term_months": 360,
        "points_bps": 50, "arm": {"initial_months": 60, "adjust_months": 6, "initial_cap_milli": 2000,
        "periodic_cap_milli": 1000, "lifetime_cap_milli": 5000, "margin_milli": 2750, "index_milli": 4300},
        "monthly_taxes_cents": 45000, "closing_date": "2026-01-15", "first_payment_date": "2026-03-01",
        "costs": [{"name": "Origination", "amount_cents": 120000, "prepaid_finance_charge": true}]});
    let path = "/api/v1/leads/{id}/scenarios";
    sent(&doc, path, "post", &body);
    let url = app.url(&format!("/api/v1/leads/{lead}/scenarios"));
    let made = answer(&doc, api.post(url.clone()).json(&body), path, 201).await;
    assert_eq!(made["figures"]["arm"]["worst_case"][1]["rate_milli"], 8000, "{made}");
    answer(&doc, api.get(url), path, 200).await;
    let id = made["scenario"]["id"].as_str().unwrap();
    answer(&doc, api.get(app.url(&format!("/api/v1/scenarios/{id}"))), "/api/v1/scenarios/{id}", 200).await;
}

async fn create_lead(app: &TestApp, api: &reqwest::Client, name: &str) -> String {
    let lead = json!({"first_name": name, "last_name": "Typed", "email": format!("{}@example.com", name.to_lowercase()),
        "property_state": "TX", "loan_amount_cents": 30000000, "source": "zillow"});
    let res = api.post(app.url("/api/v1/leads")).json(&lead).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// Sends `req`, expects `status`, and checks the answer against the schema the document gives the operation
/// (`path` as documented; the method is the request's) for that status.
async fn answer(doc: &Value, req: reqwest::RequestBuilder, path: &str, status: u16) -> Value {
    let (client, req) = req.build_split();
    let req = req.unwrap();
    let method = req.method().as_str().to_lowercase();
    let res = client.execute(req).await.unwrap();
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {body}");
    let what = format!("{method} {path} {status}");
    conforms(doc, &answer_schema(doc, path, &method, &status.to_string()), &body, &what);
    body
}

/// A body the test sends matches the operation's documented request body.
fn sent(doc: &Value, path: &str, method: &str, body: &Value) {
    let schema = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    conforms(doc, schema, body, &format!("the body of {method} {path}"));
}

fn error_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        404 => "NotFound",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        other => panic!("no error answer for {other}"),
    }
}

fn answer_schema(doc: &Value, path: &str, method: &str, status: &str) -> Value {
    doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"].clone()
}

fn conforms(doc: &Value, schema: &Value, value: &Value, what: &str) {
    assert!(!schema.is_null(), "{what}: no documented schema");
    let v = violations(doc, schema, value, "$");
    assert!(v.is_empty(), "{what} breaks its schema: {v:?}\n{value:#}");
}

/// The JSON Schema keywords the document uses: `$ref`, `allOf`, `oneOf`, `type` (one or a list), `required`,
/// `properties`, `additionalProperties` (false, or the schema of a map's values), `items`, `enum`, `format: uuid`.
/// An object's field that its schema (with its `allOf` parts) does not document is a violation unless the schema
/// allows other fields (`additionalProperties: true`), so an answer cannot grow a field its contract lacks.
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut out = part_violations(doc, schema, value, at);
    if let Value::Object(fields) = value {
        let documented = documented_fields(doc, schema);
        for (name, v) in fields.iter().filter(|(name, _)| !documented.contains(name.as_str())) {
            match &schema["additionalProperties"] {
                Value::Bool(true) => {}
                // A map: every value has that schema.
                Value::Object(_) => {
                    out.extend(violations(doc, &schema["additionalProperties"], v, &format!("{at}.{name}")))
                }
                // A free-form object, or a `oneOf` whose alternatives check the fields.
                Value::Null if documented.is_empty() => {}
                _ => out.push(format!("{at}: `{name}` is not documented")),
            }
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("a schema reference");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The fields a schema documents: its `properties` and those of its `allOf` parts. (A schema without any, such
/// as a free-form object or a `oneOf`, leaves its fields to its parts.)
fn documented_fields<'a>(doc: &'a Value, schema: &'a Value) -> BTreeSet<&'a str> {
    let schema = resolve(doc, schema);
    let mut out: BTreeSet<&str> =
        schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(documented_fields(doc, part));
    }
    out
}

/// What `schema` itself says of `value`, leaving undocumented fields to `violations` (an `allOf` part documents
/// only some of an object's fields).
fn part_violations(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut out = vec![];
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(part_violations(doc, part, value, at));
    }
    if let Some(any) = schema["oneOf"].as_array() {
        if !any.iter().any(|s| violations(doc, s, value, at).is_empty()) {
            out.push(format!("{at}: matches none of oneOf"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        out.push(format!("{at}: {value} is not {types:?}"));
        return out;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    if schema["format"] == "uuid" && value.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_err()) {
        out.push(format!("{at}: {value} is not a UUID"));
    }
    if let Value::Object(fields) = value {
        for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                out.push(format!("{at}: `{name}` is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (name, v) in fields {
            if let Some(s) = props.and_then(|p| p.get(name)) {
                out.extend(violations(doc, s, v, &format!("{at}.{name}")));
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            out.extend(violations(doc, s, v, &format!("{at}[{i}]")));
        }
    }
    out
}
