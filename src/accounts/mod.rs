//! Accounts: users, teams and LO profiles, the admin pages that manage them, and the CLI.

pub mod cli;
pub mod store;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}
