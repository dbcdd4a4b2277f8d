//! `mailroom run` as a subprocess against the sandbox: READY=1 and watchdog pings on a
//! `NOTIFY_SOCKET` the test binds, polls on its schedule (archived, alerts written), a missed
//! nightly job run at start, the lock refusing a manual sync, SIGHUP with a broken
//! configuration keeping the old one, and SIGTERM — also during a download — ending in exit 0
//! within the stop bound with the archive's promise kept.

#![cfg(unix)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Env, explain, stderr};
use serde_json::json;

/// Every 2 s for the mailbox; the status cycle at 03:00 (so it runs at start only because it
/// never ran: the catch-up); no jitter; mail as files.
const DAEMON: &str = r#"
[schedule]
time_zone = "Europe/Berlin"
mailbox = "*/2 * * * * *"
status = "0 0 3 * * *"
export = "*/3 * * * * *"
jitter_secs = 0
stop_timeout_secs = 10

[export]
dir = "data/export"

[notify.email]
transport = "file"
file_dir = "data/mail"
from = "mailroom <mailroom@firm.example>"
to = ["formalities@firm.example"]
"#;

fn configure(env: &Env, extra: &str) {
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str(extra);
    std::fs::write(env.config_path(), text).expect("config");
}

/// The datagrams the daemon sends, received on a socket the test binds and read all the time
/// by a thread (a socket nobody reads fills up; the daemon then drops its messages).
struct NotifySocket {
    path: std::path::PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(env: &Env) -> NotifySocket {
        let path = env.dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::downgrade(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test drops its `NotifySocket`.
            while let Some(seen) = sink.upgrade() {
                if let Ok(n) = socket.recv(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    seen.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((Instant::now(), msg));
                }
            }
        });
        NotifySocket { path, seen }
    }

    fn messages(&self) -> Vec<(Instant, String)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits (bounded) until a message with the line `want` has arrived.
    fn wait_for(&self, want: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.messages().iter().any(|(_, m)| m.lines().any(|l| l == want)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// How many messages with the line `line` arrive within the next `window`.
    fn count_within(&self, line: &str, window: Duration) -> usize {
        let start = Instant::now();
        std::thread::sleep(window);
        self.messages()
            .iter()
            .filter(|(at, m)| *at >= start && m.lines().any(|l| l == line))
            .count()
    }
}

/// The daemon, its log going to `daemon.log` in the test's directory (read by [`log`], so a
/// failing wait can show what the daemon was doing).
fn spawn_daemon(env: &Env, notify: &NotifySocket) -> Child {
    let log = std::fs::File::create(env.dir.path().join("daemon.log")).expect("log file");
    let mut cmd = env.mailroom(&["run"]);
    cmd.env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "400000")
        .env("MAILROOM_LOG", "info,mailroom=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    cmd.spawn().expect("spawn mailroom run")
}

/// Waits (bounded) for the daemon to exit; kills it and fails with its log if it does not.
fn wait_exit(env: &Env, mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "mailroom run did not exit within {limit:?}; its log:\n{}",
        log(env)
    );
}

fn log(env: &Env) -> String {
    std::fs::read_to_string(env.dir.path().join("daemon.log")).unwrap_or_default()
}

/// Polls `check` (bounded) until it holds.
fn eventually(env: &Env, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?}; the daemon's log:\n{}", log(env));
}

fn handled(env: &Env) -> usize {
    env.db_states().values().filter(|s| *s == "handled").count()
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_polls_on_schedule_is_watched_and_stops_cleanly() {
    let env = Env::empty().await;
    configure(&env, DAEMON);
    env.create(3, 20_000).await;
    let notify = NotifySocket::bind(&env);
    let child = spawn_daemon(&env, &notify);
    let started = Instant::now();

    assert!(
        notify.wait_for("READY=1", Duration::from_secs(30)),
        "no READY=1: {:?}",
        notify.messages()
    );
    let ready_after = started.elapsed();
    let pings = notify.count_within("WATCHDOG=1", Duration::from_secs(2));
    assert!(pings >= 4, "watchdog every 0.2 s: {pings} pings in 2 s");

    eventually(
        &env,
        "the first poll archives and marks all three",
        Duration::from_secs(30),
        || handled(&env) == 3,
    );
    let mail = env.data_dir().join("mail");
    eventually(&env, "their alerts are written", Duration::from_secs(30), || {
        std::fs::read_dir(&mail).map(|d| d.count()).unwrap_or(0) >= 3
    });
    // The status cycle never ran: it runs at start (catch-up), though it is due only at 03:00.
    eventually(
        &env,
        "the missed status cycle ran at start",
        Duration::from_secs(30),
        || {
            env.db()
                .query_row("SELECT count(*) FROM sync_runs WHERE job = 'status'", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap_or(0)
                >= 1
        },
    );

    // One writer: a manual sync is refused while the daemon runs.
    let out = env.run(env.mailroom(&["sync", "mailbox"])).await;
    assert_eq!(out.status.code(), Some(75), "{}", explain(&out));
    assert!(
        stderr(&out).contains(&format!("(pid {})", child.id())),
        "names the daemon: {}",
        stderr(&out)
    );

    // SIGHUP with a broken configuration: refused, the old one keeps polling.
    let good = std::fs::read_to_string(env.config_path()).expect("config");
    std::fs::write(env.config_path(), format!("{good}\n[schedule]\nnonsense = 1\n")).expect("break config");
    signal(&child, libc::SIGHUP);
    let more = env.create(1, 20_000).await;
    eventually(
        &env,
        "the old configuration polls on",
        Duration::from_secs(30),
        || env.db_states().get(&more[0]).is_some_and(|s| s == "handled"),
    );
    std::fs::write(env.config_path(), good).expect("restore config");

    let stopping = Instant::now();
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&env, child, Duration::from_secs(30));
    let took = stopping.elapsed();
    assert_eq!(status.code(), Some(0), "{}", log(&env));
    assert!(
        took < Duration::from_secs(10),
        "stopped within the bound: {took:?}"
    );
    assert!(
        notify.wait_for("STOPPING=1", Duration::from_secs(2)),
        "{:?}",
        notify.messages()
    );
    let err = log(&env);
    assert!(
        err.contains("SIGHUP: the new configuration is refused, the old one keeps running"),
        "{err}"
    );
    assert!(env.assert_nothing_handled_unarchived().await >= 4);

    // `mailroom status` tells the admin what ran.
    let out = env.run(env.mailroom(&["status", "--json"])).await;
    assert!(out.status.success(), "{}", explain(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let job = |name: &str| {
        status["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["job"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert!(job("mailbox")["last_success"].is_string(), "{status:#}");
    assert!(job("status")["last_success"].is_string(), "{status:#}");
    assert_eq!(job("digest")["enabled"], false, "no [notify.digest]: off");
    let exported: Vec<String> = std::fs::read_dir(env.data_dir().join("export"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for name in [
        "cases.csv",
        "changes.csv",
        "communications.csv",
        "deadlines.csv",
        "mailroom.json",
        "mailroom.ics",
    ] {
        assert!(
            exported.iter().any(|f| f == name),
            "the nightly export wrote {name}: {exported:?}"
        );
    }
    assert!(
        !exported.iter().any(|f| f.ends_with(".tmp")),
        "no half-written export: {exported:?}"
    );
    assert_eq!(status["communications"], json!([["handled", 4]]));
    eprintln!("start to READY=1: {ready_after:?}; SIGTERM to exit: {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_download_finishes_it_and_exits_0() {
    let env = Env::empty().await;
    configure(&env, DAEMON);
    let ids = env.create(1, 8_000_000).await;
    // The office takes 3 s to start sending the file.
    env.fault(json!({"office": "myepo", "kind": "slow", "delay_ms": 3000, "count": 1, "endpoint": "/file"}))
        .await;
    let notify = NotifySocket::bind(&env);
    let child = spawn_daemon(&env, &notify);
    assert!(
        notify.wait_for("READY=1", Duration::from_secs(30)),
        "{:?}",
        notify.messages()
    );
    // The poll runs at start (it never ran); once the office has listed the mailbox, the
    // download follows at once and waits its 3 s: stop in the middle of it.
    let start = Instant::now();
    while !env.activity().await.iter().any(|a| a["action"] == "LISTED") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the poll never listed the mailbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&env, child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", log(&env));
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
    // The communication in hand was finished and recorded, not left half-written.
    assert_eq!(env.db_states().get(&ids[0]).map(String::as_str), Some("archived"));
    env.assert_archived_as_served(&ids.iter().cloned().collect())
        .await;
    let spool: Vec<_> = std::fs::read_dir(env.archive_dir().join(".tmp"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(spool.is_empty(), "nothing half-written: {spool:?}");
}
