//! Stays accessible (issue 25): every page in each demo role's navigation (with the account page and the
//! notifications behind the bell), and the records people open from them (a lead, an escalation, a
//! loss-mitigation case), checked in Chromium with axe-core against WCAG 2.0/2.1 A and AA, on a desktop window
//! and again at phone size (390×844, where wide tables reflow to cards). Any violation fails the test, naming
//! the page, the size, the rule and the elements.
//!
//! axe-core comes from npm into `target/axe` (`.ci/run` installs it; `Browser::axe_violations` installs it when
//! npm is there, and otherwise says what to run). The demo organisation holds the data: leads through every
//! stage with their calls, escalations waiting and decided, loss-mitigation cases with their deadlines.

mod common;

use common::TestApp;
use common::browser::Browser;

/// The records a role's lists link to, by their address (the prefix, then the record's id): the first of each
/// kind is checked too.
const RECORDS: [(&str, &str); 5] = [
    ("a lead", "/leads/"),
    ("an escalation", "/escalations/"),
    ("a loss-mitigation case", "/lossmit/cases/"),
    ("a referral partner", "/partners/"),
    ("a rate lock", "/locks/"),
];

fn is_record(href: &str, prefix: &str) -> bool {
    href.strip_prefix(prefix).is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
}

/// Every role the product has (auth::Role::ALL), by its demo account.
const DEMO_ROLES: [&str; 9] = [
    "admin@demo.loanfloor.test",
    "manager@demo.loanfloor.test",
    "lo@demo.loanfloor.test",
    "lossmit@demo.loanfloor.test",
    "lossmit.lead@demo.loanfloor.test",
    "intake@demo.loanfloor.test",
    "marketing@demo.loanfloor.test",
    "compliance@demo.loanfloor.test",
    "underwriter@demo.loanfloor.test",
];

async fn hrefs(b: &Browser, css: &str) -> Vec<String> {
    let script = format!("return [...document.querySelectorAll(\"{css}\")].map(a => a.getAttribute('href'))");
    let found = b.client.execute(&script, vec![]).await.unwrap();
    found.as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

#[tokio::test]
async fn every_page_of_every_role_passes_axe_core_wcag_2_a_and_aa() {
    let app = TestApp::spawn().await;
    loanfloor::demo::ensure(&app.state).await.unwrap().expect("the demo organisation is created");
    assert_eq!(DEMO_ROLES.len(), loanfloor::auth::Role::ALL.len(), "every role has a demo account here");
    // A saved fair-lending run over the demo's requests, for the compliance officer's pages.
    loanfloor::fair_lending::tables::load(app.db(), false, "test").await.unwrap();
    let compliance: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'compliance@demo.loanfloor.test'")
            .fetch_one(app.db())
            .await
            .unwrap();
    let res = app
        .api(&app.token_for(compliance).await)
        .post(app.url("/api/v1/fair-lending/runs"))
        .json(&serde_json::json!({"from": "2000-01-01", "to": "2100-12-31", "grouping": "lo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "a fair-lending run");
    let run = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let mut problems = Vec::new();
    let mut pages_checked = 0;
    let mut kinds_checked = std::collections::BTreeSet::new();
    for email in DEMO_ROLES {
        let b = Browser::start().await;
        if email == DEMO_ROLES[0] {
            // The sign-in page, which everyone sees first.
            b.client.goto(&app.url("/login")).await.unwrap();
            pages_checked += 1;
            for v in b.axe_violations().await {
                problems.push(format!("/login: {v}"));
            }
        }
        b.sign_in(&app.url(""), email, loanfloor::demo::DEMO_PASSWORD).await;
        let mut paths = hrefs(&b, "nav[aria-label=Main] a, header a.user, header a.bell").await;
        paths.dedup();
        assert!(paths.len() >= 2, "{email} has a navigation: {paths:?}");
        if email.starts_with("admin@") {
            // Control: the check sees a violation when there is one (an image without a text alternative).
            b.client
                .execute("const i = document.createElement('img'); i.src = '/x.png'; document.querySelector('main').appendChild(i)", vec![])
                .await
                .unwrap();
            let found = b.axe_violations().await;
            assert!(found.iter().any(|v| v.id == "image-alt"), "axe reports a missing alt text: {found:?}");
        }
        // The first record of each kind that this role's pages link to.
        let mut records: Vec<String> = Vec::new();
        for path in paths.clone() {
            b.client.goto(&app.url(&path)).await.unwrap();
            let links = hrefs(&b, "main a[href]").await;
            for (kind, prefix) in RECORDS {
                if records.iter().any(|r| is_record(r, prefix)) {
                    continue;
                }
                if let Some(link) = links.iter().find(|h| is_record(h, prefix)) {
                    records.push(link.clone());
                    kinds_checked.insert(kind);
                }
            }
        }
        paths.extend(records);
        if email.starts_with("admin@") {
            // Pages the admin reaches from the admin page rather than the navigation.
            paths.extend(
                [
                    "/admin/retention",
                    "/admin/data-request",
                    "/admin/lock-investors",
                    "/admin/pmi-rates",
                    "/locks?status=locked",
                ]
                .map(String::from),
            );
        }
        if email.starts_with("compliance@") {
            paths.extend([
                format!("/compliance/fair-lending/runs/{run}"),
                format!("/compliance/fair-lending/runs/{run}/requests?scope=all&group=hispanic"),
            ]);
        }
        for (size, (width, height)) in [("desktop", (1280, 900)), ("phone", (390, 844))] {
            b.client.set_window_size(width, height).await.unwrap();
            for path in &paths {
                b.client.goto(&app.url(path)).await.unwrap();
                pages_checked += 1;
                for v in b.axe_violations().await {
                    problems.push(format!("{path} as {email} ({size}): {v}"));
                }
                // One navigation entry says it is the current page (axe does not check this).
                let current = hrefs(&b, "nav[aria-label=Main] a[aria-current=page]").await;
                if current.len() > 1 {
                    problems.push(format!(
                        "{path} as {email} ({size}): several current pages in the navigation: {current:?}"
                    ));
                }
            }
        }
        b.close().await;
    }
    eprintln!("axe-core checked {pages_checked} pages, records: {kinds_checked:?}");
    assert_eq!(
        kinds_checked.len(),
        RECORDS.len(),
        "a lead, an escalation, a case, a partner and a lock were each checked"
    );
    assert!(pages_checked >= 80, "only {pages_checked} pages were checked");
    assert!(problems.is_empty(), "accessibility violations (WCAG 2 A/AA):\n{}", problems.join("\n"));
}
