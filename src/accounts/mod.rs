//! Accounts: users, teams and LO profiles, the admin pages that manage them (users, teams, API tokens, the
//! MFA requirement), each person's own account page, and the CLI.

pub mod cli;
pub mod handlers;
pub mod model;
pub mod store;
pub mod wiring;

use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
}
