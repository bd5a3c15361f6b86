//! Fair-lending monitoring (issue 28), as a compliance officer, an LO and an approver use it: the BISG tables
//! loaded from the shipped files give the hand-computed posteriors; pricing exceptions filed and decided through
//! the API with a planted disparity are flagged, the same without one are not; HMDA demographics recorded by the
//! LO replace the proxy; only compliance and admins open the analysis; runs are saved, exported and audited;
//! the approver sees a consistency check with no protected-class information.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::fair_lending::tables;
use serde_json::{Value, json};
use uuid::Uuid;

/// Loads the shipped tables as `loanfloor bisg load` does.
async fn load_tables(app: &TestApp) {
    let report = tables::load(app.db(), false, "test").await.unwrap();
    assert!(report.loaded);
}

#[tokio::test]
async fn bisg_from_the_loaded_tables_matches_hand_computed_posteriors() {
    let app = TestApp::spawn().await;
    // Nothing loaded yet: no proxy at all.
    let none = tables::proxies(app.db(), &[("Garcia".into(), Some("78520".into()))]).await.unwrap();
    assert_eq!(none, vec![None]);
    let first = tables::load(app.db(), false, "test").await.unwrap();
    // The files' data rows (wc -l less the header), less the 144 ZCTAs without population (empty rows).
    assert_eq!((first.surnames, first.zctas, first.loaded), (162_254, 32_976, true));
    let again = tables::load(app.db(), false, "test").await.unwrap();
    assert!(!again.loaded, "at start, loaded tables are left alone");
    let replaced = tables::load(app.db(), true, "cli").await.unwrap();
    assert_eq!((replaced.surnames, replaced.zctas, replaced.loaded), (162_254, 32_976, true));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM bisg_surnames").fetch_one(app.db()).await.unwrap();
    assert_eq!(n, 162_254, "a reload replaces, it does not add");
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'fair_lending.bisg_load'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(audited, 2);

    // Hand-computed from the CSV rows (python3: p = s[i]·z[i]; p / Σp), see src/fair_lending/bisg.rs.
    let people: Vec<(String, Option<String>)> = vec![
        ("García".into(), Some("78520".into())),
        ("washington".into(), Some("60621-1234".into())),
        ("Nguyen".into(), Some("96817".into())),
        ("Smith".into(), Some("10001".into())),
        ("Qzxqvvy".into(), Some("60621".into())),
        ("Smith".into(), Some("00000".into())),
        ("Olson".into(), None),
    ];
    let got = tables::proxies(app.db(), &people).await.unwrap();
    let want: [[f64; 6]; 5] = [
        [0.001111, 0.000015, 0.000279, 0.000109, 0.000031, 0.998455],
        [0.000043, 0.997175, 0.000011, 0.000257, 0.002287, 0.000228],
        [0.000077, 0.000004, 0.991094, 0.000002, 0.008717, 0.000105],
        [0.743324, 0.173061, 0.020757, 0.002306, 0.032066, 0.028486],
        // Not on the list: the "ALL OTHER NAMES" row in 60621.
        [0.005441, 0.962392, 0.002917, 0.003216, 0.013902, 0.01213],
    ];
    for (i, w) in want.iter().enumerate() {
        let p = got[i].unwrap().probs;
        for g in 0..6 {
            assert!((p[g] - w[g]).abs() < 5e-6, "{:?}: {p:?} vs {w:?}", people[i]);
        }
    }
    // A ZIP not in the table, and no ZIP: the surname row alone (SMITH: 0.709 white of a row summing to 0.9999).
    use loanfloor::fair_lending::bisg::Basis;
    assert_eq!(got[5].unwrap().basis, Basis::SurnameOnly);
    assert!((got[5].unwrap().probs[0] - 0.709 / 0.9999).abs() < 1e-9);
    assert_eq!(got[6].unwrap().basis, Basis::SurnameOnly);
    assert!((got[6].unwrap().probs[0] - 0.9476).abs() < 1e-9);
}

struct World {
    app: TestApp,
    admin: reqwest::Client,
    compliance: reqwest::Client,
    manager: reqwest::Client,
    lo: reqwest::Client,
    lo_api: reqwest::Client,
    marketing: reqwest::Client,
    leads: Vec<(Uuid, &'static str)>,
}

/// One cell of similar loans: excellent credit, $300,000 on a $400,000 home (LTV 75%), a purchase, from the
/// default source. Forty borrowers named Garcia or Hernandez in 78520 (Brownsville; BISG ≥ 99.8% Hispanic) and
/// forty named Olson or Anderson in 58102 (Fargo; 97.4% and 94.1% White) ask for 20 bps each; the admin approves
/// the first `hispanic_granted` and `white_granted` of them and denies the rest.
async fn world(hispanic_granted: usize, white_granted: usize) -> World {
    let app = TestApp::spawn().await;
    load_tables(&app).await;
    let (admin_id, admin) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let (_, compliance) = app.login_as(Role::Compliance, "cora.compliance@example.com", None, &[]).await;
    let (_, manager) = app.login_as(Role::Manager, "mona.manager@example.com", Some("North"), &[]).await;
    let (lo_id, lo) = app.login_as(Role::Lo, "leo.lo@example.com", Some("North"), &["TX", "ND"]).await;
    let (_, marketing) = app.login_as(Role::Marketing, "mia.marketing@example.com", None, &[]).await;
    let lo_api = app.api(&app.token_for(lo_id).await);
    let admin_api = app.api(&app.token_for(admin_id).await);
    let mut leads = Vec::new();
    let people = [
        ("Garcia", "78520", "TX"),
        ("Hernandez", "78520", "TX"),
        ("Olson", "58102", "ND"),
        ("Anderson", "58102", "ND"),
    ];
    for (k, (surname, zip, state)) in people.iter().enumerate() {
        let granted = if k < 2 { hispanic_granted } else { white_granted };
        for i in 0..20 {
            let res = lo_api
                .post(app.url("/api/v1/leads"))
                .json(&json!({"first_name": format!("B{k}x{i}"), "last_name": surname,
                              "email": format!("b{k}x{i}@borrower.test"), "property_state": state,
                              "property_zip": zip, "loan_amount_cents": 30_000_000,
                              "property_value_cents": 40_000_000, "credit_band": "excellent",
                              "loan_purpose": "purchase"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let lead: Uuid = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
            let res = lo_api
                .post(app.url("/api/v1/escalations"))
                .json(&json!({"lead_id": lead, "kind": "pricing_exception", "concession_bps": 20,
                              "reason": "competitor_match"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
            // Half of each surname's twenty: `granted` spread over the two surnames of the group.
            let approve = i < granted / 2 + usize::from(k % 2 == 0) * (granted % 2);
            let res = admin_api
                .post(app.url(&format!("/api/v1/escalations/{id}/decision")))
                .json(&json!({"decision": if approve { "approve" } else { "deny" }, "note": "reviewed"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            leads.push((lead, *surname));
        }
    }
    World { app, admin, compliance, manager, lo, lo_api, marketing, leads }
}

/// Today in the organisation's time zone (the analysis counts the organisation's days).
fn today(app: &TestApp) -> String {
    app.state.today().to_string()
}

/// Runs the analysis on the form as `who`: the run's id.
async fn run(w: &World, who: &reqwest::Client, grouping: &str) -> Uuid {
    let from = (w.app.state.today() - chrono::Duration::days(30)).to_string();
    let res = who
        .post(w.app.url("/compliance/fair-lending"))
        .form(&[("from", from.as_str()), ("to", &today(&w.app)), ("grouping", grouping)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let to = res.headers()["location"].to_str().unwrap().to_string();
    to.trim_start_matches("/compliance/fair-lending/runs/").parse().unwrap()
}

async fn api_run(w: &World, id: Uuid) -> Value {
    let res = w.compliance.get(w.app.url(&format!("/api/v1/fair-lending/runs/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn comparison<'a>(run: &'a Value, scope: &str, group: &str, outcome: &str) -> &'a Value {
    run["results"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scope"] == scope && c["group"]["group"] == group && c["outcome"] == outcome)
        .unwrap_or_else(|| panic!("no {scope}/{group}/{outcome}"))
}

#[tokio::test]
async fn a_planted_disparity_is_flagged_with_its_p_value_and_the_requests_behind_it() {
    // Hispanic-proxied borrowers: 16 of 40 granted (40%); White-proxied: 32 of 40 (80%).
    let w = world(16, 32).await;
    // The LO records HMDA demographics for two applicants: one reports (Hispanic, White, female), one declines.
    let (reported, declined) = (w.leads[0].0, w.leads[40].0);
    for (lead, form) in [
        (reported, [("ethnicity", "hispanic"), ("race", "white"), ("sex", "female"), ("method", "face_to_face")]),
        (
            declined,
            [("ethnicity", "not_provided"), ("race", "not_provided"), ("sex", "not_provided"), ("method", "telephone")],
        ),
    ] {
        let res = w.lo.post(w.app.url(&format!("/leads/{lead}/demographics"))).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    }
    // The LO's lead page says it is recorded and links to it; the approver's shows nothing of it.
    let page = w.lo.get(w.app.url(&format!("/leads/{reported}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!(r#"href="/leads/{reported}/demographics">Review"#)), "{page}");
    let page = w.manager.get(w.app.url(&format!("/leads/{reported}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Garcia") && !page.contains("hmda-panel") && !page.contains("/demographics"));
    // A form without a choice comes back with what was typed (422).
    let res =
        w.lo.post(w.app.url(&format!("/leads/{reported}/demographics")))
            .form(&[("ethnicity", "hispanic"), ("race", ""), ("sex", "female"), ("method", "telephone")])
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("choose one (the applicant may decline)") && body.contains(r#"value="hispanic" selected"#));

    let id = run(&w, &w.compliance, "overall").await;
    let r = api_run(&w, id).await;
    assert_eq!(r["method_version"], "bisg-2010-zcta/1");
    assert_eq!(r["results"]["counts"]["requests"], 80);
    assert_eq!(r["results"]["counts"]["hmda_reported"], 1, "the declined applicant keeps the proxy");
    assert_eq!(r["results"]["counts"]["bisg_proxy"], 79);
    let rate = comparison(&r, "all", "hispanic", "grant_rate");
    assert_eq!(rate["flagged"], true, "{rate}");
    let p = rate["p_value"].as_f64().unwrap();
    assert!(p < 0.001, "{p}");
    let d = rate["difference"].as_f64().unwrap();
    // Nearly certain labels: the gap is close to the planted 40 points (weights leak a little each way).
    assert!((-0.41..-0.36).contains(&d), "{d}");
    assert!(rate["ci_high"].as_f64().unwrap() < 0.0);
    assert!(rate["n_group"].as_f64().unwrap() > 39.0 && rate["n_reference"].as_f64().unwrap() > 37.0);
    // The concession among granted requests is the same 20 bps for everyone: not flagged.
    assert_eq!(comparison(&r, "all", "hispanic", "avg_bps")["flagged"], false);
    // Too few Black-proxied borrowers (an expected count under 1): never flagged.
    let black = comparison(&r, "all", "black", "grant_rate");
    assert_eq!(black["flagged"], false);
    assert!(black["note"].as_str().unwrap().contains("too few"));

    // The run's page shows the figures, each opening its requests.
    let page = w.compliance.get(w.app.url(&format!("/compliance/fair-lending/runs/{id}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Flagged") && page.contains("bisg-2010-zcta/1") && page.contains("Mantel"));
    let href = format!("/compliance/fair-lending/runs/{id}/requests?scope=all&#38;group=hispanic");
    assert!(page.contains(&href), "{page}");
    let list = w.compliance.get(w.app.url(&common::unescape_href(&href))).send().await.unwrap().text().await.unwrap();
    // Every request has some Hispanic weight (the proxies are probabilities): all 80 are listed, Garcia's first.
    assert!(list.contains(r#"<p id="request-count">80 requests</p>"#), "{list}");
    assert!(list.contains("Reported (HMDA)"));

    // The approver, deciding a new request, sees similar loans' concessions and nothing of the analysis:
    // 48 granted in this cell (16 + 32), all at 20 bps.
    let res = w
        .lo_api
        .post(w.app.url("/api/v1/escalations"))
        .json(&json!({"lead_id": w.leads[1].0, "kind": "pricing_exception", "concession_bps": 15,
                      "reason": "competitor_match"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let new_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let page = w.manager.get(w.app.url(&format!("/escalations/{new_id}"))).send().await.unwrap().text().await.unwrap();
    let check =
        page.split(r#"id="consistency-check">"#).nth(1).expect("the consistency check").split("</p>").next().unwrap();
    let check = common::text_of(check).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        check.contains("Requested 15 bps; granted for similar loans (excellent · LTV ≤80% · $200k to $399k · purchase) in the last 90 days: median 20 bps, n = 48"),
        "{check}"
    );
    for word in ["Hispanic", "BISG", "ethnicity", "demographic"] {
        assert!(!page.contains(word), "the decision page shows no protected-class information ({word})");
    }
    // The approver cannot open the applicant's demographics either.
    let res = w.manager.get(w.app.url(&format!("/leads/{reported}/demographics"))).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn equal_treatment_is_not_flagged() {
    // 24 of 40 granted on both sides.
    let w = world(24, 24).await;
    let id = run(&w, &w.admin, "lo").await;
    let r = api_run(&w, id).await;
    let flagged: Vec<&Value> =
        r["results"]["comparisons"].as_array().unwrap().iter().filter(|c| c["flagged"] == true).collect();
    assert!(flagged.is_empty(), "{flagged:#?}");
    let rate = comparison(&r, "all", "hispanic", "grant_rate");
    assert!(rate["p_value"].as_f64().unwrap() > 0.5, "{rate}");
    assert!(rate["difference"].as_f64().unwrap().abs() < 0.02);
}

#[tokio::test]
async fn only_compliance_and_admins_see_the_analysis_and_every_reading_is_audited() {
    let w = world(16, 32).await;
    let id = run(&w, &w.compliance, "overall").await;
    for (who, client) in [("manager", &w.manager), ("lo", &w.lo), ("marketing", &w.marketing)] {
        for path in [
            "/compliance/fair-lending".to_string(),
            format!("/compliance/fair-lending/runs/{id}"),
            format!("/compliance/fair-lending/runs/{id}/csv"),
            format!("/compliance/fair-lending/runs/{id}/requests?scope=all&group=hispanic"),
            format!("/api/v1/fair-lending/runs/{id}"),
        ] {
            let res = client.get(w.app.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), 403, "{who} {path}");
        }
        let res = client
            .post(w.app.url("/api/v1/fair-lending/runs"))
            .json(&json!({"from": "2026-01-01", "to": "2026-12-31"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{who} runs nothing");
    }
    // The compliance officer opens no lead (and so no demographics form).
    let res = w.compliance.get(w.app.url(&format!("/leads/{}/demographics", w.leads[0].0))).send().await.unwrap();
    assert!(matches!(res.status().as_u16(), 403 | 404));

    // The API runs the same analysis for the admin (201), and refuses a bad period (422).
    let res = w
        .admin
        .post(w.app.url("/api/v1/fair-lending/runs"))
        .json(&json!({"from": today(&w.app), "to": today(&w.app), "grouping": "team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["grouping"], "team");
    let res = w
        .admin
        .post(w.app.url("/api/v1/fair-lending/runs"))
        .json(&json!({"from": "2026-12-31", "to": "2026-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    // Bodies an integration might get wrong: refused with a 4xx naming the problem, never a 5xx.
    for body in [
        r#"{"from": 5, "to": "2026-01-01"}"#,
        r#"{"from": "2026-01-01", "to": "2026-01-02", "grouping": "branch"}"#,
        r#"{"from": "0001-01-01", "to": "9999-12-31"}"#,
        r#"{"from": "2026-01-01", "to": "2026-01-02", "extra": 1}"#,
        "[]",
        "{",
    ] {
        let res = w
            .admin
            .post(w.app.url("/api/v1/fair-lending/runs"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(matches!(res.status().as_u16(), 400 | 422), "{body}: {}", res.status());
    }
    let res = w
        .compliance
        .post(w.app.url("/compliance/fair-lending"))
        .form(&[("from", "yesterday"), ("to", "2026-01-01"), ("grouping", "overall")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains(r#"value="yesterday""#), "the form keeps what was typed");

    // CSV: one line per comparison, the flagged one with its p-value.
    let res = w.compliance.get(w.app.url(&format!("/compliance/fair-lending/runs/{id}/csv"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("run_id,method_version,period_from,period_to,scope,group,reference,outcome"));
    assert_eq!(lines.len(), 1 + 6 * 3, "six comparisons × three outcomes");
    let flagged = lines.iter().find(|l| l.contains(",hispanic,white,grant_rate,")).unwrap();
    assert!(flagged.contains(",true,"), "{flagged}");

    // Audit: who ran it and who read it, and how (CSV, page).
    w.compliance.get(w.app.url(&format!("/compliance/fair-lending/runs/{id}"))).send().await.unwrap();
    let audit: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.action, a.after ->> 'how' FROM audit_log a JOIN users u ON u.id = a.actor_id
         WHERE a.entity = 'fair_lending_run' AND a.entity_id = $1 AND u.email = 'cora.compliance@example.com'
         ORDER BY a.id",
    )
    .bind(id.to_string())
    .fetch_all(w.app.db())
    .await
    .unwrap()
    .into_iter()
    .map(|(a, h): (String, Option<String>)| (a, h.unwrap_or_default()))
    .collect();
    let want: Vec<(String, String)> =
        [("fair_lending.run", ""), ("fair_lending.run_exported", "csv"), ("fair_lending.run_viewed", "page")]
            .iter()
            .map(|(a, h)| (a.to_string(), h.to_string()))
            .collect();
    assert_eq!(audit, want);
    // The run is saved with its inputs.
    let inputs: Value = sqlx::query_scalar("SELECT inputs FROM fair_lending_runs WHERE id = $1")
        .bind(id)
        .fetch_one(w.app.db())
        .await
        .unwrap();
    assert_eq!(inputs["controls"], json!(["credit band", "LTV band", "loan amount band", "product", "channel"]));
    assert_eq!(inputs["min_effective_n"], 30.0);
    assert_eq!(inputs["bisg_tables"]["surnames"], 162_254);
}

#[tokio::test]
async fn csv_text_cannot_carry_a_formula() {
    let app = TestApp::spawn().await;
    let (_, compliance) = app.login_as(Role::Compliance, "cora.compliance@example.com", None, &[]).await;
    let (admin_id, _) = app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let bob = app.create_user(Role::Lo, "=bob@example.com", Some("South"), &["CA"]).await;
    let bob_api = app.api(&app.token_for(bob).await);
    let admin_api = app.api(&app.token_for(admin_id).await);
    let res = bob_api
        .post(app.url("/api/v1/leads"))
        .json(&json!({"first_name": "Ann", "last_name": "Smith", "email": "ann@borrower.test", "property_state": "CA",
                      "loan_amount_cents": 30_000_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let lead = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = bob_api
        .post(app.url("/api/v1/escalations"))
        .json(
            &json!({"lead_id": lead, "kind": "pricing_exception", "concession_bps": 10, "reason": "competitor_match"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = admin_api
        .post(app.url(&format!("/api/v1/escalations/{id}/decision")))
        .json(&json!({"decision": "approve", "note": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = compliance
        .post(app.url("/api/v1/fair-lending/runs"))
        .json(&json!({"from": today(&app), "to": today(&app), "grouping": "lo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let run = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let csv = compliance
        .get(app.url(&format!("/compliance/fair-lending/runs/{run}/csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().any(|l| l.contains(",'=bob,")), "{csv}");
    assert!(!csv.lines().any(|l| l.contains(",=bob,")));
    // No tables loaded here: the requests have no race information, and nothing is flagged.
    assert!(!csv.contains(",true,"));
}

/// `loanfloor bisg load` as a person runs it: the built binary against the test database.
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"))
        .args(args)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .env("LOANFLOOR_PASSWORD", common::PASSWORD)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_tables_load_from_the_command_line_and_a_compliance_officer_is_added_there() {
    let app = TestApp::spawn().await;
    for _ in 0..2 {
        let (code, out, err) = cli(&app, &["bisg", "load"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("BISG tables loaded: 162254 surnames, 32976 ZCTAs"), "{out}");
    }
    let rows: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM bisg_surnames), (SELECT count(*) FROM bisg_zctas), (SELECT count(*) FROM bisg_loads)",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(rows, (162_254, 32_976, 2), "loading twice leaves the same rows");
    let args = ["user", "add", "--email", "cora@cli.test", "--name", "Cora Compliance", "--role", "compliance"];
    let (code, _, err) = cli(&app, &args).await;
    assert_eq!(code, 0, "{err}");
    let client = app.login("cora@cli.test").await;
    let res = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/compliance/fair-lending", "the compliance officer lands on the analysis");
    let res = client.get(app.url("/compliance/fair-lending")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
