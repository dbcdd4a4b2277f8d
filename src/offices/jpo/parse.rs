//! Tolerant decoding of JPO answers (`shared/api/jpo.md` §3, §7) into [`JpStatus`].
//!
//! Values are strings as served, but numbers are taken too; missing scalars are `""`, lists
//! may be arrays or objects keyed `"0"`, `"1"`, …; unknown fields are ignored. Nothing here
//! panics, whatever the input: a body that is no envelope, or `app_progress` data without an
//! application number, is an error naming what is missing.

use serde_json::{Map, Value};

use super::contract::{self as c, Status};
use crate::core::cases::Kind;
use crate::core::status::{JpDocument, JpStatus};
use crate::offices::http;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpoParseError {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer is no JPO envelope (no \"result\" object){}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    NoEnvelope { detail: Option<String> },
    #[error("the JPO envelope has no statusCode")]
    NoStatusCode,
    #[error("the {right} app_progress data is not a JSON object")]
    DataNotObject { right: Kind },
    #[error("the {right} app_progress data has no {field}")]
    MissingField { right: Kind, field: &'static str },
    #[error("the national-phase answer holds no 10-digit applicationNumber (found {0})")]
    NationalPhase(String),
}

/// The `result` of a JPO answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// As served (`"100"`), a number given as its decimal text.
    pub status_code: String,
    pub error_message: String,
    /// `None` when `""`, missing or not a count.
    pub remain_access_count: Option<u32>,
    /// `None` when missing (108) or `null`.
    pub data: Option<Value>,
}

impl Envelope {
    /// The status of §3.2, `None` for a code outside it.
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status_code)
    }
}

pub fn parse_envelope(body: &[u8]) -> Result<Envelope, JpoParseError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| JpoParseError::NotJson(e.to_string()))?;
    let Some(result) = v.get(c::E_RESULT).and_then(Value::as_object) else {
        return Err(JpoParseError::NoEnvelope {
            detail: http::error_detail(&String::from_utf8_lossy(body)),
        });
    };
    let status_code = text(result.get(c::E_STATUS_CODE));
    if status_code.is_empty() {
        return Err(JpoParseError::NoStatusCode);
    }
    Ok(Envelope {
        status_code,
        error_message: text(result.get(c::E_ERROR_MESSAGE)),
        remain_access_count: text(result.get(c::E_REMAIN)).parse().ok(),
        data: result.get(c::E_DATA).filter(|d| !d.is_null()).cloned(),
    })
}

/// The `data` of a successful `app_progress` (or `app_progress_simple`) answer.
pub fn parse_app_progress(data: &Value, right: Kind) -> Result<JpStatus, JpoParseError> {
    let d = data.as_object().ok_or(JpoParseError::DataNotObject { right })?;
    let f = |k: &str| text(d.get(k));
    let application_number = f(c::F_APPLICATION_NUMBER);
    if application_number.is_empty() {
        return Err(JpoParseError::MissingField {
            right,
            field: c::F_APPLICATION_NUMBER,
        });
    }
    let title = match right {
        Kind::Patent => f(c::F_INVENTION_TITLE),
        Kind::Design => f(c::F_DESIGN_ARTICLE),
        Kind::Trademark => joined(d.get(c::F_TRADEMARK_FOR_DISPLAY)),
    };
    let publication_number = match f(c::F_AD_PUBLICATION_NUMBER) {
        ad if !ad.is_empty() => ad,
        _ => gregorian(&f(c::F_PUBLICATION_NUMBER)),
    };
    Ok(JpStatus {
        application_number,
        kind: right.as_str().to_owned(),
        title,
        filing_date: date(&f(c::F_FILING_DATE)),
        publication_number,
        publication_date: date(&f(c::F_PUBLICATION_DATE)),
        registration_number: f(c::F_REGISTRATION_NUMBER),
        registration_date: date(&f(c::F_REGISTRATION_DATE)),
        erasure_identifier: f(c::F_ERASURE_IDENTIFIER),
        expire_date: date(&f(c::F_EXPIRE_DATE)),
        disappearance_date: date(&f(c::F_DISAPPEARANCE_DATE)),
        applicants: applicants(d),
        documents: documents(d),
    })
}

fn applicants(d: &Map<String, Value>) -> Vec<String> {
    items(d.get(c::F_APPLICANT_ATTORNEY))
        .into_iter()
        .filter(|row| text(row.get(c::F_APPLICANT_ATTORNEY_CLASS)) == c::APPLICANT_CLASS)
        .map(|row| text(row.get(c::F_NAME)))
        .filter(|name| !name.is_empty())
        .collect()
}

fn documents(d: &Map<String, Value>) -> Vec<JpDocument> {
    let mut out = Vec::new();
    for block in items(d.get(c::F_BIBLIOGRAPHY)) {
        let number_type = text(block.get(c::F_NUMBER_TYPE));
        let number = text(block.get(c::F_NUMBER));
        for row in items(block.get(c::F_DOCUMENT_LIST)) {
            let t = |k: &str| text(row.get(k));
            out.push(JpDocument {
                number_type: number_type.clone(),
                number: number.clone(),
                legal_date: date(&t(c::F_LEGAL_DATE)),
                code: t(c::F_DOCUMENT_CODE),
                description: t(c::F_DOCUMENT_DESCRIPTION),
                document_number: document_number(&t(c::F_DOCUMENT_NUMBER)),
                separator: t(c::F_DOCUMENT_SEPARATOR),
                version: t(c::F_VERSION_NUMBER),
            });
        }
    }
    out
}

/// A scalar as trimmed text: strings as served, numbers in decimal, anything else `""`.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The elements of a list: an array; an object keyed `"0"`, `"1"`, … in key order; or one
/// non-empty object standing alone. Anything else is empty.
fn items(v: Option<&Value>) -> Vec<&Map<String, Value>> {
    let elements: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) if !o.is_empty() && o.keys().all(|k| k.parse::<u32>().is_ok()) => keyed(o),
        Some(v @ Value::Object(o)) if !o.is_empty() => vec![v],
        _ => Vec::new(),
    };
    elements.into_iter().filter_map(Value::as_object).collect()
}

/// The values of an object keyed by numbers, in numeric key order.
fn keyed(o: &Map<String, Value>) -> Vec<&Value> {
    let mut entries: Vec<(u32, &Value)> = o
        .iter()
        .filter_map(|(k, v)| k.parse::<u32>().ok().map(|i| (i, v)))
        .collect();
    entries.sort_by_key(|(i, _)| *i);
    entries.into_iter().map(|(_, v)| v).collect()
}

/// Text that may be a string, an array of strings or an object keyed `"0"`, `"1"`, …: the
/// non-empty parts joined by a space.
fn joined(v: Option<&Value>) -> String {
    let parts: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => keyed(o),
        Some(other) => vec![other],
        None => Vec::new(),
    };
    parts
        .into_iter()
        .map(|p| text(Some(p)))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYYMMDD` → `YYYY-MM-DD` when it is a calendar date; anything else as served (trimmed).
fn date(s: &str) -> String {
    if s.len() == 8
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
    {
        return d.format("%Y-%m-%d").to_string();
    }
    s.to_owned()
}

/// A Gregorian 10-digit publication number from `publicationNumber`: kept when it already is
/// one, converted when it is era-encoded (`503090037` → `2021090037`, §6), else `""`.
fn gregorian(s: &str) -> String {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return String::new();
    }
    match s.len() {
        c::APPLICATION_NUMBER_DIGITS => s.to_owned(),
        9 => {
            let mut chars = s.chars();
            let era = chars.next();
            let rest = chars.as_str();
            let (year, serial) = rest.split_at_checked(2).unwrap_or(("", ""));
            match (c::ERAS.iter().find(|(d, _)| Some(*d) == era), year.parse::<u32>()) {
                (Some((_, base)), Ok(y)) if y > 0 => format!("{}{serial}", base + y),
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

/// A document number, or `None` for a placeholder: empty, or one character repeated
/// (`BBBBBBBBBBB`, `99999999999`, §8).
fn document_number(s: &str) -> Option<String> {
    let first = s.chars().next()?;
    if s.chars().all(|ch| ch == first) {
        return None;
    }
    Some(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! sample {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/sandbox/data/jpo-samples/",
                $file
            ))
        };
    }

    const PATENT: &[u8] = sample!("patent_app_progress_2020123456.json");
    const PATENT_SIMPLE: &[u8] = sample!("patent_app_progress_simple_2020123456.json");
    const DESIGN: &[u8] = sample!("design_app_progress_2020015234.json");
    const TRADEMARK: &[u8] = sample!("trademark_app_progress_2024123456.json");
    const NOT_FOUND: &[u8] = sample!("patent_app_progress_9999999999_status107.json");
    const OFFICIAL: &[u8] = sample!("official_openapi_examples.json");

    fn status(body: &[u8], right: Kind) -> JpStatus {
        let env = parse_envelope(body).unwrap();
        assert_eq!(env.status(), Some(Status::Ok));
        parse_app_progress(env.data.as_ref().unwrap(), right).unwrap()
    }

    fn doc(number_type: &str, number: &str, date: &str, code: &str) -> impl Fn(&&JpDocument) -> bool {
        let key = (
            number_type.to_owned(),
            number.to_owned(),
            date.to_owned(),
            code.to_owned(),
        );
        move |d| (&d.number_type, &d.number, &d.legal_date, &d.code) == (&key.0, &key.1, &key.2, &key.3)
    }

    #[test]
    fn patent_sample() {
        let env = parse_envelope(PATENT).unwrap();
        assert_eq!(env.remain_access_count, Some(787));
        assert_eq!(env.error_message, "");
        let s = status(PATENT, Kind::Patent);
        assert_eq!(s.application_number, "2020123456");
        assert_eq!(s.kind, "patent");
        assert_eq!(s.title, "立体配線構造体の製造方法");
        assert_eq!(s.filing_date, "2020-07-20");
        assert_eq!(s.publication_number, "2021090037");
        assert_eq!(s.publication_date, "2021-06-10");
        assert_eq!(
            (s.registration_number.as_str(), s.registration_date.as_str()),
            ("7533889", "2024-08-05")
        );
        assert_eq!(s.erasure_identifier, "00");
        assert_eq!(s.expire_date, "2040-07-20");
        assert_eq!(s.disappearance_date, "");
        assert_eq!(s.applicants, ["メイショウ株式会社"]);
        assert_eq!(s.documents.len(), 15);
        let a131: Vec<&JpDocument> = s
            .documents
            .iter()
            .filter(doc("01", "2020123456", "2024-02-27", "A131"))
            .collect();
        assert_eq!(
            a131,
            [&JpDocument {
                number_type: "01".into(),
                number: "2020123456".into(),
                legal_date: "2024-02-27".into(),
                code: "A131".into(),
                description: "拒絶理由通知書".into(),
                document_number: Some("06124084096".into()),
                separator: "K".into(),
                version: "0001".into(),
            }]
        );
        let a01_registered: Vec<&JpDocument> = s
            .documents
            .iter()
            .filter(doc("06", "7533889", "2024-07-09", "A01"))
            .collect();
        assert_eq!(a01_registered.len(), 1);
        assert_eq!(a01_registered[0].document_number, None);
        assert_eq!(a01_registered[0].separator, "");
        let a01_application = s
            .documents
            .iter()
            .find(doc("01", "2020123456", "2024-07-09", "A01"));
        assert_eq!(
            a01_application.and_then(|d| d.document_number.as_deref()),
            Some("06124327784")
        );
        let a61 = s.documents.iter().find(|d| d.code == "A61");
        assert_eq!(a61.map(|d| d.document_number.clone()), Some(None), "BBBBBBBBBBB");
        assert!(s.documents.iter().any(|d| d.code == "A971007"));
    }

    #[test]
    fn the_simple_variant_gives_the_same_status() {
        assert_eq!(
            parse_envelope(PATENT_SIMPLE).unwrap().remain_access_count,
            Some(793)
        );
        assert_eq!(status(PATENT_SIMPLE, Kind::Patent), status(PATENT, Kind::Patent));
    }

    #[test]
    fn design_sample() {
        let s = status(DESIGN, Kind::Design);
        assert_eq!(s.application_number, "2020015234");
        assert_eq!(s.kind, "design");
        assert_eq!(s.title, "球体転がし用積み木");
        assert_eq!(s.publication_number, "");
        assert_eq!(
            (s.registration_number.as_str(), s.registration_date.as_str()),
            ("1680736", "2021-02-19")
        );
        assert_eq!(s.expire_date, "2045-06-24");
        assert_eq!(s.applicants, ["大徳木管工業株式会社"]);
        assert_eq!(s.documents.len(), 11);
        assert_eq!(
            s.documents.iter().filter(|d| d.document_number.is_none()).count(),
            6
        );
        let notice = s
            .documents
            .iter()
            .find(doc("01", "2020015234", "2020-06-25", "A80"));
        assert_eq!(
            notice.and_then(|d| d.document_number.as_deref()),
            Some("22011160141")
        );
    }

    #[test]
    fn trademark_sample() {
        let s = status(TRADEMARK, Kind::Trademark);
        assert_eq!(s.application_number, "2024123456");
        assert_eq!(s.kind, "trademark");
        assert_eq!(s.title, "メタンレス和牛");
        assert_eq!(s.filing_date, "2024-11-18");
        assert_eq!(s.publication_date, "2024-11-26");
        assert_eq!(
            (s.registration_number.as_str(), s.erasure_identifier.as_str()),
            ("", "")
        );
        assert_eq!(
            s.applicants,
            ["ＭＴＪグループ株式会社"],
            "rows without repeatNumber"
        );
        let codes: Vec<&str> = s.documents.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["A63", "A131", "A02"]);
    }

    #[test]
    fn trademark_display_as_a_keyed_object() {
        let data = serde_json::json!({
            "applicationNumber": "2024000001",
            "trademarkForDisplay": {"1": "WAGYU", "0": "メタンレス", "2": ""},
            "applicantAttorney": {"0": {"name": "A", "applicantAttorneyClass": "1"}},
        });
        let s = parse_app_progress(&data, Kind::Trademark).unwrap();
        assert_eq!(s.title, "メタンレス WAGYU");
        assert_eq!(s.applicants, ["A"]);
    }

    #[test]
    fn status_107_is_no_data_and_reports_the_count() {
        let env = parse_envelope(NOT_FOUND).unwrap();
        assert_eq!(env.status(), Some(Status::NoData));
        assert_eq!(env.remain_access_count, Some(786));
        assert_eq!(env.error_message, "該当するデータがありません。");
        assert_eq!(
            parse_app_progress(env.data.as_ref().unwrap(), Kind::Patent),
            Err(JpoParseError::MissingField {
                right: Kind::Patent,
                field: "applicationNumber"
            })
        );
    }

    #[test]
    fn official_examples() {
        let official: Value = serde_json::from_slice(OFFICIAL).unwrap();
        for (key, example) in official["error_examples"].as_object().unwrap() {
            let env = parse_envelope(example.to_string().as_bytes()).unwrap();
            let code = key.split_once('@').unwrap().0;
            assert_eq!(env.status_code, code, "{key}");
            assert!(env.status().is_some(), "{key}");
            assert_eq!(env.data.is_none(), code == "108", "{key}");
        }
        let success = &official["success_examples"]["/patent/v1/app_progress/{application number}"];
        let env = parse_envelope(success.to_string().as_bytes()).unwrap();
        let s = parse_app_progress(env.data.as_ref().unwrap(), Kind::Patent).unwrap();
        assert_eq!(s.application_number, "2020008423");
        assert!(!s.documents.is_empty());
    }

    #[test]
    fn envelope_variants() {
        type Want = Result<(&'static str, Option<u32>, bool), JpoParseError>;
        let table: &[(&str, Want)] = &[
            (
                r#"{"result":{"statusCode":100,"errorMessage":"","remainAccessCount":787,"data":{}}}"#,
                Ok(("100", Some(787), true)),
            ),
            (
                r#"{"result":{"statusCode":"108","errorMessage":"x","remainAccessCount":"5"}}"#,
                Ok(("108", Some(5), false)),
            ),
            (
                r#"{"result":{"statusCode":"203","remainAccessCount":"","data":null}}"#,
                Ok(("203", None, false)),
            ),
            (
                r#"{"result":{"statusCode":" 303 ","remainAccessCount":"-1","data":[]}}"#,
                Ok(("303", None, true)),
            ),
            (
                r#"{"message":"Unauthorized"}"#,
                Err(JpoParseError::NoEnvelope {
                    detail: Some("Unauthorized".into()),
                }),
            ),
            (
                r#"{"result":"oops"}"#,
                Err(JpoParseError::NoEnvelope { detail: None }),
            ),
            (r#"[1,2]"#, Err(JpoParseError::NoEnvelope { detail: None })),
            (
                r#"{"result":{"errorMessage":"x"}}"#,
                Err(JpoParseError::NoStatusCode),
            ),
            (
                r#"{"result":{"statusCode":""}}"#,
                Err(JpoParseError::NoStatusCode),
            ),
        ];
        for (body, want) in table {
            let got = parse_envelope(body.as_bytes())
                .map(|e| (e.status_code.clone(), e.remain_access_count, e.data.is_some()));
            let want = want.clone().map(|(c, r, d)| (c.to_owned(), r, d));
            assert_eq!(got, want, "{body}");
        }
        for body in ["", "<html>maintenance</html>", "{\"result\":"] {
            assert!(
                matches!(parse_envelope(body.as_bytes()), Err(JpoParseError::NotJson(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn scalars_dates_numbers_and_placeholders() {
        for (s, want) in [
            ("20240805", "2024-08-05"),
            ("20240230", "20240230"),
            ("2024080", "2024080"),
            ("", ""),
            ("令和6年", "令和6年"),
        ] {
            assert_eq!(date(s), want, "{s:?}");
        }
        for (s, want) in [
            ("503090037", "2021090037"),
            ("430123456", "2018123456"),
            ("2021090037", "2021090037"),
            ("603090037", ""),
            ("500090037", ""),
            ("5030900", ""),
            ("5a3090037", ""),
            ("", ""),
            ("５03090037", ""),
        ] {
            assert_eq!(gregorian(s), want, "{s:?}");
        }
        for (s, want) in [
            ("06124084096", Some("06124084096")),
            ("BBBBBBBBBBB", None),
            ("99999999999", None),
            ("00000000000", None),
            ("", None),
            ("5 0310035", Some("5 0310035")),
        ] {
            assert_eq!(document_number(s).as_deref(), want, "{s:?}");
        }
        let data = serde_json::json!({"applicationNumber": 2020123456, "inventionTitle": ["x"], "ADPublicationNumber": ""});
        let s = parse_app_progress(&data, Kind::Patent).unwrap();
        assert_eq!(
            (s.application_number.as_str(), s.title.as_str()),
            ("2020123456", "")
        );
        for bad in [serde_json::json!([]), serde_json::json!("x"), Value::Null] {
            assert_eq!(
                parse_app_progress(&bad, Kind::Design),
                Err(JpoParseError::DataNotObject { right: Kind::Design })
            );
        }
    }

    /// Every node of every sample replaced by every JSON shape, under every right: no panic.
    #[test]
    fn never_panics_on_mangled_samples() {
        let shapes = [
            Value::Null,
            serde_json::json!(7),
            serde_json::json!("BBBB"),
            serde_json::json!([]),
            serde_json::json!([1, "x", null]),
            serde_json::json!({}),
            serde_json::json!({"0": "a", "1": {"x": 1}}),
        ];
        fn paths(v: &Value, here: String, out: &mut Vec<String>) {
            out.push(here.clone());
            match v {
                Value::Object(o) => {
                    for (k, x) in o {
                        paths(
                            x,
                            format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                            out,
                        );
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        paths(x, format!("{here}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut runs = 0;
        for body in [PATENT, DESIGN, TRADEMARK, NOT_FOUND] {
            let original: Value = serde_json::from_slice(body).unwrap();
            let mut all = Vec::new();
            paths(&original, String::new(), &mut all);
            for path in all {
                for shape in &shapes {
                    let mut v = original.clone();
                    if let Some(slot) = v.pointer_mut(&path) {
                        *slot = shape.clone();
                    }
                    let bytes = v.to_string().into_bytes();
                    if let Ok(env) = parse_envelope(&bytes)
                        && let Some(data) = env.data
                    {
                        for right in Kind::ALL {
                            let _ = parse_app_progress(&data, right);
                            runs += 1;
                        }
                    }
                }
            }
            for cut in (0..body.len()).step_by(97) {
                let _ = parse_envelope(&body[..cut]);
            }
        }
        assert!(runs > 1000, "{runs} parses");
    }
}
