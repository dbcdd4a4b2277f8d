//! The real recorded OPS responses in `sandbox/data/ops-samples/` (verbatim copies of `shared/ops-samples/`), embedded at build time and parsed
//! once at start-up.
//!
//! Register retrieval samples become the sandbox's own cases (see [`super::register`]); the
//! two Register search recordings are replayed for their queries; the INPADOC legal and family
//! bodies are served byte for byte.

use super::xml::{self, Element, Ns, XmlError};

macro_rules! sample {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ops-samples/", $file)),
        )
    };
}

/// Register retrieval responses (one case may be spread over several files).
/// EP1000000 has no biblio sample and EP3000000 no events or steps sample.
pub const REGISTER: [(&str, &str); 6] = [
    sample!("register-biblio_EP2400812_2025.xml"),
    sample!("register-events_EP2400812_2025.xml"),
    sample!("register-procedural-steps_EP2400812_2025.xml"),
    sample!("register-biblio_EP3000000_2022.xml"),
    sample!("register-events_EP1000000_2022.xml"),
    sample!("register-procedural-steps_EP1000000_2022.xml"),
];

/// Register search recordings: (file, constituent or "" for a plain search).
pub const SEARCHES: [(&str, &str, &str); 2] = [
    {
        let (f, t) = sample!("register-search_ti-battery_range1-5_2025.xml");
        (f, t, "")
    },
    {
        let (f, t) = sample!("register-search-biblio_ti-solar_range1-3_2025.xml");
        (f, t, "biblio")
    },
];

/// Which INPADOC service a body answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inpadoc {
    Legal,
    Family,
    FamilyLegal,
}

/// INPADOC bodies: (service, the publication it answers as country + number, file, text).
pub const INPADOC: [(Inpadoc, &str, &str, &str); 4] = [
    {
        let (f, t) = sample!("legal_EP2400812A1_2025.xml");
        (Inpadoc::Legal, "EP2400812", f, t)
    },
    {
        let (f, t) = sample!("legal_US10465445B2.xml");
        (Inpadoc::Legal, "US10465445", f, t)
    },
    {
        let (f, t) = sample!("family_EP2400812A1_2025.xml");
        (Inpadoc::Family, "EP2400812", f, t)
    },
    {
        let (f, t) = sample!("family-legal_EP2400812A1_2025.xml");
        (Inpadoc::FamilyLegal, "EP2400812", f, t)
    },
];

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("sample {file}: {cause}")]
    Xml { file: &'static str, cause: XmlError },
    #[error("sample {file}: {what} is missing")]
    Shape { file: &'static str, what: &'static str },
}

/// One parsed register retrieval or search response.
pub struct RegisterSample {
    /// The `ops:query` text, e.g. `publication=EP2400812` or `ti=battery`.
    pub query: String,
    pub total: String,
    /// `reg:register-documents` with its attributes and no children.
    pub documents: Element,
    /// The `reg:register-document` elements.
    pub hits: Vec<Element>,
}

pub fn parse_register(file: &'static str, text: &str) -> Result<RegisterSample, SampleError> {
    let root = xml::parse(text).map_err(|source| SampleError::Xml { file, cause: source })?;
    let shape = |what| SampleError::Shape { file, what };
    let search = root
        .child(Ns::Ops, "register-search")
        .ok_or(shape("ops:register-search"))?;
    let query = search.child(Ns::Ops, "query").ok_or(shape("ops:query"))?.text();
    let total = search
        .attr("total-result-count")
        .ok_or(shape("@total-result-count"))?
        .to_owned();
    let docs = search
        .child(Ns::Register, "register-documents")
        .ok_or(shape("reg:register-documents"))?;
    let hits = docs
        .children_named(Ns::Register, "register-document")
        .cloned()
        .collect();
    let mut documents = docs.clone();
    documents.children.clear();
    Ok(RegisterSample {
        query,
        total,
        documents,
        hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_sample_parses() {
        for (file, text) in REGISTER {
            let s = parse_register(file, text).unwrap();
            assert_eq!(s.hits.len(), 1, "{file}");
            assert_eq!(s.total, "1");
        }
        for (file, text, _) in SEARCHES {
            let s = parse_register(file, text).unwrap();
            assert!(s.hits.len() >= 3, "{file}");
            assert_eq!(s.total, "10000");
        }
        for (_, _, file, text) in INPADOC {
            xml::parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
