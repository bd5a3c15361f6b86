//! The admin's account pages: users (create, edit with version check, deactivate with the hand-over of open
//! leads, reactivate, MFA reset), teams, API tokens, the MFA requirement, and an LO's own status.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use reqwest::StatusCode;
use uuid::Uuid;

fn location(res: &reqwest::Response) -> String {
    res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<(Option<serde_json::Value>, Option<serde_json::Value>)> {
    sqlx::query_as("SELECT before, after FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(app.db())
        .await
        .unwrap()
}

/// A lead the LO enters through the API (theirs), moved to `stage` through the API.
async fn add_lead(app: &TestApp, lo: Uuid, stage: &str) -> Uuid {
    let api = app.api(&app.token_for(lo).await);
    let body =
        serde_json::json!({"first_name": "Pat", "last_name": stage, "email": format!("pat.{stage}@example.com")});
    let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: serde_json::Value = res.json().await.unwrap();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    if stage != "new" {
        let res = api
            .post(app.url(&format!("/api/v1/leads/{id}/stage")))
            .json(&serde_json::json!({"stage": stage, "version": created["version"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    id
}

/// name, capacity, states, version, status, work days, time zone, weight, monthly cost, start minute
type ProfileRow = (String, i32, Vec<String>, i32, String, Vec<i32>, String, i32, i64, i32);

fn lo_edit_form(version: i32, team: &str) -> Vec<(&'static str, String)> {
    vec![
        ("version", version.to_string()),
        ("name", "Maria Lopez-Garcia".into()),
        ("email", "maria@branch.test".into()),
        ("role", "lo".into()),
        ("team_id", team.into()),
        ("nmls_id", "1234567".into()),
        ("licensed_states", "tx, ok, la".into()),
        ("capacity", "35".into()),
        ("status", "away".into()),
        ("work_start", "07:30".into()),
        ("work_end", "16:30".into()),
        ("work_days", "1".into()),
        ("work_days", "2".into()),
        ("work_days", "3".into()),
        ("work_days", "4".into()),
        ("work_days", "6".into()),
        ("timezone", "America/Denver".into()),
        ("routing_weight", "3".into()),
        ("monthly_cost", "$7,250.50".into()),
    ]
}

#[tokio::test]
async fn an_admin_edits_an_lo_profile_and_a_stale_edit_is_refused() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "maria@branch.test", Some("Dallas"), &["TX"]).await;
    let team: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    let page = admin.get(app.url(&format!("/admin/users/{lo}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"version\" value=\"1\""));

    let res = admin
        .post(app.url(&format!("/admin/users/{lo}")))
        .form(&lo_edit_form(1, &team.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let row: ProfileRow = sqlx::query_as(
        "SELECT u.name, p.capacity, p.licensed_states, u.version, p.status, p.work_days, p.timezone, p.routing_weight,
                p.monthly_cost_cents, extract(hour from p.work_start)::int * 60 + extract(minute from p.work_start)::int
         FROM users u JOIN lo_profiles p ON p.user_id = u.id WHERE u.id = $1",
    )
    .bind(lo)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(row.0, "Maria Lopez-Garcia");
    assert_eq!(row.1, 35);
    assert_eq!(row.2, vec!["TX", "OK", "LA"]);
    assert_eq!(row.3, 2, "the version moved on");
    assert_eq!(row.4, "away");
    assert_eq!(row.5, vec![1, 2, 3, 4, 6]);
    assert_eq!(row.6, "America/Denver");
    assert_eq!(row.7, 3);
    assert_eq!(row.8, 725_050, "$7,250.50 is 725,050 cents");
    assert_eq!(row.9, 7 * 60 + 30);
    let audit = audit_rows(&app, "user_updated").await;
    assert_eq!(audit.len(), 1);
    let (before, after) = (audit[0].0.clone().unwrap(), audit[0].1.clone().unwrap());
    assert_eq!(before["capacity"], 50);
    assert_eq!(after["capacity"], 35);
    assert_eq!(after["monthly_cost_cents"], 725_050);
    assert!(before.get("password_hash").is_none(), "no secrets in the audit log");

    // A second admin's form still carries version 1: refused, nothing overwritten.
    let mut stale = lo_edit_form(1, &team.to_string());
    stale[1].1 = "Someone Else".into();
    let res = admin.post(app.url(&format!("/admin/users/{lo}"))).form(&stale).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(lo).fetch_one(app.db()).await.unwrap();
    assert_eq!(name, "Maria Lopez-Garcia");

    // Invalid input: 422 with the typed values kept.
    let mut bad = lo_edit_form(2, &team.to_string());
    bad[7].1 = "lots".into();
    bad[18].1 = "12.345".into();
    let res = admin.post(app.url(&format!("/admin/users/{lo}"))).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("value=\"lots\""), "the typed capacity is kept");
    assert!(body.contains("Capacity is a whole number"));
    assert!(body.contains("Enter a dollar amount"));
}

#[tokio::test]
async fn deactivating_an_lo_with_open_leads_requires_a_hand_over_and_keeps_every_lead() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "maria@branch.test", Some("Dallas"), &["TX"]).await;
    let other = app.create_user(Role::Lo, "james@branch.test", Some("Dallas"), &["TX"]).await;
    let mut mine = Vec::new();
    for stage in ["new", "contacted", "funded"] {
        mine.push(add_lead(&app, lo, stage).await);
    }
    let page = admin.get(app.url(&format!("/admin/users/{lo}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("2 open leads: where do they go?"), "funded leads are not open");

    let url = app.url(&format!("/admin/users/{lo}/deactivate"));
    let res = admin.post(&url).form(&[("hand_over", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Choose where this loan officer"));
    let res = admin.post(&url).form(&[("hand_over", "lo"), ("to_lo", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res =
        admin.post(&url).form(&[("hand_over", "lo"), ("to_lo", admin_id.to_string().as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "only an active LO can take the leads");
    assert!(res.text().await.unwrap().contains("Choose an active loan officer"));
    let active: bool =
        sqlx::query_scalar("SELECT active FROM users WHERE id = $1").bind(lo).fetch_one(app.db()).await.unwrap();
    assert!(active, "still active until a hand-over is chosen");

    let res =
        admin.post(&url).form(&[("hand_over", "lo"), ("to_lo", other.to_string().as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (active, status): (bool, String) =
        sqlx::query_as("SELECT u.active, p.status FROM users u JOIN lo_profiles p ON p.user_id = u.id WHERE u.id = $1")
            .bind(lo)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert!(!active);
    assert_eq!(status, "offline", "a deactivated LO takes no new leads");
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(leads, 3, "deactivation never deletes leads");
    assert_eq!(audit_rows(&app, "user_deactivated").await.len(), 1);
    let handed = audit_rows(&app, "open_leads_handed_over").await;
    assert_eq!(handed[0].1.as_ref().unwrap()["open_leads"], 2);
    // The two open leads went to James, each with an assignment row saying why; the funded one stays Maria's.
    let owners: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as("SELECT id, assigned_lo_id FROM leads WHERE id = ANY($1)")
        .bind(&mine)
        .fetch_all(app.db())
        .await
        .unwrap();
    let owner = |id: Uuid| owners.iter().find(|o| o.0 == id).unwrap().1;
    assert_eq!((owner(mine[0]), owner(mine[1]), owner(mine[2])), (Some(other), Some(other), Some(lo)));
    let moves: Vec<(Uuid, Option<Uuid>, Option<Uuid>, String)> = sqlx::query_as(
        "SELECT lead_id, from_lo_id, to_lo_id, reason FROM assignments WHERE to_lo_id = $1 ORDER BY lead_id",
    )
    .bind(other)
    .fetch_all(app.db())
    .await
    .unwrap();
    let mut expected = vec![mine[0], mine[1]];
    expected.sort();
    assert_eq!(moves.iter().map(|m| m.0).collect::<Vec<_>>(), expected);
    assert!(moves.iter().all(|m| m.1 == Some(lo) && m.3.contains("Offboarding")), "{moves:?}");
    // James sees them in his list; Maria's funded lead is not his.
    let james = app.login("james@branch.test").await;
    let list = james.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Pat new") && list.contains("Pat contacted") && !list.contains("Pat funded"), "{list}");

    let res = admin.post(app.url(&format!("/admin/users/{lo}/reactivate"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.login("maria@branch.test").await.get(app.url("/account")).send().await.unwrap().status(), 200);
    assert_eq!(audit_rows(&app, "user_reactivated").await.len(), 1);
}

#[tokio::test]
async fn the_user_list_filters_by_role_team_status_and_mfa() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let (admin, _) = app.enrol_mfa("admin@branch.test").await;
    app.create_user(Role::Lo, "maria@branch.test", Some("Dallas"), &["TX"]).await;
    app.create_user(Role::Lo, "sam@branch.test", Some("West"), &["CA"]).await;
    app.create_user(Role::Manager, "morgan@branch.test", Some("Dallas"), &[]).await;
    // Sam has enrolled a second factor at his sign-in (this organisation requires one of everyone).
    app.enrol_mfa("sam@branch.test").await;
    let dallas: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Dallas'").fetch_one(app.db()).await.unwrap();
    let count = |q: String| {
        let admin = admin.clone();
        let url = app.url(&format!("/admin/users?{q}"));
        async move {
            let body = admin.get(url).send().await.unwrap().text().await.unwrap();
            body.matches("<tr>").count() - 1
        }
    };
    assert_eq!(count(String::new()).await, 4);
    assert_eq!(count("role=lo".into()).await, 2);
    assert_eq!(count(format!("team={dallas}")).await, 2, "Maria is in Dallas and Morgan manages it");
    assert_eq!(count("mfa=on".into()).await, 2, "the admin and Sam have enrolled; Maria and Morgan not yet");
    assert_eq!(count("state=inactive".into()).await, 0);
    assert_eq!(count("q=SAM".into()).await, 1);
}

#[tokio::test]
async fn api_tokens_are_shown_once_act_as_their_user_and_can_be_revoked() {
    // Issuing a token needs a second factor passed in the last 15 minutes (tests/security_tokens.rs).
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let (admin, _) = app.enrol_mfa("admin@branch.test").await;
    let feed = app.create_user(Role::Intake, "feed@vendor.test", None, &[]).await;
    let res = admin
        .post(app.url(&format!("/admin/users/{feed}/tokens")))
        .form(&[("label", "Zillow feed"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    let secret =
        body.split("<code class=\"secret\" id=\"token-secret\">").nth(1).unwrap().split("</code>").next().unwrap();
    assert!(secret.starts_with("lf_") && secret.len() == 67, "{secret}");
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_one(app.db()).await.unwrap();
    assert_ne!(stored, secret, "only a hash is stored");

    let me: serde_json::Value = app.api(secret).get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], "feed@vendor.test");
    assert_eq!(me["role"], "intake");
    let list = admin.get(app.url("/admin/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Zillow feed"));
    assert!(!list.contains(secret), "the list never shows the secret");
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens").fetch_one(app.db()).await.unwrap();
    assert!(used.is_some(), "last use is recorded");

    let id: Uuid = sqlx::query_scalar("SELECT id FROM api_tokens").fetch_one(app.db()).await.unwrap();
    let res = admin.post(app.url(&format!("/admin/tokens/{id}/revoke"))).send().await.unwrap();
    assert_eq!(location(&res), format!("/admin/users/{feed}"));
    assert_eq!(app.api(secret).get(app.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(audit_rows(&app, "token_created").await.len(), 1);
    assert_eq!(audit_rows(&app, "token_revoked").await.len(), 1);
}

#[tokio::test]
async fn teams_are_created_renamed_and_given_managers() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let (morgan, morgan_client) = app.login_as(Role::Manager, "morgan@branch.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo@branch.test", None, &[]).await;
    let res = admin.post(app.url("/admin/teams")).form(&[("name", "Austin Branch")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = admin.post(app.url("/admin/teams")).form(&[("name", "austin branch")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "team names are unique ignoring case");
    assert!(res.text().await.unwrap().contains("already exists"));
    let team: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Austin Branch'").fetch_one(app.db()).await.unwrap();
    let res = admin
        .post(app.url(&format!("/admin/teams/{team}")))
        .form(&[("name", "Austin North"), ("managers", &morgan.to_string()), ("managers", &lo.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let managers: Vec<Uuid> = sqlx::query_scalar("SELECT user_id FROM team_managers WHERE team_id = $1")
        .bind(team)
        .fetch_all(app.db())
        .await
        .unwrap();
    assert_eq!(managers, vec![morgan], "only people with the manager role manage teams");
    let audit = audit_rows(&app, "team_updated").await;
    assert_eq!(audit[0].0.as_ref().unwrap()["name"], "Austin Branch");
    assert_eq!(audit[0].1.as_ref().unwrap()["name"], "Austin North");
    // The manager's scope follows at their next request.
    let me: serde_json::Value = morgan_client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["managed_team_ids"][0], team.to_string());
}

#[tokio::test]
async fn the_admin_sets_who_needs_two_step_sign_in_and_can_reset_a_lost_factor() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    // A real organisation requires a second factor of everyone (tests/security_mfa.rs); the demo starts with
    // nobody required, which lets this test start from signed-in people.
    let mut tx = app.db().begin().await.unwrap();
    loanfloor::auth::store::mark_organisation(&mut tx, true).await.unwrap();
    tx.commit().await.unwrap();
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let (lo, lo_client) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let res = admin.post(app.url("/admin/security")).form(&[("scope", "roles"), ("roles", "lo")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let v: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mfa_required_roles'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!(["lo"]));
    // The LO's current session is held at enrolment from the next request.
    let res = lo_client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa/setup");
    // The admin is not in the required roles.
    assert_eq!(admin.get(app.url("/admin/security")).send().await.unwrap().status(), StatusCode::OK);

    let res = admin.post(app.url("/admin/security")).form(&[("scope", "all")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let v: serde_json::Value = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mfa_required_roles'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!("all"));
    assert_eq!(audit_rows(&app, "setting_changed").await.len(), 2);

    // With "everyone", the admin's own session is held at enrolment too.
    let res = admin.get(app.url("/admin/security")).send().await.unwrap();
    assert_eq!(location(&res), "/login/mfa/setup");

    // The admin enrols at the next sign-in, narrows the requirement back to LOs, and the LO enrols.
    let (admin, _) = app.enrol_mfa("admin@branch.test").await;
    let res = admin.post(app.url("/admin/security")).form(&[("scope", "roles"), ("roles", "lo")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.enrol_mfa("lo@branch.test").await;
    let enabled: bool =
        sqlx::query_scalar("SELECT mfa_enabled FROM users WHERE id = $1").bind(lo).fetch_one(app.db()).await.unwrap();
    assert!(enabled);
    let res = admin.post(app.url(&format!("/admin/users/{lo}/mfa/reset"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let enabled: bool =
        sqlx::query_scalar("SELECT mfa_enabled FROM users WHERE id = $1").bind(lo).fetch_one(app.db()).await.unwrap();
    assert!(!enabled);
}

#[tokio::test]
async fn an_lo_sets_their_own_status_but_other_roles_have_no_status() {
    let app = TestApp::spawn().await;
    let (lo, lo_client) = app.login_as(Role::Lo, "lo@branch.test", Some("Dallas"), &["TX"]).await;
    let (_, manager) = app.login_as(Role::Manager, "mgr@branch.test", Some("Dallas"), &[]).await;
    let page = lo_client.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dd id=\"lo-status\">available</dd>"), "{page}");
    let res = lo_client.post(app.url("/account/status")).form(&[("status", "away")]).send().await.unwrap();
    assert_eq!(location(&res), "/account");
    let status: String = sqlx::query_scalar("SELECT status FROM lo_profiles WHERE user_id = $1")
        .bind(lo)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(status, "away");
    let res = lo_client.post(app.url("/account/status")).form(&[("status", "offline")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "offline is for managers and admins to set");
    let res = manager.post(app.url("/account/status")).form(&[("status", "away")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let changes = audit_rows(&app, "lo_status_changed").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0.as_ref().unwrap()["status"], "available");
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = TestApp::spawn().await;
    let (me, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    let res =
        admin.post(app.url(&format!("/admin/users/{me}/deactivate"))).form(&[("hand_over", "")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let form = [
        ("version", "1"),
        ("name", "Admin"),
        ("email", "admin@branch.test"),
        ("role", "lo"),
        ("capacity", "5"),
        ("status", "available"),
        ("work_start", "08:00"),
        ("work_end", "17:00"),
        ("work_days", "1"),
        ("timezone", "America/Chicago"),
        ("routing_weight", "1"),
        ("monthly_cost", "0"),
    ];
    let res = admin.post(app.url(&format!("/admin/users/{me}"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let role: String =
        sqlx::query_scalar("SELECT role FROM users WHERE id = $1").bind(me).fetch_one(app.db()).await.unwrap();
    assert_eq!(role, "admin");
}

/// Parameterless GET routes that do not answer an admin with 200, and what they answer instead.
const NOT_200_FOR_AN_ADMIN: &[(&str, u16)] = &[
    // A signed-in user is sent home; the sign-in steps send someone who needs none of them on.
    ("/", 303),
    ("/login", 303),
    ("/login/mfa", 303),
    ("/login/mfa/setup", 303),
    // An escalation is requested from a lead (`?lead=`); a report export needs its report and range.
    ("/escalations/new", 404),
    ("/escalations/reports.csv", 400),
    // An LO's availability history names its LO (`lo=`): without one it is a 422 naming `lo`.
    ("/availability/history", 422),
    ("/availability/cadence", 422),
    ("/api/v1/availability/cadence", 422),
    // An LO's own figures: an admin has none.
    ("/me/metrics", 403),
    // Prometheus metrics: on the --metrics-addr listener, or to a metrics token; never to a browser session.
    ("/metrics", 403),
];

#[tokio::test]
async fn every_page_opens_for_an_admin_and_the_account_pages_for_everyone() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@branch.test", None, &[]).await;
    app.create_user(Role::Manager, "morgan@branch.test", Some("Dallas"), &[]).await;
    app.create_user(Role::Lo, "maria@branch.test", Some("Dallas"), &["TX"]).await;
    let pages: Vec<&str> = loanfloor::route_table()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.path.contains('{'))
        .map(|r| r.path)
        .collect();
    // Every page answers 200; the few that answer otherwise for an admin are named with their status.
    let mut wrong = Vec::new();
    for path in &pages {
        let res = admin.get(app.url(path)).send().await.unwrap();
        let expected = NOT_200_FOR_AN_ADMIN.iter().find(|(p, _)| p == path).map_or(200, |(_, s)| *s);
        if res.status().as_u16() != expected {
            wrong.push(format!("{path}: {} (expected {expected})", res.status()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    for path in [
        "/admin/users",
        "/admin/users/new",
        "/admin/teams",
        "/admin/tokens",
        "/admin/security",
        "/account",
        "/account/password",
    ] {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body = res.text().await.unwrap();
        assert!(body.contains("<h1>"), "{path}");
    }
    let teams = admin.get(app.url("/admin/teams")).send().await.unwrap().text().await.unwrap();
    assert!(teams.contains("Dallas") && teams.contains("morgan"), "{teams}");
    for role in [Role::Manager, Role::Lossmit, Role::LossmitSupervisor, Role::Intake] {
        let (_, c) = app.login_as(role, &format!("{}@branch.test", role.as_str()), None, &[]).await;
        let res = c.get(app.url("/account")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", role.as_str());
        assert!(!res.text().await.unwrap().contains("Loan officer profile"), "only LOs have an LO profile");
    }
}
