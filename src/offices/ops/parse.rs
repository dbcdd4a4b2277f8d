//! OPS Register XML → [`EpStatus`], and the two OPS error shapes → (code, message).
//!
//! The answer is read once with quick-xml's namespace-aware reader into a flat arena of
//! elements (no recursion anywhere, so no input can exhaust the stack), and elements are matched
//! by **namespace URI** and local name, never by prefix: the 2022 captures say `ops:`/`reg:`
//! and are indented, the 2025 ones say `ns2:`/`ns3:` with no whitespace.
//!
//! Reading rules (`shared/api/epo-ops.md` §5–6):
//! * exactly one `reg:register-document` (a retrieval answers one case);
//! * dates of 8 digits become `YYYY-MM-DD`; anything else is kept trimmed;
//! * texts are trimmed at both ends only, so event codes stay verbatim (`EPIDOS RFEE`);
//! * a time limit's `due` is `DATE_OF_DISPATCH` + the limit in months (days, weeks, years),
//!   with the day clamped to the end of a shorter month (EPC Rule 131(4)), else `""`. It does
//!   not add the ten days of the old notification fiction (Rule 126(2) before November 2023)
//!   nor move a due date off a closing day (Rule 134): it is the office's plain arithmetic;
//! * terminal dates: the [`c::TERMINAL_DATES`] children of the biblio, `opposition-not-filed`,
//!   and the lapses per state of the newest `term-of-grant` (as `lapsed-in-country XX`).

use chrono::{Days, Months, NaiveDate};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::contract as c;
use crate::core::status::{DossierEvent, EpStatus, EpStatusEntry, ProceduralStep, Publication, TimeLimit};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsParseError {
    #[error("OPS answer is not well-formed XML at byte {position}: {reason}")]
    Xml { position: u64, reason: String },
    #[error("OPS answer ends inside <{0}>")]
    Truncated(String),
    #[error("OPS answer holds no reg:register-document")]
    NoDocument,
    #[error("OPS answer holds {0} reg:register-documents where one case was asked for")]
    Documents(usize),
}

impl OpsParseError {
    /// A short name of the kind of failure (for counting).
    pub fn kind(&self) -> &'static str {
        match self {
            OpsParseError::Xml { .. } => "xml",
            OpsParseError::Truncated(_) => "truncated",
            OpsParseError::NoDocument => "no-document",
            OpsParseError::Documents(_) => "documents",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ns {
    Ops,
    Register,
    /// `http://www.epo.org/exchange`: the default namespace of legal and family answers.
    Exchange,
    /// No namespace (the `<error>` shape).
    Unbound,
    Other,
}

#[derive(Debug)]
pub(super) struct El {
    ns: Ns,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<usize>,
}

/// Every element of a document; index 0 is a virtual root holding the document element.
pub(super) struct Tree {
    pub(super) els: Vec<El>,
}

pub(super) const ROOT: usize = 0;

impl Tree {
    pub(super) fn read(xml: &[u8]) -> Result<Tree, OpsParseError> {
        let mut reader = NsReader::from_reader(xml);
        let mut els = vec![El {
            ns: Ns::Other,
            name: String::new(),
            attrs: Vec::new(),
            text: String::new(),
            children: Vec::new(),
        }];
        let mut open = vec![ROOT];
        let xml_error = |position: u64, e: &dyn std::fmt::Display| OpsParseError::Xml {
            position,
            reason: e.to_string(),
        };
        loop {
            let (ns, event) = match reader.read_resolved_event() {
                Ok((res, event)) => (ns_of(&res), event),
                Err(e) => return Err(xml_error(reader.error_position(), &e)),
            };
            let position = reader.buffer_position();
            let current = open.last().copied().unwrap_or(ROOT);
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let mut attrs = Vec::new();
                    for a in e.attributes() {
                        let a = a.map_err(|err| xml_error(position, &err))?;
                        // Namespace declarations and prefixed attributes are not data.
                        if a.key.prefix().is_some() || a.key.as_ref() == b"xmlns" {
                            continue;
                        }
                        let value = a.unescape_value().map_err(|err| xml_error(position, &err))?;
                        attrs.push((
                            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                            value.into_owned(),
                        ));
                    }
                    let index = els.len();
                    els.push(El {
                        ns,
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        attrs,
                        text: String::new(),
                        children: Vec::new(),
                    });
                    els[current].children.push(index);
                    if matches!(event, Event::Start(_)) {
                        open.push(index);
                    }
                }
                Event::End(_) => {
                    if open.len() > 1 {
                        open.pop();
                    }
                }
                Event::Text(t) => {
                    let s = t.decode().map_err(|err| xml_error(position, &err))?;
                    // Texts are trimmed: leading whitespace (all of an indented parent's) is
                    // not kept.
                    let text = &mut els[current].text;
                    if !(text.is_empty() && s.trim().is_empty()) {
                        text.push_str(&s);
                    }
                }
                Event::CData(t) => {
                    let s = t.decode().map_err(|err| xml_error(position, &err))?;
                    els[current].text.push_str(&s);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|err| xml_error(position, &err))? {
                        Some(ch) => ch.to_string(),
                        None => {
                            let name = r.decode().map_err(|err| xml_error(position, &err))?;
                            match quick_xml::escape::resolve_predefined_entity(&name) {
                                Some(s) => s.to_owned(),
                                None => format!("&{name};"),
                            }
                        }
                    };
                    els[current].text.push_str(&resolved);
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        match open.last() {
            Some(&i) if i != ROOT => Err(OpsParseError::Truncated(els[i].name.clone())),
            _ => Ok(Tree { els }),
        }
    }

    fn is(&self, i: usize, ns: Ns, name: &str) -> bool {
        let e = &self.els[i];
        e.ns == ns && e.name == name
    }

    pub(super) fn children(&self, i: usize, ns: Ns, name: &'static str) -> impl Iterator<Item = usize> + '_ {
        self.els[i]
            .children
            .iter()
            .copied()
            .filter(move |&c| self.is(c, ns, name))
    }

    fn child(&self, i: usize, name: &'static str) -> Option<usize> {
        self.children(i, Ns::Register, name).next()
    }

    /// The trimmed text of the first register child `name` of `i` (`""` if absent).
    fn child_text(&self, i: usize, name: &'static str) -> &str {
        self.child(i, name).map_or("", |c| self.text(c))
    }

    pub(super) fn text(&self, i: usize) -> &str {
        self.els[i].text.trim()
    }

    pub(super) fn attr(&self, i: usize, name: &str) -> &str {
        self.els[i]
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }
}

fn ns_of(res: &ResolveResult<'_>) -> Ns {
    match res {
        ResolveResult::Bound(ns) if ns.as_ref() == c::NS_OPS => Ns::Ops,
        ResolveResult::Bound(ns) if ns.as_ref() == c::NS_REGISTER => Ns::Register,
        ResolveResult::Bound(ns) if ns.as_ref() == c::NS_EXCHANGE => Ns::Exchange,
        ResolveResult::Bound(_) | ResolveResult::Unknown(_) => Ns::Other,
        ResolveResult::Unbound => Ns::Unbound,
    }
}

/// `20201002` → `2020-10-02`; anything else trimmed as given.
pub(super) fn iso_date(s: &str) -> String {
    let t = s.trim();
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &t[..4], &t[4..6], &t[6..])
    } else {
        t.to_owned()
    }
}

fn date_of(s: &str) -> Option<NaiveDate> {
    let mut parts = s.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `DATE_OF_DISPATCH` + `value` `unit`, or `""` when it cannot be computed.
fn due_date(dates: &[(String, String)], value: &str, unit: &str) -> String {
    let dispatch = dates
        .iter()
        .find(|(kind, _)| kind == "DATE_OF_DISPATCH")
        .and_then(|(_, d)| date_of(d));
    let (Some(start), Ok(n)) = (dispatch, value.trim().parse::<u32>()) else {
        return String::new();
    };
    let due = match unit.trim().to_ascii_lowercase().as_str() {
        "month" | "months" => start.checked_add_months(Months::new(n)),
        "year" | "years" => n
            .checked_mul(12)
            .and_then(|m| start.checked_add_months(Months::new(m))),
        "week" | "weeks" => start.checked_add_days(Days::new(u64::from(n) * 7)),
        "day" | "days" => start.checked_add_days(Days::new(u64::from(n))),
        _ => None,
    };
    due.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// Reads a Register retrieval answer (`biblio`, `events`, `procedural-steps`, any subset).
/// Never panics.
pub fn parse_register(xml: &[u8]) -> Result<EpStatus, OpsParseError> {
    let t = Tree::read(xml)?;
    let docs: Vec<usize> = (0..t.els.len())
        .filter(|&i| t.is(i, Ns::Register, "register-document"))
        .collect();
    let doc = match docs.as_slice() {
        [] => return Err(OpsParseError::NoDocument),
        [one] => *one,
        many => return Err(OpsParseError::Documents(many.len())),
    };
    let biblio = t.child(doc, "bibliographic-data");
    Ok(EpStatus {
        application_number: biblio.map(|b| application_number(&t, b)).unwrap_or_default(),
        register_status: t.attr(doc, "status").to_owned(),
        statuses: statuses(&t, doc),
        events: events(&t, doc),
        steps: steps(&t, doc),
        publications: biblio.map(|b| publications(&t, b)).unwrap_or_default(),
        terminal_dates: biblio.map(|b| terminal_dates(&t, b)).unwrap_or_default(),
    })
}

fn application_number(t: &Tree, biblio: usize) -> String {
    let from_reference = t
        .children(biblio, Ns::Register, "application-reference")
        .filter_map(|a| t.child(a, "document-id"))
        .find(|&d| t.child_text(d, "country") == "EP")
        .map(|d| format!("EP{}", t.child_text(d, "doc-number")));
    from_reference
        .or_else(|| {
            // `bibliographic-data/@id` is the application number + `P` (`EP10167109P`).
            let id = t.attr(biblio, "id");
            id.strip_suffix('P')
                .filter(|n| n.starts_with("EP"))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn statuses(t: &Tree, doc: usize) -> Vec<EpStatusEntry> {
    t.children(doc, Ns::Register, "ep-patent-statuses")
        .flat_map(|s| t.children(s, Ns::Register, "ep-patent-status"))
        .map(|s| EpStatusEntry {
            code: t.attr(s, "status-code").to_owned(),
            text: t.text(s).to_owned(),
            date: iso_date(t.attr(s, "change-date")),
        })
        .collect()
}

fn events(t: &Tree, doc: usize) -> Vec<DossierEvent> {
    t.children(doc, Ns::Register, "events-data")
        .flat_map(|d| t.children(d, Ns::Register, "dossier-event"))
        .map(|e| {
            let texts: Vec<usize> = t.children(e, Ns::Register, "event-text").collect();
            let text = texts
                .iter()
                .find(|&&x| t.attr(x, "event-text-type") == "DESCRIPTION")
                .or(texts.first())
                .map_or("", |&x| t.text(x));
            DossierEvent {
                id: t.attr(e, "id").to_owned(),
                code: t.child_text(e, "event-code").to_owned(),
                date: iso_date(t.child(e, "event-date").map_or("", |d| t.child_text(d, "date"))),
                text: text.to_owned(),
                event_type: t.attr(e, "event-type").to_owned(),
            }
        })
        .collect()
}

fn steps(t: &Tree, doc: usize) -> Vec<ProceduralStep> {
    t.children(doc, Ns::Register, "procedural-data")
        .flat_map(|d| t.children(d, Ns::Register, "procedural-step"))
        .map(|s| {
            let texts: Vec<usize> = t.children(s, Ns::Register, "procedural-step-text").collect();
            let description = texts
                .iter()
                .find(|&&x| t.attr(x, "step-text-type") == "STEP_DESCRIPTION")
                .or(texts.first())
                .map_or("", |&x| t.text(x));
            let dates: Vec<(String, String)> = t
                .children(s, Ns::Register, "procedural-step-date")
                .map(|d| {
                    (
                        t.attr(d, "step-date-type").to_owned(),
                        iso_date(t.child_text(d, "date")),
                    )
                })
                .collect();
            let time_limit = t.child(s, "time-limit").map(|l| {
                let value = t.text(l).to_owned();
                let unit = t.attr(l, "time-limit-unit").to_owned();
                let due = due_date(&dates, &value, &unit);
                TimeLimit { value, unit, due }
            });
            ProceduralStep {
                id: t.attr(s, "id").to_owned(),
                code: t.child_text(s, "procedural-step-code").to_owned(),
                phase: t.attr(s, "procedure-step-phase").to_owned(),
                description: description.to_owned(),
                dates,
                time_limit,
            }
        })
        .collect()
}

fn publications(t: &Tree, biblio: usize) -> Vec<Publication> {
    t.children(biblio, Ns::Register, "publication-reference")
        .flat_map(|p| t.children(p, Ns::Register, "document-id"))
        .map(|d| Publication {
            country: t.child_text(d, "country").to_owned(),
            number: t.child_text(d, "doc-number").to_owned(),
            kind: t.child_text(d, "kind").to_owned(),
            date: iso_date(t.child_text(d, "date")),
        })
        .collect()
}

fn terminal_dates(t: &Tree, biblio: usize) -> Vec<(String, String)> {
    // The term-of-grant entries are a history; the one with the newest change-date holds the
    // current lapses (the first of equals, as served newest first).
    let mut newest_term: Option<usize> = None;
    for g in t.children(biblio, Ns::Register, "term-of-grant") {
        if newest_term.is_none_or(|n| t.attr(g, "change-date") > t.attr(n, "change-date")) {
            newest_term = Some(g);
        }
    }
    let mut out = Vec::new();
    for &child in &t.els[biblio].children {
        let e = &t.els[child];
        if e.ns != Ns::Register {
            continue;
        }
        if let Some(name) = c::TERMINAL_DATES.iter().find(|n| **n == e.name) {
            out.push(((*name).to_owned(), iso_date(t.child_text(child, "date"))));
        } else if e.name == "opposition-data" {
            for n in t.children(child, Ns::Register, "opposition-not-filed") {
                out.push((
                    "opposition-not-filed".to_owned(),
                    iso_date(t.child_text(n, "date")),
                ));
            }
        } else if Some(child) == newest_term {
            for l in t.children(child, Ns::Register, "lapsed-in-country") {
                out.push((
                    format!("lapsed-in-country {}", t.child_text(l, "country")),
                    iso_date(t.child_text(l, "date")),
                ));
            }
        }
    }
    out
}

/// The (code, message) of an OPS error body: `<fault xmlns="http://ops.epo.org">` (service
/// errors) or `<error>` without a namespace (auth, quota). `None` for anything else,
/// including an empty body. Never panics.
pub fn parse_fault(body: &[u8]) -> Option<(String, String)> {
    if !error_root(body) {
        return None;
    }
    let t = Tree::read(body).ok()?;
    let root = *t.els[ROOT].children.first()?;
    let e = &t.els[root];
    let field = |name: &str| {
        e.children
            .iter()
            .find(|&&c| t.els[c].name == name && matches!(t.els[c].ns, Ns::Ops | Ns::Unbound))
            .map_or(String::new(), |&c| t.text(c).to_owned())
    };
    let (code, message) = (field("code"), field("message"));
    (!code.is_empty() || !message.is_empty()).then_some((code, message))
}

fn error_shape(ns: Ns, name: &[u8]) -> bool {
    matches!((ns, name), (Ns::Ops | Ns::Unbound, b"fault" | b"error"))
}

/// Whether the document element is an OPS error, found without reading the rest (a large
/// Register answer is not read twice).
fn error_root(body: &[u8]) -> bool {
    let mut reader = NsReader::from_reader(body);
    loop {
        match reader.read_resolved_event() {
            Ok((res, Event::Start(e) | Event::Empty(e))) => {
                return error_shape(ns_of(&res), e.local_name().as_ref());
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! sample {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/sandbox/data/ops-samples/",
                $file
            ))
            .as_slice()
        };
    }

    const BIBLIO_2025: &[u8] = sample!("register-biblio_EP2400812_2025.xml");
    const EVENTS_2025: &[u8] = sample!("register-events_EP2400812_2025.xml");
    const STEPS_2025: &[u8] = sample!("register-procedural-steps_EP2400812_2025.xml");
    const BIBLIO_2022: &[u8] = sample!("register-biblio_EP3000000_2022.xml");
    const EVENTS_2022: &[u8] = sample!("register-events_EP1000000_2022.xml");
    const STEPS_2022: &[u8] = sample!("register-procedural-steps_EP1000000_2022.xml");

    fn parse(xml: &[u8]) -> EpStatus {
        parse_register(xml).unwrap_or_else(|e| panic!("sample parses: {e}"))
    }

    fn status(code: &str, text: &str, date: &str) -> EpStatusEntry {
        EpStatusEntry {
            code: code.into(),
            text: text.into(),
            date: date.into(),
        }
    }

    fn publication(country: &str, number: &str, kind: &str, date: &str) -> Publication {
        Publication {
            country: country.into(),
            number: number.into(),
            kind: kind.into(),
            date: date.into(),
        }
    }

    fn ep2400812_statuses() -> Vec<EpStatusEntry> {
        vec![
            status("7", "No opposition filed within time limit", "2020-10-02"),
            status("8", "The patent has been granted", "2019-10-25"),
            status("12", "Grant of patent is intended", "2019-06-26"),
            status("14", "Examination is in progress", "2017-02-03"),
        ]
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn biblio_2025() {
        let s = parse(BIBLIO_2025);
        assert_eq!(s.application_number, "EP10167109");
        assert_eq!(s.register_status, "No opposition filed within time limit");
        assert_eq!(s.statuses, ep2400812_statuses());
        assert_eq!(
            s.publications,
            vec![
                publication("EP", "2400812", "A1", "2011-12-28"),
                publication("EP", "2400812", "B1", "2019-11-27"),
            ]
        );
        assert!(s.events.is_empty() && s.steps.is_empty());
        // The newest term-of-grant (2022-07-08) lists 33 lapses, then the opposition period.
        assert_eq!(s.terminal_dates.len(), 34);
        assert_eq!(
            s.terminal_dates[..2],
            pairs(&[
                ("lapsed-in-country HU", "2010-06-24"),
                ("lapsed-in-country AL", "2019-11-27")
            ])
        );
        assert_eq!(
            s.terminal_dates.last(),
            Some(&("opposition-not-filed".to_owned(), "2020-08-28".to_owned()))
        );
    }

    #[test]
    fn biblio_2022_with_a_wo_publication() {
        let s = parse(BIBLIO_2022);
        assert_eq!(s.application_number, "EP14735465");
        assert_eq!(s.register_status, "No opposition filed within time limit");
        assert_eq!(
            s.statuses,
            vec![
                status("7", "No opposition filed within time limit", "2018-03-23"),
                status("8", "The patent has been granted", "2017-04-14"),
                status("12", "Grant of patent is intended", "2016-12-08"),
            ]
        );
        assert_eq!(
            s.publications,
            vec![
                publication("WO", "2014206532", "A1", "2014-12-31"),
                publication("EP", "3000000", "A1", "2016-03-30"),
                publication("EP", "3000000", "B1", "2017-05-17"),
            ]
        );
        assert_eq!(s.terminal_dates.len(), 31);
        assert_eq!(
            s.terminal_dates[0],
            ("lapsed-in-country HU".to_owned(), "2014-06-12".to_owned())
        );
        assert_eq!(
            s.terminal_dates.last(),
            Some(&("opposition-not-filed".to_owned(), "2018-02-20".to_owned()))
        );
    }

    #[test]
    fn events_2025() {
        let s = parse(EVENTS_2025);
        assert_eq!(s.application_number, "");
        assert_eq!(s.statuses, ep2400812_statuses());
        assert_eq!(s.events.len(), 55);
        assert_eq!(
            s.events[0],
            DossierEvent {
                id: "EVT_434577438".into(),
                code: "0009250".into(),
                date: "2022-07-08".into(),
                text: "Lapse of the patent in a contracting state".into(),
                event_type: "new".into(),
            }
        );
        assert_eq!(
            s.events[53],
            DossierEvent {
                id: "EVT_434577491".into(),
                code: "EPIDOS ABEX".into(),
                date: "2012-06-06".into(),
                text: "Amendment by applicant".into(),
                event_type: "new".into(),
            }
        );
        assert_eq!(s.events[54].id, "EVT_434577492");
        assert_eq!(s.events[54].date, "2011-12-28");
        assert!(s.publications.is_empty() && s.terminal_dates.is_empty() && s.steps.is_empty());
    }

    #[test]
    fn events_2022_keep_codes_verbatim_and_empty_change_dates() {
        let s = parse(EVENTS_2022);
        assert_eq!(
            s.statuses,
            vec![status("7", "No opposition filed within time limit", "")]
        );
        assert_eq!(s.events.len(), 32);
        assert_eq!(s.events[0].code, "EPIDOSDTIPA");
        assert_eq!(s.events[0].text, "Deletion: Observations by third parties");
        assert_eq!(s.events[0].date, "2014-06-07");
        let codes: Vec<&str> = s.events.iter().map(|e| e.code.as_str()).collect();
        for spaced in ["EPIDOS EXPT", "EPIDOS IGRA", "EPIDOS RFEE", "EPIDOS AGRA"] {
            assert!(codes.contains(&spaced), "{spaced}");
        }
        assert_eq!(s.events[31].id, "EVT_242405943");
        assert_eq!(s.events[31].code, "0009012");
        assert_eq!(s.events[31].date, "2000-03-31");
    }

    #[test]
    fn steps_2025_with_time_limits() {
        let s = parse(STEPS_2025);
        assert_eq!(s.steps.len(), 19);
        assert_eq!(
            s.steps[0],
            ProceduralStep {
                id: "RENEWAL_52865823".into(),
                code: "RFEE".into(),
                phase: "undefined".into(),
                description: "Renewal fee payment".into(),
                dates: pairs(&[("DATE_OF_PAYMENT", "2012-06-20")]),
                time_limit: None,
            }
        );
        assert_eq!(
            s.steps[8],
            ProceduralStep {
                id: "STEP_EXRE_13225478".into(),
                code: "EXRE".into(),
                phase: "examination".into(),
                description: "Communication from the examining division".into(),
                dates: pairs(&[
                    ("DATE_OF_DISPATCH", "2017-02-01"),
                    ("DATE_OF_REPLY", "2017-06-01")
                ]),
                time_limit: Some(TimeLimit {
                    value: "04".into(),
                    unit: "months".into(),
                    due: "2017-06-01".into(),
                }),
            }
        );
        let limits: Vec<(&str, &str)> = s
            .steps
            .iter()
            .filter_map(|st| st.time_limit.as_ref().map(|l| (st.id.as_str(), l.due.as_str())))
            .collect();
        assert_eq!(
            limits,
            [
                ("STEP_EXRE_13225478", "2017-06-01"),
                ("STEP_EXRE_13225479", "2018-09-15"),
                ("STEP_EXRE_13225480", "2019-05-03"),
            ]
        );
        let igra = s
            .steps
            .iter()
            .find(|st| st.code == "IGRA")
            .map(|st| st.dates.clone());
        assert_eq!(
            igra,
            Some(pairs(&[
                ("DATE_OF_DISPATCH", "2019-06-27"),
                ("GRANT_FEE_PAID", "2019-10-16"),
                ("PRINT_FEE_PAID", "2019-10-16"),
                ("TRANSLATION_CLAIMS", "2019-10-16"),
            ]))
        );
        assert_eq!(s.steps[18].id, "STEP_ISAT_14258408");
        assert_eq!(s.steps[18].phase, "entry-regional-phase");
        assert!(s.steps[18].dates.is_empty());
    }

    #[test]
    fn steps_2022() {
        let s = parse(STEPS_2022);
        let ids: Vec<(&str, &str, &str)> = s
            .steps
            .iter()
            .map(|st| (st.id.as_str(), st.code.as_str(), st.description.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("RENEWAL_30131407", "RFEE", "Renewal fee payment"),
                ("RENEWAL_30131408", "RFEE", "Renewal fee payment"),
                (
                    "STEP_AGRA_453376",
                    "AGRA",
                    "Announcement of grant (old EPC before 1 July 2002)"
                ),
                ("STEP_IGRA_4488032", "IGRA", "Intention to grant the patent"),
                ("STEP_PROL_10469892", "PROL", "Language of the procedure"),
                ("STEP_ISAT_10447307", "ISAT", "International searching authority"),
            ]
        );
        assert_eq!(s.steps[3].dates.len(), 3);
        assert!(s.steps.iter().all(|st| st.time_limit.is_none()));
    }

    /// The three 2025 files as one answer, the way OPS (and the sandbox) serve
    /// `biblio,events,procedural-steps`: statuses, biblio, steps, events in one document.
    #[test]
    fn a_combined_document_holds_all_three() {
        fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
            let a = s.find(start).unwrap_or(0);
            let b = s.rfind(end).map_or(s.len(), |i| i + end.len());
            &s[a..b]
        }
        let biblio = std::str::from_utf8(BIBLIO_2025).unwrap_or_default();
        let events = std::str::from_utf8(EVENTS_2025).unwrap_or_default();
        let steps = std::str::from_utf8(STEPS_2025).unwrap_or_default();
        let head_end = biblio.find("<ns3:bibliographic-data").unwrap_or(0);
        let combined = format!(
            "{}{}{}{}</ns3:register-document></ns3:register-documents></ns2:register-search></ns2:world-patent-data>",
            &biblio[..head_end],
            between(biblio, "<ns3:bibliographic-data", "</ns3:bibliographic-data>"),
            between(steps, "<ns3:procedural-data>", "</ns3:procedural-data>"),
            between(events, "<ns3:events-data>", "</ns3:events-data>"),
        );
        let s = parse(combined.as_bytes());
        let (b, e, st) = (parse(BIBLIO_2025), parse(EVENTS_2025), parse(STEPS_2025));
        assert_eq!(
            s,
            EpStatus {
                events: e.events,
                steps: st.steps,
                ..b
            }
        );
        assert_eq!((s.events.len(), s.steps.len(), s.statuses.len()), (55, 19, 4));
    }

    #[test]
    fn prefixes_do_not_matter_namespaces_do() {
        let doc = |ops: &str, reg: &str, uri: &str| {
            format!(
                r#"<{ops}:world-patent-data xmlns:{ops}="http://ops.epo.org" xmlns:{reg}="{uri}"><{reg}:register-document status="S"><{reg}:ep-patent-statuses><{reg}:ep-patent-status change-date="20200101" status-code="7">T</{reg}:ep-patent-status></{reg}:ep-patent-statuses></{reg}:register-document></{ops}:world-patent-data>"#
            )
        };
        let expected = vec![status("7", "T", "2020-01-01")];
        for (ops, reg) in [("ops", "reg"), ("ns2", "ns3"), ("a", "b")] {
            let s = parse(doc(ops, reg, "http://www.epo.org/register").as_bytes());
            assert_eq!(s.statuses, expected, "{ops}/{reg}");
            assert_eq!(s.register_status, "S");
        }
        // The right local names in another namespace are not register data.
        assert_eq!(
            parse_register(doc("ops", "reg", "http://example.com/register").as_bytes()),
            Err(OpsParseError::NoDocument)
        );
        // A default namespace works as well as a prefix.
        let default_ns =
            r#"<register-document xmlns="http://www.epo.org/register" status="X &amp; Y&#33;"/>"#;
        assert_eq!(parse(default_ns.as_bytes()).register_status, "X & Y!");
    }

    #[test]
    fn bad_documents_are_errors() {
        let two = r#"<r xmlns="http://www.epo.org/register"><register-document/><register-document/></r>"#;
        let table: [(&[u8], &str); 7] = [
            (b"", "no-document"),
            (
                b"<fault xmlns=\"http://ops.epo.org\"><code>X</code></fault>",
                "no-document",
            ),
            (two.as_bytes(), "documents"),
            (&BIBLIO_2025[..BIBLIO_2025.len() / 2], "truncated"),
            (b"<a><b></a>", "xml"),
            (b"<a x=\"1></a>", "xml"),
            (b"<a>\xff\xfe</a>", "xml"),
        ];
        for (input, kind) in table {
            let got = parse_register(input).map_err(|e| e.kind());
            assert_eq!(got, Err(kind), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn due_dates() {
        let dispatch = pairs(&[("DATE_OF_DISPATCH", "2017-02-01")]);
        let end_of_month = pairs(&[("DATE_OF_DISPATCH", "2019-08-31")]);
        let table = [
            (&dispatch, "04", "months", "2017-06-01"),
            (&dispatch, "2", "month", "2017-04-01"),
            (&end_of_month, "6", "months", "2020-02-29"),
            (&dispatch, "10", "days", "2017-02-11"),
            (&dispatch, "2", "weeks", "2017-02-15"),
            (&dispatch, "1", "Years", "2018-02-01"),
            (&dispatch, "4", "fortnights", ""),
            (&dispatch, "four", "months", ""),
            (&dispatch, "4294967295", "years", ""),
            (&pairs(&[("DATE_OF_REPLY", "2017-02-01")]), "4", "months", ""),
            (&pairs(&[("DATE_OF_DISPATCH", "2017-13-01")]), "4", "months", ""),
        ];
        for (dates, value, unit, due) in table {
            assert_eq!(due_date(dates, value, unit), due, "{dates:?} + {value} {unit}");
        }
    }

    #[test]
    fn faults_of_both_shapes() {
        type Fault<'a> = Option<(&'a str, &'a str)>;
        let table: [(&[u8], Fault); 9] = [
            (
                b"<fault xmlns=\"http://ops.epo.org\"><code>SERVER.EntityNotFound</code><message>No results found</message></fault>",
                Some(("SERVER.EntityNotFound", "No results found")),
            ),
            (
                b"<?xml version=\"1.0\"?><ops:fault xmlns:ops=\"http://ops.epo.org\"><ops:code>CLIENT.RobotDetected</ops:code><ops:message>robot</ops:message></ops:fault>",
                Some(("CLIENT.RobotDetected", "robot")),
            ),
            (
                b"<error><code>400</code><message>invalid_access_token</message><description>Access token is invalid</description></error>",
                Some(("400", "invalid_access_token")),
            ),
            (
                b"<error><code>403</code><message>This request has been rejected due to the violation of Fair Use policy</message><moreInfo>http://www.epo.org/searching/free/espacenet/fair-use.html</moreInfo>\n\t\t\t\t</error>\n\t\t\t",
                Some(("403", "This request has been rejected due to the violation of Fair Use policy")),
            ),
            (b"<error><message>ClientId is Invalid</message></error>", Some(("", "ClientId is Invalid"))),
            (b"", None),
            (b"<html><body>maintenance</body></html>", None),
            (b"<fault xmlns=\"http://example.com\"><code>X</code></fault>", None),
            (b"<error><code>4", None),
        ];
        for (body, expected) in table {
            let expected = expected.map(|(c, m)| (c.to_owned(), m.to_owned()));
            assert_eq!(parse_fault(body), expected, "{:?}", String::from_utf8_lossy(body));
        }
    }
}
