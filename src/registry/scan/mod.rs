//! Scans of marks: what a consumer is told when a mark's QR code opens `/v/{token}`, and the
//! engines that keep that answer fast under a crowd.
//!
//! - `verdict.rs`: the order of checks and the verdict (not genuine, unknown, mark revoked, or
//!   the certificate's state), with the scan figures shown beside it;
//! - `digests.rs`: a batch's digest index vouches for a fresh token without a signature check;
//! - `counter/`: how often each serial was scanned, counted in memory, shared through Redis
//!   and flushed to the store, never making a scan wait;
//! - `scanners.rs`: who scanned, as the public figure counts distinct scanners.

mod counter;
mod digests;
mod scanners;
mod verdict;

pub use counter::{CounterFigures, ScanCounter, SUSPICIOUS_SCANS};
pub use digests::PreparedDigests;
pub use scanners::ScanClient;
pub(super) use scanners::ScannerKey;
pub use verdict::{ScanNote, ScanOutcome, Verdict};

// What the files here take from the registry.
use super::{clock, Registry, RegistryError};
