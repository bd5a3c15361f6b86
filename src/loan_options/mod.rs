//! Loan options a borrower compares side by side (issue 21): an LO builds two to four options on a lead, sees
//! them side by side with the best per horizon marked, and sends the borrower a read-only link.
//!
//! - `apr`: the APR by Regulation Z, Appendix J's actuarial method (pure).
//! - `amortize`: payments, schedules and ARM rate paths in integer cents (pure).
//! - `model`: an option's figures from its inputs, and the side-by-side marks (pure).
//! - `service`: saving options (versioned), links, the borrower's view, the PMI table; who may do what.
//! - `view`: the side-by-side table with its footnotes (LO and borrower); `form`: the option form as typed.
//! - `pages`, `borrower`, `pmi_pages`: the LO's pages, the borrower's page, the admin's PMI table.
//! - `api`: `/api/v1/leads/{id}/scenarios`, `/api/v1/scenarios/{id}`.
//! - `store`: the SQL.

pub mod amortize;
pub mod api;
pub mod apr;
pub mod borrower;
pub mod form;
pub mod model;
pub mod pages;
pub mod pmi_pages;
pub mod service;
pub mod store;
pub mod view;

use crate::web::Routes;

pub fn router() -> Routes {
    api::router().merge(pages::router()).merge(borrower::router()).merge(pmi_pages::router())
}
