//! One folder per office: its contract (URLs, paths, field aliases, limits — in one module, so
//! a correction from the real service is made in one place) and its client.

pub mod http;
pub mod jpo;
pub mod myepo;
pub mod ops;
