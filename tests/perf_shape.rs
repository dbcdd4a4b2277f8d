//! The shape of a cycle's cost, proved structurally (no timings): a cycle after a long history
//! writes only the rows of its own new communications, and asks the office only for them (one
//! download each, one mark-handled request per full batch) beside the listings.

mod common;

use std::collections::BTreeSet;

use common::{Env, stderr, stdout};

/// Requests per `METHOD /route` since the last reset, and resets the counters.
async fn requests(env: &Env) -> std::collections::BTreeMap<String, u64> {
    let stats = env.get("/_sandbox/stats").await;
    let r = env
        .http
        .delete(format!("{}/_sandbox/stats", env.sandbox.base_url()))
        .send()
        .await
        .expect("reset stats");
    assert!(r.status().is_success(), "reset stats: {}", r.status());
    stats["endpoints"]
        .as_object()
        .expect("stats object")
        .iter()
        .map(|(k, v)| (k.clone(), v["requests"].as_u64().expect("requests")))
        .collect()
}

/// Requests to one `METHOD /route/{template}`.
fn count(requests: &std::collections::BTreeMap<String, u64>, route: &str) -> u64 {
    requests.get(route).copied().unwrap_or(0)
}

/// Logs every row written to `communications` (by anyone) into `perf_writes`.
fn log_writes(env: &Env) {
    env.db()
        .execute_batch(
            "CREATE TABLE perf_writes (id TEXT NOT NULL, op TEXT NOT NULL);
             CREATE TRIGGER perf_insert AFTER INSERT ON communications
                 BEGIN INSERT INTO perf_writes VALUES (new.id, 'insert'); END;
             CREATE TRIGGER perf_update AFTER UPDATE ON communications
                 BEGIN INSERT INTO perf_writes VALUES (new.id, 'update'); END;",
        )
        .expect("install the write log");
}

fn written_ids(env: &Env) -> BTreeSet<String> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT DISTINCT id FROM perf_writes")
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

fn sync_ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    stdout(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_after_a_long_history_touches_only_its_new_communications() {
    const HISTORY: usize = 240;
    const NEW: usize = 70;
    let env = Env::empty().await;
    env.create(HISTORY, 2_000).await;
    let first = sync_ok(&env.sync().await);
    assert!(
        first.contains(&format!("{HISTORY} archived, {HISTORY} marked handled")),
        "{first}"
    );
    // The history is handled at the office and within the reconciliation window, so every
    // later cycle lists all of it again as handled.
    let handled = env.mailbox().await;
    assert_eq!(handled.values().filter(|h| **h).count(), HISTORY);

    log_writes(&env);
    requests(&env).await;
    let new: BTreeSet<String> = env.create(NEW, 2_000).await.into_iter().collect();
    let second = sync_ok(&env.sync().await);
    assert!(
        second.contains(&format!(
            "{NEW} unhandled at the EPO ({NEW} new), {NEW} archived, {NEW} marked handled"
        )),
        "{second}"
    );

    // No per-known-id write: the reconciliation of the history (and settling the batches)
    // wrote nothing for any communication of the history.
    let written = written_ids(&env);
    let old: Vec<&String> = written.difference(&new).collect();
    assert!(
        old.is_empty(),
        "{} rows of the history were written again, e.g. {:?}",
        old.len(),
        &old[..old.len().min(3)]
    );
    assert_eq!(written, new);

    // The office saw one download per new communication and one mark-handled request per
    // batch of 50 (not one per timer tick); the handled history was listed (pages of 100),
    // so its reconciliation really ran and wrote nothing.
    let r = requests(&env).await;
    assert_eq!(
        count(&r, "GET /myepo/v1/communications/{id}/file"),
        NEW as u64,
        "{r:?}"
    );
    assert_eq!(
        count(&r, "POST /myepo/v1/communications/handled"),
        NEW.div_ceil(50) as u64,
        "{r:?}"
    );
    let pages = count(&r, "GET /myepo/v1/communications");
    assert_eq!(pages, 1 + HISTORY.div_ceil(100) as u64, "{r:?}");
}
