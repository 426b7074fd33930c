//! Prepared public answers: the bytes of `GET /api/v1/certificates/{number}`, made once when a
//! certificate changes (or when a cached copy expires) and then served as they are.
//!
//! The read path asks L1, then L2 (Redis, when configured), then the store; the write path
//! prepares the new answer right after its transaction commits, replaces both tiers and
//! announces the change so every other instance drops its copy. The JSON shape belongs to the
//! HTTP layer, which hands the registry an [`AnswerFormat`] at start.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::dictionaries::AnswerDictionaries;
use super::log::LogProof;
use super::{clock, Registry, RegistryError};
use crate::cache::shared::Tiers;
use crate::cache::{Cached, Loaded, Prepared};
use crate::crypto::{canonical_bytes, Signature, SignedCertificate};
use crate::domain::{CertificateNumber, State};
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
}

/// Renders the public JSON of a certificate; implemented by the HTTP layer.
pub trait AnswerFormat: Send + Sync {
    fn render(
        &self,
        certificate: &SignedCertificate,
        log: Option<&LogProof>,
        assertion: &SignedAssertion,
    ) -> Result<Vec<u8>, String>;

    /// The signed certificate an answer was rendered from, read back from its bytes: the scan
    /// path judges marks by the cached answer instead of asking the store each time.
    fn read_back(&self, body: &[u8]) -> Result<SignedCertificate, String>;

    /// Log hashes as an answer's inclusion proof shows them: packing dictionaries hold the
    /// nodes answers share in this form, so that the packer finds them.
    fn render_hashes(&self, hashes: &[Hash]) -> Vec<u8>;
}

/// Certificates read back from answers, kept at most this many: scans come in bursts for the
/// certificates on the shelves, and each such certificate is read back from its answer once.
const READ_BACKS_KEPT: u64 = 10_000;

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
    /// By number: the ETag of the answer a certificate was read back from, and the certificate.
    /// The same ETag means the same record version, state and digest, so the same certificate.
    read_backs: moka::sync::Cache<String, (String, Arc<SignedCertificate>)>,
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
        let read_backs = moka::sync::Cache::new(READ_BACKS_KEPT);
        let dictionaries = Arc::default();
        Self { tiers, format, prepared: Arc::default(), answer_lifetime, read_backs, dictionaries }
    }

    /// The `next_update` of an answer produced at `produced_at`: the lifetime on, less a random
    /// `shortening` fraction of it (answers prepared together, as at start, would otherwise all
    /// run out together and be prepared again in one burst), and never past midnight in China.
    fn next_update(&self, produced_at: DateTime<Utc>, shortening: f64) -> DateTime<Utc> {
        let lifetime = self.answer_lifetime.mul_f64(1.0 - shortening.clamp(0.0, MAX_SHORTENING));
        let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
        (produced_at + lifetime).min(clock::next_midnight_in_china(produced_at))
    }

    /// The certificate `prepared` was rendered from, read back once per answer.
    fn read_back(&self, key: &str, prepared: &Prepared) -> Result<Arc<SignedCertificate>, String> {
        if let Some((etag, certificate)) = self.read_backs.get(key) {
            if etag == prepared.etag() {
                return Ok(certificate);
            }
        }
        let body = prepared.body().ok_or("a prepared answer did not unpack")?;
        let certificate = Arc::new(self.format.read_back(&body)?);
        self.read_backs.insert(key.to_string(), (prepared.etag().to_string(), Arc::clone(&certificate)));
        Ok(certificate)
    }
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
        Box::pin(self.load_public_answer(read_path, number)).await
    }

    /// [`Registry::public_answer`] on a miss of the read index: L1 (moka), L2, then the store.
    async fn load_public_answer(
        &self,
        read_path: &ReadPath,
        number: &CertificateNumber,
    ) -> Result<Cached, RegistryError> {
        let key = number.as_str();
        let load = async {
            if let Some(shared) = &read_path.tiers.shared {
                if let Some(prepared) = shared.get(key).await {
                    return Ok(Loaded { value: Cached::Answer(prepared), from_store: false });
                }
            }
            let cached = self.prepare_answer(number).await?;
            if let (Some(shared), Cached::Answer(prepared)) = (&read_path.tiers.shared, &cached) {
                shared.put(key, prepared).await;
            }
            Ok::<_, RegistryError>(Loaded { value: cached, from_store: true })
        };
        read_path.tiers.local.get_or_load(key, load).await.map_err(|e| match Arc::try_unwrap(e) {
            Ok(error) => error,
            Err(shared) => shared.relayed(),
        })
    }

    /// The certificate as the read path has it (L1, L2, then the store, with the same freshness
    /// rules as `GET`), or `None` when there is no such certificate. Without a read path (the
    /// CLI), straight from the store.
    pub(crate) async fn current_certificate(
        &self,
        number: &CertificateNumber,
    ) -> Result<Option<Arc<SignedCertificate>>, RegistryError> {
        let Some(read_path) = &self.read_path else {
            return Box::pin(self.confirmed_from_store(number)).await;
        };
        match self.cached_answer(number).await? {
            Cached::Absent => Ok(None),
            Cached::Answer(prepared) => match read_path.read_back(number.as_str(), &prepared) {
                Ok(certificate) => Ok(Some(certificate)),
                // An answer another version of the service put in Redis, say during an upgrade:
                // the store still knows.
                Err(e) => {
                    tracing::warn!(number = number.as_str(), error = %e, "a prepared answer does not read back; asking the store");
                    Box::pin(self.confirmed_from_store(number)).await
                }
            },
        }
    }

    /// The certificate straight from the store, once tied to the log. Awaited boxed: the check
    /// may catch the log up, a future the scan's would otherwise carry inline.
    async fn confirmed_from_store(
        &self,
        number: &CertificateNumber,
    ) -> Result<Option<Arc<SignedCertificate>>, RegistryError> {
        match self.store.get(number).await? {
            Some(certificate) => Ok(Some(Arc::new(self.confirmed(certificate).await?))),
            None => Ok(None),
        }
    }

    /// Reads the certificate and renders its answer, with a fresh status assertion.
    async fn prepare_answer(&self, number: &CertificateNumber) -> Result<Cached, RegistryError> {
        let read_path = self.read_path()?;
        read_path.prepared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Nothing is signed or rendered until the record is tied to the log (backing.rs); a
        // write landing between the reads is met by reading again.
        let mut looks = super::backing::Looks::default();
        let (certificate, log) = loop {
            let Some(row) = self.store.get(number).await? else {
                return Ok(Cached::Absent);
            };
            if let Some(refusal) = self.standing_refusal(&row) {
                return Err(refusal);
            }
            let log = self.log_proof(number.as_str(), row.signed.record.version).await?;
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
            Some(log) => self.answer_dictionary(read_path, log, &body),
            None => crate::cache::packing::default_dictionary(&body),
        };
        let prepared =
            Prepared::packed_with(&body, &etag, certificate.record.version, signed.assertion.next_update, dictionary)
                .ok_or_else(|| RegistryError::Internal("an ETag that is no header value".into()))?;
        Ok(Cached::Answer(prepared))
    }

    /// After a committed change: prepare the new answer, replace it in both tiers and tell the
    /// other instances. Failures here never undo the change: when the new answer cannot be
    /// prepared or shared, the old one is dropped from both tiers, so the instances told of the
    /// change read the store instead of finding the old answer in Redis.
    pub(crate) async fn answer_changed(&self, number: &CertificateNumber) {
        let Some(read_path) = &self.read_path else { return };
        let key = number.as_str();
        match self.prepare_answer(number).await {
            Ok(cached) => {
                if let (Some(shared), Cached::Answer(prepared)) = (&read_path.tiers.shared, &cached) {
                    if !shared.put(key, prepared).await {
                        shared.forget(key).await;
                    }
                }
                read_path.tiers.local.replace(key, cached).await;
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cache::{AnswerCache, CacheSettings};
    use crate::crypto::KeyId;
    use crate::domain::certificate::tests::{draft, issuer};
    use crate::domain::{CertificateNumber, CertificateRecord};

    /// Reads back one fixed certificate and counts how often it was asked to.
    struct Counting {
        certificate: SignedCertificate,
        read_backs: AtomicUsize,
    }

    impl AnswerFormat for Counting {
        fn render(&self, _: &SignedCertificate, _: Option<&LogProof>, _: &SignedAssertion) -> Result<Vec<u8>, String> {
            Err("not used".into())
        }

        fn read_back(&self, _body: &[u8]) -> Result<SignedCertificate, String> {
            self.read_backs.fetch_add(1, Ordering::SeqCst);
            Ok(self.certificate.clone())
        }

        fn render_hashes(&self, _: &[Hash]) -> Vec<u8> {
            Vec::new()
        }
    }

    #[test]
    fn an_answer_is_read_back_once_and_again_when_it_changes() {
        let record = CertificateRecord::issue(draft(), CertificateNumber::assigned(2026, 7), issuer(), clock::today())
            .expect("record");
        let signature = Signature {
            alg: "Ed25519".into(),
            key_id: KeyId::parse("0123456789abcdef").expect("key id"),
            value: "c2lnbmF0dXJl".into(),
        };
        let certificate = SignedCertificate { record, canonical: "{}".into(), signature, updated_at: clock::now() };
        let format = Arc::new(Counting { certificate, read_backs: AtomicUsize::new(0) });
        let tiers = Tiers { local: AnswerCache::new(CacheSettings::default()), shared: None };
        let read_path = ReadPath::new(tiers, format.clone(), DEFAULT_ANSWER_LIFETIME);
        let next_update = clock::now() + chrono::Duration::hours(1);
        let answer = |etag: &str| Prepared::new(b"{}", etag, 1, next_update).expect("ETag");

        let first = answer("W/\"1-valid-1-aa\"");
        for _ in 0..3 {
            read_path.read_back("SM1", &first).expect("reads back");
        }
        assert_eq!(format.read_backs.load(Ordering::SeqCst), 1, "one read-back per answer");
        read_path.read_back("SM1", &answer("W/\"2-suspended-2-bb\"")).expect("reads back");
        assert_eq!(format.read_backs.load(Ordering::SeqCst), 2, "a changed answer is read back afresh");
        read_path.read_back("SM2", &first).expect("reads back");
        assert_eq!(format.read_backs.load(Ordering::SeqCst), 3, "keys are kept apart");
    }

    #[test]
    fn next_update_is_the_lifetime_away_but_never_past_midnight_in_china() {
        let tiers = Tiers { local: AnswerCache::new(CacheSettings::default()), shared: None };
        let format = Arc::new(crate::http::answers::JsonAnswers);
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
