//! Families and counterparts: which member of an INPADOC family is a Japanese patent
//! application the JPO APIs can be asked about, under which number; how a PCT application
//! number is written for the JPO's national-phase API; and what linking a counterpart found
//! this way does to the cases a person already decided about.
//!
//! **Conversion never guesses.** A member's application reference is mapped only in the forms
//! a source documents; anything else is [`Unmapped`] with the reason and the raw reference
//! kept, and shown as "JP member found, number not mapped".
//!
//! | form (as OPS gives it) | example | JPO number | source |
//! |---|---|---|---|
//! | docdb, country JP, kind A, 10 digits `YYYY`+6 | `JP.2006147056.A` | `2006147056` | OPS Reference Guide v1.3.20 §3.3.2–3.3.3 (original `2006-147056` ↔ docdb `2006147056`); JPO API Handbook / `shared/api/jpo.md` §6 (10 digits: Gregorian year + 6-digit serial); JPO OPD `caseRef` `JP.2015500001.A` (§5.3, `[3rd-party]`) |
//! | epodoc, `JP` + `YYYY` + 7-digit serial | `JP20060147056` | `2006147056` | OPS Reference Guide §2.1.1 Table 3 and §3.3.4: epodoc application numbers are CC + filing year + serial zero-padded to 7 (`MD20050000130`, `US19970921321`); a JP serial has 6 digits, so the first serial digit must be 0 |
//! | kind U (utility model application) | `JP.2006012345.U` | — refused | the JPO APIs serve patents, designs and trademarks only (`shared/api/jpo.md` §5) |
//! | kind W (an international application filed at the JPO) | `JP.2019011858.W` | — refused | not a national application; its JP national phase has its own number |
//! | filed before 2000 | `JP.28341297.A`, `JP19970283412` | — refused | until 1999 the JPO numbered applications by era year (平成11年特許願…); no source we hold says how docdb or epodoc write those numbers, and 1989 held two eras |
//! | anything else | | — refused | |
//!
//! PCT applications for the JPO's `pct_national_phase_application_number` API: the receiving
//! Office code + the Gregorian year (4 digits) + the serial zero-padded to 6 digits
//! (`PCT/EP2024/071234` → `EP2024071234`) — the JPO OpenAPI's parameter description. The
//! pre-2004 form `PCT/GB02/04635` (2-digit year, 5-digit serial; OPS Reference Guide §4.4)
//! maps to `GB2002004635`: PCT applications exist since 1978 and the 2-digit form ended with
//! 2003, so a 2-digit year of 78–99 is 19yy and 00–03 is 20yy; any other is refused.
//!
//! **A derived case never overrides a person's decision** ([`link_action`]): a counterpart
//! already followed by hand is linked, not duplicated (its source and reference stay); one a
//! person removed is linked but stays removed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a document reference is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefFormat {
    /// `country` + `doc-number` + `kind`, separately (`JP`, `2006147056`, `A`).
    Docdb,
    /// One string with the country (`JP20060147056`), kind letters only where needed.
    Epodoc,
}

/// One `document-id` of a family member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRef {
    pub format: RefFormat,
    /// Empty for epodoc (the country is part of the number).
    pub country: String,
    pub number: String,
    pub kind: String,
    /// `YYYY-MM-DD` or empty.
    pub date: String,
}

impl fmt::Display for DocRef {
    /// `JP.2006147056.A` (docdb) or `JP20060147056` (epodoc): the form OPS requests take.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            RefFormat::Docdb if self.kind.is_empty() => write!(f, "{}.{}", self.country, self.number),
            RefFormat::Docdb => write!(f, "{}.{}.{}", self.country, self.number, self.kind),
            RefFormat::Epodoc => f.write_str(&self.number),
        }
    }
}

/// One member of a family: one publication, and the application it was published from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's country (of its publication, else of its application).
    pub country: String,
    /// The publication, docdb when given (`JP.2021090037.A`).
    pub publication: Option<DocRef>,
    /// The application references as given (docdb and/or epodoc).
    pub application: Vec<DocRef>,
}

/// An INPADOC family as OPS returned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    pub family_id: String,
    /// OPS left members out (`truncatedFamily="true"`): too large to answer whole.
    pub truncated: bool,
    pub members: Vec<Member>,
}

/// Why a JP member's application reference is not mapped to a JPO number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unmapped {
    #[error("the member names no application")]
    NoApplication,
    #[error(
        "{raw}: a utility model application (kind U); the JPO APIs serve patents, designs and trademarks only"
    )]
    UtilityModel { raw: String },
    #[error("{raw}: an international application (kind W), not a national one")]
    International { raw: String },
    #[error(
        "{raw}: filed before 2000, when JP applications were numbered by era year; no source says how OPS writes those numbers"
    )]
    EraNumbered { raw: String },
    #[error(
        "{raw}: not a documented form of a JP application number (docdb YYYY + 6 digits, epodoc JP + YYYY + 7 digits)"
    )]
    Undocumented { raw: String },
    #[error("its docdb ({docdb}) and epodoc ({epodoc}) references name different applications")]
    Disagree { docdb: String, epodoc: String },
}

/// The first year the JPO numbered applications by the Gregorian year (§ table above).
const FIRST_GREGORIAN_YEAR: u32 = 2000;

/// The JPO application number of a JP member, from its application references.
pub fn jp_application_number(member: &Member) -> Result<String, Unmapped> {
    let docdb = member
        .application
        .iter()
        .find(|r| r.format == RefFormat::Docdb && r.country.eq_ignore_ascii_case("JP"));
    let epodoc = member.application.iter().find(|r| {
        r.format == RefFormat::Epodoc && r.number.get(..2).is_some_and(|c| c.eq_ignore_ascii_case("JP"))
    });
    match (docdb.map(from_docdb), epodoc.map(from_epodoc)) {
        (None, None) => Err(Unmapped::NoApplication),
        (Some(Ok(a)), Some(Ok(b))) if a != b => Err(Unmapped::Disagree { docdb: a, epodoc: b }),
        (Some(Ok(a)), _) => Ok(a),
        (Some(Err(e)), Some(Ok(b))) => {
            // A docdb form we cannot read does not make an epodoc one we can any less certain,
            // unless the docdb one positively says something else (utility model, PCT).
            match e {
                Unmapped::Undocumented { .. } | Unmapped::EraNumbered { .. } => Ok(b),
                other => Err(other),
            }
        }
        (Some(Err(e)), _) => Err(e),
        (None, Some(r)) => r,
    }
}

fn from_docdb(r: &DocRef) -> Result<String, Unmapped> {
    let raw = r.to_string();
    let number = r.number.trim();
    match r.kind.trim().to_ascii_uppercase().as_str() {
        "U" => return Err(Unmapped::UtilityModel { raw }),
        "W" => return Err(Unmapped::International { raw }),
        "A" => {}
        _ => return Err(Unmapped::Undocumented { raw }),
    }
    if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Unmapped::Undocumented { raw });
    }
    gregorian(number, &raw)
}

fn from_epodoc(r: &DocRef) -> Result<String, Unmapped> {
    let raw = r.to_string();
    let digits = r.number.trim().get(2..).unwrap_or_default();
    match digits.strip_suffix(['U', 'u']) {
        Some(d) if d.len() == 11 && d.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Unmapped::UtilityModel { raw });
        }
        _ => {}
    }
    if digits.len() != 11 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Unmapped::Undocumented { raw });
    }
    let (year, serial) = digits.split_at(4);
    let Some(six) = serial.strip_prefix('0') else {
        return Err(Unmapped::Undocumented { raw });
    };
    gregorian(&format!("{year}{six}"), &raw)
}

/// `number` is 10 digits; refuses a year before [`FIRST_GREGORIAN_YEAR`].
fn gregorian(number: &str, raw: &str) -> Result<String, Unmapped> {
    let year: u32 = number[..4].parse().unwrap_or(0);
    if year < FIRST_GREGORIAN_YEAR {
        return Err(Unmapped::EraNumbered { raw: raw.to_owned() });
    }
    Ok(number.to_owned())
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a PCT application number (PCT/CCyyyy/nnnnnn or PCT/CCyy/nnnnn)")]
pub struct NotPct(pub String);

/// `PCT/EP2024/071234` → `EP2024071234`: the form the JPO's national-phase API takes.
pub fn pct_for_jpo(input: &str) -> Result<String, NotPct> {
    let bad = || NotPct(input.to_owned());
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let rest = s.strip_prefix("PCT/").ok_or_else(bad)?;
    let (head, serial) = rest.split_once('/').ok_or_else(bad)?;
    let (cc, year) = head.split_at_checked(2).ok_or_else(bad)?;
    if !cc.bytes().all(|b| b.is_ascii_uppercase())
        || !serial.bytes().all(|b| b.is_ascii_digit())
        || serial.is_empty()
    {
        return Err(bad());
    }
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year = match year.len() {
        4 if serial.len() <= 6 => year.to_owned(),
        2 if serial.len() <= 5 => match year.parse::<u32>().map_err(|_| bad())? {
            y @ 78..=99 => format!("19{y:02}"),
            y @ 0..=3 => format!("20{y:02}"),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    Ok(format!("{cc}{year}{serial:0>6}"))
}

/// What linking a counterpart does, given the case already stored for its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAction {
    /// No case yet: follow it, derived from the family or the PCT lookup.
    Follow,
    /// Followed already (by hand, an import or an earlier lookup): link it, change nothing else.
    Link,
    /// A person stopped following it: link it (the family view shows it), never follow again.
    LinkRemoved,
}

/// The existing case for a counterpart's number: `None`, or whether a person removed it.
pub fn link_action(existing: Option<bool>) -> LinkAction {
    match existing {
        None => LinkAction::Follow,
        Some(false) => LinkAction::Link,
        Some(true) => LinkAction::LinkRemoved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docdb(country: &str, number: &str, kind: &str) -> DocRef {
        DocRef {
            format: RefFormat::Docdb,
            country: country.into(),
            number: number.into(),
            kind: kind.into(),
            date: String::new(),
        }
    }

    fn epodoc(number: &str) -> DocRef {
        DocRef {
            format: RefFormat::Epodoc,
            country: String::new(),
            number: number.into(),
            kind: String::new(),
            date: String::new(),
        }
    }

    fn member(application: Vec<DocRef>) -> Member {
        Member {
            country: "JP".into(),
            publication: None,
            application,
        }
    }

    #[test]
    fn jp_numbers_map_only_from_documented_forms() {
        use Unmapped as U;
        let raw = |s: &str| s.to_owned();
        let table: Vec<(Vec<DocRef>, Result<&str, Unmapped>)> = vec![
            // The Reference Guide's own example, docdb.
            (vec![docdb("JP", "2006147056", "A")], Ok("2006147056")),
            // The JPO sample case and a national-phase number (serial from 500001).
            (vec![docdb("JP", "2020123456", "A")], Ok("2020123456")),
            (vec![docdb("JP", "2019563629", "A")], Ok("2019563629")),
            // epodoc: year + 7-digit serial.
            (vec![epodoc("JP20060147056")], Ok("2006147056")),
            // Both, agreeing.
            (
                vec![docdb("JP", "2006147056", "A"), epodoc("JP20060147056")],
                Ok("2006147056"),
            ),
            // Both, disagreeing.
            (
                vec![docdb("JP", "2006147056", "A"), epodoc("JP20060147057")],
                Err(U::Disagree {
                    docdb: raw("2006147056"),
                    epodoc: raw("2006147057"),
                }),
            ),
            // An unreadable docdb form does not block a readable epodoc one.
            (
                vec![docdb("JP", "28341297", "A"), epodoc("JP20050012345")],
                Ok("2005012345"),
            ),
            // A utility model in docdb wins over the epodoc form.
            (
                vec![docdb("JP", "2006012345", "U"), epodoc("JP20060012345")],
                Err(U::UtilityModel {
                    raw: raw("JP.2006012345.U"),
                }),
            ),
            (
                vec![epodoc("JP20060012345U")],
                Err(U::UtilityModel {
                    raw: raw("JP20060012345U"),
                }),
            ),
            (
                vec![docdb("JP", "2019011858", "W")],
                Err(U::International {
                    raw: raw("JP.2019011858.W"),
                }),
            ),
            // Before 2000: era numbering, in every form.
            (
                vec![docdb("JP", "28341297", "A")],
                Err(U::Undocumented {
                    raw: raw("JP.28341297.A"),
                }),
            ),
            (
                vec![docdb("JP", "1997283412", "A")],
                Err(U::EraNumbered {
                    raw: raw("JP.1997283412.A"),
                }),
            ),
            (
                vec![epodoc("JP19970283412")],
                Err(U::EraNumbered {
                    raw: raw("JP19970283412"),
                }),
            ),
            // Malformed.
            (
                vec![epodoc("JP20061147056")],
                Err(U::Undocumented {
                    raw: raw("JP20061147056"),
                }),
            ),
            (
                vec![docdb("JP", "2006-147056", "A")],
                Err(U::Undocumented {
                    raw: raw("JP.2006-147056.A"),
                }),
            ),
            (
                vec![docdb("JP", "2006147056", "B2")],
                Err(U::Undocumented {
                    raw: raw("JP.2006147056.B2"),
                }),
            ),
            // No JP application reference at all.
            (vec![docdb("US", "201113167395", "A")], Err(U::NoApplication)),
            (vec![], Err(U::NoApplication)),
        ];
        for (refs, want) in table {
            let got = jp_application_number(&member(refs.clone()));
            assert_eq!(got, want.map(str::to_owned), "{refs:?}");
        }
    }

    #[test]
    fn refusals_name_the_raw_reference_in_one_line() {
        let e = jp_application_number(&member(vec![docdb("JP", "28341297", "A")])).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("JP.28341297.A: "), "{s}");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn pct_numbers_take_the_jpo_form() {
        let table = [
            ("PCT/EP2024/071234", Ok("EP2024071234")),
            ("pct/ep2024/71234", Ok("EP2024071234")),
            ("PCT / JP2019 / 011858", Ok("JP2019011858")),
            ("PCT/GB02/04635", Ok("GB2002004635")),
            ("PCT/US98/12345", Ok("US1998012345")),
            ("PCT/US77/12345", Err(())),
            ("PCT/US05/12345", Err(())),
            ("PCT/EP2024/1234567", Err(())),
            ("PCT/E12024/071234", Err(())),
            ("EP2024071234", Err(())),
            ("PCT/EP2024/", Err(())),
            ("PCT/EP20x4/071234", Err(())),
        ];
        for (input, want) in table {
            let got = pct_for_jpo(input).map_err(|_| ());
            assert_eq!(got, want.map(str::to_owned), "{input}");
        }
    }

    #[test]
    fn a_derived_case_never_overrides_a_person() {
        assert_eq!(link_action(None), LinkAction::Follow);
        assert_eq!(link_action(Some(false)), LinkAction::Link);
        assert_eq!(link_action(Some(true)), LinkAction::LinkRemoved);
    }
}
