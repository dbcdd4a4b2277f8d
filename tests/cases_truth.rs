//! `sync status` and `cases` tell the truth (issue 8): refused credentials and an unreachable
//! office are exit 1 naming the office and the key to check; a case the office does not know
//! is reported once and retried on a slower schedule; a publication and its application are
//! one case; a known case's reference changes only with `--update`; imports refuse extra
//! columns and read semicolon files. The real binary against the sandbox on 127.0.0.1.

mod common;

use std::process::Output;

use common::{Env, answers, cases, changes, explain, ok, stderr, stdout};
use mailroom_sandbox::SandboxOptions;
use serde_json::{Value, json};

/// The one `mailroom: error:` line of stderr.
fn error_line(o: &Output) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mailroom: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {}", explain(o));
    lines[0].to_owned()
}

/// A loopback URL nothing listens on: a port the OS gave out, closed again.
fn closed_port_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}{path}")
}

#[tokio::test]
async fn a_wrong_ops_secret_is_exit_1_naming_the_office_and_the_key() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "EP10167109"]).await;
    let o = env
        .run(env.mailroom_env(
            &["sync", "status"],
            &[("MAILROOM_OPS__CONSUMER_SECRET", "not-the-secret")],
        ))
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let line = error_line(&o);
    assert!(
        line.contains("OPS refused our credentials (HTTP 401 ClientId is Invalid)")
            && line.contains("check [ops] consumer_key"),
        "{line}"
    );
    assert!(!line.contains("not-the-secret"), "no secret in errors: {line}");
    assert!(
        stdout(&o).contains("0 failed"),
        "no case is blamed: {}",
        explain(&o)
    );
    assert_eq!(
        answers(&env, "register", "200").await,
        0,
        "no Register request without a token"
    );
}

#[tokio::test]
async fn a_wrong_jpo_password_is_exit_1_naming_the_office_and_the_key() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "特願2020-123456"]).await;
    let o = env
        .run(env.mailroom_env(
            &["sync", "status"],
            &[("MAILROOM_JPO__PASSWORD", "not-the-password")],
        ))
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let line = error_line(&o);
    assert!(
        line.contains("JPO refused our credentials (HTTP 401")
            && line.contains("check [jpo] username/password"),
        "{line}"
    );
    assert!(!line.contains("not-the-password"), "no secret in errors: {line}");
}

#[tokio::test]
async fn ops_at_a_closed_port_is_exit_1_naming_the_url() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "EP10167109"]).await;
    let url = closed_port_url("/ops/3.2");
    let o = env
        .run(env.mailroom_env(&["sync", "status"], &[("MAILROOM_OPS__BASE_URL", &url)]))
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let line = error_line(&o);
    assert!(
        line.contains(&format!("cannot reach OPS at {url}")) && line.contains("check [ops] base_url"),
        "{line}"
    );
    assert_eq!(
        line.matches(&url).count(),
        1,
        "the URL once, not repeated by the cause: {line}"
    );
}

/// Decision: the run that first finds a case unknown reports it (`not found:` with the
/// reason and the next try) and exits 0 — the office answered; later runs skip it until its
/// next try is due and only count it.
#[tokio::test]
async fn a_case_the_office_does_not_know_is_reported_once_and_retried_later() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "EP23184567", "--ref", "MR-0567"]).await;
    ok(&env, &["cases", "add", "EP10167109"]).await;
    let first = ok(&env, &["sync", "status"]).await;
    // The JP case is EP23184567's counterpart in the sandbox's INPADOC family (issue 11).
    assert!(
        first.contains("1 EP and 1 JP case(s) refreshed")
            && first.contains("0 failed, 1 not found at the office"),
        "{first}"
    );
    assert!(
        first.contains("  not found: EP23184567: OPS Register has no case EP23184567; next try "),
        "{first}"
    );
    assert_eq!(answers(&env, "register", "404").await, 1);

    let second = ok(&env, &["sync", "status"]).await;
    assert!(second.contains("0 failed, 1 not found at the office"), "{second}");
    assert!(!second.contains("not found: "), "reported once: {second}");
    assert_eq!(
        answers(&env, "register", "404").await,
        1,
        "not asked again before its next try"
    );

    let list = ok(&env, &["cases", "list"]).await;
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::Duration::days(1);
    assert!(
        list.contains(&format!(
            "not found at the office since {today}, next try {tomorrow}"
        )),
        "{list}"
    );
    let show = ok(&env, &["cases", "show", "EP23184567"]).await;
    assert!(
        show.contains("not found at the office since") && show.contains("(1 lookup(s) in a row)"),
        "{show}"
    );

    // Asked for by name, it is looked up now; the second miss doubles the wait.
    let forced = ok(&env, &["sync", "status", "--case", "EP23184567"]).await;
    assert!(!forced.contains("not found: "), "{forced}");
    assert_eq!(answers(&env, "register", "404").await, 2);
    let row = cases(&env)
        .await
        .into_iter()
        .find(|c| c["number"] == "EP23184567")
        .expect("followed");
    assert_eq!(row["not_found_misses"], 2, "{row}");
    let next = row["next_attempt_at"].as_str().expect("next attempt");
    let in_two_days = today + chrono::Duration::days(2);
    assert!(next.starts_with(&in_two_days.to_string()), "{row}");
}

#[tokio::test]
async fn a_publication_and_its_application_are_one_case() {
    let env = Env::empty().await;
    let added = ok(&env, &["cases", "add", "EP2400812 B1", "--ref", "MR-0812"]).await;
    assert_eq!(added, "EP10167109: added (publication EP2400812)\n");
    let again = ok(&env, &["cases", "add", "EP10167109"]).await;
    assert!(again.contains("EP10167109: already followed"), "{again}");
    let by_publication = ok(&env, &["cases", "add", "EP2400812"]).await;
    assert!(
        by_publication.contains("EP10167109: already followed"),
        "{by_publication}"
    );
    assert_eq!(
        answers(&env, "register", "200").await,
        1,
        "resolved by one Register request"
    );
    let list = cases(&env).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["publication_number"], "EP2400812");
    assert_eq!(list[0]["client_reference"], "MR-0812");

    ok(&env, &["sync", "status"]).await;
    env.post("/_sandbox/cases/ep/EP10167109/advance", json!({})).await;
    let out = ok(&env, &["sync", "status"]).await;
    assert!(out.contains("1 EP and 0 JP case(s) refreshed"), "{out}");
    assert_eq!(changes(&env).await.len(), 1, "one change per advance: {out}");
    let show = ok(&env, &["cases", "show", "EP2400812"]).await;
    assert!(
        show.starts_with("EP10167109  (EP patent, publication EP2400812, MR-0812")
            && show.contains("changes (1)"),
        "{show}"
    );
}

/// OPS cannot answer when the publication is added: it is kept under the publication, and the
/// status cycle that also adds the application from the mailbox merges the two.
#[tokio::test]
async fn a_publication_added_while_ops_is_down_merges_with_the_mailbox_application() {
    let env = Env::start(SandboxOptions::default()).await;
    let url = closed_port_url("/ops/3.2");
    let o = env
        .run(env.mailroom_env(
            &["cases", "add", "EP2400812 B1"],
            &[("MAILROOM_OPS__BASE_URL", &url)],
        ))
        .await;
    assert!(o.status.success(), "{}", explain(&o));
    assert!(
        stdout(&o).contains(&format!(
            "EP2400812: added; the next `mailroom sync status` looks up its application, the Register could not say now: cannot reach OPS at {url}"
        )),
        "{}",
        explain(&o)
    );
    assert!(env.sync().await.status.success());
    ok(&env, &["sync", "status"]).await;
    let list = cases(&env).await;
    let ours: Vec<&Value> = list
        .iter()
        .filter(|c| c["number"] == "EP10167109" || c["number"] == "EP2400812")
        .collect();
    assert_eq!(ours.len(), 1, "one case: {list:#?}");
    assert_eq!(ours[0]["number"], "EP10167109");
    assert_eq!(ours[0]["publication_number"], "EP2400812");

    env.post("/_sandbox/cases/ep/EP10167109/advance", json!({})).await;
    ok(&env, &["sync", "status"]).await;
    let found: Vec<Value> = changes(&env)
        .await
        .into_iter()
        .filter(|c| c["case"] == "EP10167109")
        .collect();
    assert_eq!(found.len(), 1, "one change per advance: {found:#?}");
}

#[tokio::test]
async fn another_reference_needs_update_and_bad_numbers_are_refused() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "EP23184567", "--ref", "ACME-1"]).await;
    let o = env
        .run(env.mailroom(&["cases", "add", "EP 23 184 567.2", "--ref", "ACME-2"]))
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    assert_eq!(
        error_line(&o),
        "mailroom: error: EP23184567 is already followed with reference ACME-1; use --update to change it to ACME-2"
    );
    assert_eq!(cases(&env).await[0]["client_reference"], "ACME-1");
    ok(&env, &["cases", "add", "EP23184567", "--ref", "ACME-1"]).await;
    ok(
        &env,
        &["cases", "add", "EP23184567", "--ref", "ACME-2", "--update"],
    )
    .await;
    assert_eq!(cases(&env).await[0]["client_reference"], "ACME-2");

    for (number, reason) in [
        (
            "EP123",
            "an EP application has 8 digits and a publication 7, not 3",
        ),
        ("EP2318456X", "\"X\" is not an EP publication kind"),
    ] {
        let o = env.run(env.mailroom(&["cases", "add", number])).await;
        assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
        assert!(error_line(&o).contains(reason), "{}", explain(&o));
    }
    assert_eq!(cases(&env).await.len(), 1);
}

#[tokio::test]
async fn import_refuses_extra_columns_and_reads_semicolon_files() {
    let env = Env::empty().await;
    let wide = env.data_dir().with_extension("wide.csv");
    std::fs::write(
        &wide,
        "number,office,kind,client_reference\n\
         EP23184567.2,EP,patent,MR-1\n\
         特願2020-8423,JP,patent,MR-2,stray\n",
    )
    .expect("write");
    let o = env
        .run(env.mailroom(&["cases", "import", wide.to_str().expect("utf-8")]))
        .await;
    assert_eq!(o.status.code(), Some(3), "{}", explain(&o));
    assert!(
        stdout(&o).contains(&format!("{}:3: 5 columns, the header has 4", wide.display())),
        "{}",
        explain(&o)
    );
    let numbers: Vec<Value> = cases(&env).await.iter().map(|c| c["number"].clone()).collect();
    assert_eq!(numbers, [json!("EP23184567")]);

    let german = env.data_dir().with_extension("excel.csv");
    std::fs::write(
        &german,
        "\u{feff}number;office;kind;client_reference\r\n\
         EP10167109;EP;patent;Müller, Rechtsanwälte\r\n\
         2024-123456;JP;trademark;MR-4\r\n",
    )
    .expect("write");
    let out = ok(&env, &["cases", "import", german.to_str().expect("utf-8")]).await;
    let said: Vec<&str> = out.lines().filter(|l| l.contains("semicolon")).collect();
    assert_eq!(said.len(), 1, "said once: {out}");
    assert!(out.contains("2 case(s) added"), "{out}");
    let list = cases(&env).await;
    let got: Vec<(String, String)> = list
        .iter()
        .map(|c| {
            (
                c["number"].as_str().unwrap_or_default().to_owned(),
                c["client_reference"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        got.contains(&("EP10167109".into(), "Müller, Rechtsanwälte".into()))
            && got.contains(&("2024123456".into(), "MR-4".into())),
        "{got:?}"
    );

    // Another reference for a followed case is a refused row unless --update is given.
    let other = env.data_dir().with_extension("other.csv");
    std::fs::write(
        &other,
        "number,client_reference
EP10167109,MR-0812
",
    )
    .expect("write");
    let path = other.to_str().expect("utf-8");
    let o = env.run(env.mailroom(&["cases", "import", path])).await;
    assert_eq!(o.status.code(), Some(3), "{}", explain(&o));
    assert!(
        stdout(&o).contains(&format!(
            "{path}:2: EP10167109 is already followed with reference Müller, Rechtsanwälte; use --update to change it to MR-0812"
        )),
        "{}",
        explain(&o)
    );
    ok(&env, &["cases", "import", path, "--update"]).await;
    let updated = cases(&env).await;
    let row = updated
        .iter()
        .find(|c| c["number"] == "EP10167109")
        .expect("followed");
    assert_eq!(row["client_reference"], "MR-0812");
}
