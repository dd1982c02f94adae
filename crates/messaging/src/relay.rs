use crate::{Bus, OutboxStore};
use kernel::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BATCH: u32 = 100;
/// Rows a drain takes while it works through a backlog.
const BACKLOG_BATCH: u32 = 500;
/// How long the relay's lease lasts; it is renewed when half has gone, so
/// another node takes over within this long of the holder's death.
const LEASE: Duration = Duration::from_secs(10);
const LEASE_NAME: &str = "outbox-relay";
/// How long a woken relay waits for more commits before draining.
const COALESCE: Duration = Duration::from_millis(5);
/// A drain looks only at events created in this window before now...
const WINDOW: Duration = Duration::from_secs(2);
/// ...except one pass in this long, which looks at every pending event.
const FULL_SCAN_EVERY: Duration = Duration::from_secs(5);

/// Drains the outbox into a bus. Wakes on [`Relay::notify`] (called after a
/// commit that wrote events) and otherwise polls, so events written by
/// another process are picked up too.
///
/// Published rows leave the pending index only when the database vacuums
/// it, so a scan from the oldest id walks every recently published entry
/// first (2.5 ms a scan under checkout load on PostgreSQL). Event ids are
/// UUIDv7, made when the event is, and the transaction that writes an event
/// commits moments later; so most drains scan from `WINDOW` before now.
/// An event committed later than that (a transaction stuck behind a lock),
/// or written by a node whose clock is behind, is found by the full scan
/// every `FULL_SCAN_EVERY`, and after a failed delivery the scans stay full
/// until a drain delivers everything it found, so a stuck event still holds
/// back the ones after it.
///
/// A backlog (the bus was down, the process was) drains at the bus's
/// speed, oldest first: a full scan that comes back full is followed at
/// once by scans that go on from the last row published, `BACKLOG_BATCH`
/// at a time, until one comes back short; newer events wait their turn.
///
/// Several nodes may run a relay on one database: each drain first holds
/// the lease `outbox-relay` (a row in `leases`, `LEASE` long, renewed at
/// half-time), so one relay publishes at a time and a row is not sent
/// twice by two nodes; when the holder dies another takes over within
/// `LEASE`.
pub struct Relay {
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    wake: Arc<Notify>,
    poll: Duration,
    scan: std::sync::Mutex<Scan>,
    full_scan_every: Duration,
    /// Who this relay is in the lease.
    holder: String,
    lease: std::sync::Mutex<Lease>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Lease {
    /// Until when this relay holds it.
    held_until: Option<std::time::Instant>,
    /// Another holds it: not asked again before this.
    ask_after: Option<std::time::Instant>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    /// When the last full scan ran (`None`: never).
    last_full: Option<std::time::Instant>,
    /// The last drain stopped at a failed delivery.
    failed: bool,
    /// Working through a backlog: the next scan starts here.
    cursor: Option<uuid::Uuid>,
}

/// Stops the relay: the batch in flight finishes, then the task exits.
#[derive(Debug)]
pub struct RelayHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl RelayHandle {
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox relay task failed");
        }
    }
}

impl Relay {
    pub fn new(store: Arc<dyn OutboxStore>, bus: Arc<dyn Bus>, clock: SharedClock) -> Self {
        Relay {
            store,
            bus,
            clock,
            wake: Arc::new(Notify::new()),
            poll: Duration::from_millis(500),
            scan: std::sync::Mutex::new(Scan::default()),
            full_scan_every: FULL_SCAN_EVERY,
            holder: kernel::new_id().to_string(),
            lease: std::sync::Mutex::new(Lease::default()),
        }
    }

    /// Names this relay in the lease (default: a fresh id), e.g. the node's name.
    pub fn with_holder(mut self, holder: &str) -> Self {
        self.holder = format!("{holder}/{}", kernel::new_id());
        self
    }

    /// How often a drain scans every pending event rather than the last
    /// `WINDOW`'s (default 5 s).
    pub fn with_full_scan_every(mut self, every: Duration) -> Self {
        self.full_scan_every = every;
        self
    }

    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Wakes on `waker` instead of a waker of its own (shared with the
    /// stores created before the relay).
    pub fn with_waker(mut self, waker: Arc<Notify>) -> Self {
        self.wake = waker;
        self
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn spawn(self) -> RelayHandle {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let task = tokio::spawn(async move { self.run(token).await });
        RelayHandle { cancel, task }
    }

    async fn run(self, cancel: CancellationToken) {
        tracing::debug!("outbox relay started");
        loop {
            match self.drain_once().await {
                // A full batch means there may be more: go again at once.
                Ok(n) if n >= BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "outbox relay pass failed"),
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {
                    // Let the commits of a burst gather: one drain (two
                    // queries) then publishes them all, instead of one each.
                    tokio::time::sleep(COALESCE).await;
                }
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
        tracing::debug!("outbox relay stopped");
    }

    /// Publishes one batch in order; stops at the first failure so that
    /// events about one aggregate are not reordered. Returns how many were
    /// published (0 while another node's relay holds the lease).
    pub async fn drain_once(&self) -> anyhow::Result<usize> {
        if !self.hold_lease().await? {
            return Ok(0);
        }
        let (from, limit) = self.scan_from();
        let events = self.store.pending_events_from(from, limit).await?;
        let (delivered, error) = self.bus.publish_batch(&events).await;
        // A scan from the start or from a cursor that came back full has
        // more behind it: the next goes on from its last row (set once
        // the batch is marked, so a failed mark never skips rows).
        let full = events.len() == limit as usize && error.is_none();
        let failed = error.is_some();
        let published: Vec<_> = events.iter().take(delivered).map(|e| e.id).collect();
        if let (Some(e), Some(event)) = (error, events.get(delivered)) {
            let message = format!("{e:#}");
            tracing::warn!(event_id = %event.id, topic = event.topic, error = message, "event delivery failed; will retry");
            if self.bus.counts_failures() {
                self.store.record_failure(event.id, &message).await?;
            }
        }
        if !published.is_empty() {
            self.store.mark_published(&published, self.clock.now()).await?;
            // The event log: one line per event, where it was published
            // (rather than a consumer, which on a broker would carry every
            // event once more).
            if tracing::enabled!(target: "emporium::events", tracing::Level::DEBUG) {
                for e in &events[..delivered] {
                    tracing::debug!(target: "emporium::events", event_id = %e.id, topic = e.topic,
                        aggregate_id = %e.aggregate_id, "event published");
                }
            }
        }
        if let Ok(mut scan) = self.scan.lock() {
            let from_start = from.is_nil() || scan.cursor.is_some();
            scan.failed = failed;
            scan.cursor = (full && from_start).then(|| events.last().map(|e| e.id)).flatten();
        }
        Ok(published.len())
    }

    /// Whether this relay holds the lease now, taking or renewing it in the
    /// database when less than half of it is left. A relay refused it asks
    /// again a quarter of a lease later (the holder publishes meanwhile).
    async fn hold_lease(&self) -> anyhow::Result<bool> {
        let now = std::time::Instant::now();
        let lease = self.lease.lock().map(|l| *l).unwrap_or_default();
        if lease.held_until.is_some_and(|until| until > now + LEASE / 2) {
            return Ok(true);
        }
        if lease.ask_after.is_some_and(|at| at > now) {
            return Ok(false);
        }
        // Wall-clock time, shared by the nodes (not the injected clock).
        let wall = time::OffsetDateTime::now_utc();
        let mine = self.store.hold_lease(LEASE_NAME, &self.holder, wall, wall + LEASE).await?;
        if let Ok(mut l) = self.lease.lock() {
            *l = match mine {
                true => Lease { held_until: Some(now + LEASE), ask_after: None },
                false => Lease { held_until: None, ask_after: Some(now + LEASE / 4) },
            };
        }
        if mine && lease.held_until.is_none() {
            tracing::debug!(holder = self.holder, "this node's outbox relay holds the lease");
        }
        Ok(mine)
    }

    /// Where this drain's scan starts and how many rows it takes (see the
    /// type's docs): the backlog's cursor, the nil id for a full scan, else
    /// the smallest UUIDv7 of `WINDOW` ago.
    fn scan_from(&self) -> (uuid::Uuid, u32) {
        let Ok(mut scan) = self.scan.lock() else { return (uuid::Uuid::nil(), BATCH) };
        if let Some(cursor) = scan.cursor {
            return (cursor, BACKLOG_BATCH);
        }
        let now = std::time::Instant::now();
        if scan.failed || scan.last_full.is_none_or(|at| now.duration_since(at) >= self.full_scan_every) {
            scan.last_full = Some(now);
            return (uuid::Uuid::nil(), BATCH);
        }
        // Real time, as the ids are made from it (not the injected clock).
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(WINDOW);
        (v7_floor(since_epoch.as_millis()), BATCH)
    }
}

/// The smallest version-7 UUID of the millisecond `unix_ms`.
fn v7_floor(unix_ms: u128) -> uuid::Uuid {
    let ms = unix_ms & 0xFFFF_FFFF_FFFF;
    uuid::Uuid::from_u128((ms << 80) | (0x7 << 76) | (0b10 << 62))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_v7_floor_sorts_before_every_id_of_its_millisecond_and_after_earlier_ones() {
        let id = kernel::new_id();
        let ms = u128::from(id.get_timestamp().unwrap().to_unix().0) * 1000
            + u128::from(id.get_timestamp().unwrap().to_unix().1 / 1_000_000);
        let floor = v7_floor(ms);
        assert_eq!(floor.get_version_num(), 7);
        assert!(floor <= id, "{floor} > {id}");
        assert!(v7_floor(ms + 1) > id);
        assert!(v7_floor(ms - 1) < floor);
    }
}
