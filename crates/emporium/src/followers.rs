//! Consumers that keep one context's copy of another's data in step, or
//! hand one context's events to another, wired here because they join
//! contexts that do not know each other.

use crate::shop::Shop;
use anyhow::Context as _;
use async_trait::async_trait;
use catalog::CatalogService;
use inventory::InventoryService;
use kernel::Event;
use messaging::Consumer;
use std::sync::Arc;
use uuid::Uuid;

/// The consumers of the shop's events that go with `served`, whichever bus
/// feeds them: the search index (per node, with the catalogue or the
/// pages), the mailer (notifications), the SKU follower (inventory) and,
/// on every node, the account follower.
/// (The event log is written by the relay as it publishes.)
pub fn consumers(shop: &Shop, served: &web::Served) -> Vec<Arc<dyn Consumer>> {
    use web::Service;
    let mut consumers: Vec<Arc<dyn Consumer>> = Vec::new();
    if served.contains(Service::Catalog) || served.contains(Service::Storefront) {
        consumers.push(Arc::new(shop.feed.clone()));
    }
    if served.contains(Service::Notifications) {
        consumers.push(Arc::new(Mailer(shop.notifications.clone())));
    }
    if served.contains(Service::Inventory) {
        consumers.push(Arc::new(SkuFollower { catalog: shop.catalog.clone(), inventory: shop.inventory.clone() }));
    }
    // Every process checks tokens, so every one follows account changes.
    consumers.push(Arc::new(AccountFollower(shop.identity.clone())));
    consumers
}

/// A consumer group as the broker knows it (name, reach, patterns), for
/// the commands that read its queues without running its consumer.
pub struct Group {
    pub name: &'static str,
    pub reach: messaging::Reach,
    pub patterns: Vec<&'static str>,
}

#[async_trait]
impl Consumer for Group {
    fn name(&self) -> &str {
        self.name
    }
    fn wants(&self, _topic: &str) -> bool {
        false
    }
    fn reach(&self) -> messaging::Reach {
        self.reach
    }
    fn patterns(&self) -> Vec<&'static str> {
        self.patterns.clone()
    }
    async fn handle(&self, _event: &Event) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The groups of [`consumers`], known without a shop (the test
/// `consumer_groups_are_the_consumers` holds the two lists equal).
pub fn groups() -> Vec<Group> {
    use messaging::Reach::{PerNode, PerShop};
    vec![
        Group { name: "search-index", reach: PerNode, patterns: search::CatalogFeed::PATTERNS.to_vec() },
        Group { name: "notifications", reach: PerShop, patterns: notifications::TOPICS.to_vec() },
        Group { name: "inventory-sku", reach: PerShop, patterns: vec![catalog::topics::PRODUCT_UPDATED] },
        Group { name: "accounts", reach: PerNode, patterns: AccountFollower::TOPICS.to_vec() },
    ]
}

/// Inventory keeps each stock level's SKU beside its variant id (availability
/// is asked by SKU). When the catalogue renames a variant's SKU, its
/// `product.updated` event says so (`sku_changed`) and this gives the levels
/// the variant's SKU as the catalogue has it *now*, so repeated or
/// out-of-order events end in the same place.
pub struct SkuFollower {
    pub catalog: CatalogService,
    pub inventory: InventoryService,
}

#[async_trait]
impl Consumer for SkuFollower {
    fn name(&self) -> &str {
        "inventory-sku"
    }

    fn wants(&self, topic: &str) -> bool {
        topic == catalog::topics::PRODUCT_UPDATED
    }

    fn patterns(&self) -> Vec<&'static str> {
        vec![catalog::topics::PRODUCT_UPDATED]
    }

    /// It re-reads the catalogue every time, so a repeat is harmless.
    fn naturally_idempotent(&self) -> bool {
        true
    }

    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        let Some(changed) = event.payload.get("sku_changed") else { return Ok(()) };
        let variant_id: Uuid =
            serde_json::from_value(changed["variant_id"].clone()).context("sku_changed.variant_id")?;
        let product = match self.catalog.product(event.aggregate_id).await {
            Ok(product) => product,
            Err(catalog::CatalogError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Some(variant) = product.variants.iter().find(|v| v.id == variant_id) else { return Ok(()) };
        self.inventory.follow_sku(variant_id, &variant.sku).await?;
        Ok(())
    }
}

/// On every node: an account changed or erased on identity is forgotten by
/// this node's account cache, so a suspension or a role change applies to
/// the next request here, within the event's delivery time, instead of
/// after `EMPORIUM_ACCOUNT_CACHE_TTL_MS`.
pub struct AccountFollower(pub identity::IdentityService);

impl AccountFollower {
    pub const TOPICS: [&'static str; 2] = [identity::topics::USER_UPDATED, identity::topics::USER_DELETED];
}

#[async_trait]
impl Consumer for AccountFollower {
    fn name(&self) -> &str {
        "accounts"
    }

    fn wants(&self, topic: &str) -> bool {
        Self::TOPICS.contains(&topic)
    }

    fn reach(&self) -> messaging::Reach {
        messaging::Reach::PerNode
    }

    fn patterns(&self) -> Vec<&'static str> {
        Self::TOPICS.to_vec()
    }

    /// Forgetting twice is forgetting once.
    fn naturally_idempotent(&self) -> bool {
        true
    }

    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        // The subject of a `user.*` event is the user.
        self.0.forget_account(event.aggregate_id);
        Ok(())
    }
}

/// Hands the events that concern a customer to the notifications context,
/// which records each message once in its delivery log (its unique key
/// makes a repeat a no-op).
pub struct Mailer(pub notifications::NotificationService);

#[async_trait]
impl Consumer for Mailer {
    fn name(&self) -> &str {
        "notifications"
    }

    fn wants(&self, topic: &str) -> bool {
        notifications::TOPICS.contains(&topic)
    }

    fn patterns(&self) -> Vec<&'static str> {
        notifications::TOPICS.to_vec()
    }

    fn naturally_idempotent(&self) -> bool {
        true
    }

    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }

    /// One insert for a relay batch's messages. Its only failures are the
    /// database's (the log, the staff list), never the event's: marked
    /// so, a broker's consumer reads the event again once the database is
    /// back instead of counting it towards the dead letters.
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        self.0.handle_batch(events).await.map_err(|e| e.context(messaging::RecordFailed))
    }
}
