//! Catalog: sellers, the category tree, products with options and variants,
//! images, reviews, wishlists and the store locator.
//!
//! The crate knows nothing of HTTP or SQL. `CatalogService` holds the rules
//! (validation, slugs, tree moves, one review per customer); `CatalogStore` is
//! the storage port the `store-*` crates implement. Two ports reach other
//! contexts: `PurchaseVerifier` (orders: did this customer buy it?) and
//! `StockLevels` (inventory: what can be sold?). Until those contexts exist
//! their stand-ins answer "no purchase" and "not tracked, always available".

pub mod card;
pub mod error;
pub mod geo;
pub mod input;
pub mod media_path;
pub mod model;
pub mod ports;
pub mod service;
pub mod slug;
pub mod store;

pub use card::ProductCard;
pub use error::CatalogError;
pub use input::*;
pub use media_path::{MEDIA_PATH, media_url};
pub use model::*;
pub use ports::{NoOrdersYet, PurchaseVerifier, StockLevels, UntrackedStock};
pub use service::{
    CatalogService, NewImage, build_tree, category_path, descendants, display_name as display_name_for_seed,
};
pub use store::{CatalogStore, DeleteOutcome, ProductFilter, ReviewFilter, StoreError, StoreResult};

/// Topics this context publishes. Every payload carries `product_id` (or
/// `category_id`) so consumers reload the current state instead of trusting
/// a possibly stale copy.
pub mod topics {
    pub const PRODUCT_CREATED: &str = "product.created";
    pub const PRODUCT_UPDATED: &str = "product.updated";
    pub const PRODUCT_DELETED: &str = "product.deleted";
    pub const CATEGORY_CHANGED: &str = "category.changed";
    pub const REVIEW_CREATED: &str = "review.created";
    pub const REVIEW_UPDATED: &str = "review.updated";
}
