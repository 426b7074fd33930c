//! The PostgreSQL side of distinct scanners: one row per serial that has any, its set packed by
//! [`ScannerSet::encode`]. Flushes of several instances union into the same rows, so each holds
//! [`SCANS_LOCK`] for its transaction, as scan tallies do. The read is shared
//! (`shared/marks.rs`).

use std::collections::HashMap;

use sqlx::Row;

use super::shared::union_of;
use super::{begin, lock, PostgresStore, SCANS_LOCK};
use crate::domain::{ScannerSet, SerialKey};
use crate::store::StoreError;

/// Serials per read and per write (bound arrays).
const SERIALS_PER_STATEMENT: usize = 1000;

impl PostgresStore {
    /// Unions the sets into the stored ones in one transaction.
    pub(super) async fn union_scanners(&self, sorted: &[&(SerialKey, ScannerSet)]) -> Result<(), StoreError> {
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, SCANS_LOCK).await?;
        for page in sorted.chunks(SERIALS_PER_STATEMENT) {
            let numbers: Vec<&str> = page.iter().map(|(k, _)| k.number.as_str()).collect();
            let batches: Vec<i64> = page.iter().map(|(k, _)| i64::from(k.batch)).collect();
            let serials: Vec<i64> = page.iter().map(|(k, _)| i64::from(k.serial)).collect();
            let rows = sqlx::query(
                "SELECT s.number, s.batch, s.serial, s.scanners FROM mark_scanners s \
                 JOIN UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS t(number, batch, serial) \
                 ON s.number = t.number AND s.batch = t.batch AND s.serial = t.serial",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&serials)
            .fetch_all(&mut *tx)
            .await?;
            let mut stored: HashMap<(String, i64, i64), Vec<u8>> = HashMap::with_capacity(rows.len());
            for row in rows {
                stored.insert(
                    (row.try_get("number")?, row.try_get("batch")?, row.try_get("serial")?),
                    row.try_get("scanners")?,
                );
            }
            let blobs: Vec<Vec<u8>> = page
                .iter()
                .map(|(key, set)| {
                    let held = stored.get(&(key.number.clone(), i64::from(key.batch), i64::from(key.serial)));
                    union_of(key, held, set)
                })
                .collect();
            sqlx::query(
                "INSERT INTO mark_scanners (number, batch, serial, scanners) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bytea[]) \
                 ON CONFLICT (number, batch, serial) DO UPDATE SET scanners = excluded.scanners",
            )
            .bind(&numbers)
            .bind(&batches)
            .bind(&serials)
            .bind(&blobs)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
