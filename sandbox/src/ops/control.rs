//! The OPS part of the scenario API (`/_sandbox/ops/…`).
//!
//! | route | body | effect |
//! |---|---|---|
//! | `GET/POST /_sandbox/ops/throttle` | `{"state":"idle\|busy\|overloaded","limits":{"other":200,"search":10}}` (both optional) | system state of `X-Throttling-Control` (absent: kept) and per-minute limits overriding the state's table for the named services; every POST replaces the overrides (none when `limits` is absent), so a test can make `other` (1000 in every state) bind; GET also shows the limits in effect and the requests in each window |
//! | `GET/POST /_sandbox/ops/quota` | `{"hour_bytes":N,"week_bytes":N,"reset":true}` (all optional) | byte quota limits; `reset` forgets the bytes used |
//! | `GET/POST /_sandbox/ops/settings` | `{"prefix_era":"2025\|2022","token_lifetime_secs":N,"not_found":"fault\|empty","multi_number_post":"first\|all"}` (all optional) | serving settings |
//! | `GET/POST /_sandbox/ops/cases` | `{"count":N,"status":"7"}` | POST adds N synthetic cases (starting status optional, default 7); GET lists every case with its current status |
//! | `GET/POST /_sandbox/ops/families` | `{"application":"EP90000001","family_id":"…","publication":"EP9000001","publication_kind":"A1","filed":"YYYYMMDD","published":"YYYYMMDD","members":[{"country":"JP","application":"2023500001","kind":"A","filed":…,"publication":"2024500001","publication_kind":"A","published":…}]}` (all but `application` and a member's `country`/`application` optional) | POST attaches an INPADOC family to any EP application (201 with the family; replaces an earlier one; 409 for EP10167109, whose family is recorded); GET lists the attached families. Defaults: [`super::family`] |

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::family::Attach;
use super::register::{Case, parse_number};
use super::samples::Inpadoc;
use super::throttle::{Bucket, SystemState};
use super::{MultiNumber, NotFound, PrefixEra, lock};
use crate::Shared;
use crate::scenario::ScenarioError;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox/ops/throttle", get(throttle).post(set_throttle))
        .route("/_sandbox/ops/quota", get(quota).post(set_quota))
        .route("/_sandbox/ops/settings", get(settings).post(set_settings))
        .route("/_sandbox/ops/cases", get(cases).post(add_cases))
        .route("/_sandbox/ops/families", get(families).post(attach_family))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ScenarioError> {
    b.map(|Json(t)| t)
        .map_err(|e| ScenarioError::bad_request(e.body_text()))
}

async fn throttle(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let now = sh.clock.now_ms();
    let mut l = sh.ops.limits();
    let usage: serde_json::Map<String, Value> = l
        .throttle
        .usage(now)
        .into_iter()
        .map(|(client, counts)| {
            let per: serde_json::Map<String, Value> = counts
                .into_iter()
                .map(|(b, n)| (b.name().to_owned(), json!(n)))
                .collect();
            (client, Value::Object(per))
        })
        .collect();
    let mut limits = serde_json::Map::new();
    let mut overrides = Vec::new();
    for (b, limit, overridden) in l.throttle.limits() {
        limits.insert(b.name().to_owned(), json!(limit));
        if overridden {
            overrides.push(b.name());
        }
    }
    Json(json!({
        "state": l.throttle.state().as_str(),
        "limits": limits,
        "overrides": overrides,
        "requests_in_window": usage,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleChange {
    #[serde(default)]
    state: Option<String>,
    /// Service name → requests per minute.
    #[serde(default)]
    limits: BTreeMap<String, u32>,
}

/// The overrides of a throttle change: known service names and limits of at least 1.
fn limit_overrides(limits: &BTreeMap<String, u32>) -> Result<Vec<(Bucket, u32)>, String> {
    limits
        .iter()
        .map(|(name, &limit)| {
            let bucket = Bucket::from_name(name).ok_or_else(|| {
                format!("unknown OPS service {name:?}: use images, inpadoc, other, retrieval or search")
            })?;
            if limit == 0 {
                return Err(format!(
                    "the limit of {name} must be at least 1 request per minute"
                ));
            }
            Ok((bucket, limit))
        })
        .collect()
}

async fn set_throttle(
    State(sh): State<Arc<Shared>>,
    b: Result<Json<ThrottleChange>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let change = body(b)?;
    let state: Option<SystemState> = change
        .state
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: super::throttle::UnknownState| ScenarioError::bad_request(e.to_string()))?;
    let overrides = limit_overrides(&change.limits).map_err(ScenarioError::bad_request)?;
    {
        let mut l = sh.ops.limits();
        if let Some(state) = state {
            l.throttle.set_state(state);
        }
        l.throttle.set_limits(&overrides);
    }
    Ok(throttle(State(sh)).await)
}

async fn quota(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let now = sh.clock.now_ms();
    let mut l = sh.ops.limits();
    let used: serde_json::Map<String, Value> = l
        .quota
        .clients()
        .into_iter()
        .map(|client| {
            let (hour, week) = l.quota.used(&client, now);
            (client, json!({ "hour_bytes": hour, "week_bytes": week }))
        })
        .collect();
    Json(json!({
        "hour_bytes": l.quota.hour_limit,
        "week_bytes": l.quota.week_limit,
        "used": used,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaChange {
    #[serde(default)]
    hour_bytes: Option<u64>,
    #[serde(default)]
    week_bytes: Option<u64>,
    #[serde(default)]
    reset: bool,
}

async fn set_quota(
    State(sh): State<Arc<Shared>>,
    b: Result<Json<QuotaChange>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let change = body(b)?;
    {
        let mut l = sh.ops.limits();
        if let Some(h) = change.hour_bytes {
            l.quota.hour_limit = h;
        }
        if let Some(w) = change.week_bytes {
            l.quota.week_limit = w;
        }
        if change.reset {
            l.quota.restore(Default::default());
        }
    }
    sh.persist.mark_dirty();
    Ok(quota(State(sh)).await)
}

async fn settings(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(sh.ops.settings().to_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    prefix_era: Option<String>,
    #[serde(default)]
    token_lifetime_secs: Option<u64>,
    #[serde(default)]
    not_found: Option<NotFound>,
    #[serde(default)]
    multi_number_post: Option<MultiNumber>,
}

async fn set_settings(
    State(sh): State<Arc<Shared>>,
    b: Result<Json<SettingsChange>, JsonRejection>,
) -> Result<Json<Value>, ScenarioError> {
    let change = body(b)?;
    let era = change
        .prefix_era
        .map(|e| e.parse::<PrefixEra>())
        .transpose()
        .map_err(|e| ScenarioError::bad_request(e.to_string()))?;
    let mut s = lock(&sh.ops.settings);
    if let Some(e) = era {
        s.era = e;
    }
    if let Some(t) = change.token_lifetime_secs {
        s.token_lifetime_secs = t;
    }
    if let Some(n) = change.not_found {
        s.not_found = n;
    }
    if let Some(m) = change.multi_number_post {
        s.multi_number_post = m;
    }
    Ok(Json(s.to_json()))
}

fn case_json(c: &Case) -> Value {
    let status = c.status();
    json!({
        "application": c.application,
        "publication": c.publication,
        "status": status.text,
        "status_code": status.code,
        "change_date": status.change_date,
        "events": c.event_count(),
        "steps": c.step_count(),
        "synthetic": c.synthetic.is_some(),
    })
}

async fn cases(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let reg = sh.ops.registry();
    Json(json!({ "cases": reg.cases().iter().map(case_json).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCases {
    count: u32,
    /// The status code the cases start at (default 7).
    #[serde(default)]
    status: Option<String>,
}

async fn add_cases(
    State(sh): State<Arc<Shared>>,
    b: Result<Json<NewCases>, JsonRejection>,
) -> Result<Response, ScenarioError> {
    let req = body(b)?;
    let made = sh
        .ops
        .registry()
        .add_synthetic(req.count, req.status.as_deref())
        .map_err(|e| ScenarioError::bad_request(e.to_string()))?;
    sh.persist.mark_dirty();
    let cases: Vec<Value> = made.iter().map(case_json).collect();
    Ok((StatusCode::CREATED, Json(json!({ "cases": cases }))).into_response())
}

async fn families(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "families": sh.ops.families().attached() }))
}

async fn attach_family(
    State(sh): State<Arc<Shared>>,
    b: Result<Json<Attach>, JsonRejection>,
) -> Result<Response, ScenarioError> {
    let req = body(b)?;
    let application = parse_number(&req.application);
    let register_publication = application
        .as_ref()
        .and_then(|n| sh.ops.registry().by_application(n).map(|c| c.publication.clone()));
    if let Some(p) = &register_publication
        && sh
            .ops
            .inpadoc
            .iter()
            .any(|d| d.kind == Inpadoc::Family && d.publication == *p)
    {
        return Err(ScenarioError(
            StatusCode::CONFLICT,
            format!(
                "{} has a recorded family, which is served verbatim",
                req.application
            ),
        ));
    }
    let today = sh.clock.now().format("%Y%m%d").to_string();
    let family = req
        .into_family(register_publication.as_deref(), &today)
        .map_err(|e| ScenarioError::bad_request(e.to_string()))?;
    let answer = serde_json::to_value(&family).unwrap_or(Value::Null);
    sh.ops.families().attach(family);
    sh.persist.mark_dirty();
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_overrides_name_known_services_with_positive_limits() {
        let map = |pairs: &[(&str, u32)]| -> BTreeMap<String, u32> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        assert_eq!(limit_overrides(&map(&[])), Ok(vec![]));
        assert_eq!(
            limit_overrides(&map(&[("other", 200), ("search", 10)])),
            Ok(vec![(Bucket::Other, 200), (Bucket::Search, 10)])
        );
        let unknown = limit_overrides(&map(&[("register", 5)])).unwrap_err();
        assert!(unknown.contains("\"register\""), "{unknown}");
        let zero = limit_overrides(&map(&[("other", 0)])).unwrap_err();
        assert!(zero.contains("at least 1"), "{zero}");
    }
}
