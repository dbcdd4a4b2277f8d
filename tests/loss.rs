//! No loss, no leak, on every contract variant (issue 8): the real binary against the
//! sandbox over HTTP on 127.0.0.1. Each test shows one fault that was observed: documents
//! replacing each other, downloads with a handled side effect, the token sent to another
//! origin, unbounded downloads, re-opened communications marked without their files, and
//! files a profile did not list.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Env, hex, stderr, stdout};
use mailroom_sandbox::MyepoProfile;
use mailroom_sandbox::credentials::{MYEPO_CLIENT_ID, MYEPO_CLIENT_SECRET};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A MyEPO access token from the sandbox, for reading what it serves.
async fn token(env: &Env) -> String {
    let v: Value = env
        .http
        .post(env.sandbox.urls().myepo_token)
        .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    v["access_token"].as_str().expect("access_token").to_owned()
}

/// SHA-256 of every document the sandbox serves, per communication id, in listing order.
/// A communication is served per document when `nested` or when it has several files, else
/// at `…/file`; downloads say `setHandled=false`, so reading them changes no flag.
async fn served_sha256(env: &Env, nested: bool) -> BTreeMap<String, Vec<String>> {
    let token = token(env).await;
    let mailbox = env.get("/_sandbox/myepo/communications").await;
    let mut out = BTreeMap::new();
    for c in mailbox.as_array().expect("mailbox") {
        let id = c["id"].as_str().expect("id");
        let docs = c["documents"].as_array().expect("documents");
        let mut shas = Vec::new();
        for d in docs {
            let mut url = reqwest::Url::parse(&env.sandbox.urls().myepo_api_base).expect("base");
            {
                let mut segs = url.path_segments_mut().expect("base takes a path");
                segs.extend(["v1", "communications", id]);
                if nested || docs.len() > 1 {
                    segs.extend(["documents", d["document_id"].as_str().expect("document id")]);
                } else {
                    segs.push("file");
                }
            }
            url.query_pairs_mut().append_pair("setHandled", "false");
            let resp = env
                .http
                .get(url.clone())
                .bearer_auth(&token)
                .send()
                .await
                .expect("download");
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            shas.push(hex(&Sha256::digest(resp.bytes().await.expect("body"))));
        }
        out.insert(id.to_owned(), shas);
    }
    out
}

/// `(document key, path, sha256)` of every recorded document, per communication id.
fn recorded(env: &Env) -> BTreeMap<String, Vec<(String, String, String)>> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT communication_id, document_key, path, sha256 FROM documents ORDER BY communication_id, document_key")
        .expect("prepare");
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let rows = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })
        .expect("query");
    for row in rows {
        let (id, doc) = row.expect("row");
        out.entry(id).or_default().push(doc);
    }
    out
}

/// Every document the sandbox serves is archived exactly once, with the served bytes.
async fn assert_every_document_archived(env: &Env, nested: bool) {
    let served = served_sha256(env, nested).await;
    let recorded = recorded(env);
    for (id, shas) in &served {
        let mut want = shas.clone();
        want.sort();
        let mut got: Vec<String> = recorded
            .get(id)
            .map(|docs| docs.iter().map(|d| d.2.clone()).collect())
            .unwrap_or_default();
        got.sort();
        assert_eq!(got, want, "{id}: recorded documents differ from the served ones");
    }
    env.assert_all_done().await;
}

async fn inject(env: &Env, body: Value) -> Vec<String> {
    env.post("/_sandbox/myepo/communications", body).await["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|i| i.as_str().expect("id").to_owned())
        .collect()
}

async fn set_profile(env: &Env, profile: &str) {
    env.post("/_sandbox/myepo/settings", json!({ "profile": profile }))
        .await;
}

/// Bytes the sandbox sent for downloads, over all download routes.
async fn download_bytes(env: &Env) -> u64 {
    let stats = env.get("/_sandbox/stats").await;
    stats
        .as_object()
        .expect("stats")
        .iter()
        .filter(|(route, _)| route.contains("/file") || route.contains("/documents/"))
        .map(|(_, s)| s["bytes"].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn colliding_and_repeated_document_ids_each_get_their_own_file_and_row() {
    let env = Env::empty().await;
    let collide = inject(
        &env,
        json!({"size": 30000, "documents": [{"id": "d/1"}, {"id": "d_1"}]}),
    )
    .await;
    let repeat = inject(
        &env,
        json!({"size": 30000, "documents": [{"id": "d1"}, {"id": "d1"}, {"id": "d2"}]}),
    )
    .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rec = recorded(&env);
    let keys = |id: &str| -> Vec<String> { rec[id].iter().map(|d| d.0.clone()).collect() };
    assert_eq!(keys(&collide[0]), ["d/1", "d_1"]);
    assert_eq!(keys(&repeat[0]), ["d1", "d1#2", "d2"]);
    assert_eq!(env.archive_files().len(), 5, "{:?}", env.archive_files());
    assert_every_document_archived(&env, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_download_shape_marks_anything_handled() {
    for profile in [
        "flip-on-download",
        "nested+flip-on-download",
        "href+flip-on-download",
        "href+nested+flip-on-download",
    ] {
        let env = Env::empty().await;
        set_profile(&env, profile).await;
        inject(&env, json!({"count": 2, "size": 20000})).await;
        inject(&env, json!({"size": 20000, "documents": 2})).await;
        // Read-only mode: nothing may become handled at the office at all.
        let out = env
            .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__MARK_HANDLED", "false")]))
            .await;
        assert!(
            out.status.success(),
            "{profile}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let activity = env.activity().await;
        let downloads = activity.iter().filter(|a| a["action"] == "DOWNLOADED").count();
        assert_eq!(downloads, 4, "{profile}: every document downloaded once");
        let flipped: Vec<_> = activity
            .iter()
            .filter(|a| a["action"] == "MARKED_HANDLED")
            .collect();
        assert!(flipped.is_empty(), "{profile}: a download marked {flipped:?}");
        assert!(
            env.mailbox().await.values().all(|h| !h),
            "{profile}: handled at the office"
        );
        assert_eq!(env.archive_files().len(), 4, "{profile}");
    }
}

/// A loopback listener standing for another host: counts connections and whether any
/// request carried an `Authorization` header.
struct Foreign {
    port: u16,
    connections: Arc<AtomicUsize>,
    saw_authorization: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Foreign {
    async fn start() -> Foreign {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let saw_authorization = Arc::new(AtomicBool::new(false));
        let (c, a) = (connections.clone(), saw_authorization.clone());
        let task = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            // Bounded: a test makes a handful of requests at most.
            for _ in 0..100 {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 16 << 10];
                let read = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await;
                if let Ok(Ok(n)) = read
                    && String::from_utf8_lossy(&buf[..n])
                        .to_ascii_lowercase()
                        .contains("authorization:")
                {
                    a.store(true, Ordering::SeqCst);
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: 9\r\n\r\n%PDF-1.7\n")
                    .await;
            }
        });
        Foreign {
            port,
            connections,
            saw_authorization,
            task,
        }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_href_to_another_origin_gets_no_request_and_no_token() {
    let foreign = Foreign::start().await;
    let env = Env::empty().await;
    set_profile(&env, "href").await;
    let hostile = [
        format!("http://127.0.0.1:{}/steal.pdf", foreign.port),
        format!("//127.0.0.1:{}/steal.pdf", foreign.port),
        format!("http://localhost:{}/steal.pdf", foreign.port),
    ];
    let mut bad = Vec::new();
    for href in &hostile {
        bad.extend(inject(&env, json!({"size": 20000, "documents": [{"href": href}]})).await);
    }
    let good = inject(&env, json!({"count": 2, "size": 20000})).await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    for id in &bad {
        assert!(
            err.lines().any(|l| l.contains(id.as_str())
                && l.contains("refused to follow its href to http://")
                && l.contains(&format!(":{}", foreign.port))),
            "no refusal naming {id} and the origin:\n{err}"
        );
    }
    assert_eq!(
        foreign.connections.load(Ordering::SeqCst),
        0,
        "a request reached the other origin"
    );
    assert!(!foreign.saw_authorization.load(Ordering::SeqCst));
    let mailbox = env.mailbox().await;
    let states = env.db_states();
    for id in &bad {
        assert!(!mailbox[id], "{id} marked handled without its file");
        assert_eq!(states[id], "seen", "{id}");
    }
    for id in &good {
        assert!(mailbox[id], "{id}: the same-origin hrefs are followed");
    }
    assert!(env.temp_files().is_empty());
}

/// Runs one sync that must fail one oversize download; checks that nothing of it is kept and
/// returns its stderr.
async fn sync_refusing(env: &Env, vars: &[(&str, &str)], id: &str) -> String {
    let out = env.run(env.mailroom_env(&["sync", "mailbox"], vars)).await;
    assert_eq!(out.status.code(), Some(3), "{}\n{}", stdout(&out), stderr(&out));
    assert!(env.archive_files().is_empty(), "{:?}", env.archive_files());
    assert!(env.temp_files().is_empty(), "{:?}", env.temp_files());
    assert!(!env.mailbox().await[id], "{id} marked handled");
    assert!(env.marked_by_api().await.is_empty());
    assert_eq!(env.db_states()[id], "seen");
    stderr(&out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_length_beyond_the_limit_is_refused_before_writing() {
    const EXTRA: u64 = 256 << 20;
    let env = Env::empty().await;
    let id = env.create(1, 30_000).await.remove(0);
    env.fault(json!({"office": "myepo", "kind": "oversize", "endpoint": "/file", "extra_bytes": EXTRA}))
        .await;
    let err = sync_refusing(&env, &[], &id).await;
    let want = format!(
        "download of {id} refused before writing: Content-Length {} bytes exceeds the listed size (30000 bytes)",
        30_000 + EXTRA
    );
    assert!(err.contains(&want), "{want}\n{err}");
    let sent = download_bytes(&env).await;
    assert!(
        sent < 32 << 20,
        "{sent} bytes were sent: the download was not cut short"
    );

    // A Content-Length above max_file_bytes (here within the listed size) is refused too.
    let env = Env::empty().await;
    let id = env.create(1, 30_000).await.remove(0);
    let err = sync_refusing(&env, &[("MAILROOM_MYEPO__MAX_FILE_BYTES", "20000")], &id).await;
    let want = format!(
        "download of {id} refused before writing: Content-Length 30000 bytes exceeds max_file_bytes (20000 bytes)"
    );
    assert!(err.contains(&want), "{want}\n{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_longer_than_the_limit_is_cut_off_while_streaming() {
    const EXTRA: u64 = 1 << 30;
    for (vars, limit) in [
        (&[][..], "the listed size (30000 bytes)"),
        (
            &[("MAILROOM_MYEPO__MAX_FILE_BYTES", "25000")][..],
            "max_file_bytes (25000 bytes)",
        ),
    ] {
        let env = Env::empty().await;
        let id = env.create(1, 30_000).await.remove(0);
        env.fault(json!({"office": "myepo", "kind": "endless", "endpoint": "/file", "extra_bytes": EXTRA}))
            .await;
        let err = sync_refusing(&env, vars, &id).await;
        let line = err
            .lines()
            .find(|l| l.contains(&format!("download of {id} cut off after")))
            .unwrap_or_else(|| panic!("no cut-off reported:\n{err}"));
        assert!(
            line.contains(&format!("bytes: the body passed {limit}")),
            "{line}"
        );
        let sent = download_bytes(&env).await;
        assert!(sent < 64 << 20, "{sent} of {EXTRA} extra bytes were sent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_communication_is_checked_and_rearchived_before_it_is_marked_again() {
    let env = Env::empty().await;
    let ids = env.create(3, 30_000).await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", stderr(&out));
    env.assert_all_done().await;
    let rec = recorded(&env);
    let path_of = |id: &str| rec[id][0].1.clone();
    let (missing, corrupt, intact) = (path_of(&ids[0]), path_of(&ids[1]), path_of(&ids[2]));
    std::fs::remove_file(env.archive_dir().join(&missing)).expect("delete");
    let mut bytes = std::fs::read(env.archive_dir().join(&corrupt)).expect("read");
    bytes[20_000] ^= 0xff;
    std::fs::write(env.archive_dir().join(&corrupt), bytes).expect("corrupt");

    let before = env.activity().await.len();
    env.post("/_sandbox/myepo/unhandled", json!({ "ids": ids })).await;
    assert!(env.mailbox().await.values().all(|h| !h), "re-opened");
    let out = env.sync().await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "archived file {missing} is missing; downloading it again"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("archived file {corrupt} has SHA-256")),
        "{err}"
    );
    assert!(!err.contains(&format!("archived file {intact}")), "{err}");

    let activity = env.activity().await;
    let after = &activity[before..];
    let seq = |action: &str, id: &str| {
        after
            .iter()
            .position(|a| a["action"] == action && a["communication_id"] == id && a["actor"] == "api")
    };
    for id in &ids[..2] {
        let (dl, mk) = (seq("DOWNLOADED", id), seq("MARKED_HANDLED", id));
        assert!(
            dl.is_some() && dl < mk,
            "{id}: downloaded again, then marked: {after:?}"
        );
    }
    assert_eq!(
        seq("DOWNLOADED", &ids[2]),
        None,
        "an intact file is not fetched again"
    );
    assert!(seq("MARKED_HANDLED", &ids[2]).is_some(), "{after:?}");
    assert_eq!(recorded(&env), rec, "the same files, paths and hashes as before");
    assert_every_document_archived(&env, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_profile_archives_every_document_of_one_and_two_file_communications() {
    let mut profiles: Vec<String> = MyepoProfile::NAMES.iter().map(|p| (*p).to_owned()).collect();
    profiles.extend(
        [
            "aliases+nested",
            "href+aliases+bare-array",
            "href+nested+mark-204",
            "no-total+mark-batch-error+flip-on-download",
        ]
        .map(str::to_owned),
    );
    for profile in &profiles {
        let env = Env::empty().await;
        set_profile(&env, profile).await;
        inject(&env, json!({"count": 3, "size": 20000})).await;
        inject(&env, json!({"count": 2, "size": 20000, "documents": 2})).await;
        let out = env
            .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__PAGE_SIZE", "2")]))
            .await;
        assert!(
            out.status.success(),
            "{profile}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let nested = profile.parse::<MyepoProfile>().expect("profile").nested;
        assert_eq!(
            env.archive_files().len(),
            7,
            "{profile}: {:?}",
            env.archive_files()
        );
        assert_every_document_archived(&env, nested).await;
    }
}
