//! The SQLite side of distinct scanners: one row per serial that has any, its set packed by
//! [`ScannerSet::encode`].

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::SqliteStore;
use crate::store::{ScannerSet, SerialKey, StoreError};

/// Serials per read and per multi-row upsert (four bound values each).
const SERIALS_PER_STATEMENT: usize = 100;

/// The stored set of `key`, or none (and logged) when its bytes are damaged.
fn decoded(key: &SerialKey, bytes: &[u8]) -> Option<ScannerSet> {
    let set = ScannerSet::decode(bytes);
    if set.is_none() {
        tracing::error!(number = %key.number, key.batch, key.serial, "stored scanners damaged: counted again from now");
    }
    set
}

impl SqliteStore {
    /// Unions the sets into the stored ones in one transaction, a page of serials at a time.
    pub(super) async fn union_scanners(&self, sets: &[(SerialKey, ScannerSet)]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(SerialKey, ScannerSet)> = sets.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for group in sorted.chunk_by(|a, b| a.0.number == b.0.number && a.0.batch == b.0.batch) {
            for page in group.chunks(SERIALS_PER_STATEMENT) {
                let (number, batch) = (&page[0].0.number, page[0].0.batch);
                let mut select: QueryBuilder<Sqlite> =
                    QueryBuilder::new("SELECT serial, scanners FROM mark_scanners WHERE number = ");
                select.push_bind(number).push(" AND batch = ").push_bind(batch).push(" AND serial IN (");
                let mut ids = select.separated(", ");
                for (key, _) in page {
                    ids.push_bind(key.serial);
                }
                select.push(")");
                let mut stored: HashMap<u32, Vec<u8>> = HashMap::with_capacity(page.len());
                for row in select.build().fetch_all(&mut *tx).await? {
                    stored.insert(row.try_get("serial")?, row.try_get("scanners")?);
                }
                let merged: Vec<(u32, Vec<u8>)> = page
                    .iter()
                    .map(|(key, set)| {
                        let mut union = stored.get(&key.serial).and_then(|b| decoded(key, b)).unwrap_or_default();
                        union.merge(set);
                        (key.serial, union.encode())
                    })
                    .collect();
                let mut upsert: QueryBuilder<Sqlite> =
                    QueryBuilder::new("INSERT INTO mark_scanners (number, batch, serial, scanners) ");
                upsert.push_values(&merged, |mut b, (serial, blob)| {
                    b.push_bind(number).push_bind(batch).push_bind(*serial).push_bind(blob.as_slice());
                });
                upsert.push(" ON CONFLICT (number, batch, serial) DO UPDATE SET scanners = excluded.scanners");
                upsert.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn select_scanners(&self, key: &SerialKey) -> Result<Option<ScannerSet>, StoreError> {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT scanners FROM mark_scanners WHERE number = ? AND batch = ? AND serial = ?")
                .bind(&key.number)
                .bind(key.batch)
                .bind(key.serial)
                .fetch_optional(&self.reader)
                .await?;
        Ok(blob.and_then(|blob| decoded(key, &blob)))
    }
}
