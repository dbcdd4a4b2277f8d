//! EPO MyEPO Mailbox: the contract (one module), tolerant decoding, the client.

pub mod client;
pub mod contract;
pub mod model;

pub use client::{Client, Listing, MyepoError};
