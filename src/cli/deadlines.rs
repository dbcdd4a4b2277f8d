//! `mailroom deadlines`: the deadlines mailroom proposed for the communications it archived,
//! and the docket-then-verify sign-off (issue 13).
//!
//! * `deadlines [--due-within 30d] [--open | --all] [--json]` (also `deadlines list`): by due
//!   date, open and acknowledged ones unless `--all` (done and withdrawn too) or `--open` (not
//!   yet acknowledged). `--due-within` takes a period (`30d`, `4w`, `2m`): due on or before
//!   today plus it, today in the firm's zone (`[schedule] time_zone`), overdue ones included.
//! * `deadlines show ID [--json]`: one deadline with its steps, notes, warnings, the letter
//!   reading, the Register's verdict, and the communication's archived files.
//! * `deadlines ack ID [--by NAME] [--note TEXT]`: a person has put the date into the firm's
//!   docket and checked it against the reasoning. Reminders stop (the docket's own take over);
//!   a recomputation that moves the date makes it open again.
//! * `deadlines done ID [--note TEXT]`: the act it asked for was done.
//! * `deadlines withdraw ID --note TEXT`: it no longer applies (why is required): kept, no
//!   longer listed or reminded.
//!
//! **Decided:** `--by` defaults to the OS user (`$USER`, `$USERNAME` on Windows) because the
//! person at the terminal is the one signing off; without either, the command refuses rather
//! than record an anonymous sign-off. The JSON listing is the store's rows as they are, so a
//! docketing script sees the same fields as `export --format json`'s `deadlines`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use chrono::{Days, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::core::deadline::propose::LetterReading;
use crate::core::deadline::{Period, Unit};
use crate::store::deadlines::{self, ChangeError, Filter, Row};
use crate::store::{Store, StoreError, communications, timestamp};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    list: ListArgs,
}

impl Args {
    /// Whether the command writes (and so takes the state lock).
    pub fn writes(&self) -> bool {
        matches!(
            self.command,
            Some(Sub::Ack { .. } | Sub::Done { .. } | Sub::Withdraw { .. })
        )
    }
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List the deadlines by due date (the default)
    List(ListArgs),
    /// One deadline with every step of its reasoning, the letter reading, the Register's
    /// verdict and the communication's archived files
    Show {
        /// The deadline id (as `deadlines` lists it)
        #[arg(value_parser = parse_id)]
        id: i64,
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Sign off a deadline: you have put it into the firm's docket and checked the date.
    /// Its reminders stop
    Ack {
        /// The deadline id (as `deadlines` lists it)
        #[arg(value_parser = parse_id)]
        id: i64,
        /// Who docketed it (default: the OS user, $USER or $USERNAME)
        #[arg(long, value_name = "NAME", value_parser = non_empty)]
        by: Option<String>,
        /// A note kept with the deadline (an earlier note stays unless this replaces it)
        #[arg(long, value_name = "TEXT", value_parser = non_empty)]
        note: Option<String>,
    },
    /// The act the deadline asked for is done (the reply filed): no longer listed or reminded
    Done {
        /// The deadline id (as `deadlines` lists it)
        #[arg(value_parser = parse_id)]
        id: i64,
        /// A note kept with the deadline
        #[arg(long, value_name = "TEXT", value_parser = non_empty)]
        note: Option<String>,
    },
    /// The deadline no longer applies (a superseded communication, a withdrawn application):
    /// kept with why, no longer listed or reminded
    Withdraw {
        /// The deadline id (as `deadlines` lists it)
        #[arg(value_parser = parse_id)]
        id: i64,
        /// Why it no longer applies (required)
        #[arg(long, value_name = "TEXT", value_parser = non_empty)]
        note: String,
    },
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Only deadlines due within this period from today (overdue ones too): 30d, 4w, 2m
    #[arg(long, value_name = "PERIOD")]
    due_within: Option<Period>,
    /// Only deadlines nobody has acknowledged yet
    #[arg(long, conflicts_with = "all")]
    open: bool,
    /// Done and withdrawn deadlines too
    #[arg(long)]
    all: bool,
    /// The rows as a JSON array instead of a table
    #[arg(long)]
    json: bool,
}

fn parse_id(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{s:?} is not a deadline id: give the number `mailroom deadlines` lists"))
}

fn non_empty(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("it is empty".into());
    }
    Ok(t.to_owned())
}

pub async fn run(args: Args, cfg: &Config) -> Result<(), super::Failure> {
    match args.command {
        None => Ok(list(args.list, cfg).await?),
        Some(Sub::List(l)) => Ok(list(l, cfg).await?),
        Some(Sub::Show { id, json }) => Ok(show(id, json, cfg).await?),
        Some(Sub::Ack { id, by, note }) => Ok(ack(id, by, note, cfg).await?),
        Some(Sub::Done { id, note }) => Ok(done(id, note, cfg).await?),
        Some(Sub::Withdraw { id, note }) => Ok(withdraw(id, note, cfg).await?),
    }
}

/// The last day of `period` from `today`, for `--due-within` (the day a period counted from
/// today ends, without any office's closing days: it only bounds a listing).
fn within(today: NaiveDate, period: Period) -> Option<NaiveDate> {
    let n = period.count;
    match period.unit {
        Unit::Days => today.checked_add_days(Days::new(u64::from(n))),
        Unit::Weeks => today.checked_add_days(Days::new(u64::from(n) * 7)),
        Unit::Months => today.checked_add_months(Months::new(n)),
        Unit::Years => today.checked_add_months(Months::new(n * 12)),
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `2027-03-01 (Mon)`, or the stored text if it is not a date.
fn day(s: &str) -> String {
    date(s).map_or_else(|| s.to_owned(), |d| d.format("%Y-%m-%d (%a)").to_string())
}

/// The period as people read it (`4 months`), from its stored code (`4m`).
fn period_words(code: &str) -> String {
    code.parse::<Period>()
        .map_or_else(|_| code.to_owned(), |p| p.to_string())
}

/// The Register's verdict as the table shows it: a disagreement shouts.
fn register_cell(register: &str) -> String {
    match register {
        "disagrees" => "DISAGREES".to_owned(),
        other => other.to_owned(),
    }
}

fn case_of(row: &Row) -> &str {
    row.case_number.as_deref().unwrap_or(&row.application_number)
}

async fn list(args: ListArgs, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let today = cfg.deadlines.today(Utc::now());
    let due_by = match args.due_within {
        Some(p) => Some(
            within(today, p).ok_or_else(|| anyhow!("--due-within {p}: runs past the end of the calendar"))?,
        ),
        None => None,
    };
    let filter = Filter {
        open_only: args.open,
        due_by,
        all: args.all,
    };
    let f = filter.clone();
    let (rows, lost) = store
        .call(move |c| Ok((deadlines::list(c, &f)?, deadlines::unexplained(c)?)))
        .await?;
    if args.json {
        return super::print_stdout(&(serde_json::to_string_pretty(&rows)? + "\n"));
    }
    let mut out = if rows.is_empty() {
        nothing(&filter) + "\n"
    } else {
        table(&rows, today)
    };
    out.push_str(&unexplained_lines(&lost));
    super::print_stdout(&out)
}

/// The Register's time limits no communication explains: how a lost communication shows.
fn unexplained_lines(lost: &[deadlines::Unexplained]) -> String {
    if lost.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nThe EP Register shows {} time limit(s) for which no communication was received:\n",
        lost.len()
    );
    for u in lost {
        out.push_str(&format!(
            "  {} dated {}: {} ({}){}\n",
            u.case,
            u.dispatch_date,
            period_words(&u.period),
            u.step_id,
            match &u.reported_at {
                Some(at) => format!(", reported to the admins {at}"),
                None => ", within the grace period (register_grace_days)".to_owned(),
            }
        ));
    }
    out
}

/// The one line an empty listing prints, saying what was looked for.
fn nothing(f: &Filter) -> String {
    let mut line = String::from("no deadlines");
    line.push_str(if f.open_only {
        " open (not yet acknowledged)"
    } else if f.all {
        " at all"
    } else {
        " open or acknowledged"
    });
    if let Some(by) = f.due_by {
        line.push_str(&format!(" due by {}", by.format("%Y-%m-%d (%a)")));
    }
    line
}

const HEADER: [&str; 10] = [
    "ID",
    "DUE",
    "DAYS",
    "CASE",
    "CLIENT REF",
    "BASIS",
    "SOURCE",
    "REGISTER",
    "STATE",
    "ACK BY",
];

fn table(rows: &[Row], today: NaiveDate) -> String {
    let dash = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned();
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                day(&r.due),
                date(&r.due).map_or_else(|| "?".to_owned(), |d| (d - today).num_days().to_string()),
                case_of(r).to_owned(),
                dash(r.client_reference.as_deref()),
                r.basis.clone(),
                r.source.clone(),
                register_cell(&r.register),
                r.state.as_str().to_owned(),
                dash(r.acknowledged_by.as_deref()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |cells: &[String]| {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    push_line(&HEADER.map(str::to_owned));
    for row in &cells {
        push_line(row);
    }
    out.push_str(&format!(
        "{} deadline(s); DAYS are left from today, {} (negative: past)\n",
        rows.len(),
        today.format("%Y-%m-%d")
    ));
    out
}

/// One archived file of the deadline's communication.
#[derive(Serialize)]
struct ArchivedFile {
    key: String,
    /// Relative to the archive directory, `/`-separated, as the store records it.
    path: String,
    /// Where it is on this machine.
    archive_path: PathBuf,
    size: u64,
    sha256: String,
    media_type: Option<String>,
}

#[derive(Serialize)]
struct Shown {
    deadline: Row,
    letter: Option<LetterReading>,
    files: Vec<ArchivedFile>,
}

fn in_archive(archive: &Path, relative: &str) -> PathBuf {
    let mut p = archive.to_path_buf();
    p.extend(relative.split('/').filter(|c| !c.is_empty()));
    p
}

async fn show(id: i64, json: bool, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let found = store
        .call(move |c| {
            let Some(row) = deadlines::get(c, id)? else {
                return Ok(None);
            };
            let letter = deadlines::letter_of(c, id)?;
            let docs = match &row.communication_id {
                Some(m) => communications::documents_of(c, m)?,
                None => Vec::new(),
            };
            Ok(Some((row, letter, docs)))
        })
        .await?;
    let (row, letter, docs) = found.ok_or(ChangeError::NoSuch(id))?;
    let files = docs
        .into_iter()
        .map(|d| ArchivedFile {
            archive_path: in_archive(&cfg.storage.archive_dir, &d.path),
            key: d.key,
            path: d.path,
            size: d.size,
            sha256: d.sha256,
            media_type: d.media_type,
        })
        .collect();
    let shown = Shown {
        deadline: row,
        letter,
        files,
    };
    if json {
        return super::print_stdout(&(serde_json::to_string_pretty(&shown)? + "\n"));
    }
    super::print_stdout(&describe(&shown, cfg.deadlines.today(Utc::now())))
}

fn letter_words(l: &LetterReading) -> String {
    match l {
        LetterReading::NotRead { why } => format!("not read ({why})"),
        LetterReading::NoPeriod => "read; it states no period".to_owned(),
        LetterReading::One { period, quote } => format!("states {period}: \"{quote}\""),
        LetterReading::Several { periods } => {
            let listed: Vec<String> = periods.iter().map(|(p, q)| format!("{p} (\"{q}\")")).collect();
            format!("states several periods, none trusted: {}", listed.join(", "))
        }
    }
}

fn describe(s: &Shown, today: NaiveDate) -> String {
    let r = &s.deadline;
    let mut out = format!("deadline {}: {}\n", r.id, r.line());
    let field = |out: &mut String, name: &str, value: &str| {
        out.push_str(&format!("  {:<14} {value}\n", format!("{name}:")));
    };
    let mut case = format!("{} {}", r.office, case_of(r));
    if case_of(r) != r.application_number {
        case.push_str(&format!(" (the office wrote {})", r.application_number));
    }
    if let Some(c) = &r.client_reference {
        case.push_str(&format!(", client reference {c}"));
    }
    field(&mut out, "case", &case);
    let mut due = day(&r.due);
    if let Some(d) = date(&r.due) {
        due.push_str(&format!(", {} day(s) from today", (d - today).num_days()));
    }
    if r.unextended != r.due {
        due.push_str(&format!(
            "; {} before the closing days moved it",
            day(&r.unextended)
        ));
    }
    field(&mut out, "due", &due);
    if let Some(p) = &r.previous_due {
        field(&mut out, "previously due", &day(p));
    }
    field(
        &mut out,
        "period",
        &format!(
            "{} from {}, {}",
            period_words(&r.period),
            r.document_date,
            r.basis
        ),
    );
    field(&mut out, "source", &r.source);
    if let Some(l) = &s.letter {
        field(&mut out, "letter", &letter_words(l));
    }
    let register = match (r.register.as_str(), r.register_detail.as_deref()) {
        ("unchecked", _) => "not checked against the EP Register yet".to_owned(),
        (verdict, Some(detail)) => format!("{}: {detail}", register_cell(verdict)),
        (verdict, None) => register_cell(verdict),
    };
    field(&mut out, "register", &register);
    let closed = r.done_at.as_ref().or(r.withdrawn_at.as_ref());
    let state = match (&r.acknowledged_by, &r.acknowledged_at, closed) {
        (_, _, Some(at)) => format!("{} at {at}", r.state.as_str()),
        (Some(by), Some(at), None) => format!("{} by {by} at {at}", r.state.as_str()),
        _ => r.state.as_str().to_owned(),
    };
    field(&mut out, "state", &state);
    if let Some(n) = &r.note {
        field(&mut out, "note", n);
    }
    if let Some(m) = &r.remedy {
        field(&mut out, "if missed", m);
    }
    let received = r
        .received_date
        .as_deref()
        .map_or_else(String::new, |d| format!(", received {d}"));
    match (&r.communication_id, &r.jp_document) {
        (Some(m), _) => field(
            &mut out,
            "communication",
            &format!("{m} \"{}\", dated {}{received}", r.title, r.document_date),
        ),
        (None, _) => field(
            &mut out,
            "JPO document",
            &format!(
                "{} {} of JP {}, dispatched {} (in the JPO's progress data of the case)",
                r.document_code, r.title, r.application_number, r.document_date
            ),
        ),
    }
    for f in &s.files {
        field(&mut out, "file", &f.archive_path.display().to_string());
    }
    if s.files.is_empty() {
        field(&mut out, "file", "none recorded");
    }
    out.push_str("  steps:\n");
    for (i, step) in r.steps.iter().enumerate() {
        out.push_str(&format!("    {}. {step}\n", i + 1));
    }
    // The first note is the headline, already the first line.
    let headline = r.line();
    let notes: Vec<&String> = r
        .notes
        .iter()
        .filter(|n| !headline.starts_with(n.as_str()))
        .collect();
    if !notes.is_empty() {
        out.push_str("  notes:\n");
        for n in notes {
            out.push_str(&format!("    - {n}\n"));
        }
    }
    for w in &r.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    out
}

/// Splits a refused change into the refusal (the command's error, nothing written) and a store
/// failure (which rolls the transaction back).
fn refusal<T>(r: Result<T, ChangeError>) -> Result<Result<T, ChangeError>, StoreError> {
    match r {
        Err(ChangeError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

/// The OS user at the terminal: `$USER` (Unix), else `$USERNAME` (Windows).
fn os_user() -> Option<String> {
    ["USER", "USERNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
}

async fn ack(id: i64, by: Option<String>, note: Option<String>, cfg: &Config) -> anyhow::Result<()> {
    let by = by.or_else(os_user).ok_or_else(|| {
        anyhow!("--by: neither $USER nor $USERNAME is set; say who docketed deadline {id} with --by NAME")
    })?;
    let store = Store::open_existing(&cfg.storage.database)?;
    let now = timestamp(Utc::now());
    let who = by.clone();
    let row = store
        .write(move |tx| refusal(deadlines::acknowledge(tx, id, &who, note.as_deref(), &now)))
        .await??;
    let mut out = format!(
        "deadline {id} acknowledged by {by}: due {}, {} ({}, {})\n  {}\n",
        day(&row.due),
        row.basis,
        case_of(&row),
        row.title,
        row.line()
    );
    if let Some(n) = &row.note {
        out.push_str(&format!("  note: {n}\n"));
    }
    out.push_str("  mailroom sends no more reminders for it: the firm's docket has it now\n");
    super::print_stdout(&out)
}

async fn done(id: i64, note: Option<String>, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let now = timestamp(Utc::now());
    let row = store
        .write(move |tx| refusal(deadlines::done(tx, id, note.as_deref(), &now)))
        .await??;
    let mut out = format!(
        "deadline {id} done: due {}, {} ({}, {}); no longer listed or reminded\n",
        day(&row.due),
        row.basis,
        case_of(&row),
        row.title
    );
    if let Some(n) = &row.note {
        out.push_str(&format!("  note: {n}\n"));
    }
    super::print_stdout(&out)
}

async fn withdraw(id: i64, note: String, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let now = timestamp(Utc::now());
    let row = store
        .write(move |tx| refusal(deadlines::withdraw(tx, id, &note, &now)))
        .await??;
    super::print_stdout(&format!(
        "deadline {id} withdrawn: due {}, {} ({}, {}); kept, no longer listed or reminded\n  why: {}\n",
        day(&row.due),
        row.basis,
        case_of(&row),
        row.title,
        row.note.as_deref().unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn due_within_counts_from_today_in_days_weeks_and_months() {
        let table = [
            ("2026-01-31", "30d", "2026-03-02"),
            ("2026-01-31", "4w", "2026-02-28"),
            ("2026-01-31", "1m", "2026-02-28"),
            ("2026-01-31", "2m", "2026-03-31"),
            ("2026-01-31", "1y", "2027-01-31"),
        ];
        for (today, period, want) in table {
            assert_eq!(
                within(d(today), period.parse().unwrap()),
                Some(d(want)),
                "{today} + {period}"
            );
        }
    }

    #[test]
    fn ids_and_names_are_checked() {
        assert_eq!(parse_id(" 12 "), Ok(12));
        for bad in ["0", "-1", "abc", ""] {
            let e = parse_id(bad).unwrap_err();
            assert!(e.contains("is not a deadline id"), "{bad:?}: {e}");
        }
        assert_eq!(non_empty(" alice "), Ok("alice".to_owned()));
        assert!(non_empty("  ").is_err());
    }

    #[test]
    fn an_empty_listing_says_what_was_looked_for() {
        let by = Some(d("2026-03-02"));
        let table = [
            (Filter::default(), "no deadlines open or acknowledged"),
            (
                Filter {
                    open_only: true,
                    due_by: by,
                    all: false,
                },
                "no deadlines open (not yet acknowledged) due by 2026-03-02 (Mon)",
            ),
            (
                Filter {
                    all: true,
                    ..Filter::default()
                },
                "no deadlines at all",
            ),
        ];
        for (f, want) in table {
            assert_eq!(nothing(&f), want);
        }
    }
}
