//! In a real browser: each role signs in and lands on its own home page; sign-out really signs out.

mod common;

use common::browser::Browser;
use common::{PASSWORD, TestApp};
use loanfloor::auth::Role;

/// (role, email, team, heading expected on the home page when that page exists in this build)
const PEOPLE: &[(Role, &str, Option<&str>, &str)] = &[
    (Role::Admin, "alex.admin@demo.test", None, "Administration"),
    (Role::Manager, "morgan.reyes@demo.test", Some("Dallas Branch"), ""),
    (Role::Lo, "maria.lopez@demo.test", Some("Dallas Branch"), ""),
    (Role::Lossmit, "jordan.ellis@demo.test", None, ""),
    (Role::LossmitSupervisor, "taylor.brooks@demo.test", None, ""),
    (Role::Intake, "vendor.feed@demo.test", None, "Your account"),
];

/// Whether this build serves a GET page at `path` (other capabilities add the other homes).
fn served(path: &str) -> bool {
    loanfloor::route_table().iter().any(|r| r.method == "GET" && r.path == path)
}

/// The page's path once the browser has arrived at `expected` (or after 5 seconds, whatever it is then).
async fn path_after_navigation(b: &Browser, expected: &str) -> String {
    let mut path = String::new();
    for _ in 0..50 {
        path = b.client.current_url().await.unwrap().path().to_string();
        if path == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    path
}

#[tokio::test]
async fn each_role_signs_in_to_its_own_home_page() {
    let app = TestApp::spawn().await;
    for (role, email, team, _) in PEOPLE {
        app.create_user(*role, email, *team, &["TX"]).await;
    }
    let b = Browser::start().await;
    for (role, email, _, heading) in PEOPLE {
        b.sign_in(&app.url(""), email, PASSWORD).await;
        let landed = path_after_navigation(&b, role.home()).await;
        assert_eq!(landed, role.home(), "{} lands on its home page", role.as_str());
        if served(role.home()) {
            let h1 = b.text("h1").await;
            if heading.is_empty() {
                assert!(!h1.contains("404") && !h1.contains("Sign in"), "{}: {h1}", role.as_str());
            } else {
                assert!(h1.contains(heading), "{}: {h1}", role.as_str());
            }
            // The header shows who is signed in, and sign-out works from any page.
            let who = b.text(".who .user").await;
            assert!(!who.is_empty());
            b.submit(".who button[type=submit]").await;
            assert_eq!(path_after_navigation(&b, "/login").await, "/login", "{} signed out", role.as_str());
        }
        // Make sure the next person starts signed out.
        b.client.delete_all_cookies().await.unwrap();
        if served(role.home()) {
            b.client.goto(&app.url(role.home())).await.unwrap();
            let url = b.client.current_url().await.unwrap();
            assert_eq!(url.path(), "/login", "after sign-out, {} asks for sign-in again", role.home());
        }
    }
    b.close().await;
}

#[tokio::test]
async fn an_admin_adds_a_loan_officer_in_the_browser_and_a_weak_password_is_explained() {
    let app = TestApp::spawn().await;
    app.create_user(Role::Admin, "alex.admin@demo.test", None, &[]).await;
    app.create_user(Role::Manager, "morgan.reyes@demo.test", Some("Dallas Branch"), &[]).await;
    let b = Browser::start().await;
    b.sign_in(&app.url(""), "alex.admin@demo.test", PASSWORD).await;
    b.client.goto(&app.url("/admin/users/new")).await.unwrap();
    let fill = |id: &'static str, v: &'static str| {
        let c = b.client.clone();
        async move { c.find(fantoccini::Locator::Id(id)).await.unwrap().send_keys(v).await.unwrap() }
    };
    fill("name", "Dana Kim").await;
    fill("email", "dana.kim@demo.test").await;
    fill("states", "TX, NM").await;
    fill("password", "password1234").await;
    b.submit("form button.primary").await;
    let body = b.text("main").await;
    assert!(body.contains("commonly used passwords"), "{body}");
    let name = b.client.find(fantoccini::Locator::Id("name")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(name.as_deref(), Some("Dana Kim"), "the form keeps what was typed");
    fill("password", "Escrow-Shortage-Analysis").await;
    b.submit("form button.primary").await;
    let mut h1 = String::new();
    for _ in 0..50 {
        h1 = b.text("h1").await;
        if h1.contains("Dana Kim") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(h1.contains("Dana Kim"), "{h1}");
    assert!(b.text("main").await.contains("Dana Kim was added."));
    b.close().await;
}
