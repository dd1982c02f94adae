//! Notifications: the messages a shop sends its customers when something
//! happens to them (welcome, order confirmed, shipped, cancelled, refunded),
//! made from the events the other contexts publish, and the delivery log
//! that records each one.
//!
//! A message is recorded once per (event, template): the log's unique key
//! makes a redelivered event a no-op, so the consumer needs no other
//! deduplication. The embedded shop has no mail server: its transport is
//! the log itself (status `logged`), echoed to the console. Sending over
//! SMTP or SMS is not built yet.

pub mod model;
pub mod service;
pub mod store;
pub mod templates;

pub use model::*;
pub use service::NotificationService;
pub use store::{NotificationFilter, NotificationStore};
pub use templates::{Message, message_for};

/// The topics this context reacts to.
pub const TOPICS: [&str; 6] =
    ["user.registered", "user.deleted", "order.paid", "order.shipped", "order.cancelled", "order.refunded"];
