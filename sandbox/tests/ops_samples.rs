//! Round-trip fidelity: every recorded OPS sample in `sandbox/data/ops-samples/` (the repository copy of `shared/ops-samples/`) is requested from the
//! sandbox and the answer is compared with the file element by element, namespace-aware, with
//! an independent parser (roxmltree). The stylesheet PI and whitespace-only text between
//! elements are ignored; attributes are compared by (namespace, name). Register answers are
//! checked in both prefix eras.

use std::path::PathBuf;

use mailroom_sandbox::{SandboxOptions, spawn_local};
use roxmltree::{Document, Node, NodeId};
use serde_json::{Value, json};

const REG: &str = "http://www.epo.org/register";

fn samples_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ops-samples"))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(samples_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Each XML sample and the request that reproduces it: (file, path, Range header, is register XML).
const CASES: &[(&str, &str, Option<&str>, bool)] = &[
    (
        "register-biblio_EP2400812_2025.xml",
        "register/publication/epodoc/EP.2400812.A1/biblio",
        None,
        true,
    ),
    (
        "register-events_EP2400812_2025.xml",
        "register/publication/epodoc/EP.2400812.A1/events",
        None,
        true,
    ),
    (
        "register-procedural-steps_EP2400812_2025.xml",
        "register/publication/epodoc/EP.2400812.A1/procedural-steps",
        None,
        true,
    ),
    (
        "register-biblio_EP3000000_2022.xml",
        "register/publication/epodoc/EP3000000/biblio",
        None,
        true,
    ),
    (
        "register-events_EP1000000_2022.xml",
        "register/publication/epodoc/EP1000000/events",
        None,
        true,
    ),
    (
        "register-procedural-steps_EP1000000_2022.xml",
        "register/publication/epodoc/EP1000000/procedural-steps",
        None,
        true,
    ),
    (
        "register-search_ti-battery_range1-5_2025.xml",
        "register/search?q=ti%3Dbattery",
        Some("1-5"),
        true,
    ),
    (
        "register-search-biblio_ti-solar_range1-3_2025.xml",
        "register/search/biblio?q=ti%3Dsolar",
        Some("1-3"),
        true,
    ),
    (
        "legal_EP2400812A1_2025.xml",
        "legal/publication/docdb/EP.2400812.A1",
        None,
        false,
    ),
    (
        "legal_US10465445B2.xml",
        "legal/publication/docdb/US.10465445.B2",
        None,
        false,
    ),
    (
        "family_EP2400812A1_2025.xml",
        "family/publication/docdb/EP.2400812.A1",
        None,
        false,
    ),
    (
        "family-legal_EP2400812A1_2025.xml",
        "family/publication/docdb/EP.2400812.A1/legal",
        None,
        false,
    ),
];

/// Compares two elements and their subtrees; panics with the path of the first difference.
fn assert_same(expected: Node<'_, '_>, served: Node<'_, '_>, path: &str) {
    let name = |n: Node<'_, '_>| {
        (
            n.tag_name().namespace().map(str::to_owned),
            n.tag_name().name().to_owned(),
        )
    };
    assert_eq!(name(expected), name(served), "element differs at {path}");
    let here = format!("{path}/{}", expected.tag_name().name());
    let attrs = |n: Node<'_, '_>| {
        let mut a: Vec<(Option<String>, String, String)> = n
            .attributes()
            .map(|a| {
                (
                    a.namespace().map(str::to_owned),
                    a.name().to_owned(),
                    a.value().to_owned(),
                )
            })
            .collect();
        a.sort();
        a
    };
    assert_eq!(attrs(expected), attrs(served), "attributes differ at {here}");
    let text = |n: Node<'_, '_>| -> String {
        let t: String = n
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        if t.trim().is_empty() && n.children().any(|c| c.is_element()) {
            String::new()
        } else {
            t
        }
    };
    assert_eq!(text(expected), text(served), "text differs at {here}");
    let (a, b) = (element_children(expected), element_children(served));
    assert_eq!(a.len(), b.len(), "number of children differs at {here}");
    for (i, (x, y)) in a.into_iter().zip(b).enumerate() {
        assert_same(x, y, &format!("{here}[{i}]"));
    }
}

fn element_children<'a, 'i>(n: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    n.children().filter(|c| c.is_element()).collect()
}

struct Client {
    base: String,
    ops: String,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn new(sb: &mailroom_sandbox::RunningSandbox) -> Client {
        let http = reqwest::Client::new();
        let ops = sb.urls().ops_base;
        let v: Value = http
            .post(format!("{ops}/auth/accesstoken"))
            .basic_auth("sandbox-key", Some("sandbox-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            base: sb.base_url(),
            ops,
            http,
            token: v["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn get(&self, path: &str, range: Option<&str>) -> String {
        let mut req = self
            .http
            .get(format!("{}/rest-services/{path}", self.ops))
            .bearer_auth(&self.token);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.text().await.unwrap()
    }

    async fn era(&self, era: &str) {
        let resp = self
            .http
            .post(format!("{}/_sandbox/ops/settings", self.base))
            .json(&json!({ "prefix_era": era }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
}

#[test]
fn every_sample_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".xml"))
        .collect();
    files.sort();
    let mut covered: Vec<String> = CASES.iter().map(|c| c.0.to_owned()).collect();
    covered.sort();
    assert_eq!(files, covered, "a sample was added or removed: cover it here");
}

#[tokio::test]
async fn every_xml_sample_round_trips_in_both_eras() {
    let sb = spawn_local(SandboxOptions::default()).await.unwrap();
    let c = Client::new(&sb).await;
    for era in ["2025", "2022"] {
        c.era(era).await;
        for (file, path, range, _) in CASES {
            let expected = read(file);
            let served = c.get(path, *range).await;
            let (e, s) = (
                Document::parse(&expected).unwrap(),
                Document::parse(&served).unwrap(),
            );
            assert_same(e.root_element(), s.root_element(), &format!("{file} ({era})"));
        }
    }
}

#[tokio::test]
async fn register_prefixes_follow_the_era_and_inpadoc_is_byte_identical() {
    let sb = spawn_local(SandboxOptions::default()).await.unwrap();
    let c = Client::new(&sb).await;
    for (era, prefix) in [("2025", "ns3:"), ("2022", "reg:")] {
        c.era(era).await;
        for (file, path, range, register) in CASES {
            let served = c.get(path, *range).await;
            if *register {
                assert!(
                    served.contains(&format!("<{prefix}register-documents")),
                    "{file} ({era})"
                );
            } else {
                assert_eq!(served, read(file), "{file} is served verbatim");
            }
        }
    }
}

#[tokio::test]
async fn the_combined_ep2400812_document_holds_exactly_the_three_files() {
    let sb = spawn_local(SandboxOptions::default()).await.unwrap();
    let c = Client::new(&sb).await;
    let served = c
        .get(
            "register/publication/epodoc/EP2400812/biblio,events,procedural-steps",
            None,
        )
        .await;
    let served = Document::parse(&served).unwrap();
    let doc_of = |d: &'_ Document<'_>| -> Vec<(String, NodeId)> {
        let rd = d
            .descendants()
            .find(|n| n.has_tag_name((REG, "register-document")))
            .unwrap();
        element_children(rd)
            .into_iter()
            .map(|n| (n.tag_name().name().to_owned(), n.id()))
            .collect()
    };
    let parts = |d: &'_ Document<'_>, name: &str| -> Vec<NodeId> {
        doc_of(d)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, id)| id)
            .collect()
    };

    let files = [
        read("register-biblio_EP2400812_2025.xml"),
        read("register-events_EP2400812_2025.xml"),
        read("register-procedural-steps_EP2400812_2025.xml"),
    ];
    let docs: Vec<Document<'_>> = files.iter().map(|f| Document::parse(f).unwrap()).collect();

    // Statuses and document attributes: the same in all three files and in the combination.
    for d in &docs {
        let (a, b) = (
            parts(d, "ep-patent-statuses"),
            parts(&served, "ep-patent-statuses"),
        );
        assert_same(node(d, a[0]), node(&served, b[0]), "ep-patent-statuses");
        let attrs = |d: &'_ Document<'_>| {
            let rd = d
                .descendants()
                .find(|n| n.has_tag_name((REG, "register-document")))
                .unwrap();
            rd.attributes()
                .map(|a| (a.name().to_owned(), a.value().to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(attrs(d), attrs(&served));
    }
    for (doc, part) in [
        (&docs[0], "bibliographic-data"),
        (&docs[2], "procedural-data"),
        (&docs[1], "events-data"),
    ] {
        let (want, got) = (parts(doc, part), parts(&served, part));
        assert_eq!(want.len(), got.len(), "{part}");
        for (w, g) in want.into_iter().zip(got) {
            assert_same(node(doc, w), node(&served, g), part);
        }
    }
    let order: Vec<String> = doc_of(&served).into_iter().map(|(n, _)| n).collect();
    assert_eq!(order.len(), 1 + 1 + 1 + 55);
    assert_eq!(
        order[..3],
        ["ep-patent-statuses", "bibliographic-data", "procedural-data"]
    );
}

fn node<'a, 'i>(d: &'a Document<'i>, id: NodeId) -> Node<'a, 'i> {
    d.get_node(id).unwrap()
}

/// The body of a YAML double-quoted scalar starting at `from` (folded lines, `\n` `\t` `\"` escapes).
fn yaml_quoted(text: &str, from: usize) -> String {
    let mut out = String::new();
    let mut chars = text[from..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => break,
            },
            '\n' => {
                while chars.peek().is_some_and(|c| *c == ' ') {
                    chars.next();
                }
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn the_recorded_fair_use_rejection_and_token_reply_match() {
    let cassette = read("cassette_403-fair-use_and_token_2014-2015.yml");
    let start = cassette.find("string: \"<error>").unwrap() + "string: \"".len();
    let recorded_403 = yaml_quoted(&cassette, start);
    assert!(cassette.contains("X-Rejection-Reason"));

    let sb = spawn_local(SandboxOptions::default()).await.unwrap();
    let http = reqwest::Client::new();
    let ops = sb.urls().ops_base;
    let resp = http
        .get(format!(
            "{ops}/rest-services/register/search?Range=1-2&q=pd=20140115"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().contains_key("x-rejection-reason"));
    let served = resp.text().await.unwrap();
    let (e, s) = (
        Document::parse(&recorded_403).unwrap(),
        Document::parse(&served).unwrap(),
    );
    let field = |d: &Document<'_>, name: &str| {
        d.root_element()
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    let names = |d: &Document<'_>| {
        d.root_element()
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        e.root_element().tag_name().name(),
        s.root_element().tag_name().name()
    );
    assert_eq!(names(&e), names(&s));
    assert_eq!(field(&e, "code"), field(&s, "code"));
    assert_eq!(field(&e, "message"), field(&s, "message"));
    // The fair-use page moved between 2014 and 2022; the sandbox sends the 2022 address.
    assert!(field(&s, "moreInfo").unwrap().contains("fair-use.html"));

    // Token reply: the same members as recorded, every value a string.
    let block = cassette.split("string: |-").nth(1).unwrap();
    let json_text: String = block
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .collect::<Vec<_>>()
        .join("\n");
    let recorded: Value = serde_json::from_str(&json_text).unwrap();
    let served: Value = http
        .post(format!("{ops}/auth/accesstoken"))
        .basic_auth("sandbox-key", Some("sandbox-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&recorded), keys(&served));
    for (k, v) in served.as_object().unwrap() {
        assert!(v.is_string(), "{k}");
        assert_eq!(recorded[k].is_string(), v.is_string(), "{k}");
    }
    assert_eq!(served["token_type"], recorded["token_type"]);
    assert_eq!(served["expires_in"], recorded["expires_in"]);
}

#[test]
#[should_panic(expected = "attributes differ")]
fn the_comparison_notices_a_changed_attribute() {
    let a = Document::parse(r#"<r xmlns="http://www.epo.org/register"><s code="7">x</s></r>"#).unwrap();
    let b =
        Document::parse(r#"<p:r xmlns:p="http://www.epo.org/register"><p:s code="8">x</p:s></p:r>"#).unwrap();
    assert_same(a.root_element(), b.root_element(), "");
}

#[test]
#[should_panic(expected = "text differs")]
fn the_comparison_notices_changed_text_but_not_prefixes_or_layout() {
    let a = Document::parse("<r xmlns=\"http://ops.epo.org\">\n  <s>x</s>\n</r>").unwrap();
    let b = Document::parse(r#"<o:r xmlns:o="http://ops.epo.org"><o:s>x</o:s></o:r>"#).unwrap();
    assert_same(a.root_element(), b.root_element(), "");
    let c = Document::parse(r#"<o:r xmlns:o="http://ops.epo.org"><o:s>y</o:s></o:r>"#).unwrap();
    assert_same(a.root_element(), c.root_element(), "");
}
