//! The text of a PDF, for reading the period a letter states (issue 13).
//!
//! The daemon runs this on every communication it downloads, so the input is hostile by
//! assumption: it must not panic, loop or take memory beyond the limits below, whatever the
//! bytes. It is written here rather than taken from a PDF crate because those decompress
//! without bound and panic on broken input; only FlateDecode comes from `flate2` (pure Rust).
//!
//! **How it reads.** Indirect objects `N G obj … endobj` are found by scanning the bytes, not
//! through the cross-reference table (which is often wrong in damaged or edited files); a later
//! definition of the same number replaces an earlier one, as an incremental update does.
//! Objects inside object streams (`/Type /ObjStm`, FlateDecode) are added unless a plain
//! object already has their number. The pages come from the catalog's page tree (inherited
//! `/Resources` included), or, without one, every `/Type /Page` object in number order. Each
//! page's content streams are interpreted for `BT`/`ET`, `Tf`, `TL`, `Td`, `TD`, `Tm`, `T*`,
//! `Tj`, `TJ`, `'` and `"`: text at a new baseline starts a new line, a horizontal move or a
//! `TJ` adjustment of at least [`TJ_SPACE`] thousandths of an em is a space. Inline images are
//! skipped. Strings go through the font `Tf` selected: its ToUnicode CMap (`bfchar`,
//! `bfrange` with a start code or an array, codes of 1 to 4 bytes by its codespace ranges) when
//! it has one, else WinAnsi (the default) or PDFDoc for a simple font; a Type0 font without
//! ToUnicode gives U+FFFD per two-byte code, since its CIDs are not characters.
//!
//! **Not covered** (the text is missing or wrong, never a panic): the `/Differences` of a
//! simple font's encoding, MacRoman's upper half (U+FFFD), filters other than FlateDecode
//! (ASCII85, LZW, …) and Flate with a predictor, text in form XObjects (`Do`), Type3 glyph
//! procedures, encrypted files, vertical writing and reading order other than content order.
//!
//! **Limits.** Any limit exceeded refuses the whole file with [`PdfTextError::TooLarge`]: a
//! text cut short could hide a second, different period and so give a wrong answer where a
//! refusal gives none. A damaged Flate stream gives what inflated before the damage, a token
//! inside a dictionary or array that is not a value is passed over (a structural keyword such
//! as `endobj` ends the object instead), and an object that still does not parse is skipped,
//! so a truncated or damaged file yields the text of what is there. A candidate that runs to
//! the end of the file without parsing (an unterminated string) hides the objects after it.

use std::borrow::Cow;
use std::collections::hash_map::Entry as Slot;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::rc::Rc;

/// The largest file read: four times the largest letter seen in the Mailbox, far below what
/// the daemon could hold.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Bytes inflated, and content bytes interpreted, over the whole file. A flate bomb stops
/// here: every decoder reads through `Read::take` of what is left.
pub const MAX_DECODED_BYTES: usize = 16 << 20;

/// Characters of text produced: several hundred pages, more than any letter.
pub const MAX_OUTPUT_CHARS: usize = 1 << 20;

/// Nesting of arrays and dictionaries, and of references followed in a row; also the depth
/// of the page tree. Every recursion here is bounded by it.
pub const MAX_DEPTH: usize = 32;

/// Indirect objects kept, including those of object streams.
pub const MAX_OBJECTS: usize = 200_000;

/// Parsed values (numbers, names, strings, containers, CMap entries) kept for the objects
/// and fonts of the file: the memory bound for what is not a stream (some 40 MB at worst;
/// a letter of a hundred pages has tens of thousands).
pub const MAX_VALUES: usize = 500_000;

/// Content-stream operators interpreted over all pages.
pub const MAX_OPERATORS: usize = 2_000_000;

/// Values in the operands of one content-stream operator (a `TJ` array is one operand).
pub const MAX_OPERAND_VALUES: usize = 100_000;

/// A `TJ` adjustment at or below minus this (thousandths of an em) is a word space: kerning
/// stays well within ±150, an inter-word gap is a quarter of an em or more.
pub const TJ_SPACE: f64 = 200.0;

/// Codespace ranges read from one CMap; real ToUnicode maps have one to four.
const MAX_CODESPACE_RANGES: usize = 16;

/// Bytes the object scan may lex in candidates that do not parse, as a multiple of the
/// file's size (plus [`SCAN_SLACK`]): a candidate inside an unterminated string or a comment
/// can run far before it fails, and without this bound a file full of them costs quadratic
/// time.
const SCAN_WORK_FACTOR: usize = 4;

/// See [`SCAN_WORK_FACTOR`].
const SCAN_SLACK: usize = 1 << 20;

/// Where the `%PDF-` header may start (readers accept junk before it).
const HEADER_WINDOW: usize = 1024;

/// The limit a file exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    InputBytes,
    DecodedBytes,
    OutputChars,
    Depth,
    Objects,
    Values,
    Operators,
    /// Re-reading for objects that do not parse (see the module doc).
    Parsing,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::InputBytes => write!(f, "input size limit of {MAX_INPUT_BYTES} bytes"),
            Limit::DecodedBytes => write!(f, "decoded size limit of {MAX_DECODED_BYTES} bytes"),
            Limit::OutputChars => write!(f, "text limit of {MAX_OUTPUT_CHARS} characters"),
            Limit::Depth => write!(f, "nesting limit of {MAX_DEPTH}"),
            Limit::Objects => write!(f, "limit of {MAX_OBJECTS} objects"),
            Limit::Values => write!(f, "limit of {MAX_VALUES} values"),
            Limit::Operators => write!(f, "limit of {MAX_OPERATORS} content operators"),
            Limit::Parsing => write!(
                f,
                "parsing limit of {SCAN_WORK_FACTOR} passes over the file for broken objects"
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PdfTextError {
    #[error("not a PDF: no %PDF- header in the first {HEADER_WINDOW} bytes")]
    NotPdf,
    #[error("the PDF exceeds the {0}")]
    TooLarge(Limit),
    #[error("the PDF has no page")]
    NoPages,
}

/// The text of `pdf`'s pages in content order, lines separated by `\n` (pages too), with no
/// trailing spaces on a line.
pub fn extract_text(pdf: &[u8]) -> Result<String, PdfTextError> {
    if pdf.len() > MAX_INPUT_BYTES {
        return Err(PdfTextError::TooLarge(Limit::InputBytes));
    }
    let window = &pdf[..pdf.len().min(HEADER_WINDOW + 5)];
    if find(window, 0, b"%PDF-").is_none() {
        return Err(PdfTextError::NotPdf);
    }
    let mut doc = Doc {
        bytes: pdf,
        objects: HashMap::new(),
        budget: Budget {
            decoded: MAX_DECODED_BYTES,
            values: MAX_VALUES,
            operators: MAX_OPERATORS,
        },
        fonts: HashMap::new(),
        fonts_by_name: HashMap::new(),
        cmaps: HashMap::new(),
    };
    doc.scan().map_err(PdfTextError::TooLarge)?;
    doc.expand_object_streams().map_err(PdfTextError::TooLarge)?;
    let pages = doc.pages().map_err(PdfTextError::TooLarge)?;
    if pages.is_empty() {
        return Err(PdfTextError::NoPages);
    }
    let mut text = Text::default();
    for page in &pages {
        text.new_page();
        doc.page_text(page, &mut text).map_err(PdfTextError::TooLarge)?;
    }
    Ok(text.finish())
}

// ---------------------------------------------------------------------------------------
// Objects

type Dict = BTreeMap<Vec<u8>, Obj>;

#[derive(Clone, Debug, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    /// An indirect reference; the generation is not used (the scan keeps the last definition).
    Ref(u32),
}

impl Obj {
    fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }

    fn as_name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Obj::Int(n) => Some(*n as f64),
            Obj::Real(r) => Some(*r),
            _ => None,
        }
    }
}

/// An indirect object: its value and, for a stream, where its raw data is (in the file for a
/// plain object; objects of object streams are never streams).
struct Entry {
    value: Obj,
    data: Option<std::ops::Range<usize>>,
}

/// What is left of each limit.
struct Budget {
    decoded: usize,
    values: usize,
    operators: usize,
}

impl Budget {
    fn take_decoded(&mut self, n: usize) -> Result<(), Limit> {
        self.decoded = self.decoded.checked_sub(n).ok_or(Limit::DecodedBytes)?;
        Ok(())
    }
}

/// Why a value did not parse: bad syntax skips the object, a limit refuses the file.
enum Fail {
    Syntax,
    Limit(Limit),
}

impl From<Limit> for Fail {
    fn from(l: Limit) -> Fail {
        Fail::Limit(l)
    }
}

// ---------------------------------------------------------------------------------------
// Lexer

fn is_ws(c: u8) -> bool {
    matches!(c, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_ws(c) && !is_delim(c)
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    ArrOpen,
    ArrClose,
    DictOpen,
    DictClose,
    /// A keyword or operator, as a range of the input.
    Word(std::ops::Range<usize>),
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Lexer { b, pos }
    }

    fn word(&self, r: &std::ops::Range<usize>) -> &'a [u8] {
        self.b.get(r.clone()).unwrap_or_default()
    }

    fn peek_byte(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek_byte() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek_byte() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn next(&mut self) -> Option<Tok> {
        self.skip_ws();
        let c = self.peek_byte()?;
        let start = self.pos;
        Some(match c {
            b'(' => Tok::Str(self.literal()),
            b'<' if self.b.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                Tok::DictOpen
            }
            b'<' => Tok::Str(self.hex()),
            b'>' if self.b.get(self.pos + 1) == Some(&b'>') => {
                self.pos += 2;
                Tok::DictClose
            }
            b'[' => {
                self.pos += 1;
                Tok::ArrOpen
            }
            b']' => {
                self.pos += 1;
                Tok::ArrClose
            }
            b'/' => {
                self.pos += 1;
                Tok::Name(self.name())
            }
            // A stray `)`, `>`, `{` or `}`: a one-byte word, which nothing uses.
            _ if is_delim(c) => {
                self.pos += 1;
                Tok::Word(start..self.pos)
            }
            _ => {
                while self.peek_byte().is_some_and(is_regular) {
                    self.pos += 1;
                }
                number(self.word(&(start..self.pos))).unwrap_or(Tok::Word(start..self.pos))
            }
        })
    }

    /// A literal string, the `(` at `pos`: balanced parentheses, every escape of PDF 32000
    /// 7.3.4.2; an unterminated one ends with the input.
    fn literal(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut depth = 1usize;
        let mut out = Vec::new();
        while let Some(c) = self.peek_byte() {
            self.pos += 1;
            match c {
                b'\\' => {
                    let Some(e) = self.peek_byte() else { break };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek_byte() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            // `\777` overflows a byte; the high bit is dropped, as readers do.
                            out.push((v & 0xFF) as u8);
                        }
                        b'\r' => {
                            if self.peek_byte() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        // `\(`, `\)`, `\\`, and an unknown escape, which stands for itself.
                        other => out.push(other),
                    }
                }
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return out;
                    }
                    out.push(c);
                }
                b'\r' => {
                    if self.peek_byte() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// A hex string, the `<` at `pos`: white space ignored, an odd last digit followed by 0.
    fn hex(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(c) = self.peek_byte() {
            self.pos += 1;
            if c == b'>' {
                break;
            }
            let Some(v) = hex_value(c) else { continue };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    /// A name after its `/`, with `#xx` escapes.
    fn name(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = self.peek_byte().filter(|&c| is_regular(c)) {
            self.pos += 1;
            if c == b'#' {
                let h = self.b.get(self.pos).copied().and_then(hex_value);
                let l = self.b.get(self.pos + 1).copied().and_then(hex_value);
                if let (Some(h), Some(l)) = (h, l) {
                    out.push(h << 4 | l);
                    self.pos += 2;
                    continue;
                }
            }
            out.push(c);
        }
        out
    }
}

/// A number token, or `None` for a word that is not one (`1.2.3` is a word).
fn number(w: &[u8]) -> Option<Tok> {
    if !w.iter().any(u8::is_ascii_digit)
        || !w
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let s = std::str::from_utf8(w).ok()?;
    if !s.contains('.') {
        if let Ok(n) = s.parse::<i64>() {
            return Some(Tok::Int(n));
        }
    }
    s.parse::<f64>().ok().filter(|r| r.is_finite()).map(Tok::Real)
}

/// One value from `lx`, charging `values`.
fn parse_obj(lx: &mut Lexer<'_>, depth: usize, values: &mut usize) -> Result<Obj, Fail> {
    let tok = lx.next().ok_or(Fail::Syntax)?;
    parse_from(tok, lx, depth, values)
}

fn parse_from(tok: Tok, lx: &mut Lexer<'_>, depth: usize, values: &mut usize) -> Result<Obj, Fail> {
    *values = values.checked_sub(1).ok_or(Limit::Values)?;
    Ok(match tok {
        Tok::Int(n) => {
            let save = lx.pos;
            if let (Some(Tok::Int(g)), Some(Tok::Word(r))) = (lx.next(), lx.next()) {
                if lx.word(&r) == b"R" && g >= 0 {
                    if let Ok(num) = u32::try_from(n) {
                        return Ok(Obj::Ref(num));
                    }
                }
            }
            lx.pos = save;
            Obj::Int(n)
        }
        Tok::Real(r) => Obj::Real(r),
        Tok::Name(n) => Obj::Name(n),
        Tok::Str(s) => Obj::Str(s),
        Tok::ArrOpen => {
            if depth >= MAX_DEPTH {
                return Err(Limit::Depth.into());
            }
            let mut v = Vec::new();
            loop {
                match lx.next().ok_or(Fail::Syntax)? {
                    Tok::ArrClose => break,
                    t => match stray(&t, lx) {
                        Some(true) => return Err(Fail::Syntax),
                        Some(false) => {}
                        None => v.push(parse_from(t, lx, depth + 1, values)?),
                    },
                }
            }
            Obj::Array(v)
        }
        Tok::DictOpen => {
            if depth >= MAX_DEPTH {
                return Err(Limit::Depth.into());
            }
            let mut d = Dict::new();
            loop {
                match lx.next().ok_or(Fail::Syntax)? {
                    Tok::DictClose => break,
                    Tok::Name(k) => match lx.next().ok_or(Fail::Syntax)? {
                        Tok::DictClose => break,
                        t => match stray(&t, lx) {
                            Some(true) => return Err(Fail::Syntax),
                            Some(false) => {}
                            None => {
                                let v = parse_from(t, lx, depth + 1, values)?;
                                d.insert(k, v);
                            }
                        },
                    },
                    // A key that is not a name: its value, if it has one, is dropped with it.
                    t @ (Tok::ArrOpen | Tok::DictOpen) => {
                        parse_from(t, lx, depth + 1, values)?;
                    }
                    t => {
                        if stray(&t, lx) == Some(true) {
                            return Err(Fail::Syntax);
                        }
                    }
                }
            }
            Obj::Dict(d)
        }
        Tok::Word(w) => match lx.word(&w) {
            b"true" => Obj::Bool(true),
            b"false" => Obj::Bool(false),
            b"null" => Obj::Null,
            _ => return Err(Fail::Syntax),
        },
        Tok::ArrClose | Tok::DictClose => return Err(Fail::Syntax),
    })
}

/// A token inside an array or dictionary that is not a value: `Some(true)` for a keyword of
/// the file's structure (`obj`, `endobj`, `stream` …), which ends the object so that a
/// container with a damaged end does not swallow the next object; `Some(false)` for anything
/// else that is not a value (a damaged byte, the `r` of `2 0 r`, a stray `>>`), which is
/// passed over; `None` for a value.
fn stray(tok: &Tok, lx: &Lexer<'_>) -> Option<bool> {
    match tok {
        Tok::Word(w) => match lx.word(w) {
            b"true" | b"false" | b"null" => None,
            b"obj" | b"endobj" | b"stream" | b"endstream" | b"xref" | b"trailer" | b"startxref" => Some(true),
            _ => Some(false),
        },
        Tok::ArrClose | Tok::DictClose => Some(false),
        _ => None,
    }
}

/// The object number of the `N G obj` whose `obj` starts at `at`, if it is one.
fn object_header(b: &[u8], at: usize) -> Option<u32> {
    let mut i = at;
    let back_ws = |i: &mut usize| {
        let start = *i;
        while *i > 0 && is_ws(b[*i - 1]) {
            *i -= 1;
        }
        *i < start
    };
    let back_digits = |i: &mut usize| {
        let end = *i;
        while *i > 0 && end - *i < 10 && b[*i - 1].is_ascii_digit() {
            *i -= 1;
        }
        (*i < end).then(|| b.get(*i..end)).flatten()
    };
    back_ws(&mut i);
    back_digits(&mut i)?;
    if !back_ws(&mut i) {
        return None;
    }
    let num = back_digits(&mut i)?;
    if i > 0 && is_regular(b[i - 1]) {
        return None;
    }
    std::str::from_utf8(num).ok()?.parse().ok()
}

/// Where a stream's data starts, after `stream` and its end of line.
fn data_start(b: &[u8], mut i: usize) -> usize {
    if b.get(i) == Some(&b'\r') {
        i += 1;
    }
    if b.get(i) == Some(&b'\n') {
        i += 1;
    }
    i
}

/// The data range of a stream starting at `start`, and where scanning goes on: `/Length`
/// when it is a direct number that lands on `endstream`, else up to the next `endstream`
/// (an indirect or wrong length), else to the end of the file (truncated).
fn stream_range(b: &[u8], start: usize, length: Option<&Obj>) -> (std::ops::Range<usize>, usize) {
    if let Some(&Obj::Int(n)) = length {
        if let Some(end) = usize::try_from(n).ok().and_then(|n| start.checked_add(n)) {
            let mut lx = Lexer::new(b, end);
            lx.skip_ws();
            if end <= b.len() && b.get(lx.pos..).is_some_and(|r| r.starts_with(b"endstream")) {
                return (start..end, lx.pos + 9);
            }
        }
    }
    match find(b, start, b"endstream") {
        Some(e) => {
            let mut end = e;
            if end > start && b[end - 1] == b'\n' {
                end -= 1;
            }
            if end > start && b[end - 1] == b'\r' {
                end -= 1;
            }
            (start..end, e + 9)
        }
        None => (start..b.len(), b.len()),
    }
}

// ---------------------------------------------------------------------------------------
// The document

struct Doc<'a> {
    bytes: &'a [u8],
    objects: HashMap<u32, Entry>,
    budget: Budget,
    /// Fonts by object number, built once.
    fonts: HashMap<u32, Rc<Font>>,
    /// Fonts by (resources node, name), so a `Tf` looks its font up once.
    fonts_by_name: HashMap<(u32, Vec<u8>), Rc<Font>>,
    /// ToUnicode CMaps by object number, decoded once.
    cmaps: HashMap<u32, Rc<CMap>>,
}

/// A page: its dictionary's object number and the number of the page-tree node whose
/// `/Resources` it uses (itself or the nearest ancestor that has them).
struct Page {
    num: u32,
    resources: Option<u32>,
}

impl<'a> Doc<'a> {
    /// Finds every `N G obj`, parses what follows, and notes stream data.
    fn scan(&mut self) -> Result<(), Limit> {
        let b = self.bytes;
        let mut i = 0;
        let mut work = SCAN_WORK_FACTOR
            .saturating_mul(b.len())
            .saturating_add(SCAN_SLACK);
        while let Some(at) = find(b, i, b"obj") {
            i = at + 3;
            if b.get(at + 3).is_some_and(|&c| is_regular(c)) {
                continue;
            }
            let Some(num) = object_header(b, at) else {
                continue;
            };
            let mut lx = Lexer::new(b, at + 3);
            let values = self.budget.values;
            let value = match parse_obj(&mut lx, 0, &mut self.budget.values) {
                Ok(v) => v,
                Err(Fail::Limit(l)) => return Err(l),
                Err(Fail::Syntax) => {
                    // Nothing of a broken candidate is kept, so its values are given back.
                    self.budget.values = values;
                    work = work.checked_sub(lx.pos - at).ok_or(Limit::Parsing)?;
                    continue;
                }
            };
            let mut data = None;
            let mut end = lx.pos;
            if let Obj::Dict(d) = &value {
                lx.skip_ws();
                if b.get(lx.pos..).is_some_and(|r| r.starts_with(b"stream")) {
                    let (range, next) = stream_range(b, data_start(b, lx.pos + 6), d.get(&b"Length"[..]));
                    data = Some(range);
                    end = next;
                }
            }
            self.insert(num, Entry { value, data }, true)?;
            i = i.max(end);
        }
        Ok(())
    }

    /// Adds object `num`; one already there is replaced only when `replace` is set.
    fn insert(&mut self, num: u32, entry: Entry, replace: bool) -> Result<(), Limit> {
        let full = self.objects.len() >= MAX_OBJECTS;
        match self.objects.entry(num) {
            Slot::Occupied(mut o) => {
                if replace {
                    o.insert(entry);
                }
            }
            Slot::Vacant(_) if full => return Err(Limit::Objects),
            Slot::Vacant(v) => {
                v.insert(entry);
            }
        }
        Ok(())
    }

    /// Adds the objects of every object stream (in number order, so the result does not
    /// depend on hashing).
    fn expand_object_streams(&mut self) -> Result<(), Limit> {
        let mut streams: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, e)| {
                e.data.is_some()
                    && e.value
                        .as_dict()
                        .and_then(|d| d.get(&b"Type"[..]))
                        .and_then(Obj::as_name)
                        == Some(b"ObjStm")
            })
            .map(|(&n, _)| n)
            .collect();
        streams.sort_unstable();
        for num in streams {
            let Some(data) = self.stream_data(num)? else {
                continue;
            };
            let Some(dict) = self.objects.get(&num).and_then(|e| e.value.as_dict()) else {
                continue;
            };
            let count = dict.get(&b"N"[..]).and_then(Obj::as_f64).unwrap_or(0.0);
            let first = dict.get(&b"First"[..]).and_then(Obj::as_f64).unwrap_or(-1.0);
            if first < 0.0 || count < 0.0 {
                continue;
            }
            let (count, first) = (count as usize, first as usize);
            let mut header = Lexer::new(&data, 0);
            let mut members = Vec::new();
            while members.len() < count.min(MAX_OBJECTS) {
                match (header.next(), header.next()) {
                    (Some(Tok::Int(n)), Some(Tok::Int(off))) => {
                        if let (Ok(n), Ok(off)) = (u32::try_from(n), usize::try_from(off)) {
                            members.push((n, off));
                        }
                    }
                    _ => break,
                }
            }
            for (n, off) in members {
                let Some(at) = first.checked_add(off).filter(|&at| at < data.len()) else {
                    continue;
                };
                let mut lx = Lexer::new(&data, at);
                match parse_obj(&mut lx, 0, &mut self.budget.values) {
                    Ok(value) => self.insert(n, Entry { value, data: None }, false)?,
                    Err(Fail::Limit(l)) => return Err(l),
                    Err(Fail::Syntax) => {}
                }
            }
        }
        Ok(())
    }

    /// Follows references (at most [`MAX_DEPTH`] in a row) to a value.
    fn resolve<'o>(&'o self, mut o: &'o Obj) -> Option<&'o Obj> {
        for _ in 0..MAX_DEPTH {
            match o {
                Obj::Ref(n) => o = &self.objects.get(n)?.value,
                _ => return Some(o),
            }
        }
        None
    }

    fn dict<'o>(&'o self, o: &'o Obj) -> Option<&'o Dict> {
        self.resolve(o)?.as_dict()
    }

    fn get<'o>(&'o self, d: &'o Dict, key: &[u8]) -> Option<&'o Obj> {
        self.resolve(d.get(key)?)
    }

    /// The object number a value refers to, following chains of references.
    fn target<'o>(&'o self, mut o: &'o Obj) -> Option<u32> {
        let mut last = None;
        for _ in 0..MAX_DEPTH {
            match o {
                Obj::Ref(n) => {
                    last = Some(*n);
                    o = &self.objects.get(n)?.value;
                }
                _ => return last,
            }
        }
        None
    }

    /// The decoded data of stream object `num`: `None` when it is not a stream or its filter
    /// is not one this module reads. Charges the decoded budget.
    fn stream_data(&mut self, num: u32) -> Result<Option<Cow<'a, [u8]>>, Limit> {
        let bytes = self.bytes;
        let Some(entry) = self.objects.get(&num) else {
            return Ok(None);
        };
        let (Some(range), Some(dict)) = (entry.data.clone(), entry.value.as_dict()) else {
            return Ok(None);
        };
        let raw = bytes.get(range).unwrap_or_default();
        let filters: Vec<&[u8]> = match dict.get(&b"Filter"[..]).and_then(|f| self.resolve(f)) {
            None | Some(Obj::Null) => Vec::new(),
            Some(Obj::Name(n)) => vec![n],
            Some(Obj::Array(a)) => {
                let names: Option<Vec<&[u8]>> =
                    a.iter().map(|f| self.resolve(f).and_then(Obj::as_name)).collect();
                match names {
                    Some(n) => n,
                    None => return Ok(None),
                }
            }
            Some(_) => return Ok(None),
        };
        let predictor = dict
            .get(&b"DecodeParms"[..])
            .and_then(|p| self.resolve(p))
            .and_then(|p| match p {
                Obj::Array(a) => a.first().and_then(|p| self.dict(p)),
                other => other.as_dict(),
            })
            .and_then(|p| p.get(&b"Predictor"[..]))
            .and_then(Obj::as_f64)
            .unwrap_or(1.0);
        match filters.as_slice() {
            [] => {
                self.budget.take_decoded(raw.len())?;
                Ok(Some(Cow::Borrowed(raw)))
            }
            [f] if (*f == b"FlateDecode" || *f == b"Fl") && predictor <= 1.0 => {
                let left = self.budget.decoded;
                let mut out = Vec::new();
                // A read error (damaged data) keeps what inflated before it.
                let _ = flate2::read::ZlibDecoder::new(raw)
                    .take(left as u64 + 1)
                    .read_to_end(&mut out);
                self.budget.take_decoded(out.len())?;
                Ok(Some(Cow::Owned(out)))
            }
            _ => Ok(None),
        }
    }

    /// The numbers of the objects whose `/Type` is `name`, ascending.
    fn numbers_of_type(&self, name: &[u8]) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .objects
            .iter()
            .filter(|(_, e)| {
                e.value
                    .as_dict()
                    .and_then(|d| d.get(&b"Type"[..]))
                    .and_then(Obj::as_name)
                    == Some(name)
            })
            .map(|(&n, _)| n)
            .collect();
        found.sort_unstable();
        found
    }

    /// The pages in order: the catalog's page tree when there is one, else every page object.
    fn pages(&self) -> Result<Vec<Page>, Limit> {
        let catalogs = self.numbers_of_type(b"Catalog");
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for cat in catalogs.iter().rev() {
            let root = self
                .objects
                .get(cat)
                .and_then(|e| e.value.as_dict())
                .and_then(|d| d.get(&b"Pages"[..]));
            if let Some(root) = root {
                self.walk(root, None, 0, &mut seen, &mut out)?;
            }
            if !out.is_empty() {
                return Ok(out);
            }
        }
        let loose = self.numbers_of_type(b"Page");
        Ok(loose
            .into_iter()
            .map(|num| Page {
                num,
                resources: Some(num),
            })
            .collect())
    }

    fn walk(
        &self,
        node: &Obj,
        inherited: Option<u32>,
        depth: usize,
        seen: &mut HashSet<u32>,
        out: &mut Vec<Page>,
    ) -> Result<(), Limit> {
        if depth >= MAX_DEPTH {
            return Err(Limit::Depth);
        }
        let Some(num) = self.target(node) else {
            return Ok(());
        };
        if !seen.insert(num) {
            return Ok(());
        }
        let Some(d) = self.dict(node) else {
            return Ok(());
        };
        let resources = if d.contains_key(&b"Resources"[..]) {
            Some(num)
        } else {
            inherited
        };
        match self.get(d, b"Kids") {
            Some(Obj::Array(kids)) => {
                for kid in kids {
                    self.walk(kid, resources, depth + 1, seen, out)?;
                }
            }
            _ if d.get(&b"Type"[..]).and_then(Obj::as_name) != Some(b"Pages") => {
                out.push(Page { num, resources })
            }
            _ => {}
        }
        Ok(())
    }

    /// Interprets the content streams of `page` into `text`.
    fn page_text(&mut self, page: &Page, text: &mut Text) -> Result<(), Limit> {
        let Some(d) = self.objects.get(&page.num).and_then(|e| e.value.as_dict()) else {
            return Ok(());
        };
        let streams: Vec<u32> = match d.get(&b"Contents"[..]) {
            Some(Obj::Ref(n)) => match self.objects.get(n).map(|e| &e.value) {
                Some(Obj::Array(a)) => a.iter().filter_map(|o| self.target(o)).collect(),
                _ => vec![*n],
            },
            Some(Obj::Array(a)) => a.iter().filter_map(|o| self.target(o)).collect(),
            _ => Vec::new(),
        };
        let mut content = Vec::new();
        for n in streams {
            if let Some(data) = self.stream_data(n)? {
                content.extend_from_slice(&data);
                content.push(b'\n');
            }
        }
        self.interpret(&content, page.resources, text)
    }

    /// The `/Font` entry `name` of the resources of node `res`.
    fn font_entry(&self, res: u32, name: &[u8]) -> Option<&Obj> {
        let node = self.objects.get(&res)?.value.as_dict()?;
        let resources = self.get(node, b"Resources")?.as_dict()?;
        self.get(resources, b"Font")?.as_dict()?.get(name)
    }

    fn interpret(&mut self, content: &[u8], res: Option<u32>, text: &mut Text) -> Result<(), Limit> {
        let mut lx = Lexer::new(content, 0);
        let mut operands: Vec<Obj> = Vec::new();
        let mut operand_values = MAX_OPERAND_VALUES;
        while let Some(tok) = lx.next() {
            let Tok::Word(w) = tok else {
                match parse_from(tok, &mut lx, 0, &mut operand_values) {
                    Ok(v) => operands.push(v),
                    Err(Fail::Limit(l)) => return Err(l),
                    Err(Fail::Syntax) => operands.clear(),
                }
                continue;
            };
            self.budget.operators = self.budget.operators.checked_sub(1).ok_or(Limit::Operators)?;
            let op = lx.word(&w);
            let num = |i: usize| operands.get(i).and_then(Obj::as_f64);
            match op {
                b"BT" => text.begin_text(),
                b"Tf" => {
                    text.font = match (res, operands.first().and_then(Obj::as_name)) {
                        (Some(res), Some(name)) => self.font(res, name)?,
                        _ => None,
                    };
                }
                b"TL" => text.leading = num(0).unwrap_or(0.0),
                b"Td" | b"TD" => {
                    let (tx, ty) = (num(0).unwrap_or(0.0), num(1).unwrap_or(0.0));
                    if op == b"TD" {
                        text.leading = -ty;
                    }
                    text.move_by(tx, ty);
                }
                b"Tm" => {
                    if let Some(f) = num(5) {
                        text.move_to(f);
                    }
                }
                b"T*" => text.next_line(),
                b"Tj" => {
                    if let Some(Obj::Str(s)) = operands.first() {
                        text.show(s)?;
                    }
                }
                b"'" | b"\"" => {
                    text.next_line();
                    if let Some(Obj::Str(s)) = operands.last() {
                        text.show(s)?;
                    }
                }
                b"TJ" => {
                    if let Some(Obj::Array(items)) = operands.first() {
                        for item in items {
                            match item {
                                Obj::Str(s) => text.show(s)?,
                                other => {
                                    if other.as_f64().is_some_and(|k| k <= -TJ_SPACE) {
                                        text.space_pending = true;
                                    }
                                }
                            }
                        }
                    }
                }
                b"ID" => skip_inline_image(&mut lx),
                _ => {}
            }
            operands.clear();
            operand_values = MAX_OPERAND_VALUES;
        }
        Ok(())
    }

    /// The font `name` of the resources of node `res`, built once per resources node and
    /// name, and once per font object; `None` when there is no such font.
    fn font(&mut self, res: u32, name: &[u8]) -> Result<Option<Rc<Font>>, Limit> {
        let key = (res, name.to_vec());
        if let Some(font) = self.fonts_by_name.get(&key) {
            return Ok(Some(Rc::clone(font)));
        }
        let Some(entry) = self.font_entry(res, name) else {
            return Ok(None);
        };
        let num = self.target(entry);
        if let Some(font) = num.and_then(|n| self.fonts.get(&n)) {
            let font = Rc::clone(font);
            self.fonts_by_name.insert(key, Rc::clone(&font));
            return Ok(Some(font));
        }
        let Some(dict) = self.dict(entry) else {
            return Ok(None);
        };
        let type0 = self.get(dict, b"Subtype").and_then(Obj::as_name) == Some(b"Type0");
        let encoding = match self.get(dict, b"Encoding") {
            Some(Obj::Name(n)) => Some(n.as_slice()),
            Some(Obj::Dict(d)) => d.get(&b"BaseEncoding"[..]).and_then(Obj::as_name),
            _ => None,
        };
        let encoding = match encoding {
            Some(b"PDFDocEncoding") => SimpleEncoding::PdfDoc,
            Some(b"MacRomanEncoding") => SimpleEncoding::MacRoman,
            _ => SimpleEncoding::WinAnsi,
        };
        let to_unicode = dict.get(&b"ToUnicode"[..]).and_then(|o| self.target(o));
        let cmap = match to_unicode {
            Some(n) => self.cmap(n)?,
            None => None,
        };
        let font = Rc::new(Font {
            code_len: if type0 { 2 } else { 1 },
            encoding,
            cmap,
        });
        if let Some(n) = num {
            self.fonts.insert(n, Rc::clone(&font));
        }
        self.fonts_by_name.insert(key, Rc::clone(&font));
        Ok(Some(font))
    }

    fn cmap(&mut self, num: u32) -> Result<Option<Rc<CMap>>, Limit> {
        if let Some(c) = self.cmaps.get(&num) {
            return Ok(Some(Rc::clone(c)));
        }
        let Some(data) = self.stream_data(num)? else {
            return Ok(None);
        };
        let cmap = Rc::new(CMap::parse(&data, &mut self.budget.values)?);
        self.cmaps.insert(num, Rc::clone(&cmap));
        Ok(Some(cmap))
    }
}

/// Moves past an inline image's data: after `ID` and one white-space byte, up to an `EI`
/// between white space (or the end).
fn skip_inline_image(lx: &mut Lexer<'_>) {
    let b = lx.b;
    let mut i = lx.pos + 1;
    while let Some(at) = find(b, i, b"EI") {
        let before = at == 0 || is_ws(b[at - 1]);
        let after = b.get(at + 2).is_none_or(|&c| is_ws(c));
        if before && after {
            lx.pos = at + 2;
            return;
        }
        i = at + 1;
    }
    lx.pos = b.len();
}

// ---------------------------------------------------------------------------------------
// Fonts

#[derive(Clone, Copy, Debug)]
enum SimpleEncoding {
    WinAnsi,
    PdfDoc,
    MacRoman,
}

struct Font {
    /// Bytes per code when the CMap has no codespace: 2 for Type0, 1 for simple fonts.
    code_len: usize,
    encoding: SimpleEncoding,
    cmap: Option<Rc<CMap>>,
}

impl Font {
    fn decode(&self, bytes: &[u8], out: &mut String) {
        let mut i = 0;
        while i < bytes.len() {
            let (code, n) = match &self.cmap {
                Some(c) => c.next_code(bytes, i, self.code_len),
                None => code_at(bytes, i, self.code_len),
            };
            i += n;
            if let Some(s) = self.cmap.as_ref().and_then(|c| c.lookup(code, n)) {
                out.push_str(s.as_ref());
            } else if self.code_len == 1 && n == 1 {
                if let Some(c) = simple_char(self.encoding, code as u8) {
                    out.push(c);
                }
            } else {
                out.push('\u{fffd}');
            }
        }
    }
}

/// The big-endian code of `n` bytes at `i` (fewer at the end), and how many bytes it took.
fn code_at(bytes: &[u8], i: usize, n: usize) -> (u32, usize) {
    let end = (i + n.clamp(1, 4)).min(bytes.len());
    let code = bytes
        .get(i..end)
        .unwrap_or_default()
        .iter()
        .fold(0u32, |acc, &b| acc << 8 | u32::from(b));
    (code, end.saturating_sub(i).max(1))
}

/// The character of a one-byte code; `None` for a control code or an undefined one.
fn simple_char(enc: SimpleEncoding, b: u8) -> Option<char> {
    const WIN_ANSI_80: [u16; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
        0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0, 0x017E, 0x0178,
    ];
    const PDF_DOC_80: [u16; 33] = [
        0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044, 0x2039, 0x203A, 0x2212, 0x2030,
        0x201E, 0x201C, 0x201D, 0x2018, 0x2019, 0x201A, 0x2122, 0xFB01, 0xFB02, 0x0141, 0x0152, 0x0160,
        0x0178, 0x017D, 0x0131, 0x0142, 0x0153, 0x0161, 0x017E, 0, 0x20AC,
    ];
    let u = match (enc, b) {
        (_, b'\t' | b'\n' | b'\r') => 0x20,
        (_, 0..=0x1F | 0x7F) => 0,
        (_, 0x20..=0x7E) => u16::from(b),
        (SimpleEncoding::MacRoman, _) => 0xFFFD,
        (SimpleEncoding::WinAnsi, 0x80..=0x9F) => WIN_ANSI_80[usize::from(b - 0x80)],
        (SimpleEncoding::PdfDoc, 0x80..=0xA0) => PDF_DOC_80[usize::from(b - 0x80)],
        (_, 0xA0) => 0x20,
        (_, 0xAD) => u16::from(b'-'),
        _ => u16::from(b),
    };
    char::from_u32(u32::from(u)).filter(|&c| c != '\0')
}

/// A ToUnicode CMap: codespace ranges, single codes and ranges of codes.
#[derive(Default)]
struct CMap {
    /// (bytes, low, high).
    spaces: Vec<(usize, u32, u32)>,
    chars: HashMap<(usize, u32), Rc<str>>,
    /// Sorted by (bytes, low) for a binary search.
    ranges: Vec<BfRange>,
}

struct BfRange {
    len: usize,
    lo: u32,
    hi: u32,
    dst: Dst,
}

enum Dst {
    /// UTF-16 code units of the first code's text; the last one counts up along the range.
    Start(Vec<u16>),
    /// One text per code.
    List(Vec<Rc<str>>),
}

fn take_value(values: &mut usize) -> Result<(), Limit> {
    *values = values.checked_sub(1).ok_or(Limit::Values)?;
    Ok(())
}

fn code_of(s: &[u8]) -> Option<(usize, u32)> {
    (1..=4)
        .contains(&s.len())
        .then(|| (s.len(), s.iter().fold(0u32, |a, &b| a << 8 | u32::from(b))))
}

fn utf16(s: &[u8]) -> Vec<u16> {
    s.chunks(2)
        .map(|c| u16::from(c[0]) << 8 | u16::from(c.get(1).copied().unwrap_or(0)))
        .collect()
}

impl CMap {
    /// Reads the `bfchar`, `bfrange` and `codespacerange` sections; anything else in the
    /// CMap (its PostScript around them) is passed over. Each entry is charged to `values`.
    fn parse(data: &[u8], values: &mut usize) -> Result<CMap, Limit> {
        let mut cmap = CMap::default();
        let mut lx = Lexer::new(data, 0);
        while let Some(tok) = lx.next() {
            let Tok::Word(w) = tok else { continue };
            match lx.word(&w) {
                b"begincodespacerange" => {
                    while let (Some(Tok::Str(lo)), Some(Tok::Str(hi))) = (lx.next(), lx.next()) {
                        take_value(values)?;
                        if let (Some((n, lo)), Some((m, hi))) = (code_of(&lo), code_of(&hi)) {
                            if n == m && cmap.spaces.len() < MAX_CODESPACE_RANGES {
                                cmap.spaces.push((n, lo, hi));
                            }
                        }
                    }
                }
                b"beginbfchar" => {
                    while let (Some(Tok::Str(src)), Some(Tok::Str(dst))) = (lx.next(), lx.next()) {
                        take_value(values)?;
                        if let Some(key) = code_of(&src) {
                            cmap.chars
                                .insert(key, String::from_utf16_lossy(&utf16(&dst)).into());
                        }
                    }
                }
                b"beginbfrange" => {
                    while let (Some(Tok::Str(lo)), Some(Tok::Str(hi))) = (lx.next(), lx.next()) {
                        take_value(values)?;
                        let dst = match lx.next() {
                            Some(Tok::Str(d)) => Dst::Start(utf16(&d)),
                            Some(Tok::ArrOpen) => {
                                let mut list = Vec::new();
                                while let Some(Tok::Str(d)) = lx.next() {
                                    take_value(values)?;
                                    list.push(String::from_utf16_lossy(&utf16(&d)).into());
                                }
                                Dst::List(list)
                            }
                            _ => break,
                        };
                        if let (Some((n, lo)), Some((m, hi))) = (code_of(&lo), code_of(&hi)) {
                            if n == m && lo <= hi {
                                cmap.ranges.push(BfRange { len: n, lo, hi, dst });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        cmap.ranges.sort_by_key(|r| (r.len, r.lo));
        Ok(cmap)
    }

    /// The next code at `i`: the first length whose codespace range holds it, else
    /// `default_len` bytes.
    fn next_code(&self, bytes: &[u8], i: usize, default_len: usize) -> (u32, usize) {
        for &(n, lo, hi) in &self.spaces {
            if i + n <= bytes.len() {
                let (code, _) = code_at(bytes, i, n);
                if (lo..=hi).contains(&code) {
                    return (code, n);
                }
            }
        }
        code_at(bytes, i, default_len)
    }

    fn lookup(&self, code: u32, len: usize) -> Option<Cow<'_, str>> {
        if let Some(s) = self.chars.get(&(len, code)) {
            return Some(Cow::Borrowed(s));
        }
        let at = self.ranges.partition_point(|r| (r.len, r.lo) <= (len, code));
        let r = self.ranges.get(at.checked_sub(1)?)?;
        if r.len != len || code > r.hi {
            return None;
        }
        let offset = code - r.lo;
        match &r.dst {
            Dst::Start(units) => {
                let mut units = units.clone();
                let last = units.last_mut()?;
                *last = last.wrapping_add(offset as u16);
                Some(Cow::Owned(String::from_utf16_lossy(&units)))
            }
            Dst::List(list) => list.get(offset as usize).map(|s| Cow::Borrowed(s.as_ref())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Text layout

/// The text being built and the little text state line breaks need.
#[derive(Default)]
struct Text {
    out: String,
    chars: usize,
    font: Option<Rc<Font>>,
    /// The baseline of the text matrix now, and of the last text shown.
    y: f64,
    shown_y: Option<f64>,
    leading: f64,
    newline_pending: bool,
    space_pending: bool,
}

impl Text {
    fn new_page(&mut self) {
        self.newline_pending = true;
        self.font = None;
        self.y = 0.0;
        self.shown_y = None;
    }

    fn begin_text(&mut self) {
        self.y = 0.0;
    }

    fn move_by(&mut self, tx: f64, ty: f64) {
        if ty != 0.0 {
            self.y += ty;
        } else if tx != 0.0 {
            self.space_pending = true;
        }
    }

    /// `Tm`: only the baseline matters (the same one again is a move along the line).
    fn move_to(&mut self, y: f64) {
        if self.shown_y.is_some_and(|s| (s - y).abs() < 0.01) {
            self.space_pending = true;
        }
        self.y = y;
    }

    fn next_line(&mut self) {
        self.newline_pending = true;
        self.y -= self.leading;
    }

    fn show(&mut self, bytes: &[u8]) -> Result<(), Limit> {
        let mut s = String::new();
        match &self.font {
            Some(f) => f.decode(bytes, &mut s),
            None => s.extend(
                bytes
                    .iter()
                    .filter_map(|&b| simple_char(SimpleEncoding::WinAnsi, b)),
            ),
        }
        if s.is_empty() {
            return Ok(());
        }
        if !self.out.is_empty() {
            let moved = self.shown_y.is_some_and(|y| (y - self.y).abs() >= 0.01);
            if self.newline_pending || moved {
                self.out.truncate(self.out.trim_end_matches(' ').len());
                self.out.push('\n');
            } else if self.space_pending && !self.out.ends_with(' ') && !s.starts_with(' ') {
                self.out.push(' ');
            }
        }
        self.newline_pending = false;
        self.space_pending = false;
        self.shown_y = Some(self.y);
        self.chars += s.chars().count() + 1;
        if self.chars > MAX_OUTPUT_CHARS {
            return Err(Limit::OutputChars);
        }
        self.out.push_str(&s);
        Ok(())
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(self.out.len());
        for line in self.out.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.truncate(out.trim_end().len());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A PDF of the given objects (number, body between `obj` and `endobj`), without a
    /// cross-reference table: the reader scans for objects anyway.
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

    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\nendstream");
        out
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).expect("in memory");
        z.finish().expect("in memory")
    }

    /// One page whose content is object 5 (`content`), font /F1 Helvetica (object 4), and
    /// `extra` objects.
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

    const HELVETICA: &str =
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

    fn text_of(content: &[u8]) -> String {
        extract_text(&one_page(stream("", content), HELVETICA, Vec::new())).expect("text")
    }

    fn sandbox_pdf(lines: &[String], size: u64) -> Vec<u8> {
        mailroom_sandbox::myepo_pdf(7, "key", lines, size)
    }

    fn sandbox_lines() -> Vec<String> {
        vec![
            "European Patent Office - MyEPO Mailbox (sandbox)".to_owned(),
            "Title: Notice (Article 86(2) EPC) \\ back-slash".to_owned(),
            "Example & Partners Patentanw\u{e4}lte mbB, d\u{e9}lai \u{20ac}".to_owned(),
            "You are invited to file your observations within a period of four months.".to_owned(),
            "x".repeat(140),
        ]
    }

    #[test]
    fn the_sandboxs_pdfs_give_back_their_lines() {
        let lines = sandbox_lines();
        let mut want: Vec<String> = lines.clone();
        // The generator writes what WinAnsi cannot hold as `?` and cuts lines at 100 chars.
        want[2] = want[2].replace('\u{20ac}', "?");
        want[4] = "x".repeat(100);
        for size in [0, 30_000, 250_000] {
            let text = extract_text(&sandbox_pdf(&lines, size)).expect("text");
            assert_eq!(text, want.join("\n"), "size {size}");
        }
    }

    #[test]
    fn a_flate_content_stream_is_inflated_with_either_filter_form() {
        let content = b"BT /F1 11 Tf 72 700 Td (within a period) Tj 0 -14 Td (of four months) Tj ET";
        for filter in ["/Filter /FlateDecode", "/Filter [/FlateDecode]"] {
            let doc = one_page(stream(filter, &deflate(content)), HELVETICA, Vec::new());
            assert_eq!(
                extract_text(&doc).expect("text"),
                "within a period\nof four months",
                "{filter}"
            );
        }
        // An indirect /Length: the data ends at `endstream`.
        let data = deflate(content);
        let mut body = b"<< /Filter /FlateDecode /Length 6 0 R >>\nstream\n".to_vec();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\nendstream");
        let doc = one_page(body, HELVETICA, vec![(6, data.len().to_string().into_bytes())]);
        assert_eq!(
            extract_text(&doc).expect("text"),
            "within a period\nof four months"
        );
    }

    #[test]
    fn tj_kerning_joins_letters_and_a_large_gap_is_a_space() {
        let text = text_of(b"BT /F1 11 Tf [(with) -20 (in) -300 (a) -250.5 (pe) 30 (riod)] TJ ET");
        assert_eq!(text, "within a period");
    }

    #[test]
    fn line_operators_break_lines_where_the_baseline_moves() {
        let text = text_of(
            b"BT /F1 11 Tf 14 TL 72 700 Td (one) Tj T* (two) Tj (three) ' 1 2 (four) \" \
              50 0 Td (five) Tj 0 -20 TD (six) Tj ET \
              BT 1 0 0 1 72 500 Tm (seven) Tj 1 0 0 1 200 500 Tm (eight) Tj 1 0 0 1 72 480 Tm (nine) Tj ET",
        );
        assert_eq!(text, "one\ntwo\nthree\nfour five\nsix\nseven eight\nnine");
    }

    #[test]
    fn literal_and_hex_strings_decode_every_escape() {
        let text = text_of(
            b"BT /F1 11 Tf (a\\(b\\)c \\\\ \\101\\60\\5x (nested (parens)) con\\\ntinued\\q) Tj \
              T* <48 65 6C6C 6F2> Tj T* (\\344\\351\\200\\226) Tj ET",
        );
        assert_eq!(
            text,
            "a(b)c \\ A0x (nested (parens)) continuedq\nHello\n\u{e4}\u{e9}\u{20ac}\u{2013}"
        );
    }

    #[test]
    fn a_type0_font_maps_through_its_to_unicode_cmap() {
        let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
            1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
            2 beginbfchar <0003> <0020> <0011> <00E4> endbfchar\n\
            3 beginbfrange <0024> <003D> <0041>\n<0044> <0046> [<0061> <0062> <00660069>]\n\
            <0050> <0059> <0030> endbfrange\nendcmap CMapName currentdict /CMap defineresource pop end end";
        let font = "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Arial /Encoding /Identity-H \
                    /DescendantFonts [8 0 R] /ToUnicode 7 0 R >>";
        // "A" "b" "fi" " " "4" "ä" "Z", then a code the CMap does not know.
        let content = b"BT /F1 11 Tf <0024 0045 0046 0003 0054 0011 003D> Tj T* <0999> Tj ET";
        let doc = one_page(
            stream("", content),
            font,
            vec![
                (7, stream("/Filter /FlateDecode", &deflate(cmap))),
                (
                    8,
                    b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Arial >>".to_vec(),
                ),
            ],
        );
        assert_eq!(extract_text(&doc).expect("text"), "Abfi 4\u{e4}Z\n\u{fffd}");

        // A simple font with a one-byte ToUnicode: mapped codes through it, others WinAnsi.
        let cmap1 = b"begincmap 1 begincodespacerange <00> <FF> endcodespacerange \
            1 beginbfchar <01> <00DF> endbfchar endcmap";
        let font1 = "<< /Type /Font /Subtype /TrueType /ToUnicode 7 0 R >>";
        let doc = one_page(
            stream("", b"BT /F1 11 Tf (Stra\\001e) Tj ET"),
            font1,
            vec![(7, stream("", cmap1))],
        );
        assert_eq!(extract_text(&doc).expect("text"), "Stra\u{df}e");
    }

    #[test]
    fn object_streams_and_inherited_resources_are_read_in_page_tree_order() {
        // Pages 10 and 11 inside an object stream; the tree lists 11 ("page one") first, so
        // object-number order would give the wrong page first.
        let members = b"<< /Type /Page /Parent 2 0 R /Contents 21 0 R >>\n<< /Type /Page /Parent 2 0 R /Contents 20 0 R >>";
        let second = members.iter().position(|&c| c == b'\n').expect("two") + 1;
        let header = format!("10 0 11 {second} ");
        let mut data = header.clone().into_bytes();
        data.extend_from_slice(members);
        let objstm = stream(
            &format!("/Type /ObjStm /N 2 /First {} /Filter /FlateDecode", header.len()),
            &deflate(&data),
        );
        let doc = pdf(&[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (
                2,
                b"<< /Type /Pages /Kids [11 0 R 10 0 R 2 0 R] /Count 2 /Resources << /Font << /F1 4 0 R >> >> >>"
                    .to_vec(),
            ),
            (4, HELVETICA.as_bytes().to_vec()),
            (9, objstm),
            (20, stream("", b"BT /F1 9 Tf (page one) Tj ET")),
            (21, stream("", b"BT /F1 9 Tf (page two) Tj ET")),
        ]);
        assert_eq!(extract_text(&doc).expect("text"), "page one\npage two");
    }

    #[test]
    fn a_truncated_file_gives_the_text_that_is_there_or_an_error() {
        let full = sandbox_pdf(&sandbox_lines(), 20_000);
        let whole = extract_text(&full).expect("text");
        let content_end = find(&full, 0, b"endstream").expect("content stream") + 9;
        for cut in (0..full.len()).step_by(97).chain([content_end, full.len() - 1]) {
            match extract_text(&full[..cut]) {
                Ok(text) => {
                    assert!(whole.starts_with(&text), "cut {cut}: {text:?}");
                    if cut >= content_end {
                        assert_eq!(text, whole, "cut {cut}");
                    }
                }
                Err(e) => assert!(
                    matches!(e, PdfTextError::NotPdf | PdfTextError::NoPages),
                    "cut {cut}: {e}"
                ),
            }
        }
    }

    #[test]
    fn a_damaged_token_inside_a_dictionary_is_passed_over() {
        let doc = pdf(&[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (2, b"<< /Type /Pages /Kids [3 0 R \x12] /Count 1 >>".to_vec()),
            (
                3,
                b"<< /Type /Page /Parent 2 0 r /MediaBox [0 0 59\x15 842] 7 [1] /Contents 5 0 R >>".to_vec(),
            ),
            (5, stream("", b"BT (read) Tj ET")),
        ]);
        assert_eq!(extract_text(&doc).expect("text"), "read");
        // A dictionary whose end is lost stops at the next object, which is still read.
        let doc = pdf(&[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 ".to_vec()),
            (3, b"<< /Type /Page /Contents 5 0 R >>".to_vec()),
            (5, stream("", b"BT (loose page) Tj ET")),
        ]);
        assert_eq!(extract_text(&doc).expect("text"), "loose page");
    }

    #[test]
    fn garbage_is_not_a_pdf_and_a_bare_header_has_no_page() {
        assert_eq!(extract_text(b""), Err(PdfTextError::NotPdf));
        assert_eq!(extract_text(&[0xFF; 4096]), Err(PdfTextError::NotPdf));
        assert_eq!(
            extract_text(b"%PDF-1.7\n1 0 obj << /Type /Page >> garbage ( ) ] >> endobj"),
            Ok(String::new()),
            "a page without contents has no text"
        );
        assert_eq!(
            extract_text(b"%PDF-1.7\n 1 0 obj (((( 2 0 obj << 3 0 obj [ endobj"),
            Err(PdfTextError::NoPages)
        );
    }

    #[test]
    fn a_flate_bomb_and_deep_nesting_exceed_their_limits() {
        let bomb = deflate(&vec![b' '; MAX_DECODED_BYTES + 1]);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let doc = one_page(stream("/Filter /FlateDecode", &bomb), HELVETICA, Vec::new());
        assert_eq!(
            extract_text(&doc),
            Err(PdfTextError::TooLarge(Limit::DecodedBytes))
        );

        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let doc = one_page(stream("", b""), HELVETICA, vec![(6, deep.into_bytes())]);
        assert_eq!(extract_text(&doc), Err(PdfTextError::TooLarge(Limit::Depth)));

        let mut big = b"%PDF-1.7\n".to_vec();
        big.resize(MAX_INPUT_BYTES + 1, b' ');
        assert_eq!(extract_text(&big), Err(PdfTextError::TooLarge(Limit::InputBytes)));
    }

    #[test]
    fn reference_cycles_and_a_page_tree_loop_end() {
        let doc = pdf(&[
            (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
            (
                2,
                b"<< /Type /Pages /Kids [2 0 R 3 0 R 6 0 R] /Count 1 >>".to_vec(),
            ),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /Resources 7 0 R /Contents 5 0 R >>".to_vec(),
            ),
            (5, stream("/Length 8 0 R", b"BT /F1 11 Tf (still read) Tj ET")),
            (6, b"6 0 R".to_vec()),
            (7, b"7 0 R".to_vec()),
            (8, b"8 0 R".to_vec()),
        ]);
        assert_eq!(extract_text(&doc).expect("text"), "still read");
    }
}
