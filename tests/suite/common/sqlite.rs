//! The embedded database's own connection, for raw queries that bind values.

use sqlx::SqliteConnection;

use super::RawDb;

impl RawDb {
    /// The SQLite connection underneath; fails the test when the app runs on PostgreSQL.
    pub fn sqlite_connection(&mut self) -> &mut SqliteConnection {
        match self {
            RawDb::Sqlite(db) => db,
            RawDb::Postgres(_) => panic!("this test reads the embedded SQLite database, not PostgreSQL"),
        }
    }
}
