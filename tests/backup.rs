//! `loanfloor backup` and `loanfloor restore`, run as an operator would: a real organisation in one data
//! directory, backed up, restored into a fresh data directory, and compared (row counts, a sign-in).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "backup-test-password-2026";

fn loanfloor(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("LOANFLOOR_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn counts(data_dir: &Path) -> Vec<(String, i64)> {
    let cluster = loanfloor::db::EmbeddedPostgres::new(data_dir).unwrap();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start()).await.unwrap().unwrap();
    let pool = loanfloor::db::connect(&cluster.owner_url("loanfloor"), 1).await.unwrap();
    let mut out = Vec::new();
    for table in ["users", "leads", "activities", "stage_changes", "audit_log", "api_tokens", "_sqlx_migrations"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&pool).await.unwrap();
        out.push((table.to_string(), n));
    }
    pool.close().await;
    tokio::task::spawn_blocking(move || cluster.stop()).await.unwrap().unwrap();
    out
}

struct Cleanup(Vec<PathBuf>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.0 {
            if let Ok(c) = loanfloor::db::EmbeddedPostgres::new(d) {
                if c.is_running() {
                    let _ = c.stop();
                }
            }
            let _ = std::fs::remove_dir_all(d);
            let _ = std::fs::remove_file(d);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_a_fresh_data_directory_with_everything_in_it() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let (a, b) = (PathBuf::from(format!("/tmp/lf-backup-a-{id}")), PathBuf::from(format!("/tmp/lf-backup-b-{id}")));
    let file = PathBuf::from(format!("/tmp/lf-backup-{id}.dump"));
    let _cleanup = Cleanup(vec![a.clone(), b.clone(), file.clone()]);

    // A real organisation: people added by the operator, a token, and generated leads with history.
    ok(
        loanfloor(&a, &["user", "add", "--email", "admin@branch.test", "--name", "Ada Admin", "--role", "admin"]),
        "user add",
    );
    ok(
        loanfloor(
            &a,
            &["user", "add", "--email", "lo@branch.test", "--name", "Lee Lo", "--role", "lo", "--team", "North"],
        ),
        "user add",
    );
    ok(loanfloor(&a, &["token", "add", "--email", "lo@branch.test", "--scope", "read"]), "token add");
    ok(loanfloor(&a, &["seed", "--leads", "200", "--officers", "3", "--seed", "7"]), "seed");
    let before = counts(&a).await;
    assert!(before.iter().any(|(t, n)| t == "leads" && *n >= 200), "{before:?}");

    ok(loanfloor(&a, &["backup", file.to_str().unwrap()]), "backup");
    assert!(std::fs::metadata(&file).unwrap().len() > 1000);
    ok(loanfloor(&b, &["restore", file.to_str().unwrap()]), "restore");
    assert_eq!(counts(&b).await, before, "every table came back whole");

    // A second restore into a database that has data is refused and changes nothing.
    let again = loanfloor(&b, &["restore", file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(counts(&b).await, before);

    // The restored organisation signs people in (the password step; a real organisation then asks for the
    // second factor).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .arg("--data-dir")
        .arg(&b)
        .args(["serve", "--no-demo", "--worker", "false", "--insecure-cookies", "--addr", &format!("127.0.0.1:{port}")])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut signed_in = None;
    for _ in 0..240 {
        let res = client
            .post(format!("http://127.0.0.1:{port}/login"))
            .header("origin", format!("http://127.0.0.1:{port}"))
            .form(&[("email", "lo@branch.test"), ("password", PASSWORD)])
            .send()
            .await;
        if let Ok(r) = res {
            signed_in =
                Some((r.status().as_u16(), r.headers().get("location").map(|v| v.to_str().unwrap().to_string())));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // SIGTERM: the server stops its cluster on the way out.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.id().unwrap() as i32, libc::SIGTERM) };
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(35), server.wait()).await;
    assert!(
        matches!(stopped, Ok(Ok(ref status)) if status.success()),
        "SIGTERM stops the server cleanly within 30 s: {stopped:?}"
    );
    assert!(!loanfloor::db::EmbeddedPostgres::new(&b).unwrap().is_running(), "and its PostgreSQL with it");
    assert_eq!(signed_in, Some((303, Some("/login/mfa/setup".to_string()))), "the restored password signs in");
}
