//! JPO Patent Information Retrieval APIs (`shared/api/jpo.md`): the contract (one module),
//! tolerant decoding into `core::status::JpStatus`, and the client that keeps the office's
//! rate window and daily caps.

pub mod client;
pub mod contract;
pub mod parse;

pub use client::{JpoClient, JpoError, JpoStats};
pub use parse::{Envelope, JpoParseError, parse_app_progress, parse_envelope};
