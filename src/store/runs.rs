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
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
        }
    }
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
