//! `[deadlines]`: proposing, checking and reminding the time limits communications start.
//!
//! ```toml
//! [deadlines]
//! enabled = true
//! horizon_days = 30                 # the digest lists deadlines due within this many days
//! remind_days = [30, 14, 7, 3, 1]   # a reminder as each rung is reached, until acknowledged
//! register_grace_days = 7           # a Register time limit with no communication is reported after this
//! register_since = 2026-01-01       # check Register time limits from this day (default: since the mailbox was first listed)
//! jp_applicant_abroad = true        # JP periods for applicants abroad (3 months, not 60 days, for a refusal notice)
//! rules_file = "/etc/mailroom/periods.toml"   # the firm's own rows, read before the shipped table
//! closed = [{ date = "2027-05-20", reason = "Rule 134(2) EPC: general dislocation of delivery" }]
//! ```
//!
//! `closed` adds days on which the EPO counts as closed for Rule 134 (a dislocation the EPO
//! announced under Rule 134(2), a day the shipped calendar does not know yet); each needs its
//! reason, which every deadline it moves quotes.

use chrono::NaiveDate;
use figment::value::magic::RelativePathBuf;
use serde::Deserialize;

use super::{ConfigError, in_range};
use crate::core::deadline::Policy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeadlines {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "thirty")]
    horizon_days: u32,
    #[serde(default = "ladder")]
    remind_days: Vec<u32>,
    #[serde(default = "seven")]
    register_grace_days: u32,
    #[serde(default)]
    register_since: Option<toml::value::Datetime>,
    #[serde(default)]
    jp_applicant_abroad: Option<bool>,
    #[serde(default)]
    rules_file: Option<RelativePathBuf>,
    #[serde(default)]
    closed: Vec<RawClosed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClosed {
    date: toml::value::Datetime,
    reason: String,
}

fn yes() -> bool {
    true
}
fn thirty() -> u32 {
    30
}
fn seven() -> u32 {
    7
}
fn ladder() -> Vec<u32> {
    vec![30, 14, 7, 3, 1]
}

impl Default for RawDeadlines {
    fn default() -> Self {
        RawDeadlines {
            enabled: true,
            horizon_days: thirty(),
            remind_days: ladder(),
            register_grace_days: seven(),
            register_since: None,
            jp_applicant_abroad: None,
            rules_file: None,
            closed: Vec::new(),
        }
    }
}

impl RawDeadlines {
    pub(super) fn validate(self, zone: chrono_tz::Tz) -> Result<Policy, ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Value {
            key: key.into(),
            reason,
        };
        let shipped = crate::legal_data::epo_period_rules().map_err(|e| bad("deadlines", e.to_string()))?;
        let jp_rules = crate::legal_data::jpo_period_rules().map_err(|e| bad("deadlines", e.to_string()))?;
        let mut calendar =
            crate::legal_data::epo_closing_days().map_err(|e| bad("deadlines", e.to_string()))?;
        let mut rules = match &self.rules_file {
            Some(path) => {
                let path = path.relative();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    bad(
                        "deadlines.rules_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                crate::legal_data::rules(&text, &path.display().to_string())
                    .map_err(|e| bad("deadlines.rules_file", e.to_string()))?
            }
            None => Vec::new(),
        };
        rules.extend(shipped);
        let to_date = |key: &str, v: &toml::value::Datetime| {
            v.date
                .and_then(|d| {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                })
                .ok_or_else(|| bad(key, format!("{v} is not a date")))
        };
        let register_since = self
            .register_since
            .as_ref()
            .map(|v| to_date("deadlines.register_since", v))
            .transpose()?;
        for c in &self.closed {
            let day = to_date("deadlines.closed", &c.date)?;
            if c.reason.trim().is_empty() {
                return Err(bad("deadlines.closed", format!("{day} has no reason")));
            }
            calendar.days.insert(day, c.reason.trim().to_owned());
        }
        let mut remind_days = self.remind_days;
        for d in &remind_days {
            in_range("deadlines.remind_days", *d, 0, 365)?;
        }
        remind_days.sort_unstable_by(|a, b| b.cmp(a));
        remind_days.dedup();
        Ok(Policy {
            enabled: self.enabled,
            rules,
            jp_rules,
            jp_applicant_abroad: self.jp_applicant_abroad,
            calendar,
            remind_days,
            horizon_days: in_range("deadlines.horizon_days", self.horizon_days, 0, 3650)?,
            register_grace_days: in_range("deadlines.register_grace_days", self.register_grace_days, 0, 365)?,
            register_since,
            zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load_in(dir: &std::path::Path, text: &str) -> Result<Config, crate::config::ConfigError> {
        let file = dir.join("config.toml");
        std::fs::write(&file, text).unwrap();
        Config::load_with_env(&ConfigSource::Named(file), &[])
    }

    #[test]
    fn defaults_values_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let d = load_in(dir.path(), "").unwrap().deadlines;
        assert!(d.enabled && d.jp_applicant_abroad.is_none() && d.register_since.is_none());
        assert_eq!((d.horizon_days, d.register_grace_days), (30, 7));
        assert_eq!(d.remind_days, [30, 14, 7, 3, 1]);
        assert!(!d.rules.is_empty() && !d.jp_rules.is_empty());
        std::fs::write(
            dir.path().join("periods.toml"),
            "[[rule]]\ntitles = [\"Rule 70(2)\"]\nperiod = \"6m\"\nbasis = \"Rule 70(2) EPC (firm)\"\n\
             extendable = false\nsource = \"the firm's own practice note\"\n",
        )
        .unwrap();
        let d = load_in(
            dir.path(),
            "[deadlines]\nremind_days = [1, 7, 7, 30]\nregister_since = 2026-01-01\njp_applicant_abroad = true\n\
             rules_file = \"periods.toml\"\nclosed = [{ date = 2027-05-20, reason = \"Rule 134(2) EPC dislocation\" }]\n",
        )
        .unwrap()
        .deadlines;
        assert_eq!(d.remind_days, [30, 7, 1], "sorted, largest first, once each");
        assert_eq!(
            d.register_since.map(|x| x.to_string()).as_deref(),
            Some("2026-01-01")
        );
        assert_eq!(d.jp_applicant_abroad, Some(true));
        assert_eq!(
            d.rules[0].basis, "Rule 70(2) EPC (firm)",
            "the firm's rows come first"
        );
        let day = chrono::NaiveDate::from_ymd_opt(2027, 5, 20).unwrap();
        assert_eq!(
            d.calendar.days.get(&day).map(String::as_str),
            Some("Rule 134(2) EPC dislocation")
        );
        for (text, key) in [
            ("[deadlines]\nremind_days = [400]\n", "deadlines.remind_days"),
            ("[deadlines]\nhorizon_days = 5000\n", "deadlines.horizon_days"),
            ("[deadlines]\nregister_since = \"soon\"\n", "register_since"),
            (
                "[deadlines]\nclosed = [{ date = 2027-05-20, reason = \" \" }]\n",
                "deadlines.closed",
            ),
            (
                "[deadlines]\nrules_file = \"missing.toml\"\n",
                "deadlines.rules_file",
            ),
            ("[deadlines]\nremind = [1]\n", "remind"),
        ] {
            let e = load_in(dir.path(), text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
