//! The storage port of the delivery log.

use crate::model::{Channel, DeliveryStatus, Notification, Outcome};
use async_trait::async_trait;
use kernel::PageSpec;
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Case-insensitive substring of the recipient or the subject.
    pub q: Option<String>,
    pub template: Option<String>,
    pub status: Option<DeliveryStatus>,
}

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Records each of `list` unless the log already holds its (event,
    /// template), in one statement; the ids of those that were new.
    async fn record(&self, list: &[Notification]) -> anyhow::Result<Vec<Uuid>>;
    /// Takes the pending messages on `channels` due at `now` (oldest
    /// first, at most `limit`, none another node holds): each one's tries
    /// go up by one and its `next_attempt_at` moves to `until`, so no one
    /// else takes it before its sender has answered or died.
    async fn claim_due(
        &self,
        channels: &[Channel],
        now: time::OffsetDateTime,
        until: time::OffsetDateTime,
        limit: u32,
    ) -> anyhow::Result<Vec<Notification>>;
    /// Records how try number `attempt` of a claimed message went, unless
    /// the message has been claimed again since (its claim lapsed): whether
    /// it was recorded.
    async fn settle(&self, id: Uuid, attempt: u32, outcome: &Outcome) -> anyhow::Result<bool>;
    /// Newest first, with the total count.
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: PageSpec,
    ) -> anyhow::Result<(Vec<Notification>, u64)>;
    /// Blanks the address and body of every message to a deleted account,
    /// and skips those not sent yet; how many were blanked.
    async fn redact_user(&self, user_id: Uuid) -> anyhow::Result<u64>;
}
