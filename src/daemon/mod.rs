//! The long-running worker's plumbing: telling the service manager how it is
//! ([`notify`]: systemd's `sd_notify` protocol; [`windows_service`]: the Windows Service Control
//! Manager, its handler and `mailroom service install|uninstall|start|stop`). The loop itself is
//! `cli::run`; its decisions (when each job runs, catch-up, jitter) are `core::schedule::jobs`,
//! and the service's (controls, statuses) `core::service`.

pub mod notify;
#[cfg(windows)]
pub mod windows_service;
