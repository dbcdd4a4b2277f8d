//! Logging to stderr through `tracing`.
//!
//! The filter is `$MAILROOM_LOG` (or `$RUST_LOG`) when set, in `EnvFilter` syntax; otherwise
//! `info`, `debug` with `-v`, `trace` with `-vv`. Logs go to stderr so that stdout carries only
//! a command's output (e.g. `sandbox --print-config`, `--json` listings).

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let filter = ["MAILROOM_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| {
            EnvFilter::new(match verbose {
                0 => "info",
                1 => "info,mailroom=debug,mailroom_sandbox=debug",
                _ => "debug,mailroom=trace,mailroom_sandbox=trace",
            })
        });
    // A second init (tests call into the CLI repeatedly) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
