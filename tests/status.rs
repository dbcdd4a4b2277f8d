//! The case-status job end to end: the `mailroom` binary against the sandbox over HTTP on
//! 127.0.0.1, with a real SQLite file. Office-side changes are made with the sandbox's
//! scenario routes; refusals are counted by the sandbox itself (`/_sandbox/stats`).

mod common;

use std::time::{Duration, Instant};

use common::{Env, answers, cases, changes, explain, ok, stdout, synthetic_ep};
use mailroom_sandbox::SandboxOptions;
use serde_json::{Value, json};

/// Follows every case in `numbers` through one import file.
async fn follow(env: &Env, numbers: &[String]) {
    let path = env.data_dir().with_extension("cases.csv");
    let mut csv = String::from("number\n");
    for n in numbers {
        csv.push_str(n);
        csv.push('\n');
    }
    std::fs::write(&path, csv).expect("write the import file");
    ok(env, &["cases", "import", path.to_str().expect("utf-8 path")]).await;
}

#[tokio::test]
async fn an_advance_at_the_office_is_one_change_and_a_second_cycle_finds_none() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "EP 10 167 109.4", "--ref", "MR-0812-EP"]).await;
    ok(&env, &["cases", "add", "特願2020-123456"]).await;
    let first = ok(&env, &["sync", "status"]).await;
    assert!(first.contains("1 EP and 1 JP case(s) refreshed"), "{first}");
    assert!(changes(&env).await.is_empty(), "a first snapshot is a baseline");

    env.post("/_sandbox/cases/ep/EP10167109/advance", json!({})).await;
    env.post(
        "/_sandbox/cases/jp/2020123456/advance",
        json!({"kind": "document"}),
    )
    .await;
    // JP cases are refreshed once per JST day by the schedule; --case asks for this one now.
    let second = ok(&env, &["sync", "status"]).await;
    ok(&env, &["sync", "status", "--case", "2020-123456"]).await;
    let found = changes(&env).await;
    assert_eq!(found.len(), 2, "one change per advance: {found:#?}\n{second}");
    let cases_changed: Vec<&str> = found.iter().map(|c| c["case"].as_str().unwrap_or("")).collect();
    assert_eq!(cases_changed, ["EP10167109", "JP 2020-123456"]);
    assert!(second.contains("CHANGE EP10167109: "), "{second}");

    let third = ok(&env, &["sync", "status"]).await;
    ok(&env, &["sync", "status", "--case", "2020-123456"]).await;
    assert_eq!(changes(&env).await.len(), 2, "nothing new: {third}");

    let show = ok(&env, &["cases", "show", "EP10167109"]).await;
    assert!(
        show.contains("MR-0812-EP") && show.contains("changes (1)"),
        "{show}"
    );
}

#[tokio::test]
async fn import_reports_bad_rows_by_line_and_keeps_the_rest() {
    let env = Env::empty().await;
    let path = env.data_dir().with_extension("import.csv");
    std::fs::write(
        &path,
        "\u{feff}Number,Kind,client_reference\n\
         EP23184567.2,,MR-1\n\
         # a comment row\n\
         特願2020-8423,,MR-2\n\
         EP 12 34,,MR-3\n\
         2024-123456,trademark,MR-4\n\
         2020-015234,sculpture,MR-5\n",
    )
    .expect("write");
    let o = env
        .run(env.mailroom(&["cases", "import", path.to_str().expect("utf-8")]))
        .await;
    assert_eq!(o.status.code(), Some(3), "{}", explain(&o));
    let out = stdout(&o);
    assert!(out.contains("3 case(s) added"), "{out}");
    assert!(
        out.contains(":5: ") && out.contains("\"EP 12 34\""),
        "line 5 named: {out}"
    );
    assert!(
        out.contains(":7: ") && out.contains("sculpture"),
        "line 7 named: {out}"
    );
    let list = cases(&env).await;
    let numbers: Vec<&str> = list.iter().map(|c| c["number"].as_str().unwrap_or("")).collect();
    assert_eq!(numbers, ["EP23184567", "2020008423", "2024123456"]);
    assert_eq!(list[2]["kind"], "trademark");
}

#[tokio::test]
async fn mailbox_applications_become_cases_and_unknown_ones_are_flagged_not_fatal() {
    let env = Env::start(SandboxOptions::default()).await;
    let o = env.sync().await;
    assert!(o.status.success(), "{}", explain(&o));
    let o = env.run(env.mailroom(&["sync", "status"])).await;
    // EP23184567 of the sample mailbox is made up: the Register does not know it. That is
    // reported, not a failure.
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let out = stdout(&o);
    assert!(out.contains("case(s) added from the mailbox"), "{out}");
    assert!(out.contains("not found: EP23184567"), "{out}");
    let list = cases(&env).await;
    // EP cases from the mailbox, JP cases found as their counterparts (issue 11).
    for c in &list {
        let want = match (c["office"].as_str(), c["number"].as_str()) {
            (Some("EP"), _) => "mailbox",
            (_, Some("2026500123")) => "pct",
            _ => "family",
        };
        assert_eq!(c["source"], want, "{c}");
    }
    let unknown = list
        .iter()
        .find(|c| c["number"] == "EP23184567")
        .expect("EP23184567 followed");
    assert_eq!(unknown["not_found"], true, "{unknown}");
    let known = list
        .iter()
        .find(|c| c["number"] == "EP10167109")
        .expect("EP10167109 followed");
    assert_eq!(known["status_code"], "7", "{known}");
    assert!(
        known["client_reference"].is_string(),
        "user reference carried over: {known}"
    );

    // A removed case stays removed although the mailbox still holds it.
    ok(&env, &["cases", "remove", "EP23184567"]).await;
    ok(&env, &["sync", "status"]).await;
    assert!(cases(&env).await.iter().all(|c| c["number"] != "EP23184567"));
}

#[tokio::test]
async fn token_expiry_mid_cycle_and_a_5xx_burst_are_ridden_out() {
    let env = Env::empty().await;
    let numbers = synthetic_ep(&env, 60).await;
    follow(&env, &numbers).await;
    env.fault(json!({"office": "ops", "kind": "status", "status": 503, "count": 3}))
        .await;
    let child = env.spawn(env.mailroom(&["sync", "status"]));
    // Expire every OPS token once the cycle is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let served = answers(&env, "register", "200").await;
        if served >= 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cycle did not get going: {served} answers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.fault(json!({"office": "ops", "kind": "expire_token"})).await;
    let o = env.finish(child).await;
    assert!(o.status.success(), "{}", explain(&o));
    assert!(
        stdout(&o).contains("60 EP and 0 JP case(s) refreshed"),
        "{}",
        explain(&o)
    );
    assert!(
        answers(&env, "register", "400").await >= 1,
        "the expired token was seen"
    );
}

/// A 1,000-case cycle at a binding `other` limit finishes without one refusal.
async fn thousand_cases_under(state: &str, limit: u32) {
    let env = Env::start(SandboxOptions {
        time_scale: 60.0,
        ..SandboxOptions::default()
    })
    .await;
    env.post(
        "/_sandbox/ops/throttle",
        json!({"state": state, "limits": {"other": limit}}),
    )
    .await;
    let numbers = synthetic_ep(&env, 1000).await;
    follow(&env, &numbers).await;
    let out = ok(&env, &["sync", "status"]).await;
    assert!(out.contains("1000 EP and 0 JP case(s) refreshed"), "{out}");
    assert_eq!(answers(&env, "register", "403").await, 0, "{out}");
    assert_eq!(
        answers(&env, "register", "200").await,
        1000,
        "one request per case: {out}"
    );
}

#[tokio::test]
async fn a_thousand_cases_idle_get_no_403() {
    thousand_cases_under("idle", 1000).await;
}

#[tokio::test]
async fn a_thousand_cases_busy_get_no_403() {
    thousand_cases_under("busy", 500).await;
}

#[tokio::test]
async fn a_thousand_cases_overloaded_get_no_403() {
    thousand_cases_under("overloaded", 200).await;
}

#[tokio::test]
async fn the_weekly_quota_soft_cap_stops_the_cycle_before_it_is_crossed() {
    let env = Env::empty().await;
    let numbers = synthetic_ep(&env, 30).await;
    follow(&env, &numbers).await;
    // About thirteen register answers' worth: 80 % of it is reached after about ten. The
    // account's quota is configuration, as it is for a real account.
    env.post("/_sandbox/ops/quota", json!({"week_bytes": 1_000_000}))
        .await;
    let o = env
        .run(env.mailroom_env(
            &["sync", "status"],
            &[("MAILROOM_OPS__WEEK_QUOTA_BYTES", "1000000")],
        ))
        .await;
    assert_eq!(o.status.code(), Some(3), "{}", explain(&o));
    assert!(stdout(&o).contains("soft cap reached"), "{}", explain(&o));
    let refused = answers(&env, "register", "403").await;
    assert_eq!(refused, 0, "stopped before the office refused: {}", explain(&o));
    let served = answers(&env, "register", "200").await;
    assert!((8..=12).contains(&served), "stopped near 80 %: {served} answers");
}

async fn jp_patents(env: &Env, count: u32) -> Vec<String> {
    let v = env
        .post("/_sandbox/jpo/cases", json!({"right": "patent", "count": count}))
        .await;
    v["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| n.as_str().expect("number").to_owned())
        .collect()
}

async fn jpo_patent_calls_spent(env: &Env) -> u64 {
    let usage = env.get("/_sandbox/jpo/usage").await;
    usage["users"]
        .as_object()
        .expect("users")
        .values()
        .map(|u| u["patent"]["app_progress"]["used"].as_u64().unwrap_or(0))
        .sum()
}

/// The office's cap (4) is below the configured one (400): the client learns it from
/// `remainAccessCount`, stops without a 203, and the rest waits for the next JST day. An
/// unknown number costs a call and is flagged; two 303 (HTTP 429) replies are waited out.
#[tokio::test]
async fn jpo_caps_are_learnt_busy_replies_waited_out_and_unknown_numbers_flagged() {
    let env = Env::empty().await;
    let mut numbers = vec!["2099999999".to_owned()];
    numbers.extend(jp_patents(&env, 6).await);
    follow(&env, &numbers).await;
    env.post("/_sandbox/jpo/caps", json!({"app_progress": 4})).await;
    env.fault(json!({"office": "jpo", "kind": "status", "status": 429, "count": 2}))
        .await;
    let o = env.run(env.mailroom(&["sync", "status"])).await;
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "an unknown number is no failure: {}",
        explain(&o)
    );
    assert!(out.contains("0 EP and 3 JP case(s) refreshed"), "{}", explain(&o));
    assert!(
        out.contains("3 JP case(s) wait for a later day"),
        "{}",
        explain(&o)
    );
    assert!(out.contains("not found: JP 2099-999999"), "{}", explain(&o));
    assert!(
        out.contains("(0 daily-cap and 2 busy replies)"),
        "{}",
        explain(&o)
    );
    assert_eq!(answers(&env, "/jpo/api", "429").await, 2);
    // A second cycle on the same JST day spends nothing: the counters are in SQLite.
    let again = env.run(env.mailroom(&["sync", "status"])).await;
    assert!(
        stdout(&again).contains("0 EP and 0 JP case(s) refreshed"),
        "{}",
        explain(&again)
    );
    assert_eq!(jpo_patent_calls_spent(&env).await, 4, "never beyond the cap");
    let unknown = cases(&env).await;
    let unknown = unknown
        .iter()
        .find(|c| c["number"] == "2099999999")
        .expect("followed");
    assert_eq!(unknown["not_found"], true, "{unknown}");
}

/// Someone else spent today's cap with the same account: one 203, then no more calls.
#[tokio::test]
async fn a_jpo_203_stops_that_api_for_the_day_after_one_reply() {
    let env = Env::empty().await;
    let numbers = jp_patents(&env, 5).await;
    follow(&env, &numbers).await;
    env.post("/_sandbox/jpo/caps", json!({"app_progress": 2})).await;
    let urls = mailroom_sandbox::Urls::for_base(&env.sandbox.base_url());
    let http = reqwest::Client::new();
    let token: Value = http
        .post(&urls.jpo_token)
        .form(&[
            ("grant_type", "password"),
            ("username", mailroom_sandbox::credentials::JPO_USERNAME),
            ("password", mailroom_sandbox::credentials::JPO_PASSWORD),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let bearer = token["access_token"].as_str().expect("access token");
    for n in &numbers[..2] {
        let r = http
            .get(format!("{}/patent/v1/app_progress/{n}", urls.jpo_api_base))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("other consumer");
        assert!(r.status().is_success());
    }
    let o = env.run(env.mailroom(&["sync", "status"])).await;
    let out = stdout(&o);
    assert!(o.status.success(), "a cap is not a failure: {}", explain(&o));
    assert!(out.contains("0 EP and 0 JP case(s) refreshed"), "{}", explain(&o));
    assert!(
        out.contains("(1 daily-cap and 0 busy replies)"),
        "{}",
        explain(&o)
    );
    assert!(
        out.contains("5 JP case(s) wait for a later day"),
        "{}",
        explain(&o)
    );
    assert!(out.contains("today's cap is used up"), "{}", explain(&o));
}

/// The docketing exports: JSON with cases and changes, CSV tables, and an ICS that a standard
/// calendar parser (Python's `icalendar`, installed by `.ci/run`) reads back.
#[tokio::test]
async fn exports_hold_cases_changes_and_a_calendar_of_office_dates() {
    let env = Env::start(SandboxOptions::default()).await;
    assert!(env.sync().await.status.success());
    env.post("/_sandbox/ops/cases", json!({"count": 1, "status": "12"}))
        .await;
    ok(&env, &["cases", "add", "EP90000001", "--ref", "MR-9001"]).await;
    let _ = env.run(env.mailroom(&["sync", "status"])).await;
    env.post("/_sandbox/cases/ep/EP90000001/advance", json!({})).await;
    let _ = env.run(env.mailroom(&["sync", "status"])).await;

    let json: Value = serde_json::from_str(&ok(&env, &["export", "--format", "json"]).await).expect("JSON");
    assert_eq!(json["communications"].as_array().map(Vec::len), Some(12));
    let granted = json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["number"] == "EP90000001")
        .expect("EP90000001 exported");
    assert_eq!(granted["status_code"], "8", "{granted}");
    assert_eq!(granted["client_reference"], "MR-9001");
    let changes = json["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["kind"], "status");

    let csv = ok(&env, &["export", "--format", "csv", "--table", "changes"]).await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("case,detected_at,kind,summary,old,new,office_date")
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("EP90000001,")),
        "{csv}"
    );
    let cases_csv = ok(&env, &["export", "--format", "csv"]).await;
    assert!(
        cases_csv.starts_with(
            "office,kind,number,client_reference,status_code,status_text,status_date,checked_at,source,family_id,linked_to\n"
        )
    );

    let ics = ok(&env, &["export", "--format", "ics"]).await;
    assert!(
        ics.contains("\r\n") && !ics.replace("\r\n", "").contains('\n'),
        "CRLF only"
    );
    let parsed = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import icalendar, json, sys\n\
                 cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())\n\
                 print(json.dumps([[str(e.get('SUMMARY')), e.decoded('DTSTART').isoformat(), str(e.get('UID'))] \
                 for e in cal.walk('VEVENT')]))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(ics.as_bytes()).expect("write");
        common::wait_within(child, "python3 (icalendar)", std::time::Duration::from_secs(60))
    })
    .await
    .expect("join");
    assert!(
        parsed.status.success(),
        "icalendar refused the export (pip install icalendar): {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let events: Vec<(String, String, String)> = serde_json::from_slice(&parsed.stdout).expect("events");
    let dispatch = events
        .iter()
        .filter(|e| e.0.contains("EPO communication"))
        .count();
    assert_eq!(dispatch, 12, "every dispatch date: {events:#?}");
    assert!(
        events.iter().any(|e| e.0.starts_with("EP90000001: status")),
        "the status change: {events:#?}"
    );
    assert!(
        events.iter().any(|e| e.0.contains("time limit")),
        "time limits from the Register: {events:#?}"
    );
    let uids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(uids.len(), events.len(), "UIDs are unique");
}
