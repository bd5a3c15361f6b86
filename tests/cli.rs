//! The command line as a person runs it: the built `loanfloor` binary against the test database, its argument
//! parsing, its exit codes, and what it prints (`token add` prints the token alone on the last line).

mod common;

use std::process::Stdio;

use common::TestApp;
use loanfloor::auth::Role;

/// Runs the binary with `args` against the app's database; (exit code, stdout, stderr).
async fn run(app: &TestApp, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"));
    cmd.args(args)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .env_remove("LOANFLOOR_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn users_named(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1").bind(email).fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn user_add_and_token_add_work_as_processes_with_exit_codes_and_the_token_last() {
    let app = TestApp::spawn().await;
    let password = [("LOANFLOOR_PASSWORD", "a-long-enough-cli-password")];
    // Argument errors are the parser's: exit code 2, nothing written.
    let (code, _, err) = run(&app, &["user", "add", "--email", "x@cli.test"], &password).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--name") && err.contains("--role"), "names the missing arguments: {err}");
    let (code, _, err) = run(&app, &["frobnicate"], &[]).await;
    assert_eq!(code, 2, "{err}");
    // A role that does not exist: refused with the list of roles, exit non-zero, nothing written.
    let args = ["user", "add", "--email", "lo@cli.test", "--name", "Cli Lo", "--role", "wizard"];
    let (code, _, err) = run(&app, &args, &password).await;
    assert_ne!(code, 0);
    assert!(err.contains("unknown role") && err.contains("lossmit_supervisor"), "{err}");
    assert_eq!(users_named(&app, "lo@cli.test").await, 0);
    // No password in the environment and no terminal to ask on: refused.
    let args = ["user", "add", "--email", "lo@cli.test", "--name", "Cli Lo", "--role", "lo"];
    let (code, _, err) = run(&app, &args, &[]).await;
    assert_ne!(code, 0, "{err}");
    assert_eq!(users_named(&app, "lo@cli.test").await, 0);
    // The real thing: an LO on a team with states and a capacity.
    let args = [
        "user",
        "add",
        "--email",
        "lo@cli.test",
        "--name",
        "Cli Lo",
        "--role",
        "lo",
        "--team",
        "North",
        "--states",
        "tx,ca",
        "--capacity",
        "30",
    ];
    let (code, out, err) = run(&app, &args, &password).await;
    assert_eq!(code, 0, "{out}{err}");
    let (states, capacity, team): (Vec<String>, i32, String) = sqlx::query_as(
        "SELECT p.licensed_states, p.capacity, t.name FROM users u JOIN lo_profiles p ON p.user_id = u.id
         JOIN teams t ON t.id = u.team_id WHERE u.email = 'lo@cli.test'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((states, capacity, team.as_str()), (vec!["TX".to_string(), "CA".to_string()], 30, "North"));
    // The same email again: refused, exit non-zero.
    let (code, _, err) = run(&app, &args, &password).await;
    assert_ne!(code, 0, "{err}");
    assert_eq!(users_named(&app, "lo@cli.test").await, 1);

    // token add: the token alone on the last line of stdout, and it opens the API as that user.
    let (code, out, err) = run(&app, &["token", "add", "--email", "lo@cli.test", "--scope", "read"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().unwrap_or_default().trim().to_string();
    assert!(!token.is_empty() && !token.contains(' '), "the last line is the token alone: {out:?}");
    let me = app.api(&token).get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<serde_json::Value>().await.unwrap()["email"], "lo@cli.test");
    let (code, out, err) = run(&app, &["token", "add", "--email", "nobody@cli.test"], &[]).await;
    assert_ne!(code, 0);
    assert!(out.trim().is_empty() && err.contains("nobody@cli.test"), "no token for an unknown user: {out} {err}");
}

#[tokio::test]
async fn import_leads_exits_non_zero_on_bad_rows_and_commits_the_good_ones_with_skip_bad() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "admin@cli.test", None, &[]).await;
    let dir = std::env::temp_dir().join(format!("lf-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("leads.csv");
    std::fs::write(
        &file,
        "first_name,last_name,phone,property_state,loan_number\n\
         Ana,Reyes,512-555-0142,TX,LN-CLI-1\n\
         Bo,Bad,555-0142,TX,\n\
         Cy,Cole,512-555-0144,ZZ,\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, out, err) = run(&app, &["import", "leads", path], &[]).await;
    assert_ne!(code, 0, "bad rows fail the import: {out}");
    assert!(err.contains("line 3: phone") && err.contains("line 4: property_state"), "{err}");
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(leads, 0, "all or nothing");
    let (code, out, err) = run(&app, &["import", "leads", path, "--skip-bad"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 rows read: 1 imported"), "{out}");
    let number: Option<String> = sqlx::query_scalar("SELECT loan_number FROM leads").fetch_one(app.db()).await.unwrap();
    assert_eq!(number.as_deref(), Some("LN-CLI-1"));
    // A missing file: a clear error and a non-zero exit.
    let (code, _, err) = run(&app, &["import", "leads", "/nonexistent/leads.csv"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/leads.csv"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `loanfloor sources …` and `loanfloor import spend`: what the admin pages do, from the command line, audited,
/// with errors named and a bad spend file refused whole.
#[tokio::test]
async fn sources_and_spend_are_managed_from_the_command_line() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "admin@cli.test", None, &[]).await;
    let add = ["sources", "add", "mailer", "--label", "Direct mailer", "--channel", "direct_mail", "--cost-model"];
    let (code, out, err) = run(&app, &[&add[..], &["monthly", "--cost", "2,500"]].concat(), &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(&app, &["sources", "add", "Bad Key!", "--label", "x"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("key:"), "names the field: {err}");
    let (code, out, err) =
        run(&app, &["sources", "campaign", "mailer", "spring", "--label", "Spring mailer"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        run(&app, &["sources", "change", "mailer", "--label", "Mailer (Acme)", "--retire"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&app, &["sources", "list"], &[]).await;
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with("mailer\t")).unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("Mailer (Acme) (retired)") && line.contains("$2,500") && line.contains("Spring mailer"),
        "{line}"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('source.add', 'source.change', 'campaign.save')",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(audited, 3);

    let dir = std::env::temp_dir().join(format!("lf-spend-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "month,source,campaign,amount\n2026-11,mailer,spring,600\n2026-13,mailer,,400\n").unwrap();
    let (code, _, err) = run(&app, &["import", "spend", bad.to_str().unwrap()], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("line 3: month:"), "the bad row by line and column: {err}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM metrics_source_spend").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 0, "all or nothing");
    let good = dir.join("good.csv");
    std::fs::write(&good, "month,source,campaign,amount\n2026-11,mailer,spring,600\n2026-11,mailer,,400\n").unwrap();
    let (code, out, err) = run(&app, &["import", "spend", good.to_str().unwrap()], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 spend entries imported"), "{out}");
    let total: i64 = sqlx::query_scalar("SELECT sum(spend_cents)::int8 FROM metrics_source_spend")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(total, 100_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn dispose_counts_in_a_dry_run_and_scrubs_with_apply() {
    let app = TestApp::spawn().await;
    let vendor = app.create_user(Role::Intake, "vendor@feed.test", None, &[]).await;
    let feed = app.api(&app.token_with(vendor, &["leads:write"]).await);
    let res = feed
        .post(app.url("/api/v1/leads"))
        .json(&serde_json::json!({"first_name": "Ottoline", "last_name": "Farrowgate", "phone": "512-555-0177",
                                   "email": "ottoline@farrowgate.test", "source": "direct", "property_state": "TX"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let lead: uuid::Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    // Last used three years ago: past the 24-month rule for leads that never applied.
    sqlx::query(
        "UPDATE leads SET created_at = now() - interval '3 years', updated_at = now() - interval '3 years',
                          last_activity_at = NULL, stage_changed_at = now() - interval '3 years' WHERE id = $1",
    )
    .bind(lead)
    .execute(app.db())
    .await
    .unwrap();
    let first = || async {
        sqlx::query_scalar::<_, String>("SELECT first_name FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap()
    };

    let (code, _, err) = run(&app, &["dispose"], &[]).await;
    assert_eq!(code, 2, "one of --dry-run or --apply is required: {err}");
    let (code, out, err) = run(&app, &["dispose", "--dry-run"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("leads that never applied due (dry run, nothing changed): 1"), "{out}");
    assert_eq!(first().await, "Ottoline", "a dry run changes nothing");
    let (code, out, err) = run(&app, &["dispose", "--apply"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("leads that never applied disposed: 1"), "{out}");
    assert_eq!(first().await, loanfloor::retention::dispose::MARKER);
    let (_, out, _) = run(&app, &["dispose", "--dry-run"], &[]).await;
    assert!(out.contains("leads that never applied due (dry run, nothing changed): 0"), "disposed once: {out}");

    // The audit log still verifies: the scrubbed entries keep the digest of what they held when written.
    let (code, out, err) = run(&app, &["audit", "verify"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("changed otherwise: 0") && !out.contains("scrubbed by disposal: 0"), "{out}");
    // A snapshot changed behind the trigger's back (a superuser, the trigger off) is found, by its id.
    let tampered: i64 = sqlx::query_scalar(
        "SELECT id FROM audit_log WHERE scrubbed_at IS NULL AND after IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    let mut tx = app.db().begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update").execute(&mut *tx).await.unwrap();
    sqlx::query("UPDATE audit_log SET after = '{\"rewritten\": true}' WHERE id = $1")
        .bind(tampered)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    let (code, _, err) = run(&app, &["audit", "verify"], &[]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&tampered.to_string()), "the changed entry is named: {err}");
}
