//! `mailroom deadline`, the calculator (issue 13), as a person runs it: the binary, its
//! output, its JSON and its refusals.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{output_within, stderr, stdout};

fn deadline(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("deadline").args(args).env_remove("MAILROOM_CONFIG");
    output_within(&mut cmd, Duration::from_secs(30))
}

/// `mailroom deadline ARGS --json`: asserts it succeeded and parses its output.
fn deadline_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = deadline(&all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("JSON")
}

#[test]
fn a_rule_71_3_period_over_a_month_end_and_a_sunday_says_each_step() {
    let o = deadline(&[
        "--office",
        "EP",
        "--from",
        "2026-10-30",
        "--period",
        "4m",
        "--basis",
        "Rule 71(3) EPC",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("Due 2027-03-01 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC\n"),
        "{out}"
    );
    assert!(
        out.contains("the last day of February 2027 (it has no 30th)"),
        "{out}"
    );
    assert!(
        out.contains("Rule 134(1) EPC: 2027-02-28 (Sun) is a Sunday → 2027-03-01 (Mon)"),
        "{out}"
    );
    assert!(
        out.contains("warning: calendar missing for 2027"),
        "a year without a list says so: {out}"
    );
}

#[test]
fn json_carries_the_date_the_steps_and_the_warnings() {
    let v = deadline_json(&[
        "--office",
        "ep",
        "--from",
        "2026-11-02",
        "--period",
        "2 months",
        "--delivered",
        "2026-11-14",
    ]);
    assert_eq!(v["due"], "2027-01-07", "{v}");
    assert_eq!(v["unextended"], "2027-01-07");
    let steps = v["steps"].as_array().expect("steps");
    assert!(
        steps
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("seven-day safeguard"))),
        "{v}"
    );
    assert_eq!(v["basis"], serde_json::Value::Null);
    let v = deadline_json(&["--office", "JP", "--from", "2026-04-02", "--period", "1m"]);
    assert_eq!(v["due"], "2026-05-07", "Golden Week: {v}");
}

#[test]
fn bad_input_is_one_line_naming_the_culprit() {
    for (args, culprit) in [
        (
            vec!["--office", "US", "--from", "2026-10-30", "--period", "4m"],
            "\"US\" is not an office",
        ),
        (
            vec!["--office", "EP", "--from", "2026-02-30", "--period", "4m"],
            "\"2026-02-30\" is not a date",
        ),
        (
            vec![
                "--office",
                "EP",
                "--from",
                "2026-10-30",
                "--period",
                "4 fortnights",
            ],
            "\"4 fortnights\" is not a period",
        ),
        (
            vec![
                "--office",
                "EP",
                "--from",
                "2026-10-30",
                "--period",
                "4m",
                "--delivered",
                "2026-10-01",
            ],
            "received 2026-10-01 is before the document's date 2026-10-30",
        ),
    ] {
        let o = deadline(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(culprit), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn a_title_gives_the_period_from_the_rules_table_with_its_source() {
    let v = deadline_json(&[
        "--office",
        "EP",
        "--from",
        "2026-10-30",
        "--rule",
        "Communication under Rule 71(3) EPC",
    ]);
    assert_eq!(v["due"], "2027-03-01", "{v}");
    assert_eq!(v["period"], "4 months");
    assert_eq!(v["basis"], "Rule 71(3) EPC");
    assert_eq!(
        v["rule"]["source"],
        "https://www.epo.org/en/legal/epc/2020/r71.html"
    );
    assert_eq!(v["rule"]["extendable"], false);
    let unknown = deadline(&[
        "--office",
        "EP",
        "--from",
        "2026-10-30",
        "--rule",
        "Communication from the Examining Division",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("the rules table knows no period for it; give --period"),
        "{}",
        stderr(&unknown)
    );
    let jp = deadline(&["--office", "JP", "--from", "2026-10-30", "--rule", "Rule 71(3)"]);
    assert!(
        !jp.status.success() && stderr(&jp).contains("the rules table holds EPC rules"),
        "{}",
        stderr(&jp)
    );
}
