//! Error answers: the ST.90-style body of the Mailbox API and the Okta body of the token
//! endpoint.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// The challenge sent with every 401 of the Mailbox API.
pub const BEARER_CHALLENGE: &str = "Bearer error=\"invalid_token\"";

/// One entry of an ST.90 `details` list.
#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    pub code: &'static str,
    pub target: String,
    pub message: String,
}

/// A Mailbox API error: `{"code","message","details"?}` (`details` only when non-empty).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", message)
    }

    /// A 400 naming the query parameter or body field at fault.
    pub fn invalid(target: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            details: vec![Detail {
                code: "INVALID_VALUE",
                target: target.to_owned(),
                message: message.clone(),
            }],
            ..ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", message)
        }
    }

    pub fn communication_not_found(id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "COMMUNICATION_NOT_FOUND",
            format!("Communication {id} was not found in this Mailbox"),
        )
    }

    pub fn not_acceptable(offered: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            format!("This resource is only available as {offered}"),
        )
    }

    /// An error body for an injected status, with a code that fits the status.
    pub fn for_status(status: StatusCode, retry_after: Option<&str>) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("BAD_REQUEST", "The request is not valid".to_owned()),
            401 => (
                "INVALID_TOKEN",
                "The access token is missing, invalid or expired".to_owned(),
            ),
            403 => (
                "MAILBOX_ACCESS_DENIED",
                "The system account has no access right to the Mailbox".to_owned(),
            ),
            404 => ("NOT_FOUND", "The resource was not found".to_owned()),
            409 => (
                "CONFLICT",
                "The request conflicts with the state of the Mailbox".to_owned(),
            ),
            429 => (
                "TOO_MANY_REQUESTS",
                match retry_after {
                    Some(r) => format!("Too many requests; retry after {r}"),
                    None => "Too many requests".to_owned(),
                },
            ),
            500 => ("INTERNAL_SERVER_ERROR", "An unexpected error occurred".to_owned()),
            502 => (
                "BAD_GATEWAY",
                "The upstream service did not answer correctly".to_owned(),
            ),
            503 => (
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable for maintenance".to_owned(),
            ),
            504 => (
                "GATEWAY_TIMEOUT",
                "The upstream service did not answer in time".to_owned(),
            ),
            _ => ("ERROR", status.canonical_reason().unwrap_or("Error").to_owned()),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if !self.details.is_empty() {
            body["details"] = json!(self.details);
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BEARER_CHALLENGE),
            );
        }
        resp
    }
}

/// An OAuth 2.0 error of the token endpoint, Okta style:
/// `{"error":"…","error_description":"…"}`.
#[derive(Debug)]
pub struct OktaError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Add `WWW-Authenticate: Basic` (RFC 6749 §5.2: a failed Basic authentication).
    pub basic_challenge: bool,
}

impl OktaError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        OktaError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub fn invalid_client(basic: bool) -> Self {
        OktaError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description:
                "Client authentication failed. Either the client or the client credentials are invalid."
                    .to_owned(),
            basic_challenge: basic,
        }
    }
}

impl IntoResponse for OktaError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut resp = (self.status, no_store(), Json(body)).into_response();
        if self.basic_challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sandbox\""),
            );
        }
        resp
    }
}

/// The cache headers of every token-endpoint answer (RFC 6749 §5.1).
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}
