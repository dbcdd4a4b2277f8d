//! The systemd units agree with what the binary reads and does: the credentials it looks for,
//! the subcommands it knows, where it keeps its state, the exit status that means "do not
//! restart". No systemd is needed, except for the security analysis (skipped without it).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use mailroom::config::{Config, ConfigError, ConfigSource, Origin};

/// A unit file: `(section, key, value)` in file order (a key may repeat).
struct Unit(Vec<(String, String, String)>);

impl Unit {
    fn read(name: &str) -> Unit {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut section = String::new();
        let mut entries = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            assert!(
                !line.ends_with('\\'),
                "{name}: no continuation lines, please: {line}"
            );
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_owned();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}: not key=value: {line}"));
            entries.push((section.clone(), key.trim().to_owned(), value.trim().to_owned()));
        }
        Unit(entries)
    }

    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The one value of `key` (panics when it is missing or repeated).
    fn one(&self, section: &str, key: &str) -> &str {
        match self.all(section, key).as_slice() {
            [v] => v,
            other => panic!("[{section}] {key}: expected one value, found {other:?}"),
        }
    }
}

/// Every credential the configuration reads from `$CREDENTIALS_DIRECTORY`, found by asking
/// the loader: a configuration with every section that has a secret, and no secret in it,
/// is loaded again and again, each time with a file for the credential the last error named,
/// until it loads. The names are then the loader's, not a list copied from its source.
fn credentials_the_config_reads() -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        r#"
[myepo]
token_url = "http://127.0.0.1:1/token"
api_base_url = "http://127.0.0.1:1/myepo"
client_id = "id"

[ops]
consumer_key = "key"

[jpo]
username = "user"

[notify.email]
host = "127.0.0.1"
tls = "none"
username = "mailroom"
from = "mailroom@firm.example"
to = ["formalities@firm.example"]
"#,
    )
    .unwrap();
    let env = vec![("CREDENTIALS_DIRECTORY".to_owned(), creds.display().to_string())];
    let mut found: BTreeSet<String> = BTreeSet::new();
    for _ in 0..20 {
        match Config::load_with_env(&ConfigSource::Named(file.clone()), &env) {
            Ok(cfg) => {
                for name in &found {
                    assert_eq!(
                        *cfg.origins.of(name),
                        Origin::Credential(creds.join(name)),
                        "{name} was not read from the credential"
                    );
                }
                return found;
            }
            Err(ConfigError::MissingSecret { cred, .. }) => {
                assert!(found.insert(cred.clone()), "{cred} asked for twice");
                std::fs::write(creds.join(&cred), "value\n").unwrap();
            }
            Err(e) => panic!("unexpected configuration error: {e}"),
        }
    }
    panic!("the configuration still wants credentials after 20: {found:?}");
}

#[test]
fn load_credential_names_are_exactly_the_secrets_the_config_reads() {
    let unit = Unit::read("mailroom.service");
    let wanted = credentials_the_config_reads();
    assert!(wanted.len() >= 4, "{wanted:?}");
    let mut listed = BTreeSet::new();
    for entry in unit.all("Service", "LoadCredential") {
        let (id, source) = entry
            .split_once(':')
            .unwrap_or_else(|| panic!("LoadCredential={entry}: no source"));
        assert!(listed.insert(id.to_owned()), "{id} listed twice");
        // A relative source is looked up in systemd's credential stores and skipped when
        // missing; an absolute one that is missing would fail the start of a firm that does
        // not use that office.
        assert_eq!(source, format!("mailroom.{id}"), "LoadCredential={entry}");
    }
    assert_eq!(
        listed, wanted,
        "the unit's LoadCredential= ids against the config's credential names"
    );
}

#[test]
fn exec_start_is_a_command_the_binary_knows() {
    for (unit, command) in [
        ("mailroom.service", "run"),
        ("mailroom-desktop.service", "desktop"),
    ] {
        let unit = Unit::read(unit);
        let exec = unit.one("Service", "ExecStart");
        let args: Vec<&str> = exec.split_whitespace().collect();
        assert_eq!(args[0], "/usr/bin/mailroom", "{exec}");
        let matches = mailroom::cli::Cli::command()
            .try_get_matches_from(&args)
            .unwrap_or_else(|e| panic!("ExecStart={exec}: {e}"));
        assert_eq!(matches.subcommand_name(), Some(command), "{exec}");
        // The configuration named is the one ConfigurationDirectory= (or the package) makes.
        let config = args.iter().skip_while(|a| **a != "--config").nth(1).copied();
        assert_eq!(
            config.map(PathBuf::from),
            Some(mailroom::config::default_config_path()),
            "{exec}"
        );
    }
    let service = Unit::read("mailroom.service");
    let config_dir = service.one("Service", "ConfigurationDirectory");
    assert_eq!(
        mailroom::config::default_config_path().parent(),
        Some(Path::new("/etc").join(config_dir).as_path())
    );
    let entry = Unit::read("mailroom-desktop.desktop");
    let exec = entry.one("Desktop Entry", "Exec");
    let matches = mailroom::cli::Cli::command()
        .try_get_matches_from(exec.split_whitespace())
        .unwrap_or_else(|e| panic!("Exec={exec}: {e}"));
    assert_eq!(matches.subcommand_name(), Some("desktop"), "{exec}");
    assert_eq!(entry.one("Desktop Entry", "X-GNOME-Autostart-enabled"), "true");
}

#[test]
fn state_directory_is_where_the_database_and_archive_live_by_default() {
    let unit = Unit::read("mailroom.service");
    let state = Path::new("/var/lib").join(unit.one("Service", "StateDirectory"));
    assert_eq!(mailroom::config::default_state_dir(), state);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "").unwrap();
    let cfg = Config::load_with_env(&ConfigSource::Named(file), &[]).unwrap();
    assert_eq!(cfg.storage.database.parent(), Some(state.as_path()));
    assert!(
        cfg.storage.archive_dir.starts_with(&state),
        "{}",
        cfg.storage.archive_dir.display()
    );
    // The log directory the example suggests is the one LogsDirectory= makes writable.
    let logs = Path::new("/var/log").join(unit.one("Service", "LogsDirectory"));
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")).unwrap();
    assert!(
        example.contains(&format!("# dir = {:?}", logs.display().to_string())),
        "config.example.toml's [log] dir is not {}",
        logs.display()
    );
}

#[test]
fn the_service_is_a_notify_daemon_that_is_not_restarted_on_a_config_error() {
    let unit = Unit::read("mailroom.service");
    assert_eq!(unit.one("Service", "Type"), "notify");
    assert_eq!(unit.one("Service", "NotifyAccess"), "main");
    assert_eq!(unit.one("Service", "Restart"), "on-failure");
    assert_eq!(unit.one("Service", "RestartPreventExitStatus"), "78");
    let watchdog: u64 = unit.one("Service", "WatchdogSec").parse().unwrap();
    assert!((30..=600).contains(&watchdog), "WatchdogSec={watchdog}");
    // The daemon stops within 30 s of SIGTERM; systemd must not SIGKILL it first.
    let stop: u64 = unit.one("Service", "TimeoutStopSec").parse().unwrap();
    assert!(stop > 30, "TimeoutStopSec={stop}");
    assert_eq!(unit.one("Install", "WantedBy"), "multi-user.target");

    let desktop = Unit::read("mailroom-desktop.service");
    assert_eq!(desktop.one("Service", "RestartPreventExitStatus"), "78");
    assert_eq!(desktop.one("Install", "WantedBy"), "graphical-session.target");
}

#[test]
fn the_service_exposure_is_at_most_1_5() {
    let test = "the_service_exposure_is_at_most_1_5";
    let probe = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--help"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        common::skip_or_fail_on_ci(
            test,
            "no systemd-analyze with --offline (apt-get install systemd)",
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/check-security.sh");
    let out = common::output_within(&mut Command::new(&script), Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Overall exposure level for mailroom.service"),
        "{text}"
    );
    assert!(text.contains("<= 1.5: ok"), "{text}");
}
