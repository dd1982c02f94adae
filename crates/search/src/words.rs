//! The word cache: for one index state, the documents each query word matches, with their scores.
//!
//! A text query is the intersection of its words' matches, scores added. Expanding a word is the
//! costly part of a text search — a Levenshtein automaton and a prefix range walked over three
//! term dictionaries, then nine posting lists merged and scored — while intersecting two cached
//! lists is a merge of sorted arrays. Words repeat across queries far more than whole queries do
//! ("hoodie", then "hoodie black", then "hoodie" with a size filter), so this cache pays off where
//! the result cache misses. It lives and dies with its index state, like the result cache, and is
//! bounded by the number of (document, score) pairs it holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::{DocId, Score};

/// Pairs held by the cache at most (8 bytes each: about 32 MB).
pub(crate) const BUDGET: usize = 4_000_000;

/// The documents a word (or a whole text) matches, per segment, ascending by document, with scores.
#[derive(Debug, Default)]
pub(crate) struct Matches {
    pub per_segment: HashMap<SegmentId, Vec<(DocId, Score)>>,
}

impl Matches {
    /// Number of (document, score) pairs.
    pub fn len(&self) -> usize {
        self.per_segment.values().map(Vec::len).sum()
    }

    /// The documents in both, with their scores added.
    pub fn intersect(&self, other: &Matches) -> Matches {
        let mut per_segment = HashMap::with_capacity(self.per_segment.len());
        for (segment, a) in &self.per_segment {
            let Some(b) = other.per_segment.get(segment) else { continue };
            let mut both = Vec::with_capacity(a.len().min(b.len()));
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                match a[i].0.cmp(&b[j].0) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        both.push((a[i].0, a[i].1 + b[j].1));
                        i += 1;
                        j += 1;
                    }
                }
            }
            per_segment.insert(*segment, both);
        }
        Matches { per_segment }
    }
}

/// (word, whether it is the query's last word — which also matches as a prefix)
type Key = (String, bool);

#[derive(Default)]
struct Generations {
    current: HashMap<Key, Arc<Matches>>,
    current_size: usize,
    previous: HashMap<Key, Arc<Matches>>,
}

/// Two generations, as in the result cache: when `current` holds half the budget it becomes
/// `previous`; a hit in `previous` is promoted.
#[derive(Default)]
pub(crate) struct WordCache {
    inner: Mutex<Generations>,
}

impl std::fmt::Debug for WordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordCache").finish_non_exhaustive()
    }
}

impl WordCache {
    /// The cached matches of `word`, or `compute`'s (then cached, unless bigger than half the budget).
    pub fn get_or_compute(
        &self,
        word: &str,
        last: bool,
        compute: impl FnOnce() -> anyhow::Result<Matches>,
    ) -> anyhow::Result<Arc<Matches>> {
        let key = (word.to_owned(), last);
        {
            let mut g = self.lock();
            if let Some(hit) = g.current.get(&key) {
                return Ok(Arc::clone(hit));
            }
            if let Some(hit) = g.previous.remove(&key) {
                Self::insert_locked(&mut g, key, Arc::clone(&hit));
                return Ok(hit);
            }
        }
        // Computed outside the lock: other searches go on meanwhile (two may compute one word).
        let matches = Arc::new(compute()?);
        if matches.len() <= BUDGET / 2 {
            Self::insert_locked(&mut self.lock(), key, Arc::clone(&matches));
        }
        Ok(matches)
    }

    fn insert_locked(g: &mut Generations, key: Key, value: Arc<Matches>) {
        let size = value.len();
        if g.current_size + size > BUDGET / 2 {
            g.previous = std::mem::take(&mut g.current);
            g.current_size = 0;
        }
        g.current_size += size;
        if let Some(old) = g.current.insert(key, value) {
            g.current_size -= old.len();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding this lock cannot leave the maps inconsistent in a harmful way.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn matches(segment: SegmentId, docs: &[(DocId, Score)]) -> Matches {
        Matches { per_segment: HashMap::from([(segment, docs.to_vec())]) }
    }

    #[test]
    fn intersection_keeps_common_documents_and_adds_scores() {
        let (s1, s2) = (SegmentId::generate_random(), SegmentId::generate_random());
        let mut a = matches(s1, &[(1, 1.0), (3, 2.0), (5, 0.5), (9, 1.0)]);
        a.per_segment.insert(s2, vec![(0, 1.0)]);
        let b = matches(s1, &[(0, 4.0), (3, 1.0), (9, 0.25), (10, 1.0)]);
        let both = a.intersect(&b);
        assert_eq!(both.per_segment[&s1], [(3, 3.0), (9, 1.25)]);
        assert!(!both.per_segment.contains_key(&s2), "a segment missing on one side matches nothing");
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn computes_once_and_stays_within_budget() {
        let cache = WordCache::default();
        let segment = SegmentId::generate_random();
        let mut computed = 0;
        for _ in 0..3 {
            cache
                .get_or_compute("hoodie", true, || {
                    computed += 1;
                    Ok(matches(segment, &[(1, 1.0)]))
                })
                .unwrap();
        }
        assert_eq!(computed, 1);
        // "hoodie" as a non-last word is another entry (no prefix matching).
        cache.get_or_compute("hoodie", false, || Ok(matches(segment, &[]))).unwrap();
        assert_eq!(cache.len(), 2);
        // Entries of a third of the budget each: at most two generations' worth stay.
        let big: Vec<(DocId, Score)> = (0..(BUDGET / 3) as DocId).map(|d| (d, 1.0)).collect();
        for word in ["a", "b", "c", "d", "e"] {
            cache.get_or_compute(word, false, || Ok(matches(segment, &big))).unwrap();
        }
        let g = cache.lock();
        let held: usize = g.current.values().chain(g.previous.values()).map(|m| m.len()).sum();
        assert!(held <= BUDGET, "{held}");
        // Too big to cache at all.
        drop(g);
        let huge: Vec<(DocId, Score)> = (0..(BUDGET / 2 + 1) as DocId).map(|d| (d, 1.0)).collect();
        let before = cache.len();
        cache.get_or_compute("huge", false, || Ok(matches(segment, &huge))).unwrap();
        assert_eq!(cache.len(), before);
    }
}
