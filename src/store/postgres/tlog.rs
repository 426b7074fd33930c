//! The PostgreSQL side of the transparency log: leaf rows written from bound arrays or a binary
//! COPY (under [`super::EVENTS_LOCK`]); the rest of the log's SQL is shared (`shared/log.rs`).

use sqlx::PgConnection;

use super::copy::CopyRows;
use super::PostgresStore;
use crate::store::StoreError;
use crate::tlog::Hash;

/// From this many leaves on (a bulk import's), they are sent as a binary COPY, in index order;
/// fewer (one change's) are one `INSERT`, which takes one round trip to COPY's two.
const COPY_FROM_ROWS: usize = 64;

impl PostgresStore {
    /// Inserts leaves `first ..` for the `(number, version)` keys with the given hashes.
    pub(super) async fn insert_leaf_rows(
        conn: &mut PgConnection,
        first: i64,
        keys: &[(&str, i64)],
        hashes: &[Hash],
    ) -> Result<(), StoreError> {
        if keys.len() >= COPY_FROM_ROWS {
            let mut rows = CopyRows::new(4, keys.len() * 80);
            for ((index, (number, version)), hash) in (first..).zip(keys).zip(hashes) {
                rows.row().bigint(index).text(number).bigint(*version).bytea(hash.as_slice());
            }
            rows.send(conn, "COPY tlog_leaves (idx, number, version, hash) FROM STDIN (FORMAT binary)").await?;
            return Ok(());
        }
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
