//! CSV imports (leads, stage changes, activities).

use crate::config::ImportArgs;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Leads,
    StageChanges,
    Activities,
}

pub async fn cli(_state: &AppState, _kind: Kind, _args: &ImportArgs) -> anyhow::Result<String> {
    anyhow::bail!("import is not available yet")
}
