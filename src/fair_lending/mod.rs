//! Fair-lending monitoring (issue 28): pricing exceptions compared across race and ethnicity groups estimated
//! with BISG (or reported under HMDA) and across reported sex, among similar loans, with minimum sample sizes
//! and a significance test — for compliance officers and admins only. The approver deciding a request sees a
//! consistency check with no protected-class information instead (in `escalations`).
//!
//! - `bisg`: the BISG posterior (pure), with hand-checked tests.
//! - `tables`: the shipped Census tables, loaded at start or by `loanfloor bisg load`; the proxy lookups.
//! - `model`: the cells of similar loans and the HMDA choices (pure).
//! - `analysis`: the stratified comparison and its z-test (pure).
//! - `service`: runs (saved with inputs and method version, audited), reads (audited), who may.
//! - `store`: the SQL; `pages`: the compliance pages and the lead's HMDA form; `api`: `/api/v1/fair-lending`.

pub mod analysis;
pub mod api;
pub mod bisg;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
pub mod tables;

use crate::web::Routes;

pub fn router() -> Routes {
    pages::router().merge(api::router())
}
