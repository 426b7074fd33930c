//! The SQLite side of mark digest indexes (which batches lack one) and of products (which
//! certificates have a batch bound to a GTIN), read from the records' JSON with SQLite's JSON
//! functions; the rest is shared (`shared/marks.rs`).

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

    /// The certificates with a batch bound to `gtin` (14 digits), read from the records' JSON;
    /// `instr` first, so that only records naming the GTIN are parsed.
    pub(super) async fn select_numbers_with_gtin(
        &self,
        gtin: &str,
        limit: u32,
    ) -> Result<Vec<CertificateNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT c.number AS number \
             FROM certificates c, json_each(c.record, '$.mark_batches') b \
             WHERE instr(c.record, $1) > 0 AND json_extract(b.value, '$.gtin') = $2 \
             ORDER BY c.number LIMIT $3",
        )
        .bind(format!("\"{gtin}\""))
        .bind(gtin)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| number_of(row.try_get("number")?)).collect()
    }
}
