//! The storage port. Methods are shaped like use cases: each one that writes
//! several rows (or a row and its outbox event) is one transaction.

use crate::model::*;
use async_trait::async_trait;
use kernel::{Event, PageSpec};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint failed; names the field ("slug", "sku", "review").
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A delete or move refused because other rows still point here.
    #[error("{0}")]
    InUse(&'static str),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Case-insensitive substring of title, slug or a SKU.
    pub q: Option<String>,
    pub status: Option<ProductStatus>,
    pub category_id: Option<Uuid>,
    pub seller_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct ReviewFilter {
    pub product_id: Option<Uuid>,
    pub status: Option<ReviewStatus>,
}

#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    // Sellers.
    /// Inserts `seller` as the default seller unless one exists; returns the default.
    async fn ensure_default_seller(&self, seller: &Seller) -> StoreResult<Seller>;
    async fn sellers(&self) -> StoreResult<Vec<Seller>>;
    async fn seller(&self, id: Uuid) -> StoreResult<Option<Seller>>;
    async fn insert_seller(&self, seller: &Seller) -> StoreResult<()>;
    async fn update_seller(&self, seller: &Seller) -> StoreResult<bool>;
    /// `InUse` while products belong to it.
    async fn delete_seller(&self, id: Uuid) -> StoreResult<DeleteOutcome>;

    // Categories.
    async fn categories(&self) -> StoreResult<Vec<Category>>;
    /// Inserts the category and gives its siblings the positions in
    /// `sibling_order` (which includes the new one), with `event`.
    async fn insert_category(&self, category: &Category, sibling_order: &[Uuid], event: &Event) -> StoreResult<()>;
    /// Saves the category (possibly under a new parent) and renumbers its
    /// new siblings in `sibling_order`, with `event`, in one transaction.
    async fn update_category(&self, category: &Category, sibling_order: &[Uuid], event: &Event) -> StoreResult<()>;
    /// `InUse` while it has children or products.
    async fn delete_category(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome>;

    // Products.
    /// Inserts the product with its variants and `event`.
    async fn insert_product(&self, product: &Product, event: &Event) -> StoreResult<()>;
    /// Saves the product's own fields (not variants or images) with `event`.
    async fn update_product(&self, product: &Product, event: &Event) -> StoreResult<bool>;
    async fn delete_product(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome>;
    /// The product with variants, images and rating summary.
    async fn product(&self, id: Uuid) -> StoreResult<Option<Product>>;
    async fn product_id_by_slug(&self, slug: &str) -> StoreResult<Option<Uuid>>;
    /// Products (with variants and images) for the admin list, newest first.
    async fn list_products(&self, filter: &ProductFilter, page: PageSpec) -> StoreResult<(Vec<Product>, u64)>;
    /// Up to `limit` products with id greater than `after`, in id order, fully loaded (for indexing).
    async fn products_after(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<Product>>;
    /// Ids of the products in any of these categories.
    async fn product_ids_in_categories(&self, category_ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// The variant with this SKU (exact match), of any product.
    async fn variant_by_sku(&self, sku: &str) -> StoreResult<Option<Variant>>;
    async fn variant(&self, id: Uuid) -> StoreResult<Option<Variant>>;
    /// A value that changes whenever anything the search index reflects changes.
    async fn catalog_fingerprint(&self) -> StoreResult<String>;

    // Variants: each also touches the product's `updated_at` and writes `event`.
    async fn insert_variant(&self, variant: &Variant, event: &Event) -> StoreResult<()>;
    async fn update_variant(&self, variant: &Variant, event: &Event) -> StoreResult<bool>;
    async fn delete_variant(&self, product_id: Uuid, variant_id: Uuid, event: &Event) -> StoreResult<DeleteOutcome>;

    // Images: `order` is the full new gallery order of the product.
    async fn insert_image(&self, image: &Image, order: &[Uuid], event: &Event) -> StoreResult<()>;
    async fn update_image(&self, image: &Image, order: &[Uuid], event: &Event) -> StoreResult<bool>;
    async fn delete_image(&self, product_id: Uuid, image_id: Uuid, event: &Event) -> StoreResult<DeleteOutcome>;

    // Reviews.
    /// `Duplicate("review")` when this customer already reviewed the product.
    async fn insert_review(&self, review: &Review, event: &Event) -> StoreResult<()>;
    async fn reviews(&self, filter: &ReviewFilter, page: PageSpec) -> StoreResult<(Vec<Review>, u64)>;
    async fn review(&self, id: Uuid) -> StoreResult<Option<Review>>;
    async fn set_review_status(&self, review: &Review, event: &Event) -> StoreResult<bool>;
    async fn delete_review(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome>;

    // Wishlists.
    async fn wishlist(&self, user_id: Uuid) -> StoreResult<Vec<WishlistItem>>;
    /// Idempotent: adding twice keeps the first date.
    async fn add_to_wishlist(&self, user_id: Uuid, item: &WishlistItem) -> StoreResult<()>;
    async fn remove_from_wishlist(&self, user_id: Uuid, product_id: Uuid) -> StoreResult<DeleteOutcome>;

    // Store locator.
    async fn stores(&self) -> StoreResult<Vec<Store>>;
    async fn insert_store(&self, store: &Store) -> StoreResult<()>;
    async fn update_store(&self, store: &Store) -> StoreResult<bool>;
    async fn delete_store(&self, id: Uuid) -> StoreResult<DeleteOutcome>;

    /// Bulk insert for seeding: products (with variants and images) and
    /// reviews, no events (the caller rebuilds the search index), one transaction.
    async fn seed(&self, products: &[Product], reviews: &[Review]) -> StoreResult<()>;
}
