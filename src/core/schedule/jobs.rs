//! When the daemon's jobs run: cron patterns read in the firm's time zone, across DST.
//!
//! A pattern (`"0 30 7 * * 1-5"`, seconds first; weekdays 0–6 from Sunday, or names) is read
//! in an IANA time zone, and each next fire time is computed in that zone from the wall clock
//! (croner, with chrono-tz), then turned into an instant. This is what tokio-cron-scheduler
//! gets wrong (its issue 107: it keeps the UTC offset of the day the job was created, so a
//! 07:30 job fires at 08:30 after the October change); here the daemon re-arms one timer per
//! job at each next instant instead of handing the crate a repeating job.
//!
//! DST rules (those of the Open Cron Pattern Specification, which croner implements and the
//! tests below pin):
//! - a **fixed-time** job (fixed second, minute and hour: `0 30 2 * * *`) whose time does not
//!   exist on the March change day runs once, right after the gap; in the October doubled
//!   hour it runs once, at the first pass;
//! - an **interval** job (`0 */15 * * * *`) follows the instants: it runs in both passes of a
//!   doubled hour and simply has no runs in a skipped one.
//!
//! Catch-up: on start a job runs at once when its last success is older than its most recent
//! scheduled time (it was missed while the daemon was down), or when it never succeeded.
//! Jitter only delays (never fires early), by at most `jitter_secs`.
//! No overlap: the daemon runs one job at a time; fire times that pass while a job runs are
//! coalesced into one run (the next fire time is computed from the end of the run).

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// The daemon's scheduled jobs, in the order they run when due at the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Job {
    Mailbox,
    Status,
    Export,
    Digest,
}

impl Job {
    pub const ALL: [Job; 4] = [Job::Mailbox, Job::Status, Job::Export, Job::Digest];

    /// The job's name in `sync_runs`, in `[schedule]` and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Mailbox => "mailbox",
            Job::Status => "status",
            Job::Export => "export",
            Job::Digest => "digest",
        }
    }
}

/// A cron pattern in a time zone.
#[derive(Clone, Debug)]
pub struct Cadence {
    cron: Cron,
    tz: Tz,
    pattern: String,
}

/// Why a pattern or zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CadenceError {
    #[error("{pattern:?} is not a cron pattern with seconds (e.g. \"0 */15 * * * *\"): {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("{0:?} is not an IANA time zone (e.g. \"Europe/Berlin\")")]
    Zone(String),
    #[error("{0:?} never fires")]
    Never(String),
}

/// An IANA zone name.
pub fn zone(name: &str) -> Result<Tz, CadenceError> {
    Tz::from_str(name.trim()).map_err(|_| CadenceError::Zone(name.to_owned()))
}

impl Cadence {
    /// `pattern` has six fields, seconds first.
    pub fn parse(pattern: &str, tz: Tz) -> Result<Cadence, CadenceError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(pattern.trim())
            .map_err(|e| CadenceError::Pattern {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            })?;
        let c = Cadence {
            cron,
            tz,
            pattern: pattern.trim().to_owned(),
        };
        // A pattern that can never match (`0 0 0 30 2 *`) is refused now, not at 3 a.m.
        let probe = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        c.next_after(probe)
            .map(|_| c.clone())
            .ok_or_else(|| CadenceError::Never(pattern.to_owned()))
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last fire time at or before `at` (within the last 400 days).
    pub fn last_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&at.with_timezone(&self.tz), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| at - *t < Duration::days(400))
    }
}

/// Whether a job runs as soon as the daemon starts: it never succeeded, or a scheduled time
/// passed after its last success (the daemon was down, or the run failed).
pub fn catch_up(cadence: &Cadence, last_success: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match (last_success, cadence.last_at_or_before(now)) {
        (None, _) => true,
        (Some(ok), Some(due)) => ok < due,
        (Some(_), None) => false,
    }
}

/// `fire` delayed by up to `jitter_secs` (`unit` in [0, 1) is the randomness, passed in).
pub fn jittered(fire: DateTime<Utc>, jitter_secs: u32, unit: f64) -> DateTime<Utc> {
    let delay = (f64::from(jitter_secs) * unit.clamp(0.0, 1.0)).floor() as i64;
    fire + Duration::seconds(delay.min(i64::from(jitter_secs)))
}

/// The job to run next and when: the earliest of `next`, ties in [`Job`] order.
pub fn earliest(next: &[(Job, DateTime<Utc>)]) -> Option<(Job, DateTime<Utc>)> {
    next.iter().copied().min_by_key(|(job, at)| (*at, *job))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next_n(c: &Cadence, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            at = c.next_after(at).unwrap();
            out.push(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        out
    }

    #[test]
    fn fixed_times_keep_the_wall_clock_across_dst() {
        let berlin = zone("Europe/Berlin").unwrap();
        let tokyo = zone("Asia/Tokyo").unwrap();
        let table: &[(&str, Tz, &str, &[&str])] = &[
            // 07:30 on weekdays, over the October change (25 Oct 2026, Sunday): CEST +2 → CET +1.
            (
                "0 30 7 * * 1-5",
                berlin,
                "2026-10-22T06:00:00Z",
                &[
                    "2026-10-23T05:30:00Z", // Fri 07:30 CEST
                    "2026-10-26T06:30:00Z", // Mon 07:30 CET: the same wall clock, one hour later in UTC
                    "2026-10-27T06:30:00Z",
                ],
            ),
            // Over the March change (29 Mar 2026): CET +1 → CEST +2.
            (
                "0 0 2 * * *",
                berlin,
                "2026-03-27T12:00:00Z",
                &[
                    "2026-03-28T01:00:00Z", // 02:00 CET
                    "2026-03-29T01:00:00Z", // 02:00 does not exist: right after the gap, 03:00 CEST
                    "2026-03-30T00:00:00Z", // 02:00 CEST
                ],
            ),
            // October's doubled hour: 02:30 happens twice on 25 Oct; a fixed job runs once.
            (
                "0 30 2 * * *",
                berlin,
                "2026-10-24T12:00:00Z",
                &[
                    "2026-10-25T00:30:00Z", // 02:30 CEST, the first pass
                    "2026-10-26T01:30:00Z", // the next day 02:30 CET
                ],
            ),
            // Tokyo has no DST: always +9.
            (
                "0 30 7 * * 1-5",
                tokyo,
                "2026-03-26T00:00:00Z",
                &[
                    "2026-03-26T22:30:00Z",
                    "2026-03-29T22:30:00Z",
                    "2026-03-30T22:30:00Z",
                ],
            ),
        ];
        for (pattern, tz, from, want) in table {
            let c = Cadence::parse(pattern, *tz).unwrap();
            assert_eq!(next_n(&c, from, want.len()), *want, "{pattern} in {tz}");
        }
    }

    #[test]
    fn interval_jobs_follow_the_instants_through_a_doubled_or_skipped_hour() {
        let berlin = zone("Europe/Berlin").unwrap();
        let c = Cadence::parse("0 */30 * * * *", berlin).unwrap();
        // 25 Oct 2026: 02:00–03:00 CEST is followed by 02:00–03:00 CET.
        assert_eq!(
            next_n(&c, "2026-10-24T23:45:00Z", 5),
            [
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST
                "2026-10-25T01:00:00Z", // 02:00 CET: the second pass runs too
                "2026-10-25T01:30:00Z",
                "2026-10-25T02:00:00Z", // 03:00 CET
            ]
        );
        // 29 Mar 2026: 02:00–03:00 does not exist; no run is invented for it.
        assert_eq!(
            next_n(&c, "2026-03-29T00:15:00Z", 3),
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z"
            ]
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_refused() {
        let berlin = zone("Europe/Berlin").unwrap();
        for bad in ["*/15 * * * *", "0 61 * * * *", "nonsense", "0 0 0 30 2 *"] {
            assert!(Cadence::parse(bad, berlin).is_err(), "{bad}");
        }
        assert_eq!(
            zone("Europe/Berlni"),
            Err(CadenceError::Zone("Europe/Berlni".into()))
        );
        assert!(zone("UTC").is_ok());
    }

    #[test]
    fn a_job_missed_while_down_runs_at_start() {
        let berlin = zone("Europe/Berlin").unwrap();
        let nightly = Cadence::parse("0 0 2 * * *", berlin).unwrap();
        let now = utc("2026-12-01T09:00:00Z");
        let table = [
            (None, true),                          // never ran
            (Some("2026-12-01T01:00:05Z"), false), // ran at 02:00 tonight
            (Some("2026-11-30T01:00:05Z"), true),  // last night's ran, tonight's was missed
            (Some("2026-12-01T08:00:00Z"), false), // ran by hand this morning
        ];
        for (last, want) in table {
            assert_eq!(catch_up(&nightly, last.map(utc), now), want, "{last:?}");
        }
    }

    #[test]
    fn jitter_only_delays_and_stays_within_its_bound() {
        let t = utc("2026-12-01T07:30:00Z");
        for (unit, secs) in [(0.0, 0), (0.5, 30), (0.999, 59), (1.0, 60), (7.0, 60), (-1.0, 0)] {
            assert_eq!(jittered(t, 60, unit), t + Duration::seconds(secs), "{unit}");
        }
        assert_eq!(jittered(t, 0, 0.9), t);
    }

    #[test]
    fn the_earliest_job_runs_first_and_ties_go_in_job_order() {
        let a = utc("2026-12-01T02:00:00Z");
        let b = utc("2026-12-01T02:30:00Z");
        assert_eq!(
            earliest(&[(Job::Digest, a), (Job::Status, a), (Job::Mailbox, b)]),
            Some((Job::Status, a))
        );
        assert_eq!(earliest(&[]), None);
    }
}
