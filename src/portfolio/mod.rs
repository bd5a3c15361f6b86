//! portfolio
use crate::web::Routes;

pub fn router() -> Routes {
    Routes::new()
}

pub async fn import_cli(_state: &crate::state::AppState, _args: &crate::config::ImportArgs) -> anyhow::Result<String> {
    anyhow::bail!("loan import is not available yet")
}

pub async fn los_status_cli(
    _state: &crate::state::AppState,
    _args: &crate::config::ImportArgs,
) -> anyhow::Result<String> {
    anyhow::bail!("LOS status import is not available yet")
}
