//! `offices::jpo::JpoClient` against the sandbox's JPO over HTTP on 127.0.0.1: samples of every
//! right, not found, token expiry and refresh, daily caps across a JST midnight, the rate
//! window, injected failures; and a scripted office for answers the sandbox never gives.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mailroom::config::{Jpo, Secret};
use mailroom::core::cases::Kind;
use mailroom::core::jpo_quota::jst_day;
use mailroom::offices::jpo::{JpoClient, JpoError, parse_app_progress, parse_envelope};
use mailroom_sandbox::{RunningSandbox, SandboxOptions, credentials};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATENT: (Kind, &str) = (Kind::Patent, "2020123456");
const DESIGN: (Kind, &str) = (Kind::Design, "2020015234");
const TRADEMARK: (Kind, &str) = (Kind::Trademark, "2024123456");

/// Rate windows run this many times faster than real time: the 60 s window lasts 1 s.
const TIME_SCALE: f64 = 60.0;

struct Env {
    sandbox: RunningSandbox,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Env {
        let sandbox = mailroom_sandbox::spawn_local(SandboxOptions {
            time_scale: TIME_SCALE,
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let env = Env { sandbox, http };
        env.jst_noon().await;
        env
    }

    /// The client's settings for this sandbox: the window scaled like the sandbox's clock,
    /// quick retries.
    fn config(&self) -> Jpo {
        let urls = self.sandbox.urls();
        Jpo {
            token_url: urls.jpo_token.parse().expect("token URL"),
            api_base_url: urls.jpo_api_base.parse().expect("API URL"),
            username: credentials::JPO_USERNAME.into(),
            password: Secret::new(credentials::JPO_PASSWORD),
            window: Duration::from_secs_f64(60.0 / TIME_SCALE),
            requests_per_window: 10,
            daily_cap: 800,
            priority_days: 7,
            retries: 3,
            retry_base_delay: Duration::from_millis(20),
            read_timeout: Duration::from_secs(10),
        }
    }

    fn client(&self) -> JpoClient {
        JpoClient::new(&self.config()).expect("client")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.expect("JSON")
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("JSON")
    }

    /// The sandbox's virtual time.
    async fn now(&self) -> DateTime<Utc> {
        let v = self.get("/_sandbox/clock").await;
        DateTime::parse_from_rfc3339(v["now"].as_str().expect("now"))
            .expect("RFC 3339")
            .with_timezone(&Utc)
    }

    async fn advance_clock(&self, secs: i64) {
        self.post("/_sandbox/clock", json!({ "advance_seconds": secs }))
            .await;
    }

    /// Moves the virtual clock to the next 12:00 JST (03:00 UTC), so no test crosses a JST
    /// midnight it did not ask for.
    async fn jst_noon(&self) {
        let since_3_utc = (self.now().await.timestamp() - 3 * 3600).rem_euclid(86_400);
        self.advance_clock(86_400 - since_3_utc).await;
    }

    /// (used, remain) of today's counter in the sandbox.
    async fn office_usage(&self, right: Kind, api: &str) -> (u64, u64) {
        let u = self.get("/_sandbox/jpo/usage").await;
        let c = &u["users"][credentials::JPO_USERNAME][right.as_str()][api];
        (c["used"].as_u64().unwrap_or(0), c["remain"].as_u64().unwrap_or(0))
    }

    /// API requests that reached the sandbox (token requests not included).
    async fn office_requests(&self) -> u64 {
        let s = self.get("/_sandbox/stats").await;
        s["endpoints"]
            .as_object()
            .expect("endpoints")
            .iter()
            .filter(|(k, _)| k.starts_with("GET /jpo/api/"))
            .map(|(_, v)| v["requests"].as_u64().unwrap_or(0))
            .sum()
    }

    async fn fault(&self, spec: Value) {
        self.post("/_sandbox/faults", spec).await;
    }
}

/// The status a recorded sample parses to.
fn recorded(file: &str, right: Kind) -> mailroom::core::status::JpStatus {
    let path = format!("{}/sandbox/data/jpo-samples/{file}", env!("CARGO_MANIFEST_DIR"));
    let env = parse_envelope(&std::fs::read(path).expect("sample")).expect("envelope");
    parse_app_progress(env.data.as_ref().expect("data"), right).expect("status")
}

#[tokio::test(flavor = "multi_thread")]
async fn samples_of_every_right_are_fetched_and_parsed() {
    let env = Env::start().await;
    let client = env.client();
    let now = env.now().await;
    for ((right, number), file) in [
        (PATENT, "patent_app_progress_2020123456.json"),
        (DESIGN, "design_app_progress_2020015234.json"),
        (TRADEMARK, "trademark_app_progress_2024123456.json"),
    ] {
        let got = client.app_progress(right, number, now).await.expect("status");
        assert_eq!(got, recorded(file, right), "{right} {number}");
        assert_eq!(
            client.remaining(right, jst_day(now)),
            799,
            "{right}: the office's count"
        );
    }
    let patent = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect("status");
    assert_eq!(patent.registration_number, "7533889");
    assert_eq!(client.remaining(Kind::Patent, jst_day(now)), 798);
    let s = client.stats();
    assert_eq!((s.requests, s.status("100"), s.logins, s.refreshes), (4, 4, 1, 0));
    assert_eq!(env.office_requests().await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_number_is_not_found_and_counted() {
    let env = Env::start().await;
    let client = env.client();
    let now = env.now().await;
    let err = client
        .app_progress(Kind::Patent, "9999999999", now)
        .await
        .expect_err("not found");
    assert!(matches!(err, JpoError::NotFound { .. }), "{err}");
    assert!(err.is_case_error());
    assert_eq!(client.stats().status("107"), 1);
    assert_eq!(env.office_usage(Kind::Patent, "app_progress").await, (1, 799));
    let usage = client.usage();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].used, usage[0].remain, usage[0].exhausted),
        (1, Some(799), false)
    );
    assert_eq!(usage[0].day, jst_day(now));

    for bad in ["12345", "2020-123456", "２０２０１２３４５６", "2020:12345"] {
        let err = client.app_progress(Kind::Design, bad, now).await.expect_err(bad);
        assert!(matches!(err, JpoError::BadNumber { .. }), "{bad}: {err}");
        assert!(err.is_case_error());
    }
    assert_eq!(client.stats().requests, 1, "malformed numbers are not sent");
    assert_eq!(env.office_requests().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expire_refresh_and_fall_back_to_the_password() {
    let env = Env::start().await;
    // Access tokens of 4 s are used for 2 s (half their life); refresh tokens live an hour.
    env.post(
        "/_sandbox/jpo/settings",
        json!({"token_lifetime_secs": 4, "refresh_lifetime_secs": 3600}),
    )
    .await;
    let client = env.client();
    let now = env.now().await;
    let fetch = || client.app_progress(PATENT.0, PATENT.1, now);
    fetch().await.expect("first call");
    assert_eq!((client.stats().logins, client.stats().refreshes), (1, 0));

    // The office forgets every token mid-run: 401/210, a new login, the call repeated once.
    env.fault(json!({"office": "jpo", "kind": "expire_token"})).await;
    fetch().await.expect("after the token expired");
    let s = client.stats();
    assert_eq!((s.logins, s.status("210"), s.requests), (2, 1, 3));

    // Past the access token's use: the refresh grant.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    fetch().await.expect("after a refresh");
    let s = client.stats();
    assert_eq!((s.logins, s.refreshes, s.refresh_failures), (2, 1, 0));

    // The refresh token dies with the session: the refresh is refused, the password works.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    env.fault(json!({"office": "jpo", "kind": "expire_token"})).await;
    fetch().await.expect("after the password fallback");
    let s = client.stats();
    assert_eq!((s.logins, s.refreshes, s.refresh_failures), (3, 1, 1));
    assert_eq!((s.requests, s.status("100"), s.status("210")), (5, 4, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_cap_is_kept_without_sending_and_resumes_after_jst_midnight() {
    let env = Env::start().await;
    env.post("/_sandbox/jpo/caps", json!({"app_progress": 5})).await;
    let numbers: Vec<String> = serde_json::from_value(
        env.post("/_sandbox/jpo/cases", json!({"right": "patent", "count": 8}))
            .await["numbers"]
            .clone(),
    )
    .expect("numbers");
    assert_eq!(numbers.len(), 8);
    let client = env.client();
    let now = env.now().await;
    let today = jst_day(now);
    let mut ok = 0;
    let mut capped = 0;
    for n in &numbers {
        match client.app_progress(Kind::Patent, n, now).await {
            Ok(s) => {
                assert_eq!(&s.application_number, n);
                ok += 1;
            }
            Err(JpoError::DailyCapReached { right, api }) => {
                assert_eq!((right, api.as_str()), (Kind::Patent, "app_progress"));
                capped += 1;
            }
            Err(e) => panic!("{n}: {e}"),
        }
    }
    assert_eq!((ok, capped), (5, 3));
    // remainAccessCount reached 0 with the fifth answer: the rest was never sent.
    let s = client.stats();
    assert_eq!((s.requests, s.status("203"), s.refused_locally), (5, 0, 3));
    assert_eq!(env.office_requests().await, 5);
    assert_eq!(env.office_usage(Kind::Patent, "app_progress").await, (5, 0));
    assert_eq!(client.remaining(Kind::Patent, today), 0);
    // Rights have their own counters.
    client
        .app_progress(DESIGN.0, DESIGN.1, now)
        .await
        .expect("design is not capped");

    // A client that does not know the count learns it from one 203, then stops sending.
    let unaware = env.client();
    for _ in 0..3 {
        let err = unaware
            .app_progress(Kind::Patent, &numbers[5], now)
            .await
            .expect_err("capped");
        assert!(matches!(err, JpoError::DailyCapReached { .. }), "{err}");
        assert!(!err.is_case_error());
    }
    let s = unaware.stats();
    assert_eq!((s.requests, s.status("203"), s.refused_locally), (1, 1, 2));
    assert!(unaware.usage().iter().any(|u| u.exhausted && u.day == today));

    // Saved counters carry the knowledge into a new client.
    let restored = env.client();
    restored.restore_usage(client.usage());
    let err = restored
        .app_progress(Kind::Patent, &numbers[5], now)
        .await
        .expect_err("capped");
    assert!(matches!(err, JpoError::DailyCapReached { .. }), "{err}");
    assert_eq!(restored.stats().requests, 0);
    assert_eq!(env.office_requests().await, 5 + 1 + 1);

    // Past 00:00 JST on the office's clock, and told so, the clients call again.
    env.advance_clock(86_400).await;
    let tomorrow = env.now().await;
    assert_eq!(jst_day(tomorrow), today.succ_opt().expect("a next day"));
    let err = client
        .app_progress(Kind::Patent, &numbers[5], now)
        .await
        .expect_err("yesterday");
    assert!(matches!(err, JpoError::DailyCapReached { .. }), "{err}");
    for c in [&client, &unaware, &restored] {
        assert_eq!(
            c.remaining(Kind::Patent, jst_day(tomorrow)),
            800,
            "the configured cap"
        );
    }
    client
        .app_progress(Kind::Patent, &numbers[5], tomorrow)
        .await
        .expect("a new day");
    unaware
        .app_progress(Kind::Patent, &numbers[6], tomorrow)
        .await
        .expect("a new day");
    assert_eq!(env.office_usage(Kind::Patent, "app_progress").await, (2, 3));
    assert_eq!(client.remaining(Kind::Patent, jst_day(tomorrow)), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_requests_stay_inside_the_window() {
    let env = Env::start().await;
    let client = env.client();
    let now = env.now().await;
    let window = env.config().window;
    let started = Instant::now();
    for i in 0..20 {
        let (right, number) = [PATENT, DESIGN, TRADEMARK][i % 3];
        client
            .app_progress(right, number, now)
            .await
            .expect("inside the window");
    }
    let elapsed = started.elapsed();
    let s = client.stats();
    assert_eq!(
        (s.requests, s.status("100"), s.status("303"), s.retries),
        (20, 20, 0, 0)
    );
    assert!(
        elapsed >= window,
        "the 11th request waited a window ({elapsed:?})"
    );
    assert!(elapsed < window * 4, "and no longer than needed ({elapsed:?})");

    // The control: a client that believes in 30 per window meets the office's limit.
    let env = Env::start().await;
    let greedy = JpoClient::new(&Jpo {
        requests_per_window: 30,
        retries: 0,
        ..env.config()
    })
    .expect("client");
    let mut busy = 0;
    for _ in 0..20 {
        if let Err(e) = greedy.app_progress(PATENT.0, PATENT.1, now).await {
            assert!(e.is_transient(), "{e}");
            busy += 1;
        }
    }
    assert!(
        busy > 0 && greedy.stats().status("303") == busy,
        "{:?}",
        greedy.stats()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_failures_are_retried_with_backoff() {
    let env = Env::start().await;
    let client = env.client();
    let now = env.now().await;

    env.fault(json!({"office": "jpo", "kind": "status", "status": 429, "count": 2}))
        .await;
    let started = Instant::now();
    client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect("after two 429s");
    // 20 ms, then 60 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "{:?}",
        started.elapsed()
    );
    let s = client.stats();
    assert_eq!(
        (s.requests, s.status("303"), s.status("100"), s.retries),
        (3, 2, 1, 2)
    );

    env.fault(json!({"office": "jpo", "kind": "status", "status": 504}))
        .await;
    env.fault(json!({"office": "jpo", "kind": "status", "status": 500}))
        .await;
    client
        .app_progress(DESIGN.0, DESIGN.1, now)
        .await
        .expect("after 504 and 500");
    let s = client.stats();
    assert_eq!((s.status("302"), s.status("999"), s.retries), (1, 1, 4));

    // Retries are bounded: 1 + 3 requests, then the office's answer is the error.
    env.fault(json!({"office": "jpo", "kind": "status", "status": 429, "count": 10}))
        .await;
    let before = client.stats().requests;
    let err = client
        .app_progress(TRADEMARK.0, TRADEMARK.1, now)
        .await
        .expect_err("still busy");
    assert!(
        matches!(&err, JpoError::Status { code, http: 429, .. } if code == "303"),
        "{err}"
    );
    assert!(err.is_transient() && !err.is_case_error());
    assert_eq!(client.stats().requests - before, 4);
    assert!(
        err.to_string().contains("trademark app_progress 2024123456"),
        "{err}"
    );
}

/// A scripted office on 127.0.0.1: answers each API request with the next (HTTP status,
/// body) and keeps every request head. Tokens still come from the sandbox.
async fn scripted_office(answers: Vec<(u16, String)>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/api", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut heads = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for (status, body) in answers {
            let Ok(Ok((mut sock, _))) = tokio::time::timeout_at(deadline, listener.accept()).await else {
                break;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            heads.push(String::from_utf8_lossy(&head).into_owned());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
        heads
    });
    (base, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_the_sandbox_never_gives() {
    let env = Env::start().await;
    let sample = std::fs::read_to_string(format!(
        "{}/sandbox/data/jpo-samples/patent_app_progress_2020123456.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("sample");
    let answers = vec![
        // A gateway's 401: log in again, repeat once.
        (401, r#"{"message":"Unauthorized"}"#.to_owned()),
        (200, sample.clone()),
        // Numbers instead of strings, no data on 107.
        (
            200,
            r#"{"result":{"statusCode":107,"errorMessage":"","remainAccessCount":786}}"#.to_owned(),
        ),
        // An unknown status code.
        (
            200,
            r#"{"result":{"statusCode":"555","errorMessage":"新しい","remainAccessCount":""}}"#.to_owned(),
        ),
        // A maintenance page with HTTP 200: not retried.
        (200, "<html>maintenance</html>".to_owned()),
        // 100 with data the parser cannot use: a case error.
        (
            200,
            r#"{"result":{"statusCode":"100","remainAccessCount":"785","data":{"x":1}}}"#.to_owned(),
        ),
        // 204: the number is wrong.
        (
            200,
            r#"{"result":{"statusCode":"204","errorMessage":"bad","remainAccessCount":""}}"#.to_owned(),
        ),
    ];
    let (base, office) = scripted_office(answers).await;
    let client = JpoClient::new(&Jpo {
        api_base_url: base.parse().expect("URL"),
        ..env.config()
    })
    .expect("client");
    let now = env.now().await;
    let status = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect("after a new login");
    assert_eq!(status.title, "立体配線構造体の製造方法");
    assert_eq!(client.stats().logins, 2);
    let err = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect_err("107");
    assert!(matches!(err, JpoError::NotFound { .. }), "{err}");
    assert_eq!(client.remaining(Kind::Patent, jst_day(now)), 786);
    let err = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect_err("555");
    assert!(
        matches!(&err, JpoError::Status { code, .. } if code == "555"),
        "{err}"
    );
    assert!(!err.is_transient() && !err.is_case_error());
    let err = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect_err("HTML");
    assert!(matches!(err, JpoError::Unreadable { http: 200, .. }), "{err}");
    assert!(!err.is_transient());
    let err = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect_err("bad data");
    assert!(
        matches!(err, JpoError::Parse { .. }) && err.is_case_error(),
        "{err}"
    );
    let err = client
        .app_progress(PATENT.0, PATENT.1, now)
        .await
        .expect_err("204");
    assert!(
        matches!(err, JpoError::BadNumber { .. }) && err.is_case_error(),
        "{err}"
    );
    let s = client.stats();
    assert_eq!(
        (s.requests, s.retries, s.status("HTTP 401"), s.status("HTTP 200")),
        (7, 0, 1, 1)
    );

    let heads = office.await.expect("office task");
    assert_eq!(heads.len(), 7);
    let mut ids = std::collections::BTreeSet::new();
    for head in &heads {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.starts_with("get /api/patent/v1/app_progress/2020123456 "),
            "{head}"
        );
        assert!(lower.contains("\r\nauthorization: bearer "), "{head}");
        let id = lower
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_else(|| panic!("no X-Request-ID in {head}"));
        ids.insert(id.to_owned());
    }
    assert_eq!(ids.len(), 7, "one id per request");
}
