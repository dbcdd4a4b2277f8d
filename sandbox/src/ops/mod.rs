//! EPO OPS simulator (stub: being implemented).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::clock::Clock;
use crate::{SandboxOptions, Shared};

mod register;
mod samples;
mod throttle;
mod xml;

/// Which namespace-prefix era register XML is served in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixEra;

pub struct State;

impl State {
    pub fn new(_opts: &SandboxOptions) -> Self {
        State
    }
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    pub fn restore(&self, _v: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    pub fn expire_tokens(&self) -> usize {
        0
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

pub fn scenario_routes() -> Router<Arc<Shared>> {
    Router::new()
}

pub fn fault_response(status: StatusCode, _retry_after: Option<&str>) -> Response {
    status.into_response()
}

impl State {
    pub fn advance(
        &self,
        number: &str,
        _kind: Option<&str>,
        _clock: &Clock,
    ) -> Result<serde_json::Value, crate::scenario::ScenarioError> {
        Err(crate::scenario::ScenarioError::not_found(format!(
            "no EP case {number}"
        )))
    }
}
