use crate::OutboxStore;
use async_trait::async_trait;
use kernel::{Event, clock::SharedClock};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// Where the relay publishes. The in-process bus delivers directly; broker
/// adapters (RabbitMQ, Kafka) implement the same trait.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// What `/health/ready` says of the bus: `None` for one that is part of
    /// the process, else whether its broker answers now.
    async fn check(&self) -> Option<anyhow::Result<()>> {
        None
    }

    /// Whether a failed publish counts against the event (the in-process
    /// bus: a consumer failed on it; after 20 the relay stops retrying it).
    /// A broker's failure is the broker's, and is retried without end.
    fn counts_failures(&self) -> bool {
        true
    }

    /// Ok means every interested consumer has handled the event (in-process)
    /// or the broker has confirmed it (brokers).
    async fn publish(&self, event: &Event) -> anyhow::Result<()>;

    /// Publishes `events` in order and says how many, from the start, were
    /// delivered, with the error that stopped it if any. A bus that can hand
    /// a consumer several events at once (the in-process bus) overrides this.
    async fn publish_batch(&self, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        for (i, event) in events.iter().enumerate() {
            if let Err(e) = self.publish(event).await {
                return (i, Some(e));
            }
        }
        (events.len(), None)
    }
}

/// Who must see an event when several nodes share a shop through a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every node handles every event it wants: state kept in the node (its
    /// search index, its caches). A queue, or consumer group, per node.
    PerNode,
    /// One node handles each event: effects in the shared database or
    /// outside the shop (an email). A queue, or group, the nodes share.
    PerShop,
}

#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Stable name: the deduplication key and the broker's queue (or
    /// group) name, so renaming it replays history.
    fn name(&self) -> &str;
    fn wants(&self, topic: &str) -> bool;

    /// Per shop unless it keeps state in the node; see [`Reach`].
    fn reach(&self) -> Reach {
        Reach::PerShop
    }

    /// The topics it wants as RabbitMQ binding patterns (`*` one word, `#`
    /// any number), so that a broker routes it only those; `wants` still
    /// has the last word. Every topic unless narrowed.
    fn patterns(&self) -> Vec<&'static str> {
        vec!["#"]
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()>;

    /// True when handling an event twice has the same effect as once (a log
    /// line, re-reading current state into an index): the bus then keeps no
    /// per-event record for it, which saves two queries per event.
    fn naturally_idempotent(&self) -> bool {
        false
    }

    /// Handles several events, in order, as one unit of work (the search
    /// index commits once for a batch). Ok means all were handled; on Err the
    /// bus retries them one by one to find the event that fails, so an
    /// implementation must tolerate seeing events again (consumers are
    /// idempotent anyway: delivery is at least once).
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        for event in events {
            self.handle(event).await?;
        }
        Ok(())
    }
}

/// Delivers events to consumers registered in this process, deduplicating
/// by `(consumer, event id)` in the database.
pub struct InProcessBus {
    consumers: RwLock<Vec<Arc<dyn Consumer>>>,
    store: Arc<dyn OutboxStore>,
    clock: SharedClock,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus").finish_non_exhaustive()
    }
}

impl InProcessBus {
    pub fn new(store: Arc<dyn OutboxStore>, clock: SharedClock) -> Self {
        InProcessBus { consumers: RwLock::new(Vec::new()), store, clock }
    }

    pub fn subscribe(&self, consumer: Arc<dyn Consumer>) {
        if let Ok(mut consumers) = self.consumers.write() {
            consumers.push(consumer);
        }
    }

    fn interested(&self, topic: &str) -> Vec<Arc<dyn Consumer>> {
        self.consumers.read().map(|cs| cs.iter().filter(|c| c.wants(topic)).cloned().collect()).unwrap_or_default()
    }
}

/// What [`deliver`]'s error carries (as its context) when the consumers'
/// record, not the consumer, failed: nothing says the event is at fault,
/// so a broker consumer drops its connection to have it delivered again
/// rather than counting an attempt.
#[derive(Debug, Clone, Copy)]
pub struct RecordFailed;

impl std::fmt::Display for RecordFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the consumers' record of handled events could not be read or written")
    }
}

/// Delivers `events` to one consumer, as [`handle_once`] does one event:
/// those it wants and has not handled (by the record of `key`) go to it as
/// one batch; if the batch fails they are retried one by one. Returns how
/// many events, from the start, it has handled, with the error that
/// stopped it.
pub async fn deliver(
    consumer: &dyn Consumer,
    events: &[Event],
    store: &dyn OutboxStore,
    key: &str,
    at: OffsetDateTime,
) -> (usize, Option<anyhow::Error>) {
    let mut todo = Vec::new();
    for event in events {
        if !consumer.wants(&event.topic) {
            continue;
        }
        if consumer.naturally_idempotent() {
            todo.push(event);
            continue;
        }
        match store.is_processed(key, event.id).await {
            Ok(true) => tracing::debug!(consumer = key, event_id = %event.id, "duplicate delivery skipped"),
            Ok(false) => todo.push(event),
            Err(e) => return (0, Some(e.context(RecordFailed))),
        }
    }
    if todo.is_empty() {
        return (events.len(), None);
    }
    if todo.len() > 1 && consumer.handle_batch(&todo).await.is_ok() {
        for event in todo.iter().filter(|_| !consumer.naturally_idempotent()) {
            if let Err(e) = store.mark_processed(key, event.id, at).await {
                return (0, Some(e.context(RecordFailed)));
            }
        }
        return (events.len(), None);
    }
    // One at a time: the batch failed (or was a single event).
    for event in todo {
        let done = match consumer.handle(event).await {
            Ok(()) if consumer.naturally_idempotent() => Ok(()),
            Ok(()) => store.mark_processed(key, event.id, at).await.map_err(|e| e.context(RecordFailed)),
            Err(e) => Err(e.context(format!("consumer {} failed on {}", consumer.name(), event.topic))),
        };
        if let Err(e) = done {
            let position = events.iter().position(|e| e.id == event.id).unwrap_or(0);
            return (position, Some(e));
        }
    }
    (events.len(), None)
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish_batch(&self, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        let consumers: Vec<Arc<dyn Consumer>> = self.consumers.read().map(|cs| cs.clone()).unwrap_or_default();
        // Each consumer goes as far as it can; the batch is delivered up to
        // the slowest one, whose error is the one reported.
        let mut result = (events.len(), None);
        for consumer in &consumers {
            let (n, error) =
                deliver(consumer.as_ref(), events, self.store.as_ref(), consumer.name(), self.clock.now()).await;
            if n < result.0 {
                result = (n, error);
            }
        }
        result
    }

    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        for consumer in self.interested(&event.topic) {
            handle_once(consumer.as_ref(), event, self.store.as_ref(), consumer.name(), self.clock.now()).await?;
        }
        Ok(())
    }
}

/// Hands `event` to `consumer` unless the record of `key` (the consumer's
/// name, or its name on this node for a per-node one) says it was handled
/// before; records it after. A naturally idempotent consumer keeps no
/// record. Whether it was handled now (`false`: a repeat, skipped).
pub async fn handle_once(
    consumer: &dyn Consumer,
    event: &Event,
    store: &dyn OutboxStore,
    key: &str,
    at: OffsetDateTime,
) -> anyhow::Result<bool> {
    let failed = |e: anyhow::Error| e.context(format!("consumer {} failed on {}", consumer.name(), event.topic));
    if consumer.naturally_idempotent() {
        consumer.handle(event).await.map_err(failed)?;
        return Ok(true);
    }
    if store.is_processed(key, event.id).await? {
        tracing::debug!(consumer = key, event_id = %event.id, "duplicate delivery skipped");
        return Ok(false);
    }
    consumer.handle(event).await.map_err(failed)?;
    store.mark_processed(key, event.id, at).await?;
    Ok(true)
}
