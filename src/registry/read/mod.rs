//! The read path's answers: prepared once when a certificate changes (`answer.rs`), packed
//! against a dictionary of their stretch of the log (its nodes read in `dictionaries.rs`), and
//! forgotten when the store watch sees a change this instance was not told of (`watch.rs`).

pub(super) mod answer;
mod dictionaries;
pub mod products;
pub mod watch;

// What the files here take from the registry.
use super::{backing, clock, log, Registry, RegistryError};
