//! Persistence. Every change is an append-only event carrying the signed record version, written
//! in one transaction with the current state it produces; nothing is updated without its event.
//!
//! [`Store`] is the seam: the registry talks only to the trait, so the embedded SQLite store and
//! the PostgreSQL one are interchangeable without touching callers; [`open`] picks one from the
//! database URL.

mod columns;
mod compact_tally;
mod dialect;
mod leaves;
mod postgres;
mod scan_chunks;
mod scan_deltas;
mod sqlite;
pub mod staff;
pub mod tlog;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::crypto::{Signature, SignedCertificate};
use crate::domain::{
    CertificateNumber, CertificateRecord, EventKind, Gtin, Role, ScanTally, ScannerSet, SearchQuery, SerialKey, Uscc,
};

pub use compact_tally::CompactTally;
pub use postgres::{display_url, PostgresStore};
pub use scan_deltas::{BatchScans, ScanDeltas, SerialScans};
pub use sqlite::SqliteStore;
pub use staff::{LoginFailures, NewStaff, StaffStore, StoredSession, StoredStaff};
pub use tlog::{LeafRow, LogEntry, LogStore, LoggedEvent, RawCertificate, RawEvent, StoredCheckpoint};

/// A record version with its canonical bytes and the signature over them.
#[derive(Clone, Debug)]
pub struct SignedRecord {
    pub record: CertificateRecord,
    /// Exactly the bytes that were signed (canonical JSON).
    pub canonical: Vec<u8>,
    pub signature: Signature,
}

/// An event about to be stored: who did what when, and the record version it produced.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: EventKind,
    /// Token id (or `cli:<user>`) of whoever ordered the change.
    pub actor: String,
    pub at: DateTime<Utc>,
    /// Free-form details of the action (reason, dates), shown in the history.
    pub details: serde_json::Value,
    pub signed: SignedRecord,
}

/// An event as read back from the log.
#[derive(Clone, Debug, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub number: CertificateNumber,
    pub version: u32,
    pub kind: EventKind,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub details: serde_json::Value,
    /// The signed record version as canonical JSON text.
    #[serde(skip)]
    pub record: String,
    pub signature: Signature,
}

/// The current-state row of a certificate: its signed version, and the row's own copies of
/// record fields. The registry compares the columns with the signed record before it hands the
/// version upward, since an edit of them alone would otherwise steer searches unseen.
#[derive(Clone, Debug)]
pub struct StoredCertificate {
    /// The record version as signed: what the registry hands upward once it is confirmed.
    pub signed: SignedCertificate,
    /// The row's search columns, which only the registry's tamper check reads.
    pub columns: RowColumns,
}

/// The search columns of a current-state row: copies of fields of its signed record, kept so
/// that the database can filter and index them. Only the record is signed, so these are what an
/// insider would edit to steer a search without breaking a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowColumns {
    pub number: String,
    pub version: u32,
    pub holder_name: String,
    pub holder_name_en: Option<String>,
    pub uscc: String,
    pub level: String,
    pub state: String,
    /// `YYYY-MM-DD`.
    pub valid_until: String,
}

impl RowColumns {
    /// The columns a row of `record` must hold.
    pub fn of(record: &CertificateRecord) -> Self {
        Self {
            number: record.number.to_string(),
            version: record.version,
            holder_name: record.holder.name.clone(),
            holder_name_en: record.holder.name_en.clone(),
            uscc: record.holder.uscc.to_string(),
            level: record.level.as_str().to_string(),
            state: record.status.state.as_str().to_string(),
            valid_until: record.valid_until.to_string(),
        }
    }

    /// The first column that says something else than `record`, in words; `None` when all agree.
    pub fn astray_from(&self, record: &CertificateRecord) -> Option<String> {
        let signed = Self::of(record);
        let differs = |name: &str, row: &dyn std::fmt::Debug, signed: &dyn std::fmt::Debug| {
            Some(format!("the row's `{name}` column says {row:?}, its signed record {signed:?}"))
        };
        if self.number != signed.number {
            return differs("number", &self.number, &signed.number);
        }
        if self.version != signed.version {
            return differs("version", &self.version, &signed.version);
        }
        if self.state != signed.state {
            return differs("state", &self.state, &signed.state);
        }
        if self.valid_until != signed.valid_until {
            return differs("valid_until", &self.valid_until, &signed.valid_until);
        }
        if self.level != signed.level {
            return differs("level", &self.level, &signed.level);
        }
        if self.uscc != signed.uscc {
            return differs("uscc", &self.uscc, &signed.uscc);
        }
        if self.holder_name != signed.holder_name {
            return differs("holder_name", &self.holder_name, &signed.holder_name);
        }
        if self.holder_name_en != signed.holder_name_en {
            return differs("holder_name_en", &self.holder_name_en, &signed.holder_name_en);
        }
        None
    }
}

/// An API token as stored: never the secret, only its SHA-256.
#[derive(Clone, Debug)]
pub struct StoredToken {
    pub id: String,
    pub role: Role,
    pub secret_hash: Vec<u8>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An integrator key as stored: never the secret, only its SHA-256.
#[derive(Clone, Debug)]
pub struct StoredIntegratorKey {
    pub id: String,
    pub label: String,
    pub secret_hash: Vec<u8>,
    /// The key's own rate (see `crate::limits::integrators`).
    pub rate: crate::limits::Policy,
    pub created_at: DateTime<Utc>,
    /// Written at most about once a minute per key, so up to a minute behind.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A signed verification receipt as stored: its id, when it was issued, and the canonical JSON
/// text of the whole document (`{"receipt": ..., "signature": ...}`), served back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    pub id: String,
    pub issued_at: DateTime<Utc>,
    pub document: String,
}

impl StoredReceipt {
    /// After an insert found this receipt's id taken by `stored`: the same document again is
    /// fine (ids are derived from the documents); another one under the id means corruption.
    pub(crate) fn same_as(&self, stored: Option<&StoredReceipt>) -> Result<(), StoreError> {
        if stored.map(|r| r.document.as_str()) != Some(self.document.as_str()) {
            return Err(StoreError::Corrupt(format!("receipt id {} is taken by another document", self.id)));
        }
        Ok(())
    }
}

/// The mark digest index of one batch (docs/format.md, "Mark digest indexes"): 8 bytes per
/// serial, serial 1 first, each the start of SHA-256(`salt` || token). The salt is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMarkDigests {
    pub number: CertificateNumber,
    pub batch: u32,
    /// Key id (hex) of the key that signed the tokens.
    pub key_id: String,
    pub salt: Vec<u8>,
    pub tags: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// Storage failures. Conflicts are the caller's business; outages ([`StoreError::is_unavailable`])
/// pass and are worth a retry; everything else is a server fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("certificate {0} already exists")]
    Duplicate(String),
    #[error("certificate {number} changed meanwhile (expected version {expected})")]
    VersionConflict { number: String, expected: u32 },
    #[error("certificate {0} not found")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Unsupported(String),
    /// The database server could not be reached or refused us; the message says what to do.
    #[error("{0}")]
    Unreachable(String),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database is out of reach or too busy right now (no connection, a server
    /// shutting down or out of connections, a lock not granted in time), rather than refusing
    /// this request or holding bad data: the client should retry, so the API answers 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unreachable(_) => true,
            StoreError::Database(error) => match error {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    let Some(code) = db.code() else { return false };
                    if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                        postgres_unavailable(&code)
                    } else {
                        sqlite_unavailable(&code)
                    }
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// SQLSTATEs that mean "not now" rather than "not this": connection exceptions, insufficient
/// resources (too many connections, disk full), shutdowns, `lock_not_available`.
fn postgres_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03" | "55P03")
}

/// SQLite result codes (numbers, extended codes carrying the primary one in their low byte) that
/// mean "not now": BUSY and LOCKED.
fn sqlite_unavailable(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// The persistence operations the registry needs; [`LogStore`] holds the transparency log's,
/// [`StaffStore`] the console's.
#[async_trait]
pub trait Store: LogStore + StaffStore + Send + Sync + 'static {
    /// Stores new certificates with their issue events, all or nothing. Numbers that already
    /// exist are refused with [`StoreError::Duplicate`].
    async fn insert_new(&self, events: &[NewEvent]) -> Result<(), StoreError>;

    /// Appends a change to an existing certificate whose current version must still be
    /// `expected_version`; otherwise [`StoreError::VersionConflict`].
    ///
    /// Both writes also append each event's transparency-log leaf in the same transaction.
    async fn append(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError>;

    /// Which of `numbers` are already taken.
    async fn existing_numbers(&self, numbers: &[CertificateNumber]) -> Result<Vec<CertificateNumber>, StoreError>;

    async fn get(&self, number: &CertificateNumber) -> Result<Option<StoredCertificate>, StoreError>;

    /// The current versions of those of `numbers` that exist, in no particular order: one
    /// page of search results read in one query.
    async fn get_many(&self, numbers: &[CertificateNumber]) -> Result<Vec<StoredCertificate>, StoreError>;

    /// Up to `query.limit` certificates in number order.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<StoredCertificate>, StoreError>;

    /// All events of one certificate, oldest first.
    async fn history(&self, number: &CertificateNumber) -> Result<Vec<StoredEvent>, StoreError>;

    /// Up to `limit` events after sequence number `after`, oldest first, as (sequence number,
    /// certificate number, version): how every instance learns of changes from the store itself.
    /// Events become visible in sequence order (one writer at a time), so a reader that has seen
    /// event `n` has seen every event before it.
    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, CertificateNumber, u32)>, StoreError>;

    /// The sequence number of the latest event (0 when there is none).
    async fn last_event_seq(&self) -> Result<i64, StoreError>;

    /// Reserves `count` consecutive sequence numbers for `year`, returning the first.
    async fn reserve_sequence(&self, year: i32, count: u64) -> Result<u64, StoreError>;

    async fn count_certificates(&self) -> Result<u64, StoreError>;

    /// How many certificates the holder with this USCC has, in any state: what a bulk answer
    /// that lists only some of them says it left out.
    async fn count_holder_certificates(&self, uscc: &Uscc) -> Result<u64, StoreError>;

    /// Asks the database the cheapest question there is, to tell whether it answers at all.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Adds scan counts (merging first and last times) in one transaction; returns the bytes of
    /// tallies it wrote (see `scan_chunks.rs`: what the write load of scans comes to).
    async fn add_scans(&self, deltas: &ScanDeltas) -> Result<u64, StoreError>;
    /// The stored tally of one serial.
    async fn scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError>;
    /// The most scanned serials of a certificate, most first, with the total of all scans.
    async fn scan_summary(
        &self,
        number: &CertificateNumber,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError>;

    async fn insert_token(&self, token: &StoredToken) -> Result<(), StoreError>;
    async fn find_token(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError>;
    /// Marks a token revoked; returns false when there is no such live token.
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    async fn insert_integrator_key(&self, key: &StoredIntegratorKey) -> Result<(), StoreError>;
    async fn find_integrator_key(&self, id: &str) -> Result<Option<StoredIntegratorKey>, StoreError>;
    /// Every key, the oldest first.
    async fn list_integrator_keys(&self) -> Result<Vec<StoredIntegratorKey>, StoreError>;
    /// Marks a key revoked; returns false when there is no such live key.
    async fn revoke_integrator_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records the keys' last uses; a use older than the one stored changes nothing.
    async fn record_integrator_key_uses(&self, uses: &[(&str, DateTime<Utc>)]) -> Result<(), StoreError>;

    /// Keeps a verification receipt for good (append-only); the same receipt twice is a no-op.
    async fn put_receipt(&self, receipt: &StoredReceipt) -> Result<(), StoreError>;
    /// A stored receipt by id.
    async fn get_receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError>;

    // Mark digest indexes (see [`StoredMarkDigests`]).
    /// Stores the digest index of a batch, replacing any earlier one of the same batch.
    async fn put_mark_digests(&self, digests: &StoredMarkDigests) -> Result<(), StoreError>;
    /// The digest index of batch `batch` of certificate `number`, if one was stored.
    async fn get_mark_digests(
        &self,
        number: &CertificateNumber,
        batch: u32,
    ) -> Result<Option<StoredMarkDigests>, StoreError>;
    /// Every (certificate, batch) whose current record lists the batch and that has no stored
    /// digest index, in certificate and batch order.
    async fn batches_without_digests(&self) -> Result<Vec<(CertificateNumber, u32)>, StoreError>;

    // Products: which certificates have marks bound to a GTIN.
    /// The certificates the product index (`product_certificates`, kept with each change) names
    /// for `gtin`, in number order, at most `limit` of them: one indexed read, whatever the size
    /// of the registry. The index is not signed; the registry checks each against its record.
    async fn numbers_with_gtin(&self, gtin: &Gtin, limit: u32) -> Result<Vec<CertificateNumber>, StoreError>;

    // Scan seeds: which serials already have a stored tally, read once per batch.
    /// The serials of batch `batch` of certificate `number` that have a stored scan tally, in
    /// serial order (one query for the whole batch).
    async fn scanned_serials(&self, number: &CertificateNumber, batch: u32) -> Result<Vec<u32>, StoreError>;

    // Distinct scanners (see `domain::scans`), kept beside the request tallies.
    /// Adds each set to the serial's stored one (a union: sending a set twice changes nothing),
    /// in one transaction.
    async fn add_scanners(&self, sets: &[(SerialKey, ScannerSet)]) -> Result<(), StoreError>;
    /// The stored distinct scanners of a serial; `None` when none were counted (or the stored
    /// value is damaged, which is logged).
    async fn scanners(&self, key: &SerialKey) -> Result<Option<ScannerSet>, StoreError>;
    /// A serial's stored tally and distinct scanners together, in one query: what a scan of a
    /// serial the counter no longer holds in memory reads.
    async fn scan_history(&self, key: &SerialKey) -> Result<(Option<ScanTally>, Option<ScannerSet>), StoreError>;
}

/// Whether `url` names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the store named by a database URL: `postgres://` or `postgresql://` for PostgreSQL,
/// anything else (`sqlite://path` or a plain path) for the embedded SQLite file.
pub async fn open(database_url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if is_postgres_url(database_url) {
        return Ok(std::sync::Arc::new(PostgresStore::open(database_url).await?));
    }
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unsupported(format!("cannot create {}: {e}", parent.display())))?;
        }
    }
    Ok(std::sync::Arc::new(SqliteStore::open(database_url).await?))
}

#[cfg(test)]
mod tests {
    use super::{postgres_unavailable, sqlite_unavailable, StoreError};

    #[test]
    fn only_outages_and_lock_waits_count_as_unavailable() {
        // SQLite: BUSY, LOCKED and their extended codes (BUSY_SNAPSHOT 517, LOCKED_SHAREDCACHE 262).
        for code in ["5", "6", "517", "262"] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        // CONSTRAINT_UNIQUE 2067, CORRUPT 11.
        for code in ["2067", "11"] {
            assert!(!sqlite_unavailable(code), "{code}");
        }
        // PostgreSQL: connection failure, too many connections, shutdown, lock_not_available ...
        for code in ["08006", "53300", "57P01", "55P03"] {
            assert!(postgres_unavailable(code), "{code}");
        }
        // ... but not unique_violation or a syntax error.
        for code in ["23505", "42601"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Unreachable("down".into()).is_unavailable());
        assert!(!StoreError::Corrupt("bad row".into()).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
    }
}
