//! Examiner's checklist, item 1: no lead leaks through lead creation.
//!
//! A loan officer of the North branch owns a lead. Every other kind of caller — an LO and a manager of the
//! South branch, by session and by API token, and the lead vendor's intake token — submits the same borrower
//! (same phone, same email, or the same vendor `(source, external_id)`), replays its own Idempotency-Key, and
//! imports the borrower by CSV. Nothing of the North lead may come back: not its id, its name, its contact
//! details, nor its loan officer. The duplicate note is still written on the North lead, attributed to the
//! caller, for the North LO to see.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

/// The North branch's lead, and what of it must never reach another branch.
struct NorthLead {
    id: String,
    secrets: Vec<String>,
}

async fn north_lead(app: &TestApp) -> (NorthLead, reqwest::Client) {
    let lo = app.create_user(Role::Lo, "north.lo@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let res = api
        .post(app.url("/api/v1/leads"))
        .json(&json!({
            "first_name": "Marisol", "last_name": "Quintanilla", "email": "marisol.q@example.com",
            "phone": "(512) 555-0199", "property_state": "TX", "loan_purpose": "purchase",
            "loan_amount_cents": 41234500, "source": "zillow", "external_id": "Z-NORTH-1"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    let secrets = vec![
        id.clone(),
        "Marisol".into(),
        "Quintanilla".into(),
        "marisol.q@example.com".into(),
        "north.lo@example.com".into(),
        "41234500".into(),
    ];
    let north_client = app.login("north.lo@example.com").await;
    (NorthLead { id, secrets }, north_client)
}

fn assert_nothing_of(lead: &NorthLead, who: &str, what: &str, text: &str) {
    for s in &lead.secrets {
        assert!(!text.contains(s.as_str()), "{who}, {what}: the answer reveals {s:?} of another branch's lead: {text}");
    }
}

/// The callers from outside the North branch: (label, API client).
async fn outsiders(app: &TestApp) -> Vec<(String, reqwest::Client)> {
    let mut out = Vec::new();
    let lo = app.create_user(Role::Lo, "south.lo@example.com", Some("South"), &["TX"]).await;
    out.push(("South LO (token)".to_string(), app.api(&app.token_for(lo).await)));
    out.push(("South LO (session)".to_string(), app.login("south.lo@example.com").await));
    let mgr = app.create_user(Role::Manager, "south.mgr@example.com", Some("South"), &[]).await;
    out.push(("South manager (token)".to_string(), app.api(&app.token_for(mgr).await)));
    out.push(("South manager (session)".to_string(), app.login("south.mgr@example.com").await));
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    out.push(("intake token".to_string(), app.api(&app.token_for(intake).await)));
    for (role, email) in [(Role::Lossmit, "lm@example.com"), (Role::LossmitSupervisor, "lms@example.com")] {
        let id = app.create_user(role, email, None, &[]).await;
        out.push((format!("{} (token)", role.as_str()), app.api(&app.token_for(id).await)));
    }
    out
}

async fn post_lead(app: &TestApp, client: &reqwest::Client, key: &str, body: &Value) -> (u16, String) {
    let res = client.post(app.url("/api/v1/leads")).header("Idempotency-Key", key).json(body).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_duplicate_or_replay_of_another_branchs_lead_returns_nothing_of_it() {
    let app = TestApp::spawn().await;
    let (north, north_client) = north_lead(&app).await;

    for (n, (who, client)) in outsiders(&app).await.into_iter().enumerate() {
        // (a) Same phone as the North lead, with the caller's own Idempotency-Key, then the same key again.
        let same_phone = json!({"first_name": "Pat", "last_name": "Caller", "phone": "512-555-0199",
                                "source": "web", "email": format!("pat{n}@example.net")});
        let key = format!("key-phone-{n}");
        let (status, text) = post_lead(&app, &client, &key, &same_phone).await;
        if status == 403 {
            // Roles that may not create leads at all are refused before any lookup.
            assert_nothing_of(&north, &who, "refused create", &text);
            continue;
        }
        assert_eq!(status, 200, "{who}: a duplicate is answered 200: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["duplicate"], true, "{who}: {text}");
        assert_nothing_of(&north, &who, "duplicate by phone", &text);
        let (status, text) = post_lead(&app, &client, &key, &same_phone).await;
        assert_eq!(status, 200, "{who}: {text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["duplicate"], true, "{who}: {text}");
        assert_nothing_of(&north, &who, "replay of a duplicate's key", &text);

        // (a') Same email only.
        let same_email = json!({"first_name": "Pat", "last_name": "Caller", "email": "Marisol.Q@example.com",
                                "source": "web"});
        let (status, text) = post_lead(&app, &client, &format!("key-email-{n}"), &same_email).await;
        assert_eq!(status, 200, "{who}: {text}");
        assert_nothing_of(&north, &who, "duplicate by email", &text);

        // (b) The vendor's (source, external_id) of the North lead, with other contact details.
        let same_external = json!({"first_name": "Pat", "last_name": "Caller", "phone": format!("512-555-01{:02}", 10 + n),
                                   "source": "zillow", "external_id": "Z-NORTH-1"});
        let (status, text) = post_lead(&app, &client, &format!("key-ext-{n}"), &same_external).await;
        assert_eq!(status, 200, "{who}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["duplicate"], true, "{who}: somebody else's external id is a duplicate, not a replay: {text}");
        assert_ne!(body["replayed"], true, "{who}: {text}");
        assert_nothing_of(&north, &who, "same source and external id", &text);
        // And without a key.
        let res = client.post(app.url("/api/v1/leads")).json(&same_external).send().await.unwrap();
        assert_eq!(res.status(), 200, "{who}");
        assert_nothing_of(&north, &who, "same external id, no key", &res.text().await.unwrap());
    }

    // Nothing was created twice, and the North lead still has its own data.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 1, "no caller created a second lead for the same borrower");
    // (c) The notes are on the North lead, attributed to each caller, and the North LO sees them; a replayed
    // key added no second note.
    let notes: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.body, u.email FROM activities a LEFT JOIN users u ON u.id = a.actor_id
         WHERE a.lead_id = $1::uuid AND a.kind = 'note' ORDER BY a.id",
    )
    .bind(&north.id)
    .fetch_all(app.db())
    .await
    .unwrap();
    let by = |email: &str| notes.iter().filter(|(_, e)| e.as_deref() == Some(email)).count();
    assert_eq!(by("vendor@example.com"), 4, "phone, email, external id with key, without key: {notes:?}");
    assert_eq!(by("south.lo@example.com"), 8, "the LO's token and session each add four: {notes:?}");
    let page = north_client.get(app.url(&format!("/leads/{}", north.id))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Duplicate submission from source web"));
}

#[tokio::test]
async fn a_replay_returns_only_what_the_caller_created() {
    let app = TestApp::spawn().await;
    let (north, _) = north_lead(&app).await;
    let intake = app.create_user(Role::Intake, "vendor@example.com", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let mine = json!({"first_name": "Dana", "last_name": "Vendorlead", "phone": "512-555-0123",
                      "source": "lendingtree", "external_id": "LT-77"});
    let (status, text) = post_lead(&app, &vendor, "v-1", &mine).await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    // The vendor's own key and its own external id replay its own lead: its id and what it sent.
    for (what, key) in [("same key", Some("v-1")), ("same external id", None)] {
        let mut req = vendor.post(app.url("/api/v1/leads")).json(&mine);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["replayed"], true, "{what}: {body}");
        assert_eq!(body["id"], id.as_str(), "{what}");
        assert_eq!(body["last_name"], "Vendorlead", "{what}");
        assert_nothing_of(&north, "vendor", what, &body.to_string());
    }

    // Another caller's key of the same name is its own: it does not replay the vendor's lead.
    let other = app.create_user(Role::Intake, "vendor2@example.com", None, &[]).await;
    let vendor2 = app.api(&app.token_for(other).await);
    let unrelated = json!({"first_name": "Lee", "last_name": "Otherlead", "phone": "512-555-0177", "source": "web"});
    let (status, text) = post_lead(&app, &vendor2, "v-1", &unrelated).await;
    assert_eq!(status, 201, "a key is the caller's own: {text}");
    assert!(!text.contains("Vendorlead") && !text.contains(&id), "{text}");
}

#[tokio::test]
async fn a_csv_import_reports_a_duplicate_of_another_branch_without_its_details() {
    let app = TestApp::spawn().await;
    let (north, _) = north_lead(&app).await;
    let (_, south) = app.login_as(Role::Lo, "south.lo@example.com", Some("South"), &["TX"]).await;
    let csv = "first_name,last_name,phone,email,source,external_id\n\
               Pat,Caller,512-555-0199,,web,\n\
               Kim,Fresh,512-555-0111,kim@example.net,web,\n\
               Pat,Caller,512-555-0122,,zillow,Z-NORTH-1\n";
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("leads.csv"));
    let res = south.post(app.url("/leads/import")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Imported 1 of 3 rows"), "{html}");
    assert_nothing_of(&north, "South LO", "import report", &html);
}
