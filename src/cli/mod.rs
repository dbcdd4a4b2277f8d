//! The command line: one file per command; this module parses and dispatches.
//!
//! Exit statuses: 0 success; 1 the command failed; 2 bad usage (clap's); 78 the configuration
//! is unusable (`EX_CONFIG`, so a service manager can stop restarting a misconfigured unit).
//! Errors print as one line on stderr: `mailroom: error: <what>: <cause>`.

mod cases;
mod changes;
mod communications;
mod config_cmd;
mod demo;
mod export;
mod sandbox;
mod sync;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, ConfigSource};

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
    /// List the communications mailroom holds
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
        } else {
            1
        };
        Failure { code, error }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.verbose);
    match try_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = writeln!(std::io::stderr(), "mailroom: error: {:#}", f.error);
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
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => Ok(demo::run(args).await?),
            Command::Sync(job) => sync::run(job, &load_config(&source, Access::Write)?).await,
            Command::Communications(args) => {
                Ok(communications::run(args, &load_config(&source, Access::Read)?).await?)
            }
            Command::Cases(cmd) => {
                let access = match cmd {
                    cases::Command::Add { .. }
                    | cases::Command::Remove { .. }
                    | cases::Command::Import { .. } => Access::Write,
                    cases::Command::List { .. } | cases::Command::Show { .. } => Access::Read,
                };
                cases::run(cmd, &load_config(&source, access)?).await
            }
            Command::Changes(args) => Ok(changes::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Export(args) => Ok(export::run(args, &load_config(&source, Access::Read)?).await?),
            Command::Sandbox(args) => Ok(sandbox::run(args).await?),
            Command::Config => Ok(config_cmd::run(&load_config(&source, Access::Read)?)?),
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
    let mut err = std::io::stderr().lock();
    for notice in &cfg.notices {
        let _ = writeln!(err, "mailroom: {notice}");
    }
    for (key, origin) in cfg.origins.iter() {
        tracing::trace!(key, %origin, "configuration value");
    }
    Ok(cfg)
}

/// Writes to stdout; a closed pipe (`mailroom … | head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
