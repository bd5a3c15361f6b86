//! Escalation reports (page and CSV).

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    table: String,
}

pub(crate) struct Reports {
    from: NaiveDate,
    to: NaiveDate,
    by_lo: Vec<ConcessionSummary>,
    by_team: Vec<ConcessionSummary>,
    by_month: Vec<ConcessionSummary>,
    total: Vec<ConcessionSummary>,
    screen: Vec<SegmentScreen>,
    thresholds: model::FairLendingThresholds,
}

pub(crate) async fn build_reports(state: &AppState, user: &CurrentUser, q: &ReportQuery) -> AppResult<Reports> {
    user.require(&[Role::Manager, Role::Admin])?;
    // Days and months are the organisation's (a request made at 8 pm in Chicago on the 31st is that month's);
    // a date that cannot be read is a 422 naming it, never silently replaced.
    let today = state.today();
    let default_from = today.with_day(1).unwrap_or(today) - chrono::Duration::days(365);
    let mut errors = FieldErrors::new();
    let mut date = |field: &str, v: &str, default: NaiveDate| match v.trim() {
        "" => default,
        s => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
            errors.add(field, "use a date like 2026-01-31");
            default
        }),
    };
    let (from, to) = (date("from", &q.from, default_from), date("to", &q.to, today));
    if from > to {
        errors.add("from", "must be on or before to");
    }
    errors.into_result()?;
    let tz = state.config.timezone;
    let (start, end) = (crate::state::day_start(tz, from), crate::state::day_start(tz, to.succ_opt().unwrap_or(to)));
    let auth = crate::escalations::authority(state, user).await?;
    let rows = store::report_rows(&state.db, user, auth.as_ref(), start, end, tz).await?;
    let thresholds = store::fair_lending_thresholds(&state.db).await?;
    // Each row's figures open the approvals list with the report's range and the row's LO, team or month.
    let range = format!("from={from}&to={to}");
    let month_range = |month: &str| {
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap_or(from);
        let last = first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(to);
        format!("from={}&to={}", first.max(from), last.min(to))
    };
    let team = |id: Option<Uuid>| id.map_or_else(|| "none".to_string(), |t| t.to_string());
    Ok(Reports {
        from,
        to,
        by_lo: model::summarise(&rows, |r| (r.lo_name.clone(), format!("{range}&lo={}", r.lo_id))),
        by_team: model::summarise(&rows, |r| (r.team_name.clone(), format!("{range}&team={}", team(r.team_id)))),
        by_month: model::summarise(&rows, |r| (r.month.clone(), month_range(&r.month))),
        total: model::summarise(&rows, |_| ("All".into(), range.clone())),
        screen: model::fair_lending_screen(&rows, thresholds),
        thresholds,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "escalations/reports.html")]
pub(crate) struct ReportsPage {
    ctx: PageCtx,
    r: Reports,
}

impl ReportsPage {
    fn dollars(&self, c: &i64) -> String {
        model::format_dollars(*c)
    }
    fn pct(&self, v: &Option<f64>) -> String {
        crate::web::format::percent(*v)
    }
    fn num(&self, v: &Option<f64>) -> String {
        v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
    }
}

pub(crate) async fn reports(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<impl IntoResponse> {
    let r = build_reports(&state, &user, &q).await?;
    Ok(ReportsPage { ctx, r })
}

pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_default()
}

pub(crate) async fn reports_csv(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let r = build_reports(&state, &user, &q).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: Vec<String>| -> AppResult<()> {
        w.write_record(cells.iter().map(|c| model::csv_cell(c))).map_err(|e| AppError::Internal(e.into()))
    };
    let summary = |rows: &[ConcessionSummary], label: &str, write: &mut dyn FnMut(Vec<String>) -> AppResult<()>| {
        write(
            [
                label,
                "requests",
                "decided",
                "granted",
                "total_bps",
                "dollars",
                "approval_rate_pct",
                "avg_hours_to_decision",
                "funded",
            ]
            .map(String::from)
            .to_vec(),
        )?;
        for s in rows {
            write(vec![
                s.key.clone(),
                s.requests.to_string(),
                s.decided.to_string(),
                s.granted.to_string(),
                s.total_bps.to_string(),
                format!("{}.{:02}", s.total_cents / 100, s.total_cents % 100),
                fmt_opt(s.approval_rate),
                fmt_opt(s.avg_hours_to_decision),
                s.funded.to_string(),
            ])?;
        }
        Ok::<(), AppError>(())
    };
    let table = match q.table.as_str() {
        "lo" | "team" | "month" | "fair_lending" => q.table.as_str(),
        _ => return Err(AppError::BadRequest("Choose a table: lo, team, month or fair_lending.".into())),
    };
    match table {
        "lo" => summary(&r.by_lo, "loan_officer", &mut write)?,
        "team" => summary(&r.by_team, "team", &mut write)?,
        "month" => summary(&r.by_month, "month", &mut write)?,
        _ => {
            write(
                [
                    "dimension",
                    "segment",
                    "decided",
                    "granted",
                    "concession_rate_pct",
                    "rest_rate_pct",
                    "avg_bps",
                    "rest_avg_bps",
                    "flagged",
                ]
                .map(String::from)
                .to_vec(),
            )?;
            for s in &r.screen {
                write(vec![
                    s.dimension.to_string(),
                    s.segment.clone(),
                    s.decided.to_string(),
                    s.granted.to_string(),
                    format!("{:.1}", s.concession_rate),
                    fmt_opt(s.rest_rate),
                    fmt_opt(s.avg_bps),
                    fmt_opt(s.rest_avg_bps),
                    if s.flagged { "yes".into() } else { "no".into() },
                ])?;
            }
        }
    }
    let body = w.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"concessions-{table}-{}-{}.csv\"", r.from, r.to),
        )
        .body(Body::from(body))
        .map_err(|e| AppError::Internal(e.into()))
}
