//! Contract tests of the MyEPO Mailbox simulator over real HTTP on 127.0.0.1
//! (`shared/api/myepo-mailbox.md` §3–§5 and §8).

use std::time::Duration;

use mailroom_sandbox::credentials::{MYEPO_CLIENT_ID, MYEPO_CLIENT_SECRET, MYEPO_SCOPE};
use mailroom_sandbox::{MyepoProfile, RunningSandbox, SandboxOptions, spawn_local};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use serde_json::{Value, json};

struct Env {
    sb: RunningSandbox,
    http: reqwest::Client,
}

impl Env {
    async fn start(opts: SandboxOptions) -> Env {
        let sb = spawn_local(opts).await.expect("sandbox starts");
        Env {
            sb,
            http: reqwest::Client::new(),
        }
    }

    async fn with_seed(seed: u64) -> Env {
        Env::start(SandboxOptions {
            seed,
            ..SandboxOptions::default()
        })
        .await
    }

    /// A sandbox with an empty mailbox.
    async fn empty() -> Env {
        Env::start(SandboxOptions {
            seed_communications: 0,
            ..SandboxOptions::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    fn token_url(&self) -> String {
        self.sb.urls().myepo_token
    }

    fn api(&self, path: &str) -> String {
        format!("{}/v1{path}", self.sb.urls().myepo_api_base)
    }

    async fn token(&self) -> String {
        let resp = self
            .http
            .post(self.token_url())
            .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", MYEPO_SCOPE)])
            .send()
            .await
            .expect("token request");
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.expect("token json");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    async fn list(&self, token: &str, query: &str) -> Value {
        let resp = self.get(token, &format!("/communications?{query}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "list {query}");
        resp.json().await.expect("list json")
    }

    async fn mark(&self, token: &str, ids: &[&str]) -> reqwest::Response {
        self.http
            .post(self.api("/communications/handled"))
            .bearer_auth(token)
            .json(&json!({ "communicationIds": ids }))
            .send()
            .await
            .expect("mark request")
    }

    async fn post_scenario(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("scenario request")
    }

    async fn get_scenario(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("scenario request");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.json().await.expect("scenario json")
    }

    async fn inject(&self, body: Value) -> Vec<String> {
        let resp = self.post_scenario("/_sandbox/myepo/communications", body).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.expect("ids");
        v["ids"]
            .as_array()
            .expect("ids array")
            .iter()
            .map(|i| i.as_str().expect("id string").to_owned())
            .collect()
    }

    async fn set_profile(&self, profile: &str) {
        let resp = self
            .post_scenario("/_sandbox/myepo/settings", json!({ "profile": profile }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.expect("settings");
        assert_eq!(v["profile"], profile);
    }

    async fn mailbox(&self) -> Vec<Value> {
        self.get_scenario("/_sandbox/myepo/communications")
            .await
            .as_array()
            .expect("array")
            .clone()
    }

    async fn activity(&self) -> Vec<Value> {
        self.get_scenario("/_sandbox/myepo/activity")
            .await
            .as_array()
            .expect("array")
            .clone()
    }

    async fn fault(&self, spec: Value) {
        let resp = self.post_scenario("/_sandbox/faults", spec).await;
        assert!(resp.status().is_success(), "fault accepted: {}", resp.status());
    }

    async fn download(&self, token: &str, id: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let resp = self
            .get(token, &format!("/communications/{id}/file?setHandled=false"))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers().clone();
        (headers, resp.bytes().await.expect("body").to_vec())
    }
}

fn ids_of(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .expect("communications")
        .iter()
        .map(|c| c["communicationId"].as_str().expect("id").to_owned())
        .collect()
}

/// The first communication of a listing that is listed flat (one file).
fn first_flat(items: &Value) -> Value {
    items
        .as_array()
        .expect("communications")
        .iter()
        .find(|c| c.get("fileName").is_some())
        .cloned()
        .expect("a one-file communication")
}

fn header(h: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// FNV-1a, fed chunk by chunk: a streaming fingerprint for large bodies.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xCBF2_9CE4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
}

/// Checks a whole PDF: header, trailer, and every xref offset pointing at its object.
fn assert_valid_pdf(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-1.7\n"), "PDF header");
    assert!(pdf.ends_with(b"%%EOF\n"), "PDF trailer");
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(600)..]).into_owned();
    let sx = tail.rfind("startxref\n").expect("startxref");
    let xref_at: usize = tail[sx + 10..]
        .lines()
        .next()
        .expect("offset")
        .parse()
        .expect("number");
    let table = String::from_utf8_lossy(&pdf[xref_at..]).into_owned();
    assert!(table.starts_with("xref\n0 7\n"));
    for (n, entry) in table.lines().skip(3).take(6).enumerate() {
        let off: usize = entry[..10].parse().expect("offset");
        let want = format!("{} 0 obj\n", n + 1);
        assert_eq!(&pdf[off..off + want.len()], want.as_bytes());
    }
}

fn err_code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

// Token endpoint

#[tokio::test]
async fn token_with_basic_or_post_credentials_has_the_okta_shape() {
    let env = Env::empty().await;
    let basic = env
        .http
        .post(env.token_url())
        .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", MYEPO_SCOPE)])
        .send()
        .await
        .expect("token");
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(header(basic.headers(), CACHE_CONTROL), "no-store");
    let v: Value = basic.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], MYEPO_SCOPE);
    let t1 = v["access_token"].as_str().expect("token").to_owned();
    assert!(t1.len() >= 32);

    for scope in [None, Some(""), Some("mailbox")] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", MYEPO_CLIENT_ID),
            ("client_secret", MYEPO_CLIENT_SECRET),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let resp = env
            .http
            .post(env.token_url())
            .form(&form)
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), StatusCode::OK, "scope {scope:?}");
        let v: Value = resp.json().await.expect("json");
        let t2 = v["access_token"].as_str().expect("token");
        assert_ne!(t1, t2, "every token is new");
        assert_eq!(env.get(t2, "/communications").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn token_errors_are_okta_errors() {
    let env = Env::empty().await;
    let cc = ("grant_type", "client_credentials");
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some("wrong"))
                .form(&[cc]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            env.http.post(env.token_url()).form(&[
                cc,
                ("client_id", "someone"),
                ("client_secret", MYEPO_CLIENT_SECRET),
            ]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            env.http.post(env.token_url()).form(&[cc]),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .form(&[("scope", MYEPO_SCOPE)]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .form(&[("grant_type", "password")]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .form(&[cc, ("scope", "mailbox openid")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .form(&[cc, ("client_secret", MYEPO_CLIENT_SECRET)]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .form(&[cc, cc]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            env.http
                .post(env.token_url())
                .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
                .json(&json!({"grant_type": "client_credentials"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (i, (req, status, error)) in cases.into_iter().enumerate() {
        let resp = req.send().await.expect("token request");
        assert_eq!(resp.status(), status, "case {i}");
        assert_eq!(header(resp.headers(), CACHE_CONTROL), "no-store", "case {i}");
        if i == 0 {
            assert!(header(resp.headers(), WWW_AUTHENTICATE).starts_with("Basic"));
        }
        let v: Value = resp.json().await.expect("okta error body");
        assert_eq!(v["error"], error, "case {i}");
        assert!(v["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    }

    let other = env
        .http
        .post(env.url("/myepo/oauth2/default/v1/token"))
        .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
        .form(&[cc])
        .send()
        .await
        .expect("token");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let v: Value = other.json().await.expect("json 404");
    assert_eq!(v["errorCode"], "E0000007");
}

#[tokio::test]
async fn every_api_call_needs_a_valid_bearer_token() {
    let env = Env::with_seed(1).await;
    let token = env.token().await;
    let id = env.mailbox().await[0]["id"].as_str().expect("id").to_owned();
    let calls = [
        env.http.get(env.api("/communications")),
        env.http.get(env.api(&format!("/communications/{id}/file"))),
        env.http
            .post(env.api("/communications/handled"))
            .json(&json!({"communicationIds": [id]})),
    ];
    for (i, call) in calls.into_iter().enumerate() {
        for auth in [None, Some("Bearer not-a-token"), Some("Basic c2FuZGJveA==")] {
            let req = call.try_clone().expect("clonable");
            let req = match auth {
                Some(a) => req.header("Authorization", a),
                None => req,
            };
            let resp = req.send().await.expect("request");
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "call {i} auth {auth:?}");
            assert_eq!(
                header(resp.headers(), WWW_AUTHENTICATE),
                "Bearer error=\"invalid_token\""
            );
            let v: Value = resp.json().await.expect("ST.90 body");
            assert_eq!(err_code(&v), "INVALID_TOKEN");
            assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    assert!(
        env.mailbox().await.iter().all(|c| c["handled"] == false),
        "rejected calls change nothing"
    );
    assert_eq!(env.get(&token, "/communications").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn token_lifetime_is_configurable_and_runs_on_real_time() {
    let env = Env::empty().await;
    let long = env.token().await;
    let resp = env
        .post_scenario("/_sandbox/myepo/settings", json!({"token_lifetime_secs": 1}))
        .await;
    let v: Value = resp.json().await.expect("settings");
    assert_eq!(v["token_lifetime_secs"], 1);
    let resp = env
        .http
        .post(env.token_url())
        .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["expires_in"], 1);
    let short = v["access_token"].as_str().expect("token").to_owned();
    assert_eq!(env.get(&short, "/communications").await.status(), StatusCode::OK);

    // Moving the virtual clock by two hours expires nothing.
    let resp = env
        .post_scenario("/_sandbox/clock", json!({"advance_seconds": 7200}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(env.get(&long, "/communications").await.status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let resp = env.get(&short, "/communications").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.expect("json");
    assert!(v["message"].as_str().expect("message").contains("expired"));
    assert_eq!(env.get(&long, "/communications").await.status(), StatusCode::OK);

    for bad in [json!({"token_lifetime_secs": 0}), json!({"lifetime": 5})] {
        let resp = env.post_scenario("/_sandbox/myepo/settings", bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}

// E1

#[tokio::test]
async fn list_serves_the_default_contract_in_creation_order() {
    let env = Env::with_seed(3).await;
    let token = env.token().await;
    let v = env.list(&token, "handled=false&offset=0&limit=100").await;
    assert_eq!(v["totalCount"], 12);
    assert_eq!(v["offset"], 0);
    assert_eq!(v["limit"], 100);
    let items = v["communications"].as_array().expect("communications");
    assert_eq!(items.len(), 12);
    let mailbox = env.mailbox().await;
    let want: Vec<&Value> = mailbox.iter().map(|c| &c["id"]).collect();
    let got: Vec<&Value> = items.iter().map(|c| &c["communicationId"]).collect();
    assert_eq!(got, want, "creation order");
    for c in items {
        for key in [
            "communicationId",
            "applicationNumber",
            "procedure",
            "documentCode",
            "documentTitle",
            "dispatchDate",
            "deliveryDateTime",
            "recipientName",
            "recipientId",
        ] {
            assert!(c[key].as_str().is_some_and(|s| !s.is_empty()), "{key} in {c}");
        }
        assert!(c["userReference"].is_string() || c["userReference"].is_null());
        assert!(c["read"].is_boolean() && c["handled"] == false);
        let date = c["dispatchDate"].as_str().expect("date");
        assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok());
        let delivered = c["deliveryDateTime"].as_str().expect("datetime");
        assert!(delivered.ends_with('Z') && delivered.starts_with(date));
        // One file flat; several files as `documents`, even in the default profile.
        let files: Vec<&Value> = match c["documents"].as_array() {
            Some(docs) => {
                assert!(docs.len() > 1 && c.get("fileName").is_none(), "{c}");
                docs.iter().collect()
            }
            None => vec![c],
        };
        for f in files {
            assert_eq!(f["mediaType"], "application/pdf");
            let size = f["fileSize"].as_u64().expect("fileSize");
            assert!((20_000..=300_000).contains(&size));
            assert!(f["fileName"].as_str().expect("name").ends_with(".pdf"));
        }
    }
    let numbers: Vec<&str> = items
        .iter()
        .map(|c| c["applicationNumber"].as_str().expect("number"))
        .collect();
    assert!(numbers.contains(&"EP10167109.7") && numbers.contains(&"EP14735465.8"));
    assert!(numbers.iter().any(|n| n.starts_with("PCT/")));
    let codes: Vec<&str> = items
        .iter()
        .map(|c| c["documentCode"].as_str().expect("code"))
        .collect();
    for code in ["1133", "2004", "2006A", "1176", "2001", "2907"] {
        assert!(codes.contains(&code), "seed has form {code}");
    }
    assert_eq!(items.iter().filter(|c| c["read"] == true).count(), 4);

    let activity = env.activity().await;
    assert_eq!(activity.len(), 12);
    assert!(
        activity
            .iter()
            .all(|a| a["action"] == "LISTED" && a["actor"] == "api")
    );
}

#[tokio::test]
async fn list_filters_by_flags_dates_and_application_number() {
    let env = Env::with_seed(3).await;
    let token = env.token().await;
    let all = env.list(&token, "").await;
    let items = all["communications"].as_array().expect("items").clone();

    let read = env.list(&token, "read=true").await;
    assert_eq!(read["totalCount"], 4);
    assert!(
        read["communications"]
            .as_array()
            .expect("items")
            .iter()
            .all(|c| c["read"] == true)
    );

    let dates: Vec<&str> = items
        .iter()
        .map(|c| c["dispatchDate"].as_str().expect("date"))
        .collect();
    let (from, to) = (dates[3], dates[8]);
    let window = env
        .list(&token, &format!("dispatchDateFrom={from}&dispatchDateTo={to}"))
        .await;
    let want = dates.iter().filter(|d| **d >= from && **d <= to).count();
    assert_eq!(window["totalCount"], want as u64);
    assert!(want >= 6);

    let ep = env.list(&token, "applicationNumber=EP10167109").await;
    let ep_items = ep["communications"].as_array().expect("items");
    let want = items
        .iter()
        .filter(|c| c["applicationNumber"] == "EP10167109.7")
        .count();
    assert!(want >= 2);
    assert_eq!(ep_items.len(), want);
    assert!(ep_items.iter().all(|c| c["applicationNumber"] == "EP10167109.7"));

    let id = items[0]["communicationId"].as_str().expect("id");
    assert_eq!(env.mark(&token, &[id]).await.status(), StatusCode::OK);
    assert_eq!(env.list(&token, "handled=false").await["totalCount"], 11);
    assert_eq!(env.list(&token, "handled=true").await["totalCount"], 1);
    assert_eq!(env.list(&token, "").await["totalCount"], 12);
}

#[tokio::test]
async fn bad_list_parameters_get_a_400_naming_the_parameter() {
    let env = Env::with_seed(3).await;
    let token = env.token().await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("handled=maybe", "handled"),
        ("read=1", "read"),
        ("dispatchDateFrom=2024-13-01", "dispatchDateFrom"),
        ("dispatchDateTo=14.03.2024", "dispatchDateTo"),
        (
            "dispatchDateFrom=2024-03-10&dispatchDateTo=2024-03-01",
            "dispatchDateFrom",
        ),
        ("applicationNumber=", "applicationNumber"),
    ] {
        let resp = env.get(&token, &format!("/communications?{query}")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        let v: Value = resp.json().await.expect("ST.90");
        assert_eq!(err_code(&v), "INVALID_PARAMETER", "{query}");
        assert!(v["message"].as_str().expect("message").contains(param), "{query}");
        assert_eq!(v["details"][0]["target"], param, "{query}");
    }
    let resp = env
        .http
        .get(env.api("/communications"))
        .bearer_auth(&token)
        .header(ACCEPT, "application/xml")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
    assert!(env.activity().await.is_empty(), "failed calls list nothing");
}

#[tokio::test]
async fn paging_is_stable_and_the_list_shrinks_when_items_are_handled() {
    let env = Env::empty().await;
    let token = env.token().await;
    let ids = env.inject(json!({"count": 25, "size": 2000})).await;
    assert_eq!(ids.len(), 25);

    let mut seen = Vec::new();
    for offset in [0, 10, 20, 30] {
        let page = env
            .list(&token, &format!("handled=false&offset={offset}&limit=10"))
            .await;
        assert_eq!(page["totalCount"], 25);
        assert_eq!(page["offset"], offset);
        assert_eq!(page["limit"], 10);
        seen.extend(ids_of(&page, "communications"));
    }
    assert_eq!(seen, ids, "pages cover every item once, in creation order");

    // A client that marks during the walk skips items: page 2 now starts at item 21.
    let first = env.list(&token, "handled=false&offset=0&limit=10").await;
    let first_ids = ids_of(&first, "communications");
    let refs: Vec<&str> = first_ids.iter().map(String::as_str).collect();
    assert_eq!(env.mark(&token, &refs).await.status(), StatusCode::OK);
    let second = env.list(&token, "handled=false&offset=10&limit=10").await;
    assert_eq!(second["totalCount"], 15);
    assert_eq!(ids_of(&second, "communications"), ids[20..].to_vec());
}

// E2

#[tokio::test]
async fn download_streams_a_valid_pdf_and_sets_read() {
    let env = Env::with_seed(4).await;
    let token = env.token().await;
    let list = env.list(&token, "read=false").await;
    let c = first_flat(&list["communications"]);
    let id = c["communicationId"].as_str().expect("id");

    let (h, pdf) = env.download(&token, id).await;
    assert_eq!(header(&h, CONTENT_TYPE), "application/pdf");
    assert_eq!(header(&h, CONTENT_LENGTH), c["fileSize"].to_string());
    assert_eq!(pdf.len() as u64, c["fileSize"].as_u64().expect("size"));
    assert_eq!(
        header(&h, CONTENT_DISPOSITION),
        format!("attachment; filename={}", c["fileName"])
    );
    assert!(h.get("etag").is_some());
    assert_valid_pdf(&pdf);
    let text = String::from_utf8_lossy(&pdf[..2000]).into_owned();
    for field in [
        "communicationId",
        "applicationNumber",
        "dispatchDate",
        "documentTitle",
    ] {
        let value = c[field].as_str().expect("field");
        assert!(text.contains(value), "page names {field} {value}");
    }

    let after = env.mailbox().await;
    let stored = after.iter().find(|m| m["id"] == id).expect("in mailbox");
    assert_eq!(
        (stored["read"].clone(), stored["handled"].clone()),
        (json!(true), json!(false))
    );
    let last = env.activity().await.last().cloned().expect("activity");
    assert_eq!(
        (last["action"].clone(), last["communication_id"].clone()),
        (json!("DOWNLOADED"), json!(id))
    );

    let resp = env
        .get(&token, &format!("/communications/{id}/file?setHandled=true"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.bytes().await.expect("body").to_vec(),
        pdf,
        "same bytes again"
    );
    let actions: Vec<Value> = env
        .activity()
        .await
        .iter()
        .rev()
        .take(2)
        .map(|a| a["action"].clone())
        .collect();
    assert_eq!(actions, [json!("MARKED_HANDLED"), json!("DOWNLOADED")]);
    let handled = env.list(&token, "handled=true").await;
    assert_eq!(ids_of(&handled, "communications"), [id.to_owned()]);
}

#[tokio::test]
async fn download_errors_unknown_id_accept_and_parameter() {
    let env = Env::with_seed(4).await;
    let token = env.token().await;
    let id = env
        .mailbox()
        .await
        .iter()
        .find(|c| c["documents"].as_array().map(Vec::len) == Some(1))
        .expect("a one-file communication")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let head = env
        .http
        .head(env.api(&format!("/communications/{id}/file")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(head.headers(), CONTENT_TYPE), "application/pdf");
    assert!(env.activity().await.is_empty(), "HEAD downloads nothing");

    let resp = env.get(&token, "/communications/deadbeef/file").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "COMMUNICATION_NOT_FOUND");
    assert!(v["message"].as_str().expect("message").contains("deadbeef"));

    for (accept, status) in [
        ("application/json", StatusCode::NOT_ACCEPTABLE),
        ("text/html, application/pdf;q=0", StatusCode::NOT_ACCEPTABLE),
        ("application/pdf", StatusCode::OK),
        ("application/*", StatusCode::OK),
        ("text/html, */*;q=0.1", StatusCode::OK),
    ] {
        let resp = env
            .http
            .get(env.api(&format!("/communications/{id}/file")))
            .bearer_auth(&token)
            .header(ACCEPT, accept)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), status, "Accept: {accept}");
    }
    let resp = env
        .get(&token, &format!("/communications/{id}/file?setHandled=yes"))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(v["details"][0]["target"], "setHandled");

    let resp = env.get(&token, "/no/such/thing").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn same_seed_gives_the_same_mailbox_and_bytes_in_two_sandboxes() {
    let a = Env::with_seed(77).await;
    let b = Env::with_seed(77).await;
    let c = Env::with_seed(78).await;
    let (ta, tb, tc) = (a.token().await, b.token().await, c.token().await);
    let la = a.list(&ta, "").await;
    let lb = b.list(&tb, "").await;
    assert_eq!(la, lb, "same listing");
    let id = la["communications"][5]["communicationId"].as_str().expect("id");
    let (_, pa) = a.download(&ta, id).await;
    let (_, pb) = b.download(&tb, id).await;
    assert_eq!(pa, pb, "same bytes");

    let lc = c.list(&tc, "").await;
    let idc = lc["communications"][5]["communicationId"].as_str().expect("id");
    assert_ne!(id, idc, "another seed, other ids");
    let (_, pc) = c.download(&tc, idc).await;
    assert_ne!(pa, pc);
}

#[tokio::test]
async fn a_64_mib_download_streams_with_exact_length() {
    const SIZE: u64 = 64 << 20;
    let env = Env::empty().await;
    let token = env.token().await;
    let id = env.inject(json!({"size": SIZE})).await.remove(0);
    let listed = env.list(&token, "").await;
    assert_eq!(listed["communications"][0]["fileSize"], SIZE);

    let mut fingerprints = Vec::new();
    for _ in 0..2 {
        let mut resp = env.get(&token, &format!("/communications/{id}/file")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.content_length(), Some(SIZE));
        let mut hash = Fnv::new();
        let mut total = 0u64;
        let mut head = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        let mut largest = 0usize;
        while let Some(chunk) = resp.chunk().await.expect("chunk") {
            hash.update(&chunk);
            total += chunk.len() as u64;
            largest = largest.max(chunk.len());
            if head.len() < 16 {
                head.extend_from_slice(&chunk[..chunk.len().min(16)]);
            }
            tail.extend_from_slice(&chunk);
            let keep = tail.len().saturating_sub(64);
            tail.drain(..keep);
        }
        assert_eq!(total, SIZE);
        assert!(head.starts_with(b"%PDF-1.7"));
        assert!(tail.ends_with(b"%%EOF\n"));
        assert!(largest <= 1 << 20, "streamed in chunks, largest {largest}");
        fingerprints.push(hash.0);
    }
    assert_eq!(fingerprints[0], fingerprints[1], "deterministic bytes");
}

// E3

#[tokio::test]
async fn mark_handled_reports_each_id() {
    let env = Env::with_seed(5).await;
    let token = env.token().await;
    let mailbox = env.mailbox().await;
    let a = mailbox[0]["id"].as_str().expect("id");
    let b = mailbox[1]["id"].as_str().expect("id");
    assert_eq!(env.mark(&token, &[b]).await.status(), StatusCode::OK);

    let resp = env.mark(&token, &[a, b, "deadbeef", a]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("results");
    assert_eq!(
        v,
        json!({"results": [
            {"communicationId": a, "status": "HANDLED"},
            {"communicationId": b, "status": "ALREADY_HANDLED"},
            {"communicationId": "deadbeef", "status": "NOT_FOUND"},
            {"communicationId": a, "status": "ALREADY_HANDLED"},
        ]})
    );
    let marked: Vec<(Value, Value)> = env
        .activity()
        .await
        .iter()
        .filter(|x| x["action"] == "MARKED_HANDLED")
        .map(|x| (x["communication_id"].clone(), x["actor"].clone()))
        .collect();
    assert_eq!(marked, [(json!(b), json!("api")), (json!(a), json!("api"))]);
}

#[tokio::test]
async fn mark_handled_rejects_bad_requests() {
    let env = Env::with_seed(5).await;
    let token = env.token().await;
    let id = env.mailbox().await[0]["id"].as_str().expect("id").to_owned();
    let url = env.api("/communications/handled");
    let body = json!({ "communicationIds": [id] }).to_string();

    let plain = env
        .http
        .post(&url)
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "text/plain")
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let none = env
        .http
        .post(&url)
        .bearer_auth(&token)
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(none.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    for bad in [
        "{\"communicationIds\": [".to_owned(),
        "{\"ids\": []}".to_owned(),
        "{\"communicationIds\": []}".to_owned(),
        "{\"communicationIds\": [1, 2]}".to_owned(),
        json!({ "communicationIds": many }).to_string(),
    ] {
        let resp = env
            .http
            .post(&url)
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(bad.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad:.40}");
        let v: Value = resp.json().await.expect("ST.90");
        assert!(!err_code(&v).is_empty());
    }
    assert!(env.mailbox().await.iter().all(|c| c["handled"] == false));
}

// Profiles

#[tokio::test]
async fn aliases_profile_renames_fields_and_envelope() {
    let env = Env::with_seed(6).await;
    let token = env.token().await;
    env.set_profile("aliases").await;
    let v = env.list(&token, "limit=5").await;
    assert_eq!(v["total"], 12);
    assert!(v.get("totalCount").is_none() && v.get("communications").is_none());
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 5);
    for c in items {
        for key in ["id", "applicationNumberText", "documentDate"] {
            assert!(c.get(key).is_some(), "{key}");
        }
        for key in ["communicationId", "applicationNumber", "dispatchDate"] {
            assert!(c.get(key).is_none(), "{key}");
        }
        let files: Vec<&Value> = match c["documents"].as_array() {
            Some(docs) => docs.iter().collect(),
            None => vec![c],
        };
        for f in files {
            for key in ["mimeType", "size", "fileName"] {
                assert!(f.get(key).is_some(), "{key}");
            }
            for key in ["mediaType", "fileSize"] {
                assert!(f.get(key).is_none(), "{key}");
            }
        }
    }
    let flat = items
        .iter()
        .find(|c| c.get("fileName").is_some())
        .expect("a one-file communication");
    let id = flat["id"].as_str().expect("id");
    let (_, pdf) = env.download(&token, id).await;
    assert_eq!(pdf.len() as u64, flat["size"].as_u64().expect("size"));
}

#[tokio::test]
async fn nested_profile_lists_documents_and_downloads_each() {
    let env = Env::with_seed(6).await;
    let token = env.token().await;
    let flat = env.list(&token, "").await;
    let first_flat = first_flat(&flat["communications"]);
    let flat_id = first_flat["communicationId"].as_str().expect("id");
    let resp = env
        .get(&token, &format!("/communications/{flat_id}/documents/d1"))
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "flat profile has no document path"
    );

    env.set_profile("nested").await;
    let v = env.list(&token, "").await;
    let items = v["communications"].as_array().expect("items");
    assert!(
        items
            .iter()
            .all(|c| c.get("fileName").is_none() && c.get("fileSize").is_none())
    );
    let two = items
        .iter()
        .find(|c| c["documents"].as_array().is_some_and(|d| d.len() == 2))
        .expect("a communication with two documents");
    let id = two["communicationId"].as_str().expect("id");
    let docs = two["documents"].as_array().expect("documents");
    let mut bodies = Vec::new();
    for d in docs {
        assert_eq!(d["mediaType"], "application/pdf");
        let doc_id = d["documentId"].as_str().expect("documentId");
        let resp = env
            .get(&token, &format!("/communications/{id}/documents/{doc_id}"))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header(resp.headers(), CONTENT_DISPOSITION),
            format!("attachment; filename={}", d["fileName"])
        );
        let body = resp.bytes().await.expect("body").to_vec();
        assert_eq!(body.len() as u64, d["fileSize"].as_u64().expect("size"));
        assert_valid_pdf(&body);
        bodies.push(body);
    }
    assert_ne!(bodies[0], bodies[1]);
    let first_nested = items
        .iter()
        .find(|c| c["communicationId"] == first_flat["communicationId"])
        .expect("same item");
    assert_eq!(first_nested["documents"][0]["fileSize"], first_flat["fileSize"]);

    let resp = env.get(&token, &format!("/communications/{id}/file")).await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "nested profile has no flat path"
    );
    let resp = env
        .get(&token, &format!("/communications/{id}/documents/d9"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "DOCUMENT_NOT_FOUND");

    env.set_profile("aliases+nested").await;
    let v = env.list(&token, "limit=1").await;
    let doc = &v["items"][0]["documents"][0];
    assert!(doc.get("mimeType").is_some() && doc.get("size").is_some() && doc.get("documentId").is_some());
}

#[tokio::test]
async fn bare_array_and_no_total_profiles_drop_the_totals() {
    let env = Env::with_seed(6).await;
    let token = env.token().await;
    env.set_profile("bare-array").await;
    let v = env.list(&token, "offset=10&limit=5").await;
    let arr = v.as_array().expect("top-level array");
    assert_eq!(arr.len(), 2, "paging still applies");
    assert!(arr[0].get("communicationId").is_some());

    env.set_profile("no-total").await;
    let v = env.list(&token, "limit=5").await;
    assert!(v.get("totalCount").is_none());
    assert_eq!(v["communications"].as_array().expect("items").len(), 5);
}

#[tokio::test]
async fn mark_204_profile_answers_no_content() {
    let env = Env::start(SandboxOptions {
        myepo_profile: "mark-204".parse::<MyepoProfile>().expect("profile"),
        ..SandboxOptions::default()
    })
    .await;
    let token = env.token().await;
    let id = env.mailbox().await[0]["id"].as_str().expect("id").to_owned();
    let resp = env.mark(&token, &[&id, "deadbeef"]).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().await.expect("body").is_empty());
    assert_eq!(env.list(&token, "handled=true").await["totalCount"], 1);
}

#[tokio::test]
async fn mark_batch_error_profile_rejects_the_whole_batch() {
    let env = Env::with_seed(7).await;
    let token = env.token().await;
    env.set_profile("mark-batch-error").await;
    let mailbox = env.mailbox().await;
    let a = mailbox[0]["id"].as_str().expect("id");
    let b = mailbox[1]["id"].as_str().expect("id");

    let resp = env.mark(&token, &[a, "deadbeef", b, "nope"]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "COMMUNICATION_NOT_FOUND");
    let targets: Vec<&Value> = v["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| &d["target"])
        .collect();
    assert_eq!(
        targets,
        [&json!("communicationIds[1]"), &json!("communicationIds[3]")]
    );
    assert!(
        v["details"][0]["message"]
            .as_str()
            .expect("message")
            .contains("deadbeef")
    );
    assert_eq!(
        env.list(&token, "handled=true").await["totalCount"],
        0,
        "nothing changed"
    );

    let resp = env.mark(&token, &[a, b]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("results");
    assert_eq!(v["results"][1]["status"], "HANDLED");

    env.set_profile("mark-204+mark-batch-error").await;
    let c = mailbox[2]["id"].as_str().expect("id");
    assert_eq!(
        env.mark(&token, &[c, "deadbeef"]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(env.mark(&token, &[c]).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn settings_reject_unknown_profiles() {
    let env = Env::empty().await;
    let resp = env
        .post_scenario("/_sandbox/myepo/settings", json!({"profile": "aliases+zip"}))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.expect("error");
    let msg = v["error"].as_str().expect("error");
    assert!(msg.contains("zip") && msg.contains("mark-batch-error"), "{msg}");
    let current = env.get_scenario("/_sandbox/myepo/settings").await;
    assert_eq!(
        current,
        json!({"profile": "default", "token_lifetime_secs": 3600})
    );
}

// Scenario API

#[tokio::test]
async fn injected_communications_carry_the_requested_fields() {
    let env = Env::empty().await;
    let token = env.token().await;
    let ids = env
        .inject(json!({
            "count": 3,
            "size": 123_457,
            "application_number": "PCT/EP2024/055555",
            "document_code": "2001",
            "dispatch_date": "2024-02-29",
            "title": "Invitation (test)",
        }))
        .await;
    assert_eq!(ids.len(), 3);
    let v = env.list(&token, "").await;
    let items = v["communications"].as_array().expect("items");
    assert_eq!(ids_of(&v, "communications"), ids);
    for c in items {
        assert_eq!(c["applicationNumber"], "PCT/EP2024/055555");
        assert_eq!(c["procedure"], "PCT");
        assert_eq!(c["documentCode"], "2001");
        assert_eq!(c["documentTitle"], "Invitation (test)");
        assert_eq!(c["dispatchDate"], "2024-02-29");
        assert_eq!(c["fileSize"], 123_457);
        assert_eq!(c["handled"], false);
    }

    let defaults = env.inject(json!({"document_code": "2006A", "size": 1})).await;
    let stored = env.mailbox().await;
    let c = stored
        .iter()
        .find(|c| c["id"] == defaults[0].as_str())
        .expect("stored");
    assert_eq!(c["document_title"], "Decision to grant a European patent");
    let size = c["documents"][0]["file_size"].as_u64().expect("size");
    assert!(
        size > 500 && size < 3000,
        "tiny size raised to the PDF minimum: {size}"
    );
    let (_, pdf) = env.download(&token, &defaults[0]).await;
    assert_eq!(pdf.len() as u64, size);
    assert_valid_pdf(&pdf);

    let resp = env
        .http
        .post(env.url("/_sandbox/myepo/communications"))
        .send()
        .await
        .expect("empty body");
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "an empty body injects one default item"
    );

    for bad in [
        json!({"count": 0}),
        json!({"count": 100_001}),
        json!({"colour": "red"}),
        json!({"dispatch_date": "29.02.2024"}),
        json!({"size": 5_000_000_000u64}),
        json!({"application_number": " "}),
        json!({"letter": []}),
        json!({"letter": vec!["line"; 61]}),
        json!({"letter": ["x".repeat(101)]}),
    ] {
        let resp = env
            .post_scenario("/_sandbox/myepo/communications", bad.clone())
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let v: Value = resp.json().await.expect("error");
        assert!(v["error"].is_string());
    }
    assert_eq!(env.mailbox().await.len(), 5);
}

#[tokio::test]
async fn an_injected_letter_is_the_body_of_every_page() {
    let env = Env::empty().await;
    let token = env.token().await;
    let line = "You are invited to reply within a period of two months.";
    let ids = env
        .inject(json!({
            "document_code": "2001",
            "letter": [line, "Zweite Zeile (\u{e4})", "y".repeat(100)],
        }))
        .await;
    let (_, pdf) = env.download(&token, &ids[0]).await;
    assert_valid_pdf(&pdf);
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(&format!("({line}) Tj")), "the chosen line");
    assert!(
        text.contains("(Zweite Zeile \\(\\344\\)) Tj"),
        "escaped as WinAnsi"
    );
    assert!(
        text.contains(&format!("({}) Tj", "y".repeat(100))),
        "100 characters fit"
    );
    assert!(!text.contains("four months"), "the form's own text is replaced");
    assert_eq!(env.mailbox().await[0]["letter"][0], line);

    // Without one, the form's text in the case's language (EP14735465 is German).
    let ids = env
        .inject(json!({"document_code": "2001", "application_number": "EP14735465.8"}))
        .await;
    let (_, pdf) = env.download(&token, &ids[0]).await;
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("innerhalb einer Frist von vier Monaten"),
        "German body"
    );
    assert!(env.mailbox().await[1].get("letter").is_none(), "no letter listed");
}

#[tokio::test]
async fn web_ui_handling_hides_items_from_the_unhandled_list() {
    let env = Env::with_seed(8).await;
    let token = env.token().await;
    let ids: Vec<String> = env
        .mailbox()
        .await
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect();

    let resp = env
        .post_scenario("/_sandbox/myepo/handled", json!({"ids": [ids[0], "ghost"]}))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: Value = resp.json().await.expect("error");
    assert!(v["error"].as_str().expect("error").contains("ghost"));
    assert_eq!(
        env.list(&token, "handled=false").await["totalCount"],
        12,
        "nothing changed"
    );

    let resp = env
        .post_scenario("/_sandbox/myepo/handled", json!({"ids": [ids[0], ids[1]]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let unhandled = env.list(&token, "handled=false").await;
    assert_eq!(unhandled["totalCount"], 10);
    let listed = ids_of(&unhandled, "communications");
    assert!(!listed.contains(&ids[0]) && !listed.contains(&ids[1]));

    let resp = env.mark(&token, &[&ids[0]]).await;
    let v: Value = resp.json().await.expect("results");
    assert_eq!(v["results"][0]["status"], "ALREADY_HANDLED");
    let activity = env.activity().await;
    let web_marks: Vec<(&Value, &Value)> = activity
        .iter()
        .filter(|a| a["actor"] == "web")
        .map(|a| (&a["action"], &a["communication_id"]))
        .collect();
    let handled = json!("MARKED_HANDLED");
    assert_eq!(
        web_marks,
        [(&handled, &json!(ids[0])), (&handled, &json!(ids[1]))]
    );
}

#[tokio::test]
async fn activity_is_ordered_and_stamped_with_the_virtual_clock() {
    let env = Env::with_seed(9).await;
    let token = env.token().await;
    let v = env.list(&token, "limit=2").await;
    let id = first_flat(&v["communications"])["communicationId"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = env
        .post_scenario("/_sandbox/clock", json!({"advance_seconds": 86_400}))
        .await;
    let clock: Value = resp.json().await.expect("clock");
    let virtual_now =
        chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().expect("now")).expect("rfc3339");
    env.download(&token, &id).await;
    assert_eq!(env.mark(&token, &[&id]).await.status(), StatusCode::OK);

    let activity = env.activity().await;
    let actions: Vec<&str> = activity
        .iter()
        .map(|a| a["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["LISTED", "LISTED", "DOWNLOADED", "MARKED_HANDLED"]);
    let seqs: Vec<u64> = activity.iter().map(|a| a["seq"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let at: Vec<chrono::DateTime<chrono::FixedOffset>> = activity
        .iter()
        .map(|a| chrono::DateTime::parse_from_rfc3339(a["at"].as_str().expect("at")).expect("rfc3339"))
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        at[0] < virtual_now && at[2] >= virtual_now,
        "stamped on the virtual clock"
    );
    assert!(activity.iter().all(|a| a["actor"] == "api"));
    assert_eq!(activity[2]["communication_id"], json!(id));
}

// Faults

#[tokio::test]
async fn injected_status_faults_render_st90_bodies() {
    let env = Env::with_seed(10).await;
    let token = env.token().await;
    env.fault(json!({"office": "myepo", "kind": "status", "status": 503, "retry_after": "7", "endpoint": "/v1/communications"}))
        .await;
    let resp = env.get(&token, "/communications").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(resp.headers(), RETRY_AFTER), "7");
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "SERVICE_UNAVAILABLE");
    assert_eq!(
        env.get(&token, "/communications").await.status(),
        StatusCode::OK,
        "fault used up"
    );

    env.fault(json!({"office": "myepo", "kind": "status", "status": 403}))
        .await;
    let resp = env.get(&token, "/communications").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let v: Value = resp.json().await.expect("ST.90");
    assert_eq!(err_code(&v), "MAILBOX_ACCESS_DENIED");

    env.fault(json!({"office": "myepo", "kind": "status", "status": 401}))
        .await;
    let resp = env.get(&token, "/communications").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(resp.headers(), WWW_AUTHENTICATE),
        "Bearer error=\"invalid_token\""
    );

    env.fault(json!({"office": "myepo", "kind": "status", "status": 429, "endpoint": "token"}))
        .await;
    let resp = env
        .http
        .post(env.token_url())
        .basic_auth(MYEPO_CLIENT_ID, Some(MYEPO_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn truncated_download_is_an_incomplete_body() {
    let env = Env::empty().await;
    let token = env.token().await;
    // Large enough that hyper has flushed the headers before the abort (see the report on
    // faults.rs: a body cut within hyper's write buffer never reaches the client at all).
    let id = env.inject(json!({"size": 3_000_000})).await.remove(0);
    env.fault(json!({"office": "myepo", "kind": "truncate", "endpoint": "/file"}))
        .await;
    let resp = env.get(&token, &format!("/communications/{id}/file")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.content_length(), Some(3_000_000));
    assert!(
        resp.bytes().await.is_err(),
        "the client must see the body end early"
    );
    let (_, pdf) = env.download(&token, &id).await;
    assert_eq!(pdf.len(), 3_000_000, "the next download is whole");
}

#[tokio::test]
async fn malformed_list_does_not_parse() {
    let env = Env::with_seed(11).await;
    let token = env.token().await;
    env.fault(json!({"office": "myepo", "kind": "malformed", "endpoint": "/v1/communications"}))
        .await;
    let resp = env.get(&token, "/communications").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.expect("text");
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn expire_token_fault_makes_the_next_call_401() {
    let env = Env::with_seed(12).await;
    let token = env.token().await;
    assert_eq!(env.get(&token, "/communications").await.status(), StatusCode::OK);
    let resp = env
        .post_scenario(
            "/_sandbox/faults",
            json!({"office": "myepo", "kind": "expire_token"}),
        )
        .await;
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["expired_tokens"], 1);
    let resp = env.get(&token, "/communications").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(resp.headers(), WWW_AUTHENTICATE),
        "Bearer error=\"invalid_token\""
    );
    let fresh = env.token().await;
    assert_eq!(env.get(&fresh, "/communications").await.status(), StatusCode::OK);
}

// Persistence

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = SandboxOptions {
        seed: 21,
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    };
    let env = Env::start(opts.clone()).await;
    let token = env.token().await;
    let injected = env.inject(json!({"size": 50_000})).await.remove(0);
    let first = env.mailbox().await[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(env.mark(&token, &[&first]).await.status(), StatusCode::OK);
    let (_, before) = env.download(&token, &injected).await;
    env.set_profile("aliases").await;
    let activity = env.activity().await;
    let mailbox = env.mailbox().await;
    env.sb.stop().await.expect("stop flushes");

    // A different seed option: the restored mailbox keeps its own seed, ids and bytes.
    let env = Env::start(SandboxOptions { seed: 99, ..opts }).await;
    let resp = env.get(&token, "/communications").await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "tokens live in memory only"
    );
    let token = env.token().await;
    assert_eq!(env.mailbox().await, mailbox);
    assert_eq!(env.activity().await, activity);
    let v = env.list(&token, "handled=true").await;
    assert_eq!(v["total"], 1, "the aliases setting was kept");
    assert_eq!(v["items"][0]["id"], json!(first));
    let (_, after) = env.download(&token, &injected).await;
    assert_eq!(before, after);
    let next = env.inject(json!({})).await.remove(0);
    assert!(
        mailbox.iter().all(|c| c["id"] != json!(next)),
        "the id counter continued"
    );
    env.sb.stop().await.expect("stop");
}

#[tokio::test]
async fn state_is_flushed_shortly_after_a_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = Env::start(SandboxOptions {
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    })
    .await;
    let token = env.token().await;
    let id = env.mailbox().await[3]["id"].as_str().expect("id").to_owned();
    assert_eq!(env.mark(&token, &[&id]).await.status(), StatusCode::OK);
    let path = dir.path().join("sandbox-state.json");
    let mut saved = Value::Null;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(text) = std::fs::read_to_string(&path) {
            saved = serde_json::from_str(&text).expect("state json");
            break;
        }
    }
    let comms = saved["myepo"]["mailbox"]["communications"]
        .as_array()
        .expect("saved mailbox");
    let c = comms.iter().find(|c| c["id"] == json!(id)).expect("saved");
    assert_eq!(c["handled"], true);
}

// Issue 8: no loss, no leak on every variant

#[tokio::test]
async fn several_files_are_listed_as_documents_in_every_profile() {
    let env = Env::empty().await;
    let token = env.token().await;
    let one = env.inject(json!({"size": 20000})).await.remove(0);
    let two = env.inject(json!({"size": 20000, "documents": 2})).await.remove(0);
    for profile in ["default", "aliases", "bare-array", "href"] {
        env.set_profile(profile).await;
        let v = env.list(&token, "").await;
        let items = if profile == "bare-array" {
            v.as_array().expect("array").clone()
        } else {
            v[if profile == "aliases" {
                "items"
            } else {
                "communications"
            }]
            .as_array()
            .expect("items")
            .clone()
        };
        let key = if profile == "aliases" {
            "id"
        } else {
            "communicationId"
        };
        let item = |id: &str| items.iter().find(|c| c[key] == id).expect("listed").clone();
        let (flat, nested) = (item(&one), item(&two));
        assert!(
            flat.get("fileName").is_some() && flat.get("documents").is_none(),
            "{profile}: {flat}"
        );
        let docs = nested["documents"].as_array().expect("documents");
        assert!(
            nested.get("fileName").is_none() && docs.len() == 2,
            "{profile}: {nested}"
        );
        for d in ["d1", "d2"] {
            let resp = env
                .get(
                    &token,
                    &format!("/communications/{two}/documents/{d}?setHandled=false"),
                )
                .await;
            assert_eq!(resp.status(), StatusCode::OK, "{profile} {d}");
        }
        let resp = env.get(&token, &format!("/communications/{two}/file")).await;
        assert_eq!(
            resp.status(),
            StatusCode::NOT_FOUND,
            "{profile}: listed nested, no flat path"
        );
        let resp = env
            .get(&token, &format!("/communications/{one}/documents/d1"))
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::NOT_FOUND,
            "{profile}: listed flat, no document path"
        );
    }
}

#[tokio::test]
async fn href_profile_lists_same_origin_links_that_download() {
    let env = Env::empty().await;
    let token = env.token().await;
    env.inject(json!({"size": 20000})).await;
    env.inject(json!({"size": 20000, "documents": [{"id": "a/b"}, {"id": "c"}]}))
        .await;
    let origin = env.sb.base_url();
    for profile in ["href", "nested+href"] {
        env.set_profile(profile).await;
        let v = env.list(&token, "").await;
        let mut files = Vec::new();
        for c in v["communications"].as_array().expect("items") {
            match c["documents"].as_array() {
                Some(docs) => files.extend(docs.iter().cloned()),
                None => files.push(c.clone()),
            }
        }
        assert_eq!(files.len(), 3, "{profile}");
        for f in files {
            let href = f["href"].as_str().expect("href");
            assert!(
                href.starts_with(&format!("{origin}/myepo/v1/communications/")),
                "{href}"
            );
            let resp = env
                .http
                .get(format!("{href}?setHandled=false"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("href download");
            assert_eq!(resp.status(), StatusCode::OK, "{href}");
            let body = resp.bytes().await.expect("body");
            assert_eq!(body.len() as u64, f["fileSize"].as_u64().expect("size"), "{href}");
        }
    }
}

#[tokio::test]
async fn flip_on_download_marks_handled_unless_told_set_handled_false() {
    let env = Env::empty().await;
    let token = env.token().await;
    let ids = env.inject(json!({"count": 2, "size": 20000})).await;
    env.set_profile("flip-on-download").await;
    let resp = env
        .get(
            &token,
            &format!("/communications/{}/file?setHandled=false", ids[0]),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = env.get(&token, &format!("/communications/{}/file", ids[1])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let handled: Vec<bool> = env
        .mailbox()
        .await
        .iter()
        .map(|c| c["handled"].as_bool().expect("handled"))
        .collect();
    assert_eq!(handled, [false, true]);
    let last = env.activity().await.last().cloned().expect("activity");
    assert_eq!(
        (&last["action"], &last["actor"], &last["communication_id"]),
        (&json!("MARKED_HANDLED"), &json!("api"), &json!(ids[1]))
    );
}

#[tokio::test]
async fn injected_documents_keep_their_ids_and_a_person_can_unhandle() {
    let env = Env::empty().await;
    let token = env.token().await;
    let id = env
        .inject(json!({"documents": [{"id": "d/1", "size": 25000}, {"id": "d/1", "href": "https://elsewhere.example/x"}], "size": 21000}))
        .await
        .remove(0);
    let v = env.list(&token, "").await;
    let docs = v["communications"][0]["documents"]
        .as_array()
        .expect("documents")
        .clone();
    assert_eq!(docs[0]["documentId"], "d/1");
    assert_eq!(docs[1]["documentId"], "d/1");
    assert_eq!(docs[0]["fileSize"], 25000);
    assert_eq!(docs[1]["fileSize"], 21000);
    assert!(docs[0].get("href").is_none());
    assert_eq!(docs[1]["href"], "https://elsewhere.example/x");
    let resp = env
        .get(
            &token,
            &format!("/communications/{id}/documents/d%2F1?setHandled=false"),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "a repeated id serves its first document"
    );
    assert_eq!(resp.bytes().await.expect("body").len(), 25000);

    assert_eq!(env.mark(&token, &[&id]).await.status(), StatusCode::OK);
    let resp = env
        .post_scenario("/_sandbox/myepo/unhandled", json!({"ids": [id]}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let last = env.activity().await.last().cloned().expect("activity");
    assert_eq!(
        (&last["action"], &last["actor"]),
        (&json!("MARKED_UNHANDLED"), &json!("web"))
    );
    let v = env.list(&token, "handled=false").await;
    assert_eq!(ids_of(&v, "communications"), [id]);
    let resp = env
        .post_scenario("/_sandbox/myepo/unhandled", json!({"ids": ["nope"]}))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversize_and_endless_faults_send_more_than_listed() {
    let env = Env::empty().await;
    let token = env.token().await;
    let id = env.inject(json!({"size": 20000})).await.remove(0);
    let path = format!("/communications/{id}/file?setHandled=false");
    env.fault(json!({"office": "myepo", "kind": "oversize", "extra_bytes": 5000, "endpoint": "/file"}))
        .await;
    let resp = env.get(&token, &path).await;
    assert_eq!(header(resp.headers(), CONTENT_LENGTH), "25000");
    assert_eq!(resp.bytes().await.expect("body").len(), 25000);
    env.fault(json!({"office": "myepo", "kind": "endless", "extra_bytes": 70000, "endpoint": "/file"}))
        .await;
    let resp = env.get(&token, &path).await;
    assert!(resp.headers().get(CONTENT_LENGTH).is_none(), "no Content-Length");
    let body = resp.bytes().await.expect("body");
    assert_eq!(body.len(), 90000);
    assert!(body.starts_with(b"%PDF-"));
    let resp = env
        .post_scenario(
            "/_sandbox/faults",
            json!({"office": "myepo", "kind": "endless", "extra_bytes": 1u64 << 40}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
