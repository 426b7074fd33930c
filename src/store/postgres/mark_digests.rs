//! The PostgreSQL side of mark digest indexes (which batches lack one), read from the
//! records' JSON with PostgreSQL's `jsonb` functions; the rest is shared (`shared/marks.rs`).

use sqlx::Row;

use super::shared::{batch_of, number_of};
use super::PostgresStore;
use crate::domain::CertificateNumber;
use crate::store::StoreError;

impl PostgresStore {
    /// Reads the batches out of each record's JSON; `strpos` first, so that records without
    /// any batch (most) are not parsed. The record is text (signed bytes), parsed here only.
    pub(super) async fn select_batches_without_digests(&self) -> Result<Vec<(CertificateNumber, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.number AS number, (b.value ->> 'id')::bigint AS batch \
             FROM certificates c \
             CROSS JOIN LATERAL jsonb_array_elements(c.record::jsonb -> 'mark_batches') AS b(value) \
             WHERE strpos(c.record, '\"mark_batches\"') > 0 \
             AND NOT EXISTS (SELECT 1 FROM mark_digests d \
                             WHERE d.number = c.number AND d.batch = (b.value ->> 'id')::bigint) \
             ORDER BY c.number, batch",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((number_of(row.try_get("number")?)?, batch_of(row.try_get("batch")?)?))).collect()
    }
}
