//! CSV export of the lead list: the same filters and scope as the list, streamed page by page, with every cell
//! neutralised against spreadsheet formula injection.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::model::{self, neutralize_cell};
use super::store::{self, Lead, LeadFilter};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;

pub const EXPORT_COLUMNS: [&str; 24] = [
    "id",
    "stage",
    "first_name",
    "last_name",
    "email",
    "phone",
    "property_state",
    "property_zip",
    "loan_purpose",
    "loan_amount_cents",
    "property_value_cents",
    "ltv_bps",
    "credit_band",
    "occupancy",
    "property_type",
    "rate_quoted",
    "source",
    "campaign",
    "vendor",
    "cost_cents",
    "external_id",
    "assigned_lo",
    "lost_reason",
    "created_at",
];

/// One lead's cells; `created_at` in `zone` (a person's download) or RFC 3339 in UTC (the API's, `None`).
fn row(l: &Lead, zone: Option<chrono_tz::Tz>) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    vec![
        l.id.to_string(),
        l.stage.clone(),
        l.first_name.clone(),
        l.last_name.clone(),
        o(&l.email),
        o(&l.phone),
        o(&l.property_state),
        o(&l.property_zip),
        o(&l.loan_purpose),
        n(l.loan_amount_cents),
        n(l.property_value_cents),
        n(l.ltv_bps()),
        o(&l.credit_band),
        o(&l.occupancy),
        o(&l.property_type),
        l.rate_quoted_milli.map(model::format_rate).unwrap_or_default(),
        l.source.clone(),
        o(&l.campaign),
        o(&l.vendor),
        l.cost_cents.to_string(),
        o(&l.external_id),
        o(&l.assigned_lo_email),
        o(&l.lost_reason),
        match zone {
            Some(z) => l.created_at.with_timezone(&z).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            None => l.created_at.to_rfc3339(),
        },
    ]
}

/// Writes one CSV record with neutralised cells. Phone numbers in E.164 start with `+` and are therefore
/// prefixed too: a spreadsheet would otherwise read them as a formula.
pub fn csv_line(cells: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(cells.iter().map(|c| neutralize_cell(c).into_owned()));
    w.into_inner().unwrap_or_default()
}

/// `GET /leads/export.csv` and `GET /api/v1/leads.csv`: the filtered, scoped list as CSV.
pub async fn download(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> AppResult<Response> {
    if !user.sees_borrowers() {
        // The export is the borrowers' records; marketing reads the anonymous list.
        return Err(crate::error::AppError::forbidden(
            "the export holds borrowers' details; your role reads the anonymous list",
        ));
    }
    let (f, errors) = LeadFilter::from_pairs(&pairs);
    errors.into_result()?;
    // Check the filter before streaming, so a bad filter is a 422, not a broken download.
    store::export_page(&state, &user, &f, None, 1).await?;
    // A person's download reads times in their zone, named in the column; the API's stays RFC 3339 in UTC.
    let zone = (!crate::web::request_ctx().is_api).then(crate::web::format::zone);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        let header: Vec<String> = EXPORT_COLUMNS
            .iter()
            .map(|c| match zone {
                Some(z) if *c == "created_at" => format!("created_at ({})", z.name()),
                _ => c.to_string(),
            })
            .collect();
        if tx.send(Ok(csv_line(&header))).await.is_err() {
            return;
        }
        let mut after = None;
        loop {
            let page = match store::export_page(&state, &user, &f, after, 2000).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = ?e, "lead export failed");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            let mut buf = Vec::new();
            for l in &page {
                buf.extend(csv_line(&row(l, zone)));
            }
            if tx.send(Ok(buf)).await.is_err() {
                return;
            }
            match page.last() {
                Some(l) if page.len() == 2000 => after = Some((l.created_at, l.id)),
                _ => return,
            }
        }
    });
    // Fused: the gzip layer polls the body once more after its end, which an unfused `unfold` answers with a
    // panic (a broken download for every client that accepts gzip).
    let stream = futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"leads.csv\""),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
