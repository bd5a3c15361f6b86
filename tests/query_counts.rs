//! Pages stay free of N+1 queries (CONVENTIONS.md): the main list pages run the same number of SQL statements
//! with 5 records as with 30, and stay under a small fixed budget. Counts come from the `x-sql-statements`
//! header (src/web/statements.rs), which counts sqlx's statement events per request.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::web::statements;
use uuid::Uuid;

/// The most statements any main list page may run, whatever the number of rows (sign-in, session and page
/// context included).
const BUDGET: u32 = 12;

/// The manager dashboard composes some twenty panels (rollups, scope, retention, lost reasons, rate-lock
/// pull-through, department figures…, and, outside its cache, the filters' teams and sources and the LOs'
/// availability, which also gives the LO filter's names); its rollup figures are one statement (with its
/// read-only transaction's commit, two), the labels and the LOs' names one each (17 statements for a manager,
/// 18 for an admin, who also reads the monthly spend): its own fixed budget, still the same with 5 rows as with
/// 30.
const DASHBOARD_BUDGET: u32 = 18;

fn budget(page: &str) -> u32 {
    if page.ends_with(" /dashboard") { DASHBOARD_BUDGET } else { BUDGET }
}

struct People {
    admin: reqwest::Client,
    manager: reqwest::Client,
    lo: reqwest::Client,
    lo_id: Uuid,
    specialist: reqwest::Client,
    specialist_id: Uuid,
    supervisor: reqwest::Client,
}

async fn people(app: &TestApp) -> People {
    let (_, admin) = app.login_as(Role::Admin, "admin@org.test", None, &[]).await;
    let (_, manager) = app.login_as(Role::Manager, "mgr.alpha@org.test", Some("Alpha Branch"), &[]).await;
    let (lo_id, lo) = app.login_as(Role::Lo, "lo.alpha@org.test", Some("Alpha Branch"), &["TX"]).await;
    let (specialist_id, specialist) = app.login_as(Role::Lossmit, "lossmit@org.test", None, &[]).await;
    let (_, supervisor) = app.login_as(Role::LossmitSupervisor, "lossmit.sup@org.test", None, &[]).await;
    People { admin, manager, lo, lo_id, specialist, specialist_id, supervisor }
}

/// Adds records numbered `from..to` of every kind the list pages show, each with the child rows a page
/// might be tempted to fetch one by one (events, attachments, case history, opportunities, skips).
async fn seed(app: &TestApp, p: &People, from: i32, to: i32) {
    let db = app.db();
    // Every statement numbers its rows from `k` ($1..$2) and may use the Alpha LO ($3) and the specialist ($4).
    let run = |sql: &'static str| async move {
        let sql = format!("WITH k AS (SELECT g FROM generate_series($1, $2 - 1) g WHERE $3::uuid <> $4::uuid) {sql}");
        sqlx::query(&sql).bind(from).bind(to).bind(p.lo_id).bind(p.specialist_id).execute(db).await.unwrap();
    };
    // Users on their own branches, each branch with its manager; an LO profile each.
    run("INSERT INTO teams (id, name) SELECT md5('team' || g)::uuid, 'Branch ' || g FROM k").await;
    run("INSERT INTO users (id, email, name, role, password_hash, team_id)
         SELECT md5('lo' || g)::uuid, 'lo' || g || '@org.test', 'Loan Officer ' || g, 'lo', 'x', md5('team' || g)::uuid
         FROM k
         UNION ALL
         SELECT md5('mgr' || g)::uuid, 'mgr' || g || '@org.test', 'Manager ' || g, 'manager', 'x', md5('team' || g)::uuid
         FROM k")
    .await;
    run("INSERT INTO lo_profiles (user_id, licensed_states) SELECT md5('lo' || g)::uuid, '{TX}' FROM k").await;
    run("INSERT INTO team_managers (team_id, user_id) SELECT md5('team' || g)::uuid, md5('mgr' || g)::uuid FROM k")
        .await;
    run(
        "INSERT INTO audit_log (actor_id, actor_label, action, entity, entity_id)
         SELECT md5('mgr' || g)::uuid, 'mgr' || g || '@org.test', 'user.updated', 'users', md5('lo' || g)::text FROM k",
    )
    .await;
    // Leads of the Alpha LO, each with a pricing exception carrying a comment and an attachment, a stage
    // change, a call, and a callback task now due; and as many leads waiting unassigned in the routing queue.
    run("INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, property_state, assigned_lo_id, team_id,
                            assigned_at, loan_amount_cents, source)
         SELECT md5('lead' || g)::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'contacted', 'Borrower', 'No ' || g,
                'TX', $3, (SELECT team_id FROM users WHERE id = $3), now(), 30000000, 'src' || g
         FROM k
         UNION ALL
         SELECT md5('queued' || g)::uuid, '00000000-0000-0000-0000-000000000001'::uuid, 'new', 'Waiting', 'No ' || g, 'TX',
                NULL::uuid, NULL::uuid, NULL::timestamptz, 20000000, 'src' || g
         FROM k")
    .await;
    run("INSERT INTO stage_changes (lead_id, from_stage, to_stage, lo_id, actor_id, origin)
         SELECT md5('lead' || g)::uuid, 'new', 'contacted', $3, $3, 'app' FROM k")
    .await;
    run("INSERT INTO activities (lead_id, actor_id, kind, direction, outcome, talk_seconds, occurred_at)
         SELECT md5('lead' || g)::uuid, $3, 'call', 'outbound', 'contacted', 60 + g, now() - interval '1 hour' FROM k")
    .await;
    run("INSERT INTO tasks (lead_id, owner_id, kind, title, due_at)
         SELECT md5('lead' || g)::uuid, $3, 'callback', 'Call back borrower ' || g, now() - interval '10 minutes'
         FROM k")
    .await;
    run("INSERT INTO escalations (id, lead_id, requester_id, team_id, kind, priority, concession_bps, loan_amount_cents,
                                  concession_cents, required_level, current_level, due_at)
         SELECT md5('esc' || g)::uuid, md5('lead' || g)::uuid, $3, (SELECT team_id FROM users WHERE id = $3),
                'pricing_exception', 'high', 10 + g % 10, 30000000, 30000 + g, 'manager', 'manager',
                now() + interval '4 hours'
         FROM k")
    .await;
    run("INSERT INTO escalation_events (escalation_id, actor_id, kind, note)
         SELECT md5('esc' || g)::uuid, $3, e.kind, 'note ' || g FROM k, (VALUES ('created'), ('comment')) e(kind)
        ")
    .await;
    run("INSERT INTO escalation_attachments (id, escalation_id, file_name, content_type, size_bytes, bytes, uploaded_by)
         SELECT md5('att' || g)::uuid, md5('esc' || g)::uuid, 'quote.pdf', 'application/pdf', 4, '\\x25504446', $3
         FROM k")
    .await;
    // Each request forwarded to underwriting by the Alpha LO's manager: half answered, half open, each with hops.
    run("INSERT INTO departments (id, kind, name) SELECT md5('uw')::uuid, 'underwriting', 'Underwriting' FROM k
         ON CONFLICT DO NOTHING")
    .await;
    run("INSERT INTO department_items (id, department_id, escalation_id, item_kind, status, forwarded_by, forwarded_at,
                                       due_at, answered_at, answered_by, decision, answer)
         SELECT md5('item' || g)::uuid, md5('uw')::uuid, md5('esc' || g)::uuid, 'pricing_exception',
                CASE WHEN g % 2 = 0 THEN 'answered' ELSE 'open' END, (SELECT id FROM users WHERE email = 'mgr.alpha@org.test'),
                now() - interval '2 hours', now() + interval '2 hours',
                CASE WHEN g % 2 = 0 THEN now() - interval '1 hour' END, CASE WHEN g % 2 = 0 THEN $3 END,
                CASE WHEN g % 2 = 0 THEN 'approved' END, CASE WHEN g % 2 = 0 THEN 'ok' ELSE '' END
         FROM k")
    .await;
    run("INSERT INTO department_hops (item_id, action, actor_id, department_id, note, at)
         SELECT md5('item' || g)::uuid, 'forward', (SELECT id FROM users WHERE email = 'mgr.alpha@org.test'),
                md5('uw')::uuid, 'please ' || g, now() - interval '2 hours'
         FROM k")
    .await;
    // Loss-mitigation cases of the specialist, each with contact, notice, assignment and application history.
    run("INSERT INTO lossmit_cases (id, loan_number, borrower_name, property_state, investor, upb_cents, note_rate,
                                    remaining_term_months, monthly_pi_cents, first_unpaid_due_date, specialist_id)
         SELECT md5('case' || g)::uuid, 'LM-' || g, 'Case Borrower ' || g, 'TX', 'fannie_mae', 20000000, 6.5, 300,
                150000, current_date - 40 - g, $4
         FROM k")
    .await;
    run("INSERT INTO lossmit_contact_attempts (case_id, occurred_on, channel, live_contact, actor_id)
         SELECT md5('case' || g)::uuid, current_date - 10, 'phone', true, $4 FROM k")
    .await;
    run("INSERT INTO lossmit_notices (case_id, kind, sent_on, actor_id)
         SELECT md5('case' || g)::uuid, 'early_intervention', current_date - 5, $4 FROM k")
    .await;
    run("INSERT INTO lossmit_assignments (case_id, to_specialist_id, assigned_on, actor_id)
         SELECT md5('case' || g)::uuid, $4, current_date - 20, $4 FROM k")
    .await;
    // Closed loans of the Alpha LO, each with an open opportunity and a recorded skip.
    run("INSERT INTO portfolio_loans (id, loan_number, borrower_name, property_state, loan_amount_cents, note_rate,
                                      product, closed_on, lo_id, team_id, original_value_cents)
         SELECT md5('loan' || g)::uuid, 'PL-' || lpad(g::text, 4, '0'), 'Past Client ' || g, 'TX', 30000000, 7.5,
                'conventional', date '2023-01-01' + g, $3, (SELECT team_id FROM users WHERE id = $3), 40000000
         FROM k")
    .await;
    run("INSERT INTO opportunities (id, loan_id, kind, why, lo_id, team_id)
         SELECT md5('opp' || g)::uuid, md5('loan' || g)::uuid, 'rate_watch', 'Rates fell', $3,
                (SELECT team_id FROM users WHERE id = $3)
         FROM k")
    .await;
    run("INSERT INTO opportunity_skips (loan_id, kind, reason)
         SELECT md5('loan' || g)::uuid, 'anniversary', 'opted out' FROM k")
    .await;
}

/// (who, page) pairs measured.
fn pages(p: &People) -> Vec<(&'static str, &reqwest::Client, &'static str)> {
    vec![
        ("admin", &p.admin, "/escalations"),
        ("manager", &p.manager, "/escalations"),
        ("lo", &p.lo, "/escalations"),
        ("supervisor", &p.supervisor, "/lossmit"),
        ("specialist", &p.specialist, "/lossmit"),
        ("supervisor", &p.supervisor, "/lossmit/board"),
        ("admin", &p.admin, "/lossmit/board"),
        ("admin", &p.admin, "/portfolio"),
        ("manager", &p.manager, "/portfolio"),
        ("lo", &p.lo, "/portfolio"),
        ("admin", &p.admin, "/portfolio/opportunities"),
        ("lo", &p.lo, "/portfolio/opportunities"),
        ("admin", &p.admin, "/admin/users"),
        ("admin", &p.admin, "/admin/audit"),
        ("admin", &p.admin, "/admin/teams"),
        ("admin", &p.admin, "/escalations/reports"),
        ("admin", &p.admin, "/coaching"),
        ("supervisor", &p.supervisor, "/lossmit/reports"),
        // The pages people use most (issue 27).
        ("lo", &p.lo, "/leads"),
        ("manager", &p.manager, "/leads"),
        ("lo", &p.lo, "/my-day"),
        ("lo", &p.lo, "/pipeline"),
        ("lo", &p.lo, "/tasks"),
        ("manager", &p.manager, "/dashboard"),
        ("admin", &p.admin, "/dashboard"),
        ("manager", &p.manager, "/routing/queue"),
        ("admin", &p.admin, "/availability"),
        // Departments (issue 26): what was forwarded, with the manager's figures; the admin's member list.
        ("manager", &p.manager, "/departments/forwarded"),
        ("admin", &p.admin, "/departments/forwarded"),
        ("admin", &p.admin, "/departments/forwarded?department=3eae6359-4a41-739e-8714-1e8333d15f73"),
        ("admin", &p.admin, "/admin/departments"),
    ]
}

/// Statements per page, each page requested twice (the second, warm count is kept) so one-off session
/// writes do not count against the page.
async fn measure(app: &TestApp, p: &People) -> Vec<(String, u32, usize)> {
    let mut out = Vec::new();
    for (who, client, path) in pages(p) {
        let mut last = (0, 0);
        for _ in 0..2 {
            let res = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{who} opens {path}");
            let n: u32 = res
                .headers()
                .get(statements::HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("the statement count header is present");
            last = (n, res.text().await.unwrap().len());
        }
        out.push((format!("{who} {path}"), last.0, last.1));
    }
    out
}

#[tokio::test]
async fn list_pages_run_the_same_statements_for_5_rows_as_for_30() {
    assert!(statements::install_for_tests(), "this test binary installs the only subscriber");
    let app = TestApp::spawn().await;
    let p = people(&app).await;
    seed(&app, &p, 0, 5).await;
    let small = measure(&app, &p).await;
    seed(&app, &p, 5, 30).await;
    let large = measure(&app, &p).await;
    eprintln!("statements per page with 5 rows: {small:?}\nwith 30 rows: {large:?}");
    let mut failures = Vec::new();
    for ((page, few, few_len), (_, many, many_len)) in small.iter().zip(&large) {
        if few != many {
            failures.push(format!("{page}: {few} statements with 5 rows, {many} with 30 (N+1)"));
        }
        if *many > budget(page) {
            failures.push(format!("{page}: {many} statements, over the budget of {}", budget(page)));
        }
        if *few == 0 {
            failures.push(format!("{page}: no statements counted (is the counter installed?)"));
        }
        // The pages did grow: the extra rows were on them, so an equal count is a real result.
        if many_len <= few_len {
            failures.push(format!("{page}: the page did not grow ({few_len} → {many_len} bytes)"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}\nwith 5: {small:?}\nwith 30: {large:?}");
}

#[tokio::test]
async fn the_counter_sees_every_statement_a_loop_runs() {
    assert!(statements::install_for_tests());
    let app = TestApp::spawn().await;
    for n in [1u32, 7] {
        let ((), counted) = statements::counting(async {
            for i in 0..n {
                sqlx::query("SELECT $1::int").bind(i as i32).execute(app.db()).await.unwrap();
            }
        })
        .await;
        assert_eq!(counted, n, "one statement counted per query");
    }
    // Inside a transaction too: each extra statement adds one (whatever BEGIN/COMMIT themselves count).
    let db = app.db();
    let in_tx = |n: i32| async move {
        let ((), counted) = statements::counting(async {
            let mut tx = db.begin().await.unwrap();
            for i in 0..n {
                sqlx::query("SELECT $1::int").bind(i).execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        })
        .await;
        counted
    };
    assert_eq!(in_tx(7).await - in_tx(1).await, 6);
}

/// The pool that serves requests plans without parallel workers (`db::connect_serving`): under concurrent
/// requests on few cores, worker start-up cost more than it saved (a dashboard read: 21 ms with, 7 ms without).
#[tokio::test]
async fn requests_are_served_without_parallel_workers() {
    let app = TestApp::spawn().await;
    let workers: String = sqlx::query_scalar("SELECT current_setting('max_parallel_workers_per_gather')")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(workers, "0");
}
