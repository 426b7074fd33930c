//! Reaching the server named by `DATABASE_URL`: parse the URL, connect once to say plainly what
//! is wrong (naming the host, never the password), bring the schema up to date, then pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::store::StoreError;

/// Connections per instance: reads of cache misses, audits and the single queued writer.
const MAX_CONNECTIONS: u32 = 10;
/// How long the first connection may take before the server is called unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a pooled connection, reconnecting meanwhile if the server went
/// away. sqlx's default is 30 s, longer than a request may take (10 s by default): while the
/// server is down every request that needs it would hang until its time limit. After this the
/// store says it is unavailable (503 with `Retry-After`), and answers that need no store read
/// are not held up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A database URL as it may be shown in logs and error messages: the password (in the user
/// part or a `password=` parameter) replaced by `***`. Anything else is shown as given.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => param.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Where the options point, for messages: `host:port` (or the socket), database and user.
fn target(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(socket) => format!("socket {}", socket.display()),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let database = options.get_database().unwrap_or(options.get_username());
    format!("PostgreSQL at {place} (database '{database}', user '{}')", options.get_username())
}

/// What to tell the operator when the first connection fails.
fn unreachable(options: &PgConnectOptions, error: &sqlx::Error) -> StoreError {
    let target = target(options);
    let advice = match error {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => format!(
                "the database does not exist there; create it (`createdb {}`) or correct DATABASE_URL",
                options.get_database().unwrap_or(options.get_username())
            ),
            Some("28000" | "28P01") => {
                "the server refused the login; check the user and password in DATABASE_URL".into()
            }
            _ => "the server refused the connection; check DATABASE_URL and the server's log".into(),
        },
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "check that PostgreSQL is running there and accepts TCP connections, or correct DATABASE_URL".into()
        }
        sqlx::Error::Tls(_) => "the TLS handshake failed; check sslmode in DATABASE_URL".into(),
        _ => "check DATABASE_URL and the server".into(),
    };
    StoreError::Unreachable(format!("cannot connect to {target}: {error}; {advice}"))
}

/// Parses `url`, checks the server answers, runs the migrations and returns a pool on it.
pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| {
            StoreError::Unsupported(format!(
                "DATABASE_URL {} is not a usable PostgreSQL URL ({e}); write it as \
                 postgres://user[:password]@host[:port]/database",
                display_url(url)
            ))
        })?
        .application_name("starmark");
    let mut first = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return Err(unreachable(&options, &e)),
        Err(_) => {
            return Err(StoreError::Unreachable(format!(
                "cannot connect to {}: no answer within {} s; check that PostgreSQL is running there and \
                 that no firewall drops the connection, or correct DATABASE_URL",
                target(&options),
                CONNECT_TIMEOUT.as_secs()
            )))
        }
    };
    sqlx::migrate!("./migrations/postgres").run(&mut first).await?;
    first.close().await?;
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            display_url("postgres://app:s3cret@db.example:5432/starmark"),
            "postgres://app:***@db.example:5432/starmark"
        );
        assert_eq!(display_url("postgresql://app@db/starmark"), "postgresql://app@db/starmark");
        assert_eq!(
            display_url("postgres://db/starmark?user=app&password=s3cret&sslmode=require"),
            "postgres://db/starmark?user=app&password=***&sslmode=require"
        );
        assert_eq!(display_url("postgres://a:b@c"), "postgres://a:***@c");
        assert_eq!(display_url("sqlite://data/starmark.db"), "sqlite://data/starmark.db");
        assert_eq!(display_url("data/starmark.db"), "data/starmark.db");
    }

    #[test]
    fn a_bad_url_says_how_to_write_one() {
        let error = tokio_test_block(connect("postgres://app:s3cret@db.example:notaport/starmark"));
        let message = error.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("not a usable PostgreSQL URL"), "{message}");
        assert!(message.contains("app:***@db.example"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    fn tokio_test_block<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }
}
