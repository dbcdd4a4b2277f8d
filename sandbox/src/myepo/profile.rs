//! Response profiles: which of the §5 contract variants the sandbox serves.

use std::fmt;
use std::str::FromStr;

/// Which contract variant of `shared/api/myepo-mailbox.md` §5 is served.
///
/// The switches are independent and combine with `+` (`aliases+nested+mark-204`); the
/// default profile is the §4 contract. `Display` gives back the canonical name, which
/// [`FromStr`] accepts.
///
/// **Several files, every profile** (the lead's decision on §4 against §5.2): the flat shape
/// carries one `fileName`, so it is used only for a communication with one file. A
/// communication with several files is listed with a `documents` array in every profile, and
/// its files are served at `…/communications/{id}/documents/{documentId}` in every profile:
/// the sandbox never hides a file a flat item could not carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// `aliases`: items use `id`, `applicationNumberText`, `documentDate`, `mimeType` and
    /// `size`; the envelope uses `items` and `total`.
    pub aliases: bool,
    /// `nested`: each communication lists its files under `documents`, downloaded at
    /// `…/communications/{id}/documents/{documentId}`; the flat `…/file` path does not exist.
    /// (Without it, only one-file communications are flat: see above.)
    pub nested: bool,
    /// `href` (§5.3, download through metadata): each listed file carries an `href`, an
    /// absolute URL of the sandbox's own origin (from the request's `Host`) to its download
    /// path, which a client follows instead of building the path.
    pub href: bool,
    /// `flip-on-download`: any download that does not say `setHandled=false` marks the
    /// communication handled (logged as `MARKED_HANDLED` by the API), as an office whose
    /// download side effect defaults to on would.
    pub flip_on_download: bool,
    /// `bare-array`: E1 answers a top-level JSON array, without totals or paging echo.
    pub bare_array: bool,
    /// `no-total`: the E1 envelope has no `totalCount`.
    pub no_total: bool,
    /// `mark-204`: E3 answers `204 No Content` instead of per-item results.
    pub mark_204: bool,
    /// `mark-batch-error`: E3 rejects the whole batch with 404 when any id is unknown.
    pub mark_batch_error: bool,
}

impl Profile {
    /// Every name [`FromStr`] accepts; combine them with `+`.
    pub const NAMES: &[&str] = &[
        "default",
        "aliases",
        "nested",
        "bare-array",
        "no-total",
        "mark-204",
        "mark-batch-error",
        "href",
        "flip-on-download",
    ];

    fn switches(&self) -> [(&'static str, bool); 8] {
        [
            ("aliases", self.aliases),
            ("nested", self.nested),
            ("bare-array", self.bare_array),
            ("no-total", self.no_total),
            ("mark-204", self.mark_204),
            ("mark-batch-error", self.mark_batch_error),
            ("href", self.href),
            ("flip-on-download", self.flip_on_download),
        ]
    }
}

/// A profile name that is not one of [`Profile::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown MyEPO profile {given:?}: use one or more of {} joined with '+'", Profile::NAMES.join(", "))]
pub struct ProfileParseError {
    pub given: String,
}

impl FromStr for Profile {
    type Err = ProfileParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Profile::default();
        for part in s.split('+') {
            let name = part.trim().to_ascii_lowercase();
            let flag = match name.as_str() {
                "default" => continue,
                "aliases" => &mut p.aliases,
                "nested" => &mut p.nested,
                "bare-array" => &mut p.bare_array,
                "no-total" => &mut p.no_total,
                "mark-204" => &mut p.mark_204,
                "mark-batch-error" => &mut p.mark_batch_error,
                "href" => &mut p.href,
                "flip-on-download" => &mut p.flip_on_download,
                _ => {
                    return Err(ProfileParseError {
                        given: part.trim().to_owned(),
                    });
                }
            };
            *flag = true;
        }
        Ok(p)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<&str> = self
            .switches()
            .iter()
            .filter(|(_, v)| *v)
            .map(|(n, _)| *n)
            .collect();
        if on.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&on.join("+"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_combine_and_round_trip() {
        assert_eq!("default".parse::<Profile>(), Ok(Profile::default()));
        let p: Profile = "Aliases + mark-204".parse().expect("valid");
        assert!(p.aliases && p.mark_204 && !p.nested);
        assert_eq!(p.to_string(), "aliases+mark-204");
        for name in Profile::NAMES {
            let p: Profile = name.parse().expect("every listed name parses");
            assert_eq!(p.to_string(), *name);
        }
        let all = Profile::NAMES[1..].join("+");
        assert_eq!(all.parse::<Profile>().expect("valid").to_string(), all);
    }

    #[test]
    fn unknown_or_empty_names_are_rejected_with_the_valid_list() {
        let e = "aliases+flat"
            .parse::<Profile>()
            .expect_err("flat is not a profile");
        assert_eq!(e.given, "flat");
        assert!(e.to_string().contains("mark-batch-error"));
        assert!("".parse::<Profile>().is_err());
    }
}
