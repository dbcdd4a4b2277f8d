//! The MyEPO part of the scenario API (`/_sandbox/myepo/…`), for tests and the demo.
//!
//! | endpoint | |
//! |---|---|
//! | `POST /_sandbox/myepo/communications` | inject communications → `201 {"ids":[…]}`; `"letter": ["line", …]` (1 to 60 lines of at most 100 characters) is the body of their PDFs instead of the form's text |
//! | `GET /_sandbox/myepo/communications` | the whole mailbox with its flags |
//! | `POST /_sandbox/myepo/handled` | `{"ids":[…]}`: a person marks them handled in the web Mailbox |
//! | `POST /_sandbox/myepo/unhandled` | `{"ids":[…]}`: a person takes the handled flag off again |
//! | `GET /_sandbox/myepo/activity` | the activity log, oldest first |
//! | `GET /_sandbox/myepo/communications/{id}/documents/{index}/content` | the bytes E2 serves for a communication's document (0-based position), without logging or flagging anything |
//! | `GET`/`POST /_sandbox/myepo/settings` | `{"profile":"aliases+nested","token_lifetime_secs":N}` |

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::mailbox::{Activity, Actor, Communication, NewCommunication, NewDocument};
use super::profile::Profile;
use super::{Inner, SettingsJson};
use crate::Shared;
use crate::scenario::ScenarioError;

/// Most communications one injection creates.
const MAX_INJECT: u64 = 100_000;

/// Largest injected file: 4 GiB, enough for any "huge download" test.
const MAX_FILE_SIZE: u64 = 4 << 30;

/// Most documents one communication carries.
const MAX_DOCUMENTS: usize = 10;

/// Most lines of an injected letter: what fits on the one A4 page at 16 pt leading.
const MAX_LETTER_LINES: usize = 60;

/// Longest line of an injected letter, the width the PDF writes (it would cut longer ones,
/// and a test would not read what it sent).
const MAX_LETTER_LINE_CHARS: usize = 100;

/// Longest token lifetime: 24 h, Okta's maximum for access tokens.
const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// Parses a JSON body; an empty body means "all defaults".
fn body<T: DeserializeOwned + Default>(bytes: &Bytes, what: &str) -> Result<T, ScenarioError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ScenarioError::bad_request(format!("{what}: {e}")))
}

/// `POST /_sandbox/myepo/communications`. Besides the documented fields, `documents`,
/// `read` and `letter` are accepted. `letter` is the body of the letter every document's page
/// carries under its header, instead of the form's text in the case's language (1 to 60 lines
/// of at most 100 characters). `documents` is either a number (1 to 10 files per communication, each
/// of `size`) or a list of 1 to 10 `{"id", "size", "href"}` objects, every field optional:
/// ids may repeat or sanitise alike, and an `href` is listed as given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectRequest {
    count: Option<u64>,
    size: Option<u64>,
    application_number: Option<String>,
    document_code: Option<String>,
    dispatch_date: Option<String>,
    title: Option<String>,
    documents: Option<Documents>,
    read: Option<bool>,
    letter: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Documents {
    Count(usize),
    List(Vec<DocumentRequest>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentRequest {
    id: Option<String>,
    size: Option<u64>,
    href: Option<String>,
}

fn non_empty(field: &str, v: Option<String>) -> Result<Option<String>, ScenarioError> {
    match v {
        Some(s) if s.trim().is_empty() => {
            Err(ScenarioError::bad_request(format!("{field} must not be empty")))
        }
        other => Ok(other.map(|s| s.trim().to_owned())),
    }
}

pub async fn inject(
    State(sh): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ScenarioError> {
    let req: InjectRequest = body(&bytes, "communications body")?;
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_INJECT).contains(&count) {
        return Err(ScenarioError::bad_request(format!(
            "count must be from 1 to {MAX_INJECT}"
        )));
    }
    let (documents, specs) = match req.documents {
        None => (None, Vec::new()),
        Some(Documents::Count(n)) => (Some(n), Vec::new()),
        Some(Documents::List(list)) => (
            Some(list.len()),
            list.into_iter()
                .map(|d| {
                    Ok(NewDocument {
                        document_id: non_empty("documents[].id", d.id)?,
                        size: d.size,
                        href: non_empty("documents[].href", d.href)?,
                    })
                })
                .collect::<Result<Vec<_>, ScenarioError>>()?,
        ),
    };
    let sizes = std::iter::once(req.size).chain(specs.iter().map(|d| d.size));
    if sizes.flatten().any(|s| s > MAX_FILE_SIZE) {
        return Err(ScenarioError::bad_request(format!(
            "size must be at most {MAX_FILE_SIZE} bytes"
        )));
    }
    if documents.is_some_and(|d| !(1..=MAX_DOCUMENTS).contains(&d)) {
        return Err(ScenarioError::bad_request(format!(
            "documents must be from 1 to {MAX_DOCUMENTS}"
        )));
    }
    let dispatch_date = match req.dispatch_date {
        None => None,
        Some(d) => Some(NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| {
            ScenarioError::bad_request(format!("dispatch_date must be YYYY-MM-DD, not {d:?}"))
        })?),
    };
    if let Some(letter) = &req.letter {
        if !(1..=MAX_LETTER_LINES).contains(&letter.len()) {
            return Err(ScenarioError::bad_request(format!(
                "letter must have from 1 to {MAX_LETTER_LINES} lines"
            )));
        }
        if let Some(n) = letter
            .iter()
            .position(|l| l.chars().count() > MAX_LETTER_LINE_CHARS)
        {
            return Err(ScenarioError::bad_request(format!(
                "letter line {} is longer than {MAX_LETTER_LINE_CHARS} characters",
                n + 1
            )));
        }
    }
    let new = NewCommunication {
        application_number: non_empty("application_number", req.application_number)?,
        document_code: non_empty("document_code", req.document_code)?,
        title: non_empty("title", req.title)?,
        dispatch_date,
        size: req.size,
        documents,
        document_specs: specs,
        read: req.read.unwrap_or(false),
        letter: req.letter,
    };
    let now = sh.clock.now();
    let ids: Vec<String> = {
        let mut inner = sh.myepo.lock();
        (0..count)
            .map(|_| inner.mailbox.create(new.clone(), now).id.clone())
            .collect()
    };
    sh.persist.mark_dirty();
    Ok((StatusCode::CREATED, Json(json!({ "ids": ids }))))
}

pub async fn mailbox(State(sh): State<Arc<Shared>>) -> Json<Vec<Communication>> {
    Json(sh.myepo.lock().mailbox.communications.clone())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandledRequest {
    ids: Vec<String>,
}

/// `POST /_sandbox/myepo/handled`: all ids must exist (else 404 naming the first unknown one,
/// and nothing changes). Answers `{"results":[{"id","status":"HANDLED|ALREADY_HANDLED"}]}`.
pub async fn handled_in_web(
    State(sh): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<Value>, ScenarioError> {
    let req: HandledRequest = body(&bytes, "handled body")?;
    if req.ids.is_empty() {
        return Err(ScenarioError::bad_request("ids must list at least one id"));
    }
    let now = sh.clock.now();
    let results: Vec<Value> = {
        let mut inner = sh.myepo.lock();
        if let Some(unknown) = req.ids.iter().find(|id| !inner.mailbox.contains(id)) {
            return Err(ScenarioError::not_found(format!("no communication {unknown}")));
        }
        req.ids
            .iter()
            .map(|id| json!({ "id": id, "status": inner.mailbox.mark(id, Actor::Web, now) }))
            .collect()
    };
    sh.persist.mark_dirty();
    Ok(Json(json!({ "results": results })))
}

/// `POST /_sandbox/myepo/unhandled`: all ids must exist (else 404 naming the first unknown
/// one, and nothing changes); each is listed as unhandled again. Answers `{"ids":[…]}`.
pub async fn unhandled_in_web(
    State(sh): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<Value>, ScenarioError> {
    let req: HandledRequest = body(&bytes, "unhandled body")?;
    if req.ids.is_empty() {
        return Err(ScenarioError::bad_request("ids must list at least one id"));
    }
    let now = sh.clock.now();
    {
        let mut inner = sh.myepo.lock();
        if let Some(unknown) = req.ids.iter().find(|id| !inner.mailbox.contains(id)) {
            return Err(ScenarioError::not_found(format!("no communication {unknown}")));
        }
        for id in &req.ids {
            inner.mailbox.unmark(id, now);
        }
    }
    sh.persist.mark_dirty();
    Ok(Json(json!({ "ids": req.ids })))
}

/// `GET /_sandbox/myepo/communications/{id}/documents/{index}/content`: the document at
/// `index` (its position in the communication's list, from 0) exactly as E2 streams it for
/// that document's id (or, listed flat, at `…/file`), so a
/// test can check an archive against what the office serves without a download of its own
/// showing in the activity log or setting a flag. 404 for an unknown id or position.
pub async fn document_content(
    State(sh): State<Arc<Shared>>,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, ScenarioError> {
    let pdf = {
        let inner = sh.myepo.lock();
        let c = inner
            .mailbox
            .get(&id)
            .ok_or_else(|| ScenarioError::not_found(format!("no communication {id}")))?;
        if index >= c.documents.len() {
            return Err(ScenarioError::not_found(format!(
                "communication {id} has {} document(s), none at position {index}",
                c.documents.len()
            )));
        }
        // E2 finds a document by its id, the first with that id: a repeated id is served
        // the first one's bytes there, and so here.
        let wanted = &c.documents[index].document_id;
        let served = c
            .documents
            .iter()
            .position(|d| &d.document_id == wanted)
            .unwrap_or(index);
        c.pdf(inner.mailbox.seed, served)
    };
    let len = pdf.len();
    let body = Body::from_stream(futures_util::stream::iter(
        pdf.chunks().map(Ok::<Bytes, std::convert::Infallible>),
    ));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}

pub async fn activity(State(sh): State<Arc<Shared>>) -> Json<VecDeque<Activity>> {
    Json(sh.myepo.lock().mailbox.activity.clone())
}

fn settings_json(inner: &Inner) -> Json<SettingsJson> {
    Json(SettingsJson::from(inner.settings))
}

pub async fn settings(State(sh): State<Arc<Shared>>) -> Json<SettingsJson> {
    settings_json(&sh.myepo.lock())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    profile: Option<String>,
    token_lifetime_secs: Option<u64>,
}

/// `POST /_sandbox/myepo/settings`: a new lifetime applies to tokens issued from now on.
pub async fn change_settings(
    State(sh): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Json<SettingsJson>, ScenarioError> {
    let change: SettingsChange = body(&bytes, "settings body")?;
    let profile = match change.profile {
        None => None,
        Some(p) => Some(
            p.parse::<Profile>()
                .map_err(|e| ScenarioError::bad_request(e.to_string()))?,
        ),
    };
    if change
        .token_lifetime_secs
        .is_some_and(|s| !(1..=MAX_TOKEN_LIFETIME_SECS).contains(&s))
    {
        return Err(ScenarioError::bad_request(format!(
            "token_lifetime_secs must be from 1 to {MAX_TOKEN_LIFETIME_SECS}"
        )));
    }
    let mut inner = sh.myepo.lock();
    if let Some(p) = profile {
        inner.settings.profile = p;
    }
    if let Some(s) = change.token_lifetime_secs {
        inner.settings.token_lifetime_secs = s;
    }
    inner.settings_changed = true;
    sh.persist.mark_dirty();
    Ok(settings_json(&inner))
}
