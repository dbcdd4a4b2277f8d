//! The daily digest: what happened since the last one, gathered from the store.
//!
//! It covers the time since the previous digest was queued (the last 24 hours for the first
//! one), so a digest skipped on a holiday is caught up by the next one rather than lost. The
//! period's communications and changes are read from the outbox's own event log (the facts
//! as they were announced); what is still open (quarantined or waiting communications,
//! failed notifications) is read as it stands now; quota and job lines say whether the
//! silence is real. Queued as a `digest` event (`store::outbox::enqueue`), one per local day by
//! its dedupe key, and sent like every other notification.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use crate::core::jpo_quota::jst_day;
use crate::core::mailbox::State;
use crate::core::notify::{Digest, DigestDeadline, Event, EventKind, JobLine, Outstanding};
use crate::store::{StoreError, outbox, timestamp};
use crate::store::{communications, deadlines};

/// The jobs whose last runs the digest reports.
const JOBS: [&str; 2] = ["mailbox", "status"];

/// Gathers the digest for the local `day`, at `now`, listing deadlines due within
/// `horizon_days` and every one not yet acknowledged.
pub fn gather(
    conn: &Connection,
    day: &str,
    now: DateTime<Utc>,
    horizon_days: u32,
) -> Result<Digest, StoreError> {
    let until = timestamp(now);
    let since = outbox::last_digest_at(conn)?.unwrap_or_else(|| timestamp(now - Duration::hours(24)));
    let communications = outbox::events_since(conn, EventKind::Communication, &since)?
        .into_iter()
        .filter_map(|e| match e {
            Event::Communication(c) => Some(c),
            _ => None,
        })
        .collect();
    let changes = outbox::events_since(conn, EventKind::Change, &since)?
        .into_iter()
        .filter_map(|e| match e {
            Event::Change(c) => Some(c),
            _ => None,
        })
        .collect();
    let outstanding = communications::outstanding(conn)?
        .into_iter()
        .filter_map(|o| {
            let state = match o.progress.state {
                State::Quarantined => "quarantined",
                State::Seen if o.progress.attempts > 0 => "waiting",
                _ => return None,
            };
            Some(Outstanding {
                id: o.id,
                application_number: o.application_number,
                state: state.into(),
                attempts: o.progress.attempts,
                reason: o.last_error,
            })
        })
        .collect();
    Ok(Digest {
        day: day.to_owned(),
        since,
        until,
        communications,
        changes,
        outstanding,
        delivery_failures: outbox::failures(conn)?,
        quota: quota_lines(conn, now)?,
        jobs: job_lines(conn)?,
        deadlines: deadline_lines(conn, day, now, horizon_days)?,
    })
}

fn deadline_lines(
    conn: &Connection,
    day: &str,
    now: DateTime<Utc>,
    horizon_days: u32,
) -> Result<Vec<DigestDeadline>, StoreError> {
    let today = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_else(|_| now.date_naive());
    deadlines::for_digest(conn, today, horizon_days)?
        .into_iter()
        .map(|r| {
            let days_left = chrono::NaiveDate::parse_from_str(&r.due, "%Y-%m-%d")
                .map(|d| (d - today).num_days())
                .unwrap_or(0);
            let case = deadlines::case_label(conn, &r)?;
            Ok(DigestDeadline {
                id: r.id,
                case: case.unwrap_or_else(|| r.application_number.clone()),
                client_reference: r.client_reference.clone(),
                title: r.title.clone(),
                due: r.due.clone(),
                days_left,
                state: r.state.as_str().to_owned(),
                line: r.line(),
            })
        })
        .collect()
}

/// One line per office: the OPS weekly bytes last reported, the JPO's calls today (JST).
pub fn quota_lines(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let mut lines = Vec::new();
    let ops: Option<(String, Option<i64>, Option<String>)> = conn
        .query_row(
            "SELECT observed_at, week_bytes_used, throttle FROM ops_usage WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    lines.push(match ops {
        Some((at, bytes, throttle)) => format!(
            "EPO OPS: {} used this week, throttling {} (as of {at})",
            bytes.map_or_else(
                || "unknown bytes".to_owned(),
                |b| format!("{:.1} MB", b as f64 / 1e6)
            ),
            throttle.as_deref().unwrap_or("unknown")
        ),
        None => "EPO OPS: no request made yet".to_owned(),
    });
    let day = jst_day(now).to_string();
    let mut st = conn.prepare(
        "SELECT right_kind, api, used, remain, exhausted FROM jpo_usage WHERE day = ?1 ORDER BY right_kind, api",
    )?;
    let jpo = st
        .query_map([&day], |r| {
            Ok(format!(
                "JPO {} {}: {} call(s) today (JST {day}){}{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?
                    .map_or_else(String::new, |n| format!(", {n} left")),
                if r.get::<_, i64>(4)? == 1 {
                    ", cap reached"
                } else {
                    ""
                }
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if jpo.is_empty() {
        lines.push(format!("JPO: no call today (JST {day})"));
    }
    lines.extend(jpo);
    Ok(lines)
}

fn job_lines(conn: &Connection) -> Result<Vec<JobLine>, StoreError> {
    let mut out = Vec::new();
    for job in JOBS {
        // The same reading as the daemon's catch-up and `mailroom status`: a partial run did its
        // work (and the last outcome beside it says it was partial).
        let last_success = crate::store::runs::last_success(conn, job)?;
        let last: Option<(Option<String>, Option<String>)> = conn
            .query_row(
                "SELECT outcome, error FROM sync_runs WHERE job = ?1 ORDER BY id DESC LIMIT 1",
                [job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let (last_outcome, last_error) = last.unwrap_or((None, None));
        out.push(JobLine {
            job: job.to_owned(),
            last_success,
            last_outcome,
            last_error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cases::Office;
    use crate::core::notify::{CaseChanged, Routing};

    #[test]
    fn covers_since_the_last_digest_and_says_when_nothing_happened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        drop(crate::store::Store::open(&path).unwrap());
        let mut conn = Connection::open(&path).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-01T07:30:00Z")
            .unwrap()
            .to_utc();
        let empty = gather(&conn, "2026-12-01", now, 30).unwrap();
        assert!(empty.nothing_happened());
        assert_eq!(empty.since, "2026-11-30T07:30:00Z");
        assert_eq!(empty.jobs.len(), 2);
        assert!(empty.jobs.iter().all(|j| j.last_success.is_none()));
        assert_eq!(empty.quota[0], "EPO OPS: no request made yet");

        let tx = conn.transaction().unwrap();
        let change = Event::Change(CaseChanged {
            office: Office::Ep,
            case: "EP1".into(),
            number: "EP1".into(),
            right: "patent".into(),
            client_reference: None,
            status: None,
            detected_at: "2026-12-01T02:00:00Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: Vec::new(),
        });
        outbox::enqueue(&tx, &Routing::default(), &change, None, "2026-12-01T02:00:00Z").unwrap();
        outbox::enqueue(
            &tx,
            &Routing::default(),
            &Event::Digest(empty),
            None,
            "2026-11-30T07:30:00Z",
        )
        .unwrap();
        tx.commit().unwrap();
        let next = gather(&conn, "2026-12-01", now, 30).unwrap();
        assert_eq!(next.since, "2026-11-30T07:30:00Z", "from the last digest");
        assert_eq!(next.changes.len(), 1);
        assert!(!next.nothing_happened());
    }
}
