//! `mailroom run`: the long-running worker (systemd `Type=notify`, or a terminal).
//!
//! It holds the state directory's lock for as long as it runs (a manual `sync` meanwhile is
//! refused with the daemon's pid, exit 75), opens the database, says `READY=1`, then runs one
//! job at a time, each at its next fire time in `[schedule] time_zone`
//! (`core::schedule::jobs`): the mailbox poll, the status cycle, the nightly export (when
//! `[export] dir` is set) and the digest (when `[notify.digest] to` is set). A job missed
//! while the daemon was down runs at start. After every job, and every minute while
//! notifications are pending, the outbox is drained.
//!
//! Each job run is a `sync_runs` row (start, end, outcome); `mailroom status` reads them.
//!
//! Signals: SIGTERM/SIGINT stop taking work; the mailbox poll finishes the communication in
//! hand and records it, the status cycle is dropped at its next await (each case is one
//! transaction); if that takes longer than `[schedule] stop_timeout_secs` the job is dropped
//! (what was in flight is discarded: a temporary file is cleared at the next start, nothing
//! is recorded half). Exit 0. SIGHUP reads the configuration again: a configuration that does
//! not load, or that moves the database, is refused with one log line and the old one keeps
//! running. As a Windows service (`cli::service`) the Service Control Manager's Stop and
//! Shutdown stop it the same way: both reach [`serve`] through `signals::Trigger::request`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::config::{Config, ConfigSource};
use crate::core::schedule::jobs::{self, Job};
use crate::daemon::notify::{Notifier, watchdog_interval};
use crate::lock::StateLock;
use crate::signals::{Reload, Stop};
use crate::store::{Store, outbox, runs, timestamp};
use crate::sync::mailbox::Quiet;

/// How often the loop wakes when nothing is due: to drain pending notifications, and to
/// notice a clock that jumped.
const TICK: Duration = Duration::from_secs(60);

#[derive(clap::Args, Debug)]
pub struct Args {}

/// The jobs that are on: their part is configured.
pub(crate) fn enabled(cfg: &Config) -> Vec<Job> {
    Job::ALL
        .into_iter()
        .filter(|job| match job {
            Job::Mailbox => cfg.myepo.is_some(),
            Job::Status => cfg.ops.is_some() || cfg.jpo.is_some(),
            Job::Export => cfg.export.dir.is_some(),
            Job::Digest => !cfg.notify.digest_to.is_empty(),
        })
        .collect()
}

/// The last successful (or partly successful: it ran and recorded what it could) end of each
/// job, from `sync_runs`.
async fn last_successes(store: &Store) -> anyhow::Result<BTreeMap<Job, DateTime<Utc>>> {
    Ok(store
        .call(|c| {
            let mut out = BTreeMap::new();
            for job in Job::ALL {
                if let Some(t) =
                    runs::last_success(c, job.as_str())?.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                {
                    out.insert(job, t.with_timezone(&Utc));
                }
            }
            Ok(out)
        })
        .await?)
}

/// The next fire time of `job` after `now`, jittered.
fn next_fire(cfg: &Config, job: Job, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c = cfg.schedule.cadence(job);
    c.next_after(now)
        .map(|t| jobs::jittered(t, cfg.schedule.jitter_secs, crate::sync::jitter()))
}

/// The first plan: a job missed while the daemon was down runs now, the others at their next
/// fire time.
fn plan(
    cfg: &Config,
    last: &BTreeMap<Job, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> BTreeMap<Job, DateTime<Utc>> {
    enabled(cfg)
        .into_iter()
        .filter_map(|job| {
            let at = if jobs::catch_up(cfg.schedule.cadence(job), last.get(&job).copied(), now) {
                tracing::info!(
                    job = job.as_str(),
                    "missed while mailroom was not running: runs now"
                );
                Some(now)
            } else {
                next_fire(cfg, job, now)
            };
            at.map(|t| (job, t))
        })
        .collect()
}

/// What one job run came to, in one line (logs, `STATUS=`).
async fn run_job(cfg: &Config, job: Job, stop: &Stop) -> anyhow::Result<String> {
    match job {
        Job::Mailbox => {
            let run = super::sync::mailbox(cfg, &Quiet, stop).await?;
            let r = &run.report;
            Ok(format!(
                "mailbox: {} archived, {} marked, {} failed, {} quarantined",
                r.archived.len(),
                r.marked,
                r.failed.len(),
                run.quarantined.len()
            ))
        }
        Job::Status => {
            let r = tokio::select! {
                r = super::sync::status(cfg, None, &Quiet, Utc::now()) => r?,
                s = stop.wait() => anyhow::bail!("status cycle stopped by {}", s.name()),
            };
            Ok(format!(
                "status: {} EP and {} JP refreshed, {} change(s), {} failed",
                r.ep_checked,
                r.jp_checked,
                r.changes.len(),
                r.failed.len()
            ))
        }
        Job::Export => {
            let dir = cfg.export.dir.clone().context("[export] dir is not set")?;
            recorded(cfg, job, async {
                let files = super::export::write_dir(cfg, &dir).await?;
                Ok(format!(
                    "export: {} files written to {}",
                    files.len(),
                    dir.display()
                ))
            })
            .await
        }
        Job::Digest => {
            recorded(cfg, job, async {
                let queued = super::notify_cmd::queue_digest(cfg).await?;
                Ok(if queued {
                    "digest: queued".to_owned()
                } else {
                    "digest: already queued today".to_owned()
                })
            })
            .await
        }
    }
}

/// Runs a job that has no run record of its own, recording it in `sync_runs`.
async fn recorded(
    cfg: &Config,
    job: Job,
    work: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<String> {
    let store = Store::open(&cfg.storage.database)?;
    let start = timestamp(Utc::now());
    let id = store.call(move |c| runs::start(c, job.as_str(), &start)).await?;
    let result = work.await;
    let (outcome, error) = match &result {
        Ok(_) => (runs::Outcome::Ok, None),
        Err(e) => (runs::Outcome::Failed, Some(format!("{e:#}"))),
    };
    let end = timestamp(Utc::now());
    store
        .call(move |c| runs::finish(c, id, runs::Totals::default(), outcome, error.as_deref(), &end))
        .await?;
    result
}

/// Drains the outbox; returns how many deliveries are still pending.
async fn drain(cfg: &Config) -> u64 {
    match super::sync::drain(cfg).await {
        Ok(report) => {
            if let Some(line) = report
                .line()
                .filter(|_| report.sent > 0 || !report.retrying.is_empty())
            {
                tracing::info!("{line}");
            }
            report.pending_total
        }
        Err(e) => {
            tracing::error!("sending notifications: {e:#}");
            0
        }
    }
}

/// Returns the heap a job's burst left free to the system (glibc keeps it otherwise, and an
/// idle daemon would hold the peak of its last job for hours).
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Reads the configuration again; `None` (with one log line) when it must be refused.
fn reload(source: &ConfigSource, old: &Config) -> Option<Config> {
    let new = match Config::load_for_write(source) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("SIGHUP: the new configuration is refused, the old one keeps running: {e}");
            return None;
        }
    };
    if new.storage.database != old.storage.database {
        tracing::error!(
            "SIGHUP: the new configuration moves storage.database to {}: refused (restart mailroom to move it); the old one keeps running",
            new.storage.database.display()
        );
        return None;
    }
    if let Err(e) = super::sync::sender(&new) {
        tracing::error!("SIGHUP: the new configuration is refused, the old one keeps running: {e:#}");
        return None;
    }
    tracing::info!(
        "SIGHUP: configuration read again from {}",
        source.path().display()
    );
    Some(new)
}

pub async fn run(source: &ConfigSource, cfg: Config, wait: Duration) -> Result<(), super::Failure> {
    let lock = super::writer(&cfg, wait).await?;
    let stop =
        Stop::listen().map_err(|e| anyhow::Error::new(e).context("cannot install the signal handlers"))?;
    serve(source, cfg, lock, stop, || ()).await
}

/// The daemon's loop, holding the state lock `_lock`, until `stop` fires: the one shutdown
/// path, whether the stop came from a signal ([`run`]) or from the Windows Service Control
/// Manager (`cli::service`, through the same `signals::Trigger::request`). `ready` is called
/// once, when the database is open and the jobs are planned (systemd's `READY=1`, the
/// service's Running).
pub(crate) async fn serve(
    source: &ConfigSource,
    mut cfg: Config,
    _lock: StateLock,
    stop: Stop,
    ready: impl FnOnce(),
) -> Result<(), super::Failure> {
    let mut hangups =
        Reload::listen().map_err(|e| anyhow::Error::new(e).context("cannot install the SIGHUP handler"))?;
    super::sync::sender(&cfg)?;
    let store = super::sync::open_store(&cfg)?;
    let notifier = Notifier::from_env();
    let watchdog = watchdog_interval();
    let last = last_successes(&store).await?;
    let mut next = plan(&cfg, &last, Utc::now());
    tracing::info!(
        time_zone = %cfg.schedule.time_zone,
        jobs = ?next.keys().map(|j| j.as_str()).collect::<Vec<_>>(),
        "mailroom run: ready"
    );
    notifier.ready(&format!("ready; jobs in {}", cfg.schedule.time_zone));
    ready();
    let mut pending = store
        .call(|c| outbox::counts(c))
        .await
        .map_err(anyhow::Error::new)?
        .0;
    let mut last_drain = tokio::time::Instant::now();
    loop {
        notifier.watchdog();
        let now = Utc::now();
        let due = jobs::earliest(&next.iter().map(|(j, t)| (*j, *t)).collect::<Vec<_>>());
        let until_due = due
            .map(|(_, at)| (at - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(TICK);
        let nap = [Some(until_due), Some(TICK), watchdog]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(TICK);
        tokio::select! {
            _ = stop.wait() => break,
            () = hangups.next() => {
                if let Some(new) = reload(source, &cfg) {
                    cfg = new;
                    next = plan(&cfg, &last_successes(&store).await?, Utc::now());
                }
                continue;
            }
            () = tokio::time::sleep(nap) => {}
        }
        if let Some((job, at)) = due
            && Utc::now() >= at
        {
            tracing::info!(job = job.as_str(), "starting");
            let bound = cfg.schedule.stop_timeout;
            let work = run_job(&cfg, job, &stop);
            let stopped_late = async {
                stop.wait().await;
                notifier.extend_timeout(bound);
                tokio::time::sleep(bound).await;
            };
            let line = tokio::select! {
                r = work => match r {
                    Ok(line) => line,
                    Err(e) => format!("{}: failed: {e:#}", job.as_str()),
                },
                () = stopped_late => format!("{}: dropped after the stop bound ({bound:?})", job.as_str()),
            };
            tracing::info!(job = job.as_str(), "{line}");
            notifier.status(&line);
            if stop.requested().is_some() {
                break;
            }
            match next_fire(&cfg, job, Utc::now()) {
                Some(t) => next.insert(job, t),
                None => next.remove(&job),
            };
            pending = drain(&cfg).await;
            last_drain = tokio::time::Instant::now();
            give_back_memory();
        } else if pending > 0 && last_drain.elapsed() >= TICK {
            pending = drain(&cfg).await;
            last_drain = tokio::time::Instant::now();
        }
    }
    notifier.stopping();
    let why = stop
        .requested()
        .map_or_else(|| "stopped".to_owned(), |s| format!("stopped by {}", s.name()));
    super::close_unfinished(&cfg, why.clone()).await?;
    tracing::info!("mailroom run: {why}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::core::service::{Answer, Control, answer};
    use crate::signals::Signal;

    /// The log lines written on this thread, for the duration of the returned guard.
    fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(lines.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        (lines, tracing::subscriber::set_default(subscriber))
    }

    /// Starts the daemon on a configuration with no office, waits for its "ready", asks it to
    /// stop through `Trigger::request` (what the signal listener and the service's control
    /// handler call) with `signal`, and returns what it logged; asserts it ended Ok in time
    /// and let go of the state lock.
    async fn stopped_by(signal: Signal) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[storage]\ndatabase = {:?}\narchive_dir = {:?}\n",
                dir.path().join("state/mailroom.sqlite3"),
                dir.path().join("archive"),
            ),
        )
        .unwrap();
        let source = ConfigSource::Named(path);
        let cfg = Config::load_for_write_with_env(&source, &[]).unwrap();
        let state = crate::lock::state_dir(&cfg.storage.database);
        let (logs, _guard) = capture_logs();
        let lock = crate::lock::acquire(&state, Duration::ZERO).await.unwrap();
        let (stop, trigger) = Stop::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let daemon = serve(&source, cfg, lock, stop, move || {
            let _ = ready_tx.send(());
        });
        let stopper = async {
            tokio::time::timeout(Duration::from_secs(30), ready_rx)
                .await
                .expect("ready within 30 s")
                .expect("ready was called");
            assert!(trigger.request(signal), "the first stop request");
        };
        let (result, ()) =
            tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(daemon, stopper) })
                .await
                .expect("stopped within 30 s");
        assert!(
            result.is_ok(),
            "a stopped daemon is a success: {:?}",
            result.err()
        );
        crate::lock::acquire(&state, Duration::ZERO)
            .await
            .expect("the daemon let go of the state lock");
        String::from_utf8(logs.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn the_trigger_stops_the_daemon_as_sigterm_does() {
        let logs = stopped_by(Signal::Terminate).await;
        for line in [
            "mailroom run: ready",
            "SIGTERM received: stopping after the communication or case in hand",
            "mailroom run: stopped by SIGTERM",
        ] {
            assert!(logs.contains(line), "{line:?} missing from:\n{logs}");
        }
    }

    #[tokio::test]
    async fn a_service_stop_takes_the_same_path_naming_its_cause() {
        let Answer::Stop(signal) = answer(Control::Stop) else {
            panic!("Stop must stop");
        };
        let logs = stopped_by(signal).await;
        for line in [
            "SERVICE_CONTROL_STOP received: stopping after the communication or case in hand",
            "mailroom run: stopped by SERVICE_CONTROL_STOP",
        ] {
            assert!(logs.contains(line), "{line:?} missing from:\n{logs}");
        }
    }
}
