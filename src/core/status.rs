//! A case's status as mailroom understands it, whatever office it comes from; its
//! fingerprint; and the diff of two statuses as change events with one-line summaries.
//!
//! The office parsers (`offices::ops::parse`, `offices::jpo::parse`) produce these types; this
//! module never sees XML or JSON from an office. Dates are ISO `YYYY-MM-DD` text when the
//! office gave an 8-digit date, otherwise the office's text trimmed, and `""` when absent.

use serde::{Deserialize, Serialize};

/// The normalised status of one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "office")]
pub enum CaseStatus {
    #[serde(rename = "EP")]
    Ep(EpStatus),
    #[serde(rename = "JP")]
    Jp(JpStatus),
}

/// EP Register data of one case (`biblio,events,procedural-steps`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpStatus {
    /// Epodoc application number, e.g. `EP10167109` (from the biblio; `""` if absent).
    pub application_number: String,
    /// `reg:register-document/@status`, e.g. `No opposition filed within time limit`.
    pub register_status: String,
    /// `reg:ep-patent-status` entries as served (newest first).
    pub statuses: Vec<EpStatusEntry>,
    pub events: Vec<DossierEvent>,
    pub steps: Vec<ProceduralStep>,
    /// EP publications: `EP2400812 A1 2011-12-28`, `EP2400812 B1 2019-11-27`, WO references.
    pub publications: Vec<Publication>,
    /// Terminal dates from the biblio (`date-application-deemed-withdrawn`, …) as (name, date).
    pub terminal_dates: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EpStatusEntry {
    /// Opaque code (`7`, `13.1`).
    pub code: String,
    pub text: String,
    /// `""` when the office left `change-date` empty (old files).
    pub date: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DossierEvent {
    /// `EVT_434577438`
    pub id: String,
    /// Verbatim, spaces kept (`EPIDOS RFEE`).
    pub code: String,
    pub date: String,
    pub text: String,
    /// `new`, `change` or `deletion` (`""` if absent).
    pub event_type: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProceduralStep {
    /// `STEP_EXRE_13225478`, `RENEWAL_52865823`
    pub id: String,
    /// `RFEE`, `EXRE`, `IGRA`, …
    pub code: String,
    /// `@procedure-step-phase` (`examination`, `undefined`, …)
    pub phase: String,
    /// `STEP_DESCRIPTION` text, or the first text when there is none.
    pub description: String,
    /// (`step-date-type`, date), e.g. (`DATE_OF_DISPATCH`, `2019-06-26`), in document order.
    pub dates: Vec<(String, String)>,
    /// A time limit the office gave: value and unit as served (`4`, `months`).
    pub time_limit: Option<TimeLimit>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeLimit {
    pub value: String,
    pub unit: String,
    /// The due date when it can be computed (dispatch date + value in unit), else `""`.
    pub due: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Publication {
    /// `EP`, `WO`
    pub country: String,
    pub number: String,
    /// `A1`, `B1`, … (`""` if absent)
    pub kind: String,
    pub date: String,
}

/// JPO `app_progress` data of one patent, design or trademark case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JpStatus {
    /// 10 digits, e.g. `2020123456`.
    pub application_number: String,
    /// `patent`, `design` or `trademark`.
    pub kind: String,
    /// Invention title, design article or trademark for display.
    pub title: String,
    pub filing_date: String,
    /// Gregorian publication number (`ADPublicationNumber`), `""` if none.
    pub publication_number: String,
    pub publication_date: String,
    pub registration_number: String,
    pub registration_date: String,
    /// `00` = right alive; `""` = not registered.
    pub erasure_identifier: String,
    pub expire_date: String,
    pub disappearance_date: String,
    /// Applicant names (class 1), in served order.
    pub applicants: Vec<String>,
    pub documents: Vec<JpDocument>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JpDocument {
    /// `numberType` of the block (`01` application, `06` registration, …).
    pub number_type: String,
    /// `number` of the block.
    pub number: String,
    pub legal_date: String,
    /// `A131`, `A01`, `A971007`, …
    pub code: String,
    /// Japanese description, e.g. `拒絶理由通知書`.
    pub description: String,
    /// `None` for placeholders (`BBBBBBBBBBB`, `99999999999`, empty): never a key.
    pub document_number: Option<String>,
    pub separator: String,
    pub version: String,
}
