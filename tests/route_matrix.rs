//! Every route the application serves, for every role and for anonymous callers, derived from
//! `loanfloor::route_table()`: a route added without its sign-in, role or scope check fails here.
//!
//! The world: two branches (Alpha and Bravo), a manager and an LO in each, loss-mitigation staff and an intake
//! integration. Bravo's LO owns a lead (borrower "Quillfeather"). Every signed-in role except admin is outside
//! Bravo, so no route may show or change Bravo's records for them. The Alpha LO is also tried on a teammate's
//! lead (borrower "Thistlewood"): same team, still not theirs.

mod common;

use std::collections::BTreeMap;

use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::{Access, RouteInfo};
use reqwest::StatusCode;
use uuid::Uuid;

const BORROWER: &str = "Quillfeather";
const BORROWER_EMAIL: &str = "w.quillfeather@borrower.test";
/// A lead of the Alpha LO's teammate: same team, so only the LO-level rule keeps it from the Alpha LO.
const TEAMMATE_BORROWER: &str = "Thistlewood";
const WRITES: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// What a path parameter names, to pick the out-of-scope record to put there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Lead,
    User,
    Team,
    Token,
    Notification,
}

/// Path parameter names (and, for a bare `{id}`, the collection segment before it) → record kind.
/// Parameters not listed get the foreign lead's id: the most sensitive record, and a 404 for any other kind.
const PARAM_KINDS: &[(&str, Kind)] = &[
    ("lead_id", Kind::Lead),
    ("leads/{id}", Kind::Lead),
    ("user_id", Kind::User),
    ("lo_id", Kind::User),
    ("users/{id}", Kind::User),
    ("los/{id}", Kind::User),
    ("team_id", Kind::Team),
    ("teams/{id}", Kind::Team),
    ("token_id", Kind::Token),
    ("tokens/{id}", Kind::Token),
    ("notifications/{id}", Kind::Notification),
];

struct World {
    app: TestApp,
    lead: Uuid,
    teammate_lead: Uuid,
    lo_b: Uuid,
    team_b: Uuid,
    token_b: Uuid,
    notification_b: i64,
    clients: Vec<(Role, reqwest::Client)>,
}

fn kind_of(path: &str, param: &str) -> Kind {
    let segments: Vec<&str> = path.split('/').collect();
    let pos = segments.iter().position(|s| *s == format!("{{{param}}}"));
    let collection = pos.and_then(|i| i.checked_sub(1)).map(|i| format!("{}/{{{param}}}", segments[i]));
    PARAM_KINDS
        .iter()
        .find(|(k, _)| *k == param || Some(k.to_string()) == collection)
        .map(|(_, kind)| *kind)
        .unwrap_or(Kind::Lead)
}

fn params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

impl World {
    async fn build() -> World {
        let app = TestApp::spawn().await;
        let mut clients = Vec::new();
        for (role, email, team) in [
            (Role::Admin, "admin@org.test", None),
            (Role::Manager, "mgr.alpha@org.test", Some("Alpha Branch")),
            (Role::Lo, "lo.alpha@org.test", Some("Alpha Branch")),
            (Role::Lossmit, "lossmit@org.test", None),
            (Role::LossmitSupervisor, "lossmit.sup@org.test", None),
            (Role::Intake, "intake@org.test", None),
        ] {
            let (_, c) = app.login_as(role, email, team, &["TX"]).await;
            clients.push((role, c));
        }
        app.create_user(Role::Manager, "mgr.bravo@org.test", Some("Bravo Branch"), &[]).await;
        let lo_b = app.create_user(Role::Lo, "lo.bravo@org.test", Some("Bravo Branch"), &["CA"]).await;
        let team_b: Uuid =
            sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Bravo Branch'").fetch_one(app.db()).await.unwrap();
        let lead = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, email, phone, property_state,
                                assigned_lo_id, team_id, assigned_at)
             VALUES ($1, '00000000-0000-0000-0000-000000000001', 'contacted', 'Wendell', $2, $3, '+15125550199', 'CA',
                     $4, $5, now())",
        )
        .bind(lead)
        .bind(BORROWER)
        .bind(BORROWER_EMAIL)
        .bind(lo_b)
        .bind(team_b)
        .execute(app.db())
        .await
        .unwrap();
        let teammate = app.create_user(Role::Lo, "lo.alpha2@org.test", Some("Alpha Branch"), &["TX"]).await;
        let teammate_lead = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, assigned_lo_id, team_id, assigned_at)
             VALUES ($1, '00000000-0000-0000-0000-000000000001', 'new', 'Ada', $2, $3,
                     (SELECT team_id FROM users WHERE id = $3), now())",
        )
        .bind(teammate_lead)
        .bind(TEAMMATE_BORROWER)
        .bind(teammate)
        .execute(app.db())
        .await
        .unwrap();
        let notification_b: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (user_id, kind, title, link) VALUES ($1, 'lead', 'New lead: W. Quillfeather', '/')
             RETURNING id",
        )
        .bind(lo_b)
        .fetch_one(app.db())
        .await
        .unwrap();
        let mut tx = app.db().begin().await.unwrap();
        let (token_b, _) = loanfloor::auth::store::create_token(&mut tx, lo_b, "bravo feed").await.unwrap();
        tx.commit().await.unwrap();
        World { app, lead, teammate_lead, lo_b, team_b, token_b, notification_b, clients }
    }

    /// The record of `kind` that `role` must not see: for an LO, their teammate's lead; for everyone else,
    /// Bravo's.
    fn foreign(&self, role: Role, kind: Kind) -> String {
        match kind {
            Kind::Lead if role == Role::Lo => self.teammate_lead.to_string(),
            Kind::Lead => self.lead.to_string(),
            Kind::User => self.lo_b.to_string(),
            Kind::Team => self.team_b.to_string(),
            Kind::Token => self.token_b.to_string(),
            Kind::Notification => self.notification_b.to_string(),
        }
    }

    fn fill(&self, role: Role, path: &str) -> String {
        let mut out = path.to_string();
        for p in params(path) {
            out = out.replace(&format!("{{{p}}}"), &self.foreign(role, kind_of(path, p)));
        }
        out
    }

    /// Everything about Bravo's records that a refused write must leave exactly as it was.
    async fn snapshot(&self) -> String {
        let row: (String,) = sqlx::query_as(
            "SELECT concat_ws('|',
                (SELECT row_to_json(l)::text FROM leads l WHERE id = $1),
                (SELECT row_to_json(l)::text FROM leads l WHERE id = $6),
                (SELECT row_to_json(u)::text FROM (SELECT id, email, name, role, active, team_id, auth_epoch, mfa_enabled, version, password_hash FROM users WHERE id = $2) u),
                (SELECT row_to_json(p)::text FROM lo_profiles p WHERE user_id = $2),
                (SELECT row_to_json(t)::text FROM teams t WHERE id = $3),
                (SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM team_managers WHERE team_id = $3),
                (SELECT row_to_json(k)::text FROM (SELECT id, revoked_at FROM api_tokens WHERE id = $4) k),
                (SELECT row_to_json(n)::text FROM notifications n WHERE id = $5),
                (SELECT count(*)::text FROM assignments WHERE lead_id = $1),
                (SELECT count(*)::text FROM stage_changes WHERE lead_id = $1),
                (SELECT count(*)::text FROM activities WHERE lead_id = $1),
                (SELECT count(*)::text FROM tasks WHERE lead_id = $1))",
        )
        .bind(self.lead)
        .bind(self.lo_b)
        .bind(self.team_b)
        .bind(self.token_b)
        .bind(self.notification_b)
        .bind(self.teammate_lead)
        .fetch_one(self.app.db())
        .await
        .unwrap();
        row.0
    }
}

/// Fields a hostile form would carry: enough for most forms to parse, so the handler's own check is reached.
const HOSTILE_FORM: &[(&str, &str)] = &[
    ("name", "Hijacked"),
    ("email", "hijack@evil.test"),
    ("role", "admin"),
    ("status", "away"),
    ("password", "Hijacked-Password-123"),
    ("label", "stolen"),
    ("hand_over", "redistribute"),
    ("version", "1"),
    ("stage", "lost"),
    ("note", "hijacked"),
];

/// Sends a request; writes carry a hostile body (JSON for the API, a form otherwise).
async fn send(client: &reqwest::Client, method: &str, url: &str) -> reqwest::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = client.request(m, url);
    let req = if !WRITES.contains(&method) {
        req
    } else if url.contains("/api/") {
        let body: serde_json::Map<String, serde_json::Value> =
            HOSTILE_FORM.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
        req.json(&body)
    } else {
        req.form(HOSTILE_FORM)
    };
    req.send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

fn table() -> Vec<RouteInfo> {
    let t = loanfloor::route_table();
    assert!(t.len() >= 20, "the route table lists the application's routes");
    t
}

#[tokio::test]
async fn anonymous_callers_are_sent_to_sign_in_on_every_signed_in_route() {
    let app = TestApp::spawn().await;
    let anon = app.client();
    let mut failures = Vec::new();
    for r in table().into_iter().filter(|r| r.access == Access::Authenticated) {
        // Integer and uuid ids: whichever the route parses, it must still ask for sign-in.
        let mut asked_to_sign_in = false;
        for id in [Uuid::new_v4().to_string(), "1".to_string()] {
            let mut path = r.path.to_string();
            for p in params(r.path) {
                path = path.replace(&format!("{{{p}}}"), &id);
            }
            let res = send(&anon, r.method, &app.url(&path)).await;
            let status = res.status();
            if status.is_success() {
                failures.push(format!("{} {path}: {status} for an anonymous caller", r.method));
            }
            let login = if r.path.starts_with("/api/") {
                status == StatusCode::UNAUTHORIZED
            } else {
                status == StatusCode::SEE_OTHER && location(&res).starts_with("/login")
            };
            asked_to_sign_in |= login;
        }
        if !asked_to_sign_in {
            failures.push(format!("{} {}: never asked to sign in", r.method, r.path));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn no_role_reads_or_changes_a_record_outside_its_scope() {
    let w = World::build().await;
    let before = w.snapshot().await;
    let routes = table();
    let mut failures = Vec::new();
    let mut checked = BTreeMap::<&str, usize>::new();
    for (role, client) in w.clients.iter().filter(|(r, _)| *r != Role::Admin) {
        for r in routes.iter().filter(|r| r.access == Access::Authenticated) {
            let has_params = r.path.contains('{');
            let is_write = WRITES.contains(&r.method);
            let admin_only = r.path == "/admin" || r.path.starts_with("/admin/");
            if is_write && !has_params && !admin_only {
                // Writes without a record in the path are the caller's own (status, password…); the
                // cross-site test covers them.
                continue;
            }
            let path = w.fill(*role, r.path);
            let res = send(client, r.method, &w.app.url(&path)).await;
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let label = format!("{} as {}: {} {path}", status, role.as_str(), r.method);
            let teammate_leak = *role == Role::Lo && body.contains(TEAMMATE_BORROWER);
            if body.contains(BORROWER) || body.contains(BORROWER_EMAIL) || teammate_leak {
                failures.push(format!("{label}: shows the out-of-scope borrower"));
            }
            if status.is_server_error() {
                failures.push(format!("{label}: server error"));
            }
            if admin_only && status != StatusCode::FORBIDDEN && status != StatusCode::NOT_FOUND {
                failures.push(format!("{label}: admin pages refuse other roles"));
            } else if has_params && !is_write && !matches!(status.as_u16(), 403 | 404) {
                failures.push(format!("{label}: expected 403/404 for another team's record"));
            } else if has_params && is_write && !matches!(status.as_u16(), 400 | 403 | 404 | 415 | 422) {
                failures.push(format!("{label}: expected a refusal for another team's record"));
            }
            *checked.entry(role.as_str()).or_default() += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(w.snapshot().await, before, "refused requests changed another team's records");
    assert_eq!(checked.len(), 5, "every non-admin role was walked: {checked:?}");

    // Controls: the ids are real (an admin sees them), so the refusals above are refusals, not typos.
    let admin = &w.clients.iter().find(|(r, _)| *r == Role::Admin).unwrap().1;
    let res = admin.get(w.app.url(&w.fill(Role::Admin, "/admin/users/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("lo.bravo@org.test"));
    let mut shown = 0;
    for r in routes.iter().filter(|r| r.method == "GET" && r.path.contains('{') && r.access == Access::Authenticated) {
        if admin.get(w.app.url(&w.fill(Role::Admin, r.path))).send().await.unwrap().status() == StatusCode::OK {
            shown += 1;
        }
    }
    assert!(shown >= 1, "the admin can open the records the other roles were refused");
}

#[tokio::test]
async fn kinds_come_from_parameter_names_and_collections() {
    assert_eq!(kind_of("/admin/users/{id}/deactivate", "id"), Kind::User);
    assert_eq!(kind_of("/admin/teams/{id}", "id"), Kind::Team);
    assert_eq!(kind_of("/leads/{id}", "id"), Kind::Lead);
    assert_eq!(kind_of("/x/{lead_id}/y/{user_id}", "user_id"), Kind::User);
    assert_eq!(kind_of("/lossmit/cases/{id}", "id"), Kind::Lead);
    assert_eq!(params("/a/{x}/b/{y}"), vec!["x", "y"]);
}

#[tokio::test]
async fn a_cross_site_request_is_refused_on_every_state_changing_route() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@org.test", None, &[]).await;
    let (lo_id, _) = app.login_as(Role::Lo, "lo@org.test", Some("Alpha Branch"), &["TX"]).await;
    let audit = |db: sqlx::PgPool| async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action <> 'csrf_refused'")
            .fetch_one(&db)
            .await
            .unwrap();
        n
    };
    let changes_before = audit(app.db().clone()).await;
    let writes: Vec<RouteInfo> = table().into_iter().filter(|r| WRITES.contains(&r.method)).collect();
    assert!(writes.len() >= 10, "{writes:?}");
    let mut failures = Vec::new();
    let mut sent: i64 = 0;
    for r in &writes {
        let mut path = r.path.to_string();
        for p in params(r.path) {
            // A real user id where one fits, so a missing check would have something to change.
            let id = if kind_of(r.path, p) == Kind::User { lo_id.to_string() } else { Uuid::new_v4().to_string() };
            path = path.replace(&format!("{{{p}}}"), &id);
        }
        let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        for (header, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
            let res =
                admin.request(m.clone(), app.url(&path)).header(header, value).form(HOSTILE_FORM).send().await.unwrap();
            sent += 1;
            if res.status() != StatusCode::FORBIDDEN {
                failures.push(format!("{} {path} with {header}: {}", r.method, res.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(audit(app.db().clone()).await, changes_before, "a refused request changed something");
    let refused: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'csrf_refused'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(refused, sent, "every refusal is logged");
    // The admin's session still works: the refusals did not sign anyone out.
    assert_eq!(admin.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::OK);
}
