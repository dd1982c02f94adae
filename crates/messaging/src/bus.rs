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
}

#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Stable name: the deduplication key, so renaming it replays history.
    fn name(&self) -> &str;
    fn wants(&self, topic: &str) -> bool;
    async fn handle(&self, event: &Event) -> anyhow::Result<()>;
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

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        for consumer in self.interested(&event.topic) {
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

/// Writes every event to the log (target `emporium::events`): a trail an
/// operator can follow before real consumers exist.
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
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        tracing::info!(target: "emporium::events", event_id = %event.id, topic = event.topic, aggregate_id = %event.aggregate_id, "event");
        Ok(())
    }
}
