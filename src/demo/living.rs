//! The living demo branch (issue 25): what the demo roles find on their first morning besides a year of leads
//! — each LO's monthly cost, the website's monthly spend, pricing exceptions waiting and decided, loss-mitigation
//! cases with deadlines this week, and a market rate under which past clients become refinance opportunities.
//! Made with the product's own service functions, as the people would make them.

use anyhow::Context;
use chrono::{Datelike, Duration};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::state::AppState;

pub(super) async fn person(state: &AppState, email: &str) -> anyhow::Result<CurrentUser> {
    let row = crate::auth::store::find_user_by_email(&state.db, email)
        .await?
        .with_context(|| format!("demo user {email}"))?;
    Ok(row.into_current(false))
}

pub async fn populate(state: &AppState) -> anyhow::Result<()> {
    let today = state.today();
    // What each LO costs the branch a month (salary and benefits; admins enter it on the LO's page).
    for (email, cost) in [
        ("lo@demo.loanfloor.test", 850_000),
        ("lo2@demo.loanfloor.test", 720_000),
        ("lo3@demo.loanfloor.test", 680_000),
        ("lo4@demo.loanfloor.test", 910_000),
        ("lo5@demo.loanfloor.test", 780_000),
    ] {
        sqlx::query(
            "UPDATE lo_profiles SET monthly_cost_cents = $2 WHERE user_id = (SELECT id FROM users WHERE email = $1)",
        )
        .bind(email)
        .bind(cost as i64)
        .execute(&state.db)
        .await?;
    }
    // The website's monthly spend (search and hosting) for the last twelve months; bought leads carry their
    // price per lead already.
    for m in 0..12 {
        let month = chrono::Months::new(m);
        let first = today.with_day0(0).and_then(|d| d.checked_sub_months(month)).context("a month")?;
        sqlx::query(
            "INSERT INTO metrics_source_spend (source, month, spend_cents) VALUES ('direct', $1, 250000)
             ON CONFLICT (source, campaign, month) DO NOTHING",
        )
        .bind(first)
        .execute(&state.db)
        .await?;
    }
    audit_week(state).await?;
    referral_partners(state).await?;
    // Rate locks first: the quickest loans then fund around them, so the lock desk keeps live locks on every day
    // the generated month is thin at its late stages.
    let admin = person(state, "admin@demo.loanfloor.test").await?;
    super::locks::rate_locks(state, &admin).await?;
    fund_recent(state).await?;
    pricing_exceptions(state).await?;
    loss_mitigation(state, today).await?;
    // A market rate a point under the typical note rate: the rate watch finds the past clients worth a call.
    let mut tx = state.db.begin().await?;
    for product in crate::portfolio::model::PRODUCTS {
        crate::portfolio::store::set_market_rate(&mut tx, product, 5_875, today, admin.id).await?;
    }
    tx.commit().await?;
    crate::portfolio::scan_portfolio(state, state.clock.now(), Some(&admin))
        .await
        .map_err(|e| anyhow::anyhow!("demo rate watch: {e:?}"))?;
    Ok(())
}

/// Three referral partners the Dallas manager keeps, each with a person, named on the referral-source leads
/// of the generated history (so the partners page has referred, applied and funded figures).
async fn referral_partners(state: &AppState) -> anyhow::Result<()> {
    let manager = person(state, "manager@demo.loanfloor.test").await?;
    let mut ids = Vec::new();
    for (company, kind, contact) in [
        ("Lone Star Realty Group", "realtor", "Rita Alvarez"),
        ("Hill Country Homes", "builder", "Ben Ochoa"),
        ("Pacific Crest Realtors", "realtor", "Grace Lin"),
    ] {
        let input =
            crate::leads::partners::PartnerInput { company: company.into(), kind: kind.into(), ..Default::default() };
        let p = crate::leads::partners::add_partner(state, &manager, &input)
            .await
            .map_err(|e| anyhow::anyhow!("demo partner: {e:?}"))?;
        let person = crate::leads::partners::ContactInput { name: contact.into(), ..Default::default() };
        crate::leads::partners::save_contact(state, &manager, p.id, &person)
            .await
            .map_err(|e| anyhow::anyhow!("demo partner contact: {e:?}"))?;
        ids.push(p.id);
    }
    sqlx::query(
        "UPDATE leads SET referral_partner_id = ($1::uuid[])[1 + abs(hashtext(id::text)) % 3]
         WHERE source = 'referral' OR abs(hashtext(id::text)) % 17 = 0",
    )
    .bind(&ids)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// The audit log's last week: the entries the product writes for each stage change the LOs made in the
/// generated history of the last seven days (the generator writes history rows, not audit entries), with the
/// time each happened.
async fn audit_week(state: &AppState) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_id, actor_label, action, entity, entity_id, before, after, request_id)
         SELECT sc.created_at, sc.actor_id, u.email, $2, 'lead', sc.lead_id::text,
                jsonb_build_object('stage', sc.from_stage),
                jsonb_build_object('stage', sc.to_stage, 'lost_reason', sc.lost_reason, 'origin', 'app', 'note', null),
                'demo'
         FROM stage_changes sc JOIN users u ON u.id = sc.actor_id
         WHERE sc.created_at >= $1 AND sc.from_stage IS NOT NULL
         ORDER BY sc.created_at",
    )
    .bind(state.clock.now() - Duration::days(7))
    .bind(crate::leads::lifecycle::STAGE_CHANGED)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// The quickest of the last month's loans close today: each LO moves their furthest-along recent leads on to
/// funded, stage by stage, on the lead page's path (history, audit, events, the past client's loan); and every
/// team closes its furthest-along lead from a paid source, so each manager's first morning shows what a funded
/// loan cost by source (which the generated month alone leaves to chance: on some days only free sources fund).
async fn fund_recent(state: &AppState) -> anyhow::Result<()> {
    const PATH: [&str; 7] =
        ["contacted", "prequalified", "application", "processing", "underwriting", "clear_to_close", "funded"];
    let since = state.clock.now() - Duration::days(28);
    let recent: Vec<(Uuid, Uuid, String, i32)> = sqlx::query_as(
        "WITH recent AS (
           SELECT id, assigned_lo_id, team_id, stage, version, cost_cents,
                  array_position(ARRAY['clear_to_close', 'underwriting', 'processing', 'application', 'prequalified'],
                                 stage) AS behind
           FROM leads
           WHERE created_at >= $1 AND assigned_lo_id IS NOT NULL AND loan_amount_cents > 0
             AND stage IN ('contacted', 'prequalified', 'application', 'processing', 'underwriting', 'clear_to_close')
             AND NOT EXISTS (SELECT 1 FROM rate_locks k WHERE k.lead_id = leads.id AND k.status = 'locked'))
         SELECT id, assigned_lo_id, stage, version FROM (
           (SELECT id, assigned_lo_id, stage, version, behind FROM recent WHERE behind <= 4 ORDER BY behind, id LIMIT 8)
           UNION
           (SELECT DISTINCT ON (team_id) id, assigned_lo_id, stage, version, behind FROM recent
            WHERE cost_cents > 0 AND team_id IS NOT NULL ORDER BY team_id, behind NULLS LAST, id)) x
         ORDER BY behind NULLS LAST, id",
    )
    .bind(since)
    .fetch_all(&state.db)
    .await?;
    for (lead, lo, stage, mut version) in recent {
        let lo = crate::auth::store::find_user(&state.db, lo).await?.context("the lead's LO")?.into_current(false);
        let from = PATH.iter().position(|s| *s == stage).unwrap_or(0);
        for to in &PATH[from + 1..] {
            match crate::leads::store::change_stage(state, &lo, lead, version, to, None).await {
                Ok(crate::leads::store::Saved::Ok(l)) => version = l.version,
                Ok(crate::leads::store::Saved::Stale(_)) => break,
                Err(e) => return Err(anyhow::anyhow!("demo funding: {e:?}")),
            }
        }
    }
    Ok(())
}

/// Four LOs ask for pricing exceptions on open leads; the Dallas manager approves one and denies one, so one
/// waits for the manager and a larger one (above a manager's authority) for an admin.
async fn pricing_exceptions(state: &AppState) -> anyhow::Result<()> {
    let manager = person(state, "manager@demo.loanfloor.test").await?;
    // (LO, concession, the manager's decision). The 12 bps ask stays waiting for the manager and the 37 bps one
    // (above a manager's authority) for an admin, whatever stage the generated leads reached.
    let asks = [
        ("lo@demo.loanfloor.test", 25, Some("approve")),
        ("lo2@demo.loanfloor.test", 12, None),
        ("lo3@demo.loanfloor.test", 20, Some("deny")),
        ("lo4@demo.loanfloor.test", 37, None),
    ];
    for (email, bps, decision) in asks {
        let lo = person(state, email).await?;
        // Prefer a lead far enough along to be priced; any open lead with an amount otherwise.
        let lead: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM leads
              WHERE assigned_lo_id = $1 AND stage IN ('contacted', 'prequalified', 'application', 'processing', 'underwriting')
                AND loan_amount_cents > 0
              ORDER BY (stage IN ('application', 'processing', 'prequalified')) DESC, stage_changed_at DESC
              LIMIT 1",
        )
        .bind(lo.id)
        .fetch_optional(&state.db)
        .await?;
        let Some(lead) = lead else { continue };
        let input = crate::escalations::RequestInput {
            lead_id: lead.to_string(),
            kind: "pricing_exception".into(),
            concession_bps: bps.to_string(),
            reason: "competitor_match".into(),
            competitor_name: "Keystone Lending".into(),
            competitor_offer: "Written quote, 0 points".into(),
            note: "The borrower has a written quote from Keystone.".into(),
            ..Default::default()
        };
        let id = crate::escalations::file_request(state, &lo, &input, None)
            .await
            .map_err(|e| anyhow::anyhow!("demo escalation: {e:?}"))?;
        if let Some(decision) = decision {
            let decided =
                crate::escalations::decide(state, &manager, id, decision, None, "Decided on the morning call.");
            if let Err(e) = decided.await {
                tracing::warn!(error = ?e, "demo: the manager could not decide a pricing exception");
            }
        }
    }
    Ok(())
}

/// The supervisor opens cases for the specialist whose early-intervention clocks fall due this week.
async fn loss_mitigation(state: &AppState, today: chrono::NaiveDate) -> anyhow::Result<()> {
    let supervisor = person(state, "lossmit.lead@demo.loanfloor.test").await?;
    let digest_at = crate::lossmit::store::next_digest_at(state.clock.now(), state.config.timezone);
    // Due dates 33 and 42 days ago: the live-contact (36 days) and written-notice (45 days) clocks run out in
    // three days; one loan 150 days delinquent whose borrower's complete application stopped a first filing.
    let mut ids = Vec::new();
    for (n, (name, days_ago)) in
        [("Dana Whitfield", 33), ("Luis Ortega", 42), ("Grace Okafor", 150)].into_iter().enumerate()
    {
        let case = crate::lossmit::model::NewCase {
            loan_number: format!("LM-DEMO-{}", 1001 + n),
            borrower_name: name.into(),
            co_borrower_name: String::new(),
            borrower_phone: "(214) 555-0148".into(),
            borrower_email: String::new(),
            property_address: "1204 Elm Street, Dallas, TX 75201".into(),
            property_state: "TX".into(),
            investor: "fannie_mae".into(),
            upb_cents: 21_450_000 + 1_000_000 * n as i64,
            note_rate: 6.875,
            remaining_term_months: 318,
            monthly_pi_cents: 145_912,
            monthly_escrow_cents: 41_200,
            first_unpaid_due_date: today - Duration::days(days_ago),
            sale_date: None,
            specialist_email: Some("lossmit@demo.loanfloor.test".into()),
        };
        let id = crate::lossmit::store::create_case(&state.db, &supervisor, case, today, digest_at)
            .await
            .map_err(|e| anyhow::anyhow!("demo case: {e:?}"))?;
        ids.push(id);
    }
    // Dual tracking in the history: the application came in three weeks ago, complete a week later, and the
    // first filing attempted today is refused (and audited) while it is being evaluated.
    let case = crate::lossmit::store::visible_case(&state.db, &supervisor, ids[2])
        .await
        .map_err(|e| anyhow::anyhow!("demo case: {e:?}"))?;
    crate::lossmit::store::record_application(
        &state.db,
        &supervisor,
        &case,
        today - Duration::days(21),
        Some(today - Duration::days(14)),
        today,
        state.clock.now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo application: {e:?}"))?;
    let filing = crate::lossmit::clocks::ForeclosureStep::FirstFiling;
    let refused = crate::lossmit::store::record_foreclosure_step(&state.db, &supervisor, ids[2], filing, today).await;
    anyhow::ensure!(refused.is_err(), "the demo's first filing is refused under the dual-tracking rule");
    Ok(())
}
