//! The LOS loan number (issue 20): an LO or the LOS sets it on a lead through the product's own ways in — the
//! API, the lead page, the CSV import and the LOS status feed — it belongs to one lead, and the LOS status
//! flow finds the lead by it. No SQL here: every row is written and read through the product.

mod common;

use std::process::Stdio;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

fn borrower(last: &str, phone: &str) -> Value {
    json!({"first_name": "Ana", "last_name": last, "phone": phone, "property_state": "TX"})
}

async fn create(app: &TestApp, api: &reqwest::Client, body: &Value) -> Value {
    let res = api.post(app.url("/api/v1/leads")).json(body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn get(app: &TestApp, api: &reqwest::Client, id: &str) -> Value {
    api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap()
}

fn upload(csv: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("leads.csv"))
}

#[tokio::test]
async fn an_lo_sets_the_loan_number_through_the_api_the_lead_page_and_an_import() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);

    // POST: trimmed and shown on the lead.
    let mut body = borrower("Post", "512-555-0101");
    body["loan_number"] = json!("  LN-100 ");
    let lead = create(&app, &api, &body).await;
    assert_eq!(lead["loan_number"], "LN-100");
    let id = lead["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/api/v1/leads/{id}"));
    // A bad one is a 422 naming the field, and nothing is created.
    let mut bad = borrower("Bad", "512-555-0102");
    bad["loan_number"] = json!("LN 1; DROP");
    let res = api.post(app.url("/api/v1/leads")).json(&bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.json::<Value>().await.unwrap()["errors"]["loan_number"].is_array());

    // PATCH: changed, and the version moves (a stale version is still a 409).
    let res = api.patch(&url).json(&json!({"version": 1, "loan_number": "LN-101"})).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(get(&app, &api, &id).await["loan_number"], "LN-101");
    let res = api.patch(&url).json(&json!({"version": 1, "loan_number": "LN-102"})).send().await.unwrap();
    assert_eq!(res.status(), 409, "an edit based on an old version");
    assert_eq!(res.json::<Value>().await.unwrap()["current"]["loan_number"], "LN-101");
    // Empty clears it.
    let res = api.patch(&url).json(&json!({"version": 2, "loan_number": ""})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&app, &api, &id).await["loan_number"], Value::Null);

    // The lead page's edit form: a bad value is a 422 with what the LO typed kept; a good one is saved.
    let page = app.login("lo.one@example.com").await;
    let edit = app.url(&format!("/leads/{id}/edit"));
    let mut form = vec![
        ("version", "3"),
        ("first_name", "Ana"),
        ("last_name", "Post"),
        ("phone", "(512) 555-0101"),
        ("property_state", "TX"),
        ("loan_number", "LN#7 bad"),
    ];
    let res = page.post(&edit).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"LN#7 bad\"") && html.contains("a loan number has up to"), "{html}");
    assert_eq!(get(&app, &api, &id).await["version"], 3, "nothing saved");
    form[5].1 = "LN-PAGE-1";
    let res = page.post(&edit).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let shown = page.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("LN-PAGE-1"), "{shown}");
    assert_eq!(get(&app, &api, &id).await["loan_number"], "LN-PAGE-1");

    // The CSV import (the upload page): a bad number, another lead's number and a number an earlier row gave
    // are bad rows, reported by line; with skip-bad the good row is imported with its number.
    let csv = "first_name,last_name,phone,property_state,loan_number\n\
               Bo,Good,512-555-0111,TX,LN-CSV-1\n\
               Cy,Bad,512-555-0112,TX,=HYPERLINK()\n\
               Di,Taken,512-555-0113,TX,LN-PAGE-1\n\
               Ed,Again,512-555-0114,TX,LN-CSV-1\n";
    let res = page.post(app.url("/leads/import")).multipart(upload(csv)).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Nothing was imported"), "{html}");
    let form = upload(csv).text("skip_bad", "1");
    let res = page.post(app.url("/leads/import")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Imported 1 of 4 rows"), "{html}");
    for (line, reason) in [
        ("3", "loan_number: a loan number has up to"),
        ("4", "loan_number: already on the lead of Ana Post"),
        ("5", "loan_number: the same loan number as line 2"),
    ] {
        let at = html.find(reason).unwrap_or_else(|| panic!("{reason}: {html}"));
        let row = &html[html[..at].rfind("<tr").unwrap()..at];
        assert!(row.contains(&format!(">{line}<")), "line {line} for {reason}: {row}");
    }
    let found: Value = api.get(app.url("/api/v1/leads?q=Good")).send().await.unwrap().json().await.unwrap();
    let good = found["items"][0]["id"].as_str().expect("the good row was imported").to_string();
    assert_eq!(get(&app, &api, &good).await["loan_number"], "LN-CSV-1");
}

#[tokio::test]
async fn a_taken_loan_number_is_a_409_naming_the_other_lead_only_to_whom_may_see_it() {
    let app = TestApp::spawn().await;
    let north_lo = app.create_user(Role::Lo, "lo.north@example.com", Some("North"), &["TX"]).await;
    let manager = app.create_user(Role::Manager, "manager.north@example.com", Some("North"), &[]).await;
    let south_lo = app.create_user(Role::Lo, "lo.south@example.com", Some("South"), &["TX"]).await;
    let north = app.api(&app.token_for(north_lo).await);
    let mut held = borrower("Held", "512-555-0201");
    held["loan_number"] = json!("LN-HELD");
    let held = create(&app, &north, &held).await;
    let held_id = held["id"].as_str().unwrap();

    // The North manager sees the North LO's lead: the 409 names it (id and a link).
    let mgr = app.api(&app.token_for(manager).await);
    let mut again = borrower("Other", "512-555-0202");
    again["loan_number"] = json!("LN-HELD");
    let res = mgr.post(app.url("/api/v1/leads")).json(&again).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["field"], "loan_number");
    assert_eq!(body["error"]["other"]["id"], held_id);
    assert!(body["error"]["message"].as_str().unwrap().contains(&format!("/leads/{held_id}")), "{body}");

    // The South LO does not see it: the same 409, with nothing of the other lead — on POST and on PATCH.
    let south = app.api(&app.token_for(south_lo).await);
    let res = south.post(app.url("/api/v1/leads")).json(&again).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["other"], Value::Null);
    assert!(body["error"]["message"].as_str().unwrap().contains("already on another lead"), "{text}");
    assert!(!text.contains(held_id) && !text.contains("Held"), "{text}");
    let mine = create(&app, &south, &borrower("South", "512-555-0203")).await;
    let url = app.url(&format!("/api/v1/leads/{}", mine["id"].as_str().unwrap()));
    let res = south.patch(&url).json(&json!({"version": 1, "loan_number": " LN-HELD "})).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(!text.contains(held_id) && !text.contains("Held"), "{text}");
    assert_eq!(get(&app, &south, mine["id"].as_str().unwrap()).await["loan_number"], Value::Null);
}

/// Runs the built binary against the app's database; (exit code, stdout, stderr).
async fn run(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"));
    cmd.args(args)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_los_status_flow_works_end_to_end_with_a_loan_number_entered_through_the_api() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo@lender.test", Some("North"), &["TX"]).await;
    let los = app.create_user(Role::Intake, "los@lender.test", None, &[]).await;
    let api = app.api(&app.token_for(lo).await);
    let feed = app.api(&app.token_for(los).await);
    let status = |body: Value| {
        let feed = feed.clone();
        let url = app.url("/api/v1/los/status");
        async move { feed.post(url).json(&body).send().await.unwrap() }
    };

    // 1. The LO enters the loan number with PATCH; the LOS finds the lead by it.
    let first = create(&app, &api, &borrower("First", "512-555-0301")).await;
    let first_id = first["id"].as_str().unwrap().to_string();
    app.patch_lead(&api, first_id.parse().unwrap(), json!({"loan_number": "LN-E2E-1"})).await;
    let res = status(json!({"loan_number": " LN-E2E-1 ", "status": "application", "at": "2026-11-20T15:00:00Z"})).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let out: Value = res.json().await.unwrap();
    assert_eq!(
        (out["lead_id"].as_str(), out["stage"].as_str(), &out["changed"]),
        (Some(&*first_id), Some("application"), &json!(true))
    );
    assert_eq!(get(&app, &api, &first_id).await["stage"], "application");
    // A number no lead has is a 422.
    let res = status(json!({"loan_number": "LN-NOBODY", "status": "processing"})).await;
    assert_eq!(res.status(), 422);

    // 2. By the lender's lead id: the LOS records its loan number on the lead (the version moves) and moves it.
    let second = create(&app, &api, &borrower("Second", "512-555-0302")).await;
    let second_id = second["id"].as_str().unwrap().to_string();
    let body = json!({"lead_id": second_id, "loan_number": "LN-E2E-2", "status": "processing", "at": "2026-11-20"});
    let res = status(body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(res.json::<Value>().await.unwrap()["loan_number"], "LN-E2E-2");
    let now = get(&app, &api, &second_id).await;
    assert_eq!((now["stage"].as_str(), now["loan_number"].as_str()), (Some("processing"), Some("LN-E2E-2")));
    assert_eq!(now["version"].as_i64(), Some(second["version"].as_i64().unwrap() + 2), "number + stage");
    // The recording is in the audit log as an edit of the lead.
    let admin_page = app.login("admin@lender.test").await;
    let log = admin_page
        .get(app.url(&format!("/admin/audit?entity=lead&entity_id={second_id}&action=update")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("LN-E2E-2"), "{log}");
    // Another lead's number, given with a lead id, is a 409 and changes nothing.
    let res = status(json!({"lead_id": second_id, "loan_number": "LN-E2E-1", "status": "underwriting"})).await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], "loan_number");
    let now = get(&app, &api, &second_id).await;
    assert_eq!((now["stage"].as_str(), now["loan_number"].as_str()), (Some("processing"), Some("LN-E2E-2")));

    // 3. The LOS status file through the command, by loan number and by lead id; a bad row fails it whole.
    let dir = std::env::temp_dir().join(format!("lf-ln-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("los.csv");
    let third = create(&app, &api, &borrower("Third", "512-555-0303")).await;
    let third_id = third["id"].as_str().unwrap().to_string();
    let rows = format!(
        "loan_number,lead_id,status,at\n\
         LN-E2E-1,,underwriting,2026-11-21\n\
         ,{second_id},clear_to_close,2026-11-21 10:00\n\
         LN-E2E-3,{third_id},application,2026-11-21\n\
         LN-E2E-9,,funded,2026-11-21\n"
    );
    std::fs::write(&file, rows).unwrap();
    let path = file.to_str().unwrap();
    let (code, out, err) = run(&app, &["import", "los-status", path]).await;
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("line 5: loan_number"), "{err}");
    assert_eq!(get(&app, &api, &first_id).await["stage"], "application", "all or nothing");
    assert_eq!(get(&app, &api, &third_id).await["loan_number"], Value::Null, "all or nothing");
    let (code, out, err) = run(&app, &["import", "los-status", path, "--skip-bad"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 updated"), "{out}");
    assert_eq!(get(&app, &api, &first_id).await["stage"], "underwriting");
    assert_eq!(get(&app, &api, &second_id).await["stage"], "clear_to_close");
    let third = get(&app, &api, &third_id).await;
    assert_eq!((third["stage"].as_str(), third["loan_number"].as_str()), (Some("application"), Some("LN-E2E-3")));

    // 4. Funded through the API: the lead is won.
    let res = status(json!({"loan_number": "LN-E2E-3", "status": "funded"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(get(&app, &api, &third_id).await["stage"], "funded");
    let _ = (admin, std::fs::remove_dir_all(dir));
}
