//! EPO Open Patent Services: the contract (one module), the Register and family parsers, the
//! client.

pub mod client;
pub mod contract;
pub mod family;
pub mod parse;

pub use client::{OpsClient, OpsError, OpsStats};
pub use parse::{OpsParseError, parse_fault, parse_register};
