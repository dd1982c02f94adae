//! What the catalog asks of other contexts.

use async_trait::async_trait;
use std::collections::HashMap;
use uuid::Uuid;

/// Orders: has this customer bought this product (a delivered or paid order)?
#[async_trait]
pub trait PurchaseVerifier: Send + Sync + 'static {
    async fn has_purchased(&self, user_id: Uuid, product_id: Uuid) -> anyhow::Result<bool>;
}

/// Stand-in until the orders context exists: nobody has bought anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOrdersYet;

#[async_trait]
impl PurchaseVerifier for NoOrdersYet {
    async fn has_purchased(&self, _user_id: Uuid, _product_id: Uuid) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// Inventory: units available to sell per SKU. A SKU missing from the
/// answer is not tracked and always available (Shopify's "don't track").
#[async_trait]
pub trait StockLevels: Send + Sync + 'static {
    async fn available(&self, skus: &[String]) -> anyhow::Result<HashMap<String, i64>>;
}

/// Stand-in until the inventory context exists: nothing is tracked.
#[derive(Debug, Default, Clone, Copy)]
pub struct UntrackedStock;

#[async_trait]
impl StockLevels for UntrackedStock {
    async fn available(&self, _skus: &[String]) -> anyhow::Result<HashMap<String, i64>> {
        Ok(HashMap::new())
    }
}
