//! Logging through `tracing`: to stderr always, and to rolling files when `[log] dir` says so.
//!
//! The filter is `$MAILROOM_LOG` (or `$RUST_LOG`) when set, in `EnvFilter` syntax; otherwise
//! [`filter_for`] the `-v` count. Logs go to stderr so that stdout carries only a command's
//! output (e.g. `sandbox --print-config`, `--json` listings). Colours only when stderr is a
//! terminal and `$NO_COLOR` is unset or empty (<https://no-color.org>), so a log file or a
//! pipe never holds escape sequences.
//!
//! **Under systemd** stderr is the journal, which stamps every line itself and reads a leading
//! `<N>` as the line's syslog priority (sd-daemon(3)). So when `$JOURNAL_STREAM` names the very
//! file stderr is (a child whose stderr was redirected keeps the variable, hence the device and
//! inode comparison of systemd.exec(5)), lines carry that prefix instead of a timestamp and a
//! level word, and `journalctl -p warning` works. `--log-format json` writes one JSON object per
//! line (tracing-subscriber's formatter), prefixed the same way under the journal, which strips
//! the prefix and stores the bare JSON.
//!
//! **Files** are configuration, and the configuration is loaded after logging starts (a config
//! error must be logged too), so [`init`] leaves an empty slot (`tracing_subscriber::reload`)
//! that [`add_files`] fills once a command has loaded its configuration. The files are written
//! by tracing-appender's worker thread; its guard is kept until the [`Logging`] that `init`
//! returned is dropped at the end of `main`, which flushes the last lines, also after an error
//! (whose `mailroom: error:` line goes to the file as well, see [`report_error`]).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{self, RollingFileAppender};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{self, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, filter, reload};

use crate::config::{ConfigError, Log, Rotation};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, `spans`).
    Json,
}

/// The target of the final `mailroom: error:` line: it reaches the files only, since `main`
/// prints it on stderr itself in the established one-line form.
const ERROR_TARGET: &str = "mailroom::exit";

/// The target of a job's progress lines when they are log events (`--log-format json`).
const PROGRESS_TARGET: &str = "mailroom::progress";

/// The default filter for a `-v` count. Verbosity raises mailroom's own crates only: the HTTP
/// stack (hyper, reqwest, h2, rustls) stays at `info`, since its debug and trace output would
/// bury ours.
fn filter_for(verbose: u8) -> &'static str {
    match verbose {
        0 => "info",
        1 => "info,mailroom=debug,mailroom_sandbox=debug",
        _ => "info,mailroom=trace,mailroom_sandbox=trace",
    }
}

/// Whether log lines may carry ANSI colours: only to a terminal, and never under `NO_COLOR`.
fn colours(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

/// The `device:inode` of `$JOURNAL_STREAM` (both decimal, as systemd writes them).
fn journal_stream(var: &str) -> Option<(u64, u64)> {
    let (dev, ino) = var.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Whether stderr is the journal: `$JOURNAL_STREAM` is set and names stderr's own device and
/// inode.
fn on_journal(var: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    match (var.and_then(journal_stream), stderr) {
        (Some(named), Some(actual)) => named == actual,
        _ => false,
    }
}

/// The syslog priority of a level (sd-daemon(3)): `<3>` err, `<4>` warning, `<6>` info,
/// `<7>` debug (trace has no priority of its own).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// stderr's device and inode.
#[cfg(unix)]
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn stderr_id() -> Option<(u64, u64)> {
    None
}

/// An event format with the journal's priority prefix in front of another format's line.
struct Prefixed<F>(F);

impl<S, N, F> FormatEvent<S, N> for Prefixed<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

type FileLayer = Box<dyn Layer<Registry> + Send + Sync>;
type Base = Layered<reload::Layer<Option<FileLayer>, Registry>, Registry>;
type StderrLayer = Box<dyn Layer<Base> + Send + Sync>;

/// What [`init`] set up, for [`add_files`] and [`report_error`].
struct Setup {
    format: Format,
    journal: bool,
    files: reload::Handle<Option<FileLayer>, Registry>,
    /// The file writer's guard: dropping it flushes and stops the writer thread.
    guard: Mutex<Option<WorkerGuard>>,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

/// Keeps the log files' writer alive; dropping it (at the end of `main`) flushes them.
#[must_use = "dropping it flushes and closes the log files"]
pub struct Logging {
    owner: bool,
}

impl Drop for Logging {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        if let Some(setup) = SETUP.get() {
            let guard = setup.guard.lock().map(|mut g| g.take()).unwrap_or_default();
            drop(guard);
        }
    }
}

fn stderr_layer(format: Format, journal: bool) -> StderrLayer {
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = !journal && colours(std::io::stderr().is_terminal(), no_color.as_deref());
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    match (format, journal) {
        (Format::Text, false) => layer.boxed(),
        (Format::Text, true) => layer
            .event_format(Prefixed(fmt::format().without_time().with_level(false)))
            .boxed(),
        (Format::Json, false) => layer.json().boxed(),
        (Format::Json, true) => layer.json().event_format(Prefixed(fmt::format().json())).boxed(),
    }
}

/// Starts logging to stderr; the returned [`Logging`] must live until the process exits.
pub fn init(verbose: u8, format: Format) -> Logging {
    let filter = ["MAILROOM_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(filter_for(verbose)));
    let journal = on_journal(std::env::var("JOURNAL_STREAM").ok().as_deref(), stderr_id());
    let (files, handle) = reload::Layer::new(None::<FileLayer>);
    let not_the_error_line = filter::filter_fn(|meta| meta.target() != ERROR_TARGET);
    let installed = Registry::default()
        .with(files)
        .with(stderr_layer(format, journal).with_filter(not_the_error_line))
        .with(filter)
        .try_init()
        .is_ok();
    // A second init (tests call into the CLI repeatedly) keeps the first subscriber.
    let owner = installed
        && SETUP
            .set(Setup {
                format,
                journal,
                files: handle,
                guard: Mutex::new(None),
            })
            .is_ok();
    Logging { owner }
}

fn rotation(r: Rotation) -> rolling::Rotation {
    match r {
        Rotation::Daily => rolling::Rotation::DAILY,
        Rotation::Hourly => rolling::Rotation::HOURLY,
        Rotation::Never => rolling::Rotation::NEVER,
    }
}

/// Adds the log files `[log]` asks for (`mailroom.YYYY-MM-DD.log`, `mailroom.YYYY-MM-DD-HH.log`
/// or `mailroom.log` in `dir`, at most `keep` of them). Once per process: a second call keeps
/// the files of the first. A file that cannot be opened is a configuration error naming
/// `log.dir`, like a directory that cannot be created.
pub fn add_files(log: &Log) -> Result<(), ConfigError> {
    let (Some(dir), Some(setup)) = (&log.dir, SETUP.get()) else {
        return Ok(());
    };
    let Ok(mut guard) = setup.guard.lock() else {
        return Ok(());
    };
    if guard.is_some() {
        return Ok(());
    }
    let unusable = |reason: String| ConfigError::Value {
        key: "log.dir".into(),
        reason,
    };
    let appender: RollingFileAppender = rolling::Builder::new()
        .rotation(rotation(log.rotation))
        .filename_prefix("mailroom")
        .filename_suffix("log")
        .max_log_files(log.keep)
        .build(dir)
        .map_err(|e| unusable(format!("cannot write log files in {}: {e}", dir.display())))?;
    // Not lossy: a full buffer makes the logging thread wait rather than drop lines.
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("mailroom-log")
        .finish(appender);
    let layer = fmt::layer().with_writer(writer).with_ansi(false);
    let layer: FileLayer = match setup.format {
        Format::Text => layer.boxed(),
        Format::Json => layer.json().boxed(),
    };
    setup
        .files
        .reload(Some(layer))
        .map_err(|e| unusable(format!("cannot start the log files: {e}")))?;
    *guard = Some(worker);
    Ok(())
}

/// The `[log]` of a Windows service: as configured, with `logs` in `state_dir`
/// (`%ProgramData%\mailroom\logs`) when `[log] dir` is not set. A service has no console (its
/// stderr goes nowhere), so without files nothing it logs would be kept; the directory is
/// created by [`add_files`].
pub fn for_service(log: &Log, state_dir: &std::path::Path) -> Log {
    let mut log = log.clone();
    log.dir.get_or_insert_with(|| state_dir.join("logs"));
    log
}

/// Prints the one line of a failed command, `mailroom: error: <message>`, on stderr (with the
/// journal's error priority under systemd), and writes it to the log files.
pub fn report_error(message: &str) {
    let journal = SETUP.get().is_some_and(|s| s.journal);
    let prefix = if journal { "<3>" } else { "" };
    let _ = writeln!(std::io::stderr(), "{prefix}mailroom: error: {message}");
    tracing::error!(target: ERROR_TARGET, "mailroom: error: {message}");
}

/// Writes one progress line of a job (`listed …`, `FAILED …`) on stderr when stderr is not a
/// terminal: as it is in text (with the journal's priority for `level` under systemd), or as a
/// JSON log event under `--log-format json`, so that every stderr line is JSON there.
pub fn progress(level: Level, text: &str) {
    match SETUP.get() {
        Some(s) if s.format == Format::Json => match level {
            Level::ERROR => tracing::error!(target: PROGRESS_TARGET, "{text}"),
            Level::WARN => tracing::warn!(target: PROGRESS_TARGET, "{text}"),
            Level::INFO => tracing::info!(target: PROGRESS_TARGET, "{text}"),
            Level::DEBUG => tracing::debug!(target: PROGRESS_TARGET, "{text}"),
            Level::TRACE => tracing::trace!(target: PROGRESS_TARGET, "{text}"),
        },
        Some(s) if s.journal => {
            let _ = writeln!(std::io::stderr(), "<{}>{text}", priority(level));
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        let table = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, expected) in table {
            assert_eq!(colours(terminal, no_color), expected, "{terminal} {no_color:?}");
        }
    }

    #[test]
    fn the_journal_is_stderr_only_when_the_variable_names_it() {
        let table = [
            (Some("2049:123456"), Some((2049, 123_456)), true),
            (Some("2049:123456\n"), Some((2049, 123_456)), true),
            // stderr was redirected by whoever started us: the variable is stale.
            (Some("2049:123456"), Some((2049, 654_321)), false),
            (Some("2049:123456"), Some((2050, 123_456)), false),
            (Some("2049:123456"), None, false),
            (None, Some((2049, 123_456)), false),
            (Some(""), Some((0, 0)), false),
            (Some("2049"), Some((2049, 0)), false),
            (Some("2049:"), Some((2049, 0)), false),
            (Some("x:1"), Some((0, 1)), false),
            (Some("-1:1"), Some((0, 1)), false),
            (Some("1:2:3"), Some((1, 2)), false),
        ];
        for (var, stderr, expected) in table {
            assert_eq!(on_journal(var, stderr), expected, "{var:?} {stderr:?}");
        }
    }

    #[test]
    fn a_service_logs_to_files_in_the_state_directory_unless_told_otherwise() {
        let state = std::path::Path::new("/srv/mailroom");
        let unset = Log::default();
        assert_eq!(for_service(&unset, state).dir, Some(state.join("logs")));
        let set = Log {
            dir: Some("/var/log/elsewhere".into()),
            rotation: Rotation::Hourly,
            keep: 3,
        };
        assert_eq!(for_service(&set, state), set);
    }

    #[test]
    fn priorities_follow_sd_daemon() {
        let table = [
            (Level::ERROR, 3),
            (Level::WARN, 4),
            (Level::INFO, 6),
            (Level::DEBUG, 7),
            (Level::TRACE, 7),
        ];
        for (level, expected) in table {
            assert_eq!(priority(level), expected, "{level}");
        }
    }
}
