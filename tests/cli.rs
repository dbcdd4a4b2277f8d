//! The `mailroom` binary as a user runs it: exit statuses, one-line errors, the sandbox command.
//! Every run of the binary has a deadline (`common::output_within`) after which it is killed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn mailroom() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    c.env_remove("MAILROOM_CONFIG")
        .env_remove("MAILROOM_LOG")
        .env_remove("RUST_LOG");
    c
}

/// Runs the binary to completion; killed, failing the test, after 60 s (the demo, the
/// longest, takes a few seconds).
fn run(cmd: &mut Command) -> Output {
    common::output_within(cmd, Duration::from_secs(60))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Kills the child when the test ends, whatever happens.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn config_errors_exit_78_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[myepo]\nclient_secrt = 'x'\n").unwrap();
    let o = run(mailroom().arg("--config").arg(&file).arg("config"));
    assert_eq!(o.status.code(), Some(78), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mailroom: error: myepo.client_secrt: unknown field"),
        "{err}"
    );

    let o = run(mailroom()
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .arg("config"));
    assert_eq!(o.status.code(), Some(78));
    assert!(stderr(&o).contains("missing.toml does not exist"));
}

#[test]
fn config_command_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[ops]\nconsumer_key = 'k'\nconsumer_secret = 'very-secret-value'\n",
    )
    .unwrap();
    let o = run(mailroom().env("MAILROOM_CONFIG", &file).arg("config"));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("consumer_secret = \"[redacted]\""), "{out}");
    assert!(!out.contains("very-secret-value") && !stderr(&o).contains("very-secret-value"));
}

#[test]
fn sandbox_refuses_a_non_loopback_address() {
    let o = run(mailroom().args(["sandbox", "--listen", "0.0.0.0:0"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a loopback address"), "{}", stderr(&o));
}

#[test]
fn sandbox_prints_a_config_that_mailroom_loads_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let child = mailroom()
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--print-config",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox");
    let mut child = Reaper(child);
    let stdout = child.0.stdout.take().expect("stdout");
    // Read the printed config on a thread so the wait is bounded.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.starts_with("password");
            text.push_str(&line);
            text.push('\n');
            if last {
                break;
            }
        }
        let _ = tx.send(text);
    });
    let text = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("config printed within 30 s");
    let printed: toml::Table = toml::from_str(&text).expect("printed config is TOML");
    let base_url = printed["ops"]["base_url"]
        .as_str()
        .unwrap()
        .trim_end_matches("/ops/3.2")
        .to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    assert_eq!(
        printed["storage"]["database"].as_str().unwrap(),
        dir.path().join("data/mailroom.sqlite3").to_str().unwrap()
    );

    let file = dir.path().join("sandbox.toml");
    std::fs::write(&file, &text).unwrap();
    let o = run(mailroom().arg("--config").arg(&file).arg("config"));
    assert!(
        o.status.success(),
        "mailroom rejected the printed config: {}",
        stderr(&o)
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("{base_url}/_sandbox/stats"))
            .await
            .map(|r| r.status())
    });
    assert_eq!(status.expect("sandbox answers"), reqwest::StatusCode::OK);
}

#[test]
fn demo_runs_twice_in_a_row_and_writes_only_inside_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let first = run(mailroom().current_dir(dir.path()).args(["demo", "--dir", "demo"]));
    assert!(first.status.success(), "{}", stderr(&first));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        out.contains("12 unhandled at the EPO (12 new), 12 archived, 12 marked handled"),
        "{out}"
    );
    assert_eq!(
        out.matches(".pdf\n").count(),
        12,
        "the demo lists what it archived: {out}"
    );
    assert!(out.contains(&demo.join("archive").display().to_string()), "{out}");
    assert!(out.contains("3 EP and 4 JP case(s) refreshed"), "{out}");
    assert!(
        out.contains("now following JP 2020-123456, the JP counterpart of EP23184567")
            && out.contains("now following JP 2026-500123, the JP counterpart of PCT/EP2024/071234"),
        "the demo finds the JP counterparts without a number typed in: {out}"
    );
    assert!(
        out.contains("    JP  JP 2020-123456   followed; status: Registered as 7533889"),
        "EP and JP side by side: {out}"
    );
    assert!(
        out.contains(
            r#"CHANGE EP90000001: status "Grant of patent is intended" → "The patent has been granted""#
        ),
        "the demo shows the change it detected: {out}"
    );

    let second = run(mailroom().current_dir(dir.path()).args(["demo", "--dir", "demo"]));
    assert!(second.status.success(), "{}", stderr(&second));
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        out.contains("0 unhandled at the EPO (0 new), 0 archived"),
        "{out}"
    );
    assert!(out.contains("Nothing new since the last run"), "{out}");
    assert_eq!(
        out.matches("CHANGE ").count(),
        1,
        "one advance, one change: {out}"
    );
    assert!(
        out.contains(r#"CHANGE EP90000001: status "The patent has been granted" → "No opposition filed"#),
        "{out}"
    );

    let top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        top,
        vec![std::ffi::OsString::from("demo")],
        "the demo wrote outside its directory"
    );
}
