//! The jobs: each carries out the core's decisions with the adapters (offices, store, archive).

pub mod mailbox;
pub mod status;
