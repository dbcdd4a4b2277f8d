//! `mailroom check`: proves that the configuration and every enabled part work.
//!
//! The admin runs it after filling in the configuration, to learn in one command whether
//! everything works and what exactly to fix: one line per check, `ok`, `FAIL` (with the
//! configuration key or file to fix) or `skip` (a part that is not configured), or a JSON
//! array of `{check, status, detail, hint}` with `--json`; exit status 1 when anything failed.
//!
//! Every check is bounded ([`BOUND`]) and the network ones run at once. Nothing is sent that
//! has an effect: no mail (SMTP connects, logs in and quits), no webhook POST (a `HEAD`), one
//! MyEPO listing of one item, one OPS Register request, a JPO login without an API call (each
//! JPO call counts against a daily cap). The database and the archive are probed without
//! creating, migrating or opening them as a writer would (the check takes no lock: the daemon
//! may be at work), and the state lock is only tried, and let go at once.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::archive::Archive;
use crate::config::{self, Config, Origin, Origins, Transport};
use crate::lock::{self, LockError};
use crate::notify::SetupError;
use crate::notify::email::Mailer;
use crate::notify::webhook;
use crate::offices::http::{self, HttpFailure};
use crate::offices::jpo::{JpoClient, JpoError};
use crate::offices::myepo::{self, Listing, MyepoError};
use crate::offices::ops::{OpsClient, OpsError};
use crate::store::{self, StoreError};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON instead of one line per check
    #[arg(long)]
    json: bool,
}

/// How long one check may take: a host that drops packets must not hang the admin's shell.
const BOUND: Duration = Duration::from_secs(20);

/// Less free space than this on the archive's filesystem fails: a day's mail of a busy firm
/// fits many times over, a large file does not fit much below it.
const MIN_FREE: u64 = 1 << 30;

/// The EP publication asked for at OPS: a real one (its Register dossier is one of the
/// recorded samples the sandbox serves). An office that does not know it still answered.
const OPS_PROBE: &str = "EP2400812";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Fail,
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// The verdict of one check, as printed and as the JSON element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Outcome {
    check: String,
    status: Status,
    detail: String,
    /// What to fix (a configuration key, a file, a command); only with a failure.
    hint: Option<String>,
}

impl Outcome {
    fn ok(check: &str, detail: impl Into<String>) -> Outcome {
        Outcome {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    fn fail(check: &str, detail: impl Into<String>, hint: impl Into<String>) -> Outcome {
        Outcome {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    fn skip(check: &str, detail: impl Into<String>) -> Outcome {
        Outcome {
            check: check.into(),
            status: Status::Skip,
            detail: detail.into(),
            hint: None,
        }
    }
}

pub async fn run(args: Args, cfg: &Config) -> Result<(), super::Failure> {
    let (myepo, ops, jpo, email, webhooks, database, archive) = tokio::join!(
        bounded(
            "myepo",
            "myepo.api_base_url, myepo.token_url and the network",
            myepo(cfg.myepo.as_ref())
        ),
        bounded("ops", "ops.base_url and the network", ops(cfg.ops.as_ref())),
        bounded("jpo", "jpo.token_url and the network", jpo(cfg.jpo.as_ref())),
        bounded(
            "email",
            "notify.email.host, port and the network",
            email(&cfg.notify)
        ),
        webhooks(&cfg.notify.webhooks),
        bounded(
            "database",
            "storage.database",
            database(cfg.storage.database.clone())
        ),
        bounded(
            "archive",
            "storage.archive_dir",
            archive(cfg.storage.archive_dir.clone())
        ),
    );
    // After the archive's check, which may create the state directory the lock lives in.
    let lock = bounded("lock", "storage.database", state_lock(&cfg.storage.database)).await;
    let mut outcomes = vec![myepo, ops, jpo, email];
    outcomes.extend(webhooks);
    outcomes.extend([database, archive]);
    outcomes.extend(secret_files(&cfg.origins));
    outcomes.push(lock);
    let text = if args.json {
        serde_json::to_string_pretty(&outcomes).map_err(anyhow::Error::new)? + "\n"
    } else {
        render(&outcomes)
    };
    super::print_stdout(&text)?;
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status == Status::Fail)
        .map(|o| o.check.as_str())
        .collect();
    match failed.as_slice() {
        [] => Ok(()),
        [one] => Err(super::Failure::with_code(
            1,
            anyhow::anyhow!("the {one} check failed"),
        )),
        many => Err(super::Failure::with_code(
            1,
            anyhow::anyhow!("{} checks failed: {}", many.len(), many.join(", ")),
        )),
    }
}

/// `check` within [`BOUND`], or a failure saying it did not finish (with `hint`).
async fn bounded(check: &str, hint: &str, f: impl Future<Output = Outcome>) -> Outcome {
    match tokio::time::timeout(BOUND, f).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::fail(
            check,
            format!("no answer within {} s", BOUND.as_secs()),
            format!("{hint} (a firewall dropping the packets?)"),
        ),
    }
}

/// One line per check (`ok`/`FAIL`/`skip`, the check, what was found, then what to fix),
/// and a count.
fn render(outcomes: &[Outcome]) -> String {
    let width = outcomes.iter().map(|o| o.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for o in outcomes {
        let _ = write!(out, "{:<4}  {:<width$}  {}", o.status.word(), o.check, o.detail);
        if let Some(hint) = &o.hint {
            let _ = write!(out, " — fix: {hint}");
        }
        out.push('\n');
    }
    let count = |s| outcomes.iter().filter(|o| o.status == s).count();
    let _ = writeln!(
        out,
        "{} ok, {} failed, {} skipped",
        count(Status::Ok),
        count(Status::Fail),
        count(Status::Skip)
    );
    out
}

/// A request that got no answer from `url` (the value of `key`): a TLS failure, a timeout,
/// no connection, or something else on the way.
fn link_failure(check: &str, key: &str, url: &url::Url, e: &reqwest::Error) -> Outcome {
    let at = url.origin().ascii_serialization();
    if let Some(tls) = http::tls_failure(e) {
        return Outcome::fail(
            check,
            format!("TLS with {at} failed: {tls}"),
            format!("{key} (https only to a server that speaks TLS, with a certificate the system trusts)"),
        );
    }
    if e.is_timeout() {
        return Outcome::fail(
            check,
            format!("no answer from {at} in time"),
            format!("{key} and the network (a firewall dropping the packets?)"),
        );
    }
    if e.is_connect() {
        return Outcome::fail(
            check,
            format!("cannot connect to {at}: {}", http::root_cause(e)),
            format!("{key} and the network"),
        );
    }
    Outcome::fail(
        check,
        format!("{at}: {}", http::chain(e)),
        format!("{key} and the network"),
    )
}

/// An office answered with a failure that is its own (5xx, 429): nothing to fix here.
fn office_failing(check: &str, f: &HttpFailure) -> Outcome {
    Outcome::fail(
        check,
        format!("the office is failing: {f}"),
        "nothing in the configuration: try again later (the office's status page may say more)",
    )
}

async fn myepo(settings: Option<&config::Myepo>) -> Outcome {
    const CHECK: &str = "myepo";
    let Some(cfg) = settings else {
        return Outcome::skip(CHECK, "not configured (no [myepo], or enabled = false)");
    };
    let mut probe = cfg.clone();
    probe.page_size = 1;
    probe.retries = 0;
    probe.read_timeout = probe.read_timeout.min(BOUND);
    let client = match myepo::Client::new(&probe) {
        Ok(c) => c,
        Err(e) => return myepo_failure(cfg, &e),
    };
    let mut waiting = 0;
    let listing = Listing {
        handled: false,
        dispatched_from: None,
    };
    let listed = client
        .list_pages(listing, async |page| {
            waiting = page.len();
            false
        })
        .await;
    match listed {
        Ok(()) => Outcome::ok(
            CHECK,
            format!(
                "signed in as {:?}; the mailbox lists ({})",
                cfg.client_id,
                if waiting == 0 {
                    "nothing unhandled"
                } else {
                    "unhandled communications waiting"
                }
            ),
        ),
        Err(e) => myepo_failure(cfg, &e),
    }
}

/// What a failed MyEPO token request or listing says to fix.
fn myepo_failure(cfg: &config::Myepo, e: &MyepoError) -> Outcome {
    const CHECK: &str = "myepo";
    match e {
        MyepoError::Token(f) if f.detail.as_deref().is_some_and(|d| d.contains("invalid_scope")) => {
            Outcome::fail(
                CHECK,
                format!("the token endpoint refused the scope: {f}"),
                "myepo.scope",
            )
        }
        MyepoError::Token(f) if matches!(f.status, 400 | 401 | 403) => Outcome::fail(
            CHECK,
            format!(
                "the token endpoint refused the client id and secret (HTTP {}{})",
                f.status,
                http::spaced(&f.detail)
            ),
            "myepo.client_id / myepo.client_secret (and myepo.auth_method: basic or post)",
        ),
        MyepoError::Token(f) if f.status == 404 => Outcome::fail(
            CHECK,
            format!("no token endpoint at {} (HTTP 404)", cfg.token_url),
            "myepo.token_url",
        ),
        MyepoError::Token(f) | MyepoError::Http(f) if f.is_transient() => office_failing(CHECK, f),
        MyepoError::Token(f) => Outcome::fail(CHECK, f.to_string(), "myepo.token_url"),
        MyepoError::TokenAnswer(_) => Outcome::fail(
            CHECK,
            e.to_string(),
            "myepo.token_url (it does not answer as an OAuth token endpoint)",
        ),
        MyepoError::Unauthorized(_) => Outcome::fail(
            CHECK,
            e.to_string(),
            "myepo.scope, and the API client's rights in MyEPO",
        ),
        MyepoError::Http(f) if f.status == 403 => Outcome::fail(
            CHECK,
            format!("signed in, but the mailbox is refused: {f}"),
            format!(
                "give the API client {:?} (myepo.client_id) the Mailbox right in MyEPO",
                cfg.client_id
            ),
        ),
        MyepoError::Http(f) if f.status == 404 => Outcome::fail(
            CHECK,
            format!("no Mailbox API at {} (HTTP 404)", cfg.api_base_url),
            "myepo.api_base_url",
        ),
        MyepoError::Transport { cause, .. } => {
            let at_token = cause
                .url()
                .is_some_and(|u| u.origin() == cfg.token_url.origin() && u.path() == cfg.token_url.path());
            if at_token {
                link_failure(CHECK, "myepo.token_url", &cfg.token_url, cause)
            } else {
                link_failure(CHECK, "myepo.api_base_url", &cfg.api_base_url, cause)
            }
        }
        MyepoError::Decode { .. } => Outcome::fail(
            CHECK,
            e.to_string(),
            "myepo.api_base_url (does it point at the Mailbox API?)",
        ),
        _ => Outcome::fail(CHECK, e.to_string(), "myepo.api_base_url"),
    }
}

async fn ops(settings: Option<&config::Ops>) -> Outcome {
    const CHECK: &str = "ops";
    let Some(cfg) = settings else {
        return Outcome::skip(CHECK, "not configured (no [ops], or enabled = false)");
    };
    let mut probe = cfg.clone();
    probe.retries = 0;
    probe.read_timeout = probe.read_timeout.min(BOUND);
    let answer = match OpsClient::new(&probe) {
        Ok(client) => client.register(OPS_PROBE).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(_) | Err(OpsError::NotFound { .. }) => Outcome::ok(
            CHECK,
            format!(
                "signed in as {:?}; one Register request ({OPS_PROBE}) answered",
                cfg.consumer_key
            ),
        ),
        Err(e) => ops_failure(cfg, &e),
    }
}

/// What a failed OPS token request or Register request says to fix.
fn ops_failure(cfg: &config::Ops, e: &OpsError) -> Outcome {
    const CHECK: &str = "ops";
    match e {
        OpsError::Credentials { status, detail } => Outcome::fail(
            CHECK,
            format!(
                "the token endpoint refused the consumer key and secret (HTTP {status}{})",
                http::spaced(detail)
            ),
            "ops.consumer_key / ops.consumer_secret",
        ),
        OpsError::Auth(_) => Outcome::fail(CHECK, e.to_string(), "ops.consumer_key / ops.consumer_secret"),
        OpsError::Unreachable { url, cause } => Outcome::fail(
            CHECK,
            format!("cannot reach {url}: {cause}"),
            "ops.base_url and the network",
        ),
        OpsError::Http(f) if f.status == 404 => Outcome::fail(
            CHECK,
            format!("no OPS at {} (HTTP 404)", cfg.base_url),
            "ops.base_url (it ends in /3.2)",
        ),
        OpsError::Http(f) if f.is_transient() => office_failing(CHECK, f),
        OpsError::Http(_) | OpsError::BaseUrl(_) => Outcome::fail(CHECK, e.to_string(), "ops.base_url"),
        OpsError::Transport { cause, .. } => link_failure(CHECK, "ops.base_url", &cfg.base_url, cause),
        OpsError::SoftCap { .. } => Outcome::fail(
            CHECK,
            e.to_string(),
            "wait for Monday 00:00 UTC, or raise ops.quota_stop_share",
        ),
        OpsError::Throttled { .. } | OpsError::HourQuota { .. } | OpsError::WeekQuota => Outcome::fail(
            CHECK,
            e.to_string(),
            "nothing in the configuration: the quota frees up by itself",
        ),
        OpsError::RobotDetected(_) => Outcome::fail(
            CHECK,
            e.to_string(),
            "OPS blocks this client: ask the EPO's OPS support",
        ),
        OpsError::NotFound { .. }
        | OpsError::BadNumber { .. }
        | OpsError::Parse { .. }
        | OpsError::FamilyParse { .. } => Outcome::fail(
            CHECK,
            e.to_string(),
            "OPS answered, but not as mailroom reads it: report this",
        ),
    }
}

async fn jpo(settings: Option<&config::Jpo>) -> Outcome {
    const CHECK: &str = "jpo";
    let Some(cfg) = settings else {
        return Outcome::skip(CHECK, "not configured (no [jpo], or enabled = false)");
    };
    let mut probe = cfg.clone();
    probe.retries = 0;
    probe.read_timeout = probe.read_timeout.min(BOUND);
    let signed_in = match JpoClient::new(&probe) {
        Ok(client) => client.sign_in().await,
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(()) => Outcome::ok(
            CHECK,
            format!("signed in as {:?} (password grant; no API call)", cfg.username),
        ),
        Err(e) => jpo_failure(cfg, &e),
    }
}

/// What a failed JPO login says to fix.
fn jpo_failure(cfg: &config::Jpo, e: &JpoError) -> Outcome {
    const CHECK: &str = "jpo";
    match e {
        JpoError::Credentials { status, detail } => Outcome::fail(
            CHECK,
            format!(
                "the token endpoint refused the username and password (HTTP {status}{})",
                http::spaced(detail)
            ),
            "jpo.username / jpo.password",
        ),
        JpoError::Unreachable { url, cause, key } => Outcome::fail(
            CHECK,
            format!("cannot reach {url}: {cause}"),
            format!("jpo.{key} and the network"),
        ),
        JpoError::Token(f) if f.status == 404 => Outcome::fail(
            CHECK,
            format!("no token endpoint at {} (HTTP 404)", cfg.token_url),
            "jpo.token_url",
        ),
        JpoError::Token(f) if f.is_transient() => office_failing(CHECK, f),
        JpoError::Transport { cause, .. } => link_failure(CHECK, "jpo.token_url", &cfg.token_url, cause),
        _ => Outcome::fail(CHECK, e.to_string(), "jpo.token_url"),
    }
}

async fn email(notify: &config::Notify) -> Outcome {
    const CHECK: &str = "email";
    let Some(settings) = &notify.email else {
        return Outcome::skip(CHECK, "not configured (no [notify.email])");
    };
    let mailer = match Mailer::new(settings, notify.templates_dir.as_deref()) {
        Ok(m) => m,
        Err(SetupError::Config { key, reason }) => {
            return Outcome::fail(CHECK, format!("{key}: {reason}"), key);
        }
    };
    let hint = match &settings.transport {
        Transport::Smtp { .. } => {
            "notify.email.host, port and tls, and the network (a refused login: notify.email.username / password)"
        }
        Transport::File { .. } => "notify.email.file_dir",
    };
    match mailer.check().await {
        Ok(detail) => Outcome::ok(CHECK, format!("{detail}; no mail sent")),
        Err(e) => Outcome::fail(CHECK, e.to_string(), hint),
    }
}

/// Each webhook answers a `HEAD`; named by its name, never by its URL (a secret).
async fn webhooks(hooks: &[config::Webhook]) -> Vec<Outcome> {
    if hooks.is_empty() {
        return vec![Outcome::skip(
            "webhook",
            "none configured (no [[notify.webhook]])",
        )];
    }
    let http = reqwest::Client::builder()
        .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        // As the sender's: a redirect is reported, not followed (alerts do not follow it).
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let http = match http {
        Ok(h) => h,
        Err(e) => {
            return hooks
                .iter()
                .map(|h| {
                    Outcome::fail(
                        &format!("webhook:{}", h.name),
                        format!("cannot set up the HTTP client: {}", http::chain(&e)),
                        "the system's TLS roots",
                    )
                })
                .collect();
        }
    };
    let checks = hooks.iter().map(|hook| {
        let check = format!("webhook:{}", hook.name);
        let hint = format!(
            "the url (or url_file) of the webhook {:?} in [[notify.webhook]], and the network",
            hook.name
        );
        let http = &http;
        async move {
            let reached = async {
                match webhook::reachable(http, hook).await {
                    Ok(detail) => Outcome::ok(&check, detail),
                    Err(e) => Outcome::fail(&check, e.to_string(), hint.clone()),
                }
            };
            bounded(&check, &hint, reached).await
        }
    });
    futures_util::future::join_all(checks).await
}

async fn database(path: PathBuf) -> Outcome {
    const CHECK: &str = "database";
    let known = store::schema_version();
    let task_path = path.clone();
    let probed = tokio::task::spawn_blocking(move || store::probe(&task_path))
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
    let at = path.display();
    match probed {
        Ok(found) if found == known => Outcome::ok(CHECK, format!("{at}: schema {found}, takes a write")),
        Ok(found) if found < known => Outcome::fail(
            CHECK,
            format!("{at}: schema {found}, and this mailroom writes {known}"),
            "run `mailroom sync status` (any command that opens it migrates it)",
        ),
        Ok(found) => Outcome::fail(
            CHECK,
            format!("{at}: schema {found}, newer than this mailroom knows ({known})"),
            "use the newer mailroom that wrote it",
        ),
        Err(StoreError::Missing { .. }) => Outcome::ok(
            CHECK,
            format!("{at}: not created yet; the first `mailroom sync` creates it"),
        ),
        Err(e) => Outcome::fail(
            CHECK,
            e.to_string(),
            "storage.database (the file and its directory must be writable by the service's user)",
        ),
    }
}

async fn archive(root: PathBuf) -> Outcome {
    const CHECK: &str = "archive";
    match Archive::probe(&root).await {
        Ok(p) if p.available < MIN_FREE => Outcome::fail(
            CHECK,
            format!(
                "{}: only {} free, under {}",
                p.root.display(),
                gib(p.available),
                gib(MIN_FREE)
            ),
            "free space on the archive's filesystem, or move storage.archive_dir",
        ),
        Ok(p) => Outcome::ok(
            CHECK,
            format!(
                "{}: {}writable, {} free",
                p.root.display(),
                if p.created { "created, " } else { "" },
                gib(p.available)
            ),
        ),
        Err(e) => Outcome::fail(
            CHECK,
            e.to_string(),
            "storage.archive_dir (a directory the service's user can write, or a place it can create one)",
        ),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// One line per secret read from a `*_file`: only its owner may read it.
fn secret_files(origins: &Origins) -> Vec<Outcome> {
    let files: Vec<(&str, &Path)> = origins
        .iter()
        .filter_map(|(key, origin)| match origin {
            Origin::SecretFile { path, .. } => Some((key, path.as_path())),
            _ => None,
        })
        .collect();
    if files.is_empty() {
        return vec![Outcome::skip("secrets", "no secret is read from a file (*_file)")];
    }
    files
        .into_iter()
        .map(|(key, path)| secret_file(key, path))
        .collect()
}

#[cfg(unix)]
fn secret_file(key: &str, path: &Path) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let check = format!("secret:{key}");
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if only_owner(mode) {
                Outcome::ok(&check, format!("{}: mode {mode:04o}", path.display()))
            } else {
                Outcome::fail(
                    &check,
                    format!(
                        "{}: mode {mode:04o}: others than its owner may read it",
                        path.display()
                    ),
                    format!("chmod 600 {}", path.display()),
                )
            }
        }
        Err(e) => Outcome::fail(
            &check,
            format!("cannot inspect {}: {e}", path.display()),
            format!("{key}_file"),
        ),
    }
}

#[cfg(not(unix))]
fn secret_file(key: &str, path: &Path) -> Outcome {
    Outcome::skip(
        &format!("secret:{key}"),
        format!(
            "{}: access is not checked on this platform (see the file's ACL)",
            path.display()
        ),
    )
}

/// A mode that lets neither the group nor others at the file.
#[cfg(unix)]
fn only_owner(mode: u32) -> bool {
    mode & 0o077 == 0
}

/// The state lock is free: tried once, let go at once.
async fn state_lock(database: &Path) -> Outcome {
    const CHECK: &str = "lock";
    let dir = lock::state_dir(database);
    if !dir.is_dir() {
        return Outcome::ok(
            CHECK,
            format!("free: the state directory {} does not exist yet", dir.display()),
        );
    }
    match lock::acquire(&dir, Duration::ZERO).await {
        Ok(held) => {
            drop(held);
            Outcome::ok(CHECK, format!("{} is free", dir.join(lock::FILE_NAME).display()))
        }
        Err(e @ LockError::Busy { .. }) => Outcome::fail(
            CHECK,
            e.to_string(),
            "another mailroom is running (the daemon?): check again once it is done, or stop it",
        ),
        Err(e) => Outcome::fail(
            CHECK,
            e.to_string(),
            "storage.database (its directory must be writable by the service's user)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, detail: Option<&str>) -> Box<HttpFailure> {
        Box::new(HttpFailure {
            what: "x".into(),
            status,
            headers: Vec::new(),
            body: String::new(),
            detail: detail.map(str::to_owned),
            request_id: None,
            retry_after: None,
        })
    }

    fn myepo_settings() -> config::Myepo {
        let toml = r#"
[myepo]
token_url = "http://127.0.0.1:9/token"
api_base_url = "http://127.0.0.1:9/myepo"
client_id = "firm"
client_secret = "s"
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        let cfg = Config::load_with_env(&config::ConfigSource::Named(path), &[]).unwrap();
        cfg.myepo.unwrap()
    }

    #[test]
    fn myepo_failures_name_what_to_fix() {
        let cfg = myepo_settings();
        let table = [
            (
                MyepoError::Token(failure(401, Some("invalid_client: wrong secret"))),
                "myepo.client_id / myepo.client_secret",
            ),
            (
                MyepoError::Token(failure(400, Some("invalid_scope: no such scope"))),
                "myepo.scope",
            ),
            (MyepoError::Token(failure(404, None)), "myepo.token_url"),
            (MyepoError::Token(failure(503, None)), "try again later"),
            (MyepoError::Http(failure(403, None)), "the Mailbox right"),
            (MyepoError::Http(failure(404, None)), "myepo.api_base_url"),
            (MyepoError::Http(failure(502, None)), "try again later"),
            (MyepoError::Unauthorized(failure(401, None)), "myepo.scope"),
        ];
        for (e, hint) in table {
            let o = myepo_failure(&cfg, &e);
            assert_eq!(o.status, Status::Fail, "{e}");
            let got = o.hint.unwrap_or_default();
            assert!(got.contains(hint), "{e}: {got}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_the_owner_may_read_a_secret_file() {
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o700, true),
            (0o640, false),
            (0o604, false),
            (0o644, false),
            (0o660, false),
            (0o602, false),
        ] {
            assert_eq!(only_owner(mode), ok, "{mode:o}");
        }
    }

    #[test]
    fn lines_say_status_check_detail_and_fix() {
        let text = render(&[
            Outcome::ok("myepo", "fine"),
            Outcome::fail("archive", "full", "storage.archive_dir"),
            Outcome::skip("jpo", "not configured"),
        ]);
        assert_eq!(
            text,
            "ok    myepo    fine\n\
             FAIL  archive  full — fix: storage.archive_dir\n\
             skip  jpo      not configured\n\
             1 ok, 1 failed, 1 skipped\n"
        );
    }

    #[test]
    fn sizes_in_gib() {
        assert_eq!(gib(MIN_FREE), "1.0 GiB");
        assert_eq!(gib(3 << 29), "1.5 GiB");
        assert_eq!(gib(0), "0.0 GiB");
    }
}
