//! routing
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}
