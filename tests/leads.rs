//! The LO workspace pages: scoping, the call queue, the call log and stage forms, stale edits, the board, tasks,
//! merge, and CSV import (function and browser upload).

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

async fn create_via_api(app: &TestApp, lo: Uuid, body: Value) -> Uuid {
    let api = app.api(&app.token_for(lo).await);
    let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().parse().unwrap()
}

fn lead(first: &str, last: &str, phone: &str) -> Value {
    json!({"first_name": first, "last_name": last, "phone": phone, "loan_purpose": "purchase", "property_state": "TX"})
}

async fn current_user(app: &TestApp, id: Uuid) -> loanfloor::auth::CurrentUser {
    loanfloor::auth::store::find_user(app.db(), id).await.unwrap().unwrap().into_current(false)
}

async fn lead_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn an_lo_gets_404_for_another_los_lead_page_and_forms() {
    let app = TestApp::spawn().await;
    let one = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let (_, two) = app.login_as(Role::Lo, "lo.two@example.com", Some("North"), &["TX"]).await;
    let id = create_via_api(&app, one, lead("Ana", "Reyes", "512-555-0142")).await;
    assert_eq!(two.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().status(), 404);
    assert_eq!(two.get(app.url(&format!("/leads/{id}/edit"))).send().await.unwrap().status(), 404);
    let res = two
        .post(app.url(&format!("/leads/{id}/stage")))
        .form(&[("stage", "contacted"), ("version", "1"), ("lost_reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = two
        .post(app.url(&format!("/leads/{id}/calls")))
        .form(&[("outcome", "contacted"), ("talk_time", "1:00")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = two
        .post(app.url(&format!("/leads/{id}/edit")))
        .form(&[("version", "1"), ("first_name", "Mallory"), ("phone", "512-555-0142")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let list = two.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(!list.contains("Reyes"));
    let (stage, first): (String, String) =
        sqlx::query_as("SELECT stage, first_name FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!((stage.as_str(), first.as_str()), ("new", "Ana"));
    let acts: i64 = sqlx::query_scalar("SELECT count(*) FROM activities").fetch_one(app.db()).await.unwrap();
    assert_eq!(acts, 0);
}

#[tokio::test]
async fn a_manager_sees_their_teams_leads_only() {
    let app = TestApp::spawn().await;
    let north = app.create_user(Role::Lo, "lo.north@example.com", Some("North"), &["TX"]).await;
    let south = app.create_user(Role::Lo, "lo.south@example.com", Some("South"), &["TX"]).await;
    create_via_api(&app, north, lead("Ana", "Northfield", "512-555-0142")).await;
    let s = create_via_api(&app, south, lead("Bo", "Southgate", "512-555-0143")).await;
    let (_, mgr) = app.login_as(Role::Manager, "mgr@example.com", Some("North"), &[]).await;
    let list = mgr.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Northfield"));
    assert!(!list.contains("Southgate"));
    assert_eq!(mgr.get(app.url(&format!("/leads/{s}"))).send().await.unwrap().status(), 404);
    let board = mgr.get(app.url("/pipeline")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("Northfield") && !board.contains("Southgate"));
    let csv = mgr.get(app.url("/leads/export.csv")).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "header + the team's one lead: {csv}");
}

#[tokio::test]
async fn my_day_orders_new_leads_then_due_callbacks_then_stale_leads() {
    // Built through the API, with the controllable clock moving time: no row is written by hand.
    let app = TestApp::spawn().await;
    let (lo, _) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let hours = |h: i64| app.state.clock.advance(chrono::Duration::hours(h));
    // A call that reached the borrower, logged and followed by moving the lead to `contacted`, as the LO does.
    let contacted = |id: Uuid, callback_at: Option<String>| {
        let api = api.clone();
        let base = app.url(&format!("/api/v1/leads/{id}"));
        async move {
            let mut call = json!({"kind": "call", "outcome": "contacted", "talk_seconds": 120});
            if let Some(at) = callback_at {
                call["callback_at"] = json!(at);
            }
            let res = api.post(format!("{base}/activities")).json(&call).send().await.unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let lead: Value = api.get(&base).send().await.unwrap().json().await.unwrap();
            let moved = json!({"stage": "contacted", "version": lead["version"]});
            let res = api.post(format!("{base}/stage")).json(&moved).send().await.unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        }
    };
    // Five days ago: reached once, and nothing since (contacted goes stale after 3 days).
    let stale = create_via_api(&app, lo, lead("Gone", "Quiet", "512-555-0104")).await;
    contacted(stale, None).await;
    hours(5 * 24 - 3);
    // Three hours ago and one hour ago: two new leads, never called.
    let old = create_via_api(&app, lo, lead("Old", "New", "512-555-0102")).await;
    hours(2);
    let young = create_via_api(&app, lo, lead("Young", "New", "512-555-0101")).await;
    // Reached with a callback promised 50 minutes later (so due 10 minutes ago by the time the LO looks), and
    // one reached an hour ago with nothing due: not in the queue at all.
    let callback = create_via_api(&app, lo, lead("Call", "Back", "512-555-0103")).await;
    let due = (app.state.clock.now() + chrono::Duration::minutes(50)).to_rfc3339();
    contacted(callback, Some(due)).await;
    let fresh = create_via_api(&app, lo, lead("Just", "Worked", "512-555-0105")).await;
    contacted(fresh, None).await;
    hours(1);
    let stages: Vec<String> = sqlx::query_scalar("SELECT stage FROM leads WHERE id = ANY($1) ORDER BY stage")
        .bind(vec![stale, callback, fresh])
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(stages, ["contacted", "contacted", "contacted"]);
    // The LO signs in now (a session from five days ago would have ended).
    let client = app.login("lo.one@example.com").await;
    let html = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    let pos = |id: Uuid| html.find(&format!("/leads/{id}\"")).unwrap_or(usize::MAX);
    let order = [pos(old), pos(young), pos(callback), pos(stale)];
    assert!(order.iter().all(|p| *p != usize::MAX), "all four are queued: {order:?}");
    assert!(order.windows(2).all(|w| w[0] < w[1]), "old new, young new, callback, stale: {order:?}");
    assert_eq!(pos(fresh), usize::MAX, "a lead worked today is not in the queue");
}

#[tokio::test]
async fn the_call_form_logs_talk_time_and_a_callback_and_lost_needs_a_reason() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let id = create_via_api(&app, lo, lead("Ana", "Reyes", "512-555-0142")).await;
    let res = client
        .post(app.url(&format!("/leads/{id}/calls")))
        .form(&[("outcome", "contacted"), ("talk_time", "4:30"), ("callback_at", "2030-01-02T15:00"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (talk, due): (i32, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT a.talk_seconds, t.due_at FROM activities a JOIN tasks t ON t.lead_id = a.lead_id WHERE a.lead_id = $1",
    )
    .bind(id)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(talk, 270);
    // The form's time is the organisation's wall clock (America/Chicago, UTC-6 in January).
    assert_eq!(due.to_rfc3339(), "2030-01-02T21:00:00+00:00");
    let res = client
        .post(app.url(&format!("/leads/{id}/calls")))
        .form(&[("outcome", "contacted"), ("talk_time", "4:99")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("seconds must be below 60"));
    let res = client
        .post(app.url(&format!("/leads/{id}/stage")))
        .form(&[("stage", "lost"), ("version", "1"), ("lost_reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("choose why the lead was lost"));
    let page = client.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("talk time 4:30"), "the timeline shows the call");
    let tasks = client.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    assert!(tasks.contains("Call back Ana Reyes"));
}

#[tokio::test]
async fn a_stale_edit_form_gets_a_409_page_with_both_versions() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let id = create_via_api(&app, lo, lead("Ana", "Reyes", "512-555-0142")).await;
    let form = |name: &'static str| {
        [("version", "1"), ("first_name", name), ("last_name", "Reyes"), ("phone", "512-555-0142")]
    };
    let res = client.post(app.url(&format!("/leads/{id}/edit"))).form(&form("Anabel")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = client.post(app.url(&format!("/leads/{id}/edit"))).form(&form("Annie")).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("Anabel") && html.contains("Annie"), "current next to attempted");
    let (first, version): (String, i32) = sqlx::query_as("SELECT first_name, version FROM leads WHERE id = $1")
        .bind(id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!((first.as_str(), version), ("Anabel", 2));
}

#[tokio::test]
async fn a_manager_merges_a_duplicate() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let keep = create_via_api(&app, lo, lead("Ana", "Reyes", "512-555-0142")).await;
    let other =
        create_via_api(&app, lo, json!({"first_name": "Ana", "last_name": "R", "email": "ana@example.com"})).await;
    let api = app.api(&app.token_for(lo).await);
    api.post(app.url(&format!("/api/v1/leads/{other}/activities")))
        .json(&json!({"kind": "note", "body": "prefers evenings"}))
        .send()
        .await
        .unwrap();
    let (_, lo_client) = (0, app.login("lo.one@example.com").await);
    assert_eq!(lo_client.get(app.url(&format!("/leads/{keep}/merge"))).send().await.unwrap().status(), 403);
    let (_, mgr) = app.login_as(Role::Manager, "mgr@example.com", Some("North"), &[]).await;
    // The merge page lists a candidate (a lost lead with the same phone as a newer one) with its stage and
    // source by name.
    let lost = create_via_api(&app, lo, lead("Bo", "Early", "512-555-0177")).await;
    app.move_stage(&api, lost, "lost", Some("rate")).await;
    let newer = create_via_api(&app, lo, lead("Bo", "Early", "512-555-0177")).await;
    let res = mgr.get(app.url(&format!("/leads/{newer}/merge"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(&format!("value=\"{lost}\"")) && page.contains("<td>Lost</td>"), "{page}");
    let res = mgr
        .post(app.url(&format!("/leads/{keep}/merge")))
        .form(&[("other", other.to_string()), ("other_id", String::new())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (dup_of, stage, reason): (Option<Uuid>, String, Option<String>) =
        sqlx::query_as("SELECT duplicate_of, stage, lost_reason FROM leads WHERE id = $1")
            .bind(other)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((dup_of, stage.as_str(), reason.as_deref()), (Some(keep), "lost", Some("duplicate")));
    let notes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activities WHERE lead_id = $1 AND body = 'prefers evenings'")
            .bind(keep)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(notes, 1);
}

const MESSY: &str = "\u{feff}first_name,last_name,phone,email,property_state,loan_purpose,loan_amount,source,external_id\n\
Ana,Reyes,(512) 555-0142,ana@example.com,TX,purchase,\"$400,000\",zillow,Z1\n\
Bo,Bad,555-0142,,TX,purchase,,zillow,Z2\n\
Cy,Cole,512-555-0144,cy@example.com,TX,refinance,250000,zillow,Z3\n\
Di,Dee,512-555-0145,,ZZ,purchase,,zillow,Z4\n\
Ed,Short,512-555-0146\n\
Flo,Fine,512-555-0147,,CA,cash-out,\"300,000.00\",zillow,Z6\n\
Gus,Again,512-555-0148,,TX,purchase,,zillow,Z1\n";

#[tokio::test]
async fn a_messy_import_reports_bad_rows_by_line_and_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let user = current_user(&app, lo).await;
    let report = loanfloor::leads::import::import_leads(&app.state, &user, MESSY.as_bytes(), false).await.unwrap();
    assert!(!report.committed);
    assert_eq!(report.rows, 7);
    let lines: Vec<u64> = report.bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, [3, 5, 6, 8]);
    assert!(report.bad[0].reason.starts_with("phone:"), "{:?}", report.bad[0]);
    assert!(report.bad[1].reason.starts_with("property_state:"));
    assert!(report.bad[2].reason.contains("columns"));
    assert!(report.bad[3].reason.contains("line 2"));
    assert_eq!(lead_count(&app).await, 0, "all or nothing leaves the database unchanged");

    let report = loanfloor::leads::import::import_leads(&app.state, &user, MESSY.as_bytes(), true).await.unwrap();
    assert!(report.committed);
    assert_eq!(report.imported, 3);
    assert_eq!(report.bad.len(), 4);
    assert_eq!(lead_count(&app).await, 3);
    let (amount, purpose, lo_id): (i64, String, Uuid) =
        sqlx::query_as("SELECT loan_amount_cents, loan_purpose, assigned_lo_id FROM leads WHERE external_id = 'Z6'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((amount, purpose.as_str(), lo_id), (30_000_000, "cash_out", lo));
    let assignments: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments").fetch_one(app.db()).await.unwrap();
    assert_eq!(assignments, 3);

    // Importing the same file again creates nothing new: the external ids were imported before.
    let again = loanfloor::leads::import::import_leads(&app.state, &user, MESSY.as_bytes(), true).await.unwrap();
    assert_eq!((again.imported, again.already_imported), (0, 4), "Z1, Z3, Z6 and the repeat of Z1");
    assert_eq!(lead_count(&app).await, 3);
}

#[tokio::test]
async fn an_import_sets_loan_numbers_once_and_referrers_by_past_client() {
    let app = TestApp::spawn().await;
    let one = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let two = app.create_user(Role::Lo, "lo.two@example.com", Some("North"), &["TX"]).await;
    let mut held = lead("Ana", "Held", "512-555-0100");
    held["loan_number"] = json!("LN-7");
    create_via_api(&app, one, held).await;
    // A past client to name as the referrer: a lead of LO two that funds becomes a portfolio loan.
    let mut client = lead("Pat", "Past", "512-555-0109");
    client["loan_number"] = json!("LN-PAST");
    let past = create_via_api(&app, two, client).await;
    let res = app
        .api(&app.token_for(two).await)
        .post(app.url(&format!("/api/v1/leads/{past}/stage")))
        .json(&json!({"stage": "funded", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.run_jobs().await; // the funding's event makes the past client's loan
    let csv = "first_name,last_name,phone,loan_number,referred_by_loan_number
               Bo,New,512-555-0101,LN-8,LN-PAST
               Cy,Taken,512-555-0102,LN-7,
               Di,Again,512-555-0103,LN-8,
               Ed,Unknown,512-555-0104,,LN-NONE
";
    let user = current_user(&app, two).await;
    let report = loanfloor::leads::import::import_leads(&app.state, &user, csv.as_bytes(), true).await.unwrap();
    assert!(report.committed);
    let bad: Vec<(u64, &str)> = report.bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
    assert_eq!(
        bad,
        [
            (3, "loan_number: already on another lead"),
            (4, "loan_number: the same loan number as line 2"),
            (5, "referred_by_loan_number: no past client has this loan number"),
        ],
        "LO two may not see LO one's lead: the report says nothing of it"
    );
    let (number, referrer): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT l.loan_number, p.loan_number FROM leads l LEFT JOIN portfolio_loans p ON p.id = l.referred_by_loan_id
         WHERE l.last_name = 'New'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((number.as_deref(), referrer.as_deref()), (Some("LN-8"), Some("LN-PAST")));
    // LO one, who may see the lead, is told whose lead has the number.
    let user = current_user(&app, one).await;
    let csv = "first_name,last_name,phone,loan_number
Fay,Taken,512-555-0105,LN-7
";
    let report = loanfloor::leads::import::import_leads(&app.state, &user, csv.as_bytes(), false).await.unwrap();
    assert!(report.bad[0].reason.starts_with("loan_number: already on the lead of Ana Held"), "{:?}", report.bad);
}

#[tokio::test]
async fn the_browser_upload_reports_bad_rows_and_offers_a_report() {
    let app = TestApp::spawn().await;
    let (_, client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(MESSY.as_bytes().to_vec()).file_name("leads.csv"));
    let res = client.post(app.url("/leads/import")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Nothing was imported"));
    assert_eq!(lead_count(&app).await, 0);

    let form = reqwest::multipart::Form::new()
        .text("skip_bad", "1")
        .part("file", reqwest::multipart::Part::bytes(MESSY.as_bytes().to_vec()).file_name("leads.csv"));
    let res = client.post(app.url("/leads/import")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Imported 3 of 7 rows"), "{html}");
    assert_eq!(lead_count(&app).await, 3);
    let start = html.find("/leads/import/report/").unwrap();
    let href: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let report = client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(report.status(), 200);
    let csv = report.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(lines, ["line", "3", "5", "6", "8"]);
    // Another user cannot fetch this report.
    let (_, other) = app.login_as(Role::Lo, "lo.two@example.com", Some("North"), &["TX"]).await;
    assert_eq!(other.get(app.url(&href)).send().await.unwrap().status(), 404);
    let uploads = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("loanfloor-upload-"))
            .count()
    };
    let before = uploads();

    // A day later the report is gone, from every instance (the database keeps it, not a temporary file), and
    // the hourly housekeeping deletes it with the sessions that expired.
    sqlx::query(
        "INSERT INTO sessions (id_hash, data, expires_at) VALUES (repeat('ab', 32), '{}', now() - interval '1 minute')",
    )
    .execute(app.db())
    .await
    .unwrap();
    app.state.clock.advance(chrono::Duration::hours(25));
    let client = app.login("lo.one@example.com").await;
    assert_eq!(client.get(app.url(&href)).send().await.unwrap().status(), 404);
    let swept = loanfloor::home::housekeeping::run(&app.state, app.state.clock.now()).await.unwrap();
    assert_eq!((swept.import_reports, swept.sessions >= 1), (2, true), "both uploads' reports: {swept:?}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM import_reports").fetch_one(app.db()).await.unwrap();
    assert_eq!(left, 0);
    let next: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'home.housekeeping' AND status = 'queued'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(next, 1, "the next hour's run is scheduled");
    assert!(uploads() <= before, "the uploads' temporary files went with their requests");
}

#[tokio::test]
async fn an_lo_creates_a_lead_from_the_form_and_owns_it() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let res = client
        .post(app.url("/leads/new"))
        .form(&[("first_name", "Ana"), ("last_name", "Reyes"), ("phone", "12"), ("loan_amount", "$400,000")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("value=\"$400,000\""), "the form keeps the input");
    let res = client
        .post(app.url("/leads/new"))
        .form(&[
            ("first_name", "Ana"),
            ("last_name", "Reyes"),
            ("phone", "512 555 0142"),
            ("loan_amount", "$400,000"),
            ("consent_channel", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (owner, amount): (Uuid, i64) =
        sqlx::query_as("SELECT assigned_lo_id, loan_amount_cents FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!((owner, amount), (lo, 40_000_000));
}

/// 100k rows through the import path (run with `cargo test --release --test leads -- --ignored`).
#[tokio::test]
#[ignore]
async fn importing_100k_rows_is_fast() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@example.com", None, &[]).await;
    let user = current_user(&app, admin).await;
    let mut csv = String::from(
        "first_name,last_name,phone,email,property_state,loan_purpose,loan_amount_cents,credit_band,source,external_id,consent_channel\n",
    );
    for i in 0..100_000u32 {
        csv.push_str(&format!(
            "First{i},Last{i},512{:07},p{i}@example.com,TX,purchase,{},good,bulk,B{i},call\n",
            2_000_000 + i,
            25_000_000 + i as i64
        ));
    }
    let started = std::time::Instant::now();
    let report =
        loanfloor::leads::import::import_leads(&app.state, &user, std::io::Cursor::new(csv), false).await.unwrap();
    let took = started.elapsed();
    eprintln!("imported {} rows in {:.2} s", report.imported, took.as_secs_f64());
    assert!(report.committed, "{:?}", report.bad.first());
    assert_eq!(report.imported, 100_000);
    assert_eq!(lead_count(&app).await, 100_000);
}

#[tokio::test]
async fn every_workspace_page_renders_for_its_roles() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let id = create_via_api(&app, lo, lead("Ana", "Reyes", "512-555-0142")).await;
    for path in ["/my-day", "/leads", "/leads/new", "/leads/import", "/pipeline", "/tasks", "/tasks?view=overdue"] {
        assert_eq!(client.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    for path in [format!("/leads/{id}"), format!("/leads/{id}/edit")] {
        assert_eq!(client.get(app.url(&path)).send().await.unwrap().status(), 200, "{path}");
    }
    let (_, mgr) = app.login_as(Role::Manager, "mgr@example.com", Some("North"), &[]).await;
    assert_eq!(mgr.get(app.url(&format!("/leads/{id}/merge"))).send().await.unwrap().status(), 200);
    assert_eq!(mgr.get(app.url("/leads?queue=unassigned&age=7d&sort=oldest")).send().await.unwrap().status(), 200);
    let (_, lossmit) = app.login_as(Role::Lossmit, "lm@example.com", None, &[]).await;
    assert_eq!(lossmit.get(app.url("/my-day")).send().await.unwrap().status(), 403);
    assert_eq!(lossmit.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn an_admin_configures_stale_days_and_the_lost_reason_list() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    let (lo, lo_client) = app.login_as(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    assert_eq!(lo_client.get(app.url("/admin/pipeline")).send().await.unwrap().status(), 403);
    assert_eq!(admin.get(app.url("/admin/pipeline")).send().await.unwrap().status(), 200);
    let res = admin
        .post(app.url("/admin/pipeline/stages/contacted"))
        .form(&[("label", "Reached"), ("stale_after_days", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = admin
        .post(app.url("/admin/pipeline/stages/contacted"))
        .form(&[("label", "Reached"), ("stale_after_days", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (label, days): (String, Option<i32>) =
        sqlx::query_as("SELECT label, stale_after_days FROM stages WHERE key = 'contacted'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((label.as_str(), days), ("Reached", Some(5)));
    let res = admin
        .post(app.url("/admin/pipeline/lost-reasons"))
        .form(&[("key", "appraisal_gap"), ("label", "Appraisal gap"), ("active", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Deactivate "rate": no longer accepted for new lost moves.
    admin
        .post(app.url("/admin/pipeline/lost-reasons"))
        .form(&[("key", "rate"), ("label", "Rate")])
        .send()
        .await
        .unwrap();
    let id = create_via_api(&app, lo, lead("Ana", "Reyes", "512-555-0142")).await;
    let api = app.api(&app.token_for(lo).await);
    let url = app.url(&format!("/api/v1/leads/{id}/stage"));
    let res = api.post(&url).json(&json!({"stage": "lost", "lost_reason": "rate", "version": 1})).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let res = api
        .post(&url)
        .json(&json!({"stage": "lost", "lost_reason": "appraisal_gap", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_import_command_fails_on_bad_rows_and_commits_the_rest_with_skip_bad() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "admin@example.com", None, &[]).await;
    let path = std::env::temp_dir().join(format!("lf-leads-{}.csv", Uuid::new_v4().simple()));
    std::fs::write(&path, MESSY).unwrap();
    let args = |skip_bad| loanfloor::config::ImportArgs { file: path.clone(), skip_bad, as_email: None };
    let kind = loanfloor::leads::import::Kind::Leads;
    let err = loanfloor::leads::import::cli(&app.state, kind, &args(false)).await.unwrap_err().to_string();
    assert!(err.contains("Nothing imported: 4 of 7 rows are bad"), "{err}");
    assert!(err.contains("line 3: phone:"), "{err}");
    assert_eq!(lead_count(&app).await, 0);
    let out = loanfloor::leads::import::cli(&app.state, kind, &args(true)).await.unwrap();
    assert!(out.starts_with("7 rows read: 3 imported"), "{out}");
    assert_eq!(lead_count(&app).await, 3);
    let unassigned: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id IS NULL")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(unassigned, 3, "an admin's import goes to routing (the unassigned queue until rules exist)");
    let _ = std::fs::remove_file(&path);
}

/// Rows of the rollups (folded and not yet folded) that differ from the definitions computed straight from the
/// base tables, at the finest grain.
async fn rollup_differences(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "WITH rolled AS (
             SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos,
                    sum(n) AS n, sum(r1) AS r1, sum(called) AS called, sum(volume_cents) AS volume, sum(cost_cents) AS cost,
                    sum(h0 + h1 + h2 + h3 + h4 + h5 + h6 + h7 + h8) AS h
             FROM (SELECT * FROM metrics_daily WHERE grain = 0
                   UNION ALL SELECT 0::smallint, kind, day, team_id, lo_id, source, campaign, state, purpose, detail,
                                    reached_pos, n, r1, r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted,
                                    attempts, attempts_to_contact, talk_seconds, volume_cents, cost_cents,
                                    h0, h1, h2, h3, h4, h5, h6, h7, h8, created_at, created_at FROM metrics_deltas) x
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(n) <> 0),
         base AS (
             SELECT kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos,
                    sum(n), sum(r1), sum(called), sum(volume_cents), sum(cost_cents), sum(h0 + h1 + h2 + h3 + h4 + h5 + h6 + h7 + h8)
             FROM metrics_contributions GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
         SELECT count(*) FROM ((SELECT * FROM rolled EXCEPT SELECT * FROM base)
                               UNION ALL (SELECT * FROM base EXCEPT SELECT * FROM rolled)) d",
    )
    .fetch_one(app.db())
    .await
    .unwrap()
}

/// The count of a kind of contribution in the rollups (folded or not).
async fn rolled_up(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(n), 0)::bigint FROM (SELECT n FROM metrics_daily WHERE grain = 0 AND kind = $1
                                                  UNION ALL SELECT n FROM metrics_deltas WHERE kind = $1) x",
    )
    .bind(kind)
    .fetch_one(app.db())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admins_import_is_routed_after_the_commit_and_the_rollups_stay_equal_to_the_base_tables() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@example.com", None, &[]).await;
    let lo1 = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    app.create_user(Role::Lo, "lo.two@example.com", Some("North"), &["TX"]).await;
    let existing = create_via_api(&app, lo1, lead("Old", "Lead", "512-555-0100")).await;
    let user = current_user(&app, admin).await;
    let csv = "first_name,last_name,phone,property_state,loan_purpose,loan_amount_cents,source,external_id\n\
               Ana,One,512-555-0101,TX,purchase,30000000,zillow,A1\n\
               Bo,Two,512-555-0100,TX,purchase,20000000,zillow,A2\n\
               Cy,Three,512-555-0103,TX,refinance,10000000,zillow,A3\n\
               Di,Four,512-555-0101,TX,purchase,,zillow,A4\n\
               Ed,Five,512-555-0105,TX,purchase,,zillow,A5\n";
    let report = loanfloor::leads::import::import_leads(&app.state, &user, csv.as_bytes(), false).await.unwrap();
    assert!(report.committed, "{:?}", report.bad);
    assert_eq!((report.imported, report.duplicates, report.routing), (3, 2, 3));
    let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM activities WHERE lead_id = $1 AND kind = 'note'")
        .bind(existing)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(notes, 1, "Bo is noted on the open lead with his phone");
    // Committed, counted in the rollups, not yet routed.
    assert_eq!(rollup_differences(&app).await, 0);
    assert_eq!(rolled_up(&app, "lead").await, 4, "the earlier lead and the three imported ones");
    let unassigned: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id IS NULL")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(unassigned, 3);

    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let per_lo: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM leads WHERE external_id IS NOT NULL GROUP BY assigned_lo_id ORDER BY 1",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(per_lo, [1, 2], "round robin over the two LOs, nobody left unassigned");
    assert_eq!(rollup_differences(&app).await, 0);
    let earlier: i64 =
        sqlx::query_scalar("SELECT count(*) FROM assignments WHERE lead_id = $1 AND to_lo_id IS NOT NULL")
            .bind(existing)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(rolled_up(&app, "assignment").await, earlier + 3, "the three routed leads count for their LOs");

    // Running the job again (a retry) routes nobody twice.
    let payload: Value = sqlx::query_scalar("SELECT payload FROM jobs WHERE kind = 'leads.route_imported'")
        .fetch_one(app.db())
        .await
        .unwrap();
    let job =
        loanfloor::jobs::Job { id: 0, kind: "leads.route_imported".into(), payload, attempts: 2, max_attempts: 5 };
    loanfloor::leads::import::route_imported(&app.state, &job).await.unwrap();
    let decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM routing_decisions").fetch_one(app.db()).await.unwrap();
    assert_eq!(decisions, 3);
}

#[tokio::test]
async fn a_repeated_external_id_is_a_bad_row_even_batches_apart_and_crlf_lines_are_numbered_right() {
    let app = TestApp::spawn().await;
    let lo = app.create_user(Role::Lo, "lo.one@example.com", Some("North"), &["TX"]).await;
    let user = current_user(&app, lo).await;
    // 2,001 rows (more than one write batch of 2,000), Excel line ends; the last repeats line 2's external id.
    let mut csv = String::from("first_name,last_name,phone,property_state,source,external_id\r\n");
    for i in 0..2000u32 {
        csv.push_str(&format!("F{i},L{i},512{:07},TX,bulk,E{i}\r\n", 3_000_000 + i));
    }
    csv.push_str("Again,Zero,5129999999,TX,bulk,E0\r\n");
    let report =
        loanfloor::leads::import::import_leads(&app.state, &user, std::io::Cursor::new(csv), false).await.unwrap();
    assert!(!report.committed);
    assert_eq!(report.rows, 2001);
    assert_eq!(
        report.bad,
        [loanfloor::leads::import::BadRow {
            line: 2002,
            reason: "external_id: same source and external_id as line 2".into()
        }]
    );
    assert_eq!(lead_count(&app).await, 0);
}

/// An LO's whole list shows the total kept per LO by triggers (not a count on every view): it follows
/// creation, reassignment, a move to lost and a bulk update, and matches a recount from scratch.
#[tokio::test]
async fn an_los_unfiltered_total_is_kept_exact_through_every_change() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin, "admin@example.com", None, &[]).await;
    let (ann, ann_page) = app.login_as(Role::Lo, "ann@example.com", Some("North"), &["TX"]).await;
    let bob = app.create_user(Role::Lo, "bob@example.com", Some("North"), &["TX"]).await;
    let ann_api = app.api(&app.token_for(ann).await);
    let admin_api = app.api(&app.token_for(admin).await);
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(create_via_api(&app, ann, lead("Bo", &format!("Total{i}"), &format!("512-555-01{i:02}"))).await);
    }
    // The page, the API and a real count agree at every step.
    let check = |want: i64, why: &'static str| {
        let (app, page, api) = (&app, &ann_page, &ann_api);
        async move {
            assert_eq!(app.list_total(page, "/leads").await, want, "page: {why}");
            let v: Value = api.get(app.url("/api/v1/leads?limit=1")).send().await.unwrap().json().await.unwrap();
            assert_eq!(v["total"], want, "API: {why}");
            let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id = $1")
                .bind(ann)
                .fetch_one(app.db())
                .await
                .unwrap();
            assert_eq!(counted, want, "the leads themselves: {why}");
        }
    };
    check(4, "created").await;
    let res = admin_api
        .post(app.url(&format!("/api/v1/leads/{}/assign", ids[0])))
        .json(&json!({"lo_id": bob, "reason": "covering"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    check(3, "one handed to Bob").await;
    app.move_stage(&ann_api, ids[1], "lost", Some("rate")).await;
    check(3, "a lost lead is still hers").await;
    // A bulk write outside the application (one statement, several rows) moves two back and forth.
    sqlx::query("UPDATE leads SET assigned_lo_id = $2 WHERE id = ANY($1)")
        .bind(&ids[2..4])
        .bind(bob)
        .execute(app.db())
        .await
        .unwrap();
    check(1, "two moved in one statement").await;
    // A filter counts the leads themselves; the kept total equals a recount from scratch.
    assert_eq!(app.list_total(&ann_page, "/leads?stage=lost").await, 1);
    let kept: Vec<(Uuid, i64, i64)> =
        sqlx::query_as("SELECT lo_id, open_leads, all_leads FROM lo_open_leads WHERE all_leads <> 0 ORDER BY lo_id")
            .fetch_all(app.db())
            .await
            .unwrap();
    sqlx::query("SELECT lo_open_leads_rebuild()").execute(app.db()).await.unwrap();
    let rebuilt: Vec<(Uuid, i64, i64)> =
        sqlx::query_as("SELECT lo_id, open_leads, all_leads FROM lo_open_leads WHERE all_leads <> 0 ORDER BY lo_id")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(kept, rebuilt);
    assert_eq!(rebuilt.len(), 2, "Ann and Bob: {rebuilt:?}");
}
