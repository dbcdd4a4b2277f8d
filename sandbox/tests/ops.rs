//! Contract tests of the OPS simulator over real HTTP (`shared/api/epo-ops.md`).

use std::collections::HashMap;
use std::time::Duration;

use mailroom_sandbox::{OpsPrefixEra, RunningSandbox, SandboxOptions, spawn_local};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OPS: &str = "http://ops.epo.org";
const REG: &str = "http://www.epo.org/register";
const ALL: &str = "biblio,events,procedural-steps";

struct Ops {
    sb: RunningSandbox,
    http: reqwest::Client,
}

impl Ops {
    async fn start() -> Ops {
        Ops::with(SandboxOptions::default()).await
    }

    async fn with(opts: SandboxOptions) -> Ops {
        Ops {
            sb: spawn_local(opts).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.sb.urls().ops_base, path.trim_start_matches('/'))
    }

    fn rest(&self, path: &str) -> String {
        self.url(&format!("rest-services/{}", path.trim_start_matches('/')))
    }

    async fn token_response(&self) -> reqwest::Response {
        self.http
            .post(self.url("auth/accesstoken"))
            .basic_auth("sandbox-key", Some("sandbox-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    async fn token(&self) -> String {
        let v: Value = self.token_response().await.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.rest(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post_text(&self, token: &str, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.rest(path))
            .bearer_auth(token)
            .header("Content-Type", "text/plain")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn scenario(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{}", self.sb.base_url(), path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn scenario_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{}", self.sb.base_url(), path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `idle (images=green:200, …)` → ("idle", {images: ("green", 200), …}).
fn throttling(value: &str) -> (String, HashMap<String, (String, u32)>) {
    let (state, rest) = value.split_once(" (").unwrap();
    let services = rest
        .trim_end_matches(')')
        .split(", ")
        .map(|s| {
            let (name, cl) = s.split_once('=').unwrap();
            let (colour, limit) = cl.split_once(':').unwrap();
            (name.to_owned(), (colour.to_owned(), limit.parse().unwrap()))
        })
        .collect();
    (state.to_owned(), services)
}

fn assert_usage_headers(resp: &reqwest::Response) {
    let t = header(resp, "x-throttling-control").expect("X-Throttling-Control");
    let (state, services) = throttling(t);
    assert!(["idle", "busy", "overloaded"].contains(&state.as_str()), "{t}");
    assert_eq!(services.len(), 5, "{t}");
    for h in ["x-individualquotaperhour-used", "x-registeredquotaperweek-used"] {
        header(resp, h)
            .unwrap_or_else(|| panic!("{h} missing"))
            .parse::<u64>()
            .unwrap();
    }
}

fn fault_code(body: &str) -> String {
    let doc = roxmltree::Document::parse(body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "fault");
    assert_eq!(root.tag_name().namespace(), Some(OPS));
    root.children()
        .find(|n| n.has_tag_name((OPS, "code")))
        .and_then(|n| n.text())
        .unwrap()
        .to_owned()
}

fn reg_children<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    node.children().filter(|n| n.has_tag_name((REG, name))).collect()
}

fn register_documents<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name((REG, "register-document")))
        .collect()
}

fn ops_child<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants().find(|n| n.has_tag_name((OPS, name))).unwrap()
}

#[tokio::test]
async fn token_has_the_live_all_string_shape() {
    let ops = Ops::start().await;
    let resp = ops.token_response().await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    assert!(
        header(&resp, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(header(&resp, "x-throttling-control").is_none());
    let v: Value = resp.json().await.unwrap();
    let obj = v.as_object().unwrap();
    for (k, val) in obj {
        assert!(val.is_string(), "{k} is not a string: {val}");
    }
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    for k in [
        "refresh_token_expires_in",
        "api_product_list",
        "organization_name",
        "developer.email",
        "token_type",
        "issued_at",
        "client_id",
        "access_token",
        "application_name",
        "scope",
        "expires_in",
        "refresh_count",
        "status",
    ] {
        assert!(keys.contains(&k), "{k} missing");
    }
    assert_eq!(v["token_type"], "BearerToken");
    assert_eq!(v["expires_in"], "1199");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["client_id"], "sandbox-key");
    let issued: i64 = v["issued_at"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp_millis() - issued).abs() < 60_000);
}

#[tokio::test]
async fn token_errors() {
    let ops = Ops::start().await;
    let resp = ops
        .http
        .post(ops.url("auth/accesstoken"))
        .basic_auth("sandbox-key", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(header(&resp, "www-authenticate"), Some("Basic"));
    assert_eq!(
        resp.text().await.unwrap(),
        "<error><code>401</code><message>ClientId is Invalid</message></error>"
    );

    let resp = ops
        .http
        .post(ops.url("auth/accesstoken"))
        .basic_auth("sandbox-key", Some("sandbox-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<message>invalid_request</message>"), "{body}");
    assert!(body.contains("Required param : grant_type"), "{body}");

    let resp = ops
        .http
        .post(ops.url("auth/accesstoken"))
        .basic_auth("sandbox-key", Some("sandbox-secret"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("unsupported_grant_type"));

    let resp = ops.http.get(ops.url("auth/accesstoken")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    roxmltree::Document::parse(&resp.text().await.unwrap()).unwrap();
}

#[tokio::test]
async fn service_calls_need_a_live_bearer_token() {
    let ops = Ops::start().await;
    let path = "register/publication/epodoc/EP2400812";

    let resp = ops.http.get(ops.rest(path)).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "x-rejection-reason"), Some("AnonymousQuotaPerDay"));
    assert_eq!(header(&resp, "content-type"), Some("text/xml"), "as recorded");
    assert_usage_headers(&resp);
    let body = resp.text().await.unwrap();
    assert!(body.contains("violation of Fair Use policy"), "{body}");

    let resp = ops.get("not-a-token", path).await;
    assert_eq!(resp.status(), 400);
    assert_usage_headers(&resp);
    assert_eq!(
        header(&resp, "www-authenticate"),
        Some(
            "Bearer realm=\"null\",error=\"invalid_token\",error_description=\"keymanagement.service.\
             access_token_expired: Access Token expired\""
        )
    );
    assert_eq!(
        resp.text().await.unwrap(),
        "<error><code>400</code><message>invalid_access_token</message><description>Access token is invalid\
         </description></error>"
    );

    let token = ops.token().await;
    assert_eq!(ops.get(&token, path).await.status(), 200);
    let v = ops
        .scenario(
            "/_sandbox/faults",
            json!({"office": "ops", "kind": "expire_token"}),
        )
        .await;
    assert_eq!(v["expired_tokens"], 1);
    let resp = ops.get(&token, path).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("invalid_access_token"));
    let fresh = ops.token().await;
    assert_eq!(ops.get(&fresh, path).await.status(), 200);
}

#[tokio::test]
async fn token_lifetime_is_configurable_and_runs_on_real_time() {
    let ops = Ops::start().await;
    let s = ops
        .scenario("/_sandbox/ops/settings", json!({"token_lifetime_secs": 1}))
        .await;
    assert_eq!(s["token_lifetime_secs"], 1);
    let v: Value = ops.token_response().await.json().await.unwrap();
    assert_eq!(v["expires_in"], "1");
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(
        ops.get(token, "register/publication/epodoc/EP2400812")
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ops.get(token, "register/publication/epodoc/EP2400812")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn one_call_gives_biblio_events_and_steps_wrapped_as_a_search() {
    let ops = Ops::start().await;
    let token = ops.token().await;
    let resp = ops
        .get(&token, &format!("register/application/epodoc/EP10167109/{ALL}"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), Some("application/xml"));
    assert_usage_headers(&resp);
    let (_, services) = throttling(header(&resp, "x-throttling-control").unwrap());
    assert_eq!(services["other"], ("green".to_owned(), 1000));
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("href='../../../../../style/rplus.xsl'"),
        "PI depth follows the path"
    );
    let doc = roxmltree::Document::parse(&body).unwrap();
    let search = ops_child(&doc, "register-search");
    assert_eq!(search.attribute("total-result-count"), Some("1"));
    assert_eq!(ops_child(&doc, "query").text(), Some("application=EP10167109"));
    assert_eq!(ops_child(&doc, "query").attribute("syntax"), Some("CQL"));
    let range = ops_child(&doc, "range");
    assert_eq!(
        (range.attribute("begin"), range.attribute("end")),
        (Some("1"), Some("1"))
    );
    let docs = register_documents(&doc);
    assert_eq!(docs.len(), 1);
    let d = docs[0];
    assert_eq!(
        d.attribute("status"),
        Some("No opposition filed within time limit")
    );
    let order: Vec<&str> = d
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(
        order[..3],
        ["ep-patent-statuses", "bibliographic-data", "procedural-data"]
    );
    assert!(order[3..].iter().all(|n| *n == "events-data"));
    assert_eq!(order.len() - 3, 55);
    let statuses = reg_children(reg_children(d, "ep-patent-statuses")[0], "ep-patent-status");
    assert_eq!(statuses.len(), 4);
    assert_eq!(statuses[0].attribute("status-code"), Some("7"));
    let steps = reg_children(reg_children(d, "procedural-data")[0], "procedural-step");
    assert_eq!(steps.len(), 19);
}

#[tokio::test]
async fn retrieval_variants_and_not_found() {
    let ops = Ops::start().await;
    let t = ops.token().await;

    // Default constituent is biblio; docdb-ish and bracketed numbers are accepted.
    for path in [
        "register/publication/epodoc/EP2400812",
        "register/publication/epodoc/EP.2400812.A1/biblio",
        "register/publication/epodoc/%28EP2400812%29",
    ] {
        let resp = ops.get(&t, path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let body = resp.text().await.unwrap();
        let doc = roxmltree::Document::parse(&body).unwrap();
        assert_eq!(
            ops_child(&doc, "query").text(),
            Some("publication=EP2400812"),
            "{path}"
        );
        let d = register_documents(&doc)[0];
        assert_eq!(reg_children(d, "bibliographic-data").len(), 1);
        assert!(reg_children(d, "events-data").is_empty());
    }

    // EP3000000 has no events: the constituent adds nothing. EP1000000 has no application number.
    let body = ops
        .get(&t, "register/publication/epodoc/EP3000000/events")
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let d = register_documents(&doc)[0];
    assert_eq!(reg_children(d, "ep-patent-statuses").len(), 1);
    assert!(reg_children(d, "events-data").is_empty());
    let body = ops
        .get(&t, "register/publication/epodoc/EP1000000/events")
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(reg_children(register_documents(&doc)[0], "events-data").len(), 32);
    let body = ops
        .get(&t, "register/application/epodoc/EP14735465/upp")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("application=EP14735465"));

    let resp = ops.get(&t, "register/publication/epodoc/EP7654321").await;
    assert_eq!(resp.status(), 404);
    assert_usage_headers(&resp);
    assert_eq!(
        resp.text().await.unwrap(),
        "<fault xmlns=\"http://ops.epo.org\"><code>SERVER.EntityNotFound</code><message>No results found\
         </message></fault>"
    );
    // A publication number is not an application number.
    assert_eq!(
        ops.get(&t, "register/application/epodoc/EP2400812")
            .await
            .status(),
        404
    );

    ops.scenario("/_sandbox/ops/settings", json!({"not_found": "empty"}))
        .await;
    let resp = ops.get(&t, "register/publication/epodoc/EP7654321").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.unwrap(), "");

    for (path, status, code) in [
        (
            "register/publication/epodoc/EP2400812/claims",
            404,
            "CLIENT.NotFound",
        ),
        (
            "register/priority/epodoc/EP2400812",
            404,
            "CLIENT.InvalidReference",
        ),
        (
            "register/publication/docdb/EP.2400812.A1",
            404,
            "CLIENT.InvalidReference",
        ),
        ("register/publication/epodoc/XYZ", 404, "CLIENT.InvalidReference"),
        (
            "published-data/publication/epodoc/EP2400812/biblio",
            404,
            "CLIENT.NotFound",
        ),
    ] {
        let resp = ops.get(&t, path).await;
        assert_eq!(resp.status(), status, "{path}");
        assert_usage_headers(&resp);
        assert_eq!(fault_code(&resp.text().await.unwrap()), code, "{path}");
    }
    // Unserved services still count in their own bucket.
    let resp = ops
        .get(&t, "published-data/publication/epodoc/EP2400812/biblio")
        .await;
    let (_, services) = throttling(header(&resp, "x-throttling-control").unwrap());
    assert_eq!(services["retrieval"], ("green".to_owned(), 200));

    let resp = ops
        .http
        .get(ops.rest("register/publication/epodoc/EP2400812"))
        .bearer_auth(&t)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "CLIENT.MethodNotAllowed");
}

#[tokio::test]
async fn post_retrieval_takes_text_plain_numbers_first_only_or_all() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let resp = ops
        .post_text(
            &t,
            "register/publication/epodoc/biblio,events",
            "EP2400812\nEP3000000\nEP1000000",
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("xml-stylesheet"), "POST answers carry no PI");
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(register_documents(&doc).len(), 1);
    assert_eq!(ops_child(&doc, "query").text(), Some("publication=EP2400812"));

    ops.scenario("/_sandbox/ops/settings", json!({"multi_number_post": "all"}))
        .await;
    let body = ops
        .post_text(
            &t,
            "register/publication/epodoc",
            "(EP2400812)\n(EP3000000)\nEP7777777",
        )
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(register_documents(&doc).len(), 2);
    assert_eq!(
        ops_child(&doc, "register-search").attribute("total-result-count"),
        Some("2")
    );

    let resp = ops
        .http
        .post(ops.rest("register/publication/epodoc"))
        .bearer_auth(&t)
        .body("EP2400812")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(
        fault_code(&resp.text().await.unwrap()),
        "CLIENT.UnsupportedMediaType"
    );
    let resp = ops.post_text(&t, "register/publication/epodoc", "  ").await;
    assert_eq!(resp.status(), 400);
}

/// An element as (namespace, name, sorted attributes, non-blank text).
type Flat = (String, String, Vec<(String, String)>, String);

/// Every element in document order, whitespace-only text dropped.
fn canonical(xml: &str) -> Vec<Flat> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.is_element())
        .map(|n| {
            let mut attrs: Vec<(String, String)> = n
                .attributes()
                .map(|a| {
                    (
                        format!("{}{}", a.namespace().unwrap_or(""), a.name()),
                        a.value().to_owned(),
                    )
                })
                .collect();
            attrs.sort();
            let text: String = n
                .children()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .filter(|t| !t.trim().is_empty())
                .collect();
            (
                n.tag_name().namespace().unwrap_or("").to_owned(),
                n.tag_name().name().to_owned(),
                attrs,
                text,
            )
        })
        .collect()
}

#[tokio::test]
async fn prefix_eras_change_prefixes_only() {
    assert_eq!(OpsPrefixEra::default(), "2025".parse().unwrap());
    for name in OpsPrefixEra::NAMES {
        assert_eq!(name.parse::<OpsPrefixEra>().unwrap().to_string(), *name);
    }
    assert_eq!(
        "ops/reg".parse::<OpsPrefixEra>().unwrap(),
        OpsPrefixEra::OpsReg2022
    );
    assert!("1999".parse::<OpsPrefixEra>().is_err());

    let ops = Ops::start().await;
    let t = ops.token().await;
    let path = format!("register/publication/epodoc/EP2400812/{ALL}");
    let new = ops.get(&t, &path).await.text().await.unwrap();
    assert!(new.starts_with(r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>"#));
    assert!(
        new.contains("<ns2:world-patent-data") && new.contains("xmlns:ns3=\"http://www.epo.org/register\"")
    );
    assert!(!new.contains('\n'));
    ops.scenario("/_sandbox/ops/settings", json!({"prefix_era": "2022"}))
        .await;
    let old = ops.get(&t, &path).await.text().await.unwrap();
    assert!(old.contains("<ops:world-patent-data") && old.contains("<reg:register-document "));
    assert!(old.contains("href='/3.2/style/rplus.xsl'"));
    assert!(old.contains("\n    <ops:register-search"));
    assert_eq!(canonical(&new), canonical(&old));

    let ops22 = Ops::with(SandboxOptions {
        ops_prefix_era: OpsPrefixEra::OpsReg2022,
        ..SandboxOptions::default()
    })
    .await;
    let t = ops22.token().await;
    let s = ops22.scenario_get("/_sandbox/ops/settings").await;
    assert_eq!(s["prefix_era"], "2022");
    assert!(
        ops22
            .get(&t, &path)
            .await
            .text()
            .await
            .unwrap()
            .contains("<reg:events-data>")
    );
}

fn all_scalars_are_strings(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => a.iter().all(all_scalars_are_strings),
        Value::Object(o) => o.values().all(all_scalars_are_strings),
        _ => false,
    }
}

#[tokio::test]
async fn json_is_badgerfish_and_errors_stay_xml() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let get_json = |path: String| {
        let req = ops
            .http
            .get(ops.rest(&path))
            .bearer_auth(&t)
            .header("Accept", "application/json");
        async move { req.send().await.unwrap() }
    };
    let resp = get_json(format!("register/publication/epodoc/EP2400812/{ALL}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    let raw = resp.text().await.unwrap();
    assert!(
        raw.contains(r#""http:\/\/ops.epo.org""#),
        "slashes are escaped like OPS does"
    );
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert!(all_scalars_are_strings(&v));
    let w = &v["ops:world-patent-data"];
    assert_eq!(w["@xmlns"]["reg"], REG);
    assert_eq!(w["@xmlns"]["ops"], OPS);
    let s = &w["ops:register-search"];
    assert_eq!(s["@total-result-count"], "1");
    assert_eq!(
        s["ops:query"],
        json!({"@syntax": "CQL", "$": "publication=EP2400812"})
    );
    let d = &s["reg:register-documents"]["reg:register-document"];
    assert_eq!(d["reg:events-data"].as_array().unwrap().len(), 55);
    assert_eq!(
        d["reg:procedural-data"]["reg:procedural-step"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
    assert_eq!(
        d["reg:ep-patent-statuses"]["reg:ep-patent-status"][0]["@status-code"],
        "7"
    );
    let b = &d["reg:bibliographic-data"];
    assert_eq!(b["@id"], "EP10167109P");
    assert!(b["@mixed.layout"].as_array().unwrap().len() > 10);
    // `<country></country>` is `{"$":""}`, `<country/>` would be `{}` (as live).
    let applicant = &b["reg:parties"]["reg:applicants"][0]["reg:applicant"];
    assert_eq!(applicant["reg:nationality"]["reg:country"], json!({"$": ""}));

    // The recorded plain search: `<country/>` → `{}`, `<country></country>` → `{"$":""}`, as in the
    // live JSON capture of a Register search page.
    let v: Value = get_json("register/search?q=ti%3Dbattery".into())
        .await
        .json()
        .await
        .unwrap();
    let hits =
        &v["ops:world-patent-data"]["ops:register-search"]["reg:register-documents"]["reg:register-document"];
    let hit = &hits.as_array().unwrap()[0];
    assert_eq!(
        hit["reg:ep-patent-statuses"]["reg:ep-patent-status"],
        json!({"@change-date": "", "@status-code": ""})
    );
    let applicant = &hit["reg:bibliographic-data"]["reg:parties"]["reg:applicants"]["reg:applicant"];
    assert_eq!(
        applicant["reg:addressbook"]["reg:address"]["reg:country"],
        json!({})
    );
    assert_eq!(applicant["reg:nationality"]["reg:country"], json!({"$": ""}));
    assert_eq!(
        hit["reg:bibliographic-data"]["@mixed.layout"],
        json!([
            "reg:publication-reference",
            "reg:classifications-ipcr",
            "reg:application-reference",
            "reg:parties",
            "reg:invention-title",
            "reg:invention-title",
            "reg:invention-title"
        ])
    );

    let resp = get_json("legal/publication/docdb/EP.2400812.A1".into()).await;
    let v: Value = resp.json().await.unwrap();
    let fam = &v["ops:world-patent-data"]["ops:patent-family"];
    assert_eq!(
        v["ops:world-patent-data"]["@xmlns"]["$"],
        "http://www.epo.org/exchange"
    );
    // The legal answer holds the one member asked for, with its 69 legal events.
    assert_eq!(
        fam["ops:family-member"]["ops:legal"].as_array().unwrap().len(),
        69
    );
    assert_eq!(fam["ops:family-member"]["ops:legal"][0]["@code"], "AK  ");

    let resp = get_json("register/publication/epodoc/EP7654321".into()).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "SERVER.EntityNotFound");
}

#[tokio::test]
async fn register_search_ranges_and_queries() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let search = |q: &str, range_header: Option<&str>, extra: &str, constituent: &str| {
        let mut req = ops
            .http
            .get(ops.rest(&format!("register/search{constituent}?q={}{extra}", urlencode(q))))
            .bearer_auth(&t);
        if let Some(r) = range_header {
            req = req.header("Range", r);
        }
        async move { req.send().await.unwrap() }
    };
    let page = |body: &str| {
        let doc = roxmltree::Document::parse(body).unwrap();
        let s = ops_child(&doc, "register-search");
        let r = ops_child(&doc, "range");
        (
            s.attribute("total-result-count").unwrap().to_owned(),
            format!(
                "{}-{}",
                r.attribute("begin").unwrap(),
                r.attribute("end").unwrap()
            ),
            register_documents(&doc).len(),
        )
    };

    let resp = search("ti=battery", Some("1-5"), "", "").await;
    assert_eq!(resp.status(), 200);
    assert_usage_headers(&resp);
    let body = resp.text().await.unwrap();
    assert!(body.contains("href='../../style/rplus.xsl'"));
    assert_eq!(page(&body), ("10000".into(), "1-5".into(), 5));
    let body = search("ti=battery", None, "&Range=2-3", "")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&body), ("10000".into(), "2-3".into(), 2));
    let body = search("ti=battery", None, "", "").await.text().await.unwrap();
    assert_eq!(page(&body).2, 5, "only the recorded hits exist");
    assert_eq!(search("ti=battery", Some("6-10"), "", "").await.status(), 404);

    // The recorded /biblio query, plain: its hits reduced.
    let body = search("ti=solar", Some("1-3"), "", "/biblio")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&body), ("10000".into(), "1-3".into(), 3));
    let body = search("ti=solar", None, "", "").await.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let st = doc
        .descendants()
        .find(|n| n.has_tag_name((REG, "ep-patent-status")))
        .unwrap();
    assert_eq!(
        (st.attribute("status-code"), st.attribute("change-date")),
        (Some(""), Some(""))
    );

    let resp = search("ti=battery", Some("1-101"), "", "").await;
    assert_eq!(resp.status(), 413);
    assert_usage_headers(&resp);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "CLIENT.AmbiguousRequest");
    let resp = search("ti=battery", Some("x-y"), "", "").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "CLIENT.InvalidQuery");

    // The sandbox's own cases.
    let body = search("ti=bluetooth", None, "", "").await.text().await.unwrap();
    assert_eq!(page(&body), ("1".into(), "1-1".into(), 1));
    let doc = roxmltree::Document::parse(&body).unwrap();
    let d = register_documents(&doc)[0];
    assert_eq!(d.attribute("status"), None, "plain hits carry no status");
    let body = search("ti=bluetooth", None, "", "/biblio")
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(
        register_documents(&doc)[0].attribute("status"),
        Some("No opposition filed within time limit")
    );
    let body = search("pa=trumpf OR ti=\"bluetooth networking\"", None, "", "")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&body).0, "2");
    let body = search("pn=WO2014206532 and ap=EP14735465", None, "", "")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&body).0, "1");

    let resp = search("ti=nothing-like-this", None, "", "").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "SERVER.EntityNotFound");
    let resp = search("pd=20140115", None, "", "").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "CLIENT.CQL");
    let resp = ops.get(&t, "register/search").await;
    assert_eq!(resp.status(), 400);

    // POST with a form body, as python-epo-ops-client sends it.
    let resp = ops
        .http
        .post(ops.rest("register/search"))
        .bearer_auth(&t)
        .header("Content-Type", "text/plain")
        .header("Range", "1-2")
        .body("q=ti%3Dbattery")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("xml-stylesheet"));
    assert_eq!(page(&body), ("10000".into(), "1-2".into(), 2));

    // Synthetic cases are searchable and paged newest first.
    ops.scenario("/_sandbox/ops/cases", json!({"count": 30})).await;
    let body = search("ti=bluetooth", None, "", "").await.text().await.unwrap();
    assert_eq!(page(&body), ("31".into(), "1-25".into(), 25));
    assert!(body.contains("<ns3:doc-number>9000030</ns3:doc-number>"));
    let body = search("ti=bluetooth", Some("26-40"), "", "")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page(&body), ("31".into(), "26-31".into(), 6));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sample(file: &str) -> String {
    std::fs::read_to_string(format!("{}/data/ops-samples/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn legal_and_family_are_served_verbatim_in_the_inpadoc_bucket() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let get = |path: &str| {
        let req = ops
            .http
            .get(ops.rest(path))
            .bearer_auth(&t)
            .header("Accept", "application/ops+xml");
        async move { req.send().await.unwrap() }
    };
    for (path, file) in [
        (
            "legal/publication/docdb/EP.2400812.A1",
            "legal_EP2400812A1_2025.xml",
        ),
        ("legal/publication/epodoc/EP2400812", "legal_EP2400812A1_2025.xml"),
        (
            "legal/application/docdb/EP.10167109.A",
            "legal_EP2400812A1_2025.xml",
        ),
        ("legal/publication/docdb/US.10465445.B2", "legal_US10465445B2.xml"),
        (
            "family/publication/docdb/EP.2400812.A1",
            "family_EP2400812A1_2025.xml",
        ),
        (
            "family/publication/docdb/EP.2400812.A1/legal",
            "family-legal_EP2400812A1_2025.xml",
        ),
    ] {
        let resp = get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let (_, services) = throttling(header(&resp, "x-throttling-control").unwrap());
        assert_eq!(services["inpadoc"].1, 60);
        assert_eq!(resp.text().await.unwrap(), sample(file), "{path}");
    }
    let resp = get("family/publication/docdb/EP.2400812.A1/biblio").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(fault_code(&resp.text().await.unwrap()), "SERVER.EntityNotFound");
    let resp = get("legal/publication/docdb/EP.3000000.A1").await;
    assert_eq!(resp.status(), 404);
    let resp = ops
        .post_text(&t, "legal/publication/docdb", "(EP).(2400812).(A1)")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), sample("legal_EP2400812A1_2025.xml"));
}

#[tokio::test]
async fn throttling_colours_black_and_retry_after_on_the_virtual_clock() {
    let ops = Ops::with(SandboxOptions {
        time_scale: 20.0,
        ..SandboxOptions::default()
    })
    .await;
    let t = ops.token().await;
    let v = ops
        .scenario("/_sandbox/ops/throttle", json!({"state": "overloaded"}))
        .await;
    assert_eq!(v["state"], "overloaded");
    let path = "legal/publication/docdb/EP.2400812.A1";
    let mut colours = Vec::new();
    for _ in 0..30 {
        let resp = ops.get(&t, path).await;
        assert_eq!(resp.status(), 200);
        let (state, s) = throttling(header(&resp, "x-throttling-control").unwrap());
        assert_eq!(state, "overloaded");
        assert_eq!(s["other"], ("green".to_owned(), 1000));
        assert_eq!(s["search"].1, 5);
        colours.push(s["inpadoc"].clone());
    }
    assert_eq!(colours[0], ("green".to_owned(), 30));
    assert_eq!(colours[14].0, "yellow");
    assert_eq!(colours[22].0, "red");
    assert_eq!(colours[29].0, "red");

    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("ThrottlingControlQuota")
    );
    let (_, s) = throttling(header(&resp, "x-throttling-control").unwrap());
    assert_eq!(s["inpadoc"], ("black".to_owned(), 30));
    let retry: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=3000).contains(&retry),
        "Retry-After {retry} ms is real time (60 s / 20)"
    );
    assert!(resp.text().await.unwrap().contains("Fair Use"));
    // Other buckets still answer.
    assert_eq!(
        ops.get(&t, "register/publication/epodoc/EP2400812")
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(retry + 50)).await;
    assert_eq!(ops.get(&t, path).await.status(), 200);
    let v = ops.scenario_get("/_sandbox/ops/throttle").await;
    assert!(
        v["requests_in_window"]["sandbox-key"]["inpadoc"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn scenario_limits_make_the_register_bucket_bind() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let v = ops
        .scenario(
            "/_sandbox/ops/throttle",
            json!({"state": "busy", "limits": {"other": 3, "search": 2}}),
        )
        .await;
    assert_eq!(v["state"], "busy");
    assert_eq!(v["limits"]["other"], 3);
    assert_eq!(v["limits"]["inpadoc"], 45);
    assert_eq!(v["overrides"], json!(["other", "search"]));
    let path = "register/publication/epodoc/EP2400812";
    for i in 0..3 {
        let resp = ops.get(&t, path).await;
        assert_eq!(resp.status(), 200, "{i}");
        let (state, s) = throttling(header(&resp, "x-throttling-control").unwrap());
        assert_eq!(state, "busy");
        assert_eq!(s["other"].1, 3);
        assert_eq!(s["search"].1, 2);
        assert_eq!(s["retrieval"].1, 100);
    }
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("ThrottlingControlQuota")
    );
    let (_, s) = throttling(header(&resp, "x-throttling-control").unwrap());
    assert_eq!(s["other"], ("black".to_owned(), 3));

    // A POST without limits forgets the overrides; the state stays when not given.
    let v = ops.scenario("/_sandbox/ops/throttle", json!({})).await;
    assert_eq!(v["state"], "busy");
    assert_eq!(v["limits"]["other"], 1000);
    assert_eq!(v["overrides"], json!([]));
    assert_eq!(ops.get(&t, path).await.status(), 200);

    for bad in [
        json!({"limits": {"register": 5}}),
        json!({"limits": {"other": 0}}),
        json!({"limits": {"other": -1}}),
        json!({"state": "sleepy"}),
    ] {
        let resp = ops
            .http
            .post(format!("{}/_sandbox/ops/throttle", ops.sb.base_url()))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn byte_quotas_count_per_hour_and_week() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let path = "register/publication/epodoc/EP2400812";
    let first = ops.get(&t, path).await;
    let used: u64 = header(&first, "x-individualquotaperhour-used")
        .unwrap()
        .parse()
        .unwrap();
    let len = first.bytes().await.unwrap().len() as u64;
    assert_eq!(used, len);
    let second = ops.get(&t, path).await;
    let week: u64 = header(&second, "x-registeredquotaperweek-used")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(week, 2 * len);

    let v = ops
        .scenario("/_sandbox/ops/quota", json!({"hour_bytes": 1000}))
        .await;
    assert_eq!(v["hour_bytes"], 1000);
    assert_eq!(v["used"]["sandbox-key"]["hour_bytes"], 2 * len);
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("IndividualQuotaPerHour")
    );
    assert_usage_headers(&resp);
    // The rolling hour runs on the virtual clock.
    ops.scenario("/_sandbox/clock", json!({"advance_seconds": 3601}))
        .await;
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 200);

    ops.scenario(
        "/_sandbox/ops/quota",
        json!({"hour_bytes": 450_000_000u64, "week_bytes": 1000, "reset": true}),
    )
    .await;
    assert_eq!(ops.get(&t, path).await.status(), 200);
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("RegisteredQuotaPerWeek")
    );
}

fn today(v: &Value) -> String {
    v["now"].as_str().unwrap()[..10].replace('-', "")
}

#[tokio::test]
async fn advances_show_up_in_the_next_retrieval() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    // EP2400812 is at 7: the default advance is a dossier event.
    let v = ops
        .scenario("/_sandbox/cases/ep/EP2400812/advance", json!({}))
        .await;
    assert_eq!(v["added"]["kind"], "event");
    assert_eq!(v["added"]["event"]["code"], "0009250");
    let body = ops
        .get(&t, "register/publication/epodoc/EP2400812/events")
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let d = register_documents(&doc)[0];
    let events = reg_children(d, "events-data");
    assert_eq!(events.len(), 56);
    let first = events[0].first_element_child().unwrap();
    assert_eq!(first.attribute("id"), v["added"]["event"]["id"].as_str());
    let resp = ops
        .http
        .post(format!(
            "{}/_sandbox/cases/ep/EP2400812/advance",
            ops.sb.base_url()
        ))
        .json(&json!({"kind": "status"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // A synthetic case at 14 moves to 12 with its dossier event, dated on the virtual today.
    let made = ops
        .scenario("/_sandbox/ops/cases", json!({"count": 1, "status": "14"}))
        .await;
    let app = made["cases"][0]["application"].as_str().unwrap().to_owned();
    assert_eq!(made["cases"][0]["status_code"], "14");
    ops.scenario("/_sandbox/clock", json!({"advance_seconds": 86_400 * 3}))
        .await;
    let now = ops.scenario_get("/_sandbox/clock").await;
    let v = ops
        .scenario(&format!("/_sandbox/cases/ep/{app}/advance"), json!({}))
        .await;
    assert_eq!(v["added"]["kind"], "status");
    assert_eq!(v["status"]["code"], "12");
    let v = ops
        .scenario(
            &format!("/_sandbox/cases/ep/{app}/advance"),
            json!({"kind": "step"}),
        )
        .await;
    assert!(v["added"]["step"]["id"].as_str().unwrap().starts_with("STEP_"));
    let body = ops
        .get(&t, &format!("register/application/epodoc/{app}/{ALL}"))
        .await
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let d = register_documents(&doc)[0];
    assert_eq!(d.attribute("status"), Some("Grant of patent is intended"));
    let statuses = reg_children(reg_children(d, "ep-patent-statuses")[0], "ep-patent-status");
    assert_eq!(statuses[0].attribute("status-code"), Some("12"));
    assert_eq!(statuses[0].attribute("change-date"), Some(today(&now).as_str()));
    assert_eq!(statuses[1].attribute("status-code"), Some("14"));
    let b = reg_children(d, "bibliographic-data")[0];
    assert_eq!(b.attribute("status"), Some("Grant of patent is intended"));
    let ev = reg_children(d, "events-data")[0].first_element_child().unwrap();
    let code = ev
        .children()
        .find(|n| n.has_tag_name((REG, "event-code")))
        .unwrap();
    assert_eq!(code.text(), Some("EPIDOSNIGR1"));
    let steps = reg_children(reg_children(d, "procedural-data")[0], "procedural-step");
    assert!(
        steps
            .last()
            .unwrap()
            .attribute("id")
            .unwrap()
            .starts_with("STEP_EXRE_")
    );

    let list = ops.scenario_get("/_sandbox/ops/cases").await;
    let row = list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["application"] == app.as_str())
        .unwrap();
    assert_eq!(row["status_code"], "12");
    let resp = ops
        .http
        .post(format!(
            "{}/_sandbox/cases/ep/EP7777777/advance",
            ops.sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn synthetic_cases_are_renumbered_clones_of_ep2400812() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let made = ops.scenario("/_sandbox/ops/cases", json!({"count": 3})).await;
    let cases = made["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    assert_eq!(cases[1]["application"], "EP90000002");
    assert_eq!(cases[1]["publication"], "EP9000002");
    let made = ops.scenario("/_sandbox/ops/cases", json!({"count": 1})).await;
    assert_eq!(made["cases"][0]["publication"], "EP9000004");

    let body = ops
        .get(&t, &format!("register/application/epodoc/EP90000002/{ALL}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("2400812") && !body.contains("10167109"));
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(ops_child(&doc, "query").text(), Some("application=EP90000002"));
    let d = register_documents(&doc)[0];
    assert_eq!(
        reg_children(d, "bibliographic-data")[0].attribute("id"),
        Some("EP90000002P")
    );
    assert_eq!(reg_children(d, "events-data").len(), 55);
    assert_eq!(
        ops.get(&t, "register/publication/epodoc/EP9000003")
            .await
            .status(),
        200
    );
    assert_eq!(
        ops.get(&t, "register/publication/epodoc/EP9000005")
            .await
            .status(),
        404
    );

    let list = ops.scenario_get("/_sandbox/ops/cases").await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 3 + 4);
    let resp = ops
        .http
        .post(format!("{}/_sandbox/ops/cases", ops.sb.base_url()))
        .json(&json!({"count": 1, "status": "99"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn injected_faults_are_ops_xml() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    for (status, code) in [
        (500, "SERVER.DomainAccess"),
        (503, "SERVER.LimitedServerResources"),
        (408, "CLIENT.RequestTimeout"),
        (403, "CLIENT.RobotDetected"),
        (404, "SERVER.EntityNotFound"),
        (502, "SERVER.BadGateway"),
    ] {
        ops.scenario(
            "/_sandbox/faults",
            json!({"office": "ops", "kind": "status", "status": status, "retry_after": "5"}),
        )
        .await;
        let resp = ops.get(&t, "register/publication/epodoc/EP2400812").await;
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(header(&resp, "retry-after"), Some("5"));
        assert_eq!(fault_code(&resp.text().await.unwrap()), code);
    }
    assert_eq!(
        ops.get(&t, "register/publication/epodoc/EP2400812")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn advances_synthetic_cases_and_quota_use_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    };
    let ops = Ops::with(opts.clone()).await;
    let t = ops.token().await;
    ops.scenario("/_sandbox/ops/cases", json!({"count": 2, "status": "16"}))
        .await;
    let v = ops
        .scenario("/_sandbox/cases/ep/EP90000002/advance", json!({}))
        .await;
    assert_eq!(v["status"]["code"], "15");
    ops.scenario("/_sandbox/cases/ep/EP2400812/advance", json!({"kind": "step"}))
        .await;
    assert_eq!(
        ops.get(&t, "register/publication/epodoc/EP2400812")
            .await
            .status(),
        200
    );
    let week_before =
        ops.scenario_get("/_sandbox/ops/quota").await["used"]["sandbox-key"]["week_bytes"].clone();
    ops.sb.stop().await.unwrap();

    let ops = Ops::with(opts).await;
    let list = ops.scenario_get("/_sandbox/ops/cases").await;
    let rows = list["cases"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let row = rows.iter().find(|c| c["application"] == "EP90000002").unwrap();
    assert_eq!(row["status_code"], "15");
    let row = rows.iter().find(|c| c["publication"] == "EP2400812").unwrap();
    assert_eq!(row["steps"], 20);
    let q = ops.scenario_get("/_sandbox/ops/quota").await;
    assert_eq!(q["used"]["sandbox-key"]["week_bytes"], week_before);
    // New ids continue after the restored ones.
    let v = ops
        .scenario("/_sandbox/cases/ep/EP2400812/advance", json!({}))
        .await;
    assert_ne!(v["added"]["event"]["id"], "EVT_900000001");
}

// ---------------------------------------------------------------- made-up families

const EXCHANGE: &str = "http://www.epo.org/exchange";

/// One family member as the client sees it: (publication country, doc-number, kind;
/// application country, doc-number, kind), from the docdb document-ids.
type MemberRow = [String; 6];

fn docdb_of(node: roxmltree::Node<'_, '_>) -> [String; 4] {
    let id = node
        .children()
        .find(|n| {
            n.has_tag_name((EXCHANGE, "document-id")) && n.attribute("document-id-type") == Some("docdb")
        })
        .unwrap();
    ["country", "doc-number", "kind", "date"].map(|name| {
        id.children()
            .find(|n| n.has_tag_name((EXCHANGE, name)))
            .and_then(|n| n.text())
            .unwrap()
            .to_owned()
    })
}

/// (family ids, members) of a family answer.
fn family_members(xml: &str) -> (Vec<String>, Vec<MemberRow>) {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let family = ops_child(&doc, "patent-family");
    assert_eq!(family.attribute("legal"), Some("false"));
    let members: Vec<_> = family
        .children()
        .filter(|n| n.has_tag_name((OPS, "family-member")))
        .collect();
    assert_eq!(
        family.attribute("total-result-count"),
        Some(members.len().to_string().as_str())
    );
    let ids = members
        .iter()
        .map(|m| m.attribute("family-id").unwrap().to_owned())
        .collect();
    let rows = members
        .iter()
        .map(|m| {
            let child = |name| m.children().find(|n| n.has_tag_name((EXCHANGE, name))).unwrap();
            let [pc, pn, pk, _] = docdb_of(child("publication-reference"));
            let [ac, an, ak, _] = docdb_of(child("application-reference"));
            [pc, pn, pk, ac, an, ak]
        })
        .collect();
    (ids, rows)
}

fn row(p: (&str, &str, &str), a: (&str, &str, &str)) -> MemberRow {
    [p.0, p.1, p.2, a.0, a.1, a.2].map(str::to_owned)
}

async fn xml_get(ops: &Ops, token: &str, path: &str) -> (StatusCode, String) {
    let resp = ops
        .http
        .get(ops.rest(path))
        .bearer_auth(token)
        .header("Accept", "application/xml")
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn made_up_families_answer_every_request_form_with_their_jp_members() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let ep23184567 = vec![
        row(("EP", "4312345", "A1"), ("EP", "23184567", "A")),
        row(("JP", "2021090037", "A"), ("JP", "2020123456", "A")),
        row(("JP", "7533889", "B2"), ("JP", "2020123456", "A")),
        row(("JP", "H11112345", "A"), ("JP", "28341297", "A")),
        row(("US", "2022034567", "A1"), ("US", "202117345678", "A")),
        row(("CN", "115012345", "A"), ("CN", "202180012345", "A")),
    ];
    let ep14735465 = vec![
        row(("WO", "2014206532", "A1"), ("EP", "2014001597", "W")),
        row(("EP", "3000000", "A1"), ("EP", "14735465", "A")),
        row(("EP", "3000000", "B1"), ("EP", "14735465", "A")),
        row(("DE", "102013211960", "A1"), ("DE", "102013211960", "A")),
        row(("JP", "3201234", "U"), ("JP", "2015004567", "U")),
    ];
    let pct = vec![row(("WO", "2025021234", "A1"), ("EP", "2024071234", "W"))];
    let table: &[(&str, &str, &[MemberRow])] = &[
        ("family/application/epodoc/EP23184567", "71234508", &ep23184567),
        ("family/application/docdb/EP.23184567.A", "71234508", &ep23184567),
        ("family/publication/epodoc/EP4312345", "71234508", &ep23184567),
        ("family/publication/docdb/EP.4312345.A1", "71234508", &ep23184567),
        (
            "family/application/docdb/JP.2020123456.A",
            "71234508",
            &ep23184567,
        ),
        ("family/application/epodoc/EP14735465", "50321786", &ep14735465),
        ("family/application/docdb/EP.14735465.A", "50321786", &ep14735465),
        ("family/publication/epodoc/EP3000000", "50321786", &ep14735465),
        ("family/publication/docdb/EP.3000000.A1", "50321786", &ep14735465),
        ("family/application/docdb/EP.2024071234.W", "84455021", &pct),
        ("family/publication/docdb/WO.2025021234.A1", "84455021", &pct),
    ];
    for (path, family_id, members) in table {
        let (status, body) = xml_get(&ops, &t, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            body.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><?xml-stylesheet type=\"text/xsl\" \
                 href=\"../../../../style/family.xsl\"?>\n<ops:world-patent-data \
                 xmlns=\"http://www.epo.org/exchange\" xmlns:ops=\"http://ops.epo.org\""
            ),
            "{path}: {}",
            &body[..200]
        );
        let (ids, rows) = family_members(&body);
        assert!(ids.iter().all(|id| id == family_id), "{path}: {ids:?}");
        assert_eq!(rows, *members, "{path}");
    }
    // POST takes the number as text/plain and answers the same family, without the PI.
    let resp = ops.post_text(&t, "family/application/epodoc", "EP23184567").await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ops:"),
        "{body}"
    );
    assert_eq!(family_members(&body).1, ep23184567);

    // JSON is BadgerFish like the recorded family's.
    let resp = ops
        .http
        .get(ops.rest("family/application/epodoc/EP23184567"))
        .bearer_auth(&t)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    let v: Value = resp.json().await.unwrap();
    let family = &v["ops:world-patent-data"]["ops:patent-family"];
    assert_eq!(family["@total-result-count"], "6");
    let jp = &family["ops:family-member"][1];
    assert_eq!(jp["@family-id"], "71234508");
    assert_eq!(
        jp["application-reference"]["document-id"]["doc-number"]["$"],
        "2020123456"
    );
    assert_eq!(jp["application-reference"]["@is-representative"], "YES");
    assert_eq!(
        jp["publication-reference"]["document-id"][1]["@document-id-type"],
        "epodoc"
    );
    assert!(all_scalars_are_strings(&v));

    for (path, code) in [
        ("family/application/epodoc/EP99999999", "SERVER.EntityNotFound"),
        (
            "family/publication/docdb/JP.2021090038.A",
            "SERVER.EntityNotFound",
        ),
        (
            "family/application/epodoc/EP23184567/biblio",
            "SERVER.EntityNotFound",
        ),
        (
            "family/application/epodoc/EP23184567/legal",
            "SERVER.EntityNotFound",
        ),
        (
            "family/publication/docdb/JP.H11112345.A",
            "CLIENT.InvalidReference",
        ),
    ] {
        let (status, body) = xml_get(&ops, &t, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(fault_code(&body), code, "{path}");
    }
    // The recorded family is still the recording, by application too.
    let (_, body) = xml_get(&ops, &t, "family/application/epodoc/EP10167109").await;
    assert_eq!(body, sample("family_EP2400812A1_2025.xml"));
}

#[tokio::test]
async fn family_requests_are_throttled_counted_and_faulted_like_the_recorded_one() {
    let ops = Ops::start().await;
    let t = ops.token().await;
    let path = "family/application/epodoc/EP23184567";
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 200);
    assert_usage_headers(&resp);
    let hour: u64 = header(&resp, "x-individualquotaperhour-used")
        .unwrap()
        .parse()
        .unwrap();
    let len = resp.bytes().await.unwrap().len() as u64;
    assert_eq!(hour, len, "the answer's bytes are counted");
    let q = ops.scenario_get("/_sandbox/ops/quota").await;
    assert_eq!(q["used"]["sandbox-key"]["week_bytes"], len);
    let v = ops.scenario_get("/_sandbox/ops/throttle").await;
    assert_eq!(v["requests_in_window"]["sandbox-key"]["inpadoc"], 1);

    // The inpadoc bucket binds family requests.
    ops.scenario("/_sandbox/ops/throttle", json!({"limits": {"inpadoc": 2}}))
        .await;
    assert_eq!(ops.get(&t, path).await.status(), 200);
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("ThrottlingControlQuota")
    );
    let (_, s) = throttling(header(&resp, "x-throttling-control").unwrap());
    assert_eq!(s["inpadoc"], ("black".to_owned(), 2));
    ops.scenario("/_sandbox/ops/throttle", json!({})).await;

    // The byte quota refuses them.
    ops.scenario("/_sandbox/ops/quota", json!({"week_bytes": 2 * len}))
        .await;
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        header(&resp, "x-rejection-reason"),
        Some("RegisteredQuotaPerWeek")
    );
    ops.scenario(
        "/_sandbox/ops/quota",
        json!({"week_bytes": 1_000_000_000u64, "reset": true}),
    )
    .await;

    // No token, no family.
    let resp = ops.http.get(ops.rest(path)).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "x-rejection-reason"), Some("AnonymousQuotaPerDay"));

    // Injected faults.
    ops.scenario(
        "/_sandbox/faults",
        json!({"office": "ops", "kind": "status", "status": 503}),
    )
    .await;
    let resp = ops.get(&t, path).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(
        fault_code(&resp.text().await.unwrap()),
        "SERVER.LimitedServerResources"
    );
    assert_eq!(ops.get(&t, path).await.status(), 200);
}

#[tokio::test]
async fn attached_families_round_trip_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    };
    let ops = Ops::with(opts.clone()).await;
    let t = ops.token().await;
    ops.scenario("/_sandbox/ops/cases", json!({"count": 1})).await;
    let attached = ops
        .scenario(
            "/_sandbox/ops/families",
            json!({"application": "EP90000001", "filed": "20230105", "published": "20240710",
                "members": [{"country": "JP", "application": "2023500001", "publication": "2024500001",
                    "filed": "20230110", "published": "20240711"}]}),
        )
        .await;
    assert_eq!(attached["family_id"], "80000001");
    let expected = vec![
        row(("EP", "9000001", "A1"), ("EP", "90000001", "A")),
        row(("JP", "2024500001", "A"), ("JP", "2023500001", "A")),
    ];
    let forms = [
        "family/application/epodoc/EP90000001",
        "family/application/docdb/EP.90000001.A",
        "family/publication/epodoc/EP9000001",
        "family/application/docdb/JP.2023500001.A",
    ];
    let mut before = String::new();
    for path in forms {
        let (status, body) = xml_get(&ops, &t, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(family_members(&body).1, expected, "{path}");
        if path == forms[0] {
            before = body;
        }
    }
    let post = |body: Value| {
        let req = ops
            .http
            .post(format!("{}/_sandbox/ops/families", ops.sb.base_url()))
            .json(&body);
        async move { req.send().await.unwrap().status() }
    };
    for (body, want) in [
        (json!({"application": "EP10167109", "members": []}), 409),
        (json!({"application": "JP2023500001"}), 400),
        (
            json!({"application": "EP90000001", "members": [{"country": "JP"}]}),
            400,
        ),
        (json!({"application": "EP90000001", "extra": 1}), 400),
    ] {
        assert_eq!(post(body.clone()).await.as_u16(), want, "{body}");
    }
    let list = ops.scenario_get("/_sandbox/ops/families").await;
    assert_eq!(list["families"].as_array().unwrap().len(), 1);
    ops.sb.stop().await.unwrap();

    let ops = Ops::with(opts).await;
    let t = ops.token().await;
    let (status, after) = xml_get(&ops, &t, forms[0]).await;
    assert_eq!(status, 200);
    assert_eq!(after, before);
    let list = ops.scenario_get("/_sandbox/ops/families").await;
    assert_eq!(list["families"][0]["case"], "EP90000001");
}
