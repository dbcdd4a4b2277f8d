//! `mailroom sync mailbox` end to end: the real binary against the sandbox over HTTP on
//! 127.0.0.1, real SQLite and real files. One test per cell of the fault matrix.

mod common;

use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_full_cycle_archives_then_marks_and_a_second_changes_nothing() {
    let env = Env::start(mailroom_sandbox::SandboxOptions::default()).await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).starts_with("mailbox: 12 unhandled at the EPO (12 new), 12 archived, 12 marked handled"),
        "{}",
        stdout(&out)
    );
    env.assert_all_done().await;

    // Every MARKED_HANDLED comes after that id's DOWNLOADED in the office's log.
    let activity = env.activity().await;
    for a in activity.iter().filter(|a| a["action"] == "MARKED_HANDLED") {
        let id = &a["communication_id"];
        let dl = activity
            .iter()
            .position(|b| b["action"] == "DOWNLOADED" && &b["communication_id"] == id);
        let mk = activity.iter().position(|b| b == a);
        assert!(dl < mk && dl.is_some(), "{id} marked before it was downloaded");
    }

    let before = (env.activity().await.len(), env.db_documents());
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("mailbox: 0 unhandled at the EPO (0 new), 0 archived, 0 marked handled"),
        "{}",
        stdout(&out)
    );
    let after = env.activity().await;
    assert!(
        after[before.0..].iter().all(|a| a["action"] == "LISTED"),
        "a second run only lists: {:?}",
        &after[before.0..]
    );
    assert_eq!(env.db_documents(), before.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_layout_sidecar_and_export() {
    let env = Env::empty().await;
    env.post(
        "/_sandbox/myepo/communications",
        json!({"count": 1, "size": 30000, "application_number": "PCT/EP2024/012345", "document_code": "2004", "dispatch_date": "2026-11-20"}),
    )
    .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    let files = env.archive_files();
    assert_eq!(files.len(), 1);
    let rel = files[0]
        .strip_prefix(env.archive_dir())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(rel.starts_with("EP/PCT_EP2024_012345/2026-11-20_2004_"), "{rel}");
    assert!(rel.ends_with(".pdf"), "{rel}");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(files[0].with_extension("json")).unwrap()).unwrap();
    assert_eq!(sidecar["document"]["size"], 30000);

    let out = env.run(env.mailroom(&["export", "--format", "json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export is JSON");
    let c = &v["communications"][0];
    for key in [
        "id",
        "application_number",
        "document_code",
        "title",
        "dispatch_date",
        "path",
        "sha256",
        "size",
        "state",
        "handled_at",
    ] {
        assert!(c.get(key).is_some(), "export lacks {key}: {c}");
    }
    assert_eq!(c["path"], rel.replace('\\', "/"));
    assert_eq!(
        (c["state"].as_str(), c["size"].as_u64()),
        (Some("handled"), Some(30000))
    );
    assert_eq!(c["sha256"].as_str().map(str::len), Some(64));

    let out = env
        .run(env.mailroom(&["communications", "--json", "--since", "2026-11-21"]))
        .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(0),
        "--since filters by dispatch date"
    );
    let out = env
        .run(env.mailroom(&["communications", "--since", "23.11.2026"]))
        .await;
    assert_eq!(out.status.code(), Some(2), "a bad date is a usage error");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_rollout_archives_but_never_marks() {
    let env = Env::empty().await;
    env.create(4, 20_000).await;
    let out = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__MARK_HANDLED", "false")]))
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.archive_files().len(), 4);
    assert!(
        env.marked_by_api().await.is_empty(),
        "read-only mode marked something"
    );
    assert!(env.db_states().values().all(|s| s == "archived"));
}

#[tokio::test(flavor = "multi_thread")]
async fn communications_handled_in_the_web_ui_are_still_archived() {
    let env = Env::empty().await;
    let ids = env.create(5, 20_000).await;
    env.post("/_sandbox/myepo/handled", json!({"ids": &ids[..2]}))
        .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 marked handled, 2 found handled in the web mailbox"),
        "{}",
        stdout(&out)
    );
    env.assert_all_done().await;
    let marked = env.marked_by_api().await;
    assert!(
        !marked.contains(&ids[0]) && !marked.contains(&ids[1]),
        "mailroom re-marked what a person handled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_expiry_mid_run() {
    let env = Env::empty().await;
    env.create(40, 200_000).await;
    let child = env.spawn(env.mailroom(&["sync", "mailbox"]));
    // Expire every token once the run is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while env
        .activity()
        .await
        .iter()
        .filter(|a| a["action"] == "DOWNLOADED")
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "the run never started downloading");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let expired = env
        .post(
            "/_sandbox/faults",
            json!({"office": "myepo", "kind": "expire_token"}),
        )
        .await;
    assert!(expired["expired_tokens"].as_u64() >= Some(1), "{expired}");
    let out = env.finish(child).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("renewing the token"), "{}", stderr(&out));
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unexpected_401_renews_the_token_once() {
    let env = Env::empty().await;
    env.create(2, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "status", "status": 401, "count": 1}))
        .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MyEPO answered 401; renewing the token once"),
        "{}",
        stderr(&out)
    );
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_429_waits_for_retry_after() {
    let env = Env::empty().await;
    env.create(2, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "status", "status": 429, "count": 2, "retry_after": "1"}))
        .await;
    let t = Instant::now();
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "two Retry-After: 1 must cost at least 2 s, took {:?}",
        t.elapsed()
    );
    assert_eq!(stderr(&out).matches("HTTP 429").count(), 2, "{}", stderr(&out));
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_burst_is_ridden_out() {
    let env = Env::empty().await;
    env.create(3, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "status", "status": 503, "count": 3}))
        .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("HTTP 503").count(), 3, "{}", stderr(&out));
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_office_down_for_longer_than_the_retries_loses_nothing() {
    let env = Env::empty().await;
    let ids = env.create(3, 20_000).await;
    env.fault(
        json!({"office": "myepo", "kind": "status", "status": 503, "count": 1000, "endpoint": "/file"}),
    )
    .await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("failed, will retry"), "{}", stdout(&out));
    assert!(env.marked_by_api().await.is_empty());
    assert!(env.archive_files().is_empty() && env.temp_files().is_empty());
    let states = env.db_states();
    assert!(
        ids.iter()
            .all(|id| states.get(id).map(String::as_str) == Some("seen")),
        "{states:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_download_is_fetched_again() {
    let env = Env::empty().await;
    env.create(2, 300_000).await;
    env.fault(json!({"office": "myepo", "kind": "truncate", "count": 1, "endpoint": "/file"}))
        .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("broke off"),
        "the truncation is logged: {}",
        stderr(&out)
    );
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_pdf_body_is_refused_and_not_marked() {
    let env = Env::empty().await;
    let ids = env.create(1, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "malformed", "count": 5, "endpoint": "/file"}))
        .await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("not a PDF") || stdout(&out).contains("does not start with %PDF"),
        "{}",
        stdout(&out)
    );
    assert!(env.marked_by_api().await.is_empty());
    assert!(env.archive_files().is_empty() && env.temp_files().is_empty());
    let v = &env.db_states();
    assert_eq!(v.get(&ids[0]).map(String::as_str), Some("seen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_listing_stops_the_cycle_with_a_clear_error() {
    let env = Env::empty().await;
    env.create(2, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "malformed", "count": 1, "endpoint": "/v1/communications"}))
        .await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("mailroom: error: mailbox cycle: listing the mailbox failed: MyEPO list unhandled communications: the answer is not JSON"), "{err}");
    assert!(env.marked_by_api().await.is_empty());
    let out = env.sync().await;
    assert!(out.status.success(), "the next cycle recovers: {}", stderr(&out));
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shrinking_while_paging_skips_nothing() {
    let env = Env::empty().await;
    let ids = env.create(23, 10_000).await;
    // Slow pages give a person time to handle items in the web UI mid-walk.
    env.fault(json!({"office": "myepo", "kind": "slow", "delay_ms": 400, "count": 3, "endpoint": "/v1/communications"})).await;
    let child = env.spawn(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__PAGE_SIZE", "5")]));
    // A person handles four in the web UI once the walk has begun (its first page is served).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.activity().await.iter().any(|a| a["action"] == "LISTED") {
        assert!(Instant::now() < deadline, "the walk never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    env.post("/_sandbox/myepo/handled", json!({"ids": &ids[..4]}))
        .await;
    let out = env.finish(child).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the mailbox changed while listing it; listing again"),
        "{}",
        stderr(&out)
    );
    env.assert_all_done().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_contract_profile_is_understood() {
    for profile in [
        "default",
        "aliases",
        "nested",
        "bare-array",
        "no-total",
        "mark-204",
        "mark-batch-error",
        "aliases+nested+no-total+mark-204",
    ] {
        let env = Env::empty().await;
        env.post("/_sandbox/myepo/settings", json!({"profile": profile}))
            .await;
        env.create(7, 15_000).await;
        let out = env
            .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__PAGE_SIZE", "3")]))
            .await;
        assert!(
            out.status.success(),
            "profile {profile}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        env.assert_all_done().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_archiving_and_marks_nothing_unstored() {
    let env = Env::empty().await;
    let mount = match common::Tmpfs::mount(&env.archive_dir(), "size=1m") {
        Ok(m) => m,
        Err(why) => {
            common::skip_or_fail_on_ci("a_full_disk_stops_archiving_and_marks_nothing_unstored", &why);
            return;
        }
    };
    env.create(6, 300_000).await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    let last = stderr(&out).lines().last().unwrap_or_default().to_owned();
    assert!(
        last.contains("the archive is unusable, archiving stopped: disk full"),
        "{last}"
    );
    // What fit is archived and may be marked; nothing else is.
    env.assert_nothing_handled_unarchived().await;
    let archived = env.archive_files().len();
    assert!((1..6).contains(&archived), "{archived} files");
    assert!(
        env.temp_files().is_empty(),
        "temporary files left on the full disk: {:?}",
        env.temp_files()
    );
    let states = env.db_states();
    assert_eq!(
        states.values().filter(|s| *s == "seen").count(),
        6 - archived,
        "{states:?}"
    );
    assert!(
        env.db()
            .query_row("SELECT MAX(attempts) FROM communications", [], |r| r
                .get::<_, i64>(0))
            .unwrap()
            == 0,
        "a full disk is not the communications' fault: no attempt is charged"
    );
    drop(mount);
}
