//! The leads JSON API: scoped by the caller's token, idempotent creates, versioned edits, 422 shapes.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

async fn lo_api(app: &TestApp, email: &str, team: &str) -> (uuid::Uuid, reqwest::Client) {
    let id = app.create_user(Role::Lo, email, Some(team), &["TX"]).await;
    let token = app.token_for(id).await;
    (id, app.api(&token))
}

fn ana() -> Value {
    json!({
        "first_name": "Ana", "last_name": "Reyes", "email": "Ana.Reyes@Example.com", "phone": "(512) 555-0142",
        "property_state": "tx", "property_zip": "78701", "loan_purpose": "purchase",
        "loan_amount_cents": 32000000, "property_value_cents": 40000000, "credit_band": "good",
        "source": "zillow", "campaign": "spring", "external_id": "Z-1001",
        "consent": {"channel": "call", "text": "I agree to be called", "captured_at": "2026-03-01T14:30:00Z", "token": "tf-123"}
    })
}

#[tokio::test]
async fn an_lo_creates_a_lead_they_own_and_a_replay_returns_the_same_lead() {
    let app = TestApp::spawn().await;
    let (lo, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let res = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "abc-1").json(&ana()).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["stage"], "new");
    assert_eq!(body["version"], 1);
    assert_eq!(body["phone"], "+15125550142");
    assert_eq!(body["email"], "ana.reyes@example.com");
    assert_eq!(body["property_state"], "TX");
    assert_eq!(body["ltv_bps"], 8000);
    assert_eq!(body["assigned_lo"]["id"], lo.to_string());
    assert_eq!(body["assigned_lo"]["email"], "lo.one@example.com");
    let id = body["id"].as_str().unwrap().to_string();

    // Same Idempotency-Key: 200, same lead.
    let res = api.post(app.url("/api/v1/leads")).header("Idempotency-Key", "abc-1").json(&ana()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["id"], id.as_str());
    // No key, but the same (source, external_id): 200, same lead.
    let res = api.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], id.as_str());

    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 1);
    let (stage_rows, assignment_rows, consents): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM stage_changes), (SELECT count(*) FROM assignments), (SELECT count(*) FROM lead_consents)",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((stage_rows, assignment_rows, consents), (1, 1, 1));
}

#[tokio::test]
async fn an_idempotency_key_alone_replays_its_lead_whatever_the_body() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    // No external_id: only the key can recognise the retry.
    let mut first = ana();
    first.as_object_mut().unwrap().remove("external_id");
    let post = |body: Value, key: Option<&'static str>| {
        let mut req = api.post(app.url("/api/v1/leads")).json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send()
    };
    let res = post(first.clone(), Some("retry-7")).await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    // The retry under the same key is the same request, even though nothing else in it matches the lead (another
    // borrower's phone and email): the earlier lead, marked as a replay, and nothing created.
    let mut retry = first.clone();
    retry["phone"] = json!("(214) 555-0199");
    retry["email"] = json!("someone.else@example.com");
    let res = post(retry.clone(), Some("retry-7")).await.unwrap();
    assert_eq!(res.status(), 200);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["id"], created["id"]);
    assert_eq!((again["replayed"].clone(), again["duplicate"].clone()), (json!(true), json!(false)));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 1);
    // Without the key the same body is a new lead: the key, not the body, made the replay.
    let res = post(retry, None).await.unwrap();
    assert_eq!(res.status(), 201);
    // A new key with the first body is not a replay either: the borrower matches an open lead (a duplicate).
    let res = post(first, Some("retry-8")).await.unwrap();
    assert_eq!(res.status(), 200);
    let dup: Value = res.json().await.unwrap();
    assert_eq!((dup["replayed"].clone(), dup["duplicate"].clone()), (json!(false), json!(true)));
}

#[tokio::test]
async fn a_loan_number_belongs_to_one_lead_and_the_409_names_the_other_lead_only_in_scope() {
    let app = TestApp::spawn().await;
    let (_, one) = lo_api(&app, "lo.one@example.com", "North").await;
    let (_, two) = lo_api(&app, "lo.two@example.com", "North").await;
    let mut a = ana();
    a["loan_number"] = json!(" LN-2026-0001 ");
    let res = one.post(app.url("/api/v1/leads")).json(&a).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["loan_number"], "LN-2026-0001");
    let borrower = |n: u32| {
        json!({"first_name": "Bo", "last_name": format!("Park{n}"), "phone": format!("(214) 555-01{n:02}"),
               "loan_number": "LN-2026-0001"})
    };
    // The same LO: 409 naming the lead that has the number.
    let res = one.post(app.url("/api/v1/leads")).json(&borrower(1)).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["field"], "loan_number");
    assert_eq!(body["error"]["other"]["id"], first["id"]);
    assert!(body["error"]["message"].as_str().unwrap().contains("Ana Reyes"), "{body}");
    // Another LO, who may not see that lead: 409 without anything of it.
    let res = two.post(app.url("/api/v1/leads")).json(&borrower(2)).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(!text.contains("Ana") && !text.contains(first["id"].as_str().unwrap()), "{text}");
    assert!(text.contains("already on another lead"), "{text}");
    // PATCH: a taken number is refused the same way, a free one is saved; a bad one is a 422.
    let mut mine = borrower(3);
    mine["loan_number"] = json!(null);
    let created: Value = one.post(app.url("/api/v1/leads")).json(&mine).send().await.unwrap().json().await.unwrap();
    let url = app.url(&format!("/api/v1/leads/{}", created["id"].as_str().unwrap()));
    let res = one.patch(&url).json(&json!({"version": 1, "loan_number": "LN-2026-0001"})).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["other"]["id"], first["id"]);
    let res = one.patch(&url).json(&json!({"version": 1, "loan_number": "=cmd()"})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let res = one.patch(&url).json(&json!({"version": 1, "loan_number": "LN-2026-0002"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let shown: Value = one.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["loan_number"], "LN-2026-0002");
    let holders: Vec<String> =
        sqlx::query_scalar("SELECT loan_number FROM leads WHERE loan_number IS NOT NULL ORDER BY loan_number")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(holders, ["LN-2026-0001", "LN-2026-0002"], "the refused requests wrote nothing");

    // The lead page's edit form: a taken number is shown beside the field, with what the LO typed, at 409.
    let page = app.login("lo.one@example.com").await;
    let form = [
        ("version", "2"),
        ("first_name", "Bo"),
        ("last_name", "Park3"),
        ("phone", "(214) 555-0103"),
        ("loan_number", "LN-2026-0001"),
    ];
    let res = page.post(format!("{url}/edit").replace("/api/v1", "")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let body = res.text().await.unwrap();
    assert!(body.contains("already on the lead of Ana Reyes") && body.contains("value=\"LN-2026-0001\""), "{body}");
    let mut form = form;
    form[4].1 = "LN-2026-0003";
    let res = page.post(format!("{url}/edit").replace("/api/v1", "")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let shown = page.get(url.replace("/api/v1", "")).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("<dd id=\"loan-number\">LN-2026-0003</dd>"), "{shown}");
}

#[tokio::test]
async fn the_same_borrower_as_an_open_lead_is_flagged_not_created_twice() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let res = api.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let mut other = ana();
    other["external_id"] = json!("LT-9");
    other["source"] = json!("lendingtree");
    other["email"] = json!("someone.else@example.com");
    let res = api.post(app.url("/api/v1/leads")).json(&other).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let dup: Value = res.json().await.unwrap();
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["id"], first["id"]);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 1);
    let notes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activities WHERE kind = 'note' AND body LIKE '%lendingtree%'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn invalid_input_is_422_with_errors_per_field() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Bo", "phone": "555-0142", "property_state": "ZZ", "credit_band": "great", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"]["colour"][0], "unknown field");
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Bo", "phone": "555-0142", "property_state": "ZZ", "credit_band": "great"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let errors = body["errors"].as_object().unwrap();
    let mut keys: Vec<&String> = errors.keys().collect();
    keys.sort();
    assert_eq!(keys, ["credit_band", "phone", "property_state"]);
    assert!(errors["phone"][0].as_str().unwrap().contains("10 digits"));
}

#[tokio::test]
async fn an_lo_cannot_see_or_change_another_los_lead() {
    let app = TestApp::spawn().await;
    let (_, one) = lo_api(&app, "lo.one@example.com", "North").await;
    let (_, two) = lo_api(&app, "lo.two@example.com", "North").await;
    let created: Value = one.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let res = two.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = two
        .patch(app.url(&format!("/api/v1/leads/{id}")))
        .json(&json!({"version": 1, "first_name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = two
        .post(app.url(&format!("/api/v1/leads/{id}/stage")))
        .json(&json!({"version": 1, "stage": "contacted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = two
        .post(app.url(&format!("/api/v1/leads/{id}/activities")))
        .json(&json!({"kind": "note", "body": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // Invalid input about someone else's lead is still just "not found": nothing is said about the lead.
    for (path, body) in [
        (format!("/api/v1/leads/{id}/stage"), json!({})),
        (format!("/api/v1/leads/{id}/activities"), json!({"kind": "carrier pigeon"})),
    ] {
        let res = two.post(app.url(&path)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = two.patch(app.url(&format!("/api/v1/leads/{id}"))).json(&json!({})).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let list: Value = two.get(app.url("/api/v1/leads")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let csv = two.get(app.url("/api/v1/leads.csv")).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    let unchanged: String = sqlx::query_scalar("SELECT first_name FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(unchanged, "Ana");
}

#[tokio::test]
async fn two_concurrent_stale_patches_give_exactly_one_409_and_lose_nothing() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let created: Value = api.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap().json().await.unwrap();
    let url = app.url(&format!("/api/v1/leads/{}", created["id"].as_str().unwrap()));
    let a = api.patch(&url).json(&json!({"version": 1, "campaign": "tab-a"})).send();
    let b = api.patch(&url).json(&json!({"version": 1, "rate_quoted": 6.875})).send();
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let (winner, loser) = if a.status() == 200 { (a, b) } else { (b, a) };
    let winner: Value = winner.json().await.unwrap();
    let loser: Value = loser.json().await.unwrap();
    assert_eq!(winner["version"], 2);
    assert_eq!(loser["current"]["version"], 2, "the 409 shows the current record");
    assert!(loser["attempted"].is_object(), "and the attempted change");
    let now: Value = api.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(now["version"], 2);
    // The winner's change is there; the loser's is not silently applied.
    if winner["campaign"] == "tab-a" {
        assert_eq!(now["campaign"], "tab-a");
        assert_eq!(now["rate_quoted"], Value::Null);
    } else {
        assert_eq!(now["rate_quoted"], 6.875);
        assert_eq!(now["campaign"], "spring");
    }
    // A retry based on the current version succeeds.
    let res = api.patch(&url).json(&json!({"version": 2, "campaign": "retry"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 3);
}

#[tokio::test]
async fn stage_changes_are_recorded_and_lost_needs_a_reason() {
    let app = TestApp::spawn().await;
    let (lo, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let created: Value = api.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/leads/{id}/stage"));
    let res = api.post(&url).json(&json!({"stage": "lost", "version": 1})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"]["lost_reason"][0], "choose why the lead was lost");
    let res = api.post(&url).json(&json!({"stage": "contacted", "version": 1})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);
    let res = api.post(&url).json(&json!({"stage": "application", "version": 1})).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let res = api.post(&url).json(&json!({"stage": "lost", "lost_reason": "rate", "version": 2})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let lead: Value = res.json().await.unwrap();
    assert_eq!(lead["stage"], "lost");
    assert_eq!(lead["lost_reason"], "rate");
    type StageRow = (Option<String>, String, Option<uuid::Uuid>, Option<String>);
    let rows: Vec<StageRow> =
        sqlx::query_as("SELECT from_stage, to_stage, lo_id, lost_reason FROM stage_changes ORDER BY id")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (None, "new".to_string(), None, None),
            (Some("new".into()), "contacted".into(), Some(lo), None),
            (Some("contacted".into()), "lost".into(), Some(lo), Some("rate".into())),
        ]
    );
}

#[tokio::test]
async fn a_call_sets_speed_to_lead_facts_and_do_not_call_opts_out() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let created: Value = api.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/leads/{id}/activities"));
    let res = api
        .post(&url)
        .json(
            &json!({"kind": "call", "outcome": "no_answer", "talk_seconds": 0, "occurred_at": "2026-03-02T10:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = api
        .post(&url)
        .json(&json!({"kind": "call", "outcome": "contacted", "talk_seconds": 270, "occurred_at": "2026-03-02T11:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = api.post(&url).json(&json!({"kind": "call", "outcome": "hung_up"})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let lead: Value = api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(lead["first_call_at"], "2026-03-02T10:00:00Z");
    assert_eq!(lead["first_contact_at"], "2026-03-02T11:00:00Z");
    assert_eq!(lead["version"], 1, "logging activity does not make open edit forms stale");
    let res = api.post(&url).json(&json!({"kind": "call", "outcome": "do_not_call"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let opt_outs: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_opt_outs WHERE channel = 'call'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(opt_outs, 1);
}

#[tokio::test]
async fn an_intake_tokens_lead_waits_in_the_unassigned_queue_and_managers_see_their_team_only() {
    let app = TestApp::spawn().await;
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let res = vendor.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["assigned_lo"], Value::Null);
    // An intake token sees no leads in lists.
    let list: Value = vendor.get(app.url("/api/v1/leads")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    let (_, north_lo) = lo_api(&app, "lo.north@example.com", "North").await;
    let (_, south_lo) = lo_api(&app, "lo.south@example.com", "South").await;
    let mut b = ana();
    b["phone"] = json!("512-555-0199");
    b["email"] = json!("b@example.com");
    b["external_id"] = json!("N-1");
    let n: Value = north_lo.post(app.url("/api/v1/leads")).json(&b).send().await.unwrap().json().await.unwrap();
    b["phone"] = json!("512-555-0177");
    b["email"] = json!("c@example.com");
    b["external_id"] = json!("S-1");
    let s: Value = south_lo.post(app.url("/api/v1/leads")).json(&b).send().await.unwrap().json().await.unwrap();

    let manager = app.create_user(Role::Manager, "mgr.north@example.com", Some("North"), &[]).await;
    let mgr = app.api(&app.token_for(manager).await);
    let list: Value = mgr.get(app.url("/api/v1/leads")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&n["id"].as_str().unwrap()), "team lead");
    assert!(ids.contains(&body["id"].as_str().unwrap()), "unassigned queue");
    assert!(!ids.contains(&s["id"].as_str().unwrap()), "not the other team's");
    assert_eq!(ids.len(), 2);
    let res = mgr.get(app.url(&format!("/api/v1/leads/{}", s["id"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_list_pages_by_keyset_and_filters() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    for i in 0..5 {
        let body = json!({"first_name": format!("B{i}"), "last_name": if i % 2 == 0 { "Smith" } else { "Jones" },
                          "phone": format!("512-555-01{i:02}"), "loan_purpose": if i < 2 { "refinance" } else { "purchase" }});
        assert_eq!(api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap().status(), 201);
    }
    let p1: Value = api.get(app.url("/api/v1/leads?limit=2")).send().await.unwrap().json().await.unwrap();
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["items"][0]["first_name"], "B4", "newest first");
    let next = p1["next"].as_str().unwrap();
    let p2: Value =
        api.get(app.url(&format!("/api/v1/leads?limit=2&after={next}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(p2["items"][0]["first_name"], "B2");
    let next = p2["next"].as_str().unwrap();
    let p3: Value =
        api.get(app.url(&format!("/api/v1/leads?limit=2&after={next}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(p3["items"].as_array().unwrap().len(), 1);
    assert_eq!(p3["next"], Value::Null);
    // Every page states the whole list's total, an empty page past the end included (its total is not read
    // from its rows, which it has none of).
    for page in [&p1, &p2, &p3] {
        assert_eq!(page["total"], 5, "{page}");
    }
    let past: Value = api
        .get(app.url(&format!("/api/v1/leads?limit=2&after=0_{}", uuid::Uuid::nil().simple())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((past["items"].as_array().map(Vec::len), &past["total"]), (Some(0), &json!(5)), "{past}");
    let smiths: Value = api.get(app.url("/api/v1/leads?q=smi")).send().await.unwrap().json().await.unwrap();
    assert_eq!(smiths["items"].as_array().unwrap().len(), 3);
    // The whole list (named without reading each row's LO) and a filtered one (read per row) name the same LO.
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE email = 'lo.one@example.com'")
        .fetch_one(app.db())
        .await
        .unwrap();
    for item in p1["items"].as_array().unwrap().iter().chain(smiths["items"].as_array().unwrap()) {
        assert_eq!(item["assigned_lo_name"], json!(name), "{item}");
    }
    let refi: Value = api.get(app.url("/api/v1/leads?purpose=refinance")).send().await.unwrap().json().await.unwrap();
    assert_eq!(refi["items"].as_array().unwrap().len(), 2);
    let by_phone: Value =
        api.get(app.url("/api/v1/leads?q=(512)%20555-0103")).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_phone["items"][0]["first_name"], "B3");
}

#[tokio::test]
async fn exported_csv_neutralises_formulas() {
    let app = TestApp::spawn().await;
    let (_, api) = lo_api(&app, "lo.one@example.com", "North").await;
    let body = json!({"first_name": "=cmd()", "last_name": "@SUM(A1)", "phone": "512-555-0142", "campaign": "-2+3"});
    assert_eq!(api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap().status(), 201);
    let res = api.get(app.url("/api/v1/leads.csv")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let rec = rdr.records().next().unwrap().unwrap();
    let col = |name: &str| rec.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!(col("first_name"), "'=cmd()");
    assert_eq!(col("last_name"), "'@SUM(A1)");
    assert_eq!(col("campaign"), "'-2+3");
    assert_eq!(col("phone"), "'+15125550142");

    // Compressed, the download ends cleanly (it used to break at its end: Schemathesis found it, issue 23).
    let gz = api.get(app.url("/api/v1/leads.csv")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let bytes = gz.bytes().await.expect("the whole compressed download");
    assert!(bytes.starts_with(&[0x1f, 0x8b]), "a gzip stream");
}

/// The names a list answer holds, in its order.
fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {}", i["first_name"].as_str().unwrap(), i["last_name"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn every_list_filter_and_sort_changes_the_answer_and_the_export_follows_them() {
    let app = TestApp::spawn().await;
    let (ann_id, ann) = lo_api(&app, "ann@example.com", "North").await;
    let (_, bob) = lo_api(&app, "bob@example.com", "North").await;
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let manager = app.create_user(Role::Manager, "mgr.north@example.com", Some("North"), &[]).await;
    let mgr = app.api(&app.token_for(manager).await);
    // Five borrowers entered over 45 days (the controllable clock moves between them), each differing from the
    // others in the field one filter looks at.
    let post = |who: &reqwest::Client, first: &str, last: &str, n: u32, source: &str, state: &str, purpose: &str| {
        let body = json!({"first_name": first, "last_name": last, "phone": format!("512-555-01{n:02}"),
                          "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
                          "source": source, "property_state": state, "loan_purpose": purpose});
        let req = who.post(app.url("/api/v1/leads")).json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }
    };
    let day = |d: i64| app.state.clock.advance(chrono::Duration::days(d));
    post(&ann, "Ana", "Smith", 1, "zillow", "TX", "purchase").await;
    day(35);
    post(&bob, "Ben", "Smithers", 2, "lendingtree", "CA", "refinance").await;
    day(8);
    let cara = post(&ann, "Cara", "Jones", 3, "zillow", "CA", "refinance").await;
    day(2);
    post(&bob, "Dan", "Smith", 4, "zillow", "TX", "purchase").await;
    app.state.clock.advance(chrono::Duration::minutes(5));
    // No LO is licensed in New York: the integration's lead waits in the unassigned queue.
    let eve = post(&vendor, "Eve", "Park", 5, "web", "NY", "purchase").await;
    assert_eq!(eve["assigned_lo"], Value::Null);
    let res = ann
        .post(app.url(&format!("/api/v1/leads/{}/stage", cara["id"].as_str().unwrap())))
        .json(&json!({"stage": "contacted", "version": cara["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let list = |q: String| {
        let req = mgr.get(app.url(&format!("/api/v1/leads?{q}")));
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{q}");
            names(&res.json().await.unwrap())
        }
    };
    let all = list(String::new()).await;
    assert_eq!(all, ["Eve Park", "Dan Smith", "Cara Jones", "Ben Smithers", "Ana Smith"], "newest first");
    let ann_q = format!("lo={ann_id}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("stage=contacted", vec!["Cara Jones"]),
        ("source=zillow", vec!["Dan Smith", "Cara Jones", "Ana Smith"]),
        ("source=ZILLOW&state=tx", vec!["Dan Smith", "Ana Smith"]),
        ("age=today", vec!["Eve Park", "Dan Smith"]),
        ("age=7d", vec!["Eve Park", "Dan Smith", "Cara Jones"]),
        ("age=30d", vec!["Eve Park", "Dan Smith", "Cara Jones", "Ben Smithers"]),
        ("age=older", vec!["Ana Smith"]),
        ("state=CA", vec!["Cara Jones", "Ben Smithers"]),
        ("purpose=refinance", vec!["Cara Jones", "Ben Smithers"]),
        (ann_q.as_str(), vec!["Cara Jones", "Ana Smith"]),
        ("queue=unassigned", vec!["Eve Park"]),
        ("q=smith", vec!["Dan Smith", "Ben Smithers", "Ana Smith"]),
        ("q=ana%20smith", vec!["Ana Smith"]),
        ("q=d%20smi", vec!["Dan Smith"]),
        ("q=Ben.Smithers@Example.com", vec!["Ben Smithers"]),
        ("q=ben.smithers@example", vec![]),
        ("q=(512)%20555-0103", vec!["Cara Jones"]),
        ("sort=oldest", vec!["Ana Smith", "Ben Smithers", "Cara Jones", "Dan Smith", "Eve Park"]),
        ("sort=oldest&source=zillow&limit=2", vec!["Ana Smith", "Cara Jones"]),
    ];
    for (q, expected) in &cases {
        let got = list(q.to_string()).await;
        assert_eq!(&got, expected, "{q}");
        assert_ne!(got, all, "{q}: the data is such that ignoring the filter changes the answer");
    }
    for bad in ["age=yesterday", "queue=everyone", "lo=ann"] {
        let res = mgr.get(app.url(&format!("/api/v1/leads?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
    }

    // The export applies the same filters, and so does the page.
    let csv = mgr.get(app.url("/api/v1/leads.csv?source=zillow&state=TX")).send().await.unwrap().text().await.unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows.iter().any(|r| r.contains("Dan")) && rows.iter().any(|r| r.contains("Ana")), "{csv}");
    let csv =
        mgr.get(app.url("/api/v1/leads.csv?sort=oldest&stage=contacted")).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "header and Cara: {csv}");
    assert!(csv.contains("Cara"), "{csv}");
    let page = app.login("mgr.north@example.com").await;
    let html = page.get(app.url("/leads?state=CA&purpose=refinance&stage=contacted")).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("Cara") && !html.contains("Smithers") && !html.contains("Eve"), "{html}");
}

/// A lead vendor's burst, sent all at once so that the requests waiting on the instance are created together
/// (issue 22): repeats inside the burst — one borrower sent four times, one Idempotency-Key sent three times —
/// and a borrower already open give one lead each and the answers a single request gets, and every new lead
/// is recorded as a lone one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_with_repeats_inside_it_makes_one_lead_per_borrower_and_key() {
    let app = TestApp::spawn().await;
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let earlier = vendor.post(app.url("/api/v1/leads")).json(&ana()).send().await.unwrap();
    assert_eq!(earlier.status(), 201);
    let earlier: Value = earlier.json().await.unwrap();

    let lead = |n: usize| {
        json!({"first_name": "Burst", "last_name": format!("Lead{n}"), "phone": format!("512{:07}", 3_000_000 + n),
               "email": format!("burst{n}@example.com"), "property_state": "TX", "source": "web",
               "external_id": format!("BURST-{n}")})
    };
    // (body, Idempotency-Key, what it is)
    let mut sends: Vec<(Value, Option<&str>, &str)> = (0..20).map(|n| (lead(n), None, "new")).collect();
    for k in 0..4 {
        let mut same_phone = lead(100 + k);
        same_phone["phone"] = json!("512-555-0111");
        sends.push((same_phone, None, "same phone"));
    }
    for _ in 0..3 {
        sends.push((lead(200), Some("burst-key-1"), "same key"));
    }
    let mut open_again = lead(300);
    open_again["email"] = json!("ANA.REYES@example.com");
    sends.push((open_again, None, "open already"));

    let mut tasks = Vec::new();
    for (body, key, what) in sends {
        let (api, url) = (vendor.clone(), app.url("/api/v1/leads"));
        tasks.push(tokio::spawn(async move {
            let mut req = api.post(url).json(&body);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (what, status, body)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let of = |what: &str| answers.iter().filter(|a| a.0 == what).collect::<Vec<_>>();
    assert!(of("new").iter().all(|a| a.1 == 201), "every new borrower created: {answers:?}");
    let phone: Vec<u16> = of("same phone").iter().map(|a| a.1).collect();
    assert_eq!(phone.iter().filter(|s| **s == 201).count(), 1, "one lead for the borrower sent four times: {phone:?}");
    assert_eq!(of("same phone").iter().filter(|a| a.1 == 200 && a.2["duplicate"] == true).count(), 3);
    let keyed = of("same key");
    assert_eq!(keyed.iter().filter(|a| a.1 == 201).count(), 1, "one lead for one key: {keyed:?}");
    let created_id = keyed.iter().find(|a| a.1 == 201).unwrap().2["id"].clone();
    for replay in keyed.iter().filter(|a| a.1 == 200) {
        assert_eq!(replay.2["replayed"], true);
        assert_eq!(replay.2["id"], created_id, "a replay answers with the lead its key made");
    }
    let open = of("open already");
    assert_eq!((open[0].1, &open[0].2["duplicate"]), (200, &json!(true)));
    // Out of the vendor's scope: nothing of the earlier lead is told.
    assert!(open[0].2.get("first_name").is_none(), "{:?}", open[0].2);

    let db = app.db();
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(db).await.unwrap();
    assert_eq!(leads, 1 + 20 + 1 + 1);
    // Each new lead recorded as a lone one is: its first stage row by the vendor, its audit entry, its event and
    // its safety-net routing job.
    let recorded: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM stage_changes WHERE from_stage IS NULL AND actor_id = $1),
                (SELECT count(*) FROM audit_log WHERE action = 'create' AND entity = 'lead' AND actor_id = $1),
                (SELECT count(*) FROM domain_events WHERE kind = 'lead.created')",
    )
    .bind(intake)
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(recorded, (leads, leads, leads));
    // Each lead's audit entry carries the request that asked for it, though leads were written together.
    let requests: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT request_id) FROM audit_log
         WHERE action = 'create' AND entity = 'lead' AND actor_id = $1 AND request_id <> ''",
    )
    .bind(intake)
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(requests, leads);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE user_id = $1 AND key = 'burst-key-1'")
            .bind(intake)
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(keys, 1);
    let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM activities WHERE kind = 'note' AND lead_id = $1::uuid")
        .bind(earlier["id"].as_str().unwrap())
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(notes, 1, "the borrower already open got the duplicate note");
}
