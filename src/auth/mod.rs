//! Authentication and authorisation: sign-in, sessions, MFA, API tokens, throttling and the one scoping rule.

pub mod handlers;
pub mod mfa;
pub mod mfa_policy;
pub mod model;
pub mod page;
pub mod password;
pub mod session;
pub mod session_store;
pub mod store;
pub mod throttle;

pub use model::{CurrentUser, Role, Scope};
pub use page::PageCtx;

use crate::web::Routes;

pub fn router() -> Routes {
    handlers::router()
}
