//! `[log]`: log files besides stderr (which under systemd is the journal).
//!
//! ```toml
//! [log]
//! dir = "/var/log/mailroom"   # default: no files
//! rotation = "daily"          # daily | hourly | never
//! keep = 14                   # the most files kept; older ones are removed
//! ```

use std::path::PathBuf;

use figment::value::magic::RelativePathBuf;
use serde::Deserialize;

use super::{ConfigError, in_range};

/// `[log]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// Where log files go; `None`: no files, stderr only. Checked (created) at load, so a
    /// directory mailroom cannot use is a configuration error, not a silent loss of logs.
    pub dir: Option<PathBuf>,
    pub rotation: Rotation,
    /// The most log files kept in `dir`.
    pub keep: usize,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            dir: None,
            rotation: Rotation::Daily,
            keep: DEFAULT_KEEP,
        }
    }
}

/// When a new log file is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    Daily,
    Hourly,
    /// One file, `mailroom.log`, for an outside rotator (logrotate with `copytruncate`).
    Never,
}

impl Rotation {
    pub fn name(self) -> &'static str {
        match self {
            Rotation::Daily => "daily",
            Rotation::Hourly => "hourly",
            Rotation::Never => "never",
        }
    }
}

const DEFAULT_KEEP: usize = 14;

fn default_keep() -> usize {
    DEFAULT_KEEP
}

fn daily() -> Rotation {
    Rotation::Daily
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    dir: Option<RelativePathBuf>,
    #[serde(default = "daily")]
    rotation: Rotation,
    #[serde(default = "default_keep")]
    keep: usize,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            dir: None,
            rotation: Rotation::Daily,
            keep: DEFAULT_KEEP,
        }
    }
}

impl RawLog {
    pub(super) fn validate(self) -> Result<Log, ConfigError> {
        let dir = self.dir.map(|d| d.relative());
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(|e| ConfigError::Value {
                key: "log.dir".into(),
                reason: format!("cannot create {}: {e}", d.display()),
            })?;
        }
        Ok(Log {
            dir,
            rotation: self.rotation,
            keep: in_range("log.keep", self.keep, 1, 10_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> (tempfile::TempDir, Result<Config, crate::config::ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        let cfg = Config::load_with_env(&ConfigSource::Named(file), &[]);
        (dir, cfg)
    }

    #[test]
    fn no_section_means_no_files() {
        let (_dir, cfg) = load("");
        assert_eq!(cfg.unwrap().log, super::Log::default());
    }

    #[test]
    fn a_relative_dir_is_created_beside_the_file() {
        let (dir, cfg) = load("[log]\ndir = \"logs/mailroom\"\nrotation = \"hourly\"\nkeep = 3\n");
        let log = cfg.unwrap().log;
        assert_eq!(log.dir, Some(dir.path().join("logs/mailroom")));
        assert!(dir.path().join("logs/mailroom").is_dir());
        assert_eq!((log.rotation, log.keep), (super::Rotation::Hourly, 3));
    }

    #[test]
    fn a_dir_that_cannot_be_created_names_log_dir() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "").unwrap();
        let text = format!("[log]\ndir = {:?}\n", blocker.join("logs").display().to_string());
        let e = load(&text).1.unwrap_err().to_string();
        assert!(e.starts_with("log.dir: cannot create "), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = load("[log]\nrotation = \"weekly\"\n").1.unwrap_err().to_string();
        assert!(e.contains("log.rotation"), "{e}");
        let e = load("[log]\nkeep = 0\n").1.unwrap_err().to_string();
        assert!(e.starts_with("log.keep: 0 is outside"), "{e}");
        let e = load("[log]\ndirectory = \"x\"\n").1.unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
    }
}
