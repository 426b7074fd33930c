//! The SQL both backends share, written once and compiled once for each: `sqlite.rs` and
//! `postgres.rs` each include this folder as their module `shared`, after naming their store
//! type `Backend` and their sqlx database `Db`, so every statement here runs with concrete types
//! (no generic sqlx bounds, no `Any`).
//!
//! How a statement is written once: its text uses `$1, $2, ...` placeholders, which PostgreSQL
//! takes natively and sqlx passes to SQLite as numbered parameters (`$NNN`), so one text serves
//! both; statements built piece by piece use a `QueryBuilder`, which writes each backend's own
//! placeholders. Integers are bound and read as `i64` on both. What the dialects write
//! differently (instants and dates, case folding, lists of numbers) comes from the backend's
//! [`super::Dialect`]; what they do differently (locking, bulk inserts, upserts of merged blobs,
//! reading JSON in SQL) stays in the backend's own files, which call the helpers here.

mod log;
mod marks;
mod products;
mod rows;
mod staff;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::{Backend, Db};
use crate::domain::{CertificateNumber, Gtin, ScanTally, ScannerSet, SearchQuery, SerialKey, State, Uscc};
use crate::store::columns::like_escape;
use crate::store::dialect::Dialect;
use crate::store::{
    NewEvent, ScanDeltas, Store, StoreError, StoredCertificate, StoredEvent, StoredIntegratorKey, StoredMarkDigests,
    StoredReceipt, StoredToken,
};

pub(super) use log::append_leaves;
pub(super) use marks::{fold_chunk, union_of};
pub(super) use products::put_products;
pub(super) use rows::{batch_of, number_of, version_of};

/// The columns [`rows::integrator_key`] reads.
const INTEGRATOR_KEY_COLUMNS: &str =
    "id, label, secret_hash, rate_quota, rate_window_secs, created_at, last_used_at, revoked_at";

/// The connection a transaction runs on.
pub(super) type Connection = <Db as sqlx::Database>::Connection;

/// The columns of a certificate's current version that [`rows::certificate`] reads: the signed
/// record and, for the registry to compare with it, the row's copies of its fields
/// ([`crate::store::RowColumns`]).
const CERTIFICATE_COLUMNS: &str =
    "number, version, holder_name, holder_name_en, uscc, level, state, valid_until, record, signature, updated_at";

/// Checks a certificate's stored version before a change: it must exist, be at
/// `expected_version`, and the new record must be the next version.
pub(super) fn check_version(current: Option<i64>, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
    let record = &event.signed.record;
    match current {
        None => Err(StoreError::NotFound(record.number.to_string())),
        Some(version) if version != i64::from(expected_version) || record.version != expected_version + 1 => {
            Err(StoreError::VersionConflict { number: record.number.to_string(), expected: expected_version })
        }
        Some(_) => Ok(()),
    }
}

/// Writes the current state of `event`'s certificate over `expected_version`; true when the row
/// was at that version and is now updated.
pub(super) async fn update_state(
    conn: &mut Connection,
    event: &NewEvent,
    canonical: &str,
    signature: &str,
    expected_version: u32,
) -> Result<bool, StoreError> {
    let record = &event.signed.record;
    let updated = sqlx::query(
        "UPDATE certificates SET version = $1, holder_name = $2, holder_name_en = $3, uscc = $4, level = $5, \
         state = $6, valid_until = $7, record = $8, signature = $9, updated_at = $10 \
         WHERE number = $11 AND version = $12",
    )
    .bind(i64::from(record.version))
    .bind(&record.holder.name)
    .bind(record.holder.name_en.as_deref())
    .bind(record.holder.uscc.as_str())
    .bind(record.level.as_str())
    .bind(record.status.state.as_str())
    .bind(Backend::date(record.valid_until))
    .bind(canonical)
    .bind(signature)
    .bind(Backend::instant(event.at))
    .bind(record.number.as_str())
    .bind(i64::from(expected_version))
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

impl Backend {
    /// The rows of `numbers` that exist, `columns` of each, a statement per
    /// [`Dialect::ROWS_PER_STATEMENT`] numbers.
    async fn rows_of_numbers(
        &self,
        columns: &str,
        numbers: &[CertificateNumber],
    ) -> Result<Vec<<Db as sqlx::Database>::Row>, StoreError> {
        let mut found = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(Self::ROWS_PER_STATEMENT) {
            let mut query: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {columns} FROM certificates WHERE"));
            Self::push_numbers(&mut query, chunk);
            found.extend(query.build().fetch_all(self.reads()).await?);
        }
        Ok(found)
    }
}

#[async_trait]
impl Store for Backend {
    async fn insert_new(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        self.insert_new_events(events).await
    }

    async fn append(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
        self.append_event(event, expected_version).await
    }

    async fn existing_numbers(&self, numbers: &[CertificateNumber]) -> Result<Vec<CertificateNumber>, StoreError> {
        let rows = self.rows_of_numbers("number", numbers).await?;
        rows.iter().map(|row| rows::number_of(row.try_get("number")?)).collect()
    }

    async fn get(&self, number: &CertificateNumber) -> Result<Option<StoredCertificate>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE number = $1"))
            .bind(number.as_str())
            .fetch_optional(self.reads())
            .await?;
        row.as_ref().map(rows::certificate).transpose()
    }

    async fn get_many(&self, numbers: &[CertificateNumber]) -> Result<Vec<StoredCertificate>, StoreError> {
        let rows = self.rows_of_numbers(CERTIFICATE_COLUMNS, numbers).await?;
        rows.iter().map(rows::certificate).collect()
    }

    /// Holder names match as substrings with ASCII letters in either case, and only ASCII
    /// letters ([`Dialect::ascii_lowercase`]), whatever the server's locale.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<StoredCertificate>, StoreError> {
        if !Self::TEXT_HOLDS_NUL && query.text.as_deref().is_some_and(|text| text.contains('\0')) {
            return Ok(Vec::new());
        }
        let mut sql: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE 1 = 1"));
        // Filters read the signed record, not the row's copies of its fields: an edit of a copy
        // alone can neither add a row to a filter's answer nor hide one from it. Only the
        // indexed `number` and `uscc` lookups use columns; the registry checks every row's
        // columns against its record before using it.
        let name = Self::ascii_lowercase(&Self::record_field(&["holder", "name"]));
        let name_en = Self::ascii_lowercase(&Self::record_field(&["holder", "name_en"]));
        let state_field = Self::record_field(&["status", "state"]);
        let valid_until = Self::record_field(&["valid_until"]);
        if let Some(text) = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let upper = text.to_ascii_uppercase();
            let pattern = format!("%{}%", like_escape(&text.to_ascii_lowercase()));
            sql.push(" AND (number = ")
                .push_bind(upper.clone())
                .push(" OR number LIKE ")
                .push_bind(format!("{}%", like_escape(&upper)))
                .push(format!(" ESCAPE '\\' OR {} = ", Self::record_field(&["holder", "uscc"])))
                .push_bind(upper)
                .push(format!(" OR {name} LIKE "))
                .push_bind(pattern.clone())
                .push(format!(" ESCAPE '\\' OR {name_en} LIKE "))
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(uscc) = &query.uscc {
            sql.push(" AND uscc = ").push_bind(uscc.as_str().to_string());
        }
        if let Some(level) = query.level {
            sql.push(format!(" AND {} = ", Self::record_field(&["level"]))).push_bind(level.as_str());
        }
        // Dates in the record are `YYYY-MM-DD` text, which orders as the dates do.
        let today = query.today.to_string();
        match query.state {
            None => {}
            Some(State::Expired) => {
                sql.push(format!(" AND {state_field} IN ('valid', 'suspended') AND {valid_until} < ")).push_bind(today);
            }
            Some(state @ (State::Valid | State::Suspended)) => {
                sql.push(format!(" AND {state_field} = "))
                    .push_bind(state.as_str())
                    .push(format!(" AND {valid_until} >= "))
                    .push_bind(today);
            }
            Some(state) => {
                sql.push(format!(" AND {state_field} = ")).push_bind(state.as_str());
            }
        }
        if let Some(after) = &query.after {
            sql.push(" AND number > ").push_bind(after.as_str().to_string());
        }
        sql.push(" ORDER BY number LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(self.reads()).await?;
        rows.iter().map(rows::certificate).collect()
    }

    async fn history(&self, number: &CertificateNumber) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, number, version, kind, actor, at, details, record, signature FROM events \
             WHERE number = $1 ORDER BY version",
        )
        .bind(number.as_str())
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, CertificateNumber, u32)>, StoreError> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT seq, number, version FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await?;
        rows.into_iter()
            .map(|(seq, number, version)| Ok((seq, rows::number_of(number)?, version_of(version)?)))
            .collect()
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(self.reads()).await?;
        Ok(seq.unwrap_or(0))
    }

    async fn reserve_sequence(&self, year: i32, count: u64) -> Result<u64, StoreError> {
        let count = i64::try_from(count).map_err(|_| StoreError::Corrupt("sequence count too large".into()))?;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO number_sequences (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE SET last = number_sequences.last + excluded.last RETURNING last",
        )
        .bind(year)
        .bind(count)
        .fetch_one(self.writes())
        .await?;
        u64::try_from(last - count + 1).map_err(|_| StoreError::Corrupt("negative sequence".into()))
    }

    async fn count_certificates(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates").fetch_one(self.reads()).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn count_holder_certificates(&self, uscc: &Uscc) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE uscc = $1")
            .bind(uscc.as_str())
            .fetch_one(self.reads())
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.reads()).await?;
        Ok(())
    }

    async fn add_scans(&self, deltas: &ScanDeltas) -> Result<u64, StoreError> {
        self.add_scan_tallies(deltas).await
    }

    async fn scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        self.select_scan_tally(key).await
    }

    async fn scan_summary(
        &self,
        number: &CertificateNumber,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        self.select_scan_summary(number.as_str(), limit).await
    }

    async fn insert_token(&self, token: &StoredToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, role, secret_hash, label, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&token.id)
        .bind(token.role.as_str())
        .bind(&token.secret_hash)
        .bind(&token.label)
        .bind(Self::instant(token.created_at))
        .execute(self.writes())
        .await?;
        Ok(())
    }

    async fn find_token(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let row =
            sqlx::query("SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(self.reads())
                .await?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens ORDER BY created_at",
        )
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(rows::token).collect()
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(Self::instant(at))
            .bind(id)
            .execute(self.writes())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_integrator_key(&self, key: &StoredIntegratorKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO integrator_keys (id, label, secret_hash, rate_quota, rate_window_secs, created_at, \
             last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
        )
        .bind(&key.id)
        .bind(&key.label)
        .bind(&key.secret_hash)
        .bind(i64::from(key.rate.quota))
        .bind(i64::from(key.rate.window_secs))
        .bind(Self::instant(key.created_at))
        .execute(self.writes())
        .await?;
        Ok(())
    }

    async fn find_integrator_key(&self, id: &str) -> Result<Option<StoredIntegratorKey>, StoreError> {
        let sql = format!("SELECT {INTEGRATOR_KEY_COLUMNS} FROM integrator_keys WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.reads()).await?;
        row.as_ref().map(rows::integrator_key).transpose()
    }

    async fn list_integrator_keys(&self) -> Result<Vec<StoredIntegratorKey>, StoreError> {
        let sql = format!("SELECT {INTEGRATOR_KEY_COLUMNS} FROM integrator_keys ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(self.reads()).await?;
        rows.iter().map(rows::integrator_key).collect()
    }

    async fn revoke_integrator_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE integrator_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(Self::instant(at))
            .bind(id)
            .execute(self.writes())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_integrator_key_uses(&self, uses: &[(&str, DateTime<Utc>)]) -> Result<(), StoreError> {
        // Instants are written so that they sort as they compare on both backends.
        for (id, at) in uses {
            sqlx::query(
                "UPDATE integrator_keys SET last_used_at = $1 \
                 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(Self::instant(*at))
            .bind(*id)
            .execute(self.writes())
            .await?;
        }
        Ok(())
    }

    async fn put_receipt(&self, receipt: &StoredReceipt) -> Result<(), StoreError> {
        self.insert_receipt(receipt).await
    }

    async fn get_receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        self.select_receipt(id).await
    }

    async fn put_mark_digests(&self, digests: &StoredMarkDigests) -> Result<(), StoreError> {
        self.upsert_mark_digests(digests).await
    }

    async fn get_mark_digests(
        &self,
        number: &CertificateNumber,
        batch: u32,
    ) -> Result<Option<StoredMarkDigests>, StoreError> {
        self.select_mark_digests(number, batch).await
    }

    async fn batches_without_digests(&self) -> Result<Vec<(CertificateNumber, u32)>, StoreError> {
        self.select_batches_without_digests().await
    }

    async fn numbers_with_gtin(&self, gtin: &Gtin, limit: u32) -> Result<Vec<CertificateNumber>, StoreError> {
        self.select_numbers_with_gtin(gtin, limit).await
    }

    async fn scanned_serials(&self, number: &CertificateNumber, batch: u32) -> Result<Vec<u32>, StoreError> {
        self.select_scanned_serials(number.as_str(), batch).await
    }

    async fn add_scanners(&self, sets: &[(SerialKey, ScannerSet)]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(SerialKey, ScannerSet)> = sets.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        self.union_scanners(&sorted).await
    }

    async fn scanners(&self, key: &SerialKey) -> Result<Option<ScannerSet>, StoreError> {
        self.select_scanners(key).await
    }

    async fn scan_history(&self, key: &SerialKey) -> Result<(Option<ScanTally>, Option<ScannerSet>), StoreError> {
        self.select_serial_history(key).await
    }
}
