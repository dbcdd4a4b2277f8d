//! `mailroom sync mailbox`: one mailbox cycle, with a progress bar on a terminal and plain
//! lines otherwise; a summary on stdout.
//!
//! Exit status of `sync mailbox` — about the mailbox, not only this cycle: 0 every unhandled
//! communication is archived (and marked handled, unless `mark_handled = false`); 3 the cycle
//! finished but some are not: waiting to be retried after a failure (this cycle's or an
//! earlier one's), quarantined until a person releases them (`communications retry`), not
//! reached, or not marked; 1 the cycle stopped (office unreachable, archive unusable);
//! 130 / 143 stopped by SIGINT / SIGTERM; 78 configuration.
//!
//! `sync status`: 0 every due case refreshed (a case the office does not know is reported
//! once and counts as done: the office answered); 3 some cases failed or a part stopped early
//! (quota, office errors beyond retries), the next cycle retries; 1 an office refused our
//! credentials or cannot be reached, the message naming the office and the key to check.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use chrono::{DateTime, Utc};

use tracing::Level;

use crate::archive::Archive;
use crate::config::{Config, ConfigError};
use crate::core::cases::{CaseKey, Kind, parse_case};
use crate::core::mailbox::{Step, next_step};
use crate::logging::progress;
use crate::offices::jpo::JpoClient;
use crate::offices::myepo::Client;
use crate::offices::ops::OpsClient;
use crate::signals::Stop;
use crate::store::communications::{self as comms, Outstanding};
use crate::store::{Store, timestamp};
use crate::sync::mailbox::{Mailbox, Observer, Report};
use crate::sync::status::{Observer as StatusObserver, Report as StatusReport, StatusSync};

#[derive(clap::Subcommand, Debug)]
pub enum Job {
    /// Fetch every unhandled MyEPO communication, archive it, then mark it handled at the EPO
    Mailbox,
    /// Refresh the status of the cases from the EP Register (OPS) and the JPO, record changes
    Status {
        /// Only this case (any usual form: EP23184567.2, 特願2020-123456)
        #[arg(long, value_name = "NUMBER")]
        case: Option<String>,
        /// The kind of right of --case (JP: patent, design, trademark)
        #[arg(long, requires = "case")]
        kind: Option<Kind>,
    },
}

pub async fn run(job: Job, cfg: &Config, stop: &Stop) -> Result<(), super::Failure> {
    // A channel that cannot be set up (a broken template override, an unreadable CA file) is
    // a configuration error: found before the job runs, not after it.
    sender(cfg)?;
    match job {
        Job::Mailbox => {
            let run = mailbox(cfg, observer().as_ref(), stop).await?;
            super::print_stdout(&summary(&run))?;
            // Stopping means stopping: what is queued is sent by the next job.
            if run.report.interrupted.is_none() {
                notify_after(cfg).await?;
            }
            if let Some(signal) = run.report.interrupted {
                Err(super::Failure::with_code(
                    signal.exit_code(),
                    anyhow::anyhow!(
                        "interrupted by {}; the next cycle goes on where this one stopped",
                        signal.name()
                    ),
                ))
            } else if run.is_complete() {
                Ok(())
            } else {
                Err(super::Failure::with_code(
                    3,
                    anyhow::anyhow!(
                        "some communications are not done yet (see above); the next cycle retries them"
                    ),
                ))
            }
        }
        Job::Status { case, kind } => {
            let only = case
                .map(|n| parse_case(&n, None, kind))
                .transpose()
                .map_err(anyhow::Error::new)?;
            let report = status(cfg, only.as_ref(), status_observer().as_ref(), Utc::now()).await?;
            super::print_stdout(&status_summary(&report))?;
            notify_after(cfg).await?;
            if !report.needs_person.is_empty() {
                Err(super::Failure::with_code(
                    1,
                    anyhow::anyhow!("{}", report.needs_person.join("; ")),
                ))
            } else if report.is_complete() {
                Ok(())
            } else {
                Err(super::Failure::with_code(
                    3,
                    anyhow::anyhow!("some cases were not refreshed (see above); the next cycle tries again"),
                ))
            }
        }
    }
}

/// The store a job writes to, with the routing its notifications follow.
pub fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&cfg.storage.database)?
        .with_routing(cfg.notify.routing())
        .with_deadlines(cfg.deadlines.clone()))
}

/// Drains the outbox (every job does at its end) and prints what was sent. A channel that
/// fails leaves its rows pending, which the line says; it does not fail the job.
pub async fn notify_after(cfg: &Config) -> Result<(), super::Failure> {
    let report = drain(cfg).await?;
    if let Some(line) = report.line() {
        super::print_stdout(&format!("{line}\n"))?;
    }
    Ok(())
}

/// The notification channels of `cfg`; one that cannot be set up is a [`ConfigError`] (exit 78).
pub fn sender(cfg: &Config) -> anyhow::Result<crate::notify::Sender> {
    crate::notify::Sender::new(cfg).map_err(|e| match e {
        crate::notify::SetupError::Config { key, reason } => ConfigError::Value { key, reason }.into(),
    })
}

/// Sends what the outbox holds that is due.
pub async fn drain(cfg: &Config) -> anyhow::Result<crate::notify::DrainReport> {
    let store = open_store(cfg)?;
    let sender = sender(cfg)?;
    sender.drain(&store).await.context("sending notifications")
}

/// Opens what a status cycle needs and runs one at `now`.
pub async fn status(
    cfg: &Config,
    only: Option<&CaseKey>,
    observer: &dyn StatusObserver,
    now: DateTime<Utc>,
) -> anyhow::Result<StatusReport> {
    if cfg.ops.is_none() && cfg.jpo.is_none() {
        return Err(ConfigError::Value {
            key: "ops".into(),
            reason: "neither [ops] nor [jpo] is configured: no case status to sync".into(),
        }
        .into());
    }
    let store = open_store(cfg)?;
    let ops = cfg.ops.as_ref().map(OpsClient::new).transpose()?;
    let jpo = cfg
        .jpo
        .as_ref()
        .map(|j| JpoClient::new(j).map(|c| (c, j)))
        .transpose()?;
    let job = StatusSync {
        store: &store,
        ops: ops.as_ref(),
        jpo: jpo.as_ref().map(|(c, j)| (c, *j)),
        counterparts: &cfg.counterparts,
    };
    job.run_cycle(only, now, observer).await.context("status cycle")
}

/// The summary of a status run. Its first line counts, in this order: cases refreshed per
/// office, JP cases deferred, changes, failures, cases the office does not know (reported in
/// this run or earlier), and the run id.
pub fn status_summary(r: &StatusReport) -> String {
    let mut s = format!(
        "status: {} EP and {} JP case(s) refreshed, {} JP case(s) wait for a later day, {} change(s), {} failed, {} not found at the office (run {})\n",
        r.ep_checked,
        r.jp_checked,
        r.jp_deferred,
        r.changes.len(),
        r.failed.len(),
        r.not_found_total(),
        r.run_id
    );
    if r.added_from_mailbox > 0 {
        s.push_str(&format!(
            "  {} case(s) added from the mailbox\n",
            r.added_from_mailbox
        ));
    }
    if r.family_lookups + r.pct_lookups > 0 || r.lookups_deferred > 0 {
        s.push_str(&format!(
            "  counterparts: {} family and {} PCT lookup(s), {} left for a later cycle\n",
            r.family_lookups, r.pct_lookups, r.lookups_deferred
        ));
    }
    for (jp, of) in &r.counterparts_followed {
        s.push_str(&format!("  now following {jp}, the JP counterpart of {of}\n"));
    }
    for (ep, _, why) in &r.counterparts_unmapped {
        s.push_str(&format!("  JP member of {ep} found, number not mapped: {why}\n"));
    }
    for (_, summary) in &r.changes {
        s.push_str(&format!("  CHANGE {summary}\n"));
    }
    for (case, why) in &r.failed {
        s.push_str(&format!("  failed: {case}: {why}\n"));
    }
    for (case, why, next) in &r.not_found {
        s.push_str(&format!("  not found: {case}: {why}; next try {next}\n"));
    }
    for why in &r.needs_person {
        s.push_str(&format!("  error: {why}\n"));
    }
    for why in &r.stopped {
        s.push_str(&format!("  stopped: {why}\n"));
    }
    for note in &r.notes {
        s.push_str(&format!("  note: {note}\n"));
    }
    s.push_str(&format!(
        "  office requests: OPS {} ({} refused), JPO {} ({} daily-cap and {} busy replies)\n",
        r.ops_requests, r.ops_rejected, r.jpo_requests, r.jpo_daily_cap_replies, r.jpo_busy_replies
    ));
    s
}

fn status_observer() -> Box<dyn StatusObserver> {
    if std::io::stderr().is_terminal() {
        Box::new(StatusBar::default())
    } else {
        Box::new(StatusLines)
    }
}

/// Plain lines on stderr, one per case.
struct StatusLines;

impl StatusObserver for StatusLines {
    fn planned(&self, cases: usize) {
        progress(Level::INFO, &format!("refreshing {cases} case(s)"));
    }
    fn planned_more(&self, cases: usize) {
        if cases > 0 {
            progress(
                Level::INFO,
                &format!("and {cases} JP counterpart(s) found in this cycle"),
            );
        }
    }
    fn checked(&self, case: &str, changes: &[String]) {
        progress(
            Level::INFO,
            &format!("checked {case}: {} change(s)", changes.len()),
        );
    }
    fn failed(&self, case: &str, reason: &str) {
        progress(Level::WARN, &format!("FAILED {case}: {reason}"));
    }
    fn not_found(&self, case: &str, reason: &str) {
        progress(Level::INFO, &format!("not found {case}: {reason}"));
    }
}

/// A progress bar over the cases of a status cycle.
#[derive(Default)]
struct StatusBar(std::sync::OnceLock<ProgressBar>);

impl StatusObserver for StatusBar {
    fn planned(&self, cases: usize) {
        let bar = ProgressBar::new(cases as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} refreshing [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let _ = self.0.set(bar);
    }
    fn planned_more(&self, cases: usize) {
        if let Some(b) = self.0.get() {
            b.inc_length(cases as u64);
        }
    }
    fn checked(&self, case: &str, changes: &[String]) {
        if let Some(b) = self.0.get() {
            for c in changes {
                b.println(format!("CHANGE {c}"));
            }
            b.set_message(case.to_owned());
            b.inc(1);
            if b.position() >= b.length().unwrap_or(0) {
                b.finish_and_clear();
            }
        }
    }
    fn failed(&self, case: &str, reason: &str) {
        match self.0.get() {
            Some(b) => {
                b.println(format!("FAILED {case}: {reason}"));
                b.inc(1);
            }
            None => eprintln!("FAILED {case}: {reason}"),
        }
    }
    fn not_found(&self, case: &str, reason: &str) {
        match self.0.get() {
            Some(b) => {
                b.println(format!("not found {case}: {reason}"));
                b.inc(1);
            }
            None => eprintln!("not found {case}: {reason}"),
        }
    }
}

/// A mailbox cycle and what is left in the mailbox after it.
#[derive(Debug)]
pub struct MailboxRun {
    pub report: Report,
    /// Failed (this cycle or an earlier one), each with when it is tried again (Unix seconds).
    pub waiting: Vec<(Outstanding, i64)>,
    /// Waiting for a person: reported in every summary until released.
    pub quarantined: Vec<Outstanding>,
    /// Due but not attempted (the cycle was stopped or archiving paused).
    pub not_reached: usize,
    /// Archived here but not yet marked handled at the office.
    pub unmarked: usize,
}

impl MailboxRun {
    /// True when every unhandled communication is archived (and marked, when marking is on).
    pub fn is_complete(&self) -> bool {
        self.waiting.is_empty()
            && self.quarantined.is_empty()
            && self.not_reached == 0
            && self.unmarked == 0
            && self.report.failed.is_empty()
            && self.report.mark_problems.is_empty()
    }
}

/// Opens what a mailbox cycle needs, runs one, and reads what is left.
pub async fn mailbox(cfg: &Config, observer: &dyn Observer, stop: &Stop) -> anyhow::Result<MailboxRun> {
    let settings = cfg.myepo.as_ref().ok_or_else(|| ConfigError::Value {
        key: "myepo".into(),
        reason: "the section is missing or disabled: nothing to sync".into(),
    })?;
    let store = open_store(cfg)?;
    let archive = Archive::open(&cfg.storage.archive_dir).await?;
    let client = Client::new(settings)?;
    let mailbox = Mailbox {
        client: &client,
        store: &store,
        archive: &archive,
        settings,
        stop,
    };
    let report = mailbox.run_cycle(observer).await.context("mailbox cycle")?;
    let left = store.call(|c| comms::outstanding(c)).await?;
    let now = Utc::now().timestamp();
    let mut run = MailboxRun {
        report,
        waiting: Vec::new(),
        quarantined: Vec::new(),
        not_reached: 0,
        unmarked: 0,
    };
    for o in left {
        match next_step(o.progress, now, settings.mark_handled) {
            Step::WaitUntil(at) => run.waiting.push((o, at)),
            Step::Quarantined => run.quarantined.push(o),
            Step::Archive => run.not_reached += 1,
            Step::MarkHandled | Step::RecordHandledAtOffice => run.unmarked += 1,
            Step::Nothing => {}
        }
    }
    Ok(run)
}

pub fn summary(run: &MailboxRun) -> String {
    let r = &run.report;
    let mut s = format!(
        "mailbox: {} unhandled at the EPO ({} new), {} archived, {} marked handled, {} found handled in the web mailbox, {} failed, {} quarantined (run {})\n",
        r.listed,
        r.new,
        r.archived.len(),
        r.marked,
        r.recorded_handled_at_office,
        r.failed.len(),
        run.quarantined.len(),
        r.run_id
    );
    if let Some(signal) = r.interrupted {
        s.push_str(&format!(
            "  interrupted by {}: nothing more was fetched or marked after the communication in hand\n",
            signal.name()
        ));
    }
    for (o, at) in &run.waiting {
        let when = chrono::DateTime::from_timestamp(*at, 0).map_or_else(|| at.to_string(), timestamp);
        s.push_str(&format!(
            "  failed, will retry from {when} (attempt {}): {}: {}\n",
            o.progress.attempts + 1,
            described(o),
            o.last_error.as_deref().unwrap_or("no error recorded")
        ));
    }
    for o in &run.quarantined {
        s.push_str(&format!(
            "  QUARANTINED, needs a person: {}: {} (`mailroom communications retry {}` releases it)\n",
            described(o),
            o.last_error.as_deref().unwrap_or("no error recorded"),
            o.id
        ));
    }
    if run.not_reached > 0 {
        s.push_str(&format!(
            "  {} communication(s) not archived yet: the next cycle fetches them\n",
            run.not_reached
        ));
    }
    if run.unmarked > 0 {
        s.push_str(&format!(
            "  {} archived communication(s) not marked handled yet: the next cycle marks them first\n",
            run.unmarked
        ));
    }
    for (id, why) in &r.mark_problems {
        s.push_str(&format!("  not marked handled: {id}: {why}\n"));
    }
    for w in &r.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

/// `ID (application APP, Form CODE)`: how a summary names a communication.
fn described(o: &Outstanding) -> String {
    format!(
        "{} (application {}, Form {})",
        o.id, o.application_number, o.document_code
    )
}

fn observer() -> Box<dyn Observer> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(Lines::default())
    }
}

/// How many archived communications, at most, between two progress lines.
const LINE_EVERY: usize = 100;
/// The longest time between two progress lines while archiving goes on.
const LINE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// PURE: whether the progress line is printed after `done` of `total` communications, the
/// last line having been printed `since` ago: every [`LINE_EVERY`], every [`LINE_AFTER`], and
/// at the last one.
fn line_due(done: usize, total: usize, since: std::time::Duration) -> bool {
    done > 0 && (done % LINE_EVERY == 0 || done >= total || since >= LINE_AFTER)
}

/// Plain lines on stderr (a log, a pipe): the listing, a progress line every
/// [`LINE_EVERY`] communications or [`LINE_AFTER`], and each failure. A line per
/// communication cost more than the archiving it reported.
#[derive(Default)]
struct Lines(std::sync::Mutex<LinesState>);

#[derive(Default)]
struct LinesState {
    to_archive: usize,
    archived: usize,
    failed: usize,
    marked: usize,
    last_line: Option<std::time::Instant>,
}

impl Lines {
    fn state(&self) -> std::sync::MutexGuard<'_, LinesState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LinesState {
    fn progress(&mut self) {
        let now = std::time::Instant::now();
        let since = self.last_line.map_or(LINE_AFTER, |t| now.duration_since(t));
        if line_due(self.archived + self.failed, self.to_archive, since) {
            self.last_line = Some(now);
            progress(
                Level::INFO,
                &format!(
                    "archived {}/{} ({} failed), {} marked handled at the EPO so far",
                    self.archived, self.to_archive, self.failed, self.marked
                ),
            );
        }
    }
}

impl Observer for Lines {
    fn listed(&self, unhandled: usize, to_archive: usize) {
        let mut s = self.state();
        s.to_archive = to_archive;
        s.last_line = Some(std::time::Instant::now());
        progress(
            Level::INFO,
            &format!("listed {unhandled} unhandled communication(s); {to_archive} to archive"),
        );
    }
    fn archived(&self, _id: &str, _path: &Path) {
        let mut s = self.state();
        s.archived += 1;
        s.progress();
    }
    fn failed(&self, id: &str, reason: &str) {
        progress(Level::WARN, &format!("FAILED {id}: {reason}"));
        let mut s = self.state();
        s.failed += 1;
        s.progress();
    }
    fn marked(&self, count: usize) {
        self.state().marked += count;
    }
}

/// A progress bar for a person at a terminal.
#[derive(Default)]
struct Bar(std::sync::OnceLock<ProgressBar>);

impl Observer for Bar {
    fn listed(&self, _unhandled: usize, to_archive: usize) {
        let bar = ProgressBar::new(to_archive as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} archiving [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let _ = self.0.set(bar);
    }
    fn archived(&self, id: &str, _path: &Path) {
        if let Some(b) = self.0.get() {
            b.set_message(id.to_owned());
            b.inc(1);
        }
    }
    fn failed(&self, id: &str, reason: &str) {
        match self.0.get() {
            Some(b) => {
                b.println(format!("FAILED {id}: {reason}"));
                b.inc(1);
            }
            None => eprintln!("FAILED {id}: {reason}"),
        }
    }
    fn marked(&self, _count: usize) {
        if let Some(b) = self.0.get() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_due_table() {
        let s = std::time::Duration::from_secs;
        // (done, total, since the last line, due)
        let table = [
            (0, 0, s(0), false),
            (0, 2000, s(60), false),
            (1, 2000, s(0), false),
            (99, 2000, s(4), false),
            (100, 2000, s(0), true),
            (101, 2000, s(0), false),
            (101, 2000, s(5), true),
            (7, 7, s(0), true),
            (1_000, 2000, s(0), true),
        ];
        for (done, total, since, due) in table {
            assert_eq!(
                line_due(done, total, since),
                due,
                "{done}/{total} after {since:?}"
            );
        }
    }
}
