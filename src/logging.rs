//! Logging to stderr through `tracing`.
//!
//! The filter is `$MAILROOM_LOG` (or `$RUST_LOG`) when set, in `EnvFilter` syntax; otherwise
//! [`filter_for`] the `-v` count. Logs go to stderr so that stdout carries only a command's
//! output (e.g. `sandbox --print-config`, `--json` listings). Colours only when stderr is a
//! terminal and `$NO_COLOR` is unset or empty (<https://no-color.org>), so a log file or a
//! pipe never holds escape sequences.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The default filter for a `-v` count. Verbosity raises mailroom's own crates only: the HTTP
/// stack (hyper, reqwest, h2, rustls) stays at `info`, since its debug and trace output would
/// bury ours.
fn filter_for(verbose: u8) -> &'static str {
    match verbose {
        0 => "info",
        1 => "info,mailroom=debug,mailroom_sandbox=debug",
        _ => "info,mailroom=trace,mailroom_sandbox=trace",
    }
}

/// Whether log lines may carry ANSI colours: only to a terminal, and never under `NO_COLOR`.
fn colours(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

pub fn init(verbose: u8) {
    let filter = ["MAILROOM_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(filter_for(verbose)));
    let no_color = std::env::var("NO_COLOR").ok();
    // A second init (tests call into the CLI repeatedly) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours(std::io::stderr().is_terminal(), no_color.as_deref()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        let table = [
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, expected) in table {
            assert_eq!(colours(terminal, no_color), expected, "{terminal} {no_color:?}");
        }
    }
}
