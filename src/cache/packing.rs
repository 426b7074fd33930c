//! Prepared answers are kept LZ4-compressed against a dictionary, and unpacked as they are sent
//! (or once, for keeps, while the cache has room: `Prepared::unpacked`).
//!
//! With 100,000 certificates in memory, the answers are most of the server's memory: 3.3 KB
//! each, of which the greater part (member names, the issuer, the standard, the log's
//! checkpoint, the upper nodes of the inclusion proofs, one copy of each certificate's fields
//! in the view and another in the signed record) repeats from one answer to the next or within
//! one. LZ4 against a dictionary that is itself an answer keeps only what differs, about 1.2
//! KB, and unpacks it in about a microsecond, well under what sending it costs. (zstd packs
//! tighter, about 0.95 KB, but takes four times as long to unpack: measured on this service's
//! answers, 2026-11-27.)
//!
//! Of what is left, most is the inclusion proof: 17 hashes of 44 base64 characters for 100,000
//! leaves, which no single answer shares with another beyond the top few. Neighbouring leaves
//! share most of theirs, though, so the registry hands answers a dictionary of their own stretch
//! of the log (its nodes, then an answer as the template: [`dictionaries`]), which takes
//! an answer to about 0.75 KB. Answers that bring none (copies from Redis, answers without a log
//! entry) use the process's default dictionary: the first answer of at least [`DICTIONARY_MIN`]
//! bytes it packed, fixed from then on.
//!
//! Every packed answer holds the very dictionary it was packed with (an `Arc`), so a dictionary
//! never changes under an answer; one made anew serves the answers prepared after it. A
//! dictionary holds nothing private: public answers and public log nodes.

pub mod dictionaries;

use std::sync::{Arc, OnceLock};

/// A dictionary answers are packed against.
pub struct Dictionary {
    bytes: Box<[u8]>,
}

/// LZ4 reaches back at most 64 KiB, from the end of the dictionary onwards; what lies further
/// back is cut (the start of the fragments), leaving room for the answer itself.
const DICTIONARY_MAX: usize = 56 * 1024;

impl Dictionary {
    /// `fragments` (text answers are likely to contain, farthest back) then `template` (a whole
    /// answer, nearest); cut from the front to [`DICTIONARY_MAX`] bytes.
    pub fn new(fragments: &[u8], template: &[u8]) -> Arc<Self> {
        let mut bytes = Vec::with_capacity(fragments.len() + template.len());
        bytes.extend_from_slice(fragments);
        bytes.extend_from_slice(template);
        let cut = bytes.len().saturating_sub(DICTIONARY_MAX);
        Arc::new(Self { bytes: bytes[cut..].into() })
    }
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary").field("bytes", &self.bytes.len()).finish()
    }
}

/// The process's default dictionary, once a body large enough to be one has been packed.
static DEFAULT: OnceLock<Arc<Dictionary>> = OnceLock::new();

/// Smaller bodies (test fixtures, a tiny answer) neither become the dictionary nor are packed:
/// there is little to gain.
pub const DICTIONARY_MIN: usize = 1024;

/// A body is kept packed only when packing saves at least this much.
const WORTH_PACKING: usize = 64;

/// The default dictionary; `body` becomes it if there is none yet and it is large enough.
pub fn default_dictionary(body: &[u8]) -> Option<Arc<Dictionary>> {
    if let Some(dictionary) = DEFAULT.get() {
        return Some(Arc::clone(dictionary));
    }
    (body.len() >= DICTIONARY_MIN).then(|| Arc::clone(DEFAULT.get_or_init(|| Dictionary::new(&[], body))))
}

/// A body as the cache keeps it.
pub enum Packed {
    /// LZ4 block against the dictionary it was packed with.
    Lz4(Vec<u8>),
    /// Kept as it is (small, or nothing to gain).
    Plain,
}

/// Packs `body` against `dictionary`, checking that it unpacks to the very same bytes (so that
/// sending it later cannot fail or differ).
pub fn pack(body: &[u8], dictionary: &Dictionary) -> Packed {
    if body.len() < DICTIONARY_MIN {
        return Packed::Plain;
    }
    let packed = lz4_flex::block::compress_with_dict(body, &dictionary.bytes);
    if packed.len() + WORTH_PACKING > body.len() || unpack(&packed, body.len(), dictionary).as_deref() != Some(body) {
        return Packed::Plain;
    }
    Packed::Lz4(packed)
}

/// The body `packed` was made from against `dictionary`, `plain_len` bytes long; `None` if it
/// does not unpack to that (never, for what [`pack`] returned).
pub fn unpack(packed: &[u8], plain_len: usize, dictionary: &Dictionary) -> Option<Vec<u8>> {
    let mut body = vec![0; plain_len];
    let written = lz4_flex::block::decompress_into_with_dict(packed, &mut body, &dictionary.bytes).ok()?;
    (written == plain_len).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof_hash(n: u32, level: u32) -> String {
        format!("{:016x}{:016x}", u64::from(n >> level).wrapping_mul(0x9e37_79b9_7f4a_7c15), u64::from(level) + 1)
    }

    fn answer(n: u32) -> Vec<u8> {
        let proof: Vec<String> = (0..8).map(|level| format!("\"{}\"", proof_hash(n ^ 1, level))).collect();
        format!(
            "{{\"number\":\"SM2026{n:06}\",\"holder\":{{\"name\":\"第{n}号电器有限公司\"}},\"scope\":\"家用电器的售后服务\",\
             \"standard\":\"GB/T 27922-2011\",\"proof\":[{}],\"pad\":\"{}\"}}",
            proof.join(","),
            "售后".repeat(200)
        )
        .into_bytes()
    }

    #[test]
    fn large_answers_pack_small_and_unpack_to_the_same_bytes() {
        let dictionary = Dictionary::new(&[], &answer(0));
        for n in [1, 2, 77, 123_456] {
            let body = answer(n);
            let Packed::Lz4(packed) = pack(&body, &dictionary) else { panic!("answer {n} was not packed") };
            assert!(packed.len() * 3 < body.len(), "{} of {} bytes", packed.len(), body.len());
            assert_eq!(unpack(&packed, body.len(), &dictionary).as_deref(), Some(&body[..]));
        }
    }

    #[test]
    fn fragments_in_the_dictionary_are_not_kept_again() {
        let body = answer(1000);
        let plain = Dictionary::new(&[], &answer(0));
        let fragments: String = (0..8).map(|level| format!("\"{}\",", proof_hash(1001, level))).collect();
        let with_nodes = Dictionary::new(fragments.as_bytes(), &answer(0));
        let (Packed::Lz4(without), Packed::Lz4(with)) = (pack(&body, &plain), pack(&body, &with_nodes)) else {
            panic!("not packed")
        };
        // Eight 32-character hashes, each a few bytes once found in the dictionary.
        assert!(with.len() + 8 * 24 < without.len(), "{} against {} bytes", with.len(), without.len());
        assert_eq!(unpack(&with, body.len(), &with_nodes).as_deref(), Some(&body[..]));
        assert_ne!(unpack(&with, body.len(), &plain).as_deref(), Some(&body[..]), "only with its own dictionary");
    }

    #[test]
    fn a_dictionary_keeps_the_template_and_the_nearest_fragments() {
        let template = answer(3);
        let fragments = vec![b'x'; 2 * DICTIONARY_MAX];
        let dictionary = Dictionary::new(&fragments, &template);
        assert_eq!(dictionary.bytes.len(), DICTIONARY_MAX);
        assert!(dictionary.bytes.ends_with(&template));
    }

    #[test]
    fn small_bodies_stay_plain_and_damage_is_refused() {
        let dictionary = Dictionary::new(&[], &answer(0));
        assert!(matches!(pack(b"{\"a\":1}", &dictionary), Packed::Plain));
        let body = answer(9);
        let Packed::Lz4(packed) = pack(&body, &dictionary) else { panic!("not packed") };
        assert_eq!(unpack(&packed, body.len() + 1, &dictionary), None, "a length that does not match");
        assert_eq!(unpack(&packed[..packed.len() / 2], body.len(), &dictionary), None, "a truncated block");
    }
}
