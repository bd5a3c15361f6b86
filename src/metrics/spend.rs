//! Marketing spend: what each lead source, or one campaign under it, cost in a month, entered by form or
//! imported from a CSV file (all rows or none, bad rows reported by line). Source and campaign ROI add it to
//! the leads' own costs (`dashboard::roi_for`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use sqlx::{Postgres, Transaction};

use super::api::{SpendList, SpendSaved};
use super::model;
use super::store::{self, SourceSpend};
use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::imports::{Columns, CsvRows, ImportReport};
use crate::state::AppState;
use crate::web::Routes;
use crate::web::money::parse as parse_cents;

/// Who enters spend: admins and marketing.
pub const SPEND_ROLES: [Role; 2] = [Role::Admin, Role::Marketing];

/// A spend file is a few thousand rows at most.
const UPLOAD_LIMIT: usize = 5 * 1024 * 1024;

pub fn router() -> Routes {
    Routes::new()
        .route("/reports/spend", &["GET", "POST"], get(spend_form).post(spend_save))
        .route("/reports/spend/import", &["POST"], post(spend_import).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .route("/api/v1/spend", &["GET", "PUT"], get(api_list).put(api_set))
        .route("/api/v1/spend/import", &["POST"], post(api_import).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

#[derive(Template, WebTemplate)]
#[template(path = "metrics/spend.html")]
pub struct SpendPage {
    pub ctx: PageCtx,
    pub entries: Vec<SourceSpend>,
    pub sources: Vec<(String, String, i64)>,
    pub form: SpendForm,
    pub errors: FieldErrors,
    /// The last import's refused rows ("line 3: amount: …").
    pub import_errors: Vec<String>,
}

impl SpendPage {
    fn money(&self, v: &i64) -> String {
        model::dollars(*v)
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SpendForm {
    pub source: String,
    /// Empty: the whole source.
    pub campaign: String,
    /// YYYY-MM
    pub month: String,
    /// Dollars, e.g. 12500 or 12500.50
    pub amount: String,
}

/// A checked spend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    pub source: String,
    pub campaign: String,
    pub month: NaiveDate,
    pub cents: i64,
}

impl SpendForm {
    /// Checks the entry against the known sources; errors name the field.
    pub fn check(&self, sources: &[(String, String, i64)]) -> Result<Spend, FieldErrors> {
        let mut e = FieldErrors::new();
        let source = self.source.trim().to_lowercase();
        if !sources.iter().any(|(k, _, _)| *k == source) {
            e.add("source", "choose a lead source that is set up (Admin → Lead sources)");
        }
        let campaign = self.campaign.trim().to_string();
        if campaign.chars().count() > 100 {
            e.add("campaign", "use at most 100 characters");
        }
        let month = NaiveDate::parse_from_str(&format!("{}-01", self.month.trim()), "%Y-%m-%d").ok();
        if month.is_none() {
            e.add("month", "use a month like 2026-11");
        }
        let cents = parse_cents(&self.amount);
        if cents.is_none() {
            e.add("amount", "enter an amount in dollars, like 12500 or 12500.50");
        }
        match (month, cents) {
            (Some(month), Some(cents)) if e.is_empty() => Ok(Spend { source, campaign, month, cents }),
            _ => Err(e),
        }
    }
}

async fn page(state: &AppState, ctx: PageCtx, form: SpendForm, errors: FieldErrors) -> AppResult<SpendPage> {
    Ok(SpendPage {
        ctx,
        entries: store::list_spend(&state.db).await?,
        sources: store::sources(&state.db).await?,
        form,
        errors,
        import_errors: Vec::new(),
    })
}

async fn spend_form(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<SpendPage> {
    user.require(&SPEND_ROLES)?;
    page(&state, ctx, SpendForm::default(), FieldErrors::new()).await
}

/// Saves one entry (replacing that month's amount for the source or campaign), audited with the amount before,
/// which it returns.
async fn save(tx: &mut Transaction<'_, Postgres>, user: &CurrentUser, s: &Spend) -> AppResult<Option<i64>> {
    let before = store::upsert_spend(tx, &s.source, &s.campaign, s.month, s.cents).await?;
    let key = if s.campaign.is_empty() {
        format!("{}:{}", s.source, s.month)
    } else {
        format!("{}/{}:{}", s.source, s.campaign, s.month)
    };
    Entry::new(Some(user), "source_spend.set", "source_spend", key)
        .before(before)
        .after(s.cents)
        .write(&mut **tx)
        .await?;
    Ok(before)
}

async fn spend_save(
    user: CurrentUser,
    ctx: PageCtx,
    session: tower_sessions::Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<SpendForm>,
) -> AppResult<Response> {
    user.require(&SPEND_ROLES)?;
    let sources = store::sources(&state.db).await?;
    let spend = match form.check(&sources) {
        Ok(s) => s,
        Err(errors) => {
            let page = page(&state, ctx, form, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    save(&mut tx, &user, &spend).await?;
    tx.commit().await?;
    let what =
        if spend.campaign.is_empty() { spend.source.clone() } else { format!("{}: {}", spend.source, spend.campaign) };
    crate::web::Flash::push(&session, "success", format!("Spend for {what} in {} saved.", form.month.trim())).await;
    Ok(Redirect::to("/reports/spend").into_response())
}

/// The spend file's columns: `month` (YYYY-MM), `source` (its key), `amount` (dollars); `campaign` optional.
const REQUIRED: [&str; 3] = ["month", "source", "amount"];
const OPTIONAL: [&str; 1] = ["campaign"];

/// Imports a spend file: every row is checked, and the rows are saved only when all are good (one transaction;
/// a repeated source, campaign and month in the file is refused, so the file means one thing).
pub async fn import_spend<R: std::io::Read>(state: &AppState, user: &CurrentUser, input: R) -> AppResult<ImportReport> {
    user.require(&SPEND_ROLES)?;
    let mut report = ImportReport::new("spend entries", false);
    let mut rows = match CsvRows::open(input) {
        Ok(r) => r.skipping_blank_rows(),
        Err(e) => {
            report.reject_file(format!("unreadable header: {e}"));
            return Ok(report);
        }
    };
    let cols = match Columns::new(rows.headers(), &REQUIRED, &OPTIONAL) {
        Ok(c) => c,
        Err(e) => {
            report.reject_file(e);
            return Ok(report);
        }
    };
    let sources = store::sources(&state.db).await?;
    let mut good: Vec<Spend> = Vec::new();
    let mut seen: std::collections::HashMap<(String, String, NaiveDate), u64> = std::collections::HashMap::new();
    let mut unreadable = Vec::new();
    while let Some((line, row)) = rows.next_row(|u| unreadable.push(u)) {
        report.rows += 1;
        let form = SpendForm {
            source: cols.get(row, "source").to_string(),
            campaign: cols.get(row, "campaign").to_string(),
            month: cols.get(row, "month").to_string(),
            amount: cols.get(row, "amount").to_string(),
        };
        match form.check(&sources) {
            Ok(s) => match seen.insert((s.source.clone(), s.campaign.clone(), s.month), line) {
                Some(first) => {
                    report.reject(line, None, format!("the same source, campaign and month as line {first}"))
                }
                None => good.push(s),
            },
            Err(errors) => {
                for (field, messages) in errors.0 {
                    for m in messages {
                        report.reject(line, Some(&field), m);
                    }
                }
            }
        }
    }
    for u in unreadable {
        report.rows += 1;
        report.reject(u.line, u.column(), u.message());
    }
    report.errors.sort_by_key(|e| e.line);
    if report.refused() {
        return Ok(report);
    }
    let mut tx = state.db.begin().await?;
    for s in &good {
        save(&mut tx, user, s).await?;
    }
    tx.commit().await?;
    report.imported = good.len() as u64;
    report.committed = true;
    Ok(report)
}

async fn spend_import(
    user: CurrentUser,
    ctx: PageCtx,
    session: tower_sessions::Session,
    State(state): State<AppState>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    user.require(&SPEND_ROLES)?;
    let Some(data) = crate::web::upload::file_field(&mut multipart, "file").await? else {
        let mut errors = FieldErrors::new();
        errors.add("file", "choose a CSV file");
        let page = page(&state, ctx, SpendForm::default(), errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let report = import_spend(&state, &user, data.as_ref()).await?;
    if !report.committed {
        let mut page = page(&state, ctx, SpendForm::default(), FieldErrors::new()).await?;
        page.import_errors =
            std::iter::once(report.summary()).chain(report.errors.iter().map(|e| e.to_string())).collect();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    crate::web::Flash::push(&session, "success", report.summary()).await;
    Ok(Redirect::to("/reports/spend").into_response())
}

/// `loanfloor import spend FILE`: all rows or none (`--skip-bad` is not offered: a spend file is small enough
/// to fix and send again).
pub async fn cli(state: &AppState, args: &crate::config::ImportArgs) -> anyhow::Result<String> {
    if args.skip_bad {
        anyhow::bail!("a spend file is imported whole or not at all; fix the rows reported and import it again");
    }
    let user = crate::auth::store::cli_actor(&state.db, args.as_email.as_deref()).await?;
    let file =
        std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", args.file.display()))?;
    let report = import_spend(state, &user, std::io::BufReader::new(file)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !report.committed {
        anyhow::bail!("{report}");
    }
    Ok(report.summary())
}

// ---------------------------------------------------------------- API

/// `GET /api/v1/spend` (admins, marketing): the newest 500 entries.
async fn api_list(user: CurrentUser, State(state): State<AppState>) -> AppResult<Json<SpendList>> {
    user.require(&SPEND_ROLES)?;
    Ok(Json(SpendList { spend: store::list_spend(&state.db).await? }))
}

/// One month's spend as the API takes it: `amount_cents`, a whole number of cents.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
#[schema(as = SpendInput)]
pub struct ApiSpend {
    /// `YYYY-MM`.
    pub month: String,
    pub source: String,
    pub campaign: String,
    pub amount_cents: Option<i64>,
}

/// `PUT /api/v1/spend` (admins, marketing) `{"month": "2026-11", "source": "zillow", "campaign"?, "amount_cents"}`:
/// sets that month's amount for the source or campaign, as the form does (audited with the amount before);
/// 200 with the entry and `before_cents`. A field it does not know, a bad month, an unknown source or an
/// amount that is missing or negative is a 422 naming it.
async fn api_set(user: CurrentUser, State(state): State<AppState>, body: axum::body::Bytes) -> AppResult<Response> {
    user.require(&SPEND_ROLES)?;
    let input: ApiSpend = crate::web::input::strict_json(&body, &["month", "source", "campaign", "amount_cents"])?;
    let form = SpendForm {
        source: input.source,
        campaign: input.campaign,
        month: input.month,
        amount: match input.amount_cents {
            Some(c) if c >= 0 => format!("{}.{:02}", c / 100, c % 100),
            _ => String::new(),
        },
    };
    let sources = store::sources(&state.db).await?;
    let spend = form.check(&sources).map_err(|mut e| {
        if e.0.remove("amount").is_some() {
            e.add("amount_cents", "a whole number of cents, 0 or more");
        }
        AppError::Validation(e)
    })?;
    let mut tx = state.db.begin().await?;
    let before = save(&mut tx, &user, &spend).await?;
    tx.commit().await?;
    Ok(Json(SpendSaved {
        month: spend.month.format("%Y-%m").to_string(),
        source: spend.source,
        campaign: spend.campaign,
        amount_cents: spend.cents,
        before_cents: before,
    })
    .into_response())
}

/// `POST /api/v1/spend/import` (admins, marketing), a CSV body as the page's file: all rows or none; 200 with
/// the report, or 422 with every bad row by line and column.
async fn api_import(user: CurrentUser, State(state): State<AppState>, body: axum::body::Bytes) -> AppResult<Response> {
    user.require(&SPEND_ROLES)?;
    let report = import_spend(&state, &user, body.as_ref()).await?;
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, Json(report)).into_response())
}
