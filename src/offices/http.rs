//! HTTP plumbing shared by the office clients: one `reqwest::Client` setup, failures that keep
//! what the office said, `Retry-After`, and which failures are worth retrying.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// `Retry-After` is honoured up to this; a longer one is treated as this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// How early a cached access token is renewed before it expires.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// When to renew a token that lives `lifetime`: [`TOKEN_MARGIN`] early, or at half its life
/// when it lives two margins or less (so a short-lived token is still reused). Every office
/// client caches its tokens by this rule.
pub fn renew_after(lifetime: Duration) -> Duration {
    if lifetime > TOKEN_MARGIN * 2 {
        lifetime - TOKEN_MARGIN
    } else {
        lifetime / 2
    }
}

/// The body excerpt kept in an error (the log line stays readable).
const BODY_EXCERPT: usize = 600;

/// Headers never copied into an error (they may carry credentials or tokens).
const HIDDEN_HEADERS: &[&str] = &["authorization", "set-cookie", "cookie", "proxy-authorization"];

pub fn client(connect_timeout: Duration, read_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .build()
}

/// An office answered, but not with success. Kept whole (status, headers, body excerpt) for
/// the log; `detail` is the office's own message when its error body could be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: HTTP {status}{}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default(), request_id.as_ref().map(|r| format!(" (request {r})")).unwrap_or_default())]
pub struct HttpFailure {
    pub what: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub detail: Option<String>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
}

impl HttpFailure {
    /// Reads the rest of a failed response. Never fails: an unreadable body is noted as such.
    pub async fn from_response(
        what: impl Into<String>,
        resp: reqwest::Response,
        request_id: Option<String>,
    ) -> Self {
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers(), SystemTime::now());
        let headers = resp
            .headers()
            .iter()
            .filter(|(k, _)| !HIDDEN_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect::<Vec<_>>();
        let body = match resp.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("<body unreadable: {e}>"),
        };
        let detail = error_detail(&body).or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k == "www-authenticate")
                .map(|(_, v)| format!("WWW-Authenticate: {v}"))
        });
        let body = excerpt(&body);
        HttpFailure {
            what: what.into(),
            status,
            headers,
            body,
            detail,
            request_id,
            retry_after,
        }
    }

    /// Worth trying again later: throttled, timed out, or a server-side failure.
    pub fn is_transient(&self) -> bool {
        matches!(self.status, 408 | 429 | 500 | 502 | 503 | 504)
    }
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(BODY_EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at [`RETRY_AFTER_CAP`].
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(v)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(d.min(RETRY_AFTER_CAP))
}

/// The office's message from an error body, trying the shapes offices use, in order:
/// `code`/`message` (ST.90), `errorCode`/`errorMessage`, RFC 9457 `title`/`detail`, OAuth
/// `error`/`error_description`.
pub fn error_detail(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    let pair = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}: {b}")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    };
    pair(s("code"), s("message"))
        .or_else(|| pair(s("errorCode"), s("errorMessage")))
        .or_else(|| pair(s("title"), s("detail")))
        .or_else(|| pair(s("error"), s("error_description")))
}

/// An error and its causes on one line (`reqwest` puts the useful part in the source chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

/// The innermost cause of an error (for a refused connection: `Connection refused (os error
/// 111)`), so a message that already names the URL does not repeat it.
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// The TLS failure in a request's causes (a certificate not trusted, a server that does not
/// speak TLS), if that is why it failed. rustls's error sits inside `io::Error`s (one in
/// another, as hyper's connector wraps tokio-rustls's), whose `source()` skips what they
/// wrap, so each `io::Error` met is opened down to what it holds.
pub fn tls_failure(e: &reqwest::Error) -> Option<String> {
    // Bounded: a chain of causes is a handful of links.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..32 {
        let err = cur?;
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        cur = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// `" detail"`, or nothing: the office's message after an HTTP status.
pub fn spaced(detail: &Option<String>) -> String {
    detail.as_ref().map(|d| format!(" {d}")).unwrap_or_default()
}

/// A transport failure worth retrying (timeouts, refused or reset connections).
pub fn transport_is_transient(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// A short request id for `X-Request-ID`, unique enough to find one request in a log.
pub fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "mr-{:x}-{:x}-{}",
        nanos as u64,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_early_or_at_half_life() {
        let table = [
            (3600, 3_540_000),
            (28_800, 28_740_000),
            (1199, 1_139_000),
            (121, 61_000),
            (120, 60_000),
            (10, 5000),
            (3, 1500),
            (0, 0),
        ];
        for (lifetime, renew_ms) in table {
            assert_eq!(
                renew_after(Duration::from_secs(lifetime)),
                Duration::from_millis(renew_ms),
                "{lifetime}"
            );
        }
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let table = [
            (
                r#"{"code":"MAILBOX_ACCESS_DENIED","message":"no right"}"#,
                Some("MAILBOX_ACCESS_DENIED: no right"),
            ),
            (r#"{"errorCode":"E1","errorMessage":"bad"}"#, Some("E1: bad")),
            (
                r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no such id"}"#,
                Some("Not Found: no such id"),
            ),
            (
                r#"{"error":"invalid_client","error_description":"wrong secret"}"#,
                Some("invalid_client: wrong secret"),
            ),
            (r#"{"message":"Unauthorized"}"#, Some("Unauthorized")),
            ("<html>maintenance</html>", None),
            ("", None),
        ];
        for (body, expected) in table {
            assert_eq!(error_detail(body).as_deref(), expected, "{body}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        let table = [
            ("7", Some(Duration::from_secs(7))),
            ("999999", Some(RETRY_AFTER_CAP)),
            (
                &httpdate::fmt_http_date(now + Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
            ),
            (
                &httpdate::fmt_http_date(now - Duration::from_secs(30)),
                Some(Duration::ZERO),
            ),
            ("soon", None),
        ];
        for (value, expected) in table {
            h.insert(RETRY_AFTER, value.parse().unwrap());
            assert_eq!(retry_after(&h, now), expected, "{value}");
        }
    }

    #[test]
    fn excerpts_are_bounded_and_char_safe() {
        let long = "é".repeat(2000);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), BODY_EXCERPT + 1);
    }
}
