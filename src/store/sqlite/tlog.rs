//! The SQLite side of the transparency log: leaf rows written as one multi-row `INSERT`; the
//! rest of the log's SQL is shared (`shared/log.rs`).

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::store::StoreError;
use crate::tlog::Hash;

impl SqliteStore {
    /// Inserts leaves `first ..` for the `(number, version)` keys with the given hashes.
    pub(super) async fn insert_leaf_rows(
        conn: &mut SqliteConnection,
        first: i64,
        keys: &[(&str, i64)],
        hashes: &[Hash],
    ) -> Result<(), StoreError> {
        let mut insert: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO tlog_leaves (idx, number, version, hash) ");
        insert.push_values((first..).zip(keys.iter().zip(hashes)), |mut b, (idx, ((number, version), hash))| {
            b.push_bind(idx).push_bind(*number).push_bind(*version).push_bind(hash.as_slice());
        });
        insert.build().execute(conn).await?;
        Ok(())
    }
}
