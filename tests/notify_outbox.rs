//! The outbox through the binary: what each sync writes for whom (routing rules, admin
//! events for quarantines and office stops), the `outbox` and `notify` commands, a flood
//! becoming one summary, and the demo's mail. Mail goes to `.eml` files (lettre's file
//! transport) so these tests need no server; `tests/notify_email.rs` has the real SMTP one.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Env, explain, ok, stderr, stdout};
use mailroom_sandbox::SandboxOptions;
use serde_json::json;

const NOTIFY: &str = r#"
[notify]
attempts_per_drain = 1

[notify.email]
transport = "file"
file_dir = "data/mail"
from = "mailroom <mailroom@firm.example>"
to = ["default@firm.example"]
admin_to = ["it@firm.example"]

[[notify.email.rules]]
client_reference = "mr-0812*"
to = ["ref@firm.example"]

[[notify.email.rules]]
document_code = "2001"
to = ["grant@firm.example", "partner@firm.example"]

[notify.digest]
to = ["digest@firm.example"]
"#;

/// One route for everything: the tests of the commands count rows, not routes.
const PLAIN: &str = r#"
[notify]
attempts_per_drain = 1

[notify.email]
transport = "file"
file_dir = "data/mail"
from = "mailroom <mailroom@firm.example>"
to = ["default@firm.example"]

[notify.digest]
to = ["digest@firm.example"]
"#;

fn configure(env: &Env, extra: &str) {
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str(extra);
    std::fs::write(env.config_path(), text).expect("config");
}

/// `(communication id, user reference, form) → recipients` of the `communication` events.
fn communication_routes(env: &Env) -> BTreeMap<(String, String, String), Vec<String>> {
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT c.id, coalesce(c.user_reference, ''), c.document_code, d.recipient
             FROM communications c
             JOIN notify_events e ON e.dedupe_key = 'communication:' || c.id
             JOIN notify_deliveries d ON d.event_id = e.id
             ORDER BY c.id, d.id",
        )
        .expect("query");
    let rows: Vec<(String, String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut out: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for (id, reference, code, to) in rows {
        out.entry((id, reference, code)).or_default().push(to);
    }
    out
}

fn eml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn states(env: &Env) -> BTreeMap<String, i64> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT state, count(*) FROM notify_deliveries GROUP BY state")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test]
async fn each_communication_is_routed_by_the_first_matching_rule_and_sent_once() {
    let env = Env::start(SandboxOptions::default()).await;
    configure(&env, NOTIFY);
    let out = ok(&env, &["sync", "mailbox"]).await;
    let routes = communication_routes(&env);
    assert_eq!(
        routes.len(),
        12,
        "one event per archived communication: {routes:#?}"
    );
    let mut used = BTreeMap::new();
    for ((id, reference, code), to) in &routes {
        // The rules, applied by hand: first match wins, else the default.
        let want: &[&str] = if reference.to_ascii_lowercase().starts_with("mr-0812") {
            &["ref@firm.example"]
        } else if code == "2001" {
            &["grant@firm.example", "partner@firm.example"]
        } else {
            &["default@firm.example"]
        };
        assert_eq!(to, want, "{id} ({reference}, form {code})");
        *used.entry(want[0]).or_insert(0) += 1;
    }
    assert_eq!(used.len(), 3, "each route was exercised: {used:?}");
    let deliveries: usize = routes.values().map(Vec::len).sum();
    assert_eq!(
        states(&env),
        BTreeMap::from([("sent".to_owned(), deliveries as i64)])
    );
    assert!(
        out.contains(&format!("notifications: {deliveries} sent")),
        "the sync says what it sent: {out}"
    );
    assert_eq!(eml_files(&env.data_dir().join("mail")).len(), deliveries);

    // A second cycle finds nothing new and sends nothing again.
    let again = ok(&env, &["sync", "mailbox"]).await;
    assert!(!again.contains("notifications:"), "{again}");
    assert_eq!(eml_files(&env.data_dir().join("mail")).len(), deliveries);
}

#[tokio::test]
async fn a_quarantine_and_an_office_stop_are_told_to_the_admin() {
    let env = Env::empty().await;
    configure(&env, NOTIFY);
    let ids = env.create(1, 20_000).await;
    env.fault(json!({"office": "myepo", "kind": "malformed", "count": 1, "endpoint": ids[0]}))
        .await;
    let out = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_MYEPO__MAX_ATTEMPTS", "1")]))
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let db = env.db();
    let admin: Vec<(String, String, String)> = db
        .prepare(
            "SELECT e.kind, d.recipient, d.state FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
             ORDER BY d.id",
        )
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        admin,
        [(
            "quarantine".to_owned(),
            "it@firm.example".to_owned(),
            "sent".to_owned()
        )]
    );

    // Credentials refused: the listing fails, the run stops, IT is told once per run.
    let out = env
        .run(env.mailroom_env(
            &["sync", "mailbox"],
            &[("MAILROOM_MYEPO__CLIENT_SECRET", "wrong")],
        ))
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let stops: Vec<(String, String)> = db
        .prepare(
            "SELECT d.recipient, json_extract(e.payload_json, '$.reason') FROM notify_deliveries d
             JOIN notify_events e ON e.id = d.event_id WHERE e.kind = 'office_stop'",
        )
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].0, "it@firm.example");
    assert!(
        !stops[0].1.contains("wrong"),
        "a secret in a notification: {}",
        stops[0].1
    );
}

#[tokio::test]
async fn more_alerts_than_the_cap_to_one_recipient_become_one_summary() {
    let env = Env::empty().await;
    configure(
        &env,
        &PLAIN.replace("to = [\"default", "max_alerts_per_cycle = 5\nto = [\"default"),
    );
    env.create(8, 10_000).await;
    ok(&env, &["sync", "mailbox"]).await;
    let db = env.db();
    let sent_as: Vec<String> = db
        .prepare("SELECT sent_as FROM notify_deliveries WHERE recipient = 'default@firm.example' AND state = 'sent'")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(sent_as.len(), 8, "every alert is recorded sent");
    assert!(
        sent_as
            .iter()
            .all(|s| s.starts_with("summary") && *s == sent_as[0]),
        "all eight went out as one summary: {sent_as:?}"
    );
    assert_eq!(eml_files(&env.data_dir().join("mail")).len(), 1, "one mail");
}

#[tokio::test]
async fn the_outbox_lists_retries_and_refuses_what_cannot_be_retried() {
    let env = Env::empty().await;
    configure(&env, PLAIN);
    env.create(2, 10_000).await;
    ok(&env, &["sync", "mailbox"]).await;
    let db = env.db();
    db.execute(
        "UPDATE notify_deliveries SET state = 'failed', last_error = 'mailbox full' WHERE id = 1",
        [],
    )
    .expect("fail one");
    let failed = ok(&env, &["outbox", "--failed"]).await;
    assert!(failed.starts_with("outbox: 0 pending, 1 failed\n"), "{failed}");
    assert!(failed.contains("last error: mailbox full"), "{failed}");
    assert_eq!(failed.lines().count(), 2, "{failed}");
    let json: serde_json::Value = serde_json::from_str(&ok(&env, &["outbox", "--json"]).await).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json:#}");

    let out = env.run(env.mailroom(&["outbox", "send"])).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a failed row is left: {}",
        explain(&out)
    );
    ok(&env, &["outbox", "retry", "1"]).await;
    let sent = ok(&env, &["outbox", "send"]).await;
    assert!(sent.contains("notifications: 1 sent"), "{sent}");

    for (id, why) in [
        ("1", "was already sent at"),
        ("99", "no delivery 99 in the outbox"),
    ] {
        let out = env.run(env.mailroom(&["outbox", "retry", id])).await;
        assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn the_digest_says_nothing_happened_and_is_queued_once_a_day() {
    let env = Env::empty().await;
    configure(&env, PLAIN);
    ok(&env, &["sync", "mailbox"]).await;
    let dry = ok(&env, &["notify", "digest", "--dry-run"]).await;
    assert!(dry.to_ascii_lowercase().contains("nothing happened"), "{dry}");
    assert!(states(&env).is_empty(), "a dry run writes nothing");

    let first = ok(&env, &["notify", "digest"]).await;
    assert!(first.contains("notifications: 1 sent"), "{first}");
    let second = ok(&env, &["notify", "digest"]).await;
    assert!(second.contains("already queued today"), "{second}");
    let digests: i64 = env
        .db()
        .query_row(
            "SELECT count(*) FROM notify_events WHERE kind = 'digest'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(digests, 1);
}

#[tokio::test]
async fn notify_test_gives_one_verdict_per_channel() {
    let env = Env::empty().await;
    configure(&env, PLAIN);
    let out = env
        .run(env.mailroom(&["notify", "test", "--email", "x@firm.example", "--webhook", "nope"]))
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.contains("email x@firm.example: sent"), "{text}");
    assert!(
        text.contains("webhook nope: FAILED: no [[notify.webhook]] is named \"nope\""),
        "{text}"
    );
    assert_eq!(eml_files(&env.data_dir().join("mail")).len(), 1);
}

#[tokio::test]
async fn the_demo_writes_its_mail_as_eml_files_with_the_pdf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("demo");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.args(["demo", "--dir"]).arg(&demo);
    cmd.env_remove("MAILROOM_CONFIG");
    let out = tokio::task::spawn_blocking(move || {
        common::output_within(&mut cmd, std::time::Duration::from_secs(120))
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", explain(&out));
    let text = stdout(&out);
    let mail = demo.join("mail");
    assert!(
        text.contains(&format!("written to {}", mail.display())),
        "the demo points to its mail: {text}"
    );
    let files = eml_files(&mail);
    assert!(
        files.len() >= 12,
        "an alert per communication, the change, the digest: {}",
        files.len()
    );
    let with_pdf = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|m| m.contains("Content-Type: application/pdf")))
        .count();
    assert!(
        with_pdf >= 10,
        "the alerts carry their PDFs: {with_pdf} of {}",
        files.len()
    );
}

#[tokio::test]
async fn a_broken_template_override_stops_the_job_before_it_starts() {
    let env = Env::empty().await;
    let templates = env.dir.path().join("templates");
    std::fs::create_dir_all(&templates).expect("dir");
    std::fs::write(
        templates.join("communication.txt"),
        "{{ communication.nonsense }\n",
    )
    .expect("write");
    configure(
        &env,
        &PLAIN.replace(
            "[notify]\n",
            &format!(
                "[notify]\ntemplates_dir = {:?}\n",
                templates.display().to_string()
            ),
        ),
    );
    env.create(1, 10_000).await;
    let out = env.sync().await;
    assert_eq!(out.status.code(), Some(78), "{}", explain(&out));
    let err = stderr(&out);
    assert!(
        err.contains("notify.templates_dir") && err.contains("communication.txt"),
        "names the key and the file: {err}"
    );
    assert!(
        env.archive_files().is_empty(),
        "nothing was done before the refusal"
    );
}
