//! `mailroom cases add|remove|list|show|import`: the cases whose status mailroom follows.
//!
//! Cases also arrive on their own: every EP application of a mailbox communication is added
//! by the next status cycle (`source = mailbox`). A removed case keeps its history and is not
//! added again from the mailbox; `cases add` brings it back.
//!
//! JP counterparts arrive on their own too (`source = family` or `pct`, see `store::family`):
//! `cases list` shows them in the FAMILY column (an EP case's JP counterparts, or `of EP…`
//! for a JP case), `cases show` an EP case's INPADOC family with each JP member's status.
//! Removing a counterpart sticks: no lookup follows it again.
//!
//! An EP publication (`cases add "EP2400812 B1"`) is resolved to its application through the
//! Register once (one OPS request), and the case is keyed by the application and found by
//! either number. When OPS is not configured or cannot answer, the case is kept under the
//! publication and the next `sync status` resolves it (merging it with the application's case
//! if that was added meanwhile).
//!
//! A followed case keeps its client reference: `cases add` (or an import row) with another one
//! is refused, exit 1 (import: the row is refused, exit 3), unless `--update` is given.
//!
//! Import file (`cases import FILE.csv`): UTF-8 (a BOM is fine), comma-separated — or
//! semicolon-separated when the header line has more `;` than `,` (German Excel), which the
//! output says — with a header row naming the columns in any order, case-insensitively:
//!
//! | column | required | values |
//! |---|---|---|
//! | `number` | yes | any form `cases add` takes: `EP 23 184 567.2`, `EP2400812`, `特願2020-123456`, `2020-123456` |
//! | `office` | no | `EP` or `JP` (when the number alone is ambiguous) |
//! | `kind` | no | `patent` (default), `design`, `trademark` |
//! | `client_reference` (or `reference`) | no | the firm's reference, e.g. `MR-0812-EP` |
//!
//! Blank rows and rows whose first cell starts with `#` are skipped. A row may have fewer cells
//! than the header, never more. A bad row is reported with its line number and the other rows
//! are imported; the exit status is then 3. Publications are resolved by the next
//! `sync status`, not during the import (one request per row).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::config::Config;
use crate::core::cases::{CaseKey, Kind, Office, parse_case};
use crate::offices::ops::OpsClient;
use crate::store::cases::{self as cases_db, Added, CaseRow, NewCase, Source};
use crate::store::family::{self as family_db, FamilyColumn, FamilyView};
use crate::store::{Store, timestamp};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Follow a case: `mailroom cases add "EP 23 184 567.2" --ref MR-0567-EP`
    Add {
        /// The case number in any usual form
        number: String,
        /// patent, design or trademark (JP; default patent or what the number says)
        #[arg(long)]
        kind: Option<Kind>,
        /// EP or JP, when the number alone does not say
        #[arg(long, value_parser = parse_office)]
        office: Option<Office>,
        /// The firm's reference for the case
        #[arg(long = "ref", value_name = "REFERENCE")]
        client_reference: Option<String>,
        /// Replace the reference of a case already followed
        #[arg(long)]
        update: bool,
    },
    /// Stop following a case (its history is kept)
    Remove {
        number: String,
        #[arg(long)]
        kind: Option<Kind>,
        #[arg(long, value_parser = parse_office)]
        office: Option<Office>,
    },
    /// List the cases followed, with their current status
    List {
        /// JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// One case: its current status and every change found
    Show {
        number: String,
        #[arg(long)]
        kind: Option<Kind>,
        #[arg(long, value_parser = parse_office)]
        office: Option<Office>,
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Add the cases of a CSV file (columns: number, office, kind, client_reference)
    Import {
        file: PathBuf,
        /// Replace the references of cases already followed
        #[arg(long)]
        update: bool,
    },
}

impl Command {
    /// Whether the command writes (and so takes the state lock and may create the database).
    pub fn writes(&self) -> bool {
        match self {
            Command::Add { .. } | Command::Remove { .. } | Command::Import { .. } => true,
            Command::List { .. } | Command::Show { .. } => false,
        }
    }
}

fn parse_office(s: &str) -> Result<Office, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "EP" | "EPO" => Ok(Office::Ep),
        "JP" | "JPO" => Ok(Office::Jp),
        _ => Err(format!("unknown office {s:?}: use EP or JP")),
    }
}

pub async fn run(cmd: Command, cfg: &Config) -> Result<(), super::Failure> {
    let store = if cmd.writes() {
        Store::open(&cfg.storage.database)
    } else {
        Store::open_existing(&cfg.storage.database)
    }
    .map_err(anyhow::Error::new)?;
    let now = timestamp(Utc::now());
    match cmd {
        Command::Add {
            number,
            kind,
            office,
            client_reference,
            update,
        } => {
            let key = parse_case(&number, office, kind).map_err(anyhow::Error::new)?;
            let k = key.clone();
            let known = store
                .call(move |c| cases_db::find(c, &k))
                .await
                .map_err(anyhow::Error::new)?;
            let (key, publication, pending) = match known {
                // Resolved before: no second request.
                Some(case) if case.publication_number.as_deref() == Some(key.number.as_str()) => {
                    (case.key(), case.publication_number, None)
                }
                _ if key.is_ep_publication() => resolve(cfg, key).await,
                _ => (key, None, None),
            };
            let (k, p, r) = (key.clone(), publication.clone(), client_reference.clone());
            let added = store
                .write(move |tx| {
                    let new = NewCase {
                        key: &k,
                        input: &number,
                        client_reference: r.as_deref(),
                        publication: p.as_deref(),
                        source: Source::Manual,
                    };
                    cases_db::add(tx, &new, update, &now)
                })
                .await
                .map_err(anyhow::Error::new)?;
            let what = match added {
                Added::New => "added",
                Added::Restored => "followed again",
                Added::Known => "already followed",
                Added::OtherReference(current) => {
                    let wanted = client_reference.as_deref().map(str::trim).unwrap_or_default();
                    return Err(anyhow::anyhow!(
                        "{} is already followed with reference {current}; use --update to change it to {wanted}",
                        key.label()
                    )
                    .into());
                }
            };
            let mut out = format!("{}: {what}", key.label());
            if let Some(p) = &publication {
                out.push_str(&format!(" (publication {p})"));
            }
            if let Some(why) = &pending {
                out.push_str(&format!(
                    "; the next `mailroom sync status` looks up its application, the Register could not say now: {why}"
                ));
            }
            super::print_stdout(&(out + "\n"))?;
            Ok(())
        }
        Command::Remove { number, kind, office } => {
            let key = parse_case(&number, office, kind).map_err(anyhow::Error::new)?;
            let k = key.clone();
            let removed = store
                .write(move |tx| cases_db::remove(tx, &k, &now))
                .await
                .map_err(anyhow::Error::new)?;
            if !removed {
                return Err(anyhow::anyhow!("{} is not followed", key.label()).into());
            }
            super::print_stdout(&format!(
                "{}: no longer followed (its history is kept)\n",
                key.label()
            ))?;
            Ok(())
        }
        Command::List { json } => {
            let (list, families) = store
                .call(|c| Ok((cases_db::list(c)?, family_db::family_columns(c)?)))
                .await
                .map_err(anyhow::Error::new)?;
            if json {
                let rows: Vec<Listed<'_>> = list
                    .iter()
                    .map(|c| Listed {
                        case: c,
                        family: families.get(&c.id).cloned().unwrap_or_default(),
                    })
                    .collect();
                super::print_stdout(
                    &(serde_json::to_string_pretty(&rows).map_err(anyhow::Error::new)? + "\n"),
                )?;
            } else {
                super::print_stdout(&table(&list, &families))?;
            }
            Ok(())
        }
        Command::Show {
            number,
            kind,
            office,
            json,
        } => {
            let key = parse_case(&number, office, kind).map_err(anyhow::Error::new)?;
            show(&store, key, json).await
        }
        Command::Import { file, update } => import(&store, &file, update, &now).await,
    }
}

/// Asks the Register which application the EP publication `key` belongs to: the application's
/// key and the publication number, or `key` unchanged and why it could not be resolved now.
async fn resolve(cfg: &Config, key: CaseKey) -> (CaseKey, Option<String>, Option<String>) {
    let Some(settings) = &cfg.ops else {
        return (key, None, Some("[ops] is not configured".into()));
    };
    // One try: the next status cycle resolves the case anyway, so a person adding it does
    // not wait through the retries of an office that is down.
    let once = crate::config::Ops {
        retries: 0,
        ..settings.clone()
    };
    let answer = match OpsClient::new(&once) {
        Ok(client) => client.register(&key.number).await,
        Err(e) => Err(e),
    };
    let application = match answer {
        Ok(st) => parse_case(&st.application_number, Some(Office::Ep), None)
            .ok()
            .filter(|k| !k.is_ep_publication() && k.number == st.application_number)
            .ok_or_else(|| "the Register's answer names no application".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    match application {
        Ok(app) => (app, Some(key.number), None),
        Err(why) => (key, None, Some(why)),
    }
}

/// A case as `cases list --json` gives it: its row plus `family_id` and `linked_to`.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    case: &'a CaseRow,
    #[serde(flatten)]
    family: FamilyColumn,
}

/// The family column: an EP case's JP counterparts, or what a JP case is the counterpart of.
fn family_cell(c: &CaseRow, families: &HashMap<i64, FamilyColumn>) -> String {
    let Some(f) = families.get(&c.id).filter(|f| !f.linked_to.is_empty()) else {
        return "-".into();
    };
    let first = match c.office {
        Office::Ep => f.linked_to[0].clone(),
        Office::Jp => format!("of {}", f.linked_to[0]),
    };
    match f.linked_to.len() {
        1 => first,
        n => format!("{first} +{}", n - 1),
    }
}

fn table(list: &[CaseRow], families: &HashMap<i64, FamilyColumn>) -> String {
    let mut out =
        String::from("CASE                       REFERENCE        FAMILY               CHECKED     STATUS\n");
    for c in list {
        let checked = c
            .checked_at
            .as_deref()
            .map_or("never", |t| t.get(..10).unwrap_or(t));
        let status = match (&c.status_text, &c.status_date) {
            (Some(t), Some(d)) if !d.is_empty() => format!("{t} ({d})"),
            (Some(t), _) => t.clone(),
            _ => String::new(),
        };
        let case = match &c.publication_number {
            Some(p) => format!("{} ({p})", c.label()),
            None => c.label(),
        };
        out.push_str(&format!(
            "{:<26} {:<16} {:<20} {:<11} {}\n",
            case,
            c.client_reference.as_deref().unwrap_or("-"),
            family_cell(c, families),
            checked,
            status
        ));
        if c.not_found {
            out.push_str(&format!("{:<76}{}\n", "", not_found_line(c)));
        } else if let Some(e) = &c.last_error {
            out.push_str(&format!("{:<76}last refresh failed: {e}\n", ""));
        }
    }
    out.push_str(&format!("{} case(s)\n", list.len()));
    out
}

/// `not found at the office since 2026-12-01, next try 2026-12-03`.
fn not_found_line(c: &CaseRow) -> String {
    let day = |t: &Option<String>| t.as_deref().map_or("?", |t| t.get(..10).unwrap_or(t)).to_owned();
    format!(
        "not found at the office since {}, next try {}",
        day(&c.not_found_since),
        day(&c.next_attempt_at)
    )
}

async fn show(store: &Store, key: CaseKey, json: bool) -> Result<(), super::Failure> {
    let k = key.clone();
    let found = store
        .call(move |c| {
            let Some(case) = cases_db::find(c, &k)? else {
                return Ok(None);
            };
            let changes = cases_db::changes(c, None, Some(case.id))?;
            let family = family_db::family_of(c, case.id)?;
            let links = family_db::links_of(c, case.id)?;
            Ok(Some((case, changes, family, links)))
        })
        .await
        .map_err(anyhow::Error::new)?;
    let Some((case, changes, family, links)) = found else {
        return Err(anyhow::anyhow!(
            "{} is not followed; add it with `mailroom cases add`",
            key.label()
        )
        .into());
    };
    if json {
        let v = serde_json::json!({ "case": case, "changes": changes, "family": family, "counterpart_of": links });
        super::print_stdout(&(serde_json::to_string_pretty(&v).map_err(anyhow::Error::new)? + "\n"))?;
        return Ok(());
    }
    let mut out = format!("{}  ({} {}", case.label(), case.office, case.kind);
    if let Some(p) = &case.publication_number {
        out.push_str(&format!(", publication {p}"));
    }
    if let Some(r) = &case.client_reference {
        out.push_str(&format!(", {r}"));
    }
    out.push_str(&format!(", from {})\n", case.source));
    if let Some(removed) = &case.removed_at {
        out.push_str(&format!("  no longer followed since {removed}\n"));
    }
    match (&case.status_text, &case.checked_at) {
        (Some(text), Some(at)) => {
            let code = case.status_code.as_deref().filter(|c| !c.is_empty());
            let date = case.status_date.as_deref().filter(|d| !d.is_empty());
            out.push_str(&format!("  status: {text}"));
            if let Some(c) = code {
                out.push_str(&format!(" [{c}]"));
            }
            if let Some(d) = date {
                out.push_str(&format!(" since {d}"));
            }
            out.push_str(&format!("\n  checked: {at}\n"));
        }
        _ => out.push_str("  status: not checked yet (run `mailroom sync status`)\n"),
    }
    match &case.last_error {
        Some(e) if case.not_found => out.push_str(&format!(
            "  {} ({} lookup(s) in a row): {e}\n",
            not_found_line(&case),
            case.not_found_misses
        )),
        Some(e) => out.push_str(&format!("  last refresh failed: {e}\n")),
        None => {}
    }
    for l in &links {
        out.push_str(&format!("  JP counterpart of {}", l.linked_to));
        if let Some(r) = &l.client_reference {
            out.push_str(&format!(" ({r})"));
        }
        match (&l.via[..], &l.family_id) {
            ("family", Some(f)) => out.push_str(&format!(", INPADOC family {f}\n")),
            ("pct", _) => out.push_str(", its JP national phase (JPO)\n"),
            _ => out.push('\n'),
        }
    }
    if let Some(f) = &family {
        out.push_str(&family_lines(f));
    }
    out.push_str(&format!("  changes ({}):\n", changes.len()));
    for ch in &changes {
        out.push_str(&format!("    {}  {}\n", ch.detected_at, ch.summary));
    }
    super::print_stdout(&out)?;
    Ok(())
}

/// An EP case's family as `cases show` prints it: JP members first with their status, beside
/// the EP case's own above; a JP member whose number is not mapped says why.
pub(super) fn family_lines(f: &FamilyView) -> String {
    let day = |t: &str| t.get(..10).unwrap_or(t).to_owned();
    let mut out = match &f.family_id {
        Some(id) => format!(
            "  INPADOC family {id} ({} member(s){}, looked up {}):\n",
            f.members.len(),
            if f.truncated { ", truncated by OPS" } else { "" },
            day(&f.looked_up_at)
        ),
        None => format!(
            "  INPADOC family: none known to OPS (looked up {})\n",
            day(&f.looked_up_at)
        ),
    };
    for (i, m) in f.members.iter().enumerate() {
        // One line per JP case: its other publications (A, B2) follow in brackets.
        if m.case.is_some() && f.members[..i].iter().any(|p| p.case == m.case) {
            continue;
        }
        let doc = m
            .publication
            .as_deref()
            .or(m.application.as_deref())
            .unwrap_or("?");
        match (&m.case, &m.unmapped_reason) {
            (Some(case), _) => {
                let docs: Vec<&str> = f
                    .members
                    .iter()
                    .filter(|o| o.case.as_ref() == Some(case))
                    .filter_map(|o| o.publication.as_deref().or(o.application.as_deref()))
                    .collect();
                let status = match (&m.status_text, &m.status_date) {
                    (Some(t), Some(d)) if !d.is_empty() => format!("{t} ({d})"),
                    (Some(t), _) => t.clone(),
                    _ => "not checked yet".into(),
                };
                let followed = if m.followed {
                    "followed"
                } else {
                    "not followed (removed by a person)"
                };
                out.push_str(&format!("    JP  {case:<16} {followed}; status: {status}"));
                if let Some(at) = &m.last_change_at {
                    out.push_str(&format!("; last change {}", day(at)));
                }
                out.push_str(&format!("  [{}]\n", docs.join(", ")));
            }
            (None, Some(why)) => {
                out.push_str(&format!("    JP  JP member found, number not mapped: {why}\n"))
            }
            (None, None) => out.push_str(&format!("    {:<3} {doc}\n", m.country)),
        }
    }
    out
}

/// One importable row, or why it is not.
fn import_row(
    record: &csv::StringRecord,
    columns: &Columns,
) -> Result<Option<(CaseKey, String, Option<String>)>, String> {
    if record.get(0).is_some_and(|c| c.trim_start().starts_with('#')) {
        return Ok(None);
    }
    if record.len() > columns.count {
        return Err(format!(
            "{} columns, the header has {}",
            record.len(),
            columns.count
        ));
    }
    let cell = |i: Option<usize>| {
        i.and_then(|i| record.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let Some(number) = cell(Some(columns.number)) else {
        if record.iter().all(|c| c.trim().is_empty()) {
            return Ok(None);
        }
        return Err("the number is empty".into());
    };
    let office = cell(columns.office).map(parse_office).transpose()?;
    let kind = cell(columns.kind)
        .map(|k| k.parse::<Kind>())
        .transpose()
        .map_err(|e| e.to_string())?;
    let key = parse_case(number, office, kind).map_err(|e| e.to_string())?;
    Ok(Some((
        key,
        number.to_owned(),
        cell(columns.reference).map(str::to_owned),
    )))
}

struct Columns {
    /// How many the header names.
    count: usize,
    number: usize,
    office: Option<usize>,
    kind: Option<usize>,
    reference: Option<usize>,
}

fn columns(header: &csv::StringRecord, file: &std::path::Path) -> anyhow::Result<Columns> {
    let mut number = None;
    let mut c = Columns {
        count: header.len(),
        number: 0,
        office: None,
        kind: None,
        reference: None,
    };
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        match name.as_str() {
            "number" => number = Some(i),
            "office" => c.office = Some(i),
            "kind" => c.kind = Some(i),
            "client_reference" | "reference" => c.reference = Some(i),
            other => anyhow::bail!(
                "{}:1: unknown column {other:?}: use number, office, kind, client_reference",
                file.display()
            ),
        }
    }
    c.number = number.with_context(|| format!("{}:1: the header has no `number` column", file.display()))?;
    Ok(c)
}

/// The delimiter of a CSV file by its header line: `;` when it has more `;` than `,` (the
/// German Excel export), else `,`.
fn delimiter(header_line: &str) -> u8 {
    let count = |c| header_line.matches(c).count();
    if count(';') > count(',') { b';' } else { b',' }
}

async fn import(
    store: &Store,
    file: &std::path::Path,
    update: bool,
    now: &str,
) -> Result<(), super::Failure> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let header_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = delimiter(&String::from_utf8_lossy(header_line));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .with_context(|| format!("{}:1: unreadable header", file.display()))?
        .clone();
    let columns = columns(&header, file)?;
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        match record {
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(format!("{}:{line}: {e}", file.display()));
            }
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                match import_row(&r, &columns) {
                    Ok(Some(row)) => rows.push((line, row)),
                    Ok(None) => {}
                    Err(e) => bad.push(format!("{}:{line}: {e}", file.display())),
                }
            }
        }
    }
    let now = now.to_owned();
    let name = file.display().to_string();
    let (new, known, conflicts) = store
        .write(move |tx| {
            let (mut new, mut known, mut conflicts) = (0, 0, Vec::new());
            for (line, (key, input, reference)) in &rows {
                let case = NewCase::new(key, input, reference.as_deref(), Source::Import);
                match cases_db::add(tx, &case, update, &now)? {
                    Added::New | Added::Restored => new += 1,
                    Added::Known => known += 1,
                    Added::OtherReference(current) => conflicts.push(format!(
                        "{name}:{line}: {} is already followed with reference {current}; use --update to change it to {}",
                        key.label(),
                        reference.as_deref().unwrap_or_default()
                    )),
                }
            }
            Ok((new, known, conflicts))
        })
        .await
        .map_err(anyhow::Error::new)?;
    bad.extend(conflicts);
    let mut out = String::new();
    if delimiter == b';' {
        out.push_str(&format!(
            "{}: the header is separated by semicolons; reading the file as semicolon-separated\n",
            file.display()
        ));
    }
    out.push_str(&format!(
        "{}: {new} case(s) added, {known} already followed, {} row(s) refused\n",
        file.display(),
        bad.len()
    ));
    for b in &bad {
        out.push_str(&format!("  refused: {b}\n"));
    }
    super::print_stdout(&out)?;
    if bad.is_empty() {
        Ok(())
    } else {
        Err(super::Failure::with_code(
            3,
            anyhow::anyhow!(
                "{} row(s) of {} were not imported (see above)",
                bad.len(),
                file.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delimiter_follows_the_header_line() {
        let table = [
            ("number,office,kind,client_reference", b','),
            ("number;office;kind;client_reference", b';'),
            ("\u{feff}Number;Kind\r", b';'),
            ("number", b','),
            ("number;client_reference,with a comma;kind", b';'),
            ("number,client_reference;x", b','),
            ("", b','),
        ];
        for (line, expected) in table {
            assert_eq!(delimiter(line), expected, "{line:?}");
        }
    }
}
