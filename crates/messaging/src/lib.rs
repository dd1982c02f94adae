//! Events between contexts: the transactional outbox, the relay that drains
//! it, and the bus that delivers to consumers.
//!
//! A context writes its state change and an outbox row in one database
//! transaction. The [`Relay`] publishes pending rows to a [`Bus`] and marks
//! them published only after the bus accepted them, so delivery is
//! at-least-once. Consumers see each event id once: the bus records
//! `(consumer, event id)` after a successful handling and skips repeats.

mod bus;
pub mod envelope;
mod reconnect;
mod relay;

pub use bus::{Bus, Consumer, InProcessBus, Reach, RecordFailed, deliver, handle_once};
pub use reconnect::{Backoff, reconnect};
pub use relay::{Relay, RelayHandle};

use async_trait::async_trait;
use kernel::Event;
use time::OffsetDateTime;
use uuid::Uuid;

/// The storage side of messaging, implemented by each `store-*` crate.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Oldest unpublished events first, at most `limit`.
    async fn pending_events(&self, limit: u32) -> anyhow::Result<Vec<Event>> {
        self.pending_events_from(Uuid::nil(), limit).await
    }
    /// Oldest unpublished events with an id from `from` on, at most `limit`.
    /// Event ids are UUIDv7, so this skips the index entries of everything
    /// published before `from`'s instant (see `Relay`).
    async fn pending_events_from(&self, from: Uuid, limit: u32) -> anyhow::Result<Vec<Event>>;
    async fn mark_published(&self, ids: &[Uuid], at: OffsetDateTime) -> anyhow::Result<()>;
    /// Counts a failed delivery attempt and keeps the error for operators.
    async fn record_failure(&self, id: Uuid, error: &str) -> anyhow::Result<()>;
    async fn is_processed(&self, consumer: &str, event_id: Uuid) -> anyhow::Result<bool>;
    /// Records that `consumer` handled `event_id`; a repeat is a no-op.
    async fn mark_processed(&self, consumer: &str, event_id: Uuid, at: OffsetDateTime) -> anyhow::Result<()>;
    /// Takes the lease `name` for `holder` until `until` if it is free
    /// (expired by `now`) or `holder`'s already; whether `holder` holds it.
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> anyhow::Result<bool>;
    /// Events the relay stopped retrying (failed too many times), oldest
    /// first: the in-process bus's dead letters.
    async fn dead_events(&self, limit: u32) -> anyhow::Result<Vec<DeadEvent>>;
    /// Puts dead event `id` back in line for the relay, its failures
    /// forgotten; whether there was such a dead event.
    async fn replay_event(&self, id: Uuid) -> anyhow::Result<bool>;
    /// Housekeeping: deletes at most `limit` published events older than
    /// `before`, and as many consumer records made before it (an event that
    /// old is never delivered again). How many events went.
    async fn prune(&self, before: OffsetDateTime, limit: u32) -> anyhow::Result<u64>;
}

/// An event the relay gave up on, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadEvent {
    pub event: Event,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An event a broker's consumer group gave up on (its dead letters), as
/// both broker adapters list it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Where it died: the group's queue (RabbitMQ) or group id (Kafka).
    pub place: String,
    /// The event's id (the message id, or the record's key).
    pub id: String,
    /// The event, when the message could be read.
    pub event: Option<Event>,
    pub attempts: i64,
    pub error: Option<String>,
}

/// The smallest UUIDv7 of `at`'s millisecond: every event id made at or
/// after `at` is above it (ids are time-ordered).
pub fn first_id_at(at: OffsetDateTime) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}
