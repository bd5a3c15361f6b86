//! `/api/v1/leads/{id}/scenarios` and `/api/v1/scenarios/{id}` (issue 21): options for lenders who price in
//! another engine, through the same service as the pages. The scope is checked before the body is read, so a
//! lead outside the caller's scope is a 404 whatever the body says.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::amortize::ArmTerms;
use super::model::{CostItem, Figures, Inputs};
use super::service::{self, LoanOption, ScenarioInput};
use super::store::{CostRow, ScenarioRow};
use crate::auth::CurrentUser;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::Routes;
use crate::web::input::strict_json;

pub fn router() -> Routes {
    Routes::new().route("/api/v1/leads/{id}/scenarios", &["GET", "POST"], get(list).post(create)).route(
        "/api/v1/scenarios/{id}",
        &["GET"],
        get(show),
    )
}

/// An ARM's terms (all rates in thousandths of a percent).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmBody {
    /// The fixed period, months (60 for a 5/6 ARM).
    pub initial_months: u32,
    /// Months between changes after it (6 for a 5/6 ARM).
    pub adjust_months: u32,
    pub initial_cap_milli: i32,
    pub periodic_cap_milli: i32,
    /// Most the rate may rise above the start rate.
    pub lifetime_cap_milli: i32,
    pub margin_milli: i32,
    /// Today's index.
    pub index_milli: i32,
}

/// One closing cost.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBody {
    pub name: String,
    pub amount_cents: i64,
    /// A prepaid finance charge (lowers the amount financed, raises the APR).
    pub prepaid_finance_charge: bool,
}

/// `POST /api/v1/leads/{id}/scenarios`. Money in cents, rates in thousandths of a percent, premiums and
/// points in basis points.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScenarioBody {
    pub name: String,
    /// `conventional`, `fha`, `va` or `jumbo`.
    pub program: String,
    /// `fixed` or `arm` (with `arm`).
    pub rate_type: String,
    pub property_value_cents: i64,
    /// The base loan, before a financed FHA upfront premium or VA funding fee.
    pub loan_amount_cents: i64,
    pub rate_milli: i32,
    /// A whole number of years, in months (360).
    pub term_months: u32,
    /// Bps of the loan amount; negative is a lender credit.
    #[serde(default)]
    pub points_bps: i32,
    /// Needed for conventional and jumbo above 80% LTV (the PMI table's credit band).
    pub credit_score: Option<i32>,
    #[serde(default)]
    pub fha_upfront_bps: i32,
    #[serde(default)]
    pub fha_annual_bps: i32,
    #[serde(default)]
    pub va_funding_fee_bps: i32,
    pub arm: Option<ArmBody>,
    #[serde(default)]
    pub monthly_taxes_cents: i64,
    #[serde(default)]
    pub monthly_insurance_cents: i64,
    #[serde(default)]
    pub monthly_hoa_cents: i64,
    /// Cash from the borrower toward the price.
    #[serde(default)]
    pub down_payment_cents: i64,
    pub closing_date: NaiveDate,
    /// One to two months after closing: interest from closing to a month before it is prepaid.
    pub first_payment_date: NaiveDate,
    #[serde(default)]
    pub costs: Vec<CostBody>,
}
const FIELDS: [&str; 20] = [
    "name",
    "program",
    "rate_type",
    "property_value_cents",
    "loan_amount_cents",
    "rate_milli",
    "term_months",
    "points_bps",
    "credit_score",
    "fha_upfront_bps",
    "fha_annual_bps",
    "va_funding_fee_bps",
    "arm",
    "monthly_taxes_cents",
    "monthly_insurance_cents",
    "monthly_hoa_cents",
    "down_payment_cents",
    "closing_date",
    "first_payment_date",
    "costs",
];

impl ScenarioBody {
    fn input(self) -> ScenarioInput {
        let arm = self.arm.as_ref().map(|a| ArmTerms {
            initial_months: a.initial_months,
            adjust_months: a.adjust_months,
            initial_cap: a.initial_cap_milli,
            periodic_cap: a.periodic_cap_milli,
            lifetime_cap: a.lifetime_cap_milli,
            margin: a.margin_milli,
        });
        ScenarioInput {
            name: self.name,
            credit_score: self.credit_score,
            inputs: Inputs {
                program: self.program,
                rate_type: self.rate_type,
                arm,
                index_milli: self.arm.as_ref().map(|a| a.index_milli),
                property_value_cents: self.property_value_cents,
                base_loan_cents: self.loan_amount_cents,
                rate_milli: self.rate_milli,
                term_months: self.term_months,
                points_bps: self.points_bps,
                pmi_annual_bps: 0,
                fha_upfront_bps: self.fha_upfront_bps,
                fha_annual_bps: self.fha_annual_bps,
                va_funding_fee_bps: self.va_funding_fee_bps,
                costs: self
                    .costs
                    .into_iter()
                    .map(|c| CostItem {
                        name: c.name,
                        cents: c.amount_cents,
                        prepaid_finance_charge: c.prepaid_finance_charge,
                    })
                    .collect(),
                monthly_taxes_cents: self.monthly_taxes_cents,
                monthly_insurance_cents: self.monthly_insurance_cents,
                monthly_hoa_cents: self.monthly_hoa_cents,
                down_payment_cents: self.down_payment_cents,
                closing_date: self.closing_date,
                first_payment_date: self.first_payment_date,
            },
        }
    }
}

/// An option: its inputs at the current version, its closing costs and its figures.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScenarioJson {
    pub scenario: ScenarioRow,
    pub costs: Vec<CostRow>,
    pub figures: Figures,
}

/// A lead's options.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScenarioList {
    pub scenarios: Vec<ScenarioJson>,
}

fn json(o: LoanOption) -> ScenarioJson {
    ScenarioJson { scenario: o.row, costs: o.costs, figures: o.figures }
}

/// `GET /api/v1/leads/{id}/scenarios`.
async fn list(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<ScenarioList>> {
    let options = service::options_for_lead(&state, &user, id).await?;
    Ok(Json(ScenarioList { scenarios: options.into_iter().map(json).collect() }))
}

/// `POST /api/v1/leads/{id}/scenarios`: 201 with the option and its figures.
async fn create(
    user: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> AppResult<Response> {
    user.require(&service::WORKERS)?;
    crate::leads::store::visible_lead(&state.db, &user, id).await?;
    let b: ScenarioBody = strict_json(&body, &FIELDS)?;
    let row = service::create(&state, &user, id, &b.input(), None).await?;
    let option = service::visible_option(&state, &user, row.id).await?;
    Ok((StatusCode::CREATED, Json(json(option))).into_response())
}

/// `GET /api/v1/scenarios/{id}`.
async fn show(user: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> AppResult<Json<ScenarioJson>> {
    Ok(Json(json(service::visible_option(&state, &user, id).await?)))
}
