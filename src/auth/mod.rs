//! Authentication and authorisation: sign-in, sessions, MFA, API tokens, throttling and the one scoping rule.

pub mod handlers;
pub mod mfa;
pub mod mfa_policy;
pub mod model;
pub mod page;
pub mod password;
pub mod session;
pub mod session_cache;
pub mod session_store;
pub mod store;
pub mod throttle;
pub mod token_cache;

pub use model::{CurrentUser, Role, Scope};
pub use page::PageCtx;

use crate::web::Routes;

/// Where auth keeps secrets sealed (`crate::secrets`): each user's TOTP secret, and the secret of an MFA
/// enrolment in progress in the session's data (disposable: the person starts enrolment again).
pub const SEALED: &[crate::secrets::Place] = &[
    crate::secrets::Place::column("users", "id", "mfa_secret"),
    crate::secrets::Place::json_field("sessions", "id_hash", "data", handlers::PENDING_SECRET),
];

pub fn router() -> Routes {
    handlers::router()
}
