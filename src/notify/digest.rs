//! The daily digest: what happened since the last one, gathered from the store.
