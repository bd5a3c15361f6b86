//! The writes and reads of loan options, shared by the pages and the API. Who may see or change a lead's
//! options is the one lead scope (`leads::store::visible_lead`): an option outside it is a 404. Every save is a
//! new version in one transaction with its audit entry; a save based on an older version is a 409.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::amortize::ArmTerms;
use super::model::{self, CostItem, Figures, Inputs};
use super::store::{self, CostRow, LinkRow, ScenarioRow};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

/// Who builds options: whoever works loans and sees the lead.
pub const WORKERS: [Role; 3] = [Role::Lo, Role::Manager, Role::Admin];
/// The most live options on one lead (the borrower compares two to four).
pub const MAX_OPTIONS: i64 = 4;
/// The longest a borrower link may live.
pub const MAX_LINK_DAYS: i64 = 60;

/// What a form or the API sends to save an option.
#[derive(Debug, Clone)]
pub struct ScenarioInput {
    pub name: String,
    pub credit_score: Option<i32>,
    /// Inputs; `pmi_annual_bps` is looked up in the admin's table here.
    pub inputs: Inputs,
}

/// An option with its closing costs and figures.
#[derive(Debug, Clone)]
pub struct LoanOption {
    pub row: ScenarioRow,
    pub costs: Vec<CostRow>,
    pub figures: Figures,
}

/// The model's inputs from a stored version.
pub fn inputs_of(row: &ScenarioRow, costs: &[CostRow]) -> Inputs {
    let arm = match (
        row.arm_initial_months,
        row.arm_adjust_months,
        row.arm_initial_cap_milli,
        row.arm_periodic_cap_milli,
        row.arm_lifetime_cap_milli,
        row.arm_margin_milli,
    ) {
        (Some(i), Some(a), Some(ic), Some(pc), Some(lc), Some(m)) => Some(ArmTerms {
            initial_months: i as u32,
            adjust_months: a as u32,
            initial_cap: ic,
            periodic_cap: pc,
            lifetime_cap: lc,
            margin: m,
        }),
        _ => None,
    };
    Inputs {
        program: row.program.clone(),
        rate_type: row.rate_type.clone(),
        arm,
        index_milli: row.arm_index_milli,
        property_value_cents: row.property_value_cents,
        base_loan_cents: row.loan_amount_cents,
        rate_milli: row.rate_milli,
        term_months: row.term_months.max(0) as u32,
        points_bps: row.points_bps,
        pmi_annual_bps: row.pmi_annual_bps,
        fha_upfront_bps: row.fha_upfront_bps,
        fha_annual_bps: row.fha_annual_bps,
        va_funding_fee_bps: row.va_funding_fee_bps,
        costs: costs
            .iter()
            .filter(|c| c.scenario_id == row.id && c.version == row.version)
            .map(|c| CostItem {
                name: c.name.clone(),
                cents: c.amount_cents,
                prepaid_finance_charge: c.is_prepaid_finance_charge,
            })
            .collect(),
        monthly_taxes_cents: row.monthly_taxes_cents,
        monthly_insurance_cents: row.monthly_insurance_cents,
        monthly_hoa_cents: row.monthly_hoa_cents,
        down_payment_cents: row.down_payment_cents,
        closing_date: row.closing_date,
        first_payment_date: row.first_payment_date,
    }
}

/// Options with their costs and figures, in the order of `rows`.
async fn with_figures(db: &sqlx::PgPool, rows: Vec<ScenarioRow>) -> AppResult<Vec<LoanOption>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let versions: Vec<i32> = rows.iter().map(|r| r.version).collect();
    let costs = store::costs(db, &ids, &versions).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mine: Vec<CostRow> = costs.iter().filter(|c| c.scenario_id == row.id).cloned().collect();
            let figures = model::figures(&inputs_of(&row, &mine));
            LoanOption { row, costs: mine, figures }
        })
        .collect())
}

/// The lead's live options, if `user` may see the lead (404 otherwise).
pub async fn options_for_lead(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<Vec<LoanOption>> {
    user.require(&WORKERS)?;
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    with_figures(&state.db, store::for_lead(&state.db, lead_id).await?).await
}

/// One option, if `user` may see its lead (404 otherwise).
pub async fn visible_option(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<LoanOption> {
    user.require(&WORKERS)?;
    let row = store::one(&state.db, id).await?.ok_or(AppError::NotFound)?;
    crate::leads::store::visible_lead(&state.db, user, row.lead_id).await?;
    Ok(with_figures(&state.db, vec![row]).await?.remove(0))
}

/// Checks an input and looks its PMI rate up: the row to store, or the problems by field.
async fn prepare(state: &AppState, input: &ScenarioInput) -> AppResult<Inputs> {
    let mut e = FieldErrors::new();
    for (field, message) in model::validate(&input.inputs) {
        e.add(field, message);
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        e.add("name", "Name the option (up to 80 characters), e.g. 30-year fixed, no points.");
    }
    if input.inputs.costs.len() > 40 || input.inputs.costs.iter().any(|c| c.name.chars().count() > 80) {
        e.add("costs", "Up to 40 closing costs, each named in up to 80 characters.");
    }
    if let Some(score) = input.credit_score {
        if !(300..=850).contains(&score) {
            e.add("credit_score", "A credit score is between 300 and 850.");
        }
    }
    let mut inputs = input.inputs.clone();
    inputs.pmi_annual_bps = 0;
    let i = &input.inputs;
    // Only once the amounts are known to be in range (validate caps them).
    let needs_pmi = e.is_empty()
        && matches!(i.program.as_str(), "conventional" | "jumbo")
        && i.property_value_cents > 0
        && i.base_loan_cents * 10_000 > i.property_value_cents * 8_000;
    if needs_pmi {
        let ltv = i.base_loan_cents * 10_000 / i.property_value_cents;
        match input.credit_score {
            None => e.add("credit_score", "Above 80% loan-to-value PMI applies: enter the credit score."),
            Some(score) => match store::pmi_rate(&state.db, ltv, score).await? {
                Some(bps) => inputs.pmi_annual_bps = bps,
                None => e.add(
                    "credit_score",
                    format!(
                        "The PMI table has no rate for {}.{:02}% LTV and a {score} score: an administrator adds it.",
                        ltv / 100,
                        ltv % 100
                    ),
                ),
            },
        }
    }
    e.into_result()?;
    Ok(inputs)
}

fn row_from(
    id: Uuid,
    lead_id: Uuid,
    version: i32,
    input: &ScenarioInput,
    i: &Inputs,
    by: Uuid,
    at: DateTime<Utc>,
) -> ScenarioRow {
    ScenarioRow {
        id,
        lead_id,
        version,
        name: input.name.trim().to_string(),
        program: i.program.clone(),
        rate_type: i.rate_type.clone(),
        property_value_cents: i.property_value_cents,
        loan_amount_cents: i.base_loan_cents,
        rate_milli: i.rate_milli,
        term_months: i.term_months as i32,
        points_bps: i.points_bps,
        credit_score: input.credit_score,
        pmi_annual_bps: i.pmi_annual_bps,
        fha_upfront_bps: if i.program == "fha" { i.fha_upfront_bps } else { 0 },
        fha_annual_bps: if i.program == "fha" { i.fha_annual_bps } else { 0 },
        va_funding_fee_bps: if i.program == "va" { i.va_funding_fee_bps } else { 0 },
        arm_initial_months: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.initial_months as i32),
        arm_adjust_months: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.adjust_months as i32),
        arm_initial_cap_milli: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.initial_cap),
        arm_periodic_cap_milli: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.periodic_cap),
        arm_lifetime_cap_milli: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.lifetime_cap),
        arm_margin_milli: i.arm.filter(|_| i.rate_type == "arm").map(|a| a.margin),
        arm_index_milli: i.index_milli.filter(|_| i.rate_type == "arm"),
        monthly_taxes_cents: i.monthly_taxes_cents,
        monthly_insurance_cents: i.monthly_insurance_cents,
        monthly_hoa_cents: i.monthly_hoa_cents,
        down_payment_cents: i.down_payment_cents,
        closing_date: i.closing_date,
        first_payment_date: i.first_payment_date,
        copied_from: None,
        created_by: Some(by),
        saved_at: at,
    }
}

fn cost_tuples(i: &Inputs) -> Vec<(String, i64, bool)> {
    i.costs.iter().map(|c| (c.name.trim().to_string(), c.cents, c.prepaid_finance_charge)).collect()
}

fn too_many() -> AppError {
    AppError::invalid("name", format!("A lead has at most {MAX_OPTIONS} options: remove one before adding another."))
}

/// A new option on a lead (a 422 with the problems by field; 404 outside the caller's scope).
pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    lead_id: Uuid,
    input: &ScenarioInput,
    copied_from: Option<(Uuid, i32)>,
) -> AppResult<ScenarioRow> {
    user.require(&WORKERS)?;
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let inputs = prepare(state, input).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if store::count_live(&mut tx, lead_id).await? >= MAX_OPTIONS {
        return Err(too_many());
    }
    let id = Uuid::new_v4();
    store::insert_scenario(&mut tx, id, lead_id, copied_from, user.id, now).await?;
    let mut row = row_from(id, lead_id, 1, input, &inputs, user.id, now);
    row.copied_from = copied_from.map(|c| c.0);
    store::insert_version(&mut tx, &row, &cost_tuples(&inputs)).await?;
    let action = if copied_from.is_some() { "loan_option.duplicated" } else { "loan_option.created" };
    Entry::new(Some(user as &dyn crate::audit::Acts), action, "loan_scenario", id)
        .after(json!({ "scenario": &row, "costs": &inputs.costs, "copied_from": copied_from.map(|c| c.0) }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// A new version of an option, based on `expected` (409 when someone saved meanwhile; old versions stay).
pub async fn update(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    expected: i32,
    input: &ScenarioInput,
) -> AppResult<ScenarioRow> {
    let before = visible_option(state, user, id).await?;
    let inputs = prepare(state, input).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(version) = store::next_version(&mut tx, id, expected, now).await? else {
        return Err(stale(before.row.version));
    };
    let mut row = row_from(id, before.row.lead_id, version, input, &inputs, user.id, now);
    row.copied_from = before.row.copied_from;
    store::insert_version(&mut tx, &row, &cost_tuples(&inputs)).await?;
    Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.edited", "loan_scenario", id)
        .before(json!({ "scenario": &before.row, "costs": &before.costs }))
        .after(json!({ "scenario": &row, "costs": &inputs.costs }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

fn stale(current: i32) -> AppError {
    AppError::conflict(format!(
        "This option was changed meanwhile (it is at version {current}): reload it and make your change again."
    ))
}

/// A copy of an option's current version as a new option on the same lead.
pub async fn duplicate(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<ScenarioRow> {
    let from = visible_option(state, user, id).await?;
    let mut inputs = inputs_of(&from.row, &from.costs);
    inputs.pmi_annual_bps = from.row.pmi_annual_bps;
    let input = ScenarioInput {
        name: format!("{} (copy)", from.row.name).chars().take(80).collect(),
        credit_score: from.row.credit_score,
        inputs,
    };
    create(state, user, from.row.lead_id, &input, Some((id, from.row.version))).await
}

/// Removes an option from the lead's comparison (its versions stay).
pub async fn archive(state: &AppState, user: &CurrentUser, id: Uuid, expected: i32) -> AppResult<()> {
    let before = visible_option(state, user, id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::lock_scenario(&mut tx, id).await?;
    if !store::archive(&mut tx, id, expected, now).await? {
        return Err(stale(before.row.version));
    }
    Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.removed", "loan_scenario", id)
        .before(json!({ "scenario": &before.row }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A fresh secret for a borrower link (only its hash is stored).
fn link_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A read-only link to `scenario_ids` (options of this lead) that expires after `days`: the link's id and the
/// token, shown once.
pub async fn create_link(
    state: &AppState,
    user: &CurrentUser,
    lead_id: Uuid,
    scenario_ids: &[Uuid],
    days: i64,
) -> AppResult<(Uuid, String)> {
    let options = options_for_lead(state, user, lead_id).await?;
    let mut e = FieldErrors::new();
    if !(1..=MAX_LINK_DAYS).contains(&days) {
        e.add("days", format!("A link lives 1 to {MAX_LINK_DAYS} days."));
    }
    if scenario_ids.is_empty() || scenario_ids.len() > 4 {
        e.add("scenario_ids", "Choose one to four of this lead's options.");
    } else if scenario_ids.iter().any(|s| !options.iter().any(|o| o.row.id == *s)) {
        e.add("scenario_ids", "Choose options of this lead.");
    }
    e.into_result()?;
    let mut ids: Vec<Uuid> = Vec::new();
    for s in scenario_ids {
        if !ids.contains(s) {
            ids.push(*s);
        }
    }
    let now = state.clock.now();
    let token = link_token();
    let id = Uuid::new_v4();
    let expires_at = now + Duration::days(days);
    let mut tx = state.db.begin().await?;
    let hash = crate::auth::store::token_hash(&token);
    let link = store::NewLink { id, lead_id, token_hash: &hash, scenario_ids: &ids, expires_at, by: user.id, at: now };
    store::insert_link(&mut tx, &link).await?;
    Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.link_sent", "loan_option_link", id)
        .after(json!({ "lead_id": lead_id, "scenario_ids": ids, "expires_at": expires_at }))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// The lead's links, if `user` may see the lead.
pub async fn links(state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<Vec<LinkRow>> {
    user.require(&WORKERS)?;
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    Ok(store::links_for_lead(&state.db, lead_id).await?)
}

/// Revokes a link: it stops working at once. The lead it belongs to.
pub async fn revoke_link(state: &AppState, user: &CurrentUser, link_id: Uuid) -> AppResult<Uuid> {
    user.require(&WORKERS)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (lead_id, revoked) = store::link_for_update(&mut tx, link_id).await?.ok_or(AppError::NotFound)?;
    crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    if !revoked {
        store::revoke_link(&mut tx, link_id, user.id, now).await?;
        Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.link_revoked", "loan_option_link", link_id)
            .after(json!({ "lead_id": lead_id }))
            .write(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(lead_id)
}

/// What the borrower sees: the options and the LO's name, nothing else of the lead.
pub struct BorrowerView {
    pub lo_name: String,
    pub expires_at: DateTime<Utc>,
    pub options: Vec<LoanOption>,
}

/// Why a link does not open.
pub enum Closed {
    Unknown,
    Expired,
    Revoked,
}

/// Opens a link: each opening is a view, an activity on the lead and a notification to its LO.
pub async fn open_link(state: &AppState, token: &str) -> AppResult<Result<BorrowerView, Closed>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(Err(Closed::Unknown));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(link) = store::link_by_hash(&mut tx, &crate::auth::store::token_hash(token)).await? else {
        return Ok(Err(Closed::Unknown));
    };
    if link.revoked_at.is_some() {
        return Ok(Err(Closed::Revoked));
    }
    if link.expires_at <= now {
        return Ok(Err(Closed::Expired));
    }
    let options = store::by_ids(&state.db, &link.scenario_ids).await?;
    let options: Vec<ScenarioRow> = options.into_iter().filter(|o| o.lead_id == link.lead_id).collect();
    let note = format!("The borrower opened the loan options link ({} options).", options.len());
    store::record_view(&mut tx, link.id, link.lead_id, &note, now).await?;
    if let Some(lo) = link.lo_user_id.or(link.created_by) {
        crate::events::notify(
            &mut tx,
            lo,
            "loan_options.viewed",
            "A borrower opened the loan options you sent",
            &format!("/leads/{}/options", link.lead_id),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(BorrowerView {
        lo_name: link.lo_name.unwrap_or_else(|| "Your loan officer".into()),
        expires_at: link.expires_at,
        options: with_figures(&state.db, options).await?,
    }))
}

/// The PMI table (any worker may read it; admins change it).
pub async fn pmi_table(state: &AppState, user: &CurrentUser) -> AppResult<Vec<store::PmiRow>> {
    user.require(&WORKERS)?;
    Ok(store::pmi_rows(&state.db).await?)
}

/// Adds a band to the PMI table or changes its rate (admins).
pub async fn save_pmi(state: &AppState, user: &CurrentUser, row: store::PmiRow) -> AppResult<store::PmiRow> {
    user.require(&[Role::Admin])?;
    let mut e = FieldErrors::new();
    if !(0..10_000).contains(&row.ltv_from_bps) || row.ltv_to_bps <= row.ltv_from_bps || row.ltv_to_bps > 10_500 {
        e.add("ltv_to", "The LTV band runs from a lower to a higher percentage, at most 105%.");
    }
    if !(300..=850).contains(&row.credit_from) || row.credit_to < row.credit_from || row.credit_to > 850 {
        e.add("credit_to", "The credit band runs from a lower to a higher score, 300 to 850.");
    }
    if !(0..=1_000).contains(&row.annual_bps) {
        e.add("annual_bps", "The annual rate is 0 to 1,000 basis points.");
    }
    e.into_result()?;
    let mut tx = state.db.begin().await?;
    let saved = store::upsert_pmi(&mut tx, &row, user.id, state.clock.now()).await?;
    Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.pmi_rate_saved", "pmi_rate", saved.id)
        .after(&saved)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Removes a band of the PMI table (admins).
pub async fn delete_pmi(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let gone = store::delete_pmi(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    Entry::new(Some(user as &dyn crate::audit::Acts), "loan_option.pmi_rate_removed", "pmi_rate", id)
        .before(&gone)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
