//! "Say the truth": `mailroom config` shows every value with where it came from, nothing falls
//! back to defaults silently, messages carry each cause once and no escape sequences off a
//! terminal, `-vv` traces mailroom rather than the HTTP stack, and the demo leaves nothing that
//! points at a dead sandbox without saying so.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, stderr, stdout};
use serde_json::json;

/// The binary with an empty environment: no `MAILROOM_*` variable of the caller's leaks in.
fn mailroom() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    c.env_clear();
    c
}

/// Runs a command to completion; killed, and the test failed, after 120 s.
fn run(mut cmd: Command) -> Output {
    common::output_within(&mut cmd, Duration::from_secs(120))
}

/// Kills the child when the test ends, whatever happens.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The platform default the binary looks for when neither `--config` nor `$MAILROOM_CONFIG`
/// names a file.
const DEFAULT_CONFIG: &str = "/etc/mailroom/config.toml";

#[test]
fn config_shows_every_value_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mailroom.toml");
    std::fs::write(dir.path().join("myepo.secret"), "file-secret-value\n").unwrap();
    std::fs::write(
        &file,
        "[storage]\ndatabase = 'db/mailroom.sqlite3'\n\
         [myepo]\ntoken_url = 'http://127.0.0.1:9/token'\napi_base_url = 'http://127.0.0.1:9/myepo'\n\
         client_id = 'id'\nclient_secret_file = 'myepo.secret'\npage_size = 50\nmark_handled = false\n\
         [ops]\nconsumer_key = 'key'\nconsumer_secret = 'inline-secret-value'\n",
    )
    .unwrap();
    let mut cmd = mailroom();
    cmd.arg("--config")
        .arg(&file)
        .arg("config")
        .env("MAILROOM_MYEPO__PAGE_SIZE", "20");
    let o = run(cmd);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    let f = file.display();
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("# WARNING: marking handled at the EPO is OFF (mark_handled = false, from {f})"),
        "{out}"
    );
    let expected = [
        // from the file (a relative path resolved against the file's directory)
        format!(
            "database = \"{}\"  # from {f}",
            dir.path().join("db/mailroom.sqlite3").display()
        ),
        // the environment overrides the file
        "page_size = 20  # from MAILROOM_MYEPO__PAGE_SIZE".to_owned(),
        // nobody set it
        "batch_size = 50  # from default".to_owned(),
        "archive_dir = \"/var/lib/mailroom/archive\"  # from default".to_owned(),
        // secrets: redacted, with where they were read
        format!(
            "client_secret = \"[redacted]\"  # from the file {} (named by {f})",
            dir.path().join("myepo.secret").display()
        ),
        format!("consumer_secret = \"[redacted]\"  # from {f}"),
        "mark_handled = false  # from ".to_owned() + &f.to_string(),
        "# not configured (no [jpo] in the file, no MAILROOM_JPO__* variable): JP status (JPO) is off"
            .to_owned(),
    ];
    for line in &expected {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
    for secret in ["file-secret-value", "inline-secret-value"] {
        assert!(!out.contains(secret) && !err.contains(secret), "{secret} leaked");
    }
    let parsed: toml::Table = toml::from_str(&out).expect("the report is TOML");
    assert_eq!(parsed["myepo"]["page_size"].as_integer(), Some(20));
    assert!(
        err.contains(&format!(
            "mailroom: storage.archive_dir is not set in {f}; using the default /var/lib/mailroom/archive"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "mailroom: marking handled at the EPO is OFF (mark_handled = false, from {f})"
        )),
        "every command says so on stderr: {err}"
    );
}

#[test]
fn without_a_file_readers_say_so_and_writers_refuse() {
    if Path::new(DEFAULT_CONFIG).exists() {
        // Not an install step: a machine with mailroom installed has a file there.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED without_a_file_readers_say_so_and_writers_refuse: {DEFAULT_CONFIG} exists here"
        );
        return;
    }
    let state_existed = Path::new("/var/lib/mailroom").exists();
    let mut cmd = mailroom();
    cmd.arg("config");
    let o = run(cmd);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "mailroom: no configuration file at /etc/mailroom/config.toml (no --config, $MAILROOM_CONFIG not set); using the defaults and MAILROOM_* variables",
            "mailroom: storage.database is not set; using the default /var/lib/mailroom/mailroom.sqlite3",
            "mailroom: storage.archive_dir is not set; using the default /var/lib/mailroom/archive",
        ],
        "one line per fact"
    );

    for args in [
        &["sync", "mailbox"][..],
        &["sync", "status"],
        &["cases", "add", "EP 23 184 567.2"],
        &["cases", "remove", "EP 23 184 567.2"],
        &["cases", "import", "/nonexistent.csv"],
    ] {
        let mut cmd = mailroom();
        cmd.args(args);
        let o = run(cmd);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(78), "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        for part in [
            "mailroom: error: no configuration file at /etc/mailroom/config.toml",
            "config.example.toml",
            "mailroom sandbox --print-config",
        ] {
            assert!(last.contains(part), "{args:?}: {last:?} lacks {part:?}");
        }
    }
    if !state_existed {
        assert!(
            !Path::new("/var/lib/mailroom").exists(),
            "a refused command created the default state directory"
        );
    }
}

/// Mounts a read-only tmpfs; unmounts it when dropped.

#[tokio::test(flavor = "multi_thread")]
async fn a_cause_is_printed_once() {
    let env = Env::empty().await;
    let ro = env.dir.path().join("ro");
    let _mount = match common::Tmpfs::mount(&ro, "ro,size=1m") {
        Ok(m) => m,
        Err(why) => {
            common::skip_or_fail_on_ci("a_cause_is_printed_once", &why);
            return;
        }
    };
    let archive = ro.join("archive");
    let out = env
        .run(env.mailroom_env(
            &["sync", "mailbox"],
            &[("MAILROOM_STORAGE__ARCHIVE_DIR", archive.to_str().unwrap())],
        ))
        .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mailroom: error: ") && last.contains(&archive.display().to_string()),
        "{last}"
    );
    assert_eq!(
        last.matches("Read-only file system").count(),
        1,
        "the cause once: {last}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_before_anything_was_synced_says_so_and_creates_nothing() {
    let env = Env::empty().await;
    for args in [
        &["communications"][..],
        &["cases", "list"],
        &["changes"],
        &["export", "--format", "json"],
    ] {
        let out = env.run(env.mailroom(args)).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let last = stderr(&out).lines().last().unwrap_or_default().to_owned();
        assert!(
            last.contains("no database at") && last.contains("nothing has been synced"),
            "{args:?}: {last}"
        );
        assert!(
            !env.data_dir().exists(),
            "{args:?} created {}",
            env.data_dir().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_stderr_carries_no_escape_sequences() {
    let env = Env::empty().await;
    env.create(1, 1000).await;
    env.fault(json!({"office": "myepo", "kind": "status", "status": 503, "count": 100}))
        .await;
    let out = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__RETRIES", "1")]))
        .await;
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.lines().any(|l| l.contains("WARN") || l.contains("INFO")),
        "the run logs something: {err}"
    );
    assert!(
        !err.contains("\x1b["),
        "escape sequences in piped stderr: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn very_verbose_traces_mailroom_not_the_http_stack() {
    let env = Env::empty().await;
    env.create(1, 1000).await;
    let mut cmd = env.mailroom(&["-vv", "sync", "mailbox"]);
    cmd.env_remove("MAILROOM_LOG");
    let out = env.run(cmd).await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().any(|l| l.contains(" TRACE mailroom")),
        "no mailroom trace line: {err}"
    );
    for target in ["hyper", "reqwest", "h2::", "rustls"] {
        let noisy: Vec<&str> = err.lines().filter(|l| l.contains(target)).collect();
        assert!(noisy.is_empty(), "{target} lines at -vv: {noisy:#?}");
    }
}

#[test]
fn the_demo_says_where_its_cases_came_from_and_that_its_sandbox_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut cmd = mailroom();
    cmd.arg("demo").arg("--dir").arg(&demo);
    let o = run(cmd);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));

    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("The cases followed"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    let row = |case: &str| {
        table
            .iter()
            .find(|l| l.trim_start().starts_with(case))
            .unwrap_or_else(|| panic!("{case} not listed: {out}"))
            .to_string()
    };
    assert!(row("EP90000001").contains(" sandbox sample "), "{out}");
    assert!(
        table.iter().any(|l| l.contains(" mailbox ")),
        "a case from the mailbox: {out}"
    );
    assert_eq!(
        table.iter().filter(|l| l.contains(" sandbox sample ")).count(),
        3,
        "the JP design and trademark samples and the advanced EP case: {out}"
    );
    assert!(
        row("JP 2020-123456").contains(" family "),
        "the JP patent sample is found through EP23184567's family: {out}"
    );
    assert!(row("JP 2026-500123").contains(" pct "), "{out}");

    // The file it leaves says the sandbox is gone and how to start it again.
    let config = demo.join("mailroom.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let restart = text
        .lines()
        .find_map(|l| l.strip_prefix("#   mailroom sandbox "))
        .unwrap_or_else(|| panic!("no restart command in:\n{text}"));
    assert!(text.starts_with("# Written by `mailroom demo`"), "{text}");
    assert!(text.contains("it has\n# stopped"), "{text}");
    assert!(
        out.contains(&format!("  mailroom sandbox {restart}\n")),
        "the demo prints it too: {out}"
    );

    // Read-only commands work on the file without the sandbox.
    let mut cmd = mailroom();
    cmd.arg("--config").arg(&config).arg("communications");
    let o = run(cmd);
    assert!(o.status.success(), "{}", stderr(&o));

    // A job fails while the sandbox is down; started as the file says, the job runs.
    let mut cmd = mailroom();
    cmd.arg("--config")
        .arg(&config)
        .args(["sync", "mailbox"])
        .env("MAILROOM_MYEPO__RETRIES", "0");
    let o = run(cmd);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));

    let words: Vec<&str> = restart.split_whitespace().collect();
    let listen = words
        .windows(2)
        .find(|w| w[0] == "--listen")
        .map(|w| w[1].to_owned())
        .expect("--listen in the restart command");
    let sandbox = mailroom()
        .arg("sandbox")
        .args(&words)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sandbox as the file says");
    let _sandbox = Reaper(sandbox);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "the sandbox never listened on {listen}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut cmd = mailroom();
    cmd.arg("--config").arg(&config).args(["sync", "mailbox"]);
    let o = run(cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("0 unhandled at the EPO (0 new)"),
        "the restarted sandbox kept the demo's state: {}",
        stdout(&o)
    );
}
