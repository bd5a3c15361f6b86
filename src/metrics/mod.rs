//! Metrics and manager dashboards.
pub mod bench;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}
