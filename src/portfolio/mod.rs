//! Past clients: the funded-loan portfolio, rate watch and the other retention triggers, retention metrics,
//! and inbound LOS status updates.
//!
//! Interfaces for other capabilities: [`on_lead_funded`] (a lead reaching `funded` becomes a portfolio loan)
//! and [`retention_summary`] (the manager dashboard's retention panel).

pub mod api;
pub mod handlers;
pub mod import;
pub mod model;
pub mod store;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
}

/// Makes a lead that reached `funded` a portfolio loan, inside the caller's transaction. Idempotent: a lead
/// (or loan number) already in the portfolio changes nothing.
/// The domain-event subscriber: a funded lead becomes a past client's loan; a lead naming its referrer records
/// the referral (both in the emitting transaction).
pub fn on_event<'a, 'c, 'e>(
    tx: &'a mut Transaction<'c, Postgres>,
    event: &'a crate::events::Event<'e>,
) -> futures_util::future::BoxFuture<'a, AppResult<()>> {
    use crate::events::Event;
    Box::pin(async move {
        match event {
            Event::LeadReferred { lead_id, loan_number, actor } => {
                record_referral(tx, *actor, *lead_id, *loan_number).await
            }
            _ => Ok(()),
        }
    })
}

/// The lead events' consumer: a funded lead becomes a past client's loan (through the job queue's
/// `events.dispatch`).
pub const LEAD_EVENTS: crate::events::Consumer = crate::events::Consumer {
    name: "portfolio",
    kinds: &[crate::events::LEAD_FUNDED],
    handle: |tx, event, _| Box::pin(on_lead_funded(tx, event.lead_id)),
};

pub async fn on_lead_funded(tx: &mut Transaction<'_, Postgres>, lead_id: Uuid) -> AppResult<()> {
    if let Some(loan_id) = store::loan_from_lead(tx, lead_id).await? {
        Entry::new(None, "portfolio.loan_added", "portfolio_loan", loan_id)
            .after(serde_json::json!({ "lead_id": lead_id, "origin": "funded" }))
            .write(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records which past client referred a lead, by the loan number of their portfolio loan (None clears it), so
/// referrals count in the retention metrics. The lead form and `POST`/`PATCH /api/v1/leads`
/// (`referred_by_loan_number`) call this inside the transaction that writes the lead.
pub async fn record_referral(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&dyn crate::audit::Acts>,
    lead_id: Uuid,
    loan_number: Option<&str>,
) -> AppResult<()> {
    let before = sqlx::query_scalar!("SELECT referred_by_loan_id FROM leads WHERE id = $1 FOR UPDATE", lead_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(crate::error::AppError::NotFound)?;
    let loan_id = match loan_number {
        None => None,
        Some(n) => {
            let loan = sqlx::query!("SELECT id, lead_id FROM portfolio_loans WHERE loan_number = $1", n)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| {
                    crate::error::AppError::invalid("referred_by_loan_number", "No past client has this loan number.")
                })?;
            if loan.lead_id == Some(lead_id) {
                return Err(crate::error::AppError::invalid(
                    "referred_by_loan_number",
                    "This is the lead's own loan: a borrower cannot refer themselves.",
                ));
            }
            Some(loan.id)
        }
    };
    if before == loan_id {
        return Ok(());
    }
    sqlx::query!("UPDATE leads SET referred_by_loan_id = $2, updated_at = now() WHERE id = $1", lead_id, loan_id)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            crate::error::on_constraint(
                e,
                &[("leads_referred_by_loan_id_fkey", || {
                    crate::error::AppError::invalid("referred_by_loan_number", "No such past client.")
                })],
            )
        })?;
    Entry::new(actor.map(|a| a as &dyn crate::audit::Acts), "lead.referral_recorded", "lead", lead_id)
        .before(serde_json::json!({ "referred_by_loan_id": before }))
        .after(serde_json::json!({ "referred_by_loan_id": loan_id, "loan_number": loan_number }))
        .write(&mut **tx)
        .await?;
    Ok(())
}

/// When the evening scan runs: 18:00 in the organisation's time zone.
pub const EVENING: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// The first evening run strictly after `now`.
pub fn next_evening(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&tz);
    let mut day = local.date_naive();
    loop {
        if let Some(t) = tz.from_local_datetime(&day.and_time(EVENING)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > now {
                return t;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// Queues the next evening's scan unless it is already queued (dedupe key per evening).
pub async fn ensure_rate_watch_scheduled(
    state: &AppState,
    tx: &mut Transaction<'_, Postgres>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let at = next_evening(now, state.config.timezone);
    let key = format!("portfolio.rate_watch:{}", at.with_timezone(&state.config.timezone).date_naive());
    crate::jobs::enqueue(tx, "portfolio.rate_watch", serde_json::json!({}), at, Some(&key)).await?;
    Ok(())
}

/// Changes an opportunity's status (open, worked, converted, dismissed) for a user who may see it; returns
/// the previous status. The page and the API both use this.
pub async fn set_opportunity_status(state: &AppState, user: &CurrentUser, id: Uuid, status: &str) -> AppResult<String> {
    user.require(&[crate::auth::Role::Admin, crate::auth::Role::Manager, crate::auth::Role::Lo])?;
    if !model::STATUSES.contains(&status) {
        return Err(crate::error::AppError::invalid("status", "Choose open, worked, converted or dismissed."));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = store::lock_visible_opportunity(&mut tx, user, id).await?;
    if before != status {
        store::set_opportunity_status(&mut tx, id, status, user.id, now).await.map_err(|e| {
            crate::error::on_constraint(
                e,
                &[("opportunities_one_open_idx", || {
                    crate::error::AppError::conflict("This loan already has an open opportunity of this kind.")
                })],
            )
        })?;
        Entry::new(Some(user), "opportunity.status_changed", "opportunity", id)
            .before(serde_json::json!({ "status": before }))
            .after(serde_json::json!({ "status": status }))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// What one scan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub loans: usize,
    pub created: usize,
    pub skipped: usize,
    pub cooling_down: usize,
    pub by_kind: BTreeMap<String, usize>,
}

/// Runs every retention trigger over the active portfolio and creates the opportunities that are due:
/// for the original LO when still active, otherwise in their team's queue; opted-out borrowers are skipped
/// (and the skip recorded); nothing fires again for the same loan and kind within the cool-down.
pub async fn scan_portfolio(
    state: &AppState,
    now: DateTime<Utc>,
    actor: Option<&CurrentUser>,
) -> AppResult<ScanReport> {
    let today = now.with_timezone(&state.config.timezone).date_naive();
    let mut tx = state.db.begin().await?;
    // One scan at a time (the evening job and an admin's button), so the cool-down check is exact.
    sqlx::query!("SELECT pg_advisory_xact_lock(727010)").execute(&mut *tx).await?;
    let settings = store::settings(&mut *tx).await?;
    let rates = store::current_market_rates(&mut *tx, today).await?;
    let since = now - chrono::Duration::days(i64::from(settings.cooldown_days));
    let cooling = store::cooling_down(&mut tx, since).await?;
    let skipped_before = store::recent_skips(&mut tx, since).await?;
    let loans = store::scan_loans(&mut tx).await?;
    let mut report = ScanReport { loans: loans.len(), ..Default::default() };
    let mut per_lo: HashMap<Uuid, usize> = HashMap::new();
    let mut per_team_queue: HashMap<Uuid, usize> = HashMap::new();
    for loan in &loans {
        let facts = model::LoanFacts {
            loan_amount_cents: loan.loan_amount_cents,
            note_rate_milli: loan.note_rate_milli,
            term_months: loan.term_months,
            product: loan.product.clone(),
            arm_reset_on: loan.arm_reset_on,
            closed_on: loan.closed_on,
            original_value_cents: loan.original_value_cents,
            appreciation_milli: loan.appreciation_milli,
        };
        let inputs = model::ScanInputs {
            today,
            market_rate_milli: rates.get(&loan.product).copied(),
            threshold_bps: settings.threshold_bps,
            closing_cost_cents: settings.closing_cost_cents,
        };
        for t in model::evaluate(&facts, &inputs) {
            let key = (loan.id, t.kind.to_string());
            if loan.opted_out {
                if !skipped_before.contains(&key) {
                    store::insert_skip(&mut tx, loan.id, t.kind, "borrower opted out of contact", now).await?;
                    report.skipped += 1;
                }
                continue;
            }
            if cooling.contains(&key) {
                report.cooling_down += 1;
                continue;
            }
            let lo = loan.lo_id.filter(|_| loan.lo_active == Some(true));
            let created =
                store::insert_opportunity(&mut tx, loan.id, t.kind, &t.why, &t.numbers, lo, loan.team_id, now).await?;
            if let Some(opportunity) = created {
                if let (Some(lead), "rate_watch") = (loan.lead_id, t.kind) {
                    offer_refinance(&mut tx, lead, opportunity, loan.note_rate_milli, &t.numbers, now).await?;
                }
                report.created += 1;
                *report.by_kind.entry(t.kind.to_string()).or_default() += 1;
                match (lo, loan.team_id) {
                    (Some(lo), _) => *per_lo.entry(lo).or_default() += 1,
                    (None, Some(team)) => *per_team_queue.entry(team).or_default() += 1,
                    (None, None) => {}
                }
            }
        }
    }
    for (lo, n) in per_lo {
        let title = if n == 1 {
            "1 new past-client opportunity".to_string()
        } else {
            format!("{n} new past-client opportunities")
        };
        crate::events::notify(&mut tx, lo, "portfolio.opportunities", &title, "/portfolio/opportunities").await?;
    }
    // Opportunities whose LO has left wait in the team's queue: tell the team's managers.
    for (team, n) in per_team_queue {
        let managers = sqlx::query_scalar!(
            "SELECT m.user_id FROM team_managers m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 AND u.active",
            team
        )
        .fetch_all(&mut *tx)
        .await?;
        let title = format!("{n} past-client opportunities waiting in your team's queue");
        for m in managers {
            crate::events::notify(&mut tx, m, "portfolio.team_queue", &title, "/portfolio/opportunities").await?;
        }
    }
    Entry::new(actor.map(|a| a as &dyn crate::audit::Acts), "portfolio.scan", "opportunities", "")
        .after(&report)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(report)
}

/// Retention metrics for the manager dashboard and the portfolio page, over the loans the user may see.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionSummary {
    /// Loans not paid off.
    pub portfolio_size: i64,
    /// Loans paid off in the last 365 days.
    pub runoff_12m: i64,
    /// Runoff as basis points of percent of (size + runoff), e.g. 1250 = 12.50%.
    pub runoff_bp: Option<i64>,
    pub refinanced_with_us: i64,
    pub lost_to_competitor: i64,
    /// Paid-off loans with a recorded payoff reason.
    pub paid_off_with_reason: i64,
    /// Refinanced with us ÷ paid off with a recorded reason, basis points of percent.
    pub recapture_bp: Option<i64>,
    pub per_lo: Vec<store::LoOpportunityCounts>,
    /// Leads that name a past client as their referrer, and how many of them reached funded: counted by the
    /// lead list the figures link to (`/leads?referrer=past_client`), in the viewer's lead scope.
    pub referrals: i64,
    pub referrals_funded: i64,
}

impl RetentionSummary {
    pub fn runoff_label(&self) -> String {
        self.runoff_bp.map(model::format_bp).unwrap_or_else(|| "–".into())
    }
    pub fn recapture_label(&self) -> String {
        self.recapture_bp.map(model::format_bp).unwrap_or_else(|| "–".into())
    }
}

fn ratio_bp(num: i64, den: i64) -> Option<i64> {
    (den > 0).then(|| (num * 10_000 * 2 + den) / (den * 2))
}

/// The retention summary for `user` (scoped: an LO sees their own loans, a manager their teams').
pub async fn retention_summary(state: &AppState, user: &CurrentUser) -> AppResult<RetentionSummary> {
    let today = state.clock.now().with_timezone(&state.config.timezone).date_naive();
    let t = store::retention_totals(&state.db, user, today).await?;
    let per_lo = store::opportunities_per_lo(&state.db, user).await?;
    Ok(RetentionSummary {
        portfolio_size: t.portfolio_size,
        runoff_12m: t.paid_off_12m,
        runoff_bp: ratio_bp(t.paid_off_12m, t.portfolio_size + t.paid_off_12m),
        refinanced_with_us: t.refinanced_with_us,
        lost_to_competitor: t.lost_to_competitor,
        paid_off_with_reason: t.paid_off_with_reason,
        recapture_bp: ratio_bp(t.refinanced_with_us, t.paid_off_with_reason),
        per_lo,
        referrals: t.referrals,
        referrals_funded: t.referrals_funded,
    })
}

fn report_text(r: &import::ImportReport) -> String {
    let mut s = r.summary();
    for e in &r.errors {
        s.push_str(&format!("\nline {}: {}", e.line, e.message));
    }
    s
}

/// `loanfloor import loans FILE [--skip-bad]`.
pub async fn import_cli(state: &crate::state::AppState, args: &crate::config::ImportArgs) -> anyhow::Result<String> {
    let actor = crate::auth::store::cli_actor(&state.db, args.as_email.as_deref()).await?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let report = import::import_loans(state, std::io::BufReader::new(file), args.skip_bad, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !report.committed {
        anyhow::bail!("{}", report_text(&report));
    }
    Ok(report_text(&report))
}

/// `loanfloor import los-status FILE [--skip-bad]`.
pub async fn los_status_cli(
    state: &crate::state::AppState,
    args: &crate::config::ImportArgs,
) -> anyhow::Result<String> {
    let actor = crate::auth::store::cli_actor(&state.db, args.as_email.as_deref()).await?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let report = import::import_los_status(state, std::io::BufReader::new(file), args.skip_bad, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !report.committed {
        anyhow::bail!("{}", report_text(&report));
    }
    Ok(report_text(&report))
}

/// A rate-watch opportunity on a loan that came through Loanfloor also writes the borrower's refinance offer
/// (the `rate_watch_offer` template with the numbers the LO sees), under the borrower's email consent.
async fn offer_refinance(
    tx: &mut Transaction<'_, Postgres>,
    lead: Uuid,
    opportunity: Uuid,
    note_rate_milli: Option<i64>,
    numbers: &serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let num = |k: &str| numbers.get(k).and_then(serde_json::Value::as_i64);
    let (Some(current), Some(market), Some(saving)) =
        (note_rate_milli, num("new_rate_milli"), num("monthly_saving_cents"))
    else {
        return Ok(());
    };
    let fields = [
        ("current_rate", format!("{}%", model::format_rate(current))),
        ("market_rate", format!("{}%", model::format_rate(market))),
        ("monthly_savings", model::format_cents(saving)),
    ];
    let key = format!("rate_watch:{opportunity}");
    let message = crate::events::Event::BorrowerMessage {
        lead_id: lead,
        template: "rate_watch_offer",
        event_key: &key,
        fields: &fields,
        at: now,
    };
    crate::events::emit(tx, message).await
}

/// Runs a job of kind `portfolio.*`: `portfolio.rate_watch` scans the portfolio and queues the next evening.
pub async fn run_job(
    state: &crate::state::AppState,
    job: &crate::jobs::Job,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match job.kind.as_str() {
        "portfolio.rate_watch" => {
            // Queue tomorrow evening first, so one failed scan does not end the nightly chain.
            let mut tx = state.db.begin().await?;
            ensure_rate_watch_scheduled(state, &mut tx, now).await?;
            tx.commit().await?;
            let report = scan_portfolio(state, now, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(created = report.created, skipped = report.skipped, "portfolio scan");
            Ok(())
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_evening_is_six_pm_local() {
        let tz = chrono_tz::America::Chicago;
        // 2026-11-23 15:00 UTC = 09:00 CST → 18:00 CST the same day = 2026-11-24 00:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
        assert_eq!(next_evening(now, tz), Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap());
        // Exactly at 18:00 local → the next day.
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        assert_eq!(next_evening(at, tz), Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap());
    }

    #[test]
    fn ratios_round_half_up() {
        assert_eq!(ratio_bp(1, 3), Some(3333));
        assert_eq!(ratio_bp(2, 3), Some(6667));
        assert_eq!(ratio_bp(0, 0), None);
    }
}
