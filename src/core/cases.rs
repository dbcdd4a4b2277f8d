//! Cases: which office, which kind of right, and the number in the form each office's API
//! takes. Parsing accepts the forms people write (`EP 23 184 567.2`, `特願2020-123456`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Office {
    #[serde(rename = "EP")]
    Ep,
    #[serde(rename = "JP")]
    Jp,
}

impl Office {
    pub fn as_str(self) -> &'static str {
        match self {
            Office::Ep => "EP",
            Office::Jp => "JP",
        }
    }
}

impl fmt::Display for Office {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of right; it selects the JPO API family (`/api/patent/v1/…`, `design`, `trademark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Patent,
    Design,
    Trademark,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Patent, Kind::Design, Kind::Trademark];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Patent => "patent",
            Kind::Design => "design",
            Kind::Trademark => "trademark",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind of right {0:?}: use patent, design or trademark")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "patent" | "p" => Ok(Kind::Patent),
            "design" | "d" => Ok(Kind::Design),
            "trademark" | "tm" | "t" => Ok(Kind::Trademark),
            _ => Err(UnknownKind(s.to_owned())),
        }
    }
}

/// A case as the offices key it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaseKey {
    pub office: Office,
    pub kind: Kind,
    /// EP: epodoc, `EP` + 8 digits for an application (`EP10167109`) or `EP` + 7 digits for a
    /// publication (`EP2400812`). JP: 10 digits (`2020123456`).
    pub number: String,
}

impl CaseKey {
    /// An EP publication number (`EP` + 7 digits), which the Register resolves to its
    /// application.
    pub fn is_ep_publication(&self) -> bool {
        self.office == Office::Ep && self.number.len() == 9
    }

    /// The number as people read it: `EP23184567`, `EP2400812`, `JP 2020-123456`,
    /// `JP design 2020-015234`, `JP trademark 2024-123456`. Used in change summaries.
    pub fn label(&self) -> String {
        match self.office {
            Office::Ep => self.number.clone(),
            Office::Jp => {
                let number = match (self.number.len(), self.number.get(..4), self.number.get(4..)) {
                    (10, Some(year), Some(serial)) => format!("{year}-{serial}"),
                    _ => self.number.clone(),
                };
                match self.kind {
                    Kind::Patent => format!("JP {number}"),
                    Kind::Design => format!("JP design {number}"),
                    Kind::Trademark => format!("JP trademark {number}"),
                }
            }
        }
    }
}

impl fmt::Display for CaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Why a text is not a case number. Every message names the input as the person wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error(
        "{input:?}: not a case number: use an EP application (EP 23 184 567.2), an EP publication \
         (EP2400812 B1) or a JP application (特願2020-123456, 意願…, 商願…, 2020-123456, 2020123456)"
    )]
    Unrecognised { input: String },
    #[error(
        "{input:?}: not an EP case number: use an application (EP 23 184 567.2, 23184567) or a \
         publication (EP2400812 B1)"
    )]
    NotEp { input: String },
    #[error(
        "{input:?}: not a JP case number: use 特願2020-123456, 意願…, 商願…, 特願平30-123456, \
         JP2020-123456 or 2020123456"
    )]
    NotJp { input: String },
    #[error("{input:?}: an EP application has 8 digits and a publication 7, not {digits}")]
    EpDigits { input: String, digits: usize },
    #[error("{input:?}: {kind:?} is not an EP publication kind (A, A1…A9, B, B1…B9)")]
    EpKind { input: String, kind: String },
    #[error("{input:?}: EP numbers are patents, not {kind}s")]
    EpNotPatent { input: String, kind: Kind },
    #[error("{input:?}: written as a {written} number, but the case is a {given}")]
    KindMismatch {
        input: String,
        written: Kind,
        given: Kind,
    },
    #[error("{input:?}: year {year} is outside 1900–2100")]
    Year { input: String, year: u32 },
}

/// Parses a case number as people write it.
///
/// Decisions:
/// - The input is normalised first: full-width digits, letters, space, full stop and hyphens
///   (and `ー`, `−`, `‐`…`―`) become ASCII; it is trimmed; prefixes are case-insensitive.
///   Spaces in an EP number must group its digits in threes (see `ep_number`); in a JP
///   number they are ignored.
/// - **EP** when the office hint is EP, the text starts with `EP`, or it is 8 bare digits
///   (optionally `.d`). An application is `EP` + 8 digits; the check digit after the dot is
///   dropped, not validated. A publication is `EP` + 7 digits (leading zeros written: EP
///   publications have been printed with 7 digits since the first, so `EP123` is a typo, not
///   `EP0000123`) with an optional kind `A`/`B` and one digit (`B1`, `.A1`); it needs the `EP`
///   prefix or the EP hint, because 7 bare digits say nothing. Any other digit count or kind is
///   refused naming what is wrong. EP rights are always patents.
/// - **JP** when the office hint is JP or the text carries a JP marker: `特願`/`意願`/`商願`,
///   `JP`, an era (`昭`/`昭和`, `平`/`平成`, `令`/`令和`, year `元` = 1) or a hyphen; or it is 10
///   bare digits. Era years are 1–99 and need the hyphen (`特願平30-123456`); the serial has
///   1–6 digits and is zero-padded to 6. The kind is the prefix's, else `kind`, else patent;
///   a prefix contradicting `kind` is an error. The Gregorian year must be 1900–2100.
/// - A text of one office under the other office's hint is an error, never a guess.
pub fn parse_case(input: &str, office: Option<Office>, kind: Option<Kind>) -> Result<CaseKey, NumberError> {
    let text = normalise(input);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let owned = || input.to_owned();
    let jp = JpForm::split(&compact);
    let ep_body = strip_prefix_ci(&text, "EP").map(|rest| {
        let rest = rest.trim_start();
        rest.strip_prefix('.').unwrap_or(rest)
    });
    // `EP` + 8 digits is an application; `EP` + 7 digits a publication.
    let bare_ep_application = ep_number(&text).is_ok_and(|number| number.len() == 10);
    let target = match (office, ep_body.is_some(), jp.has_marker()) {
        (Some(Office::Jp), true, _) => return Err(NumberError::NotJp { input: owned() }),
        (Some(Office::Ep), _, true) => return Err(NumberError::NotEp { input: owned() }),
        (Some(hint), _, _) => hint,
        (None, true, _) => Office::Ep,
        (None, false, true) => Office::Jp,
        (None, false, false) if bare_ep_application => Office::Ep,
        (None, false, false) if all_digits(&compact, 10..=10) => Office::Jp,
        (None, false, false) => return Err(NumberError::Unrecognised { input: owned() }),
    };
    match target {
        Office::Ep => {
            if let Some(k @ (Kind::Design | Kind::Trademark)) = kind {
                return Err(NumberError::EpNotPatent {
                    input: owned(),
                    kind: k,
                });
            }
            // The digit count is named only when `EP` says the text is meant as an EP number.
            let number = ep_number(ep_body.unwrap_or(&text)).map_err(|bad| match (bad, office) {
                (EpBad::Digits(digits), _) if ep_body.is_some() => NumberError::EpDigits {
                    input: owned(),
                    digits,
                },
                (EpBad::Kind(kind), _) => NumberError::EpKind { input: owned(), kind },
                (_, Some(Office::Ep)) => NumberError::NotEp { input: owned() },
                (_, _) => NumberError::Unrecognised { input: owned() },
            })?;
            Ok(CaseKey {
                office: Office::Ep,
                kind: Kind::Patent,
                number,
            })
        }
        Office::Jp => {
            let (year, serial) = jp.year_serial().ok_or_else(|| match office {
                Some(Office::Jp) => NumberError::NotJp { input: owned() },
                _ => NumberError::Unrecognised { input: owned() },
            })?;
            if !(1900..=2100).contains(&year) {
                return Err(NumberError::Year { input: owned(), year });
            }
            let kind = match (jp.written, kind) {
                (Some(written), Some(given)) if written != given => {
                    return Err(NumberError::KindMismatch {
                        input: owned(),
                        written,
                        given,
                    });
                }
                (Some(k), _) | (None, Some(k)) => k,
                (None, None) => Kind::Patent,
            };
            Ok(CaseKey {
                office: Office::Jp,
                kind,
                number: format!("{year:04}{serial:06}"),
            })
        }
    }
}

/// Full-width and dash-like characters to ASCII, trimmed.
fn normalise(input: &str) -> String {
    let mapped: String = input
        .chars()
        .filter_map(|c| match c {
            // The full-width forms are their ASCII counterparts shifted by 0xFEE0.
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(u32::from(c) - 0xFEE0)
            }
            '\u{3000}' => Some(' '),
            '\u{FF0E}' => Some('.'),
            '\u{FF0D}' | '\u{2212}' | '\u{2010}'..='\u{2015}' | 'ー' => Some('-'),
            _ => Some(c),
        })
        .collect();
    mapped.trim().to_owned()
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn all_digits(s: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why a text after `EP` is not an epodoc number.
#[derive(Debug, PartialEq, Eq)]
enum EpBad {
    /// No digits, digits grouped other than in threes, or a bad check digit.
    Unreadable,
    /// Digits as written, neither 8 (application) nor 7 (publication).
    Digits(usize),
    /// What follows a publication's 7 digits, not an EP kind code.
    Kind(String),
}

/// The epodoc number of an EP application (8 digits, optionally `.` and a check digit) or
/// publication (7 digits and an optional kind such as `B1` or `.A1`), from the text after any
/// `EP` prefix.
///
/// Spaces may only group digits in threes from the right (`23 184 567`, `2 400 812`): a first
/// group of 1–3 digits and every other of exactly 3. So `EP 12 34` is refused rather than read
/// as a number, since it looks like a mistyped application just as much.
fn ep_number(body: &str) -> Result<String, EpBad> {
    let body = body.trim();
    let end = body
        .find(|c: char| !c.is_ascii_digit() && !c.is_whitespace())
        .unwrap_or(body.len());
    let (written, tail) = body.split_at(end);
    let groups: Vec<&str> = written.split_whitespace().collect();
    let grouped = groups.split_first().is_none_or(|(first, others)| {
        others.is_empty() || (first.len() <= 3 && others.iter().all(|g| g.len() == 3))
    });
    let digits = groups.concat();
    let tail = tail.trim_start();
    if !grouped || digits.is_empty() {
        return Err(EpBad::Unreadable);
    }
    match digits.len() {
        8 => {
            let check_ok = tail.is_empty() || tail.strip_prefix('.').is_some_and(|c| all_digits(c, 1..=1));
            check_ok.then(|| format!("EP{digits}")).ok_or(EpBad::Unreadable)
        }
        7 => {
            let kind = tail.strip_prefix('.').unwrap_or(tail);
            let mut kind_chars = kind.chars();
            let kind_ok = match (kind_chars.next(), kind_chars.next(), kind_chars.next()) {
                (None, _, _) => true,
                (Some(letter), digit, None) => {
                    matches!(letter, 'A' | 'B' | 'a' | 'b') && digit.is_none_or(|d| d.is_ascii_digit())
                }
                _ => false,
            };
            if kind_ok {
                Ok(format!("EP{digits}"))
            } else {
                Err(EpBad::Kind(kind.to_owned()))
            }
        }
        n => Err(EpBad::Digits(n)),
    }
}

/// A text split into its JP markers and the rest.
struct JpForm<'a> {
    /// The kind named by `特願`, `意願` or `商願`.
    written: Option<Kind>,
    jp_prefix: bool,
    /// The era's base year (era year 1 = base + 1).
    era_base: Option<u32>,
    rest: &'a str,
}

impl<'a> JpForm<'a> {
    fn split(text: &'a str) -> JpForm<'a> {
        let kinds = [
            ("特願", Kind::Patent),
            ("意願", Kind::Design),
            ("商願", Kind::Trademark),
        ];
        let (written, rest) = kinds
            .iter()
            .find_map(|(p, k)| text.strip_prefix(p).map(|rest| (Some(*k), rest)))
            .unwrap_or((None, text));
        let (jp_prefix, rest) = match strip_prefix_ci(rest, "JP") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let eras = [
            ("昭和", 1925),
            ("昭", 1925),
            ("平成", 1988),
            ("平", 1988),
            ("令和", 2018),
            ("令", 2018),
        ];
        let (era_base, rest) = eras
            .iter()
            .find_map(|(p, base)| rest.strip_prefix(p).map(|after| (Some(*base), after)))
            .unwrap_or((None, rest));
        JpForm {
            written,
            jp_prefix,
            era_base,
            rest,
        }
    }

    fn has_marker(&self) -> bool {
        self.written.is_some() || self.jp_prefix || self.era_base.is_some() || self.rest.contains('-')
    }

    /// The Gregorian year and the serial, if the rest is a JP application number.
    fn year_serial(&self) -> Option<(u32, u32)> {
        let (year, serial) = match (self.era_base, self.rest.split_once('-')) {
            (Some(base), Some((year, serial))) => {
                let era_year = if year == "元" {
                    1
                } else if all_digits(year, 1..=2) {
                    year.parse::<u32>().ok().filter(|y| *y >= 1)?
                } else {
                    return None;
                };
                (base + era_year, serial)
            }
            (Some(_), None) => return None,
            (None, Some((year, serial))) if all_digits(year, 4..=4) => (year.parse().ok()?, serial),
            (None, Some(_)) => return None,
            (None, None) if all_digits(self.rest, 10..=10) => {
                let (year, serial) = self.rest.split_at(4);
                (year.parse().ok()?, serial)
            }
            (None, None) => return None,
        };
        all_digits(serial, 1..=6)
            .then(|| serial.parse().ok())
            .flatten()
            .map(|s| (year, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(office: Office, kind: Kind, number: &str) -> CaseKey {
        CaseKey {
            office,
            kind,
            number: number.to_owned(),
        }
    }

    #[test]
    fn parse_case_accepts_the_forms_people_write() {
        use Kind::*;
        use Office::*;
        let table: &[(&str, Option<Office>, Option<Kind>, CaseKey)] = &[
            // EP applications: the check digit is dropped.
            ("EP 23 184 567.2", None, None, key(Ep, Patent, "EP23184567")),
            ("EP23184567.2", None, None, key(Ep, Patent, "EP23184567")),
            ("EP23184567", None, None, key(Ep, Patent, "EP23184567")),
            ("23184567.2", None, None, key(Ep, Patent, "EP23184567")),
            ("23 184 567.2", None, None, key(Ep, Patent, "EP23184567")),
            ("23184567", None, None, key(Ep, Patent, "EP23184567")),
            ("ep23184567", None, None, key(Ep, Patent, "EP23184567")),
            ("  EP23184567\t", None, None, key(Ep, Patent, "EP23184567")),
            ("23184567", Some(Ep), Some(Patent), key(Ep, Patent, "EP23184567")),
            // EP publications: zero-padded to 7 digits, kind dropped.
            ("EP2400812", None, None, key(Ep, Patent, "EP2400812")),
            ("EP 2 400 812 B1", None, None, key(Ep, Patent, "EP2400812")),
            ("EP2400812.A1", None, None, key(Ep, Patent, "EP2400812")),
            ("EP2400812A1", None, None, key(Ep, Patent, "EP2400812")),
            ("EP.2400812.A1", None, None, key(Ep, Patent, "EP2400812")),
            ("EP2400812 A", None, None, key(Ep, Patent, "EP2400812")),
            ("EP1000000.A1", None, None, key(Ep, Patent, "EP1000000")),
            ("EP 0 000 812", None, None, key(Ep, Patent, "EP0000812")),
            ("EP0000812 b", None, None, key(Ep, Patent, "EP0000812")),
            ("2400812 B1", Some(Ep), None, key(Ep, Patent, "EP2400812")),
            // Full width.
            (
                "ＥＰ２３１８４５６７．２",
                None,
                None,
                key(Ep, Patent, "EP23184567"),
            ),
            (
                "ｅｐ　２４００８１２　ｂ１",
                None,
                None,
                key(Ep, Patent, "EP2400812"),
            ),
            // JP with kind prefixes.
            ("特願2020-123456", None, None, key(Jp, Patent, "2020123456")),
            ("意願2020-015234", None, None, key(Jp, Design, "2020015234")),
            ("商願2024-123456", None, None, key(Jp, Trademark, "2024123456")),
            ("特願2020-8423", None, None, key(Jp, Patent, "2020008423")),
            ("特願 2020 - 8423", None, None, key(Jp, Patent, "2020008423")),
            (
                "意願2020-015234",
                None,
                Some(Design),
                key(Jp, Design, "2020015234"),
            ),
            (
                "特願2020-123456",
                Some(Jp),
                Some(Patent),
                key(Jp, Patent, "2020123456"),
            ),
            // JP without a prefix: the kind argument, else patent.
            ("2020-123456", None, None, key(Jp, Patent, "2020123456")),
            ("JP2020-123456", None, None, key(Jp, Patent, "2020123456")),
            ("jp2020-123456", None, None, key(Jp, Patent, "2020123456")),
            ("JP 2020123456", None, None, key(Jp, Patent, "2020123456")),
            ("2020123456", None, None, key(Jp, Patent, "2020123456")),
            (
                "2020123456",
                Some(Jp),
                Some(Trademark),
                key(Jp, Trademark, "2020123456"),
            ),
            ("2020-15234", None, Some(Design), key(Jp, Design, "2020015234")),
            ("2020 123456", None, None, key(Jp, Patent, "2020123456")),
            // Full-width digits and dashes.
            (
                "特願２０２０－１２３４５６",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            (
                "特願２０２０ー１２３４５６",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            (
                "特願2020\u{2212}123456",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            (
                "特願2020\u{2010}123456",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            (
                "特願2020\u{2015}123456",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            (
                "ＪＰ２０２０１２３４５６",
                None,
                None,
                key(Jp, Patent, "2020123456"),
            ),
            // Eras.
            ("特願平30-123456", None, None, key(Jp, Patent, "2018123456")),
            ("特願平成30-123456", None, None, key(Jp, Patent, "2018123456")),
            ("特願令2-123456", None, None, key(Jp, Patent, "2020123456")),
            ("特願令和2-123456", None, None, key(Jp, Patent, "2020123456")),
            ("特願令和元-5", None, None, key(Jp, Patent, "2019000005")),
            ("商願昭63-12345", None, None, key(Jp, Trademark, "1988012345")),
            ("意願昭和50-1", None, None, key(Jp, Design, "1975000001")),
            ("平30-123456", None, Some(Design), key(Jp, Design, "2018123456")),
        ];
        for (input, office, kind, expected) in table {
            assert_eq!(
                parse_case(input, *office, *kind).as_ref(),
                Ok(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn parse_case_rejects_what_it_cannot_read() {
        use Kind::*;
        use Office::*;
        let un = |s: &str| NumberError::Unrecognised { input: s.to_owned() };
        let not_ep = |s: &str| NumberError::NotEp { input: s.to_owned() };
        let not_jp = |s: &str| NumberError::NotJp { input: s.to_owned() };
        let digits = |s: &str, digits: usize| NumberError::EpDigits {
            input: s.to_owned(),
            digits,
        };
        let ep_kind = |s: &str, kind: &str| NumberError::EpKind {
            input: s.to_owned(),
            kind: kind.to_owned(),
        };
        let table: &[(&str, Option<Office>, Option<Kind>, NumberError)] = &[
            ("", None, None, un("")),
            ("   ", None, None, un("   ")),
            (
                "EP 12 34",
                None,
                None,
                NumberError::Unrecognised {
                    input: "EP 12 34".to_owned(),
                },
            ),
            ("EP", None, None, un("EP")),
            // Spaces group digits in threes only.
            ("EP 23184 567", None, None, un("EP 23184 567")),
            ("EP 2 4008 12", None, None, un("EP 2 4008 12")),
            ("2318 4567", None, None, un("2318 4567")),
            ("EP123456789", None, None, digits("EP123456789", 9)),
            ("EP23184567.23", None, None, un("EP23184567.23")),
            ("EP2400812.2", None, None, ep_kind("EP2400812.2", "2")),
            ("EP2400812 B12", None, None, ep_kind("EP2400812 B12", "B12")),
            ("EP2400812 1B", None, None, un("EP2400812 1B")),
            // Neither 7 nor 8 digits, or not an EP kind code: the reason is named.
            ("EP123", None, None, digits("EP123", 3)),
            ("EP 812", None, None, digits("EP 812", 3)),
            ("EP 1 234", None, None, digits("EP 1 234", 4)),
            ("EP123456", None, None, digits("EP123456", 6)),
            ("123", Some(Ep), None, not_ep("123")),
            ("EP123", Some(Ep), None, digits("EP123", 3)),
            ("EP2318456X", None, None, ep_kind("EP2318456X", "X")),
            ("EP2400812 C1", None, None, ep_kind("EP2400812 C1", "C1")),
            ("EP2400812 U", None, None, ep_kind("EP2400812 U", "U")),
            ("2400812", None, None, un("2400812")),
            ("123456789", None, None, un("123456789")),
            ("hello", None, None, un("hello")),
            ("US10465445B2", None, None, un("US10465445B2")),
            ("特願", None, None, un("特願")),
            ("特願2020", None, None, un("特願2020")),
            ("特願2020-1234567", None, None, un("特願2020-1234567")),
            ("特願20-123456", None, None, un("特願20-123456")),
            ("特願2020-12a456", None, None, un("特願2020-12a456")),
            ("特願平30123456", None, None, un("特願平30123456")),
            ("特願平0-1", None, None, un("特願平0-1")),
            ("特願平100-1", None, None, un("特願平100-1")),
            ("特開2021-090037", None, None, un("特開2021-090037")),
            ("JP", None, None, un("JP")),
            // A form of one office under the other's hint.
            ("2020-123456", Some(Ep), None, not_ep("2020-123456")),
            ("特願2020-123456", Some(Ep), None, not_ep("特願2020-123456")),
            ("JP2020123456", Some(Ep), None, not_ep("JP2020123456")),
            ("2020123456", Some(Ep), None, not_ep("2020123456")),
            ("EP23184567", Some(Jp), None, not_jp("EP23184567")),
            ("23184567", Some(Jp), None, not_jp("23184567")),
            ("2400812", Some(Jp), None, not_jp("2400812")),
            // Kinds.
            (
                "EP23184567",
                None,
                Some(Design),
                NumberError::EpNotPatent {
                    input: "EP23184567".to_owned(),
                    kind: Design,
                },
            ),
            (
                "EP2400812 B1",
                Some(Ep),
                Some(Trademark),
                NumberError::EpNotPatent {
                    input: "EP2400812 B1".to_owned(),
                    kind: Trademark,
                },
            ),
            (
                "意願2020-015234",
                None,
                Some(Patent),
                NumberError::KindMismatch {
                    input: "意願2020-015234".to_owned(),
                    written: Design,
                    given: Patent,
                },
            ),
            (
                "商願2024-123456",
                Some(Jp),
                Some(Design),
                NumberError::KindMismatch {
                    input: "商願2024-123456".to_owned(),
                    written: Trademark,
                    given: Design,
                },
            ),
            // Years.
            (
                "1899-000001",
                None,
                None,
                NumberError::Year {
                    input: "1899-000001".to_owned(),
                    year: 1899,
                },
            ),
            (
                "2101123456",
                None,
                None,
                NumberError::Year {
                    input: "2101123456".to_owned(),
                    year: 2101,
                },
            ),
            (
                "特願令83-1",
                None,
                None,
                NumberError::Year {
                    input: "特願令83-1".to_owned(),
                    year: 2101,
                },
            ),
        ];
        for (input, office, kind, expected) in table {
            assert_eq!(
                parse_case(input, *office, *kind).as_ref(),
                Err(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn number_error_messages_name_the_input() {
        let table = [
            (
                parse_case("EP 12 34", None, None),
                "\"EP 12 34\": not a case number: use an EP application (EP 23 184 567.2), an EP \
                 publication (EP2400812 B1) or a JP application (特願2020-123456, 意願…, 商願…, \
                 2020-123456, 2020123456)",
            ),
            (
                parse_case("2020-1", Some(Office::Ep), None),
                "\"2020-1\": not an EP case number: use an application (EP 23 184 567.2, 23184567) or \
                 a publication (EP2400812 B1)",
            ),
            (
                parse_case("EP1", Some(Office::Jp), None),
                "\"EP1\": not a JP case number: use 特願2020-123456, 意願…, 商願…, 特願平30-123456, \
                 JP2020-123456 or 2020123456",
            ),
            (
                parse_case("EP1", None, Some(Kind::Design)),
                "\"EP1\": EP numbers are patents, not designs",
            ),
            (
                parse_case("意願2020-1", None, Some(Kind::Trademark)),
                "\"意願2020-1\": written as a design number, but the case is a trademark",
            ),
            (
                parse_case("2200-1", None, None),
                "\"2200-1\": year 2200 is outside 1900–2100",
            ),
            (
                parse_case("EP123", None, None),
                "\"EP123\": an EP application has 8 digits and a publication 7, not 3",
            ),
            (
                parse_case("EP2318456X", None, None),
                "\"EP2318456X\": \"X\" is not an EP publication kind (A, A1…A9, B, B1…B9)",
            ),
        ];
        for (result, expected) in table {
            let message = result.map(|k| k.label()).unwrap_err().to_string();
            assert_eq!(message, expected);
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn label_and_display() {
        use Kind::*;
        use Office::*;
        let table = [
            (key(Ep, Patent, "EP23184567"), "EP23184567"),
            (key(Ep, Patent, "EP2400812"), "EP2400812"),
            (key(Jp, Patent, "2020123456"), "JP 2020-123456"),
            (key(Jp, Design, "2020015234"), "JP design 2020-015234"),
            (key(Jp, Trademark, "2024123456"), "JP trademark 2024-123456"),
            // A number that is not 10 digits is shown as it is.
            (key(Jp, Patent, "123"), "JP 123"),
            (key(Jp, Patent, "特願２０２０１２"), "JP 特願２０２０１２"),
        ];
        for (case, expected) in table {
            assert_eq!(case.label(), expected);
            assert_eq!(case.to_string(), expected);
        }
    }
}
