//! The `cases`, `snapshots` and `changes` tables, and the offices' usage counters.
//!
//! **Invariants kept here:** a snapshot is stored only when the fingerprint differs from the
//! case's latest one, and the change events it causes are written in the same transaction
//! ([`record_check`]); a removed case keeps its snapshots and changes, and the mailbox never
//! brings it back (only `cases add` does); `(office, kind, number)` is unique.
//!
//! **One case per EP application**: a case added by its publication number keeps that number
//! as its key only until the Register names the application ([`resolve_publication`]); it is
//! then keyed by the application and found by either number. Two rows found to be one case
//! are merged, the history of both kept on the survivor.

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
    /// A JP member of an EP case's INPADOC family (`store::family`).
    Family,
    /// The JP national phase of a PCT application in the mailbox (`store::family`).
    Pct,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mailbox => "mailbox",
            Source::Manual => "manual",
            Source::Import => "import",
            Source::Family => "family",
            Source::Pct => "pct",
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
    /// The EP publication the case was added by, once resolved to its application.
    pub publication_number: Option<String>,
    /// While the office does not know the case: the first of the lookups in a row that said so.
    pub not_found_since: Option<String>,
    /// How many lookups in a row found nothing (0 once one succeeds).
    pub not_found_misses: u32,
    /// A case not found is not looked up again before this time.
    pub next_attempt_at: Option<String>,
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

    /// A case the office did not know, whose next lookup is after `now` (RFC 3339 UTC, the
    /// stored form, so the comparison is textual).
    pub fn waits_after_not_found(&self, now: &str) -> bool {
        self.not_found && self.next_attempt_at.as_deref().is_some_and(|t| t > now)
    }
}

const CASE_COLUMNS: &str =
    "id, office, kind, number, input_number, client_reference, source, added_at, removed_at,
     checked_at, attempted_at, last_error, not_found, status_code, status_text, status_date, fingerprint,
     last_change_at, publication_number, not_found_since, not_found_misses, next_attempt_at";

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
        publication_number: r.get(18)?,
        not_found_since: r.get(19)?,
        not_found_misses: r.get(20)?,
        next_attempt_at: r.get(21)?,
    })
}

/// The case a number names: its key (`number`), or the publication it was added by. A row
/// keyed by the number wins over one that only lists it as its publication.
fn find_id(conn: &Connection, key: &CaseKey) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM cases WHERE office = ?1 AND kind = ?2 AND (number = ?3 OR publication_number = ?3)
             ORDER BY number = ?3 DESC, id LIMIT 1",
            params![key.office.as_str(), key.kind.as_str(), key.number],
            |r| r.get(0),
        )
        .optional()?)
}

fn by_id(conn: &Connection, id: i64) -> Result<CaseRow, StoreError> {
    Ok(conn.query_row(
        &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"),
        [id],
        case_row,
    )?)
}

/// What [`add`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// It was removed and is tracked again.
    Restored,
    /// Already tracked; a reference was stored if it had none, or replaced with `update`.
    Known,
    /// Already tracked under another client reference, and `update` was not given: nothing
    /// changed. Holds the stored reference.
    OtherReference(String),
}

/// A case to add, as a person or a file named it.
#[derive(Clone, Copy, Debug)]
pub struct NewCase<'a> {
    pub key: &'a CaseKey,
    /// The number as written.
    pub input: &'a str,
    pub client_reference: Option<&'a str>,
    /// The EP publication `key` (then an application) was resolved from.
    pub publication: Option<&'a str>,
    pub source: Source,
}

impl<'a> NewCase<'a> {
    /// A case named by its own key (no publication resolved).
    pub fn new(key: &'a CaseKey, input: &'a str, client_reference: Option<&'a str>, source: Source) -> Self {
        NewCase {
            key,
            input,
            client_reference,
            publication: None,
            source,
        }
    }
}

/// Adds a case (idempotent by key; a publication number finds the case it was resolved to).
/// A publication it was resolved from is recorded on the case and a row still keyed by that
/// publication is merged into it. A followed case keeps a client reference
/// that differs from the given one unless `update` is set; an empty one is filled in.
pub fn add(tx: &Transaction<'_>, new: &NewCase<'_>, update: bool, now: &str) -> Result<Added, StoreError> {
    let key = new.key;
    if let Some(p) = new.publication {
        resolve_publication(tx, p, &key.number)?;
    }
    let existing = find_id(tx, key)?.map(|id| by_id(tx, id)).transpose()?;
    let client_reference = new.client_reference.map(str::trim).filter(|s| !s.is_empty());
    let Some(case) = existing else {
        tx.execute(
            "INSERT INTO cases (office, kind, number, input_number, client_reference, source, added_at, publication_number)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                key.office.as_str(),
                key.kind.as_str(),
                key.number,
                new.input.trim(),
                client_reference,
                new.source.as_str(),
                now,
                new.publication
            ],
        )?;
        return Ok(Added::New);
    };
    let followed = case.removed_at.is_none();
    if let (Some(given), Some(stored)) = (client_reference, case.client_reference.as_deref())
        && followed
        && !update
        && given != stored
    {
        return Ok(Added::OtherReference(stored.to_owned()));
    }
    if let Some(r) = client_reference {
        tx.execute(
            "UPDATE cases SET client_reference = ?2 WHERE id = ?1",
            params![case.id, r],
        )?;
    }
    if followed {
        return Ok(Added::Known);
    }
    tx.execute(
        "UPDATE cases SET removed_at = NULL, source = ?2 WHERE id = ?1",
        params![case.id, new.source.as_str()],
    )?;
    Ok(Added::Restored)
}

/// Records that EP publication `publication` belongs to application `application` (both
/// epodoc). A row still keyed by the publication is re-keyed to the application, or, when the
/// application is a case too, merged into it: its snapshots and changes move to the
/// application's row (history is kept, nothing is counted twice), the survivor takes the
/// client reference if it had none and is followed if either was, and the publication's row
/// is deleted. Returns the id of the case now holding both numbers, if there is one.
pub fn resolve_publication(
    tx: &Transaction<'_>,
    publication: &str,
    application: &str,
) -> Result<Option<i64>, StoreError> {
    let ep = |number: &str| -> Result<Option<CaseRow>, StoreError> {
        let key = CaseKey {
            office: Office::Ep,
            kind: Kind::Patent,
            number: number.to_owned(),
        };
        Ok(tx
            .query_row(
                &format!("SELECT {CASE_COLUMNS} FROM cases WHERE office = ?1 AND kind = ?2 AND number = ?3"),
                params![key.office.as_str(), key.kind.as_str(), key.number],
                case_row,
            )
            .optional()?)
    };
    let (by_pub, by_app) = (ep(publication)?, ep(application)?);
    match (by_pub, by_app) {
        (None, None) => Ok(None),
        (None, Some(app)) => {
            tx.execute(
                "UPDATE cases SET publication_number = ?2 WHERE id = ?1 AND publication_number IS NULL",
                params![app.id, publication],
            )?;
            Ok(Some(app.id))
        }
        (Some(p), None) => {
            tx.execute(
                "UPDATE cases SET number = ?2, publication_number = ?3 WHERE id = ?1",
                params![p.id, application, publication],
            )?;
            Ok(Some(p.id))
        }
        (Some(p), Some(app)) => {
            tx.execute(
                "UPDATE snapshots SET case_id = ?2 WHERE case_id = ?1",
                params![p.id, app.id],
            )?;
            tx.execute(
                "UPDATE changes SET case_id = ?2 WHERE case_id = ?1",
                params![p.id, app.id],
            )?;
            let removed = match (&app.removed_at, &p.removed_at) {
                (Some(_), None) => None,
                (a, _) => a.clone(),
            };
            tx.execute(
                "UPDATE cases SET publication_number = ?2, client_reference = coalesce(client_reference, ?3),
                     removed_at = ?4,
                     fingerprint = (SELECT fingerprint FROM snapshots WHERE case_id = ?1 ORDER BY id DESC LIMIT 1),
                     last_change_at = max(coalesce(last_change_at, ''), coalesce(?5, '')),
                     checked_at = coalesce(checked_at, ?6)
                 WHERE id = ?1",
                params![
                    app.id,
                    publication,
                    p.client_reference,
                    removed,
                    p.last_change_at,
                    p.checked_at
                ],
            )?;
            tx.execute(
                "UPDATE cases SET last_change_at = NULL WHERE id = ?1 AND last_change_at = ''",
                [app.id],
            )?;
            tx.execute("DELETE FROM cases WHERE id = ?1", [p.id])?;
            Ok(Some(app.id))
        }
    }
}

/// Stops tracking a case; its history stays. `false` if it was not tracked.
pub fn remove(tx: &Transaction<'_>, key: &CaseKey, now: &str) -> Result<bool, StoreError> {
    let Some(id) = find_id(tx, key)? else {
        return Ok(false);
    };
    let n = tx.execute(
        "UPDATE cases SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
        params![id, now],
    )?;
    Ok(n > 0)
}

/// The case with this key (or publication it was added by), removed or not.
pub fn find(conn: &Connection, key: &CaseKey) -> Result<Option<CaseRow>, StoreError> {
    find_id(conn, key)?.map(|id| by_id(conn, id)).transpose()
}

/// The case with this id.
pub fn get(conn: &Connection, id: i64) -> Result<CaseRow, StoreError> {
    by_id(conn, id)
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
        "UPDATE cases SET checked_at = ?2, attempted_at = ?2, last_error = NULL, not_found = 0,
             not_found_since = NULL, not_found_misses = 0, next_attempt_at = NULL, status_code = ?3,
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
pub fn record_failure(conn: &Connection, case_id: i64, error: &str, now: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE cases SET attempted_at = ?2, last_error = ?3, not_found = 0, not_found_since = NULL,
             not_found_misses = 0, next_attempt_at = NULL
         WHERE id = ?1",
        params![case_id, now, error],
    )?;
    Ok(())
}

/// The office does not know the case: its `misses`-th lookup in a row said so; it waits
/// until `next_attempt` (core::schedule::not_found_wait_days) and keeps its last known status.
pub fn record_not_found(
    conn: &Connection,
    case_id: i64,
    error: &str,
    misses: u32,
    next_attempt: &str,
    now: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE cases SET attempted_at = ?2, last_error = ?3, not_found = 1,
             not_found_since = coalesce(not_found_since, ?2), not_found_misses = ?4, next_attempt_at = ?5
         WHERE id = ?1",
        params![case_id, now, error, misses, next_attempt],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::status::{ChangeKind, EpStatus};

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).expect("migrations");
        conn
    }

    fn ep(number: &str) -> CaseKey {
        CaseKey {
            office: Office::Ep,
            kind: Kind::Patent,
            number: number.to_owned(),
        }
    }

    /// Adds `number` and records `snapshots` checks of it, each with one change.
    fn followed(tx: &Transaction<'_>, number: &str, reference: Option<&str>, snapshots: usize) -> i64 {
        let key = ep(number);
        add(
            tx,
            &NewCase::new(&key, number, reference, Source::Manual),
            false,
            "2026-01-01T00:00:00Z",
        )
        .expect("add");
        let id = find_id(tx, &key).expect("find").expect("added");
        for i in 0..snapshots {
            let status = CaseStatus::Ep(EpStatus {
                register_status: format!("{number} {i}"),
                ..EpStatus::default()
            });
            let change = Change {
                kind: ChangeKind::Status,
                date: String::new(),
                summary: format!("{number} change {i}"),
                old: None,
                new: None,
            };
            let current = Current {
                code: i.to_string(),
                text: String::new(),
                date: String::new(),
            };
            record_check(
                tx,
                id,
                &status,
                &format!("{number}-{i}"),
                &current,
                &[change],
                "2026-01-02T00:00:00Z",
            )
            .expect("check");
        }
        id
    }

    #[test]
    fn a_publication_row_merges_into_its_application_keeping_both_histories() {
        let mut conn = db();
        let tx = conn.transaction().expect("tx");
        let app = followed(&tx, "EP10167109", None, 1);
        let publication = followed(&tx, "EP2400812", Some("MR-0812"), 2);
        let survivor = resolve_publication(&tx, "EP2400812", "EP10167109").expect("resolve");
        assert_eq!(survivor, Some(app));
        let case = by_id(&tx, app).expect("survivor");
        assert_eq!(case.publication_number.as_deref(), Some("EP2400812"));
        assert_eq!(case.client_reference.as_deref(), Some("MR-0812"), "taken over");
        assert_eq!(
            case.fingerprint.as_deref(),
            Some("EP2400812-1"),
            "the latest snapshot's"
        );
        assert!(by_id(&tx, publication).is_err(), "the publication's row is gone");
        assert_eq!(
            changes(&tx, None, Some(app)).expect("changes").len(),
            3,
            "history kept"
        );
        assert_eq!(
            find(&tx, &ep("EP2400812")).expect("find").map(|c| c.id),
            Some(app),
            "found by its publication"
        );
        assert!(remove(&tx, &ep("EP2400812"), "2026-01-03T00:00:00Z").expect("remove"));
        assert!(list(&tx).expect("list").is_empty());
    }

    #[test]
    fn a_publication_alone_is_rekeyed_and_an_application_alone_learns_it() {
        let mut conn = db();
        let tx = conn.transaction().expect("tx");
        let id = followed(&tx, "EP2400812", None, 1);
        assert_eq!(
            resolve_publication(&tx, "EP2400812", "EP10167109").expect("resolve"),
            Some(id)
        );
        let case = by_id(&tx, id).expect("case");
        assert_eq!(
            (case.number.as_str(), case.publication_number.as_deref()),
            ("EP10167109", Some("EP2400812"))
        );

        let other = followed(&tx, "EP14735465", None, 0);
        assert_eq!(
            resolve_publication(&tx, "EP3000000", "EP14735465").expect("resolve"),
            Some(other)
        );
        assert_eq!(
            by_id(&tx, other).expect("case").publication_number.as_deref(),
            Some("EP3000000")
        );
        assert_eq!(
            resolve_publication(&tx, "EP1000000", "EP99203729").expect("resolve"),
            None
        );
    }

    #[test]
    fn another_reference_is_kept_unless_updated() {
        let mut conn = db();
        let tx = conn.transaction().expect("tx");
        let key = ep("EP23184567");
        let with = |r| NewCase::new(&key, "EP23184567", Some(r), Source::Manual);
        let now = "2026-01-01T00:00:00Z";
        let table = [
            (with("ACME-1"), false, Added::New, "ACME-1"),
            (with("ACME-1"), false, Added::Known, "ACME-1"),
            (
                with("ACME-2"),
                false,
                Added::OtherReference("ACME-1".into()),
                "ACME-1",
            ),
            (with("ACME-2"), true, Added::Known, "ACME-2"),
            (
                NewCase::new(&key, "EP23184567", None, Source::Manual),
                false,
                Added::Known,
                "ACME-2",
            ),
        ];
        for (new, update, added, reference) in table {
            assert_eq!(add(&tx, &new, update, now).expect("add"), added, "{new:?}");
            let case = find(&tx, &key).expect("find").expect("followed");
            assert_eq!(case.client_reference.as_deref(), Some(reference), "{new:?}");
        }
    }
}
