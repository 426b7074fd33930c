//! The Merkle tree kept in memory: every complete subtree's hash, level by level, so that roots
//! and proofs for any size up to the current one are O(log n) lookups instead of recomputation.
//!
//! Level 0 holds the leaf hashes; level `k` holds the hash of each aligned, complete subtree of
//! `2^k` leaves. Those never change once written, which is also what makes tiles immutable. At a
//! million leaves the levels take about 64 MiB.

use super::hash::{node_hash, Hash, EMPTY_ROOT};

/// Why a root or proof cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("tree size {asked} is beyond the log's {size} leaves")]
    SizeBeyondLog { asked: u64, size: u64 },
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < from ({from}) <= to ({to})")]
    BadRange { from: u64, to: u64 },
}

/// An append-only Merkle tree with RFC 9162 hashing.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

/// Largest power of two strictly smaller than `n` (n >= 2), the RFC's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

fn usize_of(n: u64) -> usize {
    // Tree sizes are bounded by memory, so they fit a usize whenever the hashes exist.
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Tree {
    pub fn new() -> Self {
        Self { levels: vec![Vec::new()] }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Appends one leaf hash, completing whatever subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len() % 2 == 0 {
            let row = &self.levels[level];
            let parent = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// The hash of leaf `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(usize_of(index)).copied()
    }

    /// Complete-subtree hashes at `level` from `start`, at most `count` of them: the content of
    /// a hash tile.
    pub fn level_hashes(&self, level: usize, start: u64, count: u64) -> &[Hash] {
        let Some(row) = self.levels.get(level) else { return &[] };
        let start = usize_of(start).min(row.len());
        let end = start.saturating_add(usize_of(count)).min(row.len());
        &row[start..end]
    }

    /// How many complete subtrees of `2^level` leaves there are.
    pub fn level_len(&self, level: usize) -> u64 {
        self.levels.get(level).map_or(0, |row| row.len() as u64)
    }

    /// MTH(D[lo:hi]) for a range the RFC recursion can produce (lo aligned to its left part).
    fn subtree(&self, lo: u64, hi: u64) -> Hash {
        let width = hi - lo;
        if width.is_power_of_two() && lo % width == 0 {
            let level = width.trailing_zeros() as usize;
            return self.levels[level][usize_of(lo >> level)];
        }
        let k = split(width);
        node_hash(&self.subtree(lo, lo + k), &self.subtree(lo + k, hi))
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        if size > self.size() {
            return Err(TreeError::SizeBeyondLog { asked: size, size: self.size() });
        }
        Ok(())
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        Ok(if size == 0 { EMPTY_ROOT } else { self.subtree(0, size) })
    }

    /// RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves, leaf first.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut path = Vec::new();
        let (mut lo, mut hi) = (0, size);
        // Walk down from the root, remembering the sibling of each step; the proof lists them
        // from the leaf up, so reverse at the end.
        while hi - lo > 1 {
            let k = split(hi - lo);
            if index < lo + k {
                path.push(self.subtree(lo + k, hi));
                hi = lo + k;
            } else {
                path.push(self.subtree(lo, lo + k));
                lo += k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The hashes that at least `min_shared` of the inclusion proofs of leaves `first..first +
    /// count` (those below `size`) hold in the tree of `size` leaves, least shared first: what
    /// the proofs of neighbouring leaves have in common, for packing them (a node `k` levels up
    /// inside the stretch is in the proofs of `2^k` of its leaves, a node above it in all).
    pub fn shared_nodes(&self, first: u64, count: u64, size: u64, min_shared: usize) -> Result<Vec<Hash>, TreeError> {
        let mut seen: std::collections::HashMap<Hash, usize> = std::collections::HashMap::new();
        for index in first..first.saturating_add(count).min(size) {
            for hash in self.inclusion(index, size)? {
                *seen.entry(hash).or_default() += 1;
            }
        }
        let mut shared: Vec<(usize, Hash)> =
            seen.into_iter().filter(|(_, n)| *n >= min_shared).map(|(hash, n)| (n, hash)).collect();
        shared.sort_unstable();
        Ok(shared.into_iter().map(|(_, hash)| hash).collect())
    }

    /// RFC 9162 §2.1.4.1 consistency proof between the trees of `from` and `to` leaves.
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(to)?;
        if from == 0 || from > to {
            return Err(TreeError::BadRange { from, to });
        }
        let mut proof = Vec::new();
        if from == to {
            return Ok(proof);
        }
        // SUBPROOF(m, D[lo:hi], b), unrolled: each step adds one sibling, collected root-down.
        let (mut lo, mut hi, mut m, mut complete) = (0, to, from, true);
        while m != hi - lo {
            let k = split(hi - lo);
            if m <= k {
                proof.push(self.subtree(lo + k, hi));
                hi = lo + k;
            } else {
                proof.push(self.subtree(lo, lo + k));
                lo += k;
                m -= k;
                complete = false;
            }
        }
        if !complete {
            proof.push(self.subtree(lo, hi));
        }
        proof.reverse();
        Ok(proof)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tlog::hash::leaf_hash;

    /// The reference leaves of the certificate-transparency / transparency-dev test data.
    pub(crate) const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    /// Their roots for sizes 0..=8.
    pub(crate) const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    pub(crate) fn reference_tree() -> Tree {
        let mut tree = Tree::new();
        for leaf in LEAVES {
            tree.push(leaf_hash(&hex::decode(leaf).unwrap()));
        }
        tree
    }

    fn hexes(hashes: &[Hash]) -> Vec<String> {
        hashes.iter().map(hex::encode).collect()
    }

    #[test]
    fn shared_nodes_are_those_many_proofs_of_a_stretch_hold() {
        let mut tree = Tree::new();
        for n in 0u32..1000 {
            tree.push(leaf_hash(&n.to_be_bytes()));
        }
        let (first, count, size) = (512, 64, 1000);
        let nodes = tree.shared_nodes(first, count, size, 4).unwrap();
        // Inside the stretch of 64, the nodes of levels 2 to 5 (16 + 8 + 4 + 2), and above it the
        // four siblings on the way to the root of 1,000 leaves.
        assert_eq!(nodes.len(), 16 + 8 + 4 + 2 + 4);
        for index in first..first + count {
            let proof = tree.inclusion(index, size).unwrap();
            assert!(proof[2..].iter().all(|hash| nodes.contains(hash)), "leaf {index}: levels 2 and up");
            assert!(!nodes.contains(&proof[0]) && !nodes.contains(&proof[1]), "leaf {index}: held by fewer than 4");
        }
        let above = &tree.inclusion(first, size).unwrap()[6..];
        assert!(above.iter().all(|hash| nodes[30..].contains(hash)), "the most shared last");
        let end = tree.shared_nodes(992, 64, size, 4).unwrap();
        assert!(end.len() < nodes.len(), "a stretch cut by the tree's end");
        assert_eq!(tree.shared_nodes(0, 8, 1001, 1), Err(TreeError::SizeBeyondLog { asked: 1001, size: 1000 }));
    }

    #[test]
    fn roots_match_the_reference_for_every_size() {
        let tree = reference_tree();
        for (size, root) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(tree.root(size as u64).unwrap()), *root, "size {size}");
        }
        assert_eq!(tree.root(9), Err(TreeError::SizeBeyondLog { asked: 9, size: 8 }));
    }

    #[test]
    fn inclusion_proofs_match_the_reference() {
        // transparency-dev/merkle proof/verify_test.go (leaf numbers there are 1-based).
        let tree = reference_tree();
        assert!(tree.inclusion(0, 1).unwrap().is_empty());
        assert_eq!(
            hexes(&tree.inclusion(0, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(&tree.inclusion(5, 8).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(&tree.inclusion(2, 3).unwrap()),
            ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]
        );
        assert_eq!(
            hexes(&tree.inclusion(1, 5).unwrap()),
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
        assert_eq!(tree.inclusion(8, 8), Err(TreeError::IndexOutOfRange { index: 8, size: 8 }));
    }

    #[test]
    fn consistency_proofs_match_the_reference() {
        let tree = reference_tree();
        assert!(tree.consistency(1, 1).unwrap().is_empty());
        assert_eq!(
            hexes(&tree.consistency(1, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(&tree.consistency(6, 8).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(&tree.consistency(2, 5).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
        assert_eq!(tree.consistency(0, 3), Err(TreeError::BadRange { from: 0, to: 3 }));
        assert_eq!(tree.consistency(4, 3), Err(TreeError::BadRange { from: 4, to: 3 }));
    }
}
