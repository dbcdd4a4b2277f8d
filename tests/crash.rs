//! Crash safety, the isync/mbsync way: the real binary is killed at every named step of the
//! pipeline and at random moments; after each crash, nothing the office shows as handled may
//! be missing from the archive, and a re-run must finish the job without duplicating anything.
//! "Missing" is judged against the bytes the sandbox serves (see `common`), and every check
//! reports how much it saw, so that a run where nothing was marked cannot pass as proof.
//!
//! `abort()` and SIGKILL keep the page cache, so these tests cannot see a missing fsync:
//! `tests/durability.rs` proves the order of the syscalls instead.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Env, ok, stderr, stdout, synthetic_ep};

/// Notifications for every test here: written as `.eml` files, so each fact has deliveries.
const NOTIFY: &str = r#"
[notify.email]
transport = "file"
file_dir = "data/mail"
from = "mailroom <mailroom@firm.example>"
to = ["formalities@firm.example"]
"#;

fn with_notifications(env: &Env) {
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str(NOTIFY);
    std::fs::write(env.config_path(), text).expect("config");
}

/// The outbox invariant after a crash: a communication recorded `archived` (or `handled`)
/// has exactly one `communication` event, with its delivery; one not recorded has none.
/// Returns how many communications were archived, so an empty check cannot pass as proof.
fn assert_recorded_with_notifications(env: &Env, what: &str) -> usize {
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT c.id, c.state, (SELECT count(*) FROM notify_events e WHERE e.dedupe_key = 'communication:' || c.id),
                    (SELECT count(*) FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
                     WHERE e.dedupe_key = 'communication:' || c.id)
             FROM communications c",
        )
        .expect("query");
    let rows: Vec<(String, String, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut archived = 0;
    for (id, state, events, deliveries) in rows {
        if matches!(state.as_str(), "archived" | "handled") {
            archived += 1;
            assert_eq!(
                (events, deliveries),
                (1, 1),
                "{what}: {id} is {state} without its notification"
            );
        } else {
            assert_eq!(
                (events, deliveries),
                (0, 0),
                "{what}: {id} is {state} but was announced"
            );
        }
    }
    archived
}

/// Runs until a cycle succeeds (bounded), then checks the end state and that one more run
/// changes nothing at the office or in the database.
async fn recover_and_check(env: &Env) {
    let mut last = None;
    for _ in 0..3 {
        let out = env.sync().await;
        if out.status.success() {
            last = Some(out);
            break;
        }
        last = Some(out);
    }
    let out = last.expect("ran");
    assert!(
        out.status.success(),
        "recovery run failed: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let marked = env.assert_all_done().await;
    let at_office = env.mailbox().await.len();
    assert!(at_office > 0, "an empty mailbox proves nothing");
    assert_eq!(
        marked, at_office,
        "every communication was marked by mailroom and checked against what the sandbox serves"
    );
    let (activity, docs, states) = (env.activity().await.len(), env.db_documents(), env.db_states());
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    let after = env.activity().await;
    assert!(
        after[activity..].iter().all(|a| a["action"] == "LISTED"),
        "a further run did more than list"
    );
    assert_eq!(
        (env.db_documents(), env.db_states()),
        (docs, states),
        "a further run changed the database"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_step_nothing_is_lost_or_duplicated() {
    // `name:2` crashes at the second communication or batch, i.e. with work half done; the
    // listing steps happen once per run.
    let mut crashes_after_marking = 0;
    for name in mailroom::failpoint::NAMES {
        let nths: &[&str] = if matches!(*name, "after_list" | "after_record_seen") {
            &["1"]
        } else {
            &["1", "2"]
        };
        for nth in nths {
            let env = Env::empty().await;
            with_notifications(&env);
            env.create(4, 40_000).await;
            let spec = format!("{name}:{nth}");
            let mut cmd = env.mailroom(&["sync", "mailbox"]);
            // Batches of 2 give the batch-level failpoints a second hit.
            cmd.env("MAILROOM_FAILPOINT", &spec)
                .env("MAILROOM_MYEPO__BATCH_SIZE", "2");
            let out = env.run(cmd).await;
            let reached = stderr(&out).contains(&format!("failpoint {name} reached"));
            assert!(reached, "{spec} was never reached: {}", stderr(&out));
            assert!(!out.status.success(), "{spec}: the process survived its crash");
            let checked = env.assert_nothing_handled_unarchived().await;
            let announced = assert_recorded_with_notifications(&env, &spec);
            if *name == "after_record_archived" {
                assert!(announced > 0, "{spec}: nothing recorded before the crash");
            }
            // These steps come after a mark request was answered: the office must show marks,
            // each of them checked above, or the crash check was empty.
            if matches!(*name, "after_mark_request" | "after_record_handled") {
                assert!(checked > 0, "{spec}: nothing marked before the crash");
                assert!(
                    !env.db_documents().is_empty(),
                    "{spec}: nothing archived before the crash"
                );
                crashes_after_marking += 1;
            }
            recover_and_check(&env).await;
            assert_eq!(
                assert_recorded_with_notifications(&env, &spec),
                4,
                "{spec}: after recovery"
            );
        }
    }
    assert_eq!(
        crashes_after_marking, 4,
        "the marking failpoints were all exercised"
    );
}

/// The status cycle's transaction: a crash after the first case's check is committed leaves
/// that case's snapshot, changes and `change` event all there, and the other cases' none of
/// them; the next cycle records the rest, each change announced once.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_in_the_status_cycle_leaves_each_change_with_its_notification_or_neither() {
    let env = Env::empty().await;
    with_notifications(&env);
    let numbers = synthetic_ep(&env, 3).await;
    for n in &numbers {
        ok(&env, &["cases", "add", n]).await;
    }
    ok(&env, &["sync", "status"]).await;
    for n in &numbers {
        env.post(&format!("/_sandbox/cases/ep/{n}/advance"), serde_json::json!({}))
            .await;
    }
    let check = |what: &str| -> (i64, i64) {
        let db = env.db();
        let per_case: Vec<(String, i64, i64)> = db
            .prepare(
                "SELECT c.number,
                        (SELECT count(DISTINCT detected_at) FROM changes ch WHERE ch.case_id = c.id),
                        (SELECT count(*) FROM notify_events e WHERE e.kind = 'change'
                           AND json_extract(e.payload_json, '$.number') = c.number)
                 FROM cases c",
            )
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (number, checks_with_changes, events) in &per_case {
            assert_eq!(
                checks_with_changes, events,
                "{what}: {number} changed without its notification (or the reverse)"
            );
        }
        let deliveries: i64 = db
            .query_row(
                "SELECT count(*) FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id WHERE e.kind = 'change'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        (per_case.iter().map(|(_, c, _)| c).sum(), deliveries)
    };
    let mut cmd = env.mailroom(&["sync", "status"]);
    cmd.env("MAILROOM_FAILPOINT", "after_record_check:2");
    let out = env.run(cmd).await;
    assert!(
        stderr(&out).contains("failpoint after_record_check reached"),
        "{}",
        stderr(&out)
    );
    let (changed, deliveries) = check("after the crash");
    assert_eq!(
        (changed, deliveries),
        (2, 2),
        "two cases were recorded before the crash"
    );
    ok(&env, &["sync", "status"]).await;
    let (changed, deliveries) = check("after recovery");
    assert_eq!((changed, deliveries), (3, 3), "each change announced once");
}

/// A small deterministic PRNG: the sequence of kill times is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_sigkills_during_a_500_communication_sync() {
    let env = Env::empty().await;
    env.create(500, 24_000).await;
    // Network latency as a slow office has (25 ms per download): the job then lasts long
    // enough for 50 kills to land in it, in every phase. (At 8 ms a run archived and marked
    // 20–40 communications before its kill, and all 500 were done after ~35 kills.)
    env.fault(serde_json::json!({"office": "myepo", "kind": "slow", "delay_ms": 25, "count": 100_000, "endpoint": "/file"}))
        .await;
    let mut rng = SplitMix(2026);
    let started = Instant::now();
    let mut killed_running = 0;
    let mut handled_after_kill = Vec::new();
    let mut checked_after_kill = Vec::new();
    // Kill until 50 kills have hit a running sync (bounded in rounds and time).
    for round in 0..150 {
        if killed_running == 50 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "round {round}: the kill loop takes too long"
        );
        let mut cmd = env.mailroom(&["sync", "mailbox"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mailroom");
        let started_work = first_line(child.stderr.take().expect("stderr"));
        // The random delay is the crash point; it counts from the child's first log line
        // ("listed …", once the listing is recorded), so that process start-up, slow on a
        // loaded machine, does not eat it. Kills at the listing steps are the failpoint
        // test's (`after_list`, `after_record_seen`).
        let working =
            tokio::task::spawn_blocking(move || started_work.recv_timeout(Duration::from_secs(30)).is_ok())
                .await
                .expect("join");
        if working {
            tokio::time::sleep(Duration::from_millis(rng.next() % 300)).await;
        }
        if child.try_wait().expect("try_wait").is_none() {
            killed_running += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let checked = env.assert_nothing_handled_unarchived().await;
        checked_after_kill.push(checked);
        handled_after_kill.push(env.mailbox().await.values().filter(|h| **h).count());
    }
    eprintln!(
        "50 SIGKILLs hit a running sync; handled at the office after each kill: {handled_after_kill:?}"
    );
    assert_eq!(killed_running, 50, "only {killed_running} kills landed mid-run");
    let mid_marking = handled_after_kill.iter().filter(|&&n| n > 0 && n < 500).count();
    assert!(
        mid_marking >= 5,
        "too few kills landed while marking was under way: {handled_after_kill:?}"
    );
    assert!(
        checked_after_kill.iter().filter(|&&n| n > 0).count() >= mid_marking,
        "the checks after the kills saw the marks: {checked_after_kill:?}"
    );
    recover_and_check(&env).await;
    assert_eq!(env.mailbox().await.len(), 500);
}

/// Signals the first line the child writes to `stderr` (its first log line: it is working),
/// then keeps draining the pipe so the child never blocks on it. Disconnects without a
/// signal if the child exits silently.
fn first_line(stderr: std::process::ChildStderr) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        if matches!(lines.next(), Some(Ok(_))) {
            let _ = tx.send(());
        }
        lines.map_while(Result::ok).for_each(drop);
    });
    rx
}

/// The checks compare the archive with what the sandbox served, not with mailroom's own
/// record: a file replaced together with its recorded hash and size (what a bug storing the
/// wrong bytes would leave behind) passes a record-only check, and must fail these.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_matches_its_record_but_not_what_was_served_fails_the_checks() {
    use sha2::{Digest, Sha256};

    let env = Env::empty().await;
    env.create(2, 5_000).await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.assert_all_done().await, 2);
    let (id, path, _, _) = env.db_documents().remove(0);
    let wrong = b"%PDF-1.7\n% not the office's document\n%%EOF\n".to_vec();
    std::fs::write(env.archive_dir().join(&path), &wrong).expect("overwrite");
    let updated = env
        .db()
        .execute(
            "UPDATE documents SET sha256 = ?1, size = ?2 WHERE communication_id = ?3 AND path = ?4",
            (
                common::hex(&Sha256::digest(&wrong)),
                wrong.len() as i64,
                &id,
                &path,
            ),
        )
        .expect("update the record");
    assert_eq!(updated, 1);
    let check = tokio::spawn(async move { env.assert_all_done().await });
    let failure = check.await.expect_err("the check must fail").into_panic();
    let message = failure.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "{id}: the archived files are not the documents the sandbox serves"
        )),
        "{message}"
    );
}
