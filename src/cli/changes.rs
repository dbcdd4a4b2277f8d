//! `mailroom changes [--since DATE] [--json]`: the change events found in the cases' status,
//! oldest first.

use crate::config::Config;
use crate::store::{Store, cases};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only changes detected on or after this date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", value_parser = super::communications::parse_date)]
    since: Option<chrono::NaiveDate>,
    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let since = args.since.map(|d| d.format("%Y-%m-%d").to_string());
    let list = store
        .call(move |c| cases::changes(c, since.as_deref(), None))
        .await?;
    if args.json {
        return super::print_stdout(&(serde_json::to_string_pretty(&list)? + "\n"));
    }
    let mut out = String::from("DETECTED              KIND          SUMMARY\n");
    for ch in &list {
        out.push_str(&format!(
            "{:<21} {:<13} {}\n",
            ch.detected_at, ch.kind, ch.summary
        ));
    }
    out.push_str(&format!("{} change(s)\n", list.len()));
    super::print_stdout(&out)
}
