//! Email (issue 19) through a real SMTP server on 127.0.0.1: the LO hears of a new lead, the borrower gets a
//! first touch with a one-click unsubscribe and the lender's postal address, refusals are retried or bounce,
//! two instances send each message once, and without a mail server the outbox keeps what would be sent.

mod common;

use chrono::Timelike;
use common::TestApp;
use common::smtp::{Mode, SmtpServer};
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

const POSTAL: &str = "Lakeside Lending, 100 Congress Ave, Austin, TX 78701";

struct Floor {
    app: TestApp,
    admin: reqwest::Client,
    lo: Uuid,
    lo_client: reqwest::Client,
    feed: reqwest::Client,
}

/// An app sending through `smtp` (or keeping messages, without one), with a Texas rule, an LO and a vendor feed.
async fn floor(smtp: Option<&SmtpServer>) -> Floor {
    let url = smtp.map(SmtpServer::url);
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = url;
        c.mail_from = "Lakeside Lending <loans@lakeside.test>".into();
        c.public_url = "https://crm.lakeside.test".into();
    })
    .await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.add_texas_rule(&admin, "600").await;
    let res =
        admin.post(app.url("/admin/messages/postal-address")).form(&[("postal_address", POSTAL)]).send().await.unwrap();
    assert_eq!(res.status(), 303, "postal address saved");
    let (lo, lo_client) = app.login_as(Role::Lo, "ann.officer@branch.test", Some("North"), &["TX"]).await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    Floor { app, admin, lo, lo_client, feed }
}

async fn post_lead(f: &Floor, first: &str, email: &str) -> Uuid {
    // A phone of its own, so no lead is taken for a duplicate of another.
    let n: u32 = first.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % 10_000;
    let phone = format!("512-555-{n:04}");
    let res = f
        .feed
        .post(f.app.url("/api/v1/leads"))
        .json(&json!({"first_name": first, "last_name": "Borrower", "phone": phone, "email": email,
                      "source": "direct", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

/// Runs due jobs until none is left (events dispatch, then messages send).
async fn drain(app: &TestApp) {
    for _ in 0..10 {
        if app.run_jobs().await == 0 {
            return;
        }
    }
}

async fn statuses(app: &TestApp, lead: Uuid) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, status FROM messages WHERE lead_id = $1 ORDER BY id")
        .bind(lead)
        .fetch_all(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_lead_emails_its_lo_and_greets_the_borrower_with_unsubscribe_and_address() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let lead = post_lead(&f, "Opal", "opal@borrower.test").await;
    drain(&f.app).await;

    // The LO: an email for the bell's "new lead", with a link to the lead on the public address.
    let to_lo = smtp.to("ann.officer@branch.test");
    assert_eq!(to_lo.len(), 1, "one email to the LO: {:?}", smtp.delivered());
    assert!(to_lo[0].header("Subject").unwrap().contains("New lead for you: Opal Borrower"));
    assert!(to_lo[0].body().contains(&format!("https://crm.lakeside.test/leads/{lead}")), "{}", to_lo[0].body());

    // The borrower: the first-touch template, signed by the LO, with the postal address and a one-click unsubscribe.
    let to_borrower = smtp.to("opal@borrower.test");
    assert_eq!(to_borrower.len(), 1, "one first touch");
    let mail = &to_borrower[0];
    assert_eq!(mail.header("Subject").unwrap(), "Your mortgage inquiry, Opal");
    assert!(mail.header("From").unwrap().contains("loans@lakeside.test"));
    let body = mail.body();
    assert!(body.contains("Hi Opal,") && body.contains("ann officer"), "merge fields and signature: {body}");
    assert!(body.contains(POSTAL), "CAN-SPAM postal address: {body}");
    let unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(unsubscribe.starts_with("<https://crm.lakeside.test/unsubscribe?t="), "{unsubscribe}");
    assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert!(body.contains(unsubscribe.trim_matches(|c| c == '<' || c == '>')), "the link is in the body too");

    // Status on the lead, and the send is an activity.
    assert_eq!(statuses(&f.app, lead).await, vec![("first_touch".to_string(), "sent".to_string())]);
    let page = f.lo_client.get(f.app.url(&format!("/leads/{lead}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Messages to the borrower") && page.contains("Your mortgage inquiry, Opal"),
        "lead page panel"
    );
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM activities WHERE lead_id = $1 AND kind = 'email'")
        .bind(lead)
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(emails, 1);

    // Jobs running again send nothing twice.
    drain(&f.app).await;
    assert_eq!(smtp.delivered().len(), 2);
}

#[tokio::test]
async fn the_one_click_unsubscribe_opts_the_borrower_out_and_holds_back_later_email() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let lead = post_lead(&f, "Pearl", "pearl@borrower.test").await;
    drain(&f.app).await;
    let mail = smtp.to("pearl@borrower.test").pop().expect("first touch");
    let link = mail.header("List-Unsubscribe").unwrap().trim_matches(|c| c == '<' || c == '>').to_string();
    let path = link.strip_prefix("https://crm.lakeside.test").unwrap();

    // A mail provider's one-click POST (RFC 8058): no cookie, no Origin, the fixed body.
    let res = reqwest::Client::new()
        .post(f.app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let channels: Vec<String> = sqlx::query_scalar("SELECT channel FROM lead_opt_outs WHERE lead_id = $1")
        .bind(lead)
        .fetch_all(f.app.db())
        .await
        .unwrap();
    assert_eq!(channels, vec!["email".to_string()]);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'lead.opt_out' AND entity_id = $1")
            .bind(lead.to_string())
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(audited, 1);

    // A later borrower message is written but suppressed, with its reason; nothing more reaches the borrower.
    let mut tx = f.app.db().begin().await.unwrap();
    loanfloor::messages::queue_for_lead(
        &mut tx,
        lead,
        "missed_call",
        "test:missed",
        Default::default(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    drain(&f.app).await;
    assert_eq!(smtp.to("pearl@borrower.test").len(), 1);
    let reason: String = sqlx::query_scalar(
        "SELECT status || ': ' || status_reason FROM messages WHERE lead_id = $1 AND kind = 'missed_call'",
    )
    .bind(lead)
    .fetch_one(f.app.db())
    .await
    .unwrap();
    assert_eq!(reason, "suppressed: the borrower opted out of email");

    // An unknown token opts nobody out.
    let res = reqwest::Client::new().post(f.app.url("/unsubscribe?t=not-a-token")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_after_backoff_and_a_permanent_one_bounces() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    smtp.set_mode(Mode::RefuseForNow);
    let lead = post_lead(&f, "Ruby", "ruby@borrower.test").await;
    drain(&f.app).await;
    assert!(smtp.refusals() >= 2, "both messages were offered and refused");
    assert!(smtp.delivered().is_empty());
    let (status, attempts, error): (String, i32, String) =
        sqlx::query_as("SELECT status, attempts, last_error FROM messages WHERE lead_id = $1")
            .bind(lead)
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("queued", 1), "waits for its retry");
    assert!(error.contains("451"), "the server's answer is kept: {error}");

    // The server recovers; nothing is retried before the backoff, then each message goes exactly once.
    smtp.set_mode(Mode::Accept);
    drain(&f.app).await;
    assert!(smtp.delivered().is_empty(), "not before the backoff");
    f.app.state.clock.advance(chrono::Duration::minutes(5));
    drain(&f.app).await;
    assert_eq!(smtp.to("ruby@borrower.test").len(), 1);
    assert_eq!(smtp.to("ann.officer@branch.test").len(), 1);
    assert_eq!(statuses(&f.app, lead).await[0].1, "sent");

    // A permanent refusal (550) bounces the message: no retry.
    smtp.set_mode(Mode::RefuseForGood);
    let other = post_lead(&f, "Jade", "jade@nowhere.test").await;
    drain(&f.app).await;
    f.app.state.clock.advance(chrono::Duration::hours(2));
    drain(&f.app).await;
    assert_eq!(statuses(&f.app, other).await, vec![("first_touch".to_string(), "bounced".to_string())]);
    let outbox = f.admin.get(f.app.url("/admin/messages?status=bounced")).send().await.unwrap().text().await.unwrap();
    assert!(outbox.contains("jade@nowhere.test") && outbox.contains("Bounced"), "the outbox shows the bounce");
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_message_once() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let url = smtp.url();
    let second = TestApp::serve_database(f.app.url.clone(), f.app.db_name.clone(), |c| c.smtp_url = Some(url)).await;
    for i in 0..6 {
        post_lead(&f, &format!("Twin{i}"), &format!("twin{i}@borrower.test")).await;
    }
    // Both instances' workers run at once, over the same queue.
    for _ in 0..6 {
        let (a, b) = tokio::join!(f.app.run_jobs(), second.run_jobs());
        if a + b == 0 {
            break;
        }
    }
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE status = 'sent'").fetch_one(f.app.db()).await.unwrap();
    assert_eq!(rows, 12, "six leads: six LO emails, six first touches");
    let delivered = smtp.delivered();
    assert_eq!(delivered.len(), 12, "each message delivered once");
    let mut ids: Vec<String> = delivered.iter().map(|d| d.header("Message-ID").unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no message twice");
}

#[tokio::test]
async fn without_a_mail_server_the_outbox_keeps_what_would_be_sent() {
    let f = floor(None).await;
    let lead = post_lead(&f, "Amber", "amber@borrower.test").await;
    drain(&f.app).await;
    assert_eq!(statuses(&f.app, lead).await, vec![("first_touch".to_string(), "kept".to_string())]);
    let outbox = f.admin.get(f.app.url("/admin/messages")).send().await.unwrap();
    assert_eq!(outbox.status(), 200);
    let html = outbox.text().await.unwrap();
    assert!(html.contains("No mail server is configured"));
    assert!(html.contains("amber@borrower.test") && html.contains("Kept (no mail server)"));
    assert!(html.contains(POSTAL), "the kept body shows what the borrower would read");
    // Only admins read the outbox.
    let res = f.lo_client.get(f.app.url("/admin/messages")).send().await.unwrap();
    assert!(res.status() == 403 || res.status() == 404, "{}", res.status());
}

#[tokio::test]
async fn a_person_who_turns_an_email_off_keeps_the_bell_only() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let page = f.lo_client.get(f.app.url("/messages/preferences")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("A new lead is assigned to me"));
    // Tick only "a lead of mine was reassigned": the new-lead email is off.
    let res = f
        .lo_client
        .post(f.app.url("/messages/preferences"))
        .form(&[("email", "lead_reassigned")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    post_lead(&f, "Coral", "coral@borrower.test").await;
    drain(&f.app).await;
    assert!(smtp.to("ann.officer@branch.test").is_empty(), "no email for a kind turned off");
    let bell: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'lead_assigned'")
            .bind(f.lo)
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(bell, 1, "the bell still has it");
    assert_eq!(smtp.to("coral@borrower.test").len(), 1, "the borrower's email does not depend on the LO's choice");
}

#[tokio::test]
async fn template_edits_name_unknown_fields_and_refuse_a_stale_version() {
    let f = floor(None).await;
    let page = f.admin.get(f.app.url("/admin/messages/templates")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("First touch after a lead arrives"));
    let bad = f
        .admin
        .post(f.app.url("/admin/messages/templates"))
        .form(&[
            ("kind", "first_touch"),
            ("version", "1"),
            ("subject", "Hello {{first_name}}"),
            ("body", "Your rate is {{rate}}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(html.contains("no field {{rate}}") && html.contains("Your rate is {{rate}}"), "message and the input kept");
    let long = "x".repeat(281);
    let too_long =
        [("kind", "first_touch"), ("version", "1"), ("subject", "Hello"), ("body", "Hi"), ("text_body", long.as_str())];
    let res = f.admin.post(f.app.url("/admin/messages/templates")).form(&too_long).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("within 280 characters"));
    let ack_text =
        [("kind", "lossmit_ack"), ("version", "1"), ("subject", "Received"), ("body", "Hi"), ("text_body", "Hi")];
    let res = f.admin.post(f.app.url("/admin/messages/templates")).form(&ack_text).send().await.unwrap();
    assert_eq!(res.status(), 422, "the acknowledgment goes by email only");

    let good = [
        ("kind", "first_touch"),
        ("version", "1"),
        ("subject", "Hello {{first_name}}"),
        ("body", "Hi {{first_name}}\n{{lo_signature}}"),
    ];
    let res = f.admin.post(f.app.url("/admin/messages/templates")).form(&good).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let stale = f.admin.post(f.app.url("/admin/messages/templates")).form(&good).send().await.unwrap();
    assert_eq!(stale.status(), 409, "a second save from the same version is a conflict, not an overwrite");

    let lead = post_lead(&f, "Beryl", "beryl@borrower.test").await;
    drain(&f.app).await;
    let subject: String = sqlx::query_scalar("SELECT subject FROM messages WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(subject, "Hello Beryl", "the edited template is used");
}

#[tokio::test]
async fn a_missed_call_sends_one_follow_up_a_day_and_the_lo_is_warned_before_the_sla_breaks() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let lead = post_lead(&f, "Topaz", "topaz@borrower.test").await;
    drain(&f.app).await;
    for outcome in ["no_answer", "voicemail"] {
        let res = f
            .lo_client
            .post(f.app.url(&format!("/leads/{lead}/calls")))
            .form(&[("outcome", outcome), ("talk_time", "0")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection());
    }
    drain(&f.app).await;
    let to_borrower = smtp.to("topaz@borrower.test");
    let subjects: Vec<String> = to_borrower.iter().map(|m| m.header("Subject").unwrap()).collect();
    assert_eq!(
        subjects,
        ["Your mortgage inquiry, Topaz", "Sorry we missed you, Topaz"],
        "one follow-up for two misses"
    );

    // A second lead, never called: 150 minutes before its 600-minute SLA runs out (a quarter of it) the LO is
    // warned, by bell and email; the warning comes before the SLA check.
    let other = post_lead(&f, "Onyx", "onyx@borrower.test").await;
    drain(&f.app).await;
    let (warn_at, check_at): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT max(run_at) FILTER (WHERE kind = 'routing.sla_warning'), max(run_at) FILTER (WHERE kind = 'routing.sla_check')
         FROM jobs WHERE payload->>'lead_id' = $1",
    )
    .bind(other.to_string())
    .fetch_one(f.app.db())
    .await
    .unwrap();
    assert_eq!(check_at - warn_at, chrono::Duration::minutes(150));
    f.app.state.clock.advance(warn_at - f.app.state.clock.now() + chrono::Duration::minutes(1));
    drain(&f.app).await;
    let warnings: Vec<String> = smtp
        .to("ann.officer@branch.test")
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .filter(|s| s.contains("speed-to-lead deadline"))
        .collect();
    assert_eq!(warnings, ["Call Onyx Borrower now: the speed-to-lead deadline (600 minutes) is close"]);
    let bell: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE kind = 'sla_warning' AND link = $1")
        .bind(format!("/leads/{other}"))
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(bell, 1, "only the lead nobody called is warned about");
}

#[tokio::test]
async fn a_rate_watch_opportunity_sends_the_past_client_the_refinance_offer_with_its_numbers() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let lead = post_lead(&f, "Sage", "sage@borrower.test").await;
    drain(&f.app).await;
    // Sage's loan closed through Loanfloor at 7%; today's rate is 6%.
    sqlx::query(
        "INSERT INTO portfolio_loans (id, loan_number, borrower_name, loan_amount_cents, note_rate, term_months, product,
                                      closed_on, lo_id, lead_id)
         VALUES ($1, 'RW-1', 'Sage Borrower', 30000000, 7.000, 360, 'conventional', current_date - 5, $2, $3)",
    )
    .bind(Uuid::new_v4())
    .bind(f.lo)
    .bind(lead)
    .execute(f.app.db())
    .await
    .unwrap();
    let res = f
        .admin
        .post(f.app.url("/portfolio/rates"))
        .form(&[("product", "conventional"), ("rate", "6.000"), ("effective_on", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = f.admin.post(f.app.url("/portfolio/rate-watch")).send().await.unwrap();
    assert!(res.status().is_redirection());
    drain(&f.app).await;
    let offers: Vec<_> = smtp
        .to("sage@borrower.test")
        .into_iter()
        .filter(|m| m.header("Subject").unwrap_or_default().starts_with("Rates have moved"))
        .collect();
    assert_eq!(offers.len(), 1, "one offer");
    let body = offers[0].body();
    assert!(body.contains("Your loan's rate is 7.000%") && body.contains("about 6.000%"), "{body}");
    assert!(offers[0].header("Subject").unwrap().contains("save you $"), "the saving is in the subject");
    // A second scan finds the open opportunity and writes nothing new.
    f.admin.post(f.app.url("/portfolio/rate-watch")).send().await.unwrap();
    drain(&f.app).await;
    assert_eq!(smtp.to("sage@borrower.test").len(), 2, "first touch and one offer");
}

#[tokio::test]
async fn a_borrower_who_consented_to_texts_gets_them_through_the_texting_tools_signed_webhook() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    // The lender's texting tool.
    let (port, got) = common::receiver::start(0).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let form = [
        ("url", url.as_str()),
        ("allowed_host", "127.0.0.1"),
        ("plain_http_host", "127.0.0.1"),
        ("events", "message.text"),
        ("include_contact", "1"),
    ];
    let res = f.admin.post(f.app.url("/admin/webhooks")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 201, "the texting tool is connected");

    // Quartz agreed to texts on the lender's form; Rhodonite agreed to calls only.
    let mut ids = Vec::new();
    for (first, phone, channel) in [("Quartz", "512-555-0601", "text"), ("Rhodonite", "512-555-0602", "call")] {
        let res = f
            .feed
            .post(f.app.url("/api/v1/leads"))
            .json(&json!({"first_name": first, "last_name": "Borrower", "phone": phone, "source": "direct",
                          "property_state": "TX", "email": format!("{}@borrower.test", first.to_lowercase()),
                          "consent": {"channel": channel, "text": "You may contact me about my mortgage inquiry.",
                                      "source_page": "https://lakeside.test/apply"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    drain(&f.app).await;
    let texts = got.lock().unwrap().clone();
    assert_eq!(texts.len(), 1, "one text, to the borrower who consented to texts: {texts:?}");
    let (headers, body) = &texts[0];
    let signature = headers.get("x-loanfloor-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(signature.starts_with("t=") && signature.contains(",v1="), "signed: {signature}");
    let payload: Value = serde_json::from_slice(body).unwrap();
    let text = payload.to_string();
    assert_eq!(payload["data"]["lead"]["phone"], "+15125550601", "the number to text: {text}");
    assert!(text.contains("Hi Quartz") && text.contains("Reply STOP to opt out."), "{text}");
    let kinds: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, channel, status FROM messages WHERE lead_id = $1 ORDER BY id")
            .bind(ids[0])
            .fetch_all(f.app.db())
            .await
            .unwrap();
    let expected = [("first_touch", "email", "sent"), ("first_touch", "text", "sent")]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(kinds, expected);
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM activities WHERE lead_id = $1 AND kind = 'text'")
        .bind(ids[0])
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(logged, 1, "the text is an activity on the lead");
    let texted: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE lead_id = $1 AND channel = 'text'")
        .bind(ids[1])
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(texted, 0, "no consent to texts, no text");

    // The tool reports Quartz's STOP: the missed-call follow-up then goes by email only, its text held back.
    let lo_api = f.app.api(&f.app.token_for(f.lo).await);
    let res = lo_api
        .post(f.app.url(&format!("/api/v1/leads/{}/opt-outs", ids[0])))
        .json(&json!({"channel": "text"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = f
        .lo_client
        .post(f.app.url(&format!("/leads/{}/calls", ids[0])))
        .form(&[("outcome", "no_answer"), ("talk_time", "0")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    drain(&f.app).await;
    assert_eq!(got.lock().unwrap().len(), 1, "no text after the STOP");
    let follow_up: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT channel, status, status_reason FROM messages WHERE lead_id = $1 AND kind = 'missed_call' ORDER BY id",
    )
    .bind(ids[0])
    .fetch_all(f.app.db())
    .await
    .unwrap();
    assert_eq!(follow_up.len(), 2, "{follow_up:?}");
    assert_eq!((follow_up[0].0.as_str(), follow_up[0].1.as_str()), ("email", "sent"));
    assert_eq!((follow_up[1].0.as_str(), follow_up[1].1.as_str()), ("text", "suppressed"));
    assert!(follow_up[1].2.contains("opted out of text"), "{follow_up:?}");
}

#[tokio::test]
async fn a_loss_mitigation_application_is_acknowledged_by_email_once_and_an_unsubscribe_holds() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let (_, supervisor) = f.app.login_as(Role::LossmitSupervisor, "sam.super@branch.test", None, &[]).await;
    let case = json!({
        "loan_number": "LM-ACK-1", "borrower_name": "Dana Whitfield", "borrower_email": "dana@borrower.test",
        "property_state": "TX", "investor": "fannie_mae", "upb_cents": 18_000_000, "note_rate": 7.5,
        "remaining_term_months": 300, "monthly_pi_cents": 133_018, "first_unpaid_due_date": "2026-03-01",
    });
    let res = supervisor.post(f.app.url("/api/v1/lossmit/cases")).json(&case).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let today = f.app.state.clock.now().with_timezone(&f.app.state.config.timezone).date_naive();
    let received = (today - chrono::Duration::days(1)).to_string();
    for _ in 0..2 {
        let res = supervisor
            .post(f.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
            .json(&json!({"received_on": received}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    drain(&f.app).await;
    let acks = smtp.to("dana@borrower.test");
    assert_eq!(acks.len(), 1, "one acknowledgment for the application, recorded twice");
    let body = acks[0].body();
    let on = (today - chrono::Duration::days(1)).format("%B %-d, %Y").to_string();
    assert!(body.contains("Dear Dana Whitfield") && body.contains(&on), "{body}");
    assert!(body.contains(POSTAL), "{body}");
    let unsubscribe = acks[0].header("List-Unsubscribe").expect("List-Unsubscribe");
    let link = unsubscribe.trim_matches(|c| c == '<' || c == '>').replace("https://crm.lakeside.test", "");
    let res = reqwest::Client::new().post(f.app.url(&link)).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    // A later application on the case: its acknowledgment is written but held back for the address.
    let res = supervisor
        .post(f.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": today.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    drain(&f.app).await;
    assert_eq!(smtp.to("dana@borrower.test").len(), 1);
    let held: Vec<(String, String)> =
        sqlx::query_as("SELECT status, status_reason FROM messages WHERE case_id = $1::uuid ORDER BY id")
            .bind(&id)
            .fetch_all(f.app.db())
            .await
            .unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].0, "sent");
    assert_eq!(held[1].0, "suppressed", "{held:?}");
}

#[tokio::test]
async fn managers_get_yesterdays_figures_at_seven_with_links_once() {
    let smtp = SmtpServer::start();
    let f = floor(Some(&smtp)).await;
    let (manager_id, _) = f.app.login_as(Role::Manager, "mo.manager@branch.test", Some("North"), &[]).await;
    let tz = f.app.state.config.timezone;
    // The lead arrives after 7:00 local, so the next 7:00 is the morning after its day.
    let start = f.app.state.clock.now();
    if start.with_timezone(&tz).hour() < 7 {
        let seven = loanfloor::lossmit::store::next_digest_at(start, tz);
        f.app.state.clock.advance(seven - start + chrono::Duration::minutes(5));
    }
    let lead = post_lead(&f, "Umber", "umber@borrower.test").await;
    drain(&f.app).await;
    // Its speed-to-lead SLA ran out on the day (as the SLA check records it).
    sqlx::query(
        "INSERT INTO audit_log (action, entity, entity_id, created_at) VALUES ('lead.sla_escalated', 'lead', $1, $2)",
    )
    .bind(lead.to_string())
    .bind(f.app.state.clock.now())
    .execute(f.app.db())
    .await
    .unwrap();
    // The next morning at 7:00 in the organisation's zone.
    let now = f.app.state.clock.now();
    let yesterday = now.with_timezone(&tz).date_naive();
    let seven = loanfloor::lossmit::store::next_digest_at(now, tz);
    assert_eq!(seven.with_timezone(&tz).format("%H:%M").to_string(), "07:00");
    loanfloor::home::digest::schedule(&f.app.state).await.unwrap();
    loanfloor::home::digest::schedule(&f.app.state).await.unwrap();
    let scheduled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'home.manager_digest' AND status = 'queued'")
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(scheduled, 1, "every instance schedules the same one");
    f.app.state.clock.advance(seven - now + chrono::Duration::minutes(1));
    drain(&f.app).await;
    // Only the digests: a day on the clock may also bring the manager the lead's speed-to-lead escalation
    // (started between midnight and 7:00, the clock moves a whole working day past the lead's SLA).
    let digests: Vec<_> = smtp
        .to("mo.manager@branch.test")
        .into_iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.starts_with("Your teams yesterday")))
        .collect();
    let jobs: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, last_error FROM jobs WHERE kind = 'home.manager_digest' ORDER BY id")
            .fetch_all(f.app.db())
            .await
            .unwrap();
    assert_eq!(digests.len(), 1, "{jobs:?}");
    let subject = digests[0].header("Subject").unwrap();
    assert_eq!(subject, "Your teams yesterday: 1 lead in, 1 speed-to-lead miss, 0 stale");
    let body = digests[0].body();
    assert!(body.contains("Leads in: 1\n") && body.contains("New 1 → Contacted 0"), "{body}");
    assert!(body.contains("Speed-to-lead SLA missed: 1\n"), "{body}");
    let today = yesterday + chrono::Duration::days(1);
    assert!(body.contains(&format!("https://crm.lakeside.test/dashboard?from={yesterday}&to={today}")), "{body}");
    assert!(body.contains("https://crm.lakeside.test/escalations"), "{body}");
    // Tomorrow's run is scheduled; running today's again writes nothing twice.
    let next: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'home.manager_digest' AND status = 'queued'")
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(next, 1);
    let again = loanfloor::home::digest::send_digests(&f.app.state, yesterday, f.app.state.clock.now()).await.unwrap();
    assert_eq!(again, 0);
    // A manager who turns the digest off gets none.
    let off: Vec<(String, bool)> = vec![("manager.digest".into(), false)];
    let mut tx = f.app.db().begin().await.unwrap();
    loanfloor::messages::store::save_preferences(&mut tx, manager_id, &off, f.app.state.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    let day = yesterday + chrono::Duration::days(1);
    let sent = loanfloor::home::digest::send_digests(&f.app.state, day, f.app.state.clock.now()).await.unwrap();
    assert_eq!(sent, 0);
}
