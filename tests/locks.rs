//! Rate locks (issue 20) through the product: investors and locks made through the API, the expiry job run by
//! the job queue at chosen instants, the LOS import through the API and the binary. Costs are computed by hand
//! here (bps of the loan amount, to the cent). SQL only reads.

mod common;

use std::process::Stdio;

use chrono::{Duration, NaiveDate};
use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// $412,500.
const AMOUNT: i64 = 41_250_000;

struct Desk {
    app: TestApp,
    admin: reqwest::Client,
    /// The LO's API client, their manager's, another LO's.
    lo: reqwest::Client,
    manager: reqwest::Client,
    other_lo: reqwest::Client,
    investor: String,
    lo_id: Uuid,
}

/// An admin adds the investor Keystone Capital (extensions 7d/5, 15d/12, 30d/25 bps, at most 30 days; relock
/// fee 12 bps; float-down at 0.250% better for 25 bps).
async fn desk() -> Desk {
    let app = TestApp::spawn().await;
    let admin_id = app.create_user(Role::Admin, "admin@lender.test", None, &[]).await;
    let lo = app.create_user(Role::Lo, "lo@lender.test", Some("North"), &["TX"]).await;
    let manager = app.create_user(Role::Manager, "mgr@lender.test", Some("North"), &[]).await;
    let other = app.create_user(Role::Lo, "other@lender.test", Some("South"), &["TX"]).await;
    let admin = app.api(&app.token_for(admin_id).await);
    let body = json!({"name": "Keystone Capital", "relock_fee_bps": 12, "float_down_fee_bps": 25,
        "float_down_min_milli": 250, "max_extension_days": 30,
        "schedule": [{"days": 7, "cost_bps": 5}, {"days": 15, "cost_bps": 12}, {"days": 30, "cost_bps": 25}]});
    let res = admin.post(app.url("/api/v1/lock-investors")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let investor = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let lo_id = lo;
    let (lo, manager, other_lo) = (
        app.api(&app.token_for(lo).await),
        app.api(&app.token_for(manager).await),
        app.api(&app.token_for(other).await),
    );
    Desk { app, admin, lo, manager, other_lo, investor, lo_id }
}

impl Desk {
    /// A lead of the LO's with a loan number and the loan amount.
    async fn lead(&self, number: &str) -> String {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let phone = format!("512-555-{:04}", digits.parse::<u32>().unwrap());
        let body = json!({"first_name": "Ana", "last_name": format!("Loan {number}"), "phone": phone,
            "property_state": "TX", "loan_amount_cents": AMOUNT, "loan_number": number});
        let res = self.lo.post(self.app.url("/api/v1/leads")).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }

    async fn post(&self, who: &reqwest::Client, path: &str, body: Value) -> (u16, Value) {
        let res = who.post(self.app.url(path)).json(&body).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The LO locks the lead for 30 days at 6.875% and `price_bps`: the lock.
    async fn lock(&self, lead: &str, price_bps: i32) -> Value {
        let body = json!({"lead_id": lead, "investor_id": self.investor, "product": "Conventional 30",
            "rate_milli": 6875, "price_bps": price_bps, "loan_amount_cents": AMOUNT, "period_days": 30});
        let (status, lock) = self.post(&self.lo, "/api/v1/locks", body).await;
        assert_eq!(status, 201, "{lock}");
        lock
    }

    async fn detail(&self, who: &reqwest::Client, id: &str) -> (u16, Value) {
        let res = who.get(self.app.url(&format!("/api/v1/locks/{id}"))).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The last history row of a lock.
    async fn last_event(&self, id: &str) -> Value {
        let (_, d) = self.detail(&self.admin, id).await;
        d["history"].as_array().unwrap().last().unwrap().clone()
    }

    async fn deliveries(&self, event: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE event = $1")
            .bind(event)
            .fetch_one(self.app.db())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_manager_extends_at_the_schedules_price_and_an_lo_cannot() {
    let d = desk().await;
    let admin_page = d.app.login("admin@lender.test").await;
    d.app.add_webhook(&admin_page, "http://127.0.0.1:9/hook", &["lock.created", "lock.extended"]).await;
    let lead = d.lead("LN-1").await;
    let lock = d.lock(&lead, 25).await;
    let id = lock["id"].as_str().unwrap();
    assert_eq!((lock["status"].as_str(), lock["loan_number"].as_str()), (Some("locked"), Some("LN-1")));
    assert_eq!(d.deliveries("lock.created").await, 1);

    // The LO asks through an escalation instead; another LO does not even see the lock.
    let path = format!("/api/v1/locks/{id}/extend");
    let (status, body) = d.post(&d.lo, &path, json!({"days": 15})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(d.post(&d.other_lo, &path, json!({"days": 15})).await.0, 404);
    assert_eq!(d.detail(&d.other_lo, id).await.0, 404);
    assert_eq!(d.detail(&d.lo, id).await.0, 200);

    // The quote the pages show before asking: 15 days, 12 bps, $495.00; 10 days is not offered.
    let manager = loanfloor::auth::store::find_user_by_email(d.app.db(), "mgr@lender.test").await.unwrap().unwrap();
    let manager = manager.into_current(false);
    let row = loanfloor::locks::visible_lock(d.app.db(), &manager, id.parse().unwrap()).await.unwrap();
    assert_eq!(loanfloor::locks::extension_quote(d.app.db(), &row, 15).await.unwrap(), (12, 49_500));
    assert!(loanfloor::locks::extension_quote(d.app.db(), &row, 10).await.is_err());

    // 10 days is not on the schedule: 422 on `days` with the lengths offered.
    let (status, body) = d.post(&d.manager, &path, json!({"days": 10})).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"]["days"][0], "This investor extends by 7, 15, 30 days only.");
    // A stale version is a 409.
    assert_eq!(d.post(&d.manager, &path, json!({"days": 15, "version": 7})).await.0, 409);

    // 15 days at 12 bps on $412,500: 412,500 x 0.0012 = $495.00.
    let (status, after) = d.post(&d.manager, &path, json!({"days": 15, "note": "appraisal late"})).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["price_bps"].as_i64(), after["extension_bps"].as_i64()), (Some(37), Some(12)));
    let last_day: NaiveDate = lock["last_day"].as_str().unwrap().parse().unwrap();
    assert_eq!(after["last_day"], (last_day + Duration::days(15)).to_string());
    assert_eq!(after["version"], 2);
    let event = d.last_event(id).await;
    assert_eq!((event["kind"].as_str(), event["cost_bps"].as_i64()), (Some("extended"), Some(12)));
    assert_eq!(event["cost_cents"], 49_500);
    assert_eq!(event["lo_id"], d.lo_id.to_string(), "the cost is the LO's");
    assert_eq!(event["before"]["last_day"], lock["last_day"]);
    assert_eq!(d.deliveries("lock.extended").await, 1);

    // The cap: 15 days more would make 30... and 30 more would pass it.
    let (status, body) = d.post(&d.manager, &path, json!({"days": 30})).await;
    assert_eq!(status, 422);
    assert!(body["errors"]["days"][0].as_str().unwrap().contains("at most 30 days"), "{body}");

    // One live lock per loan.
    let body = json!({"lead_id": lead, "investor_id": d.investor, "product": "Conventional 30", "rate_milli": 6750,
        "price_bps": 0, "loan_amount_cents": AMOUNT, "period_days": 15});
    let (status, body) = d.post(&d.lo, "/api/v1/locks", body).await;
    assert_eq!(status, 409, "{body}");

    // Investors are the admins': the same name again changes its terms (200); an LO may only read them.
    let change = json!({"name": "keystone capital", "relock_fee_bps": 15, "max_extension_days": 45,
        "schedule": [{"days": 15, "cost_bps": 10}]});
    let (status, investor) = d.post(&d.admin, "/api/v1/lock-investors", change.clone()).await;
    assert_eq!(status, 200, "{investor}");
    assert_eq!((investor["id"].as_str(), investor["relock_fee_bps"].as_i64()), (Some(d.investor.as_str()), Some(15)));
    assert_eq!(investor["schedule"], json!([{"days": 15, "cost_bps": 10}]));
    assert_eq!(d.post(&d.lo, "/api/v1/lock-investors", change).await.0, 403);
    let listed: Value = d.lo.get(d.app.url("/api/v1/lock-investors")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The list: in scope only.
    let mine: Value = d.lo.get(d.app.url("/api/v1/locks?status=locked")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["locks"].as_array().unwrap().len(), 1);
    let theirs: Value = d.other_lo.get(d.app.url("/api/v1/locks")).send().await.unwrap().json().await.unwrap();
    assert!(theirs["locks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_relock_takes_the_worse_price_plus_the_fee_and_a_float_down_needs_the_minimum() {
    let d = desk().await;
    // Locked at 25 bps, cancelled; today's price 50: max(25, 50) + 12 = 62 bps = $2,557.50 on $412,500.
    let lead = d.lead("LN-2").await;
    let first = d.lock(&lead, 25).await;
    let id = first["id"].as_str().unwrap();
    let (status, body) =
        d.post(&d.lo, &format!("/api/v1/locks/{id}/relock"), json!({"today_price_bps": 50, "period_days": 30})).await;
    assert_eq!(status, 409, "a live lock is not relocked: {body}");
    assert_eq!(d.post(&d.lo, &format!("/api/v1/locks/{id}/cancel"), json!({"note": "moved"})).await.0, 200);
    let (status, relocked) =
        d.post(&d.lo, &format!("/api/v1/locks/{id}/relock"), json!({"today_price_bps": 50, "period_days": 30})).await;
    assert_eq!(status, 201, "{relocked}");
    assert_eq!(relocked["price_bps"], 62);
    assert_eq!(relocked["relock_of"], id);
    assert_eq!(loanfloor::locks::model::bps_of(AMOUNT, 62), 255_750);
    // What the loan pays over the original price: 37 bps = $1,526.25.
    let event = d.last_event(relocked["id"].as_str().unwrap()).await;
    assert_eq!((event["kind"].as_str(), event["cost_bps"].as_i64()), (Some("relocked"), Some(37)));
    assert_eq!(event["cost_cents"], 152_625);

    // The other order: locked at 50, today 25: still 50 + 12 = 62.
    let lead = d.lead("LN-3").await;
    let second = d.lock(&lead, 50).await;
    let id = second["id"].as_str().unwrap();
    d.post(&d.lo, &format!("/api/v1/locks/{id}/cancel"), json!({})).await;
    let (_, relocked) =
        d.post(&d.lo, &format!("/api/v1/locks/{id}/relock"), json!({"today_price_bps": 25, "period_days": 15})).await;
    assert_eq!(relocked["price_bps"], 62);
    assert_eq!(d.last_event(relocked["id"].as_str().unwrap()).await["cost_cents"], 49_500, "62 - 50 = 12 bps: $495.00");

    // Float-down: 6.875% locked, the market at 6.750% is only 0.125 better (minimum 0.250): refused.
    let id = relocked["id"].as_str().unwrap();
    let path = format!("/api/v1/locks/{id}/float-down");
    let (status, body) = d.post(&d.lo, &path, json!({"market_rate_milli": 6750, "market_price_bps": 0})).await;
    assert_eq!(status, 422);
    assert!(body["errors"]["market_rate_milli"][0].as_str().unwrap().contains("0.250%"), "{body}");
    // At 6.500% (0.375 better) and 10 bps: 6.500% at 10 + 25 = 35 bps; the fee is $1,031.25.
    let (status, floated) = d.post(&d.lo, &path, json!({"market_rate_milli": 6500, "market_price_bps": 10})).await;
    assert_eq!(status, 200, "{floated}");
    assert_eq!((floated["rate_milli"].as_i64(), floated["base_price_bps"].as_i64()), (Some(6500), Some(35)));
    let event = d.last_event(id).await;
    assert_eq!((event["kind"].as_str(), event["cost_cents"].as_i64()), (Some("floated_down"), Some(103_125)));
    // Another LO can neither float it down nor cancel it.
    assert_eq!(d.post(&d.other_lo, &path, json!({"market_rate_milli": 6000, "market_price_bps": 0})).await.0, 404);
    assert_eq!(d.post(&d.other_lo, &format!("/api/v1/locks/{id}/cancel"), json!({})).await.0, 404);
}

#[tokio::test]
async fn the_job_expires_a_lock_at_the_start_of_the_day_after_its_last_day_in_the_organisations_zone() {
    let d = desk().await;
    let admin_page = d.app.login("admin@lender.test").await;
    d.app.add_webhook(&admin_page, "http://127.0.0.1:9/hook", &["lock.expiring", "lock.expired"]).await;
    let lead = d.lead("LN-4").await;
    let lock = d.lock(&lead, 0).await;
    let id = lock["id"].as_str().unwrap();
    let last_day: NaiveDate = lock["last_day"].as_str().unwrap().parse().unwrap();
    assert_eq!(last_day, d.app.state.today() + Duration::days(30));
    // Chicago: midnight after the last day, in UTC.
    let tz = d.app.state.config.timezone;
    let expires = loanfloor::state::day_start(tz, last_day + Duration::days(1));
    let shown: chrono::DateTime<chrono::Utc> = lock["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown, expires);
    let state = d.app.state.clone();
    let run_at = |t| {
        let state = state.clone();
        async move { loanfloor::jobs::run_due(&state, t, "test").await.unwrap() }
    };

    // Four days before the last day: nothing yet. Three days before it: the notice, once.
    run_at(loanfloor::state::day_start(tz, last_day - Duration::days(4)) + Duration::hours(1)).await;
    assert_eq!(d.deliveries("lock.expiring").await, 0);
    run_at(loanfloor::state::day_start(tz, last_day - Duration::days(3))).await;
    assert_eq!(d.deliveries("lock.expiring").await, 1);
    assert_eq!(d.last_event(id).await["kind"], "expiring_notice");
    let bell: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE kind = 'locks.expiring'")
        .fetch_one(d.app.db())
        .await
        .unwrap();
    assert_eq!(bell, 1);

    // A second before the instant it is still live; at the instant it expires, once.
    run_at(expires - Duration::seconds(1)).await;
    assert_eq!(d.detail(&d.lo, id).await.1["lock"]["status"], "locked");
    assert_eq!(d.deliveries("lock.expiring").await, 1, "the notice went out once");
    run_at(expires).await;
    let (_, after) = d.detail(&d.lo, id).await;
    assert_eq!(after["lock"]["status"], "expired");
    let event = after["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((event["kind"].as_str(), event["origin"].as_str()), (Some("expired"), Some("job")));
    assert_eq!(d.deliveries("lock.expired").await, 1);
    run_at(expires + Duration::hours(2)).await;
    assert_eq!(d.deliveries("lock.expired").await, 1);
}

fn lock_rows(rows: &[&str]) -> String {
    let mut csv = String::from(
        "loan_number,lock_id,investor,product,rate,price_bps,loan_amount,locked_on,period_days,extended_days,extension_cost_bps,closing_on,status\n",
    );
    for r in rows {
        csv.push_str(r);
        csv.push('\n');
    }
    csv
}

async fn run(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loanfloor"));
    cmd.args(args)
        .env("DATABASE_URL", &app.url)
        .env("LOANFLOOR_SECRET_KEY_FILE", common::secret_key_file())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output()).await.unwrap().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn the_los_import_is_idempotent_and_reports_bad_rows_by_line() {
    let d = desk().await;
    d.lead("LN-10").await;
    let lead = d.lead("LN-11").await;
    let today = d.app.state.today();
    let good = |number: &str, lock: &str, ext: &str, cost: &str, status: &str| {
        format!(
            "{number},{lock},Keystone Capital,Conventional 30,6.875,25,\"412,500.00\",{today},30,{ext},{cost},,{status}"
        )
    };
    let rows = [
        good("LN-10", "L-10", "0", "0", "locked"),
        good("LN-11", "L-11", "0", "0", "locked"),
        "LN-12,L-12,Nobody Bank,Conventional 30,6.875,25,1000,2026-01-01,30,0,0,,locked".to_string(),
    ];
    let file = std::env::temp_dir().join(format!("los-locks-{}.csv", Uuid::new_v4()));
    std::fs::write(&file, lock_rows(&rows.iter().map(String::as_str).collect::<Vec<_>>())).unwrap();
    let path = file.to_str().unwrap();

    // All or nothing: line 4 (the header is line 1) is bad, nothing is saved.
    let (code, out, err) = run(&d.app, &["import", "los-locks", path]).await;
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("line 4: loan_number: no lead has this loan number"), "{err}");
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rate_lock_events").fetch_one(d.app.db()).await.unwrap()
    };
    assert_eq!(count().await, 0);
    // --skip-bad: the good rows commit; the same file again changes nothing.
    let (code, out, err) = run(&d.app, &["import", "los-locks", path, "--skip-bad"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 locks created, 0 changed, 0 unchanged, 1 bad rows"), "{out}");
    let events = count().await;
    assert_eq!(events, 2);
    let (code, out, _) = run(&d.app, &["import", "los-locks", path, "--skip-bad"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("0 locks created, 0 changed, 2 unchanged"), "{out}");
    assert_eq!(count().await, events, "the same rows again record nothing");

    // The LOS extends LN-11 by 7 days for 5 bps (through the API, as the LOS's intake token would): one
    // `extended` event from the LOS with the cost; a bad row is reported by its index.
    let body = json!([
        {"loan_number": "LN-11", "lock_id": "L-11", "investor": "Keystone Capital", "product": "Conventional 30",
         "rate": 6.875, "price_bps": 25, "loan_amount": 412500, "locked_on": today.to_string(), "period_days": 30,
         "extended_days": 7, "extension_cost_bps": 5, "status": "locked"},
        {"loan_number": "LN-11", "lock_id": "L-99", "investor": "Keystone Capital", "product": "Conventional 30",
         "rate": "six", "price_bps": 25, "loan_amount": 412500, "locked_on": today.to_string(), "period_days": 30,
         "status": "locked"}
    ]);
    let res = d.admin.post(d.app.url("/api/v1/los/locks")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 422, "all or nothing");
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["errors"][0]["line"], 1);
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("rate: must be a percent"), "{report}");
    let res = d.admin.post(d.app.url("/api/v1/los/locks?skip_bad=true")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["changed"], 1);
    let locks: Value =
        d.lo.get(d.app.url(&format!("/api/v1/locks?lead_id={lead}"))).send().await.unwrap().json().await.unwrap();
    let lock = &locks["locks"][0];
    assert_eq!((lock["extended_days"].as_i64(), lock["price_bps"].as_i64()), (Some(7), Some(30)));
    assert_eq!(lock["last_day"], (today + Duration::days(37)).to_string());
    let event = d.last_event(lock["id"].as_str().unwrap()).await;
    assert_eq!((event["kind"].as_str(), event["origin"].as_str()), (Some("extended"), Some("los")));
    assert_eq!((event["days"].as_i64(), event["cost_cents"].as_i64()), (Some(7), Some(20_625)));
    // Replayed: nothing new.
    let res = d.admin.post(d.app.url("/api/v1/los/locks?skip_bad=true")).json(&body).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["unchanged"], 1);
    assert_eq!(count().await, events + 1);
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn two_instances_expiring_at_once_expire_each_lock_once() {
    let d = desk().await;
    let admin_page = d.app.login("admin@lender.test").await;
    d.app.add_webhook(&admin_page, "http://127.0.0.1:9/hook", &["lock.expired"]).await;
    let mut ids = Vec::new();
    for n in ["LN-21", "LN-22", "LN-23"] {
        let lead = d.lead(n).await;
        ids.push(d.lock(&lead, 10).await["id"].as_str().unwrap().to_string());
    }
    let later = d.app.state.clock.now() + Duration::days(40);
    let (a, b) = (d.app.state.clone(), d.app.state.clone());
    let (x, y) = tokio::join!(loanfloor::locks::expire::run(&a, later), loanfloor::locks::expire::run(&b, later));
    assert_eq!(x.unwrap().expired + y.unwrap().expired, 3, "each lock expired by one of them");
    for id in &ids {
        let (_, detail) = d.detail(&d.lo, id).await;
        let expired = detail["history"].as_array().unwrap().iter().filter(|e| e["kind"] == "expired").count();
        assert_eq!((detail["lock"]["status"].as_str(), expired), (Some("expired"), 1));
    }
    assert_eq!(d.deliveries("lock.expired").await, 3);
}
