//! Document sets of one segment: a plain bitset and a dense-or-sparse token set.

/// A set of doc ids `< len`, one bit per document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocBits {
    words: Vec<u64>,
    len: u32,
}

impl DocBits {
    pub fn empty(len: u32) -> DocBits {
        DocBits { words: vec![0; (len as usize).div_ceil(64)], len }
    }

    pub fn full(len: u32) -> DocBits {
        let mut bits = DocBits { words: vec![u64::MAX; (len as usize).div_ceil(64)], len };
        let tail = len % 64;
        if tail != 0
            && let Some(last) = bits.words.last_mut()
        {
            *last = (1u64 << tail) - 1;
        }
        bits
    }

    #[inline]
    pub fn insert(&mut self, doc: u32) {
        self.words[(doc / 64) as usize] |= 1 << (doc % 64);
    }

    #[inline]
    pub fn remove(&mut self, doc: u32) {
        if doc < self.len {
            self.words[(doc / 64) as usize] &= !(1 << (doc % 64));
        }
    }

    #[inline]
    pub fn contains(&self, doc: u32) -> bool {
        self.words[(doc / 64) as usize] & (1 << (doc % 64)) != 0
    }

    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// `|self ∩ other|`
    pub fn count_and(&self, other: &DocBits) -> u64 {
        self.words.iter().zip(&other.words).map(|(a, b)| u64::from((a & b).count_ones())).sum()
    }

    pub fn and_with(&mut self, other: &DocBits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    pub fn and_not_with(&mut self, other: &DocBits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    pub fn or_with(&mut self, other: &DocBits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let base = (i as u32) * 64;
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(base + bit)
            })
        })
    }

    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// The documents having one token (a category, a seller, an option value, a price bucket).
/// Stored as a bitset when that is smaller than a posting list (more than 1 doc in 32).
#[derive(Debug, Clone)]
pub(crate) enum TokenSet {
    Dense(DocBits),
    /// Ascending doc ids.
    Sparse(Vec<u32>),
}

impl TokenSet {
    pub fn from_sorted(docs: Vec<u32>, max_doc: u32) -> TokenSet {
        if docs.len() as u64 * 32 > u64::from(max_doc) {
            let mut bits = DocBits::empty(max_doc);
            for d in docs {
                bits.insert(d);
            }
            TokenSet::Dense(bits)
        } else {
            let mut docs = docs;
            docs.shrink_to_fit();
            TokenSet::Sparse(docs)
        }
    }

    /// `|self ∩ set|`
    pub fn count_in(&self, set: &DocBits) -> u64 {
        match self {
            TokenSet::Dense(bits) => bits.count_and(set),
            TokenSet::Sparse(docs) => docs.iter().filter(|d| set.contains(**d)).count() as u64,
        }
    }

    /// `into ∪= self`
    pub fn or_into(&self, into: &mut DocBits) {
        match self {
            TokenSet::Dense(bits) => into.or_with(bits),
            TokenSet::Sparse(docs) => docs.iter().for_each(|d| into.insert(*d)),
        }
    }

    /// `into ∩= self`
    pub fn and_into(&self, into: &mut DocBits) {
        match self {
            TokenSet::Dense(bits) => into.and_with(bits),
            TokenSet::Sparse(docs) => {
                let mut kept = DocBits::empty(into.len);
                for &d in docs {
                    if into.contains(d) {
                        kept.insert(d);
                    }
                }
                *into = kept;
            }
        }
    }

    /// Rough cost of `count_in`, in word operations.
    pub fn cost(&self) -> usize {
        match self {
            TokenSet::Dense(bits) => bits.words.len(),
            TokenSet::Sparse(docs) => docs.len(),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            TokenSet::Dense(bits) => bits.heap_bytes(),
            TokenSet::Sparse(docs) => docs.capacity() * 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_operations() {
        let mut a = DocBits::full(130);
        assert_eq!(a.count(), 130);
        a.remove(0);
        a.remove(129);
        a.remove(500);
        assert_eq!(a.count(), 128);
        let mut b = DocBits::empty(130);
        for d in [0, 1, 64, 129] {
            b.insert(d);
        }
        assert_eq!(a.count_and(&b), 2);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 1, 64, 129]);
        let mut c = a.clone();
        c.and_with(&b);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![1, 64]);
        c.or_with(&b);
        assert_eq!(c, b);
        a.and_not_with(&b);
        assert_eq!(a.count(), 126);
    }

    #[test]
    fn token_sets_dense_and_sparse_agree() {
        let docs: Vec<u32> = (0..1000).filter(|d| d % 7 == 0).collect();
        let dense = TokenSet::from_sorted(docs.clone(), 1000);
        let sparse = TokenSet::Sparse(docs);
        assert!(matches!(dense, TokenSet::Dense(_)));
        let mut set = DocBits::empty(1000);
        (0..1000).filter(|d| d % 3 == 0).for_each(|d| set.insert(d));
        assert_eq!(dense.count_in(&set), sparse.count_in(&set));
        let (mut x, mut y) = (set.clone(), set.clone());
        dense.and_into(&mut x);
        sparse.and_into(&mut y);
        assert_eq!(x, y);
        let (mut x, mut y) = (set.clone(), set);
        dense.or_into(&mut x);
        sparse.or_into(&mut y);
        assert_eq!(x, y);
    }
}
