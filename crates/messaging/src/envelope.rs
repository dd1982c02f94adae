//! The wire form of an event on a broker (see `docs/events.md`): a small
//! envelope around the payload, close to CloudEvents' attributes, so a
//! consumer outside Emporium needs nothing of ours to read it.

use anyhow::Context as _;
use kernel::Event;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The envelope's own version: a consumer reading version 1 reads every
/// later 1.x, which only add fields (readers ignore fields they do not know).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The event's id (UUIDv7): the deduplication key, the same on every redelivery.
    pub id: Uuid,
    /// The event type, e.g. `order.paid`; the routing key on RabbitMQ.
    #[serde(rename = "type")]
    pub kind: String,
    /// The context that published it, e.g. `emporium/orders`.
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The aggregate it is about (order id, user id, variant id…); the
    /// message key on Kafka, so one aggregate's events stay in order.
    pub subject: Uuid,
    pub schema_version: u32,
    pub data: serde_json::Value,
}

/// The context that owns a topic, by the topic's first word.
pub fn context_of(topic: &str) -> &'static str {
    match topic.split('.').next().unwrap_or_default() {
        "user" => "identity",
        "order" | "cart" => "orders",
        "payment" => "payments",
        "stock" | "reservation" => "inventory",
        "product" | "category" | "review" => "catalog",
        _ => "emporium",
    }
}

/// The stream (Kafka topic, without its prefix) a topic is written to:
/// one per context, e.g. `order-events`.
pub fn stream_of(topic: &str) -> &'static str {
    match context_of(topic) {
        "identity" => "user-events",
        "orders" => "order-events",
        "payments" => "payment-events",
        "inventory" => "inventory-events",
        "catalog" => "catalog-events",
        _ => "other-events",
    }
}

/// Every stream, in the order `docs/events.md` lists them.
pub const STREAMS: [&str; 5] = ["user-events", "order-events", "payment-events", "inventory-events", "catalog-events"];

impl Envelope {
    pub fn of(event: &Event) -> Envelope {
        Envelope {
            id: event.id,
            kind: event.topic.clone(),
            source: format!("emporium/{}", context_of(&event.topic)),
            time: event.occurred_at,
            subject: event.aggregate_id,
            schema_version: SCHEMA_VERSION,
            data: event.payload.clone(),
        }
    }

    pub fn into_event(self) -> Event {
        Event { id: self.id, topic: self.kind, aggregate_id: self.subject, occurred_at: self.time, payload: self.data }
    }
}

/// The JSON bytes a broker carries for `event`.
pub fn encode(event: &Event) -> Vec<u8> {
    /// [`Envelope`] borrowing the event's fields, so that encoding does not
    /// copy the payload first (the same fields in the same order).
    #[derive(Serialize)]
    struct Outgoing<'a> {
        id: Uuid,
        #[serde(rename = "type")]
        kind: &'a str,
        source: &'a str,
        #[serde(with = "time::serde::rfc3339")]
        time: OffsetDateTime,
        subject: Uuid,
        schema_version: u32,
        data: &'a serde_json::Value,
    }
    let source = format!("emporium/{}", context_of(&event.topic));
    let outgoing = Outgoing {
        id: event.id,
        kind: &event.topic,
        source: &source,
        time: event.occurred_at,
        subject: event.aggregate_id,
        schema_version: SCHEMA_VERSION,
        data: &event.payload,
    };
    // Serialising a struct of strings, ids and a JSON value cannot fail.
    serde_json::to_vec(&outgoing).unwrap_or_default()
}

/// The event in `bytes`; fields it does not know are ignored.
pub fn decode(bytes: &[u8]) -> anyhow::Result<Event> {
    let envelope: Envelope = serde_json::from_slice(bytes).context("not an Emporium event envelope")?;
    Ok(envelope.into_event())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_survives_the_wire_and_unknown_fields_are_ignored() {
        let event = Event::new("order.paid", kernel::new_id(), OffsetDateTime::UNIX_EPOCH, json!({"number": "EM-1"}));
        let bytes = encode(&event);
        assert_eq!(
            bytes,
            serde_json::to_vec(&Envelope::of(&event)).unwrap(),
            "the borrowed encoding is the envelope's"
        );
        let wire: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(wire["type"], "order.paid");
        assert_eq!(wire["source"], "emporium/orders");
        assert_eq!(wire["time"], "1970-01-01T00:00:00Z");
        assert_eq!(wire["schema_version"], 1);
        assert_eq!(wire["subject"], json!(event.aggregate_id));
        assert_eq!(decode(&bytes).unwrap(), event);
        let mut newer = wire;
        newer["added_later"] = json!(true);
        assert_eq!(decode(&serde_json::to_vec(&newer).unwrap()).unwrap(), event);
        assert!(decode(b"{\"type\": \"order.paid\"}").is_err());
    }

    #[test]
    fn every_topic_has_its_context_and_stream() {
        for (topic, stream) in [
            ("user.registered", "user-events"),
            ("order.shipped", "order-events"),
            ("cart.converted", "order-events"),
            ("payment.refunded", "payment-events"),
            ("stock.low", "inventory-events"),
            ("reservation.expired", "inventory-events"),
            ("product.created", "catalog-events"),
            ("review.created", "catalog-events"),
            ("category.changed", "catalog-events"),
        ] {
            assert_eq!(stream_of(topic), stream, "{topic}");
            assert!(STREAMS.contains(&stream));
        }
    }
}
