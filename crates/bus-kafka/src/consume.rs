//! Consuming: one Kafka consumer per group, offsets committed only after
//! handling, a failing event retried in place and then dead-lettered.

use crate::{ATTEMPTS, ERROR, Group, KafkaBus, client_config};
use kernel::Event;
use kernel::clock::SharedClock;
use messaging::{Backoff, Consumer, OutboxStore, Reach};
use rdkafka::Message as _;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

impl KafkaBus {
    /// Longer than every retry of one event (attempts × delay) with a
    /// minute to spare, and at least Kafka's default five minutes.
    fn max_poll_interval_ms(&self) -> u64 {
        let retries = self.settings.retry_delay.as_millis().saturating_mul(u128::from(self.settings.max_attempts));
        u64::try_from(retries + 60_000).unwrap_or(u64::MAX).clamp(300_000, i32::MAX as u64)
    }

    /// Runs each consumer in its group until `stop`: per-shop ones in the
    /// group every node shares, per-node ones in this node's own. A
    /// consumer that fails (the broker went away, the database did) is
    /// made again with back-off; what was not committed is read again.
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
        consumers
            .into_iter()
            .map(|consumer| {
                let (bus, store, clock, stop) = (self.clone(), store.clone(), clock.clone(), stop.clone());
                tokio::spawn(async move { bus.run_consumer(consumer, store, clock, stop).await })
            })
            .collect()
    }

    async fn run_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
        store: Arc<dyn OutboxStore>,
        clock: SharedClock,
        stop: CancellationToken,
    ) {
        let group = self.group_of(consumer.as_ref());
        let link = || self.consume(consumer.as_ref(), &group, store.as_ref(), &clock, &stop);
        messaging::reconnect(&stop, link, |e, wait| {
            tracing::warn!(
                group = group.id,
                error = format!("{e:#}"),
                retry_in_ms = wait.as_millis(),
                "Kafka consumer lost; starting it again"
            );
        })
        .await;
    }

    /// One consumer's life: create the topics, join the group, hand over
    /// batches of what has arrived, until `stop` (Ok) or a failure to set
    /// up (Err). The broker going away is not a failure: librdkafka
    /// reconnects and the group goes on; what a batch could not finish
    /// (the database is down, the dead letters cannot be written) is read
    /// again from where it stopped.
    async fn consume(
        &self,
        consumer: &dyn Consumer,
        group: &Group,
        store: &dyn OutboxStore,
        clock: &SharedClock,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        self.ensure_topics().await?;
        let kafka: StreamConsumer = client_config(&self.settings)
            .set("group.id", &group.id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // How long the broker may hold a fetch that finds nothing.
            // Kafka answers as soon as a record arrives; tansu 0.6 answers
            // when the wait ends, so this is also the latency an event has
            // there (at 100 ms, 0.17 s from commit to handled at the
            // median, against 10 ms in-process). At 20 ms the
            // consumers' fetches alone kept an idle tansu at 60-98 % of a
            // core, and the shop's checkouts ran a median of 14 % slower
            // than in-process rather than 10 % (BENCHMARKS.md, "Kafka
            // records without headers"). librdkafka's default is 500 ms.
            .set("fetch.wait.max.ms", "100")
            // A failing event is retried in place, between polls: the group
            // must not take the partition away meanwhile.
            .set("max.poll.interval.ms", self.max_poll_interval_ms().to_string())
            .create()?;
        let topics: Vec<&str> = group.topics.iter().map(String::as_str).collect();
        kafka.subscribe(&topics)?;
        tracing::info!(group = group.id, topics = ?group.topics, "consuming from Kafka");
        // A per-node consumer that keeps records keeps them per node.
        let key = match consumer.reach() {
            Reach::PerNode => format!("{}@{}", consumer.name(), self.settings.node),
            Reach::PerShop => consumer.name().to_owned(),
        };
        let mut backoff = Backoff::new();
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                next = kafka.recv() => next,
            };
            let mut batch = match first {
                Ok(message) => vec![message.detach()],
                Err(e) => {
                    tracing::debug!(group = group.id, error = %e, "Kafka consumer: broker unavailable; waiting");
                    tokio::time::sleep(Backoff::FIRST).await;
                    continue;
                }
            };
            // Whatever else has already arrived joins the batch.
            while batch.len() < self.settings.batch {
                match tokio::time::timeout(Duration::from_millis(1), kafka.recv()).await {
                    Ok(Ok(next)) => batch.push(next.detach()),
                    Ok(Err(_)) | Err(_) => break,
                }
            }
            match self.handle(&kafka, consumer, group, &key, store, clock, stop, &batch).await {
                Ok(()) => backoff.reset(),
                Err((unfinished, e)) => {
                    let wait = backoff.wait();
                    tracing::warn!(
                        group = group.id,
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis(),
                        "Kafka consumer could not finish a batch; reading it again from where it stopped"
                    );
                    rewind(&kafka, &batch[unfinished..])?;
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Hands a batch to the consumer in order and commits what it handled;
    /// an event it fails is tried again after the retry delay, and after
    /// the last attempt goes to the dead letters (committed past). A record
    /// nothing can read goes to the dead letters at once; an empty one (a
    /// dead letter's tombstone) is passed over. On Err, the position in the
    /// batch of the first record not finished.
    #[allow(clippy::too_many_arguments)]
    async fn handle(
        &self,
        kafka: &StreamConsumer,
        consumer: &dyn Consumer,
        group: &Group,
        key: &str,
        store: &dyn OutboxStore,
        clock: &SharedClock,
        stop: &CancellationToken,
        batch: &[OwnedMessage],
    ) -> Result<(), (usize, anyhow::Error)> {
        let mut events: Vec<Option<Result<Event, anyhow::Error>>> =
            batch.iter().map(|m| m.payload().map(messaging::envelope::decode)).collect();
        let mut i = 0;
        let mut attempts = 0u32;
        // The run of readable events that holds `i`: `batch[run_at..run_at + run.len()]`.
        let (mut run, mut run_at) = (Vec::<Event>::new(), 0);
        while i < batch.len() {
            if i >= run_at + run.len() {
                run_at = i;
                let readable = |e: &Option<Result<Event, anyhow::Error>>| matches!(e, Some(Ok(_)));
                run = events[i..]
                    .iter_mut()
                    .map_while(|e| if readable(e) { e.take().and_then(Result::ok) } else { None })
                    .collect();
            }
            if run.is_empty() {
                if let Some(Err(e)) = &events[i] {
                    tracing::warn!(group = group.id, error = format!("{e:#}"), "unreadable record dead-lettered");
                    self.dead_letter(group, &batch[i], 1, &format!("{e:#}")).await.map_err(|e| (i, e))?;
                }
                commit(kafka, &batch[i..=i]);
                i += 1;
                continue;
            }
            let run = &run[i - run_at..];
            let (handled, error) = messaging::deliver(consumer, run, store, key, clock.now()).await;
            if handled > 0 {
                commit(kafka, &batch[i..i + handled]);
                i += handled;
                attempts = 0;
            }
            let Some(error) = error else { continue };
            if error.downcast_ref::<messaging::RecordFailed>().is_some() {
                // The database, not the event.
                return Err((i, error));
            }
            attempts += 1;
            let why = format!("{error:#}");
            let event = &run[handled];
            if attempts >= self.settings.max_attempts {
                tracing::warn!(group = group.id, event_id = %event.id, topic = event.topic, attempts, error = why,
                    "event dead-lettered after its last attempt");
                self.dead_letter(group, &batch[i], attempts, &why).await.map_err(|e| (i, e))?;
                commit(kafka, &batch[i..=i]);
                i += 1;
                attempts = 0;
                continue;
            }
            tracing::warn!(group = group.id, event_id = %event.id, topic = event.topic, attempts, error = why,
                retry_in_ms = self.settings.retry_delay.as_millis(), "event handling failed; will retry");
            tokio::select! {
                // Not committed: the group's next member reads it again.
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.settings.retry_delay) => {}
            }
        }
        Ok(())
    }

    /// Writes `message` to the group's dead letters, keyed by event id.
    async fn dead_letter(
        &self,
        group: &Group,
        message: &OwnedMessage,
        attempts: u32,
        error: &str,
    ) -> anyhow::Result<()> {
        let id = message
            .payload()
            .and_then(|p| messaging::envelope::decode(p).ok())
            .map(|e| e.id.to_string())
            .unwrap_or_else(|| format!("{}-{}-{}", message.topic(), message.partition(), message.offset()));
        let attempts = attempts.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: ATTEMPTS, value: Some(attempts.as_str()) })
            .insert(Header { key: ERROR, value: Some(error) });
        self.send(&group.dead, &id, Some(message.payload().unwrap_or_default()), headers).await
    }
}

/// Commits, for each partition, the offset after the last of `messages`.
/// A commit that fails (the broker is away) is left to the next one, which
/// covers it; if there is none, the records are read again and the
/// consumers' records of handled events make that harmless.
fn commit(kafka: &StreamConsumer, messages: &[OwnedMessage]) {
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for m in messages {
        let slot = last.entry((m.topic(), m.partition())).or_insert(m.offset());
        *slot = (*slot).max(m.offset());
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in last {
        if let Err(e) = list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset + 1)) {
            tracing::warn!(topic, partition, error = %e, "Kafka offset not committed");
        }
    }
    if let Err(e) = kafka.commit(&list, CommitMode::Async) {
        tracing::debug!(error = %e, "Kafka offsets not committed now; the next commit covers them");
    }
}

/// Moves each partition of `unfinished` back to its first record there,
/// so that the consumer reads them again.
fn rewind(kafka: &StreamConsumer, unfinished: &[OwnedMessage]) -> anyhow::Result<()> {
    let mut first: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for m in unfinished {
        let slot = first.entry((m.topic(), m.partition())).or_insert(m.offset());
        *slot = (*slot).min(m.offset());
    }
    // A blocking call: the runtime is told, so it moves its other tasks.
    tokio::task::block_in_place(|| {
        for ((topic, partition), offset) in first {
            kafka.seek(topic, partition, rdkafka::Offset::Offset(offset), Duration::from_secs(5))?;
        }
        Ok(())
    })
}
