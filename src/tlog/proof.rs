//! Checking proofs as a client would (RFC 9162 §2.1.3.2 and §2.1.4.2), used by the audit and by
//! tests; written from the RFC text, independent of how [`super::Tree`] makes them.

use super::hash::{node_hash, Hash};

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("sizes {from} and {to} do not allow a consistency proof")]
    BadRange { from: u64, to: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `from` leaves with root `from_root` is a prefix of the tree of
/// `to` leaves with root `to_root`.
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadRange { from, to });
    }
    if from == to {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if from_root == to_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else { return Err(ProofError::WrongLength) };
    let (mut fn_, mut sn) = (from - 1, to - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != from_root || &sr != to_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::leaf_hash;
    use crate::tlog::Tree;

    fn tree(n: u64) -> Tree {
        let mut tree = Tree::new();
        for i in 0..n {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        tree
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let tree = tree(70);
        for size in 1..=70 {
            let root = tree.root(size).unwrap();
            for index in 0..size {
                let leaf = tree.leaf(index).unwrap();
                let proof = tree.inclusion(index, size).unwrap();
                assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()), "{index}/{size}");
                if index + 1 < size {
                    assert!(verify_inclusion(index + 1, size, &leaf, &proof, &root).is_err());
                }
                assert!(verify_inclusion(index, size, &leaf, &proof, &[0; 32]).is_err());
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
                if let Some(first) = proof.first() {
                    let mut flipped = proof.clone();
                    flipped[0] = {
                        let mut h = *first;
                        h[0] ^= 8;
                        h
                    };
                    assert!(verify_inclusion(index, size, &leaf, &flipped, &root).is_err());
                    assert!(verify_inclusion(index, size, &leaf, &proof[1..], &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let tree = tree(40);
        for to in 1..=40 {
            let to_root = tree.root(to).unwrap();
            for from in 1..=to {
                let from_root = tree.root(from).unwrap();
                let proof = tree.consistency(from, to).unwrap();
                assert_eq!(verify_consistency(from, to, &from_root, &to_root, &proof), Ok(()), "{from}->{to}");
                if from < to {
                    assert!(verify_consistency(from, to, &to_root, &from_root, &proof).is_err());
                    assert!(verify_consistency(from, to, &from_root, &to_root, &[]).is_err());
                    let mut flipped = proof.clone();
                    flipped[0][0] ^= 16;
                    assert!(verify_consistency(from, to, &from_root, &to_root, &flipped).is_err());
                }
            }
        }
        assert!(verify_consistency(0, 3, &[0; 32], &[0; 32], &[]).is_err());
    }
}
