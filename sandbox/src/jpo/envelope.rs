//! The JSON envelope and the status codes of `jpo.md` §3, with the messages of the official
//! examples (`official_openapi_examples.json`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A `statusCode` of §3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok,
    NoData,
    NoDocument,
    OutOfScope,
    DailyCap,
    BadParameter,
    ForbiddenCharacter,
    BadToken,
    UnknownUrl,
    Timeout,
    Busy,
    Unexpected,
}

impl Code {
    pub fn code(self) -> &'static str {
        match self {
            Code::Ok => "100",
            Code::NoData => "107",
            Code::NoDocument => "108",
            Code::OutOfScope => "111",
            Code::DailyCap => "203",
            Code::BadParameter => "204",
            Code::ForbiddenCharacter => "208",
            Code::BadToken => "210",
            Code::UnknownUrl => "301",
            Code::Timeout => "302",
            Code::Busy => "303",
            Code::Unexpected => "999",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "",
            Code::NoData => "該当するデータがありません。",
            Code::NoDocument => "該当する書類実体がありません。",
            Code::OutOfScope => "提供対象外の案件番号のため取得できませんでした。",
            Code::DailyCap => "1日のアクセス上限を超過したため閲覧を制限します。",
            Code::BadParameter => "パラメーターの入力された値に問題があります。",
            Code::ForbiddenCharacter => "「タブ文字、,、 :、|」の文字は利用できません。",
            Code::BadToken => "無効なトークンです。",
            Code::UnknownUrl => "指定された特許情報取得APIのURLは存在しません。",
            Code::Timeout => "処理が時間内に終了しないため、タイムアウトになりました。",
            Code::Busy => "アクセスが集中しています。",
            Code::Unexpected => "想定外のエラーが発生しました。",
        }
    }

    /// The HTTP status the code is served with. 301 is unrecorded (§11); the sandbox answers it
    /// with HTTP 404, as a gateway would for a path it does not route.
    pub fn http(self) -> StatusCode {
        match self {
            Code::BadToken => StatusCode::UNAUTHORIZED,
            Code::UnknownUrl => StatusCode::NOT_FOUND,
            Code::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Code::Busy => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        }
    }
}

/// The envelope body. `remain` is `None` for `""`; `data` is `None` only where the key is absent
/// (108, as in the official example).
pub fn body(code: Code, remain: Option<u32>, data: Option<Value>) -> Value {
    let mut result = Map::new();
    result.insert("statusCode".into(), code.code().into());
    result.insert("errorMessage".into(), code.message().into());
    result.insert(
        "remainAccessCount".into(),
        remain.map(|r| r.to_string()).unwrap_or_default().into(),
    );
    if let Some(d) = data {
        result.insert("data".into(), d);
    }
    json!({ "result": result })
}

/// A reply with `data` (`{}` for errors).
pub fn reply(code: Code, remain: Option<u32>, data: Value) -> Response {
    respond(code.http(), body(code, remain, Some(data)))
}

/// An error reply: `remainAccessCount` `""`, `data` `{}`, at the code's own HTTP status.
pub fn error(code: Code) -> Response {
    reply(code, None, json!({}))
}

/// `application/json` without a charset, as served live (§3.1).
pub fn respond(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFICIAL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/jpo-samples/official_openapi_examples.json"
    ));

    #[test]
    fn every_official_error_example_is_reproduced() {
        let official: Value = serde_json::from_str(OFFICIAL).unwrap();
        let examples = official["error_examples"].as_object().unwrap();
        let codes = [
            Code::NoData,
            Code::NoDocument,
            Code::OutOfScope,
            Code::DailyCap,
            Code::BadParameter,
            Code::ForbiddenCharacter,
            Code::BadToken,
            Code::Timeout,
            Code::Busy,
            Code::Unexpected,
        ];
        for (key, example) in examples {
            let (code, http) = key.split_once("@HTTP").unwrap();
            let c = codes.into_iter().find(|c| c.code() == code).unwrap();
            let remain = example["result"]["remainAccessCount"]
                .as_str()
                .unwrap()
                .parse::<u32>()
                .ok();
            let data = example["result"].get("data").cloned();
            assert_eq!(&body(c, remain, data), example, "{key}");
            if c != Code::Unexpected {
                assert_eq!(c.http().as_str(), http, "{key}");
            }
        }
    }
}
