//! Crash points for the kill-at-every-step tests.
//!
//! `MAILROOM_FAILPOINT=<name>` makes the process abort (no unwinding, no cleanup, like a
//! power cut) the first time execution reaches `hit("<name>")`; `<name>:<n>` aborts on the
//! n-th time. Without the variable `hit` costs one relaxed atomic load after the first call.
//! The names are the steps of the mailbox pipeline, listed in [`NAMES`], then those of the
//! status cycle ([`STATUS`]) and of the outbox drain ([`NOTIFY`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every failpoint, in pipeline order.
pub const NAMES: &[&str] = &[
    "after_list",
    "after_record_seen",
    "mid_download",
    "after_download",
    "after_fsync",
    "after_verify",
    "after_rename",
    "after_dir_fsync",
    "after_record_archived",
    "after_mark_request",
    "after_record_handled",
];

/// The status cycle's: after a case's check (snapshot, changes, outbox rows) is committed.
pub const STATUS: &[&str] = &["after_record_check"];

/// The outbox drain's: after a channel accepted a message, before it is recorded `sent`.
pub const NOTIFY: &[&str] = &["after_send"];

struct Armed {
    name: String,
    on_hit: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("MAILROOM_FAILPOINT").ok()?;
            let (name, n) = match spec.split_once(':') {
                Some((name, n)) => (name, n.parse().ok()?),
                None => (spec.as_str(), 1),
            };
            Some(Armed {
                name: name.to_owned(),
                on_hit: n,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process here if this failpoint is armed and its turn has come.
pub fn hit(name: &'static str) {
    debug_assert!(
        NAMES.contains(&name) || STATUS.contains(&name) || NOTIFY.contains(&name),
        "unknown failpoint {name}"
    );
    if let Some(a) = armed()
        && a.name == name
        && a.hits.fetch_add(1, Ordering::Relaxed) + 1 == a.on_hit
    {
        eprintln!("mailroom: failpoint {name} reached: aborting");
        std::process::abort();
    }
}
