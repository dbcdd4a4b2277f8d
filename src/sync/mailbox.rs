//! One mailbox cycle: the I/O shell around `core::mailbox`.
//!
//! In this order, each step recorded before the next begins:
//! 1. **list** every unhandled communication (all pages, before any is touched) and record
//!    each as `seen`; then **reconcile**: list those *handled* at the office within the window
//!    and record any unknown one too (a person handled it in the web mailbox), page by page;
//! 2. **archive** each `seen` one into a batch: stream into a temporary file in the archive's
//!    spool, hashing while streaming → fsync → verify (length, `%PDF-` or declared type, size
//!    on disk) → rename; a batch is settled (sidecars → one archive sync → one transaction
//!    recording all of it `archived`) when it holds `batch_size` or has been open ten times
//!    as long as the last settlement took ([`batch_due`]);
//! 3. **mark handled** at the office, in batches, only what step 2 recorded as `archived`,
//!    then record `handled`. Marking runs before archiving (the backlog of an interrupted
//!    cycle), in each batch's settlement (which runs while the next batch is archived), and
//!    at the end.
//!
//! A crash anywhere leaves the database describing what is on disk and at the office up to
//! the last committed step; the next cycle repeats the rest, and every step is idempotent by
//! communication id. Failpoints (`crate::failpoint`) sit between the steps for the
//! kill-at-every-step tests.
//!
//! **Stopping** ([`Mailbox::stop`], a signal): checked before each communication and before
//! each mark request. The download in hand is finished, verified and recorded with its batch
//! (it is safe, and the HTTP timeouts bound it); nothing new is fetched or marked after it, and
//! the run is recorded `interrupted`. What is archived but not marked is the next cycle's
//! backlog, marked first.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use chrono::Utc;
use serde_json::json;

use crate::archive::{Archive, ArchiveError, DocumentKey, Expectation};
use crate::config::Myepo as Settings;
use crate::core::deadline::propose::LetterReading;
use crate::core::mailbox::{self as core, AfterFailure, FailureKind, Progress, RetryPolicy, Step};
use crate::core::notify::{Event, OfficeStopped};
use crate::failpoint;
use crate::offices::http;
use crate::offices::myepo::model::{self, Item};
use crate::offices::myepo::{Client, Listing, MyepoError};
use crate::store::communications::{self as comms, ArchivedDoc, HandledBy, Listed};
use crate::store::runs::{self, Outcome, Totals};
use crate::store::{Store, StoreError, timestamp};
use crate::store::{deadlines, outbox};

/// The office every MyEPO communication belongs to (the first archive path component).
const OFFICE: &str = "EP";

/// A batch that has not filled is settled once it has been open this many times as long as
/// the last settlement took: settling (an archive sync, two journal commits, a mark-handled
/// request) then costs at most about a tenth of the cycle, however fast or slow the disk and
/// the office are. A fixed 100 ms closed batches after 10–20 files, and their settlements
/// dominated a cycle; a fixed long bound held verified files back from a run that is
/// interrupted often (the kill tests: no batch ever settled).
const SETTLE_RATIO: u32 = 10;
/// Bounds of the time a batch stays open: before any settlement was measured, the lower one.
const SETTLE_AFTER: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// After this many consecutive office failures in one cycle, archiving stops for the cycle:
/// the office is down, and hammering it item by item helps nobody.
const OFFICE_DOWN_AFTER: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("listing the mailbox failed: {0}")]
    List(MyepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the archive is unusable, archiving stopped: {0}")]
    Archive(ArchiveError),
}

/// Why one communication could not be archived.
#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error(transparent)]
    Office(#[from] MyepoError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("download of {id} broke off: {}", http::chain(cause))]
    Body { id: String, cause: reqwest::Error },
    #[error("stored metadata of {id} is unreadable: {reason}")]
    Metadata { id: String, reason: String },
    #[error(
        "download of {id} refused before writing: Content-Length {announced} bytes exceeds {limit_name} ({limit} bytes)"
    )]
    TooLong {
        id: String,
        announced: u64,
        limit_name: &'static str,
        limit: u64,
    },
    #[error("download of {id} cut off after {received} bytes: the body passed {limit_name} ({limit} bytes)")]
    BodyTooLong {
        id: String,
        received: u64,
        limit_name: &'static str,
        limit: u64,
    },
}

impl ItemError {
    fn kind(&self) -> FailureKind {
        match self {
            ItemError::Office(e) if e.is_transient() => FailureKind::Office,
            ItemError::Body { .. } => FailureKind::Office,
            _ => FailureKind::Item,
        }
    }

    /// Failures that no retry of *this* item can fix (the archive itself is unusable): the
    /// whole cycle must stop, and the item is not charged an attempt.
    fn into_fatal(self) -> Result<ArchiveError, ItemError> {
        match self {
            ItemError::Archive(e @ (ArchiveError::DiskFull { .. } | ArchiveError::Io { .. })) => Ok(e),
            other => Err(other),
        }
    }
}

/// Communications archived (fsynced, verified, named) but not yet synced as a batch and
/// recorded; and the paths they claimed, so two of one batch never share a file.
/// One communication whose documents are stored and verified, not yet recorded.
struct Archived {
    id: String,
    docs: Vec<ArchivedDoc>,
    first_path: PathBuf,
    /// The first document (the letter; later ones are annexes): read for its period once
    /// the batch's files are durable under their names.
    letter: Option<ArchivedDoc>,
    /// `(document path, sidecar JSON)`, written with the batch.
    sidecars: Vec<(PathBuf, Vec<u8>)>,
}

#[derive(Default)]
struct Batch {
    done: Vec<Archived>,
    /// Path → `(communication id, document key)` of the document that claimed it.
    claimed: std::collections::HashMap<String, (String, String)>,
    /// When the first communication of this batch was archived.
    opened: Option<Instant>,
    /// How long the last settlement took.
    last_settle: Option<Duration>,
    /// The run whose notifications the batch's records raise.
    run_id: Option<i64>,
}

impl Batch {
    fn due(&self, size: usize) -> bool {
        batch_due(
            self.done.len(),
            size,
            self.opened.map(|t| t.elapsed()),
            self.last_settle,
        )
    }
}

/// The `office_stop` admin notification a cycle's end raises: the listing failed (the office
/// down, credentials refused), or archiving paused because the office kept failing.
fn office_stop(result: &Result<(), SyncError>, report: &Report, now: &str) -> Option<Event> {
    let reason = match result {
        Err(SyncError::List(e)) => e.to_string(),
        _ => report
            .warnings
            .iter()
            .find(|w| w.starts_with("archiving paused"))?
            .clone(),
    };
    Some(Event::OfficeStop(OfficeStopped {
        office: "EPO MyEPO".into(),
        job: "mailbox".into(),
        reason,
        action: None,
        stopped_at: now.to_owned(),
    }))
}

/// PURE: whether a batch holding `len` communications, open for `open_for` (`None`: nothing
/// in it yet), is settled before the next communication is archived: when it holds `size`, or
/// has been open [`SETTLE_RATIO`] times `last_settle` (within [`SETTLE_AFTER`]). Group commit
/// saves the per-file syncs and journal commits, but must not hold verified files back for
/// long, nor leave a run that is interrupted often without progress.
fn batch_due(len: usize, size: usize, open_for: Option<Duration>, last_settle: Option<Duration>) -> bool {
    let (low, high) = SETTLE_AFTER;
    let bound = last_settle.map_or(low, |c| c.saturating_mul(SETTLE_RATIO).clamp(low, high));
    len > 0 && (len >= size || open_for.is_some_and(|t| t >= bound))
}

/// The settlement of the last batch, which runs while the next one is archived (driven by
/// [`Settling::alongside`]), and what it came to.
enum Settling<'a> {
    Idle,
    Running(Pin<Box<dyn Future<Output = Result<Settled, SyncError>> + Send + 'a>>),
    Done(Result<Settled, SyncError>),
}

/// What settling one batch did.
struct Settled {
    part: Report,
    /// The paths the batch claimed.
    claims: Vec<String>,
    took: Duration,
}

impl Settling<'_> {
    /// Runs `work` to completion, letting the settlement progress meanwhile.
    async fn alongside<T>(&mut self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Settling::Running(settle) = self
                && let Poll::Ready(out) = settle.as_mut().poll(cx)
            {
                *self = Settling::Done(out);
            }
            work.as_mut().poll(cx)
        })
        .await
    }

    /// Waits for the settlement, if there is one, and takes what it came to.
    async fn finish(&mut self) -> Option<Result<Settled, SyncError>> {
        match std::mem::replace(self, Settling::Idle) {
            Settling::Idle => None,
            Settling::Running(settle) => Some(settle.await),
            Settling::Done(out) => Some(out),
        }
    }
}

/// What one cycle did, for the summary line and `sync_runs`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub run_id: i64,
    pub listed: usize,
    pub new: usize,
    /// Found handled at the office (web UI) and not yet archived here.
    pub handled_elsewhere_found: usize,
    /// `(id, archive-relative path of its first document)` of each communication archived.
    pub archived: Vec<(String, PathBuf)>,
    pub marked: usize,
    pub recorded_handled_at_office: usize,
    /// `(id, reason)` of items that failed this cycle and will be retried.
    pub failed: Vec<(String, String)>,
    /// `(id, reason)` of items waiting for a person (all of them, not only new ones).
    pub quarantined: Vec<(String, String)>,
    /// Ids the office did not know when marking, or could not confirm.
    pub mark_problems: Vec<(String, String)>,
    /// Problems that did not stop the cycle (e.g. reconciliation failed).
    pub warnings: Vec<String>,
    /// The signal that stopped the cycle early, if one did.
    pub interrupted: Option<crate::signals::Signal>,
}

impl Report {
    pub fn outcome(&self) -> Outcome {
        if self.interrupted.is_some() {
            Outcome::Interrupted
        } else if self.failed.is_empty() && self.mark_problems.is_empty() && self.warnings.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Partial
        }
    }

    /// Adds what a batch's settlement did.
    fn absorb(&mut self, part: Report) {
        self.archived.extend(part.archived);
        self.marked += part.marked;
        self.recorded_handled_at_office += part.recorded_handled_at_office;
        self.failed.extend(part.failed);
        self.mark_problems.extend(part.mark_problems);
        self.warnings.extend(part.warnings);
    }

    fn totals(&self) -> Totals {
        Totals {
            listed: self.listed as u64,
            archived: self.archived.len() as u64,
            handled: (self.marked + self.recorded_handled_at_office) as u64,
            failed: self.failed.len() as u64,
            quarantined: self.quarantined.len() as u64,
            ..Totals::default()
        }
    }
}

/// What the cycle tells whoever watches (a progress bar, plain lines, nothing).
pub trait Observer: Send + Sync {
    fn listed(&self, _unhandled: usize, _to_archive: usize) {}
    fn archived(&self, _id: &str, _path: &Path) {}
    fn failed(&self, _id: &str, _reason: &str) {}
    fn marked(&self, _count: usize) {}
}

/// An observer that says nothing.
pub struct Quiet;
impl Observer for Quiet {}

pub struct Mailbox<'a> {
    pub client: &'a Client,
    pub store: &'a Store,
    pub archive: &'a Archive,
    pub settings: &'a Settings,
    /// Asked to stop: no new communication is started and nothing more is marked.
    pub stop: &'a crate::signals::Stop,
}

impl Mailbox<'_> {
    /// Runs one cycle. `Err` means the cycle stopped early (recorded as `failed`); item
    /// failures do not stop it and are in the report.
    pub async fn run_cycle(&self, observer: &dyn Observer) -> Result<Report, SyncError> {
        let started = Utc::now();
        let now_s = timestamp(started);
        let run_id = self
            .store
            .call(move |c| runs::start(c, "mailbox", &now_s))
            .await?;
        let mut report = Report {
            run_id,
            ..Report::default()
        };
        let result = self.cycle(&mut report, observer).await;
        report.interrupted = self.stop.requested();
        let (outcome, error) = match &result {
            Ok(()) => (
                report.outcome(),
                report.interrupted.map(|s| format!("stopped by {}", s.name())),
            ),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        let totals = report.totals();
        let end = timestamp(Utc::now());
        let stop = office_stop(&result, &report, &end);
        let routing = self.store.routing();
        let policy = self.store.deadlines();
        let today = policy.today(Utc::now());
        self.store
            .write(move |tx| {
                runs::finish(tx, run_id, totals, outcome, error.as_deref(), &end)?;
                if let Some(e) = &stop {
                    outbox::enqueue(tx, &routing, e, Some(run_id), &end)?;
                }
                // Every poll: deadlines follow a calendar or rules update, and the reminders
                // due today go out (each rung once, recorded with its event).
                deadlines::recompute(tx, &policy, &end)?;
                for e in deadlines::reminders(tx, &policy, today, &end)? {
                    outbox::enqueue(tx, &routing, &e, Some(run_id), &end)?;
                }
                Ok(())
            })
            .await?;
        result.map(|()| report)
    }

    async fn cycle(&self, report: &mut Report, observer: &dyn Observer) -> Result<(), SyncError> {
        // 1. List, then record, before touching anything.
        let unhandled = self
            .client
            .list_all(Listing {
                handled: false,
                dispatched_from: None,
            })
            .await
            .map_err(SyncError::List)?;
        failpoint::hit("after_list");
        report.listed = unhandled.len();
        let seen = self.record_seen(&unhandled, false).await?;
        report.new = seen.new;
        failpoint::hit("after_record_seen");

        if self.settings.reconcile_window_days > 0 {
            let from =
                Utc::now().date_naive() - chrono::Days::new(u64::from(self.settings.reconcile_window_days));
            // Page by page: memory follows a page, not the window's history.
            let (mut found, mut store_error) = (0, None);
            let listed = self
                .client
                .list_pages(
                    Listing {
                        handled: true,
                        dispatched_from: Some(from),
                    },
                    async |page| match self.record_handled_page(&page).await {
                        Ok(n) => {
                            found += n;
                            true
                        }
                        Err(e) => {
                            store_error = Some(e);
                            false
                        }
                    },
                )
                .await;
            if let Some(e) = store_error {
                return Err(e);
            }
            report.handled_elsewhere_found = found;
            if let Err(e) = listed {
                tracing::warn!("reconciliation skipped this cycle: {e}");
                report.warnings.push(format!("reconciliation: {e}"));
            }
        }

        // 2. Archive. What an earlier, interrupted cycle archived is marked first: it is safe
        // and has waited long enough.
        self.mark(report, observer, None).await?;
        let pending = self.store.call(|c| comms::pending(c)).await?;
        let now = Utc::now().timestamp();
        let to_archive: Vec<_> = pending
            .into_iter()
            .filter(|p| core::next_step(p.progress, now, self.settings.mark_handled) == Step::Archive)
            .collect();
        observer.listed(report.listed, to_archive.len());
        let policy = RetryPolicy {
            max_attempts: self.settings.max_attempts,
            ..RetryPolicy::default()
        };
        let mut office_failures_in_a_row = 0;
        let mut batch = Batch {
            run_id: Some(report.run_id),
            ..Batch::default()
        };
        let mut settling = Settling::Idle;
        for p in to_archive {
            if self.stop.requested().is_some() {
                break;
            }
            // A due batch is made durable, recorded and marked while the next one is archived
            // (one settlement at a time): a long run does not hold back every communication
            // until its end, and the downloads do not wait for the settlements.
            if batch.due(self.settings.batch_size as usize) {
                self.collect(&mut settling, &mut batch, report).await?;
                settling = self.start_settling(&mut batch, observer);
            }
            let mut result = settling
                .alongside(self.archive_one(&p.id, &p.metadata_json, &mut batch))
                .await;
            if let Err(e @ ItemError::Body { .. }) = &result {
                // A body that broke off is fetched once more at once: the office answered, so it
                // is up; the next cycle would otherwise be the first retry.
                tracing::warn!(id = %p.id, "{e}; fetching it once more");
                settling
                    .alongside(tokio::time::sleep(self.settings.retry_base_delay))
                    .await;
                result = settling
                    .alongside(self.archive_one(&p.id, &p.metadata_json, &mut batch))
                    .await;
            }
            match result {
                Ok(archived) => {
                    office_failures_in_a_row = 0;
                    batch.opened.get_or_insert_with(Instant::now);
                    batch.done.push(archived);
                }
                Err(e) => {
                    let e = match e.into_fatal() {
                        Ok(fatal) => {
                            tracing::error!(id = %p.id, "{fatal}");
                            // What is already stored is still recorded and marked, if the
                            // archive can still be synced.
                            if let Err(e) = self.settle(&mut settling, &mut batch, report, observer).await {
                                tracing::error!("{e}");
                            }
                            return Err(SyncError::Archive(fatal));
                        }
                        Err(e) => e,
                    };
                    let kind = e.kind();
                    let reason = e.to_string();
                    tracing::warn!(id = %p.id, attempt = p.progress.attempts + 1, "{reason}");
                    observer.failed(&p.id, &reason);
                    let after = core::after_failure(
                        p.progress.attempts,
                        Utc::now().timestamp(),
                        policy,
                        super::jitter(),
                        kind,
                    );
                    let (id, at, r) = (p.id.clone(), timestamp(Utc::now()), reason.clone());
                    let (routing, run_id) = (self.store.routing(), Some(report.run_id));
                    self.store
                        .write(move |tx| {
                            comms::record_failure(tx, &id, &r, after, &at)?;
                            if matches!(after, AfterFailure::Quarantine { .. }) {
                                let event = outbox::quarantine_event(tx, &id)?;
                                outbox::enqueue(tx, &routing, &event, run_id, &at)?;
                            }
                            Ok(())
                        })
                        .await?;
                    if matches!(after, AfterFailure::Quarantine { .. }) {
                        tracing::error!(id = %p.id, "quarantined after {} attempts: {reason}", policy.max_attempts);
                    }
                    report.failed.push((p.id.clone(), reason));
                    if kind == FailureKind::Office {
                        office_failures_in_a_row += 1;
                        if office_failures_in_a_row >= OFFICE_DOWN_AFTER {
                            let w = format!("archiving paused: {OFFICE_DOWN_AFTER} office failures in a row");
                            tracing::warn!("{w}");
                            report.warnings.push(w);
                            break;
                        }
                    } else {
                        office_failures_in_a_row = 0;
                    }
                }
            }
        }
        self.settle(&mut settling, &mut batch, report, observer).await?;

        // 3. Mark handled — only what is recorded as archived: what a batch's marking left
        // (the office failed), and what waits for nothing but the office's flag.
        self.mark(report, observer, None).await?;

        report.quarantined = self.store.call(|c| comms::quarantined(c)).await?;
        Ok(())
    }

    /// Collects the running settlement, if any (waiting for it): what it did goes into the
    /// report, and the paths its batch claimed are released (the database knows them now).
    async fn collect(
        &self,
        settling: &mut Settling<'_>,
        batch: &mut Batch,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        if let Some(settled) = settling.finish().await {
            let settled = settled?;
            for path in &settled.claims {
                batch.claimed.remove(path);
            }
            batch.last_settle = Some(settled.took);
            report.absorb(settled.part);
        }
        Ok(())
    }

    /// Starts settling what the batch holds (collect the previous settlement first). Its
    /// claims stay in the batch until the settlement is collected, so the next batch cannot
    /// take a path the database does not know yet.
    fn start_settling<'a>(&'a self, batch: &mut Batch, observer: &'a dyn Observer) -> Settling<'a> {
        if batch.done.is_empty() {
            return Settling::Idle;
        }
        let done = std::mem::take(&mut batch.done);
        batch.opened = None;
        let claims = batch.claimed.keys().cloned().collect();
        Settling::Running(Box::pin(self.settle_batch(done, claims, batch.run_id, observer)))
    }

    /// Settles what the batch holds and waits for it (after the running settlement).
    async fn settle(
        &self,
        settling: &mut Settling<'_>,
        batch: &mut Batch,
        report: &mut Report,
        observer: &dyn Observer,
    ) -> Result<(), SyncError> {
        self.collect(settling, batch, report).await?;
        let mut last = self.start_settling(batch, observer);
        self.collect(&mut last, batch, report).await
    }

    /// Makes a batch of archived communications durable (one archive sync), records them all
    /// in one transaction, then marks them handled at the office: only the batch's own ids are
    /// looked up, so settling costs the same however many rows are pending.
    async fn settle_batch(
        &self,
        mut done: Vec<Archived>,
        claims: Vec<String>,
        run_id: Option<i64>,
        observer: &dyn Observer,
    ) -> Result<Settled, SyncError> {
        let started = Instant::now();
        let mut part = Report::default();
        let sidecars = done
            .iter_mut()
            .flat_map(|a| std::mem::take(&mut a.sidecars))
            .collect();
        self.archive
            .write_sidecars(sidecars)
            .await
            .map_err(SyncError::Archive)?;
        self.archive.sync().await.map_err(SyncError::Archive)?;
        let mut records: Vec<(String, Vec<ArchivedDoc>, LetterReading)> = Vec::with_capacity(done.len());
        for a in &done {
            let letter = match &a.letter {
                Some(d) => {
                    let path = self.archive.root().join(d.path.split('/').collect::<PathBuf>());
                    super::letter::read(path, d.media_type.clone()).await
                }
                None => LetterReading::NotRead {
                    why: "the office listed no document".into(),
                },
            };
            records.push((a.id.clone(), a.docs.clone(), letter));
        }
        let at = timestamp(Utc::now());
        let routing = self.store.routing();
        let policy = self.store.deadlines();
        self.store
            .write(move |tx| {
                for (id, docs, letter) in &records {
                    if comms::record_archived(tx, id, docs, &at)? {
                        let proposed = deadlines::propose_for(tx, &policy, id, letter, &at)?;
                        let event = outbox::communication_event(tx, id, proposed.info)?;
                        outbox::enqueue(tx, &routing, &event, run_id, &at)?;
                        for e in &proposed.events {
                            outbox::enqueue(tx, &routing, e, run_id, &at)?;
                        }
                    }
                }
                Ok(())
            })
            .await?;
        failpoint::hit("after_record_archived");
        let ids = done.iter().map(|a| a.id.clone()).collect();
        for a in done {
            observer.archived(&a.id, &a.first_path);
            part.archived.push((a.id, a.first_path));
        }
        self.mark(&mut part, observer, Some(ids)).await?;
        Ok(Settled {
            part,
            claims,
            took: started.elapsed(),
        })
    }

    /// Records one page of the reconciliation listing; returns how many ids were new.
    async fn record_handled_page(&self, items: &[Item]) -> Result<usize, SyncError> {
        let listed = listed(items, true);
        let now = timestamp(Utc::now());
        Ok(self
            .store
            .write(move |tx| comms::record_handled_listing(tx, &listed, &now))
            .await?)
    }

    async fn record_seen(
        &self,
        items: &[Item],
        handled_at_office: bool,
    ) -> Result<comms::SeenCounts, SyncError> {
        let listed = listed(items, handled_at_office);
        let now = timestamp(Utc::now());
        Ok(self
            .store
            .write(move |tx| comms::record_seen(tx, &listed, &now))
            .await?)
    }

    /// Downloads, verifies and stores every document of one communication.
    ///
    /// Every listed document gets its own key ([`document_keys`]) and its own file, even when
    /// ids repeat or sanitise alike. A document recorded before (the communication was
    /// re-opened at the office) whose file still has its recorded size and SHA-256 is kept as
    /// it is; a missing or changed one is downloaded again into its recorded path.
    async fn archive_one(
        &self,
        id: &str,
        metadata_json: &str,
        batch: &mut Batch,
    ) -> Result<Archived, ItemError> {
        let raw: serde_json::Value =
            serde_json::from_str(metadata_json).map_err(|e| ItemError::Metadata {
                id: id.to_owned(),
                reason: e.to_string(),
            })?;
        let item = model::decode_item(0, &raw).map_err(|e| ItemError::Metadata {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        let recorded = {
            let me = item.id.clone();
            self.store
                .call(move |c| comms::documents_of(c, &me))
                .await
                .map_err(|e| ItemError::Metadata {
                    id: id.to_owned(),
                    reason: e.to_string(),
                })?
        };
        let several = item.documents.len() > 1;
        let keys = document_keys(&item.documents);
        let mut docs = Vec::with_capacity(item.documents.len());
        let mut sidecars = Vec::with_capacity(item.documents.len());
        let mut first_path = None;
        for (doc, key) in item.documents.iter().zip(keys) {
            let claimant = (item.id.clone(), key.clone());
            let rel = match recorded.iter().find(|r| r.key == key) {
                Some(earlier) => {
                    batch.claimed.insert(earlier.path.clone(), claimant);
                    let rel: PathBuf = earlier.path.split('/').collect();
                    match self.check_recorded(earlier).await {
                        Ok(()) => {
                            first_path.get_or_insert(rel);
                            docs.push(earlier.clone());
                            continue;
                        }
                        Err(why) => {
                            tracing::warn!(id = %item.id, "archived file {} {why}; downloading it again", earlier.path);
                            rel
                        }
                    }
                }
                None => {
                    let doc_key = DocumentKey {
                        office: OFFICE,
                        application_number: &item.application_number,
                        dispatch_date: &item.dispatch_date,
                        document_code: &item.document_code,
                        communication_id: &item.id,
                        doc_suffix: several.then_some(key.as_str()),
                        media_type: doc.media_type.as_deref(),
                    };
                    self.unclaimed_path(Archive::relative_path(&doc_key), &item.id, &key, batch)
                        .await?
                }
            };
            let stored = self.fetch(&item.id, doc, &rel).await?;
            let sidecar = json!({
                "communication": item.raw,
                "document": {
                    "document_id": doc.document_id,
                    "document_key": key,
                    "file_name": doc.file_name,
                    "media_type": doc.media_type,
                    "size": stored.size,
                    "sha256": stored.sha256,
                },
                "archived_at": timestamp(Utc::now()),
                "archived_by": concat!("mailroom ", env!("CARGO_PKG_VERSION")),
            });
            let sidecar = serde_json::to_vec(&sidecar).map_err(|e| ItemError::Metadata {
                id: id.to_owned(),
                reason: e.to_string(),
            })?;
            sidecars.push((stored.rel_path.clone(), sidecar));
            first_path.get_or_insert_with(|| stored.rel_path.clone());
            docs.push(ArchivedDoc {
                key,
                file_name: doc.file_name.clone(),
                media_type: doc.media_type.clone(),
                size: stored.size,
                sha256: stored.sha256,
                path: rel_to_string(&stored.rel_path),
            });
        }
        let letter = docs.first().cloned();
        Ok(Archived {
            id: item.id,
            docs,
            first_path: first_path.unwrap_or_default(),
            letter,
            sidecars,
        })
    }

    /// Downloads one document into `rel`: streamed into a temporary file, then verified and
    /// named ([`crate::archive::PendingFile::commit`]). A `Content-Length` above the listed
    /// size or `max_file_bytes` is refused before anything is written; a body is cut off (its
    /// temporary file removed) as soon as it passes the listed size, or `max_file_bytes` when
    /// none is listed.
    async fn fetch(
        &self,
        id: &str,
        doc: &model::Doc,
        rel: &Path,
    ) -> Result<crate::archive::StoredFile, ItemError> {
        let max = self.settings.max_file_bytes;
        let (limit_name, limit) = match doc.size {
            Some(listed) if listed <= max => ("the listed size", listed),
            _ => ("max_file_bytes", max),
        };
        let mut resp = self.client.download(id, doc).await?;
        if let Some(announced) = resp.content_length() {
            let refused = match doc.size {
                Some(listed) if announced > listed => Some(("the listed size", listed)),
                _ if announced > max => Some(("max_file_bytes", max)),
                _ => None,
            };
            if let Some((limit_name, limit)) = refused {
                return Err(ItemError::TooLong {
                    id: id.to_owned(),
                    announced,
                    limit_name,
                    limit,
                });
            }
        }
        let expect = Expectation {
            content_length: resp.content_length(),
            declared_size: doc.size,
            media_type: doc.media_type.clone(),
            content_type: resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        let mut file = self.archive.begin(rel).await?;
        let (mut received, mut first) = (0u64, true);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if received > limit {
                        file.abandon().await;
                        return Err(ItemError::BodyTooLong {
                            id: id.to_owned(),
                            received,
                            limit_name,
                            limit,
                        });
                    }
                    if let Err(e) = file.write(&chunk).await {
                        file.abandon().await;
                        return Err(e.into());
                    }
                    if first {
                        failpoint::hit("mid_download");
                        first = false;
                    }
                }
                Ok(None) => break,
                Err(source) => {
                    file.abandon().await;
                    return Err(ItemError::Body {
                        id: id.to_owned(),
                        cause: source,
                    });
                }
            }
        }
        failpoint::hit("after_download");
        Ok(file.commit(&expect).await?)
    }

    /// Whether the recorded file of a document is still there with its recorded size and
    /// SHA-256; `Err` says how it is not (for the warning).
    async fn check_recorded(&self, doc: &ArchivedDoc) -> Result<(), String> {
        let path = self.archive.root().join(doc.path.split('/').collect::<PathBuf>());
        let (size, sha256) = (doc.size, doc.sha256.clone());
        let check = move || -> Result<(), String> {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("is missing".into()),
                Err(e) => return Err(format!("cannot be read: {e}")),
            };
            let (mut hasher, mut n, mut buf) = (Sha256::new(), 0u64, vec![0u8; 256 << 10]);
            loop {
                let got =
                    std::io::Read::read(&mut f, &mut buf).map_err(|e| format!("cannot be read: {e}"))?;
                if got == 0 {
                    break;
                }
                hasher.update(&buf[..got]);
                n += got as u64;
            }
            if n != size {
                return Err(format!("has {n} bytes, {size} recorded"));
            }
            let got: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
            if got != sha256 {
                return Err(format!("has SHA-256 {got}, {sha256} recorded"));
            }
            Ok(())
        };
        tokio::task::spawn_blocking(check)
            .await
            .unwrap_or_else(|e| Err(format!("could not be checked: {e}")))
    }

    /// Two documents can sanitise to the same file name (`a/b` and `a_b`, within one
    /// communication or across two); a path that another document already holds gets a hash
    /// of this one's id and key appended, so no file ever replaces another document's.
    async fn unclaimed_path(
        &self,
        rel: PathBuf,
        id: &str,
        key: &str,
        batch: &mut Batch,
    ) -> Result<PathBuf, ItemError> {
        let path = rel_to_string(&rel);
        // The batch not yet recorded first; the database only when a file is already there
        // (a cheap stat, so the common case costs no query).
        let holder = match batch.claimed.get(&path) {
            Some(holder) => Some(holder.clone()),
            None if self.archive.root().join(&rel).exists() => {
                let (me, p) = (id.to_owned(), path.clone());
                self.store
                    .call(move |c| comms::path_holder(c, &p))
                    .await
                    .map_err(|e| ItemError::Metadata {
                        id: me,
                        reason: e.to_string(),
                    })?
            }
            None => None,
        };
        let rel = if holder.is_none_or(|(i, k)| i == id && k == key) {
            rel
        } else {
            disambiguate(&rel, id, key)
        };
        batch
            .claimed
            .insert(rel_to_string(&rel), (id.to_owned(), key.to_owned()));
        Ok(rel)
    }

    /// Marks handled what is recorded `archived`: among `among` only (a batch just recorded),
    /// or among every pending row (`None`: the backlog, and what is left at the end).
    async fn mark(
        &self,
        report: &mut Report,
        observer: &dyn Observer,
        among: Option<Vec<String>>,
    ) -> Result<(), SyncError> {
        let candidates: Vec<(String, Progress)> = match among {
            Some(ids) => self.store.call(move |c| comms::progress_of(c, &ids)).await?,
            None => self
                .store
                .call(|c| comms::pending(c))
                .await?
                .into_iter()
                .map(|p| (p.id, p.progress))
                .collect(),
        };
        let now = Utc::now().timestamp();
        let (mut to_mark, mut at_office) = (Vec::new(), Vec::new());
        for (id, progress) in candidates {
            match core::next_step(progress, now, self.settings.mark_handled) {
                Step::MarkHandled => to_mark.push(id),
                Step::RecordHandledAtOffice => at_office.push(id),
                _ => {}
            }
        }
        if !at_office.is_empty() {
            let at = timestamp(Utc::now());
            report.recorded_handled_at_office += self
                .store
                .write(move |tx| comms::record_handled(tx, &at_office, HandledBy::Office, &at))
                .await?;
        }
        let mut queue: VecDeque<Vec<String>> = to_mark
            .chunks(self.settings.batch_size as usize)
            .map(<[String]>::to_vec)
            .collect();
        // Bisecting a rejected batch takes at most 2·log2(batch) extra requests per bad id.
        let mut budget = 4 * queue.len() + 64;
        while let Some(batch) = queue.pop_front() {
            if self.stop.requested().is_some() {
                break;
            }
            if budget == 0 {
                report
                    .warnings
                    .push("mark-handled stopped: too many rejected batches".into());
                break;
            }
            budget -= 1;
            let reply = match self.client.mark_handled(&batch).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("{e}; marking resumes next cycle");
                    let reason = e.to_string();
                    report
                        .mark_problems
                        .extend(batch.iter().map(|id| (id.clone(), reason.clone())));
                    self.note_mark_error(batch, reason).await?;
                    break;
                }
            };
            failpoint::hit("after_mark_request");
            let outcome = core::interpret_mark(&batch, reply);
            queue.extend(outcome.resend);
            let handled = outcome.handled;
            let at = timestamp(Utc::now());
            let n = self
                .store
                .write(move |tx| comms::record_handled(tx, &handled, HandledBy::Mailroom, &at))
                .await?;
            failpoint::hit("after_record_handled");
            report.marked += n;
            observer.marked(n);
            for (ids, reason) in [
                (outcome.not_found, "the office does not know this communication"),
                (
                    outcome.unresolved,
                    "the office did not confirm marking it handled",
                ),
            ] {
                if !ids.is_empty() {
                    tracing::warn!(?ids, "{reason}");
                    report
                        .mark_problems
                        .extend(ids.iter().map(|id| (id.clone(), reason.to_owned())));
                    self.note_mark_error(ids, reason.to_owned()).await?;
                }
            }
        }
        Ok(())
    }

    async fn note_mark_error(&self, ids: Vec<String>, reason: String) -> Result<(), SyncError> {
        Ok(self
            .store
            .write(move |tx| comms::record_mark_error(tx, &ids, &reason))
            .await?)
    }
}

/// The rows a listing records.
fn listed(items: &[Item], handled_at_office: bool) -> Vec<Listed> {
    items
        .iter()
        .map(|it| Listed {
            id: it.id.clone(),
            office: OFFICE.into(),
            application_number: it.application_number.clone(),
            document_code: it.document_code.clone(),
            title: it.title.clone(),
            dispatch_date: it.dispatch_date.clone(),
            delivered_at: it.delivered_at.clone(),
            user_reference: it.user_reference.clone(),
            metadata_json: it.raw.to_string(),
            handled_at_office: handled_at_office || it.handled == Some(true),
        })
        .collect()
}

/// `a/b/c.pdf` on every platform (the database and exports are portable).
fn rel_to_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `stem_<8 hex of the id and document key>.ext`: a name no other document computes.
fn disambiguate(rel: &Path, id: &str, key: &str) -> PathBuf {
    let digest = Sha256::digest(format!("{id}\u{0}{key}").as_bytes());
    let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let stem = rel
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = rel
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    tracing::warn!(%id, %key, path = %rel.display(), "file name already used by another document; adding {tag}");
    rel.with_file_name(format!("{stem}_{tag}{ext}"))
}

/// The `documents` key of each listed document, in order: the office's document id (`""` for
/// the single file of a flat item). A repeated id gets `#<position>` (1-based) appended, so
/// every document of a communication has its own row (`(communication_id, document_key)` is
/// the table's key) and no document replaces another.
fn document_keys(docs: &[model::Doc]) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    docs.iter()
        .enumerate()
        .map(|(i, d)| {
            let id = d.document_id.clone().unwrap_or_default();
            let mut key = id.clone();
            // Bounded: each pass tries a new suffix, and at most `docs.len()` keys are taken.
            for n in i + 1.. {
                if used.insert(key.clone()) {
                    break;
                }
                key = format!("{id}#{n}");
            }
            key
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: Option<&str>) -> model::Doc {
        model::Doc {
            document_id: id.map(str::to_owned),
            file_name: None,
            media_type: None,
            size: None,
            href: None,
        }
    }

    #[test]
    fn every_document_gets_its_own_key() {
        let table: &[(&[Option<&str>], &[&str])] = &[
            (&[None], &[""]),
            (&[Some("d1"), Some("d2")], &["d1", "d2"]),
            (&[Some("d/1"), Some("d_1")], &["d/1", "d_1"]),
            (&[Some("d1"), Some("d1")], &["d1", "d1#2"]),
            (&[Some("d1"), Some("d1"), Some("d1")], &["d1", "d1#2", "d1#3"]),
            (&[Some("d1#2"), Some("d1"), Some("d1")], &["d1#2", "d1", "d1#3"]),
            (&[Some("x"), Some("x#2"), Some("x")], &["x", "x#2", "x#3"]),
        ];
        for (ids, expected) in table {
            let docs: Vec<_> = ids.iter().map(|i| doc(*i)).collect();
            assert_eq!(document_keys(&docs), *expected, "{ids:?}");
        }
    }

    #[test]
    fn batch_due_table() {
        let ms = Duration::from_millis;
        // (in the batch, batch size, open for, last settlement took, due)
        let table = [
            (0, 50, None, None, false),
            (0, 1, None, Some(ms(1)), false),
            (1, 50, Some(ms(0)), None, false),
            (50, 50, Some(ms(1)), Some(ms(900)), true),
            (51, 50, Some(ms(1)), None, true),
            (1, 1, Some(ms(0)), None, true),
            // Before any settlement: the lower bound.
            (12, 50, Some(ms(99)), None, false),
            (12, 50, Some(ms(100)), None, true),
            // Ten times the last settlement, within the bounds.
            (12, 50, Some(ms(100)), Some(ms(3)), true),
            (12, 50, Some(ms(299)), Some(ms(30)), false),
            (12, 50, Some(ms(300)), Some(ms(30)), true),
            (12, 50, Some(ms(1_999)), Some(ms(700)), false),
            (12, 50, Some(ms(2_000)), Some(ms(700)), true),
            (3, 50, Some(ms(60_000)), Some(Duration::MAX), true),
        ];
        for (len, size, open_for, last, due) in table {
            assert_eq!(
                batch_due(len, size, open_for, last),
                due,
                "{len}/{size} open {open_for:?} after a settlement of {last:?}"
            );
        }
    }
}
