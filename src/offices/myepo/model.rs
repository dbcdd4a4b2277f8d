//! Tolerant decoding of MyEPO answers: every alias and shape of [`super::contract`], unknown
//! fields ignored, numbers or strings where either may come, the raw item kept.
//!
//! Decoding never panics and never guesses a required value: a communication without an id
//! is an error naming the item; a missing title or code becomes empty text (the file is still
//! fetched — losing it would be worse than a blank field).

use serde_json::{Map, Value};

use super::contract as c;
use crate::core::mailbox::{MarkReply, MarkResult};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer has no list of communications (looked for {0})")]
    NoItems(String),
    #[error("communication #{index} has no id (looked for {keys})")]
    NoId { index: usize, keys: String },
    #[error("communication #{index} is not a JSON object")]
    NotObject { index: usize },
}

/// One listed communication.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub application_number: String,
    pub document_code: String,
    pub title: String,
    /// `YYYY-MM-DD` (a date-time is cut to its date as written, without time-zone shifts:
    /// the document's date is the legal date).
    pub dispatch_date: String,
    pub delivered_at: Option<String>,
    pub user_reference: Option<String>,
    pub handled: Option<bool>,
    pub procedure: Option<String>,
    /// At least one: the flat form is a list of one.
    pub documents: Vec<Doc>,
    pub raw: Value,
}

/// One file of a communication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// `None` for the single file of the flat form.
    pub document_id: Option<String>,
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
    /// A download link given in the metadata, used instead of the path templates.
    pub href: Option<String>,
}

/// One page of E1.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub total: Option<u64>,
}

fn field<'a>(o: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| o.get(*k).filter(|v| !v.is_null()))
}

fn text(o: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    match field(o, keys)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(o: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    match field(o, keys)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(o: &Map<String, Value>, keys: &[&str]) -> Option<bool> {
    match field(o, keys)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The date part of `2024-03-14`, `2024-03-14T05:42:17Z` or `2024-03-14T06:42:17+01:00`.
pub fn date_part(s: &str) -> Option<String> {
    let d = s.get(..10)?;
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .map(|_| d.to_owned())
}

/// Decodes one item (as listed, or as stored in `metadata_json`).
pub fn decode_item(index: usize, v: &Value) -> Result<Item, DecodeError> {
    let o = v.as_object().ok_or(DecodeError::NotObject { index })?;
    let id = text(o, c::F_ID).ok_or_else(|| DecodeError::NoId {
        index,
        keys: c::F_ID.join("/"),
    })?;
    let doc_of = |d: &Map<String, Value>, document_id| Doc {
        document_id,
        file_name: text(d, c::F_FILE_NAME),
        media_type: text(d, c::F_MEDIA_TYPE),
        size: number(d, c::F_SIZE),
        href: text(d, c::F_HREF),
    };
    let nested: Vec<Doc> = match field(o, c::F_DOCUMENTS) {
        Some(Value::Array(docs)) => docs
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.as_object().map(|d| {
                    doc_of(
                        d,
                        Some(text(d, c::F_DOCUMENT_ID).unwrap_or_else(|| i.to_string())),
                    )
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let documents = if nested.is_empty() {
        vec![doc_of(o, None)]
    } else {
        nested
    };
    Ok(Item {
        application_number: text(o, c::F_APPLICATION).unwrap_or_default(),
        document_code: text(o, c::F_DOCUMENT_CODE).unwrap_or_default(),
        title: text(o, c::F_TITLE).unwrap_or_default(),
        dispatch_date: text(o, c::F_DISPATCH)
            .and_then(|d| date_part(&d))
            .unwrap_or_default(),
        delivered_at: text(o, c::F_DELIVERED),
        user_reference: text(o, c::F_USER_REF),
        handled: boolean(o, c::F_HANDLED),
        procedure: text(o, c::F_PROCEDURE),
        documents,
        raw: v.clone(),
        id,
    })
}

/// Decodes one page of E1: an object with the items under one of the known keys, or a bare array.
pub fn decode_page(body: &[u8]) -> Result<Page, DecodeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let (items, total) = match &v {
        Value::Array(a) => (a, None),
        Value::Object(o) => match field(o, c::F_PAGE_ITEMS) {
            Some(Value::Array(a)) => (a, number(o, c::F_PAGE_TOTAL)),
            _ => return Err(DecodeError::NoItems(c::F_PAGE_ITEMS.join("/"))),
        },
        _ => return Err(DecodeError::NoItems(c::F_PAGE_ITEMS.join("/"))),
    };
    let items = items
        .iter()
        .enumerate()
        .map(|(i, it)| decode_item(i, it))
        .collect::<Result<_, _>>()?;
    Ok(Page { items, total })
}

/// Decodes a 200 answer of E3 into per-item results.
pub fn decode_mark(body: &[u8]) -> Result<MarkReply, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(MarkReply::AllDone);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match field(o, c::F_MARK_RESULTS) {
            Some(Value::Array(a)) => a,
            _ => return Err(DecodeError::NoItems(c::F_MARK_RESULTS.join("/"))),
        },
        _ => return Err(DecodeError::NoItems(c::F_MARK_RESULTS.join("/"))),
    };
    let results = list
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|o| {
            let id = text(o, c::F_ID)?;
            let status = text(o, c::F_MARK_STATUS).unwrap_or_default().to_ascii_uppercase();
            let result = if c::MARK_OK.contains(&status.as_str()) {
                MarkResult::Handled
            } else if c::MARK_ALREADY.contains(&status.as_str()) {
                MarkResult::AlreadyHandled
            } else if c::MARK_NOT_FOUND.contains(&status.as_str()) {
                MarkResult::NotFound
            } else {
                MarkResult::Other
            };
            Some((id, result))
        })
        .collect();
    Ok(MarkReply::PerItem(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = r#"{"totalCount": 2, "offset": 0, "limit": 100,
     "communications": [
      {"communicationId": "8f3c2a1e", "applicationNumber": "EP23184567.2", "procedure": "EP",
       "documentCode": "1133", "documentTitle": "Information on forthcoming publication",
       "dispatchDate": "2024-03-14", "deliveryDateTime": "2024-03-14T05:42:17Z",
       "userReference": "ACME-P-0042-EP", "read": false, "handled": false,
       "fileName": "EP23184567_1133_20240314.pdf", "mediaType": "application/pdf", "fileSize": 84213},
      {"communicationId": "1d0e9b77", "applicationNumber": "EP21901234.6", "documentCode": "1176",
       "documentTitle": "Notice", "dispatchDate": "2024-03-13", "userReference": null,
       "fileName": "b.pdf", "mediaType": "application/pdf", "fileSize": 40977}]}"#;

    #[test]
    fn default_contract() {
        let p = decode_page(DEFAULT.as_bytes()).unwrap();
        assert_eq!(p.total, Some(2));
        let a = &p.items[0];
        assert_eq!(
            (
                a.id.as_str(),
                a.application_number.as_str(),
                a.dispatch_date.as_str()
            ),
            ("8f3c2a1e", "EP23184567.2", "2024-03-14")
        );
        assert_eq!(
            a.documents,
            vec![Doc {
                document_id: None,
                file_name: Some("EP23184567_1133_20240314.pdf".into()),
                media_type: Some("application/pdf".into()),
                size: Some(84213),
                href: None
            }]
        );
        assert_eq!(p.items[1].user_reference, None);
    }

    #[test]
    fn every_variant_decodes_to_the_same_communication() {
        let variants = [
            r#"{"total": 1, "items": [{"id": "X1", "applicationNumberText": "EP1", "documentCode": "2004", "documentTitle": "T", "documentDate": "2024-03-14T06:42:17+01:00", "mimeType": "application/pdf", "size": "12", "fileName": "f.pdf"}]}"#,
            r#"{"totalElements": 1, "content": [{"messageId": "X1", "applicationNumber": "EP1", "documentCode": 2004, "title": "T", "dateOfDispatch": "2024-03-14", "contentType": "application/pdf", "fileSize": 12, "fileName": "f.pdf"}]}"#,
            r#"[{"communicationId": "X1", "applicationNumber": "EP1", "documentCode": "2004", "documentTitle": "T", "dispatchDate": "2024-03-14", "mediaType": "application/pdf", "fileSize": 12, "fileName": "f.pdf", "extra": {"x": 1}}]"#,
            r#"{"data": [{"communicationId": "X1", "applicationNumber": "EP1", "documentCode": "2004", "documentTitle": "T", "dispatchDate": "2024-03-14", "mediaType": "application/pdf", "fileSize": 12, "fileName": "f.pdf"}]}"#,
        ];
        for v in variants {
            let p = decode_page(v.as_bytes()).unwrap_or_else(|e| panic!("{v}: {e}"));
            let i = &p.items[0];
            assert_eq!(
                (
                    i.id.as_str(),
                    i.application_number.as_str(),
                    i.document_code.as_str(),
                    i.title.as_str(),
                    i.dispatch_date.as_str()
                ),
                ("X1", "EP1", "2004", "T", "2024-03-14"),
                "{v}"
            );
            assert_eq!(
                (i.documents[0].size, i.documents[0].media_type.as_deref()),
                (Some(12), Some("application/pdf")),
                "{v}"
            );
        }
    }

    #[test]
    fn nested_documents() {
        let v = r#"{"communications": [{"communicationId": "N", "dispatchDate": "2024-01-02", "documents": [
            {"documentId": "d1", "fileName": "a.pdf", "mediaType": "application/pdf", "fileSize": 5},
            {"documentId": "d2", "fileName": "b.zip", "mediaType": "application/zip", "fileSize": 6, "href": "https://x/y"}]}]}"#;
        let i = &decode_page(v.as_bytes()).unwrap().items[0];
        let ids: Vec<_> = i.documents.iter().map(|d| d.document_id.as_deref()).collect();
        assert_eq!(ids, vec![Some("d1"), Some("d2")]);
        assert_eq!(i.documents[1].href.as_deref(), Some("https://x/y"));
    }

    #[test]
    fn bad_answers_are_errors_that_say_why() {
        let table = [
            ("<html>", "not JSON"),
            (r#"{"foo": []}"#, "no list of communications"),
            (
                r#"{"communications": [{"applicationNumber": "EP1"}]}"#,
                "communication #0 has no id",
            ),
            (
                r#"{"communications": [3]}"#,
                "communication #0 is not a JSON object",
            ),
            ("42", "no list of communications"),
        ];
        for (body, expected) in table {
            let e = decode_page(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(expected), "{body}: {e}");
        }
    }

    #[test]
    fn dates() {
        let table = [
            ("2024-03-14", Some("2024-03-14")),
            ("2024-03-14T23:30:00-05:00", Some("2024-03-14")),
            ("14.03.2024", None),
            ("2024-13-01", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(date_part(input).as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn mark_answers() {
        let r = decode_mark(br#"{"results":[{"communicationId":"a","status":"HANDLED"},{"communicationId":"b","status":"already_handled"},{"communicationId":"c","status":"NOT_FOUND"},{"communicationId":"d","status":"LOCKED"}]}"#).unwrap();
        assert_eq!(
            r,
            MarkReply::PerItem(vec![
                ("a".into(), MarkResult::Handled),
                ("b".into(), MarkResult::AlreadyHandled),
                ("c".into(), MarkResult::NotFound),
                ("d".into(), MarkResult::Other)
            ])
        );
        assert_eq!(decode_mark(b"").unwrap(), MarkReply::AllDone);
        assert!(decode_mark(b"{}").is_err());
    }
}
