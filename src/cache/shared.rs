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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::RwLock;

use super::{AnswerCache, Prepared};

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
    /// [`COUNT_SCANS`], sent by its hash (see [`SharedCache::count_scans`]).
    count_scans: redis::Script,
}

/// Counts the scans of several serials and returns, serial after serial in the order given,
/// `count, first` as every instance now shares them. The figures of a mark batch live in two
/// hashes keyed by serial, its counts and its first-scan times (`KEYS` holds the pair of each
/// batch in the call): a key of its own per serial cost Redis about twice as much (a new key, an
/// expiry entry and a small hash for every fresh serial). ARGV: seconds to keep a batch's
/// figures after its last scan; then for each batch, how many of its serials follow, and for
/// each serial: serial, scans, earliest scan (microseconds), and, when this instance read the
/// store's tally first, its count and first scan (which initialise a serial Redis has not seen),
/// else two empty strings. One call for a whole round trip instead of commands for each serial:
/// this process spent more parsing their replies than Redis counting.
const COUNT_SCANS: &str = r"
-- Keeps the earlier of the serial's known first scan and `at`: round trips of several
-- instances reach Redis in any order, so the first to arrive need not hold the first scan.
local function keep_earliest(firsts, serial, at)
    if redis.call('HSETNX', firsts, serial, at) == 1 then
        return at
    end
    local known = redis.call('HGET', firsts, serial)
    if tonumber(known) > tonumber(at) then
        redis.call('HSET', firsts, serial, at)
        return at
    end
    return known
end

local ttl = ARGV[1]
local at = 2
local figures = {}
for k = 1, #KEYS, 2 do
    local counts, firsts = KEYS[k], KEYS[k + 1]
    local serials = tonumber(ARGV[at])
    at = at + 1
    for _ = 1, serials do
        local serial, scans, first = ARGV[at], ARGV[at + 1], ARGV[at + 2]
        if ARGV[at + 3] ~= '' then
            redis.call('HSETNX', counts, serial, ARGV[at + 3])
            keep_earliest(firsts, serial, ARGV[at + 4])
        end
        at = at + 5
        figures[#figures + 1] = redis.call('HINCRBY', counts, serial, scans)
        figures[#figures + 1] = tonumber(keep_earliest(firsts, serial, first))
    end
    redis.call('EXPIRE', counts, ttl)
    redis.call('EXPIRE', firsts, ttl)
end
return figures
";

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
    /// Prepares the client; nothing is connected until [`SharedCache::run_feed`] runs.
    pub fn new(url: &str, ttl: Duration) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Arc::new(Self {
            client,
            connection: RwLock::new(None),
            ttl,
            up: AtomicBool::new(false),
            put_unless_newer: redis::Script::new(&format!("{HELD_VERSION}{PUT_UNLESS_NEWER}")),
            forget_older: redis::Script::new(&format!("{HELD_VERSION}{FORGET_OLDER}")),
            count_scans: redis::Script::new(COUNT_SCANS),
        }))
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
        loop {
            match self.subscribe().await {
                Ok(feed) => {
                    backoff = Duration::from_millis(100);
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
                                        local.forget_now_and_soon(&key).await;
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

/// Scans of one serial sent to Redis in one round trip (see [`SharedCache::count_scans`]).
#[derive(Clone, Debug)]
pub struct ScanDelta {
    pub key: crate::store::SerialKey,
    /// How many scans, and the earliest and latest of them.
    pub tally: crate::store::ScanTally,
    /// The store's tally as this instance read it when it first saw the serial: it initialises a
    /// serial Redis has not seen (after a Redis restart, or once its figures expired).
    pub seed: Option<crate::store::ScanTally>,
}

/// How long Redis keeps a batch's running figures after the last scan of one of its marks; the
/// store keeps them for good.
const SCAN_FIGURES_TTL_SECONDS: i64 = 30 * 24 * 3600;

impl SharedCache {
    /// Counts scans of several serials in Redis, shared by every instance, in ONE round trip
    /// ([`COUNT_SCANS`]: the keys of every batch in one call, so not for Redis Cluster, whose
    /// slots may split them; neither is [`FORGET_OLDER`]), and returns, per delta
    /// and in the same order, the figure every instance shares: count and first-scan time
    /// including these scans (`last_at` is the delta's). `None` when Redis is unavailable.
    pub async fn count_scans(&self, deltas: &[ScanDelta]) -> Option<Vec<crate::store::ScanTally>> {
        if deltas.is_empty() {
            return Some(Vec::new());
        }
        let mut connection = self.connection().await?;
        let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
        // The deltas batch by batch (in order of first appearance): the figures come back in
        // that order.
        let mut batches: Vec<(&str, u32, Vec<usize>)> = Vec::new();
        let mut place: HashMap<(&str, u32), usize> = HashMap::new();
        for (i, delta) in deltas.iter().enumerate() {
            let key = (delta.key.number.as_str(), delta.key.batch);
            let at = *place.entry(key).or_insert_with(|| {
                batches.push((key.0, key.1, Vec::new()));
                batches.len() - 1
            });
            batches[at].2.push(i);
        }
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.count_scans.get_hash()).arg(batches.len() * 2);
        for (number, batch, _) in &batches {
            call.arg(format!("starmark:scans:{number}:{batch}:count"));
            call.arg(format!("starmark:scans:{number}:{batch}:first"));
        }
        call.arg(SCAN_FIGURES_TTL_SECONDS);
        for (_, _, members) in &batches {
            call.arg(members.len());
            for &i in members {
                let delta = &deltas[i];
                call.arg(delta.key.serial).arg(delta.tally.count).arg(micros(delta.tally.first_at));
                match &delta.seed {
                    Some(seed) => call.arg(seed.count).arg(micros(seed.first_at)),
                    None => call.arg("").arg(""),
                };
            }
        }
        let flat: Vec<i64> = self.run_scripted(&call, &self.count_scans, &mut connection).await?;
        if flat.len() != deltas.len() * 2 {
            tracing::warn!(sent = deltas.len(), received = flat.len() / 2, "redis scan figures do not match");
            return None;
        }
        let mut shared: Vec<Option<crate::store::ScanTally>> = vec![None; deltas.len()];
        let order = batches.iter().flat_map(|(_, _, members)| members);
        for (&i, figure) in order.zip(flat.chunks_exact(2)) {
            let delta = &deltas[i];
            shared[i] = Some(crate::store::ScanTally {
                count: u64::try_from(figure[0]).unwrap_or(0),
                first_at: chrono::DateTime::from_timestamp_micros(figure[1]).unwrap_or(delta.tally.first_at),
                last_at: delta.tally.last_at,
            });
        }
        shared.into_iter().collect()
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
