//! All configuration in one typed struct, read once from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{ApprovalNumber, FieldError};
use crate::http::client::TrustedProxies;

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
    /// `STARMARK_CACHE_UNPACKED_MB`: answers are kept unpacked (faster hits, about four times
    /// the memory) while the cached answers weigh less than this, at most half of
    /// `STARMARK_CACHE_MAX_MB` (default 8; 0 keeps every answer packed).
    pub cache_unpacked_bytes: u64,
    /// `STARMARK_RECEIPTS_PER_MINUTE`: how many verification receipts of up to 4 KiB this
    /// instance issues per minute to everyone together (default 600; a larger receipt counts
    /// once per started 4 KiB); beyond it, 429 with `Retry-After`.
    pub receipts_per_minute: u32,
    /// `STARMARK_TRUSTED_PROXIES`: reverse proxies (addresses or CIDR networks) whose
    /// `Forwarded`/`X-Forwarded-For` headers name the client; none by default.
    pub trusted_proxies: TrustedProxies,
    /// `STARMARK_MAX_CONNECTIONS`: connections held at once, beyond which new ones are refused
    /// with a 503; by default all the file descriptors the process may open but a reserve.
    pub max_connections: Option<usize>,
    /// `STARMARK_MAX_CONNECTIONS_PER_CLIENT`: connections one client (an IPv4 address or an IPv6
    /// /64) may hold at once; by default a quarter of the total, at most 256. Trusted proxies
    /// are held to the total only.
    pub max_connections_per_client: Option<usize>,
    /// `STARMARK_HEADER_TIMEOUT_MS`: longest wait for a request's complete head, from when the
    /// server waits for it (so also how long a kept-alive connection may sit idle); default 5000.
    pub header_timeout: Duration,
    /// `STARMARK_SEND_TIMEOUT_MS`: a client that reads nothing of an answer for this long is
    /// disconnected; default 30000.
    pub send_timeout: Duration,
    /// `STARMARK_RATE_LIMITS`: each route class's per-client policy (see [`crate::limits`]).
    pub rate_limits: crate::limits::Policies,
    /// `STARMARK_RATE_LIMIT_CLIENTS`: clients whose rate limits are held at once (default 50,000).
    pub rate_limit_clients: usize,
    /// `STARMARK_SEARCH_INDEX_MAX`: certificates the in-memory search index may hold (default
    /// 1,000,000; 0 keeps none); beyond it, searches go to the database.
    pub search_index_max: u64,
    /// `STARMARK_LOG_FORMAT`: `text` (default) or `json`, one object a line for log collectors.
    pub log_format: LogFormat,
    /// `STARMARK_SESSION_IDLE_SECS`: a console session ends after this long without use
    /// (default 1,800: 30 minutes).
    pub session_idle: Duration,
    /// `STARMARK_SESSION_MAX_SECS`: a console session ends this long after sign-in, however
    /// busy (default 43,200: 12 hours).
    pub session_max: Duration,
}

/// How the binary writes its log lines (see `cli::logging`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// tracing's usual lines, for people.
    #[default]
    Text,
    /// One JSON object a line: time, level, target, message, fields, request id.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!("'{text}' is not a log format (text or json)")),
        }
    }
}

/// A configuration value that cannot be used, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// The variables configuration is read from: the process's environment, or a map in tests.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A variable's value, trimmed; unset and blank are the same.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }
}

fn number<T: std::str::FromStr>(vars: &Vars, name: &'static str, default: T) -> Result<T, ConfigError> {
    match vars.get(name) {
        None => Ok(default),
        Some(text) => {
            text.parse().map_err(|_| ConfigError { variable: name, message: format!("'{text}' is not a number") })
        }
    }
}

/// A positive count, or `None` when the variable is unset.
fn optional_count(vars: &Vars, name: &'static str) -> Result<Option<usize>, ConfigError> {
    match vars.get(name) {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(count) if count > 0 => Ok(Some(count)),
            _ => Err(ConfigError { variable: name, message: format!("'{text}' is not a positive whole number") }),
        },
    }
}

impl Config {
    /// Reads the environment, applying the documented defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&|name| std::env::var(name).ok())
    }

    /// Reads the variables `lookup` gives, applying the documented defaults.
    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let listen_text = vars.get("STARMARK_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| ConfigError {
            variable: "STARMARK_LISTEN",
            message: format!("'{listen_text}' is not an address like 127.0.0.1:8080"),
        })?;
        let approval_text = vars.get("STARMARK_ISSUER_APPROVAL").unwrap_or_else(|| "CNCA-R-2026-001".to_string());
        let issuer_approval = ApprovalNumber::parse(&approval_text)
            .map_err(|e: FieldError| ConfigError { variable: "STARMARK_ISSUER_APPROVAL", message: e.message })?;
        let mut config = Self {
            listen,
            data_dir: vars.get("STARMARK_DATA_DIR").map_or_else(|| PathBuf::from("data"), PathBuf::from),
            keys_dir: vars.get("STARMARK_KEYS_DIR").map_or_else(|| PathBuf::from("keys"), PathBuf::from),
            public_url: String::new(),
            database_url: vars.get("DATABASE_URL"),
            redis_url: vars.get("REDIS_URL"),
            redis_ca: vars.get("STARMARK_REDIS_CA").map(PathBuf::from),
            issuer_name: vars
                .get("STARMARK_ISSUER_NAME")
                .unwrap_or_else(|| "Starmark 示范认证中心 (demo body)".to_string()),
            issuer_approval,
            request_timeout: Duration::from_millis(number(&vars, "STARMARK_REQUEST_TIMEOUT_MS", 10_000u64)?),
            body_limit: number(&vars, "STARMARK_BODY_LIMIT", 1024 * 1024usize)?,
            log_origin: vars.get("STARMARK_LOG_ORIGIN"),
            cache_stale_bound: Duration::from_millis(number(&vars, "STARMARK_CACHE_STALE_MS", 5_000u64)?.max(1)),
            answer_lifetime: Duration::from_millis(
                number(
                    &vars,
                    "STARMARK_ANSWER_LIFETIME_MS",
                    crate::registry::DEFAULT_ANSWER_LIFETIME.as_secs() * 1000,
                )?
                .max(1),
            ),
            cache_max_bytes: number(&vars, "STARMARK_CACHE_MAX_MB", 64u64)?.max(1) * 1024 * 1024,
            cache_unpacked_bytes: number(
                &vars,
                "STARMARK_CACHE_UNPACKED_MB",
                crate::cache::DEFAULT_UNPACKED_BYTES / (1024 * 1024),
            )?
            .saturating_mul(1024 * 1024),
            receipts_per_minute: number(
                &vars,
                "STARMARK_RECEIPTS_PER_MINUTE",
                crate::registry::DEFAULT_RECEIPTS_PER_MINUTE,
            )?
            .max(1),
            trusted_proxies: match vars.get("STARMARK_TRUSTED_PROXIES") {
                None => TrustedProxies::default(),
                Some(text) => {
                    text.parse().map_err(|message| ConfigError { variable: "STARMARK_TRUSTED_PROXIES", message })?
                }
            },
            max_connections: optional_count(&vars, "STARMARK_MAX_CONNECTIONS")?,
            max_connections_per_client: optional_count(&vars, "STARMARK_MAX_CONNECTIONS_PER_CLIENT")?,
            header_timeout: Duration::from_millis(number(&vars, "STARMARK_HEADER_TIMEOUT_MS", 5_000u64)?.max(1)),
            send_timeout: Duration::from_millis(number(&vars, "STARMARK_SEND_TIMEOUT_MS", 30_000u64)?.max(1)),
            rate_limits: match vars.get("STARMARK_RATE_LIMITS") {
                None => crate::limits::Policies::default(),
                Some(text) => {
                    text.parse().map_err(|message| ConfigError { variable: "STARMARK_RATE_LIMITS", message })?
                }
            },
            rate_limit_clients: optional_count(&vars, "STARMARK_RATE_LIMIT_CLIENTS")?
                .unwrap_or(crate::limits::DEFAULT_MAX_CLIENTS),
            search_index_max: number(
                &vars,
                "STARMARK_SEARCH_INDEX_MAX",
                crate::registry::search_index::DEFAULT_MAX_CERTIFICATES,
            )?,
            session_idle: Duration::from_secs(number(&vars, "STARMARK_SESSION_IDLE_SECS", 1_800u64)?.max(1)),
            session_max: Duration::from_secs(number(&vars, "STARMARK_SESSION_MAX_SECS", 43_200u64)?.max(1)),
            log_format: match vars.get("STARMARK_LOG_FORMAT") {
                None => LogFormat::Text,
                Some(text) => {
                    text.parse().map_err(|message| ConfigError { variable: "STARMARK_LOG_FORMAT", message })?
                }
            },
        };
        config.public_url = match vars.get("STARMARK_PUBLIC_URL") {
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

    /// Whether the public URL is https: console cookies are then `Secure` and `__Host-` named.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The database to open: `DATABASE_URL`, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("starmark.db").display()))
    }
}

impl Default for Config {
    /// The documented defaults, as with an empty environment.
    fn default() -> Self {
        Self::from_vars(&|_| None).expect("the documented defaults are a valid configuration")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(&|name| vars.get(name).cloned())
    }

    /// README's table of variables, with nothing set.
    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = Config::default();
        assert_eq!(config.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.keys_dir, PathBuf::from("keys"));
        assert_eq!(config.public_url, "http://127.0.0.1:8080", "http://<listen>");
        assert_eq!(config.database_url, None);
        assert_eq!(config.database_url(), "sqlite://data/starmark.db");
        assert_eq!(config.redis_url, None);
        assert_eq!(config.issuer_name, "Starmark 示范认证中心 (demo body)");
        assert_eq!(config.issuer_approval.as_str(), "CNCA-R-2026-001");
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.body_limit, 1_048_576);
        assert_eq!(config.log_origin, None);
        assert_eq!(config.cache_stale_bound, Duration::from_millis(5000));
        assert_eq!(config.cache_max_bytes, 64 * 1_048_576);
        assert_eq!(config.session_idle, Duration::from_secs(30 * 60));
        assert_eq!(config.session_max, Duration::from_secs(12 * 3600));
        assert!(!config.is_https());
        assert_eq!(config.cache_unpacked_bytes, 8 * 1_048_576);
        assert_eq!(config.receipts_per_minute, 600);
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(from(&[("STARMARK_LOG_FORMAT", " JSON ")]).unwrap().log_format, LogFormat::Json);
        assert_eq!(from(&[("STARMARK_LOG_FORMAT", "text")]).unwrap().log_format, LogFormat::Text);
        let error = from(&[("STARMARK_LOG_FORMAT", "logfmt")]).expect_err("logfmt");
        assert_eq!(error.variable, "STARMARK_LOG_FORMAT");
        assert!(error.message.contains("'logfmt'"), "{error}");
    }

    #[test]
    fn each_variable_is_read_trimmed() {
        let config = from(&[
            ("STARMARK_LISTEN", "0.0.0.0:9000"),
            ("STARMARK_CACHE_STALE_MS", "250"),
            ("STARMARK_CACHE_MAX_MB", "8"),
            ("STARMARK_CACHE_UNPACKED_MB", " 0 "),
            ("STARMARK_RECEIPTS_PER_MINUTE", " 30 "),
            ("STARMARK_ISSUER_NAME", " 华东服务认证中心 "),
            ("STARMARK_ISSUER_APPROVAL", "CNCA-R-2019-123"),
            ("STARMARK_REQUEST_TIMEOUT_MS", "1500"),
            ("STARMARK_BODY_LIMIT", "4096"),
            ("STARMARK_LOG_ORIGIN", "log.registry.example.cn/starmark"),
            ("DATABASE_URL", "/srv/starmark/registry.db"),
        ])
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(config.public_url, "http://0.0.0.0:9000", "the default follows the listen address");
        assert_eq!(config.cache_stale_bound, Duration::from_millis(250));
        assert_eq!(config.cache_max_bytes, 8_388_608);
        assert_eq!(config.cache_unpacked_bytes, 0);
        assert_eq!(config.receipts_per_minute, 30);
        assert_eq!(config.issuer_name, "华东服务认证中心");
        assert_eq!(config.issuer_approval.as_str(), "CNCA-R-2019-123");
        assert_eq!(config.request_timeout, Duration::from_millis(1500));
        assert_eq!(config.body_limit, 4096);
        assert_eq!(config.log_origin.as_deref(), Some("log.registry.example.cn/starmark"));
        assert_eq!(config.database_url(), "/srv/starmark/registry.db", "a path is passed on as given");
        let config =
            from(&[("STARMARK_PUBLIC_URL", "https://registry.example.cn/"), ("STARMARK_ISSUER_NAME", "  ")]).unwrap();
        assert_eq!(config.public_url, "https://registry.example.cn", "no trailing slash");
        assert_eq!(config.issuer_name, "Starmark 示范认证中心 (demo body)", "blank is unset");
    }

    #[test]
    fn zero_is_raised_to_the_least_that_works() {
        let config = from(&[
            ("STARMARK_CACHE_STALE_MS", "0"),
            ("STARMARK_CACHE_MAX_MB", "0"),
            ("STARMARK_RECEIPTS_PER_MINUTE", "0"),
        ])
        .unwrap();
        assert_eq!(config.cache_stale_bound, Duration::from_millis(1));
        assert_eq!(config.cache_max_bytes, 1_048_576);
        assert_eq!(config.receipts_per_minute, 1);
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_variable_and_value() {
        for (name, value) in [
            ("STARMARK_CACHE_STALE_MS", "5s"),
            ("STARMARK_CACHE_MAX_MB", "-1"),
            ("STARMARK_RECEIPTS_PER_MINUTE", "many"),
            ("STARMARK_REQUEST_TIMEOUT_MS", "1.5"),
            ("STARMARK_BODY_LIMIT", "1MB"),
            ("STARMARK_ISSUER_APPROVAL", "CNCA-2026-1"),
            ("STARMARK_PUBLIC_URL", "registry.example.cn"),
            ("STARMARK_LISTEN", "localhost"),
        ] {
            let error = from(&[(name, value)]).expect_err(value);
            assert_eq!(error.variable, name);
            assert!(error.to_string().starts_with(name), "{error}");
            if name != "STARMARK_ISSUER_APPROVAL" {
                assert!(error.message.contains(value), "{error} names the value");
            }
        }
    }

    #[test]
    fn the_connection_settings_have_their_documented_defaults() {
        let config = Config::default();
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.max_connections, None);
        assert_eq!(config.max_connections_per_client, None);
        assert_eq!(config.header_timeout, Duration::from_secs(5));
        assert_eq!(config.send_timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_connection_settings_are_read_and_checked() {
        let config = from(&[
            ("STARMARK_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("STARMARK_MAX_CONNECTIONS", "500"),
            ("STARMARK_MAX_CONNECTIONS_PER_CLIENT", " 20 "),
            ("STARMARK_HEADER_TIMEOUT_MS", "2500"),
            ("STARMARK_SEND_TIMEOUT_MS", "10000"),
        ])
        .unwrap();
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(config.trusted_proxies.contains("::1".parse().unwrap()));
        assert_eq!(config.max_connections, Some(500));
        assert_eq!(config.max_connections_per_client, Some(20));
        assert_eq!(config.header_timeout, Duration::from_millis(2500));
        assert_eq!(config.send_timeout, Duration::from_secs(10));

        for (name, value) in [
            ("STARMARK_TRUSTED_PROXIES", "proxy.example"),
            ("STARMARK_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("STARMARK_MAX_CONNECTIONS", "0"),
            ("STARMARK_MAX_CONNECTIONS_PER_CLIENT", "many"),
            ("STARMARK_HEADER_TIMEOUT_MS", "5s"),
        ] {
            let error = from(&[(name, value)]).expect_err(value);
            assert_eq!(error.variable, name);
            assert!(error.message.contains(value.split('/').next().unwrap()), "{error} names the value");
        }
    }

    #[test]
    fn the_rate_limits_are_read_and_checked() {
        use crate::limits::{Class, Policies, Policy};
        let config = Config::default();
        assert_eq!(config.rate_limits, Policies::default());
        assert_eq!(config.rate_limit_clients, 50_000);
        let config =
            from(&[("STARMARK_RATE_LIMITS", "search=5/10, log=off"), ("STARMARK_RATE_LIMIT_CLIENTS", "1000")]).unwrap();
        assert_eq!(config.rate_limits.get(Class::Search), Some(Policy { quota: 5, window_secs: 10 }));
        assert_eq!(config.rate_limits.get(Class::Log), None);
        assert_eq!(config.rate_limits.get(Class::Scans), Policies::default().get(Class::Scans));
        assert_eq!(config.rate_limit_clients, 1000);
        for (name, value, says) in [
            ("STARMARK_RATE_LIMITS", "searches=5/10", "'searches' is not a class"),
            ("STARMARK_RATE_LIMITS", "search=5", "'5' is not QUOTA/SECONDS"),
            ("STARMARK_RATE_LIMITS", "search=-1/10", "the quota must be"),
            ("STARMARK_RATE_LIMIT_CLIENTS", "0", "'0' is not a positive whole number"),
        ] {
            let error = from(&[(name, value)]).expect_err(value);
            assert_eq!(error.variable, name);
            assert!(error.to_string().starts_with(name) && error.message.contains(says), "{error}");
        }
    }
}
