//! The administrator's PMI table (issue 21): the annual premium by loan-to-value band and credit-score band
//! that conventional and jumbo options above 80% LTV use. Admins change it; a saved option keeps the rate it
//! was saved with.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::form::parse_decimal;
use super::service;
use super::store::PmiRow;
use crate::auth::{CurrentUser, PageCtx, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::{Flash, Routes};

pub fn router() -> Routes {
    Routes::new().route("/admin/pmi-rates", &["GET", "POST"], get(page).post(save)).route(
        "/admin/pmi-rates/{id}/delete",
        &["POST"],
        post(delete),
    )
}

/// A band as typed: LTVs and rates in percent, scores as numbers.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PmiForm {
    #[serde(default)]
    pub ltv_from: String,
    #[serde(default)]
    pub ltv_to: String,
    #[serde(default)]
    pub credit_from: String,
    #[serde(default)]
    pub credit_to: String,
    #[serde(default)]
    pub annual: String,
}

impl PmiForm {
    fn check(&self) -> AppResult<PmiRow> {
        let mut e = FieldErrors::new();
        let mut pct = |k: &str, raw: &str| {
            parse_decimal(raw, 2).map(|v| v as i32).unwrap_or_else(|| {
                e.add(k, "Enter a percentage with up to two decimals.");
                0
            })
        };
        let ltv_from_bps = pct("ltv_from", &self.ltv_from);
        let ltv_to_bps = pct("ltv_to", &self.ltv_to);
        let annual_bps = pct("annual", &self.annual);
        let mut score = |k: &str, raw: &str| {
            raw.trim().parse::<i32>().unwrap_or_else(|_| {
                e.add(k, "A credit score, 300 to 850.");
                0
            })
        };
        let credit_from = score("credit_from", &self.credit_from);
        let credit_to = score("credit_to", &self.credit_to);
        e.into_result()?;
        Ok(PmiRow { id: Uuid::new_v4(), ltv_from_bps, ltv_to_bps, credit_from, credit_to, annual_bps })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "loan_options/pmi.html")]
pub struct PmiPage {
    ctx: PageCtx,
    rows: Vec<PmiRow>,
    form: PmiForm,
    errors: FieldErrors,
}

impl PmiPage {
    fn err(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
    fn pct(&self, bps: &i32) -> String {
        super::view::rate(*bps * 10)
    }
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    ctx: PageCtx,
    form: PmiForm,
    errors: FieldErrors,
) -> AppResult<PmiPage> {
    user.require(&[Role::Admin])?;
    Ok(PmiPage { ctx, rows: service::pmi_table(state, user).await?, form, errors })
}

async fn page(user: CurrentUser, ctx: PageCtx, State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    render(&state, &user, ctx, PmiForm::default(), FieldErrors::new()).await
}

async fn save(
    user: CurrentUser,
    ctx: PageCtx,
    session: Session,
    State(state): State<AppState>,
    axum::Form(form): axum::Form<PmiForm>,
) -> AppResult<Response> {
    user.require(&[Role::Admin])?;
    let result = async {
        let row = form.check()?;
        service::save_pmi(&state, &user, row).await
    }
    .await;
    match result {
        Ok(_) => {
            Flash::push(&session, "success", "PMI rate saved.").await;
            Ok(Redirect::to("/admin/pmi-rates").into_response())
        }
        Err(AppError::Validation(errors)) => {
            let page = render(&state, &user, ctx, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn delete(
    user: CurrentUser,
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    service::delete_pmi(&state, &user, id).await?;
    Flash::push(&session, "success", "PMI rate removed.").await;
    Ok(Redirect::to("/admin/pmi-rates").into_response())
}
