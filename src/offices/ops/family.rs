//! OPS INPADOC family XML → [`Family`] (`shared/api/epo-ops.md` §3.3, §5.1).
//!
//! Read with the same namespace-aware arena as the Register parser: elements are matched by
//! namespace URI (`ops:` = `http://ops.epo.org`, the default `http://www.epo.org/exchange`),
//! never by prefix. Reading rules:
//! * one `ops:patent-family`; its `truncatedFamily="true"` is kept (OPS leaves members out of
//!   very large families, Reference Guide §3.2);
//! * each `ops:family-member` is one member: its `family-id`, its `publication-reference`
//!   (the docdb `document-id` preferred, else the epodoc one) and every `document-id` of its
//!   `application-reference` (docdb and epodoc, as given);
//! * the family id is the members' `family-id` (they agree; the first is taken);
//! * a family with no member is an error, not an empty family (OPS answers 404 then).

use super::parse::{Ns, OpsParseError, ROOT, Tree, iso_date};
use crate::core::family::{DocRef, Family, Member, RefFormat};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FamilyParseError {
    #[error(transparent)]
    Xml(#[from] OpsParseError),
    #[error("OPS family answer holds no ops:patent-family")]
    NoFamily,
    #[error("OPS family answer holds no ops:family-member")]
    NoMembers,
}

/// Reads a `family` answer (with or without the `legal` or `biblio` constituents). Never panics.
pub fn parse_family(xml: &[u8]) -> Result<Family, FamilyParseError> {
    let t = Tree::read(xml)?;
    let family = t
        .children(ROOT, Ns::Ops, "world-patent-data")
        .flat_map(|w| t.children(w, Ns::Ops, "patent-family"))
        .next()
        .ok_or(FamilyParseError::NoFamily)?;
    let mut family_id = String::new();
    let mut members = Vec::new();
    for m in t.children(family, Ns::Ops, "family-member") {
        if family_id.is_empty() {
            family_id = t.attr(m, "family-id").to_owned();
        }
        let publication = t
            .children(m, Ns::Exchange, "publication-reference")
            .next()
            .and_then(|p| {
                let ids = doc_ids(&t, p);
                ids.iter()
                    .find(|d| d.format == RefFormat::Docdb)
                    .or_else(|| ids.first())
                    .cloned()
            });
        let application: Vec<DocRef> = t
            .children(m, Ns::Exchange, "application-reference")
            .flat_map(|a| doc_ids(&t, a))
            .collect();
        let country = publication
            .as_ref()
            .map(country_of)
            .or_else(|| application.first().map(country_of))
            .unwrap_or_default();
        members.push(Member {
            country,
            publication,
            application,
        });
    }
    if members.is_empty() {
        return Err(FamilyParseError::NoMembers);
    }
    Ok(Family {
        family_id,
        truncated: t.attr(family, "truncatedFamily").eq_ignore_ascii_case("true"),
        members,
    })
}

fn doc_ids(t: &Tree, parent: usize) -> Vec<DocRef> {
    t.children(parent, Ns::Exchange, "document-id")
        .filter_map(|d| {
            let format = match t.attr(d, "document-id-type") {
                "docdb" => RefFormat::Docdb,
                "epodoc" => RefFormat::Epodoc,
                _ => return None,
            };
            let text = |name: &'static str| {
                t.children(d, Ns::Exchange, name)
                    .next()
                    .map_or(String::new(), |c| t.text(c).to_owned())
            };
            Some(DocRef {
                format,
                country: text("country"),
                number: text("doc-number"),
                kind: text("kind"),
                date: iso_date(&text("date")),
            })
        })
        .collect()
}

/// The country of a reference: docdb has its own field, epodoc starts with it.
fn country_of(r: &DocRef) -> String {
    match r.format {
        RefFormat::Docdb => r.country.to_ascii_uppercase(),
        RefFormat::Epodoc => r.number.get(..2).unwrap_or_default().to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &[u8] = include_bytes!("../../../sandbox/data/ops-samples/family_EP2400812A1_2025.xml");
    const FAMILY_LEGAL: &[u8] =
        include_bytes!("../../../sandbox/data/ops-samples/family-legal_EP2400812A1_2025.xml");

    fn summary(f: &Family) -> Vec<(String, String, String)> {
        f.members
            .iter()
            .map(|m| {
                (
                    m.country.clone(),
                    m.publication
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    m.application
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
            .collect()
    }

    #[test]
    fn the_recorded_families_parse_to_their_five_members() {
        let want: Vec<(String, String, String)> = [
            ("EP", "EP.2400812.A1", "EP.10167109.A"),
            ("EP", "EP.2400812.B1", "EP.10167109.A"),
            ("CA", "CA.2744162.A1", "CA.2744162.A"),
            ("US", "US.2012057518.A1", "US.201113167395.A"),
            ("US", "US.9648662.B2", "US.201113167395.A"),
        ]
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
        for (name, xml) in [("family", FAMILY), ("family-legal", FAMILY_LEGAL)] {
            let f = parse_family(xml).unwrap();
            assert_eq!(f.family_id, "43088294", "{name}");
            assert!(!f.truncated, "{name}");
            assert_eq!(summary(&f), want, "{name}");
            let first = &f.members[0];
            assert_eq!(first.application[0].date, "2010-06-24", "{name}");
        }
    }

    #[test]
    fn members_are_matched_by_namespace_not_prefix() {
        let xml = br#"<?xml version="1.0"?><w:world-patent-data xmlns:w="http://ops.epo.org" xmlns:x="http://www.epo.org/exchange">
<w:patent-family truncatedFamily="true"><w:family-member family-id="7">
<x:publication-reference><x:document-id document-id-type="epodoc"><x:doc-number>JP2021090037</x:doc-number></x:document-id></x:publication-reference>
<x:application-reference><x:document-id document-id-type="docdb"><x:country>JP</x:country><x:doc-number>2020123456</x:doc-number><x:kind>A</x:kind><x:date>20200720</x:date></x:document-id>
<x:document-id document-id-type="epodoc"><x:doc-number>JP20200123456</x:doc-number></x:document-id></x:application-reference>
</w:family-member>
<w:family-member family-id="7"><publication-reference xmlns="urn:other"><document-id document-id-type="docdb"><country>US</country></document-id></publication-reference></w:family-member>
</w:patent-family></w:world-patent-data>"#;
        let f = parse_family(xml).unwrap();
        assert!(f.truncated);
        assert_eq!(f.family_id, "7");
        assert_eq!(f.members.len(), 2);
        assert_eq!(f.members[0].country, "JP");
        assert_eq!(
            crate::core::family::jp_application_number(&f.members[0]).as_deref(),
            Ok("2020123456")
        );
        // The second member's references are in another namespace: not read.
        assert_eq!(f.members[1].publication, None);
        assert_eq!(f.members[1].country, "");
    }

    #[test]
    fn answers_without_a_family_are_errors() {
        let table: [(&[u8], FamilyParseError); 3] = [
            (
                br#"<ops:world-patent-data xmlns:ops="http://ops.epo.org"/>"#,
                FamilyParseError::NoFamily,
            ),
            (
                br#"<ops:world-patent-data xmlns:ops="http://ops.epo.org"><ops:patent-family/></ops:world-patent-data>"#,
                FamilyParseError::NoMembers,
            ),
            (
                br#"<ops:world-patent-data xmlns:ops="http://ops.epo.org"><ops:patent-family>"#,
                FamilyParseError::Xml(OpsParseError::Truncated("patent-family".into())),
            ),
        ];
        for (xml, want) in table {
            assert_eq!(parse_family(xml), Err(want));
        }
        assert!(matches!(
            parse_family(b"<a><b></a>"),
            Err(FamilyParseError::Xml(_))
        ));
    }
}
