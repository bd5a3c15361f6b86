//! Browser harness: one chromedriver per test process, headless Debian Chromium, driven with fantoccini.
//! Browser tests take a lock so only one Chromium runs at a time on small machines.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

static DRIVER: Mutex<Option<(Child, u16)>> = Mutex::new(None);
static ONE_AT_A_TIME: AsyncMutex<()> = AsyncMutex::const_new(());

fn driver_port() -> u16 {
    let mut guard = DRIVER.lock().unwrap();
    if let Some((_, port)) = guard.as_ref() {
        return *port;
    }
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("browser tests need Chromium and its driver: apt-get install chromium chromium-driver");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    *guard = Some((child, port));
    port
}

/// A browser session, holding the one-at-a-time lock until dropped.
pub struct Browser {
    pub client: Client,
    _turn: MutexGuard<'static, ()>,
    _profile: tempdir::TempDir,
}

mod tempdir {
    /// A fresh user-data directory, removed afterwards.
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("lf-chrome-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    pub async fn start() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        // Two TLS backends are linked (reqwest's and fantoccini's); pick one explicitly.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let port = driver_port();
        let profile = tempdir::TempDir::new();
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                         format!("--user-data-dir={}", profile.0.display()), "--window-size=1280,900"]
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let client = ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session starts");
        Browser { client, _turn: turn, _profile: profile }
    }

    /// Opens the login page and signs in.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.client.goto(&format!("{base}/login")).await.unwrap();
        self.client.find(Locator::Id("email")).await.unwrap().send_keys(email).await.unwrap();
        self.client.find(Locator::Id("password")).await.unwrap().send_keys(password).await.unwrap();
        self.submit("button[type=submit].primary").await;
    }

    /// Clicks `css` (a submit button or a link) and waits until the next page has replaced this one and has
    /// loaded, so what the test reads next is the answer to the click, never the page it clicked on.
    pub async fn submit(&self, css: &str) {
        self.click_to_next_page(Locator::Css(css)).await;
    }

    /// Follows the link with exactly this text and waits for the next page.
    pub async fn follow(&self, link_text: &str) {
        self.click_to_next_page(Locator::LinkText(link_text)).await;
    }

    async fn click_to_next_page(&self, target: Locator<'_>) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.client.find(target).await.unwrap().click().await.unwrap();
        let mut replaced = false;
        for _ in 0..200 {
            if old.tag_name().await.is_err() {
                replaced = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(replaced, "the click did not load another page within 10 s");
        self.loaded().await;
    }

    /// Waits until the current document has finished loading.
    async fn loaded(&self) {
        for _ in 0..200 {
            let state = self.client.execute("return document.readyState", vec![]).await;
            if matches!(state, Ok(serde_json::Value::String(s)) if s == "complete") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the page did not finish loading within 10 s");
    }

    /// The text of the first element matching `css`, retrying for up to 10 s while the page is still loading
    /// after a click (the element may not exist yet, or may go stale as the next page replaces it).
    pub async fn text(&self, css: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            match self.client.find(Locator::Css(css)).await {
                Ok(el) => match el.text().await {
                    Ok(t) => return t,
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no readable element {css}: {last}")
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// The WCAG 2.0/2.1 A and AA violations axe-core finds on the page the browser shows (issue 25, "Stays
    /// accessible"). axe-core comes from npm into `target/axe`: `.ci/run` installs it, and so does this helper
    /// when npm is there; without either the test fails saying what to run.
    pub async fn axe_violations(&self) -> Vec<AxeViolation> {
        let script = axe_core_source();
        self.client.execute(&script, vec![]).await.expect("axe-core loads in the page");
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                     .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help,
                                                             targets: v.nodes.map(n => n.target.join(' '))}))))
                     .catch(e => done([{id: 'axe-failed', impact: '', help: String(e), targets: []}]));"#,
                vec![],
            )
            .await
            .expect("axe runs");
        serde_json::from_value(found).expect("axe answers a list of violations")
    }
}

/// One rule axe-core found broken on a page, with the CSS selectors of the elements that break it.
#[derive(Debug, serde::Deserialize)]
pub struct AxeViolation {
    pub id: String,
    pub impact: String,
    pub help: String,
    pub targets: Vec<String>,
}

impl std::fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {} — {}", self.id, self.impact, self.help, self.targets.join(", "))
    }
}

/// The pinned axe-core the accessibility checks run (the same version `.ci/run` installs).
pub const AXE_CORE: &str = "axe-core@4.10.2";

fn axe_core_source() -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() && Command::new("npm").arg("--version").stdout(Stdio::null()).status().is_ok() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(AXE_CORE)
            .status();
    }
    std::fs::read_to_string(&file).unwrap_or_else(|_| {
        panic!(
            "axe-core is not installed: run `npm install --no-save --prefix target/axe {AXE_CORE}` (or bash .ci/run)"
        )
    })
}
