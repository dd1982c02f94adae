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

use std::collections::{HashMap, VecDeque};
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
    /// Each value with the number of the `put` that stored it.
    values: HashMap<K, (u64, V)>,
    /// Every `put` still possibly current, oldest first: an entry whose
    /// number is no longer its id's is stale and skipped.
    order: VecDeque<(K, u64)>,
    puts: u64,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { inner: Mutex::new(Inner { values: HashMap::new(), order: VecDeque::new(), puts: 0 }) }
    }
}

impl<K: Eq + Hash + Clone, V> Recent<K, V> {
    /// Removes and returns the value kept for `id`.
    pub fn take(&self, id: &K) -> Option<V> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).values.remove(id).map(|(_, v)| v)
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.values.clear();
        inner.order.clear();
    }

    /// Keeps `value` for `id` (replacing any), dropping the oldest entry when full.
    pub fn put(&self, id: K, value: V) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Inner { values, order, puts } = &mut *inner;
        *puts += 1;
        let current = |values: &HashMap<K, (u64, V)>, (k, n): &(K, u64)| values.get(k).is_some_and(|(m, _)| m == n);
        while values.len() >= RECENT_CAPACITY && !values.contains_key(&id) {
            let Some(oldest) = order.pop_front() else { break };
            if current(values, &oldest) {
                values.remove(&oldest.0);
            }
        }
        values.insert(id.clone(), (*puts, value));
        order.push_back((id, *puts));
        if order.len() > 2 * RECENT_CAPACITY {
            order.retain(|entry| current(values, entry));
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
        assert_eq!(recent.take(&ids[0]), None, "the oldest went first");
        assert_eq!(recent.take(&ids[1]), None);
        assert_eq!(recent.take(&ids[2]), Some(2));
        assert_eq!(recent.take(&ids[2]), None, "taken once");
        recent.put(ids[3], 30);
        assert_eq!(recent.take(&ids[3]), Some(30), "replaced");
        // Many puts of one id never push the others out nor grow without bound.
        for n in 0..3 * RECENT_CAPACITY {
            recent.put(ids[4], n);
        }
        assert_eq!(recent.take(&ids[5]), Some(5));
        assert!(recent.inner.lock().unwrap().order.len() <= 2 * RECENT_CAPACITY + 1);
    }

    #[test]
    fn an_entry_put_again_counts_as_new() {
        let recent = Recent::default();
        for id in 0..RECENT_CAPACITY {
            recent.put(id, id);
        }
        // The oldest is put again: when room is needed, the next oldest goes, not it.
        recent.put(0, 100);
        recent.put(RECENT_CAPACITY, 0);
        assert_eq!(recent.take(&0), Some(100));
        assert_eq!(recent.take(&1), None);
        assert_eq!(recent.take(&2), Some(2));
        recent.clear();
        assert_eq!(recent.take(&3), None, "cleared");
    }
}
