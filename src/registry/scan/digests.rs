//! Mark digest indexes, the registry's part: making a new batch's index when it is ordered,
//! storing it, rebuilding the missing ones, and letting an index vouch for a scanned token.
//!
//! [`Registry::mark_token`] makes a batch's tokens from the record and the signing key alone,
//! so, prepared at the state change like the read path's answers, the registry makes every
//! token of a new batch once, off the async runtime on all cores, and keeps their tags
//! (`cache/mark_digests.rs` says what a tag is and why a match is as good as a signature check).
//! A scan whose token parses and names a trusted key looks its batch's index up. When the index
//! was made with the token's key and the tag of the token's serial equals the token's own tag,
//! the token is genuine without a signature verification. In every other case (no index yet,
//! an older batch, another key, a tag that differs because the token was re-made after a
//! renewal changed its level or validity, or a forgery) the signature is verified with
//! `verify_strict` exactly as without indexes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::{clock, Registry, RegistryError};
use crate::cache::mark_digests::{MarkDigestIndex, SALT_LEN};
use crate::crypto::token::{ParsedToken, TokenError};
use crate::crypto::KeyId;
use crate::domain::{CertificateNumber, CertificateRecord, MarkError};
use crate::store::{Store, StoreError, StoredMarkDigests};

/// What preparing an index did.
#[derive(Clone, Copy, Debug)]
pub struct PreparedDigests {
    pub batch: u32,
    pub count: u32,
    pub elapsed: Duration,
}

fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
/// Takes a stored index back, checking its shape.
fn index_of(stored: StoredMarkDigests) -> Result<MarkDigestIndex, StoreError> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("mark digest index of {}/{}: {what}", stored.number, stored.batch));
    let key_id = KeyId::parse(&stored.key_id).ok_or_else(|| corrupt("bad key id"))?;
    let salt: [u8; SALT_LEN] = stored.salt.as_slice().try_into().map_err(|_| corrupt("bad salt"))?;
    MarkDigestIndex::from_parts(key_id, salt, stored.tags).ok_or_else(|| corrupt("tags are not whole"))
}

/// The stored index of `number`/`batch`, for the cache to keep. A failed load counts as no
/// index (scans then verify signatures), and is logged.
async fn load_index(
    store: &Arc<dyn Store>,
    certificate: &CertificateNumber,
    batch: u32,
) -> Option<Arc<MarkDigestIndex>> {
    let number = certificate.as_str();
    match store.get_mark_digests(certificate, batch).await {
        Ok(None) => None,
        Ok(Some(stored)) => match index_of(stored) {
            Ok(index) => Some(Arc::new(index)),
            Err(e) => {
                tracing::warn!(number, batch, error = %e, "mark digest index unusable; verifying signatures");
                None
            }
        },
        Err(e) => {
            tracing::warn!(number, batch, error = %e, "mark digest index not loaded; verifying signatures");
            None
        }
    }
}

impl Registry {
    /// How many Ed25519 signature verifications scans have done since start (a token vouched for
    /// by its batch's digest index, or refused a moment ago, costs none).
    pub fn signatures_verified(&self) -> u64 {
        self.signatures_verified.load(Ordering::Relaxed)
    }

    /// Makes, stores and keeps the digest index of batch `batch` of `record` (the record as it
    /// was right after the order), replacing any earlier one. The signing runs on every core,
    /// off the async runtime and outside any store transaction.
    pub async fn prepare_mark_digests(
        self: &Arc<Self>,
        record: &CertificateRecord,
        batch: u32,
    ) -> Result<PreparedDigests, RegistryError> {
        self.prepare_mark_digests_on(record, batch, build_threads()).await
    }

    /// [`Registry::prepare_mark_digests`] signing on `threads` threads.
    async fn prepare_mark_digests_on(
        self: &Arc<Self>,
        record: &CertificateRecord,
        batch: u32,
        threads: usize,
    ) -> Result<PreparedDigests, RegistryError> {
        let entry = record.mark_batch(batch).ok_or(MarkError::NoSuchBatch(batch))?;
        let count = entry.count;
        let template = crate::registry::lifecycle::marks::claims_of(record, batch, 1);
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let started = Instant::now();
        let this = Arc::clone(self);
        let index = tokio::task::spawn_blocking(move || {
            MarkDigestIndex::build(&this.signer, &template, count, salt, threads, &this.stopping)
        })
        .await
        .map_err(|e| RegistryError::Internal(format!("building the mark digest index failed: {e}")))?
        .ok_or_else(|| RegistryError::Internal("the server stopped before the index was built".into()))?;
        let (key_id, salt, tags) = index.into_parts();
        let stored = StoredMarkDigests {
            number: record.number.clone(),
            batch,
            key_id: key_id.to_string(),
            salt: salt.to_vec(),
            tags,
            created_at: clock::now(),
        };
        self.store.put_mark_digests(&stored).await?;
        let index = index_of(stored)?;
        self.mark_digests.put(record.number.as_str(), batch, Arc::new(index)).await;
        let elapsed = started.elapsed();
        tracing::info!(
            number = %record.number,
            batch,
            count,
            seconds = elapsed.as_secs_f64(),
            "mark digest index prepared"
        );
        Ok(PreparedDigests { batch, count, elapsed })
    }

    /// [`Registry::prepare_mark_digests`] in a background task; a failure is logged (scans of
    /// the batch then verify signatures, as for a batch ordered before indexes existed).
    pub fn prepare_mark_digests_in_background(self: &Arc<Self>, record: CertificateRecord, batch: u32) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.prepare_mark_digests(&record, batch).await {
                Ok(_) => {}
                Err(_) if this.stopping.load(Ordering::SeqCst) => {
                    tracing::warn!(number = %record.number, batch, "mark digest index not prepared: the server stopped first; scans of the batch verify signatures");
                }
                Err(e) => {
                    tracing::error!(number = %record.number, batch, error = %e, "mark digest index not prepared");
                }
            }
        });
    }

    /// Builds, one batch at a time, the digest index of every batch that has none in the store:
    /// an order whose background build a stopping server gave up, or a batch ordered before
    /// indexes existed. Each is made from the record as it was when the batch was ordered (the
    /// tokens printed then). A task of the server, started with it, signing on one thread so
    /// that the other cores keep serving; it gives up when the server stops. Instances started
    /// together may each build the same batch (the last one stored stays; either vouches for
    /// the same tokens).
    pub async fn repair_mark_digests(self: Arc<Self>) {
        let missing = match self.store.batches_without_digests().await {
            Ok(missing) => missing,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the mark batches without a digest index; their scans verify signatures");
                return;
            }
        };
        if missing.is_empty() {
            return;
        }
        tracing::info!(batches = missing.len(), "building the missing mark digest indexes");
        let not_rebuilt = |number: &CertificateNumber, batch: u32, e: RegistryError| {
            tracing::warn!(number = number.as_str(), batch, error = %e, "mark digest index not rebuilt; the batch's scans verify signatures");
        };
        for (number, batch) in missing {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let record = match self.record_at_order(&number, batch).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    not_rebuilt(&number, batch, e);
                    continue;
                }
            };
            if let Ok(Some(_)) = self.store.get_mark_digests(&record.number, batch).await {
                continue; // made meanwhile by another instance
            }
            match self.prepare_mark_digests_on(&record, batch, 1).await {
                Ok(_) => {}
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(e) => not_rebuilt(&number, batch, e),
            }
        }
    }

    /// The first record version of `number` that lists batch `batch`: the one the order made.
    async fn record_at_order(
        &self,
        number: &CertificateNumber,
        batch: u32,
    ) -> Result<Option<CertificateRecord>, RegistryError> {
        for event in self.store.history(number).await? {
            let record: CertificateRecord = serde_json::from_str(&event.record)
                .map_err(|e| StoreError::Corrupt(format!("event {} of {number}: {e}", event.version)))?;
            if record.mark_batches.iter().any(|b| b.id == batch) {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Whether this process holds the digest index of `number`/`batch` (never loads it).
    pub async fn mark_digests_loaded(&self, number: &str, batch: u32) -> bool {
        self.mark_digests.holds(number, batch).await
    }

    /// The signature step of a scan: the batch's digest index vouches for the token, or else its
    /// signature is verified (`verify_strict`) against the trust list. A token whose
    /// verification failed a moment ago is refused again from memory (see [`RefusalCache`]).
    ///
    /// [`RefusalCache`]: crate::cache::refusals::RefusalCache
    pub(super) async fn check_mark_signature(&self, parsed: &ParsedToken) -> Result<(), TokenError> {
        if !self.verifier.trusts(&parsed.key_id) {
            return Err(TokenError::UnknownKey(parsed.key_id));
        }
        let claims = &parsed.claims;
        if claims.batch != 0 {
            let number = claims.number.as_str();
            if let Some(index) = self
                .mark_digests
                .get(number, claims.batch, || load_index(&self.store, &claims.number, claims.batch))
                .await
            {
                if index.vouches_for(&parsed.key_id, claims.serial, parsed.text()) {
                    return Ok(());
                }
            }
        }
        if let Some(refused) = self.refusals.get(parsed.text()) {
            return Err((*refused).clone());
        }
        self.signatures_verified.fetch_add(1, Ordering::Relaxed);
        let verified = parsed.verify(&self.verifier);
        if let Err(e) = &verified {
            self.refusals.remember(parsed.text(), e.clone());
        }
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::mark_digests::tests::claims;
    use crate::cache::mark_digests::SALT_LEN;
    use crate::crypto::keys::SigningKeyEntry;
    use crate::crypto::token;
    use crate::crypto::Signer;
    use ed25519_dalek::SigningKey;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn stored_indexes_come_back_or_are_refused() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let signer = Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key });
        let index =
            MarkDigestIndex::build(&signer, &claims(0), 3, [5; SALT_LEN], 2, &AtomicBool::new(false)).expect("built");
        let (key_id, salt, tags) = index.into_parts();
        let stored = StoredMarkDigests {
            number: CertificateNumber::assigned(2026, 1),
            batch: 3,
            key_id: key_id.to_string(),
            salt: salt.to_vec(),
            tags,
            created_at: clock::now(),
        };
        let back = index_of(stored.clone()).unwrap();
        assert!(back.vouches_for(signer.key_id(), 2, &token::issue(&signer, &claims(2))));
        let mut bad_key = stored.clone();
        bad_key.key_id = "not a key id".into();
        assert!(index_of(bad_key).is_err());
        let mut short_salt = stored.clone();
        short_salt.salt.pop();
        assert!(index_of(short_salt).is_err());
        let mut ragged = stored;
        ragged.tags.pop();
        assert!(index_of(ragged).is_err());
    }
}
