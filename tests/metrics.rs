//! Metrics: hand-checked figures through the API and the dashboard, scoping, CSV export, drill-down links,
//! and rollups equal to a reference computation over the base tables on random data with concurrent writes.

mod common;

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::TestApp;
use loanfloor::auth::{Role, Scope};
use loanfloor::metrics::model::{Tally, latency_bucket};
use loanfloor::metrics::store::{self, Filters, GroupBy, Kind, Path};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use uuid::Uuid;

const PIPELINE: &str = "00000000-0000-0000-0000-000000000001";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Sets the application's clock to this instant: the hand dataset happened in November 2026, and every
/// step of it is taken through the product at the time it happened.
fn clock_at(app: &TestApp, at: &str) {
    app.state.clock.advance(t(at) - app.state.clock.now());
}

/// An LO enters a lead of theirs at `created` through the API (so it is theirs, in their team); returns its id.
async fn lead_of(
    app: &TestApp,
    lo: &reqwest::Client,
    n: u32,
    source: &str,
    cost: i64,
    amount: i64,
    created: &str,
) -> Uuid {
    clock_at(app, created);
    let body = serde_json::json!({
        "first_name": "Test", "last_name": format!("Lead{n}"), "email": format!("lead{n}@hand.test"),
        "property_state": "TX", "source": source, "cost_cents": cost, "loan_amount_cents": amount,
    });
    let res = lo.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "L{n}: {}", res.text().await.unwrap());
    let created: Value = res.json().await.unwrap();
    created["id"].as_str().unwrap().parse().unwrap()
}

/// The LO logs a call through the API at the time it happened.
async fn call(app: &TestApp, lo: &reqwest::Client, lead: Uuid, outcome: &str, talk: i32, at: &str) {
    clock_at(app, at);
    let body = serde_json::json!({"kind": "call", "direction": "outbound", "outcome": outcome, "talk_seconds": talk,
                                  "occurred_at": at});
    let res = lo.post(app.url(&format!("/api/v1/leads/{lead}/activities"))).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "call on {lead}: {}", res.text().await.unwrap());
}

/// The LO moves the lead's stage through the API at `at`.
async fn stage(app: &TestApp, lo: &reqwest::Client, lead: Uuid, to: &str, reason: Option<&str>, at: &str) {
    clock_at(app, at);
    let now: Value = lo.get(app.url(&format!("/api/v1/leads/{lead}"))).send().await.unwrap().json().await.unwrap();
    let body = serde_json::json!({"stage": to, "lost_reason": reason, "version": now["version"]});
    let res = lo.post(app.url(&format!("/api/v1/leads/{lead}/stage"))).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200, "{lead} to {to}: {}", res.text().await.unwrap());
}

async fn team_id(db: &sqlx::PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM teams WHERE name = $1").bind(name).fetch_one(db).await.unwrap()
}

struct Org {
    lo1: Uuid,
    lo2: Uuid,
    lo3: Uuid,
    l1: Uuid,
    l4: Uuid,
}

/// The hand-checked dataset (org time zone America/Chicago, UTC-6 in November 2026), entered through the
/// product at the times it happened: each LO enters their leads, logs their calls and moves the stages through
/// the API; manager A reassigns L7 from lo one to lo two. Afterwards the clock is back at the real time.
async fn hand_dataset(app: &TestApp) -> Org {
    let db = app.db();
    app.create_user(Role::Manager, "ma@example.com", Some("Team A"), &[]).await;
    app.create_user(Role::Manager, "mb@example.com", Some("Team B"), &[]).await;
    let lo1 = app.create_user(Role::Lo, "lo.one@example.com", Some("Team A"), &["TX"]).await;
    let lo2 = app.create_user(Role::Lo, "lo.two@example.com", Some("Team A"), &["TX"]).await;
    let lo3 = app.create_user(Role::Lo, "lo.three@example.com", Some("Team B"), &["TX"]).await;
    let ma = loanfloor::auth::store::find_user_by_email(db, "ma@example.com").await.unwrap().unwrap().id;
    let (one, two, three, manager_a) = (
        app.api(&app.token_for(lo1).await),
        app.api(&app.token_for(lo2).await),
        app.api(&app.token_for(lo3).await),
        app.api(&app.token_for(ma).await),
    );
    sqlx::query("INSERT INTO lead_sources (key, label, cost_per_lead_cents) VALUES ('web', 'Web form', 5000)")
        .execute(db)
        .await
        .unwrap();
    let real_now = app.state.clock.now();
    // L1: lo1, funded.
    let l1 = lead_of(app, &one, 1, "web", 5000, 30_000_000, "2026-11-02T15:00:00Z").await;
    call(app, &one, l1, "no_answer", 0, "2026-11-02T15:02:00Z").await;
    call(app, &one, l1, "contacted", 600, "2026-11-02T15:30:00Z").await;
    for (s, at) in [
        ("contacted", "2026-11-02T15:30:00Z"),
        ("prequalified", "2026-11-03T15:00:00Z"),
        ("application", "2026-11-04T15:00:00Z"),
        ("processing", "2026-11-04T16:00:00Z"),
        ("underwriting", "2026-11-05T15:00:00Z"),
        ("clear_to_close", "2026-11-05T16:00:00Z"),
        ("funded", "2026-11-06T15:00:00Z"),
    ] {
        stage(app, &one, l1, s, None, at).await;
    }
    // L2: lo1, application then lost on rate.
    let l2 = lead_of(app, &one, 2, "web", 5000, 20_000_000, "2026-11-03T16:00:00Z").await;
    call(app, &one, l2, "contacted", 300, "2026-11-03T16:10:00Z").await;
    stage(app, &one, l2, "contacted", None, "2026-11-03T16:10:00Z").await;
    stage(app, &one, l2, "application", None, "2026-11-04T16:00:00Z").await;
    stage(app, &one, l2, "lost", Some("rate"), "2026-11-05T16:00:00Z").await;
    // L3: lo2, referral, two attempts, never contacted, lost.
    let l3 = lead_of(app, &two, 3, "referral", 0, 10_000_000, "2026-11-04T14:00:00Z").await;
    call(app, &two, l3, "no_answer", 0, "2026-11-04T14:04:00Z").await;
    call(app, &two, l3, "voicemail", 0, "2026-11-04T14:20:00Z").await;
    stage(app, &two, l3, "lost", Some("no_contact"), "2026-11-06T14:00:00Z").await;
    // L5: team B (entered before L4, as it happened).
    let l5 = lead_of(app, &three, 5, "web", 5000, 25_000_000, "2026-11-04T15:00:00Z").await;
    call(app, &three, l5, "contacted", 120, "2026-11-04T15:00:30Z").await;
    stage(app, &three, l5, "contacted", None, "2026-11-04T15:00:30Z").await;
    // L4: lo2, never called.
    let l4 = lead_of(app, &two, 4, "web", 5000, 15_000_000, "2026-11-05T17:00:00Z").await;
    // L7: lo1 contacts, then manager A reassigns it to lo2, who takes the application.
    let l7 = lead_of(app, &one, 7, "web", 5000, 40_000_000, "2026-11-06T15:00:00Z").await;
    call(app, &one, l7, "contacted", 100, "2026-11-06T15:01:00Z").await;
    stage(app, &one, l7, "contacted", None, "2026-11-06T15:01:00Z").await;
    clock_at(app, "2026-11-07T15:00:00Z");
    let res = manager_a
        .post(app.url(&format!("/api/v1/leads/{l7}/assign")))
        .json(&serde_json::json!({"lo_id": lo2, "reason": "lo one is out on Monday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "L7 reassigned: {}", res.text().await.unwrap());
    call(app, &two, l7, "contacted", 200, "2026-11-07T15:20:00Z").await;
    stage(app, &two, l7, "application", None, "2026-11-08T15:00:00Z").await;
    // L6: lo1, before the range (entered last here; its day is what counts).
    lead_of(app, &one, 6, "web", 5000, 1, "2026-10-20T15:00:00Z").await;
    app.state.clock.advance(real_now - app.state.clock.now());
    Org { lo1, lo2, lo3, l1, l4 }
}

const RANGE: &str = "from=2026-11-02&to=2026-11-09";

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    let res = c.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn hand_checked_funnel_speed_and_roi() {
    let app = TestApp::spawn().await;
    let org = hand_dataset(&app).await;
    let ma = app.login("ma@example.com").await;

    for figures in ["", "&figures=base"] {
        let f = get_json(&ma, app.url(&format!("/api/v1/metrics/funnel?{RANGE}&group_by=team{figures}"))).await;
        let rows = f["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "manager A sees only team A: {f}");
        let r = &rows[0];
        assert_eq!(r["label"], "Team A");
        assert_eq!(r["cohort"], 5);
        let reached: Vec<i64> = ["new", "contacted", "prequalified", "application", "processing", "funded"]
            .iter()
            .map(|s| r["reached"][*s].as_i64().unwrap())
            .collect();
        assert_eq!(reached, vec![5, 3, 3, 3, 1, 1]);
        assert_eq!(r["conversion"]["contacted"]["step"], 60.0);
        assert_eq!(r["conversion"]["contacted"]["cumulative_low"], 23.1);
        assert_eq!(r["conversion"]["contacted"]["cumulative_high"], 88.2);
        assert_eq!(r["conversion"]["processing"]["step"], 33.3);
        assert_eq!(r["conversion"]["funded"]["cumulative"], 20.0);
        assert_eq!(r["conversion"]["funded"]["cumulative_low"], 3.6);
        assert_eq!(r["conversion"]["funded"]["cumulative_high"], 62.4);

        // Per-LO funnel: assignment cohorts, stages while assigned.
        let f = get_json(&ma, app.url(&format!("/api/v1/metrics/funnel?{RANGE}&group_by=lo{figures}"))).await;
        let by: HashMap<String, &Value> =
            f["rows"].as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap().to_string(), r)).collect();
        let lo1 = by[&org.lo1.to_string()];
        assert_eq!(lo1["cohort"], 3);
        assert_eq!(lo1["reached"]["contacted"], 3);
        assert_eq!(lo1["reached"]["prequalified"], 2);
        assert_eq!(lo1["reached"]["application"], 2);
        assert_eq!(lo1["reached"]["funded"], 1);
        let lo2 = by[&org.lo2.to_string()];
        assert_eq!(lo2["cohort"], 3);
        assert_eq!(lo2["reached"]["contacted"], 1);
        assert_eq!(lo2["reached"]["application"], 1);
        assert!(!by.contains_key(&org.lo3.to_string()), "team B's LO is not in manager A's figures");

        // Speed-to-lead.
        let s = get_json(&ma, app.url(&format!("/api/v1/metrics/speed-to-lead?{RANGE}{figures}"))).await;
        let rows: HashMap<String, &Value> =
            s["rows"].as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap().to_string(), r)).collect();
        let a = rows[&org.lo1.to_string()];
        assert_eq!(a["median"], "≤ 2 min");
        assert_eq!(a["p90"], "≤ 10 min");
        assert_eq!(a["within_5_min_pct"], 66.7);
        assert_eq!(a["contact_rate_pct"], 100.0);
        assert_eq!(a["attempts_before_contact"], 1.3);
        assert_eq!(a["never_called_twice_pct"], 66.7);
        assert_eq!(a["talk_seconds"], 1000);
        assert_eq!(a["talk_per_lead_seconds"], 333);
        assert_eq!(a["talk_per_funded_seconds"], 1000);
        let b = rows[&org.lo2.to_string()];
        assert_eq!(b["median"], "≤ 5 min");
        assert_eq!(b["p90"], "≤ 30 min");
        assert_eq!(b["within_5_min_pct"], 33.3);
        assert_eq!(b["contact_rate_pct"], 33.3);
        assert_eq!(b["talk_per_lead_seconds"], 67);
        assert_eq!(s["total"]["assigned"], 6);
        assert_eq!(s["total"]["median"], "≤ 5 min");
        assert_eq!(s["total"]["p90"], "≤ 30 min");
        assert_eq!(s["total"]["within_5_min_pct"], 50.0);

        // ROI per source.
        let roi = get_json(&ma, app.url(&format!("/api/v1/metrics/roi?{RANGE}{figures}"))).await;
        let web = roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == "web").unwrap();
        assert_eq!(web["leads"], 4);
        assert_eq!(web["spend_cents"], 20_000);
        assert_eq!(web["contact_rate"], 75.0);
        assert_eq!(web["applications"], 3);
        assert_eq!(web["funded"], 1);
        assert_eq!(web["funded_volume_cents"], 30_000_000);
        assert_eq!(web["cost_per_funded_cents"], 20_000);
        assert_eq!(web["pull_through"], 33.3);
        let referral = roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == "referral").unwrap();
        assert_eq!(referral["leads"], 1);
        assert_eq!(referral["contact_rate"], 0.0);

        // Lost reasons by stage reached and LO.
        let lost = get_json(&ma, app.url(&format!("/api/v1/metrics/lost-reasons?{RANGE}{figures}"))).await;
        let rows = lost["rows"].as_array().unwrap();
        let rate = rows.iter().find(|r| r["reason"] == "rate").unwrap();
        assert_eq!(rate["total"], 1);
        assert_eq!(rate["by_stage"][3], 1, "lost on rate after reaching application");
        assert_eq!(rate["by_lo"][org.lo1.to_string()], 1);
        let nc = rows.iter().find(|r| r["reason"] == "no_contact").unwrap();
        assert_eq!(nc["by_stage"][0], 1);
        assert_eq!(nc["by_lo"][org.lo2.to_string()], 1);
    }

    // The dashboard page shows the same numbers, the SVG chart and drill-down links.
    let page = ma.get(app.url(&format!("/dashboard?{RANGE}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg class=\"chart funnel-chart\""), "funnel chart present");
    assert!(html.contains("id=\"funnel-table\""), "table alternative present");
    // A manager's list is wider than their figures (their own leads, the organisation's queue): `scope=figures`.
    let link =
        "href=\"/leads?from=2026-11-02&#38;to=2026-11-09&#38;stage=application&#38;reached=1&#38;scope=figures\">3</a>";
    assert!(
        html.contains(link),
        "drill-down link from the funnel: {}",
        &html[html.find("funnel-table").unwrap_or(0)..][..1500]
    );
    assert!(html.contains(&format!("/leads?from=2026-11-02&#38;to=2026-11-09&#38;lo={}", org.lo1)));
    assert!(html.contains("$300,000"), "funded volume of web shown");
    assert!(html.contains("$200.00") || html.contains("$200"), "cost per funded shown");
    assert!(!html.contains("lo.three"), "team B's LO is not on manager A's dashboard");
    assert!(html.contains("≤ 2 min"));
    assert!(html.contains("class=\"sparkline\""));
    let _ = org.l1;
}

#[tokio::test]
async fn scope_managers_los_and_others() {
    let app = TestApp::spawn().await;
    let org = hand_dataset(&app).await;
    let mb = app.login("mb@example.com").await;
    let f = get_json(&mb, app.url(&format!("/api/v1/metrics/funnel?{RANGE}&group_by=team"))).await;
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["label"], "Team B");
    assert_eq!(rows[0]["cohort"], 1);
    let roi = get_json(&mb, app.url(&format!("/api/v1/metrics/roi?{RANGE}"))).await;
    assert_eq!(roi["rows"].as_array().unwrap().len(), 1);
    assert_eq!(roi["rows"][0]["leads"], 1);

    let lo2 = app.login("lo.two@example.com").await;
    let f = get_json(&lo2, app.url(&format!("/api/v1/metrics/funnel?{RANGE}&group_by=lo"))).await;
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "an LO sees only their own row: {f}");
    assert_eq!(rows[0]["key"], org.lo2.to_string());
    assert_eq!(rows[0]["cohort"], 3);
    let res = lo2.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 403, "the manager dashboard is for managers and admins");
    let me = lo2.get(app.url(&format!("/me/metrics?{RANGE}"))).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let html = me.text().await.unwrap();
    assert!(html.contains("≤ 5 min"), "my median speed-to-lead");
    assert!(html.contains("33.3%"), "my contact rate");

    let (_, lm) = app.login_as(Role::Lossmit, "lm@example.com", None, &[]).await;
    let res = lm.get(app.url(&format!("/api/v1/metrics/funnel?{RANGE}"))).send().await.unwrap();
    assert_eq!(res.status(), 403);

    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    let f = get_json(&admin, app.url(&format!("/api/v1/metrics/funnel?{RANGE}&group_by=source"))).await;
    let total: i64 = f["rows"].as_array().unwrap().iter().map(|r| r["cohort"].as_i64().unwrap()).sum();
    assert_eq!(total, 6);
    let bad = admin.get(app.url("/api/v1/metrics/funnel?from=yesterday")).send().await.unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn csv_export_neutralises_formulas() {
    let app = TestApp::spawn().await;
    hand_dataset(&app).await;
    // An admin saves lo one's name as a spreadsheet formula on the LO's page (names are free text).
    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    let lo1 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'lo.one@example.com'")
        .fetch_one(app.db())
        .await
        .unwrap();
    app.set_lo_profile(&admin, lo1, &[("name", "=HYPERLINK(\"http://evil\")")]).await;
    let ma = app.login("ma@example.com").await;
    let res = ma.get(app.url(&format!("/dashboard/export?{RANGE}&table=officers"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = res.text().await.unwrap();
    assert!(body.starts_with("loan_officer,assigned,"));
    assert!(body.contains("\"'=HYPERLINK(\"\"http://evil\"\")\",3,"), "formula neutralised: {body}");
    for table in ["funnel", "wow", "lost", "roi", "pipeline", "capacity", "bands"] {
        let res = ma.get(app.url(&format!("/dashboard/export?{RANGE}&table={table}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{table}");
    }
    let funnel = ma.get(app.url(&format!("/dashboard/export?{RANGE}&table=funnel"))).send().await.unwrap();
    let body = funnel.text().await.unwrap();
    assert!(body.contains("Contacted,3,60,60,23.1,88.2"), "{body}");
}

// ---------------------------------------------------------------------------------------------------------
// Rollups == reference over the base tables, on random data written concurrently.

#[derive(Clone)]
struct RLead {
    id: Uuid,
    team: Uuid,
    lo: Uuid,
    source: &'static str,
    created: DateTime<Utc>,
    amount: i64,
    cost: i64,
    assignments: Vec<(Uuid, Uuid, DateTime<Utc>)>,
    stages: Vec<(&'static str, Uuid, DateTime<Utc>, Option<&'static str>)>,
    calls: Vec<(Uuid, &'static str, i32, DateTime<Utc>)>,
}

const WON: [&str; 8] =
    ["new", "contacted", "prequalified", "application", "processing", "underwriting", "clear_to_close", "funded"];

fn pos(s: &str) -> usize {
    WON.iter().position(|w| *w == s).map(|p| p + 1).unwrap_or(0)
}

fn random_leads(seed: u64, n: usize, teams: &[(Uuid, Vec<Uuid>)]) -> Vec<RLead> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let outcomes = ["contacted", "no_answer", "voicemail", "bad_number"];
    let reasons = ["rate", "fees", "no_contact"];
    let sources = ["direct", "referral", "web"];
    (0..n)
        .map(|i| {
            let (team, officers) = &teams[rng.gen_range(0..teams.len())];
            let created = base + Duration::minutes(rng.gen_range(0..14 * 24 * 60));
            let mut at = created;
            let mut lo = officers[rng.gen_range(0..officers.len())];
            let mut assignments = vec![(lo, *team, at)];
            let mut stages = Vec::new();
            let mut calls = Vec::new();
            let mut p = 1;
            for _ in 0..rng.gen_range(0..8) {
                at += Duration::minutes(rng.gen_range(1..3000));
                match rng.gen_range(0..10) {
                    0 => {
                        lo = officers[rng.gen_range(0..officers.len())];
                        assignments.push((lo, *team, at));
                    }
                    1..=4 => {
                        let actor =
                            if rng.gen_range(0..5) == 0 { officers[rng.gen_range(0..officers.len())] } else { lo };
                        calls.push((actor, outcomes[rng.gen_range(0..4)], rng.gen_range(0..900), at));
                    }
                    5 if p > 0 => {
                        stages.push(("lost", lo, at, Some(reasons[rng.gen_range(0..3)])));
                        p = 0;
                    }
                    _ if p > 0 && p < 8 => {
                        p = (p + rng.gen_range(1..3)).min(8);
                        stages.push((WON[p - 1], lo, at, None));
                    }
                    _ => {}
                }
            }
            RLead {
                id: Uuid::from_u128(0x5eed_0000 + i as u128 + ((seed as u128) << 64)),
                team: *team,
                lo,
                source: sources[rng.gen_range(0..3)],
                created,
                amount: rng.gen_range(1..50) * 1_000_000,
                cost: rng.gen_range(0..3) * 2500,
                assignments,
                stages,
                calls,
            }
        })
        .collect()
}

/// The definitions, computed straightforwardly in Rust from the lead's facts.
fn reference(
    leads: &[RLead],
    tz: chrono_tz::Tz,
) -> (HashMap<String, Tally>, HashMap<String, Tally>, HashMap<String, i64>) {
    let day = |d: DateTime<Utc>| d.with_timezone(&tz).date_naive().to_string();
    let mut by_team: HashMap<String, Tally> = HashMap::new();
    let mut by_lo: HashMap<String, Tally> = HashMap::new();
    let mut lost: HashMap<String, i64> = HashMap::new();
    let calls_tally = |calls: &[&(Uuid, &str, i32, DateTime<Utc>)], t: &mut Tally| {
        t.attempts = calls.len() as i64;
        t.called = (!calls.is_empty()) as i64;
        t.called_twice = (calls.len() >= 2) as i64;
        t.talk_seconds = calls.iter().map(|c| c.2 as i64).sum();
        if let Some(i) = calls.iter().position(|c| c.1 == "contacted") {
            t.contacted = 1;
            t.attempts_to_contact = i as i64 + 1;
        }
    };
    for l in leads {
        // Team cohort row.
        let maxpos = l.stages.iter().map(|s| pos(s.0)).max().unwrap_or(0).max(1);
        let mut t = Tally { n: 1, cost_cents: l.cost, ..Tally::default() };
        for k in 0..maxpos {
            t.reached[k] = 1;
        }
        if maxpos == 8 {
            t.volume_cents = l.amount;
        }
        let mut calls: Vec<_> = l.calls.iter().collect();
        calls.sort_by_key(|c| c.3);
        calls_tally(&calls, &mut t);
        by_team.entry(format!("{}|{}|{}|{}", day(l.created), l.team, l.source, l.lo)).or_default().add(&t);
        // Assignment cohort rows.
        for (i, (lo, _, at)) in l.assignments.iter().enumerate() {
            let until = l.assignments.get(i + 1).map(|a| a.2);
            let inside = |x: DateTime<Utc>| x >= *at && until.is_none_or(|u| x < u);
            let maxpos =
                l.stages.iter().filter(|s| s.1 == *lo && inside(s.2)).map(|s| pos(s.0)).max().unwrap_or(0).max(1);
            let mut a = Tally { n: 1, ..Tally::default() };
            for k in 0..maxpos {
                a.reached[k] = 1;
            }
            if maxpos == 8 {
                a.volume_cents = l.amount;
            }
            let mine: Vec<_> = calls.iter().copied().filter(|c| c.0 == *lo && inside(c.3)).collect();
            calls_tally(&mine, &mut a);
            if let Some(first) = mine.first() {
                a.latency[latency_bucket((first.3 - *at).num_seconds() as f64)] = 1;
            }
            by_lo.entry(format!("{}|{}", day(*at), lo)).or_default().add(&a);
        }
        // Losses.
        let mut sorted = l.stages.clone();
        sorted.sort_by_key(|s| s.2);
        for (i, s) in sorted.iter().enumerate() {
            if s.0 == "lost" {
                let before = sorted[..i].iter().map(|p| pos(p.0)).max().unwrap_or(0).max(1);
                *lost
                    .entry(format!("{}|{}|{}|{}", day(l.created), s.3.unwrap_or("unspecified"), before, s.1))
                    .or_default() += 1;
            }
        }
    }
    (by_team, by_lo, lost)
}

async fn write_lead_row(db: &sqlx::PgPool, l: &RLead) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO leads (id, pipeline_id, stage, source, cost_cents, loan_amount_cents, team_id, assigned_lo_id, created_at,
                            campaign)
         VALUES ($1, $2::uuid, 'new', $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(l.id)
    .bind(PIPELINE)
    .bind(l.source)
    .bind(l.cost)
    .bind(l.amount)
    .bind(l.team)
    .bind(l.lo)
    .bind(l.created)
    // A campaign on two leads in three (by the id), so campaign figures have something to group.
    .bind(["spring", "fall", ""][(l.id.as_u128() % 3) as usize]).execute(&mut *tx)
    .await
    .unwrap();
    for (lo, team, at) in &l.assignments {
        sqlx::query("INSERT INTO assignments (lead_id, to_lo_id, to_team_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(l.id)
            .bind(lo)
            .bind(team)
            .bind(at)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Writes share `part` of a lead's stage changes and calls; the other shares are written concurrently.
async fn write_lead_facts(db: &sqlx::PgPool, l: &RLead, part: usize, parts: usize) {
    let mut tx = db.begin().await.unwrap();
    for (i, s) in l.stages.iter().enumerate() {
        if i % parts == part {
            sqlx::query(
                "INSERT INTO stage_changes (lead_id, to_stage, lo_id, lost_reason, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(l.id)
            .bind(s.0)
            .bind(s.1)
            .bind(s.3)
            .bind(s.2)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    for (i, c) in l.calls.iter().enumerate() {
        if i % parts == part {
            sqlx::query(
                "INSERT INTO activities (lead_id, actor_id, kind, outcome, talk_seconds, occurred_at) VALUES ($1, $2, 'call', $3, $4, $5)",
            )
            .bind(l.id)
            .bind(c.0)
            .bind(c.1)
            .bind(c.2)
            .bind(c.3)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

fn key_map(groups: Vec<store::Group>) -> HashMap<String, Tally> {
    let mut m: HashMap<String, Tally> = HashMap::new();
    for g in groups {
        if g.tally == Tally::default() {
            continue;
        }
        let k: Vec<String> = g.key.iter().map(|k| k.clone().unwrap_or_default()).collect();
        m.entry(k.join("|")).or_default().add(&g.tally);
    }
    m.retain(|_, t| *t != Tally::default());
    m
}

#[tokio::test]
async fn rollups_equal_base_tables_after_concurrent_writes() {
    let app = TestApp::spawn().await;
    let db = app.db().clone();
    let mut teams = Vec::new();
    for tname in ["North", "South"] {
        let mut officers = Vec::new();
        for i in 0..3 {
            officers.push(app.create_user(Role::Lo, &format!("lo{i}.{tname}@example.com"), Some(tname), &["TX"]).await);
        }
        teams.push((team_id(&db, tname).await, officers));
    }
    sqlx::query("INSERT INTO lead_sources (key, label) VALUES ('web', 'Web')").execute(&db).await.unwrap();
    let tz = app.state.config.timezone;
    let all = Scope { all: true, lo_id: None, team_ids: vec![], unassigned_queue: true };
    let filters = Filters {
        from: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()),
        to: Some(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()),
        ..Filters::default()
    };
    for seed in 1..=3u64 {
        let leads = random_leads(seed, 60, &teams);
        // Leads and assignments from 3 concurrent writers, then each lead's stage changes and calls split
        // across 3 concurrent writers (so facts of one lead race each other), with a fold running meanwhile.
        for phase in 0..2 {
            let mut handles = Vec::new();
            for part in 0..3usize {
                let db = db.clone();
                let leads = leads.clone();
                handles.push(tokio::spawn(async move {
                    for (i, l) in leads.iter().enumerate() {
                        if phase == 0 && i % 3 == part {
                            write_lead_row(&db, l).await;
                        } else if phase == 1 {
                            write_lead_facts(&db, l, part, 3).await;
                        }
                    }
                }));
            }
            let db2 = db.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..5 {
                    store::fold(&db2, 40).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }));
            for h in handles {
                h.await.unwrap();
            }
        }
        let mut everything = leads.clone();
        let prior: Vec<RLead> = (1..seed).flat_map(|s| random_leads(s, 60, &teams)).collect();
        everything.extend(prior);
        let (ref_team, ref_lo, ref_lost) = reference(&everything, tz);
        if seed == 2 {
            loanfloor::metrics::fold_rollups(&db).await.unwrap();
        }
        for path in [Path::Rollup, Path::Base] {
            let team = key_map(
                store::tally(&db, tz, path, Kind::Lead, &filters, &all, &[GroupBy::Team, GroupBy::Source])
                    .await
                    .unwrap(),
            );
            let ref_team_nodays: HashMap<String, Tally> = ref_team.iter().fold(HashMap::new(), |mut m, (k, v)| {
                let k = k.split('|').skip(1).take(2).collect::<Vec<_>>().join("|");
                m.entry(k).or_default().add(v);
                m
            });
            assert_eq!(team, ref_team_nodays, "team cohort, {path:?}, seed {seed}");
            // The finest grain: one source, by current LO.
            let web = Filters { source: Some("web".into()), ..filters.clone() };
            let web_by_lo = key_map(store::tally(&db, tz, path, Kind::Lead, &web, &all, &[GroupBy::Lo]).await.unwrap());
            let ref_web: HashMap<String, Tally> = ref_team.iter().fold(HashMap::new(), |mut m, (k, v)| {
                let parts: Vec<&str> = k.split('|').collect();
                if parts[2] == "web" {
                    m.entry(parts[3].to_string()).or_default().add(v);
                }
                m
            });
            assert_eq!(web_by_lo, ref_web, "web leads by LO (fine grain), {path:?}, seed {seed}");
            if path == Path::Rollup {
                // Grains 3 (team, source, campaign), 1 (LO) and 4 (team) sum what the base tables sum, over ranges read
                // from whole months only, from days only, from a month with a partial month before it (read as
                // the whole month minus the days before the range, which hold facts), and from months with a
                // partial month after them (read as the whole month minus the days after the range).
                let day = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d);
                for (from, to) in [
                    (day(10, 1), day(12, 31)),
                    (day(11, 5), day(11, 20)),
                    (day(11, 10), day(12, 31)),
                    (day(10, 1), day(11, 20)),
                    (day(10, 1), day(11, 9)),
                    (day(11, 10), chrono::NaiveDate::from_ymd_opt(2027, 1, 5)),
                ] {
                    let range = Filters { from, to, ..filters.clone() };
                    for kind in [Kind::Lead, Kind::Lost, Kind::Assignment, Kind::Open] {
                        for group in [
                            vec![GroupBy::Team, GroupBy::Source, GroupBy::Campaign, GroupBy::Detail],
                            vec![GroupBy::Lo, GroupBy::Detail, GroupBy::ReachedPos],
                            // Grain 4 (day and team only).
                            vec![GroupBy::Team, GroupBy::Detail, GroupBy::ReachedPos],
                        ] {
                            let by = |path| store::tally(&db, tz, path, kind, &range, &all, &group);
                            let rollup = key_map(by(Path::Rollup).await.unwrap());
                            let base = key_map(by(Path::Base).await.unwrap());
                            assert!(!rollup.is_empty(), "figures to compare: {kind:?} {group:?} {from:?}");
                            assert_eq!(rollup, base, "{kind:?} by {group:?} from {from:?} to {to:?}, seed {seed}");
                            // The count-only read counts the same groups.
                            let count = store::Read {
                                kind,
                                filters: &range,
                                group: &group,
                                measures: store::COUNT,
                                apart: false,
                            };
                            let counts = store::read_many(&db, tz, Path::Rollup, &all, &[count]).await.unwrap();
                            let counts: HashMap<String, i64> = key_map(counts.into_iter().next().unwrap_or_default())
                                .into_iter()
                                .map(|(k, t)| (k, t.n))
                                .collect();
                            let base_n: HashMap<String, i64> = base.iter().map(|(k, t)| (k.clone(), t.n)).collect();
                            assert_eq!(counts, base_n, "counts of {kind:?} by {group:?} from {from:?}, seed {seed}");
                            // Reads sharing one statement each answer as they do alone.
                            let reads = [
                                store::Read {
                                    kind,
                                    filters: &range,
                                    group: &[],
                                    measures: store::FUNNEL,
                                    apart: false,
                                },
                                store::Read {
                                    kind,
                                    filters: &range,
                                    group: &group,
                                    measures: store::ALL,
                                    apart: false,
                                },
                                store::Read { kind, filters: &range, group: &group, measures: store::ALL, apart: true },
                            ];
                            let both = store::read_many(&db, tz, Path::Rollup, &all, &reads).await.unwrap();
                            assert_eq!(key_map(both[1].clone()), rollup, "{kind:?} by {group:?} beside another read");
                            // Read apart, the groups are the first key with each other key, the base tables'
                            // groups summed over the rest (those keys read `*`).
                            let mut apart: HashMap<String, Tally> = HashMap::new();
                            for (key, t) in &base {
                                let parts: Vec<&str> = key.split('|').collect();
                                for j in 1..parts.len() {
                                    let k: Vec<&str> = (0..parts.len())
                                        .map(|i| if i == 0 || i == j { parts[i] } else { store::APART })
                                        .collect();
                                    apart.entry(k.join("|")).or_default().add(t);
                                }
                            }
                            apart.retain(|_, t| *t != Tally::default());
                            assert_eq!(key_map(both[2].clone()), apart, "{kind:?} by {group:?} apart, seed {seed}");
                            let mut whole = Tally::default();
                            base.values().for_each(|t| whole.add(t));
                            let funnel = both[0].first().map(|g| g.tally).unwrap_or_default();
                            assert_eq!(
                                (funnel.n, funnel.reached),
                                (whole.n, whole.reached),
                                "{kind:?} total, seed {seed}"
                            );
                        }
                    }
                }
            }
            let lo =
                key_map(store::tally(&db, tz, path, Kind::Assignment, &filters, &all, &[GroupBy::Lo]).await.unwrap());
            let ref_lo_nodays: HashMap<String, Tally> = ref_lo.iter().fold(HashMap::new(), |mut m, (k, v)| {
                m.entry(k.split('|').nth(1).unwrap().to_string()).or_default().add(v);
                m
            });
            assert_eq!(lo, ref_lo_nodays, "per-LO cohort, {path:?}, seed {seed}");
            let lost = key_map(
                store::tally(
                    &db,
                    tz,
                    path,
                    Kind::Lost,
                    &filters,
                    &all,
                    &[GroupBy::Detail, GroupBy::ReachedPos, GroupBy::Lo],
                )
                .await
                .unwrap(),
            );
            let lost: HashMap<String, i64> = lost.into_iter().map(|(k, t)| (k, t.n)).collect();
            let ref_lost_nodays: HashMap<String, i64> = ref_lost.iter().fold(HashMap::new(), |mut m, (k, v)| {
                *m.entry(k.split('|').skip(1).collect::<Vec<_>>().join("|")).or_default() += v;
                m
            });
            assert_eq!(lost, ref_lost_nodays, "lost reasons, {path:?}, seed {seed}");
            // One day-range slice, to check day bucketing in the org time zone.
            let day_filters = Filters {
                from: Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap()),
                to: Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 5).unwrap()),
                ..Filters::default()
            };
            let slice = store::total(&db, tz, path, Kind::Lead, &day_filters, &all).await.unwrap();
            let mut want = Tally::default();
            for (k, v) in &ref_team {
                let d = k.split('|').next().unwrap();
                if ("2026-11-03".."2026-11-05").contains(&d) {
                    want.add(v);
                }
            }
            assert_eq!(slice, want, "day slice, {path:?}, seed {seed}");
        }
    }
    // A rebuild from scratch gives the same rollups.
    let before = store::total(&db, tz, Path::Rollup, Kind::Assignment, &filters, &all).await.unwrap();
    loanfloor::metrics::rebuild_rollups(&db).await.unwrap();
    let after = store::total(&db, tz, Path::Rollup, Kind::Assignment, &filters, &all).await.unwrap();
    assert_eq!(before, after);
    assert!(before.n > 100);
}

/// The bench's measuring path on a tiny hand-written dataset (the 1M-lead seed is the seed generator's).
#[tokio::test]
async fn bench_measures_on_a_tiny_dataset() {
    let app = TestApp::spawn().await;
    hand_dataset(&app).await;
    loanfloor::metrics::rebuild_rollups(app.db()).await.unwrap();
    let report = loanfloor::devtools::bench::measure_app(&app.state, 1, &[]).await.unwrap();
    assert_eq!(report.leads, 7);
    assert!(report.dashboard.ok > 0 && report.dashboard.failed == 0, "{report:?}");
    assert!(report.dashboard_base.ok > 0 && report.dashboard_base.failed == 0, "{report:?}");
    assert!(report.bare.ok > 0, "{report:?}");
    assert!(report.list.ok > 0 && report.list.failed == 0, "{report:?}");
    assert!(report.list_api.ok > 0 && report.list_api.failed == 0, "{report:?}");
    assert!(report.figures_rollup.ok > 0 && report.figures_base.ok > 0, "{report:?}");
    assert!(report.rss_mb > 1.0);
    assert!(report.funnel.ok > 0 && report.funnel.failed == 0, "{report:?}");
    assert!(report.intake.ok > 0 && report.intake.failed == 0, "{report:?}");
    // Every bench lead was routed, and the lag from commit to routing decision is measured.
    assert!(report.assign_p50_ms.is_finite() && report.assign_p99_ms >= report.assign_p50_ms, "{report:?}");
    assert!((0.0..=1.0).contains(&report.assigned_share), "{report:?}");
    let table = report.to_markdown();
    assert!(table.contains("| (a) Dashboard page, manager of a 20-LO team, 90 days, computed fresh (reuse"), "{table}");
    assert!(table.contains("| (a) Funnel API, admin, `group_by=lo`, 90 days, fresh"), "{table}");
    assert!(table.contains("≥ 1,000 leads/s") && table.contains("| (c) Commit to routing decision"), "{table}");
    assert!(table.contains("| (b) List API vs bare |"), "{table}");
    assert!(table.contains("not seeded in this run"), "{table}");
}

#[tokio::test]
async fn admin_monthly_spend_feeds_source_roi() {
    let app = TestApp::spawn().await;
    hand_dataset(&app).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    let bad = admin
        .post(app.url("/reports/spend"))
        .form(&[("source", "web"), ("month", "November"), ("amount", "=1+1")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let ok = admin
        .post(app.url("/reports/spend"))
        .form(&[("source", "web"), ("month", "2026-11"), ("amount", "3,000")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    // November has 30 days; the range covers 7: $3,000 × 7/30 = $700, plus 5 web leads × $50.
    let roi = get_json(&admin, app.url(&format!("/api/v1/metrics/roi?{RANGE}"))).await;
    let web = roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == "web").unwrap();
    assert_eq!(web["leads"], 5);
    assert_eq!(web["spend_cents"], 95_000);
    assert_eq!(web["cost_per_funded_cents"], 95_000);
    // Under a team filter the organisation's monthly spend has no share: only the leads' own cost counts.
    let team: uuid::Uuid =
        sqlx::query_scalar("SELECT team_id FROM leads WHERE source = 'web' AND team_id IS NOT NULL LIMIT 1")
            .fetch_one(app.db())
            .await
            .unwrap();
    let roi = get_json(&admin, app.url(&format!("/api/v1/metrics/roi?{RANGE}&team={team}"))).await;
    let web_team = roi["rows"].as_array().unwrap().iter().find(|r| r["source"] == "web").unwrap();
    assert_eq!(web_team["spend_cents"].as_i64().unwrap(), 5_000 * web_team["leads"].as_i64().unwrap(), "{web_team}");
    let page =
        admin.get(app.url(&format!("/dashboard?{RANGE}&team={team}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"spend-left-out\""), "the page says why");
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'source_spend.set'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audit, 1);
    let ma = app.login("ma@example.com").await;
    assert_eq!(ma.get(app.url("/reports/spend")).send().await.unwrap().status(), 403);
}

fn cohort_on(html: &str) -> i64 {
    let end = html.find("</a> in the cohort)").expect("the cohort size is on the page, a link to its leads");
    let start = html[..end].rfind('>').expect("the link") + 1;
    html[start..end].parse().expect("a number")
}

/// The dashboard page reuses a computed snapshot for the same user and filters, says when it was computed,
/// recomputes on "refresh now", and never shares figures between users or skips the access check.
#[tokio::test]
async fn the_dashboard_reuses_recent_figures_per_user_and_refreshes_on_request() {
    let app = TestApp::spawn_with(|c| c.dashboard_cache = std::time::Duration::from_secs(300)).await;
    let org = hand_dataset(&app).await;
    let ma = app.login("ma@example.com").await;
    let mb = app.login("mb@example.com").await;
    let page = |c: reqwest::Client, q: String| {
        let url = app.url(&format!("/dashboard?{RANGE}{q}"));
        async move {
            let res = c.get(url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };
    let first = page(ma.clone(), String::new()).await;
    let before = cohort_on(&first);
    assert!(first.contains("Computed at ") && first.contains("refresh=1"), "the page says when and offers a refresh");
    // lo one enters another lead dated in the range (the clock set back to then, and forward again).
    let real_now = app.state.clock.now();
    let one = app.api(&app.token_for(org.lo1).await);
    lead_of(&app, &one, 8, "web", 0, 10_000_000, "2026-11-03T15:00:00Z").await;
    app.state.clock.advance(real_now - app.state.clock.now());
    assert_eq!(cohort_on(&page(ma.clone(), String::new()).await), before, "reused within the time to live");
    assert_eq!(cohort_on(&page(ma.clone(), "&refresh=1".into()).await), before + 1, "refresh recomputes");
    assert_eq!(cohort_on(&page(ma.clone(), String::new()).await), before + 1, "and keeps the new figures");
    // Manager B's dashboard is their own, not manager A's snapshot.
    assert_eq!(cohort_on(&page(mb.clone(), String::new()).await), 1);
    // The access check runs on every request, cached figures or not.
    let lo = app.login("lo.one@example.com").await;
    assert_eq!(lo.get(app.url(&format!("/dashboard?{RANGE}"))).send().await.unwrap().status(), 403);
}

/// The dashboard's other figures by value, each worked out by hand from the hand-checked dataset (manager A,
/// 2 to 9 November, the clock set to 4 December so the history window is fixed).
#[tokio::test]
async fn dashboard_figures_by_value() {
    let app = TestApp::spawn().await;
    hand_dataset(&app).await;
    app.state.clock.advance(t("2026-12-04T18:00:00Z") - app.state.clock.now());
    let ma = loanfloor::auth::store::find_user_by_email(app.db(), "ma@example.com").await.unwrap().unwrap();
    let ma = ma.into_current(false);
    let p = loanfloor::metrics::dashboard::Params {
        from: Some("2026-11-02".into()),
        to: Some("2026-11-09".into()),
        ..Default::default()
    };
    let d = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &p).await.unwrap();
    // Week over week: team A's five leads of the range (L1–L4, L7) fall in its last 7 days; L6 (20 October)
    // is before the 14 days compared. 3 of 5 contacted (L1, L2, L7), 3 applications (L1, L2, L7), 1 funded.
    let wow: Vec<(&str, &str, &str, &str)> =
        d.wow.iter().map(|w| (w.label, w.this_week.as_str(), w.last_week.as_str(), w.change.as_str())).collect();
    assert_eq!(
        wow,
        [
            ("Leads", "5", "0", "—"),
            ("Contact rate", "60.0%", "—", "—"),
            ("Applications", "3", "0", "—"),
            ("Funded", "1", "0", "—")
        ]
    );
    // Pipeline now: team A's open leads whatever the range: L4 ($150,000) and L6 (1 cent) new, L7 ($400,000)
    // in application; L1 funded and L2, L3 lost are not open.
    let pipeline: Vec<(&str, i64, i64)> =
        d.pipeline.iter().filter(|p| p.count > 0).map(|p| (p.stage, p.count, p.volume_cents)).collect();
    assert_eq!(pipeline, [("new", 2, 15_000_001), ("application", 1, 40_000_000)]);
    assert_eq!(d.unassigned, 0);
    // Expected funded volume: the share of the history cohorts (created 6 August to 4 November: L1, L2, L6)
    // that funded from each stage, times the open volume there: new 1 of 3 × $150,000.01 + application
    // 1 of 2 (L1, L2) × $400,000 = $50,000 + $200,000.
    assert_eq!(d.expected_funded, "$250,000");
    // Capacity: lo one holds L6 open, lo two L4 and L7, of 50 each; no monthly cost entered.
    let capacity: Vec<(&str, i64, Option<f64>, &str, &str)> = d
        .capacity
        .iter()
        .map(|c| (c.lo.as_str(), c.open, c.utilisation_pct, c.cost.as_str(), c.funded_volume.as_str()))
        .collect();
    assert_eq!(capacity, [("lo one", 1, Some(2.0), "$0", "$300,000"), ("lo two", 2, Some(4.0), "$0", "$0")]);
    // Conversion by leads-per-LO band: both LOs had 3 assignments in 7 days (under 50 a month); 3 of the 6
    // assignments reached application while assigned (lo one L1, L2; lo two L7), 1 funded.
    let band = &d.bands[0];
    assert_eq!((band.band, band.officers, band.assigned), ("Under 50 a month", 2, 6));
    assert_eq!((band.application_rate_pct, band.funded_rate_pct), (Some(50.0), Some(16.7)));
    assert!(d.bands[1..].iter().all(|b| b.officers == 0 && b.assigned == 0));
    // Per-LO rows by name: talk per lead 1000 s / 3 and 200 s / 3, application rates 2 of 3 and 1 of 3.
    let officers: Vec<(&str, i64, Option<i64>, Option<f64>)> = d
        .officers
        .iter()
        .map(|l| {
            (l.speed.label.as_str(), l.speed.assigned, l.speed.talk_per_lead_seconds, l.speed.application_rate_pct)
        })
        .collect();
    assert_eq!(officers, [("lo one", 3, Some(333), Some(66.7)), ("lo two", 3, Some(67), Some(33.3))]);

    // Stale on 4 December: team A's three open leads have sat in their stage for weeks (L4 and L6 in `new`
    // since 5 November and 20 October, L7 in `application` since 8 November), each past its stage's days. Lo
    // one enters a lead through the API now; a day and an hour later it has sat in `new` past its one day and
    // is stale too, and moving it on makes it fresh again.
    assert_eq!(d.stale, 3);
    let lo_one = sqlx::query_scalar("SELECT id FROM users WHERE email = 'lo.one@example.com'")
        .fetch_one(app.db())
        .await
        .unwrap();
    let api = app.api(&app.token_for(lo_one).await);
    let body = serde_json::json!({"first_name": "Sid", "last_name": "Stale", "phone": "512-555-0190"});
    let created: Value = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap().json().await.unwrap();
    app.state.clock.advance(Duration::hours(25));
    let d = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &p).await.unwrap();
    assert_eq!(d.stale, 4);
    let res = api
        .post(app.url(&format!("/api/v1/leads/{}/stage", created["id"].as_str().unwrap())))
        .json(&serde_json::json!({"stage": "contacted", "version": created["version"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &p).await.unwrap();
    assert_eq!(d.stale, 3);
}

/// Issue 27: the dashboard's LO cost (entered by an admin on the LO's page), the talk-vs-conversion flag (an LO
/// who logs long calls through the API) and the LO table's sorting, each checked by value.
#[tokio::test]
async fn lo_cost_talk_flag_and_sorting_by_value() {
    let app = TestApp::spawn().await;
    let org = hand_dataset(&app).await;
    let (_, admin) = app.login_as(Role::Admin, "admin@example.com", None, &[]).await;
    // The admin enters lo one's monthly cost on the LO's page: $6,087.50 a month.
    let page = admin.get(app.url(&format!("/admin/users/{}", org.lo1))).send().await.unwrap().text().await.unwrap();
    let version = page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let team = team_id(app.db(), "Team A").await.to_string();
    let form: Vec<(&str, String)> = vec![
        ("version", version),
        ("name", "lo one".into()),
        ("email", "lo.one@example.com".into()),
        ("role", "lo".into()),
        ("team_id", team),
        ("licensed_states", "TX".into()),
        ("capacity", "50".into()),
        ("status", "available".into()),
        ("work_start", "08:00".into()),
        ("work_end", "17:00".into()),
        ("work_days", "1".into()),
        ("work_days", "2".into()),
        ("timezone", "America/Chicago".into()),
        ("routing_weight", "1".into()),
        ("monthly_cost", "6,087.50".into()),
    ];
    let res = admin.post(app.url(&format!("/admin/users/{}", org.lo1))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    // lo two logs a 2,000-second call on L4 inside the range, through the API.
    let api = app.api(&app.token_for(org.lo2).await);
    let call = serde_json::json!({"kind": "call", "outcome": "no_answer", "talk_seconds": 2000,
                                  "occurred_at": "2026-11-06T16:00:00Z"});
    let res = api.post(app.url(&format!("/api/v1/leads/{}/activities", org.l4))).json(&call).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    app.state.clock.advance(t("2026-12-04T18:00:00Z") - app.state.clock.now());
    let ma = loanfloor::auth::store::find_user_by_email(app.db(), "ma@example.com").await.unwrap().unwrap();
    let ma = ma.into_current(false);
    let params = |sort: Option<&str>| loanfloor::metrics::dashboard::Params {
        from: Some("2026-11-02".into()),
        to: Some("2026-11-09".into()),
        sort: sort.map(str::to_string),
        ..Default::default()
    };
    let d = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &params(None)).await.unwrap();
    // Cost over the 7-day range: $6,087.50 × 7 / 30.4375 = $1,400; against lo one's $300,000 funded, 46.7 bps (0.47%), shown whole.
    let one = d.capacity.iter().find(|c| c.lo == "lo one").unwrap();
    assert_eq!(
        (one.cost.as_str(), one.cost_per_funded_volume_bps),
        ("$1,400", Some(47)),
        "$1,400 of $300,000 = 46.7 bps"
    );
    let two = d.capacity.iter().find(|c| c.lo == "lo two").unwrap();
    assert_eq!((two.cost.as_str(), two.cost_per_funded_volume_bps), ("$0", None));
    // Talk per lead: lo one 1000 s / 3 = 333, lo two (200 + 2000) s / 3 = 733; the medians are 533 s and 50%
    // application rate: lo two talks more and converts less (33.3%), and only lo two is flagged.
    let rows: Vec<(&str, Option<i64>, Option<f64>, bool)> = d
        .officers
        .iter()
        .map(|l| (l.speed.label.as_str(), l.speed.talk_per_lead_seconds, l.speed.application_rate_pct, l.speed.flagged))
        .collect();
    assert_eq!(rows, [("lo one", Some(333), Some(66.7), false), ("lo two", Some(733), Some(33.3), true)]);
    // Sorting: by talk (most first) and by conversion to application (highest first) give opposite orders.
    let order = |d: &loanfloor::metrics::dashboard::Dashboard| -> Vec<String> {
        d.officers.iter().map(|l| l.speed.label.clone()).collect()
    };
    let by_talk = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &params(Some("talk"))).await.unwrap();
    assert_eq!(order(&by_talk), ["lo two", "lo one"]);
    let by_app = loanfloor::metrics::dashboard::dashboard(&app.state, &ma, &params(Some("conversion"))).await.unwrap();
    assert_eq!(order(&by_app), ["lo one", "lo two"]);
}
