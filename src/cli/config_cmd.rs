//! `mailroom config`: the effective configuration, secrets redacted, each value with where it
//! came from.
//!
//! Every key of every enabled section is printed after defaults, file and environment, as
//! `key = value  # from ORIGIN` (`default`, the file's path, or the `MAILROOM_…` variable), grouped
//! by section. The output is valid TOML (the origins are comments) so tools can read it, but it
//! is a report, not a file to load back: secrets read as `"[redacted]"` and a `<key>_file`
//! secret is shown under `<key>` with the file it was read from. A read-only roll-out
//! (`mark_handled = false`) is announced in the first line.

use crate::config::{Config, Origins};

pub fn run(cfg: &Config) -> anyhow::Result<()> {
    super::print_stdout(&render(cfg))
}

/// One section being printed: its values and the origins to annotate them with.
struct Section<'a> {
    name: &'static str,
    origins: &'a Origins,
    out: &'a mut String,
}

impl Section<'_> {
    fn key(&mut self, key: &str, value: toml::Value) {
        let origin = self.origins.of(&format!("{}.{key}", self.name));
        self.out.push_str(&format!("{key} = {value}  # from {origin}\n"));
    }

    fn text(&mut self, key: &str, value: impl ToString) {
        self.key(key, toml::Value::String(value.to_string()));
    }

    fn int(&mut self, key: &str, value: impl Into<u64>) {
        // Every integer setting is far below i64::MAX; saturate rather than misprint.
        let v = i64::try_from(value.into()).unwrap_or(i64::MAX);
        self.key(key, toml::Value::Integer(v));
    }

    fn float(&mut self, key: &str, value: f64) {
        self.key(key, toml::Value::Float(value));
    }

    fn flag(&mut self, key: &str, value: bool) {
        self.key(key, toml::Value::Boolean(value));
    }

    fn secret(&mut self, key: &str) {
        self.text(key, "[redacted]");
    }

    /// A section that is off: why (its `enabled = false`, or that nothing configures it).
    fn off(&mut self, what: &str) {
        if self.origins.has_section(self.name) {
            self.flag("enabled", false);
            self.out.push_str(&format!(
                "# {what} is switched off; its other keys are not read\n"
            ));
        } else {
            self.out.push_str(&format!(
                "# not configured (no [{}] in the file, no MAILROOM_{}__* variable): {what} is off\n",
                self.name,
                self.name.to_ascii_uppercase()
            ));
        }
    }
}

fn render(cfg: &Config) -> String {
    let mut out = String::new();
    if cfg.myepo.as_ref().is_some_and(|m| !m.mark_handled) {
        out.push_str(&format!(
            "# WARNING: marking handled at the EPO is OFF (mark_handled = false, from {})\n",
            cfg.origins.of("myepo.mark_handled")
        ));
    }
    match &cfg.source {
        Some(p) => out.push_str(&format!("# configuration file: {}\n", p.display())),
        None => out.push_str("# no configuration file: defaults and MAILROOM_* variables only\n"),
    }
    let origins = &cfg.origins;

    let mut s = section("storage", origins, &mut out);
    s.text("database", cfg.storage.database.display());
    s.text("archive_dir", cfg.storage.archive_dir.display());

    let mut s = section("myepo", origins, &mut out);
    match &cfg.myepo {
        Some(m) => {
            s.flag("enabled", true);
            s.text("token_url", &m.token_url);
            s.text("api_base_url", &m.api_base_url);
            s.text("client_id", &m.client_id);
            s.secret("client_secret");
            match &m.scope {
                Some(scope) => s.text("scope", scope),
                None => s.out.push_str("# scope is not set (default)\n"),
            }
            s.text("auth_method", format!("{:?}", m.auth_method).to_ascii_lowercase());
            s.flag("mark_handled", m.mark_handled);
            s.int("reconcile_window_days", m.reconcile_window_days);
            s.int("page_size", m.page_size);
            s.int("batch_size", m.batch_size);
            s.int("max_attempts", m.max_attempts);
            s.int("max_file_bytes", m.max_file_bytes);
            s.int("retries", m.retries);
            s.int("retry_base_delay_ms", duration_ms(m.retry_base_delay));
            s.int("read_timeout_secs", m.read_timeout.as_secs());
        }
        None => s.off("the mailbox job"),
    }

    let mut s = section("ops", origins, &mut out);
    match &cfg.ops {
        Some(o) => {
            s.flag("enabled", true);
            s.text("base_url", &o.base_url);
            s.text("consumer_key", &o.consumer_key);
            s.secret("consumer_secret");
            s.int("week_quota_bytes", o.week_quota_bytes);
            s.float("quota_stop_share", o.quota_stop_share);
            s.int("retries", o.retries);
            s.int("retry_base_delay_ms", duration_ms(o.retry_base_delay));
            s.int("read_timeout_secs", o.read_timeout.as_secs());
            s.float("window_secs", o.window.as_secs_f64());
        }
        None => s.off("EP status (OPS)"),
    }

    let mut s = section("jpo", origins, &mut out);
    match &cfg.jpo {
        Some(j) => {
            s.flag("enabled", true);
            s.text("token_url", &j.token_url);
            s.text("api_base_url", &j.api_base_url);
            s.text("username", &j.username);
            s.secret("password");
            s.int("daily_cap", j.daily_cap);
            s.int("priority_days", j.priority_days);
            s.int("requests_per_window", j.requests_per_window);
            s.float("window_secs", j.window.as_secs_f64());
            s.int("retries", j.retries);
            s.int("retry_base_delay_ms", duration_ms(j.retry_base_delay));
            s.int("read_timeout_secs", j.read_timeout.as_secs());
        }
        None => s.off("JP status (JPO)"),
    }
    notify(cfg, &mut out);
    let mut s = section("schedule", origins, &mut out);
    let sc = &cfg.schedule;
    s.text("time_zone", &sc.time_zone);
    for job in crate::core::schedule::jobs::Job::ALL {
        s.text(job.as_str(), sc.cadence(job).pattern());
    }
    s.int("jitter_secs", sc.jitter_secs);
    s.int("stop_timeout_secs", sc.stop_timeout.as_secs());
    let mut s = section("export", origins, &mut out);
    match &cfg.export.dir {
        Some(d) => s.text("dir", d.display()),
        None => s.out.push_str("# dir is not set: no nightly export\n"),
    }

    let mut s = section("log", origins, &mut out);
    match &cfg.log.dir {
        Some(dir) => s.text("dir", dir.display()),
        None => s
            .out
            .push_str("# dir is not set (default): no log files, stderr only\n"),
    }
    s.text("rotation", cfg.log.rotation.name());
    s.int("keep", u64::try_from(cfg.log.keep).unwrap_or(u64::MAX));

    let mut s = section("counterparts", origins, &mut out);
    let c = &cfg.counterparts;
    s.flag("enabled", c.enabled);
    s.int("refresh_days", c.refresh_days);
    s.int(
        "max_per_cycle",
        u64::try_from(c.max_per_cycle).unwrap_or(u64::MAX),
    );

    let mut s = section("deadlines", origins, &mut out);
    let d = &cfg.deadlines;
    s.flag("enabled", d.enabled);
    s.int("horizon_days", d.horizon_days);
    s.key(
        "remind_days",
        toml::Value::Array(
            d.remind_days
                .iter()
                .map(|n| toml::Value::Integer(i64::from(*n)))
                .collect(),
        ),
    );
    s.int("register_grace_days", d.register_grace_days);
    match d.register_since {
        Some(day) => match day.to_string().parse::<toml::value::Datetime>() {
            Ok(date) => s.key("register_since", toml::Value::Datetime(date)),
            Err(_) => s.text("register_since", day),
        },
        None => s
            .out
            .push_str("# register_since is not set (default): from the day the mailbox was first listed\n"),
    }
    match d.jp_applicant_abroad {
        Some(abroad) => s.flag("jp_applicant_abroad", abroad),
        None => s
            .out
            .push_str("# jp_applicant_abroad is not set (default): JP deadlines take the shorter period\n"),
    }
    s.out.push_str(&format!(
        "# {} rules-table row(s) in force (the firm's rules_file first, then the shipped EPO and JPO tables); {} EPO closing day(s) known\n",
        d.rules.len() + d.jp_rules.len(),
        d.calendar.days.len()
    ));
    out
}

fn list(items: &[String]) -> toml::Value {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect())
}

/// The conditions of a rule or webhook, as they were written.
fn filter(s: &mut Section<'_>, f: &crate::core::notify::Filter) {
    if let Some(o) = f.office {
        s.text("office", o);
    }
    if !f.kinds.is_empty() {
        let kinds: Vec<String> = f.kinds.iter().map(|k| k.as_str().to_owned()).collect();
        s.key("kind", list(&kinds));
    }
    if !f.document_codes.is_empty() {
        s.key("document_code", list(&f.document_codes));
    }
    if let Some(g) = &f.client_reference {
        s.text("client_reference", g);
    }
    if !f.cases.is_empty() {
        s.key("case", list(&f.cases));
    }
}

fn notify(cfg: &Config, out: &mut String) {
    use crate::config::{Tls, Transport};
    let origins = &cfg.origins;
    let n = &cfg.notify;
    let mut s = section("notify", origins, out);
    match &n.templates_dir {
        Some(d) => s.text("templates_dir", d.display()),
        None => s
            .out
            .push_str("# templates_dir is not set: the built-in templates\n"),
    }
    s.int("attempts_per_drain", n.attempts_per_drain);
    let mut s = section("notify.email", origins, out);
    match &n.email {
        Some(e) => {
            match &e.transport {
                Transport::Smtp {
                    host,
                    port,
                    tls,
                    username,
                    password,
                    ca_file,
                    timeout,
                } => {
                    s.text("transport", "smtp");
                    s.text("host", host);
                    s.int("port", *port);
                    s.text(
                        "tls",
                        match tls {
                            Tls::Starttls => "starttls",
                            Tls::Implicit => "implicit",
                            Tls::None => "none",
                        },
                    );
                    if let Some(u) = username {
                        s.text("username", u);
                    }
                    if password.is_some() {
                        s.secret("password");
                    }
                    if let Some(ca) = ca_file {
                        s.text("ca_file", ca.display());
                    }
                    s.int("timeout_secs", timeout.as_secs());
                }
                Transport::File { dir } => {
                    s.text("transport", "file");
                    s.text("file_dir", dir.display());
                }
            }
            s.text("from", &e.from);
            s.key("to", list(&e.to));
            s.key("admin_to", list(&e.admin_to));
            s.int("attach_max_bytes", e.attach_max_bytes);
            s.int("max_alerts_per_cycle", e.max_alerts_per_cycle);
            for rule in &e.rules {
                let mut s = array_item("notify.email.rules", origins, out);
                filter(&mut s, &rule.filter);
                s.key("to", list(&rule.to));
            }
        }
        None => s.out.push_str("# not configured: nobody is emailed\n"),
    }
    let mut s = section("notify.digest", origins, out);
    s.key("to", list(&n.digest_to));
    for w in &n.webhooks {
        let mut s = array_item("notify.webhook", origins, out);
        s.text("name", &w.name);
        s.secret("url");
        s.text("format", format!("{:?}", w.format).to_ascii_lowercase());
        for (h, _) in &w.headers {
            s.out.push_str(&format!("# header {h} = \"[redacted]\"\n"));
        }
        s.int("timeout_secs", w.timeout.as_secs());
        filter(&mut s, &w.filter);
    }
    let mut s = section("notify.desktop", origins, out);
    s.flag("enabled", n.desktop);
}

/// Starts printing one element of an array of tables (`[[name]]`); its values carry the
/// origin of the array.
fn array_item<'a>(name: &'static str, origins: &'a Origins, out: &'a mut String) -> Section<'a> {
    out.push_str(&format!("\n[[{name}]]\n"));
    Section { name, origins, out }
}

/// Starts printing section `name`.
fn section<'a>(name: &'static str, origins: &'a Origins, out: &'a mut String) -> Section<'a> {
    out.push_str(&format!("\n[{name}]\n"));
    Section { name, origins, out }
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::ConfigSource;

    /// Every key of `config.example.toml` is printed in its section, so a new setting cannot
    /// be left out of `mailroom config` (a `<key>_file` secret is printed as `<key>`).
    #[test]
    fn every_key_of_the_example_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let example = std::fs::read_to_string(root.join("config.example.toml")).unwrap();
        for secret in [
            "myepo.client_secret",
            "ops.consumer_secret",
            "jpo.password",
            "smtp.password",
            "teams.url",
        ] {
            std::fs::write(dir.path().join(secret), "https://teams.example/workflow?sig=s").unwrap();
        }
        let text = example
            .replace("/etc/mailroom/", &format!("{}/", dir.path().display()))
            .replace("# scope = ", "scope = ");
        let file = dir.path().join("config.toml");
        std::fs::write(&file, &text).unwrap();
        let cfg = Config::load_with_env(&ConfigSource::Named(file.clone()), &[]).unwrap();
        let shown: toml::Table = toml::from_str(&render(&cfg)).expect("the output is TOML");
        let example: toml::Table = toml::from_str(&text).unwrap();
        for (section, keys) in &example {
            let keys = keys.as_table().unwrap();
            for key in keys.keys() {
                let key = key.strip_suffix("_file").unwrap_or(key);
                assert!(
                    shown[section].as_table().unwrap().contains_key(key),
                    "[{section}] {key} is not shown"
                );
            }
        }
        let out = render(&cfg);
        assert!(
            out.contains(&format!("page_size = 100  # from {}", file.display())),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "client_secret = \"[redacted]\"  # from the file {}/myepo.client_secret (named by {})",
                dir.path().display(),
                file.display()
            )),
            "{out}"
        );
    }
}
