//! `mailroom check`: proves that the configuration and every enabled part work.

use crate::config::Config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON instead of one line per check
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, cfg: &Config) -> Result<(), super::Failure> {
    Err(anyhow::anyhow!(
        "mailroom check is not built yet (json: {}, config: {:?})",
        args.json,
        cfg.source
    )
    .into())
}
