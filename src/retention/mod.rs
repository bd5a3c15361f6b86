//! Customer-information lifecycle (issue 24): retention rules per record kind (organisation settings, with the
//! rule each default comes from), legal holds on a lead, a portfolio loan or a loss-mitigation case (placed and
//! released by an admin, both audited), and the nightly disposal (`dispose`) of what is past its rule.
//!
//! `/admin/retention` shows the rules with their sources, what tonight's run would dispose, the active holds and
//! the past runs; the rules and holds are changed there. The nightly `retention.dispose` job runs at 02:00 in the
//! organisation's time zone, once whichever instance takes it (its dedupe key is the night).

pub mod dispose;

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub const DISPOSE_JOB: &str = "retention.dispose";

pub fn router() -> Routes {
    Routes::new()
        .route("/admin/retention", &["GET"], get(page))
        .route("/admin/retention/rules", &["POST"], post(save_rule))
        .route("/admin/retention/holds", &["POST"], post(place_hold))
        .route("/admin/retention/holds/release", &["POST"], post(release_hold))
}

/// The next 02:00 in the organisation's time zone after `now`.
fn next_run(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    let tonight = crate::state::day_start(tz, today) + Duration::hours(2);
    if tonight > now { tonight } else { crate::state::day_start(tz, today + Duration::days(1)) + Duration::hours(2) }
}

/// Makes sure the next night's disposal is scheduled (at server start, and by each run).
pub async fn schedule(state: &AppState) -> anyhow::Result<()> {
    schedule_after(state, state.clock.now()).await
}

async fn schedule_after(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let at = next_run(now, state.config.timezone);
    let key = format!("{DISPOSE_JOB}:{}", at.date_naive());
    let mut tx = state.db.begin().await?;
    crate::jobs::enqueue(&mut tx, DISPOSE_JOB, serde_json::json!({}), at, Some(&key)).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs a `retention.*` job: the nightly disposal, then the next night's schedule.
pub async fn run_job(state: &AppState, job: &crate::jobs::Job, now: DateTime<Utc>) -> anyhow::Result<()> {
    match job.kind.as_str() {
        DISPOSE_JOB => {
            // No compaction here: rewriting tables (VACUUM FULL) locks each one while it runs, which belongs to
            // the operator's `loanfloor dispose --apply` in a quiet hour, not to a job on a serving system.
            dispose::apply(state, now).await?;
            schedule_after(state, now).await
        }
        other => anyhow::bail!("unknown job kind {other}"),
    }
}

/// `loanfloor dispose --dry-run|--apply`: what is due now by kind, or its disposal and the compaction.
pub async fn cli(state: &AppState, args: &crate::config::DisposeArgs) -> anyhow::Result<()> {
    let now = state.clock.now();
    let (report, mode) = if args.apply {
        (dispose::apply(state, now).await?, "disposed")
    } else {
        (dispose::preview(state, now).await?.1, "due (dry run, nothing changed)")
    };
    println!("leads that never applied {mode}: {}", report.leads);
    println!("applications {mode}: {}", report.applications);
    println!("loss-mitigation cases {mode}: {}", report.loss_mitigation_cases);
    println!("portfolio loans {mode}: {}", report.portfolio_loans);
    println!("active legal holds (their records are kept): {}", report.held);
    if args.apply {
        println!("audit entries scrubbed: {}", report.audit_entries_scrubbed);
        for step in dispose::compact(&state.db).await {
            println!("not compacted (left to autovacuum and the next checkpoint): {step}");
        }
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "retention/lead_panel.html")]
struct LeadPanel {
    lead_id: Uuid,
    is_admin: bool,
    disposed_at: Option<String>,
    hold: Option<(Uuid, String, String)>,
}

/// The lead page's panel: disposal and legal hold. Admins see the hold's reason and place or release it there;
/// managers see that the lead is held or disposed; an LO sees nothing of it.
pub async fn lead_panel(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    // An LO is shown nothing of it, so asks nothing; whoever is shown it passes the one lead scope first.
    if !user.is_manager_or_admin() {
        return Ok(String::new());
    }
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let tz = state.config.timezone;
    let row = sqlx::query!(
        r#"SELECT l.disposed_at, h.id AS "hold_id?", h.reason AS "reason?", h.placed_at AS "placed_at?"
             FROM leads l LEFT JOIN legal_holds h ON h.lead_id = l.id AND h.released_at IS NULL
            WHERE l.id = $1"#,
        lead_id
    )
    .fetch_one(&state.db)
    .await?;
    let when = |t: DateTime<Utc>| t.with_timezone(&tz).format("%b %-d, %Y").to_string();
    let hold = match (row.hold_id, row.reason, row.placed_at) {
        (Some(id), Some(reason), Some(at)) => Some((id, reason, when(at))),
        _ => None,
    };
    let panel = LeadPanel { lead_id, is_admin: user.role == Role::Admin, disposed_at: row.disposed_at.map(when), hold };
    panel.render().map_err(|e| crate::error::AppError::Internal(e.into()))
}

struct Rule {
    kind: String,
    months: i32,
    min_months: i32,
    max_months: i32,
    basis: String,
    source: String,
    version: i32,
    error: Option<String>,
}

struct Hold {
    id: Uuid,
    record: String,
    link: String,
    reason: String,
    placed_by: String,
    placed_at: String,
}

struct Run {
    at: String,
    kind: String,
    records: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "retention/retention.html")]
struct RetentionPage {
    ctx: PageCtx,
    rules: Vec<Rule>,
    due: dispose::Report,
    holds: Vec<Hold>,
    runs: Vec<Run>,
    hold_form: HoldInput,
    hold_errors: FieldErrors,
}

async fn view(
    state: &AppState,
    ctx: PageCtx,
    edited: Option<(String, i32, String)>,
    hold: Option<(HoldInput, FieldErrors)>,
) -> AppResult<RetentionPage> {
    let tz = state.config.timezone;
    let mut rules: Vec<Rule> = sqlx::query!(
        "SELECT kind, months, min_months, max_months, basis, source, version FROM retention_rules
          ORDER BY array_position(ARRAY['lead', 'application', 'servicing'], kind)"
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| Rule {
        kind: r.kind,
        months: r.months,
        min_months: r.min_months,
        max_months: r.max_months,
        basis: r.basis,
        source: r.source,
        version: r.version,
        error: None,
    })
    .collect();
    if let Some((kind, months, error)) = edited {
        for r in rules.iter_mut().filter(|r| r.kind == kind) {
            r.months = months;
            r.error = Some(error.clone());
        }
    }
    let (_, due) = dispose::preview(state, state.clock.now()).await?;
    let holds = sqlx::query!(
        r#"SELECT h.id, h.lead_id, h.case_id, h.loan_id, h.reason, h.placed_at, u.name AS placed_by,
                  coalesce(l.first_name || ' ' || l.last_name, c.borrower_name, p.borrower_name, '') AS "who!"
             FROM legal_holds h JOIN users u ON u.id = h.placed_by
             LEFT JOIN leads l ON l.id = h.lead_id
             LEFT JOIN lossmit_cases c ON c.id = h.case_id
             LEFT JOIN portfolio_loans p ON p.id = h.loan_id
            WHERE h.released_at IS NULL ORDER BY h.placed_at DESC"#
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|h| {
        let (what, link) = match (h.lead_id, h.case_id, h.loan_id) {
            (Some(id), _, _) => ("Lead", format!("/leads/{id}")),
            (_, Some(id), _) => ("Loss-mitigation case", format!("/lossmit/cases/{id}")),
            (_, _, Some(id)) => ("Portfolio loan", format!("/portfolio/loans/{id}")),
            _ => ("Record", String::new()),
        };
        Hold {
            id: h.id,
            record: format!("{what}: {}", h.who),
            link,
            reason: h.reason,
            placed_by: h.placed_by,
            placed_at: h.placed_at.with_timezone(&tz).format("%b %-d, %Y %-I:%M %p").to_string(),
        }
    })
    .collect();
    let runs = sqlx::query!(
        r#"SELECT created_at, entity_id, coalesce((after->>'records')::bigint, 0) AS "records!" FROM audit_log
            WHERE action = 'retention.disposed' ORDER BY id DESC LIMIT 20"#
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| Run {
        at: r.created_at.with_timezone(&tz).format("%b %-d, %Y %-I:%M %p").to_string(),
        kind: kind_label(&r.entity_id).to_string(),
        records: r.records,
    })
    .collect();
    let (hold_form, hold_errors) = hold.unwrap_or_default();
    Ok(RetentionPage { ctx, rules, due, holds, runs, hold_form, hold_errors })
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "lead" => "Leads that never applied",
        "application" => "Applications",
        "servicing" => "Servicing records",
        "lossmit_case" => "Loss-mitigation cases",
        "portfolio_loan" => "Portfolio loans",
        _ => "Records",
    }
}

async fn page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    Ok(view(&state, ctx, None, None).await?.into_response())
}

/// Every field defaults, so any form reaches the role check before its own validation.
#[derive(Deserialize, Default)]
struct RuleInput {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    months: String,
    #[serde(default)]
    version: String,
}

/// `POST /admin/retention/rules`: one rule's months, within the bounds its source allows; 409 when someone
/// saved the rule meanwhile.
async fn save_rule(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<RuleInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let rule = sqlx::query!(
        "SELECT kind, months, min_months, max_months, version FROM retention_rules WHERE kind = $1",
        f.kind
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(crate::error::AppError::NotFound)?;
    let version: i32 = f.version.trim().parse().unwrap_or(0);
    let months = f.months.trim().parse::<i32>().ok();
    let Some(months) = months.filter(|m| (rule.min_months..=rule.max_months).contains(m)) else {
        let error = format!(
            "Enter a whole number of months from {} to {}: the rule's source allows no other.",
            rule.min_months, rule.max_months
        );
        let shown = f.months.trim().parse().unwrap_or(rule.months);
        let page = view(&state, ctx, Some((rule.kind, shown, error)), None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let mut tx = state.db.begin().await?;
    let saved = sqlx::query!(
        "UPDATE retention_rules SET months = $2, version = version + 1, updated_at = $4, updated_by = $5
          WHERE kind = $1 AND version = $3",
        rule.kind,
        months,
        version,
        state.clock.now(),
        user.id
    )
    .execute(&mut *tx)
    .await?;
    if saved.rows_affected() == 0 {
        tx.rollback().await?;
        let error = "Someone changed this rule while you were editing it; the saved value is shown after a reload.";
        let page = view(&state, ctx, Some((rule.kind, months, error.to_string())), None).await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    }
    Entry::new(Some(&user), "retention_rule.updated", "retention_rule", &rule.kind)
        .before(serde_json::json!({"months": rule.months}))
        .after(serde_json::json!({"months": months}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{}: kept {months} months.", kind_label(&rule.kind))).await;
    Ok(Redirect::to("/admin/retention").into_response())
}

#[derive(Deserialize, Default)]
struct HoldInput {
    /// `lead`, `case` or `loan`.
    #[serde(default)]
    record: String,
    /// A lead id, or a loan number (of a portfolio loan or a loss-mitigation case).
    #[serde(default)]
    reference: String,
    #[serde(default)]
    reason: String,
    /// Where to go after: the lead page the form was on, or the retention page.
    #[serde(default)]
    return_to: String,
}

/// The page a hold form returns to: a lead page it came from, otherwise the retention page (never elsewhere).
fn return_to(path: &str) -> String {
    match path.strip_prefix("/leads/").map(Uuid::parse_str) {
        Some(Ok(id)) => format!("/leads/{id}"),
        _ => "/admin/retention".to_string(),
    }
}

/// The record a hold form names, if it exists.
async fn find_record(
    state: &AppState,
    f: &HoldInput,
) -> sqlx::Result<Option<(Option<Uuid>, Option<Uuid>, Option<Uuid>)>> {
    let reference = f.reference.trim();
    Ok(match f.record.as_str() {
        "lead" => match Uuid::parse_str(reference) {
            Ok(id) => sqlx::query_scalar!("SELECT id FROM leads WHERE id = $1", id)
                .fetch_optional(&state.db)
                .await?
                .map(|id| (Some(id), None, None)),
            Err(_) => None,
        },
        "case" => sqlx::query_scalar!("SELECT id FROM lossmit_cases WHERE loan_number = $1", reference)
            .fetch_optional(&state.db)
            .await?
            .map(|id| (None, Some(id), None)),
        "loan" => sqlx::query_scalar!("SELECT id FROM portfolio_loans WHERE loan_number = $1", reference)
            .fetch_optional(&state.db)
            .await?
            .map(|id| (None, None, Some(id))),
        _ => None,
    })
}

/// `POST /admin/retention/holds`: places a legal hold; nothing about the record is disposed until it is released.
async fn place_hold(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<HoldInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        errors
            .add("reason", "Say why the record is held (a matter, a request, a regulator), in at most 500 characters.");
    }
    let record = find_record(&state, &f).await?;
    if record.is_none() {
        errors.add(
            "reference",
            "No such record: give a lead's id, or the loan number of a portfolio loan or a loss-mitigation case.",
        );
    }
    let Some((lead, case, loan)) = record.filter(|_| errors.is_empty()) else {
        let page = view(&state, ctx, None, Some((f, errors))).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let mut tx = state.db.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO legal_holds (lead_id, case_id, loan_id, reason, placed_by, placed_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        lead,
        case,
        loan,
        reason,
        user.id,
        state.clock.now()
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        tx.rollback().await?;
        let mut errors = FieldErrors::new();
        errors.add("reference", "This record is already on legal hold.");
        let page = view(&state, ctx, None, Some((f, errors))).await?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    };
    Entry::new(Some(&user), "legal_hold.placed", "legal_hold", id)
        .after(serde_json::json!({"lead_id": lead, "case_id": case, "loan_id": loan, "reason": reason}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Legal hold placed: nothing about this record is disposed until it is released.")
        .await;
    Ok(Redirect::to(&return_to(&f.return_to)).into_response())
}

#[derive(Deserialize, Default)]
struct ReleaseInput {
    #[serde(default)]
    id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    return_to: String,
}

/// `POST /admin/retention/holds/release`: releases an active hold, with the reason.
async fn release_hold(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Form(f): Form<ReleaseInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let id = Uuid::parse_str(f.id.trim()).map_err(|_| crate::error::AppError::NotFound)?;
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        let mut errors = FieldErrors::new();
        errors.add("reason", "Say why the hold is released, in at most 500 characters.");
        return Err(crate::error::AppError::Validation(errors));
    }
    let mut tx = state.db.begin().await?;
    let released = sqlx::query!(
        "UPDATE legal_holds SET released_at = $2, released_by = $3, release_reason = $4
          WHERE id = $1 AND released_at IS NULL RETURNING lead_id, case_id, loan_id",
        id,
        state.clock.now(),
        user.id,
        reason
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(crate::error::AppError::NotFound)?;
    Entry::new(Some(&user), "legal_hold.released", "legal_hold", id)
        .after(serde_json::json!({"lead_id": released.lead_id, "case_id": released.case_id,
                                   "loan_id": released.loan_id, "reason": reason}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", "Legal hold released; the record follows its retention rule again.").await;
    Ok(Redirect::to(&return_to(&f.return_to)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_nightly_run_is_at_two_in_the_organisations_zone() {
        let tz = chrono_tz::America::Chicago;
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        assert_eq!(next_run(now, tz), Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap());
        let early = Utc.with_ymd_and_hms(2026, 12, 4, 7, 0, 0).unwrap();
        assert_eq!(next_run(early, tz), Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap());
    }
}
