//! The `deadlines`, `deadline_reminders` and `register_limits` tables.
//!
//! **Invariants kept here:** a deadline is proposed in the transaction that records its
//! communication as archived, so the alert that announces the communication carries it; one
//! deadline per communication (`UNIQUE`, and proposing twice changes nothing); rows are never
//! deleted; a recomputation that moves an acknowledged deadline puts it back to `open`, so a
//! person confirms the new date; reminders and Register reports are written with the rows that
//! record them as sent, in the same transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::StoreError;
use crate::core::cases::{Office, parse_case};
use crate::core::deadline::propose::{self, Communication, LetterReading, Outcome, Proposal, SourceKind};
use crate::core::deadline::register::{self, Agreement, RegisterLimit};
use crate::core::deadline::{Period, Policy, remind};
use crate::core::notify::{CheckKind, DeadlineCheck, DeadlineInfo, DeadlineReminder, Event};
use crate::core::status::ProceduralStep;

/// A deadline's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Acknowledged,
    Done,
    Withdrawn,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Done => "done",
            State::Withdrawn => "withdrawn",
        }
    }

    fn parse(s: &str) -> Result<State, StoreError> {
        [State::Open, State::Acknowledged, State::Done, State::Withdrawn]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("deadline state {s:?}")))
    }
}

/// One row, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub id: i64,
    /// The mailbox communication it runs from, or `None` for a JPO document (`jp_document`).
    pub communication_id: Option<String>,
    /// `<case id>:<document number>` of the JPO document it runs from.
    pub jp_document: Option<String>,
    pub office: String,
    pub application_number: String,
    pub case_number: Option<String>,
    pub client_reference: Option<String>,
    pub title: String,
    /// The EPO form or JPO document code, so a reminder follows the communication's routing.
    pub document_code: String,
    pub document_date: String,
    pub received_date: Option<String>,
    pub source: String,
    pub basis: String,
    pub period: String,
    pub due: String,
    pub unextended: String,
    pub previous_due: Option<String>,
    pub steps: Vec<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub remedy: Option<String>,
    pub register: String,
    pub register_detail: Option<String>,
    pub state: State,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub done_at: Option<String>,
    pub withdrawn_at: Option<String>,
    pub note: Option<String>,
    pub created_at: String,
    pub computed_at: String,
}

impl Row {
    /// What a notification shows of it.
    pub fn info(&self) -> DeadlineInfo {
        DeadlineInfo {
            id: Some(self.id),
            line: self.line(),
            due: Some(self.due.clone()),
            basis: Some(self.basis.clone()),
            source: Some(self.source.clone()),
            steps: self.steps.clone(),
            notes: self.notes.clone(),
            warnings: self.warnings.clone(),
            register: Some(self.register.clone()),
            remedy: self.remedy.clone(),
        }
    }

    /// The stored one-line summary with the Register's verdict appended.
    pub fn line(&self) -> String {
        let mut line = self.notes.first().cloned().unwrap_or_default();
        if let Some(headline) = self.notes.iter().find(|n| n.starts_with("Due ")) {
            line = headline.clone();
        }
        match self.register.as_str() {
            "confirmed" => line.push_str(" — confirmed by the Register"),
            "disagrees" => line.push_str(" — THE REGISTER DISAGREES, check it"),
            _ => {}
        }
        line
    }
}

const COLUMNS: &str = "d.id, d.communication_id, d.office, d.application_number, d.case_number, d.title,
    d.document_date, d.received_date, d.source, d.basis, d.period, d.due, d.unextended, d.previous_due,
    d.steps_json, d.notes_json, d.warnings_json, d.remedy, d.register, d.register_detail, d.state,
    d.acknowledged_by, d.acknowledged_at, d.done_at, d.note, d.created_at, d.computed_at,
    (SELECT c.client_reference FROM cases c WHERE c.office = d.office AND c.number = d.case_number),
    (SELECT m.user_reference FROM communications m WHERE m.id = d.communication_id), d.withdrawn_at,
    d.document_code, d.jp_document";

fn json_list(s: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("deadline {what}: {e}")))
}

fn decode(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Row, [String; 3], String)> {
    let case_ref: Option<String> = r.get(27)?;
    let user_ref: Option<String> = r.get(28)?;
    Ok((
        Row {
            id: r.get(0)?,
            communication_id: r.get(1)?,
            office: r.get(2)?,
            application_number: r.get(3)?,
            case_number: r.get(4)?,
            client_reference: case_ref.or(user_ref).filter(|s| !s.trim().is_empty()),
            title: r.get(5)?,
            document_code: r.get(30)?,
            jp_document: r.get(31)?,
            document_date: r.get(6)?,
            received_date: r.get(7)?,
            source: r.get(8)?,
            basis: r.get(9)?,
            period: r.get(10)?,
            due: r.get(11)?,
            unextended: r.get(12)?,
            previous_due: r.get(13)?,
            steps: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            remedy: r.get(17)?,
            register: r.get(18)?,
            register_detail: r.get(19)?,
            state: State::Open,
            acknowledged_by: r.get(21)?,
            acknowledged_at: r.get(22)?,
            done_at: r.get(23)?,
            withdrawn_at: r.get(29)?,
            note: r.get(24)?,
            created_at: r.get(25)?,
            computed_at: r.get(26)?,
        },
        [r.get(14)?, r.get(15)?, r.get(16)?],
        r.get(20)?,
    ))
}

fn finish((mut row, [steps, notes, warnings], state): (Row, [String; 3], String)) -> Result<Row, StoreError> {
    row.steps = json_list(&steps, "steps")?;
    row.notes = json_list(&notes, "notes")?;
    row.warnings = json_list(&warnings, "warnings")?;
    row.state = State::parse(&state)?;
    Ok(row)
}

fn query(conn: &Connection, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Row>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM deadlines d {filter}");
    let mut st = conn.prepare(&sql)?;
    let raw = st.query_map(args, decode)?.collect::<Result<Vec<_>, _>>()?;
    raw.into_iter().map(finish).collect()
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Row>, StoreError> {
    Ok(query(conn, "WHERE d.id = ?1", [id])?.pop())
}

pub fn of_communication(conn: &Connection, communication_id: &str) -> Result<Option<Row>, StoreError> {
    Ok(query(conn, "WHERE d.communication_id = ?1", [communication_id])?.pop())
}

/// Which deadlines a listing shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only `open` (not yet acknowledged).
    pub open_only: bool,
    /// Only those due on or before this day (and not done or withdrawn).
    pub due_by: Option<NaiveDate>,
    /// Done and withdrawn ones too.
    pub all: bool,
}

/// Deadlines by due date.
pub fn list(conn: &Connection, f: &Filter) -> Result<Vec<Row>, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    if f.open_only {
        clauses.push("d.state = 'open'".into());
    } else if !f.all {
        clauses.push("d.state IN ('open', 'acknowledged')".into());
    }
    if let Some(by) = f.due_by {
        clauses.push(format!("d.due <= '{}'", by.format("%Y-%m-%d")));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    query(conn, &format!("{filter} ORDER BY d.due, d.id"), [])
}

/// What the digest lists: open or acknowledged deadlines due within `horizon_days` of
/// `today` (or already past), and every one not yet acknowledged, whenever due.
pub fn for_digest(conn: &Connection, today: NaiveDate, horizon_days: u32) -> Result<Vec<Row>, StoreError> {
    let by = today
        .checked_add_days(chrono::Days::new(u64::from(horizon_days)))
        .unwrap_or(today);
    query(
        conn,
        "WHERE d.state = 'open' OR (d.state = 'acknowledged' AND d.due <= ?1) ORDER BY d.due, d.id",
        [by.format("%Y-%m-%d").to_string()],
    )
}

/// The local date of the Mailbox delivery time, in the EPO's zone (Munich): the day the
/// seven-day safeguard counts.
fn received_date(delivered_at: Option<&str>) -> Option<NaiveDate> {
    let t = DateTime::parse_from_rfc3339(delivered_at?).ok()?;
    Some(t.with_timezone(&chrono_tz::Europe::Berlin).date_naive())
}

fn date(s: &str, what: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?} is not a date")))
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn period_code(p: Period) -> String {
    let u = match p.unit {
        crate::core::deadline::Unit::Days => "d",
        crate::core::deadline::Unit::Weeks => "w",
        crate::core::deadline::Unit::Months => "m",
        crate::core::deadline::Unit::Years => "y",
    };
    format!("{}{u}", p.count)
}

fn period_of(code: &str) -> Result<Period, StoreError> {
    code.parse()
        .map_err(|e: crate::core::deadline::BadPeriod| StoreError::Corrupt(e.to_string()))
}

/// The communication's fields a deadline is computed from.
struct Comm {
    office: Office,
    application_number: String,
    title: String,
    code: String,
    dated: NaiveDate,
    received: Option<NaiveDate>,
}

fn communication(tx: &Connection, id: &str) -> Result<Comm, StoreError> {
    type Fields = (String, String, String, String, String, Option<String>);
    let (office, app, title, code, dispatch, delivered): Fields = tx
        .query_row(
            "SELECT office, application_number, title, document_code, dispatch_date, delivered_at
             FROM communications WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("no communication {id} to propose a deadline for")))?;
    let dated = date(&dispatch, "dispatch date")?;
    Ok(Comm {
        office: if office == "JP" { Office::Jp } else { Office::Ep },
        application_number: app,
        title,
        code,
        dated,
        // A delivery time before the document's date is the office's clock, not a late
        // delivery: it is ignored rather than refused.
        received: received_date(delivered.as_deref()).filter(|r| *r >= dated),
    })
}

fn case_number(application_number: &str) -> Option<String> {
    parse_case(application_number, Some(Office::Ep), None)
        .ok()
        .map(|k| k.number)
}

/// What proposing gave: what the communication's alert shows (the row's summary, or why no
/// deadline is known) and the admin events the Register check raised.
#[derive(Debug, Default)]
pub struct Proposed {
    pub info: Option<DeadlineInfo>,
    pub events: Vec<Event>,
}

/// Proposes the deadline of communication `id` (just archived) from its letter reading,
/// records it, and checks it against the Register's latest snapshot of its case.
/// Idempotent: a communication that has a deadline keeps it.
pub fn propose_for(
    tx: &Transaction<'_>,
    policy: &Policy,
    id: &str,
    letter: &LetterReading,
    now: &str,
) -> Result<Proposed, StoreError> {
    if !policy.enabled {
        return Ok(Proposed::default());
    }
    if let Some(row) = of_communication(tx, id)? {
        return Ok(Proposed {
            info: Some(row.info()),
            events: Vec::new(),
        });
    }
    let c = communication(tx, id)?;
    let input = Communication {
        office: c.office,
        title: &c.title,
        dated: c.dated,
        received: c.received,
        letter,
    };
    let outcome = match propose::propose(&input, &policy.rules, &policy.calendar) {
        Ok(o) => o,
        Err(e) => Outcome::Unknown {
            why: format!("the deadline cannot be computed: {e}"),
        },
    };
    let unknown = match outcome {
        Outcome::Proposed(p) => {
            insert(tx, Origin::Communication(id), &c, &p, letter, now)?;
            None
        }
        Outcome::Unknown { why } => Some(why),
    };
    // The Register may know the period of a letter that states none readable.
    let events = match case_number(&c.application_number) {
        Some(number) => check_against_latest(tx, policy, &number, now)?,
        None => Vec::new(),
    };
    let info = match (of_communication(tx, id)?, unknown) {
        (Some(row), _) => Some(row.info()),
        (None, Some(why)) => Some(DeadlineInfo {
            line: format!("Deadline not known: {why}. Read the letter and docket it by hand."),
            notes: vec![why],
            ..DeadlineInfo::default()
        }),
        (None, None) => None,
    };
    Ok(Proposed { info, events })
}

/// What a deadline runs from.
#[derive(Clone, Copy, Debug)]
enum Origin<'a> {
    /// A mailbox communication, by id.
    Communication(&'a str),
    /// A JPO document: `<case id>:<document number>`.
    JpDocument(&'a str),
}

/// Inserts a proposed deadline; `None` when the origin has one already (nothing changes).
fn insert(
    tx: &Transaction<'_>,
    origin: Origin<'_>,
    c: &Comm,
    p: &Proposal,
    letter: &LetterReading,
    now: &str,
) -> Result<Option<i64>, StoreError> {
    let mut notes = vec![propose::headline(p, c.dated)];
    notes.extend(p.notes.iter().cloned());
    let (communication, jp_document, number) = match origin {
        Origin::Communication(id) => (Some(id), None, case_number(&c.application_number)),
        Origin::JpDocument(key) => (None, Some(key), Some(c.application_number.clone())),
    };
    let inserted = tx.execute(
        "INSERT INTO deadlines (communication_id, jp_document, office, application_number, case_number, title,
             document_code, document_date, received_date, source, basis, period, due, unextended, steps_json,
             notes_json, warnings_json, letter_json, remedy, created_at, computed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?20)
         ON CONFLICT DO NOTHING",
        params![
            communication,
            jp_document,
            c.office.as_str(),
            c.application_number,
            number,
            c.title,
            c.code,
            c.dated.format("%Y-%m-%d").to_string(),
            c.received.map(|d| d.format("%Y-%m-%d").to_string()),
            p.source.as_str(),
            p.basis,
            period_code(p.period),
            p.deadline.due.format("%Y-%m-%d").to_string(),
            p.deadline.unextended.format("%Y-%m-%d").to_string(),
            to_json(&p.deadline.steps)?,
            to_json(&notes)?,
            to_json(&p.deadline.warnings)?,
            to_json(letter)?,
            p.remedy,
            now,
        ],
    )?;
    Ok((inserted > 0).then(|| tx.last_insert_rowid()))
}

/// The JPO documents whose answer ends the period they start: a refusal notice is answered
/// by a written opinion (A53, 意見書) or an amendment (A523, 手続補正書).
const JP_ANSWERS: [&str; 2] = ["A53", "A523"];

/// Proposes the deadlines the JPO documents of a followed JP case start (the rules table,
/// `src/data/jpo-periods.toml`), in the transaction that records the case's snapshot.
/// Idempotent by document. A document already answered (a later opinion or amendment in the
/// same data) or whose deadline has passed by `today` gets none: it is history, not a
/// docket entry. What the change alert shows for each new one is returned.
pub fn propose_jp(
    tx: &Transaction<'_>,
    policy: &Policy,
    case_id: i64,
    number: &str,
    status: &crate::core::status::JpStatus,
    today: NaiveDate,
    now: &str,
) -> Result<Vec<DeadlineInfo>, StoreError> {
    let mut infos = Vec::new();
    if !policy.enabled || policy.jp_rules.is_empty() {
        return Ok(infos);
    }
    for doc in &status.documents {
        let Ok(dated) = NaiveDate::parse_from_str(&doc.legal_date, "%Y-%m-%d") else {
            continue;
        };
        let answered = status.documents.iter().any(|d| {
            JP_ANSWERS.contains(&d.code.as_str())
                && NaiveDate::parse_from_str(&d.legal_date, "%Y-%m-%d").is_ok_and(|a| a >= dated)
        });
        if answered {
            continue;
        }
        let input = propose::JpDocument {
            right: &status.kind,
            code: &doc.code,
            dated,
        };
        let Ok(Some(p)) = propose::propose_jp(
            &input,
            &policy.jp_rules,
            policy.jp_applicant_abroad,
            &policy.calendar,
        ) else {
            continue;
        };
        if p.deadline.due < today {
            continue;
        }
        let key = format!(
            "{case_id}:{}",
            doc.document_number
                .clone()
                .unwrap_or_else(|| format!("{}@{}", doc.code, doc.legal_date))
        );
        let c = Comm {
            office: Office::Jp,
            application_number: number.to_owned(),
            title: doc.description.clone(),
            code: doc.code.clone(),
            dated,
            received: None,
        };
        if let Some(id) = insert(
            tx,
            Origin::JpDocument(&key),
            &c,
            &p,
            &LetterReading::NoPeriod,
            now,
        )? && let Some(row) = get(tx, id)?
        {
            infos.push(row.info());
        }
    }
    Ok(infos)
}

/// Checks the deadlines of `case_number` against the latest snapshot of its followed case,
/// if there is one: the admin events to queue.
fn check_against_latest(
    tx: &Transaction<'_>,
    policy: &Policy,
    case_number: &str,
    now: &str,
) -> Result<Vec<Event>, StoreError> {
    let found: Option<i64> = tx
        .query_row(
            "SELECT id FROM cases WHERE office = 'EP' AND number = ?1 AND removed_at IS NULL",
            [case_number],
            |r| r.get(0),
        )
        .optional()?;
    let Some(case_id) = found else {
        return Ok(Vec::new());
    };
    let Some(crate::core::status::CaseStatus::Ep(s)) = super::cases::latest_snapshot(tx, case_id)? else {
        return Ok(Vec::new());
    };
    // A missing communication is reported by the status cycle, which counts the grace
    // period; the earliest day here keeps this check from reporting one.
    cross_check(tx, policy, case_id, case_number, &s.steps, NaiveDate::MIN, now)
}

/// The first day the mailbox was listed: mailroom vouches for no communication dispatched
/// before it was watching.
fn watching_since(conn: &Connection) -> Result<Option<NaiveDate>, StoreError> {
    let first: Option<String> =
        conn.query_row("SELECT min(first_seen_at) FROM communications", [], |r| r.get(0))?;
    Ok(first
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc).date_naive()))
}

/// Compares the Register's time limits of one followed EP case with its deadlines: confirms
/// or flags each deadline of the same date, makes a `register` deadline for a communication
/// of that date that has none, and reports a time limit no communication explains once it is
/// `register_grace_days` old. Returns the admin events to queue (in the caller's transaction).
pub fn cross_check(
    tx: &Transaction<'_>,
    policy: &Policy,
    case_id: i64,
    case_number: &str,
    steps: &[ProceduralStep],
    today: NaiveDate,
    now: &str,
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    if !policy.enabled {
        return Ok(events);
    }
    let Some(since) = policy.register_since.or(watching_since(tx)?) else {
        return Ok(events);
    };
    for limit in register::limits_of(steps)
        .into_iter()
        .filter(|l| l.dispatched >= since)
    {
        let dispatch = limit.dispatched.format("%Y-%m-%d").to_string();
        tx.execute(
            "INSERT INTO register_limits (case_id, step_id, description, dispatch_date, period, first_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (case_id, step_id) DO NOTHING",
            params![case_id, limit.step_id, limit.description, dispatch, period_code(limit.period), now],
        )?;
        let same_day = query(
            tx,
            "WHERE d.case_number = ?1 AND d.document_date = ?2 AND d.state <> 'withdrawn' ORDER BY d.id",
            params![case_number, dispatch],
        )?;
        if !same_day.is_empty() {
            events.extend(judge(tx, &limit, case_id, case_number, &same_day, now)?);
            continue;
        }
        if let Some(comm) = undated_communication(tx, case_number, &dispatch)? {
            let c = communication(tx, &comm)?;
            let input = Communication {
                office: c.office,
                title: &c.title,
                dated: c.dated,
                received: c.received,
                letter: &LetterReading::NoPeriod,
            };
            if let Ok(p) = propose::from_register(&input, limit.period, &limit.step_id, &policy.calendar)
                && let Some(id) = insert(
                    tx,
                    Origin::Communication(&comm),
                    &c,
                    &p,
                    &LetterReading::NoPeriod,
                    now,
                )?
            {
                tx.execute(
                    "UPDATE deadlines SET register = 'confirmed', register_detail = ?2 WHERE id = ?1",
                    params![
                        id,
                        format!("{} {} ({})", limit.step_id, limit.period, limit.description)
                    ],
                )?;
                link(tx, case_id, &limit.step_id, id)?;
            }
            continue;
        }
        let reported: Option<Option<String>> = tx
            .query_row(
                "SELECT reported_at FROM register_limits WHERE case_id = ?1 AND step_id = ?2",
                params![case_id, limit.step_id],
                |r| r.get(0),
            )
            .optional()?;
        let old_enough = (today - limit.dispatched).num_days() >= i64::from(policy.register_grace_days);
        if old_enough && matches!(reported, Some(None)) {
            tx.execute(
                "UPDATE register_limits SET reported_at = ?3 WHERE case_id = ?1 AND step_id = ?2",
                params![case_id, limit.step_id, now],
            )?;
            events.push(Event::DeadlineCheck(DeadlineCheck {
                kind: CheckKind::NoCommunication,
                case: case_number.to_owned(),
                client_reference: client_reference(tx, case_id)?,
                step_id: limit.step_id.clone(),
                step: limit.description.clone(),
                dispatch_date: dispatch.clone(),
                register_period: limit.period.to_string(),
                deadline: None,
                summary: format!(
                    "the Register shows a time limit of {} for {case_number} dated {dispatch} ({}); no communication of that date was received",
                    limit.period, limit.description
                ),
                detected_at: now.to_owned(),
            }));
        }
    }
    Ok(events)
}

fn client_reference(tx: &Connection, case_id: i64) -> Result<Option<String>, StoreError> {
    Ok(tx
        .query_row(
            "SELECT client_reference FROM cases WHERE id = ?1",
            [case_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

fn link(tx: &Connection, case_id: i64, step_id: &str, deadline_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE register_limits SET deadline_id = ?3 WHERE case_id = ?1 AND step_id = ?2",
        params![case_id, step_id, deadline_id],
    )?;
    Ok(())
}

/// An archived communication of the case and date that has no deadline yet.
fn undated_communication(
    tx: &Connection,
    case_number: &str,
    dispatch: &str,
) -> Result<Option<String>, StoreError> {
    let mut st = tx.prepare(
        "SELECT m.id, m.application_number FROM communications m
         WHERE m.dispatch_date = ?1 AND m.state IN ('archived', 'handled')
           AND NOT EXISTS (SELECT 1 FROM deadlines d WHERE d.communication_id = m.id)
         ORDER BY m.id",
    )?;
    let rows = st
        .query_map([dispatch], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .find(|(_, app)| case_number_matches(app, case_number))
        .map(|(id, _)| id))
}

fn case_number_matches(application_number: &str, number: &str) -> bool {
    case_number(application_number).as_deref() == Some(number)
}

/// Confirms the deadline whose period agrees, or flags the first of the day (once per step).
fn judge(
    tx: &Transaction<'_>,
    limit: &RegisterLimit,
    case_id: i64,
    case_number: &str,
    same_day: &[Row],
    now: &str,
) -> Result<Vec<Event>, StoreError> {
    let detail = format!("{} {} ({})", limit.step_id, limit.period, limit.description);
    let agreeing = same_day.iter().find(|row| {
        period_of(&row.period).is_ok_and(|p| register::compare(p, limit.period) == Agreement::Confirmed)
    });
    if let Some(row) = agreeing {
        tx.execute(
            "UPDATE deadlines SET register = 'confirmed', register_detail = ?2 WHERE id = ?1",
            params![row.id, detail],
        )?;
        link(tx, case_id, &limit.step_id, row.id)?;
        return Ok(Vec::new());
    }
    let Some(row) = same_day.first() else {
        return Ok(Vec::new());
    };
    if row.register == "disagrees" && row.register_detail.as_deref() == Some(detail.as_str()) {
        return Ok(Vec::new());
    }
    tx.execute(
        "UPDATE deadlines SET register = 'disagrees', register_detail = ?2 WHERE id = ?1",
        params![row.id, detail],
    )?;
    link(tx, case_id, &limit.step_id, row.id)?;
    let flagged =
        get(tx, row.id)?.ok_or_else(|| StoreError::Corrupt(format!("deadline {} vanished", row.id)))?;
    Ok(vec![Event::DeadlineCheck(DeadlineCheck {
        kind: CheckKind::Disagrees,
        case: case_number.to_owned(),
        client_reference: flagged.client_reference.clone(),
        step_id: limit.step_id.clone(),
        step: limit.description.clone(),
        dispatch_date: flagged.document_date.clone(),
        register_period: limit.period.to_string(),
        summary: format!(
            "deadline {} of {case_number} ({}, dated {}) runs {} ({}); the Register's step {} gives {}",
            flagged.id,
            flagged.title,
            flagged.document_date,
            period_of(&flagged.period).map_or_else(|_| flagged.period.clone(), |p| p.to_string()),
            flagged.basis,
            limit.step_id,
            limit.period
        ),
        deadline: Some(flagged.info()),
        detected_at: now.to_owned(),
    })])
}

/// What a recomputation changed: `(id, old due, new due)`.
pub type Moved = (i64, String, String);

/// Recomputes every open or acknowledged deadline with the current rules and calendars (a
/// calendar update, a firm rule added). A deadline whose due date moves keeps the old one in
/// `previous_due`, says so in its notes, and is `open` again if it had been acknowledged.
pub fn recompute(tx: &Transaction<'_>, policy: &Policy, now: &str) -> Result<Vec<Moved>, StoreError> {
    let mut moved = Vec::new();
    if !policy.enabled {
        return Ok(moved);
    }
    let rows = query(tx, "WHERE d.state IN ('open', 'acknowledged') ORDER BY d.id", [])?;
    for row in rows {
        let letter = letter_of(tx, row.id)?
            .ok_or_else(|| StoreError::Corrupt(format!("deadline {} vanished", row.id)))?;
        let dated = date(&row.document_date, "document date")?;
        let received = row
            .received_date
            .as_deref()
            .map(|d| date(d, "received date"))
            .transpose()?;
        let input = Communication {
            office: if row.office == "JP" {
                Office::Jp
            } else {
                Office::Ep
            },
            title: &row.title,
            dated,
            received,
            letter: &letter,
        };
        let source = SourceKind::parse(&row.source)
            .ok_or_else(|| StoreError::Corrupt(format!("deadline source {:?}", row.source)))?;
        let fresh = match (source, &row.jp_document) {
            (_, Some(key)) => jp_again(tx, policy, key, &row, dated)?,
            (source, None) => match source {
                // The same period again; the basis (which names the Register's step) is kept.
                SourceKind::Register => {
                    propose::from_register(&input, period_of(&row.period)?, "", &policy.calendar)
                        .ok()
                        .map(|p| Proposal {
                            basis: row.basis.clone(),
                            ..p
                        })
                }
                _ => match propose::propose(&input, &policy.rules, &policy.calendar) {
                    Ok(Outcome::Proposed(p)) => Some(p),
                    _ => None,
                },
            },
        };
        let Some(p) = fresh else { continue };
        let due = p.deadline.due.format("%Y-%m-%d").to_string();
        if due == row.due && period_code(p.period) == row.period {
            continue;
        }
        let mut notes = vec![propose::headline(&p, dated)];
        if source == SourceKind::Register {
            notes.extend(row.notes.iter().skip(1).cloned());
        } else {
            notes.extend(p.notes.iter().cloned());
        }
        notes.push(format!(
            "recomputed {now}: the due date moved from {} to {due}{}",
            row.due,
            if row.state == State::Acknowledged {
                "; it had been acknowledged, so it is open again until someone confirms the new date"
            } else {
                ""
            }
        ));
        tx.execute(
            "UPDATE deadlines SET previous_due = due, due = ?2, unextended = ?3, period = ?4, steps_json = ?5,
                 notes_json = ?6, warnings_json = ?7, computed_at = ?8, register = 'unchecked', register_detail = NULL,
                 state = 'open', acknowledged_by = NULL, acknowledged_at = NULL
             WHERE id = ?1",
            params![
                row.id,
                due,
                p.deadline.unextended.format("%Y-%m-%d").to_string(),
                period_code(p.period),
                to_json(&p.deadline.steps)?,
                to_json(&notes)?,
                to_json(&p.deadline.warnings)?,
                now
            ],
        )?;
        tx.execute("DELETE FROM deadline_reminders WHERE deadline_id = ?1", [row.id])?;
        moved.push((row.id, row.due.clone(), due));
    }
    Ok(moved)
}

/// A JPO document's deadline computed again (the kind of right is its case's).
fn jp_again(
    tx: &Connection,
    policy: &Policy,
    key: &str,
    row: &Row,
    dated: NaiveDate,
) -> Result<Option<Proposal>, StoreError> {
    let case_id: Option<i64> = key.split(':').next().and_then(|c| c.parse().ok());
    let right: Option<String> = match case_id {
        Some(id) => tx
            .query_row("SELECT kind FROM cases WHERE id = ?1", [id], |r| r.get(0))
            .optional()?,
        None => None,
    };
    let Some(right) = right else { return Ok(None) };
    let doc = propose::JpDocument {
        right: &right,
        code: &row.document_code,
        dated,
    };
    Ok(propose::propose_jp(
        &doc,
        &policy.jp_rules,
        policy.jp_applicant_abroad,
        &policy.calendar,
    )
    .ok()
    .flatten())
}

/// The reminders due `today`, recorded as sent. Only `open` deadlines get them: an
/// acknowledged one is in the firm's docket, whose own reminders take over.
pub fn reminders(
    tx: &Transaction<'_>,
    policy: &Policy,
    today: NaiveDate,
    now: &str,
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    if !policy.enabled || policy.remind_days.is_empty() {
        return Ok(events);
    }
    for row in query(tx, "WHERE d.state = 'open' ORDER BY d.due, d.id", [])? {
        let due = date(&row.due, "due date")?;
        let mut st = tx.prepare("SELECT days_before FROM deadline_reminders WHERE deadline_id = ?1")?;
        let sent: BTreeSet<u32> = st
            .query_map([row.id], |r| r.get::<_, u32>(0))?
            .collect::<Result<_, _>>()?;
        let Some(d) = remind::due(&policy.remind_days, due, today, &sent) else {
            continue;
        };
        for rung in &d.mark {
            tx.execute(
                "INSERT INTO deadline_reminders (deadline_id, days_before, queued_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
                params![row.id, rung, now],
            )?;
        }
        let case = case_label(tx, &row)?;
        events.push(Event::Deadline(DeadlineReminder {
            deadline_id: row.id,
            office: if row.office == "JP" {
                Office::Jp
            } else {
                Office::Ep
            },
            application_number: row.application_number.clone(),
            case,
            client_reference: row.client_reference.clone(),
            title: row.title.clone(),
            document_code: row.document_code.clone(),
            document_date: row.document_date.clone(),
            due: row.due.clone(),
            days_left: d.days_left,
            rung: d.rung,
            deadline: row.info(),
        }));
    }
    Ok(events)
}

/// The followed case a deadline belongs to, as people read it (`EP23184567`, `JP 2025-123456`).
pub fn case_label(conn: &Connection, row: &Row) -> Result<Option<String>, StoreError> {
    use crate::core::cases::Kind;
    if row.office != "JP" {
        return Ok(parse_case(&row.application_number, Some(Office::Ep), None)
            .ok()
            .map(|k| k.label()));
    }
    let kind: Option<String> = conn
        .query_row(
            "SELECT kind FROM cases WHERE office = 'JP' AND number = ?1",
            [row.case_number.as_deref().unwrap_or(&row.application_number)],
            |r| r.get(0),
        )
        .optional()?;
    let kind = match kind.as_deref() {
        Some("design") => Kind::Design,
        Some("trademark") => Kind::Trademark,
        _ => Kind::Patent,
    };
    Ok(parse_case(&row.application_number, Some(Office::Jp), Some(kind))
        .ok()
        .map(|k| k.label()))
}

/// Why an acknowledgement or a completion was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no deadline {0} (see `mailroom deadlines --all`)")]
    NoSuch(i64),
    #[error("deadline {id} is {state}: only an open or acknowledged deadline can be {what}")]
    Closed {
        id: i64,
        state: &'static str,
        what: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ChangeError {
    fn from(e: rusqlite::Error) -> Self {
        ChangeError::Store(StoreError::from(e))
    }
}

fn changeable(tx: &Connection, id: i64, what: &'static str) -> Result<Row, ChangeError> {
    let row = get(tx, id)?.ok_or(ChangeError::NoSuch(id))?;
    if matches!(row.state, State::Done | State::Withdrawn) {
        return Err(ChangeError::Closed {
            id,
            state: row.state.as_str(),
            what,
        });
    }
    Ok(row)
}

/// A person confirms the deadline is in the firm's docket. Acknowledging again replaces who
/// and when (the latest sign-off counts) and keeps an earlier note unless a new one is given.
pub fn acknowledge(
    tx: &Transaction<'_>,
    id: i64,
    by: &str,
    note: Option<&str>,
    now: &str,
) -> Result<Row, ChangeError> {
    changeable(tx, id, "acknowledged")?;
    tx.execute(
        "UPDATE deadlines SET state = 'acknowledged', acknowledged_by = ?2, acknowledged_at = ?3,
             note = coalesce(?4, note) WHERE id = ?1",
        params![id, by, now, note],
    )?;
    get(tx, id)?.ok_or(ChangeError::NoSuch(id))
}

/// The act the deadline asked for was done (the reply filed): no more reminders or listings.
pub fn done(tx: &Transaction<'_>, id: i64, note: Option<&str>, now: &str) -> Result<Row, ChangeError> {
    changeable(tx, id, "marked done")?;
    tx.execute(
        "UPDATE deadlines SET state = 'done', done_at = ?2, note = coalesce(?3, note) WHERE id = ?1",
        params![id, now, note],
    )?;
    get(tx, id)?.ok_or(ChangeError::NoSuch(id))
}

/// A person says the deadline no longer applies (the communication was superseded, the
/// application withdrawn): kept, with why, and no longer listed or reminded.
pub fn withdraw(tx: &Transaction<'_>, id: i64, note: &str, now: &str) -> Result<Row, ChangeError> {
    changeable(tx, id, "withdrawn")?;
    tx.execute(
        "UPDATE deadlines SET state = 'withdrawn', withdrawn_at = ?2, note = ?3 WHERE id = ?1",
        params![id, now, note],
    )?;
    get(tx, id)?.ok_or(ChangeError::NoSuch(id))
}

/// A Register time limit no communication explains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unexplained {
    pub case: String,
    pub step_id: String,
    pub dispatch_date: String,
    /// `4m`
    pub period: String,
    /// When it was reported to the admins, once the grace period had passed.
    pub reported_at: Option<String>,
}

/// The Register's time limits that no communication explains, reported or not yet.
pub fn unexplained(conn: &Connection) -> Result<Vec<Unexplained>, StoreError> {
    let mut st = conn.prepare(
        "SELECT c.number, r.step_id, r.dispatch_date, r.period, r.reported_at FROM register_limits r
         JOIN cases c ON c.id = r.case_id WHERE r.deadline_id IS NULL ORDER BY r.dispatch_date, c.number",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(Unexplained {
                case: r.get(0)?,
                step_id: r.get(1)?,
                dispatch_date: r.get(2)?,
                period: r.get(3)?,
                reported_at: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What reading deadline `id`'s letter gave, as recorded with it (`None`: no such deadline).
/// Kept out of [`Row`] because only `mailroom deadlines show` needs it.
pub fn letter_of(conn: &Connection, id: i64) -> Result<Option<LetterReading>, StoreError> {
    let json: Option<String> = conn
        .query_row("SELECT letter_json FROM deadlines WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(format!("deadline {id} letter: {e}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::deadline::{Calendar, PeriodRule};
    use crate::core::status::{CaseStatus, EpStatus, TimeLimit};
    use crate::store::cases::{self as cases_db, NewCase, Source};
    use crate::store::communications::{ArchivedDoc, Listed, record_archived, record_seen};

    const NOW: &str = "2026-11-20T08:00:00Z";

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        super::super::migrate(&mut conn, std::path::Path::new(":memory:")).expect("migrations");
        conn
    }

    fn policy() -> Policy {
        Policy {
            rules: vec![PeriodRule {
                titles: vec!["Rule 71(3)".into()],
                period: "4m".parse().unwrap(),
                basis: "Rule 71(3) EPC".into(),
                extendable: false,
                remedy: None,
                source: "https://www.epo.org/en/legal/epc/2020/r71.html".into(),
            }],
            register_grace_days: 7,
            register_since: NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Policy::default()
        }
    }

    /// Records communication `id` of `app` dated `dated` as archived and proposes its deadline.
    fn archived(tx: &Transaction<'_>, p: &Policy, id: &str, app: &str, title: &str, dated: &str) -> Proposed {
        let listed = Listed {
            id: id.into(),
            office: "EP".into(),
            application_number: app.into(),
            document_code: "2004".into(),
            title: title.into(),
            dispatch_date: dated.into(),
            delivered_at: None,
            user_reference: None,
            metadata_json: "{}".into(),
            handled_at_office: false,
        };
        record_seen(tx, &[listed], NOW).unwrap();
        let doc = ArchivedDoc {
            key: String::new(),
            file_name: None,
            media_type: Some("application/pdf".into()),
            size: 1,
            sha256: "00".into(),
            path: format!("{id}.pdf"),
        };
        assert!(record_archived(tx, id, &[doc], NOW).unwrap());
        propose_for(tx, p, id, &LetterReading::NoPeriod, NOW).unwrap()
    }

    /// A Rule 71(3) communication of 2026-10-30 (due 2027-03-01): its deadline's id.
    fn rule_71_3(tx: &Transaction<'_>, p: &Policy) -> i64 {
        let made = archived(
            tx,
            p,
            "c1",
            "EP23184567.2",
            "Communication under Rule 71(3) EPC",
            "2026-10-30",
        );
        made.info.and_then(|i| i.id).expect("a deadline")
    }

    fn step(id: &str, dispatched: &str, months: &str) -> ProceduralStep {
        ProceduralStep {
            id: id.into(),
            code: "EXRE".into(),
            phase: "examination".into(),
            description: "Communication from the examining division".into(),
            dates: vec![("DATE_OF_DISPATCH".into(), dispatched.into())],
            time_limit: Some(TimeLimit {
                value: months.into(),
                unit: "months".into(),
                due: String::new(),
            }),
        }
    }

    fn followed(tx: &Transaction<'_>, number: &str, steps: Vec<ProceduralStep>) -> i64 {
        let key = parse_case(number, Some(Office::Ep), None).unwrap();
        cases_db::add(tx, &NewCase::new(&key, number, None, Source::Mailbox), false, NOW).unwrap();
        let id = cases_db::find(tx, &key).unwrap().unwrap().id;
        let status = CaseStatus::Ep(EpStatus {
            steps,
            ..EpStatus::default()
        });
        let current = crate::core::status::current(&status);
        cases_db::record_check(tx, id, &status, "fp", &current, &[], NOW).unwrap();
        id
    }

    #[test]
    fn proposing_is_idempotent_and_unknown_periods_say_why() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let p = policy();
        let first = archived(
            &tx,
            &p,
            "c1",
            "EP23184567.2",
            "Communication under Rule 71(3) EPC",
            "2026-10-30",
        );
        let info = first.info.unwrap();
        assert_eq!(info.due.as_deref(), Some("2027-03-01"));
        assert!(
            info.line
                .starts_with("Due 2027-03-01 (Mon) — 4 months from 2026-10-30"),
            "{}",
            info.line
        );
        let again = propose_for(&tx, &p, "c1", &LetterReading::NoPeriod, NOW).unwrap();
        assert_eq!(again.info.unwrap().id, info.id);
        let count: i64 = tx
            .query_row("SELECT count(*) FROM deadlines", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 1);
        let unknown = archived(&tx, &p, "c2", "EP23184567.2", "Brief communication", "2026-10-30");
        let info = unknown.info.unwrap();
        assert_eq!(info.id, None);
        assert!(
            info.line.contains("period not known from the form"),
            "{}",
            info.line
        );
        let off = Policy {
            enabled: false,
            ..policy()
        };
        let none = archived(
            &tx,
            &off,
            "c3",
            "EP23184567.2",
            "Communication under Rule 71(3) EPC",
            "2026-10-30",
        );
        assert!(none.info.is_none() && none.events.is_empty());
    }

    #[test]
    fn a_calendar_update_moves_a_deadline_and_reopens_an_acknowledged_one() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let p = policy();
        let id = rule_71_3(&tx, &p);
        acknowledge(&tx, id, "anna", Some("in the docket"), NOW).unwrap();
        assert!(
            recompute(&tx, &p, NOW).unwrap().is_empty(),
            "nothing changed, nothing moves"
        );
        let mut calendar = Calendar::default();
        calendar.days.insert(
            NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            "a closing day".into(),
        );
        let updated = Policy { calendar, ..policy() };
        let moved = recompute(&tx, &updated, "2026-11-21T08:00:00Z").unwrap();
        assert_eq!(
            moved,
            vec![(id, "2027-03-01".to_owned(), "2027-03-02".to_owned())]
        );
        let row = get(&tx, id).unwrap().unwrap();
        assert_eq!(row.state, State::Open);
        assert_eq!(row.previous_due.as_deref(), Some("2027-03-01"));
        assert_eq!(
            (row.acknowledged_by, row.note.as_deref()),
            (None, Some("in the docket"))
        );
        assert!(
            row.notes.iter().any(|n| n.contains("open again")),
            "{:?}",
            row.notes
        );
        assert!(
            recompute(&tx, &updated, NOW).unwrap().is_empty(),
            "a second run is a no-op"
        );
    }

    #[test]
    fn reminders_follow_the_ladder_once_and_stop_at_acknowledgement() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let p = policy();
        let id = rule_71_3(&tx, &p);
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(reminders(&tx, &p, day("2027-01-01"), NOW).unwrap().is_empty());
        let first = reminders(&tx, &p, day("2027-01-30"), NOW).unwrap();
        assert!(matches!(first.as_slice(), [Event::Deadline(r)] if r.rung == 30 && r.deadline_id == id));
        assert!(
            reminders(&tx, &p, day("2027-01-30"), NOW).unwrap().is_empty(),
            "once per rung"
        );
        acknowledge(&tx, id, "anna", None, NOW).unwrap();
        assert!(
            reminders(&tx, &p, day("2027-02-27"), NOW).unwrap().is_empty(),
            "acknowledged: no more"
        );
    }

    fn jp_doc(code: &str, date: &str, number: &str) -> crate::core::status::JpDocument {
        crate::core::status::JpDocument {
            number_type: "01".into(),
            number: "2025123456".into(),
            legal_date: date.into(),
            code: code.into(),
            description: if code == "A131" {
                "拒絶理由通知書"
            } else {
                "意見書"
            }
            .into(),
            document_number: Some(number.into()),
            separator: "K".into(),
            version: "0001".into(),
        }
    }

    #[test]
    fn a_jpo_refusal_notice_gets_a_deadline_once_unless_answered_or_past() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let p = Policy {
            jp_rules: crate::legal_data::jpo_period_rules().unwrap(),
            ..policy()
        };
        let key = parse_case("特願2025-123456", Some(Office::Jp), None).unwrap();
        cases_db::add(
            &tx,
            &NewCase::new(&key, "2025-123456", Some("MR-JP-1"), Source::Manual),
            false,
            NOW,
        )
        .unwrap();
        let case = cases_db::find(&tx, &key).unwrap().unwrap().id;
        let status = |docs: Vec<crate::core::status::JpDocument>| crate::core::status::JpStatus {
            application_number: "2025123456".into(),
            kind: "patent".into(),
            documents: docs,
            ..Default::default()
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let old = jp_doc("A131", "2026-03-10", "06100000001");
        let answered = jp_doc("A131", "2026-10-01", "06100000002");
        let reply = jp_doc("A53", "2026-10-20", "52400000003");
        let fresh = jp_doc("A131", "2026-11-16", "06100000004");
        let s = status(vec![old, answered, reply, fresh]);
        let infos = propose_jp(&tx, &p, case, &key.number, &s, today, NOW).unwrap();
        assert_eq!(
            infos.len(),
            1,
            "only the unanswered, still running one: {infos:?}"
        );
        // 60 days from 2026-11-16 (the first day not counted): 2027-01-15 (Fri).
        assert_eq!(infos[0].due.as_deref(), Some("2027-01-15"));
        let row = get(&tx, infos[0].id.unwrap()).unwrap().unwrap();
        assert_eq!(
            (
                row.office.as_str(),
                row.document_code.as_str(),
                row.client_reference.as_deref()
            ),
            ("JP", "A131", Some("MR-JP-1"))
        );
        assert_eq!(row.communication_id, None);
        assert!(
            propose_jp(&tx, &p, case, &key.number, &s, today, NOW)
                .unwrap()
                .is_empty(),
            "once"
        );
        let abroad = Policy {
            jp_applicant_abroad: Some(true),
            ..p.clone()
        };
        let moved = recompute(&tx, &abroad, NOW).unwrap();
        assert_eq!(
            moved,
            vec![(row.id, "2027-01-15".to_owned(), "2027-02-16".to_owned())]
        );
        let reminders = reminders(&tx, &abroad, NaiveDate::from_ymd_opt(2027, 2, 2).unwrap(), NOW).unwrap();
        assert!(
            matches!(reminders.as_slice(), [Event::Deadline(r)] if r.office == Office::Jp && r.case.as_deref() == Some("JP 2025-123456")),
            "{reminders:?}"
        );
    }

    #[test]
    fn the_register_confirms_flags_fills_in_and_reports_once() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let p = policy();
        let r713 = "Communication under Rule 71(3) EPC";
        archived(&tx, &p, "agree", "EP23184567.2", r713, "2026-10-30");
        archived(&tx, &p, "differ", "EP23184567.2", r713, "2026-11-02");
        archived(
            &tx,
            &p,
            "silent",
            "EP23184567.2",
            "Communication pursuant to Article 94(3) EPC",
            "2026-11-03",
        );
        let steps = vec![
            step("S1", "2026-10-30", "04"),
            step("S2", "2026-11-02", "06"),
            step("S3", "2026-11-03", "02"),
            step("S4", "2026-11-10", "04"),
            step("OLD", "2025-06-01", "04"),
        ];
        let case = followed(&tx, "EP23184567", steps.clone());
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let events = cross_check(&tx, &p, case, "EP23184567", &steps, today, NOW).unwrap();
        let verdict = |id: &str| {
            of_communication(&tx, id)
                .unwrap()
                .map(|r| (r.source, r.period, r.register))
        };
        assert_eq!(
            verdict("agree"),
            Some(("rule".into(), "4m".into(), "confirmed".into()))
        );
        assert_eq!(
            verdict("differ"),
            Some(("rule".into(), "4m".into(), "disagrees".into()))
        );
        assert_eq!(
            verdict("silent"),
            Some(("register".into(), "2m".into(), "confirmed".into()))
        );
        let kinds: Vec<(CheckKind, String)> = events
            .iter()
            .map(|e| match e {
                Event::DeadlineCheck(c) => (c.kind, c.step_id.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (CheckKind::Disagrees, "S2".into()),
                (CheckKind::NoCommunication, "S4".into())
            ],
            "OLD is before register_since"
        );
        assert!(
            cross_check(&tx, &p, case, "EP23184567", &steps, today, NOW)
                .unwrap()
                .is_empty(),
            "each finding is reported once"
        );
        let lost = unexplained(&tx).unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(
            (lost[0].step_id.as_str(), lost[0].reported_at.is_some()),
            ("S4", true)
        );
        // A register deadline computed again keeps the step its basis names.
        let mut calendar = Calendar::default();
        calendar.days.insert(
            NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(),
            "a closing day".into(),
        );
        let moved = recompute(&tx, &Policy { calendar, ..policy() }, NOW).unwrap();
        let silent = of_communication(&tx, "silent").unwrap().unwrap();
        assert!(
            moved.contains(&(silent.id, "2027-01-04".into(), "2027-01-05".into())),
            "{moved:?}"
        );
        assert!(silent.basis.contains("S3"), "{}", silent.basis);
        // Within the grace period nothing is reported yet.
        let fresh = vec![step("S5", "2026-11-18", "04")];
        assert!(
            cross_check(&tx, &p, case, "EP23184567", &fresh, today, NOW)
                .unwrap()
                .is_empty()
        );
    }
}
