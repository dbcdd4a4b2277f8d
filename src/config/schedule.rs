//! `[schedule]` and `[export]`: when `mailroom run` runs each job, and where the nightly
//! docketing export goes.

use std::path::PathBuf;
use std::time::Duration;

use figment::value::magic::RelativePathBuf;
use serde::Deserialize;

use super::{ConfigError, in_range};
use crate::core::schedule::jobs::{Cadence, Job, zone};

/// `[schedule]`, validated: one cadence per job, in one time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The IANA name of the zone the patterns are read in.
    pub time_zone: String,
    pub mailbox: Cadence,
    pub status: Cadence,
    pub digest: Cadence,
    pub export: Cadence,
    /// Each fire time is delayed by up to this many seconds (spreads firms' polls).
    pub jitter_secs: u32,
    /// How long a stop (SIGTERM) may take: the item in hand is finished within it.
    pub stop_timeout: Duration,
}

impl Schedule {
    pub fn cadence(&self, job: Job) -> &Cadence {
        match job {
            Job::Mailbox => &self.mailbox,
            Job::Status => &self.status,
            Job::Digest => &self.digest,
            Job::Export => &self.export,
        }
    }
}

/// `[export]`: the nightly export's directory (`None`: the export job is off).
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub dir: Option<PathBuf>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    time_zone: Option<String>,
    #[serde(default = "every_15_min")]
    mailbox: String,
    #[serde(default = "two_am")]
    status: String,
    #[serde(default = "weekday_morning")]
    digest: String,
    #[serde(default = "half_past_two")]
    export: String,
    #[serde(default = "sixty")]
    jitter_secs: u32,
    #[serde(default = "thirty")]
    stop_timeout_secs: u64,
}

impl Default for RawSchedule {
    fn default() -> Self {
        RawSchedule {
            time_zone: None,
            mailbox: every_15_min(),
            status: two_am(),
            digest: weekday_morning(),
            export: half_past_two(),
            jitter_secs: sixty(),
            stop_timeout_secs: thirty(),
        }
    }
}

fn every_15_min() -> String {
    "0 */15 * * * *".into()
}
fn two_am() -> String {
    "0 0 2 * * *".into()
}
fn weekday_morning() -> String {
    "0 30 7 * * 1-5".into()
}
fn half_past_two() -> String {
    "0 30 2 * * *".into()
}
fn sixty() -> u32 {
    60
}
fn thirty() -> u64 {
    30
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExport {
    dir: Option<RelativePathBuf>,
}

/// The system's zone: `$TZ`, else `/etc/timezone`, else the `/etc/localtime` link, else UTC.
fn system_zone() -> String {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|z| z.trim_start_matches(':').to_owned());
    let from_file = || {
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .map(|z| z.trim().to_owned())
    };
    let from_link = || {
        std::fs::read_link("/etc/localtime").ok().and_then(|p| {
            let s = p.to_string_lossy().into_owned();
            s.split_once("zoneinfo/").map(|(_, z)| z.to_owned())
        })
    };
    from_env
        .filter(|z| zone(z).is_ok())
        .or_else(|| from_file().filter(|z| zone(z).is_ok()))
        .or_else(|| from_link().filter(|z| zone(z).is_ok()))
        .unwrap_or_else(|| "UTC".into())
}

impl RawSchedule {
    /// An unset zone is the system's: `mailroom config` shows it as a default, and `mailroom
    /// run` logs it at start (a notice on every command would be noise).
    pub(super) fn validate(self) -> Result<Schedule, ConfigError> {
        let time_zone = self.time_zone.unwrap_or_else(system_zone);
        let tz = zone(&time_zone).map_err(|e| ConfigError::Value {
            key: "schedule.time_zone".into(),
            reason: e.to_string(),
        })?;
        let cadence = |key: &str, pattern: &str| {
            Cadence::parse(pattern, tz).map_err(|e| ConfigError::Value {
                key: format!("schedule.{key}"),
                reason: e.to_string(),
            })
        };
        Ok(Schedule {
            mailbox: cadence("mailbox", &self.mailbox)?,
            status: cadence("status", &self.status)?,
            digest: cadence("digest", &self.digest)?,
            export: cadence("export", &self.export)?,
            time_zone,
            jitter_secs: in_range("schedule.jitter_secs", self.jitter_secs, 0, 3600)?,
            stop_timeout: Duration::from_secs(in_range(
                "schedule.stop_timeout_secs",
                self.stop_timeout_secs,
                1,
                3600,
            )?),
        })
    }
}

impl RawExport {
    pub(super) fn validate(self) -> Export {
        Export {
            dir: self.dir.map(|d| d.relative()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(&ConfigSource::Named(path), &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_key() {
        let table = [
            (
                "[schedule]\ntime_zone = \"Europe/Berlni\"\n",
                "schedule.time_zone: \"Europe/Berlni\" is not an IANA time zone",
            ),
            (
                "[schedule]\nmailbox = \"*/15 * * * *\"\n",
                "schedule.mailbox: \"*/15 * * * *\" is not a cron pattern with seconds",
            ),
            (
                "[schedule]\ndigest = \"0 0 0 30 2 *\"\n",
                "schedule.digest: \"0 0 0 30 2 *\" never fires",
            ),
            (
                "[schedule]\njitter_secs = 99999\n",
                "schedule.jitter_secs: 99999 is outside 0..=3600",
            ),
            ("[schedule]\nmailbx = \"0 * * * * *\"\n", "mailbx"),
        ];
        for (text, want) in table {
            let e = load(text).expect_err(text);
            assert!(e.contains(want), "{text} → {e}");
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let cfg = load("[schedule]\ntime_zone = \"Asia/Tokyo\"\n").unwrap();
        let s = &cfg.schedule;
        assert_eq!(
            [
                s.mailbox.pattern(),
                s.status.pattern(),
                s.digest.pattern(),
                s.export.pattern()
            ],
            ["0 */15 * * * *", "0 0 2 * * *", "0 30 7 * * 1-5", "0 30 2 * * *"]
        );
        assert_eq!((s.jitter_secs, s.stop_timeout.as_secs()), (60, 30));
        assert!(cfg.export.dir.is_none());
    }
}
