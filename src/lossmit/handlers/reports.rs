//! The case export (JSON, CSV) and the supervisor's reports.

use super::*;

// ---------------------------------------------------------------- export

/// A text cell a spreadsheet will not run as a formula (leading `=`, `+`, `-`, `@`, tab or CR get a `'`).
pub fn spreadsheet_safe(s: &str) -> String {
    crate::web::csv::safe_cell(s).into_owned()
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct FormatQuery {
    #[serde(default)]
    format: String,
}

pub(crate) async fn export(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<FormatQuery>,
) -> AppResult<Response> {
    let case = store::visible_case(&state.db, &user, id).await?;
    let today = state.today();
    let records = store::records(&state.db, case.id).await?;
    let decisions = store::decisions(&state.db, case.id).await?;
    let assessment = store::latest_assessment(&state.db, case.id).await?;
    let name = format!("lossmit-{}", case.loan_number.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"));
    if q.format == "csv" {
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| AppError::Internal(e.into());
        // Times as the reader reads them, the zone named in the column (the record's own dates are calendar days).
        let recorded_at = format!("recorded_at ({})", crate::web::format::zone_name());
        let local = crate::web::format::local_seconds;
        w.write_record(["record", "on", "kind", "detail", "flag", "actor", recorded_at.as_str()]).map_err(csv_err)?;
        w.write_record([
            "case",
            &crate::web::format::local_date(&case.created_at),
            &case.stage,
            &spreadsheet_safe(&format!("{} / {}", case.loan_number, case.borrower_name)),
            "",
            "",
            &local(&case.created_at),
        ])
        .map_err(csv_err)?;
        for d in case.deadlines(today) {
            w.write_record(["deadline", &d.due_on.to_string(), d.key, d.rule, d.status.as_str(), "", ""])
                .map_err(csv_err)?;
        }
        for r in &records {
            w.write_record([
                r.record.as_str(),
                &r.on.to_string(),
                &r.kind,
                &spreadsheet_safe(&r.detail),
                if r.flag { "yes" } else { "no" },
                &spreadsheet_safe(r.actor.as_deref().unwrap_or("")),
                &local(&r.created_at),
            ])
            .map_err(csv_err)?;
        }
        let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
            ],
            body,
        )
            .into_response());
    }
    let body = serde_json::json!({
        "case": CaseJson::from_row(&case, today),
        "borrower": {"name": case.borrower_name, "co_borrower": case.co_borrower_name, "phone": case.borrower_phone, "email": case.borrower_email},
        "assessment": assessment,
        "decisions": decisions,
        "records": records,
        "exported_on": today,
    });
    Ok(([(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.json\""))], axum::Json(body))
        .into_response())
}

// ---------------------------------------------------------------- reports

pub struct StageAgeRow {
    pub stage: &'static str,
    /// The stage's key (the case list's `stage=`).
    pub key: &'static str,
    pub buckets: [usize; 5],
    pub total: usize,
}

pub struct SpecialistClockRow {
    pub name: String,
    /// The case list's `specialist=` (an id, or `none`).
    pub key: String,
    pub met: usize,
    pub breached: usize,
    pub due: usize,
    pub met_rate: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "lossmit/reports.html")]
pub(crate) struct ReportsPage {
    ctx: PageCtx,
    by_stage: Vec<StageAgeRow>,
    clocks: Vec<SpecialistClockRow>,
    decided: usize,
    avg_days_to_decision: String,
    median_days_to_decision: String,
    /// Label, key, approved, denied.
    option_mix: Vec<(String, &'static str, usize, usize)>,
    resolved: usize,
    cured: usize,
    cure_rate: String,
    cured_or_modified: usize,
    redefaulted: usize,
    redefault_rate: String,
    overdue_requests: Vec<DeadlineRow>,
}

pub(crate) const AGE_BUCKETS: [&str; 5] = ["0–30", "31–60", "61–90", "91–120", "121+"];

pub(crate) fn rate(n: usize, d: usize) -> String {
    if d == 0 { "—".into() } else { format_bps(((n as i64) * 10_000 * 2 + d as i64) / (2 * d as i64)) }
}

pub(crate) async fn reports(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<FormatQuery>,
) -> AppResult<Response> {
    user.require(&store::SUPERVISOR_ROLES)?;
    let today = state.today();
    let cases = store::visible_cases(&state.db, &user, true).await?;
    let facts = store::report_facts(&state.db).await?;
    let (decided, avg_days_to_decision, median_days_to_decision) = time_to_decision(&cases);
    // Over the cases the viewer sees, as the lists behind the figures.
    let visible: std::collections::HashSet<Uuid> = cases.iter().map(|c| c.id).collect();
    let option_mix: Vec<(String, &'static str, usize, usize)> = LossMitOption::ALL
        .iter()
        .map(|o| {
            let of = facts.decisions.iter().filter(|d| d.1 == o.as_str() && visible.contains(&d.0));
            let approved = of.clone().filter(|d| d.2).count();
            (o.label().to_string(), o.as_str(), approved, of.count() - approved)
        })
        .collect();
    let resolved = cases.iter().filter(|c| c.stage == "resolved").count();
    let cured = cases.iter().filter(|c| c.resolution.as_deref() == Some("cured")).count();
    let ever = facts.ever_cured_or_modified.iter().filter(|id| visible.contains(id)).count();
    let redefaulted = facts.reopened_after_cure.iter().filter(|id| visible.contains(id)).count();
    let page = ReportsPage {
        ctx,
        by_stage: stage_by_age(&cases, today),
        clocks: clocks_per_specialist(&cases, today),
        decided,
        avg_days_to_decision,
        median_days_to_decision,
        option_mix,
        resolved,
        cured,
        cure_rate: rate(cured, resolved),
        cured_or_modified: ever,
        redefaulted,
        redefault_rate: rate(redefaulted, ever),
        overdue_requests: overdue_requests(&state, &cases, today).await?,
    };
    if q.format == "csv" {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"lossmit-report.csv\""),
            ],
            reports_csv(&page)?,
        )
            .into_response());
    }
    Ok(page.into_response())
}

/// Which of [`AGE_BUCKETS`] a case falls in: days delinquent today, or on the day it was resolved.
pub(crate) fn age_bucket(c: &CaseRow, today: NaiveDate) -> usize {
    match clocks::days_delinquent(c.first_unpaid_due_date, c.resolved_on.unwrap_or(today)) {
        ..=30 => 0,
        31..=60 => 1,
        61..=90 => 2,
        91..=120 => 3,
        _ => 4,
    }
}

/// Open cases by stage and by how long the loan has been delinquent (resolved cases as of their resolution).
fn stage_by_age(cases: &[CaseRow], today: NaiveDate) -> Vec<StageAgeRow> {
    Stage::ALL
        .iter()
        .map(|s| {
            let mut buckets = [0usize; 5];
            for c in cases.iter().filter(|c| c.stage == s.as_str()) {
                buckets[age_bucket(c, today)] += 1;
            }
            StageAgeRow { stage: s.label(), key: s.as_str(), total: buckets.iter().sum(), buckets }
        })
        .collect()
}

/// A case's regulatory clocks that measure the servicer (the borrower's own windows left out: the earliest
/// first filing and the appeal window), as the deadlines-per-specialist figures count them.
pub(crate) fn servicer_clocks(c: &CaseRow, today: NaiveDate) -> impl Iterator<Item = Deadline> {
    c.deadlines(today).into_iter().filter(|d| d.key != "first_filing_earliest" && d.key != "appeal")
}

/// Each specialist's regulatory clocks met, breached and still due.
fn clocks_per_specialist(cases: &[CaseRow], today: NaiveDate) -> Vec<SpecialistClockRow> {
    let mut per: BTreeMap<(String, String), (usize, usize, usize)> = BTreeMap::new();
    for c in cases {
        let name = c.specialist_name.clone().unwrap_or_else(|| "Unassigned".into());
        let key = c.specialist_id.map_or_else(|| "none".to_string(), |id| id.to_string());
        let e = per.entry((name, key)).or_default();
        for d in servicer_clocks(c, today) {
            match d.status {
                ClockStatus::Met => e.0 += 1,
                ClockStatus::Breached => e.1 += 1,
                ClockStatus::Due => e.2 += 1,
            }
        }
    }
    per.into_iter()
        .map(|((name, key), (met, breached, due))| SpecialistClockRow {
            name,
            key,
            met,
            breached,
            due,
            met_rate: rate(met, met + breached),
        })
        .collect()
}

/// The cases behind the re-default figure: ever cured or modified, or re-defaulted after that.
pub(crate) async fn history_cases(db: &sqlx::PgPool, h: History) -> AppResult<std::collections::HashSet<Uuid>> {
    let facts = store::report_facts(db).await?;
    Ok(match h {
        History::CuredOrModified => facts.ever_cured_or_modified.into_iter().collect(),
        History::Redefaulted => facts.reopened_after_cure.into_iter().collect(),
    })
}

/// Whether a case counts in the time-to-decision figure: both a complete-application and a decision date.
pub(crate) fn decided_after_complete(c: &CaseRow) -> bool {
    c.app_complete_on.is_some() && c.decided_on.is_some()
}

/// How many decisions of `option` (approved or denied) a case has, as the option mix counts them.
pub(crate) async fn option_decisions(
    db: &sqlx::PgPool,
    option: &str,
    approved: bool,
) -> AppResult<std::collections::HashMap<Uuid, usize>> {
    let mut per = std::collections::HashMap::new();
    for d in store::report_facts(db).await?.decisions.into_iter().filter(|d| d.1 == option && d.2 == approved) {
        *per.entry(d.0).or_insert(0) += 1;
    }
    Ok(per)
}

/// How many cases were decided after a complete application, and the average and median days it took.
fn time_to_decision(cases: &[CaseRow]) -> (usize, String, String) {
    let mut days: Vec<i64> = cases
        .iter()
        .filter(|c| decided_after_complete(c))
        .filter_map(|c| match (c.app_complete_on, c.decided_on) {
            (Some(a), Some(b)) => Some((b - a).num_days()),
            _ => None,
        })
        .collect();
    days.sort();
    let decided = days.len();
    let avg =
        if decided == 0 { "—".into() } else { format!("{:.1}", days.iter().sum::<i64>() as f64 / decided as f64) };
    let median = if decided == 0 {
        "—".into()
    } else if decided % 2 == 1 {
        days[decided / 2].to_string()
    } else {
        format!("{:.1}", (days[decided / 2 - 1] + days[decided / 2]) as f64 / 2.0)
    };
    (decided, avg, median)
}

/// Notices of error and requests for information past their acknowledgment or answer date, still not done.
async fn overdue_requests(state: &AppState, cases: &[CaseRow], today: NaiveDate) -> AppResult<Vec<DeadlineRow>> {
    let open: Vec<&CaseRow> = cases.iter().filter(|c| c.is_open()).collect();
    let request_clocks = requests::open_deadlines(&state.db, &open, today).await?;
    let mut overdue: Vec<DeadlineRow> = open
        .iter()
        .flat_map(|c| {
            request_clocks
                .get(&c.id)
                .into_iter()
                .flatten()
                .filter(|d| d.status == ClockStatus::Breached && d.done_on.is_none())
                .map(|d| DeadlineRow {
                    case_id: c.id,
                    loan_number: c.loan_number.clone(),
                    borrower_name: c.borrower_name.clone(),
                    specialist: c.specialist_name.clone().unwrap_or_default(),
                    label: d.label,
                    rule: d.rule,
                    due_on: d.due_on,
                    cycle_due_on: None,
                })
        })
        .collect();
    overdue.sort_by_key(|d| d.due_on);
    Ok(overdue)
}

/// The reports page as one CSV of sections.
fn reports_csv(page: &ReportsPage) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AppError::Internal(e.into());
    w.write_record(["section", "key", "a", "b", "c", "d", "e"]).map_err(err)?;
    for r in &page.by_stage {
        let b: Vec<String> = r.buckets.iter().map(|x| x.to_string()).collect();
        w.write_record(["stage_by_age", r.stage, &b[0], &b[1], &b[2], &b[3], &b[4]]).map_err(err)?;
    }
    for r in &page.clocks {
        let (met, breached, due) = (r.met.to_string(), r.breached.to_string(), r.due.to_string());
        w.write_record([
            "deadlines_per_specialist",
            &spreadsheet_safe(&r.name),
            &met,
            &breached,
            &due,
            &r.met_rate,
            "",
        ])
        .map_err(err)?;
    }
    let decided = page.decided.to_string();
    let (avg, median) = (&page.avg_days_to_decision, &page.median_days_to_decision);
    w.write_record(["time_to_decision_days", "decided", &decided, avg, median, "", ""]).map_err(err)?;
    for (o, _, a, d) in &page.option_mix {
        w.write_record(["option_mix", o, &a.to_string(), &d.to_string(), "", "", ""]).map_err(err)?;
    }
    let (cured, resolved) = (page.cured.to_string(), page.resolved.to_string());
    w.write_record(["cure_rate", "cured/resolved", &cured, &resolved, &page.cure_rate, "", ""]).map_err(err)?;
    let (redefaulted, base) = (page.redefaulted.to_string(), page.cured_or_modified.to_string());
    w.write_record(["redefault_rate", "reopened/cured_or_modified", &redefaulted, &base, &page.redefault_rate, "", ""])
        .map_err(err)?;
    w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("Called borrower"), "Called borrower");
    }
}
