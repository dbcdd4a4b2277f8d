//! `mailroom export`: what the docketing system needs, on stdout.
//!
//! * `--format json` (default): `{"communications":[…],"cases":[…],"changes":[…],"deadlines":[…]}`.
//!   A communication: `id, application_number, document_code, title, dispatch_date, path,
//!   sha256, size, state, handled_at, documents` (`path`, `sha256` and `size` describe the
//!   first document; paths are relative to the archive directory, `/`-separated). A case:
//!   `office, kind, number, client_reference, status_code, status_text, status_date,
//!   checked_at, source, family_id, linked_to` (`linked_to`: for an EP case its JP
//!   counterparts, for a JP counterpart the EP or PCT cases it belongs to; a space-separated
//!   list in CSV). A change: `case, detected_at, kind, summary, old, new` (+ `office_date`).
//!   A deadline: every row in every state, as `mailroom deadlines --all --json` prints it.
//! * `--format csv --table cases|changes|communications|deadlines`: one table, a header row,
//!   RFC 4180 quoting. In the deadlines table a list (steps, warnings) is one cell, its items
//!   separated by ` | `, so each deadline stays one line for a spreadsheet.
//! * `--format ics`: an iCalendar (RFC 5545) of dated office events, all-day: communication
//!   dispatch dates, status-change dates, the time limits the EP Register gives (procedural
//!   steps with a due date), and each open or acknowledged deadline on its due date with one
//!   display alarm per rung of `[deadlines] remind_days` (a deadline done or withdrawn drops
//!   out, so a re-import removes it from a calendar that syncs the file). UIDs are stable
//!   (`deadline-<id>@mailroom`, …), so a calendar re-importing the file updates events instead
//!   of duplicating them.

use std::collections::HashMap;

use chrono::Utc;
use serde::Serialize;

use crate::config::Config;
use crate::core::status::CaseStatus;
use crate::store::cases::{self as cases_db, CaseRow, ChangeRow};
use crate::store::deadlines::{self, State};
use crate::store::family::{self, FamilyColumn};
use crate::store::{Store, communications};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// The table a CSV holds
    #[arg(long, value_enum, default_value_t = Table::Cases)]
    table: Table,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Json,
    Csv,
    Ics,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Table {
    Cases,
    Changes,
    Communications,
    Deadlines,
}

#[derive(Serialize)]
struct Export<'a> {
    communications: &'a [Row],
    cases: Vec<CaseOut>,
    changes: Vec<ChangeOut>,
    deadlines: &'a [deadlines::Row],
}

#[derive(Serialize)]
struct Row {
    id: String,
    application_number: String,
    document_code: String,
    title: String,
    dispatch_date: String,
    path: Option<String>,
    sha256: Option<String>,
    size: Option<u64>,
    state: String,
    handled_at: Option<String>,
    documents: Vec<communications::DocView>,
}

#[derive(Serialize)]
struct CaseOut {
    office: String,
    kind: String,
    number: String,
    client_reference: Option<String>,
    status_code: Option<String>,
    status_text: Option<String>,
    status_date: Option<String>,
    checked_at: Option<String>,
    source: String,
    family_id: Option<String>,
    linked_to: Vec<String>,
}

impl CaseOut {
    fn new(c: &CaseRow, families: &HashMap<i64, FamilyColumn>) -> Self {
        let family = families.get(&c.id).cloned().unwrap_or_default();
        CaseOut {
            source: c.source.clone(),
            family_id: family.family_id,
            linked_to: family.linked_to,
            office: c.office.as_str().to_owned(),
            kind: c.kind.as_str().to_owned(),
            number: c.number.clone(),
            client_reference: c.client_reference.clone(),
            status_code: c.status_code.clone(),
            status_text: c.status_text.clone(),
            status_date: c.status_date.clone(),
            checked_at: c.checked_at.clone(),
        }
    }
}

#[derive(Serialize)]
struct ChangeOut {
    case: String,
    detected_at: String,
    kind: String,
    summary: String,
    old: Option<String>,
    new: Option<String>,
    office_date: String,
}

impl From<&ChangeRow> for ChangeOut {
    fn from(c: &ChangeRow) -> Self {
        ChangeOut {
            case: c.case.clone(),
            detected_at: c.detected_at.clone(),
            kind: c.kind.clone(),
            summary: c.summary.clone(),
            old: c.old.clone(),
            new: c.new.clone(),
            office_date: c.office_date.clone(),
        }
    }
}

struct Data {
    communications: Vec<Row>,
    cases: Vec<CaseRow>,
    changes: Vec<ChangeRow>,
    snapshots: Vec<(CaseRow, CaseStatus)>,
    families: HashMap<i64, FamilyColumn>,
    deadlines: Vec<deadlines::Row>,
}

async fn data(cfg: &Config) -> anyhow::Result<Data> {
    let store = Store::open_existing(&cfg.storage.database)?;
    Ok(store
        .call(|c| {
            Ok(Data {
                communications: communications::list(c, None)?.into_iter().map(row).collect(),
                cases: cases_db::list(c)?,
                changes: cases_db::changes(c, None, None)?,
                snapshots: cases_db::latest_snapshots(c)?,
                families: family::family_columns(c)?,
                deadlines: deadlines::list(
                    c,
                    &deadlines::Filter {
                        all: true,
                        ..deadlines::Filter::default()
                    },
                )?,
            })
        })
        .await?)
}

fn json(d: &Data) -> anyhow::Result<String> {
    let e = Export {
        cases: d.cases.iter().map(|c| CaseOut::new(c, &d.families)).collect(),
        changes: d.changes.iter().map(ChangeOut::from).collect(),
        communications: &d.communications,
        deadlines: &d.deadlines,
    };
    Ok(serde_json::to_string_pretty(&e)? + "\n")
}

pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let d = data(cfg).await?;
    let text = match args.format {
        Format::Json => json(&d)?,
        Format::Csv => csv_table(args.table, &d)?,
        Format::Ics => ics(&d, &cfg.deadlines.remind_days, Utc::now()),
    };
    super::print_stdout(&text)
}

/// The nightly export (`mailroom run`, `[export] dir`): `cases.csv`, `changes.csv`,
/// `communications.csv`, `deadlines.csv`, `mailroom.json` and `mailroom.ics`, each replaced atomically
/// (written beside its name, fsynced, renamed, the directory fsynced), so the docketing
/// system never reads half a file. Returns the files written.
pub async fn write_dir(cfg: &Config, dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use anyhow::Context;
    let d = data(cfg).await?;
    let files = [
        ("cases.csv", csv_table(Table::Cases, &d)?),
        ("changes.csv", csv_table(Table::Changes, &d)?),
        ("communications.csv", csv_table(Table::Communications, &d)?),
        ("deadlines.csv", csv_table(Table::Deadlines, &d)?),
        ("mailroom.json", json(&d)?),
        ("mailroom.ics", ics(&d, &cfg.deadlines.remind_days, Utc::now())),
    ];
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("export.dir: cannot create {}", dir.display()))?;
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().with_context(|| format!("export: cannot write {}", path.display()))?;
            written.push(path);
        }
        #[cfg(unix)]
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("export: cannot sync {}", dir.display()))?;
        Ok(written)
    })
    .await
    .context("export task")?
}

fn row(v: communications::View) -> Row {
    let first = v.documents.first();
    Row {
        path: first.map(|d| d.path.clone()),
        sha256: first.map(|d| d.sha256.clone()),
        size: first.map(|d| d.size),
        id: v.id,
        application_number: v.application_number,
        document_code: v.document_code,
        title: v.title,
        dispatch_date: v.dispatch_date,
        state: v.state,
        handled_at: v.handled_at,
        documents: v.documents,
    }
}

fn csv_table(table: Table, d: &Data) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    match table {
        Table::Cases => {
            w.write_record([
                "office",
                "kind",
                "number",
                "client_reference",
                "status_code",
                "status_text",
                "status_date",
                "checked_at",
                "source",
                "family_id",
                "linked_to",
            ])?;
            for c in &d.cases {
                let family = d.families.get(&c.id).cloned().unwrap_or_default();
                w.write_record([
                    c.office.as_str().to_owned(),
                    c.kind.as_str().to_owned(),
                    c.number.clone(),
                    o(&c.client_reference),
                    o(&c.status_code),
                    o(&c.status_text),
                    o(&c.status_date),
                    o(&c.checked_at),
                    c.source.clone(),
                    o(&family.family_id),
                    family.linked_to.join(" "),
                ])?;
            }
        }
        Table::Changes => {
            w.write_record([
                "case",
                "detected_at",
                "kind",
                "summary",
                "old",
                "new",
                "office_date",
            ])?;
            for c in &d.changes {
                w.write_record([
                    c.case.clone(),
                    c.detected_at.clone(),
                    c.kind.clone(),
                    c.summary.clone(),
                    o(&c.old),
                    o(&c.new),
                    c.office_date.clone(),
                ])?;
            }
        }
        Table::Communications => {
            w.write_record([
                "id",
                "application_number",
                "document_code",
                "title",
                "dispatch_date",
                "state",
                "handled_at",
                "path",
                "sha256",
            ])?;
            for c in &d.communications {
                w.write_record([
                    c.id.clone(),
                    c.application_number.clone(),
                    c.document_code.clone(),
                    c.title.clone(),
                    c.dispatch_date.clone(),
                    c.state.clone(),
                    o(&c.handled_at),
                    o(&c.path),
                    o(&c.sha256),
                ])?;
            }
        }
        Table::Deadlines => {
            w.write_record([
                "id",
                "state",
                "due",
                "case",
                "client_reference",
                "office",
                "application_number",
                "title",
                "document_date",
                "received_date",
                "period",
                "basis",
                "source",
                "register",
                "register_detail",
                "headline",
                "steps",
                "warnings",
                "remedy",
                "unextended",
                "previous_due",
                "acknowledged_by",
                "acknowledged_at",
                "done_at",
                "withdrawn_at",
                "note",
                "communication_id",
                "jp_document",
            ])?;
            for r in &d.deadlines {
                w.write_record([
                    r.id.to_string(),
                    r.state.as_str().to_owned(),
                    r.due.clone(),
                    o(&r.case_number),
                    o(&r.client_reference),
                    r.office.clone(),
                    r.application_number.clone(),
                    r.title.clone(),
                    r.document_date.clone(),
                    o(&r.received_date),
                    r.period.clone(),
                    r.basis.clone(),
                    r.source.clone(),
                    r.register.clone(),
                    o(&r.register_detail),
                    r.line(),
                    r.steps.join(" | "),
                    r.warnings.join(" | "),
                    o(&r.remedy),
                    r.unextended.clone(),
                    o(&r.previous_due),
                    o(&r.acknowledged_by),
                    o(&r.acknowledged_at),
                    o(&r.done_at),
                    o(&r.withdrawn_at),
                    o(&r.note),
                    o(&r.communication_id),
                    o(&r.jp_document),
                ])?;
            }
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// One all-day calendar entry.
struct Event {
    uid: String,
    date: String,
    summary: String,
    description: String,
    /// Display alarms, days before the start (deadlines: the reminder ladder).
    alarms: Vec<u32>,
}

/// The calendar entry of an open or acknowledged deadline: what a person needs to recognise
/// it in a calendar (the headline carries the Register's verdict) and how it was reached.
fn deadline_event(r: &deadlines::Row, remind_days: &[u32]) -> Event {
    let case = r.case_number.as_deref().unwrap_or(&r.application_number);
    let summary = match r.client_reference.as_deref() {
        Some(client) => format!("Deadline: {case} {client} – {}", r.title),
        None => format!("Deadline: {case} – {}", r.title),
    };
    let register = match r.register_detail.as_deref() {
        Some(detail) => format!("{} ({detail})", r.register),
        None => r.register.clone(),
    };
    let mut lines = vec![
        r.line(),
        format!("Basis: {}", r.basis),
        format!("Source: {}", r.source),
        format!("EP Register: {register}"),
        format!("State: {} (mailroom deadline {})", r.state.as_str(), r.id),
    ];
    lines.extend(r.steps.iter().enumerate().map(|(i, s)| format!("{}. {s}", i + 1)));
    lines.extend(r.warnings.iter().map(|w| format!("Warning: {w}")));
    Event {
        uid: format!("deadline-{}", r.id),
        date: r.due.clone(),
        summary,
        description: lines.join("\n"),
        alarms: remind_days.to_vec(),
    }
}

fn ics(d: &Data, remind_days: &[u32], now: chrono::DateTime<Utc>) -> String {
    let mut events = Vec::new();
    for c in &d.communications {
        events.push(Event {
            uid: format!("communication-{}", c.id),
            date: c.dispatch_date.clone(),
            summary: format!(
                "{}: EPO communication {} dispatched",
                c.application_number, c.document_code
            ),
            description: c.title.clone(),
            alarms: Vec::new(),
        });
    }
    for c in &d.changes {
        events.push(Event {
            uid: format!("change-{}", c.id),
            date: c.office_date.clone(),
            summary: c.summary.clone(),
            description: format!("{} change detected by mailroom at {}", c.kind, c.detected_at),
            alarms: Vec::new(),
        });
    }
    for (case, status) in &d.snapshots {
        let CaseStatus::Ep(ep) = status else { continue };
        for step in &ep.steps {
            let Some(limit) = step.time_limit.as_ref().filter(|t| !t.due.is_empty()) else {
                continue;
            };
            events.push(Event {
                uid: format!("time-limit-{}-{}", case.number, step.id),
                date: limit.due.clone(),
                summary: format!("{}: time limit: {}", case.label(), step.description),
                description: format!(
                    "{} {} set by the EPO ({} {}); procedural step {}",
                    step.code, step.description, limit.value, limit.unit, step.id
                ),
                alarms: Vec::new(),
            });
        }
    }
    for r in &d.deadlines {
        if matches!(r.state, State::Open | State::Acknowledged) {
            events.push(deadline_event(r, remind_days));
        }
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = String::new();
    let mut line = |s: &str| fold(&mut out, s);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//mailroom//office events//EN");
    line("CALSCALE:GREGORIAN");
    for e in events {
        let Some(date) = ics_date(&e.date) else { continue };
        line("BEGIN:VEVENT");
        line(&format!("UID:{}@mailroom", escape(&e.uid)));
        line(&format!("DTSTAMP:{stamp}"));
        line(&format!("DTSTART;VALUE=DATE:{date}"));
        line(&format!("SUMMARY:{}", escape(&e.summary)));
        line(&format!("DESCRIPTION:{}", escape(&e.description)));
        line("TRANSP:TRANSPARENT");
        for days in &e.alarms {
            line("BEGIN:VALARM");
            line("ACTION:DISPLAY");
            line(&format!("DESCRIPTION:{}", escape(&e.summary)));
            line(&format!("TRIGGER:-P{days}D"));
            line("END:VALARM");
        }
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// `2026-11-23` → `20261123`; anything else (an empty or partial office date) → `None`.
fn ics_date(iso: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y%m%d").to_string())
}

/// RFC 5545 §3.3.11 text escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (never inside a UTF-8 character), CRLF-ended.
fn fold(out: &mut String, line: &str) {
    let mut width = 0;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += n;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_lines_within_75_octets_and_characters_whole() {
        let cases = [
            ("SUMMARY:short", vec!["SUMMARY:short"]),
            (&*format!("X:{}", "a".repeat(80)), vec![]),
            (&*format!("X:{}", "拒".repeat(40)), vec![]),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            fold(&mut out, input);
            let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
            for l in &lines {
                assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
            }
            let unfolded: String = out.replace("\r\n ", "").trim_end().to_owned();
            assert_eq!(unfolded, input);
            if !want.is_empty() {
                assert_eq!(lines, want);
            }
        }
    }

    #[test]
    fn text_is_escaped_and_dates_checked() {
        for (input, want) in [("a;b,c\\d\ne", "a\\;b\\,c\\\\d\\ne"), ("plain", "plain")] {
            assert_eq!(escape(input), want);
        }
        for (input, want) in [
            ("2019-10-25", Some("20191025")),
            ("", None),
            ("20191025", None),
            ("2019-13-01", None),
        ] {
            assert_eq!(ics_date(input).as_deref(), want, "{input:?}");
        }
    }
}
