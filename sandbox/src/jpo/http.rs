//! The office routes: `POST /jpo/auth/token` and `GET /jpo/api/{right}/v1/{api}/{params…}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::Shared;

const API_PREFIX: &str = "/jpo/api/";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/jpo/auth/token", post(token))
        .route("/jpo/api/{*rest}", get(api))
}

async fn token(
    State(sh): State<Arc<Shared>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    match form {
        Ok(Form(fields)) => sh.jpo.token(&fields, Instant::now()),
        Err(e) => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e.body_text()),
    }
}

/// A missing or non-Bearer `Authorization` header is treated like a bad token (210, HTTP
/// 401): the live answer without the header is unrecorded (§11).
async fn api(State(sh): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().strip_prefix(API_PREFIX).unwrap_or_default();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let (resp, spent) = sh.jpo.serve(token, path, sh.clock.now_ms(), Instant::now());
    if spent {
        sh.persist.mark_dirty();
    }
    resp
}

fn no_store(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(body),
    )
        .into_response()
}

/// HTTP 200 with the token body, `Cache-Control: no-store` (§2.2).
pub fn token_reply(body: Value) -> Response {
    no_store(StatusCode::OK, body)
}

/// A Keycloak error body (§2.3).
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    no_store(
        status,
        json!({ "error": error, "error_description": description }),
    )
}
