//! A person's data on request (issue 24, in part): an admin answering a complaint, a legal request or a
//! borrower's own request finds everything Loanfloor holds about one borrower — by lead id, email or phone —
//! as JSON (`POST /admin/data-request.json`) or a printable page (`POST /admin/data-request`): posted, so the
//! email or phone typed stays out of URLs, browser histories and proxy logs. Every table that names
//! a lead (`lead_id`) is read, found from the database's own catalogue, so a table added later is not missed;
//! with the bell's notifications and the webhook deliveries about the lead, its audit entries and the
//! loss-mitigation cases of the same email or phone. Each export is
//! audited with the leads it covered (not the address typed).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::AppResult;
use crate::state::AppState;

/// At most this many leads answer one request (the same person under several leads).
const MAX_LEADS: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct RequestQuery {
    #[serde(default)]
    pub q: String,
}

/// Everything held about the leads matching `q`, and the loss-mitigation cases of the same email or phone.
pub async fn collect(state: &AppState, q: &str) -> AppResult<Value> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(json!({"query": "", "leads": [], "loss_mitigation_cases": []}));
    }
    let id = Uuid::parse_str(q).ok();
    let phone = crate::leads::model::normalize_phone(q).ok();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM leads WHERE id = $1 OR lower(email) = lower($2) OR phone = $3 ORDER BY created_at LIMIT $4",
    )
    .bind(id)
    .bind(q)
    .bind(&phone)
    .bind(MAX_LEADS)
    .fetch_all(&state.db)
    .await?;
    // Every table with a lead_id column, from the catalogue (names are identifiers from it, quoted, never input).
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE c.table_schema = current_schema() AND c.column_name = 'lead_id' AND t.table_type = 'BASE TABLE'
          ORDER BY 1",
    )
    .fetch_all(&state.db)
    .await?;
    let mut leads = Vec::new();
    for lead in &ids {
        let row: Option<Value> = sqlx::query_scalar("SELECT to_jsonb(l) FROM leads l WHERE l.id = $1")
            .bind(lead)
            .fetch_optional(&state.db)
            .await?;
        let mut records = serde_json::Map::new();
        for table in &tables {
            let sql = format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM \"{}\" t WHERE t.lead_id = $1",
                table.replace('"', "\"\"")
            );
            let rows: Value = sqlx::query_scalar(&sql).bind(lead).fetch_one(&state.db).await?;
            if rows.as_array().is_some_and(|a| !a.is_empty()) {
                records.insert(table.clone(), rows);
            }
        }
        // Copies that name the lead without a lead_id column: the bell's notifications about it (their titles
        // carry the borrower's name) and the webhook deliveries of its events.
        let copies: Value = sqlx::query_scalar(
            "SELECT jsonb_build_object(
                 'notifications', (SELECT coalesce(jsonb_agg(to_jsonb(n) ORDER BY n.id), '[]'::jsonb)
                                     FROM notifications n WHERE n.link = '/leads/' || $1::text),
                 'webhook_deliveries', (SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]'::jsonb)
                                          FROM webhook_deliveries d WHERE d.payload->>'lead_id' = $1::text))",
        )
        .bind(lead.to_string())
        .fetch_one(&state.db)
        .await?;
        for (name, rows) in copies.as_object().into_iter().flatten() {
            if rows.as_array().is_some_and(|a| !a.is_empty()) {
                records.insert(name.clone(), rows.clone());
            }
        }
        let audit: Value = sqlx::query_scalar(
            "SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id), '[]'::jsonb) FROM audit_log a
              WHERE a.entity = 'lead' AND a.entity_id = $1",
        )
        .bind(lead.to_string())
        .fetch_one(&state.db)
        .await?;
        leads.push(json!({"lead": row, "records": records, "audit_log": audit}));
    }
    let emails: Vec<String> = leads.iter().filter_map(|l| l["lead"]["email"].as_str().map(str::to_lowercase)).collect();
    let phones: Vec<String> = leads.iter().filter_map(|l| l["lead"]["phone"].as_str().map(str::to_string)).collect();
    let cases: Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.created_at), '[]'::jsonb) FROM lossmit_cases c
          WHERE lower(c.borrower_email) = ANY($1) OR lower(c.borrower_email) = lower($2)
             OR (c.borrower_phone <> '' AND c.borrower_phone = ANY($3))",
    )
    .bind(&emails)
    .bind(q)
    .bind(&phones)
    .fetch_one(&state.db)
    .await?;
    Ok(json!({
        "query": q,
        "generated_at": state.clock.now(),
        "leads": leads,
        "loss_mitigation_cases": cases,
    }))
}

/// An admin's answer to a request for `q`, audited (with the leads it covered) when `q` names anyone.
async fn answer(state: &AppState, user: &CurrentUser, q: &str, format: &str) -> AppResult<Value> {
    user.require(&[Role::Admin])?;
    let data = collect(state, q).await?;
    if q.trim().is_empty() {
        return Ok(data);
    }
    let leads: Vec<Value> = data["leads"].as_array().into_iter().flatten().map(|l| l["lead"]["id"].clone()).collect();
    let cases = data["loss_mitigation_cases"].as_array().map_or(0, Vec::len);
    Entry::new(Some(user), "data_request.exported", "data_request", "")
        .after(json!({"lead_ids": leads, "loss_mitigation_cases": cases, "format": format}))
        .write(&state.db)
        .await?;
    Ok(data)
}

/// `POST /admin/data-request.json` (form field `q`): the JSON answer. (`GET ?q=` answers too, for a lead's id;
/// the page posts, so an email or phone typed never lands in a URL, a browser's history or a proxy's log.)
pub async fn json_export(
    user: CurrentUser,
    State(state): State<AppState>,
    Query(r): Query<RequestQuery>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    json_answer(&state, &user, id_only(&r.q)?).await
}

pub async fn json_export_post(
    user: CurrentUser,
    State(state): State<AppState>,
    Form(r): Form<RequestQuery>,
) -> AppResult<Response> {
    json_answer(&state, &user, &r.q).await
}

async fn json_answer(state: &AppState, user: &CurrentUser, q: &str) -> AppResult<Response> {
    let data = answer(state, user, q, "json").await?;
    let mut res = Json(data).into_response();
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"data-request.json\""),
    );
    Ok(res)
}

/// One record as the printable page lists it: its fields in order, values as text.
struct Record {
    fields: Vec<(String, String)>,
}

struct Section {
    title: String,
    records: Vec<Record>,
}

struct PersonLead {
    id: String,
    name: String,
    sections: Vec<Section>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home/data_request.html")]
struct DataRequestPage {
    ctx: PageCtx,
    q: String,
    leads: Vec<PersonLead>,
    cases: Vec<Record>,
}

fn records(rows: &Value) -> Vec<Record> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let as_record = |row: &Value| Record {
        fields: row.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect()).unwrap_or_default(),
    };
    match rows {
        Value::Array(a) => a.iter().map(as_record).collect(),
        Value::Object(_) => vec![as_record(rows)],
        _ => vec![],
    }
}

/// `GET /admin/data-request`: the search form (or, for `?q=` a lead's id, its answer).
pub async fn page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(r): Query<RequestQuery>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    page_answer(&state, &user, ctx, id_only(&r.q)?).await
}

/// A search in a URL names a lead by its id only: an email or phone is posted, never put in a URL.
fn id_only(q: &str) -> AppResult<&str> {
    if q.trim().is_empty() || Uuid::parse_str(q.trim()).is_ok() {
        Ok(q)
    } else {
        Err(crate::error::AppError::BadRequest(
            "Search by email or phone with the form: they are posted, never put in a URL.".into(),
        ))
    }
}

/// `POST /admin/data-request` (form field `q`): the printable page for a lead id, email or phone.
pub async fn page_post(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Form(r): Form<RequestQuery>,
) -> AppResult<Response> {
    page_answer(&state, &user, ctx, &r.q).await
}

async fn page_answer(state: &AppState, user: &CurrentUser, ctx: PageCtx, q: &str) -> AppResult<Response> {
    let data = answer(state, user, q, "page").await?;
    let leads = data["leads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let mut sections = vec![Section { title: "Lead".into(), records: records(&l["lead"]) }];
            if let Some(map) = l["records"].as_object() {
                sections
                    .extend(map.iter().map(|(t, rows)| Section { title: t.replace('_', " "), records: records(rows) }));
            }
            sections.push(Section { title: "audit log".into(), records: records(&l["audit_log"]) });
            PersonLead {
                id: l["lead"]["id"].as_str().unwrap_or_default().to_string(),
                name: format!(
                    "{} {}",
                    l["lead"]["first_name"].as_str().unwrap_or_default(),
                    l["lead"]["last_name"].as_str().unwrap_or_default()
                ),
                sections,
            }
        })
        .collect();
    let cases = records(&data["loss_mitigation_cases"]);
    Ok(DataRequestPage { ctx, q: q.trim().to_string(), leads, cases }.into_response())
}
