//! The PostgreSQL side of the transparency log: leaf rows written from bound arrays (under
//! [`super::EVENTS_LOCK`]); the rest of the log's SQL is shared (`shared/log.rs`).

use sqlx::PgConnection;

use super::PostgresStore;
use crate::store::StoreError;
use crate::tlog::Hash;

impl PostgresStore {
    /// Inserts leaves `first ..` for the `(number, version)` keys with the given hashes.
    pub(super) async fn insert_leaf_rows(
        conn: &mut PgConnection,
        first: i64,
        keys: &[(&str, i64)],
        hashes: &[Hash],
    ) -> Result<(), StoreError> {
        let indexes: Vec<i64> = (first..).take(keys.len()).collect();
        let numbers: Vec<&str> = keys.iter().map(|(number, _)| *number).collect();
        let versions: Vec<i64> = keys.iter().map(|(_, version)| *version).collect();
        let hashes: Vec<&[u8]> = hashes.iter().map(|hash| hash.as_slice()).collect();
        sqlx::query(
            "INSERT INTO tlog_leaves (idx, number, version, hash) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bytea[]) ORDER BY 1",
        )
        .bind(&indexes)
        .bind(&numbers)
        .bind(&versions)
        .bind(&hashes)
        .execute(conn)
        .await?;
        Ok(())
    }
}
