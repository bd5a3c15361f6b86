//! Past clients: importing closed loans, rate watch opportunities with hand-computed savings, skips for
//! opted-out borrowers, no duplicates, the team queue for departed LOs, scoping, LOS status updates, and
//! signed webhook deliveries with retries and the private-address guard.

mod common;

use common::TestApp;
use hmac::{Hmac, Mac};
use loanfloor::auth::Role;
use loanfloor::config::ImportArgs;
use sha2::Sha256;
use uuid::Uuid;

fn today(app: &TestApp) -> chrono::NaiveDate {
    app.state.clock.now().with_timezone(&app.state.config.timezone).date_naive()
}

struct Org {
    admin: reqwest::Client,
    admin_id: Uuid,
    lo1: Uuid,
    lo2: Uuid,
    lo3: Uuid,
    south: Uuid,
    north: Uuid,
}

async fn org(app: &TestApp) -> Org {
    let (admin_id, admin) = app.login_as(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo1 = app.create_user(Role::Lo, "ann.lo@lender.test", Some("North"), &["TX"]).await;
    let lo2 = app.create_user(Role::Lo, "bob.lo@lender.test", Some("North"), &["TX"]).await;
    let lo3 = app.create_user(Role::Lo, "cy.gone@lender.test", Some("South"), &["TX"]).await;
    let north: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'North'").fetch_one(app.db()).await.unwrap();
    let south: Uuid =
        sqlx::query_scalar("SELECT id FROM teams WHERE name = 'South'").fetch_one(app.db()).await.unwrap();
    Org { admin, admin_id, lo1, lo2, lo3, south, north }
}

/// A sample LOS export: header on line 1; line 8 has a bad note rate.
fn sample_csv(closed: chrono::NaiveDate) -> String {
    format!(
        "loan_number,borrower_name,email,property_state,loan_amount,note_rate,term_months,product,closed_on,lo_email,opted_out\n\
         L1,Dana Reyes,dana@example.com,TX,300000,7.000,360,conventional,{closed},ann.lo@lender.test,no\n\
         L2,Eli Park,eli@example.com,TX,\"$400,000.00\",6.875,360,conventional,{closed},ANN.LO@lender.test,\n\
         L3,Fay Chen,fay@example.com,TX,300000,7.000,360,conventional,{closed},bob.lo@lender.test,\n\
         L4,Gus Ames,gus@example.com,TX,300000,6.500,360,conventional,{closed},bob.lo@lender.test,\n\
         L5,Hal Opted,hal@example.com,TX,300000,7.000,360,conventional,{closed},ann.lo@lender.test,yes\n\
         L6,Ida Left,ida@example.com,TX,300000,7.000,360,conventional,{closed},cy.gone@lender.test,\n\
         L7,Jo Bad,jo@example.com,TX,300000,seven,360,conventional,{closed},ann.lo@lender.test,\n"
    )
}

async fn upload(client: &reqwest::Client, app: &TestApp, csv: &str, skip_bad: bool) -> (u16, String) {
    let part =
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("loans.csv").mime_str("text/csv").unwrap();
    let mut form = reqwest::multipart::Form::new().part("file", part);
    if skip_bad {
        form = form.text("skip_bad", "1");
    }
    let res = client.post(app.url("/portfolio/import")).multipart(form).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn loan_id(app: &TestApp, number: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM portfolio_loans WHERE loan_number = $1")
        .bind(number)
        .fetch_one(app.db())
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.db()).await.unwrap()
}

/// Imports the sample (all-or-nothing first, then skipping the bad row), sets the market rate 1% below.
async fn import_and_rate(app: &TestApp, o: &Org) {
    let closed = today(app) - chrono::Duration::days(5);
    let csv = sample_csv(closed);
    let (status, body) = upload(&o.admin, app, &csv, false).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("<td class=\"num\">8</td>"), "the bad row is reported by line: {body}");
    assert!(body.contains("note_rate"), "{body}");
    assert_eq!(count(app, "SELECT count(*) FROM portfolio_loans").await, 0, "all or nothing by default");
    let (status, body) = upload(&o.admin, app, &csv, true).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("6 added, 0 updated"), "{body}");
    assert_eq!(count(app, "SELECT count(*) FROM portfolio_loans").await, 6);
    // The LO of L6 leaves.
    let res = o
        .admin
        .post(app.url(&format!("/admin/users/{}/deactivate", o.lo3)))
        .form(&[("hand_over", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "an LO without open leads is deactivated directly");
    let res = o
        .admin
        .post(app.url("/portfolio/rates"))
        .form(&[("product", "conventional"), ("rate", "6.000"), ("effective_on", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn rate_watch_creates_one_opportunity_per_qualifying_loan_with_hand_computed_numbers() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    import_and_rate(&app, &o).await;

    let res = o.admin.post(app.url("/portfolio/rate-watch")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let rows: Vec<(String, Option<Uuid>, Option<Uuid>, serde_json::Value)> = sqlx::query_as(
        "SELECT p.loan_number, o.lo_id, o.team_id, o.numbers FROM opportunities o JOIN portfolio_loans p ON p.id = o.loan_id
         WHERE o.kind = 'rate_watch' ORDER BY p.loan_number",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    let numbers: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        numbers,
        ["L1", "L2", "L3", "L6"],
        "7% and 6.875% loans qualify; 6.5% (0.5% above) and opted-out do not"
    );
    // L1: $300,000 at 7% → $1,995.91; at 6% → $1,798.65; saving $197.26; $4,000 / 197.26 = 20.3 → 21 months.
    assert_eq!(rows[0].1, Some(o.lo1));
    assert_eq!(rows[0].3["current_payment_cents"], 199_591);
    assert_eq!(rows[0].3["new_payment_cents"], 179_865);
    assert_eq!(rows[0].3["monthly_saving_cents"], 19_726);
    assert_eq!(rows[0].3["closing_cost_cents"], 400_000);
    assert_eq!(rows[0].3["break_even_months"], 21);
    // L2: $400,000 at 6.875% → $2,627.72; at 6% → $2,398.20; saving $229.52; 4000 / 229.52 = 17.4 → 18.
    assert_eq!(rows[1].1, Some(o.lo1));
    assert_eq!(rows[1].3["new_payment_cents"], 239_820);
    assert_eq!(rows[1].3["monthly_saving_cents"], 22_952);
    assert_eq!(rows[1].3["break_even_months"], 18);
    assert_eq!(rows[2].1, Some(o.lo2));
    assert_eq!(rows[2].2, Some(o.north));
    // L6's LO is inactive: the opportunity waits in the South team's queue.
    assert_eq!(rows[3].1, None);
    assert_eq!(rows[3].2, Some(o.south));
    let ann_notes = count(
        &app,
        &format!("SELECT count(*) FROM notifications WHERE user_id = '{}' AND kind = 'portfolio.opportunities'", o.lo1),
    )
    .await;
    assert_eq!(ann_notes, 1, "one notification for the LO's batch");

    // The opted-out borrower is skipped, and the skip is visible.
    let skips: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.loan_number, s.reason FROM opportunity_skips s JOIN portfolio_loans p ON p.id = s.loan_id",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(skips.len(), 1);
    assert_eq!(skips[0].0, "L5");
    let page = o.admin.get(app.url("/portfolio/opportunities")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Hal Opted") && page.contains("borrower opted out"), "{page}");
    assert!(page.contains("$197.26") && page.contains("21 months"), "{page}");
    assert!(page.contains("South queue"), "{page}");

    // Rerunning (button and the evening job) creates nothing new.
    let res = o.admin.post(app.url("/portfolio/rate-watch")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let queued =
        count(&app, "SELECT count(*) FROM jobs WHERE kind = 'portfolio.rate_watch' AND status = 'queued'").await;
    assert_eq!(queued, 1, "the evening scan is queued once");
    app.state.clock.advance(chrono::Duration::hours(30));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE kind = 'portfolio.rate_watch' AND status = 'done'").await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE kind = 'portfolio.rate_watch' AND status = 'queued'").await,
        1,
        "the evening job queues the next evening"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM opportunities WHERE kind = 'rate_watch'").await, 4, "no duplicates");
    assert_eq!(count(&app, "SELECT count(*) FROM opportunity_skips").await, 1, "the skip is not repeated");
    let _ = o.admin_id;
}

#[tokio::test]
async fn loan_officers_see_only_their_own_loans_and_opportunities() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    import_and_rate(&app, &o).await;
    o.admin.post(app.url("/portfolio/rate-watch")).send().await.unwrap();
    let ann = app.login("ann.lo@lender.test").await;
    let page = ann.get(app.url("/portfolio")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Dana Reyes") && page.contains("Eli Park"), "{page}");
    assert!(!page.contains("Fay Chen") && !page.contains("Ida Left"), "{page}");
    let l3 = loan_id(&app, "L3").await;
    assert_eq!(ann.get(app.url(&format!("/portfolio/loans/{l3}"))).send().await.unwrap().status(), 404);
    let l1 = loan_id(&app, "L1").await;
    assert_eq!(ann.get(app.url(&format!("/portfolio/loans/{l1}"))).send().await.unwrap().status(), 200);
    let ops = ann.get(app.url("/portfolio/opportunities")).send().await.unwrap().text().await.unwrap();
    assert!(ops.contains("Dana Reyes") && !ops.contains("Fay Chen"), "{ops}");
    let bobs: Uuid = sqlx::query_scalar("SELECT id FROM opportunities WHERE lo_id = $1")
        .bind(o.lo2)
        .fetch_one(app.db())
        .await
        .unwrap();
    let res = ann
        .post(app.url(&format!("/portfolio/opportunities/{bobs}/status")))
        .form(&[("status", "worked")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another LO's opportunity is not found");
    let ann_token = app.token_for(o.lo1).await;
    let res = app
        .api(&ann_token)
        .post(app.url(&format!("/api/v1/portfolio/opportunities/{bobs}")))
        .json(&serde_json::json!({ "status": "worked" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the API applies the same scope");
    let mine: Uuid = sqlx::query_scalar(
        "SELECT o.id FROM opportunities o JOIN portfolio_loans p ON p.id = o.loan_id WHERE p.loan_number = 'L1'",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    let res = ann
        .post(app.url(&format!("/portfolio/opportunities/{mine}/status")))
        .form(&[("status", "converted")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // A manager of North sees North's opportunities (not South's queue) and the retention metrics.
    app.create_user(Role::Manager, "mia.mgr@lender.test", Some("North"), &[]).await;
    let mia = app.login("mia.mgr@lender.test").await;
    let token = {
        let id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'mia.mgr@lender.test'")
            .fetch_one(app.db())
            .await
            .unwrap();
        app.token_for(id).await
    };
    let api: serde_json::Value = app
        .api(&token)
        .get(app.url("/api/v1/portfolio/opportunities?status=all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen: Vec<String> = api["opportunities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["loan_number"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, ["L1", "L2", "L3"]);
    // Record payoffs: one refinanced with us, one lost → recapture 50.00%.
    let l2 = loan_id(&app, "L2").await;
    for (id, reason) in [(l1, "refinanced_with_us"), (l2, "lost_to_competitor")] {
        let res = mia
            .post(app.url(&format!("/portfolio/loans/{id}/payoff")))
            .form(&[("paid_off_on", today(&app).to_string().as_str()), ("payoff_reason", reason)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    let page = mia.get(app.url("/portfolio")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("50.00%"), "recapture rate: {page}");
    assert!(page.contains("<span class=\"num\">3</span> loans in the portfolio"), "L3, L4 and L5 remain: {page}");
    let summary = {
        let mgr = loanfloor::auth::store::find_user_by_email(app.db(), "mia.mgr@lender.test").await.unwrap().unwrap();
        loanfloor::portfolio::retention_summary(&app.state, &mgr.into_current(false)).await.unwrap()
    };
    assert_eq!(summary.recapture_bp, Some(5000));
    assert_eq!(summary.runoff_12m, 2);
    let ann_row = summary.per_lo.iter().find(|r| r.lo_name == "ann lo").unwrap();
    assert_eq!((ann_row.open, ann_row.worked, ann_row.converted), (1, 1, 1));
    assert_eq!(summary.referrals, 0);

    // A past client (L3) refers a borrower: Bob names L3 on the new-lead form, and the lead funds.
    let bob = app.login("bob.lo@lender.test").await;
    let form = [
        ("first_name", "Kim"),
        ("last_name", "Referred"),
        ("email", "kim.referred@example.com"),
        ("referred_by_loan_number", "L404"),
    ];
    let res = bob.post(app.url("/leads/new")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422, "an unknown past client is refused on the form");
    let body = res.text().await.unwrap();
    assert!(body.contains("No past client has this loan number") && body.contains("value=\"L404\""), "{body}");
    let mut form = form;
    form[3].1 = "L3";
    let res = bob.post(app.url("/leads/new")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let referred: Uuid = res.headers()["location"].to_str().unwrap().trim_start_matches("/leads/").parse().unwrap();
    let bob_api = app.api(&app.token_for(o.lo2).await);
    let shown: serde_json::Value =
        bob_api.get(app.url(&format!("/api/v1/leads/{referred}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["referred_by_loan_number"], "L3");
    let res = bob_api
        .post(app.url(&format!("/api/v1/leads/{referred}/stage")))
        .json(&serde_json::json!({ "stage": "funded", "version": shown["version"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = mia.get(app.url("/portfolio")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<span class=\"num\">1</span> referrals from past clients</a> (<a"), "{page}");
    // Every retention figure opens the list behind it, and the list's total is the figure.
    let mut checked = 0;
    let mut rest = page.as_str();
    let next = |rest: &str| {
        ["href=\"/portfolio?loans=", "href=\"/leads?referrer=", "href=\"/portfolio/opportunities?"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min()
    };
    while let Some(at) = next(rest) {
        rest = &rest[at + 6..];
        let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
        let text = &rest[rest.find('>').unwrap() + 1..];
        let text = text.trim_start_matches("<span class=\"num\">");
        let figure: i64 = text[..text.find('<').unwrap()].parse().unwrap();
        let total = app.list_total(&mia, href.trim_end_matches("#loans")).await;
        assert_eq!(total, figure, "{href}");
        checked += 1;
    }
    assert!(
        checked >= 7 + 4 * 2,
        "loans, paid off, refinanced with us, with a reason, lost, referrals, funded referrals, and four per LO with opportunities: {checked}"
    );
    for bad in ["colour=red", "status=won", "lo=ann"] {
        let res = mia.get(app.url(&format!("/portfolio/opportunities?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        assert!(res.text().await.unwrap().contains(&format!("{}:", bad.split('=').next().unwrap())), "{bad}");
    }
    assert_eq!(mia.get(app.url("/portfolio?loans=everything")).send().await.unwrap().status(), 422);
    assert_eq!(mia.get(app.url("/portfolio?colour=red")).send().await.unwrap().status(), 422);
    // Ann does not see Bob's past client's referral.
    let page = ann.get(app.url("/portfolio")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<span class=\"num\">0</span> referrals from past clients"), "{page}");
}

#[tokio::test]
async fn admins_import_market_rates_all_or_nothing() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let send = |csv: &'static str| {
        let part = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("rates.csv");
        o.admin
            .post(app.url("/portfolio/rates/import"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
    };
    let res = send("product,rate,effective_on\nconventional,6.125,2026-11-20\nboat,5,2026-11-20\n").await.unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("line 3: product"), "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM market_rates").await, 0);
    let res = send("product,rate,effective_on\nconventional,6.125,2026-11-20\nfha,5.75,2026-11-20\n").await.unwrap();
    assert_eq!(res.status(), 303);
    let rates: Vec<(String, i64)> =
        sqlx::query_as("SELECT product, (rate * 1000)::int8 FROM market_rates ORDER BY product")
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(rates, vec![("conventional".to_string(), 6125), ("fha".to_string(), 5750)]);
    let lo = app.login("ann.lo@lender.test").await;
    let res = lo.post(app.url("/portfolio/rates")).form(&[("product", "fha"), ("rate", "1")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "only admins enter rates");
}

#[tokio::test]
async fn cli_import_reports_bad_rows_by_line_and_tolerates_a_bom() {
    let app = TestApp::spawn().await;
    let _o = org(&app).await;
    let dir = std::env::temp_dir().join(format!("lf-portfolio-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("loans.csv");
    let csv = format!("\u{feff}{}", sample_csv(today(&app) - chrono::Duration::days(5)));
    std::fs::write(&file, csv).unwrap();
    let args = ImportArgs { file: file.clone(), skip_bad: false, as_email: Some("admin@lender.test".into()) };
    let err = loanfloor::portfolio::import_cli(&app.state, &args).await.unwrap_err().to_string();
    assert!(err.contains("line 8: note_rate"), "{err}");
    assert_eq!(count(&app, "SELECT count(*) FROM portfolio_loans").await, 0);
    let args = ImportArgs { skip_bad: true, ..args };
    let out = loanfloor::portfolio::import_cli(&app.state, &args).await.unwrap();
    assert!(out.starts_with("6 added, 0 updated"), "{out}");
    // Importing the same file again updates rather than duplicates.
    let out = loanfloor::portfolio::import_cli(&app.state, &args).await.unwrap();
    assert!(out.starts_with("0 added, 6 updated"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A lead the LO enters through the API with its LOS loan number, then moves to `stage` through the API.
async fn lead(app: &TestApp, loan_number: &str, stage: &str, lo: Uuid) -> Uuid {
    let api = app.api(&app.token_for(lo).await);
    let body = serde_json::json!({
        "first_name": "Kim", "last_name": "Lee", "email": format!("kim.{}@example.com", loan_number.to_lowercase()),
        "loan_number": loan_number, "loan_amount_cents": 25_000_000, "rate_quoted": "6.250", "property_state": "TX",
    });
    let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(created["loan_number"], loan_number);
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    if stage != "new" {
        let res = api
            .post(app.url(&format!("/api/v1/leads/{id}/stage")))
            .json(&serde_json::json!({ "stage": stage, "version": created["version"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    id
}

async fn stage(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT stage FROM leads WHERE id = $1").bind(id).fetch_one(app.db()).await.unwrap()
}

#[tokio::test]
async fn los_status_file_moves_leads_idempotently() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let a = lead(&app, "LN-1", "application", o.lo1).await;
    // The LO corrects the second lead's loan number with PATCH: the LOS file finds it by the new number.
    let b = lead(&app, "LN-2-TYPO", "processing", o.lo1).await;
    let ann = app.api(&app.token_for(o.lo1).await);
    let current: serde_json::Value =
        ann.get(app.url(&format!("/api/v1/leads/{b}"))).send().await.unwrap().json().await.unwrap();
    let res = ann
        .patch(app.url(&format!("/api/v1/leads/{b}")))
        .json(&serde_json::json!({ "loan_number": "LN-2", "version": current["version"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dir = std::env::temp_dir().join(format!("lf-los-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("los.csv");
    std::fs::write(
        &file,
        "loan_number,status,at\nLN-1,processing,2026-11-20\nLN-2,underwriting,2026-11-20T10:00:00Z\nLN-1,underwriting,2026-11-21\nLN-9,funded,2026-11-21\n",
    )
    .unwrap();
    let args = ImportArgs { file: file.clone(), skip_bad: false, as_email: Some("admin@lender.test".into()) };
    let before = count(&app, "SELECT count(*) FROM stage_changes").await;
    let err = loanfloor::portfolio::los_status_cli(&app.state, &args).await.unwrap_err().to_string();
    assert!(err.contains("line 5: loan_number"), "{err}");
    assert_eq!(count(&app, "SELECT count(*) FROM stage_changes").await, before, "all or nothing");
    let args = ImportArgs { skip_bad: true, ..args };
    loanfloor::portfolio::los_status_cli(&app.state, &args).await.unwrap();
    assert_eq!(stage(&app, a).await, "underwriting");
    assert_eq!(stage(&app, b).await, "underwriting");
    assert_eq!(count(&app, "SELECT count(*) FROM stage_changes WHERE origin = 'los'").await, 3);
    // The same file again changes nothing (the processing row is behind the lead now).
    let out = loanfloor::portfolio::los_status_cli(&app.state, &args).await.unwrap();
    assert!(out.contains("0 added, 0 updated, 3 unchanged"), "{out}");
    assert_eq!(count(&app, "SELECT count(*) FROM stage_changes WHERE origin = 'los'").await, 3);
    assert!(count(&app, "SELECT count(*) FROM audit_log WHERE action = 'lead.stage_changed'").await >= 3);
    let _ = std::fs::remove_dir_all(dir);
    let _ = o.admin_id;
}

fn secret_in(page: &str) -> String {
    let i = page.find("whsec_").expect("the secret is shown once");
    page[i..i + 6 + 64].to_string()
}

#[tokio::test]
async fn webhooks_are_signed_retried_after_a_failure_and_logged() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    // The LO's lead reaches underwriting before the endpoint exists (those changes are not delivered to it).
    let lead_id = lead(&app, "LN-100", "underwriting", o.lo1).await;
    let (port, got) = common::receiver::start(1).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let page = app.add_webhook(&o.admin, &url, &["lead.stage_changed", "lead.funded"]).await;
    let secret = secret_in(&page);
    let page = o.admin.get(app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(&secret), "the secret is not shown again");

    let intake = app.create_user(Role::Intake, "los@lender.test", None, &[]).await;
    let api = app.api(&app.token_for(intake).await);
    let body = serde_json::json!({ "loan_number": "LN-100", "status": "clear_to_close", "at": "2026-11-20T15:00:00Z" });
    let res = api.post(app.url("/api/v1/los/status")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let out: serde_json::Value = res.json().await.unwrap();
    assert_eq!(out["changed"], true);
    assert_eq!(out["stage"], "clear_to_close");

    // First attempt: the receiver answers 500; the delivery is logged and retried later.
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 1);
    let (status, attempts, code): (String, i32, Option<i32>) =
        sqlx::query_as("SELECT status, attempts, last_status_code FROM webhook_deliveries")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts, code), ("retrying", 1, Some(500)));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 1, "not retried before the backoff");
    app.state.clock.advance(chrono::Duration::seconds(61));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    let (status, attempts, code): (String, i32, Option<i32>) =
        sqlx::query_as("SELECT status, attempts, last_status_code FROM webhook_deliveries")
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts, code), ("delivered", 2, Some(200)));
    {
        let list = got.lock().unwrap();
        assert_eq!(list.len(), 2);
        let (headers, body) = &list[1];
        let header = headers["x-loanfloor-signature"].to_str().unwrap();
        let t = header.strip_prefix("t=").and_then(|h| h.split(',').next()).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let expected = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(header, expected);
        assert_eq!(headers["x-loanfloor-event"], "lead.stage_changed");
        let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(headers["x-loanfloor-delivery"].to_str().unwrap(), payload["id"].as_str().unwrap());
        assert_eq!(payload["data"]["lead_id"], lead_id.to_string());
        assert_eq!(payload["data"]["to"], "clear_to_close");
    }
    let page = o.admin.get(app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("delivered") && page.contains("lead.stage_changed"), "{page}");

    // Repeating the update changes nothing and sends nothing.
    let out: serde_json::Value =
        api.post(app.url("/api/v1/los/status")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(out["changed"], false);
    assert_eq!(count(&app, "SELECT count(*) FROM webhook_deliveries").await, 1);

    // Funded: a stage change and a funded event, and the lead becomes a portfolio loan (once).
    let funded = serde_json::json!({ "loan_number": "LN-100", "status": "funded", "at": "2026-11-21" });
    for _ in 0..2 {
        let res = api.post(app.url("/api/v1/los/status")).json(&funded).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    app.run_jobs().await; // the events reach the webhooks and the portfolio through the job queue
    assert_eq!(count(&app, "SELECT count(*) FROM webhook_deliveries").await, 3);
    let loans: Vec<(String, Option<Uuid>, i64)> =
        sqlx::query_as("SELECT loan_number, lo_id, (note_rate * 1000)::int8 FROM portfolio_loans WHERE lead_id = $1")
            .bind(lead_id)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(loans, vec![("LN-100".to_string(), Some(o.lo1), 6250)]);
    // Other roles may not post LOS updates.
    let lo_api = app.api(&app.token_for(o.lo1).await);
    assert_eq!(lo_api.post(app.url("/api/v1/los/status")).json(&funded).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn deliveries_to_loopback_are_refused_without_the_override() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (port, got) = common::receiver::start(1).await;
    for url in [format!("http://127.0.0.1:{port}/hook"), format!("http://[::ffff:127.0.0.1]:{port}/hook")] {
        let res = o
            .admin
            .post(app.url("/admin/webhooks"))
            .form(&[("url", url.as_str()), ("events", "lead.stage_changed")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{url}");
        assert!(res.text().await.unwrap().contains("loopback"));
    }
    lead(&app, "LN-200", "processing", o.lo1).await;
    // A host name that resolves to loopback passes registration but is refused at delivery time.
    let url = format!("http://localhost:{port}/hook");
    let res = o
        .admin
        .post(app.url("/admin/webhooks"))
        .form(&[("url", url.as_str()), ("events", "lead.stage_changed"), ("plain_http_host", "localhost")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut tx = app.db().begin().await.unwrap();
    let admin = loanfloor::auth::store::find_user(app.db(), o.admin_id).await.unwrap().unwrap().into_current(false);
    let which = loanfloor::portfolio::import::LosLead { loan_number: Some("LN-200"), lead_id: None };
    loanfloor::portfolio::import::apply_los_update(
        &mut tx,
        which,
        "underwriting",
        app.state.clock.now(),
        &admin,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    app.state.clock.advance(chrono::Duration::minutes(10));
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    assert!(got.lock().unwrap().is_empty(), "nothing reached the loopback receiver");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM webhook_deliveries").fetch_one(app.db()).await.unwrap();
    assert_eq!(status, "refused");
    assert!(error.unwrap_or_default().contains("loopback"));
    let _ = (o.lo2, o.lo3, o.south, o.north);
}

#[tokio::test]
async fn pages_render_for_the_roles_that_use_them_and_refuse_the_rest() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    import_and_rate(&app, &o).await;
    let l1 = loan_id(&app, "L1").await;
    app.create_user(Role::Manager, "mia.mgr@lender.test", Some("North"), &[]).await;
    let mia = app.login("mia.mgr@lender.test").await;
    let ann = app.login("ann.lo@lender.test").await;
    for path in ["/portfolio", "/portfolio/opportunities", "/portfolio/rates", "/portfolio/import", "/admin/webhooks"] {
        assert_eq!(o.admin.get(app.url(path)).send().await.unwrap().status(), 200, "admin {path}");
    }
    let loan = mia.get(app.url(&format!("/portfolio/loans/{l1}"))).send().await.unwrap().text().await.unwrap();
    assert!(loan.contains("Record a payoff") && loan.contains("$300,000.00 at 7.000%"), "{loan}");
    assert_eq!(mia.get(app.url("/portfolio/rates")).send().await.unwrap().status(), 200);
    assert_eq!(mia.get(app.url("/admin/webhooks")).send().await.unwrap().status(), 403);
    assert_eq!(ann.get(app.url("/portfolio/rates")).send().await.unwrap().status(), 403);
    assert_eq!(ann.get(app.url("/portfolio/import")).send().await.unwrap().status(), 403);
    let res = ann.post(app.url("/portfolio/rate-watch")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // Invalid input re-renders the form with the user's input and a message.
    let res = o
        .admin
        .post(app.url("/portfolio/rates"))
        .form(&[("product", "conventional"), ("rate", "six"), ("effective_on", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("value=\"six\"") && body.contains("Enter a rate in percent"), "{body}");
    let res = mia
        .post(app.url(&format!("/portfolio/loans/{l1}/payoff")))
        .form(&[("paid_off_on", "yesterday"), ("payoff_reason", "sold")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn retention_metrics_show_on_the_manager_dashboard() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    import_and_rate(&app, &o).await;
    // A North manager sees North's five loans (L1–L5); South's L6 is not theirs.
    let (_, manager) = app.login_as(Role::Manager, "mia.manager@lender.test", Some("North"), &[]).await;
    let page = manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Past clients and retention"), "{page}");
    assert!(page.contains("<span class=\"num\">5</span> loans in the portfolio"), "{page}");
    let page = o.admin.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<span class=\"num\">6</span> loans in the portfolio"), "{page}");
    // The tile opens the loans it counts (not every loan ever closed): the list's total is the figure.
    assert!(page.contains("href=\"/portfolio?loans=active#loans\"><span class=\"num\">6</span>"), "{page}");
    let list = o.admin.get(app.url("/portfolio?loans=active")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"loan-total\"><span class=\"num\">6<"), "{list}");
    // Every retention figure, for the admin and the manager: the page's and the API's totals are the figure.
    let manager_page = manager.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
    let mut checked = 0;
    for (who, html) in [(&o.admin, &page), (&manager, &manager_page)] {
        let mut rest = html.as_str();
        while let Some(at) = rest.find("href=\"/portfolio?loans=") {
            rest = &rest[at + 6..];
            let href = rest[..rest.find('"').unwrap()].trim_end_matches("#loans").to_string();
            let text = common::text_of(&rest[rest.find('>').unwrap() + 1..rest.find("</a>").unwrap()]);
            let digits: String = text.trim().chars().take_while(char::is_ascii_digit).collect();
            let figure: i64 = digits.parse().unwrap_or_else(|_| panic!("{href}: {text:?} is not a number"));
            assert_eq!(app.list_total(who, &href).await, figure, "{href}");
            let api = href.replacen("/portfolio?", "/api/v1/portfolio/loans?", 1);
            let v: serde_json::Value = who.get(app.url(&api)).send().await.unwrap().json().await.unwrap();
            assert_eq!(v["total"], figure, "{api}: {v}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} retention links");
    let res = o.admin.get(app.url("/api/v1/portfolio/loans?loans=all&colour=red")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("colour") && body.contains("loans"), "{body}");
}

#[tokio::test]
async fn a_lead_funded_on_the_page_or_through_the_api_becomes_a_past_client_and_sends_both_events() {
    let app = TestApp::spawn().await;
    let o = org(&app).await;
    let (port, got) = common::receiver::start(0).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let page = app.add_webhook(&o.admin, &url, &["lead.stage_changed", "lead.funded"]).await;
    let secret = secret_in(&page);
    // Ann's two leads reach clear to close; she funds one on the lead page and the other through the API.
    let on_page = lead(&app, "LN-PAGE", "clear_to_close", o.lo1).await;
    let by_api = lead(&app, "LN-API", "clear_to_close", o.lo1).await;
    let ann = app.login("ann.lo@lender.test").await;
    let ann_api = app.api(&app.token_for(o.lo1).await);
    let version = |id: Uuid| {
        let req = ann_api.get(app.url(&format!("/api/v1/leads/{id}")));
        async move { req.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["version"].clone() }
    };
    let v = version(on_page).await.to_string();
    let res = ann
        .post(app.url(&format!("/leads/{on_page}/stage")))
        .form(&[("version", v.as_str()), ("stage", "funded"), ("lost_reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = ann_api
        .post(app.url(&format!("/api/v1/leads/{by_api}/stage")))
        .json(&serde_json::json!({ "stage": "funded", "version": version(by_api).await }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.run_jobs().await;

    // Each is a portfolio loan under its LOS loan number, Ann's, at the quoted rate.
    let loans: Vec<(String, Option<Uuid>, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT loan_number, lead_id, lo_id, (note_rate * 1000)::int8 FROM portfolio_loans ORDER BY loan_number",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(
        loans,
        vec![
            ("LN-API".to_string(), Some(by_api), Some(o.lo1), 6250),
            ("LN-PAGE".to_string(), Some(on_page), Some(o.lo1), 6250)
        ]
    );
    // Delivered and signed: a stage change to funded and a funded event for each lead (the setup's moves to
    // clear_to_close were delivered too; they are not counted here).
    loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "t").await.unwrap();
    let list = got.lock().unwrap().clone();
    let mut funded_events = Vec::new();
    for (headers, body) in &list {
        let header = headers["x-loanfloor-signature"].to_str().unwrap();
        let t: i64 = header.strip_prefix("t=").and_then(|h| h.split(',').next()).unwrap().parse().unwrap();
        assert!(loanfloor::webhooks::model::verify(&secret, header, body, t, 300), "signed: {header}");
        let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
        let event = headers["x-loanfloor-event"].to_str().unwrap().to_string();
        let lead_id: Uuid = payload["data"]["lead_id"].as_str().unwrap().parse().unwrap();
        if event == "lead.funded" || payload["data"]["to"] == "funded" {
            funded_events.push((lead_id, event));
        }
    }
    funded_events.sort();
    let mut expected = vec![
        (on_page, "lead.funded".to_string()),
        (on_page, "lead.stage_changed".to_string()),
        (by_api, "lead.funded".to_string()),
        (by_api, "lead.stage_changed".to_string()),
    ];
    expected.sort();
    assert_eq!(funded_events, expected);
}
