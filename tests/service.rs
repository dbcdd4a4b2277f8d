//! `mailroom service` exists on every platform (so `--help` is the same everywhere); off Windows
//! every subcommand says it is Windows-only and exits 2, and the SCM's entry point `run` stays
//! out of the help.

use std::process::Command;

fn mailroom(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(args)
        .env_remove("MAILROOM_CONFIG")
        .output()
        .expect("mailroom runs")
}

#[test]
fn the_help_lists_what_people_run_and_hides_the_entry_point() {
    let out = mailroom(&["service", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["install", "uninstall", "start", "stop"] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing:\n{help}"
        );
    }
    assert!(
        !help.contains("  run "),
        "the SCM's entry point is hidden:\n{help}"
    );
    let install = mailroom(&["service", "install", "--help"]);
    assert!(String::from_utf8_lossy(&install.stdout).contains("--account <NAME>"));
}

#[cfg(not(windows))]
#[test]
fn off_windows_every_subcommand_is_refused_with_status_2() {
    for args in [
        &["service", "install"][..],
        &["service", "install", "--account", "NetworkService"],
        &["service", "uninstall"],
        &["service", "start"],
        &["service", "stop"],
        &["service", "run"],
    ] {
        let out = mailroom(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!(
                "mailroom: error: `mailroom {}` manages a Windows service",
                args[..2].join(" ")
            )),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
