//! Pages of the LO workspace.

use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}
