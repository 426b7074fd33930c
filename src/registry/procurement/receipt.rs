//! Signed verification receipts: what a check found, signed by the registry so that a tender
//! file can prove later what the registry said and when, and what has changed since.
//!
//! The signature covers `starmark-receipt-v1\n` followed by the canonical bytes of the
//! `receipt` object. The prefix keeps a receipt signature from ever passing for a record,
//! status assertion or mark signature made with the same key, whose messages never start so.
//! The receipt id is derived from the signed document itself, so nobody chooses it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::verify::{BulkCheck, Named, MAX_PER_HOLDER};
use super::{clock, Registry, RegistryError};
use crate::crypto::SignedCertificate;
use crate::crypto::{canonical_value_bytes, KeyId, Signature, TrustList, Verifier};
use crate::domain::receipt::{
    changes_between, is_receipt_id, FieldChange, Outcome, Query, Receipt, ReceiptRow, Snapshot, MAX_RECEIPT_BYTES,
    RECEIPT_FORMAT,
};
use crate::domain::FieldError;
use crate::store::StoredReceipt;

/// Bytes of stored receipt one token of the receipt quota pays for: a single check's receipt
/// (about 1 KB) costs one, a receipt of 1,000 rows 40 (166 KB, every row malformed) or more,
/// so the quota bounds the bytes written as well as the requests (`STARMARK_RECEIPTS_PER_MINUTE`).
pub const RECEIPT_QUOTA_UNIT: usize = 4096;

/// Bytes put before the canonical receipt in the signed message (domain separation).
pub const RECEIPT_SIGNING_PREFIX: &[u8] = b"starmark-receipt-v1\n";

/// The message a receipt signature covers: the prefix, then the canonical bytes of `receipt`.
pub fn receipt_message(receipt: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut message = RECEIPT_SIGNING_PREFIX.to_vec();
    message.extend(canonical_value_bytes(receipt)?);
    Ok(message)
}

/// The id of a receipt: lower-case hex of the first 16 bytes of SHA-256 over the canonical
/// bytes of the whole document `{"receipt": ..., "signature": ...}`.
pub fn receipt_id(canonical_document: &[u8]) -> String {
    hex::encode(&Sha256::digest(canonical_document)[..16])
}

/// A certificate as a receipt records it: the signed version it saw and its state that day.
pub fn snapshot(certificate: &SignedCertificate, today: NaiveDate) -> Snapshot {
    let record = &certificate.record;
    Snapshot {
        number: record.number.to_string(),
        holder_name: record.holder.name.clone(),
        uscc: record.holder.uscc.to_string(),
        level: record.level,
        state: record.state_on(today),
        valid_from: record.issued,
        valid_until: record.valid_until,
        version: record.version,
        record_sha256: hex::encode(Sha256::digest(certificate.canonical.as_bytes())),
    }
}

/// A receipt as issued or stored: its id, the URL of its page, and the canonical document.
#[derive(Clone, Debug)]
pub struct IssuedReceipt {
    pub id: String,
    pub url: String,
    pub issued_at: DateTime<Utc>,
    /// Canonical JSON text of `{"receipt": ..., "signature": ...}`.
    pub document: String,
}

/// A body that is not a receipt at all (as opposed to a receipt that is not genuine).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAReceipt(pub String);

/// Why checking a receipt did not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Shape(#[from] NotAReceipt),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The signature verdict on a receipt document, which needs no store: the CLI's offline check.
#[derive(Clone, Debug)]
pub struct SignatureVerdict {
    pub genuine: bool,
    /// Why it is not genuine.
    pub reason: Option<String>,
    pub key_id: Option<KeyId>,
    /// `issued_at` as the document states it (signed only when `genuine`).
    pub issued_at: Option<String>,
    /// The receipt, when it is genuine.
    pub receipt: Option<Receipt>,
}

/// Checks a receipt document's signature against `verifier` (every key of a trust list,
/// retired ones included). Errors only when the document does not have a receipt's shape.
pub fn check_signature(document: &Value, verifier: &Verifier) -> Result<SignatureVerdict, NotAReceipt> {
    let Some(object) = document.as_object() else {
        return Err(NotAReceipt("a receipt is a JSON object with `receipt` and `signature` members".into()));
    };
    let Some(receipt) = object.get("receipt").filter(|r| r.is_object()) else {
        return Err(NotAReceipt("the document has no `receipt` object".into()));
    };
    let Some(signature) = object.get("signature").filter(|s| s.is_object()) else {
        return Err(NotAReceipt("the document has no `signature` object".into()));
    };
    match receipt.get("format").and_then(Value::as_str) {
        Some(RECEIPT_FORMAT) => {}
        Some(other) => {
            return Err(NotAReceipt(format!("`receipt.format` is '{other}'; this version reads {RECEIPT_FORMAT}")))
        }
        None => return Err(NotAReceipt(format!("`receipt.format` is missing; expected {RECEIPT_FORMAT}"))),
    }
    let issued_at = receipt.get("issued_at").and_then(Value::as_str).map(str::to_string);
    let named_key = signature.get("key_id").and_then(Value::as_str).and_then(KeyId::parse);
    let verdict = |genuine: bool, reason: Option<String>, receipt: Option<Receipt>| SignatureVerdict {
        genuine,
        reason,
        key_id: named_key,
        issued_at: issued_at.clone(),
        receipt,
    };
    let signature: Signature = match serde_json::from_value(signature.clone()) {
        Ok(signature) => signature,
        Err(e) => return Ok(verdict(false, Some(format!("the signature object is malformed: {e}")), None)),
    };
    let message = receipt_message(receipt).map_err(|e| NotAReceipt(e.to_string()))?;
    if let Err(e) = verifier.verify(&message, &signature) {
        return Ok(verdict(false, Some(e.to_string()), None));
    }
    match serde_json::from_value::<Receipt>(receipt.clone()) {
        Ok(typed) => Ok(verdict(true, None, Some(typed))),
        Err(e) => Ok(verdict(
            false,
            Some(format!("the signature holds, but the receipt is not one this version understands: {e}")),
            None,
        )),
    }
}

/// The status of a key in a trust list: `active`, `retired`, or `None` when absent.
pub fn key_status(trust_list: &TrustList, key_id: &KeyId) -> Option<String> {
    trust_list.keys.iter().find(|k| &k.key_id == key_id).map(|k| k.status.clone())
}

/// What changed for one snapshot (or one formerly unknown row) since the receipt.
#[derive(Clone, Debug, Serialize)]
pub struct RowChange {
    pub row: u32,
    pub query: String,
    pub number: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// The verdict on a receipt: whether the registry signed it, with which key, and, for a
/// genuine one, what differs today.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptCheck {
    pub genuine: bool,
    pub reason: Option<String>,
    pub key_id: Option<KeyId>,
    pub key_status: Option<String>,
    pub issued_at: Option<String>,
    pub checked_at: DateTime<Utc>,
    /// Snapshots (and unknown rows) that are the same today.
    pub unchanged: usize,
    pub changed: Vec<RowChange>,
    /// The receipt itself when genuine, for pages that show it.
    #[serde(skip)]
    pub receipt: Option<Receipt>,
}

fn row_number(row: usize) -> u32 {
    u32::try_from(row).unwrap_or(u32::MAX)
}

impl Registry {
    /// The URL of a receipt's page, printed as its QR code.
    pub fn receipt_url(&self, id: &str) -> String {
        format!("{}/receipts/{id}", self.public_url)
    }

    /// Signs and stores a receipt of `check`, if the receipt quota has room for its size.
    pub async fn issue_receipt(&self, check: &BulkCheck) -> Result<IssuedReceipt, RegistryError> {
        self.issue_receipt_for(check, None).await
    }

    /// Like [`Registry::issue_receipt`] for a client with a purse: its size is charged to the
    /// client's receipts quota first, then to the instance's (which bounds what all clients
    /// together store). A client over its own quota is refused without touching the
    /// instance's, so one client cannot spend everyone's.
    pub async fn issue_receipt_for(
        &self,
        check: &BulkCheck,
        client: Option<crate::limits::Budget<'_>>,
    ) -> Result<IssuedReceipt, RegistryError> {
        let results = check
            .rows
            .iter()
            .map(|row| ReceiptRow {
                row: row_number(row.row),
                query: row.query.clone(),
                kind: row.parsed.kind(),
                outcome: row.outcome(),
                error: row.error(),
                certificates: row.certificates.iter().map(|c| snapshot(c, check.today)).collect(),
                more: row.more,
            })
            .collect();
        let receipt = Receipt {
            format: RECEIPT_FORMAT.to_string(),
            issuer: self.issuer.clone(),
            registry: self.public_url.clone(),
            issued_at: check.checked_at,
            results,
        };
        let internal = |e: serde_json::Error| RegistryError::Internal(format!("receipt cannot be serialised: {e}"));
        let receipt = serde_json::to_value(&receipt).map_err(internal)?;
        let signature = self.signer.sign(&receipt_message(&receipt).map_err(internal)?);
        let document = json!({ "receipt": receipt, "signature": signature });
        let canonical = canonical_value_bytes(&document).map_err(internal)?;
        let id = receipt_id(&canonical);
        let document = String::from_utf8(canonical).map_err(|e| RegistryError::Internal(e.to_string()))?;
        if document.len() > MAX_RECEIPT_BYTES {
            return Err(FieldError::new(
                "queries",
                format!(
                    "the receipt would hold {} bytes, more than the {MAX_RECEIPT_BYTES} a receipt may; split the list",
                    document.len()
                ),
            )
            .into());
        }
        let cost = u32::try_from(document.len().div_ceil(RECEIPT_QUOTA_UNIT)).unwrap_or(u32::MAX);
        if let Some(client) = client {
            client.charge(crate::limits::Class::Receipts, cost).map_err(RegistryError::RateLimited)?;
        }
        self.receipt_quota.take(cost).map_err(RegistryError::Busy)?;
        let stored = StoredReceipt { id: id.clone(), issued_at: check.checked_at, document };
        self.store.put_receipt(&stored).await?;
        Ok(IssuedReceipt { url: self.receipt_url(&id), id, issued_at: stored.issued_at, document: stored.document })
    }

    /// A stored receipt, exactly as issued; `None` for an id of the wrong shape or unknown.
    pub async fn receipt(&self, id: &str) -> Result<Option<IssuedReceipt>, RegistryError> {
        if !is_receipt_id(id) {
            return Ok(None);
        }
        Ok(self.store.get_receipt(id).await?.map(|stored| IssuedReceipt {
            url: self.receipt_url(&stored.id),
            id: stored.id,
            issued_at: stored.issued_at,
            document: stored.document,
        }))
    }

    /// Checks a receipt document: is it signed by a key of this registry's trust list, and,
    /// if so, what differs today from each snapshot. Store failures fail the check.
    pub async fn check_receipt(&self, document: &Value) -> Result<ReceiptCheck, ReceiptError> {
        let checked_at = clock::now().trunc_subsecs(3);
        let verdict = check_signature(document, &self.verifier)?;
        let key_status = verdict.key_id.as_ref().and_then(|id| key_status(&self.trust_list, id));
        let (unchanged, changed) = match &verdict.receipt {
            Some(receipt) if verdict.genuine => self.changes_since(receipt, clock::date_in_china(checked_at)).await?,
            _ => (0, Vec::new()),
        };
        Ok(ReceiptCheck {
            genuine: verdict.genuine,
            reason: verdict.reason,
            key_id: verdict.key_id,
            key_status,
            issued_at: verdict.issued_at,
            checked_at,
            unchanged,
            changed,
            receipt: verdict.receipt,
        })
    }

    /// Compares every snapshot of `receipt` with today's records; an unknown row that now
    /// finds something, a certificate gone from a row, and a holder's new certificate are
    /// changes too. Malformed rows are not compared.
    async fn changes_since(
        &self,
        receipt: &Receipt,
        today: NaiveDate,
    ) -> Result<(usize, Vec<RowChange>), RegistryError> {
        let mut found: HashMap<String, Named> = HashMap::new();
        let mut unchanged = 0;
        let mut changed = Vec::new();
        for row in &receipt.results {
            let query = Query::classify(&row.query);
            let Some(key) = query.key() else { continue };
            if row.outcome == Outcome::Malformed {
                continue;
            }
            if !found.contains_key(&key) {
                // Enough to see every certificate the receipt listed, within the old per-holder bound.
                let limit = u32::try_from(row.certificates.len()).unwrap_or(u32::MAX).clamp(10, MAX_PER_HOLDER);
                let current = self.lookup(&query, today, limit).await?;
                found.insert(key.clone(), current);
            }
            let named = found.get(&key).cloned().unwrap_or_default();
            let current = named.certificates.as_slice();
            let change = |number: Option<&str>, changes: Vec<FieldChange>| RowChange {
                row: row.row,
                query: row.query.clone(),
                number: number.map(str::to_string),
                changes,
            };
            if row.outcome == Outcome::Unknown {
                if named.total == 0 {
                    unchanged += 1;
                }
                for certificate in current {
                    let outcome = FieldChange::new("outcome", json!("unknown"), json!("found"));
                    changed.push(change(Some(certificate.record.number.as_str()), vec![outcome]));
                }
                continue;
            }
            for then in &row.certificates {
                let now = match current.iter().find(|c| c.record.number.as_str() == then.number) {
                    Some(certificate) => Some(snapshot(certificate, today)),
                    None => match crate::domain::CertificateNumber::parse(&then.number) {
                        Ok(number) => match self.store.get(&number).await? {
                            Some(certificate) => Some(snapshot(&self.confirmed(certificate).await?, today)),
                            None => None,
                        },
                        Err(_) => None,
                    },
                };
                let changes = match now {
                    Some(now) => changes_between(then, &now),
                    None => vec![FieldChange::new("outcome", json!("found"), json!("unknown"))],
                };
                if changes.is_empty() {
                    unchanged += 1;
                } else {
                    changed.push(change(Some(&then.number), changes));
                }
            }
            if row.more == 0 && named.total <= current.len() as u64 {
                for certificate in current {
                    let number = certificate.record.number.as_str();
                    if !row.certificates.iter().any(|then| then.number == number) {
                        let new = FieldChange::new("certificate", Value::Null, json!(number));
                        changed.push(change(Some(number), vec![new]));
                    }
                }
            } else {
                // The receipt or today's answer lists only some: compare how many there are.
                let then_total = row.certificates.len() as u64 + row.more;
                if then_total != named.total {
                    let count = FieldChange::new("certificates", json!(then_total), json!(named.total));
                    changed.push(change(None, vec![count]));
                }
            }
        }
        Ok((unchanged, changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SigningKeyEntry;
    use crate::crypto::Signer;

    fn signer(seed: u8) -> Signer {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
    }

    fn document(signer: &Signer) -> Value {
        let receipt = json!({
            "format": RECEIPT_FORMAT,
            "issuer": {"name": "Body", "approval_number": "CNCA-R-2026-001"},
            "registry": "https://registry.example",
            "issued_at": "2026-11-26T10:00:00.123Z",
            "results": [{"row": 1, "query": "x", "kind": "malformed", "outcome": "malformed", "error": "e", "certificates": []}]
        });
        let signature = signer.sign(&receipt_message(&receipt).unwrap());
        json!({"receipt": receipt, "signature": signature})
    }

    #[test]
    fn a_receipt_verifies_only_with_its_prefix_and_bytes() {
        let signer = signer(9);
        let verifier = Verifier::default().with_key(signer.verifying_key());
        let good = document(&signer);
        let verdict = check_signature(&good, &verifier).unwrap();
        assert!(verdict.genuine, "{:?}", verdict.reason);
        assert_eq!(verdict.receipt.unwrap().results.len(), 1);

        let mut edited = good.clone();
        edited["receipt"]["results"][0]["query"] = json!("y");
        assert!(!check_signature(&edited, &verifier).unwrap().genuine);

        // The same key over the bare canonical bytes (a record-style signature) is refused.
        let mut unprefixed = good.clone();
        let bare = canonical_value_bytes(&good["receipt"]).unwrap();
        unprefixed["signature"] = json!(signer.sign(&bare));
        assert!(!check_signature(&unprefixed, &verifier).unwrap().genuine);

        let stranger = document(&self::signer(10));
        let verdict = check_signature(&stranger, &verifier).unwrap();
        assert!(!verdict.genuine && verdict.reason.unwrap().contains("not in the trust list"));

        assert!(check_signature(&json!([1]), &verifier).is_err());
        assert!(check_signature(&json!({"receipt": {"format": "other"}, "signature": {}}), &verifier).is_err());
    }

    #[test]
    fn the_largest_receipt_the_bounds_allow_fits_the_size_bound() {
        use crate::domain::receipt::{
            QueryKind, ReceiptRow, Snapshot, MAX_CERTIFICATES, MAX_CERTIFICATES_PER_ROW, MAX_QUERIES,
        };
        use crate::domain::{ApprovalNumber, Issuer, Level, State};
        // Every text at its longest in its widest UTF-8 (4 bytes a character) or escaping.
        let widest = |chars: usize| "\u{20000}".repeat(chars);
        let snapshot = Snapshot {
            number: "9".repeat(32),
            holder_name: widest(200),
            uscc: "91350200776049653A".into(),
            level: Level::ThreeStar,
            state: State::Suspended,
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2029, 1, 1).unwrap(),
            version: u32::MAX,
            record_sha256: "f".repeat(64),
        };
        let mut budget = MAX_CERTIFICATES;
        let results = (0..MAX_QUERIES)
            .map(|row| {
                let listed = MAX_CERTIFICATES_PER_ROW.min(budget);
                budget -= listed;
                ReceiptRow {
                    row: u32::MAX - row as u32,
                    query: format!("{}…", widest(100)),
                    kind: QueryKind::Malformed,
                    outcome: Outcome::Malformed,
                    error: Some(format!("{}{}", "\"".repeat(200), widest(100))),
                    certificates: vec![snapshot.clone(); listed],
                    more: u64::MAX,
                }
            })
            .collect();
        let receipt = Receipt {
            format: RECEIPT_FORMAT.into(),
            issuer: Issuer { name: widest(200), approval_number: ApprovalNumber::parse("CNCA-R-2026-001").unwrap() },
            registry: format!("https://{}", "r".repeat(200)),
            issued_at: Utc::now(),
            results,
        };
        let signer = signer(3);
        let receipt = serde_json::to_value(&receipt).unwrap();
        let signature = signer.sign(&receipt_message(&receipt).unwrap());
        let document = canonical_value_bytes(&json!({"receipt": receipt, "signature": signature})).unwrap();
        eprintln!("the largest receipt possible: {} bytes", document.len());
        assert!(document.len() <= MAX_RECEIPT_BYTES, "{} bytes", document.len());
        assert!(document.len() > MAX_RECEIPT_BYTES / 2, "the bound is not loose: {} bytes", document.len());
    }

    #[test]
    fn ids_are_128_bits_of_the_document_hash() {
        let id = receipt_id(b"{}");
        assert_eq!(id, "44136fa355b3678a1146ad16f7e8649e");
        assert!(is_receipt_id(&id));
    }
}
