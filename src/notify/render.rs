//! What a notification says: the subject line ([`headline`]) and the message bodies, a plain
//! text and an HTML part, from minijinja templates.
//!
//! The built-in templates are compiled in (`src/notify/templates/`); a file of the same name
//! in `[notify] templates_dir` replaces one (`BUILT_IN` names them). Every template is rendered
//! against the [`samples`] when the templates are loaded, so a broken override stops the
//! configuration from loading, naming the file and line, instead of failing each message at
//! send time.
//!
//! `.html` templates are auto-escaped (minijinja decides by the extension), `.txt` ones are
//! not. The HTML is made for a narrow reading pane (Outlook's is about 400 px): inline styles
//! only (mail clients drop `<style>`), no external resources, no script, and long paths and
//! hashes wrap; `tests/notify_render.rs` checks it in a real browser.
//!
//! A template gets `subject`, `version` and one view of its event (the `*View` types below,
//! serialised): the event's own fields plus what a reader needs and the event does not carry
//! (each file's full path, the register link). The PDF's attachment is the email channel's
//! decision, so the templates word it to hold either way. README, "Who is told what", lists
//! the variables.

pub mod samples;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::Serialize;

use super::{SendError, SetupError};
use crate::core::cases::{Office, parse_case};
use crate::core::notify::{
    CaseChanged, Communication, DeadlineReminder, DeliveryFailed, Digest, DigestDeadline, Event, EventKind,
    JobLine, Outstanding,
};

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
            match c.counterpart_of.first() {
                // "JP counterpart 2020-123456 of EP23184567 (ACME-P-0042): new document …":
                // the firm files by the EP case, so its number and reference lead.
                Some(of) => {
                    let number = c.case.strip_prefix("JP ").unwrap_or(&c.case);
                    let reference = of
                        .client_reference
                        .as_ref()
                        .or(c.client_reference.as_ref())
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                    format!(
                        "{} JP counterpart {number} of {}{reference}: {what}",
                        tag(c.office),
                        of.case
                    )
                }
                None => format!(
                    "{} {}",
                    tag(c.office),
                    join(vec![Some(c.case.clone()), c.client_reference.clone(), Some(what)])
                ),
            }
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
        Event::Deadline(r) => format!(
            "{} deadline {}: {}",
            tag(r.office),
            if r.days_left == 0 {
                "today".to_owned()
            } else {
                format!(
                    "in {} day{}",
                    r.days_left,
                    if r.days_left == 1 { "" } else { "s" }
                )
            },
            join(vec![
                Some(r.case.clone().unwrap_or_else(|| r.application_number.clone())),
                r.client_reference.clone(),
                Some(r.title.clone()),
                Some(format!("due {}", r.due)),
                Some("not yet acknowledged".into()),
            ])
        ),
        Event::DeadlineCheck(k) => format!("[mailroom] Register check: {}", k.summary),
        Event::Digest(d) => {
            if d.nothing_happened() {
                format!("[mailroom] digest {}: nothing happened", d.day)
            } else {
                let (n, c) = (d.communications.len(), d.changes.len());
                format!(
                    "[mailroom] digest {}: {n} new {}, {c} {} changed, {} open",
                    d.day,
                    if n == 1 { "communication" } else { "communications" },
                    if c == 1 { "case" } else { "cases" },
                    d.outstanding.len() + d.delivery_failures.len()
                )
            }
        }
    }
}

/// The subject of a summary: how many alerts it stands for, and of which kinds.
fn summary_subject(events: &[Event]) -> String {
    let count = |kind| events.iter().filter(|e| e.kind() == kind).count();
    let communications = count(EventKind::Communication);
    let changes = count(EventKind::Change);
    let mut parts = Vec::new();
    if communications > 0 {
        parts.push(plural(communications, "new communication", "new communications"));
    }
    if changes > 0 {
        parts.push(plural(changes, "case change", "case changes"));
    }
    let others = events.len() - communications - changes;
    if others > 0 {
        parts.push(plural(others, "other alert", "other alerts"));
    }
    format!(
        "[mailroom] {}: {}",
        plural(events.len(), "alert", "alerts"),
        parts.join(", ")
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
    pub archive_dir: PathBuf,
}

/// Each built-in template under its file name, read from `src/notify/templates/` at compile
/// time (one list, so a name and its file cannot drift apart).
macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("templates/", $name)))),*]
    };
}

/// Every template mailroom renders, by file name, with its built-in source: one `.txt` and one
/// `.html` per message, and what they share (`layout.html`, `macros.html`, `macros.txt`, and
/// the deadline block, `deadline_macros.*`).
/// Each can be overridden.
const BUILT_IN: [(&str, &str); 25] = built_in![
    "communication.txt",
    "communication.html",
    "change.txt",
    "change.html",
    "quarantine.txt",
    "quarantine.html",
    "office_stop.txt",
    "office_stop.html",
    "delivery_failed.txt",
    "delivery_failed.html",
    "deadline.txt",
    "deadline.html",
    "deadline_check.txt",
    "deadline_check.html",
    "digest.txt",
    "digest.html",
    "summary.txt",
    "summary.html",
    "test.txt",
    "test.html",
    "layout.html",
    "macros.html",
    "macros.txt",
    "deadline_macros.html",
    "deadline_macros.txt",
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The message templates: built in, each overridable by a file of the same name in
/// `[notify] templates_dir`.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// Template name → the file that replaced the built-in one.
    overridden: BTreeMap<String, PathBuf>,
}

impl Templates {
    /// The built-in templates with the overrides found in `dir`, each rendered once against
    /// the [`samples`]. A file in `dir` that ends in `.txt` or `.html` and is not one of
    /// the built-in names is refused: a misspelt override would otherwise be ignored in
    /// silence.
    pub fn load(dir: Option<&Path>) -> Result<Templates, SetupError> {
        let mut env = environment()?;
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .map_err(|e| config_error(format!("built-in {name}: {}", describe(&e))))?;
        }
        let mut overridden = BTreeMap::new();
        if let Some(dir) = dir {
            for (name, path) in overrides(dir)? {
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| config_error(format!("cannot read {}: {e}", path.display())))?;
                env.add_template_owned(name.clone(), source)
                    .map_err(|e| config_error(format!("{}: {}", path.display(), describe(&e))))?;
                overridden.insert(name, path);
            }
        }
        let templates = Templates { env, overridden };
        templates.check()?;
        Ok(templates)
    }

    /// The message for one event.
    pub fn render(&self, event: &Event, ctx: &Context) -> Result<Rendered, SendError> {
        let (name, vars) = vars(event, ctx);
        self.pair(name, headline(event), vars).map_err(send_error)
    }

    /// One message standing for many alerts to one recipient.
    pub fn render_summary(&self, events: &[Event], ctx: &Context) -> Result<Rendered, SendError> {
        let (subject, vars) = summary_vars(events, ctx);
        self.pair("summary", subject, vars).map_err(send_error)
    }

    /// The message `mailroom notify test` sends; `channel_description` says where it went
    /// (`email to formalities@firm.example via smtp.firm.example`).
    pub fn render_test(&self, channel_description: &str) -> Result<Rendered, SendError> {
        let (subject, vars) = test_vars(channel_description);
        self.pair("test", subject, vars).map_err(send_error)
    }

    fn pair(&self, name: &str, subject: String, vars: Value) -> Result<Rendered, minijinja::Error> {
        let vars = context! { subject => &subject, version => VERSION, ..vars };
        let text = self.env.get_template(&format!("{name}.txt"))?.render(&vars)?;
        let html = self.env.get_template(&format!("{name}.html"))?.render(&vars)?;
        Ok(Rendered { subject, text, html })
    }

    /// Renders every message against every sample, so that what would fail at send time
    /// fails now, naming the file.
    fn check(&self) -> Result<(), SetupError> {
        let ctx = samples::context();
        let events = samples::events();
        let mut results: Vec<Result<Rendered, minijinja::Error>> = events
            .iter()
            .map(|e| {
                let (name, vars) = vars(e, &ctx);
                self.pair(name, headline(e), vars)
            })
            .collect();
        let alerts: Vec<Event> = events
            .iter()
            .filter(|e| !e.kind().is_admin() && !matches!(e, Event::Digest(_)))
            .cloned()
            .collect();
        let (subject, vars) = summary_vars(&alerts, &ctx);
        results.push(self.pair("summary", subject, vars));
        let (subject, vars) = test_vars("email to formalities@firm.example");
        results.push(self.pair("test", subject, vars));
        match results.into_iter().find_map(Result::err) {
            Some(e) => Err(self.load_error(&e)),
            None => Ok(()),
        }
    }

    /// A render failure at load, naming the file it happened in.
    fn load_error(&self, e: &minijinja::Error) -> SetupError {
        let name = e.name().unwrap_or("a template");
        let file = match self.overridden.get(name) {
            Some(path) => path.display().to_string(),
            None if self.overridden.is_empty() => format!("built-in {name}"),
            None => format!(
                "built-in {name} (with the overrides {})",
                self.overridden
                    .values()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        config_error(format!("{file}: {}", describe(e)))
    }
}

/// The environment every template runs in: whitespace control that keeps text templates
/// readable, an undefined variable is an error (a misspelt name in an override fails at
/// load, not as an empty field), and the filters `datetime`, `filesize`, `wrap` and
/// `plural`.
fn environment() -> Result<Environment<'static>, SetupError> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| config_error(format!("the template syntax: {}", describe(&e))))?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("datetime", datetime);
    env.add_filter("filesize", filesize);
    env.add_filter("wrap", wrap);
    env.add_filter("plural", plural_filter);
    Ok(env)
}

/// `2026-03-14T08:00:00Z` → `2026-03-14 08:00 UTC`; anything that is not RFC 3339 is shown as
/// it came (an office's own wording of a time is still worth reading).
fn datetime(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value).map_or_else(
        |_| value.to_owned(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

/// `245119` → `245,119 bytes (239.4 KiB)`: the exact count to compare with the file, the
/// rounded one to read.
fn filesize(bytes: u64) -> String {
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(d);
    }
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for u in units {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    match unit {
        None if bytes == 1 => "1 byte".into(),
        None => format!("{grouped} bytes"),
        Some(u) => format!("{grouped} bytes ({value:.1} {u})"),
    }
}

/// `n|plural("attempt")` → `1 attempt`, `5 attempts`; `n|plural("copy", "copies")`.
fn plural_filter(n: u64, one: &str, many: Option<&str>) -> String {
    match (n, many) {
        (1, _) => format!("1 {one}"),
        (_, Some(many)) => format!("{n} {many}"),
        (_, None) => format!("{n} {one}s"),
    }
}

/// `text|wrap(width, indent)`: the text parts are read at 72–80 columns, and a summary or an
/// office's reason can be longer than a line. Words are kept whole (a path or a hash longer
/// than a line stands alone on its line); every line after the first starts with `indent`,
/// and the first is taken to start at the same column, after a prefix the template writes.
fn wrap(text: &str, width: usize, indent: Option<&str>) -> String {
    let indent = indent.unwrap_or("");
    let room = width.saturating_sub(indent.chars().count()).max(1);
    let mut out = String::new();
    for (n, paragraph) in text.lines().enumerate() {
        if n > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        let mut len = 0;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let chars = word.chars().count();
            if len > 0 && len + 1 + chars > room {
                out.push('\n');
                out.push_str(indent);
                len = 0;
            } else if len > 0 {
                out.push(' ');
                len += 1;
            }
            out.push_str(word);
            len += chars;
        }
    }
    out
}

/// The override files in `dir`: `(template name, path)`.
fn overrides(dir: &Path) -> Result<Vec<(String, PathBuf)>, SetupError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| config_error(format!("cannot read the directory {}: {e}", dir.display())))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| config_error(format!("cannot read the directory {}: {e}", dir.display())))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if BUILT_IN.iter().any(|(known, _)| *known == name) {
            found.push((name, path));
        } else if name.ends_with(".txt") || name.ends_with(".html") {
            return Err(config_error(format!(
                "{} is not a template mailroom uses (they are {})",
                path.display(),
                BUILT_IN.map(|(known, _)| known).join(", ")
            )));
        }
    }
    found.sort();
    Ok(found)
}

fn config_error(reason: String) -> SetupError {
    SetupError::Config {
        key: "notify.templates_dir".into(),
        reason,
    }
}

/// `line 3: syntax error: unexpected end of input`: the error without minijinja's own
/// `(in NAME:LINE)` suffix, which would repeat the file name the caller gives.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    let what = match std::error::Error::source(e) {
        Some(cause) => format!("{what}: {cause}"),
        None => what,
    };
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// A message that cannot be built now cannot be built by retrying either.
fn send_error(e: minijinja::Error) -> SendError {
    let name = e.name().unwrap_or("a template").to_owned();
    SendError::Permanent(format!("cannot render {name}: {}", describe(&e)))
}

/// One archived file, as a message shows it.
#[derive(Serialize)]
struct FileView {
    /// The office's file name, else the last part of the path.
    name: String,
    media_type: Option<String>,
    /// The full path: the archive directory joined with the recorded path.
    path: String,
    relative_path: String,
    size: u64,
    sha256: String,
}

/// Where a person looks a case up at the office.
#[derive(Serialize)]
struct Lookup {
    name: &'static str,
    url: String,
    /// What to type there when the link cannot carry the number.
    hint: Option<String>,
}

#[derive(Serialize)]
struct CommunicationView<'a> {
    #[serde(flatten)]
    event: &'a Communication,
    /// The followed case, else the application number as the office wrote it.
    label: &'a str,
    files: Vec<FileView>,
    /// The European Patent Register page of an EP application.
    register_url: Option<String>,
}

impl<'a> CommunicationView<'a> {
    fn new(c: &'a Communication, ctx: &Context) -> Self {
        let files = c
            .documents
            .iter()
            .map(|d| FileView {
                name: d
                    .file_name
                    .clone()
                    .unwrap_or_else(|| d.path.rsplit('/').next().unwrap_or(d.path.as_str()).to_owned()),
                media_type: d.media_type.clone(),
                path: ctx.archive_dir.join(&d.path).display().to_string(),
                relative_path: d.path.clone(),
                size: d.size,
                sha256: d.sha256.clone(),
            })
            .collect();
        let register_url = match c.office {
            Office::Ep => parse_case(&c.application_number, Some(Office::Ep), None)
                .ok()
                .and_then(|key| register_url(&key.number)),
            Office::Jp => None,
        };
        CommunicationView {
            event: c,
            label: c.case.as_deref().unwrap_or(&c.application_number),
            files,
            register_url,
        }
    }
}

/// The EP Register page of an EP number (only letters and digits reach a URL).
fn register_url(number: &str) -> Option<String> {
    (number.starts_with("EP") && number.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("https://register.epo.org/application?number={number}"))
}

#[derive(Serialize)]
struct ChangeView<'a> {
    #[serde(flatten)]
    event: &'a CaseChanged,
    lookup: Option<Lookup>,
}

impl<'a> ChangeView<'a> {
    fn new(c: &'a CaseChanged) -> Self {
        let lookup = match c.office {
            Office::Ep => register_url(&c.number).map(|url| Lookup {
                name: "European Patent Register",
                url,
                hint: None,
            }),
            // J-PlatPat has no stable link to a case: the message says what to search for.
            Office::Jp => Some(Lookup {
                name: "J-PlatPat",
                url: "https://www.j-platpat.inpit.go.jp/".into(),
                hint: Some(format!("search for {}", c.case)),
            }),
        };
        ChangeView { event: c, lookup }
    }
}

#[derive(Serialize)]
struct ReminderView<'a> {
    #[serde(flatten)]
    event: &'a DeadlineReminder,
    /// The followed case, else the application number.
    label: &'a str,
}

#[derive(Serialize)]
struct DigestView<'a> {
    day: &'a str,
    since: &'a str,
    until: &'a str,
    nothing_happened: bool,
    communications: Vec<CommunicationView<'a>>,
    changes: Vec<ChangeView<'a>>,
    outstanding: &'a [Outstanding],
    delivery_failures: &'a [DeliveryFailed],
    quota: &'a [String],
    jobs: &'a [JobLine],
    deadlines: &'a [DigestDeadline],
}

impl<'a> DigestView<'a> {
    fn new(d: &'a Digest, ctx: &Context) -> Self {
        DigestView {
            day: &d.day,
            since: &d.since,
            until: &d.until,
            nothing_happened: d.nothing_happened(),
            communications: d
                .communications
                .iter()
                .map(|c| CommunicationView::new(c, ctx))
                .collect(),
            changes: d.changes.iter().map(ChangeView::new).collect(),
            outstanding: &d.outstanding,
            delivery_failures: &d.delivery_failures,
            quota: &d.quota,
            jobs: &d.jobs,
            deadlines: &d.deadlines,
        }
    }
}

/// One alert of a summary: its subject line and the view of its kind (the other is none).
#[derive(Serialize)]
struct AlertView<'a> {
    kind: &'static str,
    subject: String,
    communication: Option<CommunicationView<'a>>,
    change: Option<ChangeView<'a>>,
}

/// The template (without extension) and the variables of an event's message.
fn vars(event: &Event, ctx: &Context) -> (&'static str, Value) {
    let name = event.kind().as_str();
    let vars = match event {
        Event::Communication(c) => {
            context! { communication => Value::from(Serde(CommunicationView::new(c, ctx))) }
        }
        Event::Change(c) => context! { change => Value::from(Serde(ChangeView::new(c))) },
        Event::Quarantine(q) => context! { quarantine => Value::from(Serde(q)) },
        Event::OfficeStop(s) => context! { stop => Value::from(Serde(s)) },
        Event::DeliveryFailed(f) => context! { failure => Value::from(Serde(f)) },
        Event::Deadline(r) => context! { reminder => Value::from(Serde(ReminderView {
            event: r,
            label: r.case.as_deref().unwrap_or(&r.application_number),
        })) },
        Event::DeadlineCheck(k) => context! { check => Value::from(Serde(k)) },
        Event::Digest(d) => context! { digest => Value::from(Serde(DigestView::new(d, ctx))) },
        Event::Test(t) => {
            context! { channel => format!("a webhook or desktop message from {} at {}", t.from_host, t.sent_at) }
        }
    };
    (name, vars)
}

fn summary_vars(events: &[Event], ctx: &Context) -> (String, Value) {
    let alerts: Vec<AlertView<'_>> = events
        .iter()
        .map(|e| AlertView {
            kind: e.kind().as_str(),
            subject: headline(e),
            communication: match e {
                Event::Communication(c) => Some(CommunicationView::new(c, ctx)),
                _ => None,
            },
            change: match e {
                Event::Change(c) => Some(ChangeView::new(c)),
                _ => None,
            },
        })
        .collect();
    (
        summary_subject(events),
        context! { alerts => Value::from(Serde(alerts)) },
    )
}

fn test_vars(channel: &str) -> (String, Value) {
    (
        format!("[mailroom] test message: {channel}"),
        context! { channel => channel },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::load(None).unwrap()
    }

    /// How a value appears in the HTML part (minijinja escapes `&<>"'/`).
    fn escaped(s: &str) -> String {
        minijinja::HtmlEscape(s).to_string()
    }

    fn assert_both(r: &Rendered, facts: &[&str], what: &str) {
        for fact in facts {
            assert!(r.text.contains(fact), "{what}: text lacks {fact:?}:\n{}", r.text);
            assert!(
                r.html.contains(&escaped(fact)),
                "{what}: HTML lacks {fact:?}:\n{}",
                r.html
            );
        }
    }

    #[test]
    fn every_event_kind_says_what_a_person_needs_in_both_parts() {
        let ctx = samples::context();
        let full = |rel: &str| ctx.archive_dir.join(rel).display().to_string();
        let comm = samples::communication();
        let path0 = full(&comm.documents[0].path);
        let path1 = full(&comm.documents[1].path);
        let table: Vec<(Event, &str, Vec<&str>)> = vec![
            (
                Event::Communication(comm.clone()),
                "[EPO] EP23184567 · ACME-P-0042-EP · Form 2004 · Communication under Rule 71(3) EPC · dated 2026-03-14",
                vec![
                    "EP23184567",
                    "EP23184567.2",
                    "ACME-P-0042-EP",
                    "2004",
                    "Communication under Rule 71(3) EPC",
                    "2026-03-14",
                    "legal date of notification",
                    "2026-03-14 07:12 UTC",
                    &path0,
                    &path1,
                    "245,119 bytes",
                    "1,873,402 bytes",
                    "9f2c4a7be1d03856c1f7e2a94b0d6c38e5a1f7092bd4c6e3a8f5b1d72c9e0a46",
                    "3b8e0d5f9a62c14e7d09b3a5f8c2e61d4a7b0c93e5f18d2a6b4c7e09f1d3a58c",
                    "The PDF is attached to this message unless",
                    "https://register.epo.org/application?number=EP23184567",
                ],
            ),
            (
                Event::Communication(samples::unfollowed_communication()),
                "[EPO] PCT/EP2024/071234 · Form 1507 · Communication of the international search report · dated 2026-03-13",
                vec![
                    "PCT/EP2024/071234",
                    "none recorded",
                    "not stated by the office",
                    "1 byte",
                ],
            ),
            (
                Event::Change(samples::ep_change()),
                "[EPO] EP2400812 · ACME-P-0007-EP · 2 changes",
                vec![
                    "EP2400812",
                    "ACME-P-0007-EP",
                    "The patent has been granted",
                    "Grant of patent is intended",
                    "(2019-10-25)",
                    "Validation of the patent",
                    "published EP2400812 B1",
                    "https://register.epo.org/application?number=EP2400812",
                ],
            ),
            (
                Event::Change(samples::jp_change()),
                "[JPO] JP 2020-123456 · new document \"拒絶理由通知書\" (2026-03-10)",
                vec![
                    "JP 2020-123456",
                    "拒絶理由通知書",
                    "J-PlatPat",
                    "search for JP 2020-123456",
                    "Due 2026-05-11 (Mon) — 60 days from 2026-03-10, Patent Act Art. 50",
                    "jp_applicant_abroad is not set",
                    "mailroom deadlines ack 18 --by NAME",
                ],
            ),
            (
                Event::Change(CaseChanged {
                    counterpart_of: vec![crate::core::notify::CounterpartOf {
                        case: "EP23184567".into(),
                        client_reference: Some("ACME-P-0042".into()),
                    }],
                    ..samples::jp_change()
                }),
                "[JPO] JP counterpart 2020-123456 of EP23184567 (ACME-P-0042): new document \"拒絶理由通知書\" (2026-03-10)",
                vec!["JP counterpart of", "EP23184567 (ACME-P-0042)", "拒絶理由通知書"],
            ),
            (
                Event::Quarantine(samples::quarantined()),
                "[mailroom] quarantined: EP24000001.5 · ACME-P-0051-EP · Form 2001 · dated 2026-03-14 · communication 5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17",
                vec![
                    "EP24000001.5",
                    "ACME-P-0051-EP",
                    "Communication pursuant to Article 94(3) EPC",
                    "the office sent text/html where a PDF was listed",
                    "not marked handled",
                    "mailroom communications retry 5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17",
                ],
            ),
            (
                Event::OfficeStop(samples::office_stopped()),
                "[mailroom] EPO OPS stopped (status job): the OPS token request was refused (401 invalid_client)",
                vec![
                    "EPO OPS",
                    "the OPS token request was refused (401 invalid_client)",
                    "check [ops] consumer_key and consumer_secret",
                    "mailroom sync status",
                ],
            ),
            (
                Event::OfficeStop(samples::office_stopped_without_action()),
                "[mailroom] EPO MyEPO stopped (mailbox job): the office did not answer for the whole cycle (connect timeout)",
                vec!["connect timeout", "mailroom config", "mailroom sync mailbox"],
            ),
            (
                Event::DeliveryFailed(samples::delivery_failed()),
                "[mailroom] notification not delivered to webhook teams: [EPO] EP23184567 · ACME-P-0042-EP · Form 2004 · Communication under Rule 71(3) EPC · dated 2026-03-14",
                vec![
                    "webhook",
                    "teams",
                    "8 attempts",
                    "HTTP 403 Forbidden from the webhook",
                    "has not been told",
                    "mailroom outbox retry 1187",
                ],
            ),
            (
                Event::Digest(samples::digest()),
                "[mailroom] digest 2026-03-14: 2 new communications, 1 case changed, 3 open",
                vec![
                    "2026-03-14",
                    "2 new communications",
                    "1 case change",
                    "ACME-P-0042-EP",
                    &path0,
                    "Grant of patent is intended",
                    "EP24000001.5",
                    "waiting for a retry after 2 attempts",
                    "mailroom communications retry ID",
                    "HTTP 403 Forbidden from the webhook",
                    "mailroom outbox retry ID",
                    "EPO OPS: 212.4 MB of 4 GB this week (5%)",
                    "2026-03-14 18:00 UTC",
                    "last run failed: EPO OPS",
                ],
            ),
            (
                Event::Deadline(samples::reminder()),
                "[EPO] deadline in 7 days: EP23184567 · ACME-P-0042-EP · Communication under Rule 71(3) EPC · due 2026-07-14 · not yet acknowledged",
                vec![
                    "Due 2026-07-14 (Tue) — 4 months from 2026-03-14, Rule 71(3) EPC",
                    "Rule 131 EPC",
                    "calendar incomplete for 2026",
                    "further processing",
                    "mailroom deadlines ack 17 --by NAME",
                ],
            ),
            (
                Event::DeadlineCheck(samples::register_disagrees()),
                "[mailroom] Register check: deadline 17 of EP23184567 (Communication under Rule 71(3) EPC, dated 2026-03-14) runs 4 months (Rule 71(3) EPC); the Register's step STEP_EXRE_90000017 gives 6 months",
                vec![
                    "disagrees",
                    "STEP_EXRE_90000017",
                    "6 months",
                    "mailroom deadlines ack 17 --by NAME",
                ],
            ),
            (
                Event::DeadlineCheck(samples::register_without_communication()),
                "[mailroom] Register check: the Register shows a time limit of 4 months for EP22123456 dated 2026-03-02 (Communication from the examining division); no communication of that date was received",
                vec![
                    "no communication",
                    "EP22123456",
                    "2026-03-02",
                    "may be lost",
                    "MyEPO",
                ],
            ),
            (
                Event::Test(crate::core::notify::TestMessage {
                    sent_at: "2026-03-14T08:00:00Z".into(),
                    from_host: "mail01".into(),
                }),
                "[mailroom] test message from mail01 at 2026-03-14T08:00:00Z",
                vec!["from mail01 at 2026-03-14T08:00:00Z", "this channel works"],
            ),
        ];
        let t = templates();
        let mut kinds = std::collections::BTreeSet::new();
        for (event, subject, facts) in &table {
            let r = t.render(event, &ctx).unwrap();
            assert_eq!(r.subject, *subject);
            assert_eq!(r.subject, headline(event));
            assert_both(&r, facts, subject);
            kinds.insert(event.kind());
        }
        assert_eq!(kinds.len(), EventKind::ALL.len(), "every kind is in the table");
    }

    #[test]
    fn html_is_escaped_and_text_is_verbatim() {
        let hostile = "<b>&\"x\"";
        let mut c = samples::communication();
        c.client_reference = Some(hostile.into());
        c.title = "<script>alert(1)</script>".into();
        let mut ch = samples::ep_change();
        ch.client_reference = Some(hostile.into());
        let mut q = samples::quarantined();
        q.client_reference = Some(hostile.into());
        let mut digest = samples::digest();
        digest.communications[0].client_reference = Some(hostile.into());
        let t = templates();
        let ctx = samples::context();
        let events = [
            Event::Communication(c.clone()),
            Event::Change(ch.clone()),
            Event::Quarantine(q),
            Event::Digest(digest),
        ];
        for event in &events {
            let r = t.render(event, &ctx).unwrap();
            assert!(r.text.contains(hostile), "{}", r.text);
            assert!(r.html.contains("&lt;b&gt;&amp;&quot;x&quot;"), "{}", r.html);
            assert!(!r.html.contains("<b>"), "{}", r.html);
            assert!(!r.html.contains("<script"), "{}", r.html);
        }
        let summary = t
            .render_summary(&[Event::Communication(c), Event::Change(ch)], &ctx)
            .unwrap();
        assert!(summary.text.contains(hostile));
        assert!(summary.html.contains("&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(!summary.html.contains("<b>"));
    }

    #[test]
    fn html_is_self_contained_and_inline_styled() {
        let t = templates();
        let ctx = samples::context();
        let mut parts: Vec<String> = samples::events()
            .iter()
            .map(|e| t.render(e, &ctx).unwrap().html)
            .collect();
        parts.push(t.render_test("email to a@b").unwrap().html);
        for html in &parts {
            for banned in ["<script", "<style", "<link", "<img", " src=", "<iframe", "url("] {
                assert!(!html.contains(banned), "{banned} in:\n{html}");
            }
            assert!(html.contains("max-width:640px"), "{html}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        }
    }

    #[test]
    fn text_lines_fit_80_columns_unless_they_hold_one_unbreakable_word() {
        let t = templates();
        let ctx = samples::context();
        let mut texts: Vec<String> = samples::events()
            .iter()
            .map(|e| t.render(e, &ctx).unwrap().text)
            .collect();
        let alerts: Vec<Event> = samples::events()
            .into_iter()
            .filter(|e| matches!(e, Event::Communication(_) | Event::Change(_)))
            .collect();
        texts.push(t.render_summary(&alerts, &ctx).unwrap().text);
        texts.push(t.render_test("email to a@b").unwrap().text);
        for text in &texts {
            for line in text.lines() {
                let long_word = line.split(' ').any(|w| w.chars().count() > 40);
                assert!(
                    line.chars().count() <= 80 || long_word,
                    "{} columns: {line:?}",
                    line.chars().count()
                );
            }
        }
    }

    #[test]
    fn a_quiet_digest_says_nothing_happened_at_the_top_and_still_shows_quota_and_jobs() {
        let t = templates();
        let ctx = samples::context();
        let mut quiet = samples::quiet_digest();
        quiet.quota = vec!["EPO OPS: 1.2 MB of 4 GB this week (0%)".into()];
        let r = t.render(&Event::Digest(quiet), &ctx).unwrap();
        assert_eq!(r.subject, "[mailroom] digest 2026-03-15: nothing happened");
        for part in [&r.text, &r.html] {
            let nothing = part.find("Nothing happened").expect("says nothing happened");
            let quota = part
                .find("EPO OPS: 1.2 MB of 4 GB this week (0%)")
                .expect("quota");
            let jobs = part.find("mailbox").expect("the job line");
            assert!(nothing < quota && nothing < jobs, "{part}");
            assert!(part.contains("never"), "the job never succeeded: {part}");
        }
        let busy = t.render(&Event::Digest(samples::digest()), &ctx).unwrap();
        assert!(!busy.text.contains("Nothing happened"));
        assert!(!busy.html.contains("Nothing happened"));
    }

    #[test]
    fn a_summary_lists_every_alert() {
        let t = templates();
        let ctx = samples::context();
        let events = vec![
            Event::Communication(samples::communication()),
            Event::Communication(samples::unfollowed_communication()),
            Event::Change(samples::ep_change()),
        ];
        let r = t.render_summary(&events, &ctx).unwrap();
        assert_eq!(
            r.subject,
            "[mailroom] 3 alerts: 2 new communications, 1 case change"
        );
        let path = ctx
            .archive_dir
            .join(&samples::unfollowed_communication().documents[0].path)
            .display()
            .to_string();
        assert_both(
            &r,
            &[
                "ACME-P-0042-EP",
                "PCT/EP2024/071234",
                &path,
                "Grant of patent is intended",
                "max_alerts_per_cycle",
            ],
            "summary",
        );
        let one = t
            .render_summary(&[Event::Quarantine(samples::quarantined())], &ctx)
            .unwrap();
        assert_eq!(one.subject, "[mailroom] 1 alert: 1 other alert");
    }

    #[test]
    fn the_test_message_names_its_channel() {
        let r = templates()
            .render_test("email to formalities@firm.example via smtp.firm.example")
            .unwrap();
        assert_eq!(
            r.subject,
            "[mailroom] test message: email to formalities@firm.example via smtp.firm.example"
        );
        assert_both(
            &r,
            &[
                "formalities@firm.example via smtp.firm.example",
                "mailroom notify test",
            ],
            "test",
        );
    }

    #[test]
    fn an_override_replaces_its_built_in_template_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("communication.txt"),
            "OVERRIDE {{ communication.label }} {{ communication.files[0].path }} {{ subject }}\n",
        )
        .unwrap();
        // A non-template file beside them is not a template and is left alone.
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let ctx = samples::context();
        let event = Event::Communication(samples::communication());
        let r = t.render(&event, &ctx).unwrap();
        let path = ctx.archive_dir.join(&samples::communication().documents[0].path);
        assert_eq!(
            r.text,
            format!("OVERRIDE EP23184567 {} {}\n", path.display(), headline(&event))
        );
        assert_eq!(r.html, templates().render(&event, &ctx).unwrap().html);
        let other = Event::Change(samples::ep_change());
        assert_eq!(
            t.render(&other, &ctx).unwrap(),
            templates().render(&other, &ctx).unwrap()
        );
    }

    #[test]
    fn a_broken_override_is_refused_at_load_naming_the_file_and_line() {
        let table: &[(&str, &str, &[&str])] = &[
            // A syntax error.
            (
                "communication.html",
                "{% extends \"layout.html\" %}\n{% block body %}\n{% if %}\n{% endblock %}\n",
                &["communication.html", "line 3", "syntax error"],
            ),
            // A misspelt variable: refused now, not printed empty in every message.
            (
                "change.txt",
                "Case {{ change.case }}\nStatus {{ change.statuss }}\n",
                &["change.txt", "line 2", "undefined"],
            ),
            // A shared piece broken for a template that is not overridden.
            (
                "macros.txt",
                "{% macro file(n, f, indent) %}\n{{ f.nope.deeper }}{% endmacro %}",
                &["macros.txt", "line 2", "undefined"],
            ),
            // ... or called in a way the built-in templates do not match.
            (
                "macros.txt",
                "{% macro file(n) %}{{ n }}{% endmacro %}",
                &[
                    "built-in communication.txt",
                    "with the overrides",
                    "macros.txt",
                    "too many arguments",
                ],
            ),
            // An override under a name mailroom does not use.
            (
                "alert.txt",
                "hello",
                &["alert.txt", "not a template mailroom uses", "communication.txt"],
            ),
        ];
        for (name, source, wanted) in table {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(name), source).unwrap();
            let err = Templates::load(Some(dir.path())).unwrap_err();
            let SetupError::Config { key, reason } = &err;
            assert_eq!(key, "notify.templates_dir");
            assert!(
                reason.contains(&dir.path().join(name).display().to_string()),
                "{name}: {reason}"
            );
            for w in *wanted {
                assert!(reason.contains(w), "{name}: {w:?} not in {reason}");
            }
        }
        let missing = tempfile::tempdir().unwrap().path().join("nope");
        let err = Templates::load(Some(&missing)).unwrap_err().to_string();
        assert!(
            err.contains("cannot read the directory") && err.contains("nope"),
            "{err}"
        );
    }

    #[test]
    fn every_built_in_template_has_a_name_and_every_name_is_used() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/notify/templates");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut names: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(on_disk, names);
        for kind in EventKind::ALL {
            for ext in ["txt", "html"] {
                let name = format!("{}.{ext}", kind.as_str());
                assert!(BUILT_IN.iter().any(|(n, _)| *n == name), "{name}");
            }
        }
    }

    #[test]
    fn filters() {
        let sizes = [
            (0, "0 bytes"),
            (1, "1 byte"),
            (1023, "1,023 bytes"),
            (1024, "1,024 bytes (1.0 KiB)"),
            (245_119, "245,119 bytes (239.4 KiB)"),
            (2_147_483_648, "2,147,483,648 bytes (2.0 GiB)"),
        ];
        for (n, want) in sizes {
            assert_eq!(filesize(n), want);
        }
        assert_eq!(datetime("2026-03-14T08:00:03Z"), "2026-03-14 08:00 UTC");
        assert_eq!(datetime("2026-03-14T09:00:03+01:00"), "2026-03-14 08:00 UTC");
        assert_eq!(datetime("gestern"), "gestern");
        assert_eq!(plural_filter(1, "attempt", None), "1 attempt");
        assert_eq!(plural_filter(0, "attempt", None), "0 attempts");
        assert_eq!(plural_filter(2, "copy", Some("copies")), "2 copies");
        let wraps = [
            ("a b c", 3, None, "a b\nc"),
            ("one two three", 9, Some("  "), "one two\n  three"),
            ("short", 80, Some("  "), "short"),
            ("x /a/very/long/path y", 6, None, "x\n/a/very/long/path\ny"),
            ("line one\nline two", 80, Some("> "), "line one\n> line two"),
            ("", 10, None, ""),
        ];
        for (text, width, indent, want) in wraps {
            assert_eq!(wrap(text, width, indent), want, "{text:?}");
        }
    }

    #[test]
    fn register_links_only_for_ep_numbers() {
        let table = [
            (
                "EP23184567",
                Some("https://register.epo.org/application?number=EP23184567"),
            ),
            (
                "EP2400812",
                Some("https://register.epo.org/application?number=EP2400812"),
            ),
            ("2020123456", None),
            ("EP1&x=<y>", None),
        ];
        for (number, want) in table {
            assert_eq!(register_url(number).as_deref(), want, "{number}");
        }
        let ctx = samples::context();
        let (pct, ep) = (samples::unfollowed_communication(), samples::communication());
        assert_eq!(CommunicationView::new(&pct, &ctx).register_url, None);
        assert_eq!(
            CommunicationView::new(&ep, &ctx).register_url.as_deref(),
            Some("https://register.epo.org/application?number=EP23184567")
        );
    }
}
