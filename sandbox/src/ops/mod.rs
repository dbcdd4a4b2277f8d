//! EPO Open Patent Services 3.2 simulator, served under `/ops/3.2/` from the real recorded
//! responses in `shared/ops-samples/` (contract: `shared/api/epo-ops.md`).
//!
//! | endpoint | served |
//! |---|---|
//! | `POST /ops/3.2/auth/accesstoken` | yes: Basic `sandbox-key:sandbox-secret`, form `grant_type=client_credentials` |
//! | `GET register/{application\|publication}/epodoc/{number}[/{constituents}]` | yes |
//! | `POST register/{application\|publication}/epodoc[/{constituents}]` (text/plain numbers) | yes |
//! | `GET\|POST register/search[/{constituent}]` | yes: the recorded queries, and a CQL subset over the sandbox's cases ([`search`]) |
//! | `GET legal/{publication\|application}/{docdb\|epodoc}/{number}`, `POST legal/…/{format}` | EP2400812 (and its application EP10167109), US10465445, verbatim |
//! | `GET family/…/{number}[/legal]`, `POST family/…/{format}[/legal]` | EP2400812 (and EP10167109), verbatim |
//! | `GET family/{publication\|application}/{docdb\|epodoc}/{number}`, `POST family/…/{format}` | made-up families ([`family`]) in the recorded shape, by any member's number: EP23184567 (JP members `JP.2020123456.A` and the pre-2000 `JP.28341297.A`), EP14735465 (a JP utility model `JP.2015004567.U`), PCT/EP2024/071234 (`EP.2024071234.W`, WO2025021234), and those attached with `POST /_sandbox/ops/families` |
//! | `family/…/biblio`; `family/…/legal` of a made-up family | no recording: 404 `SERVER.EntityNotFound` |
//! | anything else under `rest-services/` (published-data, number-service, images, …) | 404 `CLIENT.NotFound`, still authenticated, throttled and counted in its bucket |
//!
//! Every `rest-services` answer, errors included, carries `X-Throttling-Control`,
//! `X-IndividualQuotaPerHour-Used` and `X-RegisteredQuotaPerWeek-Used` ([`throttle`]); the
//! token endpoint carries none. Answers injected by the generic fault middleware are rendered by
//! [`fault_response`] and carry none either (that middleware wraps outside the OPS routes).
//!
//! Decisions the contract leaves open (all `[inferred]` unless the contract says otherwise):
//! * Requests without a valid token are shown against a pseudo-credential `anonymous` and not
//!   counted; everything else is counted per token client (the consumer key).
//! * Register XML follows the selected [`PrefixEra`]: 2025 is compact `ns2:`…`ns6:` with a
//!   relative `rplus.xsl` PI whose depth follows the request path; 2022 is indented
//!   `ops:`/`reg:` with the absolute `/3.2/style/rplus.xsl` PI. POST answers have no PI (as
//!   recorded). Legal and family bodies are the recorded bytes in either era; the made-up
//!   families are written like the recorded family in either era.
//! * `Content-Type: application/xml` (as recorded in 2016) or `application/json`; `Accept`
//!   without any XML, JSON or wildcard type is answered 405 `CLIENT.MethodNotAllowed`.
//! * An unknown constituent is 404 `CLIENT.NotFound`; an unusable number or a reference type
//!   other than application/publication (or a format other than epodoc) is 404
//!   `CLIENT.InvalidReference`; a POST without `Content-Type: text/plain` is 415
//!   `CLIENT.UnsupportedMediaType`; a malformed `Range` is 400 `CLIENT.InvalidQuery` and more
//!   than 100 hits 413 `CLIENT.AmbiguousRequest`; unsupported CQL is 400 `CLIENT.CQL`.
//! * Multi-number POST (setting `multi_number_post`): `first` answers the first number only
//!   (404 if it is unknown), as recorded in 2025; `all` answers every known number, with
//!   `total-result-count` = their count and the query echo joined by ` or `.
//! * Register search over the sandbox's cases orders hits by publication number, newest first.
//!   A recorded query is replayed only within its recorded hits (1-5 for `ti=battery`, 1-3 for
//!   `ti=solar`; `total-result-count` stays the recorded 10000); `ti=solar` without a
//!   constituent gives the reduced form of the recorded hits; other constituents of a recorded
//!   query, and a range past its recorded hits, are 404 `SERVER.EntityNotFound`.
//! * `reg:register-document/@date-produced` is the recorded date until a case is advanced, then
//!   the date of its latest advance.
//! * Persisted across restarts: case advances, synthetic cases, the id counter, the byte
//!   quota counters and the attached families. Settings, the throttle state and quota limits are scenario knobs and start
//!   from their defaults.

mod auth;
mod control;
mod family;
mod http;
mod register;
mod samples;
mod search;
mod throttle;
mod xml;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Clock;
use crate::scenario::ScenarioError;
use crate::{SandboxOptions, Shared};

use family::Families;
use register::{RegisterError, Registry};
use throttle::{Quota, Throttle};
use xml::{Element, Ns, Style};

/// Which namespace-prefix era register XML is served in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrefixEra {
    /// 2025 captures: JAXB prefixes `ns2:` (ops) … `ns6:`, `encoding="utf-8"`, no whitespace.
    #[default]
    Ns2025,
    /// 2022 captures: `ops:`/`reg:`/`xlink:`/`cpc:`/`cpcdef:`, `encoding="UTF-8"`, indented.
    OpsReg2022,
}

impl PrefixEra {
    /// The names [`FromStr`] accepts first (it also takes `ns`/`ns2` and `ops`/`reg`/`ops-reg`).
    pub const NAMES: &[&str] = &["2025", "2022"];

    pub fn name(self) -> &'static str {
        match self {
            PrefixEra::Ns2025 => "2025",
            PrefixEra::OpsReg2022 => "2022",
        }
    }

    /// How a register document is written. `get_path` is the request path of a GET (for the
    /// stylesheet PI); POST answers have none.
    fn register_style(self, get_path: Option<&str>) -> Style {
        match self {
            PrefixEra::Ns2025 => Style {
                declaration: r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>"#,
                stylesheet: get_path.map(|p| {
                    format!(
                        "<?xml-stylesheet type='text/xsl' href='{}style/rplus.xsl' ?>",
                        "../".repeat(style_depth(p))
                    )
                }),
                prefixes: &[
                    (Some("ns6"), Ns::CpcDefinition),
                    (Some("ns5"), Ns::CpcExport),
                    (Some("ns2"), Ns::Ops),
                    (Some("ns4"), Ns::Xlink),
                    (Some("ns3"), Ns::Register),
                ],
                indent: None,
            },
            PrefixEra::OpsReg2022 => Style {
                declaration: r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
                stylesheet: get_path
                    .map(|_| "<?xml-stylesheet type='text/xsl' href='/3.2/style/rplus.xsl' ?>".to_owned()),
                prefixes: REGISTER_JSON_PREFIXES,
                indent: Some(4),
            },
        }
    }
}

/// How many `../` lead from a request path back to `/3.2/`, where the relative stylesheet PIs
/// point (`rest-services/family/publication/docdb/EP.2400812.A1` → 4, as recorded).
fn style_depth(path: &str) -> usize {
    let after = path.split_once("/3.2/").map_or(path, |(_, a)| a);
    after
        .split('/')
        .filter(|s| !s.is_empty())
        .count()
        .saturating_sub(1)
}

/// Prefixes of register JSON (`ops:`/`reg:` in every era) and of the 2022 XML.
const REGISTER_JSON_PREFIXES: &[(Option<&str>, Ns)] = &[
    (Some("ops"), Ns::Ops),
    (Some("reg"), Ns::Register),
    (Some("xlink"), Ns::Xlink),
    (Some("cpc"), Ns::CpcExport),
    (Some("cpcdef"), Ns::CpcDefinition),
];

/// Prefixes of legal and family JSON, and of the made-up family XML: the exchange namespace is
/// the default.
const INPADOC_PREFIXES: &[(Option<&str>, Ns)] = &[
    (None, Ns::Exchange),
    (Some("ops"), Ns::Ops),
    (Some("xlink"), Ns::Xlink),
];

impl fmt::Display for PrefixEra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a test chooses of a procedural step it adds (`advance` with `kind: step`).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepChoice<'a> {
    /// `YYYY-MM-DD`; default the virtual today.
    pub date: Option<&'a str>,
    /// Default 4.
    pub months: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown OPS prefix era {0:?}: use 2025 (ns2/ns3) or 2022 (ops/reg)")]
pub struct UnknownEra(String);

impl FromStr for PrefixEra {
    type Err = UnknownEra;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "2025" | "ns" | "ns2" | "ns2/ns3" => Ok(PrefixEra::Ns2025),
            "2022" | "ops" | "reg" | "ops-reg" | "ops/reg" => Ok(PrefixEra::OpsReg2022),
            _ => Err(UnknownEra(s.to_owned())),
        }
    }
}

/// What an unknown number gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NotFound {
    /// 404 with `SERVER.EntityNotFound` (2025).
    #[default]
    Fault,
    /// 404 with an empty body (2016).
    Empty,
}

/// What a POST of several numbers gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MultiNumber {
    #[default]
    First,
    All,
}

#[derive(Clone, Debug)]
struct Settings {
    era: PrefixEra,
    token_lifetime_secs: u64,
    not_found: NotFound,
    multi_number_post: MultiNumber,
}

impl Settings {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "prefix_era": self.era.name(),
            "token_lifetime_secs": self.token_lifetime_secs,
            "not_found": self.not_found,
            "multi_number_post": self.multi_number_post,
        })
    }
}

/// `expires_in` of a token unless changed by the settings (the live value).
const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 1199;

struct Limits {
    throttle: Throttle,
    quota: Quota,
}

/// A recorded Register search and whether it was recorded with the `biblio` constituent.
struct RecordedSearch {
    sample: samples::RegisterSample,
    biblio: bool,
}

/// Parsed INPADOC bodies, for JSON answers.
struct InpadocDoc {
    kind: samples::Inpadoc,
    publication: &'static str,
    text: &'static str,
    root: Element,
}

pub struct State {
    seed: u64,
    settings: Mutex<Settings>,
    registry: Mutex<Registry>,
    tokens: Mutex<auth::Tokens>,
    limits: Mutex<Limits>,
    searches: Vec<RecordedSearch>,
    inpadoc: Vec<InpadocDoc>,
    families: Mutex<Families>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the snapshot holds.
#[derive(Default, Serialize, Deserialize)]
struct Snapshot {
    register: register::Persisted,
    quota: std::collections::HashMap<String, throttle::Usage>,
    /// The attached families (absent in snapshots from before they existed).
    #[serde(default)]
    families: Vec<family::Family>,
}

impl State {
    pub fn new(opts: &SandboxOptions) -> Self {
        // The samples are compiled in and checked by unit tests: failing here is a build defect.
        let registry = Registry::from_samples().expect("the embedded OPS register samples are valid");
        let searches = samples::SEARCHES
            .iter()
            .map(|&(file, text, constituent)| {
                samples::parse_register(file, text).map(|sample| RecordedSearch {
                    sample,
                    biblio: constituent == "biblio",
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("the embedded OPS search samples are valid");
        let inpadoc = samples::INPADOC
            .iter()
            .map(|&(kind, publication, _, text)| {
                xml::parse(text).map(|root| InpadocDoc {
                    kind,
                    publication,
                    text,
                    root,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("the embedded OPS legal and family samples are valid");
        let families = Families::builtin().expect("the embedded made-up families are valid");
        State {
            seed: opts.seed,
            settings: Mutex::new(Settings {
                era: opts.ops_prefix_era,
                token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
                not_found: NotFound::default(),
                multi_number_post: MultiNumber::default(),
            }),
            registry: Mutex::new(registry),
            tokens: Mutex::new(auth::Tokens::new(opts.seed)),
            limits: Mutex::new(Limits {
                throttle: Throttle::default(),
                quota: Quota::default(),
            }),
            searches,
            inpadoc,
            families: Mutex::new(families),
        }
    }

    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.limits)
    }

    fn families(&self) -> MutexGuard<'_, Families> {
        lock(&self.families)
    }

    pub fn snapshot(&self) -> serde_json::Value {
        let snap = Snapshot {
            register: self.registry().snapshot(),
            quota: self.limits().quota.snapshot(),
            families: self.families().attached(),
        };
        serde_json::to_value(snap).unwrap_or(serde_json::Value::Null)
    }

    pub fn restore(&self, v: serde_json::Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let snap: Snapshot = serde_json::from_value(v).map_err(|e| e.to_string())?;
        self.registry()
            .restore(snap.register)
            .map_err(|e| e.to_string())?;
        self.limits().quota.restore(snap.quota);
        self.families().restore(snap.families);
        Ok(())
    }

    pub fn expire_tokens(&self) -> usize {
        lock(&self.tokens).expire_all()
    }

    /// `POST /_sandbox/cases/ep/{number}/advance`: `kind` is `status` (the next status of the
    /// progression with its dossier event), `event` or `step`; without a kind, the next status,
    /// or an event once the case is at 7. Dates are the virtual today, except a step's when
    /// `step` names one.
    pub fn advance(
        &self,
        number: &str,
        kind: Option<&str>,
        step: StepChoice<'_>,
        clock: &Clock,
    ) -> Result<serde_json::Value, ScenarioError> {
        let today = clock.now().format("%Y%m%d").to_string();
        let date = match step.date {
            Some(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| ScenarioError::bad_request(format!("date {d:?} is not YYYY-MM-DD")))?
                .format("%Y%m%d")
                .to_string(),
            None => today.clone(),
        };
        let months = step.months.unwrap_or(4);
        if !(1..=24).contains(&months) {
            return Err(ScenarioError::bad_request(format!(
                "time_limit_months {months} is outside 1..=24"
            )));
        }
        let (case, added) = self
            .registry()
            .advance(number, kind, &today, &date, months)
            .map_err(|e| match e {
                RegisterError::NoCase(_) => ScenarioError::not_found(e.to_string()),
                RegisterError::LastStatus(_) => ScenarioError(StatusCode::CONFLICT, e.to_string()),
                _ => ScenarioError::bad_request(e.to_string()),
            })?;
        Ok(json!({
            "office": "ep",
            "application": case.application,
            "publication": case.publication,
            "added": added,
            "status": case.status(),
            "events": case.event_count(),
            "steps": case.step_count(),
        }))
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    http::routes()
}

pub fn scenario_routes() -> Router<Arc<Shared>> {
    control::routes()
}

/// The OPS error answer for an injected status: an XML `<fault>` (errors are always XML).
pub fn fault_response(status: StatusCode, _retry_after: Option<&str>) -> Response {
    http::injected_fault(status)
}
