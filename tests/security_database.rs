//! Examiner's checklist, item 6: least privilege down to the database.
//!
//! The embedded cluster asks every connection for a password (scram-sha-256) kept in the data directory with
//! mode 0600, its socket directory is open to the server's user only, and the application connects as a role
//! that is no superuser, owns no table, and may only INSERT and SELECT on the audit log — so "append-only"
//! holds even against the application itself. Migrations ran as the schema's owner.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::TestApp;
use futures_util::FutureExt;
use loanfloor::auth::Role;
use loanfloor::config::{Config, GlobalArgs, LogFormat, ServeArgs};
use loanfloor::db::{Database, EmbeddedPostgres};
use serde_json::json;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_connects_with_least_privilege() {
    let root = PathBuf::from(format!("/tmp/loanfloor-privilege-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let global = GlobalArgs {
        data_dir: root.clone(),
        database_url: None,
        owner_database_url: None,
        log_format: LogFormat::Human,
        secret_key_file: None,
    };
    let serve = ServeArgs { no_demo: true, db_pool_size: 4, worker: false, ..ServeArgs::default() };
    let config = Config::from_args(&global, &serve).unwrap();
    let database = Database::open(&config, true).await.expect("the embedded cluster starts");
    database.migrate().await.expect("migrations run as the owner");
    let result = std::panic::AssertUnwindSafe(checks(&root, &database)).catch_unwind().await;
    database.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

async fn checks(root: &std::path::Path, database: &Database) {
    let app = &database.pool;
    let cluster = EmbeddedPostgres::new(root).unwrap();

    // Passwords: generated, private, and required of every connection.
    assert_eq!(mode(&cluster.credentials_path()), 0o600, "the credentials file is private");
    assert_eq!(mode(cluster.socket_dir()), 0o700, "the socket directory is the server's alone");
    let hba = std::fs::read_to_string(cluster.data_dir().join("pg_hba.conf")).unwrap();
    let rules: Vec<&str> = hba.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).collect();
    assert!(!rules.is_empty() && rules.iter().all(|l| l.trim_end().ends_with("scram-sha-256")), "{hba}");
    let no_password = format!("postgres://loanfloor_app@localhost/loanfloor?host={}", cluster.socket_dir().display());
    assert!(loanfloor::db::connect(&no_password, 1).await.is_err(), "no connection without its password");
    let wrong = format!("postgres://postgres:guess@localhost/loanfloor?host={}", cluster.socket_dir().display());
    assert!(loanfloor::db::connect(&wrong, 1).await.is_err(), "nor with a wrong one");

    // The application's role: no superuser, owns nothing.
    let (me, superuser): (String, bool) =
        sqlx::query_as("SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(app)
            .await
            .unwrap();
    assert_eq!(me, "loanfloor_app");
    assert!(!superuser);
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
    )
    .fetch_one(app)
    .await
    .unwrap();
    assert_eq!(owned, 0, "the application owns no table");
    let leads_owner: String = sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'leads'")
        .fetch_one(app)
        .await
        .unwrap();
    assert_eq!(leads_owner, "loanfloor_owner");

    // The audit log: INSERT and SELECT, nothing else, refused by privilege (not only by the trigger).
    sqlx::query("INSERT INTO audit_log (action, entity) VALUES ('probe', 'test')").execute(app).await.unwrap();
    for sql in [
        "UPDATE audit_log SET action = 'changed'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "DROP TABLE leads",
        "CREATE TABLE public.sneaky (id int)",
    ] {
        let err = sqlx::query(sql).execute(app).await.expect_err(sql);
        let msg = err.to_string();
        assert!(
            msg.contains("permission denied") || msg.contains("must be owner"),
            "{sql}: refused by privilege, not by luck: {msg}"
        );
    }

    // The product works as this role: a lead over the API, and the rebuilds that truncate derived tables
    // (functions that run as their owner).
    let url = cluster.app_url("loanfloor");
    let server = TestApp::serve_database(url, "loanfloor".into(), |c| c.db_pool_size = 4).await;
    let lo = server.create_user(Role::Lo, "lo@branch.test", Some("North"), &["TX"]).await;
    let api = server.api(&server.token_for(lo).await);
    let res = api
        .post(server.url("/api/v1/leads"))
        .json(&json!({"first_name": "Least", "last_name": "Privilege", "phone": "512-555-0100", "source": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    loanfloor::metrics::rebuild_rollups(app).await.expect("the rollup rebuild runs as the application");
    loanfloor::routing::store::rebuild_open_counts(app).await.unwrap();
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'create' AND entity = 'lead'")
        .fetch_one(app)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}

/// Runs a PostgreSQL program from the system's server binaries, as the postgres user when we are root.
fn pg(program: &str) -> std::process::Command {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries are needed for the tests")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join(program).is_file())
        .max()
        .expect("PostgreSQL server binaries are needed for the tests");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        std::process::Command::new(bin.join(program))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_server_is_reached_over_tls() {
    // A server that, like a managed one, accepts TCP connections only over TLS, with its own certificate.
    let dir = PathBuf::from(format!("/tmp/loanfloor-tls-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key, data) = (dir.join("server.crt"), dir.join("server.key"), dir.join("data"));
    let (ca, ca_key, csr, ext) = (dir.join("ca.crt"), dir.join("ca.key"), dir.join("server.csr"), dir.join("ext"));
    std::fs::write(&ext, "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    let openssl = |args: Vec<std::ffi::OsString>| {
        let out = std::process::Command::new("openssl").args(args).output().expect("openssl makes the certificates");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let os = |items: &[&dyn AsRef<std::ffi::OsStr>]| -> Vec<std::ffi::OsString> {
        items.iter().map(|i| i.as_ref().to_os_string()).collect()
    };
    // A test certificate authority, and the server's certificate for "localhost" signed by it.
    openssl(os(&[
        &"req",
        &"-x509",
        &"-newkey",
        &"rsa:2048",
        &"-nodes",
        &"-days",
        &"2",
        &"-subj",
        &"/CN=Loanfloor test CA",
        &"-addext",
        &"basicConstraints=critical,CA:TRUE",
        &"-addext",
        &"keyUsage=critical,keyCertSign,cRLSign",
        &"-keyout",
        &ca_key,
        &"-out",
        &ca,
    ]));
    openssl(os(&[
        &"req",
        &"-newkey",
        &"rsa:2048",
        &"-nodes",
        &"-subj",
        &"/CN=localhost",
        &"-keyout",
        &key,
        &"-out",
        &csr,
    ]));
    openssl(os(&[
        &"x509",
        &"-req",
        &"-in",
        &csr,
        &"-CA",
        &ca,
        &"-CAkey",
        &ca_key,
        &"-CAcreateserial",
        &"-days",
        &"2",
        &"-extfile",
        &ext,
        &"-out",
        &crt,
    ]));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert!(
            std::process::Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success()
        );
    }
    let init =
        pg("initdb").arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync"]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    std::fs::write(
        data.join("pg_hba.conf"),
        "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\nlocal all all trust\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        dir.display(),
        crt.display(),
        key.display()
    );
    let start = pg("pg_ctl")
        .arg("start")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "-o", &opts])
        .output()
        .unwrap();
    let outcome = std::panic::AssertUnwindSafe(async {
        assert!(start.status.success(), "{}", String::from_utf8_lossy(&start.stderr));
        let over_tls = |mode: &str| {
            format!("postgres://postgres@localhost:{port}/postgres?sslmode={mode}&sslrootcert={}", ca.display())
        };
        for mode in ["require", "verify-full"] {
            let pool = loanfloor::db::connect(&over_tls(mode), 1).await.unwrap_or_else(|e| panic!("{mode}: {e:#}"));
            let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert!(ssl, "sslmode={mode}: the connection is encrypted");
            pool.close().await;
        }
        let plain = format!("postgres://postgres@localhost:{port}/postgres?sslmode=disable");
        assert!(loanfloor::db::connect(&plain, 1).await.is_err(), "the server refuses plain TCP");
    })
    .catch_unwind()
    .await;
    let _ = pg("pg_ctl").arg("stop").arg("-D").arg(&data).args(["-m", "immediate"]).output();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}
