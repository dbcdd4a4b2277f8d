//! `mailroom demo`: the mailbox and case-status jobs against the built-in sandbox, in one
//! directory.
//!
//! Starts the sandbox in-process on 127.0.0.1 (an OS-assigned port; its state kept in
//! `DIR/sandbox/` so a second run sees what the first handled), writes the matching
//! configuration to `DIR/mailroom.toml`, runs one full mailbox cycle into `DIR/archive/` and
//! `DIR/mailroom.sqlite3`, then the status job: the mailbox's EP applications plus the three
//! recorded JP sample cases are refreshed, the sandbox advances one case at the office, and a
//! second status cycle finds that change. It says what happened, and where each case it
//! follows came from (the mailbox, a sandbox sample it added, or added by hand). Nothing is
//! written outside DIR.
//!
//! The sandbox lives only as long as the demo, so `DIR/mailroom.toml` would point at a dead
//! port afterwards. Decision: the file says so in a comment header, with the command that
//! starts the same sandbox (its state, its address) again; the demo prints that command too.
//! Read-only commands (`communications`, `cases list`, `changes`) need no sandbox.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mailroom_sandbox::SandboxOptions;

use chrono::Utc;
use serde_json::json;

use crate::config::{Config, ConfigSource, sandbox_config_toml};
use crate::core::cases::{Kind, parse_case};
use crate::store::cases::{self, NewCase, Source};
use crate::store::{Store, timestamp};
use crate::sync::mailbox::Quiet;
use crate::sync::status::Report as StatusReport;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the demo keeps its configuration, database, archive and sandbox state
    #[arg(long, value_name = "DIR", default_value = "mailroom-demo")]
    dir: PathBuf,
}

/// `wait`: how long to wait for another mailroom working on the same `--dir` (`--wait`).
pub async fn run(args: Args, wait: std::time::Duration) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir).with_context(|| format!("--dir {}", args.dir.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The database lives in DIR, so DIR is the state directory a second demo must not share.
    let _lock = crate::lock::acquire(&dir, wait).await?;
    let opts = SandboxOptions {
        state_dir: Some(dir.join("sandbox")),
        ..SandboxOptions::default()
    };
    let sandbox = mailroom_sandbox::spawn_local(opts)
        .await
        .context("cannot start the sandbox")?;
    let config_path = dir.join("mailroom.toml");
    let restart = restart_command(&dir.join("sandbox"), sandbox.addr());
    let result = async {
        let text = format!(
            "{}{}{DEMO_NOTIFY}",
            dead_sandbox_header(&sandbox.base_url(), &restart, &dir),
            sandbox_config_toml(&sandbox.urls(), &dir, 1.0)
        );
        std::fs::write(&config_path, text)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        // The demo's own file only: the caller's MAILROOM_* variables must not bend it.
        let cfg = Config::load_with_env(&ConfigSource::Named(config_path.clone()), &[])?;
        let report = super::sync::mailbox(&cfg, &Quiet, &crate::signals::Stop::never()).await?;
        let status = status_demo(&cfg, &sandbox.base_url()).await?;
        let mail = mail_demo(&cfg).await?;
        anyhow::Ok((cfg, report, status, mail))
    }
    .await;
    let base = sandbox.base_url();
    sandbox.stop().await.context("stopping the sandbox")?;
    let (cfg, report, (first, advanced, second), mail) = result?;
    let followed = followed_cases(&cfg).await?;
    let families = side_by_side(&cfg).await?;
    let deadlines = deadlines_view(&cfg).await?;

    let mut out =
        format!("mailroom demo — against the built-in sandbox (simulated EPO MyEPO Mailbox at {base})\n\n");
    out.push_str(&super::sync::summary(&report));
    let report = &report.report;
    if report.new == 0 && report.archived.is_empty() {
        out.push_str("\nNothing new since the last run: every communication is archived and handled.\n");
    } else {
        out.push_str("\nArchived (verified copy first, then marked handled at the EPO):\n");
        for (_, path) in &report.archived {
            out.push_str(&format!("  {}\n", path.display()));
        }
    }
    out.push_str("\nCase status (simulated EP Register via OPS, and JPO):\n");
    out.push_str(&super::sync::status_summary(&first));
    out.push_str(&format!(
        "\nThe sandbox now moves {advanced} forward at the office; the next cycle finds:\n"
    ));
    out.push_str(&super::sync::status_summary(&second));
    out.push_str("\nThe cases followed, and where each came from:\n");
    out.push_str(&followed);
    out.push_str(&families);
    out.push_str(&deadlines);
    out.push_str(&mail);
    out.push_str(&format!(
        "\narchive:   {}\ndatabase:  {}\nconfig:    {}\n\nSee what was archived:\n  mailroom --config {} communications\nSee the cases and their changes:\n  mailroom --config {} cases list\n  mailroom --config {} changes\nSee the deadlines, and confirm one once it is in the docket:\n  mailroom --config {} deadlines\n  mailroom --config {} deadlines ack ID --by NAME\n\nThe demo's sandbox has stopped. To sync again with this configuration, start it again:\n  {restart}\n",
        cfg.storage.archive_dir.display(),
        cfg.storage.database.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
    ));
    super::print_stdout(&out)
}

/// The deadlines the demo's communications start, each with its reasoning, and the
/// communications that start none mailroom knows.
async fn deadlines_view(cfg: &Config) -> anyhow::Result<String> {
    let store = Store::open_existing(&cfg.storage.database)?;
    let (rows, without) = store
        .call(|c| {
            let rows = crate::store::deadlines::list(c, &crate::store::deadlines::Filter::default())?;
            let without: i64 = c.query_row(
                "SELECT count(*) FROM communications m WHERE m.state IN ('archived', 'handled')
                 AND NOT EXISTS (SELECT 1 FROM deadlines d WHERE d.communication_id = m.id)",
                [],
                |r| r.get(0),
            )?;
            Ok((rows, without))
        })
        .await?;
    let mut out = String::from(
        "\nDeadlines the communications start (proposals with their reasoning; a person checks each,\ndockets it, and confirms with `mailroom deadlines ack ID`):\n",
    );
    if rows.is_empty() {
        out.push_str("  none\n");
    }
    for r in &rows {
        out.push_str(&format!(
            "  #{} {} · {} · source: {}\n    {}\n",
            r.id,
            r.application_number,
            r.title,
            r.source,
            r.line()
        ));
        for step in &r.steps {
            out.push_str(&format!("      - {step}\n"));
        }
        for note in r.notes.iter().skip(1) {
            out.push_str(&format!("      * {note}\n"));
        }
    }
    if without > 0 {
        out.push_str(&format!(
            "  {without} other communication(s) start no period mailroom knows from the form or the letter: their alerts say so, and a person reads them.\n"
        ));
    }
    Ok(out)
}

/// Who the demo tells what: mail as `.eml` files in `DIR/mail`, no server needed.
const DEMO_NOTIFY: &str = r#"
# Notifications: the demo writes each mail as an .eml file into DIR/mail instead of sending it
# (open one in a mail client). A real configuration names an SMTP server (config.example.toml).
[notify.email]
transport = "file"
file_dir = "mail"
from = "mailroom demo <mailroom@demo.invalid>"
to = ["formalities@demo.invalid"]
admin_to = ["it@demo.invalid"]

[[notify.email.rules]]
client_reference = "MR-JP*"
to = ["jp-team@demo.invalid"]

[notify.digest]
to = ["formalities@demo.invalid"]
"#;

/// Queues today's digest, sends everything the outbox holds (into `DIR/mail`), and says
/// where the mail went.
async fn mail_demo(cfg: &Config) -> anyhow::Result<String> {
    super::notify_cmd::queue_digest(cfg).await?;
    let store = super::sync::open_store(cfg)?;
    let sent = super::sync::drain(cfg).await?;
    let dir = match cfg.notify.email.as_ref().map(|e| &e.transport) {
        Some(crate::config::Transport::File { dir }) => dir.clone(),
        _ => anyhow::bail!("the demo's configuration lost its [notify.email] file transport"),
    };
    let mut out = format!(
        "\nWho was told what: {} mail(s) written to {}\n",
        sent.sent,
        dir.display()
    );
    if let Some(line) = sent.line() {
        out.push_str(&format!("  {line}\n"));
    }
    let firsts = store
        .call(|c| {
            let mut st = c.prepare(
                "SELECT e.kind, min(d.id) FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
                 WHERE d.state = 'sent' AND e.kind IN ('communication', 'change', 'digest') GROUP BY e.kind",
            )?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    let files = eml_by_delivery(&dir);
    for (kind, what) in [
        ("communication", "a new communication, its PDF attached"),
        ("change", "a case that changed"),
        ("digest", "the daily digest"),
    ] {
        let file = firsts
            .iter()
            .find(|(k, _)| k == kind)
            .and_then(|(_, id)| files.get(id));
        if let Some(file) = file {
            out.push_str(&format!("  {what}: {}\n", file.display()));
        }
    }
    out.push_str("  Open one in a mail client to see what the formalities team receives.\n");
    Ok(out)
}

/// The `.eml` files of `dir` by the delivery id in their `X-Mailroom-Delivery` header.
fn eml_by_delivery(dir: &Path) -> std::collections::HashMap<i64, PathBuf> {
    let mut out = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let header_end = text.find("\r\n\r\n").unwrap_or(text.len());
        let id = text[..header_end]
            .lines()
            .find_map(|l| l.strip_prefix("X-Mailroom-Delivery: "))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        if let Some(id) = id {
            out.insert(id, path);
        }
    }
    out
}

/// The comment header of the configuration the demo leaves behind.
fn dead_sandbox_header(base: &str, restart: &str, dir: &Path) -> String {
    format!(
        "# Written by `mailroom demo`. Its sandbox served {base} only while the demo ran: it has\n\
         # stopped, so a job run with this file cannot reach an office until it is started again\n\
         # on the same address with the same state:\n\
         #   {restart}\n\
         # (or run `mailroom demo --dir {}` again, which starts a new one and rewrites this file).\n",
        shell_word(&dir.to_string_lossy())
    )
}

/// The command that serves the demo's sandbox again: its state directory, its address.
fn restart_command(state_dir: &Path, addr: std::net::SocketAddr) -> String {
    format!(
        "mailroom sandbox --state-dir {} --listen {addr}",
        shell_word(&state_dir.to_string_lossy())
    )
}

/// `s` as one POSIX shell word: unchanged when plain, else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | '+' | ','));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Where a case came from, as the demo tells it: the cases it added itself are the sandbox's
/// samples; the others keep their stored source (`mailbox`, or `manual`/`import` for a case
/// someone added to the demo's database).
fn origin_of(case: &cases::CaseRow) -> &str {
    let ours = JP_SAMPLES
        .iter()
        .filter_map(|(number, kind, _)| parse_case(number, None, Some(*kind)).ok())
        .chain(parse_case(ADVANCED, None, None).ok())
        .any(|key| key == case.key());
    if ours { "sandbox sample" } else { &case.source }
}

/// The followed cases as a table: label, reference, where the case came from, current status.
async fn followed_cases(cfg: &Config) -> anyhow::Result<String> {
    let store = Store::open(&cfg.storage.database)?;
    let list = store.call(|c| cases::list(c)).await?;
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|case| {
            [
                case.label(),
                case.client_reference.clone().unwrap_or_else(|| "-".into()),
                origin_of(case).to_owned(),
                case.status_text.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["CASE", "REFERENCE", "SOURCE", "STATUS"].map(String::from);
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    for [case, reference, source, status] in [&header].into_iter().chain(&rows) {
        out.push_str(&format!(
            "  {case:<w0$}  {reference:<w1$}  {source:<w2$}  {status}\n"
        ));
    }
    Ok(out)
}

/// Every EP case with a JP counterpart, its status beside each JP member's: what the status
/// cycle found in the INPADOC families, without a number typed in.
async fn side_by_side(cfg: &Config) -> anyhow::Result<String> {
    let store = Store::open(&cfg.storage.database)?;
    let found = store
        .call(|c| {
            let mut out = Vec::new();
            for case in cases::list(c)? {
                if case.office == crate::core::cases::Office::Ep
                    && let Some(f) = crate::store::family::family_of(c, case.id)?
                    && f.members.iter().any(|m| m.country == "JP")
                {
                    out.push((case, f));
                }
            }
            Ok((out, crate::store::family::pct_rows(c)?))
        })
        .await?;
    let (found, pct) = found;
    let mut out = String::new();
    for p in &pct {
        let found = match (&p.case, &p.reason) {
            (Some(case), _) => format!(
                "its JP national phase {case}, followed; status: {}",
                p.status_text.as_deref().unwrap_or("not checked yet")
            ),
            (None, Some(why)) => format!("not looked up: {why}"),
            (None, None) => "no JP national phase known to the JPO yet".into(),
        };
        out.push_str(&format!(
            "\n{} ({}), found in the mailbox: {found}\n",
            p.number,
            p.client_reference.as_deref().unwrap_or("no reference")
        ));
    }
    for (case, family) in &found {
        let status = case.status_text.as_deref().unwrap_or(if case.not_found {
            "not in the sandbox's Register"
        } else {
            "not checked yet"
        });
        out.push_str(&format!(
            "\n{} ({}), found in the mailbox; EP status: {status}\n",
            case.label(),
            case.client_reference.as_deref().unwrap_or("no reference")
        ));
        out.push_str(&super::cases::family_lines(family));
    }
    if !out.is_empty() {
        out.insert_str(0, "\nEP and PCT cases and their JP counterparts, side by side (found by the status cycle, no number typed in):\n");
    }
    Ok(out)
}

/// The JP cases of `shared/jpo-samples` the sandbox serves as recorded, added by hand:
/// (number, kind, reference). The patent sample (JP 2020-123456) is not among them: it is the
/// JP member of the mailbox's EP23184567 in the sandbox's INPADOC family, so the status cycle
/// finds and follows it without anyone typing its number (issue 11).
const JP_SAMPLES: [(&str, Kind, &str); 2] = [
    ("意願2020-015234", Kind::Design, "MR-JPD-0234"),
    ("商願2024-123456", Kind::Trademark, "MR-JPT-0456"),
];

/// Two status cycles with one office-side advance between them. The case advanced is a
/// sandbox EP case made at "grant intended" on the demo's first run (its number is the first
/// synthetic one, `EP90000001`), so the change shown is a status change.
async fn status_demo(cfg: &Config, base: &str) -> anyhow::Result<(StatusReport, String, StatusReport)> {
    let http = reqwest::Client::new();
    let known: serde_json::Value = http
        .get(format!("{base}/_sandbox/ops/cases"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("sandbox /_sandbox/ops/cases")?
        .json()
        .await
        .context("sandbox /_sandbox/ops/cases")?;
    if !known.to_string().contains(ADVANCED) {
        scenario(
            &http,
            base,
            "/_sandbox/ops/cases",
            json!({"count": 1, "status": "12"}),
        )
        .await?;
    }
    let store = Store::open(&cfg.storage.database)?;
    let now = timestamp(Utc::now());
    store
        .write(move |tx| {
            for (number, kind, reference) in JP_SAMPLES {
                if let Ok(key) = parse_case(number, None, Some(kind)) {
                    cases::add(
                        tx,
                        &NewCase::new(&key, number, Some(reference), Source::Manual),
                        true,
                        &now,
                    )?;
                }
            }
            if let Ok(key) = parse_case(ADVANCED, None, None) {
                cases::add(
                    tx,
                    &NewCase::new(&key, ADVANCED, Some("MR-DEMO-EP"), Source::Manual),
                    true,
                    &now,
                )?;
            }
            Ok(())
        })
        .await?;
    drop(store);
    let first = super::sync::status(cfg, None, &Quiet, Utc::now()).await?;
    scenario(
        &http,
        base,
        &format!("/_sandbox/cases/ep/{ADVANCED}/advance"),
        json!({}),
    )
    .await?;
    let second = super::sync::status(cfg, None, &Quiet, Utc::now()).await?;
    Ok((first, ADVANCED.to_owned(), second))
}

/// A POST to the sandbox's scenario API.
async fn scenario(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    http.post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("sandbox {path}"))?;
    Ok(())
}

/// The sandbox case the demo moves forward.
const ADVANCED: &str = "EP90000001";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_commands_quote_only_what_needs_it() {
        let addr: std::net::SocketAddr = "127.0.0.1:4567".parse().unwrap();
        let table = [
            (
                "/tmp/demo/sandbox",
                "mailroom sandbox --state-dir /tmp/demo/sandbox --listen 127.0.0.1:4567",
            ),
            (
                "/home/a b/sandbox",
                "mailroom sandbox --state-dir '/home/a b/sandbox' --listen 127.0.0.1:4567",
            ),
            (
                "/it's/sandbox",
                r"mailroom sandbox --state-dir '/it'\''s/sandbox' --listen 127.0.0.1:4567",
            ),
        ];
        for (dir, expected) in table {
            assert_eq!(restart_command(Path::new(dir), addr), expected);
        }
    }
}
