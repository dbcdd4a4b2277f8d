//! The `communications` and `documents` tables.
//!
//! **Invariants kept here:** a row reaches `archived` only together with its document rows,
//! in one transaction ([`record_archived`]); `handled` only from `archived`
//! ([`record_handled`]); every write is idempotent by communication id, so repeating a step
//! after a crash changes nothing that was already done.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::core::mailbox::{AfterFailure, Progress, State};

/// One communication as the office listed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub office: String,
    pub application_number: String,
    pub document_code: String,
    pub title: String,
    pub dispatch_date: String,
    pub delivered_at: Option<String>,
    pub user_reference: Option<String>,
    /// The item as listed, raw: the documents to fetch are read from it again later.
    pub metadata_json: String,
    pub handled_at_office: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeenCounts {
    pub new: usize,
    pub known: usize,
    /// Handled locally but listed as unhandled by the office again: back to `seen`, to be
    /// checked (re-archived where a file is missing or changed) and marked again.
    pub reopened: usize,
}

/// Records a listing. New ids start as `seen`; known ids get fresh metadata. A listing that
/// says "handled at the office" sets that flag, until the office lists it as unhandled again.
///
/// **Re-opened** (a `handled` communication listed as unhandled again): it goes back to
/// `seen`, keeping its document rows, and `handled_at_office` is cleared (the office's
/// current word). It is therefore never marked again on the strength of the old record: the
/// archiving step first checks each recorded file (size and SHA-256), downloads again the
/// ones missing or changed, records it `archived` again, and only then is it marked. A crash
/// in between leaves it `seen`, so the check is repeated, never skipped.
pub fn record_seen(tx: &Transaction<'_>, items: &[Listed], now: &str) -> Result<SeenCounts, StoreError> {
    let mut counts = SeenCounts::default();
    for it in items {
        let existing: Option<String> = tx
            .query_row("SELECT state FROM communications WHERE id = ?1", [&it.id], |r| {
                r.get(0)
            })
            .optional()?;
        match existing {
            None => {
                tx.execute(
                    "INSERT INTO communications (id, office, application_number, document_code, title, dispatch_date,
                         delivered_at, user_reference, metadata_json, state, handled_at_office, first_seen_at, last_seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'seen', ?10, ?11, ?11)",
                    params![
                        it.id,
                        it.office,
                        it.application_number,
                        it.document_code,
                        it.title,
                        it.dispatch_date,
                        it.delivered_at,
                        it.user_reference,
                        it.metadata_json,
                        it.handled_at_office,
                        now
                    ],
                )?;
                counts.new += 1;
            }
            // A reconciliation listing (handled at the office) changes nothing for rows already
            // archived or handled here, except that the office now says handled.
            Some(state) if it.handled_at_office && matches!(state.as_str(), "archived" | "handled") => {
                tx.execute(
                    "UPDATE communications SET handled_at_office = 1 WHERE id = ?1 AND handled_at_office = 0",
                    [&it.id],
                )?;
                counts.known += 1;
            }
            Some(state) => {
                let reopen = !it.handled_at_office && state == State::Handled.as_str();
                tx.execute(
                    "UPDATE communications SET application_number = ?2, document_code = ?3, title = ?4,
                         dispatch_date = ?5, delivered_at = ?6, user_reference = ?7, metadata_json = ?8,
                         handled_at_office = CASE WHEN ?11 THEN 0 ELSE MAX(handled_at_office, ?9) END,
                         last_seen_at = ?10,
                         state = CASE WHEN ?11 THEN 'seen' ELSE state END,
                         archived_at = CASE WHEN ?11 THEN NULL ELSE archived_at END,
                         not_before_unix = CASE WHEN ?11 THEN NULL ELSE not_before_unix END,
                         handled_at = CASE WHEN ?11 THEN NULL ELSE handled_at END,
                         handled_by = CASE WHEN ?11 THEN NULL ELSE handled_by END
                     WHERE id = ?1",
                    params![
                        it.id,
                        it.application_number,
                        it.document_code,
                        it.title,
                        it.dispatch_date,
                        it.delivered_at,
                        it.user_reference,
                        it.metadata_json,
                        it.handled_at_office,
                        now,
                        reopen
                    ],
                )?;
                counts.known += 1;
                if reopen {
                    tracing::warn!(id = %it.id, "listed as unhandled again at the office; its files are checked before it is marked again");
                    counts.reopened += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Records one page of a reconciliation listing (communications the office lists as handled):
/// an id unknown here is recorded as [`record_seen`] would (it is archived, not marked); a
/// known one not yet `handled` here goes through [`record_seen`] too (the office's flag
/// changes its next step). An id already `handled` here is only looked up: whatever the
/// office says, nothing is left to do for it, so the cost of a reconciliation does not grow
/// with the history it lists. Returns how many ids were new.
pub fn record_handled_listing(
    tx: &Transaction<'_>,
    items: &[Listed],
    now: &str,
) -> Result<usize, StoreError> {
    let mut done = tx.prepare("SELECT 1 FROM communications WHERE id = ?1 AND state = 'handled'")?;
    let mut open = Vec::new();
    for it in items {
        if !done.exists([&it.id])? {
            open.push(it.clone());
        }
    }
    Ok(record_seen(tx, &open, now)?.new)
}

/// A communication that may need work, with what the decisions need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub id: String,
    pub progress: Progress,
    pub metadata_json: String,
    pub application_number: String,
    pub document_code: String,
    pub dispatch_date: String,
}

/// Every communication not yet `handled`, oldest dispatch first. The states are listed (not
/// `state != 'handled'`) so that the state index is used: the cost follows the rows still to
/// do, not the history.
pub fn pending(conn: &Connection) -> Result<Vec<Pending>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, state, handled_at_office, attempts, not_before_unix, metadata_json,
                application_number, document_code, dispatch_date
         FROM communications WHERE state IN ('seen', 'archived', 'quarantined') ORDER BY dispatch_date, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, u32>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            id,
            state,
            handled_at_office,
            attempts,
            not_before,
            metadata_json,
            application_number,
            document_code,
            dispatch_date,
        ) = row?;
        let state = state
            .parse::<State>()
            .map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
        out.push(Pending {
            id,
            progress: Progress {
                state,
                handled_at_office,
                attempts,
                not_before,
            },
            metadata_json,
            application_number,
            document_code,
            dispatch_date,
        });
    }
    Ok(out)
}

/// The progress of each of `ids` not yet `handled` (one lookup by primary key each): what
/// marking a batch needs, without scanning every pending row.
pub fn progress_of(conn: &Connection, ids: &[String]) -> Result<Vec<(String, Progress)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT state, handled_at_office, attempts, not_before_unix FROM communications
         WHERE id = ?1 AND state != 'handled'",
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = stmt
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .optional()?;
        if let Some((state, handled_at_office, attempts, not_before)) = row {
            let state = state
                .parse::<State>()
                .map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
            out.push((
                id.clone(),
                Progress {
                    state,
                    handled_at_office,
                    attempts,
                    not_before,
                },
            ));
        }
    }
    Ok(out)
}

/// One archived document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedDoc {
    /// The office's document id, or `""` for a single flat file.
    pub key: String,
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// Relative to the archive directory, `/`-separated.
    pub path: String,
}

/// Records the verified copies and moves the communication to `archived`, atomically.
/// Returns false when it was already archived or handled (a repeated step changes nothing).
pub fn record_archived(
    tx: &Transaction<'_>,
    id: &str,
    docs: &[ArchivedDoc],
    now: &str,
) -> Result<bool, StoreError> {
    let state: Option<String> = tx
        .query_row("SELECT state FROM communications WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match state.as_deref() {
        None => {
            return Err(StoreError::Corrupt(format!(
                "archiving unknown communication {id}"
            )));
        }
        Some("archived" | "handled") => return Ok(false),
        Some(_) => {}
    }
    for d in docs {
        tx.execute(
            "INSERT INTO documents (communication_id, document_key, file_name, media_type, size, sha256, path, archived_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (communication_id, document_key) DO UPDATE SET file_name = excluded.file_name,
                 media_type = excluded.media_type, size = excluded.size, sha256 = excluded.sha256,
                 path = excluded.path, archived_at = excluded.archived_at",
            params![id, d.key, d.file_name, d.media_type, d.size as i64, d.sha256, d.path, now],
        )?;
    }
    tx.execute(
        "UPDATE communications SET state = 'archived', archived_at = ?2, last_error = NULL, not_before_unix = NULL,
             quarantined_at = NULL WHERE id = ?1",
        params![id, now],
    )?;
    Ok(true)
}

/// Records a failed archiving attempt and its consequence.
pub fn record_failure(
    tx: &Transaction<'_>,
    id: &str,
    error: &str,
    after: AfterFailure,
    now: &str,
) -> Result<(), StoreError> {
    match after {
        AfterFailure::Retry { attempts, not_before } => tx.execute(
            "UPDATE communications SET attempts = ?2, not_before_unix = ?3, last_error = ?4 WHERE id = ?1 AND state = 'seen'",
            params![id, attempts, not_before, error],
        )?,
        AfterFailure::Quarantine { attempts } => tx.execute(
            "UPDATE communications SET attempts = ?2, not_before_unix = NULL, last_error = ?3, state = 'quarantined',
                 quarantined_at = ?4 WHERE id = ?1 AND state = 'seen'",
            params![id, attempts, error, now],
        )?,
    };
    Ok(())
}

/// Who made a communication `handled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandledBy {
    /// mailroom told the office.
    Mailroom,
    /// The office already listed it as handled (a person, in the web mailbox).
    Office,
}

/// Moves archived communications to `handled`. Only `archived` rows move; returns how many did.
pub fn record_handled(
    tx: &Transaction<'_>,
    ids: &[String],
    by: HandledBy,
    now: &str,
) -> Result<usize, StoreError> {
    let by = match by {
        HandledBy::Mailroom => "mailroom",
        HandledBy::Office => "office",
    };
    let mut stmt = tx.prepare(
        "UPDATE communications SET state = 'handled', handled_at = ?2, handled_by = ?3 WHERE id = ?1 AND state = 'archived'",
    )?;
    let mut n = 0;
    for id in ids {
        n += stmt.execute(params![id, now, by])?;
    }
    Ok(n)
}

/// Notes a mark-handled failure without changing the state (it is retried next run).
pub fn record_mark_error(tx: &Transaction<'_>, ids: &[String], error: &str) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare("UPDATE communications SET last_error = ?2 WHERE id = ?1 AND state = 'archived'")?;
    for id in ids {
        stmt.execute(params![id, error])?;
    }
    Ok(())
}

/// `(id, last error)` of every quarantined communication.
pub fn quarantined(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, COALESCE(last_error, '') FROM communications WHERE state = 'quarantined' ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(communication id, document key)` of the document stored at `path` (archive-relative),
/// if any.
pub fn path_holder(conn: &Connection, path: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT communication_id, document_key FROM documents WHERE path = ?1 LIMIT 1",
            [path],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The documents recorded for `id` (none unless it was archived before: a re-opened one).
pub fn documents_of(conn: &Connection, id: &str) -> Result<Vec<ArchivedDoc>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT document_key, file_name, media_type, size, sha256, path FROM documents
         WHERE communication_id = ?1 ORDER BY document_key",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(ArchivedDoc {
            key: r.get(0)?,
            file_name: r.get(1)?,
            media_type: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            sha256: r.get(4)?,
            path: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A communication for people and exports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct View {
    pub id: String,
    pub application_number: String,
    pub document_code: String,
    pub title: String,
    pub dispatch_date: String,
    pub state: String,
    pub handled_at: Option<String>,
    pub handled_by: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub documents: Vec<DocView>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DocView {
    pub key: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub media_type: Option<String>,
}

/// All communications dispatched on or after `since` (YYYY-MM-DD), newest dispatch first.
pub fn list(conn: &Connection, since: Option<&str>) -> Result<Vec<View>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, application_number, document_code, title, dispatch_date, state, handled_at, handled_by, attempts, last_error
         FROM communications WHERE dispatch_date >= ?1 ORDER BY dispatch_date DESC, id",
    )?;
    let mut docs = conn.prepare(
        "SELECT document_key, path, sha256, size, media_type FROM documents WHERE communication_id = ?1 ORDER BY document_key",
    )?;
    let rows = stmt.query_map([since.unwrap_or("")], |r| {
        Ok(View {
            id: r.get(0)?,
            application_number: r.get(1)?,
            document_code: r.get(2)?,
            title: r.get(3)?,
            dispatch_date: r.get(4)?,
            state: r.get(5)?,
            handled_at: r.get(6)?,
            handled_by: r.get(7)?,
            attempts: r.get(8)?,
            last_error: r.get(9)?,
            documents: Vec::new(),
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let mut v = row?;
        v.documents = docs
            .query_map([&v.id], |r| {
                Ok(DocView {
                    key: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    media_type: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        out.push(v);
    }
    Ok(out)
}

/// A communication not yet `handled`, with what a summary says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outstanding {
    pub id: String,
    pub application_number: String,
    pub document_code: String,
    pub progress: Progress,
    pub last_error: Option<String>,
}

/// Every communication not yet `handled`, in id order. The open states are listed so that
/// the state index is used, as in [`pending`]: a summary costs the rows still to do.
pub fn outstanding(conn: &Connection) -> Result<Vec<Outstanding>, StoreError> {
    select_outstanding(
        conn,
        "WHERE state IN ('seen', 'archived', 'quarantined') ORDER BY id",
        [],
    )
}

/// The columns of an [`Outstanding`], for the rows `filter` (SQL after `FROM`) selects.
fn select_outstanding(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Outstanding>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, application_number, document_code, state, handled_at_office, attempts, not_before_unix,
                last_error
         FROM communications {filter}"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok((
            Outstanding {
                id: r.get(0)?,
                application_number: r.get(1)?,
                document_code: r.get(2)?,
                progress: Progress {
                    state: State::Seen,
                    handled_at_office: r.get(4)?,
                    attempts: r.get(5)?,
                    not_before: r.get(6)?,
                },
                last_error: r.get(7)?,
            },
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut o, state) = row?;
        o.progress.state = state
            .parse::<State>()
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", o.id)))?;
        out.push(o);
    }
    Ok(out)
}

/// Why a communication could not be released from quarantine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotReleased {
    Unknown,
    /// It is in this other state.
    NotQuarantined(String),
}

/// Releases one quarantined communication back to `seen` with its attempts reset, so the
/// next cycle archives it; returns it as it was (its last error says why it was held).
pub fn release_quarantined(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Result<Outstanding, NotReleased>, StoreError> {
    let state: Option<String> = tx
        .query_row("SELECT state FROM communications WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match state.as_deref() {
        None => return Ok(Err(NotReleased::Unknown)),
        Some("quarantined") => {}
        Some(other) => return Ok(Err(NotReleased::NotQuarantined(other.to_owned()))),
    }
    let held = outstanding_one(tx, id)?;
    tx.execute(
        "UPDATE communications SET state = 'seen', attempts = 0, not_before_unix = NULL, quarantined_at = NULL
         WHERE id = ?1 AND state = 'quarantined'",
        [id],
    )?;
    Ok(Ok(held))
}

/// Releases every quarantined communication ([`release_quarantined`]); returns them.
pub fn release_all_quarantined(tx: &Transaction<'_>) -> Result<Vec<Outstanding>, StoreError> {
    let ids: Vec<String> = tx
        .prepare("SELECT id FROM communications WHERE state = 'quarantined' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Ok(held) = release_quarantined(tx, id)? {
            out.push(held);
        }
    }
    Ok(out)
}

/// One communication by id (a primary-key lookup, not a scan of every open one).
fn outstanding_one(conn: &Connection, id: &str) -> Result<Outstanding, StoreError> {
    select_outstanding(conn, "WHERE id = ?1", [id])?
        .pop()
        .ok_or_else(|| StoreError::Corrupt(format!("{id}: vanished while being released")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn listed(id: &str, handled_at_office: bool) -> Listed {
        Listed {
            id: id.into(),
            office: "EP".into(),
            application_number: "EP10167109".into(),
            document_code: "2004".into(),
            title: "Communication under Rule 71(3) EPC".into(),
            dispatch_date: "2026-11-20".into(),
            delivered_at: None,
            user_reference: None,
            metadata_json: format!("{{\"communicationId\":\"{id}\"}}"),
            handled_at_office,
        }
    }

    fn doc(path: &str) -> ArchivedDoc {
        ArchivedDoc {
            key: String::new(),
            file_name: Some("x.pdf".into()),
            media_type: Some("application/pdf".into()),
            size: 10,
            sha256: "ab".into(),
            path: path.into(),
        }
    }

    fn with_tx<R>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> R) -> R {
        let tx = conn.transaction().unwrap();
        let r = f(&tx);
        tx.commit().unwrap();
        r
    }

    fn state(conn: &Connection, id: &str) -> String {
        conn.query_row("SELECT state FROM communications WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    }

    #[test]
    fn the_life_of_a_communication_is_idempotent_at_every_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut conn = store.conn.lock().unwrap();
        let ids = vec!["a".to_owned()];

        for _ in 0..2 {
            let c = with_tx(&mut conn, |tx| {
                record_seen(tx, &[listed("a", false)], "t1").unwrap()
            });
            assert_eq!(state(&conn, "a"), "seen", "{c:?}");
        }
        assert_eq!(pending(&conn).unwrap().len(), 1);

        assert!(with_tx(&mut conn, |tx| record_archived(
            tx,
            "a",
            &[doc("EP/x.pdf")],
            "t2"
        )
        .unwrap()));
        assert!(!with_tx(&mut conn, |tx| record_archived(
            tx,
            "a",
            &[doc("EP/x.pdf")],
            "t3"
        )
        .unwrap()));
        assert_eq!(state(&conn, "a"), "archived");

        assert_eq!(
            with_tx(&mut conn, |tx| record_handled(
                tx,
                &ids,
                HandledBy::Mailroom,
                "t4"
            )
            .unwrap()),
            1
        );
        assert_eq!(
            with_tx(&mut conn, |tx| record_handled(
                tx,
                &ids,
                HandledBy::Mailroom,
                "t5"
            )
            .unwrap()),
            0
        );
        let v = list(&conn, None).unwrap();
        assert_eq!(
            (v[0].state.as_str(), v[0].handled_at.as_deref()),
            ("handled", Some("t4"))
        );
        assert_eq!(v[0].documents[0].path, "EP/x.pdf");
        assert!(pending(&conn).unwrap().is_empty());

        // Listed as handled by the reconciliation walk, then as unhandled again: back to seen
        // with its documents kept, and no longer "handled at the office", so that it is
        // checked, recorded archived again and marked (not merely recorded handled).
        with_tx(&mut conn, |tx| {
            record_seen(tx, &[listed("a", true)], "t6").unwrap()
        });
        let c = with_tx(&mut conn, |tx| {
            record_seen(tx, &[listed("a", false)], "t7").unwrap()
        });
        assert_eq!(c.reopened, 1);
        assert_eq!(state(&conn, "a"), "seen");
        assert_eq!(documents_of(&conn, "a").unwrap(), vec![doc("EP/x.pdf")]);
        let p = &pending(&conn).unwrap()[0];
        assert!(!p.progress.handled_at_office, "{p:?}");
        assert!(with_tx(&mut conn, |tx| record_archived(
            tx,
            "a",
            &[doc("EP/x.pdf")],
            "t8"
        )
        .unwrap()));
        assert_eq!(state(&conn, "a"), "archived");
    }

    #[test]
    fn nothing_reaches_handled_without_being_archived() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut conn = store.conn.lock().unwrap();
        with_tx(&mut conn, |tx| {
            record_seen(tx, &[listed("s", true)], "t").unwrap()
        });
        let n = with_tx(&mut conn, |tx| {
            record_handled(tx, &["s".to_owned()], HandledBy::Office, "t").unwrap()
        });
        assert_eq!(n, 0);
        assert_eq!(state(&conn, "s"), "seen");
        let e = conn.execute("UPDATE communications SET state = 'handled' WHERE id = 's'", []);
        assert!(e.is_err(), "the schema refuses handled without archived_at");
    }

    #[test]
    fn failures_back_off_then_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut conn = store.conn.lock().unwrap();
        with_tx(&mut conn, |tx| {
            record_seen(tx, &[listed("f", false)], "t").unwrap()
        });
        with_tx(&mut conn, |tx| {
            record_failure(
                tx,
                "f",
                "503",
                AfterFailure::Retry {
                    attempts: 1,
                    not_before: 99,
                },
                "t",
            )
            .unwrap()
        });
        let p = &pending(&conn).unwrap()[0];
        assert_eq!((p.progress.attempts, p.progress.not_before), (1, Some(99)));
        with_tx(&mut conn, |tx| {
            record_failure(
                tx,
                "f",
                "not a PDF",
                AfterFailure::Quarantine { attempts: 2 },
                "t",
            )
            .unwrap()
        });
        let v = &list(&conn, None).unwrap()[0];
        assert_eq!(
            (v.state.as_str(), v.last_error.as_deref()),
            ("quarantined", Some("not a PDF"))
        );
        // A later success still archives it.
        assert!(with_tx(&mut conn, |tx| record_archived(
            tx,
            "f",
            &[doc("p")],
            "t"
        )
        .unwrap()));
        assert_eq!(state(&conn, "f"), "archived");
    }

    #[test]
    fn releasing_a_quarantined_communication_resets_it_and_refuses_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut conn = store.conn.lock().unwrap();
        with_tx(&mut conn, |tx| {
            record_seen(tx, &[listed("q", false), listed("s", false)], "t1").unwrap();
            record_failure(
                tx,
                "q",
                "not a PDF",
                AfterFailure::Quarantine { attempts: 3 },
                "t2",
            )
            .unwrap();
        });
        let held = with_tx(&mut conn, |tx| release_quarantined(tx, "q").unwrap()).unwrap();
        assert_eq!(
            (held.id.as_str(), held.progress.state, held.last_error.as_deref()),
            ("q", State::Quarantined, Some("not a PDF"))
        );
        let now = outstanding(&conn).unwrap();
        let q = now.iter().find(|o| o.id == "q").unwrap();
        assert_eq!(
            (q.progress.state, q.progress.attempts, q.progress.not_before),
            (State::Seen, 0, None)
        );
        for (id, want) in [
            ("q", NotReleased::NotQuarantined("seen".into())),
            ("s", NotReleased::NotQuarantined("seen".into())),
            ("nope", NotReleased::Unknown),
        ] {
            let got = with_tx(&mut conn, |tx| release_quarantined(tx, id).unwrap());
            assert_eq!(got.err(), Some(want), "{id}");
        }
        with_tx(&mut conn, |tx| {
            record_failure(
                tx,
                "s",
                "wrong size",
                AfterFailure::Quarantine { attempts: 3 },
                "t3",
            )
            .unwrap();
        });
        let all = with_tx(&mut conn, |tx| release_all_quarantined(tx).unwrap());
        assert_eq!(all.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["s"]);
        assert!(quarantined(&conn).unwrap().is_empty());
    }

    /// Brings `id` to `state` through the real steps.
    fn bring(conn: &mut Connection, id: &str, to: &str) {
        with_tx(conn, |tx| record_seen(tx, &[listed(id, false)], "t").unwrap());
        if to == "seen" {
            return;
        }
        with_tx(conn, |tx| {
            record_archived(tx, id, &[doc(&format!("{id}.pdf"))], "t").unwrap()
        });
        if to == "handled" {
            let ids = [id.to_owned()];
            with_tx(conn, |tx| {
                record_handled(tx, &ids, HandledBy::Mailroom, "t").unwrap()
            });
        }
    }

    #[test]
    fn a_reconciliation_page_writes_only_what_changes_a_next_step() {
        // (state before or None = unknown, rows changed, new, state after, flag after)
        let table = [
            (None, 1, 1, "seen", true),
            (Some("seen"), 1, 0, "seen", true),
            (Some("archived"), 1, 0, "archived", true),
            (Some("handled"), 0, 0, "handled", false),
        ];
        for (before, changes, new, after, flag) in table {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("db")).unwrap();
            let mut conn = store.conn.lock().unwrap();
            if let Some(b) = before {
                bring(&mut conn, "a", b);
            }
            let total = conn.total_changes();
            let got = with_tx(&mut conn, |tx| {
                record_handled_listing(tx, &[listed("a", true)], "t2").unwrap()
            });
            assert_eq!(got, new, "{before:?}");
            assert_eq!(conn.total_changes() - total, changes, "{before:?}");
            let (state, office): (String, bool) = conn
                .query_row(
                    "SELECT state, handled_at_office FROM communications WHERE id = 'a'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((state.as_str(), office), (after, flag), "{before:?}");
        }
    }

    #[test]
    fn progress_of_returns_the_open_ones_among_the_ids_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut conn = store.conn.lock().unwrap();
        for (id, to) in [
            ("s", "seen"),
            ("a", "archived"),
            ("h", "handled"),
            ("x", "archived"),
        ] {
            bring(&mut conn, id, to);
        }
        let ids: Vec<String> = ["s", "a", "h", "unknown"].map(String::from).to_vec();
        let got: Vec<(String, State)> = progress_of(&conn, &ids)
            .unwrap()
            .into_iter()
            .map(|(id, p)| (id, p.state))
            .collect();
        assert_eq!(
            got,
            vec![("s".to_owned(), State::Seen), ("a".to_owned(), State::Archived)]
        );
    }

    #[test]
    fn the_pending_rows_are_found_through_the_state_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let conn = store.conn.lock().unwrap();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM communications
                 WHERE state IN ('seen', 'archived', 'quarantined') ORDER BY dispatch_date, id",
            )
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().any(|p| p.contains("communications_state")),
            "{plan:?}"
        );
    }
}
