//! A self-contained mutation fuzzer for the office parsers.
//!
//! ```text
//! cargo run --release --example fuzz_parsers -- ITERATIONS [SEED]
//! ```
//!
//! Each execution takes a recorded sample of one target (the files of a folder in `sandbox/data/`, or
//! a recorded body quoted in the API notes),
//! applies one to three mutations (bit flips, truncation, splicing two samples, duplicating or
//! removing a tag, random bytes, deep nesting) and feeds the result to the target inside
//! `catch_unwind`. It prints the executions, the outcomes and distinct error kinds per target,
//! and the panics; a panicking input is written to the temporary directory. Exit status 1 when
//! anything panicked, 2 on a usage or sample error.
//!
//! To fuzz another parser, add one line to [`TARGETS`].

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mailroom::offices::ops::{parse_fault, parse_register};

/// What one execution gave: `Ok(label)` or `Err(error kind)`.
type Outcome = Result<&'static str, String>;

/// The parser under test.
type Parser = fn(&[u8]) -> Outcome;

/// Where a target's seeds come from.
enum Seeds {
    /// Every file of a folder under `sandbox/data/` (but its README).
    Folder(&'static str),
    /// One recorded body quoted in the API notes.
    Body(&'static str, &'static [u8]),
}

/// (name, seeds, the parser under test).
const TARGETS: &[(&str, &[Seeds], Parser)] = &[
    (
        "ops::parse_register",
        &[Seeds::Folder("ops-samples")],
        ops_register,
    ),
    ("ops::parse_fault", OPS_FAULT_SEEDS, ops_fault),
    (
        "jpo::parse_envelope+app_progress",
        &[Seeds::Folder("jpo-samples")],
        jpo_app_progress,
    ),
];

/// The samples folder holds no bare error body, so the live ones of `shared/api/epo-ops.md`
/// (§2.3, §7, §8.2) seed the fault parser too.
const OPS_FAULT_SEEDS: &[Seeds] = &[
    Seeds::Folder("ops-samples"),
    Seeds::Body(
        "no-hits fault (2025)",
        b"<fault xmlns=\"http://ops.epo.org\"><code>SERVER.EntityNotFound</code><message>No results found</message></fault>",
    ),
    Seeds::Body(
        "fair-use 403 (2014)",
        b"<error><code>403</code><message>This request has been rejected due to the violation of Fair Use policy</message><moreInfo>http://www.epo.org/searching/free/espacenet/fair-use.html</moreInfo>\n\t\t\t\t</error>\n\t\t\t",
    ),
    Seeds::Body(
        "bad client 401 (2016)",
        b"<error><code>401</code><message>ClientId is Invalid</message></error>",
    ),
    Seeds::Body(
        "expired token 400 (2016)",
        b"<error><code>400</code><message>invalid_access_token</message><description>Access token is invalid</description></error>",
    ),
];

fn ops_register(input: &[u8]) -> Outcome {
    match parse_register(input) {
        Ok(_) => Ok("parsed"),
        Err(e) => Err(match &e {
            mailroom::offices::ops::OpsParseError::Xml { reason, .. } => format!("xml: {}", shape(reason)),
            other => other.kind().to_owned(),
        }),
    }
}

/// The JPO envelope, then `app_progress` of its data read as each kind of right.
fn jpo_app_progress(input: &[u8]) -> Outcome {
    use mailroom::core::cases::Kind;
    use mailroom::offices::jpo::{parse_app_progress, parse_envelope};
    let env = parse_envelope(input).map_err(|e| jpo_kind(&e))?;
    let Some(data) = env.data else {
        return Ok("envelope without data");
    };
    let mut outcome = Ok("parsed");
    for kind in Kind::ALL {
        if let Err(e) = parse_app_progress(&data, kind) {
            outcome = Err(jpo_kind(&e));
        }
    }
    outcome
}

/// The variant of a JPO parse error, without its input-dependent detail.
fn jpo_kind(e: &mailroom::offices::jpo::JpoParseError) -> String {
    let text = format!("{e:?}");
    text.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}

fn ops_fault(input: &[u8]) -> Outcome {
    Ok(match parse_fault(input) {
        Some(_) => "fault",
        None => "not a fault",
    })
}

/// The kind of an error message: the text before its first particular (a quoted name or a
/// number).
fn shape(reason: &str) -> String {
    let reason = match reason.strip_prefix("position ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, r)| r),
        None => reason,
    };
    let end = reason
        .find(|c: char| matches!(c, '`' | '"' | '\'') || c.is_ascii_digit())
        .unwrap_or(reason.len());
    match reason[..end].trim_end_matches([' ', ':']) {
        // It starts with a particular: keep its first word.
        "" => reason.split(' ').next().unwrap_or_default().to_owned(),
        kind => kind.to_owned(),
    }
}

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

/// The position of a random `<…>` tag of `input`: (start, end exclusive).
fn random_tag(rng: &mut Rng, input: &[u8]) -> Option<(usize, usize)> {
    let from = rng.below(input.len());
    let lt = input[from..]
        .iter()
        .position(|&b| b == b'<')
        .map(|i| from + i)
        .or_else(|| input.iter().position(|&b| b == b'<'))?;
    let gt = input[lt..].iter().position(|&b| b == b'>').map(|i| lt + i + 1)?;
    Some((lt, gt))
}

const MUTATIONS: &[&str] = &[
    "flip",
    "truncate",
    "splice",
    "duplicate-tag",
    "remove-tag",
    "random-bytes",
    "deep-nesting",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, samples: &[(String, Vec<u8>)]) -> &'static str {
    let which = rng.below(MUTATIONS.len());
    match which {
        0 => {
            for _ in 0..=rng.below(8) {
                if !input.is_empty() {
                    let i = rng.below(input.len());
                    input[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => input.truncate(rng.below(input.len() + 1)),
        2 => {
            let other = &samples[rng.below(samples.len())].1;
            let cut = rng.below(input.len() + 1);
            let from = rng.below(other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        3 => {
            if let Some((a, b)) = random_tag(rng, input) {
                let tag = input[a..b].to_vec();
                let at = if rng.below(2) == 0 {
                    b
                } else {
                    rng.below(input.len() + 1)
                };
                input.splice(at..at, tag);
            }
        }
        4 => {
            if let Some((a, b)) = random_tag(rng, input) {
                input.drain(a..b);
            }
        }
        5 => {
            let n = 1 + rng.below(64);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            if rng.below(8) == 0 {
                *input = bytes;
            } else {
                let at = rng.below(input.len() + 1);
                input.splice(at..at, bytes);
            }
        }
        _ => {
            // Mostly a few thousand levels; now and then a hundred thousand.
            let depth = if rng.below(16) == 0 {
                100_000
            } else {
                100 + rng.below(3_000)
            };
            let names: [&[u8]; 3] = [b"ns3:register-document", b"reg:events-data", b"a"];
            let name = names[rng.below(names.len())];
            let mut open = Vec::with_capacity(depth * (name.len() + 2));
            let mut close = Vec::with_capacity(depth * (name.len() + 3));
            for _ in 0..depth {
                open.extend_from_slice(b"<");
                open.extend_from_slice(name);
                open.extend_from_slice(b">");
                close.extend_from_slice(b"</");
                close.extend_from_slice(name);
                close.extend_from_slice(b">");
            }
            let at = random_tag(rng, input).map_or(0, |(a, _)| a);
            if rng.below(2) == 0 {
                let end = at + rng.below(input.len() - at + 1);
                input.splice(end..end, close);
            }
            input.splice(at..at, open);
        }
    }
    MUTATIONS[which]
}

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/data")
}

fn load_folder(folder: &str, samples: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
    let dir = samples_dir().join(folder);
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_file() || name.eq_ignore_ascii_case("README.md") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        found.push((format!("{folder}/{name}"), bytes));
    }
    if found.is_empty() {
        return Err(format!("{}: no samples", dir.display()));
    }
    found.sort();
    samples.extend(found);
    Ok(())
}

fn load(seeds: &[Seeds]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut samples = Vec::new();
    for s in seeds {
        match s {
            Seeds::Folder(folder) => load_folder(folder, &mut samples)?,
            Seeds::Body(name, body) => samples.push(((*name).to_owned(), body.to_vec())),
        }
    }
    Ok(samples)
}

#[derive(Default)]
struct Tally {
    executions: u64,
    outcomes: BTreeMap<String, u64>,
    panics: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (iterations, seed) = match args.as_slice() {
        [n] => (n.parse::<u64>().ok(), Some(0x5EED)),
        [n, s] => (n.parse::<u64>().ok(), s.parse::<u64>().ok()),
        _ => (None, None),
    };
    let (Some(iterations), Some(seed)) = (iterations, seed) else {
        eprintln!("usage: fuzz_parsers ITERATIONS [SEED]");
        return ExitCode::from(2);
    };
    let mut corpora = Vec::new();
    for (name, seeds, _) in TARGETS {
        match load(seeds) {
            Ok(s) => corpora.push(s),
            Err(e) => {
                eprintln!("fuzz_parsers: {name}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // Panics are counted and reported below, not printed one by one.
    panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng::new(seed);
    let mut tallies: Vec<Tally> = TARGETS.iter().map(|_| Tally::default()).collect();
    let mut mutations: BTreeMap<&str, u64> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..iterations {
        let t = (i % TARGETS.len() as u64) as usize;
        let (name, _, run) = TARGETS[t];
        let samples = &corpora[t];
        let (sample_name, sample) = &samples[rng.below(samples.len())];
        let mut input = sample.clone();
        // Now and then the sample as recorded, so the parsed path keeps being exercised.
        if rng.below(16) != 0 {
            for _ in 0..=rng.below(3) {
                *mutations
                    .entry(mutate(&mut rng, &mut input, samples))
                    .or_default() += 1;
            }
        }
        let tally = &mut tallies[t];
        tally.executions += 1;
        match panic::catch_unwind(AssertUnwindSafe(|| run(&input))) {
            Ok(outcome) => {
                let label = match outcome {
                    Ok(l) => format!("ok: {l}"),
                    Err(k) => format!("error: {k}"),
                };
                *tally.outcomes.entry(label).or_default() += 1;
            }
            Err(_) => {
                tally.panics += 1;
                let file = std::env::temp_dir().join(format!("fuzz_parsers-{seed}-{i}.bin"));
                let saved = std::fs::write(&file, &input).is_ok();
                eprintln!(
                    "PANIC in {name} at execution {i} (seed {seed}, from {sample_name}){}",
                    if saved {
                        format!("; input saved to {}", file.display())
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let executions: u64 = tallies.iter().map(|t| t.executions).sum();
    let panics: u64 = tallies.iter().map(|t| t.panics).sum();
    println!(
        "fuzz_parsers: seed {seed}: {executions} executions in {secs:.1} s ({:.0}/s)",
        executions as f64 / secs.max(1e-9)
    );
    println!(
        "mutations applied: {}",
        mutations
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut kinds = 0;
    for (((name, _, _), tally), samples) in TARGETS.iter().zip(&tallies).zip(&corpora) {
        let errors = tally.outcomes.keys().filter(|k| k.starts_with("error")).count();
        kinds += errors;
        println!(
            "{name} ({} seeds): {} executions, {} panics, {errors} distinct error kinds",
            samples.len(),
            tally.executions,
            tally.panics,
        );
        for (label, n) in &tally.outcomes {
            println!("  {n:>9}  {label}");
        }
    }
    println!("distinct error kinds: {kinds}; panics: {panics}");
    if panics > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
