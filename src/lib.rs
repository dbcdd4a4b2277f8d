//! mailroom
