//! `mailroom generate`: the man pages name every subcommand, the bash completion really
//! completes in bash, and nothing is written outside the directory given.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;

fn generate(what: &str, dir: &Path) -> std::process::Output {
    common::output_within(
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .args(["generate", what])
            .arg(dir)
            .env_remove("MAILROOM_CONFIG"),
        Duration::from_secs(60),
    )
}

/// The names of the files in `dir`, which must all be regular files.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert!(e.file_type().unwrap().is_file(), "{:?} is not a file", e.path());
            e.file_name().into_string().unwrap()
        })
        .collect()
}

/// Everything in `dir`, by name.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Every visible subcommand path below the top, as man page names (`mailroom-sync-mailbox`).
fn visible_pages(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{prefix}-{}", sub.get_name());
        visible_pages(sub, &name, out);
        out.insert(name);
    }
}

#[test]
fn man_pages_name_every_subcommand_and_land_only_in_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    let out = generate("man", &dir);
    assert!(out.status.success(), "{}", common::explain(&out));
    assert_eq!(entries(tmp.path()), ["man"], "nothing written beside DIR");

    let cli = mailroom::cli::Cli::command();
    let mut wanted = BTreeSet::from(["mailroom".to_owned()]);
    visible_pages(&cli, "mailroom", &mut wanted);
    let wanted: BTreeSet<String> = wanted.into_iter().map(|n| format!("{n}.1")).collect();
    assert_eq!(files_in(&dir), wanted);

    let top = std::fs::read_to_string(dir.join("mailroom.1")).unwrap();
    assert!(top.starts_with(".ie") || top.contains(".TH mailroom 1"), "{top}");
    let mut visible = 0;
    for sub in cli.get_subcommands() {
        // roff escapes '-' as '\-' in running text.
        let name = sub.get_name().replace('-', "\\-");
        let listed = top.contains(&format!("mailroom\\-{name}(1)"));
        assert_eq!(
            listed,
            !sub.is_hide_set(),
            "mailroom.1 and the subcommand {} (hidden: {})",
            sub.get_name(),
            sub.is_hide_set()
        );
        visible += usize::from(listed);
    }
    assert!(visible >= 14, "{visible} subcommands in mailroom.1");
    let sync = std::fs::read_to_string(dir.join("mailroom-sync.1")).unwrap();
    assert!(sync.contains(".TH mailroom-sync 1"), "{sync}");
    assert!(sync.contains("mailroom\\-sync\\-mailbox(1)"), "{sync}");
}

#[test]
fn bash_completion_completes_the_sync_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("completions");
    let out = generate("completions", &dir);
    assert!(out.status.success(), "{}", common::explain(&out));
    assert_eq!(
        files_in(&dir),
        BTreeSet::from(
            [
                "mailroom",
                "_mailroom",
                "mailroom.fish",
                "_mailroom.ps1",
                "mailroom.elv"
            ]
            .map(String::from)
        )
    );
    assert_eq!(entries(tmp.path()), ["completions"], "nothing written beside DIR");

    // What bash-completion does on `mailroom sync <TAB>`: source the file, call the function
    // `complete -p mailroom` names, with the words typed so far.
    let script = r#"
source "$1"
fn=$(complete -p mailroom | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
COMP_WORDS=(mailroom sync "")
COMP_CWORD=2
COMP_LINE="mailroom sync "
COMP_POINT=${#COMP_LINE}
"$fn" mailroom "" sync
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = common::output_within(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", script, "bash"])
            .arg(dir.join("mailroom")),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", common::explain(&out));
    let words: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for job in ["mailbox", "status"] {
        assert!(words.contains(job), "`mailroom sync <TAB>` offers {words:?}");
    }
    assert!(!words.contains("cases"), "top-level words after sync: {words:?}");
}

#[test]
fn an_unwritable_dir_is_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    // Under a regular file nothing can be created, even as root.
    let out = generate("man", &file.join("man"));
    assert_eq!(out.status.code(), Some(1), "{}", common::explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("mailroom: error: cannot create ") && lines[0].contains("a-file/man"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
