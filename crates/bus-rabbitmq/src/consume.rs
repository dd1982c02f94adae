//! Consuming: a channel per consumer group on one connection the node's
//! consumers share, manual acks after handling, failures to the retry
//! queue and then to the dead letters.
//!
//! One connection rather than one per group: lapin drives each connection
//! from a thread of its own, which wakes for every frame, and an event that
//! three groups want arrives as three deliveries. On one connection they
//! come in one read and their acks leave in one write.

use crate::{ATTEMPTS, ERROR, Queues, RabbitBus, close, declare, declare_exchange, text};
use futures_lite::StreamExt as _;
use kernel::clock::SharedClock;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection};
use messaging::{Consumer, OutboxStore, Reach};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How many times a message's handling has failed, by its header.
pub(crate) fn attempts_of(properties: &BasicProperties) -> i64 {
    let value = properties.headers().as_ref().and_then(|h| h.inner().get(ATTEMPTS).cloned());
    match value {
        Some(AMQPValue::LongLongInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => i64::from(n),
        Some(AMQPValue::LongUInt(n)) => i64::from(n),
        Some(AMQPValue::ShortInt(n)) => i64::from(n),
        Some(AMQPValue::ShortUInt(n)) => i64::from(n),
        _ => 0,
    }
}

/// `properties` with the attempts header set to `attempts` (dropped at 0)
/// and, given one, the error.
pub(crate) fn with_attempts(properties: &BasicProperties, attempts: i64, error: Option<&str>) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let mut fresh = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != ATTEMPTS && k.as_str() != ERROR && k.as_str() != "x-death" {
            fresh.insert(k.clone(), v.clone());
        }
    }
    if attempts > 0 {
        fresh.insert(ATTEMPTS.into(), AMQPValue::LongLongInt(attempts));
    }
    if let Some(error) = error {
        fresh.insert(ERROR.into(), text(error));
    }
    headers = fresh;
    properties.clone().with_headers(headers)
}

/// Where a consumer's handled events are recorded, under which key.
struct Records<'a> {
    store: &'a dyn OutboxStore,
    clock: &'a SharedClock,
    key: &'a str,
}

impl RabbitBus {
    /// Runs each consumer on its group's queue until `stop`: per-shop ones
    /// on the queue every node shares, per-node ones on this node's own.
    /// A lost connection is made again with back-off (250 ms doubling to
    /// 10 s); what was not acked is delivered again. One task, which ends
    /// once every consumer has stopped and the connection is closed (within
    /// 2 s); a consumer's panic is raised again from it then, for whoever
    /// joins it to report.
    pub fn spawn_consumers(
        self: &Arc<Self>,
        consumers: Vec<Arc<dyn Consumer>>,
        store: Arc<dyn OutboxStore>,
        clock: SharedClock,
        stop: CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        for consumer in &consumers {
            self.register(consumer.as_ref());
        }
        let tasks: Vec<_> = consumers
            .into_iter()
            .map(|consumer| {
                let (bus, store, clock, stop) = (self.clone(), store.clone(), clock.clone(), stop.clone());
                tokio::spawn(async move { bus.run_consumer(consumer, store, clock, stop).await })
            })
            .collect();
        let bus = self.clone();
        vec![tokio::spawn(async move {
            let mut panicked = None;
            for task in tasks {
                match task.await {
                    Err(e) if e.is_panic() => panicked = panicked.or(Some(e.into_panic())),
                    Err(e) => tracing::error!(error = %e, "RabbitMQ consumer task failed"),
                    Ok(()) => {}
                }
            }
            if let Some(connection) = bus.consuming.lock().await.take() {
                close(connection.close(200, "shutting down".into())).await;
            }
            if let Some(panic) = panicked {
                std::panic::resume_unwind(panic);
            }
        })]
    }

    /// The consumers' connection, made again if it was lost (the first
    /// consumer to find it gone makes it; the others then share the new one).
    async fn consuming(&self) -> anyhow::Result<Arc<Connection>> {
        let mut link = self.consuming.lock().await;
        if let Some(connection) = link.as_ref().filter(|c| c.status().connected()) {
            return Ok(connection.clone());
        }
        if let Some(lost) = link.take() {
            close(lost.close(200, "reconnecting".into())).await;
        }
        let connection = Arc::new(self.connect().await?);
        *link = Some(connection.clone());
        Ok(connection)
    }

    async fn run_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
        store: Arc<dyn OutboxStore>,
        clock: SharedClock,
        stop: CancellationToken,
    ) {
        let queues = self.queues_of(consumer.as_ref());
        let link = || self.consume(consumer.as_ref(), &queues, store.as_ref(), &clock, &stop);
        messaging::reconnect(&stop, link, |e, wait| {
            tracing::warn!(
                queue = queues.main,
                error = format!("{e:#}"),
                retry_in_ms = wait.as_millis(),
                "RabbitMQ consumer lost; reconnecting"
            );
        })
        .await;
    }

    /// One channel's life: declare, consume, hand over batches of what has
    /// arrived, until `stop` (Ok) or the channel fails (Err). The channel
    /// is closed either way, which gives back to the queue what it had not
    /// acked.
    async fn consume(
        &self,
        consumer: &dyn Consumer,
        queues: &Queues,
        store: &dyn OutboxStore,
        clock: &SharedClock,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let connection = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            connection = self.consuming() => connection?,
        };
        let channel = &connection.create_channel().await?;
        let result: anyhow::Result<()> = async {
            channel.basic_qos(self.settings.prefetch, BasicQosOptions::default()).await?;
            declare_exchange(channel, &self.settings).await?;
            declare(channel, queues, &self.settings).await?;
            let tag = format!("{}@{}", consumer.name(), self.settings.node);
            let mut deliveries = channel
                .basic_consume(
                    queues.main.as_str().into(),
                    tag.as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            tracing::info!(queue = queues.main, "consuming from RabbitMQ");
            // A per-node consumer that keeps records keeps them per node.
            let key = match consumer.reach() {
                Reach::PerNode => tag,
                Reach::PerShop => consumer.name().to_owned(),
            };
            loop {
                let first = tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    next = deliveries.next() => next,
                };
                let mut batch = match first {
                    Some(delivery) => vec![delivery?],
                    None => anyhow::bail!("RabbitMQ cancelled the consumer of {}", queues.main),
                };
                // Whatever else has already arrived joins the batch (one index
                // commit for many events), up to the prefetch.
                while batch.len() < usize::from(self.settings.prefetch) {
                    match futures_lite::future::poll_once(deliveries.next()).await {
                        Some(Some(delivery)) => batch.push(delivery?),
                        Some(None) => anyhow::bail!("RabbitMQ cancelled the consumer of {}", queues.main),
                        None => break,
                    }
                }
                let records = Records { store, clock, key: &key };
                self.handle(consumer, queues, &records, stop, batch).await?;
            }
        }
        .await;
        if channel.status().connected() {
            close(channel.close(200, "consumer stopped".into())).await;
        }
        // A stop that cut a batch short (a copy not yet confirmed) is a stop.
        if stop.is_cancelled() {
            if let Err(e) = &result {
                tracing::debug!(queue = queues.main, error = format!("{e:#}"), "RabbitMQ consumer stopped mid-batch");
            }
            return Ok(());
        }
        result
    }

    /// Hands a batch to the consumer in order, acking what it handled; an
    /// event it fails goes to the retry queue (or, at the last attempt, to
    /// the dead letters) and the rest of the batch goes on without it.
    async fn handle(
        &self,
        consumer: &dyn Consumer,
        queues: &Queues,
        records: &Records<'_>,
        stop: &CancellationToken,
        batch: Vec<Delivery>,
    ) -> anyhow::Result<()> {
        let (mut deliveries, mut events) = (Vec::with_capacity(batch.len()), Vec::with_capacity(batch.len()));
        for delivery in batch {
            match messaging::envelope::decode(&delivery.data) {
                Ok(event) => {
                    deliveries.push(delivery);
                    events.push(event);
                }
                Err(e) => {
                    // Nothing can read it: no retry will help.
                    tracing::warn!(queue = queues.main, error = format!("{e:#}"), "unreadable message dead-lettered");
                    let properties = with_attempts(&delivery.properties, 1, Some(&format!("{e:#}")));
                    self.republish(&queues.dead, &delivery.data, properties, stop).await?;
                    delivery.ack(BasicAckOptions::default()).await?;
                }
            }
        }
        let mut from = 0;
        while from < events.len() {
            let (handled, error) =
                messaging::deliver(consumer, &events[from..], records.store, records.key, records.clock.now()).await;
            let upto = (from + handled).min(events.len());
            if upto > from {
                deliveries[upto - 1].ack(BasicAckOptions { multiple: true }).await?;
            }
            let (Some(error), Some(delivery), Some(event)) = (error, deliveries.get(upto), events.get(upto)) else {
                break;
            };
            if error.downcast_ref::<messaging::RecordFailed>().is_some() {
                // The database, not the event: drop the channel, and
                // what was not acked comes again once it is back.
                return Err(error);
            }
            let attempts = attempts_of(&delivery.properties) + 1;
            let message = format!("{error:#}");
            let properties = with_attempts(&delivery.properties, attempts, Some(&message));
            if attempts >= i64::from(self.settings.max_attempts) {
                tracing::warn!(queue = queues.main, event_id = %event.id, topic = event.topic, attempts, error = message,
                    "event dead-lettered after its last attempt");
                self.republish(&queues.dead, &delivery.data, properties, stop).await?;
            } else {
                tracing::warn!(queue = queues.main, event_id = %event.id, topic = event.topic, attempts, error = message,
                    retry_in_ms = self.settings.retry_delay.as_millis(), "event handling failed; will retry");
                self.republish(&queues.retry, &delivery.data, properties, stop).await?;
            }
            delivery.ack(BasicAckOptions::default()).await?;
            from = upto + 1;
        }
        Ok(())
    }
}
