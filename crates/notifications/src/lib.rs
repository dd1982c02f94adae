//! Notifications: the messages a shop sends its customers when something
//! happens to them (welcome, order confirmed, shipped, cancelled, refunded),
//! made from the events the other contexts publish, and the delivery log
//! that records each one.
//!
//! A message is recorded once per (event, template, channel): the log's
//! unique key makes a redelivered event a no-op, so the consumer needs no
//! other deduplication. Recording is all the event's handling does; the
//! [`Dispatcher`] then sends what is `pending` through the channel's
//! [`Sender`] (SMTP, an SMS provider: adapters in `crates/senders`), with
//! retries. A channel without a server (the embedded shop) keeps the log
//! itself as the delivery (status `logged`), echoed to the console.

pub mod delivery;
pub mod model;
pub mod service;
pub mod store;
pub mod templates;

pub use delivery::{Dispatcher, RetryPolicy, SendError, Sender, Senders};
pub use model::*;
pub use service::{FixedStaff, NotificationService, StaffDirectory};
pub use store::{NotificationFilter, NotificationStore};
pub use templates::{Context, Message, TEMPLATES, TOPICS, messages_for};
