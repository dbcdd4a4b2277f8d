//! Webhooks: our JSON event schema, a Teams Adaptive Card, an ntfy publish. The formats, and
//! the card rules [`check_teams_message`] enforces, are documented in `docs/webhooks.md`.
//!
//! What goes out is built by pure functions ([`payload`]); [`post`] only sends it and sorts
//! the answer into delivered, worth retrying, or not ([`outcome`]). The drain's backoff does
//! the retrying, so nothing here waits or honours `Retry-After`.
//!
//! A webhook is named by its `name` in every message: its URL is a secret (a Teams Workflows
//! URL carries its signature in the query), and so are the values of its extra headers.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::SendError;
use crate::config::{Webhook, WebhookFormat};
use crate::core::cases::{Office, parse_case};
use crate::core::notify::{Event, EventKind};
use crate::notify::render::headline;

/// The `schema` of every JSON webhook body: a receiver checks it before reading the rest.
pub const SCHEMA: &str = "mailroom.event/1";

/// Teams refuses a message above 28 KB.
pub const TEAMS_MAX_BYTES: usize = 28 * 1024;

/// ntfy turns a message body above 4,096 bytes into an attachment, which a phone shows as a
/// file instead of text; ours stays below.
pub const NTFY_MAX_BODY: usize = 4096;

/// The Adaptive Card version we write: the newest Teams renders in every client.
const CARD_VERSION: &str = "1.4";

const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// Items of a list (change lines, a digest's communications) shown one by one; the rest are
/// counted, so a card or a push stays readable and within its size limit.
const MAX_LINES: usize = 20;

/// A fact value longer than this is cut (a long office reason, an error text).
const MAX_VALUE_CHARS: usize = 500;

/// How much of a refusal's body an error quotes.
const MAX_EXCERPT: usize = 200;

/// A request as a format builds it, before the webhook's own headers are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub content_type: &'static str,
    /// Headers of the format (ntfy's `Title`, `Priority`, …); values are ASCII.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What an HTTP status means for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 408, 429, 5xx: the receiver may take it later.
    Retry,
    /// Any other status: the request itself is refused (a revoked URL, a bad token) and
    /// sending it again cannot help.
    Refused,
}

pub fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Refused,
    }
}

/// Posts `event` (delivery `delivery`) to `hook` in its format.
pub async fn post(
    http: &reqwest::Client,
    hook: &Webhook,
    delivery: i64,
    event: &Event,
) -> Result<String, SendError> {
    let name = &hook.name;
    let payload = payload(hook.format, delivery, event)
        .map_err(|e| SendError::Permanent(format!("webhook {name}: {e}")))?;
    let url = hook
        .parsed_url()
        .ok_or_else(|| SendError::Permanent(format!("webhook {name}: its url is not a URL")))?;
    let mut request = http
        .post(url)
        .timeout(hook.timeout)
        .header(CONTENT_TYPE, payload.content_type);
    for (header, value) in payload.headers {
        request = request.header(header, value);
    }
    for (header, value) in &hook.headers {
        let (Ok(header), Ok(mut value)) = (
            HeaderName::from_bytes(header.as_bytes()),
            HeaderValue::from_str(value.expose()),
        ) else {
            return Err(SendError::Permanent(format!(
                "webhook {name}: header {header} is not a valid HTTP header"
            )));
        };
        value.set_sensitive(true);
        request = request.header(header, value);
    }
    let response = request
        .body(payload.body)
        .send()
        .await
        .map_err(|e| transport_error(name, hook.timeout, e, hook.url.expose()))?;
    let status = response.status();
    let code = status.as_u16();
    match outcome(code) {
        Outcome::Delivered => Ok(format!("HTTP {code}")),
        verdict => {
            let excerpt = excerpt(response, hook.url.expose()).await;
            let hint = if status.is_redirection() {
                " (redirects are not followed, so that its headers go nowhere else: set url to the final address)"
            } else {
                ""
            };
            let text = format!("webhook {name}: HTTP {status}{hint}{excerpt}");
            Err(match verdict {
                Outcome::Retry => SendError::Transient(text),
                _ => SendError::Permanent(text),
            })
        }
    }
}

/// Whether `hook` answers at all, posting nothing (`mailroom check`): one `HEAD` without the
/// hook's headers (their values are secrets, and no answer needs them). Any status is an
/// answer (a receiver that takes only POST says 405), except a redirect: [`post`] does not
/// follow one, so every alert to this URL would fail. `http` must follow no redirects.
pub async fn reachable(http: &reqwest::Client, hook: &Webhook) -> Result<String, SendError> {
    let name = &hook.name;
    let url = hook
        .parsed_url()
        .ok_or_else(|| SendError::Permanent(format!("webhook {name}: its url is not a URL")))?;
    let response = http
        .head(url)
        .timeout(hook.timeout)
        .send()
        .await
        .map_err(|e| transport_error(name, hook.timeout, e, hook.url.expose()))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(SendError::Permanent(format!(
            "webhook {name}: HTTP {status}: a redirect, which alerts do not follow (so that its headers go nowhere else): set url to the final address"
        )));
    }
    Ok(format!("webhook {name}: answers (HTTP {status} to HEAD)"))
}

/// A request that got no answer, in words that name the webhook and never its URL.
fn transport_error(name: &str, timeout: Duration, e: reqwest::Error, url: &str) -> SendError {
    if e.is_timeout() {
        return SendError::Transient(format!(
            "webhook {name}: no answer within {} s",
            timeout.as_secs()
        ));
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_builder() {
        "cannot build the request"
    } else {
        "the request failed"
    };
    let is_builder = e.is_builder();
    let mut causes = Vec::new();
    let e = e.without_url();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let cause = scrub(&causes.join(": "), url);
    let text = if cause.is_empty() {
        format!("webhook {name}: {what}")
    } else {
        format!("webhook {name}: {what}: {cause}")
    };
    if is_builder {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// The start of a refusal's body, on one line (`: …`), or nothing.
async fn excerpt(mut response: reqwest::Response, url: &str) -> String {
    let mut body = Vec::new();
    while body.len() < 4 * MAX_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let text = scrub(&text, url);
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", cut(&text, MAX_EXCERPT))
    }
}

/// `text` without the webhook's URL or its path and query, should a server or a library echo
/// them.
fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "[url]");
    if let Ok(u) = url::Url::parse(url) {
        let secret_part = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        if secret_part.len() > 1 {
            out = out.replace(&secret_part, "[url]");
        }
    }
    out
}

/// At most `max` characters of `s`, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The request body and format headers for `event`.
pub fn payload(format: WebhookFormat, delivery: i64, event: &Event) -> Result<Payload, String> {
    match format {
        WebhookFormat::Json => {
            let body = serde_json::to_vec(&json!({
                "schema": SCHEMA,
                "delivery": delivery,
                "event": event,
            }))
            .map_err(|e| format!("the event does not encode as JSON: {e}"))?;
            Ok(Payload {
                content_type: "application/json",
                headers: Vec::new(),
                body,
            })
        }
        WebhookFormat::Teams => {
            let message = teams_message(event);
            if let Err(problems) = check_teams_message(&message) {
                return Err(format!(
                    "the Teams card breaks its rules: {}",
                    problems.join("; ")
                ));
            }
            let body =
                serde_json::to_vec(&message).map_err(|e| format!("the Teams card does not encode: {e}"))?;
            Ok(Payload {
                content_type: "application/json",
                headers: Vec::new(),
                body,
            })
        }
        WebhookFormat::Ntfy => Ok(ntfy(event)),
    }
}

/// The EP Register page of the event's EP application, if it has one (a link on a card, the
/// click target of a push).
pub fn ep_register_url(event: &Event) -> Option<String> {
    let number = match event {
        Event::Communication(c) if c.office == Office::Ep => c.application_number.as_str(),
        Event::Change(c) if c.office == Office::Ep => c.number.as_str(),
        Event::Quarantine(q) => q.application_number.as_str(),
        _ => return None,
    };
    let key = parse_case(number, Some(Office::Ep), None).ok()?;
    // `EP` + 8 digits is an application; a publication (`EP` + 7) has no application page.
    (key.number.len() == 10).then(|| format!("https://register.epo.org/application?number={}", key.number))
}

/// The labelled facts of an event, in the order a person reads them; absent or empty values
/// are left out.
fn facts(event: &Event) -> Vec<(&'static str, String)> {
    let facts: Vec<(&'static str, Option<String>)> = match event {
        Event::Communication(c) => vec![
            (
                "Case",
                Some(c.case.clone().unwrap_or_else(|| c.application_number.clone())),
            ),
            ("Client reference", c.client_reference.clone()),
            ("Form", Some(c.document_code.clone())),
            ("Title", Some(c.title.clone())),
            ("Date", Some(c.dispatch_date.clone())),
            ("Deadline", c.deadline.as_ref().map(|d| d.line.clone())),
            ("Archived", Some(c.archived_at.clone())),
        ],
        Event::Deadline(r) => vec![
            (
                "Case",
                Some(r.case.clone().unwrap_or_else(|| r.application_number.clone())),
            ),
            ("Client reference", r.client_reference.clone()),
            ("Title", Some(r.title.clone())),
            ("Date", Some(r.document_date.clone())),
            ("Due", Some(r.due.clone())),
            ("Deadline", Some(r.deadline.line.clone())),
            (
                "What to do",
                Some(format!(
                    "mailroom deadlines ack {} --by NAME, once docketed",
                    r.deadline_id
                )),
            ),
        ],
        Event::DeadlineCheck(k) => vec![
            ("Case", Some(k.case.clone())),
            ("Client reference", k.client_reference.clone()),
            ("Register step", Some(format!("{}, {}", k.step_id, k.step))),
            ("Date", Some(k.dispatch_date.clone())),
            ("Register's period", Some(k.register_period.clone())),
            ("Deadline", k.deadline.as_ref().map(|d| d.line.clone())),
            ("Detected", Some(k.detected_at.clone())),
        ],
        Event::Change(c) => vec![
            ("Case", Some(c.case.clone())),
            ("Client reference", c.client_reference.clone()),
            ("Right", Some(c.right.clone())),
            ("Status", c.status.clone()),
            (
                "Date",
                c.changes
                    .iter()
                    .map(|l| l.date.clone())
                    .filter(|d| !d.is_empty())
                    .max(),
            ),
            ("Detected", Some(c.detected_at.clone())),
        ],
        Event::Quarantine(q) => vec![
            ("Communication", Some(q.id.clone())),
            ("Case", Some(q.application_number.clone())),
            ("Client reference", q.client_reference.clone()),
            ("Form", Some(q.document_code.clone())),
            ("Title", Some(q.title.clone())),
            ("Date", Some(q.dispatch_date.clone())),
            (
                "Status",
                Some(format!("quarantined after {} attempt(s)", q.attempts)),
            ),
            ("Reason", Some(q.reason.clone())),
        ],
        Event::OfficeStop(s) => vec![
            ("Office", Some(s.office.clone())),
            ("Job", Some(s.job.clone())),
            ("Reason", Some(s.reason.clone())),
            ("What to do", s.action.clone()),
            ("Stopped", Some(s.stopped_at.clone())),
        ],
        Event::DeliveryFailed(f) => vec![
            ("Channel", Some(f.channel.as_str().to_owned())),
            ("Recipient", Some(f.recipient.clone())),
            ("About", Some(f.about.clone())),
            (
                "Status",
                Some(format!("given up after {} attempt(s)", f.attempts)),
            ),
            ("Error", Some(f.error.clone())),
            ("Date", Some(f.failed_at.clone())),
        ],
        Event::Digest(d) => vec![
            ("Day", Some(d.day.clone())),
            ("New communications", Some(d.communications.len().to_string())),
            ("Cases changed", Some(d.changes.len().to_string())),
            ("Waiting or quarantined", Some(d.outstanding.len().to_string())),
            (
                "Notifications failed",
                Some(d.delivery_failures.len().to_string()),
            ),
        ],
        Event::Test(t) => vec![
            ("From", Some(t.from_host.clone())),
            ("Sent", Some(t.sent_at.clone())),
        ],
    };
    facts
        .into_iter()
        .filter_map(|(title, value)| {
            let value = value?;
            let value = value.trim();
            (!value.is_empty()).then(|| (title, cut(value, MAX_VALUE_CHARS)))
        })
        .collect()
}

/// The list under the facts: the archived files, the change lines, a digest's items.
fn details(event: &Event) -> Vec<String> {
    let lines: Vec<String> = match event {
        Event::Communication(c) => c.documents.iter().map(|d| format!("File: {}", d.path)).collect(),
        Event::Change(c) => c
            .changes
            .iter()
            .map(|l| {
                if l.date.is_empty() {
                    l.summary.clone()
                } else {
                    format!("{}: {}", l.date, l.summary)
                }
            })
            .collect(),
        Event::Digest(d) => d
            .communications
            .iter()
            .map(|c| headline(&Event::Communication(c.clone())))
            .chain(d.changes.iter().map(|c| headline(&Event::Change(c.clone()))))
            .chain(d.deadlines.iter().map(|x| x.line.clone()))
            .chain(d.quota.iter().cloned())
            .collect(),
        Event::Deadline(r) => r.deadline.steps.clone(),
        Event::DeadlineCheck(k) => vec![k.summary.clone()],
        Event::Quarantine(_) | Event::OfficeStop(_) | Event::DeliveryFailed(_) | Event::Test(_) => Vec::new(),
    };
    let mut lines: Vec<String> = lines
        .into_iter()
        .map(|l| cut(l.trim(), MAX_VALUE_CHARS))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!("… and {more} more"));
    }
    lines
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// The Workflows message carrying one Adaptive Card: a title, the facts, the details, and a
/// link to the EP Register for an EP case.
pub fn teams_message(event: &Event) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline(event),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    let facts: Vec<Value> = facts(event)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let details: Vec<Value> = details(event).iter().map(|l| text_block(l)).collect();
    if !details.is_empty() {
        body.push(json!({"type": "Container", "items": details}));
    }
    let mut card = json!({
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    });
    if let Some(url) = ep_register_url(event) {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": "Open in the European Patent Register",
            "url": url,
        }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": CARD_CONTENT_TYPE,
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Checks a Teams message against the rules of `docs/webhooks.md`; every broken rule is one
/// line of the error. Iterative over the card's elements, so no input makes it recurse.
pub fn check_teams_message(message: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let size = serde_json::to_vec(message).map_or(usize::MAX, |b| b.len());
    if size > TEAMS_MAX_BYTES {
        problems.push(format!(
            "the message is {size} bytes, above Teams' {TEAMS_MAX_BYTES}"
        ));
    }
    no_empty_strings(message, &mut problems);
    if message["type"] != "message" {
        problems.push("the envelope's type is not \"message\"".into());
    }
    let card = match message["attachments"].as_array().map(Vec::as_slice) {
        Some([one]) => {
            if one["contentType"] != CARD_CONTENT_TYPE {
                problems.push(format!("the attachment's contentType is not {CARD_CONTENT_TYPE}"));
            }
            if !one.get("contentUrl").is_some_and(Value::is_null) {
                problems.push("the attachment's contentUrl is not null".into());
            }
            &one["content"]
        }
        _ => {
            problems.push("the envelope does not hold exactly one attachment".into());
            return Err(problems);
        }
    };
    if card["$schema"] != CARD_SCHEMA {
        problems.push(format!("the card's $schema is not {CARD_SCHEMA}"));
    }
    if card["type"] != "AdaptiveCard" {
        problems.push("the card's type is not \"AdaptiveCard\"".into());
    }
    match card["version"].as_str() {
        Some("1.0" | "1.1" | "1.2" | "1.3" | "1.4") => {}
        other => problems.push(format!("the card's version {other:?} is not one of 1.0–1.4")),
    }
    match card["body"].as_array() {
        Some(body) if !body.is_empty() => check_elements(body, "body", &mut problems),
        _ => problems.push("the card's body is not a non-empty array".into()),
    }
    if let Some(actions) = card.get("actions") {
        match actions.as_array() {
            Some(actions) => {
                for (i, a) in actions.iter().enumerate() {
                    if a["type"] != "Action.OpenUrl" {
                        problems.push(format!("actions[{i}] is not an Action.OpenUrl"));
                    }
                    if !a["title"].is_string() {
                        problems.push(format!("actions[{i}] has no title"));
                    }
                    let url_ok = a["url"]
                        .as_str()
                        .and_then(|u| url::Url::parse(u).ok())
                        .is_some_and(|u| matches!(u.scheme(), "https" | "http"));
                    if !url_ok {
                        problems.push(format!("actions[{i}] has no http(s) url"));
                    }
                }
            }
            None => problems.push("the card's actions are not an array".into()),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The body elements' rules: known types only; a TextBlock has text, a FactSet facts of
/// string titles and values, a Container items, a ColumnSet columns of items.
fn check_elements(top: &[Value], at: &str, problems: &mut Vec<String>) {
    let mut stack: Vec<(String, &Value)> = top
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("{at}[{i}]"), e))
        .collect();
    while let Some((path, e)) = stack.pop() {
        match e["type"].as_str() {
            Some("TextBlock") => {
                if !e["text"].is_string() {
                    problems.push(format!("{path} is a TextBlock without text"));
                }
            }
            Some("FactSet") => match e["facts"].as_array() {
                Some(facts) if !facts.is_empty() => {
                    for (i, f) in facts.iter().enumerate() {
                        if !f["title"].is_string() || !f["value"].is_string() {
                            problems.push(format!("{path}.facts[{i}] lacks a string title or value"));
                        }
                    }
                }
                _ => problems.push(format!("{path} is a FactSet without facts")),
            },
            Some("Container") => push_items(&e["items"], &path, &mut stack, problems),
            Some("ColumnSet") => match e["columns"].as_array() {
                Some(columns) if !columns.is_empty() => {
                    for (i, c) in columns.iter().enumerate() {
                        let cpath = format!("{path}.columns[{i}]");
                        if c["type"] != "Column" {
                            problems.push(format!("{cpath} is not a Column"));
                        }
                        push_items(&c["items"], &cpath, &mut stack, problems);
                    }
                }
                _ => problems.push(format!("{path} is a ColumnSet without columns")),
            },
            other => problems.push(format!("{path} has unknown type {other:?}")),
        }
    }
}

/// Queues the `items` of a Container or Column for checking; it must have some.
fn push_items<'a>(
    items: &'a Value,
    path: &str,
    stack: &mut Vec<(String, &'a Value)>,
    problems: &mut Vec<String>,
) {
    match items.as_array() {
        Some(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                stack.push((format!("{path}.items[{i}]"), item));
            }
        }
        _ => problems.push(format!("{path} has no items")),
    }
}

/// Teams shows an empty string as an empty row, or refuses the card: none anywhere.
fn no_empty_strings(v: &Value, problems: &mut Vec<String>) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                problems.push("the card holds an empty string".into());
                return;
            }
            Value::Array(a) => stack.extend(a),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
}

/// ntfy's priority (1 min … 5 max): what needs a person now is high, the digest low.
pub fn ntfy_priority(kind: EventKind) -> u8 {
    match kind {
        EventKind::Quarantine
        | EventKind::OfficeStop
        | EventKind::DeliveryFailed
        | EventKind::DeadlineCheck => 4,
        EventKind::Deadline => 4,
        EventKind::Communication | EventKind::Change | EventKind::Test => 3,
        EventKind::Digest => 2,
    }
}

/// ntfy's tags: an emoji short code (ntfy shows it before the title), the kind, the office.
fn ntfy_tags(event: &Event) -> String {
    let kind = event.kind();
    let emoji = match kind {
        EventKind::Communication => "incoming_envelope",
        EventKind::Change => "memo",
        EventKind::Quarantine => "warning",
        EventKind::OfficeStop => "rotating_light",
        EventKind::DeliveryFailed => "x",
        EventKind::Deadline => "alarm_clock",
        EventKind::DeadlineCheck => "mag",
        EventKind::Digest => "newspaper",
        EventKind::Test => "white_check_mark",
    };
    let office = match event {
        Event::Communication(c) => Some(c.office),
        Event::Change(c) => Some(c.office),
        Event::Quarantine(_) | Event::DeadlineCheck(_) => Some(Office::Ep),
        Event::Deadline(r) => Some(r.office),
        _ => None,
    };
    let mut tags = vec![emoji, kind.as_str()];
    if let Some(o) = office {
        tags.push(match o {
            Office::Ep => "epo",
            Office::Jp => "jpo",
        });
    }
    tags.join(",")
}

/// An HTTP header value for any text: ASCII as it is, anything else as RFC 2047 encoded
/// words (`=?UTF-8?B?…?=`), which ntfy decodes. Each word holds at most 45 bytes of UTF-8
/// (60 of base64), so it stays within RFC 2047's 75 characters; a character is never split.
pub fn header_text(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_ascii() {
        return text;
    }
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > 45 {
            words.push(&text[start..end]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    words.push(&text[start..end]);
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An ntfy publish: the facts and details as plain-text lines (at most [`NTFY_MAX_BODY`]
/// bytes), the headline as the title.
fn ntfy(event: &Event) -> Payload {
    let lines = facts(event)
        .into_iter()
        .map(|(title, value)| format!("{title}: {value}"))
        .chain(details(event));
    let mut body = String::new();
    for line in lines {
        if body.len() + line.len() + 1 > NTFY_MAX_BODY - 4 {
            body.push('…');
            break;
        }
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&line);
    }
    let mut headers = vec![
        ("Title", header_text(&headline(event))),
        ("Priority", ntfy_priority(event.kind()).to_string()),
        ("Tags", ntfy_tags(event)),
    ];
    if let Some(url) = ep_register_url(event) {
        headers.push(("Click", url));
    }
    Payload {
        content_type: "text/plain; charset=utf-8",
        headers,
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::notify::{
        CaseChanged, ChangeLine, Channel, Communication, DeliveryFailed, Digest, Document, OfficeStopped,
        Quarantined, TestMessage,
    };

    fn communication() -> Event {
        Event::Communication(Communication {
            id: "EPO-2026-000123".into(),
            office: Office::Ep,
            application_number: "EP23184567.2".into(),
            case: Some("EP23184567".into()),
            client_reference: Some("ACME-P-0042-EP".into()),
            document_code: "2004".into(),
            title: "Communication under Rule 71(3) EPC".into(),
            dispatch_date: "2026-03-14".into(),
            delivered_at: None,
            archived_at: "2026-03-14T08:00:00Z".into(),
            documents: vec![Document {
                file_name: Some("EPO-2026-000123.pdf".into()),
                media_type: Some("application/pdf".into()),
                path: "EP23184567/2026-03-14_2004_EPO-2026-000123.pdf".into(),
                size: 1234,
                sha256: "ab".repeat(32),
            }],
            deadline: None,
        })
    }

    fn change(office: Office, number: &str, lines: usize) -> Event {
        Event::Change(CaseChanged {
            office,
            case: number.into(),
            number: number.into(),
            right: "patent".into(),
            client_reference: None,
            status: Some("Grant of patent is intended".into()),
            detected_at: "2026-03-15T02:00:00Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: (0..lines)
                .map(|i| ChangeLine {
                    kind: "event".into(),
                    date: if i == 0 {
                        String::new()
                    } else {
                        "2026-03-14".into()
                    },
                    summary: format!("{number}: event {i} {}", "x".repeat(2000)),
                    old: None,
                    new: None,
                })
                .collect(),
        })
    }

    fn every_kind() -> Vec<Event> {
        vec![
            communication(),
            change(Office::Ep, "EP23184567", 1),
            change(Office::Jp, "2020123456", 3),
            Event::Quarantine(Quarantined {
                id: "q1".into(),
                application_number: "EP23184567.2".into(),
                client_reference: None,
                document_code: "2004".into(),
                title: "t".into(),
                dispatch_date: "2026-03-14".into(),
                attempts: 5,
                reason: "served text/html".into(),
                quarantined_at: "2026-03-14T08:00:00Z".into(),
            }),
            Event::OfficeStop(OfficeStopped {
                office: "EPO OPS".into(),
                job: "status".into(),
                reason: "credentials refused".into(),
                action: Some(String::new()),
                stopped_at: "2026-03-14T08:00:00Z".into(),
            }),
            Event::DeliveryFailed(DeliveryFailed {
                delivery_id: 7,
                channel: Channel::Webhook,
                recipient: "teams".into(),
                about: "x".into(),
                attempts: 8,
                error: "HTTP 400".into(),
                failed_at: "2026-03-14T08:00:00Z".into(),
            }),
            Event::Digest(Digest {
                day: "2026-03-14".into(),
                since: "2026-03-13T06:00:00Z".into(),
                until: "2026-03-14T06:00:00Z".into(),
                communications: Vec::new(),
                changes: (0..200)
                    .map(|i| match change(Office::Ep, &format!("EP2318{i:04}"), 40) {
                        Event::Change(c) => c,
                        _ => unreachable!(),
                    })
                    .collect(),
                outstanding: Vec::new(),
                delivery_failures: Vec::new(),
                quota: vec!["EPO OPS: 1.2 GB of 4 GB this week".into()],
                jobs: Vec::new(),
                deadlines: Vec::new(),
            }),
            Event::Test(TestMessage {
                sent_at: "2026-03-14T08:00:00Z".into(),
                from_host: "mailroom-01".into(),
            }),
        ]
    }

    #[test]
    fn statuses_sort_into_delivered_retry_and_refused() {
        let table = [
            (200, Outcome::Delivered),
            (202, Outcome::Delivered),
            (204, Outcome::Delivered),
            (301, Outcome::Refused),
            (400, Outcome::Refused),
            (401, Outcome::Refused),
            (404, Outcome::Refused),
            (408, Outcome::Retry),
            (413, Outcome::Refused),
            (429, Outcome::Retry),
            (500, Outcome::Retry),
            (503, Outcome::Retry),
            (599, Outcome::Retry),
        ];
        for (status, want) in table {
            assert_eq!(outcome(status), want, "{status}");
        }
    }

    #[test]
    fn every_kind_makes_a_valid_card_even_when_huge() {
        for e in every_kind() {
            let m = teams_message(&e);
            assert_eq!(check_teams_message(&m), Ok(()), "{}", e.kind().as_str());
            assert!(payload(WebhookFormat::Teams, 1, &e).is_ok());
        }
    }

    #[test]
    fn the_card_check_catches_each_broken_rule() {
        let good = teams_message(&communication());
        type Breaker = Box<dyn Fn(&mut Value)>;
        let breakers: Vec<(&str, Breaker)> = vec![
            ("type", Box::new(|m| m["type"] = json!("card"))),
            ("exactly one", Box::new(|m| m["attachments"] = json!([]))),
            (
                "contentUrl",
                Box::new(|m| m["attachments"][0]["contentUrl"] = json!("x")),
            ),
            (
                "version",
                Box::new(|m| m["attachments"][0]["content"]["version"] = json!("2.0")),
            ),
            (
                "unknown type",
                Box::new(|m| m["attachments"][0]["content"]["body"][0]["type"] = json!("Image")),
            ),
            (
                "without text",
                Box::new(|m| {
                    m["attachments"][0]["content"]["body"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("text");
                }),
            ),
            (
                "title or value",
                Box::new(|m| m["attachments"][0]["content"]["body"][1]["facts"][0]["value"] = json!(3)),
            ),
            (
                "no items",
                Box::new(|m| m["attachments"][0]["content"]["body"][2]["items"] = json!([])),
            ),
            (
                "unknown type",
                Box::new(|m| m["attachments"][0]["content"]["body"][2]["items"][0]["type"] = json!("Media")),
            ),
            (
                "not a Column",
                Box::new(|m| {
                    m["attachments"][0]["content"]["body"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"type": "ColumnSet", "columns": [{"type": "X", "items": [{"type": "TextBlock", "text": "a"}]}]}))
                }),
            ),
            (
                "Action.OpenUrl",
                Box::new(|m| m["attachments"][0]["content"]["actions"][0]["type"] = json!("Action.Submit")),
            ),
            (
                "http(s) url",
                Box::new(|m| m["attachments"][0]["content"]["actions"][0]["url"] = json!("file:///etc")),
            ),
            (
                "empty string",
                Box::new(|m| m["attachments"][0]["content"]["body"][1]["facts"][0]["value"] = json!(" ")),
            ),
            (
                "bytes",
                Box::new(|m| {
                    m["attachments"][0]["content"]["body"][0]["text"] = json!("x".repeat(TEAMS_MAX_BYTES))
                }),
            ),
        ];
        assert_eq!(check_teams_message(&good), Ok(()));
        for (want, breaker) in breakers {
            let mut m = good.clone();
            breaker(&mut m);
            let problems = check_teams_message(&m).expect_err(want);
            assert!(problems.iter().any(|p| p.contains(want)), "{want}: {problems:?}");
        }
    }

    #[test]
    fn ep_cases_link_to_the_register_and_others_do_not() {
        let url = |e: &Event| ep_register_url(e);
        assert_eq!(
            url(&communication()).as_deref(),
            Some("https://register.epo.org/application?number=EP23184567")
        );
        assert_eq!(
            url(&change(Office::Ep, "EP23184567", 1)).as_deref(),
            Some("https://register.epo.org/application?number=EP23184567")
        );
        assert_eq!(url(&change(Office::Ep, "EP2400812", 1)), None, "a publication");
        assert_eq!(url(&change(Office::Jp, "2020123456", 1)), None);
        let card = teams_message(&change(Office::Jp, "2020123456", 1));
        assert!(card["attachments"][0]["content"].get("actions").is_none());
    }

    #[test]
    fn json_carries_schema_delivery_and_the_tagged_event() {
        let p = payload(WebhookFormat::Json, 42, &communication()).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["delivery"], 42);
        assert_eq!(v["event"]["type"], "communication");
        assert_eq!(
            serde_json::from_value::<Event>(v["event"].clone()).unwrap(),
            communication()
        );
    }

    fn decode_words(h: &str) -> String {
        h.split(' ')
            .map(|w| {
                let b64 = w
                    .strip_prefix("=?UTF-8?B?")
                    .and_then(|w| w.strip_suffix("?="))
                    .unwrap();
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
            })
            .collect()
    }

    #[test]
    fn header_text_is_ascii_and_decodes_back() {
        assert_eq!(header_text("plain ASCII"), "plain ASCII");
        assert_eq!(header_text("a\r\nb"), "a  b", "no header injection");
        for text in [
            "[EPO] EP1 · ACME · Form 2004",
            "特願2020-123456 の通知",
            &"ü€😀".repeat(40),
        ] {
            let h = header_text(text);
            assert!(h.is_ascii(), "{h}");
            assert!(h.split(' ').all(|w| w.len() <= 75), "{h}");
            assert_eq!(decode_words(&h), text);
        }
    }

    #[test]
    fn ntfy_has_title_priority_tags_click_and_a_bounded_body() {
        let p = payload(WebhookFormat::Ntfy, 1, &communication()).unwrap();
        let h = |k: &str| p.headers.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(decode_words(&h("Title").unwrap()), headline(&communication()));
        assert_eq!(h("Priority").as_deref(), Some("3"));
        assert_eq!(h("Tags").as_deref(), Some("incoming_envelope,communication,epo"));
        assert_eq!(
            h("Click").as_deref(),
            Some("https://register.epo.org/application?number=EP23184567")
        );
        let body = String::from_utf8(p.body).unwrap();
        assert!(body.contains("Client reference: ACME-P-0042-EP"), "{body}");
        assert!(body.contains("File: EP23184567/2026-03-14_2004"), "{body}");
        let kinds: Vec<u8> = every_kind().iter().map(|e| ntfy_priority(e.kind())).collect();
        assert_eq!(kinds, [3, 3, 3, 4, 4, 4, 2, 3]);
        for e in every_kind() {
            let p = payload(WebhookFormat::Ntfy, 1, &e).unwrap();
            assert!(p.body.len() <= NTFY_MAX_BODY, "{}", e.kind().as_str());
            assert!(p.headers.iter().all(|(_, v)| v.is_ascii() && !v.is_empty()));
        }
    }

    #[test]
    fn scrubbing_removes_the_url_and_its_signature() {
        let url = "https://prod.example/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRET";
        let text =
            format!("error for {url}: /workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRET");
        let s = scrub(&text, url);
        assert!(!s.contains("SECRET"), "{s}");
        assert_eq!(scrub("nothing here", "http://127.0.0.1:1/"), "nothing here");
    }
}
