//! Loan options a borrower compares side by side (issue 21).
//!
//! - `apr`: the APR by Regulation Z, Appendix J's actuarial method (pure).
//! - `amortize`: payments, schedules and ARM rate paths in integer cents (pure).

pub mod amortize;
pub mod apr;
pub mod model;
