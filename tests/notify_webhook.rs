//! Webhooks end to end: `sync mailbox` through the real binary against the sandbox, with a
//! local HTTP receiver on 127.0.0.1 standing in for a JSON endpoint, a Teams Workflows URL and
//! an ntfy topic. The receiver records every request and can answer a scripted status first.

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use common::{Env, explain, stderr, stdout};
use mailroom::notify::webhook::{SCHEMA, check_teams_message};
use serde_json::Value;

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Per path, the `(status, body)` answers still to give before the default 200.
type Script = HashMap<String, VecDeque<(u16, String)>>;

/// What the receiver answers: per path, scripted `(status, body)` first, then 200.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start(script: &[(&str, &[(u16, &str)])]) -> (Receiver, String) {
        let r = Receiver::default();
        {
            let mut s = r.script.lock().unwrap();
            for (path, answers) in script {
                s.insert(
                    (*path).to_owned(),
                    answers.iter().map(|(c, b)| (*c, (*b).to_owned())).collect(),
                );
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(record).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, base)
    }

    fn at(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn record(
    State(r): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    r.seen.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    let answer = r
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let (code, text) = answer.unwrap_or((200, String::new()));
    let status = StatusCode::from_u16(code).unwrap();
    let mut response = (status, text.clone()).into_response();
    if status.is_redirection() {
        // A scripted redirect's text is where it points.
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_str(&text).unwrap());
    }
    response
}

/// Appends `[notify]` with `hooks` (TOML of `[[notify.webhook]]` entries) to the sandbox config.
fn configure(env: &Env, hooks: &str) {
    let mut text = std::fs::read_to_string(env.config_path()).unwrap();
    text.push_str("\n[notify]\nattempts_per_drain = 3\n");
    text.push_str(hooks);
    std::fs::write(env.config_path(), text).unwrap();
}

/// `(channel, recipient, state, attempts, last_error, sent_as)` of every delivery, by id.
type Delivery = (String, String, String, i64, Option<String>, Option<String>);

fn deliveries(env: &Env) -> BTreeMap<i64, Delivery> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT id, channel, recipient, state, attempts, last_error, sent_as FROM notify_deliveries")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The delivery ids of webhook `name`.
fn ids_of(env: &Env, name: &str) -> Vec<i64> {
    deliveries(env)
        .into_iter()
        .filter(|(_, d)| d.0 == "webhook" && d.1 == name)
        .map(|(id, _)| id)
        .collect()
}

/// Decodes an RFC 2047 header (`=?UTF-8?B?…?=` words, or plain ASCII).
fn decode_2047(h: &str) -> String {
    if !h.starts_with("=?") {
        return h.to_owned();
    }
    h.split(' ')
        .map(|w| {
            let b64 = w
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap_or_else(|| panic!("not an encoded word: {w}"));
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

const API_KEY: &str = "k3y-7c1d9e-DO-NOT-LOG";
const TEAMS_SIG: &str = "sig-TEAMS-SIGNATURE-9f8e";

#[tokio::test]
async fn json_teams_and_ntfy_each_get_every_communication_with_the_secret_header_kept_secret() {
    let env = Env::empty().await;
    let (rx, base) = Receiver::start(&[]).await;
    let key_file = env.dir.path().join("events.key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    configure(
        &env,
        &format!(
            r#"
[[notify.webhook]]
name = "events"
url = "{base}/json"
format = "json"
headers_file = {{ X-Api-Key = {key} }}

[[notify.webhook]]
name = "teams"
url = "{base}/workflows/invoke?api-version=1&sig={TEAMS_SIG}"
format = "teams"

[[notify.webhook]]
name = "phone"
url = "{base}/ntfy/mailroom-alerts"
format = "ntfy"
"#,
            key = toml_string(&key_file.to_string_lossy()),
        ),
    );
    let ids = env.create(2, 3000).await;
    let out = env
        .run(env.mailroom_env(&["sync", "mailbox"], &[("MAILROOM_LOG", "info,mailroom=trace")]))
        .await;
    assert!(out.status.success(), "{}", explain(&out));
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains(API_KEY),
        "the header value reached the output:\n{printed}"
    );
    assert!(
        !printed.contains(TEAMS_SIG),
        "the Teams signature reached the output:\n{printed}"
    );
    assert!(
        stdout(&out).contains("notifications: 6 sent"),
        "{}",
        explain(&out)
    );

    // JSON: our schema, one request per delivery, carrying its delivery id and the event.
    let json = rx.at("/json");
    assert_eq!(json.len(), 2, "{json:#?}");
    let mut delivered: Vec<i64> = Vec::new();
    let mut communications: Vec<String> = Vec::new();
    for r in &json {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
        assert_eq!(
            r.header("x-api-key").as_deref(),
            Some(API_KEY),
            "the secret header arrived"
        );
        let v = r.json();
        assert_eq!(v["schema"], SCHEMA);
        let event = &v["event"];
        assert_eq!(event["type"], "communication", "{v:#}");
        for field in [
            "application_number",
            "document_code",
            "title",
            "dispatch_date",
            "archived_at",
        ] {
            assert!(
                event[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}: {v:#}"
            );
        }
        assert!(event["documents"][0]["path"].is_string(), "{v:#}");
        delivered.push(v["delivery"].as_i64().expect("delivery is an integer"));
        communications.push(event["id"].as_str().unwrap().to_owned());
    }
    delivered.sort();
    communications.sort();
    assert_eq!(delivered, ids_of(&env, "events"), "delivery = the outbox row");
    let mut want = ids.clone();
    want.sort();
    assert_eq!(communications, want);

    // Teams: the Workflows envelope with a card that keeps every rule.
    let teams = rx.at("/workflows/invoke");
    assert_eq!(teams.len(), 2);
    let mut register_links = Vec::new();
    for r in &teams {
        assert!(
            r.header("x-api-key").is_none(),
            "headers belong to their webhook only"
        );
        let m = r.json();
        assert_eq!(check_teams_message(&m), Ok(()), "{m:#}");
        let card = &m["attachments"][0]["content"];
        let title = card["body"][0]["text"].as_str().unwrap();
        assert!(title.starts_with("[EPO] ") && title.contains("Form "), "{title}");
        let facts: Vec<&str> = card["body"][1]["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["title"].as_str().unwrap())
            .collect();
        for f in ["Case", "Form", "Title", "Date"] {
            assert!(facts.contains(&f), "{f} in {facts:?}");
        }
        if let Some(url) = card["actions"][0]["url"].as_str() {
            register_links.push(url.to_owned());
        }
    }

    // ntfy: a plain-text body, the headline as the (RFC 2047) title, priority, tags, click.
    let ntfy = rx.at("/ntfy/mailroom-alerts");
    assert_eq!(ntfy.len(), 2);
    for (r, j) in ntfy.iter().zip(&json) {
        let event = &j.json()["event"];
        let title = decode_2047(&r.header("title").expect("a Title"));
        assert!(title.contains(event["title"].as_str().unwrap()), "{title}");
        assert!(r.header("title").unwrap().is_ascii());
        assert_eq!(r.header("priority").as_deref(), Some("3"));
        assert!(r.header("tags").unwrap().contains("communication"));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            body.contains(&format!("Form: {}", event["document_code"].as_str().unwrap())),
            "{body}"
        );
        let app = event["application_number"].as_str().unwrap();
        let epodoc: String = app.split('.').next().unwrap().replace(' ', "");
        if epodoc.starts_with("EP") && epodoc.len() == 10 {
            let want = format!("https://register.epo.org/application?number={epodoc}");
            assert_eq!(r.header("click").as_deref(), Some(want.as_str()));
            assert!(register_links.contains(&want), "{register_links:?}");
        }
    }
    assert!(
        ntfy.iter().any(|r| r.header("click").is_some()),
        "the sandbox's communications are EP applications: some link to the Register"
    );

    for (id, d) in deliveries(&env) {
        assert_eq!(
            (d.2.as_str(), d.3, d.5.as_deref()),
            ("sent", 1, Some("HTTP 200")),
            "{id}: {d:?}"
        );
    }
    let before = rx.count();
    let again = env.sync().await;
    assert!(again.status.success(), "{}", explain(&again));
    assert_eq!(rx.count(), before, "a sent delivery is not sent again");
}

#[tokio::test]
async fn a_5xx_is_retried_a_400_fails_at_once_and_is_reported_and_errors_never_show_the_url() {
    let env = Env::empty().await;
    let (rx, base) = Receiver::start(&[
        ("/flaky", &[(500, "busy"), (503, "busy")]),
        ("/moved", &[(308, "/elsewhere"), (308, "/elsewhere")]),
        (
            "/refuse",
            &[
                (400, "bad request for /refuse?sig=REFUSE-SIG"),
                (400, "bad request for /refuse?sig=REFUSE-SIG"),
            ],
        ),
    ])
    .await;
    // A port nothing listens on: bound, read, released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    configure(
        &env,
        &format!(
            r#"
[[notify.webhook]]
name = "flaky"
url = "{base}/flaky"
format = "json"

[[notify.webhook]]
name = "refuse"
url = "{base}/refuse?sig=REFUSE-SIG"
format = "json"

[[notify.webhook]]
name = "moved"
url = "{base}/moved"
format = "json"
headers = {{ Authorization = "Bearer {API_KEY}", X-Api-Key = "{API_KEY}" }}

[[notify.webhook]]
name = "down"
url = "http://{dead}/hook?sig=DOWN-SIG"
format = "json"
timeout_secs = 5
"#
        ),
    );
    env.create(2, 2000).await;
    let out = env.sync().await;
    assert!(
        out.status.success(),
        "a channel failing does not fail the job: {}",
        explain(&out)
    );
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    for secret in ["REFUSE-SIG", "DOWN-SIG", "/flaky", "/refuse", "/hook"] {
        assert!(!printed.contains(secret), "{secret} in the output:\n{printed}");
    }
    assert!(
        printed.matches("webhook flaky: HTTP 5").count() == 2,
        "two retried answers are logged:\n{printed}"
    );

    // 500, 503, then 200 for the first delivery within one drain; the second at once.
    let flaky = rx.at("/flaky");
    let by_delivery: Vec<i64> = flaky
        .iter()
        .map(|r| r.json()["delivery"].as_i64().unwrap())
        .collect();
    let ids = ids_of(&env, "flaky");
    assert_eq!(
        by_delivery,
        [ids[0], ids[0], ids[0], ids[1]],
        "same delivery id on every try"
    );
    let all = deliveries(&env);
    for id in &ids {
        let d = &all[id];
        assert_eq!(
            (d.2.as_str(), d.5.as_deref()),
            ("sent", Some("HTTP 200")),
            "{d:?}"
        );
    }

    // 400: failed after one request, the error names the webhook, quotes the answer, and
    // shows neither the URL nor its signature even when the body echoes them.
    let refuse_ids = ids_of(&env, "refuse");
    assert_eq!(rx.at("/refuse").len(), refuse_ids.len(), "a 400 is not retried");
    for id in &refuse_ids {
        let d = &all[id];
        assert_eq!((d.2.as_str(), d.3), ("failed", 1), "{d:?}");
        let error = d.4.as_deref().unwrap();
        assert!(
            error.starts_with("webhook refuse: HTTP 400 Bad Request"),
            "{error}"
        );
        assert!(error.contains("bad request for [url]"), "{error}");
        assert!(!error.contains("REFUSE-SIG") && !error.contains(&base), "{error}");
    }

    // A redirect is not followed (it would carry the webhook's headers elsewhere).
    assert_eq!(rx.at("/moved").len(), 2);
    assert!(rx.at("/elsewhere").is_empty(), "a redirect was followed");
    for id in ids_of(&env, "moved") {
        let d = &all[&id];
        assert_eq!((d.2.as_str(), d.3), ("failed", 1), "{d:?}");
        let error = d.4.as_deref().unwrap();
        assert!(
            error.contains("HTTP 308 Permanent Redirect (redirects are not followed"),
            "{error}"
        );
    }
    assert!(!printed.contains(API_KEY), "{printed}");

    // A refused connection: retried within the drain, then left pending for the next one.
    for id in ids_of(&env, "down") {
        let d = &all[&id];
        assert_eq!((d.2.as_str(), d.3), ("pending", 1), "{d:?}");
        let error = d.4.as_deref().unwrap();
        assert!(error.starts_with("webhook down: cannot connect"), "{error}");
        assert!(
            !error.contains("DOWN-SIG") && !error.contains(&dead.to_string()),
            "{error}"
        );
    }

    // Each failure raised one delivery_failed event naming the webhook.
    let db = env.db();
    let mut st = db
        .prepare("SELECT payload_json FROM notify_events WHERE kind = 'delivery_failed' ORDER BY id")
        .unwrap();
    let reports: Vec<Value> = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|j| serde_json::from_str(&j.unwrap()).unwrap())
        .collect();
    let reported: Vec<i64> = reports
        .iter()
        .map(|r| r["delivery_id"].as_i64().unwrap())
        .collect();
    let mut want = refuse_ids.clone();
    want.extend(ids_of(&env, "moved"));
    let mut got = reported.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{reports:#?}");
    for r in &reports {
        let name = r["recipient"].as_str().unwrap();
        assert!(["refuse", "moved"].contains(&name), "{r:#}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("webhook {name}: "))
        );
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
