//! The long-running worker's plumbing: telling the service manager how it is
//! ([`notify`]: systemd's `sd_notify` protocol). The loop itself is `cli::run`; its decisions
//! (when each job runs, catch-up, jitter) are `core::schedule::jobs`.

pub mod notify;
