//! The PostgreSQL side of verification receipts: one append-only row per receipt.

use sqlx::Row;

use super::{micros, PostgresStore};
use crate::store::{StoreError, StoredReceipt};

impl PostgresStore {
    /// Stores a receipt; storing the very same receipt again is a no-op, while another
    /// document under a taken id is refused as corrupt (ids are derived from the documents).
    pub(super) async fn insert_receipt(&self, receipt: &StoredReceipt) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO receipts (id, issued_at, document) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&receipt.id)
        .bind(micros(receipt.issued_at))
        .bind(&receipt.document)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            receipt.same_as(self.select_receipt(&receipt.id).await?.as_ref())?;
        }
        Ok(())
    }

    pub(super) async fn select_receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let row = sqlx::query("SELECT id, issued_at, document FROM receipts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredReceipt {
            id: row.try_get("id")?,
            issued_at: row.try_get("issued_at")?,
            document: row.try_get("document")?,
        }))
    }
}
