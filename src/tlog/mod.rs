//! The transparency log: every event is a leaf of an append-only Merkle tree (RFC 9162 hashing),
//! whose roots are published as signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note)
//! and whose nodes are served as C2SP tlog-tiles.
//!
//! Pure: no IO, no async, no HTTP. The store writes leaves in the event's transaction, the
//! registry keeps a [`Tree`] in step with them and signs checkpoints; docs/tlog.md has the formats.

pub mod hash;
pub mod leaf;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod tree;

pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use leaf::{leaf_data, LeafInput};
pub use note::{default_origin, Checkpoint, LogKey, NoteError, SignedCheckpoint};
pub use proof::{verify_consistency, verify_inclusion, ProofError};
pub use tiles::{TilePath, TILE_WIDTH};
pub use tree::{Tree, TreeError};
