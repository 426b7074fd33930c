//! The SQLite side of mark digest indexes (which batches lack one), read from the records'
//! JSON with SQLite's JSON functions; the rest is shared (`shared/marks.rs`).

use sqlx::Row;

use super::shared::number_of;
use super::SqliteStore;
use crate::domain::CertificateNumber;
use crate::store::StoreError;

impl SqliteStore {
    /// Reads the batches out of each record's JSON; `instr` first, so that records without
    /// any batch (most) are not parsed.
    pub(super) async fn select_batches_without_digests(&self) -> Result<Vec<(CertificateNumber, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.number AS number, CAST(json_extract(b.value, '$.id') AS INTEGER) AS batch \
             FROM certificates c, json_each(c.record, '$.mark_batches') b \
             WHERE instr(c.record, '\"mark_batches\"') > 0 \
             AND NOT EXISTS (SELECT 1 FROM mark_digests d \
                             WHERE d.number = c.number AND d.batch = json_extract(b.value, '$.id')) \
             ORDER BY c.number, batch",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| Ok((number_of(row.try_get("number")?)?, row.try_get("batch")?))).collect()
    }
}
