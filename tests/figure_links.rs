//! Drill-down: every number on the manager dashboard (as admin, manager and marketing), on the LO's own page and on
//! the referral partners and coaching pages links to the lead list behind it,
//! and that list's total is the number. The organisation is built through the product (the leads API with
//! tokens, stage moves and calls through the API, the controllable clock moving time); nothing is written with
//! SQL. Also: a parameter the list does not know is a 422 naming it, on the page, the export and the API.

mod common;

use std::collections::HashMap;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

const WON: [&str; 8] =
    ["new", "contacted", "prequalified", "application", "processing", "underwriting", "clear_to_close", "funded"];
const REASONS: [&str; 4] = ["rate", "no_contact", "credit", "other_lender"];
const SOURCES: [&str; 4] = ["zillow", "lendingtree", "web", "referral"];
const CAMPAIGNS: [Option<&str>; 3] = [Some("spring"), Some("refi-push"), None];
const STATES: [&str; 3] = ["TX", "CA", "FL"];

/// A small deterministic generator (the same organisation every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

struct Org {
    admin: reqwest::Client,
    /// Marketing: every team's figures, the anonymous lists behind them.
    marketing: (reqwest::Client, reqwest::Client),
    admin_api: reqwest::Client,
    managers: Vec<(&'static str, reqwest::Client)>,
    officers: Vec<(Uuid, String, reqwest::Client)>,
    teams: Vec<Uuid>,
}

async fn ok_json(res: reqwest::Response, what: &str) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status} {body}");
    serde_json::from_str(&body).unwrap()
}

/// Two teams with a manager and two LOs each, an admin and an intake integration; about ninety leads over
/// seven weeks from four sources, three campaigns and three states (plus New York, where nobody is licensed,
/// so those wait in the organisation's queue), worked along the won path, some lost with reasons, some funded.
async fn build_org(app: &TestApp) -> Org {
    let admin_id = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let mut officers = Vec::new();
    let mut teams = Vec::new();
    let mut managers = Vec::new();
    for (team, mgr, names) in [
        ("North", "mgr.north@lender.test", ["ann.lo@lender.test", "bob.lo@lender.test"]),
        ("South", "mgr.south@lender.test", ["cy.lo@lender.test", "dee.lo@lender.test"]),
    ] {
        app.create_user(Role::Manager, mgr, Some(team), &[]).await;
        managers.push(mgr);
        for email in names {
            let id = app.create_user(Role::Lo, email, Some(team), &STATES).await;
            officers.push((id, email.to_string(), app.api(&app.token_for(id).await)));
        }
        teams.push(
            sqlx::query_scalar("SELECT id FROM teams WHERE name = $1").bind(team).fetch_one(app.db()).await.unwrap(),
        );
    }
    let intake = app.create_user(Role::Intake, "vendor@lender.test", None, &[]).await;
    let vendor = app.api(&app.token_for(intake).await);
    let admin_api = app.api(&app.token_for(admin_id).await);
    // Two referral partners, named on every fifth and every seventh lead.
    let mut partners = Vec::new();
    for company in ["Lone Star Realty", "Hill Country Builders"] {
        let p = ok_json(
            admin_api.post(app.url("/api/v1/partners")).json(&json!({"company": company})).send().await.unwrap(),
            "partner",
        )
        .await;
        partners.push(p["id"].as_str().unwrap().to_string());
    }
    let mut rng = Rng(17);
    let mut n = 0;
    // Three batches: seven weeks ago (outside the default 30-day range), then day by day over the last ten days.
    for batch in 0..12 {
        let count = if batch == 0 { 14 } else { 7 };
        for _ in 0..count {
            n += 1;
            let by_vendor = rng.next(4) == 0;
            let state = if by_vendor && rng.next(3) == 0 { "NY" } else { STATES[rng.next(3)] };
            let mut body = json!({
                "first_name": format!("Bo{n}"), "last_name": format!("Rrower{n}"),
                "phone": format!("512-555-{:04}", 1000 + n), "email": format!("b{n}@example.com"),
                "source": SOURCES[rng.next(4)], "property_state": state,
                "loan_purpose": if rng.next(2) == 0 { "purchase" } else { "refinance" },
                "loan_amount_cents": 10_000_000 + 1_000_000 * rng.next(30) as i64,
            });
            if let Some(c) = CAMPAIGNS[rng.next(3)] {
                body["campaign"] = json!(c);
            }
            if n % 5 == 0 {
                body["referral_partner_id"] = json!(partners[0]);
            } else if n % 7 == 0 {
                body["referral_partner_id"] = json!(partners[1]);
            }
            let (creator, lo_api, lo_k) = if by_vendor {
                (&vendor, None, None)
            } else {
                let k = rng.next(officers.len());
                (&officers[k].2, Some(&officers[k].2), Some(k))
            };
            let lead =
                ok_json(creator.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap(), "create").await;
            let id = lead["id"].as_str().unwrap().to_string();
            let url = app.url(&format!("/api/v1/leads/{id}"));
            // A call or two by the LO who owns it.
            if let Some(api) = lo_api {
                for _ in 0..rng.next(3) {
                    let outcome = if rng.next(2) == 0 { "contacted" } else { "no_answer" };
                    let call = json!({"kind": "call", "outcome": outcome, "talk_seconds": 60 * rng.next(10)});
                    ok_json(api.post(format!("{url}/activities")).json(&call).send().await.unwrap(), "call").await;
                }
            }
            // Worked along the won path (the admin moves it; the stage change records the lead's LO), maybe
            // skipping a stage, then sometimes lost with a reason.
            let depth = rng.next(8);
            let mut version = lead["version"].as_i64().unwrap();
            let mut at = 0;
            while at < depth {
                at = (at + 1 + rng.next(2)).min(7);
                let moved = json!({"stage": WON[at], "version": version});
                let lead =
                    ok_json(admin_api.post(format!("{url}/stage")).json(&moved).send().await.unwrap(), "stage").await;
                version = lead["version"].as_i64().unwrap();
                app.state.clock.advance(chrono::Duration::minutes(7));
            }
            // Sometimes the LO asks for a pricing exception, and the admin decides most of them.
            if let Some(api) = lo_api.filter(|_| at == 7 || rng.next(3) == 0) {
                let bps = 10 + 5 * rng.next(6);
                let ask = json!({"lead_id": id, "kind": "pricing_exception", "concession_bps": bps,
                                 "reason": "competitor_match"});
                let filed =
                    ok_json(api.post(app.url("/api/v1/escalations")).json(&ask).send().await.unwrap(), "ask").await;
                let decision = match rng.next(4) {
                    0 => None,
                    1 => Some(json!({"decision": "deny", "note": "no"})),
                    2 => Some(json!({"decision": "counter", "counter_bps": 5, "note": "meet halfway"})),
                    _ => Some(json!({"decision": "approve", "note": "ok"})),
                };
                if let Some(d) = decision {
                    let url = app.url(&format!("/api/v1/escalations/{}/decision", filed["id"].as_str().unwrap()));
                    ok_json(admin_api.post(url).json(&d).send().await.unwrap(), "decide").await;
                }
            }
            if at < 7 && rng.next(4) == 0 {
                let lost = json!({"stage": "lost", "lost_reason": REASONS[rng.next(4)], "version": version});
                let lead =
                    ok_json(admin_api.post(format!("{url}/stage")).json(&lost).send().await.unwrap(), "lost").await;
                // Sometimes won back and lost again: two losses on one lead (the lost cohort counts both).
                if rng.next(2) == 0 {
                    let back = json!({"stage": "contacted", "version": lead["version"]});
                    let lead =
                        ok_json(admin_api.post(format!("{url}/stage")).json(&back).send().await.unwrap(), "back").await;
                    let again =
                        json!({"stage": "lost", "lost_reason": REASONS[rng.next(4)], "version": lead["version"]});
                    ok_json(admin_api.post(format!("{url}/stage")).json(&again).send().await.unwrap(), "again").await;
                }
            }
            // Sometimes handed to a colleague and back the same day: two assignments of one lead to one LO in
            // the range (the assigned cohort counts both).
            if let Some(k) = lo_k {
                if rng.next(5) == 0 {
                    let other = &officers[(k + 1) % officers.len()];
                    for to in [other.0, officers[k].0] {
                        let body = json!({"lo_id": to, "reason": "covering a day off"});
                        let res = admin_api.post(app.url(&format!("/api/v1/leads/{id}/assign")));
                        ok_json(res.json(&body).send().await.unwrap(), "reassign").await;
                        app.state.clock.advance(chrono::Duration::minutes(3));
                    }
                }
            }
            app.state.clock.advance(chrono::Duration::minutes(37));
        }
        let days = if batch == 0 { 45 } else { 1 };
        app.state.clock.advance(chrono::Duration::days(days));
    }
    // Signed in now: a session would not have survived the weeks the clock moved.
    let mut signed_in = Vec::new();
    for m in managers {
        signed_in.push((m, app.login(m).await));
    }
    let marketing_id = app.create_user(Role::Marketing, "marketing@lender.test", None, &[]).await;
    let marketing = (app.login("marketing@lender.test").await, app.api(&app.token_with(marketing_id, &["read"]).await));
    Org { admin: app.login("admin@lender.test").await, admin_api, managers: signed_in, officers, teams, marketing }
}

fn strip_tags(s: &str) -> String {
    common::text_of(s).trim().to_string()
}

/// A figure: a count, or a rate in percent.
#[derive(Debug, Clone, PartialEq)]
enum Figure {
    Count(i64),
    Percent(f64),
}

/// The lists a figure can open.
const LISTS: [&str; 5] = ["/leads?", "/escalations?", "/lossmit?", "/availability/cadence?", "/locks?"];

/// Every `<a href="/leads?...">` (or another list of [`LISTS`]) whose text starts with a number, with that number.
fn figure_links(html: &str) -> Vec<(String, Figure)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<a ") {
        rest = &rest[i..];
        let end = rest.find("</a>").unwrap();
        let tag = &rest[..end];
        rest = &rest[end..];
        let Some(h) = LISTS.iter().find_map(|path| tag.find(&format!("href=\"{path}"))) else { continue };
        let href_start = h + "href=\"".len();
        let href = &tag[href_start..href_start + tag[href_start..].find('"').unwrap()];
        // An average, median or sum links the records it is over, and names how many (`data-over`).
        if let Some(at) = tag[..tag.find('>').unwrap()].find("data-over=\"") {
            let n = &tag[at + 11..];
            let n: i64 = n[..n.find('"').unwrap()].parse().unwrap();
            *NONZERO.lock().unwrap().entry("data-over").or_insert(0) += usize::from(n > 0);
            out.push((common::unescape_href(href), Figure::Count(n)));
            continue;
        }
        let text = strip_tags(&tag[tag.find('>').unwrap() + 1..]);
        let number: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.').collect();
        if number.is_empty() {
            continue;
        }
        let after = &text[number.len()..];
        let number = number.replace(',', "");
        let figure = if after.starts_with('%') {
            Figure::Percent(number.parse().unwrap())
        } else {
            assert!(!after.starts_with('+'), "a capped figure in a small organisation: {text}");
            Figure::Count(number.parse().unwrap())
        };
        out.push((common::unescape_href(href), figure));
    }
    out
}

/// The list's total for a link (the page's "N leads"), checked against the API's total for the same filter.
async fn list_total(app: &TestApp, page: &reqwest::Client, api: Option<&reqwest::Client>, href: &str) -> i64 {
    let total = app.list_total(page, href).await;
    if let Some(api) = api.filter(|_| href.starts_with("/leads?")) {
        let query = href.trim_start_matches("/leads?");
        let v = ok_json(api.get(app.url(&format!("/api/v1/leads?{query}&limit=1"))).send().await.unwrap(), href).await;
        // Cohorts `assigned` and `lost` count the figure's facts (assignments, losses) before their leads.
        let key = ["assignments", "losses"].into_iter().find(|k| v.get(*k).is_some()).unwrap_or("total");
        assert_eq!(v[key], total, "{href}: the API's {key} is the page's total");
        assert_eq!(v["total_capped"], false);
        if v["total"].as_i64().unwrap() < total {
            *NONZERO.lock().unwrap().entry("facts>leads").or_insert(0) += 1;
        }
    }
    // The other lists' APIs take the same parameters and total the same (a session reads the API too).
    for (list, api_path, key) in [
        ("/availability/cadence?", "/api/v1/availability/cadence?", "total"),
        ("/lossmit?", "/api/v1/lossmit/cases?", "total"),
        ("/escalations?", "/api/v1/escalations?", "total"),
    ] {
        if let Some(query) = href.strip_prefix(list) {
            let v = ok_json(page.get(app.url(&format!("{api_path}{query}"))).send().await.unwrap(), href).await;
            assert_eq!(v[key], total, "{href}: the API's {key} is the page's");
        }
    }
    total
}

fn without(href: &str, keys: &[&str]) -> String {
    let (path, query) = href.split_once('?').unwrap();
    let kept: Vec<&str> = query.split('&').filter(|p| !keys.iter().any(|k| p.starts_with(&format!("{k}=")))).collect();
    format!("{path}?{}", kept.join("&"))
}

/// Opens every figure link of `path` as `who` and compares; returns how many links were checked.
async fn check_page(
    app: &TestApp,
    who: &str,
    page: &reqwest::Client,
    api: Option<&reqwest::Client>,
    path: &str,
    failures: &mut Vec<String>,
) -> usize {
    let res = page.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{who} {path}");
    let html = res.text().await.unwrap();
    let links = figure_links(&html);
    let mut totals: HashMap<String, i64> = HashMap::new();
    for (href, figure) in &links {
        let total = match totals.get(href) {
            Some(t) => *t,
            None => {
                let t = list_total(app, page, api, href).await;
                totals.insert(href.clone(), t);
                t
            }
        };
        let agrees = match figure {
            Figure::Count(n) => *n == total,
            // A rate's link lists its numerator; the same link without the stage lists its denominator.
            Figure::Percent(p) => {
                let base = without(href, &["stage", "reached", "contact", "speed", "called"]);
                let denominator = list_total(app, page, None, &base).await;
                denominator > 0 && ((1000.0 * total as f64 / denominator as f64).round() / 10.0 - p).abs() < 0.051
            }
        };
        if !agrees {
            failures.push(format!("{who} {path}: {figure:?} but the list behind {href} has {total}"));
        }
    }
    for (href, figure) in &links {
        for kind in KINDS {
            if href.contains(kind) && figure != &Figure::Count(0) {
                *NONZERO.lock().unwrap().entry(kind).or_insert(0) += 1;
            }
        }
        // The hiring view's bands name several LOs at once.
        if figure != &Figure::Count(0)
            && href.split(['?', '&']).any(|p| p.starts_with("lo=") && (p.contains(',') || p.contains("%2C")))
        {
            *NONZERO.lock().unwrap().entry("lo=a,b").or_insert(0) += 1;
        }
    }
    links.len()
}

/// The filters the test counts non-zero figures of.
const KINDS: [&str; 19] = [
    "reached=1",
    "cohort=assigned",
    "cohort=lost",
    "stale=1",
    "open=1",
    "scope=figures",
    "source=",
    "campaign=",
    "partner=",
    "outcome=decided",
    "outcome=granted",
    "outcome=funded",
    "load=1",
    "uncontacted=1",
    "tasks=due",
    "contact=1",
    "speed=5m",
    "called=1",
    "called=lt2",
];

/// Links with a non-zero figure, by the kind of filter they carry (so the test cannot pass on zeros).
static NONZERO: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

#[tokio::test]
async fn every_figure_on_the_dashboard_the_lo_page_and_the_partners_page_opens_exactly_the_leads_behind_it() {
    let app = TestApp::spawn().await;
    let org = build_org(&app).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut views = vec!["/dashboard".to_string()];
    views.push(format!("/dashboard?team={}", org.teams[0]));
    views.push("/dashboard?source=Zillow&state=tx".into());
    views.push("/dashboard?campaign=spring&purpose=refinance".into());
    views.push(format!("/dashboard?lo={}", org.officers[2].0));
    let today = app.state.clock.now().with_timezone(&app.state.config.timezone).date_naive();
    views.push(format!(
        "/dashboard?from={}&to={}",
        today - chrono::Duration::days(70),
        today - chrono::Duration::days(3)
    ));
    views.push("/partners".into());
    for view in &views {
        checked += check_page(&app, "admin", &org.admin, Some(&org.admin_api), view, &mut failures).await;
        checked += check_page(&app, "marketing", &org.marketing.0, Some(&org.marketing.1), view, &mut failures).await;
        for (name, mgr) in &org.managers {
            checked += check_page(&app, name, mgr, None, view, &mut failures).await;
        }
    }
    // The admin's home: leads waiting unassigned, as the dashboard counts them.
    checked += check_page(&app, "admin", &org.admin, Some(&org.admin_api), "/admin", &mut failures).await;
    // The availability board: each LO's open leads (their load) and new leads not yet reached.
    for (who, page) in std::iter::once(("admin", &org.admin)).chain(org.managers.iter().map(|(n, c)| (*n, c))) {
        checked += check_page(&app, who, page, None, "/availability", &mut failures).await;
    }
    // The concession reports: every request, decided, granted and funded count opens the approvals list.
    for (who, page) in std::iter::once(("admin", &org.admin)).chain(org.managers.iter().map(|(n, c)| (*n, c))) {
        checked += check_page(&app, who, page, None, "/escalations/reports", &mut failures).await;
    }
    // Coaching's per-LO figures (the dashboard's definitions over the last 30 days).
    checked += check_page(&app, "admin", &org.admin, Some(&org.admin_api), "/coaching", &mut failures).await;
    for (name, mgr) in &org.managers {
        checked += check_page(&app, name, mgr, None, "/coaching", &mut failures).await;
    }
    for (_, email, api) in &org.officers {
        let page = app.login(email).await;
        checked += check_page(&app, email, &page, Some(api), "/me/metrics", &mut failures).await;
        let range = format!("/me/metrics?from={}&to={}", today - chrono::Duration::days(70), today);
        checked += check_page(&app, email, &page, Some(api), &range, &mut failures).await;
        checked += check_page(&app, email, &page, Some(api), "/partners", &mut failures).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} figure links disagree with their lists:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 300, "only {checked} figure links were checked");
    let nonzero = NONZERO.lock().unwrap().clone();
    eprintln!("{checked} figure links checked; non-zero ones by filter: {nonzero:?}");
    for kind in KINDS.iter().chain(&["lo=a,b", "facts>leads", "data-over"]) {
        assert!(nonzero.get(kind).copied().unwrap_or(0) >= 2, "too few non-zero figures with {kind}: {nonzero:?}");
    }
}

#[tokio::test]
async fn a_parameter_the_list_does_not_know_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (lo, page) = app.login_as(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let api = app.api(&app.token_for(lo).await);
    let created = json!({"first_name": "Ana", "last_name": "Reyes", "phone": "512-555-0142", "property_state": "TX"});
    ok_json(api.post(app.url("/api/v1/leads")).json(&created).send().await.unwrap(), "create").await;

    // The page: re-rendered with a message naming the parameter, 422, no leads listed.
    let res = page.get(app.url("/leads?stage=new&lost_reasons=rate")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"filter-error\"") && html.contains("lost_reasons:"), "{html}");
    assert!(!html.contains("Reyes"), "nothing is listed under a filter that was not applied");
    // The export and the API.
    let res = page.get(app.url("/leads/export.csv?colour=red")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("colour:"));
    for bad in [
        "colour=red",
        "from=2026-13-01",
        "to=yesterday",
        "lo=ann",
        "team=north",
        "reached=yes",
        "stage=lost&reached=1",
        "cohort=everyone",
        "stale=2",
        "limit=ten",
        "stage=new&stage=lost",
        "scope=all",
        "lost_from=funded",
        "load=yes",
        "uncontacted=2",
        "contact=maybe",
        "speed=5m",
        "called=3",
    ] {
        let res = api.get(app.url(&format!("/api/v1/leads?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        let v: Value = res.json().await.unwrap();
        let field = bad.split('=').next().unwrap();
        let field = if bad.contains("reached=1") { "reached" } else { field };
        assert!(v["errors"][field].is_array(), "{bad} names {field}: {v}");
    }
    // What the pages send today still works: the list form (empty fields), pagination, sort, the export.
    for ok in [
        "/leads?q=&stage=&source=&age=&state=&purpose=&lo=&sort=",
        "/leads?sort=oldest&limit=1",
        "/leads?queue=unassigned&age=7d&sort=oldest",
        "/leads/export.csv?stage=new",
    ] {
        assert_eq!(page.get(app.url(ok)).send().await.unwrap().status(), 200, "{ok}");
    }
    let v = ok_json(api.get(app.url("/api/v1/leads?limit=1")).send().await.unwrap(), "list").await;
    assert_eq!((v["total"].as_i64(), v["items"].as_array().unwrap().len()), (Some(1), 1));
    // The approvals list (behind the concession reports), page and API alike.
    for bad in ["colour=red", "from=2026-13-01", "to=yesterday", "lo=ann", "team=north", "outcome=won", "status=lost"] {
        let field = bad.split('=').next().unwrap();
        let res = api.get(app.url(&format!("/api/v1/escalations?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        let v: Value = res.json().await.unwrap();
        assert!(v["errors"][field].is_array(), "{bad} names {field}: {v}");
        let res = page.get(app.url(&format!("/escalations?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        assert!(res.text().await.unwrap().contains(&format!("{field}:")), "{bad}");
    }
    let v =
        ok_json(api.get(app.url("/api/v1/escalations?status=all&outcome=granted")).send().await.unwrap(), "list").await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn an_assignment_since_handed_on_still_opens_from_the_figure_without_the_borrower() {
    let app = TestApp::spawn().await;
    let admin_id = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let admin_api = app.api(&app.token_for(admin_id).await);
    let (ann, ann_page) = app.login_as(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let bob = app.create_user(Role::Lo, "bob.lo@lender.test", Some("North"), &["TX"]).await;
    let ann_api = app.api(&app.token_for(ann).await);
    let created = json!({"first_name": "Ana", "last_name": "Reyes", "phone": "512-555-0142", "property_state": "TX"});
    let lead = ok_json(ann_api.post(app.url("/api/v1/leads")).json(&created).send().await.unwrap(), "create").await;
    let id = lead["id"].as_str().unwrap();
    let body = json!({"lo_id": bob, "reason": "Ann is on leave"});
    ok_json(admin_api.post(app.url(&format!("/api/v1/leads/{id}/assign"))).json(&body).send().await.unwrap(), "assign")
        .await;

    // Ann's numbers still count the lead she was assigned; the figure opens it, without the borrower.
    let html = ann_page.get(app.url("/me/metrics")).send().await.unwrap().text().await.unwrap();
    let (href, figure) = figure_links(&html)
        .into_iter()
        .find(|(h, _)| h.contains("cohort=assigned") && !h.contains("stage=") && !h.contains("contact="))
        .expect("the assigned figure links its leads");
    assert_eq!(figure, Figure::Count(1), "{href}");
    assert_eq!(app.list_total(&ann_page, &href).await, 1, "{href}");
    let list = ann_page.get(app.url(&common::unescape_href(&href))).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("no longer in your leads"), "{list}");
    assert!(!list.contains("Reyes") && !list.contains("555-0142"), "no borrower on a lead that is not Ann's: {list}");
    assert!(!list.contains(&format!("/leads/{id}\"")), "no link to a lead that is not Ann's");
    // Her own lead list and the lead page do not have it.
    let mine = ann_page.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(!mine.contains(&id[..8]) && !mine.contains("Reyes"), "{mine}");
    let res = ann_page.get(app.url(&format!("/leads/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    // The API answers the same, with the row marked.
    let query = common::unescape_href(&href).trim_start_matches("/leads?").to_string();
    let v = ok_json(ann_api.get(app.url(&format!("/api/v1/leads?{query}"))).send().await.unwrap(), "api").await;
    assert_eq!(v["assignments"], 1);
    assert_eq!(v["items"][0]["in_scope"], false);
    assert_eq!(v["items"][0]["last_name"], "");
}
