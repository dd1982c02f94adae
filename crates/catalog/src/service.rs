//! The catalog's use cases. Authorisation is the caller's job (the web layer
//! asks identity's permission table first); everything else — validation,
//! slugs, tree rules, one review per customer — is here.

mod categories;
mod products;
mod reviews;
mod sellers;
mod stores;

pub use categories::{build_tree, descendants, path as category_path};
pub use products::NewImage;
pub use reviews::display_name;

use crate::error::Result;
use crate::model::{Category, Product};
use crate::ports::{PurchaseVerifier, StockLevels};
use crate::store::CatalogStore;
use kernel::Event;
use kernel::clock::SharedClock;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Product pages are read far more than written: keep recently read
/// products in memory. Writes through this node evict at once; catalog
/// events evict on every node (see `invalidate_product`).
const PRODUCT_CACHE_CAPACITY: usize = 10_000;

#[derive(Clone)]
pub struct CatalogService {
    store: Arc<dyn CatalogStore>,
    clock: SharedClock,
    purchases: Arc<dyn PurchaseVerifier>,
    stock: Arc<dyn StockLevels>,
    caches: Arc<Caches>,
}

/// Every invalidation bumps `generation`. A reader notes it before going to
/// the store and fills the cache only if it has not moved, so a read that
/// raced a write can never put the old row back after the write evicted it.
#[derive(Default)]
struct Caches {
    generation: std::sync::atomic::AtomicU64,
    categories: RwLock<Option<Arc<Vec<Category>>>>,
    products: RwLock<HashMap<Uuid, Arc<Product>>>,
    slugs: RwLock<HashMap<String, Uuid>>,
    /// Variant id → its product id (never changes, so never stale).
    variant_products: RwLock<HashMap<Uuid, Uuid>>,
}

impl Caches {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Called with the evicted cache's write lock held.
    fn bump(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl std::fmt::Debug for CatalogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogService").finish_non_exhaustive()
    }
}

impl CatalogService {
    pub fn new(
        store: Arc<dyn CatalogStore>,
        clock: SharedClock,
        purchases: Arc<dyn PurchaseVerifier>,
        stock: Arc<dyn StockLevels>,
    ) -> Self {
        CatalogService { store, clock, purchases, stock, caches: Arc::default() }
    }

    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    /// Forgets a cached product (called for every catalog event, so other
    /// nodes see changes made elsewhere).
    pub fn invalidate_product(&self, id: Uuid) {
        if let (Ok(mut products), Ok(mut slugs)) = (self.caches.products.write(), self.caches.slugs.write()) {
            products.remove(&id);
            slugs.retain(|_, v| *v != id);
            self.caches.bump();
        }
    }

    pub fn invalidate_categories(&self) {
        if let Ok(mut categories) = self.caches.categories.write() {
            *categories = None;
            self.caches.bump();
        }
    }

    fn product_event(&self, topic: &str, product_id: Uuid) -> Event {
        self.invalidate_product(product_id);
        Event::new(topic, product_id, self.clock.now(), json!({ "product_id": product_id }))
    }

    /// Units available per SKU; `None` for SKUs inventory does not track.
    pub async fn availability(&self, product: &Product) -> Result<HashMap<String, Option<i64>>> {
        let skus: Vec<String> = product.variants.iter().map(|v| v.sku.clone()).collect();
        let levels = self.stock.available(&skus).await?;
        Ok(skus.into_iter().map(|sku| (levels.get(&sku).copied(), sku)).map(|(n, sku)| (sku, n)).collect())
    }
}
