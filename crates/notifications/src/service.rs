use crate::delivery::Senders;
use crate::model::{DeliveryStatus, Notification};
use crate::store::{NotificationFilter, NotificationStore};
use crate::templates::{Context, messages_for};
use async_trait::async_trait;
use kernel::clock::SharedClock;
use kernel::{Event, Page, PageSpec, new_id};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// Where staff alerts (low stock) go.
#[async_trait]
pub trait StaffDirectory: Send + Sync + 'static {
    async fn staff_emails(&self) -> anyhow::Result<Vec<String>>;
}

/// A fixed list of addresses (`EMPORIUM_STAFF_EMAIL`).
#[derive(Debug, Clone, Default)]
pub struct FixedStaff(pub Vec<String>);

#[async_trait]
impl StaffDirectory for FixedStaff {
    async fn staff_emails(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.0.clone())
    }
}

#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    clock: SharedClock,
    shop_name: Arc<str>,
    public_url: Arc<str>,
    staff: Arc<dyn StaffDirectory>,
    senders: Senders,
    /// The dispatcher's, woken when messages to send are recorded.
    waker: Option<Arc<Notify>>,
}

impl std::fmt::Debug for NotificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationService").field("shop_name", &self.shop_name).finish_non_exhaustive()
    }
}

impl NotificationService {
    /// A service that only logs (no servers), with no staff to alert and
    /// links relative to the shop; see the `with_` methods.
    pub fn new(store: Arc<dyn NotificationStore>, clock: SharedClock, shop_name: &str) -> Self {
        NotificationService {
            store,
            clock,
            shop_name: shop_name.into(),
            public_url: "".into(),
            staff: Arc::new(FixedStaff::default()),
            senders: Senders::default(),
            waker: None,
        }
    }

    /// Links in messages start with `url` (the shop's public address).
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.trim_end_matches('/').into();
        self
    }

    pub fn with_staff(mut self, staff: Arc<dyn StaffDirectory>) -> Self {
        self.staff = staff;
        self
    }

    /// Messages on a channel with a server are recorded `pending`, for the
    /// dispatcher (woken through `waker`) to send; the others are `logged`.
    pub fn with_senders(mut self, senders: Senders, waker: Arc<Notify>) -> Self {
        self.senders = senders;
        self.waker = Some(waker);
        self
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
        let staff =
            if events.iter().any(|e| e.topic == "stock.low") { self.staff.staff_emails().await? } else { Vec::new() };
        let cx = Context { shop: &self.shop_name, public_url: &self.public_url, staff: &staff };
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
                continue;
            }
            let now = self.clock.now();
            for message in messages_for(event, &cx) {
                let sender = self.senders.for_channel(message.channel);
                let (status, transport, error, next_attempt_at) = match (&message.skipped, sender) {
                    (Some(why), _) => (DeliveryStatus::Skipped, "none", Some(why.clone()), None),
                    (None, Some(sender)) => (DeliveryStatus::Pending, sender.transport(), None, Some(now)),
                    (None, None) => (DeliveryStatus::Logged, "log", None, None),
                };
                pending.push(Notification {
                    id: new_id(),
                    event_id: event.id,
                    template: message.template.to_owned(),
                    channel: message.channel,
                    recipient: message.recipient,
                    user_id: message.user_id,
                    subject: message.subject,
                    body: message.body,
                    html: message.html,
                    status,
                    transport: transport.to_owned(),
                    error,
                    attempts: 0,
                    next_attempt_at,
                    sent_at: None,
                    created_at: now,
                });
            }
        }
        self.record(pending).await
    }

    /// Records `list`; echoes those new that only go to the log to the
    /// console, and wakes the dispatcher for those to send.
    async fn record(&self, list: Vec<Notification>) -> anyhow::Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        let new = self.store.record(&list).await?;
        let mut to_send = false;
        for n in list.iter().filter(|n| new.contains(&n.id)) {
            match n.status {
                DeliveryStatus::Pending => to_send = true,
                DeliveryStatus::Logged => tracing::info!(
                    target: "emporium::mail",
                    template = %n.template,
                    channel = n.channel.as_str(),
                    to = %n.recipient,
                    subject = %n.subject,
                    "message logged (no server configured for its channel)\n{}",
                    n.body
                ),
                _ => {}
            }
        }
        if let (true, Some(waker)) = (to_send, &self.waker) {
            waker.notify_one();
        }
        Ok(())
    }

    /// The delivery log, newest first.
    pub async fn list(&self, filter: &NotificationFilter, spec: PageSpec) -> anyhow::Result<Page<Notification>> {
        let (items, total) = self.store.notifications(filter, spec).await?;
        Ok(Page::new(items, spec, total))
    }
}
