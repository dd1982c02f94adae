//! A short-lived in-process cache of accounts for request authentication.
//!
//! Every authenticated request needs the live account (to honour a
//! suspension or a role change at once), which would otherwise be a database
//! read per request. Writes made through this process invalidate the entry
//! immediately; a node that follows `user.updated` / `user.deleted` through
//! a broker forgets the account when the event arrives (the emporium
//! crate's `AccountFollower`), and any other change made by another node
//! is seen after at most the TTL (`EMPORIUM_ACCOUNT_CACHE_TTL_MS`, 0 turns
//! the cache off).

use crate::User;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct AccountCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, (User, Instant)>>,
    /// Bumped by every invalidation. A reader that started before an
    /// invalidation must not put what it read back into the cache: it may be
    /// the value the invalidation was about.
    epoch: AtomicU64,
}

impl AccountCache {
    pub fn new(ttl: Duration) -> Self {
        AccountCache { ttl, entries: Mutex::new(HashMap::new()), epoch: AtomicU64::new(0) }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, id: Uuid, now: Instant) -> Option<User> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries.get(&id).filter(|(_, at)| now.duration_since(*at) < self.ttl).map(|(user, _)| user.clone())
    }

    /// Caches `user` as read at `epoch`, unless something was invalidated
    /// since.
    pub fn put(&self, user: User, epoch: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if self.epoch() != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(user.id, (user, now));
    }

    pub fn invalidate(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            entries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, Role};

    fn user() -> User {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        User {
            id: kernel::new_id(),
            email: Email::parse("a@example.com").expect("valid"),
            full_name: "A".into(),
            role: Role::Customer,
            suspended: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn expires_and_invalidates() {
        let cache = AccountCache::new(Duration::from_secs(2));
        let u = user();
        let t0 = Instant::now();
        cache.put(u.clone(), cache.epoch(), t0);
        assert_eq!(cache.get(u.id, t0 + Duration::from_secs(1)), Some(u.clone()));
        assert_eq!(cache.get(u.id, t0 + Duration::from_secs(3)), None, "expired");
        cache.invalidate(u.id);
        assert_eq!(cache.get(u.id, t0), None, "invalidated");
    }

    #[test]
    fn a_read_from_before_an_invalidation_is_not_cached() {
        let cache = AccountCache::new(Duration::from_secs(2));
        let u = user();
        let t0 = Instant::now();
        let epoch = cache.epoch();
        cache.invalidate(u.id); // a write lands while the read is in flight
        cache.put(u.clone(), epoch, t0);
        assert_eq!(cache.get(u.id, t0), None);
    }

    #[test]
    fn zero_ttl_disables() {
        let cache = AccountCache::new(Duration::ZERO);
        let u = user();
        cache.put(u.clone(), cache.epoch(), Instant::now());
        assert_eq!(cache.get(u.id, Instant::now()), None);
    }
}
