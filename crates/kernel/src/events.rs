//! The event envelope carried from the outbox to every consumer.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A fact about a change, written in the same transaction as the change.
/// Consumers deduplicate on `id`: delivery is at-least-once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    /// Dotted name, e.g. `user.registered`.
    pub topic: String,
    /// The aggregate the event is about (user id, order id, ...).
    pub aggregate_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub payload: serde_json::Value,
}

impl Event {
    pub fn new(topic: &str, aggregate_id: Uuid, occurred_at: OffsetDateTime, payload: serde_json::Value) -> Self {
        Event { id: crate::new_id(), topic: topic.to_owned(), aggregate_id, occurred_at, payload }
    }
}
