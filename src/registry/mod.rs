//! The application service and the only writer: every issue and change goes through here, is
//! checked by the domain, signed, and stored with its event in one transaction.
//!
//! The folders hold one job each, so a change finds its room in one look: `lifecycle/` changes
//! certificates, `read/` prepares and refreshes the public answers, `scan/` answers and counts
//! scans of marks, `log/` keeps the transparency log, `procurement/` checks bidder lists and
//! signs receipts. What every job relies on sits here: the `Registry`, its errors and clock, and
//! the check that ties a stored row to the log before anything is served (`backing.rs`).

mod backing;
pub mod clock;
mod credentials;
mod error;
mod history;
pub mod integrator_keys;
mod lifecycle;
mod log;
mod procurement;
mod read;
pub mod readiness;
mod scan;
pub mod search_index;
pub mod staff;
mod tokens;
mod unconfirmed;

use std::sync::Arc;

pub use backing::TamperReport;
pub use error::{RegistryError, StoreFailure};
pub use history::HistoryEvent;
pub use lifecycle::{parse_csv, Change, ImportReport, ImportRow, RowError, CSV_COLUMNS};
pub use log::changes::{ChangePage, LoggedChange, MAX_CHANGES_PAGE};
pub use log::{audit, origin, LogProof};
pub use procurement::{quota, receipt, verify};
pub use read::answer::{
    AnswerBytes, AnswerFormat, PublicAnswer, ReadPath, SignedAssertion, StatusAssertion, DEFAULT_ANSWER_LIFETIME,
};
pub use read::products::MAX_PRODUCT_CERTIFICATES;
pub use read::watch;
pub use scan::{
    CounterFigures, PreparedDigests, ScanClient, ScanCounter, ScanNote, ScanOutcome, Verdict, SUSPICIOUS_SCANS,
};
pub use tokens::{AuthError, Principal, TOKEN_PREFIX};

pub use crate::cache::mark_digests::LOAD_AFTER as DIGEST_INDEX_LOAD_AFTER;

use crate::cache::mark_digests::MarkDigests;
use crate::crypto::SignedCertificate;
use crate::crypto::{canonical_bytes, Signer, TrustList, Verifier};
use crate::domain::SearchQuery;
use crate::domain::{CertificateNumber, CertificateRecord, Issuer};
use crate::store::{SignedRecord, Store};

/// Receipts per minute per instance unless configured: ten a second, far above what tender
/// offices ask for, far below what would strain the disk.
pub const DEFAULT_RECEIPTS_PER_MINUTE: u32 = 600;

/// The registry service, shared by the HTTP handlers and the CLI.
pub struct Registry {
    store: Arc<dyn Store>,
    signer: Signer,
    verifier: Verifier,
    issuer: Issuer,
    trust_list: TrustList,
    public_url: String,
    scans: Arc<ScanCounter>,
    /// Turns a scan's client into the scanner the public figure counts.
    scanner_key: scan::ScannerKey,
    log: log::TransparencyLog,
    read_path: Option<ReadPath>,
    receipt_quota: quota::Quota,
    /// Tokens whose signature was found bad a moment ago, refused again without verifying.
    refusals: crate::cache::refusals::RefusalCache<crate::crypto::token::TokenError>,
    /// Digest indexes of mark batches: fresh tokens scanned without a signature verification.
    mark_digests: MarkDigests,
    /// Ed25519 verifications done by scans since start.
    signatures_verified: std::sync::atomic::AtomicU64,
    /// The last answer of the store to the readiness question (see `readiness.rs`).
    store_check: readiness::StoreCheck,
    /// Set when the server stops: long background work (a digest index build) gives up rather
    /// than hold the process's exit for a result nobody would keep.
    stopping: std::sync::atomic::AtomicBool,
    /// Searches answered from memory (see `search_index`).
    search_index: search_index::SearchIndex,
    /// The console's staff and sessions (see `staff`).
    console: staff::Console,
}

impl Registry {
    pub fn new(
        store: Arc<dyn Store>,
        signer: Signer,
        verifier: Verifier,
        issuer: Issuer,
        trust_list: TrustList,
    ) -> Self {
        let scans = Arc::new(ScanCounter::new(store.clone()));
        let scanner_key = scan::ScannerKey::derive(&signer);
        let log = log::TransparencyLog::new("starmark-log", &signer).expect("a constant, valid log name");
        let console = staff::Console::new(store.clone(), staff::ConsoleSettings::default());
        Self {
            console,
            store,
            signer,
            verifier,
            issuer,
            trust_list,
            public_url: String::new(),
            scans,
            scanner_key,
            log,
            read_path: None,
            receipt_quota: quota::Quota::per_minute(DEFAULT_RECEIPTS_PER_MINUTE),
            refusals: crate::cache::refusals::RefusalCache::new(crate::cache::refusals::DEFAULT_REFUSAL_LIFETIME),
            mark_digests: MarkDigests::new(crate::cache::mark_digests::DEFAULT_CACHE_BYTES),
            signatures_verified: std::sync::atomic::AtomicU64::new(0),
            store_check: readiness::StoreCheck::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            search_index: search_index::SearchIndex::new(search_index::DEFAULT_MAX_CERTIFICATES),
        }
    }

    /// Sets how long console sessions live and the issuer authenticator apps show
    /// (`STARMARK_SESSION_IDLE_SECS`, `STARMARK_SESSION_MAX_SECS`).
    pub fn with_console_settings(mut self, settings: staff::ConsoleSettings) -> Self {
        self.console = staff::Console::new(self.store.clone(), settings);
        self
    }

    /// The console's staff and sessions.
    pub fn console(&self) -> &staff::Console {
        &self.console
    }

    /// Tells long background work to give up: the server is stopping.
    pub fn stop_background_work(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Bounds how many receipts (of up to 4 KiB, a larger one counting once per started 4 KiB)
    /// anyone may have issued per minute (`STARMARK_RECEIPTS_PER_MINUTE`).
    pub fn with_receipt_quota(mut self, per_minute: u32) -> Self {
        self.receipt_quota = quota::Quota::per_minute(per_minute);
        self
    }

    /// Bounds the search index's memory: at most `max` certificates (`STARMARK_SEARCH_INDEX_MAX`;
    /// 0 keeps no index), beyond which the store answers searches.
    pub fn with_search_index_max(mut self, max: u64) -> Self {
        self.search_index = search_index::SearchIndex::new(max);
        self
    }

    /// Sets the base URL printed into QR codes (`STARMARK_PUBLIC_URL`); the log origin becomes
    /// its host + `/starmark-log` unless [`Registry::with_log_origin`] is called afterwards.
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = public_url.trim_end_matches('/').to_string();
        if let Ok(log) = log::TransparencyLog::new(&crate::tlog::default_origin(&self.public_url), &self.signer) {
            self.log = log;
        }
        self
    }

    /// Names the transparency log (`STARMARK_LOG_ORIGIN`): the checkpoint origin and note key name.
    pub fn with_log_origin(mut self, origin: &str) -> Result<Self, crate::tlog::NoteError> {
        self.log = log::TransparencyLog::new(origin, &self.signer)?;
        Ok(self)
    }

    /// The scan counter, for the background flush and for shutdown.
    pub fn scans(&self) -> Arc<ScanCounter> {
        self.scans.clone()
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The public URL marks are printed under (`STARMARK_PUBLIC_URL`), without a final `/`:
    /// the root of the GS1 resolver's absolute links.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn trust_list(&self) -> &TrustList {
        &self.trust_list
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Signs one record version over its canonical bytes.
    fn sign(&self, record: CertificateRecord) -> Result<SignedRecord, RegistryError> {
        let canonical = canonical_bytes(&record).map_err(|e| RegistryError::Internal(e.to_string()))?;
        let signature = self.signer.sign(&canonical);
        Ok(SignedRecord { record, canonical, signature })
    }

    /// The current version of a certificate, once it is tied to the transparency log.
    pub async fn get(&self, number: &CertificateNumber) -> Result<SignedCertificate, RegistryError> {
        let certificate = self.store.get(number).await?.ok_or_else(|| RegistryError::NotFound(number.to_string()))?;
        self.confirmed(certificate).await
    }

    /// A page of certificates matching `query`, plus whether more follow: from the search index
    /// when it is built and current, else from the store.
    pub async fn search(&self, query: &SearchQuery) -> Result<(Vec<SignedCertificate>, bool), RegistryError> {
        if let Some(found) = self.search_with_index(query).await? {
            return Ok(found);
        }
        self.search_in_store(query).await
    }

    /// The same page asked of the store: the reference the search index answers like.
    pub async fn search_in_store(&self, query: &SearchQuery) -> Result<(Vec<SignedCertificate>, bool), RegistryError> {
        let mut probe = query.clone();
        probe.limit = query.limit.saturating_add(1);
        let mut items = self.store.search(&probe).await?;
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let mut confirmed = Vec::with_capacity(items.len());
        for item in items {
            confirmed.push(self.confirmed(item).await?);
        }
        Ok((confirmed, more))
    }

    pub async fn count(&self) -> Result<u64, RegistryError> {
        Ok(self.store.count_certificates().await?)
    }
}
