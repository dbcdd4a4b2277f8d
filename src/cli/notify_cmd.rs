//! `mailroom notify test [--email ADDR] [--webhook NAME] [--desktop]`: one test message per
//! channel, one verdict line each (exit 1 if any failed). Without a flag: email to the admin
//! addresses (`admin_to`, else `to`), every webhook, and the desktop when enabled.
//!
//! `mailroom notify digest [--to ADDR] [--dry-run]`: queue today's digest for `[notify.digest]
//! to` and send it (once per local day: a second run says it was queued already); `--to`
//! sends a copy to ADDR now, outside the outbox; `--dry-run` prints its text and writes nothing.

use anyhow::anyhow;
use chrono::Utc;

use crate::config::Config;
use crate::core::notify::{Event, TestMessage};
use crate::notify::{desktop, digest, render, webhook};
use crate::store::{Store, outbox, timestamp};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Send one test message on each channel and say whether it went out
    Test(TestArgs),
    /// Queue and send today's digest (or print it)
    Digest(DigestArgs),
}

impl Command {
    /// Whether the command writes (and so takes the state lock).
    pub fn writes(&self) -> bool {
        matches!(self, Command::Digest(d) if !d.dry_run && d.to.is_none())
    }
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Email this address (repeatable)
    #[arg(long, value_name = "ADDR")]
    email: Vec<String>,
    /// Post to the webhook of this name (repeatable)
    #[arg(long, value_name = "NAME")]
    webhook: Vec<String>,
    /// Show a desktop notification in this session
    #[arg(long)]
    desktop: bool,
}

#[derive(clap::Args, Debug)]
pub struct DigestArgs {
    /// Send a copy to this address now instead of queueing the digest
    #[arg(long, value_name = "ADDR", conflicts_with = "dry_run")]
    to: Option<String>,
    /// Print the digest's text; send and record nothing
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(cmd: Command, cfg: &Config) -> Result<(), super::Failure> {
    match cmd {
        Command::Test(args) => test(args, cfg).await,
        Command::Digest(args) => digest_cmd(args, cfg).await,
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into())
}

async fn test(args: TestArgs, cfg: &Config) -> Result<(), super::Failure> {
    let sender = super::sync::sender(cfg)?;
    let notify = sender.settings();
    let explicit = !args.email.is_empty() || !args.webhook.is_empty() || args.desktop;
    let emails: Vec<String> = if explicit {
        args.email
    } else {
        notify
            .email
            .as_ref()
            .map(|e| {
                if e.admin_to.is_empty() {
                    e.to.clone()
                } else {
                    e.admin_to.clone()
                }
            })
            .unwrap_or_default()
    };
    let hooks: Vec<String> = if explicit {
        args.webhook
    } else {
        notify.webhooks.iter().map(|w| w.name.clone()).collect()
    };
    let desktop_too = if explicit { args.desktop } else { notify.desktop };
    if emails.is_empty() && hooks.is_empty() && !desktop_too {
        return Err(anyhow!(
            "no notification channel is configured ([notify.email], [[notify.webhook]], [notify.desktop])"
        )
        .into());
    }
    let event = Event::Test(TestMessage {
        sent_at: timestamp(Utc::now()),
        from_host: host_name(),
    });
    let mut lines = String::new();
    let mut failed = 0;
    let mut verdict = |what: String, r: Result<String, crate::notify::SendError>| match r {
        Ok(how) => lines.push_str(&format!("{what}: sent ({how})\n")),
        Err(e) => {
            failed += 1;
            lines.push_str(&format!("{what}: FAILED: {e}\n"));
        }
    };
    for to in &emails {
        let r = match sender.mailer() {
            Some(m) => m.send_test(to).await,
            None => Err(crate::notify::SendError::Permanent(
                "[notify.email] is not configured".into(),
            )),
        };
        verdict(format!("email {to}"), r);
    }
    for name in &hooks {
        let r = match notify.webhook(name) {
            Some(hook) => webhook::post(sender.http(), hook, 0, &event).await,
            None => Err(crate::notify::SendError::Permanent(format!(
                "no [[notify.webhook]] is named {name:?}"
            ))),
        };
        verdict(format!("webhook {name}"), r);
    }
    if desktop_too {
        verdict("desktop".into(), desktop::show(&event).await);
    }
    super::print_stdout(&lines)?;
    if failed > 0 {
        return Err(super::Failure::with_code(
            1,
            anyhow!("{failed} test message(s) not sent (see above)"),
        ));
    }
    Ok(())
}

/// The local calendar day (the firm's, as the system's time zone says).
fn local_day() -> String {
    chrono::Local::now().date_naive().to_string()
}

async fn digest_cmd(args: DigestArgs, cfg: &Config) -> Result<(), super::Failure> {
    let day = local_day();
    let now = Utc::now();
    if args.dry_run || args.to.is_some() {
        let store = Store::open_existing(&cfg.storage.database).map_err(anyhow::Error::new)?;
        let d = day.clone();
        let horizon = cfg.deadlines.horizon_days;
        let digest = store
            .call(move |c| digest::gather(c, &d, now, horizon))
            .await
            .map_err(anyhow::Error::new)?;
        let event = Event::Digest(digest);
        if args.dry_run {
            let templates =
                render::Templates::load(cfg.notify.templates_dir.as_deref()).map_err(anyhow::Error::new)?;
            let ctx = render::Context {
                archive_dir: cfg.storage.archive_dir.clone(),
            };
            let r = templates.render(&event, &ctx).map_err(anyhow::Error::new)?;
            return Ok(super::print_stdout(&format!(
                "Subject: {}\n\n{}",
                r.subject, r.text
            ))?);
        }
        let to = args.to.unwrap_or_default();
        let sender = super::sync::sender(cfg)?;
        let mailer = sender
            .mailer()
            .ok_or_else(|| anyhow!("[notify.email] is not configured: the digest is sent by email"))?;
        let how = mailer
            .send_event_to(&to, &event, &cfg.storage.archive_dir)
            .await
            .map_err(|e| anyhow!("digest to {to} not sent: {e}"))?;
        return Ok(super::print_stdout(&format!(
            "digest {day} sent to {to} ({how})\n"
        ))?);
    }
    if !queue_digest(cfg).await? {
        super::print_stdout(&format!(
            "digest {day}: already queued today; sending what is pending (use --to ADDR for another copy)\n"
        ))?;
    }
    super::sync::notify_after(cfg).await
}

/// Queues today's digest for `[notify.digest] to` (`notify digest`, and the daemon's digest
/// job). `false` when today's was queued already (one per local day, by its dedupe key).
pub(crate) async fn queue_digest(cfg: &Config) -> anyhow::Result<bool> {
    if cfg.notify.digest_to.is_empty() {
        anyhow::bail!(
            "[notify.digest] to is not set: nobody to send the digest to (use --to ADDR for a copy)"
        );
    }
    let store = super::sync::open_store(cfg)?;
    let routing = store.routing();
    let (day, now) = (local_day(), Utc::now());
    let horizon = cfg.deadlines.horizon_days;
    let queued = store
        .write(move |tx| {
            let digest = digest::gather(tx, &day, now, horizon)?;
            outbox::enqueue(tx, &routing, &Event::Digest(digest), None, &timestamp(now))
        })
        .await?;
    Ok(queued.is_some())
}
