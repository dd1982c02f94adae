//! The event bus on RabbitMQ (`EMPORIUM_BUS_URL=amqp://…`).
//!
//! Topology (declared by every node, idempotently, before it publishes or
//! consumes; see `docs/events.md`):
//!
//! - a durable topic exchange, `emporium.events` (the prefix is a setting); each event is published
//!   to it persistent, with its type as the routing key (`order.paid`) and
//!   its id as the message id, and counts as sent only once the broker has
//!   confirmed it (publisher confirms);
//! - a durable queue per consumer group, bound to the patterns the consumer
//!   wants: `emporium.<consumer>` for a per-shop consumer (the nodes share
//!   it, so each event is handled once), `emporium.<consumer>.node.<node>`
//!   for a per-node one (each node has its own, so each node sees every
//!   event; it is deleted after a day unused);
//! - beside each, `<queue>.retry.<delay>ms`, where a failed event waits
//!   `delay` before the broker dead-letters it back into the queue, and
//!   `<queue>.dead`, where it goes after `max_attempts` failures.
//!
//! A node's consumers share one connection, a channel each, apart from the
//! publisher's, which also carries their retries and dead letters (the
//! broker stops reading a publishing connection under a resource alarm,
//! which must not stop the consumers' acks). Consumers ack manually, after
//! handling; a handler's failure is counted in the message's
//! `x-emporium-attempts` header. Every connection is
//! re-made with back-off after the broker goes away; what was not acked is
//! delivered again, and consumers deduplicate by event id.

mod consume;
mod dead;

pub use messaging::DeadLetter;

use anyhow::Context as _;
use async_trait::async_trait;
use kernel::Event;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use messaging::{Bus, Consumer, Reach};
use std::sync::Arc;
use std::time::Duration;

/// The header that counts a message's failed handlings.
pub const ATTEMPTS: &str = "x-emporium-attempts";
/// The header that says why a dead letter died.
pub const ERROR: &str = "x-emporium-error";
/// How long a node's own queues outlive the node.
const NODE_QUEUE_EXPIRES: Duration = Duration::from_secs(86_400);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the relay's batch (and a replay) may take to be written and
/// confirmed (a broker under a resource alarm stops reading a publishing
/// connection), well within the relay's lease. A consumer's retries and
/// dead letters wait instead until they are confirmed or the node stops:
/// given up on, the copy may still arrive, and the failed event would be
/// copied again.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long closing a channel or a connection may take (a broker under a
/// resource alarm may not answer).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct RabbitSettings {
    /// `amqp://user:pass@host:5672/vhost` (or `amqps://`).
    pub url: String,
    /// The first word of the exchange's and every queue's name (`emporium`:
    /// `emporium.events`, `emporium.notifications`…), so that several
    /// shops can share a broker.
    pub prefix: String,
    /// This node's name in its per-node queues: stable across restarts, so
    /// a restarted node finds what was published while it was away.
    pub node: String,
    /// Failed handlings before an event goes to the dead letters.
    pub max_attempts: u32,
    /// How long a failed event waits before it is handled again.
    pub retry_delay: Duration,
    /// Unacked deliveries a consumer holds at once (its largest batch).
    pub prefetch: u16,
}

impl RabbitSettings {
    /// The topic exchange every event is published to: `<prefix>.events`.
    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn new(url: &str, node: &str) -> Self {
        RabbitSettings {
            url: url.to_owned(),
            prefix: "emporium".to_owned(),
            node: node.to_owned(),
            max_attempts: 5,
            retry_delay: Duration::from_secs(5),
            prefetch: 200,
        }
    }
}

/// A consumer group's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    pub main: String,
    pub retry: String,
    pub dead: String,
    patterns: Vec<&'static str>,
    per_node: bool,
}

/// The publisher's connection and confirmed channel, once made.
type Link = Option<(Connection, Channel)>;

/// The bus: publishes through one confirmed channel, re-made when lost, and
/// runs consumers (see [`RabbitBus::spawn_consumers`]).
pub struct RabbitBus {
    settings: RabbitSettings,
    publisher: tokio::sync::Mutex<Link>,
    /// The connection this node's consumers share, a channel each (see
    /// `consume.rs`).
    consuming: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Every consumer group this node runs: declared before the first
    /// publish, so no event is routed to nowhere on a fresh broker.
    groups: std::sync::RwLock<Vec<Queues>>,
}

impl std::fmt::Debug for RabbitBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitBus").field("node", &self.settings.node).finish_non_exhaustive()
    }
}

impl RabbitBus {
    /// Connects lazily: a broker that is down at start delays events (they
    /// wait in the outbox), not the shop.
    pub fn new(settings: RabbitSettings) -> Self {
        RabbitBus {
            settings,
            publisher: tokio::sync::Mutex::new(None),
            consuming: tokio::sync::Mutex::new(None),
            groups: std::sync::RwLock::new(Vec::new()),
        }
    }

    pub fn settings(&self) -> &RabbitSettings {
        &self.settings
    }

    /// The queues of `consumer`'s group on this node.
    pub fn queues_of(&self, consumer: &dyn Consumer) -> Queues {
        let per_node = consumer.reach() == Reach::PerNode;
        let main = match per_node {
            true => format!("{}.{}.node.{}", self.settings.prefix, consumer.name(), self.settings.node),
            false => format!("{}.{}", self.settings.prefix, consumer.name()),
        };
        Queues {
            retry: format!("{main}.retry.{}ms", self.settings.retry_delay.as_millis()),
            dead: format!("{main}.dead"),
            main,
            patterns: consumer.patterns(),
            per_node,
        }
    }

    /// Declares `consumer`'s queues with the next publish (and on every reconnect).
    pub fn register(&self, consumer: &dyn Consumer) {
        let queues = self.queues_of(consumer);
        if let Ok(mut groups) = self.groups.write()
            && !groups.contains(&queues)
        {
            groups.push(queues);
        }
        // The next publish re-declares on a new link.
        if let Ok(mut link) = self.publisher.try_lock() {
            *link = None;
        }
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<Connection> {
        // Named, so an operator sees whose it is (`rabbitmqctl list_connections client_properties`).
        let name = format!("{}/{}", self.settings.prefix, self.settings.node);
        let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.as_str()));
        let connecting = Connection::connect(&self.settings.url, properties);
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| anyhow::anyhow!("no answer from RabbitMQ within {CONNECT_TIMEOUT:?}"))?
            .context("connecting to RabbitMQ")
    }

    /// A channel in confirm mode with the exchange and every registered
    /// group declared.
    async fn open(&self, connection: &Connection) -> anyhow::Result<Channel> {
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchange(&channel, &self.settings).await?;
        let groups = self.groups.read().map(|g| g.clone()).unwrap_or_default();
        for queues in &groups {
            declare(&channel, queues, &self.settings).await?;
        }
        Ok(channel)
    }

    /// Sends a consumer's copy of a message (to its retry queue or its dead
    /// letters) through the publisher's connection, not the consumers': a
    /// broker under a resource alarm stops reading a connection that
    /// publishes, and the consumers' acks must still get through. Holds the
    /// publisher's lock only until the copy is queued, then waits for its
    /// confirmation until `stop` (see [`CONFIRM_TIMEOUT`]). A copy waiting
    /// through a long alarm may outlive its consumer's channel: the original
    /// then comes again and is copied again (a duplicate, never a loss).
    pub(crate) async fn republish(
        &self,
        queue: &str,
        body: &[u8],
        properties: BasicProperties,
        stop: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        let publish = async {
            let (link, channel) = self.publisher().await?;
            publish_confirmed(&channel, "", queue, body, properties, link).await
        };
        tokio::select! {
            biased;
            published = publish => published,
            () = stop.cancelled() => anyhow::bail!("stopping before RabbitMQ confirmed a copy to {queue}"),
        }
    }

    /// The publishing link, made again if it was lost, and its channel.
    async fn publisher(&self) -> anyhow::Result<(tokio::sync::MutexGuard<'_, Link>, Channel)> {
        let mut link = self.publisher.lock().await;
        if let Some((_, channel)) = link.as_ref().filter(|(c, ch)| c.status().connected() && ch.status().connected()) {
            let channel = channel.clone();
            return Ok((link, channel));
        }
        if let Some((connection, _)) = link.take() {
            close(connection.close(200, "reconnecting".into())).await;
        }
        let connection = self.connect().await?;
        let channel = self.open(&connection).await?;
        tracing::info!(node = self.settings.node, "connected to RabbitMQ for publishing");
        *link = Some((connection, channel.clone()));
        Ok((link, channel))
    }
}

/// Closes a connection or a channel (`closing`), waiting at most
/// [`CLOSE_TIMEOUT`].
pub(crate) async fn close<T>(closing: impl std::future::Future<Output = T>) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

/// `work`, or an error once `deadline` has passed (RabbitMQ did not
/// `what` in time).
pub(crate) async fn by<T>(
    deadline: tokio::time::Instant,
    what: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout_at(deadline, work).await.map_err(|_| anyhow::anyhow!("RabbitMQ did not {what} in time"))?
}

async fn declare_exchange(channel: &Channel, settings: &RabbitSettings) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    let exchange = settings.exchange();
    channel.exchange_declare(exchange.as_str().into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
    Ok(())
}

fn millis(d: Duration) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Declares a group's three queues and binds the main one.
async fn declare(channel: &Channel, q: &Queues, settings: &RabbitSettings) -> anyhow::Result<()> {
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let expiring = |mut args: FieldTable| {
        if q.per_node {
            args.insert("x-expires".into(), millis(NODE_QUEUE_EXPIRES));
        }
        args
    };
    channel.queue_declare(q.main.as_str().into(), durable, expiring(FieldTable::default())).await?;
    let mut retry = FieldTable::default();
    retry.insert("x-message-ttl".into(), millis(settings.retry_delay));
    retry.insert("x-dead-letter-exchange".into(), text(""));
    retry.insert("x-dead-letter-routing-key".into(), text(&q.main));
    // Only the main queue expires: the retry and dead queues have no
    // consumer to keep them alive, and a message published to a deleted
    // one would be confirmed and lost.
    channel.queue_declare(q.retry.as_str().into(), durable, retry).await?;
    channel.queue_declare(q.dead.as_str().into(), durable, FieldTable::default()).await?;
    let exchange = settings.exchange();
    for pattern in &q.patterns {
        channel
            .queue_bind(
                q.main.as_str().into(),
                exchange.as_str().into(),
                (*pattern).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// The properties of an event's message: persistent, JSON, its id and type.
fn properties(event: &Event, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_message_id(ShortString::from(event.id.to_string()))
        .with_type(ShortString::from(event.topic.as_str()))
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(event.occurred_at.unix_timestamp()).unwrap_or_default())
        .with_headers(headers)
}

/// Publishes `body`, releases `lock`, and waits for the broker's
/// confirmation (callers bound the wait: see [`CONFIRM_TIMEOUT`]).
///
/// lapin 4.12 takes a publish's delivery tag and queues its frames on its
/// first poll, in two steps: two tasks publishing on one channel at once
/// could put their frames on the wire in the other order than their tags,
/// and each be told of the other's confirmation. So whoever else may
/// publish on `channel` holds `lock` until the publish is queued.
async fn publish_confirmed<L>(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
    lock: L,
) -> anyhow::Result<()> {
    let publish =
        channel.basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), body, properties);
    let sent = Sent::queue(publish).await;
    drop(lock);
    let confirm = sent?.written().await?.await.context("waiting for RabbitMQ's confirmation")?;
    anyhow::ensure!(confirm.is_ack(), "RabbitMQ refused the message (nack)");
    Ok(())
}

#[async_trait]
impl Bus for RabbitBus {
    /// Whether the publishing link is up (made if it is not), within 2 s:
    /// a broker that blocks publishers makes readiness say so, not hang.
    async fn check(&self) -> Option<anyhow::Result<()>> {
        let probe = tokio::time::timeout(Duration::from_secs(2), self.publisher()).await;
        Some(match probe {
            Ok(link) => link.map(|_| ()),
            Err(_) => Err(anyhow::anyhow!("RabbitMQ did not answer within 2 s")),
        })
    }

    /// A broker's refusal says nothing about the event: never counted
    /// against it (the relay retries until the broker takes it).
    fn counts_failures(&self) -> bool {
        false
    }

    async fn publish(&self, event: &Event) -> anyhow::Result<()> {
        match self.publish_batch(std::slice::from_ref(event)).await {
            (_, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Publishes every event before waiting for the first confirmation
    /// (the broker confirms in order), so a batch costs about one round trip.
    ///
    /// lapin's `basic_publish` queues the frames (and the confirmation's
    /// delivery tag) when first polled, then waits for its I/O thread to
    /// write them. Awaited one by one, that is a round trip to that thread
    /// per event; polled once each, in order, and then awaited, the batch's
    /// frames are all queued before the thread writes them, in one go or a
    /// few. (This relies on lapin 4.12's `basic_publish`, to which lapin is
    /// pinned.) Writing and confirming the batch may take [`CONFIRM_TIMEOUT`]
    /// in all. After a failure, events behind it may already be queued and
    /// reach the broker; the relay sends them again and consumers deduplicate.
    async fn publish_batch(&self, events: &[Event]) -> (usize, Option<anyhow::Error>) {
        if events.is_empty() {
            return (0, None);
        }
        // Held through the batch: one batch at a time on the channel.
        let (mut link, channel) = match self.publisher().await {
            Ok(link) => link,
            Err(e) => return (0, Some(e)),
        };
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let exchange = self.settings.exchange();
        let bodies: Vec<Vec<u8>> = events.iter().map(messaging::envelope::encode).collect();
        let mut queued = Vec::with_capacity(events.len());
        let mut error = None;
        for (event, body) in events.iter().zip(&bodies) {
            let publish = channel.basic_publish(
                exchange.as_str().into(),
                event.topic.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties(event, FieldTable::default()),
            );
            match Sent::queue(publish).await {
                Ok(sent) => queued.push(sent),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let mut confirms = Vec::with_capacity(queued.len());
        for sent in queued {
            match by(deadline, "take the batch", sent.written()).await {
                Ok(confirm) => confirms.push(confirm),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let mut confirmed = 0;
        for confirm in confirms {
            let confirm = async { confirm.await.context("waiting for RabbitMQ's confirmation") };
            match by(deadline, "confirm the batch", confirm).await {
                Ok(c) if c.is_ack() => confirmed += 1,
                Ok(_) => {
                    error = Some(anyhow::anyhow!("RabbitMQ refused an event (nack)"));
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if error.is_some() {
            // Whatever broke, the next batch starts on a fresh link.
            *link = None;
        }
        (confirmed, error)
    }
}

/// A publish after its first poll, which took its delivery tag and queued
/// its frames (lapin 4.12; see `publish_confirmed`): its frames still being
/// written, or written and waiting for the broker's confirmation.
enum Sent<F> {
    Writing(std::pin::Pin<Box<F>>),
    Written(lapin::PublisherConfirm),
}

impl<F: std::future::Future<Output = lapin::Result<lapin::PublisherConfirm>>> Sent<F> {
    /// Polls `publish` once.
    async fn queue(publish: F) -> anyhow::Result<Self> {
        let mut publish = Box::pin(publish);
        match futures_lite::future::poll_once(&mut publish).await {
            None => Ok(Sent::Writing(publish)),
            Some(written) => Ok(Sent::Written(written.context("publishing to RabbitMQ")?)),
        }
    }

    /// Once its frames are written: the confirmation to wait for.
    async fn written(self) -> anyhow::Result<lapin::PublisherConfirm> {
        match self {
            Sent::Written(confirm) => Ok(confirm),
            Sent::Writing(publish) => publish.await.context("publishing to RabbitMQ"),
        }
    }
}
