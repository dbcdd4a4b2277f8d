//! JPO Patent Information Retrieval API simulator (`shared/api/jpo.md`), served under `/jpo`.
//!
//! | module | what |
//! |---|---|
//! | [`api`] | rights, API names, daily caps ([`JpoCaps`]) |
//! | [`envelope`] | the `{"result":{…}}` envelope and the status codes of §3.2 |
//! | [`params`] | path parsing, 208 / 301 / 204 / 111 checks |
//! | [`quota`] | daily counters (00:00 JST) and the 10-per-60-s window, pure |
//! | [`tokens`] | `POST /auth/token`: password and refresh grants, real-time lifetimes |
//! | [`cases`] | the recorded samples, derived bodies, synthetic clones, the PCT national phases, stored advances |
//! | [`progress`] | what an advance adds (document rows, registration, erasure), pure |
//! | [`docs`] | the ZIP document APIs |
//! | [`http`], [`control`] | the office routes and the `/_sandbox/jpo/…` scenario routes |
//!
//! A request to `/jpo/api/…` is checked in this order: token (210, HTTP 401), window (303,
//! HTTP 429), path and parameters (208, 301, 204, 111: nothing spent), daily cap (203,
//! nothing spent), then served (100, 107, 108: one call spent). Every request with a valid
//! token that the window admits counts in the window, whatever its answer.
//!
//! Persisted (`snapshot`/`restore`): today's counters, synthetic cases, PCT links and advances. Not
//! persisted: tokens (clients log in again), the window (it spans a minute), caps and token
//! lifetimes (configuration: from [`SandboxOptions`] and the scenario API of this run).

mod api;
mod cases;
mod control;
mod docs;
mod envelope;
mod http;
mod params;
mod progress;
mod quota;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use api::JpoCaps;

use crate::clock::{Clock, VirtualMs};
use crate::scenario::ScenarioError;
use crate::{SandboxOptions, Shared, credentials};
use api::Right;
use cases::{Cases, Lookup};
use envelope::Code;
use quota::{Daily, Spend, Window};
use tokens::{Lifetimes, Tokens};

pub struct State {
    inner: Mutex<Inner>,
}

struct Inner {
    caps: JpoCaps,
    lifetimes: Lifetimes,
    tokens: Tokens,
    daily: Daily,
    window: Window,
    cases: Cases,
}

impl State {
    pub fn new(opts: &SandboxOptions) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        State {
            inner: Mutex::new(Inner {
                caps: opts.jpo_caps.clone(),
                lifetimes: Lifetimes::default(),
                tokens: Tokens::new(mix(opts.seed) ^ started),
                daily: Daily::default(),
                window: Window::default(),
                cases: Cases::default(),
            }),
        }
    }

    pub fn snapshot(&self) -> Value {
        let g = self.lock();
        json!({
            "counters": serde_json::to_value(&g.daily).unwrap_or(Value::Null),
            "cases": g.cases.snapshot(),
        })
    }

    pub fn restore(&self, v: Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let part = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let daily: Daily = match part("counters") {
            Value::Null => Daily::default(),
            c => serde_json::from_value(c).map_err(|e| format!("counters: {e}"))?,
        };
        let cases = match part("cases") {
            Value::Null => Cases::default(),
            c => Cases::restore(c).map_err(|e| format!("cases: {e}"))?,
        };
        let mut g = self.lock();
        g.daily = daily;
        g.cases = cases;
        Ok(())
    }

    pub fn expire_tokens(&self) -> usize {
        self.lock().tokens.expire_all(Instant::now())
    }

    /// Advances a case: `kind` `document` (default) or `status`; see [`progress`].
    pub fn advance(
        &self,
        number: &str,
        right: Option<&str>,
        kind: Option<&str>,
        clock: &Clock,
    ) -> Result<Value, ScenarioError> {
        let kind = kind.unwrap_or("document");
        if !matches!(kind, "document" | "status") {
            return Err(ScenarioError::bad_request(format!(
                "JP advance kind {kind:?}: use document or status"
            )));
        }
        let wanted = right
            .map(|r| {
                Right::parse(r).ok_or_else(|| {
                    ScenarioError::bad_request(format!("right {r:?}: use patent, design or trademark"))
                })
            })
            .transpose()?;
        let mut g = self.lock();
        let rights = match wanted {
            Some(r) => vec![r],
            None => g.cases.rights_of(number),
        };
        let right = match rights.as_slice() {
            [r] => *r,
            [] => return Err(ScenarioError::not_found(format!("no JP case {number}"))),
            several => {
                let names: Vec<&str> = several.iter().map(|r| r.name()).collect();
                return Err(ScenarioError(
                    StatusCode::CONFLICT,
                    format!(
                        "JP number {number} exists as {}: add ?right=",
                        names.join(" and ")
                    ),
                ));
            }
        };
        let progress = g
            .cases
            .progress_of(right, number)
            .ok_or_else(|| ScenarioError::not_found(format!("no JP {} case {number}", right.name())))?;
        let today = quota::jst_yyyymmdd(clock.now_ms());
        let advance = if kind == "status" {
            progress::status_change(right, &progress, &today)
                .map_err(|e| ScenarioError(StatusCode::CONFLICT, format!("{number}: {e}")))?
        } else {
            let salt = hash(number) ^ mix(g.cases.advance_count(right, number) as u64 + right as u64);
            progress::Advance::Documents {
                rows: progress::next_documents(right, &progress, &today, salt),
            }
        };
        g.cases.push(right, number, advance.clone());
        Ok(json!({ "right": right.name(), "number": number, "kind": kind, "advance": advance }))
    }

    /// Answers `GET /jpo/api/{path}`; the flag says whether quota was spent (state changed).
    fn serve(&self, token: Option<&str>, path: &str, now: VirtualMs, real: Instant) -> (Response, bool) {
        let mut g = self.lock();
        let Some(user) = token.and_then(|t| g.tokens.user_of(t, real)).map(str::to_owned) else {
            return (envelope::error(Code::BadToken), false);
        };
        if !g.window.admit(&user, now) {
            return (envelope::error(Code::Busy), false);
        }
        let call = match params::parse(path) {
            Ok(c) => c,
            Err(code) => return (envelope::error(code), false),
        };
        let cap = g.caps.cap(call.api);
        let remain = match g.daily.spend(&user, call.right, call.api, cap, now) {
            Spend::Granted { remain } => remain,
            Spend::Exhausted => return (envelope::error(Code::DailyCap), false),
        };
        let resp = match g.cases.lookup(&call) {
            Lookup::Data(d) => envelope::reply(Code::Ok, Some(remain), d),
            Lookup::NoData => envelope::reply(Code::NoData, Some(remain), json!({})),
            Lookup::NoDocument => envelope::respond(
                StatusCode::OK,
                envelope::body(Code::NoDocument, Some(remain), None),
            ),
            Lookup::Zip(b) => {
                let disposition = HeaderValue::from_str(&format!("attachment;filename={}", b.filename))
                    .unwrap_or(HeaderValue::from_static("attachment"));
                (
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static("application/zip")),
                        (header::CONTENT_DISPOSITION, disposition),
                    ],
                    b.bytes,
                )
                    .into_response()
            }
        };
        (resp, true)
    }

    /// Answers `POST /auth/token` (§2.1–2.3).
    fn token(&self, form: &HashMap<String, String>, real: Instant) -> Response {
        let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let mut g = self.lock();
        let life = g.lifetimes;
        match field("grant_type") {
            None => http::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing form parameter: grant_type",
            ),
            Some("password") => match (field("username"), field("password")) {
                (None, _) => http::oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing parameter: username",
                ),
                (_, None) => http::oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing parameter: password",
                ),
                (Some(u), Some(p)) if u == credentials::JPO_USERNAME && p == credentials::JPO_PASSWORD => {
                    http::token_reply(g.tokens.login(u, life, real))
                }
                _ => http::oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_grant",
                    "Invalid user credentials",
                ),
            },
            Some("refresh_token") => match field("refresh_token") {
                None => http::oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "No refresh token"),
                Some(t) => match g.tokens.refresh(t, life, real) {
                    Ok(body) => http::token_reply(body),
                    Err(e) => http::oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &e.to_string()),
                },
            },
            Some(_) => http::oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant_type",
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    http::routes()
}

pub fn scenario_routes() -> Router<Arc<Shared>> {
    control::routes()
}

/// The envelope for an injected HTTP status, per the official examples: 504 → 302, 500 → 999,
/// 429 → 303, 401 → 210, anything else → 999 at that status.
pub fn fault_response(status: StatusCode, _retry_after: Option<&str>) -> Response {
    let code = match status {
        StatusCode::GATEWAY_TIMEOUT => Code::Timeout,
        StatusCode::TOO_MANY_REQUESTS => Code::Busy,
        StatusCode::UNAUTHORIZED => Code::BadToken,
        _ => Code::Unexpected,
    };
    envelope::respond(status, envelope::body(code, None, Some(json!({}))))
}

/// splitmix64's finaliser: spreads a counter or hash over 64 bits.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string: a stable seed per case number.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fault_envelopes() {
        for (status, code) in [
            (504, "302"),
            (500, "999"),
            (429, "303"),
            (401, "210"),
            (503, "999"),
            (200, "999"),
        ] {
            let s = StatusCode::from_u16(status).unwrap();
            let resp = fault_response(s, None);
            assert_eq!(resp.status(), s);
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["result"]["statusCode"], code, "{status}");
            assert_eq!(body["result"]["remainAccessCount"], "");
            assert_eq!(body["result"]["data"], json!({}));
        }
    }
}
