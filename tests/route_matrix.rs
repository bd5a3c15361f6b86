//! Every route the application serves, for every role and for anonymous callers, derived from
//! `loanfloor::route_table()`: a route added without its sign-in, role or scope check fails here.
//!
//! The world: two branches (Alpha and Bravo), a manager and an LO in each, loss-mitigation staff, marketing and an intake
//! integration. Bravo's LO owns a lead (borrower "Quillfeather"). Every signed-in role except admin is outside
//! Bravo, so no route may show or change Bravo's records for them. The Alpha LO is also tried on a teammate's
//! lead (borrower "Thistlewood"): same team, still not theirs.
//!
//! Every record kind a route takes by id has a foreign record here: Bravo's escalation (with an attachment),
//! closed loan and retention opportunity (the Alpha LO gets their teammate's instead), a loss-mitigation case
//! worked by another specialist (borrower "Marchbank": only supervisors and admins see every case), and a
//! webhook endpoint (admins only), rate locks on Bravo's lead and the teammate's, Bravo's task and a claim offer to the Bravo LO (the Alpha LO gets their
//! teammate's task and an offer made to the teammate alone), a routing rule (admins only), a bulk reassignment
//! job started by Bravo's manager and the Bravo LO's import report. A route whose parameter is not classified
//! in `PARAM_KINDS` fails the test. Every one of them is made through the product, as its owner makes it.
//! Admin pages (also the portfolio data, escalation settings and routing rules/settings/log ones) refuse every other role, and loss-mitigation
//! pages refuse everyone outside loss mitigation, writes without a record in the path included.

mod common;

use std::collections::BTreeMap;

use common::TestApp;
use loanfloor::auth::Role;
use loanfloor::{Access, RouteInfo};
use reqwest::StatusCode;
use uuid::Uuid;

const BORROWER: &str = "Quillfeather";
const BORROWER_EMAIL: &str = "w.quillfeather@borrower.test";
/// A lead of the Alpha LO's teammate: same team, so only the LO-level rule keeps it from the Alpha LO.
const TEAMMATE_BORROWER: &str = "Thistlewood";
const WRITES: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// What a path parameter names, to pick the out-of-scope record to put there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Lead,
    User,
    Team,
    Token,
    Notification,
    Escalation,
    Attachment,
    Case,
    Loan,
    Opportunity,
    Webhook,
    /// A lead task (callback) owned by another LO.
    Task,
    /// A routing rule (admin pages only).
    Rule,
    /// A claim offer made to other LOs.
    Offer,
    /// A bulk reassignment job started by another manager.
    BulkJob,
    /// A CSV import's bad-rows report, belonging to the user who imported.
    ImportReport,
    /// A pipeline stage key (admin pages only).
    Stage,
    /// A rate lock on another LO's loan.
    Lock,
    /// A loan option (scenario) on another LO's lead.
    LoanOption,
    /// A borrower link to another LO's loan options.
    OptionLink,
    /// A band of the admin's PMI table (admin pages only).
    PmiRate,
    /// A lead source's key (admin pages and admin API calls only).
    Source,
    /// A referral partner, and a person at one: the organisation's, read by every role that works leads,
    /// changed by admins and managers.
    Partner,
    PartnerContact,
    /// A saved fair-lending analysis run (compliance officers and admins only).
    FairLendingRun,
    /// A department (its queue: members and admins only; nobody walked here is a member).
    Department,
    /// An item Bravo's manager forwarded to that department.
    DepartmentItem,
}

/// The loss-mitigation case's borrower: every case is visible to supervisors (and admins), nobody else.
const CASE_BORROWER: &str = "Marchbank";

/// Path parameter names (and, for a bare `{id}`, the collection segment before it) → record kind.
/// A parameter not listed fails the test (a new route must say what it takes), except a bare `{id}` under
/// `/leads` (or `/api/v1/leads`), which is a lead.
const PARAM_KINDS: &[(&str, Kind)] = &[
    ("lead_id", Kind::Lead),
    ("leads/{id}", Kind::Lead),
    ("user_id", Kind::User),
    ("lo_id", Kind::User),
    ("users/{id}", Kind::User),
    ("los/{id}", Kind::User),
    ("team_id", Kind::Team),
    ("teams/{id}", Kind::Team),
    ("token_id", Kind::Token),
    ("tokens/{id}", Kind::Token),
    ("notifications/{id}", Kind::Notification),
    ("escalations/{id}", Kind::Escalation),
    ("attachment_id", Kind::Attachment),
    ("cases/{id}", Kind::Case),
    ("loans/{id}", Kind::Loan),
    ("opportunities/{id}", Kind::Opportunity),
    ("webhooks/{id}", Kind::Webhook),
    ("tasks/{id}", Kind::Task),
    ("rules/{id}", Kind::Rule),
    ("offers/{id}", Kind::Offer),
    // Before the bare-`{id}`-under-/leads fallback: `/leads/reassign/jobs/{id}` is a job, not a lead.
    ("jobs/{id}", Kind::BulkJob),
    ("report/{token}", Kind::ImportReport),
    ("stages/{key}", Kind::Stage),
    ("sources/{key}", Kind::Source),
    // A campaign is named under its source (admins keep both).
    ("campaigns/{campaign}", Kind::Source),
    ("partners/{id}", Kind::Partner),
    ("contact_id", Kind::PartnerContact),
    ("locks/{id}", Kind::Lock),
    ("runs/{id}", Kind::FairLendingRun),
    ("departments/{id}", Kind::Department),
    ("items/{id}", Kind::DepartmentItem),
    ("options/{id}", Kind::LoanOption),
    ("scenarios/{id}", Kind::LoanOption),
    ("option-links/{id}", Kind::OptionLink),
    // The borrower's page: public, its token is the authority (tests/loan_options.rs covers it).
    ("o/{token}", Kind::OptionLink),
    ("pmi-rates/{id}", Kind::PmiRate),
];

/// Pages that take their record in the query string rather than the path: (path, parameter, kind). Each is also
/// tried with only that parameter, naming the role's foreign record, and must refuse it (403/404) unless
/// [`query_entitled`] says the role reads it; the admin opens it (200).
const QUERY_RECORDS: &[(&str, &str, Kind)] = &[
    // An LO's availability history, behind the dashboard's availability row: whoever sees that row.
    ("/availability/history", "lo", Kind::User),
    // The cadence tasks behind the availability board's row: whoever sees that row (admins, the LO's managers).
    ("/availability/cadence", "lo", Kind::User),
];

/// Whether `role` may read every record a [`QUERY_RECORDS`] page takes: marketing reads every LO's figures
/// on the dashboard, so it opens the records behind them (without borrowers: its lead scope is empty).
fn query_entitled(role: Role, path: &str) -> bool {
    role == Role::Marketing && path == "/availability/history"
}

struct World {
    app: TestApp,
    lead: Uuid,
    teammate_lead: Uuid,
    lo_b: Uuid,
    team_b: Uuid,
    token_b: Uuid,
    notification_b: i64,
    /// Bravo's escalation and its attachment; the Alpha LO's teammate's escalation and its attachment.
    escalation_b: (Uuid, Uuid),
    teammate_escalation: (Uuid, Uuid),
    /// A case worked by another specialist.
    case: Uuid,
    loan_b: Uuid,
    teammate_loan: Uuid,
    opportunity_b: Uuid,
    teammate_opportunity: Uuid,
    webhook: Uuid,
    /// A referral partner and a person at it, added by the admin.
    partner: (Uuid, Uuid),
    /// The underwriting department and the item Bravo's manager forwarded to it (Bravo's escalation).
    department: (Uuid, Uuid),
    /// Bravo LO's task on Bravo's lead; the Alpha LO's teammate's task on the teammate's lead.
    task_b: i64,
    teammate_task: i64,
    rule: Uuid,
    /// A claim offer on Bravo's lead to the Bravo LO; one on the teammate's lead to the teammate only.
    offer_b: i64,
    teammate_offer: i64,
    /// A bulk reassignment job started by Bravo's manager.
    bulk_job: i64,
    /// The token of the Bravo LO's import report (the bad-row report of a file with Bravo's borrower in it).
    report_b: String,
    /// The Bravo LO's rate lock on Bravo's lead; the Alpha teammate's on theirs.
    lock_b: Uuid,
    teammate_lock: Uuid,
    /// A fair-lending run made by the admin.
    fair_lending_run: Uuid,
    /// The Bravo LO's loan option and borrower link on Bravo's lead; the Alpha teammate's on theirs.
    option_b: Uuid,
    teammate_option: Uuid,
    link_b: Uuid,
    teammate_link: Uuid,
    /// A band of the PMI table the admin added.
    pmi_rate: Uuid,
    clients: Vec<(Role, reqwest::Client)>,
}

fn kind_of(path: &str, param: &str) -> Kind {
    let segments: Vec<&str> = path.split('/').collect();
    let pos = segments.iter().position(|s| *s == format!("{{{param}}}"));
    let collection = pos.and_then(|i| i.checked_sub(1)).map(|i| format!("{}/{{{param}}}", segments[i]));
    PARAM_KINDS
        .iter()
        .find(|(k, _)| *k == param || Some(k.to_string()) == collection)
        .map(|(_, kind)| *kind)
        .or_else(|| {
            let under_leads = path.starts_with("/leads/") || path.starts_with("/api/v1/leads/");
            (under_leads && param == "id").then_some(Kind::Lead)
        })
        .unwrap_or_else(|| {
            panic!("{path}: parameter {{{param}}} names no known record kind; classify it in PARAM_KINDS")
        })
}

/// Admin pages and actions outside `/admin`: portfolio data and settings, escalation approval settings, routing
/// rules, settings and log.
const ADMIN_ONLY: &[(&str, &str)] = &[
    ("POST", "/portfolio/rates"),
    ("POST", "/portfolio/rates/import"),
    ("POST", "/portfolio/appreciation"),
    ("POST", "/portfolio/settings"),
    ("POST", "/portfolio/rate-watch"),
    ("GET", "/portfolio/import"),
    ("POST", "/portfolio/import"),
    // Routing configuration: rules, speed-to-lead settings and the routing log are admin pages (managers use
    // the availability board, the queue and reassignment within their teams).
    ("GET", "/routing/rules"),
    ("POST", "/routing/rules"),
    ("GET", "/routing/rules/new"),
    ("GET", "/routing/rules/{id}"),
    ("POST", "/routing/rules/{id}"),
    ("POST", "/routing/rules/{id}/move"),
    ("POST", "/routing/rules/{id}/active"),
    ("POST", "/routing/settings"),
    ("GET", "/routing/log"),
    // The loss-mitigation business-day calendar is an organisation setting.
    ("POST", "/lossmit/settings"),
    // Lead sources are set up by admins (everyone who works leads reads their keys).
    ("POST", "/api/v1/sources"),
    ("PATCH", "/api/v1/sources/{key}"),
    // Investors and their extension schedules are kept by admins (everyone who locks reads them).
    ("POST", "/api/v1/lock-investors"),
    ("PUT", "/api/v1/sources/{key}/campaigns/{campaign}"),
];

fn is_admin_only(r: &RouteInfo) -> bool {
    let under = |prefix: &str| r.path == prefix || r.path.starts_with(&format!("{prefix}/"));
    under("/admin") || under("/escalations/settings") || ADMIN_ONLY.contains(&(r.method, r.path))
}

/// The fair-lending analysis: compliance officers and admins only (issue 28), every other role refused.
fn is_compliance_route(r: &RouteInfo) -> bool {
    r.path.starts_with("/compliance/") || r.path.starts_with("/api/v1/fair-lending/")
}

fn is_lossmit_route(r: &RouteInfo) -> bool {
    r.path == "/lossmit" || r.path.starts_with("/lossmit/") || r.path.starts_with("/api/v1/lossmit/")
}

fn params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

impl World {
    /// Everything is made the way its owner or an integration makes it, through the product's pages, API
    /// and CLI functions; SQL only reads ids back, and builds the 501-lead volume a bulk job needs.
    async fn build() -> World {
        let app = TestApp::spawn().await;
        let mut clients = Vec::new();
        for (role, email, team) in [
            (Role::Admin, "admin@org.test", None),
            (Role::Manager, "mgr.alpha@org.test", Some("Alpha Branch")),
            (Role::Lo, "lo.alpha@org.test", Some("Alpha Branch")),
            (Role::Lossmit, "lossmit@org.test", None),
            (Role::LossmitSupervisor, "lossmit.sup@org.test", None),
            (Role::Intake, "intake@org.test", None),
            (Role::Marketing, "marketing@org.test", None),
            (Role::Compliance, "compliance@org.test", None),
            // Only a department's member; not a member of the department here.
            (Role::Department, "underwriter@org.test", None),
        ] {
            let (_, c) = app.login_as(role, email, team, &["TX"]).await;
            clients.push((role, c));
        }
        let client = |role: Role| clients.iter().find(|(r, _)| *r == role).unwrap().1.clone();
        let admin = client(Role::Admin);
        let id_of = |email: &'static str| {
            let db = app.db().clone();
            async move {
                sqlx::query_scalar::<_, Uuid>("SELECT id FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_one(&db)
                    .await
                    .unwrap()
            }
        };
        let mgr_b = app.create_user(Role::Manager, "mgr.bravo@org.test", Some("Bravo Branch"), &[]).await;
        let lo_b = app.create_user(Role::Lo, "lo.bravo@org.test", Some("Bravo Branch"), &["CA", "NV"]).await;
        let teammate = app.create_user(Role::Lo, "lo.alpha2@org.test", Some("Alpha Branch"), &["TX", "OK"]).await;
        let team_b: Uuid =
            sqlx::query_scalar("SELECT id FROM teams WHERE name = 'Bravo Branch'").fetch_one(app.db()).await.unwrap();
        // Both LOs work around the clock (set on their admin pages), so routing never waits for a shift.
        let always = [("work_start", "00:00"), ("work_end", "00:00"), ("work_days", "1,2,3,4,5,6,7")];
        app.set_lo_profile(&admin, lo_b, &always).await;
        app.set_lo_profile(&admin, teammate, &always).await;
        // The admin's routing rules: California leads to Bravo's team, Nevada leads offered to Bravo's team to
        // claim, Oklahoma leads offered to the Alpha teammate alone.
        let add_rule = |fields: Vec<(&'static str, String)>| {
            let mut form: Vec<(&str, String)> = vec![
                ("fallback_method", "round_robin".into()),
                ("claim_minutes", "10".into()),
                ("sla_minutes", "600".into()),
                ("sla_action", "reassign".into()),
            ];
            form.extend(fields);
            let req = admin.post(app.url("/routing/rules")).form(&form);
            async move { assert_eq!(req.send().await.unwrap().status(), 303, "rule saved") }
        };
        let team_b_s = team_b.to_string();
        add_rule(vec![
            ("name", "Bravo California".into()),
            ("states", "CA".into()),
            ("method", "round_robin".into()),
            ("team_ids", team_b_s.clone()),
        ])
        .await;
        add_rule(vec![
            ("name", "Bravo Nevada pool".into()),
            ("states", "NV".into()),
            ("method", "claim".into()),
            ("team_ids", team_b_s),
        ])
        .await;
        add_rule(vec![
            ("name", "Oklahoma for the teammate".into()),
            ("states", "OK".into()),
            ("method", "claim".into()),
            ("lo_ids", teammate.to_string()),
        ])
        .await;
        let rule: Uuid = sqlx::query_scalar("SELECT id FROM routing_rules WHERE name = 'Bravo California'")
            .fetch_one(app.db())
            .await
            .unwrap();
        // The vendor's integration posts Bravo's borrower; the California rule routes the lead to the Bravo LO,
        // who is notified, calls, moves it to contacted and sets a callback.
        let intake = app.api(&app.token_for(id_of("intake@org.test").await).await);
        let lead = post_lead(
            &app,
            &intake,
            serde_json::json!({"first_name": "Wendell", "last_name": BORROWER, "email": BORROWER_EMAIL,
                               "phone": "+15125550199", "property_state": "CA", "loan_amount": "400000"}),
        )
        .await;
        let routed: Option<Uuid> = sqlx::query_scalar("SELECT assigned_lo_id FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(app.db())
            .await
            .unwrap();
        assert_eq!(routed, Some(lo_b), "the California rule routes Bravo's borrower to the Bravo LO");
        let notification_b: i64 = sqlx::query_scalar(
            "SELECT id FROM notifications WHERE user_id = $1 AND kind = 'lead_assigned' ORDER BY id LIMIT 1",
        )
        .bind(lo_b)
        .fetch_one(app.db())
        .await
        .unwrap();
        let api_b = app.api(&app.token_for(lo_b).await);
        let task_b = call_with_callback(&app, &api_b, lead).await;
        app.move_stage(&api_b, lead, "contacted", None).await;
        // The teammate enters their own borrower and sets a callback.
        let api_teammate = app.api(&app.token_for(teammate).await);
        let teammate_lead = post_lead(
            &app,
            &api_teammate,
            serde_json::json!({"first_name": "Ada", "last_name": TEAMMATE_BORROWER, "email": "ada@borrower.test",
                               "property_state": "TX", "loan_amount": "300000"}),
        )
        .await;
        let teammate_task = call_with_callback(&app, &api_teammate, teammate_lead).await;
        // The admin adds an investor; each LO locks their own loan through the API.
        let res = admin
            .post(app.url("/api/v1/lock-investors"))
            .json(&serde_json::json!({"name": "Keystone Capital", "schedule": [{"days": 15, "cost_bps": 12}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "investor added: {}", res.text().await.unwrap());
        let investor = res.json::<serde_json::Value>().await.unwrap()["id"].clone();
        let lock_on = |api: reqwest::Client, lead: Uuid| {
            let body = serde_json::json!({"lead_id": lead, "investor_id": investor, "product": "Conventional 30",
                "rate_milli": 6875, "price_bps": 25, "loan_amount_cents": 40_000_000, "period_days": 30});
            let req = api.post(app.url("/api/v1/locks")).json(&body);
            async move {
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), 201, "locked");
                res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse::<Uuid>().unwrap()
            }
        };
        let lock_b = lock_on(api_b.clone(), lead).await;
        let teammate_lock = lock_on(api_teammate.clone(), teammate_lead).await;
        // Each LO prices an option on their lead through the API and sends the borrower a link from the page.
        let option_b = option_on(&app, &api_b, lead).await;
        let teammate_option = option_on(&app, &api_teammate, teammate_lead).await;
        let link_b = link_on(&app, &app.login("lo.bravo@org.test").await, lead, option_b).await;
        let teammate_link = link_on(&app, &app.login("lo.alpha2@org.test").await, teammate_lead, teammate_option).await;
        let res = admin
            .post(app.url("/admin/pmi-rates"))
            .form(&[
                ("ltv_from", "90"),
                ("ltv_to", "95"),
                ("credit_from", "740"),
                ("credit_to", "850"),
                ("annual", "0.5"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "PMI rate added: {}", res.text().await.unwrap());
        let pmi_rate: Uuid = sqlx::query_scalar("SELECT id FROM pmi_rates").fetch_one(app.db()).await.unwrap();
        // The Bravo LO's token, made as `loanfloor token add` makes it.
        let mut tx = app.db().begin().await.unwrap();
        let new = loanfloor::auth::store::NewToken {
            user_id: lo_b,
            label: "bravo feed",
            scopes: vec!["full".into()],
            expires_at: chrono::Utc::now() + chrono::Duration::days(365),
            issued_by: None,
        };
        let (token_b, _) = loanfloor::auth::store::create_token(&mut tx, &new).await.unwrap();
        tx.commit().await.unwrap();
        // Pricing exceptions with the competitor's quote attached, filed by each LO on the request form.
        let escalation_b = file_escalation(&app, &app.login("lo.bravo@org.test").await, lead).await;
        let teammate_escalation = file_escalation(&app, &app.login("lo.alpha2@org.test").await, teammate_lead).await;
        // The admin sets up underwriting (no walked role is a member); Bravo's manager forwards Bravo's request.
        let res = admin
            .post(app.url("/admin/departments"))
            .form(&[
                ("kind", "underwriting"),
                ("name", "Underwriting"),
                ("time_zone", "America/Chicago"),
                ("opens", "09:00"),
                ("closes", "17:00"),
                ("day", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "department saved");
        let department: Uuid =
            res.headers()["location"].to_str().unwrap().trim_start_matches("/admin/departments/").parse().unwrap();
        let res = app
            .login("mgr.bravo@org.test")
            .await
            .post(app.url(&format!("/escalations/{}/forward", escalation_b.0)))
            .form(&[("department_id", department.to_string()), ("note", "Is this eligible?".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "forwarded");
        let department_item: Uuid =
            sqlx::query_scalar("SELECT id FROM department_items").fetch_one(app.db()).await.unwrap();
        // A delinquent loan's case, opened by the supervisor for another specialist.
        let other_specialist = app.create_user(Role::Lossmit, "lossmit.other@org.test", None, &[]).await;
        let _ = other_specialist;
        let res = client(Role::LossmitSupervisor)
            .post(app.url("/api/v1/lossmit/cases"))
            .json(&serde_json::json!({
                "loan_number": "LM-BRAVO-1", "borrower_name": format!("Olive {CASE_BORROWER}"), "property_state": "CA",
                "investor": "fannie_mae", "upb_cents": 25_000_000, "note_rate": 6.5, "remaining_term_months": 300,
                "monthly_pi_cents": 180_000, "first_unpaid_due_date": "2026-08-01",
                "specialist_email": "lossmit.other@org.test",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "case opened");
        let case: Uuid = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        // Closed loans from the LOS export, and the rate watch's refinance opportunities on them.
        let csv = format!(
            "loan_number,borrower_name,email,property_state,loan_amount,note_rate,term_months,product,closed_on,lo_email,opted_out\n\
             PL-BRAVO-1,Wendell {BORROWER},wq@past.test,CA,400000,7.250,360,conventional,2024-03-15,lo.bravo@org.test,no\n\
             PL-ALPHA-2,Ada {TEAMMATE_BORROWER},at@past.test,TX,400000,7.250,360,conventional,2024-03-15,lo.alpha2@org.test,no\n"
        );
        let part =
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("loans.csv").mime_str("text/csv").unwrap();
        let res = admin
            .post(app.url("/portfolio/import"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "loans imported: {}", res.text().await.unwrap());
        let res = admin
            .post(app.url("/portfolio/rates"))
            .form(&[("product", "conventional"), ("rate", "6.000"), ("effective_on", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(admin.post(app.url("/portfolio/rate-watch")).send().await.unwrap().status(), 303);
        let (loan_b, opportunity_b) = loan_and_opportunity(&app, "PL-BRAVO-1").await;
        let (teammate_loan, teammate_opportunity) = loan_and_opportunity(&app, "PL-ALPHA-2").await;
        // Claim offers: a Nevada lead offered to Bravo's team (the Bravo LO), an Oklahoma lead to the teammate.
        post_lead(
            &app,
            &intake,
            serde_json::json!({"first_name": "Nadia", "last_name": "Offerman", "email": "nadia@borrower.test",
                               "property_state": "NV"}),
        )
        .await;
        post_lead(
            &app,
            &intake,
            serde_json::json!({"first_name": "Otto", "last_name": "Offerman", "email": "otto@borrower.test",
                               "property_state": "OK"}),
        )
        .await;
        let offer_to = |lo: Uuid| {
            let db = app.db().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT id FROM claim_offers WHERE lo_ids = ARRAY[$1]::uuid[]")
                    .bind(lo)
                    .fetch_one(&db)
                    .await
                    .unwrap()
            }
        };
        let (offer_b, teammate_offer) = (offer_to(lo_b).await, offer_to(teammate).await);
        // A bulk reassignment Bravo's manager starts over 501 leads of a bought list (volume: SQL), run as a job.
        sqlx::query(
            "INSERT INTO leads (id, pipeline_id, stage, first_name, last_name, source, assigned_lo_id, team_id, assigned_at)
             SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', 'new', 'Listed', 'Borrower ' || n,
                    'bought_list', $1, $2, now()
             FROM generate_series(1, 501) n",
        )
        .bind(lo_b)
        .bind(team_b)
        .execute(app.db())
        .await
        .unwrap();
        let res = app
            .login("mgr.bravo@org.test")
            .await
            .post(app.url("/leads/reassign"))
            .form(&[
                ("from_lo", lo_b.to_string()),
                ("source", "bought_list".into()),
                ("select_all", "on".into()),
                ("to", format!("team:{team_b}")),
                ("reason", "The bought list goes back to the branch queue".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "bulk reassignment started");
        let bulk_job: i64 =
            res.headers()["location"].to_str().unwrap().trim_start_matches("/leads/reassign/jobs/").parse().unwrap();
        loanfloor::jobs::run_due(&app.state, app.state.clock.now(), "test").await.unwrap();
        let _ = mgr_b;
        // The Bravo LO imports a file whose one row is bad: the bad-row report lists the borrower.
        let report_b = import_report(&app, &app.login("lo.bravo@org.test").await).await;
        // The admin's webhook endpoint, last, so no delivery waits for it.
        let res = admin
            .post(app.url("/admin/webhooks"))
            .form(&[
                ("url", "https://hooks.bravo.test/in"),
                ("events", "lead.created"),
                ("allowed_host", "hooks.bravo.test"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "webhook saved: {}", res.text().await.unwrap());
        let webhook: Uuid = sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(app.db()).await.unwrap();
        let res = admin
            .post(app.url("/partners"))
            .form(&[("company", "Bravo Realty"), ("kind", "realtor")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "partner added");
        let partner: Uuid =
            res.headers()["location"].to_str().unwrap().trim_start_matches("/partners/").parse().unwrap();
        let res = admin
            .post(app.url(&format!("/partners/{partner}/contacts")))
            .form(&[("name", "Bea Broker")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "partner's person added");
        let contact: Uuid =
            sqlx::query_scalar("SELECT id FROM referral_partner_contacts").fetch_one(app.db()).await.unwrap();
        // The admin runs the fair-lending analysis (Bravo's request is in it).
        let res = admin
            .post(app.url("/api/v1/fair-lending/runs"))
            .json(&serde_json::json!({"from": "2000-01-01", "to": "2100-12-31", "grouping": "lo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "fair-lending run saved: {}", res.text().await.unwrap());
        let fair_lending_run: Uuid =
            res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        World {
            fair_lending_run,
            partner: (partner, contact),
            department: (department, department_item),
            app,
            task_b,
            teammate_task,
            rule,
            offer_b,
            teammate_offer,
            bulk_job,
            report_b,
            lock_b,
            teammate_lock,
            option_b,
            teammate_option,
            link_b,
            teammate_link,
            pmi_rate,
            lead,
            teammate_lead,
            lo_b,
            team_b,
            token_b,
            notification_b,
            escalation_b,
            teammate_escalation,
            case,
            loan_b,
            teammate_loan,
            opportunity_b,
            teammate_opportunity,
            webhook,
            clients,
        }
    }

    /// The record of `kind` that `role` must not see: for an LO, their teammate's lead; for everyone else,
    /// Bravo's.
    fn foreign(&self, role: Role, kind: Kind) -> String {
        match kind {
            Kind::Lead if role == Role::Lo => self.teammate_lead.to_string(),
            Kind::Lead => self.lead.to_string(),
            Kind::User => self.lo_b.to_string(),
            Kind::Team => self.team_b.to_string(),
            Kind::Token => self.token_b.to_string(),
            Kind::Notification => self.notification_b.to_string(),
            Kind::Escalation if role == Role::Lo => self.teammate_escalation.0.to_string(),
            Kind::Escalation => self.escalation_b.0.to_string(),
            Kind::Attachment if role == Role::Lo => self.teammate_escalation.1.to_string(),
            Kind::Attachment => self.escalation_b.1.to_string(),
            Kind::Case => self.case.to_string(),
            Kind::Loan if role == Role::Lo => self.teammate_loan.to_string(),
            Kind::Loan => self.loan_b.to_string(),
            Kind::Opportunity if role == Role::Lo => self.teammate_opportunity.to_string(),
            Kind::Opportunity => self.opportunity_b.to_string(),
            Kind::Webhook => self.webhook.to_string(),
            Kind::Task if role == Role::Lo => self.teammate_task.to_string(),
            Kind::Task => self.task_b.to_string(),
            Kind::Rule => self.rule.to_string(),
            Kind::Offer if role == Role::Lo => self.teammate_offer.to_string(),
            Kind::Offer => self.offer_b.to_string(),
            Kind::BulkJob => self.bulk_job.to_string(),
            Kind::ImportReport => self.report_b.clone(),
            Kind::Stage => "contacted".to_string(),
            Kind::Lock if role == Role::Lo => self.teammate_lock.to_string(),
            Kind::Lock => self.lock_b.to_string(),
            Kind::LoanOption if role == Role::Lo => self.teammate_option.to_string(),
            Kind::LoanOption => self.option_b.to_string(),
            Kind::OptionLink if role == Role::Lo => self.teammate_link.to_string(),
            Kind::OptionLink => self.link_b.to_string(),
            Kind::PmiRate => self.pmi_rate.to_string(),
            Kind::Source => "direct".to_string(),
            Kind::Partner => self.partner.0.to_string(),
            Kind::PartnerContact => self.partner.1.to_string(),
            Kind::FairLendingRun => self.fair_lending_run.to_string(),
            Kind::Department => self.department.0.to_string(),
            Kind::DepartmentItem => self.department.1.to_string(),
        }
    }

    /// A query string naming foreign records under the filter and prefill names pages use.
    fn hostile_query(&self, role: Role) -> String {
        let lead = self.foreign(role, Kind::Lead);
        let lo = self.lo_b;
        let team = self.team_b;
        let (case, loan) = (self.case, self.foreign(role, Kind::Loan));
        format!(
            "?lead_id={lead}&lead={lead}&lo={lo}&lo_id={lo}&user_id={lo}&team={team}&team_id={team}&case_id={case}\
             &loan_id={loan}"
        )
    }

    /// Whether `role` may legitimately see every record of the kinds in `path` (supervisors see every case).
    fn entitled(role: Role, method: &str, path: &str) -> bool {
        let kinds: Vec<Kind> = params(path).into_iter().map(|p| kind_of(path, p)).collect();
        let all = |want: &[Kind]| !kinds.is_empty() && kinds.iter().all(|k| want.contains(k));
        let partner_reader = matches!(role, Role::Manager | Role::Lo | Role::Marketing | Role::Intake);
        (role == Role::LossmitSupervisor && all(&[Kind::Case]))
            // Compliance officers read every saved fair-lending run.
            || (role == Role::Compliance && all(&[Kind::FairLendingRun]))
            // Partners are the organisation's: every role that works leads reads them, managers keep them.
            || (all(&[Kind::Partner, Kind::PartnerContact])
                && (role == Role::Manager || (partner_reader && !WRITES.contains(&method))))
    }

    fn fill(&self, role: Role, path: &str) -> String {
        let mut out = path.to_string();
        for p in params(path) {
            out = out.replace(&format!("{{{p}}}"), &self.foreign(role, kind_of(path, p)));
        }
        out
    }

    /// Everything about Bravo's records that a refused write must leave exactly as it was.
    async fn snapshot(&self) -> String {
        let row: (String,) = sqlx::query_as(
            "SELECT concat_ws('|',
                (SELECT row_to_json(l)::text FROM leads l WHERE id = $1),
                (SELECT row_to_json(l)::text FROM leads l WHERE id = $6),
                (SELECT row_to_json(u)::text FROM (SELECT id, email, name, role, active, team_id, auth_epoch, mfa_enabled, version, password_hash FROM users WHERE id = $2) u),
                (SELECT row_to_json(p)::text FROM lo_profiles p WHERE user_id = $2),
                (SELECT row_to_json(t)::text FROM teams t WHERE id = $3),
                (SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM team_managers WHERE team_id = $3),
                (SELECT row_to_json(k)::text FROM (SELECT id, revoked_at FROM api_tokens WHERE id = $4) k),
                (SELECT row_to_json(n)::text FROM notifications n WHERE id = $5),
                (SELECT count(*)::text FROM assignments WHERE lead_id = $1),
                (SELECT count(*)::text FROM stage_changes WHERE lead_id = $1),
                (SELECT count(*)::text FROM activities WHERE lead_id = $1),
                (SELECT count(*)::text FROM tasks WHERE lead_id = $1),
                (SELECT string_agg(row_to_json(e)::text, ',' ORDER BY e.id) FROM escalations e WHERE id = ANY($7)),
                (SELECT count(*)::text FROM escalation_events WHERE escalation_id = ANY($7)),
                (SELECT count(*)::text FROM escalation_attachments WHERE escalation_id = ANY($7)),
                (SELECT count(*)::text FROM coaching_reviews),
                (SELECT count(*)::text FROM approver_limits),
                (SELECT row_to_json(c)::text FROM lossmit_cases c WHERE id = $8),
                (SELECT count(*)::text FROM lossmit_contact_attempts WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_notices WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_documents WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_applications WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_assessments WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_decisions WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_appeals WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_foreclosure_steps WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_assignments WHERE case_id = $8),
                (SELECT count(*)::text FROM lossmit_stage_changes WHERE case_id = $8),
                (SELECT string_agg(row_to_json(p)::text, ',' ORDER BY p.id) FROM portfolio_loans p WHERE id = ANY($9)),
                (SELECT string_agg(row_to_json(o)::text, ',' ORDER BY o.id) FROM opportunities o WHERE id = ANY($10)),
                (SELECT row_to_json(w)::text FROM webhook_endpoints w WHERE id = $11),
                (SELECT count(*)::text FROM portfolio_loans),
                (SELECT count(*)::text FROM opportunities),
                (SELECT count(*)::text FROM market_rates),
                (SELECT count(*)::text FROM appreciation_index),
                (SELECT row_to_json(r)::text FROM (SELECT threshold_bps, closing_cost_cents, cooldown_days
                                                   FROM retention_settings) r),
                (SELECT count(*)::text FROM webhook_endpoints),
                (SELECT string_agg(row_to_json(t)::text, ',' ORDER BY t.id) FROM tasks t WHERE id = ANY($12)),
                (SELECT row_to_json(r)::text FROM routing_rules r WHERE id = $13),
                (SELECT count(*)::text FROM routing_rules),
                (SELECT string_agg(row_to_json(o)::text, ',' ORDER BY o.id) FROM claim_offers o WHERE id = ANY($14)),
                (SELECT count(*)::text FROM routing_decisions WHERE lead_id = ANY($15)),
                (SELECT row_to_json(j)::text FROM (SELECT id, status, payload, progress, total FROM jobs WHERE id = $16) j),
                (SELECT count(*)::text FROM jobs WHERE kind LIKE 'routing.%'),
                (SELECT string_agg(row_to_json(s)::text, ',' ORDER BY s.key) FROM stages s),
                (SELECT string_agg(key || '=' || value::text, ',' ORDER BY key) FROM settings WHERE key LIKE 'routing.%'),
                (SELECT string_agg(row_to_json(p)::text, ',' ORDER BY p.user_id) FROM
                    (SELECT user_id, status FROM lo_profiles WHERE user_id = $2) p),
                (SELECT string_agg(row_to_json(k)::text, ',' ORDER BY k.id) FROM rate_locks k WHERE lead_id = ANY($15)),
                (SELECT count(*)::text FROM rate_lock_events),
                (SELECT string_agg(row_to_json(i)::text, ',' ORDER BY i.id) FROM lock_investors i),
                (SELECT count(*)::text FROM lock_extension_options),
                (SELECT string_agg(row_to_json(d)::text, ',' ORDER BY d.id) FROM department_items d),
                (SELECT count(*)::text FROM department_hops),
                (SELECT string_agg(row_to_json(d)::text, ',' ORDER BY d.id) FROM departments d),
                (SELECT count(*)::text FROM department_members),
                (SELECT count(*)::text FROM complaint_clocks),
                (SELECT count(*)::text FROM complaint_clock_events),
                (SELECT string_agg(row_to_json(o)::text, ',' ORDER BY o.id) FROM loan_scenarios o WHERE lead_id = ANY($15)),
                (SELECT count(*)::text FROM loan_scenario_versions),
                (SELECT string_agg(row_to_json(k)::text, ',' ORDER BY k.id) FROM loan_option_links k WHERE lead_id = ANY($15)),
                (SELECT string_agg(row_to_json(p)::text, ',' ORDER BY p.id) FROM pmi_rates p))",
        )
        .bind(self.lead)
        .bind(self.lo_b)
        .bind(self.team_b)
        .bind(self.token_b)
        .bind(self.notification_b)
        .bind(self.teammate_lead)
        .bind(vec![self.escalation_b.0, self.teammate_escalation.0])
        .bind(self.case)
        .bind(vec![self.loan_b, self.teammate_loan])
        .bind(vec![self.opportunity_b, self.teammate_opportunity])
        .bind(self.webhook)
        .bind(vec![self.task_b, self.teammate_task])
        .bind(self.rule)
        .bind(vec![self.offer_b, self.teammate_offer])
        .bind(vec![self.lead, self.teammate_lead])
        .bind(self.bulk_job)
        .fetch_one(self.app.db())
        .await
        .unwrap();
        row.0
    }
}

/// A 30-year fixed option on `lead`, posted through `POST /api/v1/leads/{id}/scenarios` by `api` (201): its id.
async fn option_on(app: &TestApp, api: &reqwest::Client, lead: Uuid) -> Uuid {
    let body = serde_json::json!({"name": "30-year fixed", "program": "conventional", "rate_type": "fixed",
        "property_value_cents": 50_000_000, "loan_amount_cents": 40_000_000, "rate_milli": 6875, "term_months": 360,
        "closing_date": "2026-01-15", "first_payment_date": "2026-03-01"});
    let res = api.post(app.url(&format!("/api/v1/leads/{lead}/scenarios"))).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "option added: {}", res.text().await.unwrap());
    res.json::<serde_json::Value>().await.unwrap()["scenario"]["id"].as_str().unwrap().parse().unwrap()
}

/// The signed-in LO sends the borrower a link to `option` from the comparison page: the link's id.
async fn link_on(app: &TestApp, lo: &reqwest::Client, lead: Uuid, option: Uuid) -> Uuid {
    let res = lo
        .post(app.url(&format!("/leads/{lead}/options/links")))
        .form(&[("scenario_id", option.to_string()), ("days", "7".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "link sent: {}", res.text().await.unwrap());
    sqlx::query_scalar("SELECT id FROM loan_option_links WHERE lead_id = $1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap()
}

/// A lead posted through `POST /api/v1/leads` by `api` (201): its id.
async fn post_lead(app: &TestApp, api: &reqwest::Client, body: serde_json::Value) -> Uuid {
    let res = api.post(app.url("/api/v1/leads")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "lead created");
    res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap()
}

/// The LO logs a call with a callback in an hour through the API: the callback task's id.
async fn call_with_callback(app: &TestApp, api: &reqwest::Client, lead: Uuid) -> i64 {
    let at = (app.state.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let res = api
        .post(app.url(&format!("/api/v1/leads/{lead}/activities")))
        .json(&serde_json::json!({"kind": "call", "direction": "outbound", "outcome": "no_answer", "callback_at": at}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "call logged: {}", res.text().await.unwrap());
    sqlx::query_scalar("SELECT id FROM tasks WHERE lead_id = $1 AND kind = 'callback' ORDER BY id DESC LIMIT 1")
        .bind(lead)
        .fetch_one(app.db())
        .await
        .unwrap()
}

/// A pricing exception filed by the LO signed in on `lo` on the request form, with the competitor's quote
/// attached: (escalation, attachment).
async fn file_escalation(app: &TestApp, lo: &reqwest::Client, lead: Uuid) -> (Uuid, Uuid) {
    let form = reqwest::multipart::Form::new()
        .text("lead_id", lead.to_string())
        .text("kind", "pricing_exception")
        .text("standard_rate", "6.875")
        .text("requested_rate", "6.675")
        .text("reason", "competitor_match")
        .text("competitor_name", "Keystone Lending")
        .text("competitor_offer", "6.675% with 0 points")
        .text("note", "match the competitor")
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"%PDF".to_vec())
                .file_name("competitor-quote.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = lo.post(app.url("/escalations/new")).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 303, "request filed: {}", res.text().await.unwrap());
    let id: Uuid = res.headers()["location"].to_str().unwrap().trim_start_matches("/escalations/").parse().unwrap();
    let attachment = sqlx::query_scalar("SELECT id FROM escalation_attachments WHERE escalation_id = $1")
        .bind(id)
        .fetch_one(app.db())
        .await
        .unwrap();
    (id, attachment)
}

/// A past client's loan from the import and the rate watch's opportunity on it.
async fn loan_and_opportunity(app: &TestApp, number: &str) -> (Uuid, Uuid) {
    sqlx::query_as(
        "SELECT p.id, o.id FROM portfolio_loans p JOIN opportunities o ON o.loan_id = p.id WHERE p.loan_number = $1",
    )
    .bind(number)
    .fetch_one(app.db())
    .await
    .unwrap()
}

/// The signed-in LO imports a lead file whose only row (Bravo's borrower) is bad, a state that does not exist,
/// on the import page: the token of the bad-row report the page links to.
async fn import_report(app: &TestApp, lo: &reqwest::Client) -> String {
    let csv = format!("first_name,last_name,email,property_state\nWendell,{BORROWER},{BORROWER_EMAIL},ZZ\n");
    let part = reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("leads.csv").mime_str("text/csv").unwrap();
    let res = lo
        .post(app.url("/leads/import"))
        .multipart(reqwest::multipart::Form::new().part("file", part).text("skip_bad", "1"))
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    let start = page.find("/leads/import/report/").unwrap_or_else(|| panic!("a bad-row report link: {page}"));
    let rest = &page[start + "/leads/import/report/".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Fields a hostile form would carry: enough for most forms to parse, so the handler's own check is reached.
const HOSTILE_FORM: &[(&str, &str)] = &[
    ("name", "Hijacked"),
    ("email", "hijack@evil.test"),
    ("role", "admin"),
    ("status", "away"),
    ("password", "Hijacked-Password-123"),
    ("label", "stolen"),
    ("hand_over", "redistribute"),
    ("version", "1"),
    ("stage", "lost"),
    ("note", "hijacked"),
    ("direction", "up"),
];

/// The same hostile form with values the record routes accept (an opportunity status, a case stage, a
/// decision), so a route that validates its input before its scope check is tried past the validation too.
const HOSTILE_VALID_FORM: &[(&str, &str)] = &[
    ("name", "Hijacked"),
    ("status", "dismissed"),
    ("stage", "evaluation"),
    ("decision", "approve"),
    ("note", "hijacked"),
    ("comment", "hijacked"),
    ("body", "hijacked"),
    ("version", "1"),
    ("paid_off_on", "2026-01-15"),
    ("payoff_reason", "lost_to_competitor"),
    ("kind", "call"),
    ("outcome", "no_answer"),
    ("direction", "outbound"),
    ("channel", "call"),
];

/// Sends a request; writes carry a hostile body (JSON for the API, a form otherwise).
async fn send(client: &reqwest::Client, method: &str, url: &str) -> reqwest::Response {
    send_form(client, method, url, HOSTILE_FORM).await
}

/// Marks a try that sends its form as multipart, with a small CSV file (the upload routes read nothing else).
const MULTIPART: &[(&str, &str)] = &[("file", "loan_number,borrower_name\nPL-EVIL-1,Hijacked\n")];

async fn send_form(client: &reqwest::Client, method: &str, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = client.request(m, url);
    let req = if !WRITES.contains(&method) {
        req
    } else if std::ptr::eq(form, MULTIPART) {
        let part = reqwest::multipart::Part::text(MULTIPART[0].1).file_name("hijack.csv").mime_str("text/csv").unwrap();
        req.multipart(reqwest::multipart::Form::new().part("file", part))
    } else if url.contains("/api/") {
        let body: serde_json::Map<String, serde_json::Value> =
            form.iter().map(|(k, v)| (k.to_string(), json_value(v))).collect();
        req.json(&body)
    } else {
        req.form(form)
    };
    req.send().await.unwrap()
}

/// A form value as JSON: whole numbers (a `version`) as numbers, as the API expects them; the rest as text.
fn json_value(v: &str) -> serde_json::Value {
    v.parse::<i64>().map(serde_json::Value::from).unwrap_or_else(|_| serde_json::Value::from(v))
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

fn table() -> Vec<RouteInfo> {
    let t = loanfloor::route_table();
    assert!(t.len() >= 20, "the route table lists the application's routes");
    t
}

#[tokio::test]
async fn anonymous_callers_are_sent_to_sign_in_on_every_signed_in_route() {
    let app = TestApp::spawn().await;
    let anon = app.client();
    let mut failures = Vec::new();
    for r in table().into_iter().filter(|r| r.access == Access::Authenticated) {
        // Integer and uuid ids: whichever the route parses, it must still ask for sign-in.
        let mut asked_to_sign_in = false;
        for id in [Uuid::new_v4().to_string(), "1".to_string()] {
            let mut path = r.path.to_string();
            for p in params(r.path) {
                path = path.replace(&format!("{{{p}}}"), &id);
            }
            let res = send(&anon, r.method, &app.url(&path)).await;
            let status = res.status();
            if status.is_success() {
                failures.push(format!("{} {path}: {status} for an anonymous caller", r.method));
            }
            let login = if r.path.starts_with("/api/") {
                status == StatusCode::UNAUTHORIZED
            } else {
                status == StatusCode::SEE_OTHER && location(&res).starts_with("/login")
            };
            asked_to_sign_in |= login;
        }
        if !asked_to_sign_in {
            failures.push(format!("{} {}: never asked to sign in", r.method, r.path));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn no_role_reads_or_changes_a_record_outside_its_scope() {
    let w = World::build().await;
    let before = w.snapshot().await;
    let routes = table();
    let mut failures = Vec::new();
    let mut checked = BTreeMap::<&str, usize>::new();
    for (role, client) in w.clients.iter().filter(|(r, _)| *r != Role::Admin) {
        for r in routes.iter().filter(|r| r.access == Access::Authenticated) {
            let has_params = r.path.contains('{');
            let is_write = WRITES.contains(&r.method);
            // Admin pages refuse every other role; loss-mitigation pages refuse everyone outside loss mitigation;
            // the fair-lending analysis refuses everyone but compliance officers (and admins).
            let admin_only = is_admin_only(r)
                || (is_lossmit_route(r) && !matches!(role, Role::Lossmit | Role::LossmitSupervisor))
                || (is_compliance_route(r) && *role != Role::Compliance);
            if is_write && !has_params && !admin_only {
                // Writes without a record in the path are the caller's own (status, password…); the
                // cross-site test covers them.
                continue;
            }
            if World::entitled(*role, r.method, r.path) {
                // The record is theirs to see (a supervisor and any case); the role's own tests cover it.
                continue;
            }
            let path = w.fill(*role, r.path);
            // Reads: plain, then with filters and prefills naming foreign records (a foreign id in the query
            // must not reveal it either). Writes: the hostile form, one that passes the usual validation, and a
            // multipart upload. A write some body cannot reach (400/415: the body was not even read) must still
            // be refused by the role or scope check with a body that does reach it.
            let tries = if is_write {
                vec![(path.clone(), HOSTILE_FORM), (path.clone(), HOSTILE_VALID_FORM), (path.clone(), MULTIPART)]
            } else {
                vec![(path.clone(), HOSTILE_FORM), (format!("{path}{}", w.hostile_query(*role)), HOSTILE_FORM)]
            };
            let mut refused = false;
            let mut unparsed = Vec::new();
            for (path, form) in tries {
                let res = send_form(client, r.method, &w.app.url(&path), form).await;
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                let label = format!("{} as {}: {} {path}", status, role.as_str(), r.method);
                let teammate_leak = *role == Role::Lo && body.contains(TEAMMATE_BORROWER);
                if body.contains(BORROWER) || body.contains(BORROWER_EMAIL) || teammate_leak {
                    failures.push(format!("{label}: shows the out-of-scope borrower"));
                }
                if *role != Role::LossmitSupervisor && body.contains(CASE_BORROWER) {
                    failures.push(format!("{label}: shows another specialist's case"));
                }
                if status.is_server_error() {
                    failures.push(format!("{label}: server error"));
                }
                refused |= matches!(status.as_u16(), 403 | 404);
                if is_write && matches!(status.as_u16(), 400 | 415) {
                    unparsed.push(label);
                } else if admin_only && status != StatusCode::FORBIDDEN && status != StatusCode::NOT_FOUND {
                    failures.push(format!("{label}: admin, loss-mitigation and compliance pages refuse other roles"));
                } else if has_params && !is_write && !matches!(status.as_u16(), 403 | 404) {
                    failures.push(format!("{label}: expected 403/404 for another team's record"));
                } else if has_params && is_write && !matches!(status.as_u16(), 400 | 403 | 404 | 415 | 422) {
                    failures.push(format!("{label}: expected a refusal for another team's record"));
                }
                *checked.entry(role.as_str()).or_default() += 1;
            }
            if let Some((_, param, kind)) = QUERY_RECORDS.iter().find(|(p, _, _)| *p == r.path && r.method == "GET") {
                if !query_entitled(*role, r.path) {
                    let path = format!("{}?{param}={}", r.path, w.foreign(*role, *kind));
                    let res = client.get(w.app.url(&path)).send().await.unwrap();
                    let status = res.status();
                    let body = res.text().await.unwrap_or_default();
                    if !matches!(status.as_u16(), 403 | 404) || body.contains(BORROWER) {
                        failures.push(format!("{status} as {}: GET {path}: expected 403/404", role.as_str()));
                    }
                    *checked.entry(role.as_str()).or_default() += 1;
                }
            }
            if (admin_only || has_params) && !refused {
                let what = if admin_only {
                    "admin, loss-mitigation and compliance actions refuse other roles"
                } else {
                    "no try reached the scope check"
                };
                failures.push(format!("{} {} as {}: {what} ({unparsed:?})", r.method, r.path, role.as_str()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(w.snapshot().await, before, "refused requests changed another team's records");
    assert_eq!(checked.len(), Role::ALL.len() - 1, "every non-admin role was walked: {checked:?}");

    // Controls: the ids are real (an admin sees them), so the refusals above are refusals, not typos.
    let admin = &w.clients.iter().find(|(r, _)| *r == Role::Admin).unwrap().1;
    let res = admin.get(w.app.url(&w.fill(Role::Admin, "/admin/users/{id}"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("lo.bravo@org.test"));
    // Every record page the other roles were refused opens for the admin (200, not merely "no server error").
    let mut not_shown = Vec::new();
    for r in routes.iter().filter(|r| r.method == "GET" && r.path.contains('{') && r.access == Access::Authenticated) {
        let path = w.fill(Role::Admin, r.path);
        let status = admin.get(w.app.url(&path)).send().await.unwrap().status();
        // An import report belongs to whoever ran the import, whatever their role; a case's letters exist only
        // once the case has reached them (409 until then).
        let expected = match r.path {
            "/leads/import/report/{token}" => StatusCode::NOT_FOUND,
            "/lossmit/cases/{id}/letters/acknowledgment"
            | "/lossmit/cases/{id}/letters/decision"
            | "/lossmit/cases/{id}/letters/complete-application"
            | "/lossmit/cases/{id}/letters/early-intervention" => StatusCode::CONFLICT,
            _ => StatusCode::OK,
        };
        if status != expected {
            not_shown.push(format!("{status}: GET {path} ({})", r.path));
        }
    }
    for (path, param, kind) in QUERY_RECORDS {
        let path = format!("{path}?{param}={}", w.foreign(Role::Admin, *kind));
        let status = admin.get(w.app.url(&path)).send().await.unwrap().status();
        if status != StatusCode::OK {
            not_shown.push(format!("{status}: GET {path}"));
        }
    }
    assert!(not_shown.is_empty(), "the admin opens the records the other roles were refused: {not_shown:#?}");
    for path in [
        format!("/escalations/{}", w.escalation_b.0),
        format!("/escalations/{}/attachments/{}", w.escalation_b.0, w.escalation_b.1),
        format!("/escalations/{}", w.teammate_escalation.0),
        format!("/lossmit/cases/{}", w.case),
        format!("/portfolio/loans/{}", w.loan_b),
        format!("/portfolio/loans/{}", w.teammate_loan),
        format!("/coaching/lo/{}", w.lo_b),
        format!("/routing/rules/{}", w.rule),
        format!("/leads/reassign/jobs/{}", w.bulk_job),
    ] {
        let status = admin.get(w.app.url(&path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "the admin opens {path}");
    }
    let opportunities = admin.get(w.app.url("/portfolio/opportunities")).send().await.unwrap().text().await.unwrap();
    assert!(opportunities.contains(BORROWER) && opportunities.contains(TEAMMATE_BORROWER));
    let webhooks = admin.get(w.app.url("/admin/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(webhooks.contains("hooks.bravo.test"));
    let rule = admin.get(w.app.url(&format!("/routing/rules/{}", w.rule))).send().await.unwrap().text().await.unwrap();
    assert!(rule.contains("Bravo California"), "the admin sees the rule the other roles were refused");
    // The owners see their own records: the Bravo LO opens their import report and claims their offer, whose
    // id the other roles were refused.
    let lo_b = w.app.login("lo.bravo@org.test").await;
    let res = lo_b.get(w.app.url(&format!("/leads/import/report/{}", w.report_b))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report = res.text().await.unwrap();
    assert!(report.starts_with("line,reason\n2,\"property_state:"), "their own bad row, by line: {report}");
    let res = lo_b.post(w.app.url(&format!("/routing/offers/{}/claim", w.offer_b))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the Bravo LO claims the offer made to them");
    let claimed: Option<Uuid> = sqlx::query_scalar("SELECT claimed_by FROM claim_offers WHERE id = $1")
        .bind(w.offer_b)
        .fetch_one(w.app.db())
        .await
        .unwrap();
    assert_eq!(claimed, Some(w.lo_b));
    let res = lo_b.post(w.app.url(&format!("/tasks/{}/done", w.task_b))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the Bravo LO completes their own task");
    // The supervisor skipped above does see the case: the case id is real for them too.
    let sup = &w.clients.iter().find(|(r, _)| *r == Role::LossmitSupervisor).unwrap().1;
    let res = sup.get(w.app.url(&format!("/lossmit/cases/{}", w.case))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(CASE_BORROWER));
}

#[tokio::test]
async fn kinds_come_from_parameter_names_and_collections() {
    assert_eq!(kind_of("/admin/users/{id}/deactivate", "id"), Kind::User);
    assert_eq!(kind_of("/admin/teams/{id}", "id"), Kind::Team);
    assert_eq!(kind_of("/leads/{id}", "id"), Kind::Lead);
    assert_eq!(kind_of("/x/{lead_id}/y/{user_id}", "user_id"), Kind::User);
    assert_eq!(kind_of("/lossmit/cases/{id}", "id"), Kind::Case);
    assert_eq!(kind_of("/api/v1/escalations/{id}/decision", "id"), Kind::Escalation);
    assert_eq!(kind_of("/escalations/{id}/attachments/{attachment_id}", "attachment_id"), Kind::Attachment);
    assert_eq!(kind_of("/portfolio/loans/{id}/payoff", "id"), Kind::Loan);
    assert_eq!(kind_of("/api/v1/portfolio/opportunities/{id}", "id"), Kind::Opportunity);
    assert_eq!(kind_of("/admin/webhooks/{id}", "id"), Kind::Webhook);
    assert_eq!(kind_of("/coaching/lo/{lo_id}", "lo_id"), Kind::User);
    // A bare id under /leads stays a lead (pages still being built).
    assert_eq!(kind_of("/leads/{id}/tasks", "id"), Kind::Lead);
    assert_eq!(kind_of("/api/v1/leads/{id}", "id"), Kind::Lead);
    // Anything else must be classified before the route can land.
    assert!(std::panic::catch_unwind(|| kind_of("/widgets/{id}", "id")).is_err());
    // Every admin-only route listed is served (a renamed route must not silently drop out of the check).
    let routes = table();
    for (method, path) in ADMIN_ONLY {
        assert!(routes.iter().any(|r| r.method == *method && r.path == *path), "{method} {path} is served");
    }
    // Leads and routing records taken by id.
    assert_eq!(kind_of("/tasks/{id}/done", "id"), Kind::Task);
    assert_eq!(kind_of("/routing/rules/{id}/move", "id"), Kind::Rule);
    assert_eq!(kind_of("/routing/offers/{id}/claim", "id"), Kind::Offer);
    assert_eq!(kind_of("/leads/reassign/jobs/{id}", "id"), Kind::BulkJob, "a job under /leads is not a lead");
    assert_eq!(kind_of("/leads/import/report/{token}", "token"), Kind::ImportReport);
    assert_eq!(kind_of("/availability/{lo_id}/status", "lo_id"), Kind::User);
    assert_eq!(kind_of("/admin/pipeline/stages/{key}", "key"), Kind::Stage);
    assert_eq!(kind_of("/leads/{id}/reassign", "id"), Kind::Lead);
    // A new record under a lead (a call, say) must be classified too: only a bare `{id}` defaults to the lead.
    assert!(std::panic::catch_unwind(|| kind_of("/leads/{id}/calls/{call_id}", "call_id")).is_err());
    assert!(std::panic::catch_unwind(|| kind_of("/routing/widgets/{id}", "id")).is_err());
    // Every route of the application is classified (leads and routing ones included).
    let mut classified = 0;
    for r in &routes {
        for p in params(r.path) {
            kind_of(r.path, p);
            classified += 1;
        }
    }
    for (path, _, _) in QUERY_RECORDS {
        assert!(routes.iter().any(|r| r.method == "GET" && r.path == *path), "{path} is served");
    }
    for served in
        ["/tasks/{id}/done", "/routing/offers/{id}/claim", "/leads/reassign/jobs/{id}", "/leads/import/report/{token}"]
    {
        assert!(routes.iter().any(|r| r.path == served), "{served} is served and so was classified above");
    }
    assert!(classified >= 60, "{classified} parameters classified");
    assert_eq!(params("/a/{x}/b/{y}"), vec!["x", "y"]);
}

#[tokio::test]
async fn a_cross_site_request_is_refused_on_every_state_changing_route() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.login_as(Role::Admin, "admin@org.test", None, &[]).await;
    let (lo_id, _) = app.login_as(Role::Lo, "lo@org.test", Some("Alpha Branch"), &["TX"]).await;
    let audit = |db: sqlx::PgPool| async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action <> 'csrf_refused'")
            .fetch_one(&db)
            .await
            .unwrap();
        n
    };
    let changes_before = audit(app.db().clone()).await;
    let writes: Vec<RouteInfo> = table().into_iter().filter(|r| WRITES.contains(&r.method)).collect();
    assert!(writes.len() >= 10, "{writes:?}");
    let mut failures = Vec::new();
    let mut sent: i64 = 0;
    for r in &writes {
        let mut path = r.path.to_string();
        for p in params(r.path) {
            // A real user id where one fits, so a missing check would have something to change.
            let id = if kind_of(r.path, p) == Kind::User { lo_id.to_string() } else { Uuid::new_v4().to_string() };
            path = path.replace(&format!("{{{p}}}"), &id);
        }
        let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        for (header, value) in [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")] {
            let res =
                admin.request(m.clone(), app.url(&path)).header(header, value).form(HOSTILE_FORM).send().await.unwrap();
            sent += 1;
            if res.status() != StatusCode::FORBIDDEN {
                failures.push(format!("{} {path} with {header}: {}", r.method, res.status()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(audit(app.db().clone()).await, changes_before, "a refused request changed something");
    let refused: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'csrf_refused'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(refused, sent, "every refusal is logged");
    // The admin's session still works: the refusals did not sign anyone out.
    assert_eq!(admin.get(app.url("/admin/users")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn an_own_request_does_not_open_another_teams_attachment() {
    let w = World::build().await;
    let (role, lo) = w.clients.iter().find(|(r, _)| *r == Role::Lo).unwrap();
    let lo_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'lo.alpha@org.test'")
        .fetch_one(w.app.db())
        .await
        .unwrap();
    // The Alpha LO's own borrower, entered through the API, and their own request on it.
    let own_lead = post_lead(
        &w.app,
        &w.app.api(&w.app.token_for(lo_id).await),
        serde_json::json!({"first_name": "Own", "last_name": "Borrower", "email": "own@borrower.test",
                           "loan_amount": "250000"}),
    )
    .await;
    let (own, own_attachment) = file_escalation(&w.app, lo, own_lead).await;
    // Control: the LO opens their own attachment.
    let res = lo.get(w.app.url(&format!("/escalations/{own}/attachments/{own_attachment}"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{role:?} opens their own attachment");
    // Their own request as the door, another team's (or a teammate's) attachment behind it: 404.
    for foreign in [w.escalation_b.1, w.teammate_escalation.1] {
        let res = lo.get(w.app.url(&format!("/escalations/{own}/attachments/{foreign}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

/// The same walk with API tokens: for every role and every token scope, no token opens a page or posts a
/// page's form (403 on every route outside `/api`, admin pages included, whoever the token acts as), an API
/// route outside the token's scopes is refused (403), and no API answer shows another team's borrower.
#[tokio::test]
async fn api_tokens_of_every_scope_open_no_page_and_nothing_outside_their_scope() {
    let w = World::build().await;
    let before = w.snapshot().await;
    let routes = table();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    let emails = [
        (Role::Admin, "admin@org.test"),
        (Role::Manager, "mgr.alpha@org.test"),
        (Role::Lo, "lo.alpha@org.test"),
        (Role::Lossmit, "lossmit@org.test"),
        (Role::LossmitSupervisor, "lossmit.sup@org.test"),
        (Role::Intake, "intake@org.test"),
        (Role::Compliance, "compliance@org.test"),
    ];
    for (role, email) in emails {
        let id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(w.app.db())
            .await
            .unwrap();
        for scope in loanfloor::auth::model::TOKEN_SCOPES {
            let api = w.app.api(&w.app.token_with(id, &[scope]).await);
            for r in routes.iter().filter(|r| r.access == Access::Authenticated) {
                let is_api = r.path.starts_with("/api/");
                let is_write = WRITES.contains(&r.method);
                if is_api && is_write && !r.path.contains('{') && matches!(scope, "full" | "leads:write") {
                    // Creating the caller's own records (a lead, an opt-out…) is the API's own tests' business.
                    continue;
                }
                if role == Role::Admin && is_api && is_write && scope == "full" {
                    // An admin's full token may change any record: that is its job, not a leak.
                    continue;
                }
                if is_api
                    && !is_write
                    && scope != "leads:write"
                    && scope != "metrics"
                    && World::entitled(role, r.method, r.path)
                {
                    continue;
                }
                let path = w.fill(role, r.path);
                let res = send_form(&api, r.method, &w.app.url(&path), HOSTILE_VALID_FORM).await;
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                let label = format!("{status} as {} token with {scope}: {} {path}", role.as_str(), r.method);
                checked += 1;
                if status.is_server_error() {
                    failures.push(format!("{label}: server error"));
                }
                let foreign_ok = role == Role::Admin || (role == Role::LossmitSupervisor && !is_api);
                if !foreign_ok && (body.contains(BORROWER) || body.contains(BORROWER_EMAIL)) {
                    failures.push(format!("{label}: shows the out-of-scope borrower"));
                }
                let allowed_by_scope = match scope {
                    "full" => is_api,
                    "read" => is_api && r.method == "GET",
                    "leads:write" => (r.method == "POST" && r.path == "/api/v1/leads") || r.path == "/api/v1/me",
                    _ => r.path == "/metrics" && r.method == "GET",
                };
                if !allowed_by_scope && status != StatusCode::FORBIDDEN {
                    failures.push(format!("{label}: outside the token's scopes, expected 403"));
                }
                if allowed_by_scope
                    && is_api
                    && r.path.contains('{')
                    && role != Role::Admin
                    && !matches!(status.as_u16(), 400 | 403 | 404 | 405 | 415 | 422)
                {
                    failures.push(format!("{label}: another team's record must be refused"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked > 7 * 4 * 20, "every role and scope walked the table ({checked} requests)");
    assert_eq!(w.snapshot().await, before, "refused token requests changed another team's records");
}
