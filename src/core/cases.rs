//! Cases: which office, which kind of right, and the number in the form each office's API
//! takes. Parsing accepts the forms people write (`EP 23 184 567.2`, `特願2020-123456`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Office {
    #[serde(rename = "EP")]
    Ep,
    #[serde(rename = "JP")]
    Jp,
}

impl Office {
    pub fn as_str(self) -> &'static str {
        match self {
            Office::Ep => "EP",
            Office::Jp => "JP",
        }
    }
}

impl fmt::Display for Office {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of right; it selects the JPO API family (`/api/patent/v1/…`, `design`, `trademark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Patent,
    Design,
    Trademark,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Patent, Kind::Design, Kind::Trademark];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Patent => "patent",
            Kind::Design => "design",
            Kind::Trademark => "trademark",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind of right {0:?}: use patent, design or trademark")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "patent" | "p" => Ok(Kind::Patent),
            "design" | "d" => Ok(Kind::Design),
            "trademark" | "tm" | "t" => Ok(Kind::Trademark),
            _ => Err(UnknownKind(s.to_owned())),
        }
    }
}

/// A case as the offices key it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaseKey {
    pub office: Office,
    pub kind: Kind,
    /// EP: epodoc, `EP` + 8 digits for an application (`EP10167109`) or `EP` + 7 digits for a
    /// publication (`EP2400812`). JP: 10 digits (`2020123456`).
    pub number: String,
}
