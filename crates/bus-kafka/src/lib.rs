//! The event bus on Kafka (`EMPORIUM_BUS_URL=kafka://host:port[,host:port…]`),
//! through rdkafka (librdkafka, built from its bundled source).
//!
//! Topics (created by every node, idempotently, before it publishes or
//! consumes; see `docs/events.md`):
//!
//! - one per context: `user-events`, `order-events`, `payment-events`,
//!   `inventory-events`, `catalog-events` (and `other-events`), three
//!   partitions each, prefixed `<prefix>.` when `EMPORIUM_BUS_PREFIX` is not
//!   the default. A record's key is its aggregate's id, so one order's
//!   events land on one partition and stay in order; its value is the JSON
//!   envelope (which names the event type) and it has no headers: tansu
//!   0.6 keeps headers in a table that it scans in full for each record it
//!   reads, so a header on every record made reading slower the more was
//!   written. Only dead letters, which are few, carry any;
//! - per consumer group, `<group>.dead` (the dead letters, keyed by event
//!   id; a replayed letter is followed by an empty record with its key)
//!   and `<group>.retry` (what `emporium events replay` sends back to that
//!   group alone).
//!
//! The producer is idempotent (`enable.idempotence`, `acks=all`): a
//! publish counts as sent once every in-sync replica has it, and the
//! producer's own retries write nothing twice (the relay's resend after a
//! lost acknowledgement may: consumers deduplicate by id). Consumer
//! groups: `<prefix>.<consumer>` for a per-shop consumer (the nodes share
//! it: each event is handled by one), `<prefix>.<consumer>.node.<node>`
//! for a per-node one. Offsets are committed only after handling; a
//! handler's failure is retried in place after `retry_delay`, so the
//! group's order holds, and after `max_attempts` the event goes to the
//! group's dead letters and the group moves on.

mod consume;
mod dead;

pub use messaging::DeadLetter;

use anyhow::Context as _;
use async_trait::async_trait;
use kernel::Event;
use messaging::{Bus, Consumer, Reach};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// The header that counts a dead letter's failed handlings.
pub const ATTEMPTS: &str = "x-emporium-attempts";
/// The header that says why a dead letter died.
pub const ERROR: &str = "x-emporium-error";
/// Partitions of each context's topic.
const PARTITIONS: i32 = 3;
/// How long a publish may wait for the broker before it fails (and the
/// relay tries again): well within the relay's lease.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// `-1`: the broker's default replication factor (KIP-464).
const REPLICATION: i32 = -1;

#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]`, the bootstrap servers.
    pub brokers: String,
    /// `emporium` (the default): topics are named by their stream alone;
    /// another prefix goes before each topic's and group's name.
    pub prefix: String,
    /// This node's name in its per-node groups: stable across restarts, so
    /// a restarted node goes on from its committed offsets.
    pub node: String,
    /// Failed handlings before an event goes to the dead letters.
    pub max_attempts: u32,
    /// How long a failed event waits before it is handled again.
    pub retry_delay: Duration,
    /// Records a consumer handles as one batch at most.
    pub batch: usize,
}

impl KafkaSettings {
    pub fn new(brokers: &str, node: &str) -> Self {
        KafkaSettings {
            brokers: brokers.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            node: node.to_owned(),
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
            batch: 200,
        }
    }

    /// The bootstrap servers of a `kafka://a:9092,b:9092` URL.
    pub fn brokers_of(url: &str) -> Option<String> {
        let rest = url.strip_prefix("kafka://")?.trim_end_matches('/');
        let ok = !rest.is_empty()
            && rest
                .split(',')
                .all(|hp| hp.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()));
        ok.then(|| rest.to_owned())
    }

    /// The topic of `stream` (`order-events`).
    pub fn topic(&self, stream: &str) -> String {
        if self.prefix == DEFAULT_PREFIX { stream.to_owned() } else { format!("{}.{stream}", self.prefix) }
    }

    /// Every context's topic.
    pub fn topics(&self) -> Vec<String> {
        all_streams().map(|s| self.topic(s)).collect()
    }
}

const DEFAULT_PREFIX: &str = "emporium";

/// Every stream an event can be written to: the contexts', then the one
/// `stream_of` gives any other topic.
fn all_streams() -> impl Iterator<Item = &'static str> {
    messaging::envelope::STREAMS.into_iter().chain(["other-events"])
}

/// A consumer group's names on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The Kafka group id.
    pub id: String,
    /// The context topics it reads (by the consumer's patterns), then its
    /// own retry topic.
    pub topics: Vec<String>,
    pub retry: String,
    pub dead: String,
}

/// The bus: one idempotent producer, created at the first publish, and the
/// consumers (see [`KafkaBus::spawn_consumers`]).
pub struct KafkaBus {
    settings: KafkaSettings,
    producer: FutureProducer,
    /// Whether the topics have been created since this process started.
    ready: tokio::sync::OnceCell<()>,
    groups: std::sync::RwLock<Vec<Group>>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus").field("node", &self.settings.node).finish_non_exhaustive()
    }
}

/// Settings every client of ours shares.
fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", format!("{}/{}", settings.prefix, settings.node))
        .set("reconnect.backoff.ms", "250")
        .set("reconnect.backoff.max.ms", "10000")
        .set("log_level", "4");
    config
}

impl KafkaBus {
    /// Connects lazily: a broker that is down at start delays events (they
    /// wait in the outbox), not the shop.
    pub fn new(settings: KafkaSettings) -> anyhow::Result<Self> {
        let producer: FutureProducer = client_config(&settings)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", DELIVERY_TIMEOUT.as_millis().to_string())
            .create()
            .context("creating the Kafka producer")?;
        Ok(KafkaBus {
            settings,
            producer,
            ready: tokio::sync::OnceCell::new(),
            groups: std::sync::RwLock::new(Vec::new()),
        })
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// The group of `consumer` on this node.
    pub fn group_of(&self, consumer: &dyn Consumer) -> Group {
        let s = &self.settings;
        let id = match consumer.reach() {
            Reach::PerNode => format!("{}.{}.node.{}", s.prefix, consumer.name(), s.node),
            Reach::PerShop => format!("{}.{}", s.prefix, consumer.name()),
        };
        let mut streams: Vec<&str> = Vec::new();
        for pattern in consumer.patterns() {
            let first = pattern.split('.').next().unwrap_or_default();
            if first == "#" || first == "*" {
                streams = all_streams().collect();
                break;
            }
            let stream = messaging::envelope::stream_of(pattern);
            if !streams.contains(&stream) {
                streams.push(stream);
            }
        }
        let retry = format!("{id}.retry");
        let mut topics: Vec<String> = streams.iter().map(|s| self.settings.topic(s)).collect();
        topics.push(retry.clone());
        Group { dead: format!("{id}.dead"), retry, topics, id }
    }

    /// Creates `consumer`'s topics with the others.
    pub fn register(&self, consumer: &dyn Consumer) {
        self.register_group(self.group_of(consumer));
    }

    fn register_group(&self, group: Group) {
        if let Ok(mut groups) = self.groups.write()
            && !groups.contains(&group)
        {
            groups.push(group);
        }
    }

    /// Creates every topic this node uses that does not exist yet, with
    /// the broker's default replication. The dead letters are kept until
    /// replayed (no retention limit; compacted, so a replay's tombstone
    /// removes its letter). A refusal to create one that exists (a cluster
    /// that allows no topic creation) is no failure.
    async fn create_topics(&self) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            client_config(&self.settings).create().context("creating the Kafka admin client")?;
        let mut wanted: Vec<(String, i32, bool)> =
            self.settings.topics().into_iter().map(|t| (t, PARTITIONS, false)).collect();
        for group in self.groups.read().map(|g| g.clone()).unwrap_or_default() {
            wanted.push((group.retry, 1, false));
            wanted.push((group.dead, 1, true));
        }
        let existing = self.existing_topics().await?;
        wanted.retain(|(name, _, _)| !existing.contains(name));
        if wanted.is_empty() {
            return Ok(());
        }
        let topics: Vec<NewTopic<'_>> = wanted
            .iter()
            .map(|(name, partitions, dead)| {
                let topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(REPLICATION));
                if *dead { topic.set("retention.ms", "-1").set("cleanup.policy", "compact") } else { topic }
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT)).request_timeout(Some(ADMIN_TIMEOUT));
        for result in admin.create_topics(&topics, &options).await.context("creating the Kafka topics")? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => anyhow::bail!("creating Kafka topic {topic}: {code}"),
            }
        }
        Ok(())
    }

    /// The topics the cluster has (blocking metadata call, off the async threads).
    async fn existing_topics(&self) -> anyhow::Result<Vec<String>> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(None, ADMIN_TIMEOUT)?;
            Ok(metadata.topics().iter().map(|t| t.name().to_owned()).collect())
        })
        .await?
    }

    /// Creates the topics once per process (again after a failure).
    pub async fn ensure_topics(&self) -> anyhow::Result<()> {
        self.ready.get_or_try_init(|| self.create_topics()).await.map(|_| ())
    }

    /// Sends `payload` to `topic` under `key` and waits for the broker.
    pub(crate) async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> anyhow::Result<()> {
        let mut record = FutureRecord::<str, [u8]>::to(topic).key(key).headers(headers);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        self.producer
            .send(record, DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(e, _)| anyhow::anyhow!("Kafka refused a record for {topic}: {e}"))
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn check(&self) -> Option<anyhow::Result<()>> {
        let producer = self.producer.clone();
        let answer = tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, Duration::from_secs(2)).map(|_| ())
        })
        .await;
        Some(match answer {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!("Kafka does not answer: {e}")),
            Err(e) => Err(anyhow::anyhow!("the Kafka check failed: {e}")),
        })
    }

    fn counts_failures(&self) -> bool {
        false
    }

    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        let (n, error) = self.publish_batch(std::slice::from_ref(event)).await;
        match (n, error) {
            (1, _) => Ok(()),
            (_, Some(e)) => Err(e),
            (_, None) => Err(anyhow::anyhow!("the event was not published")),
        }
    }

    /// Enqueues the whole batch, then waits for each acknowledgement in
    /// order: the idempotent producer keeps each partition's order and
    /// never writes a record twice, so what was acknowledged, from the
    /// start, is what was sent.
    async fn publish_batch(&self, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        if let Err(e) = self.ensure_topics().await {
            return (0, Some(e));
        }
        let bodies: Vec<(String, String, Vec<u8>)> = events
            .iter()
            .map(|e| {
                (
                    self.settings.topic(messaging::envelope::stream_of(&e.topic)),
                    e.aggregate_id.to_string(),
                    messaging::envelope::encode(e),
                )
            })
            .collect();
        let mut pending = Vec::with_capacity(events.len());
        for (topic, key, body) in &bodies {
            let record = FutureRecord::to(topic).key(key.as_str()).payload(body.as_slice());
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    return self.settle(pending, Some(anyhow::anyhow!("Kafka's queue refused a record: {e}"))).await;
                }
            }
        }
        self.settle(pending, None).await
    }
}

impl KafkaBus {
    /// Waits for each enqueued record in order: how many from the start
    /// were acknowledged, with the first error.
    async fn settle(
        &self,
        pending: Vec<rdkafka::producer::DeliveryFuture>,
        mut error: Option<anyhow::Error>,
    ) -> (usize, Option<anyhow::Error>) {
        let mut sent = 0;
        let mut broken = false;
        for delivery in pending {
            let result = delivery.await;
            if broken {
                continue;
            }
            match result {
                Ok(Ok(_)) => sent += 1,
                Ok(Err((e, _))) => {
                    broken = true;
                    error = Some(anyhow::anyhow!("Kafka did not take a record: {e}"));
                }
                Err(_) => {
                    broken = true;
                    error = Some(anyhow::anyhow!("the Kafka producer went away"));
                }
            }
        }
        (sent, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_brokers_and_prefixes_name_topics() {
        assert_eq!(KafkaSettings::brokers_of("kafka://127.0.0.1:9092").as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(KafkaSettings::brokers_of("kafka://a:1,b:2/").as_deref(), Some("a:1,b:2"));
        for bad in ["kafka://", "kafka://host", "kafka://host:port", "amqp://x:1", "kafka://:9092"] {
            assert_eq!(KafkaSettings::brokers_of(bad), None, "{bad}");
        }
        let mut s = KafkaSettings::new("a:1", "n1");
        assert_eq!(s.topic("order-events"), "order-events");
        s.prefix = "shop2".into();
        assert_eq!(s.topic("order-events"), "shop2.order-events");
        assert_eq!(s.topics().len(), 6);
    }

    /// What a published event is on the wire: one record keyed by its
    /// aggregate, the envelope as its value, and no headers (a header on
    /// every record made tansu scan all its headers per record read).
    /// Its topics are deleted after (a tansu store that holds many runs'
    /// topics grows slow).
    #[tokio::test]
    async fn an_event_is_one_record_keyed_by_its_aggregate_with_the_envelope_and_no_headers() {
        use rdkafka::Message as _;
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        let Some(url) = std::env::var("EMPORIUM_TEST_KAFKA_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("skipped: an_event_is_one_record… (EMPORIUM_TEST_KAFKA_URL is not set)");
            return;
        };
        let settings = KafkaSettings {
            prefix: format!("test-{}", kernel::new_id().simple()),
            ..KafkaSettings::new(&KafkaSettings::brokers_of(&url).expect("a kafka:// URL"), "n1")
        };
        let bus = KafkaBus::new(settings.clone()).expect("a Kafka client");
        let event = Event::new(
            "order.paid",
            kernel::new_id(),
            time::OffsetDateTime::now_utc(),
            serde_json::json!({ "total": 1250 }),
        );
        bus.publish(&event).await.expect("published");

        let topic = settings.topic("order-events");
        let reading = settings.clone();
        let records = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<_>> {
            // Every partition from its start to its end: the one record, and
            // proof there is no second.
            let reader: BaseConsumer = client_config(&reading)
                .set("group.id", format!("{}.reader", reading.prefix))
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "true")
                .create()?;
            let mut list = rdkafka::TopicPartitionList::new();
            for partition in 0..PARTITIONS {
                list.add_partition_offset(&topic, partition, rdkafka::Offset::Beginning)?;
            }
            reader.assign(&list)?;
            let (mut records, mut ended) = (Vec::new(), std::collections::HashSet::new());
            let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
            while ended.len() < PARTITIONS as usize {
                anyhow::ensure!(std::time::Instant::now() < deadline, "{topic} was not read to its end in time");
                match reader.poll(Duration::from_millis(200)) {
                    Some(Ok(message)) => records.push(message.detach()),
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                        ended.insert(partition);
                    }
                    // Transient (the topic's leader not known yet…): librdkafka goes on.
                    Some(Err(e)) => eprintln!("reading {topic}: {e}"),
                    None => {}
                }
            }
            Ok(records)
        })
        .await;
        // The topics go whatever the reading found (best effort).
        let topics = settings.topics();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        match client_config(&settings).create::<AdminClient<DefaultClientContext>>() {
            Ok(admin) => {
                if let Err(e) = admin.delete_topics(&names, &options).await {
                    eprintln!("deleting the test's topics: {e}");
                }
            }
            Err(e) => eprintln!("deleting the test's topics: {e}"),
        }
        let records = records.expect("the reader ran").expect("the topic was read");

        assert_eq!(records.len(), 1, "one record for one event");
        let record = &records[0];
        assert_eq!(record.key(), Some(event.aggregate_id.to_string().as_bytes()));
        assert!(record.headers().is_none(), "an event's record carries no headers");
        let sent = messaging::envelope::decode(record.payload().expect("a value")).expect("an envelope");
        assert_eq!((sent.id, sent.topic.as_str()), (event.id, "order.paid"));
    }
}
