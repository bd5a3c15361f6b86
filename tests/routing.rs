//! Lead distribution: who gets a new lead and why, fairness under concurrency, speed-to-lead, the contact
//! cadence, reassignment and offboarding.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::{CurrentUser, Role};
use loanfloor::routing;
use uuid::Uuid;

const PIPELINE: &str = "00000000-0000-0000-0000-000000000001";

/// An LO who works around the clock (so tests do not depend on the hour they run at).
async fn lo(app: &TestApp, email: &str, team: Option<&str>, states: &[&str]) -> Uuid {
    let id = app.create_user(Role::Lo, email, team, states).await;
    set_profile(app, id, &[("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")]).await;
    id
}

/// One signed-in admin per test database, for changing profiles the way an admin does.
async fn admin_of(app: &TestApp) -> reqwest::Client {
    static ADMINS: std::sync::Mutex<Vec<(String, reqwest::Client)>> = std::sync::Mutex::new(Vec::new());
    if let Some((_, c)) = ADMINS.lock().unwrap().iter().find(|(db, _)| *db == app.db_name) {
        return c.clone();
    }
    let (_, client) = app.login_as(Role::Admin, "routing.admin@x.test", None, &[]).await;
    ADMINS.lock().unwrap().push((app.db_name.clone(), client.clone()));
    client
}

/// Changes an LO's profile through the admin's LO page: the form as it stands, with `changes` (`work_days`
/// as a comma-separated list).
async fn set_profile(app: &TestApp, lo: Uuid, changes: &[(&str, &str)]) {
    app.set_lo_profile(&admin_of(app).await, lo, changes).await;
}

/// The lead vendor's integration: an intake user's API token, one per test database.
async fn intake_of(app: &TestApp) -> reqwest::Client {
    static INTAKES: std::sync::Mutex<Vec<(String, reqwest::Client)>> = std::sync::Mutex::new(Vec::new());
    if let Some((_, c)) = INTAKES.lock().unwrap().iter().find(|(db, _)| *db == app.db_name) {
        return c.clone();
    }
    let id = app.create_user(Role::Intake, "routing.intake@x.test", None, &[]).await;
    let client = app.api(&app.token_for(id).await);
    INTAKES.lock().unwrap().push((app.db_name.clone(), client.clone()));
    client
}

/// Posts a new lead as the vendor's integration does (`POST /api/v1/leads` on the server at `base`): the
/// lead commits, then routes in its own transaction before the answer. Returns its id and the LO the answer
/// names. Without an email the borrower gets a fresh one, so no two leads are duplicates of each other.
async fn post_lead(api: &reqwest::Client, base: &str, prop_state: &str, email: Option<&str>) -> (Uuid, Option<Uuid>) {
    let email = email.map(str::to_string).unwrap_or_else(|| format!("pat.{}@borrower.test", Uuid::new_v4().simple()));
    let body = serde_json::json!({
        "first_name": "Pat", "last_name": "Borrower", "property_state": prop_state, "email": email,
        "source": "direct",
    });
    let res = api.post(format!("{base}/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "a new lead");
    let created: serde_json::Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().parse().unwrap();
    (id, created["assigned_lo"]["id"].as_str().map(|s| s.parse().unwrap()))
}

async fn new_lead_with_email(app: &TestApp, prop_state: &str, email: &str) -> (Uuid, Option<Uuid>) {
    post_lead(&intake_of(app).await, &app.url(""), prop_state, Some(email)).await
}

async fn new_lead(app: &TestApp, prop_state: &str) -> (Uuid, Option<Uuid>) {
    post_lead(&intake_of(app).await, &app.url(""), prop_state, None).await
}

/// An LO's own API client (their token), for what the LO does to their leads.
async fn lo_api(app: &TestApp, lo: Uuid) -> reqwest::Client {
    app.api(&app.token_for(lo).await)
}

/// The LO logs a call on their lead through the API, at the application's clock.
async fn log_call(app: &TestApp, lo: Uuid, lead: Uuid, outcome: &str) {
    let res = lo_api(app, lo)
        .await
        .post(app.url(&format!("/api/v1/leads/{lead}/activities")))
        .json(&serde_json::json!({"kind": "call", "direction": "outbound", "outcome": outcome, "talk_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "call logged: {}", res.text().await.unwrap());
}

/// An admin saves a routing rule through the rules page: these fields over a round-robin rule for every lead.
async fn add_rule(app: &TestApp, fields: &[(&str, &str)]) {
    let mut form: Vec<(&str, &str)> = vec![
        ("name", "Rule"),
        ("method", "round_robin"),
        ("fallback_method", "round_robin"),
        ("claim_minutes", "10"),
        ("sla_minutes", "5"),
        ("sla_action", "reassign"),
        ("require_working_hours", "on"),
    ];
    for (k, v) in fields {
        form.retain(|(f, _)| f != k);
        if !v.is_empty() || *k != "require_working_hours" {
            form.push((k, v));
        }
    }
    let res = admin_of(app).await.post(app.url("/routing/rules")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "rule {fields:?} saved: {}", res.text().await.unwrap());
}

async fn current_user_id(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(email).fetch_one(app.db()).await.unwrap()
}

async fn current_user(app: &TestApp, id: Uuid) -> CurrentUser {
    loanfloor::auth::store::find_user(app.db(), id).await.unwrap().unwrap().into_current(false)
}

async fn assigned(app: &TestApp, lead: Uuid) -> (Option<Uuid>, Option<Uuid>) {
    sqlx::query_as("SELECT assigned_lo_id, team_id FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap()
}

async fn decision(app: &TestApp, lead: Uuid) -> serde_json::Value {
    sqlx::query_scalar(
        "SELECT routing_candidates(candidates) FROM routing_decisions WHERE lead_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(lead)
    .fetch_one(app.db())
    .await
    .unwrap()
}

fn candidate(candidates: &serde_json::Value, lo: Uuid) -> serde_json::Value {
    candidates
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["lo_id"] == lo.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("{lo} is not among the candidates: {candidates}"))
}

fn reasons_of(candidates: &serde_json::Value, lo: Uuid) -> Vec<String> {
    candidate(candidates, lo)["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_texas_lead_goes_to_the_available_lo_licensed_in_texas() {
    let app = TestApp::spawn().await;
    let maria = lo(&app, "maria@x.test", Some("Dallas"), &["TX", "OK"]).await;
    let carl = lo(&app, "carl@x.test", Some("West"), &["CA"]).await;
    let (lead, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, Some(maria));
    let dallas: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    assert_eq!(assigned(&app, lead).await, (Some(maria), Some(dallas)), "the lead takes the LO's team");
    let (version, at_set): (i32, bool) =
        sqlx::query_as("SELECT version, assigned_at IS NOT NULL FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((version, at_set), (2, true));
    // History, decision, audit, SLA check and the first cadence task.
    let (to, reason): (Option<Uuid>, String) =
        sqlx::query_as("SELECT to_lo_id, reason FROM assignments WHERE lead_id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(to, Some(maria));
    assert!(reason.contains("maria"), "{reason}");
    let c = decision(&app, lead).await;
    assert!(reasons_of(&c, maria).is_empty());
    assert_eq!(reasons_of(&c, carl), vec!["not licensed in TX"]);
    let audits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'lead.assign' AND entity_id = $1")
            .bind(lead.to_string())
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(audits, 1);
    let sla: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'routing.sla_check' AND payload->>'lead_id' = $1")
            .bind(lead.to_string())
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(sla, 1);
    let task: (Option<Uuid>, String) =
        sqlx::query_as("SELECT owner_id, title FROM tasks WHERE lead_id = $1 AND kind = 'cadence'")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(task.0, Some(maria));
    assert!(task.1.starts_with("Call attempt 1 of 8"), "{}", task.1);
    // Routing twice never assigns twice.
    assert_eq!(routing::route_created_lead(&app.state, lead, None).await.unwrap(), Some(maria));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn thirty_texas_leads_split_fifteen_fifteen_and_the_california_lo_gets_none() {
    let app = TestApp::spawn().await;
    let a = lo(&app, "tx.one@x.test", None, &["TX"]).await;
    let b = lo(&app, "tx.two@x.test", None, &["TX", "LA"]).await;
    let ca = lo(&app, "ca.only@x.test", None, &["CA"]).await;
    for _ in 0..30 {
        new_lead(&app, "TX").await;
    }
    let count = |lo: Uuid| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM leads WHERE assigned_lo_id = $1")
                .bind(lo)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!((count(a).await, count(b).await, count(ca).await), (15, 15, 0));
}

#[tokio::test]
async fn away_full_and_off_shift_los_are_skipped_with_the_reason_stored() {
    let app = TestApp::spawn().await;
    let away = lo(&app, "away@x.test", None, &["TX"]).await;
    let full = lo(&app, "full@x.test", None, &["TX"]).await;
    let off = lo(&app, "offshift@x.test", None, &["TX"]).await;
    let ok = lo(&app, "ok@x.test", None, &["TX"]).await;
    set_profile(&app, away, &[("status", "away")]).await;
    set_profile(&app, full, &[("capacity", "1")]).await;
    // `off` works a shift that starts two hours from now (in their time zone): off shift at the moment.
    let tz: String = sqlx::query_scalar("SELECT timezone FROM lo_profiles WHERE user_id = $1")
        .bind(off)
        .fetch_one(app.db())
        .await
        .unwrap();
    let local = app.state.clock.now().with_timezone(&tz.parse::<chrono_tz::Tz>().unwrap());
    let (start, end) = (
        (local + Duration::hours(2)).format("%H:%M").to_string(),
        (local + Duration::hours(3)).format("%H:%M").to_string(),
    );
    set_profile(&app, off, &[("work_start", &start), ("work_end", &end), ("work_days", "1,2,3,4,5,6,7")]).await;
    // `full` already holds one open lead: one they entered themselves.
    let (_, holder) = post_lead(&lo_api(&app, full).await, &app.url(""), "TX", None).await;
    assert_eq!(holder, Some(full), "an LO's own new lead is theirs");
    // A rule that respects working hours, for Texas.
    add_rule(&app, &[("name", "Texas"), ("states", "TX")]).await;
    let mut routed = Vec::new();
    for _ in 0..3 {
        let (lead, chosen) = new_lead(&app, "TX").await;
        assert_eq!(chosen, Some(ok));
        let c = decision(&app, lead).await;
        assert_eq!(reasons_of(&c, away), vec!["status is away"]);
        assert_eq!(reasons_of(&c, full), vec!["at capacity (1 of 1 open leads)"]);
        assert_eq!(reasons_of(&c, off), vec!["outside working hours"]);
        // Eligibility is read back from the reasons, the weight and the choice (it is not stored).
        for (who, eligible, chosen, status) in
            [(ok, true, true, "available"), (away, false, false, "away"), (off, false, false, "available")]
        {
            let one = candidate(&c, who);
            assert_eq!((one["eligible"].as_bool(), one["chosen"].as_bool()), (Some(eligible), Some(chosen)), "{one}");
            assert_eq!(one["status"], status, "{one}");
        }
        assert_eq!(candidate(&c, full)["capacity"], 1);
        assert_eq!(candidate(&c, full)["open_leads"], 1);
        routed.push(lead);
    }
    // The three decisions considered the same LOs alike: they name one stored roster.
    let rosters: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT DISTINCT d.candidates->>'roster' FROM routing_decisions d WHERE d.lead_id = ANY($1)",
    )
    .bind(&routed)
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(rosters.len(), 1, "{rosters:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM routing_rosters WHERE id = $1")
        .bind(rosters[0].as_deref().expect("a decision names its roster"))
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(stored, 1);
    // When nobody is eligible the lead waits in the queue and managers hear about it.
    let manager = app.create_user(Role::Manager, "boss@x.test", Some("Dallas"), &[]).await;
    set_profile(&app, ok, &[("status", "offline")]).await;
    let (lead, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, None);
    assert_eq!(assigned(&app, lead).await, (None, None));
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM routing_decisions WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(outcome, "queued");
    let c = decision(&app, lead).await;
    assert_eq!(candidate(&c, ok)["status"], "offline", "a changed status is a new roster: {c}");
    assert!(c.as_array().unwrap().iter().all(|one| one["eligible"] == false && one["chosen"] == false), "{c}");
    let alerts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'lead_unassigned'")
            .bind(manager)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn a_returning_borrower_goes_back_to_their_lo() {
    let app = TestApp::spawn().await;
    let x = lo(&app, "first@x.test", None, &["TX"]).await;
    let y = lo(&app, "second@x.test", None, &["TX"]).await;
    let (earlier, first) = new_lead_with_email(&app, "TX", "sam@borrower.test").await;
    let a = first.unwrap();
    // That loan was lost to another lender; months later the same borrower comes back.
    app.move_stage(&lo_api(&app, a).await, earlier, "lost", Some("other_lender")).await;
    let b = if a == x { y } else { x };
    // Round robin would give the next lead to b; the same borrower goes back to a.
    let (lead, again) = new_lead_with_email(&app, "TX", "SAM@borrower.test").await;
    assert_eq!(again, Some(a));
    let summary: String = sqlx::query_scalar("SELECT summary FROM routing_decisions WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(summary.contains("returning borrower"), "{summary}");
    // The rotation was not consumed: b is next.
    assert_eq!(new_lead(&app, "TX").await.1, Some(b));
}

#[tokio::test]
async fn the_sla_reassigns_an_uncalled_lead_and_leaves_a_called_one() {
    let app = TestApp::spawn().await;
    let x = lo(&app, "slow@x.test", None, &["TX"]).await;
    let y = lo(&app, "fast@x.test", None, &["TX"]).await;
    let (uncalled, first) = new_lead(&app, "TX").await;
    let a = first.unwrap();
    let b = if a == x { y } else { x };
    let (called, second) = new_lead(&app, "TX").await;
    assert_eq!(second, Some(b));
    // b calls their lead within a minute.
    app.state.clock.advance(Duration::minutes(1));
    log_call(&app, b, called, "no_answer").await;
    // Four minutes in nothing is due yet.
    app.state.clock.advance(Duration::minutes(3));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(assigned(&app, uncalled).await.0, Some(a));
    // Past five minutes: the uncalled lead moves to b, the called one stays.
    app.state.clock.advance(Duration::minutes(2));
    let ran = loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert!(ran >= 2, "both SLA checks ran ({ran})");
    assert_eq!(assigned(&app, uncalled).await.0, Some(b));
    assert_eq!(assigned(&app, called).await.0, Some(b));
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM assignments WHERE lead_id = $1 ORDER BY id")
        .bind(uncalled)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[1].starts_with("Speed-to-lead missed"), "{}", reasons[1]);
    let c = decision(&app, uncalled).await;
    assert_eq!(reasons_of(&c, a), vec!["missed the speed-to-lead SLA (5 min without a call)"]);
    // Work the SLA checks queued while they ran (the reassignment's lead event for its consumers), then no job
    // may be left failed or waiting.
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let failed: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kind, status, coalesce(last_error, '') FROM jobs WHERE status <> 'done' AND run_at <= $1",
    )
    .bind(app.state.clock.now())
    .fetch_all(app.db())
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test]
async fn the_sla_escalates_to_the_manager_when_configured() {
    let app = TestApp::spawn().await;
    lo(&app, "esc.lo@x.test", Some("Dallas"), &["TX"]).await;
    lo(&app, "esc.other@x.test", Some("Dallas"), &["TX"]).await;
    let manager = app.create_user(Role::Manager, "esc.boss@x.test", Some("Dallas"), &[]).await;
    add_rule(
        &app,
        &[("name", "All"), ("sla_minutes", "10"), ("sla_action", "escalate"), ("require_working_hours", "")],
    )
    .await;
    let (lead, chosen) = new_lead(&app, "TX").await;
    let a = chosen.unwrap();
    app.state.clock.advance(Duration::minutes(9));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let alerts = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'sla_escalated'")
            .bind(manager)
            .fetch_one(app.db())
            .await
            .unwrap()
    };
    assert_eq!(alerts().await, 0);
    app.state.clock.advance(Duration::minutes(2));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(alerts().await, 1);
    assert_eq!(assigned(&app, lead).await.0, Some(a), "escalation keeps the LO");
}

#[tokio::test]
async fn the_cadence_puts_attempts_in_the_queue_then_moves_an_unreached_lead_to_nurture() {
    let app = TestApp::spawn().await;
    let a = lo(&app, "cadence@x.test", None, &["TX"]).await;
    let (lead, _) = new_lead(&app, "TX").await;
    let tasks = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tasks WHERE lead_id = $1 AND kind = 'cadence' AND owner_id = $2",
        )
        .bind(lead)
        .bind(a)
        .fetch_one(app.db())
        .await
        .unwrap()
    };
    assert_eq!(tasks().await, 1);
    app.state.clock.advance(Duration::minutes(31));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(tasks().await, 2, "the 30–60 minute attempt is due");
    // Over the next fortnight (a day at a time) every attempt lands, then the lead goes to nurture.
    for _ in 0..15 {
        app.state.clock.advance(Duration::days(1));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }
    assert_eq!(tasks().await, 8);
    let stage: String =
        sqlx::query_scalar("SELECT stage FROM leads WHERE id = $1").bind(lead).fetch_one(app.db()).await.unwrap();
    assert_eq!(stage, "nurture");
    let origin: String =
        sqlx::query_scalar("SELECT origin FROM stage_changes WHERE lead_id = $1 AND to_stage = 'nurture'")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(origin, "cadence");
    let note: String = sqlx::query_scalar("SELECT body FROM activities WHERE lead_id = $1 AND kind = 'note'")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(note, "Moved to nurture: no contact after the 8-attempt cadence");
}

#[tokio::test]
async fn a_reached_borrower_stops_the_cadence() {
    let app = TestApp::spawn().await;
    let a = lo(&app, "reach@x.test", None, &["TX"]).await;
    let (lead, _) = new_lead(&app, "TX").await;
    app.state.clock.advance(Duration::minutes(2));
    log_call(&app, a, lead, "contacted").await;
    for _ in 0..16 {
        app.state.clock.advance(Duration::days(1));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    }
    let (stage, tasks, done): (String, i64, i64) = sqlx::query_as(
        "SELECT l.stage, count(t.id), count(t.done_at) FROM leads l LEFT JOIN tasks t ON t.lead_id = l.id AND t.kind = 'cadence'
         WHERE l.id = $1 GROUP BY l.stage",
    )
    .bind(lead)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((stage.as_str(), tasks, done), ("new", 1, 1), "one attempt, made; no more tasks, no nurture");
}

/// A second application instance (its own pool and server) on the same database.
/// Returns the base URL of its server.
async fn second_instance(app: &TestApp) -> String {
    let config = (*app.state.config).clone();
    let url = config.database_url.clone().expect("tests run against a database URL");
    let pool = loanfloor::db::connect(&url, 6).await.unwrap();
    let state = loanfloor::state(pool, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { loanfloor::serve(listener, state, std::future::pending()).await.unwrap() });
    base
}

#[tokio::test]
async fn two_instances_routing_a_thousand_leads_at_once_assign_each_exactly_once_and_fairly() {
    let app = TestApp::spawn().await;
    let mut officers = Vec::new();
    for i in 0..4 {
        let id = lo(&app, &format!("busy{i}@x.test"), None, &["TX"]).await;
        set_profile(&app, id, &[("capacity", "5000")]).await;
        officers.push(id);
    }
    let other = second_instance(&app).await;
    let intake = intake_of(&app).await;
    let mut handles = Vec::new();
    for task in 0..40 {
        // Half the vendor's requests reach each server.
        let base = if task % 2 == 0 { app.url("") } else { other.clone() };
        let intake = intake.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..25 {
                got.push(post_lead(&intake, &base, "TX", None).await);
            }
            got
        }));
    }
    let mut routed = 0;
    for h in handles {
        for (_, lo) in h.await.unwrap() {
            assert!(lo.is_some());
            routed += 1;
        }
    }
    assert_eq!(routed, 1000);
    let per_lead: Vec<i64> =
        sqlx::query_scalar("SELECT count(*) FROM assignments GROUP BY lead_id").fetch_all(app.db()).await.unwrap();
    assert_eq!(per_lead.len(), 1000);
    assert!(per_lead.iter().all(|n| *n == 1), "every lead assigned exactly once");
    let decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM routing_decisions").fetch_one(app.db()).await.unwrap();
    assert_eq!(decisions, 1000);
    for lo in &officers {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id = $1")
            .bind(lo)
            .fetch_one(app.db())
            .await
            .unwrap();
        assert!((249..=251).contains(&n), "LO {lo} got {n} of 1000 leads; the fair share is 250");
    }
}

#[tokio::test]
async fn offboarding_leaves_no_open_lead_without_an_owner_or_queue() {
    let app = TestApp::spawn().await;
    let leaving = lo(&app, "leaving@x.test", Some("Dallas"), &["TX", "CA"]).await;
    let stays = lo(&app, "stays@x.test", Some("Dallas"), &["TX"]).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@x.test", None, &[]).await;
    // Only `leaving` can take leads while `stays` is away (set on the account page): 6 TX leads and 2 CA leads,
    // one of them funded by its LO through the API.
    let stays_page = app.login("stays@x.test").await;
    let set_status = |status: &'static str| {
        let req = stays_page.post(app.url("/account/status")).form(&[("status", status)]);
        async move { assert_eq!(req.send().await.unwrap().status(), 303, "{status}") }
    };
    set_status("away").await;
    let mut leads = Vec::new();
    for st in ["TX", "TX", "TX", "TX", "TX", "TX", "CA", "CA"] {
        let (id, lo) = new_lead(&app, st).await;
        assert_eq!(lo, Some(leaving));
        leads.push(id);
    }
    let leaving_api = app.api(&app.token_for(leaving).await);
    let lead7: serde_json::Value =
        leaving_api.get(app.url(&format!("/api/v1/leads/{}", leads[7]))).send().await.unwrap().json().await.unwrap();
    let res = leaving_api
        .post(app.url(&format!("/api/v1/leads/{}/stage", leads[7])))
        .json(&serde_json::json!({"stage": "funded", "version": lead7["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    set_status("available").await;
    // The admin deactivates the leaver, spreading the open leads through the routing rules.
    let res = admin
        .post(app.url(&format!("/admin/users/{leaving}/deactivate")))
        .form(&[("hand_over", "redistribute")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let handed: serde_json::Value =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'open_leads_handed_over'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(handed["moved"], 7, "6 TX leads and 1 open CA lead; the funded one stays in history");
    let dallas: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    for id in &leads[..6] {
        assert_eq!(assigned(&app, *id).await, (Some(stays), Some(dallas)));
    }
    // Nobody else is licensed in CA: that lead waits in the Dallas queue, owned by the team.
    assert_eq!(assigned(&app, leads[6]).await, (None, Some(dallas)));
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM leads l JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
         WHERE s.kind IN ('open', 'nurture') AND (l.assigned_lo_id = $1 OR (l.assigned_lo_id IS NULL AND l.team_id IS NULL))",
    )
    .bind(leaving)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    // Open tasks moved with the leads.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE owner_id = $1 AND done_at IS NULL")
        .bind(leaving)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(left, 1, "only the funded lead's task stays with the leaver");
}

#[tokio::test]
async fn offboarding_to_a_named_lo_or_a_team_queue() {
    let app = TestApp::spawn().await;
    let leaving = lo(&app, "quit@x.test", Some("Dallas"), &["TX"]).await;
    let heir = lo(&app, "heir@x.test", Some("Dallas"), &["TX"]).await;
    let (_, admin) = app.login_as(Role::Admin, "adm@x.test", None, &[]).await;
    set_profile(&app, heir, &[("status", "away")]).await;
    let (a, _) = new_lead(&app, "TX").await;
    let (b, _) = new_lead(&app, "TX").await;
    let deactivate = |who: Uuid, form: Vec<(&'static str, String)>| {
        let req = admin.post(app.url(&format!("/admin/users/{who}/deactivate"))).form(&form);
        async move { assert_eq!(req.send().await.unwrap().status(), 303, "{form:?}") }
    };
    // The leaver's two leads go to a named LO (even one who is away).
    deactivate(leaving, vec![("hand_over", "lo".into()), ("to_lo", heir.to_string())]).await;
    let last_hand_over = || async {
        sqlx::query_scalar::<_, serde_json::Value>(
            "SELECT after FROM audit_log WHERE action = 'open_leads_handed_over' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(app.db())
        .await
        .unwrap()
    };
    assert_eq!(last_hand_over().await["moved"], 2);
    assert_eq!(assigned(&app, a).await.0, Some(heir));
    assert_eq!(assigned(&app, b).await.0, Some(heir));
    // Then the heir leaves too, and their leads wait in the West team's queue.
    app.create_user(Role::Manager, "west.boss@x.test", Some("West"), &[]).await;
    let west: Uuid = sqlx::query_scalar("SELECT id FROM teams WHERE name = 'West'").fetch_one(app.db()).await.unwrap();
    deactivate(heir, vec![("hand_over", "team".into()), ("to_team", west.to_string())]).await;
    assert_eq!(last_hand_over().await["moved"], 2);
    assert_eq!(assigned(&app, a).await, (None, Some(west)));
    assert_eq!(assigned(&app, b).await, (None, Some(west)));
}

#[tokio::test]
async fn the_api_assigns_a_lead_and_explains_the_routing_within_scope() {
    let app = TestApp::spawn().await;
    let maria = lo(&app, "maria.api@x.test", Some("Dallas"), &["TX"]).await;
    let jose = lo(&app, "jose.api@x.test", Some("Dallas"), &["TX"]).await;
    let carl = lo(&app, "carl.api@x.test", Some("West"), &["CA", "TX"]).await;
    set_profile(&app, carl, &[("status", "away")]).await;
    let (lead, first) = new_lead(&app, "TX").await;
    let first = first.unwrap();
    let other = if first == maria { jose } else { maria };
    let manager = app.create_user(Role::Manager, "boss.api@x.test", Some("Dallas"), &[]).await;
    let api = app.api(&app.token_for(manager).await);

    // The stored decision: who got it and why the others did not.
    let res = api.get(app.url(&format!("/api/v1/leads/{lead}/routing"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["decision"]["chosen_lo_id"], first.to_string());
    assert_eq!(body["decision"]["outcome"], "assigned");
    assert_eq!(reasons_of(&body["decision"]["candidates"], carl), vec!["status is away"]);

    // A reason is required.
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&serde_json::json!({"lo_id": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["errors"]["reason"].is_array(), "{body}");
    // A manager cannot hand a Dallas lead to a West LO.
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&serde_json::json!({"lo_email": "carl.api@x.test", "reason": "covering"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // Within the team it works, and the lead JSON shows the new LO.
    let other_email = if other == maria { "maria.api@x.test" } else { "jose.api@x.test" };
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&serde_json::json!({"lo_email": other_email.to_uppercase(), "reason": "Borrower asked for a Spanish speaker", "version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["id"], lead.to_string());
    assert_eq!(body["stage"], "new");
    assert_eq!(body["version"], 3);
    assert_eq!(body["assigned_lo"]["id"], other.to_string());
    assert_eq!(body["assigned_lo"]["email"], other_email);
    // A stale version is a conflict, not an overwrite.
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&serde_json::json!({"lo_id": first, "reason": "back", "version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // The LO who lost the lead no longer sees it; an LO cannot reassign.
    let lo_api = app.api(&app.token_for(first).await);
    let res = lo_api.get(app.url(&format!("/api/v1/leads/{lead}/routing"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let new_lo_api = app.api(&app.token_for(other).await);
    let res = new_lo_api
        .post(app.url(&format!("/api/v1/leads/{lead}/assign")))
        .json(&serde_json::json!({"lo_id": first, "reason": "swap"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The lead page panel: history with reasons and the routing explanation.
    let user = current_user(&app, manager).await;
    let html = routing::lead_panel(&app.state, &user, lead).await.unwrap();
    let first_name = if first == maria { "maria api" } else { "jose api" };
    assert!(html.contains(&format!("Why did this lead go to {first_name}?")), "{html}");
    assert!(html.contains("status is away"), "{html}");
    assert!(html.contains("Borrower asked for a Spanish speaker"), "{html}");
    assert!(html.contains("Routed: Went to"), "{html}");
    // Out of scope: a West manager gets NotFound.
    let west = current_user(&app, app.create_user(Role::Manager, "west.api@x.test", Some("West"), &[]).await).await;
    assert!(routing::lead_panel(&app.state, &west, lead).await.is_err());
}

#[tokio::test]
async fn a_bulk_reassignment_of_ten_thousand_leads_runs_as_a_job_and_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let from = lo(&app, "bulk.from@x.test", Some("Dallas"), &["TX"]).await;
    let to = lo(&app, "bulk.to@x.test", Some("Dallas"), &["TX"]).await;
    let admin = app.create_user(Role::Admin, "bulk.admin@x.test", None, &[]).await;
    // Volume: a book of 10,000 open leads (SQL builds volume; a test may not wait for 10,000 requests).
    sqlx::query(
        "INSERT INTO leads (id, pipeline_id, stage, property_state, assigned_lo_id, first_name, last_name, email)
         SELECT gen_random_uuid(), $1::uuid, 'new', 'TX', $2, 'Pat', 'Borrower', 'pat' || n || '@borrower.test'
         FROM generate_series(1, 10000) n",
    )
    .bind(PIPELINE)
    .bind(from)
    .execute(app.db())
    .await
    .unwrap();
    let client = app.login("bulk.admin@x.test").await;
    // Without a reason: 422 and the form again.
    let res = client
        .post(app.url("/leads/reassign"))
        .form(&[
            ("from_lo", from.to_string()),
            ("select_all", "on".into()),
            ("to", format!("lo:{to}")),
            ("reason", "".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Give a reason"));
    let res = client
        .post(app.url("/leads/reassign"))
        .form(&[
            ("from_lo", from.to_string()),
            ("select_all", "on".into()),
            ("to", format!("lo:{to}")),
            ("reason", "Book of business moves to Dallas senior LO".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/leads/reassign/jobs/"), "{location}");
    // One lead becomes unlicensed for the target before the job runs: the whole run must change nothing.
    set_profile(&app, to, &[("licensed_states", "TX")]).await;
    // (The borrower's property turns out to be in California: the admin corrects it through the API.)
    let moved_lead: Uuid =
        sqlx::query_scalar("SELECT id FROM leads ORDER BY id DESC LIMIT 1").fetch_one(app.db()).await.unwrap();
    let admin_api = app.api(&app.token_for(admin).await);
    app.patch_lead(&admin_api, moved_lead, serde_json::json!({"property_state": "CA"})).await;
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id = $1")
        .bind(to)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(moved, 0, "a failed bulk run changes nothing");
    let page = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("failed"), "{page}");
    assert!(page.contains("not licensed for 1 of the selected leads; nothing was changed"), "{page}");
    // Fix the lead and run it again: all 10,000 move, with history and progress.
    app.patch_lead(&admin_api, moved_lead, serde_json::json!({"property_state": "TX"})).await;
    let res = client
        .post(app.url("/leads/reassign"))
        .form(&[
            ("from_lo", from.to_string()),
            ("select_all", "on".into()),
            ("to", format!("lo:{to}")),
            ("reason", "Book of business moves to Dallas senior LO".into()),
        ])
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_string();
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE assigned_lo_id = $1")
        .bind(to)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(moved, 10_000);
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM assignments WHERE to_lo_id = $1 AND from_lo_id = $2 AND actor_id = $3",
    )
    .bind(to)
    .bind(from)
    .bind(admin)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(history, 10_000);
    let page = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("10000 of 10000 leads"), "{page}");
}

#[tokio::test]
async fn admins_manage_rules_and_managers_run_the_availability_board() {
    let app = TestApp::spawn().await;
    let maria = lo(&app, "maria.web@x.test", Some("Dallas"), &["TX"]).await;
    let admin = app.login_as(Role::Admin, "web.admin@x.test", None, &[]).await.1;
    // Invalid rule: 422 with the input kept.
    let res = admin
        .post(app.url("/routing/rules"))
        .form(&[
            ("name", "Texas <purchase>"),
            ("states", "TX, ZZ"),
            ("method", "round_robin"),
            ("fallback_method", "round_robin"),
            ("claim_minutes", "10"),
            ("sla_minutes", "5"),
            ("sla_action", "reassign"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("ZZ is not a US state code."), "{body}");
    assert!(body.contains("Texas &lt;purchase&gt;") || body.contains("Texas &#60;purchase&#62;"), "escaped input kept");
    let res = admin
        .post(app.url("/routing/rules"))
        .form(&[
            ("name", "Texas purchase"),
            ("states", "tx"),
            ("team_ids", "not-a-team"),
            ("method", "round_robin"),
            ("fallback_method", "round_robin"),
            ("claim_minutes", "10"),
            ("sla_minutes", "5"),
            ("sla_action", "reassign"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let dallas: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    let dallas_s = dallas.to_string();
    let res = admin
        .post(app.url("/routing/rules"))
        .form(&[
            ("name", "Texas purchase"),
            ("states", "tx"),
            ("team_ids", dallas_s.as_str()),
            ("method", "weighted_round_robin"),
            ("fallback_method", "round_robin"),
            ("claim_minutes", "10"),
            ("sla_minutes", "7"),
            ("sla_action", "escalate"),
            ("require_working_hours", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (states, teams, sla): (Vec<String>, Vec<Uuid>, i32) =
        sqlx::query_as("SELECT states, team_ids, sla_minutes FROM routing_rules WHERE name = 'Texas purchase'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((states, teams, sla), (vec!["TX".to_string()], vec![dallas], 7));
    let list = admin.get(app.url("/routing/rules")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Texas purchase") && list.contains("team Dallas"), "{list}");
    assert!(list.contains("0-5, 30-60, 60-120, 1440-2880, 2880-4320, 5760-7200, 10080-11520, 18720-20160"), "{list}");
    // The cadence is configurable; nonsense is refused with the input kept.
    let res = admin
        .post(app.url("/routing/settings"))
        .form(&[("default_sla_minutes", "5"), ("attempts", "0-5, soon"), ("max_voicemails", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("0-5, soon"));
    let res = admin
        .post(app.url("/routing/settings"))
        .form(&[("default_sla_minutes", "3"), ("attempts", "0-5, 60-90"), ("max_voicemails", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cadence: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'routing.cadence'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(cadence, serde_json::json!({"attempts": [[0, 5], [60, 90]], "max_voicemails": 1}));
    let (lead, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, Some(maria));
    let log = admin.get(app.url("/routing/log")).send().await.unwrap().text().await.unwrap();
    assert!(log.contains(&lead.to_string()) && log.contains("Texas purchase"), "{log}");
    // LOs and managers cannot edit rules.
    let (_, manager) = app.login_as(Role::Manager, "web.boss@x.test", Some("Dallas"), &[]).await;
    assert_eq!(manager.get(app.url("/routing/rules")).send().await.unwrap().status(), 403);
    // The manager sees the board and sets Maria away; the next TX lead waits in the Dallas queue.
    let board = manager.get(app.url("/availability")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("maria web") && common::text_of(&board).contains("1 / 50"), "{board}");
    let res = manager
        .post(app.url(&format!("/availability/{maria}/status")))
        .form(&[("status", "away")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let board = manager.get(app.url("/availability")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("Away with new leads waiting"), "{board}");
    let (queued, none) = new_lead(&app, "TX").await;
    assert_eq!(none, None);
    assert_eq!(assigned(&app, queued).await, (None, Some(dallas)));
    let queue = manager.get(app.url("/routing/queue")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains(&queued.to_string()), "{queue}");
    // Assign from the queue (single reassignment form).
    let res = manager
        .post(app.url(&format!("/leads/{queued}/reassign")))
        .form(&[("to", format!("lo:{maria}")), ("reason", "Maria is back after lunch".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(assigned(&app, queued).await.0, Some(maria));
    // Nobody outside Dallas may touch it.
    let (_, west) = app.login_as(Role::Manager, "web.west@x.test", Some("West"), &[]).await;
    let res = west
        .post(app.url(&format!("/leads/{queued}/reassign")))
        .form(&[("to", format!("lo:{maria}")), ("reason", "mine".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_claim_rule_offers_the_lead_to_the_pool_and_falls_back_when_nobody_claims() {
    let app = TestApp::spawn().await;
    let (a, a_client) = app.login_as(Role::Lo, "claim.a@x.test", None, &["TX"]).await;
    let (b, b_client) = app.login_as(Role::Lo, "claim.b@x.test", None, &["TX"]).await;
    for id in [a, b] {
        set_profile(&app, id, &[("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")]).await;
    }
    add_rule(
        &app,
        &[("name", "Pool"), ("method", "claim"), ("claim_minutes", "10"), ("fallback_method", "round_robin")],
    )
    .await;
    let (lead, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, None);
    let offer: i64 = sqlx::query_scalar("SELECT id FROM claim_offers WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap();
    let queue = b_client.get(app.url("/routing/queue")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains(&format!("/routing/offers/{offer}/claim")), "{queue}");
    let res = b_client.post(app.url(&format!("/routing/offers/{offer}/claim"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(assigned(&app, lead).await.0, Some(b));
    let res = a_client.post(app.url(&format!("/routing/offers/{offer}/claim"))).send().await.unwrap();
    assert_eq!(res.status(), 409, "the first claim wins");
    // Nobody claims the next one: after the window the fallback round robin assigns it.
    let (lead2, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, None);
    app.state.clock.advance(Duration::minutes(9));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(assigned(&app, lead2).await.0, None);
    app.state.clock.advance(Duration::minutes(2));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    let owner = assigned(&app, lead2).await.0;
    assert!(owner == Some(a) || owner == Some(b), "{owner:?}");
    let trigger: String =
        sqlx::query_scalar("SELECT trigger FROM routing_decisions WHERE lead_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(lead2)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(trigger, "claim_expired");
}

#[tokio::test]
async fn weights_are_honoured_and_an_lo_back_from_time_off_gets_no_catch_up_burst() {
    let app = TestApp::spawn().await;
    let senior = lo(&app, "senior@x.test", None, &["TX"]).await;
    let junior = lo(&app, "junior@x.test", None, &["TX"]).await;
    let third = lo(&app, "third@x.test", None, &["TX"]).await;
    set_profile(&app, senior, &[("routing_weight", "2")]).await;
    add_rule(&app, &[("name", "Weighted"), ("method", "weighted_round_robin"), ("require_working_hours", "")]).await;
    let tally = |leads: Vec<Option<Uuid>>| {
        let mut t = [0; 3];
        for l in leads {
            let i = [senior, junior, third].iter().position(|x| Some(*x) == l).unwrap();
            t[i] += 1;
        }
        t
    };
    // `third` is away: 30 leads split 2:1.
    set_profile(&app, third, &[("status", "away")]).await;
    let mut got = Vec::new();
    for _ in 0..30 {
        got.push(new_lead(&app, "TX").await.1);
    }
    assert_eq!(tally(got), [20, 10, 0]);
    // `third` comes back: over the next 8 leads the shares are 2:1:1 — no burst of catch-up leads.
    set_profile(&app, third, &[("status", "available")]).await;
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(new_lead(&app, "TX").await.1);
    }
    assert_eq!(tally(got), [4, 2, 2]);
}

/// LOs whose stored open-lead count differs from a recount: (lo, stored, actual).
async fn count_drift(app: &TestApp) -> Vec<(Uuid, i64, i64)> {
    sqlx::query_as(
        "WITH truth AS (SELECT l.assigned_lo_id AS lo, count(*) AS n FROM leads l
                        JOIN stages s ON s.pipeline_id = l.pipeline_id AND s.key = l.stage
                        WHERE s.kind = 'open' AND l.assigned_lo_id IS NOT NULL GROUP BY 1)
         SELECT coalesce(t.lo, c.lo_id), coalesce(c.open_leads, 0), coalesce(t.n, 0)
         FROM truth t FULL JOIN lo_open_leads c ON c.lo_id = t.lo
         WHERE coalesce(c.open_leads, 0) <> coalesce(t.n, 0)",
    )
    .fetch_all(app.db())
    .await
    .unwrap()
}

async fn open_count(app: &TestApp, lo: Uuid) -> i64 {
    sqlx::query_scalar("SELECT coalesce((SELECT open_leads FROM lo_open_leads WHERE lo_id = $1), 0)")
        .bind(lo)
        .fetch_one(app.db())
        .await
        .unwrap()
}

/// The per-LO open-lead counts routing reads (kept by triggers) equal a recount after creating, routing,
/// moving stages, reassigning and offboarding.
#[tokio::test]
async fn open_lead_counts_stay_equal_to_a_recount() {
    let app = TestApp::spawn().await;
    let a = lo(&app, "count.a@x.test", Some("Count Team"), &["TX"]).await;
    let b = lo(&app, "count.b@x.test", Some("Count Team"), &["TX"]).await;
    let mut leads = Vec::new();
    for _ in 0..12 {
        leads.push(new_lead(&app, "TX").await.0);
    }
    assert_eq!(open_count(&app, a).await + open_count(&app, b).await, 12);
    assert_eq!(count_drift(&app).await, vec![]);
    // Stage changes out of and back into open stages, and an edit that changes no stage, through the API.
    let (_, admin_page) = app.login_as(Role::Admin, "count.admin@x.test", None, &[]).await;
    let admin = app.api(&app.token_for(current_user_id(&app, "count.admin@x.test").await).await);
    for lead in &leads[..4] {
        app.move_stage(&admin, *lead, "lost", Some("rate")).await;
    }
    app.move_stage(&admin, leads[0], "contacted", None).await;
    for lead in &leads {
        app.patch_lead(&admin, *lead, serde_json::json!({"first_name": "Renamed"})).await;
    }
    assert_eq!(count_drift(&app).await, vec![]);
    assert_eq!(open_count(&app, a).await + open_count(&app, b).await, 9);
    // Reassignment (the bulk form, selected leads) and offboarding move counts between LOs.
    let mut form = vec![("to", format!("lo:{b}")), ("reason", "Balancing the team".to_string())];
    form.extend(leads[4..].iter().map(|l| ("lead", l.to_string())));
    let res = admin_page.post(app.url("/leads/reassign")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "bulk reassignment: {}", res.text().await.unwrap());
    assert_eq!(count_drift(&app).await, vec![]);
    assert!(open_count(&app, b).await >= 8, "b holds the eight reassigned open leads");
    let res = admin_page
        .post(app.url(&format!("/admin/users/{b}/deactivate")))
        .form(&[("hand_over", "lo"), ("to_lo", &a.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(open_count(&app, b).await, 0);
    assert_eq!(open_count(&app, a).await, 9);
    assert_eq!(count_drift(&app).await, vec![]);
}

/// A created lead whose routing never committed (the process stopped in between) is routed by its
/// safety-net job; a lead routed at once leaves no job behind.
#[tokio::test]
async fn a_lead_left_unrouted_is_routed_by_its_safety_net_job() {
    let app = TestApp::spawn().await;
    let tx_lo = lo(&app, "net.tx@x.test", None, &["TX"]).await;
    // A fault no interface can produce short of killing the server between the two transactions: the state
    // it leaves is the committed lead with its queued safety-net job, written here as the intake writes them.
    let orphan = Uuid::new_v4();
    let mut tx = app.db().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, property_state, source)
         VALUES ($1, $2::uuid, 'new', 'Pat', 'Borrower', 'TX', 'direct')",
    )
    .bind(orphan)
    .bind(PIPELINE)
    .execute(&mut *tx)
    .await
    .unwrap();
    routing::queue_routing(&mut tx, &[orphan], app.state.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(assigned(&app, orphan).await.0, None);
    // Not yet due.
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(assigned(&app, orphan).await.0, None);
    app.state.clock.advance(Duration::minutes(2));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
    assert_eq!(assigned(&app, orphan).await.0, Some(tx_lo));
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM routing_decisions WHERE lead_id = $1")
        .bind(orphan)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(outcome, "assigned");

    // Routed at once (the intake API): the job is gone, and running it again (a late duplicate) changes nothing.
    let (routed, chosen) = new_lead(&app, "TX").await;
    assert_eq!(chosen, Some(tx_lo));
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'routing.route_lead' AND status = 'queued'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(routing::route_created_lead(&app.state, routed, None).await.unwrap(), Some(tx_lo));
    let decisions: i64 = sqlx::query_scalar("SELECT count(*) FROM routing_decisions WHERE lead_id = $1")
        .bind(routed)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(decisions, 1);
}

/// The real intake path over HTTP: an integration's `POST /api/v1/leads` commits the lead, then routes it in
/// its own transaction; the answer already names the LO, who finds the lead in their list and call queue.
/// With the job worker running beside the request, the lead is still routed exactly once (the safety-net job
/// is cleared, not run a second time).
#[tokio::test]
async fn a_lead_posted_to_the_api_reaches_an_lo_with_the_job_worker_off_and_on() {
    for worker_on in [false, true] {
        let app = TestApp::spawn().await;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let worker = worker_on.then(|| loanfloor::jobs::spawn_worker(app.state.clone(), stop_rx));
        let maria = lo(&app, "maria.intake@x.test", Some("Dallas"), &["TX"]).await;
        lo(&app, "carl.intake@x.test", Some("West"), &["CA"]).await;
        let intake = app.create_user(Role::Intake, "vendor@x.test", None, &[]).await;
        let vendor = app.api(&app.token_for(intake).await);
        let body = serde_json::json!({
            "first_name": "Iris", "last_name": "Intake", "phone": "(512) 555-0177", "property_state": "TX",
            "loan_purpose": "purchase", "source": "zillow", "external_id": format!("Z-{worker_on}"),
        });
        let res = vendor.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "worker on: {worker_on}");
        let created: serde_json::Value = res.json().await.unwrap();
        assert_eq!(created["assigned_lo"]["id"], maria.to_string(), "worker on: {worker_on}: routed before the answer");
        let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
        // Maria sees it through her own token and on her call queue; the CA LO does not.
        let maria_api = app.api(&app.token_for(maria).await);
        let shown: serde_json::Value =
            maria_api.get(app.url(&format!("/api/v1/leads/{id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(shown["first_name"], "Iris");
        let day = app.login("maria.intake@x.test").await.get(app.url("/my-day")).send().await.unwrap();
        assert!(day.text().await.unwrap().contains("Iris Intake"), "worker on: {worker_on}");
        let carl = app.login("carl.intake@x.test").await;
        assert_eq!(carl.get(app.url(&format!("/leads/{id}"))).send().await.unwrap().status(), 404);
        // Whatever the worker does meanwhile (and once the safety net would be due), one assignment, one
        // decision, no routing job left.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.state.clock.advance(Duration::minutes(5));
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
        let (assignments, decisions, queued): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM assignments WHERE lead_id = $1),
                    (SELECT count(*) FROM routing_decisions WHERE lead_id = $1),
                    (SELECT count(*) FROM jobs WHERE kind = 'routing.route_lead' AND status = 'queued')",
        )
        .bind(id)
        .fetch_one(app.db())
        .await
        .unwrap();
        assert_eq!((assignments, decisions, queued), (1, 1, 0), "worker on: {worker_on}");
        let _ = stop.send(true);
        if let Some(w) = worker {
            w.await.unwrap();
        }
    }
}

/// One test database set up for the batch-versus-one-by-one comparison: five LOs whose names and profiles
/// follow the order of their ids (the order routing lists candidates in), so two databases with different
/// random ids are the same routing problem; a weighted rule for one vendor; forty unrouted leads (written as
/// the intake writes them) in a fixed order. Returns the leads in that order and each LO's rank by id.
async fn batch_problem(app: &TestApp) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut los = Vec::new();
    for i in 0..5 {
        los.push(lo(app, &format!("batch.{i}@x.test"), None, &["TX", "CA"]).await);
    }
    los.sort();
    // Rank 0: room for two leads; 1: weight 3, room for six; 2: away; 3: California only; 4: room for four.
    let profiles: [&[(&str, &str)]; 5] = [
        &[("capacity", "2")],
        &[("routing_weight", "3"), ("capacity", "6")],
        &[("status", "away")],
        &[("licensed_states", "CA")],
        &[("capacity", "4")],
    ];
    for (rank, (lo, changes)) in los.iter().zip(profiles).enumerate() {
        let name = format!("Rank {rank}");
        let mut changes = changes.to_vec();
        changes.push(("name", &name));
        set_profile(app, *lo, &changes).await;
    }
    add_rule(
        app,
        &[
            ("name", "Weighted vendor"),
            ("method", "weighted_round_robin"),
            ("sources", "weighted"),
            ("require_working_hours", ""),
        ],
    )
    .await;
    let mut leads = Vec::new();
    let mut tx = app.db().begin().await.unwrap();
    for i in 0..40 {
        let id = Uuid::new_v4();
        // Lead 7 is the borrower of lead 4 again (a returning borrower inside the batch; both in Texas).
        let email = format!("batch.borrower.{}@x.test", if i == 7 { 4 } else { i });
        let (state, source) = (if i % 3 == 0 { "CA" } else { "TX" }, if i % 4 == 1 { "weighted" } else { "direct" });
        sqlx::query(
            "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, email, property_state, source, created_at)
             VALUES ($1, $2::uuid, 'new', 'Pat', $3, $4, $5, $6, now() + make_interval(secs => $7))",
        )
        .bind(id)
        .bind(PIPELINE)
        .bind(format!("Borrower {i}"))
        .bind(email)
        .bind(state)
        .bind(source)
        .bind(f64::from(i))
        .execute(&mut *tx)
        .await
        .unwrap();
        leads.push(id);
    }
    tx.commit().await.unwrap();
    (leads, los)
}

/// What routing decided for each lead, with LOs named by rank: (outcome, chosen rank, summary), then each
/// LO's stored place in each rotation by rank, and each rotation's position.
async fn batch_outcome(
    app: &TestApp,
    leads: &[Uuid],
    los: &[Uuid],
) -> (Vec<(String, Option<usize>, String)>, Vec<String>) {
    let rank = |lo: Option<Uuid>| lo.and_then(|lo| los.iter().position(|x| *x == lo));
    let mut decided = Vec::new();
    for lead in leads {
        let (outcome, chosen, summary): (String, Option<Uuid>, String) =
            sqlx::query_as("SELECT outcome, chosen_lo_id, summary FROM routing_decisions WHERE lead_id = $1")
                .bind(lead)
                .fetch_one(app.db())
                .await
                .unwrap();
        assert_eq!(assigned(app, *lead).await.0, chosen, "the lead is with the LO its decision chose");
        decided.push((outcome, rank(chosen), summary));
    }
    let rows: Vec<(String, Uuid, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT coalesce(r.name, c.rule_key), c.lo_id, c.credit, c.assigned, c.last_seq, c.era_assigned, c.last_assigned_seq
         FROM routing_counters c LEFT JOIN routing_rules r ON r.id::text = c.rule_key",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    let mut places: Vec<String> = rows
        .into_iter()
        .map(|r| format!("{} rank {:?}: {:?}", r.0, rank(Some(r.1)), (r.2, r.3, r.4, r.5, r.6)))
        .collect();
    let positions: Vec<(String, i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT coalesce(r.name, p.rule_key), p.seq, p.last_lo_id FROM rule_positions p
         LEFT JOIN routing_rules r ON r.id::text = p.rule_key",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    places.extend(positions.into_iter().map(|p| format!("{} at {} last rank {:?}", p.0, p.1, rank(p.2))));
    places.sort();
    (decided, places)
}

/// The set-based batch router (issue 22) makes, lead for lead, the decision lead-by-lead routing makes: the
/// same LO (by rank), the same summary, the same rotation state after, across a weighted rule, the default
/// round robin, LOs filling up (then the queue), an away LO, licensing, and a returning borrower in the batch.
#[tokio::test]
async fn a_batch_of_new_leads_is_routed_exactly_as_one_lead_at_a_time() {
    let (one_by_one, batched) = (TestApp::spawn().await, TestApp::spawn().await);
    for app in [&one_by_one, &batched] {
        app.create_user(Role::Manager, "queue.boss@x.test", None, &[]).await;
    }
    let (leads_a, los_a) = batch_problem(&one_by_one).await;
    for lead in &leads_a {
        routing::route_created_lead(&one_by_one.state, *lead, None).await.unwrap();
    }
    let (leads_b, los_b) = batch_problem(&batched).await;
    let all: Vec<(Uuid, Option<&CurrentUser>)> = leads_b.iter().map(|l| (*l, None)).collect();
    let routed = routing::batch::route_together(&batched.state, &all).await.unwrap();
    let expected = batch_outcome(&one_by_one, &leads_a, &los_a).await;
    let got = batch_outcome(&batched, &leads_b, &los_b).await;
    assert_eq!(got.0, expected.0, "each lead's decision");
    assert_eq!(got.1, expected.1, "the rotations after");
    let ranks: Vec<Option<usize>> =
        routed.iter().map(|lo| lo.and_then(|lo| los_b.iter().position(|x| *x == lo))).collect();
    assert_eq!(ranks, expected.0.iter().map(|d| d.1).collect::<Vec<_>>(), "the answers name the same LOs");
    // The problem exercises what it says: a queue once every TX LO is full, and the returning borrower.
    assert!(expected.0.iter().any(|d| d.0 == "queued"), "{:?}", expected.0);
    assert_eq!(expected.0[7].1, expected.0[4].1, "the returning borrower goes back to their LO");
    // The follow-ups of each assignment happened in the batch too: the bell, the SLA check, the cadence.
    for app in [&one_by_one, &batched] {
        let n: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM notifications WHERE kind = 'lead_assigned'),
                    (SELECT count(*) FROM jobs WHERE kind = 'routing.sla_check'),
                    (SELECT count(*) FROM lead_cadences)",
        )
        .fetch_one(app.db())
        .await
        .unwrap();
        let assigned = expected.0.iter().filter(|d| d.0 == "assigned").count() as i64;
        assert_eq!(n, (assigned, assigned, assigned));
    }
    // The managers hear of the queue once per routing: once per lead one at a time, once for the whole batch,
    // naming how many leads wait.
    let queued = expected.0.iter().filter(|d| d.0 == "queued").count();
    let alerts = |app: &TestApp| {
        let db = app.db().clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT title FROM notifications WHERE kind = 'lead_unassigned' ORDER BY id",
            )
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    let (singly, together) = (alerts(&one_by_one).await, alerts(&batched).await);
    let managers: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'manager' AND active")
        .fetch_one(batched.db())
        .await
        .unwrap();
    assert!(queued > 1 && managers > 0, "{queued} queued leads, {managers} managers");
    assert_eq!(singly.len() as i64, queued as i64 * managers, "{singly:?}");
    assert_eq!(together.len() as i64, managers, "{together:?}");
    assert!(together[0].starts_with(&format!("{queued} leads waiting for an LO: Pat Borrower")), "{together:?}");
    // The batch computed every lead's metric contribution, exactly as the view of the base tables has it.
    let differ: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ((SELECT kind, day, team_id, lo_id, source, reached_pos, n, called, volume_cents
                                 FROM metrics_lead_contrib WHERE lead_id = ANY($1)
                                EXCEPT ALL
                                SELECT kind, day, team_id, lo_id, source, reached_pos, n, called, volume_cents
                                 FROM metrics_contributions WHERE lead_id = ANY($1))
                               UNION ALL
                               (SELECT kind, day, team_id, lo_id, source, reached_pos, n, called, volume_cents
                                 FROM metrics_contributions WHERE lead_id = ANY($1)
                                EXCEPT ALL
                                SELECT kind, day, team_id, lo_id, source, reached_pos, n, called, volume_cents
                                 FROM metrics_lead_contrib WHERE lead_id = ANY($1))) d",
    )
    .bind(&leads_b)
    .fetch_one(batched.db())
    .await
    .unwrap();
    assert_eq!(differ, 0, "the stored contributions are the base tables' own");
}
