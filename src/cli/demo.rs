//! `mailroom demo`: the mailbox and case-status jobs against the built-in sandbox, in one
//! directory.
//!
//! Starts the sandbox in-process on 127.0.0.1 (an OS-assigned port; its state kept in
//! `DIR/sandbox/` so a second run sees what the first handled), writes the matching
//! configuration to `DIR/mailroom.toml`, runs one full mailbox cycle into `DIR/archive/` and
//! `DIR/mailroom.sqlite3`, then the status job: the mailbox's EP applications plus the three
//! recorded JP sample cases are refreshed, the sandbox advances one case at the office, and a
//! second status cycle finds that change. It says what happened. Nothing is written outside DIR.

use std::path::PathBuf;

use anyhow::Context;
use mailroom_sandbox::SandboxOptions;

use chrono::Utc;
use serde_json::json;

use crate::config::{Config, ConfigSource, sandbox_config_toml};
use crate::core::cases::{Kind, parse_case};
use crate::store::cases::{self, Source};
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
    let result = async {
        std::fs::write(&config_path, sandbox_config_toml(&sandbox.urls(), &dir, 1.0))
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        // The demo's own file only: the caller's MAILROOM_* variables must not bend it.
        let cfg = Config::load_with_env(&ConfigSource::Named(config_path.clone()), &[])?;
        let report = super::sync::mailbox(&cfg, &Quiet, &crate::signals::Stop::never()).await?;
        let status = status_demo(&cfg, &sandbox.base_url()).await?;
        anyhow::Ok((cfg, report, status))
    }
    .await;
    let base = sandbox.base_url();
    sandbox.stop().await.context("stopping the sandbox")?;
    let (cfg, report, (first, advanced, second)) = result?;

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
    out.push_str(&format!(
        "\narchive:   {}\ndatabase:  {}\nconfig:    {}\n\nSee what was archived:\n  mailroom --config {} communications\nSee the cases and their changes:\n  mailroom --config {} cases list\n  mailroom --config {} changes\n",
        cfg.storage.archive_dir.display(),
        cfg.storage.database.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
        config_path.display(),
    ));
    super::print_stdout(&out)
}

/// The JP cases of `shared/jpo-samples` the sandbox serves as recorded: (number, kind, reference).
const JP_SAMPLES: [(&str, Kind, &str); 3] = [
    ("特願2020-123456", Kind::Patent, "MR-JP-0456"),
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
                    cases::add(tx, &key, number, Some(reference), Source::Manual, &now)?;
                }
            }
            if let Ok(key) = parse_case(ADVANCED, None, None) {
                cases::add(tx, &key, ADVANCED, Some("MR-DEMO-EP"), Source::Manual, &now)?;
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
