//! The MyEPO Mailbox client.
//!
//! **Invariant: credentials never go to a host they do not belong to.** The client secret
//! goes only to `[myepo] token_url`; the bearer token only to the origin (scheme, host and
//! port) of `[myepo] api_base_url`. Every API URL is built from `api_base_url`; an `href`
//! from the office's metadata is followed only when it has that same origin, and anything
//! else is refused before a request is sent ([`MyepoError::ForeignHref`]). reqwest drops the
//! `Authorization` header itself when a redirect leaves the origin.
//!
//! - **Token**: Okta client-credentials, cached until 60 s before it expires (a short-lived
//!   token is renewed at half its life); one request at a time fetches it.
//! - **401**: the token is dropped and the call repeated once with a new one.
//! - **Transient failures** (timeouts, connection errors, 408/429/5xx): retried up to
//!   `retries` times with jittered exponential backoff, waiting `Retry-After` when the office
//!   gives one.
//! - **Errors** keep the office's status, headers, body excerpt and our `X-Request-ID`.
//!
//! The client never marks anything handled as a side effect: **every** download request (flat
//! file, nested document or `href`) sends `setHandled=false`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use super::contract as c;
use super::model::{self, DecodeError, Doc, Item};
use crate::config::{AuthMethod, Myepo as Settings, Secret};
use crate::core::mailbox::{MarkReply, walk_again};
use crate::offices::http::{self, HttpFailure};

#[derive(Debug, thiserror::Error)]
pub enum MyepoError {
    #[error("MyEPO token request failed: {0}")]
    Token(Box<HttpFailure>),
    #[error("MyEPO token answer unusable: {0}")]
    TokenAnswer(String),
    #[error("MyEPO {0}")]
    Http(Box<HttpFailure>),
    #[error("MyEPO rejected a fresh access token: {0}")]
    Unauthorized(Box<HttpFailure>),
    #[error("MyEPO {what}: {}", http::chain(cause))]
    Transport { what: String, cause: reqwest::Error },
    #[error("MyEPO {what}: {cause}")]
    Decode { what: String, cause: DecodeError },
    #[error("MyEPO URL for {what}: {reason}")]
    Url { what: String, reason: String },
    #[error(
        "MyEPO download {id}: refused to follow its href to {origin}: only {allowed} (the origin of api_base_url) gets our token"
    )]
    ForeignHref {
        id: String,
        origin: String,
        allowed: String,
    },
}

impl MyepoError {
    /// Worth retrying later.
    pub fn is_transient(&self) -> bool {
        match self {
            MyepoError::Token(f) | MyepoError::Http(f) => f.is_transient(),
            MyepoError::Transport { cause, .. } => http::transport_is_transient(cause),
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            MyepoError::Token(f) | MyepoError::Http(f) => f.retry_after,
            _ => None,
        }
    }

    /// The HTTP status the office answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            MyepoError::Token(f) | MyepoError::Http(f) | MyepoError::Unauthorized(f) => Some(f.status),
            _ => None,
        }
    }
}

struct Token {
    value: Secret,
    renew_at: Instant,
}

pub struct Client {
    http: reqwest::Client,
    settings: Settings,
    token: tokio::sync::Mutex<Option<Token>>,
}

/// The URL of an `href` from the office's metadata (a relative one resolved against `base`,
/// the API base URL), if it has the origin of `base`: only that origin gets the token.
fn same_origin(base: &Url, communication_id: &str, href: &str) -> Result<Url, MyepoError> {
    let url = base.join(href).map_err(|e| MyepoError::Url {
        what: format!("download {communication_id}"),
        reason: format!("{href:?}: {e}"),
    })?;
    if url.origin() != base.origin() {
        return Err(MyepoError::ForeignHref {
            id: communication_id.to_owned(),
            origin: url.origin().ascii_serialization(),
            allowed: base.origin().ascii_serialization(),
        });
    }
    Ok(url)
}

/// Makes a download URL say `setHandled=false`, replacing any `setHandled` it carried: a
/// download must never mark anything handled, whatever the office's default is.
fn without_side_effect(url: &mut Url) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != c::P_SET_HANDLED)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(c::P_SET_HANDLED, "false");
}

/// Which communications a listing asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    pub handled: bool,
    pub dispatched_from: Option<chrono::NaiveDate>,
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Client, MyepoError> {
        let http = http::client(Duration::from_secs(10), settings.read_timeout).map_err(|source| {
            MyepoError::Transport {
                what: "client setup".into(),
                cause: source,
            }
        })?;
        Ok(Client {
            http,
            settings: settings.clone(),
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn token(&self) -> Result<Secret, MyepoError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let t = self.fetch_token().await?;
        let value = t.value.clone();
        *guard = Some(t);
        Ok(value)
    }

    async fn drop_token(&self) {
        *self.token.lock().await = None;
    }

    async fn fetch_token(&self) -> Result<Token, MyepoError> {
        let s = &self.settings;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &s.scope {
            form.push(("scope", scope));
        }
        let mut req = self
            .http
            .post(s.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        req = match s.auth_method {
            AuthMethod::Basic => req.basic_auth(&s.client_id, Some(s.client_secret.expose())),
            AuthMethod::Post => {
                form.push(("client_id", &s.client_id));
                form.push(("client_secret", s.client_secret.expose()));
                req
            }
        };
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|source| MyepoError::Transport {
                what: "token request".into(),
                cause: source,
            })?;
        if !resp.status().is_success() {
            return Err(MyepoError::Token(Box::new(
                HttpFailure::from_response("token request", resp, None).await,
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| MyepoError::TokenAnswer(format!("not JSON: {}", http::chain(&e))))?;
        let value = body
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| MyepoError::TokenAnswer("no access_token".into()))?;
        let lifetime = match body.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        Ok(Token {
            value: Secret::new(value),
            renew_at: Instant::now() + http::renew_after(Duration::from_secs(lifetime)),
        })
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_base_delay)
            .with_max_delay(Duration::from_secs(60))
            .with_max_times(self.settings.retries as usize)
            .with_jitter()
    }

    /// Sends a request built by `build` with a valid token; repeats once after a 401 with a new
    /// token; retries transient failures. Returns only successful (2xx) responses.
    async fn send<F>(&self, what: &str, build: F) -> Result<Response, MyepoError>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let once = || async {
            let mut renewed = false;
            loop {
                let token = self.token().await?;
                let rid = http::request_id();
                let resp = build(&self.http)
                    .bearer_auth(token.expose())
                    .header("X-Request-ID", &rid)
                    .send()
                    .await
                    .map_err(|source| MyepoError::Transport {
                        what: what.to_owned(),
                        cause: source,
                    })?;
                if resp.status().is_success() {
                    return Ok(resp);
                }
                let status = resp.status();
                let failure = Box::new(HttpFailure::from_response(what, resp, Some(rid)).await);
                if status == StatusCode::UNAUTHORIZED {
                    self.drop_token().await;
                    if !renewed {
                        renewed = true;
                        tracing::info!(%what, "MyEPO answered 401; renewing the token once");
                        continue;
                    }
                    return Err(MyepoError::Unauthorized(failure));
                }
                return Err(MyepoError::Http(failure));
            }
        };
        once.retry(self.backoff())
            .when(MyepoError::is_transient)
            .adjust(|e, delay| delay.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e, delay| tracing::warn!("{e}; retrying in {delay:.1?}"))
            .await
    }

    fn url(&self, template: &str, id: &str, document: &str) -> Result<Url, MyepoError> {
        let mut url = self.settings.api_base_url.clone();
        {
            let mut segs = url.path_segments_mut().map_err(|()| MyepoError::Url {
                what: template.into(),
                reason: "the API base URL cannot take a path".into(),
            })?;
            segs.pop_if_empty();
            for part in template.split('/') {
                segs.push(match part {
                    "{id}" => id,
                    "{document}" => document,
                    other => other,
                });
            }
        }
        Ok(url)
    }

    /// Every communication matching `listing`, walking all pages. The walk is repeated (at
    /// most three times) when the office's count changed under it or fewer distinct ids came
    /// back than it announced, so an item that moved between pages is not skipped.
    pub async fn list_all(&self, listing: Listing) -> Result<Vec<Item>, MyepoError> {
        let mut items: Vec<Item> = Vec::new();
        self.list_pages(listing, async |page| {
            items.extend(page);
            true
        })
        .await?;
        Ok(items)
    }

    /// The walk of [`Client::list_all`], handing each page's items not seen before in the walk
    /// to `on_page` as it arrives instead of collecting them, so memory follows a page, not the
    /// listing. `on_page` answers whether to go on; a repeated walk hands over only ids the
    /// earlier passes did not.
    pub async fn list_pages(
        &self,
        listing: Listing,
        mut on_page: impl AsyncFnMut(Vec<Item>) -> bool,
    ) -> Result<(), MyepoError> {
        let limit = self.settings.page_size.min(c::MAX_PAGE);
        let what = if listing.handled {
            "list handled communications"
        } else {
            "list unhandled communications"
        };
        let mut ids: HashSet<String> = HashSet::new();
        for pass in 1..=3 {
            let mut totals = Vec::new();
            let mut offset: u64 = 0;
            // Bounded: no mailbox has 10,000 pages.
            for _ in 0..10_000 {
                let url = self.url(c::LIST_PATH, "", "")?;
                let mut query = vec![
                    (c::P_HANDLED, listing.handled.to_string()),
                    (c::P_OFFSET, offset.to_string()),
                    (c::P_LIMIT, limit.to_string()),
                ];
                if let Some(from) = listing.dispatched_from {
                    query.push((c::P_DISPATCH_FROM, from.format("%Y-%m-%d").to_string()));
                }
                let resp = self
                    .send(what, |h| {
                        h.get(url.clone())
                            .query(&query)
                            .header(reqwest::header::ACCEPT, "application/json")
                    })
                    .await?;
                let body = resp.bytes().await.map_err(|source| MyepoError::Transport {
                    what: what.to_owned(),
                    cause: source,
                })?;
                let page = model::decode_page(&body).map_err(|source| MyepoError::Decode {
                    what: what.to_owned(),
                    cause: source,
                })?;
                totals.push(page.total);
                let n = page.items.len() as u64;
                let fresh: Vec<Item> = page
                    .items
                    .into_iter()
                    .filter(|it| ids.insert(it.id.clone()))
                    .collect();
                if !fresh.is_empty() && !on_page(fresh).await {
                    return Ok(());
                }
                offset += n;
                let end_by_total = page.total.is_some_and(|t| offset >= t);
                if n < u64::from(limit) || end_by_total {
                    break;
                }
            }
            if !walk_again(ids.len(), &totals) {
                break;
            }
            tracing::info!(
                pass,
                collected = ids.len(),
                ?totals,
                "the mailbox changed while listing it; listing again"
            );
        }
        Ok(())
    }

    /// Starts downloading one document; the caller streams the body.
    pub async fn download(&self, communication_id: &str, doc: &Doc) -> Result<Response, MyepoError> {
        let what = format!("download {communication_id}");
        let mut url = match (&doc.href, &doc.document_id) {
            (Some(href), _) => same_origin(&self.settings.api_base_url, communication_id, href)?,
            (None, Some(d)) => self.url(c::DOCUMENT_PATH, communication_id, d)?,
            (None, None) => self.url(c::FILE_PATH, communication_id, "")?,
        };
        without_side_effect(&mut url);
        let accept = doc.media_type.clone().unwrap_or_else(|| "application/pdf".into());
        self.send(&what, |h| {
            h.get(url.clone())
                .header(reqwest::header::ACCEPT, format!("{accept}, */*;q=0.1"))
        })
        .await
    }

    /// Marks `ids` handled at the office. A whole-batch rejection is returned as
    /// [`MarkReply::BatchRejected`] (the caller bisects); other failures are errors.
    pub async fn mark_handled(&self, ids: &[String]) -> Result<MarkReply, MyepoError> {
        let what = format!("mark {} communication(s) handled", ids.len());
        let url = self.url(c::MARK_PATH, "", "")?;
        let body = serde_json::json!({ c::MARK_IDS_KEY: ids });
        match self.send(&what, |h| h.post(url.clone()).json(&body)).await {
            Ok(resp) if resp.status() == StatusCode::NO_CONTENT => Ok(MarkReply::AllDone),
            Ok(resp) => {
                let bytes = resp.bytes().await.map_err(|source| MyepoError::Transport {
                    what: what.clone(),
                    cause: source,
                })?;
                model::decode_mark(&bytes).map_err(|source| MyepoError::Decode { what, cause: source })
            }
            Err(MyepoError::Http(f)) if c::MARK_BATCH_REJECT.contains(&f.status) => {
                tracing::warn!("{f}; splitting the batch");
                Ok(MarkReply::BatchRejected)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hrefs_of_the_api_origin_are_followed() {
        let base = Url::parse("https://api.example:8443/myepo").unwrap();
        let table = [
            (
                "https://api.example:8443/myepo/v1/c/x/file",
                Ok("https://api.example:8443/myepo/v1/c/x/file"),
            ),
            (
                "/myepo/v1/c/x/documents/d1",
                Ok("https://api.example:8443/myepo/v1/c/x/documents/d1"),
            ),
            ("HTTPS://API.EXAMPLE:8443/d", Ok("https://api.example:8443/d")),
            ("https://api.example/d", Err("https://api.example")),
            ("http://api.example:8443/d", Err("http://api.example:8443")),
            ("https://evil.example:8443/d", Err("https://evil.example:8443")),
            ("//evil.example/d", Err("https://evil.example")),
            (
                "https://api.example:8443@evil.example/d",
                Err("https://evil.example"),
            ),
            ("data:text/plain,x", Err("null")),
        ];
        for (href, expected) in table {
            let got = same_origin(&base, "C1", href);
            match (got, expected) {
                (Ok(url), Ok(want)) => assert_eq!(url.as_str(), want, "{href}"),
                (Err(e), Err(origin)) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("download C1") && e.contains(&format!("to {origin}:")),
                        "{href}: {e}"
                    );
                    assert!(e.contains("only https://api.example:8443"), "{href}: {e}");
                }
                (got, _) => panic!("{href}: {got:?}"),
            }
        }
    }

    #[test]
    fn every_download_url_says_set_handled_false_once() {
        let table = [
            ("http://h/v1/c/x/file", "http://h/v1/c/x/file?setHandled=false"),
            ("http://h/d?setHandled=true", "http://h/d?setHandled=false"),
            (
                "http://h/d?a=1&setHandled=&b=2",
                "http://h/d?a=1&b=2&setHandled=false",
            ),
        ];
        for (input, expected) in table {
            let mut url = Url::parse(input).unwrap();
            without_side_effect(&mut url);
            assert_eq!(url.as_str(), expected, "{input}");
        }
    }
}
