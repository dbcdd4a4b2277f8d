//! `mailroom cases add|remove|list|show|import`: the cases whose status mailroom follows.
//!
//! Cases also arrive on their own: every EP application of a mailbox communication is added
//! by the next status cycle (`source = mailbox`). A removed case keeps its history and is not
//! added again from the mailbox; `cases add` brings it back.
//!
//! Import file (`cases import FILE.csv`): UTF-8 (a BOM is fine), comma-separated, a header row
//! naming the columns in any order, case-insensitively:
//!
//! | column | required | values |
//! |---|---|---|
//! | `number` | yes | any form `cases add` takes: `EP 23 184 567.2`, `EP2400812`, `特願2020-123456`, `2020-123456` |
//! | `office` | no | `EP` or `JP` (when the number alone is ambiguous) |
//! | `kind` | no | `patent` (default), `design`, `trademark` |
//! | `client_reference` (or `reference`) | no | the firm's reference, e.g. `MR-0812-EP` |
//!
//! Blank rows and rows whose first cell starts with `#` are skipped. A bad row is reported
//! with its line number and the other rows are imported; the exit status is then 3.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::config::Config;
use crate::core::cases::{CaseKey, Kind, Office, parse_case};
use crate::store::cases::{self as cases_db, Added, CaseRow, Source};
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
    Import { file: PathBuf },
}

fn parse_office(s: &str) -> Result<Office, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        "EP" | "EPO" => Ok(Office::Ep),
        "JP" | "JPO" => Ok(Office::Jp),
        _ => Err(format!("unknown office {s:?}: use EP or JP")),
    }
}

pub async fn run(cmd: Command, cfg: &Config) -> Result<(), super::Failure> {
    let store = Store::open(&cfg.storage.database).map_err(anyhow::Error::new)?;
    let now = timestamp(Utc::now());
    match cmd {
        Command::Add {
            number,
            kind,
            office,
            client_reference,
        } => {
            let key = parse_case(&number, office, kind).map_err(anyhow::Error::new)?;
            let k = key.clone();
            let added = store
                .write(move |tx| {
                    cases_db::add(tx, &k, &number, client_reference.as_deref(), Source::Manual, &now)
                })
                .await
                .map_err(anyhow::Error::new)?;
            let what = match added {
                Added::New => "added",
                Added::Restored => "followed again",
                Added::Known => "already followed",
            };
            super::print_stdout(&format!("{}: {what}\n", key.label()))?;
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
            let list = store
                .call(|c| cases_db::list(c))
                .await
                .map_err(anyhow::Error::new)?;
            if json {
                super::print_stdout(
                    &(serde_json::to_string_pretty(&list).map_err(anyhow::Error::new)? + "\n"),
                )?;
            } else {
                super::print_stdout(&table(&list))?;
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
        Command::Import { file } => import(&store, &file, &now).await,
    }
}

fn table(list: &[CaseRow]) -> String {
    let mut out = String::from("CASE                       REFERENCE        CHECKED     STATUS\n");
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
        out.push_str(&format!(
            "{:<26} {:<16} {:<11} {}\n",
            c.label(),
            c.client_reference.as_deref().unwrap_or("-"),
            checked,
            status
        ));
        if let Some(e) = &c.last_error {
            let what = if c.not_found {
                "not found at the office"
            } else {
                "last refresh failed"
            };
            out.push_str(&format!("{:<55}{what}: {e}\n", ""));
        }
    }
    out.push_str(&format!("{} case(s)\n", list.len()));
    out
}

async fn show(store: &Store, key: CaseKey, json: bool) -> Result<(), super::Failure> {
    let k = key.clone();
    let found = store
        .call(move |c| {
            let Some(case) = cases_db::find(c, &k)? else {
                return Ok(None);
            };
            let changes = cases_db::changes(c, None, Some(case.id))?;
            Ok(Some((case, changes)))
        })
        .await
        .map_err(anyhow::Error::new)?;
    let Some((case, changes)) = found else {
        return Err(anyhow::anyhow!(
            "{} is not followed; add it with `mailroom cases add`",
            key.label()
        )
        .into());
    };
    if json {
        let v = serde_json::json!({ "case": case, "changes": changes });
        super::print_stdout(&(serde_json::to_string_pretty(&v).map_err(anyhow::Error::new)? + "\n"))?;
        return Ok(());
    }
    let mut out = format!("{}  ({} {}", case.label(), case.office, case.kind);
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
    if let Some(e) = &case.last_error {
        out.push_str(&format!("  last refresh failed: {e}\n"));
    }
    out.push_str(&format!("  changes ({}):\n", changes.len()));
    for ch in &changes {
        out.push_str(&format!("    {}  {}\n", ch.detected_at, ch.summary));
    }
    super::print_stdout(&out)?;
    Ok(())
}

/// One importable row, or why it is not.
fn import_row(
    record: &csv::StringRecord,
    columns: &Columns,
) -> Result<Option<(CaseKey, String, Option<String>)>, String> {
    if record.get(0).is_some_and(|c| c.trim_start().starts_with('#')) {
        return Ok(None);
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
    number: usize,
    office: Option<usize>,
    kind: Option<usize>,
    reference: Option<usize>,
}

fn columns(header: &csv::StringRecord, file: &std::path::Path) -> anyhow::Result<Columns> {
    let mut number = None;
    let mut c = Columns {
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

async fn import(store: &Store, file: &std::path::Path, now: &str) -> Result<(), super::Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
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
                    Ok(Some(row)) => rows.push(row),
                    Ok(None) => {}
                    Err(e) => bad.push(format!("{}:{line}: {e}", file.display())),
                }
            }
        }
    }
    let now = now.to_owned();
    let (new, known) = store
        .write(move |tx| {
            let (mut new, mut known) = (0, 0);
            for (key, input, reference) in &rows {
                match cases_db::add(tx, key, input, reference.as_deref(), Source::Import, &now)? {
                    Added::New | Added::Restored => new += 1,
                    Added::Known => known += 1,
                }
            }
            Ok((new, known))
        })
        .await
        .map_err(anyhow::Error::new)?;
    let mut out = format!(
        "{}: {new} case(s) added, {known} already followed, {} row(s) refused\n",
        file.display(),
        bad.len()
    );
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
