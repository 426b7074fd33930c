//! The change feed: the registry's events read in log order, for integrators who follow every
//! change and for people's feed readers. The cursor is the leaf index, so a consumer that has
//! read up to a signed checkpoint's size can prove with a consistency proof that it missed nothing.
//!
//! Only leaves under the latest signed checkpoint are served, and each event is held against the
//! leaf the in-memory tree has at its index before it is handed out: an event row edited behind
//! the server's back fails the feed closed (`LogDamaged`) instead of being served.

use std::sync::Arc;

use super::super::{HistoryEvent, Registry, RegistryError};
use crate::domain::Uscc;
use crate::store::{LoggedEvent, StoreError};
use crate::tlog::{leaf_hash, Hash, SignedCheckpoint};

/// The most changes one page holds.
pub const MAX_CHANGES_PAGE: u32 = 1_000;

/// One event of the log, vouched for by its leaf.
#[derive(Clone, Debug)]
pub struct LoggedChange {
    /// The leaf's index in the transparency log: the feed's cursor.
    pub index: u64,
    pub leaf_hash: Hash,
    pub event: HistoryEvent,
}

/// A page of changes and the signed checkpoint that covers every one of them.
#[derive(Clone, Debug)]
pub struct ChangePage {
    pub changes: Vec<LoggedChange>,
    /// The checkpoint the page was read under; `None` only while the log is empty.
    pub checkpoint: Option<Arc<SignedCheckpoint>>,
    /// Whether the checkpoint covers changes past this page.
    pub more: bool,
}

impl Registry {
    /// Up to `limit` changes after leaf `after` (from the first leaf when `None`), oldest first.
    pub async fn changes_after(&self, after: Option<u64>, limit: u32) -> Result<ChangePage, RegistryError> {
        let checkpoint = self.covering_checkpoint().await?;
        let size = checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let from = after.map_or(0, |index| index.saturating_add(1));
        let count = size.saturating_sub(from).min(u64::from(limit.min(MAX_CHANGES_PAGE)));
        let logged = if count == 0 {
            Vec::new()
        } else {
            let count = u32::try_from(count).map_err(|_| RegistryError::Internal("page too long".into()))?;
            let logged = self.store.logged_events(from, count).await.map_err(damaged)?;
            if logged.len() as u64 != u64::from(count) {
                return Err(RegistryError::LogDamaged(format!(
                    "entries {from}..{} of the log are missing their events",
                    from + u64::from(count)
                )));
            }
            logged
        };
        let changes = self.vouched(logged, size)?;
        Ok(ChangePage { more: from.saturating_add(count) < size, changes, checkpoint })
    }

    /// The latest `limit` changes, newest first; with `holder`, only those of certificates whose
    /// signed record names that holder.
    pub async fn recent_changes(&self, holder: Option<&Uscc>, limit: u32) -> Result<ChangePage, RegistryError> {
        let checkpoint = self.covering_checkpoint().await?;
        let size = checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let limit = limit.min(MAX_CHANGES_PAGE);
        let logged = match holder {
            // Read newest first by the store.
            Some(uscc) => self.store.logged_events_of_holder(uscc, size, limit).await.map_err(damaged)?,
            None => {
                let from = size.saturating_sub(u64::from(limit));
                let count = u32::try_from(size - from).map_err(|_| RegistryError::Internal("page too long".into()))?;
                let mut oldest_first = self.store.logged_events(from, count).await.map_err(damaged)?;
                oldest_first.reverse();
                oldest_first
            }
        };
        let mut changes = self.vouched(logged, size)?;
        if let Some(uscc) = holder {
            // The row's `uscc` column found these; only the signed record may say whose they are.
            changes.retain(|change| names_holder(&change.event.record, uscc));
        }
        Ok(ChangePage { changes, checkpoint, more: false })
    }

    /// The latest signed checkpoint, signing one first if the log has grown past it.
    async fn covering_checkpoint(&self) -> Result<Option<Arc<SignedCheckpoint>>, RegistryError> {
        if !self.latest_checkpoint().is_some_and(|latest| latest.checkpoint.size >= self.log_size()) {
            self.sync_log().await?;
        }
        Ok(self.latest_checkpoint())
    }

    /// The events of `logged` as changes, once each one's leaf is the tree's leaf at its index
    /// below `size`; any other is the log damaged.
    fn vouched(&self, logged: Vec<LoggedEvent>, size: u64) -> Result<Vec<LoggedChange>, RegistryError> {
        logged
            .into_iter()
            .map(|LoggedEvent { idx, leaf, event }| {
                let hash = leaf_hash(&leaf);
                if idx >= size || self.inclusion_leaf(idx) != Some(hash) {
                    tracing::error!(
                        index = idx,
                        number = %event.number,
                        version = event.version,
                        "TAMPERING: an event does not match its transparency log leaf; run `starmark audit`"
                    );
                    return Err(RegistryError::LogDamaged(format!(
                        "the event at log index {idx} does not match the log"
                    )));
                }
                Ok(LoggedChange { index: idx, leaf_hash: hash, event: event.into() })
            })
            .collect()
    }
}

/// A store failure while reading the log: a leaf without its event, or an event that does not
/// parse, is the log damaged; anything else is the store's own failure.
fn damaged(error: StoreError) -> RegistryError {
    match error {
        StoreError::Corrupt(problem) => RegistryError::LogDamaged(problem),
        other => other.into(),
    }
}

/// Whether the signed record text `record` names holder `uscc`.
fn names_holder(record: &str, uscc: &Uscc) -> bool {
    serde_json::from_str::<serde_json::Value>(record)
        .ok()
        .and_then(|value| value.pointer("/holder/uscc").and_then(|v| v.as_str()).map(|found| found == uscc.as_str()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_record_names_the_holder() {
        let uscc = Uscc::parse("91350200776049653A").unwrap();
        assert!(names_holder(r#"{"holder":{"uscc":"91350200776049653A"},"version":1}"#, &uscc));
        assert!(!names_holder(r#"{"holder":{"uscc":"91110000600037341L"},"version":1}"#, &uscc));
        assert!(!names_holder(r#"{"holder":{}}"#, &uscc));
        assert!(!names_holder("not json", &uscc));
    }
}
