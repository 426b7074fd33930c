//! Keeping the transparency log: the in-memory tree follows the leaves the store committed,
//! and a checkpoint is signed whenever the tree has grown. Proofs and tiles are read from here.
//!
//! The store writes leaves inside the event transactions, so the tree can always be rebuilt from
//! it; [`Registry::sync_log`] is the one way the tree grows, and it reads leaves in index order,
//! so concurrent writers cannot reorder the log.
//!
//! Beside it, `audit.rs` re-derives the log from the stored events alone, `changes.rs` reads
//! the events in log order for the change feed, and `origin.rs` keeps the log's name fixed for good.

pub mod audit;
pub mod changes;
pub mod origin;

use std::sync::{Arc, PoisonError, RwLock};

use chrono::Utc;

use super::{Registry, RegistryError};
use crate::crypto::Signer;
use crate::domain::CertificateNumber;
use crate::store::StoredCheckpoint;
use crate::tlog::tiles::{entry_bundle, TILE_HEIGHT};
use crate::tlog::{Checkpoint, Hash, LogKey, NoteError, SignedCheckpoint, Tree, TreeError, TILE_WIDTH};

/// Leaves read from the store per query while catching up.
const SYNC_PAGE: u32 = 50_000;

/// The log's state in memory.
pub(super) struct TransparencyLog {
    key: LogKey,
    tree: RwLock<Tree>,
    latest: RwLock<Option<Arc<SignedCheckpoint>>>,
    /// Serialises catching up and signing, so checkpoints are made in order.
    sync: tokio::sync::Mutex<()>,
    /// The latest leaf of each certificate, in step with `tree`.
    pub(super) heads: super::backing::Heads,
    /// Stored certificates found not to match the log.
    pub(super) tampering: super::backing::TamperWatch,
}

impl TransparencyLog {
    pub(super) fn new(origin: &str, signer: &Signer) -> Result<Self, NoteError> {
        Ok(Self {
            key: LogKey::new(origin, signer.verifying_key())?,
            tree: RwLock::new(Tree::new()),
            latest: RwLock::new(None),
            sync: tokio::sync::Mutex::new(()),
            heads: Default::default(),
            tampering: Default::default(),
        })
    }
}

/// Where one record version sits in the log, proven against a signed checkpoint.
#[derive(Clone, Debug)]
pub struct LogProof {
    pub index: u64,
    /// The leaf data (canonical JSON, docs/tlog.md).
    pub leaf: Vec<u8>,
    pub checkpoint: Arc<SignedCheckpoint>,
    /// Inclusion proof of `index` in the checkpoint's tree, leaf first.
    pub inclusion: Vec<Hash>,
}

impl Registry {
    fn tree(&self) -> std::sync::RwLockReadGuard<'_, Tree> {
        self.log.tree.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The log's signed-note key (name = origin).
    pub fn log_key(&self) -> &LogKey {
        &self.log.key
    }

    /// Leaves in the log right now (possibly ahead of the latest checkpoint for a moment).
    pub fn log_size(&self) -> u64 {
        self.tree().size()
    }

    /// The latest signed checkpoint, if one was made yet.
    pub fn latest_checkpoint(&self) -> Option<Arc<SignedCheckpoint>> {
        self.log.latest.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The checkpoint signed at `size`, if there was one.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, RegistryError> {
        Ok(self.store.checkpoint(size).await?)
    }

    /// Catches the tree up with the leaves the store committed and signs a checkpoint if it grew.
    pub async fn sync_log(&self) -> Result<(), RegistryError> {
        let _guard = self.log.sync.lock().await;
        loop {
            let from = self.log_size();
            let leaves = self.store.log_leaves(from, SYNC_PAGE).await?;
            let Some(first) = leaves.first() else { break };
            // A leaf row missing from the store (deleted) would shift every later leaf: the tree
            // stops before it, so nothing after it is vouched for.
            if first.idx != from {
                tracing::error!(
                    missing = from,
                    next = first.idx,
                    "TAMPERING: a transparency log leaf is missing from the store; run `starmark audit`"
                );
                break;
            }
            let contiguous = leaves.iter().zip(from..).take_while(|(leaf, idx)| leaf.idx == *idx).count();
            let mut tree = self.log.tree.write().unwrap_or_else(PoisonError::into_inner);
            let mut heads = Vec::with_capacity(contiguous);
            for leaf in leaves.into_iter().take(contiguous) {
                tree.push(leaf.hash);
                heads.push((leaf.number, leaf.version, leaf.idx));
            }
            self.log.heads.note(heads);
        }
        let size = self.log_size();
        if self.latest_checkpoint().is_none() {
            if let Some(stored) = self.store.latest_checkpoint().await? {
                self.adopt_stored(stored)?;
            }
        }
        if self.latest_checkpoint().is_some_and(|latest| latest.checkpoint.size >= size) {
            return Ok(());
        }
        let root = self.tree().root(size).map_err(|e| RegistryError::Internal(e.to_string()))?;
        let checkpoint = Checkpoint { origin: self.log.key.name().to_string(), size, root };
        let signed = self.log.key.sign(checkpoint, &self.signer);
        self.store.add_checkpoint(&StoredCheckpoint { size, root, note: signed.note.clone() }).await?;
        *self.log.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(signed));
        tracing::debug!(size, at = %Utc::now(), "log checkpoint signed");
        Ok(())
    }

    /// Takes the stored latest checkpoint as current after a restart, once it is known to match
    /// the leaves; a mismatch means the store was altered, and nothing more is signed.
    fn adopt_stored(&self, stored: StoredCheckpoint) -> Result<(), RegistryError> {
        let root = self.tree().root(stored.size).map_err(|e| {
            RegistryError::Internal(format!(
                "the log has fewer leaves than its checkpoint claims ({e}); run `starmark audit`"
            ))
        })?;
        if root != stored.root {
            return Err(RegistryError::Internal(format!(
                "the log's leaves do not match its signed checkpoint at size {}; run `starmark audit`",
                stored.size
            )));
        }
        // A checkpoint signed under an earlier key or origin is kept in the store but not served
        // as the latest: the next one is signed with today's key.
        if let Ok(checkpoint) = self.log.key.open(&stored.note) {
            if checkpoint.root == root && checkpoint.size == stored.size {
                let signed = SignedCheckpoint { checkpoint, note: stored.note };
                *self.log.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(signed));
            }
        }
        Ok(())
    }

    /// Runs after every committed write: the event is durable already, so a failure here is
    /// logged and repaired by the next sync rather than reported to the writer.
    pub(super) async fn log_appended(&self) {
        if let Err(e) = self.sync_log().await {
            tracing::error!(error = %e, "transparency log not caught up yet; retried on the next write");
        }
    }

    /// The root of the tree of `size` leaves.
    pub fn log_root(&self, size: u64) -> Result<Hash, TreeError> {
        self.tree().root(size)
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree().inclusion(index, size)
    }

    /// The hashes that at least `min_shared` inclusion proofs of leaves `first..first + count`
    /// hold in the tree of `size` leaves (see [`Tree::shared_nodes`]).
    pub(super) fn log_shared_nodes(
        &self,
        first: u64,
        count: u64,
        size: u64,
        min_shared: usize,
    ) -> Result<Vec<Hash>, TreeError> {
        self.tree().shared_nodes(first, count, size, min_shared)
    }

    /// Consistency proof from the tree of `from` leaves to that of `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree().consistency(from, to)
    }

    /// The bytes of hash tile `level`/`index` of `width` hashes, if the log has them all.
    pub fn hash_tile(&self, level: u8, index: u64, width: u64) -> Option<Vec<u8>> {
        let tree_level = usize::from(level) * TILE_HEIGHT as usize;
        let start = index.checked_mul(TILE_WIDTH)?;
        let tree = self.tree();
        if tree.level_len(tree_level) < start.checked_add(width)? {
            return None;
        }
        Some(tree.level_hashes(tree_level, start, width).concat())
    }

    /// Entry bundle `index` of `width` entries, if the log has them all.
    pub async fn entry_tile(&self, index: u64, width: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let Some(start) = index.checked_mul(TILE_WIDTH) else { return Ok(None) };
        if start.checked_add(width).map_or(true, |end| end > self.log_size()) {
            return Ok(None);
        }
        let count = u32::try_from(width).map_err(|_| RegistryError::Internal("tile too wide".into()))?;
        let entries = match self.store.log_entries(start, count).await {
            Ok(entries) => entries,
            Err(crate::store::StoreError::Corrupt(problem)) => return Err(RegistryError::LogDamaged(problem)),
            Err(e) => return Err(e.into()),
        };
        if entries.len() as u64 != width {
            return Err(RegistryError::LogDamaged(format!(
                "entries {start}..{} of the log are missing their events",
                start + width
            )));
        }
        entry_bundle(&entries).map(Some).map_err(|e| RegistryError::Internal(e.to_string()))
    }

    /// Where version `version` of certificate `number` is in the log, proven against the
    /// latest checkpoint (signing one first if the leaf is newer than it).
    pub async fn log_proof(&self, number: &CertificateNumber, version: u32) -> Result<Option<LogProof>, RegistryError> {
        let Some(entry) = self.store.log_entry(number, version).await? else { return Ok(None) };
        let covers =
            |latest: &Option<Arc<SignedCheckpoint>>| latest.as_ref().is_some_and(|c| c.checkpoint.size > entry.idx);
        if !covers(&self.latest_checkpoint()) {
            self.sync_log().await?;
        }
        let Some(checkpoint) = self.latest_checkpoint().filter(|c| c.checkpoint.size > entry.idx) else {
            return Err(RegistryError::Internal(format!("log leaf {} is not covered by a checkpoint", entry.idx)));
        };
        let inclusion = self
            .inclusion_proof(entry.idx, checkpoint.checkpoint.size)
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        Ok(Some(LogProof { index: entry.idx, leaf: entry.data, checkpoint, inclusion }))
    }
}

impl Registry {
    /// Brings the log up at start: gives leaves to events stored before the log existed, loads
    /// the tree, checks it against the last signed checkpoint and signs a new one if it grew.
    pub async fn open_log(&self) -> Result<(), RegistryError> {
        let added = self.store.log_backfill().await?;
        if added > 0 {
            tracing::info!(added, "events from before the transparency log were appended to it");
        }
        self.sync_log().await
    }
}

impl Registry {
    /// The hash of leaf `index`, if the log has it.
    pub fn inclusion_leaf(&self, index: u64) -> Option<Hash> {
        self.tree().leaf(index)
    }
}
