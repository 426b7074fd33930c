//! Products: the `product_certificates` index (GTIN, certificate, batch), kept in the
//! transaction of every change from the record it writes, and read by the product lookup.

use sqlx::{QueryBuilder, Row};

use super::{number_of, Backend, Connection, Db};
use crate::domain::{CertificateNumber, Gtin};
use crate::store::dialect::Dialect;
use crate::store::{NewEvent, StoreError};

/// Rows per insert: three values each, well under either backend's limit of bound values.
const ROWS_PER_INSERT: usize = 300;

/// The (GTIN, number, batch) rows of `events`' records: one per batch bound to a product.
fn rows_of(events: &[NewEvent]) -> Vec<(&str, &str, i64)> {
    events
        .iter()
        .flat_map(|event| {
            let record = &event.signed.record;
            record
                .mark_batches
                .iter()
                .filter_map(move |b| Some((b.gtin.as_ref()?.as_str(), record.number.as_str(), i64::from(b.id))))
        })
        .collect()
}

/// Writes the product rows of `events`' records; with `replace`, after removing the rows their
/// certificates had (a change of an existing certificate), else for new certificates.
pub(in crate::store) async fn put_products(
    conn: &mut Connection,
    events: &[NewEvent],
    replace: bool,
) -> Result<(), StoreError> {
    if replace {
        for event in events {
            sqlx::query("DELETE FROM product_certificates WHERE number = $1")
                .bind(event.signed.record.number.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }
    for chunk in rows_of(events).chunks(ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Db> = QueryBuilder::new("INSERT INTO product_certificates (gtin, number, batch) ");
        insert.push_values(chunk, |mut row, (gtin, number, batch)| {
            row.push_bind(*gtin).push_bind(*number).push_bind(*batch);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl Backend {
    /// The certificates the index names for `gtin`, in number order, at most `limit`.
    pub(super) async fn select_numbers_with_gtin(
        &self,
        gtin: &Gtin,
        limit: u32,
    ) -> Result<Vec<CertificateNumber>, StoreError> {
        let rows =
            sqlx::query("SELECT DISTINCT number FROM product_certificates WHERE gtin = $1 ORDER BY number LIMIT $2")
                .bind(gtin.as_str())
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await?;
        rows.iter().map(|row| number_of(row.try_get("number")?)).collect()
    }
}
