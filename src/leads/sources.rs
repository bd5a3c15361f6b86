//! Lead sources and campaigns as managed records (issue 17): admins add, rename, review and retire the
//! sources leads come from (the vendor and channel behind each, and how it is paid for: per lead, a flat
//! monthly fee, or per funded loan) and the campaigns under them, on `/admin/sources` and through
//! `/api/v1/sources`. A lead posted under a source nobody set up is never refused: it is kept under that
//! name and the source is added unreviewed ([`note_sources`], from the lifecycle's creation), so an admin
//! sees it at the top of the page and sets it up. A retired source stays on its leads and in the reports.
//!
//! The cost model reaches ROI: a lead without its own cost is priced at its per-lead source's price when it
//! is created; a per-funded-loan source costs its price for each funded loan; a flat monthly fee counts for
//! each month (prorated by day) for which no spend was entered on `/reports/spend`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, patch, post};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use tower_sessions::Session;
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::money;
use crate::web::{Flash, Routes};

/// How a source is paid for; its `cost` is per lead, per month or per funded loan.
pub const COST_MODELS: [(&str, &str); 3] =
    [("per_lead", "Per lead"), ("monthly", "Flat monthly fee"), ("per_funded", "Per funded loan")];
pub const CHANNELS: [(&str, &str); 8] = [
    ("aggregator", "Lead aggregator"),
    ("paid_search", "Paid search"),
    ("social", "Social"),
    ("website", "Own website"),
    ("referral", "Referral"),
    ("partner", "Referral partner"),
    ("direct_mail", "Direct mail"),
    ("other", "Other"),
];

pub fn router() -> Routes {
    Routes::new()
        .route("/admin/sources", &["GET", "POST"], get(page).post(add))
        .route("/admin/sources/{key}", &["POST"], post(edit))
        .route("/admin/sources/{key}/campaigns", &["POST"], post(add_campaign))
        .route("/api/v1/sources", &["GET", "POST"], get(api_list).post(api_add))
        .route("/api/v1/sources/{key}", &["PATCH"], patch(api_patch))
        .route("/api/v1/sources/{key}/campaigns/{campaign}", &["PUT"], axum::routing::put(api_campaign))
}

/// A source as the page and the API show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Source {
    pub key: String,
    pub label: String,
    pub vendor: Option<String>,
    pub channel: String,
    pub cost_model: String,
    pub cost_cents: i64,
    pub reviewed: bool,
    pub retired_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// Its campaigns' labels (keys in brackets), retired ones last.
    pub campaigns: Vec<String>,
}

impl Source {
    pub fn cost_label(&self) -> String {
        let unit = match self.cost_model.as_str() {
            "monthly" => "a month",
            "per_funded" => "per funded loan",
            _ => "per lead",
        };
        format!("{} {unit}", money::amount(self.cost_cents))
    }
    pub fn channel_label(&self) -> &'static str {
        CHANNELS.iter().find(|(k, _)| *k == self.channel).map_or("Other", |(_, l)| l)
    }
    pub fn cost_value(&self) -> String {
        money::input(self.cost_cents)
    }
}

/// What an admin enters for a source (the form and the API alike). Every field is optional on a change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SourceInput {
    pub key: String,
    pub label: Option<String>,
    pub vendor: Option<String>,
    pub channel: Option<String>,
    pub cost_model: Option<String>,
    /// Dollars, e.g. "35" or "1,200.50".
    pub cost: Option<String>,
    /// `true` retires the source, `false` brings it back.
    pub retired: Option<bool>,
    /// The version the change was made against (409 when someone saved in between).
    pub version: Option<i32>,
}

fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

/// The checked values of an input over the current record (None when adding).
fn checked(input: &SourceInput, current: Option<&Source>) -> Result<Source, AppError> {
    let mut e = FieldErrors::new();
    let key = input.key.trim().to_lowercase();
    if current.is_none() && !valid_key(&key) {
        e.add("key", "use a short key: lower-case letters, digits, - _ . (as leads will carry it)");
    }
    let label = input.label.as_deref().map(str::trim).map(str::to_string);
    let label = label.or_else(|| current.map(|c| c.label.clone())).unwrap_or_default();
    if label.is_empty() || label.len() > 120 {
        e.add("label", "give the source a name (up to 120 characters)");
    }
    let channel = input.channel.clone().or_else(|| current.map(|c| c.channel.clone())).unwrap_or("other".into());
    if !CHANNELS.iter().any(|(k, _)| *k == channel) {
        e.add("channel", format!("one of {}", CHANNELS.map(|c| c.0).join(", ")));
    }
    let model = input.cost_model.clone().or_else(|| current.map(|c| c.cost_model.clone())).unwrap_or("per_lead".into());
    if !COST_MODELS.iter().any(|(k, _)| *k == model) {
        e.add("cost_model", format!("one of {}", COST_MODELS.map(|c| c.0).join(", ")));
    }
    let cost = match input.cost.as_deref().map(str::trim) {
        None | Some("") => current.map_or(0, |c| c.cost_cents),
        Some(v) => money::parse_amount(v).unwrap_or_else(|why| {
            e.add("cost", why);
            0
        }),
    };
    let vendor = match &input.vendor {
        Some(v) => Some(v.trim().to_string()).filter(|v| !v.is_empty()),
        None => current.and_then(|c| c.vendor.clone()),
    };
    if vendor.as_deref().is_some_and(|v| v.len() > 120) {
        e.add("vendor", "up to 120 characters");
    }
    e.into_result()?;
    Ok(Source {
        key: current.map_or(key, |c| c.key.clone()),
        label,
        vendor,
        channel,
        cost_model: model,
        cost_cents: cost,
        reviewed: true,
        retired_at: None,
        version: current.map_or(1, |c| c.version),
        campaigns: Vec::new(),
    })
}

/// Every source, unreviewed first, then active ones by name, retired last; with their campaigns.
pub async fn all(db: &sqlx::PgPool) -> AppResult<Vec<Source>> {
    Ok(sqlx::query_as!(
        Source,
        r#"SELECT s.key, s.label, s.vendor, s.channel, s.cost_model, s.cost_cents, s.reviewed, s.retired_at, s.version,
                  COALESCE(ARRAY(SELECT c.label || ' [' || c.key || ']' || CASE WHEN c.retired_at IS NULL THEN '' ELSE ' (retired)' END
                                 FROM lead_campaigns c WHERE c.source = s.key
                                 ORDER BY c.retired_at IS NOT NULL, c.label), '{}') AS "campaigns!"
           FROM lead_sources s
           ORDER BY s.reviewed, s.retired_at IS NOT NULL, lower(s.label)"#
    )
    .fetch_all(db)
    .await?)
}

async fn one(tx: &mut Transaction<'_, Postgres>, key: &str) -> AppResult<Source> {
    sqlx::query_as!(
        Source,
        r#"SELECT key, label, vendor, channel, cost_model, cost_cents, reviewed, retired_at, version,
                  '{}'::text[] AS "campaigns!"
           FROM lead_sources WHERE key = $1 FOR UPDATE"#,
        key
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// Adds a source (409 when the key is taken).
pub async fn add_source(state: &AppState, user: &CurrentUser, input: &SourceInput) -> AppResult<Source> {
    user.require(&[Role::Admin])?;
    let s = checked(input, None)?;
    let mut tx = state.db.begin().await?;
    let added = sqlx::query!(
        "INSERT INTO lead_sources (key, label, vendor, channel, cost_model, cost_cents, cost_per_lead_cents, reviewed)
         VALUES ($1, $2, $3, $4, $5, $6::int8, CASE WHEN $5 = 'per_lead' THEN $6::int8 ELSE 0 END, true)
         ON CONFLICT (key) DO NOTHING",
        s.key,
        s.label,
        s.vendor,
        s.channel,
        s.cost_model,
        s.cost_cents
    )
    .execute(&mut *tx)
    .await?;
    if added.rows_affected() == 0 {
        return Err(AppError::Taken {
            field: "key",
            message: format!("there is already a source with the key {:?}", s.key),
            other: None,
        });
    }
    Entry::new(Some(user), "source.add", "lead_source", &s.key).after(&s).write(&mut *tx).await?;
    tx.commit().await?;
    crate::leads::store::sources_changed_here(state).await;
    Ok(s)
}

/// Changes a source: its name, vendor, channel, cost; retiring or bringing it back; saving an unreviewed one
/// marks it reviewed. A change made against an older version is a 409.
pub async fn change_source(state: &AppState, user: &CurrentUser, key: &str, input: &SourceInput) -> AppResult<Source> {
    user.require(&[Role::Admin])?;
    let mut tx = state.db.begin().await?;
    let before = one(&mut tx, key).await?;
    if input.version.is_some_and(|v| v != before.version) {
        return Err(AppError::conflict(format!(
            "{} was changed by someone else since you opened it; reload to see their change",
            before.label
        )));
    }
    let mut after = checked(input, Some(&before))?;
    after.retired_at = match input.retired {
        Some(true) => before.retired_at.or(Some(state.clock.now())),
        Some(false) => None,
        None => before.retired_at,
    };
    after.version = before.version + 1;
    sqlx::query!(
        "UPDATE lead_sources SET label = $2, vendor = $3, channel = $4, cost_model = $5, cost_cents = $6::int8,
                cost_per_lead_cents = CASE WHEN $5 = 'per_lead' THEN $6::int8 ELSE 0 END, reviewed = true,
                retired_at = $7, version = $8, updated_at = now()
         WHERE key = $1",
        key,
        after.label,
        after.vendor,
        after.channel,
        after.cost_model,
        after.cost_cents,
        after.retired_at,
        after.version
    )
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "source.change", "lead_source", key).before(&before).after(&after).write(&mut *tx).await?;
    tx.commit().await?;
    crate::leads::store::sources_changed_here(state).await;
    Ok(after)
}

/// What a new lead's source means for it: a source nobody set up is added, unreviewed and named by its key
/// (so a lead is never refused for its source, and an admin sees the name to set up); a lead that came without
/// its own cost gets its source's price when the source is paid per lead.
pub async fn note_sources(tx: &mut Transaction<'_, Postgres>, lead_ids: &[Uuid]) -> sqlx::Result<()> {
    // One statement: the UPDATE does not see the sources its CTE adds, which are never priced yet.
    sqlx::query!(
        "WITH added AS (
           INSERT INTO lead_sources (key, label, reviewed)
           SELECT DISTINCT l.source, l.source, false FROM leads l WHERE l.id = ANY($1)
           ON CONFLICT (key) DO NOTHING)
         UPDATE leads l SET cost_cents = s.cost_cents
         FROM lead_sources s
         WHERE l.id = ANY($1) AND l.cost_cents = 0 AND s.key = l.source AND s.cost_model = 'per_lead'
           AND s.cost_cents > 0",
        lead_ids
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A campaign under a source, as an admin enters it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CampaignInput {
    pub key: String,
    pub label: String,
    /// Any value retires the campaign with this key (re-adding it brings it back).
    pub retire: String,
}

/// The body of `PUT /api/v1/sources/{key}/campaigns/{campaign}` (the campaign's key is in the path); any
/// other field is refused (422).
#[derive(utoipa::ToSchema)]
pub struct CampaignBody {
    /// The campaign's name, up to 120 characters (needed unless the campaign is retired).
    #[schema(required = false)]
    pub label: String,
    /// Any non-empty value retires the campaign (a later PUT without it brings it back).
    #[schema(required = false)]
    pub retire: String,
}

/// Adds (or renames, or retires) a campaign under a source.
pub async fn save_campaign(state: &AppState, user: &CurrentUser, source: &str, c: &CampaignInput) -> AppResult<()> {
    user.require(&[Role::Admin])?;
    let key = c.key.trim().to_lowercase();
    let label = c.label.trim();
    let mut e = FieldErrors::new();
    if !valid_key(&key) {
        e.add("campaign_key", "use a short key: lower-case letters, digits, - _ .");
    }
    if c.retire.is_empty() && (label.is_empty() || label.len() > 120) {
        e.add("campaign_label", "give the campaign a name (up to 120 characters)");
    }
    e.into_result()?;
    let mut tx = state.db.begin().await?;
    one(&mut tx, source).await?;
    let retired = (!c.retire.is_empty()).then(|| state.clock.now());
    sqlx::query!(
        "INSERT INTO lead_campaigns (source, key, label, retired_at) VALUES ($1, $2, COALESCE(NULLIF($3, ''), $2), $4)
         ON CONFLICT (source, key) DO UPDATE
         SET label = COALESCE(NULLIF($3, ''), lead_campaigns.label), retired_at = $4",
        source,
        key,
        label,
        retired
    )
    .execute(&mut *tx)
    .await?;
    let action = if retired.is_some() { "campaign.retire" } else { "campaign.save" };
    Entry::new(Some(user), action, "lead_campaign", format!("{source}/{key}"))
        .after(serde_json::json!({"source": source, "key": key, "label": label}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub struct Opt {
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/sources.html")]
struct SourcesPage {
    ctx: PageCtx,
    sources: Vec<Source>,
    channels: Vec<Opt>,
    cost_models: Vec<Opt>,
    /// The add form as entered, when it was refused.
    form: SourceFormValues,
    errors: FieldErrors,
    /// The source whose row the errors belong to (None: the add form).
    errors_for: Option<String>,
}

/// The form's fields as entered (re-shown on a 422).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SourceFormValues {
    pub key: String,
    pub label: String,
    pub vendor: String,
    pub channel: String,
    pub cost_model: String,
    pub cost: String,
    pub retired: String,
    pub version: String,
}

impl SourceFormValues {
    fn input(&self) -> SourceInput {
        let some = |s: &str| Some(s.to_string());
        SourceInput {
            key: self.key.clone(),
            label: some(&self.label),
            vendor: some(&self.vendor),
            channel: Some(self.channel.clone()).filter(|c| !c.is_empty()),
            cost_model: Some(self.cost_model.clone()).filter(|c| !c.is_empty()),
            cost: some(&self.cost),
            retired: Some(!self.retired.is_empty()),
            version: self.version.trim().parse().ok(),
        }
    }
}

async fn render(
    state: &AppState,
    ctx: PageCtx,
    form: SourceFormValues,
    errors: FieldErrors,
    errors_for: Option<String>,
) -> AppResult<SourcesPage> {
    Ok(SourcesPage {
        ctx,
        sources: all(&state.db).await?,
        channels: CHANNELS.iter().map(|(value, label)| Opt { value, label }).collect(),
        cost_models: COST_MODELS.iter().map(|(value, label)| Opt { value, label }).collect(),
        form,
        errors,
        errors_for,
    })
}

async fn page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    user.require(&[Role::Admin])?;
    render(&state, ctx, SourceFormValues::default(), FieldErrors::new(), None).await
}

/// A refused form: the page again with what was entered and why (422), or the conflict (409).
async fn refused(
    state: &AppState,
    ctx: PageCtx,
    form: SourceFormValues,
    errors_for: Option<String>,
    e: AppError,
) -> AppResult<Response> {
    let (status, errors) = crate::error::form_refusal(e)?;
    Ok((status, render(state, ctx, form, errors, errors_for).await?).into_response())
}

async fn add(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<SourceFormValues>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    match add_source(&state, &user, &form.input()).await {
        Ok(s) => {
            Flash::push(&session, "success", format!("Source {} added.", s.label)).await;
            Ok(Redirect::to("/admin/sources").into_response())
        }
        Err(e) => refused(&state, ctx, form, None, e).await,
    }
}

async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(key): Path<String>,
    Form(form): Form<SourceFormValues>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    match change_source(&state, &user, &key, &form.input()).await {
        Ok(s) => {
            Flash::push(&session, "success", format!("Source {} saved.", s.label)).await;
            Ok(Redirect::to("/admin/sources").into_response())
        }
        Err(e) => refused(&state, ctx, SourceFormValues::default(), Some(key), e).await,
    }
}

async fn add_campaign(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(source): Path<String>,
    Form(c): Form<CampaignInput>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    match save_campaign(&state, &user, &source, &c).await {
        Ok(()) => {
            Flash::push(&session, "success", "Campaign saved.").await;
            Ok(Redirect::to("/admin/sources").into_response())
        }
        Err(e) => refused(&state, ctx, SourceFormValues::default(), Some(source), e).await,
    }
}

/// `GET /api/v1/sources`: every source with its campaigns (any staff role; integrations need the keys).
async fn api_list(user: CurrentUser, State(state): State<AppState>) -> AppResult<Json<Vec<Source>>> {
    user.require(&[Role::Admin, Role::Manager, Role::Lo, Role::Intake])?;
    Ok(Json(all(&state.db).await?))
}

/// A source from a JSON body: a field it does not know is a 422 naming it.
fn parse_input(body: &Bytes) -> AppResult<SourceInput> {
    const FIELDS: [&str; 8] = ["key", "label", "vendor", "channel", "cost_model", "cost", "retired", "version"];
    crate::web::input::strict_json(body, &FIELDS)
}

/// `POST /api/v1/sources` (admins): 201 with the source.
async fn api_add(user: CurrentUser, State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    user.require(&[Role::Admin])?; // who may, before anything about the input is said
    let s = add_source(&state, &user, &parse_input(&body)?).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

/// `PATCH /api/v1/sources/{key}` (admins): rename, re-price, review, retire; `version` guards against
/// overwriting someone else's change.
async fn api_patch(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> AppResult<Json<Source>> {
    user.require(&[Role::Admin])?;
    let mut input = parse_input(&body)?;
    input.key = key.clone();
    Ok(Json(change_source(&state, &user, &key, &input).await?))
}

/// `PUT /api/v1/sources/{key}/campaigns/{campaign}` (admins) `{"label": "Spring mailer", "retire"?: "yes"}`:
/// adds, renames or retires a campaign under a source (re-adding brings it back); 200 with the source and its
/// campaigns. A field it does not know is a 422 naming it.
async fn api_campaign(
    user: CurrentUser,
    State(state): State<AppState>,
    Path((key, campaign)): Path<(String, String)>,
    body: Bytes,
) -> AppResult<Json<Source>> {
    user.require(&[Role::Admin])?;
    let mut input: CampaignInput = crate::web::input::strict_json(&body, &["label", "retire"])?;
    input.key = campaign;
    save_campaign(&state, &user, &key, &input).await?;
    let source = all(&state.db).await?.into_iter().find(|s| s.key == key).ok_or(AppError::NotFound)?;
    Ok(Json(source))
}

/// `loanfloor sources …`: the admin pages' changes from the command line, audited as the acting admin.
pub async fn cli(state: &AppState, cmd: crate::config::SourcesCommand) -> anyhow::Result<()> {
    use crate::config::SourcesCommand;
    let explain = |e: AppError| match e {
        AppError::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .0
                .iter()
                .flat_map(|(f, m)| m.iter().map(move |m| format!("{f}: {m}")))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    };
    match cmd {
        SourcesCommand::List => {
            for s in all(&state.db).await? {
                let status = if s.retired_at.is_some() {
                    " (retired)"
                } else if !s.reviewed {
                    " (unreviewed)"
                } else {
                    ""
                };
                println!(
                    "{}\t{}{status}\t{}\t{}\t{}\t{}",
                    s.key,
                    s.label,
                    s.vendor.as_deref().unwrap_or("-"),
                    s.channel,
                    s.cost_label(),
                    s.campaigns.join(", ")
                );
            }
        }
        SourcesCommand::Add(a) => {
            let user = crate::auth::store::cli_actor(&state.db, a.as_email.as_deref()).await?;
            let s = add_source(state, &user, &source_input(&a)).await.map_err(explain)?;
            println!("added {} ({})", s.key, s.label);
        }
        SourcesCommand::Change(a) => {
            let user = crate::auth::store::cli_actor(&state.db, a.as_email.as_deref()).await?;
            let s = change_source(state, &user, &a.key, &source_input(&a)).await.map_err(explain)?;
            println!("changed {} ({}){}", s.key, s.label, if s.retired_at.is_some() { ", retired" } else { "" });
        }
        SourcesCommand::Campaign { source, key, label, retire, as_email } => {
            let user = crate::auth::store::cli_actor(&state.db, as_email.as_deref()).await?;
            let input = CampaignInput {
                key: key.clone(),
                label: label.unwrap_or_default(),
                retire: if retire { "1".into() } else { String::new() },
            };
            save_campaign(state, &user, &source, &input).await.map_err(explain)?;
            println!("{} campaign {source}/{key}", if retire { "retired" } else { "saved" });
        }
    }
    Ok(())
}

fn source_input(a: &crate::config::SourceArgs) -> SourceInput {
    SourceInput {
        key: a.key.clone(),
        label: a.label.clone(),
        vendor: a.vendor.clone(),
        channel: a.channel.clone(),
        cost_model: a.cost_model.clone(),
        cost: a.cost.clone(),
        retired: if a.retire {
            Some(true)
        } else if a.restore {
            Some(false)
        } else {
            None
        },
        version: None,
    }
}
