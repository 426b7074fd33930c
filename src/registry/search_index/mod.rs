//! The search index kept by the registry: the store's search answered from memory (see
//! `index.rs`), the same on both backends.
//!
//! The store stays the truth. The index follows the store's event log (`changes_after`), not
//! this instance's writes, so a write made by any instance sharing the store is found by the
//! next search here: before answering, a search asks the store for its latest event and, if the
//! index has not seen it, reads the changed certificates first. The page itself is then read
//! from the store and each certificate is checked once more against the query, so what a search
//! answers is never older than the store at that moment.
//!
//! Until the index is built (a background task of the server, started with it), when it is
//! further behind than one search should catch up, or when the registry holds more
//! certificates than it may keep in memory, searches go to the store as before.

mod index;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::{Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::domain::{CertificateNumber, SearchQuery};
use crate::store::{Store, StoreError, StoredCertificate};

pub use index::{record_matches, Index};

/// Certificates kept at most unless configured (`STARMARK_SEARCH_INDEX_MAX`): a few hundred
/// bytes each, so some hundreds of megabytes at the very most.
pub const DEFAULT_MAX_CERTIFICATES: u64 = 1_000_000;

/// Events a search catches up on before answering; further behind, it asks the store and the
/// background task catches up.
const CATCH_UP_IN_SEARCH: usize = 2_000;

/// Events (and certificates) read per query while building or catching up.
const BATCH: u32 = 1_000;

/// How often the background task follows the store.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// The index with the last event it reflects.
struct Loaded {
    index: Index,
    seen: i64,
}

/// The registry's search index and what keeps it current.
pub struct SearchIndex {
    loaded: RwLock<Option<Loaded>>,
    /// One catch-up at a time; others wait for it rather than repeat it.
    catching_up: tokio::sync::Mutex<()>,
    max_certificates: u64,
    /// Set when the registry outgrew `max_certificates`: the store answers every search.
    overflowed: AtomicBool,
}

impl SearchIndex {
    /// An index not yet built, holding at most `max_certificates` (0: never built).
    pub fn new(max_certificates: u64) -> Self {
        Self {
            loaded: RwLock::new(None),
            catching_up: tokio::sync::Mutex::new(()),
            max_certificates,
            overflowed: AtomicBool::new(false),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Loaded>> {
        self.loaded.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Loaded>> {
        self.loaded.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many certificates the index holds, or `None` while searches go to the store.
    pub fn certificates(&self) -> Option<usize> {
        self.read().as_ref().map(|loaded| loaded.index.len())
    }

    fn seen(&self) -> Option<i64> {
        self.read().as_ref().map(|loaded| loaded.seen)
    }

    /// Builds the index from the store's current certificates.
    async fn build(&self, store: &dyn Store) -> Result<(), RegistryError> {
        let _one = self.catching_up.lock().await;
        if self.max_certificates == 0 || self.read().is_some() {
            return Ok(());
        }
        // Changes during the build are read again by the catch-up from here; applying one twice
        // is harmless (versions only move forward).
        let seen = store.last_event_seq().await?;
        let mut index = Index::default();
        let mut query = SearchQuery {
            text: None,
            uscc: None,
            level: None,
            state: None,
            today: super::clock::today(),
            after: None,
            limit: BATCH,
        };
        loop {
            let page = store.search(&query).await?;
            index.upsert(page.iter().map(indexed));
            if index.len() as u64 > self.max_certificates {
                self.overflow(index.len());
                return Ok(());
            }
            match page.last() {
                Some(last) if page.len() == BATCH as usize => query.after = Some(last.signed.record.number.clone()),
                _ => break,
            }
        }
        tracing::info!(certificates = index.len(), "search index built");
        *self.write() = Some(Loaded { index, seen });
        Ok(())
    }

    fn overflow(&self, certificates: usize) {
        if !self.overflowed.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                certificates,
                max = self.max_certificates,
                "more certificates than the search index may hold (STARMARK_SEARCH_INDEX_MAX): searches go to the store"
            );
        }
        *self.write() = None;
    }

    /// Brings the index up to the store's latest event, reading at most `budget` events; true
    /// when it is current (and may answer), false when it is not built or further behind.
    async fn catch_up(&self, store: &dyn Store, budget: usize) -> Result<bool, RegistryError> {
        let head = store.last_event_seq().await?;
        match self.seen() {
            None => return Ok(false),
            Some(seen) if seen >= head => return Ok(true),
            Some(_) => {}
        }
        let _one = self.catching_up.lock().await;
        let mut read = 0;
        loop {
            let Some(seen) = self.seen() else { return Ok(false) };
            if seen >= head {
                return Ok(true);
            }
            if read >= budget {
                return Ok(false);
            }
            let changes = store.changes_after(seen, BATCH).await?;
            let Some(&(last, _, _)) = changes.last() else { return Ok(true) };
            read += changes.len();
            let mut numbers: Vec<CertificateNumber> = changes.into_iter().map(|(_, number, _)| number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            let current = store.get_many(&numbers).await?;
            let certificates = {
                let mut guard = self.write();
                let Some(loaded) = guard.as_mut() else { return Ok(false) };
                loaded.index.upsert(current.iter().map(indexed));
                loaded.seen = last;
                loaded.index.len()
            };
            if certificates as u64 > self.max_certificates {
                self.overflow(certificates);
                return Ok(false);
            }
        }
    }

    /// The numbers of a page of matches and whether more follow, if the index may answer.
    fn search(&self, query: &SearchQuery) -> Option<(Vec<String>, bool)> {
        self.read().as_ref().map(|loaded| loaded.index.search(query, query.limit as usize))
    }
}

/// A row as the index takes it: under the row's own number (its primary key), with its record.
fn indexed(row: &StoredCertificate) -> (&str, &crate::domain::CertificateRecord) {
    (row.columns.number.as_str(), &row.signed.record)
}

impl Registry {
    /// Builds the search index, then keeps it current in the background, forever (a task of
    /// the server): searches then rarely have changes to read first.
    pub async fn keep_search_index(self: Arc<Self>) {
        let mut failing = false;
        loop {
            let step = async {
                self.search_index.build(self.store.as_ref()).await?;
                self.search_index.catch_up(self.store.as_ref(), usize::MAX).await
            };
            match step.await {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "the search index cannot read the store; searches go to the store");
                }
                Err(_) => {}
            }
            if self.search_index.overflowed.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }

    /// How many certificates the search index holds, or `None` while searches go to the store.
    pub fn search_index_certificates(&self) -> Option<usize> {
        self.search_index.certificates()
    }

    /// A page of matches from the index, or `None` when the store must answer.
    pub(super) async fn search_with_index(
        &self,
        query: &SearchQuery,
    ) -> Result<Option<(Vec<SignedCertificate>, bool)>, RegistryError> {
        if !self.search_index.catch_up(self.store.as_ref(), CATCH_UP_IN_SEARCH).await? {
            return Ok(None);
        }
        let Some((found, more)) = self.search_index.search(query) else { return Ok(None) };
        // The index holds the numbers of stored rows; one that is not a number is a damaged row.
        let numbers = found
            .iter()
            .map(|text| {
                CertificateNumber::parse(text)
                    .map_err(|_| StoreError::Corrupt(format!("indexed certificate number {text:?} does not parse")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let page = self.store.get_many(&numbers).await?;
        // Nothing is listed that the transparency log does not back, as from the store; a row
        // found is confirmed before it is matched, so a row whose record is not its own is
        // refused rather than dropped as not matching.
        let mut confirmed = Vec::with_capacity(page.len());
        for certificate in page {
            confirmed.push(self.confirmed(certificate).await?);
        }
        // A certificate changed since the index looked is shown as it is now, if it still matches.
        confirmed.retain(|c| record_matches(&c.record, query));
        confirmed.sort_unstable_by(|a, b| a.record.number.as_str().cmp(b.record.number.as_str()));
        Ok(Some((confirmed, more)))
    }
}
