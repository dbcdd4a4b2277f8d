//! The token endpoint and the Mailbox API (E1 to E3).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::TokenState;
use super::error::{ApiError, Detail, OktaError, no_store};
use super::mailbox::{Actor, Communication, Document, Filter, MarkStatus, normalize_application_number};
use super::profile::Profile;
use crate::Shared;
use crate::credentials::{MYEPO_CLIENT_ID, MYEPO_CLIENT_SECRET, MYEPO_SCOPE};

/// The only authorisation-server id the sandbox knows (`…/oauth2/sandbox/v1/token`).
const AUTH_SERVER_ID: &str = "sandbox";

/// E1 `limit`: default and maximum.
const PAGE_LIMIT: u64 = 100;

/// E3: most ids in one request.
const MARK_BATCH_MAX: usize = 100;

// Token endpoint

/// `POST /myepo/oauth2/{authServerId}/v1/token`: Okta's client-credentials grant.
///
/// Checks, in order: the authorisation server, the form, the client (Basic or
/// `client_secret_post`, not both), `grant_type`, `scope`. Repeated parameters are a 400
/// (RFC 6749 §3.2).
pub async fn token(
    State(sh): State<Arc<Shared>>,
    Path(auth_server_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if auth_server_id != AUTH_SERVER_ID {
        return unknown_auth_server(&auth_server_id);
    }
    match issue(&sh, &headers, form) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn issue(
    sh: &Shared,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, OktaError> {
    let Form(pairs) = form.map_err(|e| OktaError::invalid_request(e.body_text()))?;
    let mut params: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &pairs {
        if params.insert(k.as_str(), v.as_str()).is_some() {
            return Err(OktaError::invalid_request(format!(
                "The '{k}' parameter must not be repeated."
            )));
        }
    }
    authenticate_client(headers, &params)?;
    match params.get("grant_type") {
        None | Some(&"") => {
            return Err(OktaError::invalid_request(
                "The 'grant_type' parameter is required.",
            ));
        }
        Some(&"client_credentials") => {}
        Some(_) => {
            return Err(OktaError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: "The authorization grant type is not supported by the authorization server. \
                              Configured grant types: [client_credentials]."
                    .to_owned(),
                basic_challenge: false,
            });
        }
    }
    let requested = params.get("scope").copied().unwrap_or_default();
    if requested.split_whitespace().any(|s| s != MYEPO_SCOPE) {
        return Err(OktaError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_scope",
            description: "One or more scopes are not configured for the authorization server resource."
                .to_owned(),
            basic_challenge: false,
        });
    }
    let lifetime = sh.myepo.lock().settings.token_lifetime_secs;
    let access_token = sh.myepo.issue_token(Duration::from_secs(lifetime));
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "access_token": access_token,
        "scope": MYEPO_SCOPE,
    });
    Ok((no_store(), Json(body)).into_response())
}

fn authenticate_client(headers: &HeaderMap, params: &HashMap<&str, &str>) -> Result<(), OktaError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim());
    let (id, secret, via_basic) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OktaError::invalid_request(
                "Cannot supply multiple client credentials. Use one of the following: credentials in \
                 the Authorization header or credentials in the post body.",
            ));
        }
        (Some(encoded), None) => {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OktaError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OktaError::invalid_client(true))?;
            (id.to_owned(), secret.to_owned(), true)
        }
        (None, Some(secret)) => {
            let id = params.get("client_id").copied().unwrap_or_default();
            (id.to_owned(), (*secret).to_owned(), false)
        }
        (None, None) => return Err(OktaError::invalid_client(false)),
    };
    if id == MYEPO_CLIENT_ID && secret == MYEPO_CLIENT_SECRET {
        Ok(())
    } else {
        Err(OktaError::invalid_client(via_basic))
    }
}

/// Okta's API error for an authorisation server that does not exist.
fn unknown_auth_server(id: &str) -> Response {
    let body = json!({
        "errorCode": "E0000007",
        "errorSummary": format!("Not found: Resource not found: {id} (AuthorizationServer)"),
        "errorLink": "E0000007",
        "errorId": "sandbox",
        "errorCauses": [],
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

// Mailbox API helpers

/// Checks the bearer token of a Mailbox API call.
fn authorize(sh: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::invalid_token("An access token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(|| ApiError::invalid_token("The Authorization header must carry a Bearer token"))?;
    match sh.myepo.token_state(token) {
        TokenState::Valid => Ok(()),
        TokenState::Expired => Err(ApiError::invalid_token("The access token expired")),
        TokenState::Unknown => Err(ApiError::invalid_token("The access token is not valid")),
    }
}

/// Whether the `Accept` header admits `media` (`type/subtype`). No header, or an empty one,
/// admits everything; a range with `q=0` admits nothing.
fn accepts(headers: &HeaderMap, media: &str) -> bool {
    let Some(value) = headers.get(header::ACCEPT) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return true;
    };
    if value.trim().is_empty() {
        return true;
    }
    let type_any = format!("{}/*", media.split('/').next().unwrap_or_default());
    value.split(',').any(|range| {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        !refused && (name == "*/*" || name == media || name == type_any)
    })
}

/// Query parameters by name; the last value of a repeated one wins.
fn query_map(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", e.body_text()))?;
    Ok(pairs.into_iter().collect())
}

fn parse_bool(params: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    match params.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" => Ok(Some(false)),
        Some(v) => Err(ApiError::invalid(
            name,
            format!("Parameter '{name}' must be true or false, not '{v}'"),
        )),
    }
}

fn parse_date(params: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    let Some(v) = params.get(name) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            name,
            format!("Parameter '{name}' must be a date YYYY-MM-DD, not '{v}'"),
        )
    };
    if v.len() != 10 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| bad())
}

// E1

struct ListQuery {
    filter: Filter,
    offset: u64,
    limit: u64,
}

impl ListQuery {
    fn parse(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let offset = match params.get("offset") {
            None => 0,
            Some(v) => v.parse::<u64>().map_err(|_| {
                ApiError::invalid(
                    "offset",
                    format!("Parameter 'offset' must be an integer >= 0, not '{v}'"),
                )
            })?,
        };
        let limit = match params.get("limit") {
            None => PAGE_LIMIT,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|l| (1..=PAGE_LIMIT).contains(l))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("Parameter 'limit' must be an integer from 1 to {PAGE_LIMIT}, not '{v}'"),
                    )
                })?,
        };
        let from = parse_date(params, "dispatchDateFrom")?;
        let to = parse_date(params, "dispatchDateTo")?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ApiError::invalid(
                "dispatchDateFrom",
                "Parameter 'dispatchDateFrom' must not be after 'dispatchDateTo'",
            ));
        }
        let application_number = match params.get("applicationNumber") {
            None => None,
            Some(v) if v.trim().is_empty() => {
                return Err(ApiError::invalid(
                    "applicationNumber",
                    "Parameter 'applicationNumber' must not be empty",
                ));
            }
            Some(v) => Some(normalize_application_number(v)),
        };
        Ok(ListQuery {
            filter: Filter {
                handled: parse_bool(params, "handled")?,
                read: parse_bool(params, "read")?,
                from,
                to,
                application_number,
            },
            offset,
            limit,
        })
    }
}

/// `GET /myepo/v1/communications`.
pub async fn list(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers)?;
    if !accepts(&headers, "application/json") {
        return Err(ApiError::not_acceptable("application/json"));
    }
    let q = ListQuery::parse(&query_map(query)?)?;
    let now = sh.clock.now();
    let (profile, total, page) = {
        let mut inner = sh.myepo.lock();
        let (total, page) = inner.mailbox.list(&q.filter, q.offset, q.limit, now);
        (inner.settings.profile, total, page)
    };
    if !page.is_empty() {
        sh.persist.mark_dirty();
    }
    let origin = own_origin(&headers);
    Ok(Json(list_body(profile, &origin, total, q.offset, q.limit, &page)).into_response())
}

/// `http://<Host>` of the request (the sandbox's own origin as the client sees it), or empty
/// without a usable `Host`, which leaves an `href` an absolute path on the same origin.
fn own_origin(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// Whether `c` is listed with a `documents` array (and downloaded per document): always in
/// the `nested` profile, and in every profile when it has several files.
fn listed_nested(p: Profile, c: &Communication) -> bool {
    p.nested || c.documents.len() > 1
}

fn list_body(p: Profile, origin: &str, total: u64, offset: u64, limit: u64, page: &[Communication]) -> Value {
    let items: Vec<Value> = page.iter().map(|c| item(p, origin, c)).collect();
    if p.bare_array {
        return Value::Array(items);
    }
    let mut env = Map::new();
    if !p.no_total {
        env.insert(name(p, "totalCount", "total"), json!(total));
    }
    env.insert("offset".to_owned(), json!(offset));
    env.insert("limit".to_owned(), json!(limit));
    env.insert(name(p, "communications", "items"), Value::Array(items));
    Value::Object(env)
}

/// A field name in the profile's spelling.
fn name(p: Profile, canonical: &str, alias: &str) -> String {
    if p.aliases { alias } else { canonical }.to_owned()
}

fn item(p: Profile, origin: &str, c: &Communication) -> Value {
    let mut m = Map::new();
    m.insert(name(p, "communicationId", "id"), json!(c.id));
    m.insert(
        name(p, "applicationNumber", "applicationNumberText"),
        json!(c.application_number),
    );
    m.insert("procedure".to_owned(), json!(c.procedure));
    m.insert("documentCode".to_owned(), json!(c.document_code));
    m.insert("documentTitle".to_owned(), json!(c.document_title));
    m.insert(
        name(p, "dispatchDate", "documentDate"),
        json!(c.dispatch_date.format("%Y-%m-%d").to_string()),
    );
    m.insert(
        "deliveryDateTime".to_owned(),
        json!(c.delivery_date_time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    m.insert("recipientName".to_owned(), json!(c.recipient_name));
    m.insert("recipientId".to_owned(), json!(c.recipient_id));
    m.insert("userReference".to_owned(), json!(c.user_reference));
    m.insert("read".to_owned(), json!(c.read));
    m.insert("handled".to_owned(), json!(c.handled));
    let id = percent_encode(&c.id);
    let file = |m: &mut Map<String, Value>, d: &Document, path: String| {
        m.insert("fileName".to_owned(), json!(d.file_name));
        m.insert(name(p, "mediaType", "mimeType"), json!("application/pdf"));
        m.insert(name(p, "fileSize", "size"), json!(d.file_size));
        let href = d.href.clone().or_else(|| {
            p.href
                .then(|| format!("{origin}/myepo/v1/communications/{id}/{path}"))
        });
        if let Some(href) = href {
            m.insert("href".to_owned(), json!(href));
        }
    };
    if listed_nested(p, c) {
        let docs: Vec<Value> = c
            .documents
            .iter()
            .map(|d| {
                let mut dm = Map::new();
                dm.insert("documentId".to_owned(), json!(d.document_id));
                file(
                    &mut dm,
                    d,
                    format!("documents/{}", percent_encode(&d.document_id)),
                );
                Value::Object(dm)
            })
            .collect();
        m.insert("documents".to_owned(), Value::Array(docs));
    } else {
        file(&mut m, &c.documents[0], "file".to_owned());
    }
    Value::Object(m)
}

/// A path segment with everything but RFC 3986 unreserved characters percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// E2

/// `GET /myepo/v1/communications/{id}/file` (a communication listed flat).
pub async fn download_file(
    State(sh): State<Arc<Shared>>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    download(&sh, &method, &headers, query, &id, None)
}

/// `GET /myepo/v1/communications/{id}/documents/{documentId}` (one listed with `documents`).
pub async fn download_document(
    State(sh): State<Arc<Shared>>,
    method: Method,
    Path((id, document_id)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    download(&sh, &method, &headers, query, &id, Some(&document_id))
}

/// Serves one file. A `HEAD` request gets the same headers but neither sets `read` nor
/// logs anything: nobody saw the document.
fn download(
    sh: &Shared,
    method: &Method,
    headers: &HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    id: &str,
    document_id: Option<&str>,
) -> Result<Response, ApiError> {
    authorize(sh, headers)?;
    if !accepts(headers, "application/pdf") {
        return Err(ApiError::not_acceptable("application/pdf"));
    }
    let set_handled = parse_bool(&query_map(query)?, "setHandled")?;
    let now = sh.clock.now();
    let (pdf, file_name) = {
        let mut inner = sh.myepo.lock();
        let profile = inner.settings.profile;
        let set_handled = set_handled.unwrap_or(profile.flip_on_download);
        let seed = inner.mailbox.seed;
        let c = inner
            .mailbox
            .get(id)
            .ok_or_else(|| ApiError::communication_not_found(id))?;
        if listed_nested(profile, c) != document_id.is_some() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "RESOURCE_NOT_FOUND",
                "No such resource in this API",
            ));
        }
        let index = match document_id {
            None => 0,
            Some(d) => c
                .documents
                .iter()
                .position(|x| x.document_id == d)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "DOCUMENT_NOT_FOUND",
                        format!("Communication {id} has no document {d}"),
                    )
                })?,
        };
        let found = (c.pdf(seed, index), c.documents[index].file_name.clone());
        if method != Method::HEAD {
            inner.mailbox.downloaded(id, set_handled, now);
            sh.persist.mark_dirty();
        }
        found
    };
    let len = pdf.len();
    let etag = HeaderValue::from_str(pdf.etag()).ok();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let body = Body::from_stream(futures_util::stream::iter(
        pdf.chunks().map(Ok::<Bytes, Infallible>),
    ));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    if let Some(etag) = etag {
        h.insert(header::ETAG, etag);
    }
    Ok(resp)
}

// E3

#[derive(Deserialize)]
struct MarkRequest {
    #[serde(rename = "communicationIds")]
    communication_ids: Vec<String>,
}

/// `POST /myepo/v1/communications/handled`.
pub async fn mark_handled(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sh, &headers)?;
    if !accepts(&headers, "application/json") {
        return Err(ApiError::not_acceptable("application/json"));
    }
    if !is_json(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be application/json",
        ));
    }
    let req: MarkRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_BODY",
            format!("The request body is not a valid mark request: {e}"),
        )
    })?;
    let ids = req.communication_ids;
    if ids.is_empty() || ids.len() > MARK_BATCH_MAX {
        return Err(ApiError::invalid(
            "communicationIds",
            format!(
                "'communicationIds' must list 1 to {MARK_BATCH_MAX} ids, not {}",
                ids.len()
            ),
        ));
    }
    let now = sh.clock.now();
    let (profile, results) = {
        let mut inner = sh.myepo.lock();
        let profile = inner.settings.profile;
        if profile.mark_batch_error {
            let missing: Vec<Detail> = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| !inner.mailbox.contains(id))
                .map(|(i, id)| Detail {
                    code: "COMMUNICATION_NOT_FOUND",
                    target: format!("communicationIds[{i}]"),
                    message: format!("Communication {id} was not found in this Mailbox"),
                })
                .collect();
            if !missing.is_empty() {
                return Err(ApiError {
                    message: format!(
                        "{} of {} communications were not found; nothing was changed",
                        missing.len(),
                        ids.len()
                    ),
                    details: missing,
                    ..ApiError::new(StatusCode::NOT_FOUND, "COMMUNICATION_NOT_FOUND", "")
                });
            }
        }
        let results: Vec<(String, MarkStatus)> = ids
            .into_iter()
            .map(|id| {
                let status = inner.mailbox.mark(&id, Actor::Api, now);
                (id, status)
            })
            .collect();
        (profile, results)
    };
    if results.iter().any(|(_, s)| *s == MarkStatus::Handled) {
        sh.persist.mark_dirty();
    }
    if profile.mark_204 {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let results: Vec<Value> = results
        .into_iter()
        .map(|(id, status)| json!({ "communicationId": id, "status": status }))
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

/// `application/json` or any `+json` type, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

/// Any other path under `/myepo/`.
pub async fn no_such_resource() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        "No such resource in this API",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("ascii"));
        h
    }

    #[test]
    fn accept_ranges_and_q_zero() {
        assert!(accepts(&HeaderMap::new(), "application/pdf"));
        assert!(accepts(&accept("application/pdf"), "application/pdf"));
        assert!(accepts(&accept("text/html, */*;q=0.1"), "application/pdf"));
        assert!(accepts(&accept("application/*"), "application/pdf"));
        assert!(!accepts(&accept("application/json"), "application/pdf"));
        assert!(!accepts(&accept("application/pdf;q=0"), "application/pdf"));
    }
}
