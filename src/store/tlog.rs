//! What the store keeps for the transparency log, and the raw reads the audit needs.
//!
//! Leaves are written by [`super::Store::insert_new`] and [`super::Store::append`] in the event's
//! own transaction; everything here reads them back, or stores checkpoints signed after commit.

use async_trait::async_trait;

use super::{RowColumns, StoreError};
use crate::crypto::Signature;
use crate::domain::{CertificateNumber, Uscc};
use crate::tlog::{leaf_data, Hash, LeafInput};

/// One stored leaf: its place, the event it stands for, and its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRow {
    pub idx: u64,
    pub number: String,
    pub version: u32,
    pub hash: Hash,
}

/// An event row exactly as stored, nothing parsed, so the audit can say what is wrong with it.
#[derive(Clone, Debug)]
pub struct RawEvent {
    pub seq: i64,
    pub number: String,
    pub version: u32,
    pub kind: String,
    pub at: String,
    pub details: String,
    pub record: String,
    pub signature: String,
}

impl RawEvent {
    /// The leaf data this event must have in the log (docs/tlog.md).
    pub fn leaf_data(&self) -> Result<Vec<u8>, String> {
        let details: serde_json::Value =
            serde_json::from_str(&self.details).map_err(|e| format!("details do not parse: {e}"))?;
        let signature: Signature =
            serde_json::from_str(&self.signature).map_err(|e| format!("signature does not parse: {e}"))?;
        leaf_data(&LeafInput {
            number: &self.number,
            version: self.version,
            kind: &self.kind,
            at: &self.at,
            details: &details,
            record: self.record.as_bytes(),
            signature: &signature,
        })
        .map_err(|e| format!("leaf data cannot be written: {e}"))
    }
}

/// A current-state row exactly as stored: its copied columns, and its record and signature as text.
#[derive(Clone, Debug)]
pub struct RawCertificate {
    pub columns: RowColumns,
    pub record: String,
    pub signature: String,
}

/// The leaf of one event, with its data, for the proof in a certificate answer.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub idx: u64,
    pub data: Vec<u8>,
}

/// An event with its place in the log and the leaf data its stored columns make, so a reader can
/// hold the leaf against the tree before it believes the event.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub idx: u64,
    /// Leaf data computed from the event's columns as stored (docs/tlog.md).
    pub leaf: Vec<u8>,
    pub event: super::StoredEvent,
}

/// A signed checkpoint as stored: never replaced, so every size stays provable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The signed note, verbatim.
    pub note: String,
}

/// Log storage, part of every [`super::Store`].
#[async_trait]
pub trait LogStore: Send + Sync {
    /// The log's origin, if one was fixed.
    async fn log_origin(&self) -> Result<Option<String>, StoreError>;

    /// Fixes the log's origin to `origin` unless one is fixed already; returns the fixed one
    /// (the first writer wins when several instances start at once).
    async fn fix_log_origin(&self, origin: &str) -> Result<String, StoreError>;

    /// Gives log leaves to events that have none (databases from before the log), in event
    /// order; returns how many were added.
    async fn log_backfill(&self) -> Result<u64, StoreError>;

    /// Leaf hashes from index `from`, at most `limit`, in order.
    async fn log_hashes(&self, from: u64, limit: u32) -> Result<Vec<Hash>, StoreError>;

    /// The leaf of version `version` of certificate `number`.
    async fn log_entry(&self, number: &CertificateNumber, version: u32) -> Result<Option<LogEntry>, StoreError>;

    /// Leaf data of leaves `from .. from + count` (fewer at the end of the log).
    async fn log_entries(&self, from: u64, count: u32) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Stores a checkpoint; one for the same size already stored is kept.
    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    async fn checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every checkpoint, smallest first.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Leaves from index `from`, at most `limit`, in order (gaps show as jumps in `idx`).
    async fn log_leaves(&self, from: u64, limit: u32) -> Result<Vec<LeafRow>, StoreError>;

    /// The events of leaves `from..from + count`, in log order (a leaf without its event is
    /// `Corrupt`).
    async fn logged_events(&self, from: u64, count: u32) -> Result<Vec<LoggedEvent>, StoreError>;

    /// The latest events, below leaf `before`, of the certificates whose row names holder `uscc`,
    /// newest first, at most `limit`.
    async fn logged_events_of_holder(
        &self,
        uscc: &Uscc,
        before: u64,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Events with `seq > after`, at most `limit`, in order.
    async fn raw_events(&self, after: i64, limit: u32) -> Result<Vec<RawEvent>, StoreError>;

    /// Current-state rows with number above `after`, at most `limit`, in number order.
    async fn raw_certificates(&self, after: &str, limit: u32) -> Result<Vec<RawCertificate>, StoreError>;
}
