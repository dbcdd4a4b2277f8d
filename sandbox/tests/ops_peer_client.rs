//! A real third-party OPS client against the sandbox: python-epo-ops-client 4.2.x
//! (`pip install 'python-epo-ops-client==4.2.*'`), driven by `tests/peer/ops_peer.py`.
//!
//! It must read EP2400812 exactly as the samples hold it, and its Throttler middleware must
//! pace a burst on the sandbox's `X-Throttling-Control` headers without a single 403, while
//! the same burst without the middleware is refused. Without `python3` or `epo_ops` the test
//! is skipped, unless `CI=true`, where it fails.

use std::io::Write;

use std::process::Stdio;
use std::time::Duration;

use mailroom_sandbox::{SandboxOptions, spawn_local};
use serde_json::{Value, json};

/// Virtual time runs this much faster: the 60 s window lasts 2 s, so Retry-After stays short.
const TIME_SCALE: f64 = 30.0;
/// Paced requests through the Throttler; at 30 requests/min it waits 2 s between them.
const BURST: u64 = 4;
/// Unpaced requests, more than the overloaded inpadoc limit of 30 per window.
const UNPACED: u64 = 40;

fn peer_available() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import epo_ops, epo_ops.middlewares.throttle.storages"])
        .output();
    let missing = match probe {
        Err(e) => Some(format!("python3 cannot be run: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "python-epo-ops-client is not importable: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    };
    match missing {
        None => true,
        Some(reason) if ci => panic!("CI=true and the OPS peer client cannot run: {reason}"),
        Some(reason) => {
            // Straight to stderr: the harness captures `eprintln!` of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED python_epo_ops_client (sandbox/tests/ops_peer_client.rs): {reason}"
            );
            false
        }
    }
}

#[tokio::test]
async fn python_epo_ops_client_reads_the_register_and_paces_on_our_headers() {
    if !peer_available() {
        return;
    }
    let sb = spawn_local(SandboxOptions {
        time_scale: TIME_SCALE,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/_sandbox/ops/throttle", sb.base_url()))
        .json(&json!({"state": "overloaded"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer/ops_peer.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg(sb.urls().ops_base)
        .arg("--db-dir")
        .arg(dir.path())
        .args(["--burst", &BURST.to_string(), "--unpaced", &UNPACED.to_string()])
        .args(["--burst-service", "legal"])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the peer client finishes within 120 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ops_peer.py failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    println!("peer summary: {v:#}");

    assert_eq!(v["token"]["token_type"], "BearerToken");
    assert_eq!(v["token"]["expires_in"], "1199");
    assert_eq!(v["token"]["all_strings"], true);

    let r = &v["register"];
    assert_eq!(r["query"], "publication=EP2400812");
    assert_eq!(r["status"], "No opposition filed within time limit");
    assert_eq!(r["status_text"], "No opposition filed within time limit");
    assert_eq!(r["status_code"], "7");
    assert_eq!(r["statuses"], 4);
    assert_eq!(r["has_biblio"], true);
    assert_eq!(r["events"], 55);
    assert_eq!(r["steps"], 19);
    assert!(r["throttling"].as_str().unwrap().starts_with("overloaded ("));

    let s = &v["separate"];
    assert_eq!(s["biblio"]["has_biblio"], true);
    assert_eq!(s["biblio"]["events"], 0);
    assert_eq!(s["events"]["events"], 55);
    assert_eq!(s["events"]["has_biblio"], false);
    assert_eq!(s["procedural-steps"]["steps"], 19);
    assert_eq!(s["procedural-steps"]["query"], "application=EP10167109");

    assert_eq!(v["search"], json!({"total": "10000", "hits": 5}));

    // Without the middleware the bucket refuses part of the burst …
    let u = &v["unpaced"];
    assert!(
        u["forbidden"].as_u64().unwrap() > 0,
        "an unpaced burst must hit the limit: {u}"
    );
    let retry = u["retry_after_ms"].as_u64().unwrap();
    assert!(
        (1..=2_000).contains(&retry),
        "Retry-After is real ms of a 2 s window: {retry}"
    );

    // … with it, the client sleeps 60/30 s between requests on our headers and gets no 403.
    let b = &v["burst"];
    assert_eq!(b["requests"], BURST);
    assert_eq!(b["forbidden"], 0, "{b}");
    let pace = 60.0 / 30.0;
    let elapsed = b["elapsed_s"].as_f64().unwrap();
    assert!(
        elapsed >= (BURST - 1) as f64 * pace * 0.9,
        "the burst was not paced: {b}"
    );
    assert!(b["min_gap_s"].as_f64().unwrap() >= pace * 0.9, "{b}");
    assert!(
        b["throttling"].as_str().unwrap().contains("inpadoc=green:30"),
        "{b}"
    );
}
