//! The made-up INPADOC families (`family/…`) besides the recorded one of EP2400812: the
//! built-in families of `sandbox/data/families.json` and the families tests attach to any EP
//! application (`POST /_sandbox/ops/families`).
//!
//! A family is plain data ([`Family`]) rendered into the shape of the recording
//! `family_EP2400812A1_2025.xml` ([`Family::document`]); a unit test renders the recording
//! itself back from its parsed data, byte for byte, so the made-up families cannot drift from
//! the recorded layout.
//!
//! Built-in families (every number made up except where `families.json` says otherwise):
//! * **EP23184567** (family 71234508): EP 4312345 A1; JP 2021090037 A and JP 7533889 B2 of the
//!   JPO simulator's patent sample, application `JP.2020123456.A`; a pre-2000 JP member with
//!   application `JP.28341297.A` (`[inferred]` form, see the file's header); US and CN members.
//! * **EP14735465** (family 50321786, EP3000000): WO 2014206532 A1 with application
//!   `EP.2014001597.W` (Reference Guide §4.4 form of PCT/EP2014/001597), EP 3000000 A1/B1,
//!   DE 102013211960 A1 (representative) and a JP utility model, application
//!   `JP.2015004567.U`, publication JP 3201234 U. No JP patent member.
//! * **PCT/EP2024/071234** (family 84455021): its WO 2025021234 A1 alone, application
//!   `EP.2024071234.W`. Its JP national phase (JP 2026500123, the JPO simulator's national-phase
//!   case) is not published yet, so INPADOC has no JP member: the JPO
//!   `pct_national_phase_application_number` API is the way to it.
//!
//! Decisions the contract leaves open (all `[inferred]`):
//! * A family answers for every member: by publication (docdb `CC.number.kind`, the kind
//!   ignored, or epodoc) and by application (docdb, or epodoc: the member's `epodoc` where the
//!   data gives one, else country + docdb number, which is right for EP). Numbers that are not
//!   `CC` + digits (the pre-2000 JP publication `JP.H11112345.A`) cannot be asked for.
//! * The `ops:publication-reference` echo is the docdb number of the member publication asked
//!   for; for an application, of that application's first publication in the family (the
//!   recording, asked by publication, shows only that case).
//! * GET answers carry the recording's `family.xsl` PI with one `../` per path level below
//!   `/3.2/`; POST answers none (as the register POST answers).
//! * An attached family replaces an earlier one for the same EP application and hides a
//!   built-in one; the recorded family of EP2400812 cannot be replaced.
//! * Attached families: the EP member comes first and is the representative; every member
//!   claims the EP application's priority (`kind="regional"`); doc-ids are a hash of the
//!   number; a missing date is the virtual today; a member without a publication is listed
//!   under its application number with kind A; the family id defaults to `8` + the last seven
//!   digits of the EP application number.
//! * No family is large enough for `truncatedFamily="true"`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::INPADOC_PREFIXES;
use super::register::{DocNumber, parse_number};
use super::xml::{Element, Ns, Style};

const X: Ns = Ns::Exchange;

/// The built-in families (`sandbox/data/families.json`).
const BUILTIN: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/families.json"));

/// One publication of a family member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    pub country: String,
    pub doc_number: String,
    pub kind: String,
    pub date: String,
    /// The epodoc doc-number where it is not country + docdb number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epodoc: Option<String>,
}

impl Publication {
    fn epodoc(&self) -> String {
        self.epodoc
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.country, self.doc_number))
    }
}

/// The application a member publication belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub country: String,
    pub doc_number: String,
    pub kind: String,
    pub date: String,
    /// `application-reference/@doc-id`.
    pub doc_id: String,
    /// `is-representative="YES"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub representative: bool,
    /// The epodoc application number where it is not country + docdb number (it is not in the
    /// answer, which has docdb only; it is what an epodoc request may name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epodoc: Option<String>,
}

/// A `priority-claim` (always `priority-active-indicator` YES, as every recorded one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityClaim {
    /// `national`, `regional`, …
    pub kind: String,
    pub country: String,
    pub doc_number: String,
    pub doc_kind: String,
    pub date: String,
}

/// One `ops:family-member`: a publication with its application and priorities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub publication: Publication,
    pub application: Application,
    pub priority_claims: Vec<PriorityClaim>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// The case it was made for: an EP application (`EP23184567`) or a PCT number.
    pub case: String,
    pub family_id: String,
    pub members: Vec<Member>,
}

/// What a request names a member by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Publication,
    Application,
}

#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    #[error("families.json: {0}")]
    Builtin(#[from] serde_json::Error),
    #[error("{0:?} is not an EP application number")]
    NotEp(String),
    #[error("member {0}: {1}")]
    Member(usize, String),
    #[error("{field} {value:?} is not a date YYYYMMDD")]
    Date { field: &'static str, value: String },
    #[error("family_id {0:?} is not 1 to 9 digits")]
    FamilyId(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinFile {
    /// The provenance header, for readers of the file.
    #[serde(rename = "about")]
    _about: Vec<String>,
    families: Vec<Family>,
}

fn docdb(country: &str, number: &str, kind: &str, date: Option<&str>) -> Element {
    let mut id = Element::new(X, "document-id")
        .with_attr("document-id-type", "docdb")
        .with_child(Element::new(X, "country").with_text(country))
        .with_child(Element::new(X, "doc-number").with_text(number))
        .with_child(Element::new(X, "kind").with_text(kind));
    if let Some(d) = date {
        id = id.with_child(Element::new(X, "date").with_text(d));
    }
    id
}

impl Member {
    fn element(&self, family_id: &str) -> Element {
        let p = &self.publication;
        let a = &self.application;
        let publication = Element::new(X, "publication-reference")
            .with_child(docdb(&p.country, &p.doc_number, &p.kind, Some(&p.date)))
            .with_child(
                Element::new(X, "document-id")
                    .with_attr("document-id-type", "epodoc")
                    .with_child(Element::new(X, "doc-number").with_text(&p.epodoc()))
                    .with_child(Element::new(X, "date").with_text(&p.date)),
            );
        let mut application = Element::new(X, "application-reference").with_attr("doc-id", &a.doc_id);
        if a.representative {
            application = application.with_attr("is-representative", "YES");
        }
        let application = application.with_child(docdb(&a.country, &a.doc_number, &a.kind, Some(&a.date)));
        let mut member = Element::new(Ns::Ops, "family-member")
            .with_attr("family-id", family_id)
            .with_child(publication)
            .with_child(application);
        for (i, c) in self.priority_claims.iter().enumerate() {
            member = member.with_child(
                Element::new(X, "priority-claim")
                    .with_attr("sequence", &(i + 1).to_string())
                    .with_attr("kind", &c.kind)
                    .with_child(docdb(&c.country, &c.doc_number, &c.doc_kind, Some(&c.date)))
                    .with_child(Element::new(X, "priority-active-indicator").with_text("YES")),
            );
        }
        member
    }

    /// Whether a request names this member.
    fn named_by(&self, reference: Reference, epodoc: bool, n: &DocNumber) -> bool {
        let (country, number, epodoc_form) = match reference {
            Reference::Publication => (
                &self.publication.country,
                &self.publication.doc_number,
                self.publication.epodoc(),
            ),
            Reference::Application => {
                let a = &self.application;
                let e = a
                    .epodoc
                    .clone()
                    .unwrap_or_else(|| format!("{}{}", a.country, a.doc_number));
                (&a.country, &a.doc_number, e)
            }
        };
        if epodoc {
            parse_number(&epodoc_form).is_some_and(|m| &m == n)
        } else {
            *country == n.country && *number == n.number
        }
    }
}

impl Family {
    /// The `ops:world-patent-data` answer, echoing the publication `echo`.
    pub fn document(&self, echo: &Publication) -> Element {
        let mut family = Element::new(Ns::Ops, "patent-family")
            .with_attr("legal", "false")
            .with_attr("total-result-count", &self.members.len().to_string())
            .with_child(Element::new(Ns::Ops, "publication-reference").with_child(docdb(
                &echo.country,
                &echo.doc_number,
                &echo.kind,
                None,
            )));
        for m in &self.members {
            family = family.with_child(m.element(&self.family_id));
        }
        Element::new(Ns::Ops, "world-patent-data").with_child(family)
    }

    /// The publication to echo if a request names a member of this family.
    pub fn find(&self, reference: Reference, epodoc: bool, n: &DocNumber) -> Option<&Publication> {
        self.members
            .iter()
            .find(|m| m.named_by(reference, epodoc, n))
            .map(|m| &m.publication)
    }
}

/// How a family answer is written: the recording's declaration, PI, prefixes and indentation.
/// `get_path` is the request path of a GET (for the PI); POST answers have none.
pub fn style(get_path: Option<&str>) -> Style {
    Style {
        declaration: r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        stylesheet: get_path.map(|p| {
            format!(
                r#"<?xml-stylesheet type="text/xsl" href="{}style/family.xsl"?>"#,
                "../".repeat(super::style_depth(p))
            )
        }),
        prefixes: INPADOC_PREFIXES,
        indent: Some(4),
    }
}

/// `POST /_sandbox/ops/families`: a family for an EP application.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    /// The EP application, epodoc (`EP90000001`).
    pub application: String,
    #[serde(default)]
    pub family_id: Option<String>,
    /// The EP publication (`EP9000001`); default: the Register's for the application.
    #[serde(default)]
    pub publication: Option<String>,
    #[serde(default)]
    pub publication_kind: Option<String>,
    #[serde(default)]
    pub filed: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub members: Vec<AttachMember>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachMember {
    pub country: String,
    /// The docdb application doc-number (`2023500001`).
    pub application: String,
    /// The application kind (default `A`; `U` for a utility model, `W` for a PCT).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub filed: Option<String>,
    /// The docdb publication doc-number; default: the application's.
    #[serde(default)]
    pub publication: Option<String>,
    /// Default `A`.
    #[serde(default)]
    pub publication_kind: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
}

fn date(field: &'static str, value: Option<String>, today: &str) -> Result<String, FamilyError> {
    match value {
        None => Ok(today.to_owned()),
        Some(v) if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        Some(v) => Err(FamilyError::Date { field, value: v }),
    }
}

/// A nine-digit doc-id that is a pure function of the number (FNV-1a).
fn doc_id(country: &str, number: &str) -> String {
    let h = format!("{country}{number}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{:09}", h % 1_000_000_000)
}

fn alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_kind(s: &str) -> bool {
    matches!(s.len(), 1 | 2) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Attach {
    /// The family, given the Register's publication of the application (if the case is known)
    /// and the virtual today.
    pub fn into_family(self, register_publication: Option<&str>, today: &str) -> Result<Family, FamilyError> {
        let ep = parse_number(&self.application)
            .filter(|n| n.country == "EP")
            .ok_or_else(|| FamilyError::NotEp(self.application.clone()))?;
        let publication = match self.publication.as_deref().or(register_publication) {
            Some(p) => {
                parse_number(p)
                    .filter(|n| n.country == "EP")
                    .ok_or_else(|| FamilyError::NotEp(p.to_owned()))?
                    .number
            }
            None => ep.number.clone(),
        };
        let family_id = match self.family_id {
            Some(id) if (1..=9).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) => id,
            Some(id) => return Err(FamilyError::FamilyId(id)),
            None => {
                let tail = &ep.number[ep.number.len().saturating_sub(7)..];
                format!("8{tail:0>7}")
            }
        };
        let filed = date("filed", self.filed, today)?;
        let priority = PriorityClaim {
            kind: "regional".to_owned(),
            country: "EP".to_owned(),
            doc_number: ep.number.clone(),
            doc_kind: "A".to_owned(),
            date: filed.clone(),
        };
        let ep_member = Member {
            publication: Publication {
                country: "EP".to_owned(),
                doc_number: publication,
                kind: self.publication_kind.unwrap_or_else(|| "A1".to_owned()),
                date: date("published", self.published, today)?,
                epodoc: None,
            },
            application: Application {
                country: "EP".to_owned(),
                doc_id: doc_id("EP", &ep.number),
                doc_number: ep.number.clone(),
                kind: "A".to_owned(),
                date: filed,
                representative: true,
                epodoc: None,
            },
            priority_claims: vec![priority.clone()],
        };
        let mut members = vec![ep_member];
        for (i, m) in self.members.into_iter().enumerate() {
            let bad = |what: String| FamilyError::Member(i, what);
            if m.country.len() != 2 || !m.country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(bad(format!("country {:?} is not two capital letters", m.country)));
            }
            let kind = m.kind.unwrap_or_else(|| "A".to_owned());
            let publication_kind = m.publication_kind.unwrap_or_else(|| "A".to_owned());
            if !is_kind(&kind) || !is_kind(&publication_kind) {
                return Err(bad(format!(
                    "kind {kind:?} / {publication_kind:?} is not a kind code"
                )));
            }
            let pub_number = m.publication.unwrap_or_else(|| m.application.clone());
            if !alnum(&m.application) || !alnum(&pub_number) {
                return Err(bad("numbers must be letters and digits".to_owned()));
            }
            let filed = date("filed", m.filed, today).map_err(|e| bad(e.to_string()))?;
            let published = date("published", m.published, today).map_err(|e| bad(e.to_string()))?;
            members.push(Member {
                publication: Publication {
                    country: m.country.clone(),
                    doc_number: pub_number,
                    kind: publication_kind,
                    date: published,
                    epodoc: None,
                },
                application: Application {
                    doc_id: doc_id(&m.country, &m.application),
                    country: m.country,
                    doc_number: m.application,
                    kind,
                    date: filed,
                    representative: false,
                    epodoc: None,
                },
                priority_claims: vec![priority.clone()],
            });
        }
        Ok(Family {
            case: ep.epodoc(),
            family_id,
            members,
        })
    }
}

/// The built-in families and the attached ones (keyed by EP application).
pub struct Families {
    builtin: Vec<Family>,
    attached: BTreeMap<String, Family>,
}

impl Families {
    pub fn builtin() -> Result<Families, FamilyError> {
        let file: BuiltinFile = serde_json::from_str(BUILTIN)?;
        Ok(Families {
            builtin: file.families,
            attached: BTreeMap::new(),
        })
    }

    /// The family a request names and the publication to echo; attached families first.
    pub fn find(&self, reference: Reference, epodoc: bool, n: &DocNumber) -> Option<(&Family, &Publication)> {
        self.attached
            .values()
            .chain(&self.builtin)
            .find_map(|f| f.find(reference, epodoc, n).map(|p| (f, p)))
    }

    /// Stores a family, replacing an attached one for the same case.
    pub fn attach(&mut self, family: Family) {
        self.attached.insert(family.case.clone(), family);
    }

    pub fn attached(&self) -> Vec<Family> {
        self.attached.values().cloned().collect()
    }

    pub fn restore(&mut self, families: Vec<Family>) {
        self.attached = families.into_iter().map(|f| (f.case.clone(), f)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::{INPADOC, Inpadoc};
    use super::super::xml;
    use super::*;

    fn number(s: &str) -> DocNumber {
        parse_number(s).unwrap()
    }

    /// The docdb (country, doc-number, kind, date) of an element holding document-ids.
    fn docdb_of(el: &Element) -> [String; 4] {
        let id = el
            .children_named(X, "document-id")
            .find(|d| d.attr("document-id-type") == Some("docdb"))
            .unwrap();
        ["country", "doc-number", "kind", "date"].map(|n| id.child(X, n).unwrap().text())
    }

    /// Reads a family answer back (the recording, or what [`Family::document`] wrote).
    fn read_back(case: &str, root: &Element) -> Family {
        let family = root.child(Ns::Ops, "patent-family").unwrap();
        let mut family_id = String::new();
        let mut members = Vec::new();
        for m in family.children_named(Ns::Ops, "family-member") {
            family_id = m.attr("family-id").unwrap().to_owned();
            let p = m.child(X, "publication-reference").unwrap();
            let [country, doc_number, kind, date] = docdb_of(p);
            let epodoc = p
                .children_named(X, "document-id")
                .find(|d| d.attr("document-id-type") == Some("epodoc"))
                .map(|d| d.child(X, "doc-number").unwrap().text())
                .filter(|e| *e != format!("{country}{doc_number}"));
            let publication = Publication {
                country,
                doc_number,
                kind,
                date,
                epodoc,
            };
            let a = m.child(X, "application-reference").unwrap();
            let [country, doc_number, kind, date] = docdb_of(a);
            let application = Application {
                country,
                doc_number,
                kind,
                date,
                doc_id: a.attr("doc-id").unwrap().to_owned(),
                representative: a.attr("is-representative") == Some("YES"),
                epodoc: None,
            };
            let priority_claims = m
                .children_named(X, "priority-claim")
                .map(|c| {
                    assert_eq!(c.child(X, "priority-active-indicator").unwrap().text(), "YES");
                    let [country, doc_number, doc_kind, date] = docdb_of(c);
                    PriorityClaim {
                        kind: c.attr("kind").unwrap().to_owned(),
                        country,
                        doc_number,
                        doc_kind,
                        date,
                    }
                })
                .collect();
            members.push(Member {
                publication,
                application,
                priority_claims,
            });
        }
        Family {
            case: case.to_owned(),
            family_id,
            members,
        }
    }

    #[test]
    fn the_recorded_family_renders_back_byte_for_byte() {
        let (_, _, _, text) = INPADOC
            .iter()
            .find(|(kind, ..)| *kind == Inpadoc::Family)
            .copied()
            .unwrap();
        let root = xml::parse(text).unwrap();
        let family = read_back("EP10167109", &root);
        assert_eq!(family.family_id, "43088294");
        assert_eq!(family.members.len(), 5);
        let echo = family
            .find(Reference::Publication, false, &number("EP.2400812.A1"))
            .unwrap();
        let written = xml::serialize(
            &family.document(echo),
            &style(Some(
                "/ops/3.2/rest-services/family/publication/docdb/EP.2400812.A1",
            )),
        );
        assert_eq!(written, text);
    }

    #[test]
    fn builtin_families_parse_back_from_their_xml() {
        let families = Families::builtin().unwrap();
        assert_eq!(families.builtin.len(), 3);
        for f in &families.builtin {
            let echo = &f.members[0].publication;
            let text = xml::serialize(&f.document(echo), &style(None));
            let back = read_back(&f.case, &xml::parse(&text).unwrap());
            // The epodoc application numbers are not in the answer.
            let mut expected = f.clone();
            for m in &mut expected.members {
                m.application.epodoc = None;
            }
            assert_eq!(back, expected, "{}", f.case);
            assert!(
                f.members.iter().all(|m| m.application.doc_id.len() == 9),
                "{}",
                f.case
            );
        }
    }

    #[test]
    fn every_member_answers_by_its_numbers_in_both_formats() {
        let families = Families::builtin().unwrap();
        let case = |reference, epodoc, n: &str| {
            families.find(reference, epodoc, &number(n)).map(|(f, p)| {
                (
                    f.case.as_str(),
                    format!("{}.{}.{}", p.country, p.doc_number, p.kind),
                )
            })
        };
        use Reference::{Application as A, Publication as P};
        // (reference, epodoc?, number, the family's case and the echoed publication)
        type Row<'a> = (Reference, bool, &'a str, Option<(&'a str, &'a str)>);
        let table: &[Row] = &[
            (A, true, "EP23184567", Some(("EP23184567", "EP.4312345.A1"))),
            (A, false, "EP.23184567.A", Some(("EP23184567", "EP.4312345.A1"))),
            (P, true, "EP4312345", Some(("EP23184567", "EP.4312345.A1"))),
            (P, false, "EP.4312345.A1", Some(("EP23184567", "EP.4312345.A1"))),
            (
                A,
                false,
                "JP.2020123456.A",
                Some(("EP23184567", "JP.2021090037.A")),
            ),
            (A, true, "JP20200123456", Some(("EP23184567", "JP.2021090037.A"))),
            (A, true, "JP2020123456", None),
            (P, false, "JP.7533889.B2", Some(("EP23184567", "JP.7533889.B2"))),
            (P, true, "JP7533889B", Some(("EP23184567", "JP.7533889.B2"))),
            (A, false, "JP.28341297.A", Some(("EP23184567", "JP.H11112345.A"))),
            (A, true, "EP14735465", Some(("EP14735465", "EP.3000000.A1"))),
            (P, true, "EP3000000", Some(("EP14735465", "EP.3000000.A1"))),
            (P, false, "EP.3000000.B1", Some(("EP14735465", "EP.3000000.A1"))),
            (
                A,
                false,
                "EP.2014001597.W",
                Some(("EP14735465", "WO.2014206532.A1")),
            ),
            (A, false, "JP.2015004567.U", Some(("EP14735465", "JP.3201234.U"))),
            (P, true, "JP3201234U", Some(("EP14735465", "JP.3201234.U"))),
            (
                A,
                false,
                "EP.2024071234.W",
                Some(("PCT/EP2024/071234", "WO.2025021234.A1")),
            ),
            (
                P,
                true,
                "WO2025021234",
                Some(("PCT/EP2024/071234", "WO.2025021234.A1")),
            ),
            (A, true, "EP10167109", None),
            (P, true, "EP2400812", None),
        ];
        for (reference, epodoc, n, want) in table {
            let got = case(*reference, *epodoc, n);
            assert_eq!(
                got.as_ref().map(|(c, p)| (*c, p.as_str())),
                *want,
                "{reference:?} {n}"
            );
        }
    }

    #[test]
    fn the_jp_members_of_the_mailbox_cases() {
        let families = Families::builtin().unwrap();
        let jp = |case: &str| -> Vec<(String, String, String)> {
            let f = families.builtin.iter().find(|f| f.case == case).unwrap();
            f.members
                .iter()
                .filter(|m| m.application.country == "JP")
                .map(|m| {
                    let a = &m.application;
                    (a.doc_number.clone(), a.kind.clone(), m.publication.kind.clone())
                })
                .collect()
        };
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            jp("EP23184567"),
            [
                s("2020123456", "A", "A"),
                s("2020123456", "A", "B2"),
                s("28341297", "A", "A")
            ]
        );
        assert_eq!(jp("EP14735465"), [s("2015004567", "U", "U")]);
        assert!(jp("PCT/EP2024/071234").is_empty());
        let countries: Vec<&str> = families.builtin[0]
            .members
            .iter()
            .map(|m| m.publication.country.as_str())
            .collect();
        assert_eq!(countries, ["EP", "JP", "JP", "JP", "US", "CN"]);
    }

    #[test]
    fn attached_families_fill_defaults_and_validate() {
        let attach = |v: serde_json::Value| serde_json::from_value::<Attach>(v).unwrap();
        let f = attach(serde_json::json!({
            "application": "EP90000001",
            "members": [{"country": "JP", "application": "2023500001", "publication": "2024500001"}],
        }))
        .into_family(Some("EP9000001"), "20260115")
        .unwrap();
        assert_eq!(f.case, "EP90000001");
        assert_eq!(f.family_id, "80000001");
        assert_eq!(f.members.len(), 2);
        let ep = &f.members[0];
        assert_eq!(
            (ep.publication.doc_number.as_str(), ep.publication.kind.as_str()),
            ("9000001", "A1")
        );
        assert!(ep.application.representative);
        let jp = &f.members[1];
        assert_eq!(jp.application.doc_number, "2023500001");
        assert_eq!(jp.application.kind, "A");
        assert_eq!(jp.application.date, "20260115");
        assert_eq!(jp.publication.doc_number, "2024500001");
        assert_eq!(jp.priority_claims[0].doc_number, "90000001");
        assert_eq!(jp.application.doc_id, doc_id("JP", "2023500001"));
        assert_eq!(jp.application.doc_id.len(), 9);

        let no_pub = attach(serde_json::json!({
            "application": "EP90000002", "family_id": "12345678",
            "members": [{"country": "JP", "application": "2023500002", "kind": "U"}],
        }))
        .into_family(None, "20260115")
        .unwrap();
        assert_eq!(no_pub.family_id, "12345678");
        assert_eq!(no_pub.members[0].publication.doc_number, "90000002");
        assert_eq!(no_pub.members[1].publication.doc_number, "2023500002");
        assert_eq!(no_pub.members[1].application.kind, "U");

        for (body, want) in [
            (
                serde_json::json!({"application": "US123"}),
                "not an EP application",
            ),
            (
                serde_json::json!({"application": "EP1", "family_id": "x1"}),
                "family_id",
            ),
            (
                serde_json::json!({"application": "EP1", "members": [{"country": "jp", "application": "1"}]}),
                "member 0: country",
            ),
            (
                serde_json::json!({"application": "EP1", "members": [{"country": "JP", "application": "1", "filed": "2026-01-01"}]}),
                "not a date",
            ),
            (
                serde_json::json!({"application": "EP1", "members": [{"country": "JP", "application": "20/1"}]}),
                "letters and digits",
            ),
        ] {
            let e = attach(body)
                .into_family(None, "20260115")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn attached_families_hide_builtin_ones_and_restore() {
        let mut families = Families::builtin().unwrap();
        let f = serde_json::from_value::<Attach>(serde_json::json!({
            "application": "EP23184567",
            "members": [{"country": "KR", "application": "1020230001234"}],
        }))
        .unwrap()
        .into_family(None, "20260115")
        .unwrap();
        families.attach(f);
        let (found, _) = families
            .find(Reference::Application, true, &number("EP23184567"))
            .unwrap();
        assert_eq!(found.members.len(), 2);
        let mut restored = Families::builtin().unwrap();
        restored.restore(serde_json::from_value(serde_json::to_value(families.attached()).unwrap()).unwrap());
        assert_eq!(restored.attached(), families.attached());
    }
}
