use crate::OutboxStore;
use async_trait::async_trait;
use kernel::{Event, clock::SharedClock};
use std::sync::{Arc, RwLock};

/// Where the relay publishes. The in-process bus delivers directly; broker
/// adapters (RabbitMQ, NATS) implement the same trait.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
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

#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Stable name: the deduplication key, so renaming it replays history.
    fn name(&self) -> &str;
    fn wants(&self, topic: &str) -> bool;
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

impl InProcessBus {
    /// Delivers `events` to one consumer: those it wants and has not yet
    /// processed go to it as one batch; if the batch fails they are retried
    /// one by one. Returns how many events, from the start, it has handled.
    async fn deliver(&self, consumer: &Arc<dyn Consumer>, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        let mut todo = Vec::new();
        for event in events {
            if !consumer.wants(&event.topic) {
                continue;
            }
            if consumer.naturally_idempotent() {
                todo.push(event);
                continue;
            }
            match self.store.is_processed(consumer.name(), event.id).await {
                Ok(true) => {
                    tracing::debug!(consumer = consumer.name(), event_id = %event.id, "duplicate delivery skipped")
                }
                Ok(false) => todo.push(event),
                Err(e) => return (0, Some(e)),
            }
        }
        if todo.is_empty() {
            return (events.len(), None);
        }
        if todo.len() > 1 && consumer.handle_batch(&todo).await.is_ok() {
            for event in todo.iter().filter(|_| !consumer.naturally_idempotent()) {
                if let Err(e) = self.store.mark_processed(consumer.name(), event.id, self.clock.now()).await {
                    return (0, Some(e));
                }
            }
            return (events.len(), None);
        }
        // One at a time: the batch failed (or was a single event).
        for event in todo {
            let done = match consumer.handle(event).await {
                Ok(()) if consumer.naturally_idempotent() => Ok(()),
                Ok(()) => self.store.mark_processed(consumer.name(), event.id, self.clock.now()).await,
                Err(e) => Err(e.context(format!("consumer {} failed on {}", consumer.name(), event.topic))),
            };
            if let Err(e) = done {
                let position = events.iter().position(|e| e.id == event.id).unwrap_or(0);
                return (position, Some(e));
            }
        }
        (events.len(), None)
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish_batch(&self, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        let consumers: Vec<Arc<dyn Consumer>> = self.consumers.read().map(|cs| cs.clone()).unwrap_or_default();
        // Each consumer goes as far as it can; the batch is delivered up to
        // the slowest one, whose error is the one reported.
        let mut result = (events.len(), None);
        for consumer in &consumers {
            let (n, error) = self.deliver(consumer, events).await;
            if n < result.0 {
                result = (n, error);
            }
        }
        result
    }

    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        for consumer in self.interested(&event.topic) {
            if consumer.naturally_idempotent() {
                consumer
                    .handle(event)
                    .await
                    .map_err(|e| e.context(format!("consumer {} failed on {}", consumer.name(), event.topic)))?;
                continue;
            }
            if self.store.is_processed(consumer.name(), event.id).await? {
                tracing::debug!(consumer = consumer.name(), event_id = %event.id, "duplicate delivery skipped");
                continue;
            }
            consumer
                .handle(event)
                .await
                .map_err(|e| e.context(format!("consumer {} failed on {}", consumer.name(), event.topic)))?;
            self.store.mark_processed(consumer.name(), event.id, self.clock.now()).await?;
        }
        Ok(())
    }
}

/// Writes every event to the log (target `emporium::events`, at DEBUG): a
/// trail an operator can turn on (`EMPORIUM_LOG=info,emporium::events=debug`).
/// At INFO a first `serve --demo` would print thousands of lines.
#[derive(Debug, Default)]
pub struct LogConsumer;

#[async_trait]
impl Consumer for LogConsumer {
    fn name(&self) -> &str {
        "event-log"
    }
    fn wants(&self, _topic: &str) -> bool {
        true
    }
    /// A repeated log line is harmless.
    fn naturally_idempotent(&self) -> bool {
        true
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        tracing::debug!(target: "emporium::events", event_id = %event.id, topic = event.topic, aggregate_id = %event.aggregate_id, "event");
        Ok(())
    }
}
