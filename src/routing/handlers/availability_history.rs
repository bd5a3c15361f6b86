//! An LO's availability history (issue 17): the records behind the dashboard's "Hours available", "Offers" and
//! "Claimed" figures — their status spans and the claim offers made to them over the dashboard's range.

use chrono::NaiveDate;

use super::*;
use crate::routing::history::{self, MAX_ROWS};
use crate::web::format::local_time;

/// `/availability/history?lo=…&from=…&to=…&offers=claimed`, read: the organisation's days `from` (inclusive) and
/// `to` (exclusive), 30 days to tomorrow by default, as on the dashboard.
#[derive(Debug, PartialEq)]
pub(crate) struct HistoryQuery {
    lo: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    claimed_only: bool,
}

/// Reads the query; a parameter the page does not know, one given twice, a bad id or date is a 422 naming it.
pub(crate) fn history_query(pairs: &[(String, String)], today: NaiveDate) -> AppResult<HistoryQuery> {
    let mut errors = FieldErrors::new();
    let (mut lo, mut from, mut to, mut claimed_only) = (None, None, None, false);
    let date = |v: &str, errors: &mut FieldErrors, field: &str| match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.add(field, "Use a date like 2026-01-31.");
            None
        }
    };
    for (i, (k, v)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(earlier, _)| earlier == k) {
            errors.add(k, "is given more than once");
            continue;
        }
        match k.as_str() {
            "lo" => match Uuid::parse_str(v.trim()) {
                Ok(id) => lo = Some(id),
                Err(_) => errors.add("lo", "is not a loan officer's id"),
            },
            "from" if !v.trim().is_empty() => from = date(v, &mut errors, "from"),
            "to" if !v.trim().is_empty() => to = date(v, &mut errors, "to"),
            "from" | "to" => {}
            "offers" => match v.as_str() {
                "" | "all" => claimed_only = false,
                "claimed" => claimed_only = true,
                _ => errors.add("offers", "must be all or claimed"),
            },
            other => errors.add(other, "is not a parameter of this page (known: lo, from, to, offers)"),
        }
    }
    if lo.is_none() && !errors.0.contains_key("lo") {
        errors.add("lo", "Choose a loan officer.");
    }
    let to = to.unwrap_or(today + chrono::Duration::days(1));
    let from = from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to {
        errors.add("from", "The start date must be before the end date.");
    } else if (to - from).num_days() > 3660 {
        errors.add("from", "Choose a range of at most ten years.");
    }
    errors.into_result()?;
    Ok(HistoryQuery { lo: lo.unwrap_or_default(), from, to, claimed_only })
}

pub(crate) struct SpanView {
    status: String,
    started: String,
    ended: String,
    hours: String,
}

pub(crate) struct OfferView {
    id: i64,
    made: String,
    /// The lead's page and the borrower's name, when the viewer's scope shows the lead.
    lead: Option<(String, String)>,
    outcome: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "routing/availability_history.html")]
pub(crate) struct HistoryPage {
    ctx: PageCtx,
    lo_name: String,
    from: NaiveDate,
    to: NaiveDate,
    /// The window reaches past now: nothing after now counts.
    up_to_now: bool,
    spans: Vec<SpanView>,
    span_total: i64,
    hours_total: String,
    offers: Vec<OfferView>,
    offer_total: i64,
    claimed_only: bool,
    all_offers_link: String,
    claimed_link: String,
    max_rows: i64,
    /// The viewer reads the dashboard this page drills down from.
    dashboard: bool,
}

fn offer_view(scope: &crate::auth::Scope, o: history::OfferRow) -> OfferView {
    let lead = scope
        .allows_lead(o.assigned_lo_id, o.team_id)
        .then(|| (format!("/leads/{}", o.lead_id), format!("{} {}", o.first_name, o.last_name)));
    let outcome = match (o.resolution.as_deref(), o.claimed_by_name) {
        (Some("claimed"), Some(name)) => format!("claimed by {name}"),
        (Some(r), _) => r.to_string(),
        (None, _) => "open".into(),
    };
    let outcome = match o.resolved_at {
        Some(at) => format!("{outcome} ({})", local_time(&at)),
        None => outcome,
    };
    OfferView { id: o.id, made: local_time(&o.created_at), lead, outcome }
}

pub(crate) async fn availability_history(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<impl IntoResponse> {
    // Who may read figures before what they asked for: a refusal never depends on the query.
    let scope = user.metrics_scope()?;
    let q = history_query(&pairs, state.today())?;
    // The same people who see the LO's row on the dashboard; anyone else is told nothing about them.
    let lo = history::officer(&state.db, q.lo)
        .await?
        .filter(|o| scope.covers_officer(o.id, o.team_id))
        .ok_or(AppError::NotFound)?;
    let tz = state.config.timezone;
    let (from, to) = (crate::state::day_start(tz, q.from), crate::state::day_start(tz, q.to));
    let now = state.clock.now();
    let span_rows = history::status_spans(&state.db, lo.id, from, to, now).await?;
    let offer_rows = history::offers(&state.db, lo.id, from, to, q.claimed_only).await?;
    let available_seconds = span_rows.first().map_or(0, |s| s.available_seconds);
    let span_total = span_rows.first().map_or(0, |s| s.total_spans);
    let offer_total = offer_rows.first().map_or(0, |o| o.total);
    let lead_scope = user.scope();
    let spans = span_rows
        .into_iter()
        .map(|s| SpanView {
            status: s.status,
            started: local_time(&s.started),
            ended: local_time(&s.ended),
            hours: history::hours(s.seconds),
        })
        .collect();
    Ok(HistoryPage {
        ctx,
        lo_name: lo.name,
        from: q.from,
        to: q.to,
        up_to_now: to > now,
        spans,
        span_total,
        hours_total: history::hours(available_seconds as f64),
        offers: offer_rows.into_iter().map(|o| offer_view(&lead_scope, o)).collect(),
        offer_total,
        claimed_only: q.claimed_only,
        all_offers_link: history::link(lo.id, q.from, q.to, None),
        claimed_link: history::link(lo.id, q.from, q.to, Some("claimed")),
        max_rows: MAX_ROWS,
        dashboard: user.require(&[Role::Admin, Role::Manager, Role::Marketing]).is_ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn fields(q: &[(&str, &str)]) -> Vec<String> {
        match history_query(&pairs(q), NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()) {
            Err(AppError::Validation(e)) => e.0.into_keys().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_query_reads_the_dashboards_days_and_names_what_it_refuses() {
        let lo = Uuid::from_u128(7);
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let q = history_query(&pairs(&[("lo", &lo.to_string())]), today).unwrap();
        assert_eq!(
            (q.from.to_string(), q.to.to_string(), q.claimed_only),
            ("2026-02-09".into(), "2026-03-11".into(), false)
        );
        let q = history_query(
            &pairs(&[("lo", &lo.to_string()), ("from", "2026-01-01"), ("to", "2026-02-01"), ("offers", "claimed")]),
            today,
        )
        .unwrap();
        assert_eq!(
            q,
            HistoryQuery {
                lo,
                from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                to: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
                claimed_only: true
            }
        );
        let id = lo.to_string();
        assert_eq!(fields(&[("lo", &id), ("bogus", "1")]), ["bogus"]);
        assert_eq!(fields(&[("lo", "nope")]), ["lo"]);
        assert_eq!(fields(&[]), ["lo"]);
        assert_eq!(fields(&[("lo", &id), ("from", "2026-13-01")]), ["from"]);
        assert_eq!(fields(&[("lo", &id), ("to", "yesterday")]), ["to"]);
        assert_eq!(fields(&[("lo", &id), ("from", "2026-02-01"), ("to", "2026-01-01")]), ["from"]);
        assert_eq!(fields(&[("lo", &id), ("offers", "some")]), ["offers"]);
        assert_eq!(fields(&[("lo", &id), ("lo", &id)]), ["lo"]);
    }
}
