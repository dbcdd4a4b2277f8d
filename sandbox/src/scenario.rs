//! The scenario API shared by all offices: faults, statistics, the clock, token lifetimes and
//! case advances. Office-specific scenario routes live in each office module.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::Shared;
use crate::faults::{self, FaultKind, FaultSpec, Office};

/// A scenario-API failure: its status and a one-line reason, as `{"error": "…"}`.
#[derive(Debug)]
pub struct ScenarioError(pub StatusCode, pub String);

impl ScenarioError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ScenarioError(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        ScenarioError(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ScenarioError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sandbox/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_sandbox/stats", get(stats).delete(reset_stats))
        .route("/_sandbox/clock", get(clock).post(set_clock))
        .route("/_sandbox/cases/{office}/{number}/advance", post(advance))
}

async fn add_fault(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<FaultSpec>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ScenarioError> {
    let Json(spec) = body.map_err(|e| ScenarioError::bad_request(e.body_text()))?;
    if spec.kind == FaultKind::ExpireToken {
        let expired = match spec.office {
            Office::Myepo => sh.myepo.expire_tokens(),
            Office::Ops => sh.ops.expire_tokens(),
            Office::Jpo => sh.jpo.expire_tokens(),
        };
        return Ok(Json(json!({ "expired_tokens": expired })).into_response());
    }
    if let Some(s) = spec.status
        && StatusCode::from_u16(s).is_err()
    {
        return Err(ScenarioError::bad_request(format!(
            "status {s} is not an HTTP status"
        )));
    }
    if spec.extra_bytes.is_some_and(|n| n > faults::MAX_EXTRA_BYTES) {
        return Err(ScenarioError::bad_request(format!(
            "extra_bytes must be at most {}",
            faults::MAX_EXTRA_BYTES
        )));
    }
    sh.faults.add(spec);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "pending": sh.faults.pending() })),
    )
        .into_response())
}

async fn list_faults(State(sh): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({ "pending": sh.faults.pending() }))
}

async fn clear_faults(State(sh): State<Arc<Shared>>) -> StatusCode {
    sh.faults.clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(sh): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({ "endpoints": sh.stats.snapshot() }))
}

async fn reset_stats(State(sh): State<Arc<Shared>>) -> StatusCode {
    sh.stats.reset();
    StatusCode::NO_CONTENT
}

fn clock_json(sh: &Shared) -> Json<serde_json::Value> {
    Json(json!({ "now": sh.clock.now().to_rfc3339(), "time_scale": sh.clock.scale() }))
}

async fn clock(State(sh): State<Arc<Shared>>) -> Json<serde_json::Value> {
    clock_json(&sh)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<u64>,
    #[serde(default)]
    time_scale: Option<f64>,
}

async fn set_clock(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<ClockChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ScenarioError> {
    let Json(c) = body.map_err(|e| ScenarioError::bad_request(e.body_text()))?;
    if let Some(s) = c.time_scale {
        if !(s.is_finite() && s > 0.0) {
            return Err(ScenarioError::bad_request("time_scale must be a positive number"));
        }
        sh.clock.set_scale(s);
    }
    if let Some(secs) = c.advance_seconds {
        sh.clock.advance(Duration::from_secs(secs));
    }
    Ok(clock_json(&sh))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// `status`, `event`, `step` or `document`; absent = the next plausible step for the case.
    #[serde(default)]
    pub kind: Option<String>,
    /// EP `step` only: the step's dispatch date (`YYYY-MM-DD`; default the virtual today).
    #[serde(default)]
    pub date: Option<String>,
    /// EP `step` only: its time limit in months (1 to 24; default 4).
    #[serde(default)]
    pub time_limit_months: Option<u32>,
}

#[derive(Deserialize)]
struct AdvanceQuery {
    /// JP only: `patent`, `design` or `trademark` when a number exists under several rights.
    right: Option<String>,
}

async fn advance(
    State(sh): State<Arc<Shared>>,
    Path((office, number)): Path<(String, String)>,
    Query(q): Query<AdvanceQuery>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ScenarioError> {
    let req: AdvanceRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AdvanceRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ScenarioError::bad_request(format!("advance body: {e}")))?
    };
    let result = match office.to_ascii_lowercase().as_str() {
        "ep" | "ops" | "epo" => sh.ops.advance(
            &number,
            req.kind.as_deref(),
            crate::ops::StepChoice {
                date: req.date.as_deref(),
                months: req.time_limit_months,
            },
            &sh.clock,
        )?,
        "jp" | "jpo" if req.date.is_some() || req.time_limit_months.is_some() => {
            return Err(ScenarioError::bad_request(
                "date and time_limit_months are for EP procedural steps only",
            ));
        }
        "jp" | "jpo" => sh
            .jpo
            .advance(&number, q.right.as_deref(), req.kind.as_deref(), &sh.clock)?,
        other => {
            return Err(ScenarioError::not_found(format!(
                "unknown office {other:?}: use ep or jp"
            )));
        }
    };
    sh.persist.mark_dirty();
    Ok(Json(result))
}
