//! The `cases`, `snapshots` and `changes` tables, and the offices' usage counters.
//!
//! **Invariants kept here:** a snapshot is stored only when the fingerprint differs from the
//! case's latest one, and the change events it causes are written in the same transaction
//! ([`record_check`]); a removed case keeps its snapshots and changes, and the mailbox never
//! brings it back (only `cases add` does); `(office, kind, number)` is unique.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::StoreError;
use crate::core::cases::{CaseKey, Kind, Office};
use crate::core::status::{CaseStatus, Change, Current};

/// Where a case came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Mailbox,
    Manual,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mailbox => "mailbox",
            Source::Manual => "manual",
            Source::Import => "import",
        }
    }
}

/// One case as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseRow {
    pub id: i64,
    pub office: Office,
    pub kind: Kind,
    pub number: String,
    pub input_number: String,
    pub client_reference: Option<String>,
    pub source: String,
    pub added_at: String,
    pub removed_at: Option<String>,
    pub checked_at: Option<String>,
    pub attempted_at: Option<String>,
    pub last_error: Option<String>,
    pub not_found: bool,
    pub status_code: Option<String>,
    pub status_text: Option<String>,
    pub status_date: Option<String>,
    pub fingerprint: Option<String>,
    pub last_change_at: Option<String>,
}

impl CaseRow {
    pub fn key(&self) -> CaseKey {
        CaseKey {
            office: self.office,
            kind: self.kind,
            number: self.number.clone(),
        }
    }

    /// How people see the case: the label, e.g. `EP10167109` or `JP 2020-123456`.
    pub fn label(&self) -> String {
        self.key().label()
    }
}

const CASE_COLUMNS: &str =
    "id, office, kind, number, input_number, client_reference, source, added_at, removed_at,
     checked_at, attempted_at, last_error, not_found, status_code, status_text, status_date, fingerprint,
     last_change_at";

/// The office and kind of right stored in columns `office_col` and `office_col + 1`.
fn office_and_kind(r: &Row<'_>, office_col: usize) -> rusqlite::Result<(Office, Kind)> {
    let office: String = r.get(office_col)?;
    let kind: String = r.get(office_col + 1)?;
    let bad = |what: &str, v: String| {
        rusqlite::Error::FromSqlConversionFailure(
            office_col,
            rusqlite::types::Type::Text,
            format!("unknown {what} {v:?} in the cases table").into(),
        )
    };
    let office = match office.as_str() {
        "EP" => Office::Ep,
        "JP" => Office::Jp,
        _ => return Err(bad("office", office)),
    };
    Ok((office, kind.parse().map_err(|_| bad("kind", kind))?))
}

fn case_row(r: &Row<'_>) -> rusqlite::Result<CaseRow> {
    let (office, kind) = office_and_kind(r, 1)?;
    Ok(CaseRow {
        id: r.get(0)?,
        office,
        kind,
        number: r.get(3)?,
        input_number: r.get(4)?,
        client_reference: r.get(5)?,
        source: r.get(6)?,
        added_at: r.get(7)?,
        removed_at: r.get(8)?,
        checked_at: r.get(9)?,
        attempted_at: r.get(10)?,
        last_error: r.get(11)?,
        not_found: r.get::<_, i64>(12)? != 0,
        status_code: r.get(13)?,
        status_text: r.get(14)?,
        status_date: r.get(15)?,
        fingerprint: r.get(16)?,
        last_change_at: r.get(17)?,
    })
}

/// What [`add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// It was removed and is tracked again.
    Restored,
    /// Already tracked; the client reference was updated if one was given.
    Known,
}

/// Adds a case (idempotent by key). A given client reference replaces the stored one.
pub fn add(
    tx: &Transaction<'_>,
    key: &CaseKey,
    input: &str,
    client_reference: Option<&str>,
    source: Source,
    now: &str,
) -> Result<Added, StoreError> {
    let existing: Option<(i64, Option<String>)> = tx
        .query_row(
            "SELECT id, removed_at FROM cases WHERE office = ?1 AND kind = ?2 AND number = ?3",
            params![key.office.as_str(), key.kind.as_str(), key.number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let client_reference = client_reference.map(str::trim).filter(|s| !s.is_empty());
    match existing {
        None => {
            tx.execute(
                "INSERT INTO cases (office, kind, number, input_number, client_reference, source, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.office.as_str(),
                    key.kind.as_str(),
                    key.number,
                    input.trim(),
                    client_reference,
                    source.as_str(),
                    now
                ],
            )?;
            Ok(Added::New)
        }
        Some((id, removed)) => {
            if let Some(r) = client_reference {
                tx.execute(
                    "UPDATE cases SET client_reference = ?2 WHERE id = ?1",
                    params![id, r],
                )?;
            }
            if removed.is_some() {
                tx.execute(
                    "UPDATE cases SET removed_at = NULL, source = ?2 WHERE id = ?1",
                    params![id, source.as_str()],
                )?;
                Ok(Added::Restored)
            } else {
                Ok(Added::Known)
            }
        }
    }
}

/// Stops tracking a case; its history stays. `false` if it was not tracked.
pub fn remove(tx: &Transaction<'_>, key: &CaseKey, now: &str) -> Result<bool, StoreError> {
    let n = tx.execute(
        "UPDATE cases SET removed_at = ?4 WHERE office = ?1 AND kind = ?2 AND number = ?3 AND removed_at IS NULL",
        params![key.office.as_str(), key.kind.as_str(), key.number, now],
    )?;
    Ok(n > 0)
}

/// The case with this key, removed or not.
pub fn find(conn: &Connection, key: &CaseKey) -> Result<Option<CaseRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {CASE_COLUMNS} FROM cases WHERE office = ?1 AND kind = ?2 AND number = ?3"),
            params![key.office.as_str(), key.kind.as_str(), key.number],
            case_row,
        )
        .optional()?)
}

/// Every tracked case (not removed), EP before JP, by number.
pub fn list(conn: &Connection) -> Result<Vec<CaseRow>, StoreError> {
    let mut st = conn.prepare(&format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE removed_at IS NULL ORDER BY office, kind, number"
    ))?;
    let rows = st.query_map([], case_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Application numbers of mailbox communications, as the office wrote them, with the user
/// reference the office gave (the firm's own reference for the case), newest first.
pub fn mailbox_applications(conn: &Connection) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut st = conn.prepare(
        "SELECT application_number, max(user_reference) FROM communications
         GROUP BY application_number ORDER BY max(dispatch_date) DESC",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Adds a case seen in the mailbox unless it is known (tracked or removed). `true` if added.
pub fn add_from_mailbox(
    tx: &Transaction<'_>,
    key: &CaseKey,
    input: &str,
    client_reference: Option<&str>,
    now: &str,
) -> Result<bool, StoreError> {
    let n = tx.execute(
        "INSERT INTO cases (office, kind, number, input_number, client_reference, source, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'mailbox', ?6) ON CONFLICT (office, kind, number) DO NOTHING",
        params![
            key.office.as_str(),
            key.kind.as_str(),
            key.number,
            input,
            client_reference,
            now
        ],
    )?;
    Ok(n > 0)
}

/// The latest snapshot of a case, decoded.
pub fn latest_snapshot(conn: &Connection, case_id: i64) -> Result<Option<CaseStatus>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT status_json FROM snapshots WHERE case_id = ?1 ORDER BY id DESC LIMIT 1",
            [case_id],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Corrupt(format!("snapshot of case {case_id} does not decode: {e}")))
    })
    .transpose()
}

/// A successful refresh. When `fingerprint` differs from the case's, stores the snapshot and
/// `changes` with it, in the caller's transaction; otherwise only the check time moves.
/// Returns how many change events were written.
pub fn record_check(
    tx: &Transaction<'_>,
    case_id: i64,
    status: &CaseStatus,
    fingerprint: &str,
    current: &Current,
    changes: &[Change],
    now: &str,
) -> Result<usize, StoreError> {
    let known: Option<String> =
        tx.query_row("SELECT fingerprint FROM cases WHERE id = ?1", [case_id], |r| {
            r.get(0)
        })?;
    let mut written = 0;
    if known.as_deref() != Some(fingerprint) {
        let json = serde_json::to_string(status)
            .map_err(|e| StoreError::Corrupt(format!("status of case {case_id} does not encode: {e}")))?;
        tx.execute(
            "INSERT INTO snapshots (case_id, taken_at, fingerprint, status_json) VALUES (?1, ?2, ?3, ?4)",
            params![case_id, now, fingerprint, json],
        )?;
        let snapshot = tx.last_insert_rowid();
        let mut ins = tx.prepare(
            "INSERT INTO changes (case_id, snapshot_id, detected_at, kind, office_date, summary, old_value, new_value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for c in changes {
            ins.execute(params![
                case_id,
                snapshot,
                now,
                c.kind.as_str(),
                c.date,
                c.summary,
                c.old,
                c.new
            ])?;
            written += 1;
        }
    }
    tx.execute(
        "UPDATE cases SET checked_at = ?2, attempted_at = ?2, last_error = NULL, not_found = 0, status_code = ?3,
             status_text = ?4, status_date = ?5, fingerprint = ?6,
             last_change_at = CASE WHEN ?7 > 0 THEN ?2 ELSE last_change_at END
         WHERE id = ?1",
        params![
            case_id,
            now,
            current.code,
            current.text,
            current.date,
            fingerprint,
            written as i64
        ],
    )?;
    Ok(written)
}

/// A failed refresh: the case keeps its last known status.
pub fn record_failure(
    conn: &Connection,
    case_id: i64,
    error: &str,
    not_found: bool,
    now: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE cases SET attempted_at = ?2, last_error = ?3, not_found = ?4 WHERE id = ?1",
        params![case_id, now, error, not_found as i64],
    )?;
    Ok(())
}

/// One change event as stored, with its case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    pub id: i64,
    pub case: String,
    pub office: Office,
    pub kind_of_right: Kind,
    pub number: String,
    pub client_reference: Option<String>,
    pub detected_at: String,
    pub kind: String,
    pub office_date: String,
    pub summary: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Change events, oldest first: detected on or after `since` (a date or timestamp prefix),
/// of one case or all.
pub fn changes(
    conn: &Connection,
    since: Option<&str>,
    case_id: Option<i64>,
) -> Result<Vec<ChangeRow>, StoreError> {
    let mut st = conn.prepare(
        "SELECT ch.id, c.office, c.kind, c.number, c.client_reference, ch.detected_at, ch.kind, ch.office_date,
                ch.summary, ch.old_value, ch.new_value
         FROM changes ch JOIN cases c ON c.id = ch.case_id
         WHERE (?1 IS NULL OR ch.detected_at >= ?1) AND (?2 IS NULL OR ch.case_id = ?2)
         ORDER BY ch.id",
    )?;
    let rows = st
        .query_map(params![since, case_id], |r| {
            let (office, kind_of_right) = office_and_kind(r, 1)?;
            let number: String = r.get(3)?;
            let case = CaseKey {
                office,
                kind: kind_of_right,
                number: number.clone(),
            }
            .label();
            Ok(ChangeRow {
                id: r.get(0)?,
                case,
                office,
                kind_of_right,
                number,
                client_reference: r.get(4)?,
                detected_at: r.get(5)?,
                kind: r.get(6)?,
                office_date: r.get(7)?,
                summary: r.get(8)?,
                old: r.get(9)?,
                new: r.get(10)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The latest OPS quota and throttling headers, kept for `mailroom cases` and the next cycle.
pub fn save_ops_usage(
    conn: &Connection,
    week_bytes_used: Option<u64>,
    hour_bytes_used: Option<u64>,
    throttle: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO ops_usage (id, observed_at, week_bytes_used, hour_bytes_used, throttle) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET observed_at = ?1, week_bytes_used = ?2, hour_bytes_used = ?3, throttle = ?4",
        params![now, week_bytes_used.map(|b| b as i64), hour_bytes_used.map(|b| b as i64), throttle],
    )?;
    Ok(())
}

/// The latest snapshot of every tracked case that has one.
pub fn latest_snapshots(conn: &Connection) -> Result<Vec<(CaseRow, CaseStatus)>, StoreError> {
    let mut out = Vec::new();
    for case in list(conn)? {
        if let Some(s) = latest_snapshot(conn, case.id)? {
            out.push((case, s));
        }
    }
    Ok(out)
}
