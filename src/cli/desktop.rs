//! `mailroom desktop`: a per-user process that follows the database read-only and shows a
//! desktop notification per new communication and change.

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(_args: Args, _cfg: &Config) -> anyhow::Result<()> {
    anyhow::bail!("mailroom desktop is not built yet")
}
