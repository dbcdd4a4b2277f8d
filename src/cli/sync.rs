//! `mailroom sync mailbox`: one mailbox cycle, with a progress bar on a terminal and plain
//! lines otherwise; a summary on stdout.
//!
//! Exit status: 0 everything done; 3 finished but some communications failed (they are
//! retried next cycle) or could not be marked; 1 the cycle stopped (office unreachable,
//! archive unusable); 78 configuration.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use chrono::{DateTime, Utc};

use crate::archive::Archive;
use crate::config::{Config, ConfigError};
use crate::core::cases::{CaseKey, Kind, parse_case};
use crate::offices::jpo::JpoClient;
use crate::offices::myepo::Client;
use crate::offices::ops::OpsClient;
use crate::store::Store;
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

pub async fn run(job: Job, cfg: &Config) -> Result<(), super::Failure> {
    match job {
        Job::Mailbox => {
            let report = mailbox(cfg, observer().as_ref()).await?;
            super::print_stdout(&summary(&report))?;
            if report.failed.is_empty() && report.mark_problems.is_empty() {
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
            if report.is_complete() {
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
    let store = Store::open(&cfg.storage.database)?;
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
    };
    job.run_cycle(only, now, observer).await.context("status cycle")
}

pub fn status_summary(r: &StatusReport) -> String {
    let mut s = format!(
        "status: {} EP and {} JP case(s) refreshed, {} JP case(s) wait for a later day, {} change(s), {} failed (run {})\n",
        r.ep_checked,
        r.jp_checked,
        r.jp_deferred,
        r.changes.len(),
        r.failed.len(),
        r.run_id
    );
    if r.added_from_mailbox > 0 {
        s.push_str(&format!(
            "  {} case(s) added from the mailbox\n",
            r.added_from_mailbox
        ));
    }
    for (_, summary) in &r.changes {
        s.push_str(&format!("  CHANGE {summary}\n"));
    }
    for (case, why) in &r.failed {
        s.push_str(&format!("  failed: {case}: {why}\n"));
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
        eprintln!("refreshing {cases} case(s)");
    }
    fn checked(&self, case: &str, changes: &[String]) {
        eprintln!("checked {case}: {} change(s)", changes.len());
    }
    fn failed(&self, case: &str, reason: &str) {
        eprintln!("FAILED {case}: {reason}");
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
}

/// Opens what a mailbox cycle needs and runs one.
pub async fn mailbox(cfg: &Config, observer: &dyn Observer) -> anyhow::Result<Report> {
    let settings = cfg.myepo.as_ref().ok_or_else(|| ConfigError::Value {
        key: "myepo".into(),
        reason: "the section is missing or disabled: nothing to sync".into(),
    })?;
    let store = Store::open(&cfg.storage.database)?;
    let archive = Archive::open(&cfg.storage.archive_dir).await?;
    let client = Client::new(settings)?;
    let mailbox = Mailbox {
        client: &client,
        store: &store,
        archive: &archive,
        settings,
    };
    mailbox.run_cycle(observer).await.context("mailbox cycle")
}

pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "mailbox: {} unhandled at the EPO ({} new), {} archived, {} marked handled, {} found handled in the web mailbox, {} failed, {} quarantined (run {})\n",
        r.listed,
        r.new,
        r.archived.len(),
        r.marked,
        r.recorded_handled_at_office,
        r.failed.len(),
        r.quarantined.len(),
        r.run_id
    );
    for (id, why) in &r.failed {
        s.push_str(&format!("  failed, will retry: {id}: {why}\n"));
    }
    for (id, why) in &r.quarantined {
        s.push_str(&format!("  QUARANTINED, needs a person: {id}: {why}\n"));
    }
    for (id, why) in &r.mark_problems {
        s.push_str(&format!("  not marked handled: {id}: {why}\n"));
    }
    for w in &r.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
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
            eprintln!(
                "archived {}/{} ({} failed), {} marked handled at the EPO so far",
                self.archived, self.to_archive, self.failed, self.marked
            );
        }
    }
}

impl Observer for Lines {
    fn listed(&self, unhandled: usize, to_archive: usize) {
        let mut s = self.state();
        s.to_archive = to_archive;
        s.last_line = Some(std::time::Instant::now());
        eprintln!("listed {unhandled} unhandled communication(s); {to_archive} to archive");
    }
    fn archived(&self, _id: &str, _path: &Path) {
        let mut s = self.state();
        s.archived += 1;
        s.progress();
    }
    fn failed(&self, id: &str, reason: &str) {
        eprintln!("FAILED {id}: {reason}");
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
