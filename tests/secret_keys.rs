//! Issue 24, secrets at rest: TOTP secrets, enrolments in progress and webhook signing secrets are stored
//! sealed with the key in `LOANFLOOR_SECRET_KEY_FILE`; start-up seals what an older version left in
//! plaintext; `loanfloor rotate-key` re-seals everything with a new key; and a server without its key does
//! not start. Run against real PostgreSQL, the real binary and real HTTP.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{PASSWORD, TestApp};
use loanfloor::auth::{Role, mfa};
use loanfloor::secrets::{Sealer, SecretKey};
use serde_json::{Value, json};

/// Runs the binary against `app`'s database with `key` as its key file (None: no key file at all).
async fn run_binary(app: &TestApp, args: &[&str], key: Option<&Path>) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"));
    cmd.args(args)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_LOG", "warn")
        .env_remove("LOANFLOOR_SECRET_KEY_FILE")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(key) = key {
        cmd.env("LOANFLOOR_SECRET_KEY_FILE", key);
    }
    let out = cmd.output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn sealer(path: &Path) -> Sealer {
    Sealer::from(SecretKey::read(path).unwrap())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loanfloor-keys-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn mfa_secret(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT mfa_secret FROM users WHERE email = $1").bind(email).fetch_one(app.db()).await.unwrap()
}

async fn webhook_secret(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT secret FROM webhook_endpoints").fetch_one(app.db()).await.unwrap()
}

/// The sealed secret of the enrolment in progress in some session.
async fn pending_enrolment(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT data ->> 'mfa_pending_secret' FROM sessions WHERE data ? 'mfa_pending_secret'")
        .fetch_one(app.db())
        .await
        .unwrap()
}

fn assert_sealed(value: &str, key: &Sealer, plain: &str, what: &str) {
    let prefix = format!("enc:v1:{}:", key.key_id().unwrap());
    assert!(value.starts_with(&prefix), "{what} is sealed with key {prefix}: {value}");
    assert!(!value.contains(plain), "{what} holds its plaintext: {value}");
    assert_eq!(key.open(value).unwrap(), plain, "{what} opens to its secret");
}

/// Signs in with the password and the current TOTP code on `app`'s clock; the status of the code's POST.
async fn sign_in_with_code(app: &TestApp, email: &str, secret: &str) -> u16 {
    let c = app.client();
    let res = c.post(app.url("/login")).form(&[("email", email), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let code = mfa::current_code(secret, email, app.state.clock.now().timestamp() as u64).unwrap();
    c.post(app.url("/login/mfa")).form(&[("code", code.as_str())]).send().await.unwrap().status().as_u16()
}

/// Creates a lead through the API (a `lead.created` webhook event), runs the jobs and returns what the
/// receiver got last: (signature header, body).
async fn webhook_after_new_lead(app: &TestApp, token: &str, got: &common::receiver::Received) -> (String, Vec<u8>) {
    let res = app
        .api(token)
        .post(app.url("/api/v1/leads"))
        .json(&json!({
            "first_name": "Ines", "last_name": "Okafor", "email": format!("{}@example.com", uuid::Uuid::new_v4()),
            "property_state": "TX", "loan_purpose": "purchase", "loan_amount_cents": 31_000_000, "source": "website",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let before = got.lock().unwrap().len();
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), before + 1, "one delivery");
    let (headers, body) = got.last().unwrap().clone();
    (headers["x-loanfloor-signature"].to_str().unwrap().to_string(), body)
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_a_rotated_key_takes_over() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let key = sealer(&common::secret_key_file());
    let admin_email = "admin@branch.test";
    let admin_id = app.create_user(Role::Admin, admin_email, None, &[]).await;
    app.create_user(Role::Manager, "mgr@branch.test", Some("North"), &[]).await;

    // Enrolment: the secret waits in the session sealed, then lands on the user sealed.
    let c = app.client();
    let res = c.post(app.url("/login")).form(&[("email", admin_email), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let page = c.get(app.url("/login/mfa/setup")).send().await.unwrap().text().await.unwrap();
    let marker = "<code class=\"secret\">";
    let start = page.find(marker).unwrap() + marker.len();
    let totp = page[start..start + page[start..].find("</code>").unwrap()].to_string();
    assert_sealed(&pending_enrolment(&app).await, &key, &totp, "the enrolment in progress");
    let code = mfa::current_code(&totp, admin_email, app.state.clock.now().timestamp() as u64).unwrap();
    let res = c.post(app.url("/login/mfa/setup")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_sealed(&mfa_secret(&app, admin_email).await, &key, &totp, "users.mfa_secret");
    app.state.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(sign_in_with_code(&app, admin_email, &totp).await, 303, "the sealed TOTP secret signs in");

    // A webhook endpoint: its signing secret is stored sealed and still signs deliveries.
    let (port, got) = common::receiver::start(0).await;
    let page = app.add_webhook(&c, &format!("http://127.0.0.1:{port}/hook"), &["lead.created"]).await;
    let at = page.find("whsec_").unwrap();
    let whsec = page[at..at + 6 + 64].to_string();
    assert_sealed(&webhook_secret(&app).await, &key, &whsec, "webhook_endpoints.secret");
    let token = app.token_with(admin_id, &["full"]).await;
    let now = app.state.clock.now().timestamp();
    let (header, body) = webhook_after_new_lead(&app, &token, &got).await;
    assert!(loanfloor::webhooks::model::verify(&whsec, &header, &body, now, 300), "signed with the secret");

    // The manager starts enrolling and stops half-way: that session's secret is rotated too.
    let m = app.client();
    let res = m.post(app.url("/login")).form(&[("email", "mgr@branch.test"), ("password", PASSWORD)]).send().await;
    assert_eq!(res.unwrap().status(), 303);
    let page = m.get(app.url("/login/mfa/setup")).send().await.unwrap().text().await.unwrap();
    let start = page.find(marker).unwrap() + marker.len();
    let pending_totp = page[start..start + page[start..].find("</code>").unwrap()].to_string();

    // Rotation, as the operator runs it.
    let before = (mfa_secret(&app, admin_email).await, webhook_secret(&app).await, pending_enrolment(&app).await);
    let new_file = scratch("new.key");
    let (code, out, err) = run_binary(&app, &["new-key", new_file.to_str().unwrap()], None).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mode(&new_file), 0o600, "a new key file is private");
    let (code, _, err) = run_binary(&app, &["new-key", new_file.to_str().unwrap()], None).await;
    assert_ne!(code, 0, "an existing key file is never overwritten");
    assert!(err.contains("never replaced"), "{err}");
    let old_file = common::secret_key_file();
    let args = ["rotate-key", "--new-key-file", new_file.to_str().unwrap()];
    let (code, out, err) = run_binary(&app, &args, Some(&old_file)).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("re-encrypted 3 stored secrets"), "{out}");

    let new_key = sealer(&new_file);
    let after = (mfa_secret(&app, admin_email).await, webhook_secret(&app).await, pending_enrolment(&app).await);
    for ((was, now), (plain, what)) in [(&before.0, &after.0), (&before.1, &after.1), (&before.2, &after.2)]
        .into_iter()
        .zip([(&totp, "the TOTP secret"), (&whsec, "the webhook secret"), (&pending_totp, "the enrolment")])
    {
        assert_ne!(was, now, "{what} was re-sealed");
        assert_sealed(now, &new_key, plain, what);
        let refused = key.open(now).unwrap_err().to_string();
        assert!(refused.contains("another key"), "the old key no longer opens {what}: {refused}");
    }
    let audited: (Value, Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'secrets.rotate_key'")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(audited.0["key_id"], key.key_id().unwrap());
    assert_eq!(audited.1["key_id"], new_key.key_id().unwrap());
    let text = format!("{audited:?}");
    assert!(!text.contains(&totp) && !text.contains(&whsec) && !text.contains("enc:v1"), "no secret audited");

    // The old key no longer starts a server on this database; the new one does.
    let (code, _, err) = run_binary(&app, &["migrate"], Some(&old_file)).await;
    assert_ne!(code, 0);
    assert!(err.contains("were sealed with key") && err.contains(new_key.key_id().unwrap()), "{err}");
    let (code, out, err) = run_binary(&app, &["migrate"], Some(&new_file)).await;
    assert_eq!(code, 0, "{out}{err}");

    // A server with the new key: TOTP signs in, the half-done enrolment goes on, deliveries verify.
    let next = TestApp::serve_database(app.url.clone(), app.db_name.clone(), |c| {
        c.enforce_mfa = true;
        c.secrets = new_key.clone();
    })
    .await;
    next.state.clock.advance(chrono::Duration::seconds(120));
    assert_eq!(sign_in_with_code(&next, admin_email, &totp).await, 303, "TOTP after rotation");
    let res = m.get(next.url("/login/mfa/setup")).send().await.unwrap().text().await.unwrap();
    assert!(res.contains(&pending_totp), "the enrolment in progress keeps its secret");
    let now = next.state.clock.now().timestamp();
    let (header, body) = webhook_after_new_lead(&next, &token, &got).await;
    assert!(loanfloor::webhooks::model::verify(&whsec, &header, &body, now, 300), "signed after rotation");
}

#[tokio::test]
async fn start_up_seals_secrets_left_in_plaintext_once_even_with_two_instances() {
    let app = TestApp::spawn_with(|c| c.enforce_mfa = true).await;
    let key = sealer(&common::secret_key_file());
    let email = "lo@branch.test";
    app.create_user(Role::Lo, email, Some("North"), &["TX"]).await;
    app.create_user(Role::Admin, "admin@branch.test", None, &[]).await;
    let (c, totp) = app.enrol_mfa("admin@branch.test").await;
    let (port, _) = common::receiver::start(0).await;
    app.add_webhook(&c, &format!("http://127.0.0.1:{port}/hook"), &["lead.created"]).await;
    // What a database from before issue 24 holds: secrets in plaintext (SQL stands in for the old version).
    let legacy_totp = mfa::new_secret();
    let legacy_hook = format!("whsec_{}", "ab".repeat(32));
    sqlx::query("UPDATE users SET mfa_secret = $1, mfa_enabled = true WHERE email = $2")
        .bind(&legacy_totp)
        .bind(email)
        .execute(app.db())
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_endpoints SET secret = $1").bind(&legacy_hook).execute(app.db()).await.unwrap();
    let admin_sealed = mfa_secret(&app, "admin@branch.test").await;

    // Two instances start at once: each value is sealed exactly once (never sealed over its seal).
    let key_file = common::secret_key_file();
    let (a, b) =
        tokio::join!(run_binary(&app, &["migrate"], Some(&key_file)), run_binary(&app, &["migrate"], Some(&key_file)));
    assert_eq!((a.0, b.0), (0, 0), "{a:?} {b:?}");
    assert_sealed(&mfa_secret(&app, email).await, &key, &legacy_totp, "the old TOTP secret");
    assert_sealed(&webhook_secret(&app).await, &key, &legacy_hook, "the old webhook secret");
    assert_eq!(mfa_secret(&app, "admin@branch.test").await, admin_sealed, "a sealed value is left as it was");
    let sealed = (mfa_secret(&app, email).await, webhook_secret(&app).await);
    let (code, out, err) = run_binary(&app, &["migrate"], Some(&common::secret_key_file())).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!((mfa_secret(&app, email).await, webhook_secret(&app).await), sealed, "the next start changes nothing");
    app.state.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(sign_in_with_code(&app, email, &legacy_totp).await, 303, "the old secret still signs in");
    assert_eq!(sign_in_with_code(&app, "admin@branch.test", &totp).await, 303);
}

#[tokio::test]
async fn a_server_without_its_key_does_not_start_and_says_why_in_one_sentence() {
    let app = TestApp::spawn().await;
    let (code, _, err) = run_binary(&app, &["serve", "--addr", "127.0.0.1:0", "--no-demo"], None).await;
    assert_ne!(code, 0);
    let last = err.trim_end().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("loanfloor: LOANFLOOR_SECRET_KEY_FILE is not set: Loanfloor needs the key that encrypts")
            && last.contains("loanfloor new-key FILE"),
        "{err}"
    );
    let missing = scratch("missing.key");
    let (code, _, err) = run_binary(&app, &["migrate"], Some(&missing)).await;
    assert_ne!(code, 0);
    assert!(err.contains("cannot be read") && err.contains(missing.to_str().unwrap()), "{err}");
    let malformed = scratch("bad.key");
    std::fs::write(&malformed, "not a key\n").unwrap();
    let (code, _, err) = run_binary(&app, &["migrate"], Some(&malformed)).await;
    assert_ne!(code, 0);
    assert!(err.contains("does not hold a key: it must hold 64 hexadecimal characters"), "{err}");
    assert!(!err.contains("not a key"), "the file's content is not echoed: {err}");
}

#[tokio::test]
async fn the_embedded_mode_makes_its_own_private_key_and_rotates_it_in_place() {
    let dir = std::env::temp_dir()
        .join(format!("loanfloor-embedded-key-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let run = |args: &'static [&'static str]| {
        let dir = dir.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
                .arg("--data-dir")
                .arg(&dir)
                .args(args)
                .env_remove("DATABASE_URL")
                .env_remove("LOANFLOOR_SECRET_KEY_FILE")
                .env("LOANFLOOR_LOG", "warn")
                .output()
                .await
                .unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
    };
    let result = async {
        let (ok, text) = run(&["migrate"]).await;
        assert!(ok, "{text}");
        let key_file = dir.join("secret.key");
        assert_eq!(mode(&key_file), 0o600, "made private");
        let first = SecretKey::read(&key_file).unwrap().id().to_string();
        let (ok, text) = run(&["rotate-key"]).await;
        assert!(ok, "{text}");
        let second = SecretKey::read(&key_file).unwrap().id().to_string();
        assert_ne!(first, second, "a new key in place");
        assert_eq!(SecretKey::read(&dir.join("secret.key.old")).unwrap().id(), first, "the old key kept");
        assert_eq!(mode(&key_file), 0o600);
        let (ok, text) = run(&["migrate"]).await;
        assert!(ok, "{text}");
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    if let Ok(cluster) = loanfloor::db::EmbeddedPostgres::new(&dir) {
        let _ = tokio::task::spawn_blocking(move || cluster.stop()).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}
