//! `mailroom deadlines` and the deadline exports (issue 13), as a person runs them: the binary
//! over a real SQLite file whose deadlines the library proposed the way the mailbox job does
//! (`record_seen`, `record_archived`, then `propose_for` in the same transaction, with the
//! shipped rules table and EPO calendar). Dates are relative to today, so the listing's day
//! counts and filters are checked against the real clock the binary reads.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use common::{explain, stderr, stdout};
use mailroom::core::deadline::Policy;
use mailroom::core::deadline::propose::LetterReading;
use mailroom::store::communications::{ArchivedDoc, Listed, record_archived, record_seen};
use mailroom::store::{Store, deadlines};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One communication to archive, and how its letter read.
struct Comm {
    id: &'static str,
    application: &'static str,
    title: &'static str,
    reference: Option<&'static str>,
    days_ago: u64,
    letter: LetterReading,
}

/// A state directory with a configuration (UTC, reminders 14 and 3 days before) and the
/// deadlines of four communications, plus one whose period nobody knows.
struct Fixture {
    dir: tempfile::TempDir,
    /// Deadline ids by communication id.
    ids: Vec<(&'static str, i64)>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn comms() -> Vec<Comm> {
    vec![
        // 2 months (Rule 63(1) EPC) from 50 days ago: due in about ten days.
        Comm {
            id: "C-R63",
            application: "EP21000001",
            title: "Communication pursuant to Rule 63(1) EPC",
            reference: Some("MR-63"),
            days_ago: 50,
            letter: LetterReading::NoPeriod,
        },
        // 4 months (Rule 71(3) EPC) from 10 days ago: due in about 110 days.
        Comm {
            id: "C-R71",
            application: "EP21000002",
            title: "Communication under Rule 71(3) EPC",
            reference: None,
            days_ago: 10,
            letter: LetterReading::NoPeriod,
        },
        // The letter's own 2 months from 20 days ago: due in about 40 days.
        Comm {
            id: "C-LETTER",
            application: "EP21000003",
            title: "Communication from the Examining Division",
            reference: Some("MR-94"),
            days_ago: 20,
            letter: LetterReading::One {
                period: "2m".parse().expect("period"),
                quote: "within a period of two months".into(),
            },
        },
        // 6 months (Rules 161(1) and 162 EPC) from 30 days ago: due in about 150 days.
        Comm {
            id: "C-R161",
            application: "EP21000004",
            title: "Communication pursuant to Rules 161(1) and 162 EPC",
            reference: None,
            days_ago: 30,
            letter: LetterReading::NotRead {
                why: "no text layer".into(),
            },
        },
        // No rule names it and the letter states no period: no deadline.
        Comm {
            id: "C-UNKNOWN",
            application: "EP21000005",
            title: "Brief communication",
            reference: None,
            days_ago: 5,
            letter: LetterReading::NoPeriod,
        },
    ]
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("mailroom.toml"),
            "[storage]\ndatabase = 'state/mailroom.sqlite3'\narchive_dir = 'archive'\n\
             [schedule]\ntime_zone = 'UTC'\n\
             [deadlines]\nremind_days = [3, 14]\n",
        )
        .expect("config");
        let policy = Policy {
            rules: mailroom::legal_data::epo_period_rules().expect("rules table"),
            calendar: mailroom::legal_data::epo_closing_days().expect("EPO calendar"),
            ..Policy::default()
        };
        let archive = dir.path().join("archive");
        let mut records = Vec::new();
        for c in comms() {
            let relative = format!("{}/{}.pdf", c.application, c.id);
            let body = format!("%PDF-1.7\n{} {}\n", c.id, c.title);
            let file = archive.join(&relative);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("archive dir");
            std::fs::write(&file, &body).expect("archived file");
            let dated = today().checked_sub_days(Days::new(c.days_ago)).expect("date");
            let listed = Listed {
                id: c.id.into(),
                office: "EP".into(),
                application_number: c.application.into(),
                document_code: "2001".into(),
                title: c.title.into(),
                dispatch_date: dated.format("%Y-%m-%d").to_string(),
                delivered_at: None,
                user_reference: c.reference.map(Into::into),
                metadata_json: "{}".into(),
                handled_at_office: false,
            };
            let doc = ArchivedDoc {
                key: String::new(),
                file_name: Some(format!("{}.pdf", c.id)),
                media_type: Some("application/pdf".into()),
                size: body.len() as u64,
                sha256: common::hex(&Sha256::digest(body.as_bytes())),
                path: relative,
            };
            records.push((c.id, listed, doc, c.letter));
        }
        let db = dir.path().join("state/mailroom.sqlite3");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ids = runtime.block_on(async move {
            let store = Store::open(&db).expect("store");
            store
                .write(move |tx| {
                    let now = mailroom::store::timestamp(Utc::now());
                    let mut ids = Vec::new();
                    for (id, listed, doc, letter) in &records {
                        record_seen(tx, std::slice::from_ref(listed), &now)?;
                        assert!(record_archived(tx, id, std::slice::from_ref(doc), &now)?);
                        deadlines::propose_for(tx, &policy, id, letter, &now)?;
                        if let Some(row) = deadlines::of_communication(tx, id)? {
                            ids.push((*id, row.id));
                        }
                    }
                    Ok(ids)
                })
                .await
                .expect("deadlines proposed")
        });
        assert_eq!(ids.len(), 4, "every communication but the unknown one: {ids:?}");
        Fixture { dir, ids }
    }

    fn id(&self, communication: &str) -> i64 {
        self.ids
            .iter()
            .find(|(c, _)| *c == communication)
            .map(|(_, id)| *id)
            .expect("a deadline for it")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("mailroom.toml")
    }

    /// `mailroom --config … ARGS` with `$USER`/`$USERNAME` as given (none otherwise).
    fn run_as(&self, user: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_LOG")
            .env_remove("USER")
            .env_remove("USERNAME");
        if let Some(u) = user {
            cmd.env("USER", u);
        }
        common::output_within(&mut cmd, Duration::from_secs(60))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_as(None, args)
    }

    /// Runs `ARGS`, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", explain(&o));
        stdout(&o)
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON")
    }

    /// `deadlines show ID --json`'s deadline.
    fn row(&self, id: i64) -> Value {
        self.json(&["deadlines", "show", &id.to_string(), "--json"])["deadline"].clone()
    }
}

fn ids_of(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}

fn due(row: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(row["due"].as_str().expect("due"), "%Y-%m-%d").expect("date")
}

/// A refusal: exit 1, one line on stderr containing `culprit`, nothing on stdout.
fn refused(o: &Output, culprit: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", explain(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("mailroom: error: ") && err.contains(culprit),
        "{err}"
    );
    assert!(stdout(o).is_empty(), "{}", explain(o));
}

/// Bad usage: exit 2, and clap's first line names the argument and why.
fn bad_usage(o: &Output, culprit: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", explain(o));
    let err = stderr(o);
    let first = err.lines().next().unwrap_or_default();
    assert!(first.contains(culprit), "{err}");
}

#[test]
fn the_listing_sorts_by_due_date_counts_days_and_filters() {
    let f = Fixture::new();
    let all = f.json(&["deadlines", "--json"]);
    let rows = all.as_array().expect("array");
    let order = ["C-R63", "C-LETTER", "C-R71", "C-R161"].map(|c| f.id(c));
    assert_eq!(ids_of(&all), order, "by due date: {all:#}");
    let dues: Vec<NaiveDate> = rows.iter().map(due).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{dues:?}");
    assert_eq!(rows[0]["basis"], "Rule 63(1) EPC", "{:#}", rows[0]);
    assert_eq!(rows[0]["source"], "rule");
    assert_eq!(rows[0]["client_reference"], "MR-63");
    assert_eq!(rows[1]["source"], "letter", "{:#}", rows[1]);
    assert_eq!(rows[0]["state"], "open");
    assert!(
        rows.iter().all(|r| r["communication_id"] != "C-UNKNOWN"),
        "no period known, no deadline row: {all:#}"
    );

    let table = f.ok(&["deadlines"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("DUE") && lines[0].contains("ACK BY"),
        "{table}"
    );
    for header in [
        "DAYS",
        "CASE",
        "CLIENT REF",
        "BASIS",
        "SOURCE",
        "REGISTER",
        "STATE",
    ] {
        assert!(lines[0].contains(header), "{header}: {table}");
    }
    let first = lines[1];
    let days_left = (dues[0] - today()).num_days();
    for cell in [
        order[0].to_string(),
        dues[0].format("%Y-%m-%d (%a)").to_string(),
        format!("  {days_left}  "),
        "EP21000001".to_owned(),
        "MR-63".to_owned(),
        "Rule 63(1) EPC".to_owned(),
        "unchecked".to_owned(),
        "open".to_owned(),
    ] {
        assert!(first.contains(&cell), "{cell:?} in {first:?}\n{table}");
    }
    assert_eq!(lines.len(), 1 + 4 + 1, "header, four rows, the count: {table}");
    assert!(lines[5].starts_with("4 deadline(s)"), "{table}");

    // Within 30 days of today: exactly the deadlines the full listing puts on or before it.
    let by = today().checked_add_days(Days::new(30)).expect("date");
    let within = f.json(&["deadlines", "--due-within", "30d", "--json"]);
    let want: Vec<i64> = rows
        .iter()
        .filter(|r| due(r) <= by)
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids_of(&within), want);
    assert_eq!(
        want,
        [order[0]],
        "only the Rule 63 deadline is that close: {all:#}"
    );
    let months = f.json(&["deadlines", "--due-within", "4m", "--json"]);
    assert!(ids_of(&months).contains(&order[2]), "{months:#}");
    assert!(!ids_of(&months).contains(&order[3]), "{months:#}");

    // --open leaves out the acknowledged; --all brings back the done.
    f.ok(&["deadlines", "ack", &order[1].to_string(), "--by", "alice"]);
    f.ok(&["deadlines", "done", &order[2].to_string()]);
    assert_eq!(
        ids_of(&f.json(&["deadlines", "--json"])),
        [order[0], order[1], order[3]]
    );
    assert_eq!(
        ids_of(&f.json(&["deadlines", "--open", "--json"])),
        [order[0], order[3]]
    );
    assert_eq!(ids_of(&f.json(&["deadlines", "--all", "--json"])), order);
    assert_eq!(
        ids_of(&f.json(&["deadlines", "list", "--open", "--json"])),
        [order[0], order[3]],
        "`deadlines list` is the same listing"
    );
    let listed = f.ok(&["deadlines"]);
    assert!(
        listed.lines().any(|l| l.starts_with(&format!("{} ", order[1]))
            && l.contains("acknowledged")
            && l.ends_with("alice")),
        "{listed}"
    );

    // Nothing that close: one line, exit 0; JSON is an empty array.
    let none = f.ok(&["deadlines", "--due-within", "1d"]);
    assert_eq!(none.lines().count(), 1, "{none}");
    assert!(
        none.starts_with("no deadlines open or acknowledged due by "),
        "{none}"
    );
    assert_eq!(
        f.json(&["deadlines", "--due-within", "1d", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn ack_signs_off_as_the_os_user_or_by_name_and_keeps_the_note() {
    let f = Fixture::new();
    let id = f.id("C-R71");
    let o = f.run_as(
        Some("bob"),
        &[
            "deadlines",
            "ack",
            &id.to_string(),
            "--note",
            "docketed in PatOffice",
        ],
    );
    assert!(o.status.success(), "{}", explain(&o));
    let out = stdout(&o);
    let row = f.row(id);
    assert!(
        out.starts_with(&format!(
            "deadline {id} acknowledged by bob: due {}, Rule 71(3) EPC",
            due(&row).format("%Y-%m-%d (%a)")
        )),
        "{out}"
    );
    assert!(out.contains("note: docketed in PatOffice"), "{out}");
    assert_eq!(row["state"], "acknowledged");
    assert_eq!(row["acknowledged_by"], "bob");
    assert_eq!(row["note"], "docketed in PatOffice");
    let first_at = row["acknowledged_at"].as_str().expect("when").to_owned();

    // Again, by someone else and without a note: the latest sign-off counts, the note stays.
    f.ok(&["deadlines", "ack", &id.to_string(), "--by", "Carol Jones"]);
    let again = f.row(id);
    assert_eq!(again["acknowledged_by"], "Carol Jones");
    assert_eq!(again["note"], "docketed in PatOffice", "{again:#}");
    assert!(again["acknowledged_at"].as_str().expect("when") >= first_at.as_str());

    // No OS user and no --by: refused, naming --by; an empty name is bad usage.
    let other = f.id("C-R63");
    refused(&f.run(&["deadlines", "ack", &other.to_string()]), "--by");
    assert_eq!(f.row(other)["state"], "open", "nothing was written");
    bad_usage(
        &f.run_as(
            Some("bob"),
            &["deadlines", "ack", &other.to_string(), "--by", " "],
        ),
        "--by",
    );
    refused(
        &f.run_as(Some(""), &["deadlines", "ack", &other.to_string()]),
        "--by",
    );
    assert_eq!(f.row(other)["state"], "open");
}

#[test]
fn done_closes_a_deadline_and_every_refusal_is_one_line() {
    let f = Fixture::new();
    let id = f.id("C-R63");
    let out = f.ok(&["deadlines", "done", &id.to_string(), "--note", "reply filed"]);
    assert!(out.starts_with(&format!("deadline {id} done: due ")), "{out}");
    let row = f.row(id);
    assert_eq!(row["state"], "done");
    assert_eq!(row["note"], "reply filed");
    assert!(row["done_at"].is_string(), "{row:#}");
    assert!(!ids_of(&f.json(&["deadlines", "--json"])).contains(&id));

    let closed = format!("deadline {id} is done");
    refused(&f.run(&["deadlines", "done", &id.to_string()]), &closed);
    refused(
        &f.run_as(Some("bob"), &["deadlines", "ack", &id.to_string()]),
        &closed,
    );
    for args in [
        vec!["deadlines", "done", "999"],
        vec!["deadlines", "show", "999"],
        vec!["deadlines", "ack", "999", "--by", "bob"],
    ] {
        refused(&f.run(&args), "no deadline 999");
    }
    bad_usage(
        &f.run(&["deadlines", "show", "abc"]),
        "\"abc\" is not a deadline id",
    );
    bad_usage(&f.run(&["deadlines", "done", "0"]), "\"0\" is not a deadline id");
    bad_usage(
        &f.run(&["deadlines", "--due-within", "4 fortnights"]),
        "\"4 fortnights\" is not a period",
    );
    bad_usage(&f.run(&["deadlines", "--open", "--all"]), "--open");

    // Withdrawn: why is required, kept with it, listed only with --all, closed for ack.
    let other = f.id("C-R71");
    let no_reason = f.run(&["deadlines", "withdraw", &other.to_string()]);
    bad_usage(&no_reason, "required arguments were not provided");
    assert!(
        stderr(&no_reason).contains("--note <TEXT>"),
        "{}",
        explain(&no_reason)
    );
    let out = f.ok(&[
        "deadlines",
        "withdraw",
        &other.to_string(),
        "--note",
        "superseded by a new Rule 71(3) communication",
    ]);
    assert!(
        out.starts_with(&format!("deadline {other} withdrawn: due ")),
        "{out}"
    );
    let row = f.row(other);
    assert_eq!(row["state"], "withdrawn");
    assert_eq!(row["note"], "superseded by a new Rule 71(3) communication");
    assert!(row["withdrawn_at"].is_string(), "{row:#}");
    assert!(!ids_of(&f.json(&["deadlines", "--json"])).contains(&other));
    assert!(ids_of(&f.json(&["deadlines", "--all", "--json"])).contains(&other));
    refused(
        &f.run_as(Some("bob"), &["deadlines", "ack", &other.to_string()]),
        &format!("deadline {other} is withdrawn"),
    );

    // No database yet: the one-line error of every read command, and none is created.
    let empty = tempfile::tempdir().expect("tempdir");
    let config = empty.path().join("mailroom.toml");
    std::fs::write(
        &config,
        "[storage]\ndatabase = 'state/mailroom.sqlite3'\narchive_dir = 'archive'\n",
    )
    .expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("--config")
        .arg(&config)
        .arg("deadlines")
        .env_remove("MAILROOM_CONFIG");
    let o = common::output_within(&mut cmd, Duration::from_secs(60));
    refused(&o, "mailroom.sqlite3");
    assert!(!empty.path().join("state").exists(), "a listing creates nothing");
}

#[test]
fn show_gives_the_reasoning_the_letter_and_the_archived_file() {
    let f = Fixture::new();
    let id = f.id("C-LETTER");
    let v = f.json(&["deadlines", "show", &id.to_string(), "--json"]);
    assert_eq!(v["deadline"]["id"], id);
    assert_eq!(v["letter"]["read"], "one", "{v:#}");
    assert_eq!(v["letter"]["quote"], "within a period of two months");
    let file = PathBuf::from(v["files"][0]["archive_path"].as_str().expect("path"));
    assert_eq!(file, f.dir.path().join("archive/EP21000003/C-LETTER.pdf"));
    assert!(file.is_file(), "{}", file.display());
    assert_eq!(v["files"][0]["path"], "EP21000003/C-LETTER.pdf");

    let text = f.ok(&["deadlines", "show", &id.to_string()]);
    let steps = v["deadline"]["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{v:#}");
    for step in steps {
        assert!(text.contains(step.as_str().expect("step")), "{step} in\n{text}");
    }
    for note in v["deadline"]["notes"].as_array().expect("notes") {
        assert!(text.contains(note.as_str().expect("note")), "{note} in\n{text}");
    }
    for want in [
        format!("deadline {id}: Due "),
        "client reference MR-94".to_owned(),
        "letter:".to_owned(),
        "states 2 months: \"within a period of two months\"".to_owned(),
        "not checked against the EP Register yet".to_owned(),
        "C-LETTER \"Communication from the Examining Division\"".to_owned(),
        file.display().to_string(),
    ] {
        assert!(text.contains(&want), "{want:?} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("state:") && l.ends_with(" open")),
        "{text}"
    );
    let unread = f.ok(&["deadlines", "show", &f.id("C-R161").to_string()]);
    assert!(unread.contains("not read (no text layer)"), "{unread}");
    assert!(unread.contains("Rules 161(1) and 162"), "{unread}");
}

/// Python's `icalendar` (installed by `.ci/run`) reads `ics` back: per VEVENT its UID,
/// summary, start date and the VALARMs' actions and triggers in days.
fn parse_ics(ics: &str) -> Option<Value> {
    let script = "import icalendar, json, sys\n\
        cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())\n\
        print(json.dumps([{'uid': str(e.get('UID')), 'summary': str(e.get('SUMMARY')),\n\
          'start': e.decoded('DTSTART').isoformat(), 'description': str(e.get('DESCRIPTION')),\n\
          'alarms': [[str(a.get('ACTION')), a.decoded('TRIGGER').days, a.decoded('TRIGGER').seconds]\n\
                     for a in e.walk('VALARM')]} for e in cal.walk('VEVENT')]))";
    let probe = Command::new("python3").args(["-c", "import icalendar"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        common::skip_or_fail_on_ci(
            "exports_carry_every_deadline_and_the_calendar_has_alarms",
            "python3 with icalendar is not installed (pip install 'icalendar==6.*')",
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(ics.as_bytes()).expect("write");
    }
    let o = common::wait_within(child, "python3 (icalendar)", Duration::from_secs(60));
    assert!(o.status.success(), "icalendar refused the export: {}", stderr(&o));
    Some(serde_json::from_slice(&o.stdout).expect("events"))
}

#[test]
fn exports_carry_every_deadline_and_the_calendar_has_alarms() {
    let f = Fixture::new();
    let (r63, letter, r71, r161) = (f.id("C-R63"), f.id("C-LETTER"), f.id("C-R71"), f.id("C-R161"));
    f.ok(&["deadlines", "ack", &letter.to_string(), "--by", "alice"]);
    f.ok(&["deadlines", "done", &r71.to_string()]);

    let export = f.json(&["export", "--format", "json"]);
    let rows = &export["deadlines"];
    assert_eq!(ids_of(rows), [r63, letter, r71, r161], "every state: {rows:#}");
    assert_eq!(rows[2]["state"], "done");
    assert_eq!(export["communications"].as_array().map(Vec::len), Some(5));

    let csv = f.ok(&["export", "--format", "csv", "--table", "deadlines"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("header").clone();
    for column in [
        "id",
        "state",
        "due",
        "case",
        "client_reference",
        "basis",
        "source",
        "register",
        "steps",
    ] {
        assert!(header.iter().any(|h| h == column), "{column}: {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(records.len(), 4, "{csv}");
    assert_eq!(&records[0][col("id")], r63.to_string().as_str());
    assert_eq!(&records[0][col("case")], "EP21000001");
    assert_eq!(&records[0][col("client_reference")], "MR-63");
    assert_eq!(&records[1][col("state")], "acknowledged");
    assert_eq!(&records[1][col("acknowledged_by")], "alice");
    assert_eq!(&records[0][col("due")], rows[0]["due"].as_str().expect("due"));
    assert!(records[0][col("steps")].contains(" | "), "{csv}");

    let ics = f.ok(&["export", "--format", "ics"]);
    assert!(!ics.replace("\r\n", "").contains('\n'), "CRLF only");
    let Some(events) = parse_ics(&ics) else {
        return;
    };
    let deadline_events: Vec<&Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["uid"].as_str().is_some_and(|u| u.starts_with("deadline-")))
        .collect();
    let uids: Vec<&str> = deadline_events
        .iter()
        .map(|e| e["uid"].as_str().expect("uid"))
        .collect();
    assert_eq!(
        uids,
        [r63, letter, r161].map(|id| format!("deadline-{id}@mailroom")),
        "one event per open or acknowledged deadline, none for the done one: {events:#}"
    );
    for (e, row) in deadline_events.iter().zip([&rows[0], &rows[1], &rows[3]]) {
        assert_eq!(e["start"], row["due"], "{e:#}");
        // [deadlines] remind_days = [3, 14]: a display alarm 14 and 3 days before the start.
        assert_eq!(
            e["alarms"],
            serde_json::json!([["DISPLAY", -14, 0], ["DISPLAY", -3, 0]]),
            "{e:#}"
        );
        let description = e["description"].as_str().expect("description");
        for want in [
            format!("Basis: {}", row["basis"].as_str().expect("basis")),
            format!("Source: {}", row["source"].as_str().expect("source")),
            "EP Register: unchecked".to_owned(),
            format!("1. {}", row["steps"][0].as_str().expect("step")),
        ] {
            assert!(description.contains(&want), "{want:?} in {description:?}");
        }
    }
    assert_eq!(
        deadline_events[0]["summary"],
        "Deadline: EP21000001 MR-63 – Communication pursuant to Rule 63(1) EPC"
    );
    assert_eq!(
        deadline_events[2]["summary"],
        "Deadline: EP21000004 – Communication pursuant to Rules 161(1) and 162 EPC",
        "no client reference, no gap"
    );
}
