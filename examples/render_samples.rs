//! Writes the built-in templates' messages for the sample events into a directory, one
//! `NAME.txt` and `NAME.html` each (`alert` is the communication alert, `digest` the daily
//! digest), for `docs/screenshots.sh` and for reading them by hand:
//!
//! `cargo run --example render_samples -- OUT_DIR [TEMPLATES_DIR]`

use std::path::PathBuf;

use mailroom::core::notify::Event;
use mailroom::notify::render::{Templates, samples};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: render_samples OUT_DIR [TEMPLATES_DIR]"))?,
    );
    let overrides = args.next().map(PathBuf::from);
    let templates = Templates::load(overrides.as_deref())?;
    let ctx = samples::context();
    let messages = [
        (
            "alert",
            templates.render(&Event::Communication(samples::communication()), &ctx)?,
        ),
        (
            "change",
            templates.render(&Event::Change(samples::ep_change()), &ctx)?,
        ),
        (
            "change_jp",
            templates.render(&Event::Change(samples::jp_change()), &ctx)?,
        ),
        (
            "quarantine",
            templates.render(&Event::Quarantine(samples::quarantined()), &ctx)?,
        ),
        (
            "office_stop",
            templates.render(&Event::OfficeStop(samples::office_stopped()), &ctx)?,
        ),
        (
            "delivery_failed",
            templates.render(&Event::DeliveryFailed(samples::delivery_failed()), &ctx)?,
        ),
        (
            "digest",
            templates.render(&Event::Digest(samples::digest()), &ctx)?,
        ),
        (
            "digest_quiet",
            templates.render(&Event::Digest(samples::quiet_digest()), &ctx)?,
        ),
        (
            "summary",
            templates.render_summary(
                &[
                    Event::Communication(samples::communication()),
                    Event::Communication(samples::unfollowed_communication()),
                    Event::Change(samples::ep_change()),
                ],
                &ctx,
            )?,
        ),
        (
            "test",
            templates.render_test("email to formalities@firm.example")?,
        ),
    ];
    std::fs::create_dir_all(&out)?;
    for (name, message) in messages {
        std::fs::write(
            out.join(format!("{name}.txt")),
            format!("Subject: {}\n\n{}", message.subject, message.text),
        )?;
        std::fs::write(out.join(format!("{name}.html")), &message.html)?;
    }
    println!("{}", out.display());
    Ok(())
}
