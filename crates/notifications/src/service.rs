use crate::model::{Channel, DeliveryStatus, Notification};
use crate::store::{NotificationFilter, NotificationStore};
use crate::templates::message_for;
use kernel::clock::SharedClock;
use kernel::{Event, Page, PageSpec, new_id};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    clock: SharedClock,
    shop_name: Arc<str>,
}

impl std::fmt::Debug for NotificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationService").field("shop_name", &self.shop_name).finish_non_exhaustive()
    }
}

impl NotificationService {
    pub fn new(store: Arc<dyn NotificationStore>, clock: SharedClock, shop_name: &str) -> Self {
        NotificationService { store, clock, shop_name: shop_name.into() }
    }

    /// Acts on one event: see [`NotificationService::handle_batch`].
    pub async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }

    /// Acts on events in order: records (and delivers) the message each
    /// calls for, in one insert per run of messages, and for a deleted
    /// account blanks the messages sent to it. Safe to repeat: a message
    /// already in the log is not sent again.
    pub async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        let mut pending = Vec::new();
        for event in events {
            if event.topic == "user.deleted" {
                // What came before the erasure is recorded first, then blanked.
                self.record(std::mem::take(&mut pending)).await?;
                let user_id: Option<Uuid> =
                    event.payload.get("user_id").and_then(|v| serde_json::from_value(v.clone()).ok());
                if let Some(user_id) = user_id {
                    self.store.redact_user(user_id).await?;
                }
            } else if let Some(message) = message_for(event, &self.shop_name) {
                pending.push(Notification {
                    id: new_id(),
                    event_id: event.id,
                    template: message.template.to_owned(),
                    channel: Channel::Email,
                    recipient: message.recipient,
                    user_id: message.user_id,
                    subject: message.subject,
                    body: message.body,
                    // No mail server yet: the log is the delivery.
                    status: DeliveryStatus::Logged,
                    transport: "log".to_owned(),
                    error: None,
                    created_at: self.clock.now(),
                });
            }
        }
        self.record(pending).await
    }

    /// Records `list`; echoes those new to the log on the console.
    async fn record(&self, list: Vec<Notification>) -> anyhow::Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        let new = self.store.record(&list).await?;
        for n in list.iter().filter(|n| new.contains(&n.id)) {
            tracing::info!(
                target: "emporium::mail",
                template = %n.template,
                to = %n.recipient,
                subject = %n.subject,
                "email logged (no mail server configured)\n{}",
                n.body
            );
        }
        Ok(())
    }

    /// The delivery log, newest first.
    pub async fn list(&self, filter: &NotificationFilter, spec: PageSpec) -> anyhow::Result<Page<Notification>> {
        let (items, total) = self.store.notifications(filter, spec).await?;
        Ok(Page::new(items, spec, total))
    }
}
