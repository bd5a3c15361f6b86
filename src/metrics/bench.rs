//! `loanfloor bench`.

use crate::config::{BenchArgs, GlobalArgs};

pub async fn run(_global: &GlobalArgs, _args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("the benchmark is not available yet")
}
