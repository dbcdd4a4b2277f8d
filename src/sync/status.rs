//! One case-status cycle: the I/O shell around `core::status` and `core::schedule`.
//!
//! 1. **Cases from the mailbox**: every EP application number of a stored communication
//!    becomes a case (`source = mailbox`) unless it is known — a removed case stays removed.
//! 2. **EP**: every tracked EP case, one OPS register request each (`biblio,events,
//!    procedural-steps`), paced by the OPS client. A cycle-level failure (quota, credentials,
//!    the office down beyond retries) stops the EP part; a case-level one (not in the Register,
//!    a body that does not parse) is recorded on the case and the cycle goes on.
//! 3. **JP**: the cases `core::schedule::choose_jp` picks within today's remaining caps (the
//!    counters are loaded from SQLite, kept by the client, and written back with each case).
//! 4. For each answer: diff against the latest snapshot → fingerprint → in **one
//!    transaction** the snapshot (only if the fingerprint changed), its change events and the
//!    case's current status. A case's first snapshot is a baseline: it yields no change events.
//!
//! A case the office does not know (OPS: not in the Register; JPO: no such application) is
//! not a failure: it is reported once, in the run that first finds it missing, and then looked
//! up again only when `core::schedule::not_found_wait_days` says (1, 2, 4, … 30 days); runs in
//! between skip it and only count it. Refused credentials and an office that cannot be reached
//! are [`Report::needs_person`]: that office's part stops and the job exits 1.
//!
//! An EP case keyed by a publication number is resolved by its first Register answer: the
//! answer names the application, the case is re-keyed to it (merged with the application's
//! case if that is followed too) before the answer is recorded, so one application is one case.
//!
//! `now` is an argument, not read here, so a benchmark can run simulated days.

use chrono::{DateTime, Duration, Utc};

use crate::config;
use crate::core::cases::{CaseKey, Kind, Office, parse_case};
use crate::core::family::pct_for_jpo;
use crate::core::jpo_quota::{ApiUsage, jst_day};
use crate::core::notify::{Event, OfficeStopped};
use crate::core::schedule::{JpCandidate, Lookup, choose_jp, lookups_due, not_found_wait_days};
use crate::core::status::{self, CaseStatus};
use crate::offices::jpo::contract as jpo_contract;
use crate::offices::jpo::{JpoClient, JpoError};
use crate::offices::ops::{OpsClient, OpsError};
use crate::store::cases::{self as cases_db, CaseRow};
use crate::store::family as family_db;
use crate::store::runs::{self, Outcome, Totals};
use crate::store::{Store, StoreError, deadlines, jpo_usage, outbox, timestamp};

/// The JPO API the status cycle uses.
pub const JPO_API: &str = "app_progress";

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no case {0} is tracked; add it with `mailroom cases add`")]
    UnknownCase(String),
}

/// What one status cycle did.
#[derive(Debug, Default)]
pub struct Report {
    pub run_id: i64,
    pub added_from_mailbox: usize,
    pub ep_checked: usize,
    pub jp_checked: usize,
    /// JP cases not due today or beyond today's caps.
    pub jp_deferred: usize,
    /// (case, summary) of every change event found, in order.
    pub changes: Vec<(String, String)>,
    /// (case, reason) for cases whose refresh failed; they keep their last known status.
    pub failed: Vec<(String, String)>,
    /// (case, reason, day of the next lookup) for cases this run found unknown at the office
    /// for the first time (the lookup before succeeded, or there was none): each is reported
    /// once.
    pub not_found: Vec<(String, String, String)>,
    /// Cases looked up again that the office still does not know (already reported).
    pub still_not_found: usize,
    /// Cases the office did not know, skipped until their next lookup is due.
    pub not_found_waiting: usize,
    /// What a person must fix before an office can be asked at all (credentials refused, the
    /// office unreachable): one line each, naming the office and the configuration key.
    pub needs_person: Vec<String>,
    /// Why a part of the cycle stopped early (quota, office errors beyond the retries).
    pub stopped: Vec<String>,
    /// Worth knowing, not a failure (e.g. a JPO daily cap reached earlier than counted).
    pub notes: Vec<String>,
    /// `(office, reason)` of each office part that stopped (credentials, quota, the office
    /// down beyond the retries): each becomes an `office_stop` admin notification, written
    /// with the run's end.
    pub office_stops: Vec<(&'static str, String)>,
    /// Family lookups made (OPS `inpadoc`) and PCT national-phase lookups made (JPO).
    pub family_lookups: usize,
    pub pct_lookups: usize,
    /// JP counterparts this cycle started following: (JP case, what it belongs to).
    pub counterparts_followed: Vec<(String, String)>,
    /// JP members found whose number is not mapped: (EP case, raw reference, why).
    pub counterparts_unmapped: Vec<(String, String, String)>,
    /// Family and PCT lookups due but left for a later cycle (the per-cycle share, a cap).
    pub lookups_deferred: usize,
    pub ops_requests: u64,
    pub ops_rejected: u64,
    pub jpo_requests: u64,
    pub jpo_daily_cap_replies: u64,
    pub jpo_busy_replies: u64,
}

impl Report {
    /// Everything asked was done: every due case was refreshed or found unknown at the office.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.stopped.is_empty() && self.needs_person.is_empty()
    }

    /// Cases the office does not know, reported now or earlier.
    pub fn not_found_total(&self) -> usize {
        self.not_found.len() + self.still_not_found + self.not_found_waiting
    }
}

/// Progress of a cycle, for a bar or log lines.
pub trait Observer {
    fn planned(&self, _cases: usize) {}
    /// JP counterparts found during the cycle and refreshed in it as well.
    fn planned_more(&self, _cases: usize) {}
    fn checked(&self, _case: &str, _changes: &[String]) {}
    fn failed(&self, _case: &str, _reason: &str) {}
    fn not_found(&self, _case: &str, _reason: &str) {}
}

impl Observer for crate::sync::mailbox::Quiet {}

pub struct StatusSync<'a> {
    pub store: &'a Store,
    pub ops: Option<&'a OpsClient>,
    pub jpo: Option<(&'a JpoClient, &'a config::Jpo)>,
    pub counterparts: &'a config::Counterparts,
}

impl StatusSync<'_> {
    /// Runs one cycle over every tracked case, or only `only`.
    pub async fn run_cycle(
        &self,
        only: Option<&CaseKey>,
        now: DateTime<Utc>,
        observer: &dyn Observer,
    ) -> Result<Report, StatusError> {
        let stamp = timestamp(now);
        let s = stamp.clone();
        let run_id = self.store.call(move |c| runs::start(c, "status", &s)).await?;
        let mut report = Report {
            run_id,
            ..Report::default()
        };
        report.added_from_mailbox = self.cases_from_mailbox(&stamp).await?;
        let all = self.store.call(|c| cases_db::list(c)).await?;
        let all: Vec<CaseRow> = match only {
            Some(key) => {
                let one: Vec<CaseRow> = all.into_iter().filter(|c| c.key() == *key).collect();
                if one.is_empty() {
                    return Err(StatusError::UnknownCase(key.label()));
                }
                one
            }
            None => {
                let (waiting, due): (Vec<CaseRow>, Vec<CaseRow>) =
                    all.into_iter().partition(|c| c.waits_after_not_found(&stamp));
                report.not_found_waiting = waiting.len();
                due
            }
        };
        let (ep, mut jp): (Vec<CaseRow>, Vec<CaseRow>) =
            all.into_iter().partition(|c| c.office == Office::Ep);
        let mut jp_chosen = self.choose_jp(&jp, now, only.is_some()).await?;
        let ep_count = if self.ops.is_some() { ep.len() } else { 0 };
        observer.planned(ep_count + jp_chosen.len());

        let mut result = self.run_ep(&ep, now, observer, &mut report).await;
        if result.is_ok() && only.is_none() && self.counterparts.enabled {
            result = self.run_counterparts(now, &mut report).await;
            if result.is_ok() && !report.counterparts_followed.is_empty() {
                // Newly followed counterparts were never checked: the rotation puts them
                // first, within what today's caps leave.
                let fresh = self.store.call(|c| cases_db::list(c)).await?;
                jp = fresh
                    .into_iter()
                    .filter(|c| c.office == Office::Jp && !c.waits_after_not_found(&stamp))
                    .collect();
                let before = jp_chosen.len();
                jp_chosen = self.choose_jp(&jp, now, false).await?;
                observer.planned_more(jp_chosen.len().saturating_sub(before));
            }
        }
        report.jp_deferred = jp.len() - jp_chosen.len();
        let result = match result {
            Ok(()) => self.run_jp(&jp_chosen, now, observer, &mut report).await,
            Err(e) => Err(e),
        };
        if let Some(ops) = self.ops {
            let st = ops.stats();
            report.ops_requests = st.requests;
            report.ops_rejected = st.forbidden_total();
        }
        if let Some((jpo, _)) = self.jpo {
            let st = jpo.stats();
            report.jpo_requests = st.requests;
            report.jpo_daily_cap_replies = st.status("203");
            report.jpo_busy_replies = st.status("303");
        }
        let totals = Totals {
            listed: (ep.len() + jp.len()) as u64,
            failed: report.failed.len() as u64,
            checked: (report.ep_checked + report.jp_checked) as u64,
            changes: report.changes.len() as u64,
            ..Totals::default()
        };
        let (outcome, error) = match &result {
            Err(e) => (Outcome::Failed, Some(e.to_string())),
            Ok(()) if !report.needs_person.is_empty() => {
                (Outcome::Failed, Some(report.needs_person.join("; ")))
            }
            Ok(()) if report.is_complete() => (Outcome::Ok, None),
            Ok(()) => (Outcome::Partial, report.stopped.first().cloned()),
        };
        let end = timestamp(Utc::now().max(now));
        let stops: Vec<Event> = report
            .office_stops
            .iter()
            .map(|(office, reason)| {
                Event::OfficeStop(OfficeStopped {
                    office: (*office).to_owned(),
                    job: "status".into(),
                    reason: reason.clone(),
                    action: None,
                    stopped_at: end.clone(),
                })
            })
            .collect();
        let routing = self.store.routing();
        self.store
            .write(move |tx| {
                runs::finish(tx, run_id, totals, outcome, error.as_deref(), &end)?;
                for e in &stops {
                    outbox::enqueue(tx, &routing, e, Some(run_id), &end)?;
                }
                Ok(())
            })
            .await?;
        result.map(|()| report)
    }

    async fn cases_from_mailbox(&self, stamp: &str) -> Result<usize, StatusError> {
        let apps = self.store.call(|c| cases_db::mailbox_applications(c)).await?;
        let stamp = stamp.to_owned();
        let added = self
            .store
            .write(move |tx| {
                let mut added = 0;
                for (number, reference) in &apps {
                    // PCT numbers and anything else that is not an EP application stay mailbox-only.
                    let Ok(key) = parse_case(number, Some(Office::Ep), None) else {
                        tracing::debug!(%number, "mailbox application number is not an EP case");
                        continue;
                    };
                    if cases_db::add_from_mailbox(tx, &key, number, reference.as_deref(), &stamp)? {
                        added += 1;
                    }
                }
                Ok(added)
            })
            .await?;
        Ok(added)
    }

    async fn choose_jp(
        &self,
        jp: &[CaseRow],
        now: DateTime<Utc>,
        forced: bool,
    ) -> Result<Vec<CaseRow>, StatusError> {
        let Some((client, cfg)) = self.jpo else {
            return Ok(Vec::new());
        };
        let today = jst_day(now);
        let stored = self.store.call(move |c| jpo_usage::load(c, today)).await?;
        client.restore_usage(stored);
        if forced {
            return Ok(jp.to_vec());
        }
        let recent = today - Duration::days(i64::from(cfg.priority_days));
        let candidates: Vec<JpCandidate> = jp
            .iter()
            .map(|c| JpCandidate {
                id: c.id,
                kind: c.kind,
                last_checked: c.checked_at.as_deref().and_then(day_of),
                priority: c
                    .last_change_at
                    .as_deref()
                    .and_then(day_of)
                    .is_some_and(|d| d >= recent),
            })
            .collect();
        let chosen = choose_jp(
            &candidates,
            today,
            |_| cfg.daily_cap,
            |k| client.remaining(k, today),
        );
        Ok(chosen
            .into_iter()
            .filter_map(|id| jp.iter().find(|c| c.id == id).cloned())
            .collect())
    }

    async fn run_ep(
        &self,
        ep: &[CaseRow],
        now: DateTime<Utc>,
        observer: &dyn Observer,
        report: &mut Report,
    ) -> Result<(), StatusError> {
        let Some(ops) = self.ops else {
            if !ep.is_empty() {
                report.stopped.push(format!(
                    "{} EP case(s) not checked: [ops] is not configured",
                    ep.len()
                ));
            }
            return Ok(());
        };
        for (i, case) in ep.iter().enumerate() {
            match ops.register(&case.number).await {
                Ok(st) => {
                    let case = &self.resolve(case, &st.application_number).await?;
                    let changes = self
                        .record(case, CaseStatus::Ep(st), now, Vec::new(), report.run_id)
                        .await?;
                    report.ep_checked += 1;
                    observer.checked(&case.label(), &changes);
                    push_changes(report, case, changes);
                }
                Err(e @ OpsError::NotFound { .. }) => {
                    self.not_found(case, &e.to_string(), now, observer, report)
                        .await?;
                }
                Err(e) if e.is_case_error() => {
                    let reason = e.to_string();
                    self.fail(case, &reason, now).await?;
                    observer.failed(&case.label(), &reason);
                    report.failed.push((case.label(), reason));
                }
                Err(e) if e.needs_person() => {
                    report.needs_person.push(e.to_string());
                    report.office_stops.push(("EPO OPS", e.to_string()));
                    break;
                }
                Err(e) => {
                    // Not this case's doing: it keeps its status and no error is pinned on it.
                    report.office_stops.push(("EPO OPS", e.to_string()));
                    report.stopped.push(format!(
                        "EP status stopped, {} case(s) not refreshed this cycle: {e}",
                        ep.len() - i
                    ));
                    break;
                }
            }
        }
        let st = ops.stats();
        let stamp = timestamp(now);
        self.store
            .call(move |c| {
                cases_db::save_ops_usage(
                    c,
                    st.week_bytes_used,
                    st.hour_bytes_used,
                    st.last_throttling.as_deref(),
                    &stamp,
                )
            })
            .await?;
        Ok(())
    }

    /// Family lookups (OPS) for EP cases and national-phase lookups (JPO) for PCT
    /// applications that are due, within the per-cycle share and the offices' caps; every JP
    /// counterpart found is followed or linked in the lookup's transaction (`store::family`).
    async fn run_counterparts(&self, now: DateTime<Utc>, report: &mut Report) -> Result<(), StatusError> {
        let today = now.date_naive();
        let every = self.counterparts.refresh_days;
        let max = self.counterparts.max_per_cycle;
        // An office that stopped the EP part (credentials, quota, down) stays stopped for the
        // cycle: its stop is reported once.
        let ops_stopped = report.office_stops.iter().any(|(office, _)| *office == "EPO OPS");
        if let Some(ops) = self.ops.filter(|_| !ops_stopped) {
            let cands = self.store.call(|c| family_db::family_candidates(c)).await?;
            let lookups: Vec<Lookup> = cands
                .iter()
                .map(|c| Lookup {
                    id: c.case_id,
                    last: c.last.as_deref().and_then(utc_day_of),
                })
                .collect();
            let due = lookups_due(&lookups, today, every, usize::MAX);
            report.lookups_deferred += due.len().saturating_sub(max);
            for (i, id) in due.iter().take(max).enumerate() {
                let Some(case) = cands.iter().find(|c| c.case_id == *id) else {
                    continue;
                };
                match ops.family(&case.number).await {
                    Ok(family) => {
                        report.family_lookups += 1;
                        let (id, number, stamp) = (case.case_id, case.number.clone(), timestamp(now));
                        let recorded = self
                            .store
                            .write(move |tx| {
                                family_db::record_family(tx, id, &number, family.as_ref(), &stamp)
                            })
                            .await?;
                        for l in recorded.followed() {
                            tracing::info!(ep = %case.number, jp = %l.case, "following a JP counterpart found in the INPADOC family");
                            report
                                .counterparts_followed
                                .push((l.case.clone(), case.number.clone()));
                        }
                        for (raw, why) in recorded.unmapped {
                            report.counterparts_unmapped.push((case.number.clone(), raw, why));
                        }
                    }
                    Err(e) if e.is_case_error() => {
                        report
                            .failed
                            .push((case.number.clone(), format!("family lookup: {e}")));
                    }
                    Err(e) => {
                        if e.needs_person() {
                            report.needs_person.push(e.to_string());
                        } else {
                            report.stopped.push(format!(
                                "family lookups stopped, {} left for the next cycle: {e}",
                                due.len().min(max) - i
                            ));
                        }
                        report.office_stops.push(("EPO OPS", e.to_string()));
                        break;
                    }
                }
            }
        }
        if let Some((jpo, _)) = self.jpo {
            self.run_pct(jpo, now, report).await?;
        }
        Ok(())
    }

    async fn run_pct(
        &self,
        jpo: &JpoClient,
        now: DateTime<Utc>,
        report: &mut Report,
    ) -> Result<(), StatusError> {
        let today = now.date_naive();
        let cands = self.store.call(|c| family_db::pct_candidates(c)).await?;
        let open: Vec<&family_db::PctCandidate> = cands.iter().filter(|c| !c.found).collect();
        let lookups: Vec<Lookup> = open
            .iter()
            .enumerate()
            .map(|(i, c)| Lookup {
                id: i as i64,
                last: c.last.as_deref().and_then(utc_day_of),
            })
            .collect();
        let due = lookups_due(&lookups, today, self.counterparts.refresh_days, usize::MAX);
        let share = self.counterparts.max_per_cycle;
        report.lookups_deferred += due.len().saturating_sub(share);
        let stamp = timestamp(now);
        for (n, i) in due.iter().take(share).enumerate() {
            let Some(c) = usize::try_from(*i).ok().and_then(|i| open.get(i)) else {
                continue;
            };
            let number = c.number.clone();
            let form = match pct_for_jpo(&number) {
                Ok(f) => f,
                Err(e) => {
                    let (why, s) = (e.to_string(), stamp.clone());
                    self.store
                        .write(move |tx| family_db::record_pct(tx, &number, None, None, Some(&why), &s))
                        .await?;
                    continue;
                }
            };
            let result = jpo.pct_national_phase(&form, now).await;
            let usage = jpo.usage();
            match result {
                Ok(found) => {
                    report.pct_lookups += 1;
                    let s = stamp.clone();
                    let linked = self
                        .store
                        .write(move |tx| {
                            jpo_usage::save(tx, &usage)?;
                            family_db::record_pct(tx, &number, Some(&form), found.as_deref(), None, &s)
                        })
                        .await?;
                    if let Some(l) = linked.filter(|l| l.action == "followed") {
                        tracing::info!(pct = %c.number, jp = %l.case, "following the JP national phase of a PCT application");
                        report.counterparts_followed.push((l.case, c.number.clone()));
                    }
                }
                // The client refuses locally once it knows the cap is used up (no request,
                // no 203), and says the same when the office answers 203.
                Err(JpoError::DailyCapReached { .. }) => {
                    self.save_usage(usage).await?;
                    report.lookups_deferred += due.len().min(share) - n;
                    report.notes.push(format!(
                        "JPO {}: today's cap is used up; the PCT lookups wait for 00:00 JST",
                        jpo_contract::PCT_NATIONAL_PHASE
                    ));
                    break;
                }
                Err(e) if e.is_case_error() => {
                    self.save_usage(usage).await?;
                    report
                        .failed
                        .push((c.number.clone(), format!("national-phase lookup: {e}")));
                }
                Err(e) => {
                    self.save_usage(usage).await?;
                    if e.needs_person() {
                        report.needs_person.push(e.to_string());
                    } else {
                        report.stopped.push(format!(
                            "PCT lookups stopped, {} left for the next cycle: {e}",
                            due.len().min(share) - n
                        ));
                    }
                    report.office_stops.push(("JPO", e.to_string()));
                    break;
                }
            }
        }
        Ok(())
    }

    async fn run_jp(
        &self,
        jp: &[CaseRow],
        now: DateTime<Utc>,
        observer: &dyn Observer,
        report: &mut Report,
    ) -> Result<(), StatusError> {
        let Some((client, _)) = self.jpo else {
            if !jp.is_empty() {
                report.stopped.push(format!(
                    "{} JP case(s) not checked: [jpo] is not configured",
                    jp.len()
                ));
            }
            return Ok(());
        };
        let mut capped: Vec<Kind> = Vec::new();
        for (i, case) in jp.iter().enumerate() {
            if capped.contains(&case.kind) {
                report.jp_deferred += 1;
                continue;
            }
            let result = client.app_progress(case.kind, &case.number, now).await;
            let usage = client.usage();
            match result {
                Ok(st) => {
                    let changes = self
                        .record(case, CaseStatus::Jp(st), now, usage, report.run_id)
                        .await?;
                    report.jp_checked += 1;
                    observer.checked(&case.label(), &changes);
                    push_changes(report, case, changes);
                }
                Err(JpoError::DailyCapReached { .. }) => {
                    self.save_usage(usage).await?;
                    capped.push(case.kind);
                    report.jp_deferred += 1;
                    report.notes.push(format!(
                        "JPO {} {JPO_API}: the office says today's cap is used up; the rest waits for 00:00 JST",
                        case.kind
                    ));
                }
                Err(e @ JpoError::NotFound { .. }) => {
                    self.save_usage(usage).await?;
                    self.not_found(case, &e.to_string(), now, observer, report)
                        .await?;
                }
                Err(e) if e.is_case_error() => {
                    self.save_usage(usage).await?;
                    let reason = e.to_string();
                    self.fail(case, &reason, now).await?;
                    observer.failed(&case.label(), &reason);
                    report.failed.push((case.label(), reason));
                }
                Err(e) if e.needs_person() => {
                    self.save_usage(usage).await?;
                    report.needs_person.push(e.to_string());
                    report.office_stops.push(("JPO", e.to_string()));
                    break;
                }
                Err(e) => {
                    self.save_usage(usage).await?;
                    report.office_stops.push(("JPO", e.to_string()));
                    report.stopped.push(format!(
                        "JP status stopped, {} case(s) not refreshed this cycle: {e}",
                        jp.len() - i
                    ));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Diffs, fingerprints and records one answer (with the JPO counters, if any) in one
    /// transaction. Returns the summaries of the change events written.
    async fn record(
        &self,
        case: &CaseRow,
        new: CaseStatus,
        now: DateTime<Utc>,
        usage: Vec<ApiUsage>,
        run_id: i64,
    ) -> Result<Vec<String>, StatusError> {
        let id = case.id;
        let label = case.label();
        let stamp = timestamp(now);
        let routing = self.store.routing();
        let policy = self.store.deadlines();
        let today = policy.today(now);
        let number = case.number.clone();
        let summaries = self
            .store
            .write(move |tx| {
                let old = cases_db::latest_snapshot(tx, id)?;
                let changes = match &old {
                    Some(old) => status::diff(&label, old, &new),
                    None => Vec::new(),
                };
                let fp = status::fingerprint(&new);
                let current = status::current(&new);
                // The deadlines new JPO documents start, told with the change that shows them.
                let jp_deadlines = match &new {
                    CaseStatus::Jp(jp) => deadlines::propose_jp(tx, &policy, id, &number, jp, today, &stamp)?,
                    CaseStatus::Ep(_) => Vec::new(),
                };
                if cases_db::record_check(tx, id, &new, &fp, &current, &changes, &stamp)? > 0 {
                    let mut event = outbox::change_event(tx, id, &changes, &stamp)?;
                    if let Event::Change(c) = &mut event {
                        c.deadlines = jp_deadlines;
                    }
                    outbox::enqueue(tx, &routing, &event, Some(run_id), &stamp)?;
                }
                // The Register as a second source for the deadlines of the same case.
                if let CaseStatus::Ep(ep) = &new {
                    for e in deadlines::cross_check(tx, &policy, id, &number, &ep.steps, today, &stamp)? {
                        outbox::enqueue(tx, &routing, &e, Some(run_id), &stamp)?;
                    }
                }
                jpo_usage::save(tx, &usage)?;
                Ok(changes.into_iter().map(|c| c.summary).collect())
            })
            .await?;
        crate::failpoint::hit("after_record_check");
        Ok(summaries)
    }

    async fn fail(&self, case: &CaseRow, reason: &str, now: DateTime<Utc>) -> Result<(), StatusError> {
        let id = case.id;
        let reason = reason.to_owned();
        let stamp = timestamp(now);
        self.store
            .call(move |c| cases_db::record_failure(c, id, &reason, &stamp))
            .await?;
        Ok(())
    }

    /// The office does not know `case`: schedules its next lookup, and reports it unless the
    /// lookup before had already found it missing.
    async fn not_found(
        &self,
        case: &CaseRow,
        reason: &str,
        now: DateTime<Utc>,
        observer: &dyn Observer,
        report: &mut Report,
    ) -> Result<(), StatusError> {
        let misses = if case.not_found {
            case.not_found_misses.saturating_add(1)
        } else {
            1
        };
        let next = now + Duration::days(i64::from(not_found_wait_days(misses)));
        let (id, why, next_at, stamp) = (case.id, reason.to_owned(), timestamp(next), timestamp(now));
        self.store
            .call(move |c| cases_db::record_not_found(c, id, &why, misses, &next_at, &stamp))
            .await?;
        observer.not_found(&case.label(), reason);
        if misses == 1 {
            report.not_found.push((
                case.label(),
                reason.to_owned(),
                next.format("%Y-%m-%d").to_string(),
            ));
        } else {
            report.still_not_found += 1;
        }
        Ok(())
    }

    /// The case an EP answer belongs to: a case keyed by a publication is re-keyed to the
    /// application the answer names (merged with that application's case if it is followed
    /// too). Any other case, or an answer naming no application, is `case` itself.
    async fn resolve(&self, case: &CaseRow, application: &str) -> Result<CaseRow, StatusError> {
        let is_application = parse_case(application, Some(Office::Ep), None)
            .is_ok_and(|k| !k.is_ep_publication() && k.number == application);
        if !case.key().is_ep_publication() || !is_application {
            return Ok(case.clone());
        }
        let (publication, application) = (case.number.clone(), application.to_owned());
        let id = case.id;
        let resolved = self
            .store
            .write(move |tx| {
                let survivor = cases_db::resolve_publication(tx, &publication, &application)?;
                cases_db::get(tx, survivor.unwrap_or(id))
            })
            .await?;
        tracing::info!(
            publication = %case.number,
            application = %resolved.number,
            "the Register resolved a publication to its application"
        );
        Ok(resolved)
    }

    async fn save_usage(&self, usage: Vec<ApiUsage>) -> Result<(), StatusError> {
        self.store.write(move |tx| jpo_usage::save(tx, &usage)).await?;
        Ok(())
    }
}

fn push_changes(report: &mut Report, case: &CaseRow, changes: Vec<String>) {
    let label = case.label();
    report
        .changes
        .extend(changes.into_iter().map(|s| (label.clone(), s)));
}

/// The UTC day of a stored RFC 3339 timestamp (the day lookups are counted in).
fn utc_day_of(ts: &str) -> Option<chrono::NaiveDate> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc).date_naive())
}

/// The JST day of a stored RFC 3339 timestamp (the JPO's day, which its caps follow).
fn day_of(ts: &str) -> Option<chrono::NaiveDate> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| jst_day(t.with_timezone(&Utc)))
}
