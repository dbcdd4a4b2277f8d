//! The catalogue of JPO rights and APIs (`jpo.md` §5.1, §5.2) and the per-API daily caps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The three rights served under `/api/{right}/v1/…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    Patent,
    Design,
    Trademark,
}

impl Right {
    pub const ALL: [Right; 3] = [Right::Patent, Right::Design, Right::Trademark];

    pub fn name(self) -> &'static str {
        match self {
            Right::Patent => "patent",
            Right::Design => "design",
            Right::Trademark => "trademark",
        }
    }

    pub fn parse(s: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The APIs this right offers: 14 for patents, 11 for designs and trademarks (§5.2: no
    /// divisional, citation or PCT API).
    pub fn offers(self, api: Api) -> bool {
        self == Right::Patent
            || !matches!(
                api,
                Api::DivisionalAppInfo | Api::CiteDocInfo | Api::PctNationalPhaseApplicationNumber
            )
    }
}

/// One API path name of §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    AppProgress,
    AppProgressSimple,
    DivisionalAppInfo,
    PriorityRightAppInfo,
    ApplicantAttorneyCd,
    ApplicantAttorney,
    CaseNumberReference,
    AppDocContOpinionAmendment,
    AppDocContRefusalReasonDecision,
    AppDocContRefusalReason,
    CiteDocInfo,
    RegistrationInfo,
    JppFixedAddress,
    PctNationalPhaseApplicationNumber,
}

impl Api {
    pub const ALL: [Api; 14] = [
        Api::AppProgress,
        Api::AppProgressSimple,
        Api::DivisionalAppInfo,
        Api::PriorityRightAppInfo,
        Api::ApplicantAttorneyCd,
        Api::ApplicantAttorney,
        Api::CaseNumberReference,
        Api::AppDocContOpinionAmendment,
        Api::AppDocContRefusalReasonDecision,
        Api::AppDocContRefusalReason,
        Api::CiteDocInfo,
        Api::RegistrationInfo,
        Api::JppFixedAddress,
        Api::PctNationalPhaseApplicationNumber,
    ];

    /// The path segment, which is also the name used by the caps and usage routes.
    pub fn name(self) -> &'static str {
        match self {
            Api::AppProgress => "app_progress",
            Api::AppProgressSimple => "app_progress_simple",
            Api::DivisionalAppInfo => "divisional_app_info",
            Api::PriorityRightAppInfo => "priority_right_app_info",
            Api::ApplicantAttorneyCd => "applicant_attorney_cd",
            Api::ApplicantAttorney => "applicant_attorney",
            Api::CaseNumberReference => "case_number_reference",
            Api::AppDocContOpinionAmendment => "app_doc_cont_opinion_amendment",
            Api::AppDocContRefusalReasonDecision => "app_doc_cont_refusal_reason_decision",
            Api::AppDocContRefusalReason => "app_doc_cont_refusal_reason",
            Api::CiteDocInfo => "cite_doc_info",
            Api::RegistrationInfo => "registration_info",
            Api::JppFixedAddress => "jpp_fixed_address",
            Api::PctNationalPhaseApplicationNumber => "pct_national_phase_application_number",
        }
    }

    pub fn parse(s: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|a| a.name() == s)
    }

    /// How many path parameters follow the name: `{kind}/{no}` for the two cross-reference
    /// APIs, one number or name for the others.
    pub fn arity(self) -> usize {
        match self {
            Api::CaseNumberReference | Api::PctNationalPhaseApplicationNumber => 2,
            _ => 1,
        }
    }

    /// The daily limit of Handbook Table 1 (§5.1, §5.2).
    fn handbook_limit(self) -> u32 {
        match self {
            Api::AppProgress | Api::AppProgressSimple => 400,
            Api::DivisionalAppInfo | Api::PriorityRightAppInfo => 30,
            Api::ApplicantAttorneyCd | Api::ApplicantAttorney => 200,
            Api::CaseNumberReference | Api::CiteDocInfo => 50,
            Api::AppDocContOpinionAmendment
            | Api::AppDocContRefusalReasonDecision
            | Api::AppDocContRefusalReason => 100,
            Api::RegistrationInfo | Api::JppFixedAddress | Api::PctNationalPhaseApplicationNumber => 200,
        }
    }
}

/// An API name that is not one of §5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown JPO API {0:?}")]
pub struct UnknownApi(pub String);

/// Per-API daily caps, each applied separately to every user and right (design and trademark
/// counters are separate from patent ones, §4).
///
/// `Default` is the live value of May 2026: twice Handbook Table 1 (app_progress 800,
/// registration_info 400, cite_doc_info 100, divisional 60, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JpoCaps {
    caps: BTreeMap<Api, u32>,
}

impl Default for JpoCaps {
    fn default() -> Self {
        JpoCaps {
            caps: Api::ALL
                .into_iter()
                .map(|a| (a, 2 * a.handbook_limit()))
                .collect(),
        }
    }
}

impl JpoCaps {
    /// The cap of the API with this path name.
    pub fn get(&self, api: &str) -> Option<u32> {
        Api::parse(api).map(|a| self.cap(a))
    }

    /// Sets the cap of the API with this path name.
    pub fn set(&mut self, api: &str, cap: u32) -> Result<(), UnknownApi> {
        let a = Api::parse(api).ok_or_else(|| UnknownApi(api.to_owned()))?;
        self.caps.insert(a, cap);
        Ok(())
    }

    /// `(path name, cap)` for every API, in §5 order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        Api::ALL.into_iter().map(|a| (a.name(), self.cap(a)))
    }

    pub(crate) fn cap(&self, api: Api) -> u32 {
        self.caps.get(&api).copied().unwrap_or(2 * api.handbook_limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_and_parse_back() {
        for a in Api::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
            assert_eq!(Api::parse(a.name()), Some(a));
        }
        for r in Right::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            assert_eq!(Right::parse(r.name()), Some(r));
        }
    }

    #[test]
    fn default_caps_are_twice_the_handbook() {
        let caps = JpoCaps::default();
        for (api, cap) in [
            ("app_progress", 800),
            ("app_progress_simple", 800),
            ("registration_info", 400),
            ("cite_doc_info", 100),
            ("case_number_reference", 100),
            ("priority_right_app_info", 60),
            ("divisional_app_info", 60),
            ("app_doc_cont_refusal_reason", 200),
            ("jpp_fixed_address", 400),
        ] {
            assert_eq!(caps.get(api), Some(cap), "{api}");
        }
        assert_eq!(caps.iter().count(), 14);
    }

    #[test]
    fn set_by_name_and_reject_unknown() {
        let mut caps = JpoCaps::default();
        caps.set("cite_doc_info", 3).unwrap();
        assert_eq!(caps.get("cite_doc_info"), Some(3));
        assert_eq!(caps.set("app_progres", 3), Err(UnknownApi("app_progres".into())));
        assert_eq!(caps.get("nope"), None);
    }

    #[test]
    fn design_and_trademark_offer_eleven_apis() {
        let count = |r: Right| Api::ALL.into_iter().filter(|a| r.offers(*a)).count();
        assert_eq!(count(Right::Patent), 14);
        assert_eq!(count(Right::Design), 11);
        assert_eq!(count(Right::Trademark), 11);
    }
}
