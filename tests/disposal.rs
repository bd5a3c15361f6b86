//! Issue 24's "Done when": one borrower enters Loanfloor through every path (the API, a CSV import, calls and
//! notes, an escalation with an attachment, a loss-mitigation case, webhooks, messages); the clock moves past
//! retention, disposal runs, and then neither a full `pg_dump` of the database nor any file of the cluster's
//! data directory holds that person's name, email or phone — while the dashboard's figures for the past
//! period, the records' counts and the audit log's entries (and ids) are what they were. A legal hold keeps a
//! lead from disposal until it is released.

mod common;

use std::path::{Path, PathBuf};

use chrono::Duration;
use common::TestApp;
use common::receiver::Received;
use loanfloor::auth::Role;
use loanfloor::retention::dispose::{self, MARKER};
use serde_json::{Value, json};
use uuid::Uuid;

const FIRST: &str = "Quillon";
const LAST: &str = "Vantebrook";
const FULL: &str = "Quillon Vantebrook";
const EMAIL: &str = "quillon.vantebrook@example.net";
/// As typed; the leads store it as `+17374182963`.
const PHONE: &str = "(737) 418-2963";
const ADDRESS: &str = "41 Marrowgate Terrace, Austin, TX 78701";

/// Everything that would identify the borrower, as the search looks for it (case-insensitively).
fn needles() -> Vec<&'static str> {
    vec![FULL, FIRST, LAST, EMAIL, "+17374182963", "7374182963", PHONE, "737-418-2963", "418-2963", "Marrowgate"]
}

/// The needles found in `hay` (compared in ASCII lower case).
fn found_in(hay: &[u8]) -> Vec<&'static str> {
    let hay = hay.to_ascii_lowercase();
    needles().into_iter().filter(|n| contains(&hay, n.to_ascii_lowercase().as_bytes())).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let (first, n) = (needle[0], needle.len());
    let mut i = 0;
    while i + n <= hay.len() {
        if hay[i] == first && &hay[i..i + n] == needle {
            return true;
        }
        i += 1;
    }
    false
}

struct Floor {
    app: TestApp,
    admin: reqwest::Client,
    lo: reqwest::Client,
    lo_api: reqwest::Client,
    manager_api: reqwest::Client,
    supervisor_api: reqwest::Client,
    specialist: reqwest::Client,
    hooks: Received,
}

/// An organisation with an LO and their manager, loss-mitigation staff, the lender's postal address (borrower
/// email needs it) and a webhook endpoint allowed the borrower's contact details, on a real receiver.
async fn floor() -> Floor {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@branch.test", None, &[]).await;
    let res = admin
        .post(app.url("/admin/messages/postal-address"))
        .form(&[("postal_address", "Lakeside Lending, 100 Congress Ave, Austin, TX 78701")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "postal address saved");
    let (port, hooks) = common::receiver::start(0).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut form = vec![
        ("url", url.as_str()),
        ("allowed_host", "127.0.0.1"),
        ("plain_http_host", "127.0.0.1"),
        ("include_contact", "on"),
    ];
    form.extend(["lead.created", "lead.stage_changed", "escalation.decided", "message.text"].map(|e| ("events", e)));
    let res = admin.post(app.url("/admin/webhooks")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 201, "webhook endpoint registered");
    let (lo_id, lo) = app.login_as(Role::Lo, "ann.officer@branch.test", Some("North"), &["TX"]).await;
    let lo_api = app.api(&app.token_for(lo_id).await);
    let manager = app.create_user(Role::Manager, "mona.manager@branch.test", Some("North"), &[]).await;
    let manager_api = app.api(&app.token_for(manager).await);
    let supervisor = app.create_user(Role::LossmitSupervisor, "sam.super@servicer.test", None, &[]).await;
    let supervisor_api = app.api(&app.token_for(supervisor).await);
    let (_, specialist) = app.login_as(Role::Lossmit, "pat.spec@servicer.test", None, &[]).await;
    Floor { app, admin, lo, lo_api, manager_api, supervisor_api, specialist, hooks }
}

/// Runs due jobs until none is left (events dispatch, then messages and webhook deliveries go out).
async fn drain(app: &TestApp) {
    for _ in 0..10 {
        if app.run_jobs().await == 0 {
            return;
        }
    }
}

/// The borrower through the API (with text consent and an idempotency key), then again in a CSV upload (a
/// duplicate: noted on the lead with the row's name, phone and email).
async fn arrives(f: &Floor) -> Uuid {
    let body = json!({
        "first_name": FIRST, "last_name": LAST, "email": EMAIL, "phone": PHONE,
        "property_state": "TX", "property_zip": "78701", "loan_purpose": "purchase",
        "loan_amount_cents": 32_000_000, "property_value_cents": 40_000_000, "credit_band": "good",
        "source": "zillow", "campaign": "spring", "external_id": "QV-24-0001",
        "consent": {"channel": "text", "text": format!("I, {FULL}, agree to texts at {PHONE}"),
                    "captured_at": "2026-03-01T14:30:00Z", "token": "tf-quillon-vantebrook"}
    });
    let res = f
        .lo_api
        .post(f.app.url("/api/v1/leads"))
        .header("Idempotency-Key", "quillon-vantebrook-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // The first touch goes out while the lead is new.
    drain(&f.app).await;

    let csv = format!(
        "first_name,last_name,phone,email,property_state,loan_purpose,source,external_id\n\
         {FIRST},{LAST},737-418-2963,{EMAIL},TX,refinance,zillow,QV-CSV-7\n"
    );
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(csv.into_bytes()).file_name(format!("{FIRST}-{LAST}-leads.csv")));
    let res = f.lo.post(f.app.url("/leads/import")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let noted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activities WHERE lead_id = $1 AND body LIKE 'Duplicate submission%'")
            .bind(lead)
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(noted, 1, "the import's row is a duplicate of the lead, noted on it");
    lead
}

/// Calls (one with a callback task, one missed: the borrower's missed-call email), a note, and the lead on
/// to the application stage.
async fn worked(f: &Floor, lead: Uuid) {
    let tomorrow = (f.app.state.clock.now() + Duration::days(1)).to_rfc3339();
    for activity in [
        json!({"kind": "call", "direction": "outbound", "outcome": "voicemail", "talk_seconds": 40,
               "body": format!("Left a voicemail for {FULL} at {PHONE}"), "callback_at": tomorrow}),
        json!({"kind": "call", "direction": "inbound", "outcome": "contacted", "talk_seconds": 540,
               "body": format!("{FULL} called back; prefers {EMAIL}")}),
        json!({"kind": "note", "body": format!("{FULL} wants a 15-year fixed; Mr. {LAST} is relocating")}),
    ] {
        let res =
            f.lo_api.post(f.app.url(&format!("/api/v1/leads/{lead}/activities"))).json(&activity).send().await.unwrap();
        assert_eq!(res.status(), 201, "activity logged: {}", res.text().await.unwrap());
    }
    for stage in ["contacted", "prequalified", "application"] {
        f.app.move_stage(&f.lo_api, lead, stage, None).await;
    }
}

/// A pricing exception with the borrower's quote attached (named after them, their details inside), and the
/// manager's decision with a note (a webhook delivery).
async fn escalated(f: &Floor, lead: Uuid) {
    let quote = format!("Keystone Lending quote for {FULL}, {EMAIL}, {PHONE}: 6.625% with 0 points");
    let form = reqwest::multipart::Form::new()
        .text("lead_id", lead.to_string())
        .text("kind", "pricing_exception")
        .text("standard_rate", "6.875")
        .text("requested_rate", "6.625")
        .text("reason", "competitor_match")
        .text("competitor_name", "Keystone Lending")
        .text("competitor_offer", format!("6.625% quoted to {FULL}"))
        .text("note", format!("{FULL} has a written quote"))
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(quote.into_bytes())
                .file_name(format!("{FIRST}-{LAST}-quote.txt"))
                .mime_str("text/plain")
                .unwrap(),
        );
    let res = f.lo.post(f.app.url("/escalations/new")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let id = res.headers()[reqwest::header::LOCATION].to_str().unwrap().trim_start_matches("/escalations/").to_string();
    let res = f
        .manager_api
        .post(f.app.url(&format!("/api/v1/escalations/{id}/decision")))
        .json(&json!({"decision": "approve", "note": format!("Approved to keep {FULL}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// A loss-mitigation case for the same person: an application (the borrower's acknowledgment email), a
/// document and a borrower request with notes naming them, then resolved as paid off.
async fn case_opened_and_paid_off(f: &Floor) -> Uuid {
    let body = json!({
        "loan_number": "QV-LN-24017", "borrower_name": FULL, "borrower_phone": PHONE, "borrower_email": EMAIL,
        "property_address": ADDRESS, "property_state": "TX", "investor": "fannie_mae", "upb_cents": 18_000_000,
        "note_rate": 7.5, "remaining_term_months": 300, "monthly_pi_cents": 133_018, "monthly_escrow_cents": 35_000,
        "first_unpaid_due_date": "2026-03-01", "specialist_email": "pat.spec@servicer.test",
    });
    let api = &f.supervisor_api;
    let res = api.post(f.app.url("/api/v1/lossmit/cases")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let today = f.app.state.today().to_string();
    let res = api
        .post(f.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": today}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let note = format!("Hardship letter signed by {FULL}");
    let form = [("document", "hardship_letter"), ("document_received_on", today.as_str()), ("document_note", &note)];
    let res = f.specialist.post(f.app.url(&format!("/lossmit/cases/{id}/documents"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = api
        .post(f.app.url(&format!("/api/v1/lossmit/cases/{id}/borrower-requests")))
        .json(&json!({"kind": "information_request", "category": "payoff_statement", "channel": "email",
                      "received_on": today, "summary": format!("{FULL} ({EMAIL}) asks for a payoff statement")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let case: Value =
        api.get(f.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    let version = case["version"].as_i64().unwrap().to_string();
    let form = [("stage", "resolved"), ("resolution", "paid_off"), ("version", version.as_str())];
    let res = f.specialist.post(f.app.url(&format!("/lossmit/cases/{id}/stage"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    id
}

/// The dashboard's figures for the past month, as the admin reads them (rollups and base tables).
async fn figures(f: &Floor) -> Vec<Value> {
    loanfloor::metrics::fold_rollups(f.app.db()).await.unwrap();
    let today = f.app.state.today();
    let range = format!("from={}&to={}", today - Duration::days(30), today + Duration::days(1));
    let mut out = Vec::new();
    for path in [
        "funnel?group_by=team",
        "funnel?group_by=lo",
        "funnel?group_by=source",
        "speed-to-lead?",
        "lost-reasons?",
        "roi?",
    ] {
        for which in ["", "&figures=base"] {
            let url = f.app.url(&format!("/api/v1/metrics/{path}&{range}{which}"));
            let res = f.admin.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}{which}");
            out.push(res.json().await.unwrap());
        }
    }
    out
}

/// Rows per table the borrower touched (none is deleted by disposal, but for attachments and stored answers).
async fn counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "leads",
        "activities",
        "tasks",
        "stage_changes",
        "assignments",
        "lead_consents",
        "routing_decisions",
        "messages",
        "notifications",
        "escalations",
        "escalation_events",
        "webhook_deliveries",
        "domain_events",
        "lossmit_cases",
        "lossmit_documents",
        "lossmit_borrower_requests",
        "lossmit_letters",
        "lossmit_stage_changes",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(app.db()).await.unwrap();
        out.push((table, n));
    }
    out
}

async fn audit_entries(app: &TestApp) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT id, action FROM audit_log ORDER BY id").fetch_all(app.db()).await.unwrap()
}

/// The newest PostgreSQL client program `name` installed (as the harness finds the server's binaries).
fn pg_program(name: &str) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin").join(name))))
        .filter(|(_, p)| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql/*/bin")).1
}

/// A full plain-SQL `pg_dump` of the test database, in memory.
async fn pg_dump(app: &TestApp) -> Vec<u8> {
    let out = tokio::process::Command::new(pg_program("pg_dump"))
        .arg("--dbname")
        .arg(&app.url)
        .output()
        .await
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() > 10_000, "a whole database");
    out.stdout
}

/// The dump's rows that name the person, each with the table it belongs to (the `COPY` above it).
fn rows_naming(dump: &[u8]) -> String {
    let mut out = String::new();
    let mut table = "";
    for line in String::from_utf8_lossy(dump).lines() {
        if let Some(rest) = line.strip_prefix("COPY ") {
            table = rest.split(' ').next().unwrap_or("");
            continue;
        }
        let found = found_in(line.as_bytes());
        if !found.is_empty() {
            let short: String = line.chars().take(400).collect();
            out.push_str(&format!("\n  {table}: {found:?}: {}", short.into_boxed_str()));
        }
    }
    out
}

/// Every regular file under `dir` that holds one of the needles, with the needles it holds. Files that
/// vanish while the walk reads (the cluster is shared with other tests) are skipped.
fn search_dir(dir: &Path, hits: &mut Vec<(PathBuf, Vec<&'static str>)>, files: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_dir() {
            search_dir(&path, hits, files);
        } else if kind.is_file() {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    *files += 1;
                    let found = found_in(&bytes);
                    if !found.is_empty() {
                        hits.push((path, found));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("cannot read {}: {e}", path.display()),
            }
        }
    }
}

/// The cluster's data directory (as the server reports it) searched for the borrower.
async fn search_data_directory(app: &TestApp) -> Vec<(PathBuf, Vec<&'static str>)> {
    let dir: String = sqlx::query_scalar("SHOW data_directory").fetch_one(app.db()).await.unwrap();
    let recycle: String = sqlx::query_scalar("SHOW wal_recycle").fetch_one(app.db()).await.unwrap();
    assert_eq!(recycle, "off", "a recycled WAL segment keeps its old contents: restart {dir} with wal_recycle=off");
    tokio::task::spawn_blocking(move || {
        let (mut hits, mut files) = (Vec::new(), 0);
        search_dir(Path::new(&dir), &mut hits, &mut files);
        assert!(files > 100, "the data directory {dir} was read ({files} files)");
        hits
    })
    .await
    .unwrap()
}

/// Names the table behind each data file found (`base/<db oid>/<relfilenode>[.n|_fsm|_vm]`), for the message.
async fn describe(app: &TestApp, hits: &[(PathBuf, Vec<&'static str>)]) -> String {
    let mut out = String::new();
    for (path, found) in hits {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let node: Option<u32> = file.split(['.', '_']).next().and_then(|n| n.parse().ok());
        let table: Option<String> = match node {
            Some(n) => sqlx::query_scalar("SELECT pg_filenode_relation(0, $1::oid)::regclass::text")
                .bind(n as i64)
                .fetch_one(app.db())
                .await
                .ok()
                .flatten(),
            None => None,
        };
        out.push_str(&format!("\n  {} ({}): {found:?}", path.display(), table.as_deref().unwrap_or("?")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disposed_borrower_is_nowhere_in_the_database_or_its_files_and_past_figures_stand() {
    let f = floor().await;
    let app = &f.app;
    let lead = arrives(&f).await;
    worked(&f, lead).await;
    escalated(&f, lead).await;
    let case = case_opened_and_paid_off(&f).await;
    drain(app).await;

    // Every path kept the person somewhere: the search finds them before disposal.
    let delivered = f.hooks.lock().unwrap().iter().filter(|(_, body)| !found_in(body).is_empty()).count();
    assert!(delivered >= 1, "the endpoint allowed contact details got the borrower");
    let before_dump = found_in(&pg_dump(app).await);
    for needle in [FULL, EMAIL, "+17374182963", PHONE, "Marrowgate"] {
        assert!(before_dump.contains(&needle), "the dump holds {needle} before disposal: {before_dump:?}");
    }
    let attachments = || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM escalation_attachments");
    assert_eq!(attachments().fetch_one(app.db()).await.unwrap(), 1);
    for (table, n) in counts(app).await {
        assert!(n > 0 || ["routing_decisions", "lossmit_letters"].contains(&table), "{table}: no path wrote to it");
    }
    // Messages went to the borrower by email and text (through the texting tool's webhook), and to staff.
    let sent: Vec<String> = sqlx::query_scalar(
        "SELECT audience || ':' || channel FROM messages UNION SELECT 'webhook:' || event FROM webhook_deliveries
          WHERE status = 'delivered' ORDER BY 1",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    let webhooks =
        ["escalation.decided", "lead.created", "lead.stage_changed", "message.text"].map(|e| format!("webhook:{e}"));
    assert_eq!(
        sent,
        [&["borrower:email", "borrower:text", "staff:email"].map(String::from)[..], &webhooks[..]].concat()
    );
    assert!(!search_data_directory(app).await.is_empty(), "the data directory holds the person before disposal");

    let figures_before = figures(&f).await;
    let counts_before = counts(app).await;
    let audit_before = audit_entries(app).await;

    // Three years on, past every rule: the lead (an application) and the paid-off case are disposed.
    let later = app.state.clock.now() + Duration::days(365 * 3);
    let report = dispose::apply(&app.state, later).await.unwrap();
    assert_eq!((report.leads + report.applications, report.loss_mitigation_cases), (1, 1), "{report:?}");
    assert!(report.audit_entries_scrubbed > 0, "{report:?}");
    let skipped = dispose::compact(app.db()).await;
    assert!(skipped.is_empty(), "the test pool is a superuser: every compaction step runs: {skipped:?}");
    let audit_after = audit_entries(app).await;

    let dump = pg_dump(app).await;
    assert!(found_in(&dump).is_empty(), "the dump names the person after disposal:{}", rows_naming(&dump));
    let hits = search_data_directory(app).await;
    assert!(hits.is_empty(), "data files still hold the person:{}", describe(app, &hits).await);

    // The past stands: the same figures, the same records (disposed, not deleted), the same audit entries.
    assert_eq!(figures(&f).await, figures_before, "the dashboard's figures for the past period");
    assert_eq!(counts(app).await, counts_before);
    let (first, disposed_at): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT first_name, disposed_at FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((first.as_str(), disposed_at.is_some()), (MARKER, true));
    let (name, disposed_at): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT borrower_name, disposed_at FROM lossmit_cases WHERE id = $1")
            .bind(case)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((name.as_str(), disposed_at.is_some()), (MARKER, true));
    let (kept, added): (Vec<_>, Vec<_>) = audit_after.iter().cloned().partition(|e| audit_before.contains(e));
    assert_eq!(kept, audit_before, "every earlier entry is still there, with its id and action");
    assert_eq!(added.len(), 2, "one entry per batch (the case, the application): {added:?}");
    assert!(added.iter().all(|(id, action)| action == "retention.disposed" && *id > audit_before.last().unwrap().0));
    let scrubbed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE scrubbed_at IS NOT NULL")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(scrubbed > 0 && scrubbed as u64 <= report.audit_entries_scrubbed, "{scrubbed} entries scrubbed");
    assert_eq!(attachments().fetch_one(app.db()).await.unwrap(), 0, "attachments go with the person");
}

#[tokio::test]
async fn a_lead_on_legal_hold_waits_until_the_hold_is_released() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "ada.admin@branch.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo.one@branch.test", Some("North"), &["TX"]).await;
    let res = app
        .api(&app.token_for(lo).await)
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ottoline", "last_name": "Brackenmoor", "phone": "(737) 555-0917",
                      "email": "ottoline@holds.test", "loan_purpose": "purchase", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    let hold = [("record", "lead"), ("reference", &lead.to_string()), ("reason", "Litigation hold, matter 2026-31")];
    let res = admin.post(app.url("/admin/retention/holds")).form(&hold).send().await.unwrap();
    assert_eq!(res.status(), 303);

    let later = app.state.clock.now() + Duration::days(365 * 3);
    let report = dispose::apply(&app.state, later).await.unwrap();
    assert_eq!((report.leads, report.held), (0, 1), "{report:?}");
    let row = || {
        sqlx::query_as::<_, (String, bool)>("SELECT first_name, disposed_at IS NOT NULL FROM leads WHERE id = $1")
            .bind(lead)
    };
    let kept = row().fetch_one(app.db()).await.unwrap();
    assert_eq!(kept, ("Ottoline".to_string(), false), "the held lead is untouched");

    let hold_id: Uuid = sqlx::query_scalar("SELECT id FROM legal_holds WHERE lead_id = $1 AND released_at IS NULL")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    let release = [("id", hold_id.to_string()), ("reason", "Matter settled".to_string())];
    let res = admin.post(app.url("/admin/retention/holds/release")).form(&release).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let report = dispose::apply(&app.state, later).await.unwrap();
    assert_eq!((report.leads, report.held), (1, 0), "{report:?}");
    let gone = row().fetch_one(app.db()).await.unwrap();
    assert_eq!(gone, (MARKER.to_string(), true), "disposed once released");
}
