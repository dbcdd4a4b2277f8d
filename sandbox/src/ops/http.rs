//! The OPS HTTP surface: the token endpoint, the gateway every `rest-services` request passes
//! (token, byte quotas, throttling, the usage headers) and the Register, legal and family
//! services behind it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;

use super::family::{self, Reference};
use super::register::{self, Case, DocNumber, Parts, parse_number};
use super::samples::Inpadoc;
use super::search::{self, RangeError};
use super::throttle::Bucket;
use super::xml::{self, Element, Ns};
use super::{INPADOC_PREFIXES, MultiNumber, NotFound, REGISTER_JSON_PREFIXES, Settings};
use crate::Shared;

const REST: &str = "/ops/3.2/rest-services/";
/// Requests without a valid token are shown (not counted) against this pseudo-credential.
const ANONYMOUS: &str = "anonymous";
/// The most results a search reports (`total-result-count`, as recorded).
const MAX_TOTAL: usize = 10_000;

const FAIR_USE: &str = "<error><code>403</code><message>This request has been rejected due to the violation \
     of Fair Use policy</message><moreInfo>https://www.epo.org/service-support/ordering/fair-use.html\
     </moreInfo></error>";

pub fn routes() -> Router<Arc<Shared>> {
    const R: &str = "/ops/3.2/rest-services";
    // One handler parses every service path itself; the routes only name the endpoints in
    // the sandbox statistics.
    Router::new()
        .route("/ops/3.2/auth/accesstoken", any(token))
        .route(&format!("{R}/register/search"), any(rest))
        .route(&format!("{R}/register/search/{{constituent}}"), any(rest))
        .route(&format!("{R}/register/{{reference}}/{{format}}"), any(rest))
        .route(
            &format!("{R}/register/{{reference}}/{{format}}/{{number}}"),
            any(rest),
        )
        .route(
            &format!("{R}/register/{{reference}}/{{format}}/{{number}}/{{constituents}}"),
            any(rest),
        )
        .route(&format!("{R}/legal/{{*path}}"), any(rest))
        .route(&format!("{R}/family/{{*path}}"), any(rest))
        .route(&format!("{R}/{{*path}}"), any(rest))
}

/// A service answer before the gateway adds its headers.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    fn error_xml(status: StatusCode, body: String) -> Reply {
        Reply {
            status,
            content_type: "application/xml",
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// The 403 of a fair-use rejection (`text/xml`, as recorded) with its `X-Rejection-Reason`.
    fn fair_use(reason: &str) -> Reply {
        Reply {
            status: StatusCode::FORBIDDEN,
            content_type: "text/xml",
            body: Bytes::from_static(FAIR_USE.as_bytes()),
            headers: Vec::new(),
        }
        .with_header(HeaderName::from_static("x-rejection-reason"), reason)
    }

    fn with_header(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if self.status == StatusCode::OK {
            let mut hasher = DefaultHasher::new();
            self.body.hash(&mut hasher);
            if let Ok(v) = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish())) {
                h.insert(header::ETAG, v);
            }
            h.insert(header::VARY, HeaderValue::from_static("Accept"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        }
        for (k, v) in self.headers {
            h.insert(k, v);
        }
        resp
    }
}

/// A service error: an OPS `<fault>`, or the empty 404 of 2016.
enum Failure {
    Fault {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    EmptyNotFound,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure::Fault {
            status,
            code,
            message: message.into(),
        }
    }

    fn no_results() -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "SERVER.EntityNotFound", "No results found")
    }

    fn not_found(settings: &Settings) -> Failure {
        match settings.not_found {
            NotFound::Fault => Failure::no_results(),
            NotFound::Empty => Failure::EmptyNotFound,
        }
    }

    fn method() -> Failure {
        Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "CLIENT.MethodNotAllowed",
            "This method is not allowed here",
        )
    }

    fn into_reply(self) -> Reply {
        match self {
            Failure::Fault {
                status,
                code,
                message,
            } => Reply::error_xml(status, fault_xml(code, &message)),
            Failure::EmptyNotFound => Reply {
                status: StatusCode::NOT_FOUND,
                content_type: "application/xml",
                body: Bytes::new(),
                headers: Vec::new(),
            },
        }
    }
}

fn fault_xml(code: &str, message: &str) -> String {
    let fault = Element::new(Ns::Ops, "fault")
        .with_child(Element::new(Ns::Ops, "code").with_text(code))
        .with_child(Element::new(Ns::Ops, "message").with_text(message));
    xml::serialize(
        &fault,
        &xml::Style {
            declaration: "",
            stylesheet: None,
            prefixes: &[],
            indent: None,
        },
    )
}

fn error_xml(code: u16, message: &str, description: Option<&str>) -> String {
    let mut e = Element::new(Ns::None, "error")
        .with_child(Element::new(Ns::None, "code").with_text(&code.to_string()))
        .with_child(Element::new(Ns::None, "message").with_text(message));
    if let Some(d) = description {
        e = e.with_child(Element::new(Ns::None, "description").with_text(d));
    }
    xml::serialize(
        &e,
        &xml::Style {
            declaration: "",
            stylesheet: None,
            prefixes: &[],
            indent: None,
        },
    )
}

/// The `<fault>` for a status injected by the fault middleware.
pub fn injected_fault(status: StatusCode) -> Response {
    let (code, message): (String, &str) = match status.as_u16() {
        400 => ("CLIENT.InvalidQuery".into(), "The request is invalid"),
        403 => (
            "CLIENT.RobotDetected".into(),
            "Recent behaviour implies you are a robot. The server is at the moment busy to serve robots. \
             Please try again later",
        ),
        404 => ("SERVER.EntityNotFound".into(), "No results found"),
        405 => (
            "CLIENT.MethodNotAllowed".into(),
            "This method is not allowed here",
        ),
        408 => ("CLIENT.RequestTimeout".into(), "The request timed out"),
        413 => ("CLIENT.AmbiguousRequest".into(), "The request is ambiguous"),
        500 => ("SERVER.DomainAccess".into(), "The request could not be processed"),
        503 => ("SERVER.LimitedServerResources".into(), "Temporarily unavailable"),
        s => {
            let reason: String = status
                .canonical_reason()
                .unwrap_or("Error")
                .split(|c: char| !c.is_ascii_alphanumeric())
                .collect();
            let side = if s < 500 { "CLIENT" } else { "SERVER" };
            (format!("{side}.{reason}"), "The request could not be served")
        }
    };
    Reply::error_xml(status, fault_xml(&code, message)).into_response()
}

/// `POST /ops/3.2/auth/accesstoken`.
async fn token(State(sh): State<Arc<Shared>>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if method != Method::POST {
        return Reply::error_xml(
            StatusCode::METHOD_NOT_ALLOWED,
            error_xml(405, "Method not allowed", None),
        )
        .into_response();
    }
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(client) = super::auth::check_basic(auth) else {
        return Reply::error_xml(
            StatusCode::UNAUTHORIZED,
            error_xml(401, "ClientId is Invalid", None),
        )
        .with_header(header::WWW_AUTHENTICATE, "Basic")
        .into_response();
    };
    let form = form_pairs(&String::from_utf8_lossy(&body));
    match form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
    {
        Some("client_credentials") => {}
        None => {
            return Reply::error_xml(
                StatusCode::BAD_REQUEST,
                error_xml(400, "invalid_request", Some("Required param : grant_type")),
            )
            .into_response();
        }
        Some(other) => {
            return Reply::error_xml(
                StatusCode::BAD_REQUEST,
                error_xml(
                    400,
                    "unsupported_grant_type",
                    Some(&format!("Unsupported grant type : {other}")),
                ),
            )
            .into_response();
        }
    }
    let lifetime = sh.ops.settings().token_lifetime_secs;
    let issued = super::lock(&sh.ops.tokens).issue(client, lifetime);
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    // The live 2022 shape, in its order; every value is a string.
    let fields = [
        ("refresh_token_expires_in", "0".to_owned()),
        ("api_product_list", "[ops-prod]".to_owned()),
        ("organization_name", "epo".to_owned()),
        ("developer.email", "sandbox@example.com".to_owned()),
        ("token_type", "BearerToken".to_owned()),
        ("issued_at", issued_at),
        ("client_id", issued.client_id),
        ("access_token", issued.access_token),
        ("application_name", super::auth::application_name(sh.ops.seed)),
        ("scope", "core".to_owned()),
        ("expires_in", issued.expires_in.to_string()),
        ("refresh_count", "0".to_owned()),
        ("status", "approved".to_owned()),
    ];
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = serde_json::Value::String(v.clone());
            format!("\"{k}\":{v}")
        })
        .collect();
    Reply::ok("application/json", format!("{{{}}}", members.join(",")))
        .with_header(header::CACHE_CONTROL, "no-store")
        .with_header(header::PRAGMA, "no-cache")
        .into_response()
}

/// Everything under `rest-services/`: authenticate, apply quotas and throttling, serve, count.
async fn rest(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let bucket = Bucket::for_service_path(path.strip_prefix(REST).unwrap_or(""));
    let now = sh.clock.now_ms();
    let ops = &sh.ops;

    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let client = match auth {
        None => {
            let reply = Reply::fair_use("AnonymousQuotaPerDay");
            return anonymous(&sh, reply, now);
        }
        Some(h) => {
            let client =
                super::auth::bearer(h).and_then(|t| super::lock(&ops.tokens).client_of(t).map(str::to_owned));
            match client {
                Some(c) => c,
                None => {
                    let reply = Reply::error_xml(
                        StatusCode::BAD_REQUEST,
                        error_xml(400, "invalid_access_token", Some("Access token is invalid")),
                    )
                    .with_header(
                        header::WWW_AUTHENTICATE,
                        "Bearer realm=\"null\",error=\"invalid_token\",error_description=\
                         \"keymanagement.service.access_token_expired: Access Token expired\"",
                    );
                    return anonymous(&sh, reply, now);
                }
            }
        }
    };

    let admission = {
        let mut l = ops.limits();
        if let Err(q) = l.quota.check(&client, now) {
            let used = l.quota.used(&client, now);
            let throttling = l.throttle.peek(&client, now);
            drop(l);
            let reply = Reply::fair_use(q.reason());
            return decorate(reply, &throttling, used);
        }
        let a = l.throttle.admit(&client, bucket, now);
        if let Some(wait) = a.rejected_for {
            let used = l.quota.used(&client, now);
            drop(l);
            let real_ms = ((wait as f64) / sh.clock.scale()).ceil().max(1.0) as u64;
            let reply = Reply::fair_use("ThrottlingControlQuota")
                .with_header(header::RETRY_AFTER, &real_ms.to_string());
            return decorate(reply, &a.header, used);
        }
        a.header
    };

    let req = Req {
        method: &method,
        path,
        query: uri.query(),
        headers: &headers,
        body: &body,
    };
    let reply = dispatch(&sh, &req).unwrap_or_else(Failure::into_reply);
    let used = {
        let mut l = ops.limits();
        l.quota.record(&client, now, reply.body.len() as u64);
        l.quota.used(&client, now)
    };
    sh.persist.mark_dirty();
    decorate(reply, &admission, used)
}

fn anonymous(sh: &Shared, reply: Reply, now: i64) -> Response {
    let mut l = sh.ops.limits();
    let throttling = l.throttle.peek(ANONYMOUS, now);
    let used = l.quota.used(ANONYMOUS, now);
    drop(l);
    decorate(reply, &throttling, used)
}

fn decorate(reply: Reply, throttling: &str, (hour, week): (u64, u64)) -> Response {
    reply
        .with_header(HeaderName::from_static("x-throttling-control"), throttling)
        .with_header(
            HeaderName::from_static("x-individualquotaperhour-used"),
            &hour.to_string(),
        )
        .with_header(
            HeaderName::from_static("x-registeredquotaperweek-used"),
            &week.to_string(),
        )
        .with_header(HeaderName::from_static("x-api"), "ops-v3.2")
        .into_response()
}

struct Req<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Xml,
    Json,
}

impl Req<'_> {
    fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn is_get(&self) -> bool {
        self.method == Method::GET
    }

    fn is_post(&self) -> bool {
        self.method == Method::POST
    }

    /// XML unless the first usable `Accept` type is JSON.
    fn format(&self) -> Result<Format, Failure> {
        let Some(accept) = self.header(header::ACCEPT) else {
            return Ok(Format::Xml);
        };
        for part in accept.split(',') {
            let mt = part.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mt.is_empty() {
                continue;
            }
            if mt == "application/json" || mt.ends_with("+json") {
                return Ok(Format::Json);
            }
            if mt.contains("xml") || matches!(mt.as_str(), "*/*" | "application/*" | "text/*") {
                return Ok(Format::Xml);
            }
        }
        Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "CLIENT.MethodNotAllowed",
            format!("Accept {accept} is not served: ask for XML or JSON"),
        ))
    }

    fn require_text_plain(&self) -> Result<(), Failure> {
        let ct = self.header(header::CONTENT_TYPE).unwrap_or("");
        if ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("text/plain")
        {
            Ok(())
        } else {
            Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "CLIENT.UnsupportedMediaType",
                "A POST body must be sent as Content-Type: text/plain",
            ))
        }
    }

    /// Numbers of a POST body: one per line (or comma separated).
    fn body_numbers(&self) -> Result<Vec<String>, Failure> {
        self.require_text_plain()?;
        let text = String::from_utf8_lossy(self.body);
        let numbers: Vec<String> = text
            .split(['\n', '\r', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if numbers.is_empty() {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "CLIENT.InvalidQuery",
                "The request body holds no number",
            ));
        }
        Ok(numbers)
    }

    fn query_param(&self, name: &str) -> Option<String> {
        form_pairs(self.query.unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn dispatch(sh: &Shared, req: &Req<'_>) -> Result<Reply, Failure> {
    let format = req.format()?;
    let segs: Vec<String> = req
        .path
        .strip_prefix(REST)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["register", "search"] => register_search(sh, req, format, None),
        ["register", "search", c] => register_search(sh, req, format, Some(c)),
        ["register", reference, fmt, rest @ ..] => register_retrieval(sh, req, format, reference, fmt, rest),
        ["legal", reference, fmt, rest @ ..] => inpadoc(sh, req, format, false, reference, fmt, rest),
        ["family", reference, fmt, rest @ ..] => inpadoc(sh, req, format, true, reference, fmt, rest),
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "CLIENT.NotFound",
            "The sandbox serves register, legal and family only",
        )),
    }
}

fn unknown_constituent(bad: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "CLIENT.NotFound",
        format!("Unknown constituent {bad:?}: use biblio, events, procedural-steps or upp"),
    )
}

fn bad_number(n: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "CLIENT.InvalidReference",
        format!("{n} is not a patent number"),
    )
}

/// `register/{application|publication}/epodoc/…`.
fn register_retrieval(
    sh: &Shared,
    req: &Req<'_>,
    format: Format,
    reference: &str,
    fmt: &str,
    rest: &[&str],
) -> Result<Reply, Failure> {
    let by_application = match reference {
        "application" => true,
        "publication" => false,
        other => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "CLIENT.InvalidReference",
                format!("Register retrieval takes application or publication references, not {other}"),
            ));
        }
    };
    if fmt != "epodoc" {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "CLIENT.InvalidReference",
            format!("Register retrieval takes epodoc numbers only, not {fmt}"),
        ));
    }
    let (numbers, constituents) = match rest {
        [n] if req.is_get() => (vec![(*n).to_owned()], None),
        [n, c] if req.is_get() => (vec![(*n).to_owned()], Some(*c)),
        [] | [_] if req.is_post() => (req.body_numbers()?, rest.first().copied()),
        _ => return Err(Failure::method()),
    };
    let parts = match constituents {
        None => Parts::BIBLIO,
        Some(c) => Parts::parse(c).map_err(|bad| unknown_constituent(&bad))?,
    };
    let wanted: Vec<DocNumber> = numbers
        .iter()
        .map(|n| parse_number(n).ok_or_else(|| bad_number(n)))
        .collect::<Result<_, _>>()?;
    let settings = sh.ops.settings();
    let answered = match settings.multi_number_post {
        MultiNumber::First => 1,
        MultiNumber::All => wanted.len(),
    };
    let cases: Vec<Case> = {
        let reg = sh.ops.registry();
        wanted
            .iter()
            .take(answered)
            .filter_map(|n| {
                if by_application {
                    reg.by_application(n)
                } else {
                    reg.by_publication(n)
                }
            })
            .cloned()
            .collect()
    };
    let Some(first) = cases.first() else {
        return Err(Failure::not_found(&settings));
    };
    let query: Vec<String> = cases
        .iter()
        .map(|c| {
            if by_application {
                format!("application={}", c.application.as_deref().unwrap_or_default())
            } else {
                format!("publication={}", c.publication)
            }
        })
        .collect();
    let docs: Vec<Element> = cases.iter().map(|c| c.document(parts)).collect();
    let page = register_page(cases.len(), &query.join(" or "), 1, first.documents_shell(), docs);
    Ok(render_register(&page, req, format, &settings))
}

fn register_page(total: usize, query: &str, begin: usize, shell: Element, docs: Vec<Element>) -> Element {
    let end = begin + docs.len().saturating_sub(1);
    let mut documents = shell;
    documents.children = docs.into_iter().map(xml::Node::Element).collect();
    Element::new(Ns::Ops, "world-patent-data").with_child(
        Element::new(Ns::Ops, "register-search")
            .with_attr("total-result-count", &total.min(MAX_TOTAL).to_string())
            .with_child(
                Element::new(Ns::Ops, "query")
                    .with_attr("syntax", "CQL")
                    .with_text(query),
            )
            .with_child(
                Element::new(Ns::Ops, "range")
                    .with_attr("begin", &begin.to_string())
                    .with_attr("end", &end.to_string()),
            )
            .with_child(documents),
    )
}

fn render_register(page: &Element, req: &Req<'_>, format: Format, settings: &Settings) -> Reply {
    match format {
        Format::Json => Reply::ok(
            "application/json",
            xml::to_badgerfish(page, REGISTER_JSON_PREFIXES),
        ),
        Format::Xml => {
            let style = settings.era.register_style(req.is_get().then_some(req.path));
            Reply::ok("application/xml", xml::serialize(page, &style))
        }
    }
}

/// `register/search[/{constituent}]`.
fn register_search(
    sh: &Shared,
    req: &Req<'_>,
    format: Format,
    constituent: Option<&str>,
) -> Result<Reply, Failure> {
    let (q, range_param) = if req.is_get() {
        (req.query_param("q"), req.query_param("Range"))
    } else if req.is_post() {
        req.require_text_plain()?;
        let body = form_pairs(&String::from_utf8_lossy(req.body));
        let find = |name: &str| {
            body.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        (find("q"), find("Range").or_else(|| req.query_param("Range")))
    } else {
        return Err(Failure::method());
    };
    let q = q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "CLIENT.InvalidQuery",
            "The search needs a query q",
        )
    })?;
    let range_text = req
        .header(HeaderName::from_static("range"))
        .map(str::to_owned)
        .or(range_param);
    let range = search::parse_range(range_text.as_deref()).map_err(|e| match e {
        RangeError::Malformed(_) => {
            Failure::new(StatusCode::BAD_REQUEST, "CLIENT.InvalidQuery", e.to_string())
        }
        RangeError::TooLarge(_) => Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "CLIENT.AmbiguousRequest",
            e.to_string(),
        ),
    })?;
    let parts = constituent
        .map(|c| Parts::parse(c).map_err(|bad| unknown_constituent(&bad)))
        .transpose()?;
    let (begin, end) = (range.begin as usize, range.end as usize);
    let settings = sh.ops.settings();
    let key = search::normalized(&q);
    let (total, shell, hits) = if let Some(rec) = sh
        .ops
        .searches
        .iter()
        .find(|r| search::normalized(&r.sample.query) == key)
    {
        let recorded = &rec.sample;
        let hits: Vec<Element> = match parts {
            None if rec.biblio => recorded.hits.iter().map(register::reduced_hit).collect(),
            None => recorded.hits.clone(),
            Some(p) if p == Parts::BIBLIO && rec.biblio => recorded.hits.clone(),
            Some(_) => Vec::new(),
        };
        let page: Vec<Element> = hits.into_iter().skip(begin - 1).take(end - begin + 1).collect();
        let total = recorded.total.parse().unwrap_or(MAX_TOTAL);
        (total, recorded.documents.clone(), page)
    } else {
        let query = search::parse(&q)
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "CLIENT.CQL", e.to_string()))?;
        let (total, cases): (usize, Vec<Case>) = {
            let reg = sh.ops.registry();
            let mut found: Vec<&Case> = reg.cases().iter().filter(|c| query.matches(c)).collect();
            found.sort_by(|a, b| b.publication.cmp(&a.publication));
            let page = found
                .iter()
                .skip(begin - 1)
                .take(end - begin + 1)
                .map(|c| (*c).clone())
                .collect();
            (found.len(), page)
        };
        let shell = match cases.first() {
            Some(c) => c.documents_shell(),
            None => Element::new(Ns::Register, "register-documents").with_attr("produced-by", "RO"),
        };
        let hits = cases
            .iter()
            .map(|c| match parts {
                None => register::reduced_hit(&c.document(Parts::BIBLIO)),
                Some(p) => c.document(p),
            })
            .collect();
        (total, shell, hits)
    };
    if hits.is_empty() {
        return Err(Failure::no_results());
    }
    let page = register_page(total, &q, begin, shell, hits);
    Ok(render_register(&page, req, format, &settings))
}

/// `legal/…` (`family == false`) and `family/…[/legal]`.
fn inpadoc(
    sh: &Shared,
    req: &Req<'_>,
    format: Format,
    family: bool,
    reference: &str,
    fmt: &str,
    rest: &[&str],
) -> Result<Reply, Failure> {
    if !matches!(reference, "publication" | "application") {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "CLIENT.InvalidReference",
            format!("The sandbox answers publication or application references, not {reference}"),
        ));
    }
    if !matches!(fmt, "docdb" | "epodoc") {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "CLIENT.InvalidReference",
            format!("The sandbox answers docdb or epodoc numbers, not {fmt}"),
        ));
    }
    let (number, constituent) = match rest {
        [n] if req.is_get() => ((*n).to_owned(), None),
        [n, c] if req.is_get() && family => ((*n).to_owned(), Some(*c)),
        [] if req.is_post() => (first_number(req)?, None),
        [c] if req.is_post() && family => (first_number(req)?, Some(*c)),
        _ => return Err(Failure::method()),
    };
    let kind = match (family, constituent) {
        (false, _) => Inpadoc::Legal,
        (true, None) => Inpadoc::Family,
        (true, Some("legal")) => Inpadoc::FamilyLegal,
        (true, Some(c)) if c.split(',').all(|p| matches!(p, "biblio" | "legal")) => {
            return Err(Failure::new(
                StatusCode::NOT_FOUND,
                "SERVER.EntityNotFound",
                "No results found (the sandbox has no recorded family biblio)",
            ));
        }
        (true, Some(c)) => return Err(unknown_constituent(c)),
    };
    let n = parse_number(&number).ok_or_else(|| bad_number(&number))?;
    let publication = if reference == "application" {
        sh.ops
            .registry()
            .by_application(&n)
            .map(|c| c.publication.clone())
    } else {
        Some(n.epodoc())
    };
    let settings = sh.ops.settings();
    let recorded = publication.and_then(|p| {
        sh.ops
            .inpadoc
            .iter()
            .find(|d| d.kind == kind && d.publication == p)
    });
    if let Some(doc) = recorded {
        return Ok(match format {
            Format::Xml => Reply::ok("application/xml", doc.text),
            Format::Json => Reply::ok(
                "application/json",
                xml::to_badgerfish(&doc.root, INPADOC_PREFIXES),
            ),
        });
    }
    // The made-up families have no legal part.
    if kind != Inpadoc::Family {
        return Err(Failure::not_found(&settings));
    }
    let by = if reference == "application" {
        Reference::Application
    } else {
        Reference::Publication
    };
    let root = sh
        .ops
        .families()
        .find(by, fmt == "epodoc", &n)
        .map(|(f, echo)| f.document(echo))
        .ok_or_else(|| Failure::not_found(&settings))?;
    Ok(match format {
        Format::Xml => Reply::ok(
            "application/xml",
            xml::serialize(&root, &family::style(req.is_get().then_some(req.path))),
        ),
        Format::Json => Reply::ok("application/json", xml::to_badgerfish(&root, INPADOC_PREFIXES)),
    })
}

fn first_number(req: &Req<'_>) -> Result<String, Failure> {
    let numbers = req.body_numbers()?;
    numbers.into_iter().next().ok_or_else(|| bad_number(""))
}

/// `k=v&…` pairs, percent- and plus-decoded.
fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k.trim(), true), percent_decode(v.trim_end(), true))
        })
        .collect()
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("ti%3Dbattery", true), "ti=battery");
        assert_eq!(percent_decode("a+b%20c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%4", false), "%4");
        assert_eq!(percent_decode("%zz", false), "%zz");
        assert_eq!(
            form_pairs("q=ti%3Dsolar&Range=1-3"),
            vec![("q".into(), "ti=solar".into()), ("Range".into(), "1-3".into())]
        );
    }

    #[test]
    fn faults_render_as_ops_xml() {
        assert_eq!(
            fault_xml("SERVER.EntityNotFound", "No results found"),
            "<fault xmlns=\"http://ops.epo.org\"><code>SERVER.EntityNotFound</code><message>No results found\
             </message></fault>"
        );
        assert_eq!(
            error_xml(401, "ClientId is Invalid", None),
            "<error><code>401</code><message>ClientId is Invalid</message></error>"
        );
    }
}
