//! One writer at a time, interrupted runs, and what the mailbox's exit status promises: the
//! real binary against the sandbox, two processes at once, real signals.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};
use serde_json::json;

/// A spawned mailroom whose stderr is read line by line on a thread (so the pipe never
/// fills), each line also sent to `lines`.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    err: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(env: &Env, cmd: std::process::Command) -> Running {
        let mut child = env.spawn(cmd);
        let pipe = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        let err = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        Running { child, lines, err }
    }

    /// Waits (bounded) for a stderr line starting with `prefix`.
    fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(e) => panic!("no stderr line starting with {prefix:?} within 60 s: {e}"),
            }
        }
    }

    /// Waits (bounded: 120 s) for the exit; returns the status, stdout and stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "mailroom did not exit within 120 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out).expect("read stdout");
        }
        let err = self.err.join().expect("stderr reader");
        (status, out, err)
    }
}

async fn finish(r: Running) -> (ExitStatus, String, String) {
    tokio::task::spawn_blocking(move || r.finish())
        .await
        .expect("join")
}

/// How many times the office served each communication's file.
async fn downloads(env: &Env) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for a in env.activity().await {
        if a["action"] == "DOWNLOADED" {
            *n.entry(a["communication_id"].as_str().expect("id").to_owned())
                .or_insert(0) += 1;
        }
    }
    n
}

fn runs(env: &Env) -> Vec<(String, Option<String>, Option<String>)> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT job, outcome, error FROM sync_runs ORDER BY id")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_on_a_fresh_data_dir_one_works_and_the_other_exits_75() {
    let env = Env::empty().await;
    let ids = env.create(300, 20_000).await;
    // The first listing is slow, so whichever process gets there first still holds the lock
    // when the other one starts.
    env.fault(json!({"office": "myepo", "kind": "slow", "delay_ms": 1500, "count": 1, "endpoint": "/v1/communications"}))
        .await;
    let a = Running::start(&env, env.mailroom(&["sync", "mailbox"]));
    let b = Running::start(&env, env.mailroom(&["sync", "mailbox"]));
    let pids = [a.child.id(), b.child.id()];
    let (ra, rb) = (finish(a).await, finish(b).await);
    let results = [ra, rb];
    let codes: Vec<Option<i32>> = results.iter().map(|r| r.0.code()).collect();
    let winner = codes.iter().position(|c| *c == Some(0));
    let loser = codes.iter().position(|c| *c == Some(75));
    let (Some(w), Some(l)) = (winner, loser) else {
        panic!("want one 0 and one 75, got {codes:?}: {results:#?}");
    };
    let loser_err = &results[l].2;
    assert_eq!(
        loser_err,
        &format!(
            "mailroom: error: another mailroom (pid {}) is working on {}\n",
            pids[w],
            env.data_dir().display()
        ),
        "exactly one line naming the holder and the directory"
    );
    assert!(results[l].1.is_empty(), "nothing on stdout: {}", results[l].1);
    let served = downloads(&env).await;
    assert_eq!(served.len(), ids.len(), "every file downloaded");
    assert!(
        served.values().all(|n| *n == 1),
        "files downloaded twice: {:?}",
        served.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_wait_the_second_writer_runs_when_the_first_is_done() {
    let env = Env::empty().await;
    let ids = env.create(40, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "slow", "delay_ms": 1500, "count": 1, "endpoint": "/v1/communications"}))
        .await;
    let first = Running::start(&env, env.mailroom(&["sync", "mailbox"]));
    // The first holds the lock from before it lists; once it says it listed, it is working.
    first.wait_line("listed ");
    let second = Running::start(&env, env.mailroom(&["--wait", "60", "sync", "mailbox"]));
    let (s1, out1, err1) = finish(first).await;
    let (s2, out2, err2) = finish(second).await;
    assert_eq!(s1.code(), Some(0), "{out1}\n{err1}");
    assert_eq!(s2.code(), Some(0), "the waiting writer succeeds: {out2}\n{err2}");
    assert!(
        out2.starts_with("mailbox: 0 unhandled at the EPO (0 new), 0 archived"),
        "the second found the work done: {out2}"
    );
    let served = downloads(&env).await;
    assert_eq!(served.len(), ids.len());
    assert!(served.values().all(|n| *n == 1), "{served:?}");
    env.assert_all_done().await;

    // Without --wait, a writer that finds the lock held gives up at once with 75.
    let holder = mailroom::lock::acquire(&env.data_dir(), Duration::ZERO)
        .await
        .expect("lock");
    for args in [
        &["sync", "mailbox"][..],
        &["sync", "status"],
        &["cases", "add", "EP10167109"],
        &["communications", "retry", "--all-quarantined"],
    ] {
        let out = env.run(env.mailroom(args)).await;
        assert_eq!(out.status.code(), Some(75), "{args:?}: {}", stderr(&out));
    }
    // Readers do not take it.
    for args in [
        &["communications"][..],
        &["cases", "list"],
        &["changes"],
        &["config"],
    ] {
        let out = env.run(env.mailroom(args)).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    drop(holder);
}

/// Sends `signal` to a running mailroom.
#[cfg(unix)]
fn kill(run: &Running, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(run.child.id()).expect("pid");
    // SAFETY: a signal to our own child process, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Stops a 300-communication sync with `signal` right after its first batch is recorded.
#[cfg(unix)]
async fn interrupted_by(signal: libc::c_int, code: i32, name: &str) {
    let env = Env::empty().await;
    let ids = env.create(300, 100_000).await;
    let run = Running::start(&env, env.mailroom(&["sync", "mailbox"]));
    run.wait_line("archived ");
    kill(&run, signal);
    let (status, out, err) = finish(run).await;
    assert_eq!(status.code(), Some(code), "{out}\n{err}");
    assert!(
        out.starts_with("mailbox: 300 unhandled at the EPO"),
        "summary: {out}"
    );
    assert!(out.contains(&format!("interrupted by {name}")), "{out}");
    assert_eq!(
        err.lines().last(),
        Some(
            format!("mailroom: error: interrupted by {name}; the next cycle goes on where this one stopped")
                .as_str()
        )
    );
    assert_eq!(
        runs(&env),
        vec![(
            "mailbox".into(),
            Some("interrupted".into()),
            Some(format!("stopped by {name}"))
        )]
    );
    assert!(env.temp_files().is_empty(), "{:?}", env.temp_files());
    let states = env.db_states();
    let mailbox = env.mailbox().await;
    let handled = mailbox.values().filter(|h| **h).count();
    assert!(handled < ids.len(), "the signal stopped the cycle before the end");
    for (id, at_office) in &mailbox {
        let local = states.get(id).map(String::as_str);
        if *at_office {
            assert_eq!(local, Some("handled"), "{id} handled at the office");
        } else {
            assert!(matches!(local, Some("seen" | "archived")), "{id}: {local:?}");
        }
    }
    env.assert_nothing_handled_unarchived().await;
    let docs = env.db_documents();
    assert_eq!(
        env.archive_files().len(),
        docs.len(),
        "no file without its record"
    );
    let archived = states.values().filter(|s| *s != "seen").count();
    assert_eq!(docs.len(), archived, "every archived one has its document");

    let again = env.sync().await;
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
    // Counted before the promise checks, which download every document once more themselves.
    let served = downloads(&env).await;
    let twice: Vec<_> = ids.iter().filter(|id| served.get(*id) != Some(&1)).collect();
    assert!(
        twice.is_empty(),
        "each file is downloaded once across both runs: {twice:?} ({:?})\n{out}\n{err}",
        twice.iter().map(|id| served.get(*id)).collect::<Vec<_>>()
    );
    env.assert_all_done().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_sync_cleanly_with_143() {
    interrupted_by(libc::SIGTERM, 143, "SIGTERM").await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_the_sync_cleanly_with_130() {
    interrupted_by(libc::SIGINT, 130, "SIGINT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_left_unfinished_by_a_killed_process_is_closed_as_interrupted() {
    let env = Env::empty().await;
    env.create(3, 20_000).await;
    let mut cmd = env.mailroom(&["sync", "mailbox"]);
    cmd.env("MAILROOM_FAILPOINT", "after_list");
    let out = env.run(cmd).await;
    assert!(!out.status.success(), "the failpoint crashed it");
    assert_eq!(runs(&env), vec![("mailbox".into(), None, None)]);
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = runs(&env);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].1.as_deref(), Some("interrupted"));
    assert!(
        r[0].2.as_deref().is_some_and(|e| e.contains("found unfinished")),
        "{r:?}"
    );
    assert_eq!(r[1].1.as_deref(), Some("ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_communication_in_backoff_keeps_the_exit_status_at_3() {
    let env = Env::empty().await;
    let ids = env.create(2, 20_000).await;
    let bad = &ids[0];
    // Every download of the first one fails; the other is fine.
    env.fault(json!({"office": "myepo", "kind": "status", "status": 500, "count": 1000, "endpoint": bad}))
        .await;
    for cycle in ["the cycle it fails", "the next cycle, while it waits"] {
        let out = env.sync().await;
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(3), "{cycle}: {text}\n{}", stderr(&out));
        let line = text
            .lines()
            .find(|l| l.contains(bad.as_str()))
            .unwrap_or_else(|| panic!("{cycle}: {bad} not named: {text}"));
        assert!(
            line.starts_with("  failed, will retry from 20") && line.contains("(application EP"),
            "{cycle}: {line}"
        );
    }
    let states = env.db_states();
    assert_eq!(states.get(&ids[1]).map(String::as_str), Some("handled"));
    assert_eq!(states.get(bad).map(String::as_str), Some("seen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quarantined_communication_is_named_until_released_then_the_mailbox_completes() {
    let env = Env::empty().await;
    let ids = env.create(2, 20_000).await;
    let bad = ids[0].clone();
    // An HTML maintenance page instead of the PDF: the item's own failure; one attempt only.
    env.fault(json!({"office": "myepo", "kind": "malformed", "count": 1, "endpoint": bad}))
        .await;
    let vars = [("MAILROOM_MYEPO__MAX_ATTEMPTS", "1")];
    for cycle in 0..3 {
        let out = env.run(env.mailroom_env(&["sync", "mailbox"], &vars)).await;
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(3),
            "cycle {cycle}: {text}\n{}",
            stderr(&out)
        );
        assert!(
            text.lines().any(|l| l
                .starts_with(&format!("  QUARANTINED, needs a person: {bad} (application EP"))
                && l.contains(&format!("`mailroom communications retry {bad}`"))),
            "cycle {cycle}: {text}"
        );
    }

    let out = env
        .run(env.mailroom(&["communications", "retry", "no-such-id"]))
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "mailroom: error: no communication no-such-id is known\n"
    );
    let out = env.run(env.mailroom(&["communications", "retry", &ids[1]])).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "mailroom: error: communication {} is not quarantined (it is handled)\n",
            ids[1]
        )
    );

    let out = env.run(env.mailroom(&["communications", "retry", &bad])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("released {bad} (application EP")),
        "{}",
        stdout(&out)
    );
    let out = env.run(env.mailroom_env(&["sync", "mailbox"], &vars)).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("QUARANTINED"), "{}", stdout(&out));
    env.assert_all_done().await;

    // The listing still works, with and without its subcommand name.
    for args in [&["communications"][..], &["communications", "list", "--json"]] {
        let out = env.run(env.mailroom(args)).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(bad.as_str()), "{args:?}");
    }
    let out = env
        .run(env.mailroom(&["communications", "retry", "--all-quarantined"]))
        .await;
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (
            Some(0),
            "0 communication(s) released; the next `mailroom sync mailbox` archives them\n".into()
        )
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_status_cycle_with_143_and_an_interrupted_run() {
    let env = Env::empty().await;
    let numbers = common::synthetic_ep(&env, 200).await;
    let path = env.dir.path().join("cases.csv");
    std::fs::write(&path, format!("number\n{}\n", numbers.join("\n"))).expect("write csv");
    let out = env
        .run(env.mailroom(&["cases", "import", path.to_str().expect("utf-8")]))
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run = Running::start(&env, env.mailroom(&["sync", "status"]));
    run.wait_line("checked ");
    kill(&run, libc::SIGTERM);
    let (status, out, err) = finish(run).await;
    assert_eq!(status.code(), Some(143), "{out}\n{err}");
    assert!(out.starts_with("status: interrupted by SIGTERM (run 1)"), "{out}");
    assert_eq!(
        runs(&env),
        vec![(
            "status".into(),
            Some("interrupted".into()),
            Some("stopped by SIGTERM".into())
        )]
    );
    let checked: i64 = env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM cases WHERE checked_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(
        checked > 0 && checked < numbers.len() as i64,
        "stopped part way: {checked} checked"
    );
    let again = env.run(env.mailroom(&["sync", "status"])).await;
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
}
