//! Logs through the real binary: journal priorities when stderr is the journal, JSON lines,
//! rolling files that hold the last line even after an error, and no secret in any of them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use base64::Engine;
use common::{Env, explain, stderr};
use mailroom_sandbox::SandboxOptions;

const LIMIT: Duration = Duration::from_secs(120);

/// Whether `line` holds an RFC 3339 timestamp (`2025-01-31T…`), as tracing writes them.
fn has_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(11).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            _ => c.is_ascii_digit(),
        })
    })
}

/// Runs `cmd` with its stderr written to `file` (created, or truncated in place so its inode
/// stays), stdout discarded; killed and failed after [`LIMIT`].
async fn run_with_stderr_file(mut cmd: Command, file: &Path) -> ExitStatus {
    let err = std::fs::File::create(file).unwrap();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawn mailroom");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mailroom did not finish within {LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await
    .expect("join")
}

/// `device:inode` of a file, as systemd writes `$JOURNAL_STREAM`.
fn dev_ino(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.dev(), m.ino())
}

async fn seeded() -> Env {
    Env::start(SandboxOptions {
        seed_communications: 5,
        ..SandboxOptions::default()
    })
    .await
}

/// Under the journal every line starts with its syslog priority and carries no timestamp of
/// ours; with a `$JOURNAL_STREAM` that names another file (stderr redirected by whoever
/// started us) the lines are the usual ones.
#[tokio::test]
async fn journal_lines_carry_priorities_and_no_timestamps() {
    let env = seeded().await;
    let file = env.dir.path().join("journal.stderr");
    std::fs::write(&file, "").unwrap();
    let (dev, ino) = dev_ino(&file);
    let journal = format!("{dev}:{ino}");
    let vars = [("JOURNAL_STREAM", journal.as_str()), ("MAILROOM_LOG", "")];
    let status = run_with_stderr_file(env.mailroom_env(&["-vv", "sync", "mailbox"], &vars), &file).await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(status.success(), "{status:?}\n{text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() >= 3, "{text}");
    for line in &lines {
        let ok = ["<3>", "<4>", "<6>", "<7>"].iter().any(|p| line.starts_with(p));
        assert!(ok, "no priority prefix: {line}");
        assert!(!has_timestamp(line), "a timestamp under the journal: {line}");
    }
    assert!(lines.iter().any(|l| l.starts_with("<6>")), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("<7>")),
        "-vv gives debug and trace lines: {text}"
    );

    // The same variable, but stderr is another file: not the journal.
    let other = env.dir.path().join("redirected.stderr");
    let status = run_with_stderr_file(env.mailroom_env(&["-vv", "sync", "mailbox"], &vars), &other).await;
    let text = std::fs::read_to_string(&other).unwrap();
    assert!(status.success(), "{status:?}\n{text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "{text}");
    for line in &lines {
        assert!(
            !line.starts_with('<'),
            "a priority prefix off the journal: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| has_timestamp(l)),
        "no timestamp off the journal: {text}"
    );
}

#[tokio::test]
async fn json_lines_parse_as_json() {
    let env = seeded().await;
    let out = env
        .run(env.mailroom_env(
            &["--log-format", "json", "-vv", "sync", "mailbox"],
            &[("MAILROOM_LOG", "")],
        ))
        .await;
    assert!(out.status.success(), "{}", explain(&out));
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() >= 3, "{text}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
        assert!(v["fields"].is_object(), "{line}");
    }
    assert!(lines.iter().any(|l| l.contains("\"level\":\"TRACE\"")), "{text}");
}

/// The one log file in `dir`, its lines.
fn log_file_lines(dir: &Path) -> Vec<String> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("mailroom.") && name.ends_with(".log"), "{name}");
    std::fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// What a text log line says after its timestamp.
fn after_timestamp(line: &str) -> &str {
    line.split_once(' ').map_or(line, |(_, rest)| rest.trim_start())
}

#[tokio::test]
async fn log_files_hold_every_line_also_after_an_error() {
    let env = seeded().await;
    let logs = env.dir.path().join("logs");
    let dir_var = logs.display().to_string();
    let out = env
        .run(env.mailroom_env(
            &["-vv", "sync", "mailbox"],
            &[("MAILROOM_LOG", ""), ("MAILROOM_LOG__DIR", &dir_var)],
        ))
        .await;
    assert!(out.status.success(), "{}", explain(&out));
    let file = log_file_lines(&logs);
    let err = stderr(&out);
    let shown: Vec<&str> = err.lines().filter(|l| has_timestamp(l)).collect();
    assert!(shown.len() >= 2, "{err}");
    for line in &shown {
        assert!(
            file.iter().any(|f| after_timestamp(f) == after_timestamp(line)),
            "not in the log file: {line}\n{file:#?}"
        );
    }

    // An office that cannot be reached: exit 1, and the file ends with the error line. The
    // line is the last thing the process logs before it exits, so without the flush at exit
    // it is lost most of the time; five runs make a lucky pass unlikely.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let token_url = format!("http://127.0.0.1:{port}/token");
    for run in 1..=5 {
        let out = env
            .run(env.mailroom_env(
                &["sync", "mailbox"],
                &[
                    ("MAILROOM_LOG__DIR", &dir_var),
                    ("MAILROOM_MYEPO__TOKEN_URL", &token_url),
                    ("MAILROOM_MYEPO__RETRIES", "0"),
                ],
            ))
            .await;
        assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
        let err = stderr(&out);
        let error_line = err
            .lines()
            .find(|l| l.starts_with("mailroom: error: "))
            .unwrap_or_else(|| panic!("no error line: {err}"));
        let file = log_file_lines(&logs);
        let last = file.last().expect("lines");
        assert!(
            last.contains(" ERROR ") && last.ends_with(error_line),
            "{last}\n{error_line}"
        );
        let errors = file.iter().filter(|l| l.contains(" mailroom: error: ")).count();
        assert_eq!(errors, run, "run {run}: the error lines in the file");
    }
}

#[tokio::test]
async fn a_log_dir_that_cannot_be_created_is_a_config_error() {
    let env = Env::empty().await;
    let blocker = env.dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let dir = blocker.join("logs").display().to_string();
    let out = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_LOG__DIR", &dir)]))
        .await;
    assert_eq!(out.status.code(), Some(78), "{}", explain(&out));
    assert!(
        stderr(&out).contains("mailroom: error: log.dir: cannot create "),
        "{}",
        explain(&out)
    );
}

/// Every form a secret could take on the wire or in a message: as written, URL-encoded, and
/// inside an HTTP Basic credential.
fn forms(secrets: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (what, s) in secrets {
        all.push(((*what).to_owned(), (*s).to_owned()));
        let encoded = url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        if encoded != *s {
            all.push((format!("{what} (URL-encoded)"), encoded));
        }
    }
    for (id, secret) in [
        (
            mailroom_sandbox::credentials::MYEPO_CLIENT_ID,
            mailroom_sandbox::credentials::MYEPO_CLIENT_SECRET,
        ),
        (
            mailroom_sandbox::credentials::OPS_CONSUMER_KEY,
            mailroom_sandbox::credentials::OPS_CONSUMER_SECRET,
        ),
    ] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        all.push((format!("Basic credential of {id}"), basic));
    }
    all
}

fn assert_no_secret(what: &str, text: &str, secrets: &[(String, String)]) {
    for (name, s) in secrets {
        if let Some(at) = text.find(s.as_str()) {
            let line = text[..at].rsplit('\n').next().unwrap_or_default();
            panic!("{what}: {name} in the logs, in the line starting: {line}");
        }
    }
}

/// Reads every file under `dir` (the log files).
fn files_text(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return String::new();
    };
    entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

const SMTP_PASSWORD: &str = "smtp-Pa55word-not-for-logs";
const WEBHOOK_SIGNATURE: &str = "sig-0123456789abcdef-not-for-logs";
const WEBHOOK_HEADER: &str = "Bearer header-token-not-for-logs";

/// A full demo and a mailbox and status cycle at trace level, with an SMTP server that is not
/// there and a webhook that answers 500 (so the failure paths log too): no configured secret
/// appears on stderr or in the log files.
#[tokio::test]
async fn no_secret_reaches_any_log_line() {
    use mailroom_sandbox::credentials as c;
    let secrets = forms(&[
        ("the MyEPO client secret", c::MYEPO_CLIENT_SECRET),
        ("the OPS consumer secret", c::OPS_CONSUMER_SECRET),
        ("the JPO password", c::JPO_PASSWORD),
        ("the SMTP password", SMTP_PASSWORD),
        ("the webhook signature", WEBHOOK_SIGNATURE),
        ("the webhook header", WEBHOOK_HEADER),
        ("the webhook header token", "header-token-not-for-logs"),
    ]);

    let demo_dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    demo.args(["-vv", "demo", "--dir"])
        .arg(demo_dir.path().join("demo"))
        .env_remove("MAILROOM_LOG")
        .env_remove("RUST_LOG")
        .env_remove("MAILROOM_CONFIG");
    let out = tokio::task::spawn_blocking(move || common::output_within(&mut demo, LIMIT))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", explain(&out));
    let demo_log = stderr(&out);
    assert!(
        demo_log.lines().any(|l| l.contains("DEBUG")),
        "-vv gives debug lines: {demo_log}"
    );
    assert_no_secret("demo", &demo_log, &secrets);

    // A webhook that refuses everything, and an SMTP port nobody listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    let app = Router::new().fallback(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "no") });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = closed.local_addr().unwrap().port();
    drop(closed);

    let env = seeded().await;
    let mut config = std::fs::read_to_string(env.config_path()).unwrap();
    config.push_str(&format!(
        r#"
[notify.email]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
username = "mailroom"
password = "{SMTP_PASSWORD}"
from = "mailroom@firm.example"
to = ["formalities@firm.example"]

[[notify.webhook]]
name = "teams"
format = "json"
url = "http://{hook}/workflows/run?api-version=1&sig={WEBHOOK_SIGNATURE}"
headers = {{ Authorization = "{WEBHOOK_HEADER}" }}
"#
    ));
    std::fs::write(env.config_path(), config).unwrap();
    let logs = env.dir.path().join("logs");
    let dir_var = logs.display().to_string();
    let mut seen = 0;
    for job in ["mailbox", "status"] {
        let out: Output = env
            .run(env.mailroom_env(
                &["-vv", "sync", job],
                &[
                    ("MAILROOM_LOG", ""),
                    ("MAILROOM_LOG__DIR", &dir_var),
                    ("MAILROOM_NOTIFY__ATTEMPTS_PER_DRAIN", "1"),
                ],
            ))
            .await;
        assert!(out.status.success(), "{}", explain(&out));
        let text = stderr(&out);
        assert!(
            text.lines().any(|l| l.contains("TRACE")),
            "-vv gives trace lines: {text}"
        );
        assert!(
            text.contains("teams"),
            "the failing webhook is logged by its name: {text}"
        );
        assert_no_secret(&format!("sync {job}"), &text, &secrets);
        seen += text.lines().filter(|l| has_timestamp(l)).count();
    }
    let files = files_text(&logs);
    assert!(
        files.lines().count() >= seen,
        "the files hold every log line: {files}"
    );
    assert_no_secret("the log files", &files, &secrets);
}
