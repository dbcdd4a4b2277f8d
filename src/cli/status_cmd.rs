//! `mailroom status [--json]`: how mailroom is doing, for the admin. Each job's last start,
//! success and failure and its next scheduled run; communications by state and the
//! quarantined ones; cases by how fresh their status is; the deadlines and what the Register
//! says of them; quota use per office; the outbox.
//! Read-only: it takes no lock and works while the daemon runs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, Schedule};
use crate::core::schedule::jobs::Job;
use crate::store::{Store, communications, outbox, runs, timestamp};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct JobStatus {
    job: &'static str,
    /// Off when its part is not configured (`[myepo]`; `[ops]`/`[jpo]`; `[export] dir`;
    /// `[notify.digest] to`).
    enabled: bool,
    last_start: Option<String>,
    last_success: Option<String>,
    last_failure: Option<String>,
    last_error: Option<String>,
    next_run: Option<String>,
}

#[derive(Serialize)]
struct Report {
    at: String,
    time_zone: String,
    jobs: Vec<JobStatus>,
    communications: Vec<(String, i64)>,
    quarantined: Vec<(String, String)>,
    /// Followed cases by the age of their last successful check.
    cases: Vec<(String, i64)>,
    /// JP counterparts followed by how they were found, and JP family members not mapped.
    counterparts: Vec<(String, i64)>,
    /// Deadlines by what needs a person: open, past, flagged by the Register, and Register
    /// time limits no communication explains.
    deadlines: Vec<(String, i64)>,
    quota: Vec<String>,
    outbox_pending: u64,
    outbox_failed: u64,
}

fn gather(
    c: &rusqlite::Connection,
    schedule: &Schedule,
    enabled: &[Job],
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> Result<Report, crate::store::StoreError> {
    let mut jobs = Vec::new();
    for job in Job::ALL {
        let one = |sql: &str| -> Result<Option<String>, rusqlite::Error> {
            use rusqlite::OptionalExtension;
            Ok(c.query_row(sql, [job.as_str()], |r| r.get(0))
                .optional()?
                .flatten())
        };
        let on = enabled.contains(&job);
        jobs.push(JobStatus {
            job: job.as_str(),
            enabled: on,
            last_start: one("SELECT max(started_at) FROM sync_runs WHERE job = ?1")?,
            last_success: runs::last_success(c, job.as_str())?,
            last_failure: one("SELECT max(finished_at) FROM sync_runs WHERE job = ?1 AND outcome IN ('failed', 'interrupted')")?,
            last_error: one(
                "SELECT error FROM sync_runs WHERE job = ?1 AND outcome IN ('failed', 'interrupted') ORDER BY id DESC LIMIT 1",
            )?,
            next_run: schedule.cadence(job).next_after(now).filter(|_| on).map(timestamp),
        });
    }
    let mut st = c.prepare("SELECT state, count(*) FROM communications GROUP BY state ORDER BY state")?;
    let by_state = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let day = timestamp(now - chrono::Duration::days(1));
    let week = timestamp(now - chrono::Duration::days(7));
    let count = |sql: &str, p: &[&str]| -> Result<i64, rusqlite::Error> {
        c.query_row(
            &format!("SELECT count(*) FROM cases WHERE removed_at IS NULL AND {sql}"),
            rusqlite::params_from_iter(p),
            |r| r.get(0),
        )
    };
    let cases = vec![
        (
            "checked within a day".to_owned(),
            count("checked_at >= ?1", &[&day])?,
        ),
        (
            "checked within a week".to_owned(),
            count("checked_at < ?1 AND checked_at >= ?2", &[&day, &week])?,
        ),
        (
            "checked longer ago".to_owned(),
            count("checked_at < ?1", &[&week])?,
        ),
        ("never checked".to_owned(), count("checked_at IS NULL", &[])?),
    ];
    let counterparts = vec![
        (
            "followed from INPADOC families".to_owned(),
            count("source = 'family'", &[])?,
        ),
        (
            "followed from PCT national phases".to_owned(),
            count("source = 'pct'", &[])?,
        ),
        (
            "JP family member(s) not mapped (`mailroom cases show EP…` says why)".to_owned(),
            c.query_row(
                "SELECT count(*) FROM family_members WHERE country = 'JP' AND jp_number IS NULL",
                [],
                |r| r.get(0),
            )?,
        ),
    ];
    let today = today.format("%Y-%m-%d").to_string();
    let deadline_count = |sql: &str, p: &[&str]| -> Result<i64, rusqlite::Error> {
        c.query_row(
            &format!("SELECT count(*) FROM deadlines WHERE {sql}"),
            rusqlite::params_from_iter(p),
            |r| r.get(0),
        )
    };
    let deadlines =
        vec![
        (
            "not yet acknowledged".to_owned(),
            deadline_count("state = 'open'", &[])?,
        ),
        (
            "acknowledged, to come".to_owned(),
            deadline_count("state = 'acknowledged' AND due >= ?1", &[&today])?,
        ),
        (
            "past and neither done nor withdrawn".to_owned(),
            deadline_count("state IN ('open', 'acknowledged') AND due < ?1", &[&today])?,
        ),
        (
            "the Register disagrees with".to_owned(),
            deadline_count("state IN ('open', 'acknowledged') AND register = 'disagrees'", &[])?,
        ),
        (
            "Register time limit(s) with no communication".to_owned(),
            c.query_row(
                "SELECT count(*) FROM register_limits WHERE deadline_id IS NULL AND reported_at IS NOT NULL",
                [],
                |r| r.get(0),
            )?,
        ),
    ];
    let (outbox_pending, outbox_failed) = outbox::counts(c)?;
    Ok(Report {
        at: timestamp(now),
        time_zone: schedule.time_zone.clone(),
        jobs,
        communications: by_state,
        quarantined: communications::quarantined(c)?,
        cases,
        counterparts,
        deadlines,
        quota: crate::notify::digest::quota_lines(c, now)?,
        outbox_pending,
        outbox_failed,
    })
}

fn text(r: &Report) -> String {
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "mailroom status at {} (schedule in {})\n\njobs:\n",
        r.at, r.time_zone
    );
    for j in &r.jobs {
        out.push_str(&format!(
            "  {:<8} last start {}  last success {}  last failure {}  next {}\n",
            j.job,
            dash(&j.last_start),
            dash(&j.last_success),
            dash(&j.last_failure),
            if j.enabled {
                dash(&j.next_run)
            } else {
                "off (not configured)".into()
            }
        ));
        if let Some(e) = &j.last_error {
            out.push_str(&format!("           last error: {e}\n"));
        }
    }
    out.push_str("\ncommunications:");
    if r.communications.is_empty() {
        out.push_str(" none yet");
    }
    for (state, n) in &r.communications {
        out.push_str(&format!(" {n} {state};"));
    }
    out.push('\n');
    for (id, why) in &r.quarantined {
        out.push_str(&format!(
            "  QUARANTINED {id}: {why} (`mailroom communications retry {id}`)\n"
        ));
    }
    out.push_str("cases:");
    for (label, n) in &r.cases {
        out.push_str(&format!(" {n} {label};"));
    }
    out.push_str("\nJP counterparts:");
    for (label, n) in &r.counterparts {
        out.push_str(&format!(" {n} {label};"));
    }
    out.push_str("\ndeadlines:");
    for (label, n) in &r.deadlines {
        out.push_str(&format!(" {n} {label};"));
    }
    if r.deadlines.iter().any(|(_, n)| *n > 0) {
        out.push_str(" (`mailroom deadlines`)");
    }
    out.push_str("\nquota:\n");
    for q in &r.quota {
        out.push_str(&format!("  {q}\n"));
    }
    out.push_str(&format!(
        "outbox: {} pending, {} failed{}\n",
        r.outbox_pending,
        r.outbox_failed,
        if r.outbox_failed > 0 {
            " (`mailroom outbox --failed`)"
        } else {
            ""
        }
    ));
    out
}

pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let schedule = cfg.schedule.clone();
    let enabled = super::run::enabled(cfg);
    let now = Utc::now();
    let today = cfg.deadlines.today(now);
    let report = store
        .call(move |conn| gather(conn, &schedule, &enabled, now, today))
        .await?;
    if args.json {
        return super::print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"));
    }
    super::print_stdout(&text(&report))
}
