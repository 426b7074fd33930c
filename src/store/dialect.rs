//! What each SQL backend supplies to the statements both share (`shared/`): where reads and
//! writes go, and how the few things the dialects write differently are written in its own
//! (instants and dates, ASCII case folding in a search, a bound list of certificate numbers).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Pool, QueryBuilder};

use super::StoreError;
use crate::domain::CertificateNumber;

/// One backend's side of the shared SQL; implemented by each store type for its database.
pub(super) trait Dialect {
    /// The sqlx database the backend runs on.
    type Db: Database;
    /// An instant as the backend binds it (`timestamptz`, or RFC 3339 text).
    type Instant;
    /// A calendar date as the backend binds it (`date`, or `YYYY-MM-DD` text).
    type Date;

    /// Rows a bulk statement writes or reads at most: log leaves per `INSERT`, certificate
    /// numbers per [`Dialect::push_numbers`].
    const ROWS_PER_STATEMENT: usize;
    /// Whether a text parameter may hold NUL; where it may not, a search for one finds nothing
    /// without asking the database (no stored field holds a control character).
    const TEXT_HOLDS_NUL: bool;
    /// The statement that makes a read transaction see one snapshot for all its statements,
    /// when the backend's transactions do not already (SQLite's do).
    const SNAPSHOT: Option<&'static str>;

    /// The pool that reads go to.
    fn reads(&self) -> &Pool<Self::Db>;
    /// The pool that writes go to.
    fn writes(&self) -> &Pool<Self::Db>;

    /// `at` as it is bound.
    fn instant(at: DateTime<Utc>) -> Self::Instant;
    /// `day` as it is bound.
    fn date(day: NaiveDate) -> Self::Date;
    /// The instant in `column`.
    fn read_instant(row: &<Self::Db as Database>::Row, column: &str) -> Result<DateTime<Utc>, StoreError>;
    /// The instant in `column`, if it holds one.
    fn read_optional_instant(
        row: &<Self::Db as Database>::Row,
        column: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// The instant in `column` as the text the transparency log hashes.
    fn read_instant_text(row: &<Self::Db as Database>::Row, column: &str) -> Result<String, StoreError>;
    /// The date in `column` as `YYYY-MM-DD` text.
    fn read_date_text(row: &<Self::Db as Database>::Row, column: &str) -> Result<String, StoreError>;

    /// An SQL expression of `column` whose ASCII letters are lower case, for a `LIKE` with a
    /// lower-case pattern.
    fn ascii_lowercase(column: &str) -> String;
    /// An SQL expression of the text at `path` (object keys) in the row's signed record, such as
    /// `status.state`: what a search filters on, so that an edit of a row's copied columns alone
    /// can neither add the row to a filter's answer nor hide it from one.
    fn record_field(path: &[&str]) -> String;
    /// Pushes ` number IN (...)` (or its equivalent) for `numbers`, at most
    /// [`Dialect::ROWS_PER_STATEMENT`] of them.
    fn push_numbers<'a>(sql: &mut QueryBuilder<'a, Self::Db>, numbers: &'a [CertificateNumber]);
}
