//! The jobs: each carries out the core's decisions with the adapters (offices, store, archive).

pub mod letter;
pub mod mailbox;
pub mod status;

/// A number in [0, 1) from the clock's sub-second noise, for spreading retries and scheduled
/// runs (the pure core takes it as an argument; no RNG dependency is needed for this).
pub fn jitter() -> f64 {
    let nanos = chrono::Utc::now().timestamp_subsec_nanos();
    f64::from(nanos % 1_000_000) / 1_000_000.0
}
