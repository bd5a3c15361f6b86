//! Stays accessible (issue 25): every page in each demo role's navigation, and the records people open from
//! them (a lead, a loss-mitigation case), checked in Chromium with axe-core against WCAG 2.0/2.1 A and AA. Any
//! violation fails the test, naming the page, the rule and the elements.
//!
//! axe-core comes from npm into `target/axe` (`.ci/run` installs it; this test installs it when it is missing,
//! and says what to install when npm itself is missing).

mod common;

use std::path::PathBuf;

use common::TestApp;
use common::browser::Browser;

const AXE_VERSION: &str = "axe-core@4.10.2";

fn axe_source() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let installed = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(AXE_VERSION)
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()) && file.exists(),
            "axe-core is missing and npm could not install it: install Node.js and npm (apt-get install npm)"
        );
    }
    std::fs::read_to_string(file).unwrap()
}

/// The WCAG 2 A/AA violations axe finds on the page the browser shows: "rule (impact): help — elements".
async fn violations(b: &Browser, axe: &str) -> Vec<String> {
    b.client.execute(axe, vec![]).await.expect("axe-core loads in the page");
    let found = b
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                 .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — '
                                 + v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(', '))))
                 .catch(e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await
        .expect("axe runs");
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn every_page_of_every_role_passes_axe_core_wcag_2_a_and_aa() {
    let axe = axe_source();
    let app = TestApp::spawn().await;
    loanfloor::demo::ensure(&app.state).await.unwrap().expect("the demo organisation is created");
    let mut problems = Vec::new();
    let mut pages_checked = 0;
    for (email, opens) in [
        ("admin@demo.loanfloor.test", None),
        ("manager@demo.loanfloor.test", Some("a[href^='/leads/']")),
        ("lo@demo.loanfloor.test", Some("a[href^='/leads/']")),
        ("lossmit@demo.loanfloor.test", Some("a[href^='/lossmit/cases/']")),
        ("lossmit.lead@demo.loanfloor.test", Some("a[href^='/lossmit/cases/']")),
        ("intake@demo.loanfloor.test", None),
    ] {
        let b = Browser::start().await;
        b.sign_in(&app.url(""), email, loanfloor::demo::DEMO_PASSWORD).await;
        b.client.goto(&app.url("/")).await.unwrap();
        let nav = b
            .client
            .execute(
                "return Array.from(document.querySelectorAll('nav[aria-label=Main] a, header a.user'))
                        .map(a => a.getAttribute('href'))",
                vec![],
            )
            .await
            .unwrap();
        let mut paths: Vec<String> =
            nav.as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
        paths.dedup();
        assert!(!paths.is_empty(), "{email} has a navigation");
        if email.starts_with("admin@") {
            // Control: the check sees a violation when there is one (an image without a text alternative).
            b.client
                .execute("const i = document.createElement('img'); i.src = '/x.png'; document.querySelector('main').appendChild(i)", vec![])
                .await
                .unwrap();
            let found = violations(&b, &axe).await;
            assert!(found.iter().any(|v| v.starts_with("image-alt")), "axe reports a missing alt text: {found:?}");
        }
        let mut record: Option<String> = None;
        for path in paths {
            b.client.goto(&app.url(&path)).await.unwrap();
            pages_checked += 1;
            for v in violations(&b, &axe).await {
                problems.push(format!("{path} as {email}: {v}"));
            }
            // The first record these lists link to (a lead, a case) is checked too.
            if let (Some(css), None) = (opens, &record) {
                let script =
                    format!("const a = document.querySelector(\"{css}\"); return a ? a.getAttribute('href') : null");
                record = b.client.execute(&script, vec![]).await.unwrap().as_str().map(str::to_string);
            }
        }
        if let Some(path) = record {
            b.client.goto(&app.url(&path)).await.unwrap();
            pages_checked += 1;
            for v in violations(&b, &axe).await {
                problems.push(format!("{path} as {email}: {v}"));
            }
        } else {
            assert!(opens.is_none(), "{email}'s pages link to no record to check");
        }
        b.close().await;
    }
    eprintln!("axe-core checked {pages_checked} pages");
    assert!(pages_checked >= 30, "only {pages_checked} pages were checked");
    assert!(problems.is_empty(), "accessibility violations (WCAG 2 A/AA):\n{}", problems.join("\n"));
}
