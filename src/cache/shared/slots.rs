//! Redis Cluster's key slots, so that a call over several keys can be split into calls whose
//! keys share a slot (a cluster refuses any other). The slot is CRC-16/XMODEM of the key, or of
//! its hash tag (the text between the first `{` and the first `}` after it, when not empty),
//! modulo 16,384, as the Redis Cluster specification defines it.

use std::ops::Range;

/// Slots in a cluster.
const SLOTS: u16 = 16_384;

/// The slot of `key`.
pub fn slot(key: &[u8]) -> u16 {
    crc16(hashed_part(key)) % SLOTS
}

/// The part of `key` that decides its slot.
fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else { return key };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

/// CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The runs of consecutive keys that share a slot: what one call each may carry. Callers
/// that can order their keys put keys of one slot next to each other first ([`order_by_slot`]).
pub fn runs<K: AsRef<[u8]>>(keys: &[K]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut last = None;
    for (i, key) in keys.iter().enumerate() {
        let this = slot(key.as_ref());
        match runs.last_mut() {
            Some(run) if last == Some(this) => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
        last = Some(this);
    }
    runs
}

/// All of `len` keys in one call, as one server takes them.
pub fn one_run(len: usize) -> Vec<Range<usize>> {
    std::iter::once(0..len).collect()
}

/// Sorts `items` by the slot of their key, keeping the order within a slot.
pub fn order_by_slot<T>(items: &mut [T], key: impl Fn(&T) -> String) {
    items.sort_by_cached_key(|item| slot(key(item).as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_those_the_specification_gives() {
        // The specification's check value of CRC-16/XMODEM, and slots `CLUSTER KEYSLOT` gives.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        // An empty tag, or none closed, hashes the whole key.
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot(b"foo{bar"), crc16(b"foo{bar") % SLOTS);
        assert_eq!(slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
    }

    #[test]
    fn runs_split_where_the_slot_changes() {
        let keys = ["{a}1", "{a}2", "{b}1", "{a}3"];
        assert_eq!(runs(&keys), vec![0..2, 2..3, 3..4]);
        let mut ordered = keys.to_vec();
        order_by_slot(&mut ordered, |key| key.to_string());
        assert_eq!(runs(&ordered).len(), 2);
        assert!(runs::<&str>(&[]).is_empty());
    }
}
