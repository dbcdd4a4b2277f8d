//! The EPO OPS 3.2 contract as mailroom uses it — **the one place** for its paths, header
//! names, media types, rejection reasons and fault codes (`shared/api/epo-ops.md`).
//! Paths are relative to `[ops] base_url` (`https://ops.epo.org/3.2`).

use std::time::Duration;

/// §2.1: the token endpoint (POST, Basic auth, form `grant_type=client_credentials`).
pub const TOKEN_PATH: &str = "auth/accesstoken";
pub const GRANT_TYPE: (&str, &str) = ("grant_type", "client_credentials");
/// §2.2: the token answer's fields; every value may be a string or a number.
pub const F_ACCESS_TOKEN: &str = "access_token";
pub const F_EXPIRES_IN: &str = "expires_in";
/// Used when an answer has no usable `expires_in` (the live value is 1199 s).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(1199);

/// §3.1: Register retrieval by epodoc application (`EP` + 8 digits) or publication number
/// (`EP` + 7 digits): `{REGISTER_*}/{number}/{REGISTER_CONSTITUENTS}`, one case per request.
pub const REGISTER_APPLICATION: &str = "rest-services/register/application/epodoc";
pub const REGISTER_PUBLICATION: &str = "rest-services/register/publication/epodoc";
pub const REGISTER_CONSTITUENTS: &str = "biblio,events,procedural-steps";
/// §1: the Accept type of Register calls.
pub const ACCEPT_REGISTER: &str = "application/register+xml";

/// §3.3: the INPADOC family of an EP application, by its epodoc number
/// (`family/application/epodoc/EP10167109`; Reference Guide v1.3.20 §3.2: the reference type
/// may be publication, application or priority, the format docdb or epodoc). GET: POST lost
/// a constituent in 2019. Counted in the `inpadoc` bucket (`core::throttle::Bucket::for_path`).
pub const FAMILY_APPLICATION: &str = "rest-services/family/application/epodoc";
/// The JP application references a family answer carries (docdb `JP.2006147056.A`, epodoc
/// `JP20060147056`, their eras and the forms that are refused) are mapped to JPO numbers in
/// one place, `core::family`, whose module doc lists each form with its source (Reference
/// Guide v1.3.20 §2.1.1 Table 3, §3.3.2–3.3.4, §4.4; `shared/api/jpo.md` §6).
///
/// §3.3: legal and family answers are `application/ops+xml`.
pub const ACCEPT_OPS: &str = "application/ops+xml";

/// §8: response headers.
pub const H_THROTTLING: &str = "x-throttling-control";
pub const H_HOUR_USED: &str = "x-individualquotaperhour-used";
pub const H_WEEK_USED: &str = "x-registeredquotaperweek-used";
pub const H_REJECTION: &str = "x-rejection-reason";
/// Our own id of each request, for matching logs.
pub const H_REQUEST_ID: &str = "x-request-id";

/// §8.2 `X-Rejection-Reason` values of a 403.
pub const R_THROTTLING: &str = "ThrottlingControlQuota";
pub const R_HOUR: &str = "IndividualQuotaPerHour";
pub const R_WEEK: &str = "RegisteredQuotaPerWeek";
/// Rejections of requests OPS saw without a valid token.
pub const R_ANONYMOUS: &[&str] = &["AnonymousQuotaPerDay", "AnonymousQuotaPerMinute"];

/// §2.3: an expired or invalid token on a service call is a 400 with this message, or this
/// error in `WWW-Authenticate`.
pub const INVALID_TOKEN_MESSAGE: &str = "invalid_access_token";
pub const INVALID_TOKEN_CHALLENGE: &str = "invalid_token";

/// §7 fault codes.
pub const FAULT_NOT_FOUND: &str = "SERVER.EntityNotFound";
pub const FAULT_BAD_NUMBER: &[&str] = &[
    "CLIENT.InvalidReference",
    "CLIENT.WrongReferenceFormatting",
    "CLIENT.InvalidCountryCode",
];
pub const FAULT_ROBOT: &str = "CLIENT.RobotDetected";

/// §5.1: namespaces, matched by URI (the prefixes changed between 2022 and 2025).
pub const NS_OPS: &[u8] = b"http://ops.epo.org";
pub const NS_REGISTER: &[u8] = b"http://www.epo.org/register";
pub const NS_EXCHANGE: &[u8] = b"http://www.epo.org/exchange";

/// Children of `reg:bibliographic-data` that end an application or patent (rplus.xsd), each
/// holding a `reg:date`. Lapses per state (`term-of-grant`) and `opposition-not-filed`
/// (`opposition-data`) are read as well (see `parse`).
pub const TERMINAL_DATES: &[&str] = &[
    "date-application-deemed-withdrawn",
    "date-application-withdrawn-by-applicant",
    "date-application-refused",
    "date-application-partially-withdrawn",
    "date-of-revocation",
];
