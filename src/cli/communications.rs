//! `mailroom communications`: what mailroom holds, newest dispatch first.

use crate::config::Config;
use crate::store::{Store, communications};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only communications dispatched on or after this date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    since: Option<chrono::NaiveDate>,
    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("{s:?} is not a date like 2026-11-23: {e}"))
}

pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open(&cfg.storage.database)?;
    let since = args.since.map(|d| d.format("%Y-%m-%d").to_string());
    let list = store
        .call(move |c| communications::list(c, since.as_deref()))
        .await?;
    if args.json {
        return super::print_stdout(&(serde_json::to_string_pretty(&list)? + "\n"));
    }
    let mut out = String::from("DISPATCHED  STATE        APPLICATION        FORM   TITLE / FILE\n");
    for v in &list {
        out.push_str(&format!(
            "{:<11} {:<12} {:<18} {:<6} {}\n",
            v.dispatch_date, v.state, v.application_number, v.document_code, v.title
        ));
        for d in &v.documents {
            out.push_str(&format!("{:<51}{}\n", "", d.path));
        }
        if let Some(e) = v.last_error.as_deref().filter(|_| v.state != "handled") {
            out.push_str(&format!("{:<51}last error: {e}\n", ""));
        }
    }
    out.push_str(&format!("{} communication(s)\n", list.len()));
    super::print_stdout(&out)
}
