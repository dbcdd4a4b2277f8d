//! The email channel end to end: the `mailroom` binary against the sandbox and a real SMTP
//! server (aiosmtpd, `tests/support/smtpd.py`) on 127.0.0.1 that requires STARTTLS with a
//! throw-away CA (trusted through `ca_file`) and AUTH, and delivers into a Maildir. What is
//! checked is what arrived there, parsed back, against the sandbox's bytes and the outbox
//! rows in SQLite.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::smtpd::Smtpd;
use common::{Env, explain, hex, output_within, skip_or_fail_on_ci, stdout};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use sha2::{Digest, Sha256};

const USER: &str = "mailroom";
const PASSWORD: &str = "s3cret-smtp-password";
const DOMAIN: &str = "firm.example";

/// Why the SMTP tests cannot run here, if they cannot.
fn missing_tools() -> Option<String> {
    if let Some(why) = common::smtpd::missing() {
        return Some(why);
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !openssl.is_ok_and(|s| s.success()) {
        return Some("no openssl command (Debian package openssl)".into());
    }
    None
}

/// A throw-away CA, a server certificate for 127.0.0.1 signed by it, the password file and
/// the Maildir, in one temporary directory.
struct Mail {
    dir: tempfile::TempDir,
}

impl Mail {
    fn new() -> Mail {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [Vec<&str>; 3] = [
            [
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=mailroom test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
            [
                &["req", "-new"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        ];
        for args in steps {
            let out = output_within(
                Command::new("openssl").args(&args).current_dir(d),
                Duration::from_secs(30),
            );
            assert!(out.status.success(), "openssl {args:?}: {}", explain(&out));
        }
        std::fs::write(d.join("smtp.password"), format!("{PASSWORD}\n")).expect("password file");
        Mail { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn maildir(&self) -> PathBuf {
        self.path("maildir")
    }

    /// Every message delivered so far, in arrival order (Maildir names start with the time).
    fn messages(&self) -> Vec<Received> {
        let new = self.maildir().join("new");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(entries) => entries.map(|e| e.expect("maildir entry").path()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
            .iter()
            .map(|p| Received::parse(&std::fs::read(p).expect("read a message")))
            .collect()
    }

    /// Appends `[notify]` and `[notify.email]` for the server on `port` to `env`'s config.
    fn configure(&self, env: &Env, port: u16) {
        let q = |p: PathBuf| toml_string(&p.to_string_lossy());
        let section = format!(
            "\n[notify]\n\
             attempts_per_drain = 1\n\
             \n\
             [notify.email]\n\
             host = \"127.0.0.1\"\n\
             port = {port}\n\
             tls = \"starttls\"\n\
             username = \"{USER}\"\n\
             password_file = {password}\n\
             ca_file = {ca}\n\
             timeout_secs = 5\n\
             from = \"mailroom <mailroom@{DOMAIN}>\"\n\
             to = [\"formalities@{DOMAIN}\"]\n\
             admin_to = [\"it@{DOMAIN}\"]\n\
             attach_max_bytes = 100000\n\
             \n\
             [[notify.email.rules]]\n\
             client_reference = \"MR-0812-*\"\n\
             to = [\"acme-team@{DOMAIN}\"]\n\
             \n\
             [[notify.email.rules]]\n\
             document_code = \"2004\"\n\
             to = [\"grants@{DOMAIN}\"]\n",
            password = q(self.path("smtp.password")),
            ca = q(self.path("ca.pem")),
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(env.config_path())
            .expect("open the config");
        f.write_all(section.as_bytes()).expect("append to the config");
    }

    /// Starts the server: on `port` if given (a restart), else on one the OS assigns.
    fn serve(&self, port: Option<u16>, starttls: bool) -> Smtpd {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("smtpd.log"))
            .expect("smtpd log");
        let mut args: Vec<std::ffi::OsString> = vec!["--maildir".into(), self.maildir().into()];
        args.extend(["--user".into(), USER.into(), "--password-file".into()]);
        args.push(self.path("smtp.password").into());
        args.extend(["--cert".into(), self.path("server.pem").into()]);
        args.extend(["--key".into(), self.path("server.key").into()]);
        args.extend(["--port".into(), port.unwrap_or(0).to_string().into()]);
        if !starttls {
            args.push("--no-starttls".into());
        }
        Smtpd::spawn(args, Stdio::from(log)).unwrap_or_else(|why| {
            let log = std::fs::read_to_string(self.path("smtpd.log")).unwrap_or_default();
            panic!("{why}; its log:\n{log}")
        })
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A message as the Maildir holds it, parsed.
struct Received {
    message_id: String,
    references: Option<String>,
    in_reply_to: Option<String>,
    subject: String,
    from: String,
    to: String,
    delivery: i64,
    auto_submitted: Option<String>,
    text: String,
    html: String,
    /// `(file name, SHA-256)` of each attachment.
    attachments: Vec<(String, String)>,
}

impl Received {
    fn parse(raw: &[u8]) -> Received {
        let m = MessageParser::default().parse(raw).expect("a parsable message");
        let angle = |s: &str| format!("<{s}>");
        let addr = |a: Option<&mail_parser::Address<'_>>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        Received {
            message_id: m.message_id().map(angle).expect("a Message-ID"),
            references: m.references().as_text().map(angle),
            in_reply_to: m.in_reply_to().as_text().map(angle),
            subject: m.subject().unwrap_or_default().to_owned(),
            from: addr(m.from()),
            to: addr(m.to()),
            delivery: m
                .header_raw("X-Mailroom-Delivery")
                .and_then(|v| v.trim().parse().ok())
                .expect("an X-Mailroom-Delivery with one id"),
            auto_submitted: m.header_raw("Auto-Submitted").map(|v| v.trim().to_owned()),
            text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            attachments: m
                .attachments()
                .map(|a| {
                    (
                        a.attachment_name().unwrap_or_default().to_owned(),
                        hex(&Sha256::digest(a.contents())),
                    )
                })
                .collect(),
        }
    }
}

/// An outbox row.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    kind: String,
    recipient: String,
    state: String,
    last_error: Option<String>,
    sent_as: Option<String>,
    /// The fact it reports (the event's dedupe key: `communication:<id>`, `change:…`).
    about: String,
}

fn rows(env: &Env) -> Vec<Row> {
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT d.id, e.kind, d.recipient, d.state, d.last_error, d.sent_as, e.dedupe_key
             FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
             WHERE d.channel = 'email' ORDER BY d.id",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            kind: r.get(1)?,
            recipient: r.get(2)?,
            state: r.get(3)?,
            last_error: r.get(4)?,
            sent_as: r.get(5)?,
            about: r.get(6)?,
        })
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

/// Makes every pending delivery due now: the retry delays are minutes, a test has seconds.
fn make_due(env: &Env) {
    env.db()
        .execute(
            "UPDATE notify_deliveries SET next_attempt_unix = 0 WHERE state = 'pending'",
            [],
        )
        .expect("make the deliveries due");
}

/// How many messages carry each Message-ID.
fn per_message_id(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        *out.entry(m.message_id.clone()).or_default() += 1;
    }
    out
}

/// The set-up every test shares, or `None` (the test skipped) when the tools are missing.
async fn start(test: &str, starttls: bool) -> Option<(Env, Mail, Smtpd)> {
    if let Some(why) = missing_tools() {
        skip_or_fail_on_ci(test, &why);
        return None;
    }
    let env = Env::empty().await;
    let mail = Mail::new();
    let server = mail.serve(None, starttls);
    mail.configure(&env, server.port);
    Some((env, mail, server))
}

async fn communication(env: &Env, body: serde_json::Value) -> String {
    let v = env.post("/_sandbox/myepo/communications", body).await;
    v["ids"][0].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_communication_is_one_alert_to_its_route_with_its_pdf() {
    let Some((env, mail, _server)) = start("each_communication_is_one_alert", true).await else {
        return;
    };
    // Rule 1 by the client reference the office lists (MR-0812-EP for EP10167109), rule 2
    // by form, the default for the rest (too large to attach).
    let by_reference = communication(
        &env,
        json!({"application_number": "EP10167109.4", "document_code": "1133", "dispatch_date": "2026-03-12", "size": 20000}),
    )
    .await;
    let by_form = communication(
        &env,
        json!({"application_number": "EP23184567.2", "document_code": "2004", "dispatch_date": "2026-03-13", "size": 15000, "documents": 2}),
    )
    .await;
    let by_default = communication(
        &env,
        json!({"application_number": "EP23184567.2", "document_code": "2001", "dispatch_date": "2026-03-14", "size": 150000}),
    )
    .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(
        stdout(&out).contains("notifications: 3 sent"),
        "{}",
        explain(&out)
    );

    let served = env
        .served_sha256(
            &[&by_reference, &by_form, &by_default]
                .map(|s| s.to_string())
                .into(),
        )
        .await;
    let rows: BTreeMap<i64, Row> = rows(&env).into_iter().map(|r| (r.id, r)).collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let messages = mail.messages();
    assert_eq!(messages.len(), 3, "one alert per communication");
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &messages {
        let row = &rows[&m.delivery];
        let id = row
            .about
            .strip_prefix("communication:")
            .expect("a communication event");
        assert_eq!(row.state, "sent", "{row:?}");
        assert_eq!(row.sent_as.as_deref(), Some(m.message_id.as_str()));
        assert_eq!(m.to, row.recipient);
        assert_eq!(m.from, format!("mailroom@{DOMAIN}"));
        assert_eq!(m.auto_submitted.as_deref(), Some("auto-generated"));
        assert!(
            m.message_id.starts_with(&format!("<mailroom.{}.", row.id))
                && m.message_id.ends_with(&format!("@{DOMAIN}>")),
            "{}",
            m.message_id
        );
        let (app, form, dated) = match id {
            i if i == by_reference => ("EP10167109", "1133", "2026-03-12"),
            i if i == by_form => ("EP23184567", "2004", "2026-03-13"),
            _ => ("EP23184567", "2001", "2026-03-14"),
        };
        assert!(
            m.subject.starts_with(&format!("[EPO] {app}"))
                && m.subject.contains(&format!(" · Form {form} · "))
                && m.subject.ends_with(&format!(" · dated {dated}")),
            "{}",
            m.subject
        );
        let thread = mailroom::core::notify::thread_id("EP", app, DOMAIN);
        assert_eq!(m.references.as_deref(), Some(thread.as_str()));
        assert_eq!(m.in_reply_to.as_deref(), Some(thread.as_str()));
        assert!(
            !m.text.is_empty() && !m.html.is_empty(),
            "both parts: {}",
            m.subject
        );
        let mut attached: Vec<String> = m.attachments.iter().map(|(_, sha)| sha.clone()).collect();
        attached.sort();
        if id == by_default {
            assert!(attached.is_empty(), "150 kB is over attach_max_bytes");
            assert!(m.text.contains("Not attached"), "{}", m.text);
        } else {
            assert_eq!(attached, served[id], "the attachments are the office's bytes");
            assert!(m.attachments.iter().all(|(name, _)| name.ends_with(".pdf")));
        }
        routed.entry(m.to.clone()).or_default().insert(id.to_owned());
    }
    let want: BTreeMap<String, BTreeSet<String>> = [
        (format!("acme-team@{DOMAIN}"), &by_reference),
        (format!("grants@{DOMAIN}"), &by_form),
        (format!("formalities@{DOMAIN}"), &by_default),
    ]
    .into_iter()
    .map(|(to, id)| (to, BTreeSet::from([id.clone()])))
    .collect();
    assert_eq!(routed, want);

    let again = env.sync().await;
    assert!(again.status.success(), "{}", explain(&again));
    assert_eq!(mail.messages().len(), 3, "a second cycle sends nothing again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_change_is_one_alert_in_its_cases_thread() {
    let Some((env, mail, _server)) = start("a_status_change_is_one_alert", true).await else {
        return;
    };
    common::ok(&env, &["cases", "add", "EP 10 167 109.4", "--ref", "MR-0812-EP"]).await;
    common::ok(&env, &["sync", "status"]).await;
    assert!(mail.messages().is_empty(), "a first snapshot is a baseline");
    env.post("/_sandbox/cases/ep/EP10167109/advance", json!({})).await;
    let out = common::ok(&env, &["sync", "status"]).await;
    assert!(out.contains("notifications: 1 sent"), "{out}");

    let changes = common::changes(&env).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let summary = changes[0]["summary"].as_str().expect("a summary");
    let line = summary.strip_prefix("EP10167109: ").unwrap_or(summary);
    let messages = mail.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        m.to,
        format!("acme-team@{DOMAIN}"),
        "routed by the case's reference"
    );
    assert!(
        m.subject.starts_with("[EPO] EP10167109 · MR-0812-EP"),
        "{}",
        m.subject
    );
    // The text part wraps at 80 columns: compare words, not line breaks.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&m.text).contains(&words(line)), "{line:?} in {}", m.text);
    let thread = mailroom::core::notify::thread_id("EP", "EP10167109", DOMAIN);
    assert_eq!(m.references.as_deref(), Some(thread.as_str()));
    let rows = rows(&env);
    assert_eq!(
        rows.iter()
            .map(|r| (r.kind.as_str(), r.state.as_str()))
            .collect::<Vec<_>>(),
        [("change", "sent")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_starttls_gets_nothing_and_the_alert_waits() {
    let Some((env, mail, server)) = start("a_server_without_starttls", false).await else {
        return;
    };
    communication(&env, json!({"document_code": "2001", "size": 20000})).await;
    let out = env.sync().await;
    assert!(out.status.success(), "the mailbox job is done: {}", explain(&out));
    let said = stdout(&out);
    assert!(said.contains("notifications: 0 sent, 1 pending"), "{said}");
    assert!(said.contains("STARTTLS"), "{said}");
    assert!(mail.messages().is_empty());
    let rows = rows(&env);
    assert_eq!(rows.len(), 1);
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert_eq!(rows[0].state, "pending");
    assert!(
        error.contains(&format!("127.0.0.1:{}", server.port))
            && error.contains("does not offer STARTTLS")
            && error.contains("not sent in clear text"),
        "{error}"
    );
    let everything = format!("{}{error}", explain(&out));
    assert!(
        !everything.contains(PASSWORD),
        "the password leaked: {everything}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_wait_while_the_server_is_down_and_go_once_when_it_is_back() {
    let Some((env, mail, mut server)) = start("alerts_wait_while_the_server_is_down", true).await else {
        return;
    };
    let port = server.port;
    server.stop();
    for code in ["2001", "2004"] {
        communication(&env, json!({"document_code": code, "size": 20000})).await;
    }
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(stdout(&out).contains("0 sent, 2 pending"), "{}", explain(&out));
    let waiting = rows(&env);
    assert_eq!(waiting.len(), 2);
    for r in &waiting {
        assert_eq!(r.state, "pending", "{r:?}");
        let e = r.last_error.as_deref().unwrap_or_default();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    let _back = mail.serve(Some(port), true);
    make_due(&env);
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));
    assert!(
        stdout(&out).contains("notifications: 2 sent"),
        "{}",
        explain(&out)
    );
    make_due(&env);
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));

    let messages = mail.messages();
    let counts = per_message_id(&messages);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "each exactly once: {counts:?}");
    let sent = rows(&env);
    assert!(sent.iter().all(|r| r.state == "sent"), "{sent:#?}");
    let ids: BTreeSet<&str> = sent.iter().filter_map(|r| r.sent_as.as_deref()).collect();
    assert_eq!(ids, counts.keys().map(String::as_str).collect());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_the_server_accepted_sends_the_same_message_again() {
    let Some((env, mail, _server)) = start("a_crash_after_the_server_accepted", true).await else {
        return;
    };
    for code in ["2001", "2004"] {
        communication(&env, json!({"document_code": code, "size": 20000})).await;
    }
    let crashed = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_FAILPOINT", "after_send")]))
        .await;
    assert!(
        !crashed.status.success(),
        "the failpoint aborts: {}",
        explain(&crashed)
    );
    let first = mail.messages();
    assert_eq!(first.len(), 1, "the server had accepted one message");
    assert!(
        rows(&env).iter().all(|r| r.state == "pending"),
        "nothing is recorded sent before the crash"
    );

    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));
    let messages = mail.messages();
    let counts = per_message_id(&messages);
    assert_eq!(messages.len(), 3, "the accepted one again, and the other");
    assert_eq!(counts.get(&first[0].message_id), Some(&2), "{counts:?}");
    assert_eq!(counts.len(), 2, "{counts:?}");
    let again = messages
        .iter()
        .skip(1)
        .find(|m| m.message_id == first[0].message_id)
        .expect("the repeat");
    assert_eq!(again.delivery, first[0].delivery);
    let rows = rows(&env);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.state == "sent"), "no row lost: {rows:#?}");
}

/// Issue 13 end to end: communications whose letters state their periods (the sandbox's PDFs
/// carry text layers) become deadlines with their reasoning in the alert mail; the EP Register
/// confirms one, disagrees with another (an admin alert), and shows a time limit no
/// communication explains (reported to the admins too); a deadline within the reminder ladder
/// gets one reminder, never two.
#[tokio::test(flavor = "multi_thread")]
async fn deadlines_reach_the_alerts_and_the_register_checks_them() {
    let Some((env, mail, _server)) = start("deadlines_reach_the_alerts", true).await else {
        return;
    };
    let today = chrono::Utc::now().date_naive();
    let day = |back: u64| (today - chrono::Days::new(back)).format("%Y-%m-%d").to_string();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(env.config_path())
        .expect("open the config");
    write!(
        f,
        "\n[deadlines]\nregister_grace_days = 0\nregister_since = {}\nremind_days = [14, 3]\n",
        day(40)
    )
    .expect("append");
    drop(f);

    // A Rule 71(3) communication whose letter states the table's four months.
    let grant = communication(
        &env,
        json!({"application_number": "EP23184567.2", "document_code": "2004", "dispatch_date": "2026-10-30"}),
    )
    .await;
    // A Rule 71(3) communication whose letter states two months: the letter wins and says so.
    let short = communication(
        &env,
        json!({"application_number": "EP23184567.2", "document_code": "2004", "dispatch_date": "2026-10-29",
               "letter": ["Communication under Rule 71(3) EPC", "You are requested within a period of two months of notification of this communication", "to pay the fee for grant and publication."]}),
    )
    .await;
    // Nothing states a period: a person is told to read the letter.
    let none = communication(
        &env,
        json!({"application_number": "EP23184567.2", "document_code": "1133", "dispatch_date": "2026-10-28"}),
    )
    .await;
    // Art. 94(3) letters for the two sample cases the Register knows, dated within the check
    // window; the first falls due within the reminder ladder.
    let confirmed = communication(
        &env,
        json!({"application_number": "EP10167109.4", "document_code": "2001", "dispatch_date": day(21),
               "letter": ["Communication pursuant to Article 94(3) EPC", "You are invited to file your observations within a period of one month."]}),
    )
    .await;
    let flagged = communication(
        &env,
        json!({"application_number": "EP14735465.9", "document_code": "2001", "dispatch_date": day(10)}),
    )
    .await;
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));

    let db = env.db();
    let deadline = |id: &str| -> Option<(String, String, String, String)> {
        db.query_row(
            "SELECT source, period, due, notes_json FROM deadlines WHERE communication_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .ok()
    };
    let (source, period, due, notes) = deadline(&grant).expect("a deadline for the Rule 71(3) letter");
    assert_eq!(
        (source.as_str(), period.as_str(), due.as_str()),
        ("letter", "4m", "2027-03-01"),
        "{notes}"
    );
    let (source, period, _, notes) = deadline(&short).expect("a deadline for the short letter");
    assert_eq!((source.as_str(), period.as_str()), ("letter", "2m"));
    assert!(notes.contains("the rules table gives 4 months"), "{notes}");
    assert!(deadline(&none).is_none(), "no period is known for Form 1133");
    assert_eq!(deadline(&confirmed).map(|d| d.1).as_deref(), Some("1m"));
    assert_eq!(deadline(&flagged).map(|d| d.1).as_deref(), Some("4m"));

    let messages = mail.messages();
    let alert = |id: &str| {
        let prefix = &id[..8];
        messages
            .iter()
            .find(|m| m.text.contains(id) || m.text.contains(prefix))
            .unwrap_or_else(|| panic!("no alert for {id}"))
    };
    // Lines are wrapped at 76 columns: compare with the whitespace collapsed.
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = &flat(&alert(&grant).text);
    assert!(
        text.contains("Due 2027-03-01 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC (the letter states it); Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday"),
        "{text}"
    );
    assert!(text.contains("mailroom deadlines ack"), "{text}");
    assert!(
        alert(&grant).html.contains("Rule 131 EPC"),
        "the HTML part shows the steps"
    );
    assert!(flat(&alert(&short).text).contains("the letter's period is used"));
    assert!(flat(&alert(&none).text).contains("Deadline not known"));
    let reminders: Vec<&Received> = messages
        .iter()
        .filter(|m| m.subject.contains("deadline in"))
        .collect();
    assert_eq!(reminders.len(), 1, "one reminder for the deadline within 14 days");
    assert!(
        reminders[0].subject.contains("EP10167109"),
        "{}",
        reminders[0].subject
    );

    // The Register: a matching step for EP10167109 (confirmed), a six-month step where we
    // read four for EP14735465 (flagged), and a step of a date no communication has.
    for (number, date, months) in [
        ("EP10167109", day(21), 1),
        ("EP14735465", day(10), 6),
        ("EP10167109", day(5), 4),
    ] {
        env.post(
            &format!("/_sandbox/cases/ep/{number}/advance"),
            json!({"kind": "step", "date": date, "time_limit_months": months}),
        )
        .await;
    }
    let before = mail.messages().len();
    for _ in 0..2 {
        let out = env.run(env.mailroom(&["sync", "status"])).await;
        assert!(out.status.success(), "{}", explain(&out));
    }
    let register = |id: &str| -> String {
        db.query_row(
            "SELECT register FROM deadlines WHERE communication_id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("register verdict")
    };
    assert_eq!(register(&confirmed), "confirmed");
    assert_eq!(register(&flagged), "disagrees");
    let admin: Vec<Received> = mail
        .messages()
        .into_iter()
        .skip(before)
        .filter(|m| m.to == format!("it@{DOMAIN}"))
        .collect();
    let subjects: Vec<&str> = admin.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        admin.len(),
        2,
        "one admin alert per finding, not one per sync: {subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Register check") && s.contains("EP14735465") && s.contains("6 months")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("EP10167109")
            && s.contains(&day(5))
            && s.contains("no communication of that date")),
        "{subjects:?}"
    );

    // The mailbox cycle again: the reminder rung is not sent twice.
    let out = env.sync().await;
    assert!(out.status.success(), "{}", explain(&out));
    let reminders = mail
        .messages()
        .iter()
        .filter(|m| m.subject.contains("deadline in"))
        .count();
    assert_eq!(reminders, 1);
}
