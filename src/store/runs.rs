//! The `sync_runs` table: one row per run of a job, so "what happened last night" has an answer.

use rusqlite::{Connection, params};

use super::StoreError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub listed: u64,
    pub archived: u64,
    pub handled: u64,
    pub failed: u64,
    pub quarantined: u64,
    /// Status runs: cases refreshed and change events found.
    pub checked: u64,
    pub changes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Finished, but some items failed (they are retried).
    Partial,
    /// Stopped early.
    Failed,
    /// Stopped by a signal (SIGINT, SIGTERM), or found unfinished by the next writer (the
    /// process was killed).
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// When `job` last ended having done its work (`ok`, or `partial`: it ran and recorded what it
/// could), RFC 3339; the daemon's catch-up and `mailroom status` read it.
pub fn last_success(conn: &Connection, job: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row(
        "SELECT max(finished_at) FROM sync_runs WHERE job = ?1 AND outcome IN ('ok', 'partial')",
        [job],
        |r| r.get(0),
    )?)
}

pub fn start(conn: &Connection, job: &str, now: &str) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO sync_runs (job, started_at) VALUES (?1, ?2)",
        params![job, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn finish(
    conn: &Connection,
    id: i64,
    totals: Totals,
    outcome: Outcome,
    error: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sync_runs SET finished_at = ?2, outcome = ?3, listed = ?4, archived = ?5, handled = ?6, failed = ?7,
             quarantined = ?8, error = ?9, checked = ?10, changes = ?11 WHERE id = ?1",
        params![
            id,
            now,
            outcome.as_str(),
            totals.listed as i64,
            totals.archived as i64,
            totals.handled as i64,
            totals.failed as i64,
            totals.quarantined as i64,
            error,
            totals.checked as i64,
            totals.changes as i64
        ],
    )?;
    Ok(())
}

/// Closes every run that has no end as `interrupted` with `error`, and returns their ids.
///
/// Called under the state lock, where no other process can be running one, so a run
/// without an end is one whose process stopped without recording it.
pub fn close_unfinished(conn: &Connection, error: &str, now: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare(
        "UPDATE sync_runs SET finished_at = ?2, outcome = 'interrupted', error = ?1
         WHERE finished_at IS NULL RETURNING id",
    )?;
    let mut ids = stmt
        .query_map(params![error, now], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_runs_are_closed_as_interrupted_and_finished_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("m.sqlite3")).unwrap();
        let conn = store.conn.lock().unwrap();
        let done = start(&conn, "mailbox", "2026-12-01T07:00:00Z").unwrap();
        let open = start(&conn, "status", "2026-12-01T07:01:00Z").unwrap();
        finish(
            &conn,
            done,
            Totals::default(),
            Outcome::Ok,
            None,
            "2026-12-01T07:02:00Z",
        )
        .unwrap();
        let closed = close_unfinished(&conn, "found unfinished", "2026-12-01T08:00:00Z").unwrap();
        assert_eq!(closed, vec![open]);
        let mut st = conn
            .prepare("SELECT id, outcome, error FROM sync_runs ORDER BY id")
            .unwrap();
        let rows: Vec<(i64, String, Option<String>)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            rows,
            vec![
                (done, "ok".into(), None),
                (open, "interrupted".into(), Some("found unfinished".into()))
            ]
        );
        assert!(close_unfinished(&conn, "again", "t").unwrap().is_empty());
    }
}
