//! Referral partners (issue 17): the Realtors, builders, planners and others who send borrowers, kept as
//! records with their company and the people there. A lead names the partner who referred it (the lead form,
//! `referral_partner_id` in the API and the CSV import), and each partner's referred leads, applications,
//! funded loans and funded volume are counted from those leads, each figure a link to its lead list
//! (`/leads?partner=…`, in the viewer's lead-list scope, so the list's total is the figure).
//!
//! Partners are the organisation's: every staff role that works leads sees them; admins and managers add,
//! change and retire them (a retired partner stays on its leads and in the figures, and is no longer offered).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use tower_sessions::Session;
use uuid::Uuid;

use crate::audit::Entry;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub const KINDS: [(&str, &str); 6] = [
    ("realtor", "Realtor"),
    ("builder", "Builder"),
    ("financial_planner", "Financial planner"),
    ("attorney", "Attorney"),
    ("insurance", "Insurance agent"),
    ("other", "Other"),
];

/// Who sees partners (and picks one on a lead): the roles that work or measure leads.
const READERS: [Role; 5] = [Role::Admin, Role::Manager, Role::Lo, Role::Marketing, Role::Intake];
/// Who adds, changes and retires them.
const KEEPERS: [Role; 2] = [Role::Admin, Role::Manager];

pub fn router() -> Routes {
    Routes::new()
        .route("/partners", &["GET", "POST"], get(list_page).post(add))
        .route("/partners/{id}", &["GET", "POST"], get(partner_page).post(edit))
        .route("/partners/{id}/contacts", &["POST"], post(add_contact))
        .route("/partners/{id}/contacts/{contact_id}/delete", &["POST"], post(remove_contact))
        .route("/api/v1/partners", &["GET", "POST"], get(api_list).post(api_add))
}

/// A partner as pages and the API show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Partner {
    pub id: Uuid,
    pub company: String,
    pub kind: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: String,
    pub owner_id: Option<Uuid>,
    pub owner_name: Option<String>,
    pub retired_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl Partner {
    pub fn kind_label(&self) -> &'static str {
        KINDS.iter().find(|(k, _)| *k == self.kind).map_or("Other", |(_, l)| l)
    }
}

/// A person at a partner.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Contact {
    pub id: Uuid,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// What a keeper enters for a partner (form and API alike). The API refuses a field not named here
/// ([`PartnerInput::FIELDS`]), after the role check.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PartnerInput {
    pub company: String,
    pub kind: String,
    pub phone: String,
    pub email: String,
    pub notes: String,
    /// The user who keeps the relationship (an id; empty: nobody).
    pub owner_id: String,
    /// Any value: retire (edits only); empty brings a retired partner back.
    pub retired: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Checked {
    company: String,
    kind: String,
    phone: Option<String>,
    email: Option<String>,
    notes: String,
    owner_id: Option<Uuid>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

fn check_phone_email(e: &mut FieldErrors, phone: &str, email: &str) -> (Option<String>, Option<String>) {
    let phone = match opt(phone) {
        None => None,
        Some(p) => super::model::normalize_phone(&p).map_err(|m| e.add("phone", m)).ok(),
    };
    let email = opt(email).map(|m| m.to_lowercase());
    if email.as_deref().is_some_and(|m| !m.contains('@') || m.len() > 254) {
        e.add("email", "enter an email address like name@example.com");
    }
    (phone, email)
}

impl PartnerInput {
    /// The fields the API takes.
    pub const FIELDS: [&str; 8] = ["company", "kind", "phone", "email", "notes", "owner_id", "retired", "version"];

    fn check(&self) -> Result<Checked, FieldErrors> {
        let mut e = FieldErrors::new();
        let company = self.company.trim().to_string();
        if company.is_empty() || company.chars().count() > 120 {
            e.add("company", "give the partner's company or name (up to 120 characters)");
        }
        let kind = if self.kind.trim().is_empty() { "realtor".to_string() } else { self.kind.trim().to_string() };
        if !KINDS.iter().any(|(k, _)| *k == kind) {
            e.add("kind", format!("one of {}", KINDS.map(|k| k.0).join(", ")));
        }
        let (phone, email) = check_phone_email(&mut e, &self.phone, &self.email);
        if self.notes.chars().count() > 2000 {
            e.add("notes", "up to 2,000 characters");
        }
        let owner_id = match opt(&self.owner_id) {
            None => None,
            Some(v) => Uuid::parse_str(&v).map_err(|_| e.add("owner_id", "choose a person from the list")).ok(),
        };
        if !e.is_empty() {
            return Err(e);
        }
        Ok(Checked { company, kind, phone, email, notes: self.notes.trim().to_string(), owner_id })
    }
}

const PARTNER_SELECT: &str = "SELECT p.id, p.company, p.kind, p.phone, p.email, p.notes, p.owner_id,
        u.name AS owner_name, p.retired_at, p.version
    FROM referral_partners p LEFT JOIN users u ON u.id = p.owner_id";

/// Every partner, active ones first, by company.
pub async fn all(db: &PgPool) -> sqlx::Result<Vec<Partner>> {
    sqlx::query_as(&format!("{PARTNER_SELECT} ORDER BY p.retired_at IS NOT NULL, lower(p.company)")).fetch_all(db).await
}

/// The active partners as (id, "Company (kind)") choices for a lead form.
pub async fn choices(db: &PgPool) -> sqlx::Result<Vec<(String, String)>> {
    Ok(all(db)
        .await?
        .into_iter()
        .filter(|p| p.retired_at.is_none())
        .map(|p| (p.id.to_string(), format!("{} ({})", p.company, p.kind_label())))
        .collect())
}

async fn one(db: impl sqlx::PgExecutor<'_>, id: Uuid) -> AppResult<Partner> {
    sqlx::query_as(&format!("{PARTNER_SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Checks a lead's partner when it is set or changed: it must exist and not be retired (422 naming the field).
/// A lead keeping the partner it already has is never refused for the partner's retirement.
pub(crate) async fn check_for_lead(
    tx: &mut Transaction<'_, Postgres>,
    partner: Option<Uuid>,
    before: Option<Uuid>,
) -> AppResult<()> {
    let Some(id) = partner.filter(|p| Some(*p) != before) else { return Ok(()) };
    let active: Option<bool> =
        sqlx::query_scalar("SELECT retired_at IS NULL FROM referral_partners WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::invalid("referral_partner_id", "this referral partner is retired")),
        None => Err(AppError::invalid("referral_partner_id", "no referral partner has this id")),
    }
}

/// The ids of the active partners (the CSV import checks each row against them).
pub(crate) async fn active_ids(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<std::collections::HashSet<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM referral_partners WHERE retired_at IS NULL FOR SHARE")
        .fetch_all(&mut **tx)
        .await?;
    Ok(ids.into_iter().collect())
}

fn taken() -> AppError {
    AppError::Taken { field: "company", message: "there is already a partner with this name".into(), other: None }
}

/// Maps a refused partner write to the field at fault.
fn partner_refusal(e: sqlx::Error) -> AppError {
    crate::error::on_constraint(
        e,
        &[
            ("referral_partners_company_idx", taken),
            ("referral_partners_owner_id_fkey", || AppError::invalid("owner_id", "choose a person from the list")),
        ],
    )
}

/// Writes a partner's fields: a new one (version 1) or a change (the next version).
async fn write(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    c: &Checked,
    retired: Option<DateTime<Utc>>,
    new: bool,
) -> AppResult<()> {
    let sql = if new {
        "INSERT INTO referral_partners (id, company, kind, phone, email, notes, owner_id, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    } else {
        "UPDATE referral_partners SET company = $2, kind = $3, phone = $4, email = $5, notes = $6, owner_id = $7,
                retired_at = $8, version = version + 1, updated_at = now()
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(&c.company)
        .bind(&c.kind)
        .bind(&c.phone)
        .bind(&c.email)
        .bind(&c.notes)
        .bind(c.owner_id)
        .bind(retired)
        .execute(&mut **tx)
        .await
        .map_err(partner_refusal)?;
    Ok(())
}

/// Adds a partner (409 when the company's name is taken).
pub async fn add_partner(state: &AppState, user: &CurrentUser, input: &PartnerInput) -> AppResult<Partner> {
    user.require(&KEEPERS)?;
    let c = input.check().map_err(AppError::Validation)?;
    let id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    write(&mut tx, id, &c, None, true).await?;
    let after = one(&mut *tx, id).await?;
    Entry::new(Some(user), "partner.add", "referral_partner", id).after(&after).write(&mut *tx).await?;
    tx.commit().await?;
    Ok(after)
}

/// Changes a partner (409 when it changed since `version`); `retired` retires it or brings it back.
pub async fn change_partner(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    input: &PartnerInput,
) -> AppResult<Partner> {
    user.require(&KEEPERS)?;
    let c = input.check().map_err(AppError::Validation)?;
    let mut tx = state.db.begin().await?;
    let before: Partner = sqlx::query_as(&format!("{PARTNER_SELECT} WHERE p.id = $1 FOR UPDATE OF p"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if input.version.trim().parse::<i32>().ok() != Some(before.version) {
        return Err(AppError::conflict(format!(
            "{} was changed by someone else since you opened it; reload to see their change",
            before.company
        )));
    }
    let retired = if input.retired.is_empty() { None } else { before.retired_at.or(Some(state.clock.now())) };
    write(&mut tx, id, &c, retired, false).await?;
    let after = one(&mut *tx, id).await?;
    Entry::new(Some(user), "partner.change", "referral_partner", id)
        .before(&before)
        .after(&after)
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(after)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContactInput {
    pub name: String,
    pub title: String,
    pub phone: String,
    pub email: String,
}

pub async fn save_contact(state: &AppState, user: &CurrentUser, partner: Uuid, input: &ContactInput) -> AppResult<()> {
    user.require(&KEEPERS)?;
    let mut e = FieldErrors::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        e.add("name", "give the person's name (up to 120 characters)");
    }
    let title = opt(&input.title);
    if title.as_deref().is_some_and(|t| t.chars().count() > 120) {
        e.add("title", "up to 120 characters");
    }
    let (phone, email) = check_phone_email(&mut e, &input.phone, &input.email);
    e.into_result()?;
    let mut tx = state.db.begin().await?;
    one(&mut *tx, partner).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO referral_partner_contacts (id, partner_id, name, title, phone, email) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(partner)
    .bind(name)
    .bind(&title)
    .bind(&phone)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    Entry::new(Some(user), "partner.contact_add", "referral_partner", partner)
        .after(serde_json::json!({"contact_id": id, "name": name, "title": title, "phone": phone, "email": email}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn contacts(db: &PgPool, partner: Uuid) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as(
        "SELECT id, name, title, phone, email FROM referral_partner_contacts WHERE partner_id = $1 ORDER BY lower(name), id",
    )
    .bind(partner)
    .fetch_all(db)
    .await
}

/// A partner's referrals over a range of lead creation days: leads, applications, funded loans and funded
/// volume, counted over the leads the viewer's lead list shows (so each figure's list has its total).
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct Referrals {
    pub partner_id: Uuid,
    pub leads: i64,
    pub applications: i64,
    pub funded: i64,
    pub funded_volume_cents: i64,
}

/// [`Referrals`] by partner for leads created in [from, to) (days in the organisation's time zone).
pub async fn referrals(
    state: &AppState,
    user: &CurrentUser,
    from: NaiveDate,
    to: NaiveDate,
    partner: Option<Uuid>,
) -> AppResult<Vec<Referrals>> {
    let tz = state.config.timezone;
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT l.referral_partner_id AS partner_id, count(*) AS leads,
                count(*) FILTER (WHERE r.pos >= 4) AS applications,
                count(*) FILTER (WHERE r.pos >= 8) AS funded,
                coalesce(sum(l.loan_amount_cents) FILTER (WHERE r.pos >= 8), 0)::int8 AS funded_volume_cents
         FROM leads l
         CROSS JOIN LATERAL (SELECT coalesce(max(metrics_won_pos(s.to_stage)), 1) AS pos
                             FROM stage_changes s WHERE s.lead_id = l.id) r
         WHERE l.referral_partner_id IS NOT NULL AND l.created_at >= ",
    );
    qb.push_bind(super::store::day_start(tz, from))
        .push(" AND l.created_at < ")
        .push_bind(super::store::day_start(tz, to));
    if let Some(p) = partner {
        qb.push(" AND l.referral_partner_id = ").push_bind(p);
    }
    user.lead_list_scope().push_lead_predicate(&mut qb, "l");
    qb.push(" GROUP BY l.referral_partner_id");
    Ok(qb.build_query_as().fetch_all(&state.db).await?)
}

/// The date range of the partner pages: `from`/`to` (default: the last 90 days, `to` exclusive).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RangeQuery {
    pub from: String,
    pub to: String,
}

impl RangeQuery {
    fn range(&self, today: NaiveDate) -> AppResult<(NaiveDate, NaiveDate)> {
        let mut e = FieldErrors::new();
        let parse = |e: &mut FieldErrors, field: &str, v: &str| match v.trim() {
            "" => None,
            s => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| e.add(field, "use a date like 2026-01-31")).ok(),
        };
        let to = parse(&mut e, "to", &self.to).unwrap_or(today + chrono::Duration::days(1));
        let from = parse(&mut e, "from", &self.from).unwrap_or(to - chrono::Duration::days(90));
        if from >= to {
            e.add("from", "must be before to");
        }
        e.into_result()?;
        Ok((from, to))
    }
}

/// A partner with its figures and the lead lists behind them.
pub struct Row {
    pub partner: Partner,
    pub figures: Referrals,
    /// Leads, applications, funded.
    pub links: [String; 3],
}

fn rows(partners: Vec<Partner>, figures: Vec<Referrals>, from: NaiveDate, to: NaiveDate) -> Vec<Row> {
    partners
        .into_iter()
        .map(|p| {
            let figures = figures
                .iter()
                .find(|f| f.partner_id == p.id)
                .cloned()
                .unwrap_or(Referrals { partner_id: p.id, ..Default::default() });
            let base = format!("/leads?partner={}&from={from}&to={to}", p.id);
            let links =
                [base.clone(), format!("{base}&stage=application&reached=1"), format!("{base}&stage=funded&reached=1")];
            Row { partner: p, figures, links }
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/partners.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<Row>,
    from: NaiveDate,
    to: NaiveDate,
    may_keep: bool,
    kinds: Vec<super::handlers::Opt>,
    form: PartnerInput,
    errors: FieldErrors,
}

impl ListPage {
    fn money(&self, cents: &i64) -> String {
        crate::web::money::amount(*cents)
    }
}

fn kind_opts(current: &str) -> Vec<super::handlers::Opt> {
    KINDS
        .iter()
        .map(|(k, l)| super::handlers::Opt { value: k.to_string(), label: l.to_string(), selected: *k == current })
        .collect()
}

async fn render_list(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    q: &RangeQuery,
    form: PartnerInput,
    errors: FieldErrors,
) -> AppResult<ListPage> {
    let (from, to) = q.range(state.today())?;
    let (partners, figures) =
        tokio::try_join!(async { Ok::<_, AppError>(all(&state.db).await?) }, referrals(state, user, from, to, None))?;
    Ok(ListPage {
        ctx,
        rows: rows(partners, figures, from, to),
        from,
        to,
        may_keep: user.require(&KEEPERS).is_ok(),
        kinds: kind_opts(&form.kind),
        form,
        errors,
    })
}

async fn list_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> AppResult<ListPage> {
    user.require(&READERS)?;
    render_list(&state, &user, ctx, &q, PartnerInput::default(), FieldErrors::new()).await
}

async fn add(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Form(form): Form<PartnerInput>,
) -> AppResult<Response> {
    user.require(&KEEPERS)?;
    match add_partner(&state, &user, &form).await {
        Ok(p) => {
            Flash::push(&session, "success", format!("{} added.", p.company)).await;
            Ok(Redirect::to(&format!("/partners/{}", p.id)).into_response())
        }
        Err(e) => {
            let (status, errors) = crate::error::form_refusal(e)?;
            let page = render_list(&state, &user, ctx, &RangeQuery::default(), form, errors).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "leads/partner.html")]
struct PartnerPage {
    ctx: PageCtx,
    row: Row,
    contacts: Vec<Contact>,
    from: NaiveDate,
    to: NaiveDate,
    may_keep: bool,
    kinds: Vec<super::handlers::Opt>,
    /// The edit form (as entered, when refused).
    form: PartnerInput,
    errors: FieldErrors,
    contact: ContactInput,
    contact_errors: FieldErrors,
}

impl PartnerPage {
    fn money(&self, cents: &i64) -> String {
        crate::web::money::amount(*cents)
    }
}

fn form_of(p: &Partner) -> PartnerInput {
    PartnerInput {
        company: p.company.clone(),
        kind: p.kind.clone(),
        phone: p.phone.clone().unwrap_or_default(),
        email: p.email.clone().unwrap_or_default(),
        notes: p.notes.clone(),
        owner_id: p.owner_id.map(|o| o.to_string()).unwrap_or_default(),
        retired: if p.retired_at.is_some() { "1".into() } else { String::new() },
        version: p.version.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_partner(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    id: Uuid,
    form: Option<PartnerInput>,
    errors: FieldErrors,
    contact: ContactInput,
    contact_errors: FieldErrors,
) -> AppResult<PartnerPage> {
    let (from, to) = RangeQuery::default().range(state.today())?;
    let partner = one(&state.db, id).await?;
    let (figures, contacts) = tokio::try_join!(referrals(state, user, from, to, Some(id)), async {
        Ok::<_, AppError>(contacts(&state.db, id).await?)
    })?;
    let form = form.unwrap_or_else(|| form_of(&partner));
    let row = rows(vec![partner], figures, from, to).pop().ok_or(AppError::NotFound)?;
    Ok(PartnerPage {
        ctx,
        row,
        contacts,
        from,
        to,
        may_keep: user.require(&KEEPERS).is_ok(),
        kinds: kind_opts(&form.kind),
        form,
        errors,
        contact,
        contact_errors,
    })
}

async fn partner_page(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<PartnerPage> {
    user.require(&READERS)?;
    render_partner(&state, &user, ctx, id, None, FieldErrors::new(), ContactInput::default(), FieldErrors::new()).await
}

async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<PartnerInput>,
) -> AppResult<Response> {
    user.require(&KEEPERS)?;
    match change_partner(&state, &user, id, &form).await {
        Ok(p) => {
            Flash::push(&session, "success", format!("{} saved.", p.company)).await;
            Ok(Redirect::to(&format!("/partners/{id}")).into_response())
        }
        Err(e) => {
            let (status, errors) = crate::error::form_refusal(e)?;
            let page =
                render_partner(&state, &user, ctx, id, Some(form), errors, ContactInput::default(), FieldErrors::new())
                    .await?;
            Ok((status, page).into_response())
        }
    }
}

async fn add_contact(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Form(input): Form<ContactInput>,
) -> AppResult<Response> {
    user.require(&KEEPERS)?;
    match save_contact(&state, &user, id, &input).await {
        Ok(()) => {
            Flash::push(&session, "success", format!("{} added.", input.name.trim())).await;
            Ok(Redirect::to(&format!("/partners/{id}")).into_response())
        }
        Err(e) => {
            let (status, errors) = crate::error::form_refusal(e)?;
            let page = render_partner(&state, &user, ctx, id, None, FieldErrors::new(), input, errors).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn remove_contact(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path((id, contact_id)): Path<(Uuid, Uuid)>,
) -> AppResult<Response> {
    user.require(&KEEPERS)?;
    let mut tx = state.db.begin().await?;
    let removed: Option<(String,)> =
        sqlx::query_as("DELETE FROM referral_partner_contacts WHERE id = $1 AND partner_id = $2 RETURNING name")
            .bind(contact_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((name,)) = removed else { return Err(AppError::NotFound) };
    Entry::new(Some(&user), "partner.contact_remove", "referral_partner", id)
        .before(serde_json::json!({"contact_id": contact_id, "name": name}))
        .write(&mut *tx)
        .await?;
    tx.commit().await?;
    Flash::push(&session, "success", format!("{name} removed.")).await;
    Ok(Redirect::to(&format!("/partners/{id}")).into_response())
}

/// `GET /api/v1/partners`: every partner (integrations and imports name them by id).
async fn api_list(user: CurrentUser, State(state): State<AppState>) -> AppResult<Json<Vec<Partner>>> {
    user.require(&READERS)?;
    Ok(Json(all(&state.db).await?))
}

/// `POST /api/v1/partners`: 201 with the partner.
async fn api_add(user: CurrentUser, State(state): State<AppState>, body: axum::body::Bytes) -> AppResult<Response> {
    user.require(&KEEPERS)?; // who may, before anything about the input is said
    let input: PartnerInput = crate::web::input::strict_json(&body, &PartnerInput::FIELDS)?;
    let p = add_partner(&state, &user, &input).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}
