//! The PostgreSQL side of mark digest indexes (which batches lack one) and of products (which
//! certificates have a batch bound to a GTIN), read from the records' JSON with PostgreSQL's
//! `jsonb` functions; the rest is shared (`shared/marks.rs`).

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

    /// The certificates with a batch bound to `gtin` (14 digits), read from the records' JSON;
    /// `strpos` first, so that only records naming the GTIN are parsed.
    pub(super) async fn select_numbers_with_gtin(
        &self,
        gtin: &str,
        limit: u32,
    ) -> Result<Vec<CertificateNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT c.number AS number \
             FROM certificates c \
             CROSS JOIN LATERAL jsonb_array_elements(c.record::jsonb -> 'mark_batches') AS b(value) \
             WHERE strpos(c.record, $1) > 0 AND b.value ->> 'gtin' = $2 \
             ORDER BY c.number LIMIT $3",
        )
        .bind(format!("\"{gtin}\""))
        .bind(gtin)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| number_of(row.try_get("number")?)).collect()
    }
}
