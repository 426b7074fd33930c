//! L2: prepared answers shared by every instance in Redis, and the change feed (Redis pub/sub)
//! that tells every instance to drop its L1 copy of a certificate the moment it changes.
//!
//! Each shared answer travels with the signed record it was prepared from (its canonical text
//! and signature object, [`SignedParts`]), from which the reading instance rebuilds the record
//! that L1 holds beside the answer: nothing reads the answer's JSON back. The entry's layout is
//! versioned by its first byte ([`FORMAT`]), so an entry another build wrote is a miss.
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
use redis::AsyncCommands;
use tokio::sync::RwLock;

use super::{AnswerCache, Prepared};
use link::{Link, Target};

pub mod link;
pub mod scan_figures;
pub mod scanner_sets;
pub mod slots;
pub use scan_figures::ScanDelta;

/// The pub/sub channel carrying the keys of changed answers.
pub const CHANNEL: &str = "starmark:changes";
const KEY_PREFIX: &str = "starmark:answer:";
/// Longest wait for one Redis command before it counts as a miss.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_millis(150);
/// How often the change feed proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Calls a cluster is sent at once for one operation split by slot.
const CALLS_AT_ONCE: usize = 64;
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The Redis side of the cache.
pub struct SharedCache {
    target: Target,
    connection: RwLock<Option<Link>>,
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

/// Opens both scripts: the record version of an entry of this build's [`FORMAT`] (see
/// [`encode`]), `nil` for any other entry (which the scripts then replace or drop).
const HELD_VERSION: &str = r"
local function held_version(held)
    if string.byte(held, 1) ~= 178 or string.len(held) < 5 then
        return nil
    end
    local a, b, c, d = string.byte(held, 2, 5)
    return ((a * 256 + b) * 256 + c) * 256 + d
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

/// The first byte of every entry this build writes. Entries of the earlier layout began with the
/// record version in decimal digits, and none of them can begin with this byte (it is no ASCII
/// character, nor can UTF-8 text begin with it), so each build takes the other's entries for a
/// miss. A change of the layout takes a new value.
pub const FORMAT: u8 = 0xB2;

/// The signed record an answer was prepared from, as L2 carries it beside the answer: the
/// record's canonical text and its signature object (docs/format.md, sections 3 and 4). Opaque
/// here; the registry parses and checks them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignedParts {
    pub record: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A shared answer as read from Redis.
#[derive(Debug)]
pub struct SharedAnswer {
    pub prepared: Prepared,
    pub signed: SignedParts,
}

/// Appends `part` after its length (4 bytes, big-endian).
fn push_part(out: &mut Vec<u8>, part: &[u8]) -> Option<()> {
    out.extend_from_slice(&u32::try_from(part.len()).ok()?.to_be_bytes());
    out.extend_from_slice(part);
    Some(())
}

/// Packs a prepared answer and its signed record as [`FORMAT`]; the record version (4 bytes,
/// big-endian, where the scripts read it); `next_update` (seconds since the epoch, 8 bytes,
/// then nanoseconds, 4 bytes); the ETag, the record's text and its signature object, each after
/// its length (4 bytes); then the body, unpacked, to the end. All numbers are big-endian.
/// `None` for an answer whose body does not unpack (see [`Prepared::body`]).
fn encode(prepared: &Prepared, signed: &SignedParts) -> Option<Vec<u8>> {
    let body = prepared.body()?;
    let etag = prepared.etag().as_bytes();
    let parts = etag.len() + signed.record.len() + signed.signature.len();
    let mut out = Vec::with_capacity(1 + 4 + 12 + 12 + parts + body.len());
    out.push(FORMAT);
    out.extend_from_slice(&prepared.version.to_be_bytes());
    out.extend_from_slice(&prepared.next_update.timestamp().to_be_bytes());
    out.extend_from_slice(&prepared.next_update.timestamp_subsec_nanos().to_be_bytes());
    push_part(&mut out, etag)?;
    push_part(&mut out, &signed.record)?;
    push_part(&mut out, &signed.signature)?;
    out.extend_from_slice(&body);
    Some(out)
}

/// Reads what [`encode`] wrote, a field at a time.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn part(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(u32::from_be_bytes(self.array()?)).ok()?;
        self.take(len)
    }
}

/// The answer packed by [`encode`], unless it is of another format (written by another build),
/// malformed, or already past its `next_update`: each a miss.
fn decode(bytes: &[u8]) -> Option<SharedAnswer> {
    let mut reader = Reader(bytes);
    if reader.array::<1>()? != [FORMAT] {
        return None;
    }
    let version = u32::from_be_bytes(reader.array()?);
    let seconds = i64::from_be_bytes(reader.array()?);
    let nanos = u32::from_be_bytes(reader.array()?);
    let next_update = chrono::DateTime::from_timestamp(seconds, nanos)?;
    let etag = std::str::from_utf8(reader.part()?).ok()?;
    let record = reader.part()?.to_vec();
    let signature = reader.part()?.to_vec();
    let body = reader.0;
    if next_update <= chrono::Utc::now() {
        return None;
    }
    let prepared = Prepared::new(body, etag, version, next_update)?;
    Some(SharedAnswer { prepared, signed: SignedParts { record, signature } })
}

impl SharedCache {
    /// Prepares the client; nothing is connected until [`SharedCache::run_feed`] runs. A
    /// `rediss://` URL connects over TLS, checking the server's certificate against the system's
    /// trust store; `redis+cluster://` and `rediss+cluster://` name a Redis Cluster by its seed
    /// nodes ([`link`]).
    pub fn new(url: &str, ttl: Duration) -> Result<Arc<Self>, redis::RedisError> {
        Ok(Self::with_target(Target::open(url, None)?, ttl))
    }

    /// Like [`SharedCache::new`] for a TLS URL whose server's certificate must chain to one of
    /// the certificate authorities in `roots_pem` (a private CA) instead.
    pub fn with_roots(url: &str, roots_pem: Vec<u8>, ttl: Duration) -> Result<Arc<Self>, redis::RedisError> {
        Ok(Self::with_target(Target::open(url, Some(roots_pem))?, ttl))
    }

    fn with_target(target: Target, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            target,
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

    async fn connection(&self) -> Option<Link> {
        self.connection.read().await.clone()
    }

    /// Whether this is a Redis Cluster, where the keys of one call must share a slot.
    pub fn is_cluster(&self) -> bool {
        self.target.is_cluster()
    }

    /// Puts the items of one call over several keys in the order [`SharedCache::eval_per_slot`]
    /// sends them in: as they are for one server, keys of one slot together in a cluster.
    fn order_for_calls<T>(&self, items: &mut [T], key: impl Fn(&T) -> String) {
        if self.is_cluster() {
            slots::order_by_slot(items, key);
        }
    }

    /// Runs `script` over `keys`, `KEYS[k]` with `ARGV[1 + k]` from `args` after the shared
    /// `ARGV[1]` `first`, and returns the replies' bytes in key order: one call on one server;
    /// in a cluster one call per run of keys in one slot, all at once (their order is kept by
    /// [`SharedCache::order_for_calls`]). `None` when any call failed.
    async fn eval_per_slot(
        &self,
        script: &redis::Script,
        first: i64,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Option<Vec<u8>> {
        let connection = self.connection().await?;
        let runs = if self.is_cluster() { slots::runs(keys) } else { slots::one_run(keys.len()) };
        let calls: Vec<redis::Cmd> = runs
            .into_iter()
            .map(|run| {
                let mut call = redis::cmd("EVALSHA");
                call.arg(script.get_hash()).arg(run.len());
                for key in &keys[run.clone()] {
                    call.arg(key);
                }
                call.arg(first);
                for arg in &args[run] {
                    call.arg(arg.as_slice());
                }
                call
            })
            .collect();
        let replies: Vec<Option<Vec<u8>>> = futures_util::stream::iter(calls.into_iter().map(|call| {
            let mut connection = connection.clone();
            async move { self.run_scripted::<Vec<u8>>(&call, script, &mut connection).await }
        }))
        .buffered(CALLS_AT_ONCE)
        .collect()
        .await;
        let mut out = Vec::new();
        for reply in replies {
            out.extend(reply?);
        }
        Some(out)
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
        connection: &mut Link,
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

    /// The shared copy of `key`, if Redis has one of this build's format and answers in time.
    pub async fn get(&self, key: &str) -> Option<SharedAnswer> {
        let mut connection = self.connection().await?;
        let value = self.run(connection.get::<_, Option<Vec<u8>>>(format!("{KEY_PREFIX}{key}"))).await?;
        value.as_deref().and_then(decode)
    }

    /// Stores the shared copy of `key`, with the signed record it was prepared from, for the
    /// staleness bound, unless Redis holds one of a later record version: a load that read the
    /// store just before a change and finishes just after it must not put the old state back
    /// over the new one, where other instances would find it after the change was announced.
    /// Says whether Redis holds this answer now (or a later one).
    pub async fn put(&self, key: &str, prepared: &Prepared, signed: &SignedParts) -> bool {
        let Some(packed) = encode(prepared, signed) else { return false };
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
        let Some(connection) = self.connection().await else { return false };
        let keys: Vec<String> = changes.iter().map(|(key, _)| format!("{KEY_PREFIX}{key}")).collect();
        // In a cluster the answers of several certificates live in several slots: a call each.
        let runs =
            if self.is_cluster() { (0..keys.len()).map(|i| i..i + 1).collect() } else { slots::one_run(keys.len()) };
        let calls = runs.into_iter().map(|run| {
            let mut invocation = self.forget_older.prepare_invoke();
            for (key, (_, version)) in keys[run.clone()].iter().zip(&changes[run]) {
                invocation.key(key).arg(*version);
            }
            let mut connection = connection.clone();
            async move { self.run(invocation.invoke_async::<i64>(&mut connection)).await.is_some() }
        });
        let answered: Vec<bool> = futures_util::stream::iter(calls).buffer_unordered(CALLS_AT_ONCE).collect().await;
        answered.into_iter().all(|answered| answered)
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
        // Which seed node of a cluster the feed tries next.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.subscribe(attempt).await {
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

    async fn subscribe(&self, attempt: usize) -> Result<redis::aio::PubSub, redis::RedisError> {
        let timeout = |what: &'static str| move |_| redis::RedisError::from((redis::ErrorKind::IoError, what));
        let feed_client = self.target.feed_client(attempt);
        let mut feed = tokio::time::timeout(Duration::from_secs(1), feed_client.get_async_pubsub())
            .await
            .map_err(timeout("connect timed out"))??;
        feed.subscribe(CHANNEL).await?;
        if self.connection.read().await.is_none() {
            let link = tokio::time::timeout(Duration::from_secs(2), self.target.connect())
                .await
                .map_err(timeout("connect timed out"))??;
            *self.connection.write().await = Some(link);
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

    fn signed() -> SignedParts {
        SignedParts { record: b"{\"version\":3}".to_vec(), signature: b"{\"alg\":\"Ed25519\"}".to_vec() }
    }

    #[test]
    fn packing_round_trips() {
        let next_update = chrono::Utc::now() + chrono::Duration::minutes(5);
        let prepared = Prepared::new(b"{\"a\":\"x\ny\"}", "\"3-abcd\"", 3, next_update).unwrap();
        let back = decode(&encode(&prepared, &signed()).unwrap()).unwrap();
        let answer = &back.prepared;
        assert_eq!((answer.version, answer.etag(), answer.body()), (3, "\"3-abcd\"", prepared.body()));
        assert_eq!(answer.next_update, next_update);
        assert_eq!(back.signed, signed(), "the signed record travels beside the answer");
        // A packed answer goes to Redis unpacked: another instance packs it with its own dictionary.
        let large = format!("{{\"pad\":\"{}\"}}", "售后服务".repeat(200));
        let prepared = Prepared::new(large.as_bytes(), "\"4-abcd\"", 4, next_update).unwrap();
        let packed = encode(&prepared, &SignedParts::default()).unwrap();
        assert!(packed.ends_with(large.as_bytes()));
        assert_eq!(decode(&packed).unwrap().prepared.body().as_deref(), Some(large.as_bytes()));
        assert!(decode(b"garbage").is_none());
        for cut in 0..packed.len() - large.len() {
            assert!(decode(&packed[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn an_entry_of_another_format_is_a_miss_and_its_version_is_read_by_the_scripts_only_in_this_one() {
        let next_update = chrono::Utc::now() + chrono::Duration::minutes(5);
        // What the build before this layout wrote: version, ETag, next_update, body, a line each.
        let earlier = format!("3\n\"3-abcd\"\n{}\n{{\"record\":{{}}}}", next_update.to_rfc3339());
        assert!(decode(earlier.as_bytes()).is_none());
        assert!(decode(b"3\n\"3-abcd\"\n{\"a\":1}").is_none());
        let prepared = Prepared::new(b"{}", "\"3-abcd\"", 0x0102_0304, next_update).unwrap();
        let mut packed = encode(&prepared, &signed()).unwrap();
        assert_eq!(packed[..5], [FORMAT, 1, 2, 3, 4], "the scripts read the version here");
        // The earlier build's reader: the first line as a decimal version, which this is not.
        let first_line = packed.split(|b| *b == b'\n').next().unwrap_or_default();
        let read = std::str::from_utf8(first_line).ok().and_then(|text| text.parse::<u32>().ok());
        assert_eq!(read, None);
        packed[0] = FORMAT + 1;
        assert!(decode(&packed).is_none(), "a later format is a miss too");
    }

    #[test]
    fn an_answer_past_its_next_update_is_a_miss() {
        let past = chrono::Utc::now() - chrono::Duration::milliseconds(1);
        let prepared = Prepared::new(b"{}", "\"1-a\"", 1, past).unwrap();
        assert!(decode(&encode(&prepared, &signed()).unwrap()).is_none());
    }
}
