//! The HTML messages in a real browser: Debian's headless Chromium lays out the communication
//! alert and a digest in a 400 px pane (about Outlook's reading pane), and nothing may make
//! the reader scroll sideways; a screenshot of each is a real, non-trivial PNG.
//!
//! The width is measured by a small script injected into a *copy* of each message (the
//! messages themselves carry no script): it writes the body's `scrollWidth` into the DOM,
//! which `--dump-dom` prints. Headless Chromium lays a page out at least 500 px wide whatever
//! `--window-size` says, so the copy also pins `<html>` to 400 px and the probe reads the
//! body, whose scroll width grows with anything that overflows it (the document's would be
//! the 500 px viewport). A deliberately wide page proves the probe sees an overflow.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mailroom::core::cases::Office;
use mailroom::core::notify::{
    CaseChanged, ChangeLine, Channel, Communication, DeliveryFailed, Digest, Document, Event, JobLine,
    Outstanding,
};
use mailroom::notify::render::{Context, Templates};

const CHROMIUM: &str = "/usr/bin/chromium";
const PANE: u64 = 400;
const MARK: &str = "mailroom-scroll-width";

fn chromium(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(CHROMIUM);
    if path.exists() {
        Some(path)
    } else {
        common::skip_or_fail_on_ci(test, "needs Debian's chromium (apt-get install chromium)");
        None
    }
}

/// One Chromium run on `page` in a 400 px wide window, bounded in time; its own profile
/// directory, so runs never share state.
fn run_chromium(browser: &Path, profile: &Path, page: &Path, extra: &[String]) -> std::process::Output {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--window-size={PANE},2000"),
    ])
    .args(extra)
    .arg(format!("file://{}", page.display()));
    let out = common::output_within(&mut cmd, Duration::from_secs(90));
    assert!(
        out.status.success(),
        "chromium on {}: {}",
        page.display(),
        common::explain(&out)
    );
    out
}

/// How wide the page lays out in the pane: the copy with the probe, `--dump-dom`, the number.
fn scroll_width(browser: &Path, dir: &Path, name: &str, html: &str) -> u64 {
    let probe = format!(
        "<script>var w = document.body.scrollWidth; \
         var p = document.createElement('pre'); p.id = '{MARK}'; \
         p.textContent = 'W' + w + 'W'; document.body.appendChild(p);</script></body>"
    );
    assert!(
        html.contains("</body>") && html.contains("<html"),
        "{name} is not a page"
    );
    let copy = dir.join(format!("{name}.probe.html"));
    let pinned = html
        .replacen("<html", &format!("<html style=\"width:{PANE}px\""), 1)
        .replacen("</body>", &probe, 1);
    std::fs::write(&copy, pinned).unwrap();
    let out = run_chromium(
        browser,
        &dir.join(format!("{name}.profile")),
        &copy,
        &["--dump-dom".into()],
    );
    let dom = common::stdout(&out);
    let after = dom
        .split_once(&format!("id=\"{MARK}\">W"))
        .unwrap_or_else(|| panic!("{name}: the probe did not run: {dom}"))
        .1;
    let digits = after.split_once('W').expect("the probe's end mark").0;
    digits
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {digits:?}: {e}"))
}

/// The PNG's width and height (IHDR), after checking the signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "not a PNG: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

fn screenshot(browser: &Path, dir: &Path, name: &str, page: &Path) -> Vec<u8> {
    let png = dir.join(format!("{name}.png"));
    run_chromium(
        browser,
        &dir.join(format!("{name}.shot-profile")),
        page,
        &[format!("--screenshot={}", png.display())],
    );
    std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()))
}

/// A communication with what makes a pane overflow: a long title, a long client reference, a
/// path and a file name without a break opportunity, and a hostile reference.
fn communication() -> Communication {
    let long_name = format!("2026-03-14_EPOFORM2004_{}.pdf", "7f3a9c21".repeat(12));
    Communication {
        id: "7f3a9c21-5b8e-4d0a-9e61-2c4f0b7d1a42-0000000000000000000000000000".into(),
        office: Office::Ep,
        application_number: "EP23184567.2".into(),
        case: Some("EP23184567".into()),
        client_reference: Some("<b>&\"ACMEP0042EPAVERYLONGCLIENTREFERENCEWITHOUTANYBREAKOPPORTUNITY\"".into()),
        document_code: "2004".into(),
        title: "Communication under Rule 71(3) EPC (intention to grant) with the text intended for grant and the bibliographic data".into(),
        dispatch_date: "2026-03-14".into(),
        delivered_at: Some("2026-03-14T07:12:09Z".into()),
        archived_at: "2026-03-14T08:00:03Z".into(),
        documents: vec![
            Document {
                file_name: Some(long_name.clone()),
                media_type: Some("application/pdf".into()),
                path: format!("EP/EP23184567.2/{long_name}"),
                size: 245_119,
                sha256: "9f2c4a7be1d03856c1f7e2a94b0d6c38e5a1f7092bd4c6e3a8f5b1d72c9e0a46".into(),
            },
            Document {
                file_name: None,
                media_type: None,
                path: "EP/EP23184567.2/2026-03-14_EPOFORM2004_7f3a9c21_2.pdf".into(),
                size: 1_873_402,
                sha256: "3b8e0d5f9a62c14e7d09b3a5f8c2e61d4a7b0c93e5f18d2a6b4c7e09f1d3a58c".into(),
            },
        ],
        deadline: Some(mailroom::notify::render::samples::deadline()),
    }
}

fn digest() -> Digest {
    Digest {
        day: "2026-03-14".into(),
        since: "2026-03-13T18:00:00Z".into(),
        until: "2026-03-14T18:00:00Z".into(),
        communications: vec![communication()],
        changes: vec![CaseChanged {
            office: Office::Ep,
            case: "EP2400812".into(),
            number: "EP2400812".into(),
            right: "patent".into(),
            client_reference: Some("ACME-P-0007-EP".into()),
            status: Some("The patent has been granted".into()),
            detected_at: "2026-03-15T02:00:11Z".into(),
            counterpart_of: Vec::new(),
            deadlines: Vec::new(),
            changes: vec![ChangeLine {
                kind: "status".into(),
                date: "2019-10-25".into(),
                summary: "EP2400812: status \"Grant of patent is intended\" → \"The patent has been granted\" (2019-10-25)".into(),
                old: Some("Grant of patent is intended".into()),
                new: Some("The patent has been granted".into()),
            }],
        }],
        outstanding: vec![Outstanding {
            id: "5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17-5d1e8b37-0c2a-4f96-b7e4-81a9c3d05f17".into(),
            application_number: "EP24000001.5".into(),
            state: "quarantined".into(),
            attempts: 5,
            reason: Some("the office sent text/html where a PDF was listed".into()),
        }],
        delivery_failures: vec![DeliveryFailed {
            delivery_id: 1187,
            channel: Channel::Webhook,
            recipient: "teams".into(),
            about: "[EPO] EP23184567 · ACME-P-0042-EP · Form 2004 · Communication under Rule 71(3) EPC".into(),
            attempts: 8,
            error: "HTTP 403 Forbidden from https://firm.webhook.office.example/webhookb2/0123456789abcdef0123456789abcdef".into(),
            failed_at: "2026-03-14T16:02:40Z".into(),
        }],
        quota: vec!["EPO OPS: 212.4 MB of 4 GB this week (5%)".into()],
        jobs: vec![JobLine {
            job: "status".into(),
            last_success: Some("2026-03-14T02:00:40Z".into()),
            last_outcome: Some("failed".into()),
            last_error: Some("EPO OPS: refused".into()),
        }],
        deadlines: Vec::new(),
    }
}

#[test]
fn alert_and_digest_fit_a_400_px_pane_in_a_real_browser() {
    let Some(browser) = chromium("alert_and_digest_fit_a_400_px_pane_in_a_real_browser") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let templates = Templates::load(None).unwrap();
    let ctx = Context {
        archive_dir: PathBuf::from("/srv/mailroom/archive/a-rather-deep/archive-directory-of-the-firm"),
    };
    let messages = [
        (
            "alert",
            templates
                .render(&Event::Communication(communication()), &ctx)
                .unwrap(),
        ),
        (
            "digest",
            templates.render(&Event::Digest(digest()), &ctx).unwrap(),
        ),
    ];

    // The probe sees an overflow when there is one.
    let wide = "<!DOCTYPE html><html><body><div style=\"width:900px\">wide</div></body></html>";
    let measured = scroll_width(&browser, dir.path(), "wide", wide);
    assert!(measured >= 900, "the probe saw {measured} px for a 900 px page");

    for (name, message) in &messages {
        assert!(!message.html.contains("<script"), "{name} ships a script");
        // What overflows first in a narrow pane is in these messages: the path and the hash.
        assert!(
            message.html.contains("7f3a9c217f3a9c21"),
            "{name} lacks its long file name"
        );
        let page = dir.path().join(format!("{name}.html"));
        std::fs::write(&page, &message.html).unwrap();

        let width = scroll_width(&browser, dir.path(), name, &message.html);
        assert!(
            width <= PANE,
            "{name} is {width} px wide in a {PANE} px pane: something does not wrap"
        );

        let png = screenshot(&browser, dir.path(), name, &page);
        let (w, h) = png_size(&png);
        assert_eq!((w, h), (PANE as u32, 2000), "{name}.png size");
        // A blank 400×2000 page compresses to a few hundred bytes; text makes it tens of KB.
        assert!(
            png.len() > 10_000,
            "{name}.png is {} bytes: a blank page?",
            png.len()
        );
    }
}
