//! The PostgreSQL side of distinct scanners: one row per serial that has any, its set packed by
//! [`ScannerSet::encode`]. Flushes of several instances union into the same rows, so each holds
//! [`SCANS_LOCK`] for its transaction, as scan tallies do.

use std::collections::HashMap;

use sqlx::Row;

use super::{begin, lock, PostgresStore, SCANS_LOCK};
use crate::store::{ScannerSet, SerialKey, StoreError};

/// Serials per read and per write (bound arrays).
const SERIALS_PER_STATEMENT: usize = 1000;

/// The stored set of `key`, or none (and logged) when its bytes are damaged.
fn decoded(key: &SerialKey, bytes: &[u8]) -> Option<ScannerSet> {
    let set = ScannerSet::decode(bytes);
    if set.is_none() {
        tracing::error!(number = %key.number, key.batch, key.serial, "stored scanners damaged: counted again from now");
    }
    set
}

impl PostgresStore {
    /// Unions the sets into the stored ones in one transaction.
    pub(super) async fn union_scanners(&self, sets: &[(SerialKey, ScannerSet)]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(SerialKey, ScannerSet)> = sets.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
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
                    let mut union = held.and_then(|b| decoded(key, b)).unwrap_or_default();
                    union.merge(set);
                    union.encode()
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

    pub(super) async fn select_scanners(&self, key: &SerialKey) -> Result<Option<ScannerSet>, StoreError> {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT scanners FROM mark_scanners WHERE number = $1 AND batch = $2 AND serial = $3")
                .bind(&key.number)
                .bind(i64::from(key.batch))
                .bind(i64::from(key.serial))
                .fetch_optional(&self.pool)
                .await?;
        Ok(blob.and_then(|blob| decoded(key, &blob)))
    }
}
