//! Distinct scanners every instance shares: per mark serial, the union of the scanner sets of
//! all instances (see `domain::ScannerSet`), kept in Redis by one script call per round trip
//! (made by `registry/scan/counter/` right after the request figures' one).
//!
//! Layout: one hash per mark batch, `starmark:scanners:{number}:{batch}`, whose field is the
//! serial as 4 big-endian bytes and whose value is the set's stored form (the first counted scan
//! as a big-endian `i64` of microseconds, then each scanner as 4 bytes). Unions are idempotent,
//! so an instance sends its whole set each time and nobody is ever counted twice, whatever the
//! order in which the round trips of several instances arrive.

use std::collections::HashMap;

use super::SharedCache;
use crate::domain::{ScannerSet, SerialKey, SCANNER_CAPACITY};

/// Unions the sets of several serials into the shared ones and returns the shared sets.
/// `KEYS`: one hash per batch in the call. `ARGV[1]`: seconds to keep a batch's sets after its
/// last scan; `ARGV[1 + k]`: the records of `KEYS[k]`, [`RECORD_BYTES`] each: the serial
/// (4 bytes, the hash's field), the set's first scan (`i64`), its size (1 byte) and its
/// scanners (4 bytes each, padded to the capacity). Returns one string: for each record, in
/// order, the shared set's first scan, size and scanners, padded, [`REPLY_BYTES`] each. A held
/// value that is not a set (edited by hand) counts as none.
pub(super) const UNION_SCANNERS: &str = r"
local CAP, SLICE = 11, 1000
local RECORD = 13 + 4 * CAP
local PAD = string.rep(string.char(0), 4 * CAP)
local ttl = ARGV[1]
local out = {}
for k = 1, #KEYS do
    local key, records = KEYS[k], ARGV[k + 1]
    local total = #records / RECORD
    local now = {}
    for from = 0, total - 1, SLICE do
        local n = math.min(SLICE, total - from)
        local fields = {}
        for i = 1, n do
            local pos = (from + i - 1) * RECORD + 1
            fields[i] = string.sub(records, pos, pos + 3)
        end
        local held = redis.call('HMGET', key, unpack(fields))
        local set = {}
        for i = 1, n do
            local pos = (from + i - 1) * RECORD + 1
            local field = fields[i]
            local ids, seen, first = {}, {}, nil
            local function add(id)
                if #ids < CAP and not seen[id] then
                    seen[id] = true
                    ids[#ids + 1] = id
                end
            end
            local known = now[field] or held[i]
            if known and #known > 8 and (#known - 8) % 4 == 0 then
                first = struct.unpack('>i8', known)
                for p = 9, #known, 4 do
                    add(string.sub(known, p, p + 3))
                end
            end
            local size = string.byte(records, pos + 12)
            if size > 0 then
                local mine = struct.unpack('>i8', records, pos + 4)
                if first == nil or mine < first then
                    first = mine
                end
                for j = 0, math.min(size, CAP) - 1 do
                    local p = pos + 13 + 4 * j
                    add(string.sub(records, p, p + 3))
                end
            end
            local joined = table.concat(ids)
            local stamp = struct.pack('>i8', first or 0)
            if #ids > 0 then
                now[field] = stamp .. joined
                set[#set + 1] = field
                set[#set + 1] = stamp .. joined
            end
            out[#out + 1] = stamp .. string.char(#ids) .. joined .. string.sub(PAD, 1, 4 * (CAP - #ids))
        end
        if #set > 0 then
            redis.call('HSET', key, unpack(set))
        end
    end
    redis.call('EXPIRE', key, ttl)
end
return table.concat(out)
";

/// Bytes of one serial's record in a call of [`UNION_SCANNERS`].
const RECORD_BYTES: usize = 13 + 4 * SCANNER_CAPACITY;
/// Bytes of one serial's shared set in the reply.
const REPLY_BYTES: usize = 9 + 4 * SCANNER_CAPACITY;

/// How long Redis keeps a batch's sets after the last scan of one of its marks (the store keeps
/// them for good; an instance seeds Redis again from what it holds).
const SCANNER_SETS_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// The hash holding the scanner sets of batch `batch` of certificate `number`.
pub fn batch_key(number: &str, batch: u32) -> String {
    format!("starmark:scanners:{number}:{batch}")
}

/// Appends the record of one serial's set to its batch's argument.
fn push_record(records: &mut Vec<u8>, key: &SerialKey, set: &ScannerSet) {
    let stored = set.encode();
    records.extend_from_slice(&key.serial.to_be_bytes());
    records.extend_from_slice(&stored[..8]);
    // The capacity fits a byte.
    records.push(set.len() as u8);
    records.extend_from_slice(&stored[8..]);
    records.resize(records.len() + 4 * (SCANNER_CAPACITY - set.len()), 0);
}

/// A shared set from its part of the reply.
fn read_reply(reply: &[u8]) -> Option<ScannerSet> {
    let size = usize::from(*reply.get(8)?).min(SCANNER_CAPACITY);
    let mut stored = Vec::with_capacity(8 + 4 * size);
    stored.extend_from_slice(reply.get(..8)?);
    stored.extend_from_slice(reply.get(9..9 + 4 * size)?);
    ScannerSet::decode(&stored)
}

impl SharedCache {
    /// Unions the scanner sets of several serials into the ones every instance shares, in ONE
    /// round trip, and returns the shared sets in the same order; `None` when Redis is
    /// unavailable. Split by slot in a Redis Cluster like [`SharedCache::count_scans`].
    pub async fn union_scanners(&self, sets: &[(SerialKey, ScannerSet)]) -> Option<Vec<ScannerSet>> {
        if sets.is_empty() {
            return Some(Vec::new());
        }
        let mut batches: Vec<(&str, u32, Vec<usize>)> = Vec::new();
        let mut place: HashMap<(&str, u32), usize, foldhash::fast::RandomState> = HashMap::default();
        for (i, (key, _)) in sets.iter().enumerate() {
            let at = *place.entry((key.number.as_str(), key.batch)).or_insert_with(|| {
                batches.push((key.number.as_str(), key.batch, Vec::new()));
                batches.len() - 1
            });
            batches[at].2.push(i);
        }
        self.order_for_calls(&mut batches, |(number, batch, _)| batch_key(number, *batch));
        let keys: Vec<String> = batches.iter().map(|(number, batch, _)| batch_key(number, *batch)).collect();
        let records: Vec<Vec<u8>> = batches
            .iter()
            .map(|(_, _, members)| {
                let mut records = Vec::with_capacity(members.len() * RECORD_BYTES);
                for &i in members {
                    push_record(&mut records, &sets[i].0, &sets[i].1);
                }
                records
            })
            .collect();
        let reply = self.eval_per_slot(&self.union_scanners, SCANNER_SETS_TTL_SECONDS, &keys, &records).await?;
        if reply.len() != sets.len() * REPLY_BYTES {
            tracing::warn!(sent = sets.len(), received = reply.len() / REPLY_BYTES, "redis scanner sets do not match");
            return None;
        }
        let mut shared = vec![ScannerSet::default(); sets.len()];
        let order = batches.iter().flat_map(|(_, _, members)| members);
        for (&i, part) in order.zip(reply.chunks_exact(REPLY_BYTES)) {
            shared[i] = read_reply(part).unwrap_or_default();
        }
        Some(shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_the_serial_then_the_set_padded_and_a_reply_reads_back() {
        let key = SerialKey { number: "SM2026A".into(), batch: 2, serial: 0x0102_0304 };
        let mut set = ScannerSet::default();
        set.insert(0xaabb_ccdd, 1_764_000_000_000_123);
        set.insert(7, 1_764_000_000_000_999);
        let mut records = Vec::new();
        push_record(&mut records, &key, &set);
        assert_eq!(records.len(), RECORD_BYTES);
        assert_eq!(&records[..4], &[1, 2, 3, 4]);
        assert_eq!(i64::from_be_bytes(records[4..12].try_into().unwrap()), 1_764_000_000_000_123);
        assert_eq!(records[12], 2);
        assert_eq!(&records[13..17], &[0xaa, 0xbb, 0xcc, 0xdd]);
        // A reply is the record without its field.
        assert_eq!(read_reply(&records[4..]), Some(set));
        assert_eq!(batch_key("SM2026A", 2), "starmark:scanners:SM2026A:2");
    }
}
