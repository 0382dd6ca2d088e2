//! A fixed-size set of operation indices: the "which operations are already
//! linearized" half of a memo-cache key.

/// A set of indices below the length given at construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// An empty set able to hold `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn insert(&mut self, index: usize) {
        self.words[index / 64] |= 1 << (index % 64);
    }

    pub(crate) fn remove(&mut self, index: usize) {
        self.words[index / 64] &= !(1 << (index % 64));
    }

    pub(crate) fn contains(&self, index: usize) -> bool {
        self.words[index / 64] & (1 << (index % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_then_remove_restores_equality() {
        let empty = BitSet::new(130);
        let mut set = empty.clone();
        set.insert(0);
        set.insert(129);
        assert!(set.contains(129) && !set.contains(128));
        assert_ne!(set, empty);
        set.remove(0);
        set.remove(129);
        assert_eq!(set, empty);
    }
}
