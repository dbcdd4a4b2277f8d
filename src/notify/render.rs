//! What a notification says: subject lines here; the message bodies (text and HTML from
//! templates) are built by the email channel.

use crate::core::cases::Office;
use crate::core::notify::Event;

/// The office tag a subject starts with.
fn tag(office: Office) -> &'static str {
    match office {
        Office::Ep => "[EPO]",
        Office::Jp => "[JPO]",
    }
}

/// One line saying what happened: the subject of an alert, the title of a desktop
/// notification or a Teams card, the `about` of a failure report.
///
/// `[EPO] EP23184567 · ACME-P-0042-EP · Form 2004 · Communication under Rule 71(3) EPC · dated 2026-03-14`
pub fn headline(event: &Event) -> String {
    let join = |parts: Vec<Option<String>>| parts.into_iter().flatten().collect::<Vec<_>>().join(" · ");
    match event {
        Event::Communication(c) => format!(
            "{} {}",
            tag(c.office),
            join(vec![
                Some(c.case.clone().unwrap_or_else(|| c.application_number.clone())),
                c.client_reference.clone(),
                Some(format!("Form {}", c.document_code)),
                Some(c.title.clone()),
                Some(format!("dated {}", c.dispatch_date)),
            ])
        ),
        Event::Change(c) => {
            let what = match c.changes.as_slice() {
                [one] => one
                    .summary
                    .strip_prefix(&format!("{}: ", c.case))
                    .unwrap_or(&one.summary)
                    .to_owned(),
                many => format!("{} changes", many.len()),
            };
            format!(
                "{} {}",
                tag(c.office),
                join(vec![Some(c.case.clone()), c.client_reference.clone(), Some(what)])
            )
        }
        Event::Quarantine(q) => format!(
            "[mailroom] quarantined: {}",
            join(vec![
                Some(q.application_number.clone()),
                q.client_reference.clone(),
                Some(format!("Form {}", q.document_code)),
                Some(format!("dated {}", q.dispatch_date)),
                Some(format!("communication {}", q.id)),
            ])
        ),
        Event::OfficeStop(s) => format!("[mailroom] {} stopped ({} job): {}", s.office, s.job, s.reason),
        Event::DeliveryFailed(f) => format!(
            "[mailroom] notification not delivered to {} {}: {}",
            f.channel.as_str(),
            f.recipient,
            f.about
        ),
        Event::Test(t) => format!("[mailroom] test message from {} at {}", t.from_host, t.sent_at),
        Event::Digest(d) => {
            if d.nothing_happened() {
                format!("[mailroom] digest {}: nothing happened", d.day)
            } else {
                format!(
                    "[mailroom] digest {}: {} new communication(s), {} case(s) changed",
                    d.day,
                    d.communications.len(),
                    d.changes.len()
                )
            }
        }
    }
}

/// A message's words: the subject, the plain-text part, the HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a template may need besides the event.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the archive is, so a message can name each file's full path.
    pub archive_dir: std::path::PathBuf,
}

/// The message templates: built in, each overridable by a file of the same name in
/// `[notify] templates_dir`.
#[derive(Debug, Clone)]
pub struct Templates {
    dir: Option<std::path::PathBuf>,
}

impl Templates {
    pub fn load(dir: Option<&std::path::Path>) -> Result<Templates, super::SetupError> {
        Ok(Templates {
            dir: dir.map(std::path::Path::to_path_buf),
        })
    }

    /// The message for one event.
    pub fn render(&self, event: &Event, ctx: &Context) -> Result<Rendered, super::SendError> {
        let subject = headline(event);
        let text = format!(
            "{subject}\n\n{}\n(archive: {}; templates: {:?})\n",
            serde_json::to_string_pretty(event).unwrap_or_default(),
            ctx.archive_dir.display(),
            self.dir
        );
        let html = format!("<pre>{}</pre>", escape(&text));
        Ok(Rendered { subject, text, html })
    }

    /// One message standing for many alerts to one recipient.
    pub fn render_summary(&self, events: &[Event], ctx: &Context) -> Result<Rendered, super::SendError> {
        let subject = format!("[mailroom] {} new alerts", events.len());
        let text = events.iter().map(headline).collect::<Vec<_>>().join("\n");
        let text = format!("{text}\n(archive: {})\n", ctx.archive_dir.display());
        let html = format!("<pre>{}</pre>", escape(&text));
        Ok(Rendered { subject, text, html })
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
