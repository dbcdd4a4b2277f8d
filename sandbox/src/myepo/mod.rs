//! MyEPO Mailbox simulator: `shared/api/myepo-mailbox.md` §3, §4 and §8, with the §5
//! variants as [`Profile`]s.
//!
//! | endpoint | |
//! |---|---|
//! | `POST /myepo/oauth2/sandbox/v1/token` | Okta client-credentials token (Basic or `client_secret_post`) |
//! | `GET /myepo/v1/communications` | E1: list, filter and page |
//! | `GET /myepo/v1/communications/{id}/file` | E2: download (a communication listed flat) |
//! | `GET /myepo/v1/communications/{id}/documents/{documentId}` | E2: download (one listed with `documents`) |
//! | `POST /myepo/v1/communications/handled` | E3: mark handled |
//! | `/_sandbox/myepo/…` | scenario API: inject, web-UI handling, activity, settings |
//!
//! Decisions the contract leaves open (all `[inferred]`):
//! * Tokens are opaque random strings that live in memory only: a restarted sandbox has
//!   forgotten them, so a client sees 401 and fetches a new one, as after a real key
//!   rotation. Their lifetime runs on real time, not on the virtual clock.
//! * Every Mailbox API call checks the token first, then `Accept`, then its parameters, then
//!   the ids: 401 before 406 before 400 before 404.
//! * Unknown query parameters are ignored; a repeated one counts with its last value.
//! * A communication with one file is listed flat (one `fileName`) unless the profile is
//!   `nested`; one with several files (a Rule 71(3) communication carries the text intended
//!   for grant) is listed with its `documents` in **every** profile, since a flat item cannot
//!   carry two files and hiding one would lose it. Each communication is served only at the
//!   path of the shape it is listed in (`…/file` for a flat one, `…/documents/{documentId}`
//!   for a nested one); the other answers 404, so a client reading the wrong shape fails
//!   visibly.
//! * `flip-on-download`: a download without `setHandled=false` marks the communication
//!   handled; otherwise only `setHandled=true` does.
//! * A download sets `read` and logs `DOWNLOADED` when the answer starts, whether or not the
//!   client reads the whole body (the server cannot know).
//! * E3 handles the ids in order, so an id repeated in one request gets `HANDLED` and then
//!   `ALREADY_HANDLED`. With `mark-204`, unknown ids are silently ignored (that is the risk
//!   of that variant); with `mark-204+mark-batch-error`, a bad batch gets 404, a good one 204.
//! * The activity log keeps the last [`mailbox::MAX_ACTIVITY`] entries.

mod admin;
mod api;
mod error;
mod hash;
mod mailbox;
mod pdf;
mod profile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::{SandboxOptions, Shared};

pub use profile::{Profile, ProfileParseError};

use hash::{SplitMix, splitmix64};
use mailbox::Mailbox;

/// The bytes of a Mailbox PDF with `lines` on its page, `size` bytes long or the minimum for
/// the text: what E2 serves, for tests that read the text layer (mailroom's `pdf_text`).
pub fn render_pdf(seed: u64, key: &str, lines: &[String], size: u64) -> Vec<u8> {
    pdf::Pdf::new(seed, key, lines, size)
        .chunks()
        .flat_map(|c| c.to_vec())
        .collect()
}

/// Okta's default access-token lifetime.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;

/// Expired tokens are remembered this long (to answer "expired" rather than "invalid"),
/// then forgotten.
const EXPIRED_TOKEN_MEMORY: Duration = Duration::from_secs(3600);

/// What the scenario API can change at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub profile: Profile,
    pub token_lifetime_secs: u64,
}

/// The persisted form of [`Settings`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsJson {
    profile: String,
    token_lifetime_secs: u64,
}

impl From<Settings> for SettingsJson {
    fn from(s: Settings) -> Self {
        SettingsJson {
            profile: s.profile.to_string(),
            token_lifetime_secs: s.token_lifetime_secs,
        }
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    mailbox: &'a Mailbox,
    settings: Option<SettingsJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    mailbox: Mailbox,
    settings: Option<SettingsJson>,
}

const SNAPSHOT_VERSION: u32 = 1;

pub(crate) struct Inner {
    pub mailbox: Mailbox,
    pub settings: Settings,
    /// Set once the scenario API changed the settings. Only then are they persisted and
    /// win over the start options after a restart; otherwise `--myepo-profile` applies.
    pub settings_changed: bool,
}

/// Whether a presented bearer token may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenState {
    Valid,
    Expired,
    Unknown,
}

#[derive(Default)]
struct Tokens {
    /// Token → real-time expiry.
    live: HashMap<String, Instant>,
    issued: u64,
}

pub struct State {
    inner: Mutex<Inner>,
    tokens: Mutex<Tokens>,
}

impl State {
    pub fn new(opts: &SandboxOptions, clock: &Clock) -> Self {
        State {
            inner: Mutex::new(Inner {
                mailbox: Mailbox::seeded(opts.seed, opts.seed_communications, clock.now()),
                settings: Settings {
                    profile: opts.myepo_profile,
                    token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
                },
                settings_changed: false,
            }),
            tokens: Mutex::new(Tokens::default()),
        }
    }

    /// The mailbox, flags, id counter, activity and changed settings, as JSON.
    pub fn snapshot(&self) -> serde_json::Value {
        let inner = self.lock();
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            mailbox: &inner.mailbox,
            settings: inner.settings_changed.then(|| SettingsJson::from(inner.settings)),
        };
        // Plain data with string keys: serialising cannot fail, but never panic over it.
        serde_json::to_value(snap).unwrap_or_else(|e| {
            tracing::error!(%e, "cannot serialise the MyEPO state");
            serde_json::Value::Null
        })
    }

    /// Replaces the state with a snapshot; `Null` = nothing saved yet.
    pub fn restore(&self, v: serde_json::Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        let snap: Snapshot = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!("unsupported state version {}", snap.version));
        }
        let mut mailbox = snap.mailbox;
        mailbox.reindex()?;
        let mut inner = self.lock();
        if let Some(s) = snap.settings {
            inner.settings = Settings {
                profile: s.profile.parse().map_err(|e: ProfileParseError| e.to_string())?,
                token_lifetime_secs: s.token_lifetime_secs,
            };
            inner.settings_changed = true;
        }
        inner.mailbox = mailbox;
        Ok(())
    }

    /// Makes every live token expired now; returns how many were live.
    pub fn expire_tokens(&self) -> usize {
        let mut t = self.tokens();
        let now = Instant::now();
        let mut n = 0;
        for expiry in t.live.values_mut() {
            if *expiry > now {
                *expiry = now;
                n += 1;
            }
        }
        n
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues an opaque token valid for `lifetime` of real time.
    pub(crate) fn issue_token(&self, lifetime: Duration) -> String {
        let mut t = self.tokens();
        let now = Instant::now();
        t.live
            .retain(|_, expiry| now.saturating_duration_since(*expiry) < EXPIRED_TOKEN_MEMORY);
        t.issued += 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = SplitMix::new(splitmix64(nanos) ^ splitmix64(t.issued));
        let mut raw = [0u8; 32];
        rng.fill(&mut raw);
        let token = URL_SAFE_NO_PAD.encode(raw);
        t.live.insert(token.clone(), now + lifetime);
        token
    }

    pub(crate) fn token_state(&self, token: &str) -> TokenState {
        match self.tokens().live.get(token) {
            Some(expiry) if *expiry > Instant::now() => TokenState::Valid,
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/myepo/oauth2/{auth_server_id}/v1/token", post(api::token))
        .route("/myepo/v1/communications", get(api::list))
        .route("/myepo/v1/communications/handled", post(api::mark_handled))
        .route("/myepo/v1/communications/{id}/file", get(api::download_file))
        .route(
            "/myepo/v1/communications/{id}/documents/{document_id}",
            get(api::download_document),
        )
        .route("/myepo/{*rest}", any(api::no_such_resource))
}

pub fn scenario_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sandbox/myepo/communications",
            post(admin::inject).get(admin::mailbox),
        )
        .route("/_sandbox/myepo/handled", post(admin::handled_in_web))
        .route("/_sandbox/myepo/unhandled", post(admin::unhandled_in_web))
        .route("/_sandbox/myepo/activity", get(admin::activity))
        .route(
            "/_sandbox/myepo/communications/{id}/documents/{index}/content",
            get(admin::document_content),
        )
        .route(
            "/_sandbox/myepo/settings",
            post(admin::change_settings).get(admin::settings),
        )
}

/// The ST.90 error body for an injected status; a 401 carries the Bearer challenge. Faults
/// aimed at the token endpoint get this body too, as a gateway in front of Okta would send.
pub fn fault_response(status: StatusCode, retry_after: Option<&str>) -> Response {
    error::ApiError::for_status(status, retry_after).into_response()
}
