//! Keeps the index in step with the catalog: builds documents from
//! products, rebuilds everything when the index is missing or stale, and
//! applies catalog events as they arrive through the outbox.

use crate::{SearchDoc, SearchIndex};
use anyhow::Context as _;
use async_trait::async_trait;
use catalog::{CatalogService, Category, Product, ProductCard, ProductStatus, topics};
use kernel::Event;
use messaging::Consumer;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// Products read from the database per batch while rebuilding.
const BATCH: u32 = 1_000;

#[derive(Clone, Debug)]
pub struct CatalogFeed {
    catalog: CatalogService,
    index: SearchIndex,
}

impl CatalogFeed {
    pub fn new(catalog: CatalogService, index: SearchIndex) -> Self {
        CatalogFeed { catalog, index }
    }

    /// The search document of each product the storefront shows (`None`
    /// for drafts, archived products and products without variants), their
    /// stock read in one call.
    async fn documents(&self, products: &[Product], categories: &[Category]) -> anyhow::Result<Vec<Option<SearchDoc>>> {
        let listed = |p: &&Product| p.status == ProductStatus::Active && !p.variants.is_empty();
        let skus: Vec<String> =
            products.iter().filter(listed).flat_map(|p| p.variants.iter().map(|v| v.sku.clone())).collect();
        let levels = if skus.is_empty() { HashMap::new() } else { self.catalog.availability_of(&skus).await? };
        products
            .iter()
            .map(|p| if listed(&p) { document(p, categories, &levels).map(Some) } else { Ok(None) })
            .collect()
    }

    /// Rebuilds the index from every product unless it already reflects the
    /// catalog's current revision. Returns the number of documents when it rebuilt.
    pub async fn ensure_fresh(&self) -> anyhow::Result<Option<u64>> {
        let current = self.catalog.store().catalog_fingerprint().await?;
        if self.index.fingerprint().as_deref() == Some(current.as_str()) {
            return Ok(None);
        }
        tracing::info!(index = ?self.index.fingerprint(), catalog = %current, "search index is missing or stale; rebuilding");
        Ok(Some(self.reindex(|_| {}).await?))
    }

    /// Replaces the whole index with the catalog's active products.
    /// `progress` hears the number of products read so far.
    pub async fn reindex(&self, mut progress: impl FnMut(u64) + Send) -> anyhow::Result<u64> {
        // Read the revision first: a change made while we read has its own
        // event still to come, so the index can only be newer than it says.
        let fingerprint = self.catalog.store().catalog_fingerprint().await?;
        self.catalog.invalidate_categories();
        let categories = self.catalog.categories().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SearchDoc>(4_096);
        let index = self.index.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let docs = std::iter::from_fn(move || rx.blocking_recv());
            index.rebuild(docs, &fingerprint, &mut |_| {})
        });
        let mut after = None;
        let mut read = 0u64;
        let mut indexed = 0u64;
        loop {
            let products = self.catalog.store().products_after(after, BATCH).await?;
            let Some(last) = products.last() else { break };
            after = Some(last.id);
            for doc in self.documents(&products, &categories).await?.into_iter().flatten() {
                indexed += 1;
                if tx.send(doc).await.is_err() {
                    break; // The writer failed; its error is reported below.
                }
            }
            read += products.len() as u64;
            progress(read);
        }
        drop(tx);
        writer.await.context("the index writer panicked")??;
        Ok(indexed)
    }

    /// Re-reads these products and updates or removes their documents.
    pub async fn refresh(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        let fingerprint = self.catalog.store().catalog_fingerprint().await?;
        let categories = self.catalog.categories().await?;
        let (mut products, mut deletes) = (Vec::new(), Vec::new());
        for id in ids {
            self.catalog.invalidate_product(*id);
            match self.catalog.store().product(*id).await? {
                Some(p) => products.push(p),
                None => deletes.push(*id),
            }
        }
        let mut upserts = Vec::new();
        for (product, doc) in products.iter().zip(self.documents(&products, &categories).await?) {
            match doc {
                Some(doc) => upserts.push(doc),
                None => deletes.push(product.id),
            }
        }
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.apply(upserts, &deletes, Some(&fingerprint)))
            .await
            .context("the index writer panicked")?
    }
}

impl CatalogFeed {
    /// What it wants, as broker binding patterns.
    pub const PATTERNS: [&'static str; 4] = ["product.*", "review.*", topics::CATEGORY_CHANGED, STOCK_CHANGED];
}

#[async_trait]
impl Consumer for CatalogFeed {
    fn name(&self) -> &str {
        "search-index"
    }

    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("product.")
            || topic.starts_with("review.")
            || topic == topics::CATEGORY_CHANGED
            || topic == STOCK_CHANGED
    }

    /// The index and the catalogue's caches live in the node: every node
    /// must see every change.
    fn reach(&self) -> messaging::Reach {
        messaging::Reach::PerNode
    }

    fn patterns(&self) -> Vec<&'static str> {
        Self::PATTERNS.to_vec()
    }

    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }

    /// Every event re-reads the product as it is now into the index.
    fn naturally_idempotent(&self) -> bool {
        true
    }

    /// One index commit for the whole batch (a commit costs 60-130 ms however
    /// few documents it holds), except category moves, which re-index every
    /// product below the category in chunks.
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for event in events {
            if event.topic == topics::CATEGORY_CHANGED {
                self.category_changed(event).await?;
            } else if event.topic == STOCK_CHANGED {
                if let Some(sku) = event.payload.get("sku").and_then(serde_json::Value::as_str) {
                    self.catalog.invalidate_stock(sku);
                }
                // Only a variant selling out or coming back changes its product's `in_stock`.
                let available = |key: &str| event.payload.get(key).and_then(serde_json::Value::as_i64);
                let crossed = match (available("previous_available"), available("available")) {
                    (Some(before), Some(after)) => (before > 0) != (after > 0),
                    _ => true,
                };
                if crossed
                    && let Some(variant) = self.catalog.store().variant(event.aggregate_id).await?
                    && seen.insert(variant.product_id)
                {
                    ids.push(variant.product_id);
                }
            } else if seen.insert(event.aggregate_id) {
                ids.push(event.aggregate_id);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.refresh(&ids).await
    }
}

/// inventory's topic (search does not depend on the inventory crate).
const STOCK_CHANGED: &str = "stock.changed";

impl CatalogFeed {
    async fn category_changed(&self, event: &Event) -> anyhow::Result<()> {
        self.catalog.invalidate_categories();
        // Documents hold category ids, not names: only a move (which
        // changes the path of every product below) needs re-indexing.
        if event.payload.get("moved").and_then(serde_json::Value::as_bool) == Some(false) {
            return Ok(());
        }
        let categories = self.catalog.categories().await?;
        let below = catalog::descendants(&categories, event.aggregate_id);
        let ids = self.catalog.store().product_ids_in_categories(&below).await?;
        for chunk in ids.chunks(BATCH as usize) {
            self.refresh(chunk).await?;
        }
        Ok(())
    }
}

/// A product's search document; `levels` holds the units available of (at
/// least) its SKUs, `None` for those inventory does not track.
fn document(
    product: &Product,
    categories: &[Category],
    levels: &HashMap<String, Option<i64>>,
) -> anyhow::Result<SearchDoc> {
    let in_stock = product.variants.iter().any(|v| levels.get(&v.sku).copied().flatten().is_none_or(|q| q > 0));
    let card = ProductCard::new(product, in_stock);
    let mut options = BTreeSet::new();
    for v in &product.variants {
        for (name, value) in &v.options {
            options.insert((name.to_lowercase(), value.clone()));
        }
    }
    Ok(SearchDoc {
        id: product.id,
        title: product.title.clone(),
        description: product.description.clone(),
        tags: product.tags.clone(),
        seller_id: product.seller_id,
        category_path: product.category_id.map(|c| catalog::category_path(categories, c)).unwrap_or_default(),
        options: options.into_iter().collect(),
        prices: product.variants.iter().map(|v| v.price.amount).collect(),
        in_stock,
        rating_avg: product.rating.average,
        rating_count: product.rating.count,
        // Microseconds: products made in the same second still sort newest first.
        created_at: (product.created_at.unix_timestamp_nanos() / 1_000) as i64,
        summary_json: serde_json::to_string(&card)?,
    })
}
