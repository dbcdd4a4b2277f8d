//! The JP cases the sandbox serves: the recorded samples, synthetic clones of them, and the
//! advances stored for each.
//!
//! Each case is a [`Fixture`] (the sample's `app_progress` data plus the other recorded replies
//! of that sample), a renumbering (empty for the samples) and its advances. A body is made at
//! serve time: the recorded reply if the sample has one for that API, else one derived from the
//! case's `app_progress`; then renumbered and advanced. Derivations (each checked against the
//! recording where one exists):
//! * `app_progress_simple`: patent drops the priority, parent and divisional blocks (§7.1);
//!   design drops `designClass`, `principalDesignApplicationNumber`, priority and parent
//!   (§7.2); trademark drops priority and parent (`[inferred]`: §7.2 says nothing more).
//! * `priority_right_app_info`, `divisional_app_info`: `applicationNumber` plus those blocks.
//! * `case_number_reference`: the fields of §7.3 per right, from the Gregorian (`AD…`) numbers.
//! * `jpp_fixed_address`: `{"URL": …}` with a stable per-number hex key.
//!
//! Not derived, for want of a recorded shape: `registration_info` and `cite_doc_info` exist
//! only for the patent sample and its clones; `applicant_attorney_cd` and `applicant_attorney`
//! always answer 107 (§7 gives no response fields for them, so the sandbox does not invent
//! them).
//!
//! `pct_national_phase_application_number/{international_application|international_publication}/{no}`
//! answers `{"applicationNumber": …}` (the shape of the JPO OpenAPI example, `[3rd-party]` via
//! the clients that quote it) for a patent case whose `internationalApplicationNumber` or
//! `internationalPublicationNumber` is `no`, else 107. Two kinds of case have them:
//! * the built-in **national phase 2026500123** of the mailbox's PCT/EP2024/071234: a clone of
//!   the patent sample (application 2026500123, registration 7700123, publication
//!   `2027500123`/`509500123`) with `internationalApplicationNumber` `EP2024071234`,
//!   `internationalPublicationNumber` `WO2025021234` (the WO number the OPS simulator's family
//!   of that PCT shows) and `internationalPublicationDate` `20250130`. All made up; the number
//!   is in the national-phase series (500001 up in the year, as the OpenAPI example
//!   2019563629) and outside the synthetic range;
//! * cases a test links with `POST /_sandbox/jpo/pct` ([`Cases::link_pct`]).
//!
//! `[inferred]` for the national phase: the field values take the forms of the PCT API's
//! parameters (§6: RO code or `WO` + Gregorian year + 6-digit serial), since no recording shows
//! those fields filled; `internationalPublicationDate` is YYYYMMDD like every date of §7.1. The
//! clone keeps the sample's dossier, dates and (renumbered) 特開 publication fields, as the
//! synthetic clones do; a real national phase of a foreign-language PCT would show a 特表 in
//! the national-publication fields instead.
//!
//! Synthetic cases (`POST /_sandbox/jpo/cases`) clone their right's sample with new numbers:
//! application `2023` + (500000 + i), patent registration 7600000 + i, design registration
//! 1700000 + i, patent publication `2024`/`506` + (500000 + i), for i = 1, 2, … per right. The
//! rights count independently (as the office's do), so the first synthetic patent and the first
//! synthetic design share `2023500001`; an advance without `?right=` then answers 409.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::api::{Api, Right};
use super::docs::{self, Bundle};
use super::params::Call;
use super::progress::{self, Advance};

macro_rules! sample {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/jpo-samples/", $file))
    };
}

/// The most synthetic cases per right (keeps every generated number inside its format).
pub const MAX_SYNTHETIC: u32 = 99_999;

/// The `result.data` of a recorded reply.
fn recorded(text: &str) -> Value {
    // The samples are compiled in; a unit test proves they parse.
    let v: Value = serde_json::from_str(text).expect("embedded JPO sample is valid JSON");
    v["result"]["data"].clone()
}

/// A sample case: its `app_progress` data and its other recorded replies.
#[derive(Debug)]
pub struct Fixture {
    right: Right,
    progress: Value,
    recorded: BTreeMap<Api, Value>,
}

fn samples() -> Vec<Fixture> {
    vec![
        Fixture {
            right: Right::Patent,
            progress: recorded(sample!("patent_app_progress_2020123456.json")),
            recorded: [
                (
                    Api::AppProgressSimple,
                    sample!("patent_app_progress_simple_2020123456.json"),
                ),
                (
                    Api::RegistrationInfo,
                    sample!("patent_registration_info_2020123456.json"),
                ),
                (Api::CiteDocInfo, sample!("patent_cite_doc_info_2020123456.json")),
                (
                    Api::CaseNumberReference,
                    sample!("patent_case_number_reference_application_2020123456.json"),
                ),
                (
                    Api::PriorityRightAppInfo,
                    sample!("patent_priority_right_app_info_2020123456.json"),
                ),
                (
                    Api::DivisionalAppInfo,
                    sample!("patent_divisional_app_info_2020123456.json"),
                ),
            ]
            .into_iter()
            .map(|(api, text)| (api, recorded(text)))
            .collect(),
        },
        Fixture {
            right: Right::Design,
            progress: recorded(sample!("design_app_progress_2020015234.json")),
            recorded: BTreeMap::new(),
        },
        Fixture {
            right: Right::Trademark,
            progress: recorded(sample!("trademark_app_progress_2024123456.json")),
            recorded: BTreeMap::new(),
        },
    ]
}

#[derive(Debug)]
struct Case {
    fixture: Arc<Fixture>,
    /// Exact string values to replace: (sample's, this case's).
    renumber: Vec<(String, String)>,
    /// Top-level fields set in every body that has them (the PCT numbers, which are `""` in the
    /// samples and so cannot be renumbered).
    fields: Vec<(&'static str, String)>,
    advances: Vec<Advance>,
}

/// The built-in JP national phase of the mailbox's PCT/EP2024/071234 (see the module doc).
const NATIONAL_PHASE: &str = "2026500123";

/// A PCT application and its JP national phase (`POST /_sandbox/jpo/pct`, and the built-in
/// [`NATIONAL_PHASE`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PctLink {
    /// The JP national-phase application (a patent case).
    pub application: String,
    /// RO code + Gregorian year + 6-digit serial (`EP2024071234`).
    pub international_application: String,
    /// `WO` + year + 6-digit serial; optional.
    #[serde(default)]
    pub international_publication: Option<String>,
    /// YYYYMMDD; optional.
    #[serde(default)]
    pub international_publication_date: Option<String>,
}

impl PctLink {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "internationalApplicationNumber",
                self.international_application.clone(),
            ),
            (
                "internationalPublicationNumber",
                self.international_publication.clone().unwrap_or_default(),
            ),
            (
                "internationalPublicationDate",
                self.international_publication_date.clone().unwrap_or_default(),
            ),
        ]
    }
}

/// Why a PCT link is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PctError {
    #[error("no JP patent case {0}")]
    NoCase(String),
    #[error("{0:?} is not an international application number (RO code + 10 digits, e.g. EP2024071234)")]
    Application(String),
    #[error("{0:?} is not an international publication number (WO + 10 digits)")]
    Publication(String),
    #[error("{0:?} is not a date YYYYMMDD")]
    Date(String),
    #[error("{number} already names the national phase {application}")]
    Taken { number: String, application: String },
}

/// What a lookup found.
pub enum Lookup {
    Data(Value),
    Zip(Bundle),
    /// 107.
    NoData,
    /// 108: the case exists, without such documents.
    NoDocument,
}

/// The persisted part: how many synthetic cases, the PCT links tests made, and every advance.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    synthetic: BTreeMap<Right, u32>,
    /// Absent in snapshots from before PCT links existed.
    #[serde(default)]
    pct: Vec<PctLink>,
    advances: Vec<CaseAdvances>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CaseAdvances {
    right: Right,
    number: String,
    advances: Vec<Advance>,
}

#[derive(Debug)]
pub struct Cases {
    samples: BTreeMap<Right, Arc<Fixture>>,
    cases: BTreeMap<(Right, String), Case>,
    synthetic: BTreeMap<Right, u32>,
    /// The links made by [`Cases::link_pct`], in order.
    pct: Vec<PctLink>,
}

impl Default for Cases {
    fn default() -> Self {
        let mut cases = BTreeMap::new();
        let mut by_right = BTreeMap::new();
        for f in samples() {
            let f = Arc::new(f);
            let number = text(&f.progress, "applicationNumber").to_owned();
            by_right.insert(f.right, f.clone());
            cases.insert(
                (f.right, number),
                Case {
                    fixture: f,
                    renumber: Vec::new(),
                    fields: Vec::new(),
                    advances: Vec::new(),
                },
            );
        }
        let patent = by_right.get(&Right::Patent).cloned();
        if let Some(sample) = patent {
            let link = PctLink {
                application: NATIONAL_PHASE.to_owned(),
                international_application: "EP2024071234".to_owned(),
                international_publication: Some("WO2025021234".to_owned()),
                international_publication_date: Some("20250130".to_owned()),
            };
            let p = &sample.progress;
            let renumber = [
                ("applicationNumber", NATIONAL_PHASE),
                ("registrationNumber", "7700123"),
                ("ADPublicationNumber", "2027500123"),
                ("publicationNumber", "509500123"),
            ]
            .into_iter()
            .map(|(key, new)| (text(p, key).to_owned(), new.to_owned()))
            .collect();
            cases.insert(
                (Right::Patent, NATIONAL_PHASE.to_owned()),
                Case {
                    fixture: sample,
                    renumber,
                    fields: link.fields(),
                    advances: Vec::new(),
                },
            );
        }
        Cases {
            samples: by_right,
            cases,
            synthetic: BTreeMap::new(),
            pct: Vec::new(),
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

impl Cases {
    /// Answers one API call that passed the parameter checks.
    pub fn lookup(&self, call: &Call) -> Lookup {
        let first = call.params.first().map(String::as_str).unwrap_or_default();
        let found = match call.api {
            Api::CaseNumberReference => {
                let number = call.params.get(1).map(String::as_str).unwrap_or_default();
                self.find_by_reference(call.right, first, number)
            }
            Api::PctNationalPhaseApplicationNumber => {
                let number = call.params.get(1).map(String::as_str).unwrap_or_default();
                return self.national_phase(first, number).map_or(Lookup::NoData, |n| {
                    Lookup::Data(json!({ "applicationNumber": n }))
                });
            }
            _ => self.cases.get(&(call.right, first.to_owned())),
        };
        let Some(case) = found else {
            return Lookup::NoData;
        };
        match call.api {
            Api::AppDocContOpinionAmendment
            | Api::AppDocContRefusalReasonDecision
            | Api::AppDocContRefusalReason => {
                match docs::bundle(call.right, call.api, &self.progress(case)) {
                    Some(b) => Lookup::Zip(b),
                    None => Lookup::NoDocument,
                }
            }
            api => self.body(case, api).map_or(Lookup::NoData, Lookup::Data),
        }
    }

    /// The current `app_progress` data of a case, if it exists.
    pub fn progress_of(&self, right: Right, number: &str) -> Option<Value> {
        self.cases
            .get(&(right, number.to_owned()))
            .map(|c| self.progress(c))
    }

    /// The rights under which this application number exists.
    pub fn rights_of(&self, number: &str) -> Vec<Right> {
        Right::ALL
            .into_iter()
            .filter(|r| self.cases.contains_key(&(*r, number.to_owned())))
            .collect()
    }

    /// How many advances a case has had (varies the generated document numbers).
    pub fn advance_count(&self, right: Right, number: &str) -> usize {
        self.cases
            .get(&(right, number.to_owned()))
            .map_or(0, |c| c.advances.len())
    }

    /// Stores an advance; false if there is no such case.
    pub fn push(&mut self, right: Right, number: &str, advance: Advance) -> bool {
        match self.cases.get_mut(&(right, number.to_owned())) {
            Some(c) => {
                c.advances.push(advance);
                true
            }
            None => false,
        }
    }

    /// Adds `count` clones of the right's sample; returns their application numbers.
    pub fn add_synthetic(&mut self, right: Right, count: u32) -> Result<Vec<String>, String> {
        let have = self.synthetic.get(&right).copied().unwrap_or(0);
        if count == 0 || have + count > MAX_SYNTHETIC {
            return Err(format!(
                "count must be 1..={} (there are {have} synthetic {} cases)",
                MAX_SYNTHETIC - have,
                right.name()
            ));
        }
        let Some(sample) = self.samples.get(&right).cloned() else {
            return Err(format!("no sample for {}", right.name()));
        };
        let numbers = (have + 1..=have + count)
            .map(|i| {
                let renumber = synthetic_numbers(&sample, i);
                let number = renumber[0].1.clone();
                self.cases.insert(
                    (right, number.clone()),
                    Case {
                        fixture: sample.clone(),
                        renumber,
                        fields: Vec::new(),
                        advances: Vec::new(),
                    },
                );
                number
            })
            .collect();
        self.synthetic.insert(right, have + count);
        Ok(numbers)
    }

    /// Every application number, per right: the sample first, then the built-in national
    /// phase, then the synthetic cases.
    pub fn numbers(&self) -> BTreeMap<Right, Vec<String>> {
        let mut out: BTreeMap<Right, Vec<String>> = Right::ALL.into_iter().map(|r| (r, Vec::new())).collect();
        for ((right, number), case) in &self.cases {
            let list = out.entry(*right).or_default();
            if case.renumber.is_empty() {
                list.insert(0, number.clone());
            } else if number == NATIONAL_PHASE {
                list.insert(list.len().min(1), number.clone());
            } else {
                list.push(number.clone());
            }
        }
        out
    }

    /// The JP national phase of a PCT application: `kind` is `international_application` or
    /// `international_publication` (the path of the PCT API).
    fn national_phase(&self, kind: &str, number: &str) -> Option<&str> {
        let field = match kind {
            "international_application" => "internationalApplicationNumber",
            "international_publication" => "internationalPublicationNumber",
            _ => return None,
        };
        self.cases
            .iter()
            .filter(|((r, _), _)| *r == Right::Patent)
            .find(|(_, c)| c.fields.iter().any(|(k, v)| *k == field && v == number))
            .map(|((_, n), _)| n.as_str())
    }

    /// Makes a patent case the national phase of a PCT application (its `app_progress` then
    /// shows the international numbers, and the PCT API names it). Replaces an earlier link of
    /// that case; refuses numbers that already name another case.
    pub fn link_pct(&mut self, link: PctLink) -> Result<(), PctError> {
        let ia = &link.international_application;
        let (ro, rest) = ia.split_at_checked(2).unwrap_or(("", ""));
        if !(ro.bytes().all(|b| b.is_ascii_uppercase()) && ro.len() == 2 && digits(rest, 10)) {
            return Err(PctError::Application(ia.clone()));
        }
        if let Some(wo) = &link.international_publication
            && !(wo.len() == 12 && wo.starts_with("WO") && digits(&wo[2..], 10))
        {
            return Err(PctError::Publication(wo.clone()));
        }
        if let Some(d) = &link.international_publication_date
            && !digits(d, 8)
        {
            return Err(PctError::Date(d.clone()));
        }
        let numbers = [
            ("international_application", Some(ia)),
            (
                "international_publication",
                link.international_publication.as_ref(),
            ),
        ];
        for (kind, number) in numbers {
            if let Some(n) = number
                && let Some(other) = self.national_phase(kind, n)
                && other != link.application
            {
                return Err(PctError::Taken {
                    number: n.clone(),
                    application: other.to_owned(),
                });
            }
        }
        let case = self
            .cases
            .get_mut(&(Right::Patent, link.application.clone()))
            .ok_or_else(|| PctError::NoCase(link.application.clone()))?;
        case.fields = link.fields();
        self.pct.retain(|l| l.application != link.application);
        self.pct.push(link);
        Ok(())
    }

    /// Every national-phase case with its PCT numbers, built-in and linked.
    pub fn pct_links(&self) -> Vec<PctLink> {
        self.cases
            .iter()
            .filter(|(_, c)| !c.fields.is_empty())
            .map(|((_, number), c)| {
                let field = |k: &str| {
                    c.fields
                        .iter()
                        .find(|(key, _)| *key == k)
                        .map(|(_, v)| v.clone())
                        .filter(|v| !v.is_empty())
                };
                PctLink {
                    application: number.clone(),
                    international_application: field("internationalApplicationNumber").unwrap_or_default(),
                    international_publication: field("internationalPublicationNumber"),
                    international_publication_date: field("internationalPublicationDate"),
                }
            })
            .collect()
    }

    pub fn snapshot(&self) -> Value {
        let snap = Snapshot {
            synthetic: self.synthetic.clone(),
            pct: self.pct.clone(),
            advances: self
                .cases
                .iter()
                .filter(|(_, c)| !c.advances.is_empty())
                .map(|((right, number), c)| CaseAdvances {
                    right: *right,
                    number: number.clone(),
                    advances: c.advances.clone(),
                })
                .collect(),
        };
        serde_json::to_value(snap).unwrap_or(Value::Null)
    }

    /// Rebuilds the cases from a [`Cases::snapshot`].
    pub fn restore(v: Value) -> Result<Cases, String> {
        let snap: Snapshot = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let mut cases = Cases::default();
        for (right, n) in snap.synthetic {
            cases.add_synthetic(right, n)?;
        }
        for link in snap.pct {
            cases.link_pct(link).map_err(|e| e.to_string())?;
        }
        for ca in snap.advances {
            for a in ca.advances {
                if !cases.push(ca.right, &ca.number, a) {
                    return Err(format!(
                        "advance for unknown {} case {}",
                        ca.right.name(),
                        ca.number
                    ));
                }
            }
        }
        Ok(cases)
    }

    fn progress(&self, case: &Case) -> Value {
        let mut v = case.fixture.progress.clone();
        finish(case, Api::AppProgress, &mut v);
        v
    }

    fn body(&self, case: &Case, api: Api) -> Option<Value> {
        if let Some(rec) = case.fixture.recorded.get(&api) {
            let mut v = rec.clone();
            finish(case, api, &mut v);
            return Some(v);
        }
        derive(case.fixture.right, api, self.progress(case))
    }

    fn find_by_reference(&self, right: Right, kind: &str, number: &str) -> Option<&Case> {
        if kind == "application" {
            return self.cases.get(&(right, number.to_owned()));
        }
        self.cases
            .iter()
            .filter(|((r, _), _)| *r == right)
            .map(|(_, c)| c)
            .find(|c| {
                let p = self.progress(c);
                match kind {
                    "publication" => {
                        text(&p, "ADPublicationNumber") == number
                            || text(&p, "ADNationalPublicationNumber") == number
                    }
                    _ => text(&p, "registrationNumber") == number,
                }
            })
    }
}

/// Renumbers, sets the case's fields in, and advances a body of `api`.
fn finish(case: &Case, api: Api, v: &mut Value) {
    if !case.renumber.is_empty() {
        renumber(v, &case.renumber);
    }
    if let Some(body) = v.as_object_mut() {
        for (key, value) in &case.fields {
            if let Some(slot) = body.get_mut(*key) {
                *slot = Value::String(value.clone());
            }
        }
    }
    for a in &case.advances {
        progress::apply(api, a, v);
    }
}

fn renumber(v: &mut Value, map: &[(String, String)]) {
    match v {
        Value::String(s) => {
            if let Some((_, new)) = map.iter().find(|(old, _)| old == s) {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| renumber(i, map)),
        Value::Object(fields) => fields.values_mut().for_each(|f| renumber(f, map)),
        _ => {}
    }
}

/// The renumbering of synthetic case `i`; the application number comes first.
fn synthetic_numbers(sample: &Fixture, i: u32) -> Vec<(String, String)> {
    let p = &sample.progress;
    let serial = 500_000 + i;
    let registration = match sample.right {
        Right::Patent => 7_600_000 + i,
        Right::Design => 1_700_000 + i,
        Right::Trademark => 6_700_000 + i,
    };
    [
        ("applicationNumber", format!("2023{serial:06}")),
        ("registrationNumber", format!("{registration:07}")),
        ("ADPublicationNumber", format!("2024{serial:06}")),
        ("publicationNumber", format!("506{serial:06}")),
    ]
    .into_iter()
    .filter(|(key, _)| !text(p, key).is_empty())
    .map(|(key, new)| (text(p, key).to_owned(), new))
    .collect()
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn pick(data: &Value, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for k in keys {
        out.insert(
            (*k).to_owned(),
            data.get(*k).cloned().unwrap_or_else(|| "".into()),
        );
    }
    Value::Object(out)
}

/// A body derived from the case's current `app_progress` (see the module doc).
fn derive(right: Right, api: Api, progress: Value) -> Option<Value> {
    let number = text(&progress, "applicationNumber").to_owned();
    match api {
        Api::AppProgress => Some(progress),
        Api::AppProgressSimple => {
            let dropped: &[&str] = match right {
                Right::Design => &[
                    "designClass",
                    "principalDesignApplicationNumber",
                    "priorityRightInformation",
                    "parentApplicationInformation",
                ],
                Right::Patent => &[
                    "priorityRightInformation",
                    "parentApplicationInformation",
                    "divisionalApplicationInformation",
                ],
                Right::Trademark => &["priorityRightInformation", "parentApplicationInformation"],
            };
            let mut simple = progress;
            if let Some(fields) = simple.as_object_mut() {
                for k in dropped {
                    fields.shift_remove(*k);
                }
            }
            Some(simple)
        }
        Api::PriorityRightAppInfo => Some(pick(
            &progress,
            &["applicationNumber", "priorityRightInformation"],
        )),
        Api::DivisionalAppInfo => Some(pick(
            &progress,
            &[
                "applicationNumber",
                "parentApplicationInformation",
                "divisionalApplicationInformation",
            ],
        )),
        Api::CaseNumberReference => Some(match right {
            Right::Patent => json!({
                "applicationNumber": number,
                "publicationNumber": text(&progress, "ADPublicationNumber"),
                "nationalPublicationNumber": text(&progress, "ADNationalPublicationNumber"),
                "registrationNumber": text(&progress, "registrationNumber"),
                "internationalPublicationNumber": text(&progress, "internationalPublicationNumber"),
            }),
            Right::Design => json!({
                "applicationNumber": number,
                "registrationNumber": text(&progress, "registrationNumber"),
                "internationalRegistrationNumber": "",
                "designNumber": "",
            }),
            Right::Trademark => json!({
                "applicationNumber": number,
                "registrationNumber": text(&progress, "registrationNumber"),
            }),
        }),
        Api::JppFixedAddress => Some(json!({ "URL": jpp_url(right, &number) })),
        _ => None,
    }
}

/// `https://www.j-platpat.inpit.go.jp/c1800/PU/JP-2020-123456/<hex>/10/ja` (§7.3).
fn jpp_url(right: Right, number: &str) -> String {
    let (kind, code) = match right {
        Right::Patent => ("PU", 10),
        Right::Design => ("DE", 30),
        Right::Trademark => ("TR", 40),
    };
    let (year, serial) = number.split_at_checked(4).unwrap_or((number, ""));
    let mut h = super::hash(number);
    let hex: String = (0..4)
        .map(|_| {
            h = super::mix(h);
            format!("{h:016X}")
        })
        .collect();
    format!("https://www.j-platpat.inpit.go.jp/c1800/{kind}/JP-{year}-{serial}/{hex}/{code}/ja")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(right: Right, api: Api, params: &[&str]) -> Call {
        Call {
            right,
            api,
            params: params.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn data(cases: &Cases, right: Right, api: Api, params: &[&str]) -> Value {
        match cases.lookup(&call(right, api, params)) {
            Lookup::Data(v) => v,
            _ => panic!("no data for {api:?} {params:?}"),
        }
    }

    #[test]
    fn derived_bodies_equal_the_recordings() {
        let cases = Cases::default();
        let case = &cases.cases[&(Right::Patent, "2020123456".to_owned())];
        let progress = cases.progress(case);
        for (api, rec) in &case.fixture.recorded {
            if let Some(derived) = derive(Right::Patent, *api, progress.clone()) {
                assert_eq!(&derived, rec, "{api:?}");
                assert_eq!(derived.to_string(), rec.to_string(), "{api:?}: key order");
            }
        }
        let derivable = [
            Api::AppProgressSimple,
            Api::CaseNumberReference,
            Api::PriorityRightAppInfo,
            Api::DivisionalAppInfo,
        ];
        assert!(derivable.iter().all(|a| case.fixture.recorded.contains_key(a)));
    }

    #[test]
    fn design_and_trademark_simple_variants() {
        let cases = Cases::default();
        let design = data(&cases, Right::Design, Api::AppProgressSimple, &["2020015234"]);
        for gone in [
            "designClass",
            "principalDesignApplicationNumber",
            "priorityRightInformation",
        ] {
            assert!(design.get(gone).is_none(), "{gone}");
        }
        assert_eq!(design["designArticle"], "球体転がし用積み木");
        let keys: Vec<&String> = design.as_object().unwrap().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("applicationNumber"));
        assert_eq!(keys.last().map(|k| k.as_str()), Some("bibliographyInformation"));
        let tm = data(&cases, Right::Trademark, Api::AppProgressSimple, &["2024123456"]);
        assert!(tm.get("parentApplicationInformation").is_none());
        assert_eq!(tm["transliteration"]["1"], "メタンレスワギュー");
    }

    #[test]
    fn cross_reference_by_every_kind() {
        let cases = Cases::default();
        for (kind, n) in [
            ("application", "2020123456"),
            ("publication", "2021090037"),
            ("registration", "7533889"),
        ] {
            let d = data(&cases, Right::Patent, Api::CaseNumberReference, &[kind, n]);
            assert_eq!(d["applicationNumber"], "2020123456", "{kind}");
        }
        let d = data(
            &cases,
            Right::Design,
            Api::CaseNumberReference,
            &["registration", "1680736"],
        );
        assert_eq!(d["applicationNumber"], "2020015234");
        assert!(matches!(
            cases.lookup(&call(
                Right::Patent,
                Api::CaseNumberReference,
                &["registration", "1680736"]
            )),
            Lookup::NoData
        ));
    }

    #[test]
    fn apis_without_a_shape_answer_no_data() {
        let cases = Cases::default();
        for (right, api, params) in [
            (Right::Patent, Api::ApplicantAttorneyCd, &["000114400"][..]),
            (Right::Patent, Api::ApplicantAttorney, &["メイショウ株式会社"]),
            (Right::Design, Api::RegistrationInfo, &["2020015234"]),
            (Right::Patent, Api::AppProgress, &["9999999999"]),
            (
                Right::Patent,
                Api::PctNationalPhaseApplicationNumber,
                &["international_application", "JP2019011858"],
            ),
        ] {
            assert!(
                matches!(cases.lookup(&call(right, api, params)), Lookup::NoData),
                "{api:?}"
            );
        }
        assert!(matches!(
            cases.lookup(&call(
                Right::Trademark,
                Api::AppDocContOpinionAmendment,
                &["2024123456"]
            )),
            Lookup::NoDocument
        ));
        assert!(matches!(
            cases.lookup(&call(
                Right::Trademark,
                Api::AppDocContRefusalReasonDecision,
                &["2024123456"]
            )),
            Lookup::Zip(_)
        ));
    }

    #[test]
    fn jpp_url_shape() {
        let cases = Cases::default();
        let url = data(&cases, Right::Patent, Api::JppFixedAddress, &["2020123456"]);
        let url = url["URL"].as_str().unwrap();
        assert!(
            url.starts_with("https://www.j-platpat.inpit.go.jp/c1800/PU/JP-2020-123456/"),
            "{url}"
        );
        assert!(url.ends_with("/10/ja"));
        let tm = data(&cases, Right::Trademark, Api::JppFixedAddress, &["2024123456"]);
        assert!(tm["URL"].as_str().unwrap().contains("/TR/JP-2024-123456/"));
    }

    #[test]
    fn synthetic_clones_are_renumbered_and_restored() {
        let mut cases = Cases::default();
        let numbers = cases.add_synthetic(Right::Patent, 2).unwrap();
        assert_eq!(numbers, ["2023500001", "2023500002"]);
        assert_eq!(cases.add_synthetic(Right::Design, 1).unwrap(), ["2023500001"]);
        assert_eq!(cases.rights_of("2023500001"), [Right::Patent, Right::Design]);
        let p = data(&cases, Right::Patent, Api::AppProgress, &["2023500002"]);
        assert_eq!(p["registrationNumber"], "7600002");
        assert_eq!(p["ADPublicationNumber"], "2024500002");
        assert_eq!(p["publicationNumber"], "506500002");
        assert_eq!(p["bibliographyInformation"][0]["number"], "2023500002");
        assert_eq!(p["bibliographyInformation"][2]["number"], "7600002");
        let reg = data(&cases, Right::Patent, Api::RegistrationInfo, &["2023500002"]);
        assert_eq!(reg["registrationNumber"], "7600002");
        let by_reg = data(
            &cases,
            Right::Patent,
            Api::CaseNumberReference,
            &["registration", "7600001"],
        );
        assert_eq!(by_reg["applicationNumber"], "2023500001");
        assert!(cases.add_synthetic(Right::Patent, 0).is_err());
        assert!(cases.add_synthetic(Right::Patent, MAX_SYNTHETIC).is_err());

        let rows = vec![json!({"documentCode": "A861"})];
        assert!(cases.push(Right::Patent, "2023500002", Advance::Documents { rows }));
        assert!(!cases.push(
            Right::Trademark,
            "2023500002",
            Advance::Documents { rows: vec![] }
        ));
        let restored = Cases::restore(cases.snapshot()).unwrap();
        assert_eq!(restored.numbers(), cases.numbers());
        assert_eq!(
            restored.progress_of(Right::Patent, "2023500002"),
            cases.progress_of(Right::Patent, "2023500002")
        );
        assert_eq!(restored.advance_count(Right::Patent, "2023500002"), 1);
        assert_eq!(cases.numbers()[&Right::Patent][0], "2020123456");
    }
}
