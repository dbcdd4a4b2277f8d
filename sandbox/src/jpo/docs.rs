//! The document (ZIP) APIs of `jpo.md` §7.4, generated from the case's "01" block as served,
//! so a document added by an advance shows up in the bundle too.
//!
//! * `app_doc_cont_refusal_reason`: A131 rows; `…_refusal_reason_decision`: A131, A01, A02;
//!   `…_opinion_amendment`: A53, A523. Only rows with a body (`availabilityFlag` "1"), one
//!   entry per (code, document number).
//! * Layout as recorded: patent office documents flat `{number}-jpntce.xml`, patent filings
//!   `{code}_{number}/JPOXMLDOC01-jpbibl.xml`; design and trademark office documents flat
//!   `{number}P.HTM`, their filings `{code}_{number}/JPOSGMLDOC1P.HTM`.
//! * Entries are small stand-in documents encoded in Shift_JIS (their title is Japanese), so a
//!   client that decodes them as UTF-8 fails as it would live. The ZIP is stored (method 0).
//! * A case without such documents answers 108. The >10 MB `data.URL` variant is not served.

use serde_json::Value;

use super::api::{Api, Right};

/// A bundle: its file name (for `Content-Disposition`) and bytes.
pub struct Bundle {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// The document API's bundle for this case, or `None` (108) when it has no such documents.
/// Non-document APIs also give `None`; the caller only asks for the three ZIP APIs.
pub fn bundle(right: Right, api: Api, progress: &Value) -> Option<Bundle> {
    let (prefix, codes): (&str, &[&str]) = match api {
        Api::AppDocContOpinionAmendment => ("docContOpinionAmendment", &["A53", "A523"]),
        Api::AppDocContRefusalReasonDecision => ("docContRefusalReasonDecision", &["A131", "A01", "A02"]),
        Api::AppDocContRefusalReason => ("docContRefusalReason", &["A131"]),
        _ => return None,
    };
    let application = progress["applicationNumber"].as_str().unwrap_or_default();
    let rows = progress["bibliographyInformation"]
        .as_array()?
        .iter()
        .find(|b| b["numberType"] == "01")?["documentList"]
        .as_array()?;
    let mut seen = Vec::new();
    let mut zip = ZipWriter::default();
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or_default();
        let (code, number, date) = (text("documentCode"), text("documentNumber"), text("legalDate"));
        if text("availabilityFlag") != "1" || !codes.contains(&code) || seen.contains(&(code, number)) {
            continue;
        }
        seen.push((code, number));
        let filing = matches!(code, "A53" | "A523");
        let name = match (right, filing) {
            (Right::Patent, true) => format!("{code}_{number}/JPOXMLDOC01-jpbibl.xml"),
            (Right::Patent, false) => format!("{number}-jpntce.xml"),
            (_, true) => format!("{code}_{number}/JPOSGMLDOC1P.HTM"),
            (_, false) => format!("{number}P.HTM"),
        };
        let body = document(right, code, number, application, date);
        zip.add(&name, date, &body);
    }
    if seen.is_empty() {
        return None;
    }
    Some(Bundle {
        filename: format!("{prefix}_{application}.zip"),
        bytes: zip.finish(),
    })
}

/// The Japanese title in Shift_JIS.
fn sjis_title(right: Right, code: &str) -> &'static [u8] {
    match (right, code) {
        (_, "A131") => b"\x8b\x91\x90\xe2\x97\x9d\x97\x52\x92\xca\x92\x6d\x8f\x91", // 拒絶理由通知書
        (Right::Patent, "A01") => b"\x93\xc1\x8b\x96\x8d\xb8\x92\xe8",              // 特許査定
        (_, "A01") => b"\x93\x6f\x98\x5e\x8d\xb8\x92\xe8",                          // 登録査定
        (_, "A02") => b"\x8b\x91\x90\xe2\x8d\xb8\x92\xe8",                          // 拒絶査定
        (_, "A53") => b"\x88\xd3\x8c\xa9\x8f\x91",                                  // 意見書
        (_, "A523") => b"\x8e\xe8\x91\xb1\x95\xe2\x90\xb3\x8f\x91",                 // 手続補正書
        _ => b"\x8f\x91\x97\xde",                                                   // 書類
    }
}

fn document(right: Right, code: &str, number: &str, application: &str, date: &str) -> Vec<u8> {
    let title = sjis_title(right, code);
    let mut out = Vec::new();
    if right == Right::Patent {
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\r\n");
        out.extend_from_slice(
            format!(
                "<jp-document kind-of-document=\"{code}\" document-number=\"{number}\" \
                 application-number=\"{application}\" date=\"{date}\">\r\n<title>"
            )
            .as_bytes(),
        );
        out.extend_from_slice(title);
        out.extend_from_slice(b"</title>\r\n</jp-document>\r\n");
    } else {
        out.extend_from_slice(
            b"<HTML><HEAD><META http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"><TITLE>",
        );
        out.extend_from_slice(title);
        out.extend_from_slice(
            format!("</TITLE></HEAD><BODY><P>{application} {code} {number} {date}</P></BODY></HTML>\r\n")
                .as_bytes(),
        );
    }
    out
}

/// A minimal writer of stored (uncompressed) ZIP archives.
#[derive(Default)]
struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

impl ZipWriter {
    fn add(&mut self, name: &str, yyyymmdd: &str, data: &[u8]) {
        let crc = crc32(data);
        let (time, date) = (0u16, dos_date(yyyymmdd));
        let offset = self.out.len() as u32;
        let size = data.len() as u32;
        let name_len = name.len() as u16;
        // Local file header.
        put32(&mut self.out, 0x0403_4b50);
        for v in [20u16, 0, 0, time, date] {
            put16(&mut self.out, v);
        }
        for v in [crc, size, size] {
            put32(&mut self.out, v);
        }
        put16(&mut self.out, name_len);
        put16(&mut self.out, 0);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(data);
        // Central directory entry.
        let c = &mut self.central;
        put32(c, 0x0201_4b50);
        for v in [20u16, 20, 0, 0, time, date] {
            put16(c, v);
        }
        for v in [crc, size, size] {
            put32(c, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            put16(c, v);
        }
        put32(c, 0);
        put32(c, offset);
        c.extend_from_slice(name.as_bytes());
        self.entries += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        let start = self.out.len() as u32;
        let size = self.central.len() as u32;
        self.out.append(&mut self.central);
        put32(&mut self.out, 0x0605_4b50);
        for v in [0u16, 0, self.entries, self.entries] {
            put16(&mut self.out, v);
        }
        put32(&mut self.out, size);
        put32(&mut self.out, start);
        put16(&mut self.out, 0);
        self.out
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// MS-DOS date of a `YYYYMMDD` string (1980-01-01 if unreadable).
fn dos_date(yyyymmdd: &str) -> u16 {
    let part = |r: std::ops::Range<usize>| yyyymmdd.get(r).and_then(|s| s.parse::<u16>().ok());
    match (part(0..4), part(4..6), part(6..8)) {
        (Some(y), Some(m), Some(d)) if (1980..2108).contains(&y) => ((y - 1980) << 9) | (m << 5) | d,
        _ => (1 << 5) | 1,
    }
}

/// CRC-32 (IEEE 802.3, reflected), bit by bit: the bundles are a few kilobytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Entry names and contents, read back through the central directory.
    fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
        let u32_at = |i: usize| u32::from_le_bytes([zip[i], zip[i + 1], zip[i + 2], zip[i + 3]]) as usize;
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(eocd), 0x0605_4b50);
        let (count, mut at) = (u16_at(eocd + 10), u32_at(eocd + 16));
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(at), 0x0201_4b50);
            let (crc, size, name_len, local) =
                (u32_at(at + 16), u32_at(at + 20), u16_at(at + 28), u32_at(at + 42));
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32_at(local), 0x0403_4b50);
            let data_at = local + 30 + u16_at(local + 26);
            let data = zip[data_at..data_at + size].to_vec();
            assert_eq!(crc32(&data) as usize, crc);
            out.push((name, data));
            at += 46 + name_len;
        }
        out
    }

    fn progress(rows: Value) -> Value {
        json!({"applicationNumber": "2020123456",
               "bibliographyInformation": [{"numberType": "01", "number": "2020123456", "documentList": rows}]})
    }

    fn r(code: &str, number: &str, available: &str) -> Value {
        json!({"legalDate": "20240227", "documentCode": code, "documentNumber": number, "availabilityFlag": available})
    }

    #[test]
    fn crc_of_known_input() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(dos_date("20240227"), (44 << 9) | (2 << 5) | 27);
    }

    #[test]
    fn patent_bundles_have_the_recorded_layout() {
        let p = progress(json!([
            r("A63", "52001475960", "1"),
            r("A131", "06124084096", "1"),
            r("A53", "52400900476", "1"),
            r("A523", "52400900473", "1"),
            r("A523", "52400900473", "1"),
            r("A01", "06124327784", "1"),
            r("A61", "BBBBBBBBBBB", "0"),
        ]));
        let names = |api| {
            let b = bundle(Right::Patent, api, &p).unwrap();
            (
                b.filename,
                entries(&b.bytes).into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            names(Api::AppDocContRefusalReason),
            (
                "docContRefusalReason_2020123456.zip".into(),
                vec!["06124084096-jpntce.xml".into()]
            )
        );
        assert_eq!(
            names(Api::AppDocContOpinionAmendment).1,
            [
                "A53_52400900476/JPOXMLDOC01-jpbibl.xml",
                "A523_52400900473/JPOXMLDOC01-jpbibl.xml"
            ]
        );
        assert_eq!(
            names(Api::AppDocContRefusalReasonDecision).1,
            ["06124084096-jpntce.xml", "06124327784-jpntce.xml"]
        );
        let b = bundle(Right::Patent, Api::AppDocContRefusalReason, &p).unwrap();
        let body = &entries(&b.bytes)[0].1;
        assert!(body.starts_with(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>"));
        assert!(std::str::from_utf8(body).is_err(), "Shift_JIS, not UTF-8");
    }

    #[test]
    fn trademark_and_design_layouts_and_108() {
        let p = progress(json!([
            r("A131", "06425090392", "1"),
            r("A02", "06426003498", "1")
        ]));
        let b = bundle(Right::Trademark, Api::AppDocContRefusalReasonDecision, &p).unwrap();
        let names: Vec<String> = entries(&b.bytes).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["06425090392P.HTM", "06426003498P.HTM"]);
        assert!(bundle(Right::Trademark, Api::AppDocContOpinionAmendment, &p).is_none());
        let d = progress(json!([
            r("A523", "52200813279", "1"),
            r("A53", "52200813280", "0")
        ]));
        let b = bundle(Right::Design, Api::AppDocContOpinionAmendment, &d).unwrap();
        let names: Vec<String> = entries(&b.bytes).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A523_52200813279/JPOSGMLDOC1P.HTM"]);
    }
}
