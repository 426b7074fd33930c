//! Mark batches: serialised star marks ordered for a certificate, and revocations of some of
//! them. Both live in the certificate's record, so they are signed, versioned and logged like
//! every other change, and a serial can be checked from the record alone.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::gtin::Gtin;
use super::status::{State, TransitionError, MAX_REASON_CHARS};
use super::text::clean_text;

/// Largest batch one order may ask for.
pub const MAX_BATCH: u32 = 1_000_000;
/// Longest product name a batch may carry.
pub const MAX_PRODUCT_CHARS: usize = 200;

/// The product a batch of marks goes on: its GTIN and its name, as the consumer page shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub gtin: Gtin,
    pub name: String,
}

impl Product {
    /// A product from a GTIN already parsed and a name as given (trimmed and checked here).
    pub fn new(gtin: Gtin, name: &str) -> Result<Self, MarkError> {
        let name = clean_text("product", name, MAX_PRODUCT_CHARS).map_err(|e| MarkError::Product(e.message))?;
        Ok(Self { gtin, name })
    }
}

/// Serials `first..=last` of a batch that must no longer be trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedMarks {
    pub first: u32,
    pub last: u32,
    pub reason: String,
    pub date: NaiveDate,
}

/// One order of serialised marks: serials 1..=count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkBatch {
    /// Batch number within the certificate, from 1.
    pub id: u32,
    pub count: u32,
    pub ordered: NaiveDate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<RevokedMarks>,
    /// The product the marks go on; absent (and so not in the signed bytes) for batches bound
    /// to no product, which keeps every record signed before products existed as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    /// The product's name; present exactly when `gtin` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

impl MarkBatch {
    /// The product this batch is bound to, if any.
    pub fn product(&self) -> Option<(Gtin, &str)> {
        Some((self.gtin?, self.product.as_deref()?))
    }
}

/// What the record says about one serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialStatus {
    /// Issued and not revoked.
    Issued,
    /// Issued, then revoked.
    Revoked { reason: String, date: NaiveDate },
    /// Never issued: no such batch, or beyond its count.
    NotIssued,
}

/// Why a batch order or revocation is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MarkError {
    #[error("count must be between 1 and {MAX_BATCH}, not {0}")]
    Count(u64),
    #[error("certificate has no mark batch {0}")]
    NoSuchBatch(u32),
    #[error("serials {first}-{last} are not within batch {batch} (1-{count})")]
    Range { batch: u32, first: u32, last: u32, count: u32 },
    #[error("reason: {0}")]
    Reason(String),
    #[error("product: {0}")]
    Product(String),
    #[error("serials {first}-{last} of batch {batch} are already revoked")]
    AlreadyRevoked { batch: u32, first: u32, last: u32 },
    #[error(transparent)]
    State(#[from] TransitionError),
}

/// Adds a batch of `count` marks to `batches`, those of a certificate in state `current`; only a
/// valid certificate may order marks. The record's `order_marks` is the way in.
pub(super) fn order(
    batches: &mut Vec<MarkBatch>,
    current: State,
    count: u64,
    product: Option<Product>,
    today: NaiveDate,
) -> Result<&MarkBatch, MarkError> {
    if current != State::Valid {
        return Err(TransitionError::Illegal { action: "order marks for", current }.into());
    }
    let count = u32::try_from(count).ok().filter(|c| (1..=MAX_BATCH).contains(c)).ok_or(MarkError::Count(count))?;
    let id = batches.last().map_or(1, |b| b.id + 1);
    let (gtin, product) = match product {
        Some(Product { gtin, name }) => (Some(gtin), Some(name)),
        None => (None, None),
    };
    batches.push(MarkBatch { id, count, ordered: today, revoked: Vec::new(), gtin, product });
    batches.last().ok_or(MarkError::NoSuchBatch(id))
}

/// Revokes serials `first..=last` of batch `batch` (the whole batch when no range is given);
/// the record's `revoke_marks` is the way in.
pub(super) fn revoke(
    batches: &mut [MarkBatch],
    batch: u32,
    range: Option<(u32, u32)>,
    reason: &str,
    today: NaiveDate,
) -> Result<RevokedMarks, MarkError> {
    let reason = clean_text("reason", reason, MAX_REASON_CHARS).map_err(|e| MarkError::Reason(e.message))?;
    let entry = batches.iter_mut().find(|b| b.id == batch).ok_or(MarkError::NoSuchBatch(batch))?;
    let (first, last) = range.unwrap_or((1, entry.count));
    if first == 0 || first > last || last > entry.count {
        return Err(MarkError::Range { batch, first, last, count: entry.count });
    }
    if covered(&entry.revoked, first, last) {
        return Err(MarkError::AlreadyRevoked { batch, first, last });
    }
    let revoked = RevokedMarks { first, last, reason, date: today };
    entry.revoked.push(revoked.clone());
    Ok(revoked)
}

/// What `batches` say about serial `serial` of batch `batch`.
pub(super) fn serial_status(batches: &[MarkBatch], batch: u32, serial: u32) -> SerialStatus {
    let Some(entry) = batches.iter().find(|b| b.id == batch) else {
        return SerialStatus::NotIssued;
    };
    if serial == 0 || serial > entry.count {
        return SerialStatus::NotIssued;
    }
    match entry.revoked.iter().find(|r| (r.first..=r.last).contains(&serial)) {
        Some(r) => SerialStatus::Revoked { reason: r.reason.clone(), date: r.date },
        None => SerialStatus::Issued,
    }
}

/// Whether every serial of `first..=last` lies in one of the `revoked` ranges: revoking them
/// again would sign a new version that changes nothing but lists them twice.
fn covered(revoked: &[RevokedMarks], first: u32, last: u32) -> bool {
    let mut ranges: Vec<(u32, u32)> = revoked.iter().map(|r| (r.first, r.last)).collect();
    ranges.sort_unstable();
    let mut next = u64::from(first);
    for (start, end) in ranges {
        if u64::from(start) > next {
            break;
        }
        next = next.max(u64::from(end) + 1);
    }
    next > u64::from(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::Status;
    use crate::domain::CertificateRecord;

    fn record() -> CertificateRecord {
        let json = serde_json::json!({
            "number": "SM2026ASC000001", "version": 1,
            "holder": {"name": "甲", "uscc": "91350200776049653A", "address": "地址"},
            "scope": "服务", "standard": "GB/T 27922-2011", "level": "five_star",
            "evaluation": {"system": 38, "commodity": 33, "customer": 24},
            "first_issued": "2026-01-01", "issued": "2026-01-01", "valid_until": "2028-12-31",
            "issuer": {"name": "Body", "approval_number": "CNCA-R-2026-001"},
            "status": {"state": "valid", "since": "2026-01-01"}
        });
        serde_json::from_value(json).unwrap()
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    #[test]
    fn batches_are_numbered_and_serials_checked() {
        let mut r = record();
        assert_eq!(r.order_marks(1000, day(2, 1)).unwrap().id, 1);
        assert_eq!(r.order_marks(5, day(2, 2)).unwrap().id, 2);
        assert_eq!(r.serial_status(1, 1000), SerialStatus::Issued);
        assert_eq!(r.serial_status(1, 1001), SerialStatus::NotIssued);
        assert_eq!(r.serial_status(2, 0), SerialStatus::NotIssued);
        assert_eq!(r.serial_status(3, 1), SerialStatus::NotIssued);
        assert_eq!(r.order_marks(0, day(2, 3)).unwrap_err(), MarkError::Count(0));
        assert_eq!(r.order_marks(1_000_001, day(2, 3)).unwrap_err(), MarkError::Count(1_000_001));
    }

    #[test]
    fn ranges_and_whole_batches_are_revoked() {
        let mut r = record();
        r.order_marks(100, day(2, 1)).unwrap();
        r.revoke_marks(1, Some((10, 20)), "labels stolen", day(3, 1)).unwrap();
        assert_eq!(r.serial_status(1, 9), SerialStatus::Issued);
        assert_eq!(r.serial_status(1, 10), SerialStatus::Revoked { reason: "labels stolen".into(), date: day(3, 1) });
        assert_eq!(r.serial_status(1, 21), SerialStatus::Issued);
        assert!(matches!(r.revoke_marks(1, Some((90, 101)), "x", day(3, 1)), Err(MarkError::Range { .. })));
        assert!(matches!(r.revoke_marks(1, Some((5, 4)), "x", day(3, 1)), Err(MarkError::Range { .. })));
        assert!(matches!(r.revoke_marks(2, None, "x", day(3, 1)), Err(MarkError::NoSuchBatch(2))));
        assert!(matches!(r.revoke_marks(1, None, " ", day(3, 1)), Err(MarkError::Reason(_))));
        r.revoke_marks(1, None, "misprint", day(3, 2)).unwrap();
        assert!(matches!(r.serial_status(1, 100), SerialStatus::Revoked { .. }));
    }

    #[test]
    fn revoking_serials_already_revoked_is_refused() {
        let mut r = record();
        r.order_marks(100, day(2, 1)).unwrap();
        r.revoke_marks(1, Some((10, 20)), "stolen", day(3, 1)).unwrap();
        let again = r.revoke_marks(1, Some((10, 20)), "stolen", day(3, 2));
        assert_eq!(again, Err(MarkError::AlreadyRevoked { batch: 1, first: 10, last: 20 }));
        assert!(matches!(r.revoke_marks(1, Some((12, 15)), "x", day(3, 2)), Err(MarkError::AlreadyRevoked { .. })));
        // Two adjacent revocations together cover a range that spans them.
        r.revoke_marks(1, Some((21, 30)), "stolen too", day(3, 2)).unwrap();
        assert!(matches!(r.revoke_marks(1, Some((10, 30)), "x", day(3, 3)), Err(MarkError::AlreadyRevoked { .. })));
        // A range with one serial not yet revoked is a real change.
        r.revoke_marks(1, Some((10, 31)), "one more", day(3, 3)).unwrap();
        r.revoke_marks(1, None, "misprint", day(3, 4)).unwrap();
        assert!(matches!(r.revoke_marks(1, None, "x", day(3, 5)), Err(MarkError::AlreadyRevoked { .. })));
        assert_eq!(r.mark_batches[0].revoked.len(), 4);
    }

    #[test]
    fn only_valid_certificates_order_marks() {
        let mut r = record();
        r.status =
            Status { state: State::Suspended, since: day(2, 1), reason: Some("x".into()), until: Some(day(4, 1)) };
        assert!(matches!(r.order_marks(10, day(2, 2)), Err(MarkError::State(TransitionError::Illegal { .. }))));
    }

    #[test]
    fn batches_bound_to_a_product_carry_it_and_others_serialise_as_before() {
        let mut r = record();
        r.order_marks(10, day(2, 1)).unwrap();
        let gtin = crate::domain::Gtin::parse("6901234567892").unwrap();
        let product = Product::new(gtin, "  电饭煲 RC-5  ").unwrap();
        let batch = r.order_product_marks(20, Some(product), day(2, 2)).unwrap();
        assert_eq!(batch.product(), Some((gtin, "电饭煲 RC-5")));
        let json = serde_json::to_value(&r.mark_batches).unwrap();
        assert_eq!(json[0], serde_json::json!({"id": 1, "count": 10, "ordered": "2026-02-01"}));
        assert_eq!(
            json[1],
            serde_json::json!({"id": 2, "count": 20, "ordered": "2026-02-02", "gtin": "06901234567892", "product": "电饭煲 RC-5"})
        );
        let back: Vec<MarkBatch> = serde_json::from_value(json).unwrap();
        assert_eq!(back, r.mark_batches);
        assert!(matches!(Product::new(gtin, " "), Err(MarkError::Product(_))));
        assert!(matches!(Product::new(gtin, &"名".repeat(MAX_PRODUCT_CHARS + 1)), Err(MarkError::Product(_))));
    }

    #[test]
    fn records_without_batches_serialise_as_before() {
        let json = serde_json::to_value(record()).unwrap();
        assert!(json.get("mark_batches").is_none());
    }
}
