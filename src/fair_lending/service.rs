//! Runs and reads: who may, building the requests of a period (bands, proxies, reported demographics), saving a
//! run with its inputs and method version, and the audit entries on run, view and export.

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use super::analysis::{self, Grouping, RaceSource, Request};
use super::{bisg, model, store, tables};
use crate::audit::Entry;
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;

/// Who sees the proxy analysis: compliance officers and admins, nobody who decides a request.
pub const ROLES: [Role; 2] = [Role::Compliance, Role::Admin];

/// The decided pricing exceptions filed between `from` and `to` (the organisation's days, inclusive), ready for
/// the analysis: cells, weights from reported demographics or the BISG proxy, reported sex.
pub async fn requests(state: &AppState, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<Request>> {
    let tz = state.config.timezone;
    let (start, end) = (crate::state::day_start(tz, from), crate::state::day_start(tz, to.succ_opt().unwrap_or(to)));
    let raw = store::decided_exceptions(&state.db, start, end).await?;
    let people: Vec<(String, Option<String>)> =
        raw.iter().map(|r| (r.last_name.clone(), r.property_zip.clone())).collect();
    let proxies = tables::proxies(&state.db, &people).await?;
    Ok(raw
        .into_iter()
        .zip(proxies)
        .map(|(r, proxy)| {
            let reported = match (&r.ethnicity, &r.race) {
                (Some(e), Some(x)) => model::reported_group(e, x),
                _ => None,
            };
            let (race, race_source) = match (reported, proxy) {
                (Some(g), _) => (model::one_hot(g), RaceSource::Hmda),
                (None, Some(p)) => (p.probs, RaceSource::Bisg),
                (None, None) => ([0.0; 6], RaceSource::Unknown),
            };
            let sex = r.sex.filter(|s| s == "female" || s == "male");
            Request {
                id: r.id,
                filed_on: r.created_at.with_timezone(&tz).date_naive(),
                lo_id: r.lo_id,
                lo: r.lo,
                approver_id: r.approver_id,
                approver: r.approver.unwrap_or_else(|| "—".into()),
                team_id: r.team_id,
                team: r.team.unwrap_or_else(|| "No branch".into()),
                cell: model::cell(
                    r.credit_band.as_deref(),
                    r.loan_amount_cents,
                    r.property_value_cents,
                    r.product.as_deref(),
                    r.channel.as_deref(),
                ),
                granted: r.granted,
                granted_bps: r.granted_bps,
                granted_cents: r.granted_cents,
                race,
                race_source,
                sex,
            }
        })
        .collect())
}

/// A run's inputs, as asked and as saved.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RunInput {
    /// First day of the period (the organisation's), `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// Last day of the period, inclusive.
    #[serde(default)]
    pub to: String,
    /// `overall`, `lo`, `approver` or `team`.
    #[serde(default = "overall")]
    pub grouping: String,
}

fn overall() -> String {
    "overall".into()
}

/// The checked inputs, or the fields at fault (422).
pub fn validate(input: &RunInput) -> AppResult<(NaiveDate, NaiveDate, Grouping)> {
    let mut errors = FieldErrors::new();
    let mut date = |field: &str, v: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok().filter(|d| (1900..=2200).contains(&d.year())).or_else(
            || {
                errors.add(field, "use a date like 2026-01-31 (years 1900 to 2200)");
                None
            },
        )
    };
    let (from, to) = (date("from", &input.from), date("to", &input.to));
    let grouping = Grouping::parse(input.grouping.trim());
    if grouping.is_none() {
        errors.add("grouping", "choose overall, lo, approver or team");
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            errors.add("from", "must be on or before the last day");
        }
    }
    errors.into_result()?;
    match (from, to, grouping) {
        (Some(f), Some(t), Some(g)) => Ok((f, t, g)),
        _ => Err(AppError::BadRequest("invalid run".into())),
    }
}

/// Runs the analysis over the period and saves it (inputs, method version, results, who), with an audit
/// entry, in one transaction: the new run's id.
pub async fn run(state: &AppState, user: &CurrentUser, input: &RunInput) -> AppResult<Uuid> {
    user.require(&ROLES)?;
    let (from, to, grouping) = validate(input)?;
    let requests = requests(state, from, to).await?;
    let comparisons = analysis::analyse(&requests, grouping);
    let provenance = tables::provenance(&state.db).await?;
    let count = |s: RaceSource| requests.iter().filter(|r| r.race_source == s).count();
    let inputs = serde_json::json!({
        "from": from, "to": to, "grouping": grouping.as_str(),
        "requests": "decided pricing exceptions filed in the period",
        "controls": ["credit band", "LTV band", "loan amount band", "product", "channel"],
        "min_effective_n": analysis::MIN_EFFECTIVE_N, "alpha": analysis::ALPHA,
        "bisg_tables": provenance,
    });
    let results = serde_json::json!({
        "method": "stratified comparison (Mantel–Haenszel style), z-test on the pooled difference",
        "counts": {"requests": requests.len(), "hmda_reported": count(RaceSource::Hmda),
                   "bisg_proxy": count(RaceSource::Bisg), "no_race_information": count(RaceSource::Unknown),
                   "sex_reported": requests.iter().filter(|r| r.sex.is_some()).count()},
        "comparisons": comparisons,
        "requests": requests,
    });
    let id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    let new = store::NewRun {
        id,
        from,
        to,
        grouping: grouping.as_str(),
        inputs: inputs.clone(),
        method_version: bisg::METHOD_VERSION,
        results,
        created_by: user.id,
    };
    store::insert_run(&mut tx, &new).await?;
    Entry::new(Some(user), "fair_lending.run", "fair_lending_run", id).after(&inputs).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// How a saved run is being read, for its audit entry.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    Page,
    Requests,
    Csv,
    Api,
}

impl Reading {
    fn action(self) -> &'static str {
        match self {
            Reading::Page | Reading::Requests | Reading::Api => "fair_lending.run_viewed",
            Reading::Csv => "fair_lending.run_exported",
        }
    }
    fn how(self) -> &'static str {
        match self {
            Reading::Page => "page",
            Reading::Requests => "requests",
            Reading::Csv => "csv",
            Reading::Api => "api",
        }
    }
}

/// A saved run, for compliance and admins only; each reading is audited (who, when, how).
pub async fn view(state: &AppState, user: &CurrentUser, id: Uuid, how: Reading) -> AppResult<store::RunRow> {
    user.require(&ROLES)?;
    let run = store::run(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Entry::new(Some(user), how.action(), "fair_lending_run", id)
        .after(serde_json::json!({"how": how.how()}))
        .write(&state.db)
        .await?;
    Ok(run)
}

/// The saved run's comparisons and requests, read back from its results.
pub fn parts(run: &store::RunRow) -> (Vec<analysis::Comparison>, Vec<Request>) {
    let comparisons = serde_json::from_value(run.results["comparisons"].clone()).unwrap_or_default();
    let requests = serde_json::from_value(run.results["requests"].clone()).unwrap_or_default();
    (comparisons, requests)
}
