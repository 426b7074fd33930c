//! Packing dictionaries by stretch of the log: what makes an answer's inclusion proof cheap to
//! keep in memory.
//!
//! Once packed against one answer ([`super`]), most of what is left of an answer is its
//! inclusion proof: a hash per level of the log's tree (17 for 100,000 leaves), 44 base64
//! characters each, which a random other answer shares only at the top. Leaves of one stretch of
//! [`STRETCH_LEAVES`] share most of theirs, though: the nodes above the stretch are the same for
//! all of them, and inside it a node `k` levels up is in the proofs of `2^k` leaves. So each
//! stretch gets a dictionary of the nodes at least [`MIN_SHARED`] of its leaves' proofs hold
//! (about 260 nodes, 12 KB), rendered as answers show them, followed by the first answer prepared
//! in the stretch as the template. Larger stretches cost less dictionary per answer where few
//! leaves are a certificate's latest (events of other kinds, older versions), smaller ones pack
//! tighter; 512 leaves with nodes shared by 4 packs close to the tightest for a fraction of the
//! dictionaries' memory.
//!
//! A stretch's dictionary is made when an answer in it is prepared and there is none, and made
//! anew when the log has grown by an eighth since (the nodes along the tree's right edge, at the
//! top of every proof, change as it grows) or, for the stretch the log is still filling, by an
//! eighth of a stretch. Only a weak reference is kept here: a dictionary lives while some cached
//! answer holds it, so the dictionaries' memory follows the cache's (at most one per stretch).
//!
//! This is bookkeeping over leaf indexes and bytes only: the registry reads the shared nodes
//! from its log and renders them (`registry/read/dictionaries.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::Dictionary;

/// Leaves of the log that share a dictionary.
pub const STRETCH_LEAVES: u64 = 512;
/// A node goes into its stretch's dictionary when at least this many proofs of the stretch's
/// leaves hold it (the lowest two levels inside the stretch are left out).
pub const MIN_SHARED: usize = 4;
/// A dictionary is made anew once the log has grown by this fraction since it was made.
const GROWTH_BEFORE_RENEWAL: u64 = 8;

/// The dictionaries of the stretches answers were prepared in, kept so that answers of one
/// stretch share one dictionary instead of each paying for its own.
#[derive(Default)]
pub struct AnswerDictionaries {
    stretches: Mutex<HashMap<u64, Made>>,
}

struct Made {
    /// Size of the tree the dictionary's nodes were taken from.
    tree_size: u64,
    dictionary: Weak<Dictionary>,
}

impl Made {
    /// Whether answers proven in the tree of `size` leaves should have a dictionary made anew:
    /// the log grew by an eighth, or the stretch was still filling and an eighth of it came.
    fn outgrown(&self, stretch: u64, size: u64) -> bool {
        let grown = size.saturating_sub(self.tree_size);
        let still_filling = (stretch + 1).saturating_mul(STRETCH_LEAVES) > self.tree_size;
        grown > 0
            && (grown >= self.tree_size / GROWTH_BEFORE_RENEWAL
                || still_filling && grown >= STRETCH_LEAVES / GROWTH_BEFORE_RENEWAL)
    }
}

impl AnswerDictionaries {
    /// The dictionary to pack `template`, an answer proven at leaf `index` in the tree of `size`
    /// leaves, against: its stretch's, made now with `template` if there is none that is still
    /// good. `shared_nodes(first, leaves, min_shared)` renders the nodes that at least
    /// `min_shared` proofs of the leaves `first..first + leaves` hold, the way answers show
    /// them; when it cannot (`None`), the process's default dictionary serves instead, so a
    /// log that cannot answer never keeps an answer from being prepared.
    pub fn for_leaf(
        &self,
        index: u64,
        size: u64,
        template: &[u8],
        shared_nodes: impl FnOnce(u64, u64, usize) -> Option<Vec<u8>>,
    ) -> Option<Arc<Dictionary>> {
        let stretch = index / STRETCH_LEAVES;
        if let Some(dictionary) = self.current(stretch, size) {
            return Some(dictionary);
        }
        // Made outside the lock (a few hundred proofs, under a millisecond): two answers of one
        // stretch prepared at once may each make one; the later stays.
        let Some(fragments) = shared_nodes(stretch * STRETCH_LEAVES, STRETCH_LEAVES, MIN_SHARED) else {
            return super::default_dictionary(template);
        };
        let dictionary = Dictionary::new(&fragments, template);
        self.keep(stretch, size, &dictionary);
        Some(dictionary)
    }

    /// The dictionary of `stretch` for answers proven in the tree of `size` leaves, if one that
    /// is still good is alive.
    fn current(&self, stretch: u64, size: u64) -> Option<Arc<Dictionary>> {
        let stretches = self.stretches.lock().unwrap_or_else(PoisonError::into_inner);
        let made = stretches.get(&stretch)?;
        if made.outgrown(stretch, size) {
            return None;
        }
        made.dictionary.upgrade()
    }

    fn keep(&self, stretch: u64, tree_size: u64, dictionary: &Arc<Dictionary>) {
        let mut stretches = self.stretches.lock().unwrap_or_else(PoisonError::into_inner);
        stretches.insert(stretch, Made { tree_size, dictionary: Arc::downgrade(dictionary) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_is_made_anew_when_the_log_or_its_filling_stretch_grew_by_an_eighth() {
        let made = |tree_size| Made { tree_size, dictionary: Weak::new() };
        // Stretch 1 holds leaves 512..1024.
        assert!(!made(800).outgrown(1, 800), "same tree");
        assert!(!made(800).outgrown(1, 863), "its stretch is still filling, 63 leaves came");
        assert!(made(800).outgrown(1, 864), "its stretch is still filling, 64 leaves came");
        assert!(!made(1024).outgrown(1, 1100), "full, and the log grew by less than an eighth");
        assert!(made(1024).outgrown(1, 1152), "grew by an eighth");
        assert!(!made(1100).outgrown(1, 1000), "an answer proven in an older tree uses the newer");
    }

    #[test]
    fn only_live_dictionaries_are_handed_out() {
        let dictionaries = AnswerDictionaries::default();
        let dictionary = Dictionary::new(b"[\"node\"]", b"{\"answer\":1}");
        dictionaries.keep(3, 4096, &dictionary);
        let current = dictionaries.current(3, 4096).expect("alive");
        assert!(Arc::ptr_eq(&current, &dictionary));
        assert!(dictionaries.current(2, 4096).is_none(), "another stretch");
        assert!(dictionaries.current(3, 4096 + 512).is_none(), "outgrown");
        drop((current, dictionary));
        assert!(dictionaries.current(3, 4096).is_none(), "no answer holds it any more");
    }

    #[test]
    fn a_leaf_gets_its_stretchs_nodes_once_while_the_dictionary_lives() {
        let dictionaries = AnswerDictionaries::default();
        let mut asked = Vec::new();
        let mut nodes = |first, leaves, min_shared| {
            asked.push((first, leaves, min_shared));
            Some(b"[\"node\"]".to_vec())
        };
        let first = dictionaries.for_leaf(1030, 2000, b"{\"answer\":1}", &mut nodes).expect("made");
        let again = dictionaries.for_leaf(1500, 2000, b"{\"answer\":2}", &mut nodes).expect("kept");
        assert!(Arc::ptr_eq(&first, &again), "one stretch, one dictionary");
        assert_eq!(asked, [(1024, STRETCH_LEAVES, MIN_SHARED)]);
        assert_eq!(&*first.bytes, b"[\"node\"]{\"answer\":1}", "the nodes, then the template");
    }
}
