//! The sandbox's EP Register: cases built from the recorded samples, synthetic cases cloned
//! from EP2400812, scenario advances, and the `reg:register-document` each case renders to.
//!
//! Cases:
//! * **EP2400812** / application **EP10167109**: biblio, events (55) and procedural steps (19)
//!   from the three 2025 files.
//! * **EP3000000** / application **EP14735465**: biblio from the 2022 file; it has no events or
//!   steps sample, so those constituents add nothing to its document.
//! * **EP1000000**: events (32) and steps (6) from the 2022 files. No sample names its
//!   application number, so it is reachable by publication number only, and it has no biblio.
//! * **Synthetic** cases `EP9000001`/`EP90000001`, `EP9000002`/`EP90000002`, …: the EP2400812
//!   dossier with its numbers replaced (see [`Registry::add_synthetic`]). No real EP publication
//!   is in the 9 000 000 range yet, and none of the samples is.
//!
//! Advances are kept as plain data ([`Advance`]) and applied when a document is rendered, so
//! the recorded dossiers stay untouched and a restart replays them from the snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::samples::{self, SampleError};
use super::xml::{Element, Node, Ns};

const R: Ns = Ns::Register;

/// A patent number reduced to country and digits (kind code and check digit dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocNumber {
    pub country: String,
    pub number: String,
}

impl DocNumber {
    /// `EP2400812`: the epodoc form, EP publications zero-padded to 7 digits.
    pub fn epodoc(&self) -> String {
        if self.country == "EP" && self.number.len() < 7 {
            format!("EP{:0>7}", self.number)
        } else {
            format!("{}{}", self.country, self.number)
        }
    }
}

/// Parses epodoc (`EP2400812`, `EP2400812.A1`, `EP2400812A1`, `EP10167109.4`), docdb
/// (`EP.2400812.A1`), and the bracketed parts clients send (`(EP2400812)`,
/// `(EP).(2400812).(A1)`). Spaces are ignored; letters may be lower case.
pub fn parse_number(input: &str) -> Option<DocNumber> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
        .collect::<String>()
        .to_ascii_uppercase();
    let parts: Vec<&str> = s.split('.').collect();
    let (country, digits, tail): (&str, &str, &[&str]) = match parts.as_slice() {
        [cc, num, tail @ ..] if is_country(cc) && is_digits(num) => (cc, num, tail),
        [head, tail @ ..] => {
            let (cc, rest) = head.split_at_checked(2)?;
            if !is_country(cc) {
                return None;
            }
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let (num, kind) = rest.split_at(end);
            if num.is_empty() || !(kind.is_empty() || is_kind(kind)) {
                return None;
            }
            (cc, num, tail)
        }
        [] => return None,
    };
    match tail {
        [] => {}
        [k] if is_kind(k) || (k.len() == 1 && is_digits(k)) => {}
        _ => return None,
    }
    Some(DocNumber {
        country: country.to_owned(),
        number: digits.to_owned(),
    })
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_kind(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.len(), 1 | 2) && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Which parts of a register document are asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    pub biblio: bool,
    pub events: bool,
    pub steps: bool,
}

impl Parts {
    pub const BIBLIO: Parts = Parts {
        biblio: true,
        events: false,
        steps: false,
    };

    /// Parses a comma list of `biblio`, `events`, `procedural-steps` and `upp`. `upp` is the
    /// plain biblio: none of the sandbox's cases is a unitary patent. Returns the first unknown
    /// name on failure.
    pub fn parse(list: &str) -> Result<Parts, String> {
        let mut p = Parts::default();
        for name in list.split(',') {
            match name.trim() {
                "biblio" | "upp" => p.biblio = true,
                "events" => p.events = true,
                "procedural-steps" => p.steps = true,
                other => return Err(other.to_owned()),
            }
        }
        Ok(p)
    }
}

/// A recorded dossier, immutable and shared by every case cloned from it.
pub struct CaseData {
    /// `reg:register-documents` without children.
    pub documents: Element,
    /// `reg:register-document` without children.
    pub document: Element,
    pub statuses: Vec<Element>,
    pub biblio: Option<Element>,
    pub procedural: Option<Element>,
    /// One `reg:events-data` per dossier event, newest first.
    pub events: Vec<Element>,
    index: Index,
}

/// What the search fields look at.
#[derive(Clone, Default)]
struct Index {
    titles: Vec<String>,
    applicants: Vec<String>,
    inventors: Vec<String>,
    /// epodoc-style numbers of every publication and application reference.
    numbers: Vec<String>,
}

impl CaseData {
    fn from_document(documents: Element, doc: &Element) -> CaseData {
        let mut shell = doc.clone();
        shell.children.clear();
        let mut data = CaseData {
            documents,
            document: shell,
            statuses: Vec::new(),
            biblio: None,
            procedural: None,
            events: Vec::new(),
            index: Index::default(),
        };
        data.absorb(doc);
        data
    }

    /// Takes the parts of `doc` this dossier does not have yet.
    fn absorb(&mut self, doc: &Element) {
        for part in doc.elements() {
            match part.name.as_str() {
                "ep-patent-statuses" if self.statuses.is_empty() => {
                    self.statuses = part.elements().cloned().collect();
                }
                "bibliographic-data" if self.biblio.is_none() => self.biblio = Some(part.clone()),
                "procedural-data" if self.procedural.is_none() => self.procedural = Some(part.clone()),
                "events-data" => self.events.push(part.clone()),
                _ => {}
            }
        }
        self.index = Index::of(self.biblio.as_ref());
    }

    fn application_number(&self) -> Option<String> {
        let b = self.biblio.as_ref()?;
        b.children_named(R, "application-reference").find_map(|a| {
            let id = a.child(R, "document-id")?;
            let cc = id.child(R, "country")?.text();
            let n = id.child(R, "doc-number")?.text();
            (cc == "EP").then(|| format!("EP{n}"))
        })
    }
}

impl Index {
    fn of(biblio: Option<&Element>) -> Index {
        let Some(b) = biblio else {
            return Index::default();
        };
        let names = |party: &str| -> Vec<String> {
            b.descendants()
                .into_iter()
                .filter(|e| e.is(R, party))
                .filter_map(|e| e.path(R, &["addressbook", "name"]).map(Element::text))
                .collect()
        };
        let numbers = b
            .elements()
            .filter(|e| e.is(R, "publication-reference") || e.is(R, "application-reference"))
            .filter_map(|r| r.child(R, "document-id"))
            .filter_map(|id| {
                let cc = id.child(R, "country")?.text();
                let n = id.child(R, "doc-number")?.text();
                Some(if n.starts_with(&cc) { n } else { format!("{cc}{n}") })
            })
            .collect();
        Index {
            titles: b
                .children_named(R, "invention-title")
                .map(Element::text)
                .collect(),
            applicants: names("applicant"),
            inventors: names("inventor"),
            numbers,
        }
    }
}

/// A step of the status progression, with the dossier event that comes with it.
pub struct Stage {
    pub code: &'static str,
    pub text: &'static str,
    event_code: &'static str,
    event_text: &'static str,
    /// The date the EP2400812 dossier reached this status (for rewinding synthetic cases).
    template_date: &'static str,
}

/// 17 → 16 → 15 → 14 → 12 → 8 → 7. Texts seen live where known (16, 14, 12, 8, 7), else the
/// Register's wording; events are the codes EP2400812 got on those dates.
pub const STAGES: [Stage; 7] = [
    Stage {
        code: "17",
        text: "The international publication has been made",
        event_code: "0009001",
        event_text: "International publication",
        template_date: "20100624",
    },
    Stage {
        code: "16",
        text: "The application has been published",
        event_code: "0009012",
        event_text: "Publication in section I.1 EP Bulletin",
        template_date: "20111228",
    },
    Stage {
        code: "15",
        text: "Request for examination was made",
        event_code: "0009171",
        event_text: "Request for examination filed",
        template_date: "20120615",
    },
    Stage {
        code: "14",
        text: "Examination is in progress",
        event_code: "0009185",
        event_text: "First examination report",
        template_date: "20170203",
    },
    Stage {
        code: "12",
        text: "Grant of patent is intended",
        event_code: "EPIDOSNIGR1",
        event_text: "New entry: Communication of intention to grant a patent",
        template_date: "20190626",
    },
    Stage {
        code: "8",
        text: "The patent has been granted",
        event_code: "0009210",
        event_text: "(Expected) grant",
        template_date: "20191025",
    },
    Stage {
        code: "7",
        text: "No opposition filed within time limit",
        event_code: "0009261",
        event_text: "No opposition filed within time limit",
        template_date: "20201002",
    },
];

fn stage(code: &str) -> Option<&'static Stage> {
    STAGES.iter().find(|s| s.code == code)
}

fn next_stage(code: &str) -> Option<&'static Stage> {
    let i = STAGES.iter().position(|s| s.code == code)?;
    STAGES.get(i + 1)
}

/// A status entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub code: String,
    pub text: String,
    pub change_date: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub date: String,
    pub code: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub code: String,
    pub text: String,
    pub phase: String,
    pub dispatch_date: String,
    pub time_limit_months: String,
}

/// One scenario change to a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Advance {
    Status { status: Status, event: Event },
    Event { event: Event },
    Step { step: Step },
}

impl Advance {
    fn date(&self) -> &str {
        match self {
            Advance::Status { status, .. } => &status.change_date,
            Advance::Event { event } => &event.date,
            Advance::Step { step } => &step.dispatch_date,
        }
    }
}

/// How a synthetic case was made (enough to make it again after a restart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synthetic {
    pub index: u32,
    /// The status code it started at.
    pub stage: String,
}

#[derive(Clone)]
pub struct Case {
    pub application: Option<String>,
    pub publication: String,
    pub data: Arc<CaseData>,
    pub synthetic: Option<Synthetic>,
    pub advances: Vec<Advance>,
    /// Values replaced when rendering (template number → this case's number).
    renumber: Arc<Vec<(String, String)>>,
}

impl Case {
    fn sample(application: Option<String>, publication: String, data: CaseData) -> Case {
        Case {
            application,
            publication,
            data: Arc::new(data),
            synthetic: None,
            advances: Vec::new(),
            renumber: Arc::new(Vec::new()),
        }
    }

    /// The status entries, newest first.
    fn status_elements(&self) -> Vec<Element> {
        let mut out: Vec<Element> = self
            .advances
            .iter()
            .rev()
            .filter_map(|a| match a {
                Advance::Status { status, .. } => Some(status_element(status)),
                _ => None,
            })
            .collect();
        out.extend(self.data.statuses.iter().cloned());
        out
    }

    /// The current status (empty strings when the dossier has none).
    pub fn status(&self) -> Status {
        let latest = self.advances.iter().rev().find_map(|a| match a {
            Advance::Status { status, .. } => Some(status.clone()),
            _ => None,
        });
        latest.unwrap_or_else(|| match self.data.statuses.first() {
            Some(s) => Status {
                code: s.attr("status-code").unwrap_or_default().to_owned(),
                text: s.text(),
                change_date: s.attr("change-date").unwrap_or_default().to_owned(),
            },
            None => Status {
                code: String::new(),
                text: String::new(),
                change_date: String::new(),
            },
        })
    }

    pub fn event_count(&self) -> usize {
        let added = self
            .advances
            .iter()
            .filter(|a| !matches!(a, Advance::Step { .. }))
            .count();
        self.data.events.len() + added
    }

    pub fn step_count(&self) -> usize {
        let recorded = self
            .data
            .procedural
            .as_ref()
            .map_or(0, |p| p.children_named(R, "procedural-step").count());
        recorded
            + self
                .advances
                .iter()
                .filter(|a| matches!(a, Advance::Step { .. }))
                .count()
    }

    /// The `reg:register-documents` shell.
    pub fn documents_shell(&self) -> Element {
        self.data.documents.clone()
    }

    /// The full `reg:register-document` with the asked-for parts and every advance applied.
    pub fn document(&self, parts: Parts) -> Element {
        let mut doc = self.data.document.clone();
        let statuses = self.status_elements();
        let current = statuses.first().map(Element::text);
        if let Some(t) = &current {
            doc.set_attr("status", t);
        }
        if let Some(last) = self.advances.last() {
            doc.set_attr("date-produced", last.date());
        }
        let mut wrapper = Element::new(R, "ep-patent-statuses");
        wrapper.children = statuses.into_iter().map(Node::Element).collect();
        doc.children.push(Node::Element(wrapper));
        if parts.biblio
            && let Some(b) = &self.data.biblio
        {
            let mut b = b.clone();
            if let Some(t) = &current {
                b.set_attr("status", t);
            }
            doc.children.push(Node::Element(b));
        }
        if parts.steps {
            let added: Vec<Node> = self
                .advances
                .iter()
                .filter_map(|a| match a {
                    Advance::Step { step } => Some(Node::Element(step_element(step))),
                    _ => None,
                })
                .collect();
            let recorded = self.data.procedural.clone();
            if recorded.is_some() || !added.is_empty() {
                let mut p = recorded.unwrap_or_else(|| Element::new(R, "procedural-data"));
                p.children.extend(added);
                doc.children.push(Node::Element(p));
            }
        }
        if parts.events {
            for a in self.advances.iter().rev() {
                match a {
                    Advance::Status { event, .. } | Advance::Event { event } => {
                        doc.children.push(Node::Element(event_element(event)));
                    }
                    Advance::Step { .. } => {}
                }
            }
            doc.children
                .extend(self.data.events.iter().cloned().map(Node::Element));
        }
        self.renumbered(doc)
    }

    fn renumbered(&self, mut el: Element) -> Element {
        if !self.renumber.is_empty() {
            let map = self.renumber.clone();
            el.map_values(&|v| map.iter().find(|(from, _)| from == v).map(|(_, to)| to.clone()));
        }
        el
    }

    /// Whether a search term matches (see [`super::search`]).
    pub fn matches(&self, field: Field, value: &str) -> bool {
        let words: Vec<String> = value.split_whitespace().map(str::to_lowercase).collect();
        let any_text = |texts: &[String]| {
            texts.iter().any(|t| {
                let t = t.to_lowercase();
                words.iter().all(|w| t.contains(w.as_str()))
            })
        };
        let idx = &self.data.index;
        match field {
            Field::Title => !words.is_empty() && any_text(&idx.titles),
            Field::Applicant => !words.is_empty() && any_text(&idx.applicants),
            Field::Inventor => !words.is_empty() && any_text(&idx.inventors),
            Field::Application | Field::Publication | Field::Number => {
                let Some(n) = parse_number(value) else {
                    return false;
                };
                let want = n.epodoc();
                let app = self.application.as_deref() == Some(want.as_str());
                let publ = self.publication == want
                    || idx
                        .numbers
                        .iter()
                        .map(|x| self.renumber.iter().find(|(f, _)| f == x).map_or(x, |(_, t)| t))
                        .any(|x| *x == want && self.application.as_ref() != Some(x));
                match field {
                    Field::Application => app,
                    Field::Publication => publ,
                    _ => app || publ,
                }
            }
        }
    }
}

/// The search fields the sandbox understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `ti`: words of an invention title.
    Title,
    /// `pa`: words of an applicant's name.
    Applicant,
    /// `in`: words of an inventor's name.
    Inventor,
    /// `ap`: the EP application number.
    Application,
    /// `pn`: a publication number (EP, or the WO one of a Euro-PCT case).
    Publication,
    /// `num`: either.
    Number,
}

fn status_element(s: &Status) -> Element {
    Element::new(R, "ep-patent-status")
        .with_attr("change-date", &s.change_date)
        .with_attr("status-code", &s.code)
        .with_text(&s.text)
}

fn event_element(e: &Event) -> Element {
    Element::new(R, "events-data").with_child(
        Element::new(R, "dossier-event")
            .with_attr("id", &e.id)
            .with_attr("event-type", "new")
            .with_child(Element::new(R, "event-date").with_child(Element::new(R, "date").with_text(&e.date)))
            .with_child(Element::new(R, "event-code").with_text(&e.code))
            .with_child(
                Element::new(R, "event-text")
                    .with_attr("event-text-type", "DESCRIPTION")
                    .with_text(&e.text),
            ),
    )
}

fn step_element(s: &Step) -> Element {
    Element::new(R, "procedural-step")
        .with_attr("id", &s.id)
        .with_attr("procedure-step-phase", &s.phase)
        .with_child(Element::new(R, "procedural-step-code").with_text(&s.code))
        .with_child(
            Element::new(R, "procedural-step-text")
                .with_attr("step-text-type", "STEP_DESCRIPTION")
                .with_text(&s.text),
        )
        .with_child(
            Element::new(R, "procedural-step-date")
                .with_attr("step-date-type", "DATE_OF_DISPATCH")
                .with_child(Element::new(R, "date").with_text(&s.dispatch_date)),
        )
        .with_child(
            Element::new(R, "time-limit")
                .with_attr("time-limit-unit", "months")
                .with_text(&s.time_limit_months),
        )
}

/// The reduced hit a plain Register search returns, made from a full register document
/// (shape of `register-search_ti-battery_range1-5_2025.xml`): an empty status; the first
/// publication (country, number, date); the newest IPC group as one `;; `-joined text; the
/// first application (country, number); the newest applicants and representatives by name; the
/// newest titles with their language only.
pub fn reduced_hit(full: &Element) -> Element {
    let mut out = Element::new(R, "register-document")
        .with_attr("produced-by", full.attr("produced-by").unwrap_or("RO"));
    out = out.with_child(
        Element::new(R, "ep-patent-statuses").with_child(
            Element::new(R, "ep-patent-status")
                .with_attr("change-date", "")
                .with_attr("status-code", ""),
        ),
    );
    let Some(b) = full.child(R, "bibliographic-data") else {
        return out;
    };
    let mut rb = Element::new(R, "bibliographic-data");
    let copy = |id: &Element, names: &[&str]| {
        let mut d = Element::new(R, "document-id");
        for n in names {
            if let Some(c) = id.child(R, n) {
                d = d.with_child(Element::new(R, n).with_text(&c.text()));
            }
        }
        d
    };
    if let Some(id) = b.path(R, &["publication-reference", "document-id"]) {
        rb = rb.with_child(
            Element::new(R, "publication-reference").with_child(copy(id, &["country", "doc-number", "date"])),
        );
    }
    if let Some(group) = b.child(R, "classifications-ipcr") {
        let text: Vec<String> = group
            .children_named(R, "classification-ipcr")
            .flat_map(|c| {
                c.text()
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect();
        rb = rb.with_child(
            Element::new(R, "classifications-ipcr").with_child(
                Element::new(R, "classification-ipcr")
                    .with_attr("sequence", "CLASSIFICATION_1")
                    .with_child(Element::new(R, "text").with_text(&text.join(";; "))),
            ),
        );
    }
    if let Some(id) = b.path(R, &["application-reference", "document-id"]) {
        rb = rb.with_child(
            Element::new(R, "application-reference").with_child(copy(id, &["country", "doc-number"])),
        );
    }
    if let Some(parties) = b.child(R, "parties") {
        let mut rp = Element::new(R, "parties");
        let name_book = |p: &Element| {
            let name = p
                .path(R, &["addressbook", "name"])
                .map(Element::text)
                .unwrap_or_default();
            Element::new(R, "addressbook")
                .with_child(Element::new(R, "name").with_text(&name))
                .with_child(Element::new(R, "address").with_child(Element::new(R, "country")))
        };
        if let Some(apps) = parties.child(R, "applicants") {
            let mut ra = Element::new(R, "applicants");
            for a in apps.children_named(R, "applicant") {
                let mut e = Element::new(R, "applicant");
                for k in ["app-type", "designation", "sequence"] {
                    if let Some(v) = a.attr(k) {
                        e.set_attr(k, v);
                    }
                }
                let empty_country = || Element::new(R, "country").with_text("");
                ra = ra.with_child(
                    e.with_child(name_book(a))
                        .with_child(Element::new(R, "nationality").with_child(empty_country()))
                        .with_child(Element::new(R, "residence").with_child(empty_country())),
                );
            }
            rp = rp.with_child(ra);
        }
        if let Some(agents) = parties.child(R, "agents") {
            let mut ra = Element::new(R, "agents");
            for a in agents.children_named(R, "agent") {
                let mut e = Element::new(R, "agent");
                for k in ["rep-type", "sequence"] {
                    if let Some(v) = a.attr(k) {
                        e.set_attr(k, v);
                    }
                }
                ra = ra.with_child(e.with_child(name_book(a)));
            }
            rp = rp.with_child(ra);
        }
        rb = rb.with_child(rp);
    }
    let titles: Vec<&Element> = b.children_named(R, "invention-title").collect();
    let newest = titles.first().and_then(|t| t.attr("change-date"));
    for t in titles.iter().filter(|t| t.attr("change-date") == newest) {
        let mut e = Element::new(R, "invention-title");
        if let Some(l) = t.attr("lang") {
            e.set_attr("lang", l);
        }
        rb = rb.with_child(e.with_text(&t.text()));
    }
    out.with_child(rb)
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("no EP case {0}")]
    NoCase(String),
    #[error("unknown advance kind {0:?}: use status, event or step")]
    UnknownKind(String),
    #[error("{0} is already at the last status of the progression (7); advance an event or a step instead")]
    LastStatus(String),
    #[error("unknown starting status {0:?}: use one of 17, 16, 15, 14, 12, 8, 7")]
    UnknownStage(String),
    #[error("{0}")]
    TooMany(String),
    #[error("the samples lack the EP2400812 dossier used as the synthetic template")]
    NoTemplate,
    #[error(transparent)]
    Sample(#[from] SampleError),
}

/// What the snapshot keeps of the register.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Persisted {
    pub next_id: u64,
    pub synthetic: Vec<Synthetic>,
    /// Advances by publication number.
    pub advances: BTreeMap<String, Vec<Advance>>,
}

const TEMPLATE: &str = "EP2400812";
/// Where generated dossier-event and procedural-step ids start (recorded ids are lower).
const FIRST_ID: u64 = 900_000_001;
const MAX_SYNTHETIC: u32 = 999_999;

pub struct Registry {
    cases: Vec<Case>,
    sample_count: usize,
    by_publication: HashMap<String, usize>,
    by_application: HashMap<String, usize>,
    stages: HashMap<&'static str, Arc<CaseData>>,
    next_id: u64,
}

impl Registry {
    /// The cases of the recorded samples.
    pub fn from_samples() -> Result<Registry, RegisterError> {
        let mut by_pub: BTreeMap<String, CaseData> = BTreeMap::new();
        for (file, text) in samples::REGISTER {
            let s = samples::parse_register(file, text)?;
            let publication = s
                .query
                .strip_prefix("publication=")
                .ok_or(SampleError::Shape {
                    file,
                    what: "a publication= query",
                })?
                .to_owned();
            let doc = s.hits.first().ok_or(SampleError::Shape {
                file,
                what: "reg:register-document",
            })?;
            match by_pub.get_mut(&publication) {
                Some(data) => data.absorb(doc),
                None => {
                    by_pub.insert(publication, CaseData::from_document(s.documents.clone(), doc));
                }
            }
        }
        let cases: Vec<Case> = by_pub
            .into_iter()
            .map(|(publication, data)| Case::sample(data.application_number(), publication, data))
            .collect();
        let template = cases
            .iter()
            .find(|c| c.publication == TEMPLATE)
            .ok_or(RegisterError::NoTemplate)?;
        let mut stages = HashMap::new();
        stages.insert("7", template.data.clone());
        let mut reg = Registry {
            sample_count: cases.len(),
            cases: Vec::new(),
            by_publication: HashMap::new(),
            by_application: HashMap::new(),
            stages,
            next_id: FIRST_ID,
        };
        for c in cases {
            reg.insert(c);
        }
        Ok(reg)
    }

    fn insert(&mut self, case: Case) {
        let i = self.cases.len();
        self.by_publication.insert(case.publication.clone(), i);
        if let Some(a) = &case.application {
            self.by_application.insert(a.clone(), i);
        }
        self.cases.push(case);
    }

    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    pub fn by_publication(&self, n: &DocNumber) -> Option<&Case> {
        self.by_publication.get(&n.epodoc()).map(|&i| &self.cases[i])
    }

    pub fn by_application(&self, n: &DocNumber) -> Option<&Case> {
        self.by_application.get(&n.epodoc()).map(|&i| &self.cases[i])
    }

    fn index_of(&self, number: &str) -> Option<usize> {
        let n = parse_number(number)?;
        let key = n.epodoc();
        self.by_publication
            .get(&key)
            .or_else(|| self.by_application.get(&key))
            .copied()
    }

    /// Adds `count` cases cloned from EP2400812: the i-th synthetic case (counting from 1 over
    /// the sandbox's life) is application `EP9` + i in 7 digits and publication `EP9` + i in 6
    /// digits (`EP90000001` / `EP9000001`). `stage` (a status code of the progression, default
    /// 7) rewinds the dossier to the day EP2400812 reached that status: later statuses, events
    /// and steps are dropped, and before grant the B1 publication and the lapses too. Other
    /// biblio (e.g. later title changes) is kept as recorded.
    pub fn add_synthetic(&mut self, count: u32, stage: Option<&str>) -> Result<Vec<Case>, RegisterError> {
        let stage_code = stage.unwrap_or("7").trim();
        let st = self::stage(stage_code).ok_or_else(|| RegisterError::UnknownStage(stage_code.to_owned()))?;
        let done = (self.cases.len() - self.sample_count) as u32;
        if count == 0 || done.saturating_add(count) > MAX_SYNTHETIC {
            return Err(RegisterError::TooMany(format!(
                "count must be 1..={} (this sandbox already has {done} synthetic cases)",
                MAX_SYNTHETIC - done
            )));
        }
        let mut made = Vec::new();
        for index in done + 1..=done + count {
            let case = self.synthetic(Synthetic {
                index,
                stage: st.code.to_owned(),
            })?;
            made.push(case.clone());
            self.insert(case);
        }
        Ok(made)
    }

    fn synthetic(&mut self, s: Synthetic) -> Result<Case, RegisterError> {
        let st = stage(&s.stage).ok_or_else(|| RegisterError::UnknownStage(s.stage.clone()))?;
        let data = match self.stages.get(st.code) {
            Some(d) => d.clone(),
            None => {
                let template = self.stages.get("7").ok_or(RegisterError::NoTemplate)?;
                let d = Arc::new(rewind(template, st));
                self.stages.insert(st.code, d.clone());
                d
            }
        };
        let app_digits = format!("9{:07}", s.index);
        let pub_digits = format!("9{:06}", s.index);
        let renumber = vec![
            ("2400812".to_owned(), pub_digits.clone()),
            ("10167109".to_owned(), app_digits.clone()),
            ("EP2400812".to_owned(), format!("EP{pub_digits}")),
            ("EP10167109".to_owned(), format!("EP{app_digits}")),
            ("EP10167109P".to_owned(), format!("EP{app_digits}P")),
        ];
        Ok(Case {
            application: Some(format!("EP{app_digits}")),
            publication: format!("EP{pub_digits}"),
            data,
            synthetic: Some(s),
            advances: Vec::new(),
            renumber: Arc::new(renumber),
        })
    }

    /// Applies a scenario advance; returns the case after it and what was added.
    pub fn advance(
        &mut self,
        number: &str,
        kind: Option<&str>,
        today: &str,
        step_date: &str,
        step_months: u32,
    ) -> Result<(Case, Advance), RegisterError> {
        let i = self
            .index_of(number)
            .ok_or_else(|| RegisterError::NoCase(number.to_owned()))?;
        let current = self.cases[i].status();
        let next = next_stage(&current.code);
        let kind = match kind.map(str::trim) {
            None | Some("") => {
                if next.is_some() {
                    "status"
                } else {
                    "event"
                }
            }
            Some(k) => k,
        };
        let granted = matches!(current.code.as_str(), "7" | "8");
        let advance = match kind {
            "status" => {
                let st = next.ok_or_else(|| RegisterError::LastStatus(self.cases[i].publication.clone()))?;
                Advance::Status {
                    status: Status {
                        code: st.code.to_owned(),
                        text: st.text.to_owned(),
                        change_date: today.to_owned(),
                    },
                    event: Event {
                        id: self.new_id("EVT_"),
                        date: today.to_owned(),
                        code: st.event_code.to_owned(),
                        text: st.event_text.to_owned(),
                    },
                }
            }
            "event" => {
                let (code, text) = if granted {
                    ("0009250", "Lapse of the patent in a contracting state")
                } else {
                    ("EPIDOSNRFE2", "New entry: Renewal fee paid")
                };
                Advance::Event {
                    event: Event {
                        id: self.new_id("EVT_"),
                        date: today.to_owned(),
                        code: code.to_owned(),
                        text: text.to_owned(),
                    },
                }
            }
            "step" => Advance::Step {
                step: Step {
                    id: self.new_id("STEP_EXRE_"),
                    code: "EXRE".to_owned(),
                    text: "Communication from the examining division".to_owned(),
                    phase: "examination".to_owned(),
                    dispatch_date: step_date.to_owned(),
                    time_limit_months: format!("{step_months:02}"),
                },
            },
            other => return Err(RegisterError::UnknownKind(other.to_owned())),
        };
        self.cases[i].advances.push(advance.clone());
        Ok((self.cases[i].clone(), advance))
    }

    fn new_id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}{}", self.next_id);
        self.next_id += 1;
        id
    }

    pub fn snapshot(&self) -> Persisted {
        Persisted {
            next_id: self.next_id,
            synthetic: self.cases.iter().filter_map(|c| c.synthetic.clone()).collect(),
            advances: self
                .cases
                .iter()
                .filter(|c| !c.advances.is_empty())
                .map(|c| (c.publication.clone(), c.advances.clone()))
                .collect(),
        }
    }

    /// Returns to the recorded cases, then replays a snapshot.
    pub fn restore(&mut self, p: Persisted) -> Result<(), RegisterError> {
        let samples: Vec<Case> = self.cases.drain(..self.sample_count).collect();
        self.by_publication.clear();
        self.by_application.clear();
        for mut c in samples {
            c.advances.clear();
            self.insert(c);
        }
        for s in p.synthetic {
            let c = self.synthetic(s)?;
            self.insert(c);
        }
        for (publication, advances) in p.advances {
            let i = *self
                .by_publication
                .get(&publication)
                .ok_or_else(|| RegisterError::NoCase(publication.clone()))?;
            self.cases[i].advances = advances;
        }
        self.next_id = p.next_id.max(FIRST_ID);
        Ok(())
    }
}

/// The EP2400812 dossier as it stood the day it reached `st`.
fn rewind(data: &CaseData, st: &Stage) -> CaseData {
    let cutoff = st.template_date;
    let on_or_before = |d: &str| d.is_empty() || d <= cutoff;
    let mut statuses: Vec<Element> = data
        .statuses
        .iter()
        .filter(|s| on_or_before(s.attr("change-date").unwrap_or_default()))
        .cloned()
        .collect();
    if !statuses.iter().any(|s| s.attr("status-code") == Some(st.code)) {
        statuses.insert(
            0,
            status_element(&Status {
                code: st.code.to_owned(),
                text: st.text.to_owned(),
                change_date: cutoff.to_owned(),
            }),
        );
    }
    let dated = |e: &Element| -> bool {
        e.descendants()
            .into_iter()
            .filter(|d| d.is(R, "date"))
            .all(|d| on_or_before(&d.text()))
    };
    let events = data
        .events
        .iter()
        .filter(|e| {
            e.path(R, &["dossier-event", "event-date", "date"])
                .is_none_or(|d| on_or_before(&d.text()))
        })
        .cloned()
        .collect();
    let procedural = data.procedural.as_ref().map(|p| {
        let mut p = p.clone();
        p.children.retain(|n| match n {
            Node::Element(step) => dated(step),
            Node::Text(_) => true,
        });
        p
    });
    let granted = matches!(st.code, "7" | "8");
    let biblio = data.biblio.as_ref().map(|b| {
        let mut b = b.clone();
        if !granted {
            b.children.retain(|n| match n {
                Node::Element(e) if e.is(R, "term-of-grant") => false,
                Node::Element(e) if e.is(R, "publication-reference") => !e
                    .path(R, &["document-id", "kind"])
                    .is_some_and(|k| k.text().starts_with('B')),
                _ => true,
            });
        }
        b
    });
    CaseData {
        documents: data.documents.clone(),
        document: data.document.clone(),
        statuses,
        biblio,
        procedural,
        events,
        index: data.index.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(c: &str, n: &str) -> Option<DocNumber> {
        Some(DocNumber {
            country: c.into(),
            number: n.into(),
        })
    }

    #[test]
    fn numbers_parse_in_every_form_clients_send() {
        assert_eq!(parse_number("EP2400812"), num("EP", "2400812"));
        assert_eq!(parse_number("ep 2400812"), num("EP", "2400812"));
        assert_eq!(parse_number("EP.2400812.A1"), num("EP", "2400812"));
        assert_eq!(parse_number("(EP).(2400812).(A1)"), num("EP", "2400812"));
        assert_eq!(parse_number("(EP2400812)"), num("EP", "2400812"));
        assert_eq!(parse_number("EP2400812.A1"), num("EP", "2400812"));
        assert_eq!(parse_number("EP2400812B1"), num("EP", "2400812"));
        assert_eq!(parse_number("EP10167109.4"), num("EP", "10167109"));
        assert_eq!(parse_number("US.10465445.B2"), num("US", "10465445"));
        assert_eq!(parse_number("2400812"), None);
        assert_eq!(parse_number("EP"), None);
        assert_eq!(parse_number("EP24XY"), None);
        assert_eq!(parse_number("E1"), None);
        assert_eq!(parse_number("EP.2400812.A1.x"), None);
        assert_eq!(
            parse_number("EP1.A1").map(|n| n.epodoc()),
            Some("EP0000001".into())
        );
    }

    #[test]
    fn parts_parse() {
        assert_eq!(Parts::parse("biblio"), Ok(Parts::BIBLIO));
        assert_eq!(
            Parts::parse("biblio,events,procedural-steps"),
            Ok(Parts {
                biblio: true,
                events: true,
                steps: true
            })
        );
        assert_eq!(Parts::parse("upp"), Ok(Parts::BIBLIO));
        assert_eq!(Parts::parse("claims"), Err("claims".into()));
    }

    #[test]
    fn sample_cases_are_merged_per_publication() {
        let r = Registry::from_samples().unwrap();
        let ep = |n: &str| parse_number(n).unwrap();
        let c = r.by_application(&ep("EP10167109")).unwrap();
        assert_eq!(c.publication, "EP2400812");
        assert_eq!(c.event_count(), 55);
        assert_eq!(c.step_count(), 19);
        assert_eq!(c.status().code, "7");
        let c = r.by_publication(&ep("EP3000000")).unwrap();
        assert_eq!(c.application.as_deref(), Some("EP14735465"));
        assert_eq!((c.event_count(), c.step_count()), (0, 0));
        let c = r.by_publication(&ep("EP1000000")).unwrap();
        assert_eq!(c.application, None);
        assert_eq!((c.event_count(), c.step_count()), (32, 6));
        assert!(c.data.biblio.is_none());
    }

    #[test]
    fn advances_follow_the_progression_and_are_rendered_newest_first() {
        let mut r = Registry::from_samples().unwrap();
        let made = r.add_synthetic(2, Some("14")).unwrap();
        assert_eq!(made[1].application.as_deref(), Some("EP90000002"));
        assert_eq!(made[1].publication, "EP9000002");
        assert_eq!(made[0].status().code, "14");
        let (case, adv) = r.advance("EP9000001", None, "20260101", "20260101", 4).unwrap();
        assert!(matches!(&adv, Advance::Status { status, .. } if status.code == "12"));
        assert_eq!(case.status().text, "Grant of patent is intended");
        let doc = case.document(Parts {
            biblio: true,
            events: true,
            steps: true,
        });
        assert_eq!(doc.attr("status"), Some("Grant of patent is intended"));
        assert_eq!(doc.attr("date-produced"), Some("20260101"));
        let first_event = doc.path(R, &["events-data", "dossier-event"]).unwrap();
        assert_eq!(first_event.attr("id"), Some("EVT_900000001"));
        let b = doc.child(R, "bibliographic-data").unwrap();
        assert_eq!(b.attr("id"), Some("EP90000001P"));
        assert_eq!(b.attr("status"), Some("Grant of patent is intended"));
        assert!(!doc.text().contains("2400812"));
        // Rewound to 14: no B1 and no events after 20170203.
        assert!(!b.text().contains("B1"));
        assert_eq!(doc.children_named(R, "events-data").count(), 11 + 1);
        // A case at 7 gets an event by default and refuses a status.
        let (_, adv) = r.advance("EP2400812", None, "20260102", "20260102", 4).unwrap();
        assert!(matches!(adv, Advance::Event { .. }));
        assert!(matches!(
            r.advance("EP10167109", Some("status"), "20260102", "20260102", 4),
            Err(RegisterError::LastStatus(_))
        ));
        let (case, adv) = r
            .advance("EP3000000", Some("step"), "20260103", "20260103", 4)
            .unwrap();
        assert!(matches!(adv, Advance::Step { .. }));
        assert_eq!(case.step_count(), 1);
        assert!(matches!(
            r.advance("EP3000000", Some("x"), "d", "d", 4),
            Err(RegisterError::UnknownKind(_))
        ));
        assert!(matches!(
            r.advance("EP7777777", None, "d", "d", 4),
            Err(RegisterError::NoCase(_))
        ));

        let snap = r.snapshot();
        let mut again = Registry::from_samples().unwrap();
        again
            .restore(serde_json::from_value(serde_json::to_value(&snap).unwrap()).unwrap())
            .unwrap();
        assert_eq!(again.cases().len(), r.cases().len());
        let c = again.by_publication(&parse_number("EP9000001").unwrap()).unwrap();
        assert_eq!(c.status().code, "12");
        assert_eq!(again.snapshot().next_id, snap.next_id);
    }

    #[test]
    fn reduced_hits_keep_the_plain_search_shape() {
        let r = Registry::from_samples().unwrap();
        let c = r.by_publication(&parse_number("EP3000000").unwrap()).unwrap();
        let hit = reduced_hit(&c.document(Parts::BIBLIO));
        let s = hit.path(R, &["ep-patent-statuses", "ep-patent-status"]).unwrap();
        assert_eq!(
            (s.attr("status-code"), s.attr("change-date")),
            (Some(""), Some(""))
        );
        let b = hit.child(R, "bibliographic-data").unwrap();
        assert_eq!(
            b.path(R, &["publication-reference", "document-id", "doc-number"])
                .unwrap()
                .text(),
            "2014206532"
        );
        assert_eq!(b.children_named(R, "invention-title").count(), 3);
        assert_eq!(
            b.path(R, &["classifications-ipcr", "classification-ipcr", "text"])
                .unwrap()
                .text(),
            "G05B19/4093;; G05B19/4097"
        );
        assert!(c.matches(Field::Publication, "WO2014206532"));
        assert!(c.matches(Field::Number, "EP14735465"));
        assert!(c.matches(Field::Title, "detecting shaping"));
        assert!(c.matches(Field::Applicant, "trumpf"));
        assert!(!c.matches(Field::Title, "bluetooth"));
    }
}
