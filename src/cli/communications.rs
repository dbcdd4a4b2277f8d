//! `mailroom communications`: what mailroom holds, newest dispatch first (also
//! `communications list`); `communications retry ID | --all-quarantined` releases quarantined
//! communications so the next cycle archives them again.

use anyhow::anyhow;

use crate::config::Config;
use crate::store::Store;
use crate::store::communications::{self, NotReleased, Outstanding};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    list: ListArgs,
}

impl Args {
    /// Whether the command writes (and so takes the state lock).
    pub fn writes(&self) -> bool {
        matches!(self.command, Some(Sub::Retry(_)))
    }
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List the communications (the default)
    List(ListArgs),
    /// Release quarantined communications: back to `seen` with no attempts, so the next
    /// `sync mailbox` archives them again
    Retry(RetryArgs),
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct RetryArgs {
    /// The communication id (as `communications` lists it)
    id: Option<String>,
    /// Every quarantined communication
    #[arg(long)]
    all_quarantined: bool,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
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
    match args.command {
        None => list(args.list, cfg).await,
        Some(Sub::List(l)) => list(l, cfg).await,
        Some(Sub::Retry(r)) => retry(r, cfg).await,
    }
}

async fn retry(args: RetryArgs, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open(&cfg.storage.database)?;
    let released: Vec<Outstanding> = match args.id {
        Some(id) => {
            let i = id.clone();
            match store
                .write(move |tx| communications::release_quarantined(tx, &i))
                .await?
            {
                Ok(held) => vec![held],
                Err(NotReleased::Unknown) => return Err(anyhow!("no communication {id} is known")),
                Err(NotReleased::NotQuarantined(state)) => {
                    return Err(anyhow!("communication {id} is not quarantined (it is {state})"));
                }
            }
        }
        None => store.write(communications::release_all_quarantined).await?,
    };
    let mut out = String::new();
    for o in &released {
        out.push_str(&format!(
            "released {} (application {}, Form {}), quarantined after {} attempt(s): {}\n",
            o.id,
            o.application_number,
            o.document_code,
            o.progress.attempts,
            o.last_error.as_deref().unwrap_or("no error recorded")
        ));
    }
    out.push_str(&format!(
        "{} communication(s) released; the next `mailroom sync mailbox` archives them\n",
        released.len()
    ));
    super::print_stdout(&out)
}

async fn list(args: ListArgs, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
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
