//! A small bounded result cache (normalised query → results).
//!
//! Two generations: lookups hit `current` or `previous` (a hit in `previous` is promoted); inserts
//! go to `current`, and when `current` holds half the capacity it becomes `previous` and the old
//! `previous` is dropped. That approximates LRU with two hash maps and no per-entry bookkeeping.
//! Each index state owns its own cache, so a commit invalidates everything by construction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::query::NormQuery;
use crate::types::SearchResults;

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<NormQuery, Arc<SearchResults>>,
    previous: HashMap<NormQuery, Arc<SearchResults>>,
}

#[derive(Debug, Default)]
pub(crate) struct ResultCache {
    inner: Mutex<Generations>,
}

impl ResultCache {
    pub fn get(&self, key: &NormQuery, capacity: usize) -> Option<Arc<SearchResults>> {
        if capacity == 0 {
            return None;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = g.current.get(key) {
            return Some(Arc::clone(hit));
        }
        let hit = g.previous.remove(key)?;
        Self::insert_locked(&mut g, key.clone(), Arc::clone(&hit), capacity);
        Some(hit)
    }

    pub fn insert(&self, key: NormQuery, value: Arc<SearchResults>, capacity: usize) {
        if capacity == 0 {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::insert_locked(&mut g, key, value, capacity);
    }

    fn insert_locked(g: &mut Generations, key: NormQuery, value: Arc<SearchResults>, capacity: usize) {
        let half = capacity.div_ceil(2);
        if g.current.len() >= half {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(key, value);
    }

    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.current.clear();
        g.previous.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.current.len() + g.previous.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::types::SearchQuery;

    fn key(offset: usize) -> NormQuery {
        NormQuery::new(&SearchQuery { offset, ..Default::default() }).unwrap()
    }

    fn value() -> Arc<SearchResults> {
        Arc::new(SearchResults { total: 0, hits: vec![], facets: None })
    }

    #[test]
    fn bounded_and_recent_entries_survive() {
        let cache = ResultCache::default();
        for i in 0..100 {
            cache.insert(key(i), value(), 10);
            // Keep key 0 hot.
            assert!(cache.get(&key(0), 10).is_some());
        }
        assert!(cache.len() <= 10);
        assert!(cache.get(&key(0), 10).is_some());
        assert!(cache.get(&key(1), 10).is_none());
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = ResultCache::default();
        cache.insert(key(1), value(), 0);
        assert!(cache.get(&key(1), 0).is_none());
        assert_eq!(cache.len(), 0);
    }
}
