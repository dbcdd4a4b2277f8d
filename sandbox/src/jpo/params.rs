//! Path parsing and parameter checks (`jpo.md` §3.2, §6), pure.
//!
//! Order of the checks, after the token (210) and the window (303):
//! 1. a forbidden character (TAB `,` `;` `:` `|`) anywhere in the decoded path → 208;
//! 2. a right, version or API name outside §5, or the wrong number of parameters → 301;
//! 3. `case_number_reference` and `pct_national_phase_application_number`: an unknown kind or
//!    a malformed number → 204; a patent number filed or published before Heisei (year before
//!    1989) → 111.
//!
//! None of these spends quota (their official examples show `remainAccessCount` ""). Other
//! APIs never answer 204: a malformed application number is simply not found (107, spent).

use super::api::{Api, Right};
use super::envelope::Code;

const FORBIDDEN: [char; 5] = ['\t', ',', ';', ':', '|'];
const FIRST_HEISEI_YEAR: u32 = 1989;

/// A request path that names an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub right: Right,
    pub api: Api,
    pub params: Vec<String>,
}

/// Splits and percent-decodes the path after `/api/` (`patent/v1/app_progress/2020123456`).
pub fn parse(path: &str) -> Result<Call, Code> {
    let segments: Vec<String> = path.split('/').map(percent_decode).collect();
    if segments.iter().any(|s| s.contains(FORBIDDEN)) {
        return Err(Code::ForbiddenCharacter);
    }
    let [right, version, api, params @ ..] = segments.as_slice() else {
        return Err(Code::UnknownUrl);
    };
    let right = Right::parse(right).ok_or(Code::UnknownUrl)?;
    let api = Api::parse(api)
        .filter(|a| version == "v1" && right.offers(*a) && a.arity() == params.len())
        .ok_or(Code::UnknownUrl)?;
    if params.iter().any(String::is_empty) {
        return Err(Code::UnknownUrl);
    }
    let call = Call {
        right,
        api,
        params: params.to_vec(),
    };
    check(&call)?;
    Ok(call)
}

fn check(call: &Call) -> Result<(), Code> {
    let p = |i: usize| call.params.get(i).map(String::as_str).unwrap_or_default();
    match call.api {
        Api::CaseNumberReference => {
            let (kind, number) = (p(0), p(1));
            match kind {
                "application" => ten_digits(number, call.right),
                "publication" if call.right == Right::Patent => ten_digits(number, call.right),
                "registration" if digits(number, 7) => Ok(()),
                _ => Err(Code::BadParameter),
            }
        }
        Api::PctNationalPhaseApplicationNumber => {
            let (kind, number) = (p(0), p(1));
            let (prefix, digits_part) = number.split_at_checked(2).unwrap_or(("", ""));
            let prefix_ok = match kind {
                "international_application" => {
                    prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_uppercase())
                }
                "international_publication" => prefix == "WO",
                _ => false,
            };
            if prefix_ok && digits(digits_part, 10) {
                Ok(())
            } else {
                Err(Code::BadParameter)
            }
        }
        _ => Ok(()),
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// A 10-digit Gregorian number; for patents, years before Heisei are out of scope (111).
fn ten_digits(number: &str, right: Right) -> Result<(), Code> {
    if !digits(number, 10) {
        return Err(Code::BadParameter);
    }
    let year: u32 = number[..4].parse().map_err(|_| Code::BadParameter)?;
    if right == Right::Patent && year < FIRST_HEISEI_YEAR {
        return Err(Code::OutOfScope);
    }
    Ok(())
}

/// `%XX` decoding of one path segment; invalid UTF-8 is replaced, a stray `%` kept.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = Result<(Right, Api), Code>;

    fn check(path: &str) -> Parsed {
        parse(path).map(|c| (c.right, c.api))
    }

    #[test]
    fn table() {
        use Code::{BadParameter, ForbiddenCharacter, OutOfScope, UnknownUrl};
        let ok = |r, a| Ok((r, a));
        let cases: &[(&str, Parsed)] = &[
            (
                "patent/v1/app_progress/2020123456",
                ok(Right::Patent, Api::AppProgress),
            ),
            (
                "design/v1/app_progress_simple/2020015234",
                ok(Right::Design, Api::AppProgressSimple),
            ),
            (
                "trademark/v1/jpp_fixed_address/x",
                ok(Right::Trademark, Api::JppFixedAddress),
            ),
            ("patent/v1/app_progress/abc", ok(Right::Patent, Api::AppProgress)),
            ("patent/v1/app_progress/2020%09123456", Err(ForbiddenCharacter)),
            ("patent/v1/app_progress/2020,123456", Err(ForbiddenCharacter)),
            ("patent/v1/app_progress/2020%2C123456", Err(ForbiddenCharacter)),
            ("patent/v1/app_progress/2020;123456", Err(ForbiddenCharacter)),
            ("patent/v1/app_progress/2020:123456", Err(ForbiddenCharacter)),
            ("patent/v1/app_progress/2020%7C123456", Err(ForbiddenCharacter)),
            ("patent/v1/no_such_api/2020123456", Err(UnknownUrl)),
            ("patent/v2/app_progress/2020123456", Err(UnknownUrl)),
            ("utility/v1/app_progress/2020123456", Err(UnknownUrl)),
            ("patent/v1/app_progress", Err(UnknownUrl)),
            ("patent/v1/app_progress/", Err(UnknownUrl)),
            ("patent/v1/app_progress/2020123456/x", Err(UnknownUrl)),
            ("design/v1/cite_doc_info/2020015234", Err(UnknownUrl)),
            ("trademark/v1/divisional_app_info/2024123456", Err(UnknownUrl)),
            (
                "patent/v1/case_number_reference/application/2020123456",
                ok(Right::Patent, Api::CaseNumberReference),
            ),
            (
                "patent/v1/case_number_reference/publication/2021090037",
                ok(Right::Patent, Api::CaseNumberReference),
            ),
            (
                "patent/v1/case_number_reference/registration/7533889",
                ok(Right::Patent, Api::CaseNumberReference),
            ),
            (
                "patent/v1/case_number_reference/application/20201234",
                Err(BadParameter),
            ),
            (
                "patent/v1/case_number_reference/application/20201234567",
                Err(BadParameter),
            ),
            (
                "patent/v1/case_number_reference/application/2020-12345",
                Err(BadParameter),
            ),
            (
                "patent/v1/case_number_reference/registration/753388",
                Err(BadParameter),
            ),
            (
                "patent/v1/case_number_reference/appeal/2020123456",
                Err(BadParameter),
            ),
            (
                "patent/v1/case_number_reference/application/1988123456",
                Err(OutOfScope),
            ),
            (
                "patent/v1/case_number_reference/publication/1985000001",
                Err(OutOfScope),
            ),
            (
                "patent/v1/case_number_reference/application/1989000001",
                ok(Right::Patent, Api::CaseNumberReference),
            ),
            (
                "design/v1/case_number_reference/publication/2020015234",
                Err(BadParameter),
            ),
            (
                "design/v1/case_number_reference/application/1988015234",
                ok(Right::Design, Api::CaseNumberReference),
            ),
            ("patent/v1/case_number_reference/application", Err(UnknownUrl)),
            (
                "patent/v1/pct_national_phase_application_number/international_application/JP2019011858",
                ok(Right::Patent, Api::PctNationalPhaseApplicationNumber),
            ),
            (
                "patent/v1/pct_national_phase_application_number/international_publication/WO2019011858",
                ok(Right::Patent, Api::PctNationalPhaseApplicationNumber),
            ),
            (
                "patent/v1/pct_national_phase_application_number/international_publication/JP2019011858",
                Err(BadParameter),
            ),
            (
                "patent/v1/pct_national_phase_application_number/international_application/JP201901185",
                Err(BadParameter),
            ),
            (
                "patent/v1/pct_national_phase_application_number/other/JP2019011858",
                Err(BadParameter),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(&check(path), want, "{path}");
        }
    }

    #[test]
    fn names_are_decoded() {
        let call = parse("patent/v1/applicant_attorney/%E3%83%88%E3%83%A8%E3%82%BF").unwrap();
        assert_eq!(call.params, ["トヨタ"]);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
