//! The letter path on hostile input (issue 13): `pdf_text::extract_text` then
//! `core::letter::stated_period`, as the daemon runs them on every downloaded communication.
//!
//! A deterministic mutation fuzzer (its own PRNG, a fixed seed printed at the start) mutates
//! real seeds — the sandbox's Mailbox PDFs and hand-made files with Flate content, a Type0 font
//! with a ToUnicode CMap and an object stream — by byte flips, truncations, deletions,
//! duplicated slices and inserted PDF tokens; every input must finish without a panic, inside
//! a deadline for the whole run that a hang would miss. The sandbox's own letters are also
//! read end to end through its HTTP server: each form's stated period comes back.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mailroom::core::deadline::{Period, Unit};
use mailroom::core::letter::{MAX_QUOTE_CHARS, Stated, stated_period};
use mailroom::pdf_text::{Limit, MAX_DECODED_BYTES, PdfTextError, extract_text};
use serde_json::{Value, json};

/// The fuzzer's seed; change it to explore, keep it fixed in the repository.
const SEED: u64 = 0x6d61_696c_726f_6f6d;

/// Mutated PDFs run through the reader.
const PDF_INPUTS: usize = 20_000;

/// Random phrases run through the period reader.
const PHRASE_INPUTS: usize = 20_000;

/// The whole run, in a debug build on a shared machine; a hang fails here.
const DEADLINE: Duration = Duration::from_secs(45);

/// xorshift64*: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).expect("in memory");
    z.finish().expect("in memory")
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

fn pdf(objects: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    for (n, body) in objects {
        out.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    out.extend_from_slice(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    out
}

/// One page with font /F1 = object 4 and content object 5.
fn one_page(content: Vec<u8>, font: &str, extra: Vec<(u32, Vec<u8>)>) -> Vec<u8> {
    let mut objects = vec![
        (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (
            3,
            b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
                .to_vec(),
        ),
        (4, font.as_bytes().to_vec()),
        (5, content),
    ];
    objects.extend(extra);
    pdf(&objects)
}

const HELVETICA: &str = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

/// The seeds: sandbox letters (one padded to 20 KB of binary data), a Flate content stream,
/// a Type0 font with a ToUnicode CMap, and pages in an object stream.
fn seeds() -> Vec<Vec<u8>> {
    let letters: [&[&str]; 3] = [
        &[
            "Communication pursuant to Article 94(3) EPC",
            "You are invited to file your observations within a period of four months from the",
            "notification of this communication (Article 94(4) EPC).",
        ],
        &[
            "Bescheid gem\u{e4}\u{df} Artikel 94(3) EP\u{dc}",
            "Sie werden aufgefordert, innerhalb einer Frist von vier Mo-",
            "naten nach Zustellung dieses Bescheids Stellung zu nehmen.",
        ],
        &[
            "Notification \u{e9}tablie conform\u{e9}ment \u{e0} l'article 94(3) CBE",
            "dans un d\u{e9}lai de deux mois \u{e0} compter de la signification (\\ ( ) )",
        ],
    ];
    let mut seeds: Vec<Vec<u8>> = letters
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let lines: Vec<String> = l.iter().map(|s| (*s).to_owned()).collect();
            let size = if i == 0 { 20_000 } else { 0 };
            mailroom_sandbox::myepo_pdf(9, &format!("seed-{i}"), &lines, size)
        })
        .collect();

    let content = b"BT /F1 11 Tf 14 TL 72 700 Td [(with) -20 (in) -300 (a) -250 (period of)] TJ T* \
        (six months) Tj 1 0 0 1 72 600 Tm (Rule 161\\(1\\)) Tj ET";
    seeds.push(one_page(
        stream("/Filter /FlateDecode", &deflate(content)),
        HELVETICA,
        Vec::new(),
    ));

    let cmap = b"begincmap 1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
        2 beginbfchar <0003> <0020> <0011> <00E4> endbfchar\n\
        2 beginbfrange <0024> <003D> <0041> <0044> <0046> [<0061> <0062> <00660069>] endbfrange endcmap";
    let font = "<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode 7 0 R >>";
    seeds.push(one_page(
        stream("", b"BT /F1 11 Tf <0024 0045 0046 0003 0011> Tj ET"),
        font,
        vec![(7, stream("/Filter [/FlateDecode]", &deflate(cmap)))],
    ));

    let members = b"<< /Type /Page /Parent 2 0 R /Contents 20 0 R >>";
    let header = "10 0 ";
    let mut data = header.as_bytes().to_vec();
    data.extend_from_slice(members);
    seeds.push(pdf(&[
        (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (
            2,
            b"<< /Type /Pages /Kids [10 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>".to_vec(),
        ),
        (4, HELVETICA.as_bytes().to_vec()),
        (
            9,
            stream(
                &format!("/Type /ObjStm /N 1 /First {} /Filter /FlateDecode", header.len()),
                &deflate(&data),
            ),
        ),
        (20, stream("", b"BT /F1 9 Tf (innerhalb von zwei Monaten) Tj ET")),
    ]));
    seeds
}

/// Tokens that steer a parser into its corners.
const TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"\\",
    b"<",
    b">",
    b"<<",
    b">>",
    b"[",
    b"]",
    b"%",
    b"\n",
    b"stream\n",
    b"\nendstream",
    b"endobj",
    b" 7 0 obj ",
    b" 4 0 R ",
    b"99999999999999999999999999",
    b"-4294967297",
    b"1e308",
    b"/Filter /FlateDecode",
    b"/Length 99999999",
    b"/Type /ObjStm /N 99999999 /First 0",
    b"/Type /Page",
    b"/Kids [2 0 R 2 0 R]",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<",
    b"BT",
    b"ET",
    b"Tj",
    b"TJ",
    b"'",
    b"Tf",
    b"T*",
    b"BI /W 1 ID \xff\xfe",
    b"beginbfrange <0000> <FFFF> <D800> endbfrange",
    b"begincodespacerange <00> <FFFFFFFF> endcodespacerange",
];

/// One to four mutations of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    if let Some(x) = b.get_mut(i) {
                        *x ^= 1 << rng.below(8);
                    }
                }
            }
            1 => b.truncate(at),
            2 => {
                let end = (at + rng.below(64)).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let from = rng.below(b.len());
                let end = (from + rng.below(256)).min(b.len());
                let piece = b[from..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => {
                let token = rng.pick(TOKENS).to_vec();
                b.splice(at..at, token);
            }
        }
    }
    b
}

#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    not_pdf: usize,
    no_pages: usize,
    too_large: usize,
    slowest: Duration,
    panics: Vec<String>,
}

fn run_one(input: &[u8], label: &str, tally: &mut Tally) {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let r = extract_text(input);
        if let Ok(text) = &r {
            check_stated(text);
        }
        r
    }));
    tally.slowest = tally.slowest.max(start.elapsed());
    match result {
        Ok(Ok(_)) => tally.ok += 1,
        Ok(Err(PdfTextError::NotPdf)) => tally.not_pdf += 1,
        Ok(Err(PdfTextError::NoPages)) => tally.no_pages += 1,
        Ok(Err(PdfTextError::TooLarge(_))) => tally.too_large += 1,
        Err(_) => tally.panics.push(label.to_owned()),
    }
}

/// What every answer of the period reader must satisfy.
fn check_stated(text: &str) {
    match stated_period(text) {
        Stated::None => {}
        Stated::One(p) => {
            assert!(!p.quote.is_empty() && p.quote.chars().count() <= MAX_QUOTE_CHARS);
            assert!(p.period.count >= 1);
        }
        Stated::Several(ps) => {
            assert!(ps.len() >= 2);
            for (i, p) in ps.iter().enumerate() {
                assert!(!p.quote.is_empty() && p.quote.chars().count() <= MAX_QUOTE_CHARS);
                assert!(ps[..i].iter().all(|q| q.period != p.period), "distinct periods");
            }
        }
    }
}

/// Runs `work` on its own thread and fails the test if it has not answered by `DEADLINE`:
/// an input that loops would otherwise hang the suite instead of failing it.
fn within_deadline<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => v,
        Err(e) => panic!(
            "the fuzz run did not finish within {DEADLINE:?} ({e}): an input hangs or the run is too slow"
        ),
    }
}

#[test]
fn mutated_pdfs_never_panic_and_each_finishes() {
    eprintln!("pdf fuzz: seed {SEED:#x}, {PDF_INPUTS} inputs");
    let started = Instant::now();
    let tally = within_deadline(|| {
        let seeds = seeds();
        for s in &seeds {
            assert!(extract_text(s).is_ok(), "every seed reads");
        }
        let mut rng = Rng(SEED);
        let mut tally = Tally::default();
        for i in 0..PDF_INPUTS {
            let seed = rng.below(seeds.len());
            let input = mutate(&mut rng, &seeds[seed]);
            run_one(&input, &format!("input {i} (seed {seed})"), &mut tally);
        }
        tally
    });
    eprintln!(
        "pdf fuzz: {} ok, {} not a PDF, {} no page, {} too large; slowest input {:?}; {:?} in all",
        tally.ok,
        tally.not_pdf,
        tally.no_pages,
        tally.too_large,
        tally.slowest,
        started.elapsed()
    );
    assert!(tally.panics.is_empty(), "panicked on {:?}", tally.panics);
    assert_eq!(
        tally.ok + tally.not_pdf + tally.no_pages + tally.too_large,
        PDF_INPUTS,
        "every input finished"
    );
    assert!(tally.ok > PDF_INPUTS / 4, "most mutations still read: {tally:?}");
    assert!(
        tally.too_large > 0,
        "the inserted nesting reaches the depth limit"
    );
}

#[test]
fn a_flate_bomb_stops_at_the_decoded_limit() {
    let bomb = deflate(&vec![b'('; MAX_DECODED_BYTES + 1]);
    assert!(bomb.len() < 64 * 1024, "a small stream: {} bytes", bomb.len());
    let doc = one_page(stream("/Filter /FlateDecode", &bomb), HELVETICA, Vec::new());
    let started = Instant::now();
    let result = within_deadline(move || extract_text(&doc));
    eprintln!("flate bomb: {result:?} after {:?}", started.elapsed());
    assert_eq!(result, Err(PdfTextError::TooLarge(Limit::DecodedBytes)));

    // The same bomb spread over pages that share it: the budget is for the whole file.
    let half = deflate(&vec![b' '; MAX_DECODED_BYTES / 2 + 1]);
    let mut objects = vec![
        (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (
            2,
            b"<< /Type /Pages /Kids [3 0 R 3 0 R 6 0 R] /Count 3 >>".to_vec(),
        ),
        (3, b"<< /Type /Page /Parent 2 0 R /Contents 5 0 R >>".to_vec()),
        (
            6,
            b"<< /Type /Page /Parent 2 0 R /Contents [5 0 R 5 0 R] >>".to_vec(),
        ),
    ];
    objects.push((5, stream("/Filter /FlateDecode", &half)));
    let doc = pdf(&objects);
    let result = within_deadline(move || extract_text(&doc));
    assert_eq!(result, Err(PdfTextError::TooLarge(Limit::DecodedBytes)));
}

#[test]
fn random_phrases_from_the_readers_own_words_never_panic() {
    const WORDS: &[&str] = &[
        "within",
        "a",
        "the",
        "period",
        "time",
        "limit",
        "time-limit",
        "of",
        "innerhalb",
        "einer",
        "der",
        "Frist",
        "von",
        "binnen",
        "dans",
        "un",
        "une",
        "le",
        "les",
        "délai",
        "d'un",
        "de",
        "four",
        "vier",
        "quatre",
        "six",
        "sechs",
        "zwölf",
        "douze",
        "eines",
        "2",
        "4",
        "(4)",
        "999",
        "1000",
        "0",
        "months",
        "month",
        "Monaten",
        "Monats",
        "mois",
        "days",
        "Tagen",
        "jours",
        "weeks",
        "Wochen",
        "semaines",
        "years",
        "Jahren",
        "ans",
        "années",
        "deemed",
        "gilt",
        "réputée",
        "further",
        "processing",
        "Weiterbehandlung",
        "re-",
        "establishment",
        "poursuite",
        ".",
        ";",
        "?",
        "Mo-",
        "naten",
        "mon-",
        "ths",
        "\u{ad}",
        "İ",
        "ǅ",
        "ß",
        "\u{301}",
        "\u{fffd}",
        "-",
        "‐",
        "",
    ];
    const GAPS: &[&str] = &[" ", "  ", "\n", "-\n", "\r\n", "\t", "", " -\n ", "\u{a0}"];
    let mut rng = Rng(SEED ^ 0xff);
    let mut found = [0usize; 3];
    let started = Instant::now();
    for _ in 0..PHRASE_INPUTS {
        let mut text = String::new();
        for _ in 0..1 + rng.below(40) {
            text.push_str(rng.pick(WORDS));
            text.push_str(rng.pick(GAPS));
        }
        check_stated(&text);
        found[match stated_period(&text) {
            Stated::None => 0,
            Stated::One(_) => 1,
            Stated::Several(_) => 2,
        }] += 1;
    }
    eprintln!(
        "phrase fuzz: seed {:#x}, {PHRASE_INPUTS} texts: {} none, {} one, {} several, {:?}",
        SEED ^ 0xff,
        found[0],
        found[1],
        found[2],
        started.elapsed()
    );
    assert!(found.iter().all(|&n| n > 0), "every answer occurs: {found:?}");
}

/// The sandbox's own letters, downloaded as mailroom downloads them: each states the period
/// of its form in its case's language, and the letters without one state none.
#[tokio::test]
async fn the_sandboxs_letters_state_their_forms_periods() {
    let sandbox = mailroom_sandbox::spawn_local(mailroom_sandbox::SandboxOptions::default())
        .await
        .expect("sandbox starts");
    let http = reqwest::Client::new();
    let base = sandbox.base_url();
    for application in ["EP10167109.7", "EP14735465.8", "EP23184567.9"] {
        let r = http
            .post(format!("{base}/_sandbox/myepo/communications"))
            .json(&json!({"document_code": "1226AA", "application_number": application}))
            .send()
            .await
            .expect("inject");
        assert!(r.status().is_success(), "{}", r.status());
    }
    let mailbox: Vec<Value> = http
        .get(format!("{base}/_sandbox/myepo/communications"))
        .send()
        .await
        .expect("mailbox")
        .json()
        .await
        .expect("json");
    assert_eq!(mailbox.len(), 15);
    let months = |count| Period {
        count,
        unit: Unit::Months,
    };
    let mut languages = std::collections::BTreeSet::new();
    for c in &mailbox {
        let id = c["id"].as_str().expect("id");
        let code = c["document_code"].as_str().expect("code");
        let pdf = http
            .get(format!(
                "{base}/_sandbox/myepo/communications/{id}/documents/0/content"
            ))
            .send()
            .await
            .expect("content")
            .bytes()
            .await
            .expect("bytes");
        let text = extract_text(&pdf).expect("the text layer reads");
        assert!(text.contains(&format!("Communication {id}")), "{text}");
        let want = match code {
            "2001" | "2004" => Some(months(4)),
            "1226AA" => Some(months(6)),
            _ => None,
        };
        match (stated_period(&text), want) {
            (Stated::One(p), Some(w)) => {
                assert_eq!(p.period, w, "{code}: {text}");
                languages.insert(p.quote.split(' ').next().map(str::to_lowercase));
            }
            (Stated::None, None) => {}
            (other, want) => panic!("{code} {id}: {other:?}, wanted {want:?}\n{text}"),
        }
    }
    // The trigger words: "within", "innerhalb", "dans".
    assert_eq!(languages.len(), 3, "{languages:?}");
    sandbox.stop().await.expect("stops");
}
