//! Leads, pipelines and the LO workspace.

pub mod import;
pub mod model;
pub mod seed;

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}
