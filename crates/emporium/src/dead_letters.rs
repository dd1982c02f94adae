//! `emporium events dead` and `emporium events replay <id>`: the events a
//! consumer gave up on. On RabbitMQ they are the messages of each group's
//! dead-letter queue (this node's, for per-node groups); on Kafka, the
//! records of each group's dead-letter topic; on the in-process bus, the
//! outbox rows the relay stopped retrying.

use crate::backend::Backend;
use crate::settings::Settings;

/// One dead letter as the command prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The event's id: what `replay` takes.
    pub id: String,
    pub topic: String,
    /// The consumer group's queue (RabbitMQ) or group id (Kafka), or
    /// `outbox` (in-process).
    pub place: String,
    pub attempts: i64,
    pub error: Option<String>,
}

fn rabbit(settings: &Settings) -> Option<(bus_rabbitmq::RabbitBus, Vec<bus_rabbitmq::Queues>)> {
    let url = settings.bus.url.as_ref().filter(|_| settings.bus.is_rabbitmq())?;
    let bus = bus_rabbitmq::RabbitBus::new(crate::server::rabbit_settings(settings, &url.0, &settings.node_id()));
    let queues = crate::followers::groups().iter().map(|g| bus.queues_of(g)).collect();
    Some((bus, queues))
}

fn kafka(settings: &Settings) -> anyhow::Result<Option<(bus_kafka::KafkaBus, Vec<bus_kafka::Group>)>> {
    let Some(brokers) = settings.bus.kafka_brokers() else { return Ok(None) };
    let bus = bus_kafka::KafkaBus::new(crate::server::kafka_settings(settings, &brokers, &settings.node_id()))?;
    let groups = crate::followers::groups().iter().map(|g| bus.group_of(g)).collect();
    Ok(Some((bus, groups)))
}

impl From<messaging::DeadLetter> for DeadLetter {
    fn from(d: messaging::DeadLetter) -> Self {
        DeadLetter {
            topic: d.event.map(|e| e.topic).unwrap_or_else(|| "(unreadable)".into()),
            id: d.id,
            place: d.place,
            attempts: d.attempts,
            error: d.error,
        }
    }
}

pub async fn list(settings: &Settings) -> anyhow::Result<Vec<DeadLetter>> {
    let from_broker = |letters: Vec<messaging::DeadLetter>| letters.into_iter().map(DeadLetter::from).collect();
    if let Some((bus, groups)) = kafka(settings)? {
        return Ok(from_broker(bus.dead_letters(&groups).await?));
    }
    if let Some((bus, queues)) = rabbit(settings) {
        return Ok(from_broker(bus.dead_letters(&queues).await?));
    }
    let backend = Backend::open(settings).await?;
    let dead = backend.outbox().dead_events(10_000).await;
    backend.close().await;
    Ok(dead?
        .into_iter()
        .map(|d| DeadLetter {
            id: d.event.id.to_string(),
            topic: d.event.topic,
            place: "outbox".into(),
            attempts: d.attempts,
            error: d.last_error,
        })
        .collect())
}

/// Sends dead letter `id` again; whether there was one.
pub async fn replay(settings: &Settings, id: &str) -> anyhow::Result<bool> {
    if let Some((bus, queues)) = rabbit(settings) {
        return bus.replay(&queues, id).await;
    }
    if let Some((bus, groups)) = kafka(settings)? {
        return bus.replay(&groups, id).await;
    }
    let id: uuid::Uuid = id.parse().map_err(|_| anyhow::anyhow!("{id:?} is not an event id (a UUID)"))?;
    let backend = Backend::open(settings).await?;
    let replayed = backend.outbox().replay_event(id).await;
    backend.close().await;
    replayed
}

/// The groups' names, for a message that names what was searched.
pub fn searched(settings: &Settings) -> String {
    if let Ok(Some((_, groups))) = kafka(settings) {
        return groups.iter().map(|g| g.dead.clone()).collect::<Vec<_>>().join(", ");
    }
    match rabbit(settings) {
        Some((_, queues)) => queues.iter().map(|q| q.dead.clone()).collect::<Vec<_>>().join(", "),
        None => "the outbox".into(),
    }
}
