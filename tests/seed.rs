//! The seed generator and the history import: deterministic, consistent data; messy files reported by line.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::config::{ImportArgs, SeedArgs};
use loanfloor::devtools::seed;
use loanfloor::leads::history_import;
use loanfloor::leads::import::Kind;
use uuid::Uuid;

/// Counts per stage, money, and history volume: equal fingerprints mean the same data, ids aside.
async fn fingerprint(db: &sqlx::PgPool) -> String {
    let stages: Vec<(String, i64)> =
        sqlx::query_as("SELECT stage, count(*) FROM leads GROUP BY stage ORDER BY stage").fetch_all(db).await.unwrap();
    let money: (i64, i64, i64) =
        sqlx::query_as("SELECT count(*), sum(loan_amount_cents)::bigint, sum(cost_cents)::bigint FROM leads")
            .fetch_one(db)
            .await
            .unwrap();
    let acts: (i64, i64) = sqlx::query_as("SELECT count(*), coalesce(sum(talk_seconds), 0)::bigint FROM activities")
        .fetch_one(db)
        .await
        .unwrap();
    let other: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM stage_changes), (SELECT count(*) FROM assignments), (SELECT count(*) FROM tasks)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    format!("{stages:?} {money:?} {acts:?} {other:?}")
}

fn args(leads: u64, officers: u32, seed: u64) -> SeedArgs {
    SeedArgs { leads, officers, seed }
}

#[tokio::test]
async fn the_same_seed_writes_the_same_data_and_another_seed_does_not() {
    let now = Utc::now();
    let a = TestApp::spawn().await;
    let b = TestApp::spawn().await;
    let c = TestApp::spawn().await;
    let sa = seed::seed_at(&a.state, &args(2_000, 12, 7), now, false).await.unwrap();
    let sb = seed::seed_at(&b.state, &args(2_000, 12, 7), now, false).await.unwrap();
    seed::seed_at(&c.state, &args(2_000, 12, 8), now, false).await.unwrap();
    let (fa, fb, fc) = (fingerprint(a.db()).await, fingerprint(b.db()).await, fingerprint(c.db()).await);
    assert_eq!(fa, fb);
    assert_ne!(fa, fc, "a different seed gives different data");
    assert_eq!(sa.leads, 2_000);
    assert_eq!(sa.activities, sb.activities);
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(a.db()).await.unwrap();
    assert_eq!(leads, 2_000);
    let per_lead = sa.activities as f64 / 2_000.0;
    assert!((7.0..14.0).contains(&per_lead), "about ten activities per lead, got {per_lead}");
    // 12 LOs make two teams, each with a manager.
    let staff: Vec<(String, i64)> =
        sqlx::query_as("SELECT role, count(*) FROM users GROUP BY role ORDER BY role").fetch_all(a.db()).await.unwrap();
    assert_eq!(staff, vec![("lo".to_string(), 12), ("manager".to_string(), 2)]);
}

/// Every check returns the number of rows that break a rule; all must be zero.
const CONSISTENCY: &[(&str, &str)] = &[
    (
        "stage equals the latest stage change",
        "SELECT count(*) FROM leads l WHERE l.stage IS DISTINCT FROM
           (SELECT to_stage FROM stage_changes s WHERE s.lead_id = l.id ORDER BY created_at DESC, id DESC LIMIT 1)",
    ),
    (
        "stage_changed_at is the latest stage change",
        "SELECT count(*) FROM leads l WHERE l.stage_changed_at IS DISTINCT FROM
           (SELECT max(created_at) FROM stage_changes s WHERE s.lead_id = l.id)",
    ),
    (
        "assigned LO is the latest assignment's",
        "SELECT count(*) FROM leads l WHERE l.assigned_lo_id IS DISTINCT FROM
           (SELECT to_lo_id FROM assignments a WHERE a.lead_id = l.id ORDER BY created_at DESC, id DESC LIMIT 1)",
    ),
    (
        "team is the assigned LO's team",
        "SELECT count(*) FROM leads l LEFT JOIN users u ON u.id = l.assigned_lo_id
         WHERE l.team_id IS DISTINCT FROM u.team_id",
    ),
    (
        "activities happen after the lead arrived and before now",
        "SELECT count(*) FROM activities a JOIN leads l ON l.id = a.lead_id
         WHERE a.occurred_at < l.created_at OR a.occurred_at > now()",
    ),
    (
        "assignments and stage changes happen after the lead arrived",
        "SELECT (SELECT count(*) FROM assignments a JOIN leads l ON l.id = a.lead_id WHERE a.created_at < l.created_at)
              + (SELECT count(*) FROM stage_changes s JOIN leads l ON l.id = s.lead_id WHERE s.created_at < l.created_at)",
    ),
    (
        "first call, first contact and last activity match the activities",
        "SELECT count(*) FROM leads l LEFT JOIN LATERAL (
             SELECT min(occurred_at) FILTER (WHERE kind = 'call') AS fc,
                    min(occurred_at) FILTER (WHERE outcome = 'contacted') AS fx,
                    max(occurred_at) AS la
             FROM activities a WHERE a.lead_id = l.id) x ON true
         WHERE l.first_call_at IS DISTINCT FROM x.fc OR l.first_contact_at IS DISTINCT FROM x.fx
            OR l.last_activity_at IS DISTINCT FROM x.la",
    ),
    ("lost leads have a reason, others none", "SELECT count(*) FROM leads WHERE (stage = 'lost') <> (lost_reason IS NOT NULL)"),
    (
        "leads go to LOs licensed in the property's state",
        "SELECT count(*) FROM leads l JOIN lo_profiles p ON p.user_id = l.assigned_lo_id
         WHERE NOT (l.property_state = ANY (p.licensed_states))",
    ),
    (
        "activities, stage changes, assignments and tasks reference existing leads and users",
        "SELECT (SELECT count(*) FROM activities a WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = a.lead_id)
                   OR (a.actor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.actor_id)))
              + (SELECT count(*) FROM stage_changes s WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = s.lead_id)
                   OR (s.lo_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.lo_id)))
              + (SELECT count(*) FROM assignments a WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = a.lead_id)
                   OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.to_lo_id)
                   OR NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = a.to_team_id))
              + (SELECT count(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = t.lead_id)
                   OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.owner_id))
              + (SELECT count(*) FROM lead_consents c WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = c.lead_id))
              + (SELECT count(*) FROM leads l WHERE NOT EXISTS (SELECT 1 FROM stages s WHERE s.pipeline_id = l.pipeline_id AND s.key = l.stage))
              + (SELECT count(*) FROM leads l WHERE l.lost_reason IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lost_reasons r WHERE r.key = l.lost_reason))
              + (SELECT count(*) FROM lo_profiles p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id AND u.role = 'lo'))
              + (SELECT count(*) FROM team_managers m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id AND u.role = 'manager'))",
    ),
    (
        "version counts the changes",
        "SELECT count(*) FROM leads l WHERE l.version <>
           (SELECT count(*) FROM stage_changes s WHERE s.lead_id = l.id)
         + (SELECT count(*) - 1 FROM assignments a WHERE a.lead_id = l.id) + CASE WHEN l.assigned_lo_id IS NULL THEN 1 ELSE 0 END",
    ),
];

async fn assert_consistent(db: &sqlx::PgPool) {
    for (rule, sql) in CONSISTENCY {
        let broken: i64 = sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(broken, 0, "{rule}");
    }
}

#[tokio::test]
async fn seeded_histories_are_consistent_and_a_second_run_appends() {
    let app = TestApp::spawn().await;
    assert_eq!(seed::run(&app.state, &args(1_500, 9, 3)).await.unwrap(), 1_500);
    assert_consistent(app.db()).await;
    // Realistic shape: most leads close out, some fund, some are reassigned, open callbacks exist.
    let (funded, lost, reassigned, open_tasks): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE stage = 'funded'), count(*) FILTER (WHERE stage = 'lost'),
                (SELECT count(DISTINCT lead_id) FROM assignments WHERE from_lo_id IS NOT NULL),
                (SELECT count(*) FROM tasks WHERE done_at IS NULL)
         FROM leads",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(funded > 15 && funded < 300, "funded {funded}");
    assert!(lost > 600, "lost {lost}");
    assert!(reassigned > 20 && reassigned < 150, "reassigned {reassigned}");
    assert!(open_tasks > 0);
    // Referrals convert better than Facebook leads.
    let rate = |source: &'static str| {
        let db = app.db().clone();
        async move {
            let (f, n): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE first_contact_at IS NOT NULL), count(*) FROM leads WHERE source = $1",
            )
            .bind(source)
            .fetch_one(&db)
            .await
            .unwrap();
            f as f64 / n.max(1) as f64
        }
    };
    assert!(rate("referral").await > rate("facebook").await + 0.2);

    // The same seed again appends: fresh ids, no collisions, staff emails and team names kept unique.
    assert_eq!(seed::run(&app.state, &args(1_500, 9, 3)).await.unwrap(), 1_500);
    let (leads, officers, teams): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM users WHERE role = 'lo'), (SELECT count(*) FROM teams)",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((leads, officers, teams), (3_000, 18, 4));
    assert_consistent(app.db()).await;
}

#[tokio::test]
async fn seeding_without_los_is_refused() {
    let app = TestApp::spawn().await;
    let err = seed::run(&app.state, &args(10, 0, 1)).await.unwrap_err();
    assert!(err.to_string().contains("--officers"), "{err}");
}

#[tokio::test]
async fn the_demo_organisation_gets_leads_for_its_los_with_work_for_today() {
    let app = TestApp::spawn().await;
    loanfloor::demo::ensure(&app.state).await.unwrap().expect("a fresh database gets the demo");
    assert_consistent(app.db()).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(total, 2_500, "a year of leads for the demo branch");
    // Only the demo LOs hold leads, and only in their licensed states (checked by assert_consistent).
    let foreign: i64 =
        sqlx::query_scalar("SELECT count(*) FROM leads l JOIN users u ON u.id = l.assigned_lo_id WHERE u.role <> 'lo'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(foreign, 0);
    // Each of the five LOs has new leads nobody has called yet and callbacks due within hours.
    let per_lo: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT u.email,
                (SELECT count(*) FROM leads l WHERE l.assigned_lo_id = u.id AND l.stage = 'new'
                    AND l.first_call_at IS NULL AND l.created_at > now() - interval '3 hours'),
                (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id AND t.done_at IS NULL
                    AND t.due_at < now() + interval '6 hours')
         FROM users u WHERE u.role = 'lo' ORDER BY u.email",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(per_lo.len(), 5);
    for (email, fresh, due) in &per_lo {
        assert!(*fresh >= 3, "{email} has {fresh} new uncalled leads");
        assert!(*due >= 2, "{email} has {due} callbacks due");
    }
    let queue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM leads WHERE assigned_lo_id IS NULL AND stage = 'new' AND created_at > now() - interval '2 hours'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(queue >= 7, "unassigned queue has {queue}");
}

// ---- history import ----

/// A vendor's lead that arrived through the intake API at `created` (the clock set back to then and forward
/// again), known by its `(source, external_id)`.
async fn lead_with_external_id(app: &TestApp, source: &str, external_id: &str, created: DateTime<Utc>) -> Uuid {
    let intake =
        app.create_user(Role::Intake, &format!("feed.{}@vendor.test", Uuid::new_v4().simple()), None, &[]).await;
    let api = app.api(&app.token_for(intake).await);
    let real_now = app.state.clock.now();
    app.state.clock.advance(created - real_now);
    let body = serde_json::json!({
        "first_name": "Pat", "last_name": "Doe", "email": format!("{}@borrower.test", Uuid::new_v4().simple()),
        "source": source, "external_id": external_id,
    });
    let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    app.state.clock.advance(real_now - app.state.clock.now());
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let created: serde_json::Value = res.json().await.unwrap();
    created["id"].as_str().unwrap().parse().unwrap()
}

fn write_file(contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("lf-history-{}.csv", Uuid::new_v4()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn import_args(path: &std::path::Path, skip_bad: bool) -> ImportArgs {
    ImportArgs { file: path.to_path_buf(), skip_bad, as_email: None }
}

async fn table_counts(db: &sqlx::PgPool) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM stage_changes), (SELECT count(*) FROM activities),
                (SELECT count(*) FROM audit_log WHERE action = 'history_imported')",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

type Time = DateTime<Utc>;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_messy_stage_change_file_is_reported_by_line_and_refused_as_a_whole() {
    let app = TestApp::spawn().await;
    app.create_user(loanfloor::auth::Role::Admin, "admin@example.com", None, &[]).await;
    let lo = app.create_user(loanfloor::auth::Role::Lo, "maria@example.com", Some("Dallas"), &["TX"]).await;
    let created = Utc.with_ymd_and_hms(2025, 3, 1, 15, 0, 0).unwrap();
    let a = lead_with_external_id(&app, "zillow", "Z-100", created).await;
    let b = lead_with_external_id(&app, "lendingtree", "LT-7", created).await;
    // The same external id at two sources: rows must say which.
    let c_zillow = lead_with_external_id(&app, "zillow", "DUP-1", created).await;
    lead_with_external_id(&app, "bankrate", "DUP-1", created).await;

    let file = write_file(
        "\u{feff}external_id,source,from_stage,to_stage,at,lost_reason,lo_email\n\
         Z-100,,new,contacted,2025-03-01T15:20:00Z,,MARIA@example.com\n\
         Z-100,,contacted,prequalified,2025-02-30T10:00:00Z,,\n\
         NOPE-9,,new,contacted,2025-03-02T10:00:00Z,,\n\
         LT-7,,new,won,2025-03-02T10:00:00Z,,\n\
         LT-7,,new,lost,2025-03-03T10:00:00Z,,\n\
         LT-7,,new,lost,2025-03-03T11:00:00-05:00,rate,\n\
         DUP-1,,new,contacted,2025-03-04T10:00:00Z,,\n\
         DUP-1,Zillow,new,nurture,2025-03-04T10:00:00Z,,\n\
         Z-100,,contacted,prequalified,2025-03-05T10:00:00Z,,nobody@example.com\n\
         Z-100,,contacted,prequalified,2025-03-06T10:00:00Z,credit,\n",
    );
    let before = table_counts(app.db()).await;
    let err = history_import::cli(&app.state, Kind::StageChanges, &import_args(&file, false)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("10 rows read, 7 bad: nothing imported"), "{msg}");
    for expected in [
        "line 3: at: \"2025-02-30T10:00:00Z\" is not an RFC 3339 time",
        "line 4: external_id: no lead with external_id \"NOPE-9\"",
        "line 5: to_stage: unknown stage \"won\"",
        "line 6: lost_reason: required when to_stage is lost",
        "line 8: source: external_id \"DUP-1\" belongs to 2 leads",
        "line 10: lo_email: no user with email \"nobody@example.com\"",
        "line 11: lost_reason: only a change to a lost stage has a lost reason",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in\n{msg}");
    }
    assert_eq!(table_counts(app.db()).await, before, "all or nothing leaves the database unchanged");
    let stage: String =
        sqlx::query_scalar("SELECT stage FROM leads WHERE id = $1").bind(a).fetch_one(app.db()).await.unwrap();
    assert_eq!(stage, "new");

    // With --skip-bad the three good rows go in and the leads follow their latest change.
    let version_before: i32 =
        sqlx::query_scalar("SELECT version FROM leads WHERE id = $1").bind(a).fetch_one(app.db()).await.unwrap();
    let report = history_import::cli(&app.state, Kind::StageChanges, &import_args(&file, true)).await.unwrap();
    assert!(report.starts_with("10 rows read: 3 stage changes imported, 7 bad rows skipped."), "{report}");
    let after = table_counts(app.db()).await;
    assert_eq!((after.0 - before.0, after.2 - before.2), (3, 1));
    let row: (String, DateTime<Utc>, i32, Option<String>) =
        sqlx::query_as("SELECT stage, stage_changed_at, version, lost_reason FROM leads WHERE id = $1")
            .bind(a)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(row, ("contacted".to_string(), at("2025-03-01T15:20:00Z"), version_before + 1, None));
    let by: (Option<Uuid>, String) =
        sqlx::query_as("SELECT lo_id, origin FROM stage_changes WHERE lead_id = $1 AND to_stage = 'contacted'")
            .bind(a)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(by, (Some(lo), "import".to_string()));
    let row: (String, DateTime<Utc>, Option<String>) =
        sqlx::query_as("SELECT stage, stage_changed_at, lost_reason FROM leads WHERE id = $1")
            .bind(b)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(row, ("lost".to_string(), at("2025-03-03T16:00:00Z"), Some("rate".to_string())));
    let stage: String =
        sqlx::query_scalar("SELECT stage FROM leads WHERE id = $1").bind(c_zillow).fetch_one(app.db()).await.unwrap();
    assert_eq!(stage, "nurture");
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn activities_import_keeps_first_call_first_contact_and_last_activity() {
    let app = TestApp::spawn().await;
    app.create_user(loanfloor::auth::Role::Lo, "maria@example.com", Some("Dallas"), &["TX"]).await;
    let created = Utc.with_ymd_and_hms(2025, 4, 1, 14, 0, 0).unwrap();
    let lead = lead_with_external_id(&app, "zillow", "Z-1", created).await;
    let file = write_file(
        "external_id,kind,direction,outcome,talk_seconds,occurred_at,body,lo_email\n\
         Z-1,call,outbound,no_answer,0,2025-04-01T14:05:00Z,,maria@example.com\n\
         Z-1,call,outbound,contacted,540,2025-04-01T16:00:00Z,\"Talked about rates,\nwants a quote\",maria@example.com\n\
         Z-1,email,outbound,,,2025-04-02T09:00:00Z,Sent estimate,\n\
         Z-1,fax,outbound,,,2025-04-02T09:00:00Z,,\n\
         Z-1,call,outbound,contacted,-5,2025-04-02T10:00:00Z,,\n\
         Z-1,email,outbound,contacted,,2025-04-02T10:00:00Z,,\n\
         Z-1,call,outbound,no_answer,,2025-03-01T10:00:00Z,,\n\
         Z-1,call,sideways,no_answer,,2025-04-03T10:00:00Z,,\n\
         Z-1,note,,,,2025-04-03T10:00:00,,\n",
    );
    let before = table_counts(app.db()).await;
    let err = history_import::cli(&app.state, Kind::Activities, &import_args(&file, false)).await.unwrap_err();
    let msg = err.to_string();
    // The lead was created through the API at 14:00:00 on the test clock, which moves in whole seconds while
    // real time runs on: the report names the second it actually holds.
    let created_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT created_at FROM leads WHERE id = $1").bind(lead).fetch_one(app.db()).await.unwrap();
    assert!((created_at - created).num_seconds() < 5, "{created_at}");
    let before_creation = format!(
        "line 9: occurred_at: before the lead was created ({})",
        created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for expected in [
        "line 6: kind: unknown kind \"fax\"",
        "line 7: talk_seconds: \"-5\" is not a number of seconds",
        "line 8: outcome: only calls have an outcome",
        before_creation.as_str(),
        "line 10: direction: \"sideways\" is not inbound or outbound",
        "line 11: occurred_at: \"2025-04-03T10:00:00\" is not an RFC 3339 time",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in\n{msg}");
    }
    assert!(msg.starts_with("9 rows read, 6 bad"), "{msg}");
    assert_eq!(table_counts(app.db()).await, before);

    let version_before: i32 =
        sqlx::query_scalar("SELECT version FROM leads WHERE id = $1").bind(lead).fetch_one(app.db()).await.unwrap();
    let report = history_import::cli(&app.state, Kind::Activities, &import_args(&file, true)).await.unwrap();
    assert!(report.starts_with("9 rows read: 3 activities imported, 6 bad rows skipped."), "{report}");
    let row: (Option<Time>, Option<Time>, Option<Time>, i32) =
        sqlx::query_as("SELECT first_call_at, first_contact_at, last_activity_at, version FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(
        row,
        (
            Some(at("2025-04-01T14:05:00Z")),
            Some(at("2025-04-01T16:00:00Z")),
            Some(at("2025-04-02T09:00:00Z")),
            version_before + 1
        ),
        "the import changes the lead once"
    );
    let talk: (i64, String) = sqlx::query_as(
        "SELECT sum(talk_seconds)::bigint, string_agg(body, '|' ORDER BY occurred_at) FROM activities WHERE lead_id = $1",
    )
    .bind(lead)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(talk, (540, "|Talked about rates,\nwants a quote|Sent estimate".to_string()));
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn a_file_with_wrong_columns_is_refused_at_line_one() {
    let app = TestApp::spawn().await;
    let file = write_file("external_id,colour,at\nZ-1,red,2025-01-01T00:00:00Z\n");
    let err = history_import::cli(&app.state, Kind::StageChanges, &import_args(&file, true)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 1: unknown column \"colour\"; missing column \"to_stage\""), "{msg}");
    let _ = std::fs::remove_file(file);
}

/// The rollups as one fingerprint (every grain, every figure), to compare two rebuilds.
async fn rollups(db: &sqlx::PgPool) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')
         FROM (SELECT grain, kind, day, team_id, lo_id, source, campaign, state, purpose, detail, reached_pos, n, r1,
                      r2, r3, r4, r5, r6, r7, r8, called, called_twice, contacted, attempts, attempts_to_contact,
                      talk_seconds, volume_cents, cost_cents, h0, h1, h2, h3, h4, h5, h6, h7, h8
               FROM metrics_daily) r",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_parallel_rollup_rebuild_equals_the_single_statement_rebuild() {
    let app = TestApp::spawn().await;
    seed::run(&app.state, &args(1_200, 8, 11)).await.unwrap();
    loanfloor::metrics::store::rebuild_with(app.db(), 1).await.unwrap();
    let single = rollups(app.db()).await;
    assert!(single.0 > 1_000, "the seed gives the rollups something to hold: {single:?}");
    for workers in [2, 3] {
        loanfloor::metrics::store::rebuild_with(app.db(), workers).await.unwrap();
        assert_eq!(rollups(app.db()).await, single, "{workers} workers");
    }
    let staged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM metrics_rebuild_stage").fetch_one(app.db()).await.unwrap();
    assert_eq!(staged, 0, "the staging rows are gone after the swap");
}
