//! Case-status benchmarks (issue 4), printed as a table. Not part of CI:
//!
//!     cargo bench --bench status -- [EP_CASES] [JP_CASES] [JP_CAP] [FAMILY_CASES]
//!                                                     defaults: 1000 2000 400 60
//!
//! (a) OPS requests per EP case per cycle (target 1), counted by the sandbox.
//! (b) EP_CASES cases, sandbox throttle idle, real time: wall time of the EP cycle ÷ the
//!     minimum the `other` bucket allows (EP_CASES × 60 s ÷ 1000; target ≤ 1.10), and the same
//!     job done by python-epo-ops-client through its Throttler against a fresh sandbox in the
//!     same run (`bench/ops_peer_cycle.py`; skipped with a reason if the package is missing).
//! (c) JP_CASES patents at a daily `app_progress` cap of JP_CAP, sandbox clock 600× faster:
//!     simulated JST days until every case was refreshed (target ⌈JP_CASES ÷ JP_CAP⌉), and
//!     the 203 and 303 replies seen (target 0).
//!
//! (d) FAMILY_CASES EP cases, each with an INPADOC family holding a JP member
//!     (`POST /_sandbox/ops/families`): family lookups per case in the first cycle (target 1)
//!     and in the next (target 0), the bytes per family answer and per Register answer, and
//!     the weekly OPS bytes of a nightly cycle over them (7 Register answers per case, plus
//!     7 ÷ `refresh_days` family answers), against the 4 GB weekly quota.
//!
//! Everything runs on 127.0.0.1 with OS-assigned ports, under a temporary directory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use mailroom::config::{Config, ConfigSource, Counterparts, sandbox_config_toml};
use mailroom::core::cases::{Kind, parse_case};
use mailroom::offices::jpo::JpoClient;
use mailroom::offices::ops::OpsClient;
use mailroom::store::cases::{self as cases_db, NewCase, Source};

/// The status cycle alone: family and PCT lookups are measured apart, not mixed into these
/// per-case figures.
static NO_COUNTERPARTS: Counterparts = Counterparts {
    enabled: false,
    refresh_days: 30,
    max_per_cycle: 0,
};
use mailroom::store::{Store, timestamp};
use mailroom::sync::mailbox::Quiet;
use mailroom::sync::status::StatusSync;
use mailroom_sandbox::{RunningSandbox, SandboxOptions};
use serde_json::{Value, json};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let arg = |i: usize, default: usize| -> Result<usize> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse().with_context(|| format!("argument {a:?}"))
        })
    };
    let (ep_cases, jp_cases, jp_cap) = (arg(0, 1000)?, arg(1, 2000)?, arg(2, 400)?);
    let family_cases = arg(3, 60)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let work = tempfile::tempdir()?;
        let ep = ep_cycle(work.path(), ep_cases).await?;
        let peer = peer_cycle(work.path(), ep_cases).await?;
        let jp = jp_days(work.path(), jp_cases, jp_cap as u32).await?;
        let fam = family_cycle(work.path(), family_cases).await?;
        let minimum = ep_cases as f64 * 60.0 / 1000.0;
        println!("| benchmark | measured | target |");
        println!("|---|---|---|");
        println!(
            "| (a) OPS requests per EP case per cycle ({ep_cases} cases) | {:.3} | 1 |",
            ep.requests as f64 / ep_cases as f64
        );
        println!(
            "| (b) mailroom: {ep_cases} EP cases, throttle idle: wall time | {:.2} s | |",
            ep.seconds
        );
        println!("| (b) minimum set by the bucket (other = 1000/min) | {minimum:.2} s | |");
        println!(
            "| (b) mailroom ÷ minimum | {:.3} | ≤ 1.10 |",
            ep.seconds / minimum
        );
        println!("| (b) mailroom 403s | {} | 0 |", ep.forbidden);
        match peer {
            Ok(p) => {
                println!(
                    "| (b) python-epo-ops-client + Throttler: wall time | {:.2} s | |",
                    p.seconds
                );
                println!("| (b) python ÷ minimum | {:.3} | |", p.seconds / minimum);
                println!(
                    "| (b) python 403s / other failures | {} / {} | |",
                    p.forbidden, p.failed
                );
            }
            Err(why) => println!("| (b) python-epo-ops-client | not run: {why} | |"),
        }
        println!(
            "| (c) {jp_cases} JP cases at {jp_cap}/day: simulated days until all refreshed | {} | {} |",
            jp.days,
            jp_cases.div_ceil(jp_cap)
        );
        println!(
            "| (c) most requests on one JST day | {} | ≤ {jp_cap} |",
            jp.max_per_day
        );
        println!(
            "| (c) 203 replies / 303 replies | {} / {} | 0 / 0 |",
            jp.code203, jp.code303
        );
        println!("| (c) wall time of the simulated days | {:.1} s | |", jp.seconds);
        let n = family_cases.max(1) as f64;
        println!(
            "| (d) {family_cases} EP cases with families: family lookups per case, first / next cycle | {:.3} / {:.3} | 1 / 0 |",
            fam.first as f64 / n,
            fam.second as f64 / n
        );
        println!(
            "| (d) JP counterparts followed / 403s | {} / {} | {family_cases} / 0 |",
            fam.followed, fam.forbidden
        );
        let (family_bytes, register_bytes) = (
            fam.family_bytes as f64 / fam.first.max(1) as f64,
            fam.register_bytes as f64 / fam.registers.max(1) as f64,
        );
        println!("| (d) bytes per family answer / per Register answer | {family_bytes:.0} / {register_bytes:.0} | |");
        let weekly = n * (7.0 * register_bytes + 7.0 / 30.0 * family_bytes);
        println!(
            "| (d) weekly OPS bytes, nightly cycle of {family_cases} cases with families (of which families) | {:.2} MB ({:.2} MB) | ≤ 3.2 GB (80 % of 4 GB) |",
            weekly / 1e6,
            n * 7.0 / 30.0 * family_bytes / 1e6
        );
        println!("| (d) wall time of the first cycle (inpadoc bucket: 60/min) | {:.1} s | |", fam.seconds);
        anyhow::Ok(())
    })
}

async fn sandbox(time_scale: f64) -> Result<RunningSandbox> {
    mailroom_sandbox::spawn_local(SandboxOptions {
        time_scale,
        ..SandboxOptions::default()
    })
    .await
    .context("starting the sandbox")
}

async fn post(base: &str, path: &str, body: Value) -> Result<Value> {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    Ok(r.json().await?)
}

async fn get(base: &str, path: &str) -> Result<Value> {
    Ok(reqwest::get(format!("{base}{path}"))
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Sandbox answers with HTTP `status` on routes containing `route`.
async fn answers(base: &str, route: &str, status: Option<&str>) -> Result<u64> {
    let stats = get(base, "/_sandbox/stats").await?;
    let obj = stats["endpoints"].as_object().context("stats")?;
    Ok(obj
        .iter()
        .filter(|(k, _)| k.contains(route))
        .map(|(_, v)| match status {
            Some(s) => v["statuses"][s].as_u64().unwrap_or(0),
            None => v["requests"].as_u64().unwrap_or(0),
        })
        .sum())
}

fn config(dir: &Path, sb: &RunningSandbox, time_scale: f64) -> Result<Config> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("mailroom.toml");
    std::fs::write(&path, sandbox_config_toml(&sb.urls(), dir, time_scale))?;
    Ok(Config::load_with_env(&ConfigSource::Named(path), &[])?)
}

async fn follow(store: &Store, numbers: Vec<String>, kind: Option<Kind>) -> Result<()> {
    let now = timestamp(Utc::now());
    store
        .write(move |tx| {
            for n in &numbers {
                if let Ok(key) = parse_case(n, None, kind) {
                    cases_db::add(tx, &NewCase::new(&key, n, None, Source::Import), true, &now)?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(())
}

struct EpRun {
    seconds: f64,
    requests: u64,
    forbidden: u64,
}

async fn synthetic_ep(base: &str, count: usize) -> Result<Vec<String>> {
    let v = post(base, "/_sandbox/ops/cases", json!({ "count": count })).await?;
    v["cases"]
        .as_array()
        .context("cases")?
        .iter()
        .map(|c| {
            c["application"]
                .as_str()
                .map(str::to_owned)
                .context("application")
        })
        .collect()
}

async fn ep_cycle(work: &Path, count: usize) -> Result<EpRun> {
    let sb = sandbox(1.0).await?;
    let base = sb.base_url();
    let numbers = synthetic_ep(&base, count).await?;
    let mut cfg = config(&work.join("ep"), &sb, 1.0)?;
    cfg.jpo = None;
    let store = Store::open(&cfg.storage.database)?;
    follow(&store, numbers, None).await?;
    let ops = OpsClient::new(cfg.ops.as_ref().context("[ops]")?)?;
    let job = StatusSync {
        store: &store,
        ops: Some(&ops),
        jpo: None,
        counterparts: &NO_COUNTERPARTS,
    };
    let started = Instant::now();
    let report = job.run_cycle(None, Utc::now(), &Quiet).await?;
    let seconds = started.elapsed().as_secs_f64();
    if report.ep_checked != count {
        bail!(
            "only {} of {count} EP cases were refreshed: {:?}",
            report.ep_checked,
            report.failed
        );
    }
    let run = EpRun {
        seconds,
        requests: answers(&base, "/register/", None).await?,
        forbidden: answers(&base, "/register/", Some("403")).await?,
    };
    sb.stop().await?;
    Ok(run)
}

struct FamilyRun {
    first: u64,
    second: u64,
    followed: usize,
    forbidden: u64,
    family_bytes: u64,
    register_bytes: u64,
    registers: u64,
    seconds: f64,
}

/// Sums the sandbox's request and byte counters over routes containing `route`.
async fn traffic(base: &str, route: &str) -> Result<(u64, u64)> {
    let stats = get(base, "/_sandbox/stats").await?;
    let endpoints = stats["endpoints"].as_object().context("stats")?;
    Ok(endpoints
        .iter()
        .filter(|(k, _)| k.contains(route))
        .fold((0, 0), |(r, b), (_, v)| {
            (
                r + v["requests"].as_u64().unwrap_or(0),
                b + v["bytes"].as_u64().unwrap_or(0),
            )
        }))
}

async fn family_cycle(work: &Path, count: usize) -> Result<FamilyRun> {
    let sb = sandbox(1.0).await?;
    let base = sb.base_url();
    let numbers = synthetic_ep(&base, count).await?;
    for (i, n) in numbers.iter().enumerate() {
        post(
            &base,
            "/_sandbox/ops/families",
            json!({
                "application": n,
                "members": [
                    {"country": "JP", "application": format!("2023{:06}", 500_001 + i), "kind": "A"},
                    {"country": "US", "application": format!("2023{:08}", 17_000_000 + i), "kind": "A"},
                ]
            }),
        )
        .await?;
    }
    let mut cfg = config(&work.join("family"), &sb, 1.0)?;
    cfg.jpo = None;
    let store = Store::open(&cfg.storage.database)?;
    follow(&store, numbers, None).await?;
    let ops = OpsClient::new(cfg.ops.as_ref().context("[ops]")?)?;
    let counterparts = Counterparts {
        enabled: true,
        refresh_days: 30,
        max_per_cycle: count,
    };
    let job = StatusSync {
        store: &store,
        ops: Some(&ops),
        jpo: None,
        counterparts: &counterparts,
    };
    let started = Instant::now();
    let report = job.run_cycle(None, Utc::now(), &Quiet).await?;
    let seconds = started.elapsed().as_secs_f64();
    let (first, family_bytes) = traffic(&base, "/family/").await?;
    let (registers, register_bytes) = traffic(&base, "/register/").await?;
    job.run_cycle(None, Utc::now(), &Quiet).await?;
    let (after, _) = traffic(&base, "/family/").await?;
    let run = FamilyRun {
        first,
        second: after - first,
        followed: report.counterparts_followed.len(),
        forbidden: answers(&base, "/family/", Some("403")).await?,
        family_bytes,
        register_bytes,
        registers,
        seconds,
    };
    sb.stop().await?;
    Ok(run)
}

struct PeerRun {
    seconds: f64,
    forbidden: u64,
    failed: u64,
}

async fn peer_cycle(work: &Path, count: usize) -> Result<std::result::Result<PeerRun, String>> {
    let sb = sandbox(1.0).await?;
    let base = sb.base_url();
    let numbers = synthetic_ep(&base, count).await?;
    let dir = work.join("peer");
    std::fs::create_dir_all(&dir)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/ops_peer_cycle.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(sb.urls().ops_base)
        .arg("--db-dir")
        .arg(&dir)
        .args(&numbers)
        .output()
        .await;
    sb.stop().await?;
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return Ok(Err(String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_owned()));
        }
        Err(e) => return Ok(Err(format!("python3: {e}"))),
    };
    let v: Value = serde_json::from_slice(&out.stdout).context("the peer's summary")?;
    Ok(Ok(PeerRun {
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        forbidden: v["forbidden"].as_u64().unwrap_or(0),
        failed: v["failed"].as_u64().unwrap_or(0),
    }))
}

struct JpRun {
    days: usize,
    max_per_day: usize,
    code203: u64,
    code303: u64,
    seconds: f64,
}

/// The sandbox's virtual now.
async fn virtual_now(base: &str) -> Result<DateTime<Utc>> {
    let v = get(base, "/_sandbox/clock").await?;
    let s = v["now"].as_str().context("clock now")?;
    Ok(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))
}

async fn jp_days(work: &Path, count: usize, cap: u32) -> Result<JpRun> {
    const SCALE: f64 = 600.0;
    let sb = sandbox(SCALE).await?;
    let base = sb.base_url();
    let v = post(
        &base,
        "/_sandbox/jpo/cases",
        json!({"right": "patent", "count": count}),
    )
    .await?;
    let numbers: Vec<String> = v["numbers"]
        .as_array()
        .context("numbers")?
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    post(&base, "/_sandbox/jpo/caps", json!({"app_progress": cap})).await?;
    // Start each simulated day at 00:30 JST, far from the midnight the caps reset at.
    let now = virtual_now(&base).await?;
    let jst_secs = (now.timestamp() + 9 * 3600).rem_euclid(86_400);
    post(
        &base,
        "/_sandbox/clock",
        json!({"advance_seconds": 86_400 - jst_secs + 1800}),
    )
    .await?;

    let mut cfg = config(&work.join("jp"), &sb, SCALE)?;
    cfg.ops = None;
    let mut jpo_cfg = cfg.jpo.clone().context("[jpo]")?;
    jpo_cfg.daily_cap = cap;
    let store = Store::open(&cfg.storage.database)?;
    follow(&store, numbers.clone(), Some(Kind::Patent)).await?;
    let jpo = JpoClient::new(&jpo_cfg)?;
    let job = StatusSync {
        store: &store,
        ops: None,
        jpo: Some((&jpo, &jpo_cfg)),
        counterparts: &NO_COUNTERPARTS,
    };
    let started = Instant::now();
    let mut refreshed = BTreeSet::new();
    let (mut days, mut max_per_day) = (0, 0);
    while refreshed.len() < count && days < 30 {
        let today = virtual_now(&base).await?;
        let report = job.run_cycle(None, today, &Quiet).await?;
        days += 1;
        max_per_day = max_per_day.max(report.jp_checked);
        let checked = store
            .call(move |c| {
                let stamp = timestamp(today);
                Ok(cases_db::list(c)?
                    .into_iter()
                    .filter(|r| r.checked_at.as_deref() >= Some(stamp.as_str()))
                    .map(|r| r.number)
                    .collect::<Vec<_>>())
            })
            .await?;
        refreshed.extend(checked);
        post(&base, "/_sandbox/clock", json!({"advance_seconds": 86_400})).await?;
    }
    let st = jpo.stats();
    let run = JpRun {
        days,
        max_per_day,
        code203: st.status("203"),
        code303: answers(&base, "/jpo/api", Some("429")).await?,
        seconds: started.elapsed().as_secs_f64(),
    };
    sb.stop().await?;
    Ok(run)
}
