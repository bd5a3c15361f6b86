//! Consent enforced (issue 19): a borrower who says "do not call" — on a call, the lead page, the API, an
//! import's opt-out column, a do-not-call list — leaves the LO's call queue at once, their open call tasks
//! close, the contact cadence schedules no further attempt, and the lead page says why; calls wait for the
//! borrower's calling hours, by the property's state or else the phone's area code.

mod common;

use chrono::Datelike;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn do_not_call_takes_the_borrower_out_of_every_call_queue() {
    let app = TestApp::spawn().await;
    let (lo, client) = app.login_as(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    // Leads arrive from a vendor and are routed to the LO, which starts their contact cadence.
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let mut ids = Vec::new();
    for (first, phone) in [("Opal", "512-555-0101"), ("Pearl", "512-555-0102")] {
        let res = feed
            .post(app.url("/api/v1/leads"))
            .json(&json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                          "property_state": "TX"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let day = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    assert!(day.contains("Opal") && day.contains("Pearl"), "both new leads are in the queue");

    // Opal asks not to be called again; the LO had set a callback on the first try.
    let res = client
        .post(app.url(&format!("/leads/{}/calls", ids[0])))
        .form(&[("outcome", "no_answer"), ("talk_time", "0"), ("callback_at", "2026-01-01T09:00")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    let res = api
        .post(app.url(&format!("/api/v1/leads/{}/activities", ids[0])))
        .json(&json!({"kind": "call", "outcome": "do_not_call", "talk_seconds": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let day = client.get(app.url("/my-day")).send().await.unwrap().text().await.unwrap();
    assert!(!day.contains("Opal"), "an opted-out borrower is in no call queue: {day}");
    assert!(day.contains("Pearl"), "the other borrower stays");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND done_at IS NULL AND kind IN ('callback', 'cadence')",
    )
    .bind(&ids[0])
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(open, 0, "the opted-out borrower's call tasks closed");
    let page = client.get(app.url(&format!("/leads/{}", ids[0]))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Do not call: this borrower is not in any call queue"), "the lead page says why");

    // The cadence's next step, when it comes due, schedules nothing for Opal.
    for _ in 0..6 {
        app.state.clock.advance(chrono::Duration::hours(12));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND done_at IS NULL")
        .bind(&ids[0])
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(open, 0, "no new call attempt after the opt-out");
    let pearl_tasks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND kind = 'cadence'")
            .bind(&ids[1])
            .fetch_one(app.db())
            .await
            .unwrap();
    assert!(pearl_tasks >= 2, "the other borrower's cadence went on ({pearl_tasks} attempts)");
}

/// A Texas floor: an admin with a round-robin rule, one LO (with an API token), a vendor feed.
struct Floor {
    app: TestApp,
    admin: reqwest::Client,
    lo: reqwest::Client,
    lo_api: reqwest::Client,
    feed: reqwest::Client,
}

async fn floor(tweak: impl FnOnce(&mut loanfloor::Config)) -> Floor {
    let app = TestApp::spawn_with(tweak).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let (lo_id, lo) = app.login_as(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let lo_api = app.api(&app.token_for(lo_id).await);
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    Floor { app, admin, lo, lo_api, feed }
}

async fn texas_lead(f: &Floor, first: &str, phone: &str, consent: bool) -> String {
    let mut body = json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                          "property_state": "TX"});
    if consent {
        body["consent"] = json!({"channel": "call", "text": "You may call me about my mortgage inquiry.",
                                 "source_page": "https://lakeside.test/apply"});
    }
    let res = f.feed.post(f.app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn my_day(f: &Floor) -> String {
    f.lo.get(f.app.url("/my-day")).send().await.unwrap().text().await.unwrap()
}

async fn lead_page(f: &Floor, id: &str) -> String {
    f.lo.get(f.app.url(&format!("/leads/{id}"))).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn every_opt_out_path_and_do_not_call_list_takes_the_borrower_out_of_the_call_queue() {
    let f = floor(|_| {}).await;
    let by_page = texas_lead(&f, "Agate", "512-555-0201", false).await;
    let by_api = texas_lead(&f, "Beryl", "512-555-0202", false).await;
    let internal = texas_lead(&f, "Cobalt", "(512) 555-0203", false).await;
    let national = texas_lead(&f, "Dune", "512-555-0204", false).await;
    let consented = texas_lead(&f, "Ember", "512-555-0205", true).await;
    let day = my_day(&f).await;
    for name in ["Agate", "Beryl", "Cobalt", "Dune", "Ember"] {
        assert!(day.contains(name), "{name} starts in the queue");
    }

    // The LO records Agate's request on the lead page; an integration records Beryl's through the API.
    let res =
        f.lo.post(f.app.url(&format!("/leads/{by_page}/opt-outs"))).form(&[("channel", "call")]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = f
        .lo_api
        .post(f.app.url(&format!("/api/v1/leads/{by_api}/opt-outs")))
        .json(&json!({"channel": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let again = f
        .lo_api
        .post(f.app.url(&format!("/api/v1/leads/{by_api}/opt-outs")))
        .json(&json!({"channel": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "a repeated opt-out is no new one");
    let bad = f
        .lo_api
        .post(f.app.url(&format!("/api/v1/leads/{by_api}/opt-outs")))
        .json(&json!({"channel": "fax"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // The admin puts Cobalt's number on the lender's own list, typed another way.
    let res = f
        .admin
        .post(f.app.url("/admin/do-not-call"))
        .form(&[("phone", "+1 512 555 0203"), ("reason", "asked by letter")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = f
        .admin
        .post(f.app.url("/admin/do-not-call"))
        .form(&[("phone", "555-0203"), ("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a short number is refused with the form again");
    assert!(res.text().await.unwrap().contains("555-0203"));

    // A registry file with a bad line changes nothing and names the line.
    let upload = |text: &'static str| {
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::text(text).file_name("dnc.txt"))
    };
    let res = f
        .admin
        .post(f.app.url("/admin/do-not-call/import"))
        .multipart(upload("512,5550204\n512,5550205\nnot a number\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("<td class=\"num\">3</td>") && html.contains("not a ten-digit US phone number"), "{html}");
    assert!(my_day(&f).await.contains("Dune"), "nothing imported from a bad file");
    // The registry's numbers for Dune and Ember: Dune leaves; Ember consented to calls in writing and stays.
    let res = f
        .admin
        .post(f.app.url("/admin/do-not-call/import"))
        .multipart(upload("512,5550204\n512,5550205\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let day = my_day(&f).await;
    for gone in ["Agate", "Beryl", "Cobalt", "Dune"] {
        assert!(!day.contains(gone), "{gone} left the call queue: {day}");
    }
    assert!(day.contains("Ember"), "a registry number with written consent stays callable");
    assert!(lead_page(&f, &internal).await.contains("on our internal do-not-call list"));
    assert!(lead_page(&f, &national).await.contains("national Do Not Call Registry"));
    assert!(lead_page(&f, &by_page).await.contains("asked not to be called"));
    assert!(!lead_page(&f, &consented).await.contains("id=\"call-block\""));
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE lead_id = ANY($1::uuid[]) AND done_at IS NULL AND kind IN ('callback', 'cadence')",
    )
    .bind(vec![by_page.parse::<uuid::Uuid>().unwrap(), by_api.parse().unwrap(), internal.parse().unwrap()])
    .fetch_one(f.app.db())
    .await
    .unwrap();
    assert_eq!(open, 0, "their call tasks closed with the opt-out or the listing");
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action IN ('lead.opt_out', 'do_not_call.added', 'do_not_call.national_imported') ORDER BY id",
    )
    .fetch_all(f.app.db())
    .await
    .unwrap();
    assert_eq!(audited, ["lead.opt_out", "lead.opt_out", "do_not_call.added", "do_not_call.national_imported"]);
}

#[tokio::test]
async fn calls_wait_for_the_borrowers_calling_hours() {
    let mut f = floor(|c| c.enforce_calling_hours = true).await;
    // Move the clock to the next Monday 03:30 UTC: Sunday 21:30 in Chicago, past Texas's 21:00.
    let now = f.app.state.clock.now();
    let days_to_monday = (7 - now.weekday().num_days_from_monday() as i64) % 7;
    let monday = (now + chrono::Duration::days(if days_to_monday == 0 { 7 } else { days_to_monday })).date_naive();
    let night = monday.and_hms_opt(3, 30, 0).unwrap().and_utc();
    f.app.state.clock.advance(night - now);
    // A sign-in lasts 12 hours by the application's clock: sign in again at the new time.
    f.lo = f.app.login("lo@branch.test").await;

    let lead = texas_lead(&f, "Garnet", "512-555-0301", false).await;
    // The LO's own lead with no property state: its Austin (512) phone puts it in Texas's hours.
    let res = f
        .lo_api
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Hazel", "last_name": "Borrower", "phone": "512-555-0302", "source": "direct"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let stateless = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let day = my_day(&f).await;
    assert!(!day.contains("Garnet") && !day.contains("Hazel"), "not in the queue at night");
    let page = lead_page(&f, &stateless).await;
    assert!(page.contains("(TX, from the phone&#39;s area code: 9:00–21:00"), "{page}");
    let page = lead_page(&f, &lead).await;
    assert!(page.contains("Outside calling hours") && page.contains("9:00–21:00 Monday–Saturday"), "{page}");
    // The cadence's first attempt waits for 9:00 in El Paso (Mountain), the later of Texas's two zones.
    let due: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(due_at) FROM tasks WHERE lead_id = $1::uuid AND kind = 'cadence'")
            .bind(&lead)
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(due, monday.and_hms_opt(16, 0, 0).unwrap().and_utc());

    // Monday 10:30 in Chicago, 9:30 in El Paso: the lead is in the queue.
    f.app.state.clock.advance(chrono::Duration::hours(13));
    f.lo = f.app.login("lo@branch.test").await;
    let day = my_day(&f).await;
    assert!(day.contains("Garnet") && day.contains("Hazel"), "{day}");
    assert!(!lead_page(&f, &lead).await.contains("id=\"call-block\""));
}

#[tokio::test]
async fn an_opt_out_column_in_an_import_takes_new_and_existing_leads_out_of_the_queue() {
    let f = floor(|_| {}).await;
    let existing = texas_lead(&f, "Jade", "512-555-0401", false).await;
    assert!(my_day(&f).await.contains("Jade"));
    let upload = |text: &'static str| {
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::text(text).file_name("leads.csv"))
    };
    // A channel nobody knows: the file is refused whole, the line named, nothing recorded.
    let bad = "first_name,last_name,phone,property_state,source,opt_out\n\
               Ivory,Borrower,512-555-0402,TX,direct,call\n\
               Jade,Borrower,512-555-0401,TX,direct,fax\n";
    let res = f.lo.post(f.app.url("/leads/import")).multipart(upload(bad)).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("<td>3</td><td>opt_out: &#39;fax&#39; is not a channel"), "{html}");
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_opt_outs").fetch_one(f.app.db()).await.unwrap();
    assert_eq!(none, 0);

    // Ivory is new and arrives opted out; Jade's row duplicates the open lead, whose borrower opts out there.
    let good = "first_name,last_name,phone,property_state,source,opt_out\n\
                Ivory,Borrower,512-555-0402,TX,direct,call\n\
                Jade,Borrower,512-555-0401,TX,direct,call; email\n\
                Kyanite,Borrower,512-555-0403,TX,direct,\n";
    let res = f.lo.post(f.app.url("/leads/import")).multipart(upload(good)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let day = my_day(&f).await;
    assert!(!day.contains("Ivory") && !day.contains("Jade"), "the opted-out borrowers left the queue: {day}");
    assert!(day.contains("Kyanite"), "a row without an opt-out is called");
    assert!(lead_page(&f, &existing).await.contains("asked not to be called"));
    let jade: Vec<String> =
        sqlx::query_scalar("SELECT channel FROM lead_opt_outs WHERE lead_id = $1::uuid ORDER BY channel")
            .bind(&existing)
            .fetch_all(f.app.db())
            .await
            .unwrap();
    assert_eq!(jade, ["call", "email"]);
    // A vendor resubmitting Kyanite with a text opt-out: the open lead records it.
    let res = f
        .feed
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Kyanite", "last_name": "Borrower", "phone": "512-555-0403", "source": "direct",
                      "property_state": "TX", "opt_out": ["text"]}))
        .send()
        .await
        .unwrap();
    let body = res.json::<Value>().await.unwrap();
    assert_eq!(body["duplicate"], true, "{body}");
    let kyanite: Vec<String> = sqlx::query_scalar(
        "SELECT o.channel FROM lead_opt_outs o JOIN leads l ON l.id = o.lead_id WHERE l.first_name = 'Kyanite'",
    )
    .fetch_all(f.app.db())
    .await
    .unwrap();
    assert_eq!(kyanite, ["text"]);
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE lead_id = $1::uuid AND done_at IS NULL AND kind IN ('callback', 'cadence')",
    )
    .bind(&existing)
    .fetch_one(f.app.db())
    .await
    .unwrap();
    assert_eq!(open, 0, "the existing lead's call tasks closed");
}

#[tokio::test]
async fn a_bulk_send_reaches_only_the_leads_the_sender_works_and_holds_back_opted_out_borrowers() {
    let f = floor(|_| {}).await;
    let res = f
        .admin
        .post(f.app.url("/admin/messages/postal-address"))
        .form(&[("postal_address", "Lakeside Lending, 100 Congress Ave, Austin, TX 78701")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let mut ids = Vec::new();
    for (first, phone, email) in [
        ("Lapis", "512-555-0501", Some("lapis@borrower.test")),
        ("Malachite", "512-555-0502", Some("malachite@borrower.test")),
        ("Nacre", "512-555-0503", None),
    ] {
        let mut body = json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                              "property_state": "TX"});
        if let Some(e) = email {
            body["email"] = json!(e);
        }
        let res = f.feed.post(f.app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    // Malachite opted out of email; another LO's lead in another team matches the filter but is not this LO's.
    let res = f
        .lo_api
        .post(f.app.url(&format!("/api/v1/leads/{}/opt-outs", ids[1])))
        .json(&json!({"channel": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (other_lo, _) = f.app.login_as(Role::Lo, "other.lo@branch.test", Some("South"), &["CA"]).await;
    let other_api = f.app.api(&f.app.token_for(other_lo).await);
    let res = other_api
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Obsidian", "last_name": "Borrower", "phone": "310-555-0504",
                      "email": "obsidian@borrower.test", "source": "direct", "property_state": "CA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let list = f.lo.get(f.app.url("/leads?stage=new")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("href=\"/messages/bulk?stage=new\""), "the list offers the send for its filter");
    let page = f.lo.get(f.app.url("/messages/bulk?stage=new")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dd id=\"bulk-leads\">3</dd>"), "{page}");
    let no_template = f.lo.post(f.app.url("/messages/bulk")).form(&[("stage", "new")]).send().await.unwrap();
    assert_eq!(no_template.status(), 422);
    assert!(no_template.text().await.unwrap().contains("Choose the message to send."));
    let nobody =
        f.lo.post(f.app.url("/messages/bulk")).form(&[("state", "WY"), ("template", "check_in")]).send().await.unwrap();
    assert_eq!(nobody.status(), 422);
    assert!(nobody.text().await.unwrap().contains("No lead you work matches this filter."), "the page says why");
    let res =
        f.lo.post(f.app.url("/messages/bulk"))
            .form(&[("stage", "new"), ("template", "check_in")])
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 303);
    let written: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT l.first_name, m.status, m.status_reason FROM messages m JOIN leads l ON l.id = m.lead_id
         WHERE m.kind = 'check_in' ORDER BY l.first_name",
    )
    .fetch_all(f.app.db())
    .await
    .unwrap();
    let statuses: Vec<(&str, &str)> = written.iter().map(|(n, s, _)| (n.as_str(), s.as_str())).collect();
    assert_eq!(statuses, [("Lapis", "queued"), ("Malachite", "suppressed"), ("Nacre", "suppressed")]);
    assert!(written[1].2.contains("opted out of email") && written[2].2.contains("no email address"), "{written:?}");
    let (leads, queued, held_back): (i32, i32, i32) =
        sqlx::query_as("SELECT leads, queued, held_back FROM message_bulk_sends").fetch_one(f.app.db()).await.unwrap();
    assert_eq!((leads, queued, held_back), (3, 1, 2));
    let page = f.lo.get(f.app.url("/messages/bulk?stage=new")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("written for 3 leads: 1 email queued, 2 held back"), "{page}");
    // A lead waiting in the queue has no LO to sign the message: the admin's send holds it back.
    let res = f
        .feed
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Zircon", "last_name": "Borrower", "phone": "702-555-0505",
                      "email": "zircon@borrower.test", "source": "direct", "property_state": "NV"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = f
        .admin
        .post(f.app.url("/messages/bulk"))
        .form(&[("state", "NV"), ("template", "check_in")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let unsigned: (String, String) = sqlx::query_as(
        "SELECT m.status, m.status_reason FROM messages m JOIN leads l ON l.id = m.lead_id WHERE l.first_name = 'Zircon'",
    )
    .fetch_one(f.app.db())
    .await
    .unwrap();
    assert_eq!(unsigned, ("suppressed".to_string(), "the lead has no loan officer to sign it".to_string()));
    // Marketing reads the anonymous list and sends nothing.
    let (_, marketing) = f.app.login_as(Role::Marketing, "mkt@branch.test", None, &[]).await;
    assert_eq!(marketing.get(f.app.url("/messages/bulk")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn an_admin_exports_everything_held_about_one_borrower_and_the_export_is_audited() {
    let f = floor(|_| {}).await;
    let res = f
        .feed
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Peridot", "last_name": "Borrower", "phone": "512-555-0801",
                      "email": "peridot@borrower.test", "source": "direct", "property_state": "TX",
                      "consent": {"channel": "call", "text": "You may call me.", "source_page": "https://lakeside.test/apply"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res =
        f.lo.post(f.app.url(&format!("/leads/{id}/notes")))
            .form(&[("body", "Prefers evenings; spouse is co-borrower.")])
            .send()
            .await
            .unwrap();
    assert!(res.status().is_redirection());
    let res = f
        .lo_api
        .post(f.app.url(&format!("/api/v1/leads/{id}/opt-outs")))
        .json(&json!({"channel": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Found by the phone typed another way; every table naming the lead answers.
    let data: Value = f
        .admin
        .post(f.app.url("/admin/data-request.json"))
        .form(&[("q", "(512) 555-0801")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leads = data["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 1, "{data}");
    assert_eq!(leads[0]["lead"]["email"], "peridot@borrower.test");
    let records = leads[0]["records"].as_object().unwrap();
    for table in ["activities", "lead_consents", "lead_opt_outs", "stage_changes", "assignments", "notifications"] {
        assert!(records.contains_key(table), "{table} in {:?}", records.keys().collect::<Vec<_>>());
    }
    assert!(data.to_string().contains("Prefers evenings"), "the note is in the export");
    assert!(!leads[0]["audit_log"].as_array().unwrap().is_empty(), "the lead's audit entries are in the export");

    let search = [("q", "peridot@borrower.test")];
    let page = f.admin.post(f.app.url("/admin/data-request")).form(&search).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Peridot Borrower") && html.contains("lead opt outs (1)") && html.contains("You may call me.")
    );
    assert_eq!(f.lo.post(f.app.url("/admin/data-request")).form(&search).send().await.unwrap().status(), 403);
    assert!(html.contains("method=\"post\" action=\"/admin/data-request\""), "the search is posted, not put in a URL");
    let in_url = f.admin.get(f.app.url("/admin/data-request.json?q=peridot@borrower.test")).send().await.unwrap();
    assert_eq!(in_url.status(), 400, "an email is never taken from a URL");
    let audited: Vec<Value> =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'data_request.exported' ORDER BY id")
            .fetch_all(f.app.db())
            .await
            .unwrap();
    assert_eq!(audited.len(), 2, "each export is audited");
    assert_eq!(audited[0]["lead_ids"][0], id.as_str());
    assert!(!audited[0].to_string().contains("555-0801"), "the audit names the leads, not what was typed");
}
