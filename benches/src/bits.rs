//! A fixed-size bitset: one bit per prefix of the numbering plan, so a client tracks which reflected routes it
//! holds in `N * P / 8` bytes instead of a table.

/// A fixed-size set of indices `0..len`.
#[derive(Debug, Clone)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// An empty set over `0..len`.
    pub fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Number of indices the set can hold.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Whether `i` is in the set (false when out of range).
    pub fn get(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Adds `i`; true if it was not there. Out-of-range indices are ignored (false).
    pub fn insert(&mut self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        let w = &mut self.words[i / 64];
        let m = 1 << (i % 64);
        let new = *w & m == 0;
        *w |= m;
        new
    }

    /// Removes `i`; true if it was there.
    pub fn remove(&mut self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        let w = &mut self.words[i / 64];
        let m = 1 << (i % 64);
        let had = *w & m != 0;
        *w &= !m;
        had
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    /// Number of indices in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_count() {
        let mut b = Bits::new(130);
        assert!(b.insert(0));
        assert!(!b.insert(0));
        assert!(b.insert(129));
        assert!(!b.insert(130), "out of range is ignored");
        assert!(b.get(129) && !b.get(128));
        assert_eq!(b.count(), 2);
        assert!(b.remove(0));
        assert!(!b.remove(0));
        assert_eq!(b.count(), 1);
        b.clear();
        assert_eq!(b.count(), 0);
        assert_eq!(b.capacity(), 130);
    }
}
