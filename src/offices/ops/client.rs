//! The OPS client: one Register retrieval per case, and one INPADOC family lookup per EP
//! application now and then, paced to stay inside fair use.
//!
//! - **One request per case**: `GET register/{application|publication}/epodoc/{n}/biblio,events,procedural-steps`
//!   (`EP` + 8 digits = application, `EP` + 7 digits = publication); a family is
//!   `GET family/application/epodoc/{n}` (the `inpadoc` bucket). Both go through the same
//!   token, pacing, quota and retry code ([`OpsClient::fetch`]).
//! - **Token**: client credentials (Basic), cached until 60 s before it expires; one request at a
//!   time fetches it. A 400 `invalid_access_token` (or `invalid_token` in `WWW-Authenticate`), and
//!   defensively a 401, drops it, and the call is repeated once with a new one.
//! - **Pacing**: every request waits for its slot from [`Pacer`] (`core::throttle`), and every
//!   answer's `X-Throttling-Control` and usage headers are recorded. A 403
//!   `ThrottlingControlQuota` pauses the bucket for `Retry-After` (milliseconds) and the call is
//!   repeated once; a second one is [`OpsError::Throttled`]. A 403 `IndividualQuotaPerHour`
//!   pauses every call ([`OpsError::HourQuota`]); `RegisteredQuotaPerWeek` stops until the
//!   weekly reset ([`OpsError::WeekQuota`]); the soft cap refuses before sending
//!   ([`OpsError::SoftCap`]).
//! - **Transient failures** (timeouts, connection errors, 408, 429, 5xx): retried up to
//!   `retries` times with jittered exponential backoff, waiting `Retry-After` (seconds) when
//!   given.
//! - `Retry-After` of a 403 is read as milliseconds (OPS's throttling convention, §8.1); of a
//!   429 or 5xx as HTTP says (seconds or a date).
//! - Every request carries our `X-Request-ID`; errors keep the office's status, headers (no
//!   credentials), body excerpt and OPS's own fault code and message.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use super::contract as c;
use super::family::{FamilyParseError, parse_family};
use super::parse::{OpsParseError, parse_fault, parse_register};
use crate::config::{Ops as Settings, Secret};
use crate::core::family::Family;
use crate::core::status::EpStatus;
use crate::core::throttle::{Bucket, ByteQuota, Pacer, QuotaStop, Throttling, retry_after_ms};
use crate::offices::http::{self, HttpFailure};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("OPS Register has no case {number}")]
    NotFound { number: String },
    #[error("OPS cannot look up {number:?}: {reason}")]
    BadNumber { number: String, reason: String },
    #[error("OPS still throttles the {bucket} service after waiting; it asks for {retry_after:?} more")]
    Throttled { bucket: Bucket, retry_after: Duration },
    #[error("OPS hourly byte quota is used up; no request for {retry_after:?}")]
    HourQuota { retry_after: Duration },
    #[error("OPS weekly byte quota is used up until Monday 00:00 UTC")]
    WeekQuota,
    #[error("OPS weekly soft cap reached: {used} of {cap} bytes used this week")]
    SoftCap { used: u64, cap: u64 },
    #[error("OPS authentication failed: {0}")]
    Auth(String),
    /// The token endpoint refused the consumer key and secret.
    #[error(
        "OPS refused our credentials (HTTP {status}{}): check [ops] consumer_key/consumer_secret",
        http::spaced(detail)
    )]
    Credentials { status: u16, detail: Option<String> },
    /// No connection could be made to the configured base URL (after the retries).
    #[error("cannot reach OPS at {url}: {cause}; check [ops] base_url and the network")]
    Unreachable { url: String, cause: String },
    #[error("OPS suspects a robot: {0}")]
    RobotDetected(Box<HttpFailure>),
    #[error("OPS {what}: {}", http::chain(cause))]
    Transport { what: String, cause: reqwest::Error },
    #[error("OPS {0}")]
    Http(Box<HttpFailure>),
    #[error("OPS answer for {number} is unusable: {cause}")]
    Parse { number: String, cause: OpsParseError },
    #[error("OPS family answer for {number} is unusable: {cause}")]
    FamilyParse { number: String, cause: FamilyParseError },
    #[error("OPS base URL {0} cannot take a path")]
    BaseUrl(String),
}

impl OpsError {
    /// Only this case is affected (the cycle goes on with the next one): not in the Register,
    /// not a number OPS takes, or an answer we cannot read. Everything else stops the cycle.
    pub fn is_case_error(&self) -> bool {
        matches!(
            self,
            OpsError::NotFound { .. }
                | OpsError::BadNumber { .. }
                | OpsError::Parse { .. }
                | OpsError::FamilyParse { .. }
        )
    }

    /// A person has to act before any case can be refreshed: the credentials are refused or
    /// the office cannot be reached at its configured URL (`sync status` exits 1 on these).
    pub fn needs_person(&self) -> bool {
        matches!(self, OpsError::Credentials { .. } | OpsError::Unreachable { .. })
    }

    /// Worth repeating at once (with backoff).
    fn is_transient(&self) -> bool {
        match self {
            OpsError::Unreachable { .. } => true,
            OpsError::Http(f) => f.is_transient(),
            OpsError::Transport { cause, .. } => http::transport_is_transient(cause),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            OpsError::Http(f) => f.retry_after,
            _ => None,
        }
    }
}

/// What the client has done since it was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpsStats {
    /// Requests sent to `rest-services` (repeats included, token requests not).
    pub requests: u64,
    pub token_fetches: u64,
    /// Repeats after a transient failure.
    pub retries: u64,
    /// 403 answers by `X-Rejection-Reason` (or OPS fault code, or `unspecified`).
    pub forbidden: BTreeMap<String, u64>,
    /// The latest `X-Throttling-Control` value.
    pub last_throttling: Option<String>,
    /// The latest `X-IndividualQuotaPerHour-Used` / `X-RegisteredQuotaPerWeek-Used`.
    pub hour_bytes_used: Option<u64>,
    pub week_bytes_used: Option<u64>,
    /// Body bytes of the Register answers received.
    pub bytes_received: u64,
    /// Time spent waiting for pacing slots (including black and quota pauses).
    pub paced: Duration,
}

impl OpsStats {
    /// All 403 answers.
    pub fn forbidden_total(&self) -> u64 {
        self.forbidden.values().sum()
    }
}

struct Token {
    value: Secret,
    renew_at: Instant,
}

/// The pacer, the byte quota and the statistics, behind one lock (never held across a wait).
struct Fairness {
    pacer: Pacer,
    quota: ByteQuota,
    stats: OpsStats,
}

pub struct OpsClient {
    http: reqwest::Client,
    settings: Settings,
    token_url: Url,
    token: tokio::sync::Mutex<Option<Token>>,
    origin: Instant,
    fair: Mutex<Fairness>,
}

/// Which Register reference an epodoc number is.
fn register_path(number: &str) -> Result<&'static str, String> {
    let digits = number
        .strip_prefix("EP")
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("an epodoc number is EP followed by digits")?;
    match digits.len() {
        8 => Ok(c::REGISTER_APPLICATION),
        7 => Ok(c::REGISTER_PUBLICATION),
        n => Err(format!(
            "EP + {n} digits is neither an application (EP + 8 digits) nor a publication (EP + 7 digits)"
        )),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn join(base: &Url, path: &str) -> Result<Url, OpsError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| OpsError::BaseUrl(base.to_string()))?
        .pop_if_empty()
        .extend(path.split('/'));
    Ok(url)
}

impl OpsClient {
    pub fn new(cfg: &Settings) -> Result<OpsClient, OpsError> {
        let http = http::client(Duration::from_secs(10), cfg.read_timeout).map_err(|source| {
            OpsError::Transport {
                what: "client setup".into(),
                cause: source,
            }
        })?;
        Ok(OpsClient {
            http,
            token_url: join(&cfg.base_url, c::TOKEN_PATH)?,
            settings: cfg.clone(),
            token: tokio::sync::Mutex::new(None),
            origin: Instant::now(),
            fair: Mutex::new(Fairness {
                pacer: Pacer::new(cfg.window),
                quota: ByteQuota::new(cfg.week_quota_bytes, cfg.quota_stop_share),
                stats: OpsStats::default(),
            }),
        })
    }

    fn fair(&self) -> MutexGuard<'_, Fairness> {
        self.fair.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    pub fn stats(&self) -> OpsStats {
        let f = self.fair();
        let mut s = f.stats.clone();
        s.hour_bytes_used = f.quota.hour_used();
        s.week_bytes_used = f.quota.week_used(unix_now());
        s
    }

    /// The Register data (biblio, events, procedural steps) of one case by its epodoc
    /// application (`EP10167109`) or publication (`EP2400812`) number: one request when
    /// nothing fails.
    pub async fn register(&self, number: &str) -> Result<EpStatus, OpsError> {
        let path = register_path(number).map_err(|reason| OpsError::BadNumber {
            number: number.to_owned(),
            reason,
        })?;
        let url = join(
            &self.settings.base_url,
            &format!("{path}/{number}/{}", c::REGISTER_CONSTITUENTS),
        )?;
        let body = self
            .fetch(&url, number, c::ACCEPT_REGISTER, &format!("register {number}"))
            .await?;
        parse_register(&body).map_err(|source| OpsError::Parse {
            number: number.to_owned(),
            cause: source,
        })
    }

    /// The INPADOC family of one EP application (epodoc, `EP10167109`): one request in the
    /// `inpadoc` bucket when nothing fails. `None` when OPS knows no family for it (404).
    pub async fn family(&self, application: &str) -> Result<Option<Family>, OpsError> {
        match register_path(application) {
            Ok(c::REGISTER_APPLICATION) => {}
            Ok(_) => {
                return Err(OpsError::BadNumber {
                    number: application.to_owned(),
                    reason: "a family is looked up by the EP application number".into(),
                });
            }
            Err(reason) => {
                return Err(OpsError::BadNumber {
                    number: application.to_owned(),
                    reason,
                });
            }
        }
        let url = join(
            &self.settings.base_url,
            &format!("{}/{application}", c::FAMILY_APPLICATION),
        )?;
        let body = match self
            .fetch(&url, application, c::ACCEPT_OPS, &format!("family {application}"))
            .await
        {
            Ok(body) => body,
            Err(OpsError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        parse_family(&body)
            .map(Some)
            .map_err(|source| OpsError::FamilyParse {
                number: application.to_owned(),
                cause: source,
            })
    }

    /// One GET with the retry policy of every OPS call.
    async fn fetch(
        &self,
        url: &Url,
        number: &str,
        accept: &'static str,
        what: &str,
    ) -> Result<Bytes, OpsError> {
        let bucket = Bucket::for_path(url.path());
        (|| self.attempt(bucket, url, number, accept, what))
            .retry(self.backoff())
            .when(OpsError::is_transient)
            .adjust(|e, delay| delay.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e, delay| {
                self.fair().stats.retries += 1;
                tracing::warn!("{e}; retrying in {delay:.1?}");
            })
            .await
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_base_delay)
            .with_max_delay(Duration::from_secs(60))
            .with_max_times(self.settings.retries as usize)
            .with_jitter()
    }

    /// Refuses locally what OPS would refuse, or what would cross the soft cap.
    fn check_quota(&self) -> Result<(), OpsError> {
        let f = self.fair();
        if let Some(retry_after) = f.pacer.paused_all(self.now()) {
            return Err(OpsError::HourQuota { retry_after });
        }
        match f.quota.check(unix_now()) {
            Ok(()) => Ok(()),
            Err(QuotaStop::WeekExhausted) => Err(OpsError::WeekQuota),
            Err(QuotaStop::SoftCap { used, cap }) => Err(OpsError::SoftCap { used, cap }),
        }
    }

    /// Waits for this bucket's next slot; returns when it started (since `origin`).
    async fn wait_turn(&self, bucket: Bucket) -> Duration {
        let now = self.now();
        let start = {
            let mut f = self.fair();
            let start = f.pacer.reserve(bucket, now);
            f.stats.paced += start.saturating_sub(now);
            start
        };
        if start > now {
            tracing::debug!(%bucket, wait = ?(start - now), "pacing OPS");
            tokio::time::sleep_until(self.origin + start).await;
        }
        start
    }

    /// Records what an answer says about throttling and quotas.
    fn observe(&self, bucket: Bucket, headers: &HeaderMap, retry_after: Option<Duration>) {
        let at = self.now();
        let mut f = self.fair();
        if let Some(v) = header(headers, c::H_THROTTLING) {
            if let Some(t) = Throttling::parse(v) {
                f.pacer.observe(bucket, at, &t, retry_after);
            }
            f.stats.last_throttling = Some(v.to_owned());
        }
        let used = |name| header(headers, name).and_then(|v| v.parse::<u64>().ok());
        let (hour, week) = (used(c::H_HOUR_USED), used(c::H_WEEK_USED));
        f.quota.record(unix_now(), hour, week, 0);
    }

    /// One request (and at most one repeat after a new token and one after a black pause).
    async fn attempt(
        &self,
        bucket: Bucket,
        url: &Url,
        number: &str,
        accept: &'static str,
        what: &str,
    ) -> Result<Bytes, OpsError> {
        let mut renewed = false;
        let mut waited_black = false;
        // Every pass that does not return sets one of the two flags for the first time: at most
        // three requests (the first, one after a new token, one after a black pause).
        loop {
            self.check_quota()?;
            let started = self.wait_turn(bucket).await;
            let token = self.token().await?;
            let rid = http::request_id();
            self.fair().stats.requests += 1;
            let resp = self
                .http
                .get(url.clone())
                .bearer_auth(token.expose())
                .header(ACCEPT, accept)
                .header(c::H_REQUEST_ID, &rid)
                .send()
                .await
                .map_err(|source| self.transport(what, source))?;
            let wait = header(resp.headers(), RETRY_AFTER.as_str()).and_then(retry_after_ms);
            self.observe(bucket, resp.headers(), wait);
            let status = resp.status();
            if status.is_success() {
                let body = resp.bytes().await.map_err(|source| OpsError::Transport {
                    what: what.to_owned(),
                    cause: source,
                })?;
                let mut f = self.fair();
                f.quota.record(unix_now(), None, None, body.len() as u64);
                f.stats.bytes_received += body.len() as u64;
                return Ok(body);
            }
            let rejection = header(resp.headers(), c::H_REJECTION).map(str::to_owned);
            let challenge = header(resp.headers(), WWW_AUTHENTICATE.as_str()).map(str::to_owned);
            let mut failure = Box::new(HttpFailure::from_response(what, resp, Some(rid)).await);
            let fault = parse_fault(failure.body.as_bytes());
            if let Some((code, message)) = &fault {
                let parts: Vec<&str> = [code.as_str(), message.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                failure.detail = Some(parts.join(": "));
            }
            let code = fault.as_ref().map_or("", |(code, _)| code.as_str());
            let message = fault.as_ref().map_or("", |(_, message)| message.as_str());
            match status {
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
                    if status == StatusCode::UNAUTHORIZED
                        || message == c::INVALID_TOKEN_MESSAGE
                        || challenge
                            .as_deref()
                            .is_some_and(|h| h.contains(c::INVALID_TOKEN_CHALLENGE)) =>
                {
                    self.drop_token(&token).await;
                    if renewed {
                        return Err(OpsError::Auth(format!("a fresh token was refused: {failure}")));
                    }
                    renewed = true;
                    tracing::info!(%what, "OPS refused the access token; renewing it once");
                }
                StatusCode::FORBIDDEN => {
                    let reason = rejection
                        .clone()
                        .or_else(|| (!code.is_empty()).then(|| code.to_owned()))
                        .unwrap_or_else(|| "unspecified".to_owned());
                    *self.fair().stats.forbidden.entry(reason).or_default() += 1;
                    let at = self.now();
                    match rejection.as_deref() {
                        Some(c::R_THROTTLING) => {
                            self.fair().pacer.rejected(bucket, started, at, wait);
                            let retry_after = wait.unwrap_or(self.settings.window);
                            if waited_black {
                                return Err(OpsError::Throttled { bucket, retry_after });
                            }
                            waited_black = true;
                            tracing::warn!(%bucket, ?retry_after, "OPS throttled {what}; waiting");
                        }
                        Some(c::R_HOUR) => {
                            let mut f = self.fair();
                            f.pacer.hour_quota(at, wait);
                            let retry_after = f.pacer.paused_all(at).unwrap_or_default();
                            return Err(OpsError::HourQuota { retry_after });
                        }
                        Some(c::R_WEEK) => {
                            self.fair().quota.week_exhausted(unix_now());
                            return Err(OpsError::WeekQuota);
                        }
                        Some(r) if c::R_ANONYMOUS.contains(&r) => {
                            return Err(OpsError::Auth(format!(
                                "the request was seen without a token: {failure}"
                            )));
                        }
                        _ if code == c::FAULT_ROBOT => return Err(OpsError::RobotDetected(failure)),
                        _ => return Err(OpsError::Http(failure)),
                    }
                }
                StatusCode::NOT_FOUND if code == c::FAULT_NOT_FOUND || failure.body.is_empty() => {
                    return Err(OpsError::NotFound {
                        number: number.to_owned(),
                    });
                }
                StatusCode::NOT_FOUND if c::FAULT_BAD_NUMBER.contains(&code) => {
                    return Err(OpsError::BadNumber {
                        number: number.to_owned(),
                        reason: failure.detail.clone().unwrap_or_else(|| code.to_owned()),
                    });
                }
                _ => return Err(OpsError::Http(failure)),
            }
        }
    }

    /// A request that got no answer: [`OpsError::Unreachable`] when no connection was made.
    fn transport(&self, what: &str, source: reqwest::Error) -> OpsError {
        if source.is_connect() {
            OpsError::Unreachable {
                url: self.settings.base_url.to_string(),
                cause: http::root_cause(&source),
            }
        } else {
            OpsError::Transport {
                what: what.to_owned(),
                cause: source,
            }
        }
    }

    async fn token(&self) -> Result<Secret, OpsError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let t = self.fetch_token().await?;
        let value = t.value.clone();
        *guard = Some(t);
        Ok(value)
    }

    /// Forgets `used` unless another call has already replaced it.
    async fn drop_token(&self, used: &Secret) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|t| t.value.expose() == used.expose()) {
            *guard = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, OpsError> {
        self.fair().stats.token_fetches += 1;
        let s = &self.settings;
        let resp = self
            .http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .basic_auth(&s.consumer_key, Some(s.consumer_secret.expose()))
            .form(&[c::GRANT_TYPE])
            .send()
            .await
            .map_err(|source| self.transport("token request", source))?;
        let status = resp.status();
        if !status.is_success() {
            let mut failure = Box::new(HttpFailure::from_response("token request", resp, None).await);
            if let Some((code, message)) = parse_fault(failure.body.as_bytes()) {
                failure.detail = Some(if message.is_empty() { code } else { message });
            }
            return Err(if failure.is_transient() {
                OpsError::Http(failure)
            } else if matches!(failure.status, 400 | 401 | 403) {
                OpsError::Credentials {
                    status: failure.status,
                    detail: failure.detail.clone(),
                }
            } else {
                OpsError::Auth(failure.to_string())
            });
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| OpsError::Auth("the token answer is not JSON".into()))?;
        let value = body
            .get(c::F_ACCESS_TOKEN)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OpsError::Auth("the token answer has no access_token".into()))?;
        let lifetime = match body.get(c::F_EXPIRES_IN) {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .map_or(c::DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok(Token {
            value: Secret::new(value),
            renew_at: Instant::now() + http::renew_after(lifetime),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_pick_the_reference() {
        let table = [
            ("EP10167109", Ok(c::REGISTER_APPLICATION)),
            ("EP2400812", Ok(c::REGISTER_PUBLICATION)),
            ("EP99203729", Ok(c::REGISTER_APPLICATION)),
            ("EP240081", Err(())),
            ("EP101671090", Err(())),
            ("EP2400812.A1", Err(())),
            ("ep2400812", Err(())),
            ("WO2014206532", Err(())),
            ("EP", Err(())),
            ("", Err(())),
            ("EP１２３４５６７", Err(())),
        ];
        for (n, expected) in table {
            assert_eq!(register_path(n).map_err(|_| ()), expected, "{n}");
        }
    }

    #[test]
    fn only_case_errors_leave_the_cycle_running() {
        let case = [
            OpsError::NotFound { number: "EP1".into() },
            OpsError::BadNumber {
                number: "x".into(),
                reason: "y".into(),
            },
            OpsError::Parse {
                number: "EP1".into(),
                cause: OpsParseError::NoDocument,
            },
        ];
        let cycle = [
            OpsError::Throttled {
                bucket: Bucket::Other,
                retry_after: Duration::ZERO,
            },
            OpsError::HourQuota {
                retry_after: Duration::ZERO,
            },
            OpsError::WeekQuota,
            OpsError::SoftCap { used: 1, cap: 1 },
            OpsError::Auth("x".into()),
            OpsError::Credentials {
                status: 401,
                detail: None,
            },
            OpsError::Unreachable {
                url: "x".into(),
                cause: "y".into(),
            },
            OpsError::BaseUrl("x".into()),
        ];
        assert!(case.iter().all(OpsError::is_case_error));
        assert!(!cycle.iter().any(OpsError::is_case_error));
    }

    #[test]
    fn paths_are_joined_under_the_base() {
        let base = Url::parse("https://ops.epo.org/3.2").unwrap_or_else(|e| panic!("{e}"));
        let url = join(
            &base,
            "rest-services/register/application/epodoc/EP10167109/biblio,events",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.as_str(),
            "https://ops.epo.org/3.2/rest-services/register/application/epodoc/EP10167109/biblio,events"
        );
        let base = Url::parse("http://127.0.0.1:9/ops/3.2/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            join(&base, c::TOKEN_PATH).map(|u| u.to_string()).ok().as_deref(),
            Some("http://127.0.0.1:9/ops/3.2/auth/accesstoken")
        );
        let data = Url::parse("data:text/plain,x").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(join(&data, "a"), Err(OpsError::BaseUrl(_))));
    }
}
