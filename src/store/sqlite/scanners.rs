//! The SQLite side of distinct scanners: one row per serial that has any, its set packed by
//! [`ScannerSet::encode`]; the read is shared (`shared/marks.rs`).

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::shared::union_of;
use super::SqliteStore;
use crate::domain::{ScannerSet, SerialKey};
use crate::store::StoreError;

/// Serials per read and per multi-row upsert (four bound values each).
const SERIALS_PER_STATEMENT: usize = 100;

impl SqliteStore {
    /// Unions the sets into the stored ones in one transaction, a page of serials at a time.
    pub(super) async fn union_scanners(&self, sorted: &[&(SerialKey, ScannerSet)]) -> Result<(), StoreError> {
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
                let merged: Vec<(u32, Vec<u8>)> =
                    page.iter().map(|(key, set)| (key.serial, union_of(key, stored.get(&key.serial), set))).collect();
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
}
