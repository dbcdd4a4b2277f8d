//! Register search: a small subset of the EP Register smart-search CQL, and `Range` paging.
//!
//! Supported: terms `field=value` or `field="several words"` with the fields `ti` (title),
//! `pa` (applicant), `in` (inventor), `ap` (EP application number), `pn` (publication number,
//! including the WO number of a Euro-PCT case) and `num` (either number), joined with `and` /
//! `or` (`and` binds tighter) and grouped with parentheses; keywords and field names are
//! case-insensitive. Text fields match when every word of the value occurs in one title or
//! name (case-insensitive substring); number fields accept any number format
//! ([`super::register::parse_number`]).
//!
//! Not supported (answered `400 CLIENT.CQL`): other fields (`pd`, `pr`, `txt`, …), `not`,
//! `prox`, relations other than `=`, bare words without a field, truncation (`*`).
//!
//! The two recorded queries (`ti=battery` plain, `ti=solar` with `/biblio`) are replayed from
//! their recordings instead (see `super` for the details).

use super::register::{Case, Field};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Term(Field, String),
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CqlError {
    #[error("unsupported search field {0:?}; the sandbox knows ti, pa, in, ap, pn and num")]
    UnknownField(String),
    #[error("CQL syntax error: {0}")]
    Syntax(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Equals,
    Word(String),
    Quoted(String),
}

fn tokenize(q: &str) -> Result<Vec<Token>, CqlError> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(CqlError::Syntax("unterminated quote".into())),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '=' | '"') {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Query, CqlError> {
        let mut q = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            q = Query::Or(Box::new(q), Box::new(self.and()?));
        }
        Ok(q)
    }

    fn and(&mut self) -> Result<Query, CqlError> {
        let mut q = self.primary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            q = Query::And(Box::new(q), Box::new(self.primary()?));
        }
        Ok(q)
    }

    fn primary(&mut self) -> Result<Query, CqlError> {
        match self.next() {
            Some(Token::Open) => {
                let q = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(q),
                    _ => Err(CqlError::Syntax("missing )".into())),
                }
            }
            Some(Token::Word(field)) => {
                if field.eq_ignore_ascii_case("not") || field.eq_ignore_ascii_case("prox") {
                    return Err(CqlError::Syntax(format!("{field} is not supported")));
                }
                let f = match field.to_ascii_lowercase().as_str() {
                    "ti" => Field::Title,
                    "pa" => Field::Applicant,
                    "in" => Field::Inventor,
                    "ap" => Field::Application,
                    "pn" => Field::Publication,
                    "num" => Field::Number,
                    _ => {
                        return match self.tokens.get(self.pos) {
                            Some(Token::Equals) => Err(CqlError::UnknownField(field)),
                            _ => Err(CqlError::Syntax(format!(
                                "{field:?} needs a field, e.g. ti={field}"
                            ))),
                        };
                    }
                };
                if self.next() != Some(Token::Equals) {
                    return Err(CqlError::Syntax(format!("expected = after {field}")));
                }
                match self.next() {
                    Some(Token::Word(v) | Token::Quoted(v)) if !v.trim().is_empty() => Ok(Query::Term(f, v)),
                    _ => Err(CqlError::Syntax(format!("missing value after {field}="))),
                }
            }
            Some(t) => Err(CqlError::Syntax(format!("unexpected {t:?}"))),
            None => Err(CqlError::Syntax("empty query".into())),
        }
    }
}

pub fn parse(q: &str) -> Result<Query, CqlError> {
    let mut p = Parser {
        tokens: tokenize(q)?,
        pos: 0,
    };
    let query = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(query),
        Some(t) => Err(CqlError::Syntax(format!("unexpected {t:?}"))),
    }
}

impl Query {
    pub fn matches(&self, case: &Case) -> bool {
        match self {
            Query::Term(f, v) => case.matches(*f, v),
            Query::And(a, b) => a.matches(case) && b.matches(case),
            Query::Or(a, b) => a.matches(case) || b.matches(case),
        }
    }
}

/// A query as the recordings are keyed: lower case, no spaces.
pub fn normalized(q: &str) -> String {
    q.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

/// The most hits one page may hold.
pub const MAX_RANGE: u32 = 100;

/// A 1-based, inclusive range of hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub begin: u32,
    pub end: u32,
}

impl Default for Range {
    fn default() -> Self {
        Range { begin: 1, end: 25 }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("invalid Range {0:?}: use begin-end, e.g. 1-25")]
    Malformed(String),
    #[error("Range {0:?} asks for more than {MAX_RANGE} results")]
    TooLarge(String),
}

/// Parses `b-e` (or a single `b`); `None` gives the default 1-25.
pub fn parse_range(value: Option<&str>) -> Result<Range, RangeError> {
    let Some(v) = value.map(str::trim) else {
        return Ok(Range::default());
    };
    let bad = || RangeError::Malformed(v.to_owned());
    let (b, e) = v.split_once('-').unwrap_or((v, v));
    let begin: u32 = b.trim().parse().map_err(|_| bad())?;
    let end: u32 = e.trim().parse().map_err(|_| bad())?;
    if begin == 0 || end < begin {
        return Err(bad());
    }
    if end - begin + 1 > MAX_RANGE {
        return Err(RangeError::TooLarge(v.to_owned()));
    }
    Ok(Range { begin, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(f: Field, v: &str) -> Query {
        Query::Term(f, v.into())
    }

    #[test]
    fn parses_terms_with_precedence_and_groups() {
        assert_eq!(parse("ti=battery"), Ok(term(Field::Title, "battery")));
        assert_eq!(parse("TI = \"solar cell\""), Ok(term(Field::Title, "solar cell")));
        assert_eq!(
            parse("pa=ibm or ti=x and ap=EP1"),
            Ok(Query::Or(
                Box::new(term(Field::Applicant, "ibm")),
                Box::new(Query::And(
                    Box::new(term(Field::Title, "x")),
                    Box::new(term(Field::Application, "EP1"))
                ))
            ))
        );
        assert_eq!(
            parse("(num=EP1 OR num=EP2) AND in=smith"),
            Ok(Query::And(
                Box::new(Query::Or(
                    Box::new(term(Field::Number, "EP1")),
                    Box::new(term(Field::Number, "EP2"))
                )),
                Box::new(term(Field::Inventor, "smith"))
            ))
        );
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        assert_eq!(parse("pd=20140115"), Err(CqlError::UnknownField("pd".into())));
        assert!(matches!(parse("battery"), Err(CqlError::Syntax(_))));
        assert!(matches!(parse("ti=a and not ti=b"), Err(CqlError::Syntax(_))));
        assert!(matches!(parse("ti="), Err(CqlError::Syntax(_))));
        assert!(matches!(parse("(ti=a"), Err(CqlError::Syntax(_))));
        assert!(matches!(parse("ti=a ti=b"), Err(CqlError::Syntax(_))));
        assert!(matches!(parse("ti=\"open"), Err(CqlError::Syntax(_))));
        assert!(matches!(parse(""), Err(CqlError::Syntax(_))));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None), Ok(Range { begin: 1, end: 25 }));
        assert_eq!(parse_range(Some("1-5")), Ok(Range { begin: 1, end: 5 }));
        assert_eq!(parse_range(Some(" 7 ")), Ok(Range { begin: 7, end: 7 }));
        assert_eq!(parse_range(Some("1-100")), Ok(Range { begin: 1, end: 100 }));
        assert!(matches!(parse_range(Some("1-101")), Err(RangeError::TooLarge(_))));
        assert!(matches!(parse_range(Some("0-5")), Err(RangeError::Malformed(_))));
        assert!(matches!(parse_range(Some("5-1")), Err(RangeError::Malformed(_))));
        assert!(matches!(parse_range(Some("a-b")), Err(RangeError::Malformed(_))));
    }
}
