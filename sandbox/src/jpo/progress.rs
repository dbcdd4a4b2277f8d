//! Case advances (`POST /_sandbox/cases/jp/{number}/advance`), pure.
//!
//! An advance is computed once from the case as served at that moment and stored as data
//! ([`Advance`]); serving re-applies the stored advances to the recorded or cloned bodies, so
//! `app_progress`, `app_progress_simple` and `registration_info` always agree.
//!
//! * `document` appends the next plausible rows to the `numberType` "01" block, chosen by the
//!   code of its last row ([`next_steps`]). Patent: A63 filing → A621 examination request →
//!   A131 refusal reasons → A53 opinion + A523 amendment → A01 decision to grant → A61
//!   registration fee (placeholder) → A861 file-inspection requests, which can recur. Designs
//!   and trademarks have no examination request: A63 → A131 → A53 + A523 → A01 登録査定 → A61
//!   → A861. Any other last row (A02 refusal, R-codes, …) is followed by A861.
//! * `status` registers an unregistered case (number, date, `erasureIdentifier` "00", expiry,
//!   a "06" block with placeholder rows) and erases a registered one. The erasure code list is
//!   not in the contract: the sandbox writes "01"; clients should treat anything but "00" as
//!   "right gone".
//!
//! Rows carry the virtual JST date and document numbers in the live patterns: applicant
//! filings `5YY` + 8 digits, office notices `06` + right digit (1 patent, 3 design, 4
//! trademark) + `YY` + a 6-digit dispatch number, inspection requests `005YY` + 6 digits,
//! fee placeholders `BBBBBBBBBBB`, "06" rows `99999999999`.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{Api, Right};

/// What one advance changed; stored, persisted and returned to the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Advance {
    /// Rows appended to the "01" block.
    Documents { rows: Vec<Value> },
    /// The right was registered; `rows` form the new "06" block.
    Registration {
        registration_number: String,
        registration_date: String,
        expire_date: String,
        rows: Vec<Value>,
    },
    /// The right was erased.
    Erasure {
        erasure_identifier: String,
        disappearance_date: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filer {
    Applicant,
    Office,
    FeePlaceholder,
    Inspection,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    code: &'static str,
    description: &'static str,
    filer: Filer,
    separator: &'static str,
    size: u32,
}

const fn step(
    code: &'static str,
    description: &'static str,
    filer: Filer,
    separator: &'static str,
    size: u32,
) -> Step {
    Step {
        code,
        description,
        filer,
        separator,
        size,
    }
}

const EXAM_REQUEST: Step = step("A621", "出願審査請求書", Filer::Applicant, "S", 1267);
const PATENT_REFUSAL_REASONS: Step = step("A131", "拒絶理由通知書", Filer::Office, "K", 5006);
const REFUSAL_REASONS: Step = step("A131", "拒絶理由通知書", Filer::Office, "S", 6173);
const OPINION: Step = step("A53", "意見書", Filer::Applicant, "S", 4223);
const AMENDMENT: Step = step("A523", "手続補正書", Filer::Applicant, "S", 3151);
const PATENT_GRANT: Step = step("A01", "特許査定", Filer::Office, "K", 1542);
const GRANT: Step = step("A01", "登録査定", Filer::Office, "S", 731);
const FEE: Step = step("A61", "登録料納付", Filer::FeePlaceholder, " ", 0);
const INSPECTION: Step = step(
    "A861",
    "ファイル記録事項の閲覧（縦覧）請求書",
    Filer::Inspection,
    " ",
    0,
);

/// The rows that follow a "01" block whose last row has this code.
fn next_steps(right: Right, last_code: Option<&str>) -> &'static [Step] {
    match (right, last_code) {
        (Right::Patent, None | Some("A63")) => &[EXAM_REQUEST],
        (Right::Patent, Some("A621" | "A871" | "A971005" | "A971007")) => &[PATENT_REFUSAL_REASONS],
        (Right::Patent, Some("A53" | "A523")) => &[PATENT_GRANT],
        (_, None | Some("A63" | "A80" | "A231")) => &[REFUSAL_REASONS],
        (_, Some("A131")) => &[OPINION, AMENDMENT],
        (_, Some("A53" | "A523")) => &[GRANT],
        (_, Some("A01" | "A252")) => &[FEE],
        _ => &[INSPECTION],
    }
}

fn office_digit(right: Right) -> u8 {
    match right {
        Right::Patent => 1,
        Right::Design => 3,
        Right::Trademark => 4,
    }
}

/// The "01" block of an `app_progress`-shaped body.
fn application_block(progress: &Value) -> Option<&Vec<Value>> {
    progress["bibliographyInformation"]
        .as_array()?
        .iter()
        .find(|b| b["numberType"] == "01")?["documentList"]
        .as_array()
}

fn row(today: &str, s: &Step, number: String, size: u32) -> Value {
    let available = matches!(s.filer, Filer::Applicant | Filer::Office);
    json!({
        "legalDate": today,
        "irirFlg": "0",
        "availabilityFlag": if available { "1" } else { "0" },
        "documentCode": s.code,
        "documentDescription": s.description,
        "documentNumber": number,
        "versionNumber": if available { "0001" } else { "0000" },
        "documentSeparator": s.separator,
        "numberOfPages": "0",
        "sizeOfDocument": size.to_string(),
    })
}

/// The next rows for the case's "01" block. `today` is `YYYYMMDD`; `salt` varies the numbers.
pub fn next_documents(right: Right, progress: &Value, today: &str, salt: u64) -> Vec<Value> {
    let last = application_block(progress)
        .and_then(|rows| rows.last())
        .and_then(|r| r["documentCode"].as_str());
    let yy = today.get(2..4).unwrap_or("00");
    next_steps(right, last)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = super::mix(salt.wrapping_add(i as u64));
            let number = match s.filer {
                Filer::Applicant => format!("5{yy}{:08}", r % 100_000_000),
                Filer::Office => format!("06{}{yy}{:06}", office_digit(right), r % 1_000_000),
                Filer::FeePlaceholder => "BBBBBBBBBBB".to_owned(),
                Filer::Inspection => format!("005{yy}{:06}", r % 1_000_000),
            };
            let size = if s.size == 0 {
                0
            } else {
                s.size + (r >> 32) as u32 % 512
            };
            row(today, s, number, size)
        })
        .collect()
}

/// Why a `status` advance is impossible.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("the right is already erased (erasureIdentifier {0:?})")]
    AlreadyErased(String),
}

/// Registration of an unregistered case, erasure of a registered one.
pub fn status_change(right: Right, progress: &Value, today: &str) -> Result<Advance, StatusError> {
    let text = |k: &str| progress[k].as_str().unwrap_or_default();
    if text("registrationNumber").is_empty() {
        return Ok(register(right, progress, today));
    }
    match text("erasureIdentifier") {
        "00" | "" => Ok(Advance::Erasure {
            erasure_identifier: "01".into(),
            disappearance_date: today.into(),
        }),
        other => Err(StatusError::AlreadyErased(other.into())),
    }
}

fn register(right: Right, progress: &Value, today: &str) -> Advance {
    let application = progress["applicationNumber"].as_str().unwrap_or_default();
    let serial: u32 = application.get(4..).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Unique per right for the fixture numbers: a per-right base plus the application serial.
    let base = match right {
        Right::Patent => 7_000_000,
        Right::Design => 1_000_000,
        Right::Trademark => 6_000_000,
    };
    let (term_from, years) = match right {
        Right::Patent => (progress["filingDate"].as_str().unwrap_or(today), 20),
        Right::Design => (progress["filingDate"].as_str().unwrap_or(today), 25),
        Right::Trademark => (today, 10),
    };
    let mut rows: Vec<Value> = application_block(progress)
        .into_iter()
        .flatten()
        .filter(|r| r["documentCode"] == "A01")
        .take(1)
        .map(|a01| {
            let s = if right == Right::Patent {
                PATENT_GRANT
            } else {
                GRANT
            };
            placeholder(a01["legalDate"].as_str().unwrap_or(today), s.code, s.description)
        })
        .collect();
    let certificate = if right == Right::Patent {
        "特許証"
    } else {
        "登録証"
    };
    rows.push(placeholder(today, "R150", certificate));
    Advance::Registration {
        registration_number: format!("{:07}", base + serial % 1_000_000),
        registration_date: today.into(),
        expire_date: add_years(term_from, years),
        rows,
    }
}

/// A row of the "06" block: no body, number `99999999999` (§8).
fn placeholder(date: &str, code: &'static str, description: &'static str) -> Value {
    let s = step(code, description, Filer::FeePlaceholder, " ", 0);
    row(date, &s, "99999999999".into(), 0)
}

/// `YYYYMMDD` plus whole years (29 February becomes 28 February in a common year).
fn add_years(date: &str, years: i32) -> String {
    let Ok(d) = NaiveDate::parse_from_str(date, "%Y%m%d") else {
        return String::new();
    };
    let y = d.year() + years;
    d.with_year(y)
        .or_else(|| NaiveDate::from_ymd_opt(y, d.month(), 28))
        .map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_default()
}

/// Applies one advance to the data object served by `api`.
pub fn apply(api: Api, advance: &Advance, data: &mut Value) {
    match api {
        Api::AppProgress | Api::AppProgressSimple => apply_progress(advance, data),
        Api::RegistrationInfo => apply_registration_info(advance, data),
        _ => {}
    }
}

fn set(data: &mut Value, key: &str, value: &str) {
    if let Some(v) = data.get_mut(key) {
        *v = value.into();
    }
}

fn apply_progress(advance: &Advance, data: &mut Value) {
    match advance {
        Advance::Documents { rows } => {
            let number = data["applicationNumber"].clone();
            let Some(blocks) = data["bibliographyInformation"].as_array_mut() else {
                return;
            };
            if !blocks.iter().any(|b| b["numberType"] == "01") {
                blocks.insert(
                    0,
                    json!({"numberType": "01", "number": number, "documentList": []}),
                );
            }
            if let Some(list) = blocks
                .iter_mut()
                .find(|b| b["numberType"] == "01")
                .and_then(|b| b["documentList"].as_array_mut())
            {
                list.extend(rows.iter().cloned());
            }
        }
        Advance::Registration {
            registration_number,
            registration_date,
            expire_date,
            rows,
        } => {
            set(data, "registrationNumber", registration_number);
            set(data, "registrationDate", registration_date);
            set(data, "erasureIdentifier", "00");
            set(data, "expireDate", expire_date);
            if let Some(blocks) = data["bibliographyInformation"].as_array_mut() {
                blocks.push(json!({"numberType": "06", "number": registration_number, "documentList": rows}));
            }
        }
        Advance::Erasure {
            erasure_identifier,
            disappearance_date,
        } => {
            set(data, "erasureIdentifier", erasure_identifier);
            set(data, "disappearanceDate", disappearance_date);
        }
    }
}

fn apply_registration_info(advance: &Advance, data: &mut Value) {
    match advance {
        Advance::Documents { .. } => {}
        Advance::Registration {
            registration_number,
            registration_date,
            expire_date,
            ..
        } => {
            set(data, "registrationNumber", registration_number);
            set(data, "registrationDate", registration_date);
            set(data, "erasureIdentifier", "00");
            set(data, "expireDate", expire_date);
            set(data, "updateDate", registration_date);
        }
        Advance::Erasure {
            erasure_identifier,
            disappearance_date,
        } => {
            set(data, "erasureIdentifier", erasure_identifier);
            set(data, "disappearanceDate", disappearance_date);
            set(data, "updateDate", disappearance_date);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(codes: &[&str]) -> Value {
        let rows: Vec<Value> = codes.iter().map(|c| json!({"documentCode": c})).collect();
        json!({
            "applicationNumber": "2023500001",
            "filingDate": "20230301",
            "registrationNumber": "",
            "registrationDate": "",
            "erasureIdentifier": "",
            "expireDate": "",
            "disappearanceDate": "",
            "bibliographyInformation": [{"numberType": "01", "number": "2023500001", "documentList": rows}],
        })
    }

    fn codes_after(right: Right, codes: &[&str]) -> Vec<String> {
        next_documents(right, &case(codes), "20260507", 7)
            .iter()
            .map(|r| r["documentCode"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn progression_tables() {
        let cases: &[(Right, &[&str], &[&str])] = &[
            (Right::Patent, &["A63"], &["A621"]),
            (Right::Patent, &["A63", "A621"], &["A131"]),
            (Right::Patent, &["A621", "A971007"], &["A131"]),
            (Right::Patent, &["A131"], &["A53", "A523"]),
            (Right::Patent, &["A131", "A53", "A523"], &["A01"]),
            (Right::Patent, &["A01"], &["A61"]),
            (Right::Patent, &["A01", "A61"], &["A861"]),
            (Right::Patent, &["A861"], &["A861"]),
            (Right::Design, &["A63", "A80", "A231"], &["A131"]),
            (Right::Design, &["A131"], &["A53", "A523"]),
            (Right::Design, &["A523"], &["A01"]),
            (Right::Design, &["A01", "A252"], &["A61"]),
            (Right::Trademark, &["A63"], &["A131"]),
            (Right::Trademark, &["A63", "A131", "A02"], &["A861"]),
            (Right::Trademark, &[], &["A131"]),
        ];
        for (right, before, want) in cases {
            assert_eq!(codes_after(*right, before), *want, "{right:?} after {before:?}");
        }
    }

    #[test]
    fn rows_have_live_shapes() {
        let rows = next_documents(Right::Patent, &case(&["A131"]), "20260507", 1);
        let keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "legalDate",
                "irirFlg",
                "availabilityFlag",
                "documentCode",
                "documentDescription",
                "documentNumber",
                "versionNumber",
                "documentSeparator",
                "numberOfPages",
                "sizeOfDocument"
            ]
        );
        for r in &rows {
            let n = r["documentNumber"].as_str().unwrap();
            assert_eq!(n.len(), 11);
            assert!(n.starts_with("526"), "{n}");
            assert_eq!(r["legalDate"], "20260507");
            assert!(r.as_object().unwrap().values().all(Value::is_string));
        }
        let office = next_documents(Right::Trademark, &case(&["A53"]), "20260507", 1);
        assert!(office[0]["documentNumber"].as_str().unwrap().starts_with("06426"));
        let fee = next_documents(Right::Design, &case(&["A01"]), "20260507", 1);
        assert_eq!(fee[0]["documentNumber"], "BBBBBBBBBBB");
        assert_eq!(fee[0]["availabilityFlag"], "0");
        assert_eq!(fee[0]["sizeOfDocument"], "0");
    }

    #[test]
    fn register_then_erase_then_refuse() {
        let mut data = case(&["A63", "A01"]);
        let reg = status_change(Right::Trademark, &data, "20260507").unwrap();
        apply(Api::AppProgress, &reg, &mut data);
        assert_eq!(data["registrationNumber"], "6500001");
        assert_eq!(data["registrationDate"], "20260507");
        assert_eq!(data["erasureIdentifier"], "00");
        assert_eq!(data["expireDate"], "20360507");
        let block = &data["bibliographyInformation"][1];
        assert_eq!(block["numberType"], "06");
        assert_eq!(block["documentList"][0]["documentCode"], "A01");
        assert_eq!(block["documentList"][1]["documentCode"], "R150");
        assert_eq!(block["documentList"][1]["documentNumber"], "99999999999");

        let erase = status_change(Right::Trademark, &data, "20270101").unwrap();
        apply(Api::AppProgress, &erase, &mut data);
        assert_eq!(data["erasureIdentifier"], "01");
        assert_eq!(data["disappearanceDate"], "20270101");
        assert_eq!(
            status_change(Right::Trademark, &data, "20270102"),
            Err(StatusError::AlreadyErased("01".into()))
        );
    }

    #[test]
    fn patent_and_design_terms_run_from_filing() {
        for (right, want) in [(Right::Patent, "20430301"), (Right::Design, "20480301")] {
            let Advance::Registration { expire_date, .. } =
                status_change(right, &case(&["A01"]), "20260507").unwrap()
            else {
                panic!("not a registration");
            };
            assert_eq!(expire_date, want);
        }
        assert_eq!(add_years("20240229", 1), "20250228");
        assert_eq!(add_years("junk", 1), "");
    }

    #[test]
    fn registration_info_follows_status_but_not_documents() {
        let mut info = json!({"registrationNumber": "7533889", "erasureIdentifier": "00",
                              "disappearanceDate": "", "updateDate": "20240821"});
        let before = info.clone();
        apply(
            Api::RegistrationInfo,
            &Advance::Documents { rows: vec![] },
            &mut info,
        );
        assert_eq!(info, before);
        let erase = Advance::Erasure {
            erasure_identifier: "01".into(),
            disappearance_date: "20260507".into(),
        };
        apply(Api::RegistrationInfo, &erase, &mut info);
        assert_eq!(info["erasureIdentifier"], "01");
        assert_eq!(info["updateDate"], "20260507");
        assert!(info.get("registrationDate").is_none(), "no key is added");
    }
}
