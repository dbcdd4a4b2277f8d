//! Desktop notifications through the session's notification server (D-Bus).

use super::SendError;
use crate::core::notify::Event;

pub async fn show(event: &Event) -> Result<String, SendError> {
    Err(SendError::Transient(format!(
        "desktop notification for {} is not built yet",
        event.kind().as_str()
    )))
}
