//! Contract tests of the JPO simulator over real HTTP on 127.0.0.1 (`shared/api/jpo.md`).
//!
//! The 10-per-minute window and the JST day run on the virtual clock: [`Env::fresh_day`] moves
//! the clock to 01:00 JST of the next day so no test crosses midnight by accident, and
//! [`Env::api`] moves it 61 s on before every tenth call so tests that are not about the window
//! never meet it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mailroom_sandbox::{JpoCaps, RunningSandbox, SandboxOptions, credentials, spawn_local};
use reqwest::StatusCode;
use serde_json::{Value, json};

macro_rules! sample {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/jpo-samples/", $file))
    };
}

const PATENT: &str = "2020123456";
const DESIGN: &str = "2020015234";
const TRADEMARK: &str = "2024123456";
const MIDNIGHT_JST_UTC_HOUR_S: i64 = 15 * 3600;
const DAY_S: i64 = 86_400;

struct Env {
    sb: RunningSandbox,
    http: reqwest::Client,
    paced: AtomicUsize,
}

async fn start() -> Env {
    start_with(SandboxOptions::default()).await
}

async fn start_with(opts: SandboxOptions) -> Env {
    let sb = spawn_local(opts).await.expect("sandbox starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Env {
        sb,
        http,
        paced: AtomicUsize::new(0),
    }
}

fn sample(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn result(v: &Value) -> (&str, &str) {
    (
        v["result"]["statusCode"].as_str().unwrap(),
        v["result"]["remainAccessCount"].as_str().unwrap(),
    )
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = self
            .http
            .post(self.sb.urls().jpo_token)
            .form(form)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap())
    }

    async fn login(&self) -> Value {
        let (status, _, body) = self
            .token_request(&[
                ("grant_type", "password"),
                ("username", credentials::JPO_USERNAME),
                ("password", credentials::JPO_PASSWORD),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn token(&self) -> String {
        self.login().await["access_token"].as_str().unwrap().to_owned()
    }

    async fn raw(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/{path}", self.sb.urls().jpo_api_base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// One API call, not paced.
    async fn api_unpaced(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self.raw(token, path).await;
        let status = r.status();
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
        (status, r.json().await.unwrap())
    }

    /// One API call; every tenth call first moves the clock past the 60 s window.
    async fn api(&self, token: &str, path: &str) -> (StatusCode, Value) {
        if self.paced.fetch_add(1, Ordering::SeqCst) % 10 == 9 {
            self.advance_clock(61).await;
        }
        self.api_unpaced(token, path).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(self.url(path)).json(&body).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn caps(&self, caps: Value) {
        let (status, body) = self.post("/_sandbox/jpo/caps", caps).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn now(&self) -> DateTime<Utc> {
        let v = self.get("/_sandbox/clock").await;
        DateTime::parse_from_rfc3339(v["now"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    async fn advance_clock(&self, secs: i64) {
        let (status, body) = self
            .post("/_sandbox/clock", json!({ "advance_seconds": secs }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Seconds from now to the next 00:00 JST on the virtual clock.
    async fn secs_to_jst_midnight(&self) -> i64 {
        let now = self.now().await.timestamp();
        let since = (now - MIDNIGHT_JST_UTC_HOUR_S).rem_euclid(DAY_S);
        DAY_S - since
    }

    /// Moves the virtual clock to 01:00 JST of the next day.
    async fn fresh_day(&self) {
        let secs = self.secs_to_jst_midnight().await + 3600;
        self.advance_clock(secs).await;
    }

    async fn jst_today(&self) -> String {
        (self.now().await + chrono::Duration::hours(9))
            .format("%Y%m%d")
            .to_string()
    }

    async fn used(&self, right: &str, api: &str) -> u64 {
        let u = self.get("/_sandbox/jpo/usage").await;
        u["users"][credentials::JPO_USERNAME][right][api]["used"]
            .as_u64()
            .unwrap_or(0)
    }

    async fn advance(&self, number: &str, query: &str, kind: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/_sandbox/cases/jp/{number}/advance{query}"),
            json!({ "kind": kind }),
        )
        .await
    }
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn password_grant_has_the_recorded_shape() {
    let env = start().await;
    let (status, headers, body) = env
        .token_request(&[
            ("grant_type", "password"),
            ("username", credentials::JPO_USERNAME),
            ("password", credentials::JPO_PASSWORD),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let recorded = sample(sample!("token_response_redacted.json"));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&recorded));
    assert_eq!(body["expires_in"], json!(3600));
    assert_eq!(body["refresh_expires_in"], json!(28800));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["not-before-policy"], json!(0));
    assert_eq!(body["scope"], "openid profile");
    for k in ["access_token", "refresh_token", "id_token"] {
        let t = body[k].as_str().unwrap();
        assert_eq!(t.split('.').count(), 3, "{k} looks like a JWT");
        assert!(t.starts_with("eyJ"), "{k}");
    }
    assert_eq!(body["session_state"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn every_token_error() {
    let env = start().await;
    let user = credentials::JPO_USERNAME;
    let pass = credentials::JPO_PASSWORD;
    // (form, HTTP status, error, error_description if fixed)
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            &[
                ("grant_type", "password"),
                ("username", user),
                ("password", "wrong"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            Some("Invalid user credentials"),
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "someone"),
                ("password", pass),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            Some("Invalid user credentials"),
        ),
        (
            &[("grant_type", "refresh_token"), ("refresh_token", "not-a-token")],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            Some("Token is not active"),
        ),
        (
            &[("grant_type", "client_credentials")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            None,
        ),
        (
            &[("username", user), ("password", pass)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
        (
            &[("grant_type", "password"), ("password", pass)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
        (
            &[("grant_type", "password"), ("username", user)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
        (
            &[("grant_type", "refresh_token")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            None,
        ),
    ];
    for (form, status, error, description) in cases {
        let (got, headers, body) = env.token_request(form).await;
        assert_eq!(got, *status, "{form:?}: {body}");
        assert_eq!(body["error"], *error, "{form:?}");
        assert!(body["error_description"].is_string(), "{form:?}");
        if let Some(d) = description {
            assert_eq!(body["error_description"], *d, "{form:?}");
        }
        assert_eq!(headers["cache-control"], "no-store");
    }
    let r = env
        .http
        .post(env.sb.urls().jpo_token)
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test]
async fn refresh_grant_rotates_and_keeps_older_tokens() {
    let env = start().await;
    let first = env.login().await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, _, second) = env
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    for t in [&first, &second] {
        let (status, body) = env
            .api(
                t["access_token"].as_str().unwrap(),
                "patent/v1/app_progress/2020123456",
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(result(&body).0, "100");
    }
    let (status, _, body) = env
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a used refresh token");
    assert_eq!(body["error_description"], "Token is not active");
    let third = env.login().await;
    let (status, _) = env
        .api(
            first["access_token"].as_str().unwrap(),
            "patent/v1/app_progress/2020123456",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a new login does not revoke older tokens");
    assert_ne!(third["access_token"], first["access_token"]);
}

#[tokio::test]
async fn lifetimes_are_configurable_and_real_time() {
    let env = start().await;
    let (status, body) = env
        .post(
            "/_sandbox/jpo/settings",
            json!({"token_lifetime_secs": 1, "refresh_lifetime_secs": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"token_lifetime_secs": 1, "refresh_lifetime_secs": 1})
    );
    let login = env.login().await;
    assert_eq!(login["expires_in"], json!(1));
    assert_eq!(login["refresh_expires_in"], json!(1));
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(
        env.api(token, "patent/v1/app_progress/2020123456").await.0,
        StatusCode::OK
    );
    // Virtual time does not age tokens.
    env.advance_clock(7200).await;
    assert_eq!(
        env.api(token, "patent/v1/app_progress/2020123456").await.0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = env.api(token, "patent/v1/app_progress/2020123456").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        sample(sample!("official_openapi_examples.json"))["error_examples"]["210@HTTP401"]
    );
    let (status, _, body) = env
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", login["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "Token is not active");
    let (status, _) = env
        .post("/_sandbox/jpo/settings", json!({"token_lifetime_secs": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = env.post("/_sandbox/jpo/settings", json!({"lifetime": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_tokens_get_210_with_http_401() {
    let env = start().await;
    let official = sample(sample!("official_openapi_examples.json"));
    let want = &official["error_examples"]["210@HTTP401"];
    let token = env.token().await;
    let url = format!("{}/patent/v1/app_progress/{PATENT}", env.sb.urls().jpo_api_base);
    let no_header = env.http.get(&url).send().await.unwrap();
    let basic = env
        .http
        .get(&url)
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    let garbage = env
        .raw("garbage", &format!("patent/v1/app_progress/{PATENT}"))
        .await;
    for r in [no_header, basic, garbage] {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(&r.json::<Value>().await.unwrap(), want);
    }
    let (status, body) = env
        .post(
            "/_sandbox/faults",
            json!({"office": "jpo", "kind": "expire_token"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["expired_tokens"],
        json!(2),
        "one access and one refresh token"
    );
    let (status, body) = env.api(&token, &format!("patent/v1/app_progress/{PATENT}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(&body, want);
    let fresh = env.token().await;
    assert_eq!(
        env.api(&fresh, &format!("patent/v1/app_progress/{PATENT}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(env.used("patent", "app_progress").await, 1, "210 spends nothing");
}

// ---------------------------------------------------------------- recorded bodies

#[tokio::test]
async fn recorded_samples_are_served_verbatim() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    // Caps one above each recorded remainAccessCount make the first call show the recorded value.
    let cases: &[(&str, Value, &str)] = &[
        (
            "patent/v1/app_progress/2020123456",
            json!({"app_progress": 788}),
            sample!("patent_app_progress_2020123456.json"),
        ),
        (
            "patent/v1/app_progress/9999999999",
            json!({}),
            sample!("patent_app_progress_9999999999_status107.json"),
        ),
        (
            "patent/v1/app_progress_simple/2020123456",
            json!({"app_progress_simple": 794}),
            sample!("patent_app_progress_simple_2020123456.json"),
        ),
        (
            "patent/v1/registration_info/2020123456",
            json!({"registration_info": 399}),
            sample!("patent_registration_info_2020123456.json"),
        ),
        (
            "patent/v1/cite_doc_info/2020123456",
            json!({"cite_doc_info": 94}),
            sample!("patent_cite_doc_info_2020123456.json"),
        ),
        (
            "patent/v1/case_number_reference/application/2020123456",
            json!({"case_number_reference": 98}),
            sample!("patent_case_number_reference_application_2020123456.json"),
        ),
        (
            "patent/v1/priority_right_app_info/2020123456",
            json!({"priority_right_app_info": 59}),
            sample!("patent_priority_right_app_info_2020123456.json"),
        ),
        (
            "patent/v1/divisional_app_info/2020123456",
            json!({"divisional_app_info": 59}),
            sample!("patent_divisional_app_info_2020123456.json"),
        ),
        (
            "design/v1/app_progress/2020015234",
            json!({"app_progress": 794}),
            sample!("design_app_progress_2020015234.json"),
        ),
        (
            "trademark/v1/app_progress/2024123456",
            json!({"app_progress": 796}),
            sample!("trademark_app_progress_2024123456.json"),
        ),
    ];
    for (path, caps, file) in cases {
        env.caps(caps.clone()).await;
        let (status, served) = env.api(&token, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let recorded = sample(file);
        assert_eq!(served, recorded, "{path}");
        assert_eq!(
            serde_json::to_string(&served).unwrap(),
            serde_json::to_string(&recorded).unwrap(),
            "{path}: key order"
        );
    }
}

#[tokio::test]
async fn derived_simple_variants_and_other_apis() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let design = sample(sample!("design_app_progress_2020015234.json"));
    let (_, simple) = env.api(&token, "design/v1/app_progress_simple/2020015234").await;
    let simple = &simple["result"]["data"];
    for gone in [
        "designClass",
        "principalDesignApplicationNumber",
        "priorityRightInformation",
        "parentApplicationInformation",
    ] {
        assert!(simple.get(gone).is_none(), "{gone}");
    }
    assert_eq!(
        simple["bibliographyInformation"],
        design["result"]["data"]["bibliographyInformation"]
    );
    let (_, tm) = env
        .api(&token, "trademark/v1/app_progress_simple/2024123456")
        .await;
    assert_eq!(
        tm["result"]["data"]["goodsServiceInformation"][1]["similarCode"],
        "32A01 35A01 35K03"
    );
    assert!(tm["result"]["data"].get("priorityRightInformation").is_none());

    for (path, key, want) in [
        (
            "patent/v1/case_number_reference/publication/2021090037",
            "applicationNumber",
            PATENT,
        ),
        (
            "patent/v1/case_number_reference/registration/7533889",
            "applicationNumber",
            PATENT,
        ),
        (
            "design/v1/case_number_reference/registration/1680736",
            "applicationNumber",
            DESIGN,
        ),
        (
            "trademark/v1/case_number_reference/application/2024123456",
            "registrationNumber",
            "",
        ),
        (
            "design/v1/priority_right_app_info/2020015234",
            "applicationNumber",
            DESIGN,
        ),
    ] {
        let (status, body) = env.api(&token, path).await;
        assert_eq!((status, result(&body).0), (StatusCode::OK, "100"), "{path}");
        assert_eq!(body["result"]["data"][key], want, "{path}");
    }
    let (_, url) = env.api(&token, "patent/v1/jpp_fixed_address/2020123456").await;
    let url = url["result"]["data"]["URL"].as_str().unwrap();
    assert!(url.starts_with("https://www.j-platpat.inpit.go.jp/c1800/PU/JP-2020-123456/"));
    assert!(url.ends_with("/10/ja"));
    let (_, url) = env.api(&token, "design/v1/jpp_fixed_address/2020015234").await;
    assert!(
        url["result"]["data"]["URL"]
            .as_str()
            .unwrap()
            .contains("/DE/JP-2020-015234/")
    );
}

#[tokio::test]
async fn document_apis_serve_zip_or_108() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    for (path, filename, entry) in [
        (
            "patent/v1/app_doc_cont_refusal_reason/2020123456",
            "docContRefusalReason_2020123456.zip",
            "06124084096-jpntce.xml",
        ),
        (
            "patent/v1/app_doc_cont_opinion_amendment/2020123456",
            "docContOpinionAmendment_2020123456.zip",
            "A53_52400900476/JPOXMLDOC01-jpbibl.xml",
        ),
        (
            "trademark/v1/app_doc_cont_refusal_reason_decision/2024123456",
            "docContRefusalReasonDecision_2024123456.zip",
            "06426003498P.HTM",
        ),
    ] {
        let r = env.raw(&token, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "application/zip");
        assert_eq!(
            r.headers()["content-disposition"],
            format!("attachment;filename={filename}").as_str()
        );
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(b"PK\x03\x04"), "{path}");
        assert!(
            bytes.windows(entry.len()).any(|w| w == entry.as_bytes()),
            "{path} has {entry}"
        );
    }
    assert_eq!(
        env.used("patent", "app_doc_cont_refusal_reason").await,
        1,
        "ZIP calls are counted"
    );
    let (status, body) = env
        .api(&token, "trademark/v1/app_doc_cont_opinion_amendment/2024123456")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"result": {"statusCode": "108", "errorMessage": "該当する書類実体がありません。", "remainAccessCount": "199"}})
    );
    let (_, body) = env
        .api(&token, "design/v1/app_doc_cont_refusal_reason/2099000001")
        .await;
    assert_eq!(result(&body), ("107", "199"), "design counts apart from patent");
    let (_, body) = env
        .api(&token, "patent/v1/app_doc_cont_refusal_reason/2099000001")
        .await;
    assert_eq!(result(&body), ("107", "198"));
}

// ---------------------------------------------------------------- status codes

#[tokio::test]
async fn status_codes_of_every_check() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let official = sample(sample!("official_openapi_examples.json"));
    let example = |k: &str| official["error_examples"][k].clone();
    // (path, HTTP, statusCode, remainAccessCount)
    let cases: &[(&str, StatusCode, &str, &str)] = &[
        ("patent/v1/app_progress/9999999999", StatusCode::OK, "107", "799"),
        (
            "patent/v1/app_progress/not-a-number",
            StatusCode::OK,
            "107",
            "798",
        ),
        (
            "patent/v1/applicant_attorney_cd/000114400",
            StatusCode::OK,
            "107",
            "399",
        ),
        (
            "patent/v1/applicant_attorney/%E3%83%88%E3%83%A8%E3%82%BF",
            StatusCode::OK,
            "107",
            "399",
        ),
        (
            "patent/v1/pct_national_phase_application_number/international_application/JP2019011858",
            StatusCode::OK,
            "107",
            "399",
        ),
        (
            "design/v1/registration_info/2020015234",
            StatusCode::OK,
            "107",
            "399",
        ),
        (
            "trademark/v1/app_progress/2020123456",
            StatusCode::OK,
            "107",
            "799",
        ),
        (
            "patent/v1/case_number_reference/application/1988000001",
            StatusCode::OK,
            "111",
            "",
        ),
        (
            "patent/v1/case_number_reference/application/20201234",
            StatusCode::OK,
            "204",
            "",
        ),
        (
            "patent/v1/case_number_reference/registration/75338890",
            StatusCode::OK,
            "204",
            "",
        ),
        (
            "design/v1/case_number_reference/publication/2020015234",
            StatusCode::OK,
            "204",
            "",
        ),
        (
            "patent/v1/pct_national_phase_application_number/international_publication/JP2019011858",
            StatusCode::OK,
            "204",
            "",
        ),
        ("patent/v1/app_progress/2020%09123456", StatusCode::OK, "208", ""),
        ("patent/v1/app_progress/2020,123456", StatusCode::OK, "208", ""),
        ("patent/v1/app_progress/2020;123456", StatusCode::OK, "208", ""),
        ("patent/v1/app_progress/2020:123456", StatusCode::OK, "208", ""),
        ("patent/v1/app_progress/2020%7C123456", StatusCode::OK, "208", ""),
        (
            "patent/v1/no_such_api/2020123456",
            StatusCode::NOT_FOUND,
            "301",
            "",
        ),
        (
            "design/v1/cite_doc_info/2020015234",
            StatusCode::NOT_FOUND,
            "301",
            "",
        ),
        (
            "trademark/v1/divisional_app_info/2024123456",
            StatusCode::NOT_FOUND,
            "301",
            "",
        ),
        (
            "patent/v2/app_progress/2020123456",
            StatusCode::NOT_FOUND,
            "301",
            "",
        ),
        (
            "patent/v1/app_progress/2020123456/extra",
            StatusCode::NOT_FOUND,
            "301",
            "",
        ),
    ];
    for (path, http, code, remain) in cases {
        let (status, body) = env.api(&token, path).await;
        assert_eq!(
            (status, result(&body)),
            (*http, (*code, *remain)),
            "{path}: {body}"
        );
        if *code != "100" {
            assert_eq!(body["result"]["data"], json!({}), "{path}");
        }
        match *code {
            "111" | "204" | "208" => assert_eq!(body, example(&format!("{code}@HTTP200")), "{path}"),
            "301" => assert_eq!(
                body["result"]["errorMessage"],
                "指定された特許情報取得APIのURLは存在しません。"
            ),
            _ => assert_eq!(body["result"]["errorMessage"], "該当するデータがありません。"),
        }
    }
    assert_eq!(
        env.used("patent", "case_number_reference").await,
        0,
        "111 and 204 spend nothing"
    );
    assert_eq!(
        env.used("patent", "app_progress").await,
        2,
        "208 spends nothing, 107 does"
    );
}

#[tokio::test]
async fn remain_counts_down_to_203_and_resets_at_jst_midnight() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let official = sample(sample!("official_openapi_examples.json"));
    env.caps(json!({"cite_doc_info": 2, "app_progress": 3})).await;
    let path = "patent/v1/cite_doc_info/2020123456";
    assert_eq!(result(&env.api(&token, path).await.1), ("100", "1"));
    assert_eq!(result(&env.api(&token, path).await.1), ("100", "0"));
    let (status, body) = env.api(&token, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, official["error_examples"]["203@HTTP200"]);
    assert_eq!(env.used("patent", "cite_doc_info").await, 2, "203 spends nothing");
    // Other APIs and rights have their own counters; 107 is counted.
    assert_eq!(
        result(&env.api(&token, "patent/v1/app_progress/9999999999").await.1),
        ("107", "2")
    );
    assert_eq!(
        result(&env.api(&token, "patent/v1/app_progress/2020123456").await.1),
        ("100", "1")
    );
    assert_eq!(
        result(&env.api(&token, "design/v1/app_progress/2020015234").await.1),
        ("100", "2")
    );
    // One second before midnight JST: still refused. At midnight: reset.
    let to_midnight = env.secs_to_jst_midnight().await;
    env.advance_clock(to_midnight - 2).await;
    assert_eq!(result(&env.api_unpaced(&token, path).await.1), ("203", ""));
    env.advance_clock(3).await;
    assert_eq!(result(&env.api_unpaced(&token, path).await.1), ("100", "1"));
    let usage = env.get("/_sandbox/jpo/usage").await;
    assert_eq!(usage["date"], env.jst_today().await);
    assert_eq!(
        usage["users"][credentials::JPO_USERNAME],
        json!({"patent": {"cite_doc_info": {"used": 1, "cap": 2, "remain": 1}}})
    );
}

#[tokio::test]
async fn default_caps_show_in_the_first_reply() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    for (path, remain) in [
        ("patent/v1/app_progress/2020123456", "799"),
        ("patent/v1/app_progress_simple/2020123456", "799"),
        ("patent/v1/registration_info/2020123456", "399"),
        ("patent/v1/cite_doc_info/2020123456", "99"),
        ("patent/v1/case_number_reference/application/2020123456", "99"),
        ("patent/v1/priority_right_app_info/2020123456", "59"),
        ("patent/v1/divisional_app_info/2020123456", "59"),
        ("patent/v1/jpp_fixed_address/2020123456", "399"),
        ("design/v1/app_progress/2020015234", "799"),
        ("trademark/v1/app_progress/2024123456", "799"),
    ] {
        assert_eq!(result(&env.api(&token, path).await.1), ("100", remain), "{path}");
    }
    let caps = env.get("/_sandbox/jpo/caps").await;
    assert_eq!(caps["app_progress"], json!(800));
    assert_eq!(caps.as_object().unwrap().len(), 14);
}

#[tokio::test]
async fn caps_from_options_and_unknown_names() {
    let mut caps = JpoCaps::default();
    caps.set("registration_info", 5).unwrap();
    let env = start_with(SandboxOptions {
        jpo_caps: caps,
        ..SandboxOptions::default()
    })
    .await;
    env.fresh_day().await;
    let token = env.token().await;
    let (_, body) = env.api(&token, "patent/v1/registration_info/2020123456").await;
    assert_eq!(result(&body), ("100", "4"));
    let (status, body) = env
        .post("/_sandbox/jpo/caps", json!({"app_progress": 1, "app_progres": 2}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("app_progres"), "{body}");
    assert_eq!(
        env.get("/_sandbox/jpo/caps").await["app_progress"],
        json!(800),
        "nothing changed"
    );
}

#[tokio::test]
async fn window_allows_ten_per_minute_across_rights() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let official = sample(sample!("official_openapi_examples.json"));
    let paths = [
        "patent/v1/app_progress/2020123456",
        "design/v1/app_progress/2020015234",
        "trademark/v1/app_progress/2024123456",
    ];
    for i in 0..10 {
        let (status, body) = env.api_unpaced(&token, paths[i % 3]).await;
        assert_eq!((status, result(&body).0), (StatusCode::OK, "100"), "call {i}");
    }
    for path in paths {
        let (status, body) = env.api_unpaced(&token, path).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body, official["error_examples"]["303@HTTP429"]);
    }
    assert_eq!(env.used("patent", "app_progress").await, 4, "303 spends nothing");
    env.advance_clock(60).await;
    let (status, body) = env.api_unpaced(&token, paths[0]).await;
    assert_eq!((status, result(&body)), (StatusCode::OK, ("100", "795")));
}

#[tokio::test]
async fn injected_faults_use_the_official_envelopes() {
    let env = start().await;
    let token = env.token().await;
    let official = sample(sample!("official_openapi_examples.json"));
    for (status, key) in [
        (504, "302@HTTP504"),
        (500, "999@HTTP500"),
        (429, "303@HTTP429"),
        (503, "999@HTTP200"),
    ] {
        let (s, _) = env
            .post(
                "/_sandbox/faults",
                json!({"office": "jpo", "kind": "status", "status": status}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (got, body) = env.api(&token, "patent/v1/app_progress/2020123456").await;
        assert_eq!(got.as_u16(), status);
        assert_eq!(body, official["error_examples"][key], "{status}");
    }
    assert_eq!(
        env.used("patent", "app_progress").await,
        0,
        "faults answer before the sandbox counts"
    );
}

// ---------------------------------------------------------------- scenario

#[tokio::test]
async fn document_advances_appear_in_full_and_simple_progress() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let today = env.jst_today().await;
    let rows = |v: &Value| v["result"]["data"]["bibliographyInformation"][0]["documentList"].clone();
    let before = rows(&env.api(&token, "patent/v1/app_progress/2020123456").await.1);
    let (status, adv) = env.advance(PATENT, "", "document").await;
    assert_eq!(status, StatusCode::OK, "{adv}");
    assert_eq!(adv["right"], "patent");
    let added = adv["advance"]["rows"].as_array().unwrap().clone();
    assert_eq!(
        added[0]["documentCode"], "A861",
        "after A61 comes an inspection request"
    );
    assert_eq!(added[0]["legalDate"], today.as_str());
    for path in [
        "patent/v1/app_progress/2020123456",
        "patent/v1/app_progress_simple/2020123456",
    ] {
        let after = rows(&env.api(&token, path).await.1);
        let after = after.as_array().unwrap();
        assert_eq!(after.len(), before.as_array().unwrap().len() + 1, "{path}");
        assert_eq!(after.last(), added.last(), "{path}");
    }
    // A fresh synthetic case: the status step registers it.
    let (_, created) = env
        .post("/_sandbox/jpo/cases", json!({"right": "trademark", "count": 1}))
        .await;
    let tm = created["numbers"][0].as_str().unwrap().to_owned();
    let (_, adv) = env.advance(&tm, "", "document").await;
    assert_eq!(
        adv["advance"]["rows"][0]["documentCode"], "A861",
        "after A02 refusal"
    );
    let (status, reg) = env.advance(&tm, "?right=trademark", "status").await;
    assert_eq!(status, StatusCode::OK, "{reg}");
    let number = reg["advance"]["registration_number"].as_str().unwrap().to_owned();
    for api in ["app_progress", "app_progress_simple"] {
        let (_, body) = env.api(&token, &format!("trademark/v1/{api}/{tm}")).await;
        let d = &body["result"]["data"];
        assert_eq!(d["registrationNumber"], number.as_str(), "{api}");
        assert_eq!(d["registrationDate"], today.as_str());
        assert_eq!(d["erasureIdentifier"], "00");
        assert_eq!(d["bibliographyInformation"][1]["numberType"], "06");
    }
    let (_, body) = env
        .api(
            &token,
            &format!("trademark/v1/case_number_reference/registration/{number}"),
        )
        .await;
    assert_eq!(body["result"]["data"]["applicationNumber"], tm.as_str());
    let (status, _) = env.advance(&tm, "", "status").await;
    assert_eq!(status, StatusCode::OK, "erasure");
    let (_, body) = env.api(&token, &format!("trademark/v1/app_progress/{tm}")).await;
    assert_eq!(body["result"]["data"]["erasureIdentifier"], "01");
    assert_eq!(body["result"]["data"]["disappearanceDate"], today.as_str());
    let (status, _) = env.advance(&tm, "", "status").await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to erase");
}

#[tokio::test]
async fn erasure_reaches_registration_info() {
    let env = start().await;
    let token = env.token().await;
    let (status, _) = env.advance(PATENT, "", "status").await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = env.api(&token, "patent/v1/registration_info/2020123456").await;
    assert_eq!(body["result"]["data"]["erasureIdentifier"], "01");
    assert_eq!(
        body["result"]["data"]["updateDate"],
        env.jst_today().await.as_str()
    );
}

#[tokio::test]
async fn advance_lookup_errors() {
    let env = start().await;
    for right in ["patent", "design"] {
        let (status, _) = env
            .post("/_sandbox/jpo/cases", json!({"right": right, "count": 1}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = env.advance("2023500001", "", "document").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("patent") && msg.contains("design"), "{msg}");
    let (status, body) = env.advance("2023500001", "?right=design", "document").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["advance"]["rows"][0]["documentCode"], "A861");
    let (status, _) = env.advance("2099999999", "", "document").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.advance(DESIGN, "?right=patent", "document").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.advance(DESIGN, "?right=utility", "document").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = env.advance(DESIGN, "", "teleport").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = env
        .http
        .post(env.url(&format!("/_sandbox/cases/jp/{TRADEMARK}/advance")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no body = a document step");
}

#[tokio::test]
async fn synthetic_cases_are_served() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    let (status, body) = env
        .post("/_sandbox/jpo/cases", json!({"right": "patent", "count": 3}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["numbers"], json!(["2023500001", "2023500002", "2023500003"]));
    let (status, body) = env
        .post("/_sandbox/jpo/cases", json!({"right": "patent", "count": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["numbers"], json!(["2023500004", "2023500005"]));
    let (_, p) = env.api(&token, "patent/v1/app_progress/2023500004").await;
    assert_eq!(result(&p).0, "100");
    assert_eq!(p["result"]["data"]["applicationNumber"], "2023500004");
    assert_eq!(p["result"]["data"]["registrationNumber"], "7600004");
    assert_eq!(p["result"]["data"]["inventionTitle"], "立体配線構造体の製造方法");
    let (_, r) = env.api(&token, "patent/v1/registration_info/2023500004").await;
    assert_eq!(r["result"]["data"]["registrationNumber"], "7600004");
    let list = env.get("/_sandbox/jpo/cases").await;
    // The sample, the built-in national phase 2026500123 and the five synthetic cases.
    assert_eq!(list["patent"].as_array().unwrap().len(), 7);
    assert_eq!(list["patent"][0], PATENT);
    assert_eq!(list["patent"][1], NATIONAL_PHASE);
    assert_eq!(list["patent"][2], "2023500001");
    assert_eq!(list["design"], json!([DESIGN]));
    assert_eq!(list["trademark"], json!([TRADEMARK]));
    for bad in [
        json!({"right": "patent", "count": 0}),
        json!({"right": "utility", "count": 1}),
        json!({"right": "patent", "count": 100000}),
        json!({"count": 1}),
    ] {
        let (status, _) = env.post("/_sandbox/jpo/cases", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn counters_cases_and_advances_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    };
    // The restarted sandbox's clock starts at real time again: stay clear of midnight JST.
    let secs_to_midnight = {
        let now = Utc::now().timestamp();
        DAY_S - (now - MIDNIGHT_JST_UTC_HOUR_S).rem_euclid(DAY_S)
    };
    if secs_to_midnight < 15 {
        tokio::time::sleep(Duration::from_secs(secs_to_midnight as u64 + 1)).await;
    }
    let env = start_with(opts.clone()).await;
    let token = env.token().await;
    for _ in 0..3 {
        assert_eq!(
            env.api(&token, "patent/v1/cite_doc_info/2020123456").await.0,
            StatusCode::OK
        );
    }
    let (_, created) = env
        .post("/_sandbox/jpo/cases", json!({"right": "design", "count": 2}))
        .await;
    assert_eq!(created["numbers"], json!(["2023500001", "2023500002"]));
    let (status, adv) = env.advance("2023500002", "", "document").await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = env.api(&token, "design/v1/app_progress/2023500002").await;
    // The periodic flush writes within 250 ms, without a stop.
    let file = dir.path().join("sandbox-state.json");
    let mut flushed = Value::Null;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(text) = std::fs::read_to_string(&file) {
            flushed = serde_json::from_str(&text).unwrap();
            if flushed["jpo"]["cases"]["advances"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                break;
            }
        }
    }
    assert_eq!(
        flushed["jpo"]["cases"]["synthetic"],
        json!({"design": 2}),
        "{flushed}"
    );
    env.sb.stop().await.unwrap();

    let env = start_with(opts).await;
    let token = env.token().await;
    let (_, body) = env.api(&token, "patent/v1/cite_doc_info/2020123456").await;
    assert_eq!(
        result(&body),
        ("100", "96"),
        "three calls were spent before the restart"
    );
    let (_, after) = env.api(&token, "design/v1/app_progress/2023500002").await;
    assert_eq!(
        after["result"]["data"], before["result"]["data"],
        "the advance is re-applied"
    );
    let rows = after["result"]["data"]["bibliographyInformation"][0]["documentList"].clone();
    assert_eq!(
        rows.as_array().unwrap().last(),
        adv["advance"]["rows"].as_array().unwrap().last()
    );
    assert_eq!(
        env.get("/_sandbox/jpo/cases").await["design"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    env.sb.stop().await.unwrap();
}

// ---------------------------------------------------------------- PCT national phase

const PCT_API: &str = "patent/v1/pct_national_phase_application_number";
const NATIONAL_PHASE: &str = "2026500123";

#[tokio::test]
async fn pct_api_answers_the_national_phase_by_both_kinds_and_counts() {
    let env = start().await;
    env.fresh_day().await;
    let token = env.token().await;
    // (kind/number, statusCode, applicationNumber, remainAccessCount); the cap is 400.
    let table: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "international_application/EP2024071234",
            "100",
            Some(NATIONAL_PHASE),
            "399",
        ),
        (
            "international_publication/WO2025021234",
            "100",
            Some(NATIONAL_PHASE),
            "398",
        ),
        ("international_application/EP2024071235", "107", None, "397"),
        ("international_application/JP2019011858", "107", None, "396"),
        ("international_publication/WO2019011858", "107", None, "395"),
    ];
    for (tail, code, application, remain) in table {
        let (status, body) = env.api(&token, &format!("{PCT_API}/{tail}")).await;
        assert_eq!(status, StatusCode::OK, "{tail}");
        let expected = match application {
            Some(n) => json!({"result": {"statusCode": code, "errorMessage": "", "remainAccessCount": remain,
                "data": {"applicationNumber": n}}}),
            None => json!({"result": {"statusCode": code, "errorMessage": "該当するデータがありません。",
                "remainAccessCount": remain, "data": {}}}),
        };
        assert_eq!(body, expected, "{tail}");
    }
    assert_eq!(
        env.used("patent", "pct_national_phase_application_number").await,
        5
    );
    assert_eq!(
        env.used("patent", "app_progress").await,
        0,
        "a counter of its own"
    );

    // Its own daily cap.
    env.caps(json!({"pct_national_phase_application_number": 6}))
        .await;
    let path = format!("{PCT_API}/international_application/EP2024071234");
    assert_eq!(result(&env.api(&token, &path).await.1), ("100", "0"));
    assert_eq!(result(&env.api(&token, &path).await.1), ("203", ""));
    assert_eq!(
        result(&env.api(&token, "patent/v1/app_progress/2020123456").await.1),
        ("100", "799")
    );

    // Faults apply to it like to the others.
    let (s, _) = env
        .post(
            "/_sandbox/faults",
            json!({"office": "jpo", "kind": "status", "status": 504}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (status, body) = env.api(&token, &path).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(result(&body), ("302", ""));
}

#[tokio::test]
async fn the_national_phase_case_is_served_with_its_pct_numbers() {
    let env = start().await;
    let token = env.token().await;
    let (_, body) = env
        .api(&token, &format!("patent/v1/app_progress/{NATIONAL_PHASE}"))
        .await;
    assert_eq!(result(&body).0, "100");
    let d = &body["result"]["data"];
    for (key, want) in [
        ("applicationNumber", NATIONAL_PHASE),
        ("internationalApplicationNumber", "EP2024071234"),
        ("internationalPublicationNumber", "WO2025021234"),
        ("internationalPublicationDate", "20250130"),
        ("registrationNumber", "7700123"),
        ("ADPublicationNumber", "2027500123"),
        ("publicationNumber", "509500123"),
    ] {
        assert_eq!(d[key], want, "{key}");
    }
    assert_eq!(d["bibliographyInformation"][0]["number"], NATIONAL_PHASE);
    let (_, simple) = env
        .api(&token, &format!("patent/v1/app_progress_simple/{NATIONAL_PHASE}"))
        .await;
    assert_eq!(
        simple["result"]["data"]["internationalApplicationNumber"],
        "EP2024071234"
    );
    let (_, xref) = env
        .api(
            &token,
            &format!("patent/v1/case_number_reference/application/{NATIONAL_PHASE}"),
        )
        .await;
    assert_eq!(
        xref["result"]["data"]["internationalPublicationNumber"],
        "WO2025021234"
    );
    // The recorded sample itself is unchanged.
    let (_, sample_case) = env.api(&token, "patent/v1/app_progress/2020123456").await;
    assert_eq!(
        sample_case["result"]["data"],
        sample(sample!("patent_app_progress_2020123456.json"))["result"]["data"]
    );
    let links = env.get("/_sandbox/jpo/pct").await;
    assert_eq!(
        links["links"],
        json!([{"application": NATIONAL_PHASE, "international_application": "EP2024071234",
            "international_publication": "WO2025021234", "international_publication_date": "20250130"}])
    );
}

#[tokio::test]
async fn pct_links_for_synthetic_cases_are_checked_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        state_dir: Some(dir.path().to_owned()),
        ..SandboxOptions::default()
    };
    let env = start_with(opts.clone()).await;
    let (_, created) = env
        .post("/_sandbox/jpo/cases", json!({"right": "patent", "count": 1}))
        .await;
    assert_eq!(created["numbers"], json!(["2023500001"]));
    let link = json!({"application": "2023500001", "international_application": "EP2025000001",
        "international_publication": "WO2026000001"});
    let table: &[(Value, StatusCode)] = &[
        (
            json!({"application": "2023599999", "international_application": "EP2025000001"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"application": "2023500001", "international_application": "EP25000001"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"application": "2023500001", "international_application": "EP2025000001",
                "international_publication": "JP2026000001"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"application": "2023500001", "international_application": "EP2024071234"}),
            StatusCode::CONFLICT,
        ),
        (link.clone(), StatusCode::OK),
    ];
    for (body, want) in table {
        let (status, answer) = env.post("/_sandbox/jpo/pct", body.clone()).await;
        assert_eq!(status, *want, "{body}: {answer}");
    }
    env.sb.stop().await.unwrap();

    let env = start_with(opts).await;
    env.fresh_day().await;
    let token = env.token().await;
    for tail in [
        "international_application/EP2025000001",
        "international_publication/WO2026000001",
    ] {
        let (_, body) = env.api(&token, &format!("{PCT_API}/{tail}")).await;
        assert_eq!(result(&body).0, "100", "{tail}");
        assert_eq!(body["result"]["data"]["applicationNumber"], "2023500001");
    }
    let (_, body) = env.api(&token, "patent/v1/app_progress/2023500001").await;
    assert_eq!(
        body["result"]["data"]["internationalApplicationNumber"],
        "EP2025000001"
    );
    assert_eq!(body["result"]["data"]["internationalPublicationDate"], "");
    let links = env.get("/_sandbox/jpo/pct").await;
    assert_eq!(links["links"].as_array().unwrap().len(), 2);
    env.sb.stop().await.unwrap();
}
