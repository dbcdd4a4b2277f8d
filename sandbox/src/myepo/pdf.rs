//! Synthetic Mailbox PDFs of an exact size, generated while they are streamed.
//!
//! Every file is a complete, valid PDF 1.7 with one A4 page whose text names the
//! communication, followed by one unreferenced stream object of pseudo-random bytes that pads
//! the file to exactly the requested size (an unreferenced object is legal PDF and readers
//! ignore it). The layout is:
//!
//! ```text
//! %PDF-1.7 + binary comment line
//! 1 catalog, 2 page tree, 3 page, 4 font (Helvetica, not embedded), 5 page content
//! 6 padding stream: << /Length P >> stream <P pseudo-random bytes> endstream
//! xref (7 entries, exact byte offsets), trailer with /ID and 0 to 2 spaces, startxref, %%EOF
//! ```
//!
//! `P` and the `startxref` offset change the file length by their number of digits, so up
//! to two spaces at the end of the trailer dictionary (after the offsets, so they move
//! nothing) take up the slack: every size from the minimum upwards is reachable. A requested size below the minimum (about 1.2 KB, depending
//! on the text) is raised to the minimum; the mailbox does this when a communication is
//! created, so its advertised `fileSize` is always the real size.
//!
//! The bytes are a pure function of (seed, file key, text, size): the same seed gives the
//! same bytes. Only the head (about 1 KB) and the tail (about 300 bytes) are held in memory;
//! the padding is produced [`CHUNK`] bytes at a time while the body is sent, so a 1 GiB file
//! costs no more memory than a small one.

use bytes::Bytes;

use super::hash::{SplitMix, keyed};

/// Size of the padding chunks handed to the HTTP body.
pub const CHUNK: usize = 64 * 1024;

/// Longest text line written on the page; longer ones are cut (the page is A4).
const MAX_LINE_CHARS: usize = 100;

/// Objects 1 to 6, plus the free entry 0.
const XREF_ENTRIES: usize = 7;

const PAD_OPEN: &str = "6 0 obj\n<< /Length ";
const PAD_CLOSE: &str = " >>\nstream\n";
const PAD_END: &str = "\nendstream\nendobj\n";
const EOF: &str = "\n%%EOF\n";

/// The layout of one file: everything but the padding bytes themselves.
#[derive(Clone, Debug)]
pub struct Pdf {
    head: Bytes,
    pad_len: u64,
    tail: Bytes,
    pad_seed: u64,
    etag: String,
}

/// The part of a file before the padding object, which does not depend on the size.
struct Prefix {
    bytes: Vec<u8>,
    /// Byte offsets of objects 1 to 5.
    offsets: [u64; 5],
}

impl Pdf {
    /// Lays out the file for `key` (the communication id, or `id/documentId` for a further
    /// document) with `lines` on its page, `size` bytes long or [`Pdf::min_size`] if that is
    /// larger.
    pub fn new(seed: u64, key: &str, lines: &[String], size: u64) -> Pdf {
        let prefix = prefix(lines);
        let fixed = Fixed::new(&prefix, &trailer_open(seed, key, 0));
        let (pad_len, slack) = fixed.solve(size).unwrap_or((0, 0));
        let xref_at = fixed.xref_offset(pad_len);

        let mut head = prefix.bytes;
        head.extend_from_slice(format!("{PAD_OPEN}{pad_len}{PAD_CLOSE}").as_bytes());

        let mut tail = String::with_capacity(PAD_END.len() + 200);
        tail.push_str(PAD_END);
        tail.push_str(&format!("xref\n0 {XREF_ENTRIES}\n0000000000 65535 f \n"));
        for off in prefix.offsets.iter().chain([fixed.pad_offset].iter()) {
            tail.push_str(&format!("{off:010} 00000 n \n"));
        }
        tail.push_str(&trailer_open(seed, key, slack));
        tail.push_str(&xref_at.to_string());
        tail.push_str(EOF);

        let len = head.len() as u64 + pad_len + tail.len() as u64;
        Pdf {
            head: Bytes::from(head),
            pad_len,
            tail: Bytes::from(tail),
            pad_seed: keyed(seed, key, 3),
            etag: format!("\"{:016x}-{len:x}\"", keyed(seed, key, 4)),
        }
    }

    /// The smallest file possible for this text (no padding bytes).
    pub fn min_size(seed: u64, key: &str, lines: &[String]) -> u64 {
        let prefix = prefix(lines);
        Fixed::new(&prefix, &trailer_open(seed, key, 0)).total(0, 0)
    }

    /// The file length in bytes.
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.pad_len + self.tail.len() as u64
    }

    /// A strong entity tag: the bytes are fixed by the seed, the key and the size.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The file as a sequence of chunks: the head, the padding in [`CHUNK`]-byte pieces,
    /// then the tail.
    pub fn chunks(self) -> Chunks {
        Chunks {
            head: Some(self.head),
            pad_left: self.pad_len,
            rng: SplitMix::new(self.pad_seed),
            tail: Some(self.tail),
        }
    }
}

/// The length terms of the layout that do not depend on the padding length.
struct Fixed {
    /// Offset of `6 0 obj`.
    pad_offset: u64,
    /// Bytes after the padding, except the `startxref` digits and the slack.
    after_pad: u64,
}

impl Fixed {
    /// `trailer_open` without slack.
    fn new(prefix: &Prefix, trailer_open: &str) -> Fixed {
        let xref_len = "xref\n0 7\n".len() + XREF_ENTRIES * 20;
        Fixed {
            pad_offset: prefix.bytes.len() as u64,
            after_pad: (PAD_END.len() + xref_len + trailer_open.len() + EOF.len()) as u64,
        }
    }

    /// Offset of the `xref` keyword for a padding of `pad_len` bytes.
    fn xref_offset(&self, pad_len: u64) -> u64 {
        self.pad_offset
            + (PAD_OPEN.len() + PAD_CLOSE.len() + PAD_END.len()) as u64
            + digits(pad_len)
            + pad_len
    }

    /// Every byte of the file except the padding data and the digits of the two numbers.
    fn base(&self) -> u64 {
        self.pad_offset + (PAD_OPEN.len() + PAD_CLOSE.len()) as u64 + self.after_pad
    }

    fn total(&self, pad_len: u64, slack: u64) -> u64 {
        self.base() + digits(pad_len) + pad_len + digits(self.xref_offset(pad_len)) + slack
    }

    /// The padding length and extra spaces that give exactly `size` bytes, or `None` below
    /// the minimum.
    ///
    /// Going from `P` to `P + 1` padding bytes grows the file by 1, plus 1 when `P` gains a
    /// digit, plus 1 when the `startxref` offset gains one, so consecutive padding lengths
    /// are at most 3 bytes apart, and 0 to 2 trailer spaces (which move no offset) fill
    /// every gap. For each slack the
    /// search tries every total digit count of the two numbers (2 to 40); the exact
    /// solution is among those candidates.
    fn solve(&self, size: u64) -> Option<(u64, u64)> {
        let base = self.base();
        (0..=2u64).find_map(|slack| {
            (2..=40u64).find_map(|d| {
                let pad_len = size.checked_sub(base + slack + d)?;
                (self.total(pad_len, slack) == size).then_some((pad_len, slack))
            })
        })
    }
}

/// Header, objects 1 to 5 and their offsets.
fn prefix(lines: &[String]) -> Prefix {
    let mut out: Vec<u8> = Vec::with_capacity(1200);
    // The comment line of four bytes above 127 tells transfer tools the file is binary.
    out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
    let content = content_stream(lines);
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
         /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut offsets = [0u64; 5];
    for (i, body) in objects.iter().enumerate() {
        offsets[i] = out.len() as u64;
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    Prefix { bytes: out, offsets }
}

fn content_stream(lines: &[String]) -> String {
    let mut s = String::from("BT\n/F1 11 Tf\n16 TL\n72 790 Td\n");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            s.push_str("T* ");
        }
        s.push('(');
        s.push_str(&pdf_string(line));
        s.push_str(") Tj\n");
    }
    s.push_str("ET");
    s
}

/// A PDF literal string body in WinAnsi encoding, cut to [`MAX_LINE_CHARS`]: printable
/// ASCII as is with the delimiters escaped, Latin-1 letters (`ä`, `é`, which have the same
/// codes in WinAnsi) as octal escapes, anything else as `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(MAX_LINE_CHARS) {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{ff}' => out.push_str(&format!("\\{:03o}", u32::from(c))),
            _ => out.push('?'),
        }
    }
    out
}

/// The trailer up to and including `startxref\n`, with `slack` extra spaces; the file
/// identifier comes from the key.
fn trailer_open(seed: u64, key: &str, slack: u64) -> String {
    let id = format!("{:016X}{:016X}", keyed(seed, key, 1), keyed(seed, key, 2));
    let pad = " ".repeat(slack as usize);
    format!("trailer\n<< /Size {XREF_ENTRIES} /Root 1 0 R /ID [<{id}> <{id}>]{pad} >>\nstartxref\n")
}

fn digits(n: u64) -> u64 {
    u64::from(n.checked_ilog10().unwrap_or(0)) + 1
}

/// The chunks of one file, generated on demand.
pub struct Chunks {
    head: Option<Bytes>,
    pad_left: u64,
    rng: SplitMix,
    tail: Option<Bytes>,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        if self.pad_left > 0 {
            let n = self.pad_left.min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            self.rng.fill(&mut buf);
            self.pad_left -= n as u64;
            return Some(Bytes::from(buf));
        }
        self.tail.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<String> {
        vec![
            "European Patent Office - MyEPO Mailbox (sandbox)".to_owned(),
            "Communication 8f3c2a1e-5b7d-4c11-9a0e-2f6d1c7b9e01".to_owned(),
            "Title: Notice drawing attention to Article 86(2) EPC \\ (test)".to_owned(),
            "Application: EP10167109.7  Dispatch date: 2024-03-14  Caf\u{e9} \u{20ac}".to_owned(),
        ]
    }

    fn render(seed: u64, key: &str, size: u64) -> Vec<u8> {
        Pdf::new(seed, key, &lines(), size)
            .chunks()
            .flat_map(|c| c.to_vec())
            .collect()
    }

    /// Checks the structure a reader relies on: header, trailer, and every xref offset
    /// pointing at its object.
    fn assert_valid(pdf: &[u8]) {
        assert!(pdf.starts_with(b"%PDF-1.7\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let tail_at = pdf.len().saturating_sub(2000);
        let tail = String::from_utf8_lossy(&pdf[tail_at..]).into_owned();
        let sx = tail.rfind("startxref\n").expect("startxref");
        let xref_at: usize = tail[sx + 10..]
            .lines()
            .next()
            .expect("offset")
            .parse()
            .expect("number");
        assert_eq!(&pdf[xref_at..xref_at + 10], b"xref\n0 7\n0");
        let table = String::from_utf8_lossy(&pdf[xref_at..]).into_owned();
        let entries: Vec<&str> = table.lines().skip(2).take(7).collect();
        assert_eq!(entries[0], "0000000000 65535 f ");
        for (n, entry) in entries.iter().enumerate().skip(1) {
            assert_eq!(entry.len(), 19, "entry {n} must be 20 bytes with its newline");
            let off: usize = entry[..10].parse().expect("offset");
            let want = format!("{n} 0 obj\n");
            assert_eq!(&pdf[off..off + want.len()], want.as_bytes(), "object {n}");
        }
        let pad_off: usize = entries[6][..10].parse().expect("offset");
        let dict = String::from_utf8_lossy(&pdf[pad_off..pad_off + 60]).into_owned();
        let declared: usize = dict["6 0 obj\n<< /Length ".len()..]
            .split(' ')
            .next()
            .expect("length")
            .parse()
            .expect("number");
        let data_at = pad_off + dict.find("stream\n").expect("stream") + 7;
        assert_eq!(&pdf[data_at + declared..data_at + declared + 10], b"\nendstream");
    }

    #[test]
    fn every_size_from_the_minimum_is_exact() {
        let min = Pdf::min_size(1, "k", &lines());
        assert!(min > 900 && min < 2000, "minimum {min}");
        for size in min..min + 12_000 {
            assert_eq!(Pdf::new(1, "k", &lines(), size).len(), size);
        }
        for size in [
            99_990,
            100_005,
            999_990,
            1_000_003,
            10_000_001,
            123_456_789,
            1 << 30,
        ] {
            assert_eq!(Pdf::new(1, "k", &lines(), size).len(), size, "size {size}");
        }
    }

    #[test]
    fn rendered_files_are_valid_and_exact_around_digit_boundaries() {
        let min = Pdf::min_size(5, "id", &lines());
        let mut sizes: Vec<u64> = (min..min + 12).collect();
        // Padding length and startxref offset each gaining a digit.
        for edge in [10_000u64, 100_000, 1_000_000] {
            sizes.extend(edge - 16..edge + 16);
        }
        sizes.extend([min + 7, 20_000, 84_213, 300_000, 3 * CHUNK as u64 + 5]);
        for size in sizes {
            let pdf = render(5, "id", size);
            assert_eq!(pdf.len() as u64, size, "size {size}");
            assert_valid(&pdf);
        }
    }

    #[test]
    fn tiny_sizes_are_raised_to_the_minimum() {
        let min = Pdf::min_size(1, "k", &lines());
        for size in [0, 1, 500, min - 1] {
            let pdf = render(1, "k", size);
            assert_eq!(pdf.len() as u64, min);
            assert_valid(&pdf);
        }
    }

    #[test]
    fn page_text_names_the_communication_and_is_escaped() {
        let pdf = render(1, "k", 5000);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(Communication 8f3c2a1e-5b7d-4c11-9a0e-2f6d1c7b9e01) Tj"));
        assert!(text.contains("Article 86\\(2\\) EPC \\\\ \\(test\\)"));
        assert!(
            text.contains("Caf\\351 ?"),
            "Latin-1 as WinAnsi octal, the rest as ?"
        );
    }

    #[test]
    fn same_seed_same_bytes_and_other_seed_or_key_differs() {
        let a = render(42, "comm-1", 200_000);
        assert_eq!(a, render(42, "comm-1", 200_000));
        let b = render(43, "comm-1", 200_000);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        assert_ne!(a, render(42, "comm-2", 200_000));
    }

    #[test]
    fn padding_comes_in_bounded_chunks() {
        let pdf = Pdf::new(1, "k", &lines(), 5 * CHUNK as u64);
        let sizes: Vec<usize> = pdf.chunks().map(|c| c.len()).collect();
        assert!(sizes.iter().all(|&n| n <= CHUNK));
        assert_eq!(sizes.iter().sum::<usize>(), 5 * CHUNK);
    }
}
