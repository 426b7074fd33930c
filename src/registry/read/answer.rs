//! Prepared public answers: the bytes of `GET /api/v1/certificates/{number}`, made once when a
//! certificate changes (or when a cached copy expires) and then served as they are.
//!
//! The read path asks L1, then L2 (Redis, when configured), then the store; the write path
//! prepares the new answer right after its transaction commits, replaces both tiers and
//! announces the change so every other instance drops its copy. The JSON shape belongs to the
//! HTTP layer, which hands the registry an [`AnswerFormat`] at start; it only writes answers.
//!
//! A scanned certificate's cached answer is held beside the record it was prepared from,
//! parsed: the scan's verdict reads that record ([`Registry::current_certificate`]), never the
//! answer's JSON. An answer only looked up holds no record (lookups send bytes, and a parsed
//! record weighs about two thirds of a kilobyte); the first scan of it keeps one. A record
//! prepared here was tied to the log first (`backing.rs`); one rebuilt from a copy in Redis comes
//! from the signed record the copy carries, and is taken only when it is the copy's certificate
//! and version and its signature verifies against the trust list.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::log::LogProof;
use super::{clock, Registry, RegistryError};
use crate::cache::packing::dictionaries::AnswerDictionaries;
use crate::cache::shared::{SharedAnswer, SignedParts, Tiers};
use crate::cache::{Cached, Held, Loaded, Prepared, RecordHit};
use crate::crypto::{canonical_bytes, Signature, SignedCertificate};
use crate::domain::{CertificateNumber, CertificateRecord, State};
use crate::tlog::Hash;

/// A short signed statement of a certificate's state at a moment, in the spirit of an OCSP
/// response: who, which version, what state, when said, and when a fresher one will exist.
#[derive(Clone, Debug, Serialize)]
pub struct StatusAssertion {
    pub number: String,
    pub version: u32,
    pub state: State,
    pub produced_at: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
}

/// The assertion with its signature over the canonical bytes of `assertion`.
#[derive(Clone, Debug, Serialize)]
pub struct SignedAssertion {
    pub assertion: StatusAssertion,
    pub signature: Signature,
}

/// A certificate's public answer as HTTP sends it, or word that there is none: the registry's
/// own view of a cache entry, so that HTTP never handles the cache's types.
pub enum PublicAnswer {
    /// The certificate's prepared answer.
    Found(AnswerBytes),
    /// No such certificate (as of a moment ago).
    Absent,
}

impl From<Cached> for PublicAnswer {
    fn from(cached: Cached) -> Self {
        match cached {
            Cached::Answer(prepared) => PublicAnswer::Found(AnswerBytes(prepared)),
            Cached::Absent => PublicAnswer::Absent,
        }
    }
}

/// A prepared answer, kept packed until it is sent.
pub struct AnswerBytes(Prepared);

impl AnswerBytes {
    /// The answer's ETag, read only when a client revalidates.
    pub fn etag(&self) -> &str {
        self.0.etag()
    }

    /// The ETag header and the unpacked body, ready to send; `None` if the body does not unpack.
    pub fn into_send(self) -> Option<(axum::http::HeaderValue, bytes::Bytes)> {
        self.0.into_send()
    }

    /// Whether the answer keeps a gzip form beside it (answers held unpacked do).
    pub fn has_gzip(&self) -> bool {
        self.0.has_gzip()
    }

    /// The gzip form's ETag, when there is one.
    pub fn gzip_etag(&self) -> Option<&str> {
        self.0.gzip_etag()
    }

    /// The gzip form's ETag header and body, ready to send; `None` without one.
    pub fn into_send_gzip(self) -> Option<(axum::http::HeaderValue, bytes::Bytes)> {
        self.0.into_send_gzip()
    }
}

/// Renders the public JSON of a certificate; implemented by the HTTP layer.
pub trait AnswerFormat: Send + Sync {
    fn render(
        &self,
        certificate: &SignedCertificate,
        log: Option<&LogProof>,
        assertion: &SignedAssertion,
    ) -> Result<Vec<u8>, String>;

    /// Log hashes as an answer's inclusion proof shows them: packing dictionaries hold the
    /// nodes answers share in this form, so that the packer finds them.
    fn render_hashes(&self, hashes: &[Hash]) -> Vec<u8>;
}

/// How the registry prepares and keeps answers.
#[derive(Clone)]
pub struct ReadPath {
    pub tiers: Tiers,
    pub format: Arc<dyn AnswerFormat>,
    /// Answers prepared from the store so far (each is one store read): what the caches save.
    pub prepared: Arc<std::sync::atomic::AtomicU64>,
    /// How long a prepared answer's status assertion is good for (its `next_update`, less up to
    /// a tenth at random, never past midnight in China); no instance serves the answer longer.
    pub answer_lifetime: Duration,
    /// What answers are packed against, by stretch of the log.
    pub(super) dictionaries: Arc<AnswerDictionaries>,
}

/// The default of [`ReadPath::answer_lifetime`]: a change replaces the answer on every instance
/// within the staleness bound (at once with Redis) whatever its lifetime, so this only bounds
/// how old a served assertion may be and how often each cached answer is prepared afresh.
pub const DEFAULT_ANSWER_LIFETIME: Duration = Duration::from_secs(3600);

/// Up to this fraction of the lifetime is taken off each answer's, at random.
const MAX_SHORTENING: f64 = 0.1;

impl ReadPath {
    pub fn new(tiers: Tiers, format: Arc<dyn AnswerFormat>, answer_lifetime: Duration) -> Self {
        let dictionaries = Arc::default();
        Self { tiers, format, prepared: Arc::default(), answer_lifetime, dictionaries }
    }

    /// The `next_update` of an answer produced at `produced_at`: the lifetime on, less a random
    /// `shortening` fraction of it (answers prepared together, as at start, would otherwise all
    /// run out together and be prepared again in one burst), and never past midnight in China.
    fn next_update(&self, produced_at: DateTime<Utc>, shortening: f64) -> DateTime<Utc> {
        let lifetime = self.answer_lifetime.mul_f64(1.0 - shortening.clamp(0.0, MAX_SHORTENING));
        let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
        (produced_at + lifetime).min(clock::next_midnight_in_china(produced_at))
    }
}

/// Whether a load keeps the record beside the answer it puts in L1: a scan's does, a lookup's
/// does not.
#[derive(Clone, Copy)]
enum KeepRecord {
    Yes,
    No,
}

/// An answer just prepared from the store: what L1 holds, and the signed record L2 carries
/// beside it.
struct Fresh {
    prepared: Prepared,
    record: Arc<CertificateRecord>,
    signed: SignedParts,
}

impl Registry {
    /// Sets up prepared answers (without it, [`Registry::public_answer`] is unavailable).
    pub fn with_read_path(mut self, read_path: ReadPath) -> Self {
        if let Some(shared) = &read_path.tiers.shared {
            self.scans.share(shared.clone());
        }
        self.read_path = Some(read_path);
        self
    }

    /// How many answers were prepared from the store since start (a cache-effectiveness figure).
    pub fn answers_prepared(&self) -> u64 {
        self.read_path.as_ref().map_or(0, |r| r.prepared.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The cache tiers, for the server to run the change feed.
    pub fn tiers(&self) -> Option<Tiers> {
        self.read_path.as_ref().map(|r| r.tiers.clone())
    }

    fn read_path(&self) -> Result<&ReadPath, RegistryError> {
        self.read_path.as_ref().ok_or_else(|| RegistryError::Internal("the read path is not set up".into()))
    }

    /// The prepared answer for `number`, or `Absent` when there is no such certificate.
    pub async fn public_answer(&self, number: &CertificateNumber) -> Result<PublicAnswer, RegistryError> {
        self.cached_answer(number).await.map(PublicAnswer::from)
    }

    /// [`Registry::public_answer`] as the cache holds it, for the registry's own readers.
    async fn cached_answer(&self, number: &CertificateNumber) -> Result<Cached, RegistryError> {
        let read_path = self.read_path()?;
        if let Some(hit) = read_path.tiers.local.hit(number.as_str()).await {
            return Ok(hit);
        }
        // Boxed: the load's future takes kilobytes, which every hit would otherwise carry.
        Ok(Box::pin(self.load_public_answer(read_path, number, KeepRecord::No)).await?.into_cached())
    }

    /// [`Registry::public_answer`] on a miss of the read index: L1 (moka), L2, then the store;
    /// the answer is held beside its record when `keep` says so (a scan's load). A caller that
    /// joins a load already running gets what that load keeps.
    async fn load_public_answer(
        &self,
        read_path: &ReadPath,
        number: &CertificateNumber,
        keep: KeepRecord,
    ) -> Result<Held, RegistryError> {
        let keep = |record: Arc<CertificateRecord>| matches!(keep, KeepRecord::Yes).then_some(record);
        let key = number.as_str();
        let load = async {
            if let Some(shared) = &read_path.tiers.shared {
                if let Some(copy) = shared.get(key).await {
                    match self.rebuilt_record(number, &copy) {
                        Ok(record) => {
                            return Ok(Loaded { value: Held::Answer(copy.prepared, keep(record)), from_store: false })
                        }
                        Err(e) => {
                            tracing::warn!(number = key, error = %e, "a shared answer's signed record does not hold; asking the store");
                        }
                    }
                }
            }
            let value = match self.prepare_answer(number).await? {
                Some(fresh) => {
                    if let Some(shared) = &read_path.tiers.shared {
                        shared.put(key, &fresh.prepared, &fresh.signed).await;
                    }
                    Held::Answer(fresh.prepared, keep(fresh.record))
                }
                None => Held::Absent,
            };
            Ok::<_, RegistryError>(Loaded { value, from_store: true })
        };
        read_path.tiers.local.get_or_load(key, load).await.map_err(|e| match Arc::try_unwrap(e) {
            Ok(error) => error,
            Err(shared) => shared.relayed(),
        })
    }

    /// The record of the certificate as the read path has it (L1, L2, then the store, with the
    /// same freshness rules as `GET`): the one held beside its answer, never read from the
    /// answer. `None` when there is no such certificate. Without a read path (the CLI),
    /// straight from the store.
    pub(crate) async fn current_certificate(
        &self,
        number: &CertificateNumber,
    ) -> Result<Option<Arc<CertificateRecord>>, RegistryError> {
        let Some(read_path) = &self.read_path else {
            return Box::pin(self.confirmed_from_store(number)).await;
        };
        let held_version = match read_path.tiers.local.hit_record(number.as_str()).await {
            Some(RecordHit::Record(record)) => return Ok(Some(record)),
            Some(RecordHit::Absent) => return Ok(None),
            Some(RecordHit::AnswerOnly(version)) => version,
            None => match Box::pin(self.load_public_answer(read_path, number, KeepRecord::Yes)).await? {
                Held::Answer(_, Some(record)) => return Ok(Some(record)),
                Held::Absent => return Ok(None),
                // A lookup's load was running, and it keeps no record.
                Held::Answer(prepared, None) => prepared.version,
            },
        };
        Box::pin(self.record_beside(read_path, number, held_version)).await
    }

    /// The record for an answer L1 holds without one (of `held_version`): from the copy in
    /// Redis when it verifies and is no older, else from the store, tied to the log. It is
    /// kept beside the answer when it is the answer's version; a newer one (a change on its way
    /// here) decides this scan but is not the held answer's.
    async fn record_beside(
        &self,
        read_path: &ReadPath,
        number: &CertificateNumber,
        held_version: u32,
    ) -> Result<Option<Arc<CertificateRecord>>, RegistryError> {
        let key = number.as_str();
        let mut record = None;
        if let Some(shared) = &read_path.tiers.shared {
            if let Some(copy) = shared.get(key).await {
                match self.rebuilt_record(number, &copy) {
                    Ok(rebuilt) if rebuilt.version >= held_version => record = Some(rebuilt),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(number = key, error = %e, "a shared answer's signed record does not hold; asking the store");
                    }
                }
            }
        }
        let record = match record {
            Some(record) => record,
            None => match self.confirmed_from_store(number).await? {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        read_path.tiers.local.keep_record(key, Arc::clone(&record)).await;
        Ok(Some(record))
    }

    /// The record straight from the store, once tied to the log. Awaited boxed: the check may
    /// catch the log up, a future the scan's would otherwise carry inline.
    async fn confirmed_from_store(
        &self,
        number: &CertificateNumber,
    ) -> Result<Option<Arc<CertificateRecord>>, RegistryError> {
        match self.store.get(number).await? {
            Some(certificate) => Ok(Some(Arc::new(self.confirmed(certificate).await?.record))),
            None => Ok(None),
        }
    }

    /// The record a shared answer was prepared from, rebuilt from the signed record the copy
    /// carries (never from the answer's JSON): parsed by the domain's deserializer, of the
    /// certificate and version the copy is for, and signed by a key of the trust list. The
    /// instance that prepared the answer tied that record to the log; this one checks that the
    /// copy carries a record the registry signed, which trusts Redis no further than its bytes.
    fn rebuilt_record(
        &self,
        number: &CertificateNumber,
        copy: &SharedAnswer,
    ) -> Result<Arc<CertificateRecord>, String> {
        let signed = &copy.signed;
        let record: CertificateRecord =
            serde_json::from_slice(&signed.record).map_err(|e| format!("the record does not parse: {e}"))?;
        let signature: Signature =
            serde_json::from_slice(&signed.signature).map_err(|e| format!("the signature does not parse: {e}"))?;
        if record.number != *number || record.version != copy.prepared.version {
            return Err(format!(
                "the record is version {} of {}, the answer version {} of {}",
                record.version,
                record.number.as_str(),
                copy.prepared.version,
                number.as_str()
            ));
        }
        self.verifier
            .verify(&signed.record, &signature)
            .map_err(|e| format!("the record signature does not verify ({e})"))?;
        Ok(Arc::new(record))
    }

    /// Reads the certificate and renders its answer, with a fresh status assertion; `None`
    /// when there is no such certificate.
    async fn prepare_answer(&self, number: &CertificateNumber) -> Result<Option<Fresh>, RegistryError> {
        let read_path = self.read_path()?;
        read_path.prepared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Nothing is signed or rendered until the record is tied to the log (backing.rs); a
        // write landing between the reads is met by reading again.
        let mut looks = super::backing::Looks::default();
        let (certificate, log) = loop {
            let Some(row) = self.store.get(number).await? else {
                return Ok(None);
            };
            if let Some(refusal) = self.standing_refusal(&row) {
                return Err(refusal);
            }
            let log = self.log_proof(number, row.signed.record.version).await?;
            let next = looks.note(row.signed.record.version, self.head_version(number.as_str()));
            if self.confirm_answer(&row, log.as_ref(), next == super::backing::Next::Stuck).await? {
                break (row.signed, log);
            }
            if next == super::backing::Next::Exhausted {
                return Err(RegistryError::Conflict(number.to_string()));
            }
            looks.pause().await;
        };
        let produced_at = clock::now();
        let assertion = StatusAssertion {
            number: number.to_string(),
            version: certificate.record.version,
            state: certificate.record.state_on(clock::date_in_china(produced_at)),
            produced_at,
            next_update: read_path
                .next_update(produced_at, rand::Rng::gen_range(&mut rand::thread_rng(), 0.0..MAX_SHORTENING)),
        };
        let canonical = canonical_bytes(&assertion).map_err(|e| RegistryError::Internal(e.to_string()))?;
        let signed = SignedAssertion { signature: self.signer.sign(&canonical), assertion };
        let body = read_path.format.render(&certificate, log.as_ref(), &signed).map_err(RegistryError::Internal)?;
        // Weak: the bytes change with every assertion, the meaning only with the version, the
        // state in force and the checkpoint the proof is against.
        let digest = Sha256::digest(certificate.canonical.as_bytes());
        let etag = format!(
            "W/\"{}-{}-{}-{}\"",
            certificate.record.version,
            signed.assertion.state,
            log.as_ref().map_or(0, |l| l.checkpoint.checkpoint.size),
            hex::encode(&digest[..6])
        );
        // Copied into a buffer exactly as long as the ETag and the packed answer: a rendered body's
        // spare capacity (up to half of it) would otherwise stay allocated as long as it is cached.
        let dictionary = match &log {
            Some(log) => {
                let render_hashes = |hashes: &[Hash]| read_path.format.render_hashes(hashes);
                self.answer_dictionary(&read_path.dictionaries, render_hashes, log, &body)
            }
            None => crate::cache::packing::default_dictionary(&body),
        };
        let prepared =
            Prepared::packed_with(&body, &etag, certificate.record.version, signed.assertion.next_update, dictionary)
                .ok_or_else(|| RegistryError::Internal("an ETag that is no header value".into()))?;
        // The record's text and signature go to Redis beside the answer and are not kept here:
        // the packed answer holds the text once, and L1 the parsed record.
        let SignedCertificate { record, canonical, signature, .. } = certificate;
        let signature = serde_json::to_vec(&signature).map_err(|e| RegistryError::Internal(e.to_string()))?;
        let parts = SignedParts { record: canonical.into_bytes(), signature };
        Ok(Some(Fresh { prepared, record: Arc::new(record), signed: parts }))
    }

    /// After a committed change: prepare the new answer, replace it in both tiers and tell the
    /// other instances. Failures here never undo the change: when the new answer cannot be
    /// prepared or shared, the old one is dropped from both tiers, so the instances told of the
    /// change read the store instead of finding the old answer in Redis.
    pub(crate) async fn answer_changed(&self, number: &CertificateNumber) {
        let Some(read_path) = &self.read_path else { return };
        let key = number.as_str();
        match self.prepare_answer(number).await {
            Ok(fresh) => {
                let held = match fresh {
                    Some(fresh) => {
                        if let Some(shared) = &read_path.tiers.shared {
                            if !shared.put(key, &fresh.prepared, &fresh.signed).await {
                                shared.forget(key).await;
                            }
                        }
                        // Changes are rare next to scans, and the next scan of this certificate
                        // keeps the record; until then the answer weighs its bytes alone.
                        Held::Answer(fresh.prepared, None)
                    }
                    None => Held::Absent,
                };
                read_path.tiers.local.replace(key, held).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, number = key, "could not prepare the new answer; dropping the old one");
                read_path.tiers.local.forget(key).await;
                if let Some(shared) = &read_path.tiers.shared {
                    shared.forget(key).await;
                }
            }
        }
        if let Some(shared) = &read_path.tiers.shared {
            shared.announce(key).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{AnswerCache, CacheSettings};

    #[test]
    fn next_update_is_the_lifetime_away_but_never_past_midnight_in_china() {
        let tiers = Tiers { local: AnswerCache::new(CacheSettings::default()), shared: None };
        let format = Arc::new(crate::http::answer_json::JsonAnswers);
        let read_path = ReadPath::new(tiers, format, Duration::from_secs(3600));
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("instant");
        // 10:00 in China: an hour on, less the random shortening (at most a tenth).
        assert_eq!(read_path.next_update(at("2026-11-27T02:00:00Z"), 0.0), at("2026-11-27T03:00:00Z"));
        assert_eq!(read_path.next_update(at("2026-11-27T02:00:00Z"), 0.05), at("2026-11-27T02:57:00Z"));
        assert_eq!(read_path.next_update(at("2026-11-27T02:00:00Z"), 0.5), at("2026-11-27T02:54:00Z"));
        // 23:30 in China: the day ends first.
        assert_eq!(read_path.next_update(at("2026-11-27T15:30:00Z"), 0.0), at("2026-11-27T16:00:00Z"));
    }
}
