//! Email: alerts, summaries and the digest over SMTP (lettre, rustls) or into `.eml` files.
//!
//! One delivery is one message to one recipient. Its `Message-ID` is a function of the outbox
//! row (`core::notify::message_id`), so the copy a crash makes us send again is the same
//! message to a mail client; the messages about one case refer to the case's thread
//! (`core::notify::thread_id`) in `References`/`In-Reply-To`, so Outlook groups them. The
//! words come from the templates (`render::Templates`); this module adds the envelope, the
//! headers and, for a communication, its archived files — each checked against the size and
//! SHA-256 the archive recorded before it is attached, because a file that changed on disk
//! must not reach a client as if it were the office's document.
//!
//! Errors are classified for the retry policy: the server unreachable, a timeout, a 4xx
//! reply, a refused login and a server without STARTTLS are transient (the delivery waits and
//! is reported after the last retry); a 5xx reply to the message itself is permanent.

use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::render::{Context, Rendered, Templates};
use super::{SendError, SetupError};
use crate::config::{self, Tls, Transport};
use crate::core::notify::{self as core, Document, Event};
use crate::store::outbox::Due;

/// How mail leaves, set up once per `Sender` (one drain).
enum Outgoing {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        host: String,
        port: u16,
        tls: Tls,
        username: Option<String>,
    },
    File {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

pub struct Mailer {
    settings: config::Email,
    from: Mailbox,
    /// The domain of `from`: the right-hand side of every Message-ID we make.
    domain: String,
    templates: Templates,
    outgoing: Outgoing,
}

/// A file to attach, read and checked.
#[derive(Debug)]
struct Attached {
    name: String,
    media_type: ContentType,
    bytes: Vec<u8>,
}

/// The archived files of a communication as the message carries them.
#[derive(Debug, Default)]
struct Files {
    attached: Vec<Attached>,
    /// Sentences for the reader about files that are not attached, and why.
    notes: Vec<String>,
}

impl Mailer {
    pub fn new(settings: &config::Email, templates_dir: Option<&Path>) -> Result<Mailer, SetupError> {
        let from = settings.from.parse::<Mailbox>().map_err(|e| {
            setup(
                "notify.email.from",
                format!("{:?} is not a mail address: {e}", settings.from),
            )
        })?;
        let outgoing = match &settings.transport {
            Transport::Smtp {
                host,
                port,
                tls,
                username,
                password,
                ca_file,
                timeout,
            } => {
                // `builder_dangerous` only means the TLS mode is left to us: `smtp_tls` always
                // sets it (plain text only for a loopback host, which the config checked).
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                    .port(*port)
                    .timeout(Some(*timeout))
                    .tls(smtp_tls(host, *tls, ca_file.as_deref())?);
                if let (Some(user), Some(password)) = (username, password) {
                    builder =
                        builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Outgoing::Smtp {
                    transport: builder.build(),
                    host: host.clone(),
                    port: *port,
                    tls: *tls,
                    username: username.clone(),
                }
            }
            Transport::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    setup(
                        "notify.email.file_dir",
                        format!("cannot create {}: {e}", dir.display()),
                    )
                })?;
                Outgoing::File {
                    transport: AsyncFileTransport::<Tokio1Executor>::new(dir),
                    dir: dir.clone(),
                }
            }
        };
        Ok(Mailer {
            domain: core::domain_of(&settings.from),
            settings: settings.clone(),
            from,
            templates: Templates::load(templates_dir)?,
            outgoing,
        })
    }

    /// Sends the message of one delivery; returns its Message-ID.
    pub async fn send(&self, due: &Due, archive_dir: &Path) -> Result<String, SendError> {
        let (message, id) = self.message_for(due, archive_dir).await?;
        self.deliver(message).await?;
        Ok(id)
    }

    /// Sends one message standing for the alerts of `dues` to `recipient`; returns its
    /// Message-ID, derived from the group's first delivery, so a re-sent summary is the same
    /// message.
    pub async fn send_summary(
        &self,
        recipient: &str,
        dues: &[Due],
        archive_dir: &Path,
    ) -> Result<String, SendError> {
        let (message, id) = self.summary_for(recipient, dues, archive_dir)?;
        self.deliver(message).await?;
        Ok(id)
    }

    /// Sends a message that says only that mail from mailroom reaches `to` (`mailroom notify
    /// test --email ADDR`); returns its Message-ID. It goes through the same transport, TLS
    /// and login as the alerts, so a success here means the alerts get through too.
    pub async fn send_test(&self, to: &str) -> Result<String, SendError> {
        let (message, id) = self.test_for(to)?;
        self.deliver(message).await?;
        Ok(id)
    }

    /// Proves that mail can leave, sending none (`mailroom check`): for SMTP, connects, starts
    /// TLS as configured, logs in when a username is set, and quits; for the file transport,
    /// creates and removes a file in the directory. Returns what was proven.
    pub async fn check(&self) -> Result<String, SendError> {
        match &self.outgoing {
            Outgoing::Smtp {
                transport,
                host,
                port,
                tls,
                username,
            } => {
                let error = |e: &lettre::transport::smtp::Error| {
                    smtp_error(e, host, *port, *tls, username.as_deref())
                };
                match transport.test_connection().await {
                    Ok(true) => Ok(format!(
                        "{host}:{port}: connected ({}){}",
                        match tls {
                            Tls::Starttls => "STARTTLS",
                            Tls::Implicit => "implicit TLS",
                            Tls::None => "plain text, loopback",
                        },
                        username
                            .as_deref()
                            .map(|u| format!(", logged in as {u:?}"))
                            .unwrap_or_default()
                    )),
                    Ok(false) => Err(SendError::Transient(format!(
                        "the SMTP server {host}:{port} did not answer NOOP after the login"
                    ))),
                    Err(e) => Err(error(&e)),
                }
            }
            Outgoing::File { dir, .. } => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    let probe = dir.join(format!(".mailroom-check-{}", std::process::id()));
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&probe)
                        .and_then(|_| std::fs::remove_file(&probe))
                        .map(|()| format!("{} is writable", dir.display()))
                        .map_err(|e| {
                            SendError::Transient(format!("cannot write into {}: {e}", dir.display()))
                        })
                })
                .await
                .map_err(|e| SendError::Transient(format!("the check of the mail directory failed: {e}")))?
            }
        }
    }

    /// Sends the message of `event` to `to` outside the outbox (`mailroom notify digest --to`:
    /// a copy on request, so each one is a message of its own); returns its Message-ID.
    pub async fn send_event_to(
        &self,
        to: &str,
        event: &Event,
        archive_dir: &Path,
    ) -> Result<String, SendError> {
        let ctx = Context {
            archive_dir: archive_dir.to_path_buf(),
        };
        let rendered = self.templates.render(event, &ctx)?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = format!("<mailroom.copy.{nanos:x}@{}>", self.domain);
        let headers = Headers {
            message_id: id.clone(),
            thread: thread_of(event, &self.domain),
            deliveries: "copy".into(),
        };
        let message = self.build(to, rendered, headers, Vec::new())?;
        self.deliver(message).await?;
        Ok(id)
    }

    async fn message_for(&self, due: &Due, archive_dir: &Path) -> Result<(Message, String), SendError> {
        let ctx = Context {
            archive_dir: archive_dir.to_path_buf(),
        };
        let mut rendered = self.templates.render(&due.event, &ctx)?;
        let files = match &due.event {
            Event::Communication(c) => {
                attachments(&c.documents, archive_dir, self.settings.attach_max_bytes).await
            }
            _ => Files::default(),
        };
        for note in &files.notes {
            add_note(&mut rendered, note);
        }
        let id = core::message_id(due.id, &due.dedupe_key, &self.domain);
        let headers = Headers {
            message_id: id.clone(),
            thread: thread_of(&due.event, &self.domain),
            deliveries: due.id.to_string(),
        };
        let message = self.build(&due.recipient, rendered, headers, files.attached)?;
        Ok((message, id))
    }

    fn summary_for(
        &self,
        recipient: &str,
        dues: &[Due],
        archive_dir: &Path,
    ) -> Result<(Message, String), SendError> {
        let first = dues
            .first()
            .ok_or_else(|| SendError::Permanent("a summary of no alerts".into()))?;
        let events: Vec<Event> = dues.iter().map(|d| d.event.clone()).collect();
        let ctx = Context {
            archive_dir: archive_dir.to_path_buf(),
        };
        let rendered = self.templates.render_summary(&events, &ctx)?;
        let id = core::message_id(first.id, &format!("summary:{}", first.dedupe_key), &self.domain);
        let headers = Headers {
            message_id: id.clone(),
            thread: None,
            deliveries: dues
                .iter()
                .map(|d| d.id.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let message = self.build(recipient, rendered, headers, Vec::new())?;
        Ok((message, id))
    }

    fn test_for(&self, to: &str) -> Result<(Message, String), SendError> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = format!("<mailroom.test.{nanos:x}@{}>", self.domain);
        let rendered = self.templates.render_test(&format!(
            "email to {to} through {} from {}",
            self.describe(),
            self.settings.from
        ))?;
        let headers = Headers {
            message_id: id.clone(),
            thread: None,
            deliveries: "test".into(),
        };
        let message = self.build(to, rendered, headers, Vec::new())?;
        Ok((message, id))
    }

    /// The transport in words, for the test message and errors.
    fn describe(&self) -> String {
        match &self.outgoing {
            Outgoing::Smtp { host, port, tls, .. } => {
                let how = match tls {
                    Tls::Starttls => "STARTTLS",
                    Tls::Implicit => "TLS",
                    Tls::None => "no encryption",
                };
                format!("the SMTP server {host}:{port} ({how})")
            }
            Outgoing::File { dir, .. } => format!("a file in {}", dir.display()),
        }
    }

    fn build(
        &self,
        to: &str,
        rendered: Rendered,
        headers: Headers,
        attached: Vec<Attached>,
    ) -> Result<Message, SendError> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| SendError::Permanent(format!("{to:?} is not a mail address: {e}")))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(headers.message_id))
            .date(SystemTime::now())
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Mailroom-Delivery"),
                headers.deliveries,
            ));
        if let Some(thread) = headers.thread {
            builder = builder.in_reply_to(thread.clone()).references(thread);
        }
        let body = MultiPart::alternative_plain_html(rendered.text, rendered.html);
        let built = if attached.is_empty() {
            builder.multipart(body)
        } else {
            let mixed = attached
                .into_iter()
                .fold(MultiPart::mixed().multipart(body), |m, a| {
                    m.singlepart(Attachment::new(a.name).body(a.bytes, a.media_type))
                });
            builder.multipart(mixed)
        };
        built.map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))
    }

    async fn deliver(&self, message: Message) -> Result<(), SendError> {
        match &self.outgoing {
            Outgoing::Smtp {
                transport,
                host,
                port,
                tls,
                username,
            } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| smtp_error(&e, host, *port, *tls, username.as_deref())),
            Outgoing::File { transport, dir } => transport.send(message).await.map(|_| ()).map_err(|e| {
                SendError::Transient(format!("cannot write the message into {}: {e}", dir.display()))
            }),
        }
    }
}

/// The identities a message carries.
struct Headers {
    message_id: String,
    /// The case's thread, for `References` and `In-Reply-To`.
    thread: Option<String>,
    /// The outbox row(s) it stands for (`X-Mailroom-Delivery`), so a person or a filter can
    /// find the row a message came from.
    deliveries: String,
}

fn setup(key: &str, reason: String) -> SetupError {
    SetupError::Config {
        key: key.into(),
        reason,
    }
}

const CERT_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";

fn smtp_tls(host: &str, tls: Tls, ca_file: Option<&Path>) -> Result<SmtpTls, SetupError> {
    if tls == Tls::None {
        return Ok(SmtpTls::None);
    }
    let mut params = TlsParameters::builder(host.to_owned());
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            setup(
                "notify.email.ca_file",
                format!("cannot read {}: {e}", ca.display()),
            )
        })?;
        // lettre accepts a PEM file without a certificate as an empty list: that would trust
        // nothing new and fail later as an unexplained certificate error.
        if !pem.windows(CERT_BEGIN.len()).any(|w| w == CERT_BEGIN) {
            return Err(setup(
                "notify.email.ca_file",
                format!(
                    "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ca.display()
                ),
            ));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            setup(
                "notify.email.ca_file",
                format!("{} holds no PEM certificate: {e}", ca.display()),
            )
        })?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .map_err(|e| setup("notify.email.tls", format!("cannot set up TLS for {host}: {e}")))?;
    Ok(match tls {
        Tls::Implicit => SmtpTls::Wrapper(params),
        _ => SmtpTls::Required(params),
    })
}

/// An SMTP failure in words a person can act on, classified for the retry policy. The
/// password is never part of it (lettre's errors carry the server's reply, not ours).
fn smtp_error(
    e: &lettre::transport::smtp::Error,
    host: &str,
    port: u16,
    tls: Tls,
    username: Option<&str>,
) -> SendError {
    let at = format!("{host}:{port}");
    let code = e.status().map(|c| c.to_string());
    // 530 authentication required, 534 mechanism too weak, 535 credentials invalid: the
    // configuration is wrong, not this message; the deliveries wait until it is fixed.
    if matches!(code.as_deref(), Some("530" | "534" | "535")) {
        return SendError::Transient(format!(
            "the SMTP server {at} refused the login{}: {e} (check notify.email.username and password)",
            username.map(|u| format!(" of {u:?}")).unwrap_or_default()
        ));
    }
    if e.is_permanent() {
        return SendError::Permanent(format!("the SMTP server {at} refused the message: {e}"));
    }
    if e.is_transient() {
        return SendError::Transient(format!("the SMTP server {at} deferred the message: {e}"));
    }
    if e.is_timeout() {
        return SendError::Transient(format!("the SMTP server {at} did not answer in time: {e}"));
    }
    if tls == Tls::Starttls && e.is_client() && e.to_string().contains("STARTTLS") {
        return SendError::Transient(format!(
            "the SMTP server {at} does not offer STARTTLS, which tls = \"starttls\" requires: mail is not sent in clear text"
        ));
    }
    if e.is_tls() {
        return SendError::Transient(format!(
            "TLS with the SMTP server {at} failed: {e} (a private CA goes into notify.email.ca_file)"
        ));
    }
    SendError::Transient(format!("cannot send through the SMTP server {at}: {e}"))
}

/// The thread of a case's messages: communications, changes and quarantines of one case
/// share it.
fn thread_of(event: &Event, domain: &str) -> Option<String> {
    match event {
        Event::Communication(c) => Some(core::thread_id(
            c.office.as_str(),
            c.case.as_deref().unwrap_or(&c.application_number),
            domain,
        )),
        Event::Change(c) => Some(core::thread_id(c.office.as_str(), &c.number, domain)),
        Event::Quarantine(q) => Some(core::thread_id("EP", &q.application_number, domain)),
        _ => None,
    }
}

/// The files of a communication to attach: all of them when their recorded sizes add up to
/// at most `cap`, each only if the file on disk still has its recorded size and SHA-256.
/// Whatever is not attached is explained in a note; nothing here fails the alert.
async fn attachments(documents: &[Document], archive_dir: &Path, cap: u64) -> Files {
    let mut files = Files::default();
    if documents.is_empty() {
        return files;
    }
    let total: u64 = documents.iter().map(|d| d.size).fold(0, u64::saturating_add);
    if total > cap {
        let paths: Vec<String> = documents
            .iter()
            .map(|d| archive_dir.join(&d.path).display().to_string())
            .collect();
        let what = match documents.len() {
            1 => format!("the document is {}", megabytes(total)),
            n => format!("the {n} documents are {} in all", megabytes(total)),
        };
        files.notes.push(format!(
            "Not attached: {what}, more than notify.email.attach_max_bytes ({}). In the archive: {}.",
            megabytes(cap),
            paths.join(", ")
        ));
        return files;
    }
    for d in documents {
        match read_checked(d, archive_dir).await {
            Ok(bytes) => files.attached.push(Attached {
                name: d.file_name.clone().unwrap_or_else(|| file_name_of(&d.path)),
                media_type: media_type(d.media_type.as_deref(), &d.path),
                bytes,
            }),
            Err(why) => files.notes.push(format!(
                "Not attached: {} {why}. The archive copy needs checking; this message is sent all the same.",
                archive_dir.join(&d.path).display()
            )),
        }
    }
    files
}

/// The file's bytes if it is still what the archive recorded; otherwise why not.
async fn read_checked(d: &Document, archive_dir: &Path) -> Result<Vec<u8>, String> {
    let rel = Path::new(&d.path);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("is not a path inside the archive".into());
    }
    let path = archive_dir.join(rel);
    let on_disk = tokio::fs::metadata(&path)
        .await
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    if on_disk != d.size {
        return Err(format!(
            "has {on_disk} bytes on disk, but {} were archived",
            d.size
        ));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("cannot be read ({e})"))?;
    let sha = hex(&Sha256::digest(&bytes));
    if !sha.eq_ignore_ascii_case(&d.sha256) {
        return Err(format!(
            "no longer matches its archived SHA-256 ({} recorded, {sha} on disk)",
            d.sha256
        ));
    }
    Ok(bytes)
}

fn file_name_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// The declared media type, else by the file's extension (the archive holds PDFs).
fn media_type(declared: Option<&str>, path: &str) -> ContentType {
    match declared.and_then(|m| ContentType::parse(m).ok()) {
        Some(t) => t,
        None if path.to_ascii_lowercase().ends_with(".pdf") => ContentType::from(mime::APPLICATION_PDF),
        None => ContentType::from(mime::APPLICATION_OCTET_STREAM),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1_000_000.0)
}

/// Adds a sentence to both parts: at the end of the text, before `</body>` in the HTML (or
/// at its end when it has none).
fn add_note(rendered: &mut Rendered, note: &str) {
    if !rendered.text.ends_with('\n') {
        rendered.text.push('\n');
    }
    rendered.text.push('\n');
    rendered.text.push_str(note);
    rendered.text.push('\n');
    let para = format!("<p>{}</p>\n", escape(note));
    match rendered.html.to_ascii_lowercase().rfind("</body>") {
        Some(at) => rendered.html.insert_str(at, &para),
        None => rendered.html.push_str(&para),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mail_parser::{MessageParser, MimeHeaders};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::config::Secret;
    use crate::core::cases::Office;
    use crate::core::notify::{CaseChanged, ChangeLine, Communication};

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";

    fn settings(transport: Transport, cap: u64) -> config::Email {
        config::Email {
            transport,
            from: "mailroom <mailroom@Firm.Example>".into(),
            to: vec!["all@firm.example".into()],
            admin_to: Vec::new(),
            attach_max_bytes: cap,
            max_alerts_per_cycle: 25,
            rules: Vec::new(),
        }
    }

    fn mailer(dir: &Path, cap: u64) -> Mailer {
        let transport = Transport::File { dir: dir.join("out") };
        Mailer::new(&settings(transport, cap), None).unwrap()
    }

    /// Writes `bytes` into the archive at `rel`; the document as the archive recorded it.
    fn archived(archive: &Path, rel: &str, bytes: &[u8]) -> Document {
        let path = archive.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        Document {
            file_name: Some(file_name_of(rel)),
            media_type: None,
            path: rel.into(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        }
    }

    fn communication(documents: Vec<Document>) -> Event {
        Event::Communication(Communication {
            id: "c-1".into(),
            office: Office::Ep,
            application_number: "EP23184567.2".into(),
            case: None,
            client_reference: Some("ACME-P-0042-EP".into()),
            document_code: "2004".into(),
            title: "Communication under Rule 71(3) EPC".into(),
            dispatch_date: "2026-03-14".into(),
            delivered_at: None,
            archived_at: "2026-03-14T08:00:00Z".into(),
            documents,
            deadline: None,
        })
    }

    fn change() -> Event {
        Event::Change(CaseChanged {
            office: Office::Ep,
            case: "EP23184567".into(),
            number: "EP23184567".into(),
            right: "patent".into(),
            client_reference: None,
            status: Some("Grant of patent is intended".into()),
            detected_at: "2026-03-15T02:00:00Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: vec![ChangeLine {
                kind: "status".into(),
                date: "2026-03-14".into(),
                summary: "EP23184567: status changed".into(),
                old: None,
                new: None,
            }],
        })
    }

    fn due(id: i64, event: Event) -> Due {
        Due {
            id,
            channel: crate::core::notify::Channel::Email,
            recipient: "Team <team@firm.example>".into(),
            dedupe_key: format!("{}|email|team@firm.example", event.dedupe_key()),
            attempts: 0,
            event_id: id,
            run_id: Some(1),
            created_at: "2026-03-14T08:00:00Z".into(),
            event,
        }
    }

    fn parsed(message: &Message) -> mail_parser::Message<'static> {
        MessageParser::default()
            .parse(&message.formatted())
            .expect("the message parses")
            .into_owned()
    }

    fn header<'a>(m: &'a mail_parser::Message<'_>, name: &'static str) -> Option<&'a str> {
        m.header_raw(name).map(str::trim)
    }

    fn text(m: &mail_parser::Message<'_>) -> String {
        m.body_text(0).expect("a text part").into_owned()
    }

    fn html(m: &mail_parser::Message<'_>) -> String {
        m.body_html(0).expect("an HTML part").into_owned()
    }

    #[tokio::test]
    async fn an_alert_carries_its_identities_both_parts_and_the_checked_pdf() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let doc = archived(&archive, "EP/EP23184567/2026-03-14_2004_a.pdf", PDF);
        let d = due(7, communication(vec![doc]));
        let mailer = mailer(dir.path(), 1_000_000);
        let (message, id) = mailer.message_for(&d, &archive).await.unwrap();
        let m = parsed(&message);

        let domain = "firm.example";
        assert_eq!(id, core::message_id(7, &d.dedupe_key, domain));
        assert_eq!(m.message_id().map(|i| format!("<{i}>")), Some(id.clone()));
        let thread = core::thread_id("EP", "EP23184567", domain);
        let bare = thread.trim_matches(|c| c == '<' || c == '>');
        assert_eq!(m.references().as_text(), Some(bare));
        assert_eq!(m.in_reply_to().as_text(), Some(bare));
        assert_eq!(
            m.subject(),
            Some(super::super::render::headline(&d.event).as_str())
        );
        assert_eq!(
            m.from().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("mailroom@Firm.Example")
        );
        assert_eq!(
            m.to().and_then(|a| a.first()).and_then(|a| a.address()),
            Some("team@firm.example")
        );
        assert_eq!(header(&m, "Auto-Submitted"), Some("auto-generated"));
        assert_eq!(header(&m, "X-Mailroom-Delivery"), Some("7"));
        assert!(m.date().is_some(), "a Date header");
        assert!(text(&m).contains("EP23184567"), "{}", text(&m));
        assert!(html(&m).contains("EP23184567"));
        assert!(!text(&m).contains("Not attached"), "{}", text(&m));

        let attachments: Vec<_> = m.attachments().collect();
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0].contents(), PDF);
        assert_eq!(attachments[0].attachment_name(), Some("2026-03-14_2004_a.pdf"));
        let ct = attachments[0].content_type().expect("a content type");
        assert_eq!((ct.ctype(), ct.subtype()), ("application", Some("pdf")));

        // The same row builds the same identities: a re-send after a crash is one message.
        let (_, again) = mailer.message_for(&d, &archive).await.unwrap();
        assert_eq!(again, id);
        let (_, other) = mailer
            .message_for(&due(8, d.event.clone()), &archive)
            .await
            .unwrap();
        assert_ne!(other, id);
    }

    #[tokio::test]
    async fn over_the_cap_nothing_is_attached_and_the_body_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let a = archived(&archive, "EP/x/a.pdf", PDF);
        let b = archived(&archive, "EP/x/b.pdf", PDF);
        let cap = PDF.len() as u64 * 2;
        let d = due(1, communication(vec![a.clone(), b.clone()]));

        let (at_cap, _) = mailer(dir.path(), cap).message_for(&d, &archive).await.unwrap();
        assert_eq!(
            parsed(&at_cap).attachment_count(),
            2,
            "a total equal to the cap is attached"
        );

        let (over, _) = mailer(dir.path(), cap - 1)
            .message_for(&d, &archive)
            .await
            .unwrap();
        let m = parsed(&over);
        assert_eq!(m.attachment_count(), 0);
        for body in [text(&m), html(&m)] {
            assert!(
                body.contains("Not attached") && body.contains("attach_max_bytes"),
                "{body}"
            );
            assert!(body.contains("a.pdf") && body.contains("b.pdf"), "{body}");
        }
    }

    #[tokio::test]
    async fn a_file_that_changed_on_disk_is_not_attached_and_the_alert_still_goes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let good = archived(&archive, "EP/x/good.pdf", PDF);
        let same_size = archived(&archive, "EP/x/flipped.pdf", PDF);
        let mut flipped = PDF.to_vec();
        flipped[3] ^= 1;
        std::fs::write(archive.join(&same_size.path), &flipped).unwrap();
        let shorter = archived(&archive, "EP/x/short.pdf", PDF);
        std::fs::write(archive.join(&shorter.path), &PDF[1..]).unwrap();
        let gone = archived(&archive, "EP/x/gone.pdf", PDF);
        std::fs::remove_file(archive.join(&gone.path)).unwrap();
        let mut outside = good.clone();
        outside.path = "../good.pdf".into();

        let d = due(1, communication(vec![good, same_size, shorter, gone, outside]));
        let (message, _) = mailer(dir.path(), 1_000_000)
            .message_for(&d, &archive)
            .await
            .unwrap();
        let m = parsed(&message);
        let names: Vec<_> = m
            .attachments()
            .map(|a| a.attachment_name().unwrap_or(""))
            .collect();
        assert_eq!(names, ["good.pdf"]);
        let body = text(&m);
        for want in [
            "flipped.pdf no longer matches its archived SHA-256",
            &format!(
                "short.pdf has {} bytes on disk, but {} were archived",
                PDF.len() - 1,
                PDF.len()
            ),
            "gone.pdf cannot be read",
            "is not a path inside the archive",
        ] {
            assert!(body.contains(want), "{want:?} in {body}");
        }
        assert!(html(&m).contains("no longer matches its archived SHA-256"));
    }

    #[tokio::test]
    async fn a_change_joins_its_cases_thread_and_a_summary_has_its_own_id() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = mailer(dir.path(), 1);
        let archive = dir.path().join("archive");
        let comm = due(1, communication(Vec::new()));
        let chg = due(2, change());
        let (c, _) = mailer.message_for(&comm, &archive).await.unwrap();
        let (g, _) = mailer.message_for(&chg, &archive).await.unwrap();
        let (c, g) = (parsed(&c), parsed(&g));
        assert!(c.references().as_text().is_some());
        assert_eq!(c.references().as_text(), g.references().as_text());
        assert_eq!(g.attachment_count(), 0);
        assert!(
            !text(&g).contains("Not attached"),
            "a change has no files to explain"
        );

        let (summary, id) = mailer
            .summary_for("all@firm.example", &[comm.clone(), chg.clone()], &archive)
            .unwrap();
        let s = parsed(&summary);
        assert_eq!(s.message_id().map(|i| format!("<{i}>")), Some(id.clone()));
        assert_ne!(id, core::message_id(1, &comm.dedupe_key, "firm.example"));
        let (_, again) = mailer
            .summary_for("all@firm.example", &[comm, chg], &archive)
            .unwrap();
        assert_eq!(again, id, "a re-sent summary is the same message");
        assert_eq!(header(&s, "X-Mailroom-Delivery"), Some("1 2"));
        assert!(s.references().as_text().is_none());
        assert!(mailer.summary_for("all@firm.example", &[], &archive).is_err());
    }

    #[tokio::test]
    async fn the_file_transport_writes_one_eml_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = mailer(dir.path(), 1);
        let id = mailer.send_test("it@firm.example").await.unwrap();
        let out: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let bytes = std::fs::read(&out[0]).unwrap();
        let m = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(m.message_id().map(|i| format!("<{i}>")), Some(id));
        assert!(
            m.subject()
                .is_some_and(|s| s.starts_with("[mailroom] test message: email to it@firm.example")),
            "{:?}",
            m.subject()
        );
        assert!(text(&m).contains("it@firm.example"));

        let err = mailer.send_test("not an address").await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }

    /// How the scripted server answers a command (by its verb).
    type Reply = fn(&str) -> &'static str;

    /// A scripted SMTP server on 127.0.0.1 for one connection: `reply` answers each command
    /// line (upper-cased verb); the message after DATA is read and acknowledged.
    async fn scripted(reply: Reply) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = if in_data {
                    if line != "." {
                        continue;
                    }
                    in_data = false;
                    "250 accepted"
                } else {
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let a = reply(&verb);
                    in_data = verb == "DATA" && a.starts_with("354");
                    a
                };
                write.write_all(format!("{answer}\r\n").as_bytes()).await.unwrap();
                if answer.starts_with("221") {
                    break;
                }
            }
        });
        port
    }

    fn smtp(port: u16, tls: Tls) -> Mailer {
        let transport = Transport::Smtp {
            host: "127.0.0.1".into(),
            port,
            tls,
            username: Some("mailroom".into()),
            password: Some(Secret::new("hunter2-secret")),
            ca_file: None,
            timeout: Duration::from_secs(5),
        };
        Mailer::new(&settings(transport, 1), None).unwrap()
    }

    fn usual(verb: &str) -> &'static str {
        match verb {
            "EHLO" => "250-scripted\r\n250 AUTH PLAIN LOGIN",
            "AUTH" => "235 ok",
            "MAIL" | "RCPT" => "250 ok",
            "DATA" => "354 go on",
            "QUIT" => "221 bye",
            _ => "500 what",
        }
    }

    #[tokio::test]
    async fn smtp_replies_are_classified_for_the_retry_policy() {
        let cases: [(Reply, Tls, Option<bool>, &str); 6] = [
            (usual, Tls::None, None, ""),
            (
                |v| {
                    if v == "RCPT" {
                        "550 5.1.1 no such user"
                    } else {
                        usual(v)
                    }
                },
                Tls::None,
                Some(false),
                "refused the message",
            ),
            (
                |v| {
                    if v == "MAIL" {
                        "451 4.3.0 try again later"
                    } else {
                        usual(v)
                    }
                },
                Tls::None,
                Some(true),
                "deferred the message",
            ),
            (
                |v| {
                    if v == "AUTH" {
                        "535 5.7.8 bad credentials"
                    } else {
                        usual(v)
                    }
                },
                Tls::None,
                Some(true),
                "refused the login of \"mailroom\"",
            ),
            (
                |v| if v == "EHLO" { "250 scripted" } else { usual(v) },
                Tls::Starttls,
                Some(true),
                "does not offer STARTTLS, which tls = \"starttls\" requires: mail is not sent in clear text",
            ),
            (
                |v| {
                    if v == "DATA" {
                        "554 5.6.0 content rejected"
                    } else {
                        usual(v)
                    }
                },
                Tls::None,
                Some(false),
                "refused the message",
            ),
        ];
        for (i, (reply, tls, transient, words)) in cases.into_iter().enumerate() {
            let port = scripted(reply).await;
            let result = smtp(port, tls).send_test("it@firm.example").await;
            match transient {
                None => assert!(result.is_ok(), "case {i}: {result:?}"),
                Some(t) => {
                    let e = result.unwrap_err();
                    assert_eq!(e.is_transient(), t, "case {i}: {e}");
                    let msg = e.to_string();
                    assert!(msg.contains(words), "case {i}: {msg}");
                    assert!(msg.contains(&format!("127.0.0.1:{port}")), "case {i}: {msg}");
                    assert!(!msg.contains("hunter2"), "case {i}: {msg}");
                }
            }
        }

        // Nobody listening: transient, naming the server.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = smtp(port, Tls::None)
            .send_test("it@firm.example")
            .await
            .unwrap_err();
        assert!(
            e.is_transient() && e.to_string().contains(&format!("127.0.0.1:{port}")),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_a_setup_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let transport = Transport::Smtp {
            host: "smtp.firm.example".into(),
            port: 587,
            tls: Tls::Starttls,
            username: None,
            password: None,
            ca_file: Some(ca),
            timeout: Duration::from_secs(5),
        };
        let err = Mailer::new(&settings(transport, 1), None).err().expect("refused");
        assert!(err.to_string().starts_with("notify.email.ca_file: "), "{err}");
    }
}
