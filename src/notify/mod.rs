//! Telling people: the sender that drains the outbox (`store::outbox`) through the channels.
//!
//! What is sent to whom was decided when the event was written (`core::notify::route`); the
//! drain only carries it out: for each due delivery, in id order, one send on its channel
//! (a few jittered attempts within the drain, `[notify] attempts_per_drain`), then in one
//! transaction `sent` — or the next retry time, or `failed` after the last one
//! (`core::notify::after_send_failure`), which raises a `delivery_failed` admin event.
//!
//! Delivery is at least once: a crash after the channel accepted a message and before `sent`
//! is recorded (failpoint `after_send`) sends it again on the next drain, with the same
//! `Message-ID` (`core::notify::message_id`, a function of the row), so a mail client shows one
//! message, and a webhook receiver can drop the repeat by the `delivery` id it carries.
//!
//! Channels: [`email`] (SMTP or `.eml` files, templates in [`render`]), [`webhook`] (JSON,
//! Teams, ntfy), [`desktop`] (the session's notification server). [`digest`] gathers the
//! daily digest.

pub mod desktop;
pub mod digest;
pub mod email;
pub mod render;
pub mod webhook;

use std::path::PathBuf;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;

use crate::config::{self, Config};
use crate::core::notify::{self as core, Channel, Send};
use crate::failpoint;
use crate::store::outbox::{self, Due};
use crate::store::{Store, StoreError, timestamp};

/// Why one send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again (the server is down, a timeout, a 5xx, a 429).
    #[error("{0}")]
    Transient(String),
    /// No retry can fix it (a recipient refused, a 4xx, a message that cannot be built):
    /// the delivery fails at once and is reported.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// A channel that cannot be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{key}: {reason}")]
    Config { key: String, reason: String },
}

/// What one drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Deliveries recorded sent.
    pub sent: usize,
    /// `(delivery id, error)` of deliveries that failed now and wait for a retry.
    pub retrying: Vec<(i64, String)>,
    /// `(delivery id, error)` of deliveries that failed for good now (reported).
    pub failed: Vec<(i64, String)>,
    /// After the drain: pending (due later) and failed deliveries in the whole outbox.
    pub pending_total: u64,
    pub failed_total: u64,
}

impl DrainReport {
    /// One line for a command's summary, `None` when the outbox is empty and nothing moved.
    pub fn line(&self) -> Option<String> {
        if self.sent == 0 && self.pending_total == 0 && self.failed_total == 0 {
            return None;
        }
        let mut s = format!("notifications: {} sent", self.sent);
        if self.pending_total > 0 {
            s.push_str(&format!(", {} pending (retried later", self.pending_total));
            if let Some((_, e)) = self.retrying.first() {
                s.push_str(&format!("; last error: {e}"));
            }
            s.push(')');
        }
        if self.failed_total > 0 {
            s.push_str(&format!(
                ", {} failed (see `mailroom outbox --failed`)",
                self.failed_total
            ));
        }
        Some(s)
    }
}

/// At most this many deliveries are read per round of a drain, and at most this many rounds
/// run (a round's failures raise reports, which the next round sends).
const ROUND: usize = 500;
const MAX_ROUNDS: usize = 20;

/// The channels, set up from `[notify]`.
pub struct Sender {
    notify: config::Notify,
    archive_dir: PathBuf,
    email: Option<email::Mailer>,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(cfg: &Config) -> Result<Sender, SetupError> {
        let email = match &cfg.notify.email {
            Some(e) => Some(email::Mailer::new(e, cfg.notify.templates_dir.as_deref())?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("mailroom/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry a webhook's secret headers to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SetupError::Config {
                key: "notify.webhook".into(),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(Sender {
            notify: cfg.notify.clone(),
            archive_dir: cfg.storage.archive_dir.clone(),
            email,
            http,
        })
    }

    pub fn mailer(&self) -> Option<&email::Mailer> {
        self.email.as_ref()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn settings(&self) -> &config::Notify {
        &self.notify
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.notify.attempts_per_drain.saturating_sub(1) as usize)
            .with_jitter()
    }

    /// Sends one delivery on its channel; returns how it went out (a Message-ID, an HTTP
    /// status).
    async fn send_one(&self, due: &Due) -> Result<String, SendError> {
        match due.channel {
            Channel::Email => {
                let mailer = self.email.as_ref().ok_or_else(|| {
                    SendError::Transient("[notify.email] is not configured any more".into())
                })?;
                mailer.send(due, &self.archive_dir).await
            }
            Channel::Webhook => {
                let hook = self.notify.webhook(&due.recipient).ok_or_else(|| {
                    SendError::Transient(format!(
                        "no [[notify.webhook]] is named {:?} any more",
                        due.recipient
                    ))
                })?;
                webhook::post(&self.http, hook, due.id, &due.event).await
            }
            Channel::Desktop => desktop::show(&due.event).await,
        }
    }

    async fn send_summary(&self, recipient: &str, dues: &[Due]) -> Result<String, SendError> {
        let mailer = self
            .email
            .as_ref()
            .ok_or_else(|| SendError::Transient("[notify.email] is not configured any more".into()))?;
        mailer.send_summary(recipient, dues, &self.archive_dir).await
    }

    /// Drains every due delivery (see the module doc). Store errors stop the drain; send
    /// errors are recorded on their rows.
    pub async fn drain(&self, store: &Store) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        let routing = store.routing();
        let max_alerts = self
            .notify
            .email
            .as_ref()
            .map_or(usize::MAX, |e| e.max_alerts_per_cycle as usize);
        let channels = [Channel::Email, Channel::Webhook, Channel::Desktop];
        for _ in 0..MAX_ROUNDS {
            let now = Utc::now().timestamp();
            let due = store.call(move |c| outbox::due(c, &channels, now, ROUND)).await?;
            if due.is_empty() {
                break;
            }
            let pending: Vec<core::Pending> = due.iter().map(Due::pending).collect();
            for send in core::plan(&pending, max_alerts) {
                let (ids, result) = match send {
                    Send::One(id) => {
                        let Some(d) = due.iter().find(|d| d.id == id) else {
                            continue;
                        };
                        let r = (|| self.send_one(d))
                            .retry(self.backoff())
                            .when(SendError::is_transient)
                            .notify(|e, delay| {
                                tracing::warn!(
                                    delivery = d.id,
                                    channel = d.channel.as_str(),
                                    "{e}; retrying in {delay:.1?}"
                                )
                            })
                            .await;
                        (vec![id], r)
                    }
                    Send::Summary { recipient, ids } => {
                        let group: Vec<Due> = due.iter().filter(|d| ids.contains(&d.id)).cloned().collect();
                        let r = (|| self.send_summary(&recipient, &group))
                            .retry(self.backoff())
                            .when(SendError::is_transient)
                            .await
                            .map(|how| format!("summary {how}"));
                        (ids, r)
                    }
                };
                self.record(store, &routing, &due, ids, result, &mut report)
                    .await?;
            }
        }
        let (pending, failed) = store.call(|c| outbox::counts(c)).await?;
        report.pending_total = pending;
        report.failed_total = failed;
        Ok(report)
    }

    async fn record(
        &self,
        store: &Store,
        routing: &std::sync::Arc<core::Routing>,
        due: &[Due],
        ids: Vec<i64>,
        result: Result<String, SendError>,
        report: &mut DrainReport,
    ) -> Result<(), StoreError> {
        let stamp = timestamp(Utc::now());
        match result {
            Ok(how) => {
                failpoint::hit("after_send");
                let n = store
                    .write(move |tx| outbox::record_sent(tx, &ids, &how, &stamp))
                    .await?;
                report.sent += n;
            }
            Err(e) => {
                let now = Utc::now().timestamp();
                let mut updates = Vec::new();
                for id in ids {
                    let Some(d) = due.iter().find(|d| d.id == id) else {
                        continue;
                    };
                    let after =
                        core::after_send_failure(d.attempts, now, crate::sync::jitter(), !e.is_transient());
                    tracing::warn!(
                        delivery = d.id,
                        channel = d.channel.as_str(),
                        recipient = %d.recipient,
                        "not delivered: {e}"
                    );
                    match after {
                        core::AfterSendFailure::Retry { .. } => report.retrying.push((id, e.to_string())),
                        core::AfterSendFailure::Failed { .. } => report.failed.push((id, e.to_string())),
                    }
                    updates.push((id, after, about(d)));
                }
                let routing = routing.clone();
                let error = e.to_string();
                store
                    .write(move |tx| {
                        for (id, after, about) in &updates {
                            outbox::record_failure(tx, &routing, *id, *after, &error, about, &stamp)?;
                        }
                        Ok(())
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

/// What a delivery is about, in one line (for a failure report).
pub fn about(d: &Due) -> String {
    render::headline(&d.event)
}
