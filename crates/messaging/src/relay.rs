use crate::{Bus, OutboxStore};
use kernel::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BATCH: u32 = 100;
/// How long a woken relay waits for more commits before draining.
const COALESCE: Duration = Duration::from_millis(5);

/// Drains the outbox into a bus. Wakes on [`Relay::notify`] (called after a
/// commit that wrote events) and otherwise polls, so events written by
/// another process are picked up too.
pub struct Relay {
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    wake: Arc<Notify>,
    poll: Duration,
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
        Relay { store, bus, clock, wake: Arc::new(Notify::new()), poll: Duration::from_millis(500) }
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
                Ok(n) if n == BATCH as usize => continue,
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
    /// published.
    pub async fn drain_once(&self) -> anyhow::Result<usize> {
        let events = self.store.pending_events(BATCH).await?;
        let (delivered, error) = self.bus.publish_batch(&events).await;
        let published: Vec<_> = events.iter().take(delivered).map(|e| e.id).collect();
        if let (Some(e), Some(event)) = (error, events.get(delivered)) {
            let message = format!("{e:#}");
            tracing::warn!(event_id = %event.id, topic = event.topic, error = message, "event delivery failed; will retry");
            self.store.record_failure(event.id, &message).await?;
        }
        if !published.is_empty() {
            self.store.mark_published(&published, self.clock.now()).await?;
        }
        Ok(published.len())
    }
}
