//! Faults an operator will meet: the importing process killed with `kill -9` in the middle of a 100,000-row
//! import leaves nothing half-done, in all-or-nothing mode and with `--skip-bad` alike (both commit once, at the
//! end), and the database takes the next import at once.

mod common;

use std::io::Write;
use std::time::Duration;

use common::TestApp;
use loanfloor::auth::Role;

fn big_csv(rows: usize, tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("loanfloor-fault-{tag}-{}.csv", uuid::Uuid::new_v4().simple()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "first_name,last_name,phone,email,property_state,loan_purpose,source,external_id").unwrap();
    for i in 0..rows {
        writeln!(f, "Fault,Row{i},512{:07},row{i}.{tag}@example.net,TX,purchase,web,{tag}-{i}", 1_000_000 + i).unwrap();
    }
    f.flush().unwrap();
    path
}

async fn lead_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leads").fetch_one(app.db()).await.unwrap()
}

/// Waits until no other connection of the killed importer is left working in this database.
async fn wait_for_orphans(app: &TestApp) {
    for _ in 0..300 {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
               AND application_name LIKE 'loanfloor:%' AND backend_type = 'client backend'
               AND query NOT ILIKE '%pg_stat_activity%'",
        )
        .fetch_one(app.db())
        .await
        .unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_mid_file_leaves_nothing_half_done() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    for (mode, extra) in [("all-or-nothing", None), ("skip-bad", Some("--skip-bad"))] {
        let file = big_csv(100_000, mode);
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"));
        cmd.args(["import", "leads"]).arg(&file).args(["--as-email", "lo@branch.test"]);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        let mut child = cmd
            .env("DATABASE_URL", &app.url)
            .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it get well into the file: rows are being written when the process dies.
        let mut writing = false;
        for _ in 0..200 {
            let active: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND application_name LIKE 'loanfloor:%' AND xact_start IS NOT NULL AND query ILIKE '%INSERT INTO leads%'",
            )
            .fetch_one(app.db())
            .await
            .unwrap();
            if active > 0 {
                writing = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(writing, "{mode}: the import was writing leads");
        tokio::time::sleep(Duration::from_millis(300)).await;
        child.start_kill().unwrap(); // SIGKILL
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "{mode}: the importer was killed, it did not finish ({status:?})");
        wait_for_orphans(&app).await;
        assert_eq!(lead_count(&app).await, 0, "{mode}: nothing of a killed import is in the database");
        let _ = std::fs::remove_file(&file);
    }
    // The database takes the next import at once.
    let small = big_csv(50, "after");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(["import", "leads"])
        .arg(&small)
        .args(["--as-email", "lo@branch.test"])
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lead_count(&app).await, 50);
    let _ = std::fs::remove_file(&small);
}
