//! Requests, response bytes and HTTP statuses per endpoint: `GET /_sandbox/stats`
//! (`{"GET /ops/3.2/rest-services/register/…": {"requests": 3, "bytes": 9000, "statuses": {"200": 2, "403": 1}}}`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EndpointStats {
    pub requests: u64,
    pub bytes: u64,
    /// Answers by HTTP status (`"200"`, `"403"`, …), so a test can count refusals.
    pub statuses: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Stats {
    // Keyed by "METHOD /route/{template}".
    map: Mutex<BTreeMap<String, EndpointStats>>,
}

impl Stats {
    pub fn snapshot(&self) -> BTreeMap<String, EndpointStats> {
        self.lock().clone()
    }

    pub fn reset(&self) {
        self.lock().clear();
    }

    fn request(&self, key: &str) {
        self.lock().entry(key.to_owned()).or_default().requests += 1;
    }

    fn status(&self, key: &str, status: u16) {
        *self
            .lock()
            .entry(key.to_owned())
            .or_default()
            .statuses
            .entry(status.to_string())
            .or_default() += 1;
    }

    fn bytes(&self, key: &str, n: u64) {
        self.lock().entry(key.to_owned()).or_default().bytes += n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, EndpointStats>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Route-layer middleware: counts the request and every body byte actually sent.
pub async fn count(State(stats): State<Arc<Stats>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let key = format!("{} {}", req.method(), route);
    stats.request(&key);
    let (parts, body) = next.run(req).await.into_parts();
    stats.status(&key, parts.status.as_u16());
    let counted = body.into_data_stream().inspect(move |chunk| {
        if let Ok(c) = chunk {
            stats.bytes(&key, c.len() as u64);
        }
    });
    Response::from_parts(parts, Body::from_stream(counted))
}
