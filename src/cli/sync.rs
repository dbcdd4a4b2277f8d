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

use crate::archive::Archive;
use crate::config::{Config, ConfigError};
use crate::offices::myepo::Client;
use crate::store::Store;
use crate::sync::mailbox::{Mailbox, Observer, Report};

#[derive(clap::Subcommand, Debug)]
pub enum Job {
    /// Fetch every unhandled MyEPO communication, archive it, then mark it handled at the EPO
    Mailbox,
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
        Box::new(Lines)
    }
}

/// Plain lines on stderr, one per communication.
struct Lines;

impl Observer for Lines {
    fn listed(&self, unhandled: usize, to_archive: usize) {
        eprintln!("listed {unhandled} unhandled communication(s); {to_archive} to archive");
    }
    fn archived(&self, id: &str, path: &Path) {
        eprintln!("archived {id} -> {}", path.display());
    }
    fn failed(&self, id: &str, reason: &str) {
        eprintln!("FAILED {id}: {reason}");
    }
    fn marked(&self, count: usize) {
        eprintln!("marked {count} handled at the EPO");
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
