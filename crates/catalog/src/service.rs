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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
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
    /// How long a SKU's availability may be reused (zero: always ask inventory).
    stock_ttl: Duration,
    caches: Arc<Caches>,
}

/// Every invalidation bumps `generation`. A reader notes it before going to
/// the store and fills the cache only if it has not moved, so a read that
/// raced a write can never put the old row back after the write evicted it.
#[derive(Default)]
struct Caches {
    generation: AtomicU64,
    categories: RwLock<Option<Arc<Vec<Category>>>>,
    products: RwLock<HashMap<Uuid, Arc<Product>>>,
    slugs: RwLock<HashMap<String, Uuid>>,
    /// Variant id → its product id (never changes, so never stale).
    variant_products: RwLock<HashMap<Uuid, Uuid>>,
    /// SKU → (product id, variant id). A SKU can move to another variant, so
    /// a hit counts only if the (cached, event-evicted) product still gives
    /// that variant this SKU; otherwise the store is asked.
    sku_variants: RwLock<HashMap<String, (Uuid, Uuid)>>,
    /// SKU → (when read, units available; `None` when not tracked). Evicted
    /// by `invalidate_stock` (every `stock.changed` event) and by age.
    stock: RwLock<HashMap<String, (Instant, Option<i64>)>>,
    /// Like `generation`, for the stock cache alone: stock moves on every
    /// sale and must not empty the product cache.
    stock_generation: AtomicU64,
}

/// Above this many cached SKUs, the expired ones are dropped (and, if that
/// frees too little, all of them) before more are added.
const STOCK_CACHE_CAPACITY: usize = 200_000;

impl Caches {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called with the evicted cache's write lock held.
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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
        CatalogService { store, clock, purchases, stock, stock_ttl: Duration::ZERO, caches: Arc::default() }
    }

    /// Reuses each SKU's availability for up to `ttl` (product pages read it
    /// on every view). A `stock.changed` event evicts the SKU at once (see
    /// `invalidate_stock`), so `ttl` only bounds how stale a page can be when
    /// an event is late. Checkout never reads this cache.
    pub fn with_stock_cache_ttl(mut self, ttl: Duration) -> Self {
        self.stock_ttl = ttl;
        self
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
    /// Served from the stock cache when it is on (see `with_stock_cache_ttl`).
    pub async fn availability(&self, product: &Product) -> Result<HashMap<String, Option<i64>>> {
        let skus: Vec<String> = product.variants.iter().map(|v| v.sku.clone()).collect();
        if self.stock_ttl.is_zero() {
            return self.availability_of(&skus).await;
        }
        let now = Instant::now();
        if let Ok(cache) = self.caches.stock.read() {
            let fresh = |sku: &String| cache.get(sku).filter(|(at, _)| now.duration_since(*at) < self.stock_ttl);
            if let Some(found) = skus.iter().map(|sku| fresh(sku).map(|(_, n)| (sku.clone(), *n))).collect() {
                return Ok(found);
            }
        }
        let generation = self.caches.stock_generation.load(Ordering::Acquire);
        let levels = self.availability_of(&skus).await?;
        if let Ok(mut cache) = self.caches.stock.write()
            && self.caches.stock_generation.load(Ordering::Acquire) == generation
        {
            if cache.len() + levels.len() > STOCK_CACHE_CAPACITY {
                cache.retain(|_, (at, _)| now.duration_since(*at) < self.stock_ttl);
                if cache.len() + levels.len() > STOCK_CACHE_CAPACITY {
                    cache.clear();
                }
            }
            for (sku, n) in &levels {
                cache.insert(sku.clone(), (now, *n));
            }
        }
        Ok(levels)
    }

    /// Units available per SKU, asked of inventory (no cache): one call for
    /// any number of SKUs, so a batch of products costs one round trip.
    pub async fn availability_of(&self, skus: &[String]) -> Result<HashMap<String, Option<i64>>> {
        let levels = self.stock.available(skus).await?;
        Ok(skus.iter().map(|sku| (sku.clone(), levels.get(sku).copied())).collect())
    }

    /// Forgets a SKU's cached availability (called for every `stock.changed`
    /// event, on every node).
    pub fn invalidate_stock(&self, sku: &str) {
        if let Ok(mut cache) = self.caches.stock.write() {
            cache.remove(sku);
            self.caches.stock_generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}
