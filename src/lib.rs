//! mailroom: fetches a patent firm's mail and case status from the patent offices.
//!
//! The binary (`src/main.rs`) is a thin shell over this library: [`cli::run`] does the work
//! and returns an exit status. See `ARCHITECTURE.md` for the map of modules and the
//! invariants each keeps.

pub mod archive;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod failpoint;
pub mod legal_data;
pub mod lock;
pub mod logging;
pub mod notify;
pub mod offices;
pub mod pdf_text;
pub mod signals;
pub mod store;
pub mod sync;
