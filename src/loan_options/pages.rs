//! The LO's pages (issue 21): a lead's options side by side with the links sent to the borrower, the option
//! form (new and edit; a mistake comes back as typed with a 422, a stale edit is a 409), an option's versions,
//! duplicate and remove. Every read and write goes through `service`, which applies the one lead scope.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::form::{COST_ROWS, ScenarioForm};
use super::service::{self, LoanOption};
use super::store::{LinkRow, VersionRow};
use super::view::{self, Comparison};
use crate::auth::{CurrentUser, PageCtx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new()
        .route("/leads/{lead_id}/options", &["GET"], get(compare))
        .route("/leads/{lead_id}/options/new", &["GET", "POST"], get(new_form).post(create))
        .route("/leads/{lead_id}/options/links", &["POST"], post(send_link))
        .route("/options/{id}", &["GET"], get(show))
        .route("/options/{id}/edit", &["GET", "POST"], get(edit_form).post(edit))
        .route("/options/{id}/duplicate", &["POST"], post(duplicate))
        .route("/options/{id}/remove", &["POST"], post(remove))
        .route("/option-links/{id}/revoke", &["POST"], post(revoke))
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/compare.html")]
pub struct ComparePage {
    ctx: PageCtx,
    lead_id: Uuid,
    borrower: String,
    table: Comparison,
    options: Vec<LoanOption>,
    links: Vec<LinkRow>,
    max: i64,
    errors: FieldErrors,
}

impl ComparePage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::format::local_time(t)
    }
    fn when_opt(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        crate::web::format::local_time_opt(t)
    }
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
    fn names(&self, ids: &[Uuid]) -> String {
        ids.iter()
            .map(|id| self.options.iter().find(|o| o.row.id == *id).map_or("(removed)", |o| o.row.name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn compare_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    lead_id: Uuid,
    errors: FieldErrors,
) -> AppResult<ComparePage> {
    let options = service::options_for_lead(state, user, lead_id).await?;
    let lead = crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    Ok(ComparePage {
        ctx,
        lead_id,
        borrower: format!("{} {}", lead.first_name, lead.last_name),
        table: view::compare(&options),
        options,
        links: service::links(state, user, lead_id).await?,
        max: service::MAX_OPTIONS,
        errors,
    })
}

async fn compare(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    compare_page(&state, &user, ctx, lead_id, FieldErrors::new()).await
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/form.html")]
pub struct FormPage {
    ctx: PageCtx,
    lead_id: Uuid,
    borrower: String,
    /// The option being edited (None: a new one).
    editing: Option<Uuid>,
    form: ScenarioForm,
    errors: FieldErrors,
    rows: Vec<usize>,
}

impl FormPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
    fn f(&self, k: &str) -> &str {
        self.form.get(k)
    }
    fn cost(&self, what: &str, n: &usize) -> &str {
        self.form.get(&format!("cost_{what}_{n}"))
    }
    fn pfc(&self, n: &usize) -> bool {
        self.form.checked(&format!("cost_pfc_{n}"))
    }
    fn action(&self) -> String {
        match self.editing {
            Some(id) => format!("/options/{id}/edit"),
            None => format!("/leads/{}/options/new", self.lead_id),
        }
    }
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    lead_id: Uuid,
    editing: Option<Uuid>,
    form: Option<ScenarioForm>,
    errors: FieldErrors,
) -> AppResult<FormPage> {
    user.require(&service::WORKERS)?;
    let lead = crate::leads::store::visible_lead(&state.db, user, lead_id).await?;
    let form = form.unwrap_or_else(|| ScenarioForm::blank(lead.loan_amount_cents, None, state.today()));
    Ok(FormPage {
        ctx,
        lead_id,
        borrower: format!("{} {}", lead.first_name, lead.last_name),
        editing,
        form,
        errors,
        rows: (0..COST_ROWS).collect(),
    })
}

async fn new_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    form_page(&state, &user, ctx, lead_id, None, None, FieldErrors::new()).await
}

async fn create(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = ScenarioForm::from_pairs(pairs);
    let result = async {
        let input = form.check()?;
        service::create(&state, &user, lead_id, &input, None).await
    }
    .await;
    match result {
        Ok(row) => {
            Flash::push(&session, "success", format!("Option “{}” added.", row.name)).await;
            Ok(Redirect::to(&format!("/leads/{lead_id}/options")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = form_page(&state, &user, ctx, lead_id, None, Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn edit_form(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let o = service::visible_option(&state, &user, id).await?;
    form_page(&state, &user, ctx, o.row.lead_id, Some(id), Some(ScenarioForm::of(&o)), FieldErrors::new()).await
}

async fn edit(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let o = service::visible_option(&state, &user, id).await?;
    let form = ScenarioForm::from_pairs(pairs);
    let result = async {
        let input = form.check()?;
        let expected =
            form.version().ok_or_else(|| AppError::invalid("version", "Reload the option and try again."))?;
        service::update(&state, &user, id, expected, &input).await
    }
    .await;
    match result {
        Ok(row) => {
            Flash::push(&session, "success", format!("Saved “{}” as version {}.", row.name, row.version)).await;
            Ok(Redirect::to(&format!("/leads/{}/options", row.lead_id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = form_page(&state, &user, ctx, o.row.lead_id, Some(id), Some(form), errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/show.html")]
pub struct ShowPage {
    ctx: PageCtx,
    option: LoanOption,
    table: Comparison,
    versions: Vec<VersionRow>,
}

impl ShowPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::format::local_time(t)
    }
    fn rate(&self, m: &i32) -> String {
        view::rate(*m)
    }
    fn points(&self, b: &i32) -> String {
        view::points(*b)
    }
    fn money(&self, c: &i64) -> String {
        crate::web::money::cents(*c)
    }
}

async fn show(
    user: CurrentUser,
    ctx: PageCtx,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<impl IntoResponse> {
    let option = service::visible_option(&state, &user, id).await?;
    let versions = super::store::versions(&state.db, id).await?;
    let table = view::compare(std::slice::from_ref(&option));
    Ok(ShowPage { ctx, option, table, versions })
}

/// The small forms that change an option: the version the page showed.
#[derive(Debug, Default, Deserialize)]
pub struct VersionForm {
    #[serde(default)]
    pub version: String,
}

async fn duplicate(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let row = service::duplicate(&state, &user, id).await?;
    Flash::push(&session, "success", format!("Added “{}”.", row.name)).await;
    Ok(Redirect::to(&format!("/options/{}/edit", row.id)).into_response())
}

async fn remove(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    axum::Form(form): axum::Form<VersionForm>,
) -> AppResult<Response> {
    let o = service::visible_option(&state, &user, id).await?;
    let expected = form.version.trim().parse().unwrap_or(o.row.version);
    service::archive(&state, &user, id, expected).await?;
    Flash::push(&session, "success", format!("Removed “{}” from the comparison.", o.row.name)).await;
    Ok(Redirect::to(&format!("/leads/{}/options", o.row.lead_id)).into_response())
}

/// The send-link form: the options to show and how many days the link lives.
async fn send_link(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    Path(lead_id): Path<Uuid>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let ids: Vec<Uuid> =
        pairs.iter().filter(|(k, _)| k == "scenario_id").filter_map(|(_, v)| Uuid::parse_str(v).ok()).collect();
    let days = pairs.iter().find(|(k, _)| k == "days").and_then(|(_, v)| v.trim().parse::<i64>().ok()).unwrap_or(0);
    match service::create_link(&state, &user, lead_id, &ids, days).await {
        Ok((_, token)) => {
            let url = format!("{}/o/{token}", state.config.public_url.trim_end_matches('/'));
            Flash::push(
                &session,
                "success",
                format!("Send the borrower this link (shown once; it works for {days} days): {url}"),
            )
            .await;
            Ok(Redirect::to(&format!("/leads/{lead_id}/options#links")).into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = compare_page(&state, &user, ctx, lead_id, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn revoke(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let lead_id = service::revoke_link(&state, &user, id).await?;
    Flash::push(&session, "success", "The link is revoked: it no longer opens.").await;
    Ok(Redirect::to(&format!("/leads/{lead_id}/options#links")).into_response())
}

#[derive(Template)]
#[template(path = "loan_options/lead_panel.html")]
struct LeadPanel {
    lead_id: Uuid,
}

/// The lead page's link to its options (no query: the lead page has checked the lead is visible).
pub async fn lead_panel(_state: &AppState, user: &CurrentUser, lead_id: Uuid) -> AppResult<String> {
    if user.require(&service::WORKERS).is_err() {
        return Ok(String::new());
    }
    Ok(LeadPanel { lead_id }.render().map_err(anyhow::Error::from)?)
}
