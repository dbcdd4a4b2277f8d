//! `mailroom desktop`: a per-user process that follows the database read-only and shows a
//! desktop notification per new communication, change and admin event.
//!
//! It reads the event log (`store::outbox::events_after`), not the outbox's deliveries: the
//! jobs usually run as a service with no session bus, and every user who starts a follower
//! gets every event without the jobs knowing who is logged in. Its place in the log is its
//! own cursor file (the id of the last event it showed or skipped), written atomically after
//! each notification, so a restart shows nothing twice and misses nothing (a crash between
//! showing and writing shows that one notification again).
//!
//! With no notification server (logged out, no session bus) it says so once, keeps its place
//! and tries again every interval; `--once` exits 3 then, naming how many are waiting.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::Failure;
use crate::config::Config;
use crate::core::notify::{Event, EventKind};
use crate::notify::SendError;
use crate::notify::desktop::{Message, present};
use crate::notify::render::headline;
use crate::signals::Stop;
use crate::store::{Store, StoreError, outbox};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds between looks at the database
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Where this process keeps its place in the event log [default:
    /// $XDG_STATE_HOME/mailroom/desktop.cursor, else ~/.local/state/mailroom/desktop.cursor]
    #[arg(long, value_name = "FILE")]
    cursor: Option<PathBuf>,
    /// On a first start (no cursor file yet), show every event of the history instead of
    /// starting after the newest
    #[arg(long)]
    from_start: bool,
    /// Show what is waiting, then exit (3: notifications are waiting for a notification server)
    #[arg(long)]
    once: bool,
}

/// Events read per query.
const PAGE: usize = 500;

/// What a person at the desk is shown: new communications and changes, and what needs an
/// administrator. The digest is a mail of its own, and a `notify test` message was meant for
/// the channel it named: both are skipped.
fn shown(kind: EventKind) -> bool {
    !matches!(kind, EventKind::Digest | EventKind::Test)
}

pub async fn run(args: Args, cfg: &Config) -> Result<(), Failure> {
    let stop =
        Stop::listen().map_err(|e| anyhow::Error::new(e).context("cannot install the signal handlers"))?;
    let interval = Duration::from_secs(args.interval);
    let cursor_file = match args.cursor {
        Some(p) => p,
        None => default_cursor()?,
    };
    let Some(store) = open(cfg, args.once, interval, &stop).await? else {
        return Ok(());
    };
    let last = store
        .call(|c| outbox::last_event_id(c))
        .await
        .map_err(anyhow::Error::new)?;
    let cursor = match read_cursor(&cursor_file)? {
        Some(c) if c > last => {
            tracing::warn!(
                "the cursor {} is at event {c}, beyond this database's newest ({last}): a different or \
                 restored database; starting after its newest",
                cursor_file.display()
            );
            write_cursor(&cursor_file, last)?;
            last
        }
        Some(c) => c,
        None => {
            let start = if args.from_start { 0 } else { last };
            write_cursor(&cursor_file, start)?;
            tracing::info!(
                "first start: following from event {start} (cursor {})",
                cursor_file.display()
            );
            start
        }
    };
    let mut f = Follower {
        store,
        cursor_file,
        cursor,
        archive_dir: cfg.storage.archive_dir.clone(),
        server_away: false,
        interval,
    };
    loop {
        let round = f.round(&stop).await?;
        if let Some(signal) = stop.requested() {
            if args.once {
                return Err(Failure::with_code(
                    signal.exit_code(),
                    anyhow::anyhow!("stopped by {}", signal.name()),
                ));
            }
            tracing::info!("stopped by {}", signal.name());
            return Ok(());
        }
        if args.once {
            super::print_stdout(&format!(
                "desktop: {} shown, {} skipped (cursor at event {})\n",
                round.shown, round.skipped, f.cursor
            ))?;
            return match round.waiting {
                None => Ok(()),
                Some((n, why)) => Err(Failure::with_code(
                    3,
                    anyhow::anyhow!("{n} notification(s) waiting: {why}"),
                )),
            };
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            s = stop.wait() => {
                tracing::info!("stopped by {}", s.name());
                return Ok(());
            }
        }
    }
}

/// The database, once it exists; `None` when a signal came while waiting for it.
async fn open(cfg: &Config, once: bool, interval: Duration, stop: &Stop) -> anyhow::Result<Option<Store>> {
    let mut said = false;
    loop {
        match Store::open_existing(&cfg.storage.database) {
            Ok(s) => return Ok(Some(s)),
            Err(e @ StoreError::Missing { .. }) if !once => {
                if !said {
                    tracing::warn!("{e}; waiting for it");
                    said = true;
                }
            }
            Err(e) => return Err(e.into()),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait() => return Ok(None),
        }
    }
}

/// `$XDG_STATE_HOME/mailroom/desktop.cursor`, else `~/.local/state/mailroom/desktop.cursor`.
fn default_cursor() -> anyhow::Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let state = var("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| h.join(".local/state")))
        .context("neither XDG_STATE_HOME nor HOME is set: name the cursor file with --cursor")?;
    Ok(state.join("mailroom").join("desktop.cursor"))
}

fn read_cursor(path: &Path) -> anyhow::Result<Option<i64>> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
            anyhow::anyhow!(
                "the cursor file {} holds {:?}, not an event id (delete it to start after the newest event)",
                path.display(),
                cut(text.trim(), 40)
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("cannot read the cursor file {}", path.display())))
        }
    }
}

fn cut(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(at, _)| &s[..at])
}

/// Writes the cursor to a temporary file beside it and renames it over the old one, so a
/// crash leaves the old cursor or the new one, never a torn file.
fn write_cursor(path: &Path, id: i64) -> anyhow::Result<()> {
    let context = || format!("cannot write the cursor file {}", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(context)?;
    let name = path
        .file_name()
        .map_or_else(|| "cursor".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(format!("{id}\n").as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(context()));
    }
    Ok(())
}

struct Follower {
    store: Store,
    cursor_file: PathBuf,
    cursor: i64,
    archive_dir: PathBuf,
    /// Set while the notification server is away: its absence is logged once, not per event.
    server_away: bool,
    interval: Duration,
}

/// What one round did; `waiting`: how many notifications wait for the server, and why.
#[derive(Default)]
struct Round {
    shown: usize,
    skipped: usize,
    waiting: Option<(String, String)>,
}

impl Follower {
    /// Shows every new event after the cursor, in order, moving the cursor past each one shown
    /// or skipped; stops at the first the server does not take.
    async fn round(&mut self, stop: &Stop) -> anyhow::Result<Round> {
        let mut round = Round::default();
        loop {
            let after = self.cursor;
            let events = self
                .store
                .call(move |c| outbox::events_after(c, after, PAGE))
                .await?;
            let full = events.len() == PAGE;
            for (i, (id, event)) in events.iter().enumerate() {
                if stop.requested().is_some() {
                    return Ok(round);
                }
                if !shown(event.kind()) {
                    self.cursor = *id;
                    round.skipped += 1;
                    continue;
                }
                match present(&Message::of(event, Some(&self.archive_dir))).await {
                    Ok(_) => {
                        if std::mem::take(&mut self.server_away) {
                            tracing::info!("the notification server answers again");
                        }
                        tracing::info!(event = id, "shown: {}", headline(event));
                        self.cursor = *id;
                        write_cursor(&self.cursor_file, self.cursor)?;
                        round.shown += 1;
                    }
                    Err(SendError::Transient(why)) => {
                        let n = waiting(&events[i..]);
                        let n = if full {
                            format!("{n} or more")
                        } else {
                            n.to_string()
                        };
                        if !self.server_away {
                            tracing::warn!(
                                "{why}; {n} notification(s) waiting, trying again every {} s",
                                self.interval.as_secs()
                            );
                            self.server_away = true;
                        }
                        write_cursor(&self.cursor_file, self.cursor)?;
                        round.waiting = Some((n, why));
                        return Ok(round);
                    }
                    Err(SendError::Permanent(why)) => anyhow::bail!(why),
                }
            }
            if round.skipped > 0 {
                write_cursor(&self.cursor_file, self.cursor)?;
            }
            if !full {
                return Ok(round);
            }
        }
    }
}

fn waiting(events: &[(i64, Event)]) -> usize {
    events.iter().filter(|(_, e)| shown(e.kind())).count()
}
