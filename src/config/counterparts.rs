//! `[counterparts]`: following the JP counterparts of the EP and PCT cases in the mailbox.
//!
//! ```toml
//! [counterparts]
//! enabled = true          # look up families (OPS) and PCT national phases (JPO)
//! refresh_days = 30       # a family or a PCT without a JP national phase is looked up again after this
//! max_per_cycle = 100     # at most this many family lookups and this many PCT lookups per status cycle
//! ```
//!
//! Decisions: one lookup when a case first appears, then one a month (families change rarely:
//! a new national phase, a divisional); the per-cycle share spreads a large first import over
//! nights (`core::schedule::lookups_due`) and leaves the OPS `inpadoc` bucket and the JPO's
//! national-phase cap (200 a day) to everything else. The offices' own caps are checked on top.

use serde::Deserialize;

use super::{ConfigError, in_range};

/// `[counterparts]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterparts {
    pub enabled: bool,
    pub refresh_days: u32,
    pub max_per_cycle: usize,
}

impl Default for Counterparts {
    fn default() -> Self {
        Counterparts {
            enabled: true,
            refresh_days: 30,
            max_per_cycle: 100,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCounterparts {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "thirty")]
    refresh_days: u32,
    #[serde(default = "hundred")]
    max_per_cycle: usize,
}

fn yes() -> bool {
    true
}
fn thirty() -> u32 {
    30
}
fn hundred() -> usize {
    100
}

impl Default for RawCounterparts {
    fn default() -> Self {
        RawCounterparts {
            enabled: true,
            refresh_days: thirty(),
            max_per_cycle: hundred(),
        }
    }
}

impl RawCounterparts {
    pub(super) fn validate(self) -> Result<Counterparts, ConfigError> {
        Ok(Counterparts {
            enabled: self.enabled,
            refresh_days: in_range("counterparts.refresh_days", self.refresh_days, 1, 3650)?,
            max_per_cycle: in_range("counterparts.max_per_cycle", self.max_per_cycle, 0, 100_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> Result<Config, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        Config::load_with_env(&ConfigSource::Named(file), &[])
    }

    #[test]
    fn defaults_values_and_refusals() {
        assert_eq!(load("").unwrap().counterparts, super::Counterparts::default());
        let c = load("[counterparts]\nenabled = false\nrefresh_days = 7\nmax_per_cycle = 5\n")
            .unwrap()
            .counterparts;
        assert_eq!((c.enabled, c.refresh_days, c.max_per_cycle), (false, 7, 5));
        for (text, key) in [
            ("[counterparts]\nrefresh_days = 0\n", "counterparts.refresh_days"),
            (
                "[counterparts]\nmax_per_cycle = 1000000\n",
                "counterparts.max_per_cycle",
            ),
            ("[counterparts]\nrefresh = 3\n", "refresh"),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
