//! Injected faults: `POST /_sandbox/faults`.
//!
//! A fault is queued for one office and consumed by the next `count` matching requests.
//! It is applied by one middleware per office ([`apply`]), so every endpoint of every office
//! can fail the same ways; only the error *body* is office-specific (each office passes its
//! own renderer). `expire_token` is not queued: it invalidates that office's tokens at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::Shared;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Office {
    Myepo,
    Ops,
    Jpo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` (and the office's error body) instead of serving.
    Status,
    /// Serve the real answer but cut the body off halfway, keeping the full `Content-Length`.
    Truncate,
    /// Wait `delay_ms` (default 2000) before serving.
    Slow,
    /// A complete answer that does not parse: half the body with a matching `Content-Length`;
    /// a PDF download becomes an HTML maintenance page.
    Malformed,
    /// Invalidate every token the office has issued (applied at once, not queued).
    ExpireToken,
    /// Serve the real answer, then `extra_bytes` (default 256 MiB) more, with a
    /// `Content-Length` announcing the longer body: a download larger than listed.
    Oversize,
    /// Serve the real answer, then `extra_bytes` (default 1 GiB) more, without a
    /// `Content-Length` (chunked): a body that does not stop where the listing said it would.
    Endless,
}

/// Default `extra_bytes` of [`FaultKind::Oversize`] and [`FaultKind::Endless`].
const OVERSIZE_EXTRA: u64 = 256 << 20;
const ENDLESS_EXTRA: u64 = 1 << 30;
/// Largest `extra_bytes` accepted: the padding is generated as it is sent, but a fault must end.
pub const MAX_EXTRA_BYTES: u64 = 16 << 30;
/// Size of one padding chunk of an oversize body.
const PAD_CHUNK: usize = 64 << 10;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub office: Office,
    pub kind: FaultKind,
    /// HTTP status for `kind: status` (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// How many matching requests it affects (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// Only requests whose path contains this string. Without it, a fault hits any request of
    /// the office except its token endpoint; with `"token"` it hits the token endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `Retry-After` value to send with a status fault (sent verbatim).
    #[serde(default)]
    pub retry_after: Option<String>,
    /// Delay for `kind: slow`.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Bytes added after the real body for `kind: oversize` and `kind: endless` (at most
    /// [`MAX_EXTRA_BYTES`]).
    #[serde(default)]
    pub extra_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PendingFault {
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub remaining: u32,
}

#[derive(Default)]
pub struct Faults {
    queue: Mutex<Vec<PendingFault>>,
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) {
        let remaining = spec.count.unwrap_or(1);
        if remaining > 0 {
            self.lock().push(PendingFault { spec, remaining });
        }
    }

    pub fn pending(&self) -> Vec<PendingFault> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Consumes one use of the first fault that matches this request.
    pub fn take(&self, office: Office, path: &str, is_token: bool) -> Option<FaultSpec> {
        let mut q = self.lock();
        let idx = q.iter().position(|f| {
            f.spec.office == office
                && match &f.spec.endpoint {
                    Some(e) => path.contains(e.as_str()),
                    None => !is_token,
                }
        })?;
        let spec = q[idx].spec.clone();
        q[idx].remaining -= 1;
        if q[idx].remaining == 0 {
            q.remove(idx);
        }
        Some(spec)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PendingFault>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Renders an office's own error answer for an injected status (e.g. OPS XML fault, JPO envelope).
pub type ErrorRenderer = fn(StatusCode, Option<&str>) -> Response;

#[derive(Clone)]
pub(crate) struct FaultLayerState {
    pub shared: Arc<Shared>,
    pub office: Office,
    pub render: ErrorRenderer,
    /// A path fragment that marks the office's token endpoint.
    pub token_marker: &'static str,
}

/// Middleware that applies queued faults to an office's routes.
pub async fn apply(State(st): State<FaultLayerState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let is_token = path.contains(st.token_marker);
    let Some(fault) = st.shared.faults.take(st.office, &path, is_token) else {
        return next.run(req).await;
    };
    tracing::info!(office = ?st.office, kind = ?fault.kind, %path, "injecting fault");
    match fault.kind {
        FaultKind::Status => {
            let status =
                StatusCode::from_u16(fault.status.unwrap_or(503)).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut resp = (st.render)(status, fault.retry_after.as_deref());
            if let Some(ra) = fault
                .retry_after
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, ra);
            }
            resp
        }
        FaultKind::Slow => {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2000))).await;
            next.run(req).await
        }
        FaultKind::Truncate => truncate(next.run(req).await).await,
        FaultKind::Malformed => malformed(next.run(req).await).await,
        FaultKind::Oversize => {
            let extra = fault.extra_bytes.unwrap_or(OVERSIZE_EXTRA);
            oversize(next.run(req).await, extra, true)
        }
        FaultKind::Endless => {
            let extra = fault.extra_bytes.unwrap_or(ENDLESS_EXTRA);
            oversize(next.run(req).await, extra, false)
        }
        // Applied when posted; a queued one (never created) would be a no-op.
        FaultKind::ExpireToken => next.run(req).await,
    }
}

/// The `Content-Length` an answer announces, if it announces a readable one.
fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let declared = content_length(&parts.headers);
    let (full, stream) = match declared {
        Some(n) => (n, body.into_data_stream().boxed()),
        None => match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) => (b.len() as u64, futures_util::stream::iter([Ok(b)]).boxed()),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    let keep = full / 2;
    // Yield the first half, then fail: hyper aborts the connection short of Content-Length.
    let cut = futures_util::stream::unfold(
        (0u64, stream, false),
        move |(sent, mut stream, done)| async move {
            if done {
                return None;
            }
            if sent >= keep {
                // Let hyper flush the status line, headers and first half before the abort, so the
                // client sees a short body rather than no answer at all.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let err =
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "sandbox: truncated on purpose");
                return Some((Err(err), (sent, stream, true)));
            }
            match stream.next().await {
                Some(Ok(mut chunk)) => {
                    let room = (keep - sent) as usize;
                    if chunk.len() > room {
                        chunk.truncate(room);
                    }
                    let sent = sent + chunk.len() as u64;
                    Some((Ok(chunk), (sent, stream, false)))
                }
                Some(Err(e)) => Some((Err(std::io::Error::other(e)), (sent, stream, true))),
                None => None,
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(cut))
}

/// The answer followed by `extra` zero bytes, generated as they are sent (so a client that
/// stops reading stops them); with `announce`, `Content-Length` covers them, else it is removed.
fn oversize(resp: Response, extra: u64, announce: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let declared = content_length(&parts.headers);
    match declared {
        Some(n) if announce => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n + extra));
        }
        _ => {
            parts.headers.remove(header::CONTENT_LENGTH);
        }
    }
    let padding = futures_util::stream::unfold(extra, |left| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(PAD_CHUNK as u64);
        Some((
            Ok::<_, axum::Error>(axum::body::Bytes::from(vec![0u8; n as usize])),
            left - n,
        ))
    });
    let stream = body.into_data_stream().chain(padding);
    Response::from_parts(parts, Body::from_stream(stream))
}

async fn malformed(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let is_pdf = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/pdf"));
    parts.headers.remove(header::CONTENT_LENGTH);
    if is_pdf {
        parts.headers.remove(header::CONTENT_DISPOSITION);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let page = "<!DOCTYPE html><html><head><title>Maintenance</title></head>\
                    <body><h1>The service is under maintenance</h1></body></html>";
        return Response::from_parts(parts, Body::from(page));
    }
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => {
            let half = b.slice(..b.len() / 2);
            Response::from_parts(parts, Body::from(half))
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
