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
mod copy;
mod mark_digests;
mod scanners;
mod scans;
mod tlog;

// The statements both backends share, compiled here for PostgreSQL (see `shared/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "shared/mod.rs"]
mod shared;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgDatabaseError, PgPool, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row, Transaction};

use super::columns::{details_json, signature_json, timestamp, utf8};
use super::dialect::Dialect;
use super::{NewEvent, StoreError};
use crate::domain::CertificateNumber;
use copy::CopyRows;

/// The store type and database the shared statements are compiled for.
type Backend = PostgresStore;
type Db = Postgres;

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

    /// A transaction holding [`EVENTS_LOCK`]: the only way events and leaves are written.
    async fn begin_events(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = begin(&self.pool).await?;
        lock(&mut tx, EVENTS_LOCK).await?;
        Ok(tx)
    }
}

/// The columns of a batch of new events: bound as arrays for `UNNEST` (one change) or sent as
/// the rows of a binary COPY (an import's batch, [`copy`]).
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

    /// The same rows as [`Self::insert_events`], sent as a binary COPY (a bulk import's).
    async fn copy_events(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut rows = CopyRows::new(9, self.record.iter().map(|record| record.len() + 512).sum());
        for (i, record) in self.record.iter().enumerate() {
            rows.row()
                .bigint(self.seq[i])
                .text(self.number[i])
                .bigint(self.version[i])
                .text(self.kind[i])
                .text(self.actor[i])
                .timestamptz(self.at[i])
                .text(&self.details[i])
                .text(record)
                .text(&self.signature[i]);
        }
        let statement = "COPY events (seq, number, version, kind, actor, at, details, record, signature) \
                         FROM STDIN (FORMAT binary)";
        rows.send(conn, statement).await?;
        Ok(())
    }

    /// The state rows of new certificates (a bulk import's), sent as a binary COPY.
    async fn copy_state(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut rows = CopyRows::new(11, self.record.iter().map(|record| record.len() + 512).sum());
        for (i, record) in self.record.iter().enumerate() {
            rows.row()
                .text(self.number[i])
                .bigint(self.version[i])
                .text(self.holder_name[i])
                .optional_text(self.holder_name_en[i])
                .text(self.uscc[i])
                .text(self.level[i])
                .text(self.state[i])
                .date(self.valid_until[i])
                .text(record)
                .text(&self.signature[i])
                .timestamptz(self.at[i]);
        }
        let statement = "COPY certificates (number, version, holder_name, holder_name_en, uscc, level, state, \
                         valid_until, record, signature, updated_at) FROM STDIN (FORMAT binary)";
        rows.send(conn, statement).await?;
        Ok(())
    }
}

impl PostgresStore {
    async fn insert_new_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
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
            columns.copy_events(&mut tx).await.map_err(|e| duplicate_or(e, &columns.number))?;
            columns.copy_state(&mut tx).await.map_err(|e| duplicate_or(e, &columns.number))?;
            shared::put_products(&mut tx, chunk, false).await?;
            seq += chunk.len() as i64;
        }
        shared::append_leaves(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_event(&self, event: &NewEvent, expected_version: u32) -> Result<(), StoreError> {
        let record = &event.signed.record;
        let mut tx = self.begin_events().await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM certificates WHERE number = $1 FOR UPDATE")
            .bind(record.number.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        shared::check_version(current, event, expected_version)?;
        let seq = next_seq(&mut tx).await?;
        let columns = EventColumns::of(std::slice::from_ref(event), seq)?;
        columns.insert_events(&mut tx).await?;
        shared::append_leaves(&mut tx, std::slice::from_ref(event)).await?;
        // The row is locked and its version was checked above; this only guards that reasoning.
        if !shared::update_state(&mut tx, event, columns.record[0], &columns.signature[0], expected_version).await? {
            return Err(StoreError::VersionConflict { number: record.number.to_string(), expected: expected_version });
        }
        shared::put_products(&mut tx, std::slice::from_ref(event), true).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Instants are `timestamptz` in whole microseconds ([`micros`]) and dates `date`; holder names
/// are folded with `translate` rather than `ILIKE` or `lower`, whose case folding depends on the
/// server's locale and reaches beyond ASCII (SQLite's `LIKE` folds ASCII letters only).
impl Dialect for PostgresStore {
    type Db = Postgres;
    type Instant = DateTime<Utc>;
    type Date = NaiveDate;

    /// Bound as one array, so this only bounds the size of one message.
    const ROWS_PER_STATEMENT: usize = BULK_ROWS;
    /// PostgreSQL text cannot hold NUL.
    const TEXT_HOLDS_NUL: bool = false;
    const SNAPSHOT: Option<&'static str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");

    fn reads(&self) -> &PgPool {
        &self.pool
    }

    fn writes(&self) -> &PgPool {
        &self.pool
    }

    fn instant(at: DateTime<Utc>) -> DateTime<Utc> {
        micros(at)
    }

    fn date(day: NaiveDate) -> NaiveDate {
        day
    }

    fn read_instant(row: &PgRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn read_optional_instant(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn read_instant_text(row: &PgRow, column: &str) -> Result<String, StoreError> {
        Ok(timestamp(row.try_get(column)?))
    }

    fn read_date_text(row: &PgRow, column: &str) -> Result<String, StoreError> {
        Ok(row.try_get::<NaiveDate, _>(column)?.to_string())
    }

    fn ascii_lowercase(column: &str) -> String {
        format!("translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
    }

    fn record_field(path: &[&str]) -> String {
        format!("(record::jsonb #>> '{{{}}}')", path.join(","))
    }

    fn push_numbers<'a>(sql: &mut QueryBuilder<'a, Postgres>, numbers: &'a [CertificateNumber]) {
        let numbers: Vec<&'a str> = numbers.iter().map(CertificateNumber::as_str).collect();
        sql.push(" number = ANY(").push_bind(numbers).push(")");
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
