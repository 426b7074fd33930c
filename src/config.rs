//! All configuration in one typed struct, read once from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{ApprovalNumber, FieldError};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// `STARMARK_LISTEN`: where the HTTP server listens.
    pub listen: SocketAddr,
    /// `STARMARK_DATA_DIR`: the embedded database and demo files.
    pub data_dir: PathBuf,
    /// `STARMARK_KEYS_DIR`: PEM keys named by key id.
    pub keys_dir: PathBuf,
    /// `STARMARK_PUBLIC_URL`: base URL printed into QR codes and links.
    pub public_url: String,
    /// `DATABASE_URL`: defaults to `sqlite://<data dir>/starmark.db`.
    pub database_url: Option<String>,
    /// `REDIS_URL`: optional shared cache (`redis://`, or `rediss://` for TLS).
    pub redis_url: Option<String>,
    /// `STARMARK_REDIS_CA`: a PEM file of the certificate authorities a `rediss://` server's
    /// certificate must chain to, instead of the system's trust store (for a private CA).
    pub redis_ca: Option<PathBuf>,
    /// `STARMARK_ISSUER_NAME`: the certification body's name on every record.
    pub issuer_name: String,
    /// `STARMARK_ISSUER_APPROVAL`: its CNCA approval number.
    pub issuer_approval: ApprovalNumber,
    /// `STARMARK_REQUEST_TIMEOUT_MS`: every request is cut off after this long.
    pub request_timeout: Duration,
    /// `STARMARK_BODY_LIMIT`: largest request body in bytes.
    pub body_limit: usize,
    /// `STARMARK_LOG_ORIGIN`: the transparency log's name in its checkpoints; defaults to the
    /// public URL's host + `/starmark-log`.
    pub log_origin: Option<String>,
    /// `STARMARK_CACHE_STALE_MS`: no cached answer is served longer than this after it was
    /// loaded, even when a change announcement was lost (default 5000).
    pub cache_stale_bound: Duration,
    /// `STARMARK_ANSWER_LIFETIME_MS`: how long a prepared answer's signed status assertion is
    /// good for (its `next_update`; default one hour, less up to a tenth at random, never past
    /// midnight in China). Changes
    /// replace answers at once; this bounds how old a served assertion may be.
    pub answer_lifetime: Duration,
    /// `STARMARK_CACHE_MAX_MB`: memory for cached answers in each instance (default 64).
    pub cache_max_bytes: u64,
    /// `STARMARK_RECEIPTS_PER_MINUTE`: how many verification receipts of up to 4 KiB this
    /// instance issues per minute to everyone together (default 600; a larger receipt counts
    /// once per started 4 KiB); beyond it, 429 with `Retry-After`.
    pub receipts_per_minute: u32,
}

/// A configuration value that cannot be used, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(text) => {
            text.parse().map_err(|_| ConfigError { variable: name, message: format!("'{text}' is not a number") })
        }
    }
}

impl Config {
    /// Reads the environment, applying the documented defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let listen_text = var("STARMARK_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| ConfigError {
            variable: "STARMARK_LISTEN",
            message: format!("'{listen_text}' is not an address like 127.0.0.1:8080"),
        })?;
        let approval_text = var("STARMARK_ISSUER_APPROVAL").unwrap_or_else(|| "CNCA-R-2026-001".to_string());
        let issuer_approval = ApprovalNumber::parse(&approval_text)
            .map_err(|e: FieldError| ConfigError { variable: "STARMARK_ISSUER_APPROVAL", message: e.message })?;
        let mut config = Self {
            listen,
            data_dir: var("STARMARK_DATA_DIR").map_or_else(|| PathBuf::from("data"), PathBuf::from),
            keys_dir: var("STARMARK_KEYS_DIR").map_or_else(|| PathBuf::from("keys"), PathBuf::from),
            public_url: String::new(),
            database_url: var("DATABASE_URL"),
            redis_url: var("REDIS_URL"),
            redis_ca: var("STARMARK_REDIS_CA").map(PathBuf::from),
            issuer_name: var("STARMARK_ISSUER_NAME").unwrap_or_else(|| "Starmark 示范认证中心 (demo body)".to_string()),
            issuer_approval,
            request_timeout: Duration::from_millis(number("STARMARK_REQUEST_TIMEOUT_MS", 10_000u64)?),
            body_limit: number("STARMARK_BODY_LIMIT", 1024 * 1024usize)?,
            log_origin: var("STARMARK_LOG_ORIGIN"),
            cache_stale_bound: Duration::from_millis(number("STARMARK_CACHE_STALE_MS", 5_000u64)?.max(1)),
            answer_lifetime: Duration::from_millis(
                number("STARMARK_ANSWER_LIFETIME_MS", crate::registry::DEFAULT_ANSWER_LIFETIME.as_secs() * 1000)?
                    .max(1),
            ),
            cache_max_bytes: number("STARMARK_CACHE_MAX_MB", 64u64)?.max(1) * 1024 * 1024,
            receipts_per_minute: number("STARMARK_RECEIPTS_PER_MINUTE", crate::registry::DEFAULT_RECEIPTS_PER_MINUTE)?
                .max(1),
        };
        config.public_url = match var("STARMARK_PUBLIC_URL") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                return Err(ConfigError {
                    variable: "STARMARK_PUBLIC_URL",
                    message: format!("'{url}' must start with http:// or https://"),
                })
            }
            None => format!("http://{}", config.listen),
        };
        Ok(config)
    }

    /// The database to open: `DATABASE_URL`, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("starmark.db").display()))
    }
}
