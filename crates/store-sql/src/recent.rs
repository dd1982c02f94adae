//! What this process wrote last about a few thousand records, so the next
//! change to one of them can skip reading it back.
//!
//! On PostgreSQL a checkout's change is decided without a lock and written
//! guarded by the checkout's version (see `impl_orders_store!`). A checkout
//! this process has just placed or changed is kept here with its version,
//! so its next change (nearly always the payment, moments later) is decided
//! on the kept state and written at once: one round trip instead of two.
//! The guard keeps that safe. If anyone changed the checkout since (another
//! process, or this one by the locking path, which forgets the entry), the
//! version has moved, the write changes nothing, and the store reads the
//! checkout and decides again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// Entries kept; past this the oldest go first.
pub const RECENT_CAPACITY: usize = 4096;

/// Values by id, at most `RECENT_CAPACITY`, the oldest dropped first.
#[derive(Debug)]
pub struct Recent<K, V> {
    inner: Mutex<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    values: HashMap<K, V>,
    /// Ids in the order they were put; may name ids taken since.
    order: VecDeque<K>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { inner: Mutex::new(Inner { values: HashMap::new(), order: VecDeque::new() }) }
    }
}

impl<K: Eq + Hash + Copy, V> Recent<K, V> {
    /// Removes and returns the value kept for `id`.
    pub fn take(&self, id: K) -> Option<V> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).values.remove(&id)
    }

    /// Keeps `value` for `id` (replacing any), dropping the oldest entry when full.
    pub fn put(&self, id: K, value: V) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Inner { values, order } = &mut *inner;
        while values.len() >= RECENT_CAPACITY && !values.contains_key(&id) {
            let Some(oldest) = order.pop_front() else { break };
            values.remove(&oldest);
        }
        values.insert(id, value);
        order.push_back(id);
        if order.len() > 2 * RECENT_CAPACITY {
            // Ids taken or put again since: keep each live id once, oldest first.
            let mut seen = HashSet::new();
            let live: VecDeque<K> = order
                .iter()
                .rev()
                .filter(|id| values.contains_key(id) && seen.insert(**id))
                .copied()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            *order = live;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_hands_each_value_out_once() {
        let recent = Recent::default();
        let ids: Vec<usize> = (0..RECENT_CAPACITY + 2).map(|i| i * 7).collect();
        for (i, id) in ids.iter().enumerate() {
            recent.put(*id, i);
        }
        assert_eq!(recent.take(ids[0]), None, "the oldest went first");
        assert_eq!(recent.take(ids[1]), None);
        assert_eq!(recent.take(ids[2]), Some(2));
        assert_eq!(recent.take(ids[2]), None, "taken once");
        recent.put(ids[3], 30);
        assert_eq!(recent.take(ids[3]), Some(30), "replaced");
        // Many puts of one id never push the others out nor grow without bound.
        for n in 0..3 * RECENT_CAPACITY {
            recent.put(ids[4], n);
        }
        assert_eq!(recent.take(ids[5]), Some(5));
        assert!(recent.inner.lock().unwrap().order.len() <= 2 * RECENT_CAPACITY);
    }
}
