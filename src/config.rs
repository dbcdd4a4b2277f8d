//! Configuration: one TOML file, environment overrides, secrets from files.
//!
//! Sources, later ones winning:
//! 1. the TOML file: `--config PATH`, else `$MAILROOM_CONFIG`, else the platform default
//!    ([`default_config_path`]); a missing *default* file is fine (embedded defaults), a
//!    missing *named* file is an error;
//! 2. environment variables `MAILROOM_<SECTION>__<KEY>` (e.g. `MAILROOM_MYEPO__CLIENT_ID`;
//!    only names with `__` are read, so `MAILROOM_CONFIG` and `MAILROOM_LOG` are not keys).
//!
//! A secret (`client_secret`, `consumer_secret`, `password`) may instead come from a file:
//! `<key>_file = "/path"`, or, under systemd's `LoadCredential=`, from
//! `$CREDENTIALS_DIRECTORY/<section>.<key>` (e.g. `myepo.client_secret`). Giving a secret
//! both inline and as `_file` is an error, since one of them would be silently ignored.
//! Trailing newlines of secret files are dropped.
//!
//! Unknown keys are errors naming the key path, so a typo never silently disables a setting.
//! Relative paths in the file are relative to the file's directory; relative paths from the
//! environment are relative to the working directory.
//!
//! Nothing falls back silently: every loaded value keeps its [`Origin`] (`Config::origins`,
//! from figment's per-value metadata; a key no provider set is [`Origin::Default`]), and what
//! was assumed is listed in `Config::notices` (no file at the default path, storage on its
//! default paths) for the CLI to print. A command that writes loads with
//! [`Config::load_for_write`], which refuses to run on defaults when there is no file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use figment::value::magic::RelativePathBuf;
use serde::{Deserialize, Deserializer};

/// A secret value. It never prints: `Debug` and `Display` show `[redacted]`.
mod notify;
mod schedule;
pub use notify::{Email, Notify, Tls, Transport, Webhook, WebhookFormat};
pub use schedule::{Export, Schedule};
mod log;
pub use log::{Log, Rotation};
mod counterparts;
mod deadlines;
pub use counterparts::Counterparts;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it (an HTTP request).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d).map(Secret)
    }
}

/// Where one configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No provider set it: the built-in default.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// An environment variable (its full name, `MAILROOM_MYEPO__PAGE_SIZE`).
    Env(String),
    /// A secret read from the file named by `<key>_file`; `named_in` is where that key was set.
    SecretFile { path: PathBuf, named_in: Box<Origin> },
    /// A secret read from systemd's `$CREDENTIALS_DIRECTORY`.
    Credential(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(var) => f.write_str(var),
            Origin::SecretFile { path, named_in } => {
                write!(f, "the file {} (named by {named_in})", path.display())
            }
            Origin::Credential(p) => write!(f, "the systemd credential {}", p.display()),
        }
    }
}

/// The [`Origin`] of every value a provider set, by dotted key; any other key is a default.
#[derive(Debug, Clone, Default)]
pub struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// The origin of `key` (`section.key`); [`Origin::Default`] when no provider set it.
    pub fn of(&self, key: &str) -> &Origin {
        self.0.get(key).unwrap_or(&Origin::Default)
    }

    /// Every key a provider set, with its origin, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether any key of `section` was set by a provider (the section exists somewhere).
    pub fn has_section(&self, section: &str) -> bool {
        self.0.keys().any(|k| k.split('.').next() == Some(section))
    }

    /// Every leaf value of a merged figment with the provider that set it.
    fn of_figment(fig: &Figment) -> Result<Self, ConfigError> {
        fn walk(
            fig: &Figment,
            prefix: &str,
            dict: &figment::value::Dict,
            out: &mut BTreeMap<String, Origin>,
        ) {
            for (k, v) in dict {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    figment::value::Value::Dict(_, inner) => walk(fig, &key, inner, out),
                    _ => {
                        if let Some(md) = fig.find_metadata(&key) {
                            out.insert(key.clone(), Origin::of_metadata(md, &key));
                        }
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(fig, "", &fig.extract::<figment::value::Dict>()?, &mut out);
        Ok(Origins(out))
    }
}

impl Origin {
    /// mailroom merges two providers, the TOML file and [`EnvVars`]: a value not from a file
    /// is from the environment, named as the variable it was read from.
    fn of_metadata(md: &figment::Metadata, key: &str) -> Origin {
        match &md.source {
            Some(figment::Source::File(p)) => Origin::File(p.clone()),
            _ => {
                let path: Vec<&str> = key.split('.').collect();
                Origin::Env(md.interpolate(&figment::Profile::Default, &path))
            }
        }
    }
}

/// Accepts any scalar as text: an environment override such as `MAILROOM_JPO__USERNAME=12345`
/// arrives as a number, yet names, ids and secrets are strings.
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::U(u) => u.to_string(),
        Scalar::F(f) => f.to_string(),
        Scalar::B(b) => b.to_string(),
    })
}

fn opt_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar_string(d).map(Some)
}

/// The whole configuration, validated.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// Where each value came from, by dotted key (`myepo.page_size`).
    pub origins: Origins,
    /// What the loader assumed because nothing said otherwise, one fact per line (no file at
    /// the default path, a storage path left at its default). The CLI prints them on stderr.
    pub notices: Vec<String>,
    pub storage: Storage,
    pub myepo: Option<Myepo>,
    pub ops: Option<Ops>,
    pub jpo: Option<Jpo>,
    /// `[notify]`: who is told what (empty: events are recorded, nobody is told).
    pub notify: Notify,
    /// `[schedule]`: when `mailroom run` runs each job.
    pub schedule: Schedule,
    /// `[export]`: where the nightly export goes.
    pub export: Export,
    /// `[log]`: log files besides stderr (default: none).
    pub log: Log,
    /// `[counterparts]`: finding and following the JP counterparts of EP and PCT cases.
    pub counterparts: Counterparts,
    /// `[deadlines]` with the legal data: proposing, checking and reminding deadlines.
    pub deadlines: crate::core::deadline::Policy,
}

#[derive(Debug, Clone)]
pub struct Storage {
    /// The SQLite database file.
    pub database: PathBuf,
    /// Where communications are archived. Nothing is written outside it and the state dir.
    pub archive_dir: PathBuf,
}

/// EPO MyEPO Mailbox (client-credentials, Okta).
#[derive(Debug, Clone)]
pub struct Myepo {
    pub token_url: url::Url,
    pub api_base_url: url::Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: Option<String>,
    pub auth_method: AuthMethod,
    /// Items per list request (1–100).
    pub page_size: u32,
    /// Ids per mark-handled request (1–100).
    pub batch_size: u32,
    /// `false` = read-only roll-out: archive everything, never mark handled at the EPO.
    pub mark_handled: bool,
    /// Each run also lists communications *handled* at the EPO dispatched within this many
    /// days, and archives any it does not hold (handled by a person in the web mailbox).
    /// 0 switches reconciliation off.
    pub reconcile_window_days: u32,
    /// Failed archiving attempts before a communication is quarantined for a person to look at.
    pub max_attempts: u32,
    /// Retries of one request on timeouts, 429 and 5xx (with jittered exponential backoff,
    /// honouring `Retry-After`).
    pub retries: u32,
    /// First retry delay; doubles per retry, capped at a minute.
    pub retry_base_delay: std::time::Duration,
    /// How long one read from the connection may stall.
    pub read_timeout: std::time::Duration,
    /// The largest file a download may be (default 2 GiB): a larger `Content-Length` is
    /// refused before anything is written, and a body is cut off as soon as it passes this
    /// (or the listed size, when the listing gives one).
    pub max_file_bytes: u64,
}

/// How the client id and secret reach the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `Authorization: Basic` (client_secret_basic).
    Basic,
    /// Form fields `client_id` and `client_secret` (client_secret_post).
    Post,
}

/// EPO Open Patent Services.
#[derive(Debug, Clone)]
pub struct Ops {
    /// e.g. `https://ops.epo.org/3.2`
    pub base_url: url::Url,
    pub consumer_key: String,
    pub consumer_secret: Secret,
    /// The length of OPS's throttling window (60 s). Only the sandbox's accelerated time
    /// (`mailroom sandbox --time-scale`) has any reason to change it.
    pub window: std::time::Duration,
    /// The weekly byte quota of the account (4 GB on the free tier).
    pub week_quota_bytes: u64,
    /// Stop a cycle once this share of the weekly quota is used (0.8 = 80 %).
    pub quota_stop_share: f64,
    pub retries: u32,
    pub retry_base_delay: std::time::Duration,
    pub read_timeout: std::time::Duration,
}

/// JPO Patent Information Retrieval APIs.
#[derive(Debug, Clone)]
pub struct Jpo {
    pub token_url: url::Url,
    /// e.g. `https://ip-data.jpo.go.jp/api`
    pub api_base_url: url::Url,
    pub username: String,
    pub password: Secret,
    /// The JPO's rate window (60 s) and the requests allowed in it (10). Only the sandbox's
    /// accelerated time has any reason to change the window.
    pub window: std::time::Duration,
    pub requests_per_window: u32,
    /// The daily `app_progress` cap per right, used until the office's `remainAccessCount`
    /// says otherwise (Handbook: 400; live in 2026: 800).
    pub daily_cap: u32,
    /// Cases with a change or mailbox activity within this many days are refreshed first.
    pub priority_days: u32,
    pub retries: u32,
    pub retry_base_delay: std::time::Duration,
    pub read_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error(
        "no configuration file at {0} (no --config, $MAILROOM_CONFIG not set), and this command writes: \
         create it from config.example.toml; to try mailroom without an office account, run \
         `mailroom sandbox --print-config > mailroom.toml` in another terminal and use `mailroom --config mailroom.toml …`"
    )]
    NoFile(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("{key}: both {key} and {key}_file are set; keep one")]
    AmbiguousSecret { key: String },
    #[error("{key}_file: cannot read {path}: {cause}")]
    SecretFile {
        key: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{key}: no value (set {key}, {key}_file, or the systemd credential {cred})")]
    MissingSecret { key: String, cred: String },
    #[error("{key}: {reason}")]
    Value { key: String, reason: String },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Invalid(e.into_iter().map(|e| describe(&e)).collect::<Vec<_>>().join("; "))
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[&str], value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match path {
        [] => {}
        [leaf] => {
            dict.insert((*leaf).to_owned(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry((*head).to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            } else {
                let mut inner = Dict::new();
                insert_path(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

/// One figment error as `<key>: <problem> (in <origin>)`, the key spelled as the user wrote it:
/// a dotted path for the file, the variable name for the environment.
fn describe(e: &figment::Error) -> String {
    // figment's relative paths add an internal component; the user never wrote it.
    let path: Vec<&str> = e
        .path
        .iter()
        .map(String::as_str)
        .filter(|p| !p.starts_with("___figment"))
        .collect();
    let (key, origin) = match &e.metadata {
        Some(md) if md.name == "environment" => (
            format!("MAILROOM_{}", path.join("__").to_ascii_uppercase()),
            "the environment".to_owned(),
        ),
        Some(md) => (
            path.join("."),
            md.source
                .as_ref()
                .map_or_else(|| md.name.to_string(), |s| s.to_string()),
        ),
        None => (path.join("."), String::new()),
    };
    // Parse errors come with a multi-line source snippet: keep the message lines only.
    let kind = e.kind.to_string();
    let kind = kind
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('|'))
        .collect::<Vec<_>>()
        .join(" ");
    match (key.is_empty(), origin.is_empty()) {
        (true, true) => kind,
        (true, false) => format!("{kind} (in {origin})"),
        (false, true) => format!("{key}: {kind}"),
        (false, false) => format!("{key}: {kind} (in {origin})"),
    }
}

/// The platform's default configuration file.
pub fn default_config_path() -> PathBuf {
    if cfg!(windows) {
        let base =
            std::env::var_os("ProgramData").map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
        base.join("mailroom").join("config.toml")
    } else {
        PathBuf::from("/etc/mailroom/config.toml")
    }
}

/// The platform's default state directory (database and archive live below it).
pub fn default_state_dir() -> PathBuf {
    if cfg!(windows) {
        let base =
            std::env::var_os("ProgramData").map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
        base.join("mailroom")
    } else {
        PathBuf::from("/var/lib/mailroom")
    }
}

/// Where the configuration comes from, resolved from the command line and environment.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// `--config PATH` or `$MAILROOM_CONFIG`: must exist.
    Named(PathBuf),
    /// The platform default: used when present.
    Default(PathBuf),
}

impl ConfigSource {
    pub fn resolve(cli: Option<PathBuf>) -> Self {
        match cli.or_else(|| std::env::var_os("MAILROOM_CONFIG").map(PathBuf::from)) {
            Some(p) => ConfigSource::Named(p),
            None => ConfigSource::Default(default_config_path()),
        }
    }

    /// The file this source names or looks for.
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::Named(p) | ConfigSource::Default(p) => p,
        }
    }

    /// Whether the file is there.
    pub fn exists(&self) -> bool {
        self.path().is_file()
    }
}

impl Config {
    /// Loads from `source` plus the process environment, for a command that only reads: with
    /// no file at the default path it runs on the defaults, and says so in `notices`.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(source, &env)
    }

    /// [`Config::load`] for a command that writes (syncs, case changes): there must be a
    /// configuration file, since defaults alone would archive into a place nobody chose.
    pub fn load_for_write(source: &ConfigSource) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_for_write_with_env(source, &env)
    }

    /// [`Config::load_for_write`] with the given environment (tests pass their own).
    pub fn load_for_write_with_env(
        source: &ConfigSource,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        match source {
            ConfigSource::Default(p) if !source.exists() => Err(ConfigError::NoFile(p.clone())),
            _ => Self::load_with_env(source, env),
        }
    }

    /// Loads from `source` plus the given environment (tests pass their own).
    pub fn load_with_env(source: &ConfigSource, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let file = match source {
            ConfigSource::Named(p) if !p.is_file() => return Err(ConfigError::Missing(p.clone())),
            ConfigSource::Named(p) => Some(p.clone()),
            ConfigSource::Default(p) => p.is_file().then(|| p.clone()),
        };
        let mut fig = Figment::new();
        if let Some(f) = &file {
            fig = fig.merge(Toml::file_exact(f));
        }
        let fig = fig.merge(EnvVars::from_env(env));
        let raw: RawConfig = fig.extract()?;
        let origins = Origins::of_figment(&fig)?;
        let creds_dir = env
            .iter()
            .find(|(k, _)| k == "CREDENTIALS_DIRECTORY")
            .map(|(_, v)| PathBuf::from(v));
        let mut notices = Vec::new();
        if file.is_none() {
            notices.push(format!(
                "no configuration file at {} (no --config, $MAILROOM_CONFIG not set); using the defaults and MAILROOM_* variables",
                source.path().display()
            ));
        }
        raw.validate(file, creds_dir.as_deref(), origins, notices)
    }
}

/// The `MAILROOM_<SECTION>__<KEY>` variables of an environment, as a figment provider whose
/// errors name the variable (e.g. `for key "MAILROOM_MYEPO__SCOPES" in environment`).
struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    fn from_env(env: &[(String, String)]) -> Self {
        EnvVars(
            env.iter()
                .filter_map(|(k, v)| {
                    let key = k.strip_prefix("MAILROOM_")?;
                    key.contains("__")
                        .then(|| (key.to_ascii_lowercase().replace("__", "."), v.clone()))
                })
                .collect(),
        )
    }
}

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment")
            .interpolater(|_, path| format!("MAILROOM_{}", path.join("__").to_ascii_uppercase()))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut root = figment::value::Dict::new();
        for (key, raw) in &self.0 {
            // Read a value the way TOML would read it bare (`true`, `3`), else as text.
            let value = raw
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| figment::value::Value::from(raw.clone()));
            insert_path(&mut root, &key.split('.').collect::<Vec<_>>(), value);
        }
        Ok(figment::Profile::Default.collect(root))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    storage: RawStorage,
    myepo: Option<RawMyepo>,
    ops: Option<RawOps>,
    jpo: Option<RawJpo>,
    #[serde(default)]
    notify: notify::RawNotify,
    #[serde(default)]
    schedule: schedule::RawSchedule,
    #[serde(default)]
    export: schedule::RawExport,
    #[serde(default)]
    log: log::RawLog,
    #[serde(default)]
    counterparts: counterparts::RawCounterparts,
    #[serde(default)]
    deadlines: deadlines::RawDeadlines,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    database: Option<RelativePathBuf>,
    archive_dir: Option<RelativePathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMyepo {
    #[serde(default = "yes")]
    enabled: bool,
    token_url: String,
    api_base_url: String,
    #[serde(deserialize_with = "scalar_string")]
    client_id: String,
    client_secret: Option<Secret>,
    client_secret_file: Option<RelativePathBuf>,
    #[serde(default, deserialize_with = "opt_scalar_string")]
    scope: Option<String>,
    #[serde(default = "basic")]
    auth_method: AuthMethod,
    #[serde(default = "hundred")]
    page_size: u32,
    #[serde(default = "fifty")]
    batch_size: u32,
    #[serde(default = "yes")]
    mark_handled: bool,
    #[serde(default = "fourteen")]
    reconcile_window_days: u32,
    #[serde(default = "eight")]
    max_attempts: u32,
    #[serde(default = "five")]
    retries: u32,
    #[serde(default = "thousand")]
    retry_base_delay_ms: u64,
    #[serde(default = "sixty")]
    read_timeout_secs: u64,
    #[serde(default = "two_gib")]
    max_file_bytes: u64,
}

fn two_gib() -> u64 {
    2 << 30
}
fn basic() -> AuthMethod {
    AuthMethod::Basic
}
fn hundred() -> u32 {
    100
}
fn fifty() -> u32 {
    50
}
fn fourteen() -> u32 {
    14
}
fn eight() -> u32 {
    8
}
fn five() -> u32 {
    5
}
fn thousand() -> u64 {
    1000
}
fn sixty() -> u64 {
    60
}
fn sixty_f() -> f64 {
    60.0
}
fn four_gb() -> u64 {
    4_000_000_000
}
fn eighty_percent() -> f64 {
    0.8
}
fn ten() -> u32 {
    10
}
fn four_hundred() -> u32 {
    400
}
fn seven() -> u32 {
    7
}
fn three() -> u32 {
    3
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOps {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "ops_default_base")]
    base_url: String,
    #[serde(deserialize_with = "scalar_string")]
    consumer_key: String,
    consumer_secret: Option<Secret>,
    consumer_secret_file: Option<RelativePathBuf>,
    #[serde(default = "sixty_f")]
    window_secs: f64,
    #[serde(default = "four_gb")]
    week_quota_bytes: u64,
    #[serde(default = "eighty_percent")]
    quota_stop_share: f64,
    #[serde(default = "five")]
    retries: u32,
    #[serde(default = "thousand")]
    retry_base_delay_ms: u64,
    #[serde(default = "sixty")]
    read_timeout_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJpo {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "jpo_default_token_url")]
    token_url: String,
    #[serde(default = "jpo_default_api_base")]
    api_base_url: String,
    #[serde(deserialize_with = "scalar_string")]
    username: String,
    password: Option<Secret>,
    password_file: Option<RelativePathBuf>,
    #[serde(default = "sixty_f")]
    window_secs: f64,
    #[serde(default = "ten")]
    requests_per_window: u32,
    #[serde(default = "four_hundred")]
    daily_cap: u32,
    #[serde(default = "seven")]
    priority_days: u32,
    #[serde(default = "three")]
    retries: u32,
    #[serde(default = "thousand")]
    retry_base_delay_ms: u64,
    #[serde(default = "sixty")]
    read_timeout_secs: u64,
}

fn yes() -> bool {
    true
}
fn ops_default_base() -> String {
    "https://ops.epo.org/3.2".into()
}
fn jpo_default_token_url() -> String {
    "https://ip-data.jpo.go.jp/auth/token".into()
}
fn jpo_default_api_base() -> String {
    "https://ip-data.jpo.go.jp/api".into()
}

impl RawConfig {
    fn validate(
        self,
        source: Option<PathBuf>,
        creds: Option<&Path>,
        mut origins: Origins,
        mut notices: Vec<String>,
    ) -> Result<Config, ConfigError> {
        let state = default_state_dir();
        let storage = Storage {
            database: self
                .storage
                .database
                .map_or_else(|| state.join("mailroom.sqlite3"), |p| p.relative()),
            archive_dir: self
                .storage
                .archive_dir
                .map_or_else(|| state.join("archive"), |p| p.relative()),
        };
        let place = source
            .as_ref()
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default();
        for (key, value) in [
            ("storage.database", &storage.database),
            ("storage.archive_dir", &storage.archive_dir),
        ] {
            if *origins.of(key) == Origin::Default {
                notices.push(format!(
                    "{key} is not set{place}; using the default {}",
                    value.display()
                ));
            }
        }
        let myepo = match self.myepo {
            Some(m) if m.enabled => Some(Myepo {
                token_url: parse_url("myepo.token_url", &m.token_url)?,
                api_base_url: parse_url("myepo.api_base_url", &m.api_base_url)?,
                client_secret: secret(
                    "myepo",
                    "client_secret",
                    m.client_secret,
                    m.client_secret_file,
                    creds,
                    &mut origins,
                )?,
                client_id: non_empty("myepo.client_id", m.client_id)?,
                scope: m.scope.filter(|s| !s.trim().is_empty()),
                auth_method: m.auth_method,
                page_size: in_range("myepo.page_size", m.page_size, 1, 100)?,
                batch_size: in_range("myepo.batch_size", m.batch_size, 1, 100)?,
                mark_handled: m.mark_handled,
                reconcile_window_days: in_range(
                    "myepo.reconcile_window_days",
                    m.reconcile_window_days,
                    0,
                    3650,
                )?,
                max_attempts: in_range("myepo.max_attempts", m.max_attempts, 1, 1000)?,
                retries: in_range("myepo.retries", m.retries, 0, 20)?,
                retry_base_delay: std::time::Duration::from_millis(m.retry_base_delay_ms),
                read_timeout: std::time::Duration::from_secs(in_range(
                    "myepo.read_timeout_secs",
                    m.read_timeout_secs,
                    1,
                    3600,
                )?),
                max_file_bytes: in_range("myepo.max_file_bytes", m.max_file_bytes, 1, 1 << 40)?,
            }),
            _ => None,
        };
        if myepo.as_ref().is_some_and(|m| !m.mark_handled) {
            notices.push(format!(
                "marking handled at the EPO is OFF (mark_handled = false, from {}): communications are archived and stay unhandled there",
                origins.of("myepo.mark_handled")
            ));
        }
        let ops = match self.ops {
            Some(o) if o.enabled => Some(Ops {
                base_url: parse_url("ops.base_url", &o.base_url)?,
                consumer_secret: secret(
                    "ops",
                    "consumer_secret",
                    o.consumer_secret,
                    o.consumer_secret_file,
                    creds,
                    &mut origins,
                )?,
                consumer_key: non_empty("ops.consumer_key", o.consumer_key)?,
                window: window("ops.window_secs", o.window_secs)?,
                week_quota_bytes: in_range("ops.week_quota_bytes", o.week_quota_bytes, 1, u64::MAX)?,
                quota_stop_share: in_range("ops.quota_stop_share", o.quota_stop_share, 0.01, 1.0)?,
                retries: in_range("ops.retries", o.retries, 0, 20)?,
                retry_base_delay: std::time::Duration::from_millis(o.retry_base_delay_ms),
                read_timeout: std::time::Duration::from_secs(in_range(
                    "ops.read_timeout_secs",
                    o.read_timeout_secs,
                    1,
                    3600,
                )?),
            }),
            _ => None,
        };
        let jpo = match self.jpo {
            Some(j) if j.enabled => Some(Jpo {
                token_url: parse_url("jpo.token_url", &j.token_url)?,
                api_base_url: parse_url("jpo.api_base_url", &j.api_base_url)?,
                password: secret(
                    "jpo",
                    "password",
                    j.password,
                    j.password_file,
                    creds,
                    &mut origins,
                )?,
                username: non_empty("jpo.username", j.username)?,
                window: window("jpo.window_secs", j.window_secs)?,
                requests_per_window: in_range("jpo.requests_per_window", j.requests_per_window, 1, 1000)?,
                daily_cap: in_range("jpo.daily_cap", j.daily_cap, 1, 1_000_000)?,
                priority_days: in_range("jpo.priority_days", j.priority_days, 0, 365)?,
                retries: in_range("jpo.retries", j.retries, 0, 20)?,
                retry_base_delay: std::time::Duration::from_millis(j.retry_base_delay_ms),
                read_timeout: std::time::Duration::from_secs(in_range(
                    "jpo.read_timeout_secs",
                    j.read_timeout_secs,
                    1,
                    3600,
                )?),
            }),
            _ => None,
        };
        let notify = self.notify.validate(creds, &mut origins)?;
        let schedule = self.schedule.validate()?;
        let zone =
            crate::core::schedule::jobs::zone(&schedule.time_zone).map_err(|e| ConfigError::Value {
                key: "schedule.time_zone".into(),
                reason: e.to_string(),
            })?;
        let export = self.export.validate();
        Ok(Config {
            source,
            origins,
            notices,
            storage,
            myepo,
            ops,
            jpo,
            notify,
            schedule,
            export,
            log: self.log.validate()?,
            counterparts: self.counterparts.validate()?,
            deadlines: self.deadlines.validate(zone)?,
        })
    }
}

fn non_empty(key: &str, v: String) -> Result<String, ConfigError> {
    if v.trim().is_empty() {
        Err(ConfigError::Value {
            key: key.into(),
            reason: "must not be empty".into(),
        })
    } else {
        Ok(v)
    }
}

fn in_range<T: PartialOrd + fmt::Display + Copy>(key: &str, v: T, lo: T, hi: T) -> Result<T, ConfigError> {
    if !(lo..=hi).contains(&v) {
        return Err(ConfigError::Value {
            key: key.into(),
            reason: format!("{v} is outside {lo}..={hi}"),
        });
    }
    Ok(v)
}

/// A rate window in seconds: positive and at most a day.
fn window(key: &str, secs: f64) -> Result<std::time::Duration, ConfigError> {
    let secs = in_range(key, secs, 0.001, 86_400.0)?;
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn parse_url(key: &str, v: &str) -> Result<url::Url, ConfigError> {
    let u = url::Url::parse(v).map_err(|e| ConfigError::Value {
        key: key.into(),
        reason: format!("{v:?} is not a URL: {e}"),
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(ConfigError::Value {
            key: key.into(),
            reason: format!("{v:?} must be an http(s) URL"),
        });
    }
    Ok(u)
}

/// Resolves a secret from inline, `_file` or systemd credential, and records where it came
/// from under the secret's own key in `origins`.
fn secret(
    section: &str,
    key: &str,
    inline: Option<Secret>,
    file: Option<RelativePathBuf>,
    creds: Option<&Path>,
    origins: &mut Origins,
) -> Result<Secret, ConfigError> {
    let full = format!("{section}.{key}");
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|cause| ConfigError::SecretFile {
                key: full.clone(),
                path: path.to_path_buf(),
                cause,
            })
    };
    let cred = format!("{section}.{key}");
    let (value, origin) = match (inline, file) {
        (Some(_), Some(_)) => return Err(ConfigError::AmbiguousSecret { key: full }),
        (Some(s), None) => (s, origins.of(&full).clone()),
        (None, Some(f)) => {
            let path = f.relative();
            let named_in = Box::new(origins.of(&format!("{full}_file")).clone());
            (read(&path)?, Origin::SecretFile { path, named_in })
        }
        (None, None) => match creds.map(|d| d.join(&cred)).filter(|p| p.is_file()) {
            Some(p) => (read(&p)?, Origin::Credential(p)),
            None => return Err(ConfigError::MissingSecret { key: full, cred }),
        },
    };
    if value.0.is_empty() {
        return Err(ConfigError::Value {
            key: full,
            reason: "the secret is empty".into(),
        });
    }
    origins.0.insert(full, origin);
    Ok(value)
}

/// A complete configuration for a sandbox at `urls`, with its data under `data_dir`.
///
/// `mailroom sandbox --print-config` and `mailroom demo` write this; a test parses it back
/// with [`Config::load`], so it cannot drift from what the loader accepts. A sandbox whose
/// clock runs `time_scale` times faster gets rate windows that much shorter, so the clients'
/// pacing matches the sandbox's minutes.
pub fn sandbox_config_toml(urls: &mailroom_sandbox::Urls, data_dir: &Path, time_scale: f64) -> String {
    use mailroom_sandbox::credentials as c;
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let p = |p: PathBuf| q(&p.to_string_lossy());
    format!(
        "# mailroom configuration for the local sandbox (generated).\n\
         \n\
         [storage]\n\
         database = {db}\n\
         archive_dir = {archive}\n\
         \n\
         [myepo]\n\
         token_url = {myepo_token}\n\
         api_base_url = {myepo_api}\n\
         client_id = {myepo_id}\n\
         client_secret = {myepo_secret}\n\
         scope = {myepo_scope}\n\
         \n\
         [ops]\n\
         base_url = {ops_base}\n\
         consumer_key = {ops_key}\n\
         consumer_secret = {ops_secret}\n\
         window_secs = {window}\n\
         \n\
         [jpo]\n\
         token_url = {jpo_token}\n\
         api_base_url = {jpo_api}\n\
         username = {jpo_user}\n\
         password = {jpo_pass}\n\
         window_secs = {window}\n",
        db = p(data_dir.join("mailroom.sqlite3")),
        archive = p(data_dir.join("archive")),
        myepo_token = q(&urls.myepo_token),
        myepo_api = q(&urls.myepo_api_base),
        myepo_id = q(c::MYEPO_CLIENT_ID),
        myepo_secret = q(c::MYEPO_CLIENT_SECRET),
        myepo_scope = q(c::MYEPO_SCOPE),
        ops_base = q(&urls.ops_base),
        ops_key = q(c::OPS_CONSUMER_KEY),
        ops_secret = q(c::OPS_CONSUMER_SECRET),
        jpo_token = q(&urls.jpo_token),
        jpo_api = q(&urls.jpo_api_base),
        jpo_user = q(c::JPO_USERNAME),
        jpo_pass = q(c::JPO_PASSWORD),
        window = toml::Value::Float(60.0 / time_scale),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[storage]
database = "state/mailroom.sqlite3"
archive_dir = "/srv/archive"

[myepo]
token_url = "https://login.example/oauth2/x/v1/token"
api_base_url = "https://api.example/myepo"
client_id = "client"
client_secret = "s3cr3t-myepo"

[ops]
consumer_key = "key"
consumer_secret = "s3cr3t-ops"

[jpo]
username = "user"
password = "s3cr3t-jpo"
"#;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load(text: &str, env: &[(&str, &str)]) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "config.toml", text);
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let cfg = Config::load_with_env(&ConfigSource::Named(file), &env);
        (dir, cfg)
    }

    fn err(text: &str, env: &[(&str, &str)]) -> String {
        match load(text, env).1 {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn full_file_loads_with_defaults_and_relative_paths() {
        let (dir, cfg) = load(FULL, &[]);
        let cfg = cfg.unwrap();
        assert_eq!(cfg.storage.database, dir.path().join("state/mailroom.sqlite3"));
        assert_eq!(cfg.storage.archive_dir, PathBuf::from("/srv/archive"));
        let ops = cfg.ops.unwrap();
        assert_eq!(ops.base_url.as_str(), "https://ops.epo.org/3.2");
        assert_eq!(ops.consumer_secret.expose(), "s3cr3t-ops");
        let jpo = cfg.jpo.unwrap();
        assert_eq!(jpo.token_url.as_str(), "https://ip-data.jpo.go.jp/auth/token");
        assert_eq!(cfg.myepo.unwrap().scope, None);
    }

    #[test]
    fn secrets_never_print() {
        let (_d, cfg) = load(FULL, &[]);
        let shown = format!("{:?}", cfg.unwrap());
        for secret in ["s3cr3t-myepo", "s3cr3t-ops", "s3cr3t-jpo"] {
            assert!(!shown.contains(secret), "{secret} leaked into Debug output");
        }
        assert!(shown.contains("[redacted]"));
        assert_eq!(Secret::new("x").to_string(), "[redacted]");
    }

    #[test]
    fn errors_name_the_culprit() {
        let page_size_500 = FULL.replace("[myepo]", "[myepo]\npage_size = 500");
        let max_file_0 = FULL.replace("[myepo]", "[myepo]\nmax_file_bytes = 0");
        let digest = FULL.replace("[myepo]", "[myepo]\nauth_method = 'digest'");
        // (file text, environment, expected error fragment)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 13] = [
            ("[myepo]\nscopes = 'x'\n", &[], "myepo.scopes: unknown field"),
            (
                "[storage]\ndatbase = 'x'\n",
                &[],
                "storage.datbase: unknown field",
            ),
            ("[smtp]\n", &[], "smtp: unknown field"),
            (
                "",
                &[("MAILROOM_OPS__FOO", "1")],
                "MAILROOM_OPS__FOO: unknown field",
            ),
            ("[storage\n", &[], "TOML parse error at line 1"),
            (
                "[ops]\nbase_url = 'ftp://x'\nconsumer_key='k'\nconsumer_secret='s'\n",
                &[],
                "ops.base_url: \"ftp://x\" must be an http(s) URL",
            ),
            (
                "[ops]\nconsumer_key='k'\n",
                &[],
                "ops.consumer_secret: no value (set ops.consumer_secret, ops.consumer_secret_file, or the systemd credential ops.consumer_secret)",
            ),
            (
                "[ops]\nconsumer_key=''\nconsumer_secret='s'\n",
                &[],
                "ops.consumer_key: must not be empty",
            ),
            (
                "[jpo]\nusername='u'\npassword='p'\npassword_file='/nonexistent'\n",
                &[],
                "jpo.password: both jpo.password and jpo.password_file are set",
            ),
            (
                "[jpo]\nusername='u'\npassword_file='/nonexistent/pw'\n",
                &[],
                "jpo.password_file: cannot read /nonexistent/pw",
            ),
            (&page_size_500, &[], "myepo.page_size: 500 is outside 1..=100"),
            (
                &max_file_0,
                &[],
                "myepo.max_file_bytes: 0 is outside 1..=1099511627776",
            ),
            (&digest, &[], "myepo.auth_method: unknown variant"),
        ];
        for (text, env, expected) in cases {
            let e = err(text, env);
            assert!(
                e.contains(expected),
                "for {text:?}: {e:?} does not contain {expected:?}"
            );
            assert!(!e.contains('\n'), "error is not one line: {e:?}");
        }
    }

    #[test]
    fn environment_overrides_file_and_accepts_numbers() {
        let (_d, cfg) = load(
            FULL,
            &[
                ("MAILROOM_JPO__USERNAME", "12345"),
                ("MAILROOM_OPS__ENABLED", "false"),
                ("MAILROOM_CONFIG", "/ignored"),
                ("MAILROOM_LOG", "debug"),
            ],
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.jpo.unwrap().username, "12345");
        assert!(cfg.ops.is_none(), "MAILROOM_OPS__ENABLED=false must disable OPS");
    }

    #[test]
    fn secrets_from_files_and_systemd_credentials() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ops.secret", "from-file\n");
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        write(&creds, "jpo.password", "from-credentials\r\n");
        let file = write(
            dir.path(),
            "c.toml",
            "[ops]\nconsumer_key='k'\nconsumer_secret_file='ops.secret'\n[jpo]\nusername='u'\n",
        );
        let env = vec![(
            "CREDENTIALS_DIRECTORY".to_owned(),
            creds.to_string_lossy().into_owned(),
        )];
        let cfg = Config::load_with_env(&ConfigSource::Named(file), &env).unwrap();
        assert_eq!(cfg.ops.unwrap().consumer_secret.expose(), "from-file");
        assert_eq!(cfg.jpo.unwrap().password.expose(), "from-credentials");
    }

    #[test]
    fn named_file_must_exist_but_default_may_not() {
        let missing = PathBuf::from("/nonexistent/mailroom.toml");
        let e = Config::load_with_env(&ConfigSource::Named(missing.clone()), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration file /nonexistent/mailroom.toml does not exist"
        );
        let cfg = Config::load_with_env(&ConfigSource::Default(missing), &[]).unwrap();
        assert!(cfg.source.is_none() && cfg.myepo.is_none() && cfg.ops.is_none() && cfg.jpo.is_none());
        assert_eq!(cfg.storage.archive_dir, default_state_dir().join("archive"));
    }

    #[test]
    fn every_value_keeps_its_origin() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ops.secret", "s");
        let file = write(
            dir.path(),
            "c.toml",
            "[storage]\ndatabase = 'db'\n[myepo]\ntoken_url = 'http://x/t'\napi_base_url = 'http://x/a'\n\
             client_id = 'id'\nclient_secret = 's'\npage_size = 50\n\
             [ops]\nconsumer_key = 'k'\nconsumer_secret_file = 'ops.secret'\n",
        );
        let env = [("MAILROOM_MYEPO__PAGE_SIZE".to_owned(), "20".to_owned())];
        let cfg = Config::load_with_env(&ConfigSource::Named(file.clone()), &env).unwrap();
        let o = &cfg.origins;
        let table = [
            ("storage.database", Origin::File(file.clone())),
            ("storage.archive_dir", Origin::Default),
            ("myepo.page_size", Origin::Env("MAILROOM_MYEPO__PAGE_SIZE".into())),
            ("myepo.batch_size", Origin::Default),
            ("myepo.client_secret", Origin::File(file.clone())),
            (
                "ops.consumer_secret",
                Origin::SecretFile {
                    path: dir.path().join("ops.secret"),
                    named_in: Box::new(Origin::File(file.clone())),
                },
            ),
        ];
        for (key, expected) in table {
            assert_eq!(o.of(key), &expected, "{key}");
        }
        assert!(o.has_section("ops") && !o.has_section("jpo"));
        assert_eq!(
            cfg.notices,
            [format!(
                "storage.archive_dir is not set in {}; using the default {}",
                file.display(),
                default_state_dir().join("archive").display()
            )]
        );
    }

    #[test]
    fn a_writing_command_needs_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let e = Config::load_for_write_with_env(&ConfigSource::Default(missing.clone()), &[]).unwrap_err();
        assert!(matches!(&e, ConfigError::NoFile(p) if *p == missing), "{e}");
        assert!(e.to_string().contains("mailroom sandbox --print-config"), "{e}");
        let cfg = Config::load_with_env(&ConfigSource::Default(missing.clone()), &[]).unwrap();
        assert!(
            cfg.notices[0].starts_with(&format!("no configuration file at {}", missing.display())),
            "{:?}",
            cfg.notices
        );
        let present = write(
            dir.path(),
            "present.toml",
            "[storage]\ndatabase = 'db'\narchive_dir = 'a'\n",
        );
        let cfg = Config::load_for_write_with_env(&ConfigSource::Default(present), &[]).unwrap();
        assert!(cfg.notices.is_empty(), "{:?}", cfg.notices);
    }

    #[test]
    fn the_example_config_uses_only_known_keys() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let e = Config::load_with_env(&ConfigSource::Named(example), &[])
            .unwrap_err()
            .to_string();
        // Every key is accepted; the first thing missing is the (deliberately absent) secret file.
        assert!(
            e.starts_with("myepo.client_secret_file: cannot read /etc/mailroom/myepo.client_secret"),
            "{e}"
        );
    }

    #[test]
    fn sandbox_config_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let urls = mailroom_sandbox::Urls::for_base("http://127.0.0.1:4567");
        let file = write(
            dir.path(),
            "sandbox.toml",
            &sandbox_config_toml(&urls, Path::new("/data/x"), 30.0),
        );
        let cfg = Config::load_with_env(&ConfigSource::Named(file), &[]).unwrap();
        assert_eq!(cfg.storage.database, PathBuf::from("/data/x/mailroom.sqlite3"));
        let m = cfg.myepo.unwrap();
        assert_eq!(m.token_url.as_str(), urls.myepo_token);
        assert_eq!(
            m.client_secret.expose(),
            mailroom_sandbox::credentials::MYEPO_CLIENT_SECRET
        );
        assert_eq!(cfg.ops.unwrap().base_url.as_str(), urls.ops_base);
        assert_eq!(cfg.jpo.unwrap().api_base_url.as_str(), urls.jpo_api_base);
    }
}
