//! `mailroom check` through the binary against the sandbox: all green on the sandbox's own
//! configuration, and each broken part makes exactly its own line fail with a hint naming
//! what to fix, in the text and in `--json`, with exit status 1.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::smtpd::Smtpd;
use common::{Env, answers, explain, stdout};
use serde_json::Value;

/// One check's verdict as the text prints it: (status word, check, rest of the line).
fn lines(o: &Output) -> Vec<(String, String, String)> {
    let text = stdout(o);
    let mut all: Vec<&str> = text.lines().collect();
    let count = all.pop().unwrap_or_default();
    assert!(count.ends_with("skipped"), "the last line counts: {text}");
    all.iter()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let status = parts.next().unwrap_or_default().to_owned();
            let check = parts.next().unwrap_or_default().to_owned();
            (status, check, l.to_string())
        })
        .collect()
}

/// `mailroom check` and `mailroom check --json` with `vars`; asserts both give the same
/// verdicts and exit statuses, and returns the text's lines and the JSON array.
async fn check(env: &Env, vars: &[(&str, &str)]) -> (Output, Vec<(String, String, String)>, Vec<Value>) {
    let started = Instant::now();
    let text = env.run(env.mailroom_env(&["check"], vars)).await;
    let json = env.run(env.mailroom_env(&["check", "--json"], vars)).await;
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "two checks took {:?}",
        started.elapsed()
    );
    let parsed: Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("--json is JSON ({e}): {}", explain(&json)));
    let array = parsed.as_array().expect("an array").clone();
    let lines = lines(&text);
    assert_eq!(text.status.code(), json.status.code(), "{}", explain(&json));
    let from_json: Vec<(String, String)> = array
        .iter()
        .map(|v| {
            for key in ["check", "status", "detail", "hint"] {
                assert!(v.get(key).is_some(), "{key} in {v}");
            }
            (
                v["status"].as_str().expect("status").to_owned(),
                v["check"].as_str().expect("check").to_owned(),
            )
        })
        .collect();
    let from_text: Vec<(String, String)> = lines
        .iter()
        .map(|(s, c, _)| (s.to_lowercase(), c.clone()))
        .collect();
    assert_eq!(from_json, from_text, "the same verdicts");
    (text, lines, array)
}

/// Asserts that exactly `failing` failed, with a hint containing `hint` (text and JSON), and
/// the exit status is 1; returns the failing line.
async fn fails_only(env: &Env, vars: &[(&str, &str)], failing: &str, hint: &str) -> String {
    let (o, lines, json) = check(env, vars).await;
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let failed: Vec<&str> = lines
        .iter()
        .filter(|(s, _, _)| s == "FAIL")
        .map(|(_, c, _)| c.as_str())
        .collect();
    assert_eq!(failed, [failing], "{}", explain(&o));
    let line = lines
        .iter()
        .find(|(_, c, _)| c == failing)
        .map(|(_, _, l)| l.clone())
        .expect("the line");
    assert!(line.contains(" — fix: ") && line.contains(hint), "{line}");
    let v = json.iter().find(|v| v["check"] == failing).expect("in the JSON");
    assert_eq!(v["status"], "fail");
    assert!(v["hint"].as_str().is_some_and(|h| h.contains(hint)), "{v}");
    assert!(
        common::stderr(&o).contains(&format!("the {failing} check failed")),
        "{}",
        explain(&o)
    );
    line
}

/// A port on 127.0.0.1 that nobody listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The sandbox's configuration with `from` replaced by `to` (exactly once).
fn edit_config(env: &Env, from: &str, to: &str) {
    let text = std::fs::read_to_string(env.config_path()).expect("config");
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {text}");
    std::fs::write(env.config_path(), text.replacen(from, to, 1)).expect("write config");
}

fn append_config(env: &Env, more: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(env.config_path())
        .expect("config");
    f.write_all(more.as_bytes()).expect("append");
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[tokio::test]
async fn the_sandbox_configuration_is_all_green_and_the_check_changes_nothing() {
    let env = Env::empty().await;
    let (o, lines, json) = check(&env, &[]).await;
    assert!(o.status.success(), "{}", explain(&o));
    let verdicts: Vec<(&str, &str)> = lines.iter().map(|(s, c, _)| (s.as_str(), c.as_str())).collect();
    assert_eq!(
        verdicts,
        [
            ("ok", "myepo"),
            ("ok", "ops"),
            ("ok", "jpo"),
            ("skip", "email"),
            ("skip", "webhook"),
            ("ok", "database"),
            ("ok", "archive"),
            ("skip", "secrets"),
            ("ok", "lock"),
        ],
        "{}",
        explain(&o)
    );
    assert!(
        json.iter().all(|v| v["hint"].is_null()),
        "no hints without failures"
    );
    assert!(
        lines[5].2.contains("not created yet"),
        "no database before the first sync: {}",
        lines[5].2
    );
    assert!(
        !env.data_dir().join("mailroom.sqlite3").exists(),
        "the check creates no database"
    );
    // Two checks: one token and one listing of one item each at MyEPO, one Register request.
    assert_eq!(answers(&env, "communications", "200").await, 2);
    assert_eq!(answers(&env, "register", "200").await, 2);

    let sync = env.sync().await;
    assert!(sync.status.success(), "{}", explain(&sync));
    let (o, lines, _) = check(&env, &[]).await;
    assert!(o.status.success(), "{}", explain(&o));
    assert!(lines[5].2.contains("schema 7, takes a write"), "{}", lines[5].2);
    let db = env.db();
    let probe: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'mailroom_check_probe'",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(probe, 0, "the write was rolled back");
    assert!(env.temp_files().is_empty(), "no file left in the spool");
}

#[tokio::test]
async fn a_wrong_myepo_secret_fails_the_myepo_line_naming_the_secret() {
    let env = Env::empty().await;
    let line = fails_only(
        &env,
        &[("MAILROOM_MYEPO__CLIENT_SECRET", "wrong")],
        "myepo",
        "myepo.client_secret",
    )
    .await;
    assert!(line.contains("refused the client id and secret"), "{line}");
    assert!(!line.contains("wrong"), "the secret is not printed: {line}");
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_failure_not_an_unreachable_host() {
    let env = Env::empty().await;
    let api = env
        .sandbox
        .urls()
        .myepo_api_base
        .replacen("http://", "https://", 1);
    let line = fails_only(
        &env,
        &[("MAILROOM_MYEPO__API_BASE_URL", api.as_str())],
        "myepo",
        "myepo.api_base_url",
    )
    .await;
    assert!(line.contains("TLS with https://127.0.0.1:"), "{line}");
}

#[tokio::test]
async fn a_closed_ops_port_fails_the_ops_line_naming_the_base_url() {
    let env = Env::empty().await;
    let base = format!("http://127.0.0.1:{}/3.2", closed_port());
    let line = fails_only(
        &env,
        &[("MAILROOM_OPS__BASE_URL", base.as_str())],
        "ops",
        "ops.base_url",
    )
    .await;
    assert!(line.contains("Connection refused"), "{line}");
}

#[tokio::test]
async fn a_file_where_the_archive_should_be_fails_the_archive_line() {
    let env = Env::empty().await;
    let file = env.dir.path().join("not-a-directory");
    std::fs::write(&file, "x").expect("write");
    let line = fails_only(
        &env,
        &[("MAILROOM_STORAGE__ARCHIVE_DIR", file.to_str().expect("utf-8"))],
        "archive",
        "storage.archive_dir",
    )
    .await;
    assert!(line.contains("not a directory"), "{line}");
}

#[tokio::test]
async fn a_read_only_archive_filesystem_fails_the_archive_line() {
    let env = Env::empty().await;
    let at = env.dir.path().join("ro");
    let _mount = match common::Tmpfs::mount(&at, "ro,size=1m") {
        Ok(m) => m,
        Err(why) => {
            return common::skip_or_fail_on_ci("a_read_only_archive_filesystem_fails_the_archive_line", &why);
        }
    };
    let line = fails_only(
        &env,
        &[("MAILROOM_STORAGE__ARCHIVE_DIR", at.to_str().expect("utf-8"))],
        "archive",
        "storage.archive_dir",
    )
    .await;
    assert!(line.contains("Read-only file system"), "{line}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_world_readable_secret_file_fails_its_line_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::empty().await;
    let secret = env.dir.path().join("myepo.secret");
    std::fs::write(
        &secret,
        format!("{}\n", mailroom_sandbox::credentials::MYEPO_CLIENT_SECRET),
    )
    .expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    edit_config(
        &env,
        &format!(
            "client_secret = {}",
            toml_string(mailroom_sandbox::credentials::MYEPO_CLIENT_SECRET)
        ),
        &format!(
            "client_secret_file = {}",
            toml_string(secret.to_str().expect("utf-8"))
        ),
    );
    let (o, lines, _) = check(&env, &[]).await;
    assert!(o.status.success(), "mode 0600 is fine: {}", explain(&o));
    let line = &lines
        .iter()
        .find(|(_, c, _)| c == "secret:myepo.client_secret")
        .expect("a line for the secret file")
        .2;
    assert!(line.starts_with("ok") && line.contains("mode 0600"), "{line}");

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let line = fails_only(
        &env,
        &[],
        "secret:myepo.client_secret",
        &format!("chmod 600 {}", secret.display()),
    )
    .await;
    assert!(line.contains("mode 0644"), "{line}");
}

/// `tests/support/smtpd.py` without STARTTLS (so `tls = "none"` on loopback), requiring a
/// login as `mailroom` with `password`.
fn start_smtpd(dir: &Path, password: &str) -> Result<Smtpd, String> {
    if let Some(why) = common::smtpd::missing() {
        return Err(why);
    }
    let password_file = dir.join("smtp.password");
    std::fs::write(&password_file, password).map_err(|e| e.to_string())?;
    let maildir = dir.join("maildir");
    let args: [&std::ffi::OsStr; 11] = [
        "--maildir".as_ref(),
        maildir.as_os_str(),
        "--user".as_ref(),
        "mailroom".as_ref(),
        "--no-starttls".as_ref(),
        "--cert".as_ref(),
        "-".as_ref(),
        "--key".as_ref(),
        "-".as_ref(),
        "--password-file".as_ref(),
        password_file.as_os_str(),
    ];
    Smtpd::spawn(args, Stdio::inherit())
}

#[tokio::test]
async fn smtp_logs_in_without_sending_and_a_stopped_server_fails_the_email_line() {
    let env = Env::empty().await;
    let mut smtpd = match start_smtpd(env.dir.path(), "smtp-pass") {
        Ok(s) => s,
        Err(why) => {
            return common::skip_or_fail_on_ci(
                "smtp_logs_in_without_sending_and_a_stopped_server_fails_the_email_line",
                &why,
            );
        }
    };
    let port = smtpd.port;
    append_config(
        &env,
        &format!(
            "\n[notify.email]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"mailroom\"\n\
             from = \"mailroom@firm.example\"\nto = \"formalities@firm.example\"\n"
        ),
    );
    let password = [("MAILROOM_NOTIFY__EMAIL__PASSWORD", "smtp-pass")];
    let (o, lines, _) = check(&env, &password).await;
    assert!(o.status.success(), "{}", explain(&o));
    let line = &lines.iter().find(|(_, c, _)| c == "email").expect("email").2;
    assert!(
        line.starts_with("ok") && line.contains("logged in as \"mailroom\"") && line.contains("no mail sent"),
        "{line}"
    );
    let new = env.dir.path().join("maildir/new");
    assert_eq!(
        std::fs::read_dir(&new).map(|d| d.count()).unwrap_or(0),
        0,
        "no mail reached the server"
    );

    let line = fails_only(
        &env,
        &[("MAILROOM_NOTIFY__EMAIL__PASSWORD", "wrong-pass")],
        "email",
        "notify.email.username / password",
    )
    .await;
    assert!(line.contains("refused the login"), "{line}");
    assert!(!line.contains("wrong-pass"), "{line}");

    smtpd.stop();
    let line = fails_only(&env, &password, "email", "notify.email.host, port").await;
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

#[tokio::test]
async fn webhooks_are_named_never_shown_and_a_dead_one_fails_its_line() {
    let env = Env::empty().await;
    let up = format!("{}/hook?sig=UP-SECRET", env.sandbox.base_url());
    let down = format!("http://127.0.0.1:{}/hook?sig=DOWN-SECRET", closed_port());
    append_config(
        &env,
        &format!(
            "\n[[notify.webhook]]\nname = \"up\"\nurl = {}\nformat = \"json\"\n\
             \n[[notify.webhook]]\nname = \"down\"\nurl = {}\nformat = \"json\"\n",
            toml_string(&up),
            toml_string(&down)
        ),
    );
    let line = fails_only(&env, &[], "webhook:down", "\"down\"").await;
    assert!(line.contains("cannot connect"), "{line}");
    let (o, lines, _) = check(&env, &[]).await;
    let up_line = &lines.iter().find(|(_, c, _)| c == "webhook:up").expect("up").2;
    assert!(up_line.starts_with("ok") && up_line.contains("HTTP"), "{up_line}");
    let all = format!("{}{}", stdout(&o), common::stderr(&o));
    for secret in ["SECRET", "/hook"] {
        assert!(!all.contains(secret), "{secret} printed: {all}");
    }
}

#[tokio::test]
async fn a_held_lock_fails_the_lock_line_naming_the_holder() {
    let env = Env::empty().await;
    let held = mailroom::lock::acquire(&env.data_dir(), Duration::ZERO)
        .await
        .expect("the test takes the lock");
    let line = fails_only(&env, &[], "lock", "another mailroom is running (the daemon?)").await;
    assert!(line.contains(&format!("pid {}", std::process::id())), "{line}");
    drop(held);
    let (o, _, _) = check(&env, &[]).await;
    assert!(o.status.success(), "free again: {}", explain(&o));
}
