//! Who is told what: the notification events, the routing decision (event → channel →
//! recipients), the retry policy of a delivery, and the identities of the messages.
//!
//! An [`Event`] is what happened, in the words a notification needs (the case, the client
//! reference, the form, the date, the archived files). It is written to the outbox in the
//! same transaction as the fact it reports (`store::outbox`), together with one delivery per
//! `(channel, recipient)` that [`route`] picks. The serialised form of an `Event` is the JSON
//! schema the `json` webhook posts (documented in README, "Who is told what").
//!
//! Routing, per channel:
//! - **email**: a *people* event (a new communication, a case change) goes to the `to` of the
//!   first rule that matches it, or to the default `to` if none does; an *admin* event
//!   (quarantine, office stop, a delivery that keeps failing) goes to `admin_to` (the default
//!   `to` when `admin_to` is empty, so an admin event is never told to nobody).
//! - **webhook**: each webhook whose filter matches gets the event. A filter without `kind`
//!   matches people events only; admin events reach a webhook that lists their kind.
//! - **desktop** (`[notify.desktop] enabled`): every people event and every admin event.
//!
//! A delivery failure report is never routed back to the channel and recipient that failed,
//! and a failed failure report raises no further report.

use serde::{Deserialize, Serialize};

use crate::core::cases::Office;

/// What kind of thing happened (the routing rules' `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A communication was archived (the first time).
    Communication,
    /// A case's status changed (one event per case per check, with all its changes).
    Change,
    /// A communication was quarantined: a person must look at it.
    Quarantine,
    /// An office's part of a job stopped: credentials refused, a quota reached, the office
    /// unreachable for the whole cycle.
    OfficeStop,
    /// A notification could not be delivered after every retry.
    DeliveryFailed,
    /// A deadline nobody has acknowledged reached a reminder rung (`[deadlines] remind_days`).
    Deadline,
    /// The EP Register contradicts a deadline, or shows a time limit no communication
    /// explains: an admin must look.
    DeadlineCheck,
    /// The daily digest.
    Digest,
    /// `mailroom notify test`: never routed, sent to the channel named on the command line.
    Test,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Communication,
        EventKind::Change,
        EventKind::Quarantine,
        EventKind::OfficeStop,
        EventKind::DeliveryFailed,
        EventKind::Deadline,
        EventKind::DeadlineCheck,
        EventKind::Digest,
        EventKind::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Communication => "communication",
            EventKind::Change => "change",
            EventKind::Quarantine => "quarantine",
            EventKind::OfficeStop => "office_stop",
            EventKind::DeliveryFailed => "delivery_failed",
            EventKind::Deadline => "deadline",
            EventKind::DeadlineCheck => "deadline_check",
            EventKind::Digest => "digest",
            EventKind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Admin events go to `admin_to`, people events to the routed `to`.
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            EventKind::Quarantine
                | EventKind::OfficeStop
                | EventKind::DeliveryFailed
                | EventKind::DeadlineCheck
        )
    }
}

/// One archived file of a communication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    /// Relative to the archive directory, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A communication archived for the first time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Communication {
    /// The office's communication id.
    pub id: String,
    pub office: Office,
    /// As the office wrote it (`EP23184567.2`, `PCT/EP2024/071234`).
    pub application_number: String,
    /// The followed case it belongs to (its label), if any.
    pub case: Option<String>,
    pub client_reference: Option<String>,
    /// The EPO form number (`2004`).
    pub document_code: String,
    pub title: String,
    /// The date the document bears (YYYY-MM-DD), the legal notification date.
    pub dispatch_date: String,
    /// When it reached the mailbox, if the office said.
    pub delivered_at: Option<String>,
    pub archived_at: String,
    pub documents: Vec<Document>,
    /// The deadline it starts, as proposed when it was archived (`null` with deadlines
    /// disabled, and in events written before issue 13).
    #[serde(default)]
    pub deadline: Option<DeadlineInfo>,
}

/// A deadline as a notification shows it: the one-line summary and the reasoning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineInfo {
    /// The row in `deadlines`; `None` when no period is known.
    pub id: Option<i64>,
    /// `Due 2027-03-01 (Mon) — 4 months from 2026-10-30, Rule 71(3) EPC; …`, or why no
    /// deadline is known.
    pub line: String,
    /// YYYY-MM-DD.
    pub due: Option<String>,
    pub basis: Option<String>,
    /// `rule`, `letter` or `register`.
    pub source: Option<String>,
    pub steps: Vec<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// `unchecked`, `confirmed` or `disagrees`.
    pub register: Option<String>,
    pub remedy: Option<String>,
}

/// A deadline reached a reminder rung and nobody has acknowledged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineReminder {
    pub deadline_id: i64,
    pub office: Office,
    pub application_number: String,
    pub case: Option<String>,
    pub client_reference: Option<String>,
    pub title: String,
    /// The communication's form number: a reminder follows the routing of its communication.
    pub document_code: String,
    pub document_date: String,
    pub due: String,
    pub days_left: u32,
    /// The rung of `remind_days` reached.
    pub rung: u32,
    pub deadline: DeadlineInfo,
}

/// What the EP Register says against the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A deadline of the same case and date has a different period.
    Disagrees,
    /// A time limit with no communication of its date in the mailbox.
    NoCommunication,
}

/// The Register contradicts a deadline, or a communication seems lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineCheck {
    pub kind: CheckKind,
    /// The case as followed (`EP10167109`).
    pub case: String,
    pub client_reference: Option<String>,
    /// The Register's procedural step (`STEP_EXRE_13225478`) and its text.
    pub step_id: String,
    pub step: String,
    pub dispatch_date: String,
    /// The Register's time limit (`4 months`).
    pub register_period: String,
    /// Ours, when there is one.
    pub deadline: Option<DeadlineInfo>,
    /// One sentence for the subject and the first line.
    pub summary: String,
    pub detected_at: String,
}

/// One change event of a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLine {
    /// `status`, `event`, `document`, … (`core::status::ChangeKind`).
    pub kind: String,
    /// The office's date (ISO), `""` if it gave none.
    pub date: String,
    pub summary: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The changes one check of a case revealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseChanged {
    pub office: Office,
    /// The case as people read it (`EP23184567`, `JP 2020-123456`).
    pub case: String,
    /// The office key (`EP23184567`, `2020123456`).
    pub number: String,
    /// `patent`, `design`, `trademark`.
    pub right: String,
    pub client_reference: Option<String>,
    /// The current status after the change, as the office words it.
    pub status: Option<String>,
    pub detected_at: String,
    pub changes: Vec<ChangeLine>,
    /// For a JP counterpart: the EP or PCT cases it belongs to (`store::family`). Empty
    /// otherwise, and in events written before counterparts existed.
    #[serde(default)]
    pub counterpart_of: Vec<CounterpartOf>,
    /// The deadlines the new JPO documents of this check start (`store::deadlines::propose_jp`).
    #[serde(default)]
    pub deadlines: Vec<DeadlineInfo>,
}

/// The EP or PCT case a JP counterpart belongs to, as its alerts name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterpartOf {
    /// `EP23184567` or `PCT/EP2024/071234`.
    pub case: String,
    pub client_reference: Option<String>,
}

/// A communication left for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub id: String,
    pub application_number: String,
    pub client_reference: Option<String>,
    pub document_code: String,
    pub title: String,
    pub dispatch_date: String,
    pub attempts: u32,
    pub reason: String,
    pub quarantined_at: String,
}

/// An office's part of a job stopped before it was done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeStopped {
    /// `EPO MyEPO`, `EPO OPS`, `JPO`.
    pub office: String,
    /// `mailbox`, `status`.
    pub job: String,
    pub reason: String,
    /// What a person should do, if we know (`check [ops] consumer_key / consumer_secret`).
    pub action: Option<String>,
    pub stopped_at: String,
}

/// A delivery that failed every retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailed {
    pub delivery_id: i64,
    pub channel: Channel,
    pub recipient: String,
    /// What it was about (the subject line of the failed message).
    pub about: String,
    pub attempts: u32,
    pub error: String,
    /// When it was given up (a delivery retried by hand can fail again: a new report).
    pub failed_at: String,
}

/// The daily digest's content, gathered when it is queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The local day it covers (YYYY-MM-DD).
    pub day: String,
    /// The period covered, RFC 3339 UTC.
    pub since: String,
    pub until: String,
    pub communications: Vec<Communication>,
    pub changes: Vec<CaseChanged>,
    /// Communications quarantined or waiting for a retry: `(id, application, state, reason)`.
    pub outstanding: Vec<Outstanding>,
    pub delivery_failures: Vec<DeliveryFailed>,
    /// One line per office: what its quota or caps stand at.
    pub quota: Vec<String>,
    /// One line per job: its last successful run.
    pub jobs: Vec<JobLine>,
    /// Deadlines due within `[deadlines] horizon_days`, and every one not yet acknowledged.
    #[serde(default)]
    pub deadlines: Vec<DigestDeadline>,
}

/// A deadline as the digest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestDeadline {
    pub id: i64,
    /// The case label, else the application number.
    pub case: String,
    pub client_reference: Option<String>,
    pub title: String,
    pub due: String,
    /// Negative once past.
    pub days_left: i64,
    /// `open` or `acknowledged`.
    pub state: String,
    pub line: String,
}

impl Digest {
    /// Nothing to report: the digest says so in words, so silence is never ambiguous.
    pub fn nothing_happened(&self) -> bool {
        self.communications.is_empty()
            && self.changes.is_empty()
            && self.outstanding.is_empty()
            && self.delivery_failures.is_empty()
            && self.deadlines.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outstanding {
    pub id: String,
    pub application_number: String,
    /// `quarantined` or `waiting`.
    pub state: String,
    pub attempts: u32,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLine {
    pub job: String,
    pub last_success: Option<String>,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
}

/// A test message (`mailroom notify test`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMessage {
    pub sent_at: String,
    /// Where it was sent from (the host name), so a receiver knows which mailroom tests.
    pub from_host: String,
}

/// What happened, as a notification needs it. Serialised with a `type` tag: this is the
/// JSON webhook schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Communication(Communication),
    Change(CaseChanged),
    Quarantine(Quarantined),
    OfficeStop(OfficeStopped),
    DeliveryFailed(DeliveryFailed),
    Deadline(DeadlineReminder),
    DeadlineCheck(DeadlineCheck),
    Digest(Digest),
    Test(TestMessage),
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Communication(_) => EventKind::Communication,
            Event::Change(_) => EventKind::Change,
            Event::Quarantine(_) => EventKind::Quarantine,
            Event::OfficeStop(_) => EventKind::OfficeStop,
            Event::DeliveryFailed(_) => EventKind::DeliveryFailed,
            Event::Deadline(_) => EventKind::Deadline,
            Event::DeadlineCheck(_) => EventKind::DeadlineCheck,
            Event::Digest(_) => EventKind::Digest,
            Event::Test(_) => EventKind::Test,
        }
    }

    /// The key that makes writing the same event twice a no-op (a repeated step, a
    /// re-archived communication): one event per fact.
    pub fn dedupe_key(&self) -> String {
        match self {
            Event::Communication(c) => format!("communication:{}", c.id),
            Event::Change(c) => format!("change:{}:{}:{}", c.office, c.number, c.detected_at),
            Event::Quarantine(q) => format!("quarantine:{}:{}", q.id, q.quarantined_at),
            Event::OfficeStop(s) => format!("office_stop:{}:{}:{}", s.job, s.office, s.stopped_at),
            Event::DeliveryFailed(f) => format!("delivery_failed:{}:{}", f.delivery_id, f.failed_at),
            Event::Deadline(d) => format!("deadline:{}:{}:{}", d.deadline_id, d.due, d.rung),
            Event::DeadlineCheck(c) => format!("deadline_check:{}:{}:{:?}", c.case, c.step_id, c.kind),
            Event::Digest(d) => format!("digest:{}", d.day),
            Event::Test(t) => format!("test:{}", t.sent_at),
        }
    }

    fn office(&self) -> Option<Office> {
        match self {
            Event::Communication(c) => Some(c.office),
            Event::Change(c) => Some(c.office),
            Event::Quarantine(_) | Event::DeadlineCheck(_) => Some(Office::Ep),
            Event::Deadline(d) => Some(d.office),
            _ => None,
        }
    }

    fn client_reference(&self) -> Option<&str> {
        match self {
            Event::Communication(c) => c.client_reference.as_deref(),
            Event::Change(c) => c.client_reference.as_deref(),
            Event::Quarantine(q) => q.client_reference.as_deref(),
            Event::Deadline(d) => d.client_reference.as_deref(),
            Event::DeadlineCheck(c) => c.client_reference.as_deref(),
            _ => None,
        }
    }

    /// The case keys a rule's `case` may name: the application number as written and
    /// normalised (`EP23184567.2` → `EP23184567`), the case label and key.
    fn cases(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Event::Communication(c) => {
                out.push(normalise_case(&c.application_number));
                if let Some(case) = &c.case {
                    out.push(normalise_case(case));
                }
            }
            Event::Change(c) => {
                out.push(normalise_case(&c.case));
                out.push(normalise_case(&c.number));
            }
            Event::Quarantine(q) => out.push(normalise_case(&q.application_number)),
            Event::Deadline(d) => {
                out.push(normalise_case(&d.application_number));
                if let Some(case) = &d.case {
                    out.push(normalise_case(case));
                }
            }
            Event::DeadlineCheck(c) => out.push(normalise_case(&c.case)),
            _ => {}
        }
        out
    }

    fn document_codes(&self) -> Vec<&str> {
        match self {
            Event::Communication(c) => vec![c.document_code.as_str()],
            Event::Quarantine(q) => vec![q.document_code.as_str()],
            Event::Deadline(d) => vec![d.document_code.as_str()],
            Event::Change(c) => c.changes.iter().map(|l| l.kind.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Case numbers compared the way people write them: upper case, without spaces, dots after
/// the check digit, slashes and dashes (`EP 23 184 567.2` = `EP23184567`).
fn normalise_case(s: &str) -> String {
    let upper: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '/'))
        .flat_map(char::to_uppercase)
        .collect();
    match upper.split_once('.') {
        Some((head, _)) => head.to_owned(),
        None => upper,
    }
}

/// A notification channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
    Desktop,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
            Channel::Desktop => "desktop",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Email, Channel::Webhook, Channel::Desktop]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A rule's conditions; an absent condition matches everything. All present ones must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub office: Option<Office>,
    /// Any of these event kinds.
    pub kinds: Vec<EventKind>,
    /// Any of these form codes (communications, quarantines) or change kinds (changes).
    pub document_codes: Vec<String>,
    /// A glob (`*` any run, `?` one character) over the client reference, case-insensitive;
    /// an event without a client reference never matches it.
    pub client_reference: Option<String>,
    /// Any of these case numbers, compared normalised.
    pub cases: Vec<String>,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        let kind = event.kind();
        let kind_ok = if self.kinds.is_empty() {
            !kind.is_admin()
        } else {
            self.kinds.contains(&kind)
        };
        kind_ok
            && self.office.is_none_or(|o| event.office() == Some(o))
            && (self.document_codes.is_empty()
                || event
                    .document_codes()
                    .iter()
                    .any(|c| self.document_codes.iter().any(|d| d.eq_ignore_ascii_case(c))))
            && self
                .client_reference
                .as_deref()
                .is_none_or(|g| event.client_reference().is_some_and(|r| glob(g, r)))
            && (self.cases.is_empty() || {
                let mine = event.cases();
                self.cases.iter().any(|c| mine.contains(&normalise_case(c)))
            })
    }
}

/// `*` matches any run of characters, `?` one; case-insensitive. Iterative, so no input can
/// make it recurse.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// An email rule: first match wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailRule {
    pub filter: Filter,
    pub to: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailRoutes {
    pub rules: Vec<EmailRule>,
    /// The default route.
    pub to: Vec<String>,
    pub admin_to: Vec<String>,
    /// Who gets the daily digest.
    pub digest_to: Vec<String>,
}

/// Everything [`route`] needs, built from `[notify]` (`config::Notify::routing`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    pub email: Option<EmailRoutes>,
    /// `(name, filter)` of each webhook.
    pub webhooks: Vec<(String, Filter)>,
    /// Notify the desktop session directly from the jobs.
    pub desktop: bool,
}

/// One delivery of an event: a channel and a recipient (an address, a webhook's name,
/// `session` for the desktop).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delivery {
    pub channel: Channel,
    pub recipient: String,
}

/// Event → deliveries. Pure; the order is stable and each `(channel, recipient)` appears once.
pub fn route(event: &Event, routing: &Routing) -> Vec<Delivery> {
    let mut out: Vec<Delivery> = Vec::new();
    let kind = event.kind();
    if kind == EventKind::Test {
        return out;
    }
    let failed = match event {
        Event::DeliveryFailed(f) => Some((f.channel, f.recipient.as_str())),
        _ => None,
    };
    let mut push = |channel: Channel, recipient: &str| {
        let d = Delivery {
            channel,
            recipient: recipient.to_owned(),
        };
        if failed != Some((channel, recipient)) && !out.contains(&d) {
            out.push(d);
        }
    };
    if let Some(email) = &routing.email {
        let to: &[String] = match kind {
            EventKind::Digest => &email.digest_to,
            k if k.is_admin() && !email.admin_to.is_empty() => &email.admin_to,
            k if k.is_admin() => &email.to,
            _ => email
                .rules
                .iter()
                .find(|r| r.filter.matches(event))
                .map_or(&email.to, |r| &r.to),
        };
        for r in to {
            push(Channel::Email, r);
        }
    }
    for (name, filter) in &routing.webhooks {
        if filter.matches(event) {
            push(Channel::Webhook, name);
        }
    }
    if routing.desktop && kind != EventKind::Digest {
        push(Channel::Desktop, "session");
    }
    out
}

/// After a failed delivery attempt: when to try again, or give up and report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSendFailure {
    /// Try again at this Unix time.
    Retry { attempts: u32, at_unix: i64 },
    /// Keep the row as `failed`, report it (digest, `outbox --failed`, an admin event).
    Failed { attempts: u32 },
}

/// Delays between attempts of one delivery: 1, 5, 15 min, then 1, 2, 4, 8 h. After the
/// eighth failure (about 15 h of trying) the row is failed: the mail server has been down
/// for a working day and a person must know.
pub const RETRY_DELAYS_SECS: [i64; 7] = [60, 300, 900, 3600, 7200, 14_400, 28_800];

/// `attempts` is how many failed before this one; `jitter` in [0, 1) spreads the retries of
/// many rows (±10 %); `permanent` failures (a recipient refused, a webhook's 4xx) fail at once.
pub fn after_send_failure(attempts: u32, now_unix: i64, jitter: f64, permanent: bool) -> AfterSendFailure {
    let attempts = attempts.saturating_add(1);
    let delay = usize::try_from(attempts - 1)
        .ok()
        .and_then(|i| RETRY_DELAYS_SECS.get(i));
    match delay {
        Some(&d) if !permanent => {
            let spread = (d as f64 * 0.2 * (jitter.clamp(0.0, 1.0) - 0.5)).round() as i64;
            AfterSendFailure::Retry {
                attempts,
                at_unix: now_unix + d + spread,
            }
        }
        _ => AfterSendFailure::Failed { attempts },
    }
}

/// A pending delivery as the drain plans it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub kind: EventKind,
    /// The job run that wrote the event (`None`: written outside a job).
    pub run_id: Option<i64>,
}

/// What one send of the drain carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// One message for one delivery.
    One(i64),
    /// One summary message standing for these deliveries (more alerts to one recipient in
    /// one run than `max_alerts_per_cycle`).
    Summary { recipient: String, ids: Vec<i64> },
}

/// Plans a drain: each email recipient that would get more than `max_alerts` people alerts
/// (communications, changes) from one run gets one summary instead. Everything else is sent
/// one by one, in id order.
pub fn plan(pending: &[Pending], max_alerts: usize) -> Vec<Send> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(&str, Option<i64>), Vec<i64>> = BTreeMap::new();
    for p in pending {
        if p.channel == Channel::Email && matches!(p.kind, EventKind::Communication | EventKind::Change) {
            groups
                .entry((p.recipient.as_str(), p.run_id))
                .or_default()
                .push(p.id);
        }
    }
    let summarised: std::collections::HashSet<i64> = groups
        .values()
        .filter(|ids| ids.len() > max_alerts)
        .flatten()
        .copied()
        .collect();
    let mut out = Vec::new();
    let mut seen_groups = std::collections::HashSet::new();
    for p in pending {
        if !summarised.contains(&p.id) {
            out.push(Send::One(p.id));
        } else if seen_groups.insert((p.recipient.as_str(), p.run_id)) {
            let ids = groups[&(p.recipient.as_str(), p.run_id)].clone();
            out.push(Send::Summary {
                recipient: p.recipient.clone(),
                ids,
            });
        }
    }
    out
}

/// The domain of an address like `mailroom <mailroom@firm.example>` (`localhost` if none).
pub fn domain_of(from: &str) -> String {
    let addr = from
        .rsplit_once('<')
        .map_or(from, |(_, a)| a.trim_end_matches('>'));
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The `Message-ID` of a delivery's message: a function of the row alone, so a copy sent
/// again after a crash carries the same id and a mail client shows one message.
pub fn message_id(delivery_id: i64, dedupe_key: &str, domain: &str) -> String {
    format!("<mailroom.{delivery_id}.{:016x}@{domain}>", fnv1a(dedupe_key))
}

/// The thread every message about one case refers to (`References`/`In-Reply-To`), so a
/// mail client groups them.
pub fn thread_id(office: &str, number: &str, domain: &str) -> String {
    format!(
        "<case.{}.{:016x}@{domain}>",
        office.to_ascii_lowercase(),
        fnv1a(&normalise_case(number))
    )
}

/// FNV-1a, 64 bit: a stable, dependency-free hash for ids (not for security).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comm(app: &str, code: &str, reference: Option<&str>) -> Event {
        Event::Communication(Communication {
            id: "c1".into(),
            office: Office::Ep,
            application_number: app.into(),
            case: None,
            client_reference: reference.map(Into::into),
            document_code: code.into(),
            title: "Communication under Rule 71(3) EPC".into(),
            dispatch_date: "2026-03-14".into(),
            delivered_at: None,
            archived_at: "2026-03-14T08:00:00Z".into(),
            documents: Vec::new(),
            deadline: None,
        })
    }

    fn change(office: Office, case: &str, number: &str, reference: Option<&str>) -> Event {
        Event::Change(CaseChanged {
            office,
            case: case.into(),
            number: number.into(),
            right: "patent".into(),
            client_reference: reference.map(Into::into),
            status: None,
            detected_at: "2026-03-15T02:00:00Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: vec![ChangeLine {
                kind: "status".into(),
                date: "2026-03-14".into(),
                summary: format!("{case}: status changed"),
                old: None,
                new: None,
            }],
        })
    }

    fn quarantine() -> Event {
        Event::Quarantine(Quarantined {
            id: "q1".into(),
            application_number: "EP23184567.2".into(),
            client_reference: Some("ACME-P-1".into()),
            document_code: "2004".into(),
            title: "t".into(),
            dispatch_date: "2026-03-14".into(),
            attempts: 5,
            reason: "wrong type".into(),
            quarantined_at: "2026-03-14T08:00:00Z".into(),
        })
    }

    fn failed(channel: Channel, recipient: &str) -> Event {
        Event::DeliveryFailed(DeliveryFailed {
            delivery_id: 7,
            channel,
            recipient: recipient.into(),
            about: "x".into(),
            attempts: 8,
            error: "refused".into(),
            failed_at: "2026-03-14T08:00:00Z".into(),
        })
    }

    fn rule(filter: Filter, to: &[&str]) -> EmailRule {
        EmailRule {
            filter,
            to: to.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn routing() -> Routing {
        Routing {
            email: Some(EmailRoutes {
                rules: vec![
                    rule(
                        Filter {
                            client_reference: Some("ACME-*".into()),
                            ..Filter::default()
                        },
                        &["acme@f"],
                    ),
                    rule(
                        Filter {
                            office: Some(Office::Jp),
                            ..Filter::default()
                        },
                        &["jp@f"],
                    ),
                    rule(
                        Filter {
                            document_codes: vec!["2004".into()],
                            ..Filter::default()
                        },
                        &["grant@f", "boss@f"],
                    ),
                    rule(
                        Filter {
                            cases: vec!["EP 24 000 001.5".into()],
                            ..Filter::default()
                        },
                        &["case@f"],
                    ),
                ],
                to: vec!["all@f".into()],
                admin_to: vec!["it@f".into()],
                digest_to: vec!["digest@f".into()],
            }),
            webhooks: vec![
                ("teams".into(), Filter::default()),
                (
                    "pager".into(),
                    Filter {
                        kinds: vec![EventKind::Quarantine, EventKind::OfficeStop],
                        ..Filter::default()
                    },
                ),
            ],
            desktop: false,
        }
    }

    fn emails(event: &Event, routing: &Routing) -> Vec<String> {
        route(event, routing)
            .into_iter()
            .map(|d| format!("{}:{}", d.channel.as_str(), d.recipient))
            .collect()
    }

    #[test]
    fn routing_first_match_wins_and_default_otherwise() {
        let r = routing();
        let table: &[(Event, &[&str])] = &[
            // A client reference glob wins over a later document-code rule.
            (
                comm("EP23184567.2", "2004", Some("acme-p-0042-ep")),
                &["email:acme@f", "webhook:teams"],
            ),
            (
                comm("EP23184567.2", "2004", Some("OTHER-1")),
                &["email:grant@f", "email:boss@f", "webhook:teams"],
            ),
            (
                comm("EP23184567.2", "2001", None),
                &["email:all@f", "webhook:teams"],
            ),
            (
                comm("EP24000001.5", "2001", None),
                &["email:case@f", "webhook:teams"],
            ),
            (
                change(Office::Jp, "JP 2020-123456", "2020123456", None),
                &["email:jp@f", "webhook:teams"],
            ),
            (
                change(Office::Ep, "EP24000001", "EP24000001", Some("X")),
                &["email:case@f", "webhook:teams"],
            ),
            (quarantine(), &["email:it@f", "webhook:pager"]),
            // A failure report never goes back where it failed.
            (failed(Channel::Email, "it@f"), &[]),
            (failed(Channel::Webhook, "teams"), &["email:it@f"]),
        ];
        for (event, want) in table {
            assert_eq!(emails(event, &r), *want, "{event:?}");
        }
    }

    #[test]
    fn admin_events_fall_back_to_the_default_route_and_desktop_gets_everything() {
        let mut r = routing();
        let email = r.email.as_mut().unwrap();
        email.admin_to.clear();
        r.desktop = true;
        assert_eq!(
            emails(&quarantine(), &r),
            ["email:all@f", "webhook:pager", "desktop:session"]
        );
        assert_eq!(
            emails(&comm("EP1", "2001", None), &r),
            ["email:all@f", "webhook:teams", "desktop:session"]
        );
        let none = Routing::default();
        assert!(route(&comm("EP1", "2001", None), &none).is_empty());
    }

    #[test]
    fn globs() {
        let table = [
            ("ACME-*", "ACME-P-0042", true),
            ("acme-*", "ACME-P-0042", true),
            ("ACME-*", "XACME-P", false),
            ("*-EP", "ACME-P-0042-EP", true),
            ("A?ME*", "ACME", true),
            ("A?ME*", "AME", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("**", "ü", true),
        ];
        for (g, t, want) in table {
            assert_eq!(glob(g, t), want, "{g} ~ {t}");
        }
    }

    #[test]
    fn case_numbers_compare_as_people_write_them() {
        let table = [
            ("EP 23 184 567.2", "EP23184567"),
            ("ep23184567", "EP23184567"),
            ("PCT/EP2024/071234", "PCTEP2024071234"),
            ("JP 2020-123456", "JP2020123456"),
        ];
        for (a, b) in table {
            assert_eq!(normalise_case(a), b);
        }
    }

    #[test]
    fn retries_back_off_then_fail() {
        let table = [
            (
                0,
                0.5,
                false,
                AfterSendFailure::Retry {
                    attempts: 1,
                    at_unix: 1060,
                },
            ),
            (
                1,
                0.5,
                false,
                AfterSendFailure::Retry {
                    attempts: 2,
                    at_unix: 1300,
                },
            ),
            (
                1,
                0.0,
                false,
                AfterSendFailure::Retry {
                    attempts: 2,
                    at_unix: 1270,
                },
            ),
            (
                1,
                1.0,
                false,
                AfterSendFailure::Retry {
                    attempts: 2,
                    at_unix: 1330,
                },
            ),
            (
                6,
                0.5,
                false,
                AfterSendFailure::Retry {
                    attempts: 7,
                    at_unix: 1000 + 28_800,
                },
            ),
            (7, 0.5, false, AfterSendFailure::Failed { attempts: 8 }),
            (0, 0.5, true, AfterSendFailure::Failed { attempts: 1 }),
            (
                u32::MAX,
                0.5,
                false,
                AfterSendFailure::Failed { attempts: u32::MAX },
            ),
        ];
        for (attempts, jitter, permanent, want) in table {
            assert_eq!(
                after_send_failure(attempts, 1000, jitter, permanent),
                want,
                "{attempts}"
            );
        }
    }

    fn p(id: i64, channel: Channel, to: &str, kind: EventKind, run: Option<i64>) -> Pending {
        Pending {
            id,
            channel,
            recipient: to.into(),
            kind,
            run_id: run,
        }
    }

    #[test]
    fn a_flood_to_one_recipient_becomes_one_summary() {
        use Channel::*;
        use EventKind::*;
        let pending = vec![
            p(1, Email, "a", Communication, Some(1)),
            p(2, Email, "b", Communication, Some(1)),
            p(3, Email, "a", Change, Some(1)),
            p(4, Webhook, "teams", Communication, Some(1)),
            p(5, Email, "a", Communication, Some(1)),
            p(6, Email, "a", Quarantine, Some(1)),
            p(7, Email, "a", Communication, Some(2)),
        ];
        assert_eq!(
            plan(&pending, 2),
            vec![
                Send::Summary {
                    recipient: "a".into(),
                    ids: vec![1, 3, 5]
                },
                Send::One(2),
                Send::One(4),
                Send::One(6),
                Send::One(7),
            ]
        );
        assert_eq!(plan(&pending, 3).len(), pending.len());
        assert!(plan(&[], 1).is_empty());
    }

    #[test]
    fn message_ids_are_stable_per_row_and_threads_per_case() {
        let d = domain_of("mailroom <mailroom@Firm.Example>");
        assert_eq!(d, "firm.example");
        assert_eq!(domain_of("nobody"), "localhost");
        assert_eq!(domain_of("a@b"), "b");
        let a = message_id(5, "communication:x", &d);
        assert_eq!(a, message_id(5, "communication:x", &d));
        assert_ne!(a, message_id(6, "communication:x", &d));
        assert!(a.starts_with("<mailroom.5.") && a.ends_with("@firm.example>"));
        assert_eq!(
            thread_id("EP", "EP 23 184 567.2", &d),
            thread_id("EP", "EP23184567", &d)
        );
        assert_ne!(
            thread_id("EP", "EP23184567", &d),
            thread_id("EP", "EP23184568", &d)
        );
    }

    #[test]
    fn every_event_has_its_own_dedupe_key_and_round_trips_as_json() {
        let events = [
            comm("EP1", "2001", None),
            change(Office::Ep, "EP1", "EP1", None),
            quarantine(),
            failed(Channel::Email, "a"),
        ];
        let keys: std::collections::HashSet<String> = events.iter().map(Event::dedupe_key).collect();
        assert_eq!(keys.len(), events.len());
        for e in &events {
            let json = serde_json::to_value(e).unwrap();
            assert_eq!(json["type"], e.kind().as_str());
            assert_eq!(&serde_json::from_value::<Event>(json).unwrap(), e);
            assert_eq!(EventKind::parse(e.kind().as_str()), Some(e.kind()));
        }
    }
}
