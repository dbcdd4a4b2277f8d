//! Shared test harness: a sandbox on 127.0.0.1 with an OS-assigned port, a temporary data
//! directory with the matching mailroom configuration, the real `mailroom` binary, and checks
//! of the promises (nothing lost, nothing duplicated, nothing handled before it is archived).
//!
//! The checks compare the archive with the bytes the sandbox serves, fetched by the harness
//! itself over the B2B API, never with mailroom's own record alone: a file that matches a hash
//! mailroom computed from wrong bytes would otherwise pass.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod smtpd;

use mailroom_sandbox::{RunningSandbox, SandboxOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct Env {
    pub sandbox: RunningSandbox,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// SHA-256 of each document the sandbox served to the harness, by (communication id,
    /// position in its document list): the bytes are a pure function of the seed, so one
    /// download is enough.
    served: Mutex<BTreeMap<(String, usize), String>>,
}

impl Env {
    /// A sandbox with an empty mailbox (tests create what they need).
    pub async fn empty() -> Env {
        Env::start(SandboxOptions {
            seed_communications: 0,
            ..SandboxOptions::default()
        })
        .await
    }

    pub async fn start(opts: SandboxOptions) -> Env {
        let time_scale = opts.time_scale;
        let sandbox = mailroom_sandbox::spawn_local(opts).await.expect("sandbox starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let text =
            mailroom::config::sandbox_config_toml(&sandbox.urls(), &dir.path().join("data"), time_scale);
        std::fs::write(dir.path().join("mailroom.toml"), text).expect("write config");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Env {
            sandbox,
            dir,
            http,
            served: Mutex::default(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("mailroom.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir().join("archive")
    }

    /// The binary, configured for this sandbox, with quick retries so fault tests stay short.
    pub fn mailroom(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("--config").arg(self.config_path()).args(args);
        c.env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_FAILPOINT")
            .env_remove("RUST_LOG");
        c.env("MAILROOM_LOG", "info");
        c.env("MAILROOM_MYEPO__RETRY_BASE_DELAY_MS", "50");
        c.env("MAILROOM_OPS__RETRY_BASE_DELAY_MS", "50");
        c.env("MAILROOM_JPO__RETRY_BASE_DELAY_MS", "50");
        c
    }

    /// [`Env::mailroom`] with extra environment variables.
    pub fn mailroom_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut c = self.mailroom(args);
        c.envs(vars.iter().copied());
        c
    }

    /// Starts the binary in the background with its output captured.
    pub fn spawn(&self, mut cmd: Command) -> std::process::Child {
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn mailroom")
    }

    /// Waits off the async threads for a child from [`Env::spawn`]; killed (and the test
    /// failed) after 120 s.
    pub async fn finish(&self, child: std::process::Child) -> Output {
        tokio::task::spawn_blocking(move || wait_within(child, "mailroom", Duration::from_secs(120)))
            .await
            .expect("join")
    }

    /// Runs the binary to completion off the async threads; killed (and the test failed)
    /// after 120 s.
    pub async fn run(&self, mut cmd: Command) -> Output {
        tokio::task::spawn_blocking(move || output_within(&mut cmd, Duration::from_secs(120)))
            .await
            .expect("join")
    }

    pub async fn sync(&self) -> Output {
        self.run(self.mailroom(&["sync", "mailbox"])).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sandbox.base_url()))
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} {body}: {status} {v}");
        v
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.sandbox.base_url()))
            .send()
            .await
            .expect("get");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Creates `count` communications of `size` bytes; returns their ids.
    pub async fn create(&self, count: usize, size: u64) -> Vec<String> {
        let v = self
            .post(
                "/_sandbox/myepo/communications",
                json!({"count": count, "size": size}),
            )
            .await;
        v["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|i| i.as_str().expect("id").to_owned())
            .collect()
    }

    pub async fn fault(&self, body: Value) {
        self.post("/_sandbox/faults", body).await;
    }

    pub async fn activity(&self) -> Vec<Value> {
        self.get("/_sandbox/myepo/activity")
            .await
            .as_array()
            .cloned()
            .expect("activity array")
    }

    /// The sandbox's mailbox: id → handled.
    pub async fn mailbox(&self) -> BTreeMap<String, bool> {
        let v = self.get("/_sandbox/myepo/communications").await;
        let list = v
            .as_array()
            .or_else(|| v["communications"].as_array())
            .cloned()
            .expect("mailbox list");
        list.iter()
            .map(|c| {
                (
                    c["id"].as_str().expect("id").to_owned(),
                    c["handled"].as_bool().expect("handled"),
                )
            })
            .collect()
    }

    /// Ids the API (mailroom) marked handled, per the office's activity log.
    pub async fn marked_by_api(&self) -> BTreeSet<String> {
        self.activity()
            .await
            .iter()
            .filter(|a| a["action"] == "MARKED_HANDLED" && a["actor"] == "api")
            .map(|a| a["communication_id"].as_str().expect("id").to_owned())
            .collect()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join("mailroom.sqlite3")).expect("open db")
    }

    /// `(communication id, state)` of every row.
    pub fn db_states(&self) -> BTreeMap<String, String> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT id, state FROM communications")
            .expect("prepare");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    }

    /// `(communication id, path, sha256, size)` of every archived document.
    pub fn db_documents(&self) -> Vec<(String, String, String, u64)> {
        let db = self.db();
        let mut st = db
            .prepare("SELECT communication_id, path, sha256, size FROM documents")
            .expect("prepare");
        st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
    }

    /// Every document file in the archive (not sidecars, not temporary files).
    pub fn archive_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.archive_dir(), &mut out);
        out.retain(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.ends_with(".json") && !name.ends_with(".part")
        });
        out
    }

    pub fn temp_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.archive_dir(), &mut out);
        out.retain(|p| p.to_string_lossy().ends_with(".part"));
        out
    }

    /// The promise at any instant, even right after a crash: whatever the office shows as
    /// marked handled by mailroom is recorded as archived, and its files on disk hold the
    /// bytes the sandbox serves for it (and match the recorded hash and size). Returns how
    /// many marked communications it checked, so a caller can tell a real check from an
    /// empty one.
    pub async fn assert_nothing_handled_unarchived(&self) -> usize {
        let marked = self.marked_by_api().await;
        if marked.is_empty() {
            return 0;
        }
        let states = self.db_states();
        for id in &marked {
            let st = states.get(id).map(String::as_str);
            assert!(
                matches!(st, Some("archived" | "handled")),
                "{id} marked handled at the office but locally {st:?}"
            );
        }
        self.assert_archived_as_served(&marked).await;
        marked.len()
    }

    /// For each of `ids`: every recorded document file exists, matches its recorded hash and
    /// size, and the files together hold exactly the documents the sandbox serves for it.
    pub async fn assert_archived_as_served(&self, ids: &BTreeSet<String>) {
        let served = self.served_sha256(ids).await;
        let docs = self.db_documents();
        for id in ids {
            let mine: Vec<_> = docs.iter().filter(|d| &d.0 == id).collect();
            assert!(!mine.is_empty(), "{id} has no archived document");
            let mut on_disk = Vec::new();
            for (_, path, sha, size) in mine {
                let bytes = std::fs::read(self.archive_dir().join(path))
                    .unwrap_or_else(|e| panic!("{id}: {path}: {e}"));
                assert_eq!(bytes.len() as u64, *size, "{path}");
                let digest = hex(&Sha256::digest(&bytes));
                assert_eq!(&digest, sha, "{path} does not match its recorded hash");
                on_disk.push(digest);
            }
            on_disk.sort();
            let expected = served.get(id).cloned().unwrap_or_default();
            assert!(!expected.is_empty(), "the sandbox serves nothing for {id}");
            assert_eq!(
                on_disk, expected,
                "{id}: the archived files are not the documents the sandbox serves"
            );
        }
    }

    /// SHA-256 (hex, sorted) of the documents the sandbox serves for each of `ids`: every
    /// document of each, read from the scenario API, which streams the very bytes E2 serves
    /// without logging a download or setting a flag (so these checks never show up in a
    /// test's count of the office's downloads). Each answer is checked against the listed size
    /// and the PDF header.
    pub async fn served_sha256(&self, ids: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
        let listing = self.get("/_sandbox/myepo/communications").await;
        let mut wanted = Vec::new();
        for c in listing.as_array().expect("mailbox list") {
            let id = c["id"].as_str().expect("id");
            if !ids.contains(id) {
                continue;
            }
            for (position, d) in c["documents"].as_array().expect("documents").iter().enumerate() {
                let size = d["file_size"].as_u64().expect("file_size");
                wanted.push(((id.to_owned(), position), size));
            }
        }
        for (key, size) in wanted {
            if self.served.lock().expect("lock").contains_key(&key) {
                continue;
            }
            let (id, position) = &key;
            let mut url = url::Url::parse(&self.sandbox.base_url()).expect("base URL");
            url.path_segments_mut()
                .expect("a base URL with a path")
                .pop_if_empty()
                .extend(["_sandbox", "myepo", "communications", id, "documents"])
                .push(&position.to_string())
                .push("content");
            let answer = self.http.get(url.clone()).send().await.expect("content request");
            assert!(answer.status().is_success(), "GET {url}: {}", answer.status());
            let bytes = answer.bytes().await.expect("content body");
            assert!(
                bytes.len() as u64 == size && bytes.starts_with(b"%PDF-"),
                "{url}: {} bytes, listed {size}",
                bytes.len()
            );
            let digest = hex(&Sha256::digest(&bytes));
            self.served.lock().expect("lock").insert(key, digest);
        }
        let served = self.served.lock().expect("lock");
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ((id, _), digest) in served.iter().filter(|((id, _), _)| ids.contains(id)) {
            out.entry(id.clone()).or_default().push(digest.clone());
        }
        out.values_mut().for_each(|v| v.sort());
        out
    }

    /// The end state: every communication at the office is handled, archived exactly once
    /// with the bytes the sandbox serves, and every file matches its record; no temporary
    /// file is left. Returns how many communications mailroom itself marked handled (all
    /// checked).
    pub async fn assert_all_done(&self) -> usize {
        let mailbox = self.mailbox().await;
        let states = self.db_states();
        for (id, handled) in &mailbox {
            assert!(handled, "{id} is still unhandled at the office");
            assert_eq!(
                states.get(id).map(String::as_str),
                Some("handled"),
                "{id} locally"
            );
        }
        let docs = self.db_documents();
        let files = self.archive_files();
        assert_eq!(
            files.len(),
            docs.len(),
            "one file per recorded document: {files:?}"
        );
        let paths: BTreeSet<_> = docs.iter().map(|d| d.1.clone()).collect();
        assert_eq!(paths.len(), docs.len(), "no two documents share a path");
        let ids: BTreeSet<_> = docs.iter().map(|d| d.0.clone()).collect();
        assert_eq!(ids.len(), mailbox.len(), "every communication has its documents");
        self.assert_archived_as_served(&mailbox.keys().cloned().collect())
            .await;
        let marked = self.assert_nothing_handled_unarchived().await;
        assert!(
            self.temp_files().is_empty(),
            "temporary files left: {:?}",
            self.temp_files()
        );
        marked
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `cmd` to completion with its output captured; past `limit` it is killed and the test
/// fails, naming the command and showing what it printed so far.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let what = format!("{:?} {:?}", cmd.get_program(), cmd.get_args().collect::<Vec<_>>());
    wait_within(child, &what, limit)
}

/// Waits for a child started with piped stdout and stderr (e.g. by [`Env::spawn`]) and collects
/// its output; past `limit` it is killed and the test fails, naming `what`.
pub fn wait_within(mut child: std::process::Child, what: &str, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    let (tx, rx) = mpsc::channel();
    let readers = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for (n, pipe) in readers.into_iter().enumerate() {
        let tx = tx.clone();
        let mut pipe = pipe.expect("piped");
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((n, buf));
        });
    }
    drop(tx);
    let mut streams = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((n, buf)) => streams[n] = buf,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {limit:?}");
            }
        }
    }
    // Both pipes are closed: the process is exiting. Reaping it is bounded all the same.
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} closed its output but did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let [stdout, stderr] = streams;
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A test that cannot run here says so in the log as `SKIPPED <test>: <why>`; on CI
/// (`CI=true`), where the reason is a missing install step, it fails instead.
pub fn skip_or_fail_on_ci(test: &str, why: &str) {
    // Straight to the process's stderr: the test harness captures `eprintln!` of a passing
    // test, and a skip must show in the CI log.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} must run on CI: {why}"
    );
}

/// The exit status and both streams of a finished command, for assertion messages.
pub fn explain(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Runs `mailroom ARGS` (bounded), asserts it succeeded and returns its stdout.
pub async fn ok(env: &Env, args: &[&str]) -> String {
    let o = env.run(env.mailroom(args)).await;
    assert!(o.status.success(), "mailroom {args:?}: {}", explain(&o));
    stdout(&o)
}

/// `mailroom changes --json`, parsed.
pub async fn changes(env: &Env) -> Vec<Value> {
    let text = ok(env, &["changes", "--json"]).await;
    serde_json::from_str::<Value>(&text)
        .expect("changes --json is JSON")
        .as_array()
        .expect("an array")
        .clone()
}

/// `mailroom cases list --json`, parsed.
pub async fn cases(env: &Env) -> Vec<Value> {
    let text = ok(env, &["cases", "list", "--json"]).await;
    serde_json::from_str::<Value>(&text)
        .expect("cases list --json is JSON")
        .as_array()
        .expect("an array")
        .clone()
}

/// Answers the sandbox gave with `status` on routes containing `route`.
pub async fn answers(env: &Env, route: &str, status: &str) -> u64 {
    let stats = env.get("/_sandbox/stats").await;
    stats["endpoints"]
        .as_object()
        .expect("stats object")
        .iter()
        .filter(|(k, _)| k.contains(route))
        .map(|(_, v)| v["statuses"][status].as_u64().unwrap_or(0))
        .sum()
}

/// A small tmpfs mounted at `at` with `options` (e.g. `size=1m`, `ro,size=1m`), unmounted when
/// dropped. Needs root: the reason it cannot be had is the error.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, options: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = output_within(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", options, "tmpfs"])
                .arg(at),
            Duration::from_secs(30),
        );
        if !out.status.success() {
            return Err(format!("mount failed: {}", stderr(&out).trim()));
        }
        Ok(Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Adds `count` synthetic EP cases to the sandbox's Register; returns their application numbers.
pub async fn synthetic_ep(env: &Env, count: u32) -> Vec<String> {
    let v = env.post("/_sandbox/ops/cases", json!({ "count": count })).await;
    v["cases"]
        .as_array()
        .or_else(|| v.as_array())
        .expect("cases added")
        .iter()
        .map(|c| {
            c["application"]
                .as_str()
                .or_else(|| c.as_str())
                .expect("application number")
                .to_owned()
        })
        .collect()
}
