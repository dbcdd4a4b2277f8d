//! `[notify]`: who is told what, and how to reach them.
//!
//! ```toml
//! [notify]
//! templates_dir = "/etc/mailroom/templates"   # overrides the built-in message templates
//! [notify.email]
//! host = "smtp.firm.example"                   # or transport = "file" + file_dir (the demo)
//! tls = "starttls"                             # starttls | implicit | none (loopback only)
//! to = ["formalities@firm.example"]
//! [[notify.email.rules]]
//! client_reference = "ACME-*"
//! to = ["acme-team@firm.example"]
//! [notify.digest]
//! to = ["formalities@firm.example"]
//! [[notify.webhook]]
//! name = "teams"
//! url_file = "/etc/mailroom/teams.url"
//! format = "teams"
//! [notify.desktop]
//! enabled = false
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use figment::value::magic::RelativePathBuf;
use serde::Deserialize;

use super::{ConfigError, Origins, Secret, in_range, non_empty, parse_url, secret};
use crate::core::cases::Office;
use crate::core::notify::{EmailRoutes, EmailRule, EventKind, Filter, Routing};

/// `[notify]`, validated.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub email: Option<Email>,
    /// `[notify.digest] to`: who gets the daily digest (by email).
    pub digest_to: Vec<String>,
    pub webhooks: Vec<Webhook>,
    /// `[notify.desktop] enabled`: the jobs notify the desktop session they run in.
    pub desktop: bool,
    /// Templates that override the built-in ones of the same name (`communication.txt`,
    /// `communication.html`, …; `notify::render`).
    pub templates_dir: Option<PathBuf>,
    /// Attempts of one send within one drain (jittered backoff between them) before the
    /// delivery waits for its next retry (`core::notify::after_send_failure`).
    pub attempts_per_drain: u32,
}

impl Notify {
    /// What `core::notify::route` decides with.
    pub fn routing(&self) -> Routing {
        Routing {
            email: self.email.as_ref().map(|e| EmailRoutes {
                rules: e.rules.clone(),
                to: e.to.clone(),
                admin_to: e.admin_to.clone(),
                digest_to: self.digest_to.clone(),
            }),
            webhooks: self
                .webhooks
                .iter()
                .map(|w| (w.name.clone(), w.filter.clone()))
                .collect(),
            desktop: self.desktop,
        }
    }

    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }
}

/// How mail leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Smtp {
        host: String,
        port: u16,
        tls: Tls,
        username: Option<String>,
        password: Option<Secret>,
        /// A PEM file of CA certificates to trust besides the system's (a firm's own CA).
        ca_file: Option<PathBuf>,
        timeout: Duration,
    },
    /// Each message as an `.eml` file in this directory (lettre's file transport): the demo,
    /// and a firm that hands mail to another system.
    File { dir: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// STARTTLS on the submission port, required: a server that does not offer it is refused.
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain text: refused unless the host is a loopback address.
    None,
}

#[derive(Debug, Clone)]
pub struct Email {
    pub transport: Transport,
    pub from: String,
    /// The default route.
    pub to: Vec<String>,
    /// Quarantines, office stops, deliveries that keep failing (the default `to` if empty).
    pub admin_to: Vec<String>,
    /// The PDF is attached when the communication's files are at most this large in total.
    pub attach_max_bytes: u64,
    /// More alerts than this to one recipient from one run become one summary mail.
    pub max_alerts_per_cycle: u32,
    pub rules: Vec<EmailRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Our own event schema (`core::notify::Event` as JSON).
    Json,
    /// An Adaptive Card for a Teams Workflows URL.
    Teams,
    /// An ntfy publish (title, priority, click URL).
    Ntfy,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    /// How the outbox, `notify test --webhook` and logs name it (the URL may hold a secret).
    pub name: String,
    /// Secret: Teams Workflows URLs carry their signature in the query.
    pub url: Secret,
    pub format: WebhookFormat,
    /// Extra request headers, values secret (`headers`, or `headers_file` naming files).
    pub headers: Vec<(String, Secret)>,
    pub filter: Filter,
    pub timeout: Duration,
}

impl Webhook {
    /// The URL, parsed (validated when the configuration was loaded).
    pub fn parsed_url(&self) -> Option<url::Url> {
        url::Url::parse(self.url.expose()).ok()
    }
}

/// A string or a list of strings.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    email: Option<RawEmail>,
    digest: Option<RawDigest>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    desktop: Option<RawDesktop>,
    templates_dir: Option<RelativePathBuf>,
    #[serde(default = "three")]
    attempts_per_drain: u32,
}

fn three() -> u32 {
    3
}

/// No `[notify]` at all: what the serde defaults of each key say.
impl Default for RawNotify {
    fn default() -> Self {
        RawNotify {
            email: None,
            digest: None,
            webhook: Vec::new(),
            desktop: None,
            templates_dir: None,
            attempts_per_drain: three(),
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    to: OneOrMany,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawDesktop {
    #[serde(default)]
    enabled: bool,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    #[default]
    Smtp,
    File,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    #[serde(default)]
    transport: RawTransport,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<Tls>,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<RelativePathBuf>,
    ca_file: Option<RelativePathBuf>,
    file_dir: Option<RelativePathBuf>,
    #[serde(default = "thirty")]
    timeout_secs: u64,
    from: String,
    to: OneOrMany,
    admin_to: Option<OneOrMany>,
    #[serde(default = "ten_mb")]
    attach_max_bytes: u64,
    #[serde(default = "twenty_five")]
    max_alerts_per_cycle: u32,
    #[serde(default)]
    rules: Vec<RawRule>,
}

fn thirty() -> u64 {
    30
}
fn ten_mb() -> u64 {
    10_000_000
}
fn twenty_five() -> u32 {
    25
}

/// The conditions of a rule or a webhook filter.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    office: Option<String>,
    kind: Option<OneOrMany>,
    document_code: Option<OneOrMany>,
    client_reference: Option<String>,
    case: Option<OneOrMany>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(flatten)]
    filter: RawFilter,
    to: OneOrMany,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: String,
    url: Option<Secret>,
    url_file: Option<RelativePathBuf>,
    format: WebhookFormat,
    #[serde(default)]
    headers: BTreeMap<String, Secret>,
    #[serde(default)]
    headers_file: BTreeMap<String, RelativePathBuf>,
    #[serde(default = "thirty")]
    timeout_secs: u64,
    #[serde(flatten)]
    filter: RawFilter,
}

fn filter(key: &str, raw: RawFilter) -> Result<Filter, ConfigError> {
    let office = match raw.office.as_deref().map(str::trim) {
        None => None,
        Some(o) if o.eq_ignore_ascii_case("EP") || o.eq_ignore_ascii_case("EPO") => Some(Office::Ep),
        Some(o) if o.eq_ignore_ascii_case("JP") || o.eq_ignore_ascii_case("JPO") => Some(Office::Jp),
        Some(o) => {
            return Err(ConfigError::Value {
                key: format!("{key}.office"),
                reason: format!("{o:?} is not an office: use EP or JP"),
            });
        }
    };
    let mut kinds = Vec::new();
    for k in raw.kind.map(OneOrMany::into_vec).unwrap_or_default() {
        kinds.push(EventKind::parse(k.trim()).ok_or_else(|| ConfigError::Value {
            key: format!("{key}.kind"),
            reason: format!(
                "{k:?} is not an event kind: use {}",
                EventKind::ALL.map(EventKind::as_str).join(", ")
            ),
        })?);
    }
    let client_reference = raw.client_reference.filter(|g| !g.trim().is_empty());
    Ok(Filter {
        office,
        kinds,
        document_codes: raw.document_code.map(OneOrMany::into_vec).unwrap_or_default(),
        client_reference,
        cases: raw.case.map(OneOrMany::into_vec).unwrap_or_default(),
    })
}

/// A list of mail addresses: each must parse as one (`Name <a@b>` or `a@b`).
fn addresses(key: &str, list: OneOrMany) -> Result<Vec<String>, ConfigError> {
    let list = list.into_vec();
    for a in &list {
        check_address(key, a)?;
    }
    Ok(list)
}

fn check_address(key: &str, a: &str) -> Result<(), ConfigError> {
    a.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| ConfigError::Value {
            key: key.into(),
            reason: format!("{a:?} is not a mail address: {e}"),
        })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RawNotify {
    pub(super) fn validate(
        self,
        creds: Option<&std::path::Path>,
        origins: &mut Origins,
    ) -> Result<Notify, ConfigError> {
        let email = match self.email {
            None => None,
            Some(e) => Some(email(e, creds, origins)?),
        };
        let digest_to = match self.digest {
            Some(d) => addresses("notify.digest.to", d.to)?,
            None => Vec::new(),
        };
        if !digest_to.is_empty() && email.is_none() {
            return Err(ConfigError::Value {
                key: "notify.digest.to".into(),
                reason: "the digest is sent by email: configure [notify.email] too".into(),
            });
        }
        let mut webhooks: Vec<Webhook> = Vec::new();
        for (i, w) in self.webhook.into_iter().enumerate() {
            let key = format!("notify.webhook.{i}");
            let name = non_empty(&format!("{key}.name"), w.name)?;
            if webhooks.iter().any(|o| o.name == name) {
                return Err(ConfigError::Value {
                    key: format!("{key}.name"),
                    reason: format!("{name:?} names two webhooks"),
                });
            }
            let url = secret(
                &format!("notify.webhook.{name}"),
                "url",
                w.url,
                w.url_file,
                creds,
                origins,
            )?;
            parse_url(&format!("{key}.url"), url.expose()).map_err(|_| ConfigError::Value {
                key: format!("{key}.url"),
                reason: format!("webhook {name:?}: not an http(s) URL"),
            })?;
            let mut headers: Vec<(String, Secret)> = w.headers.into_iter().collect();
            for (h, f) in w.headers_file {
                if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&h)) {
                    return Err(ConfigError::AmbiguousSecret {
                        key: format!("{key}.headers.{h}"),
                    });
                }
                let value = secret(
                    &format!("notify.webhook.{name}.headers"),
                    &h,
                    None,
                    Some(f),
                    creds,
                    origins,
                )?;
                headers.push((h, value));
            }
            for (h, v) in &headers {
                let bad = reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
                    || reqwest::header::HeaderValue::from_str(v.expose()).is_err();
                if bad {
                    return Err(ConfigError::Value {
                        key: format!("{key}.headers.{h}"),
                        reason: "not a valid HTTP header name and value".into(),
                    });
                }
            }
            webhooks.push(Webhook {
                filter: filter(&key, w.filter)?,
                name,
                url,
                format: w.format,
                headers,
                timeout: Duration::from_secs(in_range(
                    &format!("{key}.timeout_secs"),
                    w.timeout_secs,
                    1,
                    600,
                )?),
            });
        }
        Ok(Notify {
            email,
            digest_to,
            webhooks,
            desktop: self.desktop.is_some_and(|d| d.enabled),
            templates_dir: self.templates_dir.map(|p| p.relative()),
            attempts_per_drain: in_range("notify.attempts_per_drain", self.attempts_per_drain, 1, 10)?,
        })
    }
}

fn email(e: RawEmail, creds: Option<&std::path::Path>, origins: &mut Origins) -> Result<Email, ConfigError> {
    let transport = match e.transport {
        RawTransport::File => Transport::File {
            dir: e
                .file_dir
                .ok_or_else(|| ConfigError::Value {
                    key: "notify.email.file_dir".into(),
                    reason: "transport = \"file\" needs the directory the messages go to".into(),
                })?
                .relative(),
        },
        RawTransport::Smtp => {
            let host = non_empty(
                "notify.email.host",
                e.host.ok_or_else(|| ConfigError::Value {
                    key: "notify.email.host".into(),
                    reason: "the SMTP server is missing".into(),
                })?,
            )?;
            let tls = e.tls.unwrap_or(Tls::Starttls);
            if tls == Tls::None && !is_loopback(&host) {
                return Err(ConfigError::Value {
                    key: "notify.email.tls".into(),
                    reason: format!(
                        "\"none\" would send mail and the SMTP password in clear text to {host}: allowed only for a loopback host"
                    ),
                });
            }
            let port = e.port.unwrap_or(match tls {
                Tls::Starttls => 587,
                Tls::Implicit => 465,
                Tls::None => 25,
            });
            let username = e.username.filter(|u| !u.trim().is_empty());
            let password = match (&username, e.password, e.password_file) {
                (None, None, None) => None,
                (None, _, _) => {
                    return Err(ConfigError::Value {
                        key: "notify.email.username".into(),
                        reason: "a password is set but no username".into(),
                    });
                }
                (Some(_), p, f) => Some(secret("notify.email", "password", p, f, creds, origins)?),
            };
            let ca_file = e.ca_file.map(|p| p.relative());
            if let Some(ca) = &ca_file
                && !ca.is_file()
            {
                return Err(ConfigError::Value {
                    key: "notify.email.ca_file".into(),
                    reason: format!("{} is not a file", ca.display()),
                });
            }
            Transport::Smtp {
                host,
                port,
                tls,
                username,
                password,
                ca_file,
                timeout: Duration::from_secs(in_range("notify.email.timeout_secs", e.timeout_secs, 1, 600)?),
            }
        }
    };
    check_address("notify.email.from", &e.from)?;
    let mut rules = Vec::new();
    for (i, r) in e.rules.into_iter().enumerate() {
        let key = format!("notify.email.rules.{i}");
        rules.push(EmailRule {
            filter: filter(&key, r.filter)?,
            to: addresses(&format!("{key}.to"), r.to)?,
        });
    }
    Ok(Email {
        transport,
        from: e.from,
        to: addresses("notify.email.to", e.to)?,
        admin_to: match e.admin_to {
            Some(a) => addresses("notify.email.admin_to", a)?,
            None => Vec::new(),
        },
        attach_max_bytes: e.attach_max_bytes,
        max_alerts_per_cycle: in_range(
            "notify.email.max_alerts_per_cycle",
            e.max_alerts_per_cycle,
            1,
            100_000,
        )?,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSource};

    fn load(notify: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp.password"), "pw").unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, notify).unwrap();
        Config::load_with_env(&ConfigSource::Named(path), &[]).map_err(|e| e.to_string())
    }

    const EMAIL: &str =
        "[notify.email]\nhost = \"smtp.firm.example\"\nfrom = \"m <m@f.example>\"\nto = [\"a@f.example\"]\n";

    #[test]
    fn bad_notify_settings_are_refused_naming_the_key() {
        let table: &[(&str, &str)] = &[
            (
                "[notify.email]\nhost = \"smtp.firm.example\"\ntls = \"none\"\nfrom = \"m@f\"\nto = \"a@f\"\n",
                "notify.email.tls: \"none\" would send mail and the SMTP password in clear text to smtp.firm.example",
            ),
            (
                "[notify.email]\nfrom = \"m@f\"\nto = \"a@f\"\n",
                "notify.email.host: the SMTP server is missing",
            ),
            (
                "[notify.email]\ntransport = \"file\"\nfrom = \"m@f\"\nto = \"a@f\"\n",
                "notify.email.file_dir: transport = \"file\" needs the directory",
            ),
            (
                "[notify.email]\nhost = \"h\"\nfrom = \"m@f\"\nto = [\"not an address\"]\n",
                "notify.email.to: \"not an address\" is not a mail address",
            ),
            (
                "[notify.email]\nhost = \"h\"\nfrom = \"m@f\"\nto = \"a@f\"\npassword = \"x\"\n",
                "notify.email.username: a password is set but no username",
            ),
            (
                "[notify.digest]\nto = \"a@f\"\n",
                "notify.digest.to: the digest is sent by email",
            ),
            (
                "[[notify.webhook]]\nname = \"t\"\nurl = \"https://x.example/\"\nformat = \"json\"\nkind = \"nonsense\"\n",
                "notify.webhook.0.kind: \"nonsense\" is not an event kind",
            ),
            (
                "[[notify.webhook]]\nname = \"t\"\nurl = \"https://x.example/\"\nformat = \"json\"\noffice = \"US\"\n",
                "notify.webhook.0.office: \"US\" is not an office",
            ),
            (
                "[[notify.webhook]]\nname = \"t\"\nurl = \"ftp://x.example/?sig=SECRET\"\nformat = \"json\"\n",
                "notify.webhook.0.url: webhook \"t\": not an http(s) URL",
            ),
            (
                "[[notify.webhook]]\nname = \"t\"\nurl = \"https://a.example/\"\nformat = \"json\"\n[[notify.webhook]]\nname = \"t\"\nurl = \"https://b.example/\"\nformat = \"ntfy\"\n",
                "notify.webhook.1.name: \"t\" names two webhooks",
            ),
            ("[notify.email]\nhosts = \"h\"\n", "hosts"),
        ];
        for (text, want) in table {
            let e = load(text).expect_err(text);
            assert!(e.contains(want), "{text}\n→ {e}\nwanted {want}");
            assert!(!e.contains("SECRET"), "a webhook URL leaked into an error: {e}");
        }
    }

    #[test]
    fn a_full_notify_section_loads_into_routes() {
        let text = format!(
            "{EMAIL}username = \"u\"\npassword_file = \"smtp.password\"\nadmin_to = \"it@f.example\"\n\
             [[notify.email.rules]]\nclient_reference = \"ACME-*\"\nto = \"acme@f.example\"\n\
             [notify.digest]\nto = [\"d@f.example\"]\n\
             [[notify.webhook]]\nname = \"teams\"\nurl = \"https://t.example/w?sig=1\"\nformat = \"teams\"\nkind = [\"communication\", \"quarantine\"]\n\
             [notify.desktop]\nenabled = true\n"
        );
        let cfg = load(&text).unwrap();
        let r = cfg.notify.routing();
        let email = r.email.unwrap();
        assert_eq!(email.to, ["a@f.example"]);
        assert_eq!(email.admin_to, ["it@f.example"]);
        assert_eq!(email.digest_to, ["d@f.example"]);
        assert_eq!(email.rules[0].filter.client_reference.as_deref(), Some("ACME-*"));
        assert_eq!(r.webhooks[0].0, "teams");
        assert_eq!(r.webhooks[0].1.kinds.len(), 2);
        assert!(r.desktop);
        let Some(crate::config::Email {
            transport: crate::config::Transport::Smtp { port, password, .. },
            ..
        }) = &cfg.notify.email
        else {
            panic!("smtp transport");
        };
        assert_eq!(*port, 587, "STARTTLS submission port by default");
        assert_eq!(password.as_ref().map(|p| p.expose()), Some("pw"));
        assert!(
            !format!("{:?}", cfg.notify).contains("sig=1"),
            "the webhook URL is a secret"
        );
    }
}
