//! The JPO Patent Information Retrieval API contract as mailroom uses it — **the one place**
//! for its paths, form and field names and status codes (`shared/api/jpo.md`). Paths are
//! relative to `[jpo] api_base_url` (`https://ip-data.jpo.go.jp/api`).
//!
//! What the daily quota makes of a status code (which codes spend a call, which one means the
//! cap is reached) is part of the quota model, `core::jpo_quota` (§4); a test below keeps the
//! two in step.

use crate::core::cases::Kind;

/// The API version segment (§5).
pub const VERSION: &str = "v1";
/// `app_progress`: full status and file history (§5.1, §5.2); also the quota counter's name.
pub const APP_PROGRESS: &str = "app_progress";

/// The path segments of `GET {right}/v1/{api}/{number}` (§5: one number per request, in the path).
pub fn path_segments<'a>(right: Kind, api: &'a str, number: &'a str) -> [&'a str; 4] {
    [right.as_str(), VERSION, api, number]
}

/// `pct_national_phase_application_number/international_application/{no}` (§5.1, patents
/// only): the JP national-phase application of a PCT application, `{no}` in the form
/// `core::family::pct_for_jpo` makes (`EP2024071234`). The answer's `data` holds
/// `applicationNumber` (10 digits) on 100, and is `{}` on 107 (JPO OpenAPI, `[official]`).
pub const PCT_NATIONAL_PHASE: &str = "pct_national_phase_application_number";
pub const PCT_BY_APPLICATION: &str = "international_application";
/// Its daily cap (Handbook Table 4: 200; the office's `remainAccessCount` overrides it).
pub const PCT_DAILY_CAP: u32 = 200;

/// An application number: 10 ASCII digits, Gregorian year + 6-digit serial (§6).
pub const APPLICATION_NUMBER_DIGITS: usize = 10;

/// `POST token_url` form (§2.1): the password and refresh grants.
pub const FORM_GRANT_TYPE: &str = "grant_type";
pub const GRANT_PASSWORD: &str = "password";
pub const GRANT_REFRESH: &str = "refresh_token";
pub const FORM_USERNAME: &str = "username";
pub const FORM_PASSWORD: &str = "password";
pub const FORM_REFRESH_TOKEN: &str = "refresh_token";

/// Token response fields (§2.2); lifetimes are JSON numbers, strings are tolerated.
pub const T_ACCESS_TOKEN: &str = "access_token";
pub const T_EXPIRES_IN: &str = "expires_in";
pub const T_REFRESH_TOKEN: &str = "refresh_token";
pub const T_REFRESH_EXPIRES_IN: &str = "refresh_expires_in";
/// The token lifetime assumed when the answer gives none (the live value, §2.2).
pub const DEFAULT_TOKEN_SECS: u64 = 3600;
/// Token errors that mean "this refresh token is no good" (§2.3): fall back to the password.
pub const REFRESH_REJECTED: [u16; 2] = [400, 401];

/// The envelope (§3.1): `{"result":{"statusCode","errorMessage","remainAccessCount","data"}}`.
pub const E_RESULT: &str = "result";
pub const E_STATUS_CODE: &str = "statusCode";
pub const E_ERROR_MESSAGE: &str = "errorMessage";
pub const E_REMAIN: &str = "remainAccessCount";
pub const E_DATA: &str = "data";

/// `app_progress` data fields (§7.1, §7.2).
pub const F_APPLICATION_NUMBER: &str = "applicationNumber";
pub const F_INVENTION_TITLE: &str = "inventionTitle";
pub const F_DESIGN_ARTICLE: &str = "designArticle";
/// A string, or an object keyed `"0"`, `"1"`, … (§7.2).
pub const F_TRADEMARK_FOR_DISPLAY: &str = "trademarkForDisplay";
pub const F_FILING_DATE: &str = "filingDate";
/// Gregorian (`2021090037`); `publicationNumber` is era-encoded (`503090037`, §6).
pub const F_AD_PUBLICATION_NUMBER: &str = "ADPublicationNumber";
pub const F_PUBLICATION_NUMBER: &str = "publicationNumber";
pub const F_PUBLICATION_DATE: &str = "publicationDate";
pub const F_REGISTRATION_NUMBER: &str = "registrationNumber";
pub const F_REGISTRATION_DATE: &str = "registrationDate";
pub const F_ERASURE_IDENTIFIER: &str = "erasureIdentifier";
pub const F_EXPIRE_DATE: &str = "expireDate";
pub const F_DISAPPEARANCE_DATE: &str = "disappearanceDate";
pub const F_APPLICANT_ATTORNEY: &str = "applicantAttorney";
pub const F_APPLICANT_ATTORNEY_CLASS: &str = "applicantAttorneyClass";
pub const F_NAME: &str = "name";
/// `applicantAttorneyClass` of an applicant ("2" is an attorney).
pub const APPLICANT_CLASS: &str = "1";
pub const F_BIBLIOGRAPHY: &str = "bibliographyInformation";
pub const F_NUMBER_TYPE: &str = "numberType";
pub const F_NUMBER: &str = "number";
pub const F_DOCUMENT_LIST: &str = "documentList";
pub const F_LEGAL_DATE: &str = "legalDate";
pub const F_DOCUMENT_CODE: &str = "documentCode";
pub const F_DOCUMENT_DESCRIPTION: &str = "documentDescription";
pub const F_DOCUMENT_NUMBER: &str = "documentNumber";
pub const F_DOCUMENT_SEPARATOR: &str = "documentSeparator";
pub const F_VERSION_NUMBER: &str = "versionNumber";

/// Era digits of 9-digit era-encoded publication numbers and the Gregorian year of the era's
/// year 0 (§6, `[inferred]`): 5 Reiwa (2019 = Reiwa 1), 4 Heisei (1989 = Heisei 1).
pub const ERAS: [(char, u32); 2] = [('5', 2018), ('4', 1988)];

/// A `statusCode` of §3.2 and what the client does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 100: use `data`.
    Ok,
    /// 107: no such case (quota spent).
    NoData,
    /// 108: document APIs: no such documents.
    NoDocument,
    /// 111: number outside the served scope → not found.
    OutOfScope,
    /// 203: daily cap of this API reached → nothing more until 00:00 JST.
    DailyCap,
    /// 204: bad parameter value → the number is wrong, no retry.
    BadParameter,
    /// 208: forbidden character → the number is wrong, no retry.
    ForbiddenCharacter,
    /// 210 (HTTP 401): bad or expired token → log in again, retry once.
    BadToken,
    /// 212: invalid credentials → log in again, then a configuration error.
    BadCredentials,
    /// 301: unknown API URL → our bug or a wrong base URL.
    UnknownUrl,
    /// 302 (HTTP 504): timeout → retry with backoff.
    Timeout,
    /// 303 (HTTP 429): too many requests → back off and retry.
    Busy,
    /// 400: invalid request → our bug.
    InvalidRequest,
    /// 999 (HTTP 200/500/504): unexpected → retry with backoff.
    Unexpected,
}

impl Status {
    pub const ALL: [Status; 14] = [
        Status::Ok,
        Status::NoData,
        Status::NoDocument,
        Status::OutOfScope,
        Status::DailyCap,
        Status::BadParameter,
        Status::ForbiddenCharacter,
        Status::BadToken,
        Status::BadCredentials,
        Status::UnknownUrl,
        Status::Timeout,
        Status::Busy,
        Status::InvalidRequest,
        Status::Unexpected,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Ok => "100",
            Status::NoData => "107",
            Status::NoDocument => "108",
            Status::OutOfScope => "111",
            Status::DailyCap => "203",
            Status::BadParameter => "204",
            Status::ForbiddenCharacter => "208",
            Status::BadToken => "210",
            Status::BadCredentials => "212",
            Status::UnknownUrl => "301",
            Status::Timeout => "302",
            Status::Busy => "303",
            Status::InvalidRequest => "400",
            Status::Unexpected => "999",
        }
    }

    /// The status a `statusCode` names; `None` for a code outside §3.2.
    pub fn parse(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The status an HTTP answer without a readable envelope stands for (a gateway's own
    /// body, e.g. `{"message":"Unauthorized"}`).
    pub fn from_http(http: u16) -> Option<Status> {
        match http {
            401 => Some(Status::BadToken),
            429 => Some(Status::Busy),
            504 => Some(Status::Timeout),
            500 | 502 | 503 => Some(Status::Unexpected),
            _ => None,
        }
    }

    /// The office served the call and charged it (§4: 107 costs a call).
    pub fn spends_quota(self) -> bool {
        matches!(self, Status::Ok | Status::NoData | Status::NoDocument)
    }

    /// Worth trying again after a pause.
    pub fn is_transient(self) -> bool {
        matches!(self, Status::Timeout | Status::Busy | Status::Unexpected)
    }

    /// The token is no good: log in again.
    pub fn needs_login(self) -> bool {
        matches!(self, Status::BadToken | Status::BadCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::jpo_quota::{DAILY_CAP_CODE, SPENDING_CODES};

    #[test]
    fn codes_parse_back() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
        }
        assert_eq!(Status::parse("105"), None);
        assert_eq!(Status::parse(""), None);
    }

    #[test]
    fn the_quota_model_agrees_with_the_status_table() {
        for s in Status::ALL {
            assert_eq!(SPENDING_CODES.contains(&s.code()), s.spends_quota(), "{s:?}");
            assert_eq!(s.code() == DAILY_CAP_CODE, s == Status::DailyCap, "{s:?}");
        }
    }

    #[test]
    fn a_bare_http_status_gets_the_action_of_its_official_code() {
        let official: serde_json::Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sandbox/data/jpo-samples/official_openapi_examples.json"
        )))
        .unwrap();
        for key in official["error_examples"].as_object().unwrap().keys() {
            let (code, http) = key.split_once("@HTTP").unwrap();
            let status = Status::parse(code).unwrap_or_else(|| panic!("{key}"));
            let http: u16 = http.parse().unwrap();
            if let Some(by_http) = Status::from_http(http) {
                assert_eq!(by_http.is_transient(), status.is_transient(), "{key}");
                assert_eq!(by_http.needs_login(), status.needs_login(), "{key}");
            }
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            path_segments(Kind::Trademark, APP_PROGRESS, "2024123456").join("/"),
            "trademark/v1/app_progress/2024123456"
        );
    }
}
