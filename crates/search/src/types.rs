//! The crate's public data types: what goes into the index and what comes out of a search.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One product as the index sees it. Built by the caller from the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDoc {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub seller_id: Uuid,
    /// The product's category and all its ancestors (root first); empty when uncategorised.
    pub category_path: Vec<Uuid>,
    /// Every (option name, value) pair used by any variant, e.g. ("size","M"), ("colour","Red").
    /// Names are trimmed and lower-cased; values are trimmed and compared case-insensitively
    /// (the first spelling seen in a product is the one shown in facets).
    pub options: Vec<(String, String)>,
    /// Every variant's price in minor units. Non-empty for listable products.
    pub prices: Vec<i64>,
    pub in_stock: bool,
    /// 0.0 when no reviews.
    pub rating_avg: f64,
    pub rating_count: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// Opaque JSON handed back in hits (the listing card). Stored, not indexed.
    pub summary_json: String,
}

/// Result order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Score descending, ties by newest. Without text every score is equal, so this is "newest".
    #[default]
    Relevance,
    /// Cheapest variant price ascending (products without a price last), ties by newest.
    PriceAsc,
    /// Cheapest variant price ("from" price) descending (products without a price last), ties by newest.
    PriceDesc,
    /// `created_at` descending.
    Newest,
    /// `rating_avg` descending, then `rating_count` descending, then newest.
    Rating,
}

/// A search request. `SearchQuery::default()` matches everything, sorted by relevance, 20 per page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Full text; `None` or blank matches everything.
    pub text: Option<String>,
    /// Category filter; matches the category and its descendants (via `category_path`).
    pub category: Option<Uuid>,
    /// A product matches if ANY of its variant prices lies in `[min_price, max_price]` (inclusive).
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// e.g. `[("size", ["M","L"])]`: values of one option are OR-ed, options are AND-ed.
    /// Names compare case-insensitively, values case-insensitively after trimming. An entry with
    /// no values is ignored; entries repeating a name are merged (their values OR-ed).
    pub options: Vec<(String, Vec<String>)>,
    pub in_stock: Option<bool>,
    pub seller: Option<Uuid>,
    /// Leave this product out (for "related products").
    pub exclude: Option<Uuid>,
    pub sort: Sort,
    pub offset: usize,
    /// Page size; clamped to [`MAX_LIMIT`](crate::MAX_LIMIT).
    pub limit: usize,
    /// Price-facet boundaries, ascending, e.g. `[2500, 5000]` → buckets `[0,2500)`, `[2500,5000)`,
    /// `[5000,∞)`. Unsorted input is sorted; duplicates and non-positive values are dropped. Empty →
    /// no price facet.
    pub price_buckets: Vec<i64>,
    /// Compute facets (`SearchResults::facets`) or not.
    pub facets: bool,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: None,
            category: None,
            min_price: None,
            max_price: None,
            options: Vec::new(),
            in_stock: None,
            seller: None,
            exclude: None,
            sort: Sort::Relevance,
            offset: 0,
            limit: 20,
            price_buckets: Vec::new(),
            facets: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Number of matching products (all pages).
    pub total: u64,
    /// The requested page.
    pub hits: Vec<Hit>,
    /// `Some` when the query asked for facets.
    pub facets: Option<Facets>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: Uuid,
    /// Relevance score (BM25 with field boosts) when the query has text, else 0.
    pub score: f32,
    pub summary_json: String,
}

/// Disjunctive facet counts: each facet's counts apply every active filter except the facet's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    /// Every category appearing in a counted product's `category_path`, count descending, then id.
    pub categories: Vec<(Uuid, u64)>,
    /// Option name (sorted) → values with counts (count descending, then value). Zero counts omitted.
    pub options: Vec<(String, Vec<(String, u64)>)>,
    /// One entry per bucket of `SearchQuery::price_buckets`, empty buckets included.
    pub prices: Vec<PriceBucket>,
}

/// `[min, max)`; `max == None` is unbounded. Filtering with `min_price = min`, `max_price = max - 1`
/// reproduces `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBucket {
    pub min: i64,
    pub max: Option<i64>,
    pub count: u64,
}
