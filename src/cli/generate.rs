//! `mailroom generate man DIR` and `mailroom generate completions DIR` (hidden): the manual
//! pages and shell completions the packages ship, rendered from the clap definitions the
//! binary parses with, so they cannot drift from the real command line.
//!
//! The packaging scripts run it at build time (`packaging/build.sh`); nobody needs it on an
//! installed system, hence hidden (and so absent from the man pages and `--help`). It writes
//! only files directly inside DIR, which it creates when missing, and needs no configuration.
//!
//! File names are the ones each consumer looks up: `mailroom.1` and `mailroom-<sub>[-<sub>].1`
//! (clap_mangen's names, one page per visible subcommand at every level); `mailroom` for bash
//! (bash-completion loads `completions/<command>`; older releases, RHEL 8's among them, know
//! no `.bash` suffix), `_mailroom` for zsh, `mailroom.fish`, `_mailroom.ps1`, `mailroom.elv`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{CommandFactory, ValueEnum};
use clap_complete::{Generator, Shell};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write mailroom.1 and one page per subcommand (mailroom-sync.1, …) into DIR
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write the bash, zsh, fish, PowerShell and elvish completions into DIR
    Completions {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

const BIN: &str = "mailroom";

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let (dir, files) = match cmd {
        Command::Man { dir } => {
            let files = man_pages().context("cannot render the man pages")?;
            (dir, files)
        }
        Command::Completions { dir } => (dir, completions()),
    };
    let written = write_all(&dir, &files)?;
    super::print_stdout(&format!("{written} files written to {}\n", dir.display()))
}

/// Every page: the top-level one and one per visible subcommand, depth first.
fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut page = Vec::new();
        man.render(&mut page)?;
        out.push((man.get_filename(), page));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    // `build` gives each subcommand its display name (`mailroom-sync`), which names its page;
    // `help` is clap's own subcommand, not one of ours, and needs no page.
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out)?;
    Ok(out)
}

/// One completion script per shell clap_complete knows.
fn completions() -> Vec<(String, Vec<u8>)> {
    Shell::value_variants()
        .iter()
        .map(|&shell| {
            let mut cmd = super::Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, BIN, &mut script);
            let name = match shell {
                Shell::Bash => BIN.to_owned(),
                other => other.file_name(BIN),
            };
            (name, script)
        })
        .collect()
}

/// Writes each `(name, bytes)` as `dir/name`; returns how many.
fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.len())
}
