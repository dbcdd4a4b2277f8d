//! The pure core: decisions without I/O. No file, socket, clock or randomness is touched
//! here; the time and any jitter are arguments. Everything is table-tested.

pub mod cases;
pub mod deadline;
pub mod durability;
pub mod family;
pub mod jpo_quota;
pub mod letter;
pub mod mailbox;
pub mod notify;
pub mod schedule;
pub mod service;
pub mod status;
pub mod throttle;
