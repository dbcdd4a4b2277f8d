//! `mailroom demo`: the whole mailbox job against the built-in sandbox, in one directory.
//!
//! Starts the sandbox in-process on 127.0.0.1 (an OS-assigned port; its state kept in
//! `DIR/sandbox/` so a second run sees what the first handled), writes the matching
//! configuration to `DIR/mailroom.toml`, runs one full mailbox cycle into `DIR/archive/` and
//! `DIR/mailroom.sqlite3`, and says what happened. Nothing is written outside DIR.

use std::path::PathBuf;

use anyhow::Context;
use mailroom_sandbox::SandboxOptions;

use crate::config::{Config, ConfigSource, sandbox_config_toml};
use crate::sync::mailbox::Quiet;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the demo keeps its configuration, database, archive and sandbox state
    #[arg(long, value_name = "DIR", default_value = "mailroom-demo")]
    dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir).with_context(|| format!("--dir {}", args.dir.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let opts = SandboxOptions {
        state_dir: Some(dir.join("sandbox")),
        ..SandboxOptions::default()
    };
    let sandbox = mailroom_sandbox::spawn_local(opts)
        .await
        .context("cannot start the sandbox")?;
    let config_path = dir.join("mailroom.toml");
    let result = async {
        std::fs::write(&config_path, sandbox_config_toml(&sandbox.urls(), &dir))
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        // The demo's own file only: the caller's MAILROOM_* variables must not bend it.
        let cfg = Config::load_with_env(&ConfigSource::Named(config_path.clone()), &[])?;
        let report = super::sync::mailbox(&cfg, &Quiet).await?;
        anyhow::Ok((cfg, report))
    }
    .await;
    let base = sandbox.base_url();
    sandbox.stop().await.context("stopping the sandbox")?;
    let (cfg, report) = result?;

    let mut out =
        format!("mailroom demo — against the built-in sandbox (simulated EPO MyEPO Mailbox at {base})\n\n");
    out.push_str(&super::sync::summary(&report));
    if report.new == 0 && report.archived.is_empty() {
        out.push_str("\nNothing new since the last run: every communication is archived and handled.\n");
    } else {
        out.push_str("\nArchived (verified copy first, then marked handled at the EPO):\n");
        for (_, path) in &report.archived {
            out.push_str(&format!("  {}\n", path.display()));
        }
    }
    out.push_str(&format!(
        "\narchive:   {}\ndatabase:  {}\nconfig:    {}\n\nSee what was archived:\n  mailroom --config {} communications\n",
        cfg.storage.archive_dir.display(),
        cfg.storage.database.display(),
        config_path.display(),
        config_path.display(),
    ));
    super::print_stdout(&out)
}
