//! Rows read back into store values, the same for both backends: integers are read as `i64` and
//! checked into range, instants and dates through the backend's [`Dialect`].

use sqlx::Row;

use super::{Backend, Db};
use crate::crypto::{Signature, SignedCertificate};
use crate::domain::{CertificateNumber, CertificateRecord};
use crate::domain::{EventKind, Role};
use crate::store::dialect::Dialect;
use crate::store::leaves::{hash_of, unsigned};
use crate::store::tlog::{LeafRow, RawCertificate, RawEvent, StoredCheckpoint};
use crate::store::{RowColumns, StoreError, StoredCertificate, StoredEvent, StoredIntegratorKey, StoredToken};

/// A row of the backend's database.
pub(super) type DbRow = <Db as sqlx::Database>::Row;

/// A stored version, which the schema keeps within `u32`.
pub(crate) fn version_of(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("version {value} out of range")))
}

/// A stored batch number, which the schema keeps within `u32`.
pub(crate) fn batch_of(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("batch {value} out of range")))
}

/// A stored certificate number, which the registry only ever writes in its canonical form: one
/// that does not parse, or parses to another spelling, is a damaged row, refused rather than
/// served under a number nobody issued.
pub(crate) fn number_of(text: String) -> Result<CertificateNumber, StoreError> {
    match CertificateNumber::parse(&text) {
        Ok(number) if number.as_str() == text => Ok(number),
        _ => Err(StoreError::Corrupt(format!("certificate number {text:?} is not a number the registry writes"))),
    }
}

/// A certificate's current version, with the row's copies of its fields, from the columns of
/// `CERTIFICATE_COLUMNS`.
pub(super) fn certificate(row: &DbRow) -> Result<StoredCertificate, StoreError> {
    let canonical: String = row.try_get("record")?;
    let record: CertificateRecord =
        serde_json::from_str(&canonical).map_err(|e| StoreError::Corrupt(format!("record does not parse: {e}")))?;
    let signature: String = row.try_get("signature")?;
    let signature: Signature =
        serde_json::from_str(&signature).map_err(|e| StoreError::Corrupt(format!("signature does not parse: {e}")))?;
    let updated_at = Backend::read_instant(row, "updated_at")?;
    Ok(StoredCertificate {
        signed: SignedCertificate { record, canonical, signature, updated_at },
        columns: columns(row)?,
    })
}

/// A current-state row's copies of its record's fields, its end date as text.
fn columns(row: &DbRow) -> Result<RowColumns, StoreError> {
    Ok(RowColumns {
        number: row.try_get("number")?,
        version: version_of(row.try_get("version")?)?,
        holder_name: row.try_get("holder_name")?,
        holder_name_en: row.try_get("holder_name_en")?,
        uscc: row.try_get("uscc")?,
        level: row.try_get("level")?,
        state: row.try_get("state")?,
        valid_until: Backend::read_date_text(row, "valid_until")?,
    })
}

/// An API token from all its columns.
pub(super) fn token(row: &DbRow) -> Result<StoredToken, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(StoredToken {
        id: row.try_get("id")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
        secret_hash: row.try_get("secret_hash")?,
        label: row.try_get("label")?,
        created_at: Backend::read_instant(row, "created_at")?,
        revoked_at: Backend::read_optional_instant(row, "revoked_at")?,
    })
}

/// An integrator key; a rate outside what a key may have is corruption.
pub(super) fn integrator_key(row: &DbRow) -> Result<StoredIntegratorKey, StoreError> {
    let quota: i64 = row.try_get("rate_quota")?;
    let window: i64 = row.try_get("rate_window_secs")?;
    let corrupt = || StoreError::Corrupt(format!("integrator key rate {quota}/{window} s"));
    let rate = crate::limits::Policy {
        quota: u32::try_from(quota).ok().filter(|q| *q > 0).ok_or_else(corrupt)?,
        window_secs: u32::try_from(window).ok().filter(|w| *w > 0).ok_or_else(corrupt)?,
    };
    Ok(StoredIntegratorKey {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        secret_hash: row.try_get("secret_hash")?,
        rate,
        created_at: Backend::read_instant(row, "created_at")?,
        last_used_at: Backend::read_optional_instant(row, "last_used_at")?,
        revoked_at: Backend::read_optional_instant(row, "revoked_at")?,
    })
}

/// An event of a certificate's history, parsed.
pub(super) fn event(row: &DbRow) -> Result<StoredEvent, StoreError> {
    let kind: String = row.try_get("kind")?;
    let details: String = row.try_get("details")?;
    let signature: String = row.try_get("signature")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        number: number_of(row.try_get("number")?)?,
        version: version_of(row.try_get("version")?)?,
        kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("unknown event kind '{kind}'")))?,
        actor: row.try_get("actor")?,
        at: Backend::read_instant(row, "at")?,
        details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        record: row.try_get("record")?,
        signature: serde_json::from_str(&signature).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// An event exactly as stored, its time as the text the log hashes.
pub(super) fn raw_event(row: &DbRow) -> Result<RawEvent, StoreError> {
    Ok(RawEvent {
        seq: row.try_get("seq")?,
        number: row.try_get("number")?,
        version: version_of(row.try_get("version")?)?,
        kind: row.try_get("kind")?,
        at: Backend::read_instant_text(row, "at")?,
        details: row.try_get("details")?,
        record: row.try_get("record")?,
        signature: row.try_get("signature")?,
    })
}

/// A current-state row exactly as stored, its end date as text.
pub(super) fn raw_certificate(row: &DbRow) -> Result<RawCertificate, StoreError> {
    Ok(RawCertificate { columns: columns(row)?, record: row.try_get("record")?, signature: row.try_get("signature")? })
}

/// A stored checkpoint from `size, root, note`.
pub(super) fn checkpoint(row: &DbRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: unsigned(row.try_get("size")?, "checkpoint size")?,
        root: hash_of(row.try_get("root")?, "checkpoint root")?,
        note: row.try_get("note")?,
    })
}

/// A stored leaf from `idx, number, version, hash`.
pub(super) fn leaf(row: &DbRow) -> Result<LeafRow, StoreError> {
    Ok(LeafRow {
        idx: unsigned(row.try_get("idx")?, "log index")?,
        number: row.try_get("number")?,
        version: version_of(row.try_get("version")?)?,
        hash: hash_of(row.try_get("hash")?, "leaf hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_stored_numbers_come_back() {
        assert_eq!(number_of("SM2026ASC000001".into()).unwrap(), CertificateNumber::assigned(2026, 1));
        for damaged in ["sm2026asc000001", " SM2026ASC000001", "SM2026 ASC01", "", "SM1"] {
            assert!(matches!(number_of(damaged.into()), Err(StoreError::Corrupt(_))), "{damaged:?}");
        }
    }
}
