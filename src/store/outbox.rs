//! The outbox: `notify_events` and `notify_deliveries` (migration 0005).
//!
//! **Invariant:** an event is written by [`enqueue`] in the caller's transaction — the one that
//! records the fact it reports (a communication `archived`, a case's snapshot and changes, a
//! quarantine, a run's end) — with one delivery per `(channel, recipient)` that
//! `core::notify::route` picks from the routing the store was opened with. So a fact is
//! recorded together with its notifications, or neither is. Writing the same event again (a
//! repeated step, a re-archived communication) is a no-op by its dedupe key.
//!
//! A delivery is `pending` until a sender records it `sent` ([`record_sent`]) or, after every
//! retry, `failed` ([`record_failure`]), which raises a `delivery_failed` admin event in the
//! same transaction. Nothing is ever deleted: `mailroom outbox --failed` lists what failed and
//! `outbox retry ID` makes it pending again.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use crate::core::cases::{Kind, Office};
use crate::core::notify::{
    self, AfterSendFailure, CaseChanged, ChangeLine, Channel, Communication, CounterpartOf, DeliveryFailed,
    Document, Event, EventKind, Quarantined, Routing,
};
use crate::core::status::Change;

/// Writes `event` and its deliveries, unless an event with its dedupe key exists. Returns the
/// new event's id, `None` when it was already there.
pub fn enqueue(
    tx: &Transaction<'_>,
    routing: &Routing,
    event: &Event,
    run_id: Option<i64>,
    now: &str,
) -> Result<Option<i64>, StoreError> {
    let key = event.dedupe_key();
    let payload = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("notification {key} does not encode: {e}")))?;
    let n = tx.execute(
        "INSERT INTO notify_events (dedupe_key, kind, run_id, created_at, payload_json) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (dedupe_key) DO NOTHING",
        params![key, event.kind().as_str(), run_id, now, payload],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let event_id = tx.last_insert_rowid();
    let due = unix(now)?;
    let mut ins = tx.prepare(
        "INSERT INTO notify_deliveries (event_id, channel, recipient, dedupe_key, next_attempt_unix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (dedupe_key) DO NOTHING",
    )?;
    for d in notify::route(event, routing) {
        let dkey = format!("{key}|{}|{}", d.channel.as_str(), d.recipient);
        ins.execute(params![event_id, d.channel.as_str(), d.recipient, dkey, due, now])?;
    }
    Ok(Some(event_id))
}

fn unix(stamp: &str) -> Result<i64, StoreError> {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .map(|t| t.timestamp())
        .map_err(|e| StoreError::Corrupt(format!("timestamp {stamp:?}: {e}")))
}

/// The client reference of an application: the followed case's, else the user reference the
/// office listed with the communication.
fn client_reference_of(
    tx: &Connection,
    application_number: &str,
    user_reference: Option<String>,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let key = crate::core::cases::parse_case(application_number, Some(Office::Ep), None).ok();
    let case: Option<(String, Option<String>)> = match &key {
        Some(k) => tx
            .query_row(
                "SELECT number, client_reference FROM cases WHERE office = ?1 AND kind = ?2 AND number = ?3",
                params![k.office.as_str(), k.kind.as_str(), k.number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
        None => None,
    };
    let label = key.map(|k| k.label());
    let reference = case
        .and_then(|(_, r)| r)
        .or(user_reference)
        .filter(|r| !r.trim().is_empty());
    Ok((label, reference))
}

/// The `communication` event of an archived communication, from its rows, with the deadline
/// proposed for it (`store::deadlines::propose_for`).
pub fn communication_event(
    tx: &Connection,
    id: &str,
    deadline: Option<crate::core::notify::DeadlineInfo>,
) -> Result<Event, StoreError> {
    let row = tx
        .query_row(
            "SELECT office, application_number, document_code, title, dispatch_date, delivered_at, user_reference,
                    archived_at
             FROM communications WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("no communication {id} to notify about")))?;
    let (office, app, code, title, dispatch, delivered, user_ref, archived_at) = row;
    let office = match office.as_str() {
        "JP" => Office::Jp,
        _ => Office::Ep,
    };
    let mut st = tx.prepare(
        "SELECT file_name, media_type, path, size, sha256 FROM documents WHERE communication_id = ?1
         ORDER BY document_key",
    )?;
    let documents = st
        .query_map([id], |r| {
            Ok(Document {
                file_name: r.get(0)?,
                media_type: r.get(1)?,
                path: r.get(2)?,
                size: r.get::<_, i64>(3)?.max(0) as u64,
                sha256: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (case, client_reference) = client_reference_of(tx, &app, user_ref)?;
    Ok(Event::Communication(Communication {
        id: id.to_owned(),
        office,
        application_number: app,
        case,
        client_reference,
        document_code: code,
        title,
        dispatch_date: dispatch,
        delivered_at: delivered,
        archived_at: archived_at.unwrap_or_default(),
        documents,
        deadline,
    }))
}

/// The `quarantine` event of a communication just quarantined.
pub fn quarantine_event(tx: &Connection, id: &str) -> Result<Event, StoreError> {
    let row = tx
        .query_row(
            "SELECT application_number, document_code, title, dispatch_date, user_reference, attempts,
                    coalesce(last_error, ''), coalesce(quarantined_at, '')
             FROM communications WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("no communication {id} to notify about")))?;
    let (app, code, title, dispatch, user_ref, attempts, reason, at) = row;
    let (_, client_reference) = client_reference_of(tx, &app, user_ref)?;
    Ok(Event::Quarantine(Quarantined {
        id: id.to_owned(),
        application_number: app,
        client_reference,
        document_code: code,
        title,
        dispatch_date: dispatch,
        attempts: u32::try_from(attempts).unwrap_or(0),
        reason,
        quarantined_at: at,
    }))
}

/// The `change` event of one check of a case that found `changes` (not empty).
pub fn change_event(
    tx: &Connection,
    case_id: i64,
    changes: &[Change],
    now: &str,
) -> Result<Event, StoreError> {
    let (office, kind, number, reference, status): (String, String, String, Option<String>, Option<String>) =
        tx.query_row(
            "SELECT office, kind, number, client_reference, status_text FROM cases WHERE id = ?1",
            [case_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    let office = match office.as_str() {
        "JP" => Office::Jp,
        _ => Office::Ep,
    };
    let right: Kind = kind
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("case {case_id}: {e}")))?;
    let key = crate::core::cases::CaseKey {
        office,
        kind: right,
        number: number.clone(),
    };
    Ok(Event::Change(CaseChanged {
        office,
        case: key.label(),
        number,
        right: right.as_str().to_owned(),
        client_reference: reference,
        status,
        detected_at: now.to_owned(),
        counterpart_of: super::family::links_of(tx, case_id)?
            .into_iter()
            .map(|l| CounterpartOf {
                case: l.linked_to,
                client_reference: l.client_reference,
            })
            .collect(),
        deadlines: Vec::new(),
        changes: changes
            .iter()
            .map(|c| ChangeLine {
                kind: c.kind.as_str().to_owned(),
                date: c.date.clone(),
                summary: c.summary.clone(),
                old: c.old.clone(),
                new: c.new.clone(),
            })
            .collect(),
    }))
}

/// A delivery due to be sent, with its event.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub dedupe_key: String,
    pub attempts: u32,
    pub event_id: i64,
    pub run_id: Option<i64>,
    pub created_at: String,
    pub event: Event,
}

impl Due {
    pub fn pending(&self) -> notify::Pending {
        notify::Pending {
            id: self.id,
            channel: self.channel,
            recipient: self.recipient.clone(),
            kind: self.event.kind(),
            run_id: self.run_id,
        }
    }
}

fn decode_event(id: i64, json: &str) -> Result<Event, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("notification event {id}: {e}")))
}

fn channel(s: &str) -> Result<Channel, StoreError> {
    Channel::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown notification channel {s:?}")))
}

const DUE_COLUMNS: &str =
    "d.id, d.channel, d.recipient, d.dedupe_key, d.attempts, e.id, e.run_id, e.created_at,
    e.payload_json";

/// The columns of [`DUE_COLUMNS`], in order.
type DueColumns = (i64, String, String, String, i64, i64, Option<i64>, String, String);

fn due_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DueColumns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn into_due(row: DueColumns) -> Result<Due, StoreError> {
    let (id, ch, recipient, dedupe_key, attempts, event_id, run_id, created_at, json) = row;
    Ok(Due {
        id,
        channel: channel(&ch)?,
        recipient,
        dedupe_key,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        event_id,
        run_id,
        created_at,
        event: decode_event(event_id, &json)?,
    })
}

/// Pending deliveries due at `now_unix` on `channels`, oldest first, at most `limit`.
pub fn due(
    conn: &Connection,
    channels: &[Channel],
    now_unix: i64,
    limit: usize,
) -> Result<Vec<Due>, StoreError> {
    let mut st = conn.prepare(&format!(
        "SELECT {DUE_COLUMNS} FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
         WHERE d.state = 'pending' AND d.next_attempt_unix <= ?1 ORDER BY d.id LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![now_unix, limit as i64], due_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(into_due)
        .filter(|d| d.as_ref().map_or(true, |d| channels.contains(&d.channel)))
        .collect()
}

/// One delivery, whatever its state.
pub fn delivery(conn: &Connection, id: i64) -> Result<Option<Due>, StoreError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {DUE_COLUMNS} FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
                 WHERE d.id = ?1"
            ),
            [id],
            due_row,
        )
        .optional()?;
    row.map(into_due).transpose()
}

/// Records deliveries sent (`how`: the Message-ID, the summary that carried them, an HTTP
/// status). Only pending rows move; returns how many did.
pub fn record_sent(tx: &Transaction<'_>, ids: &[i64], how: &str, now: &str) -> Result<usize, StoreError> {
    let mut st = tx.prepare(
        "UPDATE notify_deliveries SET state = 'sent', sent_at = ?2, sent_as = ?3, last_attempt_at = ?2,
             attempts = attempts + 1, last_error = NULL
         WHERE id = ?1 AND state = 'pending'",
    )?;
    let mut n = 0;
    for id in ids {
        n += st.execute(params![id, now, how])?;
    }
    Ok(n)
}

/// Records a failed attempt. A delivery that is `Failed` now raises a `delivery_failed`
/// admin event (unless it was itself one), routed by `routing`, in the same transaction.
pub fn record_failure(
    tx: &Transaction<'_>,
    routing: &Routing,
    id: i64,
    after: AfterSendFailure,
    error: &str,
    about: &str,
    now: &str,
) -> Result<(), StoreError> {
    match after {
        AfterSendFailure::Retry { attempts, at_unix } => {
            tx.execute(
                "UPDATE notify_deliveries SET attempts = ?2, next_attempt_unix = ?3, last_error = ?4,
                     last_attempt_at = ?5 WHERE id = ?1 AND state = 'pending'",
                params![id, attempts, at_unix, error, now],
            )?;
        }
        AfterSendFailure::Failed { attempts } => {
            let n = tx.execute(
                "UPDATE notify_deliveries SET state = 'failed', attempts = ?2, last_error = ?3, last_attempt_at = ?4
                 WHERE id = ?1 AND state = 'pending'",
                params![id, attempts, error, now],
            )?;
            let Some(d) = delivery(tx, id)? else {
                return Ok(());
            };
            if n > 0 && d.event.kind() != EventKind::DeliveryFailed {
                let report = Event::DeliveryFailed(DeliveryFailed {
                    delivery_id: id,
                    channel: d.channel,
                    recipient: d.recipient,
                    about: about.to_owned(),
                    attempts,
                    error: error.to_owned(),
                    failed_at: now.to_owned(),
                });
                enqueue(tx, routing, &report, d.run_id, now)?;
            }
        }
    }
    Ok(())
}

/// A delivery as `mailroom outbox` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub id: i64,
    pub event_id: i64,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_unix: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub sent_as: Option<String>,
    pub dedupe_key: String,
}

/// Which deliveries [`list`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    All,
    Pending,
    Failed,
}

/// Deliveries, newest first, at most `limit`.
pub fn list(conn: &Connection, which: Which, limit: usize) -> Result<Vec<Row>, StoreError> {
    let filter = match which {
        Which::All => "",
        Which::Pending => "WHERE d.state = 'pending'",
        Which::Failed => "WHERE d.state = 'failed'",
    };
    let mut st = conn.prepare(&format!(
        "SELECT d.id, d.event_id, e.kind, d.channel, d.recipient, d.state, d.attempts, d.next_attempt_unix,
                d.last_error, d.created_at, d.sent_at, d.sent_as, d.dedupe_key
         FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id {filter}
         ORDER BY d.id DESC LIMIT ?1"
    ))?;
    let rows = st
        .query_map([limit as i64], |r| {
            Ok(Row {
                id: r.get(0)?,
                event_id: r.get(1)?,
                kind: r.get(2)?,
                channel: r.get(3)?,
                recipient: r.get(4)?,
                state: r.get(5)?,
                attempts: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(u32::MAX),
                next_attempt_unix: r.get(7)?,
                last_error: r.get(8)?,
                created_at: r.get(9)?,
                sent_at: r.get(10)?,
                sent_as: r.get(11)?,
                dedupe_key: r.get(12)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many deliveries are pending and failed.
pub fn counts(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM notify_deliveries WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    let failed: i64 = conn.query_row(
        "SELECT count(*) FROM notify_deliveries WHERE state = 'failed'",
        [],
        |r| r.get(0),
    )?;
    Ok((pending.max(0) as u64, failed.max(0) as u64))
}

/// Why a delivery could not be retried.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRetried {
    Unknown,
    /// Already sent (at this time).
    Sent(String),
}

/// Makes a failed (or pending) delivery due now, with its attempts reset.
pub fn retry(tx: &Transaction<'_>, id: i64, now: &str) -> Result<Result<(), NotRetried>, StoreError> {
    let state: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT state, sent_at FROM notify_deliveries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match state {
        None => Ok(Err(NotRetried::Unknown)),
        Some((s, at)) if s == "sent" => Ok(Err(NotRetried::Sent(at.unwrap_or_default()))),
        Some(_) => {
            tx.execute(
                "UPDATE notify_deliveries SET state = 'pending', attempts = 0, next_attempt_unix = ?2 WHERE id = ?1",
                params![id, unix(now)?],
            )?;
            Ok(Ok(()))
        }
    }
}

/// Events with an id above `after`, oldest first, at most `limit` (`mailroom desktop`
/// follows the log with a cursor of its own).
pub fn events_after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<(i64, Event)>, StoreError> {
    let mut st =
        conn.prepare("SELECT id, payload_json FROM notify_events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = st
        .query_map(params![after, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, json)| Ok((id, decode_event(id, &json)?)))
        .collect()
}

/// The id of the newest event (0 when there is none).
pub fn last_event_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM notify_events", [], |r| r.get(0))?)
}

/// Events of `kind` created at or after `since`, oldest first (the digest's sections).
pub fn events_since(conn: &Connection, kind: EventKind, since: &str) -> Result<Vec<Event>, StoreError> {
    let mut st = conn.prepare(
        "SELECT id, payload_json FROM notify_events WHERE kind = ?1 AND created_at >= ?2 ORDER BY id",
    )?;
    let rows = st
        .query_map(params![kind.as_str(), since], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, json)| decode_event(id, &json))
        .collect()
}

/// When the last digest was queued, if ever.
pub fn last_digest_at(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT max(created_at) FROM notify_events WHERE kind = 'digest'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// Failed deliveries as the digest reports them.
pub fn failures(conn: &Connection) -> Result<Vec<DeliveryFailed>, StoreError> {
    let mut st = conn.prepare(
        "SELECT d.id, d.channel, d.recipient, e.kind, d.attempts, coalesce(d.last_error, ''),
                coalesce(d.last_attempt_at, '')
         FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id WHERE d.state = 'failed' ORDER BY d.id",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, ch, recipient, kind, attempts, error, failed_at)| {
            Ok(DeliveryFailed {
                delivery_id: id,
                channel: channel(&ch)?,
                recipient,
                about: kind,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                error,
                failed_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::notify::{EmailRoutes, OfficeStopped};

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("db.sqlite3")).unwrap();
        drop(store);
        let conn = Connection::open(dir.path().join("db.sqlite3")).unwrap();
        (dir, conn)
    }

    fn routing() -> Routing {
        Routing {
            email: Some(EmailRoutes {
                to: vec!["a@f".into(), "b@f".into()],
                admin_to: vec!["it@f".into()],
                ..EmailRoutes::default()
            }),
            webhooks: vec![("teams".into(), notify::Filter::default())],
            desktop: false,
        }
    }

    fn stop(at: &str) -> Event {
        Event::OfficeStop(OfficeStopped {
            office: "EPO OPS".into(),
            job: "status".into(),
            reason: "credentials refused".into(),
            action: None,
            stopped_at: at.into(),
        })
    }

    #[test]
    fn an_event_is_written_once_with_one_delivery_per_route() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let now = "2026-12-01T08:00:00Z";
        let e = Event::Change(CaseChanged {
            office: Office::Ep,
            case: "EP1".into(),
            number: "EP1".into(),
            right: "patent".into(),
            client_reference: None,
            status: None,
            detected_at: now.into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: Vec::new(),
        });
        assert!(enqueue(&tx, &routing(), &e, None, now).unwrap().is_some());
        assert!(enqueue(&tx, &routing(), &e, None, now).unwrap().is_none());
        tx.commit().unwrap();
        let due = due(&conn, &[Channel::Email, Channel::Webhook], unix(now).unwrap(), 10).unwrap();
        let got: Vec<_> = due.iter().map(|d| (d.channel, d.recipient.as_str())).collect();
        assert_eq!(
            got,
            [
                (Channel::Email, "a@f"),
                (Channel::Email, "b@f"),
                (Channel::Webhook, "teams")
            ]
        );
        assert_eq!(due[0].event, e);
        assert_eq!(counts(&conn).unwrap(), (3, 0));
    }

    #[test]
    fn retries_wait_and_a_final_failure_is_reported_to_the_admin() {
        let (_d, mut conn) = db();
        let now = "2026-12-01T08:00:00Z";
        let t = unix(now).unwrap();
        let tx = conn.transaction().unwrap();
        enqueue(&tx, &routing(), &stop(now), None, now).unwrap();
        tx.commit().unwrap();
        let first = due(&conn, &[Channel::Email], t, 10).unwrap();
        assert_eq!(first.len(), 1, "admin event goes to admin_to only");
        let id = first[0].id;
        let tx = conn.transaction().unwrap();
        record_failure(
            &tx,
            &routing(),
            id,
            notify::after_send_failure(0, t, 0.5, false),
            "down",
            "x",
            now,
        )
        .unwrap();
        tx.commit().unwrap();
        assert!(
            due(&conn, &[Channel::Email], t, 10).unwrap().is_empty(),
            "not due before its retry"
        );
        assert_eq!(due(&conn, &[Channel::Email], t + 60, 10).unwrap().len(), 1);
        let tx = conn.transaction().unwrap();
        record_failure(
            &tx,
            &routing(),
            id,
            AfterSendFailure::Failed { attempts: 8 },
            "down",
            "x",
            now,
        )
        .unwrap();
        tx.commit().unwrap();
        let failed = list(&conn, Which::Failed, 10).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("down"));
        // The failure report: not back to it@f by email (it failed there), but to the webhook.
        let report = due(&conn, &[Channel::Email, Channel::Webhook], t, 10).unwrap();
        let got: Vec<_> = report
            .iter()
            .map(|d| (d.channel, d.recipient.clone(), d.event.kind()))
            .collect();
        assert_eq!(got, []);
        let mut r = routing();
        r.webhooks[0].1.kinds = vec![EventKind::DeliveryFailed];
        let tx = conn.transaction().unwrap();
        assert_eq!(retry(&tx, id, now).unwrap(), Ok(()));
        let later = "2026-12-01T09:00:00Z";
        record_failure(
            &tx,
            &r,
            id,
            AfterSendFailure::Failed { attempts: 8 },
            "down",
            "x",
            later,
        )
        .unwrap();
        tx.commit().unwrap();
        let report = due(&conn, &[Channel::Webhook], t + 3600, 10).unwrap();
        assert_eq!(
            report.len(),
            1,
            "failing again after a retry by hand is reported again"
        );
        assert_eq!(report[0].event.kind(), EventKind::DeliveryFailed);
        let tx = conn.transaction().unwrap();
        assert_eq!(record_sent(&tx, &[report[0].id], "202", now).unwrap(), 1);
        assert_eq!(
            record_sent(&tx, &[report[0].id], "202", now).unwrap(),
            0,
            "sent once"
        );
        assert_eq!(
            retry(&tx, report[0].id, now).unwrap(),
            Err(NotRetried::Sent(now.into()))
        );
        assert_eq!(retry(&tx, 999, now).unwrap(), Err(NotRetried::Unknown));
        tx.commit().unwrap();
        assert_eq!(failures(&conn).unwrap().len(), 1);
        assert_eq!(events_after(&conn, 0, 10).unwrap().len(), 3);
        assert_eq!(last_event_id(&conn).unwrap(), 3);
    }
}
