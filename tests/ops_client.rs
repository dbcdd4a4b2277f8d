//! The OPS client against the sandbox on 127.0.0.1 (`shared/api/epo-ops.md`): one request per
//! case in both prefix eras, token expiry, 5xx bursts, unknown numbers, 1,000 calls under each
//! throttle state with a binding limit, black episodes caused by another consumer, and the
//! byte quotas. The client's window is 60 s / time_scale, so its pacing runs on the sandbox's
//! virtual clock.

use std::time::{Duration, Instant};

use mailroom::config::{self, Secret};
use mailroom::core::status::EpStatus;
use mailroom::offices::ops::{OpsClient, OpsError, parse_register};
use mailroom_sandbox::{RunningSandbox, SandboxOptions, credentials, spawn_local};
use serde_json::{Value, json};

const REGISTER_ROUTE: &str =
    "GET /ops/3.2/rest-services/register/{reference}/{format}/{number}/{constituents}";
const TOKEN_ROUTE: &str = "POST /ops/3.2/auth/accesstoken";
/// What another consumer of the same credentials asks for (an unknown number: cheap, and
/// counted in the same `other` bucket).
const FILLER_ROUTE: &str = "register/publication/epodoc/EP0000001";

struct Bench {
    sb: RunningSandbox,
    http: reqwest::Client,
    scale: f64,
}

/// One synthetic case: (application, publication).
type Case = (String, String);

impl Bench {
    async fn start(scale: f64) -> Bench {
        let sb = spawn_local(SandboxOptions {
            time_scale: scale,
            seed_communications: 0,
            ..SandboxOptions::default()
        })
        .await
        .expect("sandbox starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Bench { sb, http, scale }
    }

    fn config(&self) -> config::Ops {
        config::Ops {
            base_url: self.sb.urls().ops_base.parse().expect("sandbox URL"),
            consumer_key: credentials::OPS_CONSUMER_KEY.to_owned(),
            consumer_secret: Secret::new(credentials::OPS_CONSUMER_SECRET),
            window: Duration::from_secs_f64(60.0 / self.scale),
            week_quota_bytes: 4_000_000_000,
            quota_stop_share: 0.8,
            retries: 5,
            retry_base_delay: Duration::from_millis(10),
            read_timeout: Duration::from_secs(30),
        }
    }

    fn client(&self) -> OpsClient {
        OpsClient::new(&self.config()).expect("client")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.sb.base_url()))
            .json(&body)
            .send()
            .await
            .expect("scenario call");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("scenario JSON")
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sb.base_url()))
            .send()
            .await
            .expect("scenario call")
            .json()
            .await
            .expect("scenario JSON")
    }

    /// Adds `count` synthetic cases at status `stage` (the earlier the stage, the smaller the
    /// document).
    async fn cases(&self, count: u32, stage: &str) -> Vec<Case> {
        let v = self
            .post("/_sandbox/ops/cases", json!({"count": count, "status": stage}))
            .await;
        let cases: Vec<Case> = v["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .map(|c| {
                (
                    c["application"].as_str().expect("application").to_owned(),
                    c["publication"].as_str().expect("publication").to_owned(),
                )
            })
            .collect();
        assert_eq!(cases.len(), count as usize);
        cases
    }

    /// Requests the sandbox served on one route.
    async fn served(&self, route: &str) -> u64 {
        self.get("/_sandbox/stats").await["endpoints"][route]["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    /// A token of the same consumer, for requests made beside the client.
    async fn other_consumer_token(&self) -> String {
        let v: Value = self
            .http
            .post(format!("{}/auth/accesstoken", self.sb.urls().ops_base))
            .basic_auth(
                credentials::OPS_CONSUMER_KEY,
                Some(credentials::OPS_CONSUMER_SECRET),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token JSON");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Another consumer with the same credentials sends requests in the `other` bucket, 10 at a
    /// time, until OPS refuses one (the bucket is full). Returns how many it sent.
    async fn fill_other_bucket(&self, token: &str) -> usize {
        let url = format!("{}/rest-services/{FILLER_ROUTE}", self.sb.urls().ops_base);
        let mut sent = 0;
        for _ in 0..100 {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..10 {
                let req = self.http.get(&url).bearer_auth(token).send();
                set.spawn(async move { req.await.map(|r| r.status().as_u16()) });
            }
            let mut refused = false;
            while let Some(done) = set.join_next().await {
                sent += 1;
                refused |= matches!(done, Ok(Ok(403)));
            }
            if refused {
                return sent;
            }
        }
        panic!("the bucket never filled after {sent} requests");
    }
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/sandbox/data/ops-samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// EP2400812 as the three recorded 2025 answers say it is.
fn ep2400812_from_samples() -> EpStatus {
    let parse = |name: &str| parse_register(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let biblio = parse("register-biblio_EP2400812_2025.xml");
    EpStatus {
        events: parse("register-events_EP2400812_2025.xml").events,
        steps: parse("register-procedural-steps_EP2400812_2025.xml").steps,
        ..biblio
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_per_case_by_application_or_publication_in_both_eras() {
    let b = Bench::start(1.0).await;
    let cases = b.cases(20, "7").await;
    let c = b.client();
    for (i, (application, publication)) in cases.iter().enumerate() {
        let number = if i < 10 { application } else { publication };
        let s = c
            .register(number)
            .await
            .unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(&s.application_number, application);
        assert_eq!((s.events.len(), s.steps.len()), (55, 19), "{number}");
        assert_eq!(s.statuses.len(), 4);
        assert_eq!(
            (s.statuses[0].code.as_str(), s.statuses[0].date.as_str()),
            ("7", "2020-10-02")
        );
        let kinds: Vec<&str> = s.publications.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["A1", "B1"]);
        assert_eq!(s.publications[0].number, publication.trim_start_matches("EP"));
    }
    assert_eq!(b.served(REGISTER_ROUTE).await, 20, "exactly one request per case");
    assert_eq!(b.served(TOKEN_ROUTE).await, 1);
    let st = c.stats();
    assert_eq!((st.requests, st.token_fetches, st.retries), (20, 1, 0));
    assert_eq!(st.forbidden_total(), 0);
    assert!(st.week_bytes_used.is_some_and(|w| w >= st.bytes_received));
    assert!(st.last_throttling.is_some_and(|t| t.starts_with("idle (")));

    // The combined document as the sandbox serves it, in both prefix eras, is the three
    // recorded answers together.
    let expected = ep2400812_from_samples();
    for era in ["2022", "2025"] {
        b.post("/_sandbox/ops/settings", json!({"prefix_era": era})).await;
        for number in ["EP10167109", "EP2400812"] {
            let s = c
                .register(number)
                .await
                .unwrap_or_else(|e| panic!("{era} {number}: {e}"));
            assert_eq!(s, expected, "{era} {number}");
        }
    }
    assert_eq!(b.served(REGISTER_ROUTE).await, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once_and_the_call_repeated() {
    let b = Bench::start(1.0).await;
    let cases = b.cases(10, "16").await;
    let c = b.client();
    for (application, _) in &cases[..5] {
        c.register(application).await.expect("before expiry");
    }
    let v = b
        .post(
            "/_sandbox/faults",
            json!({"office": "ops", "kind": "expire_token"}),
        )
        .await;
    assert_eq!(v["expired_tokens"], 1);
    for (application, _) in &cases[5..] {
        c.register(application).await.expect("after expiry");
    }
    let st = c.stats();
    assert_eq!(st.token_fetches, 2);
    // The first call after the expiry was answered 400 invalid_access_token and repeated.
    assert_eq!(st.requests, 11);
    assert_eq!(st.retries, 0);
    assert_eq!(b.served(REGISTER_ROUTE).await, 11);
    assert_eq!(b.served(TOKEN_ROUTE).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let b = Bench::start(1.0).await;
    let cases = b.cases(2, "16").await;
    let c = b.client();
    b.post(
        "/_sandbox/faults",
        json!({"office": "ops", "kind": "status", "status": 503, "count": 3}),
    )
    .await;
    c.register(&cases[0].0).await.expect("the fourth try succeeds");
    let st = c.stats();
    assert_eq!((st.requests, st.retries), (4, 3));

    // A 429 is waited out for its Retry-After (seconds, as HTTP says).
    b.post(
        "/_sandbox/faults",
        json!({"office": "ops", "kind": "status", "status": 429, "retry_after": "1"}),
    )
    .await;
    let started = Instant::now();
    c.register(&cases[0].0).await.expect("after the 429");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let st = c.stats();
    assert_eq!((st.requests, st.retries), (6, 4));

    // More failures than retries (5): the error reaches the caller and stops the cycle.
    b.post(
        "/_sandbox/faults",
        json!({"office": "ops", "kind": "status", "status": 500, "count": 10}),
    )
    .await;
    let e = c.register(&cases[1].0).await.expect_err("500 ten times");
    assert!(matches!(&e, OpsError::Http(f) if f.status == 500), "{e}");
    assert!(e.to_string().contains("SERVER.DomainAccess"), "{e}");
    assert!(!e.is_case_error());
    let st = c.stats();
    assert_eq!((st.requests, st.retries), (12, 9));
    assert_eq!(b.served(REGISTER_ROUTE).await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_numbers_only_affect_their_case() {
    let b = Bench::start(1.0).await;
    let c = b.client();
    for not_found in ["fault", "empty"] {
        b.post("/_sandbox/ops/settings", json!({"not_found": not_found}))
            .await;
        for number in ["EP99999999", "EP9999999"] {
            let e = c.register(number).await.expect_err("unknown");
            assert!(
                matches!(&e, OpsError::NotFound { number: n } if n == number),
                "{e}"
            );
            assert!(e.is_case_error());
        }
    }
    assert_eq!(b.served(REGISTER_ROUTE).await, 4);
    for bad in ["EP123", "EP2400812.A1", "10167109", "EP 10167109"] {
        let e = c.register(bad).await.expect_err("bad number");
        assert!(matches!(e, OpsError::BadNumber { .. }), "{e}");
        assert!(e.is_case_error());
    }
    assert_eq!(
        b.served(REGISTER_ROUTE).await,
        4,
        "bad numbers are refused before sending"
    );
    assert_eq!(c.stats().retries, 0);
}

/// 1,000 calls under `state` with `other` limited to `limit` per window: the pacing binds
/// (1,000 calls at the client's own speed would put more than `limit` into one window), yet
/// no call is refused.
async fn thousand_calls_under(state: &str, limit: u32, scale: f64) {
    let b = Bench::start(scale).await;
    b.post(
        "/_sandbox/ops/throttle",
        json!({"state": state, "limits": {"other": limit}}),
    )
    .await;
    let cases = b.cases(1000, "16").await;
    let c = b.client();
    let started = Instant::now();
    let run = async {
        for (application, _) in &cases {
            c.register(application).await?;
        }
        Ok::<(), OpsError>(())
    };
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("1,000 calls finish within 180 s")
        .unwrap_or_else(|e| panic!("{state}: {e}"));
    let elapsed = started.elapsed();
    let st = c.stats();
    let window = b.config().window;
    eprintln!(
        "{state}, other={limit}/{window:?}: 1000 calls in {elapsed:.2?}, paced {:.2?}, last {:?}",
        st.paced, st.last_throttling
    );
    assert_eq!(st.forbidden_total(), 0, "{state}: {:?}", st.forbidden);
    assert_eq!((st.requests, st.retries), (1000, 0), "{state}");
    assert_eq!(
        b.served(REGISTER_ROUTE).await,
        1000,
        "{state}: the sandbox refused nothing"
    );
    // Never faster than the limit …
    assert!(elapsed >= window * 999 / limit, "{state}: {elapsed:?}");
    // … and at it: the last answer saw the window more than 75 % full.
    let last = st.last_throttling.unwrap_or_default();
    assert!(last.starts_with(state), "{last}");
    assert!(last.contains(&format!("other=red:{limit}")), "{state}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_idle_with_other_500_are_never_refused() {
    thousand_calls_under("idle", 500, 15.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_busy_with_other_250_are_never_refused() {
    thousand_calls_under("busy", 250, 30.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_overloaded_with_other_100_are_never_refused() {
    thousand_calls_under("overloaded", 100, 75.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_consumer_filling_the_bucket_costs_at_most_one_403_per_episode() {
    let b = Bench::start(60.0).await;
    b.post("/_sandbox/ops/throttle", json!({"limits": {"other": 100}}))
        .await;
    let cases = b.cases(120, "16").await;
    let c = b.client();
    let token = b.other_consumer_token().await;
    let mut per_episode = Vec::new();
    for episode in cases.chunks(60) {
        let filled = b.fill_other_bucket(&token).await;
        assert!(filled >= 10, "{filled}");
        let before = c.stats().forbidden_total();
        let run = async {
            for (application, _) in episode {
                c.register(application).await?;
            }
            Ok::<(), OpsError>(())
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("an episode finishes within 60 s")
            .unwrap_or_else(|e| panic!("{e}"));
        per_episode.push(c.stats().forbidden_total() - before);
    }
    let st = c.stats();
    eprintln!("403s per black episode: {per_episode:?}; {st:?}");
    // The first episode meets a full bucket for sure; the second may find a slot freed.
    assert_eq!(per_episode[0], 1);
    assert!(per_episode[1] <= 1);
    assert_eq!(
        st.forbidden.get("ThrottlingControlQuota").copied(),
        Some(per_episode.iter().sum())
    );
    assert_eq!(st.requests, 120 + st.forbidden_total());
    assert_eq!(b.served(REGISTER_ROUTE).await, st.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_soft_cap_refuses_before_crossing_it() {
    let b = Bench::start(1.0).await;
    b.post("/_sandbox/ops/quota", json!({"week_bytes": 1_000_000}))
        .await;
    let cases = b.cases(30, "7").await;
    let c = OpsClient::new(&config::Ops {
        week_quota_bytes: 1_000_000,
        quota_stop_share: 0.8,
        ..b.config()
    })
    .expect("client");
    let mut done = 0;
    let mut stop = None;
    for (application, _) in &cases {
        match c.register(application).await {
            Ok(_) => done += 1,
            Err(OpsError::SoftCap { used, cap }) => {
                stop = Some((used, cap));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (used, cap) = stop.expect("the soft cap stops the run");
    let st = c.stats();
    eprintln!("soft cap: {done} calls, {used} of {cap} bytes; {st:?}");
    assert_eq!(cap, 800_000);
    assert!(done >= 5, "{done}");
    assert!(used <= cap && used + st.bytes_received / done > cap, "{used}");
    let sandbox = b.get("/_sandbox/ops/quota").await["used"][credentials::OPS_CONSUMER_KEY]["week_bytes"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert_eq!(sandbox, used, "the sandbox counted what the client saw");
    assert!(sandbox <= cap);
    assert_eq!(st.forbidden_total(), 0);
    assert_eq!(b.served(REGISTER_ROUTE).await, done);
    // Refused again, locally, without a request.
    let e = c.register(&cases[29].0).await.expect_err("still capped");
    assert!(matches!(e, OpsError::SoftCap { .. }) && !e.is_case_error(), "{e}");
    assert_eq!(b.served(REGISTER_ROUTE).await, done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_robot_and_credential_refusals_stop_the_cycle() {
    let b = Bench::start(1.0).await;
    let cases = b.cases(4, "7").await;

    // Hourly quota: the third answer would start past 100 kB.
    b.post("/_sandbox/ops/quota", json!({"hour_bytes": 100_000}))
        .await;
    let c = b.client();
    c.register(&cases[0].0).await.expect("first");
    c.register(&cases[1].0).await.expect("second");
    let e = c.register(&cases[2].0).await.expect_err("hour quota");
    assert!(
        matches!(e, OpsError::HourQuota { retry_after } if retry_after > Duration::from_secs(3000)),
        "{e}"
    );
    assert!(!e.is_case_error());
    let e = c.register(&cases[3].0).await.expect_err("still paused");
    assert!(matches!(e, OpsError::HourQuota { .. }), "{e}");
    assert_eq!(b.served(REGISTER_ROUTE).await, 3, "the pause is kept locally");
    assert_eq!(c.stats().forbidden.get("IndividualQuotaPerHour"), Some(&1));
    b.post(
        "/_sandbox/ops/quota",
        json!({"hour_bytes": 450_000_000, "reset": true}),
    )
    .await;

    // A robot suspicion (403 without a rejection reason).
    let c = b.client();
    b.post(
        "/_sandbox/faults",
        json!({"office": "ops", "kind": "status", "status": 403}),
    )
    .await;
    let e = c.register(&cases[3].0).await.expect_err("robot");
    assert!(matches!(e, OpsError::RobotDetected(_)), "{e}");
    assert!(!e.is_case_error());
    assert_eq!(c.stats().forbidden.get("CLIENT.RobotDetected"), Some(&1));

    // Wrong credentials: an authentication error that does not show the secret.
    let wrong = "not-the-sandbox-secret-7f3a";
    let c = OpsClient::new(&config::Ops {
        consumer_secret: Secret::new(wrong),
        ..b.config()
    })
    .expect("client");
    let e = c.register(&cases[3].0).await.expect_err("bad credentials");
    let text = e.to_string();
    assert!(matches!(e, OpsError::Credentials { status: 401, .. }), "{text}");
    assert!(e.needs_person() && !e.is_case_error(), "{text}");
    assert!(text.contains("ClientId is Invalid"), "{text}");
    assert!(
        !text.contains(wrong) && !format!("{e:?}").contains(wrong),
        "{text}"
    );
}
