//! Email: alerts, summaries and the digest over SMTP (lettre, rustls) or into `.eml` files.

use std::path::Path;

use super::{SendError, SetupError};
use crate::config;
use crate::store::outbox::Due;

pub struct Mailer {
    settings: config::Email,
}

impl Mailer {
    pub fn new(settings: &config::Email, _templates_dir: Option<&Path>) -> Result<Mailer, SetupError> {
        Ok(Mailer {
            settings: settings.clone(),
        })
    }

    pub async fn send(&self, due: &Due, _archive_dir: &Path) -> Result<String, SendError> {
        Err(SendError::Transient(format!(
            "email to {} from {} is not built yet",
            due.recipient, self.settings.from
        )))
    }

    pub async fn send_test(&self, to: &str) -> Result<String, SendError> {
        Err(SendError::Transient(format!(
            "test mail to {to} is not built yet"
        )))
    }

    pub async fn send_event_to(
        &self,
        to: &str,
        event: &crate::core::notify::Event,
    ) -> Result<String, SendError> {
        Err(SendError::Transient(format!(
            "{} mail to {to} is not built yet",
            event.kind().as_str()
        )))
    }

    pub async fn send_summary(&self, recipient: &str, dues: &[Due]) -> Result<String, SendError> {
        Err(SendError::Transient(format!(
            "summary of {} to {recipient} is not built yet",
            dues.len()
        )))
    }
}
