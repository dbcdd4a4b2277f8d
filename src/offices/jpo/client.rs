//! The JPO client.
//!
//! - **Token**: password grant; reused until a minute before it expires (half its life when it
//!   is short); then a refresh grant while the refresh token lives; a refresh the office
//!   rejects (400/401) falls back to the password grant. An HTTP 401 or status 210/212 drops
//!   the access *and* refresh token (the session is gone), logs in with the password and
//!   repeats the call once.
//! - **Window**: one limiter for every right: at most `requests_per_window` request starts in
//!   any `window` (`core::jpo_quota::SlidingWindow`); a request waits for its slot.
//! - **Daily caps**: counters per JST day, right and API (`core::jpo_quota::DailyQuota`),
//!   taught by every `remainAccessCount`. A call the counters say cannot succeed today is
//!   refused here, without a request: after a 203, or when the office's count reached 0.
//! - **Retries**: 303/HTTP 429, 302/HTTP 504, 999 and transport failures are retried up to
//!   `retries` times after `retry_base_delay` ×1, ×3, ×9, … (or the office's `Retry-After`
//!   when longer).
//! - Every request carries an `X-Request-ID`; errors keep it. No secret reaches a log or error.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Url;
use reqwest::header::ACCEPT;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::contract::{self as c, Status};
use super::parse::{JpoParseError, parse_app_progress, parse_envelope};
use crate::config::{Jpo as Settings, Secret};
use crate::core::cases::Kind;
use crate::core::jpo_quota::{ApiUsage, DailyQuota, SlidingWindow, jst_day};
use crate::core::status::JpStatus;
use crate::offices::http::{self, HttpFailure};

/// The longest single pause between retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum JpoError {
    #[error("JPO {right} {number}: no such case (status {code})")]
    NotFound {
        right: Kind,
        number: String,
        code: String,
    },
    #[error("JPO {right} {number:?}: not a valid application number ({reason})")]
    BadNumber {
        right: Kind,
        number: String,
        reason: String,
    },
    #[error("JPO daily cap of {api} for {right} reached; calls resume after 00:00 JST")]
    DailyCapReached { right: Kind, api: String },
    #[error("JPO {right} {number}: {cause}")]
    Parse {
        right: Kind,
        number: String,
        cause: JpoParseError,
    },
    #[error(
        "JPO {what}: status {code} (HTTP {http}){} (request {request_id})",
        colon(message)
    )]
    Status {
        what: String,
        code: String,
        http: u16,
        message: String,
        request_id: String,
        retry_after: Option<Duration>,
    },
    #[error("JPO {what}: HTTP {http}: {cause} (request {request_id})")]
    Unreadable {
        what: String,
        http: u16,
        cause: JpoParseError,
        request_id: String,
        retry_after: Option<Duration>,
    },
    #[error("JPO token request failed: {0}")]
    Token(Box<HttpFailure>),
    #[error("JPO token answer unusable: {0}")]
    TokenAnswer(String),
    /// The password grant was refused.
    #[error(
        "JPO refused our credentials (HTTP {status}{}): check [jpo] username/password",
        http::spaced(detail)
    )]
    Credentials { status: u16, detail: Option<String> },
    /// No connection could be made to the configured URL (after the retries).
    #[error("cannot reach JPO at {url}: {cause}; check [jpo] {key} and the network")]
    Unreachable {
        url: String,
        cause: String,
        key: &'static str,
    },
    #[error("JPO {what}: {}", http::chain(cause))]
    Transport { what: String, cause: reqwest::Error },
    #[error("JPO URL for {what}: {reason}")]
    Url { what: String, reason: String },
}

impl JpoError {
    /// The error concerns only this case (unknown, malformed, or data we cannot read); other
    /// cases can go on.
    pub fn is_case_error(&self) -> bool {
        matches!(
            self,
            JpoError::NotFound { .. } | JpoError::BadNumber { .. } | JpoError::Parse { .. }
        )
    }

    /// A person has to act before any case can be refreshed: the credentials are refused or
    /// the office cannot be reached at its configured URL (`sync status` exits 1 on these).
    pub fn needs_person(&self) -> bool {
        matches!(self, JpoError::Credentials { .. } | JpoError::Unreachable { .. })
    }

    /// Worth trying again after a pause: throttled, timed out, an office-side failure.
    pub fn is_transient(&self) -> bool {
        match self {
            JpoError::Unreachable { .. } => true,
            JpoError::Status { code, .. } => Status::parse(code).is_some_and(Status::is_transient),
            JpoError::Unreadable { http, .. } => Status::from_http(*http).is_some_and(Status::is_transient),
            JpoError::Token(f) => f.is_transient(),
            JpoError::Transport { cause, .. } => http::transport_is_transient(cause),
            _ => false,
        }
    }

    /// What a rejection that persists after logging in again means: status 212 once more is
    /// the office refusing these credentials for the API (the password grant itself went
    /// through), which a person must fix in `[jpo]`; anything else stays as it is.
    fn refused_after_login(self) -> JpoError {
        match self {
            JpoError::Status {
                code, http, message, ..
            } if Status::parse(&code) == Some(Status::BadCredentials) => JpoError::Credentials {
                status: http,
                detail: Some(format!("status {code}{}", colon(&message))),
            },
            other => other,
        }
    }

    /// The office rejected our token.
    fn needs_login(&self) -> bool {
        match self {
            JpoError::Status { code, http, .. } => {
                *http == 401 || Status::parse(code).is_some_and(Status::needs_login)
            }
            JpoError::Unreadable { http, .. } => *http == 401,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            JpoError::Status { retry_after, .. } | JpoError::Unreadable { retry_after, .. } => *retry_after,
            JpoError::Token(f) => f.retry_after,
            _ => None,
        }
    }
}

/// What the client has done since it was made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JpoStats {
    /// API requests sent (token requests not included).
    pub requests: u64,
    /// Answers per `statusCode` (`"100"`, `"107"`, `"203"`, `"303"`, …); an answer without a
    /// readable envelope counts as `"HTTP <status>"`.
    pub by_status: BTreeMap<String, u64>,
    /// Password grants that succeeded.
    pub logins: u64,
    /// Refresh grants that succeeded.
    pub refreshes: u64,
    /// Refresh grants the office rejected (each followed by a password grant).
    pub refresh_failures: u64,
    /// Requests repeated after a transient failure.
    pub retries: u64,
    /// Calls refused without a request because today's cap is known to be reached.
    pub refused_locally: u64,
}

impl JpoStats {
    /// Answers with this `statusCode` (or `"HTTP <status>"` key).
    pub fn status(&self, code: &str) -> u64 {
        self.by_status.get(code).copied().unwrap_or(0)
    }
}

struct Held {
    value: Secret,
    /// Renew before this; `None` = lifetime unknown (try it).
    renew_at: Option<Instant>,
}

impl Held {
    fn usable(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|t| now < t)
    }
}

#[derive(Default)]
struct Session {
    access: Option<Held>,
    refresh: Option<Held>,
}

pub struct JpoClient {
    http: reqwest::Client,
    settings: Settings,
    session: tokio::sync::Mutex<Session>,
    origin: Instant,
    window: Mutex<SlidingWindow>,
    quota: Mutex<DailyQuota>,
    stats: Mutex<JpoStats>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JpoClient {
    pub fn new(cfg: &Settings) -> Result<Self, JpoError> {
        let http = http::client(Duration::from_secs(10), cfg.read_timeout).map_err(|source| {
            JpoError::Transport {
                what: "client setup".into(),
                cause: source,
            }
        })?;
        Ok(JpoClient {
            http,
            settings: cfg.clone(),
            session: tokio::sync::Mutex::new(Session::default()),
            origin: Instant::now(),
            window: Mutex::new(SlidingWindow::new(cfg.window, cfg.requests_per_window)),
            quota: Mutex::new(DailyQuota::default()),
            stats: Mutex::new(JpoStats::default()),
        })
    }

    /// Replaces the daily counters with saved ones (from [`JpoClient::usage`] of an earlier run).
    pub fn restore_usage(&self, usage: Vec<ApiUsage>) {
        *locked(&self.quota) = DailyQuota::restore(usage);
    }

    /// The daily counters, for saving.
    pub fn usage(&self) -> Vec<ApiUsage> {
        locked(&self.quota).snapshot()
    }

    /// `app_progress` calls left for `right` on the JST day `today`.
    pub fn remaining(&self, right: Kind, today: NaiveDate) -> u32 {
        self.remaining_of(right, c::APP_PROGRESS, today)
    }

    pub fn stats(&self) -> JpoStats {
        locked(&self.stats).clone()
    }

    /// The status and file history of one case. `now` decides the JST day of the daily
    /// counters (a simulated time is fine); waiting and token lifetimes run on real time.
    pub async fn app_progress(
        &self,
        right: Kind,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<JpStatus, JpoError> {
        let number = number.trim();
        if number.len() != c::APPLICATION_NUMBER_DIGITS || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(JpoError::BadNumber {
                right,
                number: number.to_owned(),
                reason: format!("{} digits expected", c::APPLICATION_NUMBER_DIGITS),
            });
        }
        let segments = c::path_segments(right, c::APP_PROGRESS, number);
        let data = self
            .call(right, c::APP_PROGRESS, &segments, number, jst_day(now))
            .await?;
        parse_app_progress(&data, right).map_err(|source| JpoError::Parse {
            right,
            number: number.to_owned(),
            cause: source,
        })
    }

    /// The JP national-phase application of PCT application `international` (the JPO's
    /// form, `EP2024071234`): `None` when the JPO knows none (107: not entered, or not yet).
    /// Counted against its own daily cap ([`c::PCT_DAILY_CAP`] until the office says).
    pub async fn pct_national_phase(
        &self,
        international: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, JpoError> {
        let right = Kind::Patent;
        let segments = [
            right.as_str(),
            c::VERSION,
            c::PCT_NATIONAL_PHASE,
            c::PCT_BY_APPLICATION,
            international,
        ];
        let data = match self
            .call(
                right,
                c::PCT_NATIONAL_PHASE,
                &segments,
                international,
                jst_day(now),
            )
            .await
        {
            Ok(data) => data,
            Err(JpoError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let found = data
            .get(c::F_APPLICATION_NUMBER)
            .and_then(Value::as_str)
            .map(str::trim);
        match found {
            Some(n) if n.len() == c::APPLICATION_NUMBER_DIGITS && n.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(n.to_owned()))
            }
            other => Err(JpoError::Parse {
                right,
                number: international.to_owned(),
                cause: JpoParseError::NationalPhase(
                    other.map_or_else(|| "none".to_owned(), |n| format!("{n:?}")),
                ),
            }),
        }
    }

    /// Logs in (the password grant, or a refresh while one is held) and nothing else: what
    /// `mailroom check` asks of the JPO, since every API call counts against a daily cap.
    pub async fn sign_in(&self) -> Result<(), JpoError> {
        self.token().await.map(|_| ())
    }

    fn remaining_of(&self, right: Kind, api: &str, today: NaiveDate) -> u32 {
        // `daily_cap` is configured for app_progress; the national-phase API has its own.
        let cap = if api == c::PCT_NATIONAL_PHASE {
            c::PCT_DAILY_CAP
        } else {
            self.settings.daily_cap
        };
        locked(&self.quota).remaining(right, api, today, cap)
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_base_delay)
            .with_factor(3.0)
            .with_max_delay(MAX_RETRY_DELAY)
            .with_max_times(self.settings.retries as usize)
    }

    /// One API call with retries of transient failures; the `data` of a 100 answer.
    async fn call(
        &self,
        right: Kind,
        api: &str,
        segments: &[&str],
        number: &str,
        today: NaiveDate,
    ) -> Result<Value, JpoError> {
        let what = format!("{right} {api} {number}");
        let url = self.url(&what, segments)?;
        let once = || async {
            let first = self.exchange(&what, &url, right, api, number, today).await;
            match first {
                Err(e) if e.needs_login() => {
                    tracing::info!("{e}; logging in again and repeating the call once");
                    *self.session.lock().await = Session::default();
                    self.exchange(&what, &url, right, api, number, today)
                        .await
                        .map_err(JpoError::refused_after_login)
                }
                other => other,
            }
        };
        once.retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(JpoError::is_transient)
            .adjust(|e, delay| delay.map(|d| d.max(e.retry_after().unwrap_or_default())))
            .notify(|e, delay| {
                locked(&self.stats).retries += 1;
                tracing::warn!("{e}; retrying in {delay:.1?}");
            })
            .await
    }

    /// One request and its answer, with the daily counters checked before and updated after.
    async fn exchange(
        &self,
        what: &str,
        url: &Url,
        right: Kind,
        api: &str,
        number: &str,
        today: NaiveDate,
    ) -> Result<Value, JpoError> {
        if self.remaining_of(right, api, today) == 0 {
            locked(&self.stats).refused_locally += 1;
            return Err(JpoError::DailyCapReached {
                right,
                api: api.to_owned(),
            });
        }
        // The slot first: a long wait must not outlive the token.
        let slot = self.window_slot().await;
        let token = match self.token().await {
            Ok(t) => t,
            Err(e) => {
                self.settle(slot);
                return Err(e);
            }
        };
        let request_id = http::request_id();
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .header("X-Request-ID", &request_id)
            .header(ACCEPT, "application/json")
            .send()
            .await;
        locked(&self.stats).requests += 1;
        let transport = |source| transport(what, (&self.settings.api_base_url, "api_base_url"), source);
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.settle(slot);
                return Err(transport(e));
            }
        };
        let http_status = resp.status().as_u16();
        let retry_after = http::retry_after(resp.headers(), SystemTime::now());
        let body = resp.bytes().await;
        self.settle(slot);
        let body = body.map_err(transport)?;
        let env = match parse_envelope(&body) {
            Ok(env) => env,
            Err(source) => {
                self.count(&format!("HTTP {http_status}"));
                return Err(JpoError::Unreadable {
                    what: what.to_owned(),
                    http: http_status,
                    cause: source,
                    request_id,
                    retry_after,
                });
            }
        };
        self.count(&env.status_code);
        locked(&self.quota).record(right, api, today, env.remain_access_count, &env.status_code);
        match env.status() {
            Some(Status::Ok) if http_status < 300 => Ok(env.data.unwrap_or(Value::Null)),
            Some(Status::NoData | Status::OutOfScope) => Err(JpoError::NotFound {
                right,
                number: number.to_owned(),
                code: env.status_code,
            }),
            Some(Status::DailyCap) => Err(JpoError::DailyCapReached {
                right,
                api: api.to_owned(),
            }),
            Some(Status::BadParameter | Status::ForbiddenCharacter) => Err(JpoError::BadNumber {
                right,
                number: number.to_owned(),
                reason: format!("status {}: {}", env.status_code, env.error_message),
            }),
            _ => Err(JpoError::Status {
                what: what.to_owned(),
                code: env.status_code,
                http: http_status,
                message: env.error_message,
                request_id,
                retry_after,
            }),
        }
    }

    fn count(&self, key: &str) {
        *locked(&self.stats).by_status.entry(key.to_owned()).or_default() += 1;
    }

    /// Waits for a start the window allows and returns it (to [`JpoClient::settle`] later).
    async fn window_slot(&self) -> Duration {
        let at = locked(&self.window).reserve(self.origin.elapsed());
        tokio::time::sleep_until(self.origin + at).await;
        at
    }

    /// Moves the request's start in the window's book to now, when its answer is in.
    fn settle(&self, slot: Duration) {
        locked(&self.window).settle(slot, self.origin.elapsed());
    }

    /// A valid access token: the held one, else a refreshed one, else a new login.
    async fn token(&self) -> Result<Secret, JpoError> {
        let mut session = self.session.lock().await;
        let now = Instant::now();
        if let Some(a) = session.access.as_ref().filter(|a| a.usable(now)) {
            return Ok(a.value.clone());
        }
        session.access = None;
        if let Some(refresh) = session.refresh.take().filter(|r| r.usable(now)) {
            let form = [
                (c::FORM_GRANT_TYPE, c::GRANT_REFRESH),
                (c::FORM_REFRESH_TOKEN, refresh.value.expose()),
            ];
            match self.grant("refresh grant", &form).await {
                Ok(fresh) => {
                    locked(&self.stats).refreshes += 1;
                    return Ok(hold(&mut session, fresh));
                }
                Err(JpoError::Token(f)) if c::REFRESH_REJECTED.contains(&f.status) => {
                    locked(&self.stats).refresh_failures += 1;
                    tracing::info!("JPO refused the refresh token ({f}); logging in with the password");
                }
                Err(e) => return Err(e),
            }
        }
        let form = [
            (c::FORM_GRANT_TYPE, c::GRANT_PASSWORD),
            (c::FORM_USERNAME, self.settings.username.as_str()),
            (c::FORM_PASSWORD, self.settings.password.expose()),
        ];
        let fresh = match self.grant("password grant", &form).await {
            Err(JpoError::Token(f)) if matches!(f.status, 400 | 401 | 403) => {
                return Err(JpoError::Credentials {
                    status: f.status,
                    detail: f.detail,
                });
            }
            other => other?,
        };
        locked(&self.stats).logins += 1;
        Ok(hold(&mut session, fresh))
    }

    async fn grant(&self, what: &str, form: &[(&str, &str)]) -> Result<Fresh, JpoError> {
        let resp = self
            .http
            .post(self.settings.token_url.clone())
            .header(ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|source| {
                transport(
                    &format!("token {what}"),
                    (&self.settings.token_url, "token_url"),
                    source,
                )
            })?;
        if !resp.status().is_success() {
            let failure = HttpFailure::from_response(format!("token {what}"), resp, None).await;
            return Err(JpoError::Token(Box::new(failure)));
        }
        let body: Value = resp
            .json()
            .await
            .map_err(|e| JpoError::TokenAnswer(format!("{what}: not JSON: {}", http::chain(&e))))?;
        session_from(&body, Instant::now())
            .map_err(|reason| JpoError::TokenAnswer(format!("{what}: {reason}")))
    }

    fn url(&self, what: &str, segments: &[&str]) -> Result<Url, JpoError> {
        let mut url = self.settings.api_base_url.clone();
        url.path_segments_mut()
            .map_err(|()| JpoError::Url {
                what: what.to_owned(),
                reason: "the API base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

/// A request that got no answer: [`JpoError::Unreachable`] when no connection was made to
/// `url`, the value of configuration key `key`.
fn transport(what: &str, (url, key): (&Url, &'static str), source: reqwest::Error) -> JpoError {
    if source.is_connect() {
        JpoError::Unreachable {
            url: url.to_string(),
            cause: http::root_cause(&source),
            key,
        }
    } else {
        JpoError::Transport {
            what: what.to_owned(),
            cause: source,
        }
    }
}

/// The tokens of one token answer.
struct Fresh {
    access: Held,
    refresh: Option<Held>,
}

/// Keeps a fresh pair in the session and returns its access token.
fn hold(session: &mut Session, fresh: Fresh) -> Secret {
    let value = fresh.access.value.clone();
    session.access = Some(fresh.access);
    session.refresh = fresh.refresh;
    value
}

/// `": message"`, or nothing for an empty message.
fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The tokens of a token answer (§2.2), with their renewal times from `now`.
fn session_from(body: &Value, now: Instant) -> Result<Fresh, &'static str> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let secs = |k: &str| match body.get(k) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let access = text(c::T_ACCESS_TOKEN).ok_or("no access_token")?;
    let lifetime = secs(c::T_EXPIRES_IN).unwrap_or(c::DEFAULT_TOKEN_SECS);
    Ok(Fresh {
        access: Held {
            value: Secret::new(access),
            renew_at: Some(now + http::renew_after(Duration::from_secs(lifetime))),
        },
        refresh: text(c::T_REFRESH_TOKEN).map(|r| Held {
            value: Secret::new(r),
            renew_at: secs(c::T_REFRESH_EXPIRES_IN).map(|s| now + http::renew_after(Duration::from_secs(s))),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let now = Instant::now();
        let recorded: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sandbox/data/jpo-samples/token_response_redacted.json"
        )))
        .unwrap();
        let s = session_from(&recorded, now).unwrap();
        let access = s.access;
        assert_eq!(access.value.expose(), "REDACTED_ACCESS_TOKEN");
        assert_eq!(access.renew_at, Some(now + Duration::from_secs(3540)));
        let refresh = s.refresh.unwrap();
        assert_eq!(refresh.renew_at, Some(now + Duration::from_secs(28_740)));

        let strings = serde_json::json!({"access_token": "a", "expires_in": "600"});
        let s = session_from(&strings, now).unwrap();
        assert_eq!(s.access.renew_at, Some(now + Duration::from_secs(540)));
        assert!(s.refresh.is_none());

        let unknown_refresh = serde_json::json!({"access_token": "a", "refresh_token": "r"});
        let r = session_from(&unknown_refresh, now).unwrap().refresh.unwrap();
        assert!(r.usable(now + Duration::from_secs(86_400)));

        for bad in [
            serde_json::json!({}),
            serde_json::json!({"access_token": ""}),
            Value::Null,
        ] {
            assert!(session_from(&bad, now).is_err(), "{bad}");
        }
    }

    fn status_error(code: &str, http: u16) -> JpoError {
        JpoError::Status {
            what: "patent app_progress 2020123456".into(),
            code: code.into(),
            http,
            message: String::new(),
            request_id: "r".into(),
            retry_after: None,
        }
    }

    #[test]
    fn error_classes() {
        // (error, case error, transient, needs login)
        let table = [
            (
                JpoError::NotFound {
                    right: Kind::Patent,
                    number: "9999999999".into(),
                    code: "107".into(),
                },
                true,
                false,
                false,
            ),
            (
                JpoError::BadNumber {
                    right: Kind::Design,
                    number: "x".into(),
                    reason: "r".into(),
                },
                true,
                false,
                false,
            ),
            (
                JpoError::Parse {
                    right: Kind::Trademark,
                    number: "2024123456".into(),
                    cause: JpoParseError::NoStatusCode,
                },
                true,
                false,
                false,
            ),
            (
                JpoError::DailyCapReached {
                    right: Kind::Patent,
                    api: "app_progress".into(),
                },
                false,
                false,
                false,
            ),
            (status_error("303", 429), false, true, false),
            (status_error("302", 504), false, true, false),
            (status_error("999", 200), false, true, false),
            (status_error("999", 500), false, true, false),
            (status_error("210", 401), false, false, true),
            (status_error("212", 200), false, false, true),
            (status_error("301", 404), false, false, false),
            (status_error("555", 200), false, false, false),
            (
                JpoError::Unreadable {
                    what: "w".into(),
                    http: 401,
                    cause: JpoParseError::NoEnvelope {
                        detail: Some("Unauthorized".into()),
                    },
                    request_id: "r".into(),
                    retry_after: None,
                },
                false,
                false,
                true,
            ),
            (
                JpoError::Unreadable {
                    what: "w".into(),
                    http: 502,
                    cause: JpoParseError::NotJson("x".into()),
                    request_id: "r".into(),
                    retry_after: None,
                },
                false,
                true,
                false,
            ),
        ];
        for (e, case, transient, login) in table {
            assert_eq!(e.is_case_error(), case, "{e}");
            assert_eq!(e.is_transient(), transient, "{e}");
            assert_eq!(e.needs_login(), login, "{e}");
        }
    }

    #[test]
    fn a_212_after_logging_in_again_is_refused_credentials_and_nothing_else_is() {
        let e = status_error("212", 200).refused_after_login();
        assert!(e.needs_person(), "{e}");
        assert_eq!(
            e.to_string(),
            "JPO refused our credentials (HTTP 200 status 212): check [jpo] username/password"
        );
        for code in ["210", "303", "107", "999"] {
            let e = status_error(code, 200).refused_after_login();
            assert!(!e.needs_person(), "{e}");
            assert!(matches!(e, JpoError::Status { .. }), "{e}");
        }
    }

    #[test]
    fn messages_are_one_line_and_name_the_case() {
        let e = JpoError::DailyCapReached {
            right: Kind::Design,
            api: "app_progress".into(),
        };
        assert_eq!(
            e.to_string(),
            "JPO daily cap of app_progress for design reached; calls resume after 00:00 JST"
        );
        let e = status_error("303", 429);
        assert_eq!(
            e.to_string(),
            "JPO patent app_progress 2020123456: status 303 (HTTP 429) (request r)"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
