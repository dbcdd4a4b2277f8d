//! A case's status as mailroom understands it, whatever office it comes from; its
//! fingerprint; and the diff of two statuses as change events with one-line summaries.
//!
//! The office parsers (`offices::ops::parse`, `offices::jpo::parse`) produce these types; this
//! module never sees XML or JSON from an office. Dates are ISO `YYYY-MM-DD` text when the
//! office gave an 8-digit date, otherwise the office's text trimmed, and `""` when absent.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The normalised status of one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "office")]
pub enum CaseStatus {
    #[serde(rename = "EP")]
    Ep(EpStatus),
    #[serde(rename = "JP")]
    Jp(JpStatus),
}

/// EP Register data of one case (`biblio,events,procedural-steps`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpStatus {
    /// Epodoc application number, e.g. `EP10167109` (from the biblio; `""` if absent).
    pub application_number: String,
    /// `reg:register-document/@status`, e.g. `No opposition filed within time limit`.
    pub register_status: String,
    /// `reg:ep-patent-status` entries as served (newest first).
    pub statuses: Vec<EpStatusEntry>,
    pub events: Vec<DossierEvent>,
    pub steps: Vec<ProceduralStep>,
    /// EP publications: `EP2400812 A1 2011-12-28`, `EP2400812 B1 2019-11-27`, WO references.
    pub publications: Vec<Publication>,
    /// Terminal dates from the biblio (`date-application-deemed-withdrawn`, …) as (name, date).
    pub terminal_dates: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EpStatusEntry {
    /// Opaque code (`7`, `13.1`).
    pub code: String,
    pub text: String,
    /// `""` when the office left `change-date` empty (old files).
    pub date: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DossierEvent {
    /// `EVT_434577438`
    pub id: String,
    /// Verbatim, spaces kept (`EPIDOS RFEE`).
    pub code: String,
    pub date: String,
    pub text: String,
    /// `new`, `change` or `deletion` (`""` if absent).
    pub event_type: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProceduralStep {
    /// `STEP_EXRE_13225478`, `RENEWAL_52865823`
    pub id: String,
    /// `RFEE`, `EXRE`, `IGRA`, …
    pub code: String,
    /// `@procedure-step-phase` (`examination`, `undefined`, …)
    pub phase: String,
    /// `STEP_DESCRIPTION` text, or the first text when there is none.
    pub description: String,
    /// (`step-date-type`, date), e.g. (`DATE_OF_DISPATCH`, `2019-06-26`), in document order.
    pub dates: Vec<(String, String)>,
    /// A time limit the office gave: value and unit as served (`4`, `months`).
    pub time_limit: Option<TimeLimit>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeLimit {
    pub value: String,
    pub unit: String,
    /// The due date when it can be computed (dispatch date + value in unit), else `""`.
    pub due: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Publication {
    /// `EP`, `WO`
    pub country: String,
    pub number: String,
    /// `A1`, `B1`, … (`""` if absent)
    pub kind: String,
    pub date: String,
}

/// JPO `app_progress` data of one patent, design or trademark case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JpStatus {
    /// 10 digits, e.g. `2020123456`.
    pub application_number: String,
    /// `patent`, `design` or `trademark`.
    pub kind: String,
    /// Invention title, design article or trademark for display.
    pub title: String,
    pub filing_date: String,
    /// Gregorian publication number (`ADPublicationNumber`), `""` if none.
    pub publication_number: String,
    pub publication_date: String,
    pub registration_number: String,
    pub registration_date: String,
    /// `00` = right alive; `""` = not registered.
    pub erasure_identifier: String,
    pub expire_date: String,
    pub disappearance_date: String,
    /// Applicant names (class 1), in served order.
    pub applicants: Vec<String>,
    pub documents: Vec<JpDocument>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JpDocument {
    /// `numberType` of the block (`01` application, `06` registration, …).
    pub number_type: String,
    /// `number` of the block.
    pub number: String,
    pub legal_date: String,
    /// `A131`, `A01`, `A971007`, …
    pub code: String,
    /// Japanese description, e.g. `拒絶理由通知書`.
    pub description: String,
    /// `None` for placeholders (`BBBBBBBBBBB`, `99999999999`, empty): never a key.
    pub document_number: Option<String>,
    pub separator: String,
    pub version: String,
}

/// The `event-type` of a dossier event the office withdrew.
const DELETION: &str = "deletion";

/// Lowercase hex SHA-256 of a canonical form of the status: equal fingerprints mean nothing
/// worth a diff changed.
///
/// Decisions: every list is a set (sorted, duplicates dropped; a step's dates too), so the
/// order the office served never changes the fingerprint. The encoding is our own, not serde's:
/// each string is length-prefixed (no two statuses share an encoding) and it stays stable
/// across runs and crate versions. The structs are destructured field by field, so a new field
/// does not compile until it is part of the fingerprint.
pub fn fingerprint(s: &CaseStatus) -> String {
    let mut c = Canonical(Sha256::new());
    match s {
        CaseStatus::Ep(ep) => {
            c.text("EP");
            c.ep(ep);
        }
        CaseStatus::Jp(jp) => {
            c.text("JP");
            c.jp(jp);
        }
    }
    hex(&c.0.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]])
        .map(char::from)
        .collect()
}

/// Feeds the canonical form of a status into a hash.
struct Canonical(Sha256);

impl Canonical {
    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    fn text(&mut self, s: &str) {
        self.count(s.len());
        self.0.update(s.as_bytes());
    }

    fn set<T: Ord>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        let set: BTreeSet<&T> = items.iter().collect();
        self.count(set.len());
        for item in set {
            each(self, item);
        }
    }

    fn pairs(&mut self, items: &[(String, String)]) {
        self.set(items, |c, (a, b)| {
            c.text(a);
            c.text(b);
        });
    }

    fn ep(&mut self, s: &EpStatus) {
        let EpStatus {
            application_number,
            register_status,
            statuses,
            events,
            steps,
            publications,
            terminal_dates,
        } = s;
        self.text(application_number);
        self.text(register_status);
        self.set(statuses, |c, EpStatusEntry { code, text, date }| {
            c.text(code);
            c.text(text);
            c.text(date);
        });
        self.set(
            events,
            |c,
             DossierEvent {
                 id,
                 code,
                 date,
                 text,
                 event_type,
             }| {
                for field in [id, code, date, text, event_type] {
                    c.text(field);
                }
            },
        );
        let steps: Vec<ProceduralStep> = steps
            .iter()
            .map(|step| {
                let mut step = step.clone();
                step.dates.sort();
                step.dates.dedup();
                step
            })
            .collect();
        self.set(&steps, |c, step| {
            let ProceduralStep {
                id,
                code,
                phase,
                description,
                dates,
                time_limit,
            } = step;
            for field in [id, code, phase, description] {
                c.text(field);
            }
            c.pairs(dates);
            match time_limit {
                None => c.count(0),
                Some(TimeLimit { value, unit, due }) => {
                    c.count(1);
                    for field in [value, unit, due] {
                        c.text(field);
                    }
                }
            }
        });
        self.set(
            publications,
            |c,
             Publication {
                 country,
                 number,
                 kind,
                 date,
             }| {
                for field in [country, number, kind, date] {
                    c.text(field);
                }
            },
        );
        self.pairs(terminal_dates);
    }

    fn jp(&mut self, s: &JpStatus) {
        let JpStatus {
            application_number,
            kind,
            title,
            filing_date,
            publication_number,
            publication_date,
            registration_number,
            registration_date,
            erasure_identifier,
            expire_date,
            disappearance_date,
            applicants,
            documents,
        } = s;
        for field in [
            application_number,
            kind,
            title,
            filing_date,
            publication_number,
            publication_date,
            registration_number,
            registration_date,
            erasure_identifier,
            expire_date,
            disappearance_date,
        ] {
            self.text(field);
        }
        self.set(applicants, |c, name| c.text(name));
        self.set(documents, |c, document| {
            let JpDocument {
                number_type,
                number,
                legal_date,
                code,
                description,
                document_number,
                separator,
                version,
            } = document;
            for field in [number_type, number, legal_date, code, description] {
                c.text(field);
            }
            match document_number {
                None => c.count(0),
                Some(n) => {
                    c.count(1);
                    c.text(n);
                }
            }
            c.text(separator);
            c.text(version);
        });
    }
}

/// Where a case stands now, in one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// EP: the status code (`8`); JP: `erased`, `registered` or the latest document's code.
    pub code: String,
    pub text: String,
    pub date: String,
}

/// The current status of a case.
///
/// EP: the status entry with the greatest date (on a tie, or among empty dates, the first as
/// served); without entries, code `""` and the register's status text. JP: an erased right
/// (`erasure_identifier` set and not `00`), else a registration, else the latest document by
/// legal date (the first as served on a tie), else all `""`.
pub fn current(s: &CaseStatus) -> Current {
    match s {
        CaseStatus::Ep(ep) => ep_current(ep),
        CaseStatus::Jp(jp) => jp_current(jp),
    }
}

fn ep_current(ep: &EpStatus) -> Current {
    let latest = ep
        .statuses
        .iter()
        .fold(None, |best: Option<&EpStatusEntry>, entry| match best {
            Some(best) if entry.date <= best.date => Some(best),
            _ => Some(entry),
        });
    match latest {
        Some(entry) => Current {
            code: entry.code.clone(),
            text: entry.text.clone(),
            date: entry.date.clone(),
        },
        None => Current {
            code: String::new(),
            text: ep.register_status.clone(),
            date: String::new(),
        },
    }
}

fn is_erased(jp: &JpStatus) -> bool {
    !jp.erasure_identifier.is_empty() && jp.erasure_identifier != "00"
}

fn jp_current(jp: &JpStatus) -> Current {
    if is_erased(jp) {
        return Current {
            code: "erased".to_owned(),
            text: "Right erased".to_owned(),
            date: jp.disappearance_date.clone(),
        };
    }
    if !jp.registration_number.is_empty() {
        return Current {
            code: "registered".to_owned(),
            text: format!("Registered as {}", jp.registration_number),
            date: jp.registration_date.clone(),
        };
    }
    let latest = jp
        .documents
        .iter()
        .fold(None, |best: Option<&JpDocument>, doc| match best {
            Some(best) if doc.legal_date <= best.legal_date => Some(best),
            _ => Some(doc),
        });
    match latest {
        Some(doc) => Current {
            code: doc.code.clone(),
            text: doc.description.clone(),
            date: doc.legal_date.clone(),
        },
        None => Current {
            code: String::new(),
            text: String::new(),
            date: String::new(),
        },
    }
}

/// What kind of thing happened at the office.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Status,
    Event,
    EventRemoved,
    Step,
    StepUpdated,
    Publication,
    Document,
    Registration,
    Erasure,
    Field,
}

impl ChangeKind {
    /// Every kind, in the order [`diff`] sorts changes of one date.
    pub const ALL: [ChangeKind; 10] = [
        ChangeKind::Status,
        ChangeKind::Event,
        ChangeKind::EventRemoved,
        ChangeKind::Step,
        ChangeKind::StepUpdated,
        ChangeKind::Publication,
        ChangeKind::Document,
        ChangeKind::Registration,
        ChangeKind::Erasure,
        ChangeKind::Field,
    ];

    /// The serde name (`event_removed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Status => "status",
            ChangeKind::Event => "event",
            ChangeKind::EventRemoved => "event_removed",
            ChangeKind::Step => "step",
            ChangeKind::StepUpdated => "step_updated",
            ChangeKind::Publication => "publication",
            ChangeKind::Document => "document",
            ChangeKind::Registration => "registration",
            ChangeKind::Erasure => "erasure",
            ChangeKind::Field => "field",
        }
    }
}

/// One thing that happened at the office.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// The office's date of what happened (ISO), `""` if the office gave none.
    pub date: String,
    /// One line for people, starting with the case label.
    pub summary: String,
    /// What was there before, `None` if nothing was.
    pub old: Option<String>,
    /// What is there now (with anything folded into this change), `None` if nothing is.
    pub new: Option<String>,
}

/// The changes from `old` to `new`, ordered by date (undated first), then kind, then summary.
/// `label` starts every summary (`CaseKey::label`).
///
/// Lists are compared as sets, so a reordering alone gives no change. **One change = one
/// thing that happened at the office**, so related rows are folded into one change:
///
/// - EP: each new status entry (keyed by code, date and text, or by code and text when either
///   side's date is empty) is a `Status` change that absorbs the new dossier events and new
///   publications of the same day; its `old` is the previous current status text. Without a
///   new entry, a changed register status is a `Status` change without a date. Other new
///   events (by id) are `Event`s; an event that disappears or turns `deletion` is
///   `EventRemoved` (an event first seen as a deletion, or whose text merely changed, is
///   not reported). New steps (by id) are `Step`s; a known step whose set of dates or time
///   limit changed is `StepUpdated`. Other new publications (country, number, kind) are
///   `Publication`s. Terminal dates, per name, and the application number are `Field`s.
///   Status entries, steps and publications that disappear are office corrections, not
///   events, and are not reported.
/// - JP: new document rows (keyed on number type, number, code, document number or its
///   absence, separator, version and legal date) are one `Document` change per legal date,
///   listing the distinct descriptions in served order. A new placeholder row (no document
///   number) whose code and legal date are already known is the same act echoed under
///   another number (the registration block repeats `A01` with `99999999999`) and is not
///   new. A registration number appearing is one `Registration` that absorbs the new
///   documents of the registration date, the registration date, the erasure identifier
///   becoming `00` and the first expiry date. An erasure identifier becoming set and not
///   `00` is one `Erasure` that absorbs the disappearance date. Every other changed scalar is
///   one `Field` named as in [`JpStatus`]; a publication or registration date changing with its
///   number is part of the number's change.
/// - Statuses of different offices give one `Field` change `office`.
pub fn diff(label: &str, old: &CaseStatus, new: &CaseStatus) -> Vec<Change> {
    let mut out = Changes {
        label,
        list: Vec::new(),
    };
    match (old, new) {
        (CaseStatus::Ep(old), CaseStatus::Ep(new)) => diff_ep(&mut out, old, new),
        (CaseStatus::Jp(old), CaseStatus::Jp(new)) => diff_jp(&mut out, old, new),
        _ => out.field("office", office_of(old), office_of(new), ""),
    }
    let mut list = out.list;
    list.sort_by(|a, b| {
        (a.date.as_str(), a.kind as u8, a.summary.as_str()).cmp(&(b.date.as_str(), b.kind as u8, &b.summary))
    });
    list
}

fn office_of(s: &CaseStatus) -> &'static str {
    match s {
        CaseStatus::Ep(_) => "EP",
        CaseStatus::Jp(_) => "JP",
    }
}

struct Changes<'a> {
    label: &'a str,
    list: Vec<Change>,
}

impl Changes<'_> {
    fn push(&mut self, kind: ChangeKind, date: &str, what: String, old: Option<String>, new: Option<String>) {
        self.list.push(Change {
            kind,
            date: date.to_owned(),
            summary: format!("{}: {what}", self.label),
            old,
            new,
        });
    }

    fn field(&mut self, name: &str, old: &str, new: &str, date: &str) {
        self.push(
            ChangeKind::Field,
            date,
            format!("{name} \"{old}\" → \"{new}\""),
            non_empty(old),
            non_empty(new),
        );
    }

    /// A `Field` change when the values differ.
    fn scalar(&mut self, name: &str, old: &str, new: &str, date: &str) {
        if old != new {
            self.field(name, old, new, date);
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// ` (2019-10-25)`, or nothing without a date.
fn in_parens(date: &str) -> String {
    if date.is_empty() {
        String::new()
    } else {
        format!(" ({date})")
    }
}

/// One item per key; of duplicates, the greatest, so the served order never matters.
fn by_key<'a, T: Ord, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> BTreeMap<K, &'a T> {
    let mut map: BTreeMap<K, &'a T> = BTreeMap::new();
    for item in items {
        let slot = map.entry(key(item)).or_insert(item);
        if item > *slot {
            *slot = item;
        }
    }
    map
}

/// Removes and returns the items that match.
fn take<'a, T>(items: &mut Vec<&'a T>, matches: impl Fn(&T) -> bool) -> Vec<&'a T> {
    let (taken, kept) = items.drain(..).partition(|item| matches(item));
    *items = kept;
    taken
}

fn same_status(a: &EpStatusEntry, b: &EpStatusEntry) -> bool {
    a.code == b.code && a.text == b.text && (a.date == b.date || a.date.is_empty() || b.date.is_empty())
}

fn event_detail(e: &DossierEvent) -> String {
    format!("{}: {}", e.code, e.text)
}

fn publication_name(p: &Publication) -> String {
    let name = format!("{}{} {}", p.country, p.number, p.kind);
    name.trim_end().to_owned()
}

fn step_name(s: &ProceduralStep) -> &str {
    if s.description.is_empty() {
        &s.code
    } else {
        &s.description
    }
}

fn step_due(s: &ProceduralStep) -> String {
    match &s.time_limit {
        Some(limit) if !limit.due.is_empty() => format!(" (due {})", limit.due),
        _ => String::new(),
    }
}

fn step_dates(s: &ProceduralStep) -> BTreeSet<(&str, &str)> {
    s.dates
        .iter()
        .map(|(kind, date)| (kind.as_str(), date.as_str()))
        .collect()
}

/// `EXRE: Examination report; DATE_OF_DISPATCH 2019-06-26; time limit 4 months (due …)`,
/// dates in chronological order.
fn step_detail(s: &ProceduralStep) -> String {
    let mut dates: Vec<(&str, &str)> = step_dates(s).into_iter().collect();
    dates.sort_by_key(|(kind, date)| (*date, *kind));
    let mut detail = format!("{}: {}", s.code, s.description);
    for (kind, date) in dates {
        detail.push_str(&format!("; {kind} {date}"));
    }
    if let Some(limit) = &s.time_limit {
        detail.push_str(&format!(
            "; time limit {} {}{}",
            limit.value,
            limit.unit,
            step_due(s)
        ));
    }
    detail
}

fn diff_ep(out: &mut Changes, old: &EpStatus, new: &EpStatus) {
    let old_events = by_key(&old.events, |e| e.id.as_str());
    let new_events = by_key(&new.events, |e| e.id.as_str());
    let mut fresh_events: Vec<&DossierEvent> = new_events
        .iter()
        .filter(|(id, e)| e.event_type != DELETION && !old_events.contains_key(*id))
        .map(|(_, e)| *e)
        .collect();
    let publication_key = |p: &'_ Publication| (p.country.clone(), p.number.clone(), p.kind.clone());
    let old_publications = by_key(&old.publications, publication_key);
    let mut fresh_publications: Vec<&Publication> = by_key(&new.publications, publication_key)
        .into_iter()
        .filter(|(key, _)| !old_publications.contains_key(key))
        .map(|(_, p)| p)
        .collect();

    let mut fresh_statuses: Vec<&EpStatusEntry> = new
        .statuses
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|entry| !old.statuses.iter().any(|o| same_status(o, entry)))
        .collect();
    fresh_statuses.sort_by_key(|entry| (&entry.date, &entry.code, &entry.text));
    let mut previous = ep_current(old).text;
    for entry in &fresh_statuses {
        let (events, publications) = if entry.date.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (
                take(&mut fresh_events, |e| e.date == entry.date),
                take(&mut fresh_publications, |p| p.date == entry.date),
            )
        };
        let mut detail = entry.text.clone();
        for e in events {
            detail.push_str(&format!("; event {}", event_detail(e)));
        }
        for p in publications {
            detail.push_str(&format!("; published {}", publication_name(p)));
        }
        let what = if previous.is_empty() {
            format!("status \"{}\"{}", entry.text, in_parens(&entry.date))
        } else {
            format!(
                "status \"{previous}\" → \"{}\"{}",
                entry.text,
                in_parens(&entry.date)
            )
        };
        out.push(
            ChangeKind::Status,
            &entry.date,
            what,
            non_empty(&previous),
            Some(detail),
        );
        previous.clone_from(&entry.text);
    }
    if fresh_statuses.is_empty() && old.register_status != new.register_status {
        let what = if old.register_status.is_empty() {
            format!("status \"{}\"", new.register_status)
        } else {
            format!("status \"{}\" → \"{}\"", old.register_status, new.register_status)
        };
        out.push(
            ChangeKind::Status,
            "",
            what,
            non_empty(&old.register_status),
            non_empty(&new.register_status),
        );
    }

    for e in fresh_events {
        out.push(
            ChangeKind::Event,
            &e.date,
            format!("new event \"{}\"{}", e.text, in_parens(&e.date)),
            None,
            Some(event_detail(e)),
        );
    }
    for (id, gone) in &old_events {
        if gone.event_type == DELETION {
            continue;
        }
        let date = match new_events.get(id) {
            None => "",
            Some(now) if now.event_type == DELETION => &now.date,
            Some(_) => continue,
        };
        out.push(
            ChangeKind::EventRemoved,
            date,
            format!("event removed \"{}\"{}", gone.text, in_parens(&gone.date)),
            Some(event_detail(gone)),
            None,
        );
    }

    let old_steps = by_key(&old.steps, |s| s.id.as_str());
    for (id, step) in by_key(&new.steps, |s| s.id.as_str()) {
        match old_steps.get(id) {
            None => {
                let date = step
                    .dates
                    .iter()
                    .map(|(_, date)| date.as_str())
                    .max()
                    .unwrap_or("");
                out.push(
                    ChangeKind::Step,
                    date,
                    format!("new procedural step \"{}\"{}", step_name(step), step_due(step)),
                    None,
                    Some(step_detail(step)),
                );
            }
            Some(before)
                if step_dates(before) != step_dates(step) || before.time_limit != step.time_limit =>
            {
                let known = step_dates(before);
                let date = step_dates(step)
                    .difference(&known)
                    .map(|(_, date)| *date)
                    .max()
                    .unwrap_or("");
                out.push(
                    ChangeKind::StepUpdated,
                    date,
                    format!(
                        "procedural step \"{}\" updated{}",
                        step_name(step),
                        step_due(step)
                    ),
                    Some(step_detail(before)),
                    Some(step_detail(step)),
                );
            }
            Some(_) => {}
        }
    }

    for p in fresh_publications {
        out.push(
            ChangeKind::Publication,
            &p.date,
            format!("published {}{}", publication_name(p), in_parens(&p.date)),
            None,
            Some(
                format!("{} {}", publication_name(p), p.date)
                    .trim_end()
                    .to_owned(),
            ),
        );
    }

    let group = |list: &'_ [(String, String)]| {
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, date) in list {
            names.entry(name.clone()).or_default().insert(date.clone());
        }
        names
    };
    let (old_terminal, new_terminal) = (group(&old.terminal_dates), group(&new.terminal_dates));
    let names: BTreeSet<&String> = old_terminal.keys().chain(new_terminal.keys()).collect();
    let none = BTreeSet::new();
    for name in names {
        let before = old_terminal.get(name).unwrap_or(&none);
        let after = new_terminal.get(name).unwrap_or(&none);
        if before != after {
            let date = after.difference(before).max().map_or("", String::as_str);
            let join = |dates: &BTreeSet<String>| dates.iter().cloned().collect::<Vec<_>>().join(", ");
            out.field(name, &join(before), &join(after), date);
        }
    }
    out.scalar(
        "application_number",
        &old.application_number,
        &new.application_number,
        "",
    );
}

type DocKey<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    &'a str,
);

fn doc_key(d: &JpDocument) -> DocKey<'_> {
    (
        &d.number_type,
        &d.number,
        &d.code,
        d.document_number.as_deref(),
        &d.separator,
        &d.version,
        &d.legal_date,
    )
}

/// The distinct `code description` of rows, in served order, joined by `; `.
fn documents_detail(rows: &[&JpDocument]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for row in rows {
        let item = format!("{} {}", row.code, row.description);
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.join("; ")
}

fn diff_jp(out: &mut Changes, old: &JpStatus, new: &JpStatus) {
    let old_rows: HashSet<DocKey> = old.documents.iter().map(doc_key).collect();
    let old_acts: HashSet<(&str, &str)> = old
        .documents
        .iter()
        .map(|d| (d.code.as_str(), d.legal_date.as_str()))
        .collect();
    let mut groups: BTreeMap<&str, Vec<&JpDocument>> = BTreeMap::new();
    for row in &new.documents {
        let echo = row.document_number.is_none() && old_acts.contains(&(&row.code, &row.legal_date));
        if !echo && !old_rows.contains(&doc_key(row)) {
            groups.entry(&row.legal_date).or_default().push(row);
        }
    }

    let registered = old.registration_number.is_empty() && !new.registration_number.is_empty();
    let first_expiry = registered && old.expire_date.is_empty() && !new.expire_date.is_empty();
    if registered {
        let absorbed = match new.registration_date.as_str() {
            "" => Vec::new(),
            date => groups.remove(date).unwrap_or_default(),
        };
        let mut detail = new.registration_number.clone();
        if !absorbed.is_empty() {
            detail.push_str(&format!("; documents: {}", documents_detail(&absorbed)));
        }
        if first_expiry {
            detail.push_str(&format!("; expires {}", new.expire_date));
        }
        out.push(
            ChangeKind::Registration,
            &new.registration_date,
            format!(
                "registered as {}{}",
                new.registration_number,
                in_parens(&new.registration_date)
            ),
            None,
            Some(detail),
        );
    }
    let erased = !is_erased(old) && is_erased(new);
    if erased {
        out.push(
            ChangeKind::Erasure,
            &new.disappearance_date,
            format!("right erased{}", in_parens(&new.disappearance_date)),
            non_empty(&old.erasure_identifier),
            Some(new.erasure_identifier.clone()),
        );
    }

    for (date, rows) in groups {
        let mut descriptions: Vec<&str> = Vec::new();
        for row in &rows {
            let description = if row.description.is_empty() {
                &row.code
            } else {
                &row.description
            };
            if !descriptions.contains(&description.as_str()) {
                descriptions.push(description);
            }
        }
        let quoted: Vec<String> = descriptions.iter().map(|d| format!("\"{d}\"")).collect();
        let noun = if quoted.len() == 1 {
            "document"
        } else {
            "documents"
        };
        let dated = if date.is_empty() {
            String::new()
        } else {
            format!(" dated {date}")
        };
        out.push(
            ChangeKind::Document,
            date,
            format!("new {noun} {}{dated}", quoted.join(", ")),
            None,
            Some(documents_detail(&rows)),
        );
    }

    out.scalar(
        "application_number",
        &old.application_number,
        &new.application_number,
        "",
    );
    out.scalar("kind", &old.kind, &new.kind, "");
    out.scalar("title", &old.title, &new.title, "");
    out.scalar("filing_date", &old.filing_date, &new.filing_date, "");
    if old.publication_number != new.publication_number {
        let date = &new.publication_date;
        out.field(
            "publication_number",
            &old.publication_number,
            &new.publication_number,
            date,
        );
    } else {
        let (before, after) = (&old.publication_date, &new.publication_date);
        out.scalar("publication_date", before, after, after);
    }
    if !registered {
        let date = &new.registration_date;
        if old.registration_number != new.registration_number {
            out.field(
                "registration_number",
                &old.registration_number,
                &new.registration_number,
                date,
            );
        } else {
            out.scalar("registration_date", &old.registration_date, date, date);
        }
    }
    let alive_on_registration = registered && new.erasure_identifier == "00";
    if !erased && !alive_on_registration {
        out.scalar(
            "erasure_identifier",
            &old.erasure_identifier,
            &new.erasure_identifier,
            "",
        );
    }
    if !first_expiry {
        out.scalar("expire_date", &old.expire_date, &new.expire_date, "");
    }
    if !erased {
        let (before, after) = (&old.disappearance_date, &new.disappearance_date);
        out.scalar("disappearance_date", before, after, after);
    }
    let (before, after): (BTreeSet<&String>, BTreeSet<&String>) =
        (old.applicants.iter().collect(), new.applicants.iter().collect());
    if before != after {
        out.field(
            "applicants",
            &old.applicants.join(", "),
            &new.applicants.join(", "),
            "",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: &str, text: &str, date: &str) -> EpStatusEntry {
        EpStatusEntry {
            code: code.into(),
            text: text.into(),
            date: date.into(),
        }
    }

    fn ev(id: &str, code: &str, date: &str, text: &str, event_type: &str) -> DossierEvent {
        DossierEvent {
            id: id.into(),
            code: code.into(),
            date: date.into(),
            text: text.into(),
            event_type: event_type.into(),
        }
    }

    fn step(
        id: &str,
        code: &str,
        description: &str,
        dates: &[(&str, &str)],
        limit: Option<(&str, &str, &str)>,
    ) -> ProceduralStep {
        ProceduralStep {
            id: id.into(),
            code: code.into(),
            phase: "examination".into(),
            description: description.into(),
            dates: dates.iter().map(|(k, d)| ((*k).into(), (*d).into())).collect(),
            time_limit: limit.map(|(value, unit, due)| TimeLimit {
                value: value.into(),
                unit: unit.into(),
                due: due.into(),
            }),
        }
    }

    fn publ(country: &str, number: &str, kind: &str, date: &str) -> Publication {
        Publication {
            country: country.into(),
            number: number.into(),
            kind: kind.into(),
            date: date.into(),
        }
    }

    fn ch(kind: ChangeKind, date: &str, summary: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            kind,
            date: date.into(),
            summary: summary.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        }
    }

    const INTENDED: &str = "Grant of patent is intended";
    const GRANTED: &str = "The patent has been granted";
    const EXAMINATION: &str = "Examination is in progress";

    fn ep_base() -> EpStatus {
        EpStatus {
            application_number: "EP10167109".into(),
            register_status: INTENDED.into(),
            statuses: vec![
                st("12", INTENDED, "2019-06-26"),
                st("14", EXAMINATION, "2017-02-03"),
            ],
            events: vec![
                ev(
                    "EVT_1",
                    "EPIDOS IGRA",
                    "2019-06-26",
                    "Communication of intention to grant",
                    "new",
                ),
                ev("EVT_2", "RFEE", "2017-02-03", "Renewal fee paid", ""),
            ],
            steps: vec![step(
                "STEP_IGRA_1",
                "IGRA",
                "Intention to grant",
                &[
                    ("DATE_OF_DISPATCH", "2019-06-26"),
                    ("DATE_OF_PAYMENT", "2019-07-01"),
                ],
                Some(("4", "months", "2019-10-26")),
            )],
            publications: vec![
                publ("EP", "2400812", "A1", "2011-12-28"),
                publ("WO", "2011000001", "", ""),
            ],
            terminal_dates: vec![("lapsed-in-country".into(), "2021-01-01".into())],
        }
    }

    fn ep(f: fn(&mut EpStatus)) -> CaseStatus {
        let mut s = ep_base();
        f(&mut s);
        CaseStatus::Ep(s)
    }

    fn doc(
        number_type: &str,
        legal_date: &str,
        code: &str,
        description: &str,
        document_number: Option<&str>,
        separator: &str,
    ) -> JpDocument {
        JpDocument {
            number_type: number_type.into(),
            number: if number_type == "06" {
                "7533889"
            } else {
                "2020123456"
            }
            .into(),
            legal_date: legal_date.into(),
            code: code.into(),
            description: description.into(),
            document_number: document_number.map(Into::into),
            separator: separator.into(),
            version: if document_number.is_some() { "0001" } else { "0000" }.into(),
        }
    }

    fn jp_base() -> JpStatus {
        JpStatus {
            application_number: "2020123456".into(),
            kind: "patent".into(),
            title: "立体配線構造体の製造方法".into(),
            filing_date: "2020-07-20".into(),
            applicants: vec!["メイショウ株式会社".into(), "渡辺　一豊".into()],
            documents: vec![
                doc("01", "2020-07-20", "A63", "要約書", Some("52001475960"), "Y"),
                doc("01", "2020-07-20", "A63", "特許願", Some("52001475960"), "S"),
                doc("01", "2024-07-09", "A01", "特許査定", Some("06124327784"), "K"),
                doc("01", "2024-07-24", "A61", "登録料納付", None, ""),
            ],
            ..JpStatus::default()
        }
    }

    fn jp(f: fn(&mut JpStatus)) -> CaseStatus {
        let mut s = jp_base();
        f(&mut s);
        CaseStatus::Jp(s)
    }

    fn registered(s: &mut JpStatus) {
        s.registration_number = "7533889".into();
        s.registration_date = "2024-08-05".into();
        s.erasure_identifier = "00".into();
        s.expire_date = "2040-07-20".into();
    }

    /// A diff table row: name, how the old and the new status differ from the base, changes.
    type Row<S> = (&'static str, fn(&mut S), fn(&mut S), Vec<Change>);

    #[test]
    fn diff_ep_table() {
        use ChangeKind::*;
        let l = "EP2400812";
        let same = |_: &mut EpStatus| {};
        let table: Vec<Row<EpStatus>> = vec![
            ("identical", same, same, vec![]),
            (
                "order only",
                same,
                |s| {
                    s.statuses.reverse();
                    s.events.reverse();
                    s.steps[0].dates.reverse();
                    s.publications.reverse();
                    s.terminal_dates
                        .push(("date-of-revocation".into(), "2022-01-01".into()));
                    s.terminal_dates.reverse();
                },
                vec![ch(
                    Field,
                    "2022-01-01",
                    "EP2400812: date-of-revocation \"\" → \"2022-01-01\"",
                    None,
                    Some("2022-01-01"),
                )],
            ),
            (
                "a new status absorbs the events and publications of its day",
                same,
                |s| {
                    s.statuses.insert(0, st("8", GRANTED, "2019-10-25"));
                    s.register_status = GRANTED.into();
                    s.events.push(ev(
                        "EVT_3",
                        "EPIDOS DDEC",
                        "2019-10-25",
                        "Decision to grant",
                        "new",
                    ));
                    s.events.push(ev(
                        "EVT_4",
                        "EPIDOS ABCD",
                        "2019-10-25",
                        "Another act that day",
                        "new",
                    ));
                    s.events.push(ev(
                        "EVT_5",
                        "EPIDOS PUBL",
                        "2019-10-30",
                        "Mention of grant",
                        "new",
                    ));
                    s.publications.push(publ("EP", "2400812", "B8", "2019-10-25"));
                    s.publications.push(publ("EP", "2400812", "B1", "2019-11-27"));
                },
                vec![
                    ch(
                        Status,
                        "2019-10-25",
                        "EP2400812: status \"Grant of patent is intended\" → \"The patent has been granted\" \
                         (2019-10-25)",
                        Some(INTENDED),
                        Some(
                            "The patent has been granted; event EPIDOS DDEC: Decision to grant; event EPIDOS \
                             ABCD: Another act that day; published EP2400812 B8",
                        ),
                    ),
                    ch(
                        Event,
                        "2019-10-30",
                        "EP2400812: new event \"Mention of grant\" (2019-10-30)",
                        None,
                        Some("EPIDOS PUBL: Mention of grant"),
                    ),
                    ch(
                        Publication,
                        "2019-11-27",
                        "EP2400812: published EP2400812 B1 (2019-11-27)",
                        None,
                        Some("EP2400812 B1 2019-11-27"),
                    ),
                ],
            ),
            (
                "several new statuses chain their previous texts",
                |s| {
                    s.statuses.remove(0);
                    s.register_status = EXAMINATION.into();
                },
                |s| s.statuses.insert(0, st("8", GRANTED, "2019-10-25")),
                vec![
                    ch(
                        Status,
                        "2019-06-26",
                        "EP2400812: status \"Examination is in progress\" → \"Grant of patent is intended\" \
                         (2019-06-26)",
                        Some(EXAMINATION),
                        Some(INTENDED),
                    ),
                    ch(
                        Status,
                        "2019-10-25",
                        "EP2400812: status \"Grant of patent is intended\" → \"The patent has been granted\" \
                         (2019-10-25)",
                        Some(INTENDED),
                        Some(GRANTED),
                    ),
                ],
            ),
            (
                "a first status has no previous text",
                |s| {
                    s.statuses.clear();
                    s.register_status.clear();
                },
                |s| s.statuses = vec![st("14", EXAMINATION, "2017-02-03")],
                vec![ch(
                    Status,
                    "2017-02-03",
                    "EP2400812: status \"Examination is in progress\" (2017-02-03)",
                    None,
                    Some(EXAMINATION),
                )],
            ),
            (
                "an old empty change-date keys on code and text",
                |s| s.statuses[0].date.clear(),
                same,
                vec![],
            ),
            (
                "a new empty change-date keys on code and text",
                same,
                |s| s.statuses[0].date.clear(),
                vec![],
            ),
            (
                "a new status without a date absorbs nothing",
                same,
                |s| {
                    s.statuses
                        .push(st("7", "No opposition filed within time limit", ""));
                    s.events
                        .push(ev("EVT_3", "EPIDOS NOOP", "", "No opposition filed", "new"));
                },
                vec![
                    ch(
                        Status,
                        "",
                        "EP2400812: status \"Grant of patent is intended\" → \"No opposition filed within time \
                         limit\"",
                        Some(INTENDED),
                        Some("No opposition filed within time limit"),
                    ),
                    ch(
                        Event,
                        "",
                        "EP2400812: new event \"No opposition filed\"",
                        None,
                        Some("EPIDOS NOOP: No opposition filed"),
                    ),
                ],
            ),
            (
                "a changed register status without a new entry",
                same,
                |s| s.register_status = GRANTED.into(),
                vec![ch(
                    Status,
                    "",
                    "EP2400812: status \"Grant of patent is intended\" → \"The patent has been granted\"",
                    Some(INTENDED),
                    Some(GRANTED),
                )],
            ),
            (
                "a register status without a previous one",
                |s| s.register_status.clear(),
                same,
                vec![ch(
                    Status,
                    "",
                    "EP2400812: status \"Grant of patent is intended\"",
                    None,
                    Some(INTENDED),
                )],
            ),
            (
                "a removed status entry is a correction, not an event",
                same,
                |s| {
                    s.statuses.remove(1);
                },
                vec![],
            ),
            (
                "an event that disappears",
                same,
                |s| {
                    s.events.remove(1);
                },
                vec![ch(
                    EventRemoved,
                    "",
                    "EP2400812: event removed \"Renewal fee paid\" (2017-02-03)",
                    Some("RFEE: Renewal fee paid"),
                    None,
                )],
            ),
            (
                "an event marked as a deletion",
                same,
                |s| {
                    s.events[1].event_type = "deletion".into();
                    s.events[1].date = "2017-03-01".into();
                },
                vec![ch(
                    EventRemoved,
                    "2017-03-01",
                    "EP2400812: event removed \"Renewal fee paid\" (2017-02-03)",
                    Some("RFEE: Renewal fee paid"),
                    None,
                )],
            ),
            (
                "an event first seen as a deletion",
                same,
                |s| s.events.push(ev("EVT_9", "X", "2020-01-01", "Gone", "deletion")),
                vec![],
            ),
            (
                "an event deleted before and gone now",
                |s| s.events[1].event_type = "deletion".into(),
                |s| {
                    s.events.remove(1);
                },
                vec![],
            ),
            (
                "an event whose text changed",
                same,
                |s| s.events[1].text = "Renewal fee paid (3rd year)".into(),
                vec![],
            ),
            (
                "new steps, with and without a due date",
                same,
                |s| {
                    s.steps.push(step(
                        "STEP_EXRE_2",
                        "EXRE",
                        "Examination report",
                        &[("DATE_OF_DISPATCH", "2020-01-10")],
                        Some(("4", "months", "2020-05-10")),
                    ));
                    s.steps.push(step(
                        "RENEWAL_3",
                        "RFEE",
                        "",
                        &[("DATE_OF_PAYMENT", "2020-02-03")],
                        None,
                    ));
                },
                vec![
                    ch(
                        Step,
                        "2020-01-10",
                        "EP2400812: new procedural step \"Examination report\" (due 2020-05-10)",
                        None,
                        Some(
                            "EXRE: Examination report; DATE_OF_DISPATCH 2020-01-10; time limit 4 months (due \
                             2020-05-10)",
                        ),
                    ),
                    ch(
                        Step,
                        "2020-02-03",
                        "EP2400812: new procedural step \"RFEE\"",
                        None,
                        Some("RFEE: ; DATE_OF_PAYMENT 2020-02-03"),
                    ),
                ],
            ),
            (
                "a known step with a new date",
                same,
                |s| {
                    s.steps[0]
                        .dates
                        .push(("DATE_OF_REPLY".into(), "2019-09-30".into()))
                },
                vec![ch(
                    StepUpdated,
                    "2019-09-30",
                    "EP2400812: procedural step \"Intention to grant\" updated (due 2019-10-26)",
                    Some(
                        "IGRA: Intention to grant; DATE_OF_DISPATCH 2019-06-26; DATE_OF_PAYMENT 2019-07-01; \
                         time limit 4 months (due 2019-10-26)",
                    ),
                    Some(
                        "IGRA: Intention to grant; DATE_OF_DISPATCH 2019-06-26; DATE_OF_PAYMENT 2019-07-01; \
                         DATE_OF_REPLY 2019-09-30; time limit 4 months (due 2019-10-26)",
                    ),
                )],
            ),
            (
                "a known step whose time limit changed",
                same,
                |s| s.steps[0].time_limit = None,
                vec![ch(
                    StepUpdated,
                    "",
                    "EP2400812: procedural step \"Intention to grant\" updated",
                    Some(
                        "IGRA: Intention to grant; DATE_OF_DISPATCH 2019-06-26; DATE_OF_PAYMENT 2019-07-01; \
                         time limit 4 months (due 2019-10-26)",
                    ),
                    Some("IGRA: Intention to grant; DATE_OF_DISPATCH 2019-06-26; DATE_OF_PAYMENT 2019-07-01"),
                )],
            ),
            (
                "a known step whose description or phase changed",
                same,
                |s| {
                    s.steps[0].description = "Communication under Rule 71(3)".into();
                    s.steps[0].phase = "undefined".into();
                },
                vec![],
            ),
            (
                "a removed step is not an event",
                same,
                |s| s.steps.clear(),
                vec![],
            ),
            (
                "a publication is keyed without its date",
                same,
                |s| s.publications[0].date = "2011-12-29".into(),
                vec![],
            ),
            (
                "a new publication without a kind or a date",
                same,
                |s| s.publications.push(publ("WO", "2014206532", "", "")),
                vec![ch(
                    Publication,
                    "",
                    "EP2400812: published WO2014206532",
                    None,
                    Some("WO2014206532"),
                )],
            ),
            (
                "terminal dates added, changed and removed",
                |s| {
                    s.terminal_dates
                        .push(("date-application-refused".into(), "2020-01-01".into()))
                },
                |s| {
                    s.terminal_dates = vec![
                        ("lapsed-in-country".into(), "2021-01-01".into()),
                        ("lapsed-in-country".into(), "2021-03-01".into()),
                        ("date-application-deemed-withdrawn".into(), "2020-01-15".into()),
                    ]
                },
                vec![
                    ch(
                        Field,
                        "",
                        "EP2400812: date-application-refused \"2020-01-01\" → \"\"",
                        Some("2020-01-01"),
                        None,
                    ),
                    ch(
                        Field,
                        "2020-01-15",
                        "EP2400812: date-application-deemed-withdrawn \"\" → \"2020-01-15\"",
                        None,
                        Some("2020-01-15"),
                    ),
                    ch(
                        Field,
                        "2021-03-01",
                        "EP2400812: lapsed-in-country \"2021-01-01\" → \"2021-01-01, 2021-03-01\"",
                        Some("2021-01-01"),
                        Some("2021-01-01, 2021-03-01"),
                    ),
                ],
            ),
            (
                "the application number",
                |s| s.application_number.clear(),
                same,
                vec![ch(
                    Field,
                    "",
                    "EP2400812: application_number \"\" → \"EP10167109\"",
                    None,
                    Some("EP10167109"),
                )],
            ),
        ];
        for (name, old, new, expected) in table {
            assert_eq!(diff(l, &ep(old), &ep(new)), expected, "{name}");
        }
    }

    #[test]
    fn diff_jp_table() {
        use ChangeKind::*;
        let l = "JP 2020-123456";
        let same = |_: &mut JpStatus| {};
        let table: Vec<Row<JpStatus>> = vec![
            ("identical", same, same, vec![]),
            (
                "order only",
                same,
                |s| {
                    s.documents.reverse();
                    s.applicants.reverse();
                },
                vec![],
            ),
            (
                "one new document",
                same,
                |s| {
                    s.documents.push(doc(
                        "01",
                        "2021-04-02",
                        "A131",
                        "拒絶理由通知書",
                        Some("06124084096"),
                        "K",
                    ))
                },
                vec![ch(
                    Document,
                    "2021-04-02",
                    "JP 2020-123456: new document \"拒絶理由通知書\" dated 2021-04-02",
                    None,
                    Some("A131 拒絶理由通知書"),
                )],
            ),
            (
                "the new rows of one legal date are one change, in served order",
                same,
                |s| {
                    s.documents.insert(
                        0,
                        doc("01", "2024-04-24", "A523", "手続補正書", Some("52400900473"), "S"),
                    );
                    s.documents
                        .push(doc("01", "2024-04-24", "A53", "意見書", Some("52400900476"), "S"));
                    s.documents
                        .push(doc("01", "2024-05-01", "A53", "意見書", Some("52400900999"), "S"));
                },
                vec![
                    ch(
                        Document,
                        "2024-04-24",
                        "JP 2020-123456: new documents \"手続補正書\", \"意見書\" dated 2024-04-24",
                        None,
                        Some("A523 手続補正書; A53 意見書"),
                    ),
                    ch(
                        Document,
                        "2024-05-01",
                        "JP 2020-123456: new document \"意見書\" dated 2024-05-01",
                        None,
                        Some("A53 意見書"),
                    ),
                ],
            ),
            (
                "rows of one document with other separators count once",
                same,
                |s| {
                    s.documents.push(doc(
                        "01",
                        "2021-04-02",
                        "A131",
                        "拒絶理由通知書",
                        Some("06124084096"),
                        "K",
                    ));
                    s.documents.push(doc(
                        "01",
                        "2021-04-02",
                        "A131",
                        "拒絶理由通知書",
                        Some("06124084096"),
                        "T",
                    ));
                },
                vec![ch(
                    Document,
                    "2021-04-02",
                    "JP 2020-123456: new document \"拒絶理由通知書\" dated 2021-04-02",
                    None,
                    Some("A131 拒絶理由通知書"),
                )],
            ),
            (
                "a new separator of a known document is a new row",
                same,
                |s| {
                    s.documents.push(doc(
                        "01",
                        "2020-07-20",
                        "A63",
                        "請求の範囲",
                        Some("52001475960"),
                        "L",
                    ))
                },
                vec![ch(
                    Document,
                    "2020-07-20",
                    "JP 2020-123456: new document \"請求の範囲\" dated 2020-07-20",
                    None,
                    Some("A63 請求の範囲"),
                )],
            ),
            (
                "a placeholder echoing a known act is not new",
                same,
                |s| {
                    s.documents
                        .push(doc("06", "2024-07-09", "A01", "特許査定", None, ""))
                },
                vec![],
            ),
            (
                "a placeholder of a new act is new",
                same,
                |s| {
                    s.documents
                        .push(doc("06", "2024-08-20", "R150", "特許証", None, ""))
                },
                vec![ch(
                    Document,
                    "2024-08-20",
                    "JP 2020-123456: new document \"特許証\" dated 2024-08-20",
                    None,
                    Some("R150 特許証"),
                )],
            ),
            (
                "a placeholder is never unique alone",
                same,
                |s| {
                    s.documents
                        .push(doc("01", "2024-09-01", "A61", "登録料納付", None, ""))
                },
                vec![ch(
                    Document,
                    "2024-09-01",
                    "JP 2020-123456: new document \"登録料納付\" dated 2024-09-01",
                    None,
                    Some("A61 登録料納付"),
                )],
            ),
            (
                "a real row of an act known from a placeholder is new",
                same,
                |s| {
                    s.documents.push(doc(
                        "01",
                        "2024-07-24",
                        "A61",
                        "登録料納付",
                        Some("52401234567"),
                        "S",
                    ))
                },
                vec![ch(
                    Document,
                    "2024-07-24",
                    "JP 2020-123456: new document \"登録料納付\" dated 2024-07-24",
                    None,
                    Some("A61 登録料納付"),
                )],
            ),
            (
                "new rows without a legal date",
                same,
                |s| s.documents.push(doc("01", "", "A99", "", Some("1"), "S")),
                vec![ch(
                    Document,
                    "",
                    "JP 2020-123456: new document \"A99\"",
                    None,
                    Some("A99 "),
                )],
            ),
            (
                "a registration absorbs its day's documents, date, alive flag and first expiry",
                same,
                |s| {
                    registered(s);
                    s.documents
                        .push(doc("06", "2024-07-09", "A01", "特許査定", None, ""));
                    s.documents
                        .push(doc("06", "2024-07-24", "R100", "特許料納付書", None, ""));
                    s.documents
                        .push(doc("06", "2024-08-05", "R150", "特許証", None, ""));
                },
                vec![
                    ch(
                        Document,
                        "2024-07-24",
                        "JP 2020-123456: new document \"特許料納付書\" dated 2024-07-24",
                        None,
                        Some("R100 特許料納付書"),
                    ),
                    ch(
                        Registration,
                        "2024-08-05",
                        "JP 2020-123456: registered as 7533889 (2024-08-05)",
                        None,
                        Some("7533889; documents: R150 特許証; expires 2040-07-20"),
                    ),
                ],
            ),
            (
                "a registration without a date",
                same,
                |s| s.registration_number = "7533889".into(),
                vec![ch(
                    Registration,
                    "",
                    "JP 2020-123456: registered as 7533889",
                    None,
                    Some("7533889"),
                )],
            ),
            (
                "an erasure absorbs the disappearance date",
                registered,
                |s| {
                    registered(s);
                    s.erasure_identifier = "01".into();
                    s.disappearance_date = "2027-07-20".into();
                },
                vec![ch(
                    Erasure,
                    "2027-07-20",
                    "JP 2020-123456: right erased (2027-07-20)",
                    Some("00"),
                    Some("01"),
                )],
            ),
            (
                "registered and erased between two looks",
                same,
                |s| {
                    registered(s);
                    s.erasure_identifier = "01".into();
                    s.disappearance_date = "2027-07-20".into();
                },
                vec![
                    ch(
                        Registration,
                        "2024-08-05",
                        "JP 2020-123456: registered as 7533889 (2024-08-05)",
                        None,
                        Some("7533889; expires 2040-07-20"),
                    ),
                    ch(
                        Erasure,
                        "2027-07-20",
                        "JP 2020-123456: right erased (2027-07-20)",
                        None,
                        Some("01"),
                    ),
                ],
            ),
            (
                "a right restored",
                |s| {
                    registered(s);
                    s.erasure_identifier = "01".into();
                },
                registered,
                vec![ch(
                    Field,
                    "",
                    "JP 2020-123456: erasure_identifier \"01\" → \"00\"",
                    Some("01"),
                    Some("00"),
                )],
            ),
            (
                "scalars are one field each",
                registered,
                |s| {
                    registered(s);
                    s.title = "新しい名称".into();
                    s.expire_date = "2041-07-20".into();
                    s.kind = "design".into();
                    s.application_number = "2020123457".into();
                    s.filing_date = "2020-07-21".into();
                },
                vec![
                    ch(
                        Field,
                        "",
                        "JP 2020-123456: application_number \"2020123456\" → \"2020123457\"",
                        Some("2020123456"),
                        Some("2020123457"),
                    ),
                    ch(
                        Field,
                        "",
                        "JP 2020-123456: expire_date \"2040-07-20\" → \"2041-07-20\"",
                        Some("2040-07-20"),
                        Some("2041-07-20"),
                    ),
                    ch(
                        Field,
                        "",
                        "JP 2020-123456: filing_date \"2020-07-20\" → \"2020-07-21\"",
                        Some("2020-07-20"),
                        Some("2020-07-21"),
                    ),
                    ch(
                        Field,
                        "",
                        "JP 2020-123456: kind \"patent\" → \"design\"",
                        Some("patent"),
                        Some("design"),
                    ),
                    ch(
                        Field,
                        "",
                        "JP 2020-123456: title \"立体配線構造体の製造方法\" → \"新しい名称\"",
                        Some("立体配線構造体の製造方法"),
                        Some("新しい名称"),
                    ),
                ],
            ),
            (
                "a publication number with its date is one change",
                same,
                |s| {
                    s.publication_number = "2021090037".into();
                    s.publication_date = "2021-06-10".into();
                },
                vec![ch(
                    Field,
                    "2021-06-10",
                    "JP 2020-123456: publication_number \"\" → \"2021090037\"",
                    None,
                    Some("2021090037"),
                )],
            ),
            (
                "a publication date alone",
                |s| s.publication_number = "2021090037".into(),
                |s| {
                    s.publication_number = "2021090037".into();
                    s.publication_date = "2021-06-10".into();
                },
                vec![ch(
                    Field,
                    "2021-06-10",
                    "JP 2020-123456: publication_date \"\" → \"2021-06-10\"",
                    None,
                    Some("2021-06-10"),
                )],
            ),
            (
                "a registration number or date corrected",
                registered,
                |s| {
                    registered(s);
                    s.registration_date = "2024-08-06".into();
                },
                vec![ch(
                    Field,
                    "2024-08-06",
                    "JP 2020-123456: registration_date \"2024-08-05\" → \"2024-08-06\"",
                    Some("2024-08-05"),
                    Some("2024-08-06"),
                )],
            ),
            (
                "a registration number replaced",
                registered,
                |s| {
                    registered(s);
                    s.registration_number = "7533890".into();
                    s.registration_date = "2024-08-06".into();
                },
                vec![ch(
                    Field,
                    "2024-08-06",
                    "JP 2020-123456: registration_number \"7533889\" → \"7533890\"",
                    Some("7533889"),
                    Some("7533890"),
                )],
            ),
            (
                "a disappearance date without an erasure",
                same,
                |s| s.disappearance_date = "2030-01-01".into(),
                vec![ch(
                    Field,
                    "2030-01-01",
                    "JP 2020-123456: disappearance_date \"\" → \"2030-01-01\"",
                    None,
                    Some("2030-01-01"),
                )],
            ),
            (
                "applicants are a set",
                same,
                |s| s.applicants.push("新会社".into()),
                vec![ch(
                    Field,
                    "",
                    "JP 2020-123456: applicants \"メイショウ株式会社, 渡辺　一豊\" → \"メイショウ株式会社, 渡辺　一豊, \
                     新会社\"",
                    Some("メイショウ株式会社, 渡辺　一豊"),
                    Some("メイショウ株式会社, 渡辺　一豊, 新会社"),
                )],
            ),
            (
                "a removed document is not an event",
                same,
                |s| {
                    s.documents.pop();
                },
                vec![],
            ),
        ];
        for (name, old, new, expected) in table {
            assert_eq!(diff(l, &jp(old), &jp(new)), expected, "{name}");
        }
    }

    #[test]
    fn diff_of_different_offices_is_one_field_change() {
        let table = [
            (ep(|_| {}), jp(|_| {}), "EP", "JP"),
            (jp(|_| {}), ep(|_| {}), "JP", "EP"),
        ];
        for (old, new, before, after) in table {
            assert_eq!(
                diff("X", &old, &new),
                vec![ch(
                    ChangeKind::Field,
                    "",
                    &format!("X: office \"{before}\" → \"{after}\""),
                    Some(before),
                    Some(after)
                )]
            );
        }
    }

    #[test]
    fn diff_is_order_insensitive_in_both_directions() {
        let reorder_ep = |s: &mut EpStatus| {
            s.statuses.reverse();
            s.events.reverse();
            s.publications.reverse();
        };
        let reorder_jp = |s: &mut JpStatus| s.documents.reverse();
        let table: [(CaseStatus, CaseStatus); 2] = [
            (ep(|_| {}), {
                let mut s = ep_base();
                s.statuses.insert(0, st("8", GRANTED, "2019-10-25"));
                s.events.push(ev(
                    "EVT_3",
                    "EPIDOS DDEC",
                    "2019-10-25",
                    "Decision to grant",
                    "new",
                ));
                s.events.push(ev(
                    "EVT_5",
                    "EPIDOS PUBL",
                    "2019-10-30",
                    "Mention of grant",
                    "new",
                ));
                s.publications.push(publ("EP", "2400812", "B1", "2019-11-27"));
                CaseStatus::Ep(s)
            }),
            (jp(|_| {}), {
                let mut s = jp_base();
                registered(&mut s);
                s.documents
                    .push(doc("01", "2024-04-24", "A53", "意見書", Some("52400900476"), "S"));
                s.documents
                    .push(doc("06", "2024-08-05", "R150", "特許証", None, ""));
                CaseStatus::Jp(s)
            }),
        ];
        for (old, new) in table {
            let expected = diff("L", &old, &new);
            assert!(!expected.is_empty());
            let reorder = |s: &CaseStatus| match s.clone() {
                CaseStatus::Ep(mut e) => {
                    reorder_ep(&mut e);
                    CaseStatus::Ep(e)
                }
                CaseStatus::Jp(mut j) => {
                    reorder_jp(&mut j);
                    CaseStatus::Jp(j)
                }
            };
            assert_eq!(diff("L", &reorder(&old), &new), expected);
            assert_eq!(diff("L", &reorder(&old), &reorder(&new)), expected);
            assert_eq!(diff("L", &new, &reorder(&new)), vec![]);
        }
    }

    #[test]
    fn current_table() {
        let c = |code: &str, text: &str, date: &str| Current {
            code: code.into(),
            text: text.into(),
            date: date.into(),
        };
        let table: Vec<(&str, CaseStatus, Current)> = vec![
            (
                "EP latest by date",
                ep(|s| s.statuses.reverse()),
                c("12", INTENDED, "2019-06-26"),
            ),
            (
                "EP tie: the first as served",
                ep(|s| s.statuses = vec![st("8", GRANTED, "2019-10-25"), st("12", INTENDED, "2019-10-25")]),
                c("8", GRANTED, "2019-10-25"),
            ),
            (
                "EP empty dates: the first as served",
                ep(|s| s.statuses = vec![st("7", "No opposition", ""), st("8", GRANTED, "")]),
                c("7", "No opposition", ""),
            ),
            (
                "EP a dated entry beats an empty date",
                ep(|s| s.statuses = vec![st("7", "No opposition", ""), st("8", GRANTED, "2019-10-25")]),
                c("8", GRANTED, "2019-10-25"),
            ),
            (
                "EP no entries: the register status",
                ep(|s| s.statuses.clear()),
                c("", INTENDED, ""),
            ),
            ("EP nothing", CaseStatus::Ep(EpStatus::default()), c("", "", "")),
            (
                "JP erased",
                jp(|s| {
                    registered(s);
                    s.erasure_identifier = "01".into();
                    s.disappearance_date = "2027-07-20".into();
                }),
                c("erased", "Right erased", "2027-07-20"),
            ),
            (
                "JP registered",
                jp(registered),
                c("registered", "Registered as 7533889", "2024-08-05"),
            ),
            (
                "JP registered, erasure identifier not yet set",
                jp(|s| {
                    s.registration_number = "7533889".into();
                    s.registration_date = "2024-08-05".into();
                }),
                c("registered", "Registered as 7533889", "2024-08-05"),
            ),
            (
                "JP latest document",
                jp(|s| s.documents.reverse()),
                c("A61", "登録料納付", "2024-07-24"),
            ),
            (
                "JP document tie: the first as served",
                jp(|s| s.documents.truncate(2)),
                c("A63", "要約書", "2020-07-20"),
            ),
            ("JP nothing", CaseStatus::Jp(JpStatus::default()), c("", "", "")),
        ];
        for (name, status, expected) in table {
            assert_eq!(current(&status), expected, "{name}");
        }
    }

    #[test]
    fn fingerprint_ignores_order_only() {
        let base_ep = fingerprint(&ep(|_| {}));
        let base_jp = fingerprint(&jp(|_| {}));
        let reorderings: Vec<(CaseStatus, String)> = vec![
            (ep(|s| s.statuses.reverse()), base_ep.clone()),
            (ep(|s| s.events.reverse()), base_ep.clone()),
            (ep(|s| s.steps[0].dates.reverse()), base_ep.clone()),
            (ep(|s| s.publications.reverse()), base_ep.clone()),
            (
                ep(|s| {
                    s.terminal_dates.push(("a".into(), "1".into()));
                    s.terminal_dates.reverse();
                }),
                fingerprint(&ep(|s| s.terminal_dates.push(("a".into(), "1".into())))),
            ),
            (
                ep(|s| {
                    s.steps.push(step("S2", "X", "Y", &[], None));
                    s.steps.reverse();
                }),
                fingerprint(&ep(|s| s.steps.push(step("S2", "X", "Y", &[], None)))),
            ),
            (jp(|s| s.documents.reverse()), base_jp.clone()),
            (jp(|s| s.applicants.reverse()), base_jp.clone()),
        ];
        for (status, expected) in reorderings {
            assert_eq!(fingerprint(&status), expected, "{status:?}");
        }
    }

    #[test]
    fn fingerprint_changes_with_any_field() {
        let ep_changes: Vec<fn(&mut EpStatus)> = vec![
            |s| s.application_number.push('0'),
            |s| s.register_status.push('.'),
            |s| s.statuses[0].code.push('1'),
            |s| s.statuses[0].text.push('.'),
            |s| s.statuses[0].date.clear(),
            |s| s.statuses.push(st("1", "x", "")),
            |s| s.events[0].id.push('0'),
            |s| s.events[0].code.push('X'),
            |s| s.events[0].date.clear(),
            |s| s.events[0].text.push('.'),
            |s| s.events[0].event_type = "change".into(),
            |s| s.steps[0].id.push('0'),
            |s| s.steps[0].code.push('X'),
            |s| s.steps[0].phase.push('X'),
            |s| s.steps[0].description.push('.'),
            |s| s.steps[0].dates[0].0.push('X'),
            |s| s.steps[0].dates[0].1.push('0'),
            |s| s.steps[0].dates.pop().map(drop).unwrap_or_default(),
            |s| s.steps[0].time_limit = None,
            |s| {
                s.steps[0]
                    .time_limit
                    .as_mut()
                    .map(|t| t.value.push('0'))
                    .unwrap_or_default()
            },
            |s| {
                s.steps[0]
                    .time_limit
                    .as_mut()
                    .map(|t| t.unit.push('s'))
                    .unwrap_or_default()
            },
            |s| {
                s.steps[0]
                    .time_limit
                    .as_mut()
                    .map(|t| t.due.clear())
                    .unwrap_or_default()
            },
            |s| s.publications[0].country = "WO".into(),
            |s| s.publications[0].number.push('0'),
            |s| s.publications[0].kind = "B1".into(),
            |s| s.publications[0].date.clear(),
            |s| s.terminal_dates[0].0.push('X'),
            |s| s.terminal_dates[0].1.clear(),
            |s| s.terminal_dates.clear(),
            // Moving text between neighbouring fields.
            |s| {
                s.statuses[0].code = "1".into();
                s.statuses[0].text = format!("2{INTENDED}");
            },
        ];
        let jp_changes: Vec<fn(&mut JpStatus)> = vec![
            |s| s.application_number.push('0'),
            |s| s.kind = "design".into(),
            |s| s.title.push('x'),
            |s| s.filing_date.clear(),
            |s| s.publication_number.push('1'),
            |s| s.publication_date.push('1'),
            |s| s.registration_number.push('1'),
            |s| s.registration_date.push('1'),
            |s| s.erasure_identifier.push('1'),
            |s| s.expire_date.push('1'),
            |s| s.disappearance_date.push('1'),
            |s| s.applicants.push("x".into()),
            |s| s.applicants[0].push('x'),
            |s| s.documents[0].number_type = "06".into(),
            |s| s.documents[0].number.push('0'),
            |s| s.documents[0].legal_date.clear(),
            |s| s.documents[0].code.push('0'),
            |s| s.documents[0].description.push('x'),
            |s| s.documents[0].document_number = None,
            |s| s.documents[3].document_number = Some(String::new()),
            |s| s.documents[0].separator = "Z".into(),
            |s| s.documents[0].version = "0002".into(),
            |s| s.documents.push(doc("01", "2021-01-01", "A131", "x", None, "")),
        ];
        let base_ep = fingerprint(&ep(|_| {}));
        let base_jp = fingerprint(&jp(|_| {}));
        let mut seen = HashSet::from([base_ep.clone(), base_jp.clone()]);
        for (i, change) in ep_changes.into_iter().enumerate() {
            let f = fingerprint(&ep(change));
            assert_ne!(f, base_ep, "EP change {i}");
            assert!(seen.insert(f), "EP change {i} collides");
        }
        for (i, change) in jp_changes.into_iter().enumerate() {
            let f = fingerprint(&jp(change));
            assert_ne!(f, base_jp, "JP change {i}");
            assert!(seen.insert(f), "JP change {i} collides");
        }
    }

    #[test]
    fn fingerprint_is_lowercase_hex_and_stable() {
        // Pinned: a stored fingerprint must keep matching after an upgrade, or every case would
        // look changed once.
        let table = [
            (
                ep(|_| {}),
                "9f597568267122c45caf5bf2b41138ae689255626238aaddbc086ddae932e253",
            ),
            (
                jp(|_| {}),
                "7c1942d5d49393b69d613395274c21a844a253c91988fc47e93c839c0631ca7b",
            ),
            (
                CaseStatus::Ep(EpStatus::default()),
                "89b8f9e5ba15629113970376b071734e580a9d21fac82bdc766c55c13213bc70",
            ),
            (
                CaseStatus::Jp(JpStatus::default()),
                "590c3889616391b35d5831e26cd80259381648b3d0c10ca11166254c7f6b2ea0",
            ),
        ];
        for (status, expected) in table {
            let f = fingerprint(&status);
            assert_eq!(f.len(), 64);
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{f}"
            );
            assert_eq!(f, expected);
        }
    }

    #[test]
    fn change_kind_names_match_serde() {
        for kind in ChangeKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ChangeKind>(&json).unwrap(), kind);
        }
    }
}
