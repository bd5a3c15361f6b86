//! Loss mitigation through HTTP: cases and their Regulation X deadlines from the API, the dual-tracking
//! refusal through the API and the case page, scoping by role, the document checklist, the assessment
//! ratios and reassignment with history.

mod common;

use common::TestApp;
use loanfloor::auth::Role;
use serde_json::{Value, json};

fn case_body(loan: &str, specialist: Option<&str>) -> Value {
    json!({
        "loan_number": loan,
        "borrower_name": "Dana Whitfield",
        "property_state": "TX",
        "investor": "fannie_mae",
        "upb_cents": 18_000_000,
        "note_rate": 7.5,
        "remaining_term_months": 300,
        "monthly_pi_cents": 133_018,
        "monthly_escrow_cents": 35_000,
        "first_unpaid_due_date": "2026-03-01",
        "specialist_email": specialist,
    })
}

fn deadline<'a>(case: &'a Value, key: &str) -> &'a Value {
    case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == key)
        .unwrap_or_else(|| panic!("no deadline {key} in {case}"))
}

struct Team {
    app: TestApp,
    supervisor: reqwest::Client,
    specialist: reqwest::Client,
}

impl Team {
    /// A foreclosure step recorded by the specialist through the API.
    async fn api_step(&self, id: &str, step: &str, on: &str) -> reqwest::Response {
        let url = self.app.url(&format!("/api/v1/lossmit/cases/{id}/foreclosure-steps"));
        self.specialist.post(url).json(&json!({"step": step, "on": on})).send().await.unwrap()
    }

    /// The same step through the case page's form.
    async fn page_step(&self, id: &str, step: &str, on: &str) -> reqwest::Response {
        let url = self.app.url(&format!("/lossmit/cases/{id}/foreclosure-steps"));
        self.specialist.post(url).form(&[("step", step), ("step_on", on)]).send().await.unwrap()
    }

    /// The case as the API shows it to the specialist.
    async fn case(&self, id: &str) -> Value {
        let url = self.app.url(&format!("/api/v1/lossmit/cases/{id}"));
        self.specialist.get(url).send().await.unwrap().json().await.unwrap()
    }
}

/// The case page's evaluation form: every option decided on `on`, those in `approved` approved and the others
/// denied for `reason`.
fn evaluation(on: &'static str, approved: &[&str], reason: &'static str) -> Vec<(&'static str, &'static str)> {
    const OPTIONS: [(&str, &str, &str); 5] = [
        ("modification", "outcome_modification", "reason_modification"),
        ("forbearance", "outcome_forbearance", "reason_forbearance"),
        ("repayment_plan", "outcome_repayment_plan", "reason_repayment_plan"),
        ("short_sale", "outcome_short_sale", "reason_short_sale"),
        ("deed_in_lieu", "outcome_deed_in_lieu", "reason_deed_in_lieu"),
    ];
    let mut form = vec![("decided_on", on)];
    for (option, outcome, why) in OPTIONS {
        if approved.contains(&option) {
            form.push((outcome, "approved"));
        } else {
            form.push((outcome, "denied"));
            form.push((why, reason));
        }
    }
    form
}

async fn team() -> Team {
    let app = TestApp::spawn().await;
    let (_, supervisor) = app.login_as(Role::LossmitSupervisor, "sam.super@example.com", None, &[]).await;
    let (_, specialist) = app.login_as(Role::Lossmit, "pat.spec@example.com", None, &[]).await;
    Team { app, supervisor, specialist }
}

async fn create(t: &Team, loan: &str) -> Value {
    let res = t
        .supervisor
        .post(t.app.url("/api/v1/lossmit/cases"))
        .json(&case_body(loan, Some("pat.spec@example.com")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn api_creates_a_case_with_its_regulation_x_deadlines() {
    let t = team().await;
    let sup_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'sam.super@example.com'")
        .fetch_one(t.app.db())
        .await
        .unwrap();
    let token = t.app.token_for(sup_id).await;
    let api = t.app.api(&token);
    let res = api
        .post(t.app.url("/api/v1/lossmit/cases"))
        .json(&case_body("LN-1001", Some("pat.spec@example.com")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let case: Value = res.json().await.unwrap();
    // Day N is the due date plus N (comment 39(a)-1): due 2026-03-01, continuity personnel by 04-15, first
    // filing once more than 120 days delinquent, from 06-30. Live contact and the written notice repeat after
    // each later due date: the case shows the current cycle (the earliest still open) and the latest missed.
    assert_eq!(deadline(&case, "continuity_personnel")["due_on"], "2026-04-15");
    assert_eq!(deadline(&case, "first_filing_earliest")["due_on"], "2026-06-30");
    let today = t.app.state.clock.now().with_timezone(&t.app.state.config.timezone).date_naive();
    let due = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    assert_eq!(case["days_delinquent"], (today - due).num_days(), "today minus the first unpaid due date");
    let date = |v: &Value| chrono::NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d").unwrap();
    for (key, days) in [("live_contact", 36), ("written_notice", 45)] {
        let d = deadline(&case, key);
        let cycle = date(&d["cycle_due_on"]);
        assert_eq!(date(&d["due_on"]), cycle + chrono::Duration::days(days), "{key}");
        assert!(cycle <= today && date(&d["due_on"]) >= today, "{key}: the current cycle is still open");
        assert_eq!(d["status"], "due");
        // Nothing was done in any earlier cycle (the case was opened months later): missed.
        let missed = deadline(&case, &format!("{key}_missed"));
        assert_eq!(missed["status"], "breached");
        assert!(d["missed_cycles"].as_i64().unwrap() >= 8, "{d}");
    }
    assert_eq!(deadline(&case, "continuity_personnel")["status"], "breached");
    assert_eq!(deadline(&case, "first_filing_earliest")["status"], "met");
    assert_eq!(case["stage"], "early_intervention");
    assert_eq!(case["application"]["status"], "none");
    let id = case["id"].as_str().unwrap().to_string();

    // Application received Friday 2026-11-20: acknowledgment due Monday 11-30 (Thanksgiving 11-26 skipped).
    let res = api
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-11-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let case: Value = res.json().await.unwrap();
    assert_eq!(deadline(&case, "acknowledgment")["due_on"], "2026-11-30");
    assert_eq!(case["application"]["status"], "incomplete");
    assert_eq!(case["stage"], "application");
    assert!(case["deadlines"].as_array().unwrap().iter().all(|d| d["key"] != "evaluation"));

    // Complete on 11-21: evaluation due 30 days later, 12-21.
    let res = api
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-11-20", "complete_on": "2026-11-21"}))
        .send()
        .await
        .unwrap();
    let case: Value = res.json().await.unwrap();
    assert_eq!(deadline(&case, "evaluation")["due_on"], "2026-12-21");
    assert_eq!(case["application"]["status"], "complete");
    assert_eq!(case["stage"], "evaluation");

    let got: Value =
        api.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["loan_number"], "LN-1001");
    assert_eq!(deadline(&got, "evaluation")["due_on"], "2026-12-21");

    // A duplicate loan number and a bad investor are validation errors.
    let res = api.post(t.app.url("/api/v1/lossmit/cases")).json(&case_body("LN-1001", None)).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let mut bad = case_body("LN-1002", None);
    bad["investor"] = json!("hud");
    let res = api.post(t.app.url("/api/v1/lossmit/cases")).json(&bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert!(body["errors"]["investor"].is_array(), "{body}");

    // Specialists do not create cases.
    let res =
        t.specialist.post(t.app.url("/api/v1/lossmit/cases")).json(&case_body("LN-1003", None)).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn records_dated_before_the_delinquency_began_satisfy_none_of_its_clocks() {
    let t = team().await;
    let case = create(&t, "LN-1101").await; // first unpaid due date 2026-03-01
    let id = case["id"].as_str().unwrap().to_string();
    let post = |path: &'static str, form: Vec<(&'static str, &'static str)>| {
        t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/{path}"))).form(&form).send()
    };
    let get = || async {
        let v: Value = t
            .specialist
            .get(t.app.url(&format!("/api/v1/lossmit/cases/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    // A live call and the written notice two days before the payment was missed.
    let contact = vec![("occurred_on", "2026-02-27"), ("channel", "phone"), ("live_contact", "on")];
    assert_eq!(post("contacts", contact).await.unwrap().status(), 303);
    let notice = vec![("kind", "early_intervention"), ("sent_on", "2026-02-27")];
    assert_eq!(post("notices", notice).await.unwrap().status(), 303);
    let c = get().await;
    // The earliest cycle (due 03-01) is missed whatever was done before it: all earlier cycles count as missed.
    let missed_contacts = deadline(&c, "live_contact")["missed_cycles"].as_i64().unwrap();
    let missed_notices = deadline(&c, "written_notice")["missed_cycles"].as_i64().unwrap();
    assert!(missed_contacts >= 8, "{c}");
    assert_eq!(deadline(&c, "live_contact_missed")["status"], "breached");
    assert_eq!(deadline(&c, "live_contact_missed")["done_on"], Value::Null);
    // Documents received before the delinquency began do not complete an application.
    assert_eq!(post("application", vec![("received_on", "2026-02-20")]).await.unwrap().status(), 303);
    for doc in ["assistance_form", "income", "tax_return", "bank_statements", "hardship_letter"] {
        let form = vec![("document", doc), ("document_received_on", "2026-02-20")];
        assert_eq!(post("documents", form).await.unwrap().status(), 303);
    }
    assert_eq!(get().await["application"]["status"], "incomplete");
    let page = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<p>5 required document(s) missing.</p>"), "the checklist ignores them");
    // A live contact on the due date itself and the notice on day 45 (2026-04-15) count.
    let contact = vec![("occurred_on", "2026-03-01"), ("channel", "phone"), ("live_contact", "on")];
    assert_eq!(post("contacts", contact).await.unwrap().status(), 303);
    let notice = vec![("kind", "early_intervention"), ("sent_on", "2026-04-15")];
    assert_eq!(post("notices", notice).await.unwrap().status(), 303);
    let c = get().await;
    // The contact covers the 03-01 cycle (one fewer missed); the notice covers every cycle whose day 45 is
    // fewer than 180 days after it (03-01 to 08-01: six fewer missed).
    assert_eq!(deadline(&c, "live_contact")["missed_cycles"].as_i64().unwrap(), missed_contacts - 1, "{c}");
    assert_eq!(deadline(&c, "written_notice")["missed_cycles"].as_i64().unwrap(), missed_notices - 6, "{c}");
    // The case page counts days delinquent as today minus the due date.
    let today = t.app.state.clock.now().with_timezone(&t.app.state.config.timezone).date_naive();
    let days = (today - chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()).num_days();
    assert!(page.contains(&format!("<span id=\"days-delinquent\">{days}</span> days delinquent today")));
}

#[tokio::test]
async fn the_observed_holiday_setting_decides_the_business_days() {
    let t = team().await;
    let case = create(&t, "LN-1201").await;
    let id = case["id"].as_str().unwrap().to_string();
    // Received Wednesday 2026-07-01. July 4 is a Saturday; Friday July 3 is observed in lieu of it. By default
    // it is a business day (the earlier deadline): acknowledgment due Wednesday 07-08.
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-07-01"}))
        .send()
        .await
        .unwrap();
    let c: Value = res.json().await.unwrap();
    assert_eq!(deadline(&c, "acknowledgment")["due_on"], "2026-07-08", "{c}");
    let board = t.supervisor.get(t.app.url("/lossmit/board")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("<strong>is a business day</strong> (the default"), "the board states the setting");
    assert!(!board.contains("id=\"calendar-form\""), "only admins change it");
    // Supervisors may not change the organisation's calendar; admins may.
    let form = [("observed_in_lieu", "holiday")];
    let res = t.supervisor.post(t.app.url("/lossmit/settings")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let (_, admin) = t.app.login_as(Role::Admin, "ada.admin@example.com", None, &[]).await;
    let board = admin.get(t.app.url("/lossmit/board")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("id=\"calendar-form\""));
    let res = admin.post(t.app.url("/lossmit/settings")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let c: Value =
        t.specialist.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(deadline(&c, "acknowledgment")["due_on"], "2026-07-09", "Friday 07-03 no longer counts");
    let changed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'setting_changed' AND entity_id = 'lossmit.observed_holidays_are_business_days'",
    )
    .fetch_one(t.app.db())
    .await
    .unwrap();
    assert_eq!(changed, 1);
    let res = admin.post(t.app.url("/lossmit/settings")).form(&[("observed_in_lieu", "maybe")]).send().await.unwrap();
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn complete_notice_acceptance_and_appeal_decision_clocks() {
    let t = team().await;
    let get = |id: String| {
        let c = &t.specialist;
        let url = t.app.url(&format!("/api/v1/lossmit/cases/{id}"));
        async move {
            let v: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            v
        }
    };
    let post = |id: String, path: &'static str, form: Vec<(&'static str, &'static str)>| {
        t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/{path}"))).form(&form).send()
    };
    // No sale scheduled. Complete Friday 2026-11-20: the complete-application notice is due in 5 business days
    // (Thanksgiving skipped), Monday 11-30; sent 11-24.
    let id = create(&t, "LN-1301").await["id"].as_str().unwrap().to_string();
    let app = vec![("received_on", "2026-11-02"), ("complete_on", "2026-11-20")];
    assert_eq!(post(id.clone(), "application", app).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "complete_notice")["due_on"], "2026-11-30");
    assert_eq!(deadline(&c, "complete_notice")["rule"], "12 CFR 1024.41(c)(3)");
    let notice = vec![("kind", "complete_application"), ("sent_on", "2026-11-24")];
    assert_eq!(post(id.clone(), "notices", notice).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "complete_notice")["status"], "met");
    assert_eq!(deadline(&c, "complete_notice")["done_on"], "2026-11-24");
    assert!(c["deadlines"].as_array().unwrap().iter().all(|d| d["key"] != "acceptance"));
    // Approved 11-25: the borrower has 14 days, to 12-09, to accept or reject (1024.41(e)).
    let decision = evaluation("2026-11-25", &["modification"], "Not needed once the modification is approved");
    assert_eq!(post(id.clone(), "decisions", decision).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "acceptance")["due_on"], "2026-12-09");
    assert_eq!(deadline(&c, "acceptance")["rule"], "12 CFR 1024.41(e)");

    // A sale on 2027-01-20 and an application complete 61 days before it: 7 days to accept.
    let mut body = case_body("LN-1302", Some("pat.spec@example.com"));
    body["sale_date"] = json!("2027-01-20");
    let res = t.supervisor.post(t.app.url("/api/v1/lossmit/cases")).json(&body).send().await.unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let app = vec![("received_on", "2026-11-02"), ("complete_on", "2026-11-20")];
    assert_eq!(post(id.clone(), "application", app).await.unwrap().status(), 303);
    let decision = evaluation("2026-11-25", &["repayment_plan"], "Investor guidelines");
    assert_eq!(post(id.clone(), "decisions", decision).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "acceptance")["due_on"], "2026-12-02");
    let letter = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}/letters/decision"))).send().await.unwrap();
    assert!(letter.text().await.unwrap().contains("December 2, 2026"), "the letter gives the 7-day window");

    // Denied 10-20, appealed 10-25: the appeal must be decided within 30 days, by 11-24; granted on 11-10,
    // it opens a 14-day acceptance window to 11-24.
    let id = create(&t, "LN-1303").await["id"].as_str().unwrap().to_string();
    let app = vec![("received_on", "2026-10-01"), ("complete_on", "2026-10-15")];
    assert_eq!(post(id.clone(), "application", app).await.unwrap().status(), 303);
    let decision = evaluation("2026-10-20", &[], "DTI");
    assert_eq!(post(id.clone(), "decisions", decision).await.unwrap().status(), 303);
    assert_eq!(post(id.clone(), "appeals", vec![("filed_on", "2026-10-25")]).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "appeal_decision")["due_on"], "2026-11-24");
    assert_eq!(deadline(&c, "appeal_decision")["rule"], "12 CFR 1024.41(h)(4)");
    assert_eq!(deadline(&c, "appeal_decision")["status"], "breached", "not decided by 11-24");
    let decided = vec![("appeal_decided_on", "2026-11-10"), ("appeal_outcome", "granted")];
    assert_eq!(post(id.clone(), "appeal-decision", decided).await.unwrap().status(), 303);
    let c = get(id.clone()).await;
    assert_eq!(deadline(&c, "appeal_decision")["status"], "met");
    assert_eq!(deadline(&c, "acceptance")["due_on"], "2026-11-24");
    // No complete-application notice was sent; the decision on 10-20, within 5 business days of 10-15 (Fri 16,
    // Mon 19, Tue 20, Wed 21, Thu 22), stands in for it (1024.41(c)(3)(ii)).
    assert_eq!(deadline(&c, "complete_notice")["due_on"], "2026-10-22");
    assert_eq!(deadline(&c, "complete_notice")["status"], "met");
    assert_eq!(deadline(&c, "complete_notice")["done_on"], "2026-10-20");
}

#[tokio::test]
async fn protections_are_fixed_when_the_application_became_complete() {
    let t = team().await;
    let api_case = |id: String| {
        let c = &t.specialist;
        let url = t.app.url(&format!("/api/v1/lossmit/cases/{id}"));
        async move {
            let v: Value = c.get(url).send().await.unwrap().json().await.unwrap();
            v
        }
    };
    // No sale scheduled when the application became complete (10-15): as if more than 90 days before any sale.
    let id = create(&t, "LN-1401").await["id"].as_str().unwrap().to_string();
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A sale scheduled afterwards for 11-10, 26 days after completion, takes no protection away.
    let version = api_case(id.clone()).await["version"].as_i64().unwrap().to_string();
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/sale-date")))
        .form(&[("sale_date", "2026-11-10"), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let c = api_case(id.clone()).await;
    assert_eq!(c["sale_date"], "2026-11-10");
    assert_eq!(deadline(&c, "evaluation")["due_on"], "2026-11-14");
    assert_eq!(deadline(&c, "acknowledgment")["due_on"], "2026-10-08");
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/foreclosure-steps")))
        .json(&json!({"step": "sale", "on": "2026-11-10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("12 CFR 1024.41(g)"), "{body}");
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/foreclosure-steps")))
        .form(&[("step", "motion_for_judgment"), ("step_on", "2026-11-02")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("Refused under 12 CFR 1024.41(g) (dual tracking)"));
    // Denied 10-20: appeal rights stay (the application counts as complete 90+ days before the sale).
    let form = evaluation("2026-10-20", &[], "DTI");
    let res = t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/decisions"))).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(deadline(&api_case(id.clone()).await, "appeal")["due_on"], "2026-11-03");

    // The other way round: a sale 37 days after completion when it became complete, moved later afterwards,
    // gives no protection back.
    let mut body = case_body("LN-1402", Some("pat.spec@example.com"));
    body["sale_date"] = json!("2026-11-21");
    let res = t.supervisor.post(t.app.url("/api/v1/lossmit/cases")).json(&body).send().await.unwrap();
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let version = api_case(id.clone()).await["version"].as_i64().unwrap().to_string();
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/sale-date")))
        .form(&[("sale_date", "2027-03-01"), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let c = api_case(id.clone()).await;
    assert!(c["deadlines"].as_array().unwrap().iter().all(|d| d["key"] != "evaluation"), "{c}");
}

#[tokio::test]
async fn dual_tracking_is_refused_through_the_api_with_the_rule_and_logged() {
    let t = team().await;
    let case = create(&t, "LN-2001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let step = |step: &str, on: &str| {
        t.specialist
            .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/foreclosure-steps")))
            .json(&json!({"step": step, "on": on}))
            .send()
    };
    // On 2026-06-29 the loan is 120 days delinquent, not more: refused under 1024.41(f)(1).
    let res = step("first_filing", "2026-06-29").await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("12 CFR 1024.41(f)(1)"), "{body}");

    // A complete application (received 10-01, complete 10-15) is pending: first filing and sale refused.
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = step("first_filing", "2026-11-02").await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("12 CFR 1024.41(f)(2)"), "{body}");
    let res = step("sale", "2026-11-02").await.unwrap();
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("12 CFR 1024.41(g)"), "{body}");

    let refusals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'lossmit.foreclosure_step.refused' AND entity_id = $1",
    )
    .bind(&id)
    .fetch_one(t.app.db())
    .await
    .unwrap();
    assert_eq!(refusals, 3);
    let steps: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lossmit_foreclosure_steps").fetch_one(t.app.db()).await.unwrap();
    assert_eq!(steps, 0);

    // Denied on 10-20 through the page; the 14-day appeal window ends 11-03. On 11-03 still refused, on 11-04
    // the first filing is recorded.
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/decisions")))
        .form(&evaluation("2026-10-20", &[], "Income insufficient for the target payment"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // The decision letter states the reason and the appeal rights (14 days: by November 3, 2026).
    let letter = t
        .specialist
        .get(t.app.url(&format!("/lossmit/cases/{id}/letters/decision")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(letter.contains("Income insufficient for the target payment"));
    assert!(letter.contains("id=\"appeal-rights\""), "appeal rights are stated");
    assert!(letter.contains("<strong>November 3, 2026</strong>"), "{letter}");
    assert_eq!(step("first_filing", "2026-11-03").await.unwrap().status(), 409);
    let res = step("first_filing", "2026-11-04").await.unwrap();
    assert_eq!(res.status(), 201);
    let case: Value = res.json().await.unwrap();
    assert_eq!(deadline(&case, "evaluation")["status"], "met"); // decided 10-20, due 11-14
    assert_eq!(deadline(&case, "appeal")["due_on"], "2026-11-03");
    assert_eq!(deadline(&case, "first_filing_earliest")["status"], "met");
    let bad = step("eviction", "2026-11-04").await.unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn the_case_page_shows_the_dual_tracking_refusal() {
    let t = team().await;
    let case = create(&t, "LN-3001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/application")))
        .form(&[("received_on", "2026-10-01"), ("complete_on", "2026-10-15")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/foreclosure-steps")))
        .form(&[("step", "motion_for_judgment"), ("step_on", "2026-11-02")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"refusal\""), "the refusal is shown on the case page");
    assert!(html.contains("Refused under 12 CFR 1024.41(g) (dual tracking)"), "{html}");
    assert!(html.contains("Case LN-3001"), "the case page is re-rendered with the refusal");
    // The form keeps what was typed.
    assert!(html.contains("value=\"2026-11-02\""));
    // Invalid input: 422 with the message.
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/foreclosure-steps")))
        .form(&[("step", "sale"), ("step_on", "soon")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Enter a date"));
}

#[tokio::test]
async fn specialists_see_only_their_cases_and_other_roles_are_refused() {
    let t = team().await;
    let case = create(&t, "LN-4001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let (_, other) = t.app.login_as(Role::Lossmit, "other.spec@example.com", None, &[]).await;
    let (_, lo) = t.app.login_as(Role::Lo, "lee.lo@example.com", Some("North"), &["TX"]).await;

    assert_eq!(t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().status(), 200);
    assert_eq!(other.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().status(), 404);
    assert_eq!(other.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().status(), 404);
    assert_eq!(other.get(t.app.url(&format!("/lossmit/cases/{id}/export"))).send().await.unwrap().status(), 404);
    let res = other
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/foreclosure-steps")))
        .json(&json!({"step": "sale", "on": "2026-11-02"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let queue = other.get(t.app.url("/lossmit")).send().await.unwrap().text().await.unwrap();
    assert!(!queue.contains("LN-4001"));
    let queue = t.specialist.get(t.app.url("/lossmit")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("LN-4001"));

    for path in [
        "/lossmit",
        "/lossmit/board",
        "/lossmit/reports",
        &format!("/lossmit/cases/{id}"),
        &format!("/api/v1/lossmit/cases/{id}"),
    ] {
        assert_eq!(lo.get(t.app.url(path)).send().await.unwrap().status(), 403, "{path}");
    }
    // Specialists are not supervisors.
    assert_eq!(t.specialist.get(t.app.url("/lossmit/board")).send().await.unwrap().status(), 403);
    assert_eq!(t.specialist.get(t.app.url("/lossmit/cases/new")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn checklist_completes_the_application_and_assessment_shows_ratios() {
    let t = team().await;
    let case = create(&t, "LN-5001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let post = |path: &'static str, form: Vec<(&'static str, &'static str)>| {
        t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/{path}"))).form(&form).send()
    };
    assert_eq!(post("application", vec![("received_on", "2026-11-02")]).await.unwrap().status(), 303);
    for (doc, on) in [
        ("assistance_form", "2026-11-02"),
        ("income", "2026-11-05"),
        ("tax_return", "2026-11-09"),
        ("bank_statements", "2026-11-06"),
    ] {
        assert_eq!(
            post("documents", vec![("document", doc), ("document_received_on", on)]).await.unwrap().status(),
            303
        );
    }
    let ack = t
        .specialist
        .get(t.app.url(&format!("/lossmit/cases/{id}/letters/acknowledgment")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ack.contains("Hardship letter") && !ack.contains("Two most recent bank statements"),
        "only the hardship letter is missing"
    );
    let c: Value =
        t.specialist.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(c["application"]["status"], "incomplete");
    // The last required document, received 11-10, completes the application on that date.
    assert_eq!(
        post("documents", vec![("document", "hardship_letter"), ("document_received_on", "2026-11-10")])
            .await
            .unwrap()
            .status(),
        303
    );
    let c: Value =
        t.specialist.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(c["application"]["status"], "complete");
    assert_eq!(c["application"]["complete_on"], "2026-11-10");
    assert_eq!(deadline(&c, "evaluation")["due_on"], "2026-12-10");
    // Acknowledgment of 11-02 (Monday): due Monday 11-09 (Wednesday 11-11 is not in range); sent 11-04: met.
    assert_eq!(deadline(&c, "acknowledgment")["due_on"], "2026-11-09");
    assert_eq!(
        post("notices", vec![("kind", "acknowledgment"), ("sent_on", "2026-11-04")]).await.unwrap().status(),
        303
    );
    let c: Value =
        t.specialist.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(deadline(&c, "acknowledgment")["status"], "met");

    // Income $6,000.00, other debts $600.00. PITI = 1,330.18 + 350.00 = 1,680.18:
    // housing 1,680.18 / 6,000.00 = 28.0030% -> 28.00%; DTI 2,280.18 / 6,000.00 = 38.0030% -> 38.00%.
    let res = post(
        "assessment",
        vec![
            ("wages", "6,000.00"),
            ("other_debts", "600"),
            ("hardship_reason", "reduced_income"),
            ("hardship_duration", "temporary"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 303);
    let page = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dt>Housing ratio</dt><dd>28.00%</dd>"), "housing ratio shown");
    assert!(page.contains("<dt>DTI</dt><dd>38.00%</dd>"), "DTI shown");
    let res = post(
        "assessment",
        vec![("wages", "lots"), ("hardship_reason", "reduced_income"), ("hardship_duration", "temporary")],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("value=\"lots\""), "the form keeps the input");

    // The records are immutable in the database.
    let err = sqlx::query("UPDATE lossmit_documents SET received_on = '2026-01-01'").execute(t.app.db()).await;
    assert!(err.is_err(), "documents cannot be changed");
    let err = sqlx::query("DELETE FROM lossmit_applications").execute(t.app.db()).await;
    assert!(err.is_err(), "applications cannot be deleted");

    // The export carries the records.
    let export: Value =
        t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}/export"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(export["records"].as_array().unwrap().iter().filter(|r| r["record"] == "document").count(), 5);
    let csv = t
        .specialist
        .get(t.app.url(&format!("/lossmit/cases/{id}/export?format=csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Recorded times in the organisation's zone, named in the column (America/Chicago: CST or CDT).
    assert!(csv.starts_with("record,on,kind,detail,flag,actor,recorded_at (America/Chicago)"), "{csv}");
    let case_row = csv.lines().nth(1).unwrap();
    assert!(case_row.ends_with(" CST") || case_row.ends_with(" CDT"), "{case_row}");
    assert!(csv.contains("deadline,2026-12-10,evaluation,12 CFR 1024.41(c)(1)"));
}

/// Opens every figure link of a report page (`/lossmit?…`) and checks the list's total is the figure;
/// returns how many links there were and how many were non-zero.
async fn figures_agree(t: &Team, report: &str) -> (usize, usize) {
    let (mut rest, mut links, mut nonzero) = (report, 0, 0);
    while let Some(at) = rest.find("<a href=\"/lossmit?") {
        rest = &rest[at + 9..];
        let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
        let n = common::link_count(rest).unwrap() as usize;
        assert_eq!(t.app.list_total(&t.supervisor, &href).await, n as i64, "{href}");
        // The API's list takes the same filters and totals the same.
        let api = href.replacen("/lossmit?", "/api/v1/lossmit/cases?", 1);
        let v: Value = t.supervisor.get(t.app.url(&api)).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["total"], n, "{api}: {v}");
        links += 1;
        nonzero += usize::from(n > 0);
    }
    (links, nonzero)
}

#[tokio::test]
async fn supervisor_reassigns_with_history_and_sees_the_board_and_reports() {
    let t = team().await;
    let case = create(&t, "LN-6001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let other_id = t.app.create_user(Role::Lossmit, "quinn.spec@example.com", None, &[]).await;
    let board = t.supervisor.get(t.app.url("/lossmit/board")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("LN-6001") && board.contains("pat spec"));
    let version = case["version"].as_i64().unwrap().to_string();
    let res = t
        .supervisor
        .post(t.app.url(&format!("/lossmit/cases/{id}/reassign")))
        .form(&[
            ("specialist_id", other_id.to_string().as_str()),
            ("version", version.as_str()),
            ("reason", "Leave cover"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // The same (now stale) version again: 409.
    let res = t
        .supervisor
        .post(t.app.url(&format!("/lossmit/cases/{id}/reassign")))
        .form(&[("specialist_id", other_id.to_string().as_str()), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // The first specialist no longer sees it.
    assert_eq!(t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().status(), 404);
    let history: Vec<(Option<uuid::Uuid>, uuid::Uuid, String)> = sqlx::query_as(
        "SELECT from_specialist_id, to_specialist_id, reason FROM lossmit_assignments WHERE case_id = $1::uuid ORDER BY id",
    )
    .bind(&id)
    .fetch_all(t.app.db())
    .await
    .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].1, other_id);
    assert_eq!(history[1].2, "Leave cover");
    assert_eq!(Some(history[0].1), history[1].0);

    // Resolve as cured, then reopen: a re-default on the report.
    let v: Value =
        t.supervisor.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    let v1 = v["version"].as_i64().unwrap().to_string();
    let res = t
        .supervisor
        .post(t.app.url(&format!("/lossmit/cases/{id}/stage")))
        .form(&[("stage", "resolved"), ("resolution", "cured"), ("version", v1.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let report = t.supervisor.get(t.app.url("/lossmit/reports")).send().await.unwrap().text().await.unwrap();
    assert!(common::text_of(&report).contains("Cure rate: 1 of 1 resolved cases cured (100.00%)"), "{report}");
    // Every figure of the report (stage by age, deadlines per specialist, cure) opens the cases behind it,
    // and the list's total is the figure.
    let (links, nonzero) = figures_agree(&t, &report).await;
    assert!(links >= 30 && nonzero >= 5, "{links} links, {nonzero} non-zero");
    let res = t.supervisor.get(t.app.url("/lossmit?stage=resolved&colour=red")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let v2 = (v["version"].as_i64().unwrap() + 1).to_string();
    let res = t
        .supervisor
        .post(t.app.url(&format!("/lossmit/cases/{id}/stage")))
        .form(&[("stage", "early_intervention"), ("resolution", ""), ("version", v2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let report = t.supervisor.get(t.app.url("/lossmit/reports")).send().await.unwrap().text().await.unwrap();
    assert!(
        common::text_of(&report).contains("Re-default rate: 1 of 1 cases cured or modified were reopened (100.00%)"),
        "{report}"
    );
    figures_agree(&t, &report).await;
    for bad in ["clock=late", "specialist=pat", "history=cured", "resolution=won", "colour=red"] {
        let res = t.supervisor.get(t.app.url(&format!("/lossmit?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "{bad}");
        assert!(res.text().await.unwrap().contains(&format!("{}:", bad.split('=').next().unwrap())), "{bad}");
        let res = t.supervisor.get(t.app.url(&format!("/api/v1/lossmit/cases?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 422, "API {bad}");
        assert!(res.text().await.unwrap().contains(bad.split('=').next().unwrap()), "API {bad}");
    }
    // The specialist's API list holds only their own cases (the case above went to another specialist).
    let v: Value = t.specialist.get(t.app.url("/api/v1/lossmit/cases")).send().await.unwrap().json().await.unwrap();
    assert!(v["items"].as_array().unwrap().iter().all(|c| c["loan_number"] != "LN-6001"), "{v}");
    assert_eq!(v["total"], v["items"].as_array().unwrap().len());
    let csv = t.supervisor.get(t.app.url("/lossmit/reports?format=csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("redefault_rate,reopened/cured_or_modified,1,1,100.00%"), "{csv}");
}

#[tokio::test]
async fn new_case_form_validates_and_opens_the_case() {
    let t = team().await;
    let page = t.supervisor.get(t.app.url("/lossmit/cases/new")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut form = vec![
        ("loan_number", "LN-7001"),
        ("borrower_name", "Robin Vale"),
        ("property_state", "tx"),
        ("investor", "fha"),
        ("upb", "150,000.00"),
        ("note_rate", "6.25"),
        ("remaining_term_months", "320"),
        ("monthly_pi", "abc"),
        ("monthly_escrow", "300"),
        ("first_unpaid_due_date", "2026-08-01"),
        ("specialist_email", "pat.spec@example.com"),
    ];
    let res = t.supervisor.post(t.app.url("/lossmit/cases")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter an amount in dollars") && html.contains("value=\"Robin Vale\""));
    form[7] = ("monthly_pi", "1,000.00");
    let res = t.supervisor.post(t.app.url("/lossmit/cases")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let id = loc.trim_start_matches("/lossmit/cases/");
    let c: Value =
        t.specialist.get(t.app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(c["upb_cents"], 15_000_000);
    assert_eq!(c["monthly_pi_cents"], 100_000);
    assert_eq!(c["property_state"], "TX");
    // Due 2026-08-01: continuity personnel by 09-15, first filing from 11-30.
    assert_eq!(deadline(&c, "continuity_personnel")["due_on"], "2026-09-15");
    assert_eq!(deadline(&c, "first_filing_earliest")["due_on"], "2026-11-30");
}

#[tokio::test]
async fn a_sale_scheduled_close_to_the_application_removes_the_protection() {
    let t = team().await;
    let case = create(&t, "LN-8001").await;
    let id = case["id"].as_str().unwrap().to_string();
    let version = case["version"].as_i64().unwrap().to_string();
    // Sale on 2026-11-21; the application is complete on 10-15, 37 days before: no evaluation clock and no
    // dual-tracking protection, so the sale may be recorded.
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/sale-date")))
        .form(&[("sale_date", "2026-11-21"), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"}))
        .send()
        .await
        .unwrap();
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["sale_date"], "2026-11-21");
    assert_eq!(deadline(&c, "acknowledgment")["due_on"], "2026-10-08"); // received 51 days before the sale
    assert!(c["deadlines"].as_array().unwrap().iter().all(|d| d["key"] != "evaluation"));
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/foreclosure-steps")))
        .json(&json!({"step": "sale", "on": "2026-11-21"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A stale version of the sale-date form is refused.
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/sale-date")))
        .form(&[("sale_date", ""), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn assignment_notifies_and_the_daily_digest_reports_breaches() {
    let t = team().await;
    create(&t, "LN-9101").await;
    let spec: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'pat.spec@example.com'")
        .fetch_one(t.app.db())
        .await
        .unwrap();
    let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM notifications WHERE user_id = $1 ORDER BY id")
        .bind(spec)
        .fetch_all(t.app.db())
        .await
        .unwrap();
    assert_eq!(titles, vec!["Loss-mitigation case LN-9101 (Dana Whitfield) assigned to you".to_string()]);
    // A second case does not schedule a second digest for the same day.
    create(&t, "LN-9102").await;
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'lossmit.deadline_digest' AND status = 'queued'")
            .fetch_one(t.app.db())
            .await
            .unwrap();
    assert_eq!(queued, 1);
    // Run it a day later: each case has live contact, written notice and continuity breached (3 x 2 = 6).
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    loanfloor::jobs::run_due(&t.app.state, later, "test").await.unwrap();
    let digest: String =
        sqlx::query_scalar("SELECT title FROM notifications WHERE user_id = $1 AND kind = 'lossmit.digest'")
            .bind(spec)
            .fetch_one(t.app.db())
            .await
            .unwrap();
    assert!(digest.ends_with("6 breached"), "{digest}");
    let next: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'lossmit.deadline_digest' AND status = 'queued' AND run_at > $1",
    )
    .bind(later)
    .fetch_one(t.app.db())
    .await
    .unwrap();
    assert_eq!(next, 1, "the digest schedules itself for the next day");
}

/// Notices of error and requests for information (12 CFR 1024.35, 1024.36): recorded through the API, their
/// clocks appear among the case's deadlines (`error_ack`, `error_response`), a payoff request is due in 7
/// business days and cannot be extended, a general request may be extended once before it is due.
#[tokio::test]
async fn borrower_requests_run_their_own_clocks() {
    let app = TestApp::spawn().await;
    let sup = app.create_user(Role::LossmitSupervisor, "sup.requests@servicer.test", None, &[]).await;
    let api = app.api(&app.token_for(sup).await);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::America::Chicago).date_naive();
    let res = api.post(app.url("/api/v1/lossmit/cases")).json(&case_body("REQ-1", None)).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let case: serde_json::Value = res.json().await.unwrap();
    let id = case["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/api/v1/lossmit/cases/{id}/borrower-requests"));
    let received = today - chrono::Duration::days(2);
    for (kind, category) in [("information_request", "payoff_statement"), ("information_request", "escrow")] {
        let res = api
            .post(&url)
            .json(&serde_json::json!({"kind": kind, "category": category, "channel": "mail",
                                      "received_on": received.to_string(), "summary": "Borrower letter"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    // A bad category is a 422 naming it.
    let res = api
        .post(&url)
        .json(&serde_json::json!({"kind": "notice_of_error", "category": "weather", "channel": "mail",
                                  "received_on": received.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("category"));

    let list: Vec<serde_json::Value> = api.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 2);
    let cal = loanfloor::calendar::Calendar::default();
    let ack_due = cal.add_business_days(received, 5);
    assert_eq!(list[0]["deadlines"][0]["key"], "error_ack");
    assert_eq!(list[0]["deadlines"][0]["due_on"], ack_due.to_string());
    // A payoff statement: 7 business days (Regulation Z 1026.36(c)(3)), never extended.
    assert_eq!(list[0]["deadlines"][1]["due_on"], cal.add_business_days(received, 7).to_string());
    let payoff = list[0]["id"].as_i64().unwrap();
    let res = api
        .post(app.url(&format!("/api/v1/lossmit/cases/{id}/borrower-requests/progress")))
        .json(&serde_json::json!({"request_id": payoff, "step": "extended", "on": today.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "a payoff statement's clock cannot be extended");

    // The case's own clocks list them.
    let case: serde_json::Value =
        api.get(app.url(&format!("/api/v1/lossmit/cases/{id}"))).send().await.unwrap().json().await.unwrap();
    let keys: Vec<&str> = case["deadlines"].as_array().unwrap().iter().filter_map(|d| d["key"].as_str()).collect();
    assert_eq!(keys.iter().filter(|k| **k == "error_response").count(), 2, "{keys:?}");
    assert!(keys.contains(&"error_ack") && keys.contains(&"live_contact"));

    // Extend the escrow request once, then answer it; a second extension is refused.
    let progress = app.url(&format!("/api/v1/lossmit/cases/{id}/borrower-requests/progress"));
    let rid = list[1]["id"].as_i64().unwrap();
    let step = |s: &str| serde_json::json!({"request_id": rid, "step": s, "on": today.to_string()});
    // An extension must give its reason: the borrower is told it in writing.
    assert_eq!(api.post(&progress).json(&step("extended")).send().await.unwrap().status(), 422);
    let mut extend = step("extended");
    extend["explanation"] = serde_json::json!("The county has not yet sent the 2026 tax bill we need.");
    assert_eq!(api.post(&progress).json(&extend).send().await.unwrap().status(), 200);
    assert_eq!(api.post(&progress).json(&extend).send().await.unwrap().status(), 409);
    // An answer must say what it is: refused without an outcome and its text.
    assert_eq!(api.post(&progress).json(&step("responded")).send().await.unwrap().status(), 422);
    let mut answer = step("responded");
    answer["outcome"] = serde_json::json!("provided");
    answer["explanation"] = serde_json::json!("Your 2026 escrow analysis is enclosed: taxes rose by $412.");
    let after: Vec<serde_json::Value> = api.post(&progress).json(&answer).send().await.unwrap().json().await.unwrap();
    let extended_due = cal.add_business_days(cal.add_business_days(received, 30), 15);
    assert_eq!(after[1]["deadlines"][1]["due_on"], extended_due.to_string());
    assert_eq!(after[1]["deadlines"][1]["status"], "met");
    assert_eq!(after[1]["deadlines"][0]["status"], "met", "an answer within 5 business days covers the acknowledgment");

    // A notice of error left unacknowledged for weeks is a breach on the supervisor's board.
    let old = today - chrono::Duration::days(20);
    let res = api
        .post(&url)
        .json(&serde_json::json!({"kind": "notice_of_error", "category": "fees", "channel": "email",
                                  "received_on": old.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let board = app.login("sup.requests@servicer.test").await;
    let page = board.get(app.url("/lossmit/board")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Acknowledge the notice of error (5 business days)"), "the breach is on the board");
    // ... and in the reports' overdue table, which does not list the answered escrow request.
    let reports = board.get(app.url("/lossmit/reports")).send().await.unwrap().text().await.unwrap();
    let overdue = reports.split("id=\"overdue-requests\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(overdue.contains("Acknowledge the notice of error (5 business days)"), "{overdue}");
    assert!(!overdue.contains("Provide the information"), "answered in time: {overdue}");
    // The answer was filed as a letter with its text.
    let filed =
        board.get(app.url(&format!("/lossmit/cases/{id}/letters/filed"))).send().await.unwrap().text().await.unwrap();
    assert!(filed.contains("Our answer to your request for information"), "{filed}");
    assert!(filed.contains("We need more time to answer your request for information"), "{filed}");
    assert!(filed.contains("has not yet sent the 2026 tax bill"), "{filed}");
    assert!(filed.contains(&chrono::NaiveDate::format(&extended_due, "%B %-d, %Y").to_string()), "{filed}");
    assert!(filed.contains("taxes rose by $412"), "{filed}");

    // A specialist who does not work the case sees none of it.
    let other = app.create_user(Role::Lossmit, "other.spec@servicer.test", None, &[]).await;
    let other_api = app.api(&app.token_for(other).await);
    assert_eq!(other_api.get(&url).send().await.unwrap().status(), 404);
}

/// Issue 18 item 4 (1024.41(c)(1), (d), (g), (h)): an evaluation decides every option; a denied modification
/// while another option is on offer ends nothing; only a modification denial may be appealed; the letter gives
/// each denied option's reason.
#[tokio::test]
async fn each_option_is_decided_and_a_denial_beside_an_open_offer_ends_nothing() {
    let t = team().await;
    let id = create(&t, "LN-4001").await["id"].as_str().unwrap().to_string();
    let api = |path: &'static str, body: Value| {
        t.specialist.post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/{path}"))).json(&body).send()
    };
    let app = json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"});
    assert_eq!(api("application", app).await.unwrap().status(), 201);
    // An evaluation that leaves options undecided, or denies without a reason, is refused naming each.
    let partial = json!({"decided_on": "2026-10-20", "decisions": [
        {"option": "modification", "outcome": "denied"}]});
    let res = api("evaluation", partial).await.unwrap();
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    for field in ["outcome_forbearance", "outcome_deed_in_lieu", "reason_modification"] {
        assert!(body.contains(field), "{field} is named: {body}");
    }
    // Modification denied, repayment plan approved, the rest and the investor's own program denied.
    let full = json!({"decided_on": "2026-10-20", "decisions": [
        {"option": "modification", "outcome": "denied", "reason": "Payment reduction below the investor's 10% target"},
        {"option": "repayment_plan", "outcome": "approved"},
        {"option": "forbearance", "outcome": "denied", "reason": "The hardship is permanent"},
        {"option": "short_sale", "outcome": "denied", "reason": "The borrower wants to keep the home"},
        {"option": "deed_in_lieu", "outcome": "denied", "reason": "The borrower wants to keep the home"},
        {"option": "investor_program", "program": "Flex Modification", "outcome": "denied", "reason": "Not owner-occupied per the file"}]});
    let res = api("evaluation", full).await.unwrap();
    assert_eq!(res.status(), 201);
    let case: Value = res.json().await.unwrap();
    assert_eq!(case["evaluation"]["approved"], true);
    assert_eq!(case["evaluation"]["modification_denied"], true);
    assert_eq!(case["stage"], "offer");
    assert_eq!(deadline(&case, "evaluation")["status"], "met");
    // Long after the appeal and acceptance windows (11-03), the plan is still on offer: the bar holds.
    let res = t.api_step(&id, "motion_for_judgment", "2026-11-20").await;
    assert_eq!(res.status(), 409, "a denial of one option while another offer is open ends nothing");
    assert!(res.text().await.unwrap().contains("12 CFR 1024.41(g)"));
    let res = t.page_step(&id, "sale", "2026-11-20").await;
    assert_eq!(res.status(), 409, "the case page refuses it the same way");
    assert!(res.text().await.unwrap().contains("Refused under 12 CFR 1024.41(g) (dual tracking)"));
    // The letter: every option, each denial's reason, the appeal rights for the modification only.
    let letter = t
        .specialist
        .get(t.app.url(&format!("/lossmit/cases/{id}/letters/decision")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [
        "Payment reduction below the investor&#39;s 10% target",
        "The hardship is permanent",
        "Investor program: Flex Modification",
        "Not owner-occupied per the file",
        "id=\"appeal-rights\"",
        "loan modification decision",
    ] {
        assert!(letter.contains(text), "{text}: {letter}");
    }
    assert_eq!(api("appeal", json!({"filed_on": "2026-10-25"})).await.unwrap().status(), 201);

    // A modification approved with other options denied: nothing may be appealed (1024.41(h)).
    let id2 = create(&t, "LN-4002").await["id"].as_str().unwrap().to_string();
    let api2 = |path: &'static str, body: Value| {
        t.specialist.post(t.app.url(&format!("/api/v1/lossmit/cases/{id2}/{path}"))).json(&body).send()
    };
    let app = json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"});
    assert_eq!(api2("application", app).await.unwrap().status(), 201);
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id2}/decisions")))
        .form(&evaluation("2026-10-20", &["modification"], "A modification serves the hardship better"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = api2("appeal", json!({"filed_on": "2026-10-25"})).await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("1024.41(h)"));
    let case = t.case(&id2).await;
    assert!(case["deadlines"].as_array().unwrap().iter().all(|d| d["key"] != "appeal"), "no appeal window");
    // The report's option mix and time to decision open the cases behind them; the totals count decisions.
    let report = t.supervisor.get(t.app.url("/lossmit/reports")).send().await.unwrap().text().await.unwrap();
    figures_agree(&t, &report).await;
    let mix = &report[report.find("id=\"option-mix\"").unwrap()..];
    let mix = &mix[..mix.find("</table>").unwrap()];
    let (links, zeros) = (mix.matches("approved=").count(), mix.matches("\">0</a>").count());
    assert!(links >= 10 && links - zeros >= 2, "at least two option-mix figures are not zero: {mix}");
}

/// Issue 18 item 5 (1024.41(i)): a later incomplete application never displaces a complete undecided one; a
/// second complete application in the same delinquency is duplicative; after the borrower is brought current a
/// new complete application protects again. Through the API and the case page.
#[tokio::test]
async fn several_applications_protect_from_the_first_complete_one_of_the_delinquency() {
    let t = team().await;
    let id = create(&t, "LN-5001").await["id"].as_str().unwrap().to_string();
    let api = |path: &'static str, body: Value| {
        t.specialist.post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/{path}"))).json(&body).send()
    };
    let res = api("application", json!({"received_on": "2026-10-01", "complete_on": "2026-10-15"})).await.unwrap();
    assert_eq!(res.status(), 201);
    // A later, incomplete application: the complete one still protects.
    let res = api("application", json!({"received_on": "2026-10-25"})).await.unwrap();
    let case: Value = res.json().await.unwrap();
    assert_eq!(case["application"]["number"], 1);
    assert_eq!(case["application"]["complete_on"], "2026-10-15");
    assert_eq!(case["application"]["status"], "complete");
    assert_eq!(t.api_step(&id, "first_filing", "2026-11-02").await.status(), 409, "the complete one is pending");
    // A second complete application in the same delinquency is duplicative.
    let res = api("application", json!({"received_on": "2026-11-01", "complete_on": "2026-11-01"})).await.unwrap();
    let case: Value = res.json().await.unwrap();
    assert_eq!(case["application"]["number"], 1);
    let statuses: Vec<&str> =
        case["application"]["all"].as_array().unwrap().iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["protecting", "superseded", "duplicative"]);
    // Everything denied on 11-05; the appeal window ends 11-19; the duplicative application restarts nothing.
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/decisions")))
        .form(&evaluation("2026-11-05", &[], "Income insufficient"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(t.api_step(&id, "first_filing", "2026-11-19").await.status(), 409);
    assert_eq!(t.api_step(&id, "first_filing", "2026-11-20").await.status(), 201);
    // Brought current on 11-21, delinquent again, a new complete application on 11-22: it protects.
    assert_eq!(api("reinstatement", json!({"current_on": "2026-11-21"})).await.unwrap().status(), 201);
    let res = api("application", json!({"received_on": "2026-11-22", "complete_on": "2026-11-22"})).await.unwrap();
    let case: Value = res.json().await.unwrap();
    assert_eq!(case["application"]["number"], 4);
    assert!(case["evaluation"].is_null(), "the new application is undecided");
    let res = t.api_step(&id, "motion_for_judgment", "2026-11-25").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("12 CFR 1024.41(g)"));
    // The case page says which application the protections come from, and refuses the step the same way.
    let page = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().text().await.unwrap();
    let row4 = page.split("data-application=\"4\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row4.contains("protections come from this application"), "{row4}");
    let row1 = page.split("data-application=\"1\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row1.contains("earlier delinquency"), "{row1}");
    let res = t.page_step(&id, "motion_for_judgment", "2026-11-25").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("Refused under 12 CFR 1024.41(g) (dual tracking)"));
}

/// Issue 18 item 9: the early-intervention notice with the content 1024.39(b)(2) requires, the complete-application
/// notice and the per-option decision letter are rendered for print and filed on the case as records nothing
/// can change; filing records the notice (and so satisfies its clock).
#[tokio::test]
async fn letters_are_filed_as_records_that_cannot_change() {
    let t = team().await;
    let id = create(&t, "LN-9001").await["id"].as_str().unwrap().to_string();
    let letter =
        |slug: &'static str| t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}/letters/{slug}"))).send();
    // Without the servicer's telephone number the notice cannot be written.
    let res = letter("early-intervention").await.unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("1024.39(b)(2)(ii)"));
    // The supervisor sets it on the board; a number without an area code is refused with the input kept.
    let bad = [("name", "Loanfloor Servicing"), ("phone", "555-0100"), ("hours", "8-6 CT"), ("address", "")];
    let res = t.supervisor.post(t.app.url("/lossmit/settings/servicer")).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("area code") && page.contains("value=\"555-0100\""), "{page}");
    let good = [
        ("name", "Loanfloor Servicing"),
        ("phone", "(512) 555-0100"),
        ("hours", "8-6 CT"),
        ("address", "PO Box 1, Austin TX"),
    ];
    let res = t.supervisor.post(t.app.url("/lossmit/settings/servicer")).form(&good).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = t.specialist.post(t.app.url("/lossmit/settings/servicer")).form(&good).send().await.unwrap();
    assert_eq!(res.status(), 403, "specialists do not set the organisation's contact");

    // The notice: servicer contact, the assigned person, options, how to apply, housing counselors.
    let res = letter("early-intervention").await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for text in [
        "(512) 555-0100",
        "id=\"contact-personnel\"",
        "id=\"options\"",
        "Repayment plan",
        "Deed-in-lieu",
        "id=\"how-to-apply\"",
        "Borrower assistance form",
        "www.consumerfinance.gov/find-a-housing-counselor",
        "1-800-569-4287",
        "12 CFR 1024.39(b)",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    // Filing stores it and records the notice in one step.
    let res =
        t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/letters/early-intervention"))).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/lossmit/cases/{id}/letters/filed"));
    let notices: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lossmit_notices WHERE case_id = $1::uuid AND kind = 'early_intervention'",
    )
    .bind(&id)
    .fetch_one(t.app.db())
    .await
    .unwrap();
    assert_eq!(notices, 1);
    let (stored, sha): (String, String) =
        sqlx::query_as("SELECT html, sha256 FROM lossmit_letters WHERE case_id = $1::uuid")
            .bind(&id)
            .fetch_one(t.app.db())
            .await
            .unwrap();
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(stored.as_bytes())));
    let filed = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}/letters/filed"))).send().await.unwrap();
    let filed = filed.text().await.unwrap();
    assert!(filed.contains(&sha) && filed.contains("1-800-569-4287"), "{filed}");
    // A filed letter is a record: the database refuses to change or remove it.
    let change = sqlx::query("UPDATE lossmit_letters SET html = 'changed' WHERE case_id = $1::uuid")
        .bind(&id)
        .execute(t.app.db())
        .await;
    assert!(change.unwrap_err().to_string().contains("cannot be changed"));
    assert!(sqlx::query("DELETE FROM lossmit_letters").execute(t.app.db()).await.is_err());

    // The complete-application notice exists once the application is complete, with the evaluation date.
    assert_eq!(letter("complete-application").await.unwrap().status(), 409);
    let app = json!({"received_on": "2026-11-02", "complete_on": "2026-11-20"});
    let res = t
        .specialist
        .post(t.app.url(&format!("/api/v1/lossmit/cases/{id}/application")))
        .json(&app)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let html = letter("complete-application").await.unwrap().text().await.unwrap();
    assert!(html.contains("November 20, 2026") && html.contains("<strong>December 20, 2026</strong>"), "{html}");
    assert!(html.contains("id=\"protections\""));
    let res = t
        .specialist
        .post(t.app.url(&format!("/lossmit/cases/{id}/letters/complete-application")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let case = t.case(&id).await;
    assert!(deadline(&case, "complete_notice")["done_on"].is_string(), "filing recorded the notice: {case}");
    let letters: i64 = sqlx::query_scalar("SELECT count(*) FROM lossmit_letters WHERE case_id = $1::uuid")
        .bind(&id)
        .fetch_one(t.app.db())
        .await
        .unwrap();
    assert_eq!(letters, 2);
}

/// Issue 18 item 8 through the case page: a notice of error recorded and answered by a specialist, the answer
/// refused without its text (422 with the input kept), then filed as the response letter.
#[tokio::test]
async fn the_case_page_records_and_answers_a_notice_of_error() {
    let t = team().await;
    let id = create(&t, "LN-8001").await["id"].as_str().unwrap().to_string();
    let form = |path: &'static str, f: Vec<(&'static str, &'static str)>| {
        t.specialist.post(t.app.url(&format!("/lossmit/cases/{id}/{path}"))).form(&f).send()
    };
    let record = vec![
        ("request_kind", "notice_of_error"),
        ("request_category", "fees"),
        ("request_channel", "mail"),
        ("request_received_on", "2026-11-02"),
        ("request_summary", "A $50 inspection fee was charged twice"),
    ];
    assert_eq!(form("requests", record).await.unwrap().status(), 303);
    let page = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}"))).send().await.unwrap().text().await.unwrap();
    let table = page.split("id=\"requests\"").nth(1).unwrap().split("</table>").next().unwrap();
    // Received Monday 11-02: acknowledge in 5 business days (11-09), answer in 30 (Veterans Day and
    // Thanksgiving skipped: 12-16).
    assert!(table.contains("A $50 inspection fee was charged twice") && table.contains("2026-11-09"), "{table}");
    assert!(table.contains("2026-12-16"), "{table}");
    let request_id = page.split("data-request=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let rid: &'static str = Box::leak(request_id.into_boxed_str());
    let answer =
        vec![("request_id", rid), ("step", "responded"), ("progress_on", "2026-11-20"), ("outcome", "corrected")];
    let res = form("requests/progress", answer).await.unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("goes into the letter") && html.contains("value=\"2026-11-20\""), "{html}");
    let answer = vec![
        ("request_id", rid),
        ("step", "responded"),
        ("progress_on", "2026-11-20"),
        ("outcome", "no_error"),
        ("explanation", "The second charge was a property preservation visit on 10-14, not a duplicate."),
    ];
    assert_eq!(form("requests/progress", answer).await.unwrap().status(), 303);
    let filed = t.specialist.get(t.app.url(&format!("/lossmit/cases/{id}/letters/filed"))).send().await.unwrap();
    let filed = filed.text().await.unwrap();
    for text in [
        "Our answer to your notice of error",
        "No error occurred",
        "preservation visit",
        "id=\"documents-right\"",
        "12 CFR 1024.35(e)",
    ] {
        assert!(filed.contains(text), "{text}: {filed}");
    }
    let case = t.case(&id).await;
    let answer = case["deadlines"].as_array().unwrap().iter().find(|d| d["key"] == "error_response").unwrap();
    assert_eq!((answer["status"].as_str(), answer["done_on"].as_str()), (Some("met"), Some("2026-11-20")));
}
