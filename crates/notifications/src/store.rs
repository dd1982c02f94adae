//! The storage port of the delivery log.

use crate::model::{DeliveryStatus, Notification};
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
    /// Newest first, with the total count.
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: PageSpec,
    ) -> anyhow::Result<(Vec<Notification>, u64)>;
    /// Blanks the address and body of every message to a deleted account;
    /// how many were blanked.
    async fn redact_user(&self, user_id: Uuid) -> anyhow::Result<u64>;
}
