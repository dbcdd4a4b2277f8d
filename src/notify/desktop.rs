//! Desktop notifications through the session's notification server (the freedesktop
//! `org.freedesktop.Notifications` service on the D-Bus session bus), with notify-rust on
//! zbus. Built for Linux and the BSDs only; elsewhere [`show`] refuses, permanently.
//!
//! What a notification says is a pure function of the event ([`Message::of`]); [`present`]
//! only hands it to the server. A missing server (no session bus, or nobody owning the name)
//! is [`SendError::Transient`]: the user may log in later.

use std::path::Path;

use super::SendError;
use crate::core::notify::{Event, EventKind};
use crate::notify::render::headline;

/// How insistent a notification is (the spec's urgency levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Low,
    Normal,
    /// Stays on screen until dismissed on most servers: something needs a person.
    Critical,
}

pub fn urgency(kind: EventKind) -> Urgency {
    match kind {
        EventKind::Quarantine
        | EventKind::OfficeStop
        | EventKind::DeliveryFailed
        | EventKind::DeadlineCheck => Urgency::Critical,
        EventKind::Communication | EventKind::Change | EventKind::Deadline | EventKind::Test => {
            Urgency::Normal
        }
        EventKind::Digest => Urgency::Low,
    }
}

/// At most this many lines of a list (change lines, files) in a body; a popup is not a report.
const MAX_LINES: usize = 5;

/// One notification: the headline as its summary, a few lines as its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub summary: String,
    pub body: String,
    pub urgency: Urgency,
}

impl Message {
    /// The notification for `event`. A communication's files are named by their full path
    /// when the archive directory is known, so the user can open the PDF from the popup's text.
    pub fn of(event: &Event, archive_dir: Option<&Path>) -> Message {
        let mut lines: Vec<String> = Vec::new();
        let mut list: Vec<String> = Vec::new();
        match event {
            Event::Communication(c) => {
                lines.extend(c.client_reference.clone());
                lines.push(format!("Form {}: {}", c.document_code, c.title));
                lines.push(format!("dated {}", c.dispatch_date));
                lines.extend(c.deadline.as_ref().map(|d| d.line.clone()));
                list.extend(c.documents.iter().map(|d| match archive_dir {
                    Some(dir) => dir.join(&d.path).display().to_string(),
                    None => d.path.clone(),
                }));
            }
            Event::Change(c) => {
                lines.extend(c.client_reference.clone());
                lines.extend(c.status.as_ref().map(|s| format!("Status: {s}")));
                list.extend(c.changes.iter().map(|l| l.summary.clone()));
            }
            Event::Quarantine(q) => {
                lines.extend(q.client_reference.clone());
                lines.push(format!("Form {}: {}", q.document_code, q.title));
                lines.push(format!(
                    "quarantined after {} attempt(s): {}",
                    q.attempts, q.reason
                ));
                lines.push(format!(
                    "`mailroom communications retry {}` once it is fixed",
                    q.id
                ));
            }
            Event::OfficeStop(s) => {
                lines.push(s.reason.clone());
                lines.extend(s.action.clone());
            }
            Event::DeliveryFailed(f) => {
                lines.push(format!("after {} attempt(s): {}", f.attempts, f.error));
            }
            Event::Deadline(r) => {
                lines.extend(r.client_reference.clone());
                lines.push(r.deadline.line.clone());
                lines.push(format!(
                    "`mailroom deadlines ack {} --by NAME` once docketed",
                    r.deadline_id
                ));
            }
            Event::DeadlineCheck(k) => {
                lines.extend(k.client_reference.clone());
                lines.push(k.summary.clone());
            }
            Event::Test(t) => lines.push(format!("sent from {} at {}", t.from_host, t.sent_at)),
            Event::Digest(d) => {
                lines.push(format!(
                    "{} new communication(s), {} case(s) changed, {} waiting or quarantined",
                    d.communications.len(),
                    d.changes.len(),
                    d.outstanding.len()
                ));
            }
        }
        if list.len() > MAX_LINES {
            let more = list.len() - MAX_LINES;
            list.truncate(MAX_LINES);
            list.push(format!("… and {more} more"));
        }
        lines.extend(list);
        lines.retain(|l| !l.trim().is_empty());
        Message {
            summary: headline(event),
            body: lines.join("\n"),
            urgency: urgency(event.kind()),
        }
    }
}

/// The body as the server reads it: a server that announces `body-markup` parses a subset of
/// HTML, so `&`, `<` and `>` are escaped for it (and only for it: another shows text as is).
pub fn body_for(body: &str, markup: bool) -> String {
    if markup {
        body.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        body.to_owned()
    }
}

/// Shows `event` (the drain's desktop channel, which has no archive directory to name).
pub async fn show(event: &Event) -> Result<String, SendError> {
    present(&Message::of(event, None)).await
}

/// The notification server gets this long to answer (the bus itself would wait 25 s).
#[cfg(all(unix, not(target_os = "macos")))]
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Hands `message` to the session's notification server; returns the id it gave.
#[cfg(all(unix, not(target_os = "macos")))]
pub async fn present(message: &Message) -> Result<String, SendError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        SendError::Transient(format!(
            "no desktop notification server answered on the session bus: {e}"
        ))
    };
    let shown = tokio::time::timeout(ANSWER_WITHIN, async {
        let markup = body_markup().await.map_err(|e| unreachable(&e))?;
        let mut n = notify_rust::Notification::new();
        n.appname("mailroom")
            .summary(&message.summary)
            .body(&body_for(&message.body, markup))
            .urgency(match message.urgency {
                Urgency::Low => notify_rust::Urgency::Low,
                Urgency::Normal => notify_rust::Urgency::Normal,
                Urgency::Critical => notify_rust::Urgency::Critical,
            });
        n.show_async().await.map_err(|e| unreachable(&e))
    })
    .await;
    match shown {
        Ok(Ok(handle)) => Ok(format!("notification {}", handle.id())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(SendError::Transient(format!(
            "the desktop notification server did not answer within {} s",
            ANSWER_WITHIN.as_secs()
        ))),
    }
}

/// Whether the server parses markup in the body (`GetCapabilities`).
#[cfg(all(unix, not(target_os = "macos")))]
async fn body_markup() -> zbus::Result<bool> {
    let connection = zbus::Connection::session().await?;
    let reply = connection
        .call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "GetCapabilities",
            &(),
        )
        .await?;
    let caps: Vec<String> = reply.body().deserialize()?;
    Ok(caps.iter().any(|c| c == "body-markup"))
}

/// The message for other systems, where no freedesktop notification server runs.
#[cfg(not(all(unix, not(target_os = "macos"))))]
pub const NOT_BUILT: &str = "desktop notifications are only built for Linux/BSD sessions";

#[cfg(not(all(unix, not(target_os = "macos"))))]
pub async fn present(message: &Message) -> Result<String, SendError> {
    let _ = message;
    Err(SendError::Permanent(NOT_BUILT.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cases::Office;
    use crate::core::notify::{CaseChanged, ChangeLine, Communication, Document};

    #[test]
    fn a_communication_names_its_reference_form_date_and_full_pdf_path() {
        let e = Event::Communication(Communication {
            id: "c1".into(),
            office: Office::Ep,
            application_number: "EP23184567.2".into(),
            case: None,
            client_reference: Some("ACME-P-1".into()),
            document_code: "2004".into(),
            title: "Communication under Rule 71(3) EPC".into(),
            dispatch_date: "2026-03-14".into(),
            delivered_at: None,
            archived_at: "2026-03-14T08:00:00Z".into(),
            documents: vec![Document {
                file_name: None,
                media_type: None,
                path: "EP23184567/a.pdf".into(),
                size: 1,
                sha256: String::new(),
            }],
            deadline: None,
        });
        let m = Message::of(&e, Some(Path::new("/srv/archive")));
        assert_eq!(m.summary, headline(&e));
        assert_eq!(
            m.body,
            "ACME-P-1\nForm 2004: Communication under Rule 71(3) EPC\ndated 2026-03-14\n/srv/archive/EP23184567/a.pdf"
        );
        assert_eq!(m.urgency, Urgency::Normal);
        assert!(Message::of(&e, None).body.ends_with("\nEP23184567/a.pdf"));
    }

    #[test]
    fn a_long_change_is_cut_and_urgency_follows_the_kind() {
        let e = Event::Change(CaseChanged {
            office: Office::Jp,
            case: "JP 2020-123456".into(),
            number: "2020123456".into(),
            right: "patent".into(),
            client_reference: None,
            status: Some("Examination requested".into()),
            detected_at: "2026-03-15T02:00:00Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: (0..8)
                .map(|i| ChangeLine {
                    kind: "document".into(),
                    date: String::new(),
                    summary: format!("line {i}"),
                    old: None,
                    new: None,
                })
                .collect(),
        });
        let m = Message::of(&e, None);
        assert_eq!(
            m.body,
            "Status: Examination requested\nline 0\nline 1\nline 2\nline 3\nline 4\n… and 3 more"
        );
        let table = [
            (EventKind::Communication, Urgency::Normal),
            (EventKind::Change, Urgency::Normal),
            (EventKind::Quarantine, Urgency::Critical),
            (EventKind::OfficeStop, Urgency::Critical),
            (EventKind::DeliveryFailed, Urgency::Critical),
            (EventKind::Digest, Urgency::Low),
            (EventKind::Test, Urgency::Normal),
        ];
        for (kind, want) in table {
            assert_eq!(urgency(kind), want, "{kind:?}");
        }
    }

    #[test]
    fn markup_is_escaped_only_for_a_server_that_parses_it() {
        assert_eq!(body_for("R&D <draft>", true), "R&amp;D &lt;draft&gt;");
        assert_eq!(body_for("R&D <draft>", false), "R&D <draft>");
    }
}
