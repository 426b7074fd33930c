//! L2: prepared answers shared by every instance in Redis, and the change feed (Redis pub/sub)
//! that tells every instance to drop its L1 copy of a certificate the moment it changes.
//!
//! Redis is optional and may fail at any time. Every operation has a short timeout and a failure
//! is a miss, never an error for the caller; the feed reconnects by itself and, because messages
//! may have been lost while it was away, empties L1 when it is back. The feed is the fast path
//! (a change reaches every instance within milliseconds); the staleness bound itself is kept by
//! the store watch (`registry::watch`), which needs nothing from Redis, since a lost message
//! cannot always be noticed here (an instance cut off from Redis while the others still hear the
//! feed). Shared entries expire after the bound too, so a lost write heals itself within it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::RwLock;

use super::{AnswerCache, Prepared};

pub mod scan_figures;
pub mod scanner_sets;
pub use scan_figures::ScanDelta;

/// The pub/sub channel carrying the keys of changed answers.
pub const CHANNEL: &str = "starmark:changes";
const KEY_PREFIX: &str = "starmark:answer:";
/// Longest wait for one Redis command before it counts as a miss.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(150);
/// How often the change feed proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The Redis side of the cache.
pub struct SharedCache {
    client: redis::Client,
    connection: RwLock<Option<ConnectionManager>>,
    ttl: Duration,
    up: AtomicBool,
    /// [`PUT_UNLESS_NEWER`] and [`FORGET_OLDER`] (each after [`HELD_VERSION`]), hashed once for
    /// `EVALSHA`.
    put_unless_newer: redis::Script,
    forget_older: redis::Script,
    /// [`scan_figures::COUNT_SCANS`], sent by its hash (see [`SharedCache::count_scans`]).
    count_scans: redis::Script,
    /// [`scanner_sets::UNION_SCANNERS`] (see [`SharedCache::union_scanners`]).
    union_scanners: redis::Script,
}

/// Opens both scripts: the record version at the head of a packed answer (see [`encode`]).
const HELD_VERSION: &str = r"
local function held_version(held)
    return tonumber(string.match(held, '^(%d+)\n'))
end
";

/// `SET key answer PX ttl`, unless the answer held under `key` is of a later record version
/// (the packing starts with the version). KEYS[1] key; ARGV: packed answer, ttl in ms, version.
const PUT_UNLESS_NEWER: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
    local version = held_version(held)
    if version and version > tonumber(ARGV[3]) then
        return 0
    end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// `DEL KEYS[i]` for each key whose answer is of a record version before ARGV[i].
const FORGET_OLDER: &str = r"
local dropped = 0
for i, key in ipairs(KEYS) do
    local held = redis.call('GET', key)
    if held then
        local version = held_version(held)
        if not version or version < tonumber(ARGV[i]) then
            dropped = dropped + redis.call('DEL', key)
        end
    end
end
return dropped
";

/// Packs a prepared answer as `version \n etag \n next_update \n body` (`next_update` in
/// RFC 3339; the body, unpacked, is everything after the third line break); `None` for an
/// answer whose body does not unpack (see [`Prepared::body`]).
fn encode(prepared: &Prepared) -> Option<Vec<u8>> {
    let next_update = prepared.next_update.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let body = prepared.body()?;
    let mut out = Vec::with_capacity(body.len() + prepared.etag().len() + next_update.len() + 16);
    out.extend_from_slice(prepared.version.to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(prepared.etag().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(next_update.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&body);
    Some(out)
}

/// The answer packed by [`encode`], unless it is malformed (say, packed by an older version of
/// the service) or already past its `next_update`: either way a miss.
fn decode(bytes: &[u8]) -> Option<Prepared> {
    let mut fields = bytes.splitn(4, |b| *b == b'\n');
    let version = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let etag = std::str::from_utf8(fields.next()?).ok()?;
    let next_update = chrono::DateTime::parse_from_rfc3339(std::str::from_utf8(fields.next()?).ok()?).ok()?;
    let body = fields.next()?;
    let next_update = next_update.with_timezone(&chrono::Utc);
    if next_update <= chrono::Utc::now() {
        return None;
    }
    Prepared::new(body, etag, version, next_update)
}

impl SharedCache {
    /// Prepares the client; nothing is connected until [`SharedCache::run_feed`] runs. A
    /// `rediss://` URL connects over TLS, checking the server's certificate against the system's
    /// trust store.
    pub fn new(url: &str, ttl: Duration) -> Result<Arc<Self>, redis::RedisError> {
        Ok(Self::with_client(redis::Client::open(url)?, ttl))
    }

    /// Like [`SharedCache::new`] for a `rediss://` URL whose server's certificate must chain to
    /// one of the certificate authorities in `roots_pem` (a private CA) instead.
    pub fn with_roots(url: &str, roots_pem: Vec<u8>, ttl: Duration) -> Result<Arc<Self>, redis::RedisError> {
        let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(roots_pem) };
        Ok(Self::with_client(redis::Client::build_with_tls(url, certificates)?, ttl))
    }

    fn with_client(client: redis::Client, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            client,
            connection: RwLock::new(None),
            ttl,
            up: AtomicBool::new(false),
            put_unless_newer: redis::Script::new(&format!("{HELD_VERSION}{PUT_UNLESS_NEWER}")),
            forget_older: redis::Script::new(&format!("{HELD_VERSION}{FORGET_OLDER}")),
            count_scans: redis::Script::new(scan_figures::COUNT_SCANS),
            union_scanners: redis::Script::new(scanner_sets::UNION_SCANNERS),
        })
    }

    /// Whether Redis answered the last time it was asked.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn went_down(&self, error: &dyn std::fmt::Display) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %error, "redis unavailable; answering from memory and the store");
        }
    }

    /// After an operation Redis answered: says so once if the last one had failed (a single
    /// slow answer under load is reported as unavailable, and must not read so for good).
    fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("redis answering again");
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        self.connection.read().await.clone()
    }

    /// Runs one Redis operation within [`OPERATION_TIMEOUT`] and notes whether Redis answered;
    /// `None` when it failed or took too long.
    async fn run<T>(&self, operation: impl std::future::Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
            Ok(Ok(value)) => {
                self.answered();
                Some(value)
            }
            Ok(Err(e)) => {
                self.went_down(&e);
                None
            }
            Err(_) => {
                self.went_down(&"timed out");
                None
            }
        }
    }

    /// Runs `call`, an `EVALSHA` of `script`; when Redis does not know the script (it restarted
    /// since it last ran), loads it and runs the call once more. Nothing ran when Redis answers
    /// `NOSCRIPT`, so running again counts nothing twice. Like [`SharedCache::run`], `None` when
    /// it failed or took too long.
    async fn run_scripted<T: redis::FromRedisValue>(
        &self,
        call: &redis::Cmd,
        script: &redis::Script,
        connection: &mut ConnectionManager,
    ) -> Option<T> {
        self.run(async {
            match call.query_async::<T>(connection).await {
                Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                    script.load_async(connection).await?;
                    call.query_async::<T>(connection).await
                }
                outcome => outcome,
            }
        })
        .await
    }

    /// The shared copy of `key`, if Redis has one and answers in time.
    pub async fn get(&self, key: &str) -> Option<Prepared> {
        let mut connection = self.connection().await?;
        let value = self.run(connection.get::<_, Option<Vec<u8>>>(format!("{KEY_PREFIX}{key}"))).await?;
        value.as_deref().and_then(decode)
    }

    /// Stores the shared copy of `key` for the staleness bound, unless Redis holds one of a
    /// later record version: a load that read the store just before a change and finishes just
    /// after it must not put the old state back over the new one, where other instances would
    /// find it after the change was announced. Says whether Redis holds this answer now (or a
    /// later one).
    pub async fn put(&self, key: &str, prepared: &Prepared) -> bool {
        let Some(packed) = encode(prepared) else { return false };
        let Some(mut connection) = self.connection().await else { return false };
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.put_unless_newer.key(format!("{KEY_PREFIX}{key}"));
        invocation.arg(packed).arg(ttl_ms).arg(prepared.version);
        self.run(invocation.invoke_async::<i64>(&mut connection)).await.is_some()
    }

    /// Drops the shared copy of `key` (after a change whose new answer could not be stored).
    pub async fn forget(&self, key: &str) {
        let Some(mut connection) = self.connection().await else { return };
        self.run(connection.del::<_, ()>(format!("{KEY_PREFIX}{key}"))).await;
    }

    /// Drops the shared copy of each key that is of a record version before the one given, in
    /// one round trip (the store watch found those changes: an instance that could not reach
    /// Redis may have made them, leaving the old answers here). Says whether Redis answered.
    pub async fn forget_older(&self, changes: &[(String, u32)]) -> bool {
        if changes.is_empty() {
            return true;
        }
        let Some(mut connection) = self.connection().await else { return false };
        let mut invocation = self.forget_older.prepare_invoke();
        for (key, version) in changes {
            invocation.key(format!("{KEY_PREFIX}{key}")).arg(*version);
        }
        self.run(invocation.invoke_async::<i64>(&mut connection)).await.is_some()
    }

    /// Tells every instance that `key` changed.
    pub async fn announce(&self, key: &str) {
        let Some(mut connection) = self.connection().await else { return };
        self.run(connection.publish::<_, _, ()>(CHANNEL, key)).await;
    }

    /// Keeps a connection and a subscription to the change feed, forever: drops L1 entries as
    /// changes are announced, and all of L1 whenever the feed (re)connects, since messages may
    /// have been missed meanwhile.
    pub async fn run_feed(self: Arc<Self>, local: AnswerCache) {
        let mut backoff = Duration::from_millis(100);
        // Whether the failures since start, or since the last connection, were reported: a
        // Redis that never answers (a wrong host, password or certificate) must not be silent.
        let mut failure_reported = false;
        loop {
            match self.subscribe().await {
                Ok(feed) => {
                    backoff = Duration::from_millis(100);
                    failure_reported = false;
                    local.forget_all();
                    // Every (re)connection of the feed is reported, whatever single
                    // operations said meanwhile.
                    self.up.store(true, Ordering::Relaxed);
                    tracing::info!("redis connected; shared cache and change feed active");
                    let (mut sink, mut messages) = feed.split();
                    let mut heartbeat = tokio::time::interval(HEARTBEAT);
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => {
                                    if let Ok(key) = message.get_payload::<String>() {
                                        local.announced(&key).await;
                                    }
                                }
                                None => break,
                            },
                            _ = heartbeat.tick() => {
                                // A connection can die without closing; an unanswered ping says so.
                                let ping = tokio::time::timeout(OPERATION_TIMEOUT * 4, sink.ping::<redis::Value>()).await;
                                if !matches!(ping, Ok(Ok(_))) {
                                    break;
                                }
                            }
                        }
                    }
                    self.went_down(&"change feed lost");
                    *self.connection.write().await = None;
                }
                Err(e) if !failure_reported => {
                    failure_reported = true;
                    self.up.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "redis unreachable; answering from memory and the store, and trying again");
                }
                Err(e) => self.went_down(&e),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSub, redis::RedisError> {
        let timeout = |what: &'static str| move |_| redis::RedisError::from((redis::ErrorKind::IoError, what));
        let mut feed = tokio::time::timeout(Duration::from_secs(1), self.client.get_async_pubsub())
            .await
            .map_err(timeout("connect timed out"))??;
        feed.subscribe(CHANNEL).await?;
        if self.connection.read().await.is_none() {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(1))
                .set_response_timeout(OPERATION_TIMEOUT)
                .set_number_of_retries(1);
            let manager =
                tokio::time::timeout(Duration::from_secs(2), self.client.get_connection_manager_with_config(config))
                    .await
                    .map_err(timeout("connect timed out"))??;
            *self.connection.write().await = Some(manager);
        }
        Ok(feed)
    }
}

/// Both tiers, for the registry: L1 always, L2 when Redis is configured.
#[derive(Clone)]
pub struct Tiers {
    pub local: AnswerCache,
    pub shared: Option<Arc<SharedCache>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        let next_update = chrono::Utc::now() + chrono::Duration::minutes(5);
        let prepared = Prepared::new(b"{\"a\":\"x\ny\"}", "\"3-abcd\"", 3, next_update).unwrap();
        let back = decode(&encode(&prepared).unwrap()).unwrap();
        assert_eq!((back.version, back.etag(), back.body()), (3, "\"3-abcd\"", prepared.body()));
        // A packed answer goes to Redis unpacked: another instance packs it with its own dictionary.
        let large = format!("{{\"pad\":\"{}\"}}", "售后服务".repeat(200));
        let prepared = Prepared::new(large.as_bytes(), "\"4-abcd\"", 4, next_update).unwrap();
        let packed = encode(&prepared).unwrap();
        assert!(packed.ends_with(large.as_bytes()));
        assert_eq!(decode(&packed).unwrap().body().as_deref(), Some(large.as_bytes()));
        assert_eq!(back.next_update, next_update);
        assert!(decode(b"garbage").is_none());
        // The packing of earlier versions (no next_update) is a miss, not a misread body.
        assert!(decode(b"3\n\"3-abcd\"\n{\"a\":1}").is_none());
    }

    #[test]
    fn an_answer_past_its_next_update_is_a_miss() {
        let past = chrono::Utc::now() - chrono::Duration::milliseconds(1);
        let prepared = Prepared::new(b"{}", "\"1-a\"", 1, past).unwrap();
        assert!(decode(&encode(&prepared).unwrap()).is_none());
    }
}
