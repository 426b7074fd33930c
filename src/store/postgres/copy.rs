//! Rows written with `COPY ... FROM STDIN (FORMAT binary)`, for a bulk import's events, state
//! rows and log leaves: the server reads each field as it is sent, where `INSERT ... SELECT FROM
//! UNNEST(arrays)` first builds every array, then unpacks and plans it (about twice the server's
//! time a row for the events). COPY fires the same triggers, statement-level ones with their
//! transition tables included, and checks the same constraints, in the same transaction.
//!
//! The binary format (PostgreSQL's documentation, "COPY", "Binary Format"): a signature, then
//! per row the number of fields and each field as its length and its bytes in the type's binary
//! form (`bigint` 8 bytes big-endian; `text` its UTF-8; `bytea` its bytes; `timestamptz`
//! microseconds and `date` days since 2000-01-01, big-endian), -1 for NULL; then -1 as the end.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00:00 UTC.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The rows of one COPY, encoded as they are added.
pub(super) struct CopyRows {
    data: Vec<u8>,
    fields: i16,
}

impl CopyRows {
    /// An empty COPY of rows of `fields` columns, with room for `capacity` bytes.
    pub(super) fn new(fields: i16, capacity: usize) -> Self {
        let mut data = Vec::with_capacity(capacity + 32);
        data.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        data.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        data.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Self { data, fields }
    }

    /// Starts a row; its fields follow, in the statement's column order.
    pub(super) fn row(&mut self) -> &mut Self {
        self.data.extend_from_slice(&self.fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // A field longer than 2 GiB cannot be one of ours (records are kilobytes); were it one, the
        // server would read a wrong length and refuse the COPY rather than store anything.
        let length = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.data.extend_from_slice(&length.to_be_bytes());
        self.data.extend_from_slice(bytes);
        self
    }

    pub(super) fn bigint(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        self.field(value.as_bytes())
    }

    pub(super) fn optional_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(text) => self.text(text),
            None => {
                self.data.extend_from_slice(&(-1i32).to_be_bytes());
                self
            }
        }
    }

    pub(super) fn bytea(&mut self, value: &[u8]) -> &mut Self {
        self.field(value)
    }

    /// An instant in whole microseconds (anything finer is dropped, as a bound value's would be).
    pub(super) fn timestamptz(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.field(&(value.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes())
    }

    pub(super) fn date(&mut self, value: NaiveDate) -> &mut Self {
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        // Dates of certificates are within a few centuries of 2000: far inside an i32 of days.
        let days = i32::try_from(value.signed_duration_since(epoch).num_days()).unwrap_or(i32::MAX);
        self.field(&days.to_be_bytes())
    }

    /// Sends the rows with `statement` (a `COPY table (columns) FROM STDIN (FORMAT binary)`) on
    /// `conn`, and answers how many the server stored; an error (a constraint, a trigger) leaves
    /// none stored and the transaction failed, as a failed `INSERT` would.
    pub(super) async fn send(mut self, conn: &mut PgConnection, statement: &str) -> Result<u64, sqlx::Error> {
        self.data.extend_from_slice(&(-1i16).to_be_bytes());
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(self.data).await?;
        copy.finish().await
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_in_postgresql_binary_form() {
        let mut rows = CopyRows::new(6, 0);
        let at = DateTime::parse_from_rfc3339("2000-01-01T00:00:01.000002Z").unwrap().with_timezone(&Utc);
        rows.row()
            .bigint(-2)
            .text("é")
            .optional_text(None)
            .bytea(&[0, 255])
            .timestamptz(at)
            .date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap());
        let mut expected = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        expected.extend_from_slice(&[0, 6]);
        expected.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        expected.extend_from_slice(&[0, 0, 0, 2, 0xc3, 0xa9]);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0, 0, 0, 2, 0, 255]);
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x42]);
        expected.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(rows.bytes(), expected.as_slice());
    }
}
