//! Shared test harness: a sandbox on 127.0.0.1 with an OS-assigned port, a temporary data
//! directory with the matching mailroom configuration, the real `mailroom` binary, and checks
//! of the promises (nothing lost, nothing duplicated, nothing handled before it is archived).

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use mailroom_sandbox::{RunningSandbox, SandboxOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct Env {
    pub sandbox: RunningSandbox,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
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
        Env { sandbox, dir, http }
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

    /// Runs the binary to completion (bounded: 120 s) off the async threads.
    pub async fn run(&self, mut cmd: Command) -> Output {
        let task = tokio::task::spawn_blocking(move || cmd.output().expect("run mailroom"));
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("mailroom finishes within 120 s")
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
    /// marked handled by mailroom is recorded as archived and its files on disk match the
    /// recorded hash and size.
    pub async fn assert_nothing_handled_unarchived(&self) {
        let marked = self.marked_by_api().await;
        if marked.is_empty() {
            return;
        }
        let states = self.db_states();
        let docs = self.db_documents();
        for id in &marked {
            let st = states.get(id).map(String::as_str);
            assert!(
                matches!(st, Some("archived" | "handled")),
                "{id} marked handled at the office but locally {st:?}"
            );
            let mine: Vec<_> = docs.iter().filter(|d| &d.0 == id).collect();
            assert!(
                !mine.is_empty(),
                "{id} marked handled without an archived document"
            );
            for (_, path, sha, size) in mine {
                let bytes = std::fs::read(self.archive_dir().join(path))
                    .unwrap_or_else(|e| panic!("{id}: {path}: {e}"));
                assert_eq!(bytes.len() as u64, *size, "{path}");
                assert_eq!(
                    &hex(&Sha256::digest(&bytes)),
                    sha,
                    "{path} does not match its recorded hash"
                );
            }
        }
    }

    /// The end state: every communication at the office is handled, archived exactly once,
    /// and every file matches its record; no temporary file is left.
    pub async fn assert_all_done(&self) {
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
        self.assert_nothing_handled_unarchived().await;
        assert!(
            self.temp_files().is_empty(),
            "temporary files left: {:?}",
            self.temp_files()
        );
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
