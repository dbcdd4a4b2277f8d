//! A small namespace-aware XML DOM for the OPS documents.
//!
//! Elements are keyed by namespace URI ([`Ns`]) and local name; prefixes are forgotten when a
//! document is parsed and chosen again when it is written ([`Style`]), which is how one
//! recorded body is served in both prefix eras. Attributes and children keep document order.
//!
//! Decisions the contract leaves open:
//! * Only the namespaces OPS uses are known ([`Ns`]); a document in another namespace does not
//!   parse. That keeps the DOM `Copy`-cheap to clone for every request.
//! * Whitespace-only text between child elements is layout and is dropped; any other text is
//!   kept verbatim (INPADOC pads values with spaces).
//! * `<x/>` and `<x></x>` stay distinct: the latter holds an empty text node. OPS JSON tells them
//!   apart (`{}` versus `{"$":""}`, seen live), so the DOM must too.
//! * Comments, processing instructions and the XML declaration are not kept.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The namespaces OPS responses use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ns {
    /// No namespace (the `<error>` bodies).
    None,
    Ops,
    Register,
    Exchange,
    Xlink,
    CpcExport,
    CpcDefinition,
}

impl Ns {
    pub const fn uri(self) -> &'static str {
        match self {
            Ns::None => "",
            Ns::Ops => "http://ops.epo.org",
            Ns::Register => "http://www.epo.org/register",
            Ns::Exchange => "http://www.epo.org/exchange",
            Ns::Xlink => "http://www.w3.org/1999/xlink",
            Ns::CpcExport => "http://www.epo.org/cpcexport",
            Ns::CpcDefinition => "http://www.epo.org/cpcdefinition",
        }
    }

    fn from_uri(uri: &[u8]) -> Option<Ns> {
        [
            Ns::Ops,
            Ns::Register,
            Ns::Exchange,
            Ns::Xlink,
            Ns::CpcExport,
            Ns::CpcDefinition,
        ]
        .into_iter()
        .find(|ns| ns.uri().as_bytes() == uri)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ns: Ns,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub ns: Ns,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("XML syntax: {0}")]
    Syntax(String),
    #[error("namespace {0:?} is not one OPS uses")]
    UnknownNamespace(String),
    #[error("prefix {0:?} is not declared")]
    UnboundPrefix(String),
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    #[error("the document has no root element")]
    NoRoot,
}

impl From<quick_xml::Error> for XmlError {
    fn from(e: quick_xml::Error) -> Self {
        XmlError::Syntax(e.to_string())
    }
}

impl From<quick_xml::encoding::EncodingError> for XmlError {
    fn from(e: quick_xml::encoding::EncodingError) -> Self {
        XmlError::Syntax(e.to_string())
    }
}

impl From<quick_xml::events::attributes::AttrError> for XmlError {
    fn from(e: quick_xml::events::attributes::AttrError) -> Self {
        XmlError::Syntax(e.to_string())
    }
}

impl Element {
    pub fn new(ns: Ns, name: &str) -> Self {
        Element {
            ns,
            name: name.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: adds (or replaces) an attribute without namespace.
    pub fn with_attr(mut self, name: &str, value: &str) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder: adds a child element.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: adds a text node.
    pub fn with_text(mut self, text: &str) -> Self {
        self.children.push(Node::Text(text.to_owned()));
        self
    }

    pub fn is(&self, ns: Ns, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == Ns::None && a.name == name)
            .map(|a| a.value.as_str())
    }

    pub fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|a| a.ns == Ns::None && a.name == name) {
            Some(a) => value.clone_into(&mut a.value),
            None => self.attrs.push(Attr {
                ns: Ns::None,
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'a>(&'a self, ns: Ns, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    pub fn child(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// The element at the end of a path of child names in one namespace.
    pub fn path(&self, ns: Ns, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, name| el.child(ns, name))
    }

    /// All text of the element and its descendants, in document order.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
            }
        }
    }

    /// Every descendant element (not the element itself), depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.elements().collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            out.push(e);
            let before = stack.len();
            stack.extend(e.elements());
            stack[before..].reverse();
        }
        out
    }

    /// Applies `f` to every text node and attribute value of the element and its descendants.
    pub fn map_values(&mut self, f: &dyn Fn(&str) -> Option<String>) {
        for a in &mut self.attrs {
            if let Some(v) = f(&a.value) {
                a.value = v;
            }
        }
        for n in &mut self.children {
            match n {
                Node::Text(t) => {
                    if let Some(v) = f(t) {
                        *t = v;
                    }
                }
                Node::Element(e) => e.map_values(f),
            }
        }
    }
}

/// Parses a document and returns its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (resolved, event) = reader.read_resolved_event()?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(XmlError::Syntax("content after the root element".into()));
                }
                let ns = element_ns(resolved)?;
                let is_empty = matches!(event, Event::Empty(_));
                let mut el = Element::new(ns, &String::from_utf8_lossy(start.local_name().as_ref()));
                for a in start.attributes() {
                    let a = a?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ans, local) = reader.resolve_attribute(a.key);
                    let ns = match ans {
                        ResolveResult::Unbound => Ns::None,
                        other => element_ns(other)?,
                    };
                    el.attrs.push(Attr {
                        ns,
                        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value: a.unescape_value()?.into_owned(),
                    });
                }
                if is_empty {
                    close(el, &mut stack, &mut root);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let Some(mut el) = stack.pop() else {
                    return Err(XmlError::Syntax("unbalanced end tag".into()));
                };
                if el.children.iter().any(|n| matches!(n, Node::Element(_))) {
                    el.children
                        .retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
                } else if el.children.is_empty() {
                    el.children.push(Node::Text(String::new()));
                }
                close(el, &mut stack, &mut root);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()?),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()?),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref()? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode()?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::UnknownEntity(name.into_owned()))?
                            .to_owned()
                    }
                };
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax("unclosed element at end of document".into()));
    }
    root.ok_or(XmlError::NoRoot)
}

fn element_ns(r: ResolveResult<'_>) -> Result<Ns, XmlError> {
    match r {
        ResolveResult::Unbound => Ok(Ns::None),
        ResolveResult::Bound(ns) => Ns::from_uri(ns.as_ref())
            .ok_or_else(|| XmlError::UnknownNamespace(String::from_utf8_lossy(ns.as_ref()).into())),
        ResolveResult::Unknown(p) => Err(XmlError::UnboundPrefix(String::from_utf8_lossy(&p).into_owned())),
    }
}

fn push_text(stack: &mut [Element], text: &str) {
    // Text outside the root element is whitespace between the prolog and the root: ignored.
    let Some(top) = stack.last_mut() else { return };
    match top.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(text),
        _ => top.children.push(Node::Text(text.to_owned())),
    }
}

fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

/// How a document is written: declaration, optional stylesheet PI, prefixes and layout.
#[derive(Clone, Debug)]
pub struct Style {
    /// The full `<?xml …?>` declaration.
    pub declaration: &'static str,
    /// `<?xml-stylesheet …?>`, or `None` for no PI.
    pub stylesheet: Option<String>,
    /// Namespace declarations on the root, in this order; `None` is the default namespace.
    pub prefixes: &'static [(Option<&'static str>, Ns)],
    /// Indentation per level; `None` writes everything on one line.
    pub indent: Option<usize>,
}

/// Writes a document.
pub fn serialize(root: &Element, style: &Style) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(style.declaration);
    if let Some(pi) = &style.stylesheet {
        out.push_str(pi);
    }
    if style.indent.is_some() {
        out.push('\n');
    }
    let mut w = Writer {
        out,
        style,
        defaults: Vec::new(),
    };
    w.element(root, 0, true);
    w.out
}

struct Writer<'a> {
    out: String,
    style: &'a Style,
    /// The default namespace in scope, innermost last.
    defaults: Vec<Ns>,
}

impl Writer<'_> {
    fn prefix_of(&self, ns: Ns) -> Option<&'static str> {
        self.style
            .prefixes
            .iter()
            .find(|(p, n)| *n == ns && p.is_some())
            .and_then(|(p, _)| *p)
    }

    fn element(&mut self, el: &Element, depth: usize, is_root: bool) {
        let mut decls: Vec<(String, &'static str)> = Vec::new();
        let mut pushed = 0;
        if is_root {
            for (p, ns) in self.style.prefixes {
                match p {
                    Some(p) => decls.push((format!("xmlns:{p}"), ns.uri())),
                    None => {
                        decls.push(("xmlns".to_owned(), ns.uri()));
                        self.defaults.push(*ns);
                        pushed += 1;
                    }
                }
            }
        }
        let prefix = self.prefix_of(el.ns);
        let in_scope = self.defaults.last().copied().unwrap_or(Ns::None);
        if prefix.is_none() && el.ns != in_scope {
            decls.retain(|(k, _)| k != "xmlns");
            decls.push(("xmlns".to_owned(), el.ns.uri()));
            self.defaults.push(el.ns);
            pushed += 1;
        }
        let qname = match prefix {
            Some(p) => format!("{p}:{}", el.name),
            None => el.name.clone(),
        };
        self.out.push('<');
        self.out.push_str(&qname);
        for (k, v) in &decls {
            self.push_attr(k, v);
        }
        for a in &el.attrs {
            match (a.ns, self.prefix_of(a.ns)) {
                (Ns::None, _) => self.push_attr(&a.name, &a.value),
                (_, Some(p)) => self.push_attr(&format!("{p}:{}", a.name), &a.value),
                (ns, None) => {
                    self.push_attr("xmlns:a", ns.uri());
                    self.push_attr(&format!("a:{}", a.name), &a.value);
                }
            }
        }
        if el.children.is_empty() {
            self.out.push_str("/>");
        } else {
            self.out.push('>');
            let all_elements = el.children.iter().all(|n| matches!(n, Node::Element(_)));
            let pretty = self.style.indent.filter(|_| all_elements);
            for n in &el.children {
                match n {
                    Node::Text(t) => escape_into(&mut self.out, t, false),
                    Node::Element(c) => {
                        if let Some(step) = pretty {
                            self.newline(step * (depth + 1));
                        }
                        self.element(c, depth + 1, false);
                    }
                }
            }
            if let Some(step) = pretty {
                self.newline(step * depth);
            }
            self.out.push_str("</");
            self.out.push_str(&qname);
            self.out.push('>');
        }
        for _ in 0..pushed {
            self.defaults.pop();
        }
    }

    fn newline(&mut self, spaces: usize) {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', spaces));
    }

    fn push_attr(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_into(&mut self.out, value, true);
        self.out.push('"');
    }
}

fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' if !attr => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// OPS JSON: BadgerFish as OPS writes it (`shared/api/epo-ops.md` §5.3 and the live capture in
/// repo arfar/epo-ops-testing-rs): keys `prefix:name`, attributes `@name` in document order, text
/// in `$` after the attributes, one child an object and several an array (at the place of the
/// first), an `@xmlns` map on the root only, and `@mixed.layout` (the child names in order)
/// after the children when an element has several child names of which one repeats. A
/// self-closed element without attributes is `{}`; an open/close pair with no content is
/// `{"$":""}`. Slashes are escaped (`\/`) as the live service does.
pub fn to_badgerfish(root: &Element, prefixes: &[(Option<&str>, Ns)]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push('{');
    push_key(&mut out, &json_name(root.ns, &root.name, prefixes));
    out.push(':');
    json_element(&mut out, root, prefixes, true);
    out.push('}');
    out.replace('/', "\\/")
}

fn json_name(ns: Ns, name: &str, prefixes: &[(Option<&str>, Ns)]) -> String {
    match prefixes.iter().find(|(_, n)| *n == ns) {
        Some((Some(p), _)) => format!("{p}:{name}"),
        _ => name.to_owned(),
    }
}

fn push_key(out: &mut String, key: &str) {
    push_json_string(out, key);
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_element(out: &mut String, el: &Element, prefixes: &[(Option<&str>, Ns)], is_root: bool) {
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    if is_root {
        sep(out);
        push_key(out, "@xmlns");
        out.push_str(":{");
        for (i, (p, ns)) in prefixes.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_key(out, p.unwrap_or("$"));
            out.push(':');
            push_json_string(out, ns.uri());
        }
        out.push('}');
    }
    for a in &el.attrs {
        sep(out);
        push_key(out, &format!("@{}", json_name(a.ns, &a.name, prefixes)));
        out.push(':');
        push_json_string(out, &a.value);
    }
    let kids: Vec<&Element> = el.elements().collect();
    if kids.is_empty() {
        if !el.children.is_empty() {
            sep(out);
            push_key(out, "$");
            out.push(':');
            push_json_string(out, &el.text());
        }
    } else {
        let names: Vec<String> = kids.iter().map(|k| json_name(k.ns, &k.name, prefixes)).collect();
        let mut order: Vec<&str> = Vec::new();
        for n in &names {
            if !order.contains(&n.as_str()) {
                order.push(n);
            }
        }
        for key in &order {
            let group: Vec<&Element> = kids
                .iter()
                .zip(&names)
                .filter(|(_, n)| n == key)
                .map(|(k, _)| *k)
                .collect();
            sep(out);
            push_key(out, key);
            out.push(':');
            if let [only] = group.as_slice() {
                json_element(out, only, prefixes, false);
            } else {
                out.push('[');
                for (i, g) in group.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_element(out, g, prefixes, false);
                }
                out.push(']');
            }
        }
        let mixed_text: String = el
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) if !t.trim().is_empty() => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if !mixed_text.is_empty() {
            sep(out);
            push_key(out, "$");
            out.push(':');
            push_json_string(out, &mixed_text);
        }
        if order.len() > 1 && order.len() < names.len() {
            sep(out);
            push_key(out, "@mixed.layout");
            out.push_str(":[");
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, n);
            }
            out.push(']');
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIXES: &[(Option<&str>, Ns)] = &[(Some("ops"), Ns::Ops), (Some("reg"), Ns::Register)];

    fn style(indent: Option<usize>) -> Style {
        Style {
            declaration: r#"<?xml version="1.0"?>"#,
            stylesheet: None,
            prefixes: &[(Some("ops"), Ns::Ops), (Some("reg"), Ns::Register)],
            indent,
        }
    }

    #[test]
    fn parses_by_uri_and_rewrites_prefixes() {
        let doc = parse(
            r#"<?xml version="1.0"?><?xml-stylesheet href='x'?><a:r xmlns:a="http://ops.epo.org"
               xmlns:b="http://www.epo.org/register">
                 <b:x k="1 &amp; 2">t&lt;u</b:x><b:e/><b:p></b:p></a:r>"#,
        )
        .unwrap();
        assert!(doc.is(Ns::Ops, "r"));
        let x = doc.child(Ns::Register, "x").unwrap();
        assert_eq!(x.attr("k"), Some("1 & 2"));
        assert_eq!(x.text(), "t<u");
        assert!(doc.child(Ns::Register, "e").unwrap().children.is_empty());
        assert_eq!(
            doc.child(Ns::Register, "p").unwrap().children,
            vec![Node::Text(String::new())]
        );
        let out = serialize(&doc, &style(None));
        assert_eq!(
            out,
            r#"<?xml version="1.0"?><ops:r xmlns:ops="http://ops.epo.org" xmlns:reg="http://www.epo.org/register"><reg:x k="1 &amp; 2">t&lt;u</reg:x><reg:e/><reg:p></reg:p></ops:r>"#
        );
        assert_eq!(parse(&out).unwrap(), doc);
    }

    #[test]
    fn keeps_significant_whitespace_and_indents() {
        let doc = parse(r#"<r xmlns="http://www.epo.org/exchange"><c>  10 </c><d> </d></r>"#).unwrap();
        assert_eq!(doc.child(Ns::Exchange, "c").unwrap().text(), "  10 ");
        assert_eq!(doc.child(Ns::Exchange, "d").unwrap().text(), " ");
        let st = Style {
            declaration: "",
            stylesheet: None,
            prefixes: &[(None, Ns::Exchange), (Some("ops"), Ns::Ops)],
            indent: Some(2),
        };
        let out = serialize(&doc, &st);
        assert_eq!(
            out,
            "\n<r xmlns=\"http://www.epo.org/exchange\" xmlns:ops=\"http://ops.epo.org\">\n  <c>  10 </c>\n  <d> </d>\n</r>"
        );
        assert_eq!(parse(&out).unwrap(), doc);
    }

    #[test]
    fn unmapped_namespaces_are_declared_where_used() {
        let doc = Element::new(Ns::Ops, "r")
            .with_child(Element::new(Ns::None, "plain"))
            .with_child(Element::new(Ns::Exchange, "x").with_child(Element::new(Ns::Exchange, "y")));
        let out = serialize(&doc, &style(None));
        assert_eq!(parse(&out).unwrap(), doc);
    }

    #[test]
    fn rejects_foreign_namespaces_and_bad_syntax() {
        assert!(matches!(
            parse(r#"<r xmlns="urn:x"/>"#),
            Err(XmlError::UnknownNamespace(_))
        ));
        assert!(matches!(parse("<r><a></r>"), Err(XmlError::Syntax(_))));
        assert!(matches!(parse("  "), Err(XmlError::NoRoot)));
        assert!(matches!(parse("<r>&nbsp;</r>"), Err(XmlError::UnknownEntity(_))));
    }

    #[test]
    fn badgerfish_follows_the_live_shape() {
        let doc = parse(
            r#"<ops:w xmlns:ops="http://ops.epo.org" xmlns:reg="http://www.epo.org/register">
                 <reg:s a="1" b="">text/x</reg:s>
                 <reg:l><reg:t>A</reg:t><reg:t>B</reg:t><reg:u/><reg:v></reg:v></reg:l>
                 <reg:one><reg:c>x</reg:c></reg:one></ops:w>"#,
        )
        .unwrap();
        let json = to_badgerfish(&doc, PREFIXES);
        assert!(json.contains(r#""text\/x""#));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let w = &v["ops:w"];
        assert_eq!(w["@xmlns"]["reg"], "http://www.epo.org/register");
        assert_eq!(
            w["reg:s"],
            serde_json::json!({"@a": "1", "@b": "", "$": "text/x"})
        );
        assert_eq!(w["reg:l"]["reg:t"], serde_json::json!([{"$": "A"}, {"$": "B"}]));
        assert_eq!(w["reg:l"]["reg:u"], serde_json::json!({}));
        assert_eq!(w["reg:l"]["reg:v"], serde_json::json!({"$": ""}));
        assert_eq!(
            w["reg:l"]["@mixed.layout"],
            serde_json::json!(["reg:t", "reg:t", "reg:u", "reg:v"])
        );
        assert!(w["reg:one"].get("@mixed.layout").is_none());
        assert!(w.get("@mixed.layout").is_none());
    }
}
