//! The JPO scenario routes:
//!
//! | route | does |
//! |---|---|
//! | `GET/POST /_sandbox/jpo/caps` | `{"app_progress":400,…}` sets caps by API name (unknown name → 400, nothing changed); answers all caps |
//! | `GET /_sandbox/jpo/usage` | today's counters: `{"date":"YYYYMMDD","users":{user:{right:{api:{"used","cap","remain"}}}}}` |
//! | `GET/POST /_sandbox/jpo/settings` | `{"token_lifetime_secs":N,"refresh_lifetime_secs":N}` for tokens issued from now on |
//! | `GET/POST /_sandbox/jpo/cases` | `{"right":"patent","count":N}` adds N synthetic cases, answers their numbers; GET lists every case number per right |
//! | `GET/POST /_sandbox/jpo/pct` | `{"application":"2023500001","international_application":"EP2025000001","international_publication":"WO2025000001","international_publication_date":"YYYYMMDD"}` (the last two optional) makes a patent case the JP national phase of a PCT application: `pct_national_phase_application_number` then answers it and its `app_progress` shows the numbers (unknown case → 404, malformed number → 400, a number already naming another case → 409; a new link of the same case replaces its old one); GET lists every national-phase case, the built-in 2026500123 included |

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::api::Right;
use super::cases::{PctError, PctLink};
use super::{Inner, quota};
use crate::Shared;
use crate::scenario::ScenarioError;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox/jpo/caps", get(caps).post(set_caps))
        .route("/_sandbox/jpo/usage", get(usage))
        .route("/_sandbox/jpo/settings", get(settings).post(set_settings))
        .route("/_sandbox/jpo/cases", get(cases).post(add_cases))
        .route("/_sandbox/jpo/pct", get(pct).post(link_pct))
}

fn parse<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ScenarioError> {
    body.map(|Json(t)| t)
        .map_err(|e| ScenarioError::bad_request(e.body_text()))
}

fn caps_json(g: &Inner) -> Json<Value> {
    Json(Value::Object(
        g.caps.iter().map(|(k, v)| (k.to_owned(), v.into())).collect(),
    ))
}

async fn caps(State(sh): State<Arc<Shared>>) -> Json<Value> {
    caps_json(&sh.jpo.lock())
}

async fn set_caps(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<BTreeMap<String, u32>>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let changes = parse(body)?;
    let mut g = sh.jpo.lock();
    let mut caps = g.caps.clone();
    for (api, cap) in changes {
        caps.set(&api, cap)
            .map_err(|e| ScenarioError::bad_request(e.to_string()))?;
    }
    g.caps = caps;
    Ok(caps_json(&g))
}

async fn usage(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let now = sh.clock.now_ms();
    let mut g = sh.jpo.lock();
    let caps = g.caps.clone();
    let users: Map<String, Value> = g
        .daily
        .today(now)
        .iter()
        .map(|(user, rights)| {
            let rights: Map<String, Value> = rights
                .iter()
                .map(|(right, apis)| {
                    let apis: Map<String, Value> = apis
                        .iter()
                        .map(|(api, used)| {
                            let cap = caps.cap(*api);
                            let counts =
                                json!({"used": used, "cap": cap, "remain": cap.saturating_sub(*used)});
                            (api.name().to_owned(), counts)
                        })
                        .collect();
                    (right.name().to_owned(), Value::Object(apis))
                })
                .collect();
            (user.clone(), Value::Object(rights))
        })
        .collect();
    Json(json!({ "date": quota::jst_yyyymmdd(now), "users": users }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    token_lifetime_secs: Option<u64>,
    #[serde(default)]
    refresh_lifetime_secs: Option<u64>,
}

fn settings_json(g: &Inner) -> Json<Value> {
    Json(json!({
        "token_lifetime_secs": g.lifetimes.access_secs,
        "refresh_lifetime_secs": g.lifetimes.refresh_secs,
    }))
}

async fn settings(State(sh): State<Arc<Shared>>) -> Json<Value> {
    settings_json(&sh.jpo.lock())
}

async fn set_settings(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<Settings>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let s = parse(body)?;
    if s.token_lifetime_secs == Some(0) || s.refresh_lifetime_secs == Some(0) {
        return Err(ScenarioError::bad_request("lifetimes must be at least 1 second"));
    }
    let mut g = sh.jpo.lock();
    if let Some(n) = s.token_lifetime_secs {
        g.lifetimes.access_secs = n;
    }
    if let Some(n) = s.refresh_lifetime_secs {
        g.lifetimes.refresh_secs = n;
    }
    Ok(settings_json(&g))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCases {
    right: Right,
    count: u32,
}

async fn add_cases(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<NewCases>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let req = parse(body)?;
    let numbers = sh
        .jpo
        .lock()
        .cases
        .add_synthetic(req.right, req.count)
        .map_err(ScenarioError::bad_request)?;
    sh.persist.mark_dirty();
    Ok(Json(json!({ "right": req.right.name(), "numbers": numbers })))
}

async fn cases(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let numbers = sh.jpo.lock().cases.numbers();
    Json(Value::Object(
        numbers
            .into_iter()
            .map(|(r, n)| (r.name().to_owned(), json!(n)))
            .collect(),
    ))
}

async fn pct(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "links": sh.jpo.lock().cases.pct_links() }))
}

async fn link_pct(
    State(sh): State<Arc<Shared>>,
    body: Result<Json<PctLink>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let link = parse(body)?;
    let answer = json!(link);
    sh.jpo.lock().cases.link_pct(link).map_err(|e| match e {
        PctError::NoCase(_) => ScenarioError::not_found(e.to_string()),
        PctError::Taken { .. } => ScenarioError(StatusCode::CONFLICT, e.to_string()),
        _ => ScenarioError::bad_request(e.to_string()),
    })?;
    sh.persist.mark_dirty();
    Ok(Json(answer))
}
