//! `mailroom desktop` against a real D-Bus notification server: a private `dbus-daemon`
//! (a session bus with no service files, so nothing is ever activated behind the test's back)
//! and python-dbusmock's `notification_daemon` template, whose log records every `Notify`
//! call. The database is made by the binary itself (a sandbox mailbox sync, a status change).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, explain, ok, output_within, skip_or_fail_on_ci, stderr, stdout};
use serde_json::json;

const PYTHON: &str = "/usr/bin/python3";

/// Whether the OS packages this test needs are here; skips (or fails on CI) otherwise.
fn prerequisites(test: &str) -> bool {
    let has = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // dbus-send has no --version: that it starts at all is the check.
    let starts = |cmd: &mut Command| cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !has(Command::new("dbus-daemon").arg("--version")) || !starts(&mut Command::new("dbus-send")) {
        skip_or_fail_on_ci(test, "dbus-daemon/dbus-send not installed (Debian package dbus)");
        return false;
    }
    if !has(Command::new(PYTHON).args(["-c", "import dbusmock"])) {
        skip_or_fail_on_ci(
            test,
            "python-dbusmock not installed (Debian package python3-dbusmock)",
        );
        return false;
    }
    true
}

/// A child killed and reaped when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private session bus.
struct Bus {
    address: String,
    _daemon: Killed,
}

impl Bus {
    fn start(dir: &Path) -> Bus {
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dbus-daemon");
        let stdout = child.stdout.take().unwrap();
        let daemon = Killed(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let address = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("dbus-daemon prints its address within 10 s")
            .trim()
            .to_owned();
        assert!(address.starts_with("unix:"), "{address:?}");
        Bus {
            address,
            _daemon: daemon,
        }
    }

    fn owned(&self, name: &str) -> bool {
        let out = output_within(
            Command::new("dbus-send")
                .arg(format!("--bus={}", self.address))
                .args([
                    "--dest=org.freedesktop.DBus",
                    "--type=method_call",
                    "--print-reply",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                ])
                .arg(format!("string:{name}")),
            Duration::from_secs(10),
        );
        stdout(&out).contains("boolean true")
    }
}

/// dbusmock's notification daemon on `bus`, logging each call to `log`.
fn notification_server(bus: &Bus, log: &Path) -> Killed {
    let child = Killed(
        Command::new(PYTHON)
            .args(["-m", "dbusmock", "--template", "notification_daemon", "-l"])
            .arg(log)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dbusmock"),
    );
    // Bounded: 200 × 50 ms.
    for _ in 0..200 {
        if bus.owned("org.freedesktop.Notifications") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("dbusmock did not own org.freedesktop.Notifications within 10 s");
}

/// The `Notify` calls dbusmock logged. Each call starts a line with its time
/// (`1796116534.789 Notify "mailroom" 0 "" "summary" "body…`); a body's later lines follow it.
fn notify_calls(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut calls: Vec<String> = Vec::new();
    let mut in_notify = false;
    for line in text.lines() {
        let starts_call = line
            .split_once(' ')
            .is_some_and(|(t, _)| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if starts_call {
            in_notify = line.contains(" Notify ");
            if in_notify {
                calls.push(line.to_owned());
            }
        } else if in_notify && let Some(last) = calls.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    calls
}

async fn desktop(env: &Env, bus_address: &str, cursor: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["desktop", "--once", "--cursor", cursor.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.run(env.mailroom_env(&args, &[("DBUS_SESSION_BUS_ADDRESS", bus_address)]))
        .await
}

/// The headlines of the events in the database, oldest first.
fn headlines(env: &Env) -> Vec<(String, String)> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT kind, payload_json FROM notify_events ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (kind, json) = r.unwrap();
            let event: mailroom::core::notify::Event = serde_json::from_str(&json).unwrap();
            (kind, mailroom::notify::render::headline(&event))
        })
        .collect()
}

/// A database with a communication and a case change, made through the binary.
async fn history(env: &Env) {
    env.create(1, 2000).await;
    ok(env, &["sync", "mailbox"]).await;
    ok(env, &["cases", "add", "EP 10 167 109.4", "--ref", "MR-0812-EP"]).await;
    ok(env, &["sync", "status"]).await;
    env.post("/_sandbox/cases/ep/EP10167109/advance", json!({})).await;
    ok(env, &["sync", "status"]).await;
}

fn cursor_at(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[tokio::test]
async fn each_event_is_shown_once_across_restarts_and_a_missing_server_loses_nothing() {
    if !prerequisites("each_event_is_shown_once_across_restarts_and_a_missing_server_loses_nothing") {
        return;
    }
    let env = Env::empty().await;
    history(&env).await;
    let events = headlines(&env);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["communication", "change"], "{events:#?}");

    let dir = env.dir.path();
    let bus = Bus::start(dir);
    let log = dir.join("notify.log");
    let server = notification_server(&bus, &log);
    let cursor: PathBuf = dir.join("state/desktop.cursor");

    // First start, from the start: both shown, in order, as mailroom, with the headline.
    let out = desktop(&env, &bus.address, &cursor, &["--from-start"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(stdout(&out).contains("desktop: 2 shown"), "{}", explain(&out));
    let calls = notify_calls(&log);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    for (call, (_, headline)) in calls.iter().zip(&events) {
        assert!(call.contains("\"mailroom\""), "{call}");
        assert!(call.contains(headline.as_str()), "{call}\nwants {headline}");
    }
    let archive = env.archive_dir();
    assert!(
        calls[0].contains(&archive.display().to_string()) && calls[0].contains(".pdf"),
        "a communication names its PDF's full path: {}",
        calls[0]
    );
    assert!(
        calls[1].contains("MR-0812-EP"),
        "the change names its reference: {}",
        calls[1]
    );

    // A restart shows nothing again.
    let out = desktop(&env, &bus.address, &cursor, &["--from-start"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(stdout(&out).contains("desktop: 0 shown"), "{}", explain(&out));
    assert_eq!(notify_calls(&log).len(), 2);

    // A new event: only it is shown.
    env.create(1, 2000).await;
    ok(&env, &["sync", "mailbox"]).await;
    let events = headlines(&env);
    assert_eq!(events.len(), 3);
    let out = desktop(&env, &bus.address, &cursor, &[]).await;
    assert!(out.status.success(), "{}", explain(&out));
    let calls = notify_calls(&log);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(calls[2].contains(events[2].1.as_str()), "{}", calls[2]);

    // No notification server: one clear line however many wait, exit 3, cursor kept.
    drop(server);
    env.create(2, 2000).await;
    ok(&env, &["sync", "mailbox"]).await;
    let before = cursor_at(&cursor);
    for address in [bus.address.as_str(), "unix:path=/nonexistent/mailroom-test-bus"] {
        let out = desktop(&env, address, &cursor, &[]).await;
        assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
        let err = stderr(&out);
        assert_eq!(
            err.matches("no desktop notification server answered").count(),
            2,
            "one log line and the error line: {err}"
        );
        assert!(err.contains("2 notification(s) waiting"), "{err}");
        assert_eq!(cursor_at(&cursor), before, "nothing waiting was skipped");
    }

    // The long-running follower keeps waiting, shows them once the server is back, and
    // stops cleanly on SIGTERM.
    let follower = env.spawn(env.mailroom_env(
        &["desktop", "--interval", "1", "--cursor", cursor.to_str().unwrap()],
        &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)],
    ));
    let log2 = dir.join("notify2.log");
    let _server = notification_server(&bus, &log2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while notify_calls(&log2).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the follower did not show the waiting two within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill has no memory preconditions; the pid is our own child's.
    unsafe { libc::kill(follower.id() as i32, libc::SIGTERM) };
    let out = env.finish(follower).await;
    assert!(out.status.success(), "SIGTERM is a clean stop: {}", explain(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("no desktop notification server answered").count(),
        1,
        "the outage is logged once, not per round: {err}"
    );
    assert!(
        err.contains("answers again") && err.contains("stopped by SIGTERM"),
        "{err}"
    );
    let events = headlines(&env);
    let calls = notify_calls(&log2);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls[0].contains(events[3].1.as_str()) && calls[1].contains(events[4].1.as_str()));
}

#[tokio::test]
async fn a_first_start_begins_after_the_newest_event_unless_asked_for_the_history() {
    if !prerequisites("a_first_start_begins_after_the_newest_event_unless_asked_for_the_history") {
        return;
    }
    let env = Env::empty().await;
    env.create(2, 2000).await;
    ok(&env, &["sync", "mailbox"]).await;
    let dir = env.dir.path();
    let bus = Bus::start(dir);
    let log = dir.join("notify.log");
    let _server = notification_server(&bus, &log);
    let cursor = dir.join("desktop.cursor");
    let out = desktop(&env, &bus.address, &cursor, &[]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(
        notify_calls(&log).is_empty(),
        "no flood of history on a first start"
    );
    assert_eq!(cursor_at(&cursor), "2");
    std::fs::write(&cursor, "not a number\n").unwrap();
    let out = desktop(&env, &bus.address, &cursor, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert!(stderr(&out).contains("not an event id"), "{}", explain(&out));
}
