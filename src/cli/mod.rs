//! The command line: one file per command; this module parses and dispatches.
//!
//! Exit statuses: 0 success; 1 the command failed; 2 bad usage (clap's); 3 a job finished with
//! items left (retried later, or waiting for a person); 75 another mailroom holds the state
//! directory (`EX_TEMPFAIL`: try again later); 78 the configuration is unusable (`EX_CONFIG`,
//! so a service manager can stop restarting a misconfigured unit); 130 / 143 a job stopped by
//! SIGINT / SIGTERM (its run recorded `interrupted`). Errors print as one line on stderr:
//! `mailroom: error: <what>: <cause>`.
//!
//! **One writer at a time**: every command that writes takes the state directory's lock
//! (`crate::lock`) here, before the command opens the database, so no command module has to
//! remember it; under the lock, a run an earlier process left without an end is closed as
//! `interrupted` before a job starts.

mod cases;
mod changes;
mod check;
mod communications;
mod config_cmd;
mod deadline;
mod deadlines;
mod demo;
mod desktop;
mod export;
mod generate;
mod notify_cmd;
mod outbox;
mod run;
mod sandbox;
mod service;
mod status_cmd;
mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, ConfigSource};
use crate::lock::{self, LockError, StateLock};
use crate::signals::{Signal, Stop};
use crate::store::{Store, runs, timestamp};

#[derive(Parser, Debug)]
#[command(
    name = "mailroom",
    version,
    about = "Fetches patent-office mail and case status, and tells people what changed"
)]
pub struct Cli {
    /// Configuration file (default: $MAILROOM_CONFIG, else the platform default)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); $MAILROOM_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as text, or one JSON object each (under systemd both get the journal's
    /// priority prefix and no timestamp of their own)
    #[arg(long, global = true, value_name = "FORMAT", value_enum, default_value_t)]
    log_format: crate::logging::Format,
    /// When another mailroom is writing to the same state directory, wait up to SECS for it
    /// (default: give up at once, exit status 75)
    #[arg(long, global = true, value_name = "SECS", default_value_t = 0)]
    wait: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the mailbox job once against the built-in sandbox and show what happened
    Demo(demo::Args),
    /// Run one cycle of a job
    #[command(subcommand)]
    Sync(sync::Job),
    /// List the communications mailroom holds; release quarantined ones (`retry`)
    Communications(communications::Args),
    /// The cases whose status mailroom follows
    #[command(subcommand)]
    Cases(cases::Command),
    /// The changes found in the cases' status
    Changes(changes::Args),
    /// Export what the docketing system needs (stdout)
    Export(export::Args),
    /// Serve the local simulator of MyEPO Mailbox, EPO OPS and JPO
    Sandbox(sandbox::Args),
    /// Show the effective configuration (secrets redacted) and where it came from
    Config,
    /// Show desktop notifications for new communications and changes (runs in your session)
    Desktop(desktop::Args),
    /// The notifications waiting, sent and failed; send now; retry a failed one
    Outbox(outbox::Args),
    /// Test the notification channels; send today's digest
    #[command(subcommand)]
    Notify(notify_cmd::Command),
    /// Prove that the configuration, every office, mail server, webhook, database and archive work
    Check(check::Args),
    /// Run every job on its schedule until stopped (the service: systemd `Type=notify`)
    Run(run::Args),
    /// How mailroom is doing: jobs, communications, cases, quota, outbox
    Status(status_cmd::Args),
    /// Compute a deadline by the EPC or the Japanese Patent Act, with each step of the reasoning
    Deadline(deadline::Args),
    /// The deadlines proposed for archived communications: list, show, acknowledge (docketed), done
    Deadlines(deadlines::Args),
    /// Install, remove, start or stop the Windows service (Windows only)
    #[command(subcommand)]
    Service(service::Command),
    #[command(subcommand, hide = true)]
    Generate(generate::Command),
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    pub fn with_code(code: u8, error: anyhow::Error) -> Self {
        Failure { code, error }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = if error.downcast_ref::<ConfigError>().is_some() {
            78
        } else if matches!(error.downcast_ref::<LockError>(), Some(LockError::Busy { .. })) {
            75
        } else {
            1
        };
        Failure { code, error }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Lives to the end of `main`, after the error line: dropping it flushes the log files.
    let _logging = crate::logging::init(cli.verbose, cli.log_format);
    match try_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            crate::logging::report_error(&format!("{:#}", f.error));
            ExitCode::from(f.code)
        }
    }
}

fn try_main(cli: Cli) -> Result<(), Failure> {
    let source = ConfigSource::resolve(cli.config);
    // One thread: every job is sequential by design (one communication after another), and a
    // multi-threaded runtime only adds cross-thread wake-ups per file. Blocking work (files,
    // SQLite) still runs on tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::Error::new(e).context("cannot start the async runtime"))?;
    let wait = Duration::from_secs(cli.wait);
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => Ok(demo::run(args, wait).await?),
            Command::Sync(job) => {
                let cfg = load_config(&source, Access::Write)?;
                let _lock = writer(&cfg, wait).await?;
                let stop = Stop::listen()
                    .map_err(|e| anyhow::Error::new(e).context("cannot install the signal handlers"))?;
                if matches!(job, sync::Job::Mailbox) {
                    return sync::run(job, &cfg, &stop).await;
                }
                // The status cycle has no stop check of its own: on a signal it is dropped at
                // its next await. That is safe because each case is recorded in one
                // transaction, which a blocking task finishes even when its future is gone
                // (the runtime waits for blocking tasks when it shuts down); the run row is
                // then closed here as `interrupted`.
                tokio::select! {
                    r = sync::run(job, &cfg, &stop) => r,
                    s = stop.wait() => Err(status_interrupted(&cfg, s).await),
                }
            }
            Command::Communications(args) => {
                let (cfg, _lock) = prepare(&source, args.writes(), wait).await?;
                Ok(communications::run(args, &cfg).await?)
            }
            Command::Cases(cmd) => {
                let (cfg, _lock) = prepare(&source, cmd.writes(), wait).await?;
                cases::run(cmd, &cfg).await
            }
            Command::Changes(args) => Ok(changes::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Export(args) => Ok(export::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Sandbox(args) => Ok(sandbox::run(args).await?),
            Command::Config => Ok(config_cmd::run(&load_config(&source, Access::Read)?)?),
            Command::Outbox(args) => {
                let (cfg, _lock) = prepare(&source, args.writes(), wait).await?;
                outbox::run(args, &cfg).await
            }
            Command::Notify(cmd) => {
                let (cfg, _lock) = prepare(&source, cmd.writes(), wait).await?;
                notify_cmd::run(cmd, &cfg).await
            }
            Command::Run(_) => {
                let cfg = load_config(&source, Access::Write)?;
                run::run(&source, cfg, wait).await
            }
            Command::Status(args) => Ok(status_cmd::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Check(args) => check::run(args, &load_config(&source, Access::Read)?).await,
            Command::Desktop(args) => Ok(desktop::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Service(cmd) => service::run(cmd, &source, wait).await,
            Command::Generate(cmd) => Ok(generate::run(cmd)?),
            Command::Deadline(args) => Ok(deadline::run(&args)?),
            Command::Deadlines(args) => {
                let (cfg, _lock) = prepare(&source, args.writes(), wait).await?;
                deadlines::run(args, &cfg).await
            }
        }
    })
}

/// What a command does with mailroom's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only reads: may run on the defaults when there is no configuration file.
    Read,
    /// Writes (a sync, a case change): needs a configuration file ([`Config::load_for_write`]).
    Write,
}

/// Loads the configuration for a command and prints on stderr, one line each, what was
/// assumed (`Config::notices`); at trace level it logs where every value came from.
pub(crate) fn load_config(source: &ConfigSource, access: Access) -> anyhow::Result<Config> {
    let cfg = match access {
        Access::Read => Config::load(source)?,
        Access::Write => Config::load_for_write(source)?,
    };
    crate::logging::add_files(&cfg.log)?;
    let mut err = std::io::stderr().lock();
    for notice in &cfg.notices {
        let _ = writeln!(err, "mailroom: {notice}");
    }
    for (key, origin) in cfg.origins.iter() {
        tracing::trace!(key, %origin, "configuration value");
    }
    Ok(cfg)
}

/// The configuration of a command that may write, and, when it does, the state lock.
async fn prepare(
    source: &ConfigSource,
    writes: bool,
    wait: Duration,
) -> anyhow::Result<(Config, Option<StateLock>)> {
    if !writes {
        return Ok((load_config(source, Access::Read)?, None));
    }
    let cfg = load_config(source, Access::Write)?;
    let lock = writer(&cfg, wait).await?;
    Ok((cfg, Some(lock)))
}

/// Takes the lock of the configuration's state directory (waiting up to `wait`), then closes
/// what an earlier process left unfinished: from here on this process is the only writer.
async fn writer(cfg: &Config, wait: Duration) -> anyhow::Result<StateLock> {
    let lock = lock::acquire(&lock::state_dir(&cfg.storage.database), wait).await?;
    close_unfinished(
        cfg,
        "found unfinished by the next writer: the process running it stopped without recording its end"
            .into(),
    )
    .await?;
    Ok(lock)
}

/// Closes every run without an end as `interrupted` with `why`; returns their ids.
async fn close_unfinished(cfg: &Config, why: String) -> anyhow::Result<Vec<i64>> {
    let store = Store::open(&cfg.storage.database)?;
    let now = timestamp(chrono::Utc::now());
    let closed = store
        .call(move |c| {
            let closed = runs::close_unfinished(c, &why, &now)?;
            for id in &closed {
                tracing::warn!(run = id, "closed as interrupted: {why}");
            }
            Ok(closed)
        })
        .await?;
    Ok(closed)
}

/// A status cycle stopped by `signal`: its run is closed, a summary says so, and the exit
/// status is the signal's.
async fn status_interrupted(cfg: &Config, signal: Signal) -> Failure {
    let runs = match close_unfinished(cfg, format!("stopped by {}", signal.name())).await {
        Ok(ids) => ids,
        Err(e) => return e.into(),
    };
    let runs = match runs.as_slice() {
        [] => String::new(),
        ids => format!(
            " (run {})",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let summary = format!(
        "status: interrupted by {}{runs}; the cases refreshed before it are recorded, the next cycle refreshes the rest\n",
        signal.name(),
    );
    if let Err(e) = print_stdout(&summary) {
        return e.into();
    }
    Failure::with_code(
        signal.exit_code(),
        anyhow::anyhow!("interrupted by {}", signal.name()),
    )
}

/// Writes to stdout; a closed pipe (`mailroom … | head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
