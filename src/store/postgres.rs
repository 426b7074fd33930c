//! The PostgreSQL store: the same events, current state and log as the embedded SQLite store,
//! schema from `migrations/postgres`, for several instances sharing one database.
//!
//! SQLite has one writer at a time by construction (`BEGIN IMMEDIATE` on one connection).
//! Here every transaction that appends events, and so log leaves, first takes one
//! transaction-scoped advisory lock, [`EVENTS_LOCK`], shared by every instance on the database:
//! writers queue, each reads the version it checks, the next sequence number and the next log
//! index only once the writer before it has committed, and events become visible in sequence
//! order (PostgreSQL makes a commit visible before it releases the transaction's locks). Scan
//! flushes, which read, merge and rewrite blobs, queue the same way on [`SCANS_LOCK`].

mod connect;
mod mark_digests;
mod receipts;
mod scanners;
mod scans;
mod tlog;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgDatabaseError, PgPool, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row, Transaction};

use super::columns::{details_json, like_escape, signature_json, utf8, SELECT_CERTIFICATES};
use super::{
    EventKind, NewEvent, Role, RowColumns, ScanDeltas, ScanTally, SearchQuery, SerialKey, Store, StoreError,
    StoredCertificate, StoredEvent, StoredMarkDigests, StoredReceipt, StoredToken,
};
use crate::crypto::Signature;
use crate::domain::{CertificateNumber, CertificateRecord, State, Uscc};

pub use connect::display_url;

/// Rows per bulk statement (arrays bound whole, so there is no bound-variable limit to respect;
/// this only bounds the size of one message).
const BULK_ROWS: usize = 1_000;

/// Advisory lock key taken by every transaction that appends events ("STARMARK" in ASCII).
const EVENTS_LOCK: i64 = 0x5354_4152_4d41_524b;
/// Advisory lock key taken by every scan flush ("STARSCAN" in ASCII).
const SCANS_LOCK: i64 = 0x5354_4152_5343_414e;
/// How long a transaction waits for [`EVENTS_LOCK`] or [`SCANS_LOCK`]. Writers hold them for
/// milliseconds, an import's transaction of 5,000 certificates for under a second; a wait without a bound
/// would outlive the request (whose time limit is 10 s by default) and keep its connection busy
/// until the lock comes. Shorter than that limit, so the client hears "try again", not a timeout.
const LOCK_WAIT_SETTING: &str = "SET LOCAL lock_timeout = '8s'";

/// PostgreSQL-backed [`Store`]: one connection pool for reads and writes.
pub struct PostgresStore {
    pool: PgPool,
}

/// An instant as written to a `timestamptz`: whole microseconds, rounded down the same way the
/// text of the event's time in its log leaf is ([`super::columns::timestamp`]), so reading it
/// back gives that text again.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// A stored version, which the schema keeps within `u32`.
fn version_of(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("version {value} out of range")))
}

/// A stored batch number, which the schema keeps within `u32`.
fn batch_of(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("batch {value} out of range")))
}

/// Begins a READ COMMITTED transaction (whatever the server's default): each statement after
/// the advisory lock sees what the previous lock holder committed.
async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    Ok(pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?)
}

/// Waits for the transaction-scoped advisory lock `key`, released at commit or rollback, for at
/// most [`LOCK_WAIT_SETTING`]; then the server refuses with `lock_not_available`, which the API answers
/// as 503 with `Retry-After` ([`StoreError::is_unavailable`]).
async fn lock(conn: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query(LOCK_WAIT_SETTING).execute(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(conn).await?;
    Ok(())
}

/// The sequence number after the last event (events are numbered 1, 2, 3 ... with no gap, as
/// SQLite's AUTOINCREMENT numbers them). Only under [`EVENTS_LOCK`].
async fn next_seq(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").fetch_one(conn).await?)
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`) and brings its
    /// schema up to date; a bad URL or an unreachable server is said plainly, naming the host.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = connect::connect(url).await?;
        Ok(Self { pool })
    }

    fn certificate_from_row(row: &PgRow) -> Result<StoredCertificate, StoreError> {
        let canonical: String = row.try_get("record")?;
        let record: CertificateRecord =
            serde_json::from_str(&canonical).map_err(|e| StoreError::Corrupt(format!("record does not parse: {e}")))?;
        let signature: String = row.try_get("signature")?;
        let signature: Signature = serde_json::from_str(&signature)
            .map_err(|e| StoreError::Corrupt(format!("signature does not parse: {e}")))?;
        let valid_until: NaiveDate = row.try_get("valid_until")?;
        let columns = RowColumns {
            number: row.try_get("number")?,
            version: version_of(row.try_get("version")?)?,
            holder_name: row.try_get("holder_name")?,
            holder_name_en: row.try_get("holder_name_en")?,
            uscc: row.try_get("uscc")?,
            level: row.try_get("level")?,
            state: row.try_get("state")?,
            valid_until: valid_until.to_string(),
        };
        Ok(StoredCertificate {
            record,
            canonical,
            signature,
            updated_at: row.try_get("updated_at")?,
            columns: Some(columns),
        })
    }

    fn token_from_row(row: &PgRow) -> Result<StoredToken, StoreError> {
        let role: String = row.try_get("role")?;
        Ok(StoredToken {
            id: row.try_get("id")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
            secret_hash: row.try_get("secret_hash")?,
            label: row.try_get("label")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }

    /// A transaction holding [`EVENTS_LOCK`]: the only way events and leaves are written.
    async fn begin_events(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, EVENTS_LOCK).await?;
        Ok(tx)
    }
}

/// The columns of a batch of new events, one array per column, for `UNNEST`.
#[derive(Default)]
struct EventColumns<'a> {
    seq: Vec<i64>,
    number: Vec<&'a str>,
    version: Vec<i64>,
    kind: Vec<&'static str>,
    actor: Vec<&'a str>,
    at: Vec<DateTime<Utc>>,
    details: Vec<String>,
    record: Vec<&'a str>,
    signature: Vec<String>,
    holder_name: Vec<&'a str>,
    holder_name_en: Vec<Option<&'a str>>,
    uscc: Vec<&'a str>,
    level: Vec<&'static str>,
    state: Vec<&'static str>,
    valid_until: Vec<NaiveDate>,
}

impl<'a> EventColumns<'a> {
    fn of(events: &'a [NewEvent], first_seq: i64) -> Result<Self, StoreError> {
        let mut columns = Self::default();
        for (seq, event) in (first_seq..).zip(events) {
            let record = &event.signed.record;
            columns.seq.push(seq);
            columns.number.push(record.number.as_str());
            columns.version.push(i64::from(record.version));
            columns.kind.push(event.kind.as_str());
            columns.actor.push(&event.actor);
            columns.at.push(micros(event.at));
            columns.details.push(details_json(event));
            columns.record.push(utf8(&event.signed.canonical)?);
            columns.signature.push(signature_json(&event.signed.signature)?);
            columns.holder_name.push(&record.holder.name);
            columns.holder_name_en.push(record.holder.name_en.as_deref());
            columns.uscc.push(record.holder.uscc.as_str());
            columns.level.push(record.level.as_str());
            columns.state.push(record.status.state.as_str());
            columns.valid_until.push(record.valid_until);
        }
        Ok(columns)
    }

    async fn insert_events(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO events (seq, number, version, kind, actor, at, details, record, signature) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
             $6::timestamptz[], $7::text[], $8::text[], $9::text[])",
        )
        .bind(&self.seq)
        .bind(&self.number)
        .bind(&self.version)
        .bind(&self.kind)
        .bind(&self.actor)
        .bind(&self.at)
        .bind(&self.details)
        .bind(&self.record)
        .bind(&self.signature)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn insert_state(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO certificates (number, version, holder_name, holder_name_en, uscc, level, state, \
             valid_until, record, signature, updated_at) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::date[], $9::text[], $10::text[], $11::timestamptz[])",
        )
        .bind(&self.number)
        .bind(&self.version)
        .bind(&self.holder_name)
        .bind(&self.holder_name_en)
        .bind(&self.uscc)
        .bind(&self.level)
        .bind(&self.state)
        .bind(&self.valid_until)
        .bind(&self.record)
        .bind(&self.signature)
        .bind(&self.at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_new(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin_events().await?;
        let mut seq = next_seq(&mut tx).await?;
        for chunk in events.chunks(BULK_ROWS) {
            let columns = EventColumns::of(chunk, seq)?;
            let taken: Option<String> =
                sqlx::query_scalar("SELECT number FROM certificates WHERE number = ANY($1) ORDER BY number LIMIT 1")
                    .bind(&columns.number)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(number) = taken {
                return Err(StoreError::Duplicate(number));
            }
            columns.insert_events(&mut tx).await.map_err(|e| duplicate_or(e, &columns.number))?;
            columns.insert_state(&mut tx).await.map_err(|e| duplicate_or(e, &columns.number))?;
            seq += chunk.len() as i64;
        }
        tlog::append_leaves(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
        let record = &event.signed.record;
        let conflict = || StoreError::VersionConflict { number: record.number.to_string(), expected: expected_version };
        let mut tx = self.begin_events().await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM certificates WHERE number = $1 FOR UPDATE")
            .bind(record.number.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        match current {
            None => return Err(StoreError::NotFound(record.number.to_string())),
            Some(version) if version != i64::from(expected_version) || record.version != expected_version + 1 => {
                return Err(conflict())
            }
            Some(_) => {}
        }
        let seq = next_seq(&mut tx).await?;
        let columns = EventColumns::of(std::slice::from_ref(event), seq)?;
        columns.insert_events(&mut tx).await?;
        tlog::append_leaves(&mut tx, std::slice::from_ref(event)).await?;
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
        .bind(record.valid_until)
        .bind(columns.record[0])
        .bind(&columns.signature[0])
        .bind(columns.at[0])
        .bind(record.number.as_str())
        .bind(i64::from(expected_version))
        .execute(&mut *tx)
        .await?;
        // The row is locked and its version was checked above; this only guards that reasoning.
        if updated.rows_affected() != 1 {
            return Err(conflict());
        }
        tx.commit().await?;
        Ok(())
    }

    async fn existing_numbers(&self, numbers: &[String]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in numbers.chunks(BULK_ROWS) {
            let rows: Vec<String> = sqlx::query_scalar("SELECT number FROM certificates WHERE number = ANY($1)")
                .bind(chunk)
                .fetch_all(&self.pool)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn get(&self, number: &CertificateNumber) -> Result<Option<StoredCertificate>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_CERTIFICATES} WHERE number = $1"))
            .bind(number.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::certificate_from_row).transpose()
    }

    async fn get_many(&self, numbers: &[String]) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut found = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(BULK_ROWS) {
            let rows = sqlx::query(&format!("{SELECT_CERTIFICATES} WHERE number = ANY($1)"))
                .bind(chunk)
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                found.push(Self::certificate_from_row(row)?);
            }
        }
        Ok(found)
    }

    /// The same matching as SQLite's: the holder's names match as substrings with ASCII letters
    /// in either case (SQLite's `LIKE`; `translate` rather than `ILIKE` or `lower`, whose case
    /// folding depends on the server's locale and reaches beyond ASCII).
    async fn search(&self, query: &SearchQuery) -> Result<Vec<StoredCertificate>, StoreError> {
        const UPPER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";
        // PostgreSQL text cannot hold NUL and no stored field has a control character, so a
        // search for one finds nothing (as on SQLite) rather than failing on the parameter.
        if query.text.as_deref().is_some_and(|text| text.contains('\0')) {
            return Ok(Vec::new());
        }
        // Filters read the signed record (parsed once a row), not the row's copies of its
        // fields: an edit of a copy alone can neither add a row to a filter's answer nor hide
        // one from it. Only the indexed `number` and `uscc` lookups use columns; the registry
        // checks every row's columns against its record before using it.
        let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "{SELECT_CERTIFICATES} CROSS JOIN LATERAL (SELECT certificates.record::jsonb AS signed) AS parsed WHERE TRUE"
        ));
        if let Some(text) = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let upper = text.to_ascii_uppercase();
            let pattern = format!("%{}%", like_escape(&text.to_ascii_lowercase()));
            sql.push(" AND (number = ")
                .push_bind(upper.clone())
                .push(" OR number LIKE ")
                .push_bind(format!("{}%", like_escape(&upper)))
                .push(" ESCAPE '\\' OR signed #>> '{holder,uscc}' = ")
                .push_bind(upper)
                .push(format!(" OR translate(signed #>> '{{holder,name}}', {UPPER}) LIKE "))
                .push_bind(pattern.clone())
                .push(format!(" ESCAPE '\\' OR translate(signed #>> '{{holder,name_en}}', {UPPER}) LIKE "))
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(uscc) = &query.uscc {
            sql.push(" AND uscc = ").push_bind(uscc.as_str().to_string());
        }
        if let Some(level) = query.level {
            sql.push(" AND signed ->> 'level' = ").push_bind(level.as_str());
        }
        const STATE: &str = "signed #>> '{status,state}'";
        const VALID_UNTIL: &str = "signed ->> 'valid_until'";
        let today = query.today.to_string();
        match query.state {
            None => {}
            Some(State::Expired) => {
                sql.push(format!(" AND {STATE} IN ('valid', 'suspended') AND {VALID_UNTIL} < ")).push_bind(today);
            }
            Some(state @ (State::Valid | State::Suspended)) => {
                sql.push(format!(" AND {STATE} = "))
                    .push_bind(state.as_str())
                    .push(format!(" AND {VALID_UNTIL} >= "))
                    .push_bind(today);
            }
            Some(state) => {
                sql.push(format!(" AND {STATE} = ")).push_bind(state.as_str());
            }
        }
        if let Some(after) = &query.after {
            sql.push(" AND number > ").push_bind(after.as_str().to_string());
        }
        sql.push(" ORDER BY number LIMIT ").push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(Self::certificate_from_row).collect()
    }

    async fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<(i64, String, u32)>, StoreError> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT seq, number, version FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(|(seq, number, version)| Ok((seq, number, version_of(version)?))).collect()
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&self.pool).await?;
        Ok(seq.unwrap_or(0))
    }

    async fn history(&self, number: &CertificateNumber) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, number, version, kind, actor, at, details, record, signature FROM events \
             WHERE number = $1 ORDER BY version",
        )
        .bind(number.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let details: String = row.try_get("details")?;
                let signature: String = row.try_get("signature")?;
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    number: row.try_get("number")?,
                    version: version_of(row.try_get("version")?)?,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind '{kind}'")))?,
                    actor: row.try_get("actor")?,
                    at: row.try_get("at")?,
                    details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    record: row.try_get("record")?,
                    signature: serde_json::from_str(&signature).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn reserve_sequence(&self, year: i32, count: u64) -> Result<u64, StoreError> {
        let count = i64::try_from(count).map_err(|_| StoreError::Corrupt("sequence count too large".into()))?;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO number_sequences (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE SET last = number_sequences.last + excluded.last RETURNING last",
        )
        .bind(year)
        .bind(count)
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(last - count + 1).map_err(|_| StoreError::Corrupt("negative sequence".into()))
    }

    async fn count_certificates(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates").fetch_one(&self.pool).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn count_holder_certificates(&self, uscc: &Uscc) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE uscc = $1")
            .bind(uscc.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn add_scans(&self, deltas: &ScanDeltas) -> Result<(), StoreError> {
        self.add_scan_tallies(deltas).await
    }

    async fn scan_tally(&self, key: &SerialKey) -> Result<Option<ScanTally>, StoreError> {
        self.select_scan_tally(key).await
    }

    async fn scan_summary(&self, number: &str, limit: u32) -> Result<(u64, Vec<(SerialKey, ScanTally)>), StoreError> {
        self.select_scan_summary(number, limit).await
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
        .bind(micros(token.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let row =
            sqlx::query("SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(Self::token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, secret_hash, label, created_at, revoked_at FROM api_tokens ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
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

    async fn get_mark_digests(&self, number: &str, batch: u32) -> Result<Option<StoredMarkDigests>, StoreError> {
        self.select_mark_digests(number, batch).await
    }

    async fn batches_without_digests(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.select_batches_without_digests().await
    }

    async fn scanned_serials(&self, number: &str, batch: u32) -> Result<Vec<u32>, StoreError> {
        self.select_scanned_serials(number, batch).await
    }

    async fn add_scanners(&self, sets: &[(SerialKey, super::ScannerSet)]) -> Result<(), StoreError> {
        self.union_scanners(sets).await
    }

    async fn scanners(&self, key: &SerialKey) -> Result<Option<super::ScannerSet>, StoreError> {
        self.select_scanners(key).await
    }
}

/// Turns a violation of a number's uniqueness (its current state, or one version of its events)
/// into [`StoreError::Duplicate`], naming the number that PostgreSQL's detail names
/// (`Key (number, version)=(SM..., 1) already exists.`). Any other error, a clash of sequence
/// numbers or log indexes included, is a database fault.
fn duplicate_or(error: sqlx::Error, numbers: &[&str]) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
            if db.is_unique_violation()
                && matches!(pg.constraint(), Some("certificates_pkey" | "events_number_version_key"))
            {
                let detail = pg.detail().unwrap_or_default();
                let named =
                    numbers.iter().find(|n| detail.contains(&format!("({n},")) || detail.contains(&format!("({n})")));
                return StoreError::Duplicate(named.map_or_else(|| db.message().to_string(), |n| n.to_string()));
            }
        }
    }
    StoreError::Database(error)
}
