//! What procurement officers ask of the registry: a whole bidder list checked at once
//! (`verify.rs`), and a signed receipt of what a check found for the tender file (`receipt.rs`),
//! whose rate `quota.rs` bounds since receipts are kept for good.

pub mod quota;
pub mod receipt;
pub mod verify;

// What the files here take from the registry.
use super::{clock, Registry, RegistryError};
