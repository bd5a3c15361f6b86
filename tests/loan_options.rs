//! Loan options (issue 21) through the product: options priced through the API and the pages, their versions,
//! the one lead scope, the admin's PMI table, and the borrower's link (views logged and notified, expiry,
//! revocation). Expected figures are the hand-checked ones of `src/loan_options/model_tests.rs`. SQL only reads.

mod common;

use chrono::Duration;
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

struct Floor {
    app: TestApp,
    lo_id: Uuid,
    /// The LO's API client and signed-in browser; another team's LO's; the admin's browser.
    lo: reqwest::Client,
    lo_web: reqwest::Client,
    other: reqwest::Client,
    other_web: reqwest::Client,
    admin_web: reqwest::Client,
    lead: Uuid,
}

async fn floor() -> Floor {
    let app = TestApp::spawn().await;
    let (lo_id, lo_web) = app.login_as(Role::Lo, "lo@lender.test", Some("North"), &["TX"]).await;
    let (other_id, other_web) = app.login_as(Role::Lo, "other@lender.test", Some("South"), &["TX"]).await;
    let (_, admin_web) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.api(&app.token_for(lo_id).await);
    let other = app.api(&app.token_for(other_id).await);
    let body = json!({"first_name": "Ana", "last_name": "Quillfeather", "phone": "512-555-0142",
        "email": "ana@borrower.test", "property_state": "TX", "loan_amount_cents": 20_000_000});
    let res = lo.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let lead = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
    Floor { app, lo_id, lo, lo_web, other, other_web, admin_web, lead }
}

/// $200,000 at 6% for 30 years on a $250,000 home, closing 15 Jan 2026, first payment 1 Mar 2026 (case 5).
fn fixed(name: &str, rate_milli: i32, points_bps: i32) -> Value {
    json!({"name": name, "program": "conventional", "rate_type": "fixed", "property_value_cents": 25_000_000,
        "loan_amount_cents": 20_000_000, "rate_milli": rate_milli, "term_months": 360, "points_bps": points_bps,
        "closing_date": "2026-01-15", "first_payment_date": "2026-03-01"})
}

impl Floor {
    async fn post(&self, who: &reqwest::Client, path: &str, body: &Value) -> (u16, Value) {
        let res = who.post(self.app.url(path)).json(body).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, who: &reqwest::Client, path: &str) -> (u16, String) {
        let res = who.get(self.app.url(path)).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn option(&self, body: &Value) -> Value {
        let (status, v) = self.post(&self.lo, &format!("/api/v1/leads/{}/scenarios", self.lead), body).await;
        assert_eq!(status, 201, "{v}");
        v
    }

    /// The LO sends a link to `ids` for `days` from the comparison page: the token the page shows once.
    async fn send_link(&self, ids: &[&str], days: &str) -> String {
        let mut form: Vec<(&str, &str)> = ids.iter().map(|id| ("scenario_id", *id)).collect();
        form.push(("days", days));
        let path = format!("/leads/{}/options/links", self.lead);
        let res = self.lo_web.post(self.app.url(&path)).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        let (_, page) = self.get(&self.lo_web, &format!("/leads/{}/options", self.lead)).await;
        let start = page.find("/o/").unwrap_or_else(|| panic!("the link is shown once: {page}"));
        page[start + 3..].chars().take_while(char::is_ascii_hexdigit).collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).bind(self.lead).fetch_one(self.app.db()).await.unwrap()
    }
}

#[tokio::test]
async fn an_option_priced_through_the_api_carries_the_hand_checked_figures() {
    let f = floor().await;
    let v = f.option(&fixed("30-year fixed", 6_000, 0)).await;
    let figures = &v["figures"];
    // Case 5: 1,199.10 a month; 17 days' prepaid interest 558.90; amount financed 199,441.10; finance charge
    // 232,235.94; APR 5.9997%, disclosed as 6.000%.
    assert_eq!(figures["principal_and_interest_cents"], 119_910);
    assert_eq!(figures["prepaid_interest_cents"], 55_890);
    assert_eq!(figures["amount_financed_cents"], 19_944_110);
    assert_eq!(figures["finance_charge_cents"], 23_223_594);
    assert_eq!(figures["apr_milli"], 6_000);
    assert!((figures["apr_exact"].as_f64().unwrap() - 5.999713).abs() < 0.001);
    let horizons: Vec<u64> =
        figures["horizons"].as_array().unwrap().iter().map(|h| h["months"].as_u64().unwrap()).collect();
    assert_eq!(horizons, vec![60, 84, 120, 360]);
    let id = v["scenario"]["id"].as_str().unwrap();

    let (status, list) = f.post(&f.lo, "/api/v1/leads/x/scenarios", &json!({})).await;
    assert!(status == 400 || status == 404, "{status} {list}");
    let res = f.lo.get(f.app.url(&format!("/api/v1/leads/{}/scenarios", f.lead))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["scenarios"].as_array().unwrap().len(), 1);
    let res = f.lo.get(f.app.url(&format!("/api/v1/scenarios/{id}"))).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["figures"]["finance_charge_cents"], 23_223_594);

    // Another team's LO: the lead and its options do not exist for them.
    for path in [format!("/api/v1/scenarios/{id}"), format!("/api/v1/leads/{}/scenarios", f.lead)] {
        let res = f.other.get(f.app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let (status, _) = f.post(&f.other, &format!("/api/v1/leads/{}/scenarios", f.lead), &fixed("x", 6_000, 0)).await;
    assert_eq!(status, 404);
    for path in [format!("/leads/{}/options", f.lead), format!("/options/{id}"), format!("/options/{id}/edit")] {
        let (status, _) = f.get(&f.other_web, &path).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn bad_inputs_pmi_from_the_admin_table_and_the_four_option_limit() {
    let f = floor().await;
    let path = format!("/api/v1/leads/{}/scenarios", f.lead);
    let mut bad = fixed("Bad", 0, 0);
    bad["first_payment_date"] = json!("2026-01-20");
    let (status, v) = f.post(&f.lo, &path, &bad).await;
    assert_eq!(status, 422, "{v}");
    let fields = v["error"]["fields"].as_object().or_else(|| v["fields"].as_object()).cloned().unwrap_or_default();
    let text = v.to_string();
    assert!(text.contains("rate") && text.contains("first_payment_date"), "{text} {fields:?}");
    let mut unknown = fixed("Unknown field", 6_000, 0);
    unknown["teaser"] = json!(1);
    assert_eq!(f.post(&f.lo, &path, &unknown).await.0, 422);

    // 95% LTV conventional: PMI comes from the admin's table. Without a band covering it, a 422 that says so.
    let mut high = fixed("95% conventional", 6_750, 0);
    high["loan_amount_cents"] = json!(38_000_000);
    high["property_value_cents"] = json!(40_000_000);
    high["credit_score"] = json!(760);
    high["first_payment_date"] = json!("2026-02-01");
    high["closing_date"] = json!("2026-01-01");
    let (status, v) = f.post(&f.lo, &path, &high).await;
    assert_eq!(status, 422, "{v}");
    assert!(v.to_string().contains("PMI table"), "{v}");
    let res = f
        .admin_web
        .post(f.app.url("/admin/pmi-rates"))
        .form(&[("ltv_from", "90"), ("ltv_to", "95"), ("credit_from", "740"), ("credit_to", "850"), ("annual", "0.5")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    // An LO cannot change the table.
    let res = f
        .lo_web
        .post(f.app.url("/admin/pmi-rates"))
        .form(&[("ltv_from", "90"), ("ltv_to", "95"), ("credit_from", "740"), ("credit_to", "850"), ("annual", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, v) = f.post(&f.lo, &path, &high).await;
    assert_eq!(status, 201, "{v}");
    // Case 8: 0.50% of 380,000 / 12 = 158.33 a month for 139 months (to 78% of the value).
    assert_eq!(v["scenario"]["pmi_annual_bps"], 50);
    assert_eq!(v["figures"]["monthly_mi_cents"], 15_833);
    assert_eq!(v["figures"]["mi_months"], 139);

    for n in 2..=4 {
        f.option(&fixed(&format!("Option {n}"), 6_000 + n * 125, 0)).await;
    }
    let (status, v) = f.post(&f.lo, &path, &fixed("Fifth", 6_000, 0)).await;
    assert_eq!(status, 422, "{v}");
    assert!(v.to_string().contains("at most 4"), "{v}");
}

#[tokio::test]
async fn edits_are_versions_a_stale_edit_is_a_409_and_a_mistake_comes_back_as_typed() {
    let f = floor().await;
    let v = f.option(&fixed("30-year fixed", 6_500, 0)).await;
    let id = v["scenario"]["id"].as_str().unwrap().to_string();
    let (status, page) = f.get(&f.lo_web, &format!("/options/{id}/edit")).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"version\" value=\"1\""), "the form carries the version it edits");

    let form = |version: &str, rate: &str| {
        vec![
            ("version", version.to_string()),
            ("name", "30-year fixed, 1 point".to_string()),
            ("program", "conventional".into()),
            ("rate_type", "fixed".into()),
            ("property_value", "250,000".into()),
            ("loan_amount", "200000".into()),
            ("rate", rate.into()),
            ("term_years", "30".into()),
            ("points", "1".into()),
            ("closing_date", "2026-02-01".into()),
            ("first_payment_date", "2026-03-01".into()),
            ("cost_name_0", "Origination".into()),
            ("cost_amount_0", "1,500".into()),
            ("cost_pfc_0", "on".into()),
            ("cost_name_1", "Appraisal".into()),
            ("cost_amount_1", "650".into()),
        ]
    };
    let post = |body: Vec<(&'static str, String)>| {
        let req = f.lo_web.post(f.app.url(&format!("/options/{id}/edit"))).form(&body);
        async move { req.send().await.unwrap() }
    };
    let res = post(form("1", "6.abc")).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("value=\"6.abc\""), "the typed rate comes back");
    assert!(page.contains("Enter a percentage"), "with its message");

    let res = post(form("1", "6")).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = f.lo.get(f.app.url(&format!("/api/v1/scenarios/{id}"))).send().await.unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["scenario"]["version"], 2);
    // Case 3 without the title cost: 1 point + 1,500 origination are finance charges, the appraisal is not:
    // amount financed 200,000 − 2,000 − 1,500 = 196,500.00; APR 6.165%.
    assert_eq!(v["figures"]["amount_financed_cents"], 19_650_000);
    assert_eq!(v["figures"]["finance_charge_cents"], 23_517_704);
    assert_eq!(v["figures"]["apr_milli"], 6_165);

    // The page was loaded at version 1: saving it now is a 409, and nothing changes.
    let res = post(form("1", "5.875")).await;
    assert_eq!(res.status(), 409);
    let (_, page) = f.get(&f.lo_web, &format!("/options/{id}")).await;
    assert!(page.contains("version 2"), "{page}");
    let versions = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM loan_scenario_versions WHERE scenario_id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(f.app.db())
        .await
        .unwrap();
    assert_eq!(versions, 2, "both versions are kept");

    // Duplicate: a new option, a copy of version 2, that names where it came from.
    let res = f.lo_web.post(f.app.url(&format!("/options/{id}/duplicate"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let list: Value =
        f.lo.get(f.app.url(&format!("/api/v1/leads/{}/scenarios", f.lead))).send().await.unwrap().json().await.unwrap();
    let all = list["scenarios"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["scenario"]["copied_from"], id.as_str());
    assert_eq!(all[1]["scenario"]["name"], "30-year fixed, 1 point (copy)");
    assert_eq!(all[1]["figures"]["apr_milli"], 6_165);
}

#[tokio::test]
async fn the_borrower_link_shows_only_the_options_logs_each_view_and_stops_when_revoked_or_expired() {
    let f = floor().await;
    let a = f.option(&fixed("No points at 6.5%", 6_500, 0)).await;
    let b = f.option(&fixed("One point at 6%", 6_000, 100)).await;
    let (a, b) = (a["scenario"]["id"].as_str().unwrap().to_string(), b["scenario"]["id"].as_str().unwrap().to_string());
    let (_, page) = f.get(&f.lo_web, &format!("/leads/{}/options", f.lead)).await;
    assert!(page.contains("★"), "the best option per horizon is marked");

    let token = f.send_link(&[&a, &b], "7").await;
    assert_eq!(token.len(), 64);
    let anon = f.app.client();
    let (status, page) = f.get(&anon, &format!("/o/{token}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("No points at 6.5%") && page.contains("One point at 6%"));
    assert!(page.contains("Prepared by"));
    for private in ["Quillfeather", "512-555-0142", "ana@borrower.test", &f.lead.to_string()] {
        assert!(!page.contains(private), "the borrower's page shows nothing else of the lead: {private}");
    }
    f.get(&anon, &format!("/o/{token}")).await;
    assert_eq!(
        f.count("SELECT count(*) FROM activities WHERE lead_id = $1 AND body LIKE 'The borrower opened%'").await,
        2
    );
    f.app.run_jobs().await;
    let notified: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'loan_options.viewed'")
            .bind(f.lo_id)
            .fetch_one(f.app.db())
            .await
            .unwrap();
    assert_eq!(notified, 2, "each view notifies the LO");

    // Someone else's link, or no link at all.
    assert_eq!(f.get(&anon, &format!("/o/{}", "0".repeat(64))).await.0, 404);

    // Revoked: another team's LO cannot, the LO can, and the link stops at once.
    let link: Uuid = sqlx::query_scalar("SELECT id FROM loan_option_links WHERE lead_id = $1")
        .bind(f.lead)
        .fetch_one(f.app.db())
        .await
        .unwrap();
    let res = f.other_web.post(f.app.url(&format!("/option-links/{link}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(f.get(&anon, &format!("/o/{token}")).await.0, 200);
    let res = f.lo_web.post(f.app.url(&format!("/option-links/{link}/revoke"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let (status, page) = f.get(&anon, &format!("/o/{token}")).await;
    assert_eq!(status, 410);
    assert!(!page.contains("No points at 6.5%"));

    // A link lives 1 to 60 days and names this lead's options.
    let path = format!("/leads/{}/options/links", f.lead);
    let res =
        f.lo_web.post(f.app.url(&path)).form(&[("scenario_id", a.as_str()), ("days", "90")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("1 to 60 days"));

    // Expired: a 2-day link works on day 1 and not after day 2 (the LO's session lapses too; the borrower's
    // page needs none).
    let token = f.send_link(&[&b], "2").await;
    f.app.state.clock.advance(Duration::days(1));
    assert_eq!(f.get(&anon, &format!("/o/{token}")).await.0, 200);
    f.app.state.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(f.get(&anon, &format!("/o/{token}")).await.0, 410);
}

#[tokio::test]
async fn the_comparison_and_the_borrowers_page_run_the_same_statements_for_one_option_as_for_four() {
    use loanfloor::web::statements;
    assert!(statements::install_for_tests(), "this test binary installs the only subscriber");
    let f = floor().await;
    let count = |client: reqwest::Client, path: String| {
        let url = f.app.url(&path);
        async move {
            let mut n = 0;
            // Twice: the second request runs with the session and caches warm.
            for _ in 0..2 {
                let res = client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200, "{path}");
                n = res.headers()[statements::HEADER].to_str().unwrap().parse::<u32>().unwrap();
            }
            n
        }
    };
    let first = f.option(&fixed("Option 1", 6_000, 0)).await["scenario"]["id"].as_str().unwrap().to_string();
    let compare = format!("/leads/{}/options", f.lead);
    let token = f.send_link(&[&first], "7").await;
    let one = (count(f.lo_web.clone(), compare.clone()).await, count(f.app.client(), format!("/o/{token}")).await);
    let mut ids = vec![first];
    for n in 2..=4 {
        let v = f.option(&fixed(&format!("Option {n}"), 6_000 + n * 125, n * 25)).await;
        ids.push(v["scenario"]["id"].as_str().unwrap().to_string());
    }
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let token = f.send_link(&all, "7").await;
    let four = (count(f.lo_web.clone(), compare).await, count(f.app.client(), format!("/o/{token}")).await);
    eprintln!("statements with one option: {one:?}; with four: {four:?}");
    assert_eq!(one, four, "no statement per option (N+1)");
    assert!(four.0 <= 14 && four.1 <= 10, "{four:?}");
}
