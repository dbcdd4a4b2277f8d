//! Reads the period a communication's letter states: its first document's text layer
//! (`pdf_text`), then the period phrase (`core::letter`). Runs on the blocking pool after the
//! file is archived and verified, on the archived copy; never fails the archiving: a letter
//! that cannot be read is `NotRead` with the reason, and the rules table or a person decides.

use std::path::PathBuf;

use crate::core::deadline::propose::LetterReading;

/// A letter larger than this is not read (an office letter is a few hundred kilobytes; the
/// large files are annexes and scans, which have no text layer to read anyway).
pub const MAX_LETTER_BYTES: u64 = 32 * 1024 * 1024;

/// Reads the letter at `path` (a file in the archive) with media type `media_type`.
pub async fn read(path: PathBuf, media_type: Option<String>) -> LetterReading {
    let not_pdf = media_type
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case("application/pdf"));
    if not_pdf {
        return LetterReading::NotRead {
            why: format!("the document is {}, not a PDF", media_type.unwrap_or_default()),
        };
    }
    match tokio::task::spawn_blocking(move || read_blocking(&path)).await {
        Ok(reading) => reading,
        Err(e) => LetterReading::NotRead {
            why: format!("reading it failed: {e}"),
        },
    }
}

fn read_blocking(path: &std::path::Path) -> LetterReading {
    use std::io::Read;
    let not_read = |why: String| LetterReading::NotRead { why };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return not_read(format!("cannot open the archived copy: {e}")),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_LETTER_BYTES + 1).read_to_end(&mut bytes) {
        return not_read(format!("cannot read the archived copy: {e}"));
    }
    if bytes.len() as u64 > MAX_LETTER_BYTES {
        return not_read(format!("the file is larger than {} MiB", MAX_LETTER_BYTES >> 20));
    }
    let text = match crate::pdf_text::extract_text(&bytes) {
        Ok(t) => t,
        Err(e) => return not_read(format!("its text could not be extracted: {e}")),
    };
    if text.trim().is_empty() {
        return not_read("it has no text layer (a scan?)".into());
    }
    match crate::core::letter::stated_period(&text) {
        crate::core::letter::Stated::None => LetterReading::NoPeriod,
        crate::core::letter::Stated::One(p) => LetterReading::One {
            period: p.period,
            quote: p.quote,
        },
        crate::core::letter::Stated::Several(ps) => LetterReading::Several {
            periods: ps.into_iter().map(|p| (p.period, p.quote)).collect(),
        },
    }
}
