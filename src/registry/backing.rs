//! Tying what the store says to the transparency log before anything is served or signed from
//! it: someone with the database in hand can edit a row, put back an older signed version or
//! delete an event, and the registry must then say "cannot be confirmed", never "valid".
//!
//! A stored certificate is vouched for when the row's search columns say what its record says,
//! its record signature verifies, its version is the latest the log holds for that certificate,
//! the event behind it hashes to the leaf the in-memory tree holds at that place, the leaf names
//! this very record and signature, and the leaf is included under the latest signed checkpoint.
//! Every path that serves or signs a state (answers, pages, search, bulk verify, receipts)
//! takes that same check. The latest leaf of each certificate is kept in memory beside the
//! tree with the digest of the record last vouched for at it, so checking a version again is
//! a map lookup, one SHA-256 of the record and a few compares (no signature verification, no
//! event read); the digest goes when the certificate's head moves. A refusal is remembered
//! while nothing moves (`unconfirmed.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::log::LogProof;
use super::unconfirmed::{fingerprint, Refusals, Say};
use super::{Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::store::StoredCertificate;
use crate::tlog::{leaf_hash, verify_inclusion, Hash};

/// Certificates named in `/readyz` at most; the count goes on beyond.
const NAMES_KEPT: usize = 100;

/// Looks in a row in which neither the stored row nor the log moved, after which a difference
/// between them is tampering.
pub(super) const STALLS: u32 = 3;

/// Looks at a certificate that keeps changing before giving up with a conflict.
pub(super) const ROUNDS: u32 = 64;

/// What to do after a look that found a certificate's row and the log apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Something moved (or this is the first look): catch up or read again, and look again.
    Again,
    /// Neither moved through [`STALLS`] looks in a row: the difference is tampering.
    Stuck,
    /// Still moving after [`ROUNDS`] looks: a conflict, never an alarm.
    Exhausted,
}

/// The looks taken at one certificate while concurrent writes may move its stored row and the
/// log: one rule for every check, so that only a difference that stays while nothing moves is
/// called tampering.
#[derive(Default)]
pub(super) struct Looks {
    /// The row's version and the log's latest version at the last look.
    seen: Option<(u32, Option<u32>)>,
    /// Looks in a row that saw what the one before saw.
    same: u32,
    taken: u32,
}

impl Looks {
    /// Notes a look at row version `row` and log version `logged`.
    pub(super) fn note(&mut self, row: u32, logged: Option<u32>) -> Next {
        let now = Some((row, logged));
        self.same = if self.seen == now { self.same + 1 } else { 0 };
        self.seen = now;
        self.taken += 1;
        if self.same + 1 >= STALLS {
            Next::Stuck
        } else if self.taken >= ROUNDS {
            Next::Exhausted
        } else {
            Next::Again
        }
    }

    /// Before looking again at something that did not move, gives a writer between its number
    /// and its commit a moment.
    pub(super) async fn pause(&self) {
        if self.same > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5 << self.same)).await;
        }
    }
}

/// The latest leaf of one certificate in the log.
#[derive(Clone, Copy, Debug)]
pub(super) struct Head {
    pub index: u64,
    pub version: u32,
    /// SHA-256 of the record text once the whole check passed for it at this leaf, so a later
    /// check of the same version compares a hash instead of verifying and reading again.
    pub vouched: Option<Hash>,
}

/// Per certificate, its latest leaf, kept in step with the tree by `sync_log`.
#[derive(Default)]
pub(super) struct Heads {
    map: RwLock<HashMap<Box<str>, Head>>,
}

impl Heads {
    /// Notes leaf `index` (version `version` of `number`) as the certificate's latest.
    pub(super) fn note(&self, leaves: impl IntoIterator<Item = (String, u32, u64)>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for (number, version, index) in leaves {
            map.insert(number.into_boxed_str(), Head { index, version, vouched: None });
        }
    }

    fn get(&self, number: &str) -> Option<Head> {
        self.map.read().unwrap_or_else(PoisonError::into_inner).get(number).copied()
    }

    /// Notes that the record with digest `record` passed the whole check at leaf `index`,
    /// unless the certificate's head moved meanwhile.
    fn vouch(&self, number: &str, index: u64, record: Hash) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(head) = map.get_mut(number).filter(|head| head.index == index) {
            head.vouched = Some(record);
        }
    }
}

/// Tampering met since start: for `/readyz`, `/metrics` and the operator.
#[derive(Default)]
pub(super) struct TamperWatch {
    detected: AtomicU64,
    /// Refusals given, and the memory that spares repeated checks and log lines.
    refusals: Refusals,
    /// Certificates whose stored state could not be confirmed at their last check.
    unconfirmed: Mutex<BTreeSet<String>>,
    unconfirmed_count: AtomicU64,
}

impl TamperWatch {
    fn met(&self, number: &str) {
        self.detected.fetch_add(1, Ordering::Relaxed);
        let mut names = self.unconfirmed.lock().unwrap_or_else(PoisonError::into_inner);
        names.insert(number.to_string());
        self.unconfirmed_count.store(names.len() as u64, Ordering::Relaxed);
    }

    fn cleared(&self, number: &str) {
        if self.unconfirmed_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.refusals.lifted(number);
        let mut names = self.unconfirmed.lock().unwrap_or_else(PoisonError::into_inner);
        names.remove(number);
        self.unconfirmed_count.store(names.len() as u64, Ordering::Relaxed);
    }
}

/// What the store says of one certificate, measured against the log.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    /// The whole check passed (now, or for this very record at this leaf before).
    Confirmed,
    /// Columns, signature and version hold; the event and leaf are still to be compared.
    Signed,
    /// The row is newer than anything this instance's tree holds: catch up and look again.
    LogBehind,
    /// The row is older than the log's latest version: read it again (a write may have landed
    /// between two reads) and look again.
    RowBehind {
        logged: u32,
    },
    Tampered(String),
}

/// What `/readyz` and `/metrics` show of tampering.
#[derive(Clone, Debug, Default)]
pub struct TamperReport {
    /// Times a stored certificate could not be tied to the log, since start.
    pub detected: u64,
    /// How many certificates failed their last check.
    pub unconfirmed: u64,
    /// Requests refused with "status unconfirmed" since start, a refusal remembered from an
    /// earlier check included.
    pub refused: u64,
    /// Refusals written to the error log (the first of a certificate, then at most one a minute).
    pub logged: u64,
    /// Their numbers (at most [`NAMES_KEPT`]).
    pub numbers: Vec<String>,
}

impl Registry {
    /// What tampering this instance met since start.
    pub fn tampering(&self) -> TamperReport {
        let watch = &self.log.tampering;
        let names = watch.unconfirmed.lock().unwrap_or_else(PoisonError::into_inner);
        TamperReport {
            detected: watch.detected.load(Ordering::Relaxed),
            unconfirmed: names.len() as u64,
            refused: watch.refusals.given_total(),
            logged: watch.refusals.logged_total(),
            numbers: names.iter().take(NAMES_KEPT).cloned().collect(),
        }
    }

    /// The signed certificate of the stored row `row` (or of the store's fresher copy of it) once
    /// it is tied to the log: where a row becomes what the layers above are handed, its search
    /// columns left behind. A certificate that cannot be tied is refused with
    /// [`RegistryError::Unconfirmed`].
    ///
    /// Concurrent writes move the row and the log on between two looks, so a look that finds
    /// them apart is repeated while either moves. Only when neither moved in [`STALLS`] looks in
    /// a row is the difference tampering; a certificate still changing after [`ROUNDS`] looks
    /// is a [`RegistryError::Conflict`], never an alarm.
    pub(super) async fn confirmed(&self, row: StoredCertificate) -> Result<SignedCertificate, RegistryError> {
        let mut row = row;
        let number = row.signed.record.number.clone();
        let mut looks = Looks::default();
        loop {
            if let Some(refusal) = self.standing_refusal(&row) {
                return Err(refusal);
            }
            let mut check = self.check_record(&row);
            if check == Check::Signed {
                let proof = self.log_proof(&number, row.signed.record.version).await?;
                check = self.check_leaf(&row.signed, proof.as_ref());
            }
            if check == Check::Confirmed {
                self.log.tampering.cleared(number.as_str());
                return Ok(row.signed);
            }
            let next = looks.note(row.signed.record.version, self.head_version(number.as_str()));
            if matches!(check, Check::Tampered(_)) || next == Next::Stuck {
                return Err(self.unconfirmed(&row, describe(&row.signed, check)));
            }
            if next == Next::Exhausted {
                return Err(RegistryError::Conflict(number.to_string()));
            }
            looks.pause().await;
            if check == Check::LogBehind {
                self.sync_log().await?;
            } else {
                match self.store.get(&number).await? {
                    Some(fresh) => row = fresh,
                    None => return Err(self.refuse(number.as_str(), None, "its current state row vanished".into())),
                }
            }
        }
    }

    /// The version of `number` this instance's log holds as its latest, if any.
    pub(super) fn head_version(&self, number: &str) -> Option<u32> {
        self.log.heads.get(number).map(|head| head.version)
    }

    /// Checks a row about to be prepared as an answer with the log proof made for it.
    /// `Ok(false)`: read both again (a write or this instance's tree moved in between).
    pub(super) async fn confirm_answer(
        &self,
        row: &StoredCertificate,
        proof: Option<&LogProof>,
        last: bool,
    ) -> Result<bool, RegistryError> {
        let check = match self.check_record(row) {
            Check::Confirmed | Check::Signed => self.check_leaf(&row.signed, proof),
            other => other,
        };
        match check {
            Check::Confirmed => {
                self.log.tampering.cleared(row.signed.record.number.as_str());
                Ok(true)
            }
            Check::LogBehind if !last => {
                self.sync_log().await?;
                Ok(false)
            }
            Check::RowBehind { .. } if !last => Ok(false),
            other => Err(self.unconfirmed(row, describe(&row.signed, other))),
        }
    }

    /// The refusal given at the last check of `row`'s number, if it still stands: the row and
    /// the log's head are as they were then, and it is recent (`unconfirmed.rs`).
    pub(super) fn standing_refusal(&self, row: &StoredCertificate) -> Option<RegistryError> {
        let watch = &self.log.tampering;
        if watch.unconfirmed_count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let number = row.columns.number.as_str();
        let row = fingerprint(row);
        let head = self.log.heads.get(number).map(|head| head.index);
        let problem = watch.refusals.standing(number, &row, head, Instant::now())?;
        let say = watch.refusals.given(number, Some(row), head, &problem, false, Instant::now());
        Some(self.said(number, problem, say))
    }

    /// Counts and logs a certificate that cannot be tied to the log, and the refusal to give.
    fn unconfirmed(&self, row: &StoredCertificate, problem: String) -> RegistryError {
        // The row asked for, even when its record names another certificate.
        self.refuse(row.columns.number.as_str(), Some(fingerprint(row)), problem)
    }

    /// Counts a refusal found by a check, and logs it unless it was logged within the minute.
    fn refuse(&self, number: &str, row: Option<Hash>, problem: String) -> RegistryError {
        let watch = &self.log.tampering;
        watch.met(number);
        let head = self.log.heads.get(number).map(|head| head.index);
        let say = watch.refusals.given(number, row, head, &problem, true, Instant::now());
        self.said(number, problem, say)
    }

    /// Logs a refusal if `say` says so, and makes the error to answer with.
    fn said(&self, number: &str, problem: String, say: Say) -> RegistryError {
        if let Say::Log { repeats } = say {
            tracing::error!(
                number,
                problem = %problem,
                repeats,
                "TAMPERING: a stored certificate does not match the transparency log; its status is refused \
                 until the store is repaired (run `starmark audit`)"
            );
        }
        RegistryError::Unconfirmed { number: number.to_string(), problem }
    }

    /// The row's columns against its record, the record's own signature and its place as the
    /// latest version in the log; [`Check::Confirmed`] only for a record vouched for before.
    fn check_record(&self, row: &StoredCertificate) -> Check {
        let certificate = &row.signed;
        let record = &certificate.record;
        if let Some(problem) = row.columns.astray_from(record) {
            return Check::Tampered(problem);
        }
        let Some(head) = self.log.heads.get(record.number.as_str()) else { return Check::LogBehind };
        if head.version < record.version {
            return Check::LogBehind;
        }
        if head.version > record.version {
            return Check::RowBehind { logged: head.version };
        }
        let digest: Hash = Sha256::digest(certificate.canonical.as_bytes()).into();
        if head.vouched == Some(digest) {
            return Check::Confirmed;
        }
        if let Err(e) = self.verifier.verify(certificate.canonical.as_bytes(), &certificate.signature) {
            return Check::Tampered(format!("the record signature does not verify ({e})"));
        }
        Check::Signed
    }

    /// The event behind the answer is the leaf the tree holds, names this record, and is
    /// included under the latest signed checkpoint.
    fn check_leaf(&self, certificate: &SignedCertificate, proof: Option<&LogProof>) -> Check {
        let record = &certificate.record;
        let Some(proof) = proof else {
            return Check::Tampered(format!("version {} has no event or leaf in the log (deleted?)", record.version));
        };
        let Some(head) = self.log.heads.get(record.number.as_str()) else { return Check::LogBehind };
        if head.version != record.version {
            return if head.version < record.version {
                Check::LogBehind
            } else {
                Check::RowBehind { logged: head.version }
            };
        }
        if proof.index != head.index {
            return Check::Tampered(format!(
                "the store places version {} at leaf {}, the log at leaf {}",
                record.version, proof.index, head.index
            ));
        }
        let hash = leaf_hash(&proof.leaf);
        if self.inclusion_leaf(head.index) != Some(hash) {
            return Check::Tampered(format!(
                "the event of version {} does not hash to its leaf {}",
                record.version, head.index
            ));
        }
        if !leaf_names(&proof.leaf, certificate) {
            return Check::Tampered(format!("the current record differs from the one logged at leaf {}", head.index));
        }
        let checkpoint = &proof.checkpoint.checkpoint;
        if verify_inclusion(head.index, checkpoint.size, &hash, &proof.inclusion, &checkpoint.root).is_err() {
            return Check::Tampered(format!("leaf {} is not included under the signed checkpoint", head.index));
        }
        let digest: Hash = Sha256::digest(certificate.canonical.as_bytes()).into();
        self.log.heads.vouch(record.number.as_str(), head.index, digest);
        Check::Confirmed
    }
}

/// Whether leaf data (docs/tlog.md) pins exactly this record text and signature.
fn leaf_names(leaf: &[u8], certificate: &SignedCertificate) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(leaf) else { return false };
    let digest = hex::encode(Sha256::digest(certificate.canonical.as_bytes()));
    let signature = &value["signature"];
    value["record_sha256"].as_str() == Some(digest.as_str())
        && value["number"].as_str() == Some(certificate.record.number.as_str())
        && signature["value"].as_str() == Some(certificate.signature.value.as_str())
        && signature["key_id"].as_str() == Some(certificate.signature.key_id.as_str())
        && signature["alg"].as_str() == Some(certificate.signature.alg.as_str())
}

fn describe(certificate: &SignedCertificate, check: Check) -> String {
    let version = certificate.record.version;
    match check {
        Check::Tampered(problem) => problem,
        Check::LogBehind => format!("version {version} is not in the transparency log"),
        Check::RowBehind { logged } => {
            format!("the store holds version {version}, but the log's latest version is {logged}")
        }
        Check::Confirmed | Check::Signed => "confirmed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_is_tampering_only_when_nothing_moves_through_three_looks() {
        let mut looks = Looks::default();
        assert_eq!(looks.note(4, Some(5)), Next::Again);
        assert_eq!(looks.note(4, Some(5)), Next::Again);
        assert_eq!(looks.note(5, Some(5)), Next::Again, "the row moved");
        assert_eq!(looks.note(5, Some(5)), Next::Again);
        assert_eq!(looks.note(5, Some(5)), Next::Stuck);
    }

    #[test]
    fn a_certificate_that_keeps_moving_is_a_conflict_after_the_last_look() {
        let mut looks = Looks::default();
        for version in 1..ROUNDS {
            assert_eq!(looks.note(version, Some(version + 1)), Next::Again);
        }
        assert_eq!(looks.note(ROUNDS, Some(ROUNDS + 1)), Next::Exhausted);
    }
}
