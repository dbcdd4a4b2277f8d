//! Crash safety, the isync/mbsync way: the real binary is killed at every named step of the
//! pipeline and at random moments; after each crash, nothing the office shows as handled may
//! be missing from the archive, and a re-run must finish the job without duplicating anything.

mod common;

use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};

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
    env.assert_all_done().await;
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
    for name in mailroom::failpoint::NAMES {
        let nths: &[&str] = if matches!(*name, "after_list" | "after_record_seen") {
            &["1"]
        } else {
            &["1", "2"]
        };
        for nth in nths {
            let env = Env::empty().await;
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
            env.assert_nothing_handled_unarchived().await;
            recover_and_check(&env).await;
        }
    }
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
    // Kill until 50 kills have hit a running sync (bounded in rounds and time).
    for round in 0..150 {
        if killed_running == 50 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "round {round}: the kill loop takes too long"
        );
        let mut child = env.spawn(env.mailroom(&["sync", "mailbox"]));
        tokio::time::sleep(Duration::from_millis(20 + rng.next() % 600)).await;
        if child.try_wait().expect("try_wait").is_none() {
            killed_running += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        env.assert_nothing_handled_unarchived().await;
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
    recover_and_check(&env).await;
    assert_eq!(env.mailbox().await.len(), 500);
}
