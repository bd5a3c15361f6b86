//! The answers and query parameters of the portfolio API (`/api/v1/portfolio/*`) as types, for the published
//! contract; the handlers are in `handlers`.

use serde::Serialize;
use uuid::Uuid;

use super::store::{LoanRow, OpportunityRow};

/// The answer to `GET /api/v1/portfolio/loans`: one page of loans, by loan number.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoanList {
    /// The loans in the set the caller may see, as the retention figure counts them.
    pub total: i64,
    pub loans: Vec<LoanRow>,
    /// The `after` of the next page (a loan number), or null on the last page.
    pub next: Option<String>,
}

/// The loan list's parameters; any other is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoanListParams {
    /// The loans a retention figure counts: `active`, `paid_off_12m`, `refinanced_with_us`,
    /// `lost_to_competitor` or `with_reason` (default: every loan).
    pub loans: Option<String>,
    /// The loan number the page starts after (`next` of the previous page).
    pub after: Option<String>,
}

/// The answer to `GET /api/v1/portfolio/opportunities`: the newest 500 and how many there are.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpportunityList {
    pub total: i64,
    pub opportunities: Vec<OpportunityRow>,
}

/// The opportunities' filters; any other parameter is refused (422).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpportunityParams {
    /// `open` (default), `worked`, `converted`, `dismissed`, or `all`; may be given more than once.
    pub status: Option<Vec<String>>,
    /// A loan officer's id, or `none` for the team queue's.
    pub lo: Option<String>,
}

/// The answer to `POST /api/v1/portfolio/opportunities/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpportunityStatusChanged {
    pub id: Uuid,
    pub status: String,
    pub previous_status: String,
}
