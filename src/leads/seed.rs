//! The synthetic data generator.

use crate::config::SeedArgs;
use crate::state::AppState;

pub async fn run(_state: &AppState, _args: &SeedArgs) -> anyhow::Result<u64> {
    anyhow::bail!("seeding is not available yet")
}

/// A few hundred leads with history for the demo organisation.
pub async fn demo_leads(_state: &AppState, _n: u64) -> anyhow::Result<()> {
    Ok(())
}
