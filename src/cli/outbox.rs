//! `mailroom outbox [--pending | --failed] [--json]`: the notification deliveries, newest
//! first; `outbox send` drains what is due now; `outbox retry ID` makes a failed delivery
//! pending again, due at once.

use anyhow::anyhow;

use crate::config::Config;
use crate::store::outbox::{self, NotRetried, Which};
use crate::store::{Store, timestamp};

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
        matches!(self.command, Some(Sub::Send | Sub::Retry { .. }))
    }
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List the deliveries (the default)
    List(ListArgs),
    /// Send every delivery that is due now
    Send,
    /// Make a failed delivery pending again, due now (then `outbox send`, or the next job, sends it)
    Retry {
        /// The delivery id (as `outbox` lists it)
        id: i64,
    },
}

#[derive(clap::Args, Debug)]
#[group(multiple = false)]
struct ListArgs {
    /// Only deliveries waiting to be sent
    #[arg(long)]
    pending: bool,
    /// Only deliveries that failed every retry
    #[arg(long)]
    failed: bool,
    /// At most this many (newest first)
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, cfg: &Config) -> Result<(), super::Failure> {
    match args.command {
        None => Ok(list(args.list, cfg).await?),
        Some(Sub::List(l)) => Ok(list(l, cfg).await?),
        Some(Sub::Send) => send(cfg).await,
        Some(Sub::Retry { id }) => Ok(retry(id, cfg).await?),
    }
}

async fn list(args: ListArgs, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let which = if args.pending {
        Which::Pending
    } else if args.failed {
        Which::Failed
    } else {
        Which::All
    };
    let limit = args.limit;
    let rows = store.call(move |c| outbox::list(c, which, limit)).await?;
    if args.json {
        return super::print_stdout(&(serde_json::to_string_pretty(&rows)? + "\n"));
    }
    let (pending, failed) = store.call(|c| outbox::counts(c)).await?;
    let mut out = format!("outbox: {pending} pending, {failed} failed\n");
    for r in &rows {
        let when = match r.state.as_str() {
            "sent" => format!("sent {}", r.sent_at.as_deref().unwrap_or("")),
            "pending" => format!(
                "next try {}",
                chrono::DateTime::from_timestamp(r.next_attempt_unix, 0)
                    .map_or_else(|| r.next_attempt_unix.to_string(), timestamp)
            ),
            _ => "failed".to_owned(),
        };
        out.push_str(&format!(
            "{:>6}  {:<8} {:<8} {:<16} {:<30} attempts {}  {when}",
            r.id, r.state, r.channel, r.kind, r.recipient, r.attempts
        ));
        if let Some(e) = r.last_error.as_deref().filter(|_| r.state != "sent") {
            out.push_str(&format!("  last error: {e}"));
        }
        out.push('\n');
    }
    super::print_stdout(&out)
}

/// Drains now. Exit 0 when nothing is left pending or failed, 3 otherwise (like a job with
/// items left).
async fn send(cfg: &Config) -> Result<(), super::Failure> {
    let report = super::sync::drain(cfg).await?;
    super::print_stdout(&format!(
        "{}\n",
        report
            .line()
            .unwrap_or_else(|| "notifications: nothing to send".into())
    ))?;
    if report.pending_total > 0 || report.failed_total > 0 {
        return Err(super::Failure::with_code(
            3,
            anyhow!("some notifications are not delivered yet (see above)"),
        ));
    }
    Ok(())
}

async fn retry(id: i64, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let now = timestamp(chrono::Utc::now());
    match store.write(move |tx| outbox::retry(tx, id, &now)).await? {
        Ok(()) => super::print_stdout(&format!(
            "delivery {id} is pending again; `mailroom outbox send` (or the next job) sends it\n"
        )),
        Err(NotRetried::Unknown) => Err(anyhow!("no delivery {id} in the outbox")),
        Err(NotRetried::Sent(at)) => Err(anyhow!("delivery {id} was already sent at {at}")),
    }
}
