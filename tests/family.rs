//! JP counterparts end to end (issue 11): the `mailroom` binary against the sandbox over HTTP
//! on 127.0.0.1, with a real SQLite file. A mailbox communication brings its EP or PCT case;
//! the status cycle looks up the EP case's INPADOC family (OPS) or the PCT application's JP
//! national phase (JPO), follows the JP member and refreshes it in the same cycle.

mod common;

use common::{Env, answers, cases, changes, explain, ok};
use serde_json::{Value, json};

/// One mailbox communication for `application`, synced into the archive.
async fn communication_for(env: &Env, application: &str) {
    env.post(
        "/_sandbox/myepo/communications",
        json!({"count": 1, "size": 2000, "application_number": application}),
    )
    .await;
    ok(env, &["sync", "mailbox"]).await;
}

fn case<'a>(list: &'a [Value], number: &str) -> Option<&'a Value> {
    list.iter().find(|c| c["number"] == number)
}

/// Requests the sandbox answered on routes containing `route`, whatever the status.
async fn requests(env: &Env, route: &str) -> u64 {
    let mut n = 0;
    for status in ["200", "404"] {
        n += answers(env, route, status).await;
    }
    n
}

/// National-phase calls the JPO counted today (a 203 spends nothing, so this counts the
/// calls answered 100 or 107).
async fn pct_calls(env: &Env) -> u64 {
    let usage = env.get("/_sandbox/jpo/usage").await;
    usage["users"]
        .as_object()
        .map(|users| {
            users
                .values()
                .filter_map(|u| u["patent"]["pct_national_phase_application_number"]["used"].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_ep_communication_brings_its_jp_counterpart_followed_refreshed_and_announced() {
    let env = Env::empty().await;
    communication_for(&env, "EP23184567").await;

    let first = ok(&env, &["sync", "status"]).await;
    assert!(
        first.contains("now following JP 2020-123456, the JP counterpart of EP23184567"),
        "{first}"
    );
    assert!(
        first.contains("JP member of EP23184567 found, number not mapped: JP.28341297.A"),
        "the pre-2000 member is listed, not guessed: {first}"
    );
    let list = cases(&env).await;
    let jp = case(&list, "2020123456").expect("the JP member is followed");
    assert_eq!(jp["source"], "family");
    assert_eq!(jp["linked_to"], json!(["EP23184567"]));
    assert_eq!(jp["family_id"], "71234508");
    assert!(jp["checked_at"].is_string(), "refreshed in the same cycle: {jp}");
    let ep = case(&list, "EP23184567").expect("the EP case");
    assert_eq!(ep["linked_to"], json!(["JP 2020-123456"]));
    assert_eq!(requests(&env, "/family/").await, 1, "one family lookup");

    let show = ok(&env, &["cases", "show", "EP23184567"]).await;
    assert!(show.contains("INPADOC family 71234508 (6 member(s)"), "{show}");
    assert!(
        show.contains("JP  JP 2020-123456") && show.contains("Registered as 7533889"),
        "the JP member's status beside the EP case: {show}"
    );
    assert!(show.contains("JP member found, number not mapped"), "{show}");
    let listing = ok(&env, &["cases", "list"]).await;
    assert!(listing.contains("of EP23184567"), "{listing}");

    // The next cycle does not look the family up again (30 days), and follows nothing twice.
    let second = ok(&env, &["sync", "status"]).await;
    assert_eq!(requests(&env, "/family/").await, 1, "{second}");
    assert!(!second.contains("now following"), "{second}");

    // An office advance on the JP member: one change, announced under the EP case.
    env.post(
        "/_sandbox/cases/jp/2020123456/advance",
        json!({"kind": "document"}),
    )
    .await;
    ok(&env, &["sync", "status", "--case", "2020-123456"]).await;
    let found = changes(&env).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["case"], "JP 2020-123456");
    let payload: String = env
        .db()
        .query_row(
            "SELECT payload_json FROM notify_events WHERE kind = 'change'",
            [],
            |r| r.get(0),
        )
        .expect("one change event in the outbox");
    let event: Value = serde_json::from_str(&payload).expect("event JSON");
    assert_eq!(
        event["counterpart_of"],
        json!([{"case": "EP23184567", "client_reference": null}]),
        "{event}"
    );

    let export = ok(&env, &["export", "--format", "csv", "--table", "cases"]).await;
    let row = export
        .lines()
        .find(|l| l.starts_with("JP,patent,2020123456,"))
        .expect("the JP case is exported");
    assert!(row.ends_with(",family,71234508,EP23184567"), "{export}");
}

#[tokio::test]
async fn a_removed_counterpart_stays_removed_and_a_hand_added_one_is_linked_not_doubled() {
    let env = Env::empty().await;
    ok(&env, &["cases", "add", "特願2020-123456", "--ref", "MR-JP-1"]).await;
    communication_for(&env, "EP23184567").await;
    let out = ok(&env, &["sync", "status"]).await;
    assert!(!out.contains("now following"), "already followed: {out}");
    let list = cases(&env).await;
    let jp: Vec<&Value> = list.iter().filter(|c| c["office"] == "JP").collect();
    assert_eq!(jp.len(), 1, "linked, not duplicated: {list:#?}");
    assert_eq!(jp[0]["source"], "manual", "a person's case keeps its source");
    assert_eq!(jp[0]["client_reference"], "MR-JP-1");
    assert_eq!(jp[0]["linked_to"], json!(["EP23184567"]));

    ok(&env, &["cases", "remove", "2020-123456"]).await;
    // A month later the family is looked up again (the lookup's time is moved back by hand).
    env.db()
        .execute(
            "UPDATE family_lookups SET looked_up_at = '2020-01-01T00:00:00Z'",
            [],
        )
        .expect("age the lookup");
    let again = ok(&env, &["sync", "status"]).await;
    assert_eq!(requests(&env, "/family/").await, 2, "{again}");
    let list = cases(&env).await;
    assert!(
        case(&list, "2020123456").is_none(),
        "a person's removal sticks: {list:#?}\n{again}"
    );
    let show = ok(&env, &["cases", "show", "EP23184567"]).await;
    assert!(show.contains("not followed (removed by a person)"), "{show}");
}

#[tokio::test]
async fn a_pct_communication_brings_its_jp_national_phase_once() {
    let env = Env::empty().await;
    communication_for(&env, "PCT/EP2024/071234").await;
    let first = ok(&env, &["sync", "status"]).await;
    assert!(
        first.contains("now following JP 2026-500123, the JP counterpart of PCT/EP2024/071234"),
        "{first}"
    );
    let list = cases(&env).await;
    let jp = case(&list, "2026500123").expect("the national phase is followed");
    assert_eq!(jp["source"], "pct");
    assert_eq!(jp["linked_to"], json!(["PCT/EP2024/071234"]));
    assert!(jp["checked_at"].is_string(), "{jp}");
    assert_eq!(pct_calls(&env).await, 1, "one national-phase lookup");
    ok(&env, &["sync", "status"]).await;
    assert_eq!(
        pct_calls(&env).await,
        1,
        "a national phase found is not looked up again"
    );
}

#[tokio::test]
async fn lookups_stop_at_the_caps_before_the_offices_refuse() {
    let env = Env::empty().await;
    // JPO: a national-phase cap of 1; two PCT applications in the mailbox.
    env.post(
        "/_sandbox/jpo/caps",
        json!({"pct_national_phase_application_number": 1}),
    )
    .await;
    communication_for(&env, "PCT/EP2024/071234").await;
    communication_for(&env, "PCT/EP2025/000001").await;
    // OPS: two EP cases the Register does not know (404 answers of 111 bytes), and a weekly
    // quota of 400 bytes, soft cap 320: the two Register answers (222) leave room for one
    // family lookup, whose answer (111 or 8 913 bytes) crosses the cap, so the second lookup
    // is refused here, never sent.
    communication_for(&env, "EP23184567").await;
    communication_for(&env, "EP99999999").await;
    let o = env
        .run(env.mailroom_env(&["sync", "status"], &[("MAILROOM_OPS__WEEK_QUOTA_BYTES", "400")]))
        .await;
    let out = common::stdout(&o);
    assert!(
        out.contains("family lookups stopped, 1 left for the next cycle: OPS weekly soft cap reached"),
        "{}",
        explain(&o)
    );
    assert!(
        out.contains("today's cap is used up; the PCT lookups wait"),
        "{}",
        explain(&o)
    );
    assert_eq!(requests(&env, "/family/").await, 1, "{}", explain(&o));
    assert_eq!(answers(&env, "/ops/", "403").await, 0, "no 403 from OPS");
    // The second PCT lookup was refused here, never sent to be answered 203.
    assert_eq!(pct_calls(&env).await, 1, "{}", explain(&o));
    assert!(
        out.contains("0 daily-cap and"),
        "no 203 from the JPO: {}",
        explain(&o)
    );
}
